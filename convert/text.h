/* text.h: `convert -f text`, a fixed-width table of the top functions in the layout of
 * pstats' print_stats (so anyone who has read cProfile output can read it), preceded by
 * the run's command line, Python version and totals.  Plain text, no colours: it is
 * meant to be pasted into reviews and bug reports.
 *
 *     ncalls  tottime  percall  cumtime  percall filename:lineno(function)
 *       25/1    0.004    0.000    0.004    0.004 fib.py:1(fib)
 *
 * "25/1" is total/primitive calls when they differ; percall is tottime/ncalls and
 * cumtime/primitive calls, as in pstats.  Memory traces add "alloc" (bytes allocated
 * by the function's own code) and "peak" (its bytes live at the run's peak).
 * Functions are named by qualname (Class.method) rather than pstats' bare co_name.
 *
 * The header says how the program ended ("Ended:   killed by SIGTERM") when the trace
 * knows.  A trace of several processes adds a "Processes:" table (pid, ppid, calls,
 * time recorded, peak bytes for memory traces, how it ended, command) before the
 * table of the whole run, and after it one table per process, headed by its label
 * ("pid 4242: python3 worker.py"), with the same order, columns and --limit. */
#ifndef PF_TEXT_H
#define PF_TEXT_H

#include <stdio.h>

#include "convert/funcstats.h"
#include "formats/error.h"
#include "formats/trace.h"

enum pf_text_sort {
    PF_SORT_SELF = 0,        /* tottime (pstats "internal time") */
    PF_SORT_CUMULATIVE,      /* cumtime */
    PF_SORT_CALLS,           /* ncalls */
    PF_SORT_ALLOC,           /* allocated bytes (memory traces) */
    PF_SORT_PEAK,            /* live bytes at the peak (memory traces) */
    PF_SORT_EXIT             /* live bytes at exit, i.e. kept or leaked (memory traces) */
};

typedef struct pf_text_opts {
    enum pf_text_sort sort;
    unsigned long limit;     /* rows; 0 = all */
    int full_paths;          /* else paths relative to cwd / sys.path */
} pf_text_opts;

/* Writes the report.  Memory sorts on a trace without PF_MODE_MEMORY fail with
 * PF_EUSAGE.  Ties are broken by file, line and name, so output is deterministic.
 * Returns 0 or -1 with err set. */
int pf_text_write(const pf_trace *t, const pf_funcstats *s, const pf_text_opts *opts,
                  FILE *out, pf_error *err);

#endif
