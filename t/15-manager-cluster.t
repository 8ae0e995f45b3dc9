#!/usr/bin/perl

# Origins with a stream manager: a publish takes a lease (a second origin
# is refused), renewed at a third of the TTL the manager grants, with the
# manager's secret (an origin with a wrong one gets no lease); a miss asks
# the manager (not the coworkers) and redirects, a dead origin's lease
# expires by itself, Redis going away makes lookups fail fast and
# registrations retried until it is back.

use strict;
use warnings;

use Test::More;
use JSON::PP;
use HTTP::Tiny;
use Time::HiRes qw(time sleep);

use lib 't/lib';
use ClusterTest;
use ClusterConf;

my $t = ClusterTest->new;
$t->skip_unless_module;

my ($rp, $mh, $ap, $ah, $bp, $bh, $ep, $eh, $cp, $ch)
    = map { $t->port } 1 .. 10;
my $secret = 'cluster-secret-42';

my $redis = $t->redis_server($rp);
ok($t->wait_until(sub { $t->port_open($rp) },
                  timeout => 5), 'redis-server up');

my $m = $t->nginx('manager', manager_conf(http => $mh, locations =>
    "location /streams/ { cluster_stream_manager redis=127.0.0.1:$rp "
    . "ttl=3s max_ttl=3s secret=$secret; }\n"
    . "location /api/v1/clusters { "
    . "cluster_stream_manager redis=127.0.0.1:$rp; }"),
    ports => [$mh]);

# 30 s asked, 3 s granted: renewed every second
my $mgr = "cluster_manager http://127.0.0.1:$mh/streams/; "
        . "cluster_manager_secret $secret; "
        . 'cluster_lease_ttl 30s; cluster_not_found reject;';

my $a = $t->nginx('origin-a', cluster_origin_conf(port => $ap, http => $ah,
    app => $mgr), ports => [$ap, $ah]);
my $b = $t->nginx('origin-b', cluster_origin_conf(port => $bp, http => $bh,
    app => $mgr), ports => [$bp, $bh]);
my $e = $t->nginx('edge', edge_conf(port => $ep, http => $eh,
    origins => ["127.0.0.1:$bp"]), ports => [$ep, $eh]);

my $http = HTTP::Tiny->new(timeout => 3);
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

# a miss on B asks the manager, redirects; the edge follows

my $p = $t->rtmp_play($ep, 'live', 's1', wait => 1);
ok(wait_video($p, count => 10, timeout => 10),
   'edge -> B -> manager -> 302 to A: video');
my $bs = $b->status($bh, '/cluster');
is($bs->{lookups}{found}, 1, 'B found it');
is($bs->{lookups}{queries}, 0, 'without asking coworkers');
cmp_ok($bs->{manager}{requests}, '>=', 1, 'B asked the manager');
is($bs->{manager}{health}, 'up', 'B: manager up');
$p->close;

# SRS's API, answered by the manager

my $srs = $http->get("http://127.0.0.1:$mh/api/v1/clusters?vhost=__defaultVhost__"
                     . "&ip=127.0.0.1&app=live&stream=s1&coworker=127.0.0.1:$mh");
my $j = eval { decode_json($srs->{content}) };
is($j && $j->{data}{origin}{port}, $ap, 'the manager answers SRS\'s API');

# the same stream published on B is refused

my $c = $t->rtmp(port => $bp, app => 'live');
$c->create_stream;
my $dup = $c->publish('s1');
is($dup->{code}, 'NetStream.Publish.BadName', 'a second origin is refused');
like($dup->{info}{description}, qr/already published on 127\.0\.0\.1:$ap/,
     'naming the lease holder');
$c->close;

# the lease is renewed while A lives: still there after twice the TTL

sleep 4;
ok(lease('s1'), 'the lease is renewed at a third of the 3 s granted');
is($a->status($ah, '/cluster')->{manager}{renew_failures}, 0,
   'no renewal failed');

# an origin with another secret: no lease, the publish goes on

my $c3 = $t->nginx('origin-c', cluster_origin_conf(port => $cp, http => $ch,
    app => "cluster_manager http://127.0.0.1:$mh/streams/; "
           . 'cluster_manager_secret not-the-secret;'), ports => [$cp, $ch]);
$c = $t->rtmp(port => $cp, app => 'live');
$c->create_stream;
is($c->publish('s3')->{code}, 'NetStream.Publish.Start',
   'a wrong secret: the publish goes on');
ok($c3->wait_log(qr/\[error\].* failed \(HTTP 401 .*the secret was refused/,
                 timeout => 3),
   'a wrong secret: logged at the error level');
ok(!lease('s3'), 'a wrong secret: no lease');
$c->close;
$c3->stop;

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

# Redis goes away: lookups fail fast, registrations are retried

$redis->stop;
sleep 0.3;

my $start = time;
$p = $t->rtmp_play($bp, 'live', 'missing');
my $nf = $p->wait_status(qr/^NetStream\.Play\./, timeout => 5);
my $took = time - $start;
is($nf && $nf->{code}, 'NetStream.Play.StreamNotFound', 'Redis down: not found');
cmp_ok($took, '<', 1, sprintf('fast (%.3fs)', $took));
$p->close;

$c = $t->rtmp(port => $bp, app => 'live');
$c->create_stream;
is($c->publish('s2')->{code}, 'NetStream.Publish.Start',
   'Redis down: a publish goes on');
is($b->status($bh, '/cluster')->{manager}{health}, 'down',
   'B status: manager down');

$redis = $t->redis_server($rp);
ok($t->wait_until(sub { lease('s2') }, timeout => 8),
   'Redis back: the registration was retried');
is($b->status($bh, '/cluster')->{manager}{health}, 'up', 'B: manager up again');
$c->close;

ok(!grep({ index($_, $secret) >= 0 || /token=/ } split /\n/,
         ClusterTest::_read_file($m->prefix . '/logs/access.log')
         . join('', map { $_->error_log_text } $m, $a, $b)),
   'neither the secret nor a token in the logs');

$redis->stop;

$t->check_logs;

done_testing;
