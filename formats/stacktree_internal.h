/* stacktree_internal.h: builder primitives of the stack tree for formats/diff_stacks.c,
 * which combines several inputs, several runs and two sides in one tree (not a public
 * API: consumers use stacktree.h).  They trade the public functions' checks for speed:
 * the caller keeps the tree's invariants (stacktree.c, at the top). */
#ifndef PF_STACKTREE_INTERNAL_H
#define PF_STACKTREE_INTERNAL_H

#include <stdint.h>

#include "stacktree.h"

/* Gives t a second count column (all zero) if it has none.  0, or -1 when out of
 * memory. */
int pf_stacktree_want_count2_(pf_stacktree *t);

/* The self value of node i in count column col (1, or 2 when t has two). */
static inline double pf_stacktree_col_(const pf_stacktree *t, uint32_t i, int col)
{
    return col == 1 ? t->nodes[i].self : pf_stacktree_self2(t, i);
}

/* Sets it, without range checks (the caller moves or combines values the tree already
 * held); call pf_stacktree_values_changed_ after a batch of them. */
void pf_stacktree_set_col_(pf_stacktree *t, uint32_t i, int col, double v);

/* Recounts the sums that pf_stacktree_add checks new counts against, and marks the tree
 * unfinished. */
void pf_stacktree_values_changed_(pf_stacktree *t);

/* Every node's totals in both columns, from the self values, without linking or
 * sorting siblings (much cheaper than pf_stacktree_finish, which is still needed
 * before reading links). */
void pf_stacktree_totals_(pf_stacktree *t);

/* rank[name id]: the name's place in the order pf_stacktree_finish puts siblings in
 * (their bytes).  A new array (the caller frees it), or NULL when out of memory. */
uint32_t *pf_stacktree_name_ranks_(const pf_stacktree *t);

/* Appends a child of parent named name (an id of t's names) that the caller knows is
 * not there yet, without a lookup; the child index is dropped, to be rebuilt by the
 * next lookup (pf_stacktree_child*).  The node index, or PF_NONE when out of memory or
 * for a bad parent or name. */
uint32_t pf_stacktree_append_(pf_stacktree *t, uint32_t parent, uint32_t name);

/* Frees the child index and the path hashes (a third of a big tree's memory) when no
 * lookup is coming; the next lookup rebuilds them.  0, or -1 when out of memory (the
 * tree is unchanged). */
int pf_stacktree_drop_index_(pf_stacktree *t);

/* Visit order, so a tree built from several inputs can be put back in the node order
 * one input alone would have given it (floating-point totals then add up in the same
 * order, bit for bit): while on, each node a builder reaches (pf_stacktree_add, the
 * loaders, pf_stacktree_add_trace, pf_stacktree_child*) gets the next rank the first
 * time.  Turning it on forgets earlier ranks; off keeps them.  0, or -1 when out of
 * memory. */
int pf_stacktree_track_visits_(pf_stacktree *t, int on);
/* The ranks (PF_NONE: not reached) of nodes [0, t->nnodes), borrowed until the tree
 * changes; *count = the number of nodes reached. */
const uint32_t *pf_stacktree_visits_(const pf_stacktree *t, uint32_t *count);
/* The same array, which the caller now owns (ranks of nodes [0, t->nnodes)); tracking
 * stops. */
uint32_t *pf_stacktree_detach_visits_(pf_stacktree *t);

/* Moves node i to index to[i], or drops it when to[i] is PF_NONE: to[] must send the
 * root to 0, the kept nodes onto [0, n_new), and every kept node after its parent (whose
 * subtree is kept).  The nodes sent below m must keep their order (they move down in
 * place); those sent to [m, n_new) are gathered in a buffer of that size, which with m
 * 0 (any order) becomes the new arrays, in the memory the child index held.  Remaps
 * parents; frees the child index (rebuilt by the next lookup) and the visit ranks.
 * Totals and links are stale: finish after.  0, or -1 when out of memory or for a tree
 * that cannot be reordered (a chart or a rebased tree); the tree is then unchanged but
 * for its index. */
int pf_stacktree_permute_(pf_stacktree *t, const uint32_t *to, uint32_t n_new, uint32_t m);

#endif
