"""_runner.py: runs a program under `pyflame-c collect` so that it cannot tell.

The CLI executes  PY -c BOOTSTRAP PKGDIR SESSION FLAGS PYNAME TARGET ARGS...
BOOTSTRAP loads this package from PKGDIR into sys.modules['pyflame'] (without touching
sys.path) and calls main(), which then does what python3 itself does for
`python3 TARGET ARGS` (or `python3 -m TARGET ARGS`, or `python3 -c TARGET ARGS` in a
child): sys.argv, sys.orig_argv, sys.path[0], the __main__ namespace, tracebacks
without our frames, exit status, KeyboardInterrupt's death by SIGINT.

Each process writes its own trace into the SESSION folder (PID-NS.trace, uncompressed): snapshots while
it runs, a last one if SIGTERM or SIGHUP ends it (collector/snapshot.h), its final trace
at interpreter exit (after non-daemon threads end) or just before os._exit() and the
os.exec* functions.  The CLI merges them when the program has ended.  No signal
disposition of the program is changed.

Children are followed (unless --no-follow): a forked child drops the session it
inherited and starts its own; a new interpreter started with sys.executable (subprocess,
multiprocessing's spawn and forkserver, os.exec*, os.posix_spawn*) has its command line
rewritten to start under this runner, with the interpreter options it was given.
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
    exit_code = None      # the process's exit status when known (SystemExit, os._exit)
    session = None        # the folder of the run's per-process traces
    pkgdir = None         # this package's folder, for children
    flags = ""            # the FLAGS argument, for children
    follow = True         # follow child processes
    options = None        # collector options shared by every process of the run
    python = None         # realpath of sys.executable: children running it are followed
    argv = None           # the argv the trace names while sys.argv[0] is "-m" (see main)
    sample_base = None    # --sample: this process's files in the session, without suffix
    thread_names = None   # --sample: {ident: name} of the threads started
    native = False        # --sample --native: tell the sampler which opcodes are calls
    call_ops = None       # ... as computed once (pyflame._callops), "" when it failed


_state = _State()


def _part_path():
    """This process's trace in the session folder (an exec'd image keeps the pid)."""
    import time
    return os.path.join(_state.session, "%d-%d.trace" % (os.getpid(), time.monotonic_ns()))


def _meta():
    meta = pyflame._meta()
    if _state.argv is not None and sys.argv[:1] == ["-m"]:
        meta["argv"] = list(_state.argv)
    return meta


def _command():
    """The process's command line, for its process record."""
    argv = getattr(sys, "orig_argv", None) or [sys.executable or "python3"] + sys.argv
    return " ".join(str(a) for a in argv)


def _start(forked=False):
    """Starts recording this process into a new part of the session."""
    _state.done = False
    path = _part_path()
    _collector.start(path, meta=_meta(), command=_command(),
                     ppid=os.getppid(), forked=forked, **_state.options)
    _sample_info(path)


def _sample_info(path):
    """collect --sample: the CLI's sampler reads this process's stacks from outside; tell
    it where and how (PID-NS.sample beside the part, cli/sampler.h)."""
    if not _state.options.get("sample"):
        return
    _state.sample_base = path[:-len(".trace")]
    if _state.native and _state.call_ops is None:
        try:
            from pyflame import _callops
            _state.call_ops = _callops.lines()
        except Exception:   # the sampler then warns that it has no <native> marker
            _state.call_ops = ""
    try:
        _collector.sample_info(_state.sample_base + ".sample", _state.call_ops or None)
    except OSError:
        pass
    if _state.thread_names is None:
        _state.thread_names = {}
        _name_threads()


def _name_threads():
    """Under --sample no event names the threads: note each thread's name as it starts
    (the sampler knows them by ident; PID-NS.threads at the end)."""
    import threading
    names = _state.thread_names
    names[threading.main_thread().ident] = threading.main_thread().name
    inner = threading.Thread._bootstrap_inner

    def _bootstrap_inner(self):
        names[threading.get_ident()] = self.name
        return inner(self)

    threading.Thread._bootstrap_inner = _bootstrap_inner


def _write_thread_names():
    if _state.thread_names is None or _state.sample_base is None:
        return
    try:
        with open(_state.sample_base + ".threads", "w", encoding="utf-8",
                  errors="replace") as f:
            for ident, name in list(_state.thread_names.items()):
                f.write("%d\t%s\n" % (ident, str(name).replace("\n", " ")))
    except (OSError, ValueError):
        pass


def _finish():
    """Stops recording and writes this process's trace (once)."""
    if _state.done:
        return
    _state.done = True
    if not _collector.active():
        return
    _write_thread_names()
    try:
        _collector.stop(exit_code=_state.exit_code)
    except Exception as e:  # the program's exit status must not change because of us
        if not os.path.isdir(_state.session):
            return          # a process that outlived the run: collect has merged without it
        try:
            sys.stderr.write("pyflame-c: %s\n" % (e,))
            sys.stderr.flush()
        except Exception:
            pass


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


def _exit_status(code):
    """The status SystemExit(code) gives, as python3 computes it."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xff
    return 1


def _install_exit_hooks():
    import atexit
    import functools

    # Registered first, so it runs last: after the program's own atexit handlers and
    # after Python has waited for non-daemon threads.
    atexit.register(_at_exit)

    real_exit = os._exit

    @functools.wraps(real_exit)
    def _exit(status):
        _state.exit_code = status
        _finish()
        real_exit(status)

    os._exit = _exit

    if hasattr(os, "register_at_fork"):
        os.register_at_fork(after_in_child=_forked_child)
    if _state.follow:
        _install_follow()


# ---- following children ----------------------------------------------------------------

# A child interpreter starts with this instead of its -c/-m/script; the arguments after
# it are PKGDIR SESSION FLAGS PYNAME TARGET ARGS..., as from the CLI.
_CHILD_BOOTSTRAP = (
    "import sys,importlib.util as _u;_d=sys.argv[1];"
    "_s=_u.spec_from_file_location('pyflame',_d+'/__init__.py',submodule_search_locations=[_d]);"
    "_m=_u.module_from_spec(_s);sys.modules['pyflame']=_m;_s.loader.exec_module(_m);"
    "from pyflame._runner import main as _main;_main()")


def _runs_our_python(candidates):
    """True if the first of candidates that execve would run is this interpreter."""
    for c in candidates:
        try:
            c = os.fsdecode(c)
        except (TypeError, ValueError):
            return False
        if os.path.isfile(c) and os.access(c, os.X_OK):
            return os.path.realpath(c) == _state.python
    return False


def _child_argv(argv):
    """argv (a command line running this interpreter) rewritten to run under this runner,
    keeping its interpreter options; None when it runs no program (the REPL, stdin,
    --version...)."""
    try:
        argv = [os.fsdecode(a) for a in argv]
    except (TypeError, ValueError):
        return None
    i, n = 1, len(argv)
    while i < n:
        a = argv[i]
        if a == "--check-hash-based-pycs":
            i += 2
            continue
        if a == "-" or a.startswith("--"):
            return None                       # stdin, --help, --version, ...
        if not a.startswith("-"):
            return _rewrite(argv, argv[1:i], "s", a, argv[i + 1:])
        for j in range(1, len(a)):
            ch = a[j]
            if ch in "cm":
                opts = argv[1:i] + ([a[:j]] if j > 1 else [])
                if j + 1 < len(a):
                    return _rewrite(argv, opts, ch, a[j + 1:], argv[i + 1:])
                if i + 1 < n:
                    return _rewrite(argv, opts, ch, argv[i + 1], argv[i + 2:])
                return None
            if ch in "WX":
                if j + 1 == len(a):
                    i += 1                    # its value is the next argument
                break
            if ch in "hVi?":
                return None                   # help, version, interactive
        i += 1
    return None


def _rewrite(argv, opts, kind, target, args):
    flags = ",".join(kv for kv in _state.flags.split(",")
                     if not kv.startswith(("module=", "kind=", "child=", "quiet=")))
    flags += ",kind=%s,child=1,quiet=1" % kind
    return ([argv[0]] + opts + ["-c", _CHILD_BOOTSTRAP, _state.pkgdir, _state.session,
                                flags, argv[0], target] + args)


def _followed(candidates, argv):
    """argv rewritten when the first of candidates that execve would run is this
    interpreter (and we are recording), else argv unchanged."""
    if argv is None or not _state.follow or _state.done or not _runs_our_python(candidates):
        return argv
    return _child_argv(argv) or argv


def _candidates(path, search_path=None):
    """The files execve (or, with search_path, execvp) would try for path."""
    path = os.fsdecode(path)
    if search_path is not None and os.sep not in path:
        return [os.path.join(d, path) for d in search_path]
    return [path]


def _install_follow():
    import functools
    try:
        import _posixsubprocess
    except ImportError:
        _posixsubprocess = None
    if _posixsubprocess is not None:
        real_fork_exec = _posixsubprocess.fork_exec

        @functools.wraps(real_fork_exec)
        def fork_exec(args, executable_list, *rest):
            return real_fork_exec(_followed(executable_list or (), args), executable_list,
                                  *rest)

        _posixsubprocess.fork_exec = fork_exec

    def wrap_exec(name):
        real = getattr(os, name, None)
        if real is None:
            return

        @functools.wraps(real)
        def exec_(path, args, *rest):
            args = _followed(_candidates(path), args)
            # the new image replaces this one: its trace is written now
            recording = not _state.done
            _finish()
            try:
                return real(path, args, *rest)
            except BaseException:
                if recording:
                    _start()                  # still this image: record on, into a new part
                raise

        setattr(os, name, exec_)

    for name in ("execv", "execve"):
        wrap_exec(name)

    def wrap_spawn(name, search):
        real = getattr(os, name, None)
        if real is None:
            return

        @functools.wraps(real)
        def spawn(path, argv, *rest, **kw):
            env = rest[0] if rest else kw.get("env")
            where = os.get_exec_path(env) if search else None
            return real(path, _followed(_candidates(path, where), argv), *rest, **kw)

        setattr(os, name, spawn)

    wrap_spawn("posix_spawn", False)
    wrap_spawn("posix_spawnp", True)


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
    recording = not _state.done
    _state.done = True
    _collector.forget()
    if recording and _state.follow:
        _start(forked=True)


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


def _sets_path0():
    """False where python3 puts no script folder or cwd first in sys.path (-P, -I): our
    -c bootstrap then did not either, and sys.path[0] is not ours to replace."""
    return not (getattr(sys.flags, "safe_path", False) or sys.flags.isolated)


def _setup_script(g, pyname, target, args):
    import io
    sys.argv[:] = [target] + args
    if _sets_path0():
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
    if _sets_path0():
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


def _setup_code(g, pyname, target, args):
    """python3 -c TARGET ARGS (a child): our bootstrap ran as -c too, so __main__ and
    sys.path[0] are already what -c gives."""
    sys.argv[:] = ["-c"] + args
    g["__name__"] = "__main__"
    return compile(target, "<string>", "exec", dont_inherit=True)


def _fix_orig_argv(pyname, kind, target, args):
    """sys.orig_argv as python3 would have it: a child keeps its interpreter options."""
    if not hasattr(sys, "orig_argv"):
        return
    opts = []
    if _CHILD_BOOTSTRAP in sys.orig_argv:
        opts = sys.orig_argv[1:sys.orig_argv.index(_CHILD_BOOTSTRAP) - 1]
    head = {"s": [target], "m": ["-m", target], "c": ["-c", target]}[kind]
    sys.orig_argv = [pyname] + opts + head + args


def _session_options(child, opts, roots):
    """The collector options every process of the run shares.  The program's process
    decides them (the include/exclude globs come from the CLI's environment) and leaves
    them in the session folder for its children."""
    path = os.path.join(_state.session, "options")
    if child:
        roots, include, exclude = [], [], []
        try:
            with open(path, encoding="utf-8", errors="surrogateescape") as f:
                for line in f.read().split("\n"):
                    key, _, value = line.partition("\t")
                    if key == "root":
                        roots.append(value)
                    elif key == "include":
                        include.append(value)
                    elif key == "exclude":
                        exclude.append(value)
        except OSError:
            pass
    else:
        include, exclude = [[p for p in os.environ.pop(k, "").split("\n") if p]
                            for k in ("PYFLAME_C_INCLUDE", "PYFLAME_C_EXCLUDE")]
        try:
            with open(path, "w", encoding="utf-8", errors="surrogateescape") as f:
                f.write("\n".join(["root\t" + r for r in roots] + ["include\t" + p for p in include]
                                   + ["exclude\t" + p for p in exclude]))
        except OSError:
            pass
    floor = opts.get("floor") == "1"
    return dict(limit=int(opts.get("limit", "0")), floor=floor, ours=pyflame._OURS,
                lines=opts.get("lines") == "1", memory=opts.get("memory") == "1",
                native=opts.get("native") == "1",
                clock=opts.get("clock", "wall"), root=roots, include=include, exclude=exclude,
                snapshot=0.0 if floor else float(opts.get("snapshot", "1")), term=True,
                sample=opts.get("sample") == "1")


def _program_roots(kind, target):
    """The program's own code (what --lines records by default), as collector roots."""
    if kind == "m":
        return _module_roots(target)
    folder = os.getcwd() if kind == "c" else os.path.dirname(os.path.abspath(target))
    return [folder.rstrip(os.sep) + os.sep]


def main():
    # sys.argv: ['-c', PKGDIR, SESSION, FLAGS, PYNAME, TARGET, ARGS...]
    _, pkgdir, session, flags, pyname, target = sys.argv[:6]
    args = sys.argv[6:]
    opts = dict(kv.split("=", 1) for kv in flags.split(",") if "=" in kv)
    kind = opts.get("kind") or ("m" if opts.get("module") == "1" else "s")
    child = opts.get("child") == "1"
    _state.session, _state.pkgdir, _state.flags = session, pkgdir, flags
    _state.follow = opts.get("follow", "1") == "1"
    _state.native = opts.get("sample_native") == "1"
    _state.python = os.path.realpath(sys.executable) if sys.executable else None
    g = _clean_main()
    run_globals = g
    try:
        if kind == "m":
            code, run_globals = _setup_module(g, pyname, target, args)
        elif kind == "c":
            code = _setup_code(g, pyname, target, args)
        else:
            code = _setup_script(g, pyname, target, args)
        _fix_orig_argv(pyname, kind, target, args)
    except SystemExit:
        raise
    except BaseException as e:  # e.g. a SyntaxError in the program: not profiled yet
        _report_uncaught(e)
        sys.exit(1)
    _state.options = _session_options(child, opts, _program_roots(kind, target))
    if kind == "m":
        # sys.argv[0] is "-m" until the module is found: the trace names the module
        _state.argv = ["-m", target] + args
    _install_exit_hooks()
    _install_profile_builtin()
    path = _part_path()
    try:
        _collector.start(path, meta=_meta(), command=_command(),
                         ppid=os.getppid(), defer=True, **_state.options)
    except ValueError as e:       # --memory-limit too small to start with
        sys.stderr.write("pyflame-c collect: --memory-limit: %s\n"
                         % str(e).replace("pyflame: ", "", 1))
        sys.exit(2)
    _sample_info(path)
    try:
        _collector.run(code, run_globals)
    except SystemExit as e:
        _state.exit_code = _exit_status(e.code)
        raise
    except BaseException as e:
        _report_uncaught(e)
        if isinstance(e, KeyboardInterrupt):
            _state.sigint = True
        del e
    else:
        _state.exit_code = 0
        return
    _state.exit_code = 1
    sys.exit(1)
