"""Integration tests: pyflame-c beside the program's own tools (cProfile and
profiling.tracing, sys.setprofile / sys.settrace / threading.setprofile, pdb, coverage-style
sys.monitoring tools, a program that takes the tool id pyflame-c holds).

Each program runs under plain Python and under `pyflame-c collect`: its stdout and exit
status must be the same, and the trace must hold the functions the program ran.  Where
the interpreter cannot keep recording (a C profile hook such as cProfile's on 3.8-3.11),
the trace must hold a gap, and stderr and the reports must say so.

Run by scripts/run-integration.sh under every interpreter, or by hand:
    PYFLAME_C=build/pyflame-c PYFLAME_PYTHON=python3.12 python3.12 tests/integration/test_coexist.py
"""
import os
import pstats
import subprocess
import sys
import tempfile
import textwrap
import unittest

BIN = os.path.abspath(os.environ.get("PYFLAME_C", "build/pyflame-c"))
PY = os.environ.get("PYFLAME_PYTHON", sys.executable)
PKG_PARENT = os.path.join(os.path.dirname(BIN), "python")
sys.path.insert(0, PKG_PARENT)
from pyflame import _collector  # noqa: E402

MONITORING = sys.version_info >= (3, 12)
# the standard library's deterministic profiler, by the name the version prefers
PROFILER_MODULE = "profiling.tracing" if sys.version_info >= (3, 15) else "cProfile"

WORK = """
def work(n):
    s = 0
    for i in range(n):
        s += i
    return s
"""


def env_without_pythonpath():
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    return env


class Trace:
    def __init__(self, path):
        self.d = _collector.read_trace(path)
        self.meta = self.d["meta"]
        self.codes = self.d["codes"]
        self.nodes = self.d["nodes"]

    def calls(self, name):
        return sum(n["calls"] for n in self.nodes if self.codes[n["code"]]["name"] == name)

    def thread_of(self, name):
        """Names of the threads under which name was recorded."""
        out = set()
        for i, n in enumerate(self.nodes):
            if self.codes[n["code"]]["name"] != name:
                continue
            while self.nodes[i]["parent"] is not None:
                i = self.nodes[i]["parent"]
            th = self.nodes[i]["thread"]
            out.add(self.d["threads"][th]["name"] if isinstance(th, int) else th)
        return out


class CoexistTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="pf-coexist-")

    def write(self, name, text):
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            f.write(textwrap.dedent(text))
        return path

    def both(self, source, args=(), stdin=None, collect_opts=()):
        """Runs source under plain Python and under collect; checks that stdout and the
        exit status agree.  Returns (trace, collect's stderr)."""
        script = self.write("prog.py", WORK + textwrap.dedent(source))
        plain = subprocess.run([PY, script] + list(args), input=stdin, capture_output=True,
                               text=True, cwd=self.tmp, env=env_without_pythonpath(), timeout=120)
        out = os.path.join(self.tmp, "trace.gz")
        ours = subprocess.run([BIN, "collect", "--python", PY, "-o", out] + list(collect_opts)
                              + [script] + list(args), input=stdin, capture_output=True, text=True,
                              cwd=self.tmp, env=env_without_pythonpath(), timeout=120)
        self.assertEqual(plain.stdout, ours.stdout, "stdout differs; collect stderr:\n" + ours.stderr)
        self.assertEqual(plain.returncode, ours.returncode, ours.stderr)
        self.assertEqual(plain.returncode, 0, plain.stderr)
        self.assertNotIn("Traceback", ours.stderr)
        return Trace(out), ours.stderr, out

    def report(self, trace_path, *cmd):
        r = subprocess.run([BIN] + list(cmd) + [trace_path], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        return r.stdout

    def assert_recorded(self, t, *names):
        for n in names:
            self.assertGreaterEqual(t.calls(n), 1, "%s not recorded" % n)

    def assert_gap_reported(self, t, stderr, path, reason=1):
        self.assertTrue(t.meta["gaps"], "no gap in the trace")
        self.assertEqual(t.meta["gaps"][0]["reason"], reason)
        self.assertIn("pyflame-c: warning: not recorded:", stderr)
        self.assertIn("Warning: not recorded:", self.report(path, "convert", "-f", "text"))
        self.assertIn("Not recorded:", self.report(path, "svg"))
        self.assertIn("Not recorded:", self.report(path, "html"))

    # ---- the program profiles itself ----

    def test_cprofile_enable_disable(self):
        t, err, path = self.both("""
            import cProfile, pstats, io
            def before(): return work(2000)
            def inside(): return work(2000)
            def after(): return work(2000)
            before()
            pr = cProfile.Profile()
            pr.enable()
            inside()
            pr.disable()
            after()
            st = pstats.Stats(pr)
            print(sorted((k[2], v[0]) for k, v in st.stats.items() if k[2] in ("inside", "work")))
        """)
        self.assert_recorded(t, "before", "after")
        self.assertEqual(t.calls("after"), 1)
        if MONITORING:
            self.assert_recorded(t, "inside")
            self.assertEqual(t.meta["gaps"], [])
            self.assertEqual(t.calls("work"), 3)
        else:
            # 3.8-3.11: _lsprof's C hook replaces ours while enabled: a documented gap,
            # and ours is back once it is disabled.
            self.assert_gap_reported(t, err, path)
            self.assertIsNotNone(t.meta["gaps"][0]["end_ns"])
            self.assertEqual(t.calls("work"), 2)

    def test_cprofile_in_a_thread(self):
        t, err, path = self.both("""
            import cProfile, threading
            def before(): return work(500)
            def inside(): return work(500)
            def after(): return work(500)
            def body():
                before()
                pr = cProfile.Profile()
                pr.enable()
                inside()
                pr.disable()
                after()
            th = threading.Thread(target=body, name="worker")
            th.start()
            th.join()
            def main_after(): return work(10)
            main_after()
            print("ok")
        """)
        self.assert_recorded(t, "before", "after", "main_after")
        self.assertEqual(t.thread_of("after"), {"worker"})
        if MONITORING:
            self.assert_recorded(t, "inside")
        else:
            self.assert_gap_reported(t, err, path)
            self.assertIsNotNone(t.meta["gaps"][0]["end_ns"])

    def test_cprofile_with_a_trace_function(self):
        """The program traces (pdb-style) while it profiles; both hooks come off."""
        t, err, path = self.both("""
            import cProfile, sys
            seen = []
            def tr(frame, event, arg):
                if event == "call":
                    seen.append(frame.f_code.co_name)
                return None
            def inside(): return work(50)
            def after(): return work(50)
            sys.settrace(tr)
            pr = cProfile.Profile()
            pr.enable()
            inside()
            pr.disable()
            sys.settrace(None)
            after()
            print(seen)
        """)
        self.assert_recorded(t, "after")
        if not MONITORING:
            self.assert_gap_reported(t, err, path)

    def test_profiler_runcall_then_keep_recording(self):
        t, err, path = self.both("""
            import %s as prof
            def inside(): return work(500)
            def after(): return work(500)
            p = prof.Profile()
            p.runcall(inside)
            after()
            print("ok")
        """ % PROFILER_MODULE)
        self.assert_recorded(t, "after")
        if MONITORING:
            self.assert_recorded(t, "inside")
        else:
            self.assert_gap_reported(t, err, path)

    def test_profiler_as_main_module(self):
        """`python -m cProfile prog.py` style: the profiler module's main under collect -m
        is not possible, so the program runs the profiler's run() on itself."""
        t, _, _ = self.both("""
            import %s as prof, sys, io
            def inside(): return work(500)
            def after(): return work(500)
            sys.stdout, real = io.StringIO(), sys.stdout
            prof.run("inside()", sort="calls")
            sys.stdout = real
            after()
            print("ok")
        """ % PROFILER_MODULE)
        self.assert_recorded(t, "after")

    def test_pure_python_profile_module(self):
        # profile.py asserts on the events it gets: the sys.setprofile call that installs
        # it must not send it its own C_RETURN (plain Python does not).
        t, _, _ = self.both("""
            import warnings
            warnings.simplefilter("ignore", DeprecationWarning)
            import profile, pstats, io
            def inside(): return work(100)
            def after(): return work(100)
            p = profile.Profile()
            p.runcall(inside)
            st = pstats.Stats(p)
            print(sorted((k[2], v[1]) for k, v in st.stats.items() if k[2] in ("inside", "work")))
            after()
        """)
        self.assert_recorded(t, "inside", "after")

    def test_pstats_not_confused_by_self_profile(self):
        t, _, path = self.both("""
            import cProfile
            def inside(): return work(500)
            def after(): return work(500)
            pr = cProfile.Profile()
            pr.enable()
            inside()
            pr.disable()
            pr.dump_stats("own.prof")
            after()
            print("ok")
        """)
        prof = os.path.join(self.tmp, "ours.prof")
        subprocess.run([BIN, "convert", "-f", "pstats", "-o", prof, path], check=True)
        st = pstats.Stats(prof)
        names = {}
        for (f, line, name), (cc, nc, tt, ct, callers) in st.stats.items():
            self.assertIsInstance(f, str)
            self.assertIsInstance(line, int)
            self.assertGreaterEqual(nc, cc)
            self.assertGreaterEqual(ct + 1e-9, tt)
            self.assertGreaterEqual(tt, 0)
            names[name] = names.get(name, 0) + nc
        self.assertEqual(names.get("after"), 1)
        self.assertEqual(names.get("inside"), 1 if MONITORING else None)
        # the program's own profile is its own business, untouched by ours
        own = pstats.Stats(os.path.join(self.tmp, "own.prof"))
        self.assertEqual(sorted(k[2] for k in own.stats if k[2] in ("inside", "work")),
                         ["inside", "work"])

    # ---- Python-level hooks ----

    def test_setprofile_chained(self):
        t, err, _ = self.both("""
            import sys
            events = []
            def hook(frame, event, arg):
                if frame.f_code.co_name == "traced":
                    events.append(event)
            def traced(): return len("abc")
            sys.setprofile(hook)
            assert sys.getprofile() is hook
            traced()
            sys.setprofile(None)
            assert sys.getprofile() is None
            def after(): return work(100)
            after()
            print(events)
        """)
        self.assert_recorded(t, "traced", "after")
        self.assertEqual(t.meta["gaps"], [])
        self.assertNotIn("not recorded", err)

    def test_setprofile_hook_that_raises(self):
        t, _, _ = self.both("""
            import sys
            def hook(frame, event, arg):
                if event == "call" and frame.f_code.co_name == "boom":
                    raise KeyError("from the hook")
            def boom(): return 1
            sys.setprofile(hook)
            try:
                boom()
            except KeyError as e:
                print("caught", e)
            print(sys.getprofile())
            def after(): return work(10)
            after()
        """)
        self.assert_recorded(t, "after")

    def test_threading_setprofile_chained(self):
        t, _, _ = self.both("""
            import sys, threading
            seen = []
            def hook(frame, event, arg):
                if event == "call" and frame.f_code.co_name == "in_thread":
                    seen.append(threading.current_thread().name)
            threading.setprofile(hook)
            if hasattr(threading, "getprofile"):
                assert threading.getprofile() is hook
            def in_thread(): return work(100)
            th = threading.Thread(target=in_thread, name="worker")
            th.start(); th.join()
            threading.setprofile(None)
            def after(): return work(10)
            after()
            print(seen)
        """)
        self.assert_recorded(t, "in_thread", "after")

    def test_settrace_then_removed_keeps_lines(self):
        t, err, path = self.both("""
            import sys
            lines = []
            def tr(frame, event, arg):
                if event == "line" and frame.f_code.co_name == "traced":
                    lines.append(frame.f_lineno - frame.f_code.co_firstlineno)
                return tr
            def traced():
                a = 1
                b = a + 1
                return b
            sys.settrace(tr)
            traced()
            sys.settrace(None)
            assert sys.gettrace() is None
            def after():
                x = work(10)
                return x
            after()
            print(lines)
        """, collect_opts=["--lines"])
        self.assert_recorded(t, "traced", "after")
        table = self.report(path, "convert", "-f", "lines")
        rows = [r.split("\t") for r in table.splitlines()[1:]]
        after_hits = [int(r[3]) for r in rows if r[2] == "after"]
        self.assertTrue(after_hits and all(h == 1 for h in after_hits), table)

    def test_pdb_noninteractive(self):
        t, _, _ = self.both("""
            import pdb, io
            def step(): return work(10)
            out = io.StringIO()
            p = pdb.Pdb(stdin=io.StringIO("next\\nnext\\ncontinue\\n"), stdout=out, nosigint=True)
            p.set_trace()
            x = step()
            y = step()
            def after(): return work(10)
            after()
            print(x, y, out.getvalue().count("(Pdb)"))
        """)
        self.assert_recorded(t, "step", "after")

    def test_pdb_module_from_stdin(self):
        script = self.write("target.py", WORK + "def after(): return work(10)\nafter()\nprint('done')\n")
        plain = subprocess.run([PY, "-m", "pdb", script], input="continue\n", capture_output=True,
                               text=True, cwd=self.tmp, env=env_without_pythonpath(), timeout=120)
        out = os.path.join(self.tmp, "trace.gz")
        ours = subprocess.run([BIN, "collect", "--python", PY, "-o", out, "-m", "pdb", script],
                              input="continue\n", capture_output=True, text=True, cwd=self.tmp,
                              env=env_without_pythonpath(), timeout=120)
        self.assertEqual(plain.returncode, ours.returncode, ours.stderr)
        self.assertIn("done", ours.stdout)
        self.assert_recorded(Trace(out), "after")

    # ---- sys.monitoring tools of the program (3.12+) ----

    @unittest.skipUnless(MONITORING, "sys.monitoring is 3.12+")
    def test_coverage_tool_id(self):
        # Multi-line functions: on 3.13+ CPython itself gives a one-line function's
        # LINE event only while another tool has PY_START on (any profiler, ours too).
        t, _, _ = self.both("""
            import sys
            m = sys.monitoring
            m.use_tool_id(m.COVERAGE_ID, "coverage-like")
            hits = set()
            def on_line(code, line):
                hits.add((code.co_name, line))
            m.register_callback(m.COVERAGE_ID, m.events.LINE, on_line)
            m.set_events(m.COVERAGE_ID, m.events.LINE)
            def covered():
                n = 5
                return work(n)
            covered()
            m.set_events(m.COVERAGE_ID, 0)
            m.free_tool_id(m.COVERAGE_ID)
            print(sorted(l for n, l in hits if n == "covered"))
        """)
        self.assert_recorded(t, "covered", "work")
        self.assertEqual(t.calls("work"), 1)

    @unittest.skipUnless(MONITORING, "sys.monitoring is 3.12+")
    def test_program_takes_our_tool_id(self):
        t, err, _ = self.both("""
            import sys
            m = sys.monitoring
            print([m.get_tool(i) for i in range(6)])
            m.use_tool_id(4, "mine")
            m.use_tool_id(3, "mine too")
            starts = []
            m.register_callback(4, m.events.PY_START, lambda code, off: starts.append(code.co_name))
            m.set_events(4, m.events.PY_START)
            def grabbed(): return work(10)
            grabbed()
            m.set_events(4, 0)
            m.free_tool_id(4)
            m.free_tool_id(3)
            def after(): return work(10)
            after()
            print(starts.count("grabbed"), [m.get_tool(i) for i in range(6)])
        """)
        self.assert_recorded(t, "grabbed", "after")
        self.assertEqual(t.meta["gaps"], [])

    @unittest.skipUnless(MONITORING, "sys.monitoring is 3.12+")
    def test_program_takes_every_tool_id(self):
        t, err, path = self.both("""
            import sys
            m = sys.monitoring
            def before(): return work(10)
            before()
            for i in range(6):
                m.use_tool_id(i, "mine %d" % i)
            print([m.get_tool(i) for i in range(6)])
            try:
                m.use_tool_id(0, "again")
            except ValueError as e:
                print("ValueError", e)
            for i in range(6):
                m.free_tool_id(i)
        """)
        self.assert_recorded(t, "before")
        self.assert_gap_reported(t, err, path, reason=2)

    @unittest.skipUnless(MONITORING, "sys.monitoring is 3.12+")
    def test_profiler_and_coverage_together(self):
        t, _, _ = self.both("""
            import sys, %s as prof
            m = sys.monitoring
            m.use_tool_id(m.COVERAGE_ID, "cov")
            m.register_callback(m.COVERAGE_ID, m.events.PY_START, lambda c, o: None)
            m.set_events(m.COVERAGE_ID, m.events.PY_START)
            def inside(): return work(100)
            p = prof.Profile()
            p.runcall(inside)
            m.set_events(m.COVERAGE_ID, 0)
            m.free_tool_id(m.COVERAGE_ID)
            print([m.get_tool(i) for i in range(6)])
        """ % PROFILER_MODULE)
        self.assert_recorded(t, "inside", "work")


if __name__ == "__main__":
    unittest.main(verbosity=1)
