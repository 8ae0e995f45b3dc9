#!/bin/sh
# Fetches the unpatched nginx-rtmp source that Debian's libnginx-mod-rtmp
# is built from (its headers match the installed ngx_rtmp_module.so).
# Usage: fetch-rtmp.sh DIR; prints the source directory.

set -e

dir=$1
mkdir -p "$dir"
cd "$dir"

src=$(ls -d nginx-rtmp-module-*/ 2>/dev/null | head -n 1)
if [ -n "$src" ] && [ -f "$src/ngx_rtmp.h" ]; then
    echo "$PWD/${src%/}"
    exit 0
fi

# The .debian.tar.xz part may be missing on a mirror (apt then exits
# non-zero); the orig tarball is all we need.
apt-get source --download-only libnginx-mod-rtmp >fetch.log 2>&1 || true

orig=$(ls libnginx-mod-rtmp_*.orig.tar.* 2>/dev/null | head -n 1)
if [ -z "$orig" ]; then
    cat fetch.log >&2
    echo "fetch-rtmp: could not download nginx-rtmp's source; enable" \
         "deb-src in the apt sources (make deps does) or set" \
         "NGX_RTMP_SRC to an nginx-rtmp tree" >&2
    exit 1
fi

tar xf "$orig"
src=$(ls -d nginx-rtmp-module-*/ | head -n 1)
echo "$PWD/${src%/}"
