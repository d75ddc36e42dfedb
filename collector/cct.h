/* cct.h: the calling-context tree (CCT) the collector aggregates every call into, in
 * plain C (no Python.h, so tests/test_cct.c unit-tests it directly).  A key is an
 * opaque pointer-sized value (the collector uses PyCodeObject * and PyMethodDef *).
 *
 * The tree.  A root per thread; a node is one distinct path of (key, call site) from
 * its root, where the call site is the byte offset of the calling instruction in the
 * parent's code (-1 when unknown).  Each node also has the site's line, set by the
 * caller once per node (when it adds it, or with pf_cct_resolve_lines), never per
 * event; siblings that land on the same (key, line) are merged at stop (pf_cct_merge).
 *
 * Finding a child is O(1) per event: a parent's children are a singly linked list, kept
 * move-to-front while the parent has at most PF_CCT_SMALL of them (the hot child is
 * found with one compare); past that they are also entered in one hash table for the
 * whole tree (formats/hashmap.h, keyed by a hash of (parent, key, site)).  In front of
 * both, a lookup that misses the first child tries the child cache, a small
 * direct-mapped table of recent finds (pf_cct_cache_slot): a fan-out call site such as
 * a dispatch loop finds its child with one more load instead of a list walk or a hash
 * probe.  The stop-time merge is linear: one hashed (parent, key, line) table for the
 * whole tree.
 *
 * Retired keys.  A key's value may be reused (a dead object's address): the caller keeps
 * a list of each key's nodes (pf_cct_add's same) and rekeys them (pf_cct_rekey) to a
 * value never used as a key, so a lookup of the reused value makes new nodes.
 *
 * Direct recursion is folded so that the tree stays bounded by the program's shape
 * rather than by its recursion trees (naive fib would otherwise get one node per call):
 * a chain of same-key nodes is at most three long (the outermost activation C0, the
 * calls it makes to itself C1, and C2 standing for every deeper level).  A call made
 * from a C2 node to the same key goes to C2's sibling of the right call site instead
 * of a new child (pf_cct_fold), and is marked nested so that its time is not added to
 * the node's total twice.  This keeps cProfile's numbers exact when derived from the
 * tree (primitive calls = calls of nodes without a same-key ancestor; edge-primitive =
 * without the same caller->callee pair above): only C0 and C1 activations can be
 * primitive, and they are never folded.
 *
 * Memory: nodes live in chunks that never move (node pointers stay valid) and have
 * dense ids 0, 1, 2, ... in creation order (roots included), which the collector also
 * uses as memory-site ids.  56 bytes a node, plus 10-21 bytes in the hash table for a
 * child of a parent with many children.  Every allocation goes through formats/alloc.h
 * and is charged to a counter the caller shares (pf_cct_new); a failed allocation or the
 * byte limit makes the operation return NULL / -1 and sets a sticky flag (pf_cct_oom).
 */
#ifndef PF_COLLECTOR_CCT_H
#define PF_COLLECTOR_CCT_H

#include <stddef.h>
#include <stdint.h>

#define PF_CCT_NONE UINT32_MAX
/* Children a parent walks as a list before they are also hashed. */
#define PF_CCT_SMALL 8

enum {
    PF_CCT_ROOT = 1,          /* a thread's root (key 0, no stats) */
    PF_CCT_HASHED = 2,        /* its children are in the tree's child table */
    PF_CCT_MARK1 = 4,         /* the caller's marks (pf_cct_mark), kept with the node; the */
    PF_CCT_MARK2 = 8,         /* tree itself never reads them */
};

/* Call sites.  Sites >= 0 are byte offsets of the calling instruction, -1 is unknown.
 * A site <= PF_CCT_SITE_LINK is a *link site*: the caller's tag for a node that must
 * stay apart from its siblings of the same key (the collector's asyncio links, see
 * collector/session.h).  Like -1 it resolves to no line; unlike two nodes whose sites
 * resolve to the same line, nodes of different link sites are never merged. */
#define PF_CCT_SITE_LINK (-2)

typedef struct pf_cct_node {
    uintptr_t key;            /* the caller's key; 0 for a root */
    uint64_t calls;           /* entries (a generator resume counts) */
    uint64_t total_ns;        /* inclusive time of non-nested activations */
    uint64_t self_ns;         /* time not spent in callees, all activations */
    uint32_t parent;          /* id; PF_CCT_NONE for a root */
    uint32_t child;           /* first child id, PF_CCT_NONE if none */
    uint32_t sibling;         /* next sibling id, PF_CCT_NONE at the end */
    int32_t site;             /* call instruction's byte offset in parent's code; -1 unknown */
    uint32_t next_same;       /* next node of the same key in the caller's list (pf_cct_add);
                                 the merge's from its start (pf_cct_merge) */
    uint32_t bits;            /* private: line, kind, chain, flags (the accessors below) */
} pf_cct_node;

/* bits: line in 0-23 (the site's line, 0 unknown or past PF_CCT_LINE_MAX), kind 24-25
 * (the caller's tag of the key, e.g. Python or C function), chain 26-27 (same-key
 * ancestors in a row, capped at 2: C0, C1, C2), flags 28-31 (PF_CCT_ROOT, PF_CCT_HASHED,
 * the caller's PF_CCT_MARK1 and PF_CCT_MARK2). */
#define PF_CCT_LINE_MAX 0xFFFFFFu

static inline uint32_t pf_cct_line(const pf_cct_node *n)
{
    return n->bits & PF_CCT_LINE_MAX;
}

static inline void pf_cct_set_line(pf_cct_node *n, uint32_t line)
{
    n->bits = (n->bits & ~PF_CCT_LINE_MAX) | (line <= PF_CCT_LINE_MAX ? line : 0);
}

static inline uint32_t pf_cct_kind(const pf_cct_node *n)
{
    return (n->bits >> 24) & 3u;
}

static inline uint32_t pf_cct_chain(const pf_cct_node *n)
{
    return (n->bits >> 26) & 3u;
}

static inline uint32_t pf_cct_flags(const pf_cct_node *n)
{
    return n->bits >> 28;
}

/* Sets the caller's marks (PF_CCT_MARK1 | PF_CCT_MARK2 bits) on n. */
static inline void pf_cct_mark(pf_cct_node *n, uint32_t marks)
{
    n->bits |= (marks & (uint32_t)(PF_CCT_MARK1 | PF_CCT_MARK2)) << 28;
}

typedef struct pf_cct pf_cct;

/* One open activation of a node (an entry of a thread's shadow stack). */
typedef struct pf_cct_act {
    pf_cct_node *node;
    uint32_t id;
    uint32_t parent;          /* id of the node it was entered under (for pf_cct_fold) */
    uint32_t nested;          /* folded recursion: time already inside an open activation
                                 of the same node, so not added to its total */
    uint64_t t0;              /* entry time */
    uint64_t child_ns;        /* time spent in callees so far */
} pf_cct_act;

/* An empty tree.  What it allocates is added to *charged (shared with the caller, who
 * may count its own memory there too); with limit > 0, an allocation that would take
 * *charged past limit fails as if out of memory (a growing child table is charged for
 * its old and new slots, which exist together while it rehashes).  NULL when out of
 * memory. */
pf_cct *pf_cct_new(size_t *charged, size_t limit);
/* Frees the tree (and gives its bytes back to *charged).  NULL-safe. */
void pf_cct_free(pf_cct *t);

/* Frees what only child lookups need (the child table) and the merge's work space:
 * for when recording is over, so that the stop's peak holds the nodes and little more.
 * Call before the merges (the table) and after them (their space).  The nodes stay,
 * walkable; pf_cct_find finds no hashed child after it, and pf_cct_add would start
 * a new table.  NULL-safe. */
void pf_cct_release(pf_cct *t);

/* A new root (a thread's).  Its id, or PF_CCT_NONE when out of memory. */
uint32_t pf_cct_root(pf_cct *t);

/* Adds the child (key, site, kind) of parent, which must not have it yet (see
 * pf_cct_find); kind is 0-3.  If same is not NULL, it is the head of the caller's list of the nodes
 * of this key (PF_CCT_NONE when empty), and the node is prepended to it.  The new node
 * (zero stats, line 0) and its id in *id, or NULL when out of memory (the tree is
 * unchanged apart from the sticky flag). */
pf_cct_node *pf_cct_add(pf_cct *t, uint32_t parent, uintptr_t key, int32_t site, uint8_t kind,
                        uint32_t *same, uint32_t *id);

/* Gives every node of the list that starts at head (see pf_cct_add) the key key: the
 * caller retires a key whose value may be reused (a dead object's address), so that
 * lookups of the reused value no longer find these nodes. */
void pf_cct_rekey(pf_cct *t, uint32_t head, uintptr_t key);

/* Slow path of pf_cct_find (after the first child and the child cache). */
pf_cct_node *pf_cct_find_slow(pf_cct *t, uint32_t parent, pf_cct_node *pn, uintptr_t key,
                              int32_t site, uint32_t *id);

/* Nodes (roots included), bytes held, and whether an allocation failed. */
uint32_t pf_cct_count(const pf_cct *t);
/* The sum of every node's calls (linear): changes whenever anything was called. */
uint64_t pf_cct_total_calls(const pf_cct *t);
size_t pf_cct_bytes(const pf_cct *t);
int pf_cct_oom(const pf_cct *t);

/* Sets every node's line to line(ctx, its parent, it), roots' to 0.  Linear.  (For a
 * caller that resolves lines at stop time rather than when it adds nodes.) */
void pf_cct_resolve_lines(pf_cct *t,
                          uint32_t (*line)(void *ctx, const pf_cct_node *parent,
                                           const pf_cct_node *n),
                          void *ctx);

/* What pf_cct_merge asks of its caller. */
typedef struct pf_cct_merge_ops {
    /* True if n is to be spliced out: its callees move up to its parent (their lines
     * become 0: their sites were in the spliced code) and so does its self time. */
    int (*splice)(void *ctx, const pf_cct_node *n);
    /* The stats of node from were folded into node to (a merge, or a splice into its
     * parent, possibly a root).  May be NULL. */
    void (*moved)(void *ctx, uint32_t from, uint32_t to);
    /* One node of the merged tree, in depth-first pre-order, its stats final; parent_out
     * is what emit returned for its parent (PF_CCT_NONE under the root).  Returns the
     * caller's index for it, or PF_CCT_NONE to abort the merge. */
    uint32_t (*emit)(void *ctx, uint32_t id, const pf_cct_node *n, uint32_t parent_out);
} pf_cct_merge_ops;

/* Emits the tree under root with siblings of the same (key, line) merged (their stats
 * add up, their children become the survivor's children, merged in turn) and spliced
 * nodes removed; children come in list order.  Siblings of different link sites (<=
 * PF_CCT_SITE_LINK) are not merged, nor one of a link site with one of another site.  Needs every node's line set.
 * Linear in the nodes.  Changes the tree (stats, lines of spliced nodes' callees): call
 * once per root.  After it, the tree under root IS the merged tree: pf_cct_walk (no
 * splice) visits the nodes emit was given, in the same order, with the same stats and
 * lines; child lookups (pf_cct_find, pf_cct_add) are over for it.  The first merge ends
 * the caller's key lists (next_same, pf_cct_add's same): no pf_cct_rekey after it.
 * 0, or -1 when out of memory or emit failed. */
int pf_cct_merge(pf_cct *t, uint32_t root, const pf_cct_merge_ops *ops, void *ctx);

/* What pf_cct_walk asks of its caller: splice and emit as for pf_cct_merge; absorb
 * takes a spliced node's own stats into into_out, the output index of the node it
 * goes to (PF_CCT_NONE: the root, whose stats are not output).  absorb may be NULL. */
typedef struct pf_cct_walk_ops {
    int (*splice)(void *ctx, const pf_cct_node *n);
    uint32_t (*emit)(void *ctx, uint32_t id, const pf_cct_node *n, uint32_t parent_out);
    void (*absorb)(void *ctx, uint32_t id, const pf_cct_node *n, uint32_t into_out);
} pf_cct_walk_ops;

/* Emits the tree under root as it is, without changing it (for a snapshot while
 * recording goes on): depth-first pre-order, children in list order, spliced nodes
 * removed as by pf_cct_merge; siblings of the same (key, line) are NOT merged, so one
 * context may be output as several nodes.  With out_of (an array of pf_cct_count(t)
 * entries) each visited node's output index is stored (a spliced node: the one it went
 * to).  Linear; needs a work stack of at most the nodes' count.  0, or -1 when out of
 * memory or emit failed. */
int pf_cct_walk(const pf_cct *t, uint32_t root, const pf_cct_walk_ops *ops, void *ctx,
                uint32_t *out_of);

/* ---- the hot path (inline) ---- */

/* Private: the layout the inline functions below need.  Do not use the fields. */
#define PF_CCT_CHUNK_SHIFT 10
#define PF_CCT_CHUNK_NODES (1u << PF_CCT_CHUNK_SHIFT)
#define PF_CCT_CACHE_BITS 12
struct pf_cct {
    pf_cct_node **chunks;     /* each PF_CCT_CHUNK_NODES nodes */
    size_t nchunks, cap_chunks;
    uint32_t n;               /* nodes in use */
    int oom;
    struct pf_cct_kid {       /* the child table (cct.c): children of hashed parents */
        uint32_t tag, id;     /* tag of hash(parent, key, site); id, PF_CCT_NONE = empty */
    } *kids;
    size_t kids_cap, kids_count;
    size_t *charged, limit, bytes;
    /* stop time (pf_cct_merge), kept across roots */
    int merging;              /* a merge began: next_same holds merged siblings, see cct.c */
    struct pf_hmap *merged;   /* hash(parent, key, line) -> surviving child id */
    void *work, *queue, *kept;
    size_t cap_work, cap_queue, cap_kept;
    uint32_t cache[1u << PF_CCT_CACHE_BITS];  /* the child cache (pf_cct_cache_slot) */
};

/* The node of id (which must exist).  Valid for the tree's life. */
static inline pf_cct_node *pf_cct_at(const pf_cct *t, uint32_t id)
{
    return &t->chunks[id >> PF_CCT_CHUNK_SHIFT][id & (PF_CCT_CHUNK_NODES - 1)];
}

/* Where a call of key made from activation top goes (top NULL: from the root root):
 * sets *parent and *pn to the node to look under, and returns 1 if the activation is
 * nested (recursion folding: top is a C2 node of key, the call goes under top's
 * parent), else 0. */
static inline uint32_t pf_cct_fold(const pf_cct *t, const pf_cct_act *top, uint32_t root,
                                   uint32_t *parent, pf_cct_node **pn, uintptr_t key)
{
    if (top == NULL) {
        *parent = root;
        *pn = pf_cct_at(t, root);
        return 0;
    }
    if (__builtin_expect(top->node->key == key, 0) && pf_cct_chain(top->node) == 2) {
        *parent = top->parent;
        *pn = pf_cct_at(t, top->parent);
        return 1;
    }
    *parent = top->id;
    *pn = top->node;
    return 0;
}

/* The child cache: a direct-mapped table of child ids, slot chosen by a hash of (parent,
 * key, site).  An entry is only a hint: it is a hit when the node it names has exactly
 * that parent, key and site, so a stale entry (overwritten slot, rekeyed node) is just
 * a miss, and no entry ever needs removing. */
static inline uint32_t *pf_cct_cache_slot(pf_cct *t, uint32_t parent, uintptr_t key,
                                          int32_t site)
{
    uint64_t h = ((uint64_t)key ^ ((uint64_t)parent << 32) ^ (uint32_t)site * 0x9E3779B1u)
                 * UINT64_C(0x9E3779B97F4A7C15);
    return &t->cache[h >> (64 - PF_CCT_CACHE_BITS)];
}

/* pf_cct_find without its slow path: the first child, then the child cache.  Makes no
 * call (the collector's hooks keep their fast paths free of calls, so that they save no
 * registers); NULL means "not found here", not "no such child". */
static inline pf_cct_node *pf_cct_find_fast(pf_cct *t, uint32_t parent, pf_cct_node *pn,
                                            uintptr_t key, int32_t site, uint32_t *id)
{
    uint32_t c = pn->child;
    if (c == PF_CCT_NONE)
        return NULL;
    pf_cct_node *n = pf_cct_at(t, c);
    if (__builtin_expect(n->key == key && n->site == site, 1)) {
        *id = c;
        return n;
    }
    c = *pf_cct_cache_slot(t, parent, key, site);
    n = pf_cct_at(t, c);
    if (n->key == key && n->site == site && n->parent == parent) {
        *id = c;
        return n;
    }
    return NULL;
}

/* The child (key, site) of pn (id parent, as pf_cct_fold set them) and its id in *id, or
 * NULL if it has none.  O(1): the first child, the child cache, then at most
 * PF_CCT_SMALL list steps or one hash probe (which refill the cache). */
static inline pf_cct_node *pf_cct_find(pf_cct *t, uint32_t parent, pf_cct_node *pn,
                                       uintptr_t key, int32_t site, uint32_t *id)
{
    pf_cct_node *n = pf_cct_find_fast(t, parent, pn, key, site, id);
    if (n != NULL || pn->child == PF_CCT_NONE)
        return n;
    return pf_cct_find_slow(t, parent, pn, key, site, id);
}

/* Opens an activation of node n (id, entered under parent) at now. */
static inline void pf_cct_open(pf_cct_act *a, pf_cct_node *n, uint32_t id, uint32_t parent,
                               uint32_t nested, uint64_t now)
{
    a->node = n;
    a->id = id;
    a->parent = parent;
    a->nested = nested;
    a->t0 = now;
    a->child_ns = 0;
    n->calls++;
}

/* Closes activation a at now: its node gets the self and (unless nested) inclusive time,
 * its caller's activation (NULL at the bottom of the stack) the child time. */
static inline void pf_cct_close(pf_cct_act *a, pf_cct_act *caller, uint64_t now)
{
    uint64_t dt = now - a->t0;
    a->node->self_ns += dt - a->child_ns;
    if (!a->nested)
        a->node->total_ns += dt;
    if (caller != NULL)
        caller->child_ns += dt;
}

#endif
