/* pstats.c: marshals pf_funcstats in pstats' layout (convert/PSTATS_FORMAT.md section 3.1):
 *     '{' { key (cc nc tt ct callers) } '0'
 * Each key tuple and each filename is flagged for reference the first time it is
 * written, whether as a top-level key or inside some callers dict, and written as
 * 'r' <index> afterwards. */
#include "convert/pstats.h"

#include <string.h>

#include "formats/alloc.h"
#include "formats/marshal.h"
#include "formats/trace.h"

struct refs {
    uint32_t *key;    /* per key: its tuple's reference index, or PF_NONE */
    uint32_t *file;   /* per file id */
};

static void write_key(pf_marshal *m, const pf_funcstats *s, struct refs *r, uint32_t k)
{
    if (r->key[k] != PF_NONE) {
        pf_marshal_ref(m, r->key[k]);
        return;
    }
    const pf_fkey *key = &s->keys[k];
    pf_marshal_tuple(m, 3, &r->key[k]);
    if (r->file[key->file_id] != PF_NONE)
        pf_marshal_ref(m, r->file[key->file_id]);
    else
        pf_marshal_str(m, key->file, key->file_len, &r->file[key->file_id]);
    pf_marshal_uint(m, key->line, NULL);
    pf_marshal_str(m, key->name, key->name_len, NULL);
}

static double seconds(uint64_t ns)
{
    return (double)ns / 1e9;
}

/* How to write: cProfile's numbers, or a sampled trace's (interval_ns > 0). */
struct how {
    uint64_t interval_ns;     /* sampled: counts are times / interval_ns */
    int marker;               /* sampled: add 3.15's ("__sampled__",): True */
};

static uint64_t count_of(const struct how *h, uint64_t ns)
{
    return (ns + h->interval_ns / 2) / h->interval_ns;
}

static int write_all(const pf_funcstats *s, pf_marshal *m, const struct how *h, pf_error *err)
{
    struct refs r = { NULL, NULL };
    int any = 0;
    /* a sampled function may have no sample of its own (nc) and still be on stacks */
#define LISTED(key) ((key)->nc != 0 || (h->interval_ns && (key)->ct_ns != 0))
    for (uint32_t k = 0; k < s->nkeys; k++)
        any |= LISTED(&s->keys[k]);
    if (!any)
        return pf_error_set(err, PF_EEMPTY,
                            "no calls recorded (a pstats file cannot be empty)");
    r.key = pf_malloc((s->nkeys ? s->nkeys : 1) * sizeof *r.key);
    r.file = pf_malloc((s->nfiles ? s->nfiles : 1) * sizeof *r.file);
    if (r.key == NULL || r.file == NULL) {
        pf_free(r.key);
        pf_free(r.file);
        return pf_error_set(err, PF_ENOMEM, NULL);
    }
    memset(r.key, 0xFF, (s->nkeys ? s->nkeys : 1) * sizeof *r.key);
    memset(r.file, 0xFF, (s->nfiles ? s->nfiles : 1) * sizeof *r.file);

    pf_marshal_dict_begin(m, NULL);
    for (uint32_t k = 0; k < s->nkeys; k++) {
        const pf_fkey *key = &s->keys[k];
        if (!LISTED(key))
            continue;
        write_key(m, s, &r, k);
        pf_marshal_tuple(m, 5, NULL);
        if (h->interval_ns) {
            /* profiling.sampling's layout: samples innermost (its "direct calls"), samples
             * on the stack, then the times they stand for */
            pf_marshal_uint(m, count_of(h, key->tt_ns), NULL);
            pf_marshal_uint(m, count_of(h, key->ct_ns), NULL);
        } else {
            pf_marshal_uint(m, key->cc, NULL);
            pf_marshal_uint(m, key->nc, NULL);
        }
        pf_marshal_float(m, seconds(key->tt_ns), NULL);
        pf_marshal_float(m, seconds(key->ct_ns), NULL);
        pf_marshal_dict_begin(m, NULL);
        for (uint32_t i = 0; i < key->ncallers; i++) {
            const pf_fedge *e = &s->edges[key->first_caller + i];
            write_key(m, s, &r, e->caller);
            if (h->interval_ns) {      /* the samples through the call, as an int */
                pf_marshal_uint(m, count_of(h, e->ct_ns), NULL);
                continue;
            }
            pf_marshal_tuple(m, 4, NULL);
            pf_marshal_uint(m, e->nc, NULL);
            pf_marshal_uint(m, e->cc, NULL);
            pf_marshal_float(m, seconds(e->tt_ns), NULL);
            pf_marshal_float(m, seconds(e->ct_ns), NULL);
        }
        pf_marshal_dict_end(m);
    }
    if (h->interval_ns && h->marker) {
        pf_marshal_tuple(m, 1, NULL);
        pf_marshal_str(m, "__sampled__", 11, NULL);
        pf_marshal_bool(m, 1);
    }
    pf_marshal_dict_end(m);
#undef LISTED
    pf_free(r.key);
    pf_free(r.file);
    return pf_marshal_finish(m, err);
}

int pf_pstats_write(const pf_funcstats *s, FILE *out, pf_error *err)
{
    return pf_pstats_write_sampled(s, 0, 0, out, err);
}

int pf_pstats_write_sampled(const pf_funcstats *s, uint64_t interval_ns, int marker,
                            FILE *out, pf_error *err)
{
    struct how h = { interval_ns, marker };
    pf_marshal *m = pf_marshal_new(out);
    if (m == NULL)
        return pf_error_set(err, PF_ENOMEM, NULL);
    int rc = write_all(s, m, &h, err);
    pf_marshal_free(m);
    return rc;
}

int pf_pstats_write_mem(const pf_funcstats *s, unsigned char **data, size_t *len,
                        pf_error *err)
{
    struct how h = { 0, 0 };
    pf_marshal *m = pf_marshal_new(NULL);
    if (m == NULL)
        return pf_error_set(err, PF_ENOMEM, NULL);
    int rc = write_all(s, m, &h, err);
    if (rc == 0) {
        size_t n;
        const unsigned char *b = pf_marshal_data(m, &n);
        *data = pf_malloc(n ? n : 1);
        if (*data == NULL) {
            rc = pf_error_set(err, PF_ENOMEM, NULL);
        } else {
            memcpy(*data, b, n);
            *len = n;
        }
    }
    pf_marshal_free(m);
    return rc;
}
