#!/usr/bin/perl

# Coworker lookups and broken answers: HTTP errors, garbage, a truncated
# body, a huge or a wrong-shaped JSON answer never count, each is logged
# with the coworker and why, the good answer still wins; with only broken
# coworkers the stream is not found within the lookup timeout; no worker
# dies.

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

my ($m) = time_play($o3p, 's3', qr/^NetConnection\.Connect\.Rejected$/);
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
my $took;
($m, $took) = time_play($o4p, 's4', qr/^NetStream\.Play\./);
is($m && $m->{code}, 'NetStream.Play.StreamNotFound',
   'only broken coworkers: not found');
cmp_ok($took, '<', 0.5 + slow(0.7), 'within the timeout');
is_deeply([sort $o3->worker_pids], [sort @workers], 'no worker died');

$_->stop for @bad, $slow;

$t->check_logs;

done_testing;
