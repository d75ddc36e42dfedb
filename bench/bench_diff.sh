#!/bin/sh
# bench_diff.sh BUILD: `pyflame-c diff` of two 1M-node inputs against `pyflame-c svg` of
# one of them (the budget: at most 2x its wall time, CPU time and peak RSS).
#
# Inputs (made once into $BENCH_DIFF_DIR, default $TMPDIR/pf-bench-diff):
#   - traces from bench/tools/gen_trace: BASE 1,000,000 nodes (seed 1) and NEW
#     1,050,000 nodes (seed 1: the same program with 5% more calls, as a change
#     makes it), and "disjoint", NEW of seed 2 (no stack in common: the worst case,
#     every BASE stack vanished and is copied under the vanished frame).  A disjoint
#     diff holds both sides' frames, twice those of one svg: it is also compared with
#     svg of a 2,000,000-node trace (seed 3), a tree of the diff's size;
#   - collapsed stacks from bench/gen_folded.py (or $GEN_FOLDED): BASE
#     140,000 stacks (about 1M merged frames) and NEW derived from it (every 20th stack
#     gone, every 7th count doubled, 5,000 new stacks).
# Each command runs 3 times; the median by wall time is shown (wall s, CPU s =
# user+sys, peak RSS MB), then diff / svg ratios.  The machine may be shared: CPU
# seconds are the steadier measure.
set -eu
build=${1:-build}
bin=$(cd "$build" && pwd)/pyflame-c
gen_trace=$(cd "$build" && pwd)/bench/gen_trace
gen=${GEN_FOLDED:-bench/gen_folded.py}
work=${BENCH_DIFF_DIR:-${TMPDIR:-/tmp}/pf-bench-diff}
mkdir -p "$work"

if [ ! -x /usr/bin/time ]; then
    echo "bench_diff: /usr/bin/time is missing (apt-get install time); skipped" >&2
    exit 0
fi
if [ ! -x "$gen_trace" ]; then
    echo "bench_diff: $gen_trace missing (make bench-tools); skipped" >&2
    exit 0
fi

# measure OUT CMD...: prints "wall cpu rss_mb"
measure() {
    out=$1
    shift
    /usr/bin/time -f '%e %U %S %M' -o "$work/time" "$@" > "$out" 2>"$work/stderr" || {
        st=$?
        # diff exits 1 when a gate fails; no gate is given here, so any failure is real
        echo "bench_diff: failed ($st): $*" >&2
        cat "$work/stderr" >&2
        return 1
    }
    read -r wall user sys rss < "$work/time"
    awk -v w="$wall" -v u="$user" -v s="$sys" -v r="$rss" \
        'BEGIN { printf "%.2f %.2f %.0f\n", w, u + s, r / 1024 }'
}

# median of 3 runs by wall time
median3() {
    for i in 1 2 3; do measure "$@"; done | sort -n -k1,1 | sed -n 2p
}

row() {
    printf '%-34s %8s %8s %8s\n' "$1" "$2" "$3" "$4"
}

# compare LABEL BASE NEW [SAME_SIZE]: svg of NEW, diff -f svg and diff -f markdown of
# BASE NEW; and svg of SAME_SIZE, an input the size of both sides, when given
compare() {
    label=$1 base=$2 new=$3 same=${4:-}
    set -- $(median3 "$work/out.svg" "$bin" svg "$new")
    s_wall=$1 s_cpu=$2 s_rss=$3
    set -- $(median3 "$work/diff.svg" "$bin" diff -f svg "$base" "$new")
    d_wall=$1 d_cpu=$2 d_rss=$3
    set -- $(median3 "$work/diff.md" "$bin" diff -f markdown "$base" "$new")
    m_wall=$1 m_cpu=$2 m_rss=$3
    echo "== $label"
    row "command" wall_s cpu_s rss_mb
    row "svg NEW" "$s_wall" "$s_cpu" "$s_rss"
    row "diff -f svg BASE NEW" "$d_wall" "$d_cpu" "$d_rss"
    row "diff -f markdown BASE NEW" "$m_wall" "$m_cpu" "$m_rss"
    awk -v sw="$s_wall" -v sc="$s_cpu" -v sr="$s_rss" -v dw="$d_wall" -v dc="$d_cpu" -v dr="$d_rss" \
        'BEGIN { printf "  diff -f svg / svg: wall %.2fx, cpu %.2fx, rss %.2fx (budget 2x: %s)\n",
                 dw / sw, dc / (sc > 0 ? sc : 0.01), dr / sr,
                 (dc <= 2 * sc && dr <= 2 * sr) ? "within" : "OVER" }'
    if [ -n "$same" ]; then
        set -- $(median3 "$work/out.svg" "$bin" svg "$same")
        row "svg, both sides' size" "$1" "$2" "$3"
        awk -v sw="$1" -v sc="$2" -v sr="$3" -v dw="$d_wall" -v dc="$d_cpu" -v dr="$d_rss" \
            'BEGIN { printf "  diff -f svg / svg of both sides'"'"' size: wall %.2fx, cpu %.2fx, rss %.2fx\n",
                     dw / sw, dc / (sc > 0 ? sc : 0.01), dr / sr }'
    fi
    echo "  markdown: $(wc -c < "$work/diff.md") bytes"
}

# ---- traces ----
[ -s "$work/base.gz" ] || "$gen_trace" --nodes 1000000 --seed 1 -o "$work/base.gz" 2>/dev/null
[ -s "$work/new.gz" ] || "$gen_trace" --nodes 1050000 --seed 1 -o "$work/new.gz" 2>/dev/null
[ -s "$work/other.gz" ] || "$gen_trace" --nodes 1000000 --seed 2 -o "$work/other.gz" 2>/dev/null
[ -s "$work/double.gz" ] || "$gen_trace" --nodes 2000000 --seed 3 -o "$work/double.gz" 2>/dev/null
compare "traces, 1M nodes, a change (NEW shares BASE's calls, 5% more)" "$work/base.gz" "$work/new.gz"
compare "traces, 1M nodes, disjoint (nothing in common: worst case)" "$work/base.gz" "$work/other.gz" \
    "$work/double.gz"

# ---- collapsed stacks ----
if [ ! -f "$gen" ]; then
    echo "bench_diff: $gen not found; collapsed inputs skipped" >&2
    exit 0
fi
if [ ! -s "$work/base.folded" ]; then
    python3 "$gen" --stacks 145000 --seed 1 > "$work/all.folded.tmp"
    head -n 140000 "$work/all.folded.tmp" > "$work/base.folded"
    awk 'NR <= 140000 && NR % 20 == 0 { next }
         NR % 7 == 0 { $NF = $NF * 2 } { print }' "$work/all.folded.tmp" > "$work/new.folded"
    rm -f "$work/all.folded.tmp"
fi
compare "collapsed, 140k stacks (~1M frames), a change" "$work/base.folded" "$work/new.folded"
