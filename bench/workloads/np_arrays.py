"""np_arrays: numpy allocation patterns for bench_memory.sh's native tracking -- many
small arrays (numpy's per-array malloc, its small-buffer cache, Python objects around
them), large arrays and arithmetic temporaries (one big malloc each, reported with
PyTraceMalloc_Track), a list of arrays kept alive, a growing array (realloc).  About
2-3 s under plain python3.  Needs numpy."""
import numpy as np

SMALL = 500_000
BIG = 500
LIST = 20_000


def small_arrays(n):
    total = 0.0
    for i in range(n):
        a = np.arange(64, dtype=np.float64)
        total += float((a * i).sum())
    return total


def big_arrays(n):
    keep = []
    for i in range(n):
        a = np.ones((250_000,))
        b = a * 2.0 + i
        c = np.sqrt(b)
        keep.append(c[::5000].copy())
    return keep


def list_of_arrays(n):
    return [np.zeros(2_000) + k for k in range(n)]


def grow(n):
    a = np.zeros(0)
    for i in range(n):
        a.resize(a.size + 1000, refcheck=False)
    return a


def main():
    small_arrays(SMALL)
    big_arrays(BIG)
    kept = list_of_arrays(LIST)
    grow(2000)
    return len(kept)


if __name__ == "__main__":
    main()
