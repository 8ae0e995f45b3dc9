package RTMP::Client;

# A small RTMP client for tests, written from the public RTMP specification
# (Adobe "Real-Time Messaging Protocol", 2012).  It speaks the plain
# (non-digest) handshake, the chunk stream protocol, protocol control
# messages, and AMF0 commands; enough to play and publish against
# nginx-rtmp and to check exactly what arrives.
#
# Every read has a deadline; nothing here can block forever.  Every time
# limit (the object's timeout and each call's) is multiplied by
# $RTMP::Client::TIMEOUT_SCALE (default 1; ClusterTest sets it from
# TEST_SLOW, so a loaded machine gets longer limits, never shorter ones).

use strict;
use warnings;

use Carp qw(croak);
use Errno qw(EINTR EAGAIN EWOULDBLOCK EINPROGRESS);
use IO::Select;
use IO::Socket::IP;
use Socket qw(IPPROTO_TCP TCP_NODELAY MSG_NOSIGNAL);
use Time::HiRes qw(time);

use RTMP::AMF0 qw(amf0_encode amf0_decode num str bool obj ecma);

our $TIMEOUT_SCALE //= 1;

use constant {
    MSG_SET_CHUNK_SIZE => 1,
    MSG_ABORT          => 2,
    MSG_ACK            => 3,
    MSG_USER_CONTROL   => 4,
    MSG_WINDOW_ACK     => 5,
    MSG_PEER_BW        => 6,
    MSG_AUDIO          => 8,
    MSG_VIDEO          => 9,
    MSG_AMF3_DATA      => 15,
    MSG_AMF3_CMD       => 17,
    MSG_AMF0_DATA      => 18,
    MSG_AMF0_CMD       => 20,
    MSG_AGGREGATE      => 22,

    UC_STREAM_BEGIN    => 0,
    UC_STREAM_EOF      => 1,
    UC_STREAM_DRY      => 2,
    UC_SET_BUFFER_LEN  => 3,
    UC_RECORDED        => 4,
    UC_PING_REQUEST    => 6,
    UC_PING_RESPONSE   => 7,

    # chunk stream ids we send on
    CSID_CONTROL       => 2,
    CSID_COMMAND       => 3,
    CSID_AUDIO         => 4,
    CSID_DATA          => 5,
    CSID_VIDEO         => 6,
    CSID_STREAM_CMD    => 8,

    HANDSHAKE_SIZE     => 1536,
    OUR_CHUNK_SIZE     => 4096,
};

# Parameter sets of a real 320x240 baseline (profile 66, level 3.0) stream
# (produced with libx264 here), used for a valid AVCDecoderConfigurationRecord.
my $SPS = pack('H*', '6742c01ed90141fb0110000003001000000303' . '20f162e480');
my $PPS = pack('H*', '68cb83cb20');

sub new {
    my ($class, %opt) = @_;
    my $self = bless {
        host          => $opt{host} // '127.0.0.1',
        port          => $opt{port},
        timeout       => $opt{timeout} // 5,
        rbuf          => '',
        in_chunk_size => 128,
        out_chunk_size => 128,
        in_streams    => {},
        ack_window    => 0,         # peer asked for acks every N bytes
        in_bytes      => 0,         # bytes received after the handshake
        last_ack      => 0,
        peer_bw       => undef,
        trans         => 1,         # last transaction id used (connect = 1)
        eof           => 0,
        stats         => {},
    }, $class;
    croak "RTMP::Client->new: port is required"
        unless $self->{port} || $opt{sock};
    $self->{port} //= 0;
    $self->reset_stats;

    # an already connected socket may be given (used by self tests)
    my $sock = $opt{sock} || IO::Socket::IP->new(
        PeerHost => $self->{host},
        PeerPort => $self->{port},
        Proto    => "tcp",
        Timeout  => $self->_limit,
    ) or die "RTMP::Client: cannot connect to $self->{host}:$self->{port}: "
          . ($@ || $!) . "\n";
    setsockopt($sock, IPPROTO_TCP, TCP_NODELAY, 1);
    binmode $sock;
    $sock->blocking(0);
    $self->{sock} = $sock;
    $self->{sel}  = IO::Select->new($sock);

    if ($opt{no_handshake}) {
        $self->{handshake_done} = 1;
    } else {
        $self->_handshake;
    }
    $self->set_chunk_size($opt{chunk_size} // OUR_CHUNK_SIZE)
        unless $opt{no_handshake} || $opt{no_chunk_size};
    return $self;
}

sub _peer { my $s = shift; "$s->{host}:$s->{port}" }

# _limit($secs): a time limit in seconds, scaled (the object's timeout
# when $secs is undef)
sub _limit {
    my ($self, $secs) = @_;
    return ($secs // $self->{timeout}) * $TIMEOUT_SCALE;
}

### low level I/O

# send all of $data (dies on error or when the peer does not drain it in time)
sub send_raw {
    my ($self, $data) = @_;
    my $sock = $self->{sock} or die "RTMP::Client: socket is closed\n";
    my $deadline = time + $self->_limit;
    my $off = 0;
    while ($off < length $data) {
        my $n = send($sock, substr($data, $off), MSG_NOSIGNAL);
        if (defined $n) {
            $off += $n;
            next;
        }
        if ($! == EAGAIN || $! == EWOULDBLOCK || $! == EINTR) {
            my $left = $deadline - time;
            die "RTMP::Client: write to " . $self->_peer . " timed out\n"
                if $left <= 0;
            IO::Select->new($sock)->can_write($left);
            next;
        }
        die "RTMP::Client: write to " . $self->_peer . " failed: $!\n";
    }
    return $off;
}

# Read whatever is available into rbuf, waiting until $deadline at most.
# Returns number of bytes read, 0 on timeout, undef on EOF.
sub _fill {
    my ($self, $deadline) = @_;
    my $sock = $self->{sock};
    return undef unless $sock;
    while (1) {
        my $left = $deadline - time;
        $left = 0 if $left < 0;
        my @ready = $self->{sel}->can_read($left);
        unless (@ready) {
            next if $! == EINTR && time < $deadline;
            return 0;
        }
        my $n = sysread($sock, $self->{rbuf}, 65536, length $self->{rbuf});
        if (!defined $n) {
            next if $! == EINTR || $! == EAGAIN || $! == EWOULDBLOCK;
            # connection reset etc.: treat like EOF
            $self->{read_error} = "$!";
            return undef;
        }
        return undef if $n == 0;
        $self->{stats}{bytes} += $n;
        if ($self->{handshake_done}) {
            $self->{in_bytes} += $n;
            $self->_maybe_ack;
        }
        return $n;
    }
}

sub _read_exact {
    my ($self, $n, $deadline, $what) = @_;
    while (length($self->{rbuf}) < $n) {
        my $r = $self->_fill($deadline);
        die "RTMP::Client: connection to " . $self->_peer
            . " closed during $what\n" unless defined $r;
        die "RTMP::Client: timeout during $what with " . $self->_peer . "\n"
            if $r == 0;
    }
    return substr($self->{rbuf}, 0, $n, '');
}

### handshake (plain, version 3, no digest)

sub _handshake {
    my ($self) = @_;
    my $deadline = time + $self->_limit;

    # C1: time(4) zero(4) random(1528); the zero field selects the plain
    # handshake on servers that also support the digest one
    my $c1 = pack('N N', 0, 0) . join('', map { chr int rand 256 } 1 .. 1528);
    $self->send_raw("\x03" . $c1);

    my $s0 = $self->_read_exact(1, $deadline, 'handshake (S0)');
    die sprintf("RTMP::Client: unexpected RTMP version %d in S0 from %s\n",
                ord $s0, $self->_peer) unless ord($s0) == 3;
    my $s1 = $self->_read_exact(HANDSHAKE_SIZE, $deadline, 'handshake (S1)');

    # C2 echoes S1
    $self->send_raw($s1);

    my $s2 = $self->_read_exact(HANDSHAKE_SIZE, $deadline, 'handshake (S2)');
    $self->{s2_echo_ok} = substr($s2, 8) eq substr($c1, 8) ? 1 : 0;
    $self->{handshake_done} = 1;
    # data already buffered after S2 counts towards acknowledgements
    $self->{in_bytes} += length $self->{rbuf};
}

### outgoing messages

# send_message(type => T, csid => C, msid => M, timestamp => TS, data => D)
# Always a fmt 0 first chunk, fmt 3 continuations.  An extended timestamp
# is repeated in the continuation chunks (as nginx-rtmp and Flash expect).
sub send_message {
    my ($self, %m) = @_;
    my $type = $m{type} // croak "send_message: type required";
    my $csid = $m{csid} // CSID_COMMAND;
    my $msid = $m{msid} // 0;
    my $ts   = ($m{timestamp} // 0) & 0xFFFFFFFF;
    my $data = $m{data} // '';
    my $len  = length $data;
    croak "send_message: message too long ($len)" if $len > 0xFFFFFF;

    my $ext = $ts >= 0xFFFFFF;
    my $basic0 = _basic_header(0, $csid);
    my $basic3 = _basic_header(3, $csid);
    my $ext_bytes = $ext ? pack('N', $ts) : '';

    my $out = $basic0
        . substr(pack('N', $ext ? 0xFFFFFF : $ts), 1)
        . substr(pack('N', $len), 1)
        . pack('C V', $type, $msid)
        . $ext_bytes;
    my $cs = $self->{out_chunk_size};
    my $off = 0;
    while (1) {
        $out .= substr($data, $off, $cs);
        $off += $cs;
        last if $off >= $len;
        $out .= $basic3 . $ext_bytes;
    }
    $self->send_raw($out);
}

sub _basic_header {
    my ($fmt, $csid) = @_;
    croak "invalid chunk stream id $csid" if $csid < 2 || $csid > 65599;
    return pack('C', ($fmt << 6) | $csid) if $csid <= 63;
    return pack('C C', $fmt << 6, $csid - 64) if $csid <= 319;
    return pack('C v', ($fmt << 6) | 1, $csid - 64);
}

sub set_chunk_size {
    my ($self, $size) = @_;
    $self->send_message(type => MSG_SET_CHUNK_SIZE, csid => CSID_CONTROL,
                        data => pack('N', $size & 0x7FFFFFFF));
    $self->{out_chunk_size} = $size;
}

sub send_window_ack_size {
    my ($self, $size) = @_;
    $self->send_message(type => MSG_WINDOW_ACK, csid => CSID_CONTROL,
                        data => pack('N', $size));
    $self->{sent_window} = $size;
}

sub send_user_control {
    my ($self, $event, $payload) = @_;
    $self->send_message(type => MSG_USER_CONTROL, csid => CSID_CONTROL,
                        data => pack('n', $event) . ($payload // ''));
}

sub _maybe_ack {
    my ($self) = @_;
    my $win = $self->{ack_window} or return;
    return if $self->{in_bytes} - $self->{last_ack} < $win;
    $self->{last_ack} = $self->{in_bytes};
    $self->send_message(type => MSG_ACK, csid => CSID_CONTROL,
                        data => pack('N', $self->{in_bytes} & 0xFFFFFFFF));
    $self->{stats}{acks_sent}++;
}

# send_command($csid, $msid, $name, $trans, @args)
sub send_command {
    my ($self, $csid, $msid, $name, $trans, @args) = @_;
    my $data = amf0_encode(str($name), num($trans // 0), @args);
    $self->send_message(type => MSG_AMF0_CMD, csid => $csid, msid => $msid,
                        data => $data);
}

### incoming messages

# Try to take one complete message out of rbuf.  Returns the message
# hashref, or undef when more bytes are needed.  Chunk state is only
# changed once a whole chunk is in the buffer.
sub _parse_message {
    my ($self) = @_;
    my $buf = \$self->{rbuf};

    while (1) {
        my $avail = length $$buf;
        return undef if $avail < 1;

        my $b0   = ord substr($$buf, 0, 1);
        my $fmt  = $b0 >> 6;
        my $csid = $b0 & 0x3F;
        my $p    = 1;
        if ($csid == 0) {
            return undef if $avail < 2;
            $csid = 64 + ord substr($$buf, 1, 1);
            $p = 2;
        } elsif ($csid == 1) {
            return undef if $avail < 3;
            $csid = 64 + unpack('v', substr($$buf, 1, 2));
            $p = 3;
        }

        my $st = $self->{in_streams}{$csid} //= {
            ts => 0, dtime => 0, len => 0, type => 0, msid => 0,
            ext => 0, ext_field => 0, data => '', started => 0,
        };
        if ($fmt != 0 && !$st->{started}) {
            die sprintf("RTMP::Client: fmt %d chunk on unknown chunk stream %d "
                        . "from %s\n", $fmt, $csid, $self->_peer);
        }

        my $hlen = (11, 7, 3, 0)[$fmt];
        return undef if $avail < $p + $hlen;
        my ($tsf, $len, $type, $msid) =
            (undef, $st->{len}, $st->{type}, $st->{msid});
        if ($fmt <= 2) {
            $tsf = unpack('N', "\0" . substr($$buf, $p, 3));
        }
        if ($fmt <= 1) {
            $len  = unpack('N', "\0" . substr($$buf, $p + 3, 3));
            $type = ord substr($$buf, $p + 6, 1);
        }
        if ($fmt == 0) {
            $msid = unpack('V', substr($$buf, $p + 7, 4));
        }
        $p += $hlen;

        my $ext_val;
        if (defined $tsf && $tsf == 0xFFFFFF) {
            return undef if $avail < $p + 4;
            $ext_val = unpack('N', substr($$buf, $p, 4));
            $p += 4;
        } elsif ($fmt == 3 && $st->{ext}) {
            # The previous header had an extended timestamp.  nginx-rtmp
            # (and Flash) repeat it in fmt 3 chunks, the 2012 spec text
            # does not: accept it if the next 4 bytes are that value.
            return undef if $avail < $p + 4;
            if (unpack('N', substr($$buf, $p, 4)) == $st->{ext_field}) {
                $p += 4;
            }
        }

        my $continuing = length($st->{data}) > 0;
        if ($continuing && $fmt != 3) {
            # a new header in the middle of a message: the peer gave up
            # on the partial message; drop it
            $self->{stats}{dropped_partial}++;
            $continuing = 0;
        }
        my $have = $continuing ? length $st->{data} : 0;
        my $want = $len - $have;
        $want = $self->{in_chunk_size} if $want > $self->{in_chunk_size};
        return undef if $avail < $p + $want;

        # the chunk is complete: commit header state
        if (!$continuing) {
            if ($fmt <= 2) {
                my $field = $ext_val // $tsf;
                $st->{ext} = defined $ext_val ? 1 : 0;
                $st->{ext_field} = $field;
                if ($fmt == 0) {
                    $st->{ts} = $field;
                    $st->{dtime} = 0;
                } else {
                    $st->{dtime} = $field;
                    $st->{ts} = ($st->{ts} + $field) & 0xFFFFFFFF;
                }
            } else {
                # fmt 3 starting a new message: same delta as the last one
                # (nginx-rtmp's interpretation; 0 after a fmt 0 header)
                $st->{ts} = ($st->{ts} + $st->{dtime}) & 0xFFFFFFFF;
            }
            $st->{len} = $len;
            $st->{type} = $type;
            $st->{msid} = $msid;
            $st->{started} = 1;
            $st->{fmt} = $fmt;
            $st->{data} = '';
        }
        $st->{data} .= substr($$buf, $p, $want);
        substr($$buf, 0, $p + $want, '');

        next if length($st->{data}) < $st->{len};

        my $data = $st->{data};
        $st->{data} = '';
        return {
            type      => $st->{type},
            csid      => $csid,
            msid      => $st->{msid},
            timestamp => $st->{ts},
            length    => length $data,
            data      => $data,
            fmt       => $st->{fmt},
        };
    }
}

# Decode and react to a freshly parsed message
sub _process {
    my ($self, $m) = @_;
    my $type = $m->{type};
    my $d = $m->{data};
    my $s = $self->{stats};
    $s->{messages}++;

    if ($type == MSG_SET_CHUNK_SIZE) {
        my $size = unpack('N', $d) & 0x7FFFFFFF;
        die "RTMP::Client: peer set invalid chunk size $size\n" unless $size;
        $self->{in_chunk_size} = $m->{chunk_size} = $size;
    } elsif ($type == MSG_ABORT) {
        my $csid = unpack('N', $d);
        $m->{abort_csid} = $csid;
        if (my $st = $self->{in_streams}{$csid}) {
            $st->{data} = '';
        }
    } elsif ($type == MSG_ACK) {
        $m->{sequence} = $self->{peer_ack} = unpack('N', $d);
    } elsif ($type == MSG_WINDOW_ACK) {
        $m->{window} = $self->{ack_window} = unpack('N', $d);
    } elsif ($type == MSG_PEER_BW) {
        my ($bw, $limit) = unpack('N C', $d);
        $m->{bandwidth} = $bw;
        $m->{limit_type} = $limit;
        $self->{peer_bw} = $bw;
        # answer with our window size if it differs (spec 5.4.5)
        $self->send_window_ack_size($bw)
            unless defined $self->{sent_window} && $self->{sent_window} == $bw;
    } elsif ($type == MSG_USER_CONTROL) {
        my ($ev, $rest) = (unpack('n', $d), substr($d, 2));
        $m->{event} = $ev;
        if ($ev == UC_SET_BUFFER_LEN) {
            $m->{event_data} = [unpack('N N', $rest)];
        } else {
            $m->{event_data} = length($rest) >= 4 ? unpack('N', $rest) : undef;
        }
        if ($ev == UC_PING_REQUEST) {
            $self->send_user_control(UC_PING_RESPONSE, substr($rest, 0, 4));
            $s->{pings}++;
        }
    } elsif ($type == MSG_VIDEO) {
        my ($b0, $b1) = unpack('C C', $d . "\0\0");
        $m->{codec} = $b0 & 0x0F;
        $m->{keyframe} = (($b0 >> 4) == 1) ? 1 : 0;
        $m->{is_seq_header} = ($m->{codec} == 7 && length($d) >= 2 && $b1 == 0) ? 1 : 0;
        $s->{video}++;
        $s->{av_bytes} += length $d;
        $s->{last_video_ts} = $m->{timestamp};
        if ($m->{is_seq_header}) {
            $s->{video_seq_headers}++;
        } elsif ($m->{keyframe}) {
            $s->{keyframes}++;
        }
    } elsif ($type == MSG_AUDIO) {
        my ($b0, $b1) = unpack('C C', $d . "\0\0");
        $m->{codec} = $b0 >> 4;
        $m->{is_seq_header} = ($m->{codec} == 10 && length($d) >= 2 && $b1 == 0) ? 1 : 0;
        $s->{audio}++;
        $s->{av_bytes} += length $d;
        $s->{last_audio_ts} = $m->{timestamp};
        $s->{audio_seq_headers}++ if $m->{is_seq_header};
    } elsif ($type == MSG_AMF0_CMD || $type == MSG_AMF0_DATA
             || $type == MSG_AMF3_CMD || $type == MSG_AMF3_DATA)
    {
        my $body = $d;
        # AMF3 command/data messages carry AMF0 after a format byte
        substr($body, 0, 1, '') if $type == MSG_AMF3_CMD || $type == MSG_AMF3_DATA;
        my @v = eval { amf0_decode($body) };
        if ($@) {
            $m->{amf_error} = $@;
            chomp $m->{amf_error};
        }
        $m->{amf} = \@v;
        $m->{name} = $v[0];
        if ($type == MSG_AMF0_CMD || $type == MSG_AMF3_CMD) {
            $m->{trans} = $v[1];
            # the info object of _result/_error/onStatus: last hash argument
            for my $x (reverse @v[2 .. $#v]) {
                if (ref $x eq 'HASH') {
                    $m->{info} = $x;
                    $m->{code} = $x->{code};
                    last;
                }
            }
        }
        $s->{commands}++;
    }
    return $m;
}

# read_message(timeout => secs) or read_message(secs)
# Returns the next message, undef on timeout, { type => 'eof' } once the
# peer closed the connection (and on every call after that).
sub read_message {
    my $self = shift;
    my %opt = @_ == 1 ? (timeout => $_[0]) : @_;
    return $self->_read_until(time + $self->_limit($opt{timeout}));
}

sub _read_until {
    my ($self, $deadline) = @_;
    while (1) {
        if (my $m = $self->_parse_message) {
            return $self->_process($m);
        }
        return $self->_eof_message if $self->{eof};
        my $r = $self->_fill($deadline);
        if (!defined $r) {
            $self->{eof} = 1;
            next;       # parse whatever is left, then report eof
        }
        return undef if $r == 0;
    }
}

sub _eof_message {
    my ($self) = @_;
    return { type => 'eof', error => $self->{read_error} };
}

# wait_message(sub { ... }, timeout => secs): first message for which the
# callback is true; undef on timeout or eof (see ->eof).  Other messages
# are consumed (and counted in stats).
sub wait_message {
    my ($self, $cb, %opt) = @_;
    my $deadline = time + $self->_limit($opt{timeout});
    while (1) {
        return undef if $deadline < time;
        my $m = $self->_read_until($deadline);
        return undef if !$m || $m->{type} eq 'eof';
        local $_ = $m;
        return $m if $cb->($m);
    }
}

# like wait_message, but an eof message is returned rather than undef
sub _wait_or_eof {
    my ($self, $cb, $timeout) = @_;
    my $deadline = time + $self->_limit($timeout);
    while (1) {
        return undef if $deadline < time;
        my $m = $self->_read_until($deadline);
        return undef unless $m;
        return $m if $m->{type} eq 'eof' || $cb->($m);
    }
}

# wait_status(qr/code/, $timeout) or wait_status(qr/code/, timeout => secs)
sub wait_status {
    my ($self, $re, @rest) = @_;
    my %opt = @rest == 1 ? (timeout => $rest[0]) : @rest;
    $re = qr/^\Q$re\E$/ unless ref $re;
    return $self->wait_message(sub {
        my $m = shift;
        return 0 unless ($m->{type} eq MSG_AMF0_CMD || $m->{type} eq MSG_AMF0_DATA)
            && defined $m->{name} && $m->{name} eq 'onStatus';
        my ($info) = grep { ref $_ eq 'HASH' } reverse @{$m->{amf}};
        return 0 unless $info && defined $info->{code};
        $m->{info} //= $info;
        $m->{code} //= $info->{code};
        return $info->{code} =~ $re;
    }, %opt);
}

### commands

# connect(app => 'live', tcUrl => 'rtmp://host:port/live', %extra)
# %extra: timeout => secs, args => [extra AMF values after the command
# object]; any other key is added to (or replaces a field of) the command
# object.  Returns the _result/_error message, or { type => 'eof' } if the
# server closed the connection; dies on timeout.
sub connect {
    my ($self, %opt) = @_;
    my $app     = delete $opt{app} // 'live';
    my $tcurl   = delete $opt{tcUrl} // "rtmp://$self->{host}:$self->{port}/$app";
    my $timeout = delete $opt{timeout} // $self->{timeout};
    my $args    = delete $opt{args} // [];

    my @fields = (
        app           => str($app),
        flashVer      => str('LNX 9,0,124,2'),
        tcUrl         => str($tcurl),
        fpad          => bool(0),
        capabilities  => num(15),
        audioCodecs   => num(3191),
        videoCodecs   => num(252),
        videoFunction => num(1),
    );
    my $cmdobj = obj(@fields);
    $cmdobj->{$_} = $opt{$_} for sort keys %opt;

    $self->{app} = $app;
    $self->send_command(CSID_COMMAND, 0, 'connect', 1, $cmdobj, @$args);
    my $m = $self->_wait_or_eof(sub {
        my $m = shift;
        $m->{type} eq MSG_AMF0_CMD && defined $m->{name}
            && ($m->{name} eq '_result' || $m->{name} eq '_error')
            && defined $m->{trans} && $m->{trans} == 1;
    }, $timeout);
    die "RTMP::Client: no reply to connect from " . $self->_peer
        . " within ${timeout}s\n" unless $m;
    $self->{connect_reply} = $m;
    return $m;
}

# create_stream(timeout => secs): the new stream id; dies on failure
sub create_stream {
    my ($self, %opt) = @_;
    my $timeout = $opt{timeout} // $self->{timeout};
    my $trans = ++$self->{trans};
    $self->send_command(CSID_COMMAND, 0, 'createStream', $trans, undef);
    my $m = $self->_wait_or_eof(sub {
        my $m = shift;
        $m->{type} eq MSG_AMF0_CMD && defined $m->{name}
            && ($m->{name} eq '_result' || $m->{name} eq '_error')
            && defined $m->{trans} && $m->{trans} == $trans;
    }, $timeout);
    die "RTMP::Client: no reply to createStream within ${timeout}s\n" unless $m;
    die "RTMP::Client: connection closed while waiting for createStream\n"
        if $m->{type} eq 'eof';
    die "RTMP::Client: createStream failed: " . ($m->{code} // 'no code') . "\n"
        if $m->{name} eq '_error';
    my $id = $m->{amf}[3];
    die "RTMP::Client: createStream reply has no stream id\n" unless defined $id;
    return $self->{stream_id} = $id;
}

sub _msid {
    my ($self, $opt) = @_;
    my $id = $opt->{msid} // $opt->{stream_id} // $self->{stream_id};
    croak "no stream: call create_stream first" unless defined $id;
    return $id;
}

# play($name, buffer => ms (3000), start => -2000, duration => N,
#      reset => bool, msid => id).  Returns right after sending.
sub play {
    my ($self, $name, %opt) = @_;
    my $msid = $self->_msid(\%opt);
    $self->send_user_control(UC_SET_BUFFER_LEN,
                             pack('N N', $msid, $opt{buffer} // 3000));
    my @args = (undef, str($name), num($opt{start} // -2000));
    push @args, num($opt{duration} // -1)
        if defined $opt{duration} || defined $opt{reset};
    push @args, bool($opt{reset}) if defined $opt{reset};
    $self->send_command(CSID_STREAM_CMD, $msid, 'play', 0, @args);
    $self->{play_name} = $name;
    return 1;
}

# publish($name, type => 'live', timeout => secs, msid => id)
# Returns the first onStatus message (Publish.Start or an error status), or
# { type => 'eof' } if the server closed the connection; dies on timeout.
sub publish {
    my ($self, $name, %opt) = @_;
    my $msid = $self->_msid(\%opt);
    my $timeout = $opt{timeout} // $self->{timeout};
    $self->send_command(CSID_STREAM_CMD, $msid, 'publish', 0,
                        undef, str($name), str($opt{type} // 'live'));
    my $m = $self->_wait_or_eof(sub {
        my $m = shift;
        $m->{type} eq MSG_AMF0_CMD && defined $m->{name} && $m->{name} eq 'onStatus';
    }, $timeout);
    die "RTMP::Client: no onStatus for publish '$name' within ${timeout}s\n"
        unless $m;
    $self->{publish_name} = $name;
    return $m;
}

sub delete_stream {
    my ($self, $id) = @_;
    $id //= $self->{stream_id};
    $self->send_command(CSID_STREAM_CMD, 0, 'deleteStream', 0, undef, num($id));
}

### publishing media

# send_av(type => 8|9, timestamp => ms, data => bytes, msid => id, csid => N)
sub send_av {
    my ($self, %o) = @_;
    my $type = $o{type} // croak "send_av: type required";
    croak "send_av: type must be 8 or 9" unless $type == MSG_AUDIO || $type == MSG_VIDEO;
    $self->send_message(
        type      => $type,
        csid      => $o{csid} // ($type == MSG_AUDIO ? CSID_AUDIO : CSID_VIDEO),
        msid      => $self->_msid(\%o),
        timestamp => $o{timestamp} // 0,
        data      => $o{data} // croak("send_av: data required"),
    );
}

# send_metadata($hashref, msid => id, timestamp => ms): @setDataFrame
# onMetaData.  A plain hashref is sent as an ECMA array with sorted keys;
# pass RTMP::AMF0::ecma(...) / obj(...) to choose order and type.
sub send_metadata {
    my ($self, $meta, %o) = @_;
    my $val = $meta;
    if (!tied %$meta) {
        $val = ecma(map { ($_ => $meta->{$_}) } sort keys %$meta);
    }
    $self->send_message(
        type      => MSG_AMF0_DATA,
        csid      => $o{csid} // CSID_DATA,
        msid      => $self->_msid(\%o),
        timestamp => $o{timestamp} // 0,
        data      => amf0_encode(str('@setDataFrame'), str('onMetaData'), $val),
    );
}

# Deterministic filler bytes
sub _filler {
    my ($n, $seed) = @_;
    return '' if $n <= 0;
    $seed //= 0;
    return pack('C*', map { ($seed * 131 + $_ * 29 + 7) & 0xFF } 0 .. $n - 1);
}

# make_video_frame(keyframe => 1|0, seq_header => 0|1, size => N,
#                  cts => ms, seed => N): FLV VIDEODATA body, AVC (codec 7).
# A frame carries one length-prefixed NAL unit (IDR slice for keyframes,
# non-IDR slice otherwise) padded to exactly `size` bytes (min 10).
sub make_video_frame {
    my %o = @_;
    my $key = $o{keyframe} // 1;
    if ($o{seq_header}) {
        my $rec = pack('C C C C C C', 1, 66, 0xC0, 30, 0xFF, 0xE1)
            . pack('n', length $SPS) . $SPS
            . pack('C n', 1, length $PPS) . $PPS;
        return pack('C C', 0x17, 0) . "\0\0\0" . $rec;
    }
    my $size = $o{size} // 100;
    $size = 10 if $size < 10;
    my $cts = ($o{cts} // 0) & 0xFFFFFF;
    my $head = pack('C C', (($key ? 1 : 2) << 4) | 7, 1) . substr(pack('N', $cts), 1);
    my $nal_len = $size - 5 - 4;
    my $nal = pack('C', $key ? 0x65 : 0x41) . _filler($nal_len - 1, $o{seed});
    return $head . pack('N', $nal_len) . $nal;
}

# make_audio_frame(seq_header => 0|1, size => N, seed => N): FLV AUDIODATA
# body, AAC (0xAF: format 10, 44 kHz, 16 bit, stereo), exactly `size` bytes
# (min 3).  The sequence header is AudioSpecificConfig 0x12 0x10 (AAC LC,
# 44100 Hz, 2 channels).
sub make_audio_frame {
    my %o = @_;
    return "\xAF\x00\x12\x10" if $o{seq_header};
    my $size = $o{size} // 50;
    $size = 3 if $size < 3;
    return "\xAF\x01" . _filler($size - 2, $o{seed});
}

### accessors

sub stats { $_[0]{stats} }

sub reset_stats {
    my ($self) = @_;
    $self->{stats} = {
        video => 0, audio => 0, keyframes => 0, bytes => $self->{stats}{bytes} // 0,
        av_bytes => 0, video_seq_headers => 0, audio_seq_headers => 0,
        messages => 0, commands => 0, last_video_ts => undef,
        last_audio_ts => undef, pings => 0, acks_sent => 0,
    };
}

sub stream_id     { $_[0]{stream_id} }
sub connect_reply { $_[0]{connect_reply} }
sub eof           { $_[0]{eof} }
sub sock          { $_[0]{sock} }
sub host          { $_[0]{host} }
sub port          { $_[0]{port} }
sub in_chunk_size { $_[0]{in_chunk_size} }
sub out_chunk_size { $_[0]{out_chunk_size} }

sub close {
    my ($self) = @_;
    my $sock = delete $self->{sock} or return;
    delete $self->{sel};
    CORE::close($sock);
    $self->{eof} = 1;
}

sub DESTROY {
    local ($@, $!, $?);
    $_[0]->close;
}

1;
