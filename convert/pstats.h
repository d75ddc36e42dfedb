/* pstats.h: writes a trace's call statistics as a cProfile/pstats file, the format
 * `python -m cProfile -o` writes and pstats.Stats(path), snakeviz and gprof2dot read:
 * one marshal (version 4) dict  {(file, line, name): (cc, nc, tt, ct, callers)}
 * with callers = {(file, line, name): (nc, cc, tt, ct)}, times in float seconds.
 * Numbers follow cProfile exactly (see funcstats.h).  Filenames and key tuples are
 * written once and back-referenced (marshal FLAG_REF) to keep files small.
 */
#ifndef PF_PSTATS_H
#define PF_PSTATS_H

#include <stdio.h>

#include "convert/funcstats.h"
#include "formats/error.h"

/* Writes s as a pstats file to out.  Functions with no calls are left out; if no
 * function has calls, fails with PF_EEMPTY (pstats refuses an empty dict).
 * Returns 0 or -1 with err set (PF_EEMPTY, PF_ENOMEM, PF_EIO). */
int pf_pstats_write(const pf_funcstats *s, FILE *out, pf_error *err);

/* The same for a sampled trace (PF_MODE_SAMPLES; times are samples x interval_ns), in
 * the layout of CPython 3.15's profiling.sampling: cc the samples a function was
 * innermost in, nc those it was on the stack in (recursion once), tt and ct the times
 * they stand for, callers {caller: samples through that call} (ints, which pstats
 * reads as the legacy format).  marker: add the key ("__sampled__",) with value True,
 * by which 3.15's pstats.Stats loads it as SampledStats (pstats before 3.15 cannot
 * load a file with it).  0 or -1 as above. */
int pf_pstats_write_sampled(const pf_funcstats *s, uint64_t interval_ns, int marker,
                            FILE *out, pf_error *err);

/* Same into a pf_malloc'd buffer the caller frees with pf_free (for tests). */
int pf_pstats_write_mem(const pf_funcstats *s, unsigned char **data, size_t *len,
                        pf_error *err);

#endif
