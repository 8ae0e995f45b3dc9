#!/usr/bin/perl

# HTTP-FLV viewers and RTMP players of one stream at a cold edge share
# its one upstream: 100 HTTP-FLV viewers and 10 RTMP players all get video,
# the origin sees one play and one connection from the edge, and the
# status counts them by protocol (players is the total).  When they all
# leave, the pull lingers and then ends, as for RTMP players.

use strict;
use warnings;

use Test::More;

use lib 't/lib';
use ClusterTest;
use ClusterConf;
use FlvReader;

my $t = ClusterTest->new;
$t->skip_unless_module;

my ($op, $ep, $eh) = map { $t->port } 1 .. 3;
my ($NFLV, $NRTMP) = (100, 10);

my $o = $t->nginx('origin', origin_conf($op), ports => [$op], cluster => 0);

my $e = $t->nginx('edge', <<"END", ports => [$ep, $eh]);
error_log logs/error.log info;
pid logs/nginx.pid;
worker_processes 2;
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
            cluster_origin 127.0.0.1:$op;
            cluster_linger 1s;
        }
    }
}
http {
    %%HTTP_DEFAULTS%%
    server {
        listen 127.0.0.1:$eh;
        location /flv/ { cluster_flv; }
        location /cluster { cluster_status; }
    }
}
END

my $pub = $t->publish("rtmp://127.0.0.1:$op/live/s");
ok($t->wait_until(sub { $o->grep_log(qr/publish: name='s'/) }),
   'publisher on the origin');

# the first viewer is an HTTP one: it starts the pull

my @v = (FlvReader->new(port => $eh, path => '/flv/live/s.flv'));
ok(FlvReader::read_many(\@v, timeout => 10,
                        until => sub { $_[0]->videos >= 5 }),
   'the first HTTP-FLV viewer gets video');

push @v, map { FlvReader->new(port => $eh, path => '/flv/live/s.flv') }
         2 .. $NFLV;
my @p = map { $t->rtmp_play($ep, 'live', 's', wait => 1) } 1 .. $NRTMP;

my $all = FlvReader::read_many(\@v, timeout => 20,
                               until => sub { $_[0]->videos >= 25 });
ok($all, "$NFLV HTTP-FLV viewers: 25 video tags each");
is(scalar(grep { ($_->status // 0) == 200 } @v), $NFLV, "$NFLV answers 200");
is(scalar(grep { $_->monotonic(9) && $_->monotonic(8) } @v), $NFLV,
   'every viewer: timestamps monotonic');
is(scalar(grep { $_->tags->[0]{type} == 18 } @v), $NFLV,
   'every viewer: metadata first');
ok(wait_video($_, count => 25, timeout => 10), 'RTMP player: video') for @p;

# one upstream for all of them

my @plays = $o->grep_log(qr/play: name='s'/);
is(scalar @plays, 1, 'the origin saw one play');
is(origin_connections($e, $op), 1, 'one connection from the edge');

my $st = $e->status($eh, '/cluster');
my @s = stream_status($st, 's');
my $flv = 0;
my $rtmp = 0;
$flv += $_->{flv} for @s;
$rtmp += $_->{rtmp} for @s;
is($flv, $NFLV, "status: $NFLV flv viewers");
is($rtmp, $NRTMP, "status: $NRTMP rtmp players");
my ($hosted) = grep { $_->{name} eq 's' } @{$st->{hosted} // []};
is($hosted && $hosted->{players}, $NFLV + $NRTMP,
   'status, hosted: every player in all');
is($hosted && $hosted->{flv}, $NFLV, "status, hosted: $NFLV of them flv");

# all leave: the pull lingers, then ends

$_->close for @v;
$_->close for @p;
ok($t->wait_until(sub { $e->grep_log(qr/no player of "live\/s"/) },
                  timeout => 10),
   'the pull ends after cluster_linger');
ok($t->wait_until(sub {
       !stream_status($e->status($eh, '/cluster'), 's') }, timeout => 5),
   'status: the stream is gone');

$pub->stop;

$t->check_logs;

done_testing;
