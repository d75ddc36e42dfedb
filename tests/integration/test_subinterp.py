"""Integration tests of the collector in subinterpreters: not supported, and said so.

The collector's session and hooks are process-wide, so pyflame._collector loads in the
main interpreter only; in a subinterpreter (legacy or isolated) importing it, or the
pyflame package, raises ImportError, and the main interpreter's state is untouched.
Run by scripts/run-integration.sh under every interpreter, or by hand:
    PYFLAME_C=build/pyflame-c PYFLAME_PYTHON=python3.12 python3.12 tests/integration/test_subinterp.py
"""
import os
import shutil
import sys
import tempfile
import textwrap
import unittest

BIN = os.path.abspath(os.environ.get("PYFLAME_C", "build/pyflame-c"))
PKG_PARENT = os.path.join(os.path.dirname(BIN), "python")
sys.path.insert(0, PKG_PARENT)
from pyflame import _collector  # noqa: E402  (the extension built for this interpreter)


def runners():
    """{name: run(code)} for every way this interpreter has to run code in a new
    subinterpreter."""
    out = {}
    try:
        import _testcapi
        if hasattr(_testcapi, "run_in_subinterp"):
            out["legacy (_testcapi.run_in_subinterp)"] = _testcapi.run_in_subinterp
    except ImportError:
        pass
    for modname in ("_interpreters", "_xxsubinterpreters"):
        try:
            mod = __import__(modname)
        except ImportError:
            continue

        def run(code, mod=mod):
            interp = mod.create()
            try:
                mod.run_string(interp, code)
            finally:
                mod.destroy(interp)
        out[modname] = run
        break
    return out


class TestSubinterpreters(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="pf-subinterp-")
        self.runners = runners()
        if not self.runners:
            self.skipTest("this interpreter cannot create subinterpreters")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def import_in_subinterpreter(self, run, module):
        """What importing module in a new subinterpreter gives: 'imported' or the
        ImportError's message prefixed with 'ImportError: '."""
        result = os.path.join(self.tmp, "result.txt")
        run(textwrap.dedent("""
            import sys
            sys.path.insert(0, %r)
            try:
                import %s
                r = "imported"
            except ImportError as e:
                r = "ImportError: " + str(e)
            with open(%r, "w") as f:
                f.write(r)
        """ % (PKG_PARENT, module, result)))
        with open(result) as f:
            return f.read()

    def test_import_in_a_subinterpreter_raises_import_error(self):
        for name, run in self.runners.items():
            for module in ("pyflame._collector", "pyflame"):
                with self.subTest(runner=name, module=module):
                    r = self.import_in_subinterpreter(run, module)
                    self.assertTrue(r.startswith("ImportError: "), r)
                    self.assertIn("subinterpreter", r)

    def test_main_interpreter_session_is_untouched(self):
        path = os.path.join(self.tmp, "main.gz")

        def work():
            return sum(range(10))
        _collector.start(path)
        try:
            for name, run in self.runners.items():
                r = self.import_in_subinterpreter(run, "pyflame._collector")
                self.assertTrue(r.startswith("ImportError: "), r)
                self.assertTrue(_collector.active())
            work()
        finally:
            summary = _collector.stop()
        self.assertFalse(_collector.active())
        self.assertGreater(summary["calls"], 0)
        t = _collector.read_trace(path)
        names = {c["name"] for c in t["codes"]}
        self.assertIn("work", names)


if __name__ == "__main__":
    unittest.main()
