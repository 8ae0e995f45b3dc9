#!/usr/bin/perl

# Names that are not UTF-8 (overlong forms, surrogates, code points above
# U+10FFFF, a sequence cut short) never break a JSON document: each
# invalid sequence is written as U+FFFD, so the status, the coworker API
# and the stream manager's answers stay valid UTF-8 for strict parsers,
# and the streams are still found.


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
$t->skip_unless_redis;

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
my $m = $t->nginx('manager', manager_conf(http => $mh, locations =>
    "location /streams/ { cluster_stream_manager redis=127.0.0.1:$rp; }\n"
    . "        location /api/v1/clusters { cluster_stream_manager redis=127.0.0.1:$rp; }"),
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
### invalid UTF-8

my %bad = (
    overlong  => "o\xc0\xaf",
    surrogate => "s\xed\xa0\x80",
    too_high  => "b\xf4\x90\x80\x80",
    cut_short => "c\xe2\x82",
);

my @pubs;
for my $k (sort keys %bad) {
    my ($c, $code) = publish($bad{$k});
    is($code, 'NetStream.Publish.Start', "$k: published");
    push @pubs, $c;
}

my $r = get($oh, '/cluster');
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
