#!/bin/sh
# bench_procs.sh BUILD: a program whose work runs in child processes (bench/workloads/
# procs.py: a Pool, a ProcessPoolExecutor and a subprocess), with each start method, side
# by side in one run, BENCH_RUNS rounds (default 3) round-robin, medians of wall and CPU
# seconds (CPU includes the children):
#   plain        python3 procs.py METHOD
#   followed     pyflame-c collect (children followed: the default)
#   no-follow    pyflame-c collect --no-follow (the program's own process only)
# Reported: each mode's overhead as a ratio to plain, the merged trace's size and its
# number of processes.  On Debian's python3 and the first 3.12+ found (BENCH_PYTHONS).
set -eu
build=${1:-build}
bin=$(cd "$build" && pwd)/pyflame-c
runs=${BENCH_RUNS:-3}
work=$(pwd)/bench/workloads/procs.py
[ -x /usr/bin/time ] || { echo "bench_procs: needs /usr/bin/time (apt-get install time)" >&2; exit 1; }
BENCH_PYTHONS=${BENCH_PYTHONS:-$(sh bench/default-pythons.sh)}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
res=$tmp/results.tsv
for py in $BENCH_PYTHONS; do
    ext=$("$py" -c 'import sysconfig; print(sysconfig.get_config_var("EXT_SUFFIX"))')
    [ -f "$build/python/pyflame/_collector$ext" ] || { echo "skip $py: no collector built" >&2; continue; }
    ver=$("$py" -c 'import platform; print(platform.python_version())')
    r=1
    while [ "$r" -le "$runs" ]; do
        for method in fork forkserver spawn; do
            for mode in plain followed no-follow; do
                case $mode in
                    plain)     set -- "$py" "$work" $method ;;
                    followed)  set -- "$bin" collect -q --python "$py" -o "$tmp/t.gz" "$work" $method ;;
                    no-follow) set -- "$bin" collect -q --no-follow --python "$py" -o "$tmp/t.gz" "$work" $method ;;
                esac
                rm -f "$tmp/t.gz"
                /usr/bin/time -f "%e %U %S" -o "$tmp/time" "$@" > /dev/null
                size=0 procs=1
                if [ -f "$tmp/t.gz" ]; then
                    size=$(stat -c %s "$tmp/t.gz")
                    procs=$("$bin" convert -f text --limit 1 "$tmp/t.gz" | sed -n 's/^Processes: \([0-9]*\)$/\1/p')
                    [ -n "$procs" ] || procs=1
                fi
                printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$ver" "$method" "$mode" "$(cat "$tmp/time")" \
                    "$size" "$procs" >> "$res"
            done
        done
        r=$((r + 1))
    done
done
python3 - "$res" <<'PY'
import statistics, sys
from collections import defaultdict
d = defaultdict(lambda: defaultdict(list))
for line in open(sys.argv[1]):
    ver, method, mode, wall, user, system, size, procs = line.split()
    d[ver, method][mode].append((float(wall), float(user) + float(system), int(size), int(procs)))
med = lambda xs, i: statistics.median(x[i] for x in xs)
print("procs.py: Pool + ProcessPoolExecutor + subprocess (medians; ratios to plain)")
print(f"{'python':8} {'method':10} {'plain wall':>10} {'plain cpu':>9} {'followed':>17} {'no-follow':>17} {'trace':>9} {'procs':>5}")
for (ver, method), m in sorted(d.items()):
    p, f, n = m["plain"], m["followed"], m["no-follow"]
    fw, fc = med(f, 0) / med(p, 0), med(f, 1) / med(p, 1)
    nw, nc = med(n, 0) / med(p, 0), med(n, 1) / med(p, 1)
    print(f"{ver:8} {method:10} {med(p,0):10.2f} {med(p,1):9.2f} "
          f"{fw:7.2f}x {fc:5.2f}x cpu {nw:7.2f}x {nc:5.2f}x cpu {med(f,2)/1024:7.1f}K {med(f,3):5.0f}")
PY
