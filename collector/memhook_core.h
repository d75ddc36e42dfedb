/* memhook_core.h: what the CPython allocator hooks (memhook.c) and the native allocator
 * hooks (nativehook.c) share -- the per-thread state, the tracker and the lock around it,
 * the recording flag -- so that both record into one tracker with one re-entrancy guard:
 * a native malloc made while a CPython hook of the same thread runs (or the reverse) is
 * passed through untracked, never counted twice.  Private to those two files; defined in
 * memhook.c.  The protocol of a hook:
 *
 *     struct pf_mh_tls *me = &pf_mh_tls;
 *     if (!pf_mh_want(me) || me->suspended)      (frees skip the suspended test)
 *         return real(...);
 *     me->busy++;
 *     ... the real call, then pf_mh_lock(); if (pf_mh_live()) memtrack...;
 *     pf_mh_unlock() ...
 *     me->busy--;
 *
 * The lock is held around table updates only, never around the real allocator call, and
 * a block is removed from the table before the real free gives its address back (see
 * memhook.c).
 */
#ifndef PF_COLLECTOR_MEMHOOK_CORE_H
#define PF_COLLECTOR_MEMHOOK_CORE_H

#include <stdatomic.h>

#include "collector/memhook.h"
#include "collector/memtrack.h"

struct pf_mh_tls {
    pf_mem_site site;                /* written by the collector, read by the hooks */
    int busy;                        /* inside a hook: nested calls pass through */
    int suspended;                   /* pf_memhook_suspend() depth */
};

/* initial-exec: a %fs-relative access instead of a __tls_get_addr call per use (the hooks
 * run on every allocation); 16 bytes fit easily in the static TLS surplus glibc keeps for
 * dlopen'ed modules (hook.c does the same). */
extern __thread struct pf_mh_tls pf_mh_tls __attribute__((tls_model("initial-exec")));
extern atomic_int pf_mh_recording;
extern pf_memtrack *pf_mh_tracker;    /* guarded by the lock */

void pf_mh_lock_slow(void);
extern atomic_int pf_mh_lockword;

static inline void pf_mh_lock(void)
{
    if (atomic_exchange_explicit(&pf_mh_lockword, 1, memory_order_acquire))
        pf_mh_lock_slow();
}

static inline void pf_mh_unlock(void)
{
    atomic_store_explicit(&pf_mh_lockword, 0, memory_order_release);
}

/* Cheap test, without the lock: recording, and this thread not inside a hook. */
static inline int pf_mh_want(const struct pf_mh_tls *me)
{
    return atomic_load_explicit(&pf_mh_recording, memory_order_relaxed) && !me->busy;
}

/* Under the lock: the tracker may be updated (stop() has not passed its barrier). */
static inline int pf_mh_live(void)
{
    return pf_mh_tracker
        && atomic_load_explicit(&pf_mh_recording, memory_order_relaxed);
}

/* Records block p of size bytes at this thread's current site, of kind. */
static inline void pf_mh_record_alloc(const struct pf_mh_tls *me, void *p, size_t size,
                                           unsigned kind)
{
    pf_mh_lock();
    if (pf_mh_live())
        pf_memtrack_on_alloc(pf_mh_tracker, p, size, me->site.node, me->site.line, kind);
    pf_mh_unlock();
}

/* realloc around the real call: begin detaches ptr's block (1 if it was tracked, into
 * *old) before the real realloc may give its address away; end accounts the result q:
 * NULL with freed 0 is a failure (the old block goes back), NULL with freed nonzero means
 * the real realloc freed ptr (glibc's realloc(p, 0)), else old is freed and q is a new
 * block of size bytes at this thread's site, of kind (unless this thread is suspended). */
int pf_mh_realloc_begin(void *ptr, pf_memtrack_block *old);
void pf_mh_realloc_end(const struct pf_mh_tls *me, int had, const pf_memtrack_block *old,
                       void *q, size_t size, int freed, unsigned kind);

#endif
