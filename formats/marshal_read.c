/* marshal_read.c: the bounded marshal reader (see marshal_read.h).
 *
 * Recursive descent, one value per type byte, depth-limited.  FLAG_REF (0x80 on the
 * type byte) appends the value to the reference table; containers reserve their slot
 * before their items (as CPython's r_ref_reserve does) and fill it when complete, so a
 * reference to an unfinished container (a cycle) is refused.  Dict items are gathered
 * on a scratch stack (their count is known only at the '0' terminator), then copied
 * to kids. */
#include "formats/marshal_read.h"

#include <stdlib.h>
#include <string.h>

#include "formats/alloc.h"

#define FLAG_REF 0x80
#define UNFILLED UINT32_MAX

struct rd {
    const unsigned char *p;
    size_t len, pos;
    uint64_t used, max;
    pf_mread *m;
    uint32_t capv, capk;
    uint32_t *refs;
    uint32_t nrefs, capr;
    uint32_t *stack;            /* dict scratch */
    uint32_t nstack, caps;
    pf_error *err;
};

static int trunc_err(struct rd *r)
{
    return pf_error_set(r->err, PF_ETRUNC, "truncated marshal data at offset %zu", r->pos);
}

static int charge(struct rd *r, size_t n)
{
    r->used += n;
    if (r->max && r->used > r->max)
        return pf_error_set(r->err, PF_ELIMIT, "the marshal data needs more than its memory "
                            "budget at offset %zu (raise it with --max-memory)", r->pos);
    return 0;
}

/* Grows *arr (of elem-size bytes, capacity *cap) to hold n+1; -1 with err set. */
static int grow(struct rd *r, void **arr, uint32_t *cap, uint32_t n, size_t elem)
{
    if (n < *cap)
        return 0;
    if (*cap >= UINT32_MAX / 2)
        return pf_error_set(r->err, PF_ELIMIT, "too many marshal values");
    uint32_t ncap = *cap ? *cap * 2 : 64;
    if (charge(r, (size_t)(ncap - *cap) * elem) < 0)
        return -1;
    void *a = pf_reallocarray(*arr, ncap, elem);
    if (a == NULL)
        return pf_error_set(r->err, PF_ENOMEM, NULL);
    *arr = a;
    *cap = ncap;
    return 0;
}

static int need(struct rd *r, size_t n)
{
    return r->len - r->pos < n ? trunc_err(r) : 0;
}

static uint32_t u32(struct rd *r)
{
    const unsigned char *b = r->p + r->pos;
    r->pos += 4;
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

static int new_val(struct rd *r, uint32_t *out)
{
    if (grow(r, (void **)&r->m->vals, &r->capv, r->m->nvals, sizeof(pf_mval)) < 0)
        return -1;
    *out = r->m->nvals++;
    memset(&r->m->vals[*out], 0, sizeof(pf_mval));
    return 0;
}

static int parse(struct rd *r, uint32_t *out, int depth);

/* A container's items: n values into kids[first..first+n). */
static int items(struct rd *r, pf_mval *tmpl, uint32_t idx, uint32_t n, int depth)
{
    /* every item takes at least one input byte: refuse counts the input cannot hold */
    if (n > r->len - r->pos)
        return trunc_err(r);
    if (r->m->nkids > UINT32_MAX - n)
        return pf_error_set(r->err, PF_ELIMIT, "too many marshal values");
    uint32_t first = r->m->nkids;
    while (r->capk < first + n)
        if (grow(r, (void **)&r->m->kids, &r->capk, r->capk, sizeof(uint32_t)) < 0)
            return -1;
    r->m->nkids += n;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t k;
        if (parse(r, &k, depth + 1) < 0)
            return -1;
        r->m->kids[first + i] = k;
    }
    pf_mval *v = &r->m->vals[idx];
    *v = *tmpl;
    v->n = n;
    v->u.first = first;
    return 0;
}

static int parse(struct rd *r, uint32_t *out, int depth)
{
    if (depth > PF_MARSHAL_MAX_DEPTH)
        return pf_error_set(r->err, PF_ELIMIT, "marshal data nested deeper than %d levels at "
                            "offset %zu", PF_MARSHAL_MAX_DEPTH, r->pos);
    if (need(r, 1) < 0)
        return -1;
    size_t at = r->pos;
    unsigned code = r->p[r->pos++];
    int flag = (code & FLAG_REF) != 0;
    unsigned type = code & ~(unsigned)FLAG_REF;
    uint32_t ref = UNFILLED;
    if (flag) {
        if (grow(r, (void **)&r->refs, &r->capr, r->nrefs, sizeof(uint32_t)) < 0)
            return -1;
        ref = r->nrefs++;
        r->refs[ref] = UNFILLED;
    }
    uint32_t idx;
    pf_mval v;
    memset(&v, 0, sizeof v);
    switch (type) {
    case 'r': {
        if (need(r, 4) < 0)
            return -1;
        uint32_t k = u32(r);
        if (k >= r->nrefs || r->refs[k] == UNFILLED)
            return pf_error_set(r->err, PF_ECORRUPT, "bad marshal back-reference %u at offset "
                                "%zu", k, at);
        *out = r->refs[k];
        if (flag)
            r->refs[ref] = *out;
        return 0;
    }
    case 'N': v.type = PF_MV_NONE; break;
    case 'F': case 'T': v.type = PF_MV_BOOL; v.u.i = type == 'T'; break;
    case 'i':
        if (need(r, 4) < 0)
            return -1;
        v.type = PF_MV_INT;
        v.u.i = (int32_t)u32(r);
        break;
    case 'l': {
        if (need(r, 4) < 0)
            return -1;
        int32_t nd = (int32_t)u32(r);
        uint32_t digits = nd < 0 ? (uint32_t)-(int64_t)nd : (uint32_t)nd;
        if (nd == INT32_MIN || (size_t)digits * 2 > r->len - r->pos)
            return trunc_err(r);
        /* base 2^15 digits, least significant first */
        uint64_t u = 0;
        int big = 0;
        for (uint32_t k = 0; k < digits; k++) {
            unsigned d = r->p[r->pos + 2 * k] | (unsigned)r->p[r->pos + 2 * k + 1] << 8;
            if (d > 0x7fff)
                return pf_error_set(r->err, PF_ECORRUPT, "bad marshal long digit at offset %zu",
                                    r->pos + 2 * k);
            if (k >= 5 || (k == 4 && d >= 0x10))
                big = 1;
            else
                u |= (uint64_t)d << (15 * k);
        }
        r->pos += (size_t)digits * 2;
        v.type = PF_MV_INT;
        v.big = (uint8_t)(big || u > INT64_MAX);
        v.u.i = v.big ? (nd < 0 ? INT64_MIN : INT64_MAX) : nd < 0 ? -(int64_t)u : (int64_t)u;
        break;
    }
    case 'g': {
        if (need(r, 8) < 0)
            return -1;
        uint64_t bits = 0;
        for (int k = 7; k >= 0; k--)
            bits = bits << 8 | r->p[r->pos + (size_t)k];
        r->pos += 8;
        v.type = PF_MV_FLOAT;
        memcpy(&v.u.f, &bits, sizeof v.u.f);
        break;
    }
    case 'f': {   /* marshal version 0/1 text float: u8 length, ASCII */
        if (need(r, 1) < 0)
            return -1;
        unsigned n = r->p[r->pos++];
        char buf[257];
        if (need(r, n) < 0)
            return -1;
        memcpy(buf, r->p + r->pos, n);
        buf[n] = '\0';
        r->pos += n;
        v.type = PF_MV_FLOAT;
        v.u.f = strtod(buf, NULL);
        break;
    }
    case 'z': case 'Z': {
        if (need(r, 1) < 0)
            return -1;
        v.n = r->p[r->pos++];
        goto string;
    }
    case 'a': case 'A': case 'u': case 't': case 's':
        if (need(r, 4) < 0)
            return -1;
        v.n = u32(r);
    string:
        if (v.n > r->len - r->pos)
            return trunc_err(r);
        v.type = type == 's' ? PF_MV_BYTES : PF_MV_STR;
        v.s = (const char *)r->p + r->pos;
        r->pos += v.n;
        break;
    case ')': case '(': case '[': {
        uint32_t n;
        if (type == ')') {
            if (need(r, 1) < 0)
                return -1;
            n = r->p[r->pos++];
        } else {
            if (need(r, 4) < 0)
                return -1;
            n = u32(r);
        }
        if (new_val(r, &idx) < 0)
            return -1;
        v.type = type == '[' ? PF_MV_LIST : PF_MV_TUPLE;
        if (items(r, &v, idx, n, depth) < 0)
            return -1;
        goto done;
    }
    case '{': {
        if (new_val(r, &idx) < 0)
            return -1;
        uint32_t base = r->nstack;
        for (;;) {
            if (need(r, 1) < 0)
                return -1;
            if (r->p[r->pos] == '0') {
                r->pos++;
                break;
            }
            for (int kv = 0; kv < 2; kv++) {
                uint32_t k;
                if (parse(r, &k, depth + 1) < 0)
                    return -1;
                if (grow(r, (void **)&r->stack, &r->caps, r->nstack, sizeof(uint32_t)) < 0)
                    return -1;
                r->stack[r->nstack++] = k;
            }
        }
        uint32_t n = r->nstack - base, first = r->m->nkids;
        while (r->capk < first + n)
            if (grow(r, (void **)&r->m->kids, &r->capk, r->capk, sizeof(uint32_t)) < 0)
                return -1;
        if (n > 0)      /* an empty dict may come before any array exists */
            memcpy(r->m->kids + first, r->stack + base, sizeof(uint32_t) * n);
        r->m->nkids += n;
        r->nstack = base;
        pf_mval *d = &r->m->vals[idx];
        d->type = PF_MV_DICT;
        d->n = n / 2;
        d->u.first = first;
        goto done;
    }
    case 'c':
        return pf_error_set(r->err, PF_ECORRUPT, "unsupported marshal type 'c' (code object) at "
                            "offset %zu: not a data file", at);
    default:
        if (type >= 0x20 && type < 0x7f)
            return pf_error_set(r->err, PF_ECORRUPT, "unsupported marshal type '%c' at offset %zu",
                                (char)type, at);
        return pf_error_set(r->err, PF_ECORRUPT, "bad marshal type byte 0x%02x at offset %zu",
                            code, at);
    }
    if (new_val(r, &idx) < 0)
        return -1;
    r->m->vals[idx] = v;
done:
    if (flag)
        r->refs[ref] = idx;
    *out = idx;
    return 0;
}

pf_mread *pf_mread_parse(const unsigned char *data, size_t len, uint64_t max_bytes,
                         pf_error *err)
{
    struct rd r;
    memset(&r, 0, sizeof r);
    r.p = data;
    r.len = len;
    r.max = max_bytes;
    r.err = err;
    r.m = pf_calloc(1, sizeof *r.m);
    if (r.m == NULL) {
        pf_error_set(err, PF_ENOMEM, NULL);
        return NULL;
    }
    int rc = parse(&r, &r.m->root, 0);
    if (rc == 0 && r.pos != len)
        rc = pf_error_set(err, PF_ECORRUPT, "%zu bytes after the marshal data at offset %zu",
                          len - r.pos, r.pos);
    pf_free(r.refs);
    pf_free(r.stack);
    if (rc < 0) {
        pf_mread_free(r.m);
        return NULL;
    }
    return r.m;
}

void pf_mread_free(pf_mread *m)
{
    if (m == NULL)
        return;
    pf_free(m->vals);
    pf_free(m->kids);
    pf_free(m);
}

int pf_mread_num(const pf_mval *v, double *out)
{
    if (v->type == PF_MV_FLOAT) {
        *out = v->u.f;
        return 0;
    }
    if (v->type == PF_MV_INT || v->type == PF_MV_BOOL) {
        *out = (double)v->u.i;
        return 0;
    }
    return -1;
}
