#!/usr/bin/perl

# The GOP cache through a cold edge: the origin's cached GOP reaches the
# edge's first player at once (a keyframe first, timestamps never going
# back), and both the edge and the origin list the GOP they hold.

use strict;
use warnings;

use Test::More;
use Time::HiRes qw(time);

use lib 't/lib';
use ClusterTest;
use ClusterConf;

my $t = ClusterTest->new;
$t->skip_unless_module;

my ($op, $oh, $ep, $eh) = map { $t->port } 1 .. 4;

my $o = $t->nginx('origin', cluster_origin_conf(port => $op, http => $oh),
                  ports => [$op, $oh]);
my $e = $t->nginx('edge', edge_conf(port => $ep, http => $eh,
                  origins => ["127.0.0.1:$op"]), ports => [$ep, $eh]);

# a 25 fps stream with a keyframe every 2 s, 1.3 s into its first GOP
my $pub = synthetic_publisher($op, 'g');
ok(wait_stream_time($op, 'g', 1300), 'the stream is 1.3 s in');

my $c = $t->rtmp(port => $ep, app => 'live');
$c->create_stream;
my $c_start = time;
$c->play('g');
my $cc = collect_media($c, 2500);
my $cv = $cc->{video};
my $cold = ($cc->{first_video} // $c_start + 9) - $c_start;
cmp_ok($cold, '<', slow(0.5),
       sprintf('cold edge: first video in %.0f ms (GOP 2 s)', $cold * 1000));
ok($cv->[0][2], 'cold edge: a keyframe first');
is($cv->[0][0], 0, 'cold edge: the keyframe of the current GOP');
ok(monotonic(map { $_->[0] } @$cv), 'cold edge: monotonic');
my ($es) = stream_status($e->status($eh, '/cluster'), 'g');
cmp_ok($es->{gop}{frames}, '>', 0, 'edge status: the cached GOP');
cmp_ok($es->{gop}{duration_ms}, '<=', 2000, 'edge status: at most one GOP');

my ($os) = grep { $_->{kind} eq 'publish' }
           stream_status($o->status($oh, '/cluster'), 'g');
cmp_ok($os && $os->{gop}{frames}, '>', 0,
       'origin status: the publisher\'s cached GOP');

$c->close;
stop_publisher($pub);

$t->check_logs;

done_testing;
