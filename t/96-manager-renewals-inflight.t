#!/usr/bin/perl

# A worker's renewals go out a few at a time (per application), the next
# when one is answered, not a tick's all at once.  Redis is paused across
# a tick, so the manager holds every request it got; the requests out
# are counted by the origin and as connections to the manager's port
# (ss).  When Redis comes back the rest follow within the tick, and
# every lease is renewed with its token.
#
# Batches: one worker holds 1200 leases, 6 batches of 200 a tick: 4 out
# (NGX_RTMP_CLUSTER_BATCHES_OUT), not 6.
#
# Single renewals, at a manager that refuses batches (405 on its
# location, as from a plain nginx location in front of an older
# manager): one worker holds 600 leases, 3 batches a tick, each sending
# 16 of its leases at a time (NGX_RTMP_CLUSTER_SINGLE_OUT): at most
# 4 x 16 out, not 600.  Then the publishers leave while a tick's
# renewals are held: every lease is released, none registered again.

use strict;
use warnings;

use Test::More;
use Time::HiRes qw(time);

use lib 't/lib';
use ClusterTest;
use ClusterConf;
use Redis;

my $t = ClusterTest->new;
$t->skip_unless_module;
$t->skip_unless_redis;

my ($rp, $mh) = map { $t->port } 1 .. 2;
my $prefix = 'ngx_rtmp_cluster:stream:';
# renewals every 5 s: the pause must begin after one tick and before the
# next, and with a 3 s interval a tick of 600 single renewals under ASan
# plus 1 s of quiet once reached the next tick (make test-asan)
my $ttl = 15;
my $period = $ttl / 3;
# longer than an interval, shorter than what is left of any lease (15 s
# less up to one interval), under the manager's and origin's 8 s
my $pause = 6;

my $redis = $t->redis_server($rp);
my $db = Redis->new(port => $rp, timeout => 10);

# room for every renewal at once: the cap, not the manager, limits them
(my $mconf = manager_conf(http => $mh, locations => <<"END"))
location /streams/ {
            cluster_stream_manager redis=127.0.0.1:$rp timeout=8s;
        }
        location = /old/ { return 405; }
        location /old/ {
            cluster_stream_manager redis=127.0.0.1:$rp timeout=8s;
        }
END
    =~ s/^events \{\}$/events { worker_connections 4096; }/m
    or die 'no events block';
my $m = $t->nginx('manager', $mconf, ports => [$mh]);

# an origin of one worker (for all the publishers' connections) leasing
# at $location
sub origin {
    my ($name, $location) = @_;
    my ($op, $oh) = map { $t->port } 1 .. 2;
    (my $conf = cluster_origin_conf(port => $op, http => $oh, workers => 1,
        app => "cluster_manager http://127.0.0.1:$mh$location; "
        . "cluster_lease_ttl ${ttl}s; cluster_lookup_timeout 8s;"))
        =~ s/^events \{\}$/events { worker_connections 4096; }/m
        or die 'no events block';
    my $o = $t->nginx($name, $conf, ports => [$op, $oh]);
    return ($o, $op, $oh);
}

sub access { split /\n/, ClusterTest::_read_file($m->prefix
                                                 . '/logs/access.log') }
sub count { my $re = shift; scalar grep { /$re/ } access() }
sub keys_on { scalar @{$db->command('KEYS', "${prefix}live/$_[0]*")} }
sub value { $db->command('GET', "${prefix}live/$_[0]") }

# publishers of live/$tag0.. in clients of 600 at most, all started and
# leased; returns (their names, their tokens, the clients)
sub leased {
    my ($op, $n, @tags) = @_;
    my @c = map { [lease_publishers($t, $op, $_, $n)] } @tags;
    my $all = $n * @tags;
    ok($t->wait_until(sub {
            my $s = 0;
            $s += publishers_status($_->[1])->{started} // 0 for @c;
            $s == $all;
        }, timeout => 120), "$all publishers started")
        or diag(explain([map { publishers_status($_->[1]) } @c]));
    ok($t->wait_until(sub { keys_on('') == $all }, timeout => 30),
       "$all leases") or diag(keys_on(''));
    my @names = map { my $i = $_; map { "$_$i" } @tags } 0 .. $n - 1;
    return (\@names, { map { ($_ => value($_)) } @names }, \@c);
}

# Redis paused across a tick: the manager holds what it got.  $answered
# counts the manager's answers of the kind (access log), $tick is a
# tick's of them, $min and $cap bound the requests out at once
sub held_tick {
    my (%o) = @_;
    my $requests = sub { $o{o}->status($o{oh}, '/cluster')
                         ->{manager}{requests} };

    # just after a tick: its requests answered, nothing sent for 1 s (a
    # tick's answers on a loaded machine can be more than 0.3 s apart)
    my $a0 = count($o{answered});
    ok($t->wait_until(sub { count($o{answered}) > $a0 },
                      timeout => 2 * $period), "$o{what}: a tick");
    ok(wait_quiet($t, sub { $requests->() . '/' . count($o{answered}) },
                  1, timeout => 2 * $period), "$o{what}: its answers came");

    my $r0 = $requests->();
    my $ap = count($o{answered});
    my ($max, $last, $samples, $asked) = paused_samples($db, $pause, sub {
        return {
            # connections to the manager (curl keeps them alive between
            # requests: as many as were needed at once)
            conns => established_to($mh),
            sent => $requests->() - $r0,
            answered => count($o{answered}) - $ap,
        };
    });
    my ($sent, $conns, $answered) = map { $_ // 0 } $max->{sent},
                                    $max->{conns}, $last->{answered};
    diag("$o{what}, during the pause ($samples samples): $sent sent, "
         . "$conns connections at most, $answered answered");

    is($answered, 0, "$o{what}: none answered during the pause");
    cmp_ok($sent, '>=', $o{min}, "$o{what}: the tick came, $o{min} out "
           . 'together at least');
    cmp_ok($conns, '>=', $o{min}, "$o{what}: seen as connections");
    cmp_ok($sent, '<=', $o{cap}, "$o{what}: at most $o{cap} sent, "
           . "not $o{all}");
    cmp_ok($conns, '<=', $o{cap},
           "$o{what}: at most $o{cap} connections to the manager");

    # then the rest of the tick, and every lease renewed with its token
    ok($t->wait_until(sub { count($o{answered}) >= $ap + $o{tick} },
                      timeout => $period), "$o{what}: the rest follow")
        or diag(count($o{answered}) - $ap);
    diag(sprintf '%s: the tick\'s %d answered %.2f s after the pause began',
         $o{what}, $o{tick}, time - $asked);

    my $lowest = lowest_pttl($db, 2 * $period,
                             map { "${prefix}live/$_" } @{$o{names}});
    cmp_ok($lowest // -2, '>', 0, "$o{what}: every lease's TTL stayed "
           . 'positive (lowest ' . ($lowest // 'none') . ' ms)');
    is(scalar(grep { (value($_) // '') ne $o{tokens}{$_} } @{$o{names}}),
       0, "$o{what}: every token is unchanged");
    is($o{o}->status($o{oh}, '/cluster')->{manager}{renew_failures}, 0,
       "$o{what}: no renewal failed");

    return $requests;
}

sub stop_clients {
    my ($c) = @_;
    is(scalar(grep { publishers_status($_->[1])->{cut} } @$c), 0,
       'no publisher cut');
    kill 'TERM', map { $_->[0] } @$c;
    waitpid $_->[0], 0 for @$c;
}

### batches: 1200 leases, 6 batches a tick, 4 out

{
    my ($o, $op, $oh) = origin('origin', '/streams/');
    # two clients publish at once: the leases come sooner
    my ($names, $tokens, $c) = leased($op, 600, 'a', 'b');
    my $batches = qr{"PUT /streams/ HTTP/1\.1" 200 };

    # a whole tick once all are leased: the worker holds them in one list
    my $b0 = count($batches);
    ok($t->wait_until(sub { count($batches) >= $b0 + 12 },
                      timeout => 4 * $period), 'renewed in batches');

    held_tick(what => 'batches', o => $o, oh => $oh, answered => $batches,
              tick => 6, min => 2, cap => 4, all => 6, names => $names,
              tokens => $tokens);

    is(count(qr{"POST /streams/}), 1200, 'none registered again');
    is(count(qr{"PUT /streams/live/}), 0, 'no single renewal');

    stop_clients($c);
    ok($t->wait_until(sub { keys_on('') == 0 }, timeout => 20),
       'every lease released') or diag(keys_on(''));
    $o->stop;
}

### single renewals: 600 leases, 3 batches a tick, 16 out each

{
    my ($o, $op, $oh) = origin('origin2', '/old/');
    my ($names, $tokens, $c) = leased($op, 600, 's');
    my $singles = qr{"PUT /old/live/s\d+ HTTP/1\.1" 200 };

    # the batch refused once, then a whole tick of single renewals
    ok($t->wait_until(sub { count($singles) >= 600 },
                      timeout => 4 * $period), 'renewed one lease a request')
        or diag(count($singles));
    # those out when the first was refused, at most
    my $refused = count(qr{"PUT /old/ HTTP/1\.1" 405 });
    cmp_ok($refused, '>=', 1, 'after a batch was refused');
    cmp_ok($refused, '<=', 4, 'only the batches out then');

    my $requests = held_tick(what => 'single renewals', o => $o, oh => $oh,
                             answered => $singles, tick => 600, min => 16,
                             cap => 4 * 16, all => 600, names => $names,
                             tokens => $tokens);

    is(count(qr{"POST /old/}), 600, 'none registered again');
    is(count(qr{"PUT /old/ HTTP}), $refused, 'no batch sent again');

    # the publishers leave while their renewals are held: each lease
    # released, none registered again
    my $r0 = $requests->();
    is($db->command('CLIENT', 'PAUSE', $pause * 1000), 'OK',
       'Redis paused again');
    ok($t->wait_until(sub { $requests->() - $r0 >= 16 },
                      timeout => $pause - 0.5, interval => 0.05),
       'renewals out') or diag($requests->() - $r0);
    stop_clients($c);

    ok($t->wait_until(sub { keys_on('') == 0 }, timeout => 20),
       'every lease released') or diag(keys_on(''));
    is(count(qr{"POST /old/}), 600, 'none registered again after');
    $o->stop;
}

$m->stop;
$redis->stop;

$t->check_logs;

done_testing;
