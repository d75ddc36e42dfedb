"""Integration tests of `pyflame-c merge`: runs of one program collected with `pyflame-c
collect` and summed (calls, times, line hits add up; the tree keeps its shape); runs
recorded in other modes refused with both files named; bad, truncated and text inputs
refused with the file named and no output left behind; and the streaming claim: merging
100 copies of a trace takes about the memory of merging one.

Run by scripts/run-integration.sh under every interpreter, or by hand:
    PYFLAME_C=build/pyflame-c PYFLAME_PYTHON=python3.12 python3.12 tests/integration/test_merge.py
"""
import gzip
import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_collect import BIN, CollectTestCase, Trace  # noqa: E402

PROG = """
import sys
def helper(x):
    return x * 2
def work(n):
    total = 0
    for i in range(n):
        total += helper(i)
    return total
work(int(sys.argv[1]))
"""

# ~87,000 distinct calling contexts: 9 levels of 10 functions, each calling 4 of the next.
WIDE = """
LEVELS, WIDTH, FANOUT = 9, 10, 4
src = []
for lv in range(LEVELS):
    for k in range(WIDTH):
        body = ["    pass"]
        if lv + 1 < LEVELS:
            body = [f"    L{lv + 1}_{(k * 7 + j * 3) % WIDTH}()" for j in range(FANOUT)]
        src.append(f"def L{lv}_{k}():\\n" + "\\n".join(body) + "\\n")
exec("\\n".join(src))
L0_0()
"""


def max_rss_kib(cmd):
    """Runs cmd in a fresh Python and returns (returncode, peak RSS of cmd in KiB)."""
    probe = ("import resource, subprocess, sys\n"
             "r = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)\n"
             "print(r.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n")
    out = subprocess.run([sys.executable, "-c", probe] + cmd, stdout=subprocess.PIPE, check=True)
    rc, kib = out.stdout.split()
    return int(rc), int(kib)


class TestMerge(CollectTestCase):
    def run_prog(self, name, n, extra=("--lines",)):
        script = self.write("prog.py", PROG)
        out = os.path.join(self.tmp, name)
        r = subprocess.run([BIN, "collect", "-q", "--python", sys.executable, "-o", out] +
                           list(extra) + [script, str(n)], cwd=self.tmp,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        return out

    def merge(self, *args):
        return subprocess.run([BIN, "merge"] + list(args), cwd=self.tmp, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, timeout=300)

    def test_runs_add_up(self):
        a = self.run_prog("a.gz", 100)
        b = self.run_prog("b.gz", 250)
        out = os.path.join(self.tmp, "all.gz")
        r = self.merge("-o", out, a, b)
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        self.assertIn("merged 2 traces into", r.stderr.decode())
        ta, tb, t = Trace(a), Trace(b), Trace(out)
        self.assertEqual(t.calls("helper"), 350)
        self.assertEqual(t.calls("work"), 2)
        self.assertEqual(len(t.by_name("helper")), 1)       # one context, summed
        self.assertEqual(len(t.nodes), len(ta.nodes))
        self.assertEqual(t.meta["total_calls"], ta.meta["total_calls"] + tb.meta["total_calls"])
        lines = subprocess.run([BIN, "convert", "-f", "lines", out], stdout=subprocess.PIPE,
                               check=True).stdout.decode().splitlines()
        hits = {int(row.split("\t")[1]): int(row.split("\t")[3]) for row in lines[1:]
                if row.split("\t")[2] == "helper"}
        self.assertEqual(hits.get(4), 350)
        # every command reads it
        for cmd in (["convert", "-f", "text"], ["svg"], ["html"]):
            rr = subprocess.run([BIN] + cmd + [out], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
            self.assertEqual(rr.returncode, 0, rr.stderr.decode())

    def test_other_modes_refused_naming_both(self):
        a = self.run_prog("a.gz", 10)
        m = self.run_prog("m.gz", 10, extra=("--memory",))
        out = os.path.join(self.tmp, "all.gz")
        r = self.merge("-o", out, a, m)
        self.assertEqual(r.returncode, 2)
        err = r.stderr.decode()
        self.assertIn("not mergeable: modes differ", err)
        self.assertIn("a.gz", err)
        self.assertIn("m.gz", err)
        self.assertFalse(os.path.exists(out))

    def test_bad_inputs_name_the_file_and_leave_no_output(self):
        a = self.run_prog("a.gz", 10)
        with open(a, "rb") as f:
            raw = gzip.decompress(f.read())
        cut = os.path.join(self.tmp, "cut.gz")
        with open(cut, "wb") as f:
            f.write(gzip.compress(raw[:len(raw) // 2]))
        text = self.write("stacks.txt", "main;f 3\n")
        missing = os.path.join(self.tmp, "missing.gz")
        out = os.path.join(self.tmp, "all.gz")
        for bad, what in ((cut, "truncated"), (text, "not a profile this command reads"),
                          (missing, "")):
            with self.subTest(bad=bad):
                r = self.merge("-o", out, a, bad)
                self.assertNotEqual(r.returncode, 0)
                err = r.stderr.decode()
                self.assertIn(os.path.basename(bad), err)
                self.assertIn(what, err)
                self.assertFalse(os.path.exists(out))
                self.assertEqual([f for f in os.listdir(self.tmp) if "all" in f], [])
        # an existing output is left as it was
        with open(out, "wb") as f:
            f.write(b"keep")
        r = self.merge("-o", out, a, cut)
        self.assertNotEqual(r.returncode, 0)
        with open(out, "rb") as f:
            self.assertEqual(f.read(), b"keep")
        # usage errors
        self.assertEqual(self.merge(a).returncode, 2)                 # no -o
        self.assertEqual(self.merge("-o", out).returncode, 2)         # no input
        self.assertEqual(self.merge("-o", a, a).returncode, 2)        # output is an input

    def test_streaming_memory_of_100_inputs(self):
        script = self.write("wide.py", WIDE)
        one = os.path.join(self.tmp, "one.gz")
        r = subprocess.run([BIN, "collect", "-q", "--python", sys.executable, "-o", one, script],
                           cwd=self.tmp, stderr=subprocess.PIPE, timeout=300)
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        nnodes = len(Trace(one).nodes)
        self.assertGreater(nnodes, 50000)
        copies = []
        for i in range(100):
            c = os.path.join(self.tmp, "copy-%03d.gz" % i)
            os.link(one, c)
            copies.append(c)
        rc1, rss1 = max_rss_kib([BIN, "merge", "-q", "-o", os.path.join(self.tmp, "m1.gz"), one])
        rc100, rss100 = max_rss_kib([BIN, "merge", "-q", "-o", os.path.join(self.tmp, "m100.gz")]
                                    + copies)
        self.assertEqual((rc1, rc100), (0, 0))
        # the inputs hold 100x the nodes; the merge must not: within 25% (+2 MiB of noise)
        self.assertLess(rss100, rss1 * 1.25 + 2048, (rss1, rss100))
        t = Trace(os.path.join(self.tmp, "m100.gz"))
        self.assertEqual(len(t.nodes), nnodes)
        print("merge of %d nodes: 1 input %d KiB, 100 inputs %d KiB peak RSS"
              % (nnodes, rss1, rss100), file=sys.stderr)


if __name__ == "__main__":
    unittest.main()
