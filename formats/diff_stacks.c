/* diff_stacks.c: the differential stack tree of `pyflame-c diff` (see diff.h).
 *
 * Each side's runs are merged into one tree by exact frame names (several runs: one
 * value per run and node, the median at the end).  Then NEW's tree becomes the
 * result: its values move to the second column, and BASE's tree is merged into the
 * first column node by node, each BASE frame name first renamed to the NEW name it
 * matches.  Names match by key (the name without its line, thread ident or process
 * id): equal names first, then the rest of a key's names in line order, as
 * functions do.  Last, a frame under the root receives a copy of every stack found
 * only in BASE, so that what vanished can be reached in a graph sized by NEW.
 *
 * Memory: the two sides' trees, then the result grows by the vanished copies.  Work
 * is linear in the nodes (hash lookups), plus sorting the distinct names.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "diff_internal.h"
#include "hash.h"
#include "hashmap.h"

/* ---- frame names ---------------------------------------------------------------- */

static int all_digits(const char *p, size_t n)
{
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (p[i] < '0' || p[i] > '9')
            return 0;
    return 1;
}

static uint32_t to_u32(const char *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        v = v * 10 + (uint64_t)(p[i] - '0');
        if (v > UINT32_MAX - 1)
            return UINT32_MAX - 1;
    }
    return (uint32_t)v;
}

void pf_diff_parse_frame_(const char *s, size_t n, struct pf_diff_fname *o)
{
    memset(o, 0, sizeof *o);
    o->func = s;
    o->func_len = n;
    o->file = "";
    o->key = s;
    o->key_len = n;
    o->key_is_name = 1;
    /* "func (file:line)" */
    if (n >= 6 && s[n - 1] == ')') {
        const char *open = NULL;
        for (size_t i = n - 1; i-- > 0;)
            if (s[i] == '(' && i > 0 && s[i - 1] == ' ') {
                open = s + i;
                break;
            }
        if (open) {
            const char *in = open + 1, *end = s + n - 1;
            const char *colon = memrchr(in, ':', (size_t)(end - in));
            o->func_len = (size_t)(open - 1 - s);
            o->file = in;
            o->file_len = colon ? (size_t)(colon - in) : (size_t)(end - in);
            if (colon && all_digits(colon + 1, (size_t)(end - colon - 1))) {
                o->line = to_u32(colon + 1, (size_t)(end - colon - 1));
                o->key_len = (size_t)(colon - s);
                o->key_is_name = 0;
            }
            return;
        }
    }
    /* "pid N: command" (a process frame) */
    if (n > 5 && memcmp(s, "pid ", 4) == 0) {
        size_t i = 4;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
        if (i > 4 && i + 1 < n && s[i] == ':' && s[i + 1] == ' ') {
            o->line = to_u32(s + 4, i - 4);
            o->key = s + i + 2;
            o->key_len = n - i - 2;
            o->key_is_name = 0;
            return;
        }
    }
    /* "P4242" (austin's process frame) */
    if (n >= 2 && s[0] == 'P' && all_digits(s + 1, n - 1)) {
        o->line = to_u32(s + 1, n - 1);
        o->func_len = o->key_len = 1;
        o->key_is_name = 0;
        return;
    }
    /* "name [ident]" (a thread frame, or a process label made unique) */
    if (n >= 4 && s[n - 1] == ']') {
        const char *open = memrchr(s, '[', n);
        if (open && open > s && open[-1] == ' ' && all_digits(open + 1, (size_t)(s + n - 1 - open - 1))) {
            o->line = to_u32(open + 1, (size_t)(s + n - 1 - open - 1));
            o->func_len = o->key_len = (size_t)(open - 1 - s);
            o->key_is_name = 0;
            return;
        }
    }
    /* "file:func:line" (austin, gen_folded) */
    const char *last = memrchr(s, ':', n);
    if (last && last > s && all_digits(last + 1, (size_t)(s + n - last - 1))) {
        const char *prev = memrchr(s, ':', (size_t)(last - s));
        o->line = to_u32(last + 1, (size_t)(s + n - last - 1));
        o->key_len = (size_t)(last - s);
        o->key_is_name = 0;
        if (prev) {
            o->file = s;
            o->file_len = (size_t)(prev - s);
            o->func = prev + 1;
            o->func_len = (size_t)(last - prev - 1);
        } else {
            o->func_len = (size_t)(last - s);
        }
    }
}

/* ---- a side's runs ----------------------------------------------------------------- */

static int grow_tv(struct pf_diff_run *r, uint32_t n)
{
    uint32_t old = r->cap_tv;
    if (pf_diff_grow_((void **)&r->tv, &r->cap_tv, n, sizeof *r->tv) < 0)
        return -1;
    for (uint32_t i = old; i < r->cap_tv; i++)
        r->tv[i] = 0;
    if (r->ntv < n)
        r->ntv = n;
    return 0;
}

int pf_diff_side_add_tree_(struct pf_diff_sidedata *sd, pf_stacktree *t, pf_error *err)
{
    if (sd->tree == NULL) {
        sd->tree = t;
        return 0;
    }
    pf_stacktree *u = sd->tree;
    struct pf_diff_run *r0 = &sd->run[0], *r = &sd->run[sd->nruns - 1];
    uint32_t *m = NULL, *ids = NULL;
    if (r0->tv == NULL) {        /* the first run's values, before the tree grows */
        if (grow_tv(r0, u->nnodes) < 0)
            goto nomem;
        for (uint32_t i = 0; i < u->nnodes; i++)
            r0->tv[i] = u->nodes[i].self;
    }
    m = pf_malloc((size_t)t->nnodes * sizeof *m);
    if (m == NULL || grow_tv(r, u->nnodes) < 0)
        goto nomem;
    uint32_t nnames = pf_strtab_count(t->names);
    ids = pf_malloc((nnames ? nnames : 1) * sizeof *ids);
    if (ids == NULL)
        goto nomem;
    for (uint32_t nm = 0; nm < nnames; nm++) {
        size_t len;
        const char *s = pf_strtab_get(t->names, nm, &len);
        if ((ids[nm] = pf_stacktree_intern(u, s, len)) == PF_NONE)
            goto nomem;
    }
    m[0] = 0;
    for (uint32_t i = 1; i < t->nnodes; i++) {
        m[i] = pf_stacktree_child_id(u, m[t->nodes[i].parent], ids[t->nodes[i].name], err);
        if (m[i] == PF_NONE)
            goto fail;
        if (grow_tv(r, m[i] + 1) < 0)
            goto nomem;
        r->tv[m[i]] += t->nodes[i].self;
    }
    pf_free(m);
    pf_free(ids);
    pf_stacktree_free(t);
    return 0;
nomem:
    pf_error_set(err, PF_ENOMEM, NULL);
fail:
    pf_free(m);
    pf_free(ids);
    pf_stacktree_free(t);
    return -1;
}

/* Sets a several-run side's tree values to the medians and finishes it. */
static int side_median(struct pf_diff_sidedata *sd, pf_error *err)
{
    pf_stacktree *u = sd->tree;
    if (sd->nruns > 1) {
        double *v = pf_malloc(sd->nruns * sizeof *v);
        if (v == NULL)
            return pf_error_set(err, PF_ENOMEM, NULL);
        for (uint32_t i = 0; i < u->nnodes; i++) {
            for (uint32_t r = 0; r < sd->nruns; r++)
                v[r] = i < sd->run[r].ntv ? sd->run[r].tv[i] : 0;
            u->nodes[i].self = pf_diff_median_(v, sd->nruns);
        }
        pf_free(v);
        /* the values were set in place: make finish recompute the totals */
        if (pf_stacktree_add_self(u, 0, 0, 0, 0, err) < 0)
            return -1;
    }
    return pf_stacktree_finish(u, err);
}

/* ---- matching BASE names to NEW names ------------------------------------------------ */

struct nameinfo {
    struct pf_diff_fname f;
    int kind;                      /* 0 plain, 1 process (key is a suffix) */
};

static void name_info(const pf_stacktree *t, uint32_t id, struct nameinfo *ni)
{
    size_t len;
    const char *s = pf_strtab_get(t->names, id, &len);
    if (s == NULL)
        s = "", len = 0;
    pf_diff_parse_frame_(s, len, &ni->f);
    ni->kind = ni->f.key != s;
}

static uint64_t key_hash(const struct nameinfo *ni)
{
    return pf_hash_pair(pf_hash_bytes(ni->f.key, ni->f.key_len), (uint64_t)ni->kind);
}

static int same_key(const struct nameinfo *a, const struct nameinfo *b)
{
    return a->kind == b->kind && a->f.key_len == b->f.key_len &&
           memcmp(a->f.key, b->f.key, a->f.key_len) == 0;
}

struct find_ctx {
    const pf_stacktree *t;
    const char *s;
    size_t n;
    const struct nameinfo *want;
    uint32_t *out;
    uint32_t nout, cap;
    int oom;
};

static int full_eq(void *ctx, uint32_t id)
{
    struct find_ctx *c = ctx;
    size_t len;
    const char *s = pf_strtab_get(c->t->names, id, &len);
    return s && len == c->n && memcmp(s, c->s, len) == 0;
}

static int key_collect(void *ctx, uint32_t id)
{
    struct find_ctx *c = ctx;
    struct nameinfo ni;
    name_info(c->t, id, &ni);
    if (same_key(&ni, c->want)) {
        if (pf_diff_grow_((void **)&c->out, &c->cap, c->nout + 1, sizeof *c->out) < 0)
            c->oom = 1;
        else
            c->out[c->nout++] = id;
    }
    return 0;
}

static const pf_stacktree *sort_tree;
static int cmp_name_line(const void *a, const void *b)
{
    struct nameinfo x, y;
    name_info(sort_tree, *(const uint32_t *)a, &x);
    name_info(sort_tree, *(const uint32_t *)b, &y);
    if (x.kind != y.kind)
        return x.kind < y.kind ? -1 : 1;
    size_t n = x.f.key_len < y.f.key_len ? x.f.key_len : y.f.key_len;
    int c = memcmp(x.f.key, y.f.key, n);
    if (c)
        return c;
    if (x.f.key_len != y.f.key_len)
        return x.f.key_len < y.f.key_len ? -1 : 1;
    if (x.f.line != y.f.line)
        return x.f.line < y.f.line ? -1 : 1;
    return (*(const uint32_t *)a > *(const uint32_t *)b) - (*(const uint32_t *)a < *(const uint32_t *)b);
}

/* rename[b] for every name id b of B: the N name id it becomes, or PF_NONE (keep its
 * own name). */
static int match_names(const pf_stacktree *B, const pf_stacktree *N, uint32_t *rename)
{
    uint32_t nb = pf_strtab_count(B->names), nn = pf_strtab_count(N->names);
    pf_hmap *full = pf_hmap_new(nn), *bykey = pf_hmap_new(nn);
    uint32_t *order = pf_malloc((nb ? nb : 1) * sizeof *order);
    unsigned char *used = pf_calloc(nn ? nn : 1, 1);
    struct find_ctx fc;
    memset(&fc, 0, sizeof fc);
    fc.t = N;
    int rc = -1;
    if (!full || !bykey || !order || !used)
        goto done;
    for (uint32_t i = 0; i < nn; i++) {
        size_t len;
        const char *s = pf_strtab_get(N->names, i, &len);
        struct nameinfo ni;
        name_info(N, i, &ni);
        if (pf_hmap_add(full, pf_hash_bytes(s, len), i) < 0 ||
            pf_hmap_add(bykey, key_hash(&ni), i) < 0)
            goto done;
    }
    for (uint32_t i = 0; i < nb; i++) {
        order[i] = i;
        rename[i] = PF_NONE;
    }
    sort_tree = B;
    qsort(order, nb, sizeof *order, cmp_name_line);
    for (uint32_t g = 0; g < nb;) {
        struct nameinfo gi;
        name_info(B, order[g], &gi);
        uint32_t e = g + 1;
        for (; e < nb; e++) {
            struct nameinfo x;
            name_info(B, order[e], &x);
            if (!same_key(&x, &gi))
                break;
        }
        /* equal names first */
        for (uint32_t k = g; k < e; k++) {
            fc.s = pf_strtab_get(B->names, order[k], &fc.n);
            uint32_t id = pf_hmap_find(full, pf_hash_bytes(fc.s, fc.n), full_eq, &fc);
            if (id != PF_HMAP_NONE) {
                rename[order[k]] = id;
                used[id] = 1;
            }
        }
        /* then the rest of the key's names, in line order */
        if (!gi.f.key_is_name) {
            fc.nout = 0;
            fc.want = &gi;
            pf_hmap_find(bykey, key_hash(&gi), key_collect, &fc);
            if (fc.oom)
                goto done;
            sort_tree = N;
            if (fc.nout > 1)
                qsort(fc.out, fc.nout, sizeof *fc.out, cmp_name_line);
            uint32_t y = 0;
            for (uint32_t k = g; k < e; k++) {
                if (rename[order[k]] != PF_NONE)
                    continue;
                while (y < fc.nout && used[fc.out[y]])
                    y++;
                if (y == fc.nout)
                    break;
                rename[order[k]] = fc.out[y];
                used[fc.out[y]] = 1;
            }
            sort_tree = B;
        }
        g = e;
    }
    rc = 0;
done:
    pf_hmap_free(full);
    pf_hmap_free(bykey);
    pf_free(order);
    pf_free(used);
    pf_free(fc.out);
    return rc;
}

/* ---- the result ----------------------------------------------------------------------- */

/* Copies every stack of D found only in BASE under a frame of the root. */
static int vanished_section(pf_diff *d, pf_stacktree *D, pf_error *err)
{
    uint32_t n0 = D->nnodes;
    uint32_t *roots = NULL, nroots = 0, cap = 0;
    struct copy {
        uint32_t src, under;
    } *stack = NULL;
    uint32_t *chain = NULL;
    uint32_t cap_stack = 0, cap_chain = 0;
    for (uint32_t i = 1; i < n0; i++) {
        uint32_t p = D->nodes[i].parent;
        if (pf_stacktree_total2(D, i) == 0 && D->nodes[i].total > 0 &&
            (p == 0 || pf_stacktree_total2(D, p) > 0)) {
            if (pf_diff_grow_((void **)&roots, &cap, nroots + 1, sizeof *roots) < 0)
                goto nomem;
            roots[nroots++] = i;
        }
    }
    if (nroots == 0) {
        pf_free(roots);
        return 0;
    }
    uint32_t v = pf_stacktree_child(D, 0, PF_DIFF_VANISHED_FRAME,
                                    strlen(PF_DIFF_VANISHED_FRAME), err);
    if (v == PF_NONE)
        goto fail;
    d->vanished_node = v;
    for (uint32_t k = 0; k < nroots; k++) {
        uint32_t r = roots[k], nc = 0;
        /* the path above r, root-most first */
        for (uint32_t a = D->nodes[r].parent; a != 0; a = D->nodes[a].parent) {
            if (pf_diff_grow_((void **)&chain, &cap_chain, nc + 1, sizeof *chain) < 0)
                goto nomem;
            chain[nc++] = a;
        }
        uint32_t at = v;
        for (uint32_t c = nc; c-- > 0;) {
            size_t len;
            const char *nm = pf_stacktree_name(D, chain[c], &len);
            if ((at = pf_stacktree_child(D, at, nm, len, err)) == PF_NONE)
                goto fail;
        }
        /* the subtree of r (links from the last finish are still those of n0 nodes) */
        uint32_t sp = 0;
        if (pf_diff_grow_((void **)&stack, &cap_stack, 1, sizeof *stack) < 0)
            goto nomem;
        stack[sp++] = (struct copy){ r, at };
        while (sp > 0) {
            struct copy x = stack[--sp];
            size_t len;
            const char *nm = pf_stacktree_name(D, x.src, &len);
            uint32_t c = pf_stacktree_child(D, x.under, nm, len, err);
            if (c == PF_NONE)
                goto fail;
            double val = D->nodes[x.src].self;
            if (val > 0 && pf_stacktree_add_self(D, c, val, val, 1, err) < 0)
                goto fail;
            for (uint32_t k2 = D->nodes[x.src].first_child; k2 != PF_NONE; k2 = D->nodes[k2].next_sibling) {
                if (pf_diff_grow_((void **)&stack, &cap_stack, sp + 1, sizeof *stack) < 0)
                    goto nomem;
                stack[sp++] = (struct copy){ k2, c };
            }
        }
    }
    pf_free(roots);
    pf_free(stack);
    pf_free(chain);
    return pf_stacktree_finish(D, err);
nomem:
    pf_error_set(err, PF_ENOMEM, NULL);
fail:
    pf_free(roots);
    pf_free(stack);
    pf_free(chain);
    return -1;
}

int pf_diff_stacks_(pf_diff *d, pf_error *err)
{
    struct pf_diff_sidedata *sb = &d->priv->side[0], *sn = &d->priv->side[1];
    pf_stacktree *B = sb->tree, *N = sn->tree;
    uint32_t *rename = NULL, *m = NULL;
    if (B == NULL || N == NULL)
        return pf_error_set(err, PF_EUSAGE, "no stacks to compare");
    if (side_median(sb, err) < 0 || side_median(sn, err) < 0)
        return -1;
    /* NEW's tree becomes the result: its values move to the second column */
    sn->tree = NULL;
    d->stacks = N;
    if (pf_stacktree_swap_counts(N, err) < 0)
        return -1;
    rename = pf_malloc((pf_strtab_count(B->names) + 1) * sizeof *rename);
    m = pf_malloc((size_t)B->nnodes * sizeof *m);
    if (rename == NULL || m == NULL || match_names(B, N, rename) < 0)
        goto nomem;
    /* each BASE name becomes a NEW name id once: nodes are then added by id */
    for (uint32_t nm = 0; nm < pf_strtab_count(B->names); nm++)
        if (rename[nm] == PF_NONE) {
            size_t len;
            const char *s = pf_strtab_get(B->names, nm, &len);
            if ((rename[nm] = pf_stacktree_intern(N, s, len)) == PF_NONE)
                goto nomem;
        }
    m[0] = 0;
    for (uint32_t i = 1; i < B->nnodes; i++) {
        m[i] = pf_stacktree_child_id(N, m[B->nodes[i].parent], rename[B->nodes[i].name], err);
        if (m[i] == PF_NONE)
            goto fail;
        if (B->nodes[i].self > 0 && pf_stacktree_add_self(N, m[i], B->nodes[i].self, 0, 1, err) < 0)
            goto fail;
    }
    pf_free(rename);
    pf_free(m);
    rename = m = NULL;
    pf_stacktree_free(B);
    sb->tree = NULL;
    if (pf_stacktree_finish(N, err) < 0)
        return -1;
    if (d->opts.normalize && N->nodes[0].total > 0) {
        double f = pf_stacktree_total2(N, 0) / N->nodes[0].total;
        if (isfinite(f) && f > 0) {
            d->norm_factor = f;
            for (uint32_t i = 0; i < N->nnodes; i++)
                N->nodes[i].self *= f;
            if (pf_stacktree_add_self(N, 0, 0, 0, 1, err) < 0 || pf_stacktree_finish(N, err) < 0)
                return -1;
        }
    }
    if (!d->opts.no_vanished_frame && vanished_section(d, N, err) < 0)
        return -1;
    return 0;
nomem:
    pf_error_set(err, PF_ENOMEM, NULL);
fail:
    pf_free(rename);
    pf_free(m);
    return -1;
}
