#!/bin/sh
# shellcheck disable=SC2086  # $modes is split into words on purpose
# bench_lines.sh BUILD: the cost of line profiling, side by side in one run, on the
# line-heavy workload c_nbody.py.  Each section runs its modes round-robin BENCH_RUNS
# times (default 5) and prints medians of wall-clock and CPU (user + sys) seconds, the
# least CPU seconds, the overhead of each mode (mode - plain, by each of the three) and
# the target ratios (by each of the three).
#
# Section 1, Debian's /usr/bin/python3 (BENCH_LINES_PYTHON), the interpreter
# python3-line-profiler runs under:
#   plain         python3 WORKLOAD
#   floor         pyflame-c collect --floor --lines: a do-nothing profile hook and a
#                 do-nothing line trace function (every line of every frame)
#   kernprof      python3 -m kernprof -l WORKLOAD, hot functions decorated (BENCH_DECORATE=hot)
#   pf-decorated  pyflame-c collect WORKLOAD, the same hot functions decorated (kernprof style)
#   pf-lines      pyflame-c collect --lines WORKLOAD: every line of the file, no decoration
# Targets: overhead(pf-lines) <= 0.3 x overhead(kernprof), and <= 1.5 x overhead(floor).
#
# Section 2, each interpreter >= 3.12 in BENCH_LINES_PYTHON312 (default: the 3.12, 3.14
# and 3.15 that scripts/find-pythons.sh lists), where sys.monitoring turns LINE events on
# per code object:
#   plain, call (collect), few (BENCH_DECORATE=hot collect: lines of the hot functions
#   only, no --lines), few-top (BENCH_DECORATE=top: lines of main() only, which calls the
#   hot loop: the cost of selection for the code that is not selected), lines (collect
#   --lines), floor (collect --floor: do-nothing call callbacks), floor-lines (collect
#   --floor --lines: plus a do-nothing LINE callback on every line), cprofile (the
#   standard library's deterministic profiler: -m cProfile, on 3.15 -m profiling.tracing,
#   for scale: it records calls, not lines); reports
#   overhead(few) / overhead(call) and overhead(few-top) / overhead(call).
#
# A section whose interpreter, collector or peer is missing is skipped with a message.
set -eu
build=${1:-build}
bin=$(cd "$build" && pwd)/pyflame-c
runs=${BENCH_RUNS:-5}
script=$(cd "${BENCH_WORKLOAD_DIR:-bench/workloads}" && pwd)/c_nbody.py
[ -x /usr/bin/time ] || { echo "bench_lines: needs /usr/bin/time (apt-get install time)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# has_collector PY: the collector extension for PY is built (else says why, returns 1).
has_collector() {
    ext=$("$1" -c 'import sysconfig; print(sysconfig.get_config_var("EXT_SUFFIX"))' 2>/dev/null) || {
        echo "bench_lines: cannot run $1" >&2; return 1; }
    [ -f "$build/python/pyflame/_collector$ext" ] && return 0
    echo "bench_lines: no collector built for $1 (make collectors)" >&2
    return 1
}

# run SECTION PY MODE: runs one mode once, appends "SECTION MODE wall cpu" to $tmp/times.
run() {
    sec=$1 py=$2 mode=$3
    case $mode in
        plain)        set -- env "$py" "$script" ;;
        kernprof)     set -- env BENCH_DECORATE=hot "$py" -m kernprof -l -o "$tmp/k.lprof" "$script" ;;
        pf-decorated|few)
                      set -- env BENCH_DECORATE=hot "$bin" collect -q --python "$py" -o "$tmp/d.gz" "$script" ;;
        few-top)      set -- env BENCH_DECORATE=top "$bin" collect -q --python "$py" -o "$tmp/d.gz" "$script" ;;
        cprofile)     peer=cProfile
                      "$py" -c 'import profiling.tracing' 2>/dev/null && peer=profiling.tracing
                      set -- "$py" -m "$peer" -o "$tmp/c.prof" "$script" ;;
        call)         set -- "$bin" collect -q --python "$py" -o "$tmp/c.gz" "$script" ;;
        pf-lines|lines)
                      set -- "$bin" collect -q --lines --python "$py" -o "$tmp/l.gz" "$script" ;;
        floor)        if [ "$sec" = 1 ]; then
                          set -- "$bin" collect -q --floor --lines --python "$py" -o "$tmp/f.gz" "$script"
                      else
                          set -- "$bin" collect -q --floor --python "$py" -o "$tmp/f.gz" "$script"
                      fi ;;
        floor-lines)  set -- "$bin" collect -q --floor --lines --python "$py" -o "$tmp/f.gz" "$script" ;;
    esac
    # kernprof writes k.lprof and prints to stdout; run from $tmp so nothing lands here
    if ! (cd "$tmp" && /usr/bin/time -f "%e %U %S" -o "$tmp/time" "$@" > /dev/null); then
        echo "bench_lines: $mode failed under $py" >&2
        exit 1
    fi
    awk -v s="$sec" -v m="$mode" '{ printf "%s %s %s %.3f\n", s, m, $1, $2 + $3 }' "$tmp/time" >> "$tmp/times"
}

# rounds SECTION PY MODES...: BENCH_RUNS rounds of every mode in turn.
rounds() {
    sec=$1 py=$2
    shift 2
    i=0
    while [ $i -lt "$runs" ]; do
        for m in "$@"; do run "$sec" "$py" "$m"; done
        i=$((i + 1))
    done
}

# est SECTION MODE EST: one estimate of a mode's seconds.  EST is wall (median of
# wall-clock), cpu (median of user + sys) or cpu-min (least user + sys: on a shared
# machine a neighbour's burst only ever adds time, so the least run is the least disturbed).
est() {
    case $3 in wall) c=3 k=med ;; cpu) c=4 k=med ;; cpu-min) c=4 k=min ;; esac
    awk -v s="$1" -v m="$2" -v c="$c" '$1 == s && $2 == m { print $c }' "$tmp/times" | sort -g |
        awk -v k="$k" '{ a[NR] = $1 } END { print k == "min" ? a[1] : a[int((NR + 1) / 2)] }'
}
ests="wall cpu cpu-min"

# table SECTION MODES...: the estimates, wall-clock ratio to plain, overheads (mode - plain).
table() {
    sec=$1
    shift
    printf '%-13s %8s %8s %8s %8s %9s %9s %9s\n' mode wall cpu cpu-min x-plain \
        wall-over cpu-over min-over
    for m in "$@"; do
        line=$(printf '%-13s' "$m") over=""
        for e in $ests; do
            t=$(est "$sec" "$m" "$e") b=$(est "$sec" plain "$e")
            line="$line $(printf '%8.3f' "$t")"
            over="$over $(awk -v t="$t" -v b="$b" 'BEGIN { printf "%9.3f", t - b }')"
        done
        x=$(awk -v t="$(est "$sec" "$m" wall)" -v b="$(est "$sec" plain wall)" \
            'BEGIN { printf "%7.2fx", t / b }')
        echo "$line $x$over"
    done
}

# ratio SECTION LABEL NUM DEN TARGET: overhead(NUM) / overhead(DEN) by each estimate,
# each with PASS/MISS against TARGET ("-" = no target).
ratio() {
    sec=$1 label=$2 num=$3 den=$4 target=$5
    line=$(printf '%-32s' "$label")
    for e in $ests; do
        line="$line $(awk -v e="$e" -v t="$target" -v b="$(est "$sec" plain "$e")" \
            -v n="$(est "$sec" "$num" "$e")" -v d="$(est "$sec" "$den" "$e")" 'BEGIN {
            r = d - b > 0 ? sprintf("%.2f", (n - b) / (d - b)) : "n/a"
            v = t == "-" ? "" : (r != "n/a" && r + 0 <= t + 0) ? " PASS" : " MISS"
            printf "%s %5s%-5s", e, r, v
        }')"
    done
    [ "$target" = - ] || line="$line (target <= $target)"
    echo "$line" | sed 's/ *$//'
}

# ---- section 1: /usr/bin/python3 against kernprof --------------------------------------
py=${BENCH_LINES_PYTHON:-/usr/bin/python3}
if [ ! -x "$py" ]; then
    echo "bench_lines: skip section 1: no $py" >&2
elif ! "$py" -c 'import line_profiler' 2>/dev/null; then
    echo "bench_lines: skip section 1: $py has no line_profiler (apt-get install python3-line-profiler)" >&2
elif has_collector "$py"; then
    modes="plain floor kernprof pf-decorated pf-lines"
    rounds 1 "$py" $modes
    echo "bench_lines: $("$py" -c 'import platform; print(platform.python_version())') ($py)" \
         "c_nbody.py, $runs runs each (seconds)"
    table 1 $modes
    ratio 1 "overhead pf-lines / kernprof" pf-lines kernprof 0.3
    ratio 1 "overhead pf-lines / floor" pf-lines floor 1.5
    ratio 1 "overhead pf-decorated / kernprof" pf-decorated kernprof -
else
    echo "bench_lines: skip section 1" >&2
fi

# ---- section 2: 3.12+, few functions selected against call mode ------------------------
pys=${BENCH_LINES_PYTHON312:-}
if [ -z "$pys" ]; then
    for p in $(sh scripts/find-pythons.sh); do
        case $("$p" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null) in
            3.12|3.14|3.15) pys="$pys $p" ;;
        esac
    done
fi
[ -n "$pys" ] || echo "bench_lines: skip section 2: no Python >= 3.12 found (set BENCH_LINES_PYTHON312)" >&2
sec=1
for py in $pys; do
    sec=$((sec + 1))
    has_collector "$py" || { echo "bench_lines: skip section 2 for $py" >&2; continue; }
    modes="plain call few few-top lines floor floor-lines cprofile"
    rounds $sec "$py" $modes
    echo
    echo "bench_lines: $("$py" -c 'import platform; print(platform.python_version())') ($py)" \
         "c_nbody.py, $runs runs each (seconds)"
    table $sec $modes
    ratio $sec "overhead few / call" few call -
    ratio $sec "overhead few-top / call" few-top call -
    ratio $sec "overhead lines / floor-lines" lines floor-lines -
    ratio $sec "overhead call / floor" call floor -
    ratio $sec "overhead call / cprofile" call cprofile -
    ratio $sec "overhead lines / cprofile" lines cprofile -
    if awk -v c="$(est $sec call cpu-min)" -v b="$(est $sec plain cpu-min)" 'BEGIN { exit !(c - b < 0.05 * b) }'; then
        echo "note: call mode costs under 5% of plain here (c_nbody makes few calls), so ratios to it"
        echo "      are mostly noise: compare the overheads in seconds instead.  few selects the hot"
        echo "      loop itself (so few ~ lines); few-top selects only main(), which calls it: the"
        echo "      cost of the code that is not selected (so few-top ~ call)."
    fi
done
