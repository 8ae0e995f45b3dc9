#!/usr/bin/perl

# Names from clients and peers: control bytes and NUL in an application
# or stream name are refused everywhere (RTMP play and publish, the
# coworker API, the stream manager) with a clear error: "s%00junk" is
# never taken for "s", which (the control) plays and is found.  Names
# that are not UTF-8: t/58-names-utf8.t.


use strict;
use warnings;

use Test::More;
use HTTP::Tiny;

use lib 't/lib';
use ClusterTest;
use ClusterConf;
use Redis;
use RTMP::Client;

my $t = ClusterTest->new;
$t->skip_unless_module;
$t->skip_unless_redis;

my ($op, $oh, $rp, $mh) = map { $t->port } 1 .. 4;

my $o = $t->nginx('origin', cluster_origin_conf(port => $op, http => $oh),
                  ports => [$op, $oh]);

$t->redis_server($rp);
ok(Redis->ping($rp), 'redis');
my $m = $t->nginx('manager', manager_conf(http => $mh, locations =>
    "location /streams/ { cluster_stream_manager redis=127.0.0.1:$rp; }\n"
    . "        location /api/v1/clusters { "
    . "cluster_stream_manager redis=127.0.0.1:$rp; }"),
    ports => [$mh]);

my $http = HTTP::Tiny->new(timeout => slow(5));

sub get { $http->get("http://127.0.0.1:$_[0]$_[1]") }

sub esc { join '', map { sprintf '%%%02X', ord } split //, $_[0] }

# publish($name): the code of the publish's answer (the client waits)
sub publish {
    my ($name) = @_;
    my $c = RTMP::Client->new(port => $op, timeout => 5);
    $c->connect(app => 'live');
    $c->create_stream;
    my $m = $c->publish($name);
    my ($info) = grep { ref $_ eq 'HASH' } reverse @{$m->{amf} // []};
    return ($c, $info ? $info->{code} : 'none');
}
### control bytes and NUL

# positive control: a plain name plays and is found
my @pubs;
my ($c, $code) = publish('s');
push @pubs, $c;
is($code, 'NetStream.Publish.Start', 'control: "s" published');

my $r = get($oh, '/api/v1/clusters?vhost=v&ip=h&app=live&stream=s');
like($r->{content}, qr/"origin":\{"ip"/, 'control: "s" found by the API');

$r = get($oh, '/api/v1/clusters?vhost=v&ip=h&app=live&stream=s%00junk');
is($r->{status}, 400, 'API: "s%00junk" refused');
like($r->{content}, qr/must not contain control characters/,
     'API: says why');
$r = get($oh, '/api/v1/clusters?vhost=v&ip=h&app=live&stream=s%0D%0Ax');
is($r->{status}, 400, 'API: CR LF refused');

my $p = $t->rtmp_play($op, 'live', "s\x01x");
ok($p->wait_status(qr/^NetStream\.Play\.Failed$/, timeout => 5),
   'RTMP play: a control byte refused');
$p->close;

($c, $code) = publish("p\x1bx");
is($code, 'NetStream.Publish.BadName', 'RTMP publish: a control byte refused');
$c->close;
ok($o->grep_log(qr/refused an application, stream name or arguments with control characters/),
   'logged');

# the manager's control: a plain name is looked up
is(get($mh, '/api/v1/clusters?vhost=v&ip=h&app=live&stream=s')->{status},
   200, 'control: the manager\'s coworker API looks "s" up');
is(get($mh, '/streams/live/s')->{status}, 404,
   'control: the manager looks "s" up (no lease)');

$r = get($mh, '/api/v1/clusters?vhost=v&ip=h&app=live&stream=s%00junk');
is($r->{status}, 400, 'manager, coworker API: NUL refused');
$r = get($mh, '/streams/live/s%00junk');
is($r->{status}, 400, 'manager, path: NUL refused (by nginx itself)');
$r = get($mh, '/streams/live/s%01junk');
is($r->{status}, 400, 'manager, path: a control byte refused');
like($r->{content}, qr/must not contain control characters/,
     'manager: says why');

$_->close for @pubs;

$t->check_logs;

done_testing;
