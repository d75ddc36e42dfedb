"""many_nodes.py: about 1.4 million distinct calling contexts from 330 functions: eleven
levels of 30 functions, each calling four functions of the next level, so every path
is new.  What the collector's tree costs per node, and its stop-time build and write.
Used by bench/bench_scale.sh."""
import time

LEVELS, WIDTH, FANOUT = 11, 30, 4
src = []
for lv in range(LEVELS):
    for k in range(WIDTH):
        body = ["    pass"]
        if lv + 1 < LEVELS:
            body = [f"    L{lv + 1}_{(k * 7 + j * 5) % WIDTH}()" for j in range(FANOUT)]
        src.append(f"def L{lv}_{k}():\n" + "\n".join(body) + "\n")
exec("\n".join(src))
t0 = time.perf_counter()
L0_0()
print(f"own {time.perf_counter() - t0:.3f}", flush=True)
