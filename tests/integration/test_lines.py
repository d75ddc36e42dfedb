"""Integration tests of line profiling: `pyflame-c collect --lines` and the kernprof-style
`profile` decorator, read back through `convert -f lines` and `html`.

    PYFLAME_C=build/pyflame-c PYFLAME_PYTHON=python3.12 python3.12 tests/integration/test_lines.py
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

LOOP = textwrap.dedent("""\
    import time

    def callee():
        time.sleep(0.05)

    def main():
        total = 0
        for i in range(10):
            if i % 2 == 0:
                total += i
            else:
                total -= 1
        callee()
        return total

    print(main())
    """)
# lines of main() and their expected hits
LOOP_HITS = {7: 1, 8: 11, 9: 10, 10: 5, 12: 5, 13: 1, 14: 1, 4: 1}


def env_clean():
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    env["PYFLAME_PYTHON"] = PY
    return env


class LinesTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="pf-lines-")
        self.trace = os.path.join(self.dir, "t.gz")

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def write(self, name, text):
        path = os.path.join(self.dir, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(text)
        return path

    def collect(self, *args):
        r = subprocess.run([BIN, "collect", "-q", "-o", self.trace] + list(args), cwd=self.dir,
                           env=env_clean(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           universal_newlines=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        return r.stdout

    def rows(self):
        """{(basename, function, line): (hits, total_ns, self_ns)} from convert -f lines."""
        r = subprocess.run([BIN, "convert", "-f", "lines", self.trace], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, universal_newlines=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = r.stdout.splitlines()
        self.assertEqual(lines[0].split("\t")[:6],
                         ["file", "line", "function", "hits", "time_ns", "self_ns"])
        out = {}
        for ln in lines[1:]:
            f = ln.split("\t")
            out[(f[0], f[2], int(f[1]))] = (int(f[3]), int(f[4]), int(f[5]))
        return out

    def test_hits_loop_and_branches(self):
        self.write("prog.py", LOOP)
        self.assertEqual(self.collect("--lines", "prog.py").strip(), "15")
        rows = self.rows()
        got = {line: v[0] for (f, fn, line), v in rows.items()
               if f.endswith("prog.py") and fn in ("main", "callee")}
        self.assertEqual(got, LOOP_HITS)
        # nothing from the standard library by default
        self.assertEqual([k for k in rows if not k[0].endswith("prog.py")], [])

    def test_self_vs_inclusive(self):
        self.write("prog.py", LOOP)
        self.collect("--lines", "prog.py")
        rows = self.rows()
        (hits, total, self_ns), = [v for k, v in rows.items() if k[1] == "main" and k[2] == 13]
        self.assertEqual(hits, 1)
        self.assertGreaterEqual(total, 45 * 10**6)          # the callee's sleep
        self.assertLess(self_ns, total / 10)
        callee = [v for k, v in rows.items() if k[1] == "callee" and k[2] == 4][0]
        self.assertLessEqual(callee[1], total)
        for hits, total, self_ns in rows.values():
            self.assertLessEqual(self_ns, total)

    def test_include_exclude(self):
        self.write("prog.py", "import helper\nx = helper.f(3)\nprint(x)\n")
        self.write("helper.py", "def f(n):\n    s = 0\n    for i in range(n):\n        s += i\n    return s\n")
        self.collect("--lines", "prog.py")
        files = {os.path.basename(k[0]) for k in self.rows()}
        self.assertEqual(files, {"prog.py", "helper.py"})
        self.collect("--lines", "--exclude", "*/helper.py", "prog.py")
        files = {os.path.basename(k[0]) for k in self.rows()}
        self.assertEqual(files, {"prog.py"})
        self.collect("--lines", "--include", "*/helper.py", "prog.py")
        rows = self.rows()
        self.assertEqual({os.path.basename(k[0]) for k in rows}, {"helper.py"})
        self.assertEqual(rows[[k for k in rows if k[2] == 4][0]][0], 3)
        # include a stdlib module explicitly
        self.collect("--lines", "--include", "*/textwrap.py", "-m", "textwrap")
        self.assertTrue(all(k[0].endswith("textwrap.py") for k in self.rows()))

    def test_module_package_is_own_code(self):
        # the parent packages' import is recorded too (before the module is found)
        self.write("pkg/__init__.py", "X = 1\n")
        self.write("pkg/util.py", "def f(n):\n    return [i for i in range(n)]\n")
        self.write("pkg/sub/__init__.py", "Y = 2\n")
        self.write("pkg/sub/run.py", "from pkg import util\nprint(len(util.f(4)))\n")
        self.assertEqual(self.collect("--lines", "-m", "pkg.sub.run").strip(), "4")
        files = {os.path.relpath(k[0], os.path.realpath(self.dir)) for k in self.rows()}
        self.assertEqual(files, {"pkg/__init__.py", "pkg/util.py", "pkg/sub/__init__.py",
                                 "pkg/sub/run.py"})

    def test_help_mentions_lines(self):
        r = subprocess.run([BIN, "collect", "--help"], stdout=subprocess.PIPE, universal_newlines=True)
        self.assertEqual(r.returncode, 0)
        for opt in ("--lines", "--include GLOB", "--exclude GLOB", "@profile"):
            self.assertIn(opt, r.stdout)

    def test_kernprof_script_without_lines(self):
        self.write("kp.py", textwrap.dedent("""\
            @profile
            def hot(n):
                s = 0
                for i in range(n):
                    s += i * i
                return s

            def cold(n):
                return sum(range(n))

            print(hot(100), cold(10))
            """))
        self.assertEqual(self.collect("kp.py").strip(), "328350 45")
        rows = self.rows()
        self.assertEqual({k[1] for k in rows}, {"hot"})
        self.assertEqual({k[2]: v[0] for k, v in rows.items()}, {3: 1, 4: 101, 5: 100, 6: 1})

    def test_profile_builtin_not_replaced(self):
        self.write("own.py", "import builtins\nbuiltins.profile = lambda f: f\n"
                             "@profile\ndef g():\n    return 1\nprint(g())\n")
        self.write("keep.py", "profile = 5\nprint(profile)\n")
        self.assertEqual(self.collect("keep.py").strip(), "5")

    def test_source_embedded(self):
        marker = "zq_marker_%d" % os.getpid()
        path = self.write("src.py", "%s = 0\nfor i in range(3):\n    %s += i\n" % (marker, marker))
        self.collect("--lines", "src.py")
        os.unlink(path)
        r = subprocess.run([BIN, "html", self.trace], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           universal_newlines=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(marker, r.stdout)
        self.assertIn("src.py", r.stdout)

    def test_threads_and_generators(self):
        self.write("thr.py", textwrap.dedent("""\
            import threading

            def gen(n):
                for i in range(n):
                    yield i

            def work():
                t = 0
                for v in gen(4):
                    t += v
                return t

            th = threading.Thread(target=work)
            th.start()
            th.join()
            print(work())
            """))
        self.assertEqual(self.collect("--lines", "thr.py").strip(), "6")
        rows = self.rows()
        hits = {(k[1], k[2]): v[0] for k, v in rows.items()}
        self.assertEqual(hits[("gen", 5)], 8)       # 4 yields, two threads
        self.assertEqual(hits[("work", 10)], 8)

    def test_line_profiler_agrees(self):
        probe = subprocess.run([PY, "-c", "import line_profiler"], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
        if probe.returncode != 0:
            # Debian's interpreter must have it (`make test` installs python3-line-profiler)
            self.assertNotEqual(PY, "/usr/bin/python3", "python3-line-profiler is not installed")
            self.skipTest("line_profiler is not importable by %s" % PY)
        body = textwrap.dedent("""\
            def fib(n):
                if n < 2:
                    return n
                return fib(n - 1) + fib(n - 2)

            @profile
            def work(n):
                out = []
                for i in range(n):
                    if i % 3 == 0:
                        out.append(fib(i % 12))
                    elif i % 3 == 1:
                        out.append(i)
                    else:
                        pass
                return sum(out)

            print(work(60))
            """)
        self.write("lp.py", body)
        self.collect("lp.py")
        ours = {k[2]: v[0] for k, v in self.rows().items() if k[1] == "work"}
        # line_profiler's counts, and the interpreter's own line events (sys.settrace)
        driver = self.write("drive.py", textwrap.dedent("""\
            import builtins, collections, json, sys
            import line_profiler
            path = sys.argv[1]
            code = compile(open(path).read(), path, "exec")
            ref = collections.Counter()
            def tr(frame, ev, arg):
                if frame.f_code.co_name != "work":
                    return None
                if ev == "line":
                    ref[frame.f_lineno] += 1
                return tr
            builtins.profile = lambda f: f
            sys.settrace(tr)
            exec(code, {"__name__": "__main__"})
            sys.settrace(None)
            lp = line_profiler.LineProfiler()
            builtins.profile = lp
            exec(code, {"__name__": "__main__"})
            hits = {}
            for (fn, first, name), rows in lp.get_stats().timings.items():
                if name == "work":
                    for line, nhits, t in rows:
                        hits[line] = hits.get(line, 0) + nhits
            sys.stderr.write(json.dumps([hits, ref]) + "\\n")
            """))
        r = subprocess.run([PY, driver, os.path.join(self.dir, "lp.py")], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, universal_newlines=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        theirs, ref = json.loads(r.stderr.strip().splitlines()[-1])
        theirs = {int(k): v for k, v in theirs.items()}
        ref = {int(k): v for k, v in ref.items()}
        self.assertTrue(theirs)
        # exact against the interpreter's own line events
        self.assertEqual(ours, ref)
        # Debian's line_profiler 4.0.2 on 3.11 has a known counting bug: a line compiled to
        # several bytecode blocks keeps only one block's hits (pyutils/line_profiler#210:
        # an `if` counts only its true or its false cases; here 40 vs 60), which also makes
        # a `for` line show N instead of the interpreter's N+1.  Upstream fixed it in 4.0.3
        # (PR #214), whose counts equal sys.settrace's, as ours do.  So: compare exactly
        # wherever 4.0.2 agrees with the interpreter, require most lines to agree, and
        # require full equality on every other interpreter/line_profiler pair.
        agree = [ln for ln in theirs if theirs[ln] == ref.get(ln)]
        self.assertGreaterEqual(len(agree), 5, (theirs, ref))
        for ln in agree:
            self.assertEqual(ours.get(ln), theirs[ln], ln)
        if sys.version_info[:2] != (3, 11) or PY != "/usr/bin/python3":
            self.assertEqual(ours, theirs)

    def test_floor_lines_installs_a_line_hook(self):
        # --floor (benchmarks' baseline) with --lines adds a do-nothing line hook: a trace
        # function in every thread (<=3.11), a global LINE event (3.12+); without --lines none
        self.write("probe.py", textwrap.dedent("""\
            import sys, threading
            def probe():
                if sys.version_info >= (3, 12):
                    m = sys.monitoring
                    return any(m.get_tool(t) == "pyflame" and m.get_events(t) & m.events.LINE
                               for t in range(6))
                return sys.gettrace() is not None
            out = [probe()]
            t = threading.Thread(target=lambda: out.append(probe()))
            t.start()
            t.join()
            print(out)
            """))
        self.assertEqual(self.collect("--floor", "--lines", "probe.py").strip(), "[True, True]")
        self.assertEqual(self.collect("--floor", "probe.py").strip(), "[False, False]")


if __name__ == "__main__":
    unittest.main()
