#!/bin/sh
# bench_svg.sh BUILD: `pyflame-c svg` against flamegraph.pl on the same collapsed input.
#
# Inputs come from bench/gen_folded.py (or $GEN_FOLDED): 200,000 stacks
# (258 MB) and, with BENCH_SVG_BIG=1 (default), 1,000,000 stacks (1.33 GB).  Reports
# wall seconds, CPU seconds (user+sys: the machine may be shared), peak RSS (MB) and
# output bytes; ours is the median of 3 runs, the peer runs once.  flamegraph.pl is
# $FLAMEGRAPH_PL, else /tmp/flamegraph.pl, else the peer is skipped.  On the 1M input
# flamegraph.pl needs ~100 s and 4.3 GB, so it only runs with BENCH_SVG_PEER_1M=1.
# Both tools use their default minwidth (0.1 px), so output sizes are comparable.
set -eu
build=${1:-build}
bin=$(cd "$build" && pwd)/pyflame-c
gen=${GEN_FOLDED:-bench/gen_folded.py}
work=${BENCH_SVG_DIR:-${TMPDIR:-/tmp}/pf-bench-svg}
peer=${FLAMEGRAPH_PL:-}
[ -n "$peer" ] || { [ -f /tmp/flamegraph.pl ] && peer=/tmp/flamegraph.pl; } || true
mkdir -p "$work"

if [ ! -x /usr/bin/time ]; then
    echo "bench_svg: /usr/bin/time is missing (apt-get install time); skipped" >&2
    exit 0
fi
if [ ! -f "$gen" ]; then
    echo "bench_svg: $gen not found; skipped" >&2
    exit 0
fi

# input NAME STACKS: generates (once) a deterministic folded file
input() {
    f="$work/$1.folded"
    if [ ! -s "$f" ]; then
        python3 "$gen" --stacks "$2" --seed 1 > "$f.tmp" && mv "$f.tmp" "$f"
    fi
    echo "$f"
}

# measure OUT.svg CMD...: prints "wall cpu rss_mb bytes"
measure() {
    out=$1
    shift
    /usr/bin/time -f '%e %U %S %M' -o "$work/time" "$@" > "$out" 2>"$work/stderr" || {
        echo "bench_svg: failed: $*" >&2
        cat "$work/stderr" >&2
        return 1
    }
    read -r wall user sys rss < "$work/time"
    bytes=$(wc -c < "$out")
    awk -v w="$wall" -v u="$user" -v s="$sys" -v r="$rss" -v b="$bytes" \
        'BEGIN { printf "%.2f %.2f %.0f %d\n", w, u + s, r / 1024, b }'
}

# median of 3 runs of ours, by wall time
ours() {
    for i in 1 2 3; do measure "$work/ours.svg" "$bin" svg "$1"; done |
        sort -n -k1,1 | sed -n 2p
}

row() {
    printf '%-22s %-14s %8s %8s %9s %12s\n' "$1" "$2" "$3" "$4" "$5" "$6"
}

echo "== svg: pyflame-c svg vs flamegraph.pl (collapsed input, default minwidth 0.1 px)"
row input tool wall_s cpu_s rss_mb out_bytes
for spec in "200k 200000" "1m 1000000"; do
    set -- $spec
    name=$1
    stacks=$2
    if [ "$name" = 1m ] && [ "${BENCH_SVG_BIG:-1}" != 1 ]; then
        continue
    fi
    f=$(input "$name" "$stacks")
    size=$(wc -c < "$f")
    label="$name ($((size / 1000000)) MB)"
    set -- $(ours "$f")
    o_wall=$1 o_cpu=$2 o_rss=$3 o_bytes=$4
    row "$label" "pyflame-c" "$o_wall" "$o_cpu" "$o_rss" "$o_bytes"
    if [ -z "$peer" ]; then
        echo "  (flamegraph.pl not found: set FLAMEGRAPH_PL or put it at /tmp/flamegraph.pl; peer skipped)"
        continue
    fi
    if [ "$name" = 1m ] && [ "${BENCH_SVG_PEER_1M:-0}" != 1 ]; then
        echo "  (flamegraph.pl on 1M stacks skipped: ~100 s, 4.3 GB; BENCH_SVG_PEER_1M=1 runs it)"
        continue
    fi
    set -- $(measure "$work/peer.svg" perl "$peer" "$f")
    p_wall=$1 p_cpu=$2 p_rss=$3 p_bytes=$4
    row "$label" "flamegraph.pl" "$p_wall" "$p_cpu" "$p_rss" "$p_bytes"
    awk -v ow="$o_wall" -v oc="$o_cpu" -v orr="$o_rss" -v ob="$o_bytes" \
        -v pw="$p_wall" -v pc="$p_cpu" -v pr="$p_rss" -v pb="$p_bytes" 'BEGIN {
        printf "  ratio: %.1fx faster (wall), %.1fx less CPU, %.1fx less memory, output %.2fx its size\n",
               pw / ow, pc / (oc > 0 ? oc : 0.01), pr / orr, ob / pb }'
done
