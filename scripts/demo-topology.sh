#!/bin/sh
# The design's cluster on real addresses (root): scripts/topology.sh builds
# the hosts in network namespaces, then this starts three origins
# (10.0.0.1-3, coworkers of each other), edges in Beijing (10.1.0.1),
# Shanghai (10.2.0.1) and Hangzhou (10.3.0.1), publishes a test pattern
# in Beijing, plays it in Hangzhou and prints what happened.  The
# configurations are docs/deployment.md's.
#
#   sh scripts/demo-topology.sh         start (or restart)
#   sh scripts/demo-topology.sh stop    stop everything, remove the hosts

set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
dir=$top/build/demo-topology
module=$top/build/ngx_rtmp_cluster_module.so
media=$top/build/test-media/test.flv
P=${RC_PREFIX:-rc-}

if [ "${1:-}" = stop ]; then
    sh "$top/scripts/topology.sh" down
    echo "demo-topology: stopped, hosts removed"
    exit 0
fi

if [ ! -f "$module" ]; then
    echo "demo-topology: $module is missing; run make first" >&2
    exit 1
fi

sh "$top/scripts/topology.sh" up

if [ ! -f "$media" ]; then
    echo "demo-topology: generating the test pattern ($media)"
    sh "$top/t/lib/gen-media.sh" "$media" 20
fi

rm -rf "$dir"

# conf HOST: writes $dir/HOST/conf/nginx.conf from stdin, with the
# common top
conf() {
    mkdir -p "$dir/$1/conf" "$dir/$1/logs" "$dir/$1/tmp"
    chmod 755 "$dir" "$dir/$1" "$dir/$1/logs"
    chmod 1777 "$dir/$1/tmp"
    {
        cat <<END
pid logs/nginx.pid;
error_log logs/error.log info;

load_module /usr/lib/nginx/modules/ngx_rtmp_module.so;
load_module $module;

events {}

END
        cat
    } > "$dir/$1/conf/nginx.conf"
}

http_defaults() {
    cat <<END
    access_log $dir/$1/logs/access.log;
    client_body_temp_path $dir/$1/tmp/body;
    proxy_temp_path $dir/$1/tmp/proxy;
    fastcgi_temp_path $dir/$1/tmp/fastcgi;
    uwsgi_temp_path $dir/$1/tmp/uwsgi;
    scgi_temp_path $dir/$1/tmp/scgi;
END
}

for o in 1 2 3; do
    others=$(for x in 1 2 3; do
                 [ $x = $o ] || printf ' 10.0.0.%s:1985' $x
             done)
    conf "o$o" <<END
rtmp {
    access_log $dir/o$o/logs/rtmp-access.log;
    cluster_zone cluster:1m;

    server {
        listen 10.0.0.$o:1935;

        application live {
            live on;

            cluster           origin;
            cluster_coworkers$others;
        }
    }
}

http {
$(http_defaults "o$o")

    server {
        listen 10.0.0.$o:1985;

        location /api/v1/clusters { cluster_api; }
        location /cluster         { cluster_status; }
    }
}
END
done

# each region tries its own first origin: Beijing 10.0.0.1, Shanghai
# 10.0.0.2, Hangzhou 10.0.0.3 (so Hangzhou's first ask lands on an
# origin without the stream, which redirects it)
edge() {
    host=$1 addr=$2 first=$3
    list=$(for x in $first 1 2 3; do echo $x; done | awk '!s[$0]++' \
           | sed 's/.*/            cluster_origin 10.0.0.&:1935;/')
    conf "$host" <<END
worker_processes 2;

rtmp {
    access_log $dir/$host/logs/rtmp-access.log;
    cluster_zone cluster:1m;
    cluster_reuseport on;
    cluster_socket_dir $dir/$host/sock;

    server {
        listen 1935;
        ping 5s;
        ping_timeout 5s;

        application live {
            live on;

            cluster         edge;
            cluster_balance order;
$list
        }
    }
}

http {
$(http_defaults "$host")

    server {
        listen $addr:8080;

        location /cluster { cluster_status; }
    }
}
END
}

edge bj 10.1.0.1 1
edge sh 10.2.0.1 2
edge hz 10.3.0.1 3

for h in o1 o2 o3 bj sh hz; do
    ip netns exec "$P$h" /usr/sbin/nginx -p "$dir/$h/" -c conf/nginx.conf \
        -e logs/error.log
done

sleep 1

echo "demo-topology: publishing a test pattern in Beijing to" \
     "rtmp://10.1.0.1:1935/live/demo"
ip netns exec "${P}bj" ffmpeg -hide_banner -loglevel error -nostdin -re \
    -stream_loop -1 -i "$media" -c copy -f flv \
    rtmp://10.1.0.1:1935/live/demo > "$dir/ffmpeg-bj.log" 2>&1 &

sleep 2

echo "demo-topology: playing it in Hangzhou at rtmp://10.3.0.1:1935/live/demo" \
     "for 5 seconds"
frames=$(timeout 25 ip netns exec "${P}hz" ffmpeg -hide_banner -nostdin \
             -rw_timeout 15000000 -i rtmp://10.3.0.1:1935/live/demo -t 5 \
             -c copy -f null - 2>&1 \
         | tr '\r' '\n' | sed -n 's/^frame= *\([0-9]*\).*/\1/p' | tail -n 1)

# ask(HOST, PERL): from inside HOST, a value of the JSON documents read
# with curl (Perl's JSON::PP)
ask() {
    ip netns exec "$P$1" perl -MJSON::PP -MHTTP::Tiny -e '
        sub get { my $r = HTTP::Tiny->new(timeout => 5)->request(@_);
                  eval { decode_json($r->{content}) } }
        sub stream { my ($st, $n) = @_;
                     (grep { $_->{name} eq $n } @{$st->{streams}})[0] }
        my $v = eval { '"$2"' };
        print defined $v ? (ref $v ? JSON::PP->new->canonical->encode($v)
                                   : $v) : "?";' 2>/dev/null || echo "?"
}

bj_origin=$(ask bj 'stream(get(GET => "http://10.1.0.1:8080/cluster"),
                           "demo")->{origin}')
hz_origin=$(ask hz 'stream(get(GET => "http://10.3.0.1:8080/cluster"),
                           "demo")->{origin}')
followed=$(ask hz 'get(GET => "http://10.3.0.1:8080/cluster")
                   ->{redirects}{followed}')
redirect=$(sed -n 's/.*redirecting the play of "live\/demo" to "\([^"]*\)".*/\1/p' \
               "$dir/o3/logs/error.log" | head -n 1)
h=${bj_origin%:*}
answer=$(ask hz "get(POST => 'http://$h:1985/api/v1/clusters?vhost=__defaultVhost__&ip=$h&app=live&stream=demo&coworker=$h:1985')->{data}{origin}")

echo
echo "  Beijing publisher -> edge 10.1.0.1 -> origin ${bj_origin:-?}"
echo "  Hangzhou player   -> edge 10.3.0.1 -> origin 10.0.0.3, which answered"
echo "                       a 302 to ${redirect:-(none)}"
echo "                    -> the edge followed ${followed:-0} redirect(s) and"
echo "                       pulls from ${hz_origin:-?}"
echo "  played in Hangzhou: ${frames:-0} video frames in 5 s"
echo "  ${bj_origin:-?}'s coworker API answers for live/demo:"
echo "    $answer"
echo
echo "  status:  ip netns exec ${P}hz curl http://10.3.0.1:8080/cluster"
echo "           (bj 10.1.0.1:8080, sh 10.2.0.1:8080, origins 10.0.0.N:1985)"
echo "  play:    ip netns exec ${P}sh ffplay rtmp://10.2.0.1:1935/live/demo"
echo "  hosts:   sh scripts/topology.sh status"
echo "  logs:    $dir/*/logs/error.log"
echo "  stop:    sh scripts/demo-topology.sh stop"
echo

if [ "${frames:-0}" -lt 50 ]; then
    echo "demo-topology: playback in Hangzhou failed; see the logs" >&2
    exit 1
fi
