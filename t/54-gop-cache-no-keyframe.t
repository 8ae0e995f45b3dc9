#!/usr/bin/perl

# The GOP cache before the first keyframe: a player joining a stream that
# has sent no keyframe yet gets no stale video, while it plays (audio).
# First, as a control, the same player and the same one-second look on a
# stream with keyframes: video.

use strict;
use warnings;

use Test::More;

use lib 't/lib';
use ClusterTest;
use ClusterConf;

my $t = ClusterTest->new;
$t->skip_unless_module;

my ($op, $oh) = map { $t->port } 1 .. 2;

my $o = $t->nginx('origin', cluster_origin_conf(port => $op, http => $oh),
                  ports => [$op, $oh]);

# what a new player of $name gets in one second: (video, audio) messages
sub look {
    my ($name) = @_;
    my $x = $t->rtmp_play($op, 'live', $name, wait => 1);
    my ($video, $audio) = (0, 0);
    $x->wait_message(sub {
        my $m = shift;
        return 0 if $m->{is_seq_header};
        $video++ if $m->{type} eq '9';
        $audio++ if $m->{type} eq '8';
        return 0;
    }, timeout => 1);
    $x->close;
    return ($video, $audio);
}

# the control, keyframes every 2 s, and a stream with none yet

my $key = synthetic_publisher($op, 'key', frames => 150);
my $nokey = synthetic_publisher($op, 'nokey', no_key => 1,
                                 frames => 150);
ok(wait_stream_time($op, 'key', 1000), 'with keyframes: 1 s in');
ok(wait_stream_time($op, 'nokey', 1000), 'no keyframe yet: 1 s in');

my ($video, $audio) = look('key');
cmp_ok($video, '>', 0, 'with keyframes: video in a second');
cmp_ok($audio, '>', 0, 'with keyframes: audio in a second');

# no keyframe yet: nothing stale

($video, $audio) = look('nokey');
cmp_ok($audio, '>', 0, 'no keyframe yet: the player plays (audio)');
ok(!$video, 'no keyframe yet: no cached video');

stop_publisher($_) for $key, $nokey;

$t->check_logs;

done_testing;
