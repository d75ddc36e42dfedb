/* lines.c: the per-line TSV table (see lines.h). */
#include "convert/lines.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "formats/alloc.h"

void pf_tsv_put(FILE *out, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        switch (s[i]) {
        case '\\': fputs("\\\\", out); break;
        case '\t': fputs("\\t", out); break;
        case '\n': fputs("\\n", out); break;
        case '\r': fputs("\\r", out); break;
        default:   putc(s[i], out); break;
        }
    }
}

static const pf_trace *sort_trace;

static int cmp_str(uint32_t a, uint32_t b)
{
    if (a == b)
        return 0;
    size_t an = 0, bn = 0;
    const char *as = pf_strtab_get(sort_trace->strings, a, &an);
    const char *bs = pf_strtab_get(sort_trace->strings, b, &bn);
    if (as == NULL || bs == NULL)
        return (as == NULL) - (bs == NULL);
    int c = memcmp(as, bs, an < bn ? an : bn);
    return c ? c : (an > bn) - (an < bn);
}

static int cmp_lines(const void *pa, const void *pb)
{
    uint32_t ia = *(const uint32_t *)pa, ib = *(const uint32_t *)pb;
    const pf_line *a = &sort_trace->lines[ia], *b = &sort_trace->lines[ib];
    const pf_code *ca = &sort_trace->codes[a->code], *cb = &sort_trace->codes[b->code];
    int c = cmp_str(ca->file, cb->file);
    if (c)
        return c;
    if (a->line != b->line)
        return a->line < b->line ? -1 : 1;
    c = cmp_str(ca->qualname, cb->qualname);
    if (c)
        return c;
    return (ia > ib) - (ia < ib);
}

int pf_lines_write(const pf_trace *t, FILE *out, pf_error *err)
{
    if (!(t->meta.modes & PF_MODE_LINES))
        return pf_error_set(err, PF_EEMPTY,
                            "the trace has no line data (it was recorded without line mode)");
    int memory = (t->meta.modes & PF_MODE_MEMORY) != 0;
    for (uint32_t i = 0; i < t->nlines; i++)
        if (t->lines[i].code >= t->ncodes)
            return pf_error_set(err, PF_ECORRUPT, "line record %u: bad code index", i);
    uint32_t *order = pf_malloc((t->nlines ? t->nlines : 1) * sizeof *order);
    if (order == NULL)
        return pf_error_set(err, PF_ENOMEM, NULL);
    for (uint32_t i = 0; i < t->nlines; i++)
        order[i] = i;
    sort_trace = t;
    qsort(order, t->nlines, sizeof *order, cmp_lines);

    fputs("file\tline\tfunction\thits\ttime_ns\tself_ns", out);
    if (memory)
        fputs("\talloc_bytes\talloc_count\tpeak_bytes\texit_bytes", out);
    putc('\n', out);
    for (uint32_t i = 0; i < t->nlines; i++) {
        const pf_line *l = &t->lines[order[i]];
        const pf_code *c = &t->codes[l->code];
        size_t n = 0;
        const char *s = pf_strtab_get(t->strings, c->file, &n);
        pf_tsv_put(out, s ? s : "", s ? n : 0);
        fprintf(out, "\t%u\t", l->line);
        s = pf_strtab_get(t->strings, c->qualname, &n);
        pf_tsv_put(out, s ? s : "", s ? n : 0);
        fprintf(out, "\t%" PRIu64 "\t%" PRIu64 "\t%" PRIu64, l->hits, l->total_ns, l->self_ns);
        if (memory)
            fprintf(out, "\t%" PRIu64 "\t%" PRIu64 "\t%" PRIu64 "\t%" PRIu64,
                    l->mem.alloc_bytes, l->mem.alloc_count, l->mem.peak_bytes,
                    l->mem.exit_bytes);
        putc('\n', out);
    }
    pf_free(order);
    if (ferror(out))
        return pf_error_set(err, PF_EIO, "write error: %s", strerror(errno ? errno : EIO));
    return 0;
}
