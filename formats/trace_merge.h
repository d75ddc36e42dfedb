/* trace_merge.h: merging the traces of several runs into one summed trace, one input
 * at a time (`pyflame-c merge`).  pf_trace_merge (trace.h) keeps the processes of one
 * run side by side; this sums runs of the same program, from one machine or many:
 * equal calling contexts become one node whose calls, times and memory counters add
 * up, so the result costs what the merged tree costs, however many inputs.
 *
 *     pf_trace_sum *s = pf_trace_sum_new();
 *     for each input: t = read(...); pf_trace_sum_add(s, t, name, &err); pf_trace_free(t);
 *     pf_trace *out = pf_trace_sum_detach(s, &err);   (you now own out)
 *     pf_trace_sum_free(s);
 */
#ifndef PF_TRACE_MERGE_H
#define PF_TRACE_MERGE_H

#include "error.h"
#include "trace.h"

typedef struct pf_trace_sum pf_trace_sum;

/* An empty sum, or NULL when out of memory. */
pf_trace_sum *pf_trace_sum_new(void);
/* NULL-safe; frees the summed trace too unless it was detached. */
void pf_trace_sum_free(pf_trace_sum *s);

/* Adds part (not changed; the caller may free it right after) to the sum.  label names
 * it in messages.  What matches what:
 *   - processes: each part's first (the run's root, or the one process of a trace
 *     without process records) is the sum's first, whatever its arguments; the others
 *     by command line with its digits left out (descriptors, ports and pids differ
 *     from run to run) and, among a run's processes with equal commands, by order;
 *   - threads by name within their process (then by order among equal names);
 *   - nodes by parent, code (file, name, qualname, first line, kind) and call line;
 *   - lines by (code, line); sources by path (the first text is kept).
 * Calls, times, line hits and times, and memory counters add up.  A node's and a line's
 * peak_bytes are each input's own attribution at its own peak, added: runs have no
 * common moment.  Per process: calls and recorded durations add up, the peak is the
 * highest input's (the RSS record kept is that input's), pid, parent and command are
 * the first input's, the ending is the first abnormal one (else the first).  Meta: the
 * first input's, with durations, calls, dropped links, sample ticks and lost samples
 * added up, the peak (and its native share) of the input with the highest, flags
 * or-ed, gaps concatenated.  Fails with PF_EMISMATCH ("not mergeable: ...", both
 * inputs named) when part recorded other modes (calls, lines, memory, native,
 * samples) or another clock kind (wall or CPU) than the first input, or was sampled
 * at another rate or in another sample mode; PF_EUSAGE when part fails
 * pf_trace_validate or the sum was detached; PF_ENOMEM; PF_ELIMIT past 2^32-2 entries of a kind.  After a failure the
 * sum is unusable except for pf_trace_sum_free. */
int pf_trace_sum_add(pf_trace_sum *s, const pf_trace *part, const char *label, pf_error *err);

/* Finishes the sum: nodes in pre-order, each process's threads contiguous.  Returns
 * the trace (you now own it; it passes pf_trace_validate), or NULL with err set
 * (PF_EUSAGE when nothing was added, PF_ENOMEM). */
pf_trace *pf_trace_sum_detach(pf_trace_sum *s, pf_error *err);

/* Inputs added so far. */
uint32_t pf_trace_sum_count(const pf_trace_sum *s);

#endif
