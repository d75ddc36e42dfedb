/* html_rss.h: the HTML report's RSS plot (issue 15): the resident set size of the
 * run's processes over time, as an inline SVG (no script needed to see it), like
 * memory_profiler's `mprof plot`.  Internal to render/.
 */
#ifndef PF_RENDER_HTML_RSS_H
#define PF_RENDER_HTML_RSS_H

#include <stdio.h>

#include "formats/trace.h"

/* At most this many processes get a line; the rest are named in a note. */
#define PF_HTML_RSS_LINES 8

/* Writes the "Memory over time" heading, the plot and its legend when t has RSS
 * records; nothing otherwise.  Program data (commands) goes through pf_html_escape. */
void pf_html_rss(FILE *out, const pf_trace *t);

#endif
