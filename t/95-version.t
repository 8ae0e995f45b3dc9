#!/usr/bin/perl

# One version: debian/changelog's first entry is the only place it is
# written.  ./config makes objs/ngx_rtmp_cluster_version.h from it, so
# the module a running nginx loaded says that version in the status
# ("version") and in the metrics (rtmp_cluster_info); no source, build
# file or document of the checkout repeats it by hand; a package built
# by `make deb` (t/89) carries it too.

use strict;
use warnings;

use Test::More;

use lib 't/lib';
use ClusterTest;

my $t = ClusterTest->new;
$t->skip_unless_module;

my $repo = ClusterTest->repo;

my ($code, $out, $err) = $t->run(['dpkg-parsechangelog', '-l',
                                  "$repo/debian/changelog", '-S',
                                  'Version'], timeout => 30);
is($code, 0, 'dpkg-parsechangelog reads debian/changelog') or diag($err);
chomp(my $version = $out);
like($version, qr/^[0-9][0-9A-Za-z.+~:-]*$/, "its version: $version");

my $hp = $t->port;
my $n = $t->nginx('status', <<"END", ports => [$hp]);
error_log logs/error.log info;
pid logs/nginx.pid;
%%LOAD_MODULES%%
events {}
http {
    %%HTTP_DEFAULTS%%
    server {
        listen 127.0.0.1:$hp;
        location /cluster { cluster_status; }
        location /metrics { cluster_metrics; }
    }
}
END

my $st = $n->status($hp, '/cluster');
is($st && $st->{version}, $version, 'the status\'s version')
    or diag explain $st;

my $r = $n->http_get($hp, '/metrics');
like($r->{content} // '', qr/^rtmp_cluster_info\{version="\Q$version\E"\} 1$/m,
     'the metrics\' rtmp_cluster_info');

# nothing else writes it: a literal version in a source, build file or
# document would be one more place to keep by hand (IP addresses such as
# 10.2.0.1 are not versions: digits or dots around it do not count)

my @files = grep { !m{^(t|bench|fuzz)/} && $_ ne 'debian/changelog' }
            split /\0/, `git -C $repo ls-files -z`;
my @hits;
for my $f (@files) {
    next unless $f =~ /\.(c|h|md|pl|sh)$|^(config|Makefile)$|^debian\//;
    open my $fh, '<', "$repo/$f" or next;
    while (my $line = <$fh>) {
        push @hits, "$f:$.: $line"
            if $line =~ /(?<![\d.])\Q$version\E(?![\d.])/;
    }
    close $fh;
}
ok(@files > 20, 'the checkout\'s files listed (' . scalar(@files) . ')');
is(scalar(@hits), 0, "no other file writes $version") or diag(@hits);

# a package built already (t/89 builds one as root) says the same

SKIP: {
    my ($deb) = grep { !/-dbgsym_/ }
                glob "$repo/build/deb/libnginx-mod-rtmp-cluster_*.deb";
    skip 'no package in build/deb (make deb)', 1 unless $deb;
    my ($c, $o) = $t->run(['dpkg-deb', '-f', $deb, 'Version'],
                          timeout => 30);
    chomp $o;
    is($o, $version, "the package's version ($deb)");
}

$t->check_logs;

done_testing;
