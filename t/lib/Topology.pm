package Topology;

# The cluster of the design on real addresses: scripts/topology.sh builds
# network namespaces (origins 10.0.0.1-3, edge hosts Beijing 10.1.0.1,
# Shanghai 10.2.0.1, Hangzhou 10.3.0.1, a manager host 10.4.0.1, routed
# through a router namespace); this module brings it up for a test file,
# runs nginx, clients and HTTP requests inside the hosts, and always takes
# it down again (at the end, on a die, on a signal).
#
#   my $topo = Topology->up($t);   # skips the file unless root and netns
#   $t->nginx('o1', $conf, netns => $topo->ns('o1'));
#   $topo->wait_port('o1', 1935);
#   my $c = $topo->in_ns('hz', sub { $t->rtmp_play(1935, 'live', 'A',
#                                    host => '10.3.0.1', wait => 1) });
#   my $st = $topo->status('hz', 8080);
#
# A socket belongs to the namespace it was created in, whichever namespace
# the process is in later: in_ns() moves this process into a host's
# namespace (setns(2)) for the code given, then back, so clients made
# there talk from that host for the rest of their life.

use strict;
use warnings;

use Carp qw(croak);
use Config;
use Fcntl qw(:flock);
use HTTP::Tiny;
use IO::Socket::IP;
use JSON::PP ();
use Test::More ();

use ClusterTest ();

our $PREFIX = $ENV{RC_PREFIX} // 'rc-';
our $SCRIPT = "$ClusterTest::REPO/scripts/topology.sh";

our %ADDR = (o1 => '10.0.0.1', o2 => '10.0.0.2', o3 => '10.0.0.3',
             bj => '10.1.0.1', sh => '10.2.0.1', hz => '10.3.0.1',
             mgr => '10.4.0.1');

my $CLONE_NEWNET = 0x40000000;
my %SYS_SETNS = (x86_64 => 308, aarch64 => 268, i386 => 346, i686 => 346);

my @UP;         # topologies this process brought up

sub _setns_nr {
    my ($arch) = $Config{archname} =~ /^([^-]+)/;
    return $SYS_SETNS{$arch // ''};
}

# the reason this machine cannot build the topology, or undef
sub unavailable {
    return 'not root (network namespaces need root)' if $> != 0;
    return 'setns(2) number unknown on ' . $Config{archname}
        unless _setns_nr();
    my $out = `ip netns list 2>&1`;
    return "'ip netns' does not work: $out" if $? != 0;
    # listing works without the right to make one (a container without
    # CAP_SYS_ADMIN): try
    my $probe = "${PREFIX}probe$$";
    $out = `ip netns add $probe 2>&1`;
    return "cannot make a network namespace: $out" if $? != 0;
    system('ip', 'netns', 'del', $probe);
    return "$SCRIPT is missing" unless -f $SCRIPT;
    return undef;
}

# up($t): the topology, built afresh (leftovers of a crashed run removed
# first); the test file is skipped with the reason when it cannot be
sub up {
    my ($class, $t) = @_;
    if (my $why = unavailable()) {
        Test::More::plan(skip_all => $why);
    }
    # one topology on the machine at a time (prove -j): the names are fixed
    open my $lock, '>>', "/run/lock/${PREFIX}topology.lock"
        or croak "topology lock: $!";
    flock($lock, LOCK_EX) or croak "topology lock: $!";
    my $self = bless { t => $t, down => 0, lock => $lock }, $class;
    my $out = `sh $SCRIPT up 2>&1`;
    croak "topology.sh up failed:\n$out" if $? != 0;
    push @UP, $self;
    return $self;
}

# down(): every process left in the namespaces stopped, namespaces and
# links removed; nginx instances should be stopped first ($t->stop_all)
sub down {
    my ($self) = @_;
    return if $self->{down}++;
    $self->{t}->stop_all if $self->{t};
    my $out = `sh $SCRIPT down 2>&1`;
    Test::More::diag("topology.sh down failed:\n$out") if $? != 0;
    close delete $self->{lock};
}

END { $_->down for @UP }

sub ns   { $PREFIX . $_[1] }
sub addr { $ADDR{$_[1]} // croak "no host '$_[1]'" }

# in_ns($host, sub { ... }): the code's result, run in the host's network
# namespace
sub in_ns {
    my ($self, $host, $code) = @_;
    my $nr = _setns_nr();
    open my $home, '<', '/proc/self/ns/net' or croak "own netns: $!";
    my $path = '/var/run/netns/' . $self->ns($host);
    open my $there, '<', $path or croak "$path: $!";
    syscall($nr, fileno($there), $CLONE_NEWNET) == 0
        or croak "setns($path): $!";
    my @r = eval { wantarray ? $code->() : scalar $code->() };
    my $err = $@;
    syscall($nr, fileno($home), $CLONE_NEWNET) == 0
        or croak "setns back home: $!";
    die $err if $err;
    return wantarray ? @r : $r[0];
}

# port_open($host, $port, $addr): something accepts TCP at $addr (the
# host's own address by default) from inside $host
sub port_open {
    my ($self, $host, $port, $addr) = @_;
    return $self->in_ns($host, sub {
        my $s = IO::Socket::IP->new(PeerHost => $addr // $self->addr($host),
                                    PeerPort => $port, Proto => 'tcp',
                                    Timeout => 1) or return 0;
        close $s;
        return 1;
    });
}

# wait_port($host, $port): true once the host's address accepts there
sub wait_port {
    my ($self, $host, $port, %opt) = @_;
    return $self->{t}->wait_until(sub { $self->port_open($host, $port) },
                                  timeout => $opt{timeout} // 10,
                                  interval => 0.05);
}

# http($from, METHOD, $url): HTTP::Tiny's response, sent from host $from
sub http {
    my ($self, $from, $method, $url) = @_;
    return $self->in_ns($from, sub {
        HTTP::Tiny->new(timeout => ClusterTest::slow(5), keep_alive => 0)
            ->request($method, $url);
    });
}

# status($host, $port, $path): the decoded status JSON of the nginx at
# the host's address, asked from inside the host, or undef
sub status {
    my ($self, $host, $port, $path) = @_;
    my $r = $self->http($host, 'GET',
        "http://$ADDR{$host}:$port" . ($path // '/cluster'));
    return undef unless $r->{success};
    return eval { JSON::PP::decode_json($r->{content}) };
}

# set_link($host, 'up' | 'down'): the host's only link to the others
sub set_link {
    my ($self, $host, $state) = @_;
    system('ip', '-n', $self->ns($host), 'link', 'set', 'eth0', $state) == 0
        or croak "ip link set eth0 $state in " . $self->ns($host) . " failed";
    return if $state ne 'up';
    # the kernel dropped the default route with the link
    (my $gw = $self->addr($host)) =~ s/\.\d+$/.254/;
    system('ip', '-n', $self->ns($host), 'route', 'replace', 'default',
           'via', $gw) == 0
        or croak "no default route in " . $self->ns($host);
}

# spawn($host, \@cmd, name => 'x'): a ClusterTest::Proc running in the
# host's namespace
sub spawn {
    my ($self, $host, $cmd, %opt) = @_;
    return $self->{t}->spawn(['ip', 'netns', 'exec', $self->ns($host), @$cmd],
                             %opt);
}

# publish($host, $url): ffmpeg in the host pushing the test clip in a loop
sub publish {
    my ($self, $host, $url) = @_;
    my $media = $self->{t}->media;
    return $self->spawn($host, ['ffmpeg', '-hide_banner', '-nostdin',
        '-loglevel', 'error', '-re', '-stream_loop', '-1', '-i', $media,
        '-c', 'copy', '-f', 'flv', $url], name => "ffmpeg-$host");
}

1;
