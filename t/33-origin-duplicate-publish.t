#!/usr/bin/perl

# A publish of a stream live on another origin is refused
# (NetStream.Publish.BadName, level error, naming that origin) and
# counted; the control: a stream no other origin has is accepted.

use strict;
use warnings;

use Test::More;

use lib 't/lib';
use ClusterTest;
use ClusterConf;

my $t = ClusterTest->new;
$t->skip_unless_module;

my ($ap, $ah, $bp, $bh) = map { $t->port } 1 .. 4;

my $a = $t->nginx('origin-a', cluster_origin_conf(port => $ap, http => $ah,
    coworkers => ["127.0.0.1:$bh"]), ports => [$ap, $ah]);
my $b = $t->nginx('origin-b', cluster_origin_conf(port => $bp, http => $bh,
    coworkers => ["127.0.0.1:$ah"]), ports => [$bp, $bh]);

$t->publish("rtmp://127.0.0.1:$ap/live/s1");
ok($t->wait_until(sub { $a->grep_log(qr/"live\/s1" registered/) }),
   's1 published on origin A');

my $q = $t->rtmp(port => $bp, app => 'live');
$q->create_stream;
is($q->publish('s2')->{code}, 'NetStream.Publish.Start',
   'a stream no other origin has: accepted');
$q->close;

$q = $t->rtmp(port => $bp, app => 'live');
$q->create_stream;
my $dup = $q->publish('s1');
is($dup->{code}, 'NetStream.Publish.BadName', 'duplicate publish refused');
is($dup->{info}{level}, 'error', 'with level error');
like($dup->{info}{description}, qr/already published on 127\.0\.0\.1:$ap/,
     'naming the origin');
is($b->status($bh, '/cluster')->{publishes_rejected}, 1, 'counted');
$q->close;

$t->check_logs;

done_testing;
