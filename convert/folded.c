/* folded.c: trace -> folded stacks through the shared flame tree (see folded.h). */
#include "convert/folded.h"

int pf_folded_write(const pf_trace *t, const pf_frame_opts *opts, FILE *out, pf_error *err)
{
    int memory_metric = opts->metric != PF_METRIC_SELF_TIME && opts->metric != PF_METRIC_CALLS;
    if (memory_metric && !(t->meta.modes & PF_MODE_MEMORY))
        return pf_error_set(err, PF_EUSAGE,
                            "memory metrics need a trace recorded with memory data");
    pf_flame *f = pf_flame_from_trace(t, opts, err);
    if (f == NULL)
        return -1;
    int rc = pf_flame_write_collapsed(f, out, err);
    pf_flame_free(f);
    return rc;
}
