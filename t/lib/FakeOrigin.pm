package FakeOrigin;

# An RTMP origin that misbehaves on purpose, in a child process: it does
# the server handshake and answers connect and createStream, then answers
# play according to its mode:
#
#   reject     onStatus level "error", NetStream.Play.StreamNotFound
#   malformed  an onStatus command whose AMF body is cut short
#   garbage    random bytes in place of chunks
#   silent     nothing: never sends media
#   srs_not_found
#              as an SRS 6 origin without the stream: onStatus
#              NetStream.Play.Reset "Playing and resetting <stream>." and
#              NetStream.Play.Start "Started playing <stream>." (level
#              status, with details and clientid) on the play's message
#              stream, then the TCP connection closed 50 ms later, no
#              error, no media.  With publish_flag => FILE, once FILE
#              exists the stream is "published": a play then gets the same
#              two statuses and media (metadata, sequence headers, 25 fps
#              video with a keyframe every second and audio, timestamps
#              from 0, as an SRS consumer starts) until the client leaves
#
# and two modes that redirect the client elsewhere (RTMP "302"), in the
# dialects an edge meets in the wild; both need target => 'host:port':
#
#   redirect_srs  as SRS 3-6 origins of a cluster do: on play, onStatus
#                 NetStream.Play.Reset and NetStream.Play.Start (level
#                 status) on the play's message stream, then on message
#                 stream 0, chunk stream 5, timestamp 0 the command
#                   onStatus, 0, null, {level: "error",
#                     code: "NetConnection.Connect.Rejected",
#                     description: "RTMP 302 Redirect",
#                     ex: {code: 302, redirect: TCURL, redirect2: FULLURL}}
#                 with TCURL = rtmp://<target>/<app> and FULLURL =
#                 rtmp://<target>/<app>/<stream>[?<args>] (app from the
#                 connect, stream?args from the play name); then it waits
#                 up to 3 s for any command (SRS waits for the client's
#                 answer) and closes.  Options:
#                   only_ex_redirect => 1   no redirect2 (older servers)
#                   redirect_form => 'tcurl' (default) | 'tcurl_args'
#                     (rtmp://<target>/<app>?<args>) | 'full' (FULLURL,
#                     what SRS sent in redirect before it had redirect2)
#                   full_start => 1   the whole start sequence SRS sends
#                     before the redirect: StreamBegin, Play.Reset,
#                     Play.Start, |RtmpSampleAccess, onStatus
#                     NetStream.Data.Start (data message)
#   redirect_fms  as FMS/Wowza do: the connect itself is answered with
#                   _error, <connect's transaction id>, null, {level:
#                     "error", code: "NetConnection.Connect.Rejected",
#                     description: "Connection failed: Application
#                     rejected connection.", ex: {code: 302, redirect:
#                     "rtmp://<target>/<app>"}}
#                 and the connection closed after 1 s.
#
# and a mode that plays, as SRS 6 does with its default
# "time_jitter full" (each new consumer's timestamps restart near 0):
#
#   media      on play: StreamBegin, Play.Reset, Play.Start,
#              |RtmpSampleAccess, NetStream.Data.Start, then the tags of
#              an FLV clip (media => FILE: metadata, sequence headers,
#              frames from its first keyframe) in real time, looped, until
#              the client leaves.  Each play starts the clip over with
#              timestamps from ts_start => MS (default 0; 36000000 is 10
#              hours ahead); video_shift => MS moves the video track's
#              timestamps against the audio's (the tracks start apart).
#              The log gets "media N" with N the first timestamp sent.
#
# Connections are served one at a time.  The log file gets one line
# "connection" per connection, "connect APP" per connect and "play NAME"
# per play received (served() counts connections only).

use strict;
use warnings;

use IO::Socket::IP;
use POSIX qw(_exit);
use Time::HiRes qw(time sleep);

use RTMP::Client;
use RTMP::AMF0 qw(num str obj bool amf0_encode);

my %MODES = map { $_ => 1 } qw(reject malformed garbage silent
                                redirect_srs redirect_fms srs_not_found
                                media);

# start(mode => MODE, log => FILE, lifetime => 120, target => 'host:port',
#       only_ex_redirect => 0, redirect_form => 'tcurl', full_start => 0,
#       publish_flag => FILE)
sub start {
    my ($class, %o) = @_;
    my $mode = $o{mode} // die "FakeOrigin: mode required";
    my $log = $o{log} // die "FakeOrigin: log required";
    die "FakeOrigin: unknown mode '$mode'\n" unless $MODES{$mode};
    die "FakeOrigin: mode $mode needs target => 'host:port'\n"
        if $mode =~ /^redirect_/ && !defined $o{target};
    die "FakeOrigin: mode media needs media => FILE\n"
        if $mode eq 'media' && !defined $o{media};
    $o{tags} = _flv_tags($o{media}) if $mode eq 'media';
    die "FakeOrigin: unknown redirect_form '$o{redirect_form}'\n"
        if defined $o{redirect_form}
           && $o{redirect_form} !~ /^(?:tcurl|tcurl_args|full)\z/;
    my $ls = IO::Socket::IP->new(LocalHost => '127.0.0.1',
                                 LocalPort => $o{port} // 0,
                                 Listen => 16, ReuseAddr => 1)
        or die "FakeOrigin: listen: $!";
    my $port = $ls->sockport;

    my $pid = fork // die "FakeOrigin: fork: $!";
    if ($pid == 0) {
        $SIG{$_} = 'DEFAULT' for qw(INT TERM HUP);
        local $SIG{ALRM} = sub { _exit(0) };
        alarm($o{lifetime} // 120);
        $SIG{PIPE} = 'IGNORE';
        # its waits are the peer's behaviour (SRS waits 3 s), not limits
        # of the test: TEST_SLOW does not stretch them
        $RTMP::Client::TIMEOUT_SCALE = 1;
        # never write to the test's stdout (TAP)
        open STDOUT, '>', '/dev/null';
        while (my $c = $ls->accept) {
            eval { _serve($c, $mode, $log, \%o) };
            close $c;
        }
        _exit(0);
    }
    close $ls;
    return bless { pid => $pid, port => $port, log => $log, owner => $$ },
                 $class;
}

sub port { $_[0]{port} }
sub pid  { $_[0]{pid} }

# the log's lines, without newlines
sub log_lines {
    my ($self) = @_;
    open my $fh, '<', $self->{log} or return;
    my @l = <$fh>;
    chomp @l;
    return @l;
}

# number of connections served
sub served {
    my ($self) = @_;
    return scalar grep { $_ eq 'connection' } $self->log_lines;
}

# the names played / apps connected to, in order
sub plays    { map { /^play (.*)/s ? $1 : () } $_[0]->log_lines }
sub connects { map { /^connect (.*)/s ? $1 : () } $_[0]->log_lines }

sub stop {
    my ($self) = @_;
    return unless $self->{pid};
    # a forked copy of the test process must not stop the parent's fake
    return if $self->{owner} != $$;
    local ($?, $!, $@);
    kill 'KILL', $self->{pid};
    waitpid $self->{pid}, 0;
    delete $self->{pid};
}

sub DESTROY { $_[0]->stop }

sub _read_n {
    my ($c, $n) = @_;
    my $buf = '';
    my $deadline = time + 5;
    while (length $buf < $n) {
        die "timeout\n" if time > $deadline;
        my $r = sysread $c, $buf, $n - length $buf, length $buf;
        die "eof\n" unless $r;
    }
    return $buf;
}

sub _log {
    my ($log, $line) = @_;
    open my $fh, '>>', $log or return;
    $line =~ s/\n/\\n/g;
    print $fh "$line\n";
    close $fh;
}

sub _status {
    my ($level, $code, $desc, @more) = @_;
    return obj(level => str($level), code => str($code),
               description => str($desc), @more);
}

sub _serve {
    my ($c, $mode, $log, $o) = @_;

    _log($log, 'connection');

    # server handshake: C0 C1 in, S0 S1 S2 out, C2 in
    my $c1 = substr(_read_n($c, 1537), 1);
    syswrite $c, "\x03" . pack('N N', 0, 0) . ("\x5a" x 1528) . $c1;
    _read_n($c, 1536);

    my $r = RTMP::Client->new(sock => $c, no_handshake => 1, timeout => 5);
    my $app = '';

    while (my $m = $r->read_message(timeout => 10)) {
        last if $m->{type} eq 'eof';
        next unless ($m->{name} // '') ne '';

        if ($m->{name} eq 'connect') {
            my $cmd = $m->{amf}[2];
            $app = ref $cmd eq 'HASH' ? $cmd->{app} // '' : '';
            _log($log, "connect $app");

            if ($mode eq 'redirect_fms') {
                $r->send_command(3, 0, '_error', $m->{trans}, undef,
                    _status('error', 'NetConnection.Connect.Rejected',
                        'Connection failed: Application rejected connection.',
                        ex => obj(code => num(302),
                                  redirect => str("rtmp://$o->{target}/$app"))));
                _drain($r, $log, 1);
                return;
            }

            $r->send_command(3, 0, '_result', 1,
                obj(fmsVer => str('FMS/3,0,1,123'), capabilities => num(31)),
                obj(level => str('status'),
                    code => str('NetConnection.Connect.Success'),
                    description => str('Connection succeeded.')));

        } elsif ($m->{name} eq 'createStream') {
            $r->send_command(3, 0, '_result', $m->{trans}, undef, num(1));

        } elsif ($m->{name} eq 'play') {
            my $name = $m->{amf}[3] // '';
            _log($log, "play $name");

            if ($mode eq 'redirect_srs') {
                _redirect_srs($r, $o, $app, $name, $m->{msid});
                # SRS waits (3 s at most) for the client to answer with any
                # command before it closes
                _drain($r, $log, 3, 1);
                return;

            } elsif ($mode eq 'srs_not_found') {
                _play_start_srs($r, $name, $m->{msid});
                if (defined $o->{publish_flag} && -e $o->{publish_flag}) {
                    _log($log, "media $name");
                    _serve_media($r, $m->{msid});
                    return;
                }
                # SRS closes about 50 ms after the play's statuses, reading
                # what comes meanwhile (unread bytes would make the close
                # a reset)
                _drain($r, $log, 0.05);
                _log($log, "closed $name");
                return;

            } elsif ($mode eq 'reject') {
                $r->send_command(5, 1, 'onStatus', 0, undef,
                    obj(level => str('error'),
                        code => str('NetStream.Play.StreamNotFound'),
                        description => str('No such stream')));

            } elsif ($mode eq 'malformed') {
                # "onStatus", 0, null, then an object cut in a key
                my $body = "\x02\x00\x08onStatus" . "\x00" . ("\x00" x 8)
                         . "\x05" . "\x03\x00\x05lev";
                $r->send_message(type => 20, csid => 5, msid => 1,
                                 timestamp => 0, data => $body);

            } elsif ($mode eq 'media') {
                _media($r, $o, $log, $name, $m->{msid});
                return;

            } elsif ($mode eq 'garbage') {
                syswrite $c, join '', map { chr int rand 256 } 1 .. 4096;
            }
        }
    }
}

# NetStream.Play.Reset and NetStream.Play.Start, as SRS sends them; with
# $full, the whole start of a play: StreamBegin first, |RtmpSampleAccess
# and NetStream.Data.Start after
sub _play_start_srs {
    my ($r, $name, $msid, $full) = @_;
    my ($stream) = split /\?/, $name, 2;
    $stream //= '';
    # user control StreamBegin (event 0) for the play's stream
    $r->send_user_control(0, pack('N', $msid)) if $full;
    $r->send_command(5, $msid, 'onStatus', 0, undef,
        _status('status', 'NetStream.Play.Reset',
                "Playing and resetting $stream.",
                details => str($stream), clientid => str('ASAICiss')));
    $r->send_command(5, $msid, 'onStatus', 0, undef,
        _status('status', 'NetStream.Play.Start', "Started playing $stream.",
                details => str($stream), clientid => str('ASAICiss')));
    return unless $full;
    $r->send_message(type => 18, csid => 5, msid => $msid,
        data => amf0_encode(str('|RtmpSampleAccess'), bool(0), bool(0)));
    $r->send_message(type => 18, csid => 5, msid => $msid,
        data => amf0_encode(str('onStatus'),
                            obj(code => str('NetStream.Data.Start'))));
}

# A published stream's media, paced in real time, until the client goes
# (a write fails) or the fake's lifetime ends
sub _serve_media {
    my ($r, $msid) = @_;
    $r->send_metadata({ width => 320, height => 240 }, msid => $msid);
    $r->send_av(type => 9, timestamp => 0, msid => $msid,
        data => RTMP::Client::make_video_frame(seq_header => 1));
    $r->send_av(type => 8, timestamp => 0, msid => $msid,
        data => RTMP::Client::make_audio_frame(seq_header => 1));
    my $start = time;
    for (my $i = 0; ; $i++) {
        my $ts = $i * 40;
        # paces the stream: frame $i leaves at $ts ms
        sleep 0.005 while (time - $start) * 1000 < $ts;
        $r->send_av(type => 9, timestamp => $ts, msid => $msid,
            data => RTMP::Client::make_video_frame(
                keyframe => $i % 25 == 0, size => 300, seed => $i));
        $r->send_av(type => 8, timestamp => $ts + 20, msid => $msid,
            data => RTMP::Client::make_audio_frame(size => 40, seed => $i));
    }
}

# The start of a play and the redirect, as SRS sends them
sub _redirect_srs {
    my ($r, $o, $app, $name, $msid) = @_;
    my ($stream, $args) = split /\?/, $name, 2;
    $stream //= '';
    my $q = defined $args && length $args ? "?$args" : '';
    my $tcurl = "rtmp://$o->{target}/$app";
    my $full = "$tcurl/$stream$q";
    my $form = $o->{redirect_form} // 'tcurl';
    my $redirect = $form eq 'full' ? $full
                 : $form eq 'tcurl_args' ? "$tcurl$q"
                 : $tcurl;

    _play_start_srs($r, $name, $msid, $o->{full_start});

    my @ex = (code => num(302), redirect => str($redirect));
    push @ex, redirect2 => str($full) unless $o->{only_ex_redirect};
    $r->send_message(type => 20, csid => 5, msid => 0, timestamp => 0,
        data => amf0_encode(str('onStatus'), num(0), undef,
            _status('error', 'NetConnection.Connect.Rejected',
                    'RTMP 302 Redirect', ex => obj(@ex))));
}

# An FLV file's tags: [[type, timestamp, data], ...]
sub _flv_tags {
    my ($file) = @_;
    open my $fh, '<:raw', $file or die "FakeOrigin: $file: $!\n";
    local $/;
    my $flv = <$fh>;
    die "FakeOrigin: $file is not FLV\n" unless substr($flv, 0, 3) eq 'FLV';
    my $p = unpack('N', substr($flv, 5, 4)) + 4;
    my @tags;
    while ($p + 11 <= length $flv) {
        my $type = ord substr($flv, $p, 1);
        my $size = unpack('N', "\0" . substr($flv, $p + 1, 3));
        my $ts = unpack('N', substr($flv, $p + 7, 1) . substr($flv, $p + 4, 3));
        last if $p + 11 + $size > length $flv;
        push @tags, [$type & 0x1f, $ts, substr($flv, $p + 11, $size)]
            if ($type & 0x1f) =~ /^(?:8|9|18)\z/;
        $p += 11 + $size + 4;
    }
    die "FakeOrigin: no tags in $file\n" unless @tags;
    return \@tags;
}

# The start of a play as SRS sends it, then the clip in real time from
# ts_start on, looped, until the client leaves (a write fails)
sub _media {
    my ($r, $o, $log, $name, $msid) = @_;
    my $tags = $o->{tags};
    my $start = $o->{ts_start} // 0;
    my $vshift = $o->{video_shift} // 0;

    $r->set_chunk_size(4096);
    _play_start_srs($r, $name, $msid, 1);

    my $first = $tags->[0][1];
    my $span = $tags->[-1][1] - $first + 40;
    my $t0 = time;
    _log($log, "media $start");
    for (my $loop = 0; ; $loop++) {
        for my $tag (@$tags) {
            my ($type, $ts, $data) = @$tag;
            my $at = $ts - $first + $loop * $span;
            # script data (metadata) only once, as a server sends it
            next if $type == 18 && $loop;
            sleep 0.002 while (time - $t0) * 1000 < $at;
            my $out = $start + $at + ($type == 9 ? $vshift : 0);
            $out = 0 if $out < 0;
            $r->send_message(type => $type,
                             csid => { 8 => 6, 9 => 7, 18 => 5 }->{$type},
                             msid => $msid, timestamp => $out, data => $data);
            # the client's acknowledgements and pings
            while (my $m = $r->read_message(timeout => 0)) {
                die "eof\n" if $m->{type} eq 'eof';
            }
        }
    }
}

# Read (and log) what the client sends for $secs at most; stop early at
# EOF, or, with $until_command, once any command arrived.
sub _drain {
    my ($r, $log, $secs, $until_command) = @_;
    my $deadline = time + $secs;
    while ((my $left = $deadline - time) > 0) {
        my $m = $r->read_message(timeout => $left) or last;
        last if $m->{type} eq 'eof';
        my $name = $m->{name} // '';
        next unless $name ne '' && ($m->{type} == 20 || $m->{type} == 17);
        if ($name eq 'play') {
            _log($log, 'play ' . ($m->{amf}[3] // ''));
        } elsif ($name eq 'connect') {
            my $cmd = $m->{amf}[2];
            _log($log, 'connect ' . (ref $cmd eq 'HASH' ? $cmd->{app} // '' : ''));
        }
        last if $until_command;
    }
}

1;
