#!/usr/bin/perl

# How an edge picks the first origin for a stream (cluster_balance):
# round_robin starts new streams on alternate origins; hash (the
# default) is rendezvous hashing, so two edges listing the same origins
# in another order agree on every stream, and streams spread over the
# origins.  "order": t/02-edge-pull.t.

use strict;
use warnings;

use Test::More;

use lib 't/lib';
use ClusterTest;
use ClusterConf;

my $t = ClusterTest->new;
$t->skip_unless_module;

my ($o1p, $o2p, $rp, $rh, $e1p, $e1h, $e2p, $e2h) = map { $t->port } 1 .. 8;

# nobody publishes: each stream stays on its first origin, waiting for
# media (cluster_media_timeout)
my $o1 = $t->nginx('origin1', origin_conf($o1p), ports => [$o1p], cluster => 0);
my $o2 = $t->nginx('origin2', origin_conf($o2p), ports => [$o2p], cluster => 0);

# round_robin: new streams start on alternate origins

my $rr = $t->nginx('edge-rr', edge_conf(port => $rp, http => $rh,
    origins => ["127.0.0.1:$o1p", "127.0.0.1:$o2p"],
    app => 'cluster_balance round_robin; cluster_media_timeout 10s;'),
    ports => [$rp, $rh]);

my @players = map { $t->rtmp_play($rp, 'live', "rr$_", wait => 1) } 1 .. 4;
my %first;
ok($t->wait_until(sub {
    my $x = $rr->status($rh, '/cluster');
    %first = map { $_->{name} => $_->{origin} } @{$x->{streams}};
    4 == grep { defined } values %first;
}, timeout => 3), 'round_robin: four streams started');
is(scalar(grep { $_ eq "127.0.0.1:$o1p" } values %first), 2,
   'round_robin: two streams start on origin1');
is(scalar(grep { $_ eq "127.0.0.1:$o2p" } values %first), 2,
   'round_robin: two streams start on origin2');
$_->close for @players;

# hash: the same origins, listed in another order; both edges pick the
# same first origin for every stream

my $e1 = $t->nginx('edge1', edge_conf(port => $e1p, http => $e1h,
    origins => ["127.0.0.1:$o1p", "127.0.0.1:$o2p"],
    app => 'cluster_media_timeout 20s;'), ports => [$e1p, $e1h]);
my $e2 = $t->nginx('edge2', edge_conf(port => $e2p, http => $e2h,
    origins => ["127.0.0.1:$o2p", "127.0.0.1:$o1p"],
    app => 'cluster_media_timeout 20s;'), ports => [$e2p, $e2h]);

# the origins' ports change from run to run, and with them the hash: 24
# streams, so that all of them landing on one origin (2 in 2^24) is not
# taken for a failure to spread
my $N = 24;
my @names = map { "h$_" } 1 .. $N;
@players = map { ($t->rtmp_play($e1p, 'live', $_),
                  $t->rtmp_play($e2p, 'live', $_)) } @names;
my (%first1, %first2);
ok($t->wait_until(sub {
    %first1 = map { $_->{name} => $_->{origin} }
              @{$e1->status($e1h, '/cluster')->{streams}};
    %first2 = map { $_->{name} => $_->{origin} }
              @{$e2->status($e2h, '/cluster')->{streams}};
    $N == grep({ defined $first1{$_} } @names)
        && $N == grep({ defined $first2{$_} } @names);
}, timeout => 5), "hash: $N streams started on both edges");
is_deeply([@first2{@names}], [@first1{@names}],
          "hash: both edges pick the same origin for $N streams");
my %used = map { $_ => 1 } grep { defined } values %first1;
is(scalar keys %used, 2, "hash: the $N streams spread over both origins");
$_->close for @players;

$t->check_logs;

done_testing;
