#!/usr/bin/perl

# Self test of the harness, ClusterTest, with stock nginx-rtmp (no cluster
# module, so it runs before the module is built): ports, time limits
# (TEST_SLOW), nginx -t, starting an nginx and reading its status, ffmpeg
# publishers, RTMP::Client, ffprobe and ffmpeg players, reload, kill -9,
# restart and stop, the error log checks (a crashed worker is seen), and
# the configurations a failed test file prints.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Time::HiRes qw(time);

use ClusterTest;
use RTMP::Client;

my @missing = grep { !-e $_ } ($ClusterTest::NGINX, $ClusterTest::RTMP_MODULE);
plan skip_all => "missing @missing ffmpeg?"
    if @missing || system('ffmpeg -version >/dev/null 2>&1') != 0;

my $t = ClusterTest->new;

subtest 'harness basics' => sub {
    my %seen;
    my @ports = map { $t->port } 1 .. 20;
    $seen{$_}++ for @ports;
    is(scalar(keys %seen), 20, 'ports are never handed out twice');
    ok(-d $t->tmp, 'temp dir exists');
    like($t->module_path, qr/ngx_rtmp_cluster_module\.so$/, 'module path');
    is($t->wait_until(sub { 42 }, timeout => 1), 42, 'wait_until returns the value');
    my $t0 = time;
    is($t->wait_until(sub { 0 }, timeout => 0.3, interval => 0.05), undef,
       'wait_until times out');
    cmp_ok(time - $t0, '<', slow(2), 'wait_until timeout is honoured');

    my $p = $t->port;
    my ($code, $out) = $t->nginx_t(<<"EOF", cluster => 0);
%%LOAD_MODULES%%
pid logs/nginx.pid;
error_log logs/error.log info;
events { }
rtmp { server { listen 127.0.0.1:$p; application live { live on; } } }
EOF
    is($code, 0, 'nginx -t accepts a good config') or diag($out);
    ($code, $out) = $t->nginx_t(<<"EOF", cluster => 0);
%%LOAD_MODULES%%
pid logs/nginx.pid;
events { }
rtmp { server { listen 127.0.0.1:$p; application live { no_such_directive on; } } }
EOF
    isnt($code, 0, 'nginx -t rejects a bad config');
    like($out, qr/\[emerg\].*no_such_directive/, 'nginx -t output has the error');
};

subtest 'time limits: TEST_SLOW' => sub {
    is(slow(2), 2 * ($ENV{TEST_SLOW} // 1), 'slow() multiplies by TEST_SLOW');
    is($RTMP::Client::TIMEOUT_SCALE, $ClusterTest::SLOW,
       'RTMP::Client\'s time limits are scaled the same');
    {
        local $ClusterTest::SLOW = 3;
        is(slow(0.5), 1.5, 'slow(0.5) is 1.5 with TEST_SLOW=3');
        my $t0 = time;
        $t->wait_until(sub { 0 }, timeout => 0.1, interval => 0.02);
        cmp_ok(time - $t0, '>=', 0.29, 'wait_until then waits 0.3 s for 0.1');
    }
    my $inc = "$FindBin::Bin/lib";
    like(`TEST_SLOW=fast $^X -I$inc -e 'use ClusterTest' 2>&1`,
         qr/TEST_SLOW must be a positive number/, 'TEST_SLOW=fast refused');
};

my $port = $t->port;
my $http = $t->port;
my $conf = <<"EOF";
%%LOAD_MODULES%%
daemon on;
master_process on;
worker_processes 1;
pid logs/nginx.pid;
error_log logs/error.log info;

events { worker_connections 256; }

rtmp {
    server {
        listen 127.0.0.1:$port;
        application live { live on; }
    }
}

http {
    %%HTTP_DEFAULTS%%
    server {
        listen 127.0.0.1:$http;
        location /json { return 200 '{"ok":1,"prefix":"%%PREFIX%%"}'; }
    }
}
EOF

my $n = $t->nginx('origin', $conf, cluster => 0, ports => [$port, $http]);
ok($n->running, 'nginx started');
ok($n->pid && $n->pid == $n->pid, 'master pid from the pid file');
is(scalar(my @w = $n->worker_pids), 1, 'one worker');
is($n->http_get($http, '/json')->{status}, 200, 'http_get');
is($n->status($http, '/json')->{prefix}, $n->prefix, 'status decodes JSON, %%PREFIX%% expanded');
is($n->status($http, '/nothing'), undef, 'status undef on 404');

my $pub = $t->publish("rtmp://127.0.0.1:$port/live/test");
ok($pub->alive, 'ffmpeg publisher running');

subtest 'play the ffmpeg stream with RTMP::Client' => sub {
    my $c = RTMP::Client->new(port => $port, timeout => 5);
    my $r = $c->connect(app => 'live', tcUrl => "rtmp://127.0.0.1:$port/live");
    is($r->{name}, '_result', 'connect _result');
    is($r->{code}, 'NetConnection.Connect.Success', 'NetConnection.Connect.Success');
    is($r->{info}{level}, 'status', 'info object');
    my $sid = $c->create_stream;
    ok($sid && $sid > 0, "createStream gave stream id $sid");
    $c->play('test');
    my $st = $c->wait_status(qr/^NetStream\.Play\.Start$/, 5);
    ok($st, 'NetStream.Play.Start');
    is($c->in_chunk_size, 4096, 'server chunk size applied');

    my ($meta, $vsh, $ash, $first_media, $audio, $monotonic) = (undef, 0, 0, undef, 0, 1);
    my ($video, $last_ts) = (0, -1);
    my $deadline = time + 15;
    while ($video < 25 && time < $deadline) {
        my $m = $c->read_message(timeout => 2) or next;
        last if $m->{type} eq 'eof';
        if ($m->{type} == 18 && ($m->{name} // '') eq 'onMetaData') {
            $meta = $m->{amf}[1];
        } elsif ($m->{type} == 8) {
            $m->{is_seq_header} ? $ash++ : $audio++;
        } elsif ($m->{type} == 9) {
            if ($m->{is_seq_header}) {
                $vsh++;
                next;
            }
            $first_media //= $m;
            $video++;
            $monotonic = 0 if $m->{timestamp} < $last_ts;
            $last_ts = $m->{timestamp};
        }
    }
    ok($meta, 'onMetaData received');
    is($meta && $meta->{width}, 320, 'metadata width');
    ok($vsh, 'video sequence header received');
    ok($first_media && $first_media->{keyframe}, 'first video frame is a keyframe');
    cmp_ok($video, '>=', 25, '25+ video frames');
    ok($monotonic, 'video timestamps non-decreasing');
    ok($ash, 'audio sequence header received');
    cmp_ok($audio, '>', 0, 'audio frames received');
    my $s = $c->stats;
    cmp_ok($s->{keyframes}, '>=', 1, 'stats: keyframes');
    cmp_ok($s->{video}, '>=', 26, 'stats: video');
    is($s->{last_video_ts}, $last_ts, 'stats: last video timestamp');
    $c->close;
};

# publish synthetic frames with one client, read them back with another
sub synthetic_roundtrip {
    my ($name, $base) = @_;
    my $p = $t->rtmp(port => $port, app => 'live');
    $p->create_stream;
    my $st = $p->publish($name);
    is($st->{code}, 'NetStream.Publish.Start', "$name: NetStream.Publish.Start");
    $p->send_metadata({ width => 320, height => 240 });
    my $vsh = RTMP::Client::make_video_frame(seq_header => 1);
    my $ash = RTMP::Client::make_audio_frame(seq_header => 1);
    $p->send_av(type => 9, timestamp => $base, data => $vsh);
    $p->send_av(type => 8, timestamp => $base, data => $ash);

    my $q = $t->rtmp_play($port, 'live', $name, wait => 1);

    my (@sent_v, @sent_a);
    for my $i (0 .. 29) {
        my $ts = $base + $i * 40;
        my $v = RTMP::Client::make_video_frame(
            keyframe => $i % 10 == 0, seed => $i,
            size => $i == 5 ? 20000 : $i == 6 ? 4096 : 100 + $i * 37);
        $p->send_av(type => 9, timestamp => $ts, data => $v);
        push @sent_v, [$ts, $v];
        my $a = RTMP::Client::make_audio_frame(size => 30 + $i, seed => $i);
        $p->send_av(type => 8, timestamp => $ts + 3, data => $a);
        push @sent_a, [$ts + 3, $a];
    }

    my (@got_v, @got_a, @got_sh);
    $q->wait_message(sub {
        my $m = shift;
        if ($m->{type} eq '9' || $m->{type} eq '8') {
            if ($m->{is_seq_header}) {
                push @got_sh, $m;
            } elsif ($m->{type} == 9) {
                push @got_v, [$m->{timestamp}, $m->{data}];
            } else {
                push @got_a, [$m->{timestamp}, $m->{data}];
            }
        }
        return @got_v >= @sent_v && @got_a >= @sent_a;
    }, timeout => 10);

    is(scalar @got_sh, 2, "$name: both sequence headers");
    ok((grep { $_->{data} eq $vsh } @got_sh), "$name: AVC sequence header bytes");
    ok((grep { $_->{data} eq $ash } @got_sh), "$name: AAC sequence header bytes");
    is(scalar @got_v, scalar @sent_v, "$name: all video frames");
    is(scalar @got_a, scalar @sent_a, "$name: all audio frames");
    my @bad_v = grep { !$got_v[$_] || $got_v[$_][0] != $sent_v[$_][0]
                       || $got_v[$_][1] ne $sent_v[$_][1] } 0 .. $#sent_v;
    my @bad_a = grep { !$got_a[$_] || $got_a[$_][0] != $sent_a[$_][0]
                       || $got_a[$_][1] ne $sent_a[$_][1] } 0 .. $#sent_a;
    is("@bad_v", '', "$name: video payloads and timestamps exact");
    is("@bad_a", '', "$name: audio payloads and timestamps exact");
    $p->close;
    $q->close;
}

subtest 'synthetic publish, read back exactly' => sub {
    synthetic_roundtrip('synth', 1000);
};

subtest 'synthetic publish across the 24-bit timestamp limit' => sub {
    synthetic_roundtrip('synth-ext', 0xFFFFFF - 600);
};

subtest 'ffprobe and ffmpeg players' => sub {
    my $j = $t->play_ffprobe("rtmp://127.0.0.1:$port/live/test", timeout => 10);
    ok($j, 'ffprobe returned JSON')
        or diag($t->{last_ffprobe}{stderr});
    my %codec = map { $_->{codec_type} => $_ } @{$j ? $j->{streams} : []};
    is($codec{video} && $codec{video}{codec_name}, 'h264', 'ffprobe: h264');
    is($codec{video} && $codec{video}{width}, 320, 'ffprobe: width');
    is($codec{audio} && $codec{audio}{codec_name}, 'aac', 'ffprobe: aac');

    my ($code, $err) = $t->ffmpeg_play("rtmp://127.0.0.1:$port/live/test", seconds => 2);
    is($code, 0, 'ffmpeg_play exit code 0') or diag($err);

    my $t0 = time;
    ($code) = $t->ffmpeg_play("rtmp://127.0.0.1:$port/live/none", seconds => 1, timeout => 2);
    isnt($code, 0, 'ffmpeg_play of a silent stream fails');
    cmp_ok(time - $t0, '<', slow(5), 'ffmpeg_play time limit');
    is($t->play_ffprobe("rtmp://127.0.0.1:1/live/x", timeout => 2), undef,
       'ffprobe of a closed port gives undef');
};

subtest 'the configurations a failed test file prints' => sub {
    my $tb = Test::More->builder;
    my $fh = $tb->failure_output;
    my $out = '';
    open my $buf, '>', \$out or die;
    $tb->failure_output($buf);
    $t->diag_confs;
    $tb->failure_output($fh);
    like($out, qr/^\s*# nginx 'origin' \(\Q${\ $n->conf_path }\E\):$/m,
         'each under its instance name');
    like($out, qr/^\s*#         listen 127\.0\.0\.1:$port;$/m, 'the whole file');
    like($out, qr/^\s*# load_module \Q$ClusterTest::RTMP_MODULE\E;$/m,
         'with the placeholders expanded');
    like($out, qr/^\s*# \(end of nginx 'origin'\)$/m, 'and where it ends');
};

subtest 'reload, kill9, restart, stop' => sub {
    my @old = $n->worker_pids;
    ok($n->reload, 'reload');
    my @new = $n->worker_pids;
    ok(@new && !grep({ my $o = $_; grep { $_ == $o } @new } @old), 'new worker pids');
    ok($pub->alive, 'publisher survived the reload');

    my $master = $n->pid;
    ok($t->port_open($port), 'port_open: the port accepts connections');
    $n->kill9;
    ok(!$n->running, 'kill9: master gone');
    ok(!$t->port_open($port), 'kill9: port closed');
    ok($pub->wait(timeout => 10), 'publisher exited after the server died');

    $n->start;
    ok($n->running && $n->pid != $master, 'restarted with a new master');
    my $c = $t->rtmp(port => $port, app => 'live');
    is($c->connect_reply->{code}, 'NetConnection.Connect.Success', 'connect after restart');
    $c->close;

    my $bad = eval { $t->rtmp(port => $port, app => 'nosuchapp'); 1 };
    ok(!$bad, 'rtmp() dies when connect is refused');
    my $c2 = $t->rtmp(port => $port, app => 'nosuchapp', allow_fail => 1);
    isnt($c2->connect_reply->{name} // '', '_result', 'allow_fail returns the client');
    $c2->close;

    ok($n->stop, 'stop');
    ok(!$n->running, 'stopped');
};

subtest 'a crashed worker shows in the error log' => sub {
    $n->start;
    is_deeply([$t->log_alerts($n)], [], 'no [alert] or [crit] yet');
    my ($w) = $n->worker_pids;
    kill 'KILL', $w;
    ok($n->wait_log(qr/worker process $w exited on signal 9/),
       'the master logs "exited on signal 9"');
    like(($t->log_alerts($n))[0] // '', qr/\[alert\].* $w exited on signal 9$/,
         'an [alert], which check_logs fails on');
    is_deeply([$t->log_alerts($n, killed => 1)], [],
              'but not with killed => 1');
    ok($t->wait_until(sub { $n->worker_pids == 1 }), 'a new worker');
    ok($n->stop, 'stopped');
};

$t->check_logs(killed => 1);
my @errors = $t->grep_log($n, qr/\[info\]/);
ok(scalar @errors, 'grep_log finds lines');

done_testing;
