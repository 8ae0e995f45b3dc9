#!/usr/bin/perl

# What a waiting play costs, and how long it waits: 200 plays of one
# missing stream, waiting over two workers, make about one query per
# coworker per second (one watch per stream and worker, the lookups'
# single flight and cache across workers), not one per player;
# "cluster_wait_timeout" gives a waiting play up with
# NetStream.Play.StreamNotFound and closes it; the directive's errors.
# (The 302 and the proxy after a wait: t/64.)

use strict;
use warnings;

use Test::More;
use Time::HiRes qw(time);

use lib 't/lib';
use ClusterTest;
use ClusterConf;
use FakeCoworker;

my $t = ClusterTest->new;
$t->skip_unless_module;

my $tmp = $t->tmp;

### the cost: 200 waiting players, two workers, one coworker

my $cw = FakeCoworker->start(mode => 'notfound', log => "$tmp/cw.log");
my ($dp, $dh) = map { $t->port } 1 .. 2;
my $d = $t->nginx('origin-d', cluster_origin_conf(port => $dp, http => $dh,
    coworkers => ['127.0.0.1:' . $cw->port], workers => 2,
    rtmp => 'cluster_reuseport on;'), ports => [$dp, $dh]);
ok($t->wait_until(sub { $d->worker_pids == 2 }), 'two workers');

my @players;
for (1 .. 200) {
    my $c = $t->rtmp(port => $dp, app => 'live');
    $c->create_stream;
    push @players, $c;
}
$_->play('missing') for @players;
my $waiting = grep {
    $_->wait_status(qr/^NetStream\.Play\.Start$/, timeout => 5)
} @players;
is($waiting, 200, '200 players wait');

my %workers = map { /\[info\] (\d+)#/ ? ($1 => 1) : () }
              $d->grep_log(qr/play: name='missing'/);
ok(scalar(keys %workers) == 2, 'the plays are on both workers');

# time passes on purpose: the queries of a 4 s window are counted
my $before = $cw->requests;
my $t0 = time;
$t->wait_until(sub { time - $t0 >= 4 }, timeout => 5);
my $queries = $cw->requests - $before;
my $window = time - $t0;

# the control: the waiting plays do look again, the same count sees it
cmp_ok($queries, '>=', 2, 'the waiting plays are looked up again');
cmp_ok($queries, '<=', int($window) + 2,
       'about one query per second for 200 waiting players');
diag(sprintf('coworker queries for 200 plays waiting over 2 workers: %d '
             . 'in %.1f s', $queries, $window));
ok(!grep({ $_->eof } @players), 'all players still connected');
$_->close for @players;

### the limit: cluster_wait_timeout

my ($ep, $eh) = map { $t->port } 1 .. 2;
my $e = $t->nginx('origin-e', cluster_origin_conf(port => $ep, http => $eh,
    coworkers => ['127.0.0.1:' . $cw->port],
    app => 'cluster_wait_timeout 2s;'), ports => [$ep, $eh]);

my $p = $t->rtmp_play($ep, 'live', 'never');
my $start = time;
ok($p->wait_status(qr/^NetStream\.Play\.Start$/, timeout => 5),
   'limit: the play waits');

# the same wait that sees StreamNotFound below: not before the limit
ok(!$p->wait_status(qr/^NetStream\.Play\.StreamNotFound$/, timeout => 1),
   'limit: no StreamNotFound within the first second');
ok(!$p->eof, 'limit: still connected after a second');

my $nf = $p->wait_status(qr/^NetStream\.Play\.StreamNotFound$/,
                         timeout => 5);
my $took = time - $start;
ok($nf, 'limit: StreamNotFound after cluster_wait_timeout');
is($nf && $nf->{info}{level}, 'error', 'limit: level error');
cmp_ok($took, '>=', 1.9, 'limit: not before 2 s');
cmp_ok($took, '<', ClusterTest::slow(4), 'limit: soon after 2 s');
$p->wait_message(sub { 0 }, timeout => 3);
ok($p->eof, 'limit: then closed');
my $limit_log = '"live/never" was not published in the cluster within'
                . ' 2000ms (cluster_wait_timeout)';
ok($e->wait_log(qr/\Q$limit_log\E/), 'limit: logged');

# a play served before the limit is not given up
my $pub = synthetic_publisher($ep, 'late', frames => 150);
my $q = $t->rtmp_play($ep, 'live', 'late');
ok(wait_video($q, timeout => 5), 'limit: a published stream plays');
ok(!$q->wait_status(qr/^NetStream\.Play\.StreamNotFound$/, timeout => 3),
   'limit: and is never given up');
$q->close;
stop_publisher($pub);

### configuration errors

for my $bad (['0', 'must be at least 1s'], ['500ms', 'must be at least 1s'],
             ['never', 'invalid value'])
{
    my ($port) = $t->port;
    my $conf = cluster_origin_conf(port => $port, http => $t->port,
        app => "cluster_wait_timeout $bad->[0];");
    my ($code, $out) = $t->nginx_t($conf);
    isnt($code, 0, "cluster_wait_timeout $bad->[0]: nginx -t fails");
    like($out, qr/"cluster_wait_timeout".*\Q$bad->[1]\E/,
         "cluster_wait_timeout $bad->[0]: the directive and the reason")
        or diag($conf);
}

$cw->stop;

$t->check_logs;

done_testing;
