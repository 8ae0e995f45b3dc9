#!/usr/bin/perl

# Time to first video frame, with and without the GOP cache: directly
# from an origin, through a warm edge (the stream already pulled) and
# through a cold edge (each play starts the pull), for a 2 s GOP stream
# (720p-like bitrate is not needed here: the wait is for a keyframe).
# From the play command to the first video message, over N tries spread
# across the GOP.  Prints p50/p95; asserts nothing.
#
#   perl bench/ttff.pl [tries]        (default 20)

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../t/lib";

use Time::HiRes qw(time sleep);
use ClusterTest;
use ClusterConf;

my $tries = shift // 20;

my $t = ClusterTest->new;
die "build the module first (make)\n" unless $t->have_module;

my $clip = $t->repo . '/build/test-media/gop2s.flv';
unless (-s $clip) {
    my ($code, $out, $err) = $t->run(['ffmpeg', '-hide_banner', '-loglevel',
        'error', '-nostdin', '-y', '-f', 'lavfi', '-i',
        'testsrc2=size=640x360:rate=25', '-f', 'lavfi', '-i',
        'sine=frequency=440:sample_rate=44100', '-t', '20', '-c:v',
        'libx264', '-preset', 'veryfast', '-g', '50', '-keyint_min', '50',
        '-sc_threshold', '0', '-b:v', '1000k', '-c:a', 'aac', '-b:a', '64k',
        '-f', 'flv', $clip], timeout => 120);
    die "cannot make $clip: $err\n" if $code;
}

my %port;
for my $cache (qw(on off)) {
    my ($op, $oh, $wp, $wh, $cp, $ch) = map { $t->port } 1 .. 6;
    my $app = "cluster_gop_cache $cache;";
    $t->nginx("origin-$cache", cluster_origin_conf(port => $op, http => $oh,
              app => $app), ports => [$op, $oh]);
    $t->nginx("warm-$cache", edge_conf(port => $wp, http => $wh,
              origins => ["127.0.0.1:$op"], app => $app), ports => [$wp, $wh]);
    $t->nginx("cold-$cache", edge_conf(port => $cp, http => $ch,
              origins => ["127.0.0.1:$op"], app => "$app cluster_linger 0;"),
              ports => [$cp, $ch]);
    $t->publish("rtmp://127.0.0.1:$op/live/s", media => $clip);
    $port{$cache} = { origin => $op, warm => $wp, cold => $cp };
}
sleep 3;

# keep the warm edges' pulls up
my @keep = map { $t->rtmp_play($port{$_}{warm}, 'live', 's', wait => 1) }
           qw(on off);

sub ttff {
    my ($port) = @_;
    my @ms;
    for my $i (1 .. $tries) {
        my $c = $t->rtmp(port => $port, app => 'live');
        $c->create_stream;
        my $start = time;
        $c->play('s');
        my $m = $c->wait_message(sub {
            $_[0]{type} eq '9' && !$_[0]{is_seq_header} }, timeout => 10);
        push @ms, (time - $start) * 1000 if $m;
        $c->close;
        $_->read_message(timeout => 0.001) for @keep;
        sleep rand 2;   # spread the tries over the GOP
        $_->wait_message(sub { 0 }, timeout => 0.01) for @keep;
    }
    @ms = sort { $a <=> $b } @ms;
    return sprintf '%7.1f %7.1f', $ms[int($#ms * 0.5)], $ms[int($#ms * 0.95)];
}

printf "time to first video frame, ms, %d tries, 2 s GOP\n", $tries;
printf "%-22s %15s %15s\n", '', 'cache p50  p95', 'no cache p50  p95';
for my $where (qw(origin warm cold)) {
    printf "%-22s %15s %15s\n",
        { origin => 'directly from origin', warm => 'through a warm edge',
          cold => 'through a cold edge' }->{$where},
        ttff($port{on}{$where}), ttff($port{off}{$where});
}
