"""_tools.py: what the integrations (pytest plugin, IPython magics) share: finding the
pyflame-c binary beside this package, running it, and a code object named after
something that is not a function (a test's node id, a notebook cell), so that a trace
shows it as a root frame."""
import os
import shutil
import subprocess
import sys
import types

_HERE = os.path.dirname(os.path.abspath(__file__))


def binary():
    """The pyflame-c binary: $PYFLAME_C, else the one this package was built or
    installed with (BUILD/pyflame-c beside BUILD/python/pyflame, or
    PREFIX/bin/pyflame-c beside PREFIX/lib/pyflame-c/python/pyflame), else the one on
    PATH.  None when there is none."""
    env = os.environ.get("PYFLAME_C")
    if env:
        return env
    parent = os.path.dirname(os.path.dirname(_HERE))          # BUILD, or PREFIX/lib/pyflame-c
    for cand in (os.path.join(parent, "pyflame-c"),
                 os.path.join(os.path.dirname(os.path.dirname(parent)), "bin", "pyflame-c")):
        if os.path.isfile(cand) and os.access(cand, os.X_OK):
            return cand
    return shutil.which("pyflame-c")


def run(args, check=True):
    """Runs pyflame-c with args; returns its stdout (bytes).  Raises RuntimeError with
    its message when it fails (or is missing)."""
    exe = binary()
    if exe is None:
        raise RuntimeError("pyflame: the pyflame-c binary was not found (set PYFLAME_C, or "
                           "put pyflame-c on PATH)")
    r = subprocess.run([exe] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if check and r.returncode != 0:
        raise RuntimeError(r.stderr.decode(errors="replace").strip() or
                           "pyflame-c %s failed (status %d)" % (args[0], r.returncode))
    return r.stdout


def _call(fn):
    return fn()


def named_caller(name, filename, line=0):
    """A function that calls its argument, whose code object is named `name`: run under
    it, a test's or a cell's calls hang from one frame that says what they were.  Its
    file is `filename`, which should start with '<' ("<pytest>"): code in this package's
    folder is left out of traces, and a real file would get this function's lines."""
    code = _call.__code__.replace(co_name=name, co_filename=filename,
                                  co_firstlineno=max(int(line), 1))
    if sys.version_info >= (3, 11):
        code = code.replace(co_qualname=name)
    return types.FunctionType(code, {}, name)
