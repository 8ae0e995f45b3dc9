#!/usr/bin/perl

# A worker's batched renewals go out at most 4 at a time (per
# application), the next when one is answered, not a tick's batches all
# at once.  One worker holds 1200 leases: 6 batches of 200 a tick.  Redis
# is paused across a tick, so the manager holds every batch it got:
# 4 requests are out (counted by the origin, and as connections to the
# manager's port with ss), not 6.  When Redis comes back the other two
# go out within the tick, and every lease is renewed with its token.

use strict;
use warnings;

use Test::More;
use Time::HiRes qw(time sleep);

use lib 't/lib';
use ClusterTest;
use ClusterConf;
use Redis;

my $t = ClusterTest->new;
$t->skip_unless_module;
$t->skip_unless_redis;

my ($rp, $mh, $op, $oh) = map { $t->port } 1 .. 4;
my $prefix = 'ngx_rtmp_cluster:stream:';
my $half = 600;
my $n = 2 * $half;
my $out = 4;                    # NGX_RTMP_CLUSTER_BATCHES_OUT
my $per_tick = $n / 200;
my $ttl = 9;                    # renewals every 3 s
my $period = $ttl / 3;

my $redis = $t->redis_server($rp);
my $db = Redis->new(port => $rp, timeout => 10);

my $m = $t->nginx('manager', manager_conf(http => $mh, locations => <<"END"),
location /streams/ {
            cluster_stream_manager redis=127.0.0.1:$rp timeout=8s;
        }
END
    ports => [$mh]);

# one worker for all the publishers' connections
(my $conf = cluster_origin_conf(port => $op, http => $oh, workers => 1,
    app => "cluster_manager http://127.0.0.1:$mh/streams/; "
    . "cluster_lease_ttl ${ttl}s; cluster_lookup_timeout 8s;"))
    =~ s/^events \{\}$/events { worker_connections 4096; }/m
    or die 'no events block';
my $o = $t->nginx('origin', $conf, ports => [$op, $oh]);

sub access { split /\n/, ClusterTest::_read_file($m->prefix
                                                 . '/logs/access.log') }
sub batches { scalar grep { m{"PUT /streams/ HTTP/1\.1" 200 } } @_ }
sub keys_on { scalar @{$db->command('KEYS', "${prefix}live/$_[0]*")} }
sub value { $db->command('GET', "${prefix}live/$_[0]") }
sub requests { $o->status($oh, '/cluster')->{manager}{requests} }

# two clients publish at once: the leases come sooner
my ($pa, $sa) = lease_publishers($t, $op, 'a', $half);
my ($pb, $sb) = lease_publishers($t, $op, 'b', $half);

ok($t->wait_until(sub {
        (publishers_status($sa)->{started} // 0)
        + (publishers_status($sb)->{started} // 0) == $n
    }, timeout => 120), "$n publishers started")
    or diag(explain([publishers_status($sa), publishers_status($sb)]));
ok($t->wait_until(sub { keys_on('') == $n }, timeout => 30), "$n leases")
    or diag(keys_on(''));

my @names = map { ("a$_", "b$_") } 0 .. $half - 1;
my %before = map { ($_ => value($_)) } @names;

# a whole tick once all are leased: the worker holds them all in one list
my $b0 = batches(access());
ok($t->wait_until(sub { batches(access()) >= $b0 + 2 * $per_tick },
                  timeout => 4 * $period), 'renewed in batches');

### Redis paused across a tick: the manager holds what it got

# just after a tick: its batches answered, nothing sent for 0.3 s
$b0 = batches(access());
ok($t->wait_until(sub { batches(access()) > $b0 }, timeout => 2 * $period),
   'a tick');
ok(wait_quiet($t, sub { requests() . '/' . batches(access()) }, 0.3,
              timeout => $period), 'its batches answered');

my $r0 = requests();
my $bp = batches(access());
# 4.5 s: longer than an interval, shorter than what is left of any lease
# (9 s less up to one interval), under the manager's and origin's 8 s
my $pause = 4.5;
my ($max, $last, $samples, $asked) = paused_samples($db, $pause, sub {
    return {
        # connections to the manager (curl keeps them alive between
        # requests: as many as were needed at once)
        conns => established_to($mh),
        sent => requests() - $r0,
        answered => batches(access()) - $bp,
    };
});
my ($sent, $conns, $answered) = map { $_ // 0 } $max->{sent},
                                $max->{conns}, $last->{answered};
diag("during the pause ($samples samples): $sent batches sent, "
     . "$conns connections at most, $answered answered");

is($answered, 0, 'none answered during the pause');
cmp_ok($sent, '>=', 2, 'the tick came: batches went out together');
cmp_ok($conns, '>=', 2, 'seen as connections');
cmp_ok($sent, '<=', $out, "at most $out batches sent, not $per_tick");
cmp_ok($conns, '<=', $out, "at most $out connections to the manager");

### then the rest of the tick, and every lease renewed

ok($t->wait_until(sub { batches(access()) >= $bp + $per_tick },
                  timeout => $period), 'the tick\'s other batches follow')
    or diag(batches(access()) - $bp);
diag(sprintf 'the tick\'s %d batches answered %.2f s after the pause began',
     $per_tick, time - $asked);

my $lowest = lowest_pttl($db, 2 * $period,
                          map { "${prefix}live/$_" } @names);
cmp_ok($lowest // -2, '>', 0, "every lease's TTL stayed positive (lowest "
       . ($lowest // 'none') . ' ms)');
is(scalar(grep { (value($_) // '') ne $before{$_} } @names), 0,
   'every token is unchanged');
is(scalar(grep { m{"POST /streams/} } access()), $n,
   'none registered again');
is(scalar(grep { m{"PUT /streams/live/} } access()), 0, 'no single renewal');
is($o->status($oh, '/cluster')->{manager}{renew_failures}, 0,
   'no renewal failed');

my @st = (publishers_status($sa), publishers_status($sb));
is($st[0]{cut} + $st[1]{cut}, 0, 'no publisher cut');

kill 'TERM', $pa, $pb;
waitpid $_, 0 for $pa, $pb;

ok($t->wait_until(sub { keys_on('') == 0 }, timeout => 20),
   'every lease released') or diag(keys_on(''));

$o->stop;
$m->stop;
$redis->stop;

$t->check_logs;

done_testing;
