#!/usr/bin/perl

# The stream manager on Redis Sentinel: a master, a replica and three
# redis-sentinel processes; the manager asks the sentinels for the master.
# Two origins lease 200 streams through it.  The master is killed (-9):
# once the sentinels promote the replica, the manager asks them again and
# answers from the new master; every lease is still there, as it was (no
# stream leased twice, no token changed), renewals carry on, lookups
# answer again, and no publisher was refused or cut.  The time from the
# kill to the first answered lookup is printed.

use strict;
use warnings;

use Test::More;
use JSON::PP;
use HTTP::Tiny;
use Time::HiRes qw(time sleep);

use lib 't/lib';
use ClusterTest;
use ClusterConf;
use RTMP::Client;
use Redis;

my $t = ClusterTest->new;
$t->skip_unless_module;
$t->skip_unless_sentinel;

my ($rp1, $rp2, $s1, $s2, $s3, $mh, $op1, $oh1, $op2, $oh2)
    = map { $t->port } 1 .. 10;
my $prefix = 'ngx_rtmp_cluster:stream:';
my $per_origin = 100;
my $http = HTTP::Tiny->new(timeout => 2);

my $master = $t->redis_server($rp1);
my $replica = $t->redis_server($rp2, '--replicaof', '127.0.0.1', $rp1);
my @sentinels = map { $t->redis_sentinel($_, master => $rp1) } $s1, $s2, $s3;

my $db1 = Redis->new(port => $rp1, timeout => 10);
my $db2 = Redis->new(port => $rp2, timeout => 10);

# the sentinels know each other and the replica before anything is killed
ok($t->wait_until(sub {
        my $r = eval { Redis->new(port => $s1, timeout => 2)
                           ->command('SENTINEL', 'master', 'mymaster') };
        return 0 unless ref $r;
        my %h = @$r;
        return $h{'num-other-sentinels'} == 2 && $h{'num-slaves'} == 1;
    }, timeout => 30), 'the sentinels see each other and the replica');

my $manager_conf = manager_conf(http => $mh, locations =>
    "location /streams/ { cluster_stream_manager sentinel=127.0.0.1:$s1 "
    . "sentinel=127.0.0.1:$s2 sentinel=127.0.0.1:$s3 master=mymaster "
    . "timeout=1s; }");
my $m = $t->nginx('manager', $manager_conf, ports => [$mh]);

my @origins;
for my $o ([$op1, $oh1], [$op2, $oh2]) {
    push @origins, $t->nginx("origin$o->[0]", cluster_origin_conf(
        port => $o->[0], http => $o->[1], workers => 2,
        app => "cluster_manager http://127.0.0.1:$mh/streams/; "
        . 'cluster_lease_ttl 12s; cluster_lookup_timeout 2s;'),
        ports => [@$o]);
}

sub mlog { grep { $_ =~ $_[0] } split /\n/, $m->error_log_text }

ok($t->wait_until(sub { mlog(qr/sentinel \S+ names 127\.0\.0\.1 port $rp1 the master "mymaster"/) }),
   'the manager asked a sentinel for the master');

my @pubs = (lease_publishers($t, $op1, 'a', $per_origin),
            lease_publishers($t, $op2, 'b', $per_origin));
my @status = ($pubs[1], $pubs[3]);

sub keys_on { my $db = shift; scalar @{$db->command('KEYS', "${prefix}live/*")} }

ok($t->wait_until(sub {
        (publishers_status($status[0])->{started} // 0) == $per_origin
            && (publishers_status($status[1])->{started} // 0) == $per_origin
    }, timeout => 60), "every publisher started")
    or diag(explain([publishers_status($status[0]), publishers_status($status[1])]));

ok($t->wait_until(sub { keys_on($db1) == 2 * $per_origin }, timeout => 30),
   '200 leases on the master') or diag(keys_on($db1));
ok($t->wait_until(sub { keys_on($db2) == 2 * $per_origin }, timeout => 30),
   'and replicated');

my %before;
for my $tag ('a', 'b') {
    for my $i (0 .. $per_origin - 1) {
        $before{"$tag$i"} = $db1->command('GET', "${prefix}live/$tag$i");
    }
}

# a lookup through the manager; the positive control first
sub lookup {
    my $res = $http->get("http://127.0.0.1:$mh/streams/live/$_[0]");
    return $res->{status} == 200 ? decode_json($res->{content}) : undef;
}
my $l = lookup('a0');
ok($l && $l->{origin}{port} == $op1, 'a lookup answers before the kill');

# the renewals go on: the batched PUTs answered in the manager's access
# log grow (one a worker holding leases a third of the TTL)
sub puts {
    scalar grep { m{"PUT /streams/ HTTP/1\.1" 200 } }
        split /\n/, ClusterTest::_read_file($m->prefix . '/logs/access.log');
}

### the master killed

kill 'KILL', $master->pid;
my $killed = time;
$master->wait(timeout => 5);

my ($answered, $tries) = (undef, 0);
$t->wait_until(sub {
    $tries++;
    my $r = lookup('b7');
    $answered = time if $r && $r->{origin}{port} == $op2;
    return $answered;
}, timeout => 20, interval => 0.02);

ok($answered, 'lookups answer again after the failover')
    or diag($m->error_log_text);
my $took = $answered ? $answered - $killed : -1;
diag(sprintf 'from kill -9 of the master to the first answered lookup: '
     . '%.2f s (%d lookups tried)', $took, $tries);

# asked again, or told by its +switch-master subscription
ok(mlog(qr/sentinel \S+ names 127\.0\.0\.1 port $rp2 the master "mymaster"/)
   || mlog(qr/sentinel \S+ announces \+switch-master: "mymaster" is now 127\.0\.0\.1 port $rp2,/),
   'the manager follows the sentinels to the promoted replica');
# the sentinels end the promoted replica's clients: a new connection
$db2 = Redis->new(port => $rp2, timeout => 10);
is(eval { $db2->command('ROLE')->[0] } // '', 'master',
   'the replica is the master now');

# renewals through the new master, for longer than a lease lives
my $puts = puts();
ok($t->wait_until(sub { puts() >= $puts + 2 }, timeout => 30),
   'renewals go on through the new master');
sleep 13;   # one full cluster_lease_ttl after the failover: none lapsed

my (@lost, @changed);
for my $k (sort keys %before) {
    my $v = $db2->command('GET', "${prefix}live/$k");
    push @lost, $k unless defined $v;
    push @changed, "$k: $before{$k} -> $v"
        if defined $v && $v ne $before{$k};
}
is(scalar @lost, 0, 'every lease is still there') or diag("@lost");
is(scalar @changed, 0, 'each held by the same origin with the same token')
    or diag(join "\n", @changed[0 .. ($#changed > 9 ? 9 : $#changed)]);
is(keys_on($db2), 2 * $per_origin, 'and no other lease');

$l = lookup('a99');
ok($l && $l->{origin}{port} == $op1, 'a lookup names the right origin');

for my $i (0, 1) {
    my $st = publishers_status($status[$i]);
    is($st->{refused}, 0, "origin $i: no publisher refused");
    is($st->{cut}, 0, "origin $i: no publisher cut");
}

kill 'TERM', $pubs[0], $pubs[2];
waitpid $_, 0 for $pubs[0], $pubs[2];

$_->stop for @origins;
$m->stop;
$_->stop for @sentinels;
$replica->stop;

$t->check_logs;

done_testing;
