#!/usr/bin/perl

# A play of a stream no origin has: "cluster_not_found reject" answers
# NetStream.Play.StreamNotFound and closes; the default ("wait") keeps the
# player connected, waiting for a publisher.

use strict;
use warnings;

use Test::More;

use lib 't/lib';
use ClusterTest;
use ClusterConf;

my $t = ClusterTest->new;
$t->skip_unless_module;

my ($ap, $ah, $bp, $bh, $cp, $ch) = map { $t->port } 1 .. 6;

my $a = $t->nginx('origin-a', cluster_origin_conf(port => $ap, http => $ah),
                  ports => [$ap, $ah]);
my $b = $t->nginx('origin-b', cluster_origin_conf(port => $bp, http => $bh,
    coworkers => ["127.0.0.1:$ah"]), ports => [$bp, $bh]);
my $c = $t->nginx('origin-c', cluster_origin_conf(port => $cp, http => $ch,
    coworkers => ["127.0.0.1:$ah"], app => 'cluster_not_found reject;'),
    ports => [$cp, $ch]);

# reject: the player is told, then closed

my $p = $t->rtmp_play($cp, 'live', 'nothing');
my $nf = $p->wait_status(qr/^NetStream\.Play\./, timeout => 5);
is($nf && $nf->{code}, 'NetStream.Play.StreamNotFound', 'reject: StreamNotFound');
$p->wait_message(sub { 0 }, timeout => 3);
ok($p->eof, 'reject: then closed');

# wait: the same look finds the player still connected

$p = $t->rtmp_play($bp, 'live', 'nothing');
my $w = $p->wait_status(qr/^NetStream\.Play\./, timeout => 5);
is($w && $w->{code}, 'NetStream.Play.Start', 'wait: the player waits');
$p->wait_message(sub { 0 }, timeout => 2);
ok(!$p->eof, 'wait: still connected');
$p->close;

$t->check_logs;

done_testing;
