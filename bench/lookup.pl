#!/usr/bin/perl

# Lookup latency at an origin that lacks a stream: through the stream
# manager (one HTTP question, Redis behind it) against asking 8 coworkers
# in parallel (7 origins without the stream, 1 with it).  Every try is a
# fresh lookup (cache off); the figure is from play to the 302.
#
#   perl bench/lookup.pl [tries]        (default 50)

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../t/lib";

use Time::HiRes qw(time sleep);
use ClusterTest;
use ClusterConf;

my $tries = shift // 50;

my $t = ClusterTest->new;
die "build the module first (make)\n" unless $t->have_module;

my ($rp, $mh) = map { $t->port } 1 .. 2;
$t->spawn(['redis-server', '--port', $rp, '--bind', '127.0.0.1',
           '--save', '', '--appendonly', 'no'], name => 'redis');
$t->wait_until(sub { $t->port_open($rp) }, timeout => 5) or die "redis\n";

$t->nginx('manager', <<"END", ports => [$mh]);
error_log logs/error.log warn;
pid logs/nginx.pid;
%%LOAD_MODULES%%
events {}
http {
    %%HTTP_DEFAULTS%%
    server {
        listen 127.0.0.1:$mh;
        location /streams/ { cluster_manager redis=127.0.0.1:$rp; }
    }
}
END

my $mgr = "cluster_manager http://127.0.0.1:$mh/streams/;";

# the origin with the stream, leased and answering the coworker API
my ($ap, $ah) = map { $t->port } 1 .. 2;
my $ao = $t->nginx('a', cluster_origin_conf(port => $ap, http => $ah,
                  app => $mgr), ports => [$ap, $ah]);
$t->publish("rtmp://127.0.0.1:$ap/live/s1");
$t->wait_until(sub { $ao->grep_log(qr/leased at manager/) }, timeout => 10)
    or die "no lease\n";

# seven origins without it
my @apis = ("127.0.0.1:$ah");
for my $i (1 .. 7) {
    my ($p, $h) = map { $t->port } 1 .. 2;
    $t->nginx("o$i", cluster_origin_conf(port => $p, http => $h),
              ports => [$p, $h]);
    push @apis, "127.0.0.1:$h";
}

my ($mp, $mhh, $cp, $ch) = map { $t->port } 1 .. 4;
$t->nginx('via-manager', cluster_origin_conf(port => $mp, http => $mhh,
          app => "$mgr cluster_lookup_cache 0 0;"), ports => [$mp, $mhh]);
$t->nginx('via-coworkers', cluster_origin_conf(port => $cp, http => $ch,
          coworkers => \@apis, app => 'cluster_lookup_cache 0 0;'),
          ports => [$cp, $ch]);

sub measure {
    my ($port) = @_;
    my @ms;
    for (1 .. $tries) {
        my $c = $t->rtmp(port => $port, app => 'live');
        $c->create_stream;
        my $start = time;
        $c->play('s1');
        my $m = $c->wait_status(qr/^NetConnection\.Connect\.Rejected$/,
                                timeout => 5);
        push @ms, (time - $start) * 1000 if $m;
        $c->close;
    }
    @ms = sort { $a <=> $b } @ms;
    return sprintf "p50 %6.2f ms  p95 %6.2f ms  max %6.2f ms  (%d/%d)",
        $ms[int(@ms * 0.5)], $ms[int(@ms * 0.95)], $ms[-1], scalar @ms,
        $tries;
}

print "lookup to 302, fresh each time, $tries tries:\n";
print "  through the stream manager:   ", measure($mp), "\n";
print "  asking 8 coworkers at once:   ", measure($cp), "\n";
