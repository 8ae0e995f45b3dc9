#!/usr/bin/perl

# Pull teardown: a stream object goes (linger ends, the last player
# leaves, the origin fails with nobody left, the owner worker's relays
# end) while its upstream session's close is still posted, and nginx-rtmp
# logs that close after.  The session must not refer to the freed object:
# every "disconnect" line names its upstream ("127.0.0.1:PORT" or
# "worker:PID"), no worker crashes.  (Under `make test-asan` a dangling
# name aborts the worker at once.)

use strict;
use warnings;

use Test::More;

use lib 't/lib';
use ClusterTest;
use ClusterConf;

my $t = ClusterTest->new;
$t->skip_unless_module;

my ($op, $ep, $eh) = map { $t->port } 1 .. 3;

my $o = $t->nginx('origin', origin_conf($op), ports => [$op], cluster => 0);
my $edge = $t->nginx('edge', edge_conf(port => $ep, http => $eh,
    origins => ["127.0.0.1:$op"], workers => 2,
    rtmp => 'cluster_reuseport on;', app => 'cluster_linger 1s;'),
    ports => [$ep, $eh]);

my $pub = $t->publish("rtmp://127.0.0.1:$op/live/s1");
ok($t->wait_until(sub { $o->grep_log(qr/publish: name='s1'/) }), 'published');

sub streams { scalar stream_status($edge->status($eh, '/cluster'), $_[0]) }

# linger ends: the owner's pull and the other worker's relay go

my @p = map { $t->rtmp_play($ep, 'live', 's1', wait => 1) } 1 .. 20;
is(scalar(grep { wait_video($_, count => 5, timeout => 10) } @p), 20,
   '20 players on two workers');
ok($t->wait_until(sub {
    grep { ($_->{origin} // '') =~ /^worker:/ } stream_status(
        $edge->status($eh, '/cluster'), 's1')
}, timeout => 5), 'one worker relays from the other');
$_->close for @p;
ok($t->wait_until(sub { streams('s1') == 0 }, timeout => 10),
   'linger ended: the streams are gone');

# the last player leaves with no linger: the pull goes at once

my ($np, $nh) = map { $t->port } 1 .. 2;
my $e0 = $t->nginx('edge-nolinger', edge_conf(port => $np, http => $nh,
    origins => ["127.0.0.1:$op"], app => 'cluster_linger 0;'),
    ports => [$np, $nh]);
my $q = $t->rtmp_play($np, 'live', 's1', wait => 1);
ok(wait_video($q, count => 5, timeout => 10), 'no linger: video');
$q->close;
ok($t->wait_until(sub {
    !stream_status($e0->status($nh, '/cluster'), 's1')
}, timeout => 10), 'no linger: the stream is gone');

# the origin fails while the pull lingers: nobody is left to fail over

$q = $t->rtmp_play($ep, 'live', 's1', wait => 1);
ok(wait_video($q, count => 5, timeout => 10), 'linger again: video');
$q->close;
ok($t->wait_until(sub {
    grep { $_->{state} eq 'linger' } stream_status(
        $edge->status($eh, '/cluster'), 's1')
}, timeout => 5), 'lingering');
$pub->stop;
$o->kill9;
ok($t->wait_until(sub { streams('s1') == 0 }, timeout => 10),
   'origin failed during linger: the stream is gone');

for my $n ($edge, $e0) {
    my @d = $n->grep_log(qr/disconnect, client: .*, server: ngx-cluster/);
    cmp_ok(scalar @d, '>', 0, "$n->{name}: upstream disconnects logged");
    my @bad = grep { !/client: (?:127\.0\.0\.1:$op|worker:\d+), server/ } @d;
    is(scalar @bad, 0, "$n->{name}: each names its upstream")
        or diag(join "\n", @bad[0 .. ($#bad > 4 ? 4 : $#bad)]);
    # (a crashed worker's line, as t/00-harness.t shows it appear)
    ok(!$n->grep_log(qr/exited on signal/), "$n->{name}: no worker crash");
}

$t->check_logs;

done_testing;
