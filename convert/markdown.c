/* markdown.c: the one-run Markdown summary (see markdown.h).  Rows are added while
 * the document stays under the cap (with room kept for the closing note). */
#include "convert/markdown.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "convert/diffout.h"
#include "formats/alloc.h"
#include "formats/framename.h"
#include "formats/units.h"

struct doc {
    FILE *f;                  /* the memory stream */
    char *buf;
    size_t len;
    long cut;                 /* rows left out for the cap */
};

#define LIMIT (PF_MD_LIMIT - 2048)

/* Writes one row through a scratch stream; keeps it only if the document still fits. */
static FILE *row_begin(char **p, size_t *n)
{
    *p = NULL;
    *n = 0;
    return open_memstream(p, n);
}

static void row_end(struct doc *d, FILE *r, char **p, size_t *n)
{
    fclose(r);                /* sets *p and *n */
    fflush(d->f);
    if (d->len + *n <= LIMIT)
        fwrite(*p, 1, *n, d->f);
    else
        d->cut++;
    fflush(d->f);
    free(*p);
}

static const pf_funcstats *sort_s;
static int sort_m;
static double key_value(const pf_fkey *k)
{
    switch (sort_m) {
    case 1: return (double)k->ct_ns;
    case 2: return (double)k->nc;
    case 3: return (double)k->mem.alloc_bytes;
    default: return (double)k->tt_ns;
    }
}

static int cmp_keys(const void *a, const void *b)
{
    double x = key_value(&sort_s->keys[*(const uint32_t *)a]);
    double y = key_value(&sort_s->keys[*(const uint32_t *)b]);
    if (x != y)
        return x > y ? -1 : 1;
    return (*(const uint32_t *)a > *(const uint32_t *)b) - (*(const uint32_t *)a < *(const uint32_t *)b);
}

static const pf_trace *sort_t;
static int cmp_lines(const void *a, const void *b)
{
    const pf_line *x = &sort_t->lines[*(const uint32_t *)a], *y = &sort_t->lines[*(const uint32_t *)b];
    uint64_t vx = sort_m ? x->mem.alloc_bytes : x->self_ns, vy = sort_m ? y->mem.alloc_bytes : y->self_ns;
    if (vx != vy)
        return vx > vy ? -1 : 1;
    return (*(const uint32_t *)a > *(const uint32_t *)b) - (*(const uint32_t *)a < *(const uint32_t *)b);
}

static void func_cells(FILE *r, const pf_trace *t, const pf_fkey *k)
{
    const pf_code *c = &t->codes[k->code];
    size_t qn;
    const char *q = pf_strtab_get(t->strings, c->qualname, &qn);
    if (q == NULL || qn == 0)
        q = k->name, qn = k->name_len;
    pf_md_escape(r, q, qn, 120);
    fputs(" | ", r);
    if (c->kind == PF_CODE_NATIVE) {
        fputs("built-in", r);
        return;
    }
    size_t fl;
    const char *f = pf_path_short(t, k->file, k->file_len, &fl);
    pf_md_escape(r, f, fl, 100);
    fprintf(r, ":%u", k->line);
}

int pf_markdown_write(const pf_trace *t, const pf_funcstats *s, unsigned long limit, FILE *out,
                      pf_error *err)
{
    struct doc d = { NULL, NULL, 0, 0 };
    uint32_t *idx = pf_malloc(((size_t)s->nkeys + t->nlines + 1) * sizeof *idx);
    d.f = open_memstream(&d.buf, &d.len);
    if (idx == NULL || d.f == NULL) {
        pf_free(idx);
        if (d.f)
            fclose(d.f);
        free(d.buf);
        return pf_error_set(err, PF_ENOMEM, NULL);
    }
    int memory = (t->meta.modes & PF_MODE_MEMORY) != 0;
    char a[PF_UNITS_BUFSZ], b[PF_UNITS_BUFSZ], c[PF_UNITS_BUFSZ];
    char *rp;
    size_t rn;
    FILE *r = row_begin(&rp, &rn);
    if (r == NULL)
        goto nomem;
    fputs("## pyflame-c profile", r);
    if (t->meta.argc > 0 && t->meta.argv[0]) {
        fputs(": `", r);
        for (uint32_t i = 0; i < t->meta.argc && i < 8; i++) {
            const char *arg = t->meta.argv[i] ? t->meta.argv[i] : "";
            if (i)
                fputc(' ', r);
            pf_md_escape(r, arg, strlen(arg), 80);
        }
        fputs("`", r);
    }
    fputs("\n\n", r);
    if (t->meta.python_version) {
        fputs("Python ", r);
        pf_md_escape(r, t->meta.python_version, strlen(t->meta.python_version), 40);
        fprintf(r, ", %s. ", pf_trace_clock_words(t));
    }
    /* a sampled trace (collect --sample, attach) counts samples where others count calls */
    int sampled = pf_trace_is_sampled(t);
    const char *calls = sampled ? "samples" : "calls";
    if (sampled) {
        char smp[256];
        pf_trace_sample_describe(t, smp, sizeof smp);
        fputs("Sampled: ", r);
        pf_md_escape(r, smp, strlen(smp), sizeof smp);
        fputs(". ", r);
    }
    if (t->meta.flags & PF_FLAG_CUT_SHORT)
        fputs("**The run was cut short: data up to its last snapshot.** ", r);
    fputs("\n\n| | |\n|---|---:|\n", r);
    fprintf(r, "| wall time | %s |\n", pf_units_ns(a, sizeof a, t->meta.duration_ns));
    fprintf(r, "| %s | %s |\n", calls, pf_units_count(b, sizeof b, s->total_nc));
    fprintf(r, "| profiled time | %s |\n", pf_units_ns(c, sizeof c, s->total_tt_ns));
    if (memory && (t->meta.modes & PF_MODE_NATIVE)) {
        uint64_t native = t->meta.peak_native_bytes < t->meta.peak_live_bytes
                          ? t->meta.peak_native_bytes : t->meta.peak_live_bytes;
        fprintf(r, "| peak memory (traced) | %s (native %s, Python %s) |\n",
                pf_units_bytes(a, sizeof a, t->meta.peak_live_bytes, 0),
                pf_units_bytes(b, sizeof b, native, 0),
                pf_units_bytes(c, sizeof c, t->meta.peak_live_bytes - native, 0));
    } else if (memory) {
        fprintf(r, "| peak memory (traced) | %s |\n",
                pf_units_bytes(a, sizeof a, t->meta.peak_live_bytes, 0));
    }
    uint64_t rss = 0;
    for (uint32_t i = 0; i < t->nrss; i++)
        if (t->rss[i].peak_bytes > rss)
            rss = t->rss[i].peak_bytes;
    if (rss)
        fprintf(r, "| peak RSS | %s |\n", pf_units_bytes(a, sizeof a, rss, 0));
    if (t->nprocesses > 1)
        fprintf(r, "| processes | %u |\n", t->nprocesses);
    fputs("\n", r);
    row_end(&d, r, &rp, &rn);
    const char *const titles[] = { "self time", "time including calls", calls,
                                   "bytes allocated" };
    for (int m = 0; m < (memory ? 4 : 3); m++) {
        uint32_t n = 0;
        for (uint32_t k = 0; k < s->nkeys; k++)
            if (s->keys[k].nc != 0)
                idx[n++] = k;
        sort_s = s;
        sort_m = m;
        if (n > 1)
            qsort(idx, n, sizeof *idx, cmp_keys);
        if ((r = row_begin(&rp, &rn)) == NULL)
            goto nomem;
        fprintf(r, "### Top functions by %s\n\n| Function | Location | %s | self time | "
                "time incl. calls |%s\n|---|---|---:|---:|---:|%s\n", titles[m], calls,
                memory ? " allocated |" : "", memory ? "---:|" : "");
        row_end(&d, r, &rp, &rn);
        for (uint32_t i = 0; i < n && i < limit; i++) {
            const pf_fkey *k = &s->keys[idx[i]];
            if ((r = row_begin(&rp, &rn)) == NULL)
                goto nomem;
            fputs("| ", r);
            func_cells(r, t, k);
            fprintf(r, " | %s | %s | %s |", pf_units_count(a, sizeof a, k->nc),
                    pf_units_ns(b, sizeof b, k->tt_ns), pf_units_ns(c, sizeof c, k->ct_ns));
            if (memory)
                fprintf(r, " %s |", pf_units_bytes(a, sizeof a, k->mem.alloc_bytes, 0));
            fputs("\n", r);
            row_end(&d, r, &rp, &rn);
        }
        fputs("\n", d.f);
    }
    for (int m = 0; m < (memory ? 2 : 1) && t->nlines > 0; m++) {
        uint32_t n = 0;
        for (uint32_t i = 0; i < t->nlines; i++)
            if (t->lines[i].code < t->ncodes)
                idx[n++] = i;
        sort_t = t;
        sort_m = m;
        if (n > 1)
            qsort(idx, n, sizeof *idx, cmp_lines);
        if ((r = row_begin(&rp, &rn)) == NULL)
            goto nomem;
        fprintf(r, "### Hottest lines by %s\n\n| Line | Function | hits | self time | time |%s\n"
                "|---|---|---:|---:|---:|%s\n", m ? "bytes allocated" : "self time",
                memory ? " allocated |" : "", memory ? "---:|" : "");
        row_end(&d, r, &rp, &rn);
        for (uint32_t i = 0; i < n && i < limit; i++) {
            const pf_line *l = &t->lines[idx[i]];
            const pf_code *code = &t->codes[l->code];
            if ((r = row_begin(&rp, &rn)) == NULL)
                goto nomem;
            size_t fl, ql, sl;
            const char *f = pf_strtab_get(t->strings, code->file, &fl);
            const char *q = pf_strtab_get(t->strings, code->qualname, &ql);
            if (f == NULL)
                f = "?", fl = 1;
            if (q == NULL)
                q = "?", ql = 1;
            const char *sf = pf_path_short(t, f, fl, &sl);
            fputs("| ", r);
            pf_md_escape(r, sf, sl, 100);
            fprintf(r, ":%u | ", l->line);
            pf_md_escape(r, q, ql, 100);
            fprintf(r, " | %s | %s | %s |", pf_units_count(a, sizeof a, l->hits),
                    pf_units_ns(b, sizeof b, l->self_ns), pf_units_ns(c, sizeof c, l->total_ns));
            if (memory)
                fprintf(r, " %s |", pf_units_bytes(a, sizeof a, l->mem.alloc_bytes, 0));
            fputs("\n", r);
            row_end(&d, r, &rp, &rn);
        }
        fputs("\n", d.f);
    }
    if (d.cut)
        fprintf(d.f, "_%ld more rows not shown: this summary stays under %u KB._\n", d.cut,
                PF_MD_LIMIT / 1024);
    fputs("<sub>pyflame-c</sub>\n", d.f);
    fclose(d.f);
    pf_free(idx);
    if (d.len && fwrite(d.buf, 1, d.len, out) != d.len) {
        free(d.buf);
        return pf_error_set(err, PF_EIO, "write error: %s", strerror(errno ? errno : EIO));
    }
    free(d.buf);
    return 0;
nomem:
    fclose(d.f);
    free(d.buf);
    pf_free(idx);
    return pf_error_set(err, PF_ENOMEM, NULL);
}
