"""Integration tests of the pytest plugin (collector/pyflame/_pytest_plugin.py): Debian's
python3-pytest runs a small suite, found through the package's pytest11 entry point (the
dist-info beside it) or `-p pyflame`; the session trace holds one root per test, named
by its node id, with that test's calls; --pyflame-per-test writes a trace per test;
--pyflame-lines and --pyflame-memory record lines and memory; pytest's output (but our
one summary line) and exit status are those of a run without the plugin, failing tests
included.  Skipped under an interpreter without pytest.

    PYFLAME_C=build/pyflame-c PYFLAME_PYTHON=/usr/bin/python3 /usr/bin/python3 tests/integration/test_pytest.py
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_collect import BIN, PKG_PARENT, Trace  # noqa: E402

try:
    import pytest  # noqa: F401
    HAVE_PYTEST = True
except ImportError:
    HAVE_PYTEST = False

SUITE = {
    "test_math.py": """
        import pytest

        def fib(n):
            return n if n < 2 else fib(n - 1) + fib(n - 2)

        def test_fib():
            assert fib(15) == 610

        def test_fails():
            assert fib(5) == 6, "fib(5) is not 6"

        @pytest.mark.parametrize("n", [3, 4])
        def test_param(n):
            assert fib(n) > 0
        """,
    "sub/test_more.py": """
        import pytest

        class TestWords:
            def test_sorted(self):
                assert sorted("pyflame") == list("aeflmpy")

            def test_alloc(self):
                data = [bytes(1000) for _ in range(100)]
                assert len(data) == 100

        def test_error():
            raise ValueError("boom")

        @pytest.mark.skip(reason="not today")
        def test_skipped():
            pass
        """,
}
TESTS = ["test_math.py::test_fib", "test_math.py::test_fails", "test_math.py::test_param[3]",
         "test_math.py::test_param[4]", "sub/test_more.py::TestWords::test_sorted",
         "sub/test_more.py::TestWords::test_alloc", "sub/test_more.py::test_error"]


def normalized(out):
    """pytest's output without our summary line and its timings."""
    lines = [ln for ln in out.decode().splitlines()
             if not ln.startswith("pyflame:") and not ln.startswith("plugins:")]
    return re.sub(r" in \d+\.\d+s", " in Xs", "\n".join(lines))


@unittest.skipUnless(HAVE_PYTEST, "no pytest in this interpreter")
class TestPytestPlugin(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="pf-pytest-")
        for name, src in SUITE.items():
            path = os.path.join(self.tmp, name)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w") as f:
                f.write(textwrap.dedent(src))

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def pytest(self, *args, plugin=True, autoload=True):
        env = dict(os.environ)
        env.pop("PYTHONPATH", None)
        env["PYFLAME_C"] = BIN
        if plugin:
            env["PYTHONPATH"] = PKG_PARENT
        if not autoload:
            env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
        return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider",
                               "-rA"] + list(args), cwd=self.tmp, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=300)

    def roots(self, path):
        t = Trace(path)
        return t, {t.name(n): i for i, n in enumerate(t.nodes) if n["parent"] is None}

    def calls_under(self, t, root, name):
        return sum(n["calls"] for i, n in enumerate(t.nodes)
                   if t.name(n) == name and root in t.ancestors(i))

    def test_session_trace_and_unchanged_output(self):
        plain = self.pytest(plugin=False)
        r = self.pytest("--pyflame")
        self.assertEqual(plain.returncode, 1, plain.stdout.decode())
        self.assertEqual(r.returncode, plain.returncode)
        self.assertEqual(normalized(r.stdout), normalized(plain.stdout))
        self.assertEqual(r.stderr, plain.stderr)
        self.assertIn("pyflame: wrote prof/session.gz (7 tests)", r.stdout.decode())
        t, roots = self.roots(os.path.join(self.tmp, "prof", "session.gz"))
        self.assertEqual(sorted(roots), sorted(TESTS))
        self.assertEqual(self.calls_under(t, roots["test_math.py::test_fib"], "fib"), 1973)
        self.assertEqual(self.calls_under(t, roots["test_math.py::test_fails"], "fib"), 15)
        self.assertEqual(self.calls_under(t, roots["test_math.py::test_param[4]"], "fib"), 9)
        self.assertEqual(self.calls_under(t, roots["test_math.py::test_fib"], "test_fib"), 1)
        self.assertEqual(self.calls_under(t, roots["sub/test_more.py::test_error"],
                                          "test_error"), 1)
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "prof", "tests")))

    def test_passing_suite_status_zero(self):
        r = self.pytest("--pyflame", "test_math.py::test_fib", "sub/test_more.py::TestWords")
        self.assertEqual(r.returncode, 0, r.stdout.decode())
        t, roots = self.roots(os.path.join(self.tmp, "prof", "session.gz"))
        self.assertEqual(len(roots), 3)

    def test_dash_p_without_autoload_and_dir(self):
        r = self.pytest("-p", "pyflame", "--pyflame=out/x", "test_math.py", autoload=False)
        self.assertEqual(r.returncode, 1)
        _, roots = self.roots(os.path.join(self.tmp, "out", "x", "session.gz"))
        self.assertEqual(len(roots), 4)
        # without -p (and autoload off) the option does not exist: pytest says so
        r = self.pytest("--pyflame", "test_math.py", autoload=False)
        self.assertEqual(r.returncode, 4)

    def test_bare_option_does_not_take_a_test_path(self):
        r = self.pytest("--pyflame", "sub")
        self.assertEqual(r.returncode, 1)
        _, roots = self.roots(os.path.join(self.tmp, "prof", "session.gz"))
        self.assertEqual(sorted(roots), sorted(TESTS[4:]))

    def test_per_test_lines_and_memory(self):
        r = self.pytest("--pyflame", "--pyflame-per-test", "--pyflame-lines",
                        "--pyflame-memory", "sub/test_more.py")
        self.assertEqual(r.returncode, 1)
        tests = os.path.join(self.tmp, "prof", "tests")
        files = sorted(os.listdir(tests))
        self.assertEqual(files, ["sub_test_more.py_TestWords_test_alloc.gz",
                                 "sub_test_more.py_TestWords_test_sorted.gz",
                                 "sub_test_more.py_test_error.gz"])
        t, roots = self.roots(os.path.join(tests, files[0]))
        self.assertEqual(list(roots), ["sub/test_more.py::TestWords::test_alloc"])
        self.assertEqual(t.meta["modes"] & 7, 7)          # calls, lines, memory
        lines = subprocess.run([BIN, "convert", "-f", "lines",
                                os.path.join(self.tmp, "prof", "session.gz")],
                               stdout=subprocess.PIPE, check=True).stdout.decode()
        rows = [ln.split("\t") for ln in lines.splitlines()[1:]]
        alloc = [r for r in rows if r[2] == "TestWords.test_alloc" and r[1] == "9"]
        self.assertEqual(len(alloc), 1, lines)
        self.assertGreaterEqual(int(alloc[0][6]), 100 * 1000)   # alloc_bytes

    def test_no_option_no_trace(self):
        r = self.pytest("test_math.py")
        self.assertEqual(r.returncode, 1)
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "prof")))
        self.assertNotIn("pyflame:", r.stdout.decode())
        self.assertIn("plugins: pyflame-c-", r.stdout.decode())     # found by its entry point


if __name__ == "__main__":
    unittest.main()
