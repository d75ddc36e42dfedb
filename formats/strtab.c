/* strtab.c: interned byte strings with dense ids (the contract is in strtab.h).
 *
 * Layout: string bytes live in an arena of large blocks (one pf_malloc per 64 KiB of
 * text rather than one per string; a string bigger than a block gets a block of its
 * own), and `ents` maps id -> (pointer, length).  The dedup index is an
 * open-addressing hash table of ids, built lazily on the first intern: the trace
 * reader only appends (ids in a file are positional) and never pays for hashing.
 * Invariant once the index exists: every id in the table appears in `slots` exactly
 * when it is the first id with its bytes; the table is at most half full.
 */
#include "strtab.h"

#include <string.h>

#include "alloc.h"

#define ARENA_BLOCK (64u * 1024u)
#define EMPTY_SLOT UINT32_MAX

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
    uint32_t *slots;           /* dedup index (NULL until the first intern) */
    uint32_t nslots;           /* power of two, or 0 */
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
    pf_free(t->slots);
    pf_free(t);
}

static uint64_t hash_bytes(const char *s, size_t len)
{
    /* FNV-1a: strings here are short identifiers and paths; good enough and simple. */
    uint64_t h = 0xcbf29ce484222325u;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)s[i];
        h *= 0x100000001b3u;
    }
    return h ^ (h >> 29);
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

/* Returns the slot holding s, or the empty slot where it would go. */
static uint32_t find_slot(const pf_strtab *t, const char *s, size_t len, uint64_t h)
{
    uint32_t mask = t->nslots - 1;
    uint32_t i = (uint32_t)h & mask;
    for (;;) {
        uint32_t id = t->slots[i];
        if (id == EMPTY_SLOT)
            return i;
        const strent *e = &t->ents[id];
        if (e->len == len && memcmp(e->s, s, len) == 0)
            return i;
        i = (i + 1) & mask;
    }
}

/* Makes room so one more id can be indexed (table stays at most half full). */
static int index_reserve(pf_strtab *t)
{
    if (t->slots != NULL && (uint64_t)(t->count + 1) * 2 <= t->nslots)
        return 0;
    uint64_t want = 64;
    while (want < (uint64_t)(t->count + 1) * 2)
        want *= 2;
    if (want > UINT32_MAX)
        return -1;
    if (pf_budget_charge(t->budget, want * sizeof(uint32_t)) < 0)
        return -1;
    uint32_t *slots = pf_reallocarray(NULL, (size_t)want, sizeof(uint32_t));
    if (slots == NULL) {
        pf_budget_release(t->budget, want * sizeof(uint32_t));
        return -1;
    }
    memset(slots, 0xff, (size_t)want * sizeof(uint32_t));
    uint32_t *old = t->slots;
    uint32_t old_n = old ? t->nslots : 0;
    t->slots = slots;
    t->nslots = (uint32_t)want;
    for (uint32_t id = 0; id < t->count; id++) {
        const strent *e = &t->ents[id];
        uint32_t i = find_slot(t, e->s, e->len, hash_bytes(e->s, e->len));
        if (t->slots[i] == EMPTY_SLOT)   /* keep the first of duplicate appends */
            t->slots[i] = id;
    }
    pf_free(old);
    pf_budget_release(t->budget, (uint64_t)old_n * sizeof(uint32_t));
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
    uint32_t slot = find_slot(t, s, len, hash_bytes(s, len));
    if (t->slots[slot] != EMPTY_SLOT)
        return t->slots[slot];
    uint32_t id = add(t, s, len);
    if (id != PF_STR_NONE)
        t->slots[slot] = id;
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
    if (t->slots != NULL && index_reserve(t) < 0)
        return PF_STR_NONE;
    uint32_t id = add(t, s, len);
    if (id != PF_STR_NONE && t->slots != NULL) {
        uint32_t slot = find_slot(t, s, len, hash_bytes(s, len));
        if (t->slots[slot] == EMPTY_SLOT)
            t->slots[slot] = id;
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
