"""pyflame: record where a Python program spends its time into a pyflame-c trace.

    import pyflame

    with pyflame.profile("part.gz"):        # a block
        work()

    @pyflame.profile("f.gz")                # every call of a function (the last call's
    def f(): ...                            # profile is the one left in f.gz); on a
                                            # generator or async function, its body
                                            # across every resume

    pyflame.start("run.gz"); ...; pyflame.stop()

Every thread is recorded, including threads started while recording.  Turn the trace
into flame graphs, pstats files or text with `pyflame-c svg|convert trace.gz`.
Under `pyflame-c collect` the whole program is already being recorded; then these
calls do nothing (start() raises RuntimeError).
"""
# Only cheap imports here (functools, which pulls in collections, is imported where it
# is used): `pyflame-c attach --calls` loads this package into a running program, whose
# main thread waits meanwhile.
import os as _os
import sys as _sys

from . import _collector

__all__ = ["profile", "start", "stop", "is_active"]

# Code from this folder is ours, not the program's: frames of it that are still open
# when recording stops (a signal handler, stop() itself) are left out of the trace.
_OURS = _os.path.dirname(_os.path.abspath(__file__)) + _os.sep


def _argv():
    """sys.argv as traces record it: for a program run with `python -m`, "-m", the
    module's name, then its arguments (its sys.argv[0] is the module's file, whose
    folder reports must not shorten file names against: docutils/core.py, not core.py)."""
    argv = [str(a) for a in _sys.argv]
    spec = getattr(_sys.modules.get("__main__"), "__spec__", None)
    name = getattr(spec, "name", None)
    if name and argv and argv[0] == getattr(spec, "origin", None):
        if name.endswith(".__main__"):
            name = name[:-len(".__main__")]
        argv = ["-m", name] + argv[1:]
    return argv


def _meta():
    cwd = _os.getcwd()
    return {
        "python_version": "%d.%d.%d" % _sys.version_info[:3],
        "executable": _sys.executable or "",
        "argv": _argv(),
        "cwd": cwd,
        "path": [_os.path.abspath(p) if p else cwd for p in _sys.path if isinstance(p, str)],
    }


def _program_root():
    """The folder of the program's own code: the main script's, else the cwd."""
    main = getattr(_sys.modules.get("__main__"), "__file__", None)
    root = _os.path.dirname(_os.path.abspath(main)) if main else _os.getcwd()
    return root.rstrip(_os.sep) + _os.sep


def _memory_mode(memory):
    """(memory, native) for start()'s memory argument."""
    if not isinstance(memory, str):
        return bool(memory), bool(memory)
    if memory == "all":
        return True, True
    if memory == "python":
        return True, False
    raise ValueError("pyflame: unknown memory mode %r (True or 'all': Python and native "
                     "allocations; 'python': CPython's allocators only; False)" % (memory,))


def _memory_limit(limit):
    """memory_limit as the collector takes it: a number of bytes, 0 for no limit."""
    if isinstance(limit, bool) or not isinstance(limit, int):
        raise TypeError("pyflame: memory_limit must be a number of bytes (an int; 0 = no "
                        "limit), not %r" % (limit,))
    if limit < 0:
        raise ValueError("pyflame: memory_limit must be a number of bytes (0 = no limit), "
                         "not %d" % limit)
    return limit


def start(path="trace.gz", *, lines=False, memory=False, memory_limit=0, clock="wall",
          root=None):
    """Starts recording every thread into the trace file `path` (written at stop()).

    lines: also record the lines of the program's own code (files under the main
    script's folder, outside site-packages), like `collect --lines`.
    memory: also record allocations per function and line, like `collect --memory`
    (implies lines): True (or "all") for every allocation, Python or native (what C
    extensions allocate with malloc or mmap too); "python" for CPython's allocators
    only, like `collect --memory=python`.  Allocations of frames that were already
    running at start() are not attributed to a function.
    memory_limit: bytes the collector may use (0 = unlimited); past it, recording
    stops and the trace says so.  A limit below what the collector needs to start
    (about 100 KB, 400 KB with memory) raises ValueError.
    clock: "wall" (default) or "cpu": each thread's CPU time, in which waits (locks,
    the GIL, I/O, sleep) count for nothing, like `collect --clock cpu`.
    root: the folder of the program's own code for lines (default: the main script's
    folder, else the working directory), or a list of folders and files.
    Raises RuntimeError if already recording, ValueError for another clock or memory
    mode, or a memory_limit that cannot work."""
    memory, native = _memory_mode(memory)
    limit = _memory_limit(memory_limit)
    _collector.start(_os.path.abspath(_os.fspath(path)), meta=_meta(), limit=limit,
                     ours=_OURS, lines=bool(lines or memory), memory=memory, native=native,
                     root=_program_root() if root is None else _roots(root), clock=clock)


def _roots(root):
    """start()'s root as the collector takes it: folders end with '/'; a list of them
    (and of files) too."""
    if isinstance(root, (list, tuple)):
        return [_roots(r) for r in root]
    r = _os.path.abspath(_os.fspath(root))
    return r.rstrip(_os.sep) + _os.sep if _os.path.isdir(r) else r


def stop():
    """Stops recording and writes the trace.  Returns a dict: path, size (bytes),
    calls (recorded), oom (memory ran out), gaps (when recording stopped because the
    program installed a hook only one tool can hold, one line each), nodes, threads, profiler_bytes,
    peak_live_bytes (with memory=True), lines (the trace has line mode) and
    lines_selected (code objects whose lines were recorded: 0 with lines=True means no
    file matched)."""
    return _collector.stop()


def is_active():
    """True while a recording is running (also under `pyflame-c collect`)."""
    return _collector.active()


class profile:
    """Context manager and decorator recording into `path`.

    As a context manager it records the block.  As a decorator it records each call of
    the function and rewrites `path` after each one.  On a generator function, an
    `async def` or an async generator function, a call's recording runs from the
    first resume of its generator or coroutine to its end (exhausted, returned,
    raised or closed), so the body is recorded across every resume, and so is what
    runs between resumes meanwhile (the consumer, the event loop's other tasks).  If a
    recording is already running (nested use, or under `pyflame-c collect`), it simply
    runs the code."""

    def __init__(self, path="trace.gz", *, lines=False, memory=False, memory_limit=0,
                 clock="wall"):
        _memory_mode(memory)               # bad values fail here, not at the first call
        _memory_limit(memory_limit)
        self.path = path
        self.opts = {"lines": lines, "memory": memory, "memory_limit": memory_limit,
                     "clock": clock}
        self.summary = None
        self._mine = False

    def __enter__(self):
        self._mine = False
        if not _collector.active():
            start(self.path, **self.opts)
            self._mine = True
        return self

    def __exit__(self, *exc):
        if self._mine:
            self._mine = False
            self.summary = stop()
        return False

    def __call__(self, func):
        import functools as _functools
        import inspect
        path, opts = self.path, self.opts

        if inspect.isasyncgenfunction(func):
            return _async_gen_wrapper(func, path, opts)

        if inspect.isgeneratorfunction(func):
            @_functools.wraps(func)
            def gen_wrapper(*args, **kwargs):
                if _collector.active():
                    return (yield from func(*args, **kwargs))
                with profile(path, **opts):
                    return (yield from func(*args, **kwargs))
            return gen_wrapper

        if inspect.iscoroutinefunction(func):
            @_functools.wraps(func)
            async def coro_wrapper(*args, **kwargs):
                if _collector.active():
                    return await func(*args, **kwargs)
                with profile(path, **opts):
                    return await func(*args, **kwargs)
            return coro_wrapper

        @_functools.wraps(func)
        def wrapper(*args, **kwargs):
            if _collector.active():
                return func(*args, **kwargs)
            with profile(path, **opts):
                return func(*args, **kwargs)

        return wrapper


def _async_gen_wrapper(func, path, opts):
    """profile() on an async generator function: an async generator that relays every
    asend, athrow and aclose to func's, recording from its first resume to its end."""
    import contextlib
    import functools as _functools

    @_functools.wraps(func)
    async def agen_wrapper(*args, **kwargs):
        agen = func(*args, **kwargs)
        recording = contextlib.nullcontext() if _collector.active() else profile(path, **opts)
        with recording:
            try:
                value = await agen.asend(None)
                while True:
                    try:
                        sent = yield value
                    except GeneratorExit:
                        await agen.aclose()
                        raise
                    except BaseException as e:
                        value = await agen.athrow(e)
                    else:
                        value = await agen.asend(sent)
            except StopAsyncIteration:
                return

    return agen_wrapper


# ---- integrations ----

def load_ipython_extension(ipython):
    """`%load_ext pyflame`: the %pyflame line magic and %%pyflame cell magic."""
    from . import _ipython
    _ipython.load(ipython)


# `pytest -p pyflame` (or the pytest11 entry point) registers this module as a plugin:
# its hooks live in _pytest_plugin, imported only under pytest.
if "pytest" in _sys.modules:
    from ._pytest_plugin import (pytest_addoption, pytest_configure,  # noqa: F401
                                 pytest_load_initial_conftests)
