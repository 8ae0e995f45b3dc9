#!/usr/bin/perl

# "cluster_found proxy": an origin that finds the stream on a coworker
# pulls it and plays it itself, so players that do not follow redirects
# (ffprobe, ffmpeg) get the stream; its status lists a proxy stream.

use strict;
use warnings;

use Test::More;

use lib 't/lib';
use ClusterTest;
use ClusterConf;

my $t = ClusterTest->new;
$t->skip_unless_module;

my ($ap, $ah, $dp, $dh) = map { $t->port } 1 .. 4;

my $a = $t->nginx('origin-a', cluster_origin_conf(port => $ap, http => $ah,
    coworkers => ["127.0.0.1:$dh"]), ports => [$ap, $ah]);
my $d = $t->nginx('origin-d', cluster_origin_conf(port => $dp, http => $dh,
    coworkers => ["127.0.0.1:$ah"], app => 'cluster_found proxy;'),
    ports => [$dp, $dh]);

$t->publish("rtmp://127.0.0.1:$ap/live/s1");
ok($t->wait_until(sub { $a->grep_log(qr/"live\/s1" registered/) }),
   's1 published on origin A');

my $probe = $t->play_ffprobe("rtmp://127.0.0.1:$dp/live/s1", timeout => 10);
is(scalar(grep { $_->{codec_type} eq 'video' } @{$probe->{streams} // []}),
   1, 'proxy: ffprobe on origin D sees the video');
my ($code, $err) = $t->ffmpeg_play("rtmp://127.0.0.1:$dp/live/s1", seconds => 2);
is($code, 0, 'proxy: ffmpeg plays 2 s through origin D') or diag($err);
my ($s) = stream_status($d->status($dh, '/cluster'), 's1');
is($s && $s->{kind}, 'proxy', 'proxy: status kind proxy');
is($s && $s->{origin}, "127.0.0.1:$ap", 'proxy: from A');

$t->check_logs;

done_testing;
