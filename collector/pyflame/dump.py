"""pyflame.dump: print a pyflame-c trace as JSON (or as an indented tree).

    python -m pyflame.dump trace.gz            # {"meta": ..., "codes": [...], "threads": [...], "nodes": [...]}
    python -m pyflame.dump --tree trace.gz     # one line per node, indented under its parent

A debugging aid: the trace is read by the same C reader the converters use."""
import argparse
import json
import sys

from pyflame import _collector


def load(path):
    """The trace at path as a dict: meta, codes, threads, nodes (parent/thread/code are
    indices; parent None for a thread's top-level calls)."""
    return _collector.read_trace(path)


def tree_lines(d):
    codes, nodes, threads = d["codes"], d["nodes"], d["threads"]
    kids = {}
    for i, n in enumerate(nodes):
        kids.setdefault((n["thread"], n["parent"]), []).append(i)
    out = []
    for ti, th in enumerate(threads):
        out.append("thread %s (%d)" % (th["name"], th["ident"]))
        stack = [(i, 1) for i in reversed(kids.get((ti, None), []))]
        while stack:
            i, depth = stack.pop()
            n = nodes[i]
            c = codes[n["code"]]
            where = "" if c["kind"] == "native" else " %s:%d" % (c["file"], c["first_line"])
            out.append("%s%s%s @%d calls=%d total=%dns self=%dns"
                       % ("  " * depth, c["qualname"], where, n["call_line"], n["calls"],
                          n["total_ns"], n["self_ns"]))
            stack.extend((k, depth + 1) for k in reversed(kids.get((n["thread"], i), [])))
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m pyflame.dump", description=__doc__.splitlines()[0])
    ap.add_argument("trace")
    ap.add_argument("--tree", action="store_true", help="print an indented tree instead of JSON")
    a = ap.parse_args(argv)
    try:
        d = load(a.trace)
    except (OSError, ValueError) as e:
        sys.stderr.write("pyflame.dump: %s\n" % e)
        return 1
    if a.tree:
        sys.stdout.write("\n".join(tree_lines(d)) + "\n")
    else:
        json.dump(d, sys.stdout, indent=1)
        sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
