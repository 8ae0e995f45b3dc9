#!/usr/bin/perl

# The answers of cluster_flv: 404 for a malformed URL (no .flv, an empty
# or dotted name, control bytes, too many parts), an unknown application
# or one without a cluster role; 405 for other methods; HEAD answered with
# the headers only; HTTP/1.0 close-delimited; the CORS header on and off;
# a stream no origin has: 404 after cluster_flv_wait; at an origin, its
# own published streams (200) and no other (404 at once).

use strict;
use warnings;

use Test::More;
use IO::Socket::INET;
use Time::HiRes qw(time);

use lib 't/lib';
use ClusterTest;
use ClusterConf;
use FlvReader;

my $t = ClusterTest->new;
$t->skip_unless_module;

my ($op, $oh, $ep, $eh) = map { $t->port } 1 .. 4;

my $o = $t->nginx('origin', <<"END", ports => [$op, $oh]);
error_log logs/error.log info;
pid logs/nginx.pid;
worker_processes 1;
%%LOAD_MODULES%%
events {}
rtmp {
    cluster_zone cluster:1m;
    cluster_socket_dir %%PREFIX%%/sock;
    server {
        listen 127.0.0.1:$op;
        application live {
            live on;
            cluster origin;
        }
    }
}
http {
    %%HTTP_DEFAULTS%%
    server {
        listen 127.0.0.1:$oh;
        location / { cluster_flv; }
    }
}
END

my $e = $t->nginx('edge', <<"END", ports => [$ep, $eh]);
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
        }
        application plain {
            live on;
        }
    }
}
http {
    %%HTTP_DEFAULTS%%
    cluster_flv_wait 1s;
    server {
        listen 127.0.0.1:$eh;
        location / {
            cluster_flv;
            cluster_flv_cors *;
        }
        location /nocors/ { cluster_flv; }
    }
}
END

# a raw request: (status, headers, body) up to the close or $max bytes
sub request {
    my ($port, $req, %o) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port)
        or die "connect: $!";
    binmode $s;
    print $s $req;
    my $buf = '';
    my $deadline = time + slow($o{timeout} // 5);
    while (time < $deadline && length($buf) < ($o{max} // 1e9)) {
        my $rin = '';
        vec($rin, fileno($s), 1) = 1;
        last unless select($rin, undef, undef, $deadline - time);
        my $n = sysread($s, $buf, 65536, length $buf);
        last unless $n;
    }
    close $s;
    my ($head, $body) = split /\r\n\r\n/, $buf, 2;
    my ($line, @h) = split /\r\n/, $head // '';
    my ($code) = ($line // '') =~ m{^HTTP/1\.\d (\d+)};
    my %h = map { /^([^:]+):\s*(.*)$/ ? (lc $1 => $2) : () } @h;
    return ($code // 0, \%h, $body // '', $line);
}

sub get {
    my ($port, $path, %o) = @_;
    my $m = $o{method} // 'GET';
    my $v = $o{version} // '1.1';
    return request($port, "$m $path HTTP/$v\r\nHost: x\r\n"
                          . "Connection: close\r\n\r\n", %o);
}

my $pub = $t->publish("rtmp://127.0.0.1:$op/live/s");
ok($t->wait_until(sub { $o->grep_log(qr/publish: name='s'/) }),
   'publisher on the origin');

# positive control: the stream is served

my ($code, $h, $body) = get($eh, '/live/s.flv', max => 4096);
is($code, 200, 'GET /live/s.flv: 200');
is($h->{'access-control-allow-origin'}, '*', 'CORS header with cluster_flv_cors');
is($h->{'transfer-encoding'}, 'chunked', 'HTTP/1.1: chunked');
like($body, qr/\A[0-9a-f]+\r\nFLV\x01/, 'the body: a chunk with the FLV header');

($code, $h) = get($eh, '/nocors/live/s.flv', max => 4096);
is($code, 200, 'the location without CORS: 200');
ok(!exists $h->{'access-control-allow-origin'}, 'no CORS header by default');

# HTTP/1.0: the body to the close, no chunks

($code, $h, $body) = get($eh, '/live/s.flv', version => '1.0', max => 4096);
is($code, 200, 'HTTP/1.0: 200');
ok(!exists $h->{'transfer-encoding'}, 'HTTP/1.0: not chunked');
like($body, qr/\AFLV\x01/, 'HTTP/1.0: the FLV header first');

# HEAD: the headers, no body

($code, $h, $body) = get($eh, '/live/s.flv', method => 'HEAD');
is($code, 200, 'HEAD: 200');
is($h->{'content-type'}, 'video/x-flv', 'HEAD: the content type');
is($body, '', 'HEAD: no body');

# other methods

($code) = request($eh, "POST /live/s.flv HTTP/1.1\r\nHost: x\r\n"
                       . "Content-Length: 0\r\nConnection: close\r\n\r\n");
is($code, 405, 'POST: 405');

# malformed URLs and unknown applications: 404 at once

for my $bad ('/live/s', '/live/.flv', '/live/s.mp4', '/live/a/s.flv',
             '/live/..flv', '/live/%2e%2e.flv', '/live/%01s.flv',
             '/live/s%7f.flv', '/live%0a/s.flv', '/s.flv', '/nope/s.flv',
             '/plain/s.flv')
{
    my $t0 = time;
    ($code) = get($eh, $bad);
    is($code, 404, "GET $bad: 404");
    cmp_ok(time - $t0, '<', slow(0.9), "GET $bad: at once");
}

# what nginx refuses itself before the location: 400
for my $bad ('/../s.flv', '/live/s%00.flv') {
    ($code) = get($eh, $bad);
    is($code, 400, "GET $bad: 400 (nginx)");
}

# a stream no origin has: the viewer waits like an RTMP player, up to
# cluster_flv_wait, then 404

my $t0 = time;
($code) = get($eh, '/live/none.flv', timeout => 10);
my $took = time - $t0;
is($code, 404, 'a stream no origin has: 404');
ok($took > 0.9 && $took < slow(3),
   sprintf('after cluster_flv_wait (1 s): %.1f s', $took));
ok($e->grep_log(qr/HTTP-FLV viewer of "live\/none": no media within 1000ms/),
   'the wait is logged');

# the origin: its own stream, nothing else

($code, $h, $body) = get($oh, '/live/s.flv', max => 4096);
is($code, 200, 'origin: its published stream, 200');
like($body, qr/FLV\x01/, 'origin: FLV');

$t0 = time;
($code) = get($oh, '/live/other.flv');
is($code, 404, 'origin: a stream not published on the host, 404');
cmp_ok(time - $t0, '<', slow(0.9), 'origin: at once');

$pub->stop;

# cluster_flv's parameter: the rtmp server counted from 1, as cluster_hls

sub flv_conf {
    my ($args) = @_;
    return <<"END";
error_log logs/error.log;
pid logs/nginx.pid;
%%LOAD_MODULES%%
events {}
rtmp {
    cluster_zone cluster:1m;
    cluster_socket_dir %%PREFIX%%/sock;
    server {
        listen 127.0.0.1:$ep;
        application live { live on; cluster edge;
                           cluster_origin 127.0.0.1:$op; }
    }
}
http {
    %%HTTP_DEFAULTS%%
    server { listen 127.0.0.1:$eh; location / { cluster_flv $args; } }
}
END
}

my ($c, $out) = $t->nginx_t(flv_conf('server=1'));
is($c, 0, 'server=1: accepted') or diag $out;
for my $bad ('server=0', 'server=x', 'bogus') {
    ($c, $out) = $t->nginx_t(flv_conf($bad));
    isnt($c, 0, "$bad: refused");
    like($out, qr/"cluster_flv" directive (?:has an invalid|takes only)/,
         "$bad: says why");
}

$t->check_logs;

done_testing;
