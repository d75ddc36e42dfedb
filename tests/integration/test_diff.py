"""Integration tests of `pyflame-c diff` on real before/after program pairs collected with
`pyflame-c collect`: calls doubled, a function added and one removed, a function moved
within its file with an edit inside, an allocation regression on one line, collapsed
stacks from another profiler, one file of two count columns; the gate's exit codes, the
clock refusal and --force.

    PYFLAME_C=build/pyflame-c PYFLAME_PYTHON=python3.12 python3.12 tests/integration/test_diff.py
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import unittest

BIN = os.path.abspath(os.environ.get("PYFLAME_C", "build/pyflame-c"))
PY = os.environ.get("PYFLAME_PYTHON", sys.executable)

BEFORE = textwrap.dedent("""\
    def helper(x):
        return x * 2


    def work(n):
        total = 0
        for i in range(n):
            total += helper(i)
        return total


    def retired():
        return sum(range(10))


    def build():
        rows = []
        for i in range(200):
            rows.append(str(i))
        return rows


    def main():
        retired()
        build()
        return work(500)


    main()
    """)

# work moved below main, with a comment and an edit inside; its loop runs twice as
# often, so helper's calls double; retired() is gone, fresh() is new; build()'s append
# line allocates far more.
AFTER = textwrap.dedent("""\
    import os


    def helper(x):
        return x * 2


    def fresh():
        return [0] * 4


    def build():
        rows = []
        for i in range(200):
            rows.append(str(i) * 5000)
        return rows


    def main():
        fresh()
        build()
        return work(1000)


    def work(n):
        total = 0
        # the loop below now runs n times on doubled input
        for i in range(n):
            total += helper(i)
        return total


    main()
    """)


def env_clean():
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    env["PYFLAME_PYTHON"] = PY
    return env


class DiffTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="pf-diff-")
        cls.traces = {}
        for side, src in (("base", BEFORE), ("new", AFTER)):
            d = os.path.join(cls.dir, side)
            os.makedirs(d)
            with open(os.path.join(d, "app.py"), "w") as f:
                f.write(src)
            out = os.path.join(cls.dir, side + ".gz")
            r = subprocess.run([BIN, "collect", "-q", "--memory", "-o", out, "app.py"], cwd=d,
                               env=env_clean(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               universal_newlines=True, timeout=120)
            assert r.returncode == 0, r.stderr
            cls.traces[side] = out

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)

    def diff(self, *args, expect=0):
        r = subprocess.run([BIN, "diff"] + list(args), stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, universal_newlines=True, timeout=120)
        self.assertEqual(r.returncode, expect, r.stdout + r.stderr)
        return r

    def json(self, *args):
        out = self.diff("-f", "json", *args, self.traces["base"], self.traces["new"]).stdout
        return json.loads(out)

    def func(self, d, name):
        fs = [f for f in d["functions"] if f["name"] == name]
        self.assertEqual(len(fs), 1, name)
        return fs[0]

    def test_calls_doubled(self):
        d = self.json()
        helper = self.func(d, "helper")
        self.assertEqual(helper["status"], "both")
        self.assertEqual(helper["base"]["calls"], 500)
        self.assertEqual(helper["new"]["calls"], 1000)
        self.assertEqual(helper["line_base"], 1)
        self.assertEqual(helper["line_new"], 4)
        self.assertEqual(d["totals"]["total-calls"]["new"] - d["totals"]["total-calls"]["base"],
                         500 + 1 - 1 - 1 + 0)  # helper +500, fresh +1, retired -1, sum -1

    def test_function_added_and_removed(self):
        d = self.json()
        self.assertEqual(self.func(d, "fresh")["status"], "added")
        self.assertEqual(self.func(d, "retired")["status"], "vanished")
        text = self.diff(self.traces["base"], self.traces["new"]).stdout
        self.assertIn("New functions (1)", text)
        self.assertIn("fresh (app.py:8)", text)
        self.assertIn("retired (app.py:12)", text)

    def test_moved_function_with_an_edit_inside(self):
        d = self.json()
        work = self.func(d, "work")
        self.assertEqual(work["status"], "both")
        self.assertEqual((work["line_base"], work["line_new"]), (5, 25))
        rows = [l for l in d["lines"] if l["function"] == work["id"]]
        loop = [l for l in rows if l["line_base"] == 7]
        self.assertEqual(len(loop), 1)
        self.assertEqual(loop[0]["line_new"], 28)          # after the inserted comment
        self.assertEqual(loop[0]["kind"], "equal")
        self.assertEqual(loop[0]["base"]["calls"], 501)
        self.assertEqual(loop[0]["new"]["calls"], 1001)
        ret = [l for l in rows if l["line_base"] == 9][0]
        self.assertEqual(ret["line_new"], 30)

    def test_allocation_regression_on_one_line(self):
        d = self.json()
        build = self.func(d, "build")
        rows = [l for l in d["lines"] if l["function"] == build["id"]]
        app = [l for l in rows if l["line_base"] == 19][0]
        self.assertEqual(app["line_new"], 15)
        self.assertEqual(app["kind"], "edited")
        self.assertGreater(app["new"]["alloc-bytes"], 20 * app["base"]["alloc-bytes"])
        # the other lines of build() barely move
        others = [l for l in rows if l is not app and l["base"].get("alloc-bytes")]
        for l in others:
            self.assertLess(abs(l["new"]["alloc-bytes"] - l["base"]["alloc-bytes"]), 4096, l)
        md = self.diff("-f", "markdown", self.traces["base"], self.traces["new"]).stdout
        self.assertIn("### Hottest changed lines: bytes allocated", md)
        self.assertIn("app.py:15 (was 19) *edited*", md)

    def test_gate_exit_codes(self):
        b, n = self.traces["base"], self.traces["new"]
        r = self.diff("--fail-on", "calls:+5%", b, n, expect=1)
        self.assertIn("FAIL calls:+5%: helper", r.stdout)
        self.assertIn("500 -> 1,000 (+500, +100.0%)", r.stdout)
        self.assertIn("gate failed: calls:+5%", r.stderr)
        self.diff("--fail-on", "calls:+150%", b, n, expect=0)
        self.diff("--fail-on", "alloc-bytes:+10%", b, n, expect=1)
        self.diff("--fail-on", "total-calls:+1%", b, n, expect=1)
        self.diff("--fail-on", "total-calls:+1000", b, n, expect=0)
        # the reverse comparison improves: every growth gate passes
        self.diff("--fail-on", "calls:+0%", "--fail-on", "total-alloc-bytes:+0%", n, b, expect=0)
        # time: below the noise floor nothing fails, however large the ratio
        self.diff("--fail-on", "time:+0%", "--min-time-change", "10s", b, n, expect=0)
        # usage and input errors: 2
        self.diff("--fail-on", "calls", b, n, expect=2)
        self.diff("--fail-on", "nonsense:+5%", b, n, expect=2)
        self.diff(b, expect=2)
        self.diff(b, os.path.join(self.dir, "missing.gz"), expect=2)
        with open(os.path.join(self.dir, "garbage.gz"), "wb") as f:
            f.write(b"\x1f\x8b\x08\x00garbage")
        r = self.diff(b, os.path.join(self.dir, "garbage.gz"), expect=2)
        self.assertIn("garbage.gz", r.stderr)

    def test_several_runs_per_side_use_medians(self):
        # three BASE runs of one program whose work varies (500, 600, 2000 loop turns)
        runs = []
        for k, n in enumerate((500, 600, 2000)):
            d = os.path.join(self.dir, "var%d" % k)
            os.makedirs(d, exist_ok=True)
            with open(os.path.join(d, "app.py"), "w") as f:
                f.write(BEFORE.replace("work(500)", "work(%d)" % n))
            out = os.path.join(self.dir, "var-%d.gz" % k)
            r = subprocess.run([BIN, "collect", "-q", "--memory", "-o", out, "app.py"], cwd=d,
                               env=env_clean(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               universal_newlines=True, timeout=120)
            self.assertEqual(r.returncode, 0, r.stderr)
            runs.append(out)
        d = json.loads(self.diff("-f", "json", "--base", os.path.join(self.dir, "var-*.gz"),
                                 "--new", self.traces["new"]).stdout)
        self.assertEqual(d["base"]["runs"], 3)
        self.assertEqual(d["new"]["runs"], 1)
        self.assertEqual(self.func(d, "helper")["base"]["calls"], 600)   # the median
        self.assertEqual(self.func(d, "helper")["new"]["calls"], 1000)
        self.assertIn("Medians of 3 BASE and 1 NEW runs", self.diff(
            "-f", "markdown", "--base", runs[0], "--base", runs[1], "--base", runs[2],
            "--new", self.traces["new"]).stdout)

    def test_clock_refusal_and_force(self):
        d = os.path.join(self.dir, "new")
        cpu = os.path.join(self.dir, "cpu.gz")
        r = subprocess.run([BIN, "collect", "-q", "--memory", "--clock", "cpu", "-o", cpu, "app.py"],
                           cwd=d, env=env_clean(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           universal_newlines=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        r = self.diff(self.traces["base"], cpu, expect=2)
        self.assertIn("clocks differ", r.stderr)
        self.assertIn("--force", r.stderr)
        r = self.diff("--force", self.traces["base"], cpu, expect=0)
        self.assertIn("FORCED", r.stdout)
        md = self.diff("--force", "-f", "markdown", self.traces["base"], cpu).stdout
        self.assertIn("compared with `--force`", md)
        # a trace without memory data is another mode
        nomem = os.path.join(self.dir, "nomem.gz")
        r = subprocess.run([BIN, "collect", "-q", "-o", nomem, "app.py"], cwd=d, env=env_clean(),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
                           timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("modes differ", self.diff(self.traces["base"], nomem, expect=2).stderr)

    def test_svg_html_and_markdown_links(self):
        out = os.path.join(self.dir, "out")
        os.makedirs(out, exist_ok=True)
        md = os.path.join(out, "diff.md")
        self.diff("-f", "markdown", "-o", md, "--svg", os.path.join(out, "diff.svg"),
                  "--html", os.path.join(out, "diff.html"), self.traces["base"], self.traces["new"])
        with open(md) as f:
            text = f.read()
        self.assertIn("[Differential flame graph](diff.svg)", text)
        self.assertIn("[Per-line report](diff.html)", text)
        with open(os.path.join(out, "diff.svg")) as f:
            svg = f.read()
        self.assertIn("vanished stacks", svg)          # retired() is reachable
        self.assertIn("absolute values", svg)
        with open(os.path.join(out, "diff.html")) as f:
            html = f.read()
        self.assertIn('id="fn-', html)
        self.assertIn("rows.append(str(i) * 5000)", html)
        svg2 = self.diff("-f", "svg", "--normalize", self.traces["base"], self.traces["new"]).stdout
        self.assertIn("normalized: BASE scaled to NEW", svg2)

    def test_collapsed_from_another_profiler(self):
        # py-spy style: the line in each frame is the executing line, so it moves
        base = os.path.join(self.dir, "base.folded")
        new = os.path.join(self.dir, "new.folded")
        with open(base, "w") as f:
            f.write("MainThread;<module> (app.py:29);main (app.py:26);work (app.py:8);"
                    "helper (app.py:2) 120\n"
                    "MainThread;<module> (app.py:29);main (app.py:24);retired (app.py:13) 7\n")
        with open(new, "w") as f:
            f.write("MainThread;<module> (app.py:33);main (app.py:22);work (app.py:29);"
                    "helper (app.py:5) 250\n"
                    "MainThread;<module> (app.py:33);main (app.py:20);fresh (app.py:9) 3\n")
        d = json.loads(self.diff("-f", "json", base, new).stdout)
        self.assertEqual(d["inputs"], "collapsed")
        helper = self.func(d, "helper")
        self.assertEqual(helper["status"], "both")
        self.assertEqual((helper["base"]["self-samples"], helper["new"]["self-samples"]), (120, 250))
        self.assertEqual(self.func(d, "retired")["status"], "vanished")
        self.assertEqual(self.func(d, "fresh")["status"], "added")
        self.diff("--fail-on", "self-samples:+50%", base, new, expect=1)
        self.diff("--fail-on", "total-samples:+200%", base, new, expect=0)
        # one side a trace, the other collapsed: refused
        r = self.diff(self.traces["base"], new, expect=2)
        self.assertIn("one kind", r.stderr)

    def test_one_file_of_two_count_columns(self):
        # flamegraph.pl's difffolded.pl output: "stack before after"; a frame whose line
        # moved is two lines, each with 0 on one side
        both = os.path.join(self.dir, "both.folded")
        with open(both, "w") as f:
            f.write("MainThread;<module> (app.py:29);main (app.py:26);work (app.py:8);"
                    "helper (app.py:2) 120 0\n"
                    "MainThread;<module> (app.py:33);main (app.py:22);work (app.py:29);"
                    "helper (app.py:5) 0 250\n"
                    "MainThread;<module> (app.py:29);main (app.py:24);retired (app.py:13) 7 0\n"
                    "MainThread;<module> (app.py:33);main (app.py:20);fresh (app.py:9) 0 3\n")
        d = json.loads(self.diff("-f", "json", both).stdout)
        self.assertEqual((d["base"]["runs"], d["new"]["runs"]), (1, 1))
        helper = self.func(d, "helper")
        self.assertEqual(helper["status"], "both")
        self.assertEqual((helper["base"]["self-samples"], helper["new"]["self-samples"]), (120, 250))
        self.assertEqual(self.func(d, "retired")["status"], "vanished")
        self.assertEqual(self.func(d, "fresh")["status"], "added")
        svg = self.diff("-f", "svg", both).stdout
        self.assertIn("both.folded (before) \u2192", svg)
        self.assertIn("vanished stacks", svg)
        # one input of one count a line, or a trace, is not both sides
        one = os.path.join(self.dir, "one.folded")
        with open(one, "w") as f:
            f.write("a;b 1\n")
        self.assertIn("give BASE NEW", self.diff(one, expect=2).stderr)
        self.assertIn("give BASE and NEW", self.diff(self.traces["base"], expect=2).stderr)
        # and a file of two count columns given as one side is refused
        self.assertIn("an input of its own", self.diff(both, one, expect=2).stderr)

    def test_convert_markdown_of_one_run(self):
        r = subprocess.run([BIN, "convert", "-f", "markdown", self.traces["new"]],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           universal_newlines=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        md = r.stdout
        self.assertIn("## pyflame-c profile: `app.py`", md)
        self.assertIn("| calls |", md)
        self.assertIn("| peak memory (traced) |", md)
        self.assertIn("### Top functions by self time", md)
        self.assertIn("### Hottest lines by bytes allocated", md)
        self.assertIn("| helper | app.py:4 | 1,000 |", md)
        self.assertIn("&lt;module&gt;", md)
        self.assertLess(len(md.encode()), 65536)


if __name__ == "__main__":
    unittest.main()
