/* memtrack.h: the bookkeeping behind `collect --memory`: which live block belongs to
 * which allocation site, per-site counters, and exact per-site bytes at the run's peak.
 *
 * Plain C (no Python.h) so it can be unit-tested on its own; collector/memhook.c feeds it
 * from CPython's allocator hooks.  Not thread-safe: the caller serialises every call
 * (memhook holds a spinlock around them).  Its own memory comes from libc (calloc/
 * realloc), never from PyMem, so it is not traced and is reported separately.
 *
 * Sites.  A site is a triple (node, line, kind): node is a dense id the collector gives its
 * calling-context-tree node of the innermost frame (PF_MEM_NONE: no frame, unattributed),
 * line the line number running in that frame (0: unknown), kind which allocator the block
 * came from (enum pf_mem_kind).  memtrack interns each distinct triple once; counters live
 * per site.  At the end pf_memtrack_result() folds the
 * sites into per-node SELF values and per-(code, line) INCLUSIVE values, using the tree
 * the collector describes (parent, code and calling line of each node).
 *
 * Units: bytes as requested by the caller of malloc (not the allocator's rounded size),
 * the convention of tracemalloc, so numbers can be compared with it; for a mapping, its
 * length (the caller rounds it to whole pages).
 *
 * Blocks and ranges.  Heap blocks are keyed by their address (an alloc, a free of that
 * address).  Anonymous mappings are ranges [addr, addr + len) that can be unmapped in part
 * (pf_memtrack_on_map / on_unmap); a free never matches a range, nor an unmap a block.
 */
#ifndef PF_MEMTRACK_H
#define PF_MEMTRACK_H

#include <stddef.h>
#include <stdint.h>

#include "formats/trace.h"

#define PF_MEM_NONE UINT32_MAX

/* Which allocator a block came from: part of its site, so the native share of any sum is
 * exact.  Everything but PF_MEM_PYTHON is native memory. */
enum pf_mem_kind {
    PF_MEM_PYTHON = 0,        /* CPython's allocator domains (PyMem_*, PyObject_*) */
    PF_MEM_NATIVE = 1,        /* malloc and friends, mmap, called from native code */
    PF_MEM_REPORTED = 2,      /* reported by a library with PyTraceMalloc_Track, its
                                 allocation not seen (see pf_memtrack_on_report) */
    PF_MEM_KINDS = 3
};

typedef struct pf_memtrack pf_memtrack;

/* Returns an empty tracker, or NULL when out of memory. */
pf_memtrack *pf_memtrack_new(void);
/* Frees the tracker and everything it owns.  NULL-safe. */
void pf_memtrack_free(pf_memtrack *mt);

/* Records that ptr (not NULL) now holds size bytes allocated at site (node, line, kind).
 * If ptr is already tracked (its free was never seen), the old block is counted as freed
 * first.  When the tracker cannot grow its tables, it sets the sticky out-of-memory flag
 * and stops recording new blocks (frees of blocks already tracked are still applied, so
 * the numbers it has stay consistent).  Never fails otherwise.  A kind out of range
 * counts as PF_MEM_NATIVE. */
void pf_memtrack_on_alloc(pf_memtrack *mt, const void *ptr, size_t size,
                          uint32_t node, uint32_t line, unsigned kind);

/* Records that ptr was freed.  The bytes are credited to the site that allocated it
 * (free_bytes of that site), not to the current one.  Returns 1 if ptr was tracked, 0 if
 * not (allocated before tracking started, or NULL): such frees are ignored. */
int pf_memtrack_on_free(pf_memtrack *mt, const void *ptr);

/* A tracked block taken out of the table but not yet accounted as freed; used to make
 * realloc race-free (see pf_memtrack_detach).  Fields are private. */
typedef struct pf_memtrack_block {
    uintptr_t ptr;
    uint64_t size;
    uint32_t site;
} pf_memtrack_block;

/* Realloc in two steps, so that no other thread can be handed old's address while the
 * table still maps it: before calling the real realloc, detach(old) removes old's entry
 * without accounting (returns 1 and fills *out if it was tracked, 0 otherwise).  If the
 * real realloc fails, reattach(b) puts the entry back unchanged.  If it succeeds,
 * commit_realloc(b or NULL, newptr, size, node, line, kind) counts b as freed by its site
 * and newptr as a new allocation of size bytes at the current site (realloc = free +
 * alloc, as tracemalloc counts it). */
int pf_memtrack_detach(pf_memtrack *mt, const void *old, pf_memtrack_block *out);
void pf_memtrack_reattach(pf_memtrack *mt, const pf_memtrack_block *b);
void pf_memtrack_commit_realloc(pf_memtrack *mt, const pf_memtrack_block *b,
                                const void *newptr, size_t size, uint32_t node, uint32_t line,
                                unsigned kind);

/* Single-threaded convenience: detach(old) + commit_realloc(...).  old may be NULL. */
void pf_memtrack_on_realloc(pf_memtrack *mt, const void *old, const void *newptr,
                            size_t size, uint32_t node, uint32_t line, unsigned kind);

/* PyTraceMalloc_Track / Untrack, reported by libraries (numpy reports every data buffer).
 * The rule that keeps them from double counting what the allocator hooks saw:
 *   on_report(ptr, size, node, line): if ptr is tracked already (its block, or inside a
 *       mapped range: its allocation was seen), nothing; else ptr becomes a block of size
 *       bytes at site (node, line, PF_MEM_REPORTED).  Returns 1 if it was recorded.
 *   on_unreport(ptr): removes ptr's block only if a report created it (its site's kind is
 *       PF_MEM_REPORTED), counting it freed; a block whose allocation was seen waits for
 *       its own free.  Returns 1 if removed.
 * So numpy's realloc path (realloc, seen; Untrack(old) if it moved: no-op, old is gone or
 * not a report; Track(new): no-op, tracked) and its free (Untrack: no-op; free, seen)
 * count each buffer once, and a buffer from an allocator we do not see is counted from
 * its report to its unreport (or a free that we see). */
int pf_memtrack_on_report(pf_memtrack *mt, const void *ptr, size_t size,
                          uint32_t node, uint32_t line);
int pf_memtrack_on_unreport(pf_memtrack *mt, const void *ptr);

/* An anonymous mapping [addr, addr + len) made at site (node, line, kind): any recorded
 * range it overlaps is cut first (its bytes counted freed: MAP_FIXED replaced them), then
 * the range is recorded as one allocation of len bytes.  Out of memory: as on_alloc. */
void pf_memtrack_on_map(pf_memtrack *mt, const void *addr, size_t len,
                        uint32_t node, uint32_t line, unsigned kind);
/* [addr, addr + len) was unmapped: every recorded range it overlaps loses the overlap,
 * credited as freed to that range's site; a hole splits a range in two, both keeping its
 * site (no new allocation is counted).  Returns the bytes removed (0: nothing recorded
 * there, counted as an unknown free). */
uint64_t pf_memtrack_on_unmap(pf_memtrack *mt, const void *addr, size_t len);

/* Whole-run numbers. */
typedef struct pf_memtrack_totals {
    uint64_t live_bytes;          /* traced bytes live now */
    uint64_t peak_live_bytes;     /* the maximum of live_bytes over the run */
    uint64_t live_blocks;         /* tracked blocks (and mapped ranges) live now */
    uint64_t peak_live_blocks;    /* the most tracked blocks live at any time */
    uint64_t alloc_bytes, alloc_count, free_bytes;   /* sums over all sites */
    uint64_t unknown_frees;       /* frees of pointers that were not tracked (ignored) */
    uint64_t profiler_bytes;      /* memory memtrack itself holds now */
    uint64_t profiler_peak_bytes; /* the most it held at any time */
    uint64_t peak_native_bytes;   /* of peak_live_bytes, the bytes of native sites (every kind
                                     but PF_MEM_PYTHON) live at the peak moment: exact */
    uint64_t native_live_bytes;   /* of live_bytes, native */
    uint64_t native_alloc_bytes;  /* of alloc_bytes, native */
    uint32_t nsites;
    int out_of_memory;            /* sticky: recording stopped because a table could not grow */
    pf_mem unattributed;          /* sites with node == PF_MEM_NONE (no frame of the collector) */
} pf_memtrack_totals;

void pf_memtrack_get_totals(const pf_memtrack *mt, pf_memtrack_totals *out);

/* Number of distinct sites, and site i's key and counters (peak_bytes resolved to its live
 * bytes at the moment of the latest peak, exit_bytes = live now).  i < nsites. */
uint32_t pf_memtrack_nsites(const pf_memtrack *mt);
void pf_memtrack_site(const pf_memtrack *mt, uint32_t i, uint32_t *node, uint32_t *line,
                      pf_mem *out);
/* Site i's kind (enum pf_mem_kind).  i < nsites. */
unsigned pf_memtrack_site_kind(const pf_memtrack *mt, uint32_t i);

/* One line's INCLUSIVE counters, from pf_memtrack_result. */
typedef struct pf_memtrack_line {
    uint32_t code;                /* the caller's code id, as given in code[] */
    uint32_t line;                /* line number in that code */
    pf_mem mem;
} pf_memtrack_line;

/* Folds the sites into the collector's records.  The tree, for node ids n < nnodes:
 *   parent[n]     n's parent node id, or any value >= nnodes for a top-level node;
 *   code[n]       the code id of n (dense ids of the caller's choosing), or PF_MEM_NONE
 *                 for a node without lines (a C function);
 *   call_line[n]  the line number in parent[n]'s code that called n; 0 if unknown.
 * Outputs:
 *   node_mem[n]   := SELF counters of node n: the sum over sites (n, *).
 *   *lines        := a new array of *nlines records, one per (code, line) that allocated:
 *       INCLUSIVE counters, the sum over every site whose stack runs that line, each site
 *       counted once per line even under recursion.  Site (n, l) runs line l of code[n]
 *       (the innermost frame's line; skipped if l == 0 or code[n] == PF_MEM_NONE) and,
 *       for each node m on the path from n to its top-level ancestor, line call_line[m] of
 *       code[parent[m]].  Free it with pf_memtrack_lines_free.
 * Sites whose node is >= nnodes (PF_MEM_NONE: unattributed) are left out of both (see
 * totals.unattributed).  node_mem may be NULL; lines may be NULL (not computed), and so
 * may code (no lines), parent and call_line (only innermost lines).  A parent cycle is cut
 * after nnodes steps.  Returns 0, or -1 when out of memory (*lines NULL). */
int pf_memtrack_result(const pf_memtrack *mt, uint32_t nnodes, const uint32_t *parent,
                       const uint32_t *code, const uint32_t *call_line, pf_mem *node_mem,
                       pf_memtrack_line **lines, uint32_t *nlines);
void pf_memtrack_lines_free(pf_memtrack_line *lines);

#endif
