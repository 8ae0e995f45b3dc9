#!/usr/bin/perl

# Merged writes (cluster_merge_writes) when the publisher of an origin
# leaves mid-window: its players hear it at once, not a window later, and
# a new publisher's frames reach them in order.

use strict;
use warnings;

use Test::More;
use Time::HiRes qw(time);

use lib 't/lib';
use ClusterTest;
use ClusterConf;

my $t = ClusterTest->new;
$t->skip_unless_module;

my ($mp, $mh) = map { $t->port } 1 .. 2;
my $mo = $t->nginx('morigin', cluster_origin_conf(port => $mp, http => $mh,
                   app => 'cluster_merge_writes 2s; publish_notify on;'),
                   ports => [$mp, $mh]);

my $mpub = synthetic_publisher($mp, 'r', frames => 150);
ok($t->wait_until(sub {
    grep { $_->{kind} eq 'publish' }
        stream_status($mo->status($mh, '/cluster'), 'r')
}), 'published');
my $mplayer = $t->rtmp_play($mp, 'live', 'r', wait => 1);
ok(wait_video($mplayer, count => 60, timeout => 10),
   'origin with merged writes: video');

# mid-window
stop_publisher($mpub);
my $t0 = time;
my $st = $mplayer->wait_status(qr/UnpublishNotify/, timeout => 10);
ok($st, 'its player is told the stream stopped');
cmp_ok(time - $t0, '<', slow(1), sprintf('at once (%.0f ms), not after the '
                                         . '2 s window', (time - $t0) * 1000));

my $mpub2 = synthetic_publisher($mp, 'r', frames => 100);
ok(wait_video($mplayer, count => 1, timeout => 5),
   'the new publisher\'s video');
my $rv = collect_media($mplayer, 3000, timeout => 20)->{video};
ok(@$rv >= 60 && monotonic(map { $_->[0] } @$rv),
   'after the republish: frames in order');

$mplayer->close;
stop_publisher($mpub2);
$t->stop_all;
$t->check_logs;

done_testing;
