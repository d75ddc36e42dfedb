/* hashmap.h: the one open-addressing hash table of pyflame-c.  It maps a 64-bit key to
 * a 32-bit value (typically an index into the caller's own array of records), so one
 * implementation serves every map: the string table, the stack tree's children, the
 * converters' edges and functions, the collector's calling-context tree.
 *
 * Two ways to use it:
 *   - exact keys (an integer, a pair packed into 64 bits): pf_hmap_slot / pf_hmap_get;
 *   - hashed keys (strings, tuples wider than 64 bits): the key is the record's 64-bit
 *     hash from hash.h, several records may share it, and pf_hmap_find asks the caller
 *     to compare the candidates (pf_hmap_add inserts without looking).
 *
 * Memory: 16 bytes per slot; the table doubles when it is 3/4 full, so 21 to 43 bytes
 * per entry.  Lookups are O(1) expected.  Allocation goes through formats/alloc.h.
 */
#ifndef PF_HASHMAP_H
#define PF_HASHMAP_H

#include <stddef.h>
#include <stdint.h>

#define PF_HMAP_NONE UINT32_MAX

typedef struct pf_hmap pf_hmap;

/* An empty map with room for about `expected` entries before it grows, or NULL when
 * out of memory. */
pf_hmap *pf_hmap_new(size_t expected);
/* NULL-safe. */
void pf_hmap_free(pf_hmap *m);
/* Removes every entry, keeping the memory. */
void pf_hmap_clear(pf_hmap *m);

/* Exact keys.  Returns the value slot of key, inserting it with value PF_HMAP_NONE when
 * absent (*inserted says which, if not NULL).  The pointer is valid until the next call
 * that may insert.  NULL when out of memory (the map is unchanged). */
uint32_t *pf_hmap_slot(pf_hmap *m, uint64_t key, int *inserted);
/* The value of key, or PF_HMAP_NONE when absent. */
uint32_t pf_hmap_get(const pf_hmap *m, uint64_t key);

/* Hashed keys.  Returns the first value stored under hash for which eq(ctx, value)
 * is true, or PF_HMAP_NONE. */
uint32_t pf_hmap_find(const pf_hmap *m, uint64_t hash,
                      int (*eq)(void *ctx, uint32_t value), void *ctx);
/* Adds (hash, value) even if hash is present.  0, or -1 when out of memory (the map
 * is unchanged). */
int pf_hmap_add(pf_hmap *m, uint64_t hash, uint32_t value);
/* A hint: starts loading the slot where a lookup of key (or hash) begins, so callers
 * that know several keys ahead overlap the cache misses.  Valid until the map grows:
 * pf_hmap_reserve first.  Changes nothing. */
void pf_hmap_prefetch(const pf_hmap *m, uint64_t key);
/* Makes room for `n` entries in all, so that no insert before then allocates.
 * 0, or -1 when out of memory (the map is unchanged). */
int pf_hmap_reserve(pf_hmap *m, size_t n);

/* Number of entries, and bytes the table holds (for memory reports). */
size_t pf_hmap_count(const pf_hmap *m);
size_t pf_hmap_bytes(const pf_hmap *m);

#endif
