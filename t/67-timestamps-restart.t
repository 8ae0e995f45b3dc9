#!/usr/bin/perl

# Players' timestamps across a failover to an origin that restarts them
# at 0, as SRS 6 does for each new consumer (time_jitter full): the edge
# rebases the new origin's timestamps, so every player's audio and video
# go on from where they were, never back, and jump no more than the time
# that really passed (plus a frame); ffmpeg reading the edge over the
# switch sees no non-monotonic DTS.  The same for an origin whose own
# publisher starts over under the edge's pull (the same upstream): time
# goes on at the clock's pace.  Ten hours ahead and tracks that start
# apart: t/68; between two of our origins, a joiner after the switch and
# merged writes: t/69.

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

my ($op, $ep, $eh) = map { $t->port } 1 .. 3;

my $o = $t->nginx('origin', origin_conf($op), ports => [$op], cluster => 0);

# the SRS-like origin, next in the edge's order
my $fake = FakeOrigin->start(mode => 'media', media => $t->media,
                             ts_start => 0, log => $t->tmp . '/fake.log');
my $fp = $fake->port;

# the fake itself: SRS's start of a play, then media from 0 on, in real
# time, for each new consumer
for my $n (1, 2) {
    my $c = $t->rtmp(port => $fp, app => 'live');
    $c->create_stream;
    $c->play('s');
    my (@codes, @media);
    my $start = time;
    $c->wait_message(sub {
        my $m = shift;
        # commands by their status code, data messages by their name
        push @codes, $m->{code} // $m->{name} if defined $m->{name};
        push @media, $m if $m->{type} eq '8' || $m->{type} eq '9';
        return @media && $media[-1]{timestamp} >= 1000;
    }, timeout => 5);
    is(join(',', @codes[0 .. 4]), 'NetStream.Play.Reset,NetStream.Play.Start,'
       . '|RtmpSampleAccess,onStatus,onMetaData',
       "fake, play $n: SRS's start of a play");
    ok(@media > 2 && $media[0]{is_seq_header} && $media[1]{is_seq_header},
       "fake, play $n: sequence headers first");
    is($media[0]{timestamp}, 0, "fake, play $n: from 0");
    my $took = time - $start;
    ok($took > 0.8 && $took < slow(1.5),
       sprintf "fake, play $n: 1 s of media in %.2f s", $took);
    $c->close;
}

my $e = $t->nginx('edge', edge_conf(port => $ep, http => $eh,
    origins => ["127.0.0.1:$op", "127.0.0.1:$fp"],
    app => 'cluster_balance order;'), ports => [$ep, $eh]);

$t->publish("rtmp://127.0.0.1:$op/live/s");
ok($t->wait_until(sub { $o->grep_log(qr/publish: name='s'/) }),
   'published on the origin');

my @p = map { $t->rtmp_play($ep, 'live', 's', wait => 1) } 1 .. 3;

# ffmpeg as a player too
my $ts_file = $t->tmp . '/player.ts';
my $ff = ffmpeg_copy($t, "rtmp://127.0.0.1:$ep/live/s", $ts_file);
my $ff_start = time;
ok($t->wait_until(sub {
    my ($s) = stream_status($e->status($eh, '/cluster'), 's');
    $s && $s->{players} == 4;
}), 'ffmpeg plays too');

# a few seconds from the first origin, far enough from 0 that a restart
# at 0 would show
sub video_at { grep { !$_->{hdr} } Timeline::track($_[0], 9) }
my ($msgs, $ok) = record_players(\@p, timeout => 15, until => sub {
    !grep { my @v = video_at($_); !@v || $v[-1]{ts} < 4000 } @{$_[0]};
});
ok($ok, 'players: 4 s of video from the first origin');
is(scalar(map { backwards(track($_, 9)), backwards(track($_, 8)) } @$msgs),
   0, 'control: no step back before the switch');

my $killed = time;
$o->kill9;

# 4 s of video from the SRS-like origin to every player
($msgs, $ok) = record_players(\@p, msgs => $msgs, timeout => 20,
    until => sub {
        !grep { video_at([after($killed, @$_)]) < 100 } @{$_[0]};
    });
ok($ok, 'players: 4 s of video after the switch');
ok((grep { /^media 0$/ } $fake->log_lines), 'the SRS-like origin played');

my ($s) = stream_status($e->status($eh, '/cluster'), 's');
is($s->{origin}, "127.0.0.1:$fp", 'status: pulling from the SRS-like origin');

for my $i (0 .. $#p) {
    my @m = @{$msgs->[$i]};
    ok(!$p[$i]->eof, "player $i: same connection");

    check_tracks("player $i", \@m);

    show_switch($e, "player $i", \@m);
}

ok($e->grep_log(
       qr/"live\/s" from origin "127\.0\.0\.1:$fp": timestamps rebased/),
   'log: the rebase names the stream and the origin');

# ffmpeg: no complaint, and its copy goes on past the switch in real time
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

# the same upstream starting over: the origin's publisher comes back,
# nginx-rtmp keeps the edge's play, and its timestamps restart at 0

my ($o3p, $e2p, $e2h) = map { $t->port } 1 .. 3;
my $o3 = $t->nginx('origin3', origin_conf($o3p), ports => [$o3p],
                   cluster => 0);
my $e2 = $t->nginx('edge2', edge_conf(port => $e2p, http => $e2h,
    origins => ["127.0.0.1:$o3p"]), ports => [$e2p, $e2h]);

my $pub = $t->publish("rtmp://127.0.0.1:$o3p/live/r");
ok($t->wait_until(sub { $o3->grep_log(qr/publish: name='r'/) }),
   'republish: published');
my @q = map { $t->rtmp_play($e2p, 'live', 'r', wait => 1) } 1 .. 2;
($msgs, $ok) = record_players(\@q, timeout => 15, until => sub {
    !grep { my @v = video_at($_); !@v || $v[-1]{ts} < 3000 } @{$_[0]};
});
ok($ok, 'republish: 3 s of video from the first publisher');

$pub->stop;
my $again = time;
$t->publish("rtmp://127.0.0.1:$o3p/live/r");

($msgs, $ok) = record_players(\@q, msgs => $msgs, timeout => 20,
    until => sub {
        !grep { video_at([after($again, @$_)]) < 75 } @{$_[0]};
    });
ok($ok, 'republish: 3 s of video from the second publisher');
my ($s2) = stream_status($e2->status($e2h, '/cluster'), 'r');
is($s2->{failovers}, 0, 'republish: the same upstream all along');

for my $i (0 .. $#q) {
    my @m = @{$msgs->[$i]};
    for my $type (9, 8) {
        my $what = $type == 9 ? 'video' : 'audio';
        my @tr = track(\@m, $type);
        my @back = backwards(@tr);
        is(scalar @back, 0, "republish: player $i: $what never goes back")
            or diag(sprintf "%d -> %d", $back[0][0]{ts}, $back[0][1]{ts});
        my $w = worst_jump(@tr);
        cmp_ok($w->{excess}, '<=', 1000 + slow(50),
               "republish: player $i: $what jumps no more than 1 s beyond"
               . ' the real gap')
            or diag(sprintf "%d -> %d in %.0f ms", $w->{from}, $w->{to},
                            $w->{gap});
    }

    # and goes on at the pace of the clock, not squeezed after the last
    my @v = video_at([after($again + 1, @m)]);
    my $pace = @v > 1 ? ($v[-1]{ts} - $v[0]{ts})
                        / (($v[-1]{at} - $v[0]{at}) * 1000) : 0;
    cmp_ok($pace, '>', 0.5, sprintf "republish: player $i: video at %.2f"
           . ' times the pace of the clock', $pace);
}
$_->close for @q;

$t->check_logs($e, $e2);

done_testing;
