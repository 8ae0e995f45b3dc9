#!/usr/bin/perl

# Edge pull on miss: a play of a stream the edge lacks is pulled from an
# origin, players share one pull, the player's args reach the origin, the
# pull lingers after the last player, round_robin spreads streams.

use strict;
use warnings;

use Test::More;

use lib 't/lib';
use ClusterTest;
use ClusterConf;

my $t = ClusterTest->new;
$t->skip_unless_module;

my ($o1p, $o2p, $ep, $eh, $rp, $rh) = map { $t->port } 1 .. 6;

my $o1 = $t->nginx('origin1', origin_conf($o1p), ports => [$o1p], cluster => 0);
my $o2 = $t->nginx('origin2', origin_conf($o2p), ports => [$o2p], cluster => 0);

my $edge = $t->nginx('edge', edge_conf(port => $ep, http => $eh,
    origins => ["127.0.0.1:$o1p", "127.0.0.1:$o2p"],
    app => 'cluster_balance order; cluster_linger 2s;'),
    ports => [$ep, $eh]);

my $pub = $t->publish("rtmp://127.0.0.1:$o1p/live/s1");
ok($t->wait_until(sub { $o1->grep_log(qr/publish: name='s1'/) }),
   'publisher on origin1');

# a player through the edge gets the stream from origin1

my $p1 = $t->rtmp_play($ep, 'live', 's1?token=abc');
ok($p1->wait_status(qr/^NetStream\.Play\.Start$/, timeout => 5),
   'player 1: Play.Start from the edge at once');

my $seq = $p1->wait_message(sub { $_[0]{type} eq '9' && $_[0]{is_seq_header} },
                            timeout => 10);
ok($seq, 'player 1: video sequence header');
ok(wait_keyframe($p1, timeout => 5), 'player 1: keyframe');

my ($last, $mono) = (-1, 1);
my $n = 0;
$p1->wait_message(sub {
    my $m = shift;
    return 0 unless $m->{type} eq '9';
    $mono = 0 if $m->{timestamp} < $last;
    $last = $m->{timestamp};
    return ++$n >= 25;
}, timeout => 10);
is($n, 25, 'player 1: 25 video messages');
ok($mono, 'player 1: timestamps never go backwards');

like(($o1->grep_log(qr/play: name='s1'/))[0] // '', qr/args='token=abc'/,
     'the player\'s args reached the origin');

my $st = $edge->status($eh, '/cluster');
my ($s) = stream_status($st, 's1');
ok($s, 'status lists the stream');
is($s->{kind}, 'pull', 'status: kind pull');
is($s->{state}, 'live', 'status: state live');
is($s->{origin}, "127.0.0.1:$o1p", 'status: origin is origin1');
is($s->{players}, 1, 'status: one player');
cmp_ok($s->{bytes_in}, '>', 10000, 'status: bytes received');
is($st->{applications}[0]{role}, 'edge', 'status: role edge');
is(origin_status($st, "127.0.0.1:$o1p")->{health}, 'up', 'status: origin1 up');

# a second player and ffprobe share the pull: origin1 sees one play

my $p2 = $t->rtmp_play($ep, 'live', 's1', wait => 1);
ok(wait_video($p2, count => 10, timeout => 10), 'player 2: video');

my $probe = $t->play_ffprobe("rtmp://127.0.0.1:$ep/live/s1", timeout => 10);
is(scalar(grep { $_->{codec_type} eq 'video' } @{$probe->{streams} // []}),
   1, 'ffprobe through the edge sees the video stream');

($s) = stream_status($edge->status($eh, '/cluster'), 's1');
is($s->{players}, 2, 'status: two players');
is(scalar($o1->grep_log(qr/play: name='s1'/)), 1,
   'origin1 saw one play for three players');

# linger: the pull stays after the last player, a player coming back
# reuses it, and it ends after cluster_linger

$p1->close;
$p2->close;

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

# round_robin: new streams start on alternate origins

my $rr = $t->nginx('edge-rr', edge_conf(port => $rp, http => $rh,
    origins => ["127.0.0.1:$o1p", "127.0.0.1:$o2p"],
    app => 'cluster_balance round_robin; cluster_media_timeout 10s;'),
    ports => [$rp, $rh]);

my @players = map { $t->rtmp_play($rp, 'live', "rr$_", wait => 1) } 1 .. 4;
my %first;
$t->wait_until(sub {
    my $x = $rr->status($rh, '/cluster');
    %first = map { $_->{name} => $_->{origin} } @{$x->{streams}};
    4 == grep { defined } values %first;
}, timeout => 3);
is(scalar(grep { $_ eq "127.0.0.1:$o1p" } values %first), 2,
   'round_robin: two streams start on origin1');
is(scalar(grep { $_ eq "127.0.0.1:$o2p" } values %first), 2,
   'round_robin: two streams start on origin2');
$_->close for @players;

$t->check_logs;

done_testing;
