#!/usr/bin/perl

# Edges follow RTMP 302s and keep their player: from our origins in both
# dialects (SRS's on play, FMS's), and from SRS-style peers (redirect2,
# redirect only, FMS on connect), the player's args surviving.  The
# redirects on the wire: t/11-origin-redirect.t.

use strict;
use warnings;

use Test::More;

use lib 't/lib';
use ClusterTest;
use ClusterConf;
use FakeOrigin;

my $t = ClusterTest->new;
$t->skip_unless_module;

my ($ap, $ah, $bp, $bh, $cp, $ch) = map { $t->port } 1 .. 6;

my $a = $t->nginx('origin-a', cluster_origin_conf(port => $ap, http => $ah,
    coworkers => ["127.0.0.1:$bh"]), ports => [$ap, $ah]);
my $b = $t->nginx('origin-b', cluster_origin_conf(port => $bp, http => $bh,
    coworkers => ["127.0.0.1:$ah"]), ports => [$bp, $bh]);
my $c = $t->nginx('origin-c', cluster_origin_conf(port => $cp, http => $ch,
    coworkers => ["127.0.0.1:$ah"], app => 'cluster_redirect fms;'),
    ports => [$cp, $ch]);

$t->publish("rtmp://127.0.0.1:$ap/live/s1");
ok($t->wait_until(sub { $a->grep_log(qr/"live\/s1" registered/) }),
   's1 published on origin A');

# edges follow both dialects and keep the player

my ($e1p, $e1h) = map { $t->port } 1 .. 2;
my $e1 = $t->nginx('edge1', edge_conf(port => $e1p, http => $e1h,
    origins => ["127.0.0.1:$bp"]), ports => [$e1p, $e1h]);
my $p = $t->rtmp_play($e1p, 'live', 's1', wait => 1);
ok(wait_video($p, count => 10, timeout => 10),
   'an edge on origin B follows the SRS 302 to A: video');
my $st = $e1->status($e1h, '/cluster');
my ($s) = stream_status($st, 's1');
is($s->{origin}, "127.0.0.1:$ap", 'edge status: pulling from A');
is($st->{redirects}{followed}, 1, 'edge status: one redirect followed');
cmp_ok($b->status($bh, '/cluster')->{redirects}{sent}, '>=', 1,
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

$_->stop for values %fake;

$t->check_logs;

done_testing;
