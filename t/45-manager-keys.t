#!/usr/bin/perl

# The stream manager's Redis keys: APP/NAME pairs that differ never share
# a key (APP "a/b" with NAME "c" and APP "a" with NAME "b/c"; percent
# signs), each has its own lookup, and the list tells them apart.

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

### APP and NAME never share a key

my $r = post('a/b/c', { host => '10.0.3.1', port => 1935 });
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

$n->stop;
$redis->stop;

$t->check_logs;

done_testing;
