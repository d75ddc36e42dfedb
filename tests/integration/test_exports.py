"""test_exports.py: `pyflame-c convert -f pprof|callgrind|speedscope` read by the real
consumers, on a real --memory trace: `go tool pprof -top` and `-traces` (Debian's
golang-go) and `callgrind_annotate` (valgrind) must read the files, and their totals
must be the trace's: call counts and self times as the pstats file of the same trace
holds them (loaded with pstats), memory as `convert -f collapsed --metric ...` sums it.
(speedscope itself opens its file in tests/browser/test_speedscope.mjs.)
Environment: PYFLAME_C, PYFLAME_PYTHON (see run-integration.sh); scripts/deps.sh test
installs the consumers.
"""
import json
import os
import pstats
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
PYFLAME_C = os.environ.get("PYFLAME_C") or os.path.join(HERE, "..", "..", "build", "pyflame-c")
PYTHON = os.environ.get("PYFLAME_PYTHON") or sys.executable

PROGRAM = """\
import threading


def leaf(i):
    return str(i) * 3


def loop(n):
    return [leaf(i) for i in range(n)]


def main():
    for _ in range(7):
        loop(100)


t = threading.Thread(target=loop, args=(50,), name="helper")
t.start()
main()
t.join()
"""


def run(cmd, cwd=None, check=True):
    env = dict(os.environ)
    env.setdefault("HOME", tempfile.gettempdir())   # go wants a cache folder
    r = subprocess.run(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    if check and r.returncode != 0:
        raise AssertionError("%s failed (%d):\n%s" % (" ".join(cmd), r.returncode,
                                                      r.stderr.decode(errors="replace")))
    return r.stdout.decode(errors="replace")


def go():
    exe = shutil.which("go") or ("/usr/lib/go/bin/go" if os.path.exists("/usr/lib/go/bin/go") else None)
    if exe is None:
        raise AssertionError("go (Debian golang-go) is missing: run 'sh scripts/deps.sh test'")
    return exe


class Exports(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="pf-exports-")
        with open(os.path.join(cls.dir, "app.py"), "w") as f:
            f.write(PROGRAM)
        cls.trace = os.path.join(cls.dir, "trace.gz")
        run([PYFLAME_C, "collect", "-q", "--memory", "--python", PYTHON, "-o", cls.trace,
             "app.py"], cwd=cls.dir)
        prof = os.path.join(cls.dir, "app.prof")
        run([PYFLAME_C, "convert", "-f", "pstats", "-o", prof, cls.trace])
        cls.stats = pstats.Stats(prof).stats
        cls.total_calls = sum(v[1] for v in cls.stats.values())
        cls.total_ns = round(sum(v[2] for v in cls.stats.values()) * 1e9)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)

    def func(self, name):
        (k, v), = [(k, v) for k, v in self.stats.items() if k[2] == name]
        return v

    def collapsed_sum(self, metric):
        out = run([PYFLAME_C, "convert", "-f", "collapsed", "--metric", metric, self.trace])
        return sum(int(line.rsplit(" ", 1)[1]) for line in out.splitlines() if line)

    def convert(self, fmt, *extra):
        path = os.path.join(self.dir, "out." + fmt)
        run([PYFLAME_C, "convert", "-f", fmt, "-o", path, *extra, self.trace])
        return path

    # ---- pprof ---------------------------------------------------------------------

    def pprof_top(self, path, index, *extra):
        out = run([go(), "tool", "pprof", "-top", "-nodecount=100000", "-sample_index=" + index,
                   *extra, path])
        total = re.search(r"Total samples = (\d+)", out)
        self.assertIsNotNone(total, out)
        rows = {}
        for line in out.splitlines():
            m = re.match(r"\s*(\d+)(?:ns|B)?\s+[\d.]+%\s+[\d.]+%\s+(\d+)(?:ns|B)?\s+[\d.]+%\s+(.*)$", line)
            if m:
                rows[m.group(3)] = (int(m.group(1)), int(m.group(2)))
        return int(total.group(1)), rows

    def test_pprof_top_agrees_with_the_trace(self):
        path = self.convert("pprof")
        with open(path, "rb") as f:
            self.assertEqual(f.read(2), b"\x1f\x8b")
        calls, rows = self.pprof_top(path, "calls")
        self.assertEqual(calls, self.total_calls)
        self.assertEqual(rows["leaf"][0], 750)            # 7 * 100 + 50
        self.assertEqual(rows["loop"][0], 8)
        self.assertEqual(rows["main"][0], 1)
        wall, rows = self.pprof_top(path, "wall", "-unit=ns")
        self.assertLessEqual(abs(wall - self.total_ns), 1000)   # pstats holds float seconds
        self.assertLessEqual(abs(rows["leaf"][0] - round(self.func("leaf")[2] * 1e9)), 1000)
        # cumulative time of main = its inclusive time
        self.assertLessEqual(abs(rows["main"][1] - round(self.func("main")[3] * 1e9)), 1000)
        for index, metric in (("alloc_space", "alloc-bytes"), ("alloc_objects", "alloc-count"),
                              ("inuse_space", "peak-bytes")):
            unit = ["-unit=B"] if index != "alloc_objects" else []
            total, _ = self.pprof_top(path, index, *unit)
            self.assertEqual(total, self.collapsed_sum(metric), index)

    def test_pprof_traces_have_stacks_and_labels(self):
        path = self.convert("pprof", "--granularity", "line")
        out = run([go(), "tool", "pprof", "-traces", "-sample_index=calls", path])
        blocks = [b for b in out.split("-----------+-------------------------------------------------------")[1:]
                  if b.strip()]
        self.assertGreater(len(blocks), 5)
        # (before 3.12 the list comprehension is a frame of its own, named by its
        # qualname from 3.11 on, by its bare name before)
        leaf = [b for b in blocks
                if re.search(r"^\s+\d+\s+leaf\n(\s+(loop\.<locals>\.)?<listcomp>\n)?\s+loop\n", b, re.M)]
        self.assertEqual(len(leaf), 2, out)          # main's loop and the helper thread's
        self.assertEqual(sorted(int(re.search(r"^\s+(\d+)\s+leaf", b, re.M).group(1)) for b in leaf),
                         [50, 700])
        for b in blocks:
            self.assertRegex(b, r"thread:\s+\S")
            self.assertRegex(b, r"pid:\s+\d+")
        self.assertTrue(any(re.search(r"thread:\s+helper", b) for b in blocks))
        # lines: -lines shows leaf's caller at its call line (app.py:9)
        out = run([go(), "tool", "pprof", "-top", "-lines", "-sample_index=calls", path])
        self.assertRegex(out, r"(loop\.<locals>\.)?<listcomp> app\.py:9|loop app\.py:9")

    # ---- callgrind -----------------------------------------------------------------

    def test_callgrind_annotate_agrees_with_the_trace(self):
        path = self.convert("callgrind")
        out = run(["callgrind_annotate", path])
        m = re.search(r"^([\d,]+) \([\d.]+%\)\s+([\d,]+) \([\d.]+%\)\s+([\d,]+) \([\d.]+%\)\s+"
                      r"([\d,]+) \([\d.]+%\)\s+PROGRAM TOTALS", out, re.M)
        self.assertIsNotNone(m, out)
        time_ns, abytes, acount, peak = (int(g.replace(",", "")) for g in m.groups())
        self.assertLessEqual(abs(time_ns - self.total_ns), 1000)
        self.assertEqual(abytes, self.collapsed_sum("alloc-bytes"))
        self.assertEqual(acount, self.collapsed_sum("alloc-count"))
        self.assertEqual(peak, self.collapsed_sum("peak-bytes"))
        row = re.search(r"^\s*([\d,]+) .*app\.py:leaf$", out, re.M)
        self.assertIsNotNone(row, out)
        self.assertLessEqual(abs(int(row.group(1).replace(",", "")) -
                                 round(self.func("leaf")[2] * 1e9)), 1000)
        # call records: main calls loop 7 times from line 14, at loop's first line 8
        with open(path) as f:
            text = f.read()
        self.assertRegex(text, r"fn=\(\d+\)(?: main)?\n(?:.*\n)*?cfn=\(\d+\)(?: loop)?\ncalls=7 8\n14 ")
        # inclusive: callgrind_annotate --inclusive=yes gives main its cumulative time
        out = run(["callgrind_annotate", "--inclusive=yes", path])
        row = re.search(r"^\s*([\d,]+) .*app\.py:main$", out, re.M)
        self.assertIsNotNone(row, out)
        self.assertLessEqual(abs(int(row.group(1).replace(",", "")) -
                                 round(self.func("main")[3] * 1e9)), 1000)

    # ---- speedscope (the file; the browser test opens it in speedscope) --------------

    def test_speedscope_profiles_sum_to_the_trace(self):
        with open(self.convert("speedscope")) as f:
            doc = json.load(f)
        self.assertEqual(doc["$schema"], "https://www.speedscope.app/file-format-schema.json")
        time = [p for p in doc["profiles"] if p["unit"] == "nanoseconds"]
        self.assertEqual(len(time), 2)
        self.assertLessEqual(abs(sum(p["endValue"] for p in time) - self.total_ns), 1000)
        alloc = [p for p in doc["profiles"] if p["name"].endswith("(bytes allocated)")]
        self.assertEqual(sum(p["endValue"] for p in alloc), self.collapsed_sum("alloc-bytes"))
        frames = doc["shared"]["frames"]
        leaf = [f for f in frames if f["name"] == "leaf"]
        self.assertEqual(len(leaf), 1)
        self.assertEqual((os.path.basename(leaf[0]["file"]), leaf[0]["line"]), ("app.py", 4))
        for p in doc["profiles"]:
            depth, at = 0, 0
            for e in p["events"]:
                self.assertGreaterEqual(e["at"], at)
                at = e["at"]
                depth += 1 if e["type"] == "O" else -1
                self.assertGreaterEqual(depth, 0)
            self.assertEqual(depth, 0)
            self.assertEqual(at, p["endValue"])


if __name__ == "__main__":
    unittest.main(verbosity=2)
