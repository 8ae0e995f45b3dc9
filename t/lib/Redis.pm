package Redis;

# A small Redis client for the tests: RESP over a blocking TCP socket, one
# command at a time, every read under a deadline.  Enough to look at what
# the stream manager wrote, not a general client.
#
#   my $r = Redis->new(port => $port);          # dies if nobody answers
#   $r->command('SET', 'k', 'v');               # 'OK'
#   $r->command('GET', 'nope');                 # undef
#   $r->command('KEYS', 'ngx_rtmp_cluster:*');  # [ ... ]
#   Redis->ping($port)                          # true when it answers PONG
#
# Replies: simple and bulk strings as strings (bytes), integers as numbers,
# nil as undef, arrays as array refs.  An error reply dies with its text.

use strict;
use warnings;

use Carp qw(croak);
use Errno qw(EINTR EAGAIN EWOULDBLOCK);
use IO::Select;
use IO::Socket::IP;
use Time::HiRes qw(time);

# new(port => N, host => '127.0.0.1', timeout => 5)
sub new {
    my ($class, %o) = @_;
    my $port = $o{port} // croak "Redis: port required";
    my $host = $o{host} // '127.0.0.1';
    my $s = IO::Socket::IP->new(PeerHost => $host, PeerPort => $port,
                                Proto => 'tcp', Timeout => 2)
        or croak "Redis: cannot connect to $host:$port: " . ($@ || $!);
    binmode $s;
    my $self = bless { sock => $s, timeout => $o{timeout} // 5, buf => '' },
                     $class;
    # password => '...': AUTH first, as a client of a requirepass server
    $self->command('AUTH', $o{password}) if defined $o{password};
    return $self;
}

# true when a Redis on that port answers PING now
sub ping {
    my ($class, $port, $password) = @_;
    my $r = eval { $class->new(port => $port, timeout => 1,
                               password => $password)->command('PING') };
    return defined $r && $r eq 'PONG';
}

sub command {
    my ($self, @args) = @_;
    my $req = '*' . scalar(@args) . "\r\n";
    for my $a (@args) {
        my $b = "$a";
        utf8::encode($b) if utf8::is_utf8($b);
        $req .= '$' . length($b) . "\r\n$b\r\n";
    }
    $self->{deadline} = time + $self->{timeout};
    $self->_write($req);
    return $self->_reply;
}

sub close {
    my ($self) = @_;
    close $self->{sock} if $self->{sock};
    delete $self->{sock};
}

sub DESTROY { $_[0]->close }

sub _write {
    my ($self, $data) = @_;
    my $off = 0;
    while ($off < length $data) {
        my $n = syswrite($self->{sock}, $data, length($data) - $off, $off);
        if (!defined $n) {
            next if $! == EINTR || $! == EAGAIN || $! == EWOULDBLOCK;
            croak "Redis: write: $!";
        }
        $off += $n;
    }
}

# more bytes into the buffer, or die at the deadline or on EOF
sub _fill {
    my ($self) = @_;
    while (1) {
        my $left = $self->{deadline} - time;
        croak "Redis: no reply in time" if $left <= 0;
        next unless IO::Select->new($self->{sock})->can_read($left);
        my $n = sysread($self->{sock}, $self->{buf}, 65536,
                        length $self->{buf});
        if (!defined $n) {
            next if $! == EINTR || $! == EAGAIN || $! == EWOULDBLOCK;
            croak "Redis: read: $!";
        }
        croak "Redis: connection closed" if $n == 0;
        return;
    }
}

sub _line {
    my ($self) = @_;
    while ((my $i = index($self->{buf}, "\r\n")) < 0) {
        $self->_fill;
    }
    my $i = index($self->{buf}, "\r\n");
    my $line = substr($self->{buf}, 0, $i);
    substr($self->{buf}, 0, $i + 2) = '';
    return $line;
}

sub _bytes {
    my ($self, $n) = @_;
    $self->_fill while length $self->{buf} < $n + 2;
    my $data = substr($self->{buf}, 0, $n);
    substr($self->{buf}, 0, $n + 2) = '';
    return $data;
}

sub _reply {
    my ($self) = @_;
    my $line = $self->_line;
    my ($type, $rest) = (substr($line, 0, 1), substr($line, 1));
    return $rest if $type eq '+';
    croak "Redis: $rest" if $type eq '-';
    return $rest + 0 if $type eq ':';
    if ($type eq '$') {
        return undef if $rest < 0;
        return $self->_bytes($rest);
    }
    if ($type eq '*') {
        return undef if $rest < 0;
        return [ map { $self->_reply } 1 .. $rest ];
    }
    croak "Redis: unexpected reply line '$line'";
}

1;
