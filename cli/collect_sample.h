/* collect_sample.h: `collect --sample`: a thread of the launcher that samples every
 * process of the run from outside (cli/sampler.h) while the program runs.  Each process's
 * collector, started in sample mode, records no event; it writes PID-NS.sample into the
 * session folder (collector/sampleinfo.h: the offsets to read it with), which this
 * thread picks up within 20 ms, and its usual PID-NS.trace (metadata, process record) at
 * the end, into which the samples of that process are grafted before the merge. */
#ifndef PF_CLI_COLLECT_SAMPLE_H
#define PF_CLI_COLLECT_SAMPLE_H

#include "cli/sampler.h"

typedef struct pf_collect_sampling pf_collect_sampling;

/* Starts sampling the processes that announce themselves in session, at hz in mode,
 * with the <native> marker when native (pf_sampler_set_native; a process whose file
 * has no call opcodes is warned about, once); frames of the runner (files under
 * pkgdir) below the program are left out.  NULL with a message on stderr. */
pf_collect_sampling *pf_collect_sampling_start(const char *session, const char *pkgdir,
                                               unsigned hz, enum pf_sample_mode mode,
                                               int native);

/* Stops the thread (after one last look for processes) and installs the session's part
 * hook that grafts the samples (pf_collect_session_set_part_hook).  Call before
 * pf_collect_session_finish. */
void pf_collect_sampling_stop(pf_collect_sampling *c);

/* Prints the sampler's own figures (CPU per sample, ticks missed) on stderr. */
void pf_collect_sampling_report(const pf_collect_sampling *c);

/* Removes the hook and frees everything.  NULL-safe. */
void pf_collect_sampling_free(pf_collect_sampling *c);

#endif
