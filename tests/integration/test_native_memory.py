"""test_native_memory.py: `pyflame-c collect --memory` tracks native allocations.

A small C library, built here with cc, allocates through every hooked function (malloc,
calloc, realloc and realloc(p, 0) that frees, reallocarray, posix_memalign,
aligned_alloc, memalign, free, anonymous mmap, munmap of a head and of a hole, mremap),
from a Python thread, from a thread it creates itself, and from a plugin it dlopen()s
by bare name through its own RUNPATH after recording started; it reports buffers with PyTraceMalloc_Track/Untrack, one of them
already seen as a malloc.  The program loads it with ctypes after recording started.
Checked, per line of the program (convert -f lines, inclusive like every line value):
bytes still live at exit, bytes live at the peak, allocated bytes, within SLACK of the
exact sizes (the rest is the Python objects of the ctypes calls); the run's peak and its
native share; that --memory=python still sees none of it; a forked child allocating
natively (followed, and not followed); tracemalloc inside the program seeing what it
sees without us; pyflame.start(memory=...) from Python.

When numpy is importable by the interpreter (Debian's python3-numpy for
/usr/bin/python3), a numpy program is compared with tracemalloc run separately on the
same file: the run's peak and the bytes live at exit on the `np.ones`, `a * 2` and
list-of-arrays lines, within 5% or 2 MiB.

Env: PYFLAME_C (the pyflame-c binary), PYFLAME_PYTHON (the interpreter), CC.
"""
import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
PYFLAME = os.environ.get("PYFLAME_C", os.path.join(ROOT, "build", "pyflame-c"))
PYTHON = os.environ.get("PYFLAME_PYTHON", sys.executable)
CC = os.environ.get("CC", "cc")
MIB = 1 << 20
SLACK = 128 * 1024

LIB_C = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

int PyTraceMalloc_Track(unsigned int domain, uintptr_t ptr, size_t size);
int PyTraceMalloc_Untrack(unsigned int domain, uintptr_t ptr);

static void touch(void *p, size_t n) { if (p) memset(p, 0x5a, n); }
void *nat_malloc(size_t n) { void *p = malloc(n); touch(p, n); return p; }
void *nat_calloc(size_t k, size_t n) { return calloc(k, n); }
void *nat_realloc(void *p, size_t n) { void *q = realloc(p, n); touch(q, n); return q; }
void *nat_reallocarray(void *p, size_t k, size_t n)
{
    void *q = reallocarray(p, k, n);
    touch(q, k * n);
    return q;
}
void *nat_posix_memalign(size_t n) { void *p = NULL; return posix_memalign(&p, 4096, n) ? NULL : p; }
void *nat_aligned_alloc(size_t n) { return aligned_alloc(64, n); }
void *nat_memalign(size_t n) { return memalign(256, n); }
void nat_free(void *p) { free(p); }
void *nat_mmap(size_t n)
{
    void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    touch(p == MAP_FAILED ? NULL : p, n);
    return p == MAP_FAILED ? NULL : p;
}
int nat_munmap(void *p, size_t n) { return munmap(p, n); }
void *nat_mremap(void *p, size_t old, size_t n)
{
    void *q = mremap(p, old, n, MREMAP_MAYMOVE);
    return q == MAP_FAILED ? NULL : q;
}
static void *thread_main(void *arg) { return malloc(*(size_t *)arg); }
void *nat_thread_malloc(size_t n)
{
    pthread_t t;
    void *r = NULL;
    if (pthread_create(&t, NULL, thread_main, &n) != 0)
        return NULL;
    pthread_join(t, &r);
    return r;
}
/* by bare name: found only through this library's RUNPATH ($ORIGIN/plugins) */
void *nat_plugin_malloc(size_t n)
{
    void *h = dlopen("libpfplugin.so", RTLD_NOW);
    if (h == NULL)
        return NULL;
    void *(*f)(size_t) = (void *(*)(size_t))dlsym(h, "plugin_malloc");
    return f ? f(n) : NULL;
}
int nat_track(void *p, size_t n) { return PyTraceMalloc_Track(4242, (uintptr_t)p, n); }
int nat_untrack(void *p) { return PyTraceMalloc_Untrack(4242, (uintptr_t)p); }
static char reported[3 << 20], reported2[1 << 20];
void *nat_static_buffer(void) { return reported; }
void *nat_static_buffer2(void) { return reported2; }
"""

PLUGIN_C = r"""
#include <stdlib.h>
#include <string.h>
void *plugin_malloc(size_t n) { void *p = malloc(n); if (p) memset(p, 1, n); return p; }
"""

BIND = """\
import ctypes, os, sys, threading
lib = ctypes.CDLL(sys.argv[1])
V, S, I = ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int
for name, res, args in [("nat_malloc", V, [S]), ("nat_calloc", V, [S, S]),
                        ("nat_realloc", V, [V, S]), ("nat_reallocarray", V, [V, S, S]),
                        ("nat_posix_memalign", V, [S]),
                        ("nat_aligned_alloc", V, [S]), ("nat_memalign", V, [S]),
                        ("nat_free", None, [V]), ("nat_mmap", V, [S]), ("nat_munmap", I, [V, S]),
                        ("nat_mremap", V, [V, S, S]), ("nat_thread_malloc", V, [S]),
                        ("nat_plugin_malloc", V, [S]), ("nat_track", I, [V, S]),
                        ("nat_untrack", I, [V]), ("nat_static_buffer", V, []),
                        ("nat_static_buffer2", V, [])]:
    f = getattr(lib, name)
    f.restype, f.argtypes = res, args
MiB = 1 << 20
KEEP = []
"""

PROGRAM = BIND + """\

def worker():
    KEEP.append(lib.nat_malloc(6 * MiB))                     # tag thread

def main():
    KEEP.append(lib.nat_malloc(8 * MiB))                     # tag malloc
    KEEP.append(lib.nat_calloc(3, MiB))                      # tag calloc
    p = lib.nat_malloc(1 * MiB)                              # tag realloc_from
    KEEP.append(lib.nat_realloc(p, 5 * MiB))                 # tag realloc_to
    z = lib.nat_malloc(2 * MiB)                              # tag realloc_zero_from
    lib.nat_realloc(z, 0)                                    # tag realloc_zero (frees)
    KEEP.append(lib.nat_reallocarray(None, 1024, 1024))      # tag reallocarray
    KEEP.append(lib.nat_posix_memalign(2 * MiB))             # tag posix_memalign
    KEEP.append(lib.nat_aligned_alloc(MiB))                  # tag aligned_alloc
    KEEP.append(lib.nat_memalign(MiB))                       # tag memalign
    m = lib.nat_mmap(4 * MiB)                                # tag mmap
    lib.nat_munmap(m, MiB)                                   # tag munmap_head
    lib.nat_munmap(m + 2 * MiB, MiB)                         # tag munmap_hole
    r = lib.nat_mmap(MiB)                                    # tag mremap_from
    KEEP.append(lib.nat_mremap(r, MiB, 6 * MiB))             # tag mremap_to
    t = threading.Thread(target=worker)
    t.start()
    t.join()
    KEEP.append(lib.nat_thread_malloc(7 * MiB))              # tag cthread
    KEEP.append(lib.nat_plugin_malloc(5 * MiB))              # tag plugin
    print("plugin", "ok" if KEEP[-1] else "FAILED")
    q = lib.nat_malloc(2 * MiB); lib.nat_track(q, 2 * MiB)   # tag seen_report
    KEEP.append(q)
    lib.nat_track(lib.nat_static_buffer(), 3 * MiB)          # tag report
    lib.nat_track(lib.nat_static_buffer2(), MiB)             # tag report_dropped
    lib.nat_untrack(lib.nat_static_buffer2())                # tag untrack
    tmp = lib.nat_malloc(32 * MiB)                           # tag temp
    lib.nat_free(tmp)                                        # tag free
    print("done", len(KEEP))

main()
"""

# Exact native bytes per tagged line: (live at exit, live at the peak, allocated).
EXPECT = {
    "malloc": (8 * MIB, 8 * MIB, 8 * MIB),
    "calloc": (3 * MIB, 3 * MIB, 3 * MIB),
    "realloc_from": (0, 0, 1 * MIB),
    "realloc_to": (5 * MIB, 5 * MIB, 5 * MIB),
    "realloc_zero_from": (0, 0, 2 * MIB),
    "realloc_zero": (0, 0, 0),
    "reallocarray": (MIB, MIB, MIB),
    "posix_memalign": (2 * MIB, 2 * MIB, 2 * MIB),
    "aligned_alloc": (MIB, MIB, MIB),
    "memalign": (MIB, MIB, MIB),
    "mmap": (2 * MIB, 2 * MIB, 4 * MIB),     # 4 MiB less a head and a hole of 1 MiB
    "munmap_head": (0, 0, 0),
    "munmap_hole": (0, 0, 0),
    "mremap_from": (0, 0, MIB),
    "mremap_to": (6 * MIB, 6 * MIB, 6 * MIB),
    "thread": (6 * MIB, 6 * MIB, 6 * MIB),
    "cthread": (0, 0, 0),                    # its own thread: no Python frame, unattributed
    "plugin": (5 * MIB, 5 * MIB, 5 * MIB),
    "seen_report": (2 * MIB, 2 * MIB, 2 * MIB),   # malloc seen: the report is not counted
    "report": (3 * MIB, 3 * MIB, 3 * MIB),
    "report_dropped": (0, 0, MIB),
    "untrack": (0, 0, 0),
    "temp": (0, 32 * MIB, 32 * MIB),
    "free": (0, 0, 0),
}
KEPT = 8 + 3 + 5 + 1 + 2 + 1 + 1 + 2 + 6 + 6 + 7 + 5 + 2 + 3  # MiB live at the end


def run(cmd, **kw):
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, **kw)


def tags(src):
    out = {}
    for no, line in enumerate(src.splitlines(), 1):
        if "# tag " in line:
            out[line.split("# tag ")[1].split()[0]] = no
    return out


def build_library(folder):
    """libpfnat.so in folder, with plugins/libpfplugin.so beside it; None without cc."""
    if shutil.which(CC) is None:
        return None
    os.makedirs(os.path.join(folder, "plugins"))
    for name, src in (("nat.c", LIB_C), ("plugin.c", PLUGIN_C)):
        with open(os.path.join(folder, name), "w") as f:
            f.write(src)
    lib = os.path.join(folder, "libpfnat.so")
    plugin = os.path.join(folder, "plugins", "libpfplugin.so")
    for out, src, extra in ((plugin, "plugin.c", []),
                            (lib, "nat.c", ["-Wl,-rpath,$ORIGIN/plugins", "-pthread"])):
        r = run([CC, "-shared", "-fPIC", "-O1", "-o", out, os.path.join(folder, src)] + extra)
        if r.returncode != 0:
            raise AssertionError("cannot build the test library: %s" % r.stderr)
    return lib


def read_trace(trace):
    env = dict(os.environ)
    pkg = os.path.join(os.path.dirname(os.path.abspath(PYFLAME)), "python")
    env["PYTHONPATH"] = pkg + os.pathsep + env.get("PYTHONPATH", "")
    r = run([PYTHON, "-m", "pyflame.dump", trace], env=env)
    if r.returncode != 0:
        raise AssertionError("pyflame.dump failed: %s" % r.stderr)
    return json.loads(r.stdout)


def line_values(trace, filename):
    """{line: {field: value}} of filename's rows in convert -f lines (the largest value
    when several code objects share a line)."""
    r = run([PYFLAME, "convert", "-f", "lines", trace])
    if r.returncode != 0:
        raise AssertionError("convert -f lines failed: %s" % r.stderr)
    out = {}
    for row in csv.DictReader(r.stdout.splitlines(), delimiter="\t"):
        if os.path.basename(row["file"]) != filename:
            continue
        d = out.setdefault(int(row["line"]), {})
        for k in ("alloc_bytes", "peak_bytes", "exit_bytes"):
            d[k] = max(d.get(k, 0), int(row[k]))
    return out


class NativeLibrary(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.dir = cls.tmp.name
        cls.lib = build_library(cls.dir)
        if cls.lib is None:
            raise unittest.SkipTest("no C compiler (%s)" % CC)
        cls.prog = os.path.join(cls.dir, "native.py")
        with open(cls.prog, "w") as f:
            f.write(PROGRAM)
        cls.tags = tags(PROGRAM)
        plain = run([PYTHON, cls.prog, cls.lib])
        # Under ASan, its dlopen interceptor is the caller glibc sees: the library's RUNPATH
        # is not searched and the plugin does not load without pyflame-c (with it, the
        # hook searches as the library would, and it does).
        cls.asan = "asan" in os.environ.get("LD_PRELOAD", "")
        if plain.returncode != 0 or not ("plugin ok" in plain.stdout or cls.asan):
            raise AssertionError("the program fails without pyflame-c: %s %s"
                                 % (plain.stdout, plain.stderr))
        cls.plain_stdout = plain.stdout
        cls.trace = os.path.join(cls.dir, "native.gz")
        cls.result = run([PYFLAME, "collect", "--memory", "--python", PYTHON, "-o", cls.trace,
                          cls.prog, cls.lib])
        if cls.result.returncode != 0:
            raise AssertionError("collect --memory failed (%d): %s"
                                 % (cls.result.returncode, cls.result.stderr))
        cls.lines = line_values(cls.trace, "native.py")
        cls.meta = read_trace(cls.trace)["meta"]

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_program_does_not_notice(self):
        self.assertIn("plugin ok", self.result.stdout)       # dlopen searched as its caller
        if self.asan:
            plain = self.plain_stdout.replace("plugin FAILED", "plugin ok")
            self.assertEqual(self.result.stdout, plain)
        else:
            self.assertEqual(self.result.stdout, self.plain_stdout)

    def test_every_hooked_function_per_line(self):
        for tag, (exit_b, peak_b, alloc_b) in EXPECT.items():
            got = self.lines.get(self.tags[tag], {"exit_bytes": 0, "peak_bytes": 0,
                                                  "alloc_bytes": 0})
            for field, want in (("exit_bytes", exit_b), ("peak_bytes", peak_b),
                                ("alloc_bytes", alloc_b)):
                self.assertTrue(want <= got[field] <= want + SLACK,
                                "%s (line %d) %s: %d, want %d (+%d)"
                                % (tag, self.tags[tag], field, got[field], want, SLACK))

    def test_peak_and_its_native_share(self):
        m = self.meta
        self.assertTrue(m["modes"] & 4 and m["modes"] & 16, m["modes"])
        # everything kept, the C thread's 7 MiB (unattributed) included, and the temporary
        self.assertGreaterEqual(m["peak_native_bytes"], (KEPT + 32) * MIB)
        self.assertLess(m["peak_native_bytes"], (KEPT + 32) * MIB + 8 * MIB)
        self.assertGreaterEqual(m["peak_live_bytes"], m["peak_native_bytes"])
        r = run([PYFLAME, "convert", "-f", "text", "--limit", "1", self.trace])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout, r"\nMemory:  peak [0-9.]+ MiB \(native [0-9.]+ MiB, "
                                   r"Python [0-9.]+ [KM]?i?B\)\n")
        self.assertRegex(self.result.stderr, r"memory peak [0-9.]+ MiB, native [0-9.]+ MiB\)")
        r = run([PYFLAME, "convert", "-f", "markdown", self.trace])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout, r"\n\| peak memory \(traced\) \| [0-9.]+ MiB \(native "
                                   r"[0-9.]+ MiB, Python [0-9.]+ [KM]?i?B\) \|\n")

    def test_memory_python_sees_no_native_bytes(self):
        trace = os.path.join(self.dir, "python.gz")
        r = run([PYFLAME, "collect", "--memory=python", "--python", PYTHON, "-o", trace,
                 self.prog, self.lib])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, self.plain_stdout)
        lines = line_values(trace, "native.py")
        for tag in ("malloc", "mmap", "report", "thread", "temp"):
            got = lines.get(self.tags[tag], {}).get("alloc_bytes", 0)
            self.assertLess(got, SLACK, "%s: %d bytes under --memory=python" % (tag, got))
        meta = read_trace(trace)["meta"]
        self.assertTrue(meta["modes"] & 4)
        self.assertFalse(meta["modes"] & 16)
        self.assertEqual(meta["peak_native_bytes"], 0)
        self.assertLess(meta["peak_live_bytes"], 16 * MIB)
        t = run([PYFLAME, "convert", "-f", "text", "--limit", "1", trace])
        self.assertNotIn("Memory:", t.stdout)
        self.assertNotIn("native", r.stderr)


FORK = BIND + """\
def child_work():    # a child's recording starts at the fork: frames open then have no node
    KEEP.append(lib.nat_malloc(9 * MiB))                     # tag child

pid = os.fork()
if pid == 0:
    child_work()
    os._exit(0)
_, status = os.waitpid(pid, 0)
KEEP.append(lib.nat_malloc(4 * MiB))                         # tag parent
print("child status", status)
"""

COEXIST = BIND + """\
import tracemalloc
tracemalloc.start()
base = tracemalloc.get_traced_memory()[0]
buf = lib.nat_static_buffer()
print("track", lib.nat_track(buf, 3 * MiB))                  # tag t
print("tracked", (tracemalloc.get_traced_memory()[0] - base) // MiB)
print("untrack", lib.nat_untrack(buf))
print("after", (tracemalloc.get_traced_memory()[0] - base) // MiB)
tracemalloc.stop()
print("track stopped", lib.nat_track(buf, MiB))
"""

API = BIND + """\
sys.path.insert(0, sys.argv[2])
import pyflame
out = sys.argv[3]
with pyflame.profile(out + "/all.gz", memory=True) as prof:
    KEEP.append(lib.nat_malloc(3 * MiB))
print("native", sorted(prof.summary["native"]), prof.summary["native"]["slots"] > 0,
      prof.summary["peak_native_bytes"] >= 3 * MiB)
with pyflame.profile(out + "/python.gz", memory="python") as prof:
    KEEP.append(lib.nat_malloc(3 * MiB))
print("python", "native" in prof.summary, prof.summary["peak_native_bytes"])
try:
    pyflame.start(out + "/bad.gz", memory="bogus")
except ValueError as e:
    print("bad", "unknown memory mode" in str(e))
KEEP.append(lib.nat_malloc(MiB))     # after stop: the hooks only forward
lib.nat_free(KEEP.pop())
"""


class NativeInPrograms(unittest.TestCase):
    """Forked children, tracemalloc in the program, the Python API."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.dir = cls.tmp.name
        cls.lib = build_library(cls.dir)
        if cls.lib is None:
            raise unittest.SkipTest("no C compiler (%s)" % CC)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def write(self, name, src):
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            f.write(src)
        return path

    def collect(self, prog, *opts):
        trace = os.path.join(self.dir, os.path.basename(prog) + ".gz")
        r = run([PYFLAME, "collect", "-q", "--python", PYTHON, "-o", trace] + list(opts)
                + [prog, self.lib])
        self.assertEqual(r.returncode, 0, r.stderr)
        return r, trace

    def test_fork_child_followed_and_not(self):
        prog = self.write("forker.py", FORK)
        t = tags(FORK)
        r, trace = self.collect(prog, "--memory")
        self.assertIn("child status 0", r.stdout)
        lines = line_values(trace, "forker.py")
        self.assertTrue(9 * MIB <= lines[t["child"]]["exit_bytes"] <= 9 * MIB + SLACK, lines)
        self.assertTrue(4 * MIB <= lines[t["parent"]]["exit_bytes"] <= 4 * MIB + SLACK, lines)
        d = read_trace(trace)
        self.assertEqual(len(d["processes"]), 2)
        self.assertGreaterEqual(d["processes"][1]["peak_live_bytes"], 9 * MIB)
        # not followed: the child drops the hooks and runs on, unrecorded
        r, trace = self.collect(prog, "--memory", "--no-follow")
        self.assertIn("child status 0", r.stdout)
        lines = line_values(trace, "forker.py")
        self.assertEqual(lines.get(t["child"], {}).get("alloc_bytes", 0), 0)
        self.assertTrue(4 * MIB <= lines[t["parent"]]["exit_bytes"] <= 4 * MIB + SLACK)

    def test_tracemalloc_in_the_program_sees_what_it_sees_alone(self):
        prog = self.write("coexist.py", COEXIST)
        plain = run([PYTHON, prog, self.lib])
        self.assertEqual(plain.returncode, 0, plain.stderr)
        self.assertIn("tracked 3\n", plain.stdout)
        self.assertIn("after 0\n", plain.stdout)
        r, trace = self.collect(prog, "--memory")
        self.assertEqual(r.stdout, plain.stdout)
        # the report was ours to count too (not seen as an allocation)
        lines = line_values(trace, "coexist.py")
        self.assertGreaterEqual(lines[tags(COEXIST)["t"]]["alloc_bytes"], 3 * MIB)

    def test_python_api_memory_modes(self):
        pkg = os.path.join(os.path.dirname(os.path.abspath(PYFLAME)), "python")
        prog = self.write("api.py", API)
        r = run([PYTHON, prog, self.lib, pkg, self.dir])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("native ['objects', 'refused', 'slots'] True True", r.stdout)
        self.assertIn("python False 0", r.stdout)
        self.assertIn("bad True", r.stdout)
        meta = read_trace(os.path.join(self.dir, "all.gz"))["meta"]
        self.assertTrue(meta["modes"] & 16)
        meta = read_trace(os.path.join(self.dir, "python.gz"))["meta"]
        self.assertFalse(meta["modes"] & 16)


NUMPY = """\
import sys
if len(sys.argv) > 1:
    import tracemalloc
    tracemalloc.start(25)
import numpy as np
a = np.ones((10_000_000,))                          # tag ones
b = a * 2                                           # tag mul
c = [np.zeros(100_000) for _ in range(20)]          # tag list
t = np.concatenate([a, b])                          # tag temp
del t
if len(sys.argv) > 1:
    import json
    peak = tracemalloc.get_traced_memory()[1]
    me = __file__
    by_line = {}
    for tr in tracemalloc.take_snapshot().traces:
        # inclusive, as pyflame-c's lines: each block once per line of this file on its stack
        for line in {f.lineno for f in tr.traceback if f.filename == me}:
            by_line[line] = by_line.get(line, 0) + tr.size
    with open(sys.argv[1], "w") as f:
        json.dump({"peak": peak, "exit_by_line": by_line}, f)
"""


def close(a, b):
    return abs(a - b) <= max(2 * MIB, 0.05 * max(a, b))


class NumpyVsTracemalloc(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if run([PYTHON, "-c", "import numpy"]).returncode != 0:
            raise unittest.SkipTest("numpy is not importable by %s" % PYTHON)
        cls.tmp = tempfile.TemporaryDirectory()
        d = cls.tmp.name
        prog = os.path.join(d, "np_prog.py")
        with open(prog, "w") as f:
            f.write(NUMPY)
        cls.tags = tags(NUMPY)
        trace = os.path.join(d, "np.gz")
        r = run([PYFLAME, "collect", "-q", "--memory", "--python", PYTHON, "-o", trace, prog])
        if r.returncode != 0:
            raise AssertionError("collect --memory failed: %s" % r.stderr)
        cls.lines = line_values(trace, "np_prog.py")
        cls.meta = read_trace(trace)["meta"]
        out = os.path.join(d, "tm.json")
        r = run([PYTHON, prog, out])
        if r.returncode != 0:
            raise AssertionError("tracemalloc run failed: %s" % r.stderr)
        with open(out) as f:
            cls.tm = json.load(f)
        cls.python_trace = os.path.join(d, "py.gz")
        r = run([PYFLAME, "collect", "-q", "--memory=python", "--python", PYTHON, "-o",
                 cls.python_trace, prog])
        if r.returncode != 0:
            raise AssertionError("collect --memory=python failed: %s" % r.stderr)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_peak_matches_tracemalloc(self):
        ours, theirs = self.meta["peak_live_bytes"], self.tm["peak"]
        self.assertGreater(theirs, 320 * MIB)
        self.assertTrue(close(ours, theirs), "peak: ours %d, tracemalloc %d" % (ours, theirs))
        self.assertGreater(self.meta["peak_native_bytes"], 320 * MIB)

    def test_exit_bytes_per_line_match_tracemalloc(self):
        for tag, size in (("ones", 80 * 10**6), ("mul", 80 * 10**6), ("list", 16 * 10**6)):
            no = self.tags[tag]
            ours = self.lines[no]["exit_bytes"]
            theirs = self.tm["exit_by_line"].get(str(no), 0)
            self.assertGreaterEqual(theirs, size)
            self.assertTrue(close(ours, theirs), "%s: ours %d, tracemalloc %d"
                            % (tag, ours, theirs))
        temp = self.lines[self.tags["temp"]]
        self.assertLess(temp["exit_bytes"], 2 * MIB)
        self.assertGreaterEqual(temp["peak_bytes"], 160 * 10**6)

    def test_memory_python_misses_numpy_data_as_before(self):
        lines = line_values(self.python_trace, "np_prog.py")
        self.assertLess(lines.get(self.tags["ones"], {}).get("exit_bytes", 0), MIB)
        self.assertLess(read_trace(self.python_trace)["meta"]["peak_live_bytes"], 64 * MIB)


if __name__ == "__main__":
    unittest.main()
