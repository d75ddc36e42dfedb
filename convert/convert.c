/* convert.c: checks a trace against the requested format and dispatches to its writer
 * (see convert.h). */
#include "convert/convert.h"

#include <string.h>

#include "convert/callgrind.h"
#include "convert/folded.h"
#include "convert/funcstats.h"
#include "convert/lines.h"
#include "convert/markdown.h"
#include "convert/pprof.h"
#include "convert/pstats.h"
#include "convert/speedscope.h"

const char *const pf_convert_format_names[9] = { "", "collapsed", "pstats", "text", "lines",
                                                 "markdown", "speedscope", "pprof", "callgrind" };
const char *const pf_metric_names[6] = { "self-time",   "calls",      "alloc-bytes",
                                         "alloc-count", "peak-bytes", "exit-bytes" };
const char *const pf_granularity_names[2] = { "function", "line" };
const char *const pf_text_sort_names[6] = { "self", "cumulative", "calls", "alloc", "peak", "exit" };

void pf_convert_opts_init(pf_convert_opts *o)
{
    memset(o, 0, sizeof *o);
    pf_stack_opts_init(&o->frame);
    o->frame.time_unit_ns = 1000;   /* microseconds: what --help promises */
    o->text.limit = 30;
    o->max_output = PF_FOLDED_MAX_OUTPUT;
}

int pf_convert_check(const pf_trace *t, const pf_convert_opts *o, pf_error *err)
{
    int memory_metric = o->frame.metric != PF_METRIC_SELF_TIME && o->frame.metric != PF_METRIC_CALLS;
    int memory_sort = o->text.sort == PF_SORT_ALLOC || o->text.sort == PF_SORT_PEAK
                      || o->text.sort == PF_SORT_EXIT;
    int is_text = o->format == PF_CONVERT_TEXT;
    if (((o->format == PF_CONVERT_COLLAPSED && memory_metric) || (is_text && memory_sort)) &&
        !(t->meta.modes & PF_MODE_MEMORY))
        return pf_error_set(err, PF_EUSAGE, "--%s %s needs a trace recorded with memory data "
                            "(pyflame-c collect --memory)", is_text ? "sort" : "metric",
                            is_text ? pf_text_sort_names[o->text.sort]
                                    : pf_metric_names[o->frame.metric]);
    if (o->format == PF_CONVERT_LINES && !(t->meta.modes & PF_MODE_LINES))
        return pf_error_set(err, PF_EEMPTY, "the trace has no line data (it was recorded "
                            "without line tracing)");
    if (o->format == PF_CONVERT_LINES && t->nlines == 0)
        return pf_error_set(err, PF_EEMPTY, "the trace has no line data: line tracing was on "
                            "but no file matched the selection; choose files with "
                            "collect --include GLOB");
    return 0;
}

int pf_convert_write(const pf_trace *t, const pf_convert_opts *o, FILE *out, pf_error *err)
{
    if (pf_convert_check(t, o, err) < 0)
        return -1;
    pf_funcstats *fs = NULL;
    if (o->format == PF_CONVERT_PSTATS || o->format == PF_CONVERT_TEXT ||
        o->format == PF_CONVERT_MARKDOWN) {
        fs = pf_funcstats_build(t, err);
        if (fs == NULL)
            return -1;
    }
    int rc;
    switch (o->format) {
    case PF_CONVERT_COLLAPSED: rc = pf_folded_write(t, &o->frame, o->max_output, out, err); break;
    case PF_CONVERT_PSTATS:
        if (pf_trace_is_sampled(t))
            rc = pf_pstats_write_sampled(fs, t->meta.sample_interval_ns, !o->pstats_plain,
                                         out, err);
        else
            rc = pf_pstats_write(fs, out, err);
        break;
    case PF_CONVERT_TEXT:      rc = pf_text_write(t, fs, &o->text, out, err); break;
    case PF_CONVERT_LINES:     rc = pf_lines_write(t, out, err); break;
    case PF_CONVERT_MARKDOWN:  rc = pf_markdown_write(t, fs, o->text.limit, out, err); break;
    case PF_CONVERT_SPEEDSCOPE: rc = pf_speedscope_write(t, &o->frame, out, err); break;
    case PF_CONVERT_PPROF:     rc = pf_pprof_write(t, &o->frame, out, err); break;
    case PF_CONVERT_CALLGRIND: rc = pf_callgrind_write(t, &o->frame, out, err); break;
    default:                   rc = pf_error_set(err, PF_EUSAGE, "no format"); break;
    }
    pf_funcstats_free(fs);
    return rc;
}
