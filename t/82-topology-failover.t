#!/usr/bin/perl

# The design's edge host on real addresses (network namespaces, see
# scripts/topology.sh): the Shanghai edge (10.2.0.1) runs 4 workers and
# serves 40 players of a stream published in Beijing; it holds one
# upstream connection to the origin network.  Then the origin it pulls
# from loses its link (ip link set eth0 down in its namespace: no reset,
# no close, silence): the Beijing edge moves the publish to the other
# origin, the Shanghai edge fails over to it, and all 40 players stay
# connected and get video again; the link comes back.  Root only.

use strict;
use warnings;

use Test::More;
use JSON::PP;

use lib 't/lib';
use ClusterTest;
use ClusterConf;
use Topology;

my $t = ClusterTest->new;
$t->skip_unless_module;
my $topo = Topology->up($t);

my %listen = (o1 => '1935', o2 => '10.0.0.2:1935');
my %cw = (o1 => '10.0.0.2:1985', o2 => '10.0.0.1:1985');

my %n;
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
            cluster_coworkers $cw{$o};
            cluster_lookup_timeout 1s;
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

my %workers = (bj => 1, sh => 4);
for my $e (qw(bj sh)) {
    $n{$e} = $t->nginx($e, <<"END", netns => $topo->ns($e));
error_log logs/error.log info;
pid logs/nginx.pid;
worker_processes $workers{$e};
worker_shutdown_timeout 2s;
%%LOAD_MODULES%%
events {}
rtmp {
    cluster_zone cluster:1m;
    cluster_socket_dir %%PREFIX%%/sock;
    cluster_reuseport on;
    server {
        listen 1935;
        # an origin that goes silent (no reset, no close) is found out by
        # nginx-rtmp's ping on the forwarded publish too
        ping 2s;
        ping_timeout 2s;
        application live {
            live on;
            cluster edge;
            cluster_balance order;
            cluster_media_timeout 2s;
            cluster_origin 10.0.0.1:1935;
            cluster_origin 10.0.0.2:1935;
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

for my $h (qw(o1 o2 bj sh)) {
    ok($topo->wait_port($h, $h =~ /^o/ ? 1985 : 8080),
       "$h (" . $topo->addr($h) . ") is up");
}
ok($t->wait_until(sub { $n{sh}->worker_pids == 4 }),
   'Shanghai edge: four workers');

my $pub = $topo->publish('bj', 'rtmp://10.1.0.1:1935/live/S');
ok($t->wait_until(sub { $n{o1}->grep_log(qr/"live\/S" registered/) },
                  timeout => 15),
   'Beijing publisher -> Beijing edge -> S registered on 10.0.0.1');

# established TCP connections from the Shanghai host to the origins
sub upstreams {
    my @l = `ip netns exec ${\ $topo->ns('sh')} ss -tnH state established dst 10.0.0.0/24`;
    return scalar @l;
}

my @p = map {
    $topo->in_ns('sh', sub {
        $t->rtmp_play(1935, 'live', 'S', host => '10.2.0.1', wait => 1);
    });
} 1 .. 40;
is(scalar(grep { wait_video($_, count => 5, timeout => 15) } @p), 40,
   '40 Shanghai players get video');

my $st = $topo->status('sh', 8080);
my ($hosted) = grep { $_->{name} eq 'S' } @{$st->{hosted}};
is($hosted->{players}, 40, 'Shanghai status: 40 players');
is(scalar @{$hosted->{workers} // []}, 4, 'Shanghai status: on four workers');
my @up = grep { $_->{origin} =~ /^10\.0\.0\./ } stream_status($st, 'S');
is(scalar @up, 1, 'Shanghai status: one worker pulls from an origin');
is($up[0]{origin}, '10.0.0.1:1935', 'Shanghai status: from 10.0.0.1');
is($up[0]{worker}, $hosted->{owner}, 'the owner');
is(upstreams(), 1, 'ss in Shanghai: one connection to the origin network');
is(scalar(() = $n{o1}->grep_log(qr/play: name='S'/)), 1,
   '10.0.0.1 saw one play from Shanghai');

# 10.0.0.1 loses its link under the players

$topo->set_link('o1', 'down');
ok(!$topo->port_open('sh', 1985, '10.0.0.1'),
   'control: 10.0.0.1 is unreachable from Shanghai');

my $moved = $t->wait_until(sub {
    my ($s) = grep { $_->{origin} =~ /^10\.0\.0\./ }
              stream_status($topo->status('sh', 8080), 'S');
    $s && $s->{origin} eq '10.0.0.2:1935' && $s->{state} eq 'live' ? $s : 0;
}, timeout => 30);
ok($moved, 'Shanghai edge: failed over to 10.0.0.2, live')
    or diag explain [stream_status($topo->status('sh', 8080), 'S')];
cmp_ok($moved->{failovers} // 0, '>=', 1, 'Shanghai status: a failover');

my ($bs) = stream_status($topo->status('bj', 8080), 'S');
is($bs->{origin}, '10.0.0.2:1935',
   'Beijing edge: the publish moved to 10.0.0.2');

is(scalar(grep { wait_video($_, count => 25, timeout => 15) } @p), 40,
   'all 40 players stay connected and get video again');
is(scalar(grep { $_->{eof} } @p), 0, 'no player was disconnected');

# 10.0.0.2 asked its coworker 10.0.0.1 while its link was down: the
# connection attempts timed out (no reset on a dead link), and the
# sockets curl closed were not left in nginx's epoll set
ok($n{o2}->grep_log(qr/coworker "10\.0\.0\.1:1985" (?:failed|did not answer) the lookup of "live\/S"/),
   'control: 10.0.0.2 asked 10.0.0.1 and got no answer');
is(scalar(() = $n{o2}->grep_log(qr/epoll_ctl\(/)), 0,
   '10.0.0.2: no epoll_ctl() failure on the sockets of timed-out lookups');

my $o1 = origin_status($topo->status('sh', 8080), '10.0.0.1:1935');
isnt($o1->{health}, 'up', 'Shanghai status: 10.0.0.1 is not up')
    or diag explain $o1;
no_loopback('Shanghai status', $topo->status('sh', 8080));

# the link comes back: 10.0.0.1 answers again
$topo->set_link('o1', 'up');
ok($topo->wait_port('o1', 1985) && $t->wait_until(sub {
        $topo->port_open('sh', 1985, '10.0.0.1') }),
   '10.0.0.1 is reachable from Shanghai again');
my $r = $topo->http('sh', 'GET', 'http://10.0.0.1:1985/cluster');
is($r->{status}, 200, "10.0.0.1's status answers again");

sub no_loopback {
    my ($what, $doc) = @_;
    unlike(encode_json($doc // {}), qr/\b(?:127\.0\.0\.1|0\.0\.0\.0)\b/,
           "$what names no loopback or wildcard address");
}

$_->close for @p;
$pub->stop;
$t->check_logs;
$topo->down;

done_testing;
