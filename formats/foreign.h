/* foreign.h: other profilers' files read as pyflame-c traces, so every command (svg,
 * convert, diff, html) takes them as it takes a trace.
 *
 *  - pstats files (marshal, formats/marshal_read.h): cProfile, profiling.tracing,
 *    profile, yappi's "pstat" export.  A pstats file keeps per-function totals and
 *    caller -> callee edges, not stacks, so the calling-context tree is rebuilt from
 *    the caller graph, as flameprof and snakeviz do: from each function no one calls,
 *    every callee gets the share of its totals that the edge's cumulative time is of
 *    the callee's (its call count when no time was measured), scaled by its caller's
 *    share.  Recursive edges (a function already on the path) are not followed, depth
 *    stops at PF_FOREIGN_MAX_DEPTH, branches under 1 ns and half a call are dropped,
 *    and at most PF_FOREIGN_MAX_NODES nodes are made.  meta.origin says the stacks are
 *    an approximation; per-function totals (convert -f text) are the file's own.
 *  - speedscope JSON (formats/json.h): py-spy, pyinstrument and speedscope itself.
 *    Each profile becomes a thread: "evented" profiles replay their open/close events
 *    (a frame's self time is the time it spent on top; calls count its opens),
 *    "sampled" profiles add each sample's weight to its stack (calls count samples).
 *    A frame named "[self]" without a file is pyinstrument's stand-in for its parent's
 *    own time: that time goes to the parent, and no node or call is made for it.
 *    Weights in nanoseconds, microseconds, milliseconds or seconds become ns; other
 *    units ("none", "bytes") are kept as numbers in the time fields, and meta.origin
 *    says so.
 * One thread per profile, one code per frame or function; meta.argv holds the file's
 * own name for the profile when it has one. */
#ifndef PF_FOREIGN_H
#define PF_FOREIGN_H

#include "error.h"
#include "input.h"
#include "trace.h"

#define PF_FOREIGN_MAX_DEPTH 256
#define PF_FOREIGN_MAX_NODES 2000000u

/* Reads a pstats file or a speedscope JSON file (kind PF_INPUT_PSTATS or
 * PF_INPUT_SPEEDSCOPE, from pf_input_sniff) from in into a new trace, whose model and
 * input stay within in's decoding budget.  NULL with err set: the marshal or JSON
 * reader's errors, PF_EPARSE for a file of the right syntax but the wrong shape
 * ("pstats entry 3: the value is not a (cc, nc, tt, ct, callers) tuple"), PF_EEMPTY
 * for a profile without functions, PF_ELIMIT, PF_ENOMEM. */
pf_trace *pf_foreign_read_input(pf_input *in, int kind, pf_error *err);

/* The same from a buffer (tests, fuzzers). */
pf_trace *pf_foreign_read_mem(const void *data, size_t len, int kind, pf_error *err);

#endif
