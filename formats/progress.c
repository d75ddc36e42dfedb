/* progress.c: the process-wide progress sink (see progress.h). */
#include "progress.h"

#include <stddef.h>

static pf_progress_fn sink;
static void *sink_ctx;

void pf_progress_set(pf_progress_fn fn, void *ctx)
{
    sink = fn;
    sink_ctx = ctx;
}

void pf_progress_report(enum pf_progress_phase phase, uint64_t done, uint64_t total)
{
    if (sink != NULL)
        sink(sink_ctx, phase, done, total);
}
