#!/usr/bin/perl

# RTMP 302 between origins, checked on the wire: an origin that finds the
# stream on a coworker answers a play with SRS's 302 (onStatus on message
# stream 0 after Play.Reset and Play.Start, redirect and redirect2 with
# the player's args) or, with "cluster_redirect fms", FMS's (a rejection
# whose ex.redirect is the full URL), then closes.  Edges following them:
# t/29; loops and depth: t/30; proxy: t/31; not found: t/32; a duplicate
# publish: t/33.

use strict;
use warnings;

use Test::More;

use lib 't/lib';
use ClusterTest;
use ClusterConf;

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

# SRS dialect, on the wire

my $p = $t->rtmp_play($bp, 'live', 's1?token=x');
my @codes;
my $r302 = $p->wait_message(sub {
    my $m = shift;
    return 0 unless ($m->{name} // '') eq 'onStatus';
    push @codes, $m->{code} // '';
    return ($m->{code} // '') eq 'NetConnection.Connect.Rejected';
}, timeout => 5);
ok($r302, 'SRS dialect: a 302 from origin B');
is_deeply([@codes[0, 1]], ['NetStream.Play.Reset', 'NetStream.Play.Start'],
          'after play was answered');
is($r302->{msid}, 0, 'on message stream 0');
is($r302->{csid}, 5, 'on chunk stream 5');
is($r302->{trans}, 0, 'transaction id 0');
is($r302->{info}{level}, 'error', 'level error');
is($r302->{info}{description}, 'RTMP 302 Redirect', 'description');
is($r302->{info}{ex}{code}, 302, 'ex.code 302');
is($r302->{info}{ex}{redirect}, "rtmp://127.0.0.1:$ap/live",
   'ex.redirect is the tcUrl');
is($r302->{info}{ex}{redirect2}, "rtmp://127.0.0.1:$ap/live/s1?token=x",
   'ex.redirect2 is the full URL with the player\'s args');
$p->wait_message(sub { 0 }, timeout => 5);
ok($p->eof, 'the origin closes the connection afterwards');

# FMS dialect

$p = $t->rtmp_play($cp, 'live', 's1');
my $fms = $p->wait_status(qr/^NetConnection\.Connect\.Rejected$/, timeout => 5);
ok($fms, 'FMS dialect: a rejection');
is($fms->{info}{ex}{code}, 302, 'FMS: ex.code 302');
is($fms->{info}{ex}{redirect}, "rtmp://127.0.0.1:$ap/live/s1",
   'FMS: ex.redirect is the full URL');
ok(!exists $fms->{info}{ex}{redirect2}, 'FMS: no redirect2');
$p->close;

$t->check_logs;

done_testing;
