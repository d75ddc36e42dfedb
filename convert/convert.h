/* convert.h: `pyflame-c convert` as a library call: one trace in, one format out.
 * The command line (cli/convert.c) parses options into pf_convert_opts, reads the
 * trace, opens the output and reports errors; this module checks that the trace holds
 * what the format needs and dispatches to the writer of that format. */
#ifndef PF_CONVERT_H
#define PF_CONVERT_H

#include <stdio.h>

#include "convert/text.h"
#include "formats/error.h"
#include "formats/stacktree.h"
#include "formats/trace.h"

enum pf_convert_format {
    PF_CONVERT_NONE = 0,
    PF_CONVERT_COLLAPSED,     /* folded stacks (convert/folded.h) */
    PF_CONVERT_PSTATS,        /* a cProfile/pstats marshal file (convert/pstats.h) */
    PF_CONVERT_TEXT,          /* a pstats-style table (convert/text.h) */
    PF_CONVERT_LINES,         /* per-line TSV (convert/lines.h) */
    PF_CONVERT_MARKDOWN,      /* a review-sized summary (convert/markdown.h) */
    PF_CONVERT_SPEEDSCOPE,    /* speedscope's JSON file format (convert/speedscope.h) */
    PF_CONVERT_PPROF,         /* gzipped profile.proto for go tool pprof (convert/pprof.h) */
    PF_CONVERT_CALLGRIND      /* callgrind format for KCachegrind (convert/callgrind.h) */
};

typedef struct pf_convert_opts {
    enum pf_convert_format format;
    pf_stack_opts frame;      /* collapsed: metric, granularity, full_paths; speedscope,
                                 pprof, callgrind: granularity, full_paths */
    pf_text_opts text;        /* text: sort, limit, full_paths */
    uint64_t max_output;      /* collapsed: refuse output larger than this (0: no limit) */
    int pstats_plain;         /* pstats of a sampled trace: without 3.15's sampled marker */
} pf_convert_opts;

/* Defaults: self time in microseconds, function granularity, 30 text rows, collapsed
 * output up to PF_FOLDED_MAX_OUTPUT. */
void pf_convert_opts_init(pf_convert_opts *o);

/* Checks that t holds what o asks for (memory metrics and sorts need a memory trace,
 * lines need line data), before any output is created.  0, or -1 with err set
 * (PF_EUSAGE for an option the trace cannot serve, PF_EEMPTY for missing data). */
int pf_convert_check(const pf_trace *t, const pf_convert_opts *o, pf_error *err);

/* Writes t in o->format to out.  0, or -1 with err set: PF_EIO for a write error,
 * anything else is about the trace. */
int pf_convert_write(const pf_trace *t, const pf_convert_opts *o, FILE *out, pf_error *err);

/* The option-value names, indexed by the enums (for the command line and messages). */
extern const char *const pf_convert_format_names[9];   /* [0] is "" */
extern const char *const pf_metric_names[6];            /* enum pf_metric */
extern const char *const pf_granularity_names[2];       /* enum pf_granularity */
extern const char *const pf_text_sort_names[6];         /* enum pf_text_sort */

#endif
