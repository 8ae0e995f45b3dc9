#!/usr/bin/perl
# Writes the seed corpora of fuzz/corpus/: hand-made inputs in the shapes
# each reader meets on the wire (protocol.md, docs/manager.md).  The files
# are committed; run this only to make them again.
# Usage: perl fuzz/seeds.pl [DIR]   (default: the corpus/ beside it)

use strict;
use warnings;

use File::Basename qw(dirname);
use File::Path qw(make_path);

my $dir = shift // dirname(__FILE__) . '/corpus';

# AMF0
sub num  { pack('C d>', 0, $_[0]) }
sub str  { pack('C n/a*', 2, $_[0]) }
sub null { pack('C', 5) }
sub key  { pack('n/a*', $_[0]) }

sub obj {
    my @kv = @_;
    my $s = pack('C', 3);
    $s .= key(shift @kv) . shift @kv while @kv;
    return $s . pack('n C', 0, 9);
}

sub ecma {
    my @kv = @_;
    my $s = pack('C N', 8, @kv / 2);
    $s .= key(shift @kv) . shift @kv while @kv;
    return $s . pack('n C', 0, 9);
}

sub seed {
    my ($target, $name, $data) = @_;
    make_path("$dir/$target");
    open my $fh, '>:raw', "$dir/$target/$name" or die "$target/$name: $!";
    print $fh $data;
    close $fh;
}

# status: a layout byte (bits 0-6 chunk size, 0 one link; bit 7 an empty
# first link), then what follows "onStatus" or "_error"

my $srs302 = num(0) . null() . obj(
    level       => str('error'),
    code        => str('NetConnection.Connect.Rejected'),
    description => str('RTMP 302 Redirect'),
    ex          => obj(
        code      => num(302),
        redirect  => str('rtmp://10.0.0.2:1935/live'),
        redirect2 => str('rtmp://10.0.0.2:1935/live/s1?token=x'),
    ),
);

my $srs302_name = num(0) . null() . obj(
    level       => str('error'),
    code        => str('NetConnection.Connect.Rejected'),
    description => str('RTMP 302 Redirect'),
    ex          => obj(
        code      => num(302),
        redirect  => str('rtmp://origin2.example:19350/live'),
        redirect2 => str('rtmp://origin2.example:19350/live/s1?token=x'
                         . '&vhost=edge.example'),
    ),
);

my $fms302 = num(1) . null() . obj(
    level       => str('error'),
    code        => str('NetConnection.Connect.Rejected'),
    description => str('Connection rejected'),
    ex          => obj(
        code     => num(302),
        redirect => str('rtmp://127.0.0.2:1936/live'),
    ),
);

my $ecma302 = num(1) . null() . obj(
    level       => str('error'),
    code        => str('NetConnection.Connect.Rejected'),
    ex          => ecma(
        code     => num(302),
        redirect => str('rtmp://[::1]:1935/live'),
    ),
);

my $reset = num(0) . null() . obj(
    level       => str('status'),
    code        => str('NetStream.Play.Reset'),
    description => str('Playing and resetting stream.'),
    details     => str('s1'),
    clientid    => str('8w5b6w1k'),
);

my $start = num(0) . null() . obj(
    level       => str('status'),
    code        => str('NetStream.Play.Start'),
    description => str('Started playing stream.'),
    details     => str('s1'),
    clientid    => str('8w5b6w1k'),
);

my $notfound = num(0) . null() . obj(
    level       => str('error'),
    code        => str('NetStream.Play.StreamNotFound'),
    description => str('No such stream'),
);

seed(status => 'srs-302',           "\x00" . $srs302);
seed(status => 'srs-302-chunk-128', "\x7f" . $srs302);
seed(status => 'srs-302-name',      "\x80" . $srs302_name);
seed(status => 'fms-302',           "\x00" . $fms302);
seed(status => 'fms-302-chunk-16',  "\x90" . $fms302);
seed(status => 'ecma-302-ipv6',     "\x00" . $ecma302);
seed(status => 'play-reset',        "\x00" . $reset);
seed(status => 'play-start',        "\x7f" . $start);
seed(status => 'not-found',         "\x00" . $notfound);

# url: a 302's redirect, redirect2, or a configured origin

my %url = (
    'srs-redirect'  => 'rtmp://10.0.0.2:1935/live',
    'srs-redirect2' => 'rtmp://10.0.0.2:1935/live/s1?token=x',
    'name-vhost'    => 'rtmp://origin2.example:19350/live/s1?token=x'
                       . '&vhost=edge.example',
    'no-scheme'     => '10.0.0.2:1936',
    'upper-scheme'  => 'RTMP://origin.example/live?x',
    'ipv6'          => 'rtmp://[::1]:1935/live',
    'port-0'        => 'rtmp://origin.example:0/live',
    'port-65536'    => 'rtmp://origin.example:65536/live',
    'unspecified'   => 'rtmp://0.0.0.0/live',
);

seed(url => $_, $url{$_}) for keys %url;

# names: application and stream names, hosts, tokens

my %names = (
    'app'        => 'live',
    'app-slash'  => 'live/sub',
    'stream'     => 's1',
    'ipv4'       => '10.0.0.2',
    'host'       => 'origin-1.example_net',
    'ipv6'       => '[::1]',
    'ipv6-bare'  => '::ffff:10.0.0.2',
    'token'      => '5d41402abc4b2a76b9719d911017c592',
    'any'        => '0.0.0.0',
    'numeric'    => '1.2.3',
    'secret'     => 'S3cr3t-v4lue!~' x 4,
);

seed(names => $_, $names{$_}) for keys %names;

# answer: a byte for the address buffer ("?": 64 bytes, the module's),
# then an SRS coworker's answer

my $q = '"query":{"ip":"H","vhost":"V","app":"A","stream":"S"}';

my %answer = (
    'found' => qq({"code":0,"data":{$q,"origin":{"ip":"10.0.0.2","port":1935,)
               . qq("vhost":"V","api":"10.0.0.2:1985",)
               . qq("routers":["10.0.0.2:1985"]}}}),
    'not-here'  => qq({"code":0,"data":{$q,"origin":null}}),
    'host-name' => qq({"code":0,"data":{"origin":{"ip":"origin2.example",)
                   . qq("port":19350}}}),
    'error'     => qq({"code":1,"data":{}}),
    'float'     => qq({"code":0,"data":{"origin":{"ip":"10.0.0.2",)
                   . qq("port":1935.0}}}),
    'escapes'   => qq({"code":0,"data":{"origin":{"ip":"\\u0031.2.3.4",)
                   . qq("port":1935,"vhost":"\\ud83d\\ude00"}}}),
);

seed(answer => $_, '?' . $answer{$_}) for keys %answer;

# lease: a byte for the address buffer, one for the token buffer ("?",
# "@": 64 and 65 bytes), then a stream manager's answer

my %lease = (
    'registered' => '{"code":0,"stream":"live/cam1",'
                    . '"token":"5d41402abc4b2a76b9719d911017c592","ttl":10}',
    'leased'     => '{"code":409,"error":"stream is leased by another '
                    . 'origin","origin":{"host":"10.0.0.1","port":1935}}',
    'lookup'     => '{"code":0,"stream":"live/cam1","origin":{"host":'
                    . '"10.0.0.1","port":1935},"ttl_ms":8211}',
    'not-found'  => '{"code":404,"error":"no such stream"}',
    'renewed'    => '{"code":0,"stream":"live/cam1","ttl":10}',
);

seed(lease => $_, '?@' . $lease{$_}) for keys %lease;

# lease_request: bit 0 of the first byte is renew ("0" register, "1"
# renew), then the request's body

seed(lease_request => 'register',
     '0{"host":"10.0.0.1","port":1935,"ttl":10}');
seed(lease_request => 'register-token',
     '0{"host":"origin1.example","port":1935,'
     . '"token":"5d41402abc4b2a76b9719d911017c592"}');
seed(lease_request => 'register-ipv6', '0{"host":"[::1]","port":19350}');
seed(lease_request => 'renew',
     '1{"token":"5d41402abc4b2a76b9719d911017c592","ttl":10}');
seed(lease_request => 'renew-no-token', '1{"ttl":10}');
seed(lease_request => 'not-object', '0["host","10.0.0.1"]');

# lease_value: bit 0 of the first byte asks for no token, then the value

seed(lease_value => 'lease',
     '05d41402abc4b2a76b9719d911017c592 10.0.0.1 1935');
seed(lease_value => 'lease-name', '1tok origin1.example 19350');
seed(lease_value => 'lease-ipv6', '0tok ::1 1935');
seed(lease_value => 'no-port', '0tok 10.0.0.1 ');

# path: bit 0 of the first byte says escaped ("1": as sent), then what
# follows the location

seed(path => 'app-name',     '1live/cam1');
seed(path => 'app-sub',      '1app/sub/cam1');
seed(path => 'escaped',      '1li%2Fve/caf%C3%A9');
seed(path => 'unescaped',    '0live/caf' . "\xc3\xa9");
seed(path => 'slashes',      '1//live//cam1');
seed(path => 'only-slashes', '1///');
seed(path => 'nul',          '1live/s%00x');

# stream_key: a Redis key's stream part (any bytes), and APP NUL NAME

seed(stream_key => 'key',          'live/cam1');
seed(stream_key => 'key-app-slash', 'app/sub/cam1');
seed(stream_key => 'key-escaped',  'a/b%2Fc%25d');
seed(stream_key => 'key-lowercase', 'a/b%2fc');
seed(stream_key => 'app-name',     "live\0cam1");
seed(stream_key => 'app-name-odd', "a/b%\0c/d%2F");

# arg: the first byte chooses the name (0 vhost, 1 ip, 2 app, 3 stream,
# 4 coworker, 5 "a"), then SRS's query string

my $srs = 'vhost=__defaultVhost__&ip=10.0.0.3&app=live&stream=s1'
          . '&coworker=127.0.0.1:9090';

seed(arg => "name-$_", chr(ord('0') + $_) . $srs) for 0 .. 5;
seed(arg => 'escaped', '2APP=li%2Fve&app=x');
seed(arg => 'no-value', '3stream&stream=s1');

# json: bit 0 of the first byte is beautify, then a string's bytes

seed(json => 'ascii', '0live/cam1');
seed(json => 'utf8', "1caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
seed(json => 'latin1', "0caf\xe9");
seed(json => 'overlong', "0\xc0\xaf\xe0\x80\xaf");
seed(json => 'surrogate', "0\xed\xa0\x80\xed\xbf\xbf");
seed(json => 'above', "0\xf4\x90\x80\x80\xf5");
seed(json => 'truncated', "1\xe2\x82 \xf0\x9f\x98");
seed(json => 'controls', "0a\x00b\x01\"\\\x7f");

# label: a stream's name as a metrics label value (any bytes): the three
# escapes, UTF-8, and what is not UTF-8

seed(label => 'plain', 'cam1');
seed(label => 'escapes', "we\"ird\\na\nme\\\\\"");
seed(label => 'utf8', "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
seed(label => 'latin1', "caf\xe9\"");
seed(label => 'overlong', "\xc0\xaf\xe0\x80\xaf\\");
seed(label => 'surrogate', "\xed\xa0\x80\xed\xbf\xbf\n");
seed(label => 'above', "\xf4\x90\x80\x80\xf5\"");
seed(label => 'truncated', "\xe2\x82\"\xf0\x9f\x98\\");
