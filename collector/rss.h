/* rss.h: the process's resident set size over time (issue 15), sampled by the snapshot
 * thread (collector/snapshot.c) without the GIL, so sampling goes on while the program
 * holds it; read when a trace is built (a snapshot, or stop) into an RSS record.
 * Plain C (no Python.h): tests/test_rss.c drives it directly.
 *
 * Rate and memory.  A sample every PF_RSS_INTERVAL_NS (20 ms: mprof's default is 100 ms;
 * finer shows the short spikes a profile run is about, and a read of /proc/self/statm
 * costs a few microseconds, under 0.05% of a core).  At most PF_RSS_MAX samples are
 * kept: when full, every other one is dropped and the interval doubles, so the first
 * 41 s keep 20 ms, an hour about 2.6 s, and the buffer never grows.
 *
 * The peak is the kernel's high-water mark of this process's memory (VmHWM in
 * /proc/self/status), which catches spikes between samples; getrusage's ru_maxrss is
 * the fallback where VmHWM cannot be read (it is not preferred: Linux carries it across
 * exec, so a child exec'd from a big process would report its parent's peak).
 *
 * Thread safety: the sampler and a build on another thread meet only under the
 * record's mutex (a few stores per sample; a build copies the samples under it).
 */
#ifndef PF_COLLECTOR_RSS_H
#define PF_COLLECTOR_RSS_H

#include <stdint.h>

#include "formats/trace.h"

#define PF_RSS_INTERVAL_NS 20000000u
#define PF_RSS_MAX 2048u

typedef struct pf_rss_rec pf_rss_rec;

/* A new, empty record whose times count from mono_start (CLOCK_MONOTONIC ns), or
 * NULL when out of memory. */
pf_rss_rec *pf_rss_new(uint64_t mono_start);
/* Frees it.  NULL-safe.  Its sampler must be stopped. */
void pf_rss_free(pf_rss_rec *r);

/* When the next sample is due (CLOCK_MONOTONIC ns).  Only for the sampling thread. */
uint64_t pf_rss_due(const pf_rss_rec *r);
/* Reads the RSS now and stores it as the sample at mono_now (no-op if unreadable). */
void pf_rss_take(pf_rss_rec *r, uint64_t mono_now);
/* Stores bytes as the sample at mono_now (>= the previous one's), halving the
 * resolution first when the buffer is full. */
void pf_rss_add(pf_rss_rec *r, uint64_t mono_now, uint64_t bytes);

/* Appends to t an RSS record for process (an index in t->processes): the samples so
 * far and a last one at mono_now, the value now as final, the peak.  0, or -1 when
 * out of memory (t unchanged). */
int pf_rss_emit(pf_rss_rec *r, pf_trace *t, uint32_t process, uint64_t mono_now);

/* Samples held and the current interval, for tests. */
uint32_t pf_rss_count(pf_rss_rec *r, uint64_t *interval_ns);

/* The resident set size now (/proc/self/statm), 0 when unknown. */
uint64_t pf_rss_now(void);
/* The peak resident set size (VmHWM, else ru_maxrss), 0 when unknown. */
uint64_t pf_rss_peak(void);

#endif
