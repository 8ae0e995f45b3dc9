#!/usr/bin/perl

# Where an edge follows a 302 and where an origin sends one.  Addresses
# are compared as numbers (127.0.0.001 is 127.0.0.1, so a loop through
# an odd spelling is one at once); the unspecified address and the edge's
# own listen address are refused; "cluster_redirect_targets listed"
# refuses anything but a configured origin.  An origin never redirects
# to an address a coworker got wrong (0.0.0.0, garbage).

use strict;
use warnings;

use Test::More;

use lib 't/lib';
use ClusterTest;
use ClusterConf;
use FakeOrigin;
use FakeCoworker;

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

# a loop through an odd spelling of the same address

my ($p, $e, $eh);
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

# a positive control: any address by default

($p, $e, $eh) = edge_with('any', "127.0.0.1:$op");
ok(wait_video($p, count => 5, timeout => 10), 'any: the redirect is followed');
is(redirects($e, $eh)->{followed}, 1, 'any: counted');
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

# an origin: coworkers naming bad addresses are not believed

for my $bad ('0.0.0.0', 'bad host!', '', '0x0', '010.0.0.1', '0.0.0x0') {
    my $cw = FakeCoworker->start(mode => 'found', origin_ip => $bad,
        origin_port => $op, log => $t->tmp . '/cw.log');
    my ($gp, $gh) = map { $t->port } 1 .. 2;
    my $g = $t->nginx('origin-' . ($bad =~ s/\W/_/gr || 'empty'),
        cluster_origin_conf(port => $gp, http => $gh,
            coworkers => ['127.0.0.1:' . $cw->port],
            app => 'cluster_not_found reject;'),
        ports => [$gp, $gh]);
    my $q = $t->rtmp_play($gp, 'live', 's1');
    my $m = $q->wait_status(qr/^(NetStream\.Play\.StreamNotFound|NetConnection\.Connect\.Rejected)$/,
                            timeout => 10);
    is($m && $m->{code}, 'NetStream.Play.StreamNotFound',
       "coworker answers \"$bad\": not found, no 302");
    ok($g->grep_log(qr/failed the lookup .*"origin\.ip"/),
       "coworker answers \"$bad\": logged as a bad answer");
    is($g->status($gh, '/cluster')->{redirects}{sent}, 0,
       "coworker answers \"$bad\": no redirect sent");
    $q->close;
    $g->stop;
    $cw->stop;
}

$t->check_logs;

done_testing;
