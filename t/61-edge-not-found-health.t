#!/usr/bin/perl

# An origin that took the play but has no such stream is "not found",
# not a failed origin: an SRS origin (Play.Reset, Play.Start, then a
# close), one of ours in "cluster_not_found reject" (StreamNotFound) and
# one that stays silent past cluster_media_timeout.  Their health and
# circuits do not change, their not_found counts go up, the edge keeps
# asking them (an open circuit would leave them out of its rounds) and
# shows the stream as "waiting".  Controls: a refused connection and
# garbage are still failures that open the circuit.

use strict;
use warnings;

use Test::More;

use lib 't/lib';
use ClusterTest;
use ClusterConf;
use FakeOrigin;

my $t = ClusterTest->new;
$t->skip_unless_module;

my @nf = qw(srs_not_found reject silent);
my %fake = map {
    $_ => FakeOrigin->start(mode => $_, log => $t->tmp . "/fake-$_.log")
} @nf, 'garbage';

my ($refused, $ep, $eh) = map { $t->port } 1 .. 3;
my %addr = (refused => "127.0.0.1:$refused",
            map { $_ => "127.0.0.1:" . $fake{$_}->port } keys %fake);

my $edge = $t->nginx('edge', edge_conf(port => $ep, http => $eh,
    origins => [map { $addr{$_} } @nf, 'garbage', 'refused'],
    app => 'cluster_balance order; cluster_media_timeout 1s;'
         . ' cluster_not_found_backoff 100ms 300ms;'),
    ports => [$ep, $eh]);

my $p = $t->rtmp_play($ep, 'live', 's1', wait => 1);

# each "not found" origin is asked again: its circuit stayed closed
ok($t->wait_until(sub { !grep { $fake{$_}->served < 3 } @nf },
                  timeout => 20),
   'every "not found" origin was asked at least three times')
    or diag(join ', ', map { "$_: " . $fake{$_}->served } @nf);

my $st = $edge->status($eh, '/cluster');

for my $m (@nf) {
    my $o = origin_status($st, $addr{$m}) // {};
    is($o->{circuit}, 'closed', "$m: circuit closed");
    is($o->{health}, 'up', "$m: health up");
    is($o->{total_fails}, 0, "$m: no failure counted");
    cmp_ok($o->{not_found} // 0, '>=', 2, "$m: not_found counted");
}

# the controls: the same status shows real failures
for my $m (qw(garbage refused)) {
    my $o = origin_status($st, $addr{$m}) // {};
    is($o->{circuit}, 'open', "control: $m opens its circuit");
    cmp_ok($o->{total_fails} // 0, '>=', 1, "control: $m counts a failure");
    is($o->{not_found}, 0, "control: $m is not \"not found\"");
}
is($fake{garbage}->served, 1, 'control: the garbage origin was left out '
                              . 'after its failure');

my ($s) = stream_status($st, 's1');
is($s->{state}, 'waiting', 'status: the stream is waiting');

ok($edge->grep_log(qr/cluster: origin "\Q$addr{srs_not_found}\E" does not have "live\/s1": closed after play/),
   'log: the SRS origin closed after the play');
ok($edge->grep_log(qr/cluster: origin "\Q$addr{reject}\E" does not have "live\/s1": rejected with "NetStream\.Play\.StreamNotFound"/),
   'log: StreamNotFound');
ok($edge->grep_log(qr/cluster: origin "\Q$addr{silent}\E" does not have "live\/s1": no media in time/),
   'log: silent past the media timeout');
ok($edge->grep_log(qr/cluster: no origin has "live\/s1" yet, asking again in \d+ms/),
   'log: asking again');
ok(!$edge->grep_log(qr/origin "\Q$addr{$_}\E" failed/), "log: $_ not failed")
    for @nf;
ok($edge->grep_log(qr/origin "\Q$addr{garbage}\E" failed/),
   'log: control: garbage failed');

$p->close;
$_->stop for values %fake;

$t->check_logs;

done_testing;
