#!/bin/sh
# bench_memory.sh BUILD: memory profiling, side by side on allocation-heavy programs.
#
# For each workload, runs every tool BENCH_RUNS times (default 5) round-robin, so machine
# noise hits all of them alike, and prints medians of CPU time (user+sys; the machine is
# shared, wall time is shown too) and of peak RSS:
#   plain        python3 W
#   tm1, tm25    python3 -X tracemalloc=1 / =25 W (tracemalloc sees numpy's buffers through
#                PyTraceMalloc_Track, other native allocations not)
#   mprof        python3 -m memory_profiler W, main() decorated (BENCH_DECORATE=top; only for
#                workloads with the decorator preamble)
#   memhook      the pyflame-c allocator hooks alone (bench/memhook_probe.c), no call collector:
#                CPython's domains only
#   memhook-nat  the same with the native hooks (every object's malloc & co., mmap)
#   pyflame-py   pyflame-c collect --memory=python W: calls, lines and CPython's allocators
#   pyflame-nat  pyflame-c collect --memory W: calls, lines and every allocation, Python or native
# Targets checked and printed: pyflame-py's overhead <= 0.5x tracemalloc=25's, and its memory
# per live tracked object (extra peak RSS over plain / peak live blocks) <= tracemalloc=1's;
# pyflame-nat's overhead (native tracking, with calls and lines) <= tracemalloc=1's.
#   memray, memray-py  only with BENCH_MEMRAY=/path/to/memray (an install of bloomberg/memray
#                for the same interpreter; this script does not build it): `memray run` (its
#                native allocators, no pymalloc) and with --trace-python-allocators
# Workloads: BENCH_WORKLOADS, default d_alloc, bigcomp, textstats and, when numpy is
# importable, bench/workloads/np_arrays.py.
# Interpreter: BENCH_PYTHON (default /usr/bin/python3, where Debian's memory_profiler and
# numpy live).
set -eu
build=${1:-build}
py=${BENCH_PYTHON:-/usr/bin/python3}
runs=${BENCH_RUNS:-5}
root=$(pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT INT TERM

# The probe extension, built for $py.
inc=$("$py" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
ext=$("$py" -c 'import sysconfig; print(sysconfig.get_config_var("EXT_SUFFIX"))')
probe_dir="$build/bench/memprobe"
mkdir -p "$probe_dir"
probe="$probe_dir/memhook_probe$ext"
probe_src="collector/memhook.c collector/memtrack.c collector/nativehook.c collector/elfgot.c"
if [ ! -f "$probe" ] || [ -n "$(find $probe_src bench/memhook_probe.c collector/*.h \
        -newer "$probe" 2>/dev/null | head -1)" ]; then
    ${CC:-cc} -std=c11 -D_GNU_SOURCE -fPIC -fvisibility=hidden -O2 -g -Wall -Wextra -Werror -I. \
        -isystem "$inc" -shared -o "$probe" bench/memhook_probe.c $probe_src -ldl
fi

cat > "$work/probe_run.py" <<'EOF'
import json, runpy, sys
sys.path.insert(0, sys.argv[1])
import memhook_probe
out, native, prog = sys.argv[2], sys.argv[3] == "1", sys.argv[4]
sys.argv = sys.argv[4:]
memhook_probe.start(native)
try:
    runpy.run_path(prog, run_name="__main__")
finally:
    memhook_probe.stop()
    with open(out, "w") as f:
        json.dump(memhook_probe.totals(), f)
EOF

workloads="bench/workloads/d_alloc.py samples/bigcomp.py samples/textstats.py"
"$py" -c "import numpy" 2>/dev/null && workloads="$workloads bench/workloads/np_arrays.py"
[ -n "${BENCH_WORKLOADS:-}" ] && workloads=$BENCH_WORKLOADS

"$py" - "$root" "$build" "$py" "$runs" "$work" "$probe_dir" $workloads <<'EOF'
import json, os, statistics, subprocess, sys

root, build, py, runs, work, probe_dir = sys.argv[1:7]
runs = int(runs)
workloads = sys.argv[7:]
pyflame = os.path.join(os.path.abspath(build), "pyflame-c")
probe_run = os.path.join(work, "probe_run.py")
probe_json = os.path.join(work, "probe.json.")


def have_memory_profiler():
    return subprocess.call([py, "-c", "import memory_profiler"], stderr=subprocess.DEVNULL) == 0


def pyflame_note():
    if not os.access(pyflame, os.X_OK):
        return "no %s (make build/pyflame-c)" % pyflame
    empty = os.path.join(work, "empty.py")
    open(empty, "w").close()
    r = subprocess.run([pyflame, "collect", "-q", "--memory", "--python", py, "-o",
                        os.path.join(work, "empty.gz"), empty],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
    if r.returncode != 0:
        return "collect --memory does not run under %s: %s" % (py, r.stderr.strip()[-300:])
    return None


def tools(w):
    t = [("plain", [py, w], {}),
         ("tm1", [py, "-X", "tracemalloc=1", w], {}),
         ("tm25", [py, "-X", "tracemalloc=25", w], {})]
    with open(w) as f:
        decorated = "BENCH_DECORATE" in f.read()
    if decorated and have_memory_profiler():
        t.append(("mprof", [py, "-m", "memory_profiler", w], {"BENCH_DECORATE": "top"}))
    for name, native in (("memhook", "0"), ("memhook-nat", "1")):
        t.append((name, [py, probe_run, os.path.abspath(probe_dir), probe_json + name, native,
                         w], {}))
    if PYFLAME_NOTE is None:
        for name, mode in (("pyflame-py", "--memory=python"), ("pyflame-nat", "--memory")):
            t.append((name, [pyflame, "collect", "-q", mode, "--python", py, "-o",
                             os.path.join(work, "trace.gz"), w], {}))
    memray = os.environ.get("BENCH_MEMRAY")
    if memray:
        out = os.path.join(work, "memray.bin")
        t.append(("memray", [memray, "run", "-q", "-f", "-o", out, w], {}))
        t.append(("memray-py", [memray, "run", "-q", "-f", "--trace-python-allocators", "-o",
                                out, w], {}))
    return t


def measure(cmd, extra_env):
    env = dict(os.environ, **extra_env)
    timef = os.path.join(work, "time.txt")
    r = subprocess.run(["/usr/bin/time", "-o", timef, "-f", "%e %U %S %M"] + cmd, env=env,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, universal_newlines=True)
    if r.returncode != 0:
        raise SystemExit("bench_memory: %s failed (%d): %s" % (" ".join(cmd), r.returncode,
                                                               r.stderr[-2000:]))
    with open(timef) as f:
        wall, user, sys_, rss = f.read().split()[-4:]
    return float(user) + float(sys_), float(wall), int(rss) * 1024


PYFLAME_NOTE = pyflame_note()
if not have_memory_profiler():
    print("note: memory_profiler not importable by %s (apt-get install python3-memory-profiler)" % py)
if PYFLAME_NOTE:
    print("note: pyflame-c collect --memory skipped: %s" % PYFLAME_NOTE)
print("%d runs each, medians; cpu = user+sys seconds; x = ratio to plain; "
      "B/obj = (peak RSS - plain's) / peak live blocks" % runs)
failed_targets = []
for w in workloads:
    ts = tools(w)
    res = {name: [] for name, _, _ in ts}
    probe_totals = {}
    for _ in range(runs):
        for name, cmd, env in ts:
            res[name].append(measure(cmd, env))
            if name.startswith("memhook"):
                with open(probe_json + name) as f:
                    probe_totals[name] = json.load(f)
    med = {n: tuple(statistics.median(x[i] for x in v) for i in range(3)) for n, v in res.items()}
    pt, nt = probe_totals["memhook"], probe_totals["memhook-nat"]
    blocks = {n: (nt if n.endswith("-nat") else pt)["peak_live_blocks"] for n in med}
    print("\n== %s   (peak live blocks %d, peak live bytes %.1f MiB, allocations %d; with "
          "native: %d, %.1f MiB, %d)" % (os.path.basename(w), pt["peak_live_blocks"],
                                        pt["peak_live_bytes"] / 2**20, pt["alloc_count"],
                                        nt["peak_live_blocks"], nt["peak_live_bytes"] / 2**20,
                                        nt["alloc_count"]))
    print("%-12s %8s %7s %8s %10s %8s" % ("tool", "cpu s", "x", "wall s", "peak RSS", "B/obj"))
    c0, w0, r0 = med["plain"]
    for n, (c, wall, rss) in med.items():
        per = "" if n == "plain" or not blocks[n] else "%.1f" % ((rss - r0) / blocks[n])
        print("%-12s %8.2f %7.2f %8.2f %8.1f MB %8s" % (n, c, c / c0, wall, rss / 1e6, per))
    for n in ("memhook", "memhook-nat"):
        t = probe_totals[n]
        print("%s tracker: %.1f bytes of its own per peak live block (its peak %.1f MB)"
              % (n, t["profiler_peak_bytes"] / max(t["peak_live_blocks"], 1),
                 t["profiler_peak_bytes"] / 1e6))
    over = lambda n, i=0: med[n][i] - med["plain"][i]
    for n in ("memhook", "pyflame-py"):
        if n not in med:
            continue
        ratio = over(n) / over("tm25") if over("tm25") > 0 else float("nan")
        mem_ours = (med[n][2] - r0) / max(blocks[n], 1)
        mem_tm1 = (med["tm1"][2] - r0) / max(blocks[n], 1)
        ok1, ok2 = ratio <= 0.5, mem_ours <= mem_tm1
        print("target %-11s overhead / tm25 overhead = %.2f (<= 0.5: %s); B/obj %.1f vs tm1 %.1f (%s)"
              % (n, ratio, "ok" if ok1 else "MISSED", mem_ours, mem_tm1, "ok" if ok2 else "MISSED"))
        if n == "pyflame-py" and not (ok1 and ok2):
            failed_targets.append(os.path.basename(w))
    for n in ("memhook-nat", "pyflame-nat"):
        if n not in med:
            continue
        # the native hooks against tracemalloc=1, in CPU and in wall time
        rc = over(n) / over("tm1") if over("tm1") > 0 else float("nan")
        rw = over(n, 1) / over("tm1", 1) if over("tm1", 1) > 0 else float("nan")
        ok = rc <= 1.0
        print("target %-11s overhead / tm1 overhead = %.2f cpu, %.2f wall (<= 1: %s)"
              % (n, rc, rw, "ok" if ok else "MISSED"))
        if n == "pyflame-nat" and not ok:
            failed_targets.append(os.path.basename(w) + " (native)")
if failed_targets:
    print("\npyflame-c missed a target on: %s" % ", ".join(failed_targets))
EOF
