package Timeline;

# What players get across a change of the stream's upstream (failover,
# redirect, a new owner worker): every audio and video message's
# timestamp and arrival time, read from several RTMP players side by
# side, and the checks the timestamps' rebase must pass
# (ngx_rtmp_cluster_timeline.c): never back on a track, and no jump much
# longer than the time that really passed.

use strict;
use warnings;

use Digest::MD5 qw(md5_hex);
use Exporter qw(import);
use JSON::PP ();
use Test::More ();
use Time::HiRes qw(time);

use ClusterTest ();

our @EXPORT = qw(record_players track backwards worst_jump switch_step
                 after ffmpeg_copy copy_video_dts check_tracks show_switch);

# record_players([$client, ...], until => sub { my ($msgs) = @_; ... },
#                timeout => s): reads the players side by side until the
# callback is true (given the messages so far, one list per player) or
# slow(timeout) passed; every media message as
#   { type => 8|9, ts, at (arrival), hdr (sequence header), key, md5 }
# appended to $msgs->[$i] (pass msgs => $msgs to go on with a list).
# Returns ($msgs, true when the callback was).
sub record_players {
    my ($clients, %o) = @_;
    my $msgs = $o{msgs} // [map { [] } @$clients];
    my $deadline = time + ClusterTest::slow($o{timeout} // 10);
    my $done;
    while (time < $deadline) {
        my $any;
        for my $i (0 .. $#$clients) {
            my $c = $clients->[$i];
            next if $c->eof;
            my $m = $c->read_message(timeout => 0.005) or next;
            next unless $m->{type} eq '8' || $m->{type} eq '9';
            $any = 1;
            push @{$msgs->[$i]}, { type => $m->{type} + 0,
                ts => $m->{timestamp}, at => time,
                hdr => $m->{is_seq_header}, key => $m->{keyframe},
                md5 => md5_hex($m->{data}) };
        }
        last if $done = $o{until}->($msgs);
    }
    return ($msgs, $done);
}

# track($msgs, 8|9): the messages of one track
sub track {
    my ($msgs, $type) = @_;
    return grep { $_->{type} == $type } @$msgs;
}

# backwards(@track): the pairs of consecutive messages where the timestamp
# goes back, as [$before, $after]
sub backwards {
    my @m = @_;
    return map { [$m[$_ - 1], $m[$_]] }
           grep { $m[$_]{ts} < $m[$_ - 1]{ts} } 1 .. $#m;
}

# worst_jump(@track): the consecutive pair whose timestamp step goes
# furthest beyond the time between their arrivals, as
#   { excess => ms, step => ms, gap => ms, from => ts, to => ts }
sub worst_jump {
    my @m = @_;
    my $w = { excess => 0, step => 0, gap => 0, from => 0, to => 0 };
    for my $i (1 .. $#m) {
        my $step = $m[$i]{ts} - $m[$i - 1]{ts};
        my $gap = ($m[$i]{at} - $m[$i - 1]{at}) * 1000;
        next unless $step - $gap > $w->{excess};
        $w = { excess => $step - $gap, step => $step, gap => $gap,
               from => $m[$i - 1]{ts}, to => $m[$i]{ts} };
    }
    return $w;
}

# switch_step($edge, @track): where a player's track crossed the edge's
# last rebase (its log: "... goes on as N"): the message before the first
# one stamped N or later, and that one, as { step, gap, from, to } (ms);
# undef without a rebase
sub switch_step {
    my ($edge, @m) = @_;
    my ($l) = reverse $edge->grep_log(qr/timestamps rebased by/);
    return undef unless $l && $l =~ /goes on as (\d+)\)/;
    my $n = $1;
    for my $i (1 .. $#m) {
        next unless $m[$i]{ts} >= $n;
        return { step => $m[$i]{ts} - $m[$i - 1]{ts},
                 gap => ($m[$i]{at} - $m[$i - 1]{at}) * 1000,
                 from => $m[$i - 1]{ts}, to => $m[$i]{ts} };
    }
    return undef;
}

# after($time, @msgs): those that arrived after $time
sub after {
    my ($t, @m) = @_;
    return grep { $_->{at} > $t } @m;
}

# ffmpeg_copy($t, $url, $file): ffmpeg as a player of $url in the
# background, copying what it gets into MPEG-TS $file (a muxer that
# checks every DTS, and logs "Non-monotonous DTS" when one goes back);
# its ClusterTest::Proc (log_text: its warnings)
sub ffmpeg_copy {
    my ($t, $url, $file) = @_;
    return $t->spawn(['ffmpeg', '-hide_banner', '-nostdin', '-loglevel',
                      'warning', '-rw_timeout',
                      int(ClusterTest::slow(10) * 1_000_000), '-i', $url,
                      '-c', 'copy', '-f', 'mpegts', '-y', $file],
                     name => 'ffmpeg-player');
}

# copy_video_dts($t, $file): the DTS (s) of the video packets of $file,
# as ffprobe reads them
sub copy_video_dts {
    my ($t, $file) = @_;
    my ($code, $out) = $t->run(['ffprobe', '-v', 'error', '-show_entries',
        'packet=codec_type,dts_time', '-of', 'json', $file], timeout => 30);
    my $pk = eval { JSON::PP::decode_json($out)->{packets} } // [];
    return map { $_->{dts_time} }
           grep { $_->{codec_type} eq 'video' && defined $_->{dts_time} }
           @$pk;
}

# check_tracks($who, \@msgs): the two assertions of every player, on
# video and on audio: never back, and no jump more than 1 s beyond the
# time that really passed
sub check_tracks {
    my ($who, $m) = @_;
    for my $type (9, 8) {
        my $what = $type == 9 ? 'video' : 'audio';
        my @tr = track($m, $type);
        my @back = backwards(@tr);
        Test::More::is(scalar @back, 0, "$who: $what never goes back")
            or Test::More::diag(sprintf "%d -> %d", $back[0][0]{ts},
                                $back[0][1]{ts});

        my $w = worst_jump(@tr);
        Test::More::cmp_ok($w->{excess}, '<=', 1000 + ClusterTest::slow(50),
            "$who: $what jumps no more than 1 s beyond the real gap")
            or Test::More::diag(sprintf "%d -> %d in %.0f ms", $w->{from},
                                $w->{to}, $w->{gap});
    }
}

# show_switch($edge, $who, \@msgs): prints the video's step at the edge's
# rebase (the figure the notes quote)
sub show_switch {
    my ($e, $who, $m) = @_;
    my $sw = switch_step($e, grep { !$_->{hdr} } track($m, 9)) or return;
    Test::More::diag(sprintf "%s: at the switch video went %d -> %d ms "
                     . "(%+d ms) after %.0f ms", $who,
                     @$sw{qw(from to step gap)});
}

1;
