"""Integration tests of `pyflame-c collect -m MODULE`: recorded from the first line (the
import of the package included), --lines selecting the package's own files, the warning
when a selection matches nothing, and file names that keep the package folder.

Run by scripts/run-integration.sh under every interpreter, or by hand:
    PYFLAME_C=build/pyflame-c PYFLAME_PYTHON=python3.12 python3.12 tests/integration/test_module.py
The tests on Debian's own packages (python3-docutils, python3-markdown) run when
PYFLAME_PYTHON is /usr/bin/python3 and the package is installed.
"""
import os
import pstats
import subprocess
import unittest

from test_collect import BIN, PY, CollectTestCase, Trace, env_without_pythonpath

try:
    import profiling.tracing  # noqa: F401  (3.15+: cProfile's new home)
    CPROFILE = "profiling.tracing"
except ImportError:
    CPROFILE = "cProfile"

DEBIAN_PY = "/usr/bin/python3"
LINES_WARNING = ("pyflame-c: warning: --lines: no file matched the selection, so no line was "
                 "recorded; choose files with --include GLOB\n")

# A package whose import does measurable work: __init__ imports core, which runs code.
PKG = {
    "pkg/__init__.py": """
        from . import core
        TABLE = core.build_table(50)
    """,
    "pkg/core.py": """
        def build_table(n):
            return [square(i) for i in range(n)]

        def square(i):
            return i * i

        def main(argv):
            print("main", len(build_table(3)), argv)
    """,
    "pkg/__main__.py": """
        import sys
        from .core import main
        main(sys.argv[1:])
    """,
    "pkg/sub/__init__.py": "SUB = 1\n",
    "pkg/sub/run.py": """
        from pkg import core
        core.main(["sub"])
    """,
}


def debian_has(module):
    """True when Debian's python3 has `module` and a collector is built for it."""
    if not os.path.exists(DEBIAN_PY) or os.path.realpath(PY) != os.path.realpath(DEBIAN_PY):
        return False
    r = subprocess.run([DEBIAN_PY, "-c", "import sysconfig, %s; print(sysconfig.get_config_var('EXT_SUFFIX'))"
                        % module], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                       universal_newlines=True)
    ext = r.stdout.strip()
    return r.returncode == 0 and os.path.exists(
        os.path.join(os.path.dirname(BIN), "python", "pyflame", "_collector" + ext))


class ModuleTestCase(CollectTestCase):
    def write_pkg(self, root=""):
        for name, text in PKG.items():       # line 1 is code (3.8 numbers a module from it)
            self.write(os.path.join(root, name), text.lstrip("\n"))

    def tool(self, *args, check=True):
        r = subprocess.run([BIN] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           universal_newlines=True, timeout=120)
        if check:
            self.assertEqual(r.returncode, 0, r.stderr)
        return r

    def line_files(self, trace):
        rows = self.tool("convert", "-f", "lines", trace).stdout.splitlines()[1:]
        return {row.split("\t")[0] for row in rows}

    def code_files(self, t):
        return {c["file"] for c in t.codes if c["kind"] == "python"}


class TestFirstLine(ModuleTestCase):
    def test_package_import_is_recorded(self):
        self.write_pkg()
        r, out = self.collect(["-m", "pkg", "x"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.decode(), "main 3 ['x']\n")
        t = Trace(out)
        init = os.path.join(os.path.realpath(self.tmp), "pkg", "__init__.py")
        self.assertIn(init, self.code_files(t))
        self.assertEqual(t.calls("build_table"), 2)       # at import, and from main
        self.assertEqual(t.calls("square"), 53)
        # by calls: core's module body only defines functions, and its self time can round
        # to 0 us, which drops a leaf from the default (microseconds) collapsed output
        folded = self.tool("convert", "-f", "collapsed", "--metric", "calls", out).stdout
        # the import: pkg/__init__ runs under runpy's lookup, imports core, calls it
        stacks = [ln.rsplit(" ", 1)[0].split(";") for ln in folded.splitlines()]
        init = "<module> (pkg/__init__.py:1)"
        under_init = [st[st.index(init) + 1:] for st in stacks if init in st]
        self.assertTrue(under_init, folded)
        self.assertTrue(all(st[1].startswith("_run_module_as_main (") for st in stacks), folded)
        self.assertTrue(all(st[2].startswith("_get_module_details (") for st in stacks if init in st))
        ours = [[f for f in st if "pkg/" in f] for st in under_init]
        self.assertIn(["<module> (pkg/core.py:1)"], ours)
        self.assertIn(["build_table (pkg/core.py:1)"], ours)      # called by __init__
        # python -m's own runpy frames are kept (as cProfile shows them); ours are not
        self.assertEqual(t.thread_roots(), {"MainThread": ["_run_module_as_main"]})
        self.assertFalse([f for f in self.code_files(t) if "pyflame" in f], self.code_files(t))
        self.assertFalse([c for c in t.codes if "_collector" in c["name"]])

    def test_same_functions_and_counts_as_cprofile(self):
        """Every function of the package that cProfile -m records, with its call counts."""
        self.write_pkg()
        prof = os.path.join(self.tmp, "cp.prof")
        for target in ("pkg", "pkg.sub.run"):
            r, out = self.collect(["-m", target])
            self.assertEqual(r.returncode, 0, r.stderr)
            p = self.plain(["-m", CPROFILE, "-o", prof, "-m", target])
            self.assertEqual(p.returncode, 0, p.stderr)
            here = os.path.realpath(self.tmp) + os.sep
            theirs = {(f, ln, name): (st[1], st[0])
                      for (f, ln, name), st in pstats.Stats(prof).stats.items()
                      if os.path.realpath(f).startswith(here)}
            ours = {k: v for k, v in Trace(out).func_stats().items() if k[0].startswith(here)}
            self.assertEqual(ours, theirs)
            self.assertIn(os.path.join(here, "pkg", "__init__.py"), {k[0] for k in ours})

    def test_behaves_like_python_m(self):
        """Errors, tracebacks (with runpy's frames, as python -m prints them), sys.argv,
        exit statuses: those of plain python -m."""
        self.write_pkg()
        self.write("nomain/__init__.py", "")
        self.write("bad/__init__.py", "")
        self.write("bad/syntax.py", "def f(:\n    pass\n")
        self.write("bad/raises.py", "def f():\n    raise ValueError('boom')\nf()\n")
        self.write("bad/exits.py", "import sys\nprint(sys.argv)\nsys.exit(3)\n")
        self.write("bad/imports_missing.py", "import no_such_thing_here\n")
        cases = ["no_such_module_here", "pkg.no_such", "nomain", "bad.syntax", "bad.raises",
                 "bad.exits", "bad.imports_missing", "pkg.core.x", "pkg"]
        for target in cases:
            r, _ = self.collect(["-m", target, "a", "--b"])
            p = self.plain(["-m", target, "a", "--b"])
            self.assertEqual(r.returncode, p.returncode, target)
            self.assertEqual(r.stdout, p.stdout, target)
            self.assertEqual(self.split_summary(r.stderr)[0], p.stderr.decode(), target)


class TestLines(ModuleTestCase):
    def test_lines_select_the_package_files(self):
        self.write_pkg()
        self.write("elsewhere.py", "X = 1\n")
        r, out = self.collect(["--lines", "-m", "pkg.sub.run"])
        self.assertEqual(r.returncode, 0, r.stderr)
        here = os.path.realpath(self.tmp) + os.sep
        files = {os.path.relpath(f, here) for f in self.line_files(out)}
        self.assertEqual(files, {"pkg/__init__.py", "pkg/core.py", "pkg/sub/__init__.py", "pkg/sub/run.py"})

    def test_lines_select_a_package_in_site_packages(self):
        """The package's folder counts even under site-packages; other installed
        packages beside it do not."""
        site = os.path.join(self.tmp, "venv", "lib", "site-packages")
        self.write_pkg(site)
        self.write(os.path.join(site, "other", "__init__.py"), "def f():\n    return 1\n")
        self.write(os.path.join(site, "pkg", "uses_other.py"), "import other\nprint(other.f())\n")
        env = env_without_pythonpath()
        env["PYTHONPATH"] = site
        r, out = self.collect(["--lines", "-m", "pkg.uses_other"], env=env)
        self.assertEqual(r.returncode, 0, r.stderr)
        files = {os.path.relpath(f, os.path.realpath(site)) for f in self.line_files(out)}
        self.assertEqual(files, {"pkg/__init__.py", "pkg/core.py", "pkg/uses_other.py"})
        # names start at the import root: pkg/core.py, not core.py
        text = self.tool("convert", "-f", "text", "--limit", "0", out).stdout
        self.assertIn("pkg/core.py:1(build_table)", text)

    def test_lines_of_a_top_level_module(self):
        """A module in the working folder: its folder is the program's (like a script's);
        a standard library module: the file alone."""
        self.write("mod.py", "import helper\nprint(helper.f())\n")
        self.write("helper.py", "def f():\n    return 2\n")
        r, out = self.collect(["--lines", "-m", "mod"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual({os.path.basename(f) for f in self.line_files(out)}, {"mod.py", "helper.py"})
        r, out = self.collect(["--lines", "-m", "textwrap"], input=b"")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual({os.path.basename(f) for f in self.line_files(out)}, {"textwrap.py"})

    def test_empty_selection_says_so(self):
        self.write_pkg()
        r, out = self.collect(["--lines", "--include", "*/nothing/*", "-m", "pkg"])
        self.assertEqual(r.returncode, 0, r.stderr)
        err, summary = self.split_summary(r.stderr)
        self.assertIsNotNone(summary, r.stderr)
        self.assertEqual(err, LINES_WARNING)
        self.assertTrue(Trace(out).meta["modes"] & 2, "PF_MODE_LINES: lines were asked for")
        c = self.tool("convert", "-f", "lines", out, check=False)
        self.assertNotEqual(c.returncode, 0)
        self.assertIn("line tracing was on but no file matched the selection; choose files "
                      "with collect --include GLOB", c.stderr)
        html = self.tool("html", out).stdout
        self.assertIn("line tracing was on but no file matched the selection", html)
        # a selection that matches: no warning; without --lines: none either
        r, _ = self.collect(["--lines", "-m", "pkg"])
        self.assertEqual(self.split_summary(r.stderr)[0], "")
        r, out = self.collect(["-m", "pkg"])
        self.assertEqual(self.split_summary(r.stderr)[0], "")
        self.assertEqual(Trace(out).meta["modes"], 1)
        c = self.tool("convert", "-f", "lines", out, check=False)
        self.assertIn("recorded without line tracing", c.stderr)


class TestNames(ModuleTestCase):
    def test_names_keep_the_package(self):
        self.write_pkg()
        r, out = self.collect(["-m", "pkg", "arg"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(Trace(out).meta["argv"], ["-m", "pkg", "arg"])
        text = self.tool("convert", "-f", "text", "--limit", "0", out).stdout
        self.assertIn("Command: -m pkg arg\n", text)
        self.assertIn("pkg/core.py:1(build_table)", text)
        self.assertIn("pkg/__init__.py:1(<module>)", text)
        self.assertNotIn(" core.py:", text)
        folded = self.tool("convert", "-f", "collapsed", out).stdout
        self.assertIn("build_table (pkg/core.py:1)", folded)
        self.assertNotIn("(core.py:", folded)
        svg = self.tool("svg", out).stdout
        self.assertIn("build_table (pkg/core.py:1)", svg)
        html = self.tool("html", out).stdout
        self.assertIn("pkg/core.py", html)
        self.assertNotIn(">core.py", html)
        self.assertIn("<title>Profile of pkg", html)
        prof = os.path.join(self.tmp, "p.prof")
        self.tool("convert", "-f", "pstats", "-o", prof, out)
        self.assertIn(os.path.join(os.path.realpath(self.tmp), "pkg", "core.py"),
                      {k[0] for k in pstats.Stats(prof).stats})

    def test_api_under_python_m_names_the_module(self):
        self.write_pkg()
        self.write("api/__init__.py", "")
        self.write("api/__main__.py", """
            import pyflame
            from pkg import core
            with pyflame.profile("api.gz"):
                core.build_table(3)
        """)
        env = env_without_pythonpath()
        env["PYTHONPATH"] = os.path.join(os.path.dirname(BIN), "python")
        r = subprocess.run([PY, "-m", "api", "z"], cwd=self.tmp, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, env=env, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        out = os.path.join(self.tmp, "api.gz")
        self.assertEqual(Trace(out).meta["argv"], ["-m", "api", "z"])
        self.assertIn("pkg/core.py:1(build_table)",
                      self.tool("convert", "-f", "text", "--limit", "0", out).stdout)


class TestDebianPackages(ModuleTestCase):
    """Debian's python3-docutils and python3-markdown, installed in dist-packages."""

    def run_installed(self, module, src_name, src, extra=()):
        self.write(src_name, src)
        r, out = self.collect(list(extra) + ["-m", module, src_name])
        self.assertEqual(r.returncode, 0, r.stderr)
        return r, out

    @unittest.skipUnless(debian_has("docutils"), "needs /usr/bin/python3 with python3-docutils")
    def test_docutils(self):
        r, out = self.run_installed("docutils", "in.rst", "Title\n=====\n\nSome *text*.\n",
                                    extra=["--lines"])
        self.assertEqual(self.split_summary(r.stderr)[0], "")
        files = self.line_files(out)
        self.assertTrue(files, "no line of docutils recorded")
        self.assertTrue(all("/docutils/" in f for f in files), files)
        self.assertIn("/usr/lib/python3/dist-packages/docutils/__init__.py", files)
        self.assertIn("/usr/lib/python3/dist-packages/docutils/core.py", files)
        text = self.tool("convert", "-f", "text", "--limit", "0", out).stdout
        self.assertIn(" docutils/core.py:", text)
        self.assertIn(" docutils/__init__.py:", text)

    @unittest.skipUnless(debian_has("markdown"), "needs /usr/bin/python3 with python3-markdown")
    def test_markdown_import_is_recorded(self):
        _, out = self.run_installed("markdown", "in.md", "# Title\n\nSome *text*.\n")
        t = Trace(out)
        modules = {c["file"] for c in t.codes if c["name"] == "<module>" and "/markdown/" in c["file"]}
        # the package's own modules, imported before __main__ runs (cProfile -m records them too)
        self.assertIn("/usr/lib/python3/dist-packages/markdown/__init__.py", modules)
        self.assertIn("/usr/lib/python3/dist-packages/markdown/core.py", modules)
        self.assertGreaterEqual(len(modules), 10, sorted(modules))


if __name__ == "__main__":
    unittest.main()
