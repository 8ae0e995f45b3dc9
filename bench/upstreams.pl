#!/usr/bin/perl

# Upstream connections per stream at an edge host, this module against
# stock nginx-rtmp "pull", for 1, 2 and 4 workers, with players spread
# over the workers (SO_REUSEPORT).  Prints a table; asserts nothing.
#
#   perl bench/upstreams.pl [players]      (default 40)

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../t/lib";

use Time::HiRes qw(time sleep);
use ClusterTest;
use ClusterConf;

my $players = shift // 40;

my $t = ClusterTest->new;
die "build the module first (make)\n" unless $t->have_module;

my $op = $t->port;
my $o = $t->nginx('origin', origin_conf($op), ports => [$op], cluster => 0);
$t->publish("rtmp://127.0.0.1:$op/live/s1");
$t->wait_until(sub { $o->grep_log(qr/publish: name='s1'/) }, timeout => 10)
    or die "publish failed\n";

sub upstreams {
    my ($n) = @_;
    my %w = map { $_ => 1 } $n->all_child_pids;
    return scalar grep { /pid=(\d+)/ && $w{$1} }
        `ss -tnpH state established '( dport = :$op )'`;
}

sub run {
    my ($kind, $workers) = @_;
    my ($ep, $eh) = map { $t->port } 1 .. 2;
    my $conf;

    if ($kind eq 'cluster') {
        $conf = edge_conf(port => $ep, http => $eh, workers => $workers,
                          origins => ["127.0.0.1:$op"],
                          rtmp => 'cluster_reuseport on;');
    } else {
        # stock: a dynamic pull per worker; cluster_reuseport (this
        # module, no cluster role) only spreads the players
        $conf = <<"END";
error_log logs/error.log info;
pid logs/nginx.pid;
worker_processes $workers;
%%LOAD_MODULES%%
events {}
rtmp {
    cluster_reuseport on;
    server {
        listen 127.0.0.1:$ep;
        application live {
            live on;
            pull rtmp://127.0.0.1:$op/live;
        }
    }
}
END
    }

    my $n = $t->nginx("$kind-$workers", $conf, ports => [$ep]);
    $t->wait_until(sub { $n->worker_pids == $workers }, timeout => 5);

    my @p = map { $t->rtmp_play($ep, 'live', 's1', wait => 1) } 1 .. $players;
    my $ok = grep { wait_video($_, count => 3, timeout => 10) } @p;
    sleep 0.5;
    my $up = upstreams($n);
    $_->close for @p;
    $n->stop;
    return ($up, $ok);
}

printf "%-8s %-24s %-24s\n", 'workers', 'ngx_rtmp_cluster',
       'stock nginx-rtmp pull';
for my $w (1, 2, 4) {
    my ($cu, $cok) = run('cluster', $w);
    my ($su, $sok) = run('stock', $w);
    printf "%-8d %-24s %-24s\n", $w,
           "$cu upstream ($cok/$players ok)",
           "$su upstream ($sok/$players ok)";
}
