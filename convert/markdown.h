/* markdown.h: `convert -f markdown`: a review-sized summary of one run for a pull
 * request comment or a CI job summary, built from the pieces of `pyflame-c diff`'s
 * Markdown (convert/diffout.h: the same escaping, units and 64 KB cap): a headline
 * (command, Python, clock, wall time, calls, memory peak and RSS), the top functions
 * by self time, by time including calls and by calls (and by allocated bytes for
 * memory traces), and the hottest lines. */
#ifndef PF_MARKDOWN_H
#define PF_MARKDOWN_H

#include <stdio.h>

#include "convert/funcstats.h"
#include "formats/error.h"
#include "formats/trace.h"

/* Writes the summary of t (s: its function statistics), at most `limit` rows per
 * table, never more than PF_MD_LIMIT bytes in all.  0, or -1 with err set. */
int pf_markdown_write(const pf_trace *t, const pf_funcstats *s, unsigned long limit, FILE *out,
                      pf_error *err);

#endif
