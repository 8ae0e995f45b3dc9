#!/usr/bin/perl

# An edge's HLS viewer (cluster_hls) holds the pull while requests come:
# playlist requests, and segment requests too; with an RTMP player of
# the same stream both share the one pull.  The viewer leaves "timeout"
# after the last request (the log says so), then the pull lingers
# (cluster_linger) as after an RTMP player, and ends.  With two workers,
# each worker that gets requests has its viewer, the stream is pulled
# once for the host (the other worker relays from the owner), and only
# the owner's hls module writes segments; when the owner is killed,
# the worker that takes the pull over writes on.

use strict;
use warnings;

use Test::More;
use Time::HiRes qw(time sleep);
use HTTP::Tiny;

use lib 't/lib';
use ClusterTest;
use ClusterConf;

my $t = ClusterTest->new;
$t->skip_unless_module;

my ($op, $ep, $eh, $ep2, $eh2) = map { $t->port } 1 .. 5;

my $origin = $t->nginx('origin', origin_conf($op), ports => [$op],
                       cluster => 0);

sub hls_edge_conf {
    my ($rtmp, $http, $workers, $listen) = @_;
    return <<"END";
error_log logs/error.log info;
pid logs/nginx.pid;
worker_processes $workers;
%%LOAD_MODULES%%
events {}
rtmp {
    cluster_zone cluster:1m;
    cluster_socket_dir %%PREFIX%%/sock;
    server {
        listen 127.0.0.1:$rtmp;
        application live {
            live on;
            cluster edge;
            cluster_origin 127.0.0.1:$op;
            cluster_linger 1s;
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
        listen 127.0.0.1:$http $listen;
        location /cluster { cluster_status; }
        location /hls/ {
            cluster_hls wait=0 timeout=2s;
            alias %%PREFIX%%/tmp/;
        }
    }
}
END
}

# a GET on a new connection each time (spread over the workers)
sub get {
    my ($port, $path) = @_;
    return HTTP::Tiny->new(timeout => slow(5), keep_alive => 0)
        ->get("http://127.0.0.1:$port$path");
}

# GET the playlist every 0.5s for $secs; true if the stream was there
# (with its HLS viewer) at each look
sub keep_requesting {
    my ($edge, $port, $path, $name, $secs) = @_;
    my $ok = 1;
    my $end = time + $secs;
    while (time < $end) {
        get($port, $path);
        my @s = stream_status($edge->status($port, '/cluster'), $name);
        $ok = 0 unless @s && grep { $_->{hls} == 1 } @s;
        sleep 0.5;              # a player's refresh pace, not a wait
    }
    return $ok;
}

my $pub = $t->publish("rtmp://127.0.0.1:$op/live/s1");
ok($t->wait_until(sub { $origin->grep_log(qr/publish: name='s1'/) }),
   'publisher on the origin');

subtest 'one worker' => sub {
    my $edge = $t->nginx('edge', hls_edge_conf($ep, $eh, 1, ''),
                         ports => [$ep, $eh]);

    my $r = get($eh, '/hls/live/s1.m3u8');
    is($r->{status}, 503, 'cold: 503');
    my $pl;
    ok($t->wait_until(sub {
        $pl = get($eh, '/hls/live/s1.m3u8');
        $pl->{status} == 200 && $pl->{content} =~ /\.ts/;
    }, timeout => 15), 'then a playlist');
    my ($seg) = $pl->{content} =~ /^([^#\s]\S*\.ts)\s*$/m;

    ok(keep_requesting($edge, $eh, '/hls/live/s1.m3u8', 's1', 4),
       'playlist requests for 4s (timeout 2s + linger 1s): the pull stays');

    my $p = $t->rtmp_play($ep, 'live', 's1', wait => 1);
    ok(wait_video($p, count => 3, timeout => 10), 'an RTMP player: video');
    my ($s) = stream_status($edge->status($eh, '/cluster'), 's1');
    is($s->{players}, 2, 'status: 2 players (RTMP and HLS)');
    is($s->{hls}, 1, 'status: 1 of them HLS');
    $p->close;

    # segments alone keep the viewer too
    ok(keep_requesting($edge, $eh, "/hls/live/$seg", 's1', 4),
       'segment requests for 4s: the pull stays');

    is(scalar($origin->grep_log(qr/play: name='s1'/)), 1,
       'the origin saw one play');

    # no more requests: the viewer leaves, the pull lingers, then ends
    ok($t->wait_until(sub {
        my ($x) = stream_status($edge->status($eh, '/cluster'), 's1');
        $x && $x->{state} eq 'linger' && $x->{hls} == 0
            && $x->{players} == 0;
    }, timeout => 5), 'no request for 2s: the viewer left, the pull lingers');
    ok($t->wait_until(sub {
        !stream_status($edge->status($eh, '/cluster'), 's1');
    }, timeout => 5), 'then the pull ends');
    ok($edge->grep_log(
        qr/cluster: hls: no request for "live\/s1", viewer left/),
       'log: the viewer left');
    ok($edge->grep_log(
        qr/no player of "live\/s1" for 1000ms, stopping the pull/),
       'log: linger ended the pull');

    $edge->stop;
};

subtest 'two workers' => sub {
    my $edge = $t->nginx('edge2', hls_edge_conf($ep2, $eh2, 2, 'reuseport'),
                         ports => [$ep2, $eh2]);
    my $plays = () = $origin->grep_log(qr/play: name='s1'/);

    # requests on new connections until both workers have a viewer
    my @s;
    ok($t->wait_until(sub {
        get($eh2, '/hls/live/s1.m3u8');
        @s = grep { $_->{hls} == 1 }
             stream_status($edge->status($eh2, '/cluster'), 's1');
        @s == 2;
    }, timeout => 15), 'both workers have an HLS viewer')
        or diag explain $edge->status($eh2, '/cluster');

    ok($t->wait_until(sub {
        get($eh2, '/hls/live/s1.m3u8')->{status} == 200;
    }, timeout => 15), 'a playlist');

    my @owner = grep { ($_->{owner} // 0) == $_->{worker} } @s;
    is(scalar(@owner), 1, 'one of them owns the stream');
    ok($t->wait_until(sub {
        my @x = grep { ($_->{owner} // 0) != $_->{worker} && $_->{hls} }
                stream_status($edge->status($eh2, '/cluster'), 's1');
        @x == 1 && $x[0]{state} eq 'live';
    }, timeout => 10), 'the other relays it from the owner, live');

    my $dir = $edge->prefix . '/tmp/live';
    my $writers = sub {
        grep {
            my $pid = $_;
            grep { (readlink($_) // '') =~ m{^\Q$dir\E/.*\.ts$} }
                glob("/proc/$pid/fd/*");
        } $edge->worker_pids;
    };
    ok($t->wait_until(sub { $writers->() >= 1 }, timeout => 10),
       'a worker writes segments');
    my %seen;
    my $end = time + 3;
    while (time < $end) {
        get($eh2, '/hls/live/s1.m3u8');
        $seen{$_}++ for $writers->();
        sleep 0.2;              # samples over a window, not a wait
    }
    is_deeply([keys %seen], [$owner[0]{worker}],
              'only the owner writes segments')
        or diag explain \%seen;

    my $now = () = $origin->grep_log(qr/play: name='s1'/);
    is($now - $plays, 1, 'one pull for the host');

    # the owner killed: another worker takes the pull over and writes
    # the segments, the playlist's numbering goes on

    my $seq = sub {
        my $r = get($eh2, '/hls/live/s1.m3u8');
        return $r->{status} == 200
            && $r->{content} =~ /#EXT-X-MEDIA-SEQUENCE:(\d+)/ ? $1 : undef;
    };
    my $seq0 = $seq->();
    ok(defined $seq0, "media sequence before: " . ($seq0 // 'none'));

    kill 'KILL', $owner[0]{worker};
    my ($w, $seq1);
    ok($t->wait_until(sub {
        $seq1 = $seq->();
        my @w = $writers->();
        $w = $w[0];
        @w == 1 && $w != $owner[0]{worker}
            && defined $seq1 && $seq1 > $seq0 + 1;
    }, timeout => 20), 'another worker writes the segments now')
        or diag explain [$w, $seq1];
    my %after;
    $end = time + 2;
    while (time < $end) {
        get($eh2, '/hls/live/s1.m3u8');
        $after{$_}++ for $writers->();
        sleep 0.2;              # samples over a window, not a wait
    }
    is_deeply([keys %after], [$w], 'one writer, the new owner')
        or diag explain \%after;
    cmp_ok($seq1, '>', $seq0, "the numbering goes on: $seq0 -> $seq1");

    ok($t->wait_until(sub {
        !stream_status($edge->status($eh2, '/cluster'), 's1');
    }, timeout => 10), 'no more requests: both viewers left, the pull ends');

    $edge->stop;
};

$t->check_logs(killed => 1);

done_testing;
