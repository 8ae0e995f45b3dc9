#!/usr/bin/perl

# Leases while Redis is too slow for the stream manager (DEBUG SLEEP),
# with an origin of two workers: registrations are answered 503 or 504
# and carried out later anyway; the origin repeats them with its own
# token, holds, renews and releases every lease, including those of
# publishers gone before Redis woke up; no token or secret in a log.  A
# second publisher on the same host: t/59; the origin's takeover of its
# own leases after a kill: t/60.

use strict;
use warnings;

use Test::More;
use JSON::PP;
use HTTP::Tiny;
use Time::HiRes qw(time);

use lib 't/lib';
use ClusterTest;
use ClusterConf;
use Redis;

my $t = ClusterTest->new;
$t->skip_unless_module;
$t->skip_unless_redis;

my ($rp, $mh, $op, $oh) = map { $t->port } 1 .. 4;
my $prefix = 'ngx_rtmp_cluster:stream:';
my $secret = 'leases-secret-0123456789abcdef';

my $redis = $t->redis_server($rp, '--enable-debug-command', 'yes');
ok(Redis->ping($rp), 'redis-server up');
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
ok($t->wait_until(sub {
    grep { m{"DELETE /streams/live/u\d HTTP/1\.1" 200 } } split /\n/,
        ClusterTest::_read_file($m->prefix . '/logs/access.log')
}), 'by their releases, repeated until redis answered');
ok(!grep({ /token=/ } split /\n/,
         ClusterTest::_read_file($m->prefix . '/logs/access.log')),
   'no token in the manager\'s access log');

ok(!grep({ index($_, $secret) >= 0 } split /\n/,
         $m->error_log_text . $o->error_log_text
         . ClusterTest::_read_file($m->prefix . '/logs/access.log')),
   'the secret is in no log');

$o->stop;
$m->stop;
$redis->stop;

$t->check_logs;

done_testing;
