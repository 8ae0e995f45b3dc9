#!/usr/bin/perl

# Origins with a stream manager: a miss asks the manager (not the
# coworkers) and redirects to the origin holding the lease, which an edge
# follows to the video; the manager answers SRS's coworker API from the
# same leases.

use strict;
use warnings;

use Test::More;
use JSON::PP;
use HTTP::Tiny;

use lib 't/lib';
use ClusterTest;
use ClusterConf;

my $t = ClusterTest->new;
$t->skip_unless_module;
$t->skip_unless_redis;

my ($rp, $mh, $ap, $ah, $bp, $bh, $ep, $eh) = map { $t->port } 1 .. 8;
my $secret = 'cluster-secret-42';

my $redis = $t->redis_server($rp);

my $m = $t->nginx('manager', manager_conf(http => $mh, locations =>
    "location /streams/ { cluster_stream_manager redis=127.0.0.1:$rp ttl=3s "
    . "max_ttl=3s secret=$secret; }\n"
    . "location /api/v1/clusters { cluster_stream_manager redis=127.0.0.1:$rp; }"),
    ports => [$mh]);

my $mgr = "cluster_manager http://127.0.0.1:$mh/streams/; "
        . "cluster_manager_secret $secret; "
        . 'cluster_lease_ttl 30s; cluster_not_found reject;';

my $a = $t->nginx('origin-a', cluster_origin_conf(port => $ap, http => $ah,
    app => $mgr), ports => [$ap, $ah]);
my $b = $t->nginx('origin-b', cluster_origin_conf(port => $bp, http => $bh,
    app => $mgr), ports => [$bp, $bh]);
my $e = $t->nginx('edge', edge_conf(port => $ep, http => $eh,
    origins => ["127.0.0.1:$bp"]), ports => [$ep, $eh]);

my $http = HTTP::Tiny->new(timeout => slow(3));
sub lease {
    my $r = $http->get("http://127.0.0.1:$mh/streams/live/$_[0]");
    return $r->{status} == 200 ? decode_json($r->{content}) : undef;
}

my $pub = $t->publish("rtmp://127.0.0.1:$ap/live/s1");
ok($t->wait_until(sub { lease('s1') }, timeout => 5), 'A leased s1');

# a miss on B asks the manager, redirects; the edge follows

my $p = $t->rtmp_play($ep, 'live', 's1', wait => 1);
ok(wait_video($p, count => 10, timeout => 10),
   'edge -> B -> manager -> 302 to A: video');
my $bs = $b->status($bh, '/cluster');
is($bs->{lookups}{found}, 1, 'B found it');
is($bs->{lookups}{queries}, 0, 'without asking coworkers');
cmp_ok($bs->{manager}{requests}, '>=', 1, 'B asked the manager');
is($bs->{manager}{health}, 'up', 'B: manager up');
$p->close;

# SRS's API, answered by the manager

my $srs = $http->get("http://127.0.0.1:$mh/api/v1/clusters?vhost=__defaultVhost__"
                     . "&ip=127.0.0.1&app=live&stream=s1&coworker=127.0.0.1:$mh");
my $j = eval { decode_json($srs->{content}) };
is($j && $j->{data}{origin}{port}, $ap, 'the manager answers SRS\'s API');

$pub->stop;
$t->stop_all;

$t->check_logs;

done_testing;
