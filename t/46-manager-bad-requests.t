#!/usr/bin/perl

# The stream manager refuses bad requests with 400 (bodies that are not
# JSON objects, bad host, port, ttl or token, paths without APP/NAME, not
# UTF-8, too long), 405 (other methods) and 413 (bodies over 4 KB, chunked
# or in a file), each with a JSON error, and writes nothing.

use strict;
use warnings;

use Test::More;
use JSON::PP;

use lib 't/lib';
use ClusterTest;
use ClusterConf;
use Redis;

my $t = ClusterTest->new;
$t->skip_unless_module;
$t->skip_unless_redis;

my ($rp, $hp) = map { $t->port } 1 .. 2;
my $prefix = 'ngx_rtmp_cluster:stream:';

my $redis = $t->redis_server($rp);
my $db = Redis->new(port => $rp);

my $n = $t->nginx('manager', <<"EOF", ports => [$hp]);
error_log logs/error.log info;
pid logs/nginx.pid;
worker_processes 2;
%%LOAD_MODULES%%
events {}
http {
    %%HTTP_DEFAULTS%%
    server {
        listen 127.0.0.1:$hp;
        location /streams/ {
            cluster_stream_manager redis=127.0.0.1:$rp ttl=3s timeout=500ms;
        }
        location /file/ {
            client_body_in_file_only clean;
            cluster_stream_manager redis=127.0.0.1:$rp;
        }
    }
}
EOF

sub req  { manager_req($hp, @_) }
sub post { req('POST', "/streams/$_[0]", encode_json($_[1])) }
sub put  { req('PUT', "/streams/$_[0]", encode_json($_[1])) }

sub keys_now { sort @{$db->command('KEYS', "$prefix*")} }

### bad requests

# the control for "wrote nothing": a good registration writes its key
my $r = post('live/s2', { host => '10.0.0.2', port => 1936 });
is($r->{status}, 201, 'a good registration: 201 (control)');
is_deeply([keys_now()], ["${prefix}live/s2"],
          'a good registration: its key (control)');

my @keys_before = keys_now();

my $not_json = 'request body is not valid JSON';
my $bad_host = '"host" must be a host name or an IP address';
my $bad_port = '"port" must be an integer from 1 to 65535';
my $bad_ttl = '"ttl" must be an integer from 1 to 86400';

my @bodies = (
    ['not JSON', 'x{', $not_json],
    ['empty body', '', $not_json],
    ['NUL in the body', qq({"host":"h","port":1}\0), $not_json],
    ['trailing garbage', '{"host":"h","port":1} x', $not_json],
    ['an array', '[1,2]', 'request body must be a JSON object'],
    ['no host', '{"port":1935}', $bad_host],
    ['host a number', '{"host":5,"port":1935}', $bad_host],
    ['host with a space', '{"host":"a b","port":1935}', $bad_host],
    ['no port', '{"host":"h"}', $bad_port],
    ['port a string', '{"host":"h","port":"1935"}', $bad_port],
    ['port 0', '{"host":"h","port":0}', $bad_port],
    ['port 65536', '{"host":"h","port":65536}', $bad_port],
    ['port 1935.5', '{"host":"h","port":1935.5}', $bad_port],
    ['ttl 0', '{"host":"h","port":1,"ttl":0}', $bad_ttl],
    ['ttl a string', '{"host":"h","port":1,"ttl":"10"}', $bad_ttl],
);

for my $b (@bodies) {
    $r = req('POST', '/streams/live/bad', $b->[1]);
    is($r->{status}, 400, "register, $b->[0]: 400");
    is($r->{json} && "$r->{json}{code} $r->{json}{error}", "400 $b->[2]",
       "register, $b->[0]: answer");
}

$r = req('PUT', '/streams/live/s2', '{"ttl":5}');
is($r->{json} && $r->{json}{error}, '"token" is required',
   'renew without token: 400');
$r = req('PUT', '/streams/live/s2', '{"token":12}');
is($r->{json} && $r->{json}{error}, '"token" must be a string',
   'renew, token a number: 400');

my $big = encode_json({ host => 'h', port => 1, pad => 'x' x 5000 });
$r = req('POST', '/streams/live/bad', $big);
is($r->{status}, 413, 'body over 4 KB: 413');
is($r->{content},
   '{"code":413,"error":"request body is larger than 4096 bytes"}',
   'body over 4 KB: answer');

my @chunks = ($big =~ /(.{1,1000})/gs);
$r = req('POST', '/streams/live/bad', sub { shift @chunks });
is($r->{status}, 413, 'chunked body over 4 KB: 413');

# client_body_in_file_only: the body is read back from its file
$r = req('POST', '/file/live/f',
         encode_json({ host => '10.0.0.7', port => 1935, pad => 'y' x 3000 }));
is($r->{status}, 201, 'body in a file: registered');
is(req('POST', '/file/live/f2', $big)->{status}, 413,
   'body in a file, over 4 KB: 413');
$db->command('DEL', "${prefix}live/f");

for my $m (qw(PATCH OPTIONS)) {
    $r = req($m, '/streams/live/s2');
    is($r->{status}, 405, "method $m: 405");
    is($r->{headers}{allow}, 'GET, HEAD, POST, PUT, DELETE',
       "method $m: Allow");
    is($r->{content}, '{"code":405,"error":"method not allowed"}',
       "method $m: answer");
}

for my $p (['/streams/', 'POST', 'APP/NAME is required'],
           ['/streams/live', 'POST', 'expected APP/NAME after the location'],
           ['/streams/live/', 'GET', 'expected APP/NAME after the location'],
           ['/streams/live/%FF', 'GET', 'APP and NAME must be UTF-8'],
           ['/streams/live/' . ('n' x 513), 'GET',
            'APP and NAME are limited to 512 bytes each'],
           ['/streams/' . ('a' x 513) . '/s', 'GET',
            'APP and NAME are limited to 512 bytes each'])
{
    $r = req($p->[1], $p->[0], $p->[1] eq 'POST' ? '{}' : undef);
    is($r->{status}, 400, "$p->[1] " . substr($p->[0], 0, 30) . ": 400");
    is($r->{json} && $r->{json}{error}, $p->[2],
       "$p->[1] " . substr($p->[0], 0, 30) . ": answer");
}

is(req('GET', '/streams/live/' . ('n' x 512))->{status}, 404,
   'a 512 byte NAME is fine');
is_deeply([keys_now()], \@keys_before, 'bad requests wrote nothing');

$n->stop;
$redis->stop;

$t->check_logs;

done_testing;
