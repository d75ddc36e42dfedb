#!/bin/sh
# bench_sample.sh BUILD: the statistical mode against plain runs, pyflame-c's call mode and
# CPython 3.15's own sampler (python3.15 -m profiling.sampling), side by side in one run,
# BENCH_RUNS rounds (default 3) round-robin, medians of the program's wall seconds:
#   plain         python3 W
#   sample 1k     pyflame-c collect --sample=1000 W
#   sample 10k    pyflame-c collect --sample=10000 W
#   calls         pyflame-c collect W (every call recorded)
#   tachyon 1k    python3.15 -m profiling.sampling run -r 1khz --pstats -o /dev/null W (3.15 only)
#   tachyon 10k   the same at 10 kHz
#   attach 1k/10k python3.15 W, with `pyflame-c attach --rate HZ` on it from 0.3 s (3.15)
#   austin 1k/10k austin -i 1000|100 -o /dev/null python3 W, when BENCH_AUSTIN names an
#                 austin binary (build it from its public source yourself; austin 3.7
#                 reads CPython up to 3.11)
# Reported: overhead in % of plain's wall time (targets: 1 kHz <= 2%, 10 kHz <= 5%) and of
# its CPU time (the program's and the profiler's own, from /usr/bin/time), the
# sampler's own CPU per stack and the stacks lost (from collect's summary), and the trace
# size of a BENCH_LONG-second (default 60) run at 10 kHz.  The workloads are the peers'
# (../shared/bench/workloads: fib, richards, nbody, unittest; BENCH_WORKLOADS to change).
# On Debian's python3 and 3.15 (BENCH_PYTHONS).
set -eu
build=${1:-build}
bin=$(cd "$build" && pwd)/pyflame-c
runs=${BENCH_RUNS:-3}
long=${BENCH_LONG:-60}
shared=$(cd ../shared/bench/workloads 2>/dev/null && pwd || echo /work/shared/bench/workloads)
py315=$(sh scripts/find-pythons.sh | while read -r p; do
    case $("$p" -c 'import sys; print(sys.version_info[:2] == (3, 15))') in True) echo "$p"; break ;; esac
done)
BENCH_PYTHONS=${BENCH_PYTHONS:-"$( [ -x /usr/bin/python3 ] && echo /usr/bin/python3) $py315"}
BENCH_WORKLOADS=${BENCH_WORKLOADS:-"$shared/a_fib.py $shared/b_richards.py $shared/c_nbody.py $shared/e5_unittest.py"}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
res=$tmp/results.tsv
: > "$res"
for py in $BENCH_PYTHONS; do
    ext=$("$py" -c 'import sysconfig; print(sysconfig.get_config_var("EXT_SUFFIX"))')
    [ -f "$build/python/pyflame/_collector$ext" ] || { echo "skip $py: no collector built" >&2; continue; }
    ver=$("$py" -c 'import platform; print(platform.python_version())')
    is315=$("$py" -c 'import sys; print(int(sys.version_info[:2] == (3, 15)))')
    modes="plain sample1k sample10k calls"
    [ "$is315" = 1 ] && modes="$modes tachyon1k tachyon10k attach1k attach10k"
    [ -n "${BENCH_AUSTIN:-}" ] && [ "$is315" = 0 ] && modes="$modes austin1k austin10k"
    r=1
    while [ "$r" -le "$runs" ]; do
        for w in $BENCH_WORKLOADS; do
            name=$(basename "$w" .py)
            for mode in $modes; do
                rm -f "$tmp/t.gz" "$tmp/err"
                case $mode in
                    plain)      set -- "$py" "$w" ;;
                    sample1k)   set -- "$bin" collect --sample=1000 --python "$py" -o "$tmp/t.gz" "$w" ;;
                    sample10k)  set -- "$bin" collect --sample=10000 --python "$py" -o "$tmp/t.gz" "$w" ;;
                    calls)      set -- "$bin" collect -q --python "$py" -o "$tmp/t.gz" "$w" ;;
                    tachyon1k)  set -- "$py" -m profiling.sampling run -r 1khz --pstats -o /dev/null "$w" ;;
                    tachyon10k) set -- "$py" -m profiling.sampling run -r 10khz --pstats -o /dev/null "$w" ;;
                    austin1k)   set -- "$BENCH_AUSTIN" -i 1000 -o /dev/null "$py" "$w" ;;
                    austin10k)  set -- "$BENCH_AUSTIN" -i 100 -o /dev/null "$py" "$w" ;;
                esac
                # /usr/bin/time: the wall seconds, and the CPU seconds of everything
                # (the program, and the profiler's own: sampler thread or process); its
                # last line (a failed command adds "Command exited with ..." first)
                case $mode in
                    attach*)
                        hz=1000; [ "$mode" = attach10k ] && hz=10000
                        ( cd "$(dirname "$w")" && exec /usr/bin/time -o "$tmp/time" -f "%e %U %S" "$py" "$w" ) > /dev/null 2>&1 &
                        tpid=$!
                        sleep 0.3
                        pid=$(pgrep -P $tpid | head -1)
                        /usr/bin/time -o "$tmp/time2" -f "%e %U %S" "$bin" attach --rate $hz -o "$tmp/t.gz" $pid 2> "$tmp/err" || true
                        wait $tpid || true
                        wall=$(tail -n 1 "$tmp/time" | awk '{print $1}')
                        cpus=$( (tail -n 1 "$tmp/time"; tail -n 1 "$tmp/time2") | awk '{s += $2 + $3} END {print s}') ;;
                    *)
                        ( cd "$(dirname "$w")" && /usr/bin/time -o "$tmp/time" -f "%e %U %S" "$@" ) > /dev/null 2> "$tmp/err" || true
                        wall=$(tail -n 1 "$tmp/time" | awk '{print $1}')
                        cpus=$(tail -n 1 "$tmp/time" | awk '{print $2 + $3}') ;;
                esac
                # from collect's summary: "sampler: ... N stacks read, L lost, X us of CPU per stack"
                cpu=$(sed -n 's/.* \([0-9.]*\) us of CPU per stack.*/\1/p' "$tmp/err" | tail -1)
                lost=$(sed -n 's/.*, \([0-9]*\) lost, .*/\1/p; s/.*, \([0-9,]*\) lost (.*/\1/p' "$tmp/err" | tr -d , | tail -1)
                size=0; [ -f "$tmp/t.gz" ] && size=$(stat -c %s "$tmp/t.gz")
                printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$ver" "$name" "$mode" \
                    "$wall" "${cpu:-}" "${lost:-}" "$size" "$cpus" >> "$res"
            done
        done
        r=$((r + 1))
    done
done
python3 - "$res" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    ver, name, mode, wall, cpu, lost, size, cpus = line.rstrip("\n").split("\t")
    rows.setdefault((ver, name), {}).setdefault(mode, []).append(
        (float(wall), float(cpu) if cpu else None, int(lost) if lost else None, int(size),
         float(cpus)))
cols = ["sample1k", "sample10k", "calls", "tachyon1k", "tachyon10k", "attach1k", "attach10k",
        "austin1k", "austin10k"]
print("wall-clock overhead against plain (median of runs); sampler CPU per stack (us); stacks lost")
print("%-8s %-14s %7s " % ("python", "workload", "plain") + " ".join("%11s" % c for c in cols)
      + "  cpu/stack 1k/10k  lost 1k/10k")
def overheads(m, k):
    """Each column's median of field k as a % over plain's, and plain's median."""
    plain = statistics.median(x[k] for x in m["plain"])
    cells = []
    for c in cols:
        if c not in m:
            cells.append("%11s" % "-")
            continue
        v = statistics.median(x[k] for x in m[c])
        cells.append("%10.1f%%" % (100 * (v - plain) / plain))
    return plain, cells
for (ver, name), m in sorted(rows.items()):
    plain, cells = overheads(m, 0)
    def med(mode, k):
        v = [x[k] for x in m.get(mode, []) if x[k] is not None]
        return statistics.median(v) if v else float("nan")
    print("%-8s %-14s %6.2fs " % (ver, name, plain) + " ".join(cells)
          + "  %6.1f / %6.1f  %5.0f / %5.0f" % (med("sample1k", 1), med("sample10k", 1),
                                              med("sample1k", 2), med("sample10k", 2)))
print()
print("CPU time (user + sys of the program and of the profiler itself) against plain's")
print("%-8s %-14s %7s " % ("python", "workload", "plain") + " ".join("%11s" % c for c in cols))
for (ver, name), m in sorted(rows.items()):
    plain, cells = overheads(m, 4)
    print("%-8s %-14s %6.2fs " % (ver, name, plain) + " ".join(cells))
PY
# the trace of a long run at 10 kHz: its size does not grow with the run
py=$(echo $BENCH_PYTHONS | awk '{print $1}')
cat > "$tmp/long.py" <<EOF
import time
def busy(n):
    return sum(i * i for i in range(n))
def a(): busy(3000)
def b(): busy(1000)
end = time.time() + $long
while time.time() < end:
    a(); b()
EOF
"$bin" collect --sample=10000 --python "$py" -o "$tmp/long.gz" "$tmp/long.py" 2> "$tmp/err" || true
grep "wrote\|sampler:" "$tmp/err" | sed "s|$tmp/||"
echo "trace of a ${long} s run at 10 kHz: $(stat -c %s "$tmp/long.gz") bytes"
