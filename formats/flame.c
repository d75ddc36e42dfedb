/* flame.c: the merged stack tree (flame.h): building it from collapsed text or from
 * a trace, and writing it back as collapsed lines.
 *
 * Frame names and path shortening live in framename.c.
 *
 * Algorithm.  A stack is walked frame by frame from the root; each frame's bytes are
 * hashed once and looked up in the flame's private name index (name bytes -> name id,
 * small and cache-hot: there are few distinct names), then (parent, name id) is looked
 * up in one open-addressing child table (-> node index).  Only a miss allocates: a new
 * name (interned in f->names) or a new node.  So memory grows with distinct frames,
 * never with input lines.
 *
 * Invariants: nodes[0] is the root; parent < index for every other node; each
 * (parent, name) pair occurs at most once; sibling lists are in insertion order until
 * pf_flame_sort relinks them by name.  Every string of f->names is in the name index.
 * Bulk loaders add only self values while parsing and compute every total in one
 * reverse pass at the end (children have larger indices than their parents), which
 * saves touching each node of each stack; pf_flame_add_stack keeps totals current.
 */
#include "flame.h"

#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#if defined(__linux__)
#include <sys/mman.h>
#endif

#include "alloc.h"
#include "collapsed_internal.h"
#include "framename_internal.h"

/* ---- private state ------------------------------------------------------------------- */

struct child_slot {
    uint32_t parent, name, node;     /* node == 0: empty (the root is never a child), so a
                                        zeroed block is an empty table */
};

struct name_slot {
    uint32_t tag;                    /* low 32 bits of the name hash */
    uint32_t id;                     /* PF_NONE: empty */
};

struct name_info {
    const char *ptr;                 /* borrowed from f->names (stable until freed) */
    size_t len;
    int special;                     /* holds ';', '\n' or '\r' (see out_byte) */
};

static int has_special(const char *p, size_t n)
{
    return memchr(p, ';', n) || memchr(p, '\n', n) || memchr(p, '\r', n);
}

struct frame_ref {                   /* one frame of the stack being added */
    uint64_t hash;                   /* path hash up to and including this frame */
    uint32_t name;
};

struct pf_flame_private {
    uint32_t cap_nodes;
    uint64_t *phash;                 /* per node: path hash (the child table's key hash) */
    uint32_t *last_child;            /* per node; NULL until an append must link (bulk
                                        loaders never need it) */
    int links_valid;                 /* first_child/next_sibling are current */
    int last_child_valid;            /* last_child is allocated and current */
    struct child_slot *slots;
    uint32_t slot_bits;              /* capacity is 1 << slot_bits */
    struct name_slot *nslots;
    uint32_t nslot_bits;
    struct name_info *ninfo;         /* per name id */
    uint32_t nnames, cap_names;
    struct frame_ref *frames;        /* scratch for walk_stack, grows to the deepest stack */
    size_t cap_frames;
};

#define MAX_NODES (UINT32_MAX - 2)
#define ROOT_HASH UINT64_C(0x2545F4914F6CDD1D)

/* Asks for transparent huge pages on the page-aligned interior of a big block.  The
 * child table and node arrays are accessed at random; with 4 KiB pages nearly every
 * access is a TLB miss, which under virtualisation costs more than the cache miss
 * (measured: about 3x faster loads on a 1.5 M-node tree).  Only a hint: ignored where
 * unsupported. */
static void advise_huge(void *p, size_t n)
{
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    const uintptr_t huge = (uintptr_t)2 << 20;
    if (p == NULL || n < 2 * huge)
        return;
    uintptr_t a = ((uintptr_t)p + huge - 1) & ~(huge - 1);
    uintptr_t e = ((uintptr_t)p + n) & ~(huge - 1);
    if (e > a)
        madvise((void *)a, e - a, MADV_HUGEPAGE);
#else
    (void)p;
    (void)n;
#endif
}

/* Grows *p from old_n to new_n bytes.  Big arrays move to a fresh block that is
 * advised before anything touches it (a realloc would keep the old small pages and
 * fault in the new tail page by page).  0, or -1 with *p intact. */
static int grow_block(void **p, size_t old_n, size_t new_n)
{
    if (new_n < ((size_t)8 << 20)) {
        void *q = pf_realloc(*p, new_n);
        if (q == NULL)
            return -1;
        *p = q;
        return 0;
    }
    void *q = pf_malloc(new_n);
    if (q == NULL)
        return -1;
    advise_huge(q, new_n);
    if (old_n)
        memcpy(q, *p, old_n);
    pf_free(*p);
    *p = q;
    return 0;
}

/* ---- hashing --------------------------------------------------------------------- */

static inline uint64_t rotl64(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }

/* A word-at-a-time multiplicative hash: frames average tens of bytes, so this must not
 * be byte-at-a-time.  Words are little-endian loads, the last one zero-padded; the
 * length is mixed in at the end so scan_frame can hash while it looks for ';'.  It
 * never reads past p + n. */
#define HASH_K UINT64_C(0x9E3779B97F4A7C15)
#define HASH_SEED UINT64_C(0xC2B2AE3D27D4EB4F)

static inline uint64_t hash_word(uint64_t h, uint64_t w) { return rotl64((h ^ w) * HASH_K, 29); }

static inline uint64_t hash_final(uint64_t h, size_t n)
{
    h ^= (uint64_t)n * UINT64_C(0xFF51AFD7ED558CCD);
    h ^= h >> 32;
    h *= UINT64_C(0xD6E8FEB86659FD93);
    h ^= h >> 32;
    return h;
}

static inline uint64_t load_le64(const char *p)
{
    uint64_t w;
    memcpy(&w, p, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    w = __builtin_bswap64(w);
#endif
    return w;
}

static uint64_t hash_bytes(const char *p, size_t n)
{
    uint64_t h = HASH_SEED;
    size_t len = n;
    while (n >= 8) {
        h = hash_word(h, load_le64(p));
        p += 8;
        n -= 8;
    }
    if (n) {
        uint64_t w = 0;
        for (size_t i = 0; i < n; i++)
            w |= (uint64_t)(unsigned char)p[i] << (8 * i);
        h = hash_word(h, w);
    }
    return hash_final(h, len);
}

/* Finds the end of the frame starting at p (the first ';' before end, or end) and
 * hashes it as hash_bytes would, in one pass: eight bytes at a time, spotting ';'
 * with the "has zero byte" bit trick on w ^ ";;;;;;;;". */
static const char *scan_frame(const char *p, const char *end, uint64_t *hash)
{
    const uint64_t ones = UINT64_C(0x0101010101010101), highs = UINT64_C(0x8080808080808080);
    const char *s = p;
    uint64_t h = HASH_SEED;
    while (end - p >= 8) {
        uint64_t w = load_le64(p);
        uint64_t x = w ^ (ones * ';');
        uint64_t t = (x - ones) & ~x & highs;
        if (t) {
            /* The lowest flagged byte is exact (borrows only run upwards). */
            unsigned k = (unsigned)__builtin_ctzll(t) / 8;
            if (k)
                h = hash_word(h, w & ((UINT64_C(1) << (8 * k)) - 1));
            *hash = hash_final(h, (size_t)(p - s) + k);
            return p + k;
        }
        h = hash_word(h, w);
        p += 8;
    }
    uint64_t w = 0;
    unsigned k = 0;
    while (p + k < end && p[k] != ';') {
        w |= (uint64_t)(unsigned char)p[k] << (8 * k);
        k++;
    }
    if (k)
        h = hash_word(h, w);
    *hash = hash_final(h, (size_t)(p - s) + k);
    return p + k;
}

/* The child table is keyed by (parent, name id), but its slot is chosen by a hash of
 * the whole path of name ids (hash(child) = path_mix(hash(parent), name)).  Equal keys
 * still have equal hashes, and the hashes of all frames of a stack can be computed
 * before any lookup, so their slots are prefetched together instead of paying one
 * dependent cache miss per frame. */
static inline uint64_t path_mix(uint64_t h, uint32_t name)
{
    uint64_t x = (h ^ ((uint64_t)name + 1)) * UINT64_C(0x9E3779B97F4A7C15);
    x ^= x >> 29;
    x *= UINT64_C(0xBF58476D1CE4E5B9);
    x ^= x >> 32;
    return x;
}

/* ---- the name index ---------------------------------------------------------------- */

static int name_index_grow(struct pf_flame_private *pv)
{
    uint32_t bits = pv->nslot_bits + 1;
    size_t cap = (size_t)1 << bits;
    struct name_slot *ns = pf_malloc(cap * sizeof *ns);
    if (ns == NULL)
        return -1;
    for (size_t i = 0; i < cap; i++)
        ns[i].id = PF_NONE;
    size_t mask = cap - 1;
    for (uint32_t id = 0; id < pv->nnames; id++) {
        uint64_t h = hash_bytes(pv->ninfo[id].ptr, pv->ninfo[id].len);
        size_t i = (size_t)(h >> 32) & mask;
        while (ns[i].id != PF_NONE)
            i = (i + 1) & mask;
        ns[i].tag = (uint32_t)h;
        ns[i].id = id;
    }
    pf_free(pv->nslots);
    pv->nslots = ns;
    pv->nslot_bits = bits;
    return 0;
}

static int name_info_reserve(struct pf_flame_private *pv)
{
    if (pv->nnames < pv->cap_names)
        return 0;
    uint32_t nc = pv->cap_names ? pv->cap_names * 2 : 64;
    struct name_info *ni = pf_reallocarray(pv->ninfo, nc, sizeof *ni);
    if (ni == NULL)
        return -1;
    pv->ninfo = ni;
    pv->cap_names = nc;
    return 0;
}

/* Brings the index up to date with strings a caller added to f->names directly (the
 * header asks them not to; this keeps ids right if they do).  A duplicate of an
 * indexed string keeps the older id in the index. */
static int sync_names(pf_flame *f)
{
    struct pf_flame_private *pv = f->priv;
    while (pv->nnames < pf_strtab_count(f->names)) {
        size_t mask = ((size_t)1 << pv->nslot_bits) - 1;
        if ((size_t)(pv->nnames + 1) * 2 > mask + 1) {
            if (name_index_grow(pv) < 0)
                return -1;
            continue;
        }
        if (name_info_reserve(pv) < 0)
            return -1;
        uint32_t id = pv->nnames;
        size_t len;
        const char *p = pf_strtab_get(f->names, id, &len);
        uint64_t h = hash_bytes(p, len);
        size_t i = (size_t)(h >> 32) & mask;
        int dup = 0;
        while (pv->nslots[i].id != PF_NONE) {
            const struct name_info *ni = &pv->ninfo[pv->nslots[i].id];
            if (pv->nslots[i].tag == (uint32_t)h && ni->len == len && memcmp(ni->ptr, p, len) == 0)
                dup = 1;
            i = (i + 1) & mask;
        }
        pv->ninfo[id].ptr = p;
        pv->ninfo[id].len = len;
        pv->ninfo[id].special = has_special(p, len);
        pv->nnames++;
        if (!dup) {
            pv->nslots[i].tag = (uint32_t)h;
            pv->nslots[i].id = id;
        }
    }
    return 0;
}

/* Returns the id of s[0..n) (whose hash_bytes is h) in f->names, adding it if new;
 * PF_NONE when out of memory. */
static uint32_t name_intern_h(pf_flame *f, const char *s, size_t n, uint64_t h)
{
    struct pf_flame_private *pv = f->priv;
    uint32_t tag = (uint32_t)h;
    size_t mask = ((size_t)1 << pv->nslot_bits) - 1;
    size_t i = (size_t)(h >> 32) & mask;
    for (;;) {
        struct name_slot *sl = &pv->nslots[i];
        if (sl->id == PF_NONE)
            break;
        if (sl->tag == tag) {
            const struct name_info *ni = &pv->ninfo[sl->id];
            if (ni->len == n && memcmp(ni->ptr, s, n) == 0)
                return sl->id;
        }
        i = (i + 1) & mask;
    }
    /* A new name.  Strings someone else added to f->names are indexed first. */
    if (pf_strtab_count(f->names) != pv->nnames) {
        if (sync_names(f) < 0)
            return PF_NONE;
        return name_intern_h(f, s, n, h);
    }
    /* Keep the index at most half full. */
    if ((size_t)(pv->nnames + 1) * 2 > mask + 1) {
        if (name_index_grow(pv) < 0)
            return PF_NONE;
        return name_intern_h(f, s, n, h);
    }
    if (name_info_reserve(pv) < 0)
        return PF_NONE;
    /* The index already said the name is new, so append (no second dedup). */
    uint32_t id = pf_strtab_append(f->names, s, n);
    if (id == PF_STR_NONE)
        return PF_NONE;
    size_t len;
    pv->ninfo[id].ptr = pf_strtab_get(f->names, id, &len);
    pv->ninfo[id].len = len;
    pv->ninfo[id].special = has_special(s, n);
    pv->nnames++;
    pv->nslots[i].tag = tag;
    pv->nslots[i].id = id;
    return id;
}

static uint32_t name_intern(pf_flame *f, const char *s, size_t n)
{
    return name_intern_h(f, s, n, hash_bytes(s, n));
}

/* ---- nodes and the child table ------------------------------------------------------- */

static int child_table_grow(pf_flame *f)
{
    struct pf_flame_private *pv = f->priv;
    uint32_t bits = pv->slot_bits + 1;
    size_t cap = (size_t)1 << bits;
    /* calloc: a big block comes zeroed from the kernel, so no pass to mark slots
     * empty, and its pages stay untouched until a slot is used. */
    struct child_slot *ns = pf_calloc(cap, sizeof *ns);
    if (ns == NULL)
        return -1;
    advise_huge(ns, cap * sizeof *ns);
    int shift = 64 - (int)bits;
    size_t mask = cap - 1;
    for (uint32_t n = 1; n < f->nnodes; n++) {
        const pf_flame_node *nd = &f->nodes[n];
        size_t i = (size_t)(pv->phash[n] >> shift);
        while (ns[i].node != 0)
            i = (i + 1) & mask;
        ns[i].parent = nd->parent;
        ns[i].name = nd->name;
        ns[i].node = n;
    }
    pf_free(pv->slots);
    pv->slots = ns;
    pv->slot_bits = bits;
    return 0;
}

static int nodes_reserve(pf_flame *f, uint32_t need)
{
    struct pf_flame_private *pv = f->priv;
    if (need <= pv->cap_nodes)
        return 0;
    if (need > MAX_NODES)
        return -1;
    uint32_t nc = pv->cap_nodes ? pv->cap_nodes : 256;
    while (nc < need)
        nc = nc > MAX_NODES / 2 ? MAX_NODES : nc * 2;
#if SIZE_MAX <= UINT32_MAX
    if ((size_t)nc > SIZE_MAX / sizeof *f->nodes)    /* 32-bit hosts only */
        return -1;
#endif
    /* Each array is committed as soon as it grows, so a failure leaves every array at
     * least cap_nodes long. */
    size_t oc = pv->cap_nodes;
    void *a = f->nodes;
    if (grow_block(&a, oc * sizeof *f->nodes, (size_t)nc * sizeof *f->nodes) < 0)
        return -1;
    f->nodes = a;
    a = pv->phash;
    if (grow_block(&a, oc * sizeof *pv->phash, (size_t)nc * sizeof *pv->phash) < 0)
        return -1;
    pv->phash = a;
    if (pv->last_child) {
        a = pv->last_child;
        if (grow_block(&a, oc * sizeof *pv->last_child, (size_t)nc * sizeof *pv->last_child) < 0)
            return -1;
        pv->last_child = a;
    }
    pv->cap_nodes = nc;
    return 0;
}

/* Makes last_child current (allocating it on first use) so appends can link. */
static int last_child_prepare(pf_flame *f)
{
    struct pf_flame_private *pv = f->priv;
    if (pv->last_child_valid)
        return 0;
    if (pv->last_child == NULL) {
        pv->last_child = pf_malloc((size_t)pv->cap_nodes * sizeof *pv->last_child);
        if (pv->last_child == NULL)
            return -1;
    }
    /* From the sibling lists themselves: after pf_flame_sort the last child need not
     * have the largest index.  Each node is visited once. */
    for (uint32_t p = 0; p < f->nnodes; p++) {
        uint32_t c = f->nodes[p].first_child;
        while (c != PF_NONE && f->nodes[c].next_sibling != PF_NONE)
            c = f->nodes[c].next_sibling;
        pv->last_child[p] = c;
    }
    pv->last_child_valid = 1;
    return 0;
}

static uint32_t node_append(pf_flame *f, uint32_t parent, uint32_t name, uint64_t h)
{
    struct pf_flame_private *pv = f->priv;
    if (nodes_reserve(f, f->nnodes + 1) < 0)
        return PF_NONE;
    if (pv->links_valid && last_child_prepare(f) < 0)
        return PF_NONE;
    uint32_t n = f->nnodes++;
    pf_flame_node *nd = &f->nodes[n];
    memset(nd, 0, sizeof *nd);
    nd->name = name;
    nd->parent = parent;
    nd->first_child = PF_NONE;
    nd->next_sibling = PF_NONE;
    nd->code = PF_NONE;
    pv->phash[n] = h;
    /* Bulk loaders leave sibling lists to finish(): linking here would cost two random
     * memory accesses per new node. */
    if (pv->last_child_valid)
        pv->last_child[n] = PF_NONE;
    if (pv->links_valid && parent != PF_NONE) {
        uint32_t last = pv->last_child[parent];
        if (last == PF_NONE)
            f->nodes[parent].first_child = n;
        else
            f->nodes[last].next_sibling = n;
        pv->last_child[parent] = n;
    }
    return n;
}

/* Reserves room for about `nodes` nodes before a bulk load, so the arrays do not grow
 * (and get copied) step by step.  Only address space: pages are touched as nodes are
 * added, so a generous guess costs no memory.  Best effort: failure is ignored. */
static void reserve_hint(pf_flame *f, uint64_t nodes)
{
    if (nodes > ((uint64_t)1 << 24))
        nodes = (uint64_t)1 << 24;
    if (nodes > f->priv->cap_nodes)
        (void)nodes_reserve(f, (uint32_t)nodes);
}

/* Returns the child of parent named name whose path hash is h, creating it if
 * needed; PF_NONE on OOM. */
static uint32_t child_get_h(pf_flame *f, uint32_t parent, uint32_t name, uint64_t h)
{
    struct pf_flame_private *pv = f->priv;
    int shift = 64 - (int)pv->slot_bits;
    size_t mask = ((size_t)1 << pv->slot_bits) - 1;
    size_t i = (size_t)(h >> shift);
    for (;;) {
        struct child_slot *sl = &pv->slots[i];
        if (sl->node == 0)
            break;
        if (sl->parent == parent && sl->name == name)
            return sl->node;
        i = (i + 1) & mask;
    }
    /* Keep the table at most 3/4 full (the root has no slot). */
    if ((size_t)f->nnodes * 4 > (mask + 1) * 3) {
        if (child_table_grow(f) < 0)
            return PF_NONE;
        return child_get_h(f, parent, name, h);
    }
    uint32_t n = node_append(f, parent, name, h);
    if (n == PF_NONE)
        return PF_NONE;
    pv->slots[i].parent = parent;
    pv->slots[i].name = name;
    pv->slots[i].node = n;
    return n;
}

static uint32_t child_get(pf_flame *f, uint32_t parent, uint32_t name)
{
    return child_get_h(f, parent, name, path_mix(f->priv->phash[parent], name));
}

pf_flame *pf_flame_new(void)
{
    pf_flame *f = pf_calloc(1, sizeof *f);
    if (f == NULL)
        return NULL;
    f->priv = pf_calloc(1, sizeof *f->priv);
    if (f->priv == NULL)
        goto fail;
    f->names = pf_strtab_new();
    if (f->names == NULL)
        goto fail;
    f->priv->slot_bits = 9;
    f->priv->slots = pf_calloc((size_t)1 << 9, sizeof *f->priv->slots);
    if (f->priv->slots == NULL)
        goto fail;
    f->priv->nslot_bits = 7;
    f->priv->nslots = pf_malloc(((size_t)1 << 7) * sizeof *f->priv->nslots);
    if (f->priv->nslots == NULL)
        goto fail;
    for (size_t i = 0; i < ((size_t)1 << 7); i++)
        f->priv->nslots[i].id = PF_NONE;
    uint32_t root_name = name_intern(f, "all", 3);
    if (root_name == PF_NONE || node_append(f, PF_NONE, root_name, ROOT_HASH) != 0)
        goto fail;
    /* The root links to nothing; from now on appends link (last_child comes lazily). */
    f->priv->links_valid = 1;
    return f;
fail:
    pf_flame_free(f);
    return NULL;
}

void pf_flame_free(pf_flame *f)
{
    if (f == NULL)
        return;
    if (f->priv) {
        pf_free(f->priv->phash);
        pf_free(f->priv->last_child);
        pf_free(f->priv->slots);
        pf_free(f->priv->nslots);
        pf_free(f->priv->ninfo);
        pf_free(f->priv->frames);
        pf_free(f->priv);
    }
    pf_strtab_free(f->names);
    pf_free(f->nodes);
    pf_free(f);
}

/* Walks stack[0..n) from the root, creating nodes as needed; returns the leaf or
 * PF_NONE (out of memory; nodes created so far stay, with zero values).
 * Two passes: names and path hashes first (prefetching each frame's slot), then the
 * dependent walk through the child table, whose cache lines are by then arriving. */
static uint32_t walk_stack(pf_flame *f, const char *s, size_t n)
{
    struct pf_flame_private *pv = f->priv;
    const char *p = s, *end = s + n;
    uint64_t h = ROOT_HASH;
    size_t k = 0;
    int shift = 64 - (int)pv->slot_bits;
    for (;;) {
        uint64_t nh;
        const char *fe = scan_frame(p, end, &nh);
        uint32_t nm = name_intern_h(f, p, (size_t)(fe - p), nh);
        if (nm == PF_NONE)
            return PF_NONE;
        if (k == pv->cap_frames) {
            size_t nc = pv->cap_frames ? pv->cap_frames * 2 : 64;
            struct frame_ref *fr = pf_reallocarray(pv->frames, nc, sizeof *fr);
            if (fr == NULL)
                return PF_NONE;
            pv->frames = fr;
            pv->cap_frames = nc;
        }
        h = path_mix(h, nm);
        pv->frames[k].hash = h;
        pv->frames[k].name = nm;
        k++;
#if defined(__GNUC__)
        __builtin_prefetch(&pv->slots[h >> shift]);
#endif
        if (fe == end)
            break;
        p = fe + 1;
    }
    uint32_t cur = 0;
    for (size_t j = 0; j < k; j++) {
        cur = child_get_h(f, cur, pv->frames[j].name, pv->frames[j].hash);
        if (cur == PF_NONE)
            return PF_NONE;
    }
    return cur;
}

/* Rebuilds first_child/next_sibling from the parent links, keeping
 * insertion (= index) order, and recomputes every total from the self values.  One
 * reverse pass: children have larger indices than their parents. */
static void finish(pf_flame *f)
{
    struct pf_flame_private *pv = f->priv;
    pf_flame_node *nd = f->nodes;
    for (uint32_t i = 0; i < f->nnodes; i++) {
        nd[i].total = nd[i].self;
        nd[i].total2 = nd[i].self2;
        nd[i].first_child = PF_NONE;
    }
    for (uint32_t i = f->nnodes; i-- > 1;) {
        pf_flame_node *pn = &nd[nd[i].parent];
        pn->total += nd[i].total;
        pn->total2 += nd[i].total2;
        nd[i].next_sibling = pn->first_child;
        pn->first_child = i;
    }
    pv->links_valid = 1;
    pv->last_child_valid = 0;     /* rebuilt when an append needs it */
}

int pf_flame_add_stack(pf_flame *f, const char *stack, size_t stack_len,
                       double count, double count2)
{
    if (!f->priv->links_valid)
        finish(f);
    uint32_t leaf = walk_stack(f, stack ? stack : "", stack ? stack_len : 0);
    if (leaf == PF_NONE)
        return -1;
    f->nodes[leaf].self += count;
    f->nodes[leaf].self2 += count2;
    for (uint32_t x = leaf; x != PF_NONE; x = f->nodes[x].parent) {
        f->nodes[x].total += count;
        f->nodes[x].total2 += count2;
    }
    if (count2 != 0)
        f->has_count2 = 1;
    return 0;
}

/* ---- from collapsed text ------------------------------------------------------------- */

struct load_ctx {
    pf_flame *f;
    const pf_collapsed_opts *user;
};

static int load_line(void *ctx, const pf_collapsed_line *l, pf_error *err)
{
    struct load_ctx *lc = ctx;
    pf_flame *f = lc->f;
    uint32_t leaf = walk_stack(f, l->stack, l->stack_len);
    if (leaf == PF_NONE)
        return pf_error_set(err, PF_ENOMEM, "out of memory at line %lu (%u frames)",
                            l->lineno, f->nnodes);
    f->nodes[leaf].self += l->count;
    if (l->has_count2) {
        f->nodes[leaf].self2 += l->count2;
        f->has_count2 = 1;
    }
    return 0;
}

static void load_bad(void *ctx, unsigned long lineno, const char *msg)
{
    struct load_ctx *lc = ctx;
    if (lc->user && lc->user->on_bad)
        lc->user->on_bad(lc->user->ctx, lineno, msg);
}

static void load_begin(struct load_ctx *lc, pf_collapsed_opts *o, pf_flame *f,
                       const pf_collapsed_opts *user)
{
    lc->f = f;
    lc->user = user;
    f->priv->links_valid = 0;
    f->priv->last_child_valid = 0;
    o->strict = user ? user->strict : 0;
    o->on_bad = load_bad;
    o->ctx = lc;
}

static pf_flame *load_end(pf_flame *f, long good, pf_error *err)
{
    if (good == 0) {
        pf_flame_free(f);
        pf_error_set(err, PF_EEMPTY, "no stacks in input");
        return NULL;
    }
    finish(f);
    return f;
}

pf_flame *pf_flame_from_collapsed(const char *buf, size_t len,
                                  const pf_collapsed_opts *opts, pf_error *err)
{
    pf_flame *f = pf_flame_new();
    if (f == NULL) {
        pf_error_set(err, PF_ENOMEM, NULL);
        return NULL;
    }
    struct load_ctx lc;
    pf_collapsed_opts o;
    load_begin(&lc, &o, f, opts);
    /* Typical folded files hold one distinct frame per 100-300 input bytes. */
    reserve_hint(f, len / 128);
    long good = pf_collapsed_parse(buf, len, load_line, &o, err);
    if (good < 0) {
        pf_flame_free(f);
        return NULL;
    }
    return load_end(f, good, err);
}

pf_flame *pf_flame_from_collapsed_file(FILE *in, const pf_collapsed_opts *opts, pf_error *err)
{
    return pf_flame_from_collapsed_file_(in, opts, err, 0);
}

pf_flame *pf_flame_from_collapsed_file_(FILE *in, const pf_collapsed_opts *opts, pf_error *err,
                                        size_t chunk)
{
    size_t cap = chunk ? chunk : (size_t)1 << 20, have = 0;
    char *buf = NULL;
    long good = 0;
    unsigned long lineno = 1;
    struct stat st;
    int fd = fileno(in);
    int regular = fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size >= 0;
    /* A small file needs no 1 MiB buffer. */
    if (!chunk && regular && (uint64_t)st.st_size + 1 < cap)
        cap = (size_t)st.st_size + 1 < 4096 ? 4096 : (size_t)st.st_size + 1;
    pf_flame *f = pf_flame_new();
    if (f == NULL)
        goto oom;
    buf = pf_malloc(cap);
    if (buf == NULL)
        goto oom;
    struct load_ctx lc;
    pf_collapsed_opts o;
    load_begin(&lc, &o, f, opts);
    if (regular)
        reserve_hint(f, (uint64_t)st.st_size / 128);
    for (;;) {
        if (have == cap) {
            /* A line longer than the buffer: grow to hold it. */
            char *nb = cap > SIZE_MAX / 2 ? NULL : pf_realloc(buf, cap * 2);
            if (nb == NULL)
                goto oom;
            buf = nb;
            cap *= 2;
        }
        size_t got = fread(buf + have, 1, cap - have, in);
        if (got == 0) {
            if (ferror(in)) {
                pf_error_set(err, PF_EIO, "read error after line %lu", lineno);
                goto fail;
            }
            long g = pf_collapsed_parse_from_(buf, have, &lineno, load_line, &o, err);
            if (g < 0)
                goto fail;
            good += g;
            break;
        }
        size_t scanned = have;
        have += got;
        const char *nl = memrchr(buf + scanned, '\n', have - scanned);
        if (nl == NULL)
            continue;
        size_t whole = (size_t)(nl - buf) + 1;     /* complete lines */
        long g = pf_collapsed_parse_from_(buf, whole, &lineno, load_line, &o, err);
        if (g < 0)
            goto fail;
        good = good > LONG_MAX - g ? LONG_MAX : good + g;
        memmove(buf, buf + whole, have - whole);
        have -= whole;
    }
    pf_free(buf);
    return load_end(f, good, err);
oom:
    pf_error_set(err, PF_ENOMEM, NULL);
fail:
    pf_free(buf);
    pf_flame_free(f);
    return NULL;
}

/* ---- from a trace -------------------------------------------------------------------- */

struct trace_build {
    pf_flame *f;
    const pf_trace *t;
    int full_paths;
    struct pf_bstr *qual, *path;    /* per code, filled lazily */
    unsigned char *have_parts;   /* per code: 0 unknown, 1 python, 2 native */
    uint32_t *fn_name;           /* per code: function-granularity name id, or PF_NONE */
    char *scratch;
    size_t scratch_cap;
};

/* Name id of (code, line) in the flame; PF_NONE when out of memory. */
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
    return name_intern(b->f, b->scratch, need);
}

/* A string with its index, so qsort comparators need no outside context. */
struct sort_key {
    const char *p;
    size_t n;
    uint32_t id;
    int special;                     /* cmp_keys_written: bytes that print differently */
};

static int cmp_keys_raw(const void *a, const void *b)
{
    const struct sort_key *x = a, *y = b;
    int c = memcmp(x->p, y->p, x->n < y->n ? x->n : y->n);
    if (c)
        return c;
    if (x->n != y->n)
        return x->n < y->n ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* Creates the per-thread frames under the root: the thread's name, or "name [ident]"
 * when several threads share a name.  Fills tnode[thread]. */
static int add_threads(struct trace_build *b, uint32_t *tnode, pf_error *err)
{
    const pf_trace *t = b->t;
    uint32_t nt = t->nthreads;
    struct pf_bstr *names = pf_calloc(nt, sizeof *names);
    struct sort_key *order = pf_calloc(nt, sizeof *order);
    unsigned char *dup = pf_calloc(nt, 1);
    int rc = -1;
    if (!names || !order || !dup) {
        pf_error_set(err, PF_ENOMEM, NULL);
        goto done;
    }
    for (uint32_t i = 0; i < nt; i++) {
        names[i] = pf_trace_bstr_(t, t->threads[i].name);
        order[i] = (struct sort_key){ names[i].p, names[i].n, i, 0 };
    }
    /* Sorted, equal names are neighbours: O(n log n) even with thousands of threads. */
    qsort(order, nt, sizeof *order, cmp_keys_raw);
    for (uint32_t i = 1; i < nt; i++) {
        const struct sort_key *x = &order[i - 1], *y = &order[i];
        if (x->n == y->n && memcmp(x->p, y->p, x->n) == 0)
            dup[x->id] = dup[y->id] = 1;
    }
    for (uint32_t i = 0; i < nt; i++) {
        char label[64];
        const char *p = names[i].p;
        size_t n = names[i].n;
        char *heap = NULL;
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
        uint32_t nm = name_intern(b->f, p, n);
        pf_free(heap);
        tnode[i] = nm == PF_NONE ? PF_NONE : child_get(b->f, 0, nm);
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
    return rc;
}

static double metric_value(enum pf_metric m, const pf_node *n)
{
    switch (m) {
    case PF_METRIC_CALLS:       return (double)n->calls;
    case PF_METRIC_ALLOC_BYTES: return (double)n->mem.alloc_bytes;
    case PF_METRIC_ALLOC_COUNT: return (double)n->mem.alloc_count;
    case PF_METRIC_PEAK_BYTES:  return (double)n->mem.peak_bytes;
    case PF_METRIC_EXIT_BYTES:  return (double)n->mem.exit_bytes;
    default:                    return 0;  /* SELF_TIME: from self_ns at the end */
    }
}

pf_flame *pf_flame_from_trace(const pf_trace *t, const pf_frame_opts *opts, pf_error *err)
{
    pf_frame_opts o = { PF_METRIC_SELF_TIME, PF_GRAN_FUNCTION, 0, 0 };
    struct trace_build b;
    uint32_t *tnode = NULL, *map = NULL;
    memset(&b, 0, sizeof b);
    if (opts)
        o = *opts;
    if (!(o.time_unit_ns > 0))
        o.time_unit_ns = 1000;
    if (t == NULL) {
        pf_error_set(err, PF_EUSAGE, "no trace");
        return NULL;
    }
    if ((unsigned)o.metric > PF_METRIC_EXIT_BYTES ||
        (unsigned)o.granularity > PF_GRAN_LINE) {
        pf_error_set(err, PF_EUSAGE, "unknown metric or granularity");
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
    b.f = pf_flame_new();
    tnode = pf_calloc(t->nthreads, sizeof *tnode);
    map = pf_calloc(t->nnodes, sizeof *map);
    b.qual = pf_calloc(t->ncodes, sizeof *b.qual);
    b.path = pf_calloc(t->ncodes, sizeof *b.path);
    b.have_parts = pf_calloc(t->ncodes, 1);
    b.fn_name = pf_calloc(t->ncodes, sizeof *b.fn_name);
    b.scratch_cap = 256;
    b.scratch = pf_malloc(b.scratch_cap);
    if (!b.f || !tnode || !map || !b.qual || !b.path || !b.have_parts || !b.fn_name ||
        !b.scratch)
        goto oom;
    pf_flame *f = b.f;
    f->from_trace = 1;
    reserve_hint(f, (uint64_t)t->nnodes * (o.granularity == PF_GRAN_LINE ? 2 : 1) +
                    t->nthreads + 1);
    f->priv->links_valid = 0;
    f->priv->last_child_valid = 0;
    for (uint32_t i = 0; i < t->ncodes; i++)
        b.fn_name[i] = PF_NONE;
    if (add_threads(&b, tnode, err) < 0)
        goto fail;

    /* map[i]: function granularity: the flame node of trace node i.  Line granularity:
     * the flame node its frames hang under (its parent's frame named after the line
     * that called it), see flame.h. */
    for (uint32_t i = 0; i < t->nnodes; i++) {
        const pf_node *nd = &t->nodes[i];
        if (nd->thread >= t->nthreads || nd->code >= t->ncodes ||
            (nd->parent != PF_NONE && nd->parent >= i)) {
            pf_error_set(err, PF_ECORRUPT, "bad reference in call record %u", i);
            goto fail;
        }
        uint32_t under = nd->parent == PF_NONE ? tnode[nd->thread] : map[nd->parent];
        const pf_code *c = &t->codes[nd->code];
        double v = metric_value(o.metric, nd);
        uint32_t nm, fn;
        /* The function's own frame name, "qual (path:first_line)", depends only on the
         * code: compose it once per code. */
        nm = b.fn_name[nd->code];
        if (nm == PF_NONE) {
            nm = frame_name_id(&b, nd->code, c->first_line);
            if (nm == PF_NONE)
                goto oom;
            b.fn_name[nd->code] = nm;
        }
        if (o.granularity == PF_GRAN_FUNCTION) {
            if ((fn = child_get(f, under, nm)) == PF_NONE)
                goto oom;
            map[i] = fn;
        } else {
            if (nd->parent != PF_NONE) {
                /* The caller's frame at the line of this call. */
                const pf_node *pn = &t->nodes[nd->parent];
                uint32_t line = nd->call_line ? nd->call_line
                                              : t->codes[pn->code].first_line;
                uint32_t cn = frame_name_id(&b, pn->code, line);
                if (cn == PF_NONE || (under = child_get(f, under, cn)) == PF_NONE)
                    goto oom;
                pf_flame_node *cf = &f->nodes[under];
                cf->code = pn->code;
                cf->line = t->codes[pn->code].kind == PF_CODE_NATIVE ? 0 : line;
                cf->calls += nd->calls;
                cf->total_ns += nd->total_ns;
            }
            map[i] = under;
            /* The function's own frame, at its first line, holds its self value. */
            if ((fn = child_get(f, under, nm)) == PF_NONE)
                goto oom;
        }
        pf_flame_node *fl = &f->nodes[fn];
        fl->code = nd->code;
        fl->line = c->kind == PF_CODE_NATIVE ? 0 : c->first_line;
        fl->calls += nd->calls;
        fl->self_ns += nd->self_ns;
        fl->total_ns += o.granularity == PF_GRAN_FUNCTION ? nd->total_ns : nd->self_ns;
        fl->self += v;
    }
    /* Thread frames: calls = top-level calls, times = sums of their children. */
    for (uint32_t i = 0; i < t->nnodes; i++) {
        const pf_node *nd = &t->nodes[i];
        if (nd->parent == PF_NONE) {
            f->nodes[tnode[nd->thread]].calls += nd->calls;
            f->nodes[tnode[nd->thread]].total_ns += nd->total_ns;
        }
    }
    if (o.metric == PF_METRIC_SELF_TIME)
        for (uint32_t i = 0; i < f->nnodes; i++)
            f->nodes[i].self = (double)f->nodes[i].self_ns / o.time_unit_ns;
    finish(f);
    for (uint32_t i = 1; i < f->nnodes; i++)
        if (f->nodes[i].parent == 0)
            f->nodes[0].total_ns += f->nodes[i].total_ns;
    goto done;
oom:
    pf_error_set(err, PF_ENOMEM, NULL);
fail:
    pf_flame_free(b.f);
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

/* ---- ordering and the collapsed writer ---------------------------------------------- */

/* The byte a frame byte becomes in collapsed output (see put_frame). */
static inline unsigned char out_byte(unsigned char c)
{
    return c == ';' ? ',' : (c == '\n' || c == '\r') ? '?' : c;
}

/* Orders names by their bytes as written, so the output is sorted as it reads. */
static int cmp_keys_written(const void *a, const void *b)
{
    const struct sort_key *x = a, *y = b;
    size_t n = x->n < y->n ? x->n : y->n;
    if (!x->special && !y->special) {
        int c = memcmp(x->p, y->p, n);
        if (c)
            return c;
    } else {
        const unsigned char *p = (const unsigned char *)x->p, *q = (const unsigned char *)y->p;
        for (size_t i = 0; i < n; i++) {
            unsigned char c = out_byte(p[i]), d = out_byte(q[i]);
            if (c != d)
                return c < d ? -1 : 1;
        }
    }
    if (x->n != y->n)
        return x->n < y->n ? -1 : 1;
    /* Equal as written (say "a\r" and "a?"): keep a fixed order. */
    return x->id < y->id ? -1 : x->id > y->id;
}

/* Children of every node sorted by name bytes, as CSR: the children of node n are
 * kids[start[n] .. start[n+1]).  Two counting sorts (by name rank, then stably by
 * parent) instead of a comparison sort of all nodes.  Caller frees both. */
static int sorted_children(const pf_flame *f, uint32_t **pstart, uint32_t **pkids)
{
    const struct pf_flame_private *pv = f->priv;
    uint32_t nn = pv->nnames, n = f->nnodes;
    struct sort_key *ids = pf_malloc((size_t)nn * sizeof *ids);
    uint32_t *rank = pf_malloc((size_t)nn * sizeof *rank);
    uint32_t *cnt = pf_calloc((size_t)nn + 1, sizeof *cnt);
    uint32_t *byrank = pf_malloc((size_t)n * sizeof *byrank);
    uint32_t *start = pf_calloc((size_t)n + 1, sizeof *start);
    uint32_t *kids = pf_malloc((size_t)n * sizeof *kids);
    if (!ids || !rank || !cnt || !byrank || !start || !kids)
        goto fail;
    for (uint32_t i = 0; i < nn; i++)
        ids[i] = (struct sort_key){ pv->ninfo[i].ptr, pv->ninfo[i].len, i, pv->ninfo[i].special };
    qsort(ids, nn, sizeof *ids, cmp_keys_written);
    for (uint32_t i = 0; i < nn; i++)
        rank[ids[i].id] = i;
    for (uint32_t i = 1; i < n; i++)
        cnt[rank[f->nodes[i].name] + 1]++;
    for (uint32_t r = 0; r < nn; r++)
        cnt[r + 1] += cnt[r];
    for (uint32_t i = 1; i < n; i++)
        byrank[cnt[rank[f->nodes[i].name]]++] = i;
    for (uint32_t i = 1; i < n; i++)
        start[f->nodes[i].parent + 1]++;
    for (uint32_t i = 0; i < n; i++)
        start[i + 1] += start[i];
    /* cnt is reused as the fill position per parent. */
    pf_free(cnt);
    cnt = pf_malloc((size_t)n * sizeof *cnt);
    if (cnt == NULL)
        goto fail;
    memcpy(cnt, start, (size_t)n * sizeof *cnt);
    for (uint32_t k = 0; k + 1 < n; k++) {
        uint32_t i = byrank[k];
        kids[cnt[f->nodes[i].parent]++] = i;
    }
    pf_free(ids);
    pf_free(rank);
    pf_free(cnt);
    pf_free(byrank);
    *pstart = start;
    *pkids = kids;
    return 0;
fail:
    pf_free(ids);
    pf_free(rank);
    pf_free(cnt);
    pf_free(byrank);
    pf_free(start);
    pf_free(kids);
    return -1;
}

int pf_flame_sort(pf_flame *f, pf_error *err)
{
    uint32_t *start, *kids;
    if (sorted_children(f, &start, &kids) < 0)
        return pf_error_set(err, PF_ENOMEM, NULL);
    for (uint32_t p = 0; p < f->nnodes; p++) {
        uint32_t a = start[p], e = start[p + 1];
        f->nodes[p].first_child = a < e ? kids[a] : PF_NONE;
        for (uint32_t k = a; k < e; k++)
            f->nodes[kids[k]].next_sibling = k + 1 < e ? kids[k + 1] : PF_NONE;
    }
    f->priv->last_child_valid = 0;
    f->priv->links_valid = 1;
    pf_free(start);
    pf_free(kids);
    return 0;
}

/* Copies a frame name into the path, replacing the bytes that would break the line
 * format: ';' (frame separator) becomes ',', and '\n' / '\r' become '?' (not a blank:
 * a new blank could turn the end of the last frame into a count when read back).
 * Names are flagged when interned, so the common case is a plain memcpy. */
static void put_frame(char *dst, const struct name_info *ni)
{
    memcpy(dst, ni->ptr, ni->len);
    if (ni->special)
        for (size_t i = 0; i < ni->len; i++)
            dst[i] = (char)out_byte((unsigned char)dst[i]);
}

/* Carry rounding: the running sum of exact values, compensated (Kahan) so a million
 * fractional lines do not drift, and the rounded sum printed so far.  Each line
 * prints round(sum after it) - round(sum before it). */
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

int pf_flame_write_collapsed(const pf_flame *f, FILE *out, pf_error *err)
{
    return pf_flame_write_collapsed_counts(f, out, PF_COUNTS_AUTO, err);
}

/* What the writer needs of a node, gathered in output order (see below). */
struct wrec {
    uint32_t name;
    uint32_t first, end;             /* its children: wrec[first .. end) */
    double self, self2;
};

int pf_flame_write_collapsed_counts(const pf_flame *f, FILE *out, enum pf_counts mode,
                                    pf_error *err)
{
    const struct pf_flame_private *pv = f->priv;
    int integer = mode == PF_COUNTS_INTEGER || (mode == PF_COUNTS_AUTO && f->from_trace);
    struct carry c1 = { 0, 0, 0 }, c2 = { 0, 0, 0 };
    uint32_t *start = NULL, *kids = NULL;
    struct wrec *rec = NULL;
    /* Per depth of the walk: the next and the end position in rec[], and the path
     * length before that depth's frame. */
    uint32_t *pos = NULL, *endp = NULL;
    size_t *plen = NULL;
    char *path = NULL;
    size_t path_cap = 4096, depth_cap = 64, depth = 0;
    int rc = -1;
    uint32_t n = f->nnodes;
    if (sorted_children(f, &start, &kids) < 0)
        goto oom;
    /* Gather pass: the walk jumps around the node array (children are in name order,
     * not index order), paying a few dependent cache misses per node.  Copying what it
     * needs into rec[], indexed by position in the sorted child lists, costs the
     * same loads but independent ones the CPU overlaps; the walk then reads rec[]
     * almost sequentially (siblings are adjacent). */
    rec = pf_malloc((size_t)(n > 1 ? n - 1 : 1) * sizeof *rec);
    if (rec == NULL)
        goto oom;
    for (uint32_t k = 0; k + 1 < n; k++) {
        uint32_t c = kids[k];
        const pf_flame_node *nd = &f->nodes[c];
        rec[k].name = nd->name;
        rec[k].first = start[c];
        rec[k].end = start[c + 1];
        rec[k].self = nd->self;
        rec[k].self2 = f->has_count2 ? nd->self2 : 0;
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
#if defined(__GNUC__)
        /* The next record visited is the first child or the next sibling. */
        if (r->first < r->end)
            __builtin_prefetch(&pv->ninfo[rec[r->first].name]);
        if (pos[depth] < endp[depth])
            __builtin_prefetch(&pv->ninfo[rec[pos[depth]].name]);
#endif
        const struct name_info *ni = &pv->ninfo[r->name];
        size_t base = plen[depth] + (depth ? 1 : 0);
        size_t need = base + ni->len + 2 * PF_COUNT_BUFSZ + 4;
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
        put_frame(path + base, ni);
        size_t len = base + ni->len;
        double v = r->self, v2 = r->self2;
        if (integer && (v != 0 || v2 != 0)) {
            v = carry_next(&c1, v);
            v2 = carry_next(&c2, v2);
        }
        if (v != 0 || v2 != 0) {
            size_t k = len;
            path[k++] = ' ';
            k += pf_collapsed_format_count_(v, path + k);
            if (f->has_count2) {
                path[k++] = ' ';
                k += pf_collapsed_format_count_(v2, path + k);
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
            uint32_t *a = pf_reallocarray(pos, nc, sizeof *a);
            if (a == NULL)
                goto oom;
            pos = a;
            a = pf_reallocarray(endp, nc, sizeof *a);
            if (a == NULL)
                goto oom;
            endp = a;
            size_t *b = pf_reallocarray(plen, nc, sizeof *b);
            if (b == NULL)
                goto oom;
            plen = b;
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
    rc = 0;
    goto done;
oom:
    pf_error_set(err, PF_ENOMEM, NULL);
done:
    pf_free(start);
    pf_free(kids);
    pf_free(rec);
    pf_free(pos);
    pf_free(endp);
    pf_free(plen);
    pf_free(path);
    return rc;
}
