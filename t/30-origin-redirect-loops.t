#!/usr/bin/perl

# Redirect loops and chains at an edge: two peers redirecting to each
# other end the play within the retry timeout, with bounded attempts and
# the chain in the error log; a chain longer than cluster_redirect_depth
# is refused and counted.  The control: a chain as long as the depth is
# followed to the video.

use strict;
use warnings;

use Test::More;
use Time::HiRes qw(time);

use lib 't/lib';
use ClusterTest;
use ClusterConf;
use FakeOrigin;

my $t = ClusterTest->new;
$t->skip_unless_module;

my ($ap, $ah) = map { $t->port } 1 .. 2;

my $a = $t->nginx('origin-a', cluster_origin_conf(port => $ap, http => $ah),
                  ports => [$ap, $ah]);
$t->publish("rtmp://127.0.0.1:$ap/live/s1");
ok($t->wait_until(sub { $a->grep_log(qr/"live\/s1" registered/) }),
   's1 published on origin A');

# loops: two peers redirecting to each other

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
my $p = $t->rtmp_play($lp, 'live', 's1', wait => 1);
ok($p->wait_status(qr/^NetStream\.Play\.Failed$/, timeout => 10),
   'loop: the play ends, no endless redirects');
cmp_ok(time - $start, '<', 2 + slow(4), 'loop: within the retry timeout');
my ($loop_line) = $le->grep_log(qr/refusing the redirect/);
like($loop_line // '', qr/a loop; chain: 127\.0\.0\.1:$lx -> 127\.0\.0\.1:$ly/,
     'loop: the error log names the chain');
cmp_ok($loop_x->served + $loop_y->served, '<', 20, 'loop: bounded attempts');
$p->close;

# a chain of four redirects, hop 0 -> 1 -> 2 -> 3 -> A

my @chain = map { $t->port } 1 .. 4;
my @hops = map {
    FakeOrigin->start(mode => 'redirect_srs', port => $chain[$_],
        target => "127.0.0.1:" . ($_ < 3 ? $chain[$_ + 1] : $ap),
        log => $t->tmp . "/hop$_.log")
} 0 .. 3;

# the control: from hop 1, three redirects, as many as the depth allows

my ($cp, $ch) = map { $t->port } 1 .. 2;
my $ce = $t->nginx('edge-depth-ok', edge_conf(port => $cp, http => $ch,
    origins => ["127.0.0.1:$chain[1]"],
    app => 'cluster_retry_timeout 1s; cluster_redirect_depth 3;'),
    ports => [$cp, $ch]);
$p = $t->rtmp_play($cp, 'live', 's1', wait => 1);
ok(wait_video($p, count => 5, timeout => 10),
   'depth: three redirects are followed with depth 3');
is($ce->status($ch, '/cluster')->{redirects}{followed}, 3, 'depth: three followed');
$p->close;

# from hop 0: four redirects

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
$p->close;

$_->stop for $loop_x, $loop_y, @hops;

$t->check_logs;

done_testing;
