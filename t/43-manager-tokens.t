#!/usr/bin/perl

# The stream manager's tokens: a registration repeated with the origin's
# own token succeeds again (the lease refreshed, its address following),
# the same origin (host and port) with a new token takes its lease over,
# another origin does not; tokens are checked; a release carries its token
# in the body, out of the URL and so out of the access log.

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
    }
}
EOF

sub req  { manager_req($hp, @_) }
sub post { req('POST', "/streams/$_[0]", encode_json($_[1])) }
sub put  { req('PUT', "/streams/$_[0]", encode_json($_[1])) }

### a registration repeated with the origin's token

my $otok = 'origin-chosen-token-0123456789';
my $r = post('live/idem', { host => '10.0.1.1', port => 1935, ttl => 10,
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
my $pttl = $db->command('PTTL', "${prefix}live/idem");
ok($pttl > 10000 - slow(1000),
   "the same registration again: TTL refreshed ($pttl ms)");

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

# a token in a URL is in the access log (the control for the last check);
# nginx logs a request after its answer is sent: wait for the line
sub access_log { split /\n/, ClusterTest::_read_file($n->prefix . '/logs/access.log') }
is(req('DELETE', '/streams/live/none?token=a-token-in-a-url')->{status}, 404,
   'release of no lease, token in the query: 404');
ok($t->wait_until(sub { grep { /a-token-in-a-url/ } access_log() }),
   'a token in the query: in the access log');

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
ok($t->wait_until(sub {
    grep { m{"DELETE /streams/live/idem HTTP/1\.1" 200 } } access_log()
}), 'release, token in the body: in the access log');
ok(!grep({ /token-after-a-restart/ } access_log()),
   'release, token in the body: not in the access log');

$n->stop;
$redis->stop;

$t->check_logs;

done_testing;
