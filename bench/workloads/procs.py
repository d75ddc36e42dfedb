"""procs.py [fork|spawn|forkserver]: a program whose work runs in child processes (for
bench/bench_procs.sh): a multiprocessing Pool and a ProcessPoolExecutor, four tasks
each per worker, CPU-bound pure-Python tasks, then a subprocess of sys.executable."""
import subprocess
import sys
import multiprocessing as mp
from concurrent.futures import ProcessPoolExecutor


def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)


def task(n):
    return sum(fib(21) for _ in range(n))


if __name__ == "__main__":
    ctx = mp.get_context(sys.argv[1] if len(sys.argv) > 1 else "fork")
    with ctx.Pool(2) as pool:
        a = sum(pool.map(task, [40] * 8))
    with ProcessPoolExecutor(2, mp_context=ctx) as ex:
        b = sum(ex.map(task, [40] * 8))
    subprocess.run([sys.executable, "-c", "import sys; sys.setrecursionlimit(100)"], check=True)
    print(a + b)
