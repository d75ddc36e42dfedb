/* memhook.c: the CPython allocator hooks behind `collect --memory`, and the recording
 * core they share with the native hooks (memhook_core.h, nativehook.c).  They chain to
 * the previously installed allocators of all three domains and feed each block to
 * memtrack with the calling thread's current site.  Interface and integration: memhook.h.
 *
 * Concurrency.  MEM/OBJ hooks run with the GIL, RAW hooks may not (PyMem_RawMalloc is
 * used by threads that released the GIL) and native hooks often do not (C code that
 * released it, threads of C libraries), so memtrack is guarded by a spinlock taken
 * around table updates only, never around the real allocator call.  Uncontended it is
 * one atomic exchange per event; contention happens only against a call made without
 * the GIL, and such critical sections are short (no system call unless a table grows).
 * A thread that spins long yields the CPU.
 *
 * Ordering against address reuse: a block is removed from the table BEFORE the real
 * free/realloc gives its address back, so another thread that is handed the same address
 * can never have its fresh entry removed by our late bookkeeping.
 *
 * Start/stop: the `recording` flag is read without the lock for a cheap fast path and
 * again under the lock before memtrack is touched, so after stop() has taken and
 * released the lock once, no hook touches the tracker any more.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "collector/memhook.h"
#include "collector/memhook_core.h"
#include "collector/nativehook.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

struct hook_domain {
    PyMemAllocatorDomain domain;
    PyMemAllocatorEx prev;           /* the allocator we chain to */
};

static struct hook_domain domains[3] = {
    { PYMEM_DOMAIN_RAW, { NULL, NULL, NULL, NULL, NULL } },
    { PYMEM_DOMAIN_MEM, { NULL, NULL, NULL, NULL, NULL } },
    { PYMEM_DOMAIN_OBJ, { NULL, NULL, NULL, NULL, NULL } },
};

/* The shared core (memhook_core.h). */
atomic_int pf_mh_lockword;
atomic_int pf_mh_recording;
pf_memtrack *pf_mh_tracker;
__thread struct pf_mh_tls pf_mh_tls __attribute__((tls_model("initial-exec")))
    = { { PF_MEM_NONE, 0 }, 0, 0 };

static int installed;                /* our hooks are in the chain (GIL) */
static int native;                   /* the native hooks are installed (GIL) */
static int atfork_done;

/* ---- the lock ---- */

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __asm__ __volatile__("pause");
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

void pf_mh_lock_slow(void)
{
    unsigned spins = 0;
    for (;;) {
        while (atomic_load_explicit(&pf_mh_lockword, memory_order_relaxed)) {
            if (++spins > 200)
                sched_yield();
            else
                cpu_relax();
        }
        if (!atomic_exchange_explicit(&pf_mh_lockword, 1, memory_order_acquire))
            return;
    }
}

/* fork() while another thread holds the lock would leave it held forever in the child:
 * take it around fork.  pf_mh_tls.busy keeps allocations made by other fork handlers in
 * this thread from waiting on the lock we hold. */
static void atfork_prepare(void)
{
    pf_mh_tls.busy++;
    pf_mh_lock();
}

static void atfork_after(void)
{
    pf_mh_unlock();
    pf_mh_tls.busy--;
}

void pf_memhook_lock(void)
{
    atfork_prepare();
}

void pf_memhook_unlock(void)
{
    atfork_after();
}

/* ---- the hooks ---- */

static void record_alloc(const struct pf_mh_tls *me, void *p, size_t size)
{
    pf_mh_record_alloc(me, p, size, PF_MEM_PYTHON);
}

static void *hook_malloc(void *ctx, size_t size)
{
    struct hook_domain *d = ctx;
    struct pf_mh_tls *me = &pf_mh_tls;
    if (!pf_mh_want(me) || me->suspended)
        return d->prev.malloc(d->prev.ctx, size);
    me->busy++;
    void *p = d->prev.malloc(d->prev.ctx, size);
    if (p)
        record_alloc(me, p, size);
    me->busy--;
    return p;
}

static void *hook_calloc(void *ctx, size_t nelem, size_t elsize)
{
    struct hook_domain *d = ctx;
    struct pf_mh_tls *me = &pf_mh_tls;
    if (!pf_mh_want(me) || me->suspended)
        return d->prev.calloc(d->prev.ctx, nelem, elsize);
    me->busy++;
    void *p = d->prev.calloc(d->prev.ctx, nelem, elsize);
    if (p)
        record_alloc(me, p, nelem * elsize);   /* no overflow: calloc succeeded */
    me->busy--;
    return p;
}

/* realloc in two steps around the real call (memhook_core.h). */
int pf_mh_realloc_begin(void *ptr, pf_memtrack_block *old)
{
    int had = 0;
    if (ptr) {
        pf_mh_lock();
        if (pf_mh_live())
            had = pf_memtrack_detach(pf_mh_tracker, ptr, old);
        pf_mh_unlock();
    }
    return had;
}

void pf_mh_realloc_end(const struct pf_mh_tls *me, int had, const pf_memtrack_block *old,
                       void *q, size_t size, int freed, unsigned kind)
{
    pf_mh_lock();
    if (pf_mh_live()) {
        if (!q && !freed) {
            if (had)                 /* failed: the old block is intact */
                pf_memtrack_reattach(pf_mh_tracker, old);
        } else if (!q || me->suspended) {
            if (had)                 /* the old block is gone; a new one is not ours */
                pf_memtrack_commit_realloc(pf_mh_tracker, old, NULL, 0, 0, 0, kind);
        } else {
            pf_memtrack_commit_realloc(pf_mh_tracker, had ? old : NULL, q, size,
                                       me->site.node, me->site.line, kind);
        }
    }
    pf_mh_unlock();
}

static void *hook_realloc(void *ctx, void *ptr, size_t size)
{
    struct hook_domain *d = ctx;
    struct pf_mh_tls *me = &pf_mh_tls;
    if (!pf_mh_want(me))
        return d->prev.realloc(d->prev.ctx, ptr, size);
    me->busy++;
    pf_memtrack_block old;
    int had = pf_mh_realloc_begin(ptr, &old);
    void *q = d->prev.realloc(d->prev.ctx, ptr, size);
    pf_mh_realloc_end(me, had, &old, q, size, 0, PF_MEM_PYTHON);
    me->busy--;
    return q;
}

static void hook_free(void *ctx, void *ptr)
{
    struct hook_domain *d = ctx;
    struct pf_mh_tls *me = &pf_mh_tls;
    if (ptr && pf_mh_want(me)) {
        me->busy++;
        pf_mh_lock();
        if (pf_mh_live())
            pf_memtrack_on_free(pf_mh_tracker, ptr);
        pf_mh_unlock();
        me->busy--;
    }
    d->prev.free(d->prev.ctx, ptr);
}

static int is_ours(const PyMemAllocatorEx *a, const struct hook_domain *d)
{
    return a->malloc == hook_malloc && a->ctx == d;
}

/* ---- public ---- */

pf_mem_site *pf_memhook_site(void)
{
    return &pf_mh_tls.site;
}

int pf_memhook_start(int with_native)
{
    if (atomic_load(&pf_mh_recording)) {
        PyErr_SetString(PyExc_RuntimeError, "memory tracking is already running");
        return -1;
    }
    pf_memtrack *mt = pf_memtrack_new();
    if (!mt) {
        PyErr_NoMemory();
        return -1;
    }
    if (!atfork_done) {
        if (pthread_atfork(atfork_prepare, atfork_after, atfork_after) != 0) {
            pf_memtrack_free(mt);
            PyErr_SetString(PyExc_RuntimeError, "cannot register the memory hooks' fork handlers");
            return -1;
        }
        atfork_done = 1;
    }
    /* The native hooks go in first: they pass every call through until recording is on. */
    if (with_native && !native) {
        char why[256];
        if (pf_nativehook_install(why, sizeof why) < 0) {
            pf_memtrack_free(mt);
            PyErr_Format(PyExc_RuntimeError, "cannot track native memory: %s "
                         "(track Python's allocators only with memory='python', "
                         "collect --memory=python)", why);
            return -1;
        }
        native = 1;
    }
    pf_mh_lock();
    pf_memtrack *old = pf_mh_tracker;
    pf_mh_tracker = mt;
    pf_mh_unlock();
    pf_memtrack_free(old);
    if (!installed) {
        for (int i = 0; i < 3; i++) {
            struct hook_domain *d = &domains[i];
            PyMemAllocatorEx mine = { d, hook_malloc, hook_calloc, hook_realloc, hook_free };
            PyMem_GetAllocator(d->domain, &d->prev);
            PyMem_SetAllocator(d->domain, &mine);
        }
        installed = 1;
    }
    atomic_store(&pf_mh_recording, 1);
    return 0;
}

void pf_memhook_stop(void)
{
    if (!atomic_load(&pf_mh_recording))
        return;
    atomic_store(&pf_mh_recording, 0);
    /* Wait out a hook that saw recording == 1 and is inside its critical section. */
    pf_mh_lock();
    pf_mh_unlock();
    if (native) {
        pf_nativehook_uninstall();
        native = 0;
    }
    if (!installed)
        return;
    PyMemAllocatorEx cur;
    for (int i = 0; i < 3; i++) {
        PyMem_GetAllocator(domains[i].domain, &cur);
        if (!is_ours(&cur, &domains[i]))
            return;                  /* something chained on top: stay, pass through */
    }
    for (int i = 0; i < 3; i++)
        PyMem_SetAllocator(domains[i].domain, &domains[i].prev);
    installed = 0;
}

int pf_memhook_native(void)
{
    return native;
}

int pf_memhook_recording(void)
{
    return atomic_load(&pf_mh_recording);
}

const pf_memtrack *pf_memhook_tracker(void)
{
    return pf_mh_tracker;
}

void pf_memhook_release(void)
{
    if (atomic_load(&pf_mh_recording))
        return;
    pf_mh_lock();
    pf_memtrack *mt = pf_mh_tracker;
    pf_mh_tracker = NULL;
    pf_mh_unlock();
    pf_memtrack_free(mt);
}

void pf_memhook_suspend(void)
{
    pf_mh_tls.suspended++;
}

void pf_memhook_resume(void)
{
    if (pf_mh_tls.suspended > 0)
        pf_mh_tls.suspended--;
}
