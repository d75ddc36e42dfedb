/* html_diff.c: the per-line HTML report of `pyflame-c diff` (see html_diff.h).
 * Program data reaches the page only through pf_html_escape; numbers through
 * formats/units.c.  The same comparison always gives the same bytes. */
#include "render/html_diff.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "formats/alloc.h"
#include "formats/textdiff.h"
#include "formats/units.h"
#include "render/html_escape.h"

static const char report_css[] = {
#include "report.css.inc"
};

static const char diff_css[] =
    "table.diff{border-collapse:collapse;width:100%;font-size:12.5px;margin:8px 0 24px}"
    "table.diff td,table.diff th{padding:1px 6px;border-bottom:1px solid var(--line);"
    "white-space:pre;vertical-align:top}"
    "table.diff td.src{font-family:ui-monospace,Menlo,Consolas,monospace;white-space:pre-wrap;"
    "word-break:break-all;width:40%}"
    "table.diff td.n{text-align:right;color:var(--muted)}td.v{text-align:right}"
    "tr.del td.b,tr.chg td.b{background:rgba(255,80,80,.13)}"
    "tr.ins td.a,tr.chg td.a{background:rgba(60,180,90,.15)}"
    "td.up{color:#cf222e;font-weight:600}td.down{color:#0969da;font-weight:600}"
    "table.list td,table.list th{padding:2px 8px;text-align:right}"
    "table.list td.t,table.list th.t{text-align:left}"
    ".st{font-size:11px;padding:0 5px;border-radius:3px;background:var(--surface2)}"
    ".warn{background:var(--warn-bg);color:var(--warn-fg);padding:6px 10px}"
    "section.fn{margin:18px 0}section.fn h3{margin:4px 0;font-size:15px}";

void pf_html_diff_opts_init(pf_html_diff_opts *o)
{
    memset(o, 0, sizeof *o);
    o->max_funcs = 300;
    o->min_time_ns = 10e6;
}

static const char *fmt(char *b, size_t cap, int unit, double v)
{
    if (unit == PF_DM_UNIT_NS)
        return pf_units_ns(b, cap, pf_units_u64(fabs(v)));
    if (unit == PF_DM_UNIT_BYTES)
        return pf_units_bytes(b, cap, pf_units_u64(fabs(v)), 0);
    return pf_units_number(b, cap, fabs(v));
}

static void change_td(FILE *out, int unit, double b, double n)
{
    char v[PF_UNITS_BUFSZ];
    double dl = n - b;
    if (dl == 0) {
        fputs("<td class=\"v muted\">0</td>", out);
        return;
    }
    fprintf(out, "<td class=\"v %s\">%s%s", dl > 0 ? "up" : "down", dl > 0 ? "+" : "-",
            fmt(v, sizeof v, unit, dl));
    double r = pf_diff_ratio(b, n);
    if (isinf(r))
        fputs(" (new)</td>", out);
    else
        fprintf(out, " (%+.1f%%)</td>", 100 * r);
}

/* One row of a before/after table: the label, both values and the change. */
static void value_row(FILE *out, const char *label, int unit, double before, double after)
{
    char a[PF_UNITS_BUFSZ], b[PF_UNITS_BUFSZ];
    fprintf(out, "<tr><td class=\"t\">%s</td><td>%s</td><td>%s</td>", label,
            fmt(a, sizeof a, unit, before), fmt(b, sizeof b, unit, after));
    change_td(out, unit, before, after);
    fputs("</tr>\n", out);
}

/* Metrics shown per function and line, in order, among those the runs share. */
static const int shown[] = { PF_DM_CALLS, PF_DM_ALLOC_BYTES, PF_DM_PEAK_BYTES, PF_DM_TIME,
                             PF_DM_SELF_TIME, PF_DM_SAMPLES, PF_DM_SELF_SAMPLES };
#define NSHOWN (sizeof shown / sizeof shown[0])
static const int line_shown[] = { PF_DM_CALLS, PF_DM_TIME, PF_DM_ALLOC_BYTES };
#define NLSHOWN (sizeof line_shown / sizeof line_shown[0])

static const char *line_word(int m)
{
    return m == PF_DM_CALLS ? "hits" : m == PF_DM_TIME ? "time" : "alloc";
}

/* Does f count as changed?  Status, a metric beyond the noise, or an edited line. */
static int changed(const pf_diff *d, const pf_diff_func *f, double min_time_ns)
{
    if (f->status != PF_DIFF_BOTH)
        return 1;
    for (int m = 0; m < PF_DM_COUNT; m++) {
        if (!d->has[m])
            continue;
        double dl = fabs(f->v[1][m] - f->v[0][m]);
        if (dl > 0 && !(pf_dm_unit((enum pf_dm)m) == PF_DM_UNIT_NS && dl <= min_time_ns))
            return 1;
    }
    for (uint32_t i = f->first_line_row; i < f->first_line_row + f->nline_rows; i++)
        if (d->lines[i].kind != PF_TD_EQUAL)
            return 1;
    return 0;
}

static const pf_diff *sort_d;
static int cmp_change(const void *a, const void *b)
{
    const pf_diff_func *x = &sort_d->funcs[*(const uint32_t *)a], *y = &sort_d->funcs[*(const uint32_t *)b];
    int m = sort_d->has[PF_DM_CALLS] ? PF_DM_TIME : PF_DM_SAMPLES;
    double dx = fabs(x->v[1][m] - x->v[0][m]), dy = fabs(y->v[1][m] - y->v[0][m]);
    if (sort_d->has[PF_DM_CALLS]) {
        double cx = fabs(x->v[1][PF_DM_CALLS] - x->v[0][PF_DM_CALLS]);
        double cy = fabs(y->v[1][PF_DM_CALLS] - y->v[0][PF_DM_CALLS]);
        if ((cx > 0) != (cy > 0))
            return cx > 0 ? -1 : 1;   /* deterministic changes first */
    }
    if (dx != dy)
        return dx > dy ? -1 : 1;
    return (*(const uint32_t *)a > *(const uint32_t *)b) - (*(const uint32_t *)a < *(const uint32_t *)b);
}

static void func_name(FILE *out, const pf_diff *d, const pf_diff_func *f)
{
    size_t n;
    const char *s = pf_diff_str(d, f->name, &n);
    pf_html_escape(out, s, n);
}

static void func_loc(FILE *out, const pf_diff *d, const pf_diff_func *f)
{
    if (f->native) {
        fputs("<span class=\"muted\">built-in</span>", out);
        return;
    }
    size_t n;
    const char *s = pf_diff_str(d, f->file, &n);
    pf_html_escape(out, s, n);
    if (f->line[1])
        fprintf(out, ":%u", f->line[1]);
    if (f->line[0] && f->line[0] != f->line[1])
        fprintf(out, " <span class=\"muted\">(BASE: %s%s%u)</span>", "", f->line[1] ? "line " : "line ",
                f->line[0]);
    if (f->base_file != f->file) {
        fputs(" <span class=\"muted\">(BASE file: ", out);
        s = pf_diff_str(d, f->base_file, &n);
        pf_html_escape(out, s, n);
        fputs(")</span>", out);
    }
}

static const char *const status_words[] = { "changed", "new", "vanished" };

/* The source lines of function f on side s: lines[k] is line first + k. */
struct src {
    pf_td_line *l;
    uint32_t n, first;
};

static void src_load(const pf_diff *d, uint32_t f, int s, struct src *x)
{
    const char *text;
    size_t len;
    pf_error e;
    x->l = NULL;
    x->n = 0;
    x->first = 0;
    if (pf_diff_func_source(d, f, s, &text, &len, &x->first) == 0)
        pf_td_split(text, len, &x->l, &x->n, &e);
}

static void src_td(FILE *out, const struct src *x, uint32_t line, const char *cls)
{
    fprintf(out, "<td class=\"src %s\">", cls);
    if (line && x->l && line >= x->first && line - x->first < x->n) {
        const pf_td_line *l = &x->l[line - x->first];
        size_t n = l->n;
        if (n && l->p[n - 1] == '\r')
            n--;
        pf_html_escape(out, l->p, n);
    }
    fputs("</td>", out);
}

static void function_section(FILE *out, const pf_diff *d, uint32_t fi)
{
    const pf_diff_func *f = &d->funcs[fi];
    fprintf(out, "<section class=\"fn\" id=\"fn-%u\"><h3>", fi);
    func_name(out, d, f);
    fprintf(out, " <span class=\"st\">%s</span></h3><div class=\"muted\">", status_words[f->status]);
    func_loc(out, d, f);
    fputs("</div>\n<table class=\"list\"><thead><tr><th class=\"t\">metric</th><th>BASE</th>"
          "<th>NEW</th><th>change</th></tr></thead><tbody>\n", out);
    char a[PF_UNITS_BUFSZ];
    for (size_t k = 0; k < NSHOWN; k++) {
        int m = shown[k];
        if (!d->has[m])
            continue;
        value_row(out, pf_dm_words[m], pf_dm_unit((enum pf_dm)m), f->v[0][m], f->v[1][m]);
    }
    fputs("</tbody></table>\n", out);
    if (f->nline_rows == 0) {
        fputs("<p class=\"muted\">No line data (record with <code>collect --lines</code>).</p>"
              "</section>\n", out);
        return;
    }
    struct src sa, sb;
    src_load(d, fi, 0, &sa);
    src_load(d, fi, 1, &sb);
    if (!sa.l && !sb.l)
        fputs("<p class=\"muted\">The traces embed no source for this function: lines are "
              "matched by their offset from its first line.</p>\n", out);
    fputs("<table class=\"diff\"><thead><tr><th>BASE</th>", out);
    for (size_t k = 0; k < NLSHOWN; k++)
        if (d->has[line_shown[k]])
            fprintf(out, "<th>%s</th>", line_word(line_shown[k]));
    fputs("<th class=\"t\">BASE source</th><th>NEW</th>", out);
    for (size_t k = 0; k < NLSHOWN; k++)
        if (d->has[line_shown[k]])
            fprintf(out, "<th>%s</th>", line_word(line_shown[k]));
    fputs("<th class=\"t\">NEW source</th><th>change</th></tr></thead><tbody>\n", out);
    static const char *const row_cls[] = { "eq", "chg", "del", "ins" };
    for (uint32_t i = f->first_line_row; i < f->first_line_row + f->nline_rows; i++) {
        const pf_diff_line *l = &d->lines[i];
        fprintf(out, "<tr class=\"%s\"", row_cls[l->kind & 3]);
        if (l->line[1])
            fprintf(out, " id=\"fn-%u-L%u\"", fi, l->line[1]);
        fputs(">", out);
        for (int s = 0; s < 2; s++) {
            if (l->line[s])
                fprintf(out, "<td class=\"n %s\">%u</td>", s ? "a" : "b", l->line[s]);
            else
                fprintf(out, "<td class=\"n %s\"></td>", s ? "a" : "b");
            for (size_t k = 0; k < NLSHOWN; k++) {
                int m = line_shown[k];
                if (!d->has[m])
                    continue;
                if (l->v[s][m] != 0)
                    fprintf(out, "<td class=\"v %s\">%s</td>", s ? "a" : "b",
                            fmt(a, sizeof a, pf_dm_unit((enum pf_dm)m), l->v[s][m]));
                else
                    fprintf(out, "<td class=\"v %s\"></td>", s ? "a" : "b");
            }
            src_td(out, s ? &sb : &sa, l->line[s], s ? "a" : "b");
        }
        /* the change of the first metric that changed on this line */
        int done = 0;
        for (size_t k = 0; k < NLSHOWN && !done; k++) {
            int m = line_shown[k];
            if (d->has[m] && l->v[1][m] != l->v[0][m]) {
                change_td(out, pf_dm_unit((enum pf_dm)m), l->v[0][m], l->v[1][m]);
                done = 1;
            }
        }
        if (!done)
            fputs("<td></td>", out);
        fputs("</tr>\n", out);
    }
    fputs("</tbody></table></section>\n", out);
    pf_free(sa.l);
    pf_free(sb.l);
}

int pf_html_diff_render(const pf_diff *d, const pf_html_diff_opts *o, FILE *out, pf_error *err)
{
    uint32_t *ord = pf_malloc((d->nfuncs + 1) * sizeof *ord), n = 0;
    if (ord == NULL)
        return pf_error_set(err, PF_ENOMEM, NULL);
    for (uint32_t i = 0; i < d->nfuncs; i++)
        if (changed(d, &d->funcs[i], o->min_time_ns))
            ord[n++] = i;
    sort_d = d;
    qsort(ord, n, sizeof *ord, cmp_change);
    const char *bl = o->base_label ? o->base_label : "BASE", *nl = o->new_label ? o->new_label : "NEW";
    fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
          "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
          "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
          "style-src 'unsafe-inline'\">\n<meta name=\"color-scheme\" content=\"light dark\">\n"
          "<meta name=\"generator\" content=\"pyflame-c " PF_VERSION "\">\n<title>", out);
    if (o->title)
        pf_html_escape_cstr(out, o->title);
    else {
        fputs("pyflame-c diff: ", out);
        pf_html_escape_cstr(out, bl);
        fputs(" \xe2\x86\x92 ", out);
        pf_html_escape_cstr(out, nl);
    }
    fputs("</title>\n<style>\n", out);
    fputs(report_css, out);
    fputs(diff_css, out);
    fputs("</style>\n</head>\n<body>\n<header class=\"top\"><div class=\"wrap\"><h1>", out);
    if (o->title)
        pf_html_escape_cstr(out, o->title);
    else {
        fputs("pyflame-c diff: ", out);
        pf_html_escape_cstr(out, bl);
        fputs(" \xe2\x86\x92 ", out);
        pf_html_escape_cstr(out, nl);
    }
    fputs("</h1></div></header>\n<main class=\"wrap\">\n", out);
    if (d->forced[0]) {
        fputs("<p class=\"warn\" id=\"forced\">Compared with --force; these runs are not "
              "comparable: ", out);
        pf_html_escape_cstr(out, d->forced);
        fputs("</p>\n", out);
    }
    if (d->warning[0]) {
        fputs("<p class=\"warn\">", out);
        pf_html_escape_cstr(out, d->warning);
        fputs("</p>\n", out);
    }
    fprintf(out, "<p class=\"muted\">%u BASE run%s, %u NEW run%s%s. ", d->nruns[0],
            d->nruns[0] == 1 ? "" : "s", d->nruns[1], d->nruns[1] == 1 ? "" : "s",
            d->nruns[0] > 1 || d->nruns[1] > 1 ? " (medians)" : "");
    if (d->traces == 1) {
        fputs("Python ", out);
        pf_html_escape_cstr(out, d->python[1]);
        fputs(", ", out);
        pf_html_escape_cstr(out, d->clock[1]);
        fputs(".", out);
    }
    fputs("</p>\n<h2>Totals</h2>\n<table class=\"list\" id=\"totals\"><thead><tr><th class=\"t\"></th>"
          "<th>BASE</th><th>NEW</th><th>change</th></tr></thead><tbody>\n", out);
    for (int t = 0; t < PF_DT_COUNT; t++) {
        if (!d->has_total[t])
            continue;
        value_row(out, pf_dt_words[t], pf_dt_unit((enum pf_dt)t), d->total[0][t], d->total[1][t]);
    }
    fputs("</tbody></table>\n", out);
    if (d->nfiles) {
        fputs("<h2>Files</h2>\n<ul id=\"files\">\n", out);
        for (uint32_t i = 0; i < d->nfiles; i++) {
            const pf_diff_file *f = &d->files[i];
            size_t len;
            const char *s;
            fputs("<li>", out);
            if (f->path[0] != PF_NONE && f->path[1] != PF_NONE) {
                fputs("renamed or moved: <code>", out);
                s = pf_diff_str(d, f->path[0], &len);
                pf_html_escape(out, s, len);
                fputs("</code> \xe2\x86\x92 <code>", out);
                s = pf_diff_str(d, f->path[1], &len);
                pf_html_escape(out, s, len);
                fprintf(out, "</code> (%u functions matched)", f->nfuncs);
            } else {
                fputs(f->path[1] == PF_NONE ? "only in BASE: <code>" : "only in NEW: <code>", out);
                s = pf_diff_str(d, f->path[1] == PF_NONE ? f->path[0] : f->path[1], &len);
                pf_html_escape(out, s, len);
                fprintf(out, "</code> (%u functions)", f->nfuncs);
            }
            fputs("</li>\n", out);
        }
        fputs("</ul>\n", out);
    }
    fprintf(out, "<h2>Changed functions (%u)</h2>\n", n);
    fputs("<table class=\"list\" id=\"overview\"><thead><tr><th class=\"t\">Function</th>"
          "<th class=\"t\">Location</th><th class=\"t\"></th>", out);
    for (size_t k = 0; k < NSHOWN; k++)
        if (d->has[shown[k]])
            fprintf(out, "<th>%s</th>", pf_dm_words[shown[k]]);
    fputs("</tr></thead><tbody>\n", out);
    uint32_t sections = n < o->max_funcs ? n : o->max_funcs;
    for (uint32_t k = 0; k < n; k++) {
        const pf_diff_func *f = &d->funcs[ord[k]];
        fputs("<tr><td class=\"t\">", out);
        if (k < sections)
            fprintf(out, "<a href=\"#fn-%u\">", ord[k]);
        func_name(out, d, f);
        if (k < sections)
            fputs("</a>", out);
        fputs("</td><td class=\"t\">", out);
        func_loc(out, d, f);
        fprintf(out, "</td><td class=\"t\"><span class=\"st\">%s</span></td>", status_words[f->status]);
        for (size_t j = 0; j < NSHOWN; j++) {
            int m = shown[j];
            if (d->has[m])
                change_td(out, pf_dm_unit((enum pf_dm)m), f->v[0][m], f->v[1][m]);
        }
        fputs("</tr>\n", out);
    }
    fputs("</tbody></table>\n", out);
    if (n > sections)
        fprintf(out, "<p class=\"note\">The %u functions that changed least have no section "
                "below.</p>\n", n - sections);
    for (uint32_t k = 0; k < sections; k++)
        function_section(out, d, ord[k]);
    fputs("</main>\n</body>\n</html>\n", out);
    pf_free(ord);
    if (ferror(out))
        return pf_error_set(err, PF_EIO, "write error: %s", strerror(errno ? errno : EIO));
    return 0;
}
