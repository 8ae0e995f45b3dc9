#!/usr/bin/perl

# Self test of the fakes the cluster tests talk to: FakeCoworker (the
# coworker HTTP API of an SRS origin cluster) in every mode, and the
# redirecting modes of FakeOrigin.  Needs no cluster module and no nginx.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use HTTP::Tiny;
use IO::Select;
use IO::Socket::IP;
use JSON::PP ();
use Test::More;
use Time::HiRes qw(time sleep);

use ClusterTest;
use FakeCoworker;
use FakeOrigin;
use RTMP::AMF0 qw(keys_in_order);
use RTMP::Client;

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

sub http { HTTP::Tiny->new(timeout => $_[0] // 5, keep_alive => 0) }

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

###########################################################################
# FakeCoworker

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
    my $cw = coworker(mode => 'slow', delay => 1);
    my $start = time;
    my $r = http()->get(url($cw));
    my $took = time - $start;
    is($r->{content}, FakeCoworker->srs_found_body(found_fields($cw)),
       'a found answer');
    cmp_ok($took, '>=', 1, sprintf('after the delay (%.2fs)', $took));

    # two at once: both answered after about one delay, not two
    my $req = "GET " . target($cw) . " HTTP/1.1\r\nHost: x\r\n\r\n";
    $start = time;
    my @s = map { send_request($cw->port, $req) } 1 .. 2;
    my ($data, $done) = read_all(5, @s);
    for my $i (0, 1) {
        my ($status, undef, $body) = split_response($data->[$i]);
        is($status, 200, "parallel request $i: 200");
        ok(defined $done->[$i] && $done->[$i] >= 0.95 && $done->[$i] < 1.8,
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
    cmp_ok($took, '<', 3, sprintf('in %.2fs', $took));
    ok($cw->requests >= 1, 'the request was logged');
    is(($cw->request_lines)[0], 'GET ' . target($cw), 'request line');

    # the connection stays open (no EOF) for as long as the client waits
    my $s = send_request($cw->port, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    my ($data, $done) = read_all(1, $s);
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
    cmp_ok(time - $start, '<', 1, 'stopped at once');
    is_deeply([group_procs($pgid)], [], 'no process left in its group');
    ok(!kill(0, $pgid), 'server reaped');
    close $_ for @s;
};

###########################################################################
# FakeOrigin redirects

# the AMF command messages a client gets until $count of them or $timeout
sub commands {
    my ($c, $count, $timeout) = @_;
    my @m;
    my $deadline = time + $timeout;
    while (@m < $count && (my $left = $deadline - time) > 0) {
        my $m = $c->read_message(timeout => $left) or last;
        last if $m->{type} eq 'eof';
        push @m, $m if $m->{type} == 20 || $m->{type} == 18;
    }
    return @m;
}

sub wait_eof {
    my ($c, $timeout) = @_;
    my $deadline = time + $timeout;
    while ((my $left = $deadline - time) > 0) {
        my $m = $c->read_message(timeout => $left) or return 0;
        return 1 if $m->{type} eq 'eof';
    }
    return 0;
}

subtest 'redirect_srs: Play.Reset, Play.Start, then the 302 on stream 0' => sub {
    my $fo = FakeOrigin->start(mode => 'redirect_srs', target => '127.0.0.1:19351',
                               log => "$tmp/fo-srs.log");
    my $c = RTMP::Client->new(port => $fo->port);
    my $res = $c->connect(app => 'live');
    is($res->{name}, '_result', 'connect accepted');
    my $sid = $c->create_stream;
    $c->play('s1?token=x');

    my @m = commands($c, 3, 5);
    is(scalar @m, 3, 'three commands');
    my @want = ('NetStream.Play.Reset', 'NetStream.Play.Start');
    for my $i (0, 1) {
        my $m = $m[$i] // {};
        is($m->{name}, 'onStatus', "$want[$i]: onStatus");
        is($m->{msid}, $sid, "$want[$i]: on the play's stream");
        is($m->{info}{code}, $want[$i], "$want[$i]: code");
        is($m->{info}{level}, 'status', "$want[$i]: level status");
    }

    my $r = $m[2] // {};
    is($r->{type}, 20, '302: an AMF0 command');
    is($r->{name}, 'onStatus', '302: onStatus');
    is($r->{msid}, 0, '302: message stream 0');
    is($r->{csid}, 5, '302: chunk stream 5');
    is($r->{timestamp}, 0, '302: timestamp 0');
    is($r->{trans}, 0, '302: transaction 0');
    ok(@{$r->{amf} // []} == 4 && !defined $r->{amf}[2], '302: null, then the object');
    my $info = $r->{info} // {};
    is_deeply([keys_in_order($info)], [qw(level code description ex)],
              '302: keys in order');
    is($info->{level}, 'error', '302: level');
    is($info->{code}, 'NetConnection.Connect.Rejected', '302: code');
    is($info->{description}, 'RTMP 302 Redirect', '302: description');
    my $ex = $info->{ex} // {};
    is_deeply([keys_in_order($ex)], [qw(code redirect redirect2)], 'ex: keys');
    ok(defined $ex->{code} && !ref $ex->{code} && $ex->{code} == 302,
       'ex.code 302');
    is($ex->{redirect}, 'rtmp://127.0.0.1:19351/live', 'ex.redirect: the tcUrl');
    is($ex->{redirect2}, 'rtmp://127.0.0.1:19351/live/s1?token=x',
       'ex.redirect2: the full URL, with ?token=x');

    # any command from the client ends it
    $c->send_command(3, 0, 'closeStream', 0, undef);
    my $start = time;
    ok(wait_eof($c, 2), 'closed after a command');
    cmp_ok(time - $start, '<', 1, 'at once');
    $c->close;

    is_deeply([$fo->log_lines], ['connection', 'connect live', 'play s1?token=x'],
              'log');
    is($fo->served, 1, 'served counts connections');
    is_deeply([$fo->plays], ['s1?token=x'], 'plays');
    is_deeply([$fo->connects], ['live'], 'connects');

    # without an answer it waits 3 s, as SRS does
    $c = RTMP::Client->new(port => $fo->port);
    $c->connect(app => 'live');
    $c->create_stream;
    $c->play('s2');
    @m = commands($c, 3, 5);
    is($m[2]{info}{ex}{redirect2}, 'rtmp://127.0.0.1:19351/live/s2',
       'no args: none in redirect2');
    $start = time;
    ok(wait_eof($c, 5), 'closed');
    my $took = time - $start;
    ok($took > 2.5 && $took < 4, sprintf('after about 3s (%.2fs)', $took));
    is($fo->served, 2, 'two connections');
    $fo->stop;
};

subtest 'redirect_srs options: only_ex_redirect, redirect_form, full_start' => sub {
    my @cases = (
        [{ only_ex_redirect => 1 }, 'rtmp://h:1/app', undef],
        [{ redirect_form => 'tcurl_args' }, 'rtmp://h:1/app?token=x',
         'rtmp://h:1/app/s1?token=x'],
        [{ redirect_form => 'full', only_ex_redirect => 1 },
         'rtmp://h:1/app/s1?token=x', undef],
    );
    for my $case (@cases) {
        my ($o, $redirect, $redirect2) = @$case;
        my $what = join ',', map { "$_=$o->{$_}" } sort keys %$o;
        my $fo = FakeOrigin->start(mode => 'redirect_srs', target => 'h:1',
                                   log => "$tmp/fo-$what.log", %$o);
        my $c = RTMP::Client->new(port => $fo->port);
        $c->connect(app => 'app');
        $c->create_stream;
        $c->play('s1?token=x');
        my @m = commands($c, 3, 5);
        my $ex = $m[2]{info}{ex} // {};
        is($ex->{redirect}, $redirect, "$what: redirect");
        is($ex->{redirect2}, $redirect2, "$what: redirect2");
        is_deeply([keys_in_order($ex)],
                  [qw(code redirect), defined $redirect2 ? 'redirect2' : ()],
                  "$what: ex keys");
        $c->close;
        $fo->stop;
    }

    my $fo = FakeOrigin->start(mode => 'redirect_srs', target => 'h:1',
                               full_start => 1, log => "$tmp/fo-full.log");
    my $c = RTMP::Client->new(port => $fo->port);
    $c->connect(app => 'live');
    my $sid = $c->create_stream;
    $c->play('s1');
    my @seen;
    my $deadline = time + 5;
    while (@seen < 6 && time < $deadline) {
        my $m = $c->read_message(timeout => 1) or next;
        last if $m->{type} eq 'eof';
        if ($m->{type} == 4) {
            push @seen, "uc$m->{event}:$m->{event_data}";
        } elsif ($m->{type} == 20 || $m->{type} == 18) {
            my ($obj) = grep { ref eq 'HASH' } @{$m->{amf}};
            push @seen, "$m->{type}:$m->{name}:" . ($obj ? $obj->{code} : '');
        }
    }
    is_deeply(\@seen, ["uc0:$sid", '20:onStatus:NetStream.Play.Reset',
                       '20:onStatus:NetStream.Play.Start',
                       '18:|RtmpSampleAccess:', '18:onStatus:NetStream.Data.Start',
                       '20:onStatus:NetConnection.Connect.Rejected'],
              'full_start: the whole SRS sequence');
    $c->close;
    $fo->stop;
};

subtest 'redirect_fms: the connect is rejected with a 302' => sub {
    my $fo = FakeOrigin->start(mode => 'redirect_fms', target => '127.0.0.1:19352',
                               log => "$tmp/fo-fms.log");
    my $c = RTMP::Client->new(port => $fo->port);
    my $start = time;
    my $r = $c->connect(app => 'live');
    is($r->{type}, 20, 'an AMF0 command');
    is($r->{name}, '_error', '_error');
    is($r->{trans}, 1, 'for the connect transaction');
    ok(@{$r->{amf}} == 4 && !defined $r->{amf}[2], 'null, then the object');
    my $info = $r->{info} // {};
    is_deeply([keys_in_order($info)], [qw(level code description ex)], 'keys');
    is($info->{level}, 'error', 'level');
    is($info->{code}, 'NetConnection.Connect.Rejected', 'code');
    is($info->{description}, 'Connection failed: Application rejected connection.',
       'description');
    is_deeply([keys_in_order($info->{ex} // {})], [qw(code redirect)], 'ex keys');
    is($info->{ex}{code}, 302, 'ex.code 302');
    is($info->{ex}{redirect}, 'rtmp://127.0.0.1:19352/live', 'ex.redirect');
    ok(wait_eof($c, 3), 'closed');
    my $took = time - $start;
    ok($took > 0.8 && $took < 2, sprintf('after about 1s (%.2fs)', $took));
    is_deeply([$fo->log_lines], ['connection', 'connect live'], 'log');
    is($fo->served, 1, 'served');
    $fo->stop;
};

subtest 'FakeOrigin: the old modes still work' => sub {
    my $fo = FakeOrigin->start(mode => 'reject', log => "$tmp/fo-reject.log");
    my $c = RTMP::Client->new(port => $fo->port);
    $c->connect(app => 'live');
    $c->create_stream;
    $c->play('s1');
    my $m = $c->wait_status(qr/./, 5);
    is($m && $m->{code}, 'NetStream.Play.StreamNotFound', 'reject');
    $c->close;
    ok($t->wait_until(sub { $fo->served == 1 && $fo->plays }, timeout => 3),
       'logged');
    ok(!eval { FakeOrigin->start(mode => 'redirect_srs', log => "$tmp/y.log"); 1 },
       'redirect modes need a target');
    $fo->stop;
};

subtest 'no process left behind' => sub {
    my @kids = ClusterTest::_children($$);
    is_deeply(\@kids, [], 'no child process of the test');
};

done_testing;
