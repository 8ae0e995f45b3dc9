#!/bin/sh
# Generate the synthetic test clip used by the test suite (and the demo):
# H.264 320x240 25 fps with a keyframe every second + AAC 440 Hz tone, FLV.
#
# usage: gen-media.sh OUT [SECONDS]   (default 20 seconds)
#
# The file is written to OUT.tmp.PID first and renamed, so a reader never
# sees a half-written clip.
set -eu

out=${1:?usage: gen-media.sh OUT [SECONDS]}
secs=${2:-20}
tmp="$out.tmp.$$"

trap 'rm -f "$tmp"' EXIT INT TERM
mkdir -p "$(dirname "$out")"

ffmpeg -hide_banner -loglevel error -nostdin -y \
    -f lavfi -i "testsrc2=size=320x240:rate=25" \
    -f lavfi -i "sine=frequency=440:sample_rate=44100" \
    -t "$secs" \
    -c:v libx264 -preset veryfast -tune zerolatency -pix_fmt yuv420p \
    -g 25 -keyint_min 25 -sc_threshold 0 -b:v 300k \
    -c:a aac -b:a 64k -ac 2 \
    -f flv "$tmp"

mv -f "$tmp" "$out"
trap - EXIT INT TERM
