#!/bin/sh
# bench_calls.sh BUILD: the collector's cost, side by side in one run.
# For each interpreter (Debian's 3.11, and the 3.12, 3.14 and 3.15 that find-pythons.sh
# lists; others with BENCH_PYTHONS="py1 py2") and
# each call-heavy workload, runs round-robin BENCH_RUNS times (default 5):
#   plain    python3 WORKLOAD
#   floor    pyflame-c collect --floor: the same hooks/sys.monitoring callbacks doing nothing
#   cprofile python3 -m cProfile -o /dev/null WORKLOAD (3.15: -m profiling.tracing,
#            cProfile's new home; its column keeps the name cProfile)
#   pyflame  pyflame-c collect -q WORKLOAD
#   cpuclock pyflame-c collect -q --clock cpu WORKLOAD (only with BENCH_CPU_CLOCK=1)
# and prints wall-clock medians, overheads (mode - plain), our overhead as a ratio of
# cProfile's and of the floor's, and peak RSS growth over plain (/usr/bin/time %M).
# A second table does the same with CPU time (user + sys), which a busy shared machine
# disturbs less than wall-clock time.
set -eu
build=${1:-build}
bin=$(cd "$build" && pwd)/pyflame-c
runs=${BENCH_RUNS:-5}
wl=${BENCH_WORKLOADS:-"a_fib b_richards c_nbody"}
wdir=${BENCH_WORKLOAD_DIR:-$(cd bench/workloads && pwd)}
if [ -z "${BENCH_PYTHONS:-}" ]; then
    BENCH_PYTHONS=""
    [ -x /usr/bin/python3 ] && BENCH_PYTHONS="/usr/bin/python3"
    for py in $(sh scripts/find-pythons.sh); do
        case $("$py" -c 'import sys; print("%d.%d" % sys.version_info[:2])') in
            3.12|3.14|3.15) BENCH_PYTHONS="$BENCH_PYTHONS $py" ;;
        esac
    done
fi
[ -x /usr/bin/time ] || { echo "bench_calls: needs /usr/bin/time (apt-get install time)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
results=$tmp/results.tsv
for py in $BENCH_PYTHONS; do
    ext=$("$py" -c 'import sysconfig; print(sysconfig.get_config_var("EXT_SUFFIX"))')
    if [ ! -f "$build/python/pyflame/_collector$ext" ]; then
        echo "skip $py: no collector built (make collectors)" >&2
        continue
    fi
    ver=$("$py" -c 'import platform; print(platform.python_version())')
    # the deterministic profiler of the standard library: profiling.tracing from 3.15
    peer=cProfile
    "$py" -c 'import profiling.tracing' 2>/dev/null && peer=profiling.tracing
    for w in $wl; do
        script=$wdir/$w.py
        r=1
        while [ "$r" -le "$runs" ]; do
            modes="plain floor cprofile pyflame"
            [ "${BENCH_CPU_CLOCK:-0}" = 1 ] && modes="$modes cpuclock"
            for mode in $modes; do
                case $mode in
                    plain)    set -- "$py" "$script" ;;
                    floor)    set -- "$bin" collect -q --floor --python "$py" -o "$tmp/floor.gz" "$script" ;;
                    cprofile) set -- "$py" -m "$peer" -o /dev/null "$script" ;;
                    pyflame)  set -- "$bin" collect -q --python "$py" -o "$tmp/trace.gz" "$script" ;;
                    cpuclock) set -- "$bin" collect -q --clock cpu --python "$py" -o "$tmp/trace.gz" "$script" ;;
                esac
                /usr/bin/time -f "%e %M %U %S" -o "$tmp/time" "$@" > /dev/null
                printf '%s\t%s\t%s\t%s\n' "$ver" "$w" "$mode" "$(cat "$tmp/time")" >> "$results"
            done
            r=$((r + 1))
        done
    done
done
python3 bench/calls/report.py "$results"
