#!/bin/sh
# Prints the sanitizer reports make test-asan collected under DIR (one
# directory per test file: asan.PID from ASan, stderr.NAME with what
# reached an nginx's error log, UBSan's reports among it), then a count of
# each kind of report.  Exits 1 when there is any, 0 when DIR holds none.
# Usage: sanitizer-reports.sh DIR

dir=$1
reports=$(find "$dir" -type f 2>/dev/null | sort)
[ -n "$reports" ] || exit 0

for f in $reports; do
    echo "=== $f"
    # the shadow byte map says little here; 60 lines hold the stacks
    sed -e '/^Shadow bytes around/,$d' "$f" | head -n 60
done

echo "=== by kind (count, first line of the report, addresses elided)"
cat $reports \
    | grep -E 'ERROR: [A-Za-z]+Sanitizer|runtime error:' \
    | sed -E -e 's/^==[0-9]+==//' -e 's/0x[0-9a-f]+/0x.../g' \
             -e 's/ (pc|bp|sp) 0x\.\.\.//g' \
    | sort | uniq -c | sort -rn

echo "sanitizer reports: $(echo "$reports" | wc -l) file(s) in $dir"
exit 1
