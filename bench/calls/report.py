"""report.py RESULTS.tsv: the table of bench_calls.sh.

Input lines: python-version, workload, mode, wall seconds, peak RSS KiB, user s, sys s.
Targets checked (from the collector's issue): on fib and richards our overhead <= 0.7x
cProfile's; on every workload within 1.3x of the floor's overhead; RSS growth below cProfile's."""
import statistics
import sys
from collections import defaultdict

walls = defaultdict(list)
cpus = defaultdict(list)
rss = defaultdict(list)
for line in open(sys.argv[1]):
    ver, wl, mode, wall, kb, user, system = line.split()
    walls[ver, wl, mode].append(float(wall))
    cpus[ver, wl, mode].append(float(user) + float(system))
    rss[ver, wl, mode].append(int(kb))

def table(title, samples):
    med = {k: statistics.median(v) for k, v in samples.items()}
    mrss = {k: statistics.median(v) for k, v in rss.items()}
    hdr = ("python", "workload", "n", "plain s", "floor s", "cProfile s", "pyflame s",
           "ovh floor", "ovh cProf", "ovh ours", "ours/cProf", "ours/floor",
           "RSS+ cProf", "RSS+ ours", "targets")
    rows = []
    failed = 0
    for ver, wl in sorted({(k[0], k[1]) for k in walls}):
        g = lambda m: med.get((ver, wl, m), float("nan"))
        plain, floor, cprof, ours = g("plain"), g("floor"), g("cprofile"), g("pyflame")
        of, oc, oo = floor - plain, cprof - plain, ours - plain
        rc = mrss[ver, wl, "cprofile"] - mrss[ver, wl, "plain"]
        ro = mrss[ver, wl, "pyflame"] - mrss[ver, wl, "plain"]
        ok = []
        if wl in ("a_fib", "b_richards"):
            ok.append("cP" if oo <= 0.7 * oc else "cP-MISS")
        noise = 0.03 * plain   # a workload that makes few calls: overheads are noise
        if of < noise:
            ok.append("fl~" if oo <= noise or oo <= 1.3 * of else "fl-MISS")
        else:
            ok.append("fl" if oo <= 1.3 * of else "fl-MISS")
        ok.append("mem" if ro < rc else "mem-MISS")
        failed += sum(x.endswith("MISS") for x in ok)
        rows.append((ver, wl, str(len(walls[ver, wl, "plain"])), "%.2f" % plain, "%.2f" % floor,
                     "%.2f" % cprof, "%.2f" % ours, "%.2f" % of, "%.2f" % oc, "%.2f" % oo,
                     "%.2f" % (oo / oc if oc else float("nan")), "%.2f" % (oo / of if of else float("nan")),
                     "%d KiB" % rc, "%d KiB" % ro, " ".join(ok)))
    widths = [max(len(r[i]) for r in rows + [hdr]) for i in range(len(hdr))]
    for r in [hdr] + rows:
        print("  ".join(c.rjust(w) for c, w in zip(r, widths)))
    print("(%s medians, seconds; ovh = mode - plain; RSS+ = peak RSS growth over plain; "
          "targets: cP = ours <= 0.7x cProfile's overhead, fl = ours <= 1.3x the floor's, "
          "fl~ = both overheads under 3%% of plain (noise), mem = RSS growth below cProfile's; "
          "%d target(s) missed)" % (title, failed))
    return failed


def cpu_clock_table():
    """With BENCH_CPU_CLOCK=1: what --clock cpu costs over the default clock."""
    med = {k: statistics.median(v) for k, v in cpus.items()}
    keys = sorted({(k[0], k[1]) for k in cpus if k[2] == "cpuclock"})
    if not keys:
        return
    print()
    print("--clock cpu against the default clock (CPU user+sys medians, seconds):")
    for ver, wl in keys:
        plain, ours, cpu = (med[ver, wl, m] for m in ("plain", "pyflame", "cpuclock"))
        print("  %s  %-12s  plain %.2f  wall clock %.2f  cpu clock %.2f  (cpu/wall %.2fx, "
              "overhead %.2fx)" % (ver, wl, plain, ours, cpu, cpu / ours,
                                    (cpu - plain) / (ours - plain) if ours > plain else float("nan")))


missed = table("wall-clock", walls)
print()
missed += table("CPU (user+sys)", cpus)
cpu_clock_table()
