#!/bin/sh
# bench_scale.sh BUILD: costs that must grow only linearly with the work (the "costs
# that grow with the work" issue), side by side in one run, BENCH_RUNS rounds (default 3)
# round-robin, medians of wall and CPU seconds, on Debian's python3 and the first 3.12+:
#   exec_churn  80,000 distinct code objects from one call site: plain, cProfile,
#               pyflame-c.  Target: our overhead <= 1.0x cProfile's.
#   many_nodes  ~1.4 M distinct calling contexts: the collector's stop-time build and
#               write (wall time of the run minus the program's own time and start-up)
#               <= 1 s per million nodes; collector memory per node (peak RSS over
#               plain) <= 96 bytes; the reader's model per node (bench/tools/trace_mem)
#               <= 64 bytes.
set -eu
build=${1:-build}
bin=$(cd "$build" && pwd)/pyflame-c
runs=${BENCH_RUNS:-3}
wdir=$(pwd)/bench/workloads
[ -x /usr/bin/time ] || { echo "bench_scale: needs /usr/bin/time (apt-get install time)" >&2; exit 1; }
[ -x "$build/bench/trace_mem" ] || { echo "bench_scale: needs $build/bench/trace_mem (make bench-tools)" >&2; exit 1; }
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
        for w in exec_churn many_nodes; do
            for mode in plain cprofile pyflame; do
                [ $w = many_nodes ] && [ $mode = cprofile ] && continue
                case $mode in
                    plain)    set -- "$py" "$wdir/$w.py" ;;
                    cprofile) set -- "$py" -m cProfile -o /dev/null "$wdir/$w.py" ;;
                    pyflame)  set -- "$bin" collect -q --python "$py" -o "$tmp/$w.gz" "$wdir/$w.py" ;;
                esac
                own=$(/usr/bin/time -f "%e %M %U %S" -o "$tmp/time" "$@" | sed -n 's/^own //p')
                nodes=0
                if [ $mode = pyflame ]; then
                    nodes=$("$build/bench/trace_mem" "$tmp/$w.gz" | sed 's/^nodes \([0-9]*\) .*/\1/')
                    "$build/bench/trace_mem" "$tmp/$w.gz" | sed 's/.* bytes_per_node \([0-9.]*\) .*/\1/' > "$tmp/model"
                fi
                printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$ver" "$w" "$mode" "$(cat "$tmp/time")" \
                    "$own" "$nodes" "$(cat "$tmp/model" 2>/dev/null || echo 0)" >> "$res"
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
    ver, w, mode, wall, kb, user, system, own, nodes, model = line.split()
    k = d[ver, w][mode]
    k.append((float(wall), float(user) + float(system), int(kb), float(own), int(nodes), float(model)))
med = lambda xs, i: statistics.median(x[i] for x in xs)
print("exec_churn: 80,000 distinct code objects from one call site (medians, seconds)")
print(f"{'python':8} {'plain wall':>10} {'cProf wall':>10} {'ours wall':>10} {'plain cpu':>9} {'cProf cpu':>9} {'ours cpu':>9} {'ours/cProf (cpu ovh)':>21} target")
for (ver, w), m in sorted(d.items()):
    if w != "exec_churn": continue
    p, c, o = m["plain"], m["cprofile"], m["pyflame"]
    ratio = (med(o, 1) - med(p, 1)) / max(med(c, 1) - med(p, 1), 1e-9)
    print(f"{ver:8} {med(p,0):10.2f} {med(c,0):10.2f} {med(o,0):10.2f} {med(p,1):9.2f} {med(c,1):9.2f} {med(o,1):9.2f} {ratio:21.2f} {'PASS' if ratio <= 1.0 else 'MISS'} (<= 1.0)")
print()
print("many_nodes: ~1.4 M calling-context nodes (medians)")
print(f"{'python':8} {'nodes':>9} {'stop s/M nodes':>15} {'collector B/node':>17} {'model B/node':>13} targets")
for (ver, w), m in sorted(d.items()):
    if w != "many_nodes": continue
    p, o = m["plain"], m["pyflame"]
    nodes = med(o, 4)
    startup = med(p, 0) - med(p, 3)
    stop = med(o, 0) - med(o, 3) - startup
    per_m = stop / (nodes / 1e6)
    coll = (med(o, 2) - med(p, 2)) * 1024 / nodes
    model = med(o, 5)
    t = ["stop " + ("PASS" if per_m <= 1.0 else "MISS"), "collector " + ("PASS" if coll <= 96 else "MISS"),
         "model " + ("PASS" if model <= 64 else "MISS")]
    print(f"{ver:8} {nodes:9.0f} {per_m:15.2f} {coll:17.1f} {model:13.1f} {', '.join(t)}")
PY
