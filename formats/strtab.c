/* strtab.c: interned byte strings with dense ids (the contract is in strtab.h).
 *
 * Layout: string bytes live in an arena of large blocks (one pf_malloc per 64 KiB of
 * text rather than one per string; a string bigger than a block gets a block of its
 * own), and `ents` maps id -> (pointer, length).  The dedup index is the project's
 * hash table (hashmap.h: the bytes' hash -> id, candidates compared byte for byte),
 * built lazily on the first intern: the trace reader only appends (ids in a file are
 * positional) and never pays for hashing.  Invariant once the index exists: an id is
 * in it exactly when it is the first id with its bytes.
 */
#include "strtab.h"

#include <string.h>

#include "alloc.h"
#include "hash.h"
#include "hashmap.h"

#define ARENA_BLOCK (64u * 1024u)

typedef struct arena_block {
    struct arena_block *next;
    size_t used, cap;
    char data[];
} arena_block;

typedef struct strent {
    const char *s;
    size_t len;
} strent;

struct pf_strtab {
    strent *ents;
    uint32_t count, cap;
    arena_block *blocks;       /* head = current block */
    pf_hmap *index;            /* dedup index (NULL until the first intern) */
    pf_budget *budget;         /* charged for every allocation (NULL: none) */
};

pf_strtab *pf_strtab_new(void)
{
    return pf_calloc(1, sizeof(pf_strtab));
}

void pf_strtab_set_budget(pf_strtab *t, pf_budget *b)
{
    if (t)
        t->budget = b;
}

void pf_strtab_free(pf_strtab *t)
{
    if (t == NULL)
        return;
    arena_block *b = t->blocks;
    while (b) {
        arena_block *next = b->next;
        pf_free(b);
        b = next;
    }
    pf_free(t->ents);
    pf_hmap_free(t->index);
    pf_free(t);
}

/* Copies s[0..len) plus a NUL into the arena; NULL when out of memory. */
static char *arena_copy(pf_strtab *t, const char *s, size_t len)
{
    arena_block *b = t->blocks;
    if (len >= SIZE_MAX - sizeof(arena_block) - ARENA_BLOCK)
        return NULL;
    if (b == NULL || b->cap - b->used < len + 1) {
        size_t cap = len + 1 > ARENA_BLOCK / 4 ? len + 1 : ARENA_BLOCK;
        if (pf_budget_charge(t->budget, sizeof(arena_block) + cap) < 0)
            return NULL;
        arena_block *nb = pf_malloc(sizeof(arena_block) + cap);
        if (nb == NULL) {
            pf_budget_release(t->budget, sizeof(arena_block) + cap);
            return NULL;
        }
        nb->used = 0;
        nb->cap = cap;
        if (cap == ARENA_BLOCK || b == NULL) {
            nb->next = b;
            t->blocks = nb;
        } else {
            /* A big string gets a private block behind the current one, so the
             * current block's free space is not wasted. */
            nb->next = b->next;
            b->next = nb;
        }
        b = nb;
    }
    char *d = b->data + b->used;
    if (len)
        memcpy(d, s, len);
    d[len] = '\0';
    b->used += len + 1;
    return d;
}

static int grow_ents(pf_strtab *t)
{
    if (t->count < t->cap)
        return 0;
    if (t->cap >= UINT32_MAX / 2)
        return -1;
    uint32_t ncap = t->cap ? t->cap * 2 : 64;
    uint64_t grow = (uint64_t)(ncap - t->cap) * sizeof(strent);
    if (pf_budget_charge(t->budget, grow) < 0)
        return -1;
    strent *n = pf_reallocarray(t->ents, ncap, sizeof(strent));
    if (n == NULL) {
        pf_budget_release(t->budget, grow);
        return -1;
    }
    t->ents = n;
    t->cap = ncap;
    return 0;
}

/* The bytes an index lookup compares against. */
typedef struct probe {
    const pf_strtab *t;
    const char *s;
    size_t len;
} probe;

static int same_bytes(void *ctx, uint32_t id)
{
    const probe *p = ctx;
    const strent *e = &p->t->ents[id];
    return e->len == p->len && memcmp(e->s, p->s, p->len) == 0;
}

/* The first id holding s[0..len), or PF_STR_NONE. */
static uint32_t index_find(const pf_strtab *t, const char *s, size_t len, uint64_t h)
{
    probe p = { t, s, len };
    uint32_t id = pf_hmap_find(t->index, h, same_bytes, &p);
    return id == PF_HMAP_NONE ? PF_STR_NONE : id;
}

/* Makes room so one more id can be indexed without allocating; builds the index on
 * first use.  Growth is charged to the budget before it happens. */
static int index_reserve(pf_strtab *t)
{
    int fresh = t->index == NULL;
    size_t before = fresh ? 0 : pf_hmap_bytes(t->index);
    /* The table at most doubles (or starts at its small size): charge that much. */
    uint64_t worst = fresh ? (uint64_t)(t->count + 64) * 32 : (uint64_t)before;
    if (pf_budget_charge(t->budget, worst) < 0)
        return -1;
    if (fresh && (t->index = pf_hmap_new(t->count + 1)) == NULL) {
        pf_budget_release(t->budget, worst);
        return -1;
    }
    if (pf_hmap_reserve(t->index, (size_t)t->count + 1) < 0) {
        pf_budget_release(t->budget, worst);
        return -1;
    }
    pf_budget_release(t->budget, worst);
    size_t after = pf_hmap_bytes(t->index);
    if (after > before)
        (void)pf_budget_charge(t->budget, after - before);   /* within the worst case */
    if (fresh)
        for (uint32_t id = 0; id < t->count; id++) {
            const strent *e = &t->ents[id];
            uint64_t h = pf_hash_bytes(e->s, e->len);
            if (index_find(t, e->s, e->len, h) == PF_STR_NONE)   /* first of duplicates */
                (void)pf_hmap_add(t->index, h, id);   /* reserved: cannot fail */
        }
    return 0;
}

static uint32_t add(pf_strtab *t, const char *s, size_t len)
{
    if (t->count >= UINT32_MAX - 1 || grow_ents(t) < 0)
        return PF_STR_NONE;
    char *copy = arena_copy(t, s, len);
    if (copy == NULL)
        return PF_STR_NONE;
    t->ents[t->count].s = copy;
    t->ents[t->count].len = len;
    return t->count++;
}

uint32_t pf_strtab_intern(pf_strtab *t, const char *s, size_t len)
{
    if (t == NULL || (s == NULL && len != 0))
        return PF_STR_NONE;
    if (s == NULL)
        s = "";
    if (index_reserve(t) < 0)
        return PF_STR_NONE;
    uint64_t h = pf_hash_bytes(s, len);
    uint32_t id = index_find(t, s, len, h);
    if (id != PF_STR_NONE)
        return id;
    id = add(t, s, len);
    if (id != PF_STR_NONE)
        (void)pf_hmap_add(t->index, h, id);   /* reserved: cannot fail */
    return id;
}

uint32_t pf_strtab_intern_cstr(pf_strtab *t, const char *s)
{
    if (s == NULL)
        return PF_STR_NONE;
    return pf_strtab_intern(t, s, strlen(s));
}

uint32_t pf_strtab_append(pf_strtab *t, const char *s, size_t len)
{
    if (t == NULL || (s == NULL && len != 0))
        return PF_STR_NONE;
    if (s == NULL)
        s = "";
    if (t->index != NULL && index_reserve(t) < 0)
        return PF_STR_NONE;
    uint32_t id = add(t, s, len);
    if (id != PF_STR_NONE && t->index != NULL) {
        uint64_t h = pf_hash_bytes(s, len);
        if (index_find(t, s, len, h) == PF_STR_NONE)   /* keep the first of duplicates */
            (void)pf_hmap_add(t->index, h, id);   /* reserved: cannot fail */
    }
    return id;
}

uint32_t pf_strtab_count(const pf_strtab *t)
{
    return t ? t->count : 0;
}

const char *pf_strtab_get(const pf_strtab *t, uint32_t id, size_t *len)
{
    if (t == NULL || id >= t->count)
        return NULL;
    if (len)
        *len = t->ents[id].len;
    return t->ents[id].s;
}
