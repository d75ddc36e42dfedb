/* snapshot.h: keeps a recent copy of the session on disk while the program runs, so
 * that a process that dies without writing its trace (SIGKILL, a crash, the OOM killer)
 * still leaves what it recorded up to a recent moment, and writes a last, complete one
 * when SIGTERM or SIGHUP ends it.  Internal to the extension.
 *
 * A C thread of ours (with a Python thread state of its own, made once, but no
 * threading.Thread; it runs no Python code, so no event fires for it) wakes every
 * interval, takes the GIL, and writes pf_session_write_snapshot to the session's path, marked
 * PF_FLAG_CUT_SHORT (the final write at stop replaces it).  Intervals stretch so that
 * snapshots cost at most about 2% of the run (a big tree takes longer to write), and a
 * snapshot is skipped while nothing was called since the last one.
 *
 * RSS.  Under collect (the session has a process record) the same thread also wakes
 * every PF_RSS_INTERVAL_NS between snapshots to sample the process's resident set
 * size into the session (collector/rss.h), without taking the GIL, so sampling goes
 * on while the program holds it.  pyflame.start() sessions (no process record) and
 * sessions without snapshots record no RSS.
 *
 * Terminating signals.  With term set, SIGTERM and SIGHUP, where their disposition is
 * the default (the program did not choose one), get a C handler that Python does not
 * see: signal.getsignal() still says SIG_DFL, and a handler the program installs
 * replaces ours.  The handler wakes the thread, which writes a last snapshot (marked
 * with the signal, not cut short) and then re-raises the signal with the default
 * disposition, so the process dies of it as under plain Python.  If the GIL cannot be
 * had within PF_SNAPSHOT_TERM_MS (a long C call that holds it), a timer re-delivers the
 * signal and the process dies at once, with the last periodic snapshot on disk.  In a
 * forked child (until the child starts its own session) the handler re-raises at once.
 */
#ifndef PF_COLLECTOR_SNAPSHOT_H
#define PF_COLLECTOR_SNAPSHOT_H

#include "collector/session.h"

/* How long a terminating signal may wait for the last snapshot. */
#define PF_SNAPSHOT_TERM_MS 100

/* Starts snapshots of s every interval_s seconds (> 0), and with term the signal
 * handlers above.  Call with the GIL held, s being pf_active.  0, or -1 with a Python
 * exception set. */
int pf_snapshot_start(pf_session *s, double interval_s, int term);

/* Stops the thread and waits for it (the GIL is released meanwhile); the signal
 * handlers stay, so that a SIGTERM that comes while the final trace is written waits
 * for it (at most PF_SNAPSHOT_TERM_MS).  Call with the GIL held, before the session's
 * final build.  No-op when not started or already stopped. */
void pf_snapshot_stop(void);

/* The terminating signal received so far and not acted on (0 if none). */
int pf_snapshot_pending(void);

/* After the final write: gives SIGTERM/SIGHUP back their default disposition where our
 * handler still holds them, and dies of a signal that came meanwhile, as plain Python
 * would have.  Also stops the thread if that was not done.  No-op when not started. */
void pf_snapshot_end(void);

/* In a forked child: the thread does not exist here; forget it without waiting. */
void pf_snapshot_forget(void);

#endif
