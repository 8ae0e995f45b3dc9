package ClusterTest;

# Test harness for ngx_rtmp_cluster, in the spirit of nginx-tests:
# starts nginx instances in a private temp dir, hands out free ports,
# runs ffmpeg/ffprobe with hard time limits, and always cleans up.
#
#   use lib 't/lib';
#   use ClusterTest;
#   my $t = ClusterTest->new;
#   my $port = $t->port;
#   my $n = $t->nginx('origin', $conf, ports => [$port]);
#
# Config text placeholders (write_conf/nginx/nginx_t):
#   %%LOAD_MODULES%%   load_module lines (rtmp, plus the cluster module
#                      unless cluster => 0)
#   %%PREFIX%%         the instance prefix ($tmp/$name)
#   %%TMP%%            the test's temp dir
#   %%HTTP_DEFAULTS%%  access_log and *_temp_path inside the prefix (use it
#                      in http { } so nothing is written under /var)
# A config must set `pid logs/nginx.pid;` (any pid path works) and should
# log to logs/error.log, which is what error_log_text/check_logs read.
#
# Environment:
#   TEST_TMPDIR     parent of the temp dir (default /tmp)
#   TEST_KEEP       keep the temp dir (and print where it is)
#   TEST_SLOW       a factor for time limits on a slow or loaded machine
#                   (default 1): see slow() below
#   CLUSTER_MODULE  path of the cluster module .so
#   NGINX_BINARY    nginx binary (default /usr/sbin/nginx)
#   RTMP_MODULE     nginx-rtmp module .so
#   CLUSTER_SANITIZE_DIR
#                   the sanitizer lane (make test-asan): CLUSTER_MODULE is
#                   built with -fsanitize=address,undefined; every nginx
#                   started here (start, reload, nginx_t) runs with libasan
#                   and ubsan-options.so (built next to the module from
#                   t/lib/ubsan-options.c) in LD_PRELOAD, ASAN_OPTIONS and
#                   UBSAN_OPTIONS.  Reports go under DIR/<test file>/:
#                   ASan's as asan.PID, and what reached an nginx's stderr
#                   (its error log; UBSan's reports always do, as libasan
#                   takes over UBSan's log_path) is copied to stderr.NAME.
#                   check_logs then also fails when a report appeared
#                   during the test file, and so does the file's exit code
#                   when one appeared after the last check (at shutdown).
#                   DIR must be writable by the workers' user (mode 1777).
#                   ffmpeg, ffprobe, redis-server and the test itself run
#                   without any of it.
#   CLUSTER_SANITIZE_PRELOAD
#                   LD_PRELOAD of that lane (default: the libasan
#                   `gcc -print-file-name=libasan.so` names, and
#                   ubsan-options.so in the directory of CLUSTER_MODULE)
#
# A test file that fails (a failed assertion, a plan not met, or a die)
# gets, before its temp dir is removed, the configuration of every nginx
# it started (conf/nginx.conf, placeholders expanded) as diagnostics,
# each under the instance's name.

use strict;
use warnings;

use Carp qw(croak);
use Cwd qw(abs_path);
use Errno ();
use Exporter qw(import);
use Fcntl qw(:flock);
use File::Basename qw(dirname);
use File::Path qw(make_path remove_tree);
use File::Temp qw(tempdir);
use HTTP::Tiny;
use IO::Socket::IP;
use JSON::PP ();
use POSIX qw(WNOHANG _exit);
use Scalar::Util qw(weaken);
use Socket qw(SOL_SOCKET SO_REUSEADDR);
use Test::More ();
use Time::HiRes qw(time sleep);

use RTMP::Client;

our @EXPORT = qw(slow);

our $NGINX       = $ENV{NGINX_BINARY} // '/usr/sbin/nginx';
our $RTMP_MODULE = $ENV{RTMP_MODULE}  // '/usr/lib/nginx/modules/ngx_rtmp_module.so';
our $REPO        = abs_path(dirname(__FILE__) . '/../..');

my @LIVE;           # weak refs to every ClusterTest object of this process
my %USED_PORTS;     # ports handed out in this process

# the exit code of the test file, in END; the configurations of the
# nginx instances of ClusterTest objects cleaned up
our $EXIT = 0;
my @CONFS;

# sanitizer lane: this test file's report directory, the process that owns
# it, and the size of each report file already checked
our $SANITIZE_DIR = $ENV{CLUSTER_SANITIZE_DIR};
my ($SAN_DIR, $SAN_PID, %SAN_SEEN);

### time limits under load

# slow($seconds): $seconds * TEST_SLOW (default 1), exported.
#
# Every upper bound a test puts on an elapsed time goes through it:
# cmp_ok(time - $start, '<', slow(1)), or, where the bound is a
# configured duration plus slack, 0.5 + slow(0.7).  A bound that asserts
# a design property ("within the retry timeout") stays, scaled; lower
# bounds ("not before the retry timeout") and configured durations are
# not scaled.  The defaults leave room for a loaded 2-core machine;
# TEST_SLOW=3 lets the suite pass on one three times slower.
#
# Waits scale their own limits, so a test passes them the time the design
# calls for: wait_until, wait_log, an nginx's start, stop, quit, reload
# and kill9, run, nginx_t, ffmpeg_play, play_ffprobe, http_get and status,
# ClusterTest::Proc's wait and stop, and every read of RTMP::Client
# ($RTMP::Client::TIMEOUT_SCALE, set here; ClusterConf's wait_video and
# wait_keyframe read through it).  Deadlines a test computes itself
# (time + slow(10)) use slow().
our $SLOW = $ENV{TEST_SLOW} // 1;
croak "TEST_SLOW must be a positive number, not '$SLOW'"
    unless $SLOW =~ /^(?:\d+\.?\d*|\.\d+)\z/ && $SLOW > 0;
$RTMP::Client::TIMEOUT_SCALE = $SLOW;

sub slow { return $_[-1] * $SLOW }

sub new {
    my ($class, %opt) = @_;
    my $base = $ENV{TEST_TMPDIR} // '/tmp';
    make_path($base) unless -d $base;
    my $tmp = tempdir('cluster-test-XXXXXX', DIR => $base, CLEANUP => 0);
    # nginx workers run as an unprivileged user: let them reach the prefixes
    chmod 0755, $tmp;

    my $self = bless {
        %opt,
        tmp       => $tmp,
        owner_pid => $$,
        instances => [],     # ClusterTest::Nginx objects, in start order
        procs     => [],     # ClusterTest::Proc objects
        nproc     => 0,
        cleaned   => 0,
    }, $class;

    push @LIVE, $self;
    weaken($LIVE[-1]);

    _sanitizer_init() if defined $SANITIZE_DIR;

    # stop everything on ctrl-c / kill, then exit (END blocks still run)
    for my $sig (qw(INT TERM HUP)) {
        $SIG{$sig} = sub {
            _cleanup_all();
            Test::More::diag("caught SIG$sig: stopped all test processes");
            exit(128 + ($sig eq 'INT' ? 2 : $sig eq 'TERM' ? 15 : 1));
        };
    }
    $SIG{PIPE} = 'IGNORE';

    Test::More::diag("test dir: $tmp (kept)") if $ENV{TEST_KEEP};
    return $self;
}

sub tmp  { $_[0]{tmp} }
sub repo { $REPO }

### ports

# A TCP port on 127.0.0.1 that is free now and was not handed out before in
# this run.  Ports are picked at random below the kernel's ephemeral range,
# so an outgoing connection (ffmpeg, an edge's upstream) cannot take a port
# between the check here and nginx binding it.
sub port {
    my ($self) = @_;
    my ($lo, $hi) = (20000, 32000);
    if (open my $fh, '<', '/proc/sys/net/ipv4/ip_local_port_range') {
        my ($eph_lo) = split ' ', scalar <$fh>;
        $hi = $eph_lo - 1 if $eph_lo && $eph_lo - 1 < $hi && $eph_lo - 1 > $lo + 1000;
    }
    for (1 .. 200) {
        my $p = $lo + int rand($hi - $lo);
        next if $USED_PORTS{$p};
        next unless _port_bindable($p);
        $USED_PORTS{$p} = 1;
        return $p;
    }
    # fall back to letting the kernel choose
    for (1 .. 50) {
        my $s = IO::Socket::IP->new(LocalHost => '127.0.0.1', LocalPort => 0,
                                    Proto => 'tcp', Listen => 1)
            or croak "cannot bind a TCP socket: $!";
        my $p = $s->sockport;
        close $s;
        next if $USED_PORTS{$p};
        $USED_PORTS{$p} = 1;
        return $p;
    }
    croak "could not find a free port";
}

sub _port_bindable {
    my ($p) = @_;
    my $s = IO::Socket::IP->new(LocalHost => '127.0.0.1', LocalPort => $p,
                                Proto => 'tcp', Listen => 1, ReuseAddr => 0)
        or return 0;
    close $s;
    return 1;
}

# port_open($port, $host): true when something accepts TCP connections there
sub port_open {
    my ($self, $p, $host) = @_;
    return _port_open($p, $host);
}

sub _port_open {
    my ($p, $host) = @_;
    my $s = IO::Socket::IP->new(PeerHost => $host // '127.0.0.1', PeerPort => $p,
                                Proto => 'tcp', Timeout => 1)
        or return 0;
    close $s;
    return 1;
}

### module and configuration

sub module_path { $ENV{CLUSTER_MODULE} // "$REPO/build/ngx_rtmp_cluster_module.so" }
sub have_module { -f $_[0]->module_path ? 1 : 0 }

# plan skip_all unless the cluster module is built
sub skip_unless_module {
    my ($self) = @_;
    Test::More::plan(skip_all => 'cluster module not built: ' . $self->module_path)
        unless $self->have_module;
}

sub _expand_conf {
    my ($self, $prefix, $text, %opt) = @_;
    my $cluster = $opt{cluster} // 1;
    my $load = "load_module $RTMP_MODULE;";
    $load .= "\nload_module " . $self->module_path . ";" if $cluster;
    # temp paths and access log inside the prefix, for http { } blocks
    my $http = join "\n",
        "access_log $prefix/logs/access.log;",
        "client_body_temp_path $prefix/tmp/client_body;",
        "proxy_temp_path $prefix/tmp/proxy;",
        "fastcgi_temp_path $prefix/tmp/fastcgi;",
        "uwsgi_temp_path $prefix/tmp/uwsgi;",
        "scgi_temp_path $prefix/tmp/scgi;";
    $text =~ s/%%LOAD_MODULES%%/$load/g;
    # nginx-rtmp's access log defaults to /var/log/nginx: keep it here
    $text =~ s/^(\s*rtmp\s*\{)/$1\n    access_log $prefix\/logs\/rtmp-access.log;/mg
        unless $text =~ /^\s*rtmp\s*\{[^}]*access_log/m;
    $text =~ s/^([ \t]*)%%HTTP_DEFAULTS%%/
               $1 . join("\n$1", split m{\n}, $http)/mgex;
    $text =~ s/%%HTTP_DEFAULTS%%/$http/g;
    $text =~ s/%%PREFIX%%/$prefix/g;
    $text =~ s/%%TMP%%/$self->{tmp}/g;
    return $text;
}

# write_conf($name, $text, cluster => 1): creates $tmp/$name/{conf,logs,tmp}
# and writes conf/nginx.conf; returns the prefix
sub write_conf {
    my ($self, $name, $text, %opt) = @_;
    croak "bad instance name '$name'" unless $name =~ /^[\w.-]+$/;
    my $prefix = "$self->{tmp}/$name";
    make_path("$prefix/conf", "$prefix/logs", "$prefix/tmp");
    chmod 0755, $prefix, "$prefix/conf", "$prefix/logs";
    chmod 01777, "$prefix/tmp";
    my $conf = $self->_expand_conf($prefix, $text, %opt);
    _write_file("$prefix/conf/nginx.conf", $conf);
    return $prefix;
}

# nginx($name, $conf, ports => [...], cluster => 1, timeout => 10)
sub nginx {
    my ($self, $name, $text, %opt) = @_;
    my $prefix = $self->write_conf($name, $text, %opt);
    my $n = ClusterTest::Nginx->_new($self, $name, $prefix, %opt);
    push @{$self->{instances}}, $n unless grep { $_ == $n } @{$self->{instances}};
    $n->start;
    return $n;
}

sub instances { @{$_[0]{instances}} }

# nginx_t($conf, cluster => 1, name => ...): ($exit_code, $output) of nginx -t
sub nginx_t {
    my ($self, $text, %opt) = @_;
    my $name = $opt{name} // 'nginx-t-' . ++$self->{nt};
    my $prefix = $self->write_conf($name, $text, %opt);
    my ($code, $out, $err) = $self->run(
        [$NGINX, '-t', '-p', "$prefix/", '-c', 'conf/nginx.conf',
         '-e', 'logs/error.log'],
        timeout => $opt{timeout} // 10,
        env => { nginx_env() },
    );
    _sanitizer_save($name, $out . $err) if defined $SANITIZE_DIR;
    return ($code, $out . $err);
}

### running commands

# run(\@cmd, timeout => secs, stdin => file, env => {...}):
# ($exit_code, $stdout, $stderr)
# The command runs in its own process group, killed (SIGKILL) at the
# deadline (slow(timeout)); exit code 124 then, 128+N when killed by
# signal N.
sub run {
    my ($self, $cmd, %opt) = @_;
    my $timeout = slow($opt{timeout} // 30);
    my $id = ++$self->{nproc};
    my ($outf, $errf) = ("$self->{tmp}/run-$id.out", "$self->{tmp}/run-$id.err");
    my $pid = _spawn($cmd, $outf, $errf, $opt{stdin}, $opt{env});
    my $status = _wait_pid($pid, $timeout);
    my $code;
    if (!defined $status) {
        kill 'KILL', -$pid;
        kill 'KILL', $pid;
        waitpid($pid, 0);
        $code = 124;
    } else {
        $code = _exit_code($status);
    }
    my ($out, $err) = (_read_file($outf), _read_file($errf));
    unlink $outf, $errf unless $ENV{TEST_KEEP};
    return ($code, $out, $err);
}

sub _exit_code {
    my ($status) = @_;
    return 128 + ($status & 127) if $status & 127;
    return $status >> 8;
}

# fork + exec in a new process group; stdout/stderr to files, $env: more
# environment variables for the command only
sub _spawn {
    my ($cmd, $outf, $errf, $stdin, $env) = @_;
    my $pid = fork;
    croak "fork failed: $!" unless defined $pid;
    if ($pid == 0) {
        # child: never return into the test (no END blocks, no DESTROY)
        eval {
            setpgrp(0, 0);
            open STDIN, '<', $stdin // '/dev/null' or die "stdin: $!";
            open STDOUT, '>>', $outf or die "$outf: $!";
            if (defined $errf && $errf ne $outf) {
                open STDERR, '>>', $errf or die "$errf: $!";
            } else {
                open STDERR, '>&', \*STDOUT or die "stderr: $!";
            }
            @ENV{keys %$env} = values %$env if $env;
            exec { $cmd->[0] } @$cmd or die "exec $cmd->[0]: $!";
        };
        print STDERR "spawn failed: $@";
        _exit(127);
    }
    return $pid;
}

# wait for our child; returns the wait status or undef on timeout
sub _wait_pid {
    my ($pid, $timeout) = @_;
    my $deadline = time + $timeout;
    while (1) {
        my $r = waitpid($pid, WNOHANG);
        return $? if $r == $pid;
        return 0 if $r == -1;       # not our child / already reaped
        return undef if time >= $deadline;
        sleep 0.02;             # polls the child (a wait on state)
    }
}

### media, ffmpeg and ffprobe

# path of the shared test clip; generated once per repo (under a lock)
sub media {
    my ($self) = @_;
    return $self->{media} if $self->{media};
    my $dir = "$REPO/build/test-media";
    my $file = "$dir/test.flv";
    make_path($dir);
    open my $lock, '>>', "$dir/.lock" or croak "cannot open $dir/.lock: $!";
    flock($lock, LOCK_EX) or croak "cannot lock $dir/.lock: $!";
    unless (-s $file) {
        my ($code, $out, $err) = $self->run(
            ['/bin/sh', "$REPO/t/lib/gen-media.sh", $file, 20], timeout => 120);
        croak "generating $file failed (exit $code):\n$out$err"
            if $code != 0 || !-s $file;
    }
    close $lock;
    return $self->{media} = $file;
}

# publish($url, media => file, loop => 1, re => 1, args => [...output args])
# Background ffmpeg pushing the clip to $url; returns a ClusterTest::Proc.
sub publish {
    my ($self, $url, %opt) = @_;
    my $media = $opt{media} // $self->media;
    my @cmd = ('ffmpeg', '-hide_banner', '-nostdin',
               '-loglevel', $opt{loglevel} // 'error');
    push @cmd, '-re' if $opt{re} // 1;
    push @cmd, '-stream_loop', '-1' if $opt{loop} // 1;
    push @cmd, '-i', $media, '-c', 'copy', @{$opt{args} // []}, '-f', 'flv', $url;
    return $self->spawn(\@cmd, name => 'ffmpeg');
}

# redis_server($port, @args): a throwaway redis-server on 127.0.0.1 (no
# persistence, working directory the temp dir, more arguments @args) as
# a ClusterTest::Proc, once it answers PING (dies otherwise)
sub redis_server {
    my ($self, $port, @args) = @_;
    require Redis;
    my $p = $self->spawn(['redis-server', '--port', $port, '--bind',
                          '127.0.0.1', '--save', '', '--appendonly', 'no',
                          '--dir', $self->{tmp}, @args],
                         name => 'redis');
    my ($password) = map { $args[$_ + 1] }
                     grep { $args[$_] eq '--requirepass' } 0 .. $#args;
    $self->wait_until(sub { Redis->ping($port, $password) }, timeout => 10,
                      interval => 0.05)
        or croak "redis-server did not start:\n" . $p->log_text;
    return $p;
}

# redis_sentinel($port, master => $port, name => 'mymaster', quorum => 2,
#                down_after => 1000, requirepass => undef,
#                auth_pass => undef): a redis-sentinel watching the master
# on 127.0.0.1, with a configuration file of its own (it rewrites it);
# requirepass: its own password, auth_pass: the master's
sub redis_sentinel {
    my ($self, $port, %o) = @_;
    require Redis;
    my $name = $o{name} // 'mymaster';
    my $conf = "$self->{tmp}/sentinel-$port.conf";
    open my $fh, '>', $conf or croak "$conf: $!";
    print $fh "port $port\nbind 127.0.0.1\ndir $self->{tmp}\n"
        . "sentinel monitor $name 127.0.0.1 $o{master} "
        . ($o{quorum} // 2) . "\n"
        . "sentinel down-after-milliseconds $name "
        . ($o{down_after} // 1000) . "\n"
        . "sentinel failover-timeout $name 10000\n"
        . "sentinel parallel-syncs $name 1\n"
        . (defined $o{requirepass} ? "requirepass $o{requirepass}\n" : '')
        . (defined $o{auth_pass}
           ? "sentinel auth-pass $name $o{auth_pass}\n" : '');
    close $fh;
    my $p = $self->spawn(['redis-sentinel', $conf], name => 'sentinel');
    $self->wait_until(sub { Redis->ping($port, $o{requirepass}) },
                      timeout => 10,
                      interval => 0.05)
        or croak "redis-sentinel did not start:\n" . $p->log_text;
    return $p;
}

# plan skip_all unless redis-sentinel is installed too
sub skip_unless_sentinel {
    my ($self) = @_;
    $self->skip_unless_redis;
    my ($path) = grep { -x } map { "$_/redis-sentinel" }
                 split /:/, $ENV{PATH} // '/usr/bin';
    Test::More::plan(skip_all => 'redis-sentinel is not installed')
        unless $path;
}

# plan skip_all unless redis-server is installed
sub skip_unless_redis {
    my ($self) = @_;
    my ($path) = grep { -x } map { "$_/redis-server" }
                 split /:/, $ENV{PATH} // '/usr/bin';
    Test::More::plan(skip_all => 'redis-server is not installed')
        unless $path;
}

# spawn(\@cmd, name => 'x'): any background process, stopped by stop_all
sub spawn {
    my ($self, $cmd, %opt) = @_;
    my $id = ++$self->{nproc};
    my $log = "$self->{tmp}/" . ($opt{name} // 'proc') . "-$id.log";
    my $pid = _spawn($cmd, $log, undef, undef);
    my $p = ClusterTest::Proc->_new(pid => $pid, log => $log, cmd => $cmd);
    push @{$self->{procs}}, $p;
    return $p;
}

# play_ffprobe($url, timeout => secs): decoded -show_streams JSON or undef
sub play_ffprobe {
    my ($self, $url, %opt) = @_;
    my $timeout = $opt{timeout} // 10;
    my ($code, $out, $err) = $self->run(
        ['ffprobe', '-hide_banner', '-v', 'error',
         '-rw_timeout', int(slow($timeout) * 1_000_000),
         '-show_streams', '-of', 'json', $url],
        timeout => $timeout + 2,
    );
    $self->{last_ffprobe} = { code => $code, stderr => $err };
    return undef unless $code == 0;
    my $j = eval { JSON::PP::decode_json($out) };
    return $j;
}

# ffmpeg_play($url, seconds => N, timeout => secs): ($exit_code, $stderr)
# after reading N seconds of media into the null muxer
sub ffmpeg_play {
    my ($self, $url, %opt) = @_;
    my $secs = $opt{seconds} // 3;
    my $timeout = $opt{timeout} // $secs + 15;
    my ($code, $out, $err) = $self->run(
        ['ffmpeg', '-hide_banner', '-nostdin', '-loglevel', $opt{loglevel} // 'error',
         '-rw_timeout', int(slow(5) * 1_000_000), '-i', $url, '-t', $secs,
         '-f', 'null', '-'],
        timeout => $timeout,
    );
    return ($code, $out . $err);
}

### RTMP helpers

# rtmp(port => N, app => 'live', host => ..., timeout => ..., allow_fail => 0,
#      %connect_extra): connected RTMP::Client (dies unless _result, unless
#      allow_fail); the reply is $client->connect_reply
sub rtmp {
    my ($self, %opt) = @_;
    my $port = delete $opt{port} // croak "rtmp: port required";
    my $host = delete $opt{host} // '127.0.0.1';
    my $app  = delete $opt{app} // 'live';
    my $allow_fail = delete $opt{allow_fail};
    my $c = RTMP::Client->new(host => $host, port => $port,
                              timeout => $opt{timeout} // 5);
    my $r = $c->connect(app => $app, tcUrl => "rtmp://$host:$port/$app", %opt);
    if (!$allow_fail && (($r->{name} // '') ne '_result')) {
        die "rtmp connect to $host:$port/$app failed: "
            . ($r->{type} eq 'eof' ? 'connection closed' : ($r->{code} // $r->{name}))
            . "\n";
    }
    return $c;
}

# rtmp_play($port, $app, $name, wait => 0, timeout => 5, buffer => ms, ...)
# connect + createStream + play; with wait => 1 also waits for
# NetStream.Play.Start (dies otherwise)
sub rtmp_play {
    my ($self, $port, $app, $name, %opt) = @_;
    my $wait = delete $opt{wait};
    my %play;
    $play{$_} = delete $opt{$_} for grep { exists $opt{$_} } qw(buffer start duration reset);
    my $c = $self->rtmp(port => $port, app => $app, %opt);
    $c->create_stream;
    $c->play($name, %play);
    if ($wait) {
        $c->wait_status(qr/^NetStream\.Play\.Start$/, timeout => $opt{timeout} // 5)
            or die "no NetStream.Play.Start for $app/$name on port $port\n";
    }
    return $c;
}

### logs and waiting

# check_logs(@instances): one ok() per instance (all started ones by
# default): its error log has no [alert] or [crit] line;
# check_logs(killed => 1): a test that kills workers with SIGKILL
# allows the master's "exited on signal 9" alerts, nothing else
sub check_logs {
    my ($self, @inst) = @_;
    my %opt;
    %opt = splice(@inst, -2) if @inst >= 2 && !ref $inst[-2]
                                && $inst[-2] eq 'killed';
    @inst = $self->instances unless @inst;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    for my $n (@inst) {
        my @bad = $self->log_alerts($n, %opt);
        Test::More::ok(!@bad, "$n->{name}: no [alert]/[crit] in error log")
            or Test::More::diag(join "\n", @bad[0 .. ($#bad > 19 ? 19 : $#bad)]);
    }
    $self->check_sanitizer;
}

# log_alerts($nginx, killed => 0): the [alert] and [crit] lines of its
# error log, what check_logs fails on (with killed => 1, the master's
# "worker process N exited on signal 9" lines left out).  A worker that
# crashes shows there: its master logs "exited on signal N" as an alert.
sub log_alerts {
    my ($self, $n, %opt) = @_;
    my @bad = $self->grep_log($n, qr/\[(?:alert|crit)\]/);
    @bad = grep { !/worker process \d+ exited on signal 9$/ } @bad
        if $opt{killed};
    return @bad;
}

### sanitizer lane (CLUSTER_SANITIZE_DIR)

# nginx_env(): the environment an nginx runs with: in the sanitizer lane
# libasan preloaded and the reports sent to files.  nginx keeps only TZ
# and `env` variables for its workers, but they fork from the master,
# whose ASan runtime read these options when it started, so their reports
# land there too, as DIR/asan.PID.
sub nginx_env {
    return () unless defined $SANITIZE_DIR;
    _sanitizer_init();
    my $strip = "strip_path_prefix=$REPO/";
    return (
        LD_PRELOAD    => _sanitizer_preload(),
        # abort: the master logs "exited on signal 6" as an [alert];
        # fast_unwind_on_malloc=0: nginx has no frame pointers, without it
        # the stacks of "freed by" and "allocated by" stop at nginx
        ASAN_OPTIONS  => join(':', "log_path=$SAN_DIR/asan", 'detect_leaks=0',
                              'abort_on_error=1', 'fast_unwind_on_malloc=0',
                              $strip),
        # UBSan's own reports go to stderr whatever its log_path: its
        # runtime sets the report path through a symbol that the preloaded
        # libasan takes over.  So its log_path is ASan's, or its first
        # report in a worker would send ASan's next ones to stderr.
        UBSAN_OPTIONS => join(':', "log_path=$SAN_DIR/asan",
                              'print_stacktrace=1', $strip),
    );
}

my $SAN_PRELOAD;

sub _sanitizer_preload {
    return $SAN_PRELOAD //= $ENV{CLUSTER_SANITIZE_PRELOAD} // do {
        my $asan = `gcc -print-file-name=libasan.so 2>/dev/null` // '';
        chomp $asan;
        $asan = abs_path($asan) if $asan =~ m{^/};
        croak "CLUSTER_SANITIZE_DIR is set but libasan was not found"
              . " (gcc -print-file-name=libasan.so)"
            unless defined $asan && $asan =~ m{^/} && -f $asan;
        my $opts = dirname(__PACKAGE__->module_path) . '/ubsan-options.so';
        croak "CLUSTER_SANITIZE_DIR is set but $opts is missing (make asan)"
            unless -f $opts;
        "$asan $opts";
    };
}

# the directory of this test file's reports, made once per test process;
# report files there from before are not this run's
sub _sanitizer_init {
    return if defined $SAN_PID && $SAN_PID == $$;
    (my $name = $0) =~ s{.*/}{};
    $name =~ s/[^\w.-]/_/g;
    $SAN_DIR = "$SANITIZE_DIR/$name";
    make_path($SAN_DIR) unless -d $SAN_DIR;
    chmod 01777, $SAN_DIR or croak "cannot chmod $SAN_DIR: $!";
    $SAN_PID = $$;
    %SAN_SEEN = ();
    _sanitizer_new_reports();
}

# new reports since the last call: [file, text] pairs (a file that grew
# counts with its new part)
sub _sanitizer_new_reports {
    my @new;
    for my $f (sort glob "$SAN_DIR/*") {
        next unless -f $f;
        my $size = -s _;
        my $seen = $SAN_SEEN{$f} // 0;
        next if $size <= $seen;
        my $text = substr(_read_file($f), $seen);
        $SAN_SEEN{$f} = $seen + length $text;
        push @new, [$f, $text];
    }
    return @new;
}

sub _sanitizer_diag {
    my (@new) = @_;
    my $out = '';
    for my $r (@new[0 .. ($#new > 4 ? 4 : $#new)]) {
        (my $text = $r->[1]) =~ s/^Shadow bytes around.*//ms;
        my @lines = split /\n/, $text;
        $#lines = 39 if @lines > 40;
        $out .= "--- $r->[0]\n" . join("\n", @lines) . "\n";
    }
    $out .= "... and " . (@new - 5) . " more report files\n" if @new > 5;
    return $out;
}

# check_sanitizer(): in the sanitizer lane one ok(): no sanitizer report
# appeared during this test file (since the previous check); check_logs
# calls it
sub check_sanitizer {
    my ($self) = @_;
    return unless defined $SANITIZE_DIR;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    _sanitizer_init();
    $_->_sanitizer_harvest for grep { defined } @LIVE;
    my @new = _sanitizer_new_reports();
    Test::More::ok(!@new, "no sanitizer reports in $SAN_DIR")
        or Test::More::diag(_sanitizer_diag(@new));
}

# sanitizer output in the instances' error logs and launcher output since
# the last call, appended to DIR/stderr.NAME
sub _sanitizer_harvest {
    my ($self) = @_;
    return unless defined $SAN_PID && $SAN_PID == $$;
    $_->_sanitizer_harvest for $self->instances;
}

# _sanitizer_save($name, $text, $in_report): appends the sanitizer reports
# in $text (from a line naming a sanitizer or "runtime error:" to the next
# nginx log or nginx -t line) to DIR/stderr.$name; true when $text ends
# inside one
sub _sanitizer_save {
    my ($name, $text, $in) = @_;
    my $out = '';
    for my $l (split /\n/, $text) {
        if ($l =~ /Sanitizer|runtime error:/) {
            $in = 1;
        } elsif ($l =~ m{^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d \[|^nginx: }) {
            $in = 0;
        }
        $out .= "$l\n" if $in;
    }
    if ($out ne '') {
        my $f = "$SAN_DIR/stderr.$name";
        open my $fh, '>>', $f or croak "cannot write $f: $!";
        print $fh $out;
        close $fh or croak "cannot write $f: $!";
    }
    return $in;
}

# after every nginx stopped: reports written since the last check (at
# shutdown) fail the test file through its exit code
sub _sanitizer_end {
    return unless defined $SANITIZE_DIR && defined $SAN_PID && $SAN_PID == $$;
    my @new = _sanitizer_new_reports() or return;
    Test::More::diag("sanitizer reports after the last check:\n"
                     . _sanitizer_diag(@new));
    $? = 1 unless $?;
}

sub grep_log {
    my ($self, $n, $re) = @_;
    return grep { $_ =~ $re } split /\n/, $n->error_log_text;
}

# wait_until(sub { ... }, timeout => 10, interval => 0.1): first true value
# of the callback, undef after slow(timeout)
sub wait_until {
    my ($self, $cb, %opt) = @_;
    return $self->_wait_until($cb, %opt, timeout => slow($opt{timeout} // 10));
}

# the same with the time limit as it is
sub _wait_until {
    my ($self, $cb, %opt) = @_;
    my $deadline = time + $opt{timeout};
    my $interval = $opt{interval} // 0.1;
    while (1) {
        my $v = $cb->();
        return $v if $v;
        return undef if time >= $deadline;
        sleep $interval;        # between two looks at the state
    }
}

### cleanup

sub stop_all {
    my ($self) = @_;
    return if $self->{owner_pid} != $$;
    local ($?, $!, $@);
    for my $p (@{$self->{procs}}) {
        eval { $p->stop };
    }
    for my $n (reverse @{$self->{instances}}) {
        eval { $n->stop if $n->running };
    }
}

sub _cleanup {
    my ($self) = @_;
    return if $self->{cleaned} || $self->{owner_pid} != $$;
    $self->{cleaned} = 1;
    $self->stop_all;
    eval { $self->_sanitizer_harvest } if defined $SANITIZE_DIR;
    # kept for END, which knows whether the file failed: the object may
    # go first (a die frees the file's lexicals before END runs)
    push @CONFS, $self->_confs;
    remove_tree($self->{tmp}, { safe => 1 }) unless $ENV{TEST_KEEP};
}

# false once this test file has failed: an assertion failed, the plan is
# not met, or the script is dying or exiting with an error (in END)
sub _test_file_passing {
    my $tb = Test::More->builder;
    return 0 unless $tb->is_passing;
    return 0 if $EXIT;
    my $plan = $tb->has_plan;
    return 0 if defined $plan ? $plan =~ /^\d+\z/ && $plan != $tb->current_test
                              : $tb->current_test > 0;
    return 1;
}

# diag_confs(): the configuration of every nginx started, as diagnostics,
# each under its instance name (END does it when the file failed)
sub diag_confs { _diag_confs($_[0]->_confs) }

sub _confs {
    my ($self) = @_;
    return map { [$_->{name}, $_->conf_path, _read_file($_->conf_path)] }
           $self->instances;
}

sub _diag_confs {
    for my $c (@_) {
        my ($name, $f, $conf) = @$c;
        $conf .= "\n" unless $conf =~ /\n\z/;
        Test::More::diag("nginx '$name' ($f):\n$conf(end of nginx '$name')");
    }
}

sub _cleanup_all {
    for my $t (grep { defined } @LIVE) {
        eval { $t->_cleanup };
    }
}

sub DESTROY {
    local ($?, $!, $@);
    $_[0]->_cleanup;
}

# runs before Test::Builder's END (compiled later), so an exit code set
# here is the test file's
END {
    {
        # the exit code the file is about to end with (a die's too)
        local $EXIT = $?;
        local ($?, $!, $@);
        _cleanup_all();
        _diag_confs(@CONFS) unless _test_file_passing();
    }
    _sanitizer_end();
}

### small file helpers

sub _read_file {
    my ($f) = @_;
    open my $fh, '<', $f or return '';
    local $/;
    my $s = <$fh>;
    return $s // '';
}

sub _write_file {
    my ($f, $text) = @_;
    open my $fh, '>', $f or croak "cannot write $f: $!";
    print $fh $text;
    close $fh or croak "cannot write $f: $!";
}

# process helpers shared by the classes below
sub _pid_alive {
    my ($pid) = @_;
    return 0 unless $pid && $pid > 0;
    open my $fh, '<', "/proc/$pid/stat" or return 0;
    my $stat = <$fh> // return 0;
    # state follows the last ')' (the command name may contain anything)
    my ($state) = $stat =~ /\)\s+(\S)/;
    return 0 if !$state || $state eq 'Z' || $state eq 'X';
    return 1;
}

# children of $ppid: [pid, cmdline] pairs, live only
sub _children {
    my ($ppid) = @_;
    my @out;
    opendir my $dh, '/proc' or return;
    for my $pid (grep { /^\d+$/ } readdir $dh) {
        open my $fh, '<', "/proc/$pid/stat" or next;
        my $stat = <$fh> // next;
        my ($state, $pp) = $stat =~ /\)\s+(\S)\s+(\d+)/ or next;
        next unless $pp == $ppid;
        next if $state eq 'Z' || $state eq 'X';
        my $cmd = '';
        if (open my $ch, '<', "/proc/$pid/cmdline") {
            local $/;
            $cmd = <$ch> // '';
            $cmd =~ tr/\0/ /;
            $cmd =~ s/\s+$//;
        }
        push @out, [$pid + 0, $cmd];
    }
    return sort { $a->[0] <=> $b->[0] } @out;
}

###########################################################################

package ClusterTest::Nginx;

use strict;
use warnings;

use Carp qw(croak);
use HTTP::Tiny;
use JSON::PP ();
use POSIX qw(WNOHANG);
use Scalar::Util qw(weaken);
use Time::HiRes qw(time sleep);

sub _new {
    my ($class, $t, $name, $prefix, %opt) = @_;
    # re-use the object when an instance of that name is started again
    for my $n (@{$t->{instances}}) {
        if ($n->{name} eq $name) {
            $n->{ports} = $opt{ports} if $opt{ports};
            $n->{opt} = { %{$n->{opt}}, %opt };
            croak "nginx '$name' is still running" if $n->running;
            $n->_parse_conf;
            return $n;
        }
    }
    my $self = bless {
        t      => $t,
        name   => $name,
        prefix => $prefix,
        ports  => $opt{ports} // [],
        opt    => \%opt,
    }, $class;
    weaken($self->{t});
    $self->_parse_conf;
    return $self;
}

sub _parse_conf {
    my ($self) = @_;
    my $conf = ClusterTest::_read_file("$self->{prefix}/conf/nginx.conf");
    (my $nocomments = $conf) =~ s/#[^\n]*//g;
    my ($pid) = $nocomments =~ /(?:^|[;{}])\s*pid\s+([^;\s]+)\s*;/m;
    croak "nginx '$self->{name}': config must set 'pid logs/nginx.pid;'"
        unless $pid;
    $pid = "$self->{prefix}/$pid" unless $pid =~ m{^/};
    $self->{pid_file} = $pid;
    $self->{master_process} = $nocomments =~ /(?:^|[;{}])\s*master_process\s+off\s*;/m ? 0 : 1;
}

sub name      { $_[0]{name} }
sub prefix    { $_[0]{prefix} }
sub ports     { @{$_[0]{ports}} }
sub error_log { "$_[0]{prefix}/logs/error.log" }
sub error_log_text { ClusterTest::_read_file($_[0]->error_log) }
sub conf_path { "$_[0]{prefix}/conf/nginx.conf" }

sub _die {
    my ($self, $msg) = @_;
    my $log = $self->error_log_text;
    my $out = ClusterTest::_read_file("$self->{prefix}/logs/nginx.out");
    $log = substr($log, -8000) if length $log > 8000;
    die "nginx '$self->{name}': $msg\n"
        . ($out ne '' ? "--- nginx output ---\n$out" : '')
        . "--- $self->{prefix}/logs/error.log ---\n$log\n";
}

sub _read_pid {
    my ($self) = @_;
    my $s = ClusterTest::_read_file($self->{pid_file});
    return $s =~ /^\s*(\d+)/ ? $1 + 0 : undef;
}

# master pid (from the pid file, falling back to the last one seen)
sub pid {
    my ($self) = @_;
    my $p = $self->_read_pid;
    $self->{pid} = $p if $p;
    return $self->{pid};
}

sub running { ClusterTest::_pid_alive($_[0]{pid}) }

# active workers (not "shutting down"), sorted
sub worker_pids {
    my ($self) = @_;
    my $m = $self->pid or return;
    return map { $_->[0] }
        grep { $_->[1] =~ /worker process/ && $_->[1] !~ /shutting down/ }
        ClusterTest::_children($m);
}

# every child of the master (workers incl. shutting down, helpers)
sub all_child_pids {
    my ($self) = @_;
    my $m = $self->pid or return;
    return map { $_->[0] } ClusterTest::_children($m);
}

sub start {
    my ($self, %opt) = @_;
    my $timeout = ClusterTest::slow($opt{timeout} // $self->{opt}{timeout}
                                    // 10);
    my $deadline = time + $timeout;

    croak "nginx '$self->{name}' is already running" if $self->running;
    unlink $self->{pid_file};
    delete $self->{pid};
    delete $self->{fg_child};

    my $out = "$self->{prefix}/logs/nginx.out";
    $self->_sanitizer_harvest if defined $ClusterTest::SANITIZE_DIR;
    unlink $out;
    delete $self->{san_off}{$out};
    delete $self->{san_in}{$out};
    # netns => NAME: started inside that network namespace (Topology.pm)
    my @netns = $self->{opt}{netns}
                ? ('ip', 'netns', 'exec', $self->{opt}{netns}) : ();
    my $launcher = ClusterTest::_spawn(
        [@netns, $ClusterTest::NGINX, '-p', "$self->{prefix}/",
         '-c', 'conf/nginx.conf',
         '-e', 'logs/error.log'],
        $out, undef, undef, { ClusterTest::nginx_env() });

    # daemon on: the launcher exits (0 once the daemon forked);
    # daemon off: the launcher is the master and writes its own pid
    while (1) {
        my $r = waitpid($launcher, WNOHANG);
        if ($r == $launcher) {
            my $code = ClusterTest::_exit_code($?);
            $self->_die("failed to start (exit code $code)") if $code != 0;
            last;
        }
        my $pid = $self->_read_pid;
        if ($pid && $pid == $launcher) {
            $self->{fg_child} = $launcher;
            last;
        }
        if (time > $deadline) {
            kill 'KILL', $launcher;
            waitpid($launcher, 0);
            $self->_die("nginx did not start within ${timeout}s");
        }
        sleep 0.02;     # polls the launcher and the pid file
    }

    my $pid = $self->{t}->_wait_until(sub {
        my $p = $self->_read_pid;
        return ($p && ClusterTest::_pid_alive($p)) ? $p : 0;
    }, timeout => $deadline - time, interval => 0.02)
        or $self->_die("no live master pid in $self->{pid_file}");
    $self->{pid} = $pid;

    for my $port (@{$self->{ports}}) {
        $self->{t}->_wait_until(sub { ClusterTest::_port_open($port) },
                               timeout => $deadline - time, interval => 0.05)
            or $self->_die("port $port does not accept connections");
    }
    if ($self->{master_process}) {
        $self->{t}->_wait_until(sub { scalar $self->worker_pids },
                               timeout => $deadline - time, interval => 0.02)
            or $self->_die("no worker process started");
    }
    return $self;
}

sub _wait_gone {
    my ($self, $timeout, @pids) = @_;
    return $self->{t}->_wait_until(sub {
        $self->_reap_fg;
        !grep { ClusterTest::_pid_alive($_) } @pids;
    }, timeout => $timeout, interval => 0.05);
}

# reap the foreground master if it was our child (daemon off)
sub _reap_fg {
    my ($self) = @_;
    my $c = $self->{fg_child} or return;
    delete $self->{fg_child} if waitpid($c, WNOHANG) == $c;
}

sub _signal_and_wait {
    my ($self, $sig, $timeout) = @_;
    my $m = $self->{pid};
    return 1 unless ClusterTest::_pid_alive($m);
    my @pids = ($m, $self->all_child_pids);
    kill $sig, $m;
    return 1 if $self->_wait_gone(ClusterTest::slow($timeout), @pids);
    # did not exit in time: kill the master and everything it started
    kill 'KILL', $_ for grep { ClusterTest::_pid_alive($_) } ($m, $self->all_child_pids, @pids);
    $self->_wait_gone(ClusterTest::slow(5), @pids);
    return 0;
}

# stop(timeout => 10): fast shutdown (SIGTERM, as nginx -s stop); SIGKILL
# after slow(timeout).  True when nginx stopped by itself.
sub stop {
    my ($self, %opt) = @_;
    my $r = $self->_signal_and_wait('TERM', $opt{timeout} // 10);
    $self->_reap_fg;
    return $r;
}

# quit(timeout => 10): graceful shutdown (SIGQUIT, as nginx -s quit)
sub quit {
    my ($self, %opt) = @_;
    my $r = $self->_signal_and_wait('QUIT', $opt{timeout} // 10);
    $self->_reap_fg;
    return $r;
}

sub restart {
    my ($self, %opt) = @_;
    $self->stop if $self->running;
    return $self->start(%opt);
}

# reload(timeout => 10): SIGHUP (as nginx -s reload); waits until all active
# workers are new ones.  False if that did not happen (e.g. a bad config:
# then the error log has the [emerg]).
sub reload {
    my ($self, %opt) = @_;
    my $timeout = ClusterTest::slow($opt{timeout} // 10);
    my %old = map { $_ => 1 } $self->worker_pids;
    my $log_size = -s $self->error_log // 0;
    kill 'HUP', $self->pid or return 0;
    return ($self->{t}->_wait_until(sub {
        my $new_log = substr($self->error_log_text, $log_size);
        return -1 if $new_log =~ /\[emerg\]/;
        my @w = $self->worker_pids;
        return (@w && !grep { $old{$_} } @w) ? 1 : 0;
    }, timeout => $timeout, interval => 0.05) // 0) == 1 ? 1 : 0;
}

# kill9(): SIGKILL master and all children; waits until they are gone and
# the ports no longer accept connections
sub kill9 {
    my ($self, %opt) = @_;
    my $m = $self->{pid};
    my @pids = grep { ClusterTest::_pid_alive($_) } ($m, $self->all_child_pids);
    kill 'KILL', @pids if @pids;
    $self->_wait_gone(ClusterTest::slow($opt{timeout} // 5), @pids);
    $self->_reap_fg;
    for my $port (@{$self->{ports}}) {
        $self->{t}->wait_until(sub { !ClusterTest::_port_open($port) },
                               timeout => 5, interval => 0.05);
    }
    return 1;
}

# http_get($port, $path): HTTP::Tiny response hashref
sub http_get {
    my ($self, $port, $path, %opt) = @_;
    $path //= '/';
    return HTTP::Tiny->new(timeout => ClusterTest::slow($opt{timeout} // 5))
        ->get("http://127.0.0.1:$port$path", $opt{headers} ? { headers => $opt{headers} } : ());
}

# status($port, $path): decoded JSON body of a 2xx response, else undef
sub status {
    my ($self, $port, $path, %opt) = @_;
    my $r = $self->http_get($port, $path, %opt);
    return undef unless $r->{success};
    return eval { JSON::PP::decode_json($r->{content}) };
}

sub grep_log { my ($self, $re) = @_; grep { $_ =~ $re } split /\n/, $self->error_log_text }

# sanitizer lane: what is new in the error log and the launcher output
# (logs/nginx.out), up to the last whole line, goes to the report files
sub _sanitizer_harvest {
    my ($self) = @_;
    for my $f ($self->error_log, "$self->{prefix}/logs/nginx.out") {
        my $text = ClusterTest::_read_file($f);
        my $off = $self->{san_off}{$f} // 0;
        $off = 0 if $off > length $text;
        my $end = rindex($text, "\n") + 1;
        next if $end <= $off;
        $self->{san_off}{$f} = $end;
        $self->{san_in}{$f} = ClusterTest::_sanitizer_save($self->{name},
            substr($text, $off, $end - $off), $self->{san_in}{$f});
    }
}

# wait_log(qr/.../, timeout => 10): first matching error log line or undef
sub wait_log {
    my ($self, $re, %opt) = @_;
    return $self->{t}->wait_until(sub { ($self->grep_log($re))[0] },
                                  timeout => $opt{timeout} // 10);
}

###########################################################################

package ClusterTest::Proc;

use strict;
use warnings;

use POSIX qw(WNOHANG);
use Time::HiRes qw(time sleep);

sub _new {
    my ($class, %o) = @_;
    return bless { %o, status => undef }, $class;
}

sub pid { $_[0]{pid} }
sub log_file { $_[0]{log} }
sub log_text { ClusterTest::_read_file($_[0]{log}) }

sub _poll {
    my ($self) = @_;
    return 0 if defined $self->{status};
    my $r = waitpid($self->{pid}, WNOHANG);
    if ($r == $self->{pid}) {
        $self->{status} = $?;
        return 0;
    }
    return $r == 0 ? 1 : 0;
}

sub alive { $_[0]->_poll }

# exit code once exited (128+N when killed by signal N), undef while alive
sub exit_code {
    my ($self) = @_;
    $self->_poll;
    return defined $self->{status} ? ClusterTest::_exit_code($self->{status}) : undef;
}

# wait(timeout => secs): true when the process exited within
# slow(timeout)
sub wait {
    my ($self, %opt) = @_;
    my $deadline = time + ClusterTest::slow($opt{timeout} // 10);
    while ($self->_poll) {
        return 0 if time >= $deadline;
        sleep 0.05;     # polls the process
    }
    return 1;
}

# stop(timeout => 3): SIGTERM, then SIGKILL (to the process group)
sub stop {
    my ($self, %opt) = @_;
    return 1 unless $self->_poll;
    kill 'TERM', $self->{pid};
    return 1 if $self->wait(timeout => $opt{timeout} // 3);
    kill 'KILL', -$self->{pid};
    kill 'KILL', $self->{pid};
    $self->wait(timeout => 5);
    return 0;
}

1;
