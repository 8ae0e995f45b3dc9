#!/usr/bin/perl

# A play waiting at our origin (cluster_not_found wait) while the stream
# is published on another origin: the time from the publish to the first
# video frame through an SRS-like edge that keeps its pull open and
# follows the RTMP 302 (our RTMP client playing at origin A, following
# the 302 to origin B).  Each try plays a new stream at A, lets a random
# part of a second pass (so the publish falls anywhere between two of
# A's lookups), then starts a publisher on B.  Prints every try and the
# median; asserts nothing.
#
#   perl bench/origin-wait.pl [tries]        (default 5)

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../t/lib";

use Time::HiRes qw(time sleep);
use ClusterTest;
use ClusterConf;

my $tries = shift // 5;

my $t = ClusterTest->new;
die "build the module first (make)\n" unless $t->have_module;

my ($ap, $ah, $bp, $bh) = map { $t->port } 1 .. 4;
$t->nginx('origin-a', cluster_origin_conf(port => $ap, http => $ah,
          coworkers => ["127.0.0.1:$bh"]), ports => [$ap, $ah]);
$t->nginx('origin-b', cluster_origin_conf(port => $bp, http => $bh,
          coworkers => ["127.0.0.1:$ah"]), ports => [$bp, $bh]);

sub median {
    my @s = sort { $a <=> $b } @_;
    return @s % 2 ? $s[$#s / 2] : ($s[@s / 2 - 1] + $s[@s / 2]) / 2;
}

my (@r302, @video);

for my $i (1 .. $tries) {
    my $name = "wait$i";

    my $p = $t->rtmp_play($ap, 'live', $name, wait => 1);

    # waits on purpose: the publish falls anywhere in A's lookup period
    sleep 0.5 + rand;

    my $start = time;
    my $pub = synthetic_publisher($bp, $name, frames => 200);

    my $m = $p->wait_message(sub {
        my $m = shift;
        return 0 unless ($m->{name} // '') eq 'onStatus';
        my ($info) = grep { ref $_ eq 'HASH' } reverse @{$m->{amf}};
        $m->{info} = $info;
        return $info && ($info->{level} // '') eq 'error'
               && ref $info->{ex} eq 'HASH';
    }, timeout => 15);
    my $got302 = time;
    die "try $i: no 302 from origin A\n" unless $m;

    # the edge takes host:port from redirect2, keeps app and stream
    my ($host, $port) = ($m->{info}{ex}{redirect2} // $m->{info}{ex}{redirect})
                        =~ m{^rtmp://([^:/]+):(\d+)}
        or die "try $i: no address in the 302\n";
    $p->close;

    my $q = $t->rtmp(host => $host, port => $port, app => 'live');
    $q->create_stream;
    $q->play($name);
    wait_video($q, timeout => 10) or die "try $i: no video from $port\n";
    my $first = time;
    $q->close;
    stop_publisher($pub);

    push @r302, ($got302 - $start) * 1000;
    push @video, ($first - $start) * 1000;
    printf "try %d: 302 after %4.0f ms, first video after %4.0f ms\n",
           $i, $r302[-1], $video[-1];
}

printf "publish on origin B -> first video through an edge waiting at "
       . "origin A: median %.0f ms (302: median %.0f ms), %d tries\n",
       median(@video), median(@r302), $tries;
