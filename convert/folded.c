/* folded.c: trace -> folded stacks through the shared stack tree (see folded.h). */
#include "convert/folded.h"

int pf_folded_write(const pf_trace *t, const pf_stack_opts *opts, FILE *out, pf_error *err)
{
    if (opts && opts->metric != PF_METRIC_SELF_TIME && opts->metric != PF_METRIC_CALLS &&
        !(t->meta.modes & PF_MODE_MEMORY))
        return pf_error_set(err, PF_EUSAGE,
                            "memory metrics need a trace recorded with memory data");
    pf_stacktree *f = pf_stacktree_from_trace(t, opts, err);
    if (f == NULL)
        return -1;
    int rc = pf_stacktree_write_collapsed(f, out, PF_COUNTS_AUTO, err);
    pf_stacktree_free(f);
    return rc;
}
