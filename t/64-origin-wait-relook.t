#!/usr/bin/perl

# A play held by "cluster_not_found wait" looks again: a player that came
# to origin A before the stream was published, and keeps its play open
# (as an SRS edge's pull does), gets the RTMP 302 to origin B as soon as
# the stream is published there, well within SRS's 5 s no-media timeout;
# with "cluster_found proxy" it gets the media through its origin; a
# publish on its own origin still plays at once, without a 302, and
# players waiting on another worker of it get the stream relayed.  (The
# cost and the limit of the wait: t/65.)

use strict;
use warnings;

use Test::More;
use Time::HiRes qw(time);

use lib 't/lib';
use ClusterTest;
use ClusterConf;

my $t = ClusterTest->new;
$t->skip_unless_module;

my ($ap, $ah, $bp, $bh, $cp, $ch) = map { $t->port } 1 .. 6;

my $a = $t->nginx('origin-a', cluster_origin_conf(port => $ap, http => $ah,
    coworkers => ["127.0.0.1:$bh"]), ports => [$ap, $ah]);
my $b = $t->nginx('origin-b', cluster_origin_conf(port => $bp, http => $bh,
    coworkers => ["127.0.0.1:$ah"]), ports => [$bp, $bh]);
my $c = $t->nginx('origin-c', cluster_origin_conf(port => $cp, http => $ch,
    coworkers => ["127.0.0.1:$bh"], app => 'cluster_found proxy;'),
    ports => [$cp, $ch]);

# an SRS-like edge's pull: plays, waits with the connection open, and
# reports the first command with level "error" and an "ex" (a 302)
sub waiting_play {
    my ($port, $name) = @_;
    my $p = $t->rtmp_play($port, 'live', $name);
    my $start = $p->wait_status(qr/^NetStream\.Play\.Start$/, timeout => 5);
    return ($p, $start);
}

sub wait_302 {
    my ($p, $timeout) = @_;
    return $p->wait_message(sub {
        my $m = shift;
        return 0 unless ($m->{name} // '') eq 'onStatus';
        my ($info) = grep { ref $_ eq 'HASH' } reverse @{$m->{amf}};
        return 0 unless $info && ($info->{level} // '') eq 'error'
                        && ref $info->{ex} eq 'HASH';
        $m->{info} = $info;
        return 1;
    }, timeout => $timeout);
}

### redirect: the 302 comes when the stream is published elsewhere

my ($p, $start) = waiting_play($ap, 's1');
ok($start, 'redirect: the play waits at origin A (Play.Start)');

# the same wait for a 302 that catches it below: nothing while nothing
# is published (two lookups at least, about a second apart)
ok($a->wait_log(qr/no coworker has "live\/s1"/), 'A looked s1 up');
ok(!wait_302($p, 2.5), 'redirect: no 302 while s1 is published nowhere');
ok(!$p->eof, 'redirect: still connected');
ok($t->wait_until(sub { $a->grep_log(qr/no coworker has "live\/s1"/) >= 2 }),
   'redirect: A looked again while the play waited');

my $pub_start = time;
my $pub = synthetic_publisher($bp, 's1', frames => 500);
ok($b->wait_log(qr/"live\/s1" registered on this origin/),
   'redirect: s1 published on origin B');

my $r302 = wait_302($p, 5);
my $took = time - $pub_start;
ok($r302, 'redirect: the waiting play gets a 302');
cmp_ok($took, '<', ClusterTest::slow(3),
       'redirect: within 3 s of the publish (SRS edges wait 5 s)');
is($r302 && $r302->{info}{code}, 'NetConnection.Connect.Rejected',
   'redirect: SRS\'s 302 status');
is($r302 && $r302->{info}{ex}{redirect2}, "rtmp://127.0.0.1:$bp/live/s1",
   'redirect: to origin B, with the stream');
is($r302 && $r302->{msid}, 0, 'redirect: on message stream 0');
ok($a->wait_log(qr/"live\/s1" is on 127\.0\.0\.1:$bp now: redirecting 1/),
   'redirect: logged');

# the edge follows it: video from B
my $q = $t->rtmp_play($bp, 'live', 's1');
ok(wait_video($q, timeout => 5), 'redirect: followed, video from origin B');
my $video = time - $pub_start;
diag(sprintf('publish on B to the 302 at A: %.0f ms; to video from B: '
             . '%.0f ms', $took * 1000, $video * 1000));
$p->wait_message(sub { 0 }, timeout => 5);
ok($p->eof, 'redirect: A closes the redirected play');
$q->close;

### proxy: the waiting player gets the media through its origin

my ($pp, $pstart) = waiting_play($cp, 's1x');
ok($pstart, 'proxy: the play waits at origin C');
ok($c->wait_log(qr/no coworker has "live\/s1x"/), 'proxy: C looked s1x up');
ok(!wait_video($pp, timeout => 1.5), 'proxy: no video before a publish');

$pub_start = time;
my $pub2 = synthetic_publisher($bp, 's1x', frames => 500);
ok(wait_video($pp, timeout => 5), 'proxy: video through origin C');
my $ptook = time - $pub_start;
cmp_ok($ptook, '<', ClusterTest::slow(3), 'proxy: within 3 s of the publish');
ok($c->wait_log(qr/"live\/s1x" is on 127\.0\.0\.1:$bp now: proxying it for 1/),
   'proxy: logged');
diag(sprintf('publish on B to video through C (proxy): %.0f ms',
             $ptook * 1000));
$pp->close;

### a publish on the player's own origin: at once, no 302

my ($lp, $lstart) = waiting_play($ap, 's2');
ok($lstart, 'local: the play waits at origin A');
ok($a->wait_log(qr/no coworker has "live\/s2"/), 'local: A looked s2 up');

my $pub3 = synthetic_publisher($ap, 's2', frames => 500);
my $got302;
my $v = $lp->wait_message(sub {
    my $m = shift;
    $got302 = 1 if ($m->{name} // '') eq 'onStatus'
                   && grep { ref $_ eq 'HASH' && ref $_->{ex} } @{$m->{amf}};
    return $m->{type} eq '9' && !$m->{is_seq_header};
}, timeout => 5);
ok($v, 'local: video from the publisher on A');
ok(!$got302, 'local: no 302');
ok(!$lp->eof, 'local: the player stays');
$lp->close;

### a publish on another worker of the same origin: relayed from it

my ($wp, $wh) = map { $t->port } 1 .. 2;
my $w = $t->nginx('origin-w', cluster_origin_conf(port => $wp, http => $wh,
    workers => 2, rtmp => 'cluster_reuseport on;'), ports => [$wp, $wh]);
ok($t->wait_until(sub { $w->worker_pids == 2 }), 'workers: two workers');

my @wait = map { $t->rtmp_play($wp, 'live', 's3', wait => 1) } 1 .. 12;
my %on = map { /\[info\] (\d+)#/ ? ($1 => 1) : () }
         $w->grep_log(qr/play: name='s3'/);
is(scalar keys %on, 2, 'workers: players wait on both workers');

my $pub4 = synthetic_publisher($wp, 's3', frames => 500);
is(scalar(grep { wait_video($_, timeout => 5) } @wait), 12,
   'workers: every waiting player gets video, whatever its worker');
$_->close for @wait;

stop_publisher($_) for $pub, $pub2, $pub3, $pub4;

$t->check_logs;

done_testing;
