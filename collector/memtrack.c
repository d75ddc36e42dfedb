/* memtrack.c: live-block table, per-site counters and exact peak attribution for
 * `collect --memory`.  Plain C; the caller serialises calls (see memtrack.h).
 *
 * ---- Peak attribution: the epoch invariant -------------------------------------------
 * Goal: for every site, its live bytes at the moment the global live total reached its
 * maximum (the LATEST such moment if a later allocation sets a higher maximum), in O(1)
 * per event and without an event log.
 *
 *   mt->live   global live bytes;  mt->peak  the largest value mt->live has had;
 *   mt->epoch  number of times mt->peak was raised.  "The peak moment" is the instant
 *              of the last raise, i.e. the end of epoch mt->epoch's first event.
 *   site s:    s->live (live bytes now), s->saved, s->stamp.
 *
 * Invariant (holds between events):
 *   if s->stamp == mt->epoch:  s changed after the peak moment, and s->saved is its live
 *                              value at the peak moment;
 *   if s->stamp <  mt->epoch:  s has not changed since the peak moment, so its live value
 *                              at the peak moment is s->live.
 * Hence value_at_peak(s) = (s->stamp == mt->epoch) ? s->saved : s->live.
 *
 * Event on site s with delta d (alloc +size, free -size):
 *   1. touch: if s->stamp != mt->epoch, then s is unchanged since the peak moment, so
 *      s->live IS its peak value: s->saved = s->live, s->stamp = mt->epoch.  (Skipped when
 *      the stamp is current: saved already holds the value at the peak moment.)
 *   2. apply: s->live += d; mt->live += d.
 *   3. if mt->live > mt->peak: this event (applied) is the new peak moment.  mt->peak =
 *      mt->live, mt->epoch++.  Now every stamp, s's included, is < mt->epoch, so every
 *      site's value at the peak moment is its current live value -- right, because the peak
 *      is the state just after this event.  No site needs visiting.
 * A peak that is only equalled later does not move (strict >), as in tracemalloc.
 * New sites start with stamp = mt->epoch and saved = 0: at the peak moment they had
 * nothing live.  Epochs are 64-bit, so they never wrap.
 * The per-node and per-line values at the peak are sums of site values (every block
 * belongs to exactly one site), so they are exact too.
 *
 * ---- The live-block table ---------------------------------------------------------------
 * Maps each live block's address to its size and site, so that a free is credited to the
 * site that allocated it.  Open addressing with linear probing, split into 16 segments by
 * a hash of the address; each segment has a power-of-two capacity, is at most 3/4 full and
 * grows on its own, so a growth briefly holds 1/16 of the table twice, not all of it.
 * Deletion shifts the rest of the cluster back (no tombstones: long alloc/free runs never
 * degrade lookups).  An entry is 16 bytes: the address, the size in 32 bits and the site
 * id; the rare block of 4 GiB or more keeps UINT32_MAX there and its exact size in a small
 * side list.  At loads between 3/8 and 3/4 that is 21-43 bytes per live block, about 30
 * on average (tracemalloc with one frame: about 97, measured by bench/bench_memory.sh).
 *
 * ---- Sites ------------------------------------------------------------------------------
 * (node, line, kind) triples are interned into dense site ids through a small hash index,
 * with a one-entry cache per kind in front: consecutive allocations nearly always come from
 * the same site, and a Python allocation and a native one often alternate (an object and
 * its data buffer).  The kind is part of the key so that the native share of any sum over
 * sites (the peak above all) is exact: it is the same sum over the native sites.
 *
 * ---- Mapped ranges ----------------------------------------------------------------------
 * Anonymous mmaps can be unmapped in part (a head, a tail, or a hole that splits them), so
 * they are not keyed by their start address like blocks but kept in a sorted array of
 * disjoint [start, end) ranges, each with its site.  An unmap walks the ranges it overlaps
 * (binary search for the first) and credits the bytes it removes to each range's site; a
 * hole splits a range in two, the tail keeping the site (and not counting as a new
 * allocation).  A map over ranges still recorded (MAP_FIXED, or a range whose unmap was
 * not seen) first removes the overlap the same way.  mmaps are rare (large buffers), so
 * the O(n) insertion is cheap; the array costs 24 bytes a mapping.
 */
#include "collector/memtrack.h"

#include <stdlib.h>
#include <string.h>

/* Tests #define MT_CALLOC/MT_REALLOC/MT_FREE before including this file to inject
 * failures and count blocks. */
#ifndef MT_CALLOC
#define MT_CALLOC calloc
#define MT_REALLOC realloc
#define MT_FREE free
#endif

#define BIG_SIZE UINT32_MAX          /* entry.size value meaning "see the big list" */
#define SEG_BITS 4                   /* 16 segments */
#define SEGMENTS (1u << SEG_BITS)
#define TABLE_MIN_BITS 10            /* per segment; must be > 8 (see hash_slot) */
#define SITES_MIN 64

struct entry {
    uintptr_t ptr;                   /* 0 = empty slot; NULL is never tracked */
    uint32_t size;                   /* bytes, or BIG_SIZE */
    uint32_t site;
};

struct big {
    uintptr_t ptr;
    uint64_t size;
};

/* One live anonymous mapping (or what is left of one), [start, end). */
struct range {
    uintptr_t start, end;
    uint32_t site;
};

struct site {
    uint32_t node, line;
    uint32_t kind;                   /* enum pf_mem_kind */
    uint64_t alloc_bytes, alloc_count, free_bytes;
    uint64_t live;
    uint64_t saved;                  /* live at the peak moment, valid when stamp == epoch */
    uint64_t stamp;
};

/* One of the SEGMENTS independent open-addressing tables. */
struct segment {
    struct entry *tab;               /* capacity 1 << bits */
    unsigned bits;
    size_t count;                    /* live entries in this segment */
};

struct pf_memtrack {
    struct segment seg[SEGMENTS];
    size_t count;                    /* live entries, all segments */
    size_t peak_count;               /* the most live entries at any time */

    struct big *bigs;                /* blocks >= 4 GiB, unordered */
    size_t nbigs, cap_bigs;

    struct range *ranges;            /* sorted by start, disjoint */
    size_t nranges, cap_ranges;

    struct site *sites;
    uint32_t nsites, cap_sites;
    uint32_t *site_index;            /* hash (node, line, kind) -> site id + 1; 0 = empty */
    unsigned site_bits;
    struct {                         /* one-entry cache per kind: sites come in runs */
        uint32_t node, line, site;
    } last[PF_MEM_KINDS];

    uint64_t live, peak, epoch;
    uint64_t unknown_frees;
    size_t profiler_bytes, profiler_peak;
    int oom;
};

/* ---- profiler memory accounting ---- */

static void own_add(pf_memtrack *mt, size_t n)
{
    mt->profiler_bytes += n;
    if (mt->profiler_bytes > mt->profiler_peak)
        mt->profiler_peak = mt->profiler_bytes;
}

static void own_sub(pf_memtrack *mt, size_t n)
{
    mt->profiler_bytes -= n;
}

/* ---- hashing ---- */

/* Where address p lives: its segment (the top SEG_BITS of a Fibonacci hash of its 4 KiB
 * page) and its home slot in that segment.  The 256 16-byte granules of one page map to
 * 256 consecutive slots, pages are scattered.  Allocators hand out neighbouring addresses
 * in sequence (pymalloc carves pools into consecutive blocks), so consecutive events touch
 * the same few cache lines of the table instead of one random line each: on allocation-
 * heavy programs this roughly halves the hook's cost, which is dominated by cache and TLB
 * misses.  Requires bits > 8. */
static inline unsigned hash_seg(uintptr_t p)
{
    return (unsigned)(((uint64_t)(p >> 12) * UINT64_C(0x9E3779B97F4A7C15)) >> (64 - SEG_BITS));
}

static inline size_t hash_slot(uintptr_t p, unsigned bits)
{
    uint64_t h = ((uint64_t)(p >> 12) * UINT64_C(0x9E3779B97F4A7C15)) << SEG_BITS;
    return ((size_t)(h >> (64 - (bits - 8))) << 8) | ((size_t)(p >> 4) & 255);
}

static inline size_t hash_site_kind(uint32_t node, uint32_t line, uint32_t kind, unsigned bits)
{
    uint64_t k = (((uint64_t)node << 32) | line) ^ ((uint64_t)kind << 61);
    k ^= k >> 29;
    return (size_t)((k * UINT64_C(0xBF58476D1CE4E5B9)) >> (64 - bits));
}

static inline size_t hash_site(uint32_t node, uint32_t line, unsigned bits)
{
    return hash_site_kind(node, line, 0, bits);
}

/* ---- construction ---- */

pf_memtrack *pf_memtrack_new(void)
{
    pf_memtrack *mt = MT_CALLOC(1, sizeof *mt);
    if (!mt)
        return NULL;
    for (unsigned i = 0; i < SEGMENTS; i++) {
        mt->seg[i].bits = TABLE_MIN_BITS;
        mt->seg[i].tab = MT_CALLOC((size_t)1 << TABLE_MIN_BITS, sizeof *mt->seg[i].tab);
        if (!mt->seg[i].tab)
            goto fail;
    }
    mt->site_bits = 7;
    mt->site_index = MT_CALLOC((size_t)1 << mt->site_bits, sizeof *mt->site_index);
    mt->cap_sites = SITES_MIN;
    mt->sites = MT_CALLOC(mt->cap_sites, sizeof *mt->sites);
    if (!mt->site_index || !mt->sites)
        goto fail;
    own_add(mt, sizeof *mt + SEGMENTS * ((size_t)1 << TABLE_MIN_BITS) * sizeof(struct entry)
                + ((size_t)1 << mt->site_bits) * sizeof *mt->site_index
                + mt->cap_sites * sizeof *mt->sites);
    for (unsigned k = 0; k < PF_MEM_KINDS; k++)
        mt->last[k].site = PF_MEM_NONE;
    return mt;
fail:
    pf_memtrack_free(mt);
    return NULL;
}

void pf_memtrack_free(pf_memtrack *mt)
{
    if (!mt)
        return;
    for (unsigned i = 0; i < SEGMENTS; i++)
        MT_FREE(mt->seg[i].tab);
    MT_FREE(mt->bigs);
    MT_FREE(mt->ranges);
    MT_FREE(mt->sites);
    MT_FREE(mt->site_index);
    MT_FREE(mt);
}

/* ---- sites ---- */

static int site_index_grow(pf_memtrack *mt)
{
    unsigned bits = mt->site_bits + 1;
    size_t cap = (size_t)1 << bits;
    uint32_t *idx = MT_CALLOC(cap, sizeof *idx);
    if (!idx)
        return -1;
    for (uint32_t i = 0; i < mt->nsites; i++) {
        size_t h = hash_site_kind(mt->sites[i].node, mt->sites[i].line, mt->sites[i].kind, bits);
        while (idx[h])
            h = (h + 1) & (cap - 1);
        idx[h] = i + 1;
    }
    own_add(mt, cap * sizeof *idx);
    own_sub(mt, ((size_t)1 << mt->site_bits) * sizeof *idx);
    MT_FREE(mt->site_index);
    mt->site_index = idx;
    mt->site_bits = bits;
    return 0;
}

/* The id of site (node, line, kind), created on first use; PF_MEM_NONE when out of
 * memory.  kind < PF_MEM_KINDS. */
static uint32_t site_get(pf_memtrack *mt, uint32_t node, uint32_t line, uint32_t kind)
{
    if (mt->last[kind].site != PF_MEM_NONE && node == mt->last[kind].node
        && line == mt->last[kind].line)
        return mt->last[kind].site;
    size_t mask = ((size_t)1 << mt->site_bits) - 1;
    size_t h = hash_site_kind(node, line, kind, mt->site_bits);
    uint32_t id;
    for (;;) {
        uint32_t v = mt->site_index[h];
        if (v == 0)
            break;
        const struct site *c = &mt->sites[v - 1];
        if (c->node == node && c->line == line && c->kind == kind) {
            id = v - 1;
            goto found;
        }
        h = (h + 1) & mask;
    }
    /* Not found: append.  Keep the index at most half full. */
    if (mt->nsites >= UINT32_MAX - 1)
        return PF_MEM_NONE;
    if (mt->nsites == mt->cap_sites) {
        uint32_t cap = mt->cap_sites * 2;
        struct site *s = MT_REALLOC(mt->sites, (size_t)cap * sizeof *s);
        if (!s)
            return PF_MEM_NONE;
        own_add(mt, (size_t)(cap - mt->cap_sites) * sizeof *s);
        mt->sites = s;
        mt->cap_sites = cap;
    }
    if ((size_t)(mt->nsites + 1) * 2 > mask + 1) {
        if (site_index_grow(mt) < 0)
            return PF_MEM_NONE;
        mask = ((size_t)1 << mt->site_bits) - 1;
        h = hash_site_kind(node, line, kind, mt->site_bits);
        while (mt->site_index[h])
            h = (h + 1) & mask;
    }
    id = mt->nsites++;
    struct site *s = &mt->sites[id];
    memset(s, 0, sizeof *s);
    s->node = node;
    s->line = line;
    s->kind = kind;
    s->stamp = mt->epoch;            /* nothing live at the peak moment: saved = 0 */
    mt->site_index[h] = id + 1;
found:
    mt->last[kind].node = node;
    mt->last[kind].line = line;
    mt->last[kind].site = id;
    return id;
}

/* ---- the epoch machinery (see the block comment at the top) ---- */

static inline void site_touch(const pf_memtrack *mt, struct site *s)
{
    if (s->stamp != mt->epoch) {
        s->saved = s->live;
        s->stamp = mt->epoch;
    }
}

static inline void account_alloc(pf_memtrack *mt, uint32_t id, uint64_t size)
{
    struct site *s = &mt->sites[id];
    site_touch(mt, s);
    s->live += size;
    s->alloc_bytes += size;
    s->alloc_count++;
    mt->live += size;
    if (mt->live > mt->peak) {
        mt->peak = mt->live;
        mt->epoch++;
    }
}

static inline void account_free(pf_memtrack *mt, uint32_t id, uint64_t size)
{
    struct site *s = &mt->sites[id];
    site_touch(mt, s);
    s->live -= size;
    s->free_bytes += size;
    mt->live -= size;
}

static uint64_t site_at_peak(const pf_memtrack *mt, const struct site *s)
{
    return s->stamp == mt->epoch ? s->saved : s->live;
}

/* ---- big blocks (>= 4 GiB) ---- */

static int big_add(pf_memtrack *mt, uintptr_t p, uint64_t size)
{
    if (mt->nbigs == mt->cap_bigs) {
        size_t cap = mt->cap_bigs ? mt->cap_bigs * 2 : 8;
        struct big *b = MT_REALLOC(mt->bigs, cap * sizeof *b);
        if (!b)
            return -1;
        own_add(mt, (cap - mt->cap_bigs) * sizeof *b);
        mt->bigs = b;
        mt->cap_bigs = cap;
    }
    mt->bigs[mt->nbigs].ptr = p;
    mt->bigs[mt->nbigs].size = size;
    mt->nbigs++;
    return 0;
}

/* Removes p's big record and returns its size (0 if absent, which cannot happen for an
 * entry marked BIG_SIZE unless memory was corrupted). */
static uint64_t big_take(pf_memtrack *mt, uintptr_t p)
{
    for (size_t i = 0; i < mt->nbigs; i++) {
        if (mt->bigs[i].ptr == p) {
            uint64_t size = mt->bigs[i].size;
            mt->bigs[i] = mt->bigs[--mt->nbigs];
            return size;
        }
    }
    return 0;
}

/* ---- the live-block table ---- */

/* Doubles one segment.  Growing segments one at a time keeps the transient (old and new
 * arrays both allocated) to 1/SEGMENTS of the table instead of half of it. */
static int table_grow(pf_memtrack *mt, struct segment *sg)
{
    unsigned bits = sg->bits + 1;
    size_t cap = (size_t)1 << bits, oldcap = (size_t)1 << sg->bits;
    struct entry *t = MT_CALLOC(cap, sizeof *t);
    if (!t)
        return -1;
    own_add(mt, cap * sizeof *t);
    for (size_t i = 0; i < oldcap; i++) {
        const struct entry *e = &sg->tab[i];
        if (!e->ptr)
            continue;
        size_t h = hash_slot(e->ptr, bits);
        while (t[h].ptr)
            h = (h + 1) & (cap - 1);
        t[h] = *e;
    }
    MT_FREE(sg->tab);
    own_sub(mt, oldcap * sizeof *t);
    sg->tab = t;
    sg->bits = bits;
    return 0;
}

/* Slot index in sg holding p, or of the empty slot ending its probe sequence. */
static inline size_t table_find(const struct segment *sg, uintptr_t p)
{
    size_t mask = ((size_t)1 << sg->bits) - 1;
    size_t h = hash_slot(p, sg->bits);
    while (sg->tab[h].ptr && sg->tab[h].ptr != p)
        h = (h + 1) & mask;
    return h;
}

/* Empties slot i and shifts the rest of its cluster back so that every entry stays
 * reachable from its home slot without passing an empty slot. */
static void table_delete_at(pf_memtrack *mt, struct segment *sg, size_t i)
{
    size_t mask = ((size_t)1 << sg->bits) - 1;
    size_t j = i;
    for (;;) {
        j = (j + 1) & mask;
        if (!sg->tab[j].ptr)
            break;
        size_t home = hash_slot(sg->tab[j].ptr, sg->bits);
        /* Entry j may move to the hole i iff its home is not in (i, j] cyclically. */
        int home_between = (i <= j) ? (home > i && home <= j) : (home > i || home <= j);
        if (!home_between) {
            sg->tab[i] = sg->tab[j];
            i = j;
        }
    }
    sg->tab[i].ptr = 0;
    sg->count--;
    mt->count--;
}

/* Removes p's entry into *b; 1 if it was there. */
static int table_take(pf_memtrack *mt, uintptr_t p, pf_memtrack_block *b)
{
    struct segment *sg = &mt->seg[hash_seg(p)];
    size_t i = table_find(sg, p);
    if (!sg->tab[i].ptr)
        return 0;
    b->ptr = p;
    b->site = sg->tab[i].site;
    b->size = sg->tab[i].size;
    if (sg->tab[i].size == BIG_SIZE)
        b->size = big_take(mt, p);
    table_delete_at(mt, sg, i);
    return 1;
}

/* Inserts an entry known to be absent.  0, or -1 when out of memory (nothing changed).
 * A segment is kept at most 3/4 full. */
static int table_insert(pf_memtrack *mt, uintptr_t p, uint64_t size, uint32_t site)
{
    struct segment *sg = &mt->seg[hash_seg(p)];
    if ((sg->count + 1) * 4 > ((size_t)3 << sg->bits) && table_grow(mt, sg) < 0)
        return -1;
    if (size >= BIG_SIZE && big_add(mt, p, size) < 0)
        return -1;
    size_t i = table_find(sg, p);
    sg->tab[i].ptr = p;
    sg->tab[i].size = size >= BIG_SIZE ? BIG_SIZE : (uint32_t)size;
    sg->tab[i].site = site;
    sg->count++;
    if (++mt->count > mt->peak_count)
        mt->peak_count = mt->count;
    return 0;
}

/* ---- mapped ranges (see the block comment at the top) ---- */

/* Index of the first range whose end is above a (nranges if none). */
static size_t range_first(const pf_memtrack *mt, uintptr_t a)
{
    size_t lo = 0, hi = mt->nranges;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (mt->ranges[mid].end <= a)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Makes room for one more range.  0, or -1 when out of memory. */
static int range_reserve(pf_memtrack *mt)
{
    if (mt->nranges < mt->cap_ranges)
        return 0;
    size_t cap = mt->cap_ranges ? mt->cap_ranges * 2 : 16;
    struct range *r = MT_REALLOC(mt->ranges, cap * sizeof *r);
    if (!r)
        return -1;
    own_add(mt, (cap - mt->cap_ranges) * sizeof *r);
    mt->ranges = r;
    mt->cap_ranges = cap;
    return 0;
}

static void range_insert_at(pf_memtrack *mt, size_t i, uintptr_t start, uintptr_t end,
                            uint32_t site)
{
    memmove(&mt->ranges[i + 1], &mt->ranges[i], (mt->nranges - i) * sizeof *mt->ranges);
    mt->ranges[i].start = start;
    mt->ranges[i].end = end;
    mt->ranges[i].site = site;
    mt->nranges++;
    if (++mt->count > mt->peak_count)
        mt->peak_count = mt->count;
}

static void range_delete_at(pf_memtrack *mt, size_t i)
{
    memmove(&mt->ranges[i], &mt->ranges[i + 1], (mt->nranges - i - 1) * sizeof *mt->ranges);
    mt->nranges--;
    mt->count--;
}

/* Removes [a, b) from the recorded ranges, crediting each range's site with the bytes
 * removed.  Returns the bytes removed. */
static uint64_t ranges_cut(pf_memtrack *mt, uintptr_t a, uintptr_t b)
{
    uint64_t removed = 0;
    size_t i = range_first(mt, a);
    while (i < mt->nranges && mt->ranges[i].start < b) {
        struct range *r = &mt->ranges[i];
        uintptr_t lo = r->start > a ? r->start : a, hi = r->end < b ? r->end : b;
        uint32_t site = r->site;
        account_free(mt, site, hi - lo);
        removed += hi - lo;
        if (lo == r->start && hi == r->end) {          /* all of it */
            range_delete_at(mt, i);
        } else if (lo == r->start) {                   /* its head */
            r->start = hi;
            break;
        } else if (hi == r->end) {                     /* its tail */
            r->end = lo;
            i++;
        } else {                                       /* a hole: split */
            uintptr_t end = r->end;
            r->end = lo;
            if (range_reserve(mt) < 0) {
                /* The tail cannot be kept: count it freed too, so the numbers stay
                 * consistent (live never exceeds what is recorded). */
                mt->oom = 1;
                account_free(mt, site, end - hi);
                removed += end - hi;
            } else {
                range_insert_at(mt, i + 1, hi, end, site);
            }
            break;
        }
    }
    return removed;
}

/* 1 if p lies in a recorded range. */
static int range_contains(const pf_memtrack *mt, uintptr_t p)
{
    size_t i = range_first(mt, p);
    return i < mt->nranges && mt->ranges[i].start <= p;
}

/* ---- public operations ---- */

void pf_memtrack_on_alloc(pf_memtrack *mt, const void *ptr, size_t size,
                          uint32_t node, uint32_t line, unsigned kind)
{
    uintptr_t p = (uintptr_t)ptr;
    if (!p)
        return;
    struct segment *sg = &mt->seg[hash_seg(p)];
    if (__builtin_expect(!mt->oom && size < BIG_SIZE
                         && (sg->count + 1) * 4 <= ((size_t)3 << sg->bits), 1)) {
        /* The common case in one probe: the slot found is either p's stale entry (its
         * free was never seen), reused in place, or the empty slot p goes into.  Neither
         * site_get nor big_take touches the block table, so the index stays valid. */
        size_t i = table_find(sg, p);
        struct entry *e = &sg->tab[i];
        int stale = e->ptr != 0;
        if (stale)
            account_free(mt, e->site, e->size == BIG_SIZE ? big_take(mt, p) : e->size);
        uint32_t id = site_get(mt, node, line, kind < PF_MEM_KINDS ? kind : PF_MEM_NATIVE);
        if (id == PF_MEM_NONE) {
            mt->oom = 1;
            if (stale)
                table_delete_at(mt, sg, i);
            return;
        }
        e->ptr = p;
        e->size = (uint32_t)size;
        e->site = id;
        if (!stale) {
            sg->count++;
            if (++mt->count > mt->peak_count)
                mt->peak_count = mt->count;
        }
        account_alloc(mt, id, size);
        return;
    }
    /* Out of memory already, a big block or a segment that must grow: two steps. */
    pf_memtrack_block old;
    if (table_take(mt, p, &old))     /* its free was never seen: count it now */
        account_free(mt, old.site, old.size);
    if (mt->oom)
        return;
    uint32_t id = site_get(mt, node, line, kind < PF_MEM_KINDS ? kind : PF_MEM_NATIVE);
    if (id == PF_MEM_NONE || table_insert(mt, p, size, id) < 0) {
        mt->oom = 1;
        return;
    }
    account_alloc(mt, id, size);
}

int pf_memtrack_on_free(pf_memtrack *mt, const void *ptr)
{
    pf_memtrack_block b;
    if (!ptr || !table_take(mt, (uintptr_t)ptr, &b)) {
        if (ptr)
            mt->unknown_frees++;
        return 0;
    }
    account_free(mt, b.site, b.size);
    return 1;
}

int pf_memtrack_detach(pf_memtrack *mt, const void *old, pf_memtrack_block *out)
{
    if (!old)
        return 0;
    return table_take(mt, (uintptr_t)old, out);
}

void pf_memtrack_reattach(pf_memtrack *mt, const pf_memtrack_block *b)
{
    /* The slot it left may have been reused by a cluster shift, but the table had room
     * for it a moment ago, so only the big list can fail; then count it freed rather
     * than lose the bytes. */
    if (table_insert(mt, b->ptr, b->size, b->site) < 0) {
        mt->oom = 1;
        account_free(mt, b->site, b->size);
    }
}

void pf_memtrack_commit_realloc(pf_memtrack *mt, const pf_memtrack_block *b,
                                const void *newptr, size_t size, uint32_t node, uint32_t line,
                                unsigned kind)
{
    if (b)
        account_free(mt, b->site, b->size);
    pf_memtrack_on_alloc(mt, newptr, size, node, line, kind);
}

void pf_memtrack_on_realloc(pf_memtrack *mt, const void *old, const void *newptr,
                            size_t size, uint32_t node, uint32_t line, unsigned kind)
{
    pf_memtrack_block b;
    int had = pf_memtrack_detach(mt, old, &b);
    if (old && !had)
        mt->unknown_frees++;
    pf_memtrack_commit_realloc(mt, had ? &b : NULL, newptr, size, node, line, kind);
}

int pf_memtrack_on_report(pf_memtrack *mt, const void *ptr, size_t size,
                          uint32_t node, uint32_t line)
{
    uintptr_t p = (uintptr_t)ptr;
    if (!p || mt->oom)
        return 0;
    const struct segment *sg = &mt->seg[hash_seg(p)];
    if (sg->tab[table_find(sg, p)].ptr || range_contains(mt, p))
        return 0;                    /* its allocation was seen: counting it again would double */
    pf_memtrack_on_alloc(mt, ptr, size, node, line, PF_MEM_REPORTED);
    return !mt->oom;
}

int pf_memtrack_on_unreport(pf_memtrack *mt, const void *ptr)
{
    uintptr_t p = (uintptr_t)ptr;
    if (!p)
        return 0;
    const struct segment *sg = &mt->seg[hash_seg(p)];
    const struct entry *e = &sg->tab[table_find(sg, p)];
    if (!e->ptr || mt->sites[e->site].kind != PF_MEM_REPORTED)
        return 0;                    /* not reported: its own free will come */
    pf_memtrack_block b;
    table_take(mt, p, &b);
    account_free(mt, b.site, b.size);
    return 1;
}

void pf_memtrack_on_map(pf_memtrack *mt, const void *addr, size_t len,
                        uint32_t node, uint32_t line, unsigned kind)
{
    uintptr_t a = (uintptr_t)addr;
    if (!a || len == 0 || len > UINTPTR_MAX - a)
        return;
    ranges_cut(mt, a, a + len);      /* mapped over: those pages are gone */
    if (mt->oom)
        return;
    uint32_t id = site_get(mt, node, line, kind < PF_MEM_KINDS ? kind : PF_MEM_NATIVE);
    if (id == PF_MEM_NONE || range_reserve(mt) < 0) {
        mt->oom = 1;
        return;
    }
    range_insert_at(mt, range_first(mt, a), a, a + len, id);
    account_alloc(mt, id, len);
}

uint64_t pf_memtrack_on_unmap(pf_memtrack *mt, const void *addr, size_t len)
{
    uintptr_t a = (uintptr_t)addr;
    if (len == 0)
        return 0;
    uintptr_t b = len > UINTPTR_MAX - a ? UINTPTR_MAX : a + len;
    uint64_t removed = ranges_cut(mt, a, b);
    if (!removed)
        mt->unknown_frees++;
    return removed;
}

/* ---- results ---- */

static void site_mem(const pf_memtrack *mt, const struct site *s, pf_mem *m)
{
    m->alloc_bytes = s->alloc_bytes;
    m->alloc_count = s->alloc_count;
    m->free_bytes = s->free_bytes;
    m->peak_bytes = site_at_peak(mt, s);
    m->exit_bytes = s->live;
}

void pf_memtrack_get_totals(const pf_memtrack *mt, pf_memtrack_totals *out)
{
    memset(out, 0, sizeof *out);
    out->live_bytes = mt->live;
    out->peak_live_bytes = mt->peak;
    out->live_blocks = mt->count;
    out->peak_live_blocks = mt->peak_count;
    out->unknown_frees = mt->unknown_frees;
    out->profiler_bytes = mt->profiler_bytes;
    out->profiler_peak_bytes = mt->profiler_peak;
    out->nsites = mt->nsites;
    out->out_of_memory = mt->oom;
    for (uint32_t i = 0; i < mt->nsites; i++) {
        const struct site *s = &mt->sites[i];
        out->alloc_bytes += s->alloc_bytes;
        out->alloc_count += s->alloc_count;
        out->free_bytes += s->free_bytes;
        if (s->kind != PF_MEM_PYTHON) {
            out->native_alloc_bytes += s->alloc_bytes;
            out->native_live_bytes += s->live;
            out->peak_native_bytes += site_at_peak(mt, s);
        }
        if (s->node == PF_MEM_NONE) {
            pf_mem m;
            site_mem(mt, s, &m);
            pf_mem_add(&out->unattributed, &m);
        }
    }
}

uint32_t pf_memtrack_nsites(const pf_memtrack *mt)
{
    return mt->nsites;
}

void pf_memtrack_site(const pf_memtrack *mt, uint32_t i, uint32_t *node, uint32_t *line,
                      pf_mem *out)
{
    const struct site *s = &mt->sites[i];
    if (node)
        *node = s->node;
    if (line)
        *line = s->line;
    if (out)
        site_mem(mt, s, out);
}

unsigned pf_memtrack_site_kind(const pf_memtrack *mt, uint32_t i)
{
    return mt->sites[i].kind;
}

/* ---- folding sites into lines ---- */

/* The line table being built: (code, line) -> index into the output array. */
struct linemap {
    pf_memtrack_line *recs;
    uint32_t n, cap;
    uint32_t *seen;                  /* per record: site id + 1 that last added to it */
    uint32_t *index;                 /* open addressing: record index + 1; 0 = empty */
    unsigned bits;
};

static int linemap_grow(struct linemap *lm)
{
    uint32_t cap = lm->cap ? lm->cap * 2 : 256;
    pf_memtrack_line *r = MT_REALLOC(lm->recs, (size_t)cap * sizeof *r);
    if (!r)
        return -1;
    lm->recs = r;
    uint32_t *seen = MT_REALLOC(lm->seen, (size_t)cap * sizeof *seen);
    if (!seen)
        return -1;
    lm->seen = seen;
    unsigned bits = lm->bits ? lm->bits + 1 : 9;          /* index at most half full */
    uint32_t *idx = MT_CALLOC((size_t)1 << bits, sizeof *idx);
    if (!idx)
        return -1;
    size_t mask = ((size_t)1 << bits) - 1;
    for (uint32_t i = 0; i < lm->n; i++) {
        size_t h = hash_site(r[i].code, r[i].line, bits);
        while (idx[h])
            h = (h + 1) & mask;
        idx[h] = i + 1;
    }
    MT_FREE(lm->index);
    lm->index = idx;
    lm->bits = bits;
    lm->cap = cap;
    return 0;
}

/* Adds m to line (code, line) unless site `stamp` already did.  0, or -1 (OOM). */
static int linemap_add(struct linemap *lm, uint32_t code, uint32_t line, uint32_t stamp,
                       const pf_mem *m)
{
    if (lm->n == lm->cap && linemap_grow(lm) < 0)
        return -1;
    size_t mask = ((size_t)1 << lm->bits) - 1;
    size_t h = hash_site(code, line, lm->bits);
    uint32_t v;
    while ((v = lm->index[h]) != 0) {
        pf_memtrack_line *r = &lm->recs[v - 1];
        if (r->code == code && r->line == line) {
            if (lm->seen[v - 1] != stamp) {
                lm->seen[v - 1] = stamp;
                pf_mem_add(&r->mem, m);
            }
            return 0;
        }
        h = (h + 1) & mask;
    }
    pf_memtrack_line *r = &lm->recs[lm->n];
    r->code = code;
    r->line = line;
    r->mem = *m;
    lm->seen[lm->n] = stamp;
    lm->index[h] = ++lm->n;
    return 0;
}

int pf_memtrack_result(const pf_memtrack *mt, uint32_t nnodes, const uint32_t *parent,
                       const uint32_t *code, const uint32_t *call_line, pf_mem *node_mem,
                       pf_memtrack_line **lines, uint32_t *nlines)
{
    struct linemap lm = { NULL, 0, 0, NULL, NULL, 0 };
    if (node_mem && nnodes)
        memset(node_mem, 0, (size_t)nnodes * sizeof *node_mem);
    if (lines) {
        *lines = NULL;
        *nlines = 0;
    }
    for (uint32_t i = 0; i < mt->nsites; i++) {
        const struct site *s = &mt->sites[i];
        if (s->node >= nnodes)
            continue;                /* unattributed, or not a node the caller knows */
        pf_mem m;
        site_mem(mt, s, &m);
        if (node_mem)
            pf_mem_add(&node_mem[s->node], &m);
        if (!lines || !code)
            continue;
        /* The lines on this site's stack: the innermost frame's current line, then each
         * caller's calling line, up to the thread's top.  Each (code, line) once. */
        uint32_t stamp = i + 1;
        if (code[s->node] != PF_MEM_NONE && s->line != 0
            && linemap_add(&lm, code[s->node], s->line, stamp, &m) < 0)
            goto fail;
        if (!parent || !call_line)
            continue;
        uint32_t n = s->node;
        for (uint32_t steps = 0; steps < nnodes; steps++) {
            uint32_t p = parent[n];
            if (p >= nnodes)
                break;
            if (code[p] != PF_MEM_NONE && call_line[n] != 0
                && linemap_add(&lm, code[p], call_line[n], stamp, &m) < 0)
                goto fail;
            n = p;
        }
    }
    MT_FREE(lm.seen);
    MT_FREE(lm.index);
    if (lines) {
        *lines = lm.recs;
        *nlines = lm.n;
    }
    return 0;
fail:
    MT_FREE(lm.recs);
    MT_FREE(lm.seen);
    MT_FREE(lm.index);
    return -1;
}

void pf_memtrack_lines_free(pf_memtrack_line *lines)
{
    MT_FREE(lines);
}
