#!/usr/bin/perl

# The Debian package (root): `make deb` builds it with debhelper and
# dh_nginx, lintian finds no error or warning; `apt-get install ./...deb`
# puts the module in /usr/lib/nginx/modules and enables it after
# mod-rtmp; Debian's stock /etc/nginx/nginx.conf plus an rtmp edge block
# passes `nginx -t` (and fails before the install: the control), starts,
# and plays a stream through the edge; the purge removes it all and
# leaves the stock configuration loadable.  Other tests keep loading the
# module by path from build/, so the install does not touch them.

use strict;
use warnings;

use Test::More;

use lib 't/lib';
use ClusterTest;
use ClusterConf;

my $PKG = 'libnginx-mod-rtmp-cluster';
my $STOCK = '/etc/nginx/nginx.conf';

my $t = ClusterTest->new;
plan(skip_all => 'installs a package: root only') if $> != 0;
plan(skip_all => "needs dpkg-buildpackage, dh_nginx, apt-get and $STOCK")
    if grep { !-e } '/usr/bin/dpkg-buildpackage', '/usr/bin/dh_nginx',
                    '/usr/bin/apt-get', $STOCK;
plan(skip_all => "$PKG is installed already: not ours to purge")
    if `dpkg-query -W -f '\${Status}' $PKG 2>/dev/null` =~ /installed/;

my $repo = ClusterTest->repo;
my $nginx = $ClusterTest::NGINX;
my $installed = 0;

# apt waits for a lock another apt holds instead of failing at once
my @apt = ('apt-get', '-y', '-q', '-o', 'DPkg::Lock::Timeout=120');
my %env = (DEBIAN_FRONTEND => 'noninteractive');

sub purge {
    return unless $installed;
    my ($code, $out, $err) = $t->run([@apt, 'purge', $PKG], env => \%env,
                                     timeout => 180);
    $installed = 0 if $code == 0;
    return ($code, $out . $err);
}

END { purge() }

my ($code, $out, $err) = $t->run(['make', '-C', $repo, 'deb'],
                                 timeout => 900);
is($code, 0, 'make deb') or diag("$out$err");
my ($deb) = grep { !/-dbgsym_/ } glob "$repo/build/deb/${PKG}_*.deb";
ok($deb, 'the package: ' . ($deb // 'none'))
    or BAIL_OUT('no package built');
like($deb, qr{/${PKG}_[^_]+_[a-z0-9]+\.deb$}, 'named PACKAGE_VERSION_ARCH.deb');

my ($changes) = glob "$repo/build/deb/${PKG}_*.changes";
($code, $out, $err) = $t->run(['lintian', '--fail-on', 'error,warning',
                               $changes], timeout => 300);
is($code, 0, 'lintian: no error or warning') or diag("$out$err");

# the edge block, appended to the stock configuration

my ($op, $ep) = map { $t->port } 1 .. 2;
my $o = $t->nginx('origin', origin_conf($op), ports => [$op], cluster => 0);
my $pub = synthetic_publisher($op, 's1', frames => 100000);
ok($t->wait_until(sub { $o->grep_log(qr/publish: name='s1'/) }),
   'publisher on the origin');

my $stock = ClusterTest::_read_file($STOCK);
my $sock = $t->tmp . '/edge-sock';
my $edge_block = <<"END";

rtmp {
    cluster_zone cluster:1m;
    cluster_socket_dir $sock;
    server {
        listen 127.0.0.1:$ep;
        application live {
            live on;
            cluster edge;
            cluster_origin 127.0.0.1:$op;
        }
    }
}
END

# stock_t($text, $name): nginx -t of $text as Debian runs it (its prefix,
# so load_module's relative paths are the system's)
sub stock_t {
    my ($text, $name) = @_;
    my $file = $t->tmp . "/$name.conf";
    open my $fh, '>', $file or die "$file: $!";
    print $fh $text;
    close $fh;
    my ($code, $out, $err) = $t->run([$nginx, '-t', '-c', $file],
                                     timeout => 10);
    return ($code, $out . $err);
}

($code, $out) = stock_t($stock . $edge_block, 'stock-before');
isnt($code, 0, 'before the install: nginx -t fails (control)');
like($out, qr/unknown directive "cluster/, 'on the cluster directives')
    or diag($out);

($code, $out, $err) = $t->run([@apt, 'install', $deb], env => \%env,
                              timeout => 300);
$installed = 1;
is($code, 0, 'apt-get install ./...deb') or diag("$out$err");

ok(-f '/usr/lib/nginx/modules/ngx_rtmp_cluster_module.so',
   'the module in /usr/lib/nginx/modules');
is(readlink('/etc/nginx/modules-enabled/70-mod-rtmp-cluster.conf'),
   '/usr/share/nginx/modules-available/mod-rtmp-cluster.conf',
   'enabled: modules-enabled/70-mod-rtmp-cluster.conf');
my @enabled = map { s{.*/}{}r } glob '/etc/nginx/modules-enabled/*.conf';
my ($rtmp_at) = grep { $enabled[$_] =~ /-mod-rtmp\.conf$/ } 0 .. $#enabled;
my ($ours_at) = grep { $enabled[$_] =~ /-mod-rtmp-cluster\.conf$/ }
                0 .. $#enabled;
ok(defined $rtmp_at && defined $ours_at && $rtmp_at < $ours_at,
   'loaded after mod-rtmp') or diag("@enabled");
ok(-f "/usr/share/doc/$PKG/directives.md.gz", 'the docs');

($code, $out) = stock_t($stock . $edge_block, 'stock-installed');
is($code, 0, 'the stock nginx.conf plus an edge block: nginx -t')
    or diag($out);

# started: the stock file with its pid, error log and the default site
# (port 80) moved out of the system's way, in a prefix whose modules/ is
# Debian's (as /usr/share/nginx/modules is)

(my $run = $stock . $edge_block) =~ s/^\s*pid\s+[^;]+;/pid logs\/nginx.pid;/m;
$run =~ s/^\s*error_log\s+[^;]+;/error_log logs\/error.log info;/m;
$run =~ s/^\s*include\s+\/etc\/nginx\/sites-enabled\/\*;//m;
my $prefix = $t->write_conf('edge', $run, cluster => 0);
symlink('/usr/lib/nginx/modules', "$prefix/modules")
    or die "symlink $prefix/modules: $!";
my $edge = $t->nginx('edge', $run, ports => [$ep], cluster => 0);
my $p = $t->rtmp_play($ep, 'live', 's1', wait => 1);
ok(wait_video($p, count => 10), 'a player gets the stream through it');
$p->close;
$edge->stop;
stop_publisher($pub);

($code, $out) = purge();
is($code, 0, 'apt-get purge') or diag($out);
ok(!-e '/usr/lib/nginx/modules/ngx_rtmp_cluster_module.so',
   'the module is gone');
ok(!-e '/etc/nginx/modules-enabled/70-mod-rtmp-cluster.conf'
   && !-l '/etc/nginx/modules-enabled/70-mod-rtmp-cluster.conf',
   'and its load file');
($code, $out) = stock_t($stock, 'stock-purged');
is($code, 0, 'the stock nginx.conf still loads') or diag($out);

$t->check_logs;

done_testing;
