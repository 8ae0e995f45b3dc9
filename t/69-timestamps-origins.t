#!/usr/bin/perl

# Players' timestamps across a failover between two of our origins, each
# with its own publisher of the same clip, the second started 6 s after
# the first (the case measured in the field: time went back by as much),
# at an edge with merged writes and the GOP cache: the players go on
# without a step back or a leap; a player that joins after the switch
# gets the cached GOP and then the live frames on the same timeline as
# the players that were there (the same frame, the same timestamp).
# Other upstreams: t/67 (restart at 0), t/68 (ten hours ahead).

use strict;
use warnings;

use Test::More;
use Time::HiRes qw(time);

use lib 't/lib';
use ClusterTest;
use ClusterConf;
use Timeline;

my $t = ClusterTest->new;
$t->skip_unless_module;

my ($o1p, $o1h, $o2p, $o2h, $ep, $eh) = map { $t->port } 1 .. 6;

my $o1 = $t->nginx('origin1', cluster_origin_conf(port => $o1p, http => $o1h),
                   ports => [$o1p, $o1h]);
my $o2 = $t->nginx('origin2', cluster_origin_conf(port => $o2p, http => $o2h),
                   ports => [$o2p, $o2h]);

my $e = $t->nginx('edge', edge_conf(port => $ep, http => $eh,
    origins => ["127.0.0.1:$o1p", "127.0.0.1:$o2p"],
    app => 'cluster_balance order; cluster_merge_writes 100ms;'),
    ports => [$ep, $eh]);

# the second publisher 6 s into the first one's stream
$t->publish("rtmp://127.0.0.1:$o1p/live/s");
ok(defined wait_stream_time($o1p, 's', 6000, timeout => 15),
   'origin1: 6 s into its stream');
$t->publish("rtmp://127.0.0.1:$o2p/live/s");
ok(defined wait_stream_time($o2p, 's', 0, timeout => 10),
   'origin2: its own stream starts');

my @p = map { $t->rtmp_play($ep, 'live', 's', wait => 1) } 1 .. 2;

my $ts_file = $t->tmp . '/player.ts';
my $ff = ffmpeg_copy($t, "rtmp://127.0.0.1:$ep/live/s", $ts_file);
my $ff_start = time;
ok($t->wait_until(sub {
    my ($s) = stream_status($e->status($eh, '/cluster'), 's');
    $s && $s->{players} == 3;
}), 'ffmpeg plays too');

sub video_at { grep { !$_->{hdr} } track($_[0], 9) }

my ($msgs, $ok) = record_players(\@p, timeout => 15, until => sub {
    !grep { video_at($_) < 50 } @{$_[0]};
});
ok($ok, 'players: 2 s of video from origin1');
my ($s) = stream_status($e->status($eh, '/cluster'), 's');
is($s->{origin}, "127.0.0.1:$o1p", 'status: pulling from origin1');

my $killed = time;
$o1->kill9;

($msgs, $ok) = record_players(\@p, msgs => $msgs, timeout => 20,
    until => sub {
        !grep { video_at([after($killed, @$_)]) < 75 } @{$_[0]};
    });
ok($ok, 'players: 3 s of video after the switch');
($s) = stream_status($e->status($eh, '/cluster'), 's');
is($s->{origin}, "127.0.0.1:$o2p", 'status: pulling from origin2');

for my $i (0 .. $#p) {
    my @m = @{$msgs->[$i]};
    ok(!$p[$i]->eof, "player $i: same connection");

    check_tracks("player $i", \@m);

    show_switch($e, "player $i", \@m);
}

# merged writes at work: messages come in batches, not one by one
my @at = map { $_->{at} } after($killed + 1, @{$msgs->[0]});
my $batches = grep { $at[$_] - $at[$_ - 1] > 0.005 } 1 .. $#at;
cmp_ok($batches, '<', @at / 2, sprintf 'merged writes: %d messages in %d'
       . ' batches', scalar @at, $batches);

# a player after the switch: the GOP from the edge's cache, then live
# frames, each stamped as the players already there got it

my $j = $t->rtmp_play($ep, 'live', 's', wait => 1);
my $joined = time;
my @all = (@p, $j);
$msgs = [@$msgs, []];
($msgs, $ok) = record_players(\@all, msgs => $msgs, timeout => 15,
    until => sub { video_at($_[0][2]) >= 50 });
ok($ok, 'joiner: 2 s of video');

my @jv = video_at($msgs->[2]);
ok(@jv && $jv[0]{key}, 'joiner: a keyframe first (the cached GOP)');
ok($jv[0]{at} - $joined < slow(0.5),
   sprintf 'joiner: first frame %.0f ms after play, not a GOP later',
           ((@jv ? $jv[0]{at} : $joined + 9) - $joined) * 1000);
is(scalar backwards(track($msgs->[2], 9)), 0, 'joiner: video never back');
is(scalar backwards(track($msgs->[2], 8)), 0, 'joiner: audio never back')
    or diag(join ' ', map { "$_->{type}:$_->{ts}" . ($_->{hdr} ? 'h' : '') }
                      @{$msgs->[2]}[0 .. 40]);

my %old = map { $_->{md5} => $_->{ts} } after($killed, video_at($msgs->[0]));
my @same = grep { defined $old{$_->{md5}} && $old{$_->{md5}} == $_->{ts} }
           @jv;
my @seen = grep { defined $old{$_->{md5}} } @jv;
cmp_ok(scalar @seen, '>=', 25, sprintf 'joiner: %d of its frames also went'
       . ' to player 0', scalar @seen);
is(scalar @same, scalar @seen, 'joiner: each with the same timestamp');

# ffmpeg: no complaint, its copy goes on past the switch in real time
$ff->stop;
my $ff_ran = time - $ff_start;
my $log = $ff->log_text;
ok($log !~ /non[- ]monoton/i, 'ffmpeg: no non-monotonic DTS')
    or diag(join "\n", (grep { /monoton/i } split /\n/, $log)[0 .. 4]);

my @dts = copy_video_dts($t, $ts_file);
my $span = @dts ? $dts[-1] - $dts[0] : 0;
cmp_ok($span, '>=', $killed - $ff_start + 2,
       sprintf 'ffprobe: the copy spans %.1f s, past the switch (%.1f s in)',
               $span, $killed - $ff_start);
cmp_ok($span, '<=', $ff_ran + 1,
       sprintf 'ffprobe: no more than the %.1f s it ran', $ff_ran);
ok(monotonic(@dts), 'ffprobe: video DTS never back in the copy');

$_->close for @all;

$t->check_logs($e, $o2);

done_testing;
