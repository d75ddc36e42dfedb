"""Integration tests of the RSS record (issue 15): under `pyflame-c collect` each process's
resident set size is sampled over time (collector/rss.h) and its peak and final values
land in the trace, in the root process and in children.

Run by scripts/run-integration.sh under every interpreter, or by hand:
    PYFLAME_C=build/pyflame-c PYFLAME_PYTHON=python3.12 python3.12 tests/integration/test_rss.py
"""
import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_collect import BIN, CollectTestCase, Trace  # noqa: E402

MB = 1 << 20
TIMEOUT = 120

# Allocates ~100 MB, touches it (so it is resident), holds it 0.3 s, frees it.
SPIKE = """
import time
def spike():
    b = bytearray(100 * 1024 * 1024)
    for i in range(0, len(b), 4096):
        b[i] = 1
    time.sleep(0.3)
    del b
spike()
time.sleep(0.1)
"""


class TestRss(CollectTestCase):
    def run_ok(self, src):
        script = self.write("prog.py", src)
        r, out = self.collect([script], timeout=TIMEOUT)
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        return out, Trace(out)

    def check_spike(self, rss):
        self.assertIsNotNone(rss)
        self.assertGreaterEqual(rss["peak"], 100 * MB, rss)
        self.assertLess(rss["final"], rss["peak"] - 50 * MB, rss)
        samples = rss["samples"]
        self.assertGreater(len(samples), 10)
        times = [t for t, _ in samples]
        self.assertEqual(times, sorted(times))
        # the samples see the spike (the thread samples while the program holds the GIL)
        self.assertGreaterEqual(max(b for _, b in samples), 100 * MB)
        self.assertGreaterEqual(times[-1] - times[0], 300_000_000)
        self.assertLessEqual(max(b for _, b in samples), rss["peak"])

    def test_root_process_spike(self):
        out, t = self.run_ok(SPIKE)
        procs = t.d["processes"]
        self.assertEqual(len(procs), 1)
        self.check_spike(procs[0]["rss"])
        text = subprocess.run([BIN, "convert", "-f", "text", out], capture_output=True)
        self.assertEqual(text.returncode, 0, text.stderr.decode())
        self.assertRegex(text.stdout.decode(), r"RSS: +peak \d+(\.\d+)? MiB, at exit ")

    def test_child_process_spike(self):
        out, t = self.run_ok("""
            import os, sys, subprocess
            pid = os.fork()
            if pid == 0:
                exec(compile(%r, "spike", "exec"))
                os._exit(0)
            os.waitpid(pid, 0)
            subprocess.run([sys.executable, "-c", %r], check=True)
        """ % (SPIKE, SPIKE))
        procs = t.d["processes"]
        self.assertEqual(len(procs), 3, procs)
        for p in procs[1:]:
            self.check_spike(p["rss"])
        self.assertIsNotNone(procs[0]["rss"])
        html = os.path.join(self.tmp, "r.html")
        r = subprocess.run([BIN, "html", out, "-o", html], capture_output=True)
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        with open(html, encoding="utf-8") as f:
            page = f.read()
        self.assertTrue('<figure class="rss"' in page and "<path" in page, "no RSS plot")


if __name__ == "__main__":
    unittest.main()
