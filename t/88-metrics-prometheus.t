#!/usr/bin/perl

# A real Prometheus (Debian's) scraping an edge's cluster_metrics every
# second while a player watches through it: the target is up, and the
# stream's byte counter, queried through Prometheus' HTTP API, grows.
# The text format itself: t/87-metrics.t.

use strict;
use warnings;

use Test::More;
use HTTP::Tiny;
use JSON::PP ();

use lib 't/lib';
use ClusterTest;
use ClusterConf;

my $t = ClusterTest->new;
$t->skip_unless_module;

my ($prometheus) = grep { -x } map { "$_/prometheus" }
                   split /:/, "$ENV{PATH}:/usr/bin";
plan(skip_all => 'prometheus is not installed (apt-get install prometheus)')
    unless $prometheus;

my ($op, $ep, $eh, $pp) = map { $t->port } 1 .. 4;

my $o = $t->nginx('origin', origin_conf($op), ports => [$op], cluster => 0);

my $edge = $t->nginx('edge', <<"END", ports => [$ep, $eh]);
error_log logs/error.log info;
pid logs/nginx.pid;
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
        location /metrics { cluster_metrics; }
    }
}
END

my $dir = $t->tmp . '/prometheus';
mkdir $dir;
my $conf = <<"END";
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: edge
    metrics_path: /metrics
    static_configs:
      - targets: ['127.0.0.1:$eh']
END
open my $fh, '>', "$dir/prometheus.yml" or die "$dir/prometheus.yml: $!";
print $fh $conf;
close $fh;

my $prom = $t->spawn([$prometheus, "--config.file=$dir/prometheus.yml",
                      "--storage.tsdb.path=$dir/data",
                      "--web.listen-address=127.0.0.1:$pp"],
                     name => 'prometheus');

# query($promql): the first result's value, or undef
sub query {
    my ($q) = @_;
    my $r = HTTP::Tiny->new(timeout => 5)->get(
        "http://127.0.0.1:$pp/api/v1/query?query="
        . url_escape($q));
    return undef unless $r->{success};
    my $j = eval { JSON::PP::decode_json($r->{content}) } or return undef;
    my $v = $j->{data}{result}[0]{value}[1];
    return $v;
}

ok($t->wait_until(sub { (query('up{job="edge"}') // 0) == 1 },
                  timeout => 30),
   'Prometheus scrapes the edge: up') or diag($prom->log_text);

my $pub = synthetic_publisher($op, 's1', frames => 100000);
ok($t->wait_until(sub { $o->grep_log(qr/publish: name='s1'/) }),
   'publisher on the origin');
my $p = $t->rtmp_play($ep, 'live', 's1', wait => 1);
ok(wait_video($p, count => 5), 'a player through the edge');

my $q = 'rtmp_cluster_stream_received_bytes_total{app="live",stream="s1"}';
my $first;
ok($t->wait_until(sub { $first = query($q); ($first // 0) > 0 },
                  timeout => 30),
   'Prometheus has the stream\'s byte counter') or diag($prom->log_text);
my $later;
ok($t->wait_until(sub { $later = query($q); ($later // 0) > $first },
                  timeout => 30),
   'and it grew in a later scrape')
    or diag("first $first, later " . ($later // 'none'));
diag("received bytes in Prometheus: $first, then " . ($later // 'none'));
is(query('rtmp_cluster_stream_players{stream="s1",protocol="rtmp"}'), 1,
   'Prometheus has the stream\'s player');

$p->close;
stop_publisher($pub);

$t->check_logs;

done_testing;
