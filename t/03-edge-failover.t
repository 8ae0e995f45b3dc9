#!/usr/bin/perl

# Failover: players attached to an edge keep their connections when the
# origin they pull from is killed, and get sequence headers and video from
# the next origin; the dead origin's circuit opens for every stream and is
# probed again after fail_timeout.

use strict;
use warnings;

use Test::More;
use Time::HiRes qw(time);

use lib 't/lib';
use ClusterTest;
use ClusterConf;

my $t = ClusterTest->new;
$t->skip_unless_module;

my ($o1p, $o2p, $ep, $eh) = map { $t->port } 1 .. 4;

my $o1 = $t->nginx('origin1', origin_conf($o1p), ports => [$o1p], cluster => 0);
my $o2 = $t->nginx('origin2', origin_conf($o2p), ports => [$o2p], cluster => 0);

my $edge = $t->nginx('edge', edge_conf(port => $ep, http => $eh,
    origins => ["127.0.0.1:$o1p fail_timeout=4s", "127.0.0.1:$o2p"],
    app => 'cluster_balance order; cluster_connect_timeout 2s;'),
    ports => [$ep, $eh]);

$t->publish("rtmp://127.0.0.1:$o1p/live/s1");
$t->publish("rtmp://127.0.0.1:$o2p/live/s1");
ok($t->wait_until(sub {
    $o1->grep_log(qr/publish: name='s1'/) && $o2->grep_log(qr/publish: name='s1'/)
}), 's1 published on both origins');

my @p = map { $t->rtmp_play($ep, 'live', 's1', wait => 1) } 1 .. 3;
ok(wait_video($_, count => 10, timeout => 10), "player $_: video")
    for map { $p[$_ - 1] } 1 .. 3;

my ($s) = stream_status($edge->status($eh, '/cluster'), 's1');
is($s->{origin}, "127.0.0.1:$o1p", 'pulling from origin1');

# kill -9 origin1 while the players play

my $killed = time;
$o1->kill9;

# read the players side by side, so each arrival time is its own
my (@gaps, @hdr);
my $deadline = time + slow(10);
while (time < $deadline && grep { !defined } @gaps[0 .. $#p]) {
    for my $i (0 .. $#p) {
        next if defined $gaps[$i];
        my $m = $p[$i]->read_message(timeout => 0.01) or next;
        next unless $m->{type} eq '9';
        $hdr[$i] = 1 if $m->{is_seq_header};
        $gaps[$i] = time - $killed if $hdr[$i] && $m->{keyframe}
                                      && !$m->{is_seq_header};
    }
}

for my $i (0 .. $#p) {
    my $c = $p[$i];
    ok($hdr[$i], "player $i: new video sequence header after the kill");
    ok(defined $gaps[$i], "player $i: a keyframe from origin2");
    ok(wait_video($c, count => 25, timeout => 10), "player $i: video goes on");
    ok(!$c->eof, "player $i: same connection, never closed");
}

my @sorted = sort { $a <=> $b } grep { defined } @gaps;
diag(sprintf "failover gap (kill -9 to first keyframe from the next origin):"
     . " min %.3f s, max %.3f s over %d players",
     $sorted[0] // -1, $sorted[-1] // -1, scalar @sorted);

my $st = $edge->status($eh, '/cluster');
($s) = stream_status($st, 's1');
is($s->{origin}, "127.0.0.1:$o2p", 'status: now pulling from origin2');
is($s->{state}, 'live', 'status: live');
is($s->{failovers}, 1, 'status: one failover');
is($s->{players}, 3, 'status: the three players are still there');

my $os = origin_status($st, "127.0.0.1:$o1p");
is($os->{health}, 'down', 'status: origin1 down');
is($os->{circuit}, 'open', 'status: origin1 circuit open');
cmp_ok($os->{circuit_opens}, '>=', 1, 'status: circuit opened');
ok($edge->grep_log(qr/origin "127\.0\.0\.1:$o1p" failed for pull of "live\/s1"/),
   'log: the failure names the origin and the stream');

# what an attempt of origin1 for a stream leaves in the log (the control
# for s2 below)
sub tried_origin1 { qr/origin "127\.0\.0\.1:$o1p" .*"live\/$_[0]"/ }
ok($edge->grep_log(tried_origin1('s1')), 'log: s1 tried origin1');

# while the circuit is open, a new stream does not try origin1 at all

$t->publish("rtmp://127.0.0.1:$o2p/live/s2");
ok($t->wait_until(sub { $o2->grep_log(qr/publish: name='s2'/) }), 's2 on origin2');
my $q = $t->rtmp_play($ep, 'live', 's2', wait => 1);
ok(wait_video($q, count => 5, timeout => 10), 's2: video from origin2');
is(origin_status($edge->status($eh, '/cluster'), "127.0.0.1:$o1p")->{circuit},
   'open', 'origin1\'s circuit still open');
ok(!$edge->grep_log(tried_origin1('s2')),
   'the open circuit kept s2 away from origin1');
$q->close;

# after fail_timeout origin1 is probed again and closes its circuit

$o1->start;
$t->publish("rtmp://127.0.0.1:$o1p/live/s3");
ok($t->wait_until(sub { $o1->grep_log(qr/publish: name='s3'/) }, timeout => 10),
   's3 on the restarted origin1');
ok($t->wait_until(sub {
    origin_status($edge->status($eh, '/cluster'), "127.0.0.1:$o1p")->{circuit}
        eq 'closed'
}, timeout => 6), sprintf('origin1\'s circuit closes after fail_timeout (%.1f s'
                          . ' after the kill)', time - $killed));
cmp_ok(time - $killed, '>=', 4, 'not before fail_timeout (4 s)');

my $r = $t->rtmp_play($ep, 'live', 's3', wait => 1);
ok(wait_video($r, count => 5, timeout => 10), 's3: video');
($s) = stream_status($edge->status($eh, '/cluster'), 's3');
is($s->{origin}, "127.0.0.1:$o1p", 'origin1 probed again after fail_timeout');
$os = origin_status($edge->status($eh, '/cluster'), "127.0.0.1:$o1p");
is($os->{health}, 'up', 'origin1 healthy again');
is($os->{circuit}, 'closed', 'origin1 circuit closed');
$r->close;

$t->check_logs;

done_testing;
