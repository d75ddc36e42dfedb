"""Integration tests of the progress line (cli/progress.c): with standard error on a
pseudo-terminal, convert, svg, html, diff, merge and collect (while it writes the trace)
show '\\r'-rewritten lines with the phase, a percentage, a rate and an ETA, erase them
when done (so their own messages start on a clean line), and print nothing of it when
standard error is not a terminal or PYFLAME_C_PROGRESS=0.  PYFLAME_C_PROGRESS_DELAY=0
shows the line at once (the default waits half a second, longer than these small runs).

    PYFLAME_C=build/pyflame-c PYFLAME_PYTHON=python3.12 python3.12 tests/integration/test_progress.py
"""
import os
import pty
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_collect import BIN  # noqa: E402

# ~350,000 distinct calling contexts (a trace of about 1 MB), so that every phase
# reports more than once.
WIDE = """
LEVELS, WIDTH, FANOUT = 10, 10, 4
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

LINE = re.compile(rb"\rpyflame-c (\w+): (?:[^\r]*?: )?(reading|building|writing) +(\d+)% "
                  rb"\([^)]*/s(?:, ETA \d+(?:m\d+)?s)?\)\x1b\[K")


def run_on_pty(cmd, env):
    """Runs cmd with stderr on a pseudo-terminal; (returncode, what it wrote there)."""
    master, slave = pty.openpty()
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=slave, env=env)
    os.close(slave)
    out = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:          # EIO: every writer closed the terminal
            break
        if not chunk:
            break
        out += chunk
    os.close(master)
    return p.wait(timeout=300), out


class TestProgress(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="pf-progress-")
        cls.script = os.path.join(cls.tmp, "wide.py")
        with open(cls.script, "w") as f:
            f.write(WIDE)
        cls.trace = os.path.join(cls.tmp, "t.gz")
        subprocess.run([BIN, "collect", "-q", "--python", sys.executable, "-o", cls.trace,
                        cls.script], check=True, timeout=300)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def env(self, **extra):
        env = dict(os.environ)
        env.pop("PYTHONPATH", None)
        env["PYFLAME_C_PROGRESS_DELAY"] = "0"
        env.update(extra)
        return env

    def out(self, name):
        return os.path.join(self.tmp, name)

    def commands(self):
        t = self.trace
        return {
            "convert": ["convert", "-f", "collapsed", "-o", self.out("c.txt"), t],
            "svg": ["svg", "-o", self.out("s.svg"), t],
            "html": ["html", "-o", self.out("h.html"), t],
            "diff": ["diff", "-o", self.out("d.txt"), t, t],
            "merge": ["merge", "-q", "-o", self.out("m.gz"), t, t],
        }

    def test_progress_on_a_terminal(self):
        for name, args in self.commands().items():
            with self.subTest(cmd=name):
                rc, out = run_on_pty([BIN] + args, self.env())
                self.assertEqual(rc, 0, out)
                lines = LINE.findall(out)
                self.assertTrue(lines, out[:500])
                self.assertTrue(all(cmd.decode() == name for cmd, _, _ in lines), lines)
                self.assertIn(b"ETA", out)
                self.assertTrue(out.endswith(b"\r\x1b[K"), out[-200:])   # erased at the end

    def test_merge_names_the_input(self):
        rc, out = run_on_pty([BIN, "merge", "-o", self.out("m2.gz"), self.trace, self.trace],
                             self.env())
        self.assertEqual(rc, 0)
        self.assertRegex(out, rb"pyflame-c merge: trace [12] of 2: reading")
        # the summary line starts on a clean line
        self.assertIn(b"\r\x1b[Kpyflame-c: merged 2 traces", out)

    def test_collect_shows_progress_while_writing(self):
        rc, out = run_on_pty([BIN, "collect", "--python", sys.executable, "-o",
                              self.out("c.gz"), self.script], self.env())
        self.assertEqual(rc, 0, out)
        self.assertRegex(out, rb"\rpyflame-c collect: (reading|writing) ")
        self.assertRegex(out, rb"\r\x1b\[Kpyflame-c: wrote ")

    def test_nothing_when_not_a_terminal(self):
        for name, args in self.commands().items():
            with self.subTest(cmd=name):
                r = subprocess.run([BIN] + args, stdin=subprocess.DEVNULL,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                   env=self.env(), timeout=300)
                self.assertEqual(r.returncode, 0)
                self.assertEqual(r.stderr, b"")
        r = subprocess.run([BIN, "collect", "--python", sys.executable, "-o", self.out("q.gz"),
                            self.script], stderr=subprocess.PIPE, env=self.env(), timeout=300)
        self.assertNotIn(b"\r", r.stderr)
        self.assertTrue(r.stderr.startswith(b"pyflame-c: wrote "), r.stderr)

    def test_switched_off(self):
        rc, out = run_on_pty([BIN] + self.commands()["svg"], self.env(PYFLAME_C_PROGRESS="0"))
        self.assertEqual((rc, out), (0, b""))


if __name__ == "__main__":
    unittest.main()
