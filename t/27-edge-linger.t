#!/usr/bin/perl

# An edge's pull lingers after its last player (cluster_linger): the
# status says so, a player coming back reuses the pull (the origin sees
# no second play), and the pull ends once cluster_linger passed with
# nobody, which the error log says.

use strict;
use warnings;

use Test::More;

use lib 't/lib';
use ClusterTest;
use ClusterConf;

my $t = ClusterTest->new;
$t->skip_unless_module;

my ($o1p, $ep, $eh) = map { $t->port } 1 .. 3;

my $o1 = $t->nginx('origin1', origin_conf($o1p), ports => [$o1p], cluster => 0);

my $edge = $t->nginx('edge', edge_conf(port => $ep, http => $eh,
    origins => ["127.0.0.1:$o1p"], app => 'cluster_linger 2s;'),
    ports => [$ep, $eh]);

my $pub = $t->publish("rtmp://127.0.0.1:$o1p/live/s1");
ok($t->wait_until(sub { $o1->grep_log(qr/publish: name='s1'/) }),
   'publisher on origin1');

my $p1 = $t->rtmp_play($ep, 'live', 's1', wait => 1);
ok(wait_video($p1, count => 5, timeout => 10), 'player 1: video');
is(scalar($o1->grep_log(qr/play: name='s1'/)), 1, 'origin1 saw one play');

# linger: the pull stays after the last player, a player coming back
# reuses it, and it ends after cluster_linger

$p1->close;

ok($t->wait_until(sub {
    my ($x) = stream_status($edge->status($eh, '/cluster'), 's1');
    $x && $x->{state} eq 'linger' && $x->{players} == 0;
}, timeout => 3), 'no player left: the pull lingers');

my $p3 = $t->rtmp_play($ep, 'live', 's1', wait => 1);
ok(wait_video($p3, count => 5, timeout => 5), 'player 3 during linger: video');
is(scalar($o1->grep_log(qr/play: name='s1'/)), 1,
   'player 3 reused the lingering pull');
$p3->close;

ok($t->wait_until(sub {
    !stream_status($edge->status($eh, '/cluster'), 's1');
}, timeout => 5), 'the pull ends after cluster_linger');
ok($t->wait_until(sub {
    $edge->grep_log(qr/no player of "live\/s1" for 2000ms, stopping the pull/)
}, timeout => 2), 'log: linger ended the pull');

$t->check_logs;

done_testing;
