"""allocs.py: a small program with well-known memory behaviour, to try `collect --memory`
and to check it against tracemalloc (tests/integration/test_memory.py does).

    pyflame-c collect --memory -o mem.gz samples/allocs.py
    pyflame-c convert -f lines mem.gz          # alloc/peak/exit bytes per line
    python3 samples/allocs.py --tracemalloc out.json   # the same numbers seen by tracemalloc

What it does, line by line (the "# M:" tags name the lines the test compares):
  - builds a list of 200,000 small lists in a comprehension and keeps it (global);
  - builds a dict of 100,000 strings and keeps it;
  - allocates a 24 MiB temporary and frees it -- this sets the run's peak;
  - leaks 50,000 strings into a global list;
  - drops the list of lists, so at exit only the dict and the leak are live.
"""
import json
import sys

KEEP = {}
LEAK = []
AT_PEAK = None      # --tracemalloc: called while the temporary is live (the run's peak)


def build_list(n):
    return [[i, i + 1] for i in range(n)]  # M:list


def build_dict(n):
    return {"k%d" % i: "value-%d" % i for i in range(n)}  # M:dict


def temporary(nbytes):
    buf = bytearray(nbytes)  # M:temp
    if AT_PEAK:
        AT_PEAK()
    total = len(buf)
    del buf
    return total


def leak(n):
    LEAK.append(["leaked-%d" % i for i in range(n)])  # M:leak


def main():
    KEEP["list"] = build_list(200000)
    KEEP["dict"] = build_dict(100000)
    temporary(24 << 20)
    leak(50000)
    del KEEP["list"]


def tag_lines():
    """{tag: line number} of the "# M:" lines of this file."""
    import re
    tags = {}
    with open(__file__) as f:
        for no, text in enumerate(f, 1):
            m = re.search(r"# M:(\w+)$", text.rstrip())
            if m:
                tags[m.group(1)] = no
    return tags


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--tracemalloc":
        import tracemalloc

        def by_line(snap):
            lines = {}
            for st in snap.statistics("lineno"):
                fr = st.traceback[0]
                if fr.filename == __file__:
                    lines[fr.lineno] = lines.get(fr.lineno, 0) + st.size
            return lines

        at_peak = {}

        def take_at_peak():
            at_peak.update(by_line(tracemalloc.take_snapshot()))

        AT_PEAK = take_at_peak
        tracemalloc.start(1)
        main()
        _, peak = tracemalloc.get_traced_memory()
        snap = tracemalloc.take_snapshot()
        tracemalloc.stop()
        with open(sys.argv[2], "w") as f:
            json.dump({"peak": peak, "exit_by_line": by_line(snap), "peak_by_line": at_peak,
                       "tags": tag_lines()}, f)
    else:
        main()
