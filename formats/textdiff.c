/* textdiff.c: line alignment (contract in textdiff.h).
 *
 * Algorithm.  A work stack of tasks, each either a range (a[alo..ahi), b[blo..bhi))
 * to align or a run of equal lines to emit, is popped in order, so rows come out
 * front to back without recursion.  A range first sheds its common prefix and
 * suffix; then the lines that occur exactly once in each side's part become
 * candidate anchors, the longest run of them increasing on both sides is kept
 * (patience sorting, O(k log k)), and the gaps between anchors are pushed as new
 * ranges.  A range without anchors is solved exactly (LCS table) when small, else
 * left as one hunk.  A last pass pairs each hunk's deleted and inserted lines in
 * order as changed lines.
 *
 * Bounds: every range visit is charged its length to a budget (WORK_BUDGET line
 * visits); once it is spent, ranges become hunks.  The LCS table is at most
 * LCS_CELLS cells.  Memory is O(na + nb) besides.
 */
#include "textdiff.h"

#include <string.h>

#include "alloc.h"
#include "hash.h"
#include "hashmap.h"

#define WORK_BUDGET ((uint64_t)40 << 20)
#define LCS_CELLS ((uint64_t)1 << 20)
#define MAX_LINES ((uint32_t)1 << 31)

int pf_td_split(const char *text, size_t len, pf_td_line **lines, uint32_t *n, pf_error *err)
{
    *lines = NULL;
    *n = 0;
    if (len == 0 || text == NULL)
        return 0;
    size_t count = 0;
    for (const char *p = text, *e = text + len; p < e;) {
        const char *nl = memchr(p, '\n', (size_t)(e - p));
        count++;
        p = nl ? nl + 1 : e;
    }
    if (count >= MAX_LINES)
        return pf_error_set(err, PF_ELIMIT, "more than %u lines", MAX_LINES);
    pf_td_line *l = pf_malloc(count * sizeof *l);
    if (l == NULL)
        return pf_error_set(err, PF_ENOMEM, NULL);
    size_t i = 0;
    for (const char *p = text, *e = text + len; p < e; i++) {
        const char *nl = memchr(p, '\n', (size_t)(e - p));
        const char *end = nl ? nl : e;
        l[i].p = p;
        l[i].n = (size_t)(end - p);
        p = nl ? nl + 1 : e;
    }
    *lines = l;
    *n = (uint32_t)count;
    return 0;
}

/* The line without trailing blanks and '\r'. */
static size_t trimmed(const pf_td_line *l)
{
    size_t n = l->n;
    while (n > 0 && (l->p[n - 1] == ' ' || l->p[n - 1] == '\t' || l->p[n - 1] == '\r'))
        n--;
    return n;
}

struct td {
    const pf_td_line *a, *b;
    uint64_t *ha, *hb;            /* hash of each trimmed line */
    pf_td_row *rows;
    uint32_t nrows, cap_rows;
    uint64_t work;
};

static int eq(const struct td *d, uint32_t i, uint32_t j)
{
    if (d->ha[i] != d->hb[j])
        return 0;
    size_t n = trimmed(&d->a[i]);
    return n == trimmed(&d->b[j]) && memcmp(d->a[i].p, d->b[j].p, n) == 0;
}

/* rows never outgrow na + nb, allocated up front */
static void emit(struct td *d, uint32_t a, uint32_t b, uint32_t kind)
{
    d->rows[d->nrows++] = (pf_td_row){ a, b, kind };
}

enum { T_RANGE, T_EQRUN };
struct task {
    uint32_t kind, alo, ahi, blo, bhi;
};

struct stack {
    struct task *t;
    size_t n, cap;
};

static int push(struct stack *s, struct task t)
{
    if (s->n == s->cap) {
        size_t nc = s->cap ? s->cap * 2 : 64;
        struct task *nt = pf_reallocarray(s->t, nc, sizeof *nt);
        if (nt == NULL)
            return -1;
        s->t = nt;
        s->cap = nc;
    }
    s->t[s->n++] = t;
    return 0;
}

/* One occurrence count per distinct line hash of a range. */
struct occ {
    uint32_t na, nb, apos, bpos;
};

/* Anchors of the range: pairs (i, j) of lines unique on both sides, longest run
 * increasing in both, into ai/bj (capacity: the range's a length).  Returns the count
 * or -1 (out of memory). */
static long anchors(struct td *d, uint32_t alo, uint32_t ahi, uint32_t blo, uint32_t bhi,
                    uint32_t *ai, uint32_t *bj)
{
    uint32_t na = ahi - alo;
    pf_hmap *m = pf_hmap_new(na);
    struct occ *o = pf_malloc((size_t)na * sizeof *o);
    uint32_t *cand = pf_malloc((size_t)na * sizeof *cand);
    uint32_t *tails = pf_malloc((size_t)na * sizeof *tails), *prev = pf_malloc((size_t)na * sizeof *prev);
    long k = -1;
    uint32_t no = 0, nc = 0;
    if (!m || !o || !cand || !tails || !prev)
        goto done;
    for (uint32_t i = alo; i < ahi; i++) {
        int ins;
        uint32_t *s = pf_hmap_slot(m, d->ha[i], &ins);
        if (s == NULL)
            goto done;
        if (ins) {
            *s = no;
            o[no++] = (struct occ){ 0, 0, i, 0 };
        }
        o[*s].na++;
    }
    for (uint32_t j = blo; j < bhi; j++) {
        uint32_t s = pf_hmap_get(m, d->hb[j]);
        if (s != PF_HMAP_NONE && o[s].nb++ == 0)
            o[s].bpos = j;
    }
    /* candidates in a order: unique on both sides, and really equal (not a collision) */
    for (uint32_t i = alo; i < ahi; i++) {
        uint32_t s = pf_hmap_get(m, d->ha[i]);
        if (o[s].na == 1 && o[s].nb == 1 && eq(d, i, o[s].bpos))
            cand[nc++] = s;
    }
    /* longest increasing subsequence of bpos over the candidates */
    uint32_t len = 0;
    for (uint32_t c = 0; c < nc; c++) {
        uint32_t bp = o[cand[c]].bpos, lo = 0, hi = len;
        while (lo < hi) {
            uint32_t mid = (lo + hi) / 2;
            if (o[cand[tails[mid]]].bpos < bp)
                lo = mid + 1;
            else
                hi = mid;
        }
        prev[c] = lo ? tails[lo - 1] : UINT32_MAX;
        tails[lo] = c;
        if (lo == len)
            len++;
    }
    k = len;
    for (uint32_t c = len ? tails[len - 1] : UINT32_MAX, at = len; c != UINT32_MAX; c = prev[c]) {
        at--;
        ai[at] = o[cand[c]].apos;
        bj[at] = o[cand[c]].bpos;
    }
done:
    pf_hmap_free(m);
    pf_free(o);
    pf_free(cand);
    pf_free(tails);
    pf_free(prev);
    return k;
}

/* Exact alignment of a small range by an LCS table of suffixes. */
static int lcs(struct td *d, uint32_t alo, uint32_t ahi, uint32_t blo, uint32_t bhi)
{
    uint32_t na = ahi - alo, nb = bhi - blo;
    size_t w = (size_t)nb + 1;
    uint16_t *L = pf_calloc(((size_t)na + 1) * w, sizeof *L);
    if (L == NULL)
        return -1;
    for (uint32_t i = na; i-- > 0;)
        for (uint32_t j = nb; j-- > 0;) {
            uint16_t v;
            if (eq(d, alo + i, blo + j))
                v = (uint16_t)(L[(i + 1) * w + j + 1] + 1);
            else {
                uint16_t x = L[(i + 1) * w + j], y = L[i * w + j + 1];
                v = x > y ? x : y;
            }
            L[i * w + j] = v;
        }
    uint32_t i = 0, j = 0;
    while (i < na && j < nb) {
        if (eq(d, alo + i, blo + j)) {
            emit(d, alo + i++, blo + j++, PF_TD_EQUAL);
        } else if (L[(i + 1) * w + j] >= L[i * w + j + 1]) {
            emit(d, alo + i++, PF_TD_NONE, PF_TD_DELETED);
        } else {
            emit(d, PF_TD_NONE, blo + j++, PF_TD_INSERTED);
        }
    }
    for (; i < na; i++)
        emit(d, alo + i, PF_TD_NONE, PF_TD_DELETED);
    for (; j < nb; j++)
        emit(d, PF_TD_NONE, blo + j, PF_TD_INSERTED);
    pf_free(L);
    return 0;
}

static int solve(struct td *d, struct stack *st, struct task t, uint32_t *ai, uint32_t *bj)
{
    uint32_t alo = t.alo, ahi = t.ahi, blo = t.blo, bhi = t.bhi;
    while (alo < ahi && blo < bhi && eq(d, alo, blo))
        emit(d, alo++, blo++, PF_TD_EQUAL);
    uint32_t s = 0;
    while (ahi - s > alo && bhi - s > blo && eq(d, ahi - 1 - s, bhi - 1 - s))
        s++;
    if (s && push(st, (struct task){ T_EQRUN, ahi - s, ahi, bhi - s, bhi }) < 0)
        return -1;
    ahi -= s;
    bhi -= s;
    if (alo == ahi || blo == bhi) {
        for (; alo < ahi; alo++)
            emit(d, alo, PF_TD_NONE, PF_TD_DELETED);
        for (; blo < bhi; blo++)
            emit(d, PF_TD_NONE, blo, PF_TD_INSERTED);
        return 0;
    }
    uint64_t na = ahi - alo, nb = bhi - blo;
    d->work += na + nb;
    if (d->work <= WORK_BUDGET) {
        long k = anchors(d, alo, ahi, blo, bhi, ai, bj);
        if (k < 0)
            return -1;
        if (k > 0) {
            /* pushed last-first: the range after the last anchor, then each anchor
             * and the range before it */
            if (push(st, (struct task){ T_RANGE, ai[k - 1] + 1, ahi, bj[k - 1] + 1, bhi }) < 0)
                return -1;
            for (long c = k; c-- > 0;) {
                uint32_t pa = c ? ai[c - 1] + 1 : alo, pb = c ? bj[c - 1] + 1 : blo;
                if (push(st, (struct task){ T_EQRUN, ai[c], ai[c] + 1, bj[c], bj[c] + 1 }) < 0 ||
                    push(st, (struct task){ T_RANGE, pa, ai[c], pb, bj[c] }) < 0)
                    return -1;
            }
            return 0;
        }
        if (na * nb <= LCS_CELLS)
            return lcs(d, alo, ahi, blo, bhi);
    }
    for (; alo < ahi; alo++)
        emit(d, alo, PF_TD_NONE, PF_TD_DELETED);
    for (; blo < bhi; blo++)
        emit(d, PF_TD_NONE, blo, PF_TD_INSERTED);
    return 0;
}

/* Pairs each hunk's deleted and inserted lines in order as changed lines. */
static int pair_hunks(struct td *d)
{
    pf_td_row *out = pf_malloc((d->nrows ? d->nrows : 1) * sizeof *out);
    uint32_t *dels = pf_malloc((d->nrows ? d->nrows : 1) * sizeof *dels);
    uint32_t *inss = pf_malloc((d->nrows ? d->nrows : 1) * sizeof *inss);
    if (!out || !dels || !inss) {
        pf_free(out);
        pf_free(dels);
        pf_free(inss);
        return -1;
    }
    uint32_t n = 0;
    for (uint32_t i = 0; i < d->nrows;) {
        if (d->rows[i].kind == PF_TD_EQUAL) {
            out[n++] = d->rows[i++];
            continue;
        }
        uint32_t nd = 0, ni = 0;
        for (; i < d->nrows && d->rows[i].kind != PF_TD_EQUAL; i++) {
            if (d->rows[i].kind == PF_TD_DELETED)
                dels[nd++] = d->rows[i].a;
            else
                inss[ni++] = d->rows[i].b;
        }
        uint32_t k = 0;
        for (; k < nd && k < ni; k++)
            out[n++] = (pf_td_row){ dels[k], inss[k], PF_TD_CHANGED };
        for (uint32_t x = k; x < nd; x++)
            out[n++] = (pf_td_row){ dels[x], PF_TD_NONE, PF_TD_DELETED };
        for (uint32_t x = k; x < ni; x++)
            out[n++] = (pf_td_row){ PF_TD_NONE, inss[x], PF_TD_INSERTED };
    }
    pf_free(d->rows);
    pf_free(dels);
    pf_free(inss);
    d->rows = out;
    d->nrows = n;
    return 0;
}

int pf_td_align(const pf_td_line *a, uint32_t na, const pf_td_line *b, uint32_t nb,
                pf_td_row **rows, uint32_t *nrows, pf_error *err)
{
    struct td d;
    memset(&d, 0, sizeof d);
    struct stack st = { NULL, 0, 0 };
    uint32_t *ai = NULL, *bj = NULL;
    *rows = NULL;
    *nrows = 0;
    d.a = a;
    d.b = b;
    size_t cap = (size_t)na + nb;
    d.rows = pf_malloc((cap ? cap : 1) * sizeof *d.rows);
    d.ha = pf_malloc(((size_t)na + 1) * sizeof *d.ha);
    d.hb = pf_malloc(((size_t)nb + 1) * sizeof *d.hb);
    ai = pf_malloc(((size_t)na + 1) * sizeof *ai);
    bj = pf_malloc(((size_t)na + 1) * sizeof *bj);
    if (!d.rows || !d.ha || !d.hb || !ai || !bj)
        goto nomem;
    for (uint32_t i = 0; i < na; i++)
        d.ha[i] = pf_hash_bytes(a[i].p, trimmed(&a[i]));
    for (uint32_t j = 0; j < nb; j++)
        d.hb[j] = pf_hash_bytes(b[j].p, trimmed(&b[j]));
    if (push(&st, (struct task){ T_RANGE, 0, na, 0, nb }) < 0)
        goto nomem;
    while (st.n > 0) {
        struct task t = st.t[--st.n];
        if (t.kind == T_EQRUN) {
            for (uint32_t k = 0; k < t.ahi - t.alo; k++)
                emit(&d, t.alo + k, t.blo + k, PF_TD_EQUAL);
        } else if (solve(&d, &st, t, ai, bj) < 0) {
            goto nomem;
        }
    }
    if (pair_hunks(&d) < 0)
        goto nomem;
    pf_free(st.t);
    pf_free(d.ha);
    pf_free(d.hb);
    pf_free(ai);
    pf_free(bj);
    *rows = d.rows;
    *nrows = d.nrows;
    return 0;
nomem:
    pf_free(st.t);
    pf_free(d.rows);
    pf_free(d.ha);
    pf_free(d.hb);
    pf_free(ai);
    pf_free(bj);
    return pf_error_set(err, PF_ENOMEM, NULL);
}
