/* html_diff.h: the per-line HTML report of `pyflame-c diff`.  One self-contained
 * page (no request of any kind): the headline (totals before -> after), an overview
 * of the changed functions linking to each, and per changed function the source of
 * both versions (from the sources embedded in the traces) side by side, aligned by a
 * text diff (formats/textdiff.h) so that edited and moved lines line up, each line
 * with its hits, time and memory before and after.  Everything the profiled program
 * controls (names, paths, source text) is escaped by render/html_escape.h.
 * Anchors: #fn-<function index in the model> for each function shown. */
#ifndef PF_HTML_DIFF_H
#define PF_HTML_DIFF_H

#include <stdio.h>

#include "formats/diff.h"
#include "formats/error.h"

typedef struct pf_html_diff_opts {
    const char *title;        /* NULL: "pyflame-c diff: BASE -> NEW" */
    const char *base_label, *new_label;
    unsigned max_funcs;       /* functions with a source section (default 300) */
    double min_time_ns;       /* time changes at most this are not "changed" */
} pf_html_diff_opts;

void pf_html_diff_opts_init(pf_html_diff_opts *o);

/* Writes the page; 0, or -1 with err set (PF_ENOMEM, PF_EIO). */
int pf_html_diff_render(const pf_diff *d, const pf_html_diff_opts *o, FILE *out, pf_error *err);

#endif
