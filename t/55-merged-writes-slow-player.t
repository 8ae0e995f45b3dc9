#!/usr/bin/perl

# Merged writes (cluster_merge_writes) and a player that stops reading: it
# is dropped by the send timeout while the others play on, and the worker
# does not grow meanwhile (bounded by the output queue).

use strict;
use warnings;

use Test::More;
use Socket qw(PF_INET SOCK_STREAM SOL_SOCKET SO_RCVBUF inet_aton
              pack_sockaddr_in);
use Time::HiRes qw(time);

use lib 't/lib';
use ClusterTest;
use ClusterConf;
use RTMP::Client;

my $t = ClusterTest->new;
$t->skip_unless_module;

sub rss_kb {
    my ($pid) = @_;
    open my $fh, '<', "/proc/$pid/status" or return 0;
    while (<$fh>) { return $1 if /^VmRSS:\s+(\d+)/ }
    return 0;
}

my ($op, $oh, $ep, $eh) = map { $t->port } 1 .. 4;

my $o = $t->nginx('origin', cluster_origin_conf(port => $op, http => $oh),
                  ports => [$op, $oh]);

# nginx-rtmp's send timeout ("timeout") 3 s
my $e = $t->nginx('edge', edge_conf(port => $ep, http => $eh,
                  origins => ["127.0.0.1:$op"],
                  rtmp => 'timeout 3s;',
                  app => 'cluster_merge_writes 1s; cluster_linger 10s;'),
                  ports => [$ep, $eh]);

# a player that stops reading, with a 4 KB receive buffer, on a stream
# of ~1.5 MB/s: the kernel's send buffer (up to 4 MB) fills in seconds

my $worker = ($e->worker_pids)[0];
my $bigpub = synthetic_publisher($op, 'big', frames => 500, size => 60000);
ok($t->wait_until(sub {
    grep { $_->{kind} eq 'publish' }
        stream_status($o->status($oh, '/cluster'), 'big')
}), 'published on the origin');
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

# stop reading it; another player reads on (200 frames, 8 s) until the
# edge times the slow one out; the worker's size meanwhile
my $rss0 = rss_kb($worker);
my $rss_max = $rss0;
my ($frames, $timed_out, $looked) = (0, 0, 0);
$big->wait_message(sub {
    my $m = shift;
    $frames++ if $m->{type} eq '9' && !$m->{is_seq_header};
    my $r = rss_kb($worker);
    $rss_max = $r if $r > $rss_max;
    if (!$timed_out && time - $looked > 0.25) {
        $looked = time;
        $timed_out = $e->grep_log(qr/client timed out/);
    }
    return $frames >= 200 && $timed_out;
}, timeout => 20);

ok(scalar($e->grep_log(qr/client timed out/)),
   'the edge timed the slow player out');
$slow->wait_message(sub { 0 }, timeout => 10);
ok($slow->eof, 'slow player closed by the edge');
cmp_ok($frames, '>=', 200, "the other player got $frames frames meanwhile");
cmp_ok($rss_max - $rss0, '<', 32768,
       sprintf('the worker grew at most %d KB while a player stalled '
               . '(bounded by the output queue)', $rss_max - $rss0));

$big->close;
stop_publisher($bigpub);
$t->stop_all;
$t->check_logs;

done_testing;
