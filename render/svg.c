/* svg.c: the SVG flame graph writer (see svg.h).
 *
 * Two passes over the tree.  The first decides which frames are drawn (flamegraph.pl's
 * rule: a frame narrower than --minwidth is left out, and so is everything above it)
 * and finds the deepest drawn row, which fixes the image height.  The second walks the
 * drawn frames depth-first with an explicit stack, children in the tree's order (by
 * name, or input order for flame charts), and writes one flat <g> per frame, in
 * pre-order, as flamegraph.pl does (nesting one element per stack level would make a
 * deep stack an invalid document: libxml2 stops at depth 256, Chromium near 5,000):
 *
 *     <g v="VALUE" s="GAP"><title>NAME\nVALUE UNIT (PCT%)...</title>
 *       <rect x y width height fill/><text x y>FITTED NAME</text></g>
 *
 * The script finds a frame's depth from its rect's row and its parent as the last
 * frame one row closer to the root.
 * v is the exact value and s the summed value of left-out siblings just before the
 * frame (omitted when 0), so the script recomputes exact positions for any zoom
 * level without parsing rounded pixels.  Frames too narrow for 3 characters get no
 * <text>; the script adds one when a zoom makes room.
 */
#include "render/svg.h"

#include <libxml/xmlerror.h>
#include <libxml/xmlwriter.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "formats/alloc.h"
#include "formats/progress.h"
#include "formats/units.h"
#include "render/palette.h"

static const char flamegraph_js[] = {
#include "flamegraph.js.inc"
};
static const char flamegraph_css[] = {
#include "flamegraph.css.inc"
};

#define XPAD 10.0
#define FRAMEPAD 1.0
#define CHAR_W 0.59          /* average glyph width per px of font size (Verdana-like) */

void pf_svg_opts_init(pf_svg_opts *o)
{
    memset(o, 0, sizeof *o);
    o->width = 1200;
    o->frame_height = 16;
    o->fontsize = 12;
    o->minwidth = 0.1;
    o->palette = PF_PAL_HOT;
    o->unit = PF_SVG_UNIT_COUNT;
}

/* ---- text hygiene ---- */

/* Decodes one UTF-8 character at s[0..n); returns its length (>= 1) and the code
 * point in *cp, or U+FFFD (length 1) for any invalid, overlong or surrogate form. */
static size_t utf8_next(const unsigned char *s, size_t n, uint32_t *cp)
{
    unsigned c = s[0];
    size_t len;
    uint32_t v, min;
    if (c < 0x80) {
        *cp = c;
        return 1;
    } else if (c >= 0xc2 && c <= 0xdf) {
        len = 2; v = c & 0x1f; min = 0x80;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3; v = c & 0x0f; min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4; v = c & 0x07; min = 0x10000;
    } else {
        *cp = 0xfffd;
        return 1;
    }
    if (n < len)
        goto bad;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            goto bad;
        v = v << 6 | (s[i] & 0x3f);
    }
    if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
        goto bad;
    *cp = v;
    return len;
bad:
    *cp = 0xfffd;
    return 1;
}

static size_t utf8_put(uint32_t cp, char *o)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    } else if (cp < 0x800) {
        o[0] = (char)(0xc0 | cp >> 6);
        o[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    } else if (cp < 0x10000) {
        o[0] = (char)(0xe0 | cp >> 12);
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        o[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    o[0] = (char)(0xf0 | cp >> 18);
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    o[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

size_t pf_svg_clean_name(const char *name, size_t len, char *out, size_t cap)
{
    const unsigned char *s = (const unsigned char *)name;
    size_t i = 0, o = 0;
    if (cap == 0)
        return 0;
    while (i < len) {
        uint32_t cp;
        i += utf8_next(s + i, len - i, &cp);
        /* XML 1.0 Char excludes C0 controls but \t \n \r; those break one-line
         * names anyway, so every control character (and DEL) is replaced */
        if (cp < 0x20 || cp == 0x7f || cp == 0xfffe || cp == 0xffff)
            cp = 0xfffd;
        char tmp[4];
        size_t k = utf8_put(cp, tmp);
        if (o + k >= cap)
            break;
        memcpy(out + o, tmp, k);
        o += k;
    }
    out[o] = '\0';
    return o;
}

/* Code points in a clean UTF-8 string. */
static size_t utf8_count(const char *s, size_t n)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i++)
        c += ((unsigned char)s[i] & 0xc0) != 0x80;
    return c;
}

/* Byte offset of code point number k in a clean UTF-8 string. */
static size_t utf8_offset(const char *s, size_t n, size_t k)
{
    size_t i = 0;
    for (; i < n; i++)
        if (((unsigned char)s[i] & 0xc0) != 0x80 && k-- == 0)
            return i;
    return n;
}

/* ---- numbers ---- */

/* px with at most 2 decimals, trailing zeros dropped: "10", "10.5", "10.25".  Values
 * are bounded by the image size; anything else (never expected) prints as 0 rather
 * than reaching llround's undefined range. */
static const char *fmt_px(char *b, double v)
{
    if (!(fabs(v) < 1e15))
        v = 0;
    long long c = llround(v * 100);
    const char *sign = c < 0 ? "-" : "";
    if (c < 0)
        c = -c;
    if (c % 100 == 0)
        snprintf(b, 32, "%s%lld", sign, c / 100);
    else if (c % 10 == 0)
        snprintf(b, 32, "%s%lld.%lld", sign, c / 100, (c % 100) / 10);
    else
        snprintf(b, 32, "%s%lld.%02lld", sign, c / 100, c % 100);
    return b;
}

/* A frame's value in the unit of the graph, as formats/units.h prints it everywhere. */
static void fmt_value(char *b, size_t cap, double v, const pf_svg_opts *o, const char *countname)
{
    switch (o->unit) {
    case PF_SVG_UNIT_BYTES:
        pf_units_bytes(b, cap, pf_units_u64(v), 0);
        break;
    case PF_SVG_UNIT_US:
        pf_units_ns(b, cap, pf_units_u64(v * 1000));
        break;
    default: {
        char n[PF_UNITS_BUFSZ];
        pf_units_number(n, sizeof n, v);
        snprintf(b, cap, "%s %s", n, countname);
    }
    }
}

/* ---- output plumbing ---- */

struct out_ctx {
    FILE *f;
    int failed;
};

static int write_cb(void *ctx, const char *buf, int len)
{
    struct out_ctx *c = ctx;
    if (len > 0 && fwrite(buf, 1, (size_t)len, c->f) != (size_t)len) {
        c->failed = 1;
        return -1;
    }
    return len;
}

static int close_cb(void *ctx)
{
    (void)ctx;
    return 0;
}

/* The renderer's state for one document. */
struct svg {
    xmlTextWriterPtr w;
    const pf_stacktree *t;
    const pf_svg_opts *o;
    int bad;                  /* a libxml2 call failed */
    int oom;                  /* one of our allocations failed */
    double total;             /* value of the root */
    double scale;             /* px per unit of value */
    double minval;            /* smallest drawn value */
    double maxdelta;
    double height;
    uint32_t maxdepth;
    const char *countname;
    char *name;               /* scratch: cleaned name */
    size_t name_cap;
    char *text;               /* scratch: title / fitted text */
    size_t text_cap;
};

#define W(call) do { if ((call) < 0) s->bad = 1; } while (0)
#define X(str) BAD_CAST (str)

static void attr(struct svg *s, const char *k, const char *v)
{
    W(xmlTextWriterWriteAttribute(s->w, X(k), X(v)));
}

static void attr_px(struct svg *s, const char *k, double v)
{
    char b[32];
    attr(s, k, fmt_px(b, v));
}

static void start(struct svg *s, const char *el)
{
    W(xmlTextWriterStartElement(s->w, X(el)));
}

static void end(struct svg *s)
{
    W(xmlTextWriterEndElement(s->w));
}

static void text_el(struct svg *s, const char *id, double x, double y, const char *anchor,
                    const char *content)
{
    start(s, "text");
    if (id)
        attr(s, "id", id);
    if (id && (strcmp(id, "unzoom") == 0 || strcmp(id, "search") == 0 || strcmp(id, "ic") == 0)) {
        /* controls: reachable with Tab, announced as buttons */
        attr(s, "role", "button");
        attr(s, "tabindex", "0");
        attr(s, "aria-label", strcmp(id, "unzoom") == 0 ? "Reset zoom"
                              : strcmp(id, "search") == 0 ? "Search (regular expression)"
                              : "Toggle ignore case");
    }
    attr_px(s, "x", x);
    attr_px(s, "y", y);
    if (anchor)
        attr(s, "text-anchor", anchor);
    if (content)
        W(xmlTextWriterWriteString(s->w, X(content)));
    end(s);
    W(xmlTextWriterWriteRaw(s->w, X("\n")));
}

/* Writes asset text as CDATA, splitting any "]]>" so the section cannot end early. */
static void cdata(struct svg *s, const char *txt)
{
    const char *p = txt;
    for (;;) {
        const char *q = strstr(p, "]]>");
        size_t n = q ? (size_t)(q - p) + 2 : strlen(p);
        char *chunk = pf_strndup(p, n);
        if (!chunk) {
            s->oom = 1;
            return;
        }
        W(xmlTextWriterWriteCDATA(s->w, X(chunk)));
        pf_free(chunk);
        if (!q)
            break;
        p = q + 2;
    }
}

static int grow_(char **buf, size_t *cap, size_t need)
{
    if (need <= *cap)
        return 0;
    size_t n = *cap ? *cap : 256;
    while (n < need)
        n *= 2;
    char *b = pf_realloc(*buf, n);
    if (!b)
        return -1;
    *buf = b;
    *cap = n;
    return 0;
}

/* grow_() that remembers the failure, so the caller reports "out of memory". */
static int grow_s(struct svg *s, char **buf, size_t *cap, size_t need)
{
    if (grow_(buf, cap, need) < 0) {
        s->oom = 1;
        return -1;
    }
    return 0;
}

static double value_of(const pf_stacktree *t, uint32_t i)
{
    return t->has_count2 ? pf_stacktree_total2(t, i) : t->nodes[i].total;
}

/* A differential graph colours each frame by the change of its own (self) count, as
 * flamegraph.pl does: the frames that changed stand out, their callers stay white
 * (the root included) unless their own count changed too.  Tooltips give both. */
static double self_delta(const pf_stacktree *t, uint32_t i)
{
    return pf_stacktree_self2(t, i) - t->nodes[i].self;
}

/* ---- per-frame markup ---- */

static const char *code_file(const pf_stacktree *t, uint32_t i)
{
    if (!t->info || !t->trace || t->info[i].code == PF_NONE || t->info[i].code >= t->trace->ncodes)
        return NULL;
    return pf_trace_str(t->trace, t->trace->codes[t->info[i].code].file);
}

/* Builds the tooltip into s->text; s->name holds the cleaned name. */
static int build_title(struct svg *s, uint32_t i, size_t nlen)
{
    const pf_stacktree *t = s->t;
    const pf_svg_opts *o = s->o;
    if (grow_s(s, &s->text, &s->text_cap, nlen + 1024) < 0)
        return -1;
    if (o->hooks && o->hooks->tooltip) {
        memcpy(s->text, s->name, nlen);
        s->text[nlen] = '\n';
        o->hooks->tooltip(o->hooks->ctx, i, s->text + nlen + 1, s->text_cap - nlen - 1);
        return 0;
    }
    char v[96];
    double val = value_of(t, i);
    fmt_value(v, sizeof v, val, o, s->countname);
    int n = snprintf(s->text, s->text_cap, "%s\n%s (%.2f%%)", s->name, v,
                     s->total > 0 ? 100.0 * val / s->total : 0.0);
    size_t len = (size_t)n;
    if (t->has_count2) {
        double d = pf_stacktree_total2(t, i) - t->nodes[i].total;
        char dv[96];
        fmt_value(dv, sizeof dv, fabs(d), o, s->countname);
        double sd = self_delta(t, i);
        char sv[96];
        fmt_value(sv, sizeof sv, fabs(sd), o, s->countname);
        len += (size_t)snprintf(s->text + len, s->text_cap - len,
                                "\nchange: %s%s (%+.2f%%), own: %s%s (%+.2f%%)",
                                d > 0 ? "+" : d < 0 ? "-" : "", dv,
                                s->total > 0 ? 100.0 * d / s->total : 0.0,
                                sd > 0 ? "+" : sd < 0 ? "-" : "", sv,
                                s->total > 0 ? 100.0 * sd / s->total : 0.0);
    }
    if (t->info && i != 0) {
        const pf_stack_info *e = &t->info[i];
        char calls[PF_UNITS_BUFSZ], self[PF_UNITS_BUFSZ];
        pf_units_count(calls, sizeof calls, e->calls);
        pf_units_ns(self, sizeof self, e->self_ns);
        if (e->calls > 0)
            len += (size_t)snprintf(s->text + len, s->text_cap - len, "\ncalls: %s, self time: %s",
                                    calls, self);
        const char *file = code_file(t, i);
        if (file && file[0]) {
            uint32_t line = e->line ? e->line : t->trace->codes[e->code].first_line;
            size_t fl = strlen(file);
            if (grow_s(s, &s->text, &s->text_cap, len + fl * 3 + 64) < 0)
                return -1;
            s->text[len++] = '\n';
            len += pf_svg_clean_name(file, fl, s->text + len, s->text_cap - len - 32);
            len += (size_t)snprintf(s->text + len, s->text_cap - len, ":%u", line);
        }
    }
    return 0;
}

/* Fits the cleaned name into w px: the whole name, "head.." or "..tail"; "" if fewer
 * than 3 characters fit. */
static const char *fit_name(struct svg *s, size_t nlen, double w)
{
    double cw = s->o->fontsize * CHAR_W, room = (w - 6) / cw;
    if (!(room >= 3))
        return NULL;
    long fit = room < 1e9 ? (long)room : 1000000000L;
    size_t chars = utf8_count(s->name, nlen);
    if ((long)chars <= fit)
        return s->name;
    if (grow_s(s, &s->text, &s->text_cap, nlen + 3) < 0)
        return NULL;
    size_t keep = (size_t)fit - 2;
    if (s->o->truncate_start) {
        size_t off = utf8_offset(s->name, nlen, chars - keep);
        s->text[0] = s->text[1] = '.';
        memcpy(s->text + 2, s->name + off, nlen - off);
        s->text[2 + nlen - off] = '\0';
    } else {
        size_t off = utf8_offset(s->name, nlen, keep);
        memcpy(s->text, s->name, off);
        memcpy(s->text + off, "..", 3);
    }
    return s->text;
}

static uint32_t frame_color(struct svg *s, uint32_t i, const char *raw, size_t rawlen)
{
    const pf_stacktree *t = s->t;
    if (s->o->hooks && s->o->hooks->color)
        return s->o->hooks->color(s->o->hooks->ctx, i);
    if (t->has_count2)
        return pf_palette_diff_color(self_delta(t, i), s->maxdelta, s->o->negate);
    if (i == 0)
        return 0xd9d9d9;    /* "all" is a frame of its own, not part of any palette */
    return pf_palette_color(s->o->palette, s->o->hash, raw, rawlen, code_file(t, i));
}

/* Room above the frames: the title, the subtitle, the legend. */
static double top_pad(const pf_svg_opts *o)
{
    return o->fontsize * 3 + (o->subtitle ? o->fontsize * 2 : 0) +
           (o->hooks && o->hooks->legend ? o->fontsize * 2 : 0);
}

static double row_y(struct svg *s, uint32_t depth)
{
    const pf_svg_opts *o = s->o;
    double top = top_pad(o);
    if (o->inverted)
        return top + depth * o->frame_height;
    double bottom = s->height - (o->fontsize * 2 + 10);
    return bottom - (depth + 1) * o->frame_height;
}

/* Opens the frame's <g> and writes its title, rect and text (the caller closes it). */
static int frame_open(struct svg *s, uint32_t i, double x, uint32_t depth, double gap)
{
    const pf_stacktree *t = s->t;
    const pf_svg_opts *o = s->o;
    size_t rawlen;
    const char *raw = pf_strtab_get(t->names, t->nodes[i].name, &rawlen);
    if (!raw)
        raw = "", rawlen = 0;
    if (grow_s(s, &s->name, &s->name_cap, rawlen * 3 + 4) < 0)
        return -1;
    size_t nlen = pf_svg_clean_name(raw, rawlen, s->name, s->name_cap);
    char b[PF_UNITS_EXACT_BUFSZ];
    double val = value_of(t, i);
    start(s, "g");
    pf_units_exact(val, b);
    attr(s, "v", b);
    if (gap > 0) {
        pf_units_exact(gap, b);
        attr(s, "s", b);
    }
    if (build_title(s, i, nlen) < 0)
        return -1;
    start(s, "title");
    W(xmlTextWriterWriteString(s->w, X(s->text)));
    end(s);
    int link = o->html_link && t->info && t->info[i].code != PF_NONE;
    if (link) {
        char code[16];
        snprintf(code, sizeof code, "%u", t->info[i].code);
        size_t hl = strlen(o->html_link);
        if (grow_s(s, &s->text, &s->text_cap, hl + 32) < 0)
            return -1;
        snprintf(s->text, s->text_cap, "%s#code-%s", o->html_link, code);
        start(s, "a");
        attr(s, "href", s->text);
    }
    double px = XPAD + x * s->scale, w = val * s->scale, y = row_y(s, depth);
    start(s, "rect");
    attr_px(s, "x", px);
    attr_px(s, "y", y);
    attr_px(s, "width", w);
    attr_px(s, "height", o->frame_height - FRAMEPAD);
    snprintf(b, sizeof b, "#%06x", frame_color(s, i, raw, rawlen));
    attr(s, "fill", b);
    end(s);
    if (link)
        end(s);
    const char *fitted = fit_name(s, nlen, w);
    if (fitted) {
        start(s, "text");
        attr_px(s, "x", px + 3);
        attr_px(s, "y", y + o->frame_height / 2 + o->fontsize * 0.35 - FRAMEPAD / 2);
        W(xmlTextWriterWriteString(s->w, X(fitted)));
        end(s);
    }
    return s->bad ? -1 : 0;
}

/* ---- the two passes ---- */

struct pending {
    uint32_t node;
    uint32_t depth;
    double x, gap;
};

static int emit_frames(struct svg *s)
{
    const pf_stacktree *t = s->t;
    uint32_t *kids = NULL;
    struct pending *stack = NULL;
    size_t nstack = 0, cap_stack = 0, cap_kids = 0;
    cap_stack = 256;
    stack = pf_malloc(cap_stack * sizeof *stack);
    if (!stack)
        goto nomem;
    stack[nstack++] = (struct pending){ 0, 0, 0, 0 };
    uint32_t emitted = 0;
    while (nstack > 0) {
        struct pending p = stack[--nstack];
        if ((++emitted & (PF_PROGRESS_EVERY - 1)) == 0)   /* drawn frames are at most all */
            pf_progress_report(PF_PROGRESS_WRITE, emitted, t->nnodes);
        if (frame_open(s, p.node, p.x, p.depth, p.gap) < 0)
            goto fail;
        end(s);
        W(xmlTextWriterWriteRaw(s->w, X("\n")));
        /* children, in the tree's order (by name, or input order for charts) */
        size_t nk = 0;
        for (uint32_t c = t->nodes[p.node].first_child; c != PF_NONE; c = t->nodes[c].next_sibling) {
            if (nk == cap_kids) {
                size_t ncap = cap_kids ? cap_kids * 2 : 64;
                uint32_t *nkids = pf_reallocarray(kids, ncap, sizeof *nkids);
                if (!nkids)
                    goto nomem;
                kids = nkids;
                cap_kids = ncap;
            }
            kids[nk++] = c;
        }
        size_t need = nstack + nk;
        if (need > cap_stack) {
            size_t ncap = cap_stack;
            while (ncap < need)
                ncap *= 2;
            struct pending *ns = pf_reallocarray(stack, ncap, sizeof *ns);
            if (!ns)
                goto nomem;
            stack = ns;
            cap_stack = ncap;
        }
        /* pushed in reverse so the leftmost child is written first */
        size_t base = nstack;
        double x = p.x, gap = 0;
        for (size_t k = 0; k < nk; k++) {
            double v = value_of(t, kids[k]);
            if (v >= s->minval && v > 0) {
                stack[nstack++] = (struct pending){ kids[k], p.depth + 1, x, gap };
                gap = 0;
            } else {
                gap += v;
            }
            x += v;
        }
        for (size_t a = base, b = nstack; a + 1 < b; a++, b--) {
            struct pending tmp = stack[a];
            stack[a] = stack[b - 1];
            stack[b - 1] = tmp;
        }
    }
    pf_progress_report(PF_PROGRESS_WRITE, t->nnodes, t->nnodes);
    pf_free(kids);
    pf_free(stack);
    return 0;
nomem:
    s->oom = 1;
fail:
    pf_free(kids);
    pf_free(stack);
    return -1;
}

/* First pass: drawn frames' depth, the deepest row and the largest change. */
static int measure(struct svg *s, pf_error *err)
{
    const pf_stacktree *t = s->t;
    uint32_t *depth = pf_malloc((size_t)t->nnodes * sizeof *depth);
    if (!depth)
        return pf_error_set(err, PF_ENOMEM, NULL);
    depth[0] = 0;
    s->maxdepth = 0;
    /* the largest own change of any frame, drawn or not (flamegraph.pl's is of any
     * input line): the scale of the colours */
    s->maxdelta = 0;
    for (uint32_t i = 0; t->has_count2 && i < t->nnodes; i++)
        if (fabs(self_delta(t, i)) > s->maxdelta)
            s->maxdelta = fabs(self_delta(t, i));
    for (uint32_t i = 1; i < t->nnodes; i++) {
        uint32_t p = t->nodes[i].parent;
        double v = value_of(t, i);
        if (depth[p] == PF_NONE || v < s->minval || v <= 0) {
            depth[i] = PF_NONE;
            continue;
        }
        depth[i] = depth[p] + 1;
        if (depth[i] > s->maxdepth)
            s->maxdepth = depth[i];
    }
    pf_free(depth);
    return 0;
}

int pf_svg_bgcolors_valid(const char *name)
{
    static const char *const named[] = { "yellow", "blue", "green", "grey", "gray" };
    for (size_t i = 0; i < sizeof named / sizeof named[0]; i++)
        if (strcmp(name, named[i]) == 0)
            return 1;
    if (name[0] != '#' || strlen(name) != 7)
        return 0;
    for (int i = 1; i < 7; i++)
        if (!strchr("0123456789abcdefABCDEF", name[i]))
            return 0;
    return 1;
}

/* The two gradient stops: flamegraph.pl's choices (by palette unless --bgcolors). */
static void background(const pf_svg_opts *o, const char **c1, const char **c2)
{
    const char *b = o->bgcolors;
    if (!b || !pf_svg_bgcolors_valid(b)) {
        switch (o->palette) {
        case PF_PAL_MEM: b = "green"; break;
        case PF_PAL_IO: case PF_PAL_WAKEUP: case PF_PAL_CHAIN: b = "blue"; break;
        case PF_PAL_RED: case PF_PAL_GREEN: case PF_PAL_BLUE: case PF_PAL_AQUA:
        case PF_PAL_YELLOW: case PF_PAL_PURPLE: case PF_PAL_ORANGE: b = "grey"; break;
        default: b = "yellow";
        }
    }
    *c1 = "#eeeeee";
    if (strcmp(b, "yellow") == 0)
        *c2 = "#eeeeb0";
    else if (strcmp(b, "blue") == 0)
        *c2 = "#e0e0ff";
    else if (strcmp(b, "green") == 0)
        *c1 = "#eef2ee", *c2 = "#e0ffe0";
    else if (b[0] != '#')
        *c1 = "#f8f8f8", *c2 = "#e8e8e8";
    else
        *c1 = *c2 = b;
}

static const char *unit_name(enum pf_svg_unit u)
{
    return u == PF_SVG_UNIT_BYTES ? "bytes" : u == PF_SVG_UNIT_US ? "us" : "count";
}

/* libxml2 would print its own "I/O error" lines; ours say what failed and where. */
static void quiet_xml_errors(void *ctx, const char *msg, ...)
{
    (void)ctx;
    (void)msg;
}

int pf_svg_write(const pf_stacktree *t, const pf_svg_opts *o, FILE *out, pf_error *err)
{
    xmlSetGenericErrorFunc(NULL, quiet_xml_errors);
    struct svg sv = { 0 };
    struct svg *s = &sv;
    struct out_ctx oc = { out, 0 };
    xmlOutputBufferPtr ob = NULL;
    s->t = t;
    s->o = o;
    s->countname = o->countname ? o->countname : "samples";
    s->total = value_of(t, 0);
    if (!(s->total > 0))
        return pf_error_set(err, PF_EEMPTY, "no stack has a positive count");
    double avail = o->width - 2 * XPAD;
    s->scale = avail / s->total;
    if (!isfinite(s->total) || !isfinite(s->scale))
        return pf_error_set(err, PF_ELIMIT, "the total %g cannot be drawn (too small or too "
                            "large a count)", s->total);
    s->minval = o->minwidth_pct ? s->total * o->minwidth / 100.0 : o->minwidth / s->scale;
    if (measure(s, err) < 0)
        return -1;
    double ypad1 = top_pad(o);
    double ypad2 = o->fontsize * 2 + 10;
    s->height = ypad1 + ypad2 + (s->maxdepth + 1) * o->frame_height;
    double H = s->height, Wd = o->width;

    ob = xmlOutputBufferCreateIO(write_cb, close_cb, &oc, NULL);
    if (!ob)
        return pf_error_set(err, PF_ENOMEM, NULL);
    s->w = xmlNewTextWriter(ob);
    if (!s->w) {
        xmlOutputBufferClose(ob);
        return pf_error_set(err, PF_ENOMEM, NULL);
    }
    W(xmlTextWriterStartDocument(s->w, "1.0", "UTF-8", NULL));
    start(s, "svg");
    attr(s, "xmlns", "http://www.w3.org/2000/svg");
    attr(s, "version", "1.1");
    attr(s, "class", "pyflame-fg");    /* the style's scope, when inlined in a page */
    attr_px(s, "width", Wd);
    attr_px(s, "height", H);
    char vb[96], b1[32], b2[32];
    snprintf(vb, sizeof vb, "0 0 %s %s", fmt_px(b1, Wd), fmt_px(b2, H));
    attr(s, "viewBox", vb);
    attr(s, "font-family", o->fonttype ? o->fonttype : "Verdana");
    attr_px(s, "font-size", o->fontsize);
    attr_px(s, "data-fh", o->frame_height);
    attr_px(s, "data-xpad", XPAD);
    attr(s, "data-inverted", o->inverted ? "1" : "0");
    attr(s, "data-unit", unit_name(o->unit));
    attr(s, "data-countname", s->countname);
    attr(s, "data-diff", t->has_count2 ? "1" : "0");
    attr(s, "data-trunc", o->truncate_start ? "1" : "0");
    W(xmlTextWriterWriteRaw(s->w, X("\n")));
    if (o->notes) {
        start(s, "desc");
        attr(s, "id", "notes");
        size_t nl = strlen(o->notes);
        char *clean = pf_malloc(nl * 3 + 4);
        if (!clean)
            goto nomem;
        /* keep newlines in notes: clean line by line */
        size_t ol = 0;
        const char *p = o->notes;
        while (*p) {
            const char *e = strchr(p, '\n');
            size_t l = e ? (size_t)(e - p) : strlen(p);
            ol += pf_svg_clean_name(p, l, clean + ol, nl * 3 + 4 - ol);
            if (!e)
                break;
            clean[ol++] = '\n';
            clean[ol] = '\0';
            p = e + 1;
        }
        W(xmlTextWriterWriteString(s->w, X(clean)));
        pf_free(clean);
        end(s);
        W(xmlTextWriterWriteRaw(s->w, X("\n")));
    }
    start(s, "style");
    cdata(s, flamegraph_css);
    end(s);
    W(xmlTextWriterWriteRaw(s->w, X("\n")));
    /* background gradient, as flamegraph.pl users expect; CSS swaps it in dark mode */
    {
        /* background gradient, as flamegraph.pl draws it; CSS swaps it in dark mode */
        const char *c1, *c2;
        background(o, &c1, &c2);
        start(s, "defs");
        start(s, "linearGradient");
        attr(s, "id", "bg");
        attr(s, "x1", "0");
        attr(s, "y1", "0");
        attr(s, "x2", "0");
        attr(s, "y2", "1");
        start(s, "stop");
        attr(s, "offset", "5%");
        attr(s, "stop-color", c1);
        end(s);
        start(s, "stop");
        attr(s, "offset", "95%");
        attr(s, "stop-color", c2);
        end(s);
        end(s);
        end(s);
        W(xmlTextWriterWriteRaw(s->w, X("\n")));
    }
    start(s, "rect");
    attr(s, "id", "bgrect");
    attr(s, "width", "100%");
    attr(s, "height", "100%");
    end(s);
    W(xmlTextWriterWriteRaw(s->w, X("\n")));
    const char *title = o->title ? o->title
                      : t->opts.order == PF_ORDER_CHART ? "Flame Chart" : o->inverted ? "Icicle Graph" : "Flame Graph";
    {
        size_t tl = strlen(title);
        if (grow_s(s, &s->name, &s->name_cap, tl * 3 + 4) < 0)
            goto nomem;
        pf_svg_clean_name(title, tl, s->name, s->name_cap);
        text_el(s, "title", Wd / 2, o->fontsize * 2, "middle", s->name);
    }
    if (o->subtitle) {
        size_t tl = strlen(o->subtitle);
        if (grow_s(s, &s->name, &s->name_cap, tl * 3 + 4) < 0)
            goto nomem;
        pf_svg_clean_name(o->subtitle, tl, s->name, s->name_cap);
        text_el(s, "subtitle", Wd / 2, o->fontsize * 4, "middle", s->name);
    }
    if (o->hooks && o->hooks->legend) {
        /* the legend: a swatch and a label per entry, on one row under the titles */
        double lx = XPAD, ly = top_pad(o) - o->fontsize * 1.2;
        start(s, "g");
        attr(s, "id", "legend");
        for (const char *const *e = o->hooks->legend; e[0] && e[1]; e += 2) {
            start(s, "rect");
            attr_px(s, "x", lx);
            attr_px(s, "y", ly - o->fontsize * 0.8);
            attr_px(s, "width", o->fontsize);
            attr_px(s, "height", o->fontsize * 0.8);
            attr(s, "fill", e[0]);
            attr(s, "stroke", "#888");
            end(s);
            text_el(s, NULL, lx + o->fontsize * 1.3, ly, NULL, e[1]);
            lx += o->fontsize * (2.5 + 0.59 * (double)strlen(e[1]));
        }
        end(s);
        W(xmlTextWriterWriteRaw(s->w, X("\n")));
    }
    text_el(s, "details", XPAD, H - ypad2 / 2, NULL, " ");
    text_el(s, "unzoom", XPAD, o->fontsize * 2, NULL, "Reset Zoom");
    text_el(s, "search", Wd - XPAD - o->fontsize * 2.5, o->fontsize * 2, "end", "Search");
    text_el(s, "ic", Wd - XPAD, o->fontsize * 2, "end", "ic");
    text_el(s, "matched", Wd - XPAD, H - ypad2 / 2, "end", " ");
    start(s, "g");
    attr(s, "id", "frames");
    W(xmlTextWriterWriteRaw(s->w, X("\n")));
    if (emit_frames(s) < 0)
        goto fail;
    end(s);
    W(xmlTextWriterWriteRaw(s->w, X("\n")));
    start(s, "script");
    cdata(s, flamegraph_js);
    end(s);
    W(xmlTextWriterWriteRaw(s->w, X("\n")));
    end(s);
    W(xmlTextWriterEndDocument(s->w));
    xmlFreeTextWriter(s->w);
    s->w = NULL;
    pf_free(s->name);
    pf_free(s->text);
    if (s->oom)
        return pf_error_set(err, PF_ENOMEM, NULL);
    if (s->bad || oc.failed || fflush(out) != 0 || ferror(out))
        return pf_error_set(err, PF_EIO, "cannot write the SVG");
    return 0;
nomem:
    s->oom = 1;
fail:
    if (s->oom)
        pf_error_set(err, PF_ENOMEM, NULL);
    else if (err->code == PF_OK)
        pf_error_set(err, PF_EIO, "cannot write the SVG");
    xmlFreeTextWriter(s->w);
    pf_free(s->name);
    pf_free(s->text);
    return -1;
}

size_t pf_svg_gap_note(const pf_trace *t, char *buf, size_t cap)
{
    if (cap == 0)
        return 0;
    buf[0] = '\0';
    if (t->meta.ngaps == 0)
        return 0;
    char g[256], more[32] = "";
    pf_trace_gap_describe(t, 0, g, sizeof g);
    if (t->meta.ngaps > 1)
        snprintf(more, sizeof more, " (and %u more)", t->meta.ngaps - 1);
    snprintf(buf, cap, "Not recorded: %s%s", g, more);
    return strlen(buf);
}

const char *pf_svg_trace_subtitle(const pf_trace *t, char *buf, size_t cap)
{
    if (cap == 0)
        return NULL;
    size_t len = 0;
    buf[0] = '\0';
    /* Appends "; " (unless first) and the part; snprintf keeps buf terminated. */
#define PART(...)                                                                        \
    do {                                                                                 \
        if (len > 0 && len < cap)                                                        \
            len += (size_t)snprintf(buf + len, cap - len, "; ");                         \
        if (len < cap)                                                                   \
            len += (size_t)snprintf(buf + len, cap - len, __VA_ARGS__);                  \
    } while (0)
    if (t->meta.origin)         /* another profiler's file, e.g. stacks rebuilt from pstats */
        PART("%s", t->meta.origin);
    if (pf_trace_is_sampled(t)) {
        char smp[200];
        pf_trace_sample_describe(t, smp, sizeof smp);
        PART("Sampled: %s", smp);
    }
    /* wall time goes without saying (and keeps older graphs as they were) */
    if (pf_trace_clock_is_cpu(t))
        PART("Times: %s", pf_trace_clock_words(t));
    if (t->view == PF_VIEW_ASYNC)
        PART("Async view: tasks under the code that created them");
    if (t->nprocesses > 1) {
        uint32_t ended_badly = 0;
        for (uint32_t p = 0; p < t->nprocesses; p++)
            ended_badly += (t->processes[p].flags & (PF_PROC_KILLED | PF_PROC_CUT_SHORT)) != 0;
        if (ended_badly)
            PART("%u processes (%u killed or cut short)", t->nprocesses, ended_badly);
        else
            PART("%u processes", t->nprocesses);
    }
    if (t->meta.exit_signal != 0 || (t->meta.flags & PF_FLAG_CUT_SHORT)) {
        char how[160];
        pf_trace_describe_exit(t, PF_NONE, how, sizeof how);
        PART("program ended: %s", how);
    }
    if (t->meta.ngaps) {
        char gap[sizeof "Not recorded: " + 256 + 32];
        pf_svg_gap_note(t, gap, sizeof gap);
        PART("%s", gap);
    }
#undef PART
    return len ? buf : NULL;
}

const char *pf_svg_trace_title(const pf_trace *t, enum pf_metric m, char *buf, size_t cap)
{
    if (cap == 0 || t->meta.argc == 0 || t->meta.argv[0] == NULL || t->meta.argv[0][0] == '\0')
        return NULL;
    /* the program: its script's file name, or the module of `python -m` */
    const char *prog = t->meta.argv[0];
    if (strcmp(prog, "-m") == 0 && t->meta.argc > 1)
        prog = t->meta.argv[1];
    else if (strcmp(prog, "-c") == 0)
        prog = "python3 -c";
    else if (strrchr(prog, '/') != NULL && strrchr(prog, '/')[1] != '\0')
        prog = strrchr(prog, '/') + 1;
    const char *what;
    switch (m) {
    case PF_METRIC_CALLS: what = "calls"; break;
    case PF_METRIC_ALLOC_BYTES: what = "bytes allocated"; break;
    case PF_METRIC_ALLOC_COUNT: what = "allocations"; break;
    case PF_METRIC_PEAK_BYTES: what = "memory at the peak"; break;
    case PF_METRIC_EXIT_BYTES: what = "memory at exit"; break;
    default: what = pf_trace_clock_words(t); break;
    }
    snprintf(buf, cap, "%s: %s", prog, what);
    return buf;
}

/* The default subtitle of a trace's flame graph for a metric other than time. */
static const char *metric_subtitle(enum pf_metric m)
{
    switch (m) {
    case PF_METRIC_CALLS: return "Width: calls";
    case PF_METRIC_ALLOC_BYTES: return "Width: bytes allocated by each function's own code";
    case PF_METRIC_ALLOC_COUNT: return "Width: blocks allocated by each function's own code";
    case PF_METRIC_PEAK_BYTES: return "Width: bytes live at the run's memory peak";
    case PF_METRIC_EXIT_BYTES: return "Width: bytes still live at exit";
    default: return NULL;
    }
}

void pf_svg_opts_for_metric(pf_svg_opts *o, enum pf_metric metric, int keep_palette,
                            int keep_countname)
{
    switch (metric) {
    case PF_METRIC_CALLS:
        o->unit = PF_SVG_UNIT_COUNT;
        if (!keep_countname)
            o->countname = "calls";
        break;
    case PF_METRIC_ALLOC_COUNT:
        o->unit = PF_SVG_UNIT_COUNT;
        if (!keep_countname)
            o->countname = "allocations";
        break;
    case PF_METRIC_ALLOC_BYTES:
    case PF_METRIC_PEAK_BYTES:
    case PF_METRIC_EXIT_BYTES:
        o->unit = PF_SVG_UNIT_BYTES;
        break;
    default:
        o->unit = PF_SVG_UNIT_US;
    }
    if (!keep_palette)
        o->palette = o->unit == PF_SVG_UNIT_BYTES || metric == PF_METRIC_ALLOC_COUNT
                   ? PF_PAL_MEM : PF_PAL_PYTHON;
    if (o->subtitle == NULL)       /* say what a frame's width means, unless told */
        o->subtitle = metric_subtitle(metric);
}
