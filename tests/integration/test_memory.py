"""test_memory.py: `pyflame-c collect --memory` against tracemalloc on the same program.

Runs samples/allocs.py under $PYFLAME_PYTHON under `collect --memory` (Python and
native allocations), under `collect --memory=python` (CPython's allocators only), and
with tracemalloc (the program's own --tracemalloc mode), and compares each with it:
  - the run's peak of live bytes (meta.peak_live_bytes vs get_traced_memory()[1]),
  - bytes still live at exit per line (pf_line.mem.exit_bytes vs
    take_snapshot().statistics('lineno')),
  - bytes live at the peak per line (pf_line.mem.peak_bytes vs a tracemalloc snapshot taken
    while the program's peak-setting temporary is live),
for four lines: a list built in a comprehension (freed before exit), a dict of strings
(kept), a freed temporary (sets the peak), a leak kept in a global.  Tolerance: 5%, or
16 KiB for small values (interpreter start-up noise differs between the two runs).

Env: PYFLAME_C (the pyflame-c binary), PYFLAME_PYTHON (the interpreter).
"""
import csv
import json
import os
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
SAMPLE = os.path.join(ROOT, "samples", "allocs.py")
PYFLAME = os.environ.get("PYFLAME_C", os.path.join(ROOT, "build", "pyflame-c"))
PYTHON = os.environ.get("PYFLAME_PYTHON", sys.executable)
SLACK = 16 * 1024
MIB = 1 << 20


def run(cmd, **kw):
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, **kw)


def close(a, b):
    return abs(a - b) <= max(SLACK, 0.05 * max(a, b))


class MemoryVsTracemalloc(unittest.TestCase):
    OPTS = ["--memory"]           # Python and native allocations (the default)

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        tmp = cls.tmp.name
        env = dict(os.environ, PYFLAME_PYTHON=PYTHON)
        # Same file name in both runs, so line tables match.
        trace = os.path.join(tmp, "mem.gz")
        opts = cls.OPTS
        r = run([PYFLAME, "collect", "-q", "--python", PYTHON, "-o", trace] + opts + [SAMPLE],
                env=env)
        if r.returncode != 0:
            raise AssertionError("collect --memory failed (%d): %s" % (r.returncode, r.stderr))
        cls.lines_tsv = cls.convert_lines(trace)
        if cls.lines_tsv is None:
            raise AssertionError("collect --memory records no line data")
        cls.meta = cls.read_meta(trace)
        tm = os.path.join(tmp, "tm.json")
        r = run([PYTHON, SAMPLE, "--tracemalloc", tm])
        if r.returncode != 0:
            raise AssertionError("tracemalloc run failed: %s" % r.stderr)
        with open(tm) as f:
            cls.tm = json.load(f)
        cls.tags = cls.tm["tags"]

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    @staticmethod
    def convert_lines(trace):
        r = run([PYFLAME, "convert", "-f", "lines", trace])
        if r.returncode != 0:
            if "no line data" in r.stderr:
                return None
            raise AssertionError("convert -f lines failed: %s" % r.stderr)
        rows = list(csv.DictReader(r.stdout.splitlines(), delimiter="\t"))
        if rows and "exit_bytes" not in rows[0]:
            raise AssertionError("convert -f lines has no memory columns: %s"
                                 % r.stdout.splitlines()[0])
        return rows

    @staticmethod
    def read_meta(trace):
        env = dict(os.environ)
        pkg = os.path.join(os.path.dirname(os.path.abspath(PYFLAME)), "python")
        env["PYTHONPATH"] = pkg + os.pathsep + env.get("PYTHONPATH", "")
        r = run([PYTHON, "-m", "pyflame.dump", trace], env=env)
        if r.returncode != 0:
            raise AssertionError("pyflame.dump failed: %s" % r.stderr)
        return json.loads(r.stdout)["meta"]

    def ours(self, tag, field):
        """Our value for the tagged line: rows of allocs.py at that line number.  A
        comprehension has its own code on the same line (3.8-3.11); line values are
        inclusive, so the enclosing function's row already holds the comprehension's."""
        no = self.tags[tag]
        vals = [int(r[field]) for r in self.lines_tsv
                if os.path.basename(r["file"]) == "allocs.py" and int(r["line"]) == no]
        self.assertTrue(vals, "no line record for allocs.py:%d (%s)" % (no, tag))
        return max(vals)

    def theirs(self, tag, which):
        return self.tm[which].get(str(self.tags[tag]), 0)

    def test_trace_says_memory_mode(self):
        if "modes" in self.meta:
            self.assertTrue(self.meta["modes"] & 4, "PF_MODE_MEMORY not set: %r" % self.meta)

    def test_peak_live_bytes_matches_tracemalloc(self):
        self.assertIn("peak_live_bytes", self.meta)
        ours, theirs = self.meta["peak_live_bytes"], self.tm["peak"]
        self.assertGreater(theirs, 60 * MIB)
        self.assertTrue(close(ours, theirs), "peak: ours %d, tracemalloc %d" % (ours, theirs))

    def test_exit_bytes_per_line_match_tracemalloc(self):
        for tag in ("list", "dict", "temp", "leak"):
            ours, theirs = self.ours(tag, "exit_bytes"), self.theirs(tag, "exit_by_line")
            self.assertTrue(close(ours, theirs),
                            "%s: exit bytes ours %d, tracemalloc %d" % (tag, ours, theirs))
        # Sanity of the scenario itself: the dict and the leak are big, the others gone.
        self.assertGreater(self.ours("dict", "exit_bytes"), 8 * MIB)
        self.assertGreater(self.ours("leak", "exit_bytes"), 2 * MIB)
        self.assertLess(self.ours("temp", "exit_bytes"), SLACK)

    def test_peak_bytes_per_line_match_tracemalloc_at_peak(self):
        for tag in ("list", "dict", "temp"):
            ours, theirs = self.ours(tag, "peak_bytes"), self.theirs(tag, "peak_by_line")
            self.assertTrue(close(ours, theirs),
                            "%s: bytes at peak ours %d, tracemalloc %d" % (tag, ours, theirs))
        self.assertGreaterEqual(self.ours("temp", "peak_bytes"), 24 * MIB)
        # The leak happens after the peak: nothing of it was live then.
        self.assertLess(self.ours("leak", "peak_bytes"), SLACK)

    def test_alloc_bytes_cover_exit_bytes(self):
        for tag in ("list", "dict", "temp", "leak"):
            self.assertGreaterEqual(self.ours(tag, "alloc_bytes"), self.ours(tag, "exit_bytes"))
        self.assertGreaterEqual(self.ours("temp", "alloc_bytes"), 24 * MIB)


class MemoryPythonVsTracemalloc(MemoryVsTracemalloc):
    """--memory=python: CPython's allocators only, the numbers of before native tracking
    (a pure-Python program: tracemalloc's numbers either way)."""
    OPTS = ["--memory=python"]

    def test_trace_says_memory_mode(self):
        self.assertTrue(self.meta["modes"] & 4)
        self.assertFalse(self.meta["modes"] & 16, "NATIVE set under --memory=python")
        self.assertEqual(self.meta.get("peak_native_bytes", 0), 0)


NESTED = """\
import threading

KEEP = []

def inner():
    KEEP.append(bytearray(8 << 20))          # line 6: 8 MiB, inner's own

def outer():
    KEEP.append(bytearray(1 << 20))          # line 9: 1 MiB, outer's own
    inner()                                   # line 10: inclusive 8 MiB
    return len(KEEP)

def worker():
    KEEP.append(bytearray(4 << 20))          # line 14: 4 MiB in another thread

t = threading.Thread(target=worker, name="allocator")
t.start()
t.join()
outer()
"""


class MemorySemantics(unittest.TestCase):
    """Self per node, inclusive per line, threads, and the Python API."""

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.dir = self.tmp.name
        self.prog = os.path.join(self.dir, "nested.py")
        with open(self.prog, "w") as f:
            f.write(NESTED)
        self.trace = os.path.join(self.dir, "t.gz")

    def tearDown(self):
        self.tmp.cleanup()

    def collect(self, *opts):
        r = run([PYFLAME, "collect", "-q", "--python", PYTHON, "-o", self.trace] + list(opts)
                + [self.prog], cwd=self.dir)
        self.assertEqual(r.returncode, 0, r.stderr)
        return r

    def collapsed(self, metric):
        r = run([PYFLAME, "convert", "-f", "collapsed", "--metric", metric, self.trace])
        self.assertEqual(r.returncode, 0, r.stderr)
        out = {}
        for ln in r.stdout.splitlines():
            stack, _, n = ln.rpartition(" ")
            out[stack] = out.get(stack, 0) + int(float(n))
        return out

    def frame_total(self, stacks, leaf):
        """Sum of the values of stacks whose innermost frame starts with leaf."""
        return sum(v for k, v in stacks.items() if k.split(";")[-1].startswith(leaf + " "))

    def test_nodes_are_self_and_stacks_add_up(self):
        self.collect("--memory")
        exit_b = self.collapsed("exit-bytes")
        self.assertTrue(close(self.frame_total(exit_b, "inner"), 8 * MIB), exit_b)
        self.assertTrue(close(self.frame_total(exit_b, "outer"), 1 * MIB), exit_b)
        self.assertTrue(close(self.frame_total(exit_b, "worker"), 4 * MIB), exit_b)
        # the worker's bytes sit under its own thread
        self.assertTrue(any(k.startswith("allocator;") and k.endswith(")") and "worker" in k
                            for k in exit_b), list(exit_b))
        # alloc-bytes of every stack sum to at least what is live at exit
        alloc = self.collapsed("alloc-bytes")
        self.assertGreaterEqual(sum(alloc.values()), sum(exit_b.values()))

    def test_lines_are_inclusive(self):
        self.collect("--memory")
        r = run([PYFLAME, "convert", "-f", "lines", self.trace])
        self.assertEqual(r.returncode, 0, r.stderr)
        rows = {int(x["line"]): x for x in csv.DictReader(r.stdout.splitlines(), delimiter="\t")
                if os.path.basename(x["file"]) == "nested.py"}
        self.assertTrue(close(int(rows[6]["exit_bytes"]), 8 * MIB), rows.get(6))
        self.assertTrue(close(int(rows[9]["exit_bytes"]), 1 * MIB), rows.get(9))
        self.assertTrue(close(int(rows[10]["exit_bytes"]), 8 * MIB), rows.get(10))
        self.assertTrue(close(int(rows[14]["exit_bytes"]), 4 * MIB), rows.get(14))
        # the module-level call of outer() covers both of its allocations
        self.assertTrue(close(int(rows[19]["exit_bytes"]), 9 * MIB), rows.get(19))
        self.assertGreaterEqual(int(rows[10]["alloc_count"]), 1)

    def test_without_memory_the_trace_has_no_memory_data(self):
        self.collect()
        r = run([PYFLAME, "convert", "-f", "collapsed", "--metric", "exit-bytes", self.trace])
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("memory", r.stderr)

    def test_program_that_runs_tracemalloc_itself(self):
        with open(self.prog, "a") as f:
            f.write("import tracemalloc, sys\ntracemalloc.start()\nx = bytearray(1 << 20)\n"
                    "print(tracemalloc.get_traced_memory()[0] >= (1 << 20))\n"
                    "tracemalloc.stop()\nsys.exit(3)\n")
        r = run([PYFLAME, "collect", "-q", "--memory", "--python", PYTHON, "-o", self.trace,
                 self.prog], cwd=self.dir)
        self.assertEqual(r.returncode, 3, r.stderr)
        self.assertEqual(r.stdout, "True\n")
        self.assertTrue(close(self.frame_total(self.collapsed("exit-bytes"), "inner"), 8 * MIB))

    def test_python_api(self):
        pkg = os.path.join(os.path.dirname(os.path.abspath(PYFLAME)), "python")
        src = ("import sys; sys.path.insert(0, %r)\nimport pyflame\n"
               "KEEP = []\n"
               "def grow():\n    KEEP.append(bytearray(3 << 20))\n"
               "with pyflame.profile(%r, memory=True) as p:\n    grow()\n"
               "print(p.summary['peak_live_bytes'] >= (3 << 20))\n" % (pkg, self.trace))
        api = os.path.join(self.dir, "api.py")
        with open(api, "w") as f:
            f.write(src)
        r = run([PYTHON, api], cwd=self.dir)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, "True\n")
        self.assertTrue(close(self.frame_total(self.collapsed("exit-bytes"), "grow"), 3 * MIB))


if __name__ == "__main__":
    unittest.main()
