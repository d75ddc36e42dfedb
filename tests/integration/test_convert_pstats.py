"""test_convert_pstats.py: `pyflame-c convert -f pstats` against cProfile itself.

Each test program runs twice under the interpreter in $PYFLAME_PYTHON: once under
`pyflame-c collect` (then converted to pstats), once under `python -m cProfile -o`
(on 3.15+ `python -m profiling.tracing -o`: cProfile's new home, cProfile an alias).
Both files are loaded with that interpreter's pstats module and, for every function
defined in the program and every builtin the program calls directly, the call count
(nc), primitive-call count (cc) and each caller edge's (nc, cc) must be equal.
Also: time sums are consistent, recursion is not double counted, and the collapsed
output follows flamegraph.pl's input rules.

Environment: PYFLAME_C (the pyflame-c binary), PYFLAME_PYTHON (the interpreter);
both default to something sensible for running by hand.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
PYFLAME_C = os.environ.get("PYFLAME_C") or os.path.join(HERE, "..", "..", "build", "pyflame-c")
PYTHON = os.environ.get("PYFLAME_PYTHON") or sys.executable

PROGS_DIR = os.path.join(HERE, "..", "data", "pstats_progs")
sys.path.insert(0, PROGS_DIR)
import _compare  # noqa: E402  (shared with tests/test_convert_model.c)

# The test programs (also used by tests/test_convert_model.c).
PROGRAMS = sorted(f[:-3] for f in os.listdir(PROGS_DIR) if f.endswith(".py") and f[0] != "_")

# Functions whose cProfile numbers are not comparable: cProfile <= 3.11 does not see
# other threads at all, and 3.12+ (sys.monitoring) mixes every thread into one stack.
# Their exact counts are checked against known values instead (see test_threads).
# decorators.py puts two lambdas on one line twice: one pstats key, two code objects.
# cProfile keeps only one code object's numbers for such a key (snapshot_stats assigns
# stats[key] per code object, the last wins, in an order that depends on addresses);
# we sum them, as pstats' own add() and strip_dirs() do for colliding keys, and judge
# recursion per key, so nested ones do not count their time twice.  Checked
# explicitly in test_decorators.
NOT_COMPARABLE = {"threads": {"wstep", "worker", "main", "<module>"},
                  "decorators": {"<lambda>"}}


def run(cmd, cwd, **kw):
    r = subprocess.run(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)
    if r.returncode != 0:
        raise AssertionError("%s failed (%d):\n%s\n%s" % (
            " ".join(cmd), r.returncode, r.stdout.decode(errors="replace"),
            r.stderr.decode(errors="replace")))
    return r


def have_collector():
    if not os.access(PYFLAME_C, os.X_OK):
        return False
    with tempfile.TemporaryDirectory() as d:
        p = os.path.join(d, "probe.py")
        with open(p, "w") as f:
            f.write("x = 1\n")
        r = subprocess.run([PYFLAME_C, "collect", "--python", PYTHON, "-o",
                            os.path.join(d, "t.gz"), p],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        return r.returncode == 0 and os.path.exists(os.path.join(d, "t.gz"))


# The deterministic profiler to compare with: profiling.tracing where the interpreter has
# it (3.15+), else cProfile.
HAS_TRACING = subprocess.run([PYTHON, "-c", "import profiling.tracing"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0
PROFILER = "profiling.tracing" if HAS_TRACING else "cProfile"


# Under the test harness (PYFLAME_C set) a collector that does not work is a failure;
# run by hand without one, the tests are skipped.
HAVE_COLLECTOR = "PYFLAME_C" in os.environ or have_collector()


@unittest.skipUnless(HAVE_COLLECTOR, "pyflame-c collect does not work here")
class ConvertAgainstCProfile(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="pf_pstats_")
        # removed even when setUpClass fails half-way (tearDownClass would not run)
        cls.addClassCleanup(shutil.rmtree, cls.dir, True)
        cls.ours, cls.theirs, cls.progs = {}, {}, {}
        for name in PROGRAMS:
            prog = os.path.join(cls.dir, name + ".py")
            shutil.copy(os.path.join(PROGS_DIR, name + ".py"), prog)
            trace = os.path.join(cls.dir, name + ".gz")
            ours = os.path.join(cls.dir, name + ".ours.prof")
            theirs = os.path.join(cls.dir, name + ".cprofile.prof")
            run([PYFLAME_C, "collect", "--python", PYTHON, "-o", trace, prog], cls.dir)
            run([PYFLAME_C, "convert", "-f", "pstats", "-o", ours, trace], cls.dir)
            run([PYTHON, "-m", PROFILER, "-o", theirs, prog], cls.dir)
            cls.progs[name] = prog
            cls.ours[name] = _compare.load(ours, prog)
            cls.theirs[name] = _compare.load(theirs, prog)

    def compare(self, name):
        problems = _compare.differences(self.ours[name], self.theirs[name],
                                        NOT_COMPARABLE.get(name, set()))
        self.assertFalse(problems, "\n%s under %s:\n  " % (name, PYTHON) + "\n  ".join(problems))

    # test_<program>_matches_cprofile for every program: added below the class.

    def test_compares_with_the_interpreters_own_profiler(self):
        ver = run([PYTHON, "-c", "import sys; print(sys.version_info[:2] >= (3, 15))"],
                  self.dir).stdout.decode().strip()
        self.assertEqual(HAS_TRACING, ver == "True")   # profiling.tracing arrived in 3.15
        if HAS_TRACING:
            # cProfile stays an alias of profiling.tracing: the same numbers
            alias = os.path.join(self.dir, "recursion.alias.prof")
            run([PYTHON, "-m", "cProfile", "-o", alias, self.progs["recursion"]], self.dir)
            problems = _compare.differences(_compare.load(alias, self.progs["recursion"]),
                                            self.theirs["recursion"], set())
            self.assertFalse(problems, "\n  ".join(problems))

    def test_recursion_counts(self):
        fib = self.ours["recursion"][("PROG", 1, "fib")]
        self.assertEqual(fib[1], 465 + 753 + 1219)      # calls of fib(12), fib(13), fib(14)
        self.assertEqual(fib[0], 3)
        self.assertEqual(fib[4][("PROG", 1, "fib")][:2], (465 + 753 + 1219 - 3, 6))

    def test_methods_of_c_types_are_named_like_cprofile(self):
        names = {k[2] for k in self.ours["methods"] if k[0] == "~"}
        for label in ("<method 'append' of 'list' objects>", "<method 'get' of 'dict' objects>",
                      "<method 'join' of 'str' objects>"):
            self.assertIn(label, names)

    def test_threads_counted_exactly(self):
        ours = self.ours["threads"]
        self.assertEqual(ours[("PROG", 9, "worker")][:2], (3, 3))
        self.assertEqual(ours[("PROG", 6, "wstep")][:2], (600, 600))
        self.assertEqual(ours[("PROG", 6, "wstep")][4][("PROG", 9, "worker")][:2], (600, 600))

    def test_decorators_same_key_codes_are_summed(self):
        ours, theirs = self.ours["decorators"], self.theirs["decorators"]
        inc_dbl, ping_pong = ("PROG", 37, "<lambda>"), ("PROG", 40, "<lambda>")
        # inc and dbl: 10 calls each, from main
        self.assertEqual(ours[inc_dbl][:2], (20, 20))
        self.assertEqual(ours[inc_dbl][4][("PROG", 27, "main")][:2], (20, 20))
        self.assertEqual(theirs[inc_dbl][:2], (10, 10))         # one of the two, dropped
        # ping(9) -> pong(8) -> ... : 5 calls each; recursion is judged per key (one
        # entry, one function as far as pstats can tell), so only the outer ping is
        # primitive, and only the outer self-edge
        self.assertEqual(ours[ping_pong][:2], (1, 10))
        self.assertEqual(ours[ping_pong][4][ping_pong][:2], (9, 1))
        self.assertEqual(ours[ping_pong][4][("PROG", 27, "main")][:2], (1, 1))
        self.assertEqual(theirs[ping_pong][1], 5)
        # their time is counted once: within the caller's, and the self-edge's within it
        main_ct = ours[("PROG", 27, "main")][3]
        self.assertLessEqual(ours[ping_pong][3], main_ct)
        self.assertLessEqual(ours[ping_pong][4][ping_pong][3], ours[ping_pong][3])
        self.assertAlmostEqual(ours[ping_pong][3],
                               ours[ping_pong][4][("PROG", 27, "main")][3], delta=1e-9)

    def test_same_label_functions_that_nest_stay_within_the_run(self):
        # Distinct functions with one (file, line, name), each calling the other, as
        # jinja2's `root` of a child template and of its base: one pstats/text entry
        # whose cumulative time never exceeds the run's, counted as recursion.
        prog = os.path.join(self.dir, "same_label.py")
        with open(prog, "w") as f:
            f.write("import time\n"
                    "SRC = 'def root(n, other):\\n    time.sleep(0.002)\\n"
                    "    return other(n - 1, root) if n else 0\\n'\n"
                    "def make():\n"
                    "    ns = {'time': time}\n"
                    "    exec(compile(SRC, '<template>', 'exec'), ns)\n"
                    "    return ns['root']\n"
                    "a, b = make(), make()\n"
                    "assert a.__code__ is not b.__code__\n"
                    "def main():\n"
                    "    for _ in range(3):\n"
                    "        a(6, b)\n"
                    "main()\n")
        trace = os.path.join(self.dir, "same_label.gz")
        prof = os.path.join(self.dir, "same_label.prof")
        run([PYFLAME_C, "collect", "--python", PYTHON, "-o", trace, prog], self.dir)
        run([PYFLAME_C, "convert", "-f", "pstats", "-o", prof, trace], self.dir)
        ours = _compare.load(prof, prog)
        root = ours[("<template>", 1, "root")]
        main = ours[("PROG", 9, "main")]
        self.assertEqual(root[:2], (3, 21))              # 3 outer calls, 21 in all
        self.assertEqual(root[4][("<template>", 1, "root")][:2], (18, 3))
        self.assertLessEqual(root[3], main[3] * 1.0001 + 1e-6)
        self.assertGreater(root[3], 0.8 * main[3])       # but it is most of it
        tops = sum(v[3] for v in ours.values() if not v[4])
        self.assertLessEqual(root[3], tops * 1.0001 + 1e-6)
        # the text table: the same entry, 21/3, cumtime at most main's
        out = run([PYFLAME_C, "convert", "-f", "text", "--sort", "cumulative", trace],
                  self.dir).stdout.decode()
        rows = {}
        for line in out.splitlines():
            m = re.match(r"\s*(\S+)\s+\S+\s+\S+\s+(\d+\.\d+)\s+\S+\s+(\S.*)$", line)
            if m:
                rows[m.group(3)] = (m.group(1), float(m.group(2)))
        rootrow = [v for k, v in rows.items() if k == "<template>:1(root)"]
        mainrow = [v for k, v in rows.items() if k.endswith(":9(main)")]
        self.assertEqual(len(rootrow), 1, out)
        self.assertEqual(rootrow[0][0], "21/3")
        self.assertLessEqual(rootrow[0][1], mainrow[0][1])

    def test_times_consistent_and_recursion_not_double_counted(self):
        for name in PROGRAMS:
            ours = self.ours[name]
            tt = sum(v[2] for v in ours.values())
            roots = sum(v[3] for v in ours.values() if not v[4])
            self.assertGreater(tt, 0, name)
            # every nanosecond of self time belongs to exactly one root's cumulative time
            self.assertAlmostEqual(tt, roots, delta=0.02 * tt + 1e-4, msg=name)
            for k, (cc, nc, t, ct, callers) in ours.items():
                self.assertLessEqual(t, ct * 1.0001 + 1e-6, (name, k))
                self.assertLessEqual(ct, roots * 1.0001 + 1e-6, (name, k))
        fib = self.ours["recursion"][("PROG", 1, "fib")]
        main = self.ours["recursion"][("PROG", 9, "main")]
        self.assertLessEqual(fib[3], main[3])

    def test_text_totals_match_pstats(self):
        trace = os.path.join(self.dir, "recursion.gz")
        r = run([PYFLAME_C, "convert", "-f", "text", "--limit", "5", trace], self.dir)
        out = r.stdout.decode()
        ours = self.ours["recursion"]
        nc = sum(v[1] for v in ours.values())
        cc = sum(v[0] for v in ours.values())
        self.assertIn("%d function calls (%d primitive calls)" % (nc, cc), out)
        self.assertRegex(out, r"Python:  3\.\d+")
        self.assertIn("recursion.py", out)
        m = re.search(r"Elapsed: ([0-9.]+) seconds", out)
        tot = re.search(r"primitive calls\) in ([0-9.]+) seconds", out)
        self.assertTrue(m and tot, out)
        self.assertLessEqual(float(tot.group(1)), float(m.group(1)) * 1.05 + 0.01, out)

    def test_collapsed_follows_flamegraph_input_rules(self):
        line_re = re.compile(r"^(.*) ([0-9.]+)$")
        for name in PROGRAMS:
            trace = os.path.join(self.dir, name + ".gz")
            out = run([PYFLAME_C, "convert", "-f", "collapsed", trace], self.dir).stdout
            again = run([PYFLAME_C, "convert", "-f", "collapsed", trace], self.dir).stdout
            self.assertEqual(out, again, "collapsed output is not deterministic")
            lines = out.decode().splitlines()
            self.assertTrue(lines, name)
            for line in lines:
                m = line_re.match(line)
                self.assertTrue(m, "%s: bad line %r" % (name, line))
                self.assertTrue(all(m.group(1).split(";")), line)
            self.assertTrue(any(l.startswith("MainThread;") for l in lines), name)
            perl = shutil.which("perl")
            if perl:
                # flamegraph.pl's own parse: stack, then the count after the last space
                check = ('my $n = 0; while (<STDIN>) { chomp; '
                         'my ($s, $c) = /^(.*)\\s+?(\\d+(?:\\.\\d*)?)$/ or die "bad: $_\\n"; '
                         'die "empty frame: $_\\n" if grep { $_ eq "" } split /;/, $s; $n++ } '
                         'print "$n\\n";')
                r = subprocess.run([perl, "-e", check], input=out, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE)
                self.assertEqual(r.returncode, 0, r.stderr.decode())
                self.assertEqual(int(r.stdout), len(lines))


def _comparison(name):
    def test(self):
        self.compare(name)
    test.__doc__ = "%s.py: (nc, cc) and caller edges equal %s's" % (name, PROFILER)
    return test


for _name in PROGRAMS:
    setattr(ConvertAgainstCProfile, "test_%s_matches_cprofile" % _name, _comparison(_name))


if __name__ == "__main__":
    unittest.main(verbosity=2)
