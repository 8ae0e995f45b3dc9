package FakeOrigin;

# An RTMP origin that misbehaves on purpose, in a child process: it does
# the server handshake and answers connect and createStream, then answers
# play according to its mode:
#
#   reject     onStatus level "error", NetStream.Play.StreamNotFound
#   malformed  an onStatus command whose AMF body is cut short
#   garbage    random bytes in place of chunks
#   silent     nothing: never sends media
#
# Each connection it served is logged to its log file, one line each.

use strict;
use warnings;

use IO::Socket::IP;
use POSIX qw(_exit);
use Time::HiRes qw(time sleep);

use RTMP::Client;
use RTMP::AMF0 qw(num str obj);

sub start {
    my ($class, %o) = @_;
    my $mode = $o{mode} // die "FakeOrigin: mode required";
    my $log = $o{log} // die "FakeOrigin: log required";
    my $ls = IO::Socket::IP->new(LocalHost => '127.0.0.1', LocalPort => 0,
                                 Listen => 16, ReuseAddr => 1)
        or die "FakeOrigin: listen: $!";
    my $port = $ls->sockport;

    my $pid = fork // die "FakeOrigin: fork: $!";
    if ($pid == 0) {
        $SIG{$_} = 'DEFAULT' for qw(INT TERM HUP);
        local $SIG{ALRM} = sub { _exit(0) };
        alarm($o{lifetime} // 120);
        while (my $c = $ls->accept) {
            eval { _serve($c, $mode, $log) };
            close $c;
        }
        _exit(0);
    }
    close $ls;
    return bless { pid => $pid, port => $port, log => $log }, $class;
}

sub port { $_[0]{port} }

sub served {
    my ($self) = @_;
    open my $fh, '<', $self->{log} or return 0;
    my @l = <$fh>;
    return scalar @l;
}

sub stop {
    my ($self) = @_;
    return unless $self->{pid};
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

sub _serve {
    my ($c, $mode, $log) = @_;

    open my $fh, '>>', $log;
    print $fh "connection\n";
    close $fh;

    # server handshake: C0 C1 in, S0 S1 S2 out, C2 in
    my $c1 = substr(_read_n($c, 1537), 1);
    syswrite $c, "\x03" . pack('N N', 0, 0) . ("\x5a" x 1528) . $c1;
    _read_n($c, 1536);

    my $r = RTMP::Client->new(sock => $c, no_handshake => 1, timeout => 5);

    while (my $m = $r->read_message(timeout => 10)) {
        last if $m->{type} eq 'eof';
        next unless ($m->{name} // '') ne '';

        if ($m->{name} eq 'connect') {
            $r->send_command(3, 0, '_result', 1,
                obj(fmsVer => str('FMS/3,0,1,123'), capabilities => num(31)),
                obj(level => str('status'),
                    code => str('NetConnection.Connect.Success'),
                    description => str('Connection succeeded.')));

        } elsif ($m->{name} eq 'createStream') {
            $r->send_command(3, 0, '_result', $m->{trans}, undef, num(1));

        } elsif ($m->{name} eq 'play') {
            if ($mode eq 'reject') {
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

            } elsif ($mode eq 'garbage') {
                syswrite $c, join '', map { chr int rand 256 } 1 .. 4096;
            }
        }
    }
}

1;
