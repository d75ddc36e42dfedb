"""_ipython.py: the IPython / Jupyter magics of pyflame (`%load_ext pyflame`).

    %pyflame [options] STATEMENT       profile one statement
    %%pyflame [options]                profile the cell
      -l, --lines            also record the lines of your code (the cell's, in Jupyter)
      -m, --memory[=python]  also record allocations (like collect --memory)
      --clock cpu            each thread's CPU time instead of wall time
      --metric M             what the flame graph's widths show (svg --metric)
      -o, --output FILE      keep the trace in FILE (default: a temporary file)
      --var NAME             the result's variable (default _pyflame)
      --limit N              rows of the text table (default 15)

The result, displayed and kept in the variable, is a PyflameResult: an interactive flame
graph (the SVG pyflame-c renders: click to zoom, Ctrl-F to search while the pointer is
on it) above the text table (convert -f text), the trace's path, and its data on demand.
In a notebook the graph is shown in a sandboxed frame, so its script and style never
meet the page's; `image/svg+xml` and `text/plain` are offered too.
"""
import html
import os
import re
import tempfile

import pyflame
from pyflame import _collector, _tools

_DIR = None
_COUNT = 0


def _trace_path():
    global _DIR, _COUNT
    if _DIR is None:
        _DIR = tempfile.mkdtemp(prefix="pyflame-ipython-")
    _COUNT += 1
    return os.path.join(_DIR, "trace-%d.gz" % _COUNT)


class PyflameResult:
    """A profile made by %pyflame: path (the trace), svg, text (the table), summary
    (what pyflame.stop() returned); data() reads the trace as Python data."""

    def __init__(self, path, svg, text, summary, statement):
        self.path = path
        self.svg = svg
        self.text = text
        self.summary = summary
        self.statement = statement

    def data(self):
        return _collector.read_trace(self.path)

    def __repr__(self):
        return self.text

    def _repr_svg_(self):
        return self.svg

    def _frame_html(self):
        m = re.search(r'<svg[^>]*\sheight="([\d.]+)"', self.svg)
        height = int(float(m.group(1))) + 24 if m else 600
        doc = ("<!DOCTYPE html><html><head><meta charset='utf-8'><style>"
               "body{margin:0;background:transparent}</style></head><body>%s</body></html>"
               % self.svg[self.svg.find("<svg"):])
        return ('<div class="pyflame-result"><iframe sandbox="allow-scripts" '
                'style="width:100%%;height:%dpx;border:0" srcdoc="%s"></iframe>'
                '<pre style="font-size:12px">%s</pre></div>'
                % (height, html.escape(doc, quote=True), html.escape(self.text)))

    def _repr_mimebundle_(self, include=None, exclude=None):
        return {"text/html": self._frame_html(), "image/svg+xml": self.svg,
                "text/plain": self.text}


_OPTION = re.compile(r"\s*(\S+)")


def parse(line):
    """(options dict, the rest of the line) from a magic's line."""
    opts = {"lines": False, "memory": False, "clock": "wall", "metric": None, "output": None,
            "var": "_pyflame", "limit": 15}
    pos = 0
    takes = {"--clock": "clock", "--metric": "metric", "-o": "output", "--output": "output",
             "--var": "var", "--limit": "limit"}
    while True:
        m = _OPTION.match(line, pos)
        if not m or not m.group(1).startswith("-"):
            break
        tok, pos = m.group(1), m.end()
        name, eq, value = tok.partition("=")
        if tok in ("-l", "--lines"):
            opts["lines"] = True
        elif tok in ("-m", "--memory"):
            opts["memory"] = "all"
        elif name == "--memory" and value in ("all", "python"):
            opts["memory"] = value
        elif name in takes:
            if not eq:
                m = _OPTION.match(line, pos)
                if not m:
                    raise ValueError("%s needs a value" % name)
                value, pos = m.group(1), m.end()
            opts[takes[name]] = value
        elif tok == "--":
            break
        else:
            raise ValueError("unknown option %r (see %%pyflame?)" % tok)
    if opts["clock"] not in ("wall", "cpu"):
        raise ValueError("--clock takes wall or cpu, not %r" % opts["clock"])
    try:
        opts["limit"] = int(opts["limit"])
    except ValueError:
        raise ValueError("--limit takes a number, not %r" % opts["limit"]) from None
    if not opts["var"].isidentifier():
        raise ValueError("--var takes a Python name, not %r" % opts["var"])
    return opts, line[pos:].strip()


def profile(shell, source, opts, label):
    """Runs source in the shell's namespace under pyflame; returns a PyflameResult (also
    stored in the shell's namespace under opts["var"]).  An exception of the code is
    re-raised after the trace is written."""
    if pyflame.is_active():
        raise RuntimeError("pyflame: already recording (under pyflame-c collect, or a "
                           "pyflame.start() still running)")
    path = os.path.abspath(opts["output"]) if opts["output"] else _trace_path()
    filename = shell.compile.cache(source) if hasattr(shell.compile, "cache") else "<pyflame>"
    code = shell.compile(source, filename, "exec")
    roots = [os.getcwd()]
    if os.path.isfile(filename):
        roots.append(filename)                 # Jupyter keeps each cell in a file
    pyflame.start(path, lines=opts["lines"], memory=opts["memory"], clock=opts["clock"],
                  root=roots)
    error = None
    try:
        exec(code, shell.user_ns)
    except BaseException as e:             # the statement's own failure: kept for after
        error = e
    finally:
        summary = pyflame.stop()
    first = source.strip().splitlines()[0] if source.strip() else label
    what = opts["metric"] or ("CPU time" if opts["clock"] == "cpu" else "wall time")
    title = "%s: %s" % (first if len(first) <= 60 else first[:57] + "...", what)
    svg_args = ["svg", "--title", title] + (["--metric", opts["metric"]] if opts["metric"] else [])
    svg = _tools.run(svg_args + [path]).decode()
    text = _tools.run(["convert", "-f", "text", "--limit", str(opts["limit"]), path]).decode()
    result = PyflameResult(path, svg, text, summary, label)
    shell.user_ns[opts["var"]] = result
    if error is not None:
        raise error
    return result


def load(ipython):
    from IPython.core.error import UsageError
    from IPython.core.magic import Magics, line_cell_magic, magics_class

    @magics_class
    class PyflameMagics(Magics):
        @line_cell_magic
        def pyflame(self, line, cell=None):
            try:
                opts, rest = parse(line)
            except ValueError as e:
                raise UsageError("%pyflame: " + str(e)) from None
            source = cell if cell is not None else rest
            if not source.strip():
                raise UsageError("%pyflame: nothing to profile: %pyflame [options] STATEMENT, "
                                 "or %%pyflame [options] above a cell")
            try:
                return profile(self.shell, source, opts, source)
            except RuntimeError as e:
                if str(e).startswith("pyflame"):
                    raise UsageError(str(e)) from None
                raise

    PyflameMagics.pyflame.__doc__ = __doc__
    ipython.register_magics(PyflameMagics)
