/* progress.h: how far a long operation of the lower layers is, for whoever wants to
 * show it.  The reader reports bytes read, the writer and the tree builders entries
 * done; a front end (the CLI's cli/progress.c, on a terminal) installs one sink for
 * the process.  Without a sink a report is one test of a static pointer, and callers
 * report only every block or every 64 K entries, so it costs nothing measurable.
 * Not thread-safe: the sink is set before the work starts, from one thread.
 */
#ifndef PF_PROGRESS_H
#define PF_PROGRESS_H

#include <stdint.h>

/* What is being done: the front end names it. */
enum pf_progress_phase {
    PF_PROGRESS_READ = 0,     /* reading an input: done and total in (compressed) bytes;
                                 total 0 when unknown (a pipe) */
    PF_PROGRESS_BUILD = 1,    /* building a stack tree or a report: entries */
    PF_PROGRESS_WRITE = 2     /* writing an output: entries */
};

/* The sink: called with done <= total (total 0: unknown); done == total ends a phase. */
typedef void (*pf_progress_fn)(void *ctx, enum pf_progress_phase phase, uint64_t done,
                               uint64_t total);

/* Installs fn (NULL: none) for every later report of this process. */
void pf_progress_set(pf_progress_fn fn, void *ctx);

/* Reports to the sink, if any. */
void pf_progress_report(enum pf_progress_phase phase, uint64_t done, uint64_t total);

/* How often loops over entries report: every PF_PROGRESS_EVERY entries. */
#define PF_PROGRESS_EVERY 65536u

#endif
