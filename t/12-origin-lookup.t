#!/usr/bin/perl

# Coworker lookups (cluster_coworkers): all coworkers are asked in
# parallel with SRS's request, the first positive answer wins at once
# whatever the others do (refuse, never answer), and when nobody has the
# stream the lookup ends with its timeout (cluster_lookup_timeout, 500 ms
# by default), naming the coworkers that failed.  Broken answers:
# t/34-origin-lookup-bad-answers.t; a storm of plays: t/35.

use strict;
use warnings;

use Test::More;
use Time::HiRes qw(time);

use lib 't/lib';
use ClusterTest;
use ClusterConf;
use FakeCoworker;

my $t = ClusterTest->new;
$t->skip_unless_module;

my $tmp = $t->tmp;
my $target = $t->port;        # the origin the coworkers name; not dialed
my $refused = $t->port;

my $ncw = 0;

sub cw {
    my ($mode, %o) = @_;
    return FakeCoworker->start(mode => $mode, log => "$tmp/cw-$mode-"
                               . ++$ncw . '.log',
                               origin_ip => '127.0.0.1',
                               origin_port => $target, %o);
}

sub origin {
    my ($name, $coworkers, %o) = @_;
    my ($p, $h) = map { $t->port } 1 .. 2;
    my $n = $t->nginx($name, cluster_origin_conf(port => $p, http => $h,
        coworkers => $coworkers, %o), ports => [$p, $h]);
    return ($n, $p, $h);
}

sub time_play {
    my ($port, $name, $re) = @_;
    my $c = $t->rtmp(port => $port, app => 'live');
    $c->create_stream;
    my $start = time;
    $c->play($name);
    my $m = $c->wait_status($re, timeout => 5);
    return ($m, time - $start, $c);
}

# one refuses, one never answers, one has the stream: the 302 comes at once

my $silent = cw('silent');
my $found = cw('found');
# a lookup timeout of 3 s: far from the answer that comes at once
my ($o1, $o1p, $o1h) = origin('o1', ["127.0.0.1:$refused",
    '127.0.0.1:' . $silent->port, '127.0.0.1:' . $found->port],
    app => 'cluster_lookup_timeout 3s;');

my ($m, $took) = time_play($o1p, 's1', qr/^NetConnection\.Connect\.Rejected$/);
ok($m, 'found by the third coworker: 302');
is($m && $m->{info}{ex}{redirect2}, "rtmp://127.0.0.1:$target/live/s1",
   'to the origin it named');
cmp_ok($took, '<', slow(1), sprintf('without waiting for the silent one '
                                    . '(%.3fs)', $took));
diag(sprintf 'lookup with one coworker dead, one silent, one that has the'
     . ' stream: %.0f ms from play to 302', $took * 1000);
is($found->requests, 1, 'the found coworker was asked once');
like(($found->request_lines)[0],
     qr{^POST /api/v1/clusters\?vhost=__defaultVhost__&ip=127\.0\.0\.1&app=live&stream=s1&coworker=127\.0\.0\.1:\d+$},
     'the request is SRS\'s');

# nobody has it: the lookup ends with its timeout

my $nf = cw('notfound');
my ($o2, $o2p, $o2h) = origin('o2', ["127.0.0.1:$refused",
    '127.0.0.1:' . $silent->port, '127.0.0.1:' . $nf->port],
    app => 'cluster_not_found reject;');

($m, $took) = time_play($o2p, 's2', qr/^NetStream\.Play\./);
is($m && $m->{code}, 'NetStream.Play.StreamNotFound', 'not found anywhere');
cmp_ok($took, '>=', 0.45, sprintf('after the lookup timeout (%.3fs)', $took));
cmp_ok($took, '<', 0.5 + slow(0.7), 'and not much later');
diag(sprintf 'lookup with one coworker dead, one silent, one without the'
     . ' stream: %.0f ms (cluster_lookup_timeout 500ms)', $took * 1000);
ok($o2->grep_log(qr/coworker "127\.0\.0\.1:${\ $silent->port}" did not answer the lookup of "live\/s2" within 500ms/),
   'error log: the silent coworker');
ok($o2->grep_log(qr/coworker "127\.0\.0\.1:$refused" failed the lookup of "live\/s2"/),
   'error log: the refusing coworker');
my $ls = $o2->status($o2h, '/cluster')->{lookups};
is($ls->{queries}, 3, 'status: three queries');
cmp_ok($ls->{errors}, '>=', 2, 'status: errors counted');

$_->stop for $silent, $found, $nf;

$t->check_logs;

done_testing;
