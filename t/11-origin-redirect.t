#!/usr/bin/perl

# RTMP 302 between origins, produced in both dialects and checked on the
# wire, followed by edges (ours and SRS-style peers) without loops; proxy
# mode for players that do not follow redirects; not-found behaviours;
# a duplicate publish refused.

use strict;
use warnings;

use Test::More;
use Time::HiRes qw(time sleep);

use lib 't/lib';
use ClusterTest;
use ClusterConf;
use FakeCoworker;
use FakeOrigin;

my $t = ClusterTest->new;
$t->skip_unless_module;

my ($ap, $ah, $bp, $bh, $cp, $ch, $dp, $dh, $ep, $eh) = map { $t->port } 1 .. 10;

my $a = $t->nginx('origin-a', cluster_origin_conf(port => $ap, http => $ah,
    coworkers => ["127.0.0.1:$bh"]), ports => [$ap, $ah]);
my $b = $t->nginx('origin-b', cluster_origin_conf(port => $bp, http => $bh,
    coworkers => ["127.0.0.1:$ah"]), ports => [$bp, $bh]);
my $c = $t->nginx('origin-c', cluster_origin_conf(port => $cp, http => $ch,
    coworkers => ["127.0.0.1:$ah"],
    app => 'cluster_redirect fms; cluster_not_found reject;'),
    ports => [$cp, $ch]);
my $d = $t->nginx('origin-d', cluster_origin_conf(port => $dp, http => $dh,
    coworkers => ["127.0.0.1:$ah"], app => 'cluster_found proxy;'),
    ports => [$dp, $dh]);

$t->publish("rtmp://127.0.0.1:$ap/live/s1");
ok($t->wait_until(sub { $a->grep_log(qr/"live\/s1" registered/) }),
   's1 published on origin A');

# SRS dialect, on the wire

my $p = $t->rtmp_play($bp, 'live', 's1?token=x');
my @codes;
my $r302 = $p->wait_message(sub {
    my $m = shift;
    return 0 unless ($m->{name} // '') eq 'onStatus';
    push @codes, $m->{code} // '';
    return ($m->{code} // '') eq 'NetConnection.Connect.Rejected';
}, timeout => 5);
ok($r302, 'SRS dialect: a 302 from origin B');
is_deeply([@codes[0, 1]], ['NetStream.Play.Reset', 'NetStream.Play.Start'],
          'after play was answered');
is($r302->{msid}, 0, 'on message stream 0');
is($r302->{csid}, 5, 'on chunk stream 5');
is($r302->{trans}, 0, 'transaction id 0');
is($r302->{info}{level}, 'error', 'level error');
is($r302->{info}{description}, 'RTMP 302 Redirect', 'description');
is($r302->{info}{ex}{code}, 302, 'ex.code 302');
is($r302->{info}{ex}{redirect}, "rtmp://127.0.0.1:$ap/live",
   'ex.redirect is the tcUrl');
is($r302->{info}{ex}{redirect2}, "rtmp://127.0.0.1:$ap/live/s1?token=x",
   'ex.redirect2 is the full URL with the player\'s args');
$p->wait_message(sub { 0 }, timeout => 5);
ok($p->eof, 'the origin closes the connection afterwards');

# FMS dialect

$p = $t->rtmp_play($cp, 'live', 's1');
my $fms = $p->wait_status(qr/^NetConnection\.Connect\.Rejected$/, timeout => 5);
ok($fms, 'FMS dialect: a rejection');
is($fms->{info}{ex}{code}, 302, 'FMS: ex.code 302');
is($fms->{info}{ex}{redirect}, "rtmp://127.0.0.1:$ap/live/s1",
   'FMS: ex.redirect is the full URL');
ok(!exists $fms->{info}{ex}{redirect2}, 'FMS: no redirect2');
$p->close;

# edges follow both dialects and keep the player

my ($e1p, $e1h) = ($ep, $eh);
my $e1 = $t->nginx('edge1', edge_conf(port => $e1p, http => $e1h,
    origins => ["127.0.0.1:$bp"]), ports => [$e1p, $e1h]);
$p = $t->rtmp_play($e1p, 'live', 's1', wait => 1);
ok(wait_video($p, count => 10, timeout => 10),
   'an edge on origin B follows the SRS 302 to A: video');
my $st = $e1->status($e1h, '/cluster');
my ($s) = stream_status($st, 's1');
is($s->{origin}, "127.0.0.1:$ap", 'edge status: pulling from A');
is($st->{redirects}{followed}, 1, 'edge status: one redirect followed');
cmp_ok($b->status($bh, '/cluster')->{redirects}{sent}, '>=', 2,
       'origin B status: redirects sent');
$p->close;

my ($e2p, $e2h) = map { $t->port } 1 .. 2;
my $e2 = $t->nginx('edge2', edge_conf(port => $e2p, http => $e2h,
    origins => ["127.0.0.1:$cp"]), ports => [$e2p, $e2h]);
$p = $t->rtmp_play($e2p, 'live', 's1', wait => 1);
ok(wait_video($p, count => 10, timeout => 10),
   'an edge on origin C follows the FMS 302 to A: video');
$p->close;

# SRS-style peers: redirect2, redirect only, FMS on connect

my %fake;
$fake{srs} = FakeOrigin->start(mode => 'redirect_srs', target => "127.0.0.1:$ap",
                               log => $t->tmp . '/f-srs.log');
$fake{old} = FakeOrigin->start(mode => 'redirect_srs', target => "127.0.0.1:$ap",
                               only_ex_redirect => 1,
                               log => $t->tmp . '/f-old.log');
$fake{fms} = FakeOrigin->start(mode => 'redirect_fms', target => "127.0.0.1:$ap",
                               log => $t->tmp . '/f-fms.log');

for my $k (sort keys %fake) {
    my ($xp, $xh) = map { $t->port } 1 .. 2;
    my $x = $t->nginx("edge-$k", edge_conf(port => $xp, http => $xh,
        origins => ["127.0.0.1:" . $fake{$k}->port]), ports => [$xp, $xh]);
    my $q = $t->rtmp_play($xp, 'live', 's1?k=v', wait => 1);
    ok(wait_video($q, count => 5, timeout => 10), "peer $k: redirect followed");
    ($s) = stream_status($x->status($xh, '/cluster'), 's1');
    is($s->{origin}, "127.0.0.1:$ap", "peer $k: pulling from A");
    $q->close;
    $x->stop;
}
like(($a->grep_log(qr/play: name='s1' args='k=v'/))[0] // '', qr/k=v/,
     'the player\'s args survive the redirect');

# loops: two peers redirecting to each other, and a chain too long

my ($lx, $ly) = map { $t->port } 1 .. 2;
my $loop_x = FakeOrigin->start(mode => 'redirect_srs', port => $lx,
    target => "127.0.0.1:$ly", log => $t->tmp . '/lx.log');
my $loop_y = FakeOrigin->start(mode => 'redirect_srs', port => $ly,
    target => "127.0.0.1:$lx", log => $t->tmp . '/ly.log');

my ($lp, $lh) = map { $t->port } 1 .. 2;
my $le = $t->nginx('edge-loop', edge_conf(port => $lp, http => $lh,
    origins => ["127.0.0.1:$lx"],
    app => 'cluster_retry_timeout 2s;'), ports => [$lp, $lh]);
my $start = time;
$p = $t->rtmp_play($lp, 'live', 's1', wait => 1);
ok($p->wait_status(qr/^NetStream\.Play\.Failed$/, timeout => 10),
   'loop: the play ends, no endless redirects');
cmp_ok(time - $start, '<', 6, 'loop: within the retry timeout');
my ($loop_line) = $le->grep_log(qr/refusing the redirect/);
like($loop_line // '', qr/a loop; chain: 127\.0\.0\.1:$lx -> 127\.0\.0\.1:$ly/,
     'loop: the error log names the chain');
cmp_ok($loop_x->served + $loop_y->served, '<', 20, 'loop: bounded attempts');

my @chain = map { $t->port } 1 .. 4;
my @hops = map {
    FakeOrigin->start(mode => 'redirect_srs', port => $chain[$_],
        target => "127.0.0.1:" . ($_ < 3 ? $chain[$_ + 1] : $ap),
        log => $t->tmp . "/hop$_.log")
} 0 .. 3;
my ($hp, $hh) = map { $t->port } 1 .. 2;
my $he = $t->nginx('edge-depth', edge_conf(port => $hp, http => $hh,
    origins => ["127.0.0.1:$chain[0]"],
    app => 'cluster_retry_timeout 1s; cluster_redirect_depth 3;'),
    ports => [$hp, $hh]);
$p = $t->rtmp_play($hp, 'live', 's1', wait => 1);
ok($p->wait_status(qr/^NetStream\.Play\.Failed$/, timeout => 10),
   'depth: four redirects are refused with depth 3');
ok($he->grep_log(qr/refusing the redirect .*too many redirects/),
   'depth: logged');
cmp_ok($he->status($hh, '/cluster')->{redirects}{refused}, '>=', 1,
       'depth: counted');

# proxy: a player that does not follow redirects gets the stream

my $probe = $t->play_ffprobe("rtmp://127.0.0.1:$dp/live/s1", timeout => 10);
is(scalar(grep { $_->{codec_type} eq 'video' } @{$probe->{streams} // []}),
   1, 'proxy: ffprobe on origin D sees the video');
my ($code, $err) = $t->ffmpeg_play("rtmp://127.0.0.1:$dp/live/s1", seconds => 2);
is($code, 0, 'proxy: ffmpeg plays 2 s through origin D') or diag($err);
($s) = stream_status($d->status($dh, '/cluster'), 's1');
is($s && $s->{kind}, 'proxy', 'proxy: status kind proxy');
is($s && $s->{origin}, "127.0.0.1:$ap", 'proxy: from A');

# not found: wait (default) or reject

$p = $t->rtmp_play($cp, 'live', 'nothing');
my $nf = $p->wait_status(qr/^NetStream\.Play\./, timeout => 5);
is($nf && $nf->{code}, 'NetStream.Play.StreamNotFound', 'reject: StreamNotFound');
$p->wait_message(sub { 0 }, timeout => 3);
ok($p->eof, 'reject: then closed');

$p = $t->rtmp_play($bp, 'live', 'nothing');
my $w = $p->wait_status(qr/^NetStream\.Play\./, timeout => 5);
is($w && $w->{code}, 'NetStream.Play.Start', 'wait: the player waits');
$p->wait_message(sub { 0 }, timeout => 2);
ok(!$p->eof, 'wait: still connected');
$p->close;

# a publish of a stream live on another origin

my $q = $t->rtmp(port => $bp, app => 'live');
$q->create_stream;
my $dup = $q->publish('s1');
is($dup->{code}, 'NetStream.Publish.BadName', 'duplicate publish refused');
is($dup->{info}{level}, 'error', 'with level error');
like($dup->{info}{description}, qr/already published on 127\.0\.0\.1:$ap/,
     'naming the origin');
is($b->status($bh, '/cluster')->{publishes_rejected}, 1, 'counted');

$_->stop for values %fake, $loop_x, $loop_y, @hops;

$t->check_logs;

done_testing;
