#!/usr/bin/perl

# The stream manager's configuration errors (cluster_stream_manager, in http):
# every bad parameter fails "nginx -t" with a message naming the directive
# and the reason, a secret is never repeated; a good configuration passes,
# names resolved at start.

use strict;
use warnings;

use Test::More;

use lib 't/lib';
use ClusterTest;

my $t = ClusterTest->new;
$t->skip_unless_module;

my $hp = $t->port;

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

my $origins_own = '"cluster_manager" is the origin\'s directive in rtmp; '
    . 'a stream manager\'s location takes "cluster_stream_manager"';
$origins_own = qr/\Q$origins_own\E/;

my @bad = (
    ['location /s/ { cluster_stream_manager ttl=3s; }',
     qr/"cluster_stream_manager": "redis=HOST:PORT" or "sentinel=HOST:PORT \.\.\. master=NAME" is required/, 'no redis'],
    ['location /s/ { cluster_stream_manager redis=127.0.0.1:6379 ttl=0; }',
     qr/"cluster_stream_manager": invalid ttl "0"/, 'ttl 0'],
    ['location /s/ { cluster_stream_manager redis=127.0.0.1:6379 ttl=500ms; }',
     qr/"cluster_stream_manager": invalid ttl "500ms"/, 'ttl under a second'],
    ['location /s/ { cluster_stream_manager redis=127.0.0.1:6379 timeout=soon; }',
     qr/"cluster_stream_manager": invalid timeout "soon"/, 'bad timeout'],
    ['location /s/ { cluster_stream_manager redis=127.0.0.1:6379 max_ttl=0; }',
     qr/"cluster_stream_manager": invalid max_ttl "0", expected 1s to 24h/,
     'max_ttl 0'],
    ['location /s/ { cluster_stream_manager redis=127.0.0.1:6379 max_ttl=2d; }',
     qr/"cluster_stream_manager": invalid max_ttl "2d"/, 'max_ttl over 24h'],
    ['location /s/ { cluster_stream_manager redis=127.0.0.1:6379 ttl=1m '
     . 'max_ttl=30s; }',
     qr/"cluster_stream_manager": ttl 60s is longer than max_ttl 30s/,
     'ttl over max_ttl'],
    ['location /s/ { cluster_stream_manager redis=127.0.0.1:6379 '
     . '"secret=two words"; }',
     qr/"cluster_stream_manager": invalid secret, expected 1 to 256 printable/,
     'secret with a space'],
    ['location /s/ { cluster_stream_manager redis=127.0.0.1:6379 secret=; }',
     qr/"cluster_stream_manager": invalid secret/, 'empty secret'],
    ['location /s/ { cluster_stream_manager redis=127.0.0.1:6379 size=3; }',
     qr/"cluster_stream_manager": invalid parameter "size=3"/, 'unknown parameter'],
    ['location /s/ { cluster_stream_manager redis=127.0.0.1:99999; }',
     qr/"cluster_stream_manager": invalid port in redis "127.0.0.1:99999"/,
     'bad port'],
    ['location /s/ { cluster_stream_manager redis=unix:/tmp/redis.sock; }',
     qr/"cluster_stream_manager": invalid redis "unix:\/tmp\/redis.sock", expected/,
     'unix socket'],
    ['location ~ ^/s/ { cluster_stream_manager redis=127.0.0.1:6379; }',
     qr/"cluster_stream_manager" needs a prefix location/, 'regex location'],
    ['location /s/ { cluster_stream_manager redis=127.0.0.1:6379; '
     . 'cluster_stream_manager redis=127.0.0.1:6380; }',
     qr/"cluster_stream_manager" directive is duplicate/, 'twice'],

    # Redis Sentinel
    ['location /s/ { cluster_stream_manager sentinel=127.0.0.1:26379; }',
     qr/"redis=HOST:PORT" or "sentinel=HOST:PORT \.\.\. master=NAME" is required/,
     'sentinel without master'],
    ['location /s/ { cluster_stream_manager master=mymaster; }',
     qr/"redis=HOST:PORT" or "sentinel=HOST:PORT \.\.\. master=NAME" is required/,
     'master without sentinel'],
    ['location /s/ { cluster_stream_manager redis=127.0.0.1:6379 '
     . 'sentinel=127.0.0.1:26379 master=mymaster; }',
     qr/"cluster_stream_manager": "redis" and "sentinel" or "master" exclude each other/,
     'redis and sentinel'],
    ['location /s/ { cluster_stream_manager sentinel=127.0.0.1:99999 '
     . 'master=mymaster; }',
     qr/"cluster_stream_manager": invalid sentinel "127.0.0.1:99999", expected HOST:PORT/,
     'bad sentinel port'],
    ['location /s/ { cluster_stream_manager sentinel=unix:/tmp/s.sock '
     . 'master=mymaster; }',
     qr/"cluster_stream_manager": invalid sentinel "unix:\/tmp\/s.sock"/,
     'sentinel on a unix socket'],
    ['location /s/ { cluster_stream_manager sentinel=127.0.0.1:26379 '
     . 'master=; }',
     qr/"cluster_stream_manager": invalid master ""/, 'empty master'],
    ['location /s/ { cluster_stream_manager sentinel=127.0.0.1:26379 '
     . '"master=my master"; }',
     qr/"cluster_stream_manager": invalid master "my master"/,
     'master with a space'],
    ['location /s/ { cluster_stream_manager '
     . join(' ', map { "sentinel=127.0.0.1:" . (26379 + $_) } 0 .. 16)
     . ' master=m; }',
     qr/"cluster_stream_manager": more than 16 sentinels/, '17 sentinels'],

    ['location /s/ { cluster_stream_manager '
     . 'sentinel=no-such-host.invalid:26379 master=mymaster; }',
     qr/"cluster_stream_manager": invalid sentinel "no-such-host\.invalid:26379", expected HOST:PORT \(host not found\)/,
     'unresolvable sentinel'],
    ['location /s/ { cluster_stream_manager redis=no-such-host.invalid:6379; }',
     qr/"cluster_stream_manager": host not found in redis "no-such-host\.invalid:6379"/,
     'unresolvable redis'],

    # a parameter given twice (sentinel= excepted)
    ['location /s/ { cluster_stream_manager redis=127.0.0.1:6379 '
     . 'redis=127.0.0.1:6380; }',
     qr/"cluster_stream_manager": duplicate "redis" parameter/, 'two redis'],
    ['location /s/ { cluster_stream_manager sentinel=127.0.0.1:26379 '
     . 'master=a master=b; }',
     qr/"cluster_stream_manager": duplicate "master" parameter/, 'two masters'],
    ['location /s/ { cluster_stream_manager redis=127.0.0.1:6379 ttl=5s '
     . 'ttl=6s; }',
     qr/"cluster_stream_manager": duplicate "ttl" parameter/, 'two ttls'],
    ['location /s/ { cluster_stream_manager redis=127.0.0.1:6379 max_ttl=1m '
     . 'max_ttl=2m; }',
     qr/"cluster_stream_manager": duplicate "max_ttl" parameter/,
     'two max_ttls'],
    ['location /s/ { cluster_stream_manager redis=127.0.0.1:6379 '
     . 'timeout=1s timeout=2s; }',
     qr/"cluster_stream_manager": duplicate "timeout" parameter/,
     'two timeouts'],
    ['location /s/ { cluster_stream_manager redis=127.0.0.1:6379 '
     . 'secret=first-one secret=second-one; }',
     qr/"cluster_stream_manager": duplicate "secret" parameter/,
     'two secrets'],

    # the origin's (rtmp) directive, the old spelling, refused in http
    ['location /s/ { cluster_manager redis=127.0.0.1:6379; }',
     $origins_own, 'the old name in a location'],
    ['cluster_manager redis=127.0.0.1:6379;',
     $origins_own, 'the old name in a server'],
    ['location /s/ { cluster_manager http://127.0.0.1:8080/streams/; }',
     $origins_own, 'the origin\'s directive in a location'],
);

for my $b (@bad) {
    my ($code, $out) = $t->nginx_t(conf($b->[0]));
    isnt($code, 0, "config, $b->[2]: nginx -t fails") or diag(conf($b->[0]));
    like($out, $b->[1], "config, $b->[2]: message")
        or diag("$out\n" . conf($b->[0]));
}

my ($code, $out) = $t->nginx_t(conf(
    'location /a/ { cluster_stream_manager redis=127.0.0.1:6379; } '
    . 'location /b/ { cluster_stream_manager redis=localhost:6379 ttl=1m '
    . 'timeout=250ms; }'));
is($code, 0, 'config: a good one passes, names resolved at start')
    or diag($out);

($code, $out) = $t->nginx_t(conf(
    'location /a/ { cluster_stream_manager sentinel=127.0.0.1:26379 '
    . 'sentinel=localhost master=mymaster; } '
    . 'location /b/ { cluster_stream_manager sentinel=127.0.0.1:26380 '
    . 'master=mymaster ttl=1m; }'));
is($code, 0, 'config: sentinels and a master pass') or diag($out);

($code, $out) = $t->nginx_t(conf('location /s/ { cluster_stream_manager '
    . 'redis=127.0.0.1:6379 "secret=two words hidden"; }'));
like($out, qr/"cluster_stream_manager": invalid secret/,
     'config: a bad secret with a word after it is refused');
unlike($out, qr/hidden/, 'config: a bad secret is not repeated in the log');

($code, $out) = $t->nginx_t(conf('location /s/ { cluster_stream_manager '
    . 'redis=127.0.0.1:6379 secret=first-one secret=second-one; }'));
unlike($out, qr/first-one|second-one/,
       'config: a repeated secret is not repeated in the log');

$t->check_logs;

done_testing;
