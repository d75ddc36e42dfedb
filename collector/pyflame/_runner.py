"""_runner.py: runs a program under `pyflame-c collect` so that it cannot tell.

The CLI executes  PY -c BOOTSTRAP PKGDIR OUT DISPLAY FLAGS PYNAME TARGET ARGS...
BOOTSTRAP loads this package from PKGDIR into sys.modules['pyflame'] (without touching
sys.path) and calls main(), which then does what python3 itself does for
`python3 TARGET ARGS` (or `python3 -m TARGET ARGS`): sys.argv, sys.path[0], the
__main__ namespace, tracebacks without our frames, exit status, KeyboardInterrupt's
death by SIGINT.  The collector records the program from its first line; the trace is
written at interpreter exit (after non-daemon threads end), at SIGTERM (then the
process still dies of SIGTERM), or just before os._exit().

A forked child stops recording: it inherits the parent's session in memory, drops it
without writing, and runs unprofiled (the parent's trace is not affected).
"""
import os
import sys

import pyflame
from pyflame import _collector

_MAIN_KEYS = ("__name__", "__doc__", "__package__", "__loader__", "__spec__",
              "__annotations__", "__builtins__")
# Python 3.15 no longer sets __cached__ in __main__ (neither for a script nor for -m).
_SETS_CACHED = sys.version_info < (3, 15)


class _State:
    done = False          # trace written (or dropped, in a forked child)
    sigint = False        # die of SIGINT at the end, like python3 after a KeyboardInterrupt
    quiet = False
    display = "trace.gz"


_state = _State()


def _human(n):
    if n < 0:
        return "?"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return ("%d %s" % (n, unit)) if unit == "B" else ("%.1f %s" % (n, unit))
        n /= 1024.0


def _finish():
    """Stops recording, writes the trace and prints the summary line (once)."""
    if _state.done:
        return
    _state.done = True
    if not _collector.active():
        return
    try:
        s = _collector.stop()
    except Exception as e:  # the program's exit status must not change because of us
        sys.stderr.write("pyflame-c: %s\n" % (e,))
        sys.stderr.flush()
        return
    err = sys.stderr
    try:
        if not _state.quiet:
            peak = ""
            if s.get("peak_live_bytes"):
                peak = ", memory peak %s" % _human(s["peak_live_bytes"])
            err.write("pyflame-c: wrote %s (%s, %s calls recorded%s)\n"
                      % (_state.display, _human(s["size"]), format(s["calls"], ","), peak))
        for g in s.get("gaps", ()):
            err.write("pyflame-c: warning: not recorded: %s\n" % g)
        err.write(_lines_warning(s))
        if s["oom"]:
            err.write("pyflame-c: memory was exhausted while profiling: recording stopped "
                      "early, the trace holds what was recorded until then\n")
        err.flush()
    except Exception:
        pass


def _lines_warning(summary):
    """The warning for stop()'s summary when line tracing was on but selected nothing."""
    if summary.get("lines") and not summary.get("lines_selected"):
        return ("pyflame-c: warning: --lines: no file matched the selection, so no line was "
                "recorded; choose files with --include GLOB\n")
    return ""


def _at_exit():
    _finish()
    if _state.sigint:
        # what python3 does after an uncaught KeyboardInterrupt: die of SIGINT
        import signal
        for f in (sys.stdout, sys.stderr):
            try:
                f.flush()
            except Exception:
                pass
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)


def _install_exit_hooks():
    import atexit
    import functools
    import signal

    # Registered first, so it runs last: after the program's own atexit handlers and
    # after Python has waited for non-daemon threads.
    atexit.register(_at_exit)

    real_exit = os._exit

    @functools.wraps(real_exit)
    def _exit(status):
        _finish()
        real_exit(status)

    os._exit = _exit

    if hasattr(os, "register_at_fork"):
        os.register_at_fork(after_in_child=_forked_child)

    real_signal, real_getsignal = signal.signal, signal.getsignal
    if real_getsignal(signal.SIGTERM) != signal.SIG_DFL:
        return

    def _on_sigterm(signum, frame):
        _finish()
        real_signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)

    # The program sees SIGTERM's disposition as SIG_DFL, as it would without us; a
    # handler it installs replaces ours.
    @functools.wraps(real_getsignal)
    def getsignal(signalnum):
        h = real_getsignal(signalnum)
        return signal.SIG_DFL if h is _on_sigterm else h

    @functools.wraps(real_signal)
    def signal_(signalnum, handler):
        old = real_signal(signalnum, handler)
        return signal.SIG_DFL if old is _on_sigterm else old

    real_signal(signal.SIGTERM, _on_sigterm)
    signal.getsignal = getsignal
    signal.signal = signal_


def _line_profile(func):
    """kernprof's `profile` decorator: records func's lines (returns func unchanged)."""
    code = getattr(func, "__code__", None)
    if code is None:                       # a method object, classmethod, property...
        code = getattr(getattr(func, "__func__", None), "__code__", None)
    if code is not None:
        _collector.mark(code)
    return func


def _install_profile_builtin():
    import builtins
    if not hasattr(builtins, "profile"):
        builtins.profile = _line_profile


def _forked_child():
    _state.done = True
    _collector.forget()


def _strip(tb):
    while tb is not None and tb.tb_frame.f_code.co_filename.startswith(pyflame._OURS):
        tb = tb.tb_next
    return tb


def _report_uncaught(exc):
    """Prints an uncaught exception as python3 would, without our frames."""
    tb = _strip(exc.__traceback__)
    exc.__traceback__ = tb
    sys.last_type, sys.last_value, sys.last_traceback = type(exc), exc, tb
    if sys.version_info >= (3, 12):
        sys.last_exc = exc
    try:
        sys.excepthook(type(exc), exc, tb)
    except BaseException:
        pass


def _clean_main():
    g = sys.modules["__main__"].__dict__
    for k in list(g):
        if k not in _MAIN_KEYS:
            del g[k]
    return g


def _setup_script(g, pyname, target, args):
    import io
    sys.argv[:] = [target] + args
    if hasattr(sys, "orig_argv"):
        sys.orig_argv = [pyname, target] + args
    sys.path[0] = os.path.dirname(os.path.realpath(target))
    filename = os.path.abspath(target) if sys.version_info >= (3, 9) else target
    try:
        with io.open_code(target) as f:
            source = f.read()
    except OSError as e:
        sys.stderr.write("%s: can't open file %r: [Errno %d] %s\n"
                         % (pyname, filename, e.errno, e.strerror))
        sys.exit(2)
    loader_type = sys.modules["_frozen_importlib_external"].SourceFileLoader
    g["__file__"] = filename
    if _SETS_CACHED:
        g["__cached__"] = None
    g["__loader__"] = loader_type("__main__", filename)
    g["__spec__"] = None
    g["__package__"] = None
    g["__doc__"] = None
    g["__name__"] = "__main__"
    return compile(source, filename, "exec", dont_inherit=True)


def _setup_module(g, pyname, target, args):
    """python3 -m TARGET: sets sys.argv, sys.orig_argv and sys.path[0] as python3 does
    before it looks the module up, and returns the code to run under the collector (in
    globals of its own, not g): the call python3 -m makes, runpy._run_module_as_main.  So
    the import of the parent packages, the module's lookup and its errors (`No module
    named x`, a package without __main__), sys.argv[0], __main__'s globals, the
    tracebacks and exit statuses are python3's own, and all of it is recorded.  The
    code's frame is ours: the trace and tracebacks leave it out (its file is under
    pyflame._OURS)."""
    import runpy
    sys.argv[:] = ["-m"] + args
    if hasattr(sys, "orig_argv"):
        sys.orig_argv = [pyname, "-m", target] + args
    sys.path[0] = os.getcwd()
    code = compile("run(%r)" % (target,), os.path.abspath(__file__), "exec", dont_inherit=True)
    return code, {"__builtins__": g["__builtins__"], "run": runpy._run_module_as_main}


def _is_install_folder(folder):
    """True for the standard library's folders and site-packages/dist-packages ones."""
    stdlib = os.path.dirname(os.path.abspath(os.__file__))
    parts = folder.split(os.sep)
    return (folder in (stdlib, os.path.join(stdlib, "lib-dynload"))
            or "site-packages" in parts or "dist-packages" in parts)


def _module_roots(name):
    """The -m program's own code for --lines, as collector roots: the top package's
    folder (every portion of a namespace package), even in site-packages; for a
    top-level module its folder, or the file alone when that folder is the standard
    library's or an install folder.  Found the way the path finder looks (the first
    sys.path entry with a regular package or a module wins over namespace portions),
    with stat calls only: the module's lookup must be recorded, and must not find the
    import caches already filled.  [] when no sys.path entry holds it (a custom
    finder): then only --include selects files."""
    import importlib.machinery
    top = name.partition(".")[0]
    suffixes = importlib.machinery.all_suffixes()
    portions = []
    for entry in sys.path:
        if not isinstance(entry, str):
            continue
        base = os.path.join(os.path.abspath(entry or os.curdir), top)
        is_dir = os.path.isdir(base)
        if is_dir and any(os.path.isfile(os.path.join(base, "__init__" + s)) for s in suffixes):
            return _both_spellings([base + os.sep])
        for s in suffixes:
            if os.path.isfile(base + s):
                folder = os.path.dirname(base)
                return _both_spellings([base + s if _is_install_folder(folder) else folder + os.sep])
        if is_dir:
            portions.append(base + os.sep)
    return _both_spellings(portions)


def _both_spellings(roots):
    """roots, plus their real paths where a symbolic link makes them differ (a file's
    name is the one its sys.path entry gives, or its real path when that is relative)."""
    out = list(roots)
    for r in roots:
        real = os.path.realpath(r) + (os.sep if r.endswith(os.sep) else "")
        if real not in out:
            out.append(real)
    return out


def main():
    # sys.argv: ['-c', PKGDIR, OUT, DISPLAY, FLAGS, PYNAME, TARGET, ARGS...]
    _, _pkgdir, out, display, flags, pyname, target = sys.argv[:7]
    args = sys.argv[7:]
    opts = dict(kv.split("=", 1) for kv in flags.split(",") if "=" in kv)
    _state.quiet = opts.get("quiet") == "1"
    _state.display = display
    g = _clean_main()
    run_globals = g
    try:
        if opts.get("module") == "1":
            code, run_globals = _setup_module(g, pyname, target, args)
        else:
            code = _setup_script(g, pyname, target, args)
    except SystemExit:
        raise
    except BaseException as e:  # e.g. a SyntaxError in the program: not profiled yet
        _report_uncaught(e)
        sys.exit(1)
    _install_exit_hooks()
    globs = {}
    for k in ("PYFLAME_C_INCLUDE", "PYFLAME_C_EXCLUDE"):
        globs[k] = [p for p in os.environ.pop(k, "").split("\n") if p]
    meta = pyflame._meta()
    if opts.get("module") == "1":
        roots = _module_roots(target)
        # sys.argv[0] is "-m" until the module is found: the trace names the module
        meta["argv"] = ["-m", target] + args
    else:
        roots = [os.path.dirname(os.path.abspath(target)).rstrip(os.sep) + os.sep]
    _install_profile_builtin()
    _collector.start(out, meta=meta, limit=int(opts.get("limit", "0")),
                     defer=True, floor=opts.get("floor") == "1", ours=pyflame._OURS,
                     lines=opts.get("lines") == "1", memory=opts.get("memory") == "1",
                     root=roots,
                     include=globs["PYFLAME_C_INCLUDE"], exclude=globs["PYFLAME_C_EXCLUDE"])
    try:
        _collector.run(code, run_globals)
    except SystemExit:
        raise
    except BaseException as e:
        _report_uncaught(e)
        if isinstance(e, KeyboardInterrupt):
            _state.sigint = True
        del e
    else:
        return
    sys.exit(1)
