/* html_model.h: what the HTML report shows, computed once from a trace: per-function
 * totals (recursion counted once), per-file totals, per-line statistics merged over
 * the code objects of a file, the hottest lines, and which files pass --limit and
 * --threshold.  The renderers (html.c, html_source.c) only format this.
 *
 * Ownership: a model borrows its trace (which must outlive it) and owns its arrays.
 */
#ifndef PF_HTML_MODEL_H
#define PF_HTML_MODEL_H

#include <stdint.h>

#include "formats/error.h"
#include "formats/trace.h"

/* One function (code object) with calls or line data. */
typedef struct pf_html_func {
    uint32_t code;           /* trace code index */
    uint32_t file;           /* index into model files; PF_NONE for natives */
    uint64_t calls;          /* sum over its calling contexts */
    uint64_t self_ns;        /* sum of self time */
    uint64_t cum_ns;         /* total time of outermost activations only, so a recursive
                                function's time is counted once (as cProfile does) */
    uint64_t alloc_bytes;    /* self allocations (MEMORY mode) */
    uint32_t process;        /* traces with several processes: the first process (index
                                in trace processes) it ran in, PF_NONE if none */
    uint32_t nprocesses;     /* how many processes it ran in (0 for one-process traces) */
} pf_html_func;

/* One source line of a file, merged over every code object that reports it
 * (a function and the comprehensions or lambdas on its lines). */
typedef struct pf_html_line {
    uint32_t line;
    uint64_t hits;           /* sum */
    uint64_t self_ns;        /* sum: self times never overlap */
    uint64_t total_ns;       /* max: inclusive times of codes sharing a line nest (the
                                comprehension runs inside its line), so a sum would
                                count the inner time twice; each at most its code's
                                cum_ns (a recursive call's line counts recursion once) */
    pf_mem mem;              /* field-wise max, for the same reason (inclusive) */
} pf_html_line;

typedef struct pf_html_file {
    uint32_t path;           /* string id of co_filename */
    uint32_t source;         /* index into trace sources, PF_NONE when not embedded */
    uint64_t self_ns;        /* self time of its functions (of its lines without calls data) */
    uint64_t calls;          /* calls of its functions */
    uint64_t alloc_bytes;    /* self allocations of its functions */
    pf_html_line *lines;     /* sorted by line number */
    uint32_t nlines;
    uint32_t *funcs;         /* indices into model funcs, by first line */
    uint32_t nfuncs;
    int shown;               /* passes --limit and --threshold */
    int open;                /* shown unfolded by default: one of the files that hold
                                most of the self time (see pf_html_model_new) */
} pf_html_file;

/* A reference to one line of one file (for the "hottest lines" list). */
typedef struct pf_html_lineref {
    uint32_t file;           /* index into model files */
    uint32_t line;           /* index into that file's lines */
} pf_html_lineref;

#define PF_HTML_HOT_LINES 10
/* Files open by default: the hottest ones until they hold this share of the self time
 * of the shown files, at most PF_HTML_OPEN_FILES of them, always at least one. */
#define PF_HTML_OPEN_PCT 80
#define PF_HTML_OPEN_FILES 5

typedef struct pf_html_model {
    const pf_trace *trace;   /* borrowed */
    uint64_t total_ns;       /* what 100% means: time in the top-level calls of all
                                threads (falls back to line self times, then duration) */
    pf_html_func *funcs;     /* sorted by cumulative time, descending */
    uint32_t nfuncs;
    uint32_t *func_of_code;  /* trace code index -> index into funcs, or PF_NONE */
    pf_html_file *files;     /* sorted by self time, descending, then path */
    uint32_t nfiles;
    uint32_t nshown;         /* files with shown set */
    uint64_t hidden_ns;      /* self time of the files that are not shown */
    pf_html_lineref hot[PF_HTML_HOT_LINES];   /* hottest lines by self time, shown files */
    uint32_t nhot;
    pf_html_lineref hot_time[PF_HTML_HOT_LINES]; /* the same by time including calls */
    uint32_t nhot_time;
    uint32_t nopen;          /* files with open set */
    int has_lines;           /* the trace has line records */
    int has_memory;          /* meta.modes has PF_MODE_MEMORY */
} pf_html_model;

/* Builds the model of t.  limit: keep only the N hottest files (0 = all);
 * threshold_pct: hide files with less self time than this share of the total
 * (0 = none).  Returns NULL with err set when out of memory. */
pf_html_model *pf_html_model_new(const pf_trace *t, uint32_t limit, double threshold_pct,
                                 pf_error *err);
/* NULL-safe. */
void pf_html_model_free(pf_html_model *m);

/* The display form of a file name: path relative to the longest sys.path entry or the
 * working directory it lies under, unless full is set.  Returns a pointer into path. */
const char *pf_html_short_path(const pf_trace *t, const char *path, int full);

#endif
