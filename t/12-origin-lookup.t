#!/usr/bin/perl

# Coworker lookups: all coworkers asked in parallel, the first positive
# answer wins, the lookup ends within its timeout whatever the others do
# (refuse, never answer, HTTP errors, garbage, truncated, huge or
# wrong-shaped JSON), and a storm of plays of one stream, over two
# workers, makes one query per coworker.

use strict;
use warnings;

use Test::More;
use Time::HiRes qw(time sleep);

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
my ($o1, $o1p, $o1h) = origin('o1', ["127.0.0.1:$refused",
    '127.0.0.1:' . $silent->port, '127.0.0.1:' . $found->port]);

my ($m, $took) = time_play($o1p, 's1', qr/^NetConnection\.Connect\.Rejected$/);
ok($m, 'found by the third coworker: 302');
is($m && $m->{info}{ex}{redirect2}, "rtmp://127.0.0.1:$target/live/s1",
   'to the origin it named');
cmp_ok($took, '<', 0.4, sprintf('without waiting for the silent one (%.3fs)',
                                $took));
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
cmp_ok($took, '<', 1.2, 'and not much later');
diag(sprintf 'lookup with one coworker dead, one silent, one without the'
     . ' stream: %.0f ms (cluster_lookup_timeout 500ms)', $took * 1000);
ok($o2->grep_log(qr/coworker "127\.0\.0\.1:${\ $silent->port}" did not answer the lookup of "live\/s2" within 500ms/),
   'error log: the silent coworker');
ok($o2->grep_log(qr/coworker "127\.0\.0\.1:$refused" failed the lookup of "live\/s2"/),
   'error log: the refusing coworker');
my $ls = $o2->status($o2h, '/cluster')->{lookups};
is($ls->{queries}, 3, 'status: three queries');
cmp_ok($ls->{errors}, '>=', 2, 'status: errors counted');

# malformed answers never count, the good one still does

my @bad = (cw('http500'), cw('http404'), cw('garbage'), cw('truncated'),
           cw('huge'), cw('wrongshape'), cw('wrongshape', shape => 'codestring'),
           cw('wrongshape', shape => 'array'));
# the good one answers last, so every broken answer is read (and logged)
# before the lookup ends and cancels what is left
my $slow = cw('slow', delay => 1);
my ($o3, $o3p) = origin('o3', [map({ '127.0.0.1:' . $_->port } @bad),
                               '127.0.0.1:' . $slow->port],
                        app => 'cluster_lookup_timeout 3s;');
my @workers = $o3->worker_pids;

($m) = time_play($o3p, 's3', qr/^NetConnection\.Connect\.Rejected$/);
ok($m, 'eight broken coworkers and one good: the good one wins');
for my $cw (@bad) {
    my $mode = $cw->mode . ($cw->{shape} ? "/$cw->{shape}" : '');
    ok($o3->grep_log(qr/coworker "127\.0\.0\.1:${\ $cw->port}" failed the lookup of "live\/s3" \(HTTP \d+ after \d+ms\): \S/),
       "error log names the $mode coworker and why");
}
ok($o3->grep_log(qr/failed the lookup .*answer too large/), 'huge: too large');
ok($o3->grep_log(qr/failed the lookup .*no integer "code" 0/),
   'code as a string: refused');

my ($o4, $o4p) = origin('o4', [map { '127.0.0.1:' . $_->port } @bad],
                        app => 'cluster_not_found reject;');
($m, $took) = time_play($o4p, 's4', qr/^NetStream\.Play\./);
is($m && $m->{code}, 'NetStream.Play.StreamNotFound',
   'only broken coworkers: not found');
cmp_ok($took, '<', 1.2, 'within the timeout');
is_deeply([sort $o3->worker_pids], [sort @workers], 'no worker died');

# a storm: 100 plays of one missing stream over two workers

my $storm_found = cw('slow', delay => 0.3);
my $storm_nf = cw('notfound');
my ($o5, $o5p, $o5h) = origin('o5', ['127.0.0.1:' . $storm_found->port,
                                     '127.0.0.1:' . $storm_nf->port],
                              workers => 2,
                              rtmp => 'cluster_reuseport on;',
                              app => 'cluster_lookup_cache 2s 1s;');
ok($t->wait_until(sub { $o5->worker_pids == 2 }), 'two workers');

# connected first, so the 100 plays leave together
my @players;
for (1 .. 100) {
    my $c = $t->rtmp(port => $o5p, app => 'live');
    $c->create_stream;
    push @players, $c;
}
my $storm_start = time;
$_->play('storm') for @players;
my $storm_took = time - $storm_start;
my $redirected = grep {
    $_->wait_status(qr/^NetConnection\.Connect\.Rejected$/, timeout => 5)
} @players;
is($redirected, 100, 'all 100 players redirected');
is($storm_found->requests, 1, 'one query to the coworker that has it');
is($storm_nf->requests, 1, 'one query to the other');
my $st = $o5->status($o5h, '/cluster')->{lookups};
is($st->{queries}, 2, 'status: 2 queries for 100 plays');
is($st->{total}, 100, 'status: 100 lookups');
is($st->{cache_hits} + $st->{joined}, 99, 'status: 99 served by the flight or the cache');
diag("coworker queries for 100 simultaneous plays over 2 workers: "
     . ($storm_found->requests + $storm_nf->requests)
     . " ($st->{joined} joined the flight, $st->{cache_hits} from the cache;"
     . sprintf(" plays sent in %.2fs)", $storm_took));
$_->close for @players;

sleep 0.1 while time - $storm_start < 2.5;
($m) = time_play($o5p, 'storm', qr/^NetConnection\.Connect\.Rejected$/);
ok($m, 'after the cache time: redirected again');
is($storm_found->requests, 2, 'after the cache time: asked again');

$_->stop for $silent, $found, $nf, @bad, $slow, $storm_found, $storm_nf;

$t->check_logs;

done_testing;
