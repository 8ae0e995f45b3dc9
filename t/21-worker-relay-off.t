#!/usr/bin/perl

# cluster_worker_relay off: every worker pulls on its own, as stock
# nginx-rtmp does, and every player gets video (none waits on a worker
# socket that does not exist).  The control, first: the same edge with
# the relay on, where the status shows workers pulling from another.

use strict;
use warnings;

use Test::More;

use lib 't/lib';
use ClusterTest;
use ClusterConf;

my $t = ClusterTest->new;
$t->skip_unless_module;

my ($op, $ep, $eh, $cp, $ch) = map { $t->port } 1 .. 5;

my $o = $t->nginx('origin', origin_conf($op), ports => [$op], cluster => 0);
$t->publish("rtmp://127.0.0.1:$op/live/s1");
ok($t->wait_until(sub { $o->grep_log(qr/publish: name='s1'/) }), 'published');

# the control: the relay on (the default)

my $ce = $t->nginx('edge-relay', edge_conf(port => $cp, http => $ch,
    origins => ["127.0.0.1:$op"], workers => 4,
    rtmp => 'cluster_reuseport on;'), ports => [$cp, $ch]);
ok($t->wait_until(sub { $ce->worker_pids == 4 }), 'relay on: four workers');
my @cp = map { $t->rtmp_play($cp, 'live', 's1', wait => 1) } 1 .. 20;
is(scalar(grep { wait_video($_, count => 5, timeout => 15) } @cp), 20,
   'relay on: 20 players get video');
ok($t->wait_until(sub {
    grep { ($_->{origin} // '') =~ /^worker:/ }
        stream_status($ce->status($ch, '/cluster'), 's1')
}), 'relay on: a worker pulls from another');
ok(grep({ $_->{relay} } @{$ce->status($ch, '/cluster')->{workers}}),
   'relay on: status: workers relay');
$_->close for @cp;
$ce->stop;

# the relay off

my $edge = $t->nginx('edge', edge_conf(port => $ep, http => $eh,
    origins => ["127.0.0.1:$op"], workers => 4,
    rtmp => 'cluster_reuseport on; cluster_worker_relay off;'),
    ports => [$ep, $eh]);

ok($t->wait_until(sub { $edge->worker_pids == 4 }), 'four workers');
my $plays = scalar $o->grep_log(qr/play: name='s1'/);

my @p = map { $t->rtmp_play($ep, 'live', 's1', wait => 1) } 1 .. 40;
is(scalar(grep { wait_video($_, count => 5, timeout => 15) } @p), 40,
   '40 players get video');

my @r = stream_status($edge->status($eh, '/cluster'), 's1');
my $workers = grep { $_->{players} > 0 } @r;
cmp_ok($workers, '>=', 2, "players on $workers workers");
is(scalar(grep { ($_->{origin} // '') =~ /^worker:/ } @r), 0,
   'no worker pulls from another');
is(scalar(grep { ($_->{origin} // '') eq "127.0.0.1:$op" } @r), $workers,
   'each worker pulls from the origin');
is(scalar $o->grep_log(qr/play: name='s1'/) - $plays, $workers,
   'the origin saw one play per worker');
ok(!grep({ $_->{relay} } @{$edge->status($eh, '/cluster')->{workers}}),
   'status: no worker relays');

$_->close for @p;

$t->check_logs;

done_testing;
