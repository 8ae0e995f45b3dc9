#!/usr/bin/perl

# The cost of GET /cluster (cluster_status) with many streams in the zone.
# Nothing is asserted: it prints what it measured.
#
#   perl bench/status.pl         N = 1000 4000 10000, 1 and 2 edge workers
#   make bench-status            the same, after building the module and
#                                build/rtmpload
#
# For each number of workers W and of streams N, an edge of this module
# is started (cluster_zone 64m, cluster_reuseport on, enough
# worker_connections and worker_rlimit_nofile) whose two origins are
# ports where nothing listens, with `max_fails=1 fail_timeout=1h` and
# `cluster_retry_timeout 1h`: the first pulls are refused, both circuits
# open, and every stream then waits in backoff without connecting
# anywhere.  One rtmpload runs N players of N different streams
# (rtmp://EDGE/live/s%d: s0 ... s(N-1)) and keeps them waiting.  Once the
# edge's log holds N plays, the workers' CPU is read over a few idle
# seconds (the backoff timers' own cost), then GET /cluster is sent
# STATUS_REQUESTS times, one after another, each with a timeout.  For each
# request: the wall clock time, the CPU time (utime + stime from
# /proc/PID/stat, before and after) of the worker that answered (the
# "pid" of the document; after a timeout, of the worker that used the
# most), and the size of the body.  After a timeout the rest of that
# configuration is skipped (the worker is still busy with the request).
#
# Environment:
#   STATUS_STREAMS   numbers of streams (default "1000 4000 10000")
#   STATUS_WORKERS   numbers of edge workers (default "1 2")
#   STATUS_REQUESTS  requests per configuration (default 3)
#   STATUS_PATH      /cluster (cluster_status, default) or /metrics
#                    (cluster_metrics), or /metrics-totals
#                    (cluster_metrics streams=off)
#   STATUS_TIMEOUT   seconds allowed to one request (default 60)
#   STATUS_RATE      players started per second (default 1000)
#   STATUS_RESULTS   JSON output (default build/bench-status.json)
#   TEST_KEEP=1      keep the instances' prefixes (configs, logs)

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../t/lib";

BEGIN { delete $ENV{CLUSTER_MERGE_WRITES} }

use IO::Select;
use IO::Socket::IP;
use JSON::PP ();
use List::Util qw(max min sum0);
use POSIX qw(strftime sysconf _SC_CLK_TCK);
use Time::HiRes qw(time sleep);

use ClusterTest;
use ClusterConf;

my @STREAMS  = split ' ', $ENV{STATUS_STREAMS} // '1000 4000 10000';
my @WORKERS  = split ' ', $ENV{STATUS_WORKERS} // '1 2';
my $REQUESTS = $ENV{STATUS_REQUESTS} // 3;
my $PATH     = $ENV{STATUS_PATH} // '/cluster';
my $TIMEOUT  = $ENV{STATUS_TIMEOUT} // 60;
my $RATE     = $ENV{STATUS_RATE} // 1000;
my $HZ       = sysconf(_SC_CLK_TCK) || 100;
my $IDLE_S   = 3;

my $t = ClusterTest->new;
my $REPO = ClusterTest->repo;
my $RTMPLOAD = "$REPO/build/rtmpload";
my $RESULTS = $ENV{STATUS_RESULTS} // "$REPO/build/bench-status.json";
die "build the module first (make)\n" unless $t->have_module;
die "build the load client first (make loadclient)\n" unless -x $RTMPLOAD;

my $T0 = time;
sub note { printf STDERR "[%5.0fs] %s\n", time - $T0, join '', @_ }

# utime + stime of a process, in clock ticks
sub ticks {
    my ($pid) = @_;
    open my $fh, '<', "/proc/$pid/stat" or return 0;
    my $s = <$fh> // return 0;
    $s =~ s/^.*\)\s+//s;
    my @f = split ' ', $s;      # f[0] is field 3 (state)
    return $f[11] + $f[12];
}

sub all_ticks { return { map { $_ => ticks($_) } @_ } }

# One GET, HTTP/1.0, read to the end or the timeout (no retry, unlike
# HTTP::Tiny): { status, body, length (from the header, if any), error }
sub get {
    my ($port, $path, $timeout) = @_;
    my $deadline = time + $timeout;
    my $s = IO::Socket::IP->new(PeerHost => '127.0.0.1', PeerPort => $port,
                                Proto => 'tcp', Timeout => 5)
        or return { error => "connect: $!" };
    print $s "GET $path HTTP/1.0\r\nHost: 127.0.0.1:$port\r\n\r\n";
    my ($buf, $sel) = ('', IO::Select->new($s));
    while (1) {
        my $left = $deadline - time;
        return { error => "timed out after ${timeout}s", got => length $buf }
            if $left <= 0 || !$sel->can_read($left);
        my $n = sysread $s, $buf, 1 << 20, length $buf;
        return { error => "read: $!" } unless defined $n;
        last if $n == 0;
    }
    my ($head, $body) = split /\r\n\r\n/, $buf, 2;
    my ($status) = ($head // '') =~ m{^HTTP/\S+ (\d+)};
    my ($len) = ($head // '') =~ /^Content-Length:\s*(\d+)/mi;
    $body //= '';
    my %r = (status => $status // 0, body => $body, length => $len);
    $r{error} = sprintf 'truncated: %d of %s bytes', length $body, $len
        if defined $len && length $body < $len;
    $r{error} //= "HTTP $r{status}" if $r{status} != 200;
    return \%r;
}

my $SEQ = 0;

sub measure {
    my ($workers, $n) = @_;
    my ($ep, $eh, $o1, $o2) = map { $t->port } 1 .. 4;
    my $nofile = $n + 2000;
    my $conf = edge_conf(port => $ep, http => $eh, workers => $workers,
        origins => ["127.0.0.1:$o1 max_fails=1 fail_timeout=1h",
                    "127.0.0.1:$o2 max_fails=1 fail_timeout=1h"],
        rtmp => 'cluster_reuseport on;',
        app => 'cluster_retry_timeout 1h;',
        main => "worker_rlimit_nofile $nofile;");
    $conf =~ s/cluster_zone cluster:1m;/cluster_zone cluster:64m;/
        or die "no cluster_zone in edge_conf\n";
    $conf =~ s/^events \{\}/events { worker_connections $nofile; }/m
        or die "no events {} in edge_conf\n";
    $conf =~ s{(location /cluster \{ cluster_status; \})}
              {$1
        location /metrics { cluster_metrics; }
        location /metrics-totals { cluster_metrics streams=off; }}
        or die "no /cluster location in edge_conf\n";
    my $edge = $t->nginx('edge-' . ++$SEQ, $conf, ports => [$ep, $eh]);
    my %r = (workers => $workers, streams => $n);
    my $load;
    my $ok = eval {
        $t->wait_until(sub { $edge->worker_pids == $workers }, timeout => 10)
            or die "$workers workers did not start\n";
        note "$workers worker(s), $n streams: starting the players";
        my $json = $t->tmp . "/players-$SEQ.json";
        $load = $t->spawn([$RTMPLOAD, '-u', "rtmp://127.0.0.1:$ep/live/s%d",
            '-n', $n, '-r', $RATE, '-t', 100000, '-d', 100000,
            '-j', $json], name => 'rtmpload');
        my $started = time;
        my ($plays, $last, $since) = (0, -1, time);
        $t->wait_until(sub {
            $plays = () = $edge->error_log_text
                =~ /\] \d+#\d+: \*\d+ play: name='s\d+'/g;
            ($last, $since) = ($plays, time) if $plays != $last;
            # done, or no new play for 20 s
            return $plays >= $n || time - $since > 20;
        }, timeout => $n / $RATE + 300, interval => 1);
        if ($plays < $n) {
            my $log = $load->log_text;
            $log =~ s/^.*\n(?=.)//s;   # rtmpload's last progress line
            die "the edge logged $plays plays of $n in "
                . sprintf('%.0f s', time - $started)
                . ($log ne '' ? "; rtmpload: $log" : '') . "\n";
        }
        $r{setup_s} = sprintf '%.1f', time - $started;
        sleep 2;        # the first pulls failed, the circuits are open

        my @w = $edge->worker_pids;
        my $i0 = all_ticks(@w);
        sleep $IDLE_S;
        my $i1 = all_ticks(@w);
        $r{idle_cpu_pct} = sprintf '%.1f', 100 * sum0(map { $i1->{$_}
            - $i0->{$_} } @w) / $HZ / $IDLE_S;

        for my $i (1 .. $REQUESTS) {
            my $before = all_ticks(@w);
            my $t1 = time;
            my $res = get($eh, $PATH, $TIMEOUT);
            my $wall = time - $t1;
            my $after = all_ticks(@w);
            my %d = map { $_ => ($after->{$_} - $before->{$_}) / $HZ } @w;
            my $q = { wall_s => $wall };
            my ($pid) = ($res->{body} // '') =~ /"pid"\s*:\s*(\d+)/;
            ($pid) = sort { $d{$b} <=> $d{$a} } @w unless $pid && $d{$pid};
            $q->{worker} = $pid;
            $q->{cpu_s} = $d{$pid};
            $q->{bytes} = length($res->{body} // '') if defined $res->{body};
            $q->{error} = $res->{error} if $res->{error};
            if (!$q->{error} && !defined $r{listed} && $PATH eq '/cluster')
            {
                my $j = eval { JSON::PP->new->decode($res->{body}) };
                $r{listed} = $j ? scalar @{$j->{hosted} // []} : undef;
                $r{records} = $j ? scalar @{$j->{streams} // []} : undef;
            }
            push @{$r{requests}}, $q;
            note sprintf '  request %d: %.2f s wall, %.2f s CPU of worker '
                . '%s, %s', $i, $wall, $q->{cpu_s} // 0, $q->{worker} // '?',
                $q->{error} // "$q->{bytes} bytes";
            $r{send_timeout} = 1 if ($q->{error} // '') =~ /^truncated/;
            last if $q->{error};
        }
        1;
    };
    $r{error} = $@ =~ s/\s+$//r unless $ok;
    note "  failed: $r{error}" unless $ok;
    $load->stop(timeout => 10) if $load;
    $edge->stop(timeout => 5);
    return \%r;
}

my @results;
for my $w (@WORKERS) {
    for my $n (@STREAMS) {
        push @results, measure($w, $n);
    }
}

sub f2 { return defined $_[0] ? sprintf('%.2f', $_[0]) : '-' }

my @head = ('workers', 'streams', 'listed', 'records', 'requests',
            'wall s (each)', 'worker CPU s (each)', 'body bytes',
            'idle CPU %', 'note');
my @rows;
for my $r (@results) {
    my @q = @{$r->{requests} // []};
    my @ok = grep { !$_->{error} } @q;
    my ($err) = map { $_->{error} } grep { $_->{error} } @q;
    push @rows, [$r->{workers}, $r->{streams}, $r->{listed} // '-',
        $r->{records} // '-', scalar @q,
        join(' ', map { f2($_->{wall_s}) } @q) || '-',
        join(' ', map { f2($_->{cpu_s}) } @q) || '-',
        @ok ? $ok[0]{bytes} : @q && defined $q[0]{bytes}
            ? "$q[0]{bytes} (cut)" : '-', $r->{idle_cpu_pct} // '-',
        $r->{error} // $err // ''];
}

print "\n== GET $PATH with many streams (each stream waiting in backoff"
    . " at the edge) ==\n";
my @w;
for my $row (\@head, @rows) {
    for my $i (0 .. $#$row) {
        my $l = length $row->[$i];
        $w[$i] = $l if $l > ($w[$i] // 0);
    }
}
for my $row (\@head, @rows) {
    print join('  ', map { sprintf '%-*s', $w[$_], $row->[$_] }
                     0 .. $#$row), "\n";
}
print "listed: entries of \"hosted\" (one per stream); records: entries of "
    . "\"streams\" (one per stream and worker); worker CPU: utime+stime of "
    . "the worker that answered, during the request; idle CPU: all the "
    . "workers' CPU over ${IDLE_S} s before the requests.\n";
print "truncated: nginx closed the connection after the part of the body "
    . "the socket took at once (its error log says \"client timed out\"): "
    . "the handler ran longer than send_timeout (60s), a timer set with the "
    . "time cached before the handler ran, so it fires at once.\n"
    if grep { $_->{send_timeout} } @results;

my $out = { date => strftime('%Y-%m-%d %H:%M:%S %Z', localtime),
            requests => $REQUESTS, timeout_s => $TIMEOUT,
            results => \@results };
open my $fh, '>', "$RESULTS.tmp" or die "$RESULTS.tmp: $!\n";
print $fh JSON::PP->new->pretty->canonical->encode($out);
close $fh;
rename "$RESULTS.tmp", $RESULTS or die "$RESULTS: $!\n";
printf "wrote %s in %.0f s\n", $RESULTS =~ s{^\Q$REPO\E/}{}r, time - $T0;

$t->stop_all;
