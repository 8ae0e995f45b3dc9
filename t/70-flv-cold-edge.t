#!/usr/bin/perl

# HTTP-FLV through a cold edge: a GET of /live/s.flv for a stream the edge
# lacks starts the pull an RTMP play would (the origin sees one play, the
# status shows the pull and one flv viewer); the answer is 200 video/x-flv,
# chunked, with the FLV header, metadata, the sequence headers and a
# keyframe first; ffprobe finds the video and the audio, and ffmpeg
# decodes it without an error.

use strict;
use warnings;

use Test::More;
use Time::HiRes qw(time);

use lib 't/lib';
use ClusterTest;
use ClusterConf;
use FlvReader;

my $t = ClusterTest->new;
$t->skip_unless_module;

my ($op, $ep, $eh) = map { $t->port } 1 .. 3;

my $o = $t->nginx('origin', origin_conf($op), ports => [$op], cluster => 0);

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
    }
}
http {
    %%HTTP_DEFAULTS%%
    server {
        listen 127.0.0.1:$eh;
        location / { cluster_flv; }
        location /cluster { cluster_status; }
    }
}
END

my $pub = $t->publish("rtmp://127.0.0.1:$op/live/s");
ok($t->wait_until(sub { $o->grep_log(qr/publish: name='s'/) }),
   'publisher on the origin');

# the edge has no stream yet: the HTTP request starts the pull

my ($s0) = stream_status($e->status($eh, '/cluster'), 's');
ok(!$s0, 'cold edge: no stream before the request');

my $asked = time;
my $r = FlvReader->new(port => $eh, path => '/live/s.flv?token=xyz');
my ($code, $h) = $r->response(timeout => 10);
is($code, 200, 'status 200');
is($h->{'content-type'}, 'video/x-flv', 'Content-Type: video/x-flv');
is($h->{'transfer-encoding'}, 'chunked', 'chunked (HTTP/1.1)');

my $tags = $r->read(timeout => 10, until => sub {
    scalar(grep { $_->{type} == 9 && !$_->{seq} } @{$_[0]}) >= 50 });
$r->read(timeout => 10, until => sub {
    grep { $_->{type} == 9 && !$_->{seq} } @{$_[0]} });
my $first = time - $asked;
note(sprintf('cold edge: first video tag %.0f ms after the request',
             $first * 1000));
cmp_ok($first, '<', slow(5), 'cold edge: video within 5 s');
ok($r->flv, 'the FLV header');
is($r->flv && $r->flv->{flags} & 5, 5, 'the FLV header: audio and video');

my @t = @$tags;
my ($first_media) = grep { !$_->{seq} && $_->{type} != 18 } @t;
is($t[0]{type}, 18, 'metadata first');
is($t[0]{name}, 'onMetaData', 'onMetaData');
ok((grep { $_->{type} == 9 && $_->{seq} } @t[0 .. 3]),
   'the video sequence header before the media');
ok((grep { $_->{type} == 8 && $_->{seq} } @t[0 .. 3]),
   'the audio sequence header before the media');
ok($first_media && $first_media->{type} == 9 && $first_media->{key},
   'a keyframe first');
is(scalar(grep { $_->{type} == 9 && !$_->{seq} } @t), 50, '50 video tags');
ok($r->monotonic(9), 'video timestamps monotonic');
ok($r->monotonic(8), 'audio timestamps monotonic');

my ($s) = stream_status($e->status($eh, '/cluster'), 's');
ok($s, 'status: the stream');
is($s && $s->{kind}, 'pull', 'status: a pull');
is($s && $s->{state}, 'live', 'status: live');
is($s && $s->{flv}, 1, 'status: one flv viewer');
is($s && $s->{rtmp}, 0, 'status: no rtmp player');
is($s && $s->{players}, 1, 'status: players counts it');

my @plays = $o->grep_log(qr/play: name='s'/);
is(scalar @plays, 1, 'the origin saw one play');
like($plays[0] // '', qr/args='token=xyz'/, 'the query reached the origin');

# real clients: ffprobe and ffmpeg, while the first viewer stays

my $probe = $t->play_ffprobe("http://127.0.0.1:$eh/live/s.flv", timeout => 10);
my @types = sort map { $_->{codec_type} } @{$probe->{streams} // []};
is("@types", 'audio video', 'ffprobe: a video and an audio stream')
    or diag($t->{last_ffprobe}{stderr});

my ($fc, $ferr) = $t->ffmpeg_play("http://127.0.0.1:$eh/live/s.flv",
                                  seconds => 3);
is($fc, 0, 'ffmpeg decodes 3 s');
is($ferr, '', 'ffmpeg: no error') or diag($ferr);

@plays = $o->grep_log(qr/play: name='s'/);
is(scalar @plays, 1, 'still one play at the origin');

$r->close;
$pub->stop;

$t->check_logs;

done_testing;
