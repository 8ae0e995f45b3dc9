#!/usr/bin/perl

# The coworker API (SRS's /api/v1/clusters) of an origin: the registry of
# streams published on this host, answered byte for byte as SRS does,
# with names escaped, for any method; cleaned on unpublish and when the
# publishing worker dies.

use strict;
use warnings;

use Test::More;
use JSON::PP;
use HTTP::Tiny;

use lib 't/lib';
use ClusterTest;
use ClusterConf;
use FakeCoworker;
use RTMP::Client;

my $t = ClusterTest->new;
$t->skip_unless_module;

my ($ap, $ah) = map { $t->port } 1 .. 2;
my $a = $t->nginx('origin-a', cluster_origin_conf(port => $ap, http => $ah),
                  ports => [$ap, $ah]);

my $http = HTTP::Tiny->new(timeout => 5);

sub api {
    my ($stream, %o) = @_;
    my $method = $o{method} // 'POST';
    my $q = $o{query}
        // "vhost=__defaultVhost__&ip=10.1.2.3&app=live&stream=$stream"
           . "&coworker=127.0.0.1:$ah";
    return $http->request($method, "http://127.0.0.1:$ah/api/v1/clusters?$q");
}

# not published: origin null, SRS's shape

my $r = api('s1');
is($r->{status}, 200, 'not published: HTTP 200');
is($r->{content}, FakeCoworker->srs_notfound_body(ip => '10.1.2.3',
   vhost => '__defaultVhost__', app => 'live', stream => 's1'),
   'not published: SRS\'s body, byte for byte');

# published here

$t->publish("rtmp://127.0.0.1:$ap/live/s1");
ok($t->wait_until(sub { $a->grep_log(qr/"live\/s1" registered on this origin/) }),
   'the publish is registered');

$r = api('s1');
is($r->{status}, 200, 'published: HTTP 200');
is($r->{headers}{'content-type'}, 'application/json', 'JSON content type');
is($r->{content}, FakeCoworker->srs_found_body(ip => '10.1.2.3',
   vhost => '__defaultVhost__', app => 'live', stream => 's1',
   origin_ip => '127.0.0.1', origin_port => $ap, api => "127.0.0.1:$ah"),
   'published: SRS\'s body, byte for byte');

my $j = decode_json($r->{content});
is($j->{code}, 0, 'code 0');
is($j->{data}{origin}{port}, $ap, 'origin.port is the RTMP port, not the API\'s');
ok(!ref $j->{data}{origin}{port} && $r->{content} =~ /"port":$ap,/,
   'origin.port is a JSON integer');
is($j->{data}{origin}{ip}, '127.0.0.1', 'origin.ip');
is_deeply($j->{data}{origin}{routers}, ["127.0.0.1:$ah"], 'routers');

for my $m (qw(GET PUT DELETE)) {
    is(decode_json(api('s1', method => $m)->{content})->{data}{origin}{port},
       $ap, "method $m answered too");
}

# SRS's request without coworker: api is this server's own (t/66: it
# never echoes the asker's)
$j = decode_json(api('s1', query => 'app=live&stream=s1')->{content});
is($j->{data}{origin}{api}, "127.0.0.1:$ah", 'no coworker parameter: api');
is($j->{data}{query}{vhost}, '', 'the query is echoed as asked');
is($j->{data}{origin}{vhost}, '__defaultVhost__', 'default vhost');

# odd names: escaped in URLs, in JSON, and still found

my $odd = 'we ird"n\\ame';
my $c = $t->rtmp(port => $ap, app => 'live');
$c->create_stream;
is($c->publish($odd)->{code}, 'NetStream.Publish.Start', 'odd name published');
ok($t->wait_until(sub { $a->grep_log(qr/registered on this origin/) >= 2 }),
   'odd name registered');

my $esc = $odd;
$esc =~ s/([^A-Za-z0-9_.~-])/sprintf('%%%02X', ord $1)/ge;
$r = api($esc);
$j = eval { decode_json($r->{content}) };
ok($j, 'odd name: valid JSON') or diag($r->{content});
is($j && $j->{data}{query}{stream}, $odd, 'odd name: unescaped and echoed');
is($j && $j->{data}{origin}{port}, $ap, 'odd name: found');

# no stream or no app: nothing published under it, as SRS answers
$r = api('', query => 'vhost=x&app=live');
is($r->{status}, 200, 'no stream: HTTP 200, as SRS');
is(eval { decode_json($r->{content}) }->{data}{origin}, undef,
   'no stream: origin null');
$r = api('x', query => 'app=other&stream=s1');
is(decode_json($r->{content})->{data}{origin}, undef,
   'an application that is not an origin: origin null');

# status lists the registry

my $st = $a->status($ah, '/cluster');
my ($pub) = grep { $_->{stream} eq 'live/s1' } @{$st->{published}};
ok($pub, 'status: published stream listed');
like($pub->{publisher}, qr/^127\.0\.0\.1/, 'status: publisher address');
is($pub->{worker}, ($a->worker_pids)[0], 'status: worker');

# unpublish cleans the registry

$c->close;
ok($t->wait_until(sub {
    !decode_json(api($esc)->{content})->{data}{origin}
}), 'unpublish: origin null again');

# the publishing worker dies: its entries are not trusted, then swept

my ($w) = $a->worker_pids;
kill 'KILL', $w;
ok($t->wait_until(sub {
    my $x = eval { decode_json(api('s1')->{content}) };
    $x && !$x->{data}{origin};
}, timeout => 5), 'dead worker: its stream is not answered');

# the killed worker's alert is the only one
$t->check_logs(killed => 1);

done_testing;
