"""test_convert_formats.py: `pyflame-c convert -f text|lines|collapsed` on real traces.

The text table must parse like pstats' print_stats and agree with the pstats file of
the same trace; the line table (when the collector records lines) must be well-formed
TSV with exact hit counts; memory options must work on memory traces and be refused
clearly on others.  Environment: PYFLAME_C, PYFLAME_PYTHON (see run-integration.sh).
"""
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
def leaf(i):
    return i * 2


def loop(n):
    total = 0
    for i in range(n):
        total += leaf(i)
    return total


def build(n):
    return [str(i) * 10 for i in range(n)]


def main():
    for _ in range(7):
        loop(100)
    keep = build(2000)
    return len(keep)


main()
"""
LOOP_BODY_LINE = 8     # "total += leaf(i)": 7 * 100 hits


def run(cmd, cwd, check=True):
    r = subprocess.run(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if check and r.returncode != 0:
        raise AssertionError("%s failed (%d):\n%s" % (" ".join(cmd), r.returncode,
                                                      r.stderr.decode(errors="replace")))
    return r


def collect_help():
    try:
        return run([PYFLAME_C, "collect", "--help"], ".", check=False).stdout.decode()
    except OSError:
        return ""


HELP = collect_help()
HAVE_COLLECTOR = "PYFLAME_C" in os.environ or "usage: pyflame-c collect" in HELP


@unittest.skipUnless(HAVE_COLLECTOR, "pyflame-c collect does not work here")
class ConvertFormats(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="pf_formats_")
        # removed even when setUpClass fails half-way (tearDownClass would not run)
        cls.addClassCleanup(shutil.rmtree, cls.dir, True)
        cls.prog = os.path.join(cls.dir, "prog.py")
        with open(cls.prog, "w") as f:
            f.write(PROGRAM)
        cls.trace = os.path.join(cls.dir, "t.gz")
        run([PYFLAME_C, "collect", "-q", "--python", PYTHON, "-o", cls.trace, cls.prog], cls.dir)

    def convert(self, *args, trace=None, check=True):
        return run([PYFLAME_C, "convert"] + list(args) + [trace or self.trace], self.dir, check)

    def test_text_rows_parse_and_agree_with_pstats(self):
        out = self.convert("-f", "text", "--limit", "0").stdout.decode()
        prof = os.path.join(self.dir, "t.prof")
        self.convert("-f", "pstats", "-o", prof)
        st = pstats.Stats(prof)
        self.assertIn("%d function calls" % st.total_calls, out)
        self.assertIn("in %.3f seconds" % st.total_tt, out)
        self.assertIn("Command: %s\n" % self.prog, out)
        self.assertIn("Python:  %d.%d" % (sys.version_info[0], sys.version_info[1]), out)
        row = re.compile(r"^ {0,8}(\d+)(?:/(\d+))? +(\d+\.\d{3}) +(\d+\.\d{3}) +"
                         r"(\d+\.\d{3}) +(\d+\.\d{3})? +(\S.*)$")
        rows = {}
        header_seen = False
        for line in out.splitlines():
            if line.startswith("   ncalls  tottime  percall  cumtime  percall"):
                header_seen = True
                continue
            if header_seen and line.strip():
                m = row.match(line)
                self.assertTrue(m, "bad row %r" % line)
                rows[m.group(7)] = (int(m.group(1)), int(m.group(2) or m.group(1)))
        self.assertTrue(header_seen, out)
        self.assertEqual(len(rows), len(st.stats))
        self.assertEqual(rows["prog.py:1(leaf)"], (700, 700))
        self.assertEqual(rows["prog.py:5(loop)"], (7, 7))
        for (f, line, name), v in st.stats.items():
            if f == self.prog:
                # the table names functions by qualname (build.<locals>.<listcomp>)
                self.assertTrue(any(r == "prog.py:%d(%s)" % (line, name) or
                                    (r.startswith("prog.py:%d(" % line) and
                                     r.endswith(".%s)" % name)) for r in rows),
                                ((f, line, name), rows))

    def test_text_sort_orders(self):
        for key, col in (("self", 2), ("cumulative", 4), ("calls", 0)):
            out = self.convert("-f", "text", "--sort", key).stdout.decode()
            vals = []
            for line in out.split("filename:lineno(function)\n", 1)[1].splitlines():
                f = line.split()
                if f:
                    vals.append(float(f[0].split("/")[0]) if col == 0 else float(f[col - 1]))
            self.assertEqual(vals, sorted(vals, reverse=True), (key, out))

    def test_collapsed_counts_match_calls(self):
        out = self.convert("-f", "collapsed", "--metric", "calls").stdout.decode()
        leaf = sum(int(l.rsplit(" ", 1)[1]) for l in out.splitlines()
                   if l.rsplit(" ", 1)[0].split(";")[-1].startswith("leaf "))
        self.assertEqual(leaf, 700)
        full = self.convert("-f", "collapsed", "--full-paths").stdout.decode()
        self.assertIn(self.prog, full)

    def test_tottime_sum_close_to_profiled_time(self):
        prog = os.path.join(self.dir, "spin.py")
        with open(prog, "w") as f:
            f.write("def spin(n):\n    x = 0\n    for i in range(n):\n        x += i\n"
                    "    return x\n\nfor _ in range(4):\n    spin(300000)\n")
        trace = os.path.join(self.dir, "spin.gz")
        run([PYFLAME_C, "collect", "-q", "--python", PYTHON, "-o", trace, prog], self.dir)
        out = self.convert("-f", "text", trace=trace).stdout.decode()
        elapsed = float(re.search(r"Elapsed: ([0-9.]+) seconds", out).group(1))
        total = float(re.search(r"function calls.* in ([0-9.]+) seconds", out).group(1))
        self.assertGreater(elapsed, 0.02, out)
        # self times add up to the profiled wall time (nothing lost, nothing counted twice)
        self.assertLessEqual(total, elapsed * 1.02 + 0.002, out)
        self.assertGreaterEqual(total, elapsed * 0.9 - 0.002, out)

    def test_lines_tsv(self):
        trace = os.path.join(self.dir, "lines.gz")
        run([PYFLAME_C, "collect", "-q", "--lines", "--python", PYTHON, "-o", trace,
             self.prog], self.dir)
        out = self.convert("-f", "lines", trace=trace).stdout.decode()
        lines = out.splitlines()
        header = lines[0].split("\t")
        self.assertEqual(header[:6], ["file", "line", "function", "hits", "time_ns", "self_ns"])
        rows = [l.split("\t") for l in lines[1:]]
        for r in rows:
            self.assertEqual(len(r), len(header), r)
        keys = [(r[0], int(r[1])) for r in rows]
        self.assertEqual(keys, sorted(keys))
        body = [r for r in rows if r[0].endswith("prog.py") and int(r[1]) == LOOP_BODY_LINE]
        self.assertEqual(len(body), 1, rows)
        self.assertEqual(body[0][2], "loop")
        self.assertEqual(int(body[0][3]), 700)
        self.assertGreaterEqual(int(body[0][4]), int(body[0][5]))

    def test_memory_options_refused_without_memory_data(self):
        r = self.convert("-f", "collapsed", "--metric", "alloc-bytes", check=False)
        self.assertEqual(r.returncode, 2)
        self.assertIn("memory", r.stderr.decode())
        r = self.convert("-f", "text", "--sort", "alloc", check=False)
        self.assertEqual(r.returncode, 2)

    def test_memory_formats(self):
        trace = os.path.join(self.dir, "mem.gz")
        run([PYFLAME_C, "collect", "-q", "--memory", "--python", PYTHON, "-o", trace,
             self.prog], self.dir)
        out = self.convert("-f", "collapsed", "--metric", "alloc-bytes", trace=trace).stdout
        build = sum(float(l.rsplit(" ", 1)[1]) for l in out.decode().splitlines()
                    if ";build " in l or l.rsplit(" ", 1)[0].split(";")[-1].startswith("build "))
        self.assertGreater(build, 2000 * 50)     # 2000 strings of 10+ bytes, at least
        text = self.convert("-f", "text", "--sort", "alloc", trace=trace).stdout.decode()
        self.assertIn("    alloc     peak     exit filename:lineno(function)", text)


if __name__ == "__main__":
    unittest.main(verbosity=2)
