package FakeCoworker;

# A fake cluster coworker: the HTTP API SRS origins ask each other
# ("/api/v1/clusters?vhost=..&ip=..&app=..&stream=..&coworker=..") to find
# which origin has a stream.  It runs in a child process on 127.0.0.1 and
# answers every request (any method, any path) according to its mode:
#
#   found       200, SRS's answer with an origin (see srs_found_body)
#   notfound    200, the same shape with "origin":null
#   slow        like found (or the mode given as `then`), after `delay` s
#   silent      reads the request, never answers, keeps the connection
#   http500     500 with a JSON error body
#   http404     404 with a JSON error body
#   garbage     200, body "this is not json {{{"
#   truncated   200, Content-Length of a whole found body, half of it sent
#   huge        200, a valid found body of about 8 MB (`size` bytes)
#   wrongshape  200, valid JSON of the wrong shape (`shape`)
#
#   my $cw = FakeCoworker->start(mode => 'found', log => "$tmp/cw.log",
#                                origin_ip => '127.0.0.1', origin_port => 1935);
#   ... $cw->port, $cw->requests, $cw->request_lines, $cw->stop
#
# Each connection is served by its own forked process, so slow or silent
# answers never hold up other connections.  Every answer carries
# "Connection: close" and the connection is closed after it.  Each request
# line is appended to the log as "METHOD TARGET" as soon as it is read,
# before the answer.  The log is appended to, not truncated.
#
# A refused connection is not a mode: use a port nobody listens on.

use strict;
use warnings;

use Carp qw(croak);
use Errno qw(EINTR EAGAIN EWOULDBLOCK);
use IO::Select;
use IO::Socket::IP;
use JSON::PP ();
use POSIX qw(WNOHANG _exit setpgid sigprocmask SIG_BLOCK SIG_SETMASK
             SIGTERM SIGALRM);
use Scalar::Util qw(weaken);
use Time::HiRes qw(time sleep alarm);

my %MODES = map { $_ => 1 } qw(found notfound slow silent http500 http404
                                garbage truncated huge wrongshape);

my @LIVE;       # weak refs to the fakes started by this process

### class helpers: SRS's answer bodies, byte for byte

# JSON text of one string (UTF-8 output; byte strings that are valid UTF-8
# are taken as UTF-8, others as Latin-1)
sub _js {
    my ($s) = @_;
    $s = '' unless defined $s;
    $s = "$s";
    if (!utf8::is_utf8($s)) {
        my $d = $s;
        $s = $d if utf8::decode($d);
    }
    return JSON::PP->new->allow_nonref->utf8->encode($s);
}

sub _query_json {
    my (%f) = @_;
    my $q = '{"ip":' . _js($f{ip}) . ',"vhost":' . _js($f{vhost})
          . ',"app":' . _js($f{app}) . ',"stream":' . _js($f{stream});
    # extra string fields, in the order given (used by the huge mode)
    my @extra = @{$f{query_extra} // []};
    while (my ($k, $v) = splice @extra, 0, 2) {
        $q .= ',' . _js($k) . ':' . _js($v);
    }
    return $q . '}';
}

# srs_found_body(ip => .., vhost => .., app => .., stream => ..,
#                origin_ip => .., origin_port => N, api => 'host:port',
#                routers => [api, ...] (default [api]),
#                query_extra => [key => string, ...])
# The exact body an SRS coworker answers when it knows the stream's origin:
# {"code":0,"data":{"query":{"ip":..,"vhost":..,"app":..,"stream":..},
#  "origin":{"ip":..,"port":N,"vhost":..,"api":..,"routers":[..]}}}
sub srs_found_body {
    my ($class, %f) = @_;
    my $port = $f{origin_port} // 1935;
    croak "srs_found_body: origin_port must be an integer"
        unless $port =~ /^-?\d+\z/;
    my @routers = @{$f{routers} // [$f{api}]};
    return '{"code":0,"data":{"query":' . _query_json(%f)
         . ',"origin":{"ip":' . _js($f{origin_ip} // '127.0.0.1')
         . ',"port":' . ($port + 0)
         . ',"vhost":' . _js($f{vhost})
         . ',"api":' . _js($f{api})
         . ',"routers":[' . join(',', map { _js($_) } @routers) . ']}}}';
}

# srs_notfound_body(ip => .., vhost => .., app => .., stream => ..): the
# answer when no origin has the stream ("origin":null)
sub srs_notfound_body {
    my ($class, %f) = @_;
    return '{"code":0,"data":{"query":' . _query_json(%f) . ',"origin":null}}';
}

### the parent side

# start(mode => MODE, log => FILE, port => N (0: any free one),
#       origin_ip => '127.0.0.1', origin_port => 1935,
#       streams => [names] (found/slow: found only for these),
#       delay => 2 (slow), then => 'found' (slow: the answer after the delay),
#       size => 8_000_000 (huge: body size),
#       shape => 'default' | 'codestring' | 'array' (wrongshape),
#       lifetime => 120 (seconds before the fake exits by itself))
sub start {
    my ($class, %o) = @_;
    my $mode = $o{mode} // croak "FakeCoworker: mode required";
    croak "FakeCoworker: unknown mode '$mode'"
        . ($mode eq 'refuse' ? ' (use a port nobody listens on)' : '')
        unless $MODES{$mode};
    my $log = $o{log} // croak "FakeCoworker: log required";
    if ($mode eq 'slow') {
        my $then = $o{then} // 'found';
        croak "FakeCoworker: slow cannot answer as '$then'"
            unless $MODES{$then} && $then ne 'slow';
    }
    if ($mode eq 'wrongshape') {
        my $shape = $o{shape} // 'default';
        croak "FakeCoworker: unknown shape '$shape'"
            unless $shape =~ /^(?:default|codestring|array)\z/;
    }

    # the log exists from the start, so requests() is 0 before any request
    open my $fh, '>>', $log or croak "FakeCoworker: cannot write $log: $!";
    close $fh;

    my $ls = IO::Socket::IP->new(LocalHost => '127.0.0.1',
                                 LocalPort => $o{port} // 0,
                                 Proto => 'tcp', Listen => 128,
                                 ReuseAddr => 1)
        or croak "FakeCoworker: listen on 127.0.0.1:" . ($o{port} // 0)
               . ": " . ($@ || $!);
    my $port = $ls->sockport;
    my %cfg = (%o, mode => $mode, log => $log, port => $port,
               lifetime => $o{lifetime} // 120);

    # SIGTERM (what stop() sends) stays blocked in the child until it has
    # its own handler: the test's handler must never run in the fake
    my $old = POSIX::SigSet->new;
    sigprocmask(SIG_BLOCK, POSIX::SigSet->new(SIGTERM), $old);
    my $pid = fork;
    if (defined $pid && $pid == 0) {
        eval { _server($ls, \%cfg, $old) };
        _exit(0);
    }
    sigprocmask(SIG_SETMASK, $old);
    croak "FakeCoworker: fork: $!" unless defined $pid;
    # the server leads its own process group (set on both sides: no race),
    # so a last-resort kill reaches the connection processes too
    setpgid($pid, $pid);
    close $ls;

    my $self = bless { pid => $pid, port => $port, log => $log,
                       mode => $mode, owner => $$ }, $class;
    push @LIVE, $self;
    weaken($LIVE[-1]);
    return $self;
}

sub port { $_[0]{port} }
sub pid  { $_[0]{pid} }
sub mode { $_[0]{mode} }
sub log_file { $_[0]{log} }

# "host:port" of this coworker's API, as it reports itself
sub api { '127.0.0.1:' . $_[0]{port} }

# the logged request lines, "METHOD TARGET" each, oldest first
sub request_lines {
    my ($self) = @_;
    open my $fh, '<', $self->{log} or return;
    my @l = <$fh>;
    chomp @l;
    return @l;
}

sub requests {
    my @l = $_[0]->request_lines;
    return scalar @l;
}

sub running {
    my ($self) = @_;
    return 0 unless $self->{pid};
    return waitpid($self->{pid}, WNOHANG) == 0 ? 1 : do { delete $self->{pid}; 0 };
}

# Stop the server and every connection process, and reap the server.  The
# server is asked with SIGTERM (it kills and reaps its connection
# processes, so no orphan is left to init); after 3 s the whole process
# group is killed.
sub stop {
    my ($self) = @_;
    my $pid = $self->{pid} or return;
    return if $self->{owner} != $$;     # a forked copy of the test process
    local ($?, $!, $@);
    kill 'TERM', $pid;
    my $deadline = time + 3;
    while (1) {
        my $r = waitpid($pid, WNOHANG);
        last if $r == $pid || $r < 0;
        if (time > $deadline) {
            # not reaped yet, so the group id cannot have been reused
            kill 'KILL', -$pid;
            kill 'KILL', $pid;
            waitpid($pid, 0);
            last;
        }
        sleep 0.01;     # polls the server process
    }
    delete $self->{pid};
}

sub DESTROY { $_[0]->stop }

END {
    local ($?, $!, $@);
    for my $f (grep { defined } @LIVE) {
        eval { $f->stop };
    }
}

### the server (child process)

sub _server {
    my ($ls, $cfg, $sigmask) = @_;
    setpgid(0, 0);
    $SIG{$_} = 'DEFAULT' for qw(INT HUP CHLD);
    $SIG{PIPE} = 'IGNORE';
    # never write to the test's stdout (TAP)
    open STDOUT, '>', '/dev/null';
    open STDIN, '<', '/dev/null';

    my %kids;
    my $end = time + $cfg->{lifetime};
    my $quit = sub {
        kill 'KILL', keys %kids;
        waitpid($_, 0) for keys %kids;
        _exit(0);
    };
    $SIG{TERM} = $quit;
    $SIG{ALRM} = $quit;
    alarm($cfg->{lifetime});
    sigprocmask(SIG_SETMASK, $sigmask);

    my $sel = IO::Select->new($ls);
    while (1) {
        # reap finished connection processes
        while ((my $k = waitpid(-1, WNOHANG)) > 0) {
            delete $kids{$k};
        }
        next unless $sel->can_read(0.2);
        my $c = $ls->accept or next;
        # no TERM/ALRM between the fork and noting the child in %kids
        my $blocked = POSIX::SigSet->new(SIGTERM, SIGALRM);
        sigprocmask(SIG_BLOCK, $blocked);
        my $pid = fork;
        if (defined $pid && $pid == 0) {
            $SIG{$_} = 'DEFAULT' for qw(TERM ALRM);
            sigprocmask(SIG_SETMASK, $sigmask);
            close $ls;
            # a connection process never outlives the server's lifetime
            local $SIG{ALRM} = sub { _exit(0) };
            my $left = $end - time;
            alarm($left > 0.01 ? $left : 0.01);
            eval { _connection($c, $cfg) };
            _exit(0);
        }
        $kids{$pid} = 1 if defined $pid;
        sigprocmask(SIG_SETMASK, $sigmask);
        close $c;
    }
}

# read what is available into $$buf; 0 on timeout, undef on EOF/error
sub _read_some {
    my ($c, $buf, $deadline) = @_;
    while (1) {
        my $left = defined $deadline ? $deadline - time : undef;
        return 0 if defined $left && $left <= 0;
        my @r = IO::Select->new($c)->can_read($left);
        unless (@r) {
            next if $! == EINTR;
            return 0;
        }
        my $n = sysread($c, $$buf, 65536, length $$buf);
        if (!defined $n) {
            next if $! == EINTR || $! == EAGAIN || $! == EWOULDBLOCK;
            return undef;
        }
        return $n ? $n : undef;
    }
}

sub _write_all {
    my ($c, $data) = @_;
    my $off = 0;
    while ($off < length $data) {
        my $n = syswrite($c, $data, length($data) - $off, $off);
        if (!defined $n) {
            next if $! == EINTR || $! == EAGAIN || $! == EWOULDBLOCK;
            return 0;           # the client went away
        }
        $off += $n;
    }
    return 1;
}

sub _log_line {
    my ($log, $line) = @_;
    # one write per line on an O_APPEND file: lines from concurrent
    # connection processes never interleave
    open my $fh, '>>', $log or return;
    syswrite $fh, "$line\n";
    close $fh;
}

sub _url_decode {
    my ($s) = @_;
    $s =~ tr/+/ /;
    $s =~ s/%([0-9A-Fa-f]{2})/chr hex $1/ge;
    return $s;
}

sub _parse_query {
    my ($target) = @_;
    my %q;
    my (undef, $qs) = split /\?/, $target, 2;
    for my $kv (split /&/, $qs // '') {
        next if $kv eq '';
        my ($k, $v) = split /=/, $kv, 2;
        $k = _url_decode($k);
        # the first occurrence wins, as in SRS
        $q{$k} = _url_decode($v // '') unless exists $q{$k};
    }
    return \%q;
}

sub _connection {
    my ($c, $cfg) = @_;
    binmode $c;
    my $buf = '';

    # the request line and the header, 10 s at most
    my $deadline = time + 10;
    while ($buf !~ /\r?\n\r?\n/) {
        my $r = _read_some($c, \$buf, $deadline);
        return unless $r;               # timeout, EOF or error: no request
        return if length $buf > 1 << 20;
    }
    my ($head, $rest) = split /\r?\n\r?\n/, $buf, 2;
    my ($line, @headers) = split /\r?\n/, $head;
    my ($method, $target) = $line =~ /^(\S+)\s+(\S+)/;
    _log_line($cfg->{log}, defined $target ? "$method $target" : $line);
    $method //= '';
    $target //= '';

    # a request body (POST) is read and ignored, so that closing the
    # connection cannot reset it before the client has read the answer
    my ($clen) = map { /^content-length:\s*(\d+)/i ? $1 : () } @headers;
    if ($clen) {
        my $body = $rest;
        my $bd = time + 5;
        while (length $body < $clen) {
            last unless _read_some($c, \$body, $bd);
        }
    }

    my $mode = $cfg->{mode};
    if ($mode eq 'slow') {
        # the slow mode's delay: time passes on purpose (only this
        # connection's process waits)
        sleep($cfg->{delay} // 2);
        $mode = $cfg->{then} // 'found';
    }
    _answer($c, { %$cfg, mode => $mode }, $method, $target);
}

sub _answer {
    my ($c, $cfg, $method, $target) = @_;
    my $mode = $cfg->{mode};

    if ($mode eq 'silent') {
        # never answer; keep the connection until the client closes it
        my $junk = '';
        $junk = '' while defined _read_some($c, \$junk, undef);
        return;
    }

    my $q = _parse_query($target);
    my %f = (
        ip          => $q->{ip} // '',
        vhost       => $q->{vhost} // '',
        app         => $q->{app} // '',
        stream      => $q->{stream} // '',
        origin_ip   => $cfg->{origin_ip} // '127.0.0.1',
        origin_port => $cfg->{origin_port} // 1935,
        api         => "127.0.0.1:$cfg->{port}",
    );
    my $known = !$cfg->{streams}
        || grep { $_ eq $f{stream} } @{$cfg->{streams}};
    my $found = __PACKAGE__->srs_found_body(%f);

    my ($status, $body, $clen) = (200, undef, undef);
    if ($mode eq 'found' || $mode eq 'notfound') {
        $body = ($mode eq 'found' && $known)
            ? $found : __PACKAGE__->srs_notfound_body(%f);
    } elsif ($mode eq 'http500') {
        ($status, $body) = (500,
            '{"code":500,"error":"fake coworker: internal server error"}');
    } elsif ($mode eq 'http404') {
        ($status, $body) = (404, '{"code":404,"error":"fake coworker: not found"}');
    } elsif ($mode eq 'garbage') {
        $body = 'this is not json {{{';
    } elsif ($mode eq 'truncated') {
        # announce the whole body, send half of it, close
        $clen = length $found;
        $body = substr($found, 0, int($clen / 2));
    } elsif ($mode eq 'huge') {
        my $size = $cfg->{size} // 8_000_000;
        my $pad = $size - length(__PACKAGE__->srs_found_body(%f,
                                    query_extra => [pad => '']));
        $pad = 0 if $pad < 0;
        $body = __PACKAGE__->srs_found_body(%f,
                    query_extra => [pad => 'x' x $pad]);
    } elsif ($mode eq 'wrongshape') {
        my $shape = $cfg->{shape} // 'default';
        if ($shape eq 'codestring') {
            ($body = $found) =~ s/^\{"code":0,/{"code":"0",/;
        } elsif ($shape eq 'array') {
            $body = '[1,2,3]';
        } else {
            $body = '{"code":0,"data":{"origin":{"ip":12345,"port":"1935"}}}';
        }
    }
    $clen //= length $body;

    my %reason = (200 => 'OK', 404 => 'Not Found', 500 => 'Internal Server Error');
    my $resp = "HTTP/1.1 $status $reason{$status}\r\n"
             . "Server: FakeCoworker\r\n"
             . "Content-Type: application/json\r\n"
             . "Content-Length: $clen\r\n"
             . "Connection: close\r\n"
             . "\r\n";
    $resp .= $body unless $method eq 'HEAD';
    _write_all($c, $resp) or return;

    # lingering close: stop sending, then wait (2 s at most) for the client
    # to close, so it reads everything before the socket goes away
    shutdown($c, 1);
    my $junk = '';
    my $ld = time + 2;
    while (_read_some($c, \$junk, $ld)) {
        $junk = '';
    }
}

1;
