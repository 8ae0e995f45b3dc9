#!/usr/bin/perl

# An origin with a stream manager while Redis goes away: lookups fail
# fast (not found), a publish goes on, the origin's status says the
# manager is down; Redis back: the registration is retried until it
# holds, and the manager is up again.

use strict;
use warnings;

use Test::More;
use JSON::PP;
use HTTP::Tiny;
use Time::HiRes qw(time);

use lib 't/lib';
use ClusterTest;
use ClusterConf;

my $t = ClusterTest->new;
$t->skip_unless_module;
$t->skip_unless_redis;

my ($rp, $mh, $bp, $bh) = map { $t->port } 1 .. 4;
my $secret = 'cluster-secret-42';

my $redis = $t->redis_server($rp);

my $m = $t->nginx('manager', manager_conf(http => $mh, locations =>
    "location /streams/ { cluster_stream_manager redis=127.0.0.1:$rp ttl=3s "
    . "max_ttl=3s secret=$secret; }"),
    ports => [$mh]);

my $b = $t->nginx('origin-b', cluster_origin_conf(port => $bp, http => $bh,
    app => "cluster_manager http://127.0.0.1:$mh/streams/; "
           . "cluster_manager_secret $secret; "
           . 'cluster_lease_ttl 30s; cluster_not_found reject;'),
    ports => [$bp, $bh]);

my $http = HTTP::Tiny->new(timeout => slow(3));
sub lease {
    my $r = $http->get("http://127.0.0.1:$mh/streams/live/$_[0]");
    return $r->{status} == 200 ? decode_json($r->{content}) : undef;
}

# the control: with Redis, a miss is answered by the manager

my $p = $t->rtmp_play($bp, 'live', 'missing');
my $nf = $p->wait_status(qr/^NetStream\.Play\./, timeout => 5);
is($nf && $nf->{code}, 'NetStream.Play.StreamNotFound',
   'Redis up: not found by the manager');
$p->close;
is($b->status($bh, '/cluster')->{manager}{health}, 'up', 'B: manager up');

# Redis goes away: lookups fail fast, registrations are retried

$redis->stop;
ok($m->wait_log(qr/\[error\].*cluster: redis 127\.0\.0\.1:$rp is down/),
   'the manager sees redis down');

my $start = time;
$p = $t->rtmp_play($bp, 'live', 'missing');
$nf = $p->wait_status(qr/^NetStream\.Play\./, timeout => 5);
my $took = time - $start;
is($nf && $nf->{code}, 'NetStream.Play.StreamNotFound', 'Redis down: not found');
cmp_ok($took, '<', slow(1), sprintf('fast (%.3fs)', $took));
$p->close;

my $c = $t->rtmp(port => $bp, app => 'live');
$c->create_stream;
is($c->publish('s2')->{code}, 'NetStream.Publish.Start',
   'Redis down: a publish goes on');
is($b->status($bh, '/cluster')->{manager}{health}, 'down',
   'B status: manager down');

$redis = $t->redis_server($rp);
ok($t->wait_until(sub { lease('s2') }, timeout => 8),
   'Redis back: the registration was retried');
is($b->status($bh, '/cluster')->{manager}{health}, 'up', 'B: manager up again');
$c->close;

$redis->stop;

$t->check_logs;

done_testing;
