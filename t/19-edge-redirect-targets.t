#!/usr/bin/perl

# Where an edge follows a 302.  By default, any address (the control,
# first); addresses are compared as numbers (127.0.0.001 is 127.0.0.1, so
# a loop through an odd spelling is one at once); the unspecified address
# and the edge's own listen address are refused; "cluster_redirect_targets
# listed" refuses anything but a configured origin.  Where an origin
# sends one: t/57-origin-redirect-targets.t.


use strict;
use warnings;

use Test::More;

use lib 't/lib';
use ClusterTest;
use ClusterConf;
use FakeOrigin;

my $t = ClusterTest->new;
$t->skip_unless_module;

# a real origin with the stream, which a redirect may name

my $op = $t->port;
my $o = $t->nginx('origin', origin_conf($op), ports => [$op], cluster => 0);
$t->publish("rtmp://127.0.0.1:$op/live/s1");
ok($t->wait_until(sub { $o->grep_log(qr/publish: name='s1'/) }), 'published');

my @fakes;      # stopped when they go out of scope: kept to the end

# edge_with($name, $target, %opt): an edge whose only origin redirects
# every play to $target; the play's end, the edge and its fake
sub edge_with {
    my ($name, $target, %opt) = @_;
    my ($fp, $ep, $eh) = map { $t->port } 1 .. 3;
    $target =~ s/EDGE/$ep/;
    my $fake = FakeOrigin->start(mode => 'redirect_srs', port => $fp,
        target => $target, log => $t->tmp . "/$name.log");
    push @fakes, $fake;
    my $conf = edge_conf(port => $ep, http => $eh,
        origins => ["127.0.0.1:$fp", @{$opt{origins} // []}],
        app => 'cluster_balance order; cluster_retry_timeout 2s; '
               . ($opt{app} // ''));
    my $e = $t->nginx($name, $conf, ports => [$ep, $eh]);
    my $p = $t->rtmp_play($ep, 'live', 's1', wait => 1);
    return ($p, $e, $eh, $fake);
}

sub redirects { $_[0]->status($_[1], '/cluster')->{redirects} }

# the control: any address by default

my ($p, $e, $eh) = edge_with('any', "127.0.0.1:$op");
ok(wait_video($p, count => 5, timeout => 10), 'any: the redirect is followed');
is(redirects($e, $eh)->{followed}, 1, 'any: counted');
$p->close;

# a loop through an odd spelling of the same address

{
    my ($fp, $ep, $h) = map { $t->port } 1 .. 3;
    my $f = FakeOrigin->start(mode => 'redirect_srs', port => $fp,
        target => "127.0.0.001:$fp", log => $t->tmp . '/self.log');
    my $x = $t->nginx('loop-odd', edge_conf(port => $ep, http => $h,
        origins => ["127.0.0.1:$fp"],
        app => 'cluster_retry_timeout 2s;'), ports => [$ep, $h]);
    my $q = $t->rtmp_play($ep, 'live', 's1', wait => 1);
    ok($q->wait_status(qr/^NetStream\.Play\.Failed$/, timeout => 10),
       'loop via 127.0.0.001: the play ends');
    is(redirects($x, $h)->{followed}, 0, 'loop via 127.0.0.001: never followed');
    ok($x->grep_log(qr/refusing the redirect .*: a loop; chain: 127\.0\.0\.1:$fp/),
       'loop via 127.0.0.001: logged as a loop');
    $q->close;
}

# the unspecified address

($p, $e, $eh) = edge_with('unspecified', "0.0.0.0:$op");
ok($p->wait_status(qr/^NetStream\.Play\.Failed$/, timeout => 10),
   '0.0.0.0: the play ends');
is(redirects($e, $eh)->{followed}, 0, '0.0.0.0: never followed');
ok($e->grep_log(qr/refusing the redirect .*0\.0\.0\.0.*invalid URL or address/),
   '0.0.0.0: logged');
$p->close;

# the edge's own listen address

($p, $e, $eh) = edge_with('own', '127.0.0.1:EDGE');
ok($p->wait_status(qr/^NetStream\.Play\.Failed$/, timeout => 10),
   'own address: the play ends');
is(redirects($e, $eh)->{followed}, 0, 'own address: never followed');
ok($e->grep_log(qr/refusing the redirect .*this host's own address/),
   'own address: logged');
$p->close;

# listed: only configured origins

($p, $e, $eh) = edge_with('listed-no', "127.0.0.1:$op",
                          app => 'cluster_redirect_targets listed;');
ok($p->wait_status(qr/^NetStream\.Play\.Failed$/, timeout => 10),
   'listed: an unlisted target ends the play');
ok($e->grep_log(qr/refusing the redirect .*not a configured origin/),
   'listed: logged');
$p->close;

($p, $e, $eh) = edge_with('listed-yes', "127.0.0.1:$op",
                          app => 'cluster_redirect_targets listed;',
                          origins => ["127.0.0.1:$op backup"]);
ok(wait_video($p, count => 5, timeout => 10),
   'listed: a configured origin is followed');
is(redirects($e, $eh)->{followed}, 1, 'listed: counted');
$p->close;

$t->check_logs;

done_testing;
