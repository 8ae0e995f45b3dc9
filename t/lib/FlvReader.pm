package FlvReader;

# An HTTP-FLV viewer for the tests: one GET (HTTP/1.1 chunked, or HTTP/1.0
# read to the close), the status and headers, then the FLV header and its
# tags as they come: type, timestamp, size, keyframe, sequence header.
# It reads only when asked, so a reader that is not asked is a slow
# viewer (the kernel's buffers fill, then the server's queue).

use strict;
use warnings;

use IO::Socket::INET;
use IO::Select;
use Time::HiRes qw(time);

use ClusterTest ();

# FlvReader->new(port => N, path => '/live/s.flv', http10 => 0,
#                method => 'GET', rcvbuf => bytes, timeout => s)
sub new {
    my ($class, %o) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                  PeerPort => $o{port}, Proto => 'tcp',
                                  Timeout => 5)
        or die "FlvReader: connect to $o{port}: $!\n";
    if ($o{rcvbuf}) {
        setsockopt($s, Socket::SOL_SOCKET(), Socket::SO_RCVBUF(),
                   pack('i', $o{rcvbuf}));
    }
    binmode $s;
    my $method = $o{method} // 'GET';
    my $version = $o{http10} ? '1.0' : '1.1';
    my $extra = $o{headers} // '';
    print $s "$method $o{path} HTTP/$version\r\nHost: 127.0.0.1\r\n"
             . "${extra}\r\n";
    my $self = bless { sock => $s, sel => IO::Select->new($s), raw => '',
                       body => '', tags => [], eof => 0, flv => undef,
                       method => $method }, $class;
    return $self;
}

sub _fill {
    my ($self, $deadline) = @_;
    return 0 if $self->{eof};
    my $left = $deadline - time;
    return 0 if $left <= 0;
    return 0 unless $self->{sel}->can_read($left);
    my $n = sysread($self->{sock}, my $buf, 65536);
    if (!$n) {
        $self->{eof} = 1;
        return 0;
    }
    $self->{raw} .= $buf;
    $self->{bytes} += $n;
    return 1;
}

# response(timeout => s): (status, {lower-case header => value}), or ()
sub response {
    my ($self, %o) = @_;
    return ($self->{status}, $self->{headers}) if $self->{status};
    my $deadline = time + ClusterTest::slow($o{timeout} // 10);
    while ($self->{raw} !~ /\r\n\r\n/) {
        $self->_fill($deadline) or return ();
    }
    $self->{raw} =~ s/\A(.*?)\r\n\r\n//s;
    my ($line, @h) = split /\r\n/, $1;
    my ($status) = $line =~ m{^HTTP/1\.\d (\d+)};
    my %h = map { my ($k, $v) = /^([^:]+):\s*(.*)$/; (lc $k => $v) } @h;
    $self->{status} = $status;
    $self->{headers} = \%h;
    $self->{chunked} = lc($h{'transfer-encoding'} // '') eq 'chunked';
    $self->{status_line} = $line;
    return ($status, \%h);
}

# the body's bytes so far, de-chunked
sub _dechunk {
    my ($self) = @_;
    if (!$self->{chunked}) {
        $self->{body} .= $self->{raw};
        $self->{raw} = '';
        return;
    }
    while ($self->{raw} =~ /\A([0-9a-fA-F]+)\r\n/) {
        my $size = hex $1;
        my $hl = length($1) + 2;
        last if length($self->{raw}) < $hl + $size + 2;
        $self->{body} .= substr($self->{raw}, $hl, $size);
        die "FlvReader: bad chunk framing\n"
            unless substr($self->{raw}, $hl + $size, 2) eq "\r\n";
        $self->{last_chunk} = 1 if $size == 0;
        substr($self->{raw}, 0, $hl + $size + 2) = '';
    }
}

sub _parse {
    my ($self) = @_;
    $self->_dechunk;
    if (!$self->{flv}) {
        return if length($self->{body}) < 13;
        my ($sig, $ver, $flags, $off) = unpack('a3 C C N', $self->{body});
        die "FlvReader: not FLV\n" unless $sig eq 'FLV';
        $self->{flv} = { version => $ver, flags => $flags };
        substr($self->{body}, 0, $off + 4) = '';
    }
    while (length($self->{body}) >= 11) {
        my ($type, $s1, $s2, $t1, $t2, $te) =
            unpack('C C n C n C', $self->{body});
        my $size = ($s1 << 16) | $s2;
        last if length($self->{body}) < 11 + $size + 4;
        my $ts = ($te << 24) | ($t1 << 16) | $t2;
        my $data = substr($self->{body}, 11, $size);
        my $prev = unpack('N', substr($self->{body}, 11 + $size, 4));
        die "FlvReader: bad previous tag size $prev for $size\n"
            unless $prev == $size + 11;
        my $first = $size ? ord($data) : 0;
        my %tag = (type => $type, timestamp => $ts, size => $size);
        if ($type == 9) {
            $tag{key} = ($first >> 4) == 1 ? 1 : 0;
            $tag{seq} = ($size > 1 && ($first & 0x0f) == 7
                         && ord(substr($data, 1, 1)) == 0) ? 1 : 0;
        } elsif ($type == 8) {
            $tag{seq} = ($size > 1 && ($first >> 4) == 10
                         && ord(substr($data, 1, 1)) == 0) ? 1 : 0;
        } elsif ($type == 18) {
            $tag{name} = $data =~ /\A\x02..(onMetaData)/s ? $1 : '?';
        }
        push @{$self->{tags}}, \%tag;
        substr($self->{body}, 0, 11 + $size + 4) = '';
    }
}

# read(timeout => s, until => sub { $tags }): the tags so far, once
# until() holds, the time is up or the server closed
sub read {
    my ($self, %o) = @_;
    my $deadline = time + ClusterTest::slow($o{timeout} // 10);
    $self->response(timeout => $o{timeout} // 10) or return $self->{tags};
    while (1) {
        $self->_parse;
        last if $o{until} && $o{until}->($self->{tags});
        $self->_fill($deadline) or do { $self->_parse; last };
    }
    return $self->{tags};
}

# read_many(\@readers, timeout => s, until => sub { $reader }): reads all
# of them as data comes, until until() holds for each (or EOF, or the
# time is up); true when it held for all
sub read_many {
    my ($readers, %o) = @_;
    my $deadline = time + ClusterTest::slow($o{timeout} // 10);
    my %left = map { $_ => $_ } @$readers;
    $_->response(timeout => $o{timeout} // 10) for @$readers;
    while (%left && time < $deadline) {
        my $sel = IO::Select->new(map { $_->{sock} }
                                  grep { !$_->{eof} } values %left);
        last unless $sel->count;
        my %by = map { ($_->{sock} => $_) } values %left;
        for my $sock ($sel->can_read($deadline - time)) {
            my $r = $by{$sock};
            my $n = sysread($sock, my $buf, 65536);
            if (!$n) { $r->{eof} = 1; next }
            $r->{raw} .= $buf;
            $r->{bytes} += $n;
        }
        for my $r (values %left) {
            $r->_parse;
            delete $left{$r} if $o{until}->($r) || $r->{eof};
        }
    }
    return !grep { !$o{until}->($_) } @$readers;
}

# the number of video tags (sequence headers left out)
sub videos { scalar grep { $_->{type} == 9 && !$_->{seq} } @{$_[0]{tags}} }

sub tags   { $_[0]{tags} }
sub flv    { $_[0]{flv} }
sub eof    { $_[0]{eof} }
sub status { $_[0]{status} }
sub bytes  { $_[0]{bytes} // 0 }
sub raw_body { $_[0]{body} }

sub close {
    my ($self) = @_;
    close $self->{sock} if $self->{sock};
    delete $self->{sock};
}

# the video (9) or audio (8) tags' timestamps never go back
sub monotonic {
    my ($self, $type) = @_;
    my $last = -1;
    for my $t (grep { $_->{type} == $type } @{$self->{tags}}) {
        return 0 if $t->{timestamp} < $last;
        $last = $t->{timestamp};
    }
    return 1;
}

1;
