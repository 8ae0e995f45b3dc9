#!/usr/bin/perl

# The GOP cache's limits: a GOP longer than the cache holds
# (cluster_gop_max_frames) is dropped, so a player joining mid-GOP waits
# for the next keyframe and gets nothing stale.

use strict;
use warnings;

use Test::More;

use lib 't/lib';
use ClusterTest;
use ClusterConf;

my $t = ClusterTest->new;
$t->skip_unless_module;

my ($lp, $lh) = map { $t->port } 1 .. 2;

my $l = $t->nginx('limited', cluster_origin_conf(port => $lp, http => $lh,
                  app => 'cluster_gop_max_frames 10;'), ports => [$lp, $lh]);

# 25 fps, a keyframe every 2 s: 1.3 s in, the GOP has 33 frames
my $pub = synthetic_publisher($lp, 'g');
ok(wait_stream_time($lp, 'g', 1300), 'the stream is 1.3 s in');

my $x = $t->rtmp_play($lp, 'live', 'g', wait => 1);
my $xv = collect_media($x, 2000)->{video};
is($xv->[0][0], 2000, 'over the limit: the player waits for the next keyframe');
ok($xv->[0][2], 'and gets a keyframe first');
$x->close;
stop_publisher($pub);

$t->check_logs;

done_testing;
