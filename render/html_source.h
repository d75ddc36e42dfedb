/* html_source.h: one file's section of the HTML report: its annotated source (or, when
 * the trace has no copy of the file, just the rows with data), function header rows
 * carrying the #code-N anchors, and folded cold stretches.  Internal to render/. */
#ifndef PF_HTML_SOURCE_H
#define PF_HTML_SOURCE_H

#include <stdint.h>
#include <stdio.h>

#include "formats/error.h"
#include "html.h"
#include "html_model.h"

/* Writes the <section> for model file `file`.  Returns 0, or -1 with err set (OOM). */
int pf_html_source_render(FILE *out, const pf_html_model *m, uint32_t file,
                          const pf_html_opts *opts, pf_error *err);

/* Writes a function's display name (qualname) escaped. */
void pf_html_func_name(FILE *out, const pf_trace *t, uint32_t code);

#endif
