/* stacktree.c: the merged stack tree (contract in stacktree.h): building it from
 * stacks (one at a time, or streamed collapsed text) and from traces, reversing and
 * rebasing it, ordering siblings, and writing it back as collapsed lines.
 *
 * Building.  A stack's frames are interned first (name bytes -> name id through a
 * pf_hmap keyed by pf_hash_bytes, small and hot: profiles have few distinct names).
 * The prefix it shares with the previous stack is reused as is (sorted input repeats
 * long prefixes, and a flame chart merges exactly that prefix).  Every other frame is
 * found in one pf_hmap keyed by the hash of its path of name ids (pf_hash_pair of the
 * parent's path hash and the name), confirmed by the node's (parent, name): those
 * hashes need no lookups, so the slots of a whole stack are prefetched before the
 * first probe and the cache misses overlap instead of forming a chain.  Only a miss
 * creates a node.  Only the leaf's self value is touched per stack: totals and sibling links
 * come from one pass in pf_stacktree_finish.
 *
 * Invariants: nodes[0] is the root; parent < index for every other node; under name
 * merging each (parent, name) pair occurs once and is in the child index under its
 * node's path hash (phash); the sum of
 * all counts stays <= MAX_TOTAL, so no total can overflow whatever the summation
 * order.
 *
 * Several inputs in one tree (diff): pf_stacktree_add_trace and the column loader add
 * an input to a tree that may hold others, in one count column; name and visit tracking
 * record which names an input used and the order it reached the nodes in (the order a
 * tree of that input alone would have), so the caller can match names between inputs
 * and put the nodes back in that order (stacktree_internal.h), keeping floating-point
 * totals bit for bit.
 *
 * Reversal of a trace tree (leaf-to-root paths) does not walk every path, which costs
 * nodes x depth: the reversed path of node x is name(x) followed by the reversed path
 * of its parent, so its node is "the node of string c.w" for c = name(x) and w the
 * parent's node.  Those links (w, c) -> node are kept in a pf_hmap; a missing one is
 * made from its parent's link (c.w's parent is c.parent(w)), so each link is made
 * once and the work is linear in the input and output trees.
 */
#include "stacktree.h"

#include <float.h>
#include <limits.h>
#if defined(__linux__)
#include <sys/mman.h>
#endif
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "collapsed_internal.h"
#include "framename_internal.h"
#include "hash.h"
#include "hashmap.h"
#include "progress.h"
#include "stacktree_internal.h"
#include "units.h"

/* Half of DBL_MAX: n nonnegative doubles summed in any order differ by at most about
 * n * 2^-53 of their sum, so every node total stays finite. */
#define MAX_TOTAL (DBL_MAX / 2)
#define MIN_COUNT 1e-300
#define MAX_NODES (UINT32_MAX - 2)
#define DEFAULT_CHUNK ((size_t)1 << 20)

struct pf_stacktree_priv {
    uint32_t cap;                 /* of nodes / diff / info / last_child */
    size_t populated;             /* bytes of nodes[] already faulted in */
    pf_hmap *names;               /* pf_hash_bytes(name) -> name id */
    pf_hmap *kids;                /* path hash -> node (name merging) */
    uint64_t *phash;              /* per node: its path hash, for builders that add
                                     children node by node (NULL until one does: the
                                     stack loader keeps the hashes of one path only) */
    uint32_t *last_child;         /* per node, for chart merging; else NULL */
    int merge_last;               /* a frame merges only with its parent's last child */
    int kids_stale;               /* nodes were added without the child index (a
                                     reversal): rebuilt before the next lookup */
    double sum, sum2;             /* all counts added so far */
    int finished, rebased;
    /* name tracking (pf_stacktree_track_names): used[id] = 1 once name id was
     * interned while track is on */
    unsigned char *used;
    uint32_t cap_used;
    int track;
    /* visit tracking (pf_stacktree_track_visits_): per node, the order in which the
     * builders reached it first while vtrack is on (PF_NONE: not reached); NULL until
     * first used */
    uint32_t *visit;
    uint32_t nvisit;
    int vtrack;
    /* the previous stack, by depth */
    uint32_t *pnames, *pnodes, *cur;
    uint64_t *hs;                 /* path hashes of the stack being added */
    size_t npath, cap_path;
};

/* The child index is keyed by a hash of the whole path of name ids, so the slots of a
 * whole stack can be computed, and prefetched, before the first lookup; the entry is
 * then confirmed by the node's own (parent, name). */
#define ROOT_HASH PF_HASH_SEED
#define PREFETCH_AHEAD 64

static inline uint64_t path_hash(uint64_t parent_hash, uint32_t name)
{
    return pf_hash_pair(parent_hash, name);
}

void pf_stack_opts_init(pf_stack_opts *o)
{
    memset(o, 0, sizeof *o);
    o->order = PF_ORDER_NAME;
    o->metric = PF_METRIC_SELF_TIME;
    o->granularity = PF_GRAN_FUNCTION;
}

const char *pf_stacktree_name(const pf_stacktree *t, uint32_t i, size_t *len)
{
    const char *s = i < t->nnodes ? pf_strtab_get(t->names, t->nodes[i].name, len) : NULL;
    if (s == NULL) {
        s = "";
        if (len)
            *len = 0;
    }
    return s;
}

uint64_t pf_stacktree_collapsed_size(const pf_stacktree *t, pf_error *err)
{
    /* One forward pass (parents come first): the bytes of each node's stack. */
    uint64_t *path = pf_reallocarray(NULL, t->nnodes ? t->nnodes : 1, sizeof *path);
    if (path == NULL) {
        pf_error_set(err, PF_ENOMEM, NULL);
        return UINT64_MAX;
    }
    const uint64_t count_bytes = t->has_count2 ? 2 * 25 : 25;   /* " count[ count2]\n" at most */
    uint64_t total = 0;
    path[0] = 0;
    for (uint32_t i = 1; i < t->nnodes; i++) {
        size_t len;
        pf_stacktree_name(t, i, &len);
        uint32_t parent = t->nodes[i].parent;
        path[i] = (parent == 0 ? 0 : path[parent] + 1) + len;
        if (t->nodes[i].self != 0 || pf_stacktree_self2(t, i) != 0)
            total += path[i] + count_bytes;
    }
    pf_free(path);
    return total;
}

/* ---- names ---------------------------------------------------------------------------- */

struct name_key {
    const pf_strtab *names;
    const char *s;
    size_t n;
};

static int name_eq(void *ctx, uint32_t id)
{
    const struct name_key *k = ctx;
    size_t len;
    const char *p = pf_strtab_get(k->names, id, &len);
    return len == k->n && memcmp(p, k->s, len) == 0;
}

/* Finds the end of the frame starting at p (the first ';' before end, or end) and
 * hashes it as pf_hash_bytes would, in one pass: eight bytes at a time, spotting ';'
 * with the "has zero byte" bit trick on w ^ ";;;;;;;;". */
static const char *scan_frame(const char *p, const char *end, uint64_t *hash)
{
    const uint64_t ones = UINT64_C(0x0101010101010101), highs = UINT64_C(0x8080808080808080);
    const char *s = p;
    uint64_t h = PF_HASH_SEED;
    while (end - p >= 8) {
        uint64_t w = pf_hash_load_le64(p);
        uint64_t x = w ^ (ones * ';');
        uint64_t t = (x - ones) & ~x & highs;
        if (t) {
            /* The lowest flagged byte is exact (borrows only run upwards). */
            unsigned k = (unsigned)__builtin_ctzll(t) / 8;
            if (k)
                h = pf_hash_word(h, w & ((UINT64_C(1) << (8 * k)) - 1));
            *hash = pf_hash_final(h, (size_t)(p - s) + k);
            return p + k;
        }
        h = pf_hash_word(h, w);
        p += 8;
    }
    uint64_t w = 0;
    unsigned k = 0;
    while (p + k < end && p[k] != ';') {
        w |= (uint64_t)(unsigned char)p[k] << (8 * k);
        k++;
    }
    if (k)
        h = pf_hash_word(h, w);
    *hash = pf_hash_final(h, (size_t)(p - s) + k);
    return p + k;
}

/* Marks name id as used (pf_stacktree_track_names).  id, or PF_NONE when out of
 * memory. */
static uint32_t mark_used(struct pf_stacktree_priv *pv, uint32_t id)
{
    if (id >= pv->cap_used) {
        uint32_t nc = pv->cap_used ? pv->cap_used : 256;
        while (nc <= id)
            nc = nc > UINT32_MAX / 2 ? UINT32_MAX : nc * 2;
        unsigned char *u = pf_realloc(pv->used, nc);
        if (u == NULL)
            return PF_NONE;
        memset(u + pv->cap_used, 0, nc - pv->cap_used);
        pv->used = u;
        pv->cap_used = nc;
    }
    pv->used[id] = 1;
    return id;
}

/* The id of s[0..n), whose pf_hash_bytes is h, added if new; PF_NONE when out of
 * memory. */
static uint32_t intern_h(pf_stacktree *t, const char *s, size_t n, uint64_t h)
{
    struct pf_stacktree_priv *pv = t->priv;
    struct name_key k = { t->names, s, n };
    uint32_t id = pf_hmap_find(pv->names, h, name_eq, &k);
    if (id != PF_HMAP_NONE)
        return pv->track ? mark_used(pv, id) : id;
    /* Room in the index first, so a string is never in the table without its entry. */
    if (pf_hmap_reserve(pv->names, pf_hmap_count(pv->names) + 1) < 0)
        return PF_NONE;
    id = pf_strtab_append(t->names, s, n);
    if (id == PF_STR_NONE)
        return PF_NONE;
    (void)pf_hmap_add(pv->names, h, id);      /* cannot fail after the reserve */
    return pv->track ? mark_used(pv, id) : id;
}

static uint32_t intern(pf_stacktree *t, const char *s, size_t n)
{
    return intern_h(t, s, n, pf_hash_bytes(s, n));
}

/* ---- nodes ---------------------------------------------------------------------------- */

static int grow(void **p, size_t n, size_t size)
{
    void *q = pf_reallocarray(*p, n, size);
    if (q == NULL)
        return -1;
    *p = q;
    return 0;
}

/* Makes room for node index `need - 1`.  0, or -1 (every array stays at least cap long). */
static int nodes_reserve(pf_stacktree *t, uint32_t need)
{
    struct pf_stacktree_priv *pv = t->priv;
    if (need <= pv->cap)
        return 0;
    if (need > MAX_NODES)
        return -1;
    uint32_t nc = pv->cap;
    while (nc < need)
        nc = nc > MAX_NODES / 2 ? MAX_NODES : nc * 2;
    if (grow((void **)&t->nodes, nc, sizeof *t->nodes) < 0 ||
        (t->diff && grow((void **)&t->diff, nc, sizeof *t->diff) < 0) ||
        (t->info && grow((void **)&t->info, nc, sizeof *t->info) < 0) ||
        (pv->last_child && grow((void **)&pv->last_child, nc, sizeof *pv->last_child) < 0) ||
        (pv->phash && grow((void **)&pv->phash, nc, sizeof *pv->phash) < 0) ||
        (pv->visit && grow((void **)&pv->visit, nc, sizeof *pv->visit) < 0))
        return -1;
    pv->cap = nc;
    return 0;
}

/* Page faults are costly (more so in virtual machines), and nodes[] is filled front
 * to back: faulting its pages in 2 MiB at a time, in one call each, instead of one
 * trap per 4 KiB page, cuts the kernel's share of a big load.  Only a hint: without
 * MADV_POPULATE_WRITE, or on failure, pages fault as usual. */
#define POPULATE_STEP ((size_t)2 << 20)
static void populate_nodes(pf_stacktree *t, size_t need)
{
    struct pf_stacktree_priv *pv = t->priv;
    size_t end = (size_t)pv->cap * sizeof *t->nodes;
    if (end < 16 * POPULATE_STEP) {
        pv->populated = need;            /* small trees fault as they go */
        return;
    }
    size_t to = need + POPULATE_STEP < end ? need + POPULATE_STEP : end;
#if defined(__linux__) && defined(MADV_POPULATE_WRITE)
    uintptr_t page = 4096, base = (uintptr_t)t->nodes;
    uintptr_t a = (base + pv->populated + page - 1) & ~(page - 1), e = (base + to) & ~(page - 1);
    if (e > a)
        (void)madvise((void *)a, e - a, MADV_POPULATE_WRITE);
#endif
    pv->populated = to;
}

/* Appends a node whose path hash is h; the caller reserved room. */
static uint32_t node_append(pf_stacktree *t, uint32_t parent, uint32_t name, uint64_t h)
{
    struct pf_stacktree_priv *pv = t->priv;
    uint32_t id = t->nnodes++;
    if (((size_t)id + 1) * sizeof *t->nodes > pv->populated)
        populate_nodes(t, ((size_t)id + 1) * sizeof *t->nodes);
    if (pv->phash)
        pv->phash[id] = h;
    if (pv->visit)
        pv->visit[id] = PF_NONE;
    pf_stack_node *n = &t->nodes[id];
    n->name = name;
    n->parent = parent;
    n->first_child = n->next_sibling = PF_NONE;
    n->self = n->total = 0;
    if (t->diff)
        t->diff[id].self2 = t->diff[id].total2 = 0;
    if (t->info) {
        memset(&t->info[id], 0, sizeof t->info[id]);
        t->info[id].code = PF_NONE;
    }
    if (pv->last_child) {
        pv->last_child[id] = PF_NONE;
        if (parent != PF_NONE)
            pv->last_child[parent] = id;
    }
    pv->finished = 0;
    return id;
}

struct kid_key {
    const pf_stack_node *nodes;
    uint32_t parent, name;
};

static int kid_eq(void *ctx, uint32_t id)
{
    const struct kid_key *k = ctx;
    return k->nodes[id].parent == k->parent && k->nodes[id].name == k->name;
}

static int any_kid(void *ctx, uint32_t id)
{
    (void)ctx;
    (void)id;
    return 1;
}

/* Appends a child known to be missing and indexes it; the caller made room in both. */
static uint32_t new_child(pf_stacktree *t, uint32_t parent, uint32_t name, uint64_t h)
{
    uint32_t id = node_append(t, parent, name, h);
    (void)pf_hmap_add(t->priv->kids, h, id);  /* cannot fail after the reserve */
    return id;
}

/* The child of parent named name whose path hash is h (name merging), created if
 * missing; PF_NONE when out of memory. */
static uint32_t child_h(pf_stacktree *t, uint32_t parent, uint32_t name, uint64_t h)
{
    struct pf_stacktree_priv *pv = t->priv;
    struct kid_key k = { t->nodes, parent, name };
    uint32_t id = pf_hmap_find(pv->kids, h, kid_eq, &k);
    if (id != PF_HMAP_NONE)
        return id;
    if (nodes_reserve(t, t->nnodes + 1) < 0 ||
        pf_hmap_reserve(pv->kids, pf_hmap_count(pv->kids) + 1) < 0)
        return PF_NONE;
    return new_child(t, parent, name, h);
}

/* Makes phash current for every node.  0, or -1 (out of memory). */
static int ensure_phash(pf_stacktree *t)
{
    struct pf_stacktree_priv *pv = t->priv;
    if (pv->phash)
        return 0;
    pv->phash = pf_malloc(pv->cap * sizeof *pv->phash);
    if (pv->phash == NULL)
        return -1;
    pv->phash[0] = ROOT_HASH;
    for (uint32_t i = 1; i < t->nnodes; i++)
        pv->phash[i] = path_hash(pv->phash[t->nodes[i].parent], t->nodes[i].name);
    return 0;
}

/* Brings the child index up to date after kids_stale.  0, or -1 (out of memory). */
static int fresh_kids(pf_stacktree *t)
{
    struct pf_stacktree_priv *pv = t->priv;
    if (!pv->kids_stale)
        return 0;
    if (ensure_phash(t) < 0 || pf_hmap_reserve(pv->kids, t->nnodes) < 0)
        return -1;
    pf_hmap_clear(pv->kids);
    for (uint32_t i = 1; i < t->nnodes; i++)
        (void)pf_hmap_add(pv->kids, pv->phash[i], i);   /* room was made */
    pv->kids_stale = 0;
    return 0;
}

/* Records that a builder reached node id (pf_stacktree_track_visits_). */
static inline uint32_t touch(struct pf_stacktree_priv *pv, uint32_t id)
{
    if (pv->vtrack && id != PF_NONE && pv->visit[id] == PF_NONE)
        pv->visit[id] = pv->nvisit++;
    return id;
}

static uint32_t child_impl(pf_stacktree *t, uint32_t parent, uint32_t name);

/* The child of parent named name, created if missing; PF_NONE when out of memory. */
static uint32_t child(pf_stacktree *t, uint32_t parent, uint32_t name)
{
    return touch(t->priv, child_impl(t, parent, name));
}

static uint32_t child_impl(pf_stacktree *t, uint32_t parent, uint32_t name)
{
    struct pf_stacktree_priv *pv = t->priv;
    if (pv->merge_last) {
        if (nodes_reserve(t, t->nnodes + 1) < 0)
            return PF_NONE;
        uint32_t last = pv->last_child[parent];
        if (last != PF_NONE && t->nodes[last].name == name)
            return last;
        return node_append(t, parent, name, 0);
    }
    if (ensure_phash(t) < 0 || fresh_kids(t) < 0)
        return PF_NONE;
    return child_h(t, parent, name, path_hash(pv->phash[parent], name));
}

static int want_diff(pf_stacktree *t)
{
    if (t->diff)
        return 0;
    t->diff = pf_calloc(t->priv->cap, sizeof *t->diff);
    if (t->diff == NULL)
        return -1;
    t->has_count2 = 1;
    return 0;
}

/* A tree like pf_stacktree_new's; merge_last selects chart merging for its builder. */
static pf_stacktree *tree_new(const pf_stack_opts *opts, int merge_last, int share_names)
{
    pf_stacktree *t = pf_calloc(1, sizeof *t);
    if (t == NULL)
        return NULL;
    if (opts)
        t->opts = *opts;
    else
        pf_stack_opts_init(&t->opts);
    struct pf_stacktree_priv *pv = t->priv = pf_calloc(1, sizeof *t->priv);
    if (pv == NULL)
        goto fail;
    pv->cap = 1024;
    pv->merge_last = merge_last;
    t->nodes = pf_malloc(pv->cap * sizeof *t->nodes);
    if (t->nodes == NULL)
        goto fail;
    if (merge_last) {
        pv->last_child = pf_malloc(pv->cap * sizeof *pv->last_child);
        if (pv->last_child == NULL)
            goto fail;
    } else if ((pv->kids = pf_hmap_new(pv->cap)) == NULL) {
        goto fail;
    }
    if (!share_names) {
        t->names = pf_strtab_new();
        pv->names = pf_hmap_new(256);
        if (t->names == NULL || pv->names == NULL)
            goto fail;
        uint32_t all = intern(t, "all", 3);
        if (all == PF_NONE)
            goto fail;
        node_append(t, PF_NONE, all, ROOT_HASH);
    }
    return t;
fail:
    pf_stacktree_free(t);
    return NULL;
}

/* Moves src's names (and their index) into dst, a tree made with share_names, and
 * gives dst a root named like src's. */
static void take_names(pf_stacktree *dst, pf_stacktree *src)
{
    dst->names = src->names;
    dst->priv->names = src->priv->names;
    src->names = NULL;
    src->priv->names = NULL;
    node_append(dst, PF_NONE, src->nodes[0].name, ROOT_HASH);
}

pf_stacktree *pf_stacktree_new(const pf_stack_opts *opts)
{
    return tree_new(opts, opts && opts->order == PF_ORDER_CHART, 0);
}

void pf_stacktree_free(pf_stacktree *t)
{
    if (t == NULL)
        return;
    if (t->priv) {
        pf_hmap_free(t->priv->names);
        pf_hmap_free(t->priv->kids);
        pf_free(t->priv->phash);
        pf_free(t->priv->hs);
        pf_free(t->priv->last_child);
        pf_free(t->priv->pnames);
        pf_free(t->priv->pnodes);
        pf_free(t->priv->cur);
        pf_free(t->priv->used);
        pf_free(t->priv->visit);
        pf_free(t->priv);
    }
    pf_strtab_free(t->names);
    pf_free(t->nodes);
    pf_free(t->diff);
    pf_free(t->info);
    pf_free(t);
}

/* ---- adding stacks -------------------------------------------------------------------- */

static int reserve_path(struct pf_stacktree_priv *p, size_t need)
{
    if (need <= p->cap_path)
        return 0;
    size_t nc = p->cap_path ? p->cap_path : 64;
    while (nc < need)
        nc *= 2;
    if (grow((void **)&p->pnames, nc, sizeof *p->pnames) < 0 ||
        grow((void **)&p->pnodes, nc, sizeof *p->pnodes) < 0 ||
        grow((void **)&p->cur, nc, sizeof *p->cur) < 0 ||
        grow((void **)&p->hs, nc, sizeof *p->hs) < 0)
        return -1;
    p->cap_path = nc;
    return 0;
}

/* Checks a count and the running sum it joins; 0 or -1 with err set.  Counts below
 * MIN_COUNT (denormals and their neighbours) are refused too: a total that small
 * scales to infinity when drawn. */
static int check_count(double v, double *sum, pf_error *err)
{
    if (!(v >= 0) || !(v <= MAX_TOTAL) || (v > 0 && v < MIN_COUNT))
        return pf_error_set(err, PF_ELIMIT, "count %g is out of range", v);
    if (v > MAX_TOTAL - *sum)
        return pf_error_set(err, PF_ELIMIT, "counts add up to more than %g", MAX_TOTAL);
    return 0;
}

int pf_stacktree_add(pf_stacktree *t, const char *stack, size_t len, double count,
                     double count2, int has_count2, pf_error *err)
{
    struct pf_stacktree_priv *p = t->priv;
    if (p->rebased)
        return pf_error_set(err, PF_EUSAGE, "stacks added to a rebased tree");
    double k = t->opts.factor > 0 ? t->opts.factor : 1;
    double v = count * k, v2 = has_count2 ? count2 * k : 0;
    if (check_count(v, &p->sum, err) < 0 || check_count(v2, &p->sum2, err) < 0)
        return -1;
    if ((has_count2 && want_diff(t) < 0) || fresh_kids(t) < 0)
        goto nomem;
    if (stack == NULL)
        stack = "", len = 0;
    /* 1. intern every frame */
    size_t depth = 0;
    const char *end = stack + len, *pos = t->opts.reverse ? end : stack;
    for (;;) {
        const char *f;
        size_t n;
        uint64_t fh;
        if (!t->opts.reverse) {
            const char *fe = scan_frame(pos, end, &fh);
            f = pos;
            n = (size_t)(fe - pos);
            pos = fe < end ? fe + 1 : NULL;
        } else {
            const char *semi = memrchr(stack, ';', (size_t)(pos - stack));
            f = semi ? semi + 1 : stack;
            n = (size_t)(pos - f);
            pos = semi;
            fh = pf_hash_bytes(f, n);
        }
        if (reserve_path(p, depth + 1) < 0)
            goto nomem;
        uint32_t name = intern_h(t, f, n, fh);
        if (name == PF_NONE)
            goto nomem;
        p->cur[depth++] = name;
        if (!pos)
            break;
    }
    /* 2. the prefix shared with the previous stack, then the rest */
    size_t common = 0;
    while (common < depth && common < p->npath && p->pnames[common] == p->cur[common])
        common++;
    if (p->merge_last) {
        /* A flame chart merges exactly the shared prefix: the rest is new. */
        if (nodes_reserve(t, t->nnodes + (uint32_t)(depth - common)) < 0)
            goto nomem;
        for (size_t d = common; d < depth; d++) {
            p->pnodes[d] = touch(p, node_append(t, d ? p->pnodes[d - 1] : 0, p->cur[d], 0));
            p->pnames[d] = p->cur[d];
        }
    } else if (common < depth) {
        /* Path hashes first, prefetching the slots ahead of the dependent lookups
         * (no insert grows the index meanwhile: room is made first). */
        if (pf_hmap_reserve(p->kids, pf_hmap_count(p->kids) + (depth - common)) < 0)
            goto nomem;
        /* hs[0 .. common) still holds the shared prefix's hashes */
        uint64_t h = common ? p->hs[common - 1] : ROOT_HASH;
        for (size_t d = common; d < depth; d++) {
            h = path_hash(h, p->cur[d]);
            p->hs[d] = h;
            if (d < common + PREFETCH_AHEAD)
                pf_hmap_prefetch(p->kids, h);
        }
        /* Then the nodes those slots name (a first candidate per frame), so that
         * confirming each one's (parent, name) overlaps too. */
        for (size_t d = common; d < depth && d < common + PREFETCH_AHEAD; d++) {
            uint32_t c = pf_hmap_find(p->kids, p->hs[d], any_kid, NULL);
            p->pnodes[d] = c;
#if defined(__GNUC__)
            if (c != PF_HMAP_NONE)
                __builtin_prefetch(&t->nodes[c]);
#endif
        }
        for (size_t d = common; d < depth; d++) {
            if (d + PREFETCH_AHEAD < depth)
                pf_hmap_prefetch(p->kids, p->hs[d + PREFETCH_AHEAD]);
            uint32_t par = d ? p->pnodes[d - 1] : 0, id;
            uint32_t c = d < common + PREFETCH_AHEAD ? p->pnodes[d]
                                                     : pf_hmap_find(p->kids, p->hs[d], any_kid, NULL);
            if (c == PF_HMAP_NONE)          /* no entry has this path hash: a new node */
                id = nodes_reserve(t, t->nnodes + 1) < 0 ? PF_NONE : new_child(t, par, p->cur[d], p->hs[d]);
            else if (t->nodes[c].parent == par && t->nodes[c].name == p->cur[d])
                id = c;
            else                            /* another path with the same hash */
                id = child_h(t, par, p->cur[d], p->hs[d]);
            if (id == PF_NONE)
                goto nomem;
            p->pnames[d] = p->cur[d];
            p->pnodes[d] = touch(p, id);
        }
    }
    p->npath = depth;
    uint32_t leaf = p->pnodes[depth - 1];
    t->nodes[leaf].self += v;
    p->sum += v;
    if (has_count2) {
        t->diff[leaf].self2 += v2;
        p->sum2 += v2;
    }
    p->finished = 0;
    return 0;
nomem:
    p->npath = 0;        /* the path may be half-updated: do not trust it next time */
    return pf_error_set(err, PF_ENOMEM, NULL);
}

uint32_t pf_stacktree_child(pf_stacktree *t, uint32_t parent, const char *name, size_t len,
                            pf_error *err)
{
    struct pf_stacktree_priv *p = t->priv;
    if (p->rebased || p->merge_last || parent >= t->nnodes) {
        pf_error_set(err, PF_EUSAGE, "node-by-node building needs a name-merged tree");
        return PF_NONE;
    }
    uint32_t nm = intern(t, name ? name : "", name ? len : 0);
    uint32_t c = nm == PF_NONE ? PF_NONE : child(t, parent, nm);
    if (c == PF_NONE)
        pf_error_set(err, PF_ENOMEM, NULL);
    p->npath = 0;                /* the stack loader's cached path is no longer current */
    return c;
}

uint32_t pf_stacktree_intern(pf_stacktree *t, const char *name, size_t len)
{
    return intern(t, name ? name : "", name ? len : 0);
}

uint32_t pf_stacktree_child_id(pf_stacktree *t, uint32_t parent, uint32_t name, pf_error *err)
{
    struct pf_stacktree_priv *p = t->priv;
    if (p->rebased || p->merge_last || parent >= t->nnodes || name >= pf_strtab_count(t->names)) {
        pf_error_set(err, PF_EUSAGE, "node-by-node building needs a name-merged tree");
        return PF_NONE;
    }
    uint32_t c = child(t, parent, name);
    if (c == PF_NONE)
        pf_error_set(err, PF_ENOMEM, NULL);
    p->npath = 0;
    return c;
}

int pf_stacktree_add_self(pf_stacktree *t, uint32_t i, double count, double count2,
                          int has_count2, pf_error *err)
{
    struct pf_stacktree_priv *p = t->priv;
    if (i >= t->nnodes)
        return pf_error_set(err, PF_EUSAGE, "no node %u", i);
    if (check_count(count, &p->sum, err) < 0 ||
        (has_count2 && check_count(count2, &p->sum2, err) < 0))
        return -1;
    if (has_count2 && want_diff(t) < 0)
        return pf_error_set(err, PF_ENOMEM, NULL);
    t->nodes[i].self += count;
    p->sum += count;
    if (has_count2) {
        t->diff[i].self2 += count2;
        p->sum2 += count2;
    }
    p->finished = 0;
    return 0;
}

int pf_stacktree_swap_counts(pf_stacktree *t, pf_error *err)
{
    struct pf_stacktree_priv *p = t->priv;
    if (want_diff(t) < 0)
        return pf_error_set(err, PF_ENOMEM, NULL);
    for (uint32_t i = 0; i < t->nnodes; i++) {
        double s = t->nodes[i].self;
        t->nodes[i].self = t->diff[i].self2;
        t->diff[i].self2 = s;
    }
    double s = p->sum;
    p->sum = p->sum2;
    p->sum2 = s;
    p->finished = 0;
    return 0;
}

void pf_stacktree_track_names(pf_stacktree *t, int on)
{
    struct pf_stacktree_priv *p = t->priv;
    if (on && p->used)
        memset(p->used, 0, p->cap_used);
    p->track = on != 0;
}

int pf_stacktree_name_used(const pf_stacktree *t, uint32_t id)
{
    return id < t->priv->cap_used && t->priv->used[id];
}

/* ---- builder primitives (stacktree_internal.h) ---------------------------------------- */

int pf_stacktree_want_count2_(pf_stacktree *t)
{
    return want_diff(t);
}

void pf_stacktree_set_col_(pf_stacktree *t, uint32_t i, int col, double v)
{
    if (col == 1)
        t->nodes[i].self = v;
    else
        t->diff[i].self2 = v;
}

void pf_stacktree_values_changed_(pf_stacktree *t)
{
    struct pf_stacktree_priv *p = t->priv;
    double s = 0, s2 = 0;
    for (uint32_t i = 0; i < t->nnodes; i++) {
        s += t->nodes[i].self;
        s2 += pf_stacktree_self2(t, i);
    }
    p->sum = s;
    p->sum2 = s2;
    p->finished = 0;
}

void pf_stacktree_totals_(pf_stacktree *t)
{
    pf_stack_node *nd = t->nodes;
    for (uint32_t i = 0; i < t->nnodes; i++)
        nd[i].total = nd[i].self;
    for (uint32_t i = t->nnodes; i-- > 1;)
        nd[nd[i].parent].total += nd[i].total;
    if (t->diff) {
        pf_stack_diff *df = t->diff;
        for (uint32_t i = 0; i < t->nnodes; i++)
            df[i].total2 = df[i].self2;
        for (uint32_t i = t->nnodes; i-- > 1;)
            df[nd[i].parent].total2 += df[i].total2;
    }
    t->priv->finished = 0;          /* the links are not made */
}

/* Drops the child index and the path hashes: the next lookup rebuilds them. */
static void drop_index(pf_stacktree *t)
{
    struct pf_stacktree_priv *p = t->priv;
    pf_free(p->phash);
    p->phash = NULL;
    if (p->kids)
        pf_hmap_clear(p->kids);
    p->kids_stale = 1;
    p->npath = 0;
}

int pf_stacktree_drop_index_(pf_stacktree *t)
{
    struct pf_stacktree_priv *p = t->priv;
    if (p->merge_last)
        return 0;
    /* the memory too, not only the entries: a big tree's index is a third of it */
    pf_hmap *small = pf_hmap_new(16);
    if (small == NULL)
        return -1;
    drop_index(t);
    pf_hmap_free(p->kids);
    p->kids = small;
    return 0;
}

uint32_t pf_stacktree_append_(pf_stacktree *t, uint32_t parent, uint32_t name)
{
    struct pf_stacktree_priv *p = t->priv;
    if (p->merge_last || p->rebased || parent >= t->nnodes || name >= pf_strtab_count(t->names))
        return PF_NONE;
    if (!p->kids_stale)
        drop_index(t);
    if (nodes_reserve(t, t->nnodes + 1) < 0)
        return PF_NONE;
    return node_append(t, parent, name, 0);
}

int pf_stacktree_track_visits_(pf_stacktree *t, int on)
{
    struct pf_stacktree_priv *p = t->priv;
    p->vtrack = 0;
    if (!on)
        return 0;
    if (p->visit == NULL && (p->visit = pf_malloc(p->cap * sizeof *p->visit)) == NULL)
        return -1;
    for (uint32_t i = 0; i < t->nnodes; i++)
        p->visit[i] = PF_NONE;
    p->nvisit = 0;
    p->npath = 0;                /* the loader's cached path must be reached again */
    p->vtrack = 1;
    return 0;
}

const uint32_t *pf_stacktree_visits_(const pf_stacktree *t, uint32_t *count)
{
    *count = t->priv->nvisit;
    return t->priv->visit;
}

uint32_t *pf_stacktree_detach_visits_(pf_stacktree *t)
{
    uint32_t *v = t->priv->visit;
    t->priv->visit = NULL;
    t->priv->vtrack = 0;
    return v;
}

int pf_stacktree_permute_(pf_stacktree *t, const uint32_t *to, uint32_t n_new, uint32_t m)
{
    struct pf_stacktree_priv *p = t->priv;
    uint32_t n = t->nnodes;
    if (p->merge_last || p->rebased || n == 0 || to[0] != 0 || n_new > n || m > n_new)
        return -1;
    /* The index goes first: it is stale after, and its memory makes room for the
     * copies. */
    pf_hmap *small = pf_hmap_new(16);
    if (small == NULL)
        return -1;
    drop_index(t);
    pf_hmap_free(p->kids);
    p->kids = small;
    /* the nodes going to [m, n_new) are gathered in buffers (all of them when m is 0:
     * the buffers then become the arrays) */
    uint32_t nb = n_new - m;
    size_t cap = m == 0 ? p->cap : nb ? nb : 1;
    pf_stack_node *nd = pf_malloc(cap * sizeof *nd);
    pf_stack_diff *df = t->diff ? pf_malloc(cap * sizeof *df) : NULL;
    pf_stack_info *in = t->info ? pf_malloc(cap * sizeof *in) : NULL;
    if (nd == NULL || (t->diff && df == NULL) || (t->info && in == NULL)) {
        pf_free(nd);
        pf_free(df);
        pf_free(in);
        return -1;
    }
    for (uint32_t i = 0; i < n; i++) {
        uint32_t k = to[i];
        if (k == PF_NONE || k < m)
            continue;
        nd[k - m] = t->nodes[i];
        nd[k - m].parent = i ? to[t->nodes[i].parent] : PF_NONE;
        if (df)
            df[k - m] = t->diff[i];
        if (in)
            in[k - m] = t->info[i];
    }
    if (m == 0) {
        pf_free(t->nodes);
        pf_free(t->diff);
        pf_free(t->info);
        t->nodes = nd;
        t->diff = df;
        t->info = in;
        p->populated = (size_t)n_new * sizeof *nd;
    } else {
        /* the others keep their order, so they only move down, in place */
        for (uint32_t i = 0; i < n; i++) {
            uint32_t k = to[i];
            if (k == PF_NONE || k >= m)
                continue;
            uint32_t par = t->nodes[i].parent;
            t->nodes[k] = t->nodes[i];
            t->nodes[k].parent = i ? to[par] : PF_NONE;
            if (df)
                t->diff[k] = t->diff[i];
            if (in)
                t->info[k] = t->info[i];
        }
        memcpy(t->nodes + m, nd, (size_t)nb * sizeof *nd);
        if (df)
            memcpy(t->diff + m, df, (size_t)nb * sizeof *df);
        if (in)
            memcpy(t->info + m, in, (size_t)nb * sizeof *in);
        pf_free(nd);
        pf_free(df);
        pf_free(in);
    }
    t->nnodes = n_new;
    pf_free(p->visit);           /* visits name old indexes */
    p->visit = NULL;
    p->vtrack = 0;
    p->finished = 0;
    return 0;
}

/* ---- finishing: totals, sibling order, base ------------------------------------------ */

/* A string with its index, so comparators need no outside context. */
struct sort_key {
    const char *p;
    size_t n;
    uint32_t id;
    int special;                     /* holds bytes the collapsed writer replaces */
};

/* The byte a frame byte becomes in collapsed output (see put_frame). */
static inline unsigned char out_byte(unsigned char c)
{
    return c == ';' ? ',' : (c == '\n' || c == '\r') ? '?' : c;
}

static int cmp_raw(const void *a, const void *b)
{
    const struct sort_key *x = a, *y = b;
    int c = memcmp(x->p, y->p, x->n < y->n ? x->n : y->n);
    if (c)
        return c;
    if (x->n != y->n)
        return x->n < y->n ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* Orders names by their bytes as written, so collapsed output is sorted as it reads. */
static int cmp_written(const void *a, const void *b)
{
    const struct sort_key *x = a, *y = b;
    if (!x->special && !y->special)
        return cmp_raw(a, b);
    size_t n = x->n < y->n ? x->n : y->n;
    const unsigned char *p = (const unsigned char *)x->p, *q = (const unsigned char *)y->p;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = out_byte(p[i]), d = out_byte(q[i]);
        if (c != d)
            return c < d ? -1 : 1;
    }
    if (x->n != y->n)
        return x->n < y->n ? -1 : 1;
    /* Equal as written (say "a\r" and "a?"): keep a fixed order. */
    return x->id < y->id ? -1 : x->id > y->id;
}

static int has_special(const char *p, size_t n)
{
    return memchr(p, ';', n) || memchr(p, '\n', n) || memchr(p, '\r', n);
}

/* Children of every node as CSR: the children of node n are kids[start[n] ..
 * start[n+1]), in name order (raw bytes, or bytes as written), or in index order when
 * by_name is 0.  Two counting sorts (by name rank, then stably by parent) instead of a
 * comparison sort of all nodes.  The caller frees both.  0, or -1 (out of memory). */
static int sorted_children(const pf_stacktree *t, int by_name, int written, uint32_t **pstart,
                           uint32_t **pkids)
{
    uint32_t nn = pf_strtab_count(t->names), n = t->nnodes;
    struct sort_key *ids = NULL;
    uint32_t *rank = NULL, *cnt = NULL, *byrank = NULL;
    uint32_t *start = pf_calloc((size_t)n + 1, sizeof *start);
    uint32_t *kids = pf_malloc((size_t)n * sizeof *kids);
    uint32_t *fill = pf_malloc((size_t)n * sizeof *fill);
    if (!start || !kids || !fill)
        goto fail;
    const uint32_t *order = NULL;
    if (by_name) {
        ids = pf_malloc((size_t)nn * sizeof *ids);
        rank = pf_malloc((size_t)nn * sizeof *rank);
        cnt = pf_calloc((size_t)nn + 1, sizeof *cnt);
        byrank = pf_malloc((size_t)n * sizeof *byrank);
        if (!ids || !rank || !cnt || !byrank)
            goto fail;
        for (uint32_t i = 0; i < nn; i++) {
            size_t len;
            const char *s = pf_strtab_get(t->names, i, &len);
            ids[i] = (struct sort_key){ s, len, i, written && has_special(s, len) };
        }
        qsort(ids, nn, sizeof *ids, written ? cmp_written : cmp_raw);
        for (uint32_t i = 0; i < nn; i++)
            rank[ids[i].id] = i;
        for (uint32_t i = 1; i < n; i++)
            cnt[rank[t->nodes[i].name] + 1]++;
        for (uint32_t r = 0; r < nn; r++)
            cnt[r + 1] += cnt[r];
        for (uint32_t i = 1; i < n; i++)
            byrank[cnt[rank[t->nodes[i].name]]++] = i;
        order = byrank;
    }
    for (uint32_t i = 1; i < n; i++)
        start[t->nodes[i].parent + 1]++;
    for (uint32_t i = 0; i < n; i++)
        start[i + 1] += start[i];
    memcpy(fill, start, (size_t)n * sizeof *fill);
    for (uint32_t k = 0; k + 1 < n; k++) {
        uint32_t i = order ? order[k] : k + 1;
        kids[fill[t->nodes[i].parent]++] = i;
    }
    pf_free(ids);
    pf_free(rank);
    pf_free(cnt);
    pf_free(byrank);
    pf_free(fill);
    *pstart = start;
    *pkids = kids;
    return 0;
fail:
    pf_free(ids);
    pf_free(rank);
    pf_free(cnt);
    pf_free(byrank);
    pf_free(fill);
    pf_free(start);
    pf_free(kids);
    return -1;
}

/* rank[name id] = the name's position in byte order (a small, cache-hot table: there
 * are few distinct names).  NULL when out of memory. */
static uint32_t *name_ranks(const pf_stacktree *t)
{
    uint32_t nn = pf_strtab_count(t->names);
    struct sort_key *ids = pf_malloc((size_t)(nn ? nn : 1) * sizeof *ids);
    uint32_t *rank = pf_malloc((size_t)(nn ? nn : 1) * sizeof *rank);
    if (!ids || !rank) {
        pf_free(ids);
        pf_free(rank);
        return NULL;
    }
    for (uint32_t i = 0; i < nn; i++) {
        size_t len;
        const char *s = pf_strtab_get(t->names, i, &len);
        ids[i] = (struct sort_key){ s, len, i, 0 };
    }
    qsort(ids, nn, sizeof *ids, cmp_raw);
    for (uint32_t i = 0; i < nn; i++)
        rank[ids[i].id] = i;
    pf_free(ids);
    return rank;
}

uint32_t *pf_stacktree_name_ranks_(const pf_stacktree *t)
{
    return name_ranks(t);
}

struct ranked {
    uint32_t rank, node;
};

static int cmp_ranked(const void *a, const void *b)
{
    const struct ranked *x = a, *y = b;
    return (x->rank > y->rank) - (x->rank < y->rank);
}

/* Relinks the children of p (n of them, n >= 2) in name order: insertion sort for
 * the usual handful, qsort through *buf for long lists.  0, or -1 (out of memory). */
static int sort_siblings(pf_stack_node *nd, uint32_t p, uint32_t n, const uint32_t *rank,
                         struct ranked **buf, size_t *cap)
{
    if (n <= 16) {
        uint32_t head = PF_NONE;         /* sorted list, built by insertion */
        for (uint32_t c = nd[p].first_child, next; c != PF_NONE; c = next) {
            next = nd[c].next_sibling;
            uint32_t r = rank[nd[c].name], *at = &head;
            while (*at != PF_NONE && rank[nd[*at].name] < r)
                at = &nd[*at].next_sibling;
            nd[c].next_sibling = *at;
            *at = c;
        }
        nd[p].first_child = head;
        return 0;
    }
    if (n > *cap) {
        if (grow((void **)buf, n, sizeof **buf) < 0)
            return -1;
        *cap = n;
    }
    uint32_t k = 0;
    for (uint32_t c = nd[p].first_child; c != PF_NONE; c = nd[c].next_sibling)
        (*buf)[k++] = (struct ranked){ rank[nd[c].name], c };
    qsort(*buf, n, sizeof **buf, cmp_ranked);
    nd[p].first_child = (*buf)[0].node;
    for (k = 0; k < n; k++)
        nd[(*buf)[k].node].next_sibling = k + 1 < n ? (*buf)[k + 1].node : PF_NONE;
    return 0;
}

/* Totals from self values and sibling links in the tree's order: one reverse pass
 * links every child list in index (creation) order; under name order each list with
 * more than one child is then sorted (siblings have distinct names).  0 or -1 (OOM;
 * the totals are then right and the links in index order). */
static int link_and_sum(pf_stacktree *t)
{
    pf_stack_node *nd = t->nodes;
    uint32_t n = t->nnodes;
    uint32_t *rank = NULL;
    for (uint32_t i = 0; i < n; i++) {
        nd[i].total = nd[i].self;
        nd[i].first_child = PF_NONE;
    }
    /* many[p / 8] bit p % 8: p has two children or more (its list needs sorting); a
     * bit array, so finding those nodes touches no node that needs no sort */
    unsigned char *many = t->opts.order == PF_ORDER_NAME ? pf_calloc((size_t)n / 8 + 1, 1) : NULL;
    if (t->opts.order == PF_ORDER_NAME && many == NULL)
        return -1;
    for (uint32_t i = n; i-- > 1;) {
        uint32_t par = nd[i].parent;
        pf_stack_node *pn = &nd[par];
        pn->total += nd[i].total;
        if (many && pn->first_child != PF_NONE)
            many[par / 8] |= (unsigned char)(1u << (par % 8));
        nd[i].next_sibling = pn->first_child;
        pn->first_child = i;
    }
    nd[0].next_sibling = PF_NONE;
    if (t->diff) {
        pf_stack_diff *df = t->diff;
        for (uint32_t i = 0; i < n; i++)
            df[i].total2 = df[i].self2;
        for (uint32_t i = n; i-- > 1;)
            df[nd[i].parent].total2 += df[i].total2;
    }
    if (many == NULL)
        return 0;
    rank = name_ranks(t);
    struct ranked *buf = NULL;
    size_t cap = 0;
    int rc = -1;
    if (!rank)
        goto done;
    for (uint32_t p = 0; p < n; p++) {
        if (!(many[p / 8] >> (p % 8) & 1))
            continue;
        uint32_t k = 0;
        for (uint32_t c = nd[p].first_child; c != PF_NONE; c = nd[c].next_sibling)
            k++;
        if (sort_siblings(nd, p, k, rank, &buf, &cap) < 0)
            goto done;
    }
    rc = 0;
done:
    pf_free(many);
    pf_free(rank);
    pf_free(buf);
    return rc;
}

int pf_stack_name_matches(const char *name, size_t len, const char *func)
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

/* Adds what src says of node si to dst's node di (self values and trace details). */
static int add_values(pf_stacktree *d, uint32_t di, const pf_stacktree *s, uint32_t si)
{
    d->nodes[di].self += s->nodes[si].self;
    if (d->diff)
        d->diff[di].self2 += pf_stacktree_self2(s, si);
    if (d->info && s->info) {
        pf_stack_info *e = &d->info[di];
        const pf_stack_info *x = &s->info[si];
        if (__builtin_add_overflow(e->calls, x->calls, &e->calls) ||
            __builtin_add_overflow(e->self_ns, x->self_ns, &e->self_ns) ||
            __builtin_add_overflow(e->total_ns, x->total_ns, &e->total_ns))
            return -1;
        if (e->code == PF_NONE) {
            e->code = x->code;
            e->line = x->line;
        }
    }
    return 0;
}

/* A new tree of t's names (moved from t) with t's kind of parallel arrays. */
static pf_stacktree *tree_like(pf_stacktree *t, int merge_last, int with_info)
{
    pf_stacktree *d = tree_new(&t->opts, merge_last, 1);
    if (d == NULL)
        return NULL;
    if ((t->diff && want_diff(d) < 0) ||
        (with_info && (d->info = pf_malloc(d->priv->cap * sizeof *d->info)) == NULL)) {
        pf_stacktree_free(d);
        return NULL;
    }
    take_names(d, t);
    d->has_count2 = t->has_count2;
    d->from_trace = t->from_trace;
    d->trace = t->trace;
    return d;
}

/* Undoes take_names: t gets its names back from d (a failed rebuild). */
static void give_back(pf_stacktree *t, pf_stacktree *d)
{
    if (d == NULL || d->names == NULL)
        return;
    t->names = d->names;
    t->priv->names = d->priv->names;
    d->names = NULL;
    d->priv->names = NULL;
}

/* Replaces *t's contents by d's (frees the old contents and d's shell). */
static void replace(pf_stacktree *t, pf_stacktree *d)
{
    pf_stacktree old = *t;
    *t = *d;
    *d = old;
    pf_stacktree_free(d);
}

/* --base: keeps every subtree whose root is the first frame on its path that matches,
 * under a new root, merged by name (or, for charts, with the last child). */
static int rebase(pf_stacktree *t, pf_error *err)
{
    const char *func = t->opts.base;
    int found = 0;
    for (uint32_t i = 1; i < t->nnodes && !found; i++) {
        size_t len;
        const char *s = pf_stacktree_name(t, i, &len);
        found = pf_stack_name_matches(s, len, func);
    }
    if (!found)
        return pf_error_set(err, PF_EEMPTY, "no frame matches --base '%s'", func);
    uint32_t *map = pf_malloc((size_t)t->nnodes * sizeof *map);
    pf_stacktree *d = map ? tree_like(t, t->opts.order == PF_ORDER_CHART, t->info != NULL) : NULL;
    if (d == NULL) {
        pf_free(map);
        return pf_error_set(err, PF_ENOMEM, NULL);
    }
    if (d->info) {
        memset(&d->info[0], 0, sizeof d->info[0]);
        d->info[0].code = PF_NONE;
    }
    map[0] = PF_NONE;
    for (uint32_t i = 1; i < t->nnodes; i++) {
        uint32_t par = t->nodes[i].parent, into;
        map[i] = PF_NONE;
        if (map[par] != PF_NONE) {
            into = map[par];
        } else {
            size_t len;
            const char *s = pf_strtab_get(d->names, t->nodes[i].name, &len);
            if (!pf_stack_name_matches(s, len, func))
                continue;
            into = 0;
        }
        uint32_t c = child(d, into, t->nodes[i].name);
        if (c == PF_NONE)
            goto nomem;
        if (add_values(d, c, t, i) < 0) {
            give_back(t, d);
            pf_stacktree_free(d);
            pf_free(map);
            return pf_error_set(err, PF_ECORRUPT, "call counts or times overflow 64 bits");
        }
        map[i] = c;
    }
    pf_free(map);
    d->priv->rebased = 1;
    d->priv->sum = t->priv->sum;
    d->priv->sum2 = t->priv->sum2;
    replace(t, d);
    return 0;
nomem:
    pf_free(map);
    give_back(t, d);
    pf_stacktree_free(d);
    return pf_error_set(err, PF_ENOMEM, NULL);
}

int pf_stacktree_finish(pf_stacktree *t, pf_error *err)
{
    struct pf_stacktree_priv *pv = t->priv;
    if (pv->finished)
        return 0;
    if (t->opts.base && !pv->rebased && rebase(t, err) < 0)
        return -1;
    if (link_and_sum(t) < 0)
        return pf_error_set(err, PF_ENOMEM, NULL);
    t->priv->finished = 1;
    return 0;
}

/* ---- the collapsed loader ------------------------------------------------------------- */

struct load_ctx {
    pf_stacktree *t;
    const pf_collapsed_opts *user;
    long good;
    int column;                      /* 0: counts as read; 1, 2: the column of the one
                                        count; 3: two counts, a column each */
};

static int load_line(void *ctx, const pf_collapsed_line *l, pf_error *err)
{
    struct load_ctx *lc = ctx;
    pf_error e;
    double c1 = l->count, c2 = l->count2;
    int two = l->has_count2;
    if (lc->column == 3 && !two)
        return pf_error_set(err, PF_EPARSE, "line %lu has one count, where two (\"stack "
                            "before after\", a differential file) were expected", l->lineno);
    if (lc->column == 1 || lc->column == 2) {
        if (two)
            return pf_error_set(err, PF_EPARSE, "line %lu has two counts (\"stack before "
                                "after\", a differential file), where one was expected: "
                                "such a file is an input of its own", l->lineno);
        c1 = lc->column == 1 ? l->count : 0;
        c2 = lc->column == 2 ? l->count : 0;
        two = lc->column == 2;
    }
    if (pf_stacktree_add(lc->t, l->stack, l->stack_len, c1, c2, two, &e) < 0) {
        if (e.code == PF_ENOMEM)
            return pf_error_set(err, PF_ENOMEM, "out of memory at line %lu (%u frames)",
                                l->lineno, lc->t->nnodes);
        return pf_error_set(err, e.code, "%s at line %lu", e.msg, l->lineno);
    }
    lc->good = lc->good < LONG_MAX ? lc->good + 1 : LONG_MAX;
    return 0;
}

static void load_bad(void *ctx, unsigned long lineno, const char *msg)
{
    struct load_ctx *lc = ctx;
    if (lc->user && lc->user->on_bad)
        lc->user->on_bad(lc->user->ctx, lineno, msg);
}

/* Line number of buf[off] when buf starts at line `lineno`. */
static unsigned long line_at(const char *buf, size_t off, unsigned long lineno)
{
    for (const char *p = buf, *e = buf + off; (p = memchr(p, '\n', (size_t)(e - p))) != NULL; p++)
        lineno++;
    return lineno;
}

/* pf_stacktree_load, with the column counts go to (see load_ctx) and whether to finish. */
static long load(pf_stacktree *t, pf_stack_read_fn rd, void *ctx, size_t chunk,
                 const pf_collapsed_opts *copts, int column, int finish, pf_error *err)
{
    size_t cap = chunk ? chunk : DEFAULT_CHUNK, have = 0;
    unsigned long lineno = 1;
    struct load_ctx lc = { t, copts, 0, column };
    pf_collapsed_opts o = { copts ? copts->strict : 0, load_bad, &lc };
    char *buf = pf_malloc(cap);
    if (buf == NULL)
        return pf_error_set(err, PF_ENOMEM, NULL);
    for (;;) {
        if (have == cap) {
            /* A line longer than the buffer: grow to hold it. */
            char *nb = cap > SIZE_MAX / 2 ? NULL : pf_realloc(buf, cap * 2);
            if (nb == NULL) {
                pf_error_set(err, PF_ENOMEM, "out of memory at line %lu (a line longer "
                             "than %zu bytes)", lineno, cap);
                goto fail;
            }
            buf = nb;
            cap *= 2;
        }
        long got = rd(ctx, buf + have, cap - have, err);
        if (got < 0)
            goto fail;
        const char *nul = got ? memchr(buf + have, '\0', (size_t)got) : NULL;
        if (nul) {
            pf_error_set(err, PF_EPARSE, "NUL byte in line %lu (binary data, not collapsed "
                         "stacks); accepted are " PF_INPUT_KINDS_ACCEPTED,
                         line_at(buf, (size_t)(nul - buf), lineno));
            goto fail;
        }
        if (got == 0) {
            if (pf_collapsed_parse_from_(buf, have, &lineno, load_line, &o, err) < 0)
                goto fail;
            break;
        }
        size_t scanned = have;
        have += (size_t)got;
        const char *nl = memrchr(buf + scanned, '\n', have - scanned);
        if (nl == NULL)
            continue;
        size_t whole = (size_t)(nl - buf) + 1;     /* complete lines */
        if (pf_collapsed_parse_from_(buf, whole, &lineno, load_line, &o, err) < 0)
            goto fail;
        memmove(buf, buf + whole, have - whole);
        have -= whole;
    }
    pf_free(buf);
    if (lc.good == 0)
        return pf_error_set(err, PF_EEMPTY, "no stacks found (empty input?)");
    if (finish && pf_stacktree_finish(t, err) < 0)
        return -1;
    return lc.good;
fail:
    pf_free(buf);
    return -1;
}

long pf_stacktree_load(pf_stacktree *t, pf_stack_read_fn rd, void *ctx, size_t chunk,
                       const pf_collapsed_opts *copts, pf_error *err)
{
    return load(t, rd, ctx, chunk, copts, 0, 1, err);
}

/* pf_stack_read_fn over the input reader: copies its windows into the loader's buffer. */
struct input_feed {
    pf_input *in;
    const unsigned char *win;     /* the rest of the current window */
    size_t wlen;
};

static long input_feed_read(void *ctx, char *buf, size_t cap, pf_error *err)
{
    struct input_feed *f = ctx;
    size_t got = 0;
    while (got < cap) {
        if (f->wlen == 0) {
            int r = pf_input_next(f->in, &f->win, &f->wlen, err);
            if (r < 0)
                return -1;
            if (r == 0)
                break;
        }
        size_t n = f->wlen < cap - got ? f->wlen : cap - got;
        memcpy(buf + got, f->win, n);
        f->win += n;
        f->wlen -= n;
        got += n;
    }
    return (long)got;
}

long pf_stacktree_load_input(pf_stacktree *t, pf_input *in, size_t chunk,
                             const pf_collapsed_opts *copts, pf_error *err)
{
    struct input_feed f = { in, NULL, 0 };
    return pf_stacktree_load(t, input_feed_read, &f, chunk, copts, err);
}

long pf_stacktree_load_input_column(pf_stacktree *t, pf_input *in, size_t chunk, int column,
                                    const pf_collapsed_opts *copts, pf_error *err)
{
    struct input_feed f = { in, NULL, 0 };
    if (column < 0 || column > 2)
        return pf_error_set(err, PF_EUSAGE, "no count column %d", column);
    return load(t, input_feed_read, &f, chunk, copts, column ? column : 3, 0, err);
}

struct mem_src {
    const char *p;
    size_t left;
};

static long read_mem(void *ctx, char *buf, size_t cap, pf_error *err)
{
    struct mem_src *m = ctx;
    (void)err;
    size_t n = m->left < cap ? m->left : cap;
    if (n > LONG_MAX)
        n = LONG_MAX;
    if (n == 0)
        return 0;                    /* m->p may be NULL for an empty buffer */
    memcpy(buf, m->p, n);
    m->p += n;
    m->left -= n;
    return (long)n;
}

pf_stacktree *pf_stacktree_from_collapsed(const char *buf, size_t len, const pf_stack_opts *opts,
                                          const pf_collapsed_opts *copts, pf_error *err)
{
    pf_stacktree *t = pf_stacktree_new(opts);
    if (t == NULL) {
        pf_error_set(err, PF_ENOMEM, NULL);
        return NULL;
    }
    struct mem_src m = { buf, len };
    /* A small buffer needs no 1 MiB chunk. */
    size_t chunk = len + 1 < DEFAULT_CHUNK ? (len + 1 < 4096 ? 4096 : len + 1) : 0;
    if (pf_stacktree_load(t, read_mem, &m, chunk, copts, err) < 0) {
        pf_stacktree_free(t);
        return NULL;
    }
    return t;
}

/* ---- from a trace ------------------------------------------------------------------- */

struct trace_build {
    pf_stacktree *f;
    const pf_trace *t;
    int full_paths;
    struct pf_bstr *qual, *path;  /* per code, filled lazily */
    unsigned char *have_parts;    /* per code: 0 unknown, 1 python, 2 native */
    uint32_t *fn_name;            /* per code: function-granularity name id, or PF_NONE */
    char *scratch;
    size_t scratch_cap;
};

/* Name id of (code, line); PF_NONE when out of memory. */
static uint32_t frame_name_id(struct trace_build *b, uint32_t code, uint32_t line)
{
    if (!b->have_parts[code]) {
        int native;
        pf_frame_parts_(b->t, code, b->full_paths, &b->qual[code], &b->path[code], &native);
        b->have_parts[code] = native ? 2 : 1;
    }
    int native = b->have_parts[code] == 2;
    size_t need = pf_frame_compose_(b->scratch, b->scratch_cap, b->qual[code], b->path[code],
                                    native, line);
    if (need > b->scratch_cap) {
        char *ns = pf_realloc(b->scratch, need);
        if (ns == NULL)
            return PF_NONE;
        b->scratch = ns;
        b->scratch_cap = need;
        pf_frame_compose_(b->scratch, b->scratch_cap, b->qual[code], b->path[code], native, line);
    }
    return intern(b->f, b->scratch, need);
}

/* With several processes, the owning process of every thread (PF_NONE: none claims
 * it; it hangs under the root) into proc[], and one frame per process under the root
 * into pnode[]: pf_trace_process_label, plus " [k]" (its process index) when two
 * processes share a label, so they never merge. */
static int add_processes(struct trace_build *b, uint32_t *proc, uint32_t *pnode, pf_error *err)
{
    const pf_trace *t = b->t;
    uint32_t np = t->nprocesses;
    char (*labels)[128] = pf_calloc(np, sizeof *labels);
    struct sort_key *order = pf_calloc(np, sizeof *order);
    unsigned char *dup = pf_calloc(np, 1);
    int rc = -1;
    if (!labels || !order || !dup) {
        pf_error_set(err, PF_ENOMEM, NULL);
        goto done;
    }
    /* The first process claiming a thread owns it, as pf_trace_thread_process says. */
    for (uint32_t p = np; p-- > 0;) {
        const pf_process *pr = &t->processes[p];
        for (uint32_t i = 0; i < pr->nthreads && pr->first_thread + i < t->nthreads; i++)
            proc[pr->first_thread + i] = p;
    }
    for (uint32_t p = 0; p < np; p++) {
        pf_trace_process_label(t, p, labels[p], sizeof labels[p]);
        order[p] = (struct sort_key){ labels[p], strlen(labels[p]), p, 0 };
    }
    qsort(order, np, sizeof *order, cmp_raw);
    for (uint32_t i = 1; i < np; i++) {
        const struct sort_key *x = &order[i - 1], *y = &order[i];
        if (x->n == y->n && memcmp(x->p, y->p, x->n) == 0)
            dup[x->id] = dup[y->id] = 1;
    }
    for (uint32_t p = 0; p < np; p++) {
        size_t n = strlen(labels[p]);
        if (dup[p])
            snprintf(labels[p] + n, sizeof labels[p] - n, " [%u]", p);
        uint32_t nm = intern(b->f, labels[p], strlen(labels[p]));
        pnode[p] = nm == PF_NONE ? PF_NONE : child(b->f, 0, nm);
        if (pnode[p] == PF_NONE) {
            pf_error_set(err, PF_ENOMEM, NULL);
            goto done;
        }
    }
    rc = 0;
done:
    pf_free(labels);
    pf_free(order);
    pf_free(dup);
    return rc;
}

/* The frames above the calls: per thread its name, or "name [ident]" when several
 * threads of one process share a name, "thread <ident>" when it has none; with several
 * processes under their process's frame (add_processes).  Fills tnode[thread]. */
static int add_threads(struct trace_build *b, uint32_t *tnode, pf_error *err)
{
    const pf_trace *t = b->t;
    uint32_t nt = t->nthreads;
    struct pf_bstr *names = pf_calloc(nt, sizeof *names);
    struct sort_key *order = pf_calloc(nt, sizeof *order);
    unsigned char *dup = pf_calloc(nt, 1);
    uint32_t *proc = pf_malloc((nt ? nt : 1) * sizeof *proc);
    uint32_t *pnode = NULL;
    int rc = -1;
    if (!names || !order || !dup || !proc) {
        pf_error_set(err, PF_ENOMEM, NULL);
        goto done;
    }
    if (b->f->opts.no_thread_roots) {
        for (uint32_t i = 0; i < nt; i++)
            tnode[i] = 0;
        rc = 0;
        goto done;
    }
    for (uint32_t i = 0; i < nt; i++)
        proc[i] = PF_NONE;
    if (t->nprocesses > 1) {
        pnode = pf_malloc(t->nprocesses * sizeof *pnode);
        if (pnode == NULL) {
            pf_error_set(err, PF_ENOMEM, NULL);
            goto done;
        }
        if (add_processes(b, proc, pnode, err) < 0)
            goto done;
    }
    for (uint32_t i = 0; i < nt; i++) {
        names[i] = pf_trace_bstr_(t, t->threads[i].name);
        order[i] = (struct sort_key){ names[i].p, names[i].n, i, 0 };
    }
    /* Sorted, equal names are neighbours: O(n log n) even with thousands of threads.
     * Equal names sort by thread index, and a process's threads are one range of
     * indices, so the threads of one process with one name are neighbours too. */
    qsort(order, nt, sizeof *order, cmp_raw);
    for (uint32_t i = 1; i < nt; i++) {
        const struct sort_key *x = &order[i - 1], *y = &order[i];
        if (x->n == y->n && memcmp(x->p, y->p, x->n) == 0 && proc[x->id] == proc[y->id])
            dup[x->id] = dup[y->id] = 1;
    }
    for (uint32_t i = 0; i < nt; i++) {
        char label[64];
        const char *p = names[i].p;
        size_t n = names[i].n;
        char *heap = NULL;
        uint32_t under = proc[i] == PF_NONE ? 0 : pnode[proc[i]];
        if (n == 0) {
            int k = snprintf(label, sizeof label, "thread %llu",
                             (unsigned long long)t->threads[i].ident);
            p = label;
            n = (size_t)k;
        } else if (dup[i]) {
            int k = snprintf(label, sizeof label, " [%llu]",
                             (unsigned long long)t->threads[i].ident);
            heap = pf_malloc(n + (size_t)k);
            if (heap == NULL) {
                pf_error_set(err, PF_ENOMEM, NULL);
                goto done;
            }
            memcpy(heap, names[i].p, n);
            memcpy(heap + n, label, (size_t)k);
            p = heap;
            n += (size_t)k;
        }
        uint32_t nm = intern(b->f, p, n);
        pf_free(heap);
        tnode[i] = nm == PF_NONE ? PF_NONE : child(b->f, under, nm);
        if (tnode[i] == PF_NONE) {
            pf_error_set(err, PF_ENOMEM, NULL);
            goto done;
        }
    }
    rc = 0;
done:
    pf_free(names);
    pf_free(order);
    pf_free(dup);
    pf_free(proc);
    pf_free(pnode);
    return rc;
}

static double metric_value(enum pf_metric m, const pf_trace *t, uint32_t i)
{
    const pf_node *n = &t->nodes[i];
    const pf_mem *mem = pf_trace_node_mem(t, i);
    switch (m) {
    case PF_METRIC_CALLS:       return (double)n->calls;
    case PF_METRIC_ALLOC_BYTES: return (double)mem->alloc_bytes;
    case PF_METRIC_ALLOC_COUNT: return (double)mem->alloc_count;
    case PF_METRIC_PEAK_BYTES:  return (double)mem->peak_bytes;
    case PF_METRIC_EXIT_BYTES:  return (double)mem->exit_bytes;
    default:                    return 0;  /* SELF_TIME: from self_ns at the end */
    }
}

static int add_u64(uint64_t *a, uint64_t b)
{
    return __builtin_add_overflow(*a, b, a) ? -1 : 0;
}

/* 1 (with err set) if call record i refers to a thread, code or parent it cannot have:
 * parents come before their children. */
static int bad_node_ref(const pf_trace *t, uint32_t i, pf_error *err)
{
    const pf_node *nd = &t->nodes[i];
    if (nd->thread < t->nthreads && nd->code < t->ncodes &&
        (nd->parent == PF_NONE || nd->parent < i))
        return 0;
    pf_error_set(err, PF_ECORRUPT, "bad reference in call record %u", i);
    return 1;
}

static int reverse_tree(pf_stacktree *t, pf_error *err);

pf_stacktree *pf_stacktree_from_trace(const pf_trace *t, const pf_stack_opts *opts,
                                      pf_error *err)
{
    pf_stack_opts o;
    struct trace_build b;
    uint32_t *tnode = NULL, *map = NULL;
    memset(&b, 0, sizeof b);
    if (opts)
        o = *opts;
    else
        pf_stack_opts_init(&o);
    if (!(o.time_unit_ns > 0))
        o.time_unit_ns = 1000;
    if (t == NULL) {
        pf_error_set(err, PF_EUSAGE, "no trace");
        return NULL;
    }
    /* a sampled trace's times are counts x interval: its values are sample counts */
    if (pf_trace_is_sampled(t))
        o.time_unit_ns = (double)t->meta.sample_interval_ns;
    if ((unsigned)o.metric > PF_METRIC_EXIT_BYTES || (unsigned)o.granularity > PF_GRAN_LINE ||
        (unsigned)o.order > PF_ORDER_CHART) {
        pf_error_set(err, PF_EUSAGE, "unknown metric, granularity or order");
        return NULL;
    }
    if (o.metric >= PF_METRIC_ALLOC_BYTES && !(t->meta.modes & PF_MODE_MEMORY)) {
        pf_error_set(err, PF_EUSAGE, "the trace has no memory data (it was not recorded "
                                     "with memory tracing)");
        return NULL;
    }
    if (t->nnodes == 0) {
        pf_error_set(err, PF_EEMPTY, "the trace has no call records");
        return NULL;
    }
    b.t = t;
    b.full_paths = o.full_paths;
    /* Frames of a trace merge by name in either order (see PF_ORDER_CHART). */
    b.f = tree_new(&o, 0, 0);
    tnode = pf_calloc(t->nthreads ? t->nthreads : 1, sizeof *tnode);
    map = pf_calloc(t->nnodes, sizeof *map);
    b.qual = pf_calloc(t->ncodes ? t->ncodes : 1, sizeof *b.qual);
    b.path = pf_calloc(t->ncodes ? t->ncodes : 1, sizeof *b.path);
    b.have_parts = pf_calloc(t->ncodes ? t->ncodes : 1, 1);
    b.fn_name = pf_calloc(t->ncodes ? t->ncodes : 1, sizeof *b.fn_name);
    b.scratch_cap = 256;
    b.scratch = pf_malloc(b.scratch_cap);
    if (!b.f || !tnode || !map || !b.qual || !b.path || !b.have_parts || !b.fn_name ||
        !b.scratch)
        goto oom;
    pf_stacktree *f = b.f;
    f->from_trace = 1;
    f->trace = t;
    f->info = pf_malloc(f->priv->cap * sizeof *f->info);
    if (f->info == NULL)
        goto oom;
    memset(&f->info[0], 0, sizeof f->info[0]);
    f->info[0].code = PF_NONE;
    for (uint32_t i = 0; i < t->ncodes; i++)
        b.fn_name[i] = PF_NONE;
    if (add_threads(&b, tnode, err) < 0)
        goto fail;

    /* map[i]: function granularity: the tree node of trace node i.  Line granularity:
     * the node its frames hang under (its parent's frame named after the calling line). */
    for (uint32_t i = 0; i < t->nnodes; i++) {
        const pf_node *nd = &t->nodes[i];
        if ((i & (PF_PROGRESS_EVERY - 1)) == PF_PROGRESS_EVERY - 1)
            pf_progress_report(PF_PROGRESS_BUILD, i, t->nnodes);
        if (bad_node_ref(t, i, err))
            goto fail;
        uint32_t under = nd->parent == PF_NONE ? tnode[nd->thread] : map[nd->parent];
        const pf_code *c = &t->codes[nd->code];
        uint32_t nm = b.fn_name[nd->code], fn;
        /* "qual (path:first_line)" depends only on the code: composed once per code. */
        if (nm == PF_NONE) {
            if ((nm = frame_name_id(&b, nd->code, c->first_line)) == PF_NONE)
                goto oom;
            b.fn_name[nd->code] = nm;
        }
        if (o.granularity == PF_GRAN_FUNCTION) {
            if ((fn = child(f, under, nm)) == PF_NONE)
                goto oom;
            map[i] = fn;
        } else {
            if (nd->parent != PF_NONE) {
                /* The caller's frame at the line of this call. */
                const pf_node *pn = &t->nodes[nd->parent];
                uint32_t line = nd->call_line ? nd->call_line : t->codes[pn->code].first_line;
                uint32_t cn = frame_name_id(&b, pn->code, line);
                if (cn == PF_NONE || (under = child(f, under, cn)) == PF_NONE)
                    goto oom;
                pf_stack_info *ci = &f->info[under];
                ci->code = pn->code;
                ci->line = t->codes[pn->code].kind == PF_CODE_NATIVE ? 0 : line;
                if (add_u64(&ci->calls, nd->calls) < 0 || add_u64(&ci->total_ns, nd->total_ns) < 0)
                    goto overflow;
            }
            map[i] = under;
            /* The function's own frame, at its first line, holds its self value. */
            if ((fn = child(f, under, nm)) == PF_NONE)
                goto oom;
        }
        pf_stack_info *fi = &f->info[fn];
        fi->code = nd->code;
        fi->line = c->kind == PF_CODE_NATIVE ? 0 : c->first_line;
        if (add_u64(&fi->calls, nd->calls) < 0 || add_u64(&fi->self_ns, nd->self_ns) < 0 ||
            add_u64(&fi->total_ns, o.granularity == PF_GRAN_FUNCTION ? nd->total_ns
                                                                     : nd->self_ns) < 0)
            goto overflow;
        f->nodes[fn].self += metric_value(o.metric, t, i);
        continue;
overflow:
        pf_error_set(err, PF_ECORRUPT, "call counts or times overflow 64 bits at call "
                     "record %u", i);
        goto fail;
    }
    /* Thread frames: calls = top-level calls, times = sums of their children;
     * process frames: the sums of their threads'. */
    if (!o.no_thread_roots) {
        for (uint32_t i = 0; i < t->nnodes; i++) {
            const pf_node *nd = &t->nodes[i];
            pf_stack_info *ti = &f->info[tnode[nd->thread]];
            if (nd->parent == PF_NONE &&
                (add_u64(&ti->calls, nd->calls) < 0 || add_u64(&ti->total_ns, nd->total_ns) < 0)) {
                pf_error_set(err, PF_ECORRUPT, "call counts or times overflow 64 bits in "
                             "thread %u", nd->thread);
                goto fail;
            }
        }
        /* Frames without code are the root, process and thread frames: a thread
         * frame is one whose parent is neither the root nor a call. */
        for (uint32_t i = 1; i < f->nnodes; i++) {
            uint32_t pn = f->nodes[i].parent;
            if (pn == 0 || f->info[i].code != PF_NONE || f->info[pn].code != PF_NONE)
                continue;
            if (add_u64(&f->info[pn].calls, f->info[i].calls) < 0 ||
                add_u64(&f->info[pn].total_ns, f->info[i].total_ns) < 0) {
                pf_error_set(err, PF_ECORRUPT, "call counts or times overflow 64 bits in "
                             "a process");
                goto fail;
            }
        }
    }
    if (o.metric == PF_METRIC_SELF_TIME)
        for (uint32_t i = 0; i < f->nnodes; i++)
            f->nodes[i].self = (double)f->info[i].self_ns / o.time_unit_ns;
    for (uint32_t i = 1; i < f->nnodes; i++)
        if (f->nodes[i].parent == 0 && add_u64(&f->info[0].total_ns, f->info[i].total_ns) < 0) {
            pf_error_set(err, PF_ECORRUPT, "call times overflow 64 bits");
            goto fail;
        }
    if (o.reverse && reverse_tree(f, err) < 0)
        goto fail;
    if (pf_stacktree_finish(f, err) < 0)
        goto fail;
    goto done;
oom:
    pf_error_set(err, PF_ENOMEM, NULL);
fail:
    pf_stacktree_free(b.f);
    b.f = NULL;
done:
    pf_free(tnode);
    pf_free(map);
    pf_free(b.qual);
    pf_free(b.path);
    pf_free(b.have_parts);
    pf_free(b.fn_name);
    pf_free(b.scratch);
    return b.f;
}

/* ---- adding a trace to a tree ------------------------------------------------------- */

int pf_stacktree_add_trace(pf_stacktree *f, const pf_trace *t, int column, pf_error *err)
{
    struct pf_stacktree_priv *p = f->priv;
    const pf_stack_opts *o = &f->opts;
    struct trace_build b;
    uint32_t *tnode = NULL, *map = NULL;
    /* per tree node: this trace's value, summed exactly (self time: integer ns) */
    union acc {
        uint64_t ns;
        double v;
    } *acc = NULL;
    int rc = -1;
    memset(&b, 0, sizeof b);
    if (p->merge_last || p->rebased || o->reverse || o->base || o->granularity != PF_GRAN_FUNCTION ||
        (unsigned)o->metric > PF_METRIC_EXIT_BYTES || column < 1 || column > 2)
        return pf_error_set(err, PF_EUSAGE, "a trace is added to a name-merged tree of "
                            "functions, into count column 1 or 2");
    if (o->metric >= PF_METRIC_ALLOC_BYTES && !(t->meta.modes & PF_MODE_MEMORY))
        return pf_error_set(err, PF_EUSAGE, "the trace has no memory data (it was not recorded "
                                            "with memory tracing)");
    if (t->nnodes == 0)
        return pf_error_set(err, PF_EEMPTY, "the trace has no call records");
    double unit = o->time_unit_ns > 0 ? o->time_unit_ns : 1000;
    if (pf_trace_is_sampled(t))
        unit = (double)t->meta.sample_interval_ns;     /* sample counts, as above */
    b.f = f;
    b.t = t;
    b.full_paths = o->full_paths;
    tnode = pf_calloc(t->nthreads ? t->nthreads : 1, sizeof *tnode);
    map = pf_malloc((size_t)t->nnodes * sizeof *map);
    b.qual = pf_calloc(t->ncodes ? t->ncodes : 1, sizeof *b.qual);
    b.path = pf_calloc(t->ncodes ? t->ncodes : 1, sizeof *b.path);
    b.have_parts = pf_calloc(t->ncodes ? t->ncodes : 1, 1);
    b.fn_name = pf_malloc((t->ncodes ? t->ncodes : 1) * sizeof *b.fn_name);
    b.scratch_cap = 256;
    b.scratch = pf_malloc(b.scratch_cap);
    if (!tnode || !map || !b.qual || !b.path || !b.have_parts || !b.fn_name || !b.scratch ||
        (column == 2 && want_diff(f) < 0))
        goto oom;
    for (uint32_t i = 0; i < t->ncodes; i++)
        b.fn_name[i] = PF_NONE;
    /* into an empty tree: room for a frame per call record at once, instead of growing
     * the child index through every doubling */
    if (f->nnodes == 1 && !p->kids_stale &&
        (pf_hmap_reserve(p->kids, (size_t)t->nnodes + t->nthreads + t->nprocesses) < 0 ||
         nodes_reserve(f, t->nnodes + t->nthreads + t->nprocesses + 1) < 0))
        goto oom;
    if (add_threads(&b, tnode, err) < 0)
        goto done;
    /* the frames, as pf_stacktree_from_trace makes them at function granularity */
    for (uint32_t i = 0; i < t->nnodes; i++) {
        const pf_node *nd = &t->nodes[i];
        if (bad_node_ref(t, i, err))
            goto done;
        uint32_t under = nd->parent == PF_NONE ? tnode[nd->thread] : map[nd->parent];
        uint32_t nm = b.fn_name[nd->code];
        if (nm == PF_NONE) {
            if ((nm = frame_name_id(&b, nd->code, t->codes[nd->code].first_line)) == PF_NONE)
                goto oom;
            b.fn_name[nd->code] = nm;
        }
        if ((map[i] = child(f, under, nm)) == PF_NONE)
            goto oom;
    }
    /* the values: summed per frame first (call sites of one function under one parent
     * share a frame), so a frame gets what pf_stacktree_from_trace gives it */
    acc = pf_calloc(f->nnodes, sizeof *acc);
    if (acc == NULL)
        goto oom;
    for (uint32_t i = 0; i < t->nnodes; i++) {
        union acc *a = &acc[map[i]];
        if (o->metric != PF_METRIC_SELF_TIME)
            a->v += metric_value(o->metric, t, i);
        else if (add_u64(&a->ns, t->nodes[i].self_ns) < 0) {
            pf_error_set(err, PF_ECORRUPT, "call counts or times overflow 64 bits at call "
                         "record %u", i);
            goto done;
        }
    }
    for (uint32_t i = 0; i < f->nnodes; i++) {
        double v = o->metric == PF_METRIC_SELF_TIME ? (double)acc[i].ns / unit : acc[i].v;
        if (v == 0)
            continue;
        if (pf_stacktree_add_self(f, i, column == 1 ? v : 0, column == 2 ? v : 0, column == 2,
                                  err) < 0)
            goto done;
    }
    rc = 0;
    goto done;
oom:
    pf_error_set(err, PF_ENOMEM, NULL);
done:
    p->npath = 0;                /* the stack loader's cached path is no longer current */
    p->finished = 0;
    pf_free(acc);
    pf_free(tnode);
    pf_free(map);
    pf_free(b.qual);
    pf_free(b.path);
    pf_free(b.have_parts);
    pf_free(b.fn_name);
    pf_free(b.scratch);
    return rc;
}

/* ---- reversal (see the top of the file) --------------------------------------------- */

struct rev {
    pf_stacktree *d;
    pf_hmap *links;               /* v << 32 | c -> the node of string c.v */
    uint32_t *rootkid;            /* per name id: the root's child of that name */
    uint32_t *stack;
    size_t cap;
};

/* The node of string c.w in d, w being node v of d, made if missing.  Walks up from v
 * only through links not made yet, making each on the way down.  A node c.u is only
 * ever made here, as the link (u, c), so a missing link means a missing node: the way
 * down appends without looking (and d needs no child index while it grows).
 * PF_NONE when out of memory. */
static uint32_t prepend(struct rev *r, uint32_t v, uint32_t c)
{
    pf_stacktree *d = r->d;
    size_t n = 0;
    uint32_t at;
    for (;;) {
        if (v == 0) {
            at = r->rootkid[c];
            if (at == PF_NONE) {
                if (nodes_reserve(d, d->nnodes + 1) < 0)
                    return PF_NONE;
                at = r->rootkid[c] = node_append(d, 0, c, 0);
            }
            break;
        }
        uint32_t got = pf_hmap_get(r->links, (uint64_t)v << 32 | c);
        if (got != PF_HMAP_NONE) {
            at = got;
            break;
        }
        if (n == r->cap) {
            size_t nc = r->cap ? r->cap * 2 : 64;
            if (grow((void **)&r->stack, nc, sizeof *r->stack) < 0)
                return PF_NONE;
            r->cap = nc;
        }
        r->stack[n++] = v;
        v = d->nodes[v].parent;
    }
    if (n && nodes_reserve(d, d->nnodes + (uint32_t)n) < 0)
        return PF_NONE;
    while (n > 0) {
        uint32_t u = r->stack[--n];
        at = node_append(d, at, d->nodes[u].name, 0);
        uint32_t *slot = pf_hmap_slot(r->links, (uint64_t)u << 32 | c, NULL);
        if (slot == NULL)
            return PF_NONE;
        *slot = at;
    }
    return at;
}

/* Replaces trace tree t by the tree of its leaf-to-root paths, each weighted by its
 * leaf's self values; nodes and sibling order are those that walking the paths of
 * nodes with a value, in index order, would create.  info is dropped. */
static int reverse_tree(pf_stacktree *t, pf_error *err)
{
    uint32_t n = t->nnodes, nn = pf_strtab_count(t->names);
    uint32_t *r = pf_malloc((size_t)n * sizeof *r);
    uint32_t *key = NULL, *depth = NULL, *by = NULL, *cnt = NULL, *newid = NULL;
    struct rev rv = { NULL, pf_hmap_new(n), pf_malloc((size_t)(nn ? nn : 1) * sizeof *rv.rootkid),
                      NULL, 0 };
    pf_stacktree *d = r && rv.links && rv.rootkid ? tree_like(t, 0, 0) : NULL;
    pf_stacktree *e = NULL;
    if (d == NULL)
        goto nomem;
    rv.d = d;
    for (uint32_t i = 0; i < nn; i++)
        rv.rootkid[i] = PF_NONE;
    r[0] = 0;
    for (uint32_t x = 1; x < n; x++)
        if ((r[x] = prepend(&rv, r[t->nodes[x].parent], t->nodes[x].name)) == PF_NONE)
            goto nomem;
    pf_hmap_free(rv.links);
    rv.links = NULL;
    pf_free(rv.rootkid);
    rv.rootkid = NULL;
    d->priv->kids_stale = 1;      /* grown without its child index */
    if (t->opts.order == PF_ORDER_NAME) {
        /* Siblings are sorted by name at the end, so the nodes can stay where they
         * are; nodes on no weighted path keep 0 and are neither drawn nor written. */
        for (uint32_t x = 1; x < n; x++) {
            d->nodes[r[x]].self += t->nodes[x].self;
            if (d->diff)
                d->diff[r[x]].self2 += pf_stacktree_self2(t, x);
        }
        d->from_trace = 1;
        d->priv->sum = t->priv->sum;
        d->priv->sum2 = t->priv->sum2;
        pf_free(r);
        pf_free(rv.stack);
        replace(t, d);
        return 0;
    }
    /* key[v]: the first source node with a value whose path goes through v. */
    uint32_t m = d->nnodes;
    key = pf_malloc((size_t)m * sizeof *key);
    depth = pf_malloc((size_t)m * sizeof *depth);
    by = pf_malloc((size_t)m * sizeof *by);
    newid = pf_malloc((size_t)m * sizeof *newid);
    cnt = pf_calloc((size_t)(n > m ? n : m) + 1, sizeof *cnt);
    if (!key || !depth || !by || !newid || !cnt)
        goto nomem;
    for (uint32_t v = 0; v < m; v++)
        key[v] = UINT32_MAX;
    for (uint32_t x = 1; x < n; x++) {
        double s2 = pf_stacktree_self2(t, x);
        if (t->nodes[x].self == 0 && s2 == 0)
            continue;
        d->nodes[r[x]].self += t->nodes[x].self;
        if (d->diff)
            d->diff[r[x]].self2 += s2;
        if (key[r[x]] == UINT32_MAX)
            key[r[x]] = x;
    }
    for (uint32_t v = m; v-- > 1;) {
        uint32_t p = d->nodes[v].parent;
        if (key[v] < key[p])
            key[p] = key[v];
    }
    depth[0] = 0;
    for (uint32_t v = 1; v < m; v++)
        depth[v] = depth[d->nodes[v].parent] + 1;
    /* Kept nodes sorted by (key, depth): a counting sort by depth, then a stable one by
     * key.  The root (depth 0) comes first. */
    uint32_t kept = 0;
    for (uint32_t v = 1; v < m; v++)
        if (key[v] != UINT32_MAX)
            cnt[depth[v]]++, kept++;
    for (uint32_t i = 0, sum = 0; i <= m; i++) {
        uint32_t c = cnt[i];
        cnt[i] = sum;
        sum += c;
    }
    for (uint32_t v = 1; v < m; v++)
        if (key[v] != UINT32_MAX)
            by[cnt[depth[v]]++] = v;
    memset(cnt, 0, ((size_t)(n > m ? n : m) + 1) * sizeof *cnt);
    for (uint32_t k = 0; k < kept; k++)
        cnt[key[by[k]]]++;
    for (uint32_t i = 0, sum = 0; i <= n; i++) {
        uint32_t c = cnt[i];
        cnt[i] = sum;
        sum += c;
    }
    uint32_t *sorted = depth;           /* depth is no longer needed */
    for (uint32_t k = 0; k < kept; k++)
        sorted[cnt[key[by[k]]]++] = by[k];
    /* Copy the kept nodes in that order into a fresh tree. */
    e = tree_like(d, 0, 0);
    if (e == NULL || nodes_reserve(e, kept + 1) < 0 || ensure_phash(e) < 0)
        goto nomem;
    newid[0] = 0;
    e->nodes[0].self = d->nodes[0].self;
    for (uint32_t k = 0; k < kept; k++) {
        uint32_t v = sorted[k];
        uint32_t par = newid[d->nodes[v].parent];
        uint64_t h = path_hash(e->priv->phash[par], d->nodes[v].name);
        if (pf_hmap_add(e->priv->kids, h, e->nnodes) < 0)
            goto nomem;
        uint32_t id = node_append(e, par, d->nodes[v].name, h);
        newid[v] = id;
        e->nodes[id].self = d->nodes[v].self;
        if (e->diff)
            e->diff[id].self2 = d->diff[v].self2;
    }
    e->from_trace = 1;
    e->priv->sum = t->priv->sum;
    e->priv->sum2 = t->priv->sum2;
    pf_free(r);
    pf_free(rv.stack);
    pf_free(key);
    pf_free(depth);
    pf_free(by);
    pf_free(cnt);
    pf_free(newid);
    pf_stacktree_free(d);
    replace(t, e);
    return 0;
nomem:
    /* Names moved t -> d -> e: hand them back so t stays whole. */
    if (d) {
        give_back(d, e);
        give_back(t, d);
    }
    pf_stacktree_free(e);
    pf_stacktree_free(d);
    pf_hmap_free(rv.links);
    pf_free(rv.rootkid);
    pf_free(r);
    pf_free(rv.stack);
    pf_free(key);
    pf_free(depth);
    pf_free(by);
    pf_free(cnt);
    pf_free(newid);
    return pf_error_set(err, PF_ENOMEM, NULL);
}

/* ---- the collapsed writer ------------------------------------------------------------- */

/* Copies a frame name into the path, replacing the bytes that would break the line
 * format: ';' (frame separator) becomes ',', and '\n' / '\r' become '?' (not a blank:
 * a new blank could turn the end of the last frame into a count when read back). */
static void put_frame(char *dst, const char *p, size_t n, int special)
{
    memcpy(dst, p, n);
    if (special)
        for (size_t i = 0; i < n; i++)
            dst[i] = (char)out_byte((unsigned char)dst[i]);
}

/* Carry rounding: the running sum of exact values, compensated (Kahan) so a million
 * fractional lines do not drift, and the rounded sum printed so far. */
struct carry {
    double sum, comp, printed;
};

static double carry_next(struct carry *c, double v)
{
    double y = v - c->comp;
    double t = c->sum + y;
    c->comp = (t - c->sum) - y;
    c->sum = t;
    double r = floor(c->sum + 0.5);
    double out = r - c->printed;
    c->printed = r;
    return out < 0 ? 0 : out;
}

/* What the writer needs of a node, gathered in output order. */
struct wrec {
    uint32_t name;
    uint32_t first, end;             /* its children: wrec[first .. end) */
    double self, self2;
};

int pf_stacktree_write_collapsed(const pf_stacktree *f, FILE *out, enum pf_counts mode,
                                 pf_error *err)
{
    int integer = mode == PF_COUNTS_INTEGER || (mode == PF_COUNTS_AUTO && f->from_trace);
    struct carry c1 = { 0, 0, 0 }, c2 = { 0, 0, 0 };
    uint32_t *start = NULL, *kids = NULL;
    struct wrec *rec = NULL;
    unsigned char *special = NULL;
    /* Per depth of the walk: the next and the end position in rec[], and the path
     * length before that depth's frame. */
    uint32_t *pos = NULL, *endp = NULL;
    size_t *plen = NULL;
    char *path = NULL;
    size_t path_cap = 4096, depth_cap = 64, depth = 0;
    int rc = -1;
    uint32_t n = f->nnodes, nn = pf_strtab_count(f->names), written = 0;
    if (sorted_children(f, 1, 1, &start, &kids) < 0)
        goto oom;
    special = pf_malloc(nn ? nn : 1);
    if (special == NULL)
        goto oom;
    for (uint32_t i = 0; i < nn; i++) {
        size_t len;
        const char *s = pf_strtab_get(f->names, i, &len);
        special[i] = (unsigned char)has_special(s, len);
    }
    /* Gather pass: the walk visits children in name order, not index order; copying
     * what it needs into rec[] (siblings adjacent) makes it read almost sequentially. */
    rec = pf_malloc((size_t)(n > 1 ? n - 1 : 1) * sizeof *rec);
    if (rec == NULL)
        goto oom;
    for (uint32_t k = 0; k + 1 < n; k++) {
        uint32_t c = kids[k];
        rec[k].name = f->nodes[c].name;
        rec[k].first = start[c];
        rec[k].end = start[c + 1];
        rec[k].self = f->nodes[c].self;
        rec[k].self2 = pf_stacktree_self2(f, c);
    }
    uint32_t root_first = start[0], root_end = start[1];
    pf_free(start);
    pf_free(kids);
    start = kids = NULL;
    pos = pf_malloc(depth_cap * sizeof *pos);
    endp = pf_malloc(depth_cap * sizeof *endp);
    plen = pf_malloc(depth_cap * sizeof *plen);
    path = pf_malloc(path_cap);
    if (!pos || !endp || !plen || !path)
        goto oom;
    /* Iterative depth-first walk: hostile input can nest deeper than the C stack. */
    pos[0] = root_first;
    endp[0] = root_end;
    plen[0] = 0;
    for (;;) {
        if (pos[depth] >= endp[depth]) {
            if (depth == 0)
                break;
            depth--;
            continue;
        }
        const struct wrec *r = &rec[pos[depth]++];
        if ((++written & (PF_PROGRESS_EVERY - 1)) == 0)
            pf_progress_report(PF_PROGRESS_WRITE, written, n);
        size_t nlen;
        const char *nm = pf_strtab_get(f->names, r->name, &nlen);
        size_t base = plen[depth] + (depth ? 1 : 0);
        size_t need = base + nlen + 2 * PF_UNITS_EXACT_BUFSZ + 4;
        if (need > path_cap) {
            size_t nc = path_cap;
            while (nc < need)
                nc *= 2;
            char *np = pf_realloc(path, nc);
            if (np == NULL)
                goto oom;
            path = np;
            path_cap = nc;
        }
        if (depth)
            path[plen[depth]] = ';';
        put_frame(path + base, nm, nlen, special[r->name]);
        size_t len = base + nlen;
        double v = r->self, v2 = r->self2;
        if (integer && (v != 0 || v2 != 0)) {
            v = carry_next(&c1, v);
            v2 = carry_next(&c2, v2);
        }
        if (v != 0 || v2 != 0) {
            size_t k = len;
            path[k++] = ' ';
            k += pf_units_exact(v, path + k);
            if (f->has_count2) {
                path[k++] = ' ';
                k += pf_units_exact(v2, path + k);
            }
            path[k++] = '\n';
            if (fwrite(path, 1, k, out) != k) {
                pf_error_set(err, PF_EIO, "cannot write collapsed stacks");
                goto done;
            }
        }
        if (r->first == r->end)
            continue;
        if (depth + 1 == depth_cap) {
            size_t nc = depth_cap * 2;
            if (grow((void **)&pos, nc, sizeof *pos) < 0 ||
                grow((void **)&endp, nc, sizeof *endp) < 0 ||
                grow((void **)&plen, nc, sizeof *plen) < 0)
                goto oom;
            depth_cap = nc;
        }
        depth++;
        pos[depth] = r->first;
        endp[depth] = r->end;
        plen[depth] = len;
    }
    if (fflush(out) != 0 || ferror(out)) {
        pf_error_set(err, PF_EIO, "cannot write collapsed stacks");
        goto done;
    }
    pf_progress_report(PF_PROGRESS_WRITE, n, n);
    rc = 0;
    goto done;
oom:
    pf_error_set(err, PF_ENOMEM, NULL);
done:
    pf_free(start);
    pf_free(kids);
    pf_free(rec);
    pf_free(special);
    pf_free(pos);
    pf_free(endp);
    pf_free(plen);
    pf_free(path);
    return rc;
}
