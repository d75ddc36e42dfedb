"""Integration tests of `pyflame-c attach --calls PID` (CPython 3.14 and 3.15): the
collector injected into a running process through PEP 768's remote execution, recording
every call, then removed.

The target counts itself the calls that must be in the trace: a call of work() is
recorded exactly when the collector was on both at its call (the caller's check) and in
its body (its own check).  The start and stop scripts run in the main thread between two
bytecodes, and the private module they load is in sys.modules exactly while the collector
records, so `KEY in sys.modules` tells the program, without a call event, whether it is
being recorded.  (A request taken at work()'s own entry check runs after the caller's
check and before the body's: such a call is not recorded, as the two checks disagree.)

Run by hand:
    PYFLAME_C=build/pyflame-c PYFLAME_PYTHON=python3.14 python3.14 tests/integration/test_attach_calls.py
"""
import os
import pstats
import shutil
import signal
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_collect import BIN, PY, CollectTestCase, Trace, env_without_pythonpath  # noqa: E402

VERSION = tuple(int(x) for x in subprocess.run(
    [PY, "-c", "import sys; print('%d %d' % sys.version_info[:2])"],
    stdout=subprocess.PIPE, check=True).stdout.split())
PY313 = "/root/.pyenv/versions/3.13.0/bin/python3"

# Loops on work() until it has been recorded and then let go (argv[3] times, default
# once; or until the time limit argv[1]), then measures its speed after the detach,
# reports, and exits with status argv[2] (default 7).  A thread
# started before the attach (bg) and one started while recorded (late) call their own
# functions.
PROGRAM = r"""
import sys, threading, time
KEY = "_pyflame_c_attach._attach"
mods = sys.modules
recorded = 0
def work(before):
    global recorded
    if before and KEY in mods:
        recorded += 1
def bg_work():
    return 1
def late_work():
    return 2
stop_bg = False
def bg():
    while not stop_bg:
        bg_work()
        time.sleep(0.001)
def late():
    for i in range(1000):
        late_work()
def rate(seconds):
    n, end = 0, time.perf_counter() + seconds
    while time.perf_counter() < end:
        for i in range(200):
            work(KEY in mods)
        n += 200
    return n / seconds
print("started", flush=True)
threading.Thread(target=bg, name="bg").start()
before = rate(0.5)
print("ready", flush=True)
rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 1
seen = was = late_started = False
detaches = 0
limit = time.time() + float(sys.argv[1])
while time.time() < limit and detaches < rounds:
    for i in range(200):
        work(KEY in mods)
    now = KEY in mods
    if now:
        seen = True
        if not late_started:
            late_started = True
            threading.Thread(target=late, name="late").start()
    elif was:
        detaches += 1
    was = now
done = detaches >= rounds
after = rate(0.5) if done else 0.0
stop_bg = True
import atexit
print("recorded", recorded)
print("seen", seen, "done", done)
print("tools", [sys.monitoring.get_tool(i) for i in range(6)])
print("profile", sys.getprofile(), "trace", sys.gettrace())
print("modules", sorted(k for k in sys.modules if "pyflame" in k))
print("atexit", atexit._ncallbacks())
print("speed", after / before if before else 0.0)
sys.exit(int(sys.argv[2]) if len(sys.argv) > 2 else 7)
"""


@unittest.skipUnless(VERSION in ((3, 14), (3, 15)),
                     "attach --calls needs CPython 3.14 or 3.15 (PEP 768), not %d.%d"
                     % VERSION)
class AttachCallsTestCase(CollectTestCase):
    def start(self, seconds, *args, py=None, env=None, pyargs=()):
        script = self.write("prog.py", PROGRAM)
        p = subprocess.Popen([py or PY] + list(pyargs) + [script, str(seconds)] + list(args),
                             cwd=self.tmp, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             env=env or env_without_pythonpath())
        self.assertEqual(p.stdout.readline(), b"started\n")
        self.assertEqual(p.stdout.readline(), b"ready\n")
        return p

    def attach(self, pid, *extra, out=None):
        out = out or os.path.join(self.tmp, "calls.gz")
        r = subprocess.run([BIN, "attach", "--calls", "-o", out] + list(extra) + [str(pid)],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
        return r, out

    def report(self, p):
        so, se = p.communicate(timeout=60)
        lines = dict(l.split(" ", 1) for l in so.decode().splitlines() if " " in l)
        return lines, se.decode()

    def check_gone(self, lines):
        """What the program saw after the detach: no hook, no tool, no module of ours,
        no atexit handler left."""
        self.assertEqual(lines["seen"], "True done True")
        self.assertEqual(lines["tools"], str([None] * 6))
        self.assertEqual(lines["profile"], "None trace None")
        self.assertEqual(lines["modules"], "[]")
        self.assertEqual(lines["atexit"], "0")

    def test_records_exact_calls_and_detaches(self):
        p = self.start(20)
        r, out = self.attach(p.pid, "--duration", "1")
        err = r.stderr.decode()
        self.assertEqual(r.returncode, 0, err)
        self.assertIn("recording every call of process %d" % p.pid, err)
        self.assertIn("detached from process %d" % p.pid, err)
        lines, se = self.report(p)
        self.assertEqual(p.returncode, 7)           # the program's own exit status
        self.assertEqual(se, "")                    # nothing of ours on its stderr
        self.check_gone(lines)
        recorded = int(lines["recorded"])
        self.assertGreater(recorded, 1000)
        t = Trace(out)
        self.assertEqual(t.calls("work"), recorded)
        # the threads: one that existed before, one started while recorded
        threads = {t.threads[n["thread"]]["name"] for n in t.nodes if t.name(n) == "bg_work"}
        self.assertEqual(threads, {"bg"})
        self.assertEqual(t.calls("late_work"), 1000)
        self.assertEqual(t.calls("late"), 1)
        # none of our own code, and the stop script's frame only once
        files = {c.get("file") or "" for c in t.codes}
        self.assertFalse([f for f in files if "_attach.py" in f or "__init__.py" in f
                          and "pyflame" in f], files)
        self.assertLessEqual(t.calls("<module>"), 1)
        # pstats agrees
        prof = os.path.join(self.tmp, "calls.prof")
        c = subprocess.run([BIN, "convert", "-f", "pstats", "-o", prof, out],
                           stderr=subprocess.PIPE)
        self.assertEqual(c.returncode, 0, c.stderr.decode())
        st = pstats.Stats(prof).stats
        (nc,) = [v[1] for k, v in st.items() if k[2] == "work"]
        self.assertEqual(nc, recorded)
        # back to full speed once detached (loose: the machine is shared)
        self.assertGreater(float(lines["speed"]), 0.4, lines)

    def test_sigint_stops_and_detaches(self):
        p = self.start(20)
        out = os.path.join(self.tmp, "calls.gz")
        a = subprocess.Popen([BIN, "attach", "--calls", "-q", "-o", out, str(p.pid)],
                             stderr=subprocess.PIPE)
        time.sleep(1.0)
        a.send_signal(signal.SIGINT)
        _, err = a.communicate(timeout=60)
        self.assertEqual(a.returncode, 0, err.decode())
        self.assertEqual(err, b"")                  # -q
        lines, se = self.report(p)
        self.assertEqual((p.returncode, se), (7, ""))
        self.check_gone(lines)
        self.assertEqual(Trace(out).calls("work"), int(lines["recorded"]))

    def test_target_exits_while_attached(self):
        p = self.start(1.5, "3")
        r, out = self.attach(p.pid)               # no duration: ends with the target
        err = r.stderr.decode()
        self.assertEqual(r.returncode, 0, err)
        self.assertIn("process %d exited while recorded; the trace was written at its exit"
                      % p.pid, err)
        so, se = p.communicate(timeout=30)
        self.assertEqual((p.returncode, se), (3, b""))
        recorded = int(dict(l.split(" ", 1) for l in so.decode().splitlines()
                            if " " in l)["recorded"])
        self.assertGreater(recorded, 100)
        self.assertEqual(Trace(out).calls("work"), recorded)

    def test_killed_target_leaves_its_last_snapshot(self):
        p = self.start(30)
        a = subprocess.Popen([BIN, "attach", "--calls", "-o",
                              os.path.join(self.tmp, "calls.gz"), str(p.pid)],
                             stderr=subprocess.PIPE)
        time.sleep(2.5)                             # past the first snapshot
        p.kill()
        p.communicate()
        _, err = a.communicate(timeout=60)
        self.assertEqual(a.returncode, 0, err.decode())
        self.assertIn("ran no exit handlers", err.decode())
        t = Trace(os.path.join(self.tmp, "calls.gz"))
        self.assertGreater(t.calls("work"), 0)

    def test_blocked_main_thread_times_out_and_changes_nothing(self):
        script = self.write("sleeper.py", """
            import sys, time
            print("asleep", flush=True)
            time.sleep(13)
            print("modules", sorted(k for k in sys.modules if "pyflame" in k))
            print("tools", [sys.monitoring.get_tool(i) for i in range(6)])
        """)
        p = subprocess.Popen([PY, script], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             env=env_without_pythonpath())
        self.assertEqual(p.stdout.readline(), b"asleep\n")
        t0 = time.monotonic()
        r, out = self.attach(p.pid)
        self.assertEqual(r.returncode, 1)
        self.assertLess(time.monotonic() - t0, 12.5)
        err = r.stderr.decode()
        self.assertIn("did not run the start request within 10 s", err)
        self.assertIn("blocked in a C call", err)
        self.assertFalse(os.path.exists(out))
        so, se = p.communicate(timeout=30)
        self.assertEqual((p.returncode, se), (0, b""))   # it woke up to nothing
        self.assertEqual(so.decode().splitlines(),
                         ["modules []", "tools %s" % ([None] * 6)])

    def test_attach_twice(self):
        p = self.start(30, "7", "2")
        first = os.path.join(self.tmp, "first.gz")
        second = os.path.join(self.tmp, "second.gz")
        for out in (first, second):
            r, _ = self.attach(p.pid, "-q", "--duration", "0.5", out=out)
            self.assertEqual(r.returncode, 0, r.stderr.decode())
        lines, se = self.report(p)
        self.assertEqual((p.returncode, se), (7, ""))
        self.check_gone(lines)
        a, b = Trace(first).calls("work"), Trace(second).calls("work")
        self.assertGreater(a, 0)
        self.assertGreater(b, 0)
        self.assertEqual(a + b, int(lines["recorded"]))

    def test_stop_not_taken_in_time_leaves_the_collector_to_remove_itself(self):
        script = self.write("late.py", """
            import sys, time
            def work():
                return 1
            print("busy", flush=True)
            end = time.time() + 0.8
            while time.time() < end:
                work()
            time.sleep(13)               # the stop request comes in here
            print("modules", sorted(k for k in sys.modules if "pyflame" in k))
            print("tools", [sys.monitoring.get_tool(i) for i in range(6)])
        """)
        p = subprocess.Popen([PY, script], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             env=env_without_pythonpath())
        self.assertEqual(p.stdout.readline(), b"busy\n")
        r, out = self.attach(p.pid, "--duration", "1.5")
        err = r.stderr.decode()
        self.assertEqual(r.returncode, 1, err)
        self.assertIn("did not take the stop request in time", err)
        self.assertIn("cut short: the last snapshot", err)
        left = err.split("writes its trace to ")[1].split()[0]
        self.assertTrue(left.endswith("/trace.gz"), left)
        self.assertGreater(Trace(out).calls("work"), 0)
        so, se = p.communicate(timeout=30)
        try:
            # woken up, the main thread ran the stop: the collector went, nothing printed
            self.assertEqual((p.returncode, se), (0, b""))
            self.assertEqual(so.decode().splitlines(), ["modules []", "tools %s" % ([None] * 6)])
            self.assertEqual(Trace(left).calls("work"), Trace(out).calls("work"))
        finally:
            shutil.rmtree(os.path.dirname(left), ignore_errors=True)

    def refused(self, p, *want):
        try:
            r, out = self.attach(p.pid)
            self.assertEqual(r.returncode, 1, r.stderr.decode())
            for w in want:
                self.assertIn(w, r.stderr.decode())
            self.assertFalse(os.path.exists(out))
        finally:
            p.kill()
            p.communicate()

    def test_remote_debugging_disabled_by_environment(self):
        env = env_without_pythonpath()
        env["PYTHON_DISABLE_REMOTE_DEBUG"] = "1"
        self.refused(self.start(20, env=env), "has remote debugging disabled",
                     "PYTHON_DISABLE_REMOTE_DEBUG", "-X disable-remote-debug",
                     "`pyflame-c attach` (no --calls)")

    def test_remote_debugging_disabled_by_option(self):
        self.refused(self.start(20, pyargs=["-X", "disable-remote-debug"]),
                     "has remote debugging disabled")

    @unittest.skipUnless(os.path.exists(PY313), "no CPython 3.13 at " + PY313)
    def test_313_target_says_why(self):
        self.refused(self.start(20, py=PY313), "runs Python 3.13: attach --calls needs "
                     "CPython 3.14 or later")

    def test_process_under_collect_is_refused_and_keeps_its_recording(self):
        script = self.write("prog.py", PROGRAM)
        out = os.path.join(self.tmp, "collected.gz")
        c = subprocess.Popen([BIN, "collect", "-q", "--python", PY, "-o", out, script, "3"],
                             cwd=self.tmp, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             env=env_without_pythonpath())
        self.assertEqual(c.stdout.readline(), b"started\n")
        self.assertEqual(c.stdout.readline(), b"ready\n")
        kids = []
        for tid in os.listdir("/proc/%d/task" % c.pid):
            with open("/proc/%d/task/%s/children" % (c.pid, tid)) as f:
                kids += [int(k) for k in f.read().split()]
        self.assertEqual(len(kids), 1, kids)
        r, calls = self.attach(kids[0])
        self.assertEqual(r.returncode, 1)
        self.assertIn("the collector could not start in process %d: process %d is already "
                      "being recorded" % (kids[0], kids[0]), r.stderr.decode())
        self.assertFalse(os.path.exists(calls))
        so, se = c.communicate(timeout=60)
        self.assertEqual((c.returncode, se), (7, b""))
        self.assertIn("seen False", so.decode())      # our module never showed
        self.assertGreater(Trace(out).calls("work"), 1000)

    @unittest.skipUnless(os.geteuid() == 0 and os.path.exists("/usr/bin/setpriv"),
                         "needs root and setpriv to attach as another user")
    def test_permission_error_says_what_is_needed(self):
        p = self.start(20)
        try:
            r = subprocess.run(["/usr/bin/setpriv", "--reuid=65534", "--regid=65534",
                                "--clear-groups", BIN, "attach", "--calls", "-o", "/tmp/x.gz",
                                str(p.pid)], stderr=subprocess.PIPE, timeout=60)
            self.assertEqual(r.returncode, 1)
            msg = r.stderr.decode()
            self.assertIn("not allowed to read the memory of process %d" % p.pid, msg)
            self.assertIn("CAP_SYS_PTRACE", msg)
        finally:
            p.kill()
        lines, se = self.report(p)
        self.assertEqual(se, "")

    def test_not_python_and_no_process(self):
        self.refused(subprocess.Popen(["sleep", "20"]), "does not look like CPython")
        r = subprocess.run([BIN, "attach", "--calls", "4194000"], stderr=subprocess.PIPE)
        self.assertEqual(r.returncode, 1)
        self.assertIn("no process 4194000", r.stderr.decode())

    def test_options(self):
        h = subprocess.run([BIN, "attach", "--help"], stdout=subprocess.PIPE).stdout.decode()
        self.assertIn("--calls", h)
        r = subprocess.run([BIN, "attach", "--calls", "--rate", "10", "1"],
                           stderr=subprocess.PIPE)
        self.assertEqual(r.returncode, 2)
        self.assertIn("--rate and --sample-mode are for sampling", r.stderr.decode())


if __name__ == "__main__":
    unittest.main()
