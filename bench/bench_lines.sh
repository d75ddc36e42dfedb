#!/bin/sh
# bench_lines.sh BUILD: the cost of line profiling against kernprof (line_profiler), on
# Debian's /usr/bin/python3 (the interpreter python3-line-profiler runs under) and the
# line-heavy workload c_nbody.py.  Round-robin BENCH_RUNS times (default 3):
#   plain         python3 WORKLOAD
#   kernprof      python3 -m kernprof -l WORKLOAD, hot functions decorated (BENCH_DECORATE=hot)
#   pf-decorated  pyflame-c collect WORKLOAD, the same hot functions decorated (kernprof style)
#   pf-lines      pyflame-c collect --lines WORKLOAD: every line of the file, no decoration
# and prints wall-clock medians and ratios to plain.
set -eu
build=${1:-build}
bin=$(cd "$build" && pwd)/pyflame-c
runs=${BENCH_RUNS:-3}
py=${BENCH_LINES_PYTHON:-/usr/bin/python3}
script=${BENCH_WORKLOAD_DIR:-../shared/bench/workloads}/c_nbody.py
if ! "$py" -c 'import line_profiler' 2>/dev/null; then
    echo "bench_lines: $py has no line_profiler (apt-get install python3-line-profiler)" >&2
    exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
now() { date +%s.%N; }
run() {   # run MODE: appends "MODE seconds" to $tmp/times
    mode=$1
    t0=$(now)
    case $mode in
        plain) "$py" "$script" >/dev/null ;;
        kernprof) (cd "$tmp" && BENCH_DECORATE=hot "$py" -m kernprof -l -o "$tmp/k.lprof" "$script" >/dev/null) ;;
        pf-decorated) BENCH_DECORATE=hot PYFLAME_PYTHON="$py" "$bin" collect -q -o "$tmp/d.gz" "$script" >/dev/null ;;
        pf-lines) PYFLAME_PYTHON="$py" "$bin" collect -q --lines -o "$tmp/l.gz" "$script" >/dev/null ;;
    esac
    t1=$(now)
    echo "$mode $(echo "$t1 - $t0" | bc -l)" >> "$tmp/times"
}
modes="plain kernprof pf-decorated pf-lines"
i=0
while [ $i -lt "$runs" ]; do
    for m in $modes; do run "$m"; done
    i=$((i + 1))
done
median() { grep "^$1 " "$tmp/times" | awk '{print $2}' | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
base=$(median plain)
echo "bench_lines: $("$py" -c 'import platform; print(platform.python_version())') c_nbody.py, wall-clock medians of $runs"
printf '%-14s %10s %8s\n' mode seconds ratio
for m in $modes; do
    t=$(median "$m")
    printf '%-14s %10.3f %7.1fx\n' "$m" "$t" "$(echo "$t / $base" | bc -l)"
done
