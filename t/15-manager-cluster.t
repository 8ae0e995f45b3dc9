#!/usr/bin/perl

# Origins with a stream manager (cluster_stream_manager), the leases' life: a
# publish takes a lease naming the origin's RTMP port, a second origin's
# publish of it is refused, the lease is renewed at a third of the TTL the
# manager grants, expires by itself when its origin is killed (then
# another origin may publish), and is released at once when the
# publisher leaves; neither the secret nor a token reaches a log.
# Lookups through the manager: t/48; a wrong secret: t/49; Redis away:
# t/50.

use strict;
use warnings;

use Test::More;
use JSON::PP;
use HTTP::Tiny;
use Time::HiRes qw(time);

use lib 't/lib';
use ClusterTest;
use ClusterConf;
use Redis;

my $t = ClusterTest->new;
$t->skip_unless_module;
$t->skip_unless_redis;

my ($rp, $mh, $ap, $ah, $bp, $bh) = map { $t->port } 1 .. 6;
my $secret = 'cluster-secret-42';

my $redis = $t->redis_server($rp);
ok(Redis->ping($rp), 'redis-server up');

my $m = $t->nginx('manager', manager_conf(http => $mh, locations =>
    "location /streams/ { cluster_stream_manager redis=127.0.0.1:$rp ttl=3s "
    . "max_ttl=3s secret=$secret; }"),
    ports => [$mh]);

# 30 s asked, 3 s granted: renewed every second
my $mgr = "cluster_manager http://127.0.0.1:$mh/streams/; "
        . "cluster_manager_secret $secret; "
        . 'cluster_lease_ttl 30s; cluster_not_found reject;';

my $a = $t->nginx('origin-a', cluster_origin_conf(port => $ap, http => $ah,
    app => $mgr), ports => [$ap, $ah]);
my $b = $t->nginx('origin-b', cluster_origin_conf(port => $bp, http => $bh,
    app => $mgr), ports => [$bp, $bh]);

my $http = HTTP::Tiny->new(timeout => slow(3));
sub lease {
    my $r = $http->get("http://127.0.0.1:$mh/streams/live/$_[0]");
    return $r->{status} == 200 ? decode_json($r->{content}) : undef;
}

# a publish takes a lease

my $pub = $t->publish("rtmp://127.0.0.1:$ap/live/s1");
ok($t->wait_until(sub { lease('s1') }, timeout => 5), 'A leased s1');
is(lease('s1')->{origin}{port}, $ap, 'the lease names A\'s RTMP port');
cmp_ok(lease('s1')->{ttl_ms}, '<=', 3000, 'the TTL granted: 3 s');
is($a->status($ah, '/cluster')->{manager}{leases_held}, 1,
   'A status: one lease held');

# the same stream published on B is refused

my $c = $t->rtmp(port => $bp, app => 'live');
$c->create_stream;
my $dup = $c->publish('s1');
is($dup->{code}, 'NetStream.Publish.BadName', 'a second origin is refused');
like($dup->{info}{description}, qr/already published on 127\.0\.0\.1:$ap/,
     'naming the lease holder');
$c->close;

# the lease is renewed while A lives: watched for 4 s, longer than the
# 3 s granted (time passes on purpose), it never lapses and its TTL goes
# up again at each renewal

my ($lapsed, $renewals, $last) = (0, 0, undef);
my $watch = time;
$t->wait_until(sub {
    my $l = lease('s1');
    $lapsed++ unless $l;
    $renewals++ if $l && defined $last && $l->{ttl_ms} > $last;
    $last = $l && $l->{ttl_ms};
    return time - $watch >= 4;
}, timeout => 5, interval => 0.1);
ok(!$lapsed && lease('s1'),
   'the lease is renewed at a third of the 3 s granted');
cmp_ok($renewals, '>=', 2, "renewed $renewals times in 4 s");
is($a->status($ah, '/cluster')->{manager}{renew_failures}, 0,
   'no renewal failed');

# A dies: its lease expires by itself, and B may publish

$a->kill9;
my $killed = time;
ok($t->wait_until(sub { !lease('s1') }, timeout => 6),
   sprintf('the dead origin\'s lease expired (%.1fs after kill -9)',
           time - $killed));
$c = $t->rtmp(port => $bp, app => 'live');
$c->create_stream;
is($c->publish('s1')->{code}, 'NetStream.Publish.Start',
   'then B may publish it');
ok($t->wait_until(sub { (lease('s1') // {})->{origin}{port} == $bp },
                  timeout => 5), 'B holds the lease');

# a publisher leaving releases its lease at once

$c->close;
ok($t->wait_until(sub { !lease('s1') }, timeout => 2),
   'unpublish: the lease is released');

# the logs hold the requests (nginx logs one after its answer), but
# neither the secret nor a token

my $access = $m->prefix . '/logs/access.log';
ok($t->wait_until(sub {
    ClusterTest::_read_file($access) =~ m{"DELETE /streams/live/s1 HTTP/1\.1" 200 }
}), 'the release is in the manager\'s access log');
ok(!grep({ index($_, $secret) >= 0 || /token=/ } split /\n/,
         ClusterTest::_read_file($access)
         . join('', map { $_->error_log_text } $m, $a, $b)),
   'neither the secret nor a token in the logs');

$redis->stop;

$t->check_logs;

done_testing;
