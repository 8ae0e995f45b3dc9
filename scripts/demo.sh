#!/bin/sh
# A local cluster on loopback: two origins and an edge.  A test pattern
# is published through the edge (which forwards it to an origin) and
# played back through the edge.
#
#   sh scripts/demo.sh          start (or restart) the cluster
#   sh scripts/demo.sh stop     stop it

set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
dir=$top/build/demo
module=$top/build/ngx_rtmp_cluster_module.so
media=$top/build/test-media/test.flv

edge_port=19350
status_port=18350
origin1_port=19351
origin2_port=19352

stop() {
    for n in edge origin1 origin2; do
        if [ -f "$dir/$n/logs/nginx.pid" ]; then
            /usr/sbin/nginx -p "$dir/$n/" -c conf/nginx.conf \
                -e logs/error.log -s stop 2>/dev/null || true
        fi
    done

    if [ -f "$dir/ffmpeg.pid" ]; then
        kill "$(cat "$dir/ffmpeg.pid")" 2>/dev/null || true
        rm -f "$dir/ffmpeg.pid"
    fi

    sleep 0.5
}

if [ "${1:-}" = stop ]; then
    stop
    echo "demo cluster stopped"
    exit 0
fi

if [ ! -f "$module" ]; then
    echo "demo: $module is missing; run make first" >&2
    exit 1
fi

stop

if [ ! -f "$media" ]; then
    echo "demo: generating the test pattern ($media)"
    sh "$top/t/lib/gen-media.sh" "$media" 20
fi

for n in origin1 origin2 edge; do
    mkdir -p "$dir/$n/conf" "$dir/$n/logs" "$dir/$n/tmp"
done

for n in 1 2; do
    eval port=\$origin${n}_port
    cat > "$dir/origin$n/conf/nginx.conf" <<END
pid logs/nginx.pid;
error_log logs/error.log info;

load_module /usr/lib/nginx/modules/ngx_rtmp_module.so;

events {}

rtmp {
    access_log logs/rtmp-access.log;

    server {
        listen 127.0.0.1:$port;

        application live {
            live on;
        }
    }
}
END
done

cat > "$dir/edge/conf/nginx.conf" <<END
pid logs/nginx.pid;
error_log logs/error.log info;

load_module /usr/lib/nginx/modules/ngx_rtmp_module.so;
load_module $module;

events {}

rtmp {
    access_log logs/rtmp-access.log;
    cluster_zone cluster:1m;

    server {
        listen 127.0.0.1:$edge_port;

        application live {
            live on;

            cluster edge;
            cluster_origin 127.0.0.1:$origin1_port;
            cluster_origin 127.0.0.1:$origin2_port;
        }
    }
}

http {
    access_log $dir/edge/logs/access.log;
    client_body_temp_path $dir/edge/tmp/body;
    proxy_temp_path $dir/edge/tmp/proxy;
    fastcgi_temp_path $dir/edge/tmp/fastcgi;
    uwsgi_temp_path $dir/edge/tmp/uwsgi;
    scgi_temp_path $dir/edge/tmp/scgi;

    server {
        listen 127.0.0.1:$status_port;

        location /cluster {
            cluster_status;
        }
    }
}
END

for n in origin1 origin2 edge; do
    /usr/sbin/nginx -p "$dir/$n/" -c conf/nginx.conf -e logs/error.log
done

sleep 0.5

echo "demo: publishing a test pattern to rtmp://127.0.0.1:$edge_port/live/demo"

ffmpeg -hide_banner -loglevel error -nostdin -re -stream_loop -1 \
    -i "$media" -c copy -f flv "rtmp://127.0.0.1:$edge_port/live/demo" \
    > "$dir/ffmpeg.log" 2>&1 &
echo $! > "$dir/ffmpeg.pid"

sleep 2

echo "demo: playing it back through the edge for 5 seconds"

frames=$(timeout 20 ffmpeg -hide_banner -nostdin -rw_timeout 10000000 \
             -i "rtmp://127.0.0.1:$edge_port/live/demo" -t 5 -c copy \
             -f null - 2>&1 \
         | tr '\r' '\n' | sed -n 's/^frame= *\([0-9]*\).*/\1/p' | tail -n 1)

origin=$(curl -s "http://127.0.0.1:$status_port/cluster" \
         | sed -n 's/.*"origin": "\([^"]*\)".*/\1/p' | head -n 1)

echo
echo "  publisher -> edge 127.0.0.1:$edge_port -> origin ${origin:-?}"
echo "  played back through the edge: ${frames:-0} video frames in 5 s"
echo
echo "  point a player at:  rtmp://127.0.0.1:$edge_port/live/demo"
echo "                      (or an origin: rtmp://${origin:-127.0.0.1:$origin1_port}/live/demo)"
echo "  cluster status:     curl http://127.0.0.1:$status_port/cluster"
echo "  logs:               $dir/*/logs/error.log"
echo "  stop:               sh scripts/demo.sh stop"
echo

if [ "${frames:-0}" -lt 50 ]; then
    echo "demo: playback through the edge failed; see the logs" >&2
    exit 1
fi
