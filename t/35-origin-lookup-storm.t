#!/usr/bin/perl

# A storm of plays: 100 plays of one missing stream over two workers make
# one query per coworker (the others join the flight or hit the cache),
# all 100 players redirected; once the cached answer expired
# (cluster_lookup_cache), the coworkers are asked again.

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
my $target = $t->port;        # the origin the coworkers name; not dialed
my $refused = $t->port;

my $ncw = 0;

sub cw {
    my ($mode, %o) = @_;
    return FakeCoworker->start(mode => $mode, log => "$tmp/cw-$mode-"
                               . ++$ncw . '.log',
                               origin_ip => '127.0.0.1',
                               origin_port => $target, %o);
}

sub origin {
    my ($name, $coworkers, %o) = @_;
    my ($p, $h) = map { $t->port } 1 .. 2;
    my $n = $t->nginx($name, cluster_origin_conf(port => $p, http => $h,
        coworkers => $coworkers, %o), ports => [$p, $h]);
    return ($n, $p, $h);
}

sub time_play {
    my ($port, $name, $re) = @_;
    my $c = $t->rtmp(port => $port, app => 'live');
    $c->create_stream;
    my $start = time;
    $c->play($name);
    my $m = $c->wait_status($re, timeout => 5);
    return ($m, time - $start, $c);
}

# a storm: 100 plays of one missing stream over two workers

my $storm_found = cw('slow', delay => 0.3);
my $storm_nf = cw('notfound');
my ($o5, $o5p, $o5h) = origin('o5', ['127.0.0.1:' . $storm_found->port,
                                     '127.0.0.1:' . $storm_nf->port],
                              workers => 2,
                              rtmp => 'cluster_reuseport on;',
                              app => 'cluster_lookup_cache 2s 1s;');
ok($t->wait_until(sub { $o5->worker_pids == 2 }), 'two workers');

# connected first, so the 100 plays leave together
my @players;
for (1 .. 100) {
    my $c = $t->rtmp(port => $o5p, app => 'live');
    $c->create_stream;
    push @players, $c;
}
my $storm_start = time;
$_->play('storm') for @players;
my $storm_took = time - $storm_start;
my $redirected = grep {
    $_->wait_status(qr/^NetConnection\.Connect\.Rejected$/, timeout => 5)
} @players;
is($redirected, 100, 'all 100 players redirected');
is($storm_found->requests, 1, 'one query to the coworker that has it');
is($storm_nf->requests, 1, 'one query to the other');
my $st = $o5->status($o5h, '/cluster')->{lookups};
is($st->{queries}, 2, 'status: 2 queries for 100 plays');
is($st->{total}, 100, 'status: 100 lookups');
is($st->{cache_hits} + $st->{joined}, 99, 'status: 99 served by the flight or the cache');
diag("coworker queries for 100 simultaneous plays over 2 workers: "
     . ($storm_found->requests + $storm_nf->requests)
     . " ($st->{joined} joined the flight, $st->{cache_hits} from the cache;"
     . sprintf(" plays sent in %.2fs)", $storm_took));
$_->close for @players;

# time passes on purpose: the cached answer (2 s) expires
$t->wait_until(sub { time - $storm_start >= 2.5 }, timeout => 3);
my ($m) = time_play($o5p, 'storm', qr/^NetConnection\.Connect\.Rejected$/);
ok($m, 'after the cache time: redirected again');
is($storm_found->requests, 2, 'after the cache time: asked again');

$_->stop for $storm_found, $storm_nf;

$t->check_logs;

done_testing;
