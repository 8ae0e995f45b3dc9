#!/usr/bin/perl

# An origin takes its own leases over: a publisher whose worker was
# killed (kill -9), or whose whole origin was killed and restarted,
# publishes again at once, the lease taken over with a new token (the
# manager logs the takeover) and released when the publisher leaves.

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

my $redis = $t->redis_server($rp);
my $db = Redis->new(port => $rp, timeout => 10);

my $m = $t->nginx('manager', manager_conf(http => $mh, locations =>
    "location /streams/ { cluster_stream_manager redis=127.0.0.1:$rp timeout=1s "
    . "secret=$secret; }"), ports => [$mh]);

my $o = $t->nginx('origin', cluster_origin_conf(port => $op, http => $oh,
    workers => 2, app => "cluster_manager http://127.0.0.1:$mh/streams/; "
    . "cluster_manager_secret $secret; cluster_lease_ttl 12s; "
    . 'cluster_lookup_timeout 3s;'), ports => [$op, $oh]);

sub value { $db->command('GET', "${prefix}live/$_[0]") }
sub leases { scalar @{$db->command('KEYS', "${prefix}live/*")} }
sub ostatus { $o->status($oh, '/cluster') // {} }
sub mlog { grep { $_ =~ $_[0] } split /\n/, $m->error_log_text }

my $pub = synthetic_publisher($op, 's1', frames => 1500);
ok($t->wait_until(sub { value('s1') }, timeout => 5), 's1 leased');
my $lease = value('s1');

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
