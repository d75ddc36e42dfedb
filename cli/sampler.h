/* sampler.h: the statistical profiler: reads the Python stacks of every thread of one or
 * more CPython processes from outside (process_vm_readv: the target is never stopped
 * and never notices), at a fixed rate, and aggregates them into a calling-context tree
 * with a sample count per node and per line, so its size depends on the program's
 * shape, not on how long it runs.
 *
 * Reads race with the running target.  A stack whose chain breaks (a frame or code
 * object that cannot be read, a code pointer that is not a code object, a chain longer
 * than PF_SAMPLER_MAX_DEPTH) is dropped and counted as lost, never recorded half; a
 * target that has exited stops being sampled.  Neither process can crash: the sampler
 * only copies bytes, checking every length before it uses it.
 *
 * Use: pf_sampler_new, pf_sampler_add for each process (offsets from cli/pyoffsets.h),
 * pf_sampler_tick HZ times a second (pf_sampler_run does the loop in a thread of its
 * own), then pf_sampler_graft (into the trace its collector wrote, under `collect`) or
 * pf_sampler_build (a new trace, for `attach`).
 */
#ifndef PF_CLI_SAMPLER_H
#define PF_CLI_SAMPLER_H

#include <stdint.h>
#include <sys/types.h>

#include "cli/pyoffsets.h"
#include "formats/error.h"
#include "formats/trace.h"

#define PF_SAMPLER_MAX_DEPTH 4096
#define PF_SAMPLER_DEFAULT_HZ 1000
#define PF_SAMPLER_MAX_HZ 20000

/* Which samples count (collect --sample-mode). */
enum pf_sample_mode {
    PF_SAMPLE_WALL = 0,          /* every thread at every tick */
    PF_SAMPLE_CPU = 1,           /* threads on a CPU: a thread's samples add up to its CPU
                                    time (schedstat), each taken where it runs */
    PF_SAMPLE_GIL = 2            /* the thread holding the GIL */
};

typedef struct pf_sampler pf_sampler;

/* A sampler ticking hz times a second in mode.  NULL when out of memory. */
pf_sampler *pf_sampler_new(unsigned hz, enum pf_sample_mode mode);
/* NULL-safe. */
void pf_sampler_free(pf_sampler *s);

/* With on (off by default), a stack whose innermost Python frame is inside a call (its
 * instruction is a call, and no Python frame is above: a C function is running, e.g.
 * time.sleep, sorted, a C extension's function) gets one more innermost frame, a
 * native code named "<native>", under the frame that made the call.  Only in targets
 * whose offsets know the call opcodes (pf_pyoffsets.call_ops_known); the others are
 * sampled as without it. */
void pf_sampler_set_native(pf_sampler *s, int on);

/* Starts sampling process pid, read with offsets o; key names it for pf_sampler_graft
 * (may be NULL).  A live target of the same pid is retired first (the process exec'd:
 * its old image is gone).  0, or -1 with err set (PF_ENOMEM). */
int pf_sampler_add(pf_sampler *s, const char *key, pid_t pid, const pf_pyoffsets *o,
                   pf_error *err);

/* One tick: a sample of every thread of every live target.  Returns the number of live
 * targets.  A target whose process is gone (ESRCH) is retired; one that denies access
 * (EPERM) too, with its error kept (pf_sampler_denied). */
int pf_sampler_tick(pf_sampler *s);

/* Ticks at the sampler's rate until *stop becomes nonzero (checked every tick) or, when
 * until_idle, no target is alive.  poll (may be NULL) is called every ~20 ms, e.g. to
 * add the processes that appeared.  Returns when done. */
void pf_sampler_run(pf_sampler *s, volatile int *stop, int until_idle,
                    void (*poll)(void *ctx, pf_sampler *s), void *ctx);

/* The errno that retired the first target that could not be read at all, else 0. */
int pf_sampler_denied(const pf_sampler *s);

/* What the sampler did, over all targets. */
typedef struct pf_sampler_stats {
    uint64_t ticks;              /* ticks taken */
    uint64_t ticks_missed;       /* ticks skipped because the sampler fell behind */
    uint64_t samples;            /* thread stacks recorded (a late tick's count more) */
    uint64_t lost;               /* thread stacks dropped (torn or unreadable) */
    uint64_t cpu_ns;             /* the sampler thread's own CPU time */
    uint64_t wall_ns;            /* from the first tick to the last */
} pf_sampler_stats;
void pf_sampler_get_stats(const pf_sampler *s, pf_sampler_stats *st);

/* Puts what was sampled of the target named key into t, the trace its collector wrote
 * (meta, process record; no nodes): its codes, threads, nodes and lines, sources of
 * the files sampled that are readable and not installed libraries, and the sampler's
 * meta fields; meta.modes becomes SAMPLES | LINES.  names (may be NULL) is a file of
 * "ident<TAB>name" lines naming threads.  1 when done, 0 when no target has that key
 * (t unchanged), -1 with err set. */
int pf_sampler_graft(pf_sampler *s, const char *key, const char *names, pf_trace *t,
                     pf_error *err);

/* Drops, from every stack, the outermost frames whose file starts with prefix (the
 * launcher's runner, under which the program runs) or is "<string>" (its bootstrap).
 * NULL: none.  0, or -1 when out of memory. */
int pf_sampler_hide(pf_sampler *s, const char *prefix);

/* A new trace for process pid (attach), meta from /proc (command line, executable,
 * folder, host) read now, while the process runs.  NULL with err set (PF_ENOMEM). */
pf_trace *pf_sampler_proc_trace(pid_t pid, uint32_t version_hex, pf_error *err);

/* Puts what was sampled of the first target into out (as pf_sampler_graft does), with
 * the sampling's start and duration.  0, or -1 with err set. */
int pf_sampler_emit_first(pf_sampler *s, pf_trace *out, pf_error *err);

#endif
