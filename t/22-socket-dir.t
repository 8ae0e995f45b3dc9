#!/usr/bin/perl

# The workers' socket directory (cluster_socket_dir): made 0700 for the
# worker user, sockets 0600, so no local user can publish through a
# worker socket; a symbolic link or a directory of another user refused;
# sockets of killed workers removed; a worker whose directory was removed
# makes it again, or serves its own players without relaying, never fails
# to start.

use strict;
use warnings;

use Test::More;
use File::Path qw(remove_tree);

use lib 't/lib';
use ClusterTest;
use ClusterConf;

my $t = ClusterTest->new;
$t->skip_unless_module;

my $root = $> == 0;

my $op = $t->port;
my $o = $t->nginx('origin', origin_conf($op), ports => [$op], cluster => 0);
$t->publish("rtmp://127.0.0.1:$op/live/s1");
ok($t->wait_until(sub { $o->grep_log(qr/publish: name='s1'/) }), 'published');

# an edge whose socket directory is $dir (%%PREFIX%%/sock by default)
sub edge {
    my ($name, $dir, %o) = @_;
    my ($ep, $eh) = map { $t->port } 1 .. 2;
    my $conf = edge_conf(port => $ep, http => $eh,
        origins => ["127.0.0.1:$op"], workers => $o{workers} // 2,
        rtmp => 'cluster_reuseport on;');
    $conf =~ s{cluster_socket_dir [^;]*;}{cluster_socket_dir $dir;} if $dir;
    return ($conf, $ep, $eh);
}

sub mode { sprintf '%04o', (stat $_[0])[2] & 07777 }

# the default: 0700, the worker user's; sockets 0600

my ($conf, $ep, $eh) = edge('edge');
my $e = $t->nginx('edge', $conf, ports => [$ep, $eh]);
my $dir = $e->prefix . '/sock';
my ($w) = $e->worker_pids;
my $wuid = (stat "/proc/$w")[4];

is(mode($dir), '0700', 'directory 0700');
is((stat $dir)[4], $wuid, 'owned by the worker user');
my @socks = glob "$dir/*.sock";
cmp_ok(scalar @socks, '>=', 2, 'a socket per worker');
is(scalar(grep { mode($_) ne '0600' } @socks), 0, 'sockets 0600');

# a killed worker's sockets go

ok(-S "$dir/$w.0.sock", 'the worker\'s socket is there');
kill 'KILL', $w;
ok($t->wait_until(sub { !-e "$dir/$w.0.sock" }, timeout => 10),
   'the killed worker\'s socket is removed');
ok($t->wait_until(sub { $e->worker_pids == 2 }), 'the worker is replaced');

# the directory removed: the next worker makes it again (its parent is
# the worker user's here), and says so

SKIP: {
    skip 'needs root (workers of another user)', 6 unless $root;

    chown $wuid, -1, $e->prefix;
    remove_tree($dir);
    ($w) = $e->worker_pids;
    kill 'KILL', $w;
    ok($t->wait_until(sub { -d $dir && glob "$dir/*.sock" }, timeout => 10),
       'directory made again by a new worker');
    ok($e->wait_log(qr/"cluster_socket_dir": ".*" was removed, made again/),
       'logged');
    is(mode($dir), '0700', 'made 0700');
    ok($t->wait_until(sub {
        my @st = @{$e->status($eh, '/cluster')->{workers}};
        my @s = glob "$dir/*.sock";
        @st == 2 && !grep({ !$_->{relay} } @st) && @s == 2;
    }, timeout => 10), 'status: both workers relay, the other listens anew');
    ok($e->grep_log(qr/relay socket was removed, listening anew/),
       'logged');
    chown 0, -1, $e->prefix;

    # now where the workers cannot make it: they serve without relaying

    remove_tree($dir);
    kill 'KILL', $_ for $e->worker_pids;
    ok($t->wait_until(sub {
        my @p = $e->worker_pids;
        @p == 2 && !grep { $_->{relay} }
                        @{($e->status($eh, '/cluster') // {})->{workers} // []}
    }, timeout => 10), 'both workers back, without relaying');
}

my @p = map { $t->rtmp_play($ep, 'live', 's1', wait => 1) } 1 .. 10;
is(scalar(grep { wait_video($_, count => 5, timeout => 10) } @p), 10,
   'players on every worker get video');
$_->close for @p;
ok($e->grep_log(qr/this worker has no relay socket/) || !$root,
   'a worker without a socket says so');
$e->stop;

# an existing directory with loose permissions is tightened

my $loose = $t->tmp . '/loose';
mkdir $loose;
chmod 0755, $loose;
($conf, $ep, $eh) = edge('edge-loose', $loose);
$e = $t->nginx('edge-loose', $conf, ports => [$ep, $eh]);
is(mode($loose), '0700', 'a 0755 directory becomes 0700');
$e->stop;

# refused: a symbolic link, a directory of another user

my $target = $t->tmp . '/elsewhere';
mkdir $target;
chmod 0755, $target;
symlink $target, $t->tmp . '/link';
($conf) = edge('edge-link', $t->tmp . '/link');
my ($code, $out) = $t->nginx_t($conf);
isnt($code, 0, 'a symbolic link: refused');
like($out, qr/"cluster_socket_dir": ".*link" is a symbolic link/,
     'a symbolic link: says why');
is((stat $target)[4], $>, 'the link\'s target was not handed over');
is(mode($target), '0755', 'nor its mode changed');

SKIP: {
    skip 'needs root (a directory of another user)', 2 unless $root;

    my $other = $t->tmp . '/other';
    mkdir $other;
    chown 4242, 4242, $other;
    ($conf) = edge('edge-other', $other);
    ($code, $out) = $t->nginx_t($conf);
    isnt($code, 0, 'a directory of another user: refused');
    like($out, qr/"cluster_socket_dir": ".*other" is owned by uid 4242/,
         'another user: says why');
}

$t->check_logs(killed => 1);

done_testing;
