/* diffout.h: `pyflame-c diff`'s text outputs and CI gate, from the comparison model
 * (formats/diff.h):
 *   - text: a terminal table (headline, top regressions and improvements per metric,
 *     new and vanished functions, renamed files, the hottest changed lines, gates);
 *   - Markdown: the same for a pull-request comment or a CI job summary, never more
 *     than PF_MD_LIMIT bytes (GitHub's comment limit is 65,536 characters): sections
 *     in order of importance, rows cut with a note saying how many were left out;
 *   - JSON: every function and line row with both sides' values, for other tools.
 *
 * The gate.  --fail-on METRIC:THRESHOLD, repeatable.  METRIC is a per-function metric
 * (pf_dm_names: calls, alloc-bytes, time, ...: some function present in both runs
 * grew by more than THRESHOLD) or a run total (pf_dt_names: total-calls, peak, wall,
 * ...).  THRESHOLD is a growth in percent ("+5%") or an absolute growth in the
 * metric's unit ("+100", "+10ms", "+1M").  Noise rule: a time metric fails only when
 * it also grew by more than min_time_ns (absolute), and with several runs per side
 * the medians are compared.  Functions found in one run only are listed, never gated
 * one by one: the total-* gates count them.
 */
#ifndef PF_DIFFOUT_H
#define PF_DIFFOUT_H

#include <stdio.h>

#include "formats/diff.h"
#include "formats/error.h"

#define PF_MD_LIMIT 65536u

typedef struct pf_gate {
    int total;                /* a run total (enum pf_dt), else a per-function metric */
    int metric;               /* enum pf_dt or enum pf_dm */
    int absolute;             /* threshold is in the metric's unit, else a ratio */
    double threshold;         /* 0.05 for "+5%" */
    char spec[80];            /* as given */
} pf_gate;

typedef struct pf_gate_result {
    int failed;
    int skipped;              /* the inputs do not share the metric */
    double base, now;         /* the worst case: a function's values, or the totals */
    uint32_t func;            /* the worst function (per-function gates), PF_NONE */
    uint32_t over;            /* functions over the threshold */
} pf_gate_result;

/* Parses "METRIC:THRESHOLD".  0, or -1 with why (cap bytes) saying what is wrong. */
int pf_gate_parse(const char *spec, pf_gate *g, char *why, size_t cap);

/* Evaluates a gate on d.  min_time_ns: the noise floor of time metrics. */
void pf_gate_eval(const pf_diff *d, const pf_gate *g, double min_time_ns, pf_gate_result *r);

typedef struct pf_diffout_opts {
    const char *base_label;   /* how BASE and NEW are named ("base.gz", "3 runs") */
    const char *new_label;
    unsigned limit;           /* rows per ranked table (default 10) */
    const pf_gate *gates;
    const pf_gate_result *results;
    unsigned ngates;
    double min_time_ns;
    const char *svg_link;     /* relative links the Markdown gives, or NULL */
    const char *html_link;
    enum pf_metric stack_metric;   /* what the SVG shows (for the Markdown's words) */
} pf_diffout_opts;

void pf_diffout_opts_init(pf_diffout_opts *o);

/* Each writes d to out; 0, or -1 with err set (PF_EIO, PF_ENOMEM). */
int pf_diff_write_text(const pf_diff *d, const pf_diffout_opts *o, FILE *out, pf_error *err);
int pf_diff_write_json(const pf_diff *d, const pf_diffout_opts *o, FILE *out, pf_error *err);
int pf_diff_write_markdown(const pf_diff *d, const pf_diffout_opts *o, FILE *out, pf_error *err);

/* Writes s[0..n) escaped for Markdown text and table cells: | ` * _ [ ] \ # ~ !
 * backslash-escaped, < > & as entities (so "<script>" is text), control bytes and
 * invalid UTF-8 as U+FFFD, at most max bytes of the name (then "..."). */
void pf_md_escape(FILE *out, const char *s, size_t n, size_t max);

#endif
