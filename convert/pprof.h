/* pprof.h: `convert -f pprof`, a gzipped profile.proto (github.com/google/pprof,
 * proto/profile.proto) for `go tool pprof`, Grafana Pyroscope and Parca.
 *
 * One sample per calling context of the trace (its stack, leaf first), with values
 *   calls/count, wall/nanoseconds (cpu/nanoseconds for collect --clock cpu),
 *   and for memory traces alloc_space/bytes, alloc_objects/count, inuse_space/bytes
 *   (bytes live at the run's peak);
 * each the context's own (self) value, so pprof's flat and cumulative columns are
 * the trace's self and inclusive sums.  Labels: thread (name), thread_id, pid.
 * Functions carry name (qualname), system_name ("file:line(co_name)", pstats' key),
 * filename and start_line; locations a line: with --granularity line, a caller's
 * location is the line it called from; by default every location of a function is
 * its first line.  No mapping: Python code has no addresses. */
#ifndef PF_PPROF_H
#define PF_PPROF_H

#include <stdio.h>

#include "formats/error.h"
#include "formats/stacktree.h"
#include "formats/trace.h"

/* Writes t to out as a gzip-compressed profile.proto; opts gives granularity and
 * full_paths (NULL: the defaults).  0, or -1 with err set (PF_ENOMEM, PF_EIO,
 * PF_ECORRUPT for bad references, PF_EEMPTY for a trace without calls). */
int pf_pprof_write(const pf_trace *t, const pf_stack_opts *opts, FILE *out, pf_error *err);

#endif
