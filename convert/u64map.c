/* u64map.c: linear probing over a power-of-two table; keys are mixed with a 64-bit
 * finaliser so dense or structured keys (pairs of small indices) spread evenly.
 * Invariant: count * 2 <= cap, so every probe sequence ends at an empty slot. */
#include "convert/u64map.h"

#include "formats/alloc.h"

struct slot {
    uint64_t key;
    uint32_t value;
    uint32_t used;
};

struct pf_u64map {
    struct slot *slots;
    size_t cap;      /* power of two */
    size_t count;
};

static uint64_t mix(uint64_t x)
{
    /* splitmix64's finaliser */
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

pf_u64map *pf_u64map_new(size_t expected)
{
    pf_u64map *m = pf_calloc(1, sizeof *m);
    if (m == NULL)
        return NULL;
    size_t cap = 16;
    while (cap / 2 < expected && cap < ((size_t)1 << 40))
        cap *= 2;
    m->slots = pf_calloc(cap, sizeof *m->slots);
    if (m->slots == NULL) {
        pf_free(m);
        return NULL;
    }
    m->cap = cap;
    return m;
}

void pf_u64map_free(pf_u64map *m)
{
    if (m == NULL)
        return;
    pf_free(m->slots);
    pf_free(m);
}

static struct slot *find(struct slot *slots, size_t cap, uint64_t key)
{
    size_t mask = cap - 1;
    size_t i = (size_t)mix(key) & mask;
    while (slots[i].used && slots[i].key != key)
        i = (i + 1) & mask;
    return &slots[i];
}

static int grow(pf_u64map *m)
{
    size_t cap = m->cap * 2;
    struct slot *s = pf_calloc(cap, sizeof *s);
    if (s == NULL)
        return -1;
    for (size_t i = 0; i < m->cap; i++)
        if (m->slots[i].used)
            *find(s, cap, m->slots[i].key) = m->slots[i];
    pf_free(m->slots);
    m->slots = s;
    m->cap = cap;
    return 0;
}

uint32_t *pf_u64map_slot(pf_u64map *m, uint64_t key, int *inserted)
{
    struct slot *s = find(m->slots, m->cap, key);
    if (s->used) {
        if (inserted)
            *inserted = 0;
        return &s->value;
    }
    if ((m->count + 1) * 2 > m->cap) {
        if (grow(m) < 0)
            return NULL;
        s = find(m->slots, m->cap, key);
    }
    s->used = 1;
    s->key = key;
    s->value = UINT32_MAX;
    m->count++;
    if (inserted)
        *inserted = 1;
    return &s->value;
}

uint32_t pf_u64map_get(const pf_u64map *m, uint64_t key)
{
    const struct slot *s = find(m->slots, m->cap, key);
    return s->used ? s->value : UINT32_MAX;
}

size_t pf_u64map_count(const pf_u64map *m)
{
    return m->count;
}
