#!/usr/bin/perl

# Self test of FakeOrigin's redirecting modes, the RTMP peers the
# redirect tests talk to: SRS's 302 on play (Play.Reset, Play.Start, then
# onStatus on message stream 0, its options) and FMS's rejection of the
# connect, checked on the wire, with their timing; the reject mode; its
# processes all stopped.  Needs no cluster module and no nginx.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Time::HiRes qw(time);

use ClusterTest;
use FakeOrigin;
use RTMP::AMF0 qw(keys_in_order);
use RTMP::Client;

my $t = ClusterTest->new;
my $tmp = $t->tmp;

# the AMF command messages a client gets until $count of them or $timeout
sub commands {
    my ($c, $count, $timeout) = @_;
    my @m;
    my $deadline = time + $timeout;
    while (@m < $count && (my $left = $deadline - time) > 0) {
        my $m = $c->read_message(timeout => $left) or last;
        last if $m->{type} eq 'eof';
        push @m, $m if $m->{type} == 20 || $m->{type} == 18;
    }
    return @m;
}

sub wait_eof {
    my ($c, $timeout) = @_;
    my $deadline = time + $timeout;
    while ((my $left = $deadline - time) > 0) {
        my $m = $c->read_message(timeout => $left) or return 0;
        return 1 if $m->{type} eq 'eof';
    }
    return 0;
}

subtest 'redirect_srs: Play.Reset, Play.Start, then the 302 on stream 0' => sub {
    my $fo = FakeOrigin->start(mode => 'redirect_srs', target => '127.0.0.1:19351',
                               log => "$tmp/fo-srs.log");
    my $c = RTMP::Client->new(port => $fo->port);
    my $res = $c->connect(app => 'live');
    is($res->{name}, '_result', 'connect accepted');
    my $sid = $c->create_stream;
    $c->play('s1?token=x');

    my @m = commands($c, 3, 5);
    is(scalar @m, 3, 'three commands');
    my @want = ('NetStream.Play.Reset', 'NetStream.Play.Start');
    for my $i (0, 1) {
        my $m = $m[$i] // {};
        is($m->{name}, 'onStatus', "$want[$i]: onStatus");
        is($m->{msid}, $sid, "$want[$i]: on the play's stream");
        is($m->{info}{code}, $want[$i], "$want[$i]: code");
        is($m->{info}{level}, 'status', "$want[$i]: level status");
    }

    my $r = $m[2] // {};
    is($r->{type}, 20, '302: an AMF0 command');
    is($r->{name}, 'onStatus', '302: onStatus');
    is($r->{msid}, 0, '302: message stream 0');
    is($r->{csid}, 5, '302: chunk stream 5');
    is($r->{timestamp}, 0, '302: timestamp 0');
    is($r->{trans}, 0, '302: transaction 0');
    ok(@{$r->{amf} // []} == 4 && !defined $r->{amf}[2], '302: null, then the object');
    my $info = $r->{info} // {};
    is_deeply([keys_in_order($info)], [qw(level code description ex)],
              '302: keys in order');
    is($info->{level}, 'error', '302: level');
    is($info->{code}, 'NetConnection.Connect.Rejected', '302: code');
    is($info->{description}, 'RTMP 302 Redirect', '302: description');
    my $ex = $info->{ex} // {};
    is_deeply([keys_in_order($ex)], [qw(code redirect redirect2)], 'ex: keys');
    ok(defined $ex->{code} && !ref $ex->{code} && $ex->{code} == 302,
       'ex.code 302');
    is($ex->{redirect}, 'rtmp://127.0.0.1:19351/live', 'ex.redirect: the tcUrl');
    is($ex->{redirect2}, 'rtmp://127.0.0.1:19351/live/s1?token=x',
       'ex.redirect2: the full URL, with ?token=x');

    # any command from the client ends it
    $c->send_command(3, 0, 'closeStream', 0, undef);
    my $start = time;
    ok(wait_eof($c, 2), 'closed after a command');
    cmp_ok(time - $start, '<', slow(1), 'at once');
    $c->close;

    is_deeply([$fo->log_lines], ['connection', 'connect live', 'play s1?token=x'],
              'log');
    is($fo->served, 1, 'served counts connections');
    is_deeply([$fo->plays], ['s1?token=x'], 'plays');
    is_deeply([$fo->connects], ['live'], 'connects');

    # without an answer it waits 3 s, as SRS does
    $c = RTMP::Client->new(port => $fo->port);
    $c->connect(app => 'live');
    $c->create_stream;
    $c->play('s2');
    @m = commands($c, 3, 5);
    is($m[2]{info}{ex}{redirect2}, 'rtmp://127.0.0.1:19351/live/s2',
       'no args: none in redirect2');
    $start = time;
    ok(wait_eof($c, 5), 'closed');
    my $took = time - $start;
    ok($took > 2.5 && $took < 3 + slow(1),
       sprintf('after about 3s (%.2fs)', $took));
    is($fo->served, 2, 'two connections');
    $fo->stop;
};

subtest 'redirect_srs options: only_ex_redirect, redirect_form, full_start' => sub {
    my @cases = (
        [{ only_ex_redirect => 1 }, 'rtmp://h:1/app', undef],
        [{ redirect_form => 'tcurl_args' }, 'rtmp://h:1/app?token=x',
         'rtmp://h:1/app/s1?token=x'],
        [{ redirect_form => 'full', only_ex_redirect => 1 },
         'rtmp://h:1/app/s1?token=x', undef],
    );
    for my $case (@cases) {
        my ($o, $redirect, $redirect2) = @$case;
        my $what = join ',', map { "$_=$o->{$_}" } sort keys %$o;
        my $fo = FakeOrigin->start(mode => 'redirect_srs', target => 'h:1',
                                   log => "$tmp/fo-$what.log", %$o);
        my $c = RTMP::Client->new(port => $fo->port);
        $c->connect(app => 'app');
        $c->create_stream;
        $c->play('s1?token=x');
        my @m = commands($c, 3, 5);
        my $ex = $m[2]{info}{ex} // {};
        is($ex->{redirect}, $redirect, "$what: redirect");
        is($ex->{redirect2}, $redirect2, "$what: redirect2");
        is_deeply([keys_in_order($ex)],
                  [qw(code redirect), defined $redirect2 ? 'redirect2' : ()],
                  "$what: ex keys");
        $c->close;
        $fo->stop;
    }

    my $fo = FakeOrigin->start(mode => 'redirect_srs', target => 'h:1',
                               full_start => 1, log => "$tmp/fo-full.log");
    my $c = RTMP::Client->new(port => $fo->port);
    $c->connect(app => 'live');
    my $sid = $c->create_stream;
    $c->play('s1');
    my @seen;
    my $deadline = time + 5;
    while (@seen < 6 && time < $deadline) {
        my $m = $c->read_message(timeout => 1) or next;
        last if $m->{type} eq 'eof';
        if ($m->{type} == 4) {
            push @seen, "uc$m->{event}:$m->{event_data}";
        } elsif ($m->{type} == 20 || $m->{type} == 18) {
            my ($obj) = grep { ref eq 'HASH' } @{$m->{amf}};
            push @seen, "$m->{type}:$m->{name}:" . ($obj ? $obj->{code} : '');
        }
    }
    is_deeply(\@seen, ["uc0:$sid", '20:onStatus:NetStream.Play.Reset',
                       '20:onStatus:NetStream.Play.Start',
                       '18:|RtmpSampleAccess:', '18:onStatus:NetStream.Data.Start',
                       '20:onStatus:NetConnection.Connect.Rejected'],
              'full_start: the whole SRS sequence');
    $c->close;
    $fo->stop;
};

subtest 'redirect_fms: the connect is rejected with a 302' => sub {
    my $fo = FakeOrigin->start(mode => 'redirect_fms', target => '127.0.0.1:19352',
                               log => "$tmp/fo-fms.log");
    my $c = RTMP::Client->new(port => $fo->port);
    my $start = time;
    my $r = $c->connect(app => 'live');
    is($r->{type}, 20, 'an AMF0 command');
    is($r->{name}, '_error', '_error');
    is($r->{trans}, 1, 'for the connect transaction');
    ok(@{$r->{amf}} == 4 && !defined $r->{amf}[2], 'null, then the object');
    my $info = $r->{info} // {};
    is_deeply([keys_in_order($info)], [qw(level code description ex)], 'keys');
    is($info->{level}, 'error', 'level');
    is($info->{code}, 'NetConnection.Connect.Rejected', 'code');
    is($info->{description}, 'Connection failed: Application rejected connection.',
       'description');
    is_deeply([keys_in_order($info->{ex} // {})], [qw(code redirect)], 'ex keys');
    is($info->{ex}{code}, 302, 'ex.code 302');
    is($info->{ex}{redirect}, 'rtmp://127.0.0.1:19352/live', 'ex.redirect');
    ok(wait_eof($c, 3), 'closed');
    my $took = time - $start;
    ok($took > 0.8 && $took < 1 + slow(1),
       sprintf('after about 1s (%.2fs)', $took));
    is_deeply([$fo->log_lines], ['connection', 'connect live'], 'log');
    is($fo->served, 1, 'served');
    $fo->stop;
};

subtest 'FakeOrigin: the old modes still work' => sub {
    my $fo = FakeOrigin->start(mode => 'reject', log => "$tmp/fo-reject.log");
    my $c = RTMP::Client->new(port => $fo->port);
    $c->connect(app => 'live');
    $c->create_stream;
    $c->play('s1');
    my $m = $c->wait_status(qr/./, 5);
    is($m && $m->{code}, 'NetStream.Play.StreamNotFound', 'reject');
    $c->close;
    ok($t->wait_until(sub { $fo->served == 1 && $fo->plays }, timeout => 3),
       'logged');
    ok(!eval { FakeOrigin->start(mode => 'redirect_srs', log => "$tmp/y.log"); 1 },
       'redirect modes need a target');
    $fo->stop;
};

subtest 'srs_not_found: Play.Reset, Play.Start, a close, then media once published' => sub {
    my $flag = "$tmp/fo-nf.published";
    my $fo = FakeOrigin->start(mode => 'srs_not_found',
                               publish_flag => $flag,
                               log => "$tmp/fo-nf.log");
    my $c = RTMP::Client->new(port => $fo->port);
    $c->connect(app => 'live');
    my $sid = $c->create_stream;
    my $t0 = time;
    $c->play('s1');

    my @m = commands($c, 2, 5);
    my @want = (['NetStream.Play.Reset', 'Playing and resetting s1.'],
                ['NetStream.Play.Start', 'Started playing s1.']);
    for my $i (0, 1) {
        my $info = ($m[$i] // {})->{info} // {};
        is(($m[$i] // {})->{msid}, $sid, "$want[$i][0]: on the play's stream");
        is($info->{code}, $want[$i][0], "$want[$i][0]: code");
        is($info->{level}, 'status', "$want[$i][0]: level status");
        is($info->{description}, $want[$i][1], "$want[$i][0]: SRS's text");
        is($info->{details}, 's1', "$want[$i][0]: details");
        ok(defined $info->{clientid}, "$want[$i][0]: clientid");
    }
    ok(wait_eof($c, 3), 'then the connection is closed');
    my $took = time - $t0;
    cmp_ok($took, '<', slow(1), sprintf('soon after the play (%.2fs)', $took));
    is($c->stats->{video} + $c->stats->{audio}, 0, 'no media');
    $c->close;

    # published: the same statuses, then media
    open my $fh, '>', $flag or die "$flag: $!";
    close $fh;
    $c = RTMP::Client->new(port => $fo->port);
    $c->connect(app => 'live');
    $c->create_stream;
    $c->play('s1');
    ok($c->wait_status(qr/^NetStream\.Play\.Start$/, 5), 'published: Play.Start');
    my $k = $c->wait_message(sub {
        $_[0]{type} eq '9' && $_[0]{keyframe} && !$_[0]{is_seq_header}
    }, timeout => 5);
    ok($k, 'published: a keyframe');
    ok($c->wait_message(sub { $_[0]{type} eq '9' && !$_[0]{keyframe} },
                        timeout => 5), 'and more video');
    $c->close;
    is_deeply([$fo->plays], ['s1', 's1'], 'two plays logged');
    $fo->stop;
};

subtest 'no process left behind' => sub {
    my $f = FakeOrigin->start(mode => 'reject', log => "$tmp/fo-last.log");
    ok(grep({ $_->[0] == $f->pid } ClusterTest::_children($$)),
       'a running fake is seen (control)');
    $f->stop;
    my @kids = ClusterTest::_children($$);
    is_deeply(\@kids, [], 'no child process of the test');
};

done_testing;
