#!/usr/bin/perl

# Merged writes (cluster_merge_writes): an edge's players get every frame
# in order with timestamps never going back, the same frames as a player
# of the origin; the first frames still arrive at once; the writes really
# come in batches (unlike an edge without merging); a player that stops
# reading is dropped by the send timeout while the others play on and
# the worker does not grow; when the publisher leaves, players hear it at
# once and a new publisher's frames reach them.  Bad settings are refused.

use strict;
use warnings;

use Test::More;
use Digest::MD5 qw(md5_hex);
use Socket qw(PF_INET SOCK_STREAM SOL_SOCKET SO_RCVBUF inet_aton
              pack_sockaddr_in);
use IO::Handle;
use Time::HiRes qw(time sleep);

use lib 't/lib';
use ClusterTest;
use ClusterConf;
use RTMP::Client;

my $t = ClusterTest->new;
$t->skip_unless_module;

# configuration errors

for my $bad (['0', qr/window "0" must be/],
             ['10s', qr/window "10s" must be/],
             ['100ms 1k', qr/size "1k" must be/],
             ['off 1m', qr/takes no size/],
             ['soon', qr/window "soon" must be/])
{
    my ($code, $out) = $t->nginx_t(edge_conf(port => $t->port,
        http => $t->port, origins => ['127.0.0.1:1'],
        app => "cluster_merge_writes $bad->[0];"));
    isnt($code, 0, "cluster_merge_writes $bad->[0]: refused");
    like($out, $bad->[1], "cluster_merge_writes $bad->[0]: says why");
}

my ($code, $out) = $t->nginx_t(edge_conf(port => $t->port, http => $t->port,
    origins => ['127.0.0.1:1'], rtmp => 'cluster_merge_writes 200ms 1m;'));
is($code, 0, 'window and size at the rtmp level: accepted') or diag $out;

# video [ts, md5], audio ts and the arrival time of every media message,
# until a video timestamp
sub collect {
    my ($c, $until) = @_;
    my (@v, @a, @at);
    $c->wait_message(sub {
        my $m = shift;
        return 0 if $m->{is_seq_header}
                    || ($m->{type} ne '9' && $m->{type} ne '8');
        push @at, time;
        if ($m->{type} eq '9') {
            push @v, [$m->{timestamp}, md5_hex($m->{data})];
            return $m->{timestamp} >= $until;
        }
        push @a, $m->{timestamp};
        return 0;
    }, timeout => 20);
    return (\@v, \@a, \@at);
}

# writes the player saw: messages that arrived within 5 ms of the
# previous one came in the same write (or the same socket read)
sub batches {
    my @at = @_;
    my $n = @at ? 1 : 0;
    for my $i (1 .. $#at) { $n++ if $at[$i] - $at[$i - 1] > 0.005 }
    return $n;
}

sub monotonic {
    my @ts = @_;
    for my $i (1 .. $#ts) { return 0 if $ts[$i] < $ts[$i - 1] }
    return 1;
}

sub rss_kb {
    my ($pid) = @_;
    open my $fh, '<', "/proc/$pid/status" or return 0;
    while (<$fh>) { return $1 if /^VmRSS:\s+(\d+)/ }
    return 0;
}

my ($op, $oh, $ep, $eh, $np, $nh) = map { $t->port } 1 .. 6;

my $o = $t->nginx('origin', cluster_origin_conf(port => $op, http => $oh),
                  ports => [$op, $oh]);

# a 1 s window: longer than the count bound (an eighth of the 256-message
# queue, ~0.6 s of this stream), so both bounds are at work
my $e = $t->nginx('edge', edge_conf(port => $ep, http => $eh,
                  origins => ["127.0.0.1:$op"],
                  rtmp => 'timeout 3s;',
                  app => 'cluster_merge_writes 1s; cluster_linger 10s;'),
                  ports => [$ep, $eh]);
my $n = $t->nginx('plain', edge_conf(port => $np, http => $nh,
                  origins => ["127.0.0.1:$op"]), ports => [$np, $nh]);

my $pub = synthetic_publisher($op, 'm', frames => 600, size => 4000);
sleep 0.5;

# the edge pulls; a first player there, another at the plain edge
my $warm = $t->rtmp_play($ep, 'live', 'm', wait => 1);
ok(wait_video($warm, timeout => 5), 'merged edge: video');
my $plain = $t->rtmp_play($np, 'live', 'm', wait => 1);
ok(wait_video($plain, timeout => 5), 'plain edge: video');

sleep 0.5;

my $d = $t->rtmp(port => $op, app => 'live');
$d->create_stream;
my $p = $t->rtmp(port => $ep, app => 'live');
$p->create_stream;
my $start = time;
$d->play('m');
$p->play('m');

my ($pv, $pa, $pat) = collect($p, 6000);
my ($dv, $da) = collect($d, 6000);
my (undef, undef, $cat) = collect($plain, 6000);

ok(@$pat && $pat->[0] - $start < 0.4,
   sprintf('merged player: first media %.0f ms after play, not a window',
           ((@$pat ? $pat->[0] : $start + 9) - $start) * 1000));
ok(@$pv > 100, scalar(@$pv) . ' video frames to 6 s');
ok(monotonic(map { $_->[0] } @$pv), 'video timestamps never go back');
ok(monotonic(@$pa), 'audio timestamps never go back');
my $first = @$pv ? $pv->[0][0] : 0;
is_deeply([map { "$_->[0]:$_->[1]" } @$pv],
          [map { "$_->[0]:$_->[1]" } grep { $_->[0] >= $first } @$dv],
          'every frame of the origin\'s player, in order, none repeated');
my %seen;
is(scalar(grep { $seen{$_}++ } @$pa), 0, 'no audio frame repeated');
my $gap = 0;
for my $i (1 .. $#$pa) {
    $gap = $pa->[$i] - $pa->[$i - 1] if $pa->[$i] - $pa->[$i - 1] > $gap;
}
cmp_ok($gap, '<=', 40, 'no audio frame skipped');

# the wall-clock spread of the 4+ seconds after the first second

my @late = grep { $_ > $start + 1.5 } @$pat;
my $secs = @late ? $late[-1] - $late[0] : 1;
my $rate = batches(@late) / ($secs || 1);
cmp_ok($rate, '<', 5, sprintf('merged: %.1f writes/s seen (%d messages)',
                              $rate, scalar @late));
my @clate = grep { $_ > $start + 1.5 } @$cat;
my $csecs = @clate ? $clate[-1] - $clate[0] : 1;
my $crate = batches(@clate) / ($csecs || 1);
cmp_ok($crate, '>', 15, sprintf('not merged: %.1f writes/s seen',
                                $crate));

# a player that stops reading, with a 4 KB receive buffer, on a stream
# of ~1.5 MB/s: the kernel's send buffer (up to 4 MB) fills in seconds

my $worker = ($e->worker_pids)[0];
my $bigpub = synthetic_publisher($op, 'big', frames => 500, size => 60000);
sleep 0.5;
my $big = $t->rtmp_play($ep, 'live', 'big', wait => 1);
ok(wait_video($big, timeout => 5), 'big stream: video');

socket(my $sock, PF_INET, SOCK_STREAM, 0) or die "socket: $!";
setsockopt($sock, SOL_SOCKET, SO_RCVBUF, 4096) or die "setsockopt: $!";
connect($sock, pack_sockaddr_in($ep, inet_aton('127.0.0.1')))
    or die "connect: $!";
my $slow = RTMP::Client->new(sock => $sock, port => $ep);
$slow->connect(app => 'live');
$slow->create_stream;
$slow->play('big');
ok(wait_video($slow, timeout => 5), 'slow player: video first');

# stop reading it; another player reads on; the worker's size meanwhile
my $stalled = time;
my $rss0 = rss_kb($worker);
my $rss_max = $rss0;
my $frames = 0;
$big->wait_message(sub {
    my $m = shift;
    $frames++ if $m->{type} eq '9' && !$m->{is_seq_header};
    my $r = rss_kb($worker);
    $rss_max = $r if $r > $rss_max;
    return time - $stalled > 10;
}, timeout => 15);

ok(scalar($e->grep_log(qr/client timed out/)),
   'the edge timed the slow player out');
$slow->wait_message(sub { 0 }, timeout => 10);
ok($slow->eof, 'slow player closed by the edge');
cmp_ok($frames, '>=', 200, "the other player got $frames frames meanwhile");
cmp_ok($rss_max - $rss0, '<', 32768,
       sprintf('the worker grew at most %d KB while a player stalled '
               . '(bounded by the output queue)', $rss_max - $rss0));
stop_publisher($bigpub);

# the publisher of an origin with merged writes leaves: its players hear
# it at once, not a window later, and a new publisher's frames reach them

my ($mp, $mh) = map { $t->port } 1 .. 2;
my $mo = $t->nginx('morigin', cluster_origin_conf(port => $mp, http => $mh,
                   app => 'cluster_merge_writes 2s; publish_notify on;'),
                   ports => [$mp, $mh]);
my $mpub = synthetic_publisher($mp, 'r', frames => 150);
sleep 0.5;
my $mplayer = $t->rtmp_play($mp, 'live', 'r', wait => 1);
ok(wait_video($mplayer, count => 60, timeout => 10),
   'origin with merged writes: video');

# mid-window
stop_publisher($mpub);
my $t0 = time;
my $st = $mplayer->wait_status(qr/UnpublishNotify/, timeout => 10);
ok($st, 'its player is told the stream stopped');
cmp_ok(time - $t0, '<', 1, sprintf('at once (%.0f ms), not after the 2 s '
                                   . 'window', (time - $t0) * 1000));

my $mpub2 = synthetic_publisher($mp, 'r', frames => 100);
ok(wait_video($mplayer, count => 1, timeout => 5),
   'the new publisher\'s video');
my ($rv) = collect($mplayer, 3000);
ok(@$rv >= 60 && monotonic(map { $_->[0] } @$rv),
   'after the republish: frames in order');

stop_publisher($mpub2);
stop_publisher($pub);
$t->stop_all;
$t->check_logs;

done_testing;
