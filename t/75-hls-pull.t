#!/usr/bin/perl

# HLS through a cold edge (cluster_hls): the first playlist request
# starts the same pull an RTMP play would (the origin sees one play, the
# status shows the stream with its HLS viewer); until the hls module has
# written the first segment the playlist answers 503 with Retry-After
# (wait=0), or waits for it (the default); then the playlist names
# segments, which nginx's static handler serves, and ffmpeg plays the
# stream over HTTP.  HEAD gets the headers without a body.

use strict;
use warnings;

use Test::More;
use Time::HiRes qw(time);

use lib 't/lib';
use ClusterTest;
use ClusterConf;

my $t = ClusterTest->new;
$t->skip_unless_module;

my ($op, $ep, $eh) = map { $t->port } 1 .. 3;

my $origin = $t->nginx('origin', origin_conf($op), ports => [$op],
                       cluster => 0);

my $edge = $t->nginx('edge', <<"END", ports => [$ep, $eh]);
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
            hls_fragment 1s;
            hls_playlist_length 4s;
        }
    }
}
http {
    %%HTTP_DEFAULTS%%
    server {
        listen 127.0.0.1:$eh;
        location /cluster { cluster_status; }
        location /now/ { cluster_hls wait=0; alias %%PREFIX%%/tmp/; }
        location /hls/ { cluster_hls wait=10s; alias %%PREFIX%%/tmp/; }
    }
}
END

my $pub1 = $t->publish("rtmp://127.0.0.1:$op/live/s1");
my $pub2 = $t->publish("rtmp://127.0.0.1:$op/live/s2");
ok($t->wait_until(sub {
    $origin->grep_log(qr/publish: name='s1'/)
        && $origin->grep_log(qr/publish: name='s2'/)
}), 'publishers on the origin');

ok(!stream_status($edge->status($eh, '/cluster'), 's1'),
   'cold edge: no stream s1');

# wait=0: the first request starts the pull and answers 503 at once

my $r = $edge->http_get($eh, '/now/live/s1.m3u8');
is($r->{status}, 503, 'cold playlist: 503');
is($r->{headers}{'retry-after'}, '1', 'Retry-After: 1');

ok($t->wait_until(sub {
    my ($s) = stream_status($edge->status($eh, '/cluster'), 's1');
    $s && $s->{state} eq 'live' && $s->{hls} == 1 && $s->{players} == 1;
}), 'status: s1 pulled, live, its HLS viewer counted as a player')
    or diag explain $edge->status($eh, '/cluster');
ok($t->wait_until(sub { $origin->grep_log(qr/play: name='s1'/) }),
   'the origin saw the play');

my $pl;
ok($t->wait_until(sub {
    $r = $edge->http_get($eh, '/now/live/s1.m3u8');
    $r->{status} == 200 && $r->{content} =~ /\.ts/;
}, timeout => 15), 'then the playlist names segments')
    or diag "last answer: $r->{status}";
is($r->{headers}{'content-type'}, 'application/vnd.apple.mpegurl',
   'Content-Type');
is($r->{headers}{'cache-control'}, 'no-cache', 'Cache-Control');
like($r->{content}, qr/^#EXTM3U/, 'an m3u8');
my ($seg) = $r->{content} =~ /^([^#\s]\S*\.ts)\s*$/m;
ok($seg, "a segment: " . ($seg // 'none'));

my $sr = $edge->http_get($eh, "/now/live/$seg");
is($sr->{status}, 200, 'the segment: 200 (static)');
cmp_ok(length($sr->{content} // ''), '>', 1000, 'the segment has data');
is(substr($sr->{content} // '', 0, 1), 'G', 'an MPEG-TS sync byte');

# HEAD: headers only

my $h = HTTP::Tiny->new(timeout => 5)
    ->head("http://127.0.0.1:$eh/now/live/s1.m3u8");
is($h->{status}, 200, 'HEAD: 200');
is($h->{headers}{'content-type'}, 'application/vnd.apple.mpegurl',
   'HEAD: Content-Type');
ok($h->{headers}{'content-length'} > 0, 'HEAD: Content-Length');
is($h->{content} // '', '', 'HEAD: no body');

# ffmpeg plays the stream over HLS

my ($code, $err) = $t->ffmpeg_play("http://127.0.0.1:$eh/now/live/s1.m3u8",
                                   seconds => 4, timeout => 40);
is($code, 0, 'ffmpeg played 4s of the HLS stream') or diag $err;

is(scalar($origin->grep_log(qr/play: name='s1'/)), 1,
   'one pull for all those requests');

# the default: a cold playlist request waits for the first segment

my $t0 = time;
$r = $edge->http_get($eh, '/hls/live/s2.m3u8', timeout => 15);
my $took = time - $t0;
is($r->{status}, 200, 'cold playlist with wait: 200 at once')
    or diag "status $r->{status}";
diag sprintf('cold edge, hls_fragment 1s: the first playlist after %.2f s',
             $took);
like($r->{content} // '', qr/\.ts/, 'it names segments');

$t->check_logs;

done_testing;
