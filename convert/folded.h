/* folded.h: `convert -f collapsed`, the folded-stack text flamegraph.pl, inferno and
 * speedscope read: one line per distinct stack "thread;f1;f2;...;fn VALUE", threads as
 * root frames.  The tree and the writer are formats/stacktree.h's; this module adds the
 * trace-level checks (memory metrics need a memory trace). */
#ifndef PF_FOLDED_H
#define PF_FOLDED_H

#include <stdint.h>
#include <stdio.h>

#include "formats/error.h"
#include "formats/stacktree.h"
#include "formats/trace.h"

/* Writes t folded, shaped by opts (metric, granularity, full_paths; SELF_TIME in units
 * of opts->time_unit_ns; NULL: the defaults).  Stacks are sorted, so the same trace
 * always gives the same bytes, and counts are carry-rounded integers.  Memory metrics
 * on a trace without PF_MODE_MEMORY fail with PF_EUSAGE.  When the output could take
 * more than max_output bytes (0: no limit) nothing is written and it fails with
 * PF_ELIMIT, saying how big the output would be and which option allows it.  Returns 0
 * or -1 with err set. */
int pf_folded_write(const pf_trace *t, const pf_stack_opts *opts, uint64_t max_output,
                    FILE *out, pf_error *err);

/* The default max_output: big enough for any ordinary profile, small enough that a deep
 * chain cannot fill a disk (a 514 KB trace of a 200,000-deep chain wrote 78 GiB). */
#define PF_FOLDED_MAX_OUTPUT ((uint64_t)4 << 30)

#endif
