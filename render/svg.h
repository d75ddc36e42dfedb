/* svg.h: renders a stack tree (formats/stacktree.h) as a self-contained interactive SVG flame
 * graph: libxml2 writes the markup (so every name is escaped and the document is
 * well-formed), the script and style from render/assets/ are embedded, and nothing is
 * fetched at view time.  The same tree and options always give the same bytes.
 */
#ifndef PF_SVG_H
#define PF_SVG_H

#include <stdio.h>

#include "formats/error.h"
#include "formats/stacktree.h"

/* How frame values are shown in tooltips and the status line. */
enum pf_svg_unit {
    PF_SVG_UNIT_COUNT = 0,    /* "1,234 <countname>" */
    PF_SVG_UNIT_BYTES,        /* "1.50 MiB" */
    PF_SVG_UNIT_US            /* values are microseconds: "1.23 ms" */
};

/* Hooks of a renderer built on this one (render/svg_diff.c, the differential graph
 * of `pyflame-c diff`): a frame's colour, its tooltip after the name line, and a
 * legend of (colour, label) entries drawn under the titles.  Any may be NULL. */
typedef struct pf_svg_hooks {
    void *ctx;
    uint32_t (*color)(void *ctx, uint32_t node);          /* 0xRRGGBB */
    /* Writes the tooltip's lines after the name (cap bytes, NUL-terminated, may hold
     * '\n'); returns the length. */
    size_t (*tooltip)(void *ctx, uint32_t node, char *buf, size_t cap);
    const char *const *legend;   /* "#rrggbb", "label", ..., NULL */
} pf_svg_hooks;

typedef struct pf_svg_opts {
    const char *title;        /* NULL: "Flame Graph", "Icicle Graph" or "Flame Chart" */
    const char *subtitle;     /* NULL: none */
    const char *countname;    /* NULL: "samples" */
    const char *fonttype;     /* NULL: "Verdana" */
    const char *notes;        /* NULL: none; kept in a <desc> element */
    const char *html_link;    /* NULL: none; else frames with a code link to LINK#code-N */
    double width;             /* image width in px (the script then fits the window) */
    double frame_height;      /* px per frame row */
    double fontsize;          /* px */
    double minwidth;          /* frames narrower than this are omitted ... */
    int minwidth_pct;         /* ... in percent of the total instead of px */
    int palette;              /* enum pf_palette */
    int hash;                 /* --hash colouring */
    int inverted;             /* icicle: root at the top */
    int negate;               /* differential: swap red and blue */
    int truncate_start;       /* long names lose their start ("..tail") */
    const char *bgcolors;     /* NULL: by palette; yellow, blue, green, grey or #rrggbb */
    enum pf_svg_unit unit;
    const pf_svg_hooks *hooks;   /* NULL: none */
} pf_svg_opts;

/* Shapes o for a trace's flame graph of metric: the unit of the tooltips, the palette
 * (memory or python; kept when keep_palette), the count name (kept when
 * keep_countname) and, unless one is set, a subtitle saying what a width means. */
void pf_svg_opts_for_metric(pf_svg_opts *o, enum pf_metric metric, int keep_palette,
                            int keep_countname);

/* The note on what a trace's flame graph lacks: "Not recorded: <the first gap,
 * pf_trace_gap_describe>" plus " (and N more)", into buf (cap bytes, truncated, always
 * terminated).  Returns its length, 0 (buf "") for a trace without gaps. */
size_t pf_svg_gap_note(const pf_trace *t, char *buf, size_t cap);

/* The subtitle of a trace's flame graph when none is given, into buf (cap bytes,
 * truncated, always terminated): what the graph holds and lacks, joined by "; ":
 * "2 processes" (with "(1 killed or cut short)" when some were), "program ended:
 * killed by SIGTERM" when the program was killed or cut short (pf_trace_describe_exit),
 * and the gap note above.  Returns buf, or NULL when there is nothing to say (one
 * process that ended normally, no gaps: the metric's subtitle then applies). */
const char *pf_svg_trace_subtitle(const pf_trace *t, char *buf, size_t cap);

/* The default title of a trace's flame graph of metric m, into buf (cap bytes,
 * truncated, always terminated): the program and what a frame's width means, e.g.
 * "jinja_app.py: wall time", "-m module" by the module's name.  NULL when the trace
 * does not name its program. */
const char *pf_svg_trace_title(const pf_trace *t, enum pf_metric m, char *buf, size_t cap);

/* flamegraph.pl's defaults: 1200 px wide, 16 px rows, 12 px Verdana, minwidth 0.1 px,
 * the hot palette. */
void pf_svg_opts_init(pf_svg_opts *o);

/* True if name is a valid --bgcolors value. */
int pf_svg_bgcolors_valid(const char *name);

/* Writes the SVG for t to out.  Differential trees (t->has_count2) are sized by the
 * second count and coloured by (second - first).  Fails with PF_EEMPTY when the total
 * is zero, PF_EIO when writing fails, PF_ENOMEM.  Returns 0 or -1 with err set. */
int pf_svg_write(const pf_stacktree *t, const pf_svg_opts *o, FILE *out, pf_error *err);

/* Copies name[0..len) into out (cap bytes, NUL-terminated) as text that is valid in
 * XML 1.0: invalid UTF-8 and characters XML forbids become U+FFFD, tabs and other
 * control characters too.  Returns the length written (truncating at a character
 * boundary if cap is too small).  Exposed for tests. */
size_t pf_svg_clean_name(const char *name, size_t len, char *out, size_t cap);

#endif
