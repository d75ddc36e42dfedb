"""_compare.py: compares a pstats file written by pyflame-c with one written by
`python -m cProfile -o` for the same program, the way the converter promises:
for every function defined in the program and every builtin the program calls
directly, (nc, cc) and each caller edge's (nc, cc) among those functions are equal.
A builtin's total counts are not compared (the profiler's own runner code may call
the same builtin), only its edges from program functions.

Usage: python _compare.py OURS.prof CPROFILE.prof PROGRAM.py [SKIP_NAME...]
Exit 0 when equal, 1 with a list of differences otherwise.  Also imported by
tests/integration/test_convert_pstats.py."""
import os
import pstats
import sys


def norm_key(key, prog):
    """Maps the program's file to 'PROG', whether a tool recorded it absolute or
    relative to the directory it ran in (the program's own directory).  Only that file:
    a library module with the same base name (asyncio/coroutines.py) stays itself."""
    f, line, name = key
    if f != "~" and os.path.normpath(os.path.join(os.path.dirname(prog), f)) == \
            os.path.normpath(prog):
        return ("PROG", line, name)
    return key


def load(path, prog):
    st = pstats.Stats(path)
    out = {}
    for key, (cc, nc, tt, ct, callers) in st.stats.items():
        out[norm_key(key, prog)] = (cc, nc, tt, ct,
                                    {norm_key(c, prog): v for c, v in callers.items()})
    return out


def compared_set(stats, skip=()):
    """Program functions plus the builtins program functions call directly."""
    prog = {k for k in stats if k[0] == "PROG" and k[2] not in skip}
    return prog | {k for k, v in stats.items() if k[0] == "~" and any(c in prog for c in v[4])}


def differences(ours, theirs, skip=()):
    want, got = compared_set(theirs, skip), compared_set(ours, skip)
    problems = []
    for k in sorted(want - got, key=str):
        problems.append("missing in ours: %s (cProfile nc=%d)" % (k, theirs[k][1]))
    for k in sorted(got - want, key=str):
        problems.append("extra in ours: %s (nc=%d)" % (k, ours[k][1]))
    for k in sorted(want & got, key=str):
        tcc, tnc, _, _, tcallers = theirs[k]
        occ, onc, _, _, ocallers = ours[k]
        if k[0] != "~" and (onc, occ) != (tnc, tcc):
            problems.append("%s: (nc, cc) ours %s, cProfile %s" % (k, (onc, occ), (tnc, tcc)))
        for c in sorted((set(tcallers) | set(ocallers)) & want, key=str):
            t, o = tcallers.get(c, (0, 0))[:2], ocallers.get(c, (0, 0))[:2]
            if t != o:
                problems.append("%s <- %s: edge (nc, cc) ours %s, cProfile %s" % (k, c, o, t))
    if not any(k[0] == "PROG" for k in want):
        problems.append("nothing to compare: no program function in the cProfile output")
    return problems


if __name__ == "__main__":
    ours_path, theirs_path, prog = sys.argv[1:4]
    probs = differences(load(ours_path, prog), load(theirs_path, prog), set(sys.argv[4:]))
    for p in probs:
        print("%s: %s" % (os.path.basename(prog), p))
    sys.exit(1 if probs else 0)
