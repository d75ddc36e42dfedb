"""_pytest_plugin.py: `pytest --pyflame[=DIR]` profiles a test session with pyflame.

Registered through the package's pytest11 entry point (the pyflame-c dist-info that
`make install` writes beside the package), or loaded with `-p pyflame`.  Each test's
call phase is recorded on its own (pyflame.start/stop around it), under a root frame
named by the test's node id; at the end of the session the per-test traces are summed
with `pyflame-c merge` into DIR/session.gz, one root per test.  --pyflame-per-test keeps
each test's trace too, as DIR/tests/<node id>.gz.  Nothing else changes: pytest's
output (one summary line is added), outcomes, tracebacks and exit status are its own.
"""
import os
import re
import shutil
import sys
import tempfile

import pytest

import pyflame
from pyflame import _tools

DEFAULT_DIR = "prof"


def pytest_addoption(parser):
    g = parser.getgroup("pyflame", "profiling with pyflame-c")
    g.addoption("--pyflame", dest="pyflame", nargs="?", const=DEFAULT_DIR, default=None,
                metavar="DIR",
                help="profile each test's calls with pyflame; write the session's trace to "
                     "DIR/session.gz (default DIR: %s; give another as --pyflame=DIR)"
                     % DEFAULT_DIR)
    g.addoption("--pyflame-per-test", dest="pyflame_per_test", action="store_true",
                help="with --pyflame: also write one trace per test, DIR/tests/NODEID.gz")
    g.addoption("--pyflame-lines", dest="pyflame_lines", action="store_true",
                help="with --pyflame: also record the lines of the code under the rootdir "
                     "(like collect --lines)")
    g.addoption("--pyflame-memory", dest="pyflame_memory", nargs="?", const="all",
                default=None, metavar="python",
                help="with --pyflame: also record allocations per function and line (like "
                     "collect --memory; --pyflame-memory=python: CPython's allocators only)")
    g.addoption("--pyflame-clock", dest="pyflame_clock", default="wall",
                choices=("wall", "cpu"), help="with --pyflame: wall (default) or cpu time")


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config, parser, args):
    # "--pyflame" alone must not take the next argument (a test path) as its DIR.
    for i, a in enumerate(args):
        if a == "--pyflame":
            args[i] = "--pyflame=" + DEFAULT_DIR
        elif a == "--pyflame-memory":
            args[i] = "--pyflame-memory=all"


def pytest_configure(config):
    out = config.getoption("pyflame", None)
    if not out or hasattr(config, "workerinput"):      # not on xdist workers
        return
    if config.getoption("pyflame_memory") not in (None, "all", "python"):
        raise pytest.UsageError("--pyflame-memory takes no value, or =python (CPython's "
                                "allocators only), not %r" % config.getoption("pyflame_memory"))
    config.pluginmanager.register(_Session(config, out), "pyflame-session")


def _file_name(nodeid):
    """A node id as a file name: path separators and odd characters become '_'."""
    name = re.sub(r"[^A-Za-z0-9._\[\]=-]+", "_", nodeid).strip("_.")
    return (name or "test")[:200]


class _Session:
    def __init__(self, config, out):
        self.config = config
        self.dir = os.path.abspath(str(out))
        self.per_test = config.getoption("pyflame_per_test")
        memory = config.getoption("pyflame_memory")
        self.opts = {"lines": bool(config.getoption("pyflame_lines")),
                     "memory": memory or False,
                     "clock": config.getoption("pyflame_clock")}
        self.root = str(config.rootpath)
        self.parts = tempfile.mkdtemp(prefix="pyflame-pytest-")
        self.traces = []
        self.message = None

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_call(self, item):
        if pyflame.is_active():            # already recording (pyflame-c collect pytest)
            yield
            return
        path = os.path.join(self.parts, "%06d.gz" % len(self.traces))
        runtest = item.runtest
        named = _tools.named_caller(item.nodeid, "<pytest>", (item.location[1] or 0) + 1)
        opts = self.opts

        def profiled():
            pyflame.start(path, root=self.root, **opts)
            try:
                named(runtest)
            finally:
                pyflame.stop()

        item.runtest = profiled
        try:
            yield
        finally:
            try:
                del item.runtest           # the class's method again
            except AttributeError:
                item.runtest = runtest
            if os.path.exists(path):
                self.traces.append((item.nodeid, path))

    def pytest_sessionfinish(self, session):
        try:
            if not self.traces:
                self.message = "pyflame: no test ran, no trace written"
                return
            os.makedirs(self.dir, exist_ok=True)
            if self.per_test:
                tests = os.path.join(self.dir, "tests")
                os.makedirs(tests, exist_ok=True)
                for nodeid, path in self.traces:
                    shutil.copyfile(path, os.path.join(tests, _file_name(nodeid) + ".gz"))
            out = os.path.join(self.dir, "session.gz")
            try:
                _tools.run(["merge", "-q", "-o", out] + [p for _, p in self.traces])
                self.message = "pyflame: wrote %s (%d tests)%s" % (
                    os.path.relpath(out), len(self.traces),
                    ", one trace per test in %s" % os.path.relpath(os.path.join(self.dir, "tests"))
                    if self.per_test else "")
            except RuntimeError as e:
                self.message = "pyflame: no session trace: %s" % e
        finally:
            shutil.rmtree(self.parts, ignore_errors=True)

    def pytest_terminal_summary(self, terminalreporter):
        if self.message:
            terminalreporter.write_line(self.message)
