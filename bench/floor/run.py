"""run.py PYFLAME WORKLOAD_DIR PY...: the runs and tables of bench/bench_floor.sh.

Wall-time and CPU-time medians per (python, workload, tool), ratios to the plain run, and
the targets of the "collector at the floor" issue, read as overheads (tool minus plain):
  calls    <= 1.25x the floor's overhead; <= 0.5x cProfile's on fib, richards, json.tool,
           unittest; peak RSS growth <= cProfile's
  lines    <= 1.3x the line floor's overhead; @profile lines <= 0.3x kernprof's
  memory   <= memray's default overhead (where memray is importable), else <= 0.4x
           tracemalloc(1)'s
Then instruction counts from callgrind on small fixed programs (bench/floor/micro_*.py):
instructions per call, per line event and per allocation, each the difference to the
plain run divided by the number of events (every run minus the same run of an empty
script, so that start-up costs cancel) (counted by pyflame-c's own trace of the same
program, which is exact)."""
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile

BIN, WDIR = sys.argv[1], sys.argv[2]
PYTHONS = sys.argv[3:]
RUNS = int(os.environ.get("BENCH_RUNS", "3"))
HERE = os.path.dirname(os.path.abspath(__file__))
WORKLOADS = os.environ.get(
    "BENCH_WORKLOADS",
    "a_fib b_richards c_nbody d_alloc e1_jsontool e2_rst2html e3_pygments e5_unittest").split()
NAMES = {"a_fib": "fib", "b_richards": "richards", "c_nbody": "nbody", "d_alloc": "alloc",
         "e1_jsontool": "json.tool", "e2_rst2html": "docutils", "e3_pygments": "pygments",
         "e4_compileall": "compileall", "e5_unittest": "unittest"}
ALL_TOOLS = ["plain", "floor", "cprofile", "calls", "linefloor", "lines", "memory",
             "tm1", "memray", "memray_py", "kernprof", "hotlines"]
TOOLS = os.environ.get("BENCH_TOOLS", " ".join(ALL_TOOLS)).split()
MEMRAY_PATH = os.environ.get("BENCH_MEMRAY_PATH", "")
tmp = tempfile.mkdtemp(prefix="bench-floor-")


def has_module(py, mod, extra_env=None):
    env = dict(os.environ, **(extra_env or {}))
    return subprocess.run([py, "-c", "import " + mod], env=env, capture_output=True).returncode == 0


def memray_env():
    env = {}
    if MEMRAY_PATH:
        env["PYTHONPATH"] = MEMRAY_PATH
    return env


def command(tool, py, script, peer):
    """(argv, extra environment) of one tool's run, or None when the tool is missing."""
    out = os.path.join(tmp, "out")
    collect = [BIN, "collect", "-q", "--python", py, "-o", out + ".gz"]
    if tool == "plain":
        return [py, script], {}
    if tool == "floor":
        return collect + ["--floor", script], {}
    if tool == "cprofile":
        return [py, "-m", peer, "-o", os.devnull, script], {}
    if tool == "calls":
        return collect + [script], {}
    if tool == "linefloor":
        return collect + ["--floor", "--lines", script], {}
    if tool == "lines":
        return collect + ["--lines", script], {}
    if tool == "memory":
        return collect + ["--memory", script], {}
    if tool == "tm1":
        return [py, "-X", "tracemalloc=1", script], {}
    if tool in ("memray", "memray_py"):
        argv = [py, "-m", "memray", "run", "-q", "-f", "-o", out + ".bin"]
        if tool == "memray_py":
            argv.append("--trace-python-allocators")
        return argv + [script], memray_env()
    if tool == "kernprof":
        return [py, "-m", "kernprof", "-l", "-o", out + ".lprof", script], {"BENCH_DECORATE": "hot"}
    if tool == "hotlines":
        return collect + [script], {"BENCH_DECORATE": "hot"}
    raise ValueError(tool)


def available(tool, py):
    if tool in ("memray", "memray_py"):
        return has_module(py, "memray", memray_env())
    if tool == "kernprof":
        return has_module(py, "kernprof") and has_module(py, "line_profiler")
    return True


def timed(argv, env):
    tf = os.path.join(tmp, "time")
    full_env = dict(os.environ, **env)
    r = subprocess.run(["/usr/bin/time", "-f", "%e %M %U %S", "-o", tf] + argv, env=full_env,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if r.returncode != 0:
        return None, r.stderr.decode(errors="replace")[-300:]
    wall, kb, user, system = open(tf).read().split()[-4:]
    return (float(wall), float(user) + float(system), int(kb)), None


def version(py):
    return subprocess.run([py, "-c", "import platform; print(platform.python_version())"],
                          capture_output=True, text=True).stdout.strip()


def fmt_ratio(x):
    return "-" if x is None else "%.2fx" % x


def main_tables():
    results = {}     # (ver, wl, tool) -> list of (wall, cpu, kb)
    versions = []
    for py in PYTHONS:
        ver = version(py)
        versions.append(ver)
        peer = "profiling.tracing" if has_module(py, "profiling.tracing") else "cProfile"
        tools = [t for t in TOOLS if available(t, py)]
        missing = [t for t in TOOLS if t not in tools]
        if missing:
            print("# %s: not available: %s" % (ver, " ".join(missing)), flush=True)
        for wl in WORKLOADS:
            script = os.path.join(WDIR, wl + ".py")
            if wl.startswith("e") and not py.startswith("/usr/bin/"):
                # the real workloads use Debian's packages: docutils, pygments, the testsuite
                ok = subprocess.run([py, "-c", "import docutils, pygments"],
                                    capture_output=True).returncode == 0
                if not ok and wl in ("e2_rst2html", "e3_pygments"):
                    continue
            for _ in range(RUNS):
                for tool in tools:
                    argv, env = command(tool, py, script, peer)
                    res, err = timed(argv, env)
                    if res is None:
                        print("# %s %s %s failed: %s" % (ver, wl, tool, err.strip().splitlines()[-1:]),
                              flush=True)
                        continue
                    results.setdefault((ver, wl, tool), []).append(res)
    for metric, idx in (("wall", 0), ("CPU", 1)):
        print()
        print("## %s time: ratio to the plain run (medians of %d runs)" % (metric, RUNS))
        cols = [t for t in ALL_TOOLS if t != "plain" and t in TOOLS]
        print("| python | workload | plain s | " + " | ".join(cols) + " |")
        print("|---" * (3 + len(cols)) + "|")
        for ver in versions:
            for wl in WORKLOADS:
                med = {t: statistics.median(x[idx] for x in v)
                       for (vv, ww, t), v in results.items() if vv == ver and ww == wl}
                if "plain" not in med:
                    continue
                p = med["plain"]
                row = ["%.2f" % p] + [fmt_ratio(med[t] / p) if t in med else "-" for t in cols]
                print("| %s | %s | %s |" % (ver, NAMES.get(wl, wl), " | ".join(row)))
        print()
        print("### targets (%s time, overheads = tool - plain)" % metric)
        for ver in versions:
            for wl in WORKLOADS:
                med = {t: statistics.median(x[idx] for x in v)
                       for (vv, ww, t), v in results.items() if vv == ver and ww == wl}
                if "plain" not in med:
                    continue
                o = {t: med[t] - med["plain"] for t in med}
                checks = []

                def check(label, ours, ref, limit):
                    if ours in o and ref in o and o[ref] > 0:
                        r = o[ours] / o[ref]
                        checks.append("%s %.2f (<= %.2f %s)" % (label, r, limit, "ok" if r <= limit else "MISSED"))
                check("calls/floor", "calls", "floor", 1.25)
                if wl in ("a_fib", "b_richards", "e1_jsontool", "e5_unittest"):
                    check("calls/cProfile", "calls", "cprofile", 0.5)
                check("lines/linefloor", "lines", "linefloor", 1.3)
                check("@profile/kernprof", "hotlines", "kernprof", 0.3)
                if "memray" in o:
                    check("memory/memray", "memory", "memray", 1.0)
                else:
                    check("memory/tracemalloc(1)", "memory", "tm1", 0.4)
                if idx == 0:
                    rss = {t: statistics.median(x[2] for x in v)
                           for (vv, ww, t), v in results.items() if vv == ver and ww == wl}
                    if all(t in rss for t in ("plain", "calls", "cprofile")):
                        ours = rss["calls"] - rss["plain"]
                        peer = rss["cprofile"] - rss["plain"]
                        checks.append("RSS+ %d KiB vs cProfile %d KiB (%s)" % (
                            ours, peer, "ok" if ours <= max(peer, 0) else "MISSED"))
                print("- %s %s: %s" % (ver, NAMES.get(wl, wl), "; ".join(checks)))


# ---- callgrind: instructions per event ----------------------------------------------------

def callgrind_instructions(argv, env=None):
    """Instructions executed by argv and every process it starts (callgrind's Collected).
    String hashing is fixed (PYTHONHASHSEED=0) and snapshots are off, so that reruns count
    alike (a snapshot's timing depends on how long valgrind takes)."""
    out = os.path.join(tmp, "cg.%p")
    argv = list(argv)
    if argv[0] == BIN and argv[1] == "collect":
        argv[2:2] = ["--snapshot", "0"]
    r = subprocess.run(["valgrind", "--tool=callgrind", "--trace-children=yes",
                        "--callgrind-out-file=" + out] + argv,
                       env=dict(os.environ, PYTHONHASHSEED="0", **(env or {})),
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError("callgrind failed: " + r.stderr[-400:])
    total = sum(int(x.replace(",", "")) for x in re.findall(r"Collected : ([\d,]+)", r.stderr))
    for f in os.listdir(tmp):
        if f.startswith("cg."):
            os.unlink(os.path.join(tmp, f))
    return total


def events(py, script, kind, env=None):
    """Exact count of call, line or allocation events of script, from pyflame-c's trace."""
    out = os.path.join(tmp, "ev.gz")
    opts = {"calls": [], "lines": ["--lines"], "allocs": ["--memory"]}[kind]
    subprocess.run([BIN, "collect", "-q", "--python", py, "-o", out] + opts + [script], check=True,
                   stdout=subprocess.DEVNULL, env=dict(os.environ, **(env or {})))
    if kind == "lines":
        rows = subprocess.run([BIN, "convert", "-f", "lines", out], check=True, capture_output=True,
                              text=True).stdout.splitlines()
        hdr = rows[0].split("\t")
        return sum(int(r.split("\t")[hdr.index("hits")]) for r in rows[1:])
    metric = "calls" if kind == "calls" else "alloc-count"
    text = subprocess.run([BIN, "convert", "-f", "collapsed", "--metric", metric, out], check=True,
                          capture_output=True, text=True).stdout
    return sum(int(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.strip())


def make_small_json():
    """A 0.5 MB slice of the bench's big.json (BENCH_DATA, made by gen_data.py) in a
    folder of its own, or None when there is no big.json."""
    import json
    data = os.environ.get("BENCH_DATA") or os.path.join(tempfile.gettempdir(), "pyflame-bench-data")
    try:
        with open(os.path.join(data, "big.json")) as f:
            doc = json.load(f)
    except (OSError, ValueError):
        return None
    doc["records"] = doc.get("records", [])[:2500]
    d = os.path.join(tmp, "small-json")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "big.json"), "w") as f:
        json.dump(doc, f)
    return d


def callgrind_tables():
    if os.environ.get("BENCH_CALLGRIND", "1") == "0" or not shutil.which("valgrind"):
        print("\n# callgrind: skipped (BENCH_CALLGRIND=0 or no valgrind)")
        return
    print()
    print("## Instructions per event (callgrind, exact; (tool - plain) / events)")
    print("| python | event | events | floor | peer | pyflame-c | pyflame-c/floor | pyflame-c/peer | of which memory |")
    print("|---|---|---|---|---|---|---|---|---|")
    micro = {"calls": "micro_calls.py", "lines": "micro_lines.py", "allocs": "micro_allocs.py"}
    # a real program beside the micro ones: json.tool on a 0.5 MB slice of the bench's
    # JSON file (generators, builtins and method calls, which fib does not make)
    small = make_small_json()
    if small is not None:
        micro["calls, json.tool"] = os.path.join(WDIR, "e1_jsontool.py")
    for py in PYTHONS:
        ver = version(py)
        peer = "profiling.tracing" if has_module(py, "profiling.tracing") else "cProfile"
        for label, name in micro.items():
            kind = label.split(",")[0]
            script = os.path.join(HERE, name)
            env = {"BENCH_DATA": small} if label == "calls, json.tool" else {}
            try:
                n = events(py, script, kind, env)
            except subprocess.CalledProcessError:
                print("| %s | %s | (failed to run) |" % (ver, label))
                continue
            empty = os.path.join(HERE, "micro_empty.py")

            def work(argv):
                """Instructions of the script's own work: the run minus the same run of an
                empty script, so that start-up and shut-down (ours included) cancel."""
                return (callgrind_instructions(argv + [script], env)
                        - callgrind_instructions(argv + [empty], env))
            plain = work([py])
            collect = [BIN, "collect", "-q", "--python", py, "-o", os.path.join(tmp, "cg.gz")]
            extra = {"calls": [], "lines": ["--lines"], "allocs": ["--memory"]}[kind]
            # --memory records lines too, so its floor is the line floor; "memory only" is
            # what --memory costs above --lines on the same program
            floor = work(collect + ["--floor"] + ([] if kind == "calls" else ["--lines"]))
            ours = work(collect + extra)
            mem_only = work(collect + ["--lines"]) if kind == "allocs" else None
            cprof = None
            if kind == "calls":
                cprof = work([py, "-m", peer, "-o", os.devnull])
            elif kind == "allocs":
                cprof = work([py, "-X", "tracemalloc=1"])
            per = lambda x: None if x is None else (x - plain) / n
            f, c, o = per(floor), per(cprof), per(ours)
            peer_name = {"calls": "cProfile", "lines": "-", "allocs": "tracemalloc(1)"}[kind]
            print("| %s | %s | %d | %.0f | %s | %.0f | %.2fx | %s | %s |" % (
                ver, label, n, f, "-" if c is None else "%.0f (%s)" % (c, peer_name), o,
                o / f if f > 0 else float("nan"), "-" if not c else "%.2fx" % (o / c),
                "-" if mem_only is None else "%.0f" % ((ours - mem_only) / n)))


try:
    main_tables()
    callgrind_tables()
finally:
    shutil.rmtree(tmp, ignore_errors=True)
