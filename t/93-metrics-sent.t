#!/usr/bin/perl

# Bytes sent to a stream's clients (rtmp_cluster_stream_sent_bytes_total,
# the status's bytes_out): an RTMP player, an HTTP-FLV viewer and HLS
# requests through an edge read what they are sent; once the stream's
# publisher stopped and they read everything, the stream's counter, the
# host's total and the status are the sum of what they read.  Once with
# nginx-rtmp's own writer, once with merged writes (cluster_merge_writes),
# whose writev() nginx does not count itself.
#
# The clients count every byte they read after they asked for the
# stream: the RTMP player from its play command (its handshake, connect
# and createStream answers come before and are not the stream's), the
# HTTP clients whole answers, headers included.  The edge counts each
# client's connection from its join, so the two should agree to the byte;
# the tolerance (256 bytes) is for an RTMP ping or acknowledgement the
# server might send that the client would not have read yet.

use strict;
use warnings;

use Test::More;
use IO::Socket::INET;
use IO::Select;
use Time::HiRes qw(time);

use lib 't/lib';
use ClusterTest;
use ClusterConf;
use FlvReader;

my $t = ClusterTest->new;
$t->skip_unless_module;

my $TOLERANCE = 256;

my ($op, $ep, $eh, $mp, $mh) = map { $t->port } 1 .. 5;

my $o = $t->nginx('origin', origin_conf($op), ports => [$op], cluster => 0);

# edge_conf($rtmp, $http, $extra): an edge of two workers, HTTP-FLV at /,
# HLS at /hls/, the status and the metrics
sub edge {
    my ($name, $rtmp, $http, $extra) = @_;
    return $t->nginx($name, <<"END", ports => [$rtmp, $http]);
error_log logs/error.log info;
pid logs/nginx.pid;
worker_processes 2;
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
            $extra
        }
    }
}
http {
    %%HTTP_DEFAULTS%%
    server {
        listen 127.0.0.1:$http;
        location /cluster { cluster_status; }
        location /metrics { cluster_metrics; }
        location /totals { cluster_metrics streams=off; }
        location /hls/ { cluster_hls; alias %%PREFIX%%/tmp/; }
        location / { cluster_flv; }
    }
}
END
}

my $plain = edge('edge', $ep, $eh, <<'END');
hls on;
            hls_path %%PREFIX%%/tmp/live;
            hls_fragment 1s;
            hls_playlist_length 4s;
END
my $merged = edge('edge-merged', $mp, $mh, 'cluster_merge_writes 50ms;');

sub value {
    my ($text, $series) = @_;
    return undef unless defined $text;
    my ($v) = $text =~ /^\Q$series\E (\S+)$/m;
    return $v;
}

sub scrape {
    my ($e, $port, $path) = @_;
    my $r = $e->http_get($port, $path);
    return $r->{success} ? $r->{content} : undef;
}

# HTTP/1.1 on one connection, as an HLS player asks: the playlist, then
# a segment it names (so one worker answers both: a worker counts the
# answers of a stream it has an HLS viewer of); each answer whole, as read
sub hls_get {
    my ($port, $name) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                  PeerPort => $port, Timeout => 5)
        or die "connect to $port: $!\n";
    my $sel = IO::Select->new($s);
    my $deadline = time + ClusterTest::slow(20);
    my $buf = '';
    my $answer = sub {
        my ($path, $last) = @_;
        print $s "GET $path HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                 . ($last ? "Connection: close\r\n" : '') . "\r\n";
        my $want;
        while (time < $deadline) {
            if (!defined $want && $buf =~ /\r\n\r\n/) {
                my ($len) = $buf =~ /^Content-Length:\s*(\d+)/mi;
                $want = index($buf, "\r\n\r\n") + 4 + ($len // 0);
            }
            last if defined $want && length($buf) >= $want;
            last unless $sel->can_read($deadline - time);
            sysread($s, $buf, 65536, length $buf) or last;
        }
        return substr($buf, 0, $want // length($buf), '');
    };
    my $pl = $answer->("/hls/live/$name.m3u8");
    my ($seg) = $pl =~ /^([^#\s]\S*\.ts)\s*$/m;
    my $sr = $answer->("/hls/live/" . ($seg // 'none.ts'), 1);
    close $s;
    return ($pl, $sr);
}

# pump($rtmp, $flv, idle => s, max => s): both read what comes, until
# neither got a byte for "idle" seconds
sub pump {
    my ($c, $f, %o) = @_;
    my $end = time + ClusterTest::slow($o{max} // 20);
    my $last = time;
    while (time < $end && time - $last < $o{idle}) {
        my $before = $c->stats->{bytes} + ($f->{bytes} // 0);
        # every message the player has: read_message() takes one
        while (my $msg = $c->read_message(0.01)) {
            last if $msg->{type} eq 'eof';
        }
        $f->read(timeout => 0.05);
        $last = time if $c->stats->{bytes} + ($f->{bytes} // 0) > $before;
    }
    return time - $last >= $o{idle};
}

# the scenario on edge $e: what its clients read, and what it counted
sub scenario {
    my ($e, $rtmp, $http, $name, $hls) = @_;
    my $series = "{app=\"live\",stream=\"$name\"}";

    my $pub = $t->publish("rtmp://127.0.0.1:$op/live/$name");
    ok($t->wait_until(sub { $o->grep_log(qr/publish: name='$name'/) }),
       "$name: publisher on the origin");

    my $c = $t->rtmp(port => $rtmp);
    $c->create_stream;
    my $rtmp0 = $c->stats->{bytes};
    $c->play($name);
    ok(wait_video($c, count => 5), "$name: an RTMP player");

    my $f = FlvReader->new(port => $http, path => "/live/$name.flv");
    my ($code) = $f->response(timeout => 10);
    is($code, 200, "$name: an HTTP-FLV viewer");

    my $hls_bytes = 0;
    if ($hls) {
        my ($pl, $sr) = hls_get($http, $name);
        like($pl, qr{^HTTP/1\.\d 200.*\.ts}s, "$name: an HLS playlist");
        like($sr, qr{^HTTP/1\.\d 200}, "$name: an HLS segment");
        $hls_bytes = length($pl) + length($sr);
    }

    # positive control: the counter moves while they play

    pump($c, $f, idle => 1, max => 2);
    my $m;
    ok($t->wait_until(sub {
        $m = scrape($e, $http, '/metrics');
        (value($m, "rtmp_cluster_stream_sent_bytes_total$series") // 0) > 0;
    }), "$name: the sent bytes counter grows under players") or diag($m);

    # the publisher stops: the clients read all they were sent

    $pub->stop;
    ok(pump($c, $f, idle => 2, max => 30), "$name: the clients read it all");

    my $rtmp_bytes = $c->stats->{bytes} - $rtmp0;
    my $read = $rtmp_bytes + $f->{bytes} + $hls_bytes;
    diag("$name: read rtmp $rtmp_bytes, http-flv $f->{bytes}, "
         . "hls $hls_bytes bytes");

    my ($sent, $total);
    ok($t->wait_until(sub {
        $m = scrape($e, $http, '/metrics');
        $sent = value($m, "rtmp_cluster_stream_sent_bytes_total$series");
        defined $sent && $sent >= $read;
    }, timeout => 10), "$name: the counter reaches what the clients read")
        or diag("sent " . ($sent // 'none') . ", read $read\n$m");
    cmp_ok(($sent // 0) - $read, '<=', $TOLERANCE,
           "$name: and not more (within $TOLERANCE bytes)");
    diag("$name: counted " . ($sent // 'none') . ", read $read");

    $total = value(scrape($e, $http, '/totals'),
                   'rtmp_cluster_sent_bytes_total');
    ok(defined $total && defined $sent && $total == $sent,
       "$name: streams=off: the host's total is the stream's")
        or diag("total " . ($total // 'none'));

    my $json = 0;
    $json += $_->{bytes_out} // 0
        for stream_status($e->status($http, '/cluster'), $name);
    is($json, $sent, "$name: the status's bytes_out, over the workers");

    my ($pc) = promtool();
    if ($pc) {
        my $file = $t->tmp . "/$name.txt";
        open my $fh, '>', $file or die "$file: $!";
        print $fh $m;
        close $fh;
        my ($rc, $out, $err) = $t->run([$pc, 'check', 'metrics'],
                                       stdin => $file, timeout => 10);
        is($rc, 0, "$name: promtool check metrics") or diag("$out$err");
    }

    $c->close;
    close $f->{sock};
}

sub promtool {
    return grep { -x } map { "$_/promtool" } split /:/, $ENV{PATH};
}

scenario($plain, $ep, $eh, 's1', 1);
scenario($merged, $mp, $mh, 's2', 0);

$t->check_logs;

done_testing;
