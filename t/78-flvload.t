#!/usr/bin/perl

# Self test of rtmpload's HTTP-FLV viewers (http:// URLs), the load
# client of bench scenario 9, without the module: a small HTTP server
# (below) serves the test clip as chunked (chunk boundaries anywhere,
# inside tag headers and PreviousTagSize fields, 1-byte chunks, chunk
# extensions, a trailer), with a Content-Length, close-delimited
# (HTTP/1.0), and with faults; ffmpeg's own HTTP server (-listen 1) is
# the real peer.  The tags rtmpload counts must be the clip's, counted
# here independently, and what ffprobe reads from the same server.

use strict;
use warnings;

use Test::More;
use JSON::PP;

use lib 't/lib';
use ClusterTest;

my $t = ClusterTest->new;
my $load = $t->repo . '/build/rtmpload';
my ($code, $out, $err) = $t->run(['make', '-C', $t->repo . '/bench'],
                                 timeout => 120);
is($code, 0, 'build/rtmpload builds') or diag("$out$err");

my $media = $t->media;
my $flv = do { local $/; open my $fh, '<:raw', $media or die "$media: $!"; <$fh> };

# the clip's tags, parsed here: [type, size, first two payload bytes]
my @tags;
{
    my $off = unpack('N', substr($flv, 5, 4)) + 4;
    while ($off + 11 <= length $flv) {
        my ($type, $s) = unpack('C a3', substr($flv, $off, 4));
        my $size = unpack('N', "\0$s");
        push @tags, [$type & 0x1f, $size,
                     unpack('C2', substr($flv, $off + 11, 2))];
        $off += 11 + $size + 4;
    }
}
my $nvideo = grep { $_->[0] == 9 } @tags;
my $naudio = grep { $_->[0] == 8 } @tags;
# ffprobe's packets: frames, not AVC/AAC sequence headers or AVC end of
# sequence
my $fvideo = grep { $_->[0] == 9 && !($_->[2] == 0x17 && $_->[3] != 1)
                    && !($_->[2] == 0x27 && $_->[3] != 1) } @tags;
my $faudio = grep { $_->[0] == 8 && !($_->[2] >> 4 == 10 && $_->[3] == 0) }
             @tags;
cmp_ok($nvideo, '>', 100, "the clip has $nvideo video tags");
cmp_ok($naudio, '>', 100, "the clip has $naudio audio tags");

# The server: one child per connection; the path chooses the answer.
my $server = $t->tmp . '/flv-server.pl';
open my $sf, '>', $server or die "$server: $!";
print $sf <<'EOF';
use strict;
use warnings;
use IO::Socket::IP;
use Socket qw(IPPROTO_TCP TCP_NODELAY);
use Time::HiRes qw(sleep);

my ($port, $file) = @ARGV;
my $flv = do { local $/; open my $fh, '<:raw', $file or die; <$fh> };
my $l = IO::Socket::IP->new(LocalHost => '127.0.0.1', LocalPort => $port,
                            Listen => 128, ReuseAddr => 1) or die "$!";
$SIG{CHLD} = 'IGNORE';
$| = 1;
while (1) {
    my $c = $l->accept or next;
    my $pid = fork;
    die "fork: $!" unless defined $pid;
    if ($pid) { close $c; next }
    close $l;
    $c->setsockopt(IPPROTO_TCP, TCP_NODELAY, 1);
    serve($c);
    exit 0;
}

# pieces of 1 to $max bytes, from a fixed seed: boundaries everywhere
sub pieces {
    my ($data, $max, $seed) = @_;
    srand($seed);
    my @p;
    for (my $o = 0; $o < length $data; ) {
        my $n = rand() < 0.2 ? 1 + int rand 12 : 1 + int rand $max;
        push @p, substr($data, $o, $n);
        $o += $n;
    }
    return @p;
}

sub w {
    my ($c, $d) = @_;
    print {$c} $d or exit 0;
}

sub serve {
    my ($c) = @_;
    my $req = '';
    while ($req !~ /\r\n\r\n/) {
        my $r = sysread($c, $req, 4096, length $req);
        return unless $r;
    }
    my ($path) = $req =~ m{^GET (\S+) HTTP/1\.[01]\r\n} or return;
    print "$path\n";
    my $body = $flv;
    my $ok = "HTTP/1.1 200 OK\r\nContent-Type: video/x-flv\r\n";
    if ($path =~ /corrupt/) {                   # a PreviousTagSize off by 1
        my $off = unpack('N', substr($body, 5, 4)) + 4;
        for (1 .. 20) {
            my $size = unpack('N', "\0" . substr($body, $off + 1, 3));
            $off += 11 + $size + 4;
        }
        substr($body, $off - 4, 4) = pack('N', unpack('N',
            substr($body, $off - 4, 4)) + 1);
    }
    if ($path =~ /chunked|corrupt|gap/) {
        w($c, $ok . "Transfer-Encoding: chunked\r\n\r\n");
        my $i = 0;
        for my $p (pieces($body, 3000, 7)) {
            my $ext = $i % 5 == 0 ? ';x=y' : '';
            my $hex = $i % 2 ? sprintf('%X', length $p)
                             : sprintf('%x', length $p);
            # a header split between writes too
            if ($i % 7 == 0) {
                w($c, substr($hex, 0, 1));
                sleep 0.001;    # two TCP segments, not a wait
                w($c, substr($hex, 1) . "$ext\r\n$p\r\n");
            } else {
                w($c, "$hex$ext\r\n$p\r\n");
            }
            sleep 0.001 if $i % 16 == 0;    # chunks in several reads
            sleep 1.5 if $path =~ /gap/ && $i == 100;
            $i++;
        }
        w($c, "0\r\nX-Trailer: 1\r\n\r\n");
    } elsif ($path =~ /length/) {
        w($c, $ok . "Content-Length: " . length($body) . "\r\n\r\n");
        w($c, $_), sleep(0.0005) for pieces($body, 20000, 11);
    } elsif ($path =~ /close/) {
        w($c, "HTTP/1.0 200 OK\r\nContent-Type: video/x-flv\r\n\r\n");
        w($c, $_) for pieces($body, 20000, 13);
    } elsif ($path =~ /moved/) {
        w($c, "HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:1/x.flv\r\n"
            . "Content-Length: 0\r\n\r\n");
    } else {
        w($c, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
    }
    shutdown($c, 1);
    1 while sysread($c, my $junk, 4096);
}
EOF
close $sf;

my $port = $t->port;
my $srv = $t->spawn(['perl', $server, $port, $media], name => 'flv-server');
ok($t->wait_until(sub { $t->port_open($port) }, timeout => 10),
   'the FLV server listens') or diag($srv->log_text);

# rtmpload(path, n, extra args): its JSON summary and its stdout
my $runs = 0;
sub load {
    my ($url, $n, @args) = @_;
    my $json = $t->tmp . '/rtmpload-' . ++$runs . '.json';
    my ($c, $o, $e) = $t->run([$load, '-u', $url, '-n', $n, '-d', 30,
                               '-t', 10, '-q', '-j', $json, @args],
                              timeout => 60);
    my $j = eval { decode_json(do { local $/; open my $fh, '<', $json
                                        or return undef; <$fh> }) };
    diag("rtmpload $url: exit $c\n$o$e") unless $j;
    return ($j // {}, "$o$e");
}

# the server is a correct HTTP-FLV peer: ffprobe reads the clip's tags
my ($pc, $pout, $perr) = $t->run(['ffprobe', '-v', 'error', '-count_packets',
    '-show_entries', 'stream=codec_type,nb_read_packets', '-of', 'json',
    "http://127.0.0.1:$port/live/chunked.flv"], timeout => 30);
my $pj = eval { decode_json($pout) } // {};
my %probe = map { $_->{codec_type} => $_->{nb_read_packets} }
            @{$pj->{streams} // []};
is($probe{video}, $fvideo, 'ffprobe reads every video tag over chunked HTTP')
    or diag("$pout$perr");
is($probe{audio}, $faudio, 'ffprobe reads every audio tag over chunked HTTP');

sub counts_ok {
    my ($name, $j, $n, $out, $reason) = @_;
    subtest $name => sub {
        is($j->{started}, $n, "$n started");
        is($j->{playing}, $n, "$n got video");
        is($j->{keyframe}, $n, "$n got a keyframe");
        is(scalar(grep { ($_->{end_reason} // '') eq $reason }
                  @{$j->{players} // []}), $n, "all ended with '$reason'");
        for my $p (@{$j->{players} // []}) {
            is($p->{video_msgs}, $nvideo, "player $p->{id}: video tags")
                and is($p->{audio_msgs}, $naudio, "player $p->{id}: audio tags")
                or last;
            cmp_ok($p->{bytes}, '>', length $flv, "player $p->{id}: bytes");
            is($p->{last_status}, 'HTTP 200', "player $p->{id}: status");
            ok(defined $p->{first_video_ms}
               && defined $p->{connected_ms}
               && $p->{first_video_ms} >= $p->{connected_ms},
               "player $p->{id}: first video after the response header");
        }
        like($out, qr/^players .* playing $n  keyframe $n$/m,
             'the summary line');
    } or diag($out);
}

my $url = "http://127.0.0.1:$port/live";
my ($j, $o);

($j, $o) = load("$url/chunked.flv", 20);
counts_ok('chunked, 20 viewers, boundaries inside tags', $j, 20, $o,
          'end of body');
is($j->{gaps}, 0, 'no gap without a pause');

($j, $o) = load("$url/length.flv", 3);
counts_ok('Content-Length', $j, 3, $o, 'end of body');

($j, $o) = load("$url/close.flv", 3, '-0');
counts_ok('close-delimited (HTTP/1.0)', $j, 3, $o, 'eof');

# a 1.5 s pause in the middle of the body is one gap
($j, $o) = load("$url/gap.flv", 1);
counts_ok('a pause', $j, 1, $o, 'end of body');
is($j->{gaps}, 1, 'the pause is a gap > 1000 ms') or diag($o);
cmp_ok($j->{max_gap_ms}, '>=', 1400, 'max gap is the pause');

# faults: the tags before are counted, then the player ends
($j, $o) = load("$url/corrupt.flv", 1);
my ($cp) = @{$j->{players} // [{}]};
is($cp->{end_reason}, 'bad flv tag size', 'a wrong PreviousTagSize ends it')
    or diag($o);
is($cp->{video_msgs} + $cp->{audio_msgs},
   scalar(grep { $_->[0] != 18 } @tags[0 .. 19]),
   'after the media tags among the 20 before it');

($j, $o) = load("$url/missing.flv", 2);
is($j->{ended_by_reason}{'http 404'}, 2, '404: "http 404"') or diag($o);
is($j->{playing}, 0, '404: no video');
is($j->{connected}, 0, '404: not counted as connected');

($j, $o) = load("$url/moved.flv", 1);
my ($mp) = @{$j->{players} // [{}]};
is($mp->{end_reason}, 'redirected', '302: redirected') or diag($o);
is($mp->{redirect_url}, 'http://127.0.0.1:1/x.flv', '302: the Location');
is($j->{redirects}, 1, '302: counted');

my $refused = $t->port;
($j, $o) = load("http://127.0.0.1:$refused/live/s.flv", 1);
is($j->{ended_by_reason}{'connect refused'}, 1, 'connect refused');

# the real peer: ffmpeg's HTTP server, as fast as it reads the clip
my $fport = $t->port;
my $ff = $t->spawn(['ffmpeg', '-hide_banner', '-nostdin', '-loglevel',
                    'error', '-i', $media, '-c', 'copy', '-f', 'flv',
                    '-listen', '1', "http://127.0.0.1:$fport/live/s.flv"],
                   name => 'ffmpeg-listen');
# ffmpeg serves its first connection only: wait for its listen socket
# without connecting (/proc/net/tcp, state 0A)
sub listening {
    my ($p) = @_;
    open my $fh, '<', '/proc/net/tcp' or return 0;
    my $hex = sprintf(':%04X ', $p);
    return scalar grep { /^\s*\d+: [0-9A-F]{8}\Q$hex\E\S+ 0A / } <$fh>;
}
ok($t->wait_until(sub { listening($fport) }, timeout => 10),
   'ffmpeg listens') or diag($ff->log_text);
($j, $o) = load("http://127.0.0.1:$fport/live/s.flv", 1, '-t', 10);
my ($fp) = @{$j->{players} // [{}]};
is($fp->{video_msgs}, $nvideo, 'ffmpeg: every video tag') or diag($o);
is($fp->{audio_msgs}, $naudio, 'ffmpeg: every audio tag');
is($fp->{last_status}, 'HTTP 200', 'ffmpeg: 200');
ok(defined $fp->{first_keyframe_ms}, 'ffmpeg: a keyframe');

$t->stop_all;
done_testing;
