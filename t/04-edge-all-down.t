#!/usr/bin/perl

# Every origin fails: refused, silent (accepts TCP, never answers the
# handshake) and hostile (answers garbage).  The edge retries with backoff
# up to cluster_retry_timeout, then ends the play with a clear onStatus and
# logs the origins tried; the worker survives it all.

use strict;
use warnings;

use Test::More;
use IO::Socket::IP;
use POSIX qw(_exit);
use Time::HiRes qw(time);

use lib 't/lib';
use ClusterTest;
use ClusterConf;

my $t = ClusterTest->new;
$t->skip_unless_module;

my ($refused, $ep, $eh) = map { $t->port } 1 .. 3;

# silent: the kernel completes TCP, nobody ever reads
my $silent = IO::Socket::IP->new(LocalHost => '127.0.0.1', LocalPort => 0,
                                 Listen => 16, ReuseAddr => 1)
    or die "listen: $!";
my $silent_port = $silent->sockport;

# hostile: answers every connection with garbage, then closes
my $hostile = IO::Socket::IP->new(LocalHost => '127.0.0.1', LocalPort => 0,
                                  Listen => 16, ReuseAddr => 1)
    or die "listen: $!";
my $hostile_port = $hostile->sockport;

my $child = fork // die "fork: $!";
if ($child == 0) {
    $SIG{$_} = 'DEFAULT' for qw(INT TERM HUP);
    local $SIG{ALRM} = sub { _exit(0) };
    alarm 60;
    while (my $c = $hostile->accept) {
        syswrite $c, "\x06" . ("\xff\x00garbage" x 500);
        close $c;
    }
    _exit(0);
}
close $hostile;

my $edge = $t->nginx('edge', edge_conf(port => $ep, http => $eh,
    origins => ["127.0.0.1:$refused fail_timeout=1s",
                "127.0.0.1:$silent_port", "127.0.0.1:$hostile_port"],
    app => 'cluster_balance order; cluster_connect_timeout 1s; '
         . 'cluster_retry_timeout 4s;'),
    ports => [$ep, $eh]);

my @workers = $edge->worker_pids;

my $start = time;
my $p = $t->rtmp_play($ep, 'live', 's1');
ok($p->wait_status(qr/^NetStream\.Play\.Start$/, timeout => 5),
   'the player is answered at once and waits');
ok(stream_status($edge->status($eh, '/cluster'), 's1'),
   'status: the stream is listed while the edge retries');

my $fail = $p->wait_status(qr/^NetStream\.Play\.Failed$/, timeout => 10);
my $took = time - $start;
ok($fail, 'the play ends with NetStream.Play.Failed');
is($fail && $fail->{info}{level}, 'error', 'onStatus level error');
like($fail && $fail->{info}{description}, qr/no origin could serve "live\/s1"/,
     'onStatus description');
cmp_ok($took, '>=', 3.5, sprintf('not before cluster_retry_timeout (%.2fs)', $took));
cmp_ok($took, '<', 4 + slow(3), 'nor long after it');

$p->wait_message(sub { 0 }, timeout => 3);
ok($p->eof, 'the player is disconnected');

my ($line) = $edge->grep_log(qr/no origin could serve "live\/s1" within 4000ms/);
ok($line, 'error log: given up');
like($line // '', qr/127\.0\.0\.1:$refused \(/, 'error log names the refused origin');
like($line // '', qr/127\.0\.0\.1:$silent_port \(timed out connecting\)/,
     'error log names the silent origin');
like($line // '', qr/127\.0\.0\.1:$hostile_port \(/,
     'error log names the hostile origin');

my @tries = $edge->grep_log(qr/(cannot connect to origin|origin) "127\.0\.0\.1:$refused"/);
cmp_ok(scalar @tries, '>=', 2, 'the refused origin was retried after backoff');
cmp_ok(scalar @tries, '<=', 6, 'but not hammered');

my $st = $edge->status($eh, '/cluster');
ok(!stream_status($st, 's1'), 'status: the stream is gone');
is(origin_status($st, "127.0.0.1:$silent_port")->{circuit}, 'open',
   'status: silent origin circuit open');
is(origin_status($st, "127.0.0.1:$hostile_port")->{health}, 'down',
   'status: hostile origin down');
cmp_ok(origin_status($st, "127.0.0.1:$refused")->{total_fails}, '>=', 2,
       'status: refused origin failures counted');

is_deeply([sort $edge->worker_pids], [sort @workers], 'the worker survived');
# (a crashed worker's line, as t/00-harness.t shows it appear)
ok(!$edge->grep_log(qr/exited on signal/), 'no worker crash');

kill 'TERM', $child;
waitpid $child, 0;

$t->check_logs;

done_testing;
