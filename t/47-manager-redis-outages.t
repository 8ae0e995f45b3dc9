#!/usr/bin/perl

# The stream manager while Redis misbehaves: a client that leaves before
# the reply is logged 499 at once and the late reply dropped; Redis
# frozen: 504 after the timeout, then 503 at once until it answers again;
# Redis stopped: every kind of request 503 at once; started again on the
# same port: each worker reconnects; a reload: new workers connect, old
# ones leave cleanly.

use strict;
use warnings;

use Test::More;
use IO::Socket::IP;
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
            cluster_stream_manager redis=127.0.0.1:$rp ttl=3s timeout=1s;
        }
        location /api/v1/clusters {
            cluster_stream_manager redis=127.0.0.1:$rp;
        }
    }
}
EOF

sub req  { manager_req($hp, @_) }
sub post { req('POST', "/streams/$_[0]", encode_json($_[1])) }
sub put  { req('PUT', "/streams/$_[0]", encode_json($_[1])) }

my $q = "vhost=__defaultVhost__&ip=10.1.2.3&app=live&coworker=127.0.0.1:$hp";
my $tok2 = post('live/s2', { host => '10.0.0.2', port => 1936 })->{json}{token};
ok($tok2, 'a lease with its token');

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

# nginx's side of a client's connection: bytes not read yet
sub unread {
    my ($s) = @_;
    my $cport = $s->sockport;
    my ($l) = `ss -tnH state established '( sport = :$hp and dport = :$cport )'`;
    return defined $l && $l =~ /^\s*(\d+)/ ? $1 : -1;
}

kill 'STOP', $redis->pid;
my @gone = map { raw_request("/streams/live/gone$_") } 1 .. 4;

# nginx read each request (and asked the frozen redis) once nothing is
# left unread on its side of the connection
ok($t->wait_until(sub { 4 == grep { unread($_) == 0 } @gone },
                  interval => 0.02),
   'four requests read by nginx, waiting on redis');
close $_ for @gone;

ok($t->wait_until(sub {
    my @l = grep { m{/streams/live/gone\d HTTP/1.1" 499 } }
            split /\n/, ClusterTest::_read_file("$n->{prefix}/logs/access.log");
    @l == 4;
}, timeout => 3), 'clients gone before the reply: 499, at once (redis frozen)');

kill 'CONT', $redis->pid;

for (1 .. 4) {
    is(req('GET', '/streams/live/keep')->{status}, 200,
       "late replies dropped: still answering ($_)");
}

### Redis frozen: 504 after the timeout, then 503 at once until it answers

kill 'STOP', $redis->pid;

my $r = req('GET', '/streams/live/keep');
is($r->{status}, 504, 'redis frozen: 504');
is($r->{content}, '{"code":504,"error":"redis did not answer in time"}',
   'redis frozen: answer');
ok($r->{elapsed} > 0.8 && $r->{elapsed} < 1 + slow(1),
   sprintf('redis frozen: after the 1 s timeout (%.3f s)', $r->{elapsed}));

my @st = map { req('GET', '/streams/live/keep') } 1 .. 4;
ok(!grep({ $_->{status} != 503 && $_->{status} != 504 } @st),
   'redis frozen: then 503 or 504 (the other worker)');
ok(!grep({ $_->{elapsed} > 1 + slow(1) } @st),
   'redis frozen: never waits longer');

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
ok($slow < slow(0.5), sprintf('redis stopped: answered at once, not after the'
                              . ' 1 s timeout (slowest %.3f s)', $slow));

$redis = $t->redis_server($rp);
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
