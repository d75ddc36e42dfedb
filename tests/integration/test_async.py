"""Integration tests of asyncio programs: the links the collector records (every task to
the create_task call that made it, thread pool work to its submitter) and the async
view of `convert -f text|collapsed --async`, `svg --async` and `html --async`: each
coroutine under the task and the awaiting chain that led to it, not under the event
loop.  The default outputs keep their meaning: a coroutine resume is a call, as in
cProfile (compared with it here), and a program without asyncio gives the same bytes
with and without --async but for the line that states the view.

Run by scripts/run-integration.sh under every interpreter, or by hand:
    PYFLAME_C=build/pyflame-c PYFLAME_PYTHON=python3.12 python3.12 tests/integration/test_async.py
The interpreter running this file must be PYFLAME_PYTHON (the trace reader is its
collector's).
"""
try:
    from profiling import tracing as cProfile   # 3.15+: cProfile's new home
except ImportError:
    import cProfile  # noqa: F401  (the module name below is what matters)
import os
import pstats
import re
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_collect import BIN, PY, CollectTestCase, Trace  # noqa: E402

VERSION = tuple(int(x) for x in subprocess.run(
    [PY, "-c", "import sys; print('%d %d' % sys.version_info[:2])"],
    stdout=subprocess.PIPE).stdout.split())
PROFILER = "profiling.tracing" if VERSION >= (3, 15) else "cProfile"

GATHER = """
import asyncio

def spin(n):
    s = 0
    for i in range(n):
        s += i
    return s

async def inner_coro(i):
    spin(2000)
    await asyncio.sleep(0)
    spin(2000)

async def middle_coro(i):
    await inner_coro(i)

async def worker(i):
    for _ in range(5):
        await middle_coro(i)
        await asyncio.sleep(0)

async def main():
    await asyncio.gather(*(worker(i) for i in range(4)))
    await asyncio.sleep(0)

asyncio.run(main())
"""


def line_of(src, needle):
    """The line number of the first line of src holding needle."""
    for i, line in enumerate(src.splitlines(), 1):
        if needle in line:
            return i
    raise AssertionError(needle)


def folded(text):
    """{stack: count} of collapsed text."""
    out = {}
    for line in text.splitlines():
        stack, _, count = line.rpartition(" ")
        out[stack] = out.get(stack, 0) + int(count)
    return out


def frames(stack):
    """The frame names of a collapsed stack, without their (file:line)."""
    return [re.sub(r" \([^()]*\)$", "", f) for f in stack.split(";")]


class AsyncTestCase(CollectTestCase):
    def record(self, src, name="prog.py"):
        script = self.write(name, src)
        r, out = self.collect([script])
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        self.trace_path = out
        self.script = script
        return Trace(out)

    def pyflame(self, *args):
        r = subprocess.run([BIN] + list(args), cwd=self.tmp, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        return r.stdout.decode()

    def stacks(self, *extra):
        """{stack as a tuple of frame names: calls} of the trace, collapsed."""
        out = {}
        for stack, n in folded(self.pyflame("convert", "-f", "collapsed", "--metric", "calls",
                                            *(list(extra) + [self.trace_path]))).items():
            k = tuple(frames(stack))
            out[k] = out.get(k, 0) + n
        return out

    def paths_to(self, stacks, name):
        """The distinct prefixes of stacks that end at a frame named name."""
        out = set()
        for s in stacks:
            if name in s:
                out.add(s[:s.index(name) + 1])
        return out


class TestLinks(AsyncTestCase):
    def test_tasks_link_to_their_create_task(self):
        t = self.record(GATHER)
        links = t.d["links"]
        self.assertEqual(t.meta["links_dropped"], 0)
        by_node = {t.name(t.nodes[n]): (t.name(t.nodes[c]), k) for n, c, k in links}
        for task in ("main", "worker"):
            self.assertIn(task, by_node, links)
            self.assertEqual(by_node[task], ("create_task", 0))
        # a worker's resumes are the worker's calls, split by creator only
        workers = t.by_name("worker")
        self.assertEqual(len(workers), 1)
        self.assertEqual(t.nodes[workers[0]]["call_line"], 0)
        self.assertEqual(t.calls("worker"), 4 * 11)  # its start and 10 resumes, each
        # the chain inside a task is not linked: middle_coro and inner_coro ran under worker
        for name in ("middle_coro", "inner_coro"):
            for i in t.by_name(name):
                self.assertNotIn(i, [n for n, _, _ in links])

    def test_a_finished_task_leaves_no_link_behind(self):
        # the coroutines of finished tasks are freed; new ones of the same size get
        # their addresses: driven by hand (no create_task), they must not be linked
        t = self.record("""
            import asyncio

            async def job(i):
                return i

            async def main():
                for i in range(300):
                    await asyncio.create_task(job(i))

            asyncio.run(main())

            async def manual(i):
                return i

            def drive():
                for i in range(300):
                    c = manual(i)
                    try:
                        c.send(None)
                    except StopIteration:
                        pass

            drive()
        """)
        linked = set(n for n, _, _ in t.d["links"])
        self.assertTrue(any(i in linked for i in t.by_name("job")))
        self.assertEqual(t.calls("manual"), 300)
        for i in t.by_name("manual"):
            self.assertNotIn(i, linked)

    def test_pstats_counts_resumes_as_cprofile_does(self):
        self.record(GATHER)
        ours = os.path.join(self.tmp, "ours.prof")
        theirs = os.path.join(self.tmp, "theirs.prof")
        self.pyflame("convert", "-f", "pstats", "-o", ours, self.trace_path)
        r = self.plain(["-m", PROFILER, "-o", theirs, self.script])
        self.assertEqual(r.returncode, 0, r.stderr.decode())

        def ours_of(path):
            st = pstats.Stats(path).stats
            return {k[2]: v[:2] for k, v in st.items() if k[0].endswith("prog.py")}
        a, b = ours_of(ours), ours_of(theirs)
        for name in ("main", "worker", "middle_coro", "inner_coro", "spin", "<module>"):
            self.assertEqual(a[name], b[name], "%s: ours %s, %s %s" % (name, a[name], PROFILER,
                                                                       b[name]))
        r = subprocess.run([BIN, "convert", "-f", "pstats", "--async", "-o", ours,
                            self.trace_path], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.assertEqual(r.returncode, 2)
        self.assertIn(b"--async does not apply to -f pstats", r.stderr)


class TestAsyncView(AsyncTestCase):
    def test_gather_workers_under_main_and_their_task(self):
        self.record(GATHER)
        plain = self.stacks()
        view = self.stacks("--async")
        # default: the workers under the event loop, no task frames
        for p in self.paths_to(plain, "worker"):
            self.assertTrue(p[-4].endswith("_run_once") and p[-3].endswith("_run"), p)
        self.assertFalse(any("<task>" in s for s in plain))
        # async: <module> -> <task> -> main -> <task> -> worker, nothing of the loop above
        self.assertEqual(self.paths_to(view, "worker"),
                         {("MainThread", "<module>", "<task>", "main", "<task>", "worker")})
        self.assertEqual(self.paths_to(view, "inner_coro"),
                         {("MainThread", "<module>", "<task>", "main", "<task>", "worker",
                           "middle_coro", "inner_coro")})
        # the same calls: a worker's resumes, spin's calls
        for name in ("worker", "middle_coro", "inner_coro", "spin"):
            self.assertEqual(sum(n for s, n in plain.items() if s[-1] == name),
                             sum(n for s, n in view.items() if s[-1] == name), name)
        # a <task> frame counts the tasks made there
        self.assertEqual(view[("MainThread", "<module>", "<task>", "main", "<task>")], 4)
        # and it hangs from main's gather line (line granularity names the line)
        lines = folded(self.pyflame("convert", "-f", "collapsed", "--async", "--metric", "calls",
                                    "--granularity", "line", self.trace_path))
        gather, run = line_of(GATHER, "asyncio.gather("), line_of(GATHER, "asyncio.run(")
        self.assertTrue(any(re.search(r"main \(prog\.py:%d\);<task>;worker" % gather, s)
                            for s in lines), "\n".join(s for s in lines if "worker" in s))
        self.assertTrue(any(re.search(r"<module> \(prog\.py:%d\);<task>;main" % run, s)
                            for s in lines))

    def test_time_moves_with_the_tasks(self):
        self.record(GATHER)
        view = folded(self.pyflame("convert", "-f", "collapsed", "--async", self.trace_path))
        plain = folded(self.pyflame("convert", "-f", "collapsed", self.trace_path))
        # the same self time in all, spin's under the workers
        self.assertEqual(sum(plain.values()), sum(view.values()))
        spin = [s for s in view if frames(s)[-1] == "spin"]
        self.assertTrue(spin)
        for s in spin:
            self.assertIn(";<task>;worker", s)
        # text: main's cumulative time holds its workers'
        text = self.pyflame("convert", "-f", "text", "--async", "--limit", "0", self.trace_path)
        self.assertIn("View:    async", text)
        cum = {}
        for line in text.splitlines():
            m = re.match(r"\s*([\d/]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+\S*\s+prog\.py:\d+\((\w+)\)", line)
            if m:
                cum[m.group(5)] = float(m.group(4))
        self.assertGreaterEqual(cum["main"], cum["worker"])
        self.assertGreater(cum["worker"], 0)
        self.assertNotIn("View:", self.pyflame("convert", "-f", "text", self.trace_path))

    def test_svg_and_html_state_the_view(self):
        self.record(GATHER)
        svg = self.pyflame("svg", "--async", self.trace_path)
        self.assertIn("Async view: tasks under the code that created them", svg)
        self.assertIn("&lt;task&gt;", svg)
        self.assertNotIn("Async view", self.pyflame("svg", self.trace_path))
        html = self.pyflame("html", "--async", self.trace_path)
        self.assertIn("<tr><th>View</th><td>async:", html)
        self.assertNotIn("<tr><th>View</th>", self.pyflame("html", self.trace_path))

    @unittest.skipUnless(VERSION >= (3, 11), "TaskGroup is 3.11+")
    def test_taskgroup(self):
        self.record("""
            import asyncio

            async def job(i):
                await asyncio.sleep(0)
                return sum(range(1000))

            async def main():
                async with asyncio.TaskGroup() as tg:
                    for i in range(3):
                        tg.create_task(job(i))           # line 11

            asyncio.run(main())
        """)
        view = self.stacks("--async")
        self.assertEqual(self.paths_to(view, "job"),
                         {("MainThread", "<module>", "<task>", "main", "<task>", "job")})
        self.assertEqual(view[("MainThread", "<module>", "<task>", "main", "<task>")], 3)

    def test_tasks_creating_tasks(self):
        self.record("""
            import asyncio

            async def leaf():
                await asyncio.sleep(0)

            async def parent():
                t = asyncio.create_task(leaf())
                await t
                await asyncio.ensure_future(leaf())

            async def spawn(n):
                # a chain of tasks of one function: folded, like recursion
                if n:
                    await asyncio.create_task(spawn(n - 1))

            async def main():
                await asyncio.wait_for(parent(), 10)
                await spawn(50)

            asyncio.run(main())
        """)
        t = Trace(self.trace_path)
        self.assertLessEqual(len(t.by_name("spawn")), 4, "one node per generation?")
        view = self.stacks("--async")
        leaf = self.paths_to(view, "leaf")
        self.assertEqual(len(leaf), 1, leaf)
        path = leaf.pop()
        self.assertEqual(path[-3:], ("parent", "<task>", "leaf"))
        self.assertIn("main", path)
        self.assertNotIn("BaseEventLoop._run_once", path)
        spawn = self.paths_to(view, "spawn")
        self.assertTrue(spawn)
        for p in spawn:
            self.assertEqual(p[:4], ("MainThread", "<module>", "<task>", "main"))
            self.assertNotIn("BaseEventLoop._run_once", p)
        t_view = sum(n for s, n in view.items() if s[-1] == "spawn")
        self.assertEqual(t_view, t.calls("spawn"))

    def test_nested_awaits_stay_one_chain(self):
        self.record(GATHER)
        view = self.stacks("--async")
        for s in view:
            if "inner_coro" in s:
                i = s.index("inner_coro")
                self.assertEqual(s[i - 2:i], ("worker", "middle_coro"), s)

    @unittest.skipUnless(VERSION >= (3, 12), "eager tasks are 3.12+")
    def test_eager_tasks(self):
        self.record("""
            import asyncio

            async def job():
                return sum(range(100))

            async def main():
                asyncio.get_running_loop().set_task_factory(asyncio.eager_task_factory)
                await asyncio.gather(job(), job())

            asyncio.run(main())
        """)
        view = self.stacks("--async")
        self.assertEqual(self.paths_to(view, "job"),
                         {("MainThread", "<module>", "<task>", "main", "<task>", "job")})

    @unittest.skipUnless(VERSION >= (3, 9), "asyncio.to_thread is 3.9+")
    def test_to_thread_work_under_the_awaiting_coroutine(self):
        self.record("""
            import asyncio

            def blocking(n):
                return sum(range(n))

            async def main():
                await asyncio.to_thread(blocking, 100000)       # line 8

            asyncio.run(main())
        """)
        plain = self.stacks()
        view = self.stacks("--async")
        # default: in the pool's thread
        self.assertTrue(all(p[0] != "MainThread" for p in self.paths_to(plain, "blocking")))
        self.assertEqual(self.paths_to(view, "blocking"),
                         {("MainThread", "<module>", "<task>", "main", "<thread pool>",
                           "blocking")})
        self.assertEqual(view[("MainThread", "<module>", "<task>", "main", "<thread pool>")], 1)

    def test_thread_pool_submit_without_asyncio(self):
        self.record("""
            from concurrent.futures import ThreadPoolExecutor

            def work(n):
                return sum(range(n))

            def main():
                futs = []
                with ThreadPoolExecutor(max_workers=2) as ex:
                    for _ in range(6):
                        futs.append(ex.submit(work, 20000))
                return [f.result() for f in futs]

            main()
        """)
        view = self.stacks("--async")
        self.assertEqual(self.paths_to(view, "work"),
                         {("MainThread", "<module>", "main", "<thread pool>", "work")})
        self.assertEqual(sum(n for s, n in view.items() if s[-1] == "work"), 6)
        self.assertEqual(view[("MainThread", "<module>", "main", "<thread pool>")], 6)
        # the pool's own bookkeeping stays in its threads
        bookkeeping = [s for s in view if s[-1].endswith("set_result")]
        self.assertTrue(bookkeeping)
        self.assertTrue(all(s[0] != "MainThread" for s in bookkeeping), bookkeeping)

    def test_program_without_asyncio_is_unchanged(self):
        self.record("""
            def f(n):
                return n if n < 2 else f(n - 1) + f(n - 2)

            def main():
                return [f(15) for _ in range(3)]

            main()
        """)
        t = self.trace_path
        self.assertEqual(Trace(t).d["links"], [])
        for fmt in (["-f", "collapsed"], ["-f", "collapsed", "--granularity", "line"],
                    ["-f", "text", "--limit", "0"]):
            a = self.pyflame("convert", *(fmt + [t]))
            b = self.pyflame("convert", *(fmt + ["--async", t]))
            b = re.sub(r"(?m)^View:    async.*\n", "", b, count=1)
            self.assertEqual(a, b, fmt)
        # the SVG with a subtitle of its own, and the HTML without its View row
        self.assertEqual(self.pyflame("svg", "--subtitle", "s", t),
                         self.pyflame("svg", "--subtitle", "s", "--async", t))
        html = re.sub(r"<tr><th>View</th>.*?</tr>\n", "", self.pyflame("html", "--async", t),
                      count=1)
        self.assertEqual(self.pyflame("html", t), html)


if __name__ == "__main__":
    unittest.main()
