"""_attach.py: `pyflame-c attach --calls PID`, the part that runs inside the target.

pyflame-c makes a run folder, then has the target's main thread run two small scripts
through PEP 768's remote execution (cli/inject.h): start.py loads this package under a
private name (_pyflame_c_attach: the program's own `import pyflame`, if any, is not
touched) and calls start(); stop.py calls stop().  They report through files in the
run folder, which pyflame-c polls (cli/attach_calls.c):

    claim     made first by start.py (O_EXCL); made by pyflame-c instead when it gives
              up waiting, so that a start.py that runs late does nothing
    status    "started", "stopped", "exited" (the process ended while recording: the
              atexit handler wrote the trace) or "error<TAB>message"; replaced atomically
    trace.gz  the trace: snapshots every second or so while recording (marked cut short:
              what a killed process leaves), the full trace at stop or exit

Nothing here prints or raises into the program: errors go to the status file.  Once
stopped, the collector's hooks are gone (sys.monitoring tool freed), the atexit handler
is unregistered and the private modules leave sys.modules; the program goes on as if
nothing happened.  What start() and stop() do themselves is not recorded: start()
starts with the calling thread paused and resumes it as its last act, and stop() stops
the collector as its first.
"""
import atexit
import os

from . import _OURS, _collector, _meta

_run = None       # the run folder while attached
_pid = None       # the process that started (a forked child must not write our trace)
_fork_hook = False


def _tell(text):
    """Replaces the run folder's status file (pyflame-c reads it) in one step.  Never
    raises: pyflame-c gives up waiting if the folder cannot be written."""
    try:
        tmp = os.path.join(_run, "status.tmp")
        with open(tmp, "w", encoding="utf-8", errors="replace") as f:
            f.write(text)
        os.replace(tmp, os.path.join(_run, "status"))
    except BaseException:
        pass


def _forget_modules():
    """Takes the private package out of sys.modules (the extension stays loaded)."""
    import sys
    name = __name__.rpartition(".")[0]
    for key in [k for k in sys.modules if k == name or k.startswith(name + ".")]:
        del sys.modules[key]


def _after_fork():
    # a child forked while recording: drop the inherited session without writing it
    if _run is not None and os.getpid() != _pid and _collector.active():
        _collector.forget()


def _at_exit():
    """The process ends while recording: write the full trace for pyflame-c."""
    if _run is None or os.getpid() != _pid or not _collector.active():
        return
    try:
        _collector.stop()
        _tell("exited")
    except BaseException as e:     # nothing may reach the program's exit
        _tell("error\t%s" % (e,))


def start(run):
    """Starts recording every thread into run/trace.gz."""
    global _run, _pid, _fork_hook
    _run, _pid = run, os.getpid()
    ours = False
    try:
        if _collector.active():
            raise RuntimeError("process %d is already being recorded (under `pyflame-c "
                               "collect`, or by pyflame.start())" % _pid)
        atexit.register(_at_exit)
        if not _fork_hook and hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=_after_fork)     # cannot be unregistered
            _fork_hook = True
        _collector.start(os.path.join(run, "trace.gz"), meta=_meta(), ours=_OURS,
                         defer=True, snapshot=1.0)
        ours = True
        _tell("started")
    except BaseException as e:
        atexit.unregister(_at_exit)
        if ours:                       # started, then failed: leave nothing behind
            try:
                _collector.stop()
            except BaseException:
                pass
        _tell("error\t%s" % (e,))
        _run = None
        _forget_modules()
        return
    _collector.resume()


def stop():
    """Stops recording, writes the trace and removes every trace of us."""
    global _run
    try:
        summary = _collector.stop() if _collector.active() else None
    except BaseException as e:
        summary = e
    atexit.unregister(_at_exit)
    if isinstance(summary, BaseException):
        _tell("error\t%s" % (summary,))
    else:
        _tell("stopped")
    _run = None
    _forget_modules()
