#!/usr/bin/perl

# The design's cluster on real addresses (network namespaces, see
# scripts/topology.sh): origins 10.0.0.1-3 listing each other's APIs as
# coworkers, edges in Beijing (10.1.0.1) and Hangzhou (10.3.0.1).  A
# publisher in Beijing publishes A through its edge to 10.0.0.1; a player
# in Hangzhou plays A at its edge, which asks 10.0.0.2 first; 10.0.0.2
# finds A at its coworker and answers a 302 naming 10.0.0.1, which the
# edge follows.  The three ways an origin tells its address: a listen on
# its own address (10.0.0.2), a wildcard listen (10.0.0.1: the host the
# asker used, as SRS), cluster_advertise (10.0.0.3).  What the origins'
# APIs answer and what the origins asked each other name those
# addresses, never 127.0.0.1 or 0.0.0.0.  Root only.

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

my %listen = (o1 => '1935', o2 => '10.0.0.2:1935', o3 => '1935');
my %extra = (o3 => 'cluster_advertise 10.0.0.3;');
my %cw = (o1 => '10.0.0.2:1985 10.0.0.3:1985',
          o2 => '10.0.0.1:1985 10.0.0.3:1985',
          o3 => '10.0.0.1:1985 10.0.0.2:1985');

my %n;
for my $o (qw(o1 o2 o3)) {
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
            @{[ $extra{$o} // '' ]}
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

# each edge tries its region's origins first: Beijing 10.0.0.1,
# Hangzhou 10.0.0.2, so Hangzhou's first ask lands where A is not
my %order = (bj => [qw(10.0.0.1 10.0.0.2 10.0.0.3)],
             hz => [qw(10.0.0.2 10.0.0.3 10.0.0.1)]);
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

for my $h (qw(o1 o2 o3 bj hz)) {
    ok($topo->wait_port($h, $h =~ /^o/ ? 1985 : 8080),
       "$h (" . $topo->addr($h) . ") is up");
}

# an origin's coworker API, asked from another host, as an SRS origin
# asks it
sub api {
    my ($from, $o, $stream, $ip) = @_;
    my $a = $topo->addr($o);
    my $r = $topo->http($from, 'POST', "http://$a:1985/api/v1/clusters"
        . "?vhost=__defaultVhost__&ip=$ip&app=live&stream=$stream"
        . "&coworker=$a:1985");
    return $r->{status} == 200 ? eval { decode_json($r->{content}) } : undef;
}

sub no_loopback {
    my ($what, $doc) = @_;
    my $text = ref $doc ? encode_json($doc) : $doc // '';
    unlike($text, qr/\b(?:127\.0\.0\.1|0\.0\.0\.0)\b/,
           "$what names no loopback or wildcard address");
}

# Beijing: the publisher's stream is forwarded to its first origin

my $pub = $topo->publish('bj', 'rtmp://10.1.0.1:1935/live/A');
ok($t->wait_until(sub { $n{o1}->grep_log(qr/"live\/A" registered/) },
                  timeout => 15),
   'Beijing publisher -> Beijing edge -> A registered on 10.0.0.1');
my ($s) = stream_status($topo->status('bj', 8080), 'A');
is($s->{kind}, 'publish', 'Beijing edge: A is a publish');
is($s->{origin}, '10.0.0.1:1935', 'Beijing edge: forwarded to 10.0.0.1');

my $o1st = $topo->status('o1', 1985);
my ($reg) = grep { $_->{stream} eq 'live/A' } @{$o1st->{published} // []};
like($reg->{publisher} // '', qr/^10\.1\.0\.1\b/,
     '10.0.0.1 registry: the publisher is the Beijing edge, 10.1.0.1');

# the APIs, asked from Hangzhou: 10.0.0.1 (wildcard listen) answers its
# address as the asker reached it, 10.0.0.2 lacks A

my $ans = api('hz', 'o1', 'A', '10.3.0.1');
is($ans->{data}{origin}{ip}, '10.0.0.1', "10.0.0.1's API: origin.ip 10.0.0.1");
is($ans->{data}{origin}{port}, 1935, "10.0.0.1's API: origin.port is RTMP's");
is($ans->{data}{origin}{api}, '10.0.0.1:1985', "10.0.0.1's API: its own api");
is_deeply($ans->{data}{origin}{routers}, ['10.0.0.1:1985'],
          "10.0.0.1's API: routers");
no_loopback("10.0.0.1's API answer", $ans);
$ans = api('hz', 'o2', 'A', '10.3.0.1');
ok($ans && exists $ans->{data}{origin} && !defined $ans->{data}{origin},
   "10.0.0.2's API: origin null for A (not here)")
    or diag explain $ans;

# Hangzhou: the edge asks 10.0.0.2, which finds A at 10.0.0.1 and
# redirects; the edge follows the 302 and the player gets video

my $p = $topo->in_ns('hz', sub {
    $t->rtmp_play(1935, 'live', 'A', host => '10.3.0.1', wait => 1);
});
ok(wait_video($p, count => 25, timeout => 15),
   'Hangzhou player -> Hangzhou edge -> 10.0.0.2 -> 302 -> 10.0.0.1: video');

my $hz = $topo->status('hz', 8080);
($s) = stream_status($hz, 'A');
is($s->{origin}, '10.0.0.1:1935', 'Hangzhou edge: pulls A from 10.0.0.1');
is($hz->{redirects}{followed}, 1, 'Hangzhou edge: one redirect followed');

my $o2st = $topo->status('o2', 1985);
is($o2st->{lookups}{found}, 1, '10.0.0.2: the lookup found A');
cmp_ok($o2st->{redirects}{sent}, '>=', 1, '10.0.0.2: a redirect sent');
ok($n{o2}->grep_log(qr/redirecting the play of "live\/A" to "rtmp:\/\/10\.0\.0\.1:1935\/live\/A"/),
   "10.0.0.2's 302 names 10.0.0.1:1935");

# what 10.0.0.2 asked 10.0.0.1: the host the Hangzhou edge reached it at
# (its tcUrl), the coworker as configured
my ($q) = grep { m{/api/v1/clusters\?[^ ]*stream=A} && !/ip=10\.3\.0\.1/ }
          split /\n/, ClusterTest::_read_file($n{o1}->prefix
                                              . '/logs/access.log');
like($q // '', qr/^10\.0\.0\.2 /, '10.0.0.1 was asked by 10.0.0.2');
like($q // '', qr/[?&]ip=10\.0\.0\.2&/,
     'the lookup carries ip=10.0.0.2 (the tcUrl host)');
like($q // '', qr/[?&]coworker=10\.0\.0\.1:1985\b/,
     'the lookup carries coworker=10.0.0.1:1985 (as configured)');

# cluster_advertise: C published straight on 10.0.0.3 (wildcard listen)
# from Shanghai; 10.0.0.3's API names its advertised address, and the
# Hangzhou edge is redirected there

my $pub3 = $topo->publish('sh', 'rtmp://10.0.0.3:1935/live/C');
ok($t->wait_until(sub { $n{o3}->grep_log(qr/"live\/C" registered/) },
                  timeout => 15), 'C registered on 10.0.0.3');
$ans = api('hz', 'o3', 'C', '10.3.0.1');
is($ans->{data}{origin}{ip}, '10.0.0.3', "10.0.0.3's API: origin.ip advertised");
is($ans->{data}{origin}{api}, '10.0.0.3:1985', "10.0.0.3's API: api advertised");
no_loopback("10.0.0.3's API answer", $ans);

my $p3 = $topo->in_ns('hz', sub {
    $t->rtmp_play(1935, 'live', 'C', host => '10.3.0.1', wait => 1);
});
ok(wait_video($p3, count => 25, timeout => 15),
   'Hangzhou player -> 10.0.0.2 -> 302 -> 10.0.0.3: video');
($s) = stream_status($topo->status('hz', 8080), 'C');
is($s->{origin}, '10.0.0.3:1935', 'Hangzhou edge: pulls C from 10.0.0.3');

# every status document names real addresses only

for my $h (qw(o1 o2 o3 bj hz)) {
    no_loopback("$h status", $topo->status($h, $h =~ /^o/ ? 1985 : 8080));
}

$p->close;
$p3->close;
$pub->stop;
$pub3->stop;
$t->check_logs;
$topo->down;

# down removed everything it made
my $left = `ip netns list`;
unlike($left, qr/^\Q$Topology::PREFIX\E/m, 'no namespace left after down');

done_testing;
