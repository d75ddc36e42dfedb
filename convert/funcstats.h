/* funcstats.h: per-function and per-edge statistics with cProfile's exact semantics,
 * derived from a trace's calling-context tree.  Shared by `convert -f pstats` (which
 * marshals them) and `convert -f text` (which prints them as a table).
 *
 * A function is a pstats key (co_filename, co_firstlineno, co_name); natives are
 * ('~', 0, label).  Codes sharing a key (two lambdas on one line, jinja2's `root` of a
 * child and a base template) are one function, as pstats' own add() and strip_dirs()
 * make colliding keys.  cProfile itself differs here: its snapshot_stats assigns
 * stats[key] once per code object, so only one of them survives (which one depends on
 * memory addresses).  The numbers (see convert/PSTATS_FORMAT.md section 2):
 *   nc  every call;  cc  calls made while no other activation of the same key was open;
 *   tt  self time of every call;  ct  inclusive time of the outermost activations only;
 *   per caller->callee edge the same four, with "recursive" meaning another activation
 *   of the same (caller key -> callee key) edge is open, like _lsprof's sub-entries.
 * Recursion is judged per key, so codes of one key that nest count as recursion and
 * ct never exceeds the run; with one code per key (every program without same-label
 * functions) that is _lsprof's per-code rule, and the counts are cProfile's exactly.
 */
#ifndef PF_FUNCSTATS_H
#define PF_FUNCSTATS_H

#include <stdint.h>

#include "formats/error.h"
#include "formats/trace.h"

typedef struct pf_fkey {
    const char *file;        /* borrowed from the trace; "~" for natives */
    size_t file_len;
    uint32_t line;           /* co_firstlineno; 0 for natives */
    const char *name;        /* co_name, or the native's label (borrowed) */
    size_t name_len;
    uint32_t code;           /* the first code with this key (for its qualname) */
    uint32_t file_id;        /* dense id of the distinct file text, < nfiles */
    uint64_t nc, cc;         /* calls, primitive calls */
    uint64_t tt_ns, ct_ns;   /* tottime, cumtime */
    pf_mem mem;              /* sum of the self counters of its nodes (memory traces) */
    uint32_t first_caller;   /* callers are edges[first_caller .. first_caller+ncallers) */
    uint32_t ncallers;
} pf_fkey;

typedef struct pf_fedge {
    uint32_t caller, callee; /* key indices */
    uint64_t nc, cc;
    uint64_t tt_ns, ct_ns;
} pf_fedge;

typedef struct pf_funcstats {
    pf_fkey *keys;           /* in order of first appearance in the trace's codes */
    uint32_t nkeys;
    pf_fedge *edges;         /* grouped by callee, callers in key order within a group */
    uint32_t nedges;
    uint32_t nfiles;
    uint64_t total_nc, total_cc, total_tt_ns;
} pf_funcstats;

/* Derives the statistics of every code that the trace's nodes use (keys of codes no
 * node uses get nc == 0).  Memory is O(nodes + codes).  Returns a new object (free with
 * pf_funcstats_free) or NULL with err set (out of memory, or a node whose parent or
 * code index is out of range -- PF_ECORRUPT). */
pf_funcstats *pf_funcstats_build(const pf_trace *t, pf_error *err);
/* The same for the calls made on threads[first_thread .. first_thread + nthreads)
 * only (one process's threads, see pf_process): the keys are the whole trace's, those
 * of functions not called there have nc == 0.  O(nodes + codes), as above. */
pf_funcstats *pf_funcstats_build_threads(const pf_trace *t, uint32_t first_thread,
                                         uint32_t nthreads, pf_error *err);
/* NULL-safe. */
void pf_funcstats_free(pf_funcstats *s);

#endif
