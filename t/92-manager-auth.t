#!/usr/bin/perl

# The stream manager on a Redis with a password (requirepass) and on
# sentinels with one: password= is sent with AUTH on every connection to
# the master (redis= or the master the sentinels name), sentinel_password=
# on every connection to a sentinel (the question and the +switch-master
# subscription), before anything else.  The right passwords work; a wrong
# one is a logged error and a clean 503 to the caller, and no log line
# carries a password.  Empty, too long or misplaced values are
# configuration errors.

use strict;
use warnings;

use Test::More;
use JSON::PP;

use lib 't/lib';
use ClusterTest;
use ClusterConf;
use Redis;

my $t = ClusterTest->new;
$t->skip_unless_module;
$t->skip_unless_sentinel;

my ($rp, $sp, $m1, $m2, $m3, $m4, $m5) = map { $t->port } 1 .. 7;
my $prefix = 'ngx_rtmp_cluster:stream:';
my $pw = 'redis-Pw-7f3a9c';
my $spw = 'sentinel-Pw-c41e08';
my $wrong = 'wrong-Pw-55d2b1';

my $redis = $t->redis_server($rp, '--requirepass', $pw);
my $db = Redis->new(port => $rp, timeout => 10, password => $pw);
my $sentinel = $t->redis_sentinel($sp, master => $rp, quorum => 1,
                                  requirepass => $spw, auth_pass => $pw);

ok($t->wait_until(sub {
        my $r = eval { Redis->new(port => $sp, timeout => 2, password => $spw)
                           ->command('SENTINEL', 'master', 'mymaster') };
        return 0 unless ref $r;
        my %h = @$r;
        return ($h{flags} // '') eq 'master';
    }, timeout => 30), 'the sentinel monitors the master with its password');

sub manager {
    my ($name, $port, $args) = @_;
    return $t->nginx($name, manager_conf(http => $port, locations =>
        "location /streams/ { cluster_stream_manager $args timeout=1s; }"),
        ports => [$port]);
}

sub register {
    my ($port, $name) = @_;
    return manager_req($port, 'POST', "/streams/live/$name", encode_json(
        { host => '127.0.0.1', port => 1935, ttl => 30, token => "t-$name" }));
}

my %m;
$m{redis_ok} = manager('redis-ok', $m1, "redis=127.0.0.1:$rp password=$pw");
$m{redis_bad} = manager('redis-bad', $m2,
                        "redis=127.0.0.1:$rp password=$wrong");
$m{sentinel_ok} = manager('sentinel-ok', $m3,
    "sentinel=127.0.0.1:$sp master=mymaster password=$pw "
    . "sentinel_password=$spw");
$m{sentinel_bad} = manager('sentinel-bad', $m4,
    "sentinel=127.0.0.1:$sp master=mymaster password=$pw "
    . "sentinel_password=$wrong");
$m{master_bad} = manager('master-bad', $m5,
    "sentinel=127.0.0.1:$sp master=mymaster password=$wrong "
    . "sentinel_password=$spw");

### the right passwords: the positive controls

my $r = register($m1, 'a');
is($r->{status}, 201, 'redis= with password=: a lease registered')
    or diag($r->{content});
like($db->command('GET', "${prefix}live/a") // '', qr/^t-a /,
     'it is in Redis');
$r = manager_req($m1, 'GET', '/streams/live/a');
is($r->{status}, 200, 'and looked up');

ok($t->wait_until(sub {
        $t->grep_log($m{sentinel_ok}, qr/listening to \+switch-master at sentinel 127\.0\.0\.1:$sp/)
    }), 'sentinel_password=: subscribed to +switch-master');
my $ok;
$t->wait_until(sub {
    $r = register($m3, 'b');
    return $ok = $r->{status} == 201;
}, timeout => 10, interval => 0.1);
ok($ok, 'sentinel= with both passwords: a lease registered')
    or diag($r->{content}, $m{sentinel_ok}->error_log_text);
like($db->command('GET', "${prefix}live/b") // '', qr/^t-b /,
     'it is in Redis');

### wrong passwords: a logged error, 503, no crash

ok($t->wait_until(sub {
        $t->grep_log($m{redis_bad}, qr/\[error\].*redis 127\.0\.0\.1:$rp is down: AUTH refused: WRONGPASS/)
    }), 'a wrong password= is logged');
$r = register($m2, 'c');
is($r->{status}, 503, 'and answered 503');
is($r->{json}{error}, 'redis is unavailable', 'with a JSON error')
    or diag($r->{content});
is($db->command('GET', "${prefix}live/c"), undef, 'nothing written');

ok($t->wait_until(sub {
        $t->grep_log($m{sentinel_bad}, qr/\[error\].*sentinel 127\.0\.0\.1:$sp refused the sentinel_password: WRONGPASS/)
    }), 'a wrong sentinel_password= is logged');
ok($t->wait_until(sub {
        $t->grep_log($m{sentinel_bad}, qr/no \+switch-master subscription at sentinel 127\.0\.0\.1:$sp for "mymaster": AUTH refused: WRONGPASS/)
    }), 'for the subscription too');
$r = register($m4, 'd');
is($r->{status}, 503, 'and answered 503');

ok($t->wait_until(sub {
        $t->grep_log($m{master_bad}, qr/\[error\].*redis mymaster is down: AUTH refused: WRONGPASS/)
    }), 'a wrong password= for the master the sentinel names is logged');
$r = register($m5, 'e');
is($r->{status}, 503, 'and answered 503');

# the managers go on: still serving after the failed attempts
sleep 2;    # two retries of each failed connection (every second)
$r = manager_req($m1, 'GET', '/streams/live/a');
is($r->{status}, 200, 'the working manager still answers');
for my $k (sort keys %m) {
    ok($m{$k}->running, "$k still running");
}

# no password in any log
for my $k (sort keys %m) {
    my @leak = grep { /\Q$pw\E|\Q$spw\E|\Q$wrong\E/ }
               split /\n/, $m{$k}->error_log_text;
    is(scalar @leak, 0, "$k: no password in the error log")
        or diag(join "\n", @leak);
}

### configuration errors

my $long = 'x' x 257;
for my $c (["password=", 'invalid "password"'],
           ["password=$long", 'invalid "password"'],
           ["sentinel_password=", 'invalid "sentinel_password"'],
           ["password=a password=b", 'duplicate "password"'],
           ["sentinel_password=a", '"sentinel_password" needs "sentinel"']) {
    my $args = $c->[0] =~ /^sentinel_password=a$/
             ? "redis=127.0.0.1:$rp $c->[0]"
             : "sentinel=127.0.0.1:$sp master=mymaster $c->[0]";
    my ($code, $out) = $t->nginx_t(manager_conf(http => $m1, locations =>
        "location /s/ { cluster_stream_manager $args; }"));
    isnt($code, 0, "\"$c->[0]\" ...: refused") or diag($out);
    like($out, qr/\Q$c->[1]\E/, 'with a clear error');
    unlike($out, qr/\Q$long\E|password=b/, 'not repeating the value');
}

my ($code, $out) = $t->nginx_t(manager_conf(http => $m1, locations =>
    "location /a/ { cluster_stream_manager redis=127.0.0.1:$rp "
    . "password=$pw; } location /b/ { cluster_stream_manager "
    . "redis=127.0.0.1:$rp password=$wrong; }"));
isnt($code, 0, 'two locations naming one Redis with other passwords: refused');
like($out, qr/named with other passwords/, 'with a clear error');
unlike($out, qr/\Q$pw\E|\Q$wrong\E/, 'not repeating them');

$_->stop for values %m;
$sentinel->stop;
$redis->stop;

$t->check_logs;

done_testing;
