#!/usr/bin/perl

# Edge pull on miss: a play of a stream the edge lacks is pulled from the
# first origin (cluster_balance order) and answered at once, the player's
# args reach the origin, the status lists the pull; more players (and
# ffprobe) share the one pull.  Lingering after the last player:
# t/27-edge-linger.t; how streams spread over origins: t/28-edge-balance.t.

use strict;
use warnings;

use Test::More;

use lib 't/lib';
use ClusterTest;
use ClusterConf;

my $t = ClusterTest->new;
$t->skip_unless_module;

my ($o1p, $o2p, $ep, $eh) = map { $t->port } 1 .. 4;

my $o1 = $t->nginx('origin1', origin_conf($o1p), ports => [$o1p], cluster => 0);
my $o2 = $t->nginx('origin2', origin_conf($o2p), ports => [$o2p], cluster => 0);

my $edge = $t->nginx('edge', edge_conf(port => $ep, http => $eh,
    origins => ["127.0.0.1:$o1p", "127.0.0.1:$o2p"],
    app => 'cluster_balance order;'),
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

$_->close for $p1, $p2;

$t->check_logs;

done_testing;
