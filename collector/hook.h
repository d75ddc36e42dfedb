/* hook.h: the event sources that feed a session: the C profile hook (3.8-3.11,
 * hook_profile.c) or sys.monitoring callbacks (3.12+, hook_monitoring.c); what they
 * share is in hook.c.  One session at a time per process. */
#ifndef PF_COLLECTOR_HOOK_H
#define PF_COLLECTOR_HOOK_H

#include "collector/session.h"

/* The session being recorded, or NULL. */
extern pf_session *pf_active;

/* Starts delivering events to s (which becomes pf_active): every thread started from
 * now on, and the calling thread unless defer_current (then it is attached paused,
 * see pf_hook_resume_current).  floor: install the same hooks doing nothing (the
 * benchmark's floor).  0, or -1 with a Python exception set (e.g. no free
 * sys.monitoring tool id). */
int pf_hook_install(pf_session *s, int defer_current, int floor);

/* Stops every event source; pf_active becomes NULL.  Threads that still have the
 * <=3.11 hook installed drop it at their next event.  Never fails. */
void pf_hook_uninstall(void);

/* Un-pauses / pauses the calling thread (0, or -1 with an exception). */
int pf_hook_resume_current(void);
void pf_hook_pause_current(void);

/* Selects code's lines for recording (the profile decorator), turning line events on
 * if needed.  No-op when not collecting.  Returns 0. */
int pf_hook_mark(PyObject *code);

/* In a forked child: stop every event source without touching the parent's data. */
void pf_hook_forget(void);

/* True if def is the event sources' own C function (<=3.11: the callable given to
 * threading.setprofile, which installs the C hook in each new thread). */
int pf_hook_is_ours(const PyMethodDef *def);

/* ---- shared by the event sources (hook.c) ---- */

/* Creates the calling thread's state in the active session.  Borrowed, or NULL. */
pf_tstate *pf_hook_attach_current(void);

/* Looks for the threading.Thread object of ts's thread while it is unknown (a few
 * tries: a new thread registers itself in threading early).  Never raises. */
void pf_hook_find_thread_slow(pf_tstate *ts);

PF_INLINE void pf_hook_find_thread(pf_tstate *ts)
{
    if (PF_UNLIKELY(ts->thread == NULL) && ts->name_tries)
        pf_hook_find_thread_slow(ts);
}

#endif
