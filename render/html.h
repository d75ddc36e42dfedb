/* html.h: the line-annotated HTML report (`pyflame-c html`).
 *
 * One self-contained, deterministic HTML document: the run's metadata (with how the
 * program ended, when the trace knows), a table of its processes when it has several
 * (pid, parent, command, time recorded, calls, peak memory, ending), the hottest
 * files, lines and functions (with the process each ran in, or how many), a sortable
 * function table, and each file's source with per-line hits, times, a heat bar and
 * (MEMORY mode) allocation columns.  Cold stretches of source fold away.  Styles and the small script (sorting, folding) are
 * embedded from render/assets/report.{css,js}; the document makes no request of any
 * kind.  Anchors other documents may link to:
 *     #code-<code index>      the function's first line (or its function-table row
 *                             when its file is not shown)
 *     #L<source index>-<line> a line of embedded source
 *     #F<file>-<line>         a line row of a file whose source is not embedded
 */
#ifndef PF_HTML_H
#define PF_HTML_H

#include <stdint.h>
#include <stdio.h>

#include "formats/error.h"
#include "formats/trace.h"

typedef struct pf_html_opts {
    const char *title;       /* document title; NULL derives one from the program name */
    uint32_t limit;          /* show only the N hottest files (0 = all) */
    double threshold_pct;    /* hide files with less self time than this % (0 = none) */
    uint32_t context;        /* lines shown around annotated lines before folding */
    int full_paths;          /* show file names whole instead of relative to sys.path */
} pf_html_opts;

/* Default options: no limit, no threshold, 3 lines of context. */
void pf_html_opts_init(pf_html_opts *o);

/* Writes the report for t to out.  Returns 0, or -1 with err set when out of memory
 * or when writing to out failed (PF_EIO). */
int pf_html_render(const pf_trace *t, const pf_html_opts *opts, FILE *out, pf_error *err);

#endif
