#!/usr/bin/perl

# nginx -s reload with pulls live: the zone (origin health, stream
# records) is kept, players of the old worker keep playing, new players
# get the stream from the new worker, and the old worker exits once its
# players have left.

use strict;
use warnings;

use Test::More;

use lib 't/lib';
use ClusterTest;
use ClusterConf;

my $t = ClusterTest->new;
$t->skip_unless_module;

my ($op, $dead, $ep, $eh) = map { $t->port } 1 .. 4;

my $o = $t->nginx('origin', origin_conf($op), ports => [$op], cluster => 0);
my $edge = $t->nginx('edge', edge_conf(port => $ep, http => $eh,
    origins => ["127.0.0.1:$dead", "127.0.0.1:$op"],
    app => 'cluster_balance order;'),
    ports => [$ep, $eh]);

$t->publish("rtmp://127.0.0.1:$op/live/s1");
ok($t->wait_until(sub { $o->grep_log(qr/publish: name='s1'/) }), 'published');

my $old = $t->rtmp_play($ep, 'live', 's1', wait => 1);
ok(wait_video($old, count => 10, timeout => 10), 'player before reload: video');

my ($old_worker) = $edge->worker_pids;
my $before = origin_status($edge->status($eh, '/cluster'), "127.0.0.1:$dead");
cmp_ok($before->{total_fails}, '>=', 1, 'the dead origin failed once');

ok($edge->reload, 'reload');

my $st = $edge->status($eh, '/cluster');
my $after = origin_status($st, "127.0.0.1:$dead");
is($after->{total_fails}, $before->{total_fails}, 'origin health kept');
is($after->{circuit}, 'open', 'its circuit still open');
my ($s) = grep { $_->{worker} == $old_worker } stream_status($st, 's1');
ok($s && $s->{state} eq 'live', 'the old worker\'s pull is still listed');

ok(wait_video($old, count => 25, timeout => 10),
   'the old worker\'s player keeps playing');

my $new = $t->rtmp_play($ep, 'live', 's1', wait => 1);
ok(wait_video($new, count => 10, timeout => 10), 'a new player gets video');

$old->close;
ok($t->wait_until(sub { !kill 0, $old_worker }, timeout => 10),
   'the old worker exits once its players left');
ok($t->wait_until(sub {
    !grep { $_->{worker} == $old_worker }
        stream_status($edge->status($eh, '/cluster'), 's1');
}, timeout => 3), 'and its stream record is gone');

ok(wait_video($new, count => 10, timeout => 5), 'the new player plays on');
$new->close;

$t->check_logs;

done_testing;
