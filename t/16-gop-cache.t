#!/usr/bin/perl

# The GOP cache: a player joining mid-GOP gets the last keyframe and what
# followed at once, then the live stream with no frame repeated or
# skipped at the seam, timestamps never going back; through a cold edge
# too.  Limits drop the cache; audio-only streams work; a stream with no
# keyframe yet sends nothing stale.

use strict;
use warnings;

use Test::More;
use Digest::MD5 qw(md5_hex);
use Time::HiRes qw(time sleep);

use lib 't/lib';
use ClusterTest;
use ClusterConf;
use RTMP::Client;

my $t = ClusterTest->new;
$t->skip_unless_module;

# video (ts, md5) and audio ts until a video timestamp, from a player
sub collect {
    my ($c, $until, %o) = @_;
    my (@v, @a, $first_at);
    $c->wait_message(sub {
        my $m = shift;
        if ($m->{type} eq '9' && !$m->{is_seq_header}) {
            $first_at //= time;
            push @v, [$m->{timestamp}, md5_hex($m->{data}), $m->{keyframe}];
            return $m->{timestamp} >= $until;
        }
        push @a, $m->{timestamp} if $m->{type} eq '8' && !$m->{is_seq_header};
        return 0;
    }, timeout => $o{timeout} // 10);
    return (\@v, \@a, $first_at);
}

sub monotonic {
    my @ts = @_;
    for my $i (1 .. $#ts) { return 0 if $ts[$i] < $ts[$i - 1] }
    return 1;
}

my ($op, $oh, $ep, $eh, $lp, $lh, $np, $nh) = map { $t->port } 1 .. 8;

my $o = $t->nginx('origin', cluster_origin_conf(port => $op, http => $oh),
                  ports => [$op, $oh]);
my $e = $t->nginx('edge', edge_conf(port => $ep, http => $eh,
                  origins => ["127.0.0.1:$op"]), ports => [$ep, $eh]);
my $l = $t->nginx('limited', cluster_origin_conf(port => $lp, http => $lh,
                  app => 'cluster_gop_max_frames 10;'), ports => [$lp, $lh]);
my $n = $t->nginx('nocache', cluster_origin_conf(port => $np, http => $nh,
                  app => 'cluster_gop_cache off;'), ports => [$np, $nh]);

my $pub = synthetic_publisher($op, 'g');
sleep 0.5;
my $a = $t->rtmp_play($op, 'live', 'g', wait => 1);

sleep 0.8;      # 1.3 s into the first GOP
my $b = $t->rtmp(port => $op, app => 'live');
$b->create_stream;
my $b_start = time;
$b->play('g');
my ($bv, $ba, $b_first) = collect($b, 3000);
my ($av, $aa) = collect($a, 3000);

ok($b_first && $b_first - $b_start < 0.3,
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

# a cold edge: the origin's GOP reaches the edge's first player at once

my $c = $t->rtmp(port => $ep, app => 'live');
$c->create_stream;
my $c_start = time;
$c->play('g');
my ($cv, $ca, $c_first) = collect($c, 4500);
my $cold = ($c_first // $c_start + 9) - $c_start;
cmp_ok($cold, '<', 0.5, sprintf('cold edge: first video in %.0f ms (GOP 2 s)',
                                $cold * 1000));
ok($cv->[0][2], 'cold edge: a keyframe first');
ok(monotonic(map { $_->[0] } @$cv), 'cold edge: monotonic');
my ($es) = stream_status($e->status($eh, '/cluster'), 'g');
cmp_ok($es->{gop}{frames}, '>', 0, 'edge status: the cached GOP');
cmp_ok($es->{gop}{duration_ms}, '<=', 2000, 'edge status: at most one GOP');

my ($os) = grep { $_->{kind} eq 'publish' }
           stream_status($o->status($oh, '/cluster'), 'g');
cmp_ok($os && $os->{gop}{frames}, '>', 0,
       'origin status: the publisher\'s cached GOP');

$_->close for $a, $b, $c;
stop_publisher($pub);

# limits: a GOP longer than the cache holds is dropped, nothing stale

$pub = synthetic_publisher($lp, 'g');
sleep 1.3;
my $x = $t->rtmp_play($lp, 'live', 'g', wait => 1);
my ($xv) = collect($x, 2000);
is($xv->[0][0], 2000, 'over the limit: the player waits for the next keyframe');
ok($xv->[0][2], 'and gets a keyframe first');
$x->close;
stop_publisher($pub);

# without the cache (nginx-rtmp's behaviour) for comparison

$pub = synthetic_publisher($np, 'g');
sleep 1.3;
$x = $t->rtmp(port => $np, app => 'live');
$x->create_stream;
my $x_start = time;
$x->play('g');
my (undef, undef, $x_first) = collect($x, 2000);
diag(sprintf 'first video 1.3 s into a 2 s GOP: %.0f ms with the cache,'
     . ' %.0f ms without', ($b_first - $b_start) * 1000,
     (($x_first // $x_start) - $x_start) * 1000);
$x->close;
stop_publisher($pub);

# audio only

$pub = synthetic_publisher($op, 'aud', audio_only => 1);
sleep 1;
$x = $t->rtmp(port => $op, app => 'live');
$x->create_stream;
$x_start = time;
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
ok($first_audio && $first_audio - $x_start < 0.2, 'audio only: audio at once');
ok(monotonic(@ats), 'audio only: monotonic');
my %seen;
is(scalar(grep { $seen{$_}++ } @ats), 0, 'audio only: nothing repeated');
$x->close;
stop_publisher($pub);

# no keyframe yet: nothing stale

$pub = synthetic_publisher($op, 'nokey', no_key => 1, frames => 60);
sleep 1;
$x = $t->rtmp_play($op, 'live', 'nokey', wait => 1);
my $v = $x->wait_message(sub { $_[0]{type} eq '9' && !$_[0]{is_seq_header} },
                         timeout => 1);
ok(!$v,
   'no keyframe yet: no cached video');
$x->close;
stop_publisher($pub);

$t->check_logs;

done_testing;
