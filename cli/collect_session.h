/* collect_session.h: the folder in which the processes of one `collect` run leave their
 * traces, and the step that turns them into the one trace the user asked for.
 *
 * Every profiled process (the program, and each child it forks or starts with
 * sys.executable) writes its own trace into the session folder, as PID-NS.trace (raw record streams): first
 * snapshots while it runs, then its final trace when it ends (collector/snapshot.h).
 * When the program has ended, `collect` reads them all, merges them (the program first,
 * then the others by start time), records how the program ended, and writes -o. */
#ifndef PF_CLI_COLLECT_SESSION_H
#define PF_CLI_COLLECT_SESSION_H

#include <sys/types.h>

#include "formats/trace.h"

/* Creates a new private session folder under $TMPDIR (else /tmp).  A malloc'd path, or
 * NULL with a message on stderr. */
char *pf_collect_session_new(void);

/* How the program ended, from waitpid. */
typedef struct pf_collect_end {
    pid_t pid;                /* the program's process */
    int status;               /* waitpid status */
} pf_collect_end;

/* Calls fn(ctx, name, t) on each process's trace right after it is read, name being
 * its file name without ".trace" (collect --sample grafts the samples of that process
 * into it: cli/collect_sample.h).  fn returns 0, or -1 after saying why on stderr (the
 * trace is then used as it is).  NULL fn: none. */
void pf_collect_session_set_part_hook(int (*fn)(void *ctx, const char *name, pf_trace *t),
                                      void *ctx);

/* Merges the session's traces into out (display: the name the summary shows), prints
 * the summary line and the warnings unless quiet, and removes the folder.  Returns 0 when
 * a trace was written, -1 when none could be (said on stderr). */
int pf_collect_session_finish(const char *dir, const char *out, const char *display,
                              const pf_collect_end *end, int quiet);

#endif
