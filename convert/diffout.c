/* diffout.c: text, JSON and Markdown outputs of `pyflame-c diff`, and its CI gate
 * (see diffout.h).  Every output reads the same model; the ranked tables share one
 * ranking (rank()), so the text, the Markdown and the gate agree on "the worst". */
#include "convert/diffout.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "formats/json.h"
#include "formats/alloc.h"
#include "formats/budget.h"
#include "formats/textdiff.h"
#include "formats/units.h"

void pf_diffout_opts_init(pf_diffout_opts *o)
{
    memset(o, 0, sizeof *o);
    o->base_label = "BASE";
    o->new_label = "NEW";
    o->limit = 10;
    o->min_time_ns = 10e6;
}

/* ---- values ------------------------------------------------------------------------ */

static const char *fmt_val(char *b, size_t cap, int unit, double v)
{
    if (unit == PF_DM_UNIT_NS)
        return pf_units_ns(b, cap, pf_units_u64(fabs(v)));
    if (unit == PF_DM_UNIT_BYTES)
        return pf_units_bytes(b, cap, pf_units_u64(fabs(v)), 0);
    return pf_units_number(b, cap, fabs(v));
}

static const char *fmt_delta(char *b, size_t cap, int unit, double d)
{
    size_t k = 0;
    if (cap > 1 && d != 0)
        b[k++] = d > 0 ? '+' : '-';
    fmt_val(b + k, cap - k, unit, d);
    return b;
}

static const char *fmt_pct(char *b, size_t cap, double base, double now)
{
    double r = pf_diff_ratio(base, now);
    if (isinf(r))
        snprintf(b, cap, "new");
    else if (r == 0)
        snprintf(b, cap, "0%%");
    else if (fabs(r) < 0.001)
        snprintf(b, cap, "%s<0.1%%", r > 0 ? "+" : "-");
    else
        snprintf(b, cap, "%+.1f%%", 100 * r);
    return b;
}

/* ---- the gate ------------------------------------------------------------------------ */

/* Parses an absolute amount for unit: a count, "10ms"/"2s"/"500us"/"100ns", "1M". */
static int parse_amount(const char *s, int unit, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || errno || !(v >= 0) || !isfinite(v))
        return -1;
    if (unit == PF_DM_UNIT_NS) {
        static const struct { const char *suf; double mul; } u[] = {
            { "ns", 1 }, { "us", 1e3 }, { "ms", 1e6 }, { "s", 1e9 }, { "", 1 } };
        for (size_t i = 0; i < sizeof u / sizeof u[0]; i++)
            if (strcmp(end, u[i].suf) == 0) {
                *out = v * u[i].mul;
                return 0;
            }
        return -1;
    }
    if (unit == PF_DM_UNIT_BYTES && *end) {
        uint64_t b;
        if (pf_budget_parse(s, &b) < 0)
            return -1;
        *out = (double)b;
        return 0;
    }
    if (*end)
        return -1;
    *out = v;
    return 0;
}

int pf_gate_parse(const char *spec, pf_gate *g, char *why, size_t cap)
{
    memset(g, 0, sizeof *g);
    snprintf(g->spec, sizeof g->spec, "%s", spec);
    const char *colon = strrchr(spec, ':');
    if (colon == NULL) {
        snprintf(why, cap, "--fail-on wants METRIC:THRESHOLD (e.g. calls:+5%%), not '%s'", spec);
        return -1;
    }
    size_t mn = (size_t)(colon - spec);
    int found = 0, unit = 0;
    for (int m = 0; m < PF_DM_COUNT && !found; m++)
        if (strlen(pf_dm_names[m]) == mn && memcmp(spec, pf_dm_names[m], mn) == 0) {
            g->metric = m;
            unit = pf_dm_unit((enum pf_dm)m);
            found = 1;
        }
    for (int m = 0; m < PF_DT_COUNT && !found; m++)
        if (strlen(pf_dt_names[m]) == mn && memcmp(spec, pf_dt_names[m], mn) == 0) {
            g->metric = m;
            g->total = 1;
            unit = pf_dt_unit((enum pf_dt)m);
            found = 1;
        }
    if (!found) {
        char list[600] = "";
        for (int m = 0; m < PF_DM_COUNT; m++)
            snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", m ? ", " : "",
                     pf_dm_names[m]);
        for (int m = 0; m < PF_DT_COUNT; m++)
            snprintf(list + strlen(list), sizeof list - strlen(list), ", %s", pf_dt_names[m]);
        snprintf(why, cap, "--fail-on: unknown metric '%.*s' (per function: %s)", (int)mn, spec,
                 list);
        return -1;
    }
    const char *t = colon + 1;
    if (*t == '+')
        t++;
    size_t tl = strlen(t);
    if (tl > 0 && t[tl - 1] == '%') {
        char num[64];
        char *end;
        if (tl - 1 >= sizeof num)
            goto bad;
        memcpy(num, t, tl - 1);
        num[tl - 1] = '\0';
        errno = 0;
        double v = strtod(num, &end);
        if (end == num || *end || errno || !(v >= 0) || !isfinite(v))
            goto bad;
        g->threshold = v / 100;
        return 0;
    }
    g->absolute = 1;
    if (*t == '\0' || parse_amount(t, unit, &g->threshold) < 0)
        goto bad;
    return 0;
bad:
    snprintf(why, cap, "--fail-on %.*s wants a growth such as +5%% or an absolute amount "
             "(+100, +10ms, +1M), not '%s'", (int)mn, spec, colon + 1);
    return -1;
}

static int over(const pf_gate *g, int unit, double base, double now, double min_time_ns,
                double *score)
{
    double d = now - base;
    if (!(d > 0))
        return 0;
    if (unit == PF_DM_UNIT_NS && d <= min_time_ns)
        return 0;                 /* within the noise floor */
    if (g->absolute) {
        *score = d;
        return d > g->threshold;
    }
    double r = pf_diff_ratio(base, now);
    *score = r;
    return r > g->threshold;
}

void pf_gate_eval(const pf_diff *d, const pf_gate *g, double min_time_ns, pf_gate_result *r)
{
    memset(r, 0, sizeof *r);
    r->func = PF_NONE;
    if (g->total) {
        if (!d->has_total[g->metric]) {
            r->skipped = 1;
            return;
        }
        double s;
        r->base = d->total[0][g->metric];
        r->now = d->total[1][g->metric];
        r->failed = over(g, pf_dt_unit((enum pf_dt)g->metric), r->base, r->now, min_time_ns, &s);
        return;
    }
    if (!d->has[g->metric]) {
        r->skipped = 1;
        return;
    }
    int unit = pf_dm_unit((enum pf_dm)g->metric);
    double worst = -INFINITY;
    for (uint32_t i = 0; i < d->nfuncs; i++) {
        const pf_diff_func *f = &d->funcs[i];
        if (f->status != PF_DIFF_BOTH)
            continue;
        double s;
        if (over(g, unit, f->v[0][g->metric], f->v[1][g->metric], min_time_ns, &s)) {
            r->over++;
            if (s > worst) {
                worst = s;
                r->func = i;
                r->base = f->v[0][g->metric];
                r->now = f->v[1][g->metric];
            }
        }
    }
    r->failed = r->over > 0;
}

/* ---- ranking ---------------------------------------------------------------------------- */

static const pf_diff *rank_d;
static int rank_m;
static int cmp_delta_desc(const void *a, const void *b)
{
    const pf_diff_func *x = &rank_d->funcs[*(const uint32_t *)a], *y = &rank_d->funcs[*(const uint32_t *)b];
    double dx = x->v[1][rank_m] - x->v[0][rank_m], dy = y->v[1][rank_m] - y->v[0][rank_m];
    if (dx != dy)
        return dx > dy ? -1 : 1;
    return (*(const uint32_t *)a > *(const uint32_t *)b) - (*(const uint32_t *)a < *(const uint32_t *)b);
}

static int cmp_line_delta(const void *a, const void *b)
{
    const pf_diff_line *x = &rank_d->lines[*(const uint32_t *)a], *y = &rank_d->lines[*(const uint32_t *)b];
    double dx = fabs(x->v[1][rank_m] - x->v[0][rank_m]), dy = fabs(y->v[1][rank_m] - y->v[0][rank_m]);
    if (dx != dy)
        return dx > dy ? -1 : 1;
    return (*(const uint32_t *)a > *(const uint32_t *)b) - (*(const uint32_t *)a < *(const uint32_t *)b);
}

static int cmp_value_desc(const void *a, const void *b)
{
    const pf_diff_func *x = &rank_d->funcs[*(const uint32_t *)a], *y = &rank_d->funcs[*(const uint32_t *)b];
    double vx = fmax(x->v[0][rank_m], x->v[1][rank_m]), vy = fmax(y->v[0][rank_m], y->v[1][rank_m]);
    if (vx != vy)
        return vx > vy ? -1 : 1;
    return (*(const uint32_t *)a > *(const uint32_t *)b) - (*(const uint32_t *)a < *(const uint32_t *)b);
}

/* Functions of status st (BOTH: those whose metric m changed, beyond the noise floor
 * for times; sign > 0 grew, < 0 shrank) ranked worst first into out (capacity nfuncs).
 * Returns the count. */
static uint32_t rank(const pf_diff *d, int m, uint32_t st, int sign, double min_time_ns,
                     uint32_t *out)
{
    uint32_t n = 0;
    int unit = pf_dm_unit((enum pf_dm)m);
    for (uint32_t i = 0; i < d->nfuncs; i++) {
        const pf_diff_func *f = &d->funcs[i];
        if (f->status != st)
            continue;
        double delta = f->v[1][m] - f->v[0][m];
        if (st == PF_DIFF_BOTH) {
            if (sign > 0 ? !(delta > 0) : !(delta < 0))
                continue;
            if (unit == PF_DM_UNIT_NS && fabs(delta) <= min_time_ns)
                continue;
        } else if (f->v[0][m] == 0 && f->v[1][m] == 0) {
            continue;
        }
        out[n++] = i;
    }
    rank_d = d;
    rank_m = m;
    qsort(out, n, sizeof *out, st == PF_DIFF_BOTH ? cmp_delta_desc : cmp_value_desc);
    if (st == PF_DIFF_BOTH && sign < 0)
        for (uint32_t a = 0, b = n; a + 1 < b; a++, b--) {
            uint32_t t = out[a];
            out[a] = out[b - 1];
            out[b - 1] = t;
        }
    return n;
}

/* Lines whose metric m changed (beyond the noise floor for times) ranked by the size of
 * the change, largest first, into out (capacity nlines).  Returns the count. */
static uint32_t rank_lines(const pf_diff *d, int m, double min_time_ns, uint32_t *out)
{
    int unit = pf_dm_unit((enum pf_dm)m);
    uint32_t n = 0;
    for (uint32_t i = 0; i < d->nlines; i++) {
        double delta = d->lines[i].v[1][m] - d->lines[i].v[0][m];
        if (delta != 0 && !(unit == PF_DM_UNIT_NS && fabs(delta) <= min_time_ns))
            out[n++] = i;
    }
    rank_d = d;
    rank_m = m;
    qsort(out, n, sizeof *out, cmp_line_delta);
    return n;
}

/* The metric that leads: calls for traces, samples for collapsed stacks. */
static int lead_metric(const pf_diff *d)
{
    return d->has[PF_DM_CALLS] ? PF_DM_CALLS : PF_DM_SAMPLES;
}

/* Metrics with a ranked table, in order. */
static const int table_metrics[] = { PF_DM_CALLS, PF_DM_ALLOC_COUNT, PF_DM_ALLOC_BYTES,
                                     PF_DM_PEAK_BYTES, PF_DM_EXIT_BYTES, PF_DM_TIME,
                                     PF_DM_SELF_TIME, PF_DM_SAMPLES, PF_DM_SELF_SAMPLES };
#define NTABLE_METRICS (sizeof table_metrics / sizeof table_metrics[0])

/* Line metrics with a "hottest changed lines" table. */
static const int line_metrics[] = { PF_DM_CALLS, PF_DM_ALLOC_BYTES, PF_DM_TIME };

static const int head_totals[] = { PF_DT_WALL, PF_DT_CALLS, PF_DT_PEAK, PF_DT_RSS,
                                   PF_DT_ALLOC_BYTES, PF_DT_ALLOC_COUNT, PF_DT_TIME,
                                   PF_DT_SAMPLES };

static const char *metric_title(int m, int line)
{
    if (line && m == PF_DM_CALLS)
        return "line hits";
    return pf_dm_words[m];
}

/* ---- text ------------------------------------------------------------------------------- */

/* s[0..n) with control bytes as \xNN, at most max bytes. */
static void put_clean(FILE *out, const char *s, size_t n, size_t max)
{
    size_t k = n > max ? max : n;
    for (size_t i = 0; i < k; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f)
            fprintf(out, "\\x%02x", c);
        else
            putc(c, out);
    }
    if (k < n)
        fputs("...", out);
}

static void text_func(FILE *out, const pf_diff *d, const pf_diff_func *f)
{
    size_t n;
    const char *s = pf_diff_str(d, f->name, &n);
    put_clean(out, s, n, 120);
    if (!f->native) {
        s = pf_diff_str(d, f->file, &n);
        fputs(" (", out);
        put_clean(out, s, n, 120);
        uint32_t l = f->line[1] ? f->line[1] : f->line[0];
        if (l)
            fprintf(out, ":%u", l);
        if (f->line[0] && f->line[1] && f->line[0] != f->line[1])
            fprintf(out, ", was line %u", f->line[0]);
        putc(')', out);
    }
}

/* Right-aligns s in width display columns (UTF-8 continuation bytes take none). */
static void cell(FILE *out, const char *s, int width)
{
    int cols = 0;
    for (const char *q = s; *q; q++)
        cols += ((unsigned char)*q & 0xC0) != 0x80;
    for (int i = cols; i < width; i++)
        putc(' ', out);
    fputs(s, out);
}

/* The four value columns of a text row: BASE, NEW, change, percent. */
static void cells(FILE *out, const char *a, const char *b, const char *c, const char *p)
{
    cell(out, a, 14);
    putc(' ', out);
    cell(out, b, 14);
    putc(' ', out);
    cell(out, c, 16);
    putc(' ', out);
    cell(out, p, 9);
}

static void text_header(const pf_diff *d, const pf_diffout_opts *o, FILE *out)
{
    fputs("pyflame-c diff: ", out);
    put_clean(out, o->base_label, strlen(o->base_label), 200);
    fprintf(out, " (%u run%s) -> ", d->nruns[0], d->nruns[0] == 1 ? "" : "s, medians");
    put_clean(out, o->new_label, strlen(o->new_label), 200);
    fprintf(out, " (%u run%s)\n", d->nruns[1], d->nruns[1] == 1 ? "" : "s, medians");
    if (d->traces == 1)
        fprintf(out, "Python %s -> %s; times: %s\n", d->python[0][0] ? d->python[0] : "?",
                d->python[1][0] ? d->python[1] : "?", d->clock[1]);
    if (d->forced[0])
        fprintf(out, "FORCED (--force): these runs are not comparable: %s\n", d->forced);
    if (d->warning[0])
        fprintf(out, "Note: %s\n", d->warning);
}

static void text_gates(const pf_diff *d, const pf_diffout_opts *o, FILE *out)
{
    if (o->ngates == 0)
        return;
    fputs("\nGates:\n", out);
    for (unsigned i = 0; i < o->ngates; i++) {
        const pf_gate *g = &o->gates[i];
        const pf_gate_result *r = &o->results[i];
        int unit = g->total ? pf_dt_unit((enum pf_dt)g->metric) : pf_dm_unit((enum pf_dm)g->metric);
        char a[PF_UNITS_BUFSZ], b[PF_UNITS_BUFSZ], c[PF_UNITS_BUFSZ], p[32];
        fprintf(out, "  %s %s", r->skipped ? "SKIP" : r->failed ? "FAIL" : "pass", g->spec);
        if (r->skipped) {
            fputs(": the inputs do not both have this metric\n", out);
            continue;
        }
        if (!g->total && !r->failed) {
            fputs(": no function over the threshold\n", out);
            continue;
        }
        fputs(": ", out);
        if (!g->total) {
            text_func(out, d, &d->funcs[r->func]);
            putc(' ', out);
        }
        fprintf(out, "%s -> %s (%s, %s)", fmt_val(a, sizeof a, unit, r->base),
                fmt_val(b, sizeof b, unit, r->now), fmt_delta(c, sizeof c, unit, r->now - r->base),
                fmt_pct(p, sizeof p, r->base, r->now));
        if (!g->total && r->over > 1)
            fprintf(out, "; %u functions over", r->over);
        putc('\n', out);
    }
}

int pf_diff_write_text(const pf_diff *d, const pf_diffout_opts *o, FILE *out, pf_error *err)
{
    uint32_t *idx = pf_malloc((d->nfuncs + d->nlines + 1) * sizeof *idx);
    if (idx == NULL)
        return pf_error_set(err, PF_ENOMEM, NULL);
    char a[PF_UNITS_BUFSZ], b[PF_UNITS_BUFSZ], c[PF_UNITS_BUFSZ], p[32];
    text_header(d, o, out);
    fprintf(out, "\n  %-22s %14s %14s %16s %9s\n", "", "BASE", "NEW", "change", "");
    for (size_t k = 0; k < sizeof head_totals / sizeof head_totals[0]; k++) {
        int m = head_totals[k];
        if (!d->has_total[m])
            continue;
        int unit = pf_dt_unit((enum pf_dt)m);
        double x = d->total[0][m], y = d->total[1][m];
        fprintf(out, "  %-22s ", pf_dt_words[m]);
        cells(out, fmt_val(a, sizeof a, unit, x), fmt_val(b, sizeof b, unit, y),
              fmt_delta(c, sizeof c, unit, y - x), fmt_pct(p, sizeof p, x, y));
        putc('\n', out);
    }
    for (size_t k = 0; k < NTABLE_METRICS; k++) {
        int m = table_metrics[k];
        if (!d->has[m])
            continue;
        int unit = pf_dm_unit((enum pf_dm)m);
        for (int sign = 1; sign >= -1; sign -= 2) {
            uint32_t n = rank(d, m, PF_DIFF_BOTH, sign, o->min_time_ns, idx);
            if (n == 0)
                continue;
            fprintf(out, "\n%s, %s (%u function%s):\n", metric_title(m, 0),
                    sign > 0 ? "regressions" : "improvements", n, n == 1 ? "" : "s");
            for (uint32_t i = 0; i < n && i < o->limit; i++) {
                const pf_diff_func *f = &d->funcs[idx[i]];
                fputs("  ", out);
                cells(out, fmt_val(a, sizeof a, unit, f->v[0][m]),
                      fmt_val(b, sizeof b, unit, f->v[1][m]),
                      fmt_delta(c, sizeof c, unit, f->v[1][m] - f->v[0][m]),
                      fmt_pct(p, sizeof p, f->v[0][m], f->v[1][m]));
                fputs("  ", out);
                text_func(out, d, f);
                putc('\n', out);
            }
            if (n > o->limit)
                fprintf(out, "  ... and %u more\n", n - o->limit);
        }
    }
    int lm = lead_metric(d);
    for (uint32_t st = PF_DIFF_ADDED; st <= PF_DIFF_VANISHED; st++) {
        uint32_t n = rank(d, lm, st, 0, 0, idx);
        if (n == 0)
            continue;
        fprintf(out, "\n%s functions (%u), by %s:\n", st == PF_DIFF_ADDED ? "New" : "Vanished", n,
                pf_dm_words[lm]);
        for (uint32_t i = 0; i < n && i < o->limit; i++) {
            const pf_diff_func *f = &d->funcs[idx[i]];
            fputs("  ", out);
            cell(out, fmt_val(a, sizeof a, pf_dm_unit((enum pf_dm)lm), f->v[st == PF_DIFF_ADDED][lm]), 14);
            fputs("  ", out);
            text_func(out, d, f);
            putc('\n', out);
        }
        if (n > o->limit)
            fprintf(out, "  ... and %u more\n", n - o->limit);
    }
    if (d->nfiles) {
        fputs("\nFiles:\n", out);
        for (uint32_t i = 0; i < d->nfiles; i++) {
            const pf_diff_file *f = &d->files[i];
            size_t n;
            const char *s;
            if (f->path[0] != PF_NONE && f->path[1] != PF_NONE) {
                fputs("  renamed or moved: ", out);
                s = pf_diff_str(d, f->path[0], &n);
                put_clean(out, s, n, 200);
                fputs(" -> ", out);
                s = pf_diff_str(d, f->path[1], &n);
                put_clean(out, s, n, 200);
                fprintf(out, " (%u functions matched)\n", f->nfuncs);
            } else {
                fputs(f->path[1] == PF_NONE ? "  only in BASE: " : "  only in NEW:  ", out);
                s = pf_diff_str(d, f->path[1] == PF_NONE ? f->path[0] : f->path[1], &n);
                put_clean(out, s, n, 200);
                fprintf(out, " (%u functions)\n", f->nfuncs);
            }
        }
    }
    for (size_t k = 0; k < sizeof line_metrics / sizeof line_metrics[0]; k++) {
        int m = line_metrics[k];
        if (!d->has[m] || d->nlines == 0)
            continue;
        int unit = pf_dm_unit((enum pf_dm)m);
        uint32_t n = rank_lines(d, m, o->min_time_ns, idx);
        if (n == 0)
            continue;
        fprintf(out, "\nChanged lines by %s (%u):\n", metric_title(m, 1), n);
        for (uint32_t i = 0; i < n && i < o->limit; i++) {
            const pf_diff_line *l = &d->lines[idx[i]];
            fputs("  ", out);
            cells(out, fmt_val(a, sizeof a, unit, l->v[0][m]), fmt_val(b, sizeof b, unit, l->v[1][m]),
                  fmt_delta(c, sizeof c, unit, l->v[1][m] - l->v[0][m]),
                  fmt_pct(p, sizeof p, l->v[0][m], l->v[1][m]));
            fputs("  ", out);
            const pf_diff_func *f = &d->funcs[l->func];
            size_t nn;
            const char *s = pf_diff_str(d, f->file, &nn);
            put_clean(out, s, nn, 120);
            if (l->line[1])
                fprintf(out, ":%u", l->line[1]);
            else
                fprintf(out, " (BASE line %u, removed)", l->line[0]);
            if (l->line[0] && l->line[1] && l->line[0] != l->line[1])
                fprintf(out, " (was %u)", l->line[0]);
            if (l->kind == PF_TD_CHANGED)
                fputs(" [edited]", out);
            fputs(" in ", out);
            s = pf_diff_str(d, f->name, &nn);
            put_clean(out, s, nn, 120);
            putc('\n', out);
        }
        if (n > o->limit)
            fprintf(out, "  ... and %u more\n", n - o->limit);
    }
    text_gates(d, o, out);
    pf_free(idx);
    if (ferror(out))
        return pf_error_set(err, PF_EIO, "write error: %s", strerror(errno ? errno : EIO));
    return 0;
}

/* ---- JSON ---------------------------------------------------------------------------- */

static void json_str(FILE *out, const char *s, size_t n)
{
    pf_json_write_str(out, s, n);
}

static void json_cstr(FILE *out, const char *s)
{
    if (s == NULL)
        fputs("null", out);
    else
        json_str(out, s, strlen(s));
}

static void json_num(FILE *out, double v)
{
    if (!isfinite(v))
        fputs("null", out);
    else if (v == floor(v) && fabs(v) < 9e15)
        fprintf(out, "%.0f", v);
    else
        fprintf(out, "%.17g", v);
}

static void json_id(FILE *out, const pf_diff *d, uint32_t id)
{
    if (id == PF_NONE) {
        fputs("null", out);
        return;
    }
    size_t n;
    const char *s = pf_diff_str(d, id, &n);
    json_str(out, s, n);
}

static void json_values(FILE *out, const pf_diff *d, const double *v)
{
    putc('{', out);
    int first = 1;
    for (int m = 0; m < PF_DM_COUNT; m++) {
        if (!d->has[m])
            continue;
        fprintf(out, "%s\"%s\":", first ? "" : ",", pf_dm_names[m]);
        json_num(out, v[m]);
        first = 0;
    }
    putc('}', out);
}

static const char *const status_names[] = { "both", "added", "vanished" };
static const char *const kind_names[] = { "equal", "edited", "removed", "added" };

int pf_diff_write_json(const pf_diff *d, const pf_diffout_opts *o, FILE *out, pf_error *err)
{
    fputs("{\"pyflame_c_diff\":1,\n\"base\":{\"label\":", out);
    json_cstr(out, o->base_label);
    fprintf(out, ",\"runs\":%u,\"python\":", d->nruns[0]);
    json_cstr(out, d->python[0]);
    fputs(",\"clock\":", out);
    json_cstr(out, d->clock[0]);
    fputs("},\n\"new\":{\"label\":", out);
    json_cstr(out, o->new_label);
    fprintf(out, ",\"runs\":%u,\"python\":", d->nruns[1]);
    json_cstr(out, d->python[1]);
    fputs(",\"clock\":", out);
    json_cstr(out, d->clock[1]);
    fprintf(out, "},\n\"inputs\":\"%s\",\"forced\":", d->traces == 1 ? "traces" : "collapsed");
    json_cstr(out, d->forced[0] ? d->forced : NULL);
    fputs(",\"warning\":", out);
    json_cstr(out, d->warning[0] ? d->warning : NULL);
    fputs(",\"stacks_normalized\":", out);
    json_num(out, d->opts.normalize ? d->norm_factor : 0);
    fputs(",\n\"metrics\":[", out);
    int first = 1;
    for (int m = 0; m < PF_DM_COUNT; m++)
        if (d->has[m]) {
            fprintf(out, "%s\"%s\"", first ? "" : ",", pf_dm_names[m]);
            first = 0;
        }
    fputs("],\n\"totals\":{", out);
    first = 1;
    for (int m = 0; m < PF_DT_COUNT; m++) {
        if (!d->has_total[m])
            continue;
        fprintf(out, "%s\"%s\":{\"base\":", first ? "" : ",", pf_dt_names[m]);
        json_num(out, d->total[0][m]);
        fputs(",\"new\":", out);
        json_num(out, d->total[1][m]);
        putc('}', out);
        first = 0;
    }
    fputs("},\n\"functions\":[\n", out);
    for (uint32_t i = 0; i < d->nfuncs; i++) {
        const pf_diff_func *f = &d->funcs[i];
        fprintf(out, "%s{\"id\":%u,\"name\":", i ? ",\n" : "", i);
        json_id(out, d, f->name);
        fputs(",\"file\":", out);
        json_id(out, d, f->native ? PF_NONE : f->file);
        if (f->base_file != f->file) {
            fputs(",\"base_file\":", out);
            json_id(out, d, f->base_file);
        }
        fprintf(out, ",\"line_base\":%u,\"line_new\":%u,\"status\":\"%s\",\"base\":", f->line[0],
                f->line[1], status_names[f->status]);
        json_values(out, d, f->v[0]);
        fputs(",\"new\":", out);
        json_values(out, d, f->v[1]);
        putc('}', out);
    }
    fputs("\n],\n\"lines\":[\n", out);
    first = 1;
    for (uint32_t i = 0; i < d->nlines; i++) {
        const pf_diff_line *l = &d->lines[i];
        if (!l->has_data)
            continue;
        fprintf(out, "%s{\"function\":%u,\"line_base\":%u,\"line_new\":%u,\"kind\":\"%s\",\"base\":",
                first ? "" : ",\n", l->func, l->line[0], l->line[1], kind_names[l->kind & 3]);
        json_values(out, d, l->v[0]);
        fputs(",\"new\":", out);
        json_values(out, d, l->v[1]);
        putc('}', out);
        first = 0;
    }
    fputs("\n],\n\"files\":[", out);
    for (uint32_t i = 0; i < d->nfiles; i++) {
        const pf_diff_file *f = &d->files[i];
        fputs(i ? ",\n{\"base\":" : "\n{\"base\":", out);
        json_id(out, d, f->path[0]);
        fputs(",\"new\":", out);
        json_id(out, d, f->path[1]);
        fprintf(out, ",\"kind\":\"%s\",\"functions\":%u}",
                f->path[0] != PF_NONE && f->path[1] != PF_NONE ? "renamed"
                : f->path[1] == PF_NONE ? "vanished" : "added", f->nfuncs);
    }
    fputs("],\n\"gates\":[", out);
    for (unsigned i = 0; i < o->ngates; i++) {
        const pf_gate_result *r = &o->results[i];
        fputs(i ? ",\n{\"spec\":" : "\n{\"spec\":", out);
        json_cstr(out, o->gates[i].spec);
        fprintf(out, ",\"result\":\"%s\",\"base\":", r->skipped ? "skipped" : r->failed ? "fail" : "pass");
        json_num(out, r->base);
        fputs(",\"new\":", out);
        json_num(out, r->now);
        fputs(",\"function\":", out);
        if (r->func == PF_NONE)
            fputs("null", out);
        else
            fprintf(out, "%u", r->func);
        fprintf(out, ",\"functions_over\":%u}", r->over);
    }
    fputs("]}\n", out);
    if (ferror(out))
        return pf_error_set(err, PF_EIO, "write error: %s", strerror(errno ? errno : EIO));
    return 0;
}

/* ---- Markdown --------------------------------------------------------------------------- */

void pf_md_escape(FILE *out, const char *s, size_t n, size_t max)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t lim = n > max ? max : n;
    for (size_t i = 0; i < lim;) {
        unsigned c = p[i];
        if (c < 0x20 || c == 0x7f) {
            fputs("\xef\xbf\xbd", out);
            i++;
        } else if (c == '<') {
            fputs("&lt;", out);
            i++;
        } else if (c == '>') {
            fputs("&gt;", out);
            i++;
        } else if (c == '&') {
            fputs("&amp;", out);
            i++;
        } else if (strchr("|`*_[]\\#~!$", (int)c) && c) {
            putc('\\', out);
            putc((int)c, out);
            i++;
        } else if (c < 0x80) {
            putc((int)c, out);
            i++;
        } else {
            size_t len = c >= 0xf0 && c <= 0xf4 ? 4 : c >= 0xe0 && c <= 0xef ? 3
                       : c >= 0xc2 && c <= 0xdf ? 2 : 0;
            int ok = len > 0 && i + len <= lim;
            for (size_t k = 1; ok && k < len; k++)
                ok = (p[i + k] & 0xc0) == 0x80;
            if (ok) {
                fwrite(p + i, 1, len, out);
                i += len;
            } else {
                fputs("\xef\xbf\xbd", out);
                i++;
            }
        }
    }
    if (lim < n)
        fputs("...", out);
}

/* The document, built in memory so its size is known before anything is written:
 * rows are added while they fit under the limit, with room kept for the notes. */
struct md {
    char *buf;
    size_t len, cap;
    size_t limit;
    int oom;
};

#define MD_RESERVE 2048           /* for the notes after a cut section and the footer */

static int md_put(struct md *m, const char *s, size_t n, int reserve)
{
    if (m->len + n + (reserve ? MD_RESERVE : 0) > m->limit)
        return -1;
    if (m->len + n + 1 > m->cap) {
        size_t nc = m->cap ? m->cap * 2 : 8192;
        while (nc < m->len + n + 1)
            nc *= 2;
        char *b = pf_realloc(m->buf, nc);
        if (b == NULL) {
            m->oom = 1;
            return -1;
        }
        m->buf = b;
        m->cap = nc;
    }
    memcpy(m->buf + m->len, s, n);
    m->len += n;
    m->buf[m->len] = '\0';
    return 0;
}

/* A scratch stream for one row. */
struct row {
    char *p;
    size_t n;
    FILE *f;
};

static FILE *row_open(struct row *r)
{
    r->p = NULL;
    r->n = 0;
    r->f = open_memstream(&r->p, &r->n);
    return r->f;
}

/* Appends the row (if it fits: returns 0) and frees it. */
static int row_put(struct md *m, struct row *r, int reserve)
{
    fclose(r->f);
    int rc = md_put(m, r->p, r->n, reserve);
    free(r->p);
    return rc;
}

static void md_func(FILE *f, const pf_diff *d, const pf_diff_func *fn)
{
    size_t n;
    const char *s = pf_diff_str(d, fn->name, &n);
    pf_md_escape(f, s, n, 120);
    fputs(" | ", f);
    if (fn->native) {
        fputs("built-in", f);
        return;
    }
    s = pf_diff_str(d, fn->file, &n);
    pf_md_escape(f, s, n, 100);
    uint32_t l = fn->line[1] ? fn->line[1] : fn->line[0];
    if (l)
        fprintf(f, ":%u", l);
    if (fn->line[0] && fn->line[1] && fn->line[0] != fn->line[1])
        fprintf(f, " (was %u)", fn->line[0]);
}

static void md_note_cut(struct md *m, uint32_t left)
{
    char b[256];
    int k = snprintf(b, sizeof b, "\n_%u more row%s not shown: this summary stays under %u KB "
                     "(GitHub's comment limit); the JSON output and the HTML report have all._\n",
                     left, left == 1 ? "" : "s", PF_MD_LIMIT / 1024);
    md_put(m, b, (size_t)k, 0);
}

static void md_text(struct md *m, const char *s)
{
    md_put(m, s, strlen(s), 1);
}

/* The end of a table of n rows of which shown made it: "and N more", and the rows the
 * size limit (not --limit) left out added to *cut; or just the blank line after it. */
static void md_table_end(struct md *m, uint32_t n, uint32_t shown, uint32_t limit, uint32_t *cut)
{
    if (shown < n) {
        char more[96];
        int kk = snprintf(more, sizeof more, "\n_and %u more_\n\n", n - shown);
        md_put(m, more, (size_t)kk, 1);
        if (shown < limit)
            *cut += (n < limit ? n : limit) - shown;
    } else {
        md_text(m, "\n");
    }
}

/* A row's last four cells: before, after, change and change in %. */
static void md_values(FILE *f, int unit, double before, double after)
{
    char a[PF_UNITS_BUFSZ], b[PF_UNITS_BUFSZ], c[PF_UNITS_BUFSZ], p[32];
    fprintf(f, " | %s | %s | %s | %s |\n", fmt_val(a, sizeof a, unit, before),
            fmt_val(b, sizeof b, unit, after), fmt_delta(c, sizeof c, unit, after - before),
            fmt_pct(p, sizeof p, before, after));
}

int pf_diff_write_markdown(const pf_diff *d, const pf_diffout_opts *o, FILE *out, pf_error *err)
{
    struct md m = { NULL, 0, 0, PF_MD_LIMIT - 512, 0 };
    uint32_t *idx = pf_malloc((d->nfuncs + d->nlines + 1) * sizeof *idx);
    char a[PF_UNITS_BUFSZ], b[PF_UNITS_BUFSZ], c[PF_UNITS_BUFSZ], p[32];
    struct row r;
    uint32_t cut = 0;
    if (idx == NULL)
        return pf_error_set(err, PF_ENOMEM, NULL);
    /* title and what is compared */
    if (row_open(&r) == NULL)
        goto nomem;
    fputs("## pyflame-c diff: ", r.f);
    pf_md_escape(r.f, o->base_label, strlen(o->base_label), 80);
    fputs(" \xe2\x86\x92 ", r.f);
    pf_md_escape(r.f, o->new_label, strlen(o->new_label), 80);
    fputs("\n\n", r.f);
    if (d->nruns[0] > 1 || d->nruns[1] > 1)
        fprintf(r.f, "Medians of %u BASE and %u NEW runs. ", d->nruns[0], d->nruns[1]);
    if (d->traces == 1) {
        fputs("Python ", r.f);
        pf_md_escape(r.f, d->python[1], strlen(d->python[1]), 40);
        fputs(", ", r.f);
        pf_md_escape(r.f, d->clock[1], strlen(d->clock[1]), 60);
        fputs(". Calls, line hits and allocations are exact counts; times vary from run "
              "to run", r.f);
        char nz[PF_UNITS_BUFSZ];
        fprintf(r.f, " (changes of %s or less are not listed).\n\n",
                pf_units_ns(nz, sizeof nz, pf_units_u64(o->min_time_ns)));
    } else {
        fputs("Collapsed stacks: values are the input's counts (samples).\n\n", r.f);
    }
    if (d->forced[0]) {
        fputs("> **Warning: compared with `--force`; these runs are not comparable:** ", r.f);
        pf_md_escape(r.f, d->forced, strlen(d->forced), 600);
        fputs("\n\n", r.f);
    }
    if (d->warning[0]) {
        fputs("> Note: ", r.f);
        pf_md_escape(r.f, d->warning, strlen(d->warning), 600);
        fputs("\n\n", r.f);
    }
    row_put(&m, &r, 1);
    /* the gate: first, so it is never cut */
    if (o->ngates) {
        int failed = 0;
        for (unsigned i = 0; i < o->ngates; i++)
            failed |= o->results[i].failed;
        if (row_open(&r) == NULL)
            goto nomem;
        fprintf(r.f, "**Gate: %s**\n\n", failed ? "\xe2\x9d\x8c failed" : "\xe2\x9c\x85 passed");
        for (unsigned i = 0; i < o->ngates; i++) {
            const pf_gate *g = &o->gates[i];
            const pf_gate_result *gr = &o->results[i];
            int unit = g->total ? pf_dt_unit((enum pf_dt)g->metric) : pf_dm_unit((enum pf_dm)g->metric);
            fprintf(r.f, "- %s `", gr->skipped ? "skipped" : gr->failed ? "**FAIL**" : "pass");
            pf_md_escape(r.f, g->spec, strlen(g->spec), 80);
            fputs("`", r.f);
            if (gr->skipped)
                fputs(": the inputs do not both have this metric", r.f);
            else if (!g->total && !gr->failed)
                fputs(": no function over the threshold", r.f);
            else {
                fputs(": ", r.f);
                if (!g->total) {
                    size_t n;
                    const char *s = pf_diff_str(d, d->funcs[gr->func].name, &n);
                    pf_md_escape(r.f, s, n, 120);
                    fputs(" ", r.f);
                }
                fprintf(r.f, "%s \xe2\x86\x92 %s (%s, %s)", fmt_val(a, sizeof a, unit, gr->base),
                        fmt_val(b, sizeof b, unit, gr->now),
                        fmt_delta(c, sizeof c, unit, gr->now - gr->base),
                        fmt_pct(p, sizeof p, gr->base, gr->now));
                if (!g->total && gr->over > 1)
                    fprintf(r.f, "; %u functions over", gr->over);
            }
            fputs("\n", r.f);
        }
        fputs("\n", r.f);
        row_put(&m, &r, 1);
    }
    /* headline */
    md_text(&m, "| | BASE | NEW | change | |\n|---|---:|---:|---:|---:|\n");
    for (size_t k = 0; k < sizeof head_totals / sizeof head_totals[0]; k++) {
        int t = head_totals[k];
        if (!d->has_total[t])
            continue;
        int unit = pf_dt_unit((enum pf_dt)t);
        double x = d->total[0][t], y = d->total[1][t];
        if (row_open(&r) == NULL)
            goto nomem;
        fprintf(r.f, "| %s | %s | %s | %s | %s |\n", pf_dt_words[t], fmt_val(a, sizeof a, unit, x),
                fmt_val(b, sizeof b, unit, y), fmt_delta(c, sizeof c, unit, y - x),
                fmt_pct(p, sizeof p, x, y));
        row_put(&m, &r, 1);
    }
    md_text(&m, "\n");
    if (o->svg_link || o->html_link) {
        if (row_open(&r) == NULL)
            goto nomem;
        if (o->svg_link) {
            fputs("[Differential flame graph](", r.f);
            pf_md_escape(r.f, o->svg_link, strlen(o->svg_link), 200);
            fputs(")", r.f);
        }
        if (o->html_link) {
            fputs(o->svg_link ? " \xc2\xb7 " : "", r.f);
            fputs("[Per-line report](", r.f);
            pf_md_escape(r.f, o->html_link, strlen(o->html_link), 200);
            fputs(")", r.f);
        }
        fputs("\n\n", r.f);
        row_put(&m, &r, 1);
    }
    /* ranked tables per metric */
    for (size_t k = 0; k < NTABLE_METRICS; k++) {
        int mt = table_metrics[k];
        if (!d->has[mt])
            continue;
        int unit = pf_dm_unit((enum pf_dm)mt);
        for (int sign = 1; sign >= -1; sign -= 2) {
            uint32_t n = rank(d, mt, PF_DIFF_BOTH, sign, o->min_time_ns, idx);
            if (n == 0)
                continue;
            if (row_open(&r) == NULL)
                goto nomem;
            fprintf(r.f, "### %s: top %s\n\n| Function | Location | BASE | NEW | change | |\n"
                    "|---|---|---:|---:|---:|---:|\n", metric_title(mt, 0),
                    sign > 0 ? "regressions" : "improvements");
            if (row_put(&m, &r, 1) < 0) {
                cut += n;
                continue;
            }
            uint32_t shown = 0;
            for (uint32_t i = 0; i < n && i < o->limit; i++) {
                const pf_diff_func *f = &d->funcs[idx[i]];
                if (row_open(&r) == NULL)
                    goto nomem;
                fputs("| ", r.f);
                md_func(r.f, d, f);
                md_values(r.f, unit, f->v[0][mt], f->v[1][mt]);
                if (row_put(&m, &r, 1) < 0)
                    break;
                shown++;
            }
            md_table_end(&m, n, shown, o->limit, &cut);
        }
    }
    /* new and vanished functions */
    int lm = lead_metric(d);
    for (uint32_t st = PF_DIFF_ADDED; st <= PF_DIFF_VANISHED; st++) {
        uint32_t n = rank(d, lm, st, 0, 0, idx);
        if (n == 0)
            continue;
        if (row_open(&r) == NULL)
            goto nomem;
        fprintf(r.f, "### %s functions (%u)\n\n| Function | Location | %s %s |\n|---|---|---:|\n",
                st == PF_DIFF_ADDED ? "New" : "Vanished", n, st == PF_DIFF_ADDED ? "NEW" : "BASE",
                pf_dm_words[lm]);
        if (row_put(&m, &r, 1) < 0) {
            cut += n;
            continue;
        }
        uint32_t shown = 0;
        for (uint32_t i = 0; i < n && i < o->limit; i++) {
            const pf_diff_func *f = &d->funcs[idx[i]];
            if (row_open(&r) == NULL)
                goto nomem;
            fputs("| ", r.f);
            md_func(r.f, d, f);
            fprintf(r.f, " | %s |\n", fmt_val(a, sizeof a, pf_dm_unit((enum pf_dm)lm),
                                              f->v[st == PF_DIFF_ADDED][lm]));
            if (row_put(&m, &r, 1) < 0)
                break;
            shown++;
        }
        md_table_end(&m, n, shown, o->limit, &cut);
    }
    /* files */
    if (d->nfiles) {
        md_text(&m, "### Files renamed, moved, added or removed\n\n");
        uint32_t shown = 0;
        for (uint32_t i = 0; i < d->nfiles && i < 50; i++) {
            const pf_diff_file *f = &d->files[i];
            if (row_open(&r) == NULL)
                goto nomem;
            size_t n;
            const char *s;
            if (f->path[0] != PF_NONE && f->path[1] != PF_NONE) {
                fputs("- renamed or moved: ", r.f);
                s = pf_diff_str(d, f->path[0], &n);
                pf_md_escape(r.f, s, n, 160);
                fputs(" \xe2\x86\x92 ", r.f);
                s = pf_diff_str(d, f->path[1], &n);
                pf_md_escape(r.f, s, n, 160);
                fprintf(r.f, " (%u functions matched)\n", f->nfuncs);
            } else {
                fputs(f->path[1] == PF_NONE ? "- only in BASE: " : "- only in NEW: ", r.f);
                s = pf_diff_str(d, f->path[1] == PF_NONE ? f->path[0] : f->path[1], &n);
                pf_md_escape(r.f, s, n, 160);
                fprintf(r.f, " (%u functions)\n", f->nfuncs);
            }
            if (row_put(&m, &r, 1) < 0)
                break;
            shown++;
        }
        if (shown < d->nfiles) {
            char more[96];
            int kk = snprintf(more, sizeof more, "- and %u more\n", d->nfiles - shown);
            md_put(&m, more, (size_t)kk, 1);
        }
        md_text(&m, "\n");
    }
    /* hottest changed lines */
    for (size_t k = 0; k < sizeof line_metrics / sizeof line_metrics[0]; k++) {
        int mt = line_metrics[k];
        if (!d->has[mt] || d->nlines == 0)
            continue;
        int unit = pf_dm_unit((enum pf_dm)mt);
        uint32_t n = rank_lines(d, mt, o->min_time_ns, idx);
        if (n == 0)
            continue;
        if (row_open(&r) == NULL)
            goto nomem;
        fprintf(r.f, "### Hottest changed lines: %s\n\n| Line | Function | BASE | NEW | change | |\n"
                "|---|---|---:|---:|---:|---:|\n", metric_title(mt, 1));
        if (row_put(&m, &r, 1) < 0) {
            cut += n < o->limit ? n : o->limit;
            continue;
        }
        uint32_t shown = 0;
        for (uint32_t i = 0; i < n && i < o->limit; i++) {
            const pf_diff_line *l = &d->lines[idx[i]];
            const pf_diff_func *f = &d->funcs[l->func];
            if (row_open(&r) == NULL)
                goto nomem;
            size_t nn;
            const char *s = pf_diff_str(d, f->file, &nn);
            fputs("| ", r.f);
            pf_md_escape(r.f, s, nn, 100);
            if (l->line[1])
                fprintf(r.f, ":%u", l->line[1]);
            if (l->line[0] && l->line[0] != l->line[1])
                fprintf(r.f, l->line[1] ? " (was %u)" : " (BASE line %u, removed)", l->line[0]);
            if (l->kind == PF_TD_CHANGED)
                fputs(" *edited*", r.f);
            fputs(" | ", r.f);
            s = pf_diff_str(d, f->name, &nn);
            pf_md_escape(r.f, s, nn, 100);
            md_values(r.f, unit, l->v[0][mt], l->v[1][mt]);
            if (row_put(&m, &r, 1) < 0)
                break;
            shown++;
        }
        md_table_end(&m, n, shown, o->limit, &cut);
    }
    if (cut)
        md_note_cut(&m, cut);
    md_put(&m, "<sub>pyflame-c diff</sub>\n", 26, 0);
    if (m.oom)
        goto nomem;
    pf_free(idx);
    if (m.len && fwrite(m.buf, 1, m.len, out) != m.len) {
        pf_free(m.buf);
        return pf_error_set(err, PF_EIO, "write error: %s", strerror(errno ? errno : EIO));
    }
    pf_free(m.buf);
    if (ferror(out))
        return pf_error_set(err, PF_EIO, "write error: %s", strerror(errno ? errno : EIO));
    return 0;
nomem:
    pf_free(idx);
    pf_free(m.buf);
    return pf_error_set(err, PF_ENOMEM, NULL);
}
