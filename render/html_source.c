/* html_source.c: one file's annotated source in the HTML report (see html_source.h).
 *
 * Rows are written in line order in one pass: a cursor walks the file's merged line
 * statistics and another its functions (sorted by first line), so each row costs O(1).
 * A line is "kept" when it has data, is a function's first line, or lies within the
 * context distance of one; a run of at least FOLD_MIN other lines goes into a hidden
 * <tbody> behind a button (several <tbody> per table are valid HTML, and keep the
 * columns aligned).  Folded rows are still written, so every line has its anchor and
 * the highlighter sees every line in order.
 */
#include "html_source.h"

#include <string.h>

#include "formats/alloc.h"
#include "html_escape.h"
#include "formats/units.h"
#include "html_highlight.h"

#define FOLD_MIN 4   /* shorter cold stretches are shown: a fold button would be as tall */

typedef struct view {
    FILE *out;
    const pf_html_model *m;
    const pf_trace *t;
    const pf_html_file *f;
    uint32_t fi;
    const pf_source *src;       /* NULL when not embedded */
    size_t *off, *len;          /* source lines [1..nsrc] at index line-1 */
    uint32_t nsrc;
    int lines_mode;             /* per-line columns */
    int mem;                    /* per-line memory columns (MEMORY and LINES data) */
    uint32_t nnum;              /* numeric columns between line number and source */
    uint32_t ncols;             /* all columns */
    uint32_t di, hi, ai;        /* cursors: f->lines, f->funcs (headers, anchors) */
    pf_html_hl hl;
} view;

void pf_html_func_name(FILE *out, const pf_trace *t, uint32_t code)
{
    pf_html_escape_cstr(out, pf_trace_str(t, t->codes[code].qualname));
}

/* Splits text into lines at \n, \r\n and \r (as Python's tokenizer counts them). */
static int split_lines(view *v, pf_error *err)
{
    const char *s = v->src->text;
    size_t n = v->src->len, count = 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] == '\n' || (s[i] == '\r' && (i + 1 == n || s[i + 1] != '\n')))
            count++;
    if (n > 0 && s[n - 1] != '\n' && s[n - 1] != '\r')
        count++;                                /* last line without a newline */
    if (count > UINT32_MAX - 1)
        count = UINT32_MAX - 1;
    v->off = pf_malloc((count ? count : 1) * sizeof *v->off);
    v->len = pf_malloc((count ? count : 1) * sizeof *v->len);
    if (!v->off || !v->len)
        return pf_error_set(err, PF_ENOMEM, "out of memory while rendering source");
    size_t start = 0;
    uint32_t k = 0;
    for (size_t i = 0; i < n && k < count; i++) {
        if (s[i] == '\n' || s[i] == '\r') {
            v->off[k] = start;
            v->len[k++] = i - start;
            if (s[i] == '\r' && i + 1 < n && s[i + 1] == '\n')
                i++;
            start = i + 1;
        }
    }
    if (k < count) {
        v->off[k] = start;
        v->len[k++] = n - start;
    }
    v->nsrc = k;
    return 0;
}

static void line_id(const view *v, uint32_t line)
{
    if (v->src)
        fprintf(v->out, "L%u-%u", (unsigned)v->f->source, (unsigned)line);
    else
        fprintf(v->out, "F%u-%u", (unsigned)v->fi, (unsigned)line);
}

/* Heat class from the line's share of the run's self time. */
static int heat(uint64_t self_ns, uint64_t total)
{
    if (self_ns == 0 || total == 0)
        return 0;
    double p = (double)self_ns / (double)total;
    return p >= 0.2 ? 5 : p >= 0.05 ? 4 : p >= 0.01 ? 3 : p >= 0.001 ? 2 : 1;
}

static int is_anonymous(const pf_trace *t, uint32_t code)
{
    const char *name = pf_trace_str(t, t->codes[code].name);
    return name[0] == '<' && strcmp(name, "<module>") != 0;
}

static uint32_t func_line(const view *v, uint32_t i)
{
    return v->t->codes[v->m->funcs[v->f->funcs[i]].code].first_line;
}

/* Header rows for the functions starting at or before `line`.  With source, anonymous
 * codes (lambdas, comprehensions) starting exactly here get no header, which would
 * clutter the function around them: their anchors go into the line-number cell
 * (anonymous_anchors). */
static void header_rows(view *v, uint32_t line)
{
    FILE *out = v->out;
    char a[48], b[48], c[48], d[48];
    uint64_t total = v->m->total_ns;
    while (v->hi < v->f->nfuncs) {
        const pf_html_func *fn = &v->m->funcs[v->f->funcs[v->hi]];
        if (func_line(v, v->hi) > line)
            break;
        v->hi++;
        /* With source every kept line has a row, so anonymous codes anchor in its cell. */
        if (v->src && line > 0 && is_anonymous(v->t, fn->code) && func_line(v, v->hi - 1) == line)
            continue;
        /* Without source no row shows the first line: the header carries its number. */
        fprintf(out, "<tr class=\"fn\" id=\"code-%u\"><td>", (unsigned)fn->code);
        if (!v->src)
            fprintf(out, "%u", (unsigned)func_line(v, v->hi - 1));
        fprintf(out, "</td><td colspan=\"%u\"><span class=\"fname\">", (unsigned)(v->ncols - 1));
        pf_html_func_name(out, v->t, fn->code);
        char e[48];
        fprintf(out, "</span> <span class=\"fstat\">%s call%s \xC2\xB7 self %s (%s) \xC2\xB7 cumulative %s (%s)",
                pf_units_count(a, sizeof a, fn->calls), fn->calls == 1 ? "" : "s",
                pf_units_ns(b, sizeof b, fn->self_ns), pf_units_pct(c, sizeof c, fn->self_ns, total),
                pf_units_ns(d, sizeof d, fn->cum_ns), pf_units_pct(e, sizeof e, fn->cum_ns, total));
        if (v->m->has_memory)
            fprintf(out, " \xC2\xB7 allocated %s", pf_units_bytes(a, sizeof a, fn->alloc_bytes, 0));
        fputs("</span></td></tr>\n", out);
    }
}

static void anonymous_anchors(view *v, uint32_t line)
{
    if (!v->src)
        return;                                     /* they got header rows instead */
    while (v->ai < v->f->nfuncs && func_line(v, v->ai) < line)
        v->ai++;
    for (uint32_t i = v->ai; i < v->f->nfuncs && func_line(v, i) == line; i++) {
        uint32_t code = v->m->funcs[v->f->funcs[i]].code;
        if (is_anonymous(v->t, code))
            fprintf(v->out, "<span id=\"code-%u\"></span>", (unsigned)code);
    }
}

/* Zero bytes are the common case; they are muted so the real allocations stand out. */
static void bytes_cell(FILE *out, uint64_t n)
{
    char a[48];
    fprintf(out, n ? "<td>%s</td>" : "<td class=\"z\">%s</td>", pf_units_bytes(a, sizeof a, n, 0));
}

static void row(view *v, uint32_t line)
{
    FILE *out = v->out;
    char a[48];
    header_rows(v, line);
    while (v->di < v->f->nlines && v->f->lines[v->di].line < line)
        v->di++;
    const pf_html_line *d = NULL;
    if (v->di < v->f->nlines && v->f->lines[v->di].line == line)
        d = &v->f->lines[v->di];
    uint64_t total = v->m->total_ns;
    int h = d ? heat(d->self_ns, total) : 0;

    fputs("<tr id=\"", out);
    line_id(v, line);
    if (h)
        fprintf(out, "\" class=\"h%d", h);
    else if (line > v->nsrc && v->src)
        fputs("\" class=\"past", out);
    /* The line number is a plain cell: report.js turns a click on it into a permalink,
     * which saves an <a> per line in files of thousands of lines. */
    fputs("\"><td>", out);
    anonymous_anchors(v, line);
    fprintf(out, "%u</td>", (unsigned)line);

    if (v->nnum > 0) {
        if (d == NULL) {
            fprintf(out, "<td colspan=\"%u\"></td>", (unsigned)v->nnum);
        } else {
            fprintf(out, "<td>%s</td>", pf_units_count(a, sizeof a, d->hits));
            fprintf(out, "<td>%s</td>", pf_units_ns(a, sizeof a, d->total_ns));
            fprintf(out, "<td>%s</td>", pf_units_pct(a, sizeof a, d->total_ns, total));
            fprintf(out, "<td>%s</td>", pf_units_ns(a, sizeof a, d->self_ns));
            fprintf(out, "<td>%s</td>", d->hits ? pf_units_ns(a, sizeof a, d->total_ns / d->hits) : "");
            double wt = total ? 100.0 * (double)d->total_ns / (double)total : 0;
            double ws = total ? 100.0 * (double)d->self_ns / (double)total : 0;
            fprintf(out, "<td class=\"bar\"><span><i style=\"width:%.1f%%\"></i><b style=\"width:%.1f%%\"></b></span></td>",
                    wt > 100 ? 100.0 : wt, ws > 100 ? 100.0 : ws);
            if (v->mem) {
                bytes_cell(out, d->mem.alloc_bytes);
                bytes_cell(out, d->mem.peak_bytes);
                bytes_cell(out, d->mem.exit_bytes);
            }
        }
    }
    if (v->src) {
        fputs("<td class=\"sc\">", out);
        if (line >= 1 && line <= v->nsrc)
            pf_html_highlight_line(out, v->src->text + v->off[line - 1], v->len[line - 1], &v->hl);
        fputs("</td>", out);
    }
    fputs("</tr>\n", out);
}

/* Marks [lo, hi] (clamped to 1..n) in keep. */
static void mark(uint8_t *keep, uint32_t n, uint64_t lo, uint64_t hi)
{
    if (lo < 1)
        lo = 1;
    if (hi > n)
        hi = n;
    for (uint64_t l = lo; l <= hi; l++)
        keep[l] = 1;
}

static void thead(view *v)
{
    FILE *out = v->out;
    fputs("<thead><tr><th>Line</th>", out);
    if (v->lines_mode) {
        fputs("<th title=\"Times the line ran\">Hits</th>"
              "<th title=\"Time on the line, including calls it made\">Time</th>"
              "<th title=\"Time including calls, as a share of the profiled time\">Time %</th>"
              "<th title=\"Time on the line itself, without the calls it made\">Self</th>"
              "<th title=\"Time per hit\">Per hit</th>"
              "<th class=\"bar\" title=\"Time (light) and self time (dark) as a share of the run\">Heat</th>",
              out);
        if (v->mem)
            fputs("<th title=\"Bytes allocated while the line ran (including its calls)\">Allocated</th>"
                  "<th title=\"Bytes allocated by the line still live at the run's peak\">At peak</th>"
                  "<th title=\"Bytes allocated by the line still live when recording stopped\">At exit</th>",
                  out);
    }
    if (v->src)
        fputs("<th class=\"sc\">Source</th>", out);
    fputs("</tr></thead>\n", out);
}

static void section_head(view *v, const pf_html_opts *opts)
{
    FILE *out = v->out;
    char a[48], b[48];
    const char *path = pf_trace_str(v->t, v->f->path);
    fprintf(out, "<details class=\"file\" id=\"f%u\"%s><summary><span class=\"path\" title=\"",
            (unsigned)v->fi, v->f->open ? " open" : "");
    pf_html_escape_cstr(out, path);
    fputs("\">", out);
    pf_html_escape_cstr(out, pf_html_short_path(v->t, path, opts->full_paths));
    fprintf(out, "</span> <span class=\"fstat\">self %s (%s) \xC2\xB7 %u function%s",
            pf_units_ns(a, sizeof a, v->f->self_ns),
            pf_units_pct(b, sizeof b, v->f->self_ns, v->m->total_ns),
            (unsigned)v->f->nfuncs, v->f->nfuncs == 1 ? "" : "s");
    if (v->m->has_memory)
        fprintf(out, " \xC2\xB7 allocated %s", pf_units_bytes(a, sizeof a, v->f->alloc_bytes, 0));
    if (v->src)
        fprintf(out, " \xC2\xB7 %u lines", (unsigned)v->nsrc);
    fputs("</span>", out);
    if (v->src)
        fputs("<button type=\"button\" class=\"unfold-all\">Expand all</button>", out);
    fputs("</summary>\n", out);
    if (!v->src)
        fputs("<p class=\"note\">The source of this file is not embedded in the trace; "
              "only the lines with data are listed.</p>\n", out);
}

int pf_html_source_render(FILE *out, const pf_html_model *m, uint32_t fi,
                          const pf_html_opts *opts, pf_error *err)
{
    view v = { 0 };
    uint8_t *keep = NULL;
    int rc = -1;
    v.out = out;
    v.m = m;
    v.t = m->trace;
    v.f = &m->files[fi];
    v.fi = fi;
    v.src = v.f->source != PF_NONE ? &v.t->sources[v.f->source] : NULL;
    v.lines_mode = m->has_lines;
    v.mem = m->has_memory && m->has_lines;
    v.nnum = v.lines_mode ? 6u + (v.mem ? 3u : 0u) : 0u;
    v.ncols = 1 + v.nnum + (v.src ? 1 : 0);
    if (v.ncols < 2)
        v.ncols = 2;                                    /* header rows need a second cell */
    if (v.src && split_lines(&v, err) < 0)
        goto done;

    uint32_t n = v.nsrc;
    keep = pf_calloc((size_t)n + 2, 1);
    if (!keep) {
        pf_error_set(err, PF_ENOMEM, "out of memory while rendering source");
        goto done;
    }
    uint64_t ctx = opts->context;
    for (uint32_t i = 0; i < v.f->nlines; i++) {
        uint64_t ln = v.f->lines[i].line;
        mark(keep, n, ln > ctx ? ln - ctx : 1, ln + ctx);
    }
    for (uint32_t i = 0; i < v.f->nfuncs; i++) {
        uint64_t fl = v.t->codes[m->funcs[v.f->funcs[i]].code].first_line;
        /* Without line data the function's signature and first lines are the content. */
        if (v.lines_mode)
            mark(keep, n, fl, fl);
        else
            mark(keep, n, fl > ctx ? fl - ctx : 1, fl + 2 * ctx);
    }

    section_head(&v, opts);
    fputs(v.src ? "<div class=\"scroll\"><table class=\"code\">"
                : "<div class=\"scroll\"><table class=\"code nosrc\">", out);
    thead(&v);
    fputs("<tbody>\n", out);
    header_rows(&v, 0);                                 /* functions with no first line */
    /* Lines of the embedded source, with cold stretches folded. */
    uint32_t l = 1;
    while (l <= n) {
        if (keep[l]) {
            row(&v, l++);
            continue;
        }
        uint32_t e = l;
        while (e <= n && !keep[e])
            e++;
        if (e - l < FOLD_MIN) {
            while (l < e)
                row(&v, l++);
            continue;
        }
        fprintf(out, "</tbody><tbody class=\"fold\"><tr><td colspan=\"%u\">"
                "<button type=\"button\" class=\"unfold\">\xE2\x8B\xAF %u lines without data "
                "(%u\xE2\x80\x93%u)</button></td></tr></tbody>\n<tbody class=\"cold\" hidden>\n",
                (unsigned)v.ncols, (unsigned)(e - l), (unsigned)l, (unsigned)(e - 1));
        while (l < e)
            row(&v, l++);
        fputs("</tbody><tbody>\n", out);
    }
    /* Lines past the embedded source (or all lines, without source): only those with
     * data or a function start, in order, with a gap marker where lines are skipped.
     * Bounded by the records, whatever line numbers a trace claims. */
    uint32_t last = n, last_row = n;
    for (;;) {
        uint64_t next = UINT64_MAX;
        while (v.di < v.f->nlines && v.f->lines[v.di].line <= last)
            v.di++;
        if (v.di < v.f->nlines)
            next = v.f->lines[v.di].line;
        if (v.hi < v.f->nfuncs) {
            uint64_t fl = v.t->codes[m->funcs[v.f->funcs[v.hi]].code].first_line;
            if (fl < next)
                next = fl;
        }
        if (next == UINT64_MAX)
            break;
        last = (uint32_t)next;
        int has_data = v.di < v.f->nlines && v.f->lines[v.di].line == last;
        if (!v.src && !has_data) {
            header_rows(&v, last);                      /* the header shows the line */
        } else {
            if (last > last_row + 1 && last_row > 0)
                fprintf(out, "<tr class=\"gap\"><td>\xE2\x8B\xAE</td><td colspan=\"%u\"></td></tr>\n",
                        (unsigned)(v.ncols - 1));
            row(&v, last);
            last_row = last;
        }
        if (last == UINT32_MAX)
            break;
    }
    fputs("</tbody></table></div></details>\n", out);
    rc = 0;
done:
    pf_free(keep);
    pf_free(v.off);
    pf_free(v.len);
    return rc;
}
