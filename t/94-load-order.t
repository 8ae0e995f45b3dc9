#!/usr/bin/perl

# The module's load order (no root): it uses nginx-rtmp's symbols, so
# nginx loads it only after Debian's ngx_rtmp_module.so; before it,
# `nginx -t` fails with "undefined symbol", as the README warns.  The
# package's load file (debian/mod-rtmp-cluster.conf at the priority of
# debian/libnginx-mod-rtmp-cluster.nginx) sorts after the installed
# mod-rtmp's in a modules-enabled directory included as Debian's stock
# nginx.conf does, and nginx -t passes with both; put before it, it
# fails.

use strict;
use warnings;

use Test::More;
use File::Path qw(make_path);

use lib 't/lib';
use ClusterTest;

my $t = ClusterTest->new;
$t->skip_unless_module;

my $rtmp = $ClusterTest::RTMP_MODULE;
plan(skip_all => "no $rtmp (libnginx-mod-rtmp)") unless -f $rtmp;

my $ours = $t->module_path;
my $repo = ClusterTest->repo;

my $body = <<'END';
error_log logs/error.log;
pid logs/nginx.pid;
events {}
rtmp {
    cluster_zone cluster:1m;
    server {
        listen 127.0.0.1:1935;
        application live { live on; cluster edge;
                           cluster_origin 127.0.0.1:1936; }
    }
}
END

# the right order first: the control

my ($code, $out) = $t->nginx_t("load_module $rtmp;\nload_module $ours;\n"
                               . $body, cluster => 0, name => 'right');
is($code, 0, 'nginx-rtmp, then the cluster module: nginx -t passes')
    or diag($out);

($code, $out) = $t->nginx_t("load_module $ours;\nload_module $rtmp;\n"
                            . $body, cluster => 0, name => 'wrong');
isnt($code, 0, 'the cluster module first: nginx -t fails');
like($out, qr/\Q$ours\E.*undefined symbol: ngx_rtmp_/,
     'with "undefined symbol", naming the module and an nginx-rtmp symbol')
    or diag($out);

# the package's load file, in a modules-enabled directory as Debian's

open my $fh, '<', "$repo/debian/libnginx-mod-rtmp-cluster.nginx"
    or die "debian/libnginx-mod-rtmp-cluster.nginx: $!";
my ($prio) = map { /^mod\s+debian\/mod-rtmp-cluster\.conf\s+(\d+)/ ? $1 : () }
             <$fh>;
close $fh;
ok($prio, 'debian/libnginx-mod-rtmp-cluster.nginx gives a priority: '
          . ($prio // 'none'));

# libnginx-mod-rtmp's priority, as its postinst (dh_nginx) links it
my $theirs = 50;
if (open my $pi, '<', '/var/lib/dpkg/info/libnginx-mod-rtmp.postinst') {
    ($theirs) = map { /mod-rtmp\.conf:(\d+)-mod-rtmp\.conf/ ? $1 : () }
                <$pi>;
    $theirs //= 50;
}
cmp_ok("$prio-mod-rtmp-cluster.conf", 'gt', "$theirs-mod-rtmp.conf",
       "ours sorts after $theirs-mod-rtmp.conf");

# enabled($name, $priority): a prefix whose modules-enabled holds Debian's
# mod-rtmp.conf and ours at $priority, modules/ the two .so files
sub enabled {
    my ($name, $p) = @_;
    my $prefix = $t->write_conf($name, "include modules-enabled/*.conf;\n"
                                       . $body, cluster => 0);
    make_path("$prefix/conf/modules-enabled", "$prefix/modules");
    symlink($rtmp, "$prefix/modules/ngx_rtmp_module.so") or die $!;
    symlink($ours, "$prefix/modules/ngx_rtmp_cluster_module.so") or die $!;
    symlink('/usr/share/nginx/modules-available/mod-rtmp.conf',
            "$prefix/conf/modules-enabled/$theirs-mod-rtmp.conf") or die $!;
    symlink("$repo/debian/mod-rtmp-cluster.conf",
            "$prefix/conf/modules-enabled/$p-mod-rtmp-cluster.conf")
        or die $!;
    my ($c, $o, $e) = $t->run(
        [$ClusterTest::NGINX, '-t', '-p', "$prefix/", '-c',
         'conf/nginx.conf', '-e', 'logs/error.log'],
        timeout => 10, env => { ClusterTest::nginx_env() });
    return ($c, $o . $e);
}

SKIP: {
    skip 'no /usr/share/nginx/modules-available/mod-rtmp.conf', 3
        unless -f '/usr/share/nginx/modules-available/mod-rtmp.conf';

    ($code, $out) = enabled('enabled', $prio);
    is($code, 0, "the package's load file at $prio: nginx -t passes")
        or diag($out);

    my $before = sprintf '%02d', $theirs - 10;
    ($code, $out) = enabled('enabled-before', $before);
    isnt($code, 0, "at $before, before mod-rtmp: nginx -t fails");
    like($out, qr/undefined symbol/, 'with "undefined symbol"')
        or diag($out);
}

done_testing;
