#!/bin/sh
# Runs one fuzz target: first the inputs of regress/TARGET (each once),
# then libFuzzer for SECONDS on the committed seeds (corpus/TARGET) and
# the corpus of earlier runs (BUILD/corpus/TARGET, where new inputs go).
# Usage: run.sh BUILD TARGET SECONDS

build=$1
name=$2
seconds=$3
here=$(cd "$(dirname "$0")" && pwd)
bin=$build/fuzz_$name
log=$build/logs/$name.log
corpus=$build/corpus/$name
artifacts=$build/artifacts/$name

mkdir -p "$build/logs" "$corpus" "$artifacts"

set -- "$here"/regress/"$name"/*

if [ -e "$1" ]; then
    if ! "$bin" "$@" >"$log" 2>&1; then
        tail -n 40 "$log"
        echo "fuzz: $name: a regression input fails again (log: $log)"
        exit 1
    fi
fi

case $name in
    answer|lease|lease_request) dict=json ;;
    names)                      dict=url ;;
    json|label)                 dict=utf8 ;;
    *)                          dict=$name ;;
esac

if [ -f "$here/dict/$dict.dict" ]; then
    dict=-dict=$here/dict/$dict.dict
else
    dict=
fi

"$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
       -max_len=4096 -print_final_stats=1 -artifact_prefix="$artifacts/" \
       $dict "$corpus" "$here/corpus/$name" >"$log" 2>&1
rc=$?

# the last status line: "#RUNS DONE cov: N ft: N corp: N/Nb ... exec/s: N"
status=$(grep -E '^#[0-9]+' "$log" | tail -n 1 \
         | sed 's/ *lim: [0-9]*//; s/ *rss: [0-9]*Mb//; s/ L: .*//')

if [ $rc -ne 0 ]; then
    tail -n 40 "$log"
    echo "fuzz: $name: FAILED (log: $log)"
    if [ -n "$(ls "$artifacts")" ]; then
        echo "  the input is in $artifacts; minimise it with" \
             "$bin -minimize_crash=1 -runs=100000 INPUT, then add it to" \
             "fuzz/regress/$name/"
    fi
    exit 1
fi

echo "fuzz: $name: ok, $status"
