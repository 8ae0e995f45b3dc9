#!/usr/bin/perl

# An origin whose cluster_manager_secret the manager refuses: its publish
# goes on without a lease, and the refusal is logged at the error level.
# The control: an origin with the manager's secret gets its lease.

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

my ($rp, $mh, $ap, $ah, $cp, $ch) = map { $t->port } 1 .. 6;
my $secret = 'cluster-secret-42';

my $redis = $t->redis_server($rp);

my $m = $t->nginx('manager', manager_conf(http => $mh, locations =>
    "location /streams/ { cluster_stream_manager redis=127.0.0.1:$rp ttl=3s "
    . "max_ttl=3s secret=$secret; }"),
    ports => [$mh]);

my $a = $t->nginx('origin-a', cluster_origin_conf(port => $ap, http => $ah,
    app => "cluster_manager http://127.0.0.1:$mh/streams/; "
           . "cluster_manager_secret $secret;"), ports => [$ap, $ah]);
my $c3 = $t->nginx('origin-c', cluster_origin_conf(port => $cp, http => $ch,
    app => "cluster_manager http://127.0.0.1:$mh/streams/; "
           . 'cluster_manager_secret not-the-secret;'), ports => [$cp, $ch]);

my $http = HTTP::Tiny->new(timeout => slow(3));
sub lease {
    my $r = $http->get("http://127.0.0.1:$mh/streams/live/$_[0]");
    return $r->{status} == 200 ? decode_json($r->{content}) : undef;
}

# the control: the manager's secret, a lease

my $c = $t->rtmp(port => $ap, app => 'live');
$c->create_stream;
is($c->publish('s1')->{code}, 'NetStream.Publish.Start',
   'the right secret: published');
ok($t->wait_until(sub { lease('s1') }, timeout => 5),
   'the right secret: a lease');
$c->close;

# an origin with another secret: no lease, the publish goes on

$c = $t->rtmp(port => $cp, app => 'live');
$c->create_stream;
is($c->publish('s3')->{code}, 'NetStream.Publish.Start',
   'a wrong secret: the publish goes on');
ok($c3->wait_log(qr/\[error\].* failed \(HTTP 401 .*the secret was refused/,
                 timeout => 3),
   'a wrong secret: logged at the error level');
ok(!lease('s3'), 'a wrong secret: no lease');
$c->close;

$t->stop_all;

$t->check_logs;

done_testing;
