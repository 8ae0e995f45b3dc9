#!/usr/bin/perl

# cluster_not_found_backoff: how soon an edge asks its origins again
# while none has the stream.  Its configuration errors; the delays it
# announces start at min, double and stop at max (default 200ms, 1s);
# the origin is asked again each time; cluster_retry_timeout still ends
# the wait.

use strict;
use warnings;

use Test::More;

use lib 't/lib';
use ClusterTest;
use ClusterConf;
use FakeOrigin;

my $t = ClusterTest->new;
$t->skip_unless_module;

my $port = $t->port;

sub conf {
    my ($app) = @_;
    return <<"END";
error_log logs/error.log info;
pid logs/nginx.pid;
%%LOAD_MODULES%%
events {}
rtmp {
    cluster_zone z:1m;
    server {
        listen 127.0.0.1:$port;
        application live {
            live on;
            cluster edge;
            cluster_origin 127.0.0.1:1;
            $app
        }
    }
}
END
}

my ($code, $out) = $t->nginx_t(conf('cluster_not_found_backoff 100ms 2s;'));
is($code, 0, 'min and max pass nginx -t') or diag($out);
($code, $out) = $t->nginx_t(conf('cluster_not_found_backoff 500ms;'));
is($code, 0, 'a fixed interval passes nginx -t') or diag($out);

for ([ '0',          qr/10ms <= min <= max <= 60s/, 'zero' ],
     [ '5ms 1s',     qr/10ms <= min <= max <= 60s/, 'below 10ms' ],
     [ '2s 1s',      qr/10ms <= min <= max <= 60s/, 'max below min' ],
     [ '1s 61s',     qr/10ms <= min <= max <= 60s/, 'above 60s' ],
     [ 'soon',       qr/invalid time/,              'not a time' ],
     [ '1s 2s 3s',   qr/invalid number of arguments/, 'three values' ])
{
    my ($v, $re, $name) = @$_;
    my $c = conf("cluster_not_found_backoff $v;");
    ($code, $out) = $t->nginx_t($c);
    isnt($code, 0, "$name: nginx -t fails") or diag($c);
    like($out, qr/"cluster_not_found_backoff"/, "$name: names the directive")
        or diag($out);
    like($out, $re, "$name: says why") or diag($out);
}

($code, $out) = $t->nginx_t(conf('cluster_not_found_backoff 1s;'
                                 . ' cluster_not_found_backoff 2s;'));
like($out, qr/"cluster_not_found_backoff" directive is duplicate/,
     'a duplicate fails');

# the delays, as the edge announces them

sub delays {
    my ($edge) = @_;
    return map { /asking again in (\d+)ms/ ? $1 : () }
           $edge->grep_log(qr/no origin has "live\/s1" yet/);
}

my $fo = FakeOrigin->start(mode => 'srs_not_found',
                           log => $t->tmp . '/fake.log');

my ($ep, $eh, $dp, $dh, $rp, $rh) = map { $t->port } 1 .. 6;

my $edge = $t->nginx('edge', edge_conf(port => $ep, http => $eh,
    origins => ['127.0.0.1:' . $fo->port],
    app => 'cluster_not_found_backoff 100ms 400ms;'),
    ports => [$ep, $eh]);

my $p = $t->rtmp_play($ep, 'live', 's1', wait => 1);

ok($t->wait_until(sub { delays($edge) >= 5 }), 'five delays announced');
my @d = delays($edge);
is_deeply([@d[0 .. 4]], [100, 200, 400, 400, 400],
          'from min, doubling, up to max') or diag("@d");
cmp_ok($fo->served, '>=', 5, 'the origin was asked each time');
$p->close;
$edge->stop;

# the default

my $def = $t->nginx('edge-default', edge_conf(port => $dp, http => $dh,
    origins => ['127.0.0.1:' . $fo->port]), ports => [$dp, $dh]);

$p = $t->rtmp_play($dp, 'live', 's1', wait => 1);
ok($t->wait_until(sub { delays($def) >= 5 }), 'default: five delays');
@d = delays($def);
is_deeply([@d[0 .. 4]], [200, 400, 800, 1000, 1000],
          'default: 200ms doubling up to 1s') or diag("@d");
$p->close;
$def->stop;

# cluster_retry_timeout still ends the wait

my $rt = $t->nginx('edge-retry', edge_conf(port => $rp, http => $rh,
    origins => ['127.0.0.1:' . $fo->port],
    app => 'cluster_retry_timeout 1s; cluster_not_found_backoff 100ms;'),
    ports => [$rp, $rh]);

$p = $t->rtmp_play($rp, 'live', 's1', wait => 1);
$p->wait_message(sub { 0 }, timeout => 10);
ok($p->eof, 'after cluster_retry_timeout the player is ended');
ok($rt->grep_log(qr/no origin could serve "live\/s1" within 1000ms, ending 1 players; origins tried: .*\(not found\)/),
   'log: the give-up lists the origin as not found');

$fo->stop;

$t->check_logs;

done_testing;
