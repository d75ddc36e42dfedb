/* hook.c: what the two event sources (hook_profile.c, hook_monitoring.c) share: the
 * active session, attaching a thread to it, finding a thread's threading.Thread. */
#include "collector/hook.h"

#include "collector/names.h"

pf_session *pf_active = NULL;

pf_tstate *pf_hook_attach_current(void)
{
    if (pf_active == NULL)
        return NULL;
    pf_tstate *ts = pf_tstate_create(pf_active);
    if (ts != NULL)
        pf_hook_find_thread(ts);
    return ts;
}

void pf_hook_find_thread_slow(pf_tstate *ts)
{
    ts->name_tries--;
    pf_memhook_suspend();          /* its objects are ours, not the program's */
    ts->thread = pf_thread_object(ts->ident);
    pf_memhook_resume();
}
