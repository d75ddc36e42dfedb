#!/bin/sh
# bench_merge.sh BUILD: `pyflame-c merge` time and memory.  Inputs from bench/tools/gen_trace:
# a 1,000,000-node trace (seed 1) and one of another shape (seed 2).  Rows: merging 1, 10
# and (BENCH_MERGE_MANY, default 100) copies of the first (equal runs: the output is one
# input's size, so memory must stay flat while time grows with the inputs), and the two
# different traces (the worst case for the index: every node new).  Wall and CPU seconds,
# peak RSS (MB), output size; medians of 3 runs.  Against `pyflame-c svg` of one input as
# the reference for reading a trace of that size.
set -eu
build=${1:-build}
bin=$(cd "$build" && pwd)/pyflame-c
gen=$(cd "$build" && pwd)/bench/gen_trace
work=${BENCH_MERGE_DIR:-${TMPDIR:-/tmp}/pf-bench-merge}
many=${BENCH_MERGE_MANY:-100}
nodes=${BENCH_MERGE_NODES:-1000000}
if [ ! -x /usr/bin/time ]; then
    echo "bench_merge: /usr/bin/time is missing (apt-get install time); skipped" >&2
    exit 0
fi
[ -x "$gen" ] || { echo "bench_merge: $gen missing (make bench-tools)" >&2; exit 1; }
mkdir -p "$work"
[ -s "$work/a.gz" ] || "$gen" --nodes "$nodes" --seed 1 -o "$work/a.gz"
[ -s "$work/b.gz" ] || "$gen" --nodes "$nodes" --seed 2 -o "$work/b.gz"
i=0
while [ $i -lt "$many" ]; do
    [ -e "$work/copy-$i.gz" ] || ln "$work/a.gz" "$work/copy-$i.gz"
    i=$((i + 1))
done

# measure CMD...: prints "wall cpu rss_mb"
measure() {
    /usr/bin/time -f '%e %U %S %M' -o "$work/time" "$@" > /dev/null 2>"$work/stderr" || {
        echo "bench_merge: failed: $*" >&2; cat "$work/stderr" >&2; return 1; }
    read -r wall user sys rss < "$work/time"
    awk -v w="$wall" -v u="$user" -v s="$sys" -v r="$rss" \
        'BEGIN { printf "%.2f %.2f %.0f\n", w, u + s, r / 1024 }'
}
median() {
    for k in 1 2 3; do measure "$@"; done | sort -n -k1,1 | sed -n 2p
}
copies() {
    j=0
    while [ $j -lt "$1" ]; do printf '%s ' "$work/copy-$j.gz"; j=$((j + 1)); done
}
row() {
    printf '%-34s %8s %8s %8s %10s\n' "$1" "$2" "$3" "$4" "$5"
}
echo "pyflame-c merge, $nodes-node traces (gen_trace), medians of 3"
row "case" "wall s" "cpu s" "RSS MB" "out bytes"
set -- $(median "$bin" svg -o "$work/a.svg" "$work/a.gz")
row "svg of one input (reference)" "$1" "$2" "$3" "-"
for n in 1 10 "$many"; do
    # shellcheck disable=SC2046
    set -- $(median "$bin" merge -q -o "$work/m.gz" $(copies "$n"))
    row "merge $n equal inputs" "$1" "$2" "$3" "$(wc -c < "$work/m.gz")"
done
set -- $(median "$bin" merge -q -o "$work/m.gz" "$work/a.gz" "$work/b.gz")
row "merge 2 different inputs" "$1" "$2" "$3" "$(wc -c < "$work/m.gz")"
