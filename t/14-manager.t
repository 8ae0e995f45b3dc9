#!/usr/bin/perl

# The stream manager (cluster_stream_manager): leases on APP/NAME kept in
# a real Redis, registered, renewed, released, looked up and listed over HTTP;
# registrations repeated with the origin's token, leases taken over by the
# same origin; a shared secret for changes and the list, TTLs capped,
# tokens out of URLs, APP/NAME pairs that never share a key; SRS's
# coworker API answered byte for byte from the same leases; bad requests
# refused; Redis frozen, stopped and started again on the same port while
# nginx keeps answering, fast.

use strict;
use warnings;

use Test::More;
use HTTP::Tiny;
use IO::Socket::IP;
use JSON::PP;
use Time::HiRes qw(time sleep);

use lib 't/lib';
use ClusterTest;
use FakeCoworker;
use Redis;

my $t = ClusterTest->new;
$t->skip_unless_module;

my ($redis_server) = grep { -x } map { "$_/redis-server" }
                     split /:/, $ENV{PATH} // '/usr/bin';
plan skip_all => 'redis-server is not installed' unless $redis_server;

my ($rp, $hp) = map { $t->port } 1 .. 2;
my $prefix = 'ngx_rtmp_cluster:stream:';

sub conf {
    my ($locations) = @_;
    return <<"END";
error_log logs/error.log info;
pid logs/nginx.pid;
worker_processes 2;
%%LOAD_MODULES%%
events {}
http {
    %%HTTP_DEFAULTS%%
    server {
        listen 127.0.0.1:$hp;
        $locations
    }
}
END
}

### configuration errors: nginx -t names the directive and the reason

# the http directive; the origin's (rtmp) one is refused in http
my $d = 'cluster_stream_manager';
my $ra = 'redis=127.0.0.1:6379';
my $origins_own = '"cluster_manager" is the origin\'s directive in rtmp; '
    . 'a stream manager\'s location takes "cluster_stream_manager"';
$origins_own = qr/\Q$origins_own\E/;

my @bad = (
    ["location /s/ { $d ttl=3s; }",
     qr/"$d": "redis=HOST:PORT" is required/, 'no redis'],
    ["location /s/ { $d $ra ttl=0; }",
     qr/"$d": invalid ttl "0"/, 'ttl 0'],
    ["location /s/ { $d $ra ttl=500ms; }",
     qr/"$d": invalid ttl "500ms"/, 'ttl under a second'],
    ["location /s/ { $d $ra timeout=soon; }",
     qr/"$d": invalid timeout "soon"/, 'bad timeout'],
    ["location /s/ { $d $ra max_ttl=0; }",
     qr/"$d": invalid max_ttl "0", expected 1s to 24h/, 'max_ttl 0'],
    ["location /s/ { $d $ra max_ttl=2d; }",
     qr/"$d": invalid max_ttl "2d"/, 'max_ttl over 24h'],
    ["location /s/ { $d $ra ttl=1m max_ttl=30s; }",
     qr/"$d": ttl 60s is longer than max_ttl 30s/, 'ttl over max_ttl'],
    ["location /s/ { $d $ra \"secret=two words\"; }",
     qr/"$d": invalid secret, expected 1 to 256 printable/,
     'secret with a space'],
    ["location /s/ { $d $ra secret=; }",
     qr/"$d": invalid secret/, 'empty secret'],
    ["location /s/ { $d $ra size=3; }",
     qr/"$d": invalid parameter "size=3"/, 'unknown parameter'],
    ["location /s/ { $d redis=127.0.0.1:99999; }",
     qr/"$d": invalid port in redis "127.0.0.1:99999"/, 'bad port'],
    ["location /s/ { $d redis=unix:/tmp/redis.sock; }",
     qr/"$d": invalid redis "unix:\/tmp\/redis.sock", expected/,
     'unix socket'],
    ["location ~ ^/s/ { $d $ra; }",
     qr/"$d" needs a prefix location/, 'regex location'],
    ["location /s/ { $d $ra; $d redis=127.0.0.1:6380; }",
     qr/"$d" directive is duplicate/, 'twice'],
    ["location /s/ { cluster_manager $ra; }",
     $origins_own, 'the old name in a location'],
    ["cluster_manager $ra;",
     $origins_own, 'the old name in a server'],
    ["location /s/ { cluster_manager http://127.0.0.1:8080/streams/; }",
     $origins_own, 'the origin\'s directive in a location'],
);

for my $b (@bad) {
    my ($code, $out) = $t->nginx_t(conf($b->[0]));
    isnt($code, 0, "config, $b->[2]: nginx -t fails");
    like($out, $b->[1], "config, $b->[2]: message") or diag($out);
}

my ($code, $out) = $t->nginx_t(conf(
    'location /a/ { cluster_stream_manager redis=127.0.0.1:6379; } '
    . 'location /b/ { cluster_stream_manager redis=localhost:6379 ttl=1m '
    . 'timeout=250ms; }'));
is($code, 0, 'config: a good one passes, names resolved at start')
    or diag($out);

($code, $out) = $t->nginx_t(conf('location /s/ { cluster_stream_manager '
    . 'redis=127.0.0.1:6379 "secret=two words hidden"; }'));
unlike($out, qr/hidden/, 'config: a bad secret is not repeated in the log');

### Redis and nginx

sub start_redis {
    my $p = $t->spawn([$redis_server, '--port', $rp, '--bind', '127.0.0.1',
                       '--save', '', '--appendonly', 'no',
                       '--daemonize', 'no', '--dir', $t->tmp],
                      name => 'redis');
    $t->wait_until(sub { Redis->ping($rp) }, timeout => 10, interval => 0.05)
        or die "redis-server did not start:\n" . $p->log_text;
    return $p;
}

my $redis = start_redis();
my $db = Redis->new(port => $rp);

my $secret = 'Zk3-q9_w.8xV~a1+b2/c3=';

my $n = $t->nginx('manager', conf(<<"END"), ports => [$hp]);
        location /streams/ {
            cluster_stream_manager redis=127.0.0.1:$rp ttl=3s timeout=500ms;
        }
        location /api/v1/clusters {
            cluster_stream_manager redis=127.0.0.1:$rp secret=$secret;
        }
        location /secure/ {
            cluster_stream_manager redis=127.0.0.1:$rp max_ttl=60s
                                   secret=$secret;
        }
        location /file/ {
            client_body_in_file_only clean;
            cluster_stream_manager redis=127.0.0.1:$rp;
        }
END

my $http = HTTP::Tiny->new(timeout => 5, keep_alive => 0);

# req(METHOD, path, body, headers): the response, with {json} decoded and
# {elapsed} in seconds
sub req {
    my ($method, $path, $body, %h) = @_;
    my $t0 = time;
    my $r = $http->request($method, "http://127.0.0.1:$hp$path",
                           { defined $body ? (content => $body) : (),
                             headers => \%h });
    $r->{elapsed} = time - $t0;
    $r->{json} = eval { JSON::PP->new->utf8->decode($r->{content}) };
    return $r;
}

sub post { req('POST', "/streams/$_[0]", encode_json($_[1])) }
sub put  { req('PUT', "/streams/$_[0]", encode_json($_[1])) }

# a character string, percent-escaped as UTF-8
sub esc {
    my ($s) = @_;
    utf8::encode($s);
    $s =~ s/([^A-Za-z0-9_.~-])/sprintf('%%%02X', ord $1)/ge;
    return $s;
}

sub keys_now { sort @{$db->command('KEYS', "$prefix*")} }

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
ok($pttl > 9000 && $pttl <= 10000, "redis: the lease's TTL ($pttl ms)");

$r = post('live/s2', { host => '10.0.0.2', port => 1936 });
is($r->{status}, 201, 'register without ttl: 201');
is($r->{json}{ttl}, 3, 'register without ttl: the configured ttl');
my $tok2 = $r->{json}{token};
isnt($tok2, $tok, 'tokens differ');
$pttl = $db->command('PTTL', "${prefix}live/s2");
ok($pttl > 2000 && $pttl <= 3000, "redis: the configured TTL ($pttl ms)");

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
ok($pttl > 19000 && $pttl <= 20000, "renew: the new TTL in redis ($pttl ms)");

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
ok($r->{json}{ttl_ms} > 15000 && $r->{json}{ttl_ms} <= 20000,
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

### SRS's coworker API, byte for byte

my %q = (ip => '10.1.2.3', vhost => '__defaultVhost__', app => 'live');
my $q = "vhost=__defaultVhost__&ip=10.1.2.3&app=live&coworker=127.0.0.1:$hp";

$r = req('POST', "/api/v1/clusters?$q&stream=s1", '');
is($r->{status}, 200, 'coworker API: 200');
is($r->{content}, FakeCoworker->srs_found_body(%q, stream => 's1',
   origin_ip => '10.0.0.1', origin_port => 1935, api => "127.0.0.1:$hp"),
   'coworker API, leased: SRS\'s body');

for my $m (qw(GET PUT DELETE)) {
    is(req($m, "/api/v1/clusters?$q&stream=s1")->{json}{data}{origin}{port},
       1935, "coworker API: method $m answered too");
}

$r = req('GET', "/api/v1/clusters?$q&stream=nope");
is($r->{status}, 200, 'coworker API, no lease: 200');
is($r->{content}, FakeCoworker->srs_notfound_body(%q, stream => 'nope'),
   'coworker API, no lease: SRS\'s body with "origin":null');

$r = req('GET', '/api/v1/clusters?vhost=__defaultVhost__&app=live&stream='
             . esc($odd));
is($r->{content}, FakeCoworker->srs_found_body(ip => '',
   vhost => '__defaultVhost__', app => 'live', stream => $odd,
   origin_ip => '10.0.0.5', origin_port => 1935, api => "127.0.0.1:$hp"),
   'coworker API, odd name, no coworker: api from Host, body byte for byte');

$r = req('GET', '/api/v1/clusters?app=live&stream=s2');
is($r->{json}{data}{query}{vhost}, '', 'coworker API: the query as asked');
is($r->{json}{data}{origin}{vhost}, '__defaultVhost__',
   'coworker API: the default vhost for the origin');

$r = req('GET', '/api/v1/clusters?vhost=x&stream=s1');
is($r->{status}, 400, 'coworker API without app: 400');
is($r->{content}, '{"code":400,"error":"app and stream are required"}',
   'coworker API without app: answer');

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

### a registration repeated with the origin's token

my $otok = 'origin-chosen-token-0123456789';
$r = post('live/idem', { host => '10.0.1.1', port => 1935, ttl => 10,
                         token => $otok });
is($r->{status}, 201, 'register with a token: 201');
is($r->{content},
   qq({"code":0,"stream":"live/idem","token":"$otok","ttl":10}),
   'register with a token: that token in the answer');
is($db->command('GET', "${prefix}live/idem"), "$otok 10.0.1.1 1935",
   'register with a token: that token in redis');

$db->command('PEXPIRE', "${prefix}live/idem", 2000);
$r = post('live/idem', { host => '10.0.1.1', port => 1935, ttl => 10,
                         token => $otok });
is($r->{status}, 201, 'the same registration again: 201');
is($r->{json}{token}, $otok, 'the same registration again: the same token');
$pttl = $db->command('PTTL', "${prefix}live/idem");
ok($pttl > 9000, "the same registration again: TTL refreshed ($pttl ms)");

$r = post('live/idem', { host => '10.0.1.2', port => 1935, token => $otok });
is($r->{status}, 201, 'the same token from another address: 201, its own');
is($db->command('GET', "${prefix}live/idem"), "$otok 10.0.1.2 1935",
   'the same token from another address: the address follows');

# the same origin (host and port) with a new token: taken over

$r = post('live/idem', { host => '10.0.1.2', port => 1935,
                         token => 'token-after-a-restart' });
is($r->{status}, 201, 'the same origin, a new token: taken over');
is($r->{json}{token}, 'token-after-a-restart',
   'the same origin, a new token: the new token');
is(put('live/idem', { token => $otok })->{status}, 409,
   'taken over: the old token is stale');
is(put('live/idem', { token => 'token-after-a-restart' })->{status}, 200,
   'taken over: the new token renews');

for my $o (['10.0.1.3', 1935, 'another host'],
           ['10.0.1.2', 1936, 'another port'])
{
    $r = post('live/idem', { host => $o->[0], port => $o->[1],
                             token => 'token-of-another-origin' });
    is($r->{status}, 409, "$o->[2], another token: 409");
}
is($db->command('GET', "${prefix}live/idem"),
   'token-after-a-restart 10.0.1.2 1935', 'the lease is unchanged');

$r = post('live/idem', { host => '10.0.1.2', port => 1935,
                         token => 'bad token' });
is($r->{status}, 400, 'a token with a space: 400');
is($r->{json} && $r->{json}{error}, 'invalid token',
   'a token with a space: answer');
is(post('live/idem', { host => '10.0.1.2', port => 1935, token => 't' x 65 })
   ->{status}, 400, 'a token over 64 bytes: 400');
is(post('live/idem', { host => '10.0.1.2', port => 1935, token => 5 })
   ->{json}{error}, '"token" must be a string', 'a token not a string: 400');

### release with the token in the body, out of the URL

$r = req('DELETE', '/streams/live/idem', encode_json({ token => $otok }));
is($r->{status}, 409, 'release, token in the body, stale: 409');
is($r->{content}, '{"code":409,"error":"stale token"}',
   'release, token in the body, stale: answer');

for my $b (['{"token":12}', '"token" must be a string'],
           ['{"ttl":5}', '"token" is required'],
           ['{"token":"a b"}', 'invalid token'],
           ['x{', 'request body is not valid JSON'])
{
    $r = req('DELETE', '/streams/live/idem', $b->[0]);
    is($r->{json} && "$r->{json}{code} $r->{json}{error}", "400 $b->[1]",
       "release, body $b->[0]: 400");
}

$r = req('DELETE', '/streams/live/idem',
         encode_json({ token => 'token-after-a-restart' }));
is($r->{status}, 200, 'release, token in the body: 200');
is($r->{content}, '{"code":0,"stream":"live/idem"}',
   'release, token in the body: answer');
is($db->command('EXISTS', "${prefix}live/idem"), 0,
   'release, token in the body: key gone');
ok(!grep({ /token-after-a-restart/ }
         split /\n/, ClusterTest::_read_file("$n->{prefix}/logs/access.log")),
   'release, token in the body: not in the access log');

### the secret: changes and the list need it, lookups do not

my %auth = (Authorization => "Bearer $secret");
my $sbody = encode_json({ host => '10.0.2.1', port => 1935, ttl => 30 });

for my $h ([{}, 'no secret'],
           [{ Authorization => "Bearer ${secret}x" }, 'a longer secret'],
           [{ Authorization => 'Bearer ' . substr($secret, 0, -1) },
            'a shorter secret'],
           [{ Authorization => 'Bearer ' . ('x' x length $secret) },
            'a wrong secret'],
           [{ Authorization => "Basic $secret" }, 'another scheme'])
{
    $r = req('POST', '/secure/live/sec', $sbody, %{$h->[0]});
    is($r->{status}, 401, "register, $h->[1]: 401");
    is($r->{content}, '{"code":401,"error":"a valid secret is required"}',
       "register, $h->[1]: answer");
    is($r->{headers}{'www-authenticate'}, 'Bearer realm="cluster_manager"',
       "register, $h->[1]: WWW-Authenticate");
}
is($db->command('EXISTS', "${prefix}live/sec"), 0,
   'refused registrations wrote nothing');

$r = req('POST', '/secure/live/sec', $sbody, %auth);
is($r->{status}, 201, 'register with the secret: 201');
my $stok = $r->{json}{token};
$r = req('POST', '/secure/live/sec', $sbody,
         Authorization => "bearer   $secret");
is($r->{status}, 201, 'the scheme in any case, spaces after it: accepted');
$stok = $r->{json}{token};

my $renew = encode_json({ token => $stok });
is(req('PUT', '/secure/live/sec', $renew)->{status}, 401,
   'renew without the secret: 401');
is(req('DELETE', '/secure/live/sec', $renew)->{status}, 401,
   'release without the secret: 401');
is(req('DELETE', "/secure/live/sec?token=$stok")->{status}, 401,
   'release without the secret, token in the query: 401');
is(req('POST', '/secure/', '{}')->{status}, 401,
   'a change needs the secret before its path is checked');
is(req('GET', '/secure/')->{status}, 401, 'the list without the secret: 401');
is(req('GET', '/secure/live/sec')->{json}{origin}{host}, '10.0.2.1',
   'a lookup without the secret: answered');
is(req('GET', '/api/v1/clusters?app=live&stream=sec')
   ->{json}{data}{origin}{ip}, '10.0.2.1',
   'SRS\'s coworker API without the secret: answered');
is(req('PUT', '/secure/live/sec', $renew, %auth)->{status}, 200,
   'renew with the secret: 200');
my @listed = map { $_->{stream} }
             @{req('GET', '/secure/', undef, %auth)->{json}{streams} // []};
ok(grep({ $_ eq 'live/sec' } @listed), 'the list with the secret: 200');

ok(!grep({ index($_, $secret) >= 0 } split /\n/, $n->error_log_text
          . ClusterTest::_read_file("$n->{prefix}/logs/access.log")),
   'the secret is in no log');
ok(grep({ /\[info\].*cluster: a POST request without the manager's secret /
        } split /\n/, $n->error_log_text),
   'a refused request is logged at the info level');

### TTLs capped at max_ttl, the answer says what was granted

$r = req('DELETE', '/secure/live/sec', $renew, %auth);
is($r->{status}, 200, 'released with the secret');

$r = req('POST', '/secure/live/long', encode_json({ host => '10.0.2.2',
         port => 1935, ttl => 86400 }), %auth);
is($r->{status}, 201, 'a day asked: 201');
is($r->{json}{ttl}, 60, 'a day asked: max_ttl granted');
$pttl = $db->command('PTTL', "${prefix}live/long");
ok($pttl > 59000 && $pttl <= 60000, "a day asked: 60 s in redis ($pttl ms)");
$r = req('PUT', '/secure/live/long', encode_json({ token => $r->{json}{token},
         ttl => 3600 }), %auth);
is($r->{json}{ttl}, 60, 'renew for an hour: max_ttl granted');
is(post('live/default-cap', { host => '10.0.2.3', port => 1935,
                              ttl => 86400 })->{json}{ttl}, 300,
   'without max_ttl: 5 minutes at most');
$db->command('DEL', "${prefix}live/long", "${prefix}live/default-cap");

### APP and NAME never share a key

$r = post('a/b/c', { host => '10.0.3.1', port => 1935 });
is($r->{status}, 201, 'APP "a/b", NAME "c": registered');
$r = post('a/b%2Fc', { host => '10.0.3.2', port => 1935 });
is($r->{status}, 201, 'APP "a", NAME "b/c": registered too, not a 409');
is($db->command('GET', "${prefix}a/b/c") =~ s/^\S+ //r, '10.0.3.1 1935',
   'APP "a/b", NAME "c": key ".../a/b/c"');
is($db->command('GET', "${prefix}a/b%2Fc") =~ s/^\S+ //r, '10.0.3.2 1935',
   'APP "a", NAME "b/c": key ".../a/b%2Fc"');
is(req('GET', '/streams/a/b%2Fc')->{json}{origin}{host}, '10.0.3.2',
   'APP "a", NAME "b/c": its own lookup');
is(req('GET', '/streams/a/b/c')->{json}{origin}{host}, '10.0.3.1',
   'APP "a/b", NAME "c": its own lookup');

$r = post('50%25/x%25%2F', { host => '10.0.3.3', port => 1935 });
is($r->{json}{stream}, '50%/x%/', 'percent signs: registered');
ok(defined $db->command('GET', "${prefix}50%25/x%25%2F"),
   'percent signs: escaped in the key');
$r = post('50%25%2Fx/%25', { host => '10.0.3.4', port => 1935 });
is($r->{status}, 201, 'APP "50%/x", NAME "%": another key');

my @mine = grep { $_->{origin}{host} =~ /^10\.0\.3\./ }
           @{req('GET', '/streams/')->{json}{streams} // []};
is_deeply([map { [$_->{app}, $_->{name}, $_->{origin}{host}] } @mine],
          [['50%', 'x%/', '10.0.3.3'], ['50%/x', '%', '10.0.3.4'],
           ['a', 'b/c', '10.0.3.2'], ['a/b', 'c', '10.0.3.1']],
          'the list: app and name tell them apart');
$db->command('DEL', "${prefix}a/b/c", "${prefix}a/b%2Fc",
             "${prefix}50%25/x%25%2F", "${prefix}50%25%2Fx/%25");

### a lease expires by itself

$r = post('live/short', { host => '10.0.0.6', port => 1935, ttl => 1 });
is($r->{status}, 201, 'ttl 1: registered');
is(req('GET', '/streams/live/short')->{status}, 200, 'ttl 1: found');
sleep 1.5;
is(req('GET', '/streams/live/short')->{status}, 404,
   'ttl 1: gone after 1.5 s');

### bad requests

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

### a client that leaves before the reply; a late reply is dropped

is(post('live/keep', { host => '10.0.0.8', port => 1935, ttl => 3600 })
   ->{status}, 201, 'a lease for the rest of the test');

sub raw_request {
    my ($path) = @_;
    my $s = IO::Socket::IP->new(PeerHost => '127.0.0.1', PeerPort => $hp,
                                Proto => 'tcp', Timeout => 2) or return;
    print $s "GET $path HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    return $s;
}

kill 'STOP', $redis->pid;
my @gone = map { raw_request("/streams/live/gone$_") } 1 .. 4;
sleep 0.15;
close $_ for @gone;
sleep 0.15;
kill 'CONT', $redis->pid;

ok($t->wait_until(sub {
    my @l = grep { m{/streams/live/gone\d HTTP/1.1" 499 } }
            split /\n/, ClusterTest::_read_file("$n->{prefix}/logs/access.log");
    @l == 4;
}, timeout => 3), 'clients gone before the reply: 499, at once');

for (1 .. 4) {
    is(req('GET', '/streams/live/keep')->{status}, 200,
       "late replies dropped: still answering ($_)");
}

### Redis frozen: 504 after the timeout, then 503 at once until it answers

kill 'STOP', $redis->pid;

$r = req('GET', '/streams/live/keep');
is($r->{status}, 504, 'redis frozen: 504');
is($r->{content}, '{"code":504,"error":"redis did not answer in time"}',
   'redis frozen: answer');
ok($r->{elapsed} > 0.4 && $r->{elapsed} < 1.5,
   sprintf('redis frozen: after the 500 ms timeout (%.3f s)', $r->{elapsed}));

my @st = map { req('GET', '/streams/live/keep') } 1 .. 4;
ok(!grep({ $_->{status} != 503 && $_->{status} != 504 } @st),
   'redis frozen: then 503 or 504 (the other worker)');
ok(!grep({ $_->{elapsed} > 1.5 } @st), 'redis frozen: never waits longer');

kill 'CONT', $redis->pid;

ok($t->wait_until(sub { req('GET', '/streams/live/keep')->{status} == 200 },
                  timeout => 5, interval => 0.1),
   'redis thawed: answering again');

### Redis stopped: 503 at once; started again on the same port: back

my $log_from = length $n->error_log_text;

$redis->stop;
$db->close;

ok($t->wait_until(sub {
    grep { /\[error\].*cluster: redis 127\.0\.0\.1:$rp is down: / }
        split /\n/, substr($n->error_log_text, $log_from);
}, timeout => 3), 'redis stopped: "is down" logged at error level');

my @down = (req('GET', '/streams/live/keep'), req('GET', '/streams/'),
            req('GET', "/api/v1/clusters?$q&stream=s2"),
            post('live/s9', { host => 'h', port => 1 }),
            put('live/s2', { token => $tok2 }),
            req('DELETE', "/streams/live/s2?token=$tok2"));

is_deeply([map { $_->{status} } @down], [(503) x 6],
          'redis stopped: every kind of request 503');
is($down[0]{content}, '{"code":503,"error":"redis is unavailable"}',
   'redis stopped: answer');
my ($slow) = sort { $b <=> $a } map { $_->{elapsed} } @down;
ok($slow < 0.5, sprintf('redis stopped: answered at once (slowest %.3f s)',
                        $slow));

$redis = start_redis();
$db = Redis->new(port => $rp);

my @workers = $n->worker_pids;
ok($t->wait_until(sub {
    my $text = substr($n->error_log_text, $log_from);
    !grep { $text !~ /\[info\] $_#\d+: cluster: redis 127\.0\.0\.1:$rp is up/ }
        @workers;
}, timeout => 5), 'redis started again: each worker logs "is up"');

$r = post('live/s9', { host => '10.0.0.9', port => 1935 });
is($r->{status}, 201, 'redis started again: registering works');
is(req('GET', '/streams/live/s9')->{json}{origin}{host}, '10.0.0.9',
   'redis started again: lookup works');

### reload: new workers connect, old ones leave cleanly

ok($n->reload, 'reload');
ok($t->wait_until(sub { req('GET', '/streams/live/s9')->{status} == 200 },
                  timeout => 5), 'after reload: answering');

$n->stop;
$redis->stop;

$t->check_logs;

done_testing;
