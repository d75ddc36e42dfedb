"""exec_churn.py: 80,000 distinct code objects called from one call site (what exec'd
and generated code, template engines and test runners do), each dropped after its
call.  A collector whose child lookup is a list walk goes quadratic here, and one
that keeps every dead code object alive grows without bound.  Used by
bench/bench_scale.sh."""
import time
import types

N = 80_000


def template(x):
    return x + 1


t0 = time.perf_counter()
for i in range(N):
    code = template.__code__.replace(co_name=f"f{i}", co_firstlineno=i + 1)
    types.FunctionType(code, globals())(i)
print(f"own {time.perf_counter() - t0:.3f}", flush=True)
