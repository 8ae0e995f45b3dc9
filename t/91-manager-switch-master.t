#!/usr/bin/perl

# The stream manager follows a manual failover (SENTINEL FAILOVER) through
# its +switch-master subscription.  The old master is not killed: it stays
# up and takes writes until the sentinels demote it, seconds later, so a
# manager that waits for a failed write (READONLY) would keep writing to it
# meanwhile.  An origin holds 20 leases (with a long TTL: no renewal during
# the test); the failover is asked of one sentinel; the manager logs the
# switch with the new address before any error, its next lookup is run on
# the new master (its EVAL count grows, with nothing else writing there),
# and a lease registered right after the switch is on the new master.  The
# time from the failover command to the switch is printed.

use strict;
use warnings;

use Test::More;
use JSON::PP;
use HTTP::Tiny;
use Time::HiRes qw(time sleep);

use lib 't/lib';
use ClusterTest;
use ClusterConf;
use RTMP::Client;
use Redis;

my $t = ClusterTest->new;
$t->skip_unless_module;
$t->skip_unless_sentinel;

my ($rp1, $rp2, $s1, $s2, $s3, $mh, $op, $oh) = map { $t->port } 1 .. 8;
my $prefix = 'ngx_rtmp_cluster:stream:';
my $n = 20;
my $http = HTTP::Tiny->new(timeout => 2);

my $master = $t->redis_server($rp1);
my $replica = $t->redis_server($rp2, '--replicaof', '127.0.0.1', $rp1);
my @sentinels = map { $t->redis_sentinel($_, master => $rp1) } $s1, $s2, $s3;

my $db1 = Redis->new(port => $rp1, timeout => 10);

ok($t->wait_until(sub {
        my $r = eval { Redis->new(port => $s1, timeout => 2)
                           ->command('SENTINEL', 'master', 'mymaster') };
        return 0 unless ref $r;
        my %h = @$r;
        return $h{'num-other-sentinels'} == 2 && $h{'num-slaves'} == 1;
    }, timeout => 30), 'the sentinels see each other and the replica');

# a failover needs a replica that the sentinels see linked to the master
ok($t->wait_until(sub {
        my $r = eval { Redis->new(port => $s1, timeout => 2)
                           ->command('SENTINEL', 'replicas', 'mymaster') };
        return 0 unless ref $r && ref $r->[0];
        my %h = @{$r->[0]};
        return ($h{'master-link-status'} // '') eq 'ok'
            && ($h{flags} // '') eq 'slave';
    }, timeout => 30), 'the replica is linked');

my $manager_conf = manager_conf(http => $mh, locations =>
    "location /streams/ { cluster_stream_manager sentinel=127.0.0.1:$s1 "
    . "sentinel=127.0.0.1:$s2 sentinel=127.0.0.1:$s3 master=mymaster "
    . "timeout=1s; }");
my $m = $t->nginx('manager', $manager_conf, ports => [$mh]);

# renewals at TTL/3 = 40 s: none in the time this test runs
my $o = $t->nginx('origin', cluster_origin_conf(
    port => $op, http => $oh,
    app => "cluster_manager http://127.0.0.1:$mh/streams/; "
    . 'cluster_lease_ttl 120s; cluster_lookup_timeout 2s;'),
    ports => [$op, $oh]);

sub mlog { grep { $_ =~ $_[0] } split /\n/, $m->error_log_text }

ok($t->wait_until(sub {
        mlog(qr/listening to \+switch-master at sentinel 127\.0\.0\.1:\d+ for "mymaster"/)
    }), 'the manager listens to +switch-master');

my @pubs = lease_publishers($t, $op, 'a', $n);

sub keys_on { scalar @{$_[0]->command('KEYS', "${prefix}live/*")} }

ok($t->wait_until(sub { (publishers_status($pubs[1])->{started} // 0) == $n },
                  timeout => 60), "$n publishers started")
    or diag(explain(publishers_status($pubs[1])));
ok($t->wait_until(sub { keys_on($db1) == $n }, timeout => 30),
   "$n leases on the master") or diag(keys_on($db1));

sub lookup {
    my $res = $http->get("http://127.0.0.1:$mh/streams/live/$_[0]");
    return $res->{status} == 200 ? decode_json($res->{content}) : undef;
}

# the EVALs a Redis ran: the manager's scripts (a lookup is one)
sub evals {
    my $info = Redis->new(port => $_[0], timeout => 5)
                    ->command('INFO', 'commandstats');
    return $info =~ /^cmdstat_eval:calls=(\d+)/m ? $1 : 0;
}

# the positive control: a lookup runs on the master, not on the replica
my ($e1, $e2) = (evals($rp1), evals($rp2));
my $l = lookup('a0');
ok($l && $l->{origin}{port} == $op, 'a lookup answers before the failover');
ok(evals($rp1) > $e1, 'it ran on the master');
is(evals($rp2), $e2, 'not on the replica');

### a manual failover: the old master stays up

my $asked = time;
my $r = Redis->new(port => $s1, timeout => 5)
             ->command('SENTINEL', 'FAILOVER', 'mymaster');
is($r, 'OK', 'SENTINEL FAILOVER accepted');

# the role of the old master, on a new connection each time (the
# sentinels end its clients when they demote it)
sub role1 {
    my $x = eval { Redis->new(port => $rp1, timeout => 2)->command('ROLE') };
    return ref $x ? $x->[0] : '';
}

# until the manager switches, or the sentinels demote the old master
# (seconds after the switch: then a failed write would tell the manager)
my ($switched, $demoted, $role_at_switch);
$t->wait_until(sub {
    if (mlog(qr/announces \+switch-master: "mymaster" is now 127\.0\.0\.1 port $rp2, switching/)) {
        $switched = time;
        $role_at_switch = role1();
        return 1;
    }
    $demoted = time if role1() eq 'slave';
    return $demoted;
}, timeout => 20, interval => 0.02);

ok($switched, 'the manager logs the switch to the new master')
    or diag($m->error_log_text);
is($role_at_switch // 'none', 'master',
   'before the old master was demoted (a write would still succeed there)');
diag(sprintf 'from SENTINEL FAILOVER to the manager\'s switch: %.2f s',
     $switched - $asked) if $switched;

my @text = split /\n/, $m->error_log_text;
my ($at) = grep { $text[$_] =~ /announces \+switch-master/ } 0 .. $#text;
my @errors = grep { /READONLY|is not the master|is down|did not answer/ }
             @text[0 .. ($at // $#text)];
is(scalar @errors, 0, 'no failed command nor READONLY before the switch')
    or diag(join "\n", @errors);

# the next lookup runs on the new master: nothing else runs EVAL there
$e2 = evals($rp2);
my $answered;
$t->wait_until(sub {
    my $x = lookup('a7');
    return $answered = $x && $x->{origin}{port} == $op;
}, timeout => 10, interval => 0.02);
ok($answered, 'lookups answer after the switch');
ok(evals($rp2) > $e2, 'from the new master');

# a lease registered now is on the new master; the old one may still be
# a master for seconds, until the sentinels demote it
my $db2 = Redis->new(port => $rp2, timeout => 10);
my $res = manager_req($mh, 'POST', '/streams/live/after', encode_json(
    { host => '127.0.0.1', port => $op, ttl => 60, token => 'tok-after' }));
is($res->{status}, 201, 'a lease registered after the switch')
    or diag($res->{content});
like($db2->command('GET', "${prefix}live/after") // '', qr/^tok-after /,
     'is on the new master');
is(keys_on($db2), $n + 1, "and so are the origin's $n leases");

# a note: how long a manager waiting for a failed write would have
# written to the old master
$t->wait_until(sub { $demoted = time if role1() eq 'slave'; $demoted },
               timeout => 30, interval => 0.05) unless $demoted;
diag(sprintf 'from SENTINEL FAILOVER to the old master demoted: %.2f s',
     $demoted - $asked) if $demoted;

my $st = publishers_status($pubs[1]);
is($st->{refused}, 0, 'no publisher refused');
is($st->{cut}, 0, 'no publisher cut');

kill 'TERM', $pubs[0];
waitpid $pubs[0], 0;

$o->stop;
$m->stop;
$_->stop for @sentinels;
$replica->stop;
$master->stop;

$t->check_logs;

done_testing;
