/* cct.c: the calling-context tree's memory, child lookup and stop-time merge (see cct.h
 * for the model).
 *
 * Child table.  One open-addressing table for the whole tree holds the children of the
 * parents flagged PF_CCT_HASHED, 8 bytes a slot: the child's id and a 32-bit tag, the
 * high half of h = pf_hash_pair(pf_hash_pair(key, site), parent), which also picks the
 * first slot of its linear probe (so growth rehashes without reading a node).  A lookup
 * checks the node behind each slot of its tag: children whose tags collide share a
 * probe sequence, nothing more.  A retired key's entry is reusable: a program that keeps
 * making and dropping code objects makes the same (parent, address, site) again and
 * again, so an insert takes over a slot of its tag whose node no longer has that tag
 * (rekeyed), and growth drops such slots.  (A generic pf_hmap cost 16 bytes a slot:
 * on the unittest workload, 60 K hashed children held 2 MB, now 1 MB.)  A
 * parent becomes hashed when its list reaches PF_CCT_SMALL + 1 children (its list is
 * entered then), so a list walk never exceeds PF_CCT_SMALL steps.
 *
 * Merge.  pf_cct_merge walks the tree depth first.  For a node p it visits, in order,
 * p's own children, then those of every sibling merged into p (its "dups"), then those
 * of every spliced child (appended as they are met, so splices nest); each child is
 * either spliced, merged into the survivor of its (key, line, link site) -- found in
 * one hashed table, value the survivor's id, whose parent field is set to p -- or kept
 * (no parent check is needed: for an equal (key, line, link site) the hash is a
 * bijection of the parent, so equal hashes mean the same parent).  The table is only
 * ever asked about the children of the parent
 * being prepared, so entries left by earlier parents are dead: it is cleared once they
 * fill an eighth of it, which keeps it the size of the widest fan-out rather than of
 * the tree (1.4 M nodes: 24 bytes a node less at stop), at O(1) amortized cost.  The dups of a survivor k form a circular list in the nodes'
 * next_same fields, which the first merge takes over from the caller (its key lists
 * serve rekeying, which is over once recording is: this saves an array of 4 bytes a
 * node at stop): dup(k) is the last dup, dup(last) the first, dup(d) the next; so
 * appending keeps merge order.
 */
#include "collector/cct.h"

#include <string.h>

#include "formats/alloc.h"
#include "formats/hash.h"
#include "formats/hashmap.h"

#define FLAG_BITS(f) ((uint32_t)(f) << 28)
#define KIDS_MIN 64               /* the child table's first size (slots) */
#define CHUNK_BYTES (sizeof(pf_cct_node) * PF_CCT_CHUNK_NODES)

/* Ids stop short of PF_CCT_NONE (and memory sites' PF_MEM_NONE, the same value). */
#define MAX_NODES (UINT32_MAX - 1)

static int charge(pf_cct *t, size_t n)
{
    if (t->limit && *t->charged + n > t->limit) {
        t->oom = 1;
        return -1;
    }
    *t->charged += n;
    t->bytes += n;
    return 0;
}

static void uncharge(pf_cct *t, size_t n)
{
    *t->charged -= n;
    t->bytes -= n;
}

pf_cct *pf_cct_new(size_t *charged, size_t limit)
{
    pf_cct *t = pf_calloc(1, sizeof *t);
    if (t == NULL)
        return NULL;
    t->charged = charged;
    t->limit = limit;
    if (charge(t, sizeof *t) < 0) {
        pf_free(t);
        return NULL;
    }
    return t;
}

void pf_cct_free(pf_cct *t)
{
    if (t == NULL)
        return;
    for (size_t i = 0; i < t->nchunks; i++)
        pf_free(t->chunks[i]);
    pf_free(t->chunks);
    pf_free(t->kids);
    pf_hmap_free(t->merged);
    pf_free(t->work);
    pf_free(t->queue);
    pf_free(t->kept);
    *t->charged -= t->bytes;
    pf_free(t);
}

void pf_cct_release(pf_cct *t)
{
    if (t == NULL)
        return;
    pf_free(t->kids);
    uncharge(t, t->kids_cap * sizeof *t->kids);
    t->kids = NULL;
    t->kids_cap = t->kids_count = 0;
    /* the merge's work space is not charged (stop time) */
    pf_hmap_free(t->merged);
    pf_free(t->work);
    pf_free(t->queue);
    pf_free(t->kept);
    t->merged = NULL;
    t->work = t->queue = t->kept = NULL;
    t->cap_work = t->cap_queue = t->cap_kept = 0;
}

uint64_t pf_cct_total_calls(const pf_cct *t)
{
    uint64_t sum = 0;
    for (uint32_t i = 0; i < t->n; i++)
        sum += pf_cct_at(t, i)->calls;
    return sum;
}

uint32_t pf_cct_count(const pf_cct *t)
{
    return t->n;
}

size_t pf_cct_bytes(const pf_cct *t)
{
    return t->bytes;
}

int pf_cct_oom(const pf_cct *t)
{
    return t->oom;
}

/* A zeroed node at id t->n, not yet counted (the caller commits with t->n++). */
static pf_cct_node *new_node(pf_cct *t)
{
    if (t->oom || t->n >= MAX_NODES) {
        t->oom = 1;
        return NULL;
    }
    size_t c = t->n >> PF_CCT_CHUNK_SHIFT;
    if (c == t->nchunks) {
        if (t->nchunks == t->cap_chunks) {
            size_t cap = t->cap_chunks ? t->cap_chunks * 2 : 16;
            if (charge(t, (cap - t->cap_chunks) * sizeof(void *)) < 0)
                return NULL;
            pf_cct_node **ch = pf_reallocarray(t->chunks, cap, sizeof(void *));
            if (ch == NULL) {
                uncharge(t, (cap - t->cap_chunks) * sizeof(void *));
                t->oom = 1;
                return NULL;
            }
            t->chunks = ch;
            t->cap_chunks = cap;
        }
        if (charge(t, CHUNK_BYTES) < 0)
            return NULL;
        pf_cct_node *chunk = pf_malloc(CHUNK_BYTES);
        if (chunk == NULL) {
            uncharge(t, CHUNK_BYTES);
            t->oom = 1;
            return NULL;
        }
        t->chunks[t->nchunks++] = chunk;
    }
    pf_cct_node *n = pf_cct_at(t, t->n);
    memset(n, 0, sizeof *n);
    n->parent = n->child = n->sibling = n->next_same = PF_CCT_NONE;
    return n;
}

uint32_t pf_cct_root(pf_cct *t)
{
    pf_cct_node *n = new_node(t);
    if (n == NULL)
        return PF_CCT_NONE;
    n->site = -1;
    n->bits = FLAG_BITS(PF_CCT_ROOT);
    return t->n++;
}

/* ---- the child table ---- */

static uint64_t child_hash(uint32_t parent, uintptr_t key, int32_t site)
{
    return pf_hash_pair(pf_hash_pair((uint64_t)key, (uint64_t)(uint32_t)site), parent);
}

typedef struct probe {
    const pf_cct *t;
    uint32_t parent;
    uintptr_t key;
    int32_t site;
    uint32_t line;
} probe;

static int child_matches(const pf_cct *t, uint32_t id, uint32_t parent, uintptr_t key,
                         int32_t site)
{
    const pf_cct_node *n = pf_cct_at(t, id);
    return n->key == key && n->site == site && n->parent == parent;
}

/* The child table's tag of (parent, key, site): the high half of its hash.  Its low
 * bits also pick the first slot of the probe. */
static uint32_t child_tag(uint32_t parent, uintptr_t key, int32_t site)
{
    return (uint32_t)(child_hash(parent, key, site) >> 32);
}

/* The node of slot k is still the child it was entered as (not rekeyed since). */
static int kid_live(const pf_cct *t, const struct pf_cct_kid *k)
{
    const pf_cct_node *n = pf_cct_at(t, k->id);
    return child_tag(n->parent, n->key, n->site) == k->tag;
}

/* Doubles the child table, dropping the entries of rekeyed nodes.  0 or -1. */
static int kids_grow(pf_cct *t)
{
    size_t cap = t->kids_cap ? t->kids_cap * 2 : KIDS_MIN;
    if (cap > ((size_t)1 << 32) || charge(t, cap * sizeof(struct pf_cct_kid)) < 0) {
        t->oom = 1;
        return -1;
    }
    struct pf_cct_kid *k = pf_malloc(cap * sizeof *k);
    if (k == NULL) {
        uncharge(t, cap * sizeof *k);
        t->oom = 1;
        return -1;
    }
    memset(k, 0xff, cap * sizeof *k);             /* every id PF_CCT_NONE: empty */
    size_t mask = cap - 1, count = 0;
    for (size_t i = 0; i < t->kids_cap; i++) {
        const struct pf_cct_kid *o = &t->kids[i];
        if (o->id == PF_CCT_NONE || !kid_live(t, o))
            continue;
        size_t j = o->tag & mask;
        while (k[j].id != PF_CCT_NONE)
            j = (j + 1) & mask;
        k[j] = *o;
        count++;
    }
    pf_free(t->kids);
    uncharge(t, t->kids_cap * sizeof *k);
    t->kids = k;
    t->kids_cap = cap;
    t->kids_count = count;
    return 0;
}

/* Enters child id of parent into the child table.  0 or -1. */
static int kids_add(pf_cct *t, uint32_t parent, uint32_t id)
{
    if (t->kids_count + 1 > t->kids_cap - t->kids_cap / 4 && kids_grow(t) < 0)
        return -1;
    const pf_cct_node *n = pf_cct_at(t, id);
    uint32_t tag = child_tag(parent, n->key, n->site);
    size_t mask = t->kids_cap - 1, j = tag & mask;
    for (; t->kids[j].id != PF_CCT_NONE; j = (j + 1) & mask)
        if (t->kids[j].tag == tag && !kid_live(t, &t->kids[j]))
            break;                  /* a rekeyed node's entry (pf_cct_rekey): taken over */
    if (t->kids[j].id == PF_CCT_NONE)
        t->kids_count++;
    t->kids[j].tag = tag;
    t->kids[j].id = id;
    return 0;
}

pf_cct_node *pf_cct_find_slow(pf_cct *t, uint32_t parent, pf_cct_node *pn, uintptr_t key,
                              int32_t site, uint32_t *id)
{
    uint32_t c;
    pf_cct_node *n;
    if (pf_cct_flags(pn) & PF_CCT_HASHED) {
        if (t->kids == NULL)
            return NULL;            /* released (pf_cct_release): lookups are over */
        uint32_t tag = child_tag(parent, key, site);
        size_t mask = t->kids_cap - 1, j = tag & mask;
        for (;; j = (j + 1) & mask) {
            c = t->kids[j].id;
            if (c == PF_CCT_NONE)
                return NULL;
            if (t->kids[j].tag == tag && child_matches(t, c, parent, key, site))
                break;
        }
        n = pf_cct_at(t, c);
    } else {
        /* the first child did not match (pf_cct_find): a short list, kept move-to-front
         * from the third child on (alternating pairs are common: the second stays) */
        pf_cct_node *pv = pf_cct_at(t, pn->child);
        if ((c = pv->sibling) == PF_CCT_NONE)
            return NULL;
        n = pf_cct_at(t, c);
        if (!(n->key == key && n->site == site)) {
            for (pv = n, c = n->sibling; c != PF_CCT_NONE; pv = n, c = n->sibling) {
                n = pf_cct_at(t, c);
                if (n->key == key && n->site == site)
                    break;
            }
            if (c == PF_CCT_NONE)
                return NULL;
            pv->sibling = n->sibling;   /* move to front */
            n->sibling = pn->child;
            pn->child = c;
        }
    }
    *pf_cct_cache_slot(t, parent, key, site) = c;
    *id = c;
    return n;
}

pf_cct_node *pf_cct_add(pf_cct *t, uint32_t parent, uintptr_t key, int32_t site, uint8_t kind,
                        uint32_t *same, uint32_t *id)
{
    pf_cct_node *pn = pf_cct_at(t, parent);
    pf_cct_node *n = new_node(t);
    if (n == NULL)
        return NULL;
    uint32_t nid = t->n;
    n->parent = parent;
    n->key = key;
    n->site = site;
    uint32_t chain = 0;
    if (pn->key == key && !(pf_cct_flags(pn) & PF_CCT_ROOT))
        chain = pf_cct_chain(pn) < 2 ? pf_cct_chain(pn) + 1 : 2;
    n->bits = ((uint32_t)(kind & 3u) << 24) | (chain << 26);
    if (pf_cct_flags(pn) & PF_CCT_HASHED) {
        if (kids_add(t, parent, nid) < 0)
            return NULL;
    } else {
        uint32_t k = 0;
        for (uint32_t c = pn->child; c != PF_CCT_NONE && k <= PF_CCT_SMALL; c = pf_cct_at(t, c)->sibling)
            k++;
        if (k == PF_CCT_SMALL) {        /* the new one is the (SMALL+1)-th: hash them all */
            if (kids_add(t, parent, nid) < 0)
                return NULL;
            for (uint32_t c = pn->child; c != PF_CCT_NONE; c = pf_cct_at(t, c)->sibling)
                if (kids_add(t, parent, c) < 0)
                    return NULL;        /* entries of an unhashed parent are never read */
            pn->bits |= FLAG_BITS(PF_CCT_HASHED);
        }
    }
    n->sibling = pn->child;
    pn->child = nid;
    *pf_cct_cache_slot(t, parent, key, site) = nid;
    if (same != NULL) {
        n->next_same = *same;
        *same = nid;
    }
    t->n++;
    *id = nid;
    return n;
}

void pf_cct_rekey(pf_cct *t, uint32_t head, uintptr_t key)
{
    for (uint32_t id = head; id != PF_CCT_NONE;) {
        pf_cct_node *n = pf_cct_at(t, id);
        n->key = key;
        id = n->next_same;
    }
}

void pf_cct_resolve_lines(pf_cct *t,
                          uint32_t (*line)(void *ctx, const pf_cct_node *parent,
                                           const pf_cct_node *n),
                          void *ctx)
{
    for (uint32_t i = 0; i < t->n; i++) {
        pf_cct_node *n = pf_cct_at(t, i);
        pf_cct_set_line(n, pf_cct_flags(n) & PF_CCT_ROOT ? 0 : line(ctx, pf_cct_at(t, n->parent), n));
    }
}

/* ---- merge ---- */

typedef struct work {
    uint32_t id, parent_out;
} work;

typedef struct head {
    uint32_t id;              /* first node of a child list */
    uint32_t spliced;         /* the list was a spliced node's: lines become 0 */
} head;

/* Makes room for one more item in a stop-time array.  0 or -1. */
static int room(void **items, size_t *cap, size_t n, size_t size)
{
    if (n < *cap)
        return 0;
    size_t ncap = *cap ? *cap * 2 : 64;
    void *p = pf_reallocarray(*items, ncap, size);
    if (p == NULL)
        return -1;
    *items = p;
    *cap = ncap;
    return 0;
}

/* What keeps siblings of one (key, line) apart in the merge: their link site (cct.h),
 * or -1 for every ordinary site. */
static int32_t link_of(const pf_cct_node *n)
{
    return n->site <= PF_CCT_SITE_LINK ? n->site : -1;
}

static uint64_t merged_hash(uint32_t parent, uintptr_t key, uint32_t line, int32_t link)
{
    uint64_t h = pf_hash_pair(pf_hash_pair((uint64_t)key, line), (uint64_t)parent + 1);
    return link == -1 ? h : pf_hash_pair(h, (uint64_t)(uint32_t)link);
}

static int merged_eq(void *ctx, uint32_t id)
{
    const probe *p = ctx;
    const pf_cct_node *n = pf_cct_at(p->t, id);
    return n->key == p->key && pf_cct_line(n) == p->line && link_of(n) == p->site;
}

/* dup(i): PF_CCT_NONE when none (pf_cct_merge resets every next_same first). */
static uint32_t dup_get(const pf_cct *t, uint32_t i) { return pf_cct_at(t, i)->next_same; }
static void dup_set(pf_cct *t, uint32_t i, uint32_t v) { pf_cct_at(t, i)->next_same = v; }

/* Appends d to the dups of survivor k (see the file comment). */
static void dup_append(pf_cct *t, uint32_t k, uint32_t d)
{
    if (dup_get(t, k) == PF_CCT_NONE) {
        dup_set(t, d, d);
    } else {
        uint32_t last = dup_get(t, k);
        dup_set(t, d, dup_get(t, last));
        dup_set(t, last, d);
    }
    dup_set(t, k, d);
}

/* Gathers p's surviving children into t->kept (count in *nk).  0 or -1. */
static int prepare_children(pf_cct *t, uint32_t p, const pf_cct_merge_ops *ops, void *ctx,
                            size_t *nk)
{
    pf_cct_node *pn = pf_cct_at(t, p);
    head *q;
    uint32_t *kept;
    size_t nq = 0;
    *nk = 0;
    if (pf_hmap_count(t->merged) * 8 > pf_hmap_bytes(t->merged) / 16)
        pf_hmap_clear(t->merged);     /* only dead entries: see the merge's comment above */
#define QPUSH(first, spl)                                                              \
    do {                                                                               \
        if (room(&t->queue, &t->cap_queue, nq, sizeof(head)) < 0)                      \
            return -1;                                                                 \
        q = t->queue;                                                                  \
        q[nq].id = (first);                                                            \
        q[nq++].spliced = (spl);                                                       \
    } while (0)
    if (pn->child != PF_CCT_NONE)
        QPUSH(pn->child, 0);
    if (dup_get(t, p) != PF_CCT_NONE) {
        uint32_t last = dup_get(t, p);
        uint32_t d = dup_get(t, last);
        for (;;) {
            if (pf_cct_at(t, d)->child != PF_CCT_NONE)
                QPUSH(pf_cct_at(t, d)->child, 0);
            if (d == last)
                break;
            d = dup_get(t, d);
        }
    }
    for (size_t qi = 0; qi < nq; qi++) {
        q = t->queue;
        uint32_t spliced = q[qi].spliced;
        for (uint32_t c = q[qi].id; c != PF_CCT_NONE;) {
            pf_cct_node *cn = pf_cct_at(t, c);
            uint32_t next = cn->sibling;
            if (spliced)
                pf_cct_set_line(cn, 0);
            if (ops->splice != NULL && ops->splice(ctx, cn)) {
                pn->self_ns += cn->self_ns;
                if (ops->moved != NULL)
                    ops->moved(ctx, c, p);
                if (cn->child != PF_CCT_NONE)
                    QPUSH(cn->child, 1);
                c = next;
                continue;
            }
            probe pr = { t, p, cn->key, link_of(cn), pf_cct_line(cn) };
            uint64_t h = merged_hash(p, cn->key, pf_cct_line(cn), link_of(cn));
            uint32_t k = pf_hmap_find(t->merged, h, merged_eq, &pr);
            if (k != PF_HMAP_NONE) {
                pf_cct_node *kn = pf_cct_at(t, k);
                kn->calls += cn->calls;
                kn->total_ns += cn->total_ns;
                kn->self_ns += cn->self_ns;
                if (ops->moved != NULL)
                    ops->moved(ctx, c, k);
                dup_append(t, k, c);
                c = next;
                continue;
            }
            if (room(&t->kept, &t->cap_kept, *nk, sizeof(uint32_t)) < 0)
                return -1;
            if (pf_hmap_add(t->merged, h, c) < 0)
                return -1;
            kept = t->kept;
            kept[(*nk)++] = c;
            c = next;
        }
    }
#undef QPUSH
    /* Every list gathered from is read: the survivors become p's only children, in
     * emit order, so that pf_cct_walk sees the merged tree. */
    kept = t->kept;
    pn->child = *nk ? kept[0] : PF_CCT_NONE;
    for (size_t i = 0; i < *nk; i++) {
        pf_cct_node *kn = pf_cct_at(t, kept[i]);
        kn->parent = p;
        kn->sibling = i + 1 < *nk ? kept[i + 1] : PF_CCT_NONE;
    }
    return 0;
}

int pf_cct_merge(pf_cct *t, uint32_t root, const pf_cct_merge_ops *ops, void *ctx)
{
    if (!t->merging) {          /* the caller's key lists end here (see the file comment) */
        for (uint32_t i = 0; i < t->n; i++)
            pf_cct_at(t, i)->next_same = PF_CCT_NONE;
        t->merging = 1;
    }
    if (t->merged == NULL && (t->merged = pf_hmap_new(64)) == NULL)
        return -1;
    size_t nw = 0;
    if (room(&t->work, &t->cap_work, nw, sizeof(work)) < 0)
        return -1;
    ((work *)t->work)[nw++] = (work){ root, PF_CCT_NONE };
    while (nw > 0) {
        work it = ((work *)t->work)[--nw];
        size_t nk;
        if (prepare_children(t, it.id, ops, ctx, &nk) < 0)   /* first: splices add self time */
            return -1;
        uint32_t out = PF_CCT_NONE;
        if (it.id != root) {
            out = ops->emit(ctx, it.id, pf_cct_at(t, it.id), it.parent_out);
            if (out == PF_CCT_NONE)
                return -1;
        }
        /* push in reverse so the first child is emitted first */
        for (size_t i = nk; i-- > 0;) {
            if (room(&t->work, &t->cap_work, nw, sizeof(work)) < 0)
                return -1;
            ((work *)t->work)[nw++] = (work){ ((uint32_t *)t->kept)[i], out };
        }
    }
    return 0;
}

/* ---- the snapshot walk ---- */

typedef struct walk_item {
    uint32_t id;
    uint32_t parent_out;      /* the output index its node goes under, PF_CCT_NONE: the root */
    uint32_t spliced;         /* its parent was spliced out: its line becomes 0 */
} walk_item;

int pf_cct_walk(const pf_cct *t, uint32_t root, const pf_cct_walk_ops *ops, void *ctx,
                uint32_t *out_of)
{
    walk_item *stack = NULL;
    size_t n = 0, cap = 0;
    int rc = -1;
    /* children are pushed in reverse, so that they come off in list order */
#define PUSH_CHILDREN(first, pout, spl)                                                 \
    do {                                                                                \
        size_t base_ = n;                                                               \
        for (uint32_t c_ = (first); c_ != PF_CCT_NONE; c_ = pf_cct_at(t, c_)->sibling) { \
            void *items_ = stack;                                                       \
            if (room(&items_, &cap, n, sizeof(walk_item)) < 0)                          \
                goto done;                                                              \
            stack = items_;                                                             \
            stack[n++] = (walk_item){ c_, (pout), (spl) };                              \
        }                                                                               \
        for (size_t i_ = base_, j_ = n; i_ + 1 < j_; i_++, j_--) {                     \
            walk_item w_ = stack[i_];                                                   \
            stack[i_] = stack[j_ - 1];                                                  \
            stack[j_ - 1] = w_;                                                         \
        }                                                                               \
    } while (0)
    if (out_of != NULL)
        out_of[root] = PF_CCT_NONE;
    PUSH_CHILDREN(pf_cct_at(t, root)->child, PF_CCT_NONE, 0);
    while (n > 0) {
        walk_item it = stack[--n];
        const pf_cct_node *node = pf_cct_at(t, it.id);
        pf_cct_node copy;
        if (it.spliced) {
            copy = *node;
            pf_cct_set_line(&copy, 0);
            node = &copy;
        }
        if (ops->splice != NULL && ops->splice(ctx, node)) {
            if (ops->absorb != NULL)
                ops->absorb(ctx, it.id, node, it.parent_out);
            if (out_of != NULL)
                out_of[it.id] = it.parent_out;
            PUSH_CHILDREN(node->child, it.parent_out, 1);
            continue;
        }
        uint32_t out = ops->emit(ctx, it.id, node, it.parent_out);
        if (out == PF_CCT_NONE)
            goto done;
        if (out_of != NULL)
            out_of[it.id] = out;
        PUSH_CHILDREN(node->child, out, 0);
    }
#undef PUSH_CHILDREN
    rc = 0;
done:
    pf_free(stack);
    return rc;
}
