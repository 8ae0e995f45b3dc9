#!/usr/bin/perl

# Merged writes (cluster_merge_writes) on an edge: its players get every
# frame in order with timestamps never going back, the same frames as a
# player of the origin; the first frames still arrive at once; the writes
# really come in batches (unlike an edge without merging).  A player that
# stops reading: t/55-merged-writes-slow-player.t; the publisher leaving:
# t/56-merged-writes-unpublish.t; bad settings: t/01-config.t.

use strict;
use warnings;

use Test::More;
use Time::HiRes qw(time);

use lib 't/lib';
use ClusterTest;
use ClusterConf;
use RTMP::Client;

my $t = ClusterTest->new;
$t->skip_unless_module;

# writes the player saw: messages that arrived within 5 ms of the
# previous one came in the same write (or the same socket read)
sub batches {
    my @at = @_;
    my $n = @at ? 1 : 0;
    for my $i (1 .. $#at) { $n++ if $at[$i] - $at[$i - 1] > 0.005 }
    return $n;
}

my ($op, $oh, $ep, $eh, $np, $nh) = map { $t->port } 1 .. 6;

my $o = $t->nginx('origin', cluster_origin_conf(port => $op, http => $oh),
                  ports => [$op, $oh]);

# a 1 s window: longer than the count bound (an eighth of the 256-message
# queue, ~0.6 s of this stream), so both bounds are at work
my $e = $t->nginx('edge', edge_conf(port => $ep, http => $eh,
                  origins => ["127.0.0.1:$op"],
                  app => 'cluster_merge_writes 1s; cluster_linger 10s;'),
                  ports => [$ep, $eh]);
my $n = $t->nginx('plain', edge_conf(port => $np, http => $nh,
                  origins => ["127.0.0.1:$op"]), ports => [$np, $nh]);

my $pub = synthetic_publisher($op, 'm', frames => 600, size => 4000);
ok($t->wait_until(sub {
    grep { $_->{kind} eq 'publish' }
        stream_status($o->status($oh, '/cluster'), 'm')
}), 'published on the origin');

# the edge pulls; a first player there, another at the plain edge
my $warm = $t->rtmp_play($ep, 'live', 'm', wait => 1);
ok(wait_video($warm, timeout => 5), 'merged edge: video');
my $plain = $t->rtmp_play($np, 'live', 'm', wait => 1);
ok(wait_video($plain, timeout => 5), 'plain edge: video');

# the edge holds a GOP for the next player
ok($t->wait_until(sub {
    my ($s) = stream_status($e->status($eh, '/cluster'), 'm');
    $s && $s->{gop} && $s->{gop}{frames} > 0;
}), 'merged edge: a GOP cached');

my $d = $t->rtmp(port => $op, app => 'live');
$d->create_stream;
my $p = $t->rtmp(port => $ep, app => 'live');
$p->create_stream;
my $start = time;
$d->play('m');
$p->play('m');

my $pc = collect_media($p, 6000, timeout => 20);
my $dc = collect_media($d, 6000, timeout => 20);
my $cc = collect_media($plain, 6000, timeout => 20);
my ($pv, $pa, $pat) = @$pc{qw(video audio arrivals)};

ok(@$pat && $pat->[0] - $start < slow(0.5),
   sprintf('merged player: first media %.0f ms after play, not a window',
           ((@$pat ? $pat->[0] : $start + 9) - $start) * 1000));
ok(@$pv > 100, scalar(@$pv) . ' video frames to 6 s');
ok(monotonic(map { $_->[0] } @$pv), 'video timestamps never go back');
ok(monotonic(@$pa), 'audio timestamps never go back');
my $first = @$pv ? $pv->[0][0] : 0;
is_deeply([map { "$_->[0]:$_->[1]" } @$pv],
          [map { "$_->[0]:$_->[1]" } grep { $_->[0] >= $first }
                                     @{$dc->{video}}],
          'every frame of the origin\'s player, in order, none repeated');
my %seen;
is(scalar(grep { $seen{$_}++ } @$pa), 0, 'no audio frame repeated');
my $gap = 0;
for my $i (1 .. $#$pa) {
    $gap = $pa->[$i] - $pa->[$i - 1] if $pa->[$i] - $pa->[$i - 1] > $gap;
}
cmp_ok($gap, '<=', 40, 'no audio frame skipped');

# the wall-clock spread of the 4+ seconds after the first second

my @late = grep { $_ > $start + 1.5 } @$pat;
my $secs = @late ? $late[-1] - $late[0] : 1;
my $rate = batches(@late) / ($secs || 1);
cmp_ok($rate, '<', 5, sprintf('merged: %.1f writes/s seen (%d messages)',
                              $rate, scalar @late));
my @clate = grep { $_ > $start + 1.5 } @{$cc->{arrivals}};
my $csecs = @clate ? $clate[-1] - $clate[0] : 1;
my $crate = batches(@clate) / ($csecs || 1);
cmp_ok($crate, '>', 15, sprintf('not merged: %.1f writes/s seen',
                                $crate));

$_->close for $warm, $plain, $d, $p;
stop_publisher($pub);
$t->stop_all;
$t->check_logs;

done_testing;
