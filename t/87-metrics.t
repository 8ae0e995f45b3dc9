#!/usr/bin/perl

# Prometheus metrics (cluster_metrics): the text format passes Debian's
# `promtool check metrics`; under a player through an edge the stream's
# series are there and its byte counter grows between two scrapes; label
# values are escaped; "streams=off" keeps the host's totals and drops the
# per-stream series; a lookup at a dead coworker lands in the latency
# histogram and the error counter.  A real Prometheus scraping an edge:
# t/88-metrics-prometheus.t.

use strict;
use warnings;

use Test::More;
use HTTP::Tiny;

use lib 't/lib';
use ClusterTest;
use ClusterConf;

my $t = ClusterTest->new;
$t->skip_unless_module;

my ($promtool) = grep { -x } map { "$_/promtool" } split /:/, $ENV{PATH};
plan(skip_all => 'promtool is not installed (apt-get install prometheus)')
    unless $promtool;

my ($op, $ep, $eh, $cp, $ch, $dead) = map { $t->port } 1 .. 6;

my $o = $t->nginx('origin', origin_conf($op), ports => [$op], cluster => 0);

my $edge = $t->nginx('edge', <<"END", ports => [$ep, $eh]);
error_log logs/error.log info;
pid logs/nginx.pid;
worker_processes 2;
%%LOAD_MODULES%%
events {}
rtmp {
    cluster_zone cluster:1m;
    cluster_socket_dir %%PREFIX%%/sock;
    server {
        listen 127.0.0.1:$ep;
        application live {
            live on;
            cluster edge;
            cluster_origin 127.0.0.1:$op;
        }
    }
}
http {
    %%HTTP_DEFAULTS%%
    server {
        listen 127.0.0.1:$eh;
        location /cluster { cluster_status; }
        location /metrics { cluster_metrics; }
        location /totals { cluster_metrics streams=off; }
    }
}
END

# promtool_check($text): (exit code, output) of promtool check metrics
sub promtool_check {
    my ($text) = @_;
    my $f = $t->tmp . '/metrics-' . int(rand(1e9)) . '.txt';
    open my $fh, '>', $f or die "$f: $!";
    print $fh $text;
    close $fh;
    my ($code, $out, $err) = $t->run([$promtool, 'check', 'metrics'],
                                     stdin => $f, timeout => 10);
    return ($code, $out . $err);
}

sub scrape {
    my ($port, $path) = @_;
    my $r = $edge->http_get($port, $path);
    return $r->{success} ? $r->{content} : undef;
}

# value($text, 'name{labels}'): the sample's value, or undef
sub value {
    my ($text, $series) = @_;
    return undef unless defined $text;
    my ($v) = $text =~ /^\Q$series\E (\S+)$/m;
    return $v;
}

# a stream whose name needs escaping, and a plain one

my $weird = 'we"ird\\na' . "\x{e9}" . 'me';
utf8::encode(my $weird_bytes = $weird);
# then bytes that are not UTF-8: a lead byte before 0xff (no continuation
# byte), and an encoded surrogate
$weird_bytes .= "\xd7\xff\xed\xa0\x80";
my $pub = synthetic_publisher($op, 's1', frames => 100000);
my $pubw = synthetic_publisher($op, $weird_bytes, frames => 100000);
ok($t->wait_until(sub { $o->grep_log(qr/publish: name='s1'/) }),
   'publisher on the origin');

my $p = $t->rtmp_play($ep, 'live', 's1', wait => 1);
ok(wait_video($p, count => 5), 'a player through the edge');

my $r = $edge->http_get($eh, '/metrics');
ok($r->{success}, 'GET /metrics answers');
like($r->{headers}{'content-type'}, qr{^text/plain; version=0\.0\.4},
     'the text format\'s content type');

my $m1 = $r->{content};
my ($code, $out) = promtool_check($m1);
is($code, 0, 'promtool check metrics: clean') or diag("$out\n$m1");

is(value($m1, 'rtmp_cluster_stream_players{app="live",stream="s1",'
              . 'protocol="rtmp"}'), 1, 'the stream\'s player, by protocol');
is(value($m1, 'rtmp_cluster_players{protocol="rtmp"}'), 1,
   'the host\'s players');
is(value($m1, 'rtmp_cluster_streams'), 1, 'one stream on the host');
is(value($m1, 'rtmp_cluster_stream_upstream{app="live",stream="s1",'
              . "kind=\"pull\",state=\"live\",origin=\"127.0.0.1:$op\"}"), 1,
   'the stream\'s upstream: pulled from the origin, live');
cmp_ok(value($m1, 'rtmp_cluster_origin_successes_total'
                  . "{origin=\"127.0.0.1:$op\"}") // 0,
       '>=', 1, 'the origin\'s successes');
is(value($m1, "rtmp_cluster_origin_up{origin=\"127.0.0.1:$op\"}"), 1,
   'the origin is up');
like($m1, qr/^rtmp_cluster_worker_owned_streams\{pid="\d+"\} 1$/m,
     'a worker owns the stream');
is(scalar(() = $m1
          =~ /^rtmp_cluster_worker_relay_listening\{pid="\d+"\} 1$/mg), 2,
   'both workers\' relay sockets listen');

my $b1 = value($m1, 'rtmp_cluster_stream_received_bytes_total{app="live",'
                    . 'stream="s1"}');
cmp_ok($b1 // 0, '>', 0, 'bytes received');
my $m2;
ok($t->wait_until(sub {
    $m2 = scrape($eh, '/metrics');
    my $b2 = value($m2, 'rtmp_cluster_stream_received_bytes_total{'
                        . 'app="live",stream="s1"}');
    defined $b2 && $b2 > $b1;
}), 'the byte counter grows under the player');

# the escaped name: quote and backslash escaped, UTF-8 kept

my $pw = $t->rtmp_play($ep, 'live', $weird_bytes, wait => 1);
ok(wait_video($pw, count => 5), 'a player of the oddly named stream');
my $m3 = scrape($eh, '/metrics');
my $escaped = 'we\\"ird\\\\na' . "\x{c3}\x{a9}" . 'me'
              . "\x{ef}\x{bf}\x{bd}" x 5;   # one U+FFFD per maximal subpart
is(value($m3, 'rtmp_cluster_stream_players{app="live",stream="' . $escaped
              . '",protocol="rtmp"}'), 1, 'label value escaped')
    or diag($m3);
($code, $out) = promtool_check($m3);
is($code, 0, 'promtool check metrics with the escaped name (UTF-8 repaired)')
    or diag("$out\n$m3");

# streams=off: the host's totals, no stream labels (positive control: the
# same request at /metrics has them, above)

my $tot = scrape($eh, '/totals');
is(value($tot, 'rtmp_cluster_players{protocol="rtmp"}'), 2,
   'streams=off: the host\'s players');
is(value($tot, 'rtmp_cluster_streams'), 2, 'streams=off: two streams');
unlike($tot // '', qr/stream="/, 'streams=off: no stream labels');
($code, $out) = promtool_check($tot // '');
is($code, 0, 'promtool check metrics: streams=off') or diag($out);

like(scrape($eh, '/metrics') // '', qr/stream="s1"/,
     'the other location still has them');

my $post = HTTP::Tiny->new(timeout => 5)
    ->post("http://127.0.0.1:$eh/metrics", { content => 'x' });
is($post->{status}, 405, 'POST: 405');

$_->close for $p, $pw;
stop_publisher($_) for $pub, $pubw;

# a lookup at a dead coworker: the histogram and the error counter

my $c = $t->nginx('lookup-origin', <<"END", ports => [$cp, $ch]);
error_log logs/error.log info;
pid logs/nginx.pid;
%%LOAD_MODULES%%
events {}
rtmp {
    cluster_zone cluster:1m;
    cluster_socket_dir %%PREFIX%%/sock;
    server {
        listen 127.0.0.1:$cp;
        application live {
            live on;
            cluster origin;
            cluster_coworkers 127.0.0.1:$dead;
        }
    }
}
http {
    %%HTTP_DEFAULTS%%
    server {
        listen 127.0.0.1:$ch;
        location /metrics { cluster_metrics; }
    }
}
END

my $l0 = scrape($ch, '/metrics');
is(value($l0, 'rtmp_cluster_lookup_duration_seconds_count'), 0,
   'no lookup yet');
my $lp = $t->rtmp_play($cp, 'live', 'nowhere');
my $l1;
ok($t->wait_until(sub {
    $l1 = scrape($ch, '/metrics');
    (value($l1, 'rtmp_cluster_lookup_duration_seconds_count') // 0) >= 1;
}), 'the lookup is counted in the histogram') or diag($l1);
cmp_ok(value($l1, 'rtmp_cluster_lookup_errors_total'), '>=', 1,
       'the dead coworker: a lookup error');
is(value($l1, 'rtmp_cluster_lookup_duration_seconds_bucket{le="+Inf"}'),
   value($l1, 'rtmp_cluster_lookup_duration_seconds_count'),
   'the +Inf bucket is the count');
($code, $out) = promtool_check($l1 // '');
is($code, 0, 'promtool check metrics: the origin\'s') or diag("$out\n$l1");
$lp->close;

# configuration errors name the directive

for my $case (['cluster_metrics streams=maybe;',
               qr/"cluster_metrics": invalid parameter "streams=maybe", expected "streams=on" or "streams=off"/],
              ['cluster_metrics; cluster_metrics;',
               qr/"cluster_metrics" directive is duplicate/]) {
    my ($c, $out) = $t->nginx_t(<<"END");
error_log logs/error.log info;
pid logs/nginx.pid;
%%LOAD_MODULES%%
events {}
http {
    %%HTTP_DEFAULTS%%
    server {
        listen 127.0.0.1:$eh;
        location /metrics { $case->[0] }
    }
}
END
    isnt($c, 0, "nginx -t refuses '$case->[0]'");
    like($out, $case->[1], 'and says why') or diag($out);
}

$t->check_logs;

done_testing;
