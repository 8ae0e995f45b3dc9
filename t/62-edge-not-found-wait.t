#!/usr/bin/perl

# A player that comes to the edge before the stream is published waits,
# connected, while the edge asks every origin of its list again with a
# short backoff; once any of them has the stream the player gets video
# at once.  With SRS-like origins (Play.Reset, Play.Start, then a close:
# FakeOrigin's srs_not_found) and with origins of ours in
# "cluster_not_found reject" (StreamNotFound), the stream published on
# the second origin of the list.

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

my $tmp = $t->tmp;

# the edge's status shows the stream waiting and both origins asked
sub waiting_at_both {
    my ($edge, $eh, $name, @addr) = @_;
    my $st = $edge->status($eh, '/cluster') or return 0;
    my ($s) = stream_status($st, $name);
    return 0 unless $s && $s->{state} eq 'waiting';
    for my $a (@addr) {
        my $o = origin_status($st, $a) or return 0;
        return 0 unless ($o->{not_found} // 0) >= 2 && $o->{total_fails} == 0;
    }
    return 1;
}

subtest 'SRS-like origins' => sub {
    my @flag = map { "$tmp/published-$_" } 1, 2;
    my @fo = map {
        FakeOrigin->start(mode => 'srs_not_found', publish_flag => $flag[$_],
                          log => "$tmp/fake-srs$_.log")
    } 0, 1;
    my @addr = map { '127.0.0.1:' . $_->port } @fo;
    my ($ep, $eh) = map { $t->port } 1, 2;

    my $edge = $t->nginx('edge-srs', edge_conf(port => $ep, http => $eh,
        origins => \@addr, app => 'cluster_balance order;'),
        ports => [$ep, $eh]);

    my $p = $t->rtmp_play($ep, 'live', 's1', wait => 1);

    ok($t->wait_until(sub { waiting_at_both($edge, $eh, 's1', @addr) }),
       'waiting; both origins asked again, none counted as failed');

    # published on the second origin of the list
    open my $fh, '>', $flag[1] or die "$flag[1]: $!";
    close $fh;
    my $t0 = time;

    ok(wait_video($p, count => 1, timeout => 10), 'the player gets video');
    my $took = time - $t0;
    cmp_ok($took, '<', slow(3),
           sprintf('%.2fs after the publish', $took));

    my $st = $edge->status($eh, '/cluster');
    my ($s) = stream_status($st, 's1');
    is($s->{state}, 'live', 'status: live');
    is($s->{origin}, $addr[1], 'status: from the origin that has it');
    is(origin_status($st, $_)->{circuit}, 'closed', "$_: circuit closed")
        for @addr;

    $p->close;
    $_->stop for @fo;
    $edge->stop;
};

subtest 'our origins in cluster_not_found reject' => sub {
    my ($ap, $ah, $bp, $bh, $ep, $eh) = map { $t->port } 1 .. 6;

    my @o = map {
        my ($port, $http) = @$_;
        $t->nginx("origin-$port", cluster_origin_conf(port => $port,
            http => $http, app => 'cluster_not_found reject;'),
            ports => [$port, $http]);
    } [$ap, $ah], [$bp, $bh];
    my @addr = ("127.0.0.1:$ap", "127.0.0.1:$bp");

    my $edge = $t->nginx('edge-ours', edge_conf(port => $ep, http => $eh,
        origins => \@addr, app => 'cluster_balance order;'),
        ports => [$ep, $eh]);

    my $p = $t->rtmp_play($ep, 'live', 's2', wait => 1);

    ok($t->wait_until(sub { waiting_at_both($edge, $eh, 's2', @addr) }),
       'waiting; both origins asked again, none counted as failed');

    my $t0 = time;
    my $pub = synthetic_publisher($bp, 's2', frames => 500);

    ok(wait_video($p, count => 1, timeout => 10), 'the player gets video');
    my $took = time - $t0;
    cmp_ok($took, '<', slow(3),
           sprintf('%.2fs after the publish started', $took));

    my ($s) = stream_status($edge->status($eh, '/cluster'), 's2');
    is($s->{origin}, $addr[1], 'status: from the origin that has it');

    ok($edge->grep_log(qr/does not have "live\/s2": rejected with "NetStream\.Play\.StreamNotFound"/),
       'log: StreamNotFound is "not found"');

    $p->close;
    stop_publisher($pub);
};

$t->check_logs;

done_testing;
