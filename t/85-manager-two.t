#!/usr/bin/perl

# Two stream managers in front of the same Redis, listed by both origins:
# one manager is killed (-9) while the origins hold 100 leases; the
# origins carry on through the other: renewals go there, no lease is lost
# or changes hands, a new publish is leased through it, lookups answer.

use strict;
use warnings;

use Test::More;
use JSON::PP;
use HTTP::Tiny;
use Time::HiRes qw(time sleep);

use lib 't/lib';
use ClusterTest;
use ClusterConf;
use Redis;

my $t = ClusterTest->new;
$t->skip_unless_module;
$t->skip_unless_redis;

my ($rp, $mh1, $mh2, $op1, $oh1, $op2, $oh2) = map { $t->port } 1 .. 7;
my $prefix = 'ngx_rtmp_cluster:stream:';
my $per_origin = 50;
my $ttl = 6;
my $http = HTTP::Tiny->new(timeout => 2);

my $redis = $t->redis_server($rp);
my $db = Redis->new(port => $rp, timeout => 10);

my @managers = map {
    $t->nginx("manager$_->[0]", manager_conf(http => $_->[1], locations =>
        "location /streams/ { cluster_stream_manager redis=127.0.0.1:$rp "
        . 'timeout=1s; }'), ports => [$_->[1]])
} [1, $mh1], [2, $mh2];

my @origins;
for my $o ([$op1, $oh1], [$op2, $oh2]) {
    push @origins, $t->nginx("origin$o->[0]", cluster_origin_conf(
        port => $o->[0], http => $o->[1], workers => 2,
        app => "cluster_manager http://127.0.0.1:$mh1/streams/ "
        . "http://127.0.0.1:$mh2/streams/; "
        . "cluster_lease_ttl ${ttl}s; cluster_lookup_timeout 1s;"),
        ports => [@$o]);
}

sub keys_on { scalar @{$db->command('KEYS', "${prefix}live/*")} }
# the batched renewals answered (one a worker holding leases a third of
# the TTL)
sub puts {
    my ($m) = @_;
    scalar grep { m{"PUT /streams/ HTTP/1\.1" 200 } }
        split /\n/, ClusterTest::_read_file($m->prefix . '/logs/access.log');
}

my @pubs = (lease_publishers($t, $op1, 'a', $per_origin),
            lease_publishers($t, $op2, 'b', $per_origin));
my @status = ($pubs[1], $pubs[3]);

ok($t->wait_until(sub {
        (publishers_status($status[0])->{started} // 0) == $per_origin
            && (publishers_status($status[1])->{started} // 0) == $per_origin
    }, timeout => 60), 'every publisher started');
ok($t->wait_until(sub { keys_on() == 2 * $per_origin }, timeout => 30),
   '100 leases') or diag(keys_on());

my %before = map {
    my $k = $_;
    ($k => $db->command('GET', "${prefix}live/$k"))
} map { my $tag = $_; map { "$tag$_" } 0 .. $per_origin - 1 } 'a', 'b';

# positive control: the first manager renews, the second is not asked
ok($t->wait_until(sub { puts($managers[0]) >= 4 },
                  timeout => 30), 'renewals go to the first manager');
is(puts($managers[1]), 0, 'the second is not asked while the first answers');

### the first manager killed

$managers[0]->kill9;
my $killed = time;

ok($t->wait_until(sub { puts($managers[1]) >= 2 },
                  timeout => 30), 'renewals go to the second manager');
diag(sprintf 'every lease renewed through the second manager %.2f s after '
     . 'the kill', time - $killed);

# two full TTLs after the kill: a lease not renewed would have lapsed
my $puts = puts($managers[1]);
ok($t->wait_until(sub {
        time - $killed >= 2 * $ttl && puts($managers[1]) >= $puts + 4
    }, timeout => 30), 'renewals go on');

my (@lost, @changed);
for my $k (sort keys %before) {
    my $v = $db->command('GET', "${prefix}live/$k");
    push @lost, $k unless defined $v;
    push @changed, $k if defined $v && $v ne $before{$k};
}
is(scalar @lost, 0, 'no lease lost') or diag("@lost");
is(scalar @changed, 0, 'none changed hands or token') or diag("@changed");

# a new publish is leased through the second manager
my $pub = synthetic_publisher($op2, 'new1', frames => 1500);
ok($t->wait_until(sub { $db->command('GET', "${prefix}live/new1") },
                  timeout => 10), 'a new publish is leased');
my $res = $http->get("http://127.0.0.1:$mh2/streams/live/new1");
is($res->{status}, 200, 'and looked up at the second manager');
is(eval { decode_json($res->{content})->{origin}{port} } // 0, $op2,
   'naming its origin');
stop_publisher($pub);

for my $i (0, 1) {
    my $st = publishers_status($status[$i]);
    is($st->{refused}, 0, "origin $i: no publisher refused");
    is($st->{cut}, 0, "origin $i: no publisher cut");
}

kill 'TERM', $pubs[0], $pubs[2];
waitpid $_, 0 for $pubs[0], $pubs[2];

$_->stop for @origins;
$managers[1]->stop;
$redis->stop;

$t->check_logs(@origins, $managers[1]);
$t->check_logs($managers[0], killed => 1);

done_testing;
