/* linkmap.h: the collector's table of pending links, in plain C (no Python.h, so
 * tests/test_linkmap.c unit-tests it directly): an object's address -> the link site
 * (collector/cct.h) its first activation is to be recorded with.  The collector puts
 * an entry when asyncio creates a task (the coroutine's address) or when
 * concurrent.futures queues a work item (the item's address), and looks it up when
 * the coroutine first runs as a task's root, or when the item runs (see session.h,
 * "Asyncio links").
 *
 * Open addressing with linear probing on pf_hash_u64 of the address; removal shifts
 * the following entries back (no tombstones), so a table that sees many puts and
 * removes never fills with dead slots.  It doubles at 3/4 load up to max_entries
 * slots; past that (or when an allocation fails, or the byte limit is reached) a put
 * is refused and counted (pf_linkmap_dropped): links are an extra, never a reason to
 * stop recording.  What it allocates is charged to a counter the caller shares, as
 * the tree's memory is (pf_cct_new).
 */
#ifndef PF_COLLECTOR_LINKMAP_H
#define PF_COLLECTOR_LINKMAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct pf_linkmap pf_linkmap;

typedef struct pf_link_entry {
    uintptr_t key;            /* the object's address; 0 = an empty slot */
    int32_t site;             /* the link site to record it with */
    uint8_t kind;             /* what kind of lookup finds it (the caller's enum) */
    uint8_t resolved;         /* the caller's flag: site is final (see session.c) */
} pf_link_entry;

/* An empty table.  Its bytes are added to *charged; an allocation that would take
 * *charged past limit (> 0) fails like one without memory.  max_entries (a power of
 * two, at least 16) caps its slots.  NULL when out of memory. */
pf_linkmap *pf_linkmap_new(size_t *charged, size_t limit, uint32_t max_entries);
/* Frees it, giving its bytes back to *charged.  NULL-safe. */
void pf_linkmap_free(pf_linkmap *m);

/* Sets key's entry to (site, kind), unresolved, replacing one it had (an address is
 * reused once its object is gone).  0, or -1 when the table is full or out of memory
 * (nothing changes; the refusal is counted).  key 0 is ignored (returns 0). */
int pf_linkmap_put(pf_linkmap *m, uintptr_t key, int32_t site, uint8_t kind);

/* key's entry if it has one of that kind (the caller may change its site and resolved
 * fields until the next put or remove), else NULL. */
pf_link_entry *pf_linkmap_get(pf_linkmap *m, uintptr_t key, uint8_t kind);

/* Removes key's entry (no-op without one). */
void pf_linkmap_remove(pf_linkmap *m, uintptr_t key);

/* Entries held; puts refused so far. */
uint32_t pf_linkmap_count(const pf_linkmap *m);
uint64_t pf_linkmap_dropped(const pf_linkmap *m);

#endif
