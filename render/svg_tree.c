/* svg_tree.c: the renderer's frame tree (see svg_tree.h).
 *
 * Adding a stack is built for big inputs (a million stacks, millions of nodes, far
 * more than the caches hold):
 *   1. every frame name is interned first (a small, hot table: profiles have few
 *      distinct names), giving the stack as a list of name ids;
 *   2. the prefix it shares with the previous stack is reused as is (sorted input
 *      repeats long prefixes; a flame chart only ever merges that prefix);
 *   3. each remaining frame is found by a hash of its whole path (parent's path hash
 *      mixed with the name id).  Those hashes need no lookups, so the table slots of
 *      the whole stack are prefetched before the first probe and the cache misses
 *      overlap instead of forming a chain.  A slot holds (parent, name, node), which
 *      identifies the node exactly; the hash only picks where to look.
 * Only the leaf's self value is touched per stack; totals and child links come from
 * one pass at the end (pf_svg_tree_finish), in index order, where
 * nodes[i].parent < i always holds.
 */
#include "render/svg_tree.h"

#include <string.h>
#include <sys/mman.h>

#include "formats/alloc.h"

struct slot {
    uint32_t parent, name, node;  /* node == 0: empty */
    uint32_t hash;                /* low bits of the node's path hash (for regrowth) */
};

struct pf_svg_tree_priv {
    uint32_t cap;                 /* of nodes / extra / phash */
    size_t populated;             /* nodes[] bytes already prefaulted */
    uint64_t *phash;              /* path hash of every node; only in trees built
                                     node by node (copies), NULL when streaming */
    uint32_t *itab;               /* name ids, PF_NONE empty */
    uint32_t *ihash;              /* their hashes */
    size_t icap, icount;
    struct slot *ctab;            /* path hash -> node */
    size_t ccap, ccount;
    /* the previous stack, by depth */
    uint32_t *pnames, *pnodes, *cur;
    uint64_t *pph;                /* path hashes of pnodes */
    /* leaf updates wait here for 16 stacks, their node prefetched meanwhile */
    struct pending_leaf { uint32_t node; double count, count2; } ring[16];
    unsigned nring, ring_head;
    size_t npath, cap_path;
};

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 33; x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33; x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

static uint32_t hash_bytes(const char *s, size_t n)
{
    uint64_t h = 0x9e3779b97f4a7c15ULL ^ n;
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, s, 8);
        h = (h ^ w) * 0xff51afd7ed558ccdULL;
        h ^= h >> 31;
        s += 8;
        n -= 8;
    }
    uint64_t w = 0;
    memcpy(&w, s, n);
    h = mix64(h ^ w);
    return (uint32_t)(h ^ (h >> 32));
}

/* Page faults are costly (more so in VMs), and the big arrays here are filled
 * front to back (nodes) or all over (the slot table).  Faulting their pages in one
 * call instead of one trap per 4 KiB page halves the kernel's share of the run.
 * Only a hint: on failure, or without MADV_POPULATE_WRITE, pages fault as usual. */
#define POPULATE_STEP ((size_t)2 << 20)
static void prefault(void *base, size_t from, size_t to)
{
#ifdef MADV_POPULATE_WRITE
    uintptr_t page = 4096;
    uintptr_t a = ((uintptr_t)base + from + page - 1) & ~(page - 1);
    uintptr_t e = ((uintptr_t)base + to) & ~(page - 1);
    if (e > a)
        (void)madvise((void *)a, e - a, MADV_POPULATE_WRITE);
#else
    (void)base;
    (void)from;
    (void)to;
#endif
}

static int oom(pf_error *err)
{
    return pf_error_set(err, PF_ENOMEM, NULL);
}

static uint64_t path_hash(uint64_t parent_hash, uint32_t name)
{
    return mix64(parent_hash * 0x9e3779b97f4a7c15ULL + name + 1);
}

pf_svg_tree *pf_svg_tree_new(int chart)
{
    pf_svg_tree *t = pf_calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->chart = chart;
    t->priv = pf_calloc(1, sizeof *t->priv);
    t->names = pf_strtab_new();
    if (!t->priv || !t->names)
        goto fail;
    t->priv->cap = 1024;
    t->nodes = pf_malloc(t->priv->cap * sizeof *t->nodes);
    if (!t->nodes)
        goto fail;
    uint32_t all = pf_strtab_append(t->names, "all", 3);
    if (all == PF_STR_NONE)
        goto fail;
    memset(&t->nodes[0], 0, sizeof t->nodes[0]);
    t->nodes[0].name = all;
    t->nodes[0].parent = t->nodes[0].first_child = t->nodes[0].last_child = PF_NONE;
    t->nodes[0].next_sibling = PF_NONE;
    t->nnodes = 1;
    return t;
fail:
    pf_svg_tree_free(t);
    return NULL;
}

void pf_svg_tree_free(pf_svg_tree *t)
{
    if (!t)
        return;
    if (t->priv) {
        pf_free(t->priv->phash);
        pf_free(t->priv->itab);
        pf_free(t->priv->ihash);
        pf_free(t->priv->ctab);
        pf_free(t->priv->pnames);
        pf_free(t->priv->pnodes);
        pf_free(t->priv->cur);
        pf_free(t->priv->pph);
        pf_free(t->priv);
    }
    pf_strtab_free(t->names);
    pf_free(t->nodes);
    pf_free(t->extra);
    pf_free(t->diff);
    pf_free(t);
}

/* Allocates the second-column array (zeroed) on the first differential stack. */
static int want_diff(pf_svg_tree *t)
{
    if (t->diff)
        return 0;
    t->diff = pf_calloc(t->priv->cap, sizeof *t->diff);
    return t->diff ? 0 : -1;
}

/* ---- interning ---- */

static int itab_grow(struct pf_svg_tree_priv *p)
{
    size_t ncap = p->icap ? p->icap * 2 : 1024;
    uint32_t *ids = pf_malloc(ncap * sizeof *ids);
    uint32_t *hs = pf_malloc(ncap * sizeof *hs);
    if (!ids || !hs) {
        pf_free(ids);
        pf_free(hs);
        return -1;
    }
    memset(ids, 0xff, ncap * sizeof *ids);
    for (size_t i = 0; i < p->icap; i++) {
        if (p->itab[i] == PF_NONE)
            continue;
        size_t j = p->ihash[i] & (ncap - 1);
        while (ids[j] != PF_NONE)
            j = (j + 1) & (ncap - 1);
        ids[j] = p->itab[i];
        hs[j] = p->ihash[i];
    }
    pf_free(p->itab);
    pf_free(p->ihash);
    p->itab = ids;
    p->ihash = hs;
    p->icap = ncap;
    return 0;
}

static uint32_t intern(pf_svg_tree *t, const char *s, size_t n)
{
    struct pf_svg_tree_priv *p = t->priv;
    if ((p->icount + 1) * 4 > p->icap * 3 && itab_grow(p) < 0)
        return PF_NONE;
    uint32_t h = hash_bytes(s, n);
    size_t j = h & (p->icap - 1);
    while (p->itab[j] != PF_NONE) {
        if (p->ihash[j] == h) {
            size_t len;
            const char *q = pf_strtab_get(t->names, p->itab[j], &len);
            if (len == n && memcmp(q, s, n) == 0)
                return p->itab[j];
        }
        j = (j + 1) & (p->icap - 1);
    }
    uint32_t id = pf_strtab_append(t->names, s, n);
    if (id == PF_STR_NONE)
        return PF_NONE;
    p->itab[j] = id;
    p->ihash[j] = h;
    p->icount++;
    return id;
}

/* Registers the names already in t->names (copied trees) with the intern table. */
static int intern_existing(pf_svg_tree *t)
{
    uint32_t n = pf_strtab_count(t->names);
    for (uint32_t i = 0; i < n; i++) {
        size_t len;
        const char *s = pf_strtab_get(t->names, i, &len);
        uint32_t h = hash_bytes(s, len);
        struct pf_svg_tree_priv *p = t->priv;
        if ((p->icount + 1) * 4 > p->icap * 3 && itab_grow(p) < 0)
            return -1;
        size_t j = h & (p->icap - 1);
        int dup = 0;
        while (p->itab[j] != PF_NONE) {
            size_t l2;
            const char *q = pf_strtab_get(t->names, p->itab[j], &l2);
            if (p->ihash[j] == h && l2 == len && memcmp(q, s, len) == 0) {
                dup = 1;
                break;
            }
            j = (j + 1) & (p->icap - 1);
        }
        if (!dup) {
            p->itab[j] = i;
            p->ihash[j] = h;
            p->icount++;
        }
    }
    return 0;
}

/* ---- children ---- */

/* Slots are zero when empty (node 0, the root, is never anyone's child), so a
 * fresh table is calloc'd pages that need no initialising pass. */
static int ctab_grow(struct pf_svg_tree_priv *p)
{
    size_t ncap = p->ccap ? p->ccap * 2 : 4096;
    struct slot *tab = pf_calloc(ncap, sizeof *tab);
    if (!tab)
        return -1;
    if (ncap * sizeof *tab >= POPULATE_STEP)
        prefault(tab, 0, ncap * sizeof *tab);
    for (size_t i = 0; i < p->ccap; i++) {
        if (p->ctab[i].node == 0)
            continue;
        size_t j = p->ctab[i].hash & (ncap - 1);
        while (tab[j].node != 0)
            j = (j + 1) & (ncap - 1);
        tab[j] = p->ctab[i];
    }
    pf_free(p->ctab);
    p->ctab = tab;
    p->ccap = ncap;
    return 0;
}

static uint32_t new_node(pf_svg_tree *t, uint32_t parent, uint32_t name, uint64_t ph)
{
    struct pf_svg_tree_priv *p = t->priv;
    if (t->nnodes == p->cap) {
        if (p->cap >= UINT32_MAX / 2)
            return PF_NONE;
        uint32_t ncap = p->cap * 2;
        pf_svg_node *n = pf_reallocarray(t->nodes, ncap, sizeof *n);
        if (!n)
            return PF_NONE;
        t->nodes = n;
        if (p->phash) {
            uint64_t *h = pf_reallocarray(p->phash, ncap, sizeof *h);
            if (!h)
                return PF_NONE;
            p->phash = h;
        }
        if (t->extra) {
            pf_svg_extra *e = pf_reallocarray(t->extra, ncap, sizeof *e);
            if (!e)
                return PF_NONE;
            t->extra = e;
        }
        if (t->diff) {
            pf_svg_diff *d = pf_reallocarray(t->diff, ncap, sizeof *d);
            if (!d)
                return PF_NONE;
            t->diff = d;
        }
        p->cap = ncap;
    }
    uint32_t id = t->nnodes++;
    if (((size_t)id + 1) * sizeof *t->nodes > p->populated && p->cap >= 65536) {
        size_t to = p->populated + POPULATE_STEP;
        if (to > (size_t)p->cap * sizeof *t->nodes)
            to = (size_t)p->cap * sizeof *t->nodes;
        prefault(t->nodes, p->populated, to);
        p->populated = to;
    }
    pf_svg_node *n = &t->nodes[id];
    memset(n, 0, sizeof *n);
    n->name = name;
    n->parent = parent;
    n->first_child = n->last_child = n->next_sibling = PF_NONE;
    if (p->phash)
        p->phash[id] = ph;
    if (t->chart)
        t->nodes[parent].last_child = id;   /* flame charts merge with it */
    if (t->extra) {
        memset(&t->extra[id], 0, sizeof t->extra[id]);
        t->extra[id].code = PF_NONE;
    }
    if (t->diff)
        t->diff[id].total2 = t->diff[id].self2 = 0;
    t->finished = 0;
    return id;
}

/* The child of parent called name (path hash ph), created if missing; PF_NONE on OOM. */
static uint32_t child_h(pf_svg_tree *t, uint32_t parent, uint32_t name, uint64_t ph)
{
    if (t->chart) {
        uint32_t last = t->nodes[parent].last_child;
        if (last != PF_NONE && t->nodes[last].name == name)
            return last;
        return new_node(t, parent, name, ph);
    }
    struct pf_svg_tree_priv *p = t->priv;
    if ((p->ccount + 1) * 4 > p->ccap * 3 && ctab_grow(p) < 0)
        return PF_NONE;
    uint32_t h = (uint32_t)ph;
    size_t j = h & (p->ccap - 1);
    while (p->ctab[j].node != 0) {
        if (p->ctab[j].parent == parent && p->ctab[j].name == name)
            return p->ctab[j].node;
        j = (j + 1) & (p->ccap - 1);
    }
    uint32_t id = new_node(t, parent, name, ph);
    if (id == PF_NONE)
        return PF_NONE;
    p->ctab[j].parent = parent;
    p->ctab[j].name = name;
    p->ctab[j].node = id;
    p->ctab[j].hash = h;
    p->ccount++;
    return id;
}

/* For trees built node by node: needs the phash array (see with_phash). */
static uint32_t child(pf_svg_tree *t, uint32_t parent, uint32_t name)
{
    return child_h(t, parent, name, path_hash(t->priv->phash[parent], name));
}

static int with_phash(pf_svg_tree *t)
{
    struct pf_svg_tree_priv *p = t->priv;
    if (p->phash)
        return 0;
    p->phash = pf_malloc((size_t)p->cap * sizeof *p->phash);
    if (!p->phash)
        return -1;
    p->phash[0] = 0;
    for (uint32_t i = 1; i < t->nnodes; i++)
        p->phash[i] = path_hash(p->phash[t->nodes[i].parent], t->nodes[i].name);
    return 0;
}

static int reserve_path(struct pf_svg_tree_priv *p, size_t need)
{
    if (need <= p->cap_path)
        return 0;
    size_t ncap = p->cap_path ? p->cap_path : 64;
    while (ncap < need)
        ncap *= 2;
    uint32_t *a = pf_reallocarray(p->pnames, ncap, sizeof *a);
    if (!a)
        return -1;
    p->pnames = a;
    a = pf_reallocarray(p->pnodes, ncap, sizeof *a);
    if (!a)
        return -1;
    p->pnodes = a;
    a = pf_reallocarray(p->cur, ncap, sizeof *a);
    if (!a)
        return -1;
    p->cur = a;
    uint64_t *h = pf_reallocarray(p->pph, ncap, sizeof *h);
    if (!h)
        return -1;
    p->pph = h;
    p->cap_path = ncap;
    return 0;
}

static void apply_leaf(pf_svg_tree *t, const struct pending_leaf *l)
{
    t->nodes[l->node].self += l->count;
    if (l->count2 > 0)
        t->diff[l->node].self2 += l->count2;
}

static void flush_leaves(pf_svg_tree *t)
{
    struct pf_svg_tree_priv *p = t->priv;
    while (p->nring > 0) {
        apply_leaf(t, &p->ring[p->ring_head]);
        p->ring_head = (p->ring_head + 1) & 15;
        p->nring--;
    }
}

int pf_svg_tree_add(pf_svg_tree *t, const char *stack, size_t len, double count,
                    double count2, int reverse, pf_error *err)
{
    struct pf_svg_tree_priv *p = t->priv;
    if (count2 >= 0) {
        t->has_count2 = 1;
        if (want_diff(t) < 0)
            return oom(err);
    }
    /* 1. intern every frame */
    size_t depth = 0;
    const char *end = stack + len;
    const char *pos = reverse ? end : stack;
    for (;;) {
        const char *f;
        size_t n;
        if (!reverse) {
            const char *semi = memchr(pos, ';', (size_t)(end - pos));
            f = pos;
            n = (size_t)((semi ? semi : end) - pos);
            pos = semi ? semi + 1 : NULL;
        } else {
            const char *semi = memrchr(stack, ';', (size_t)(pos - stack));
            f = semi ? semi + 1 : stack;
            n = (size_t)(pos - f);
            pos = semi;
        }
        if (reserve_path(p, depth + 1) < 0)
            goto nomem;
        uint32_t name = intern(t, f, n);
        if (name == PF_NONE)
            goto nomem;
        p->cur[depth++] = name;
        if (!pos)
            break;
    }
    /* 2. the prefix shared with the previous stack */
    size_t common = 0;
    while (common < depth && common < p->npath && p->pnames[common] == p->cur[common])
        common++;
    if (t->chart) {
        /* a flame chart merges exactly that prefix; the rest is new */
        for (size_t d = common; d < depth; d++) {
            uint32_t par = d ? p->pnodes[d - 1] : 0;
            uint32_t id = new_node(t, par, p->cur[d], 0);
            if (id == PF_NONE)
                goto nomem;
            p->pnames[d] = p->cur[d];
            p->pnodes[d] = id;
        }
    } else if (common < depth) {
        /* 3. path hashes, prefetch, then probe */
        uint64_t ph = common ? p->pph[common - 1] : 0;
        if ((p->ccount + depth) * 4 > p->ccap * 3 && ctab_grow(p) < 0)
            goto nomem;
        uint64_t hs[64];
        size_t nh = depth - common < 64 ? depth - common : 64;
        for (size_t k = 0; k < nh; k++) {
            ph = path_hash(ph, p->cur[common + k]);
            hs[k] = ph;
            __builtin_prefetch(&p->ctab[(uint32_t)ph & (p->ccap - 1)]);
        }
        for (size_t d = common; d < depth; d++) {
            uint32_t par = d ? p->pnodes[d - 1] : 0;
            uint64_t h = d - common < 64 ? hs[d - common]
                                         : path_hash(d ? p->pph[d - 1] : 0, p->cur[d]);
            uint32_t id = child_h(t, par, p->cur[d], h);
            if (id == PF_NONE)
                goto nomem;
            p->pnames[d] = p->cur[d];
            p->pnodes[d] = id;
            p->pph[d] = h;
        }
    }
    p->npath = depth;
    /* The leaf is a cache miss: prefetch it now, add to it 16 stacks later. */
    uint32_t leaf = p->pnodes[depth - 1];
    __builtin_prefetch(&t->nodes[leaf], 1);
    if (p->nring == 16) {
        apply_leaf(t, &p->ring[p->ring_head]);
        p->ring_head = (p->ring_head + 1) & 15;
        p->nring--;
    }
    p->ring[(p->ring_head + p->nring) & 15] = (struct pending_leaf){ leaf, count, count2 };
    p->nring++;
    t->finished = 0;
    return 0;
nomem:
    p->npath = 0;   /* the path may be half-updated: do not trust it next time */
    return oom(err);
}

void pf_svg_tree_finish(pf_svg_tree *t)
{
    flush_leaves(t);
    if (t->finished)
        return;
    pf_svg_node *nd = t->nodes;
    for (uint32_t i = 0; i < t->nnodes; i++) {
        nd[i].total = nd[i].self;
        nd[i].first_child = nd[i].last_child = nd[i].next_sibling = PF_NONE;
    }
    for (uint32_t i = t->nnodes; i-- > 1;)
        nd[nd[i].parent].total += nd[i].total;
    if (t->diff) {
        pf_svg_diff *df = t->diff;
        for (uint32_t i = 0; i < t->nnodes; i++)
            df[i].total2 = df[i].self2;
        for (uint32_t i = t->nnodes; i-- > 1;)
            df[nd[i].parent].total2 += df[i].total2;
    }
    for (uint32_t i = 1; i < t->nnodes; i++) {
        pf_svg_node *par = &nd[nd[i].parent];
        if (par->last_child == PF_NONE)
            par->first_child = i;
        else
            nd[par->last_child].next_sibling = i;
        par->last_child = i;
    }
    t->finished = 1;
}

/* ---- copies ---- */

static pf_svg_tree *tree_like(const pf_svg_tree *src, int chart, int with_extra, pf_error *err)
{
    pf_svg_tree *t = pf_svg_tree_new(chart);
    if (!t)
        goto fail;
    /* same name ids as src, root name included */
    uint32_t n = pf_strtab_count(src->names);
    pf_strtab_free(t->names);
    t->names = pf_strtab_new();
    if (!t->names)
        goto fail;
    t->nodes[0].name = src->nodes[0].name;
    for (uint32_t i = 0; i < n; i++) {
        size_t len;
        const char *s = pf_strtab_get(src->names, i, &len);
        if (pf_strtab_append(t->names, s, len) == PF_STR_NONE)
            goto fail;
    }
    if (intern_existing(t) < 0 || with_phash(t) < 0)
        goto fail;
    if (with_extra) {
        t->extra = pf_malloc(t->priv->cap * sizeof *t->extra);
        if (!t->extra)
            goto fail;
        memset(&t->extra[0], 0, sizeof t->extra[0]);
        t->extra[0].code = PF_NONE;
    }
    t->trace = src->trace;
    t->has_count2 = src->has_count2;
    if (src->diff && want_diff(t) < 0)
        goto fail;
    return t;
fail:
    pf_svg_tree_free(t);
    oom(err);
    return NULL;
}

pf_svg_tree *pf_svg_tree_from_flame(const pf_flame *f, const pf_trace *trace, pf_error *err)
{
    pf_svg_tree *t = pf_svg_tree_new(0);
    if (!t)
        goto nomem;
    uint32_t n = pf_strtab_count(f->names);
    pf_strtab_free(t->names);
    t->names = pf_strtab_new();
    if (!t->names)
        goto nomem;
    for (uint32_t i = 0; i < n; i++) {
        size_t len;
        const char *s = pf_strtab_get(f->names, i, &len);
        if (pf_strtab_append(t->names, s, len) == PF_STR_NONE)
            goto nomem;
    }
    if (f->nnodes == 0 || intern_existing(t) < 0)
        goto nomem;
    uint32_t cap = f->nnodes > 1024 ? f->nnodes : 1024;
    pf_svg_node *nodes = pf_reallocarray(t->nodes, cap, sizeof *nodes);
    if (!nodes)
        goto nomem;
    t->nodes = nodes;
    uint64_t *ph = pf_malloc((size_t)cap * sizeof *ph);
    if (!ph)
        goto nomem;
    t->priv->phash = ph;
    t->priv->cap = cap;
    if (f->from_trace) {
        t->extra = pf_calloc(cap, sizeof *t->extra);
        if (!t->extra)
            goto nomem;
    }
    if (f->has_count2) {
        t->diff = pf_calloc(cap, sizeof *t->diff);
        if (!t->diff)
            goto nomem;
    }
    for (uint32_t i = 0; i < f->nnodes; i++) {
        const pf_flame_node *s = &f->nodes[i];
        pf_svg_node *d = &t->nodes[i];
        memset(d, 0, sizeof *d);
        d->name = s->name;
        d->parent = i == 0 ? PF_NONE : s->parent;
        d->self = s->self;
        if (t->diff)
            t->diff[i].self2 = s->self2;
        if (i > 0 && d->parent >= i) {
            pf_error_set(err, PF_ECORRUPT, "flame tree node %u has parent %u", i, d->parent);
            pf_svg_tree_free(t);
            return NULL;
        }
        ph[i] = i == 0 ? 0 : path_hash(ph[d->parent], d->name);
        if (t->extra) {
            t->extra[i].calls = s->calls;
            t->extra[i].self_ns = s->self_ns;
            t->extra[i].total_ns = s->total_ns;
            t->extra[i].code = s->code;
            t->extra[i].line = s->line;
        }
    }
    t->nnodes = f->nnodes;
    /* register every node so the copy can still grow */
    struct pf_svg_tree_priv *p = t->priv;
    for (uint32_t i = 1; i < f->nnodes; i++) {
        if ((p->ccount + 1) * 4 > p->ccap * 3 && ctab_grow(p) < 0)
            goto nomem;
        uint32_t h = (uint32_t)ph[i];
        size_t j = h & (p->ccap - 1);
        while (p->ctab[j].node != 0)
            j = (j + 1) & (p->ccap - 1);
        p->ctab[j] = (struct slot){ t->nodes[i].parent, t->nodes[i].name, i, h };
        p->ccount++;
    }
    t->has_count2 = f->has_count2;
    t->trace = trace;
    pf_svg_tree_finish(t);
    return t;
nomem:
    pf_svg_tree_free(t);
    oom(err);
    return NULL;
}

int pf_svg_name_matches(const char *name, size_t len, const char *func)
{
    size_t fl = strlen(func);
    if (fl == 0)
        return 0;
    if (len == fl && memcmp(name, func, fl) == 0)
        return 1;
    /* "func (file.py:12)": py-spy and pyflame-c names */
    if (len > fl + 1 && memcmp(name, func, fl) == 0 && name[fl] == ' ' && name[fl + 1] == '(')
        return 1;
    /* "path.py:func:12": austin and gen_folded names */
    const char *last = memrchr(name, ':', len);
    if (last && last > name) {
        const char *prev = memrchr(name, ':', (size_t)(last - name));
        if (prev && (size_t)(last - prev - 1) == fl && memcmp(prev + 1, func, fl) == 0)
            return 1;
    }
    return 0;
}

static void add_values(pf_svg_tree *d, uint32_t di, const pf_svg_tree *s, uint32_t si)
{
    d->nodes[di].self += s->nodes[si].self;
    if (d->diff)
        d->diff[di].self2 += pf_svg_self2(s, si);
    if (d->extra && s->extra) {
        pf_svg_extra *e = &d->extra[di];
        const pf_svg_extra *x = &s->extra[si];
        e->calls += x->calls;
        e->self_ns += x->self_ns;
        e->total_ns += x->total_ns;
        if (e->code == PF_NONE) {
            e->code = x->code;
            e->line = x->line;
        }
    }
}

pf_svg_tree *pf_svg_tree_rebase(const pf_svg_tree *t, const char *func, pf_error *err)
{
    uint32_t *map = pf_malloc((size_t)t->nnodes * sizeof *map);
    pf_svg_tree *d = tree_like(t, t->chart, t->extra != NULL, err);
    if (!map || !d)
        goto nomem;
    map[0] = PF_NONE;
    int found = 0;
    for (uint32_t i = 1; i < t->nnodes; i++) {
        uint32_t par = t->nodes[i].parent;
        map[i] = PF_NONE;
        uint32_t into;
        if (map[par] != PF_NONE) {
            into = map[par];
        } else {
            size_t len;
            const char *s = pf_strtab_get(t->names, t->nodes[i].name, &len);
            if (!pf_svg_name_matches(s, len, func))
                continue;
            into = 0;
            found = 1;
        }
        uint32_t c = child(d, into, t->nodes[i].name);
        if (c == PF_NONE)
            goto nomem;
        add_values(d, c, t, i);
        map[i] = c;
    }
    pf_free(map);
    if (!found) {
        pf_svg_tree_free(d);
        pf_error_set(err, PF_EEMPTY, "no frame matches --base '%s'", func);
        return NULL;
    }
    pf_svg_tree_finish(d);
    return d;
nomem:
    pf_free(map);
    pf_svg_tree_free(d);
    oom(err);
    return NULL;
}

pf_svg_tree *pf_svg_tree_reversed(const pf_svg_tree *t, pf_error *err)
{
    pf_svg_tree *d = tree_like(t, t->chart, 0, err);
    if (!d)
        return NULL;
    for (uint32_t i = 1; i < t->nnodes; i++) {
        const pf_svg_node *s = &t->nodes[i];
        double s2 = pf_svg_self2(t, i);
        if (s->self == 0 && s2 == 0)
            continue;
        uint32_t cur = 0;
        for (uint32_t j = i; j != 0 && j != PF_NONE; j = t->nodes[j].parent) {
            cur = child(d, cur, t->nodes[j].name);
            if (cur == PF_NONE)
                goto nomem;
        }
        d->nodes[cur].self += s->self;
        if (d->diff)
            d->diff[cur].self2 += s2;
    }
    pf_svg_tree_finish(d);
    return d;
nomem:
    pf_svg_tree_free(d);
    oom(err);
    return NULL;
}
