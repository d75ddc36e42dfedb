/* diff.h: the comparison model of `pyflame-c diff`: what a change did to calls, time
 * and memory, computed once from two sets of runs (BASE and NEW, one or more each)
 * and read by every output (convert/diffout.h: text, JSON, Markdown; render/: the
 * differential SVG and the per-line HTML).
 *
 * Inputs are pyflame-c traces or collapsed stacks from any profiler (one kind for
 * both sides).  Several runs per side are reduced to their median, metric by metric,
 * function by function, line by line and frame by frame (a run without a function
 * counts 0 for it), so timing noise of one run does not decide.
 *
 * Matching.  A function is (qualified name, file); its first line only breaks ties
 * between functions of one name in one file (exact line first, then in line order),
 * so a function that moved within its file is still itself.  A file present only in
 * BASE and one present only in NEW that share most of their function names are a
 * renamed or moved file: their functions match across the rename, and the pair is
 * listed (as are files that vanished or appeared).  Frames of the stack trees match
 * by the same rule on their names ("qual (path:line)", "path:func:line"; a thread
 * "name [ident]", a process "pid N: command" and austin's "P4242" ignore ident and pid,
 * and austin's "T0:4242" pairs in order).  Lines match
 * within a matched function through a text alignment of its two bodies
 * (textdiff.h), taken from the sources embedded in the traces; without sources, by
 * their offset from the function's first line.
 *
 * Metrics: every one both sides have.  Deterministic counters (calls, line hits,
 * allocations) are exact; times are medians when several runs are given.
 *
 * Refusal: traces whose modes (calls, lines, memory), clock kind (wall or CPU) or
 * Python major.minor version differ are not compared (PF_EMISMATCH naming both),
 * unless opts.force; then pf_diff.forced describes what differed.  Traces and
 * collapsed stacks are never compared with each other (PF_EMISMATCH).
 *
 * Ownership: a pf_diff owns its strings, tables and stack tree.  It keeps the first
 * trace of each side (pf_diff_add_trace takes ownership of every trace given), whose
 * embedded sources the HTML renderer reads.
 */
#ifndef PF_DIFF_H
#define PF_DIFF_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "input.h"
#include "stacktree.h"
#include "strtab.h"
#include "trace.h"

/* Per-function (and per-line) metrics, deterministic counters first: outputs list
 * them in this order.  For lines PF_DM_CALLS holds the line's hits. */
#define PF_DM_LIST(X)                                                         \
    X(PF_DM_CALLS,        "calls",        "calls")                            \
    X(PF_DM_ALLOC_COUNT,  "alloc-count",  "allocations")                      \
    X(PF_DM_ALLOC_BYTES,  "alloc-bytes",  "bytes allocated")                  \
    X(PF_DM_PEAK_BYTES,   "peak-bytes",   "bytes live at the peak")           \
    X(PF_DM_EXIT_BYTES,   "exit-bytes",   "bytes live at exit")               \
    X(PF_DM_SELF_TIME,    "self-time",    "self time")                        \
    X(PF_DM_TIME,         "time",         "time including calls")             \
    X(PF_DM_SELF_SAMPLES, "self-samples", "self samples")                     \
    X(PF_DM_SAMPLES,      "samples",      "samples including callees")

#define PF_DM_ENUM_(code, name, words) code,
enum pf_dm { PF_DM_LIST(PF_DM_ENUM_) PF_DM_COUNT };
#undef PF_DM_ENUM_

/* Names ("calls") and words ("bytes allocated") of the metrics, by enum pf_dm. */
extern const char *const pf_dm_names[PF_DM_COUNT];
extern const char *const pf_dm_words[PF_DM_COUNT];
/* Nonzero for times (ns), 2 for bytes, 0 for counts. */
int pf_dm_unit(enum pf_dm m);
#define PF_DM_UNIT_COUNT 0
#define PF_DM_UNIT_NS 1
#define PF_DM_UNIT_BYTES 2

/* Run-level totals (the headline). */
#define PF_DT_LIST(X)                                                         \
    X(PF_DT_WALL,        "wall",              "wall time")                    \
    X(PF_DT_CALLS,       "total-calls",       "calls")                        \
    X(PF_DT_TIME,        "total-time",        "profiled time")                \
    X(PF_DT_ALLOC_BYTES, "total-alloc-bytes", "bytes allocated")              \
    X(PF_DT_ALLOC_COUNT, "total-alloc-count", "allocations")                  \
    X(PF_DT_PEAK,        "peak",              "peak memory")                  \
    X(PF_DT_EXIT_BYTES,  "total-exit-bytes",  "bytes live at exit")           \
    X(PF_DT_RSS,         "rss",               "peak RSS")                     \
    X(PF_DT_SAMPLES,     "total-samples",     "samples")

#define PF_DT_ENUM_(code, name, words) code,
enum pf_dt { PF_DT_LIST(PF_DT_ENUM_) PF_DT_COUNT };
#undef PF_DT_ENUM_

extern const char *const pf_dt_names[PF_DT_COUNT];
extern const char *const pf_dt_words[PF_DT_COUNT];
int pf_dt_unit(enum pf_dt m);

enum pf_diff_side {
    PF_DIFF_BASE = 0,
    PF_DIFF_NEW = 1,
    PF_DIFF_BOTH_SIDES = 2    /* pf_diff_add_stacks_input: a file of two count columns
                                 ("stack before after", difffolded.pl's output) is one
                                 run of each side */
};

enum pf_diff_status {
    PF_DIFF_BOTH = 0,         /* in both runs */
    PF_DIFF_ADDED,            /* only in NEW */
    PF_DIFF_VANISHED          /* only in BASE */
};

/* One function, matched or not.  Strings are the model's (pf_diff_str). */
typedef struct pf_diff_func {
    uint32_t name;            /* qualified name (a native's label; a collapsed frame's
                                 function part) */
    uint32_t file;            /* NEW's file (BASE's when vanished); "" for natives */
    uint32_t base_file;       /* BASE's file when it differs (a renamed file), else file */
    uint32_t line[2];         /* first line per side (0: absent, native, unknown) */
    uint32_t code[2];         /* code index in the side's first trace, PF_NONE if none */
    uint32_t status;          /* enum pf_diff_status */
    int native;
    double v[2][PF_DM_COUNT]; /* per side: medians of the metrics (0 when absent) */
    uint32_t first_line_row;  /* its rows in lines[]: [first_line_row, +nline_rows) */
    uint32_t nline_rows;
} pf_diff_func;

/* One line row of a function: a line of BASE and/or NEW. */
typedef struct pf_diff_line {
    uint32_t func;            /* index in funcs */
    uint32_t line[2];         /* line number per side, 0 when the row has none */
    uint32_t kind;            /* enum pf_td_kind (textdiff.h): EQUAL, CHANGED, DELETED
                                 (BASE only), INSERTED (NEW only); EQUAL also when
                                 matched without sources */
    int has_data;             /* some metric is nonzero on some side */
    double v[2][PF_DM_COUNT]; /* hits in [PF_DM_CALLS], times, memory; 0 if none */
} pf_diff_line;

/* A renamed or moved file (BASE path -> NEW path), or a file of one side only. */
typedef struct pf_diff_file {
    uint32_t path[2];         /* per side, PF_NONE when absent */
    uint32_t nfuncs;          /* functions matched across a rename; functions of the
                                 file otherwise */
} pf_diff_file;

typedef struct pf_diff_opts {
    int force;                /* compare traces that differ in mode, clock or Python */
    enum pf_metric metric;    /* the stack trees' metric (traces) */
    int normalize;            /* stacks: BASE's values scaled to NEW's total */
    int no_stacks;            /* traces: skip the stack tree (text, JSON, Markdown only) */
    int no_tables;            /* skip functions and lines (only the SVG is wanted):
                                 funcs, lines and files stay empty */
    int no_vanished_frame;    /* do not add the frame of vanished stacks */
} pf_diff_opts;

void pf_diff_opts_init(pf_diff_opts *o);

/* The name of the frame that holds, under the root, what vanished from BASE (when an
 * input has a root frame of that name already: that name and " (2)", " (3)", ...). */
#define PF_DIFF_VANISHED_FRAME "[only in BASE: vanished stacks]"

typedef struct pf_diff {
    pf_diff_opts opts;
    int traces;               /* inputs are traces (else collapsed stacks) */
    uint32_t nruns[2];
    const pf_trace *trace[2]; /* first trace of each side (owned), NULL for stacks */
    pf_strtab *strings;       /* every name and path of the model */
    int has[PF_DM_COUNT];     /* metrics both sides have */
    int has_total[PF_DT_COUNT];
    double total[2][PF_DT_COUNT];
    pf_diff_func *funcs;      /* BOTH (by name), then ADDED, then VANISHED */
    uint32_t nfuncs;
    pf_diff_line *lines;      /* grouped by function, in line order */
    uint32_t nlines;
    pf_diff_file *files;      /* renamed pairs first, then vanished, then new files */
    uint32_t nfiles, nrenamed;
    int has_sources;          /* lines were aligned by source text (some function) */
    /* The differential stack tree (unless opts.no_stacks): count = BASE, count2 = NEW
     * (medians; with normalize, BASE scaled by norm_factor), NEW's frame names; under
     * the root, vanished_node (PF_NONE if nothing vanished) holds every stack found
     * only in BASE, with BASE's values in both columns, each at the path it had; in
     * its place stays a leaf of its total (BASE's only: NEW's 0 draws nothing). */
    pf_stacktree *stacks;
    uint32_t vanished_node;
    double norm_factor;       /* 1 unless normalized */
    char forced[512];         /* with force: what differed ("" when nothing did) */
    char warning[512];        /* differences allowed without force (Python patch level) */
    char clock[2][64];        /* clock words per side ("wall time", "CPU time ...") */
    char python[2][64];       /* python version per side, "" when unknown */
    struct pf_diff_priv *priv;
} pf_diff;

/* An empty comparison.  NULL when out of memory. */
pf_diff *pf_diff_new(const pf_diff_opts *opts);
/* NULL-safe; frees the traces it holds. */
void pf_diff_free(pf_diff *d);

/* Adds one run to side (PF_DIFF_BASE or PF_DIFF_NEW).  Takes ownership of t in every
 * case (freed on error, or once its data is extracted, unless it is the side's first).
 * label names it in messages.  Fails with PF_EMISMATCH when the inputs are of
 * different kinds, or (without force) of different modes, clocks or Pythons: the
 * message names both labels and what differs.  0, or -1 with err set; after an error
 * d can only be freed. */
int pf_diff_add_trace(pf_diff *d, int side, pf_trace *t, const char *label, pf_error *err);

/* Adds one run of collapsed stacks to side (PF_DIFF_BASE or PF_DIFF_NEW), streamed from
 * in (chunk as for pf_stacktree_load: 0 for the default) straight into the comparison's
 * tree; or, with side PF_DIFF_BOTH_SIDES, one run of each side from a file whose every
 * line has two counts, before (BASE) and after (NEW).  Its frames match by the same
 * rule as two files': a side has the frames of the stacks where its count is not 0,
 * so a frame whose line moved (two stacks, one count 0 in each) is one frame.  copts:
 * strict mode and the malformed-line callback.  Fails with PF_EMISMATCH after traces,
 * PF_EPARSE for a line with two counts given as one side or with one count given as
 * both, and as pf_stacktree_load_input fails.  0, or -1 with err set; after an error d
 * can only be freed. */
int pf_diff_add_stacks_input(pf_diff *d, int side, pf_input *in, size_t chunk,
                             const pf_collapsed_opts *copts, const char *label, pf_error *err);

/* The same from a one-column tree (ownership passes to d in every case: it is freed
 * once its values are copied).  PF_EPARSE for a tree with two count columns. */
int pf_diff_add_stacks(pf_diff *d, int side, pf_stacktree *t, const char *label,
                       pf_error *err);

/* Computes the medians, matches functions, files, lines and frames.  Each side needs
 * a run.  0, or -1 with err set. */
int pf_diff_finish(pf_diff *d, pf_error *err);

/* The model's string id (borrowed; "" for PF_NONE or a bad id), its length in *len. */
const char *pf_diff_str(const pf_diff *d, uint32_t id, size_t *len);

/* The change of a metric as a ratio (new - base) / base: +0.05 for 5% more.  Base 0:
 * +INFINITY when new > 0, 0 when both are 0. */
double pf_diff_ratio(double base, double now);

/* The source text of function f on side s (its body: the lines from its first line
 * to its end), from the side's first trace: *text points at the first line's start,
 * *len covers the body, *first_line is its number.  0, or -1 when the trace embeds
 * no source for the file or the lines are out of range. */
int pf_diff_func_source(const pf_diff *d, uint32_t f, int s, const char **text, size_t *len,
                        uint32_t *first_line);

#endif
