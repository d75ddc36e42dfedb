"""Integration tests of `pyflame-c collect` and the pyflame Python package.

Run by scripts/run-integration.sh under every interpreter, or by hand:
    PYFLAME_C=build/pyflame-c PYFLAME_PYTHON=python3.12 python3.12 tests/integration/test_collect.py
The interpreter running this file must be PYFLAME_PYTHON (the in-process cProfile
comparison and the trace reader use it).
"""
try:
    from profiling import tracing as cProfile   # 3.15+: cProfile's new home (cProfile an alias)
except ImportError:
    import cProfile
import os
import pstats
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import unittest

BIN = os.path.abspath(os.environ.get("PYFLAME_C", "build/pyflame-c"))
PY = os.environ.get("PYFLAME_PYTHON", sys.executable)
PKG_PARENT = os.path.join(os.path.dirname(BIN), "python")
sys.path.insert(0, PKG_PARENT)
from pyflame import _collector  # noqa: E402  (the extension built for this interpreter)

SUMMARY = re.compile(r"^pyflame-c: wrote (\S+) \(([\d.]+ (?:B|KiB|MiB|GiB)), ([\d,]+) calls recorded"
                     r"(?:, (\d+) processes)?(?:, memory peak [^)]*)?\)$")


def env_without_pythonpath():
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    return env


class Trace:
    """A trace read back through the extension, with helpers over its tree."""

    def __init__(self, path):
        self.d = _collector.read_trace(path)
        self.meta = self.d["meta"]
        self.codes = self.d["codes"]
        self.nodes = self.d["nodes"]
        self.threads = self.d["threads"]

    def name(self, node):
        return self.codes[node["code"]]["name"]

    def key(self, node):
        c = self.codes[node["code"]]
        if c["kind"] == "native":
            return ("~", 0, c["name"])
        return (c["file"], c["first_line"], c["name"])

    def ancestors(self, i):
        p = self.nodes[i]["parent"]
        while p is not None:
            yield p
            p = self.nodes[p]["parent"]

    def by_name(self, name):
        return [i for i, n in enumerate(self.nodes) if self.name(n) == name]

    def calls(self, name):
        return sum(self.nodes[i]["calls"] for i in self.by_name(name))

    def func_stats(self):
        """{key: (ncalls, primitive calls)} with cProfile's rules (primitive: no
        activation of the same code open above)."""
        out = {}
        for i, n in enumerate(self.nodes):
            k = self.key(n)
            nc, cc = out.get(k, (0, 0))
            rec = any(self.nodes[a]["code"] == n["code"] for a in self.ancestors(i))
            out[k] = (nc + n["calls"], cc + (0 if rec else n["calls"]))
        return out

    def process_of(self, i):
        """The index of node i's process in d["processes"] (0 without any)."""
        th = self.nodes[i]["thread"]
        for k, p in enumerate(self.d.get("processes") or []):
            if p["first_thread"] <= th < p["first_thread"] + p["nthreads"]:
                return k
        return 0

    def thread_roots(self):
        """{thread name: [root node names]}"""
        out = {}
        for n in self.nodes:
            if n["parent"] is None:
                out.setdefault(self.threads[n["thread"]]["name"], []).append(self.name(n))
        return out


class CollectTestCase(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="pf-collect-")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def write(self, name, text):
        path = os.path.join(self.tmp, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(textwrap.dedent(text))
        return path

    def collect(self, args, cwd=None, input=None, extra=(), env=None, timeout=120):
        out = os.path.join(self.tmp, "trace.gz")
        cmd = [BIN, "collect", "--python", PY, "-o", out] + list(extra) + list(args)
        r = subprocess.run(cmd, cwd=cwd or self.tmp, input=input, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=timeout, env=env or env_without_pythonpath())
        return r, out

    def plain(self, args, cwd=None, input=None, timeout=120):
        return subprocess.run([PY] + list(args), cwd=cwd or self.tmp, input=input,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout,
                              env=env_without_pythonpath())

    @staticmethod
    def split_summary(stderr):
        """(stderr without our summary line, the summary match or None)."""
        lines = stderr.decode().splitlines(True)
        m = None
        rest = []
        for ln in lines:
            mm = SUMMARY.match(ln.rstrip("\n"))
            if mm:
                m = mm
            else:
                rest.append(ln)
        return "".join(rest), m


class TestExitBehaviour(CollectTestCase):
    def check_same(self, src, expect_rc, args=(), our_warnings=0):
        script = self.write("prog.py", src)
        r, out = self.collect([script] + list(args))
        p = self.plain([script] + list(args))
        self.assertEqual(r.returncode, expect_rc, r.stderr.decode())
        self.assertEqual(p.returncode, expect_rc)
        err, summary = self.split_summary(r.stderr)
        warn = [ln for ln in err.splitlines(True) if ln.startswith("pyflame-c: warning: not recorded: ")]
        self.assertEqual(len(warn), our_warnings, err)
        err = "".join(ln for ln in err.splitlines(True) if ln not in warn)
        self.assertEqual(err, p.stderr.decode())
        self.assertEqual(r.stdout, p.stdout)
        self.assertIsNotNone(summary, r.stderr.decode())
        t = Trace(out)
        self.assertGreater(t.calls("work"), 0)
        return t

    def test_exit_zero(self):
        t = self.check_same("""
            def work():
                return sum(range(10))
            print(work())
        """, 0)
        self.assertEqual(t.calls("work"), 1)

    def test_program_can_run_cprofile_itself(self):
        # cProfile claims sys.monitoring tool id 2 on 3.12+; we must leave it free.
        # Before 3.12 a thread has one profile hook, so cProfile's replaces ours from
        # enable() to disable(): the program still behaves as under plain python, and
        # pyflame-c says what it did not record (test_coexist.py has the details).
        gaps = 1 if sys.version_info < (3, 12) else 0
        t = self.check_same("""
            import cProfile, io, pstats
            def work():
                return sum(range(10))
            work()
            pr = cProfile.Profile()
            pr.enable()
            work()
            pr.disable()
            s = io.StringIO()
            pstats.Stats(pr, stream=s).print_stats("work")
            print("work" in s.getvalue())
        """, 0, our_warnings=gaps)
        self.assertEqual(t.calls("work"), 2 if sys.version_info >= (3, 12) else 1)
        self.assertEqual(len(t.d["meta"]["gaps"]), gaps)

    def test_sys_exit_three(self):
        self.check_same("""
            import sys
            def work():
                sys.exit(3)
            work()
        """, 3)

    def test_sys_exit_message(self):
        self.check_same("""
            import sys
            def work():
                sys.exit("bye now")
            work()
        """, 1)

    def test_uncaught_exception_traceback_has_no_pyflame_frames(self):
        self.check_same("""
            def work():
                helper()
            def helper():
                raise ValueError("boom")
            work()
        """, 1)

    def test_sigint_like_plain_python(self):
        src = """
            import os, signal
            def work():
                os.kill(os.getpid(), signal.SIGINT)
                import time
                time.sleep(5)
            print("before", flush=True)
            work()
        """
        t = self.check_same(src, -signal.SIGINT)
        self.assertEqual(t.calls("work"), 1)

    def test_sigterm_dies_of_sigterm_and_writes_trace(self):
        script = self.write("prog.py", """
            import os, signal, time
            print(signal.getsignal(signal.SIGTERM) == signal.SIG_DFL, flush=True)
            def work():
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(10)
            work()
        """)
        r, out = self.collect([script])
        self.assertEqual(r.returncode, -signal.SIGTERM)
        self.assertEqual(r.stdout, b"True\n")
        t = Trace(out)
        self.assertEqual(t.calls("work"), 1)
        self.assertEqual(t.calls("sleep"), 0)  # the signal arrived before
        self.assertFalse([c for c in t.codes if "_runner" in c["file"]], "our frames leaked")

    def test_sigterm_program_handler_wins(self):
        script = self.write("prog.py", """
            import os, signal, sys
            def handler(signum, frame):
                print("handled", flush=True)
                sys.exit(5)
            old = signal.signal(signal.SIGTERM, handler)
            print(old == signal.SIG_DFL, flush=True)
            def work():
                os.kill(os.getpid(), signal.SIGTERM)
            work()
        """)
        r, out = self.collect([script])
        self.assertEqual(r.returncode, 5)
        self.assertEqual(r.stdout, b"True\nhandled\n")
        self.assertEqual(Trace(out).calls("handler"), 1)

    def test_os_exit_writes_trace(self):
        t = self.check_same("""
            import os
            def work():
                print("x", flush=True)
                os._exit(7)
            work()
        """, 7)
        self.assertEqual(t.calls("_exit"), 0)   # our wrapper is not the program's

    def test_syntax_error_like_plain_python(self):
        script = self.write("prog.py", "def f(:\n    pass\n")
        r, _ = self.collect([script])
        p = self.plain([script])
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stderr.decode(), p.stderr.decode())


class TestTransparency(CollectTestCase):
    SHOW = """
        import sys, os
        def show():
            g = {k: (type(v).__name__, v if k in ('__name__', '__file__', '__package__', '__cached__', '__doc__') else None)
                 for k, v in globals().items() if k not in ('sys', 'os', 'show')}
            print(sorted(g.items()))
            print(sys.argv, sys.path[0], __name__, repr(__spec__))
            print(getattr(sys, 'orig_argv', [None])[1:])
            print(sys.stdin.read())
            print('pyflame' in sys.modules)
            print(sys.path[1:])
        show()
    """

    def test_script_sees_what_plain_python_gives(self):
        script = self.write("sub/show.py", self.SHOW)
        for path in (script, os.path.relpath(script, self.tmp)):
            r, out = self.collect([path, "a", "--b", "-m"], input=b"stdin text")
            p = self.plain([path, "a", "--b", "-m"], input=b"stdin text")
            self.assertEqual(r.returncode, 0, r.stderr)
            lines_r = r.stdout.decode().splitlines()
            lines_p = p.stdout.decode().splitlines()
            self.assertEqual(lines_r[:4], lines_p[:4])
            # pyflame is importable under collect (sys.modules), sys.path is untouched
            self.assertEqual(lines_r[4], "True")
            self.assertEqual(lines_p[4], "False")
            self.assertEqual(lines_r[5], lines_p[5])
            self.assertEqual(Trace(out).calls("show"), 1)

    def test_module_mode(self):
        self.write("pkg/__init__.py", "")
        self.write("pkg/mod.py", self.SHOW)
        self.write("pkg/__main__.py", "print('main of pkg', __name__, __package__)\n")
        r, out = self.collect(["-m", "pkg.mod", "x", "y"], input=b"in")
        p = self.plain(["-m", "pkg.mod", "x", "y"], input=b"in")
        self.assertEqual(r.returncode, 0, r.stderr)
        addr = re.compile(r"0x[0-9a-f]+")
        self.assertEqual(addr.sub("ADDR", r.stdout.decode()).splitlines()[:4],
                         addr.sub("ADDR", p.stdout.decode()).splitlines()[:4])
        self.assertEqual(Trace(out).calls("show"), 1)
        r, _ = self.collect(["-m", "pkg"])
        self.assertEqual(r.stdout, self.plain(["-m", "pkg"]).stdout)
        r, _ = self.collect(["-m", "no_such_module_here"])
        p = self.plain(["-m", "no_such_module_here"])
        self.assertEqual(r.returncode, p.returncode)
        self.assertEqual(self.split_summary(r.stderr)[0], p.stderr.decode())

    def test_stdin_passthrough(self):
        script = self.write("cat.py", """
            import sys
            data = sys.stdin.buffer.read()
            sys.stdout.buffer.write(data[::-1])
        """)
        r, _ = self.collect([script], input=b"hello\x00world")
        self.assertEqual(r.stdout, b"dlrow\x00olleh")

    def test_summary_line_and_quiet(self):
        script = self.write("p.py", "def f():\n    pass\nfor _ in range(5):\n    f()\n")
        r, out = self.collect([script])
        err, m = self.split_summary(r.stderr)
        self.assertEqual(err, "")
        self.assertIsNotNone(m, r.stderr)
        self.assertEqual(m.group(1), out)
        self.assertEqual(int(m.group(3).replace(",", "")), Trace(out).meta["total_calls"])
        r, out = self.collect([script], extra=["--quiet"])
        self.assertEqual(r.stderr, b"")
        self.assertEqual(Trace(out).calls("f"), 5)

    def test_default_output_is_trace_gz_in_cwd(self):
        script = self.write("p.py", "print('hi')\n")
        r = subprocess.run([BIN, "collect", "--python", PY, "-q", script], cwd=self.tmp,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env_without_pythonpath())
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(os.path.exists(os.path.join(self.tmp, "trace.gz")))

    def test_meta(self):
        script = self.write("p.py", "import time\ntime.sleep(0.05)\n")
        r, out = self.collect([script, "arg1"])
        m = Trace(out).meta
        self.assertEqual(m["argv"], [script, "arg1"])
        self.assertEqual(m["python_version"], "%d.%d.%d" % sys.version_info[:3])
        self.assertEqual(m["cwd"], os.path.realpath(self.tmp))
        self.assertEqual(m["path"][0], os.path.dirname(os.path.realpath(script)))
        self.assertEqual(m["modes"], 1)
        self.assertEqual(m["flags"], 0)
        self.assertGreaterEqual(m["duration_ns"], 50_000_000)
        self.assertIn(m["clock"].split()[0], ("CLOCK_MONOTONIC", "TSC"))
        self.assertGreater(m["profiler_bytes"], 0)
        self.assertGreater(m["start_unix_ns"], 1_600_000_000 * 10**9)
        self.assertTrue(m["hostname"])
        self.assertTrue(m["python_executable"])


class TestRecording(CollectTestCase):
    PROGRAM = """
        import itertools

        def fib(n):
            if n < 2:
                return n
            return fib(n - 1) + fib(n - 2)

        def even(n):
            return True if n == 0 else odd(n - 1)

        def odd(n):
            return False if n == 0 else even(n - 1)

        def gen(n):
            for i in range(n):
                yield i * 2

        def agen():
            yield from gen(3)
            yield len("abc")

        class Box:
            def __init__(self):
                self.items = []
            def put(self, x):
                self.items.append(x)
            @property
            def size(self):
                return len(self.items)

        def risky(i):
            if i % 3 == 0:
                raise KeyError(i)
            return i

        def catcher():
            n = 0
            for i in range(10):
                try:
                    risky(i)
                except KeyError:
                    n += 1
                try:
                    int("x%d" % i)
                except ValueError:
                    n += 1
            return n

        def main():
            fib(12)
            even(15)
            total = sum(gen(10)) + sum(agen())
            b = Box()
            for i in range(7):
                b.put(i)
            s = b.size + len(sorted([3, 1, 2])) + isinstance(b, Box)
            d = {}
            for i in range(4):
                d.setdefault(i, []).append(i)
            m = list(map(abs, [-1, -2]))
            c = catcher()
            return total, s, c, m, sum(itertools.islice(gen(100), 5))

        main()
    """

    def test_counts_match_cprofile(self):
        script = self.write("prog.py", self.PROGRAM)
        r, out = self.collect([script])
        self.assertEqual(r.returncode, 0, r.stderr)
        ours = Trace(out).func_stats()
        # cProfile over the same code, in this interpreter
        with open(script) as f:
            code = compile(f.read(), script, "exec")
        prof = cProfile.Profile()
        g = {"__name__": "__main__", "__file__": script}
        prof.enable()
        exec(code, g)
        prof.disable()
        theirs = {}
        for (f, line, name), (cc, nc, tt, ct, callers) in pstats.Stats(prof).stats.items():
            theirs[(f, line, name)] = (nc, cc)
        script_keys = [k for k in theirs if k[0] == script]
        self.assertGreater(len(script_keys), 10)
        for k in script_keys:
            self.assertEqual(ours.get(k), theirs[k], "mismatch for %s" % (k,))
        for k in ours:
            if k[0] == script:
                self.assertIn(k, theirs)
        builtins_seen = [k for k in theirs if k[0] == "~" and "disable" not in k[2]
                         and "exec" not in k[2]]
        for label in ("<built-in method builtins.len>", "<method 'append' of 'list' objects>",
                      "<built-in method builtins.sorted>", "<built-in method builtins.isinstance>",
                      "<method 'setdefault' of 'dict' objects>", "<built-in method builtins.sum>",
                      ):
            self.assertIn(("~", 0, label), theirs)
        for k in builtins_seen:
            self.assertEqual(ours.get(k), theirs[k], "mismatch for builtin %s" % (k,))

    def test_generator_resumes_are_calls(self):
        script = self.write("g.py", """
            def gen():
                for i in range(4):
                    yield i
            def main():
                for x in gen():
                    pass
            main()
        """)
        r, out = self.collect([script])
        t = Trace(out)
        self.assertEqual(t.calls("gen"), 5)   # 4 values + the final resume that returns

    def test_recursion_tree_stays_small_and_exact(self):
        script = self.write("f.py", """
            def fib(n):
                return n if n < 2 else fib(n - 1) + fib(n - 2)
            def main():
                for _ in range(3):
                    fib(18)
            main()
        """)
        r, out = self.collect([script])
        t = Trace(out)
        self.assertLessEqual(len(t.by_name("fib")), 8)
        self.assertEqual(t.func_stats()[(script, 2, "fib")], (3 * 8361, 3))
        top = [i for i in t.by_name("fib") if t.name(t.nodes[t.nodes[i]["parent"]]) == "main"]
        self.assertEqual(len(top), 1)
        n = t.nodes[top[0]]
        self.assertEqual(n["call_line"], 6)
        # inclusive time of the outermost activations covers every fib's self time
        self_sum = sum(t.nodes[i]["self_ns"] for i in t.by_name("fib"))
        self.assertLessEqual(self_sum, n["total_ns"] + len(t.by_name("fib")))  # ns rounding
        self.assertGreater(self_sum, 0.9 * n["total_ns"])

    def test_dead_code_objects_are_let_go_and_still_recorded(self):
        # Code objects the program drops are not kept alive by the collector, and one
        # created later at a dead one's address (surely, in this loop) is a new key.
        script = self.write("dyn.py", """
            import gc, weakref
            refs = []
            for i in range(2000):
                src = "def g%d(x):\\n    return x + 1\\nr = g%d(1)\\n" % (i, i)
                code = compile(src, "<dyn%d>" % i, "exec")
                ns = {}
                exec(code, ns)
                refs.append(weakref.ref(code))
                del code, ns
                gc.collect(0)
            gc.collect()
            print(sum(1 for r in refs if r() is not None))
        """)
        r, out = self.collect([script])
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        self.assertEqual(r.stdout.decode().split(), ["0"])
        t = Trace(out)
        dyn = [i for i, n in enumerate(t.nodes) if t.codes[n["code"]]["file"].startswith("<dyn")]
        self.assertEqual(len(dyn), 4000)
        for i in dyn:
            n = t.nodes[i]
            c = t.codes[n["code"]]
            self.assertEqual(n["calls"], 1)
            if c["name"].startswith("g"):
                p = t.nodes[n["parent"]]
                self.assertEqual(t.codes[p["code"]]["file"], "<dyn%s>" % c["name"][1:])
                self.assertEqual(n["call_line"], 3)
                self.assertEqual(c["file"], "<dyn%s>" % c["name"][1:])
                self.assertEqual(c["first_line"], 1)
            else:
                self.assertEqual(c["name"], "<module>")

    def test_call_lines(self):
        script = self.write("l.py", """
            def a():
                pass
            def main():
                a()
                x = [1]
                x.append(2)

                a()
            main()
        """)
        r, out = self.collect([script])
        t = Trace(out)
        lines = sorted(t.nodes[i]["call_line"] for i in t.by_name("a"))
        self.assertEqual(lines, [5, 9])
        app = t.by_name("<method 'append' of 'list' objects>")
        self.assertEqual([t.nodes[i]["call_line"] for i in app], [7])

    def test_call_lines_without_call_instruction(self):
        script = self.write("l2.py", """
            def gen():
                yield 1
            class V:
                def __add__(self, other):
                    return 1
            def main():
                g = gen()
                v = V() + V()
                for _ in g:
                    pass
                return v
            main()
        """)
        r, out = self.collect([script])
        t = Trace(out)
        self.assertEqual(sorted(set(t.nodes[i]["call_line"] for i in t.by_name("__add__"))), [9])
        self.assertEqual(sorted(set(t.nodes[i]["call_line"] for i in t.by_name("gen"))), [10])
        self.assertEqual(t.calls("gen"), 2)

    def test_times_are_consistent(self):
        script = self.write("t.py", """
            import time
            def slow():
                time.sleep(0.05)
            def main():
                slow(); slow()
            main()
        """)
        r, out = self.collect([script])
        t = Trace(out)
        for n in t.nodes:
            self.assertLessEqual(n["self_ns"], n["total_ns"])
        slow = t.nodes[t.by_name("slow")[0]]
        self.assertGreaterEqual(slow["total_ns"], 100_000_000)
        self.assertLess(slow["self_ns"], slow["total_ns"] // 2)
        main = t.nodes[t.by_name("main")[0]]
        self.assertLessEqual(main["total_ns"], t.meta["duration_ns"])

    def test_threads_are_roots_named_after_them(self):
        script = self.write("th.py", """
            import threading, time
            def spin(n):
                return sum(range(n))
            def worker(n):
                spin(n)
            def later():
                time.sleep(0.01)
                t = threading.Thread(target=worker, args=(1000,), name="late-one")
                t.start(); t.join()
            ts = [threading.Thread(target=worker, args=(100 * i,), name="w%d" % i) for i in range(3)]
            for t in ts: t.start()
            for t in ts: t.join()
            later()
            r = threading.Thread(target=worker, args=(5,), name="before-rename")
            r.start(); r.join()
            r.name = "renamed"
            keep = threading.Thread(target=time.sleep, args=(0.3,), name="still-running", daemon=True)
            keep.start()
        """)
        r, out = self.collect([script])
        self.assertEqual(r.returncode, 0, r.stderr)
        t = Trace(out)
        names = [th["name"] for th in t.threads]
        for n in ("MainThread", "w0", "w1", "w2", "late-one", "renamed", "still-running"):
            self.assertIn(n, names)
        self.assertEqual(len(t.threads), 7)   # idents may be reused by the OS; states are not
        self.assertEqual(t.calls("worker"), 5)
        per_thread = {}
        for i in t.by_name("worker"):
            per_thread.setdefault(t.threads[t.nodes[i]["thread"]]["name"], 0)
            per_thread[t.threads[t.nodes[i]["thread"]]["name"]] += t.nodes[i]["calls"]
        self.assertEqual(per_thread, {"w0": 1, "w1": 1, "w2": 1, "late-one": 1, "renamed": 1})

    def test_memory_limit_stops_recording_and_says_so(self):
        script = self.write("big.py", """
            def make(i):
                src = "def f%d():\\n    return %d\\n" % (i, i)
                ns = {}
                exec(src, ns)
                return ns["f%d" % i]
            for i in range(3000):
                make(i)()
        """)
        r, out = self.collect([script], extra=["--memory-limit", "300000"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("memory was exhausted", r.stderr.decode())
        t = Trace(out)
        self.assertTrue(t.meta["flags"] & 1)
        self.assertGreater(t.calls("make"), 0)
        self.assertLess(t.calls("make"), 3000)


class TestPythonAPI(CollectTestCase):
    def run_api(self, src):
        script = self.write("api.py", src)
        env = env_without_pythonpath()
        env["PYTHONPATH"] = PKG_PARENT
        r = subprocess.run([PY, script], cwd=self.tmp, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           env=env, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        return r

    def assert_clean(self, t):
        self.assertFalse([c for c in t.codes if "pyflame" in c["file"]], "pyflame frames in trace")
        self.assertFalse([c for c in t.codes if "_collector" in c["name"]], "collector calls in trace")

    def test_code_dying_after_stop_is_harmless(self):
        # The program keeps the collector's weak references to its code objects (they
        # are in weakref.getweakrefs) past stop(); the code objects die later.
        self.run_api("""
            import gc, weakref
            import pyflame
            kept = []
            codes = [compile("x = %d" % i, "<c%d>" % i, "exec") for i in range(50)]
            with pyflame.profile("late.gz"):
                for c in codes:
                    exec(c, {})
                    kept.extend(weakref.getweakrefs(c))
            assert kept
            del codes, c
            gc.collect()
            assert all(r() is None for r in kept)
            with pyflame.profile("again.gz"):
                exec(compile("y = 1", "<d>", "exec"), {})
        """)
        t = Trace(os.path.join(self.tmp, "late.gz"))
        self.assertEqual(len([c for c in t.codes if c["file"].startswith("<c")]), 50)
        t = Trace(os.path.join(self.tmp, "again.gz"))
        self.assertEqual([c["file"] for c in t.codes if c["file"].startswith("<")], ["<d>"])

    def test_context_manager(self):
        r = self.run_api("""
            import pyflame
            def inner(): return len([1, 2])
            def outside(): pass
            outside()
            with pyflame.profile("cm.gz") as p:
                for _ in range(3): inner()
            outside()
            print(p.summary["calls"], p.summary["path"].endswith("cm.gz"))
        """)
        t = Trace(os.path.join(self.tmp, "cm.gz"))
        self.assertEqual(t.calls("inner"), 3)
        self.assertEqual(t.calls("outside"), 0)
        self.assertEqual(t.calls("<built-in method builtins.len>"), 3)
        self.assert_clean(t)
        self.assertEqual(r.stdout.decode().split(), [str(t.meta["total_calls"]), "True"])

    def test_start_stop(self):
        self.run_api("""
            import pyflame
            def inner(): pass
            pyflame.start("ss.gz")
            assert pyflame.is_active()
            try:
                pyflame.start("again.gz")
            except RuntimeError:
                pass
            else:
                raise SystemExit("nested start did not fail")
            inner(); inner()
            s = pyflame.stop()
            assert not pyflame.is_active()
            inner()
        """)
        t = Trace(os.path.join(self.tmp, "ss.gz"))
        self.assertEqual(t.calls("inner"), 2)
        self.assert_clean(t)
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "again.gz")))

    def test_decorator(self):
        self.run_api("""
            import pyflame
            def helper(x): return x * 2
            @pyflame.profile("dec.gz")
            def hot(n):
                return [helper(i) for i in range(n)]
            hot(3)
            hot(5)
            assert hot.__name__ == "hot"
        """)
        t = Trace(os.path.join(self.tmp, "dec.gz"))
        self.assertEqual(t.calls("hot"), 1)      # the last call's profile
        self.assertEqual(t.calls("helper"), 5)
        self.assertEqual(t.thread_roots()["MainThread"], ["hot"])
        self.assert_clean(t)

    def test_api_inside_collect_is_harmless(self):
        script = self.write("in.py", """
            import pyflame
            def f(): pass
            with pyflame.profile("inner.gz"):
                f()
            @pyflame.profile("dec.gz")
            def g(): f()
            g()
            print(pyflame.is_active())
        """)
        r, out = self.collect([script])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, b"True\n")
        t = Trace(out)
        self.assertEqual(t.calls("f"), 2)
        self.assertEqual(t.calls("g"), 1)
        self.assertEqual(t.calls("wrapper"), 0)
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "inner.gz")))


class TestCommandLine(CollectTestCase):
    def run_bin(self, args, env=None):
        return subprocess.run([BIN, "collect"] + args, cwd=self.tmp, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, env=env or env_without_pythonpath(), timeout=60)

    def test_bad_arguments_exit_2(self):
        script = self.write("p.py", "pass\n")
        for args, msg in (([], "no program"), (["--bogus", script], "unknown option"),
                          (["-o"], "needs a value"), (["missing.py"], "cannot open"),
                          (["--python"], "needs a value"),
                          (["-o", "/no/such/dir/t.gz", script], "cannot write"),
                          (["--memory-limit", "lots", script], "memory-limit")):
            r = self.run_bin(args)
            self.assertEqual(r.returncode, 2, (args, r.stderr))
            self.assertIn(msg, r.stderr.decode())

    def test_help(self):
        r = self.run_bin(["--help"])
        self.assertEqual(r.returncode, 0)
        self.assertIn("usage: pyflame-c collect", r.stdout.decode())

    def test_missing_interpreter(self):
        script = self.write("p.py", "pass\n")
        r = self.run_bin(["--python", "/no/such/python3", script])
        self.assertEqual(r.returncode, 2)
        self.assertIn("cannot run the Python interpreter", r.stderr.decode())
        env = env_without_pythonpath()
        env["PYFLAME_PYTHON"] = "/no/such/python-from-env"
        r = self.run_bin([script], env=env)
        self.assertEqual(r.returncode, 2)
        self.assertIn("python-from-env", r.stderr.decode())

    @unittest.skipUnless(os.path.exists("/usr/bin/perl"), "needs /usr/bin/perl")
    def test_foreign_interpreter_gets_one_line(self):
        script = self.write("p.py", "pass\n")
        r = self.run_bin(["--python", "/usr/bin/perl", script])
        self.assertEqual(r.returncode, 2)
        err = r.stderr.decode()
        self.assertIn("is not a supported Python interpreter", err)
        self.assertIn("CPython 3.8-3.15", err)
        self.assertEqual(err.count("\n"), 1, err)      # not perl's view of our bootstrap

    def test_missing_collector_says_how_to_build(self):
        pkg = os.path.join(self.tmp, "pkgcopy", "pyflame")
        os.makedirs(pkg)
        for f in os.listdir(os.path.join(PKG_PARENT, "pyflame")):
            if f.endswith(".py"):
                shutil.copy(os.path.join(PKG_PARENT, "pyflame", f), pkg)
        script = self.write("p.py", "print('should not run')\n")
        env = env_without_pythonpath()
        env["PYFLAME_C_PACKAGE"] = pkg
        r = subprocess.run([BIN, "collect", "--python", PY, script], cwd=self.tmp, env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
        self.assertEqual(r.returncode, 2)
        self.assertEqual(r.stdout, b"")
        err = r.stderr.decode()
        self.assertIn("no collector built for Python %d.%d" % sys.version_info[:2], err)
        self.assertIn("make collectors", err)


if __name__ == "__main__":
    unittest.main(verbosity=1)
