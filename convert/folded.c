/* folded.c: trace -> folded stacks through the shared stack tree (see folded.h). */
#include "convert/folded.h"

#include "formats/budget.h"

int pf_folded_write(const pf_trace *t, const pf_stack_opts *opts, uint64_t max_output,
                    FILE *out, pf_error *err)
{
    if (opts && opts->metric != PF_METRIC_SELF_TIME && opts->metric != PF_METRIC_CALLS &&
        !(t->meta.modes & PF_MODE_MEMORY))
        return pf_error_set(err, PF_EUSAGE,
                            "memory metrics need a trace recorded with memory data");
    pf_stacktree *f = pf_stacktree_from_trace(t, opts, err);
    if (f == NULL)
        return -1;
    uint64_t size = pf_stacktree_collapsed_size(f, err);
    if (size == UINT64_MAX) {
        pf_stacktree_free(f);
        return -1;
    }
    if (max_output != 0 && size > max_output) {
        char want[32], limit[32];
        pf_budget_format(size, want, sizeof want);
        pf_budget_format(max_output, limit, sizeof limit);
        pf_stacktree_free(f);
        return pf_error_set(err, PF_ELIMIT, "the collapsed output would take up to %s "
                            "(every line repeats its whole stack, and these stacks are deep), "
                            "more than the %s limit; raise it with --max-output SIZE "
                            "(0 = no limit), or use svg or -f pstats", want, limit);
    }
    int rc = pf_stacktree_write_collapsed(f, out, PF_COUNTS_AUTO, err);
    pf_stacktree_free(f);
    return rc;
}
