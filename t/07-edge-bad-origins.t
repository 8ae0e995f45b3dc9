#!/usr/bin/perl

# Origins that answer RTMP but misbehave: reject the play, send a
# malformed status, send garbage, or never send media.  The edge moves on
# to the next origin (a rejection, StreamNotFound, at once; it and the
# silence are "not found", not counted against the origin's health), the
# worker survives, and the player gets the stream from the origin that
# has it.

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

my %fake = map {
    $_ => FakeOrigin->start(mode => $_, log => $t->tmp . "/fake-$_.log")
} qw(reject malformed garbage silent);

my ($op, $ep, $eh) = map { $t->port } 1 .. 3;
my $o = $t->nginx('origin', origin_conf($op), ports => [$op], cluster => 0);

my $edge = $t->nginx('edge', edge_conf(port => $ep, http => $eh,
    origins => [map({ "127.0.0.1:" . $fake{$_}->port }
                    qw(reject malformed garbage silent)),
                "127.0.0.1:$op"],
    app => 'cluster_balance order; cluster_media_timeout 1500ms;'),
    ports => [$ep, $eh]);

my @workers = $edge->worker_pids;

$t->publish("rtmp://127.0.0.1:$op/live/s1");
ok($t->wait_until(sub { $o->grep_log(qr/publish: name='s1'/) }), 'published');

my $start = time;
my $p = $t->rtmp_play($ep, 'live', 's1', wait => 1);
ok(wait_video($p, count => 10, timeout => 15),
   'the player gets video from the good origin');
my $took = time - $start;
cmp_ok($took, '<', slow(5),
       sprintf('through four bad origins in %.2fs', $took));

is($fake{$_}->served, 1, "the $_ origin was tried once") for sort keys %fake;

my $rp = $fake{reject}->port;
ok($edge->grep_log(qr/origin "127\.0\.0\.1:$rp" does not have "live\/s1": rejected with "NetStream\.Play\.StreamNotFound" \(No such stream\)/),
   'log: the rejection, with the origin\'s code and description');
ok($edge->grep_log(qr/127\.0\.0\.1:${\ $fake{silent}->port }" does not have .*no media in time/),
   'log: the silent origin');
ok($edge->grep_log(qr/127\.0\.0\.1:${\ $fake{malformed}->port }" failed .*malformed status message/),
   'log: the malformed status');

my $st = $edge->status($eh, '/cluster');
is(origin_status($st, "127.0.0.1:$rp")->{health}, 'up',
   'a rejected play does not count against the origin\'s health');
is(origin_status($st, "127.0.0.1:${\ $fake{$_}->port }")->{health}, 'down',
   "$_ does") for qw(garbage malformed);
my ($s) = stream_status($st, 's1');
is($s->{origin}, "127.0.0.1:$op", 'status: pulling from the good origin');

is_deeply([sort $edge->worker_pids], [sort @workers], 'the worker survived');

$p->close;
$_->stop for values %fake;

$t->check_logs;

done_testing;
