#!/usr/bin/perl

# Self test of FakeCoworker, the fake coworker HTTP API of an SRS origin
# cluster (/api/v1/clusters) the lookup tests talk to, in every mode:
# SRS's answers byte for byte, slow, silent, HTTP errors, garbage,
# truncated, huge and wrong-shaped answers; its processes all stopped.
# Needs no cluster module and no nginx.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use HTTP::Tiny;
use IO::Select;
use IO::Socket::IP;
use JSON::PP ();
use Test::More;
use Time::HiRes qw(time);

use ClusterTest;
use FakeCoworker;

my $t = ClusterTest->new;
my $tmp = $t->tmp;
my $n = 0;

sub coworker {
    my (%o) = @_;
    $n++;
    return FakeCoworker->start(log => "$tmp/cw-$o{mode}-$n.log", %o);
}

sub query { "vhost=__defaultVhost__&ip=127.0.0.1&app=live&stream=$_[0]" }

sub url {
    my ($cw, $stream) = @_;
    my $p = $cw->port;
    return "http://127.0.0.1:$p/api/v1/clusters?" . query($stream // 's1')
         . "&coworker=127.0.0.1:$p";
}

sub target {
    my ($cw, $stream) = @_;
    my $p = $cw->port;
    return "/api/v1/clusters?" . query($stream // 's1') . "&coworker=127.0.0.1:$p";
}

sub http { HTTP::Tiny->new(timeout => slow($_[0] // 5), keep_alive => 0) }

# The fields of the found answer to a query for $stream
sub found_fields {
    my ($cw, $stream, %o) = @_;
    return (ip => '127.0.0.1', vhost => '__defaultVhost__', app => 'live',
            stream => $stream // 's1',
            origin_ip => $o{origin_ip} // '127.0.0.1',
            origin_port => $o{origin_port} // 1935,
            api => '127.0.0.1:' . $cw->port);
}

# Open a connection and send a raw request
sub send_request {
    my ($port, $req) = @_;
    my $s = IO::Socket::IP->new(PeerHost => '127.0.0.1', PeerPort => $port,
                                Proto => 'tcp', Timeout => 2)
        or die "connect to $port: $!";
    $s->blocking(0);
    syswrite $s, $req;
    return $s;
}

# Read from several sockets until each one is at EOF (or $timeout);
# returns the data of each and the time each EOF came
sub read_all {
    my ($timeout, @socks) = @_;
    my $start = time;
    my (@data, @done);
    my $sel = IO::Select->new(@socks);
    my %idx = map { ($socks[$_] => $_) } 0 .. $#socks;
    $data[$_] = '' for 0 .. $#socks;
    while ($sel->count && (my $left = $start + $timeout - time) > 0) {
        for my $s ($sel->can_read($left)) {
            my $i = $idx{$s};
            my $r = sysread $s, $data[$i], 65536, length $data[$i];
            next if !defined $r && $!{EAGAIN};
            if (!$r) {
                $done[$i] = time - $start;
                $sel->remove($s);
            }
        }
    }
    return (\@data, \@done);
}

sub split_response {
    my ($raw) = @_;
    my ($head, $body) = split /\r\n\r\n/, $raw, 2;
    my ($status) = ($head // '') =~ m{^HTTP/1\.1 (\d+)};
    my %h = map { /^([^:]+):\s*(.*)$/ ? (lc $1 => $2) : () }
            split /\r\n/, $head // '';
    return ($status, \%h, $body // '');
}

# live processes whose process group is $pgid
sub group_procs {
    my ($pgid) = @_;
    my @out;
    opendir my $dh, '/proc' or return;
    for my $pid (grep { /^\d+$/ } readdir $dh) {
        open my $fh, '<', "/proc/$pid/stat" or next;
        my $stat = <$fh> // next;
        my ($state, $pgrp) = $stat =~ /\)\s+(\S)\s+\d+\s+(\d+)/ or next;
        push @out, $pid if $pgrp == $pgid && $state ne 'Z';
    }
    return @out;
}

my $json = JSON::PP->new;

subtest 'srs_found_body and srs_notfound_body: SRS format, key order' => sub {
    my $b = FakeCoworker->srs_found_body(
        ip => '10.0.0.1', vhost => 'v', app => 'a', stream => 's',
        origin_ip => '10.0.0.2', origin_port => 19350, api => '10.0.0.2:1985');
    is($b, '{"code":0,"data":{"query":{"ip":"10.0.0.1","vhost":"v","app":"a",'
         . '"stream":"s"},"origin":{"ip":"10.0.0.2","port":19350,"vhost":"v",'
         . '"api":"10.0.0.2:1985","routers":["10.0.0.2:1985"]}}}', 'found');
    is(FakeCoworker->srs_notfound_body(ip => '10.0.0.1', vhost => 'v',
                                       app => 'a', stream => 's'),
       '{"code":0,"data":{"query":{"ip":"10.0.0.1","vhost":"v","app":"a",'
       . '"stream":"s"},"origin":null}}', 'notfound');
    like(FakeCoworker->srs_found_body(stream => "q\"\\", api => 'x'),
         qr/"stream":"q\\"\\\\"/, 'strings are JSON-escaped');
};

subtest 'found: GET and POST, byte-exact SRS answer, request lines' => sub {
    my $cw = coworker(mode => 'found', origin_ip => '127.0.0.1',
                      origin_port => 19350);
    is($cw->requests, 0, 'no request yet');
    my $want = FakeCoworker->srs_found_body(found_fields($cw, 's1',
                                                         origin_port => 19350));
    for my $method (qw(GET POST)) {
        my $r = http()->request($method, url($cw));
        is($r->{status}, 200, "$method: 200");
        is($r->{headers}{'content-type'}, 'application/json',
           "$method: Content-Type");
        is($r->{content}, $want, "$method: body byte for byte");
        my $d = eval { $json->decode($r->{content}) };
        is($d->{code}, 0, "$method: code 0");
        is_deeply($d->{data}{query}, { ip => '127.0.0.1',
            vhost => '__defaultVhost__', app => 'live', stream => 's1' },
            "$method: query echoed");
        is($d->{data}{origin}{port}, 19350, "$method: origin port");
        is_deeply($d->{data}{origin}{routers}, ['127.0.0.1:' . $cw->port],
                  "$method: routers");
    }
    like($want, qr/"port":19350,/, 'the port is a JSON integer');
    is_deeply([$cw->request_lines],
              ['GET ' . target($cw), 'POST ' . target($cw)],
              'request lines logged as received');
    is($cw->requests, 2, 'requests');

    # URL-decoding, missing parameters
    my $p = $cw->port;
    my $r = http()->get("http://127.0.0.1:$p/x?stream=a%20b%2Fc+d&app=live");
    is($r->{content}, FakeCoworker->srs_found_body(ip => '', vhost => '',
        app => 'live', stream => 'a b/c d', origin_port => 19350,
        api => "127.0.0.1:$p"), 'parameters URL-decoded, missing ones empty');
    is(($cw->request_lines)[-1], 'GET /x?stream=a%20b%2Fc+d&app=live',
       'the raw target is logged');
    $cw->stop;
};

subtest 'found with streams: notfound for the others' => sub {
    my $cw = coworker(mode => 'found', streams => ['s1', 's3'],
                      origin_port => 1936);
    my $r = http()->get(url($cw, 's1'));
    is($r->{content}, FakeCoworker->srs_found_body(found_fields($cw, 's1',
        origin_port => 1936)), 's1 found');
    $r = http()->get(url($cw, 's2'));
    is($r->{status}, 200, 's2: 200');
    is($r->{content}, FakeCoworker->srs_notfound_body(found_fields($cw, 's2')),
       's2 not found');
    my $d = $json->decode($r->{content});
    ok(exists $d->{data}{origin} && !defined $d->{data}{origin}, 'origin null');
};

subtest 'notfound' => sub {
    my $cw = coworker(mode => 'notfound');
    my $r = http()->post(url($cw));
    is($r->{status}, 200, 'status 200');
    is($r->{content}, '{"code":0,"data":{"query":{"ip":"127.0.0.1",'
        . '"vhost":"__defaultVhost__","app":"live","stream":"s1"},'
        . '"origin":null}}', 'body');
    is($cw->requests, 1, 'logged');
};

subtest 'slow: answers after the delay, connections in parallel' => sub {
    # a delay of slow(1): a loaded machine's overhead stays a fraction of it
    my $delay = slow(1);
    my $cw = coworker(mode => 'slow', delay => $delay);
    my $start = time;
    my $r = http()->get(url($cw));
    my $took = time - $start;
    is($r->{content}, FakeCoworker->srs_found_body(found_fields($cw)),
       'a found answer');
    cmp_ok($took, '>=', $delay, sprintf('after the delay (%.2fs)', $took));

    # two at once: both answered after about one delay, not two
    my $req = "GET " . target($cw) . " HTTP/1.1\r\nHost: x\r\n\r\n";
    $start = time;
    my @s = map { send_request($cw->port, $req) } 1 .. 2;
    my ($data, $done) = read_all(slow(5), @s);
    for my $i (0, 1) {
        my ($status, undef, $body) = split_response($data->[$i]);
        is($status, 200, "parallel request $i: 200");
        ok(defined $done->[$i] && $done->[$i] >= 0.95 * $delay
           && $done->[$i] < 1.8 * $delay,
           sprintf('parallel request %d answered in %.2fs', $i,
                   $done->[$i] // -1));
    }
    is($cw->requests, 3, 'three requests logged');

    my $nf = coworker(mode => 'slow', delay => 0.3, then => 'notfound');
    $r = http()->get(url($nf));
    is($r->{content}, FakeCoworker->srs_notfound_body(found_fields($nf)),
       'then => notfound');
};

subtest 'silent: never answers, keeps the connection' => sub {
    my $cw = coworker(mode => 'silent');
    my $start = time;
    my $r = http(1)->get(url($cw));
    my $took = time - $start;
    is($r->{status}, 599, 'the client times out');
    like($r->{content}, qr/timed out/i, 'timeout error');
    cmp_ok($took, '<', slow(3), sprintf('in %.2fs', $took));
    ok($cw->requests >= 1, 'the request was logged');
    is(($cw->request_lines)[0], 'GET ' . target($cw), 'request line');

    # the connection stays open (no EOF) for as long as the client waits;
    # the control: the same look at a found coworker sees its answer and
    # the close
    my $found = coworker(mode => 'found');
    my $s = send_request($found->port, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    my ($data, $done) = read_all(1, $s);
    ok(defined $done->[0] && $data->[0] =~ m{^HTTP/1\.1 200 },
       'a found coworker: an answer and a close in 1s (control)');
    close $s;
    $found->stop;
    $s = send_request($cw->port, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    ($data, $done) = read_all(1, $s);
    ok(!defined $done->[0] && $data->[0] eq '', 'no answer, no close in 1s');
    close $s;
};

subtest 'http500, http404' => sub {
    for my $code (500, 404) {
        my $cw = coworker(mode => "http$code");
        my $r = http()->get(url($cw));
        is($r->{status}, $code, "http$code: status");
        my $d = eval { $json->decode($r->{content}) };
        ok($d && $d->{code} == $code, "http$code: JSON error body");
        is($cw->requests, 1, "http$code: logged");
    }
};

subtest 'garbage' => sub {
    my $cw = coworker(mode => 'garbage');
    my $r = http()->get(url($cw));
    is($r->{status}, 200, 'status 200');
    is($r->{content}, 'this is not json {{{', 'body');
    ok(!eval { $json->decode($r->{content}); 1 }, 'not JSON');
};

subtest 'truncated: Content-Length larger than the body, then close' => sub {
    my $cw = coworker(mode => 'truncated');
    # raw: HTTP::Tiny would retry the GET once after "Unexpected end"
    my $s = send_request($cw->port, "GET " . target($cw)
                                    . " HTTP/1.1\r\nHost: x\r\n\r\n");
    my ($data, $done) = read_all(3, $s);
    ok(defined $done->[0], 'the fake closed');
    my ($status, $h, $body) = split_response($data->[0]);
    my $full = FakeCoworker->srs_found_body(found_fields($cw));
    is($status, 200, 'status 200');
    is($h->{'content-length'}, length $full, 'Content-Length of the whole body');
    is($body, substr($full, 0, int(length($full) / 2)), 'half of it sent');
    is($cw->requests, 1, 'logged');
};

subtest 'huge: an 8 MB valid answer' => sub {
    my $cw = coworker(mode => 'huge');
    my $r = http(10)->get(url($cw));
    is($r->{status}, 200, 'status 200');
    my $len = length $r->{content};
    ok($len >= 7_500_000 && $len <= 8_500_000, "about 8 MB ($len bytes)");
    is($r->{headers}{'content-length'}, $len, 'Content-Length');
    my $d = eval { $json->decode($r->{content}) };
    ok($d && $d->{code} == 0 && $d->{data}{origin}{port} == 1935,
       'valid found answer');
    ok($d && length($d->{data}{query}{pad} // '') > 7_000_000,
       'the bulk is a string in data.query');
    like($r->{content}, qr/^\{"code":0,"data":\{"query":\{"ip":"127\.0\.0\.1",/,
         'SRS key order');
};

subtest 'wrongshape' => sub {
    my %want = (
        default    => '{"code":0,"data":{"origin":{"ip":12345,"port":"1935"}}}',
        array      => '[1,2,3]',
    );
    for my $shape (qw(default codestring array)) {
        my $cw = coworker(mode => 'wrongshape',
                          $shape eq 'default' ? () : (shape => $shape));
        my $r = http()->get(url($cw));
        is($r->{status}, 200, "$shape: 200");
        ok(eval { $json->decode($r->{content}); 1 }, "$shape: valid JSON");
        my $w = $want{$shape} // do {
            (my $f = FakeCoworker->srs_found_body(found_fields($cw)))
                =~ s/^\{"code":0,/{"code":"0",/;
            $f;
        };
        is($r->{content}, $w, "$shape: body");
    }
    like($want{default}, qr/"ip":12345,"port":"1935"/, 'ip a number, port a string');
};

subtest 'port option, unknown modes, refused port' => sub {
    my $p = $t->port;
    my $cw = coworker(mode => 'found', port => $p);
    is($cw->port, $p, 'listens on the given port');
    is(http()->get(url($cw))->{status}, 200, 'answers there');
    $cw->stop;
    ok(!eval { FakeCoworker->start(mode => 'refuse', log => "$tmp/x.log"); 1 },
       'refuse is not a mode');
    is(http(1)->get(url($cw))->{status}, 599, 'a stopped coworker refuses');
};

subtest 'stop: the server and its connection processes are gone' => sub {
    my $cw = coworker(mode => 'silent');
    my @s = map { send_request($cw->port, "GET /$_ HTTP/1.1\r\n\r\n") } 1 .. 3;
    ok($t->wait_until(sub { $cw->requests == 3 }, timeout => 5),
       'three connections held open');
    my $pgid = $cw->pid;
    is(scalar(my @g = group_procs($pgid)), 4, 'server + 3 connection processes');
    my $start = time;
    $cw->stop;
    cmp_ok(time - $start, '<', slow(1), 'stopped at once');
    is_deeply([group_procs($pgid)], [], 'no process left in its group');
    ok(!kill(0, $pgid), 'server reaped');
    close $_ for @s;
};

subtest 'no process left behind' => sub {
    my $f = coworker(mode => 'found');
    ok(grep({ $_->[0] == $f->pid } ClusterTest::_children($$)),
       'a running fake is seen (control)');
    $f->stop;
    my @kids = ClusterTest::_children($$);
    is_deeply(\@kids, [], 'no child process of the test');
};

done_testing;
