#!/usr/bin/perl

# A reload, then the origin restarts: the stream recovers everywhere.
# The worker that is shutting down after the reload keeps retrying for
# its players; a player of the new cycle makes a new worker the stream's
# owner (never the exiting one), and the exiting worker's players are
# then relayed from it.  Nobody is disconnected.

use strict;
use warnings;

use Test::More;

use lib 't/lib';
use ClusterTest;
use ClusterConf;

my $t = ClusterTest->new;
$t->skip_unless_module;

my ($op, $ep, $eh) = map { $t->port } 1 .. 3;

my $o = $t->nginx('origin', origin_conf($op), ports => [$op], cluster => 0);

my $conf = edge_conf(port => $ep, http => $eh,
    origins => ["127.0.0.1:$op fail_timeout=1s"],
    main => 'worker_shutdown_timeout 120s;');

diag("edge configuration:\n$conf") if $ENV{TEST_VERBOSE};

my $edge = $t->nginx('edge', $conf, ports => [$ep, $eh]);

my $pub = $t->publish("rtmp://127.0.0.1:$op/live/s1");
ok($t->wait_until(sub { $o->grep_log(qr/publish: name='s1'/) }), 'published');

my @old = map { $t->rtmp_play($ep, 'live', 's1', wait => 1) } 1 .. 5;
is(scalar(grep { wait_video($_, count => 5, timeout => 10) } @old), 5,
   'five players before the reload');

my ($old_worker) = $edge->worker_pids;

ok($edge->reload, 'reload');
ok(kill(0, $old_worker), 'the old worker stays for its players');

# the origin killed: what the players had buffered is read first, so
# only video that comes after the restart counts
sub restart_origin {
    my (@p) = @_;
    $pub->stop;
    $o->kill9;
    for my $c (@p) {
        while (my $m = $c->read_message(timeout => 0.5)) {
            last if $m->{type} eq 'eof';
        }
    }
    $o->start;
    $pub = $t->publish("rtmp://127.0.0.1:$op/live/s1");
    return $t->wait_until(sub { $o->grep_log(qr/publish: name='s1'/) },
                          timeout => 10);
}

sub all_recover {
    my (@p) = @_;
    return scalar grep { wait_video($_, count => 5, timeout => 25) } @p;
}

# the exiting worker alone: it keeps retrying for its players

ok(restart_origin(@old), 'origin restarted');
is(all_recover(@old), 5, 'the exiting worker\'s players get video again');

# players of the new cycle: a new worker owns the stream

my @new = map { $t->rtmp_play($ep, 'live', 's1', wait => 1) } 1 .. 5;
is(scalar(grep { wait_video($_, count => 5, timeout => 10) } @new), 5,
   'five players after the reload get video');

my ($new_worker) = $edge->worker_pids;
isnt($new_worker, $old_worker, 'a new worker');

ok($t->wait_until(sub {
    my @r = stream_status($edge->status($eh, '/cluster'), 's1');
    my ($n) = grep { $_->{worker} == $new_worker } @r;
    my ($x) = grep { $_->{worker} == $old_worker } @r;
    $n && $x && $n->{owner} == $new_worker
        && $n->{origin} eq "127.0.0.1:$op"
        && $x->{origin} eq "worker:$new_worker";
}, timeout => 10), 'the new worker pulls, the old one relays from it');

my ($w) = grep { $_->{pid} == $old_worker }
          @{$edge->status($eh, '/cluster')->{workers}};
ok($w && $w->{exiting}, 'status: the old worker is exiting');

# the origin restarts again: everyone recovers

ok(restart_origin(@old, @new), 'origin restarted again');
is(all_recover(@new), 5, 'the new players get video again');
is(all_recover(@old), 5, 'the old players get video again');

ok(!grep({ $_->eof } @old, @new), 'nobody was disconnected');

$_->close for @old;
ok($t->wait_until(sub { !kill 0, $old_worker }, timeout => 15),
   'the old worker exits once its players left');
ok(all_recover(@new) == 5, 'the new players play on');
$_->close for @new;

$t->check_logs;

done_testing;
