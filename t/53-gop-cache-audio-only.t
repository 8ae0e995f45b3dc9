#!/usr/bin/perl

# The GOP cache and an audio-only stream: a player joining gets audio at
# once, timestamps never going back, nothing repeated.

use strict;
use warnings;

use Test::More;
use Time::HiRes qw(time);

use lib 't/lib';
use ClusterTest;
use ClusterConf;

my $t = ClusterTest->new;
$t->skip_unless_module;

my ($op, $oh) = map { $t->port } 1 .. 2;

my $o = $t->nginx('origin', cluster_origin_conf(port => $op, http => $oh),
                  ports => [$op, $oh]);

my $pub = synthetic_publisher($op, 'aud', audio_only => 1);
ok(wait_stream_time($op, 'aud', 1000), 'the stream is 1 s in');

my $x = $t->rtmp(port => $op, app => 'live');
$x->create_stream;
my $x_start = time;
$x->play('aud');
my @ats;
my $first_audio;
$x->wait_message(sub {
    my $m = shift;
    return 0 unless $m->{type} eq '8' && !$m->{is_seq_header};
    $first_audio //= time;
    push @ats, $m->{timestamp};
    return @ats >= 40;
}, timeout => 5);
ok($first_audio && $first_audio - $x_start < slow(0.5),
   sprintf('audio only: audio at once (%.0f ms)',
           (($first_audio // $x_start + 9) - $x_start) * 1000));
ok(monotonic(@ats), 'audio only: monotonic');
my %seen;
is(scalar(grep { $seen{$_}++ } @ats), 0, 'audio only: nothing repeated');
$x->close;
stop_publisher($pub);

$t->check_logs;

done_testing;
