/* stacktree.h: the merged stack tree of pyflame-c.  Every distinct stack prefix is one
 * node holding its own ("self") value and the sum at or below it ("total").  It is
 * built from collapsed stacks (any profiler's folded text, streamed in chunks) or from
 * a pyflame-c trace, and read by `convert -f collapsed` (pf_stacktree_write_collapsed),
 * the SVG renderer and, later, diff and the exporters.
 *
 * How a tree is shaped is decided once, by pf_stack_opts: merged by name or in chart
 * (input/time) order, reversed, rebased at a function, thread frames as roots, and
 * for traces the metric, the granularity and frame naming.  Builders apply all of it,
 * so consumers only walk the result.
 *
 * Ownership: a tree owns its nodes and names; a tree built from a trace borrows the
 * trace (t->trace) and must be freed before it.  Memory is proportional to the number
 * of distinct frames, never to the input length: 40 bytes per node (the node and its
 * path hash), plus 16 for differential input and 32 for trees built from traces, plus
 * the child index (pf_hmap, 21 to 43 bytes per node).
 */
#ifndef PF_STACKTREE_H
#define PF_STACKTREE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "collapsed.h"
#include "error.h"
#include "input.h"
#include "strtab.h"
#include "trace.h"

/* ---- options ------------------------------------------------------------------------ */

/* How siblings merge and in which order pf_stack_node.first_child/next_sibling list them. */
enum pf_stack_order {
    PF_ORDER_NAME = 0,        /* flame graph: same-named siblings merge; siblings are listed
                                 in name byte order (unsigned bytes, a prefix first) */
    PF_ORDER_CHART            /* flame chart: a stack merges only with the last child of
                                 each node, so siblings keep input (time) order.  Traces
                                 hold no time order between calls: their frames merge by
                                 name and siblings keep first-call (trace node) order */
};

/* What value a trace-built tree carries (a stack's collapsed count is its leaf's self
 * value).  Memory metrics need a PF_MODE_MEMORY trace. */
enum pf_metric {
    PF_METRIC_SELF_TIME = 0,  /* self time, in units of time_unit_ns */
    PF_METRIC_CALLS,
    PF_METRIC_ALLOC_BYTES,
    PF_METRIC_ALLOC_COUNT,
    PF_METRIC_PEAK_BYTES,
    PF_METRIC_EXIT_BYTES
};

enum pf_granularity {
    PF_GRAN_FUNCTION = 0,     /* a frame per function: "qual (path:first_line)"; the call
                                 sites of one function under one parent merge */
    PF_GRAN_LINE              /* py-spy --lines style: a caller's frame names the line it
                                 called from (see pf_stacktree_from_trace) */
};

typedef struct pf_stack_opts {
    enum pf_stack_order order;
    int reverse;              /* every stack leaf first (icicle of callers) */
    const char *base;         /* borrowed; non-NULL: keep only what lies above the first
                                 frame on each path matching it (pf_stack_name_matches),
                                 re-rooted there and merged by name */
    double factor;            /* collapsed input: every count is multiplied by it (0: 1) */
    /* Trace input only: */
    int no_thread_roots;      /* 0: one root frame per thread (the default), under one
                                 frame per process when the trace has several; 1: the
                                 stacks of every thread and process merge directly under
                                 the root */
    enum pf_metric metric;
    enum pf_granularity granularity;
    int full_paths;           /* frame names keep co_filename whole */
    double time_unit_ns;      /* SELF_TIME divisor: 1 = ns, 1000 = us (the default, when 0) */
} pf_stack_opts;

/* The defaults: merged by name, not reversed, no base, factor 1, thread roots, self
 * time in microseconds, function granularity, short paths (all zero). */
void pf_stack_opts_init(pf_stack_opts *o);

/* ---- the tree ----------------------------------------------------------------------- */

typedef struct pf_stack_node {
    uint32_t name;            /* id in tree->names; the root is "all" */
    uint32_t parent;          /* PF_NONE for the root; always smaller than the node's own
                                 index, so one forward pass visits parents first */
    uint32_t first_child;     /* PF_NONE if none; siblings in the tree's order */
    uint32_t next_sibling;
    double self;              /* own value (first count column) */
    double total;             /* self + the children's totals */
} pf_stack_node;

/* Second count column of differential input ("stack before after"). */
typedef struct pf_stack_diff {
    double self2, total2;
} pf_stack_diff;

/* What a trace says about a frame (trees built by pf_stacktree_from_trace). */
typedef struct pf_stack_info {
    uint64_t calls;
    uint64_t self_ns;
    uint64_t total_ns;
    uint32_t code;            /* trace code index; PF_NONE for thread frames and the root */
    uint32_t line;            /* line the frame name points at, 0 if none */
} pf_stack_info;

/* The fields are read-only for consumers; only the functions below change a tree.
 * They are valid once a builder returned or pf_stacktree_finish succeeded. */
typedef struct pf_stacktree {
    pf_strtab *names;         /* frame names (byte strings, see "Names" below) */
    pf_stack_node *nodes;     /* nodes[0] is the root */
    uint32_t nnodes;
    pf_stack_diff *diff;      /* parallel to nodes when has_count2, else NULL */
    pf_stack_info *info;      /* parallel to nodes for trees from a trace (not reversed),
                                 else NULL */
    const pf_trace *trace;    /* borrowed: the trace a tree was built from, or NULL */
    int has_count2;           /* some stack had a second count */
    int from_trace;
    pf_stack_opts opts;       /* the options it was built with (base: borrowed) */
    struct pf_stacktree_priv *priv;
} pf_stacktree;

/* Second-column values of node i (0 without differential input). */
static inline double pf_stacktree_total2(const pf_stacktree *t, uint32_t i)
{
    return t->diff ? t->diff[i].total2 : 0;
}
static inline double pf_stacktree_self2(const pf_stacktree *t, uint32_t i)
{
    return t->diff ? t->diff[i].self2 : 0;
}
/* The name of node i (borrowed) and its length in *len (if not NULL). */
const char *pf_stacktree_name(const pf_stacktree *t, uint32_t i, size_t *len);

/* The most bytes pf_stacktree_write_collapsed can write for t: every line repeats its
 * whole stack, so a deep tree's output grows with the square of its depth, and callers
 * check this before writing.  UINT64_MAX with err set when out of memory. */
uint64_t pf_stacktree_collapsed_size(const pf_stacktree *t, pf_error *err);

/* A tree holding just the root, shaped by opts (NULL: the defaults; copied, base is
 * borrowed).  NULL when out of memory. */
pf_stacktree *pf_stacktree_new(const pf_stack_opts *opts);
/* NULL-safe.  Does not free the borrowed trace. */
void pf_stacktree_free(pf_stacktree *t);

/* ---- building from stacks ------------------------------------------------------------ */

/* Adds stack[0..len) ("a;b;c": frames split at ';', empty frames kept as empty names,
 * as flamegraph.pl does) with its counts, times opts.factor; count2 only counts when
 * has_count2.  Frames are added leaf first if opts.reverse.  Counts must be 0 or in
 * [1e-300, DBL_MAX / 2], and the counts of all stacks must add up to at most DBL_MAX
 * / 2, so no total overflows whatever the summation order: otherwise PF_ELIMIT
 * ("count ... is out of range", "counts add up to more than ...").  Only the leaf's
 * self value changes: call pf_stacktree_finish before reading totals or links.
 * Returns 0, or -1 with err set (the tree keeps the stacks added before). */
int pf_stacktree_add(pf_stacktree *t, const char *stack, size_t len, double count,
                     double count2, int has_count2, pf_error *err);

/* Node by node, for builders that copy or merge trees (diff): the child of node
 * parent (< nnodes) named name[0..len), created when missing.  Name merging only
 * (PF_EUSAGE for a chart or a rebased tree).  Values are added with
 * pf_stacktree_add_self; call pf_stacktree_finish before reading totals or links.
 * Returns the node index, or PF_NONE with err set (PF_ENOMEM, PF_EUSAGE). */
uint32_t pf_stacktree_child(pf_stacktree *t, uint32_t parent, const char *name, size_t len,
                            pf_error *err);

/* The same with a name id of t (from pf_stacktree_intern), for builders that add many
 * nodes of few names: no string is hashed per node. */
uint32_t pf_stacktree_child_id(pf_stacktree *t, uint32_t parent, uint32_t name, pf_error *err);
/* The id of name[0..len) among t's names, added if new; PF_NONE when out of memory. */
uint32_t pf_stacktree_intern(pf_stacktree *t, const char *name, size_t len);

/* Adds count (and count2, which gives the tree a second column, when has_count2) to
 * node i's self values, with pf_stacktree_add's range checks (PF_ELIMIT) but not
 * opts.factor.  0, or -1 with err set. */
int pf_stacktree_add_self(pf_stacktree *t, uint32_t i, double count, double count2,
                          int has_count2, pf_error *err);

/* Swaps the two count columns of every node (the tree gets a second column if it had
 * none: the first then becomes all zero), so a tree loaded as one column can become
 * the second column of a differential tree.  Call pf_stacktree_finish after.  0, or
 * -1 with err set (PF_ENOMEM). */
int pf_stacktree_swap_counts(pf_stacktree *t, pf_error *err);

/* Which names each input used, for callers that add several inputs to one tree and
 * must know the names of each (diff matches frames by the names each side has): after
 * pf_stacktree_track_names(t, 1), which forgets earlier marks, every name interned for
 * a node (by pf_stacktree_add, the loaders, pf_stacktree_add_trace, pf_stacktree_child,
 * pf_stacktree_intern) is marked until pf_stacktree_track_names(t, 0);
 * pf_stacktree_name_used says whether name id was.  Marking allocates a byte per name:
 * when that fails, the builder fails with PF_ENOMEM. */
void pf_stacktree_track_names(pf_stacktree *t, int on);
int pf_stacktree_name_used(const pf_stacktree *t, uint32_t id);

/* Computes every total, links siblings in the tree's order, and applies opts.base.
 * Fails with PF_EEMPTY when no frame matches the base (the tree is then unchanged),
 * PF_ENOMEM.  Idempotent; builders below return finished trees.  Adding stacks after
 * finishing is allowed (finish again), except to a rebased tree (PF_EUSAGE). */
int pf_stacktree_finish(pf_stacktree *t, pf_error *err);

/* Reads up to cap bytes into buf: returns the count, 0 at the end, or -1 with err set. */
typedef long (*pf_stack_read_fn)(void *ctx, char *buf, size_t cap, pf_error *err);

/* Streams collapsed text (collapsed.h) into t: reads chunks of about 1 MiB (chunk
 * bytes if not 0: tests put chunk boundaries anywhere), parses whole lines and adds
 * each good one, so memory holds the tree and the longest line, never the input.
 * copts (may be NULL) chooses strict mode and receives malformed lines with their
 * line numbers, counted from the start of the stream.  A NUL byte is always fatal:
 * PF_EPARSE "NUL byte in line N (binary data, not collapsed stacks); accepted are
 * ..." (PF_INPUT_KINDS_ACCEPTED).  Then finishes
 * the tree.  Returns the number of stacks added (> 0), or -1 with err set: PF_EEMPTY
 * for no stacks, PF_EIO/PF_ECORRUPT from rd, PF_EPARSE in strict mode, PF_ELIMIT
 * (see pf_stacktree_add: "line N: ..."). */
long pf_stacktree_load(pf_stacktree *t, pf_stack_read_fn rd, void *ctx, size_t chunk,
                       const pf_collapsed_opts *copts, pf_error *err);

/* pf_stacktree_load from the input reader (formats/input.h: file or stdin, plain or
 * gzip, with its truncation and trailing-garbage errors), window by window; chunk as
 * for pf_stacktree_load. */
long pf_stacktree_load_input(pf_stacktree *t, pf_input *in, size_t chunk,
                             const pf_collapsed_opts *copts, pf_error *err);

/* pf_stacktree_load_input for one input of several in one tree (diff): with column 1
 * or 2, each line's count goes to that count column (2 gives the tree a second
 * column), and a line with two counts is an error (PF_EPARSE "line N has two
 * counts ..."); with column 0, every line must have two counts ("stack before
 * after"), which fill both columns (PF_EPARSE "line N has one count ...").  Unlike
 * the loaders above it does not finish the tree:
 * call pf_stacktree_finish once every input is in.  Returns the number of stacks added,
 * or -1 with err set as pf_stacktree_load fails (PF_EUSAGE for a bad column). */
long pf_stacktree_load_input_column(pf_stacktree *t, pf_input *in, size_t chunk, int column,
                                    const pf_collapsed_opts *copts, pf_error *err);

/* A new tree (shaped by opts, may be NULL) from collapsed text buf[0..len).  NULL with
 * err set, as pf_stacktree_load fails. */
pf_stacktree *pf_stacktree_from_collapsed(const char *buf, size_t len, const pf_stack_opts *opts,
                                          const pf_collapsed_opts *copts, pf_error *err);

/* ---- building from a trace ---------------------------------------------------------- */

/* A finished tree of trace t (borrowed: free the tree first), shaped by opts (NULL:
 * the defaults).  nodes[0] "all" > one frame per thread > the calls.  A thread frame is
 * the thread's name; several threads of one process sharing a name become "name
 * [ident]", a nameless one "thread <ident>".  Thread frames have code PF_NONE, calls =
 * top-level calls and total_ns = their sum; the root's total_ns is the sum of the
 * frames under it.  A trace with several processes (nprocesses > 1) gets one more
 * level: "all" > one frame per process, named pf_trace_process_label ("pid 4242:
 * python3 worker.py", with " [k]", its process index, when two share a label) > its
 * threads' frames > the calls; process frames have code PF_NONE and the sums of their
 * threads' calls and total_ns.  A thread no process claims stays under the root.
 *  - SELF_TIME: value = self_ns / time_unit_ns as a double from the exact nanosecond
 *    sums (12.345 us keeps its fraction); other metrics are exact integers.
 *  - PF_GRAN_FUNCTION: frames named pf_frame_name(code, first_line); call sites of one
 *    function under one parent merge (values, calls and times add up); line = first_line.
 *  - PF_GRAN_LINE: for trace node N with parent P, N's frames hang under P's frame
 *    "qual(P) (path:N.call_line)" (first_line when call_line is 0); N's self value
 *    sits in a frame "qual(N) (path:first_line)" beside the frames of the lines N
 *    calls from.  A call-site frame has calls / total_ns = the sums over the calls
 *    made from that line and self_ns 0; a self frame has N's calls and self_ns, and
 *    total_ns = self_ns.  Natives never show a line.
 *  - opts.reverse: a tree of every leaf-to-root path weighted by its node's self value,
 *    built in time linear in the input and output trees (however deep the stacks);
 *    info is then NULL.  Under PF_ORDER_NAME it may also hold nodes of value 0 (the
 *    paths of frames without a value), which renderers do not draw and the collapsed
 *    writer does not write.  Then opts.base applies.
 * Fails (NULL, err set) with PF_EUSAGE for memory metrics without memory data or bad
 * enum values, PF_EEMPTY without call records or when the base matches nothing,
 * PF_ECORRUPT for bad references or call counts / times that overflow 64 bits,
 * PF_ENOMEM. */
pf_stacktree *pf_stacktree_from_trace(const pf_trace *t, const pf_stack_opts *opts,
                                      pf_error *err);

/* Adds trace t's stacks to tree f, as pf_stacktree_from_trace would make them at
 * function granularity (f->opts: thread roots, metric, time unit, frame naming), frames
 * merging by name with those f has, and their values to count column `column` (1, or 2
 * which gives f a second column).  A frame's value is summed over its call records
 * before it is added (exactly, in nanoseconds, for self time), so it equals the value
 * pf_stacktree_from_trace gives the frame.  No per-frame trace details (f->info) are
 * kept.  f must be a name-merged tree, not reversed or rebased (PF_EUSAGE).  Call
 * pf_stacktree_finish before reading totals.  0, or -1 with err set: PF_EUSAGE for a
 * memory metric without memory data, PF_EEMPTY without call records, PF_ECORRUPT for
 * bad references or self times that overflow 64 bits, PF_ELIMIT (see
 * pf_stacktree_add_self), PF_ENOMEM; f then keeps what was added. */
int pf_stacktree_add_trace(pf_stacktree *f, const pf_trace *t, int column, pf_error *err);

/* ---- reading ------------------------------------------------------------------------ */

/* True when frame name[0..len) matches --base FUNC: the whole name, the part before
 * " (" (so "main" matches "main (app.py:3)"), or the function part of "path:func:line". */
int pf_stack_name_matches(const char *name, size_t len, const char *func);

/* How pf_stacktree_write_collapsed prints counts. */
enum pf_counts {
    PF_COUNTS_AUTO = 0,       /* INTEGER for trees from a trace, else EXACT */
    PF_COUNTS_EXACT,          /* the values as they are: integers without a decimal point,
                                 others as the shortest decimal (15-17 significant digits)
                                 that reads back to the same double, never an exponent */
    PF_COUNTS_INTEGER         /* carry-rounded integers: each line prints round(running sum
                                 after it) - round(running sum before it), so every line is
                                 within 1 of its exact value and all add up to the exact
                                 total rounded; a line that rounds to 0 is left out.
                                 (speedscope drops lines with fractions, inferno truncates) */
};

/* Writes one folded line per node with a non-zero self value, stacks sorted by their
 * bytes as written, so the same tree always gives the same bytes.  Each frame is
 * written with ';' replaced by ',' and '\n', '\r' by '?', so every line is one
 * "stack count"; differential trees get both columns on every line.  Read back and
 * written again, the output gives the same bytes.  Output size grows with the sum of
 * the nodes' depths.  Returns 0, or -1 with err set (PF_EIO, PF_ENOMEM). */
int pf_stacktree_write_collapsed(const pf_stacktree *t, FILE *out, enum pf_counts mode,
                                 pf_error *err);

/* ---- names of frames ---------------------------------------------------------------- */
/* Collapsed frames are the raw bytes between ';' (they may hold spaces, quotes, '<',
 * '&', control bytes, invalid UTF-8: renderers escape them); trailing blanks and '\r'
 * of a line are not part of the last frame.  Trace frames are named by framename.h. */

#endif
