/* linkmap.c: the pending-link table (see linkmap.h for the model).
 *
 * Invariant (linear probing): an entry sits at its home slot h(key) & mask or after
 * it, with no empty slot between home and entry.  Removal keeps it: the entries after
 * the hole move back into it when the hole lies between their home and their slot
 * (Knuth's algorithm R), until an empty slot ends the run.
 */
#include "collector/linkmap.h"

#include "formats/alloc.h"
#include "formats/hash.h"

#define MIN_SLOTS 16u

struct pf_linkmap {
    pf_link_entry *slots;
    uint32_t mask;            /* slots - 1 */
    uint32_t count;
    uint32_t max_slots;
    size_t *charged, limit, bytes;
    uint64_t dropped;
};

static int charge(pf_linkmap *m, size_t n)
{
    if (m->limit && *m->charged + n > m->limit)
        return -1;
    *m->charged += n;
    m->bytes += n;
    return 0;
}

static void uncharge(pf_linkmap *m, size_t n)
{
    *m->charged -= n;
    m->bytes -= n;
}

pf_linkmap *pf_linkmap_new(size_t *charged, size_t limit, uint32_t max_entries)
{
    pf_linkmap *m = pf_calloc(1, sizeof *m);
    if (m == NULL)
        return NULL;
    m->charged = charged;
    m->limit = limit;
    m->max_slots = max_entries < MIN_SLOTS ? MIN_SLOTS : max_entries;
    if (charge(m, sizeof *m + MIN_SLOTS * sizeof(pf_link_entry)) < 0
        || (m->slots = pf_calloc(MIN_SLOTS, sizeof(pf_link_entry))) == NULL) {
        if (m->bytes)
            uncharge(m, m->bytes);
        pf_free(m);
        return NULL;
    }
    m->mask = MIN_SLOTS - 1;
    return m;
}

void pf_linkmap_free(pf_linkmap *m)
{
    if (m == NULL)
        return;
    *m->charged -= m->bytes;
    pf_free(m->slots);
    pf_free(m);
}

static uint32_t home(const pf_linkmap *m, uintptr_t key)
{
    return (uint32_t)pf_hash_u64((uint64_t)key) & m->mask;
}

/* The slot of key, or of the empty slot where it would go. */
static uint32_t find(const pf_linkmap *m, uintptr_t key)
{
    uint32_t i = home(m, key);
    while (m->slots[i].key != 0 && m->slots[i].key != key)
        i = (i + 1) & m->mask;
    return i;
}

/* Doubles the slots.  0, or -1 (at max_slots, over the limit or out of memory). */
static int grow(pf_linkmap *m)
{
    uint32_t n = m->mask + 1;
    if (n >= m->max_slots || n > UINT32_MAX / 2)
        return -1;
    size_t add = (size_t)n * sizeof(pf_link_entry);
    if (charge(m, add) < 0)
        return -1;
    pf_link_entry *s = pf_calloc((size_t)n * 2, sizeof(pf_link_entry));
    if (s == NULL) {
        uncharge(m, add);
        return -1;
    }
    pf_link_entry *old = m->slots;
    m->slots = s;
    m->mask = n * 2 - 1;
    for (uint32_t i = 0; i < n; i++)
        if (old[i].key != 0)
            m->slots[find(m, old[i].key)] = old[i];
    pf_free(old);
    return 0;
}

int pf_linkmap_put(pf_linkmap *m, uintptr_t key, int32_t site, uint8_t kind)
{
    if (key == 0)
        return 0;
    uint32_t i = find(m, key);
    if (m->slots[i].key == 0) {
        if ((uint64_t)(m->count + 1) * 4 > (uint64_t)(m->mask + 1) * 3) {
            if (grow(m) < 0) {
                m->dropped++;
                return -1;
            }
            i = find(m, key);
        }
        m->count++;
    }
    m->slots[i] = (pf_link_entry){ key, site, kind, 0 };
    return 0;
}

pf_link_entry *pf_linkmap_get(pf_linkmap *m, uintptr_t key, uint8_t kind)
{
    if (key == 0 || m->count == 0)
        return NULL;
    pf_link_entry *e = &m->slots[find(m, key)];
    return e->key == key && e->kind == kind ? e : NULL;
}

void pf_linkmap_remove(pf_linkmap *m, uintptr_t key)
{
    if (key == 0 || m->count == 0)
        return;
    uint32_t hole = find(m, key);
    if (m->slots[hole].key == 0)
        return;
    m->count--;
    for (uint32_t j = (hole + 1) & m->mask; m->slots[j].key != 0; j = (j + 1) & m->mask) {
        uint32_t h = home(m, m->slots[j].key);
        /* j's entry may move into the hole unless its home lies in (hole, j] (cyclically) */
        int stays = hole <= j ? (hole < h && h <= j) : (hole < h || h <= j);
        if (!stays) {
            m->slots[hole] = m->slots[j];
            hole = j;
        }
    }
    m->slots[hole] = (pf_link_entry){ 0, 0, 0, 0 };
}

uint32_t pf_linkmap_count(const pf_linkmap *m)
{
    return m->count;
}

uint64_t pf_linkmap_dropped(const pf_linkmap *m)
{
    return m->dropped;
}
