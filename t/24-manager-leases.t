#!/usr/bin/perl

# Leases when things go wrong, with a real Redis, a stream manager and an
# origin of two workers: Redis too slow for the manager (DEBUG SLEEP), so
# registrations are answered 503 or 504 and carried out later anyway: the
# origin repeats them with its own token, holds, renews and releases every
# lease, including those of publishers gone before Redis woke up.  A
# publisher's worker killed, or the whole origin killed and restarted: the
# publisher comes back at once and the origin takes its own lease over,
# while a second publisher of a live stream on the same host is refused
# before the manager is asked.

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

my ($redis_server) = grep { -x } map { "$_/redis-server" }
                     split /:/, $ENV{PATH} // '/usr/bin';
plan skip_all => 'redis-server is not installed' unless $redis_server;

my ($rp, $mh, $op, $oh) = map { $t->port } 1 .. 4;
my $prefix = 'ngx_rtmp_cluster:stream:';
my $secret = 'leases-secret-0123456789abcdef';

my $redis = $t->spawn([$redis_server, '--port', $rp, '--bind', '127.0.0.1',
                       '--save', '', '--appendonly', 'no',
                       '--enable-debug-command', 'yes', '--dir', $t->tmp],
                      name => 'redis');
ok($t->wait_until(sub { Redis->ping($rp) }, timeout => 10, interval => 0.05),
   'redis-server up');
my $db = Redis->new(port => $rp, timeout => 10);

my $m = $t->nginx('manager', manager_conf(http => $mh, locations =>
    "location /streams/ { cluster_stream_manager redis=127.0.0.1:$rp "
    . "timeout=1s secret=$secret; }"), ports => [$mh]);

my $o = $t->nginx('origin', cluster_origin_conf(port => $op, http => $oh,
    workers => 2, app => "cluster_manager http://127.0.0.1:$mh/streams/; "
    . "cluster_manager_secret $secret; cluster_lease_ttl 12s; "
    . 'cluster_lookup_timeout 3s;'), ports => [$op, $oh]);

sub value { $db->command('GET', "${prefix}live/$_[0]") }
sub leases { scalar @{$db->command('KEYS', "${prefix}live/*")} }
sub ostatus { $o->status($oh, '/cluster') // {} }
sub mlog { grep { $_ =~ $_[0] } split /\n/, $m->error_log_text }

# Redis asleep for $secs seconds, from a child; true once it sleeps
sub redis_sleep {
    my ($secs) = @_;
    my $c = $t->spawn(['redis-cli', '-p', $rp, 'DEBUG', 'SLEEP', $secs],
                      name => 'sleep');
    return ($c, $t->wait_until(sub { !Redis->ping($rp) }, timeout => 3,
                               interval => 0.05));
}

### Redis asleep while 10 streams are registered

my ($sleeper, $asleep) = redis_sleep(5);
ok($asleep, 'redis asleep for 5 s');
my $slept = time;

my @pubs = map { synthetic_publisher($op, "g$_", frames => 1500) } 1 .. 10;

ok($t->wait_until(sub { ostatus()->{manager}{errors} >= 10 }, timeout => 5),
   'the registrations failed at the manager');
my @failed = $o->grep_log(qr/\[error\].* failed \(HTTP 50[34] after/);
ok(@failed >= 10, scalar(@failed) . ' answers 503 or 504 from the manager');

ok($t->wait_until(sub { $sleeper->wait(timeout => 0) }, timeout => 8),
   sprintf('redis awake again (%.1f s)', time - $slept));

ok($t->wait_until(sub { ostatus()->{manager}{leases_held} == 10 },
                  timeout => 10),
   'the origin holds the 10 leases');
is(leases(), 10, '10 keys in redis');
is(scalar(grep { (value("g$_") // '') =~ /^\S+ 127\.0\.0\.1 $op\z/ } 1 .. 10),
   10, 'each names the origin');
my @again = mlog(qr/leased to 127\.0\.0\.1:$op .*\(the same token again\)/);
ok(@again >= 1, scalar(@again) . ' registrations carried out late by redis '
               . 'were repeated with the same token');

# renewed: each key's TTL goes up again (at a third of 12 s), a second
# or more above what would be left without a renewal, with the token it
# holds (a registration anew would bring another)

my $since = time;
my %pttl = map { ($_ => $db->command('PTTL', "${prefix}live/g$_")) } 1 .. 10;
my %held = map { ($_ => value("g$_")) } 1 .. 10;
my %renewed;
ok($t->wait_until(sub {
    my $elapsed = 1000 * (time - $since);
    for (grep { !$renewed{$_} } 1 .. 10) {
        $renewed{$_} = 1 if $db->command('PTTL', "${prefix}live/g$_")
                            > $pttl{$_} - $elapsed + 1000;
    }
    keys %renewed == 10;
}, timeout => 8), 'every lease is renewed by the origin');
is(scalar(grep { (value("g$_") // '') eq $held{$_} } 1 .. 10), 10,
   'with the token it held');
is(ostatus()->{manager}{renew_failures}, 0, 'no renewal failed');

# the publishers leave: every lease released, long before its 12 s TTL

my $stopped = time;
stop_publisher($_) for @pubs;
ok($t->wait_until(sub { leases() == 0 }, timeout => 4),
   sprintf('publishers gone: no lease left after %.1f s', time - $stopped));

### publishers gone while their registration's outcome is unknown

($sleeper, $asleep) = redis_sleep(4);
ok($asleep, 'redis asleep for 4 s');

@pubs = map { synthetic_publisher($op, "u$_", frames => 1500) } 1 .. 3;
ok($t->wait_until(sub {
    scalar(grep { $_->{stream} =~ m{^live/u} } @{ostatus()->{published}})
    == 3 }, timeout => 5), 'three streams published, unregistered');
stop_publisher($_) for @pubs;

ok($t->wait_until(sub { $sleeper->wait(timeout => 0) }, timeout => 8),
   'redis awake again');
my $woke = time;
ok($t->wait_until(sub { leases() == 0 }, timeout => 5),
   sprintf('their late registrations released too, %.1f s after redis woke',
           time - $woke));
ok(grep({ m{"DELETE /streams/live/u\d HTTP/1\.1" 200 } } split /\n/,
         ClusterTest::_read_file($m->prefix . '/logs/access.log')),
   'by their releases, repeated until redis answered');
ok(!grep({ /token=/ } split /\n/,
         ClusterTest::_read_file($m->prefix . '/logs/access.log')),
   'no token in the manager\'s access log');

### a second publisher on the same host: refused before the manager

my $pub = synthetic_publisher($op, 's1', frames => 1500);
ok($t->wait_until(sub { value('s1') }, timeout => 5), 's1 leased');
my $lease = value('s1');

sub posts {
    scalar grep { m{"POST /streams/live/s1 } }
        split /\n/, ClusterTest::_read_file($m->prefix . '/logs/access.log');
}
my $posts = posts();

for my $i (1 .. 4) {
    my $c = $t->rtmp(port => $op, app => 'live');
    $c->create_stream;
    my $st = $c->publish('s1');
    is($st->{code}, 'NetStream.Publish.BadName',
       "a second publisher of s1 on this host is refused ($i)");
    like($st->{info}{description}, qr/already published on 127\.0\.0\.1:$op/,
         "naming this origin ($i)");
    $c->close;
}
is(posts(), $posts, 'the manager was not asked');
is(value('s1'), $lease, 'the lease is unchanged');

### the publisher's worker killed: the lease taken over at once

my ($entry) = grep { $_->{stream} eq 'live/s1' } @{ostatus()->{published}};
my $worker = $entry && $entry->{worker};
ok($worker, "s1 is published by worker $worker");
my @workers = $o->worker_pids;

kill 'KILL', $worker;
waitpid $pub, 0;
ok($t->wait_until(sub {
    my @w = $o->worker_pids;
    @w == @workers && !grep { $_ == $worker } @w;
}, timeout => 5), 'the master started another worker');

my $t0 = time;
my $c = $t->rtmp(port => $op, app => 'live');
$c->create_stream;
my $st = $c->publish('s1', timeout => 5);
is($st->{code}, 'NetStream.Publish.Start',
   sprintf('republished at once after kill -9 of its worker (%.3f s)',
           time - $t0));
my $v = value('s1') // '';
like($v, qr/^\S+ 127\.0\.0\.1 $op\z/, 'the lease names this origin');
isnt((split / /, $v)[0], (split / /, $lease)[0], 'with a new token');
$c->close;
ok($t->wait_until(sub { !value('s1') }, timeout => 3),
   'released when the publisher leaves');

### the whole origin killed and restarted: the lease taken over at once

$pub = synthetic_publisher($op, 's2', frames => 1500);
ok($t->wait_until(sub { value('s2') }, timeout => 5), 's2 leased');
$lease = value('s2');

$o->kill9;
waitpid $pub, 0;
$o->start;

$t0 = time;
$c = $t->rtmp(port => $op, app => 'live');
$c->create_stream;
$st = $c->publish('s2', timeout => 5);
is($st->{code}, 'NetStream.Publish.Start',
   sprintf('republished at once after kill -9 and a restart of the origin '
           . '(%.3f s)', time - $t0));
$v = value('s2') // '';
like($v, qr/^\S+ 127\.0\.0\.1 $op\z/, 'the lease names this origin');
isnt((split / /, $v)[0], (split / /, $lease)[0], 'with a new token');
ok(grep({ /leased to 127\.0\.0\.1:$op .*\(taken over from its earlier token\)/
        } split /\n/, $m->error_log_text), 'the manager logs the takeover');
$c->close;
ok($t->wait_until(sub { !value('s2') }, timeout => 3),
   'released when the publisher leaves');

ok(!grep({ index($_, $secret) >= 0 } split /\n/,
         $m->error_log_text . $o->error_log_text
         . ClusterTest::_read_file($m->prefix . '/logs/access.log')),
   'the secret is in no log');

$o->stop;
$m->stop;
$redis->stop;

# the worker killed on purpose is the only alert
my @bad = grep { !/worker process $worker exited on signal 9/ }
          $o->grep_log(qr/\[(?:alert|crit)\]/);
ok(!@bad, 'origin: no other [alert]/[crit] in error log')
    or diag(join "\n", @bad);
$t->check_logs($m);

done_testing;
