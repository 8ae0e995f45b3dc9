#!/usr/bin/perl

# A stream published on one worker of an origin of four workers
# (cluster_reuseport) is played by players of every worker.

use strict;
use warnings;

use Test::More;

use lib 't/lib';
use ClusterTest;
use ClusterConf;

my $t = ClusterTest->new;
$t->skip_unless_module;

my ($gp, $gh) = map { $t->port } 1 .. 2;
my $go = $t->nginx('origin-4', cluster_origin_conf(port => $gp, http => $gh,
    workers => 4, rtmp => 'cluster_reuseport on;'), ports => [$gp, $gh]);
ok($t->wait_until(sub { $go->worker_pids == 4 }), 'origin: four workers');
$t->publish("rtmp://127.0.0.1:$gp/live/g1");
ok($t->wait_until(sub { $go->grep_log(qr/"live\/g1" registered/) }),
   'origin: published');
my @gg = map { $t->rtmp_play($gp, 'live', 'g1', wait => 1) } 1 .. 16;
is(scalar(grep { wait_video($_, count => 5, timeout => 10) } @gg), 16,
   'origin: 16 players on all workers get video');
my ($gs) = grep { $_->{name} eq 'g1' } @{$go->status($gh, '/cluster')->{hosted}};
cmp_ok(scalar @{$gs->{workers} // []}, '>=', 2,
       'origin: players on several workers');
$_->close for @gg;

$t->check_logs;

done_testing;
