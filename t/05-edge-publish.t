#!/usr/bin/perl

# Publish through an edge: forwarded to the origin the hash picks (with
# the publisher's args), playable on that edge at once and on another edge
# that hashes to the same origin; when that origin dies the forward moves
# on without dropping the publisher, and the other edge's players follow;
# when the publisher leaves, the local players wait on a pull, and get
# the stream again when it is published through the other edge.  How
# the hash picks: t/28-edge-balance.t.

use strict;
use warnings;

use Test::More;

use lib 't/lib';
use ClusterTest;
use ClusterConf;

my $t = ClusterTest->new;
$t->skip_unless_module;

my ($o1p, $o2p, $e1p, $e1h, $e2p, $e2h) = map { $t->port } 1 .. 6;

my %origin = (
    "127.0.0.1:$o1p" => $t->nginx('origin1', origin_conf($o1p),
                                  ports => [$o1p], cluster => 0),
    "127.0.0.1:$o2p" => $t->nginx('origin2', origin_conf($o2p),
                                  ports => [$o2p], cluster => 0),
);

# the same origins, listed in another order: rendezvous hashing agrees
my $e1 = $t->nginx('edge1', edge_conf(port => $e1p, http => $e1h,
    origins => ["127.0.0.1:$o1p", "127.0.0.1:$o2p"],
    app => 'cluster_media_timeout 20s;'), ports => [$e1p, $e1h]);
my $e2 = $t->nginx('edge2', edge_conf(port => $e2p, http => $e2h,
    origins => ["127.0.0.1:$o2p", "127.0.0.1:$o1p"],
    app => 'cluster_media_timeout 20s;'), ports => [$e2p, $e2h]);

# publish through edge1

my $pub = $t->publish("rtmp://127.0.0.1:$e1p/live/p1?key=secret");

my $s;
ok($t->wait_until(sub {
    ($s) = stream_status($e1->status($e1h, '/cluster'), 'p1');
    $s && $s->{state} eq 'live';
}, timeout => 10), 'edge1: the publish is forwarded');
is($s->{kind}, 'publish', 'edge1 status: kind publish');
my $x = $s->{origin};
my ($y) = grep { $_ ne $x } keys %origin;
ok($origin{$x}, "forwarded to an origin ($x)");

like(($origin{$x}->grep_log(qr/publish: name='p1'/))[0] // '',
     qr/args='key=secret'/, 'the publisher\'s args reached the origin');

my $local = $t->rtmp_play($e1p, 'live', 'p1', wait => 1);
ok(wait_video($local, count => 10, timeout => 10),
   'played on edge1 itself');
($s) = stream_status($e1->status($e1h, '/cluster'), 'p1');
is($s->{players}, 1, 'edge1 status: one local player');

my $remote = $t->rtmp_play($e2p, 'live', 'p1', wait => 1);
ok(wait_video($remote, count => 10, timeout => 10),
   'played through edge2');
($s) = stream_status($e2->status($e2h, '/cluster'), 'p1');
is($s->{origin}, $x, 'edge2 pulls from the origin edge1 forwards to');

# the origin dies: the forward moves, the publisher stays

$origin{$x}->kill9;

ok($t->wait_until(sub {
    ($s) = stream_status($e1->status($e1h, '/cluster'), 'p1');
    $s && $s->{origin} eq $y && $s->{state} eq 'live';
}, timeout => 10), "edge1: the forward moved to $y");
ok($pub->alive, 'the publisher is still connected');
ok(wait_video($local, count => 25, timeout => 5),
   'the local player never noticed');

ok($remote->wait_message(sub { $_[0]{type} eq '9' && $_[0]{is_seq_header} },
                         timeout => 15),
   'edge2 player: new sequence header');
ok(wait_video($remote, count => 10, timeout => 10),
   'edge2 player: video from the other origin');
ok(!$remote->eof, 'edge2 player: same connection');
($s) = stream_status($e2->status($e2h, '/cluster'), 'p1');
is($s->{origin}, $y, 'edge2 followed to the same origin');

# the publisher leaves: its local players wait, pulling from the origins

$pub->stop;
ok($t->wait_until(sub {
    ($s) = stream_status($e1->status($e1h, '/cluster'), 'p1');
    $s && $s->{kind} eq 'pull';
}, timeout => 5), 'edge1: players left behind wait on a pull');
ok(!$local->eof, 'the local player is still connected');

# and the stream comes back through edge2
my $pub2 = $t->publish("rtmp://127.0.0.1:$e2p/live/p1");
ok(wait_video($local, count => 10, timeout => 20),
   'the publisher moved to edge2: edge1\'s player gets video again');

$local->close;
$remote->close;
$pub2->stop;

$t->check_logs;

done_testing;
