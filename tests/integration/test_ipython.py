"""Integration tests of the IPython magics (collector/pyflame/_ipython.py): Debian's
python3-ipython loads the extension (`%load_ext pyflame`), runs `%pyflame STATEMENT` and
`%%pyflame` cells with the collect options, and the result's rich display data is
checked: an `image/svg+xml` flame graph (well-formed, interactive, scoped to itself),
a `text/html` frame holding it with the text table, and `text/plain` (the table); the
result is kept in a variable, the cell runs in the user's namespace, the code's own
exception still reaches the user.  Also `ipython -c`.  Skipped without IPython.

    PYFLAME_C=build/pyflame-c PYFLAME_PYTHON=/usr/bin/python3 /usr/bin/python3 tests/integration/test_ipython.py
"""
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import unittest
import xml.dom.minidom

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_collect import BIN, PKG_PARENT  # noqa: E402

try:
    import IPython  # noqa: F401
    HAVE_IPYTHON = True
except ImportError:
    HAVE_IPYTHON = False

DRIVER = textwrap.dedent(r'''
    import json, sys
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.core.error import UsageError
    ip = InteractiveShell.instance()
    out = {}
    ip.run_line_magic("load_ext", "pyflame")
    ip.run_cell("def fib(n):\n    return n if n < 2 else fib(n - 1) + fib(n - 2)\n")
    res = ip.run_line_magic("pyflame", "--lines --var prof fib(18)")
    data, _ = ip.display_formatter.format(res)
    out["line"] = {"mimes": sorted(data), "svg": data["image/svg+xml"],
                   "html": data["text/html"], "text": data["text/plain"],
                   "kept": ip.user_ns["prof"] is res, "path": res.path,
                   "modes": res.data()["meta"]["modes"]}
    cell = "blocks = [bytes(1000) for _ in range(2000)]\nn = fib(12)\n"
    res = ip.run_cell_magic("pyflame", "--memory --clock cpu -o %s" % sys.argv[1], cell)
    out["cell"] = {"path": res.path, "n": ip.user_ns.get("n"),
                   "blocks": len(ip.user_ns.get("blocks", ())),
                   "default_var": ip.user_ns["_pyflame"] is res,
                   "modes": res.data()["meta"]["modes"], "text": res.text}
    try:
        ip.run_line_magic("pyflame", "--var failed 1 / 0")
        out["raised"] = None
    except ZeroDivisionError:
        out["raised"] = "ZeroDivisionError"
    out["failed_kept"] = "failed" in ip.user_ns
    errors = []
    for bad in ("--bogus fib(3)", "--clock moon fib(3)", "--lines"):
        try:
            ip.run_line_magic("pyflame", bad)
        except UsageError as e:
            errors.append(str(e))
    out["errors"] = errors
    print(json.dumps(out))
    ''')


@unittest.skipUnless(HAVE_IPYTHON, "no IPython in this interpreter")
class TestIPythonMagics(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="pf-ipython-")
        cls.env = dict(os.environ, PYTHONPATH=PKG_PARENT, PYFLAME_C=BIN,
                       IPYTHONDIR=os.path.join(cls.tmp, "ipython"))
        driver = os.path.join(cls.tmp, "driver.py")
        with open(driver, "w") as f:
            f.write(DRIVER)
        cls.cell_trace = os.path.join(cls.tmp, "cell.gz")
        r = subprocess.run([sys.executable, driver, cls.cell_trace], cwd=cls.tmp, env=cls.env,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=300)
        if r.returncode != 0:
            raise AssertionError(r.stderr.decode())
        cls.out = json.loads(r.stdout.decode().strip().splitlines()[-1])

    @classmethod
    def tearDownClass(cls):
        import shutil
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_line_magic_rich_display(self):
        o = self.out["line"]
        self.assertEqual(o["mimes"], ["image/svg+xml", "text/html", "text/plain"])
        doc = xml.dom.minidom.parseString(o["svg"].encode())     # well-formed
        root = doc.documentElement
        self.assertEqual(root.tagName, "svg")
        self.assertEqual(root.getAttribute("class"), "pyflame-fg")
        titles = [t.firstChild.data for t in doc.getElementsByTagName("title") if t.firstChild]
        self.assertTrue(any(t.startswith("fib (") for t in titles), titles[:5])
        self.assertEqual(doc.getElementsByTagName("script").length, 1)
        title = [t for t in doc.getElementsByTagName("text") if t.getAttribute("id") == "title"]
        self.assertEqual(title[0].firstChild.data, "fib(18): wall time")
        # the script defines no global but in a standalone document (window.pyflame)
        script = doc.getElementsByTagName("script")[0].firstChild.data
        self.assertIn("if (standalone) window.pyflame", script)
        self.assertTrue(script.strip().startswith("/*") and "(function () {" in script)
        # the notebook view: a sandboxed frame (its own document) holding the graph
        self.assertIn('<iframe sandbox="allow-scripts"', o["html"])
        self.assertIn("&lt;svg", o["html"])
        self.assertIn("8361/1", o["text"])                      # fib(18)'s calls
        self.assertIn("fib", o["text"])
        self.assertTrue(o["kept"])
        self.assertTrue(os.path.exists(o["path"]))
        self.assertEqual(o["modes"] & 3, 3)                      # calls + lines

    def test_cell_magic_options_and_namespace(self):
        o = self.out["cell"]
        self.assertEqual(o["path"], self.cell_trace)
        self.assertEqual((o["n"], o["blocks"]), (144, 2000))
        self.assertTrue(o["default_var"])
        self.assertEqual(o["modes"] & 7, 7)                      # calls, lines, memory
        self.assertIn("Clock:   CPU", o["text"])
        self.assertIn("alloc", o["text"])

    def test_errors(self):
        self.assertEqual(self.out["raised"], "ZeroDivisionError")
        self.assertTrue(self.out["failed_kept"])
        errs = self.out["errors"]
        self.assertEqual(len(errs), 3, errs)
        self.assertIn("unknown option '--bogus'", errs[0])
        self.assertIn("--clock takes wall or cpu", errs[1])
        self.assertIn("nothing to profile", errs[2])

    def test_ipython_command_line(self):
        code = ("%load_ext pyflame\n"
                "def work():\n    return sum(i * i for i in range(20000))\n"
                "r = %pyflame --var r work()\n"
                "print(r.text)\n"
                "print(sorted(r._repr_mimebundle_()))\n")
        r = subprocess.run([sys.executable, "-m", "IPython", "--quick", "--no-banner",
                            "--colors=NoColor", "-c", code], cwd=self.tmp, env=self.env,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=300)
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        out = r.stdout.decode()
        self.assertIn("work", out)
        self.assertIn("<genexpr>", out)
        self.assertIn("['image/svg+xml', 'text/html', 'text/plain']", out)


if __name__ == "__main__":
    unittest.main()
