#!/usr/bin/perl

# The stream manager at scale (the first cut of issue 17's scenario, in
# Perl): one redis-server, one manager (1 worker), a synthetic origin
# population speaking the manager's HTTP API over many keep-alive
# connections.  It registers N leases, then for D seconds renews them all
# in batches (PUT on the location, 1000 leases a request) at a third of
# the TTL and looks streams up at a fixed rate; it prints requests/s,
# lookup latency p50/p99, the manager's CPU-seconds per 1k requests, its
# RSS, Redis memory per lease and leases lost.  Nothing is asserted.
# Scenario 10 of bench/run.pl (build/lookupload, in C) supersedes it;
# it stays for the figures docs/manager.md quotes.
#
#   perl bench/manager-scale.pl [LEASES [LOOKUPS_PER_S [SECONDS]]]
#   perl bench/manager-scale.pl 100000 5000 30
#   BENCH_BATCH=250 ...     leases per batched renewal (default 1000)

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../t/lib";
use Errno qw(EAGAIN EINPROGRESS);
use IO::Select;
use IO::Socket::IP;
use JSON::PP;
use Time::HiRes qw(time);

use ClusterTest;
use ClusterConf;
use Redis;

my $N = $ARGV[0] // 10000;
my $RATE = $ARGV[1] // 5000;
my $SECS = $ARGV[2] // 20;
my $CONNS = 64;
my $TTL = 30;
my $BATCH = $ENV{BENCH_BATCH} // 1000;    # leases a renewal request

my $t = ClusterTest->new;
my ($rp, $mh) = map { $t->port } 1 .. 2;
my $redis = $t->redis_server($rp);
my $db = Redis->new(port => $rp, timeout => 30);
my $mem0 = used_memory();

my $m = $t->nginx('manager', manager_conf(http => $mh, locations =>
    "location /streams/ { cluster_stream_manager redis=127.0.0.1:$rp "
    . "timeout=2s max_ttl=1m; keepalive_requests 100000000; "
    . 'access_log off; }'), ports => [$mh]);
my ($worker) = $m->all_child_pids;

sub used_memory {
    my $info = $db->command('INFO', 'memory');
    return $info =~ /used_memory:(\d+)/ ? $1 : 0;
}

sub cpu {
    open my $fh, '<', "/proc/$worker/stat" or return 0;
    my @f = split ' ', (<$fh> =~ s/^.*\) //r);
    return ($f[11] + $f[12]) / 100;
}

sub rss_kb {
    open my $fh, '<', "/proc/$worker/status" or return 0;
    while (<$fh>) { return $1 if /^VmRSS:\s+(\d+)/ }
    return 0;
}

# the client: $CONNS keep-alive connections, one request in flight each
my @conn = map {
    my $s = IO::Socket::IP->new(PeerHost => '127.0.0.1', PeerPort => $mh)
        or die "connect: $!";
    $s->blocking(0);
    { sock => $s, buf => '', busy => 0 }
} 1 .. $CONNS;

my %by_fd = map { (fileno($_->{sock}) => $_) } @conn;

sub send_req {
    my ($c, $method, $path, $body, $cb) = @_;
    $body //= '';
    my $req = "$method $path HTTP/1.1\r\nHost: m\r\n"
        . 'Content-Length: ' . length($body) . "\r\n\r\n$body";
    syswrite($c->{sock}, $req) == length($req) or die "short write";
    @$c{qw(busy t0 cb)} = (1, time, $cb);
}

# one turn: read what came, finish complete answers
sub pump {
    my ($timeout) = @_;
    my $sel = IO::Select->new(map { $_->{sock} } grep { $_->{busy} } @conn);
    for my $s ($sel->can_read($timeout)) {
        my $c = $by_fd{fileno $s};
        my $n = sysread $s, $c->{buf}, 1 << 20, length $c->{buf};
        die "manager closed a connection" if defined $n && $n == 0;
        next unless $c->{buf} =~ /\r\n\r\n/;
        my ($head) = $c->{buf} =~ /^(.*?\r\n\r\n)/s;
        my ($len) = $head =~ /Content-Length: (\d+)/i;
        next if length($c->{buf}) < length($head) + $len;
        my ($status) = $head =~ m{^HTTP/1\.1 (\d+)};
        my $body = substr $c->{buf}, length $head, $len;
        $c->{buf} = substr $c->{buf}, length($head) + $len;
        $c->{busy} = 0;
        $c->{cb}->($status, $body, time - $c->{t0});
    }
}

sub free_conn { for (@conn) { return $_ unless $_->{busy} } undef }

### registrations

my ($errors, $t0) = (0, time);
my $next = 0;
my $done = 0;
while ($done < $N) {
    while ($next < $N and my $c = free_conn()) {
        my $i = $next++;
        send_req($c, 'POST', "/streams/bench/s$i", encode_json({
            host => '10.0.' . int($i / 3125) % 256 . '.1', port => 1935,
            ttl => $TTL, token => "t$i" }), sub {
            $errors++ if $_[0] != 201;
            $done++;
        });
    }
    pump(1);
}
my $reg = time - $t0;
printf "registered %d leases in %.1f s: %.0f req/s, %d errors\n",
       $N, $reg, $N / $reg, $errors;
my $per_lease = (used_memory() - $mem0) / $N;

### renewals in batches at TTL/3, lookups at $RATE/s, for $SECS

my (@lat, @batch_lat);
my ($lookups, $renewed, $requests, $lerr, $rerr) = (0, 0, 0, 0, 0);
my $cpu0 = cpu();
$t0 = time;
my $renew_every = $TTL / 3;
my $batches = int(($N + $BATCH - 1) / $BATCH);
my ($next_lookup, $next_batch, $round) = ($t0, $t0, 0);

while (time - $t0 < $SECS) {
    my $now = time;
    # the batches of a round spread over the interval
    while ($now >= $next_batch and my $c = free_conn()) {
        my $b = $round++ % $batches;
        my @l = map { { app => 'bench', name => "s$_", token => "t$_" } }
                grep { $_ < $N } $b * $BATCH .. ($b + 1) * $BATCH - 1;
        send_req($c, 'PUT', '/streams/',
                 encode_json({ ttl => $TTL, leases => \@l }), sub {
            my ($st, $body, $dt) = @_;
            push @batch_lat, $dt;
            $requests++;
            if ($st == 200) {
                $renewed += grep { $_ == 200 } @{decode_json($body)->{leases}};
            } else { $rerr++ }
        });
        $next_batch += $renew_every / $batches;
    }
    while ($now >= $next_lookup and my $c = free_conn()) {
        my $i = int rand $N;
        send_req($c, 'GET', "/streams/bench/s$i", undef, sub {
            my ($st, $body, $dt) = @_;
            $st == 200 ? push(@lat, $dt) : $lerr++;
            $lookups++;
            $requests++;
        });
        $next_lookup += 1 / $RATE;
    }
    pump(0.0005);
}
pump(1) while grep { $_->{busy} } @conn;
my $el = time - $t0;
my $cpu = cpu() - $cpu0;

@lat = sort { $a <=> $b } @lat;
@batch_lat = sort { $a <=> $b } @batch_lat;
my $pct = sub { my ($a, $p) = @_; @$a ? $a->[int($p * $#$a)] * 1000 : -1 };

my $left = scalar @{$db->command('KEYS', 'ngx_rtmp_cluster:stream:bench/*')};

printf "%d leases, %.0f s: %.0f requests/s (%.0f lookups/s asked %d, "
       . "%.1f batch renewals/s of %d)\n",
       $N, $el, $requests / $el, $lookups / $el, $RATE,
       @batch_lat / $el, $BATCH;
printf "lookup latency p50 %.2f ms, p99 %.2f ms, errors %d\n",
       $pct->(\@lat, 0.5), $pct->(\@lat, 0.99), $lerr;
printf "batch renewal latency p50 %.1f ms, p99 %.1f ms, errors %d, "
       . "%d leases renewed\n",
       $pct->(\@batch_lat, 0.5), $pct->(\@batch_lat, 0.99), $rerr, $renewed;
printf "manager: %.3f CPU-s per 1k requests, RSS %d kB\n",
       $requests ? $cpu / $requests * 1000 : 0, rss_kb();
printf "redis: %.0f bytes per lease; leases lost: %d\n",
       $per_lease, $N - $left;

$m->stop;
$redis->stop;
