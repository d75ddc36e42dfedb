/* memhook.h: the allocator hooks of `collect --memory` -- CPython's allocator domains,
 * and with native tracking (the default) every shared object's malloc & co. too
 * (collector/nativehook.h) -- and the interface the call collector uses to tell them
 * where each allocation happens.
 *
 * Two modes, chosen at start:
 *   Python (`--memory=python`, pyflame.start(memory="python")): the RAW, MEM and OBJ
 *       domains only, as tracemalloc sees them; memory C extensions allocate themselves
 *       is invisible.
 *   Python and native (`--memory`, memory=True): also malloc, calloc, realloc,
 *       reallocarray, posix_memalign, aligned_alloc, memalign, valloc, pvalloc, free,
 *       free_sized, anonymous mmap, munmap and mremap called from any other shared object
 *       (numpy, compression, database drivers), and the buffers libraries report with
 *       PyTraceMalloc_Track (counted only when their allocation was not seen, see
 *       memtrack.h).  Each native block is charged to the same site as a Python one and
 *       marked native (enum pf_mem_kind), so the native share of the peak is exact.
 *       CPython's own malloc calls are not hooked: its domains already cover them.
 *
 * memhook knows nothing of the collector's internals.  The collector publishes, per thread,
 * the current allocation SITE in a pf_mem_site that memhook reads on every allocation:
 *     node = a dense id (0, 1, 2, ...) the collector gives each of its calling-context-tree
 *            nodes; the node of the innermost frame.  PF_MEM_NONE: no frame (unattributed).
 *     line = the line number running in that frame (0: unknown).
 * At the end memtrack (memtrack.h) folds the per-site counters into per-node SELF and
 * per-(code, line) INCLUSIVE pf_mem values, given the tree: each node's parent, code and
 * calling line (pf_memtrack_result).
 *
 * How the collector uses it (GIL held unless said otherwise):
 *
 *   start:   after its own setup, right before the profiled code runs:
 *                if (pf_memhook_start(native) < 0) -> Python exception set, fail start().
 *   per thread, once, when it creates its per-thread state (in that thread):
 *                ts->msite = pf_memhook_site();     (valid for the thread's life)
 *   on every event that changes the innermost frame or its line, two plain stores:
 *       call / resume (push node N):   msite->node = N's id;  msite->line = 0 (or the
 *                                       frame's first line until the first line event);
 *       return / yield / unwind (pop): msite->node = the new top's id, msite->line = the
 *                                       new top's current line; {PF_MEM_NONE, 0} when the
 *                                       stack is empty;
 *       line event:                    msite->line = lineno  (and remember it in the stack
 *                                       entry, for the pop above).
 *            A C function node: set node, keep line (its code is PF_MEM_NONE in code[], so
 *            the line is ignored; its allocations go to the calling line via call_line).
 *            Without line events, per-line values only cover calling lines.
 *   around Python API calls the collector itself makes while profiling (creating labels,
 *   looking up thread names...): pf_memhook_suspend() / pf_memhook_resume(), so its own
 *   Python objects are not charged to the program.  (pf_malloc memory is never seen.)
 *   stop:    right after the profiled code ends, before building the trace:
 *                pf_memhook_stop();
 *                const pf_memtrack *mt = pf_memhook_tracker();
 *                pf_memtrack_get_totals(mt, &tot);
 *                pf_memtrack_result(mt, nids, parent, code, call_line, node_mem,
 *                                   &lines, &nlines);
 *            add node_mem[id] into its trace node's pf_node.mem (sum when several ids
 *            merge into one trace node), put lines[i].mem into the pf_line of
 *            (lines[i].code, lines[i].line) (create it if missing), set
 *            meta.peak_live_bytes = tot.peak_live_bytes, meta.profiler_bytes +=
 *            tot.profiler_peak_bytes, meta.modes |= PF_MODE_MEMORY, and PF_FLAG_OUT_OF_MEMORY
 *            if tot.out_of_memory.  Then pf_memtrack_lines_free(lines), pf_memhook_release().
 *            With native tracking, also meta.modes |= PF_MODE_NATIVE and
 *            meta.peak_native_bytes = tot.peak_native_bytes.
 *   fork:    in a child that stops recording: pf_memhook_stop(); pf_memhook_release().
 *            (The child inherits the patched slots; stop restores them.  A child that
 *            records again calls pf_memhook_start, which patches afresh.)
 *
 * Threads: MEM and OBJ hooks run with the GIL held, RAW and native hooks may run without
 * it, so every table update is under a small spinlock (uncontended cost: one atomic
 * exchange).  The
 * hooks never call into Python, never allocate through PyMem, never raise, and are
 * re-entrancy safe (an allocation made while this thread is inside a hook is passed
 * through untracked).  Allocations of threads that never set a site are unattributed.
 */
#ifndef PF_MEMHOOK_H
#define PF_MEMHOOK_H

#include <stdint.h>

#include "collector/memtrack.h"

/* The current allocation site of one thread.  Written only by that thread. */
typedef struct pf_mem_site {
    uint32_t node;
    uint32_t line;
} pf_mem_site;

/* This thread's site, initially {PF_MEM_NONE, 0}.  The pointer stays valid for
 * the life of the calling thread; cache it.  Callable with or without the GIL. */
pf_mem_site *pf_memhook_site(void);

/* Hooks the RAW, MEM and OBJ allocator domains (chaining to the allocators installed
 * before, e.g. tracemalloc's or the debug hooks), with native nonzero also the native
 * allocators of every loaded object and of those loaded later (nativehook.h), and starts
 * recording into a new tracker; a tracker kept from a previous run is freed.  GIL held.
 * Returns 0, or -1 with a Python exception set (RuntimeError if already recording or if
 * native tracking cannot be installed here, MemoryError); nothing is hooked then. */
int pf_memhook_start(int native);

/* 1 while the native hooks are installed (from start with native to stop). */
int pf_memhook_native(void);

/* Stops recording (blocks freed from now on are no longer seen).  Removes the hooks when
 * they are still the installed allocators; if something hooked on top of them since
 * start (tracemalloc.start() in the profiled program), they stay installed and pass every
 * call straight through, so that chain is never broken.  The native hooks are removed
 * from every slot that still holds them.  GIL held.  No-op if not recording. */
void pf_memhook_stop(void);

/* 1 while recording. */
int pf_memhook_recording(void);

/* The tracker of the last run (borrowed), or NULL if none.  Read it only after
 * pf_memhook_stop(); it stays valid until pf_memhook_release() or the next start. */
const pf_memtrack *pf_memhook_tracker(void);

/* Frees the last run's tracker.  GIL held, not recording.  NULL-safe in spirit: fine to
 * call when there is none. */
void pf_memhook_release(void);

/* While suspended (nestable), this thread's allocations are not recorded; its frees still
 * are, so blocks allocated earlier are still matched.  Callable with or without the GIL. */
void pf_memhook_suspend(void);
/* Holds the tracker still (the hooks' lock) while a snapshot reads it during recording;
 * the calling thread's own allocations meanwhile are not recorded.  Short sections only. */
void pf_memhook_lock(void);
void pf_memhook_unlock(void);
void pf_memhook_resume(void);

#endif
