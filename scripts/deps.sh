#!/bin/sh
# Installs the Debian packages needed to build, run and test the module.
# Run as root, or as a user who can sudo (it asks sudo itself); installs
# only what is missing.

set -e

# build-essential: dpkg-buildpackage (make deb, t/89) requires it by name;
# git: make deb and t/95 list the checkout's files with it
packages="make gcc libc6-dev dpkg-dev build-essential git xz-utils nginx
    nginx-dev libnginx-mod-rtmp libcurl4-openssl-dev libyajl-dev libhiredis-dev
    ffmpeg rtmpdump redis-server redis-sentinel perl libipc-run-perl curl
    procps iproute2 prometheus debhelper lintian"

missing=""
for p in $packages; do
    if ! dpkg-query -W -f '${Status}' "$p" 2>/dev/null \
         | grep -q 'install ok installed'
    then
        missing="$missing $p"
    fi
done

# nginx-rtmp's headers come from its Debian source package
need_src=0
if ! grep -rqs '^Types:.*deb-src' /etc/apt/sources.list.d/ \
   && ! grep -qs '^deb-src' /etc/apt/sources.list
then
    need_src=1
fi

if [ -z "$missing" ] && [ $need_src = 0 ]; then
    exit 0
fi

# root runs it as it is (a fresh container has no sudo); a user through
# sudo, asked only when something is missing
if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        echo "deps: installing with sudo:$missing" >&2
        exec sudo sh "$0" "$@"
    fi
    echo "deps: missing packages:$missing; run as root (no sudo here)" >&2
    exit 1
fi

if [ $need_src = 1 ]; then
    if [ -f /etc/apt/sources.list.d/debian.sources ]; then
        sed -i 's/^Types: deb$/Types: deb deb-src/' \
            /etc/apt/sources.list.d/debian.sources
    elif [ -f /etc/apt/sources.list ]; then
        sed -n 's/^deb \(.*\)/deb-src \1/p' /etc/apt/sources.list \
            > /etc/apt/sources.list.d/ngx-rtmp-cluster-src.list
    fi
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update -q
if [ -n "$missing" ]; then
    apt-get install -y -q --no-install-recommends $missing
fi

# the packages start a system nginx, redis and prometheus we do not use
systemctl disable --now nginx redis-server redis-sentinel prometheus \
    >/dev/null 2>&1 || true
