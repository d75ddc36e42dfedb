/* svg_tree.h: the frame tree the SVG renderer draws.  Like formats/flame.h it merges
 * stacks into one node per distinct prefix, but it is built for rendering:
 *   - it is fed one stack at a time, so collapsed input streams through in chunks and
 *     memory depends on the number of distinct frames, never on the input length;
 *   - it can merge like a flame chart (a stack only joins the *last* child of each
 *     node, so x keeps input/time order) as well as like a flame graph (by name);
 *   - it can be re-rooted (--base) and reversed (--reverse) into a new tree;
 *   - trees from traces carry per-frame call counts, times and source locations.
 * Every node's parent has a smaller index, so one forward pass visits parents first.
 */
#ifndef PF_SVG_TREE_H
#define PF_SVG_TREE_H

#include <stddef.h>
#include <stdint.h>

#include "formats/error.h"
#include "formats/flame.h"
#include "formats/strtab.h"
#include "formats/trace.h"

typedef struct pf_svg_node {
    uint32_t name;            /* id in tree->names; the root is "all" */
    uint32_t parent;          /* PF_NONE for the root */
    uint32_t first_child;     /* PF_NONE if none; siblings in insertion order */
    uint32_t last_child;
    uint32_t next_sibling;
    double total, self;       /* inclusive and own value (first count column) */
} pf_svg_node;

/* The second count column of differential input, parallel to nodes. */
typedef struct pf_svg_diff {
    double total2, self2;
} pf_svg_diff;

/* Only for trees built from a trace (tree->extra != NULL). */
typedef struct pf_svg_extra {
    uint64_t calls;
    uint64_t self_ns;
    uint64_t total_ns;
    uint32_t code;            /* trace code index, PF_NONE for thread and root frames */
    uint32_t line;            /* line the frame name points at, 0 if none */
} pf_svg_extra;

typedef struct pf_svg_tree {
    pf_strtab *names;
    pf_svg_node *nodes;       /* nodes[0] is the root */
    uint32_t nnodes;
    pf_svg_extra *extra;      /* parallel to nodes, or NULL */
    pf_svg_diff *diff;        /* parallel to nodes once a stack had a second count, else NULL */
    const pf_trace *trace;    /* borrowed: source paths for tooltips/palette, or NULL */
    int has_count2;           /* some stack had a second count */
    int chart;                /* merges like a flame chart */
    int finished;             /* totals and child links are up to date */
    struct pf_svg_tree_priv *priv;
} pf_svg_tree;

/* The second-column values of node i (0 without differential input). */
static inline double pf_svg_total2(const pf_svg_tree *t, uint32_t i)
{
    return t->diff ? t->diff[i].total2 : 0;
}
static inline double pf_svg_self2(const pf_svg_tree *t, uint32_t i)
{
    return t->diff ? t->diff[i].self2 : 0;
}

/* A tree holding just the root.  chart != 0 selects flame-chart merging.  NULL on OOM. */
pf_svg_tree *pf_svg_tree_new(int chart);
/* NULL-safe.  Does not free the borrowed trace. */
void pf_svg_tree_free(pf_svg_tree *t);

/* Adds stack[0..len) ("a;b;c", frames split at ';', empty frames kept) with its counts
 * (count2 < 0 means "no second column").  reverse adds the frames leaf first.
 * Only the leaf's self value is updated: call pf_svg_tree_finish before reading
 * totals or children.  Returns 0, or -1 with err set (out of memory, or more than
 * 2^32-2 frames). */
int pf_svg_tree_add(pf_svg_tree *t, const char *stack, size_t len, double count,
                    double count2, int reverse, pf_error *err);

/* Computes every total from the self values and links each node's children (in
 * creation order).  Idempotent; trees returned by the functions below are finished. */
void pf_svg_tree_finish(pf_svg_tree *t);

/* Copies a flame tree (from formats/flame.h), keeping the trace details when it was
 * built from a trace (pass that trace, borrowed, or NULL).  NULL with err set. */
pf_svg_tree *pf_svg_tree_from_flame(const pf_flame *f, const pf_trace *trace, pf_error *err);

/* True when frame name[0..len) matches --base FUNC: the whole name, or the part before
 * " (" (so "main" matches "main (app.py:3)"), or the function part of "path:func:line". */
int pf_svg_name_matches(const char *name, size_t len, const char *func);

/* --base: a new tree holding, under a new root, every subtree whose root is the first
 * frame on its path that matches func; values are merged by name.  Fails with
 * PF_EEMPTY when no frame matches. */
pf_svg_tree *pf_svg_tree_rebase(const pf_svg_tree *t, const char *func, pf_error *err);

/* --reverse for trees that did not come from stacks (traces): a new tree of every
 * leaf-to-root path weighted by its node's self value.  Trace details are dropped. */
pf_svg_tree *pf_svg_tree_reversed(const pf_svg_tree *t, pf_error *err);

#endif
