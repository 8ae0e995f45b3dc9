#!/usr/bin/perl

# Faults under the stream manager on Sentinel stay clean: a sentinel that
# answers garbage, one that names a replica, a master turned replica while
# connected (READONLY), a Redis out of memory (maxmemory).  Each is logged
# and answered with a clean HTTP error; no acknowledged lease is lost.
#
# The sentinel here is a stand-in that answers what the test tells it
# (the file $t->tmp/sentinel-says: "garbage", "error", "nil", or a port
# of 127.0.0.1), with the reply formats of redis-sentinel's
# SENTINEL get-master-addr-by-name (a two-string array, nil, an error).
# It confirms SUBSCRIBE as redis-sentinel does, and sends its subscribers
# what the test writes to $t->tmp/sentinel-publish (messages for another
# master, malformed ones, replies that are no message at all).

use strict;
use warnings;

use Test::More;
use JSON::PP;
use IO::Socket::IP;
use IO::Select;
use POSIX qw(_exit);

use lib 't/lib';
use ClusterTest;
use ClusterConf;
use Redis;

my $t = ClusterTest->new;
$t->skip_unless_module;
$t->skip_unless_redis;

my ($ra, $rb, $sp, $mh) = map { $t->port } 1 .. 4;
my $prefix = 'ngx_rtmp_cluster:stream:';
my $says = $t->tmp . '/sentinel-says';

sub say_ {
    open my $fh, '>', "$says.tmp" or die $!;
    print $fh $_[0];
    close $fh;
    rename "$says.tmp", $says or die $!;
}
say_('garbage');

my $sentinel_pid = fork // die "fork: $!";
unless ($sentinel_pid) {
    $SIG{$_} = 'DEFAULT' for qw(INT TERM HUP);
    my $l = IO::Socket::IP->new(LocalHost => '127.0.0.1', LocalPort => $sp,
                                Listen => 16, ReuseAddr => 1) or _exit(1);
    my $sel = IO::Select->new($l);
    my %subscribers;
    while (1) {
        my $publish = "$says-publish";
        if (-e $publish) {
            my $bytes = ClusterTest::_read_file($publish);
            syswrite $_, $bytes for values %subscribers;
            unlink $publish;
        }
        for my $s ($sel->can_read(0.05)) {
            if ($s == $l) { $sel->add($l->accept); next }
            my $n = sysread $s, my $buf, 65536;
            unless ($n) {
                delete $subscribers{$s};
                $sel->remove($s); close $s; next;
            }
            if ($buf =~ /SUBSCRIBE\r\n\$14\r\n\+switch-master/i) {
                $subscribers{$s} = $s;
                syswrite $s, "*3\r\n\$9\r\nsubscribe\r\n\$14\r\n"
                             . "+switch-master\r\n:1\r\n";
                next;
            }
            # one command a read, as hiredis sends it
            my $what = eval { ClusterTest::_read_file($says) } // 'garbage';
            my $reply =
                $what eq 'garbage' ? "*2\r\n\$5\r\nhello\r\n\$5\r\nworld\r\n"
              : $what eq 'error'   ? "-ERR no such command\r\n"
              : $what eq 'nil'     ? "*-1\r\n"
              # the answer, and one reply more than asked
              : $what =~ /^twice:(\d+)$/
              ? ("*2\r\n\$9\r\n127.0.0.1\r\n\$" . length($1) . "\r\n$1\r\n") x 2
              : "*2\r\n\$9\r\n127.0.0.1\r\n\$" . length($what) . "\r\n$what\r\n";
            syswrite $s, $reply;
        }
    }
}

my $a = $t->redis_server($ra);
my $b = $t->redis_server($rb);
my $dba = Redis->new(port => $ra, timeout => 10);
my $dbb = Redis->new(port => $rb, timeout => 10);

my $m = $t->nginx('manager', manager_conf(http => $mh, locations =>
    "location /streams/ { cluster_stream_manager sentinel=127.0.0.1:$sp "
    . 'master=mymaster timeout=1s; }'), ports => [$mh]);

sub mlog { grep { $_ =~ $_[0] } split /\n/, $m->error_log_text }
sub lookup { manager_req($mh, 'GET', '/streams/live/x') }
sub register {
    manager_req($mh, 'POST', "/streams/live/$_[0]", encode_json(
        { host => '10.0.0.1', port => 1935, ttl => 60, token => "t-$_[0]" }));
}

### a sentinel answering garbage, an error, nil: 503, logged

for my $case (['garbage', 'it answered something else than an address'],
              ['error', 'ERR no such command'],
              ['nil', 'it does not know the master'])
{
    say_($case->[0]);
    ok($t->wait_until(sub {
            mlog(qr/sentinel 127\.0\.0\.1:$sp did not name the master "mymaster": \Q$case->[1]\E/)
        }, timeout => 10), "sentinel $case->[0]: logged");
    is(lookup()->{status}, 503, "sentinel $case->[0]: a lookup is 503");
}

### then it names A, with a reply too many: answered

my @first = $m->worker_pids;
say_("twice:$ra");
ok($t->wait_until(sub { lookup()->{status} == 404 }, timeout => 10),
   'the sentinel names A: lookups answered');
is_deeply([$m->worker_pids], \@first,
          'a reply more than asked: no worker died');
say_($ra);
is(register('s1')->{status}, 201, 'a lease registered on A');
ok($dba->command('GET', "${prefix}live/s1"), 'and it is on A');

### a Redis out of memory: 502, the lease kept

$dba->command('CONFIG', 'SET', 'maxmemory-policy', 'noeviction');
$dba->command('CONFIG', 'SET', 'maxmemory', '1');
my $r = register('s2');
is($r->{status}, 502, 'out of memory: a registration is 502');
is($r->{json}{error}, 'redis answered an error', 'with the reason');
ok(mlog(qr/redis mymaster answered "OOM/), 'the OOM logged');
$r = manager_req($mh, 'PUT', '/streams/live/s1',
                 encode_json({ token => 't-s1', ttl => 60 }));
ok($r->{status} == 200 || $r->{status} == 502,
   "a renewal is answered cleanly ($r->{status})");
is(lookup()->{status}, 404, 'lookups still answered');
ok($dba->command('GET', "${prefix}live/s1"), 'the acknowledged lease is kept');
$dba->command('CONFIG', 'SET', 'maxmemory', '0');
is(register('s2')->{status}, 201, 'memory back: registered');

### the sentinel names a replica: not used

$dbb->command('REPLICAOF', '127.0.0.1', $ra);
ok($t->wait_until(sub {
        ($dbb->command('ROLE')->[3] // '') eq 'connected'
    }, timeout => 10), 'B replicates A');

### A turned replica of B while connected: READONLY, 503, asked again

$dbb->command('REPLICAOF', 'NO', 'ONE');
$dba->command('REPLICAOF', '127.0.0.1', $rb);
say_($ra);      # still A: ROLE must turn it down

$r = register('s3');
is($r->{status}, 503, 'a write on a demoted master is 503');
ok(mlog(qr/redis mymaster answered "READONLY/), 'READONLY logged');
ok($t->wait_until(sub {
        mlog(qr/redis mymaster: 127\.0\.0\.1 port $ra is not the master \(ROLE\)/)
    }, timeout => 10), 'a sentinel naming a replica: refused by ROLE');
is(lookup()->{status}, 503, 'lookups are 503 meanwhile, not a replica\'s');

say_($rb);
ok($t->wait_until(sub { lookup()->{status} == 404 }, timeout => 10),
   'the sentinel names B: answered again');
ok(mlog(qr/sentinel 127\.0\.0\.1:$sp names 127\.0\.0\.1 port $rb the master/),
   'the new master logged');
is(register('s3')->{status}, 201, 'registered on B');
ok($dbb->command('GET', "${prefix}live/s1"),
   'the leases A held are on B (replicated)');

### what the subscription gets: only our master's message is followed

ok(mlog(qr/listening to \+switch-master at sentinel 127\.0\.0\.1:$sp for "mymaster"/),
   'subscribed to +switch-master');
my @workers = $m->worker_pids;

sub publish {
    open my $fh, '>', "$says-publish.tmp" or die $!;
    print $fh $_[0];
    close $fh;
    rename "$says-publish.tmp", "$says-publish" or die $!;
    $t->wait_until(sub { !-e "$says-publish" }, timeout => 5);
}
sub message {
    my ($text) = @_;
    return "*3\r\n\$7\r\nmessage\r\n\$14\r\n+switch-master\r\n\$"
           . length($text) . "\r\n$text\r\n";
}
sub count { scalar mlog($_[0]) }

publish(message("othermaster 127.0.0.1 $rb 127.0.0.1 $ra"));
publish(message('mymaster 127.0.0.1'));
ok($t->wait_until(sub {
        mlog(qr/\[error\].*sentinel 127\.0\.0\.1:$sp sent a malformed \+switch-master message, ignored/)
    }), 'a malformed message: logged and ignored');
# replies that are no message (hiredis's asynchronous subscribe mode
# asserts on the first two)
publish("*1\r\n:1\r\n" . ":5\r\n" . "*3\r\n:1\r\n:2\r\n:3\r\n"
        . "*3\r\n\$7\r\nmessage\r\n\$5\r\nother\r\n\$3\r\nabc\r\n");
ok($t->wait_until(sub {
        count(qr/sentinel 127\.0\.0\.1:$sp sent something else than a \+switch-master message, ignored/) >= 4
    }), 'replies that are no message: logged and ignored');
is_deeply([$m->worker_pids], \@workers, 'no worker died');
is(count(qr/announces \+switch-master/), 0,
   'another master\'s message is not followed');
is(lookup()->{status}, 404, 'lookups still answered from B');
ok($dbb->command('GET', "${prefix}live/s3"), 'which holds the leases');

# ours, naming A (a replica of B now): ROLE refuses it, the sentinel is
# asked again and names B
my $refused = count(qr/port $ra is not the master \(ROLE\)/);
publish(message("mymaster 127.0.0.1 $rb 127.0.0.1 $ra"));
ok($t->wait_until(sub {
        mlog(qr/\[notice\].*sentinel 127\.0\.0\.1:$sp announces \+switch-master: "mymaster" is now 127\.0\.0\.1 port $ra, switching/)
    }), 'our master\'s message: followed at once');
ok($t->wait_until(sub {
        count(qr/port $ra is not the master \(ROLE\)/) > $refused
    }), 'the announced master checked with ROLE first');
ok($t->wait_until(sub { lookup()->{status} == 404 }, timeout => 10),
   'back on B, answered');

kill 'TERM', $sentinel_pid;
waitpid $sentinel_pid, 0;

$m->stop;
$a->stop;
$b->stop;

$t->check_logs;

done_testing;
