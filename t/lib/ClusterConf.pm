package ClusterConf;

# Configurations shared by the cluster tests: a plain nginx-rtmp origin
# and an edge with this module, written out in full like nginx-tests do
# (a failed test file prints each nginx's as it ran, see ClusterTest);
# and helpers the test files share: players that wait for video, on the
# stream's own clock, or collect what they get; a synthetic publisher;
# the status; the stream manager's HTTP API.

use strict;
use warnings;

use Digest::MD5 qw(md5_hex);
use Exporter qw(import);
use HTTP::Tiny;
use IO::Select;
use JSON::PP ();
use Time::HiRes qw(time sleep);

use POSIX qw(_exit);
use ClusterTest ();
use RTMP::Client;

our @EXPORT = qw(lease_publishers publishers_status
    origin_conf edge_conf cluster_origin_conf wait_video
                 wait_keyframe wait_stream_time collect_media monotonic
                 stream_status origin_status origin_connections
                 manager_conf manager_req url_escape
                 synthetic_publisher stop_publisher
                 lowest_pttl established_to wait_quiet paused_samples);

# CLUSTER_MERGE_WRITES=100ms runs the suite with merged writes in every
# application with a cluster role (see cluster_merge_writes)
my $MERGE = $ENV{CLUSTER_MERGE_WRITES}
    ? "cluster_merge_writes $ENV{CLUSTER_MERGE_WRITES};" : '';

# origin_conf($rtmp_port, app => 'extra directives', workers => 1):
# nginx-rtmp with a live application
sub origin_conf {
    my ($port, %opt) = @_;
    my $app = $opt{app} // '';
    my $workers = $opt{workers} // 1;
    return <<"END";
error_log logs/error.log info;
pid logs/nginx.pid;
worker_processes $workers;
%%LOAD_MODULES%%
events {}
rtmp {
    server {
        listen 127.0.0.1:$port;
        application live {
            live on;
            $app
        }
    }
}
END
}

# manager_conf(http => N, locations => 'location /s/ { ... }'): an nginx
# serving only http, for the stream manager
sub manager_conf {
    my (%o) = @_;
    return <<"END";
error_log logs/error.log info;
pid logs/nginx.pid;
%%LOAD_MODULES%%
events {}
http {
    %%HTTP_DEFAULTS%%
    server {
        listen 127.0.0.1:$o{http};
        $o{locations}
    }
}
END
}

# cluster_origin_conf(port => N, http => N, coworkers => ['127.0.0.1:1'],
#                     app => 'extra directives', workers => 1, rtmp => '')
# an origin with this module: coworker API, status
sub cluster_origin_conf {
    my (%o) = @_;
    my $cw = @{$o{coworkers} // []}
        ? 'cluster_coworkers ' . join(' ', @{$o{coworkers}}) . ';' : '';
    my $workers = $o{workers} // 1;
    my $app = $o{app} // '';
    my $rtmp = $o{rtmp} // '';
    my $merge = "$app $rtmp" =~ /cluster_merge_writes/ ? '' : $MERGE;
    return <<"END";
error_log logs/error.log info;
pid logs/nginx.pid;
worker_processes $workers;
%%LOAD_MODULES%%
events {}
rtmp {
    cluster_zone cluster:1m;
    cluster_socket_dir %%PREFIX%%/sock;
    $rtmp
    server {
        listen 127.0.0.1:$o{port};
        application live {
            live on;
            cluster origin;
            $merge
            $cw
            $app
        }
    }
}
http {
    %%HTTP_DEFAULTS%%
    server {
        listen 127.0.0.1:$o{http};
        location /api/v1/clusters { cluster_api; }
        location /cluster { cluster_status; }
    }
}
END
}

# edge_conf(port => N, http => N, origins => ['127.0.0.1:1 backup', ...],
#           app => 'extra directives', workers => 1, listen => 'opts',
#           rtmp => 'directives at rtmp level', main => 'top level')
sub edge_conf {
    my (%o) = @_;
    my $origins = join "\n",
        map { "            cluster_origin $_;" } @{$o{origins}};
    my $workers = $o{workers} // 1;
    my $listen = $o{listen} // '';
    my $app = $o{app} // '';
    my $rtmp = $o{rtmp} // '';
    my $main = $o{main} // '';
    my $merge = "$app $rtmp" =~ /cluster_merge_writes/ ? '' : $MERGE;
    return <<"END";
error_log logs/error.log info;
pid logs/nginx.pid;
worker_processes $workers;
$main
%%LOAD_MODULES%%
events {}
rtmp {
    cluster_zone cluster:1m;
    cluster_socket_dir %%PREFIX%%/sock;
    $rtmp
    server {
        listen 127.0.0.1:$o{port} $listen;
        application live {
            live on;
            cluster edge;
            $merge
$origins
            $app
        }
    }
}
http {
    %%HTTP_DEFAULTS%%
    server {
        listen 127.0.0.1:$o{http};
        location /cluster { cluster_status; }
    }
}
END
}

# The waits below are RTMP::Client's: their time limits scale with
# TEST_SLOW (see ClusterTest::slow).

# wait_video($client, count => N, timeout => s): true once N video
# messages (sequence headers not counted) arrived
sub wait_video {
    my ($c, %o) = @_;
    my $n = $o{count} // 1;
    my $got = 0;
    return $c->wait_message(sub {
        my $m = shift;
        $got++ if $m->{type} eq '9' && !$m->{is_seq_header};
        return $got >= $n;
    }, timeout => $o{timeout} // 10);
}

# wait_keyframe($client, timeout => s): the next video keyframe (not a
# sequence header) message, or undef
sub wait_keyframe {
    my ($c, %o) = @_;
    return $c->wait_message(sub {
        my $m = shift;
        $m->{type} eq '9' && $m->{keyframe} && !$m->{is_seq_header};
    }, timeout => $o{timeout} // 10);
}

# wait_stream_time($port, $name, $ms, timeout => s): a player of
# live/$name on $port reads until a media message stamped $ms or later
# (the publisher is that far into its stream), then leaves; that
# timestamp, or undef.  A wait on the stream's own clock, where a sleep
# would guess how far a publisher got.
sub wait_stream_time {
    my ($port, $name, $ms, %o) = @_;
    my $c = RTMP::Client->new(port => $port, timeout => 5);
    $c->connect(app => 'live');
    $c->create_stream;
    $c->play($name);
    my $m = $c->wait_message(sub {
        my $m = shift;
        ($m->{type} eq '8' || $m->{type} eq '9') && !$m->{is_seq_header}
            && $m->{timestamp} >= $ms;
    }, timeout => $o{timeout} // 10);
    $c->close;
    return $m ? $m->{timestamp} : undef;
}

# collect_media($client, $until, timeout => 10): what a player gets until
# a video message stamped $until or later, as
#   { video => [[ts, md5, keyframe], ...], audio => [ts, ...],
#     arrivals => [time of every media message], first_video => time }
# (sequence headers left out)
sub collect_media {
    my ($c, $until, %o) = @_;
    my %r = (video => [], audio => [], arrivals => []);
    $c->wait_message(sub {
        my $m = shift;
        return 0 if $m->{is_seq_header}
                    || ($m->{type} ne '9' && $m->{type} ne '8');
        push @{$r{arrivals}}, time;
        if ($m->{type} eq '9') {
            $r{first_video} //= time;
            push @{$r{video}},
                [$m->{timestamp}, md5_hex($m->{data}), $m->{keyframe}];
            return $m->{timestamp} >= $until;
        }
        push @{$r{audio}}, $m->{timestamp};
        return 0;
    }, timeout => $o{timeout} // 10);
    return \%r;
}

# monotonic(@timestamps): true when they never go back
sub monotonic {
    my @ts = @_;
    for my $i (1 .. $#ts) { return 0 if $ts[$i] < $ts[$i - 1] }
    return 1;
}

# synthetic_publisher($port, $name, frames => 250, size => 300,
#                     audio_only => 0, no_key => 0): a publisher in a
# child, its pid: 25 fps video of `size`-byte frames (seeded by their
# number, so players can compare them) with a keyframe every 2 s (unless
# no_key), audio between the frames, in real time; it stays 1 s after the
# last frame
sub synthetic_publisher {
    my ($port, $name, %o) = @_;
    my $pid = fork // die "fork: $!";
    return $pid if $pid;

    $SIG{$_} = 'DEFAULT' for qw(INT TERM HUP);
    eval {
        my $c = RTMP::Client->new(port => $port, timeout => 5);
        $c->connect(app => 'live');
        $c->create_stream;
        $c->publish($name);
        $c->send_metadata({ width => 320, height => 240 });
        unless ($o{audio_only}) {
            $c->send_av(type => 9, timestamp => 0, data =>
                RTMP::Client::make_video_frame(seq_header => 1));
        }
        $c->send_av(type => 8, timestamp => 0,
                    data => RTMP::Client::make_audio_frame(seq_header => 1));
        my $start = time;
        for my $i (0 .. ($o{frames} // 250)) {
            my $ts = $i * 40;
            # paces the publisher: frame $i leaves at $ts ms
            sleep 0.001 while (time - $start) * 1000 < $ts;
            unless ($o{audio_only}) {
                $c->send_av(type => 9, timestamp => $ts,
                    data => RTMP::Client::make_video_frame(
                        keyframe => !$o{no_key} && $i % 50 == 0,
                        size => $o{size} // 300, seed => $i));
            }
            $c->send_av(type => 8, timestamp => $ts + 20,
                data => RTMP::Client::make_audio_frame(size => 40,
                                                       seed => $i));
        }
        # deliberately lets time pass: the last frames reach the players
        # before the publisher leaves
        sleep 1;
    };
    _exit(0);
}

sub stop_publisher { kill 'TERM', $_[0]; waitpid $_[0], 0 }

# stream_status($status, $name): the status entries of stream $name
sub stream_status {
    my ($st, $name) = @_;
    return () unless $st;
    return grep { $_->{name} eq $name } @{$st->{streams}};
}

sub origin_status {
    my ($st, $addr) = @_;
    return undef unless $st;
    my ($o) = grep { $_->{address} eq $addr } @{$st->{origins}};
    return $o;
}

# origin_connections($nginx, $port): established TCP connections from the
# processes of $nginx to 127.0.0.1:$port (ss)
sub origin_connections {
    my ($n, $port) = @_;
    my %w = map { $_ => 1 } $n->all_child_pids;
    my @l = grep { /pid=(\d+)/ && $w{$1} }
            `ss -tnpH state established '( dport = :$port )'`;
    return scalar @l;
}

# manager_req($port, METHOD, $path, $body, %headers): the response of the
# stream manager at 127.0.0.1:$port (HTTP::Tiny's hash), with {json}
# decoded from UTF-8 and {elapsed} in seconds; $body may be a code ref
# (a chunked body)
sub manager_req {
    my ($port, $method, $path, $body, %h) = @_;
    my $http = HTTP::Tiny->new(timeout => ClusterTest::slow(5),
                               keep_alive => 0);
    my $t0 = time;
    my $r = $http->request($method, "http://127.0.0.1:$port$path",
                           { defined $body ? (content => $body) : (),
                             headers => \%h });
    $r->{elapsed} = time - $t0;
    $r->{json} = eval { JSON::PP->new->utf8->decode($r->{content}) };
    return $r;
}

# url_escape($string): a character string percent-escaped as UTF-8
sub url_escape {
    my ($s) = @_;
    utf8::encode($s);
    $s =~ s/([^A-Za-z0-9_.~-])/sprintf('%%%02X', ord $1)/ge;
    return $s;
}

# lowest_pttl($db, $secs, @keys): the lowest PTTL in ms that any of these
# Redis keys had, looked at in one call every 0.2 s for $secs (-2: one was
# missing); $db is a Redis client
my $MIN_PTTL = 'local m = nil for _, k in ipairs(KEYS) do '
    . 'local t = redis.call("PTTL", k) if m == nil or t < m then m = t end '
    . 'end return m';

sub lowest_pttl {
    my ($db, $secs, @keys) = @_;
    my $t0 = time;
    my $lowest;
    while (time - $t0 < $secs) {
        my $p = $db->command('EVAL', $MIN_PTTL, scalar @keys, @keys);
        $lowest = $p if !defined $lowest || $p < $lowest;
        sleep 0.2;              # paces the look at Redis, not a wait
    }
    return $lowest;
}

# established_to($port): TCP connections established to 127.0.0.1:$port
sub established_to {
    my ($port) = @_;
    return scalar grep { /\S/ } `ss -Htn state established dst 127.0.0.1:$port`;
}

# wait_quiet($t, \&state, $quiet, timeout => secs): true once the string
# &state returns has not changed for $quiet seconds
sub wait_quiet {
    my ($t, $state, $quiet, %opt) = @_;
    my ($last, $since) = (-1, time);
    return $t->wait_until(sub {
        my $now = $state->();
        ($last, $since) = ($now, time) if $now ne $last;
        time - $since >= $quiet;
    }, timeout => $opt{timeout} // 10, interval => 0.05);
}

# paused_samples($db, $secs, \&sample): Redis paused for $secs (CLIENT
# PAUSE) while &sample, returning a hash of counts, is called every
# 0.05 s until 0.3 s before the pause ends.  Only samples that ended
# inside the pause count: on a loaded machine one can take long enough
# to see what came after it.  Returns ({the largest of each count},
# {the last of each}, the samples, the time the pause was asked).
sub paused_samples {
    my ($db, $secs, $sample) = @_;
    my $asked = time;           # the pause begins after this
    my $ok = $db->command('CLIENT', 'PAUSE', int($secs * 1000));
    die "CLIENT PAUSE: $ok\n" unless $ok eq 'OK';
    my (%max, %last);
    my $n = 0;
    while (time - $asked < $secs - 0.3) {
        my $s = $sample->();
        last if time - $asked >= $secs - 0.1;
        for (keys %$s) {
            $max{$_} = $s->{$_} if !defined $max{$_} || $s->{$_} > $max{$_};
        }
        %last = %$s;
        $n++;
        sleep 0.05;             # paces the look, not a wait
    }
    return (\%max, \%last, $n, $asked);
}

# lease_publishers($t, $port, $tag, $n): a process holding $n publishes of
# live/$tag0 .. live/$tag<n-1> on an origin, each sending metadata once a
# second; returns ($pid, $status_file).  publishers_status($file) reads
# {started, refused, cut}: publishes that started, that were refused, and
# that the origin closed since.  SIGTERM ends it.
sub lease_publishers {
    my ($t, $port, $tag, $n) = @_;
    my $status = $t->tmp . "/publishers-$tag";
    my $pid = fork // die "fork: $!";
    return ($pid, $status) if $pid;

    $SIG{$_} = 'DEFAULT' for qw(INT HUP);
    $SIG{PIPE} = 'IGNORE';
    my ($started, $refused, $cut, @c) = (0, 0, 0);
    my $stop = 0;
    local $SIG{TERM} = sub { $stop = 1 };
    my $write = sub {
        open my $fh, '>', "$status.tmp" or _exit(1);
        print $fh "started=$started refused=$refused cut=$cut\n";
        close $fh;
        rename "$status.tmp", $status;
    };
    for my $i (0 .. $n - 1) {
        my $c = eval {
            my $c = RTMP::Client->new(port => $port, timeout => 10);
            $c->connect(app => 'live');
            $c->create_stream;
            my $st = $c->publish("$tag$i");
            $st->{code} eq 'NetStream.Publish.Start' ? $c : undef;
        };
        if ($c) { $started++; push @c, $c } else { $refused++ }
    }
    $write->();
    my %gone;
    until ($stop) {
        for my $k (0 .. $#c) {
            next if $gone{$k};
            my $ok = eval {
                # what the origin sent is read and dropped; EOF is a cut
                my $s = $c[$k]->sock;
                while (IO::Select->new($s)->can_read(0)) {
                    my $r = sysread $s, my $buf, 65536;
                    die "eof\n" unless $r;
                }
                $c[$k]->send_metadata({ width => 320, height => 240 });
                1;
            };
            unless ($ok) { $gone{$k} = 1; $cut++ }
        }
        $write->();
        sleep 1 unless $stop;    # paces the keep-alive, not a wait
    }
    _exit(0);
}

sub publishers_status {
    my $text = eval { ClusterTest::_read_file($_[0]) } // '';
    return { $text =~ /(\w+)=(\d+)/g };
}

1;
