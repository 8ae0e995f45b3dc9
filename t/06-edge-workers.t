#!/usr/bin/perl

# worker_processes 2 with cluster_reuseport (a listening socket per
# worker): players landing on either worker get video, the
# status handler answers for all workers from the shared zone, and a
# crashed worker's records are swept.

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
    origins => ["127.0.0.1:$op"], workers => 2, rtmp => 'cluster_reuseport on;',
    app => 'cluster_linger 0;'),
    ports => [$ep, $eh]);

my @w;
ok($t->wait_until(sub { (@w = $edge->worker_pids) == 2 }), 'two workers');
is(scalar(() = `ss -ltnH 'sport = :$ep'`), 2,
   'cluster_reuseport: a listening socket per worker');

$t->publish("rtmp://127.0.0.1:$op/live/s1");
ok($t->wait_until(sub { $o->grep_log(qr/publish: name='s1'/) }), 'published');

my @p = map { $t->rtmp_play($ep, 'live', 's1', wait => 1) } 1 .. 12;

my $ok = 0;
for my $c (@p) {
    $ok++ if wait_video($c, count => 10, timeout => 10);
}
is($ok, 12, 'all 12 players get video');

my %by_worker;
my $players = 0;
for my $i (1 .. 5) {
    my $st = $edge->status($eh, '/cluster');
    %by_worker = map { $_->{worker} => $_ } stream_status($st, 's1');
    $players = 0;
    $players += $_->{players} for values %by_worker;
    last if $players == 12;
}
is($players, 12, 'status: 12 players in all, whichever worker answers');
is(scalar keys %by_worker, 2, 'players landed on both workers');
is_deeply([sort keys %by_worker], [sort @w], 'status names the workers');

# a worker killed: its replacement sweeps the stale records

my ($victim) = sort keys %by_worker;
my $victim_players = $by_worker{$victim}{players};
kill 'KILL', $victim;

ok($t->wait_until(sub {
    my %x = map { $_->{worker} => 1 }
            stream_status($edge->status($eh, '/cluster'), 's1');
    !$x{$victim};
}, timeout => 5), 'status: the dead worker\'s stream is gone');

# drain what the sockets buffered before the kill (a read that finds
# nothing left): the dead worker's players then see their connection
# closed, the others video that came after (fresh)
my (%drained, %fresh);
my $deadline = time + slow(10);
while (time < $deadline) {
    for my $i (0 .. $#p) {
        next if $p[$i]->eof;
        while (1) {
            my $m = $p[$i]->read_message(timeout => 0.001);
            if (!$m) {
                $drained{$i} = 1;
                last;
            }
            last if $m->{type} eq 'eof';
            $fresh{$i} = 1 if $drained{$i} && $m->{type} eq '9';
        }
    }
    last if grep({ $_->eof } @p) + keys %fresh == @p;
}
my $closed = grep { $_->eof } @p;
my $fresh = grep { !$p[$_]->eof && $fresh{$_} } 0 .. $#p;
is($closed, $victim_players, 'the dead worker\'s players were disconnected');
is($fresh, 12 - $victim_players, 'the other worker\'s players play on');

$_->close for @p;

# a killed worker is an alert by nature: check the rest only
$t->check_logs(killed => 1);

done_testing;
