#!/bin/sh
# bench/run.sh BUILD: runs every bench/bench_*.sh in turn.  Each prints a table of medians
# and ratios against its peers, measured side by side in the same run.
set -e
build=${1:-build}
for b in bench/bench_*.sh; do
    [ -f "$b" ] || continue
    echo "#### $b"
    sh "$b" "$build"
done
