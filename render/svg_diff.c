/* svg_diff.c: the differential flame graph (see svg_diff.h): the svg renderer with
 * a colour, tooltip and legend hook over the diff's two-column stack tree
 * (count = BASE, count2 = NEW). */
#include "render/svg_diff.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "formats/alloc.h"
#include "formats/units.h"
#include "render/palette.h"
#include "render/svg.h"

void pf_svg_diff_opts_init(pf_svg_diff_opts *o)
{
    memset(o, 0, sizeof *o);
    o->width = 1200;
}

struct ctx {
    const pf_diff *d;
    const pf_stacktree *t;
    unsigned char *vanished;      /* per node: in the vanished frame's subtree */
    double maxdelta;
    int unit;                     /* enum pf_svg_unit */
    const char *countname;
};

static void value(char *b, size_t cap, const struct ctx *c, double v)
{
    switch (c->unit) {
    case PF_SVG_UNIT_BYTES: pf_units_bytes(b, cap, pf_units_u64(fabs(v)), 0); break;
    case PF_SVG_UNIT_US: pf_units_ns(b, cap, pf_units_u64(fabs(v) * 1000)); break;
    default: {
        char n[PF_UNITS_BUFSZ];
        pf_units_number(n, sizeof n, fabs(v));
        snprintf(b, cap, "%s %s", n, c->countname);
    }
    }
}

static uint32_t color(void *vc, uint32_t i)
{
    const struct ctx *c = vc;
    const pf_stacktree *t = c->t;
    if (i == 0)
        return 0xd9d9d9;
    if (c->vanished[i])
        return PF_SVG_DIFF_VANISHED_COLOR;
    double b = t->nodes[i].total, n = pf_stacktree_total2(t, i);
    if (b == 0 && n > 0)
        return PF_SVG_DIFF_NEW_COLOR;
    return pf_palette_diff_color(n - b, c->maxdelta, 0);
}

static size_t tooltip(void *vc, uint32_t i, char *buf, size_t cap)
{
    const struct ctx *c = vc;
    const pf_stacktree *t = c->t;
    char bv[96], nv[96], dv[96], bs[96], ns[96];
    double b = t->nodes[i].total, n = pf_stacktree_total2(t, i);
    int k;
    if (c->vanished[i]) {
        value(bv, sizeof bv, c, b);
        value(bs, sizeof bs, c, t->nodes[i].self);
        k = snprintf(buf, cap, "only in BASE (vanished): %s, self %s%s", bv, bs,
                     c->d->opts.normalize ? " (scaled)" : "");
        return k < 0 ? 0 : (size_t)k;
    }
    if (i == 0 && c->d->vanished_node != PF_NONE) {
        /* the root's NEW total includes the vanished frame drawn beside NEW's stacks */
        double vb = pf_stacktree_total2(t, c->d->vanished_node);
        n -= vb;
        b -= vb;
    }
    value(bv, sizeof bv, c, b);
    value(nv, sizeof nv, c, n);
    value(dv, sizeof dv, c, n - b);
    value(bs, sizeof bs, c, t->nodes[i].self);
    value(ns, sizeof ns, c, pf_stacktree_self2(t, i));
    double r = pf_diff_ratio(b, n);
    char pct[32];
    if (isinf(r))
        snprintf(pct, sizeof pct, "new in NEW");
    else
        snprintf(pct, sizeof pct, "%+.1f%%", 100 * r);
    k = snprintf(buf, cap, "BASE: %s (self %s)\nNEW: %s (self %s)\nchange: %s%s (%s)%s", bv, bs,
                 nv, ns, n > b ? "+" : n < b ? "-" : "", dv, pct,
                 c->d->opts.normalize ? "\nBASE scaled to NEW's total (--normalize)" : "");
    return k < 0 ? 0 : (size_t)k;
}

static const char *const legend[] = {
    "#ff5050", "more in NEW", "#5050ff", "less in NEW", "#ffffff", "unchanged",
    "#b57ee5", "new frame", "#9db4cb", "only in BASE (vanished)", NULL, NULL
};

static const char *metric_words(enum pf_metric m)
{
    switch (m) {
    case PF_METRIC_CALLS: return "calls";
    case PF_METRIC_ALLOC_BYTES: return "bytes allocated";
    case PF_METRIC_ALLOC_COUNT: return "allocations";
    case PF_METRIC_PEAK_BYTES: return "bytes live at the peak";
    case PF_METRIC_EXIT_BYTES: return "bytes live at exit";
    default: return "self time";
    }
}

int pf_svg_diff_write(const pf_diff *d, const pf_svg_diff_opts *o, FILE *out, pf_error *err)
{
    const pf_stacktree *t = d->stacks;
    if (t == NULL)
        return pf_error_set(err, PF_EUSAGE, "the comparison has no stack tree");
    struct ctx c = { d, t, NULL, 0, PF_SVG_UNIT_COUNT, "samples" };
    c.vanished = pf_calloc(t->nnodes ? t->nnodes : 1, 1);
    if (c.vanished == NULL)
        return pf_error_set(err, PF_ENOMEM, NULL);
    /* parents come first: one forward pass marks the vanished frame's subtree */
    for (uint32_t i = 1; i < t->nnodes; i++) {
        uint32_t p = t->nodes[i].parent;
        c.vanished[i] = i == d->vanished_node || (p != PF_NONE && c.vanished[p]);
    }
    for (uint32_t i = 1; i < t->nnodes; i++)
        if (!c.vanished[i] && pf_stacktree_total2(t, i) > 0) {
            double delta = fabs(pf_stacktree_total2(t, i) - t->nodes[i].total);
            if (t->nodes[i].total > 0 && delta > c.maxdelta)
                c.maxdelta = delta;
        }
    pf_svg_opts so;
    pf_svg_opts_init(&so);
    so.width = o->width > 0 ? o->width : 1200;
    if (d->traces == 1) {
        pf_svg_opts_for_metric(&so, d->opts.metric, 0, 0);
        so.subtitle = NULL;
    }
    c.unit = (int)so.unit;
    c.countname = so.countname ? so.countname : "samples";
    char title[1024], subtitle[1024];
    const char *how = d->opts.normalize ? "normalized: BASE scaled to NEW's total"
                                        : "absolute values";
    if (o->title)
        snprintf(title, sizeof title, "%s (%s)", o->title, how);
    else
        snprintf(title, sizeof title, "Differential flame graph: %.300s \xe2\x86\x92 %.300s (%s)",
                 o->base_label ? o->base_label : "BASE", o->new_label ? o->new_label : "NEW", how);
    snprintf(subtitle, sizeof subtitle, "Width: NEW's %s; colour: change including callees%s%.100s%s",
             d->traces == 1 ? metric_words(d->opts.metric) : "samples",
             d->vanished_node != PF_NONE ? "; stacks only in BASE: the frame " : "",
             d->vanished_node != PF_NONE ? pf_stacktree_name(t, d->vanished_node, NULL) : "",
             d->forced[0] ? "; FORCED: runs not comparable (--force)" : "");
    so.title = title;
    so.subtitle = subtitle;
    so.palette = PF_PAL_HOT;
    pf_svg_hooks hooks = { &c, color, tooltip, legend };
    so.hooks = &hooks;
    int rc = pf_svg_write(t, &so, out, err);
    pf_free(c.vanished);
    return rc;
}
