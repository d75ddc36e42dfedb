/* callgrind.h: `convert -f callgrind`, the callgrind profile format
 * (valgrind.org/docs/manual/cl-format.html) that KCachegrind, QCachegrind and
 * callgrind_annotate read.
 *
 * Positions are lines.  Events, one per metric: Time (nanoseconds of the trace clock)
 * and, for memory traces, AllocBytes, AllocCount and PeakBytes (bytes live at the
 * run's peak).  Each function (code object; natives in file "~", as pstats names them)
 * gets its self costs: at its first line, or with --granularity line and a trace
 * recorded with collect --lines, at the lines that spent them (line self time; what the
 * lines do not account for stays on the first line, so the sums are the trace's).
 * Each caller -> callee pair and call line gets a call record: calls=COUNT and the
 * callee's inclusive costs over its outermost activations (a recursive call's costs
 * are already in the outer one, so inclusive costs never exceed the run).  The
 * "totals:" line is the sum of every self cost. */
#ifndef PF_CALLGRIND_H
#define PF_CALLGRIND_H

#include <stdio.h>

#include "formats/error.h"
#include "formats/stacktree.h"
#include "formats/trace.h"

/* Writes t in callgrind format; opts gives granularity and full_paths (NULL: the
 * defaults).  0, or -1 with err set (PF_ENOMEM, PF_EIO, PF_ECORRUPT, PF_EEMPTY). */
int pf_callgrind_write(const pf_trace *t, const pf_stack_opts *opts, FILE *out, pf_error *err);

#endif
