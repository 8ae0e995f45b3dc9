#!/usr/bin/perl

# A graceful shutdown (nginx -s quit) of an edge of four workers with
# players and relays live ends within worker_shutdown_timeout.  The
# owner worker quits alone (and is not reaped at once): the worker that
# relayed from it pulls from the origin at once, whose circuit the
# quitting worker's own closing of its upstream did not open.

use strict;
use warnings;

use Test::More;
use Time::HiRes qw(time);

use lib 't/lib';
use ClusterTest;
use ClusterConf;

my $t = ClusterTest->new;
$t->skip_unless_module;

my ($op, $ep, $eh) = map { $t->port } 1 .. 3;

my $o = $t->nginx('origin', origin_conf($op), ports => [$op], cluster => 0);
my $edge = $t->nginx('edge', edge_conf(port => $ep, http => $eh,
    origins => ["127.0.0.1:$op"], workers => 4,
    rtmp => 'cluster_reuseport on;', main => 'worker_shutdown_timeout 2s;'),
    ports => [$ep, $eh]);

ok($t->wait_until(sub { $edge->worker_pids == 4 }), 'four workers');

$t->publish("rtmp://127.0.0.1:$op/live/s1");
ok($t->wait_until(sub { $o->grep_log(qr/publish: name='s1'/) }), 'published');

# connections from the edge to the origin, the origin's plays, the
# edge's records of the stream (one per worker)
sub upstreams { origin_connections($edge, $op) }
sub plays { scalar $o->grep_log(qr/play: name='s1'/) }
sub records { stream_status($edge->status($eh, '/cluster'), 's1') }

# quit with players and relays live: within worker_shutdown_timeout

my @q = map { $t->rtmp_play($ep, 'live', 's1', wait => 1) } 1 .. 16;
is(scalar(grep { wait_video($_, count => 2, timeout => 5) } @q), 16,
   '16 players get video');
ok($t->wait_until(sub { grep { $_->{origin} =~ /^worker:/ } records() }),
   'workers relay from the owner');
my $qs = time;
$edge->quit;
my $took = time - $qs;
ok(!$edge->running, 'quit completed');
cmp_ok($took, '<', 2 + slow(4),
       sprintf('within worker_shutdown_timeout 2s (%.1fs)', $took));
$_->close for @q;

# the owner quits alone, and the master does not reap it yet (stopped):
# worker_shutdown_timeout closes its pull from the origin, which is no
# failure of the origin (it did, and the origin's circuit, shared by the
# host, kept the relaying worker in backoff for fail_timeout); nor does
# the relaying worker take the zombie for a live owner

my $e2 = $t->nginx('edge2', edge_conf(port => $ep, http => $eh,
    origins => ["127.0.0.1:$op"], workers => 2,
    rtmp => 'cluster_reuseport on;', main => 'worker_shutdown_timeout 1s;'),
    ports => [$ep, $eh]);
ok($t->wait_until(sub { $e2->worker_pids == 2 }), 'edge2: two workers');

sub records2 { stream_status($e2->status($eh, '/cluster'), 's1') }

my (@p, $owner, $relayer);
for (1 .. 40) {
    push @p, $t->rtmp_play($ep, 'live', 's1', wait => 1);
    my @r = records2();
    my ($rel) = grep { $_->{origin} =~ /^worker:/ } @r;
    if ($rel) {
        ($owner) = $rel->{origin} =~ /^worker:(\d+)/;
        $relayer = $rel->{worker};
        last;
    }
}
ok($owner && $relayer, 'edge2: players on both workers, one relays')
    or diag(explain([records2()]));
is(scalar(grep { wait_video($_, count => 2, timeout => 5) } @p),
   scalar @p, scalar(@p) . ' players get video');

my $master = $e2->pid;
kill 'STOP', $master;
my $zombie = sub {
    open my $fh, '<', "/proc/$owner/stat" or return 0;
    return (<$fh> =~ /\) (\S)/)[0] eq 'Z';
};
kill 'QUIT', $owner;
my $reaped_late = $t->wait_until($zombie, timeout => 10);
ok($reaped_late, "owner $owner exited, not reaped (master stopped)");

# the relaying worker pulls on its own, from the origin
ok($t->wait_until(sub {
       my ($r) = grep { $_->{worker} == $relayer } records2();
       $r && $r->{origin} eq "127.0.0.1:$op" && $r->{state} eq 'live';
   }, timeout => 10),
   "worker $relayer pulls from the origin while $owner is a zombie")
    or diag(explain([records2()]));
my $os = origin_status($e2->status($eh, '/cluster'), "127.0.0.1:$op");
is($os && $os->{total_fails}, 0, 'the origin counts no failure')
    or diag(explain($os));
my @gone = grep { $e2->grep_log(qr/connect\(\) to worker:$owner failed/) }
    1;
is(scalar @gone, 0, 'never connected to the exited worker\'s socket')
    or diag(join '', $e2->grep_log(qr/worker:$owner/));

kill 'CONT', $master;
ok($t->wait_until(sub { !ClusterTest::_pid_alive($owner)
                        || !$zombie->() }), 'reaped');
$_->close for @p;
$e2->stop;

$t->check_logs;

done_testing;
