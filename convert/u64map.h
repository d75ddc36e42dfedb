/* u64map.h: an open-addressing hash map from 64-bit keys to 32-bit values, used by the
 * converters to find edges (caller, callee) and merged function keys in O(1).
 * Memory: 16 bytes per slot, at most twice the number of entries (load <= 1/2).
 */
#ifndef PF_U64MAP_H
#define PF_U64MAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct pf_u64map pf_u64map;

/* Returns an empty map sized for about `expected` entries, or NULL when out of memory. */
pf_u64map *pf_u64map_new(size_t expected);
/* NULL-safe. */
void pf_u64map_free(pf_u64map *m);

/* Returns the value slot of key, inserting it with value UINT32_MAX when absent
 * (*inserted says which, if not NULL).  The pointer is valid until the next call that
 * may insert.  Returns NULL when out of memory (the map is unchanged). */
uint32_t *pf_u64map_slot(pf_u64map *m, uint64_t key, int *inserted);

/* The value of key, or UINT32_MAX when absent. */
uint32_t pf_u64map_get(const pf_u64map *m, uint64_t key);

/* Number of entries. */
size_t pf_u64map_count(const pf_u64map *m);

#endif
