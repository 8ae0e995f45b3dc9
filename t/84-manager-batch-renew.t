#!/usr/bin/perl

# A batched renewal: PUT on the manager's location renews many leases in
# one request and one Redis script, each with its token; the answer gives
# a status per lease in the request's order (200 renewed, 404 no lease,
# 409 another token).  It needs the secret; bad bodies are refused whole;
# the single-stream PUT stays as it was.

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

my ($rp, $mh) = map { $t->port } 1 .. 2;
my $prefix = 'ngx_rtmp_cluster:stream:';
my $secret = 'batch-secret-0123456789abcdef';
my %auth = (Authorization => "Bearer $secret");

my $redis = $t->redis_server($rp);
my $db = Redis->new(port => $rp, timeout => 10);

my $m = $t->nginx('manager', manager_conf(http => $mh, locations =>
    "location /streams/ { cluster_stream_manager redis=127.0.0.1:$rp "
    . "timeout=1s max_ttl=2m secret=$secret; }"), ports => [$mh]);

sub register {
    my ($path, $token) = @_;
    my $r = manager_req($mh, 'POST', "/streams/$path", encode_json(
        { host => '10.0.0.1', port => 1935, ttl => 5, token => $token }),
        %auth);
    is($r->{status}, 201, "$path registered") or diag($r->{content});
}

register('live/a', 'tok-a');
register('live/b', 'tok-b');
register('a/b/c', 'tok-abc');                   # APP a/b, NAME c
register('a/' . url_escape('b/c'), 'tok-a-bc'); # APP a, NAME b/c
register('live/' . url_escape('50%'), 'tok-50');

sub pttl { $db->command('PTTL', "$prefix$_[0]") }
sub batch {
    my ($body, %h) = @_;
    return manager_req($mh, 'PUT', '/streams/',
                       ref $body ? encode_json($body) : $body, %h);
}

my $r = batch({ ttl => 60, leases => [
    { app => 'live', name => 'a', token => 'tok-a' },
    { app => 'live', name => 'b', token => 'wrong' },
    { app => 'live', name => 'none', token => 'tok-x' },
    { app => 'a/b', name => 'c', token => 'tok-abc' },
    { app => 'a', name => 'b/c', token => 'tok-a-bc' },
    { app => 'live', name => '50%', token => 'tok-50' },
] }, %auth);
is($r->{status}, 200, 'a batch is answered 200') or diag($r->{content});
is_deeply($r->{json}, { code => 0, ttl => 60,
                        leases => [200, 409, 404, 200, 200, 200] },
          'a status per lease, in order');

cmp_ok(pttl('live/a'), '>', 30_000, 'live/a renewed for 60 s');
cmp_ok(pttl('a/b/c'), '>', 30_000, 'a/b + c renewed');
cmp_ok(pttl('a/b%2Fc'), '>', 30_000, 'a + b/c renewed, under its own key');
cmp_ok(pttl('live/50%25'), '>', 30_000, '50% renewed');
cmp_ok(pttl('live/b'), '<=', 5_000, 'live/b, another token: not renewed');
like($db->command('GET', "${prefix}live/b"), qr/^tok-b /,
     'and still its holder\'s');
is($db->command('EXISTS', "${prefix}live/none"), 0, 'no lease made');

# max_ttl caps a batch as it caps a renewal; no ttl is the directive's
$r = batch({ ttl => 3600, leases => [
    { app => 'live', name => 'a', token => 'tok-a' } ] }, %auth);
is($r->{json}{ttl}, 120, 'a batch\'s ttl is capped to max_ttl');
$r = batch({ leases => [
    { app => 'live', name => 'a', token => 'tok-a' } ] }, %auth);
is($r->{json}{ttl}, 10, 'without ttl, the directive\'s');

# the single-stream renewal stays
$r = manager_req($mh, 'PUT', '/streams/live/b',
                 encode_json({ token => 'tok-b', ttl => 30 }), %auth);
is($r->{status}, 200, 'a single PUT still renews') or diag($r->{content});

# the secret
$r = batch({ leases => [{ app => 'live', name => 'a', token => 'tok-a' }] });
is($r->{status}, 401, 'a batch without the secret: 401');
$r = batch({ leases => [{ app => 'live', name => 'a', token => 'tok-a' }] },
           Authorization => 'Bearer nope');
is($r->{status}, 401, 'with another secret: 401');

# bad bodies, refused whole
my @bad = (
    ['', 'request body is not valid JSON', 'empty'],
    ['[]', 'request body must be a JSON object', 'an array'],
    ['{}', '"leases" must be an array of 1 to 1000 leases', 'no leases'],
    ['{"leases":[]}', '"leases" must be an array of 1 to 1000 leases',
     'no lease in it'],
    ['{"leases":{}}', '"leases" must be an array of 1 to 1000 leases',
     'an object'],
    [encode_json({ leases => [({ app => 'l', name => 'n', token => 't' })
                              x 1001] }),
     '"leases" must be an array of 1 to 1000 leases', '1001 leases'],
    ['{"leases":[{"app":"live","name":"a"}]}',
     'each lease needs "app", "name" and "token" strings', 'no token'],
    ['{"leases":[{"app":"live","name":1,"token":"t"}]}',
     'each lease needs "app", "name" and "token" strings', 'a number'],
    ['{"leases":[7]}',
     'each lease needs "app", "name" and "token" strings', 'not an object'],
    ['{"leases":[{"app":"live","name":"a","token":"two words"}]}',
     'invalid token', 'a bad token'],
    ['{"leases":[{"app":"","name":"a","token":"t"}]}',
     'APP and NAME must be 1 to 512 bytes each', 'an empty app'],
    [encode_json({ leases => [{ app => 'live', name => 'x' x 513,
                                token => 't' }] }),
     'APP and NAME must be 1 to 512 bytes each', 'a long name'],
    ['{"ttl":0,"leases":[{"app":"live","name":"a","token":"t"}]}',
     '"ttl" must be an integer from 1 to 86400', 'ttl 0'],
    ['{"leases":[{"app":"live","name":"a","token":"t"},'
     . '{"app":"live","name":"\u0001","token":"t"}]}',
     'APP and NAME must not contain control characters',
     'a control character'],
    ['{"leases":[{"app":"live\u0000x","name":"a","token":"t"}]}',
     'APP and NAME must not contain control characters', 'a NUL in it'],
    ['{"leases":[{"app":"live","name":"a","token":"t\u0000x"}]}',
     'invalid token', 'a NUL in the token'],
);
for my $b (@bad) {
    $r = batch($b->[0], %auth);
    is($r->{status}, 400, "$b->[2]: 400");
    is($r->{json}{error} // '', $b->[1], "$b->[2]: the reason");
}
cmp_ok(pttl('live/b'), '>', 20_000, 'no bad batch touched a lease');

# an escaped backslash before "u0000" is no NUL: a name the manager takes
$r = batch('{"leases":[{"app":"live","name":"a\\\\u0000","token":"t"}]}',
           %auth);
is($r->{status}, 200, 'a backslash and "u0000" in a name: 200')
    or diag($r->{content});
is_deeply($r->{json}{leases}, [404], 'the lease not found');

# 1000 leases in one request: the most a batch takes
my @many = map { { app => 'many', name => "s$_", token => "t$_" } } 1 .. 1000;
for my $i (1 .. 3) {
    register("many/s$i", "t$i");
}
$r = batch({ ttl => 60, leases => \@many }, %auth);
is($r->{status}, 200, '1000 leases in one batch') or diag($r->{content});
is(scalar @{$r->{json}{leases} // []}, 1000, 'a status for each');
is(scalar(grep { $_ == 200 } @{$r->{json}{leases} // []}), 3,
   'the three held renewed, the others not found');

# run as scripts of 100 leases (a lookup waits for one, not for the
# batch), the statuses still in the request's order across them
sub evals {
    my $info = $db->command('INFO', 'commandstats');
    return $info =~ /^cmdstat_eval:calls=(\d+)/m ? $1 : 0;
}
register('many/s150', 't150');
register('many/s999', 'tother');
my $e = evals();
$r = batch({ ttl => 60, leases => \@many }, %auth);
is(evals() - $e, 10, '1000 leases: 10 scripts of 100');
my @st = @{$r->{json}{leases} // []};
is_deeply([@st[0, 1, 2, 149, 998, 3, 500, 999]],
          [200, 200, 200, 200, 409, 404, 404, 404],
          'each status at its lease, across the scripts')
    or diag("@st[0 .. 3, 149, 998]");

$r = batch('{"leases":[' . ('{"app":"a","name":"b","token":"c"},' x 9000)
           . '{"app":"a","name":"b","token":"c"}]}', %auth);
is($r->{status}, 413, 'a body over 256 KB: 413');

# Redis down: a clean 503
$redis->stop;
ok($t->wait_until(sub {
    batch({ leases => [{ app => 'live', name => 'a', token => 'tok-a' }] },
          %auth)->{status} == 503 }), 'Redis down: 503');

$m->stop;

$t->check_logs;

done_testing;
