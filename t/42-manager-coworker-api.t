#!/usr/bin/perl

# The stream manager answers SRS's coworker API (/api/v1/clusters) from
# its leases, byte for byte as an SRS origin does, for any method: found,
# not found ("origin":null), odd names, the query echoed as asked, app
# and stream required.

use strict;
use warnings;

use Test::More;
use JSON::PP;

use lib 't/lib';
use ClusterTest;
use ClusterConf;
use FakeCoworker;
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
        location /api/v1/clusters {
            cluster_stream_manager redis=127.0.0.1:$rp;
        }
    }
}
EOF

sub req  { manager_req($hp, @_) }
sub post { req('POST', "/streams/$_[0]", encode_json($_[1])) }
sub put  { req('PUT', "/streams/$_[0]", encode_json($_[1])) }

sub esc { url_escape(@_) }

# the leases the API answers from

my $odd = qq{we ird"n\\ame\x{e9}};
is(post('live/s1', { host => '10.0.0.1', port => 1935 })->{status}, 201,
   'leased: live/s1');
is(post('live/s2', { host => '10.0.0.2', port => 1936 })->{status}, 201,
   'leased: live/s2');
is(post('live/' . esc($odd), { host => '10.0.0.5', port => 1935 })->{status},
   201, 'leased: an odd name');

my $r;

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

$n->stop;
$redis->stop;

$t->check_logs;

done_testing;
