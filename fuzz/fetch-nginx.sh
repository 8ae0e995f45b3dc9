#!/bin/sh
# Fetches the source of nginx that Debian's nginx is built from: the
# fuzz targets compile a few of its core files (nginx-dev ships headers
# only).  Usage: fetch-nginx.sh DIR VERSION; prints the source directory.

set -e

dir=$1
version=$2
mkdir -p "$dir"
cd "$dir"

if [ -f "nginx-$version/src/core/ngx_string.c" ]; then
    echo "$PWD/nginx-$version"
    exit 0
fi

# The .dsc and .debian.tar.xz parts may be missing on a mirror (apt then
# exits non-zero); the orig tarball is all we need.
apt-get source --download-only nginx >fetch.log 2>&1 || true

orig=$(ls nginx_"$version".orig.tar.* 2>/dev/null | head -n 1)
if [ -z "$orig" ]; then
    cat fetch.log >&2
    echo "fetch-nginx: could not download the source of nginx $version;" \
         "enable deb-src in the apt sources (make deps does) or set" \
         "NGX_CORE_SRC to an nginx $version source tree" >&2
    exit 1
fi

tar xf "$orig"
echo "$PWD/nginx-$version"
