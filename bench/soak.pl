#!/usr/bin/perl

# A bounded fault run against an edge of this module, as an outside tester
# did by hand: players stay on one stream while edge workers are killed,
# the edge is reloaded and the origin in use is restarted.  It prints what
# the players saw and what the edge kept; nothing is asserted.
#
#   perl bench/soak.pl                 5 minutes
#   SOAK_SECONDS=90 perl bench/soak.pl a quick check
#   make soak                          the same, after building the module
#                                      and build/rtmpload
#
# Set-up, all on 127.0.0.1 with the harness of t/lib (every process is
# stopped at the end, also on Ctrl-C):
#   - two stock nginx-rtmp origins, each with ffmpeg publishing the test
#     clip in a loop as live/s;
#   - an edge with this module: 4 workers, cluster_reuseport on, both
#     origins (cluster_origin), worker_shutdown_timeout, /cluster status;
#   - SOAK_PLAYERS rtmpload players of live/s at the edge from the start.
#
# Faults, from the moment the first players play, until SOAK_SETTLE
# seconds before the end (then nothing happens until the end):
#   - every SOAK_KILL_EVERY s: kill -9 of a random active edge worker;
#   - every SOAK_RELOAD_EVERY s (first at SOAK_RELOAD_AT): SIGHUP to the
#     edge's master (nginx -s reload);
#   - every SOAK_ORIGIN_EVERY s (first at SOAK_ORIGIN_AT): the origin the
#     edge pulls from is stopped, then started again SOAK_ORIGIN_DOWN s
#     later and its publisher re-published.  With the defaults every
#     other restart begins 2 s after a reload, while the retired workers
#     are still exiting (worker_shutdown_timeout 10s).
# Players joining later, each batch its own rtmpload:
#   - SOAK_JOIN players 1 s after each reload, and as soon as a restarted
#     origin has the stream again;
#   - refills (SOAK_REFILL=1): 1 s after a kill, and when the exiting
#     workers' worker_shutdown_timeout has passed after a reload, as many
#     players as it takes to have SOAK_PLAYERS connected again.
#
# At the end the players are stopped (they write their JSON) and the
# script prints, and writes to build/soak-results.json:
#   - players disconnected: those whose connection was held by a killed
#     worker (from `ss -tnp` just before each kill, matched by the
#     player's local port and the time), those closed by
#     worker_shutdown_timeout in the workers a reload retired, others;
#   - players stalled at the end (connected, no media in the last
#     SOAK_STALL s) and connected without any video;
#   - late joiners that never got video, or got it only after SOAK_SLOW s;
#   - edge workers' RSS and open descriptors at the start, at the end and
#     once the players left; the zone (status JSON) after the players left
#     and cluster_linger expired; stale unix sockets (PID.N.sock of a dead
#     PID) in the edge's cluster_socket_dir; [alert]/[crit]/[error] lines.
#
# Environment (seconds unless said):
#   SOAK_SECONDS (300)  SOAK_PLAYERS (200)  SOAK_JOIN (50)
#   SOAK_KILL_EVERY (20)  SOAK_RELOAD_EVERY (60)  SOAK_RELOAD_AT (25)
#   SOAK_ORIGIN_EVERY (40)  SOAK_ORIGIN_AT (27)  SOAK_ORIGIN_DOWN (5)
#   SOAK_SETTLE (15)  SOAK_SHUTDOWN_TIMEOUT (10)  SOAK_STALL (5)
#   SOAK_SLOW (2)
#   SOAK_PLAYER_TIMEOUT (30: rtmpload -t, players waiting longer for their
#   first video give up)  SOAK_REFILL (1)  SOAK_SEED (random)
#   SOAK_RESULTS (build/soak-results.json)  TEST_KEEP=1 keeps the prefixes

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../t/lib";

BEGIN { delete $ENV{CLUSTER_MERGE_WRITES} }

use JSON::PP ();
use List::Util qw(max min sum0);
use POSIX qw(ceil strftime);
use Time::HiRes qw(time sleep);

use ClusterTest;
use ClusterConf;

sub env { my ($k, $d) = @_; return $ENV{$k} // $d }

my %C = (
    seconds          => env('SOAK_SECONDS', 300),
    players          => env('SOAK_PLAYERS', 200),
    join             => env('SOAK_JOIN', 50),
    kill_every       => env('SOAK_KILL_EVERY', 20),
    reload_every     => env('SOAK_RELOAD_EVERY', 60),
    reload_at        => env('SOAK_RELOAD_AT', 25),
    origin_every     => env('SOAK_ORIGIN_EVERY', 40),
    origin_at        => env('SOAK_ORIGIN_AT', 27),
    origin_down      => env('SOAK_ORIGIN_DOWN', 5),
    settle           => env('SOAK_SETTLE', 15),
    shutdown_timeout => env('SOAK_SHUTDOWN_TIMEOUT', 10),
    stall            => env('SOAK_STALL', 5),
    slow             => env('SOAK_SLOW', 2),
    player_timeout   => env('SOAK_PLAYER_TIMEOUT', 30),
    refill           => env('SOAK_REFILL', 1),
    seed             => env('SOAK_SEED', int(time * 1000) % 1000003),
    workers          => 4,
    linger           => 5,      # cluster_linger's default
);
srand $C{seed};

my $t = ClusterTest->new;
my $REPO = ClusterTest->repo;
my $RTMPLOAD = "$REPO/build/rtmpload";
my $RESULTS = env('SOAK_RESULTS', "$REPO/build/soak-results.json");
die "build the module first (make)\n" unless $t->have_module;
die "build the load client first (make loadclient)\n" unless -x $RTMPLOAD;

my $START = time;
my $T0;             # when the first players play: the faults' clock
sub rel  { return defined $T0 ? time - $T0 : 0 }
sub note {
    printf STDERR "[%6.1fs] %s\n", defined $T0 ? rel() : -(time - $START),
        join '', @_;
}

###########################################################################
# The cluster

my ($A, $B, $EP, $EH) = map { $t->port } 1 .. 4;
my $CLIP = $t->media;

my %ORIGIN;         # port => { nginx, pub, up }
for my $p ($A, $B) {
    $ORIGIN{$p}{nginx} = $t->nginx("origin-$p", origin_conf($p),
                                   ports => [$p], cluster => 0);
    publish_origin($p);
}
wait_stream($_) for $A, $B;

my $edge_conf = edge_conf(port => $EP, http => $EH, workers => $C{workers},
    origins => ["127.0.0.1:$A", "127.0.0.1:$B"],
    rtmp => 'cluster_reuseport on;',
    main => "worker_shutdown_timeout $C{shutdown_timeout}s;\n"
            . 'worker_rlimit_nofile 20000;');
$edge_conf =~ s/^events \{\}/events { worker_connections 8192; }/m;
my $EDGE = $t->nginx('edge', $edge_conf, ports => [$EP, $EH]);
$t->wait_until(sub { $EDGE->worker_pids == $C{workers} }, timeout => 10)
    or die "the edge did not start $C{workers} workers\n";
my $SOCK_DIR = $EDGE->prefix . '/sock';

sub publish_origin {
    my ($p) = @_;
    $ORIGIN{$p}{pub} = $t->publish("rtmp://127.0.0.1:$p/live/s",
                                   media => $CLIP);
    $ORIGIN{$p}{up} = 1;
}

# the origin has the stream once a plain client gets video from it
sub wait_stream {
    my ($p) = @_;
    return $t->wait_until(sub {
        my $c = eval { $t->rtmp_play($p, 'live', 's', wait => 1) }
            or return 0;
        my $v = wait_video($c, count => 1, timeout => 5);
        $c->close;
        return $v;
    }, timeout => 30, interval => 0.3);
}

sub edge_status { return $EDGE->status($EH, '/cluster', timeout => 10) }

# the origin the owner of live/s pulls from (a port), or undef
sub origin_in_use {
    my $st = edge_status() or return undef;
    my ($h) = grep { $_->{name} eq 's' } @{$st->{hosted} // []};
    my @pull = grep { ($_->{kind} // '') eq 'pull'
                      && ($_->{origin} // '') =~ /^127\.0\.0\.1:(\d+)$/ }
               stream_status($st, 's');
    my ($own) = grep { $h && $h->{owner} && $_->{worker} == $h->{owner} }
                @pull;
    my $r = $own // $pull[0] or return undef;
    return $r->{origin} =~ /:(\d+)$/ ? $1 : undef;
}

###########################################################################
# Players: groups of rtmpload players

my @GROUPS;
my $NGROUP = 0;

sub start_players {
    my ($n, $kind, $label) = @_;
    my $id = ++$NGROUP;
    my $json = $t->tmp . "/players-$id.json";
    my @cmd = ($RTMPLOAD, '-u', "rtmp://127.0.0.1:$EP/live/s", '-n', $n,
               '-d', 100000, '-t', $C{player_timeout}, '-g', 1000,
               '-j', $json, '-q');
    push @cmd, '-r', 100 if $n > 100;
    my $g = { id => $id, kind => $kind, label => $label, n => $n,
              t => rel(), json => $json,
              proc => $t->spawn(\@cmd, name => "rtmpload-$id") };
    push @GROUPS, $g;
    note "$n players join ($label)";
    return $g;
}

# established player connections at the edge: { worker pid => [ports] }
sub edge_conns {
    my %by;
    for (`ss -tnpH state established '( sport = :$EP )' 2>/dev/null`) {
        my ($peer) = /127\.0\.0\.1:$EP\s+\S+:(\d+)\s/ or next;
        push @{$by{$1}}, $peer + 0 while /pid=(\d+)/g;
    }
    return \%by;
}

sub n_conns {
    my $c = edge_conns();
    my %ports = map { $_ => 1 } map { @$_ } values %$c;
    return scalar keys %ports;
}

###########################################################################
# Faults and joins: a queue of [time, name, code] run in time order

my @QUEUE;
my @EVENTS;         # what happened, for the analysis and the JSON
my $FAULT_END = $C{seconds} - $C{settle};

sub at {
    my ($when, $name, $code) = @_;
    push @QUEUE, [$when, $name, $code];
    @QUEUE = sort { $a->[0] <=> $b->[0] } @QUEUE;
}

sub event {
    my (%e) = @_;
    $e{t} = rel();
    $e{abs} = time;
    push @EVENTS, \%e;
    return \%e;
}

sub refill {
    my ($label) = @_;
    return unless $C{refill};
    my $n = $C{players} - n_conns();
    start_players($n, 'refill', "refill after $label") if $n > 0;
}

sub do_kill {
    my @w = $EDGE->worker_pids;
    if (!@w) { note 'kill: no active worker'; return }
    my $pid = $w[int rand @w];
    my $conns = edge_conns();
    my @ports = @{$conns->{$pid} // []};
    kill 'KILL', $pid;
    my $e = event(type => 'kill', pid => $pid, ports => \@ports,
                  players => scalar @ports);
    note "kill -9 worker $pid (holding ", scalar @ports, ' players)';
    my $k = grep { $_->{type} eq 'kill' } @EVENTS;
    at(rel() + 1, 'refill', sub { refill("kill $k") });
}

sub do_reload {
    my $conns = edge_conns();
    my %old = map { $_ => 1 } $EDGE->all_child_pids;
    my @ports = map { @{$conns->{$_}} } grep { $old{$_} } keys %$conns;
    my $ok = $EDGE->reload(timeout => 15);
    my $e = event(type => 'reload', ports => \@ports,
                  players => scalar @ports, ok => $ok ? 1 : 0);
    note 'reload', $ok ? '' : ' (new workers not seen in 15 s)',
         ': ', scalar @ports, ' players on the old workers';
    my $r = grep { $_->{type} eq 'reload' } @EVENTS;
    at(rel() + 1, 'join', sub {
        start_players($C{join}, 'join', "join after reload $r");
    });
    at(rel() + $C{shutdown_timeout} + 1.5, 'refill',
       sub { refill("reload $r") });
}

sub do_origin_down {
    my $p = origin_in_use();
    my $how = 'in use';
    if (!defined $p) {
        ($p) = grep { $ORIGIN{$_}{up} } $A, $B;
        $how = 'in use unknown (status), picked';
    }
    return note 'origin restart: both origins down' unless defined $p;
    my $o = $ORIGIN{$p};
    $o->{nginx}->stop;
    $o->{pub}->stop;
    $o->{up} = 0;
    event(type => 'origin_down', port => $p, how => $how);
    note "origin 127.0.0.1:$p ($how) stopped";
    at(rel() + $C{origin_down}, 'origin_up', sub { origin_up($p) });
}

sub origin_up {
    my ($p) = @_;
    my $o = $ORIGIN{$p};
    $o->{nginx}->start;
    publish_origin($p);
    my $ok = wait_stream($p);
    event(type => 'origin_up', port => $p, stream => $ok ? 1 : 0);
    note "origin 127.0.0.1:$p started and re-published",
         $ok ? '' : ' (no video from it in 30 s)';
    my $r = grep { $_->{type} eq 'origin_up' } @EVENTS;
    start_players($C{join}, 'join', "join after origin restart $r");
}

###########################################################################
# Measuring the edge

sub proc_info {
    my ($pid) = @_;
    my $rss = 0;
    if (open my $fh, '<', "/proc/$pid/status") {
        while (my $l = <$fh>) { $rss = $1 if $l =~ /^VmRSS:\s+(\d+)/ }
    }
    my $fds = 0;
    if (opendir my $dh, "/proc/$pid/fd") {
        $fds = grep { /^\d+$/ } readdir $dh;
    }
    return { pid => $pid, rss_kb => $rss, fds => $fds };
}

sub edge_procs {
    my %active = map { $_ => 1 } $EDGE->worker_pids;
    my @w = map { +{ %{proc_info($_)}, active => $active{$_} ? 1 : 0 } }
            $EDGE->all_child_pids;
    return { workers => \@w,
             active => scalar(grep { $_->{active} } @w),
             exiting => scalar(grep { !$_->{active} } @w),
             rss_kb => sum0(map { $_->{rss_kb} } @w),
             fds => sum0(map { $_->{fds} } @w),
             master => proc_info($EDGE->pid) };
}

sub sockets {
    my @s;
    if (opendir my $dh, $SOCK_DIR) {
        for (sort readdir $dh) {
            next unless /^(\d+)\.(\d+)\.sock$/;
            push @s, { file => $_, pid => $1 + 0,
                       alive => ClusterTest::_pid_alive($1) ? 1 : 0 };
        }
    }
    my @stale = grep { !$_->{alive} } @s;
    return { total => scalar @s, stale => scalar @stale,
             stale_pids => [map { $_->{pid} } @stale] };
}

sub zone {
    my $st = edge_status() or return { error => 'no status' };
    return { streams => scalar @{$st->{streams} // []},
             hosted => scalar @{$st->{hosted} // []},
             published => scalar @{$st->{published} // []},
             stream_states => [map { "$_->{kind}/$_->{state}"
                                      . " worker $_->{worker}" }
                               @{$st->{streams} // []}] };
}

###########################################################################
# The run

note "origins 127.0.0.1:$A and :$B, edge 127.0.0.1:$EP (status :$EH), ",
     "seed $C{seed}";
my $initial = start_players($C{players}, 'initial', 'initial players');
$t->wait_until(sub {
    my ($h) = grep { $_->{name} eq 's' } @{(edge_status() // {})->{hosted}
                                            // []};
    $h && $h->{players} >= $C{players};
}, timeout => 30) or note 'not every initial player is at the edge';
$T0 = time;
$initial->{t} = 0;
sleep 2;            # media flowing
my %SNAP = (start => { procs => edge_procs(), sockets => sockets() });
note "start: $SNAP{start}{procs}{active} workers, RSS ",
     kb($SNAP{start}{procs}{rss_kb}), ", $SNAP{start}{procs}{fds} fds";

for (my $s = $C{kill_every}; $s < $FAULT_END; $s += $C{kill_every}) {
    at($s, 'kill', \&do_kill);
}
for (my $s = $C{reload_at}; $s < $FAULT_END; $s += $C{reload_every}) {
    at($s, 'reload', \&do_reload);
}
for (my $s = $C{origin_at}; $s < $FAULT_END; $s += $C{origin_every}) {
    at($s, 'origin_down', \&do_origin_down);
}

while (rel() < $C{seconds}) {
    if (@QUEUE && $QUEUE[0][0] <= rel()) {
        my $e = shift @QUEUE;
        # late consequences (an origin coming back) run whatever the time
        $e->[2]->() if $e->[0] < $C{seconds} || $e->[1] eq 'origin_up';
        next;
    }
    my $next = @QUEUE ? min($QUEUE[0][0], $C{seconds}) : $C{seconds};
    sleep(max(0.02, min(0.5, $next - rel())));
}
# an origin still down comes back now
$_->[2]->() for grep { $_->[1] eq 'origin_up' } splice @QUEUE;

note 'end: stopping the players';
$SNAP{end} = { procs => edge_procs(), sockets => sockets(),
               zone => zone(), conns => n_conns() };
my $stopped = time;
$_->{proc}->stop(timeout => 10) for @GROUPS;

# the zone once the players left and cluster_linger expired
my $settled = $t->wait_until(sub {
    my $z = zone();
    return (!$z->{error} && $z->{streams} == 0 && $z->{hosted} == 0
            && time - $stopped > $C{linger} + 1) ? $z : 0;
}, timeout => $C{linger} + $C{shutdown_timeout} + 15, interval => 0.5);
$SNAP{idle} = { procs => edge_procs(), sockets => sockets(),
                zone => $settled || zone(), after_s => time - $stopped };

###########################################################################
# Analysis

my %KILLS;          # port => [kill events]
my %RELOADS;
for my $e (@EVENTS) {
    my $h = $e->{type} eq 'kill' ? \%KILLS
          : $e->{type} eq 'reload' ? \%RELOADS : next;
    push @{$h->{$_}}, $e for @{$e->{ports}};
}

# the last event before $abs: "kill +0.3 s"
sub after_event {
    my ($abs) = @_;
    my ($e) = grep { $_->{abs} <= $abs } reverse @EVENTS;
    return 'no event before' unless $e;
    return sprintf '%s +%.1f s', $e->{type}, $abs - $e->{abs};
}

my (@players, @other);
for my $g (@GROUPS) {
    my $j = eval { JSON::PP->new->decode(
        ClusterTest::_read_file($g->{json})) };
    if (!$j) {
        note "group $g->{id} ($g->{label}) wrote no JSON";
        $g->{missing} = 1;
        next;
    }
    for my $p (@{$j->{players}}) {
        my $start = $j->{start_unix} + $p->{start_ms} / 1000;
        my $end = defined $p->{end_ms} ? $start + $p->{end_ms} / 1000 : undef;
        my %r = (group => $g, port => $p->{local_port}, start => $start,
                 end => $end, reason => $p->{end_reason},
                 video => defined $p->{first_video_ms},
                 ttfv => $p->{first_video_ms},
                 last_media => defined $p->{last_media_ms}
                     ? $start + $p->{last_media_ms} / 1000 : undef);
        if (defined $r{reason}) {
            $r{why} = classify(\%r);
        }
        push @players, \%r;
        push @other, \%r if ($r{why} // '') eq 'other';
    }
}

sub classify {
    my ($r) = @_;
    return 'gave up' if $r->{reason} eq 'no video in time';
    if (defined $r->{port}) {
        for my $k (@{$KILLS{$r->{port}} // []}) {
            return 'killed' if $r->{start} <= $k->{abs}
                && $r->{end} >= $k->{abs} - 0.5 && $r->{end} <= $k->{abs} + 5;
        }
        for my $k (@{$RELOADS{$r->{port}} // []}) {
            return 'reload' if $r->{start} <= $k->{abs}
                && $r->{end} >= $k->{abs}
                && $r->{end} <= $k->{abs} + $C{shutdown_timeout} + 5;
        }
    }
    return 'other';
}

sub count_by {
    my ($f, @l) = @_;
    my %n;
    $n{$f->($_)}++ for @l;
    return \%n;
}

sub pct {
    my ($p, @v) = @_;
    return undef unless @v;
    @v = sort { $a <=> $b } @v;
    my $i = ceil($p / 100 * @v) - 1;
    return $v[$i < 0 ? 0 : $i];
}

my @ended = grep { defined $_->{reason} } @players;
my @disc = grep { $_->{why} ne 'gave up' } @ended;
my @alive = grep { !defined $_->{reason} } @players;
my @stalled = grep { $_->{video} && defined $_->{last_media}
                     && $_->{end} - $_->{last_media} > $C{stall} } @alive;
my @alive_novideo = grep { !$_->{video} } @alive;
my @late = grep { $_->{group}{kind} ne 'initial' } @players;
my @late_novideo = grep { !$_->{video} } @late;
# connected at least SOAK_STALL s and still no video
my @late_novideo_long = grep {
    ($_->{end} // $stopped) - $_->{start} >= $C{stall} } @late_novideo;
my @late_slow = grep { $_->{video} && $_->{ttfv} > $C{slow} * 1000 } @late;

my %R = (
    config => \%C,
    date => strftime('%Y-%m-%d %H:%M:%S %Z', localtime),
    ports => { origins => [$A, $B], edge => $EP, status => $EH },
    events => [map { my %e = %$_; delete $e{abs}; $e{ports} = scalar
                     @{$e{ports} // []} if $e{ports}; \%e } @EVENTS],
    players => {
        total => scalar @players,
        initial => scalar(grep { $_->{group}{kind} eq 'initial' } @players),
        late => scalar @late,
        initial_connected_at_end => scalar(grep {
            $_->{group}{kind} eq 'initial' } @alive),
        connected_at_end => scalar @alive,
    },
    disconnected => {
        total => scalar @disc,
        killed_worker => scalar(grep { $_->{why} eq 'killed' } @disc),
        reload_shutdown_timeout => scalar(grep { $_->{why} eq 'reload' }
                                          @disc),
        other => scalar @other,
        other_by_reason => count_by(sub { $_[0]{reason} }, @other),
        other_by_event => count_by(sub {
            my $s = after_event($_[0]{end});
            $s =~ s/ \+[\d.]+ s$//; $s }, @other),
        other_list => [map { +{ group => $_->{group}{label},
                               reason => $_->{reason},
                               at => sprintf('%.1f', $_->{end} - $T0),
                               after => after_event($_->{end}),
                               port => $_->{port} } } @other],
    },
    gave_up_waiting_for_video => scalar(grep { $_->{why} eq 'gave up' }
                                        @ended),
    stalled_at_end => scalar @stalled,
    connected_without_video_at_end => scalar @alive_novideo,
    late_joiners_without_video => scalar @late_novideo,
    late_joiners_without_video_connected_5s => scalar @late_novideo_long,
    late_joiners_slow_first_video => scalar @late_slow,
    groups => [map {
        my $g = $_;
        my @p = grep { $_->{group} == $g } @players;
        my @v = map { $_->{ttfv} } grep { $_->{video} } @p;
        +{ label => $g->{label}, kind => $g->{kind},
          t => sprintf('%.1f', $g->{t}), n => $g->{n},
          missing_json => $g->{missing} ? 1 : 0,
          video => scalar @v,
          ttfv_p50_ms => pct(50, @v), ttfv_max_ms => max(@v) // undef,
          killed => scalar(grep { ($_->{why} // '') eq 'killed' } @p),
          reload => scalar(grep { ($_->{why} // '') eq 'reload' } @p),
          other => scalar(grep { ($_->{why} // '') eq 'other' } @p),
          gave_up => scalar(grep { ($_->{why} // '') eq 'gave up' } @p),
          connected_at_end => scalar(grep { !defined $_->{reason} } @p),
          stalled_at_end => scalar(grep { my $x = $_;
                                          grep { $_ == $x } @stalled } @p) }
    } @GROUPS],
    edge => \%SNAP,
    edge_log => log_counts(),
);

sub log_counts {
    my @l = split /\n/, $EDGE->error_log_text;
    my %n = (alert => 0, crit => 0, error => 0);
    my %msg;
    for (@l) {
        my ($lvl) = /\[(alert|crit|error)\]/ or next;
        next if /exited on signal 9/;
        $n{$lvl}++;
        (my $m = $_) =~ s/^.*?\[\w+\] \d+#\d+: (?:\*\d+ )?//;
        $m =~ s/\d+/N/g;
        $m = substr($m, 0, 120);
        $msg{"[$lvl] $m"}++;
    }
    my @top = sort { $msg{$b} <=> $msg{$a} } keys %msg;
    $n{top} = [map { "$msg{$_} x $_" } @top[0 .. min(7, $#top)]];
    $n{killed_by_signal_9} = grep { /exited on signal 9/ } @l;
    return \%n;
}

sub kb { return sprintf '%.1f MB', $_[0] / 1024 }

open my $fh, '>', "$RESULTS.tmp" or die "$RESULTS.tmp: $!\n";
print $fh JSON::PP->new->pretty->canonical->encode(\%R);
close $fh;
rename "$RESULTS.tmp", $RESULTS or die "$RESULTS: $!\n";

###########################################################################
# Report

my $d = $R{disconnected};
my %ev = %{count_by(sub { $_[0]{type} }, @EVENTS)};
printf "\n== soak: %d s, %d players, edge with %d workers (seed %d) ==\n",
    $C{seconds}, $C{players}, $C{workers}, $C{seed};
printf "faults          %d kills, %d reloads, %d origin restarts "
    . "(faults until %d s, then %d s quiet)\n",
    $ev{kill} // 0, $ev{reload} // 0, $ev{origin_down} // 0,
    $FAULT_END, $C{settle};
printf "players         %d: %d initial + %d joined later in %d groups; "
    . "%d connected at the end (%d of the initial ones)\n",
    scalar @players, $R{players}{initial}, scalar @late, @GROUPS - 1,
    scalar @alive, $R{players}{initial_connected_at_end};
printf "disconnected    %d\n", $d->{total};
printf "  on a killed worker (expected)                         %d\n",
    $d->{killed_worker};
printf "  closed by worker_shutdown_timeout %ss after a reload   %d\n",
    $C{shutdown_timeout}, $d->{reload_shutdown_timeout};
printf "  others (goal 0)                                       %d\n",
    $d->{other};
if (@other) {
    my $br = $d->{other_by_reason};
    my $be = $d->{other_by_event};
    printf "    by reason: %s\n", join ', ',
        map { "$_ $br->{$_}" } sort { $br->{$b} <=> $br->{$a} } keys %$br;
    printf "    by the last event before: %s\n", join ', ',
        map { "$_ $be->{$_}" } sort { $be->{$b} <=> $be->{$a} } keys %$be;
}
printf "gave up         %d (no video within %d s of play: rtmpload -t)\n",
    $R{gave_up_waiting_for_video}, $C{player_timeout};
printf "stalled at end  %d of %d connected: no media in the last %d s "
    . "(goal 0)\n", scalar @stalled, scalar @alive, $C{stall};
printf "no video at end %d connected players never got video\n",
    scalar @alive_novideo;
printf "late joiners without video  %d of %d (%d of them connected at "
    . "least %d s) (goal 0)\n", scalar @late_novideo, scalar @late,
    scalar @late_novideo_long, $C{stall};
printf "late joiners with video only after %s s  %d of %d (goal 0)\n",
    $C{slow}, scalar @late_slow, scalar @late;

print "\ngroups (t: seconds since the faults' start)\n";
my @head = ('t', 'group', 'n', 'video', 'ttfv p50 ms', 'ttfv max ms',
            'killed', 'reload', 'other', 'gave up', 'at end', 'stalled');
my @rows = map { [$_->{t}, $_->{label}, $_->{n}, $_->{video},
                  fmt($_->{ttfv_p50_ms}), fmt($_->{ttfv_max_ms}),
                  $_->{killed}, $_->{reload}, $_->{other}, $_->{gave_up},
                  $_->{connected_at_end}, $_->{stalled_at_end}] }
           @{$R{groups}};
table(\@head, @rows);

print "\nedge\n";
for my $k (qw(start end idle)) {
    my $p = $SNAP{$k}{procs};
    printf "  %-5s  %d workers (+%d exiting): RSS %s [%s], fds %d [%s]; "
        . "master RSS %s, fds %d\n", $k, $p->{active}, $p->{exiting},
        kb($p->{rss_kb}),
        join(' ', map { sprintf '%.1f', $_->{rss_kb} / 1024 }
                  @{$p->{workers}}), $p->{fds},
        join(' ', map { $_->{fds} } @{$p->{workers}}),
        kb($p->{master}{rss_kb}), $p->{master}{fds};
}
my $z = $SNAP{idle}{zone};
printf "  zone %.0f s after the players left (cluster_linger %d s): "
    . "%s\n", $SNAP{idle}{after_s}, $C{linger},
    $z->{error} ? $z->{error}
    : "streams $z->{streams}, hosted $z->{hosted}, published "
      . "$z->{published}"
      . (@{$z->{stream_states}} ? ' (' . join(', ',
            @{$z->{stream_states}}[0 .. min(5, $#{$z->{stream_states}})])
            . ')' : '');
my $s = $SNAP{idle}{sockets};
printf "  cluster_socket_dir: %d sockets, %d stale (pid dead)%s\n",
    $s->{total}, $s->{stale},
    $s->{stale} ? ': ' . join(' ', @{$s->{stale_pids}}) : '';
my $l = $R{edge_log};
printf "  error log: %d [alert], %d [crit], %d [error] (besides %d "
    . "\"exited on signal 9\")\n", $l->{alert}, $l->{crit}, $l->{error},
    $l->{killed_by_signal_9};
print "    $_\n" for @{$l->{top}};
printf "\nwrote %s in %.0f s\n", $RESULTS =~ s{^\Q$REPO\E/}{}r,
    time - $START;

sub fmt {
    my ($v) = @_;
    return '-' unless defined $v;
    return sprintf '%.0f', $v;
}

sub table {
    my ($head, @rows) = @_;
    my @w;
    for my $r ($head, @rows) {
        for my $i (0 .. $#$r) {
            my $n = length($r->[$i] // '');
            $w[$i] = $n if $n > ($w[$i] // 0);
        }
    }
    for my $r ($head, @rows) {
        print '  ', join('  ', map { sprintf '%-*s', $w[$_], $r->[$_] // '' }
                               0 .. $#$r), "\n";
    }
}

$t->stop_all;
