#!/usr/bin/perl

# One upstream per stream per host: with four workers and 40 players
# spread over them, the origin sees one connection; the other workers pull
# from the owner over unix sockets.  The owner killed: another takes over,
# players stay.  Reload and quit under load.  A stream published on one
# worker is played from the others.

use strict;
use warnings;

use Test::More;
use Time::HiRes qw(time sleep);

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

sub upstreams {
    my %w = map { $_ => 1 } $edge->all_child_pids;
    my @l = grep { /pid=(\d+)/ && $w{$1} }
            `ss -tnpH state established '( dport = :$op )'`;
    return scalar @l;
}

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
my $deadline = time + 12;
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

# reload with players on: a worker of the new cycle takes the stream
# over (one pull), the old workers' players are relayed from it

ok($edge->reload, 'reload');
ok(wait_video($alive[0], count => 10, timeout => 5), 'old players play on');
my $new = $t->rtmp_play($ep, 'live', 's1', wait => 1);
ok(wait_video($new, count => 10, timeout => 10), 'a new player gets video');
is(plays(), 3, 'the new cycle pulls once');
my %new_workers = map { $_ => 1 } $edge->worker_pids;
ok($t->wait_until(sub {
    my @r = records();
    my ($up) = grep { $_->{origin} eq "127.0.0.1:$op" } @r;
    $up && $new_workers{$up->{worker}}
        && !grep { !$new_workers{$_->{worker}}
                   && $_->{origin} ne "worker:$up->{worker}" } @r;
}, timeout => 10), 'the old workers relay from the new owner');
ok($t->wait_until(sub { upstreams() == 1 }, timeout => 5),
   'one upstream again');
ok(wait_video($alive[0], count => 10, timeout => 5),
   'old players play on, relayed');

$_->close for @p;
ok($t->wait_until(sub { $edge->all_child_pids == 4 }, timeout => 15),
   'the old workers exit once their players left');
ok(wait_video($new, count => 10, timeout => 10), 'the new player plays on');
ok($t->wait_until(sub { upstreams() == 1 }, timeout => 5), 'one upstream');
is(plays(), 3, 'no re-pull when the old workers end');

# quit with players and relays live: within worker_shutdown_timeout

my @q = map { $t->rtmp_play($ep, 'live', 's1', wait => 1) } 1 .. 8;
wait_video($_, count => 2, timeout => 5) for @q;
my $qs = time;
$edge->quit;
my $took = time - $qs;
ok(!$edge->running, 'quit completed');
cmp_ok($took, '<', 6, sprintf('within worker_shutdown_timeout 2s (%.1fs)', $took));
$_->close for @q, $new;

# published on one worker, played from the others

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

# an origin: published on one worker, played from the others

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

my @bad = grep { !/exited on signal 9/ } $edge->grep_log(qr/\[(?:alert|crit)\]/);
is(scalar @bad, 0, 'edge: no [alert]/[crit] but the killed worker') or diag(@bad);
$t->check_logs($o, $pe, $go);

done_testing;
