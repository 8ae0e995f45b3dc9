#!/usr/bin/perl

# Players' timestamps across a failover to an origin whose timestamps are
# ten hours ahead, and whose video is stamped 400 ms behind its audio
# (the tracks start apart): the edge moves both tracks by one offset
# taken from the first frame (audio, here), which goes one frame
# interval or the real gap after the last one sent, so audio and video
# stay as far apart as the origin has them; and never lets a track go
# back (the video, behind, goes on 1 ms after its last until it catches
# up).  ffmpeg reading over the switch sees no non-monotonic DTS and no
# ten-hour leap.  An origin that restarts at 0: t/67.

use strict;
use warnings;

use Test::More;
use Time::HiRes qw(time);

use lib 't/lib';
use ClusterTest;
use ClusterConf;
use FakeOrigin;
use Timeline;

my $t = ClusterTest->new;
$t->skip_unless_module;

my $AHEAD = 10 * 3600 * 1000;
my $SHIFT = -400;

my ($op, $ep, $eh) = map { $t->port } 1 .. 3;

my $o = $t->nginx('origin', origin_conf($op), ports => [$op], cluster => 0);

my $fake = FakeOrigin->start(mode => 'media', media => $t->media,
                             ts_start => $AHEAD, video_shift => $SHIFT,
                             log => $t->tmp . '/fake.log');
my $fp = $fake->port;

my $e = $t->nginx('edge', edge_conf(port => $ep, http => $eh,
    origins => ["127.0.0.1:$op", "127.0.0.1:$fp"],
    app => 'cluster_balance order;'), ports => [$ep, $eh]);

$t->publish("rtmp://127.0.0.1:$op/live/s");
ok($t->wait_until(sub { $o->grep_log(qr/publish: name='s'/) }),
   'published on the origin');

my @p = map { $t->rtmp_play($ep, 'live', 's', wait => 1) } 1 .. 2;

my $ts_file = $t->tmp . '/player.ts';
my $ff = ffmpeg_copy($t, "rtmp://127.0.0.1:$ep/live/s", $ts_file);
my $ff_start = time;
ok($t->wait_until(sub {
    my ($s) = stream_status($e->status($eh, '/cluster'), 's');
    $s && $s->{players} == 3;
}), 'ffmpeg plays too');

sub video_at { grep { !$_->{hdr} } track($_[0], 9) }

# how far video is ahead of audio: at each audio frame, the last video
# timestamp minus its own; the median
sub av_distance {
    my (@m) = @_;
    my ($v, @d);
    for my $m (grep { !$_->{hdr} } @m) {
        if ($m->{type} == 9) { $v = $m->{ts}; next }
        push @d, $v - $m->{ts} if defined $v;
    }
    @d = sort { $a <=> $b } @d;
    return @d ? $d[$#d / 2] : undef;
}

my ($msgs, $ok) = record_players(\@p, timeout => 15, until => sub {
    !grep { my @v = video_at($_); !@v || $v[-1]{ts} < 3000 } @{$_[0]};
});
ok($ok, 'players: 3 s of video from the first origin');
my $before = av_distance(@{$msgs->[0]});
ok(defined $before && abs($before) < 100,
   sprintf 'control: the first origin\'s audio and video together (%s ms)',
           $before // 'none');

my $killed = time;
$o->kill9;

($msgs, $ok) = record_players(\@p, msgs => $msgs, timeout => 20,
    until => sub {
        !grep { video_at([after($killed, @$_)]) < 100 } @{$_[0]};
    });
ok($ok, 'players: 4 s of video after the switch');
ok((grep { /^media $AHEAD$/ } $fake->log_lines),
   'the origin ten hours ahead played');

for my $i (0 .. $#p) {
    my @m = @{$msgs->[$i]};
    ok(!$p[$i]->eof, "player $i: same connection");

    check_tracks("player $i", \@m);

    show_switch($e, "player $i", \@m);

    # once the audio caught up: as far apart as the origin has them
    my $d = av_distance(after($killed + slow(1.5), @m));
    ok(defined $d && abs($d - $SHIFT) < 100,
       sprintf "player $i: video %s ms from audio, as at the origin"
               . " ($SHIFT)", $d // 'none');
}

# ffmpeg: no complaint, no ten-hour leap, its copy goes on past the switch
$ff->stop;
my $ff_ran = time - $ff_start;
my $log = $ff->log_text;
ok($log !~ /non[- ]monoton/i, 'ffmpeg: no non-monotonic DTS')
    or diag(join "\n", (grep { /monoton/i } split /\n/, $log)[0 .. 4]);

my @dts = copy_video_dts($t, $ts_file);
ok(@dts > 100, sprintf 'ffprobe: %d video packets in the copy', scalar @dts);
my $span = @dts ? $dts[-1] - $dts[0] : 0;
cmp_ok($span, '>=', $killed - $ff_start + 2,
       sprintf 'ffprobe: the copy spans %.1f s, past the switch (%.1f s in)',
               $span, $killed - $ff_start);
cmp_ok($span, '<=', $ff_ran + 1,
       sprintf 'ffprobe: no more than the %.1f s it ran', $ff_ran);
ok(monotonic(@dts), 'ffprobe: video DTS never back in the copy');

$_->close for @p;
$fake->stop;

$t->check_logs($e);

done_testing;
