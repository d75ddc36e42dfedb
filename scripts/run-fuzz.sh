#!/bin/sh
# run-fuzz.sh SECONDS FUZZER...: runs each libFuzzer target for SECONDS on its seed corpus
# (tests/fuzz/corpus/<name>/, copied so the repo stays clean) and prints executions.
# One input may take at most 10 s (-timeout): a super-linear path shows up as a failure.
set -e
secs=$1; shift
for f in "$@"; do
    name=$(basename "$f")
    work=$(mktemp -d)
    [ -d "tests/fuzz/corpus/$name" ] && cp -R "tests/fuzz/corpus/$name/." "$work/"
    echo "== $name for ${secs}s"
    "$f" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 "$work" 2>"$work.log" || {
        tail -50 "$work.log"; echo "FUZZ FAILURE: $name" >&2; exit 1; }
    grep -E 'stat::number_of_executed_units|Done' "$work.log" | tail -2
    rm -rf "$work" "$work.log"
done
