#!/usr/bin/perl

# Where an origin sends a 302: never to an address a coworker got wrong
# (0.0.0.0, garbage, nothing, numbers read two ways): the answer is logged as a bad one and the
# play is not found, no redirect sent.  The control: a coworker naming a
# good address gets the player redirected.

use strict;
use warnings;

use Test::More;

use lib 't/lib';
use ClusterTest;
use ClusterConf;
use FakeCoworker;

my $t = ClusterTest->new;
$t->skip_unless_module;

my $op = $t->port;      # the origin the coworkers name; never dialed

for my $ip ('127.0.0.1', '0.0.0.0', 'bad host!', '', '0x0', '010.0.0.1',
            '0.0.0x0') {
    my $good = $ip eq '127.0.0.1';
    my $cw = FakeCoworker->start(mode => 'found', origin_ip => $ip,
        origin_port => $op, log => $t->tmp . '/cw.log');
    my ($gp, $gh) = map { $t->port } 1 .. 2;
    my $g = $t->nginx('origin-' . ($ip =~ s/\W/_/gr || 'empty'),
        cluster_origin_conf(port => $gp, http => $gh,
            coworkers => ['127.0.0.1:' . $cw->port],
            app => 'cluster_not_found reject;'),
        ports => [$gp, $gh]);
    my $q = $t->rtmp_play($gp, 'live', 's1');
    my $m = $q->wait_status(qr/^(NetStream\.Play\.StreamNotFound|NetConnection\.Connect\.Rejected)$/,
                            timeout => 10);
    if ($good) {
        is($m && $m->{info}{ex}{redirect2}, "rtmp://127.0.0.1:$op/live/s1",
           "coworker answers \"$ip\": a 302 there (control)");
        is($g->status($gh, '/cluster')->{redirects}{sent}, 1,
           "coworker answers \"$ip\": one redirect sent (control)");
    } else {
        is($m && $m->{code}, 'NetStream.Play.StreamNotFound',
           "coworker answers \"$ip\": not found, no 302");
        ok($g->grep_log(qr/failed the lookup .*"origin\.ip"/),
           "coworker answers \"$ip\": logged as a bad answer");
        is($g->status($gh, '/cluster')->{redirects}{sent}, 0,
           "coworker answers \"$ip\": no redirect sent");
    }
    $q->close;
    $g->stop;
    $cw->stop;
}

$t->check_logs;

done_testing;
