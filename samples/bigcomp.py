"""bigcomp.py: one big comprehension and a dict built from it -- the simplest allocation-
heavy program (millions of small objects live at once, then freed).  About a second
unprofiled; bench/bench_memory.sh uses it.

    pyflame-c collect --memory -o mem.gz samples/bigcomp.py
"""
import sys


def main(n):
    words = ["w%07d" % i for i in range(n)]
    index = {w: i for i, w in enumerate(words)}
    pairs = [(w, index[w] * 2) for w in words]
    return len(pairs)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000000)
