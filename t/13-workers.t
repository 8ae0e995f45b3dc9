#!/usr/bin/perl

# One upstream per stream per host: with four workers and 40 players
# spread over them (cluster_reuseport), the origin sees one play and one
# connection; one worker owns the stream and pulls it, the other workers
# pull from the owner over unix sockets; the status says so, per worker
# and per stream.  The owner killed: t/36; reload: t/37; quit: t/38; a
# stream published on one worker: t/39 (edge), t/40 (origin); every
# worker pulling on its own: t/21.

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

my @p = map { $t->rtmp_play($ep, 'live', 's1', wait => 1) } 1 .. 40;
is(scalar(grep { wait_video($_, count => 5, timeout => 10) } @p), 40,
   '40 players get video');

my @r = records();
my %players = map { $_->{worker} => $_->{players} } @r;
my $sum = 0;
$sum += $_ for values %players;
is($sum, 40, 'status: 40 players');
is(scalar(grep { $_ > 0 } values %players), 4, 'on all four workers');
my %owners = map { $_->{owner} => 1 } @r;
is(scalar keys %owners, 1, 'status: one owner for the stream');
my ($owner) = keys %owners;
my @up = grep { $_->{origin} eq "127.0.0.1:$op" } @r;
is(scalar @up, 1, 'one worker pulls from the origin');
is($up[0]{worker}, $owner, 'the owner');
is(scalar(grep { $_->{origin} eq "worker:$owner" } @r), 3,
   'the three others pull from the owner');
my ($hosted) = grep { $_->{name} eq 's1' }
               @{$edge->status($eh, '/cluster')->{hosted}};
is($hosted->{owner}, $owner, 'status, per stream: the owner');
is($hosted->{players}, 40, 'status, per stream: 40 players');
is(scalar @{$hosted->{workers}}, 4, 'status, per stream: four workers with players');
is(plays(), 1, 'the origin saw one play');
is(upstreams(), 1, 'ss: one connection from the edge to the origin');

$_->close for @p;

$t->check_logs;

done_testing;
