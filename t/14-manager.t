#!/usr/bin/perl

# The stream manager's HTTP API (cluster_stream_manager), backed by a real Redis:
# leases on APP/NAME registered, renewed, looked up (APP may hold "/",
# names are unescaped, any UTF-8), listed (a few thousand too), released,
# expiring by themselves, their TTL capped by max_ttl.  SRS's coworker
# API: t/42; tokens: t/43; the secret: t/44; keys: t/45; bad requests:
# t/46; Redis outages: t/47; configuration errors: t/41.

use strict;
use warnings;

use Test::More;
use JSON::PP;
use Time::HiRes qw(time);

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
        location /capped/ {
            cluster_stream_manager redis=127.0.0.1:$rp max_ttl=60s;
        }
    }
}
EOF

sub req  { manager_req($hp, @_) }
sub post { req('POST', "/streams/$_[0]", encode_json($_[1])) }
sub put  { req('PUT', "/streams/$_[0]", encode_json($_[1])) }

sub esc { url_escape(@_) }

### register

my $r = post('live/s1', { host => '10.0.0.1', port => 1935, ttl => 10 });
is($r->{status}, 201, 'register: 201');
is($r->{headers}{'content-type'}, 'application/json', 'register: JSON');
my $tok = $r->{json} && $r->{json}{token} // '';
like($tok, qr/^[0-9a-f]{32}\z/, 'register: a token of 32 hex digits');
is($r->{content},
   qq({"code":0,"stream":"live/s1","token":"$tok","ttl":10}),
   'register: the answer');

is($db->command('GET', "${prefix}live/s1"), "$tok 10.0.0.1 1935",
   'redis: key "ngx_rtmp_cluster:stream:APP/NAME", value "TOKEN HOST PORT"');
my $pttl = $db->command('PTTL', "${prefix}live/s1");
ok($pttl > 10000 - slow(1000) && $pttl <= 10000,
   "redis: the lease's TTL ($pttl ms)");

$r = post('live/s2', { host => '10.0.0.2', port => 1936 });
is($r->{status}, 201, 'register without ttl: 201');
is($r->{json}{ttl}, 3, 'register without ttl: the configured ttl');
my $tok2 = $r->{json}{token};
isnt($tok2, $tok, 'tokens differ');
$pttl = $db->command('PTTL', "${prefix}live/s2");
ok($pttl > 3000 - slow(1000) && $pttl <= 3000,
   "redis: the configured TTL ($pttl ms)");

$r = post('live/s1', { host => '10.0.0.9', port => 1940 });
is($r->{status}, 409, 'register a leased stream: 409');
is($r->{content}, '{"code":409,"error":"stream is leased by another origin",'
                  . '"origin":{"host":"10.0.0.1","port":1935}}',
   'register a leased stream: the holder in the answer');
is($db->command('GET', "${prefix}live/s1"), "$tok 10.0.0.1 1935",
   'register a leased stream: the lease is unchanged');

### renew

$r = put('live/s1', { token => $tok, ttl => 20 });
is($r->{status}, 200, 'renew: 200');
is($r->{content}, '{"code":0,"stream":"live/s1","ttl":20}', 'renew: answer');
$pttl = $db->command('PTTL', "${prefix}live/s1");
ok($pttl > 20000 - slow(1000) && $pttl <= 20000,
   "renew: the new TTL in redis ($pttl ms)");

$r = put('live/s1', { token => 'f' x 32, ttl => 20 });
is($r->{status}, 409, 'renew, stale token: 409');
is($r->{content}, '{"code":409,"error":"stale token"}',
   'renew, stale token: answer');

$r = put('live/s2', { token => $tok2 });
is($r->{json}{ttl}, 3, 'renew without ttl: the configured ttl');

$r = put('live/nope', { token => $tok });
is($r->{status}, 404, 'renew, no lease: 404');
is($r->{content}, '{"code":404,"error":"no such stream"}',
   'renew, no lease: answer');

### look up

$r = req('GET', '/streams/live/s1');
is($r->{status}, 200, 'lookup: 200');
like($r->{content}, qr/^\{"code":0,"stream":"live\/s1","origin":
                      \{"host":"10\.0\.0\.1","port":1935\},"ttl_ms":\d+\}\z/x,
     'lookup: the answer');
ok($r->{json}{ttl_ms} > 20000 - slow(5000) && $r->{json}{ttl_ms} <= 20000,
   'lookup: ttl_ms left');

$r = req('HEAD', '/streams/live/s1');
is($r->{status}, 200, 'HEAD: 200');
is($r->{content} // '', '', 'HEAD: no body');

$r = req('GET', '/streams/live/nope');
is($r->{status}, 404, 'lookup, none: 404');
is($r->{content}, '{"code":404,"error":"no such stream"}',
   'lookup, none: answer');

# APP may hold '/'; NAME is the last segment; both unescaped

$r = post('app/sub/s3', { host => 'origin-3.example', port => 1937 });
is($r->{json}{stream}, 'app/sub/s3', 'APP with a slash: registered');
is(req('GET', '/streams/app/sub/s3')->{json}{origin}{host},
   'origin-3.example', 'APP with a slash: found');
ok(defined $db->command('GET', "${prefix}app/sub/s3"),
   'APP with a slash: its key');

$r = post('live/a%2Fb', { host => '10.0.0.4', port => 1935 });
is($r->{json}{stream}, 'live/a/b', 'an escaped slash stays in NAME');

my $odd = qq{we ird"n\\ame\x{e9}};
$r = post('live/' . esc($odd), { host => '10.0.0.5', port => 1935 });
is($r->{status}, 201, 'odd name: registered');
is($r->{json} && $r->{json}{stream}, "live/$odd",
   'odd name: unescaped, and escaped in JSON');
my $key = "${prefix}live/$odd";
utf8::encode($key);
ok(defined $db->command('GET', $key), 'odd name: its key, as UTF-8');
is(req('GET', '/streams/live/' . esc($odd))->{json}{origin}{host},
   '10.0.0.5', 'odd name: found');

### list

$db->command('SET', "${prefix}bad/x", 'not a lease');

$r = req('GET', '/streams/');
is($r->{status}, 200, 'list: 200');
my @streams = map { $_->{stream} } @{$r->{json}{streams} // []};
is_deeply(\@streams,
          ['app/sub/s3', 'live/a/b', 'live/s1', 'live/s2', "live/$odd"],
          'list: every lease, sorted; a malformed value skipped');
my ($s1) = grep { $_->{stream} eq 'live/s1' } @{$r->{json}{streams}};
is_deeply($s1, { stream => 'live/s1', app => 'live', name => 's1',
                 origin => { host => '10.0.0.1', port => 1935 } },
          'list: stream, app, name and origin');
like($r->{content}, qr/^\{"code":0,"streams":\[\{"stream":"app\/sub\/s3",
                      "app":"app\/sub","name":"s3","origin":/x,
     'list: the keys in order');

$r = req('GET', '/streams/bad/x');
is($r->{status}, 502, 'lookup of a malformed value: 502');
$db->command('DEL', "${prefix}bad/x");

# a few thousand leases: SCAN and MGET in turns

my $many = 3000;
for my $i (0 .. $many / 500 - 1) {
    $db->command('MSET', map { ("${prefix}many/m$_", "t$_ 10.1.0.1 1935") }
                         $i * 500 + 1 .. $i * 500 + 500);
}
$r = req('GET', '/streams/');
is(scalar @{$r->{json}{streams} // []}, $many + 5,
   "list: $many more leases, all there once");
$db->command('DEL', map { "${prefix}many/m$_" } 1 .. $many);

### release

$r = req('DELETE', '/streams/live/s1?token=' . ('0' x 32));
is($r->{status}, 409, 'release, wrong token: 409');
is($r->{content}, '{"code":409,"error":"stale token"}',
   'release, wrong token: answer');
ok(defined $db->command('GET', "${prefix}live/s1"),
   'release, wrong token: the lease stays');

$r = req('DELETE', '/streams/live/s1');
is($r->{status}, 400, 'release without token: 400');
is($r->{content}, '{"code":400,"error":"token is required"}',
   'release without token: answer');

$r = req('DELETE', "/streams/live/s1?token=$tok");
is($r->{status}, 200, 'release: 200');
is($r->{content}, '{"code":0,"stream":"live/s1"}', 'release: answer');
is($db->command('EXISTS', "${prefix}live/s1"), 0, 'release: key gone');
is(req('GET', '/streams/live/s1')->{status}, 404, 'released: lookup 404');
is(req('DELETE', "/streams/live/s1?token=$tok")->{status}, 404,
   'release again: 404');
is(post('live/s1', { host => '10.0.0.9', port => 1940 })->{status}, 201,
   'released: another origin registers');

### TTLs capped at max_ttl (/capped/), the answer says what was granted

$r = req('POST', '/capped/live/long', encode_json({ host => '10.0.2.2',
         port => 1935, ttl => 86400 }));
is($r->{status}, 201, 'a day asked: 201');
is($r->{json}{ttl}, 60, 'a day asked: max_ttl granted');
$pttl = $db->command('PTTL', "${prefix}live/long");
ok($pttl > 60000 - slow(1000) && $pttl <= 60000,
   "a day asked: 60 s in redis ($pttl ms)");
$r = req('PUT', '/capped/live/long', encode_json({ token => $r->{json}{token},
         ttl => 3600 }));
is($r->{json}{ttl}, 60, 'renew for an hour: max_ttl granted');
is(post('live/default-cap', { host => '10.0.2.3', port => 1935,
                              ttl => 86400 })->{json}{ttl}, 300,
   'without max_ttl: 5 minutes at most');
$db->command('DEL', "${prefix}live/long", "${prefix}live/default-cap");

### a lease expires by itself

my $t0 = time;
$r = post('live/short', { host => '10.0.0.6', port => 1935, ttl => 1 });
is($r->{status}, 201, 'ttl 1: registered');
is(req('GET', '/streams/live/short')->{status}, 200, 'ttl 1: found');
ok($t->wait_until(sub { req('GET', '/streams/live/short')->{status} == 404 },
                  timeout => 3, interval => 0.05),
   sprintf('ttl 1: gone by itself (%.2f s)', time - $t0));
cmp_ok(time - $t0, '>=', 1, 'ttl 1: not before its second');

$n->stop;
$redis->stop;

$t->check_logs;

done_testing;
