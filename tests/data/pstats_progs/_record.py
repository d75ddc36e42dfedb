"""_record.py: a reference calling-context-tree recorder in pure Python (sys.setprofile,
the events cProfile <= 3.11 uses), so the converter's cProfile arithmetic can be
tested on real programs without the C collector.

Usage: python _record.py PROGRAM.py OUT.txt
OUT.txt: "ncodes nnodes", then per code "py|c <TAB> file <TAB> line <TAB> name",
then per node "parent code calls total_ns self_ns" (parent -1 for a root), parents
before children.  Read by tests/test_convert_model.c."""
import sys
import time
import types

prog, out = sys.argv[1], sys.argv[2]
codes, code_list, nodes, index, stack, keep_alive = {}, [], [], {}, [], []
clock = time.perf_counter_ns


def label(fn):
    """cProfile's name for a C function (normalizeUserObj in _lsprof.c)."""
    self = getattr(fn, "__self__", None)
    name = fn.__name__
    if self is not None and not isinstance(self, types.ModuleType):
        for klass in type(self).__mro__:
            if name in klass.__dict__:
                return repr(klass.__dict__[name])
    mod = self.__name__ if isinstance(self, types.ModuleType) else getattr(fn, "__module__", None)
    return "<built-in method %s.%s>" % (mod, name) if mod else "<built-in method %s>" % name


def enter(key):
    c = codes.get(key)
    if c is None:
        c = codes[key] = len(code_list)
        code_list.append(key)
    parent = stack[-1][0] if stack else -1
    n = index.get((parent, c))
    if n is None:
        n = index[(parent, c)] = len(nodes)
        nodes.append([parent, c, 0, 0, 0])
    stack.append([n, clock(), 0])


def leave():
    if stack:
        n, t0, child = stack.pop()
        dt = clock() - t0
        node = nodes[n]
        node[2] += 1
        node[3] += dt
        node[4] += dt - child
        if stack:
            stack[-1][2] += dt


def hook(frame, event, arg):
    if event == "call":
        co = frame.f_code
        # one code per code object, as cProfile and the collector keep them (two
        # lambdas on one line are two codes with one pstats key); keep_alive stops
        # the id from being reused (code objects compare by value, so not co itself)
        keep_alive.append(co)
        enter(("py", co.co_filename, co.co_firstlineno, co.co_name, id(co)))
    elif event == "c_call":
        enter(("c", "", 0, label(arg), 0))
    elif event in ("return", "c_return", "c_exception"):
        leave()


with open(prog) as f:
    code = compile(f.read(), prog, "exec")
sys.setprofile(hook)
exec(code, {"__name__": "__main__", "__file__": prog})
sys.setprofile(None)
while stack:
    leave()
with open(out, "w") as f:
    f.write("%d %d\n" % (len(code_list), len(nodes)))
    for kind, file, line, name, _ in code_list:
        f.write("%s\t%s\t%d\t%s\n" % (kind, file, line, name))
    for node in nodes:
        f.write("%d %d %d %d %d\n" % tuple(node))
