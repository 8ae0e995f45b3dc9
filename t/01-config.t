#!/usr/bin/perl

# Configuration errors of the rtmp directives: every bad one fails
# "nginx -t" with a message naming the directive and the reason (the
# configuration is printed when it does not); a complete edge and a
# complete origin configuration pass.  (The stream manager's, in http,
# are t/41-manager-config.t's; the socket directory's, t/22-socket-dir.t's.)

use strict;
use warnings;

use Test::More;

use lib 't/lib';
use ClusterTest;

my $t = ClusterTest->new;
$t->skip_unless_module;

my $port = $t->port;

sub conf {
    my ($rtmp, $app, %opt) = @_;
    my $load = $opt{load} // '%%LOAD_MODULES%%';
    my $http = $opt{http} // '';
    return <<"END";
error_log logs/error.log info;
pid logs/nginx.pid;
$load
events {}
rtmp {
    $rtmp
    server {
        listen 127.0.0.1:$port;
        application live {
            live on;
            $app
        }
    }
}
$http
END
}

sub fails_like {
    my ($conf, $re, $name) = @_;
    my ($code, $out) = $t->nginx_t($conf);
    isnt($code, 0, "$name: nginx -t fails") or diag($conf);
    like($out, $re, "$name: message") or diag("$out\n$conf");
}

my ($code, $out) = $t->nginx_t(conf('cluster_zone z:1m;',
    'cluster edge; cluster_origin 127.0.0.1:1; cluster_origin localhost:2 '
    . 'weight=3 max_fails=2 fail_timeout=3s; cluster_origin 127.0.0.2 backup;'
    . ' cluster_balance round_robin; cluster_linger 0;',
    http => 'http { %%HTTP_DEFAULTS%% server { listen 127.0.0.1:'
            . $t->port . '; location /c { cluster_status; } } }'));
is($code, 0, 'a complete edge configuration passes nginx -t') or diag($out);

fails_like(conf('cluster_zone z:1m;', 'cluster edge;'),
    qr/"cluster edge" needs at least one "cluster_origin"/,
    'edge without origins');

fails_like(conf('', 'cluster edge; cluster_origin 127.0.0.1:1;'),
    qr/"cluster" needs a shared zone: add "cluster_zone/,
    'edge without a zone');

fails_like(conf('cluster_zone z:8k;', 'cluster edge; cluster_origin 127.0.0.1:1;'),
    qr/"cluster_zone": zone "z:8k" is too small/, 'zone too small');

fails_like(conf('cluster_zone z;', 'cluster edge; cluster_origin 127.0.0.1:1;'),
    qr/"cluster_zone": invalid zone "z", expected name:size/, 'zone without size');

fails_like(conf('cluster_zone z:1m; cluster_zone y:1m;',
                'cluster edge; cluster_origin 127.0.0.1:1;'),
    qr/"cluster_zone" directive is duplicate/, 'duplicate zone');

fails_like(conf('cluster_zone z:1m;',
                'cluster edge; cluster_origin no-such-host.invalid:1935;'),
    qr/"cluster_origin": host not found in "no-such-host.invalid:1935"/,
    'unresolvable origin');

fails_like(conf('cluster_zone z:1m;',
                'cluster edge; cluster_origin 127.0.0.1:1935/live/x;'),
    qr/"cluster_origin": "127.0.0.1:1935\/live\/x" must be host:port/,
    'origin with a path');

fails_like(conf('cluster_zone z:1m;',
                'cluster edge; cluster_origin 127.0.0.1:1 weight=0;'),
    qr/"cluster_origin": invalid parameter "weight=0"/, 'zero weight');

fails_like(conf('cluster_zone z:1m;',
                'cluster edge; cluster_origin 127.0.0.1:1 fast;'),
    qr/"cluster_origin": invalid parameter "fast"/, 'unknown origin parameter');

fails_like(conf('cluster_zone z:1m;',
                'cluster edge; cluster_origin 127.0.0.1:1 backup;'),
    qr/every origin is a backup/, 'only backups');

fails_like(conf('cluster_zone z:1m;',
                'cluster edge; cluster_origin 127.0.0.1:1; '
                . 'cluster_balance random;'),
    qr/invalid value "random" in "cluster_balance", expected one of: hash, round_robin, order/, 'unknown balance');

fails_like(conf('cluster_zone z:1m;', 'cluster middle;'),
    qr/invalid value "middle" in "cluster", expected one of: off, edge, origin/, 'unknown role');

fails_like(conf('cluster_zone z:1m;',
                'cluster edge; cluster_origin 127.0.0.1:1; '
                . 'cluster_connect_timeout 0;'),
    qr/"cluster_connect_timeout" and "cluster_media_timeout" must be positive/,
    'zero timeout');

fails_like(conf('cluster_zone z:1m;',
                'cluster edge; cluster_origin 127.0.0.1:1; '
                . 'cluster_linger soon;'),
    qr/"cluster_linger" directive invalid value/, 'bad time');

($code, $out) = $t->nginx_t(conf('cluster_zone z:1m;',
    'cluster origin; cluster_coworkers 127.0.0.1:1985 localhost:1986; '
    . 'cluster_coworkers http://127.0.0.2; cluster_advertise 10.0.0.1:1935; '
    . 'cluster_lookup_timeout 300ms; cluster_lookup_cache 2s 500ms; '
    . 'cluster_found proxy; cluster_redirect fms; cluster_not_found reject; '
    . 'cluster_duplicate_publish allow;',
    http => 'http { %%HTTP_DEFAULTS%% server { listen 127.0.0.1:'
            . $t->port . '; location /api/v1/clusters { cluster_api; } } }'));
is($code, 0, 'a complete origin configuration passes nginx -t') or diag($out);

fails_like(conf('cluster_zone z:1m;',
                'cluster origin; cluster_coworkers nowhere.invalid:1985;'),
    qr/"cluster_coworkers": host not found in "nowhere.invalid:1985"/,
    'unresolvable coworker');

fails_like(conf('cluster_zone z:1m;',
                'cluster origin; cluster_coworkers 127.0.0.1:1985/api;'),
    qr/"cluster_coworkers": "127.0.0.1:1985\/api" must be host:port/,
    'coworker with a path');

fails_like(conf('cluster_zone z:1m;',
                'cluster origin; cluster_advertise :1935;'),
    qr/"cluster_advertise": invalid address ":1935"/, 'bad advertise');

fails_like(conf('cluster_zone z:1m;',
                'cluster origin; cluster_advertise 10.0.0.1:http;'),
    qr/"cluster_advertise": invalid address "10.0.0.1:http"/,
    'bad advertise port');

fails_like(conf('cluster_zone z:1m;',
                'cluster origin; cluster_lookup_timeout 0;'),
    qr/"cluster_lookup_timeout" must be positive/, 'zero lookup timeout');

fails_like(conf('cluster_zone z:1m;',
                'cluster origin; cluster_lookup_cache soon;'),
    qr/"cluster_lookup_cache": invalid time/, 'bad cache time');

fails_like(conf('cluster_zone z:1m;', 'cluster origin; cluster_found copy;'),
    qr/invalid value "copy" in "cluster_found", expected one of: redirect, proxy/,
    'unknown found mode');

fails_like(conf('cluster_zone z:1m;', 'cluster origin; cluster_redirect rtmp;'),
    qr/invalid value "rtmp" in "cluster_redirect", expected one of: srs, fms/,
    'unknown dialect');

fails_like(conf('cluster_zone z:1m;',
                'cluster edge; cluster_origin 127.0.0.1:1; '
                . 'cluster_redirect_depth many;'),
    qr/"cluster_redirect_depth" directive invalid number/, 'bad depth');

# merged writes: "off" or a window from 1ms to 5s, an optional size

for my $bad (['0', qr/window "0" must be/],
             ['10s', qr/window "10s" must be/],
             ['100ms 1k', qr/size "1k" must be/],
             ['off 1m', qr/takes no size/],
             ['soon', qr/window "soon" must be/])
{
    fails_like(conf('cluster_zone z:1m;', 'cluster edge; '
                    . 'cluster_origin 127.0.0.1:1; '
                    . "cluster_merge_writes $bad->[0];"),
               $bad->[1], "cluster_merge_writes $bad->[0]");
}

($code, $out) = $t->nginx_t(conf('cluster_zone z:1m; '
    . 'cluster_merge_writes 200ms 1m;',
    'cluster edge; cluster_origin 127.0.0.1:1;'));
is($code, 0, 'cluster_merge_writes: window and size at the rtmp level accepted')
    or diag $out;

# the module needs nginx-rtmp's symbols: loading it first fails clearly
fails_like(conf('', '', load => 'load_module ' . $t->module_path . ';'
                . "\nload_module /usr/lib/nginx/modules/ngx_rtmp_module.so;"),
    qr/undefined symbol/, 'loaded before nginx-rtmp');

$t->check_logs;

done_testing;
