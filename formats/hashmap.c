/* hashmap.c: linear probing over a power-of-two table of (key, value) slots.  The
 * probe starts at pf_hash_u64(key), so callers may pass raw integers as keys.
 * Invariant: count <= cap * 3/4, so every probe sequence ends at an empty slot.
 * An empty slot has used == 0 (keys and values may be anything). */
#include "formats/hashmap.h"

#include "formats/alloc.h"
#include "formats/hash.h"

struct slot {
    uint64_t key;
    uint32_t value;
    uint32_t used;
};

struct pf_hmap {
    struct slot *slots;
    size_t cap;      /* power of two */
    size_t count;
};

static size_t cap_for(size_t n)
{
    size_t cap = 16;
    while (cap - cap / 4 < n && cap < ((size_t)1 << 40))
        cap *= 2;
    return cap;
}

pf_hmap *pf_hmap_new(size_t expected)
{
    pf_hmap *m = pf_calloc(1, sizeof *m);
    if (m == NULL)
        return NULL;
    m->cap = cap_for(expected);
    m->slots = pf_calloc(m->cap, sizeof *m->slots);
    if (m->slots == NULL) {
        pf_free(m);
        return NULL;
    }
    return m;
}

void pf_hmap_free(pf_hmap *m)
{
    if (m == NULL)
        return;
    pf_free(m->slots);
    pf_free(m);
}

void pf_hmap_clear(pf_hmap *m)
{
    memset(m->slots, 0, m->cap * sizeof *m->slots);
    m->count = 0;
}

/* The slot holding key, or the empty slot that ends its probe sequence. */
static struct slot *find_exact(struct slot *slots, size_t cap, uint64_t key)
{
    size_t mask = cap - 1;
    size_t i = (size_t)pf_hash_u64(key) & mask;
    while (slots[i].used && slots[i].key != key)
        i = (i + 1) & mask;
    return &slots[i];
}

static struct slot *first_empty(struct slot *slots, size_t cap, uint64_t key)
{
    size_t mask = cap - 1;
    size_t i = (size_t)pf_hash_u64(key) & mask;
    while (slots[i].used)
        i = (i + 1) & mask;
    return &slots[i];
}

static int resize(pf_hmap *m, size_t cap)
{
    struct slot *s = pf_calloc(cap, sizeof *s);
    if (s == NULL)
        return -1;
    for (size_t i = 0; i < m->cap; i++)
        if (m->slots[i].used)
            *first_empty(s, cap, m->slots[i].key) = m->slots[i];
    pf_free(m->slots);
    m->slots = s;
    m->cap = cap;
    return 0;
}

int pf_hmap_reserve(pf_hmap *m, size_t n)
{
    if (n <= m->cap - m->cap / 4)
        return 0;                    /* the common case, without cap_for's loop */
    size_t cap = cap_for(n);
    return cap > m->cap ? resize(m, cap) : 0;
}

/* Makes room for one more entry. */
static int room_for_one(pf_hmap *m)
{
    if (m->count + 1 <= m->cap - m->cap / 4)
        return 0;
    return resize(m, m->cap * 2);
}

uint32_t *pf_hmap_slot(pf_hmap *m, uint64_t key, int *inserted)
{
    struct slot *s = find_exact(m->slots, m->cap, key);
    if (s->used) {
        if (inserted)
            *inserted = 0;
        return &s->value;
    }
    if (room_for_one(m) < 0)
        return NULL;
    s = first_empty(m->slots, m->cap, key);
    s->used = 1;
    s->key = key;
    s->value = PF_HMAP_NONE;
    m->count++;
    if (inserted)
        *inserted = 1;
    return &s->value;
}

uint32_t pf_hmap_get(const pf_hmap *m, uint64_t key)
{
    const struct slot *s = find_exact(m->slots, m->cap, key);
    return s->used ? s->value : PF_HMAP_NONE;
}

uint32_t pf_hmap_find(const pf_hmap *m, uint64_t hash,
                      int (*eq)(void *ctx, uint32_t value), void *ctx)
{
    size_t mask = m->cap - 1;
    for (size_t i = (size_t)pf_hash_u64(hash) & mask; m->slots[i].used; i = (i + 1) & mask)
        if (m->slots[i].key == hash && eq(ctx, m->slots[i].value))
            return m->slots[i].value;
    return PF_HMAP_NONE;
}

int pf_hmap_add(pf_hmap *m, uint64_t hash, uint32_t value)
{
    if (room_for_one(m) < 0)
        return -1;
    struct slot *s = first_empty(m->slots, m->cap, hash);
    s->used = 1;
    s->key = hash;
    s->value = value;
    m->count++;
    return 0;
}

void pf_hmap_prefetch(const pf_hmap *m, uint64_t key)
{
#if defined(__GNUC__)
    __builtin_prefetch(&m->slots[(size_t)pf_hash_u64(key) & (m->cap - 1)]);
#else
    (void)m;
    (void)key;
#endif
}

size_t pf_hmap_count(const pf_hmap *m)
{
    return m->count;
}

size_t pf_hmap_bytes(const pf_hmap *m)
{
    return sizeof *m + m->cap * sizeof *m->slots;
}
