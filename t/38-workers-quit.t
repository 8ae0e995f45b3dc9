#!/usr/bin/perl

# A graceful shutdown (nginx -s quit) of an edge of four workers with
# players and relays live ends within worker_shutdown_timeout.

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

$t->check_logs;

done_testing;
