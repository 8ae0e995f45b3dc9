#!/usr/bin/perl

# What cluster_hls refuses: an application the rtmp server lacks (the
# first server, or the one server=N names), an application with "hls
# off", malformed paths and names (as an RTMP play's names: no control
# bytes), other methods than GET and HEAD.  None of them starts a pull.
# An application without a cluster role is served from its files and
# pulls nothing.  HEAD is answered without a body, a 503 too.  When no
# origin can serve the stream the engine ends the HLS viewer, and the
# next playlist request starts a pull again.  nginx -t refuses
# cluster_hls parameters it does not know or values out of range.

use strict;
use warnings;

use Test::More;
use HTTP::Tiny;
use IO::Select;
use IO::Socket::INET;
use Time::HiRes qw(time);

use lib 't/lib';
use ClusterTest;
use ClusterConf;

my $t = ClusterTest->new;
$t->skip_unless_module;

my ($op, $ep, $ep2, $eh, $dead) = map { $t->port } 1 .. 5;

my $origin = $t->nginx('origin', origin_conf($op), ports => [$op],
                       cluster => 0);

my $edge = $t->nginx('edge', <<"END", ports => [$ep, $ep2, $eh]);
error_log logs/error.log info;
pid logs/nginx.pid;
worker_processes 1;
%%LOAD_MODULES%%
events {}
rtmp {
    cluster_zone cluster:1m;
    cluster_socket_dir %%PREFIX%%/sock;
    server {
        listen 127.0.0.1:$ep;
        application live {
            live on;
            cluster edge;
            cluster_origin 127.0.0.1:$op;
            hls on;
            hls_path %%PREFIX%%/tmp/live;
        }
        application nohls {
            live on;
            cluster edge;
            cluster_origin 127.0.0.1:$op;
        }
        application down {
            live on;
            cluster edge;
            cluster_origin 127.0.0.1:$dead;
            cluster_retry_timeout 1s;
            hls on;
            hls_path %%PREFIX%%/tmp/down;
        }
        application plain {
            live on;
            hls on;
            hls_path %%PREFIX%%/tmp/plain;
        }
    }
    server {
        listen 127.0.0.1:$ep2;
        application second {
            live on;
            cluster edge;
            cluster_origin 127.0.0.1:$op;
            hls on;
            hls_path %%PREFIX%%/tmp/second;
        }
    }
}
http {
    %%HTTP_DEFAULTS%%
    server {
        listen 127.0.0.1:$eh;
        location /cluster { cluster_status; }
        location /hls/ {
            cluster_hls wait=0 timeout=2s;
            alias %%PREFIX%%/tmp/;
        }
        location /s2/ {
            cluster_hls server=2 wait=0 timeout=2s;
            alias %%PREFIX%%/tmp/;
        }
        location /slow/ {
            cluster_hls wait=30s timeout=2s;
            alias %%PREFIX%%/tmp/;
        }
    }
}
END

my $ua = HTTP::Tiny->new(timeout => slow(5));

sub code {
    my ($method, $path) = @_;
    return $ua->request($method, "http://127.0.0.1:$eh$path")->{status};
}

sub streams {
    my $st = $edge->status($eh, '/cluster') or return ();
    return map { "$_->{app}/$_->{name}" } @{$st->{streams}};
}

# positive controls: known applications of each server

is(code('GET', '/hls/live/s1.m3u8'), 503, 'live/s1 (server 1): 503');
is(code('GET', '/s2/second/s2.m3u8'), 503, 'second/s2 (server=2): 503');
ok($t->wait_until(sub {
    my %s = map { $_ => 1 } streams();
    $s{'live/s1'} && $s{'second/s2'};
}), 'both pulls started');

my $h = $ua->head("http://127.0.0.1:$eh/hls/live/s1.m3u8");
is($h->{status}, 503, 'HEAD while not ready: 503');
is($h->{headers}{'retry-after'}, '1', 'HEAD: Retry-After');
is($h->{content} // '', '', 'HEAD: no body');

# refused

is(code('GET', '/hls/nope/x1.m3u8'), 404, 'unknown application: 404');
is(code('GET', '/hls/second/x2.m3u8'), 404,
   "another server's application: 404");
is(code('GET', '/s2/live/x3.m3u8'), 404,
   "server=2: server 1's application: 404");
is(code('GET', '/hls/nohls/x4.m3u8'), 404, 'application with hls off: 404');
is(code('GET', '/hls/live.m3u8'), 404, 'no application: 404');
is(code('GET', '/hls/live/a/x5.m3u8'), 404, 'a path too deep: 404');
is(code('GET', '/hls/live/.m3u8'), 404, 'an empty name: 404');
is(code('GET', '/hls/live/x6'), 404, 'no extension: 404');
is(code('GET', '/hls/live/x%017.m3u8'), 404, 'a control byte: 404');
is(code('GET', '/hls/live/' . ('x' x 300) . '.m3u8'), 404,
   'a name too long: 404');
is(code('POST', '/hls/live/s1.m3u8'), 405, 'POST: 405');

# served from files, never pulled: an application without a role

is(code('GET', '/hls/plain/x8.m3u8'), 503, 'no cluster role: 503');

is_deeply([sort(streams())], ['live/s1', 'second/s2'],
          'no other stream was started');
is(scalar(() = $origin->grep_log(qr/play: name='x/)), 0,
   'the origin was asked for none of them');
ok($edge->grep_log(qr/cluster: hls: no stream at "\/hls\/nope\/x1\.m3u8"/),
   'log: no stream at the unknown application');
ok($edge->grep_log(qr/cluster: hls: application "nohls" has "hls off"/),
   'log: hls off');

# no origin: the viewer is ended, the next request plays again

is(code('GET', '/hls/down/d1.m3u8'), 503, 'down/d1: 503');
ok($t->wait_until(sub {
    $edge->grep_log(qr/cluster: hls: viewer of "down\/d1" ended: /
        . qr/cluster: no origin could serve "down\/d1"/)
}, timeout => 10), 'log: no origin, the viewer was ended');
ok($t->wait_until(sub { !grep { $_ eq 'down/d1' } streams() }),
   'the stream is gone');
is(code('GET', '/hls/down/d1.m3u8'), 503, 'down/d1 again: 503');
ok($t->wait_until(sub { grep { $_ eq 'down/d1' } streams() }),
   'a new pull');
is(scalar(() = $edge->grep_log(
       qr/cluster: hls: viewer of "down\/d1"(?! ended)/)), 2,
   'log: the viewer played twice');

# a request waiting for a playlist that never comes (no origin has
# "never") while the worker shuts down: 503 at once; the viewer leaves
# at its timeout and the worker exits

my $sock = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$eh", Timeout => 5)
    or die "connect: $!";
print $sock "GET /slow/live/never.m3u8 HTTP/1.0\r\nHost: x\r\n\r\n";
ok($t->wait_until(sub { grep { $_ eq 'live/never' } streams() }),
   'a request waits, its pull started');
my $sel = IO::Select->new($sock);
ok(!$sel->can_read(1), 'still waiting after 1s');
my $t0 = time;
kill 'QUIT', $edge->pid;
my $answer = '';
while ($sel->can_read(slow(5))) {
    my $n = sysread($sock, my $buf, 4096);
    last unless $n;
    $answer .= $buf;
}
like($answer, qr{^HTTP/1\.[01] 503}, 'worker shutting down: 503');
like($answer, qr/\r\nRetry-After: 1\r\n/i, 'with Retry-After');
cmp_ok(time - $t0, '<', slow(2), 'at once (not after wait=30s)');
ok($edge->quit(timeout => 10), 'the worker exits (its viewer left)');
ok($edge->grep_log(
    qr/cluster: hls: no request for "live\/never", viewer left/),
   'log: the viewer left');

# configuration: parameters nginx -t refuses, and one it takes

sub hls_conf {
    my ($params) = @_;
    return <<"END";
error_log logs/error.log info;
pid logs/nginx.pid;
%%LOAD_MODULES%%
events {}
http {
    %%HTTP_DEFAULTS%%
    server {
        listen 127.0.0.1:$eh;
        location / { cluster_hls $params; }
    }
}
END
}

my ($c, $out) = $t->nginx_t(hls_conf('server=2 wait=0 timeout=5s fresh=9s'));
is($c, 0, 'cluster_hls with every parameter: nginx -t passes') or diag $out;
for my $bad ('server=0', 'wait=x', 'timeout=0', 'fresh=0', 'bogus') {
    ($c, $out) = $t->nginx_t(hls_conf($bad));
    isnt($c, 0, "cluster_hls $bad: refused");
    like($out, qr/"cluster_hls": invalid parameter "\Q$bad\E"/,
         "cluster_hls $bad: says why");
}

$t->check_logs;

done_testing;
