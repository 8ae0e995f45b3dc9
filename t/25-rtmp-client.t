#!/usr/bin/perl

# Self test of the RTMP client the cluster tests assert with, in process
# (no nginx): RTMP::AMF0's encoding and decoding of every type, RTMP::Client's
# chunk layer and protocol control messages against a second client that
# plays the server with hand-made chunks, and the synthetic H.264/AAC
# frames it publishes.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use IO::Socket::IP;
use Test::More;

use ClusterTest;
use RTMP::AMF0 qw(:all);
use RTMP::Client;

###########################################################################
# AMF0

subtest 'AMF0 encoding of forced and guessed types' => sub {
    my %cases = (
        'num(5)'        => [num(5),          '00' . '4014000000000000'],
        'num(-1.5)'     => [num(-1.5),       '00' . 'bff8000000000000'],
        'plain 5'       => [5,               '00' . '4014000000000000'],
        'str("5")'      => [str('5'),        '02' . '0001' . '35'],
        'plain "5"'     => ['5',             '02' . '0001' . '35'],
        'bool(1)'       => [bool(1),         '01' . '01'],
        'false'         => [false,           '01' . '00'],
        'null'          => [undef,           '05'],
        'undefined'     => [undefined(),     '06'],
        'empty string'  => ['',              '02' . '0000'],
        'long_str("x")' => [long_str('x'),   '0c' . '00000001' . '78'],
        'date'          => [date(1000, -60), '0b' . '408f400000000000' . 'ffc4'],
        'strict array'  => [[num(1), 'a'],
                            '0a' . '00000002' . '00' . '3ff0000000000000' . '02' . '0001' . '61'],
        'object order'  => [obj(b => 1, a => str('x')),
                            '03' . '0001' . '62' . '00' . '3ff0000000000000'
                            . '0001' . '61' . '02' . '0001' . '78' . '000009'],
        'ecma array'    => [ecma(k => undef),
                            '08' . '00000001' . '0001' . '6b' . '05' . '000009'],
    );
    for my $name (sort keys %cases) {
        my ($v, $hex) = @{$cases{$name}};
        is(unpack('H*', amf0_encode($v)), $hex, "encode $name");
    }

    # a number that has been stringified is still a number
    my $n = 7;
    my $s = "n=$n";
    is(unpack('H*', amf0_encode($n)), '00401c000000000000', 'stringified number stays a number');

    # long strings are chosen automatically past 65535 bytes
    my $long = 'y' x 70000;
    my $enc = amf0_encode($long);
    is(substr(unpack('H*', $enc), 0, 10), '0c00011170', 'long string marker and length');
    is((amf0_decode($enc))[0], $long, 'long string decodes');
};

subtest 'AMF0 round trip of every type, key order preserved' => sub {
    my @values = (
        num(0), num(1.25), num(-1e300), num(4294967296),
        true, false,
        str(''), str('hello'), str("bytes \x00\xff"),
        long_str('z' x 10),
        undef, undefined(),
        obj(zeta => num(1), alpha => str('a'), mid => obj(y => true, x => undef)),
        ecma(width => num(320), height => num(240), codec => str('avc1')),
        [num(1), str('two'), [obj(k => str('v'))], undef],
        date(1700000000000, 120),
        obj(),
    );
    my $bytes = amf0_encode(@values);
    my @d = amf0_decode($bytes);
    is(scalar @d, scalar @values, 'same number of values');

    is($d[0], 0, 'number 0');
    is($d[1], 1.25, 'number 1.25');
    is($d[2], -1e300, 'number -1e300');
    is($d[3], 4294967296, 'number 2^32');
    ok($d[4] && ref $d[4] && $d[4]->isa('JSON::PP::Boolean'), 'true is a boolean');
    ok(!$d[5] && ref $d[5], 'false is a boolean');
    is($d[6], '', 'empty string');
    is($d[7], 'hello', 'string');
    is($d[8], "bytes \x00\xff", 'binary string');
    is($d[9], 'z' x 10, 'long string');
    is($d[10], undef, 'null is undef');
    is($d[11], undef, 'undefined is undef');

    is_deeply([keys %{$d[12]}], [qw(zeta alpha mid)], 'object keys in wire order');
    is_deeply([keys_in_order($d[12])], [qw(zeta alpha mid)], 'keys_in_order');
    is_deeply([keys %{$d[12]{mid}}], [qw(y x)], 'nested object keys in order');
    ok(!is_ecma($d[12]), 'object is not an ECMA array');
    is($d[12]{alpha}, 'a', 'object value');

    ok(is_ecma($d[13]), 'ECMA array decoded as ECMA array');
    is_deeply([keys %{$d[13]}], [qw(width height codec)], 'ECMA array key order');
    is($d[13]{height}, 240, 'ECMA array value');

    is(ref $d[14], 'ARRAY', 'strict array is an arrayref');
    is($d[14][1], 'two', 'strict array element');
    is($d[14][2][0]{k}, 'v', 'object inside strict array');
    is($d[14][3], undef, 'null inside strict array');

    isa_ok($d[15], 'RTMP::AMF0::Date');
    is($d[15]->ms, 1700000000000, 'date ms');
    is($d[15]->tz, 120, 'date tz');
    is_deeply([keys %{$d[16]}], [], 'empty object');

    # everything but the lossy ones (undefined -> undef, long -> short
    # string) re-encodes to the same bytes
    my @lossless = (@values[0 .. 8], undef, @values[12 .. 16]);
    my @dl = amf0_decode(amf0_encode(@lossless));
    is(unpack('H*', amf0_encode(@dl)), unpack('H*', amf0_encode(@lossless)),
       'decode + encode reproduces the bytes');

    eval { amf0_decode("\x02\x00\x05ab") };
    like($@, qr/truncated/, 'truncated string is an error');
    eval { amf0_decode("\x0d") };
    like($@, qr/unsupported type/, 'unknown marker is an error');
};

###########################################################################
# RTMP chunk layer, in process: a second RTMP::Client object plays the
# server side on an accepted socket and sends hand-made chunks.

subtest 'RTMP chunk parsing and protocol control (in process)' => sub {
    my $l = IO::Socket::IP->new(LocalHost => '127.0.0.1', LocalPort => 0,
                                Listen => 1, Proto => 'tcp') or die "listen: $!";
    my $c = RTMP::Client->new(port => $l->sockport, no_handshake => 1, timeout => 3);
    my $srv_sock = $l->accept or die "accept: $!";
    my $s = RTMP::Client->new(sock => $srv_sock, no_handshake => 1, timeout => 3);

    is($c->read_message(timeout => 0.2), undef, 'read_message times out with undef');

    # peer chunk size
    $s->set_chunk_size(100);
    my $m = $c->read_message(timeout => 2);
    is($m->{type}, 1, 'set chunk size received');
    is($c->in_chunk_size, 100, 'in chunk size applied');

    # multi-chunk message with an extended timestamp (repeated in fmt 3)
    my $payload = join '', map { chr(($_ * 7) & 0xff) } 0 .. 999;
    $s->send_message(type => 9, csid => 6, msid => 1, timestamp => 0x1000005,
                     data => $payload);
    $m = $c->read_message(timeout => 2);
    is($m->{type}, 9, 'video message');
    is($m->{timestamp}, 0x1000005, 'extended timestamp');
    is($m->{msid}, 1, 'message stream id');
    ok($m->{data} eq $payload, '1000 byte payload over 10 chunks intact');

    # hand-made headers: fmt 0, 2, 3 (new message) and 1 on a 2-byte csid
    # (70), then a 3-byte csid (400).  Header fields: timestamp (3 bytes),
    # length (3), type (1), message stream id (4, little endian).
    my $b70 = sub { pack('C C', $_[0] << 6, 70 - 64) };
    my $raw = join '',
        $b70->(0), "\x00\x00\x64", "\x00\x00\x03", "\x12", pack('V', 1), 'abc', # ts 100
        $b70->(2), "\x00\x00\x0a", 'def',                                      # +10
        $b70->(3), 'ghi',                                                      # +10 again
        $b70->(1), "\x00\x00\x05", "\x00\x00\x02", "\x12", 'jk',               # +5, len 2
        pack('C v', 1, 400 - 64),                                              # csid 400
        "\x00\x00\x07", "\x00\x00\x01", "\x08", pack('V', 2), 'A';
    $s->send_raw($raw);
    my @got = map { $c->read_message(timeout => 2) } 1 .. 5;
    is_deeply([map { [$_->{csid}, $_->{timestamp}, $_->{data}, $_->{msid}] } @got],
              [[70, 100, 'abc', 1], [70, 110, 'def', 1], [70, 120, 'ghi', 1],
               [70, 125, 'jk', 1], [400, 7, 'A', 2]],
              'fmt 0/2/3/1 headers, deltas and csid forms');

    # fmt 3 continuation WITHOUT the repeated extended timestamp (as the
    # spec text has it) is understood too
    # (csid 7, 150 bytes in chunks of 100)
    $raw = pack('C', 7) . "\xff\xff\xff" . "\x00\x00\x96" . "\x09"
        . pack('V', 1) . pack('N', 0x2000000) . ('x' x 100)
        . pack('C', 0xC0 | 7) . ('y' x 50);
    $s->send_raw($raw);
    $m = $c->read_message(timeout => 2);
    is($m->{timestamp}, 0x2000000, 'extended timestamp, spec style');
    is($m->{data}, ('x' x 100) . ('y' x 50), 'continuation without extended field');

    # abort drops a partial message (first 100 of 300 bytes on csid 9)
    $raw = pack('C', 9) . "\x00\x00\x01" . "\x00\x01\x2c" . "\x09"
        . pack('V', 1) . ('p' x 100);
    $s->send_raw($raw);
    $s->send_message(type => 2, csid => 2, data => pack('N', 9));
    $s->send_message(type => 9, csid => 9, msid => 1, timestamp => 5, data => 'new');
    $m = $c->read_message(timeout => 2);
    is($m->{type}, 2, 'abort message');
    $m = $c->read_message(timeout => 2);
    is($m->{data}, 'new', 'aborted partial message dropped');

    # acknowledgement window
    $s->send_window_ack_size(500);
    $c->read_message(timeout => 2);
    $s->send_message(type => 9, csid => 6, msid => 1, data => 'z' x 1500);
    $c->read_message(timeout => 2);
    $m = $s->wait_message(sub { $_[0]{type} == 3 }, timeout => 2);
    ok($m && $m->{sequence} >= 500, 'acknowledgement sent after the window');

    # ping request gets a ping response; peer bandwidth gets window size
    $s->send_user_control(6, pack('N', 12345));
    $m = $c->read_message(timeout => 2);
    is($m->{event}, 6, 'ping request seen');
    $m = $s->wait_message(sub { $_[0]{type} == 4 }, timeout => 2);
    is_deeply([$m->{event}, $m->{event_data}], [7, 12345], 'ping response with the timestamp');
    $s->send_message(type => 6, csid => 2, data => pack('N C', 2500000, 2));
    $c->read_message(timeout => 2);
    $m = $s->wait_message(sub { $_[0]{type} == 5 }, timeout => 2);
    is($m && $m->{window}, 2500000, 'window ack size answers set peer bandwidth');

    # AMF command decoding, wait_status
    $s->send_command(5, 1, 'onStatus', 0, undef,
                     obj(level => 'status', code => 'NetStream.Play.Start'));
    $m = $c->wait_status(qr/^NetStream\.Play\./, 2);
    is($m && $m->{code}, 'NetStream.Play.Start', 'wait_status');

    # eof
    $s->close;
    $m = $c->read_message(timeout => 2);
    is($m->{type}, 'eof', 'eof reported');
    is($c->read_message(timeout => 1)->{type}, 'eof', 'eof reported again');
    is($c->wait_message(sub { 1 }, timeout => 1), undef, 'wait_message undef at eof');
};

subtest 'synthetic frames' => sub {
    my $sh = RTMP::Client::make_video_frame(seq_header => 1);
    is(unpack('H10', $sh), '1700000000', 'AVC sequence header tag bytes');
    is(unpack('H12', substr($sh, 5)), '0142c01effe1', 'AVCDecoderConfigurationRecord head');
    my $k = RTMP::Client::make_video_frame(keyframe => 1, size => 500);
    is(length $k, 500, 'video frame size');
    is(unpack('H10', $k), '1701000000', 'keyframe NALU packet');
    is(unpack('N', substr($k, 5, 4)), 491, 'NAL length prefix');
    is(unpack('H2', substr($k, 9, 1)), '65', 'IDR NAL');
    is(unpack('H2', RTMP::Client::make_video_frame(keyframe => 0)), '27', 'inter frame');
    is(unpack('H*', RTMP::Client::make_audio_frame(seq_header => 1)), 'af001210',
       'AAC sequence header');
    my $a = RTMP::Client::make_audio_frame(size => 77);
    is(length $a, 77, 'audio frame size');
    is(unpack('H4', $a), 'af01', 'AAC raw packet');
};

done_testing;
