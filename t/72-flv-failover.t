#!/usr/bin/perl

# HTTP-FLV viewers across a failover: the edge pulls from origin1, which
# is killed under 5 HTTP-FLV viewers; the edge fails over to origin2 (its
# own publisher of the same clip, started 6 s later) and every viewer goes
# on on the same connection, each track's timestamps never going back
# (the stream's timeline, as for RTMP players: t/69), with video again
# within a bounded time, and the viewers get origin2's sequence headers.
# With merged writes, which apply to HTTP viewers too.

use strict;
use warnings;

use Test::More;
use Time::HiRes qw(time);

use lib 't/lib';
use ClusterTest;
use ClusterConf;
use FlvReader;

my $t = ClusterTest->new;
$t->skip_unless_module;

my ($o1p, $o1h, $o2p, $o2h, $ep, $eh) = map { $t->port } 1 .. 6;

my $o1 = $t->nginx('origin1', cluster_origin_conf(port => $o1p, http => $o1h),
                   ports => [$o1p, $o1h]);
my $o2 = $t->nginx('origin2', cluster_origin_conf(port => $o2p, http => $o2h),
                   ports => [$o2p, $o2h]);

my $e = $t->nginx('edge', <<"END", ports => [$ep, $eh]);
error_log logs/error.log info;
pid logs/nginx.pid;
worker_processes 1;
%%LOAD_MODULES%%
events {}
rtmp {
    cluster_zone cluster:1m;
    cluster_socket_dir %%PREFIX%%/sock;
    server {
        listen 127.0.0.1:$ep;
        application live {
            live on;
            cluster edge;
            cluster_origin 127.0.0.1:$o1p;
            cluster_origin 127.0.0.1:$o2p;
            cluster_balance order;
            cluster_merge_writes 100ms;
        }
    }
}
http {
    %%HTTP_DEFAULTS%%
    server {
        listen 127.0.0.1:$eh;
        location / { cluster_flv; }
        location /cluster { cluster_status; }
    }
}
END

$t->publish("rtmp://127.0.0.1:$o1p/live/s");
ok(defined wait_stream_time($o1p, 's', 6000, timeout => 15),
   'origin1: 6 s into its stream');
$t->publish("rtmp://127.0.0.1:$o2p/live/s");
ok(defined wait_stream_time($o2p, 's', 0, timeout => 10),
   'origin2: its own stream starts');

my @v = map { FlvReader->new(port => $eh, path => '/live/s.flv') } 1 .. 5;
ok(FlvReader::read_many(\@v, timeout => 15,
                        until => sub { $_[0]->videos >= 50 }),
   'viewers: 2 s of video from origin1');
my ($s) = stream_status($e->status($eh, '/cluster'), 's');
is($s->{origin}, "127.0.0.1:$o1p", 'status: pulling from origin1');

my %before = map { $_ => scalar @{$_->tags} } @v;
my %seq_before = map { $_ => scalar(grep { $_->{seq} } @{$_->tags}) } @v;

$o1->kill9;

ok(FlvReader::read_many(\@v, timeout => 20, until => sub {
       my $r = shift;
       my @after = @{$r->tags}[$before{$r} .. $#{$r->tags}];
       scalar(grep { $_->{type} == 9 && !$_->{seq} } @after) >= 75;
   }), 'viewers: 3 s of video after the switch');
($s) = stream_status($e->status($eh, '/cluster'), 's');
is($s->{origin}, "127.0.0.1:$o2p", 'status: pulling from origin2');
is($s->{flv}, 5, 'status: the 5 viewers stay');

for my $i (0 .. $#v) {
    my $r = $v[$i];
    ok(!$r->eof, "viewer $i: same connection");
    ok($r->monotonic(9), "viewer $i: video timestamps never go back");
    ok($r->monotonic(8), "viewer $i: audio timestamps never go back");
    cmp_ok(scalar(grep { $_->{seq} } @{$r->tags}), '>', $seq_before{$r},
           "viewer $i: the new upstream's sequence headers");
}

# the largest step between video tags across the switch: the time it
# took, never a leap of the 6 s between the publishers
my $r = $v[0];
my @vt = map { $_->{timestamp} }
         grep { $_->{type} == 9 && !$_->{seq} } @{$r->tags};
my $step = 0;
for my $i (1 .. $#vt) {
    $step = $vt[$i] - $vt[$i - 1] if $vt[$i] - $vt[$i - 1] > $step;
}
cmp_ok($step, '<', 5000, "viewer 0: the largest video step, ${step} ms, "
                         . "is no leap of 6 s");

$_->close for @v;

$t->check_logs($e, $o2);

done_testing;
