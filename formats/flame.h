/* flame.h: a merged stack tree ("flame tree"): every distinct stack prefix is one node
 * with the sum of the counts at or below it.  Built from collapsed lines (any
 * profiler) or from a pyflame-c trace; consumed by `convert -f collapsed` (which walks
 * it back into folded lines) and by the SVG renderer.
 *
 * Memory is proportional to the number of distinct frames, not to the input length.
 * Children are found through one hash table keyed by (parent, name id).
 */
#ifndef PF_FLAME_H
#define PF_FLAME_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "collapsed.h"
#include "error.h"
#include "strtab.h"
#include "trace.h"

typedef struct pf_flame_node {
    uint32_t name;            /* string id in flame->names; the root's name is "all" */
    uint32_t parent;          /* PF_NONE for the root */
    uint32_t first_child;     /* PF_NONE if none; siblings in insertion order */
    uint32_t next_sibling;
    double total;             /* inclusive value: self + children */
    double self;
    double total2, self2;     /* second column (differential input), else 0 */
    /* Only when built from a trace (else 0 / PF_NONE): */
    uint64_t calls;
    uint64_t self_ns;
    uint64_t total_ns;
    uint32_t code;            /* trace code index of this frame, PF_NONE for threads/root */
    uint32_t line;            /* source line the frame name points at, 0 if none */
} pf_flame_node;

typedef struct pf_flame {
    pf_strtab *names;
    pf_flame_node *nodes;     /* nodes[0] is the root */
    uint32_t nnodes;
    int has_count2;           /* some input line had a second count */
    int from_trace;           /* built by pf_flame_from_trace */
    /* private: child hash table and capacity follow in the implementation */
    struct pf_flame_private *priv;
} pf_flame;

/* What value a trace-built tree carries (the collapsed count of a stack is the self
 * value of its leaf).  Memory metrics need a PF_MODE_MEMORY trace. */
enum pf_metric {
    PF_METRIC_SELF_TIME = 0,  /* self time; unit chosen by the caller (see pf_frame_opts) */
    PF_METRIC_CALLS,
    PF_METRIC_ALLOC_BYTES,
    PF_METRIC_ALLOC_COUNT,
    PF_METRIC_PEAK_BYTES,
    PF_METRIC_EXIT_BYTES
};

enum pf_granularity {
    PF_GRAN_FUNCTION = 0,     /* "qualname (path:first_line)"; call sites merged */
    PF_GRAN_LINE              /* a frame per call-site line: "qualname (path:line)" */
};

typedef struct pf_frame_opts {
    enum pf_metric metric;
    enum pf_granularity granularity;
    int full_paths;           /* keep co_filename whole instead of shortening it */
    double time_unit_ns;      /* SELF_TIME divisor: 1 = ns, 1000 = us (default when 0) */
} pf_frame_opts;

/* Returns an empty tree (just the root), or NULL when out of memory. */
pf_flame *pf_flame_new(void);
/* NULL-safe. */
void pf_flame_free(pf_flame *f);

/* Adds one stack ("a;b;c", stack_len bytes) with its counts.  Empty frames (";;")
 * are kept as empty names, as flamegraph.pl does.  Returns 0 or -1 (OOM). */
int pf_flame_add_stack(pf_flame *f, const char *stack, size_t stack_len,
                       double count, double count2);

/* Parses collapsed text into a new tree (see collapsed.h for opts).  Returns NULL with
 * err set on failure; input with no stacks fails with PF_EEMPTY. */
pf_flame *pf_flame_from_collapsed(const char *buf, size_t len,
                                  const pf_collapsed_opts *opts, pf_error *err);

/* Builds a tree from a trace: one root child per thread (named after the thread), then
 * the calling-context tree with frames named per opts.  NULL with err set on failure. */
pf_flame *pf_flame_from_trace(const pf_trace *t, const pf_frame_opts *opts, pf_error *err);

/* The display name of a code object, "qualname (short/path.py:line)".  path is shortened
 * relative to the longest matching meta.path entry or meta.cwd unless full_paths.
 * Natives are just their label.  Writes at most cap bytes (NUL-terminated) and returns
 * the length it needed (like snprintf). */
size_t pf_frame_name(const pf_trace *t, uint32_t code, uint32_t line, int full_paths,
                     char *buf, size_t cap);

/* The one path-shortening rule of every report (collapsed frames, text, HTML): returns
 * a pointer into file (borrowed) just past the longest directory among meta.path,
 * meta.cwd and the script's folder that contains it, or file itself when none does
 * (relative names and pseudo-files like "<string>" are kept whole).  *outlen (if not
 * NULL) gets the remaining length. */
const char *pf_path_short(const pf_trace *t, const char *file, size_t len, size_t *outlen);

/* Writes the tree back as folded lines, one per node with a non-zero self value, in a
 * deterministic order (children sorted by name).  Returns 0 or -1 with err set. */
int pf_flame_write_collapsed(const pf_flame *f, FILE *out, pf_error *err);

/* ---- Additions (flame.c owner): appended after the original contract. ----
 *
 * Conventions of the trees built above, for consumers:
 *  - pf_flame_from_collapsed / _file: frames are the raw bytes between ';' (may hold
 *    spaces, quotes, '<', '&', control bytes, invalid UTF-8: renderers escape them).
 *    Trailing blanks and '\r' of a line are not part of the last frame.  Both reserve
 *    address space for about one node per 128 input bytes up front (pages are only
 *    touched as nodes are added; big arrays ask for transparent huge pages): the 258 MB
 *    benchmark file (1.47 M nodes) loads in about 0.6 CPU-seconds and 160 MB.  Build a tree once and walk it: the
 *    nodes array is final once a loader returns (pf_flame_add_stack may move it).
 *  - pf_flame_from_trace: nodes[0] "all" > one frame per thread > the calls.  A thread
 *    frame is the thread's name; when several threads share a name each becomes
 *    "name [ident]" (ident = threading.get_ident()); a nameless one "thread <ident>".
 *    Thread frames have code PF_NONE, calls = top-level calls, total_ns = their sum.
 *  - SELF_TIME: value = self_ns / time_unit_ns (default 1000: microseconds) as a
 *    double, computed from the exact nanosecond sums, so the tree keeps sub-unit
 *    precision (12.345 us) for renderers; the collapsed writer rounds it to integers
 *    (see below).  time_unit_ns = 1 gives exact integer nanoseconds.  Other metrics
 *    are exact integers.
 *  - PF_GRAN_FUNCTION: a frame per function under each parent frame, named
 *    pf_frame_name(code, first_line); call sites of one function merge (values,
 *    calls, self_ns and total_ns add up).  line = first_line.
 *  - PF_GRAN_LINE (py-spy --lines style): a caller's frame names the line it called
 *    from.  For trace node N with parent P, N's frames hang under P's frame
 *    "qual(P) (path:N.call_line)" (first_line when call_line is 0); N's own self
 *    value sits in a frame "qual(N) (path:first_line)" beside the frames of the lines
 *    N calls from.  So a function with self time that calls from two lines appears as
 *    three siblings.  Extras: a call-site frame has calls / total_ns = the sums over
 *    the calls made from that line and self_ns 0; a self frame has N's calls, self_ns
 *    and total_ns = self_ns.  line = the line in the name; natives never show a line.
 *  - Memory metrics need meta.modes & PF_MODE_MEMORY (else PF_EUSAGE); a trace
 *    without call records fails with PF_EEMPTY.
 *  - pf_flame_write_collapsed writes each frame with ';' replaced by ',' and '\n',
 *    '\r' by '?', so every output line is one "stack count"; differential trees
 *    (has_count2) get both columns on every line.  Siblings are ordered by their
 *    bytes as written.  Counts (see pf_flame_write_collapsed_counts):
 *      trees built from a trace: integers, always.  speedscope's importer only
 *        matches "(.*) (\d+)$" and silently drops other lines, and inferno
 *        truncates fractions, so microseconds are not written as "12.345".  Values
 *        are carry-rounded in output order: each line prints
 *        round(running sum after it) - round(running sum before it), so every
 *        line is within 1 of its exact value and all lines add up to the exact
 *        total rounded.  A stack whose count rounds to 0 is left out (its time is
 *        carried into the next line).  Exact integers (ns, calls, bytes) print as
 *        they are.
 *      trees built from collapsed text: the input's own values, exactly: integers
 *        without a decimal point, others as the shortest decimal (15-17 significant
 *        digits) that reads back to the same double, never an exponent (a sum that
 *        overflowed to infinity prints as DBL_MAX).  Output read back and written
 *        again gives the same bytes (if two sibling names differ only in replaced
 *        bytes, "a;b" vs "a,b", their lines collide and merge on the way back).
 */

/* Like pf_flame_from_collapsed, but reads the stream in 1 MiB chunks, so memory stays
 * proportional to the tree (plus the longest line), not to the input.  Line numbers
 * in messages count from the start of the stream.  Returns NULL with err set
 * (PF_EIO on a read error, PF_EEMPTY for no stacks). */
pf_flame *pf_flame_from_collapsed_file(FILE *in, const pf_collapsed_opts *opts, pf_error *err);

/* Relinks every sibling list in name byte order (unsigned bytes, a prefix first; the
 * bytes as pf_flame_write_collapsed writes them), the order flamegraph.pl draws and
 * pf_flame_write_collapsed writes.  0, or -1 (PF_ENOMEM; the tree is unchanged). */
int pf_flame_sort(pf_flame *f, pf_error *err);

/* How pf_flame_write_collapsed_counts prints counts. */
enum pf_counts {
    PF_COUNTS_AUTO = 0,       /* INTEGER for trees from a trace, else EXACT (the default) */
    PF_COUNTS_EXACT,          /* the values as they are, fractions included */
    PF_COUNTS_INTEGER         /* carry-rounded integers (see above) */
};

/* pf_flame_write_collapsed with an explicit count format.  0, or -1 with err set. */
int pf_flame_write_collapsed_counts(const pf_flame *f, FILE *out, enum pf_counts mode,
                                    pf_error *err);

#endif
