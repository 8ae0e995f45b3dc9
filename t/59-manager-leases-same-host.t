#!/usr/bin/perl

# A second publisher of a stream live on the same origin is refused
# (NetStream.Publish.BadName, naming this origin) before the stream
# manager is asked, and the lease stays as it was.

use strict;
use warnings;

use Test::More;
use JSON::PP;
use HTTP::Tiny;

use lib 't/lib';
use ClusterTest;
use ClusterConf;
use Redis;

my $t = ClusterTest->new;
$t->skip_unless_module;
$t->skip_unless_redis;

my ($rp, $mh, $op, $oh) = map { $t->port } 1 .. 4;
my $prefix = 'ngx_rtmp_cluster:stream:';
my $secret = 'leases-secret-0123456789abcdef';

my $redis = $t->redis_server($rp);
my $db = Redis->new(port => $rp, timeout => 10);

my $m = $t->nginx('manager', manager_conf(http => $mh, locations =>
    "location /streams/ { cluster_stream_manager redis=127.0.0.1:$rp timeout=1s "
    . "secret=$secret; }"), ports => [$mh]);

my $o = $t->nginx('origin', cluster_origin_conf(port => $op, http => $oh,
    workers => 2, app => "cluster_manager http://127.0.0.1:$mh/streams/; "
    . "cluster_manager_secret $secret; cluster_lease_ttl 12s; "
    . 'cluster_lookup_timeout 3s;'), ports => [$op, $oh]);

sub value { $db->command('GET', "${prefix}live/$_[0]") }
sub leases { scalar @{$db->command('KEYS', "${prefix}live/*")} }
sub ostatus { $o->status($oh, '/cluster') // {} }
sub mlog { grep { $_ =~ $_[0] } split /\n/, $m->error_log_text }

### a second publisher on the same host: refused before the manager

my $pub = synthetic_publisher($op, 's1', frames => 1500);
ok($t->wait_until(sub { value('s1') }, timeout => 5), 's1 leased');
my $lease = value('s1');

sub posts {
    scalar grep { m{"POST /streams/live/s1 } }
        split /\n/, ClusterTest::_read_file($m->prefix . '/logs/access.log');
}
# the registration is in the manager's access log (nginx logs a request
# after its answer: wait for it)
ok($t->wait_until(sub { posts() >= 1 }), 'the manager was asked once');
my $posts = posts();

for my $i (1 .. 4) {
    my $c = $t->rtmp(port => $op, app => 'live');
    $c->create_stream;
    my $st = $c->publish('s1');
    is($st->{code}, 'NetStream.Publish.BadName',
       "a second publisher of s1 on this host is refused ($i)");
    like($st->{info}{description}, qr/already published on 127\.0\.0\.1:$op/,
         "naming this origin ($i)");
    $c->close;
}
is(posts(), $posts, 'the manager was not asked');
is(value('s1'), $lease, 'the lease is unchanged');

stop_publisher($pub);

$o->stop;
$m->stop;
$redis->stop;

$t->check_logs;

done_testing;
