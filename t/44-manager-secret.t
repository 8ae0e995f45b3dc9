#!/usr/bin/perl

# The stream manager's secret ("secret=" of cluster_stream_manager): changes
# (register, renew, release) and the list need "Authorization: Bearer
# SECRET", compared whole; lookups and SRS's coworker API do not; the
# secret is in no log, a refused request is logged at the info level.

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

my $secret = 'Zk3-q9_w.8xV~a1+b2/c3=';

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
        location /secure/ {
            cluster_stream_manager redis=127.0.0.1:$rp secret=$secret;
        }
        location /api/v1/clusters {
            cluster_stream_manager redis=127.0.0.1:$rp secret=$secret;
        }
    }
}
EOF

sub req { manager_req($hp, @_) }

### the secret: changes and the list need it, lookups do not

my %auth = (Authorization => "Bearer $secret");
my $sbody = encode_json({ host => '10.0.2.1', port => 1935, ttl => 30 });

# the control for "wrote nothing": a registration with the secret writes
my $r = req('POST', '/secure/live/control', $sbody, %auth);
is($r->{status}, 201, 'register with the secret: 201 (control)');
is($db->command('EXISTS', "${prefix}live/control"), 1,
   'register with the secret: its key (control)');

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

# nginx logs a request after its answer is sent: wait for the last one
my $access = $n->prefix . '/logs/access.log';
ok($t->wait_until(sub {
    ClusterTest::_read_file($access) =~ m{"GET /secure/ HTTP/1\.1" 200 }
}), 'the requests are in the access log');
ok(!grep({ index($_, $secret) >= 0 } split /\n/, $n->error_log_text
          . ClusterTest::_read_file($access)),
   'the secret is in no log');
ok(grep({ /\[info\].*cluster: a POST request without the manager's secret /
        } split /\n/, $n->error_log_text),
   'a refused request is logged at the info level');

$r = req('DELETE', '/secure/live/sec', $renew, %auth);
is($r->{status}, 200, 'released with the secret');

$n->stop;
$redis->stop;

$t->check_logs;

done_testing;
