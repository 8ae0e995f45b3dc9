#!/usr/bin/perl

# The benchmark scenario driver: runs each scenario for this module and
# for stock nginx-rtmp (plain `pull` relays, no cluster directives, the
# same nginx binary) side by side in one run on 127.0.0.1, prints the
# figures, and generates docs/benchmarks.md plus the raw numbers in
# build/bench-results.json.  Nothing is asserted: it only measures.
#
#   perl bench/run.pl              every scenario (about 12 minutes)
#   perl bench/run.pl 2 5          only scenarios 2 and 5; the sections of
#                                  the others are kept from the previous
#                                  results file, with their own run date
#   make bench [SCENARIOS="2 5"]   the same, after building what it needs
#
# Scenarios (see bench/README.md and the generated file for the method):
#   1 upstream connections per stream at an edge, 1/2/4 workers
#   2 time to first frame: origin, warm edge, cold edge, redirect
#   3 fan-out at an edge: CPU per Gbit, memory per player, gaps
#   4 lookup cost against the number of coworkers
#   5 failover gap when the origin in use is killed
#   6 stream manager lookup against coworker lookup
#   7 merged writes against stock nginx-rtmp (and its cork): CPU,
#     memory, end-to-end latency
#   8 a player waiting before the publish: time from the publish to its
#     first video, SRS-like origins and ours in "cluster_not_found reject"
#   9 HTTP-FLV against RTMP at an edge of this module: time to first frame
#     (warm and cold edge), fan-out CPU per Gbit with merged writes on
#  10 the stream manager holding 10k and 100k leases renewed in batches,
#     5k lookups/s; the same lookups as coworker queries across 32 origins
#
# Environment:
#   BENCH_TRIES          TTFF tries per series in scenario 2 (default 50)
#   BENCH_LOOKUP_TRIES   TTFF tries per series in scenarios 4, 6 (20)
#   BENCH_WINDOW         fan-out measurement window, seconds (15)
#   BENCH_FAILOVER_WAIT  how long players are watched after the kill (12)
#   BENCH_WAIT_TRIES     trials per series in scenario 8 (5)
#   BENCH_SCALE_SECONDS  scenario 10's window per measurement (20)
#   BENCH_SCALE_LEASES   scenario 10's sizes ("10000 100000")
#   BENCH_SCALE_RATE     scenario 10's lookups a second (5000)
#   BENCH_PERF=0         no CPU profile of the fan-out edges (scenarios 3
#                        and 7 profile them with perf when it is installed)
#   TEST_KEEP=1          keep the instances' prefixes (configs, logs)

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../t/lib";

# the test suite's switch to turn merged writes on everywhere: "ours" is
# measured with the defaults, merged writes only where scenario 7 says so
BEGIN { delete $ENV{CLUSTER_MERGE_WRITES} }

use File::Path qw(make_path);
use JSON::PP ();
use HTTP::Tiny;
use List::Util qw(max min);
use POSIX qw(ceil strftime sysconf _SC_CLK_TCK);
use Time::HiRes qw(time sleep);

use ClusterTest;
use ClusterConf;
use FakeOrigin;

my $REPO     = ClusterTest->repo;
my $RTMPLOAD = "$REPO/build/rtmpload";
my $CLIP     = "$REPO/build/bench-media/clip.flv";
my $RESULTS  = "$REPO/build/bench-results.json";
my $DOC      = "$REPO/docs/benchmarks.md";

my $TRIES        = $ENV{BENCH_TRIES} // 50;
my $LOOKUP_TRIES = $ENV{BENCH_LOOKUP_TRIES} // 20;
my $WINDOW       = $ENV{BENCH_WINDOW} // 15;
my $FAILOVER_WAIT = $ENV{BENCH_FAILOVER_WAIT} // 12;
my $WAIT_TRIES   = $ENV{BENCH_WAIT_TRIES} // 5;
my $HZ           = sysconf(_SC_CLK_TCK) || 100;
my $PERF_SECONDS = 5;

# Tries of one TTFF series run in this many independent lanes at once
# (each cold lane has its own edge), so that 50 tries of a series whose
# every try waits up to a GOP for a keyframe fit in about a minute.
my $LANES = 2;

my %SCENARIO = (
    1 => ['Upstream connections per stream at an edge host', \&s1_upstreams],
    2 => ['Time to first frame', \&s2_ttff],
    3 => ['Fan-out at an edge: CPU, memory, gaps', \&s3_fanout],
    4 => ['Lookup cost against the number of coworkers', \&s4_lookup],
    5 => ['Failover gap', \&s5_failover],
    6 => ['Stream manager lookup against coworker lookup', \&s6_manager],
    7 => ['Merged writes: CPU, memory and latency', \&s7_merge],
    8 => ['A player waiting before the publish', \&s8_wait],
    9 => ['HTTP-FLV against RTMP at an edge', \&s9_flv],
    10 => ['The stream manager at scale, against coworker queries',
           \&s10_scale],
);

# --doc: docs/benchmarks.md written again from build/bench-results.json
# (after results of several trees were put together), nothing run
if (@ARGV == 1 && $ARGV[0] eq '--doc') {
    write_doc(load_results());
    exit 0;
}

my @want = @ARGV ? @ARGV : sort { $a <=> $b } keys %SCENARIO;
for (@want) {
    die "usage: perl bench/run.pl [--doc | scenario numbers 1-10...]\n"
        unless /^\d+$/ && $SCENARIO{$_};
}

my $t = ClusterTest->new;
die "build the module first (make)\n" unless $t->have_module;
die "build the load client first (make loadclient)\n" unless -x $RTMPLOAD;

my $T0 = time;
sub note { printf STDERR "[%4.0fs] %s\n", time - $T0, join '', @_ }

###########################################################################
# Processes: everything a scenario starts is stopped when it ends, even
# when it dies; the harness stops the rest (and everything on Ctrl-C).

my @OWNED;          # [nginx or proc objects] of the running scenario
our $FIXTURE = 0;   # set while starting shared fixtures: not owned
my $SEQ = 0;

sub own { push @OWNED, $_[0] unless $FIXTURE; return $_[0] }

sub start_nginx {
    my ($name, $conf, %opt) = @_;
    return own($t->nginx($name . '-' . ++$SEQ, $conf, %opt));
}

sub spawn {
    my ($cmd, $name) = @_;
    return own($t->spawn($cmd, name => $name));
}

sub publish {
    my ($url) = @_;
    return own($t->publish($url, media => $CLIP));
}

# run $code; stop what it started (newest first: the players before the
# servers they play from) whether it returned or died
sub scoped {
    my ($code) = @_;
    my $mark = @OWNED;
    my @r = eval { $code->() };
    my $err = $@;
    for my $o (reverse splice @OWNED, $mark) {
        eval { $o->isa('ClusterTest::Nginx') ? ($o->running && $o->stop)
                                             : $o->stop };
    }
    die $err if $err;
    return wantarray ? @r : $r[0];
}

# like scoped(), for shared fixtures that live until the end of the run
sub fixture {
    my ($code) = @_;
    local $FIXTURE = 1;
    return $code->();
}

###########################################################################
# Media: one 720p clip, generated once and kept in build/bench-media/.

sub make_media {
    return if -s $CLIP;
    make_path("$REPO/build/bench-media");
    note "generating $CLIP (1280x720 25 fps, 2 Mbit/s, 2 s GOP, 30 s)";
    my $tmp = "$CLIP.tmp.$$";
    my $p = $t->spawn(['ffmpeg', '-hide_banner', '-loglevel', 'error',
        '-nostdin', '-y', '-f', 'lavfi', '-i', 'testsrc2=size=1280x720:rate=25',
        '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=44100',
        '-t', '30', '-c:v', 'libx264', '-preset', 'veryfast',
        '-pix_fmt', 'yuv420p', '-b:v', '2M', '-maxrate', '2M',
        '-bufsize', '2M', '-g', '50', '-keyint_min', '50',
        '-sc_threshold', '0', '-c:a', 'aac', '-b:a', '128k', '-ar', '44100',
        '-f', 'flv', $tmp], name => 'ffmpeg-media');
    $p->wait(timeout => 600) && $p->exit_code == 0 && -s $tmp
        or die "cannot generate $CLIP:\n" . $p->log_text;
    rename $tmp, $CLIP or die "rename $tmp: $!\n";
}

# duration and bit rate of the clip, to compare delivered rates with
sub media_info {
    my ($code, $out) = $t->run(['ffprobe', '-v', 'error', '-show_entries',
        'format=duration,bit_rate', '-of', 'json', $CLIP], timeout => 20);
    my $j = eval { JSON::PP::decode_json($out) } // {};
    my $f = $j->{format} // {};
    my $dur = $f->{duration} // 30;
    return { file => 'build/bench-media/clip.flv',
             duration_s => $dur + 0,
             mbit_per_s => (-s $CLIP) * 8 / $dur / 1e6,
             description => '1280x720 25 fps H.264 (x264 veryfast, 2 Mbit/s '
                 . 'cap, keyframe every 2 s) + AAC 128 kbit/s, FLV, '
                 . sprintf('%.0f s', $dur) };
}

###########################################################################
# Configurations.  The cluster module's come from t/lib/ClusterConf.pm;
# the stock ones are written here.  tune() gives every instance the same
# limits: enough descriptors for 1000 players, and no per-connection info
# logging, which would cost the two systems differently.

sub tune {
    my ($c) = @_;
    $c =~ s{^error_log logs/error.log info;}{error_log logs/error.log warn;}m;
    $c =~ s{^(pid [^\n]*\n)}{$1worker_rlimit_nofile 20000;\n}m;
    $c =~ s{^events \{\}}{events { worker_connections 8192; }}m;
    return $c;
}

sub ours_origin_conf {
    my (%o) = @_;
    return tune(cluster_origin_conf(%o));
}

# an edge of this module; players are spread over the workers by the
# kernel (cluster_reuseport), the stream is pulled once per host
sub ours_edge_conf {
    my (%o) = @_;
    return tune(edge_conf(port => $o{port}, http => $o{http},
        workers => $o{workers} // 1,
        origins => [map { "127.0.0.1:$_" } @{$o{origins}}],
        rtmp => 'cluster_reuseport on;', app => $o{app} // ''));
}

sub stock_origin_conf {
    my (%o) = @_;
    return tune(origin_conf($o{port}));
}

# stock nginx-rtmp edge: a dynamic pull per stream, per worker
sub stock_edge_conf {
    my (%o) = @_;
    my $pulls = join "\n            ",
                     map { "pull rtmp://127.0.0.1:$_/live;" } @{$o{origins}};
    return tune(origin_conf($o{port}, workers => $o{workers},
                            app => "$pulls\n            " . ($o{app} // '')));
}

# A configuration as documented: ports replaced by names, the harness's
# placeholders spelt out, empty lines of unused options dropped.
sub doc_conf {
    my ($label, $conf, $ports, @subst) = @_;
    my $c = $conf;
    for my $name (sort keys %$ports) {
        $c =~ s/\b$ports->{$name}\b/{$name}/g;
    }
    while (my ($re, $to) = splice @subst, 0, 2) {
        $c =~ s/$re/$to/g;
    }
    my $load = "load_module /usr/lib/nginx/modules/ngx_rtmp_module.so;";
    $load .= "\nload_module build/ngx_rtmp_cluster_module.so;"
        if $c =~ /\bcluster/;
    $c =~ s/%%LOAD_MODULES%%/$load/g;
    $c =~ s/%%HTTP_DEFAULTS%%/# access_log and temp paths in the prefix/g;
    $c =~ s/%%PREFIX%%/PREFIX/g;
    $c =~ s/^[ \t]*\n//mg;
    $c =~ s/[ \t]+$//mg;
    $c =~ s/ +;/;/g;
    return { label => $label, text => $c };
}

###########################################################################
# Measuring processes and sockets.

sub pids_of { my ($n) = @_; return grep { $_ } ($n->pid, $n->all_child_pids) }

# utime + stime of the processes, in clock ticks
sub cpu_ticks {
    my $ticks = 0;
    for my $pid (@_) {
        open my $fh, '<', "/proc/$pid/stat" or next;
        my $s = <$fh> // next;
        $s =~ s/^.*\)\s+//s;
        my @f = split ' ', $s;      # f[0] is field 3 (state)
        $ticks += $f[11] + $f[12];
    }
    return $ticks;
}

sub rss_kb {
    my $kb = 0;
    for my $pid (@_) {
        open my $fh, '<', "/proc/$pid/status" or next;
        while (<$fh>) { $kb += $1 if /^VmRSS:\s+(\d+)/ }
    }
    return $kb;
}

sub ss_lines {
    my ($opts, $filter) = @_;
    return `ss $opts state established '( $filter )' 2>/dev/null`;
}

# established TCP connections from nginx $n's processes to these ports
sub upstreams {
    my ($n, @ports) = @_;
    my %mine = map { $_ => 1 } pids_of($n);
    my $f = join ' or ', map { "dport = :$_" } @ports;
    return scalar grep { /pid=(\d+)/ && $mine{$1} } ss_lines('-tnpH', $f);
}

sub conns_on {
    my ($port) = @_;
    return scalar(() = ss_lines('-tnH', "sport = :$port"));
}

# players per process serving the port: "pid=count ..."
sub per_worker {
    my ($port) = @_;
    my %n;
    for (ss_lines('-tnpH', "sport = :$port")) { $n{$1}++ if /pid=(\d+)/ }
    return join '/', sort { $b <=> $a } values %n;
}

# per connection on $port (the edge side of the players' connections):
# [bytes the kernel has seen acknowledged, i.e. what reached the player,
#  TCP segments sent]
sub acked_bytes {
    my ($port) = @_;
    my (%b, $peer);
    for (ss_lines('-tinH', "sport = :$port")) {
        if (/^\S/) { $peer = (split ' ')[3] }
        elsif (defined $peer) {
            my ($acked) = /bytes_acked:(\d+)/ or next;
            my ($segs) = /segs_out:(\d+)/;
            $b{$peer} = [$acked, $segs // 0];
        }
    }
    return \%b;
}

sub wait_until { my ($cb, $timeout) = @_; $t->wait_until($cb, timeout => $timeout) }

# an origin has the stream once a plain client gets video from it
sub wait_stream {
    my ($port, $name) = @_;
    my $ok = wait_until(sub {
        my $c = eval { $t->rtmp_play($port, 'live', $name, wait => 1) }
            or return 0;
        my $v = wait_video($c, count => 1, timeout => 5);
        $c->close;
        return $v;
    }, 30);
    die "no stream $name on port $port\n" unless $ok;
}

###########################################################################
# rtmpload

my $RL = 0;

# rtmpload(url => , n => 1, rate => , d => 3600, t => 5, gap => 1000,
#          quiet => 1, args => [...]): a running load client
sub rtmpload {
    my (%o) = @_;
    my $json = $t->tmp . '/rtmpload-' . ++$RL . '.json';
    my @cmd = ($RTMPLOAD, '-u', $o{url}, '-n', $o{n} // 1,
               '-d', $o{d} // 3600, '-t', $o{t} // 5, '-g', $o{gap} // 1000,
               '-j', $json);
    push @cmd, '-r', $o{rate} if $o{rate};
    push @cmd, '-q' if $o{quiet} // 1;
    push @cmd, @{$o{args} // []};
    return { proc => spawn(\@cmd, 'rtmpload'), json => $json };
}

# stop it (SIGTERM: it then writes its summary and JSON) unless it ended
# by itself within the timeout; the decoded JSON
sub rtmpload_result {
    my ($r, %o) = @_;
    $r->{proc}->wait(timeout => $o{timeout} // 0);
    $r->{proc}->stop(timeout => 10);
    my $text = ClusterTest::_read_file($r->{json});
    my $j = eval { JSON::PP->new->decode($text) };
    die "rtmpload wrote no JSON:\n" . $r->{proc}->log_text . "\n" unless $j;
    return $j;
}

my %RTMPLOAD_HELP;
sub rtmpload_has {
    my ($opt) = @_;
    unless (%RTMPLOAD_HELP) {
        my (undef, $out, $err) = $t->run([$RTMPLOAD, '-h'], timeout => 5);
        $RTMPLOAD_HELP{text} = $out . $err;
    }
    return $RTMPLOAD_HELP{text} =~ /(?:^|[\s\[])\Q$opt\E\b/m;
}

# rtmpload's latency figures, whatever the key: the first summary entry
# named like "latency" holding percentiles
sub latency_of {
    my ($j) = @_;
    for my $k (sort keys %$j) {
        next unless $k =~ /latency/i && ref $j->{$k} eq 'HASH';
        return $j->{$k} if defined $j->{$k}{p50};
    }
    return undef;
}

###########################################################################
# Statistics and formatting

sub pct {
    my ($v, $p) = @_;
    return undef unless @$v;
    my @s = sort { $a <=> $b } @$v;
    my $i = ceil($p / 100 * @s) - 1;
    return $s[$i < 0 ? 0 : $i];
}

sub fmt {
    my ($v, $unit) = @_;
    return 'n/a' unless defined $v;
    my $s = $v == int $v ? sprintf('%d', $v) : abs($v) >= 100 ? sprintf('%.0f', $v)
          : abs($v) >= 10  ? sprintf('%.1f', $v) : sprintf('%.2f', $v);
    return defined $unit ? "$s $unit" : $s;
}

sub ratio {
    my ($a, $b) = @_;
    return 'n/a' unless defined $a && defined $b && $b > 0;
    my $r = $a / $b;
    # two significant digits for a small ratio rather than "0.00"
    return $r > 0 && $r < 0.1 ? sprintf('%.2g', $r) : sprintf('%.2f', $r);
}

###########################################################################
# Shared fixtures: an origin of each system publishing the clip as
# live/s, and origins of this module without any stream (coworkers).

my %FIX;

sub origins {
    return $FIX{origins} //= fixture(sub {
        note 'starting the origins (ours and stock) and their publishers';
        my ($op, $oh, $sp) = map { $t->port } 1 .. 3;
        my $oc = ours_origin_conf(port => $op, http => $oh);
        my $sc = stock_origin_conf(port => $sp);
        $t->nginx('origin-ours', $oc, ports => [$op, $oh]);
        $t->nginx('origin-stock', $sc, ports => [$sp], cluster => 0);
        $t->publish("rtmp://127.0.0.1:$op/live/s", media => $CLIP);
        $t->publish("rtmp://127.0.0.1:$sp/live/s", media => $CLIP);
        wait_stream($op, 's');
        wait_stream($sp, 's');
        return {
            ours => { port => $op, http => $oh }, stock => { port => $sp },
            confs => [
                doc_conf('Ours: origin', $oc,
                         { ORIGIN_RTMP => $op, ORIGIN_HTTP => $oh }),
                doc_conf('Stock: origin', $sc, { ORIGIN_RTMP => $sp }),
            ],
        };
    });
}

# n cluster origins without the stream: [ { port, http } ]
sub empties {
    my ($n) = @_;
    my $e = $FIX{empties} //= [];
    fixture(sub {
        while (@$e < $n) {
            my ($p, $h) = map { $t->port } 1 .. 2;
            $t->nginx('empty-' . @$e, ours_origin_conf(port => $p, http => $h),
                      ports => [$p, $h]);
            push @$e, { port => $p, http => $h };
        }
    });
    return @$e[0 .. $n - 1];
}

###########################################################################
# Time to first frame: independent tries of several series at once.
#
# A lane runs the tries of one series one after the other: rtmpload -n 1,
# stopped as soon as its once-a-second progress line shows the player
# playing (or ended), then a random 0-2 s pause (a 2 s GOP: every try
# lands at a random phase), then, for a cold lane, a wait until its edge
# has no upstream connection left, so that the next try starts the pull.
# The figure is rtmpload's first_video_ms: from the TCP connect to the
# first video message.

# lanes: [ { series => key, url => , tries => N, ready => sub } ]
# returns { series => [ { first_video_ms, first_keyframe_ms, ... } ] }
sub ttff_lanes {
    my (@lanes) = @_;
    my %res;
    for my $l (@lanes) {
        $l->{done} = 0;
        $l->{next} = time + rand 2;
        $res{$l->{series}} //= [];
    }
    my $deadline = time + 30 + 15 * max(map { $_->{tries} } @lanes);
    while (grep { $_->{run} || $_->{done} < $_->{tries} } @lanes) {
        die "TTFF tries did not finish in time\n" if time > $deadline;
        for my $l (@lanes) {
            if (my $r = $l->{run}) {
                my $log = $r->{proc}->log_text;
                next unless $log =~ /playing [1-9]|ended [1-9]/
                    || !$r->{proc}->alive || time - $r->{t} > 12;
                # a try whose rtmpload wrote nothing counts as no video
                my $j = eval { rtmpload_result($r) } // {};
                my $p = ($j->{players} // [])->[0] // {};
                push @{$res{$l->{series}}}, {
                    map { $_ => $p->{$_} } qw(first_video_ms
                        first_keyframe_ms connected_ms end_reason redirects) };
                delete $l->{run};
                $l->{done}++;
                $l->{next} = time + rand 2;
            } elsif ($l->{done} < $l->{tries} && time >= $l->{next}) {
                if ($l->{ready} && !$l->{ready}->()) {
                    $l->{next} = time + 0.05;
                    next;
                }
                $l->{run} = rtmpload(url => $l->{url}, n => 1, d => 8,
                                     t => 5, quiet => 0);
                $l->{run}{t} = time;
            }
        }
        sleep 0.02;
    }
    return \%res;
}

# p50/p95/n of a series' first video times
sub ttff_stats {
    my ($recs) = @_;
    my @v = map { $_->{first_video_ms} } grep { defined $_->{first_video_ms} }
            @{$recs // []};
    my @k = map { $_->{first_keyframe_ms} }
            grep { defined $_->{first_keyframe_ms} } @{$recs // []};
    # the RTMP connect answered after a Nagle / delayed-ack wait
    my $slow = grep { ($_->{connected_ms} // 0) > 20 } @{$recs // []};
    return { n => scalar @v, tries => scalar @{$recs // []},
             slow_connect => scalar $slow,
             p50 => pct(\@v, 50), p95 => pct(\@v, 95), max => pct(\@v, 100),
             keyframe_p50 => pct(\@k, 50), keyframe_p95 => pct(\@k, 95) };
}

# play -> RTMP 302 at an origin lacking the stream, with the test
# suite's RTMP client: the lookup and the answer,
# without the rest of the path
sub redirect_ms {
    my ($port, $tries) = @_;
    my @ms;
    for (1 .. $tries) {
        my $c = eval { $t->rtmp(port => $port, app => 'live') } or next;
        $c->create_stream;
        my $start = time;
        $c->play('s');
        my $m = $c->wait_status(qr/^NetConnection\.Connect\.Rejected$/,
                                timeout => 5);
        push @ms, (time - $start) * 1000 if $m;
        $c->close;
    }
    return { n => scalar @ms, tries => $tries, p50 => pct(\@ms, 50),
             p95 => pct(\@ms, 95), max => pct(\@ms, 100) };
}

# a cold lane may start its next try once its edge pulls nothing
sub cold_ready {
    my ($edge, @ports) = @_;
    return sub { upstreams($edge, @ports) == 0 };
}

###########################################################################
# Fan-out at an edge (scenarios 3 and 7).
#
# fanout(key => , conf => , cluster => 0|1, port => , http => ,
#        players => N, origin => RTMP port, latency => 0|1)
#
# Starts the edge, notes the workers' RSS with no player, starts the
# players (rtmpload, 500 connects per second), waits until all are
# connected plus 3 s (so the stock edge's players got their keyframe),
# then measures over a window of BENCH_WINDOW seconds: the edge's CPU
# (master and workers, utime+stime from /proc), the bytes acknowledged by
# the players' sockets (ss: bytes_acked of the edge side, connections
# present at both ends of the window), the load client's CPU.  RSS is
# taken at the end of the window.  Gaps and failures are rtmpload's,
# over its whole run.  With latency => 1 the stream is published by
# rtmpload's publisher mode (-P) in the same process as the players.

###########################################################################
# Where an edge's CPU goes: perf samples of its processes, by object and
# by symbol, and its send system calls, over a few seconds after a fan-out
# window (not during it: the profiler costs CPU too).  Needs perf (Debian:
# linux-perf) and root or a permissive perf_event_paranoid.

my $PERF_OK;
sub perf_available {
    return 0 if ($ENV{BENCH_PERF} // 1) eq '0';
    return $PERF_OK if defined $PERF_OK;
    my ($code) = eval { $t->run(['perf', 'stat', '-e',
        'syscalls:sys_enter_writev', '--', 'true'], timeout => 10) };
    return $PERF_OK = (defined $code && $code == 0) ? 1 : 0;
}

sub profile {
    my ($key, $players, @pids) = @_;
    return undef unless perf_available();
    my $dir = "$REPO/build/bench-perf";
    make_path($dir);
    my $data = "$dir/$key.data";
    my $pids = join ',', @pids;
    my $rec = spawn(['perf', 'record', '-q', '-F', 999, '-o', $data,
                     '-p', $pids, '--', 'sleep', $PERF_SECONDS], 'perf');
    my ($code, $out, $err) = $t->run(['perf', 'stat', '-x', ',', '-e',
        'syscalls:sys_enter_sendto,syscalls:sys_enter_writev', '-p', $pids,
        '--', 'sleep', $PERF_SECONDS], timeout => $PERF_SECONDS + 30);
    $rec->wait(timeout => 30);
    my %calls;
    for (split /\n/, $err) {
        my ($n, undef, $ev) = split /,/;
        next unless defined $ev && $n =~ /^\d+$/;
        my ($call) = $ev =~ /sys_enter_(\w+)/ or next;
        $calls{$call} = $n / $PERF_SECONDS / $players;
    }
    my %r = (sendto_per_player_s => $calls{sendto},
             writev_per_player_s => $calls{writev});
    for my $sort (qw(dso sym)) {
        my (undef, $rep) = $t->run(['perf', 'report', '-i', $data,
            '--stdio', '--no-children', '-g', 'none', '--percent-limit', 1,
            '--sort', $sort], timeout => 120);
        my @rows;
        for (split /\n/, $rep) {
            next unless /^\s+([\d.]+)%\s+(.*?)\s*$/;
            push @rows, [$1 + 0, $2 =~ s/^\[[.k]\]\s+//r];
        }
        $r{$sort} = \@rows;
    }
    return \%r;
}

# the share of one object in a profile, by the start of its name
sub dso_pct {
    my ($p, $re) = @_;
    return undef unless $p && $p->{dso};
    my $sum = 0;
    $_->[1] =~ $re and $sum += $_->[0] for @{$p->{dso}};
    return $sum;
}

sub fanout {
    my (%o) = @_;
    my $res = scoped(sub {
        note "$o{key}: $o{players} players";
        my $n = start_nginx("fanout-$o{key}", $o{conf},
                            ports => [grep { $_ } $o{port}, $o{http}],
                            cluster => $o{cluster});
        sleep 0.5;
        my @workers = $n->worker_pids;
        my $rss0 = rss_kb(@workers);

        my $stream = $o{latency} ? "lat$SEQ" : 's';
        my @args;
        push @args, '-P', $CLIP, '-U', "rtmp://127.0.0.1:$o{origin}/live/$stream"
            if $o{latency};
        # flv => 1: the players are HTTP-FLV viewers at the http port
        my $pp = $o{flv} ? $o{http} : $o{port};
        my $rl = rtmpload(url => $o{flv}
                              ? "http://127.0.0.1:$o{http}/live/$stream.flv"
                              : "rtmp://127.0.0.1:$o{port}/live/$stream",
                          n => $o{players}, rate => 500, t => 10,
                          args => \@args);
        my $up = wait_until(sub { conns_on($pp) >= $o{players} }, 30);
        note "$o{key}: only " . conns_on($pp) . " players connected"
            unless $up;
        sleep 3;

        my @pids = pids_of($n);
        my ($c0, $l0, $b0, $t0) = (cpu_ticks(@pids),
            cpu_ticks($rl->{proc}->pid), acked_bytes($pp), time);
        sleep $WINDOW;
        my ($c1, $l1, $b1, $t1) = (cpu_ticks(@pids),
            cpu_ticks($rl->{proc}->pid), acked_bytes($pp), time);
        my $rss1 = rss_kb(@workers);
        my $spread = per_worker($pp);
        my $prof = profile($o{key} . "-$o{players}", $o{players},
                           $n->worker_pids);

        my ($bytes, $segs, $kept) = (0, 0, 0);
        for my $k (keys %$b1) {
            next unless exists $b0->{$k};
            $bytes += $b1->{$k}[0] - $b0->{$k}[0];
            $segs += $b1->{$k}[1] - $b0->{$k}[1];
            $kept++;
        }
        my $j = rtmpload_result($rl);
        my @pl = @{$j->{players}};
        my $win = $t1 - $t0;
        my $cpu = ($c1 - $c0) / $HZ;
        my $gbit = $bytes * 8 / 1e9;
        return {
            players => $o{players}, window_s => $win,
            edge_cpu_s => $cpu, edge_cpu_pct => 100 * $cpu / $win,
            client_cpu_pct => 100 * ($l1 - $l0) / $HZ / $win,
            bytes => $bytes, sockets_measured => $kept, segments => $segs,
            kb_per_segment => $segs ? $bytes / $segs / 1024 : undef,
            mbit_per_s => $bytes * 8 / $win / 1e6,
            cpu_s_per_gbit => $gbit > 0 ? $cpu / $gbit : undef,
            rss_idle_kb => $rss0, rss_kb => $rss1,
            rss_per_player_kb => ($rss1 - $rss0) / $o{players},
            per_worker => $spread, profile => $prof,
            sendto_per_player_s => $prof ? $prof->{sendto_per_player_s}
                                         : undef,
            writev_per_player_s => $prof ? $prof->{writev_per_player_s}
                                         : undef,
            playing => $j->{playing}, ended => $j->{ended},
            failed => scalar(grep { defined $_->{end_reason}
                                    || !defined $_->{first_video_ms} } @pl),
            ended_by_reason => $j->{ended_by_reason},
            gaps => $j->{gaps}, gap_players => $j->{gap_players},
            max_gap_ms => $j->{max_gap_ms},
            first_video_ms => $j->{first_video_ms},
            latency_ms => $o{latency} ? latency_of($j) : undef,
            latency_before_play => $j->{latency_before_play},
            latency_player_median_ms => $o{latency} ? do {
                my @m = grep { defined } map { $_->{latency_median_ms} } @pl;
                { n => scalar @m, p50 => pct(\@m, 50), p95 => pct(\@m, 95) }
            } : undef,
        };
    });
    note sprintf '%s: %d players: %.2f CPU-s/Gbit, %.0f Mbit/s, '
        . '%.1f KB RSS/player, %d failed, %d with gaps', $o{key},
        $o{players}, $res->{cpu_s_per_gbit} // -1, $res->{mbit_per_s},
        $res->{rss_per_player_kb}, $res->{failed}, $res->{gap_players};
    return $res;
}

###########################################################################
# 1. Upstream connections per stream at an edge host

sub s1_upstreams {
    my $o = origins();
    my $players = 100;
    my (@rows, %raw, @confs);
    for my $w (1, 2, 4) {
        scoped(sub {
            # both systems at once: connection counts do not depend on CPU
            my %e;
            for my $sys (qw(ours stock)) {
                my ($ep, $eh) = map { $t->port } 1 .. 2;
                my $op = $o->{$sys}{port};
                my $conf = $sys eq 'ours'
                    ? ours_edge_conf(port => $ep, http => $eh, workers => $w,
                                     origins => [$op])
                    : stock_edge_conf(port => $ep, workers => $w,
                                      origins => [$op]);
                my $n = start_nginx("s1-$sys-$w", $conf,
                    ports => [$ep, $sys eq 'ours' ? $eh : ()],
                    cluster => $sys eq 'ours');
                wait_until(sub { $n->worker_pids == $w }, 5);
                push @confs, doc_conf(($sys eq 'ours' ? 'Ours' : 'Stock')
                    . ': edge, scenario 1 (1, 2, 4 workers)', $conf,
                    { EDGE_RTMP => $ep, EDGE_HTTP => $eh, ORIGIN_RTMP => $op },
                    qr/worker_processes \d+;/ => 'worker_processes {WORKERS};')
                    if $w == 1;
                $e{$sys} = { n => $n, ep => $ep, op => $op,
                    rl => rtmpload(url => "rtmp://127.0.0.1:$ep/live/s",
                                   n => $players) };
            }
            note "1: $w workers: $players players at each edge";
            wait_until(sub { !grep { conns_on($_->{ep}) < $players }
                             values %e }, 20);
            sleep 3;
            # a few samples while they play; the figure is the largest
            my %up;
            for (1 .. 4) {
                for my $sys (keys %e) {
                    my $u = upstreams($e{$sys}{n}, $e{$sys}{op});
                    $up{$sys} = $u if $u > ($up{$sys} // -1);
                }
                sleep 0.5;
            }
            my %spread = map { $_ => per_worker($e{$_}{ep}) } keys %e;
            my %ok;
            for my $sys (keys %e) {
                my $j = rtmpload_result($e{$sys}{rl});
                $ok{$sys} = scalar grep { defined $_->{first_video_ms}
                    && !defined $_->{end_reason} } @{$j->{players}};
            }
            $raw{$w} = { upstreams => \%up, playing => \%ok,
                         players_per_worker => \%spread };
            note "1: $w workers: upstreams ours $up{ours}, stock $up{stock}";
            push @rows, [$w, $up{ours}, $up{stock},
                         ratio($up{ours}, $up{stock}),
                         "$ok{ours}/$players", "$ok{stock}/$players",
                         $spread{ours}, $spread{stock}];
        });
    }
    return {
        tables => [{
            head => ['edge workers', 'ours: upstreams', 'stock: upstreams',
                     'ours/stock', 'ours: players with video',
                     'stock: players with video', 'ours: players per worker',
                     'stock: players per worker'],
            rows => \@rows }],
        raw => \%raw,
        configs => [@{$o->{confs}}, @confs],
        notes => [
            "$players players (one rtmpload, all started at once) play one "
            . 'stream at an edge whose origin has it.  Three seconds after '
            . 'they are all connected, the established TCP connections from '
            . "the edge's master and worker processes to the origin's RTMP "
            . 'port are counted with `ss -tnp` (largest of 4 samples, '
            . '0.5 s apart).',
            'Ours: `cluster edge`, `cluster_reuseport on` (the kernel '
            . 'spreads players over the workers), `cluster_worker_relay` '
            . 'on (default): one worker pulls, the others relay it over unix '
            . 'sockets.  Stock: `pull rtmp://ORIGIN/live;`, players spread '
            . "by nginx's accept (EPOLLEXCLUSIVE); each worker with players "
            . 'pulls on its own.  `rtmp_auto_push` is not used: it concerns '
            . 'publishers, and stock pulls work with several workers '
            . 'without it (see "players with video").',
            '"players per worker" is the number of player connections each '
            . 'worker held (from `ss -tnp`), largest first.',
        ],
    };
}

###########################################################################
# 2. Time to first frame

sub s2_ttff {
    my $o = origins();
    my ($op, $oh, $sp) = ($o->{ours}{port}, $o->{ours}{http}, $o->{stock}{port});
    my (@lanes, @confs);
    my $per = ceil($TRIES / $LANES);

    # warm edges, kept pulled by a player that stays for the whole scenario
    my %warm;
    for my $sys (qw(ours stock)) {
        my ($ep, $eh) = map { $t->port } 1 .. 2;
        my $up = $sys eq 'ours' ? $op : $sp;
        my $conf = $sys eq 'ours'
            ? ours_edge_conf(port => $ep, http => $eh, origins => [$up])
            : stock_edge_conf(port => $ep, origins => [$up]);
        my $n = start_nginx("s2-warm-$sys", $conf,
                            ports => [$ep, $sys eq 'ours' ? $eh : ()],
                            cluster => $sys eq 'ours');
        rtmpload(url => "rtmp://127.0.0.1:$ep/live/s", d => 100000);
        wait_until(sub { upstreams($n, $up) > 0 }, 10)
            or die "the warm $sys edge does not pull\n";
        $warm{$sys} = $ep;
        push @confs, doc_conf(($sys eq 'ours' ? 'Ours' : 'Stock')
            . ': edge, 1 worker (scenario 2)', $conf,
            { EDGE_RTMP => $ep, EDGE_HTTP => $eh, ORIGIN_RTMP => $up });
    }

    # the redirect: origin A lacks the stream; its coworker (our origin)
    # has it; A answers the edge's play with a 302, the edge follows it
    my ($ap, $ah) = map { $t->port } 1 .. 2;
    my $aconf = ours_origin_conf(port => $ap, http => $ah,
        coworkers => ["127.0.0.1:$oh"], app => 'cluster_lookup_cache 0 0;');
    start_nginx('s2-origin-a', $aconf, ports => [$ap, $ah]);
    push @confs, doc_conf('Ours: origin A without the stream, one coworker '
        . '(scenario 2 redirect)', $aconf, { A_RTMP => $ap, A_HTTP => $ah,
        ORIGIN_HTTP => $oh });

    for my $lane (1 .. $LANES) {
        for my $kind (qw(ours stock redirect)) {
            my ($ep, $eh) = map { $t->port } 1 .. 2;
            my @up = $kind eq 'ours' ? ($op) : $kind eq 'stock' ? ($sp)
                   : ($ap, $op);
            my $conf = $kind eq 'stock'
                ? stock_edge_conf(port => $ep, origins => [$sp])
                : ours_edge_conf(port => $ep, http => $eh, origins => [$up[0]],
                                 app => 'cluster_linger 0;');
            my $n = start_nginx("s2-cold-$kind", $conf,
                                ports => [$ep, $kind eq 'stock' ? () : $eh],
                                cluster => $kind ne 'stock');
            push @lanes, { series => "cold-$kind", tries => $per,
                           url => "rtmp://127.0.0.1:$ep/live/s",
                           ready => cold_ready($n, @up) };
            push @confs, doc_conf('Ours: cold edge, `cluster_linger 0` '
                . '(scenarios 2, 4, 6)', $conf, { EDGE_RTMP => $ep,
                EDGE_HTTP => $eh, ORIGIN_RTMP => $up[0] })
                if $lane == 1 && $kind ne 'stock';
        }
        push @lanes,
            map { { series => $_->[0], tries => $per,
                    url => "rtmp://127.0.0.1:$_->[1]/live/s" } }
            ['origin-ours', $op], ['origin-stock', $sp],
            ['warm-ours', $warm{ours}], ['warm-stock', $warm{stock}];
    }

    note "2: $per tries in each of ", scalar @lanes, ' lanes';
    my $r = ttff_lanes(@lanes);
    my %st = map { $_ => ttff_stats($r->{$_}) } keys %$r;

    my @rows;
    for my $row (['directly from the origin (floor)', 'origin'],
                 ['through a warm edge', 'warm'],
                 ['through a cold edge', 'cold'],
                 ['through a redirect (edge, origin A: 302 to B)', 'redirect']) {
        my ($label, $k) = @$row;
        my $ours = $k eq 'redirect' ? $st{'cold-redirect'} : $st{"$k-ours"};
        my $stock = $k eq 'redirect' ? undef
                  : $k eq 'cold' ? $st{'cold-stock'} : $st{"$k-stock"};
        push @rows, [$label, fmt($ours->{p50}), fmt($ours->{p95}),
            $stock ? (fmt($stock->{p50}), fmt($stock->{p95}),
                      ratio($ours->{p50}, $stock->{p50}),
                      ratio($ours->{p95}, $stock->{p95}))
                   : ('n/a', 'n/a', 'n/a', 'n/a'),
            "$ours->{n}/$ours->{tries}"
                . ($stock ? " / $stock->{n}/$stock->{tries}" : ''),
            $ours->{slow_connect}
                . ($stock ? " / $stock->{slow_connect}" : '')];
        note "2: $label: ours p50 ", fmt($ours->{p50}), ' p95 ',
            fmt($ours->{p95}), $stock ? (', stock p50 ', fmt($stock->{p50}),
            ' p95 ', fmt($stock->{p95})) : ();
    }
    return {
        tables => [{
            head => ['path', 'ours p50 ms', 'ours p95 ms', 'stock p50 ms',
                     'stock p95 ms', 'ours/stock p50', 'ours/stock p95',
                     'tries with video (ours / stock)',
                     'tries with connect _result > 20 ms (ours / stock)'],
            rows => \@rows }],
        raw => { stats => \%st, tries => $r },
        configs => [@{$o->{confs}}, @confs],
        notes => [
            "Time to first frame: rtmpload's `first_video_ms`, from the "
            . 'start of the TCP connect to the first video message (the AVC '
            . 'sequence header, sent with the first frame), one player per '
            . "try, $TRIES tries per series (BENCH_TRIES).  Each try waits a "
            . 'random 0-2 s after the previous one of its series, so tries '
            . 'land at random phases of the 2 s GOP.  The series run at the '
            . "same time, each in $LANES lanes; a try is stopped once "
            . "rtmpload's once-a-second progress line shows the player "
            . 'playing.',
            'Cold edge: every try starts the pull.  Ours has '
            . '`cluster_linger 0`; for both systems the next try of a lane '
            . "waits until the lane's edge has no TCP connection to the "
            . 'origin left (`ss`).  Warm edge: another player keeps the '
            . 'stream pulled for the whole scenario.  Floor: played '
            . "directly at the origin.  The systems' origins differ: ours "
            . 'is an origin of this module (GOP cache on, the default), '
            . "stock's is plain nginx-rtmp; each has its own ffmpeg "
            . 'publisher of the same clip.',
            'Redirect: the edge pulls from origin A, which lacks the '
            . 'stream, asks its one coworker B (our origin), answers the '
            . "edge's play with an RTMP 302, and the edge follows it to B; "
            . 'A has `cluster_lookup_cache 0 0`, so every try makes a '
            . 'lookup.  Stock nginx-rtmp has no equivalent.',
            'All edges have 1 worker.  `first_keyframe_ms` is in the JSON '
            . 'too.',
            'Last column: tries whose RTMP `connect` was answered more than '
            . "20 ms after the TCP connect (rtmpload's `connected_ms`), in "
            . 'both systems: nginx-rtmp answers `connect` with four small '
            . 'writes (window, bandwidth, chunk size, `_result`), and with '
            . "Nagle on the later ones wait for the player's delayed ACK, "
            . 'about 40 ms.  The same wait can happen at the origin on an '
            . "edge's pull (not visible to the player), twice on the "
            . 'redirect path (A, then B).  This module turns Nagle off from '
            . 'the `connect` answer on, on hosts with cluster roles; stock '
            . 'nginx-rtmp leaves it on.',
        ],
    };
}

###########################################################################
# 3. Fan-out at the edge

# the two edges measured by scenarios 3 and 7 (a, c, d): 2 workers, the
# stream pulled from the system's origin
sub fanout_edge {
    my ($sys, %o) = @_;
    my $orig = origins();
    my ($ep, $eh) = map { $t->port } 1 .. 2;
    my $up = $orig->{$sys}{port};
    my $conf = $sys eq 'ours'
        ? ours_edge_conf(port => $ep, http => $eh, workers => 2,
                         origins => [$up], app => $o{app})
        : stock_edge_conf(port => $ep, workers => 2, origins => [$up],
                          app => $o{app});
    $conf = flv_location($conf) if $o{flv};
    # the same text each time (ports aside) so that a measurement of the
    # same configuration in one run is found in the memo
    my $key = doc_conf('', $conf, { EDGE_RTMP => $ep, EDGE_HTTP => $eh,
                                    ORIGIN_RTMP => $up })->{text};
    return { conf => $conf, key_text => $key, port => $ep,
             http => $sys eq 'ours' ? $eh : undef, origin => $up,
             cluster => $sys eq 'ours' ? 1 : 0,
             doc => doc_conf(($sys eq 'ours' ? 'Ours' : 'Stock')
                 . ": edge, 2 workers (scenarios 3, 7)" . ($o{label} // ''), $conf,
                 { EDGE_RTMP => $ep, EDGE_HTTP => $eh, ORIGIN_RTMP => $up }) };
}

my %FANOUT;     # the same measurement is not made twice in a run

sub run_fanout {
    my ($key, $edge, $players, %o) = @_;
    # by the configuration as documented: the ports differ each time
    my $memo = join "\0", $edge->{key_text}, $players, $o{latency} ? 1 : 0,
                    $o{flv} ? 'flv' : 'rtmp';
    if (my $m = $FANOUT{$memo}) {
        note "$key: $players players: measured earlier in this run";
        return $m;
    }
    return $FANOUT{$memo} = fanout(key => $key, %$edge, players => $players,
                                   latency => $o{latency}, flv => $o{flv});
}

my @FANOUT_METRICS = (
    ['edge CPU-s per Gbit delivered', 'cpu_s_per_gbit', 1],
    ['edge CPU, % of one core', 'edge_cpu_pct', 1],
    ['delivered, Mbit/s', 'mbit_per_s', 0],
    ['KB per TCP segment to players', 'kb_per_segment', 1],
    ['send() calls per player per second (perf)', 'sendto_per_player_s', 1],
    ['writev() calls per player per second (perf)', 'writev_per_player_s',
     0],
    ['RSS per player, KB', 'rss_per_player_kb', 1],
    ['players failed or disconnected', 'failed', 0],
    ['players with gaps > 1 s', 'gap_players', 0],
    ['longest gap, ms', 'max_gap_ms', 0],
    ['load client CPU, % of one core', 'client_cpu_pct', 0],
    ['players per worker', 'per_worker', 0],
);

sub s3_fanout {
    my (%m, @confs, %raw);
    for my $players (500, 1000) {
        for my $sys (qw(stock ours)) {
            my $e = fanout_edge($sys);
            push @confs, $e->{doc} if $players == 500;
            $m{$players}{$sys} = run_fanout("3-$sys", $e, $players);
        }
    }
    my @rows;
    for my $mt (@FANOUT_METRICS) {
        my ($label, $k, $with_ratio) = @$mt;
        push @rows, [$label, map {
            my ($ours, $stock) = ($m{$_}{ours}{$k}, $m{$_}{stock}{$k});
            $k eq 'per_worker' ? ($ours, $stock, '')
                : (fmt($ours), fmt($stock),
                   $with_ratio ? ratio($ours, $stock) : '')
        } 500, 1000];
    }
    my $media = media_info();
    return {
        tables => [{
            head => ['', '500: ours', '500: stock', '500: ours/stock',
                     '1000: ours', '1000: stock', '1000: ours/stock'],
            rows => \@rows }],
        raw => \%m,
        configs => [@{origins()->{confs}}, @confs],
        notes => fanout_notes($media),
    };
}

sub perf_note {
    return perf_available()
        ? "Where the CPU goes: right after the window, ${PERF_SECONDS} s of "
          . '`perf record -F 999 -p WORKERS` (shares of the samples by '
          . 'object, `perf report --sort dso`, and the top symbols, '
          . '`--sort sym`; symbols of stripped objects are left out) and '
          . '`perf stat -e syscalls:sys_enter_sendto,'
          . 'syscalls:sys_enter_writev -p WORKERS` (calls per player per '
          . 'second).  The data stays in `build/bench-perf/`.'
        : 'perf is not installed (or not permitted): no CPU profile in '
          . 'this run.';
}

sub fanout_notes {
    my ($media) = @_;
    return [
        'Players: one rtmpload process, started at 500 connects per second, '
        . 'playing the stream at an edge with 2 workers that pulls it from '
        . "its system's origin (published there by ffmpeg, "
        . sprintf('%.2f Mbit/s', $media->{mbit_per_s})
        . ' on average, so N players should get about N times that).',
        "Window: $WINDOW s (BENCH_WINDOW), starting 3 s after every "
        . 'player is connected.  Edge CPU: utime+stime of the master and '
        . 'all workers from /proc/PID/stat, difference over the window, '
        . 'divided by CLK_TCK.  Delivered: the sum over the edge\'s player '
        . 'connections of the difference of `bytes_acked` (`ss -ti`) over '
        . 'the same window, i.e. what the kernel saw the players receive; '
        . 'CPU-s per Gbit = CPU seconds / (bytes x 8 / 1e9).',
        'RSS per player: (sum of the workers\' VmRSS at the end of the '
        . 'window - the same sum before any player, no stream pulled) / '
        . 'players.',
        'Gaps, failed and disconnected players: rtmpload over its whole run '
        . '(start-up included); a gap is more than 1 s between two media '
        . 'messages of one player; failed = never got video or ended '
        . 'before the end of the run.',
        'The machine has 2 cores, shared by nginx, rtmpload, the '
        . 'publishers and the origins: the load client\'s CPU is shown so '
        . 'that it can be told apart from the edge\'s.',
        perf_note(),
    ];
}

###########################################################################
# 4. Lookup cost against the number of coworkers

sub s4_lookup {
    my $o = origins();
    my $b = "127.0.0.1:$o->{ours}{http}";
    my (@rows, %raw, @confs);

    # a silent coworker: accepts, reads nothing, never answers
    my $sport = $t->port;
    spawn(['perl', '-MIO::Socket::IP', '-e', 'my $s = IO::Socket::IP->new('
        . 'LocalHost => "127.0.0.1", LocalPort => $ARGV[0], Listen => 1024, '
        . 'ReuseAddr => 1) or die "$!"; my @c; while (my $c = $s->accept) '
        . '{ push @c, $c }', $sport], 'silent');
    wait_until(sub { $t->port_open($sport) }, 5) or die "silent listener\n";
    my @dead = map { $t->port } 1 .. 8;

    for my $cw (1, 4, 16, 32) {
        # B last; a quarter dead; one silent; the rest origins without it
        my $nd = $cw >= 4 ? int($cw / 4) : 0;
        my $ns = $cw >= 4 ? 1 : 0;
        my $ne = $cw - 1 - $nd - $ns;
        my @emp = empties($ne);
        my @list = ((map { "127.0.0.1:$_->{http}" } @emp),
                    (map { "127.0.0.1:$_" } @dead[0 .. $nd - 1]),
                    ($ns ? "127.0.0.1:$sport" : ()), $b);
        scoped(sub {
            my ($ap, $ah, $qp, $qh) = map { $t->port } 1 .. 4;
            my $aconf = ours_origin_conf(port => $ap, http => $ah,
                coworkers => \@list, app => 'cluster_lookup_cache 0 0;');
            my $a = start_nginx("s4-a-$cw", $aconf, ports => [$ap, $ah]);
            # the storm goes to an origin with the default lookup cache
            my $q = start_nginx("s4-q-$cw", ours_origin_conf(port => $qp,
                http => $qh, coworkers => \@list), ports => [$qp, $qh]);
            push @confs, doc_conf('Ours: origin A with 4 coworkers (scenario '
                . '4; 1, 16 and 32 alike; the storm origin has no '
                . '`cluster_lookup_cache` line)', $aconf,
                { A_RTMP => $ap, A_HTTP => $ah, ORIGIN_HTTP => $o->{ours}{http},
                  SILENT_HTTP => $sport, DEAD_HTTP => $dead[0],
                  map { ("EMPTY${_}_HTTP" => $emp[$_]{http}) } 0 .. $#emp })
                if $cw == 4;

            my @lanes;
            my $lanes = 3;
            for my $l (1 .. $lanes) {
                my ($ep, $eh) = map { $t->port } 1 .. 2;
                my $e = start_nginx("s4-edge-$cw", ours_edge_conf(port => $ep,
                    http => $eh, origins => [$ap], app => 'cluster_linger 0;'),
                    ports => [$ep, $eh]);
                push @lanes, { series => 'redirect', url =>
                    "rtmp://127.0.0.1:$ep/live/s", tries => ceil($LOOKUP_TRIES
                    / $lanes), ready => cold_ready($e, $ap, $o->{ours}{port}) };
            }
            note "4: $cw coworkers ($nd dead, $ns silent): TTFF";
            my $st = ttff_stats(ttff_lanes(@lanes)->{redirect});
            my $alook = ($a->status($ah, '/cluster') // {})->{lookups};
            my $rd = redirect_ms($ap, $LOOKUP_TRIES);

            note "4: $cw coworkers: 200 players at once at the origin";
            my $j = rtmpload_result(rtmpload(url =>
                "rtmp://127.0.0.1:$qp/live/s", n => 200, d => 2, t => 5),
                timeout => 15);
            my $lk = ($q->status($qh, '/cluster') // {})->{lookups} // {};
            $raw{$cw} = { dead => $nd, silent => $ns, empty => $ne,
                          ttff => $st, lookups_ttff => $alook,
                          play_to_302 => $rd,
                          lookups_storm => $lk,
                          storm_redirected => $j->{redirected_players} };
            push @rows, [$cw, "$nd / $ns", fmt($st->{p50}), fmt($st->{p95}),
                         "$st->{n}/$st->{tries}", $st->{slow_connect},
                         fmt($rd->{p50}),
                         fmt($rd->{p95}),
                         $lk->{queries} // 'n/a',
                         sprintf('%s / %s / %s', $lk->{total} // '?',
                                 $lk->{joined} // '?', $lk->{cache_hits} // '?'),
                         "$j->{redirected_players}/200", 'n/a'];
            note "4: $cw coworkers: p50 ", fmt($st->{p50}), ' p95 ',
                 fmt($st->{p95}), ', storm queries ', $lk->{queries} // '?';
        });
    }
    return {
        tables => [{
            head => ['coworkers', 'dead / silent', 'TTFF p50 ms',
                     'TTFF p95 ms', 'tries with video',
                     'tries with connect _result > 20 ms',
                     'play to 302 at A: p50 ms', 'p95 ms',
                     'coworker queries for 200 players',
                     'lookups / joined / cache hits',
                     'players redirected', 'stock'],
            rows => \@rows }],
        raw => \%raw,
        configs => [@{$o->{confs}}, @confs],
        notes => [
            'Origin A lacks the stream; its coworker list has B (our origin, '
            . 'which has it) last, a quarter of dead coworkers (ports nobody '
            . 'listens on), one silent one (a Perl listener that accepts and '
            . 'never answers) and origins of this module without the stream '
            . '(one nginx instance each, 1 worker).',
            "TTFF: $LOOKUP_TRIES tries (BENCH_LOOKUP_TRIES) through cold "
            . 'edges (`cluster_linger 0`) whose origin is A, which has '
            . '`cluster_lookup_cache 0 0` so each try makes a full lookup, '
            . 'answers with an RTMP 302, and the edge follows it to B; '
            . 'measured as in scenario 2 (3 lanes).  A 40 ms Nagle wait '
            . '(see scenario 2), where one happens, weighs more than the '
            . 'lookup: the column after the tries counts those the player '
            . 'saw (those on the edge\'s pulls are not visible to it).',
            "Play to 302: $LOOKUP_TRIES more lookups at A, from a `play` "
            . "sent by the test suite's RTMP client (connected "
            . 'beforehand) to the 302 status: the lookup itself, without '
            . 'the connects of the path.',
            'Storm: rtmpload starts 200 players at once directly at another '
            . 'origin with the same coworkers and the default lookup cache '
            . '(`3s 1s`); "coworker queries" is its status\' '
            . '`lookups.queries` afterwards (each coworker asked counts '
            . 'one, dead and silent ones included).  rtmpload records the '
            . '302s without following them.',
            'Stock nginx-rtmp has no coworker lookup: n/a.',
        ],
    };
}

###########################################################################
# 5. Failover gap

sub s5_failover {
    my $players = 100;
    my (@rows, %raw, @confs);
    for my $sys (qw(ours stock)) {
        scoped(sub {
            my @orig;
            for my $i (0, 1) {
                my ($p, $h) = map { $t->port } 1 .. 2;
                my $conf = $sys eq 'ours'
                    ? ours_origin_conf(port => $p, http => $h)
                    : stock_origin_conf(port => $p);
                my $n = start_nginx("s5-$sys-origin$i", $conf,
                    ports => [$p, $sys eq 'ours' ? $h : ()],
                    cluster => $sys eq 'ours');
                publish("rtmp://127.0.0.1:$p/live/s");
                push @orig, { n => $n, port => $p };
            }
            wait_stream($_->{port}, 's') for @orig;
            my ($ep, $eh) = map { $t->port } 1 .. 2;
            my @ports = map { $_->{port} } @orig;
            my $conf = $sys eq 'ours'
                ? ours_edge_conf(port => $ep, http => $eh, origins => \@ports)
                : stock_edge_conf(port => $ep, origins => \@ports);
            my $e = start_nginx("s5-$sys-edge", $conf,
                ports => [$ep, $sys eq 'ours' ? $eh : ()],
                cluster => $sys eq 'ours');
            push @confs, doc_conf(($sys eq 'ours' ? 'Ours' : 'Stock')
                . ': edge with two origins (scenario 5)', $conf,
                { EDGE_RTMP => $ep, EDGE_HTTP => $eh, ORIGIN_A_RTMP => $ports[0],
                  ORIGIN_B_RTMP => $ports[1] });

            note "5: $sys: $players players, then kill -9 of the origin in use";
            my $rl = rtmpload(url => "rtmp://127.0.0.1:$ep/live/s",
                              n => $players, t => 10);
            wait_until(sub { conns_on($ep) >= $players }, 20);
            sleep 4;
            my ($used) = grep { upstreams($e, $_->{port}) } @orig;
            die "5: the $sys edge pulls from no origin\n" unless $used;
            $used->{n}->kill9;
            my $killed = time;

            # meanwhile, a player who comes (or comes back) after the kill:
            # fresh single players until one gets video
            my $rejoin;
            while (!defined $rejoin && time < $killed + $FAILOVER_WAIT - 1) {
                my $start = time;
                my $p = rtmpload_result(rtmpload(url =>
                    "rtmp://127.0.0.1:$ep/live/s", d => 2.5, t => 2.5),
                    timeout => 6)->{players}[0] // {};
                $rejoin = ($start - $killed) * 1000 + $p->{first_video_ms}
                    if defined $p->{first_video_ms};
                sleep 0.2;
            }
            sleep max(0, $killed + $FAILOVER_WAIT - time);
            my $j = rtmpload_result($rl);

            # rtmpload counts the players still connected whose last media
            # message is older than 1 s (stalled_at_end); those are the
            # ones with the fewest video messages, as all started together
            my @pl = @{$j->{players}};
            my @gone = grep { defined $_->{end_reason} } @pl;
            my @alive = sort { $a->{video_msgs} <=> $b->{video_msgs} }
                        grep { !defined $_->{end_reason} } @pl;
            my @stalled = splice @alive, 0, min($j->{stalled_at_end},
                                                scalar @alive);
            my @wait = map { $_->{max_gap_ms} } @alive;
            my $st = { resumed => scalar @alive, never => scalar @stalled,
                       disconnected => scalar @gone,
                       p50 => pct(\@wait, 50), p95 => pct(\@wait, 95),
                       max => pct(\@wait, 100),
                       ended_by_reason => $j->{ended_by_reason},
                       new_player_video_ms => $rejoin,
                       killed => $used->{port} == $ports[0] ? 'first' : 'second' };
            $raw{$sys} = $st;
            note sprintf '5: %s: resumed %d, wait p50 %s p95 %s, never %d, '
                . 'disconnected %d', $sys, $st->{resumed}, fmt($st->{p50}),
                fmt($st->{p95}), $st->{never}, $st->{disconnected};
        });
    }
    my ($ou, $sk) = @raw{qw(ours stock)};
    for my $sys (qw(ours stock)) {
        my $s = $raw{$sys};
        push @rows, [$sys, "$s->{killed} listed", $players,
                     $s->{resumed}, fmt($s->{p50}), fmt($s->{p95}),
                     fmt($s->{max}), $s->{never}, $s->{disconnected},
                     defined $s->{new_player_video_ms}
                         ? fmt($s->{new_player_video_ms})
                         : "none in $FAILOVER_WAIT s"];
    }
    push @rows, ['ours/stock', '', '', '', ratio($ou->{p50}, $sk->{p50}),
                 ratio($ou->{p95}, $sk->{p95}), ratio($ou->{max}, $sk->{max}),
                 '', '', ratio($ou->{new_player_video_ms},
                               $sk->{new_player_video_ms})];
    return {
        tables => [{
            head => ['system', 'origin killed', 'players',
                     'got media again', 'wait p50 ms', 'wait p95 ms',
                     'wait max ms', "no media in ${FAILOVER_WAIT} s",
                     'disconnected', 'new player: video, ms after the kill'],
            rows => \@rows }],
        raw => \%raw,
        configs => \@confs,
        notes => [
            "$players players (rtmpload) play a stream at an edge (1 "
            . 'worker) that has two origins; each origin has its own ffmpeg '
            . 'publisher of the clip.  4 s after the players are connected, '
            . 'the origin the edge pulls from (found with `ss`) and its '
            . "workers get SIGKILL; the players are watched for $FAILOVER_WAIT "
            . 'more seconds (BENCH_FAILOVER_WAIT).',
            'Wait: each player\'s longest interval between two media '
            . "messages (rtmpload's per-player `max_gap_ms`), over the "
            . 'players that got media again.  "no media": players still '
            . 'connected whose last media message is older than 1 s at the '
            . "end (rtmpload's `stalled_at_end`; taken as the players with "
            . 'the fewest video messages).  "disconnected": players whose '
            . 'connection ended.',
            'New player: right after the kill, single players (rtmpload '
            . '-n 1, each given 2.5 s) are started one after the other at '
            . 'the edge until one gets video; the figure is the time from '
            . 'the kill to its first video message: what a player who '
            . 'joins, or reconnects after being dropped, sees.',
            'Ours: `cluster_origin` A and B (balance `hash`).  Stock: '
            . '`pull rtmp://A/live; pull rtmp://B/live;` in the edge\'s '
            . "application: nginx-rtmp's relay pulls a stream from the "
            . 'first matching `pull` only; for the second it finds the '
            . 'pull already under way and joins it (`ngx_rtmp_relay_create`), '
            . 'so B is never used by this configuration.',
        ],
    };
}

###########################################################################
# 6. Stream manager against coworkers, 8 origins

sub s6_manager {
    my (@confs, %raw);
    my ($rp, $mh) = map { $t->port } 1 .. 2;
    own($t->redis_server($rp));
    wait_until(sub { $t->port_open($rp) }, 5) or die "redis-server\n";
    my $mconf = tune(manager_conf(http => $mh, locations =>
        "location /streams/ { cluster_stream_manager redis=127.0.0.1:$rp; }"));
    start_nginx('s6-manager', $mconf, ports => [$mh]);
    my $mgr = "cluster_manager http://127.0.0.1:$mh/streams/;";

    # B: has the stream, leases it at the manager, answers coworkers
    my ($bp, $bh) = map { $t->port } 1 .. 2;
    my $bconf = ours_origin_conf(port => $bp, http => $bh, app => $mgr);
    start_nginx('s6-b', $bconf, ports => [$bp, $bh]);
    publish("rtmp://127.0.0.1:$bp/live/s");
    my $http = HTTP::Tiny->new(timeout => 2);
    wait_until(sub { $http->get("http://127.0.0.1:$mh/streams/live/s")
                     ->{status} == 200 }, 15) or die "6: no lease\n";
    wait_stream($bp, 's');

    my @emp = empties(7);
    my @cw = ((map { "127.0.0.1:$_->{http}" } @emp), "127.0.0.1:$bh");
    my %a;
    my ($ap, $ah, $cp, $ch) = map { $t->port } 1 .. 4;
    my $amconf = ours_origin_conf(port => $ap, http => $ah,
                                  app => "$mgr cluster_lookup_cache 0 0;");
    my $acconf = ours_origin_conf(port => $cp, http => $ch, coworkers => \@cw,
                                  app => 'cluster_lookup_cache 0 0;');
    $a{manager} = { n => start_nginx('s6-a-manager', $amconf,
                    ports => [$ap, $ah]), port => $ap, http => $ah };
    $a{coworkers} = { n => start_nginx('s6-a-coworkers', $acconf,
                      ports => [$cp, $ch]), port => $cp, http => $ch };
    push @confs,
        doc_conf('Stream manager (scenario 6)', $mconf,
                 { MANAGER_HTTP => $mh, REDIS => $rp }),
        doc_conf('Ours: origin B with the stream, leased at the manager '
                 . '(scenario 6)', $bconf, { B_RTMP => $bp, B_HTTP => $bh,
                 MANAGER_HTTP => $mh }),
        doc_conf('Ours: origin A asking the manager (scenario 6)', $amconf,
                 { A_RTMP => $ap, A_HTTP => $ah, MANAGER_HTTP => $mh }),
        doc_conf('Ours: origin A asking 8 coworkers (scenario 6)', $acconf,
                 { A_RTMP => $cp, A_HTTP => $ch, B_HTTP => $bh,
                   map { ("EMPTY${_}_HTTP" => $emp[$_]{http}) } 0 .. $#emp });

    my @lanes;
    for my $k (qw(manager coworkers)) {
        for (1 .. $LANES) {
            my ($ep, $eh) = map { $t->port } 1 .. 2;
            my $e = start_nginx("s6-edge-$k", ours_edge_conf(port => $ep,
                http => $eh, origins => [$a{$k}{port}],
                app => 'cluster_linger 0;'), ports => [$ep, $eh]);
            push @lanes, { series => $k, url => "rtmp://127.0.0.1:$ep/live/s",
                           tries => ceil($LOOKUP_TRIES / $LANES),
                           ready => cold_ready($e, $a{$k}{port}, $bp) };
        }
    }
    note "6: $LOOKUP_TRIES tries through the manager and through coworkers";
    my $r = ttff_lanes(@lanes);
    my @rows;
    for my $k (qw(manager coworkers)) {
        my $st = ttff_stats($r->{$k});
        my $rd = redirect_ms($a{$k}{port}, $LOOKUP_TRIES);
        my $s = $a{$k}{n}->status($a{$k}{http}, '/cluster') // {};
        $raw{$k} = { ttff => $st, lookups => $s->{lookups},
                     manager => $s->{manager}, play_to_302 => $rd };
        push @rows, [$k eq 'manager' ? 'stream manager (Redis)'
                                     : '8 coworkers (7 without it, B)',
                     fmt($st->{p50}), fmt($st->{p95}), "$st->{n}/$st->{tries}",
                     $st->{slow_connect}, fmt($rd->{p50}), fmt($rd->{p95}),
                     $s->{lookups}{queries} // 0,
                     $s->{manager}{requests} // 0, 'n/a'];
        note "6: $k: p50 ", fmt($st->{p50}), ' p95 ', fmt($st->{p95});
    }
    my ($m, $c) = map { $raw{$_}{ttff} } qw(manager coworkers);
    my ($mr, $cr) = map { $raw{$_}{play_to_302} } qw(manager coworkers);
    push @rows, ['manager/coworkers', ratio($m->{p50}, $c->{p50}),
                 ratio($m->{p95}, $c->{p95}), '', '',
                 ratio($mr->{p50}, $cr->{p50}),
                 ratio($mr->{p95}, $cr->{p95}), '', '', ''];
    return {
        tables => [{
            head => ['origin A looks up through', 'TTFF p50 ms', 'TTFF p95 ms',
                     'tries with video', 'tries with connect _result > 20 ms',
                     'play to 302: p50 ms', 'p95 ms',
                     'coworker queries', 'manager requests', 'stock'],
            rows => \@rows }],
        raw => \%raw,
        configs => \@confs,
        notes => [
            'Eight origins: B has the stream (published by ffmpeg) and a lease '
            . 'for it at the stream manager (an nginx with '
            . '`cluster_stream_manager redis=...`, in front of a redis-server '
            . 'started for the run); '
            . 'seven origins of this module do not have it.  Origin A lacks '
            . 'it and finds it either through the manager (one HTTP '
            . 'question) or by asking the 8 coworkers at once; both A\'s '
            . 'have `cluster_lookup_cache 0 0`.',
            "TTFF: $LOOKUP_TRIES tries per lookup kind through cold edges "
            . 'whose origin is A (A answers with a 302 to B, the edge '
            . 'follows it), measured as in scenario 2 (the two kinds at the '
            . "same time, $LANES lanes each).  Play to 302: as in scenario "
            . "4, $LOOKUP_TRIES lookups at each A.  Coworker queries and "
            . "manager requests: A's status counters after both.  Stock "
            . 'nginx-rtmp has neither: n/a.',
        ],
    };
}

###########################################################################
# 7. Merged writes

sub merge_available {
    my ($ep, $eh) = map { $t->port } 1 .. 2;
    my ($code) = $t->nginx_t(ours_edge_conf(port => $ep, http => $eh,
        origins => [$ep], app => 'cluster_merge_writes 100ms;'));
    return $code == 0;
}

sub s7_merge {
    my $merge = merge_available();
    my $lat = rtmpload_has('-P');
    note '7: cluster_merge_writes ', $merge ? 'accepted' : 'not in this build',
         ', rtmpload -P ', $lat ? 'present' : 'missing';
    my @variants = (
        ['(a) stock nginx-rtmp', 'stock', '', 1],
        ['(b) stock, cork on (`buffer 350ms;`)', 'stock', 'buffer 350ms;', 1],
        ['(c) ours, `cluster_merge_writes 100ms`', 'ours',
         'cluster_merge_writes 100ms;', $merge],
        ['(d) ours, `cluster_merge_writes 350ms`', 'ours',
         'cluster_merge_writes 350ms;', $merge],
    );
    my (@rows, %raw, @confs, @prow);
    for my $players (500, 1000) {
        my $base;
        for my $v (@variants) {
            my ($label, $sys, $app, $ok) = @$v;
            unless ($ok) {
                push @rows, [$players, $label, 'not available in this build',
                             ('') x 10];
                next;
            }
            my $e = fanout_edge($sys, app => $app,
                                label => $app ? ", `$app`" : '');
            push @confs, $e->{doc} if $players == 500;
            my $m = run_fanout("7-$sys" . ($app =~ /(\d+ms)/ ? "-$1" : ''),
                               $e, $players, latency => $lat);
            $base //= $m;
            $raw{$players}{$label} = $m;
            if ($players == 500 && (my $p = $m->{profile})) {
                my @top = grep { $_->[1] !~ /^0x/ } @{$p->{sym} // []};
                push @prow, [$label,
                    fmt(dso_pct($p, qr/kernel/)),
                    fmt(dso_pct($p, qr/^ngx_rtmp_module/)),
                    fmt(dso_pct($p, qr/^ngx_rtmp_cluster/)),
                    fmt(dso_pct($p, qr/^nginx$/)),
                    fmt(dso_pct($p, qr/^libc/)),
                    fmt($p->{sendto_per_player_s}),
                    fmt($p->{writev_per_player_s}),
                    join(', ', map { sprintf '`%s` %.1f%%', $_->[1], $_->[0] }
                               @top[0 .. min(3, $#top)])];
            }
            my ($l, $pm) = ($m->{latency_ms} // {},
                            $m->{latency_player_median_ms} // {});
            push @rows, [$players, $label, fmt($m->{cpu_s_per_gbit}),
                ratio($m->{cpu_s_per_gbit}, $base->{cpu_s_per_gbit}),
                fmt($m->{rss_per_player_kb}),
                ratio($m->{rss_per_player_kb}, $base->{rss_per_player_kb}),
                fmt($m->{kb_per_segment}),
                $lat ? (fmt($l->{p50}), fmt($l->{p95}), fmt($pm->{p50}),
                        fmt($pm->{p95}))
                     : ('n/a: no rtmpload -P', 'n/a', 'n/a', 'n/a'),
                $m->{gap_players}, $m->{failed}];
        }
    }
    my @ptable = @prow ? ({
        head => ['500 players: where the edge workers\' CPU goes',
                 'kernel %', 'nginx-rtmp %', 'this module %', 'nginx %',
                 'libc %', 'send() per player per s',
                 'writev() per player per s', 'top symbols'],
        rows => \@prow }) : ();
    return {
        tables => [{
            head => ['players', 'variant', 'edge CPU-s per Gbit',
                     'ratio to (a)', 'RSS per player KB', 'ratio to (a)',
                     'KB per TCP segment', 'latency p50 ms (all samples)',
                     'latency p95 ms (all samples)',
                     'per-player median latency: p50 ms',
                     'per-player median latency: p95 ms',
                     'players with gaps > 1 s', 'failed'],
            rows => \@rows }, @ptable],
        raw => { merge_writes_available => $merge ? 1 : 0,
                 rtmpload_publisher => $lat ? 1 : 0, %raw },
        configs => [@{origins()->{confs}}, @confs],
        notes => [
            'Measured like scenario 3 (same function, same window and '
            . 'edges with 2 workers); only the edge\'s configuration changes. '
            . 'A variant measured with the same configuration and publisher '
            . 'in scenario 3 of the same run is not measured again.',
            "Stock's cork: nginx-rtmp holds a player's messages back until "
            . '`out_cork` of them (default `out_queue`/8 = 32) are queued '
            . 'when the live module\'s `buffer` directive is set (it sets '
            . '`s->out_buffer`); the core `buflen` directive only sets the '
            . 'default client buffer length and does not cork.  Messages of '
            . 'priority 0 (audio, and sequence headers) flush the queue at '
            . 'once, so with audio the cork merges few writes.',
            'Latency: with rtmpload\'s publisher mode (`-P clip -U '
            . "rtmp://ORIGIN/live/STREAM`), rtmpload publishes the clip in "
            . 'real time to the origin while its players play it at the edge '
            . 'and reports publisher send -> player receipt (matched by '
            . 'timestamp).  "All samples" is its summary (`latency_ms`) over '
            . 'the video frames of every player during the whole run, '
            . 'start-up included; frames sent before a player\'s `play` '
            . '(the GOP cache\'s burst to a joining player, up to 2 s old) '
            . 'are not samples (`latency_before_play`).  "Per-player '
            . 'median" is the distribution over players of each player\'s '
            . 'median (`latency_median_ms`).  '
            . 'Without the publisher mode the stream is published by ffmpeg '
            . 'and latency is n/a.',
            '"KB per TCP segment": bytes acknowledged / segments sent '
            . '(`ss -ti` `segs_out`) over the window, on the edge\'s player '
            . 'connections: how much each write (or Nagle) put together.',
            perf_note(),
        ],
    };
}

###########################################################################
# 8. A player at the edge before the publisher

# how long a player, waiting at the edge, takes to get video once the
# stream is published: $publish->() publishes and returns the time it
# started; undef and why when no video came
my $S8_LIMIT = 10;

sub s8_trial {
    my ($ep, $name, $publish) = @_;
    my $p = $t->rtmp_play($ep, 'live', $name, wait => 1);
    # the player came first: the edge is in its steady state by now, at a
    # random phase of its asking
    sleep 3 + rand 1;
    my $t0 = $publish->();
    my $v = wait_video($p, count => 1, timeout => $S8_LIMIT);
    my $ms = (time - $t0) * 1000;
    my $why = $v ? undef : $p->eof ? 'dropped' : 'no video';
    $p->close;
    return ($v ? $ms : undef, $why);
}

sub s8_wait {
    my (@rows, %raw, @confs);
    my @series = (
        [ours => 'SRS-like (FakeOrigin srs_not_found)'],
        [ours => 'ours, cluster_not_found reject'],
        [stock => 'SRS-like (FakeOrigin srs_not_found)'],
        [stock => 'stock nginx-rtmp (holds the play)'],
    );
    for my $k (0 .. $#series) {
        my ($sys, $kind) = @{$series[$k]};
        my (@ms, %fail, @at);
        for my $i (1 .. $WAIT_TRIES) {
            my $at = ($i - 1) % 2;      # the first origin, then the second
            push @at, $at;
            scoped(sub {
                my (@oport, @flag);
                if ($kind =~ /^SRS/) {
                    for my $j (0, 1) {
                        my $f = $t->tmp . "/s8-$k-$i-$j.published";
                        my $fo = own(FakeOrigin->start(mode => 'srs_not_found',
                            publish_flag => $f,
                            log => $t->tmp . "/s8-$k-$i-$j.log"));
                        push @oport, $fo->port;
                        push @flag, $f;
                    }
                } else {
                    for my $j (0, 1) {
                        my ($op, $oh) = map { $t->port } 1 .. 2;
                        my $conf = $sys eq 'ours'
                            ? ours_origin_conf(port => $op, http => $oh,
                                  app => 'cluster_not_found reject;')
                            : stock_origin_conf(port => $op);
                        start_nginx("s8-$sys-origin$j", $conf,
                            ports => [$op, $sys eq 'ours' ? $oh : ()],
                            cluster => $sys eq 'ours');
                        push @confs, doc_conf(($sys eq 'ours' ? 'Ours'
                            : 'Stock') . ': origin (scenario 8)', $conf,
                            { ORIGIN_RTMP => $op, ORIGIN_HTTP => $oh })
                            if $i == 1 && $j == 0;
                        push @oport, $op;
                    }
                }
                my ($ep, $eh) = map { $t->port } 1 .. 2;
                my $conf = $sys eq 'ours'
                    ? ours_edge_conf(port => $ep, http => $eh,
                                     origins => \@oport,
                                     app => 'cluster_balance order;')
                    : stock_edge_conf(port => $ep, origins => \@oport);
                start_nginx("s8-$sys-edge", $conf,
                    ports => [$ep, $sys eq 'ours' ? $eh : ()],
                    cluster => $sys eq 'ours');
                push @confs, doc_conf(($sys eq 'ours' ? 'Ours' : 'Stock')
                    . ': edge with two origins (scenario 8)', $conf,
                    { EDGE_RTMP => $ep, EDGE_HTTP => $eh,
                      ORIGIN_A_RTMP => $oport[0],
                      ORIGIN_B_RTMP => $oport[1] })
                    if $i == 1;
                my ($ms, $why) = s8_trial($ep, "w$i", sub {
                    my $t0 = time;
                    if (@flag) {
                        open my $fh, '>', $flag[$at] or die "$flag[$at]: $!";
                        close $fh;
                    } else {
                        my $pid = synthetic_publisher($oport[$at], "w$i",
                                                      frames => 400);
                        own(bless { pid => $pid }, 'S8Publisher');
                    }
                    return $t0;
                });
                if (defined $ms) { push @ms, $ms } else { $fail{$why}++ }
                note sprintf '8: %s, %s origins, published at %s: %s',
                    $sys, $kind, $at ? 'B' : 'A',
                    defined $ms ? sprintf('%.0f ms', $ms) : $why;
            });
        }
        my $st = { median => pct(\@ms, 50), max => pct(\@ms, 100),
                   got => scalar @ms, tries => $WAIT_TRIES,
                   failed => \%fail, ms => \@ms,
                   published_at => [map { $_ ? 'B' : 'A' } @at] };
        $raw{"$sys: $kind"} = $st;
        push @rows, [$sys, $kind, 'A, B alternately', $WAIT_TRIES,
                     scalar @ms, fmt($st->{median}), fmt($st->{max}),
                     join(', ', map { "$_ $fail{$_}" } sort keys %fail)
                         || '-'];
    }
    my %seen;
    return {
        tables => [{
            head => ['system', 'origins', 'published at', 'trials',
                     'got video', 'median ms', 'max ms',
                     "no video in $S8_LIMIT s"],
            rows => \@rows }],
        raw => \%raw,
        configs => [grep { !$seen{$_->{text}}++ } @confs],
        notes => [
            'A player (the RTMP client of `t/lib`) plays `live/wN` at an '
            . 'edge (1 worker) with two origins A and B before anyone '
            . 'publishes it, and waits 3 to 4 s (random: the edge keeps '
            . 'asking, the publish comes at any phase of it); then '
            . 'the stream is published at A (trials 1, 3, 5) or B (2, 4). '
            . 'The figure is the time from the start of the publish to '
            . "the player's first video message; $WAIT_TRIES trials per "
            . 'series (BENCH_WAIT_TRIES), each with fresh instances.',
            'SRS-like origins: FakeOrigin in `srs_not_found` mode (what an '
            . 'SRS 6 origin without the stream does: Play.Reset, '
            . 'Play.Start, a close 50 ms later); the publish is the '
            . 'fake\'s switch to serving media (its flag file).  Other '
            . 'origins: nginx instances; the publish is a synthetic '
            . 'publisher (25 fps, first frame a keyframe, `t/lib`) started '
            . 'at that moment.',
            'Ours: `cluster_origin A; cluster_origin B; cluster_balance '
            . 'order;` with the default `cluster_not_found_backoff 200ms '
            . '1s`; our origins with `cluster_not_found reject` (no '
            . 'coworkers).  Stock: `pull rtmp://A/live; pull '
            . 'rtmp://B/live;`: nginx-rtmp pulls from the first only, '
            . 'never reconnects a dynamic pull, and drops its players '
            . 'when the pull ends ("dropped"); a stock origin holds the '
            . 'play until a publisher comes, so a stock edge gets a '
            . 'stream published at A, never one published at B ("no '
            . 'video").',
        ],
    };
}

package S8Publisher;
sub stop { kill 'TERM', $_[0]{pid}; waitpid $_[0]{pid}, 0 }
package main;

###########################################################################
# 9. HTTP-FLV against RTMP at an edge of this module

# the agreed URL scheme: GET /APP/STREAM.flv at a location with
# cluster_flv, next to the status location of edge_conf's http server
sub flv_location {
    my ($conf) = @_;
    $conf =~ s{^(\s*)(location /cluster \{ cluster_status; \}\n)}
              {$1$2$1location / { cluster_flv; }\n}m
        or die "no status location to add cluster_flv next to\n";
    return $conf;
}

# (1, '') when this build takes cluster_flv, else (0, nginx -t's error)
sub flv_available {
    return (0, 'build/rtmpload has no HTTP-FLV mode (make loadclient)')
        unless rtmpload_has('-0');
    my ($ep, $eh) = map { $t->port } 1 .. 2;
    my ($code, $out) = $t->nginx_t(flv_location(ours_edge_conf(port => $ep,
        http => $eh, origins => [$ep])));
    return (1, '') if $code == 0;
    my ($why) = ($out // '') =~ /(\[emerg\][^\n]*)/;
    $why //= "nginx -t exited with $code";
    $why =~ s/ in \S+nginx\.conf:\d+$//;
    return (0, "nginx -t: $why");
}

sub s9_flv {
    my $o = origins();
    my $op = $o->{ours}{port};
    my ($flv, $why) = flv_available();
    note '9: cluster_flv ', $flv ? 'accepted' : "not measured: $why";
    my $na = 'not available in this build';
    my @protos = ('rtmp', $flv ? 'flv' : ());
    my $url = sub {
        my ($proto, $ep, $eh) = @_;
        return $proto eq 'flv' ? "http://127.0.0.1:$eh/live/s.flv"
                               : "rtmp://127.0.0.1:$ep/live/s";
    };
    my $edge = sub {
        my (%e) = @_;
        my $c = ours_edge_conf(%e, origins => [$op]);
        return $flv ? flv_location($c) : $c;
    };
    my (@lanes, @confs);
    my $with = $flv ? ' with an HTTP-FLV location' : '';

    # (a) time to first frame: a warm edge kept pulled by an RTMP player,
    # and cold edges (one per lane and protocol), every try starting the
    # pull
    my ($wp, $wh) = map { $t->port } 1 .. 2;
    my $wconf = $edge->(port => $wp, http => $wh);
    my $wn = start_nginx('s9-warm', $wconf, ports => [$wp, $wh]);
    rtmpload(url => "rtmp://127.0.0.1:$wp/live/s", d => 100000);
    wait_until(sub { upstreams($wn, $op) > 0 }, 10)
        or die "the warm edge does not pull\n";
    push @confs, doc_conf("Ours: edge$with, 1 worker (scenario 9 warm)",
        $wconf, { EDGE_RTMP => $wp, EDGE_HTTP => $wh,
        ORIGIN_RTMP => $op });
    my $per = ceil($TRIES / $LANES);
    for my $lane (1 .. $LANES) {
        for my $proto (@protos) {
            my ($ep, $eh) = map { $t->port } 1 .. 2;
            my $conf = $edge->(port => $ep, http => $eh,
                               app => 'cluster_linger 0;');
            my $n = start_nginx("s9-cold-$proto", $conf, ports => [$ep, $eh]);
            push @lanes, { series => "cold-$proto", tries => $per,
                           url => $url->($proto, $ep, $eh),
                           ready => cold_ready($n, $op) },
                         { series => "warm-$proto", tries => $per,
                           url => $url->($proto, $wp, $wh) };
            push @confs, doc_conf("Ours: cold edge$with, `cluster_linger 0` "
                . '(scenario 9)', $conf,
                { EDGE_RTMP => $ep, EDGE_HTTP => $eh, ORIGIN_RTMP => $op })
                if $lane == 1 && $proto eq 'rtmp';
        }
    }
    note "9: $per tries in each of ", scalar @lanes, ' lanes';
    my $r = ttff_lanes(@lanes);
    my %st = map { $_ => ttff_stats($r->{$_}) } keys %$r;
    my @trows;
    for my $row (['through a warm edge', 'warm'],
                 ['through a cold edge', 'cold']) {
        my ($label, $k) = @$row;
        my ($rt, $fl) = ($st{"$k-rtmp"}, $st{"$k-flv"});
        push @trows, [$label, fmt($rt->{p50}), fmt($rt->{p95}),
            $fl ? (fmt($fl->{p50}), fmt($fl->{p95}),
                   ratio($fl->{p50}, $rt->{p50}),
                   ratio($fl->{p95}, $rt->{p95}))
                : ($na, 'n/a', 'n/a', 'n/a'),
            fmt($rt->{keyframe_p50}) . ' / '
                . ($fl ? fmt($fl->{keyframe_p50}) : 'n/a'),
            "$rt->{n}/$rt->{tries} / "
                . ($fl ? "$fl->{n}/$fl->{tries}" : 'n/a')];
        note "9: $label: RTMP p50 ", fmt($rt->{p50}), ' p95 ',
            fmt($rt->{p95}), $fl ? (', HTTP-FLV p50 ', fmt($fl->{p50}),
            ' p95 ', fmt($fl->{p95})) : ();
    }

    # (b) fan-out at one edge (2 workers, merged writes on): the same
    # numbers of RTMP players and HTTP-FLV viewers, one after the other
    my $merge = merge_available() ? 'cluster_merge_writes 100ms;' : '';
    my (%m, %raw);
    for my $players (500, 1000) {
        my $e = fanout_edge('ours', app => $merge, flv => $flv,
            label => ($merge ? ", `$merge`" : '')
                . ($flv ? ', an HTTP-FLV location (scenario 9)' : ''));
        push @confs, $e->{doc} if $players == 500;
        for my $proto (@protos) {
            $m{$players}{$proto} = run_fanout("9-$proto", $e, $players,
                                              flv => $proto eq 'flv');
        }
    }
    my @frows;
    for my $mt (@FANOUT_METRICS) {
        my ($label, $k, $with_ratio) = @$mt;
        push @frows, [$label, map {
            my ($rt, $fl) = ($m{$_}{rtmp}{$k}, $m{$_}{flv}{$k});
            !$flv ? ($k eq 'per_worker' ? $rt : fmt($rt), $na, '')
                : $k eq 'per_worker' ? ($rt, $fl, '')
                : (fmt($rt), fmt($fl), $with_ratio ? ratio($fl, $rt) : '')
        } 500, 1000];
    }
    my $media = media_info();
    return {
        tables => [{
            head => ['time to first frame', 'RTMP p50 ms', 'RTMP p95 ms',
                     'HTTP-FLV p50 ms', 'HTTP-FLV p95 ms',
                     'HTTP-FLV/RTMP p50', 'HTTP-FLV/RTMP p95',
                     'first keyframe p50 ms (RTMP / HTTP-FLV)',
                     'tries with video (RTMP / HTTP-FLV)'],
            rows => \@trows }, {
            head => ['fan-out, ' . ($merge || 'merged writes off'),
                     '500: RTMP', '500: HTTP-FLV', '500: HTTP-FLV/RTMP',
                     '1000: RTMP', '1000: HTTP-FLV', '1000: HTTP-FLV/RTMP'],
            rows => \@frows }],
        raw => { flv_available => $flv ? 1 : 0, flv_missing => $why,
                 merge => $merge, ttff => { stats => \%st, tries => $r },
                 fanout => \%m },
        configs => [@{$o->{confs}}, @confs],
        notes => [
            ($flv ? () : ("**HTTP-FLV was not measured: $why.**  The RTMP "
                . 'figures are, with the same edges without the HTTP-FLV '
                . 'location.')),
            'Goal (issue 15): HTTP-FLV costs no more edge CPU per '
            . 'delivered Gbit than RTMP with merged writes on (HTTP-FLV/RTMP '
            . 'at most 1), and starts as fast (GOP cache: the TTFF ratios '
            . 'about 1).  This module only (stock nginx-rtmp has no '
            . 'HTTP-FLV).',
            'Both protocols are played from the same edges, by the same load '
            . 'client: `build/rtmpload -u rtmp://EDGE/live/s` for RTMP, '
            . '`-u http://EDGE_HTTP/live/s.flv` for HTTP-FLV (a `GET` with '
            . '`Connection: keep-alive`, the chunked FLV body parsed tag by '
            . 'tag).  For HTTP-FLV, `first_video_ms` is from the start of '
            . 'the TCP connect to the first complete video tag, as for '
            . 'RTMP to the first video message.',
            'Time to first frame: measured as in scenario 2 '
            . "($TRIES tries per series, BENCH_TRIES, in $LANES lanes, at "
            . 'random phases of the 2 s GOP), edges with 1 worker.  Warm: '
            . 'an RTMP player keeps the stream pulled for the whole '
            . 'scenario.  Cold: `cluster_linger 0`, and the next try of a '
            . "lane waits until the lane's edge has no TCP connection to the "
            . 'origin left, so each try starts the pull (for HTTP-FLV, the '
            . 'GET starts it).',
            'Fan-out: measured as in scenario 3 (same function, window and '
            . 'edge with 2 workers, '
            . ($merge ? "`$merge`" : 'merged writes not in this build')
            . '); RTMP players, then as many HTTP-FLV viewers, each at a '
            . 'fresh edge.  Delivered bytes are `bytes_acked` of the '
            . "edge's player connections (the RTMP port, or the http port "
            . 'for HTTP-FLV, whose chunk framing is a few bytes per write).',
            @{fanout_notes($media)}[1 .. 5],
        ],
    };
}

###########################################################################
# 10. The stream manager at scale, against coworker queries

my $LOOKUPLOAD    = "$REPO/build/lookupload";
my $SCALE_SECONDS = $ENV{BENCH_SCALE_SECONDS} // 20;
my @SCALE_LEASES  = split ' ', $ENV{BENCH_SCALE_LEASES} // '10000 100000';
my $SCALE_RATE    = $ENV{BENCH_SCALE_RATE} // 5000;
my $SCALE_BATCH   = 200;    # the leases an origin renews in one request
my $SCALE_TTL     = 10;     # cluster_lease_ttl's default
my $SCALE_ORIGINS = 32;
my $SCALE_STREAMS = 3;      # published at each of them

# a process that is not a ClusterTest::Proc, stopped with the scenario
{
    package BenchPid;
    sub new  { my ($c, $pid) = @_; bless { pid => $pid }, $c }
    sub stop { kill 'TERM', $_[0]{pid}; waitpid $_[0]{pid}, 0 }
}

# the machine's 1-minute load average: the other work it had
sub loadavg {
    my ($l) = ClusterTest::_read_file('/proc/loadavg') =~ /^(\S+)/;
    return $l + 0;
}

sub lookupload {
    my (@args) = @_;
    my $load = loadavg();
    my ($code, $out, $err) = $t->run([$LOOKUPLOAD, @args],
                                     timeout => $SCALE_SECONDS + 120);
    my $j = eval { JSON::PP->new->decode($out) };
    die "lookupload exited with $code:\n$err\n" unless $code == 0 && $j;
    $j->{loadavg} = [$load, loadavg()];
    return $j;
}

sub redis_used_memory {
    my ($db) = @_;
    my $info = $db->command('INFO', 'memory');
    return $info =~ /used_memory:(\d+)/ ? $1 : undef;
}

sub s10_manager_size {
    my ($n, $confs) = @_;
    require Redis;
    my ($rp, $mh) = map { $t->port } 1 .. 2;
    my $redis = own($t->redis_server($rp));
    my $db = Redis->new(port => $rp, timeout => 30);
    my $mem0 = redis_used_memory($db);
    my $mconf = tune(manager_conf(http => $mh, locations =>
        "location /streams/ { cluster_stream_manager redis=127.0.0.1:$rp; "
        . 'keepalive_requests 100000000; access_log off; }'));
    my $m = start_nginx("s10-manager-$n", $mconf, ports => [$mh]);
    push @$confs, doc_conf('Stream manager, 1 worker (scenario 10)', $mconf,
                           { MANAGER_HTTP => $mh, REDIS => $rp })
        unless @$confs;
    my @mpids = pids_of($m);

    note "10: $n leases, renewed in batches of $SCALE_BATCH every "
         . sprintf('%.1f s', $SCALE_TTL / 3)
         . ", $SCALE_RATE lookups/s for $SCALE_SECONDS s";
    my $j = lookupload('-m', $mh, '-p', '/streams/', '-n', $n,
        '-b', $SCALE_BATCH, '-T', $SCALE_TTL, '-c', 128, '-r', $SCALE_RATE,
        '-d', $SCALE_SECONDS, '-C', join(',', @mpids),
        '-X', $redis->pid);

    # every lease asked for must still be in Redis
    my %have = map { $_ => 1 }
        @{$db->command('KEYS', 'ngx_rtmp_cluster:stream:bench/*')};
    my $lost = grep { !$have{"ngx_rtmp_cluster:stream:bench/s$_"} }
                    0 .. $n - 1;
    my $mem = redis_used_memory($db);
    $j->{leases_lost} = $lost;
    $j->{manager_rss_kb} = rss_kb(@mpids);
    $j->{redis_bytes_per_lease} = ($mem - $mem0) / $n;
    $j->{redis_rss_kb} = rss_kb($redis->pid);
    note "10: $n leases: ", fmt($j->{lookups_per_s}), ' lookups/s, p50 ',
         fmt($j->{lookup_ms}{p50}), ' p99 ', fmt($j->{lookup_ms}{p99}),
         " ms, $lost lost";
    return $j;
}

# the play-to-302 of $names at origin port $port (each a lookup of its own)
sub s10_rtmp_lookups {
    my ($port, @names) = @_;
    my @ms;
    for my $name (@names) {
        my $c = eval { $t->rtmp(port => $port, app => 'live') } or next;
        $c->create_stream;
        my $start = time;
        $c->play($name);
        my $m = $c->wait_status(qr/^NetConnection\.Connect\.Rejected$/,
                                timeout => 5);
        push @ms, (time - $start) * 1000 if $m;
        $c->close;
    }
    return { n => scalar @ms, tries => scalar @names, p50 => pct(\@ms, 50),
             p99 => pct(\@ms, 99), max => pct(\@ms, 100) };
}

sub s10_coworkers {
    my ($confs) = @_;
    my @o = map { { port => $t->port, http => $t->port } } 1 .. $SCALE_ORIGINS;
    note "10: $SCALE_ORIGINS origins, each with the $#o others as coworkers";
    for my $i (0 .. $#o) {
        my @cw = map { "127.0.0.1:$o[$_]{http}" } grep { $_ != $i } 0 .. $#o;
        my $conf = ours_origin_conf(port => $o[$i]{port},
            http => $o[$i]{http}, coworkers => \@cw,
            app => 'cluster_lookup_cache 0 0;');
        $o[$i]{n} = start_nginx("s10-origin-$i", $conf,
                                ports => [$o[$i]{port}, $o[$i]{http}]);
        push @$confs, doc_conf("Ours: origin 0 of $SCALE_ORIGINS, with 31 "
            . 'coworkers (scenario 10; the others alike)', $conf,
            { ORIGIN0_RTMP => $o[0]{port}, ORIGIN0_HTTP => $o[0]{http},
              map { ("ORIGIN${_}_HTTP" => $o[$_]{http}) } 1 .. $#o })
            if $i == 0;
    }
    my @status;
    for my $i (0 .. $#o) {
        my ($pid, $st) = lease_publishers($t, $o[$i]{port}, "o$i-",
                                          $SCALE_STREAMS);
        own(BenchPid->new($pid));
        push @status, $st;
    }
    wait_until(sub { !grep { (publishers_status($_)->{started} // 0)
                             < $SCALE_STREAMS } @status }, 60)
        or die "10: the publishers did not all start\n";
    my $file = $t->tmp . '/s10-streams';
    open my $fh, '>', $file or die "$file: $!\n";
    for my $i (0 .. $#o) {
        print $fh "$i live o$i-$_\n" for 0 .. $SCALE_STREAMS - 1;
    }
    close $fh;

    # real lookups first: origin 0 asked to play streams it lacks, each
    # a distinct name (a miss of its lookup cache)
    note '10: play to 302 at origin 0 for one stream of each other origin';
    my $rtmp = s10_rtmp_lookups($o[0]{port}, map { "o$_-0" } 1 .. $#o);

    my @pids = map { pids_of($_->{n}) } @o;
    note "10: $SCALE_RATE lookups/s across the $SCALE_ORIGINS origins' "
         . "coworker API for $SCALE_SECONDS s";
    my $j = lookupload('-w', join(',', map { $_->{http} } @o), '-s', $file,
        '-r', $SCALE_RATE, '-d', $SCALE_SECONDS, '-M', 1024,
        '-C', join(',', @pids));
    $j->{rtmp_play_to_302} = $rtmp;
    $j->{origins_rss_kb} = rss_kb(@pids);
    note '10: coworkers: ', fmt($j->{lookups_per_s}), ' lookups/s, p50 ',
         fmt($j->{lookup_ms}{p50}), ' p99 ', fmt($j->{lookup_ms}{p99}), ' ms';

    # and at half the rate they held, for their latency unsaturated
    my $rate = max(10, int($j->{lookups_per_s} / 2));
    note "10: $rate lookups/s across the coworker API for $SCALE_SECONDS s";
    my $h = lookupload('-w', join(',', map { $_->{http} } @o), '-s', $file,
        '-r', $rate, '-d', $SCALE_SECONDS, '-M', 1024,
        '-C', join(',', @pids));
    note '10: coworkers at half: ', fmt($h->{lookups_per_s}),
         ' lookups/s, p50 ', fmt($h->{lookup_ms}{p50}), ' p99 ',
         fmt($h->{lookup_ms}{p99}), ' ms';

    # real lookups at that rate: RTMP plays at 4 origins, each of a stream
    # another one has; without a lookup cache each is a full lookup but
    # for those single flight joins to one in progress
    my @ask = (0 .. 3);
    my %st0 = map { ($_ => ($o[$_]{n}->status($o[$_]{http}, '/cluster')
                            // {})->{lookups} // {}) } @ask;
    my $t0 = cpu_ticks(@pids);
    my $w0 = time;
    my $load = loadavg();
    note "10: $rate RTMP plays/s at origins 0-3 for $SCALE_SECONDS s";
    my @rl = map { rtmpload(url => "rtmp://127.0.0.1:$o[$_]{port}/live/o"
                            . ($_ + 16) . '-0', n => ceil($rate / @ask
                            * $SCALE_SECONDS), rate => $rate / @ask,
                            d => 5, t => 5) } @ask;
    my @rj = map { rtmpload_result($_, timeout => $SCALE_SECONDS + 20) } @rl;
    my $el = time - $w0;
    my $cpu = (cpu_ticks(@pids) - $t0) / $HZ;
    my (@ms, @cms, %lk);
    for my $x (@rj) {
        for (grep { defined $_->{redirect_ms} } @{$x->{players}}) {
            push @ms, $_->{redirect_ms} - $_->{play_ms};
            push @cms, $_->{redirect_ms};
        }
    }
    for my $a (@ask) {
        my $l = ($o[$a]{n}->status($o[$a]{http}, '/cluster') // {})->{lookups}
                // {};
        $lk{$_} += ($l->{$_} // 0) - ($st0{$a}{$_} // 0)
            for qw(total cache_hits joined queries errors);
    }
    my $full = $lk{total} - $lk{cache_hits} - $lk{joined};
    my $p = { plays => scalar(map { @{$_->{players}} } @rj),
              redirected => scalar @ms, seconds => $el, rate_asked => $rate,
              play_to_302_ms => { n => scalar @ms, p50 => pct(\@ms, 50),
                                  p99 => pct(\@ms, 99),
                                  max => pct(\@ms, 100) },
              connect_to_302_ms => { n => scalar @cms,
                                     p50 => pct(\@cms, 50),
                                     p99 => pct(\@cms, 99),
                                     max => pct(\@cms, 100) },
              lookups => \%lk, full_lookups => $full, cpu_s => $cpu,
              loadavg => [$load, loadavg()] };
    note "10: RTMP plays: $p->{redirected}/$p->{plays} redirected, p50 ",
         fmt($p->{play_to_302_ms}{p50}), ' p99 ',
         fmt($p->{play_to_302_ms}{p99}), " ms, $full full lookups";
    return ($j, $h, $p);
}

sub s10_scale {
    die "build the lookup client first (make loadclient)\n"
        unless -x $LOOKUPLOAD;
    my (@confs, %raw, @rows);
    for my $n (@SCALE_LEASES) {
        $raw{"manager_$n"} = my $j = scoped(sub {
            s10_manager_size($n, \@confs) });
        my $req = $j->{requests} || 1;
        push @rows, [$n, sprintf('%s / %s', fmt($j->{lookups_per_s}),
                                 $SCALE_RATE),
            fmt($j->{requests_per_s}),
            fmt($j->{lookup_ms}{p50}), fmt($j->{lookup_ms}{p99}),
            fmt($j->{lookup_due_ms}{p99}),
            fmt($j->{renewals_in_window} / ($j->{seconds} || 1)),
            fmt($j->{renew_ms}{p99}),
            sprintf('%.3f', $j->{cpu_s} / $req * 1000),
            fmt($j->{manager_rss_kb} / 1024),
            sprintf('%.3f', $j->{cpu2_s} / $req * 1000),
            fmt($j->{redis_bytes_per_lease}),
            $j->{leases_lost}, join(' / ', @{$j->{loadavg}})];
    }
    my ($c, $h, $p) = scoped(sub { s10_coworkers(\@confs) });
    @raw{qw(coworkers coworkers_half rtmp_plays)} = ($c, $h, $p);

    # the same lookups, side by side
    my @cmp;
    my $big = $raw{"manager_$SCALE_LEASES[-1]"};
    if ($big) {
        my $lk = $big->{lookups} || 1;
        push @cmp, ["stream manager, $SCALE_LEASES[-1] leases renewed",
            sprintf('%s / %s', fmt($big->{lookups_per_s}), $SCALE_RATE),
            fmt($big->{lookup_ms}{p50}), fmt($big->{lookup_ms}{p99}),
            fmt($big->{lookup_due_ms}{p99}), 1,
            sprintf('%.3f', ($big->{cpu_s} + $big->{cpu2_s}) / $lk * 1000)
            . ' (renewals included)', join(' / ', @{$big->{loadavg}})];
    }
    for my $x ($c, $h) {
        my $lk = $x->{lookups} || 1;
        push @cmp, ["$SCALE_ORIGINS origins' coworker API"
            . ($x == $h ? ', at half the rate they held' : ''),
            sprintf('%s / %s', fmt($x->{lookups_per_s}),
                    fmt($x->{rate_asked})),
            fmt($x->{lookup_ms}{p50}), fmt($x->{lookup_ms}{p99}),
            fmt($x->{lookup_due_ms}{p99}), $SCALE_ORIGINS - 1,
            sprintf('%.3f', $x->{cpu_s} / $lk * 1000),
            join(' / ', @{$x->{loadavg}})];
    }
    push @cmp, ["$SCALE_ORIGINS origins, RTMP plays at 4 of them "
        . '(play to 302)', sprintf('%s / %s',
        fmt($p->{redirected} / $SCALE_SECONDS), fmt($p->{rate_asked})),
        fmt($p->{play_to_302_ms}{p50}), fmt($p->{play_to_302_ms}{p99}),
        'n/a', $SCALE_ORIGINS - 1, sprintf('%.3f', $p->{cpu_s}
        / ($p->{full_lookups} || 1) * 1000) . ' (askers included)',
        join(' / ', @{$p->{loadavg}})];
    my $r = $c->{rtmp_play_to_302};
    return {
        tables => [{
            head => ['leases', 'lookups/s done / asked', 'requests/s served',
                     'lookup p50 ms', 'lookup p99 ms',
                     'p99 from the time due, ms', 'batch renewals/s',
                     'renewal p99 ms', 'manager CPU-s per 1k requests',
                     'manager RSS MB', 'Redis CPU-s per 1k requests',
                     'Redis bytes per lease', 'leases lost',
                     'load average before / after'],
            rows => \@rows }, {
            head => ['lookups answered by', 'lookups/s done / asked',
                     'p50 ms', 'p99 ms', 'p99 from the time due, ms',
                     'requests per lookup', 'server CPU-s per 1k lookups',
                     'load average before / after'],
            rows => \@cmp }],
        raw => \%raw,
        configs => \@confs,
        notes => [
            'Ours only (stock nginx-rtmp has neither a stream manager nor '
            . 'coworkers).  The load client is `build/lookupload` '
            . '(bench/lookupload.c: C, epoll, one thread), on the same '
            . 'machine as everything it measures.',
            'Stream manager: a redis-server started for each size and a '
            . 'manager (nginx, 1 worker, `cluster_stream_manager '
            . 'redis=...`).  lookupload, as a population of origins on 128 '
            . 'keep-alive connections (one request in flight each; '
            . 'registrations and renewals on at most 64 of them, lookups '
            . 'on any), '
            . 'registers N leases (`POST /streams/bench/sI`), renews each '
            . "every TTL/3 (TTL ${SCALE_TTL} s, `cluster_lease_ttl`'s "
            . "default) in batches of $SCALE_BATCH (`PUT /streams/`, what "
            . 'origins send), each batch at its own phase of the interval, '
            . 'and once all are registered looks up random leased streams '
            . "(`GET /streams/bench/sI`) at $SCALE_RATE a second for "
            . "$SCALE_SECONDS s (BENCH_SCALE_SECONDS) while the renewals go "
            . 'on.  Requests/s: answers of every kind in that window.  '
            . 'Lookup latency: from the request written to its answer read; '
            . '"from the time due": from when the fixed rate called for it '
            . '(it includes the wait for a free connection).  CPU: utime + '
            . 'stime of the manager\'s master and worker and of '
            . 'redis-server over the window, per 1000 requests answered.  '
            . 'RSS: the manager\'s master + worker at the end.  Redis bytes '
            . 'per lease: `used_memory` at the end less before, over N.  '
            . 'Leases lost: leases registered whose key is missing from '
            . 'Redis at the end (`KEYS`), the window being longer than the '
            . 'TTL (a lease never renewed would be gone).',
            "Coworkers: $SCALE_ORIGINS origins of this module (one nginx, "
            . '1 worker each), each listing the '
            . ($SCALE_ORIGINS - 1) . ' others in `cluster_coworkers`; '
            . "$SCALE_STREAMS streams published at each (the test suite's "
            . 'RTMP client, one connection per stream, metadata once a '
            . 'second).  For each lookup, lookupload picks a published '
            . 'stream and an origin that lacks it, and sends what that '
            . 'origin\'s lookup sends: the SRS query `GET '
            . '/api/v1/clusters?vhost=__defaultVhost__&ip=...&app=live'
            . '&stream=NAME&coworker=HOST:PORT` to each of its '
            . ($SCALE_ORIGINS - 1) . ' coworkers at once, a new TCP '
            . 'connection each (the API closes it after its answer, as '
            . 'SRS does), at most 1024 connections open (33 lookups in '
            . 'flight).  Then again at half the rate that run held, for '
            . 'their latency below saturation.  Latency: until '
            . 'all ' . ($SCALE_ORIGINS - 1) . ' answered (an origin acts '
            . 'on the first positive answer and cancels the others: that '
            . 'one\'s p50/p99 were '
            . fmt($c->{first_found_ms}{p50}) . '/'
            . fmt($c->{first_found_ms}{p99}) . ' ms, and at half the rate '
            . fmt($h->{first_found_ms}{p50}) . '/'
            . fmt($h->{first_found_ms}{p99}) . ' ms).  Same rate asked, '
            . 'same duration as the manager\'s lookups; when the machine '
            . 'cannot start them at that rate, "done" says how many were.  '
            . 'CPU: the ' . $SCALE_ORIGINS . ' origins\' masters and '
            . 'workers over the window, per 1000 lookups; for the manager, '
            . 'its CPU and Redis\'s over its window (renewals included) '
            . 'per 1000 lookups.  The asking origin\'s own cost (its '
            . 'queries, its lookup cache) is not in these figures: the '
            . 'lookup cache and single flight live at the asker and merge '
            . 'repeated lookups of one stream there, so a real origin '
            . 'makes these queries only for distinct misses.',
            "RTMP plays: then, at the rate of the second run, rtmpload "
            . 'players at origins 0 to 3 (a quarter each, each origin '
            . 'playing one stream that another has), each redirected: '
            . 'latency from its `play` to the 302 `onStatus` (rtmpload\'s '
            . '`redirect_ms` less `play_ms`; from its TCP connect, p50/p99 '
            . fmt($p->{connect_to_302_ms}{p50}) . '/'
            . fmt($p->{connect_to_302_ms}{p99}) . ' ms).  The '
            . 'origins have `cluster_lookup_cache 0 0` (it only concerns '
            . 'lookups they make, not the API\'s answers), so each play is '
            . 'a full lookup of the 31 coworkers unless single flight '
            . 'joins it to one in progress: of '
            . ($p->{lookups}{total} // 0) . ' lookups, '
            . ($p->{lookups}{joined} // 0) . ' joined, '
            . ($p->{lookups}{cache_hits} // 0) . ' cache hits, '
            . ($p->{lookups}{queries} // 0) . ' coworker queries, '
            . ($p->{lookups}{errors} // 0) . ' errors (the askers\' '
            . 'status counters).  CPU: the 32 origins, askers included, '
            . 'from the first play to the last 302, per 1000 full '
            . "lookups; rtmpload's own is not counted.",
            'Real lookups, as a check: before the load, origin 0 was asked '
            . 'to play one stream of each other origin (distinct names: '
            . 'each a lookup cache miss, a full lookup across its '
            . ($SCALE_ORIGINS - 1) . ' coworkers), from the `play` sent '
            . "by the test suite's RTMP client to the 302 status: "
            . "$r->{n}/$r->{tries} redirected, p50 " . fmt($r->{p50})
            . ' ms, p99 ' . fmt($r->{p99}) . ' ms.',
            'Load average: the 1-minute figure of /proc/loadavg just '
            . 'before and just after each measurement, for the other work '
            . 'the machine had; the "after" figure includes the '
            . 'scenario\'s own load (the server, Redis and the client).  '
            . 'The client\'s own '
            . 'CPU is `client_cpu_s` in the raw results.',
            'The manager worker has one Redis connection: a lookup that '
            . 'arrives while a renewal script runs waits for it (the '
            . 'renewal latency column shows how long those take).',
            'Goal of issue 17: 100k leased streams held with 5k lookups/s '
            . 'at p99 under 10 ms.  '
            . ($big ? sprintf('In this run, with %d leases: %s lookups/s '
                . 'done of %s asked, p99 %s ms, %d leases lost: %s.',
                $SCALE_LEASES[-1], fmt($big->{lookups_per_s}), $SCALE_RATE,
                fmt($big->{lookup_ms}{p99}), $big->{leases_lost},
                ($SCALE_LEASES[-1] >= 100000 && $SCALE_RATE >= 5000
                 && $big->{lookups_per_s} >= 0.99 * $SCALE_RATE
                 && $big->{lookup_ms}{p99} < 10 && !$big->{leases_lost})
                ? 'met' : 'not met') : ''),
        ],
    };
}

###########################################################################
# Results: build/bench-results.json keeps every section with its own run
# date; docs/benchmarks.md is generated from it.

sub machine {
    my $cpu = ClusterTest::_read_file('/proc/cpuinfo');
    my ($model) = $cpu =~ /^model name\s*:\s*(.+)$/m;
    my $cores = () = $cpu =~ /^processor\s*:/mg;
    my (undef, undef, $nv) = $t->run(['/usr/sbin/nginx', '-v'], timeout => 5);
    my (undef, $rv) = $t->run(['dpkg-query', '-W', '-f', '${Version}',
                               'libnginx-mod-rtmp'], timeout => 5);
    my (undef, $kr) = $t->run(['uname', '-r'], timeout => 5);
    my ($mem) = ClusterTest::_read_file('/proc/meminfo')
                =~ /^MemTotal:\s+(\d+)/m;
    my (undef, $git) = $t->run(['git', '-C', $REPO, 'rev-parse', '--short',
                                'HEAD'], timeout => 5);
    chomp($nv, $kr, $git);
    # the module's own sources (top level), not the load client's
    my (undef, $dirty) = $t->run(['git', '-C', $REPO, 'status', '--porcelain',
        '--', ':(glob)*.c', ':(glob)*.h', 'config'], timeout => 5);
    $git .= ' with uncommitted changes' if $git && $dirty =~ /\S/;
    $nv =~ s/^nginx version:\s*//;
    return { cpu => $model // 'unknown', cores => $cores,
             memory_gb => $mem ? sprintf('%.0f', $mem / 1024 / 1024) : '?',
             kernel => $kr, nginx => $nv, nginx_rtmp => $rv || 'unknown',
             commit => $git || 'unknown' };
}

sub load_results {
    my $r = -s $RESULTS
        ? eval { JSON::PP->new->decode(ClusterTest::_read_file($RESULTS)) }
        : undef;
    $r = {} unless ref $r eq 'HASH';
    keep_doc_sections($r);
    return $r;
}

# "A; B (x; y); `c;`" -> labels, split on "; " outside brackets and code
sub split_labels {
    my ($s) = @_;
    my @l = ('');
    my ($depth, $code, $i) = (0, 0, 0);
    while ($i < length $s) {
        my $ch = substr $s, $i++, 1;
        $code = !$code if $ch eq '`';
        $depth += $ch eq '(' ? 1 : $ch eq ')' ? -1 : 0 unless $code;
        if (!$code && !$depth && $ch eq ';' && substr($s, $i, 1) eq ' ') {
            push @l, '';
            $i++;
            next;
        }
        $l[-1] .= $ch;
    }
    return @l;
}

# The sections of docs/benchmarks.md whose scenario the results lack (a
# tree without build/bench-results.json, or one made before a scenario
# was added) are kept as they are, with their configurations; so is the
# header when the results have no machine.
sub keep_doc_sections {
    my ($res) = @_;
    my $text = -s $DOC ? ClusterTest::_read_file($DOC) : return;
    my %conf;
    my ($cfg) = $text =~ /^## Configurations\n(.*)\z/ms;
    $cfg //= '';
    while ($cfg =~ /^### ([^\n]+)\n\n```nginx\n(.*?)\n```$/msg) {
        my ($head, $body) = ($1, $2);
        $conf{$_} = "$body\n" for split_labels($head);
    }
    while ($text =~ /^## (\d+)\. ([^\n]+)\n\n(.*?)(?=^## )/msg) {
        my ($k, $title, @lines) = ($1, $2, split /\n/, $3);
        next if $res->{scenarios}{$k} || !$SCENARIO{$k};
        my @configs;
        if (@lines && $lines[-1] =~ /^- Configurations: (.*) \(below\)\.$/) {
            pop @lines;
            @configs = map { { label => $_, text => $conf{$_} // '' } }
                           split_labels($1);
        }
        $res->{scenarios}{$k} = { title => $title, doc_md => \@lines,
                                  configs => \@configs,
                                  kept_from => 'docs/benchmarks.md' };
    }
    ($res->{doc_header}) = $text =~ /\A(.*?)^## \d+\. /ms
        unless $res->{machine};
}

sub save_results {
    my ($res) = @_;
    open my $fh, '>', "$RESULTS.tmp" or die "$RESULTS.tmp: $!\n";
    print $fh JSON::PP->new->pretty->canonical->encode($res);
    close $fh;
    rename "$RESULTS.tmp", $RESULTS or die "$RESULTS: $!\n";
}

sub md_table {
    my ($tb) = @_;
    my @l = ('| ' . join(' | ', @{$tb->{head}}) . ' |',
             '|' . join('|', map { '---' } @{$tb->{head}}) . '|');
    push @l, '| ' . join(' | ', map { $_ // '' } @$_) . ' |'
        for @{$tb->{rows}};
    return join "\n", @l;
}

sub write_doc {
    my ($res) = @_;
    my $m = $res->{machine} // {};
    my $media = $res->{media} // {};
    my @o;
    if (!$m->{cpu} && $res->{doc_header}) {
        # no machine in the results (--doc without a results file): the
        # header as it was
        push @o, split(/\n/, $res->{doc_header}), '';
    } else {
        push @o, '# Benchmarks', '',
            '<!-- Generated by bench/run.pl: do not edit by hand. -->', '',
            '**This file is generated by `bench/run.pl`; do not edit it by hand.** '
            . 'Regenerate it with `make bench` (every scenario) or '
            . '`perl bench/run.pl N ...` (some scenarios: the others keep '
            . 'their figures and run date from `build/bench-results.json`, '
            . 'which holds the raw numbers).',
            '',
            "Last run: $res->{date}, `$res->{command}`.  Every figure is "
            . 'measured in that run (or the run named in its section); none is '
            . 'written by hand.  Each scenario runs this module ("ours") and '
            . 'stock nginx-rtmp ("stock": plain `pull` relays, no cluster '
            . 'directives) side by side on 127.0.0.1, with the same nginx '
            . 'binary, on the same machine, in the same run.', '',
            '## Machine', '',
            '| | |', '|---|---|',
            "| CPU | $m->{cpu} |",
            "| cores | $m->{cores} |",
            "| memory | $m->{memory_gb} GB |",
            "| kernel | $m->{kernel} |",
            "| nginx | $m->{nginx} |",
            "| nginx-rtmp (libnginx-mod-rtmp) | $m->{nginx_rtmp} |",
            "| module commit | $m->{commit} |",
            "| media | $media->{description} (" . fmt($media->{mbit_per_s})
                . " Mbit/s on average), `$media->{file}`, published with "
                . '`ffmpeg -re -stream_loop -1 -i clip.flv -c copy -f flv '
                . 'rtmp://...` |',
            '',
            'Everything runs on this one machine: nginx instances, the '
            . 'ffmpeg publishers, and the load client `build/rtmpload` share '
            . "its $m->{cores} cores, and other work on the machine adds noise.  "
            . 'Read the figures as a comparison made under the same '
            . 'conditions, not as capacity figures.', '';
    }

    my %used;       # config text -> labels
    my @order;
    for my $k (sort { $a <=> $b } keys %{$res->{scenarios}}) {
        my $s = $res->{scenarios}{$k};
        push @o, "## $k. $s->{title}", '';
        push @o, $s->{doc_md}
            ? @{$s->{doc_md}}
            : ("_Run $s->{date}, module commit $s->{commit}, "
               . sprintf('%.0f s._', $s->{seconds} // 0), '');
        if ($s->{error}) {
            push @o, "**This scenario failed:** `$s->{error}`", '';
            next;
        }
        if (!$s->{doc_md}) {
            push @o, md_table($_), '' for @{$s->{tables}};
            push @o, '**Method.**', '';
            push @o, map { ("- $_") } @{$s->{notes}};
        }
        my @labels;
        for my $c (@{$s->{configs} // []}) {
            push @order, $c->{text} unless $used{$c->{text}};
            push @{$used{$c->{text}}}, $c->{label}
                unless grep { $_ eq $c->{label} } @{$used{$c->{text}} // []};
            push @labels, $c->{label};
        }
        my %seen;
        push @o, '- Configurations: ' . join('; ', grep { !$seen{$_}++ }
                                             @labels) . ' (below).'
            if @labels;
        push @o, '';
    }

    push @o, '## Configurations', '',
        'Each distinct configuration once, as the instances were started, '
        . 'with ports as placeholders (`{EDGE_RTMP}`...).  The harness '
        . "(`t/lib/ClusterTest.pm`) also puts nginx-rtmp's access log and "
        . 'the cluster socket directory in the instance\'s prefix '
        . '(`PREFIX`).', '';
    for my $text (@order) {
        push @o, '### ' . join('; ', @{$used{$text}}), '', '```nginx',
                 $text =~ s/\n+$//r, '```', '';
    }
    open my $fh, '>', "$DOC.tmp" or die "$DOC.tmp: $!\n";
    print $fh join("\n", @o);
    close $fh;
    rename "$DOC.tmp", $DOC or die "$DOC: $!\n";
}

sub print_section {
    my ($k, $s) = @_;
    print "\n== $k. $s->{title} ==\n";
    if ($s->{error}) { print "failed: $s->{error}\n"; return }
    for my $tb (@{$s->{tables}}) {
        my @all = ($tb->{head}, @{$tb->{rows}});
        my @w;
        for my $r (@all) {
            for my $i (0 .. $#$r) {
                my $l = length($r->[$i] // '');
                $w[$i] = $l if $l > ($w[$i] // 0);
            }
        }
        for my $r (@all) {
            print join('  ', map { sprintf '%-*s', $w[$_], $r->[$_] // '' }
                             0 .. $#$r), "\n";
        }
    }
}

###########################################################################
# main

make_media();
my $res = load_results();
$res->{scenarios} //= {};
my $machine = machine();
$res->{machine} = $machine;
delete $res->{doc_header};
$res->{media} = media_info();
$res->{date} = strftime('%Y-%m-%d %H:%M:%S %Z', localtime);
$res->{command} = join ' ', 'perl bench/run.pl', @ARGV;
delete $res->{scenarios}{$_} for grep { !$SCENARIO{$_} }
    keys %{$res->{scenarios}};

for my $k (@want) {
    my ($title, $code) = @{$SCENARIO{$k}};
    note "scenario $k: $title";
    my $start = time;
    my $s = eval { scoped($code) };
    if (!$s) {
        my $err = $@ || 'no result';
        $err =~ s/\s+$//;
        note "scenario $k failed: $err";
        $s = { error => (split /\n/, $err)[0], error_full => $err };
    }
    $s->{title} = $title;
    $s->{date} = strftime('%Y-%m-%d %H:%M:%S %Z', localtime);
    $s->{commit} = $machine->{commit};
    $s->{seconds} = time - $start;
    $res->{scenarios}{$k} = $s;
    save_results($res);
    write_doc($res);
    print_section($k, $s);
}

$t->stop_all;
note sprintf 'done in %.0f s; wrote %s and %s', time - $T0,
    'docs/benchmarks.md', 'build/bench-results.json';
