#!/usr/bin/perl

# A manager that refuses batches (405 on its location, as from a plain
# nginx location in front of an older manager) is sent single renewals,
# and those are capped as the batches are: each of a worker's batches
# (at most 4 out) sends 16 of its leases at a time, the next when one is
# answered.  One worker holds 600 leases: 3 batches of 200 a tick.  Redis
# is paused across a tick, so the manager holds every renewal it got:
# at most 4 x 16 requests are out (counted by the origin, and as
# connections to the manager's port with ss), not 600.  When Redis comes
# back the rest follow, and every lease is renewed with its token.  Then
# the publishers leave while a tick's renewals are held: every lease is
# released, none registered again.

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
my $n = 600;
my $cap = 4 * 16;               # BATCHES_OUT * SINGLE_OUT
my $ttl = 9;                    # renewals every 3 s
my $period = $ttl / 3;

my $redis = $t->redis_server($rp);
my $db = Redis->new(port => $rp, timeout => 10);

# room for every renewal at once: the count, not the manager, limits them
(my $mconf = manager_conf(http => $mh, locations => <<"END"))
location = /old/ { return 405; }
        location /old/ {
            cluster_stream_manager redis=127.0.0.1:$rp timeout=8s;
        }
END
    =~ s/^events \{\}$/events { worker_connections 4096; }/m
    or die 'no events block';
my $m = $t->nginx('manager', $mconf, ports => [$mh]);

# one worker for all the publishers' connections
(my $conf = cluster_origin_conf(port => $op, http => $oh, workers => 1,
    app => "cluster_manager http://127.0.0.1:$mh/old/; "
    . "cluster_lease_ttl ${ttl}s; cluster_lookup_timeout 8s;"))
    =~ s/^events \{\}$/events { worker_connections 4096; }/m
    or die 'no events block';
my $o = $t->nginx('origin', $conf, ports => [$op, $oh]);

sub access { split /\n/, ClusterTest::_read_file($m->prefix
                                                 . '/logs/access.log') }
sub singles { scalar grep { m{"PUT /old/live/s\d+ HTTP/1\.1" 200 } } @_ }
sub keys_on { scalar @{$db->command('KEYS', "${prefix}live/$_[0]*")} }
sub value { $db->command('GET', "${prefix}live/$_[0]") }
sub requests { $o->status($oh, '/cluster')->{manager}{requests} }

my ($pub, $status) = lease_publishers($t, $op, 's', $n);

ok($t->wait_until(sub { (publishers_status($status)->{started} // 0) == $n },
                  timeout => 120), "$n publishers started")
    or diag(explain(publishers_status($status)));
ok($t->wait_until(sub { keys_on('s') == $n }, timeout => 30), "$n leases")
    or diag(keys_on('s'));

my @names = map { "s$_" } 0 .. $n - 1;
my %before = map { ($_ => value($_)) } @names;

# the batch refused once, then a whole tick of single renewals
ok($t->wait_until(sub { singles(access()) >= $n }, timeout => 4 * $period),
   'renewed one lease a request') or diag(singles(access()));
# those out when the first was refused, at most
my @refused = grep { m{"PUT /old/ HTTP/1\.1" 405 } } access();
cmp_ok(scalar @refused, '>=', 1, 'after a batch was refused');
cmp_ok(scalar @refused, '<=', 4, 'only the batches out then');

### Redis paused across a tick: the manager holds what it got

# just after a tick: its renewals answered, nothing sent for 0.3 s
my $s0 = singles(access());
ok($t->wait_until(sub { singles(access()) > $s0 }, timeout => 2 * $period),
   'a tick');
ok(wait_quiet($t, sub { requests() . '/' . singles(access()) }, 0.3,
              timeout => $period), 'its renewals answered');

my $r0 = requests();
my $bp = singles(access());
# 4.5 s: longer than an interval, shorter than what is left of any lease
# (9 s less up to one interval), under the manager's and origin's 8 s
my $pause = 4.5;
my ($max, $last, $samples, $asked) = paused_samples($db, $pause, sub {
    return {
        # connections to the manager (curl keeps them alive between
        # requests: as many as were needed at once)
        conns => established_to($mh),
        sent => requests() - $r0,
        answered => singles(access()) - $bp,
    };
});
my ($sent, $conns, $answered) = map { $_ // 0 } $max->{sent},
                                $max->{conns}, $last->{answered};
diag("during the pause ($samples samples): $sent renewals sent, "
     . "$conns connections at most, $answered answered");

is($answered, 0, 'none answered during the pause');
cmp_ok($sent, '>=', 16, 'the tick came: renewals went out together');
cmp_ok($conns, '>=', 16, 'seen as connections');
cmp_ok($sent, '<=', $cap, "at most $cap renewals sent, not $n");
cmp_ok($conns, '<=', $cap, "at most $cap connections to the manager");

### then the rest of the tick, and every lease renewed

ok($t->wait_until(sub { singles(access()) >= $bp + $n },
                  timeout => $period), 'the tick\'s other renewals follow')
    or diag(singles(access()) - $bp);
diag(sprintf 'the tick\'s %d renewals answered %.2f s after the pause began',
     $n, time - $asked);

my $lowest = lowest_pttl($db, 2 * $period,
                          map { "${prefix}live/$_" } @names);
cmp_ok($lowest // -2, '>', 0, "every lease's TTL stayed positive (lowest "
       . ($lowest // 'none') . ' ms)');
is(scalar(grep { (value($_) // '') ne $before{$_} } @names), 0,
   'every token is unchanged');
is(scalar(grep { m{"POST /old/} } access()), $n, 'none registered again');
is(scalar(grep { m{"PUT /old/ HTTP} } access()), scalar @refused,
   'no batch sent again');
is($o->status($oh, '/cluster')->{manager}{renew_failures}, 0,
   'no renewal failed');
is(publishers_status($status)->{cut}, 0, 'no publisher cut');

### the publishers leave while their renewals are held: each lease
### released, none registered again

$r0 = requests();
is($db->command('CLIENT', 'PAUSE', $pause * 1000), 'OK', 'Redis paused again');
ok($t->wait_until(sub { requests() - $r0 >= 16 }, timeout => $pause - 0.5,
                  interval => 0.05), 'renewals out') or diag(requests() - $r0);
kill 'TERM', $pub;
waitpid $pub, 0;

ok($t->wait_until(sub { keys_on('s') == 0 }, timeout => 20),
   'every lease released') or diag(keys_on('s'));
is(scalar(grep { m{"POST /old/} } access()), $n, 'none registered again');

$o->stop;
$m->stop;
$redis->stop;

$t->check_logs;

done_testing;
