"""Integration tests of whole programs under `pyflame-c collect`: child processes (fork,
multiprocessing's start methods, subprocess, exec), signals as under plain Python, traces
that survive crashes, and the output path checked before the program runs.

Run by scripts/run-integration.sh under every interpreter, or by hand:
    PYFLAME_C=build/pyflame-c PYFLAME_PYTHON=python3.12 python3.12 tests/integration/test_children.py
"""
import os
import signal
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_collect import BIN, PY, CollectTestCase, Trace  # noqa: E402

# Processes run by these tests are many; a slow CI machine gets time.
TIMEOUT = 180
# Snapshots often enough that a short test run has one before it is killed.
FAST = ["--snapshot", "0.2"]


def processes(t):
    return t.d.get("processes") or []


class ChildTestCase(CollectTestCase):
    def run_ok(self, src, args=(), extra=(), rc=0):
        script = self.write("prog.py", src)
        r, out = self.collect([script] + list(args), extra=extra, timeout=TIMEOUT)
        self.assertEqual(r.returncode, rc, r.stderr.decode())
        return r, Trace(out)

    def start_methods(self):
        import multiprocessing
        return [m for m in ("fork", "forkserver", "spawn")
                if m in multiprocessing.get_all_start_methods()]


class TestFollow(ChildTestCase):
    def test_fork_children_are_recorded(self):
        r, t = self.run_ok("""
            import os
            def parent_work():
                return sum(range(100))
            def child_work():
                return sum(range(100))
            def grandchild_work():
                return 1
            pid = os.fork()
            if pid == 0:
                child_work()
                if os.fork() == 0:          # nested
                    grandchild_work()
                    os._exit(0)
                os.wait()
                os._exit(3)
            os.waitpid(pid, 0)
            pid = os.fork()
            if pid == 0:
                child_work()
                raise SystemExit(0)
            os.waitpid(pid, 0)
            parent_work()
        """)
        self.assertEqual(t.calls("parent_work"), 1)
        self.assertEqual(t.calls("child_work"), 2)
        self.assertEqual(t.calls("grandchild_work"), 1)
        procs = processes(t)
        self.assertEqual(len(procs), 4, procs)
        self.assertIn("4 processes", r.stderr.decode())
        root = procs[0]
        self.assertTrue(all(p["ppid"] for p in procs))
        kids = [p for p in procs if p["ppid"] == root["pid"]]
        self.assertEqual(len(kids), 2)
        self.assertIn(3, [p["exit_code"] for p in kids])
        # parent_work is only in the root process's threads
        for i in t.by_name("parent_work"):
            self.assertEqual(t.process_of(i), 0)

    def test_pool_and_executor_every_start_method(self):
        for method in self.start_methods():
            with self.subTest(method=method):
                r, t = self.run_ok("""
                    import sys, multiprocessing as mp
                    from concurrent.futures import ProcessPoolExecutor
                    def square(x):
                        return x * x
                    def cube(x):
                        return x * x * x
                    if __name__ == "__main__":
                        ctx = mp.get_context(sys.argv[1])
                        with ctx.Pool(2) as p:
                            print(sum(p.map(square, range(20))))
                        with ProcessPoolExecutor(2, mp_context=ctx) as ex:
                            print(sum(ex.map(cube, range(10))))
                """, [method])
                self.assertEqual(r.stdout, b"2470\n2025\n")
                # the work ran in the children, and every call was recorded
                self.assertEqual(t.calls("square"), 20, method)
                self.assertEqual(t.calls("cube"), 10, method)
                self.assertGreaterEqual(len(processes(t)), 3)

    def test_subprocess_with_sys_executable(self):
        self.write("child.py", """
            import sys
            def child_work(n):
                return sum(range(n))
            print("child", sys.argv[1:], child_work(10))
        """)
        r, t = self.run_ok("""
            import os, subprocess, sys
            here = os.path.dirname(os.path.abspath(__file__))
            out = subprocess.run([sys.executable, os.path.join(here, "child.py"), "a", "b"],
                                 capture_output=True, text=True).stdout
            print(out.strip())
            out = subprocess.run([sys.executable, "-X", "utf8", "-c",
                                  "import sys; print(sys.argv, sys.flags.utf8_mode)", "z"],
                                 capture_output=True, text=True).stdout
            print(out.strip())
            # a grandchild through the child
            subprocess.run([sys.executable, "-c",
                            "import subprocess, sys; subprocess.run([sys.executable, %r, 'g'])"
                            % os.path.join(here, "child.py")])
        """)
        self.assertEqual(r.stdout.decode().splitlines(),
                         ["child ['a', 'b'] 45", "['-c', 'z'] 1", "child ['g'] 45"])
        self.assertEqual(t.calls("child_work"), 2)
        procs = processes(t)
        self.assertEqual(len(procs), 5, procs)     # prog, child, -c, -c, grandchild
        cmds = [p["command"] for p in procs]
        self.assertTrue(any("child.py a b" in c for c in cmds), cmds)

    def test_child_sees_plain_argv_and_orig_argv(self):
        r, t = self.run_ok("""
            import subprocess, sys
            code = "import sys; print(sys.argv); print(getattr(sys, 'orig_argv', None))"
            subprocess.run([sys.executable, "-B", "-c", code, "x"])
        """)
        plain = subprocess.run([sys.executable, "-B", "-c",
                                "import sys; print(sys.argv); print(getattr(sys, 'orig_argv', None))",
                                "x"], stdout=subprocess.PIPE)
        lines = r.stdout.decode().splitlines()
        self.assertEqual(lines[0], "['-c', 'x']")
        if sys.version_info >= (3, 10):
            self.assertEqual(lines[1], plain.stdout.decode().splitlines()[1])

    def test_exec_into_python(self):
        self.write("next.py", """
            def after_exec():
                return 2
            after_exec()
        """)
        r, t = self.run_ok("""
            import os, sys
            def before_exec():
                return 1
            before_exec()
            here = os.path.dirname(os.path.abspath(__file__))
            os.execv(sys.executable, [sys.executable, os.path.join(here, "next.py")])
        """)
        self.assertEqual(t.calls("before_exec"), 1)
        self.assertEqual(t.calls("after_exec"), 1)

    def test_no_follow(self):
        r, t = self.run_ok("""
            import os, subprocess, sys
            def child_work():
                return 1
            if os.fork() == 0:
                child_work()
                os._exit(0)
            os.wait()
            subprocess.run([sys.executable, "-c", "print('hi')"])
        """, extra=["--no-follow"])
        self.assertEqual(t.calls("child_work"), 0)
        self.assertLessEqual(len(processes(t)), 1)

    def test_lines_and_memory_in_children(self):
        r, t = self.run_ok("""
            import multiprocessing as mp
            def build(n):
                data = [str(i) for i in range(n)]
                return len(data)
            if __name__ == "__main__":
                with mp.get_context("spawn").Pool(1) as p:
                    print(p.map(build, [5000]))
        """, extra=["--memory"])
        conv = subprocess.run([BIN, "convert", "-f", "lines", os.path.join(self.tmp, "trace.gz")],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.assertEqual(conv.returncode, 0, conv.stderr)
        rows = [ln.split("\t") for ln in conv.stdout.decode().splitlines()[1:]]
        data_line = [r for r in rows if r[0].endswith("prog.py") and r[1] == "4"]
        self.assertTrue(data_line, conv.stdout.decode()[:2000])
        self.assertGreater(int(data_line[0][3]), 0)         # hits in the child


class TestSignals(ChildTestCase):
    def test_sigterm_right_after_fork_kills_the_child(self):
        # Before, a child SIGTERMed before CPython reset its signal state survived.
        script = self.write("prog.py", """
            import os, signal, sys, time
            alive = 0
            for i in range(20):
                pid = os.fork()
                if pid == 0:
                    time.sleep(3)
                    os._exit(0)
                os.kill(pid, signal.SIGTERM)
                _, st = os.waitpid(pid, 0)
                alive += not (os.WIFSIGNALED(st) and os.WTERMSIG(st) == signal.SIGTERM)
            print(alive)
        """)
        r, _ = self.collect([script], timeout=TIMEOUT)
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        self.assertEqual(r.stdout, b"0\n")

    def test_pool_terminate_never_hangs(self):
        # A worker that ignored SIGTERM made Pool.terminate() wait forever.
        script = self.write("prog.py", """
            import multiprocessing as mp
            def f(x):
                return x
            if __name__ == "__main__":
                ctx = mp.get_context("fork")
                for i in range(20):
                    with ctx.Pool(2) as p:
                        p.map(f, range(4))
                print("done")
        """)
        r, out = self.collect([script], timeout=TIMEOUT)
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        self.assertEqual(r.stdout, b"done\n")
        self.assertEqual(Trace(out).calls("f"), 80)

    def test_sigterm_during_long_c_call_is_prompt(self):
        # time.sleep checks for signals; a C call that holds the GIL does not:
        # we give the last snapshot PF_SNAPSHOT_TERM_MS (0.1 s), then die anyway.
        script = self.write("prog.py", """
            import os, signal, sys, threading, time, re
            def work():
                return sum(range(1000))
            work()
            time.sleep(0.5)                 # a periodic snapshot has time to be taken
            print("ready", flush=True)
            # a regular expression that backtracks for seconds, holding the GIL
            re.match(r"(a+)+b", "a" * 28)
        """)
        p = subprocess.Popen([BIN, "collect", "--python", PY, "--snapshot", "0.2", "-o",
                              os.path.join(self.tmp, "trace.gz"), script],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=self.tmp)
        self.assertEqual(p.stdout.readline(), b"ready\n")
        import time
        t0 = time.monotonic()
        p.send_signal(signal.SIGTERM)       # to collect: passed on to the program
        p.wait(timeout=60)
        waited = time.monotonic() - t0
        self.assertEqual(p.returncode, -signal.SIGTERM)
        self.assertLess(waited, 2.0)
        t = Trace(os.path.join(self.tmp, "trace.gz"))
        self.assertEqual(t.meta["exit_signal"], signal.SIGTERM)
        self.assertEqual(t.calls("work"), 1)        # from the last periodic snapshot

    def test_dispositions_are_plain(self):
        src = """
            import signal, subprocess, sys
            names = ["SIGTERM", "SIGHUP", "SIGINT", "SIGUSR1", "SIGPIPE", "SIGCHLD"]
            print([str(signal.getsignal(getattr(signal, n))) for n in names])
            with open("/proc/self/status") as f:
                print([l.split()[0] for l in f if l.startswith(("SigBlk", "SigIgn"))])
        """
        script = self.write("prog.py", src)
        r, _ = self.collect([script])
        p = self.plain([script])
        self.assertEqual(r.stdout, p.stdout)


class TestCrashes(ChildTestCase):
    def crash(self, how, sig):
        script = self.write("prog.py", """
            import os, signal, time
            def step():
                return sum(range(100))
            def work_before_crash():
                t = time.monotonic()
                while time.monotonic() - t < 0.8:
                    step()
            work_before_crash()
            %s
        """ % how)
        r, out = self.collect([script], extra=FAST, timeout=TIMEOUT)
        self.assertEqual(r.returncode, -sig, r.stderr.decode())
        self.assertTrue(os.path.exists(out), r.stderr.decode())
        t = Trace(out)
        self.assertEqual(t.meta["exit_signal"], sig)
        self.assertTrue(t.meta["flags"] & 4, t.meta)          # PF_FLAG_CUT_SHORT
        self.assertGreater(t.calls("work_before_crash"), 0)
        self.assertGreater(t.calls("step"), 100)
        self.assertIn("cut short", r.stderr.decode())
        text = subprocess.run([BIN, "convert", "-f", "text", out], stdout=subprocess.PIPE).stdout
        self.assertIn(b"killed by", text)
        return t

    def test_sigkill(self):
        self.crash("os.kill(os.getpid(), signal.SIGKILL)", signal.SIGKILL)

    def test_sigsegv(self):
        # under AddressSanitizer (run-asan-integration.sh) its report ends in abort()
        sig = signal.SIGABRT if "libasan" in os.environ.get("LD_PRELOAD", "") else signal.SIGSEGV
        self.crash("import ctypes; ctypes.string_at(0)", sig)

    def test_abort(self):
        self.crash("os.abort()", signal.SIGABRT)

    def test_child_killed_midway(self):
        r, t = self.run_ok("""
            import os, signal, time
            def child_work():
                t = time.monotonic()
                while time.monotonic() - t < 0.8:
                    sum(range(100))
            pid = os.fork()
            if pid == 0:
                child_work()
                os.kill(os.getpid(), signal.SIGKILL)
            os.waitpid(pid, 0)
        """, extra=FAST)
        self.assertGreater(t.calls("child_work"), 0)
        procs = processes(t)
        self.assertEqual(len(procs), 2)
        self.assertTrue(procs[1]["flags"] & 4, procs)        # PF_PROC_CUT_SHORT


class TestOutputChecked(ChildTestCase):
    def refused(self, out, cwd=None):
        marker = os.path.join(self.tmp, "ran")
        script = self.write("prog.py", "open(%r, 'w').close()\n" % marker)
        args = [BIN, "collect", "--python", PY] + (["-o", out] if out is not None else []) + [script]
        r = subprocess.run(args, cwd=cwd or self.tmp, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=60)
        self.assertEqual(r.returncode, 2, r.stderr.decode())
        self.assertFalse(os.path.exists(marker), "the program ran")
        err = r.stderr.decode()
        self.assertEqual(len(err.splitlines()), 1, err)
        self.assertEqual(err.count("cannot write"), min(1, err.count("cannot write")), err)
        return err

    def test_directory(self):
        self.assertIn("is a directory", self.refused(self.tmp))

    def test_missing_folder(self):
        self.assertIn("-o FILE", self.refused(os.path.join(self.tmp, "nope", "t.gz")))

    def test_name_too_long(self):
        self.assertIn("too long", self.refused(os.path.join(self.tmp, "x" * 300 + ".gz")))

    def read_only_dir(self):
        d = os.path.join(self.tmp, "ro")
        os.makedirs(d)
        if subprocess.run(["mount", "-t", "tmpfs", "-o", "ro", "tmpfs", d],
                          stderr=subprocess.DEVNULL).returncode != 0:
            if os.geteuid() == 0:
                self.skipTest("cannot mount a read-only folder here")
            os.chmod(d, 0o555)
        else:
            self.addCleanup(subprocess.run, ["umount", d])
        return d

    def test_read_only_folder(self):
        d = self.read_only_dir()
        self.assertIn("-o FILE", self.refused(os.path.join(d, "t.gz")))

    def test_read_only_current_folder(self):
        d = self.read_only_dir()
        err = self.refused(None, cwd=d)
        self.assertIn("current folder", err)

    def test_failure_at_the_end_exits_74(self):
        sub = os.path.join(self.tmp, "sub")
        os.makedirs(sub)
        script = self.write("prog.py", """
            import os, shutil
            shutil.rmtree(%r)
            open(%r, "w").close()        # the output's folder is now a file
        """ % (sub, sub))
        r = subprocess.run([BIN, "collect", "--python", PY, "-o", os.path.join(sub, "t.gz"), script],
                           cwd=self.tmp, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
        self.assertEqual(r.returncode, 74, r.stderr.decode())
        err = r.stderr.decode()
        self.assertIn("cannot write the trace", err)
        self.assertNotIn("cannot write trace", err.replace("cannot write the trace", "", 1))


if __name__ == "__main__":
    unittest.main(verbosity=1)
