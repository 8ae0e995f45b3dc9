#!/usr/bin/perl

# The coworker API's answer names the answering server, as SRS 6's does:
# "api" and "routers" are this server's own API address (the http listen
# the request came to, with cluster_advertise's host when set), never the
# asker's "coworker" parameter; "origin.vhost" is the vhost the stream was
# published in (__defaultVhost__: nginx-rtmp has none), whatever the
# query's; a query without app or stream gets HTTP 200 with
# "origin":null; every answer carries "Connection: close".  Origins that
# read the answer (origin.ip and origin.port) still find the stream.

use strict;
use warnings;

use Test::More;
use JSON::PP;
use HTTP::Tiny;

use lib 't/lib';
use ClusterTest;
use ClusterConf;
use FakeCoworker;

my $t = ClusterTest->new;
$t->skip_unless_module;

my ($ap, $ah, $bp, $bh, $cp, $ch) = map { $t->port } 1 .. 6;

my $a = $t->nginx('origin-a', cluster_origin_conf(port => $ap, http => $ah),
                  ports => [$ap, $ah]);
my $b = $t->nginx('origin-b', cluster_origin_conf(port => $bp, http => $bh,
    app => "cluster_advertise 10.0.0.7:$bp;"), ports => [$bp, $bh]);

# an origin asking A: our own lookup reads the new answer
my $c = $t->nginx('origin-c', cluster_origin_conf(port => $cp, http => $ch,
    coworkers => ["127.0.0.1:$ah"]), ports => [$cp, $ch]);

# keep-alive asked for: the close is the server's own
my $http = HTTP::Tiny->new(timeout => ClusterTest::slow(5), keep_alive => 1);

sub api {
    my ($port, $q) = @_;
    my $r = $http->request('POST',
                           "http://127.0.0.1:$port/api/v1/clusters?$q");
    $r->{json} = eval { decode_json($r->{content}) };
    return $r;
}

$t->publish("rtmp://127.0.0.1:$ap/live/s1");
$t->publish("rtmp://127.0.0.1:$bp/live/s1");
ok($a->wait_log(qr/"live\/s1" registered on this origin/), 's1 on A');
ok($b->wait_log(qr/"live\/s1" registered on this origin/), 's1 on B');

### api and routers: this server's, not the asker's

my $q = 'vhost=v.example.com&ip=10.1.2.3&app=live&stream=s1'
        . '&coworker=10.9.9.9:1985';
my $r = api($ah, $q);
is($r->{status}, 200, 'found: 200');
is($r->{json}{data}{origin}{api}, "127.0.0.1:$ah",
   'api: the http listen the request came to, not the coworker parameter');
is_deeply($r->{json}{data}{origin}{routers}, ["127.0.0.1:$ah"],
   'routers: the same');
is($r->{json}{data}{origin}{vhost}, '__defaultVhost__',
   'origin.vhost: the published vhost, not the query\'s');
is($r->{json}{data}{query}{vhost}, 'v.example.com', 'the query is echoed');
is($r->{json}{data}{origin}{ip}, '10.9.9.9',
   'origin.ip: a loopback listen answers the coworker parameter\'s host');
is($r->{json}{data}{origin}{port}, $ap, 'origin.port: the RTMP port');
is($r->{content}, FakeCoworker->srs_found_body(ip => '10.1.2.3',
   vhost => 'v.example.com', app => 'live', stream => 's1',
   origin_ip => '10.9.9.9', origin_port => $ap, api => "127.0.0.1:$ah")
   =~ s/"vhost":"v\.example\.com","api"/"vhost":"__defaultVhost__","api"/r,
   'SRS\'s body, byte for byte');
is($r->{headers}{connection}, 'close', 'found: Connection: close');

### cluster_advertise: its host, this API's port

$r = api($bh, $q);
is($r->{json}{data}{origin}{ip}, '10.0.0.7', 'advertise: origin.ip');
is($r->{json}{data}{origin}{api}, "10.0.0.7:$bh",
   'advertise: api is its host with the API\'s port');
is_deeply($r->{json}{data}{origin}{routers}, ["10.0.0.7:$bh"],
          'advertise: routers');

### not found, and no app or no stream: origin null

$r = api($ah, 'vhost=__defaultVhost__&ip=10.1.2.3&app=live&stream=nope'
              . '&coworker=10.9.9.9:1985');
is($r->{status}, 200, 'not found: 200');
ok($r->{json} && exists $r->{json}{data}{origin}
   && !defined $r->{json}{data}{origin}, 'not found: origin null');
is($r->{headers}{connection}, 'close', 'not found: Connection: close');

for my $case (['no stream', 'vhost=__defaultVhost__&app=live'],
              ['no app', 'vhost=__defaultVhost__&stream=s1'],
              ['nothing', ''])
{
    $r = api($ah, $case->[1]);
    is($r->{status}, 200, "$case->[0]: 200, as SRS");
    is($r->{json} && $r->{json}{code}, 0, "$case->[0]: code 0");
    ok($r->{json} && exists $r->{json}{data}{origin}
       && !defined $r->{json}{data}{origin}, "$case->[0]: origin null");
    is($r->{headers}{connection}, 'close', "$case->[0]: Connection: close");
}

# a name that cannot be one is still refused, closing too
$r = api($ah, 'app=live&stream=s%01x');
is($r->{status}, 400, 'a control character: 400');
is($r->{headers}{connection}, 'close', '400: Connection: close');

### a peer reading the answer: C finds s1 on A and redirects to it

my $p = $t->rtmp_play($cp, 'live', 's1');
my $r302 = $p->wait_status(qr/^NetConnection\.Connect\.Rejected$/,
                           timeout => 5);
is($r302 && $r302->{info}{ex}{redirect2}, "rtmp://127.0.0.1:$ap/live/s1",
   'origin C reads the answer: 302 to A');
$p->close;

$t->check_logs;

done_testing;
