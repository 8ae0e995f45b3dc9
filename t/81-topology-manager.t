#!/usr/bin/perl

# The design's cluster with a stream manager on real addresses (network
# namespaces, see scripts/topology.sh): the manager and its Redis on
# 10.4.0.1, origins 10.0.0.1 (a wildcard listen, no cluster_advertise)
# and 10.0.0.2 (its own address) without coworkers, edges in Beijing and
# Hangzhou.  A publisher in Beijing publishes A through its edge to
# 10.0.0.1, which leases A at the manager under the address the edge
# reached it at (10.0.0.1, not 127.0.0.1: a wildcard listen); a player in
# Hangzhou plays A at its edge, which asks 10.0.0.2; 10.0.0.2 asks the
# manager and answers a 302 naming 10.0.0.1.  Root only.

use strict;
use warnings;

use Test::More;
use JSON::PP;

use lib 't/lib';
use ClusterTest;
use ClusterConf;
use Redis;
use Topology;

my $t = ClusterTest->new;
$t->skip_unless_module;
$t->skip_unless_redis;
my $topo = Topology->up($t);

my $secret = 'topology-secret';

my $redis = $topo->spawn('mgr', ['redis-server', '--port', 6379, '--bind',
    '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', $t->tmp],
    name => 'redis');
ok($t->wait_until(sub { $topo->in_ns('mgr', sub { Redis->ping(6379) }) },
                  timeout => 10), 'Redis answers on the manager host');

my %n;
$n{mgr} = $t->nginx('mgr', <<"END", netns => $topo->ns('mgr'));
error_log logs/error.log info;
pid logs/nginx.pid;
%%LOAD_MODULES%%
events {}
http {
    %%HTTP_DEFAULTS%%
    server {
        listen 8000;
        location /streams/ {
            cluster_stream_manager redis=127.0.0.1:6379 secret=$secret;
        }
        location /api/v1/clusters {
            cluster_stream_manager redis=127.0.0.1:6379;
        }
    }
}
END

my %listen = (o1 => '1935', o2 => '10.0.0.2:1935');
for my $o (qw(o1 o2)) {
    $n{$o} = $t->nginx($o, <<"END", netns => $topo->ns($o));
error_log logs/error.log info;
pid logs/nginx.pid;
%%LOAD_MODULES%%
events {}
rtmp {
    cluster_zone cluster:1m;
    cluster_socket_dir %%PREFIX%%/sock;
    server {
        listen $listen{$o};
        application live {
            live on;
            cluster origin;
            cluster_manager http://10.4.0.1:8000/streams/;
            cluster_manager_secret $secret;
        }
    }
}
http {
    %%HTTP_DEFAULTS%%
    server {
        listen 1985;
        location /api/v1/clusters { cluster_api; }
        location /cluster { cluster_status; }
    }
}
END
}

my %order = (bj => [qw(10.0.0.1 10.0.0.2)], hz => [qw(10.0.0.2 10.0.0.1)]);
for my $e (qw(bj hz)) {
    my $origins = join "\n",
        map { "            cluster_origin $_:1935;" } @{$order{$e}};
    $n{$e} = $t->nginx($e, <<"END", netns => $topo->ns($e));
error_log logs/error.log info;
pid logs/nginx.pid;
%%LOAD_MODULES%%
events {}
rtmp {
    cluster_zone cluster:1m;
    cluster_socket_dir %%PREFIX%%/sock;
    server {
        listen 1935;
        application live {
            live on;
            cluster edge;
            cluster_balance order;
$origins
        }
    }
}
http {
    %%HTTP_DEFAULTS%%
    server {
        listen 8080;
        location /cluster { cluster_status; }
    }
}
END
}

for my $h (qw(mgr o1 o2 bj hz)) {
    ok($topo->wait_port($h, $h eq 'mgr' ? 8000 : $h =~ /^o/ ? 1985 : 8080),
       "$h (" . $topo->addr($h) . ") is up");
}

# the manager's lookup, asked from Hangzhou
sub lease {
    my $r = $topo->http('hz', 'GET', "http://10.4.0.1:8000/streams/live/$_[0]");
    return $r->{status} == 200 ? eval { decode_json($r->{content}) } : undef;
}

# positive control: no lease before the publish
ok(!lease('A'), 'no lease of A before the publish');

my $pub = $topo->publish('bj', 'rtmp://10.1.0.1:1935/live/A');
my $l = $t->wait_until(sub { lease('A') }, timeout => 15);
ok($l, 'Beijing publisher -> Beijing edge -> 10.0.0.1 leased A');
is($l->{origin}{host}, '10.0.0.1',
   'the lease names 10.0.0.1 (the address the edge reached it at)')
    or diag explain $l;
is($l->{origin}{port}, 1935, 'the lease names the RTMP port');

my $o1st = $topo->status('o1', 1985);
is($o1st->{manager}{health}, 'up', '10.0.0.1: manager up');
is($o1st->{manager}{leases_held}, 1, '10.0.0.1: one lease held');

# SRS's API answered by the manager, from the same lease
my $r = $topo->http('hz', 'GET', 'http://10.4.0.1:8000/api/v1/clusters'
    . '?vhost=__defaultVhost__&ip=10.0.0.2&app=live&stream=A'
    . '&coworker=10.4.0.1:8000');
my $j = eval { decode_json($r->{content}) };
is($j && $j->{data}{origin}{ip}, '10.0.0.1', "the manager's SRS API: 10.0.0.1");
is($j && $j->{data}{origin}{port}, 1935, "the manager's SRS API: RTMP port");

# Hangzhou: edge -> 10.0.0.2 -> manager -> 302 to 10.0.0.1

my $p = $topo->in_ns('hz', sub {
    $t->rtmp_play(1935, 'live', 'A', host => '10.3.0.1', wait => 1);
});
ok(wait_video($p, count => 25, timeout => 15),
   'Hangzhou player -> edge -> 10.0.0.2 -> manager -> 302 -> 10.0.0.1: video');
my $hz = $topo->status('hz', 8080);
my ($s) = stream_status($hz, 'A');
is($s->{origin}, '10.0.0.1:1935', 'Hangzhou edge: pulls A from 10.0.0.1');
is($hz->{redirects}{followed}, 1, 'Hangzhou edge: one redirect followed');

my $o2st = $topo->status('o2', 1985);
is($o2st->{lookups}{found}, 1, '10.0.0.2: found A');
is($o2st->{lookups}{queries}, 0, '10.0.0.2: without asking coworkers');
cmp_ok($o2st->{manager}{requests}, '>=', 1, '10.0.0.2 asked the manager');
ok($n{o2}->grep_log(qr/redirecting the play of "live\/A" to "rtmp:\/\/10\.0\.0\.1:1935\/live\/A"/),
   "10.0.0.2's 302 names 10.0.0.1:1935");

# the publisher leaves: the lease is released
$pub->stop;
ok($t->wait_until(sub { !lease('A') }, timeout => 10),
   'the lease is released when the publisher leaves');

# a publish straight at 10.0.0.2 (its own address) leases that address
my $pub2 = $topo->publish('sh', 'rtmp://10.0.0.2:1935/live/B');
$l = $t->wait_until(sub { lease('B') }, timeout => 15);
is($l && $l->{origin}{host}, '10.0.0.2', 'a lease on 10.0.0.2 names 10.0.0.2');
$pub2->stop;

$p->close;
$t->check_logs;
$topo->down;

done_testing;
