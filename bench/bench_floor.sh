#!/bin/sh
# bench_floor.sh BUILD: the collector against its floor and its peers, on the synthetic
# and the real workloads, side by side in one run (the "collector at the floor" table).
#
# For each interpreter (Debian's /usr/bin/python3 and the 3.12+ that find-pythons.sh
# lists; others with BENCH_PYTHONS="py1 py2") and each workload, every tool runs
# round-robin BENCH_RUNS times (default 3), so that machine noise hits them alike:
#   plain, floor (collect --floor), cProfile, calls (collect), line floor (collect --floor
#   --lines), lines (collect --lines), memory (collect --memory), tracemalloc(1), and
#   where importable: memray (run, and run --trace-python-allocators; BENCH_MEMRAY_PATH
#   is put on PYTHONPATH) and kernprof -l on the workloads' @hot functions, beside
#   pyflame-c's own @profile line mode on the same functions.
# Then callgrind counts instructions per event on small fixed inputs (exact, noise-free):
#   per call (fib), per line event (nbody), per allocation (alloc), for the floor,
#   cProfile and pyflame-c.  BENCH_CALLGRIND=0 skips that part.
# First, what one clock read costs on this machine (bench/clock_probe.c).
# Tables: medians of wall and CPU seconds, ratios to plain, and the targets.
# BENCH_WORKLOADS="a_fib e1_jsontool" and BENCH_TOOLS="plain floor calls" narrow a run.
set -eu
build=${1:-build}
bin=$(cd "$build" && pwd)/pyflame-c
wdir=${BENCH_WORKLOAD_DIR:-$(cd bench/workloads && pwd)}
if [ -z "${BENCH_PYTHONS:-}" ]; then
    BENCH_PYTHONS=""
    [ -x /usr/bin/python3 ] && BENCH_PYTHONS="/usr/bin/python3"
    for py in $(sh scripts/find-pythons.sh); do
        case $("$py" -c 'import sys; print("%d.%d" % sys.version_info[:2])') in
            3.12) BENCH_PYTHONS="$BENCH_PYTHONS $py" ;;
        esac
    done
fi
[ -x /usr/bin/time ] || { echo "bench_floor: needs /usr/bin/time (apt-get install time)" >&2; exit 1; }
# the real workloads read inputs made once by gen_data.py (Debian's 3.11 packages)
data=${BENCH_DATA:-${TMPDIR:-/tmp}/pyflame-bench-data}
if [ -x /usr/bin/python3 ] && [ ! -f "$data/big.json" ]; then
    /usr/bin/python3 "$wdir/gen_data.py" >/dev/null || echo "bench_floor: gen_data.py failed; the real workloads will fail" >&2
fi
# what a clock read costs here: two per recorded call, one per line event
probe=$(mktemp -d)
if cc -O2 -o "$probe/clock_probe" bench/clock_probe.c 2>/dev/null; then
    "$probe/clock_probe"
fi
rm -rf "$probe"
exec python3 bench/floor/run.py "$bin" "$wdir" $BENCH_PYTHONS
