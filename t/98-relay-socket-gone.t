#!/usr/bin/perl

# A worker relaying from the owner finds the owner's socket gone (the
# owner exited after it was read as the owner, or the file was removed
# and the owner has not seen it yet): nginx logs such a connect() at
# "crit", which is no fault of the host.  The failure is said at "info"
# and the relay tried again; the owner listens anew and every worker's
# players get video.  Made deterministic: the owner is stopped (SIGSTOP)
# while its socket is removed, so it cannot listen anew before the other
# worker tries.

use strict;
use warnings;

use Test::More;

use lib 't/lib';
use ClusterTest;
use ClusterConf;

my $t = ClusterTest->new;
$t->skip_unless_module;

my ($op, $ep, $eh) = map { $t->port } 1 .. 3;

my $o = $t->nginx('origin', origin_conf($op), ports => [$op], cluster => 0);
my $edge = $t->nginx('edge', edge_conf(port => $ep, http => $eh,
    origins => ["127.0.0.1:$op"], workers => 2,
    rtmp => 'cluster_reuseport on;'), ports => [$ep, $eh]);

ok($t->wait_until(sub { $edge->worker_pids == 2 }), 'two workers');

$t->publish("rtmp://127.0.0.1:$op/live/s1");
ok($t->wait_until(sub { $o->grep_log(qr/publish: name='s1'/) }), 'published');

sub records { stream_status($edge->status($eh, '/cluster'), 's1') }

# the first player's worker owns the stream and pulls from the origin
my $first = $t->rtmp_play($ep, 'live', 's1', wait => 1);
ok(wait_video($first, count => 2, timeout => 10), 'the first player');
my ($rec) = records();
our $owner = $rec->{worker};
like($rec->{origin}, qr/^127\.0\.0\.1:/, "worker $owner pulls");

my @socks = glob $edge->prefix . "/sock/$owner.*.sock";
ok(@socks, 'its relay socket is there') or diag($edge->prefix);

# stopped: it cannot see its socket go, nor serve anybody meanwhile
# (and let go whatever happens to the test)
END { kill 'CONT', $owner if $owner }
kill 'STOP', $owner;
unlink @socks;

# players on both workers (ffmpeg's connection waits on a stopped one)
my @p = map { $t->spawn(['ffmpeg', '-hide_banner', '-nostdin', '-loglevel',
                         'error', '-i', "rtmp://127.0.0.1:$ep/live/s1",
                         '-t', 60, '-f', 'null', '-'], name => 'player') }
        1 .. 8;

my $said = qr/\[info\].*cluster: connect\(\) to the socket of worker $owner /
    . qr/failed \(2: No such file or directory\)/;
ok($edge->wait_log($said, timeout => 20), 'the failed connect() said at info');

kill 'CONT', $owner;

ok($edge->wait_log(qr/this worker's relay socket was removed, listening anew/,
                   timeout => 10), 'the owner listens anew');

# both workers serve the stream again, the other relaying from the owner
ok($t->wait_until(sub {
        my @r = grep { $_->{state} eq 'live' && $_->{players} } records();
        (grep { ($_->{origin} // '') eq "worker:$owner" } @r)
            && (grep { $_->{worker} == $owner } @r);
    }, timeout => 30), 'the other worker relays from the owner again')
    or diag(explain([records()]));
ok(wait_video($first, count => 2, timeout => 10),
   'the first player has video again');
ok($t->wait_until(sub { (grep { ($_->{origin} // '') eq "worker:$owner" }
                         records())[0]{bytes_in} }, timeout => 10),
   'media through the relay');

is(scalar(grep { !$_->alive } @p), 0, 'no player ended');

$_->stop for @p;
$first->close;

$edge->stop;
$o->stop;

# no [crit] for the missing socket: the worker's own line said it
$t->check_logs;

done_testing;
