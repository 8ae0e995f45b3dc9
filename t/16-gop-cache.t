#!/usr/bin/perl

# The GOP cache: a player joining mid-GOP gets the last keyframe and what
# followed at once, then the live stream with no frame repeated or
# skipped at the seam, timestamps never going back; compared with an
# origin without the cache (nginx-rtmp's behaviour).  Through a cold edge:
# t/51-gop-cache-edge.t; limits: t/52; audio only: t/53; no keyframe yet:
# t/54.

use strict;
use warnings;

use Test::More;
use Time::HiRes qw(time);

use lib 't/lib';
use ClusterTest;
use ClusterConf;

my $t = ClusterTest->new;
$t->skip_unless_module;

my ($op, $oh, $np, $nh) = map { $t->port } 1 .. 4;

my $o = $t->nginx('origin', cluster_origin_conf(port => $op, http => $oh),
                  ports => [$op, $oh]);
my $n = $t->nginx('nocache', cluster_origin_conf(port => $np, http => $nh,
                  app => 'cluster_gop_cache off;'), ports => [$np, $nh]);

# a 25 fps stream with a keyframe every 2 s

my $pub = synthetic_publisher($op, 'g');
ok($t->wait_until(sub {
    grep { $_->{kind} eq 'publish' }
        stream_status($o->status($oh, '/cluster'), 'g')
}), 'published');
my $a = $t->rtmp_play($op, 'live', 'g', wait => 1);

# 1.3 s into the first GOP, on the stream's clock (what player A got)
my $a1 = collect_media($a, 1300);
my $b = $t->rtmp(port => $op, app => 'live');
$b->create_stream;
my $b_start = time;
$b->play('g');
my $bc = collect_media($b, 3000);
my $a2 = collect_media($a, 3000);
my ($bv, $ba, $b_first) = @$bc{qw(video audio first_video)};
my $av = [@{$a1->{video}}, @{$a2->{video}}];

ok($b_first && $b_first - $b_start < slow(0.5),
   sprintf('mid-GOP player: first video in %.0f ms, not at the next keyframe',
           (($b_first // $b_start + 9) - $b_start) * 1000));
ok($bv->[0][2], 'its first video message is a keyframe');
is($bv->[0][0], 0, 'the keyframe of the current GOP');
ok(monotonic(map { $_->[0] } @$bv), 'video timestamps never go back');
ok(monotonic(@$ba), 'audio timestamps never go back');
is_deeply([map { "$_->[0]:$_->[1]" } @$bv],
          [map { "$_->[0]:$_->[1]" } grep { $_->[0] >= $bv->[0][0] } @$av],
          'the same frames as an earlier player: none repeated or skipped');
is(scalar(@$bv), 76, '76 frames from the keyframe to 3 s');
my %dup;
is(scalar(grep { $dup{$_}++ } @$ba), 0, 'no audio frame repeated');

$_->close for $a, $b;
stop_publisher($pub);

# without the cache (nginx-rtmp's behaviour) for comparison

$pub = synthetic_publisher($np, 'g');
ok(wait_stream_time($np, 'g', 1300), 'no cache: 1.3 s into the GOP');
my $x = $t->rtmp(port => $np, app => 'live');
$x->create_stream;
my $x_start = time;
$x->play('g');
my $x_first = collect_media($x, 2000)->{first_video};
diag(sprintf 'first video 1.3 s into a 2 s GOP: %.0f ms with the cache,'
     . ' %.0f ms without', ($b_first - $b_start) * 1000,
     (($x_first // $x_start) - $x_start) * 1000);
$x->close;
stop_publisher($pub);

$t->check_logs;

done_testing;
