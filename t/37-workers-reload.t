#!/usr/bin/perl

# A reload with 40 players on four workers: a worker of the new cycle
# takes the stream over (one pull), the old workers' players are relayed
# from it and play on, the old workers exit once their players left, and
# nobody pulls again when they do.

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
    origins => ["127.0.0.1:$op"], workers => 4,
    rtmp => 'cluster_reuseport on;', main => 'worker_shutdown_timeout 2s;'),
    ports => [$ep, $eh]);

ok($t->wait_until(sub { $edge->worker_pids == 4 }), 'four workers');

$t->publish("rtmp://127.0.0.1:$op/live/s1");
ok($t->wait_until(sub { $o->grep_log(qr/publish: name='s1'/) }), 'published');

# connections from the edge to the origin, the origin's plays, the
# edge's records of the stream (one per worker)
sub upstreams { origin_connections($edge, $op) }
sub plays { scalar $o->grep_log(qr/play: name='s1'/) }
sub records { stream_status($edge->status($eh, '/cluster'), 's1') }

my @p = map { $t->rtmp_play($ep, 'live', 's1', wait => 1) } 1 .. 40;
is(scalar(grep { wait_video($_, count => 5, timeout => 10) } @p), 40,
   '40 players get video');
is(plays(), 1, 'the origin saw one play');

# reload with players on: a worker of the new cycle takes the stream
# over (one pull), the old workers' players are relayed from it

ok($edge->reload, 'reload');
ok(wait_video($p[0], count => 10, timeout => 5), 'old players play on');
my $new = $t->rtmp_play($ep, 'live', 's1', wait => 1);
ok(wait_video($new, count => 10, timeout => 10), 'a new player gets video');
is(plays(), 2, 'the new cycle pulls once');
my %new_workers = map { $_ => 1 } $edge->worker_pids;
ok($t->wait_until(sub {
    my @r = records();
    my ($up) = grep { $_->{origin} eq "127.0.0.1:$op" } @r;
    $up && $new_workers{$up->{worker}}
        && !grep { !$new_workers{$_->{worker}}
                   && $_->{origin} ne "worker:$up->{worker}" } @r;
}, timeout => 10), 'the old workers relay from the new owner');
ok($t->wait_until(sub { upstreams() == 1 }, timeout => 5),
   'one upstream again');
ok(wait_video($p[0], count => 10, timeout => 5),
   'old players play on, relayed');

$_->close for @p;
ok($t->wait_until(sub { $edge->all_child_pids == 4 }, timeout => 15),
   'the old workers exit once their players left');
ok(wait_video($new, count => 10, timeout => 10), 'the new player plays on');
ok($t->wait_until(sub { upstreams() == 1 }, timeout => 5), 'one upstream');
is(plays(), 2, 'no re-pull when the old workers end');
$new->close;

$t->check_logs;

done_testing;
