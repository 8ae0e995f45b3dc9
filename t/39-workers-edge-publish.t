#!/usr/bin/perl

# A stream published through an edge of four workers (cluster_reuseport)
# lands on one worker, which forwards it to the origin; the players of
# the other workers pull it from that worker, not from the origin.

use strict;
use warnings;

use Test::More;

use lib 't/lib';
use ClusterTest;
use ClusterConf;

my $t = ClusterTest->new;
$t->skip_unless_module;

my $op = $t->port;
my $o = $t->nginx('origin', origin_conf($op), ports => [$op], cluster => 0);

my ($fp, $fh) = map { $t->port } 1 .. 2;
my $pe = $t->nginx('edge-pub', edge_conf(port => $fp, http => $fh,
    origins => ["127.0.0.1:$op"], workers => 4,
    rtmp => 'cluster_reuseport on;'), ports => [$fp, $fh]);
ok($t->wait_until(sub { $pe->worker_pids == 4 }), 'four workers');
$t->publish("rtmp://127.0.0.1:$fp/live/p1");
ok($t->wait_until(sub {
    my ($x) = grep { $_->{kind} eq 'publish' }
              stream_status($pe->status($fh, '/cluster'), 'p1');
    $x && $x->{state} eq 'live';
}, timeout => 10), 'published on one worker, forwarded');
my @pp = map { $t->rtmp_play($fp, 'live', 'p1', wait => 1) } 1 .. 16;
is(scalar(grep { wait_video($_, count => 5, timeout => 10) } @pp), 16,
   '16 players on all workers get video');
my @pr = stream_status($pe->status($fh, '/cluster'), 'p1');
my ($pub) = grep { $_->{kind} eq 'publish' } @pr;
is(scalar(grep { $_->{kind} eq 'pull' && $_->{origin} eq "worker:$pub->{worker}" } @pr),
   scalar(@pr) - 1, 'the other workers pull from the publisher\'s');
cmp_ok(scalar(@pr), '>=', 3, 'players landed on several workers');
$_->close for @pp;

$t->check_logs;

done_testing;
