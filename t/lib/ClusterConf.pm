package ClusterConf;

# Configurations shared by the cluster tests: a plain nginx-rtmp origin
# and an edge with this module, written out in full like nginx-tests do.

use strict;
use warnings;

use Exporter qw(import);
use Time::HiRes qw(time sleep);

use POSIX qw(_exit);
use RTMP::Client;

our @EXPORT = qw(origin_conf edge_conf cluster_origin_conf wait_video
                 wait_keyframe stream_status origin_status
                 manager_conf synthetic_publisher stop_publisher);

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

1;
