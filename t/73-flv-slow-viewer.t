#!/usr/bin/perl

# A slow HTTP-FLV viewer costs bounded memory: a client that stops
# reading (a small receive buffer, the edge's send buffer small too) fills
# its queue at the edge; past cluster_flv_queue its messages are dropped
# until the next keyframe (logged with the bytes queued, never more than
# the limit), and past twice the limit it is closed (logged).  A viewer
# that reads keeps getting every video frame meanwhile, and after.

use strict;
use warnings;

use Test::More;

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
        listen 127.0.0.1:$eh sndbuf=16k;
        location / {
            cluster_flv;
            cluster_flv_queue 256k;
        }
        location /cluster { cluster_status; }
    }
}
END

# 25 fps of 20 kB frames: 500 kB/s, a keyframe every 2 s
my $pub = synthetic_publisher($op, 's', frames => 1000, size => 20000);
ok(defined wait_stream_time($op, 's', 0, timeout => 10), 'the stream plays');

my $fast = FlvReader->new(port => $eh, path => '/live/s.flv');
my $slow = FlvReader->new(port => $eh, path => '/live/s.flv', rcvbuf => 4096);

# positive control: both start
my ($code) = $slow->response(timeout => 10);
is($code, 200, 'the slow viewer is answered');
ok(FlvReader::read_many([$fast], timeout => 10,
                        until => sub { $_[0]->videos >= 25 }),
   'the fast viewer: video');

# the slow one reads no more: drops, then the close (the fast one reads
# all along)

sub read_fast_until {
    my ($re, $timeout) = @_;
    FlvReader::read_many([$fast], timeout => $timeout,
                         until => sub { scalar $e->grep_log($re) });
    return scalar $e->grep_log($re);
}

ok(read_fast_until(qr/HTTP-FLV viewer of "live\/s" too slow/, 20),
   'the slow viewer: drops logged');
my @drops = map { /\((\d+) bytes queued\)/ ? $1 : () }
            $e->grep_log(qr/too slow \(\d+ bytes queued\)/);
ok(@drops && !grep({ $_ > 256 * 1024 } @drops),
   'dropping starts at cluster_flv_queue: ' . join(', ', @drops));

ok(read_fast_until(qr/HTTP-FLV viewer of "live\/s" closed: too slow a reader/,
                   30),
   'the slow viewer is closed past twice the limit');

my $n = $fast->videos;
ok(FlvReader::read_many([$fast], timeout => 10,
                        until => sub { $_[0]->videos >= $n + 50 }),
   'the fast viewer: 2 s more of video');
ok(!$fast->eof, 'the fast viewer stays');

# every frame of the fast viewer, none dropped: 40 ms apart
my @vt = map { $_->{timestamp} }
         grep { $_->{type} == 9 && !$_->{seq} } @{$fast->tags};
my $gaps = grep { $vt[$_] - $vt[$_ - 1] > 40 } 1 .. $#vt;
is($gaps, 0, 'the fast viewer: no frame dropped');

my ($s) = stream_status($e->status($eh, '/cluster'), 's');
is($s && $s->{flv}, 1, 'status: the one viewer left');

$fast->close;
$slow->close;
stop_publisher($pub);

$t->check_logs;

done_testing;
