/* svg_diff.h: the differential flame graph of `pyflame-c diff`: the NEW run's shape
 * (frame widths are NEW's values), each frame coloured by how its value including
 * callees changed: red for more, blue for less (the deeper, the larger the change),
 * white for no change, purple for frames that are new in NEW.  What vanished is still
 * reachable: the frame PF_DIFF_VANISHED_FRAME under the root holds every stack found
 * only in BASE, at its BASE size, in grey-blue.  Tooltips give BASE, NEW and the
 * change; a legend says what the colours mean; the title says whether values are
 * absolute (the default) or BASE was scaled to NEW's total (--normalize).  It is the
 * `svg` renderer (render/svg.h) with hooks, so zoom, search, URL state and keyboard
 * navigation are the same. */
#ifndef PF_SVG_DIFF_H
#define PF_SVG_DIFF_H

#include <stdio.h>

#include "formats/diff.h"
#include "formats/error.h"

typedef struct pf_svg_diff_opts {
    const char *title;        /* NULL: "Differential flame graph: BASE -> NEW (...)" */
    const char *base_label;   /* names of the sides in the title */
    const char *new_label;
    double width;             /* px (default 1200) */
} pf_svg_diff_opts;

void pf_svg_diff_opts_init(pf_svg_diff_opts *o);

/* Writes the SVG of d->stacks to out.  PF_EUSAGE when d has no stack tree, PF_EEMPTY
 * when it is empty; 0 or -1 with err set. */
int pf_svg_diff_write(const pf_diff *d, const pf_svg_diff_opts *o, FILE *out, pf_error *err);

/* Colours of the graph (0xRRGGBB), exposed for tests. */
#define PF_SVG_DIFF_NEW_COLOR 0xb57ee5u
#define PF_SVG_DIFF_VANISHED_COLOR 0x9db4cbu

#endif
