#!/usr/bin/perl

# Names from clients and peers.  Control bytes and NUL in an application
# or stream name are refused everywhere (RTMP play and publish, the
# coworker API, the stream manager) with a clear error: "s%00junk" is
# never taken for "s".  Bytes that are not UTF-8 (overlong forms,
# surrogates, code points above U+10FFFF) never break a JSON document:
# each invalid sequence is written as U+FFFD, so the status, the coworker
# API and the manager's answers stay valid UTF-8 for strict parsers.

use strict;
use warnings;

use Test::More;
use HTTP::Tiny;

use lib 't/lib';
use ClusterTest;
use ClusterConf;
use RTMP::Client;

my $t = ClusterTest->new;
$t->skip_unless_module;

my ($redis_server) = grep { -x } map { "$_/redis-server" }
                     split /:/, $ENV{PATH} // '/usr/bin';
plan skip_all => 'redis-server is not installed' unless $redis_server;

# RFC 3629, byte by byte
my $UTF8 = qr/\A(?:[\x00-\x7f]
                 |[\xc2-\xdf][\x80-\xbf]
                 |\xe0[\xa0-\xbf][\x80-\xbf]
                 |[\xe1-\xec\xee\xef][\x80-\xbf]{2}
                 |\xed[\x80-\x9f][\x80-\xbf]
                 |\xf0[\x90-\xbf][\x80-\xbf]{2}
                 |[\xf1-\xf3][\x80-\xbf]{3}
                 |\xf4[\x80-\x8f][\x80-\xbf]{2})*\z/x;

my $FFFD = "\xef\xbf\xbd";

my ($op, $oh, $rp, $mh) = map { $t->port } 1 .. 4;

my $o = $t->nginx('origin', cluster_origin_conf(port => $op, http => $oh),
                  ports => [$op, $oh]);

$t->redis_server($rp);
ok($t->wait_until(sub { $t->port_open($rp) }), 'redis');
my $m = $t->nginx('manager', manager_conf(http => $mh, locations =>
    "location /streams/ { cluster_stream_manager redis=127.0.0.1:$rp; }\n"
    . "        location /api/v1/clusters { "
    . "cluster_stream_manager redis=127.0.0.1:$rp; }"),
    ports => [$mh]);

my $http = HTTP::Tiny->new(timeout => 5);

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

$r = get($mh, '/api/v1/clusters?vhost=v&ip=h&app=live&stream=s%00junk');
is($r->{status}, 400, 'manager, coworker API: NUL refused');
$r = get($mh, '/streams/live/s%00junk');
is($r->{status}, 400, 'manager, path: NUL refused (by nginx itself)');
$r = get($mh, '/streams/live/s%01junk');
is($r->{status}, 400, 'manager, path: a control byte refused');
like($r->{content}, qr/must not contain control characters/,
     'manager: says why');

### invalid UTF-8

my %bad = (
    overlong  => "o\xc0\xaf",
    surrogate => "s\xed\xa0\x80",
    too_high  => "b\xf4\x90\x80\x80",
    cut_short => "c\xe2\x82",
);

for my $k (sort keys %bad) {
    ($c, $code) = publish($bad{$k});
    is($code, 'NetStream.Publish.Start', "$k: published");
    push @pubs, $c;
}

$r = get($oh, '/cluster');
is($r->{status}, 200, 'status answered');
like($r->{content}, $UTF8, 'status: valid UTF-8');
my $st = eval { JSON::PP->new->utf8->decode($r->{content}) };
ok($st, 'status: JSON');
my %names = map { $_->{name} => 1 } @{$st->{streams} // []};
ok($names{"o\x{fffd}\x{fffd}"}, 'overlong: two U+FFFD (C0, AF)');
ok($names{"s\x{fffd}\x{fffd}\x{fffd}"}, 'surrogate: three U+FFFD');
ok($names{"b\x{fffd}\x{fffd}\x{fffd}\x{fffd}"}, 'above U+10FFFF: four U+FFFD');
ok($names{"c\x{fffd}"}, 'cut short: one U+FFFD');
my %pub = map { $_->{stream} => 1 } @{$st->{published} // []};
ok($pub{"live/o\x{fffd}\x{fffd}"}, 'published list: repaired too');

for my $k (sort keys %bad) {
    $r = get($oh, '/api/v1/clusters?vhost=v&ip=h&app=live&stream='
                  . esc($bad{$k}));
    like($r->{content}, $UTF8, "$k: API answer valid UTF-8");
    like($r->{content}, qr/"origin":\{/, "$k: found");
    like($r->{content}, qr/\Q$FFFD\E/, "$k: with U+FFFD");

    $r = get($mh, '/api/v1/clusters?vhost=v&ip=h&app=live&stream='
                  . esc($bad{$k}));
    like($r->{content}, $UTF8, "$k: manager's coworker answer valid UTF-8");
}

$_->close for @pubs;

$t->check_logs;

done_testing;
