#!/usr/bin/perl

# The worker that owns a stream killed (kill -9) under 40 players on four
# workers: another worker takes the stream over with one new pull, and
# the players of the other workers get a keyframe again on the same
# connections (the gap is printed).

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

my @p = map { $t->rtmp_play($ep, 'live', 's1', wait => 1) } 1 .. 40;
is(scalar(grep { wait_video($_, count => 5, timeout => 10) } @p), 40,
   '40 players get video');

my @r = records();
my %owners = map { $_->{owner} => 1 } @r;
is(scalar keys %owners, 1, 'status: one owner for the stream');
my ($owner) = keys %owners;
is(plays(), 1, 'the origin saw one play');

# kill -9 the owner

my @alive;
{
    # the owner's own players go with it
    my %conn_worker;
    for my $c (@p) {
        my ($l) = `ss -tnpH state established '( sport = :$ep and dport = :${\ $c->sock->sockport } )'`;
        $conn_worker{$c} = ($l // '') =~ /pid=(\d+)/ ? $1 : 0;
    }
    @alive = grep { $conn_worker{$_} != $owner } @p;
}
cmp_ok(scalar @alive, '<', 40, 'some players were on the owner');

my $killed = time;
kill 'KILL', $owner;

my (%gap, %drained);
my $deadline = time + slow(12);
while (time < $deadline && keys %gap < @alive) {
    for my $c (@alive) {
        next if $gap{$c};
        while (my $m = $c->read_message(timeout => 0.002)) {
            last if $m->{type} eq 'eof';
            $drained{$c} = 1 if $m->{type} eq '9' && $m->{is_seq_header};
            if ($drained{$c} && $m->{type} eq '9' && $m->{keyframe}
                && !$m->{is_seq_header})
            {
                $gap{$c} = time - $killed;
                last;
            }
        }
    }
}
is(scalar keys %gap, scalar @alive,
   'every player of the other workers gets video again');
is(scalar(grep { $_->eof } @alive), 0, 'on the same connections');
my @g = sort { $a <=> $b } values %gap;
diag(sprintf 'owner worker killed: players of the other workers got a'
     . ' keyframe again after %.3f s (min) to %.3f s (max), %d players',
     $g[0] // -1, $g[-1] // -1, scalar @g);

ok($t->wait_until(sub { upstreams() == 1 && plays() == 2 }, timeout => 5),
   'one upstream again, one re-pull');
%owners = map { $_->{owner} => 1 } records();
is(scalar keys %owners, 1, 'one new owner');
isnt((keys %owners)[0], $owner, 'not the dead one');

$_->close for @p;

$t->check_logs(killed => 1);

done_testing;
