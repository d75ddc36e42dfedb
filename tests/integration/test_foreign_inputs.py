"""test_foreign_inputs.py: other profilers' files as inputs of svg, convert and diff.

cProfile writes a pstats file of a program at run time (and yappi's "pstat" export,
where yappi imports); pyflame-c must read it by content, rebuild its stacks and keep
the profile's own numbers: per-function call counts and self times of `convert -f
pstats` (loaded with pstats) equal the source file's, the collapsed self times add up
to its total, the SVG and text say the stacks are an approximation, and `diff` compares
two cProfile runs.  speedscope JSON: the file pyflame-c's own exporter writes of a
trace and a sampled profile as py-spy writes them (py-spy is not packaged for Debian)
read back with their totals; and real pyinstrument output: scripts/get-pythons.sh
unpacks Debian sid's python3-pyinstrument into its private cache (Debian 12 has none),
whose C extension is built for the sid Pythons it also installs (3.14, 3.15), so
pyinstrument runs under one of those (whichever loads it), whatever PYFLAME_PYTHON is;
without it that test skips and says why.  An unknown binary file gets the list of
accepted kinds.
Environment: PYFLAME_C, PYFLAME_PYTHON (see run-integration.sh), PYFLAME_C_PYTHONS
(the cache, see scripts/pythons-dir.sh).
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
def leaf(i):
    return str(i) * 3


def loop(n):
    return [leaf(i) for i in range(n)]


def rec(n):
    return 1 if n == 0 else rec(n - 1) + 1


def main(turns):
    for _ in range(turns):
        loop(100)
    rec(20)


main(TURNS)
"""


def run(cmd, cwd=None, check=True):
    r = subprocess.run(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if check and r.returncode != 0:
        raise AssertionError("%s failed (%d):\n%s" % (" ".join(cmd), r.returncode,
                                                      r.stderr.decode(errors="replace")))
    return r


def profile_module():
    r = run([PYTHON, "-c", "import cProfile"], check=False)
    return "cProfile" if r.returncode == 0 else "profiling.tracing"


class ForeignInputs(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="pf-foreign-")
        cls.profs = {}
        for name, turns in (("base", 7), ("new", 14)):
            d = os.path.join(cls.dir, name)
            os.mkdir(d)
            with open(os.path.join(d, "app.py"), "w") as f:
                f.write(PROGRAM.replace("TURNS", str(turns)))
            prof = os.path.join(d, "app.prof")
            run([PYTHON, "-m", profile_module(), "-o", prof, "app.py"], cwd=d)
            cls.profs[name] = prof

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)

    def out(self, *args):
        return run([PYFLAME_C, *args]).stdout.decode(errors="replace")

    def by_name(self, stats):
        return {k[2]: v for k, v in stats.items()}

    def test_pstats_keeps_the_profiles_numbers(self):
        src = pstats.Stats(self.profs["base"]).stats
        again = os.path.join(self.dir, "again.prof")
        run([PYFLAME_C, "convert", "-f", "pstats", "-o", again, self.profs["base"]])
        got = self.by_name(pstats.Stats(again).stats)
        want = self.by_name(src)
        self.assertEqual(got["leaf"][1], 700)
        self.assertEqual(got["rec"][1], 21)           # recursive calls fold into the outer one
        for name in ("leaf", "loop", "main", "rec"):
            self.assertEqual(got[name][1], want[name][1], name)             # nc
            self.assertAlmostEqual(got[name][2], want[name][2], delta=1e-6)  # tottime
        total = sum(v[2] for v in src.values())
        folded = self.out("convert", "-f", "collapsed", self.profs["base"])
        self_us = sum(int(line.rsplit(" ", 1)[1]) for line in folded.splitlines())
        self.assertLessEqual(abs(self_us - total * 1e6), 2 + 0.01 * total * 1e6)
        self.assertRegex(folded, r"(?m)^pstats;.*main \(app\.py:13\);loop \(app\.py:5\);"
                                 r"(<listcomp> \(app\.py:6\);)?leaf \(app\.py:1\) \d+$")

    def test_pstats_text_and_svg_say_approximation(self):
        text = self.out("convert", "-f", "text", "--limit", "5", self.profs["base"])
        self.assertIn("Source:  pstats file", text)
        self.assertIn("an approximation", text)
        calls = sum(v[1] for v in pstats.Stats(self.profs["base"]).stats.values())
        self.assertIn("%d function calls" % calls, text)
        svg = self.out("svg", self.profs["base"])
        self.assertIn("stacks rebuilt from the caller graph, an approximation", svg)
        self.assertIn("leaf (app.py:1)", svg)

    def test_diff_of_two_cprofile_runs(self):
        r = run([PYFLAME_C, "diff", "--limit", "5", self.profs["base"], self.profs["new"]])
        out = r.stdout.decode()
        self.assertRegex(out, r"700\s+1,400\s+\+700\s+\+100\.0%\s+leaf \(app\.py:1\)")

    def test_yappi_pstat_export(self):
        if run([PYTHON, "-c", "import yappi"], check=False).returncode != 0:
            self.skipTest("yappi is not importable by " + PYTHON)
        d = os.path.join(self.dir, "base")
        prof = os.path.join(self.dir, "yappi.pstat")
        code = ("import yappi, runpy\nyappi.start()\nrunpy.run_path('app.py')\nyappi.stop()\n"
                "yappi.get_func_stats().save(%r, type='pstat')\n" % prof)
        run([PYTHON, "-c", code], cwd=d)
        text = self.out("convert", "-f", "text", "--limit", "0", prof)
        self.assertRegex(text, r"(?m)^\s+700\s.*app\.py:1\(leaf\)$")

    def test_speedscope_json_reads_back(self):
        d = os.path.join(self.dir, "base")
        trace = os.path.join(self.dir, "trace.gz")
        run([PYFLAME_C, "collect", "-q", "--python", PYTHON, "-o", trace, "app.py"], cwd=d)
        ss = os.path.join(self.dir, "app.speedscope.json")
        run([PYFLAME_C, "convert", "-f", "speedscope", "-o", ss, trace])
        with open(ss) as f:
            doc = json.load(f)
        total_ns = sum(p["endValue"] for p in doc["profiles"])
        folded = self.out("convert", "-f", "collapsed", ss)
        self_us = sum(int(line.rsplit(" ", 1)[1]) for line in folded.splitlines())
        self.assertLessEqual(abs(self_us - total_ns / 1000), 2)
        text = self.out("convert", "-f", "text", ss)
        self.assertIn("Source:  speedscope file written by pyflame-c", text)
        self.assertIn("speedscope file", self.out("svg", ss))
        # a sampled profile as py-spy writes them: weights in seconds... here milliseconds
        sampled = {
            "$schema": "https://www.speedscope.app/file-format-schema.json",
            "shared": {"frames": [{"name": "<module>", "file": "app.py", "line": 1},
                                  {"name": "main", "file": "app.py", "line": 14},
                                  {"name": "leaf", "file": "app.py", "line": 2}]},
            "profiles": [{"type": "sampled", "name": "MainThread", "unit": "milliseconds",
                          "startValue": 0, "endValue": 40,
                          "samples": [[0, 1, 2], [0, 1], [0, 1, 2]], "weights": [10, 20, 10]}],
            "name": "py-spy", "exporter": "py-spy@0.3.14"}
        sp = os.path.join(self.dir, "sampled.json")
        with open(sp, "w") as f:
            json.dump(sampled, f, indent=1)
        folded = self.out("convert", "-f", "collapsed", sp)
        self.assertEqual(folded.splitlines(), [
            "MainThread;<module> (app.py:1);main (app.py:14) 20000",
            "MainThread;<module> (app.py:1);main (app.py:14);leaf (app.py:2) 20000"])
        r = run([PYFLAME_C, "diff", ss, ss])
        self.assertIn("pyflame-c diff:", r.stdout.decode())

    def test_unknown_kind_lists_the_accepted_ones(self):
        junk = os.path.join(self.dir, "junk.bin")
        with open(junk, "wb") as f:
            f.write(b"\x7fELF\x00\x01\x02binary")
        for cmd in (["svg", junk], ["convert", "-f", "text", junk]):
            r = run([PYFLAME_C, *cmd], check=False)
            self.assertEqual(r.returncode, 1)
            err = r.stderr.decode()
            self.assertIn("pstats", err)
            self.assertIn("speedscope", err)
        bad = os.path.join(self.dir, "bad.prof")
        with open(self.profs["base"], "rb") as f:
            data = f.read()
        with open(bad, "wb") as f:
            f.write(data[:len(data) // 2])
        r = run([PYFLAME_C, "convert", "-f", "text", bad], check=False)
        self.assertEqual(r.returncode, 1)
        self.assertRegex(r.stderr.decode(), r"truncated marshal data at offset \d+")


def pyinstrument_runner():
    """(python, env) that runs the pyinstrument scripts/get-pythons.sh unpacked, or
    raises SkipTest saying what is missing."""
    cache = run(["sh", os.path.join(HERE, "..", "..", "scripts", "pythons-dir.sh")]
                ).stdout.decode().strip()
    dist = os.path.join(cache, "pyinstrument", "usr", "lib", "python3", "dist-packages")
    if not os.path.isfile(os.path.join(dist, "pyinstrument", "__init__.py")):
        raise unittest.SkipTest("no pyinstrument in %s (scripts/get-pythons.sh fetches "
                                "Debian sid's python3-pyinstrument there)" % dist)
    env = dict(os.environ, PYTHONPATH=dist)
    tried = []
    for py in [PYTHON] + [os.path.join(cache, v, "usr", "bin", "python" + v)
                          for v in ("3.14", "3.15")]:
        if os.path.isfile(py) and py not in tried:
            tried.append(py)
            r = subprocess.run([py, "-c", "import pyinstrument.low_level.stat_profile"],
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            if r.returncode == 0:
                return py, env
    built = sorted(os.listdir(os.path.join(dist, "pyinstrument", "low_level")))
    raise unittest.SkipTest("no interpreter loads pyinstrument's C extension (%s): tried %s"
                            % (" ".join(b for b in built if b.endswith(".so")),
                               ", ".join(tried)))


def speedscope_time(doc):
    """Seconds under at least one open frame (evented) or summed weights (sampled)."""
    total = 0.0
    for p in doc["profiles"]:
        scale = {"seconds": 1, "milliseconds": 1e-3, "microseconds": 1e-6,
                 "nanoseconds": 1e-9}[p["unit"]]
        if p["type"] == "sampled":
            total += sum(p["weights"]) * scale
            continue
        depth, last = 0, None
        for e in p["events"]:
            if depth > 0 and e["at"] > last:
                total += (e["at"] - last) * scale
            last = e["at"] if last is None or e["at"] > last else last
            depth += 1 if e["type"] == "O" else -1
    return total


DURATION = r"([-+]?[\d.]+) (s|ms|us|\u00b5s|ns)"     # as the diff prints a time
UNIT_SECONDS = {"s": 1, "ms": 1e-3, "us": 1e-6, "\u00b5s": 1e-6, "ns": 1e-9}


def speedscope_inclusive(path, name):
    """Seconds under at least one open frame called name, in an evented speedscope file."""
    with open(path) as f:
        doc = json.load(f)
    names = [fr.get("name") for fr in doc["shared"]["frames"]]
    total = 0.0
    for p in doc["profiles"]:
        scale = {"seconds": 1, "milliseconds": 1e-3, "microseconds": 1e-6,
                 "nanoseconds": 1e-9}[p["unit"]]
        open_at = []                # the times the open frames called name opened
        for e in p["events"]:
            if names[e["frame"]] != name:
                continue
            if e["type"] == "O":
                open_at.append(e["at"])
            elif open_at:
                start = open_at.pop()
                if not open_at:     # outermost: recursion counts once
                    total += (e["at"] - start) * scale
    return total


class RealPyinstrument(unittest.TestCase):
    """pyinstrument 5's own speedscope files (-r speedscope), of the program above."""

    @classmethod
    def setUpClass(cls):
        cls.python, env = pyinstrument_runner()
        cls.dir = tempfile.mkdtemp(prefix="pf-pyinstrument-")
        cls.files = {}
        for name, turns in (("base", 15000), ("new", 30000)):
            d = os.path.join(cls.dir, name)
            os.mkdir(d)
            with open(os.path.join(d, "app.py"), "w") as f:
                f.write(PROGRAM.replace("TURNS", str(turns)))
            out = os.path.join(d, "app.speedscope.json")
            # -m app, not app.py: of a script, pyinstrument 5.1's speedscope renderer
            # keeps only the compile() of its source when that is the first sample and
            # takes over 1% of a short run (its first child of the runner frame).  On a
            # loaded machine its root trimming can still keep the wrong child (a file
            # with no event, or only the import machinery): a few tries, each checked,
            # as this tests our reader, not pyinstrument's renderer.
            for attempt in range(4):
                r = subprocess.run([cls.python, "-m", "pyinstrument", "-i", "0.0005",
                                    "-r", "speedscope", "-o", out, "-m", "app"], cwd=d,
                                   env=dict(env, PYTHONPATH=env["PYTHONPATH"] + os.pathsep + d),
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                if r.returncode != 0:
                    raise AssertionError("pyinstrument failed under %s:\n%s"
                                         % (cls.python, r.stderr.decode(errors="replace")))
                with open(out) as f:
                    doc = json.load(f)
                names = {fr.get("name") for fr in doc["shared"]["frames"]}
                if {"loop", "main"} <= names and doc["profiles"][0].get("events"):
                    break
            else:
                raise AssertionError("pyinstrument wrote no profile of app.py in 4 tries: "
                                     "frames %s" % sorted(n for n in names if n))
            cls.files[name] = out

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)

    def out(self, *args):
        return run([PYFLAME_C, *args]).stdout.decode(errors="replace")

    def test_collapsed_keeps_the_files_time(self):
        path = self.files["base"]
        with open(path) as f:
            doc = json.load(f)
        self.assertEqual(doc["exporter"], "pyinstrument")
        self.assertEqual([p["type"] for p in doc["profiles"]], ["evented"])
        # pyinstrument's stand-in for a function's own time is a frame of its own,
        # "[self]", when the function also has callees in the profile (after its own
        # pruning of small nodes); they go back into their parents (tests/test_input.c
        # has a file with them for certain)
        folded = self.out("convert", "-f", "collapsed", path)
        lines = folded.splitlines()
        self_us = sum(int(line.rsplit(" ", 1)[1]) for line in lines)
        want_us = speedscope_time(doc) * 1e6
        self.assertGreater(want_us, 10000)
        self.assertLessEqual(abs(self_us - want_us), 1 + len(lines), folded)
        # the hot path, as pyinstrument named it; "[self]" went into its parents
        app = r"[^;()]*/app\.py"              # -m app: pyinstrument gives the full path
        self.assertRegex(folded, r"(?m)^CPU profile for 'Program: app' at [^;]+;"
                                 r"<module> \(%s:1\);main \(%s:13\);loop \(%s:5\)"
                                 r"(;leaf \(%s:1\))? \d+$" % (app, app, app, app))
        self.assertNotIn("[self]", folded)
        hot = max(lines, key=lambda line: int(line.rsplit(" ", 1)[1]))
        self.assertRegex(hot, r"loop \(%s:5\)" % app)

    def test_text_and_svg_say_what_the_input_was(self):
        path = self.files["base"]
        text = self.out("convert", "-f", "text", path)
        self.assertIn("Source:  speedscope file written by pyinstrument\n", text)
        self.assertRegex(text, r"Command: CPU profile for 'Program: app' at \S+\n")
        self.assertRegex(text, r"(?m)^\s+\d+\s.*app\.py:5\(loop\)$")
        self.assertNotIn("[self]", text)
        svg = self.out("svg", path)
        self.assertIn("speedscope file written by pyinstrument", svg)
        self.assertRegex(svg, r"loop \([^()]*/app\.py:5\)")

    def test_diff_of_two_pyinstrument_runs(self):
        out = self.out("diff", "--limit", "5", self.files["base"], self.files["new"])
        self.assertIn("pyflame-c diff:", out)
        # main's time including calls, as each file has it: the diff reports its change.
        # Twice the turns make it grow, but by how much is the machine's (a loaded
        # machine slowed one run of pyinstrument to about the other's time): the test
        # checks our reading of the files, not the machine.
        base, new = (speedscope_inclusive(self.files[k], "main") for k in ("base", "new"))
        want = 100 * (new - base) / base
        m = re.search(r"(?m)^\s+%s\s+%s\s+%s\s+([-+][\d.]+)%%\s+main \([^()]*app\.py:13\)$"
                      % ((DURATION,) * 3), out)
        if abs(want) >= 1:          # the diff lists changes of at least 1% only
            self.assertIsNotNone(m, out)
            g = m.groups()
            printed = [float(g[i]) * UNIT_SECONDS[g[i + 1]] for i in (0, 2, 4)] + [float(g[6])]
            # printed to three significant digits
            for got, exact in zip(printed, (base, new, new - base, want)):
                self.assertAlmostEqual(got, exact, delta=0.006 * abs(exact) + 1e-4, msg=out)
        self.assertNotIn("[self]", out)


if __name__ == "__main__":
    unittest.main(verbosity=2)
