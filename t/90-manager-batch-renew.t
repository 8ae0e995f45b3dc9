#!/usr/bin/perl

# An origin renews its leases in batches: each worker sends all the
# leases it holds in one PUT on the manager's location per interval (a
# third of the TTL), at most 200 a request, not one PUT per stream.  With
# 200 leases on two workers: the renewals are batched, every lease stays
# alive with its token, a lease lost in Redis is registered again with
# the same token, a publisher that leaves has its lease released and not
# registered again.  A manager that refuses the batch (405 on the
# location, as from a plain nginx location in front) is sent single
# renewals by that worker from then on, logged once.  A worker holding
# 250 leases sends two batches a tick.

use strict;
use warnings;

use Test::More;
use Time::HiRes qw(time sleep);
use POSIX qw(ceil);

use lib 't/lib';
use ClusterTest;
use ClusterConf;
use Redis;

my $t = ClusterTest->new;
$t->skip_unless_module;
$t->skip_unless_redis;

my ($rp, $mh, $op, $oh, $op2, $oh2, $op3, $oh3) = map { $t->port } 1 .. 8;
my $prefix = 'ngx_rtmp_cluster:stream:';
my $n = 200;
my $ttl = 6;                    # renewals every 2 s
my $period = $ttl / 3;

my $redis = $t->redis_server($rp);
my $db = Redis->new(port => $rp, timeout => 10);

# /old/ is a manager whose location itself answers 405, as a plain nginx
# location in front of an older manager would
my $m = $t->nginx('manager', manager_conf(http => $mh, locations => <<"END"),
location /streams/ {
            cluster_stream_manager redis=127.0.0.1:$rp timeout=8s;
        }
        location /big/ {
            cluster_stream_manager redis=127.0.0.1:$rp timeout=1s;
        }
        location = /old/ { return 405; }
        location /old/ {
            cluster_stream_manager redis=127.0.0.1:$rp timeout=1s;
        }
END
    ports => [$mh]);

my $o = $t->nginx('origin', cluster_origin_conf(port => $op, http => $oh,
    workers => 2, app => "cluster_manager http://127.0.0.1:$mh/streams/; "
    . "cluster_lease_ttl ${ttl}s; cluster_lookup_timeout 8s;"),
    ports => [$op, $oh]);

sub access { split /\n/, ClusterTest::_read_file($m->prefix
                                                 . '/logs/access.log') }
sub batches { scalar grep { m{"PUT /streams/ HTTP/1\.1" 200 } } @_ }
sub singles { scalar grep { m{"PUT /streams/live/} } @_ }
sub keys_on { scalar @{$db->command('KEYS', "${prefix}live/$_[0]*")} }
sub value { $db->command('GET', "${prefix}live/$_[0]") }

sub lowest { lowest_pttl($db, shift, map { "${prefix}live/$_" } @_) }

my ($pub, $status) = lease_publishers($t, $op, 's', $n);

ok($t->wait_until(sub {
        (publishers_status($status)->{started} // 0) == $n
    }, timeout => 90), "$n publishers started")
    or diag(explain(publishers_status($status)));
ok($t->wait_until(sub { keys_on('s') == $n }, timeout => 30),
   "$n leases") or diag(keys_on('s'));

my @names = map { "s$_" } 0 .. $n - 1;
my %before = map { ($_ => value($_)) } @names;

### renewals: batched, counted over several intervals

# from the first batch on: the registrations are over
ok($t->wait_until(sub { batches(access()) >= 1 }, timeout => 10),
   'a batched renewal reached the manager');

my @log0 = access();
my $t0 = time;
my $lowest = lowest(5 * $period, @names);
my @log1 = access();
my $elapsed = time - $t0;

my $b = batches(@log1) - batches(@log0);
my $s = singles(@log1) - singles(@log0);
my $intervals = $elapsed / $period;
# each worker holds at most $n leases: one batch of 200 a tick at most
my $max = 2 * ceil($n / 200) * (ceil($intervals) + 1);
diag(sprintf 'over %.1f s (%.1f intervals of %d s): %d batched PUTs, '
     . '%d single PUTs for %d leases', $elapsed, $intervals, $period, $b, $s,
     $n);

cmp_ok($b, '>=', int($intervals) - 1, 'the leases are renewed in batches');
cmp_ok($b, '<=', $max, "at most one batch per worker per interval ($max)");
is($s, 0, 'no single renewal');
cmp_ok($lowest // -2, '>', 0, "every lease's TTL stayed positive (lowest "
       . ($lowest // 'none') . ' ms)');
cmp_ok($lowest // 0, '>', 1000 * ($ttl - 2 * $period),
       'none waited much longer than an interval');

my @changed = grep { (value($_) // '') ne $before{$_} } @names;
is(scalar @changed, 0, 'every token is unchanged') or diag("@changed");

is($o->status($oh, '/cluster')->{manager}{renew_failures}, 0,
   'no renewal failed');

### a lease lost in Redis: registered again at the next tick, same token

is($db->command('DEL', "${prefix}live/s7"), 1, 'live/s7 deleted in Redis');
my $deleted = time;
ok($t->wait_until(sub { defined value('s7') }, timeout => 3 * $period),
   'registered again');
diag(sprintf 'live/s7 back %.2f s after its deletion', time - $deleted);
is(value('s7'), $before{s7}, 'with the same token, by the same origin');
ok($o->grep_log(qr/refused to renew the lease of "live\/s7" \(HTTP 404\), (?x)
                  registering\ again/), 'the origin says why');
is(scalar(grep { m{"POST /streams/live/s7 } } access()), 2,
   'one registration more for it');

### a publisher that leaves while its batch is out: released, and not
### registered again by the batch's answer

my $solo = synthetic_publisher($op, 'solo', frames => 2000);
ok($t->wait_until(sub { defined value('solo') }, timeout => 10),
   'live/solo leased');
# renewed in a batch once at least: it is a batch's lease when it goes
my $bs = batches(access());
ok($t->wait_until(sub { batches(access()) >= $bs + 2 },
                  timeout => 4 * $period), 'renewed with the others');
# Redis holds every command for 3 s (the manager and the origin wait up
# to 8; every lease has 4 s left at least): the next tick's batches,
# solo's among them, wait there
my $requests = $o->status($oh, '/cluster')->{manager}{requests};
is($db->command('CLIENT', 'PAUSE', 3000), 'OK', 'Redis paused');
my $paused = time;
ok($t->_wait_until(sub {
        $o->status($oh, '/cluster')->{manager}{requests} >= $requests + 2
    }, timeout => 2.7), 'both workers\' batches are out')
    or diag($o->status($oh, '/cluster')->{manager}{requests} - $requests);
stop_publisher($solo);
cmp_ok(time - $paused, '<', 3, 'solo left with its batch out');
ok($t->wait_until(sub { !defined value('solo') }, timeout => 5),
   'its lease is released');
ok($t->wait_until(sub {
        grep { m{"DELETE /streams/live/solo HTTP/1\.1" 200 } } access()
    }, timeout => 5), 'by a DELETE');
$bs = batches(access());
ok($t->wait_until(sub { batches(access()) >= $bs + 3 },
                  timeout => 6 * $period), 'renewals go on');
ok(!defined value('solo'), 'and it was not registered again');
is(scalar(grep { m{"POST /streams/live/solo } } access()), 1,
   'registered only when it was published');

is(scalar(grep { (value($_) // '') ne $before{$_} } @names), 0,
   'the other leases are untouched');

my $st = publishers_status($status);
is($st->{refused}, 0, 'no publisher refused');
is($st->{cut}, 0, 'no publisher cut');

### a manager that refuses the batch: single renewals there

my $o2 = $t->nginx('origin2', cluster_origin_conf(port => $op2, http => $oh2,
    workers => 2, app => "cluster_manager http://127.0.0.1:$mh/old/; "
    . "cluster_lease_ttl ${ttl}s; cluster_lookup_timeout 1s;"),
    ports => [$op2, $oh2]);

# and one worker with 250 leases, at the same time
my $o3 = $t->nginx('origin3', cluster_origin_conf(port => $op3, http => $oh3,
    workers => 1, app => "cluster_manager http://127.0.0.1:$mh/big/; "
    . "cluster_lease_ttl ${ttl}s; cluster_lookup_timeout 1s;"),
    ports => [$op3, $oh3]);

my $k = 10;
my $big = 250;
my ($pub2, $status2) = lease_publishers($t, $op2, 'old', $k);
my ($pub3, $status3) = lease_publishers($t, $op3, 'big', $big);
ok($t->wait_until(sub { keys_on('old') == $k }, timeout => 30),
   "$k leases through /old/");
my @old = map { "old$_" } 0 .. $k - 1;
my %old_before = map { ($_ => value($_)) } @old;

sub old_singles { scalar grep { m{"PUT /old/live/old\d+ HTTP/1\.1" 200 } }
                  access() }
ok($t->wait_until(sub { old_singles() >= 2 * $k }, timeout => 6 * $period),
   'single renewals there');
my @refused = grep { m{"PUT /old/ HTTP/1\.1" 405 } } access();
cmp_ok(scalar @refused, '>=', 1, 'after a batch was refused');
cmp_ok(scalar @refused, '<=', 2, 'once per worker');

my @notice = $o2->grep_log(qr/\[notice\].*stream\ manager\ "127\.0\.0\.1:$mh"
    \ refused\ a\ batched\ renewal\ \(HTTP\ 405\),\ renewing\ each\ lease
    \ with\ a\ request\ of\ its\ own\ there/x);
cmp_ok(scalar @notice, '>=', 1, 'the origin says so at notice');
cmp_ok(scalar @notice, '<=', 2, 'once per worker');

# a full TTL and more of single renewals: no lease lapses
$lowest = lowest(1.5 * $ttl, @old);
cmp_ok($lowest // -2, '>', 0, 'their TTL stayed positive');
is(scalar(grep { (value($_) // '') ne $old_before{$_} } @old), 0,
   'with their tokens');
is(scalar(grep { m{"PUT /old/ HTTP/1\.1" } } access()), scalar @refused,
   'no batch sent there again');
is($o2->status($oh2, '/cluster')->{manager}{renew_failures}, 0,
   'no renewal failed');

### 250 leases on one worker: two batches a tick

ok($t->wait_until(sub { keys_on('big') == $big }, timeout => 60),
   "$big leases on one worker") or diag(keys_on('big'));
sub big { scalar grep { m{"PUT /big/ HTTP/1\.1" 200 } } access() }
ok($t->wait_until(sub { big() >= 1 }, timeout => 10), 'renewed in batches');
my $big0 = big();
$t0 = time;
$lowest = lowest(7 * $period, map { "big$_" } 0 .. $big - 1);
$b = big() - $big0;
$intervals = (time - $t0) / $period;
diag(sprintf 'one worker, %d leases: %d batched PUTs in %.1f intervals',
     $big, $b, $intervals);
# one batch a tick would make ceil($intervals) + 1 at most
cmp_ok($b, '>', ceil($intervals) + 1, 'two batches a tick');
cmp_ok($b, '<=', 2 * (ceil($intervals) + 1), 'not more');
is(scalar(grep { m{"PUT /big/live/} } access()), 0, 'no single renewal');
cmp_ok($lowest // -2, '>', 0, 'every TTL stayed positive');

kill 'TERM', $pub, $pub2, $pub3;
waitpid $_, 0 for $pub, $pub2, $pub3;

# the leases go with their publishers
ok($t->wait_until(sub { keys_on('') == 0 }, timeout => 10),
   'every lease released') or diag(keys_on(''));

$o->stop;
$o2->stop;
$o3->stop;
$m->stop;
$redis->stop;

$t->check_logs;

done_testing;
