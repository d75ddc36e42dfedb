/* memhook.c: the CPython allocator hooks behind `collect --memory`.  They chain to the
 * previously installed allocators of all three domains and feed each block to memtrack
 * with the calling thread's current site.  Interface and integration: memhook.h.
 *
 * Concurrency.  MEM/OBJ hooks run with the GIL, RAW hooks may not (PyMem_RawMalloc is
 * used by threads that released the GIL), so memtrack is guarded by a spinlock taken
 * around table updates only, never around the real allocator call.  Uncontended it is
 * one atomic exchange per event; contention happens only against a RAW call made without
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

static atomic_int lockword;
static atomic_int recording;
static pf_memtrack *tracker;         /* guarded by lockword */
static int installed;                /* our hooks are in the chain (GIL) */
static int atfork_done;

/* Per-thread state, one small struct.  initial-exec: a %fs-relative access instead of a
 * __tls_get_addr call per use (the hooks run on every allocation); 16 bytes fit easily
 * in the static TLS surplus glibc keeps for dlopen'ed modules (hook.c does the same). */
struct tls_state {
    pf_mem_site site;                /* written by the collector, read by the hooks */
    int busy;                        /* inside a hook: nested calls pass through */
    int suspended;
};
static __thread struct tls_state tls __attribute__((tls_model("initial-exec")))
    = { { PF_MEM_NONE, 0 }, 0, 0 };

/* ---- the lock ---- */

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __asm__ __volatile__("pause");
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

static void lock_slow(void)
{
    unsigned spins = 0;
    for (;;) {
        while (atomic_load_explicit(&lockword, memory_order_relaxed)) {
            if (++spins > 200)
                sched_yield();
            else
                cpu_relax();
        }
        if (!atomic_exchange_explicit(&lockword, 1, memory_order_acquire))
            return;
    }
}

static inline void lock(void)
{
    if (atomic_exchange_explicit(&lockword, 1, memory_order_acquire))
        lock_slow();
}

static inline void unlock(void)
{
    atomic_store_explicit(&lockword, 0, memory_order_release);
}

/* fork() while another thread holds the lock would leave it held forever in the child:
 * take it around fork.  tls.busy keeps allocations made by other fork handlers in this
 * thread from waiting on the lock we hold. */
static void atfork_prepare(void)
{
    tls.busy++;
    lock();
}

static void atfork_after(void)
{
    unlock();
    tls.busy--;
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

static inline int want(const struct tls_state *me)
{
    return atomic_load_explicit(&recording, memory_order_relaxed) && !me->busy;
}

static inline int still_recording(void)
{
    return tracker && atomic_load_explicit(&recording, memory_order_relaxed);
}

static void record_alloc(const struct tls_state *me, void *p, size_t size)
{
    lock();
    if (still_recording())
        pf_memtrack_on_alloc(tracker, p, size, me->site.node, me->site.line, PF_MEM_PYTHON);
    unlock();
}

static void *hook_malloc(void *ctx, size_t size)
{
    struct hook_domain *d = ctx;
    struct tls_state *me = &tls;
    if (!want(me) || me->suspended)
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
    struct tls_state *me = &tls;
    if (!want(me) || me->suspended)
        return d->prev.calloc(d->prev.ctx, nelem, elsize);
    me->busy++;
    void *p = d->prev.calloc(d->prev.ctx, nelem, elsize);
    if (p)
        record_alloc(me, p, nelem * elsize);   /* no overflow: calloc succeeded */
    me->busy--;
    return p;
}

static void *hook_realloc(void *ctx, void *ptr, size_t size)
{
    struct hook_domain *d = ctx;
    struct tls_state *me = &tls;
    if (!want(me))
        return d->prev.realloc(d->prev.ctx, ptr, size);
    me->busy++;
    pf_memtrack_block old;
    int had = 0;
    if (ptr) {
        lock();
        if (still_recording())
            had = pf_memtrack_detach(tracker, ptr, &old);
        unlock();
    }
    void *q = d->prev.realloc(d->prev.ctx, ptr, size);
    lock();
    if (still_recording()) {
        if (!q) {
            if (had)                 /* failed: the old block is intact */
                pf_memtrack_reattach(tracker, &old);
        } else if (me->suspended) {
            if (had)                 /* the old block is gone; the new one is not ours */
                pf_memtrack_commit_realloc(tracker, &old, NULL, 0, 0, 0, PF_MEM_PYTHON);
        } else {
            pf_memtrack_commit_realloc(tracker, had ? &old : NULL, q, size,
                                       me->site.node, me->site.line, PF_MEM_PYTHON);
        }
    }
    unlock();
    me->busy--;
    return q;
}

static void hook_free(void *ctx, void *ptr)
{
    struct hook_domain *d = ctx;
    struct tls_state *me = &tls;
    if (ptr && want(me)) {
        me->busy++;
        lock();
        if (still_recording())
            pf_memtrack_on_free(tracker, ptr);
        unlock();
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
    return &tls.site;
}

int pf_memhook_start(void)
{
    if (atomic_load(&recording)) {
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
    lock();
    pf_memtrack *old = tracker;
    tracker = mt;
    unlock();
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
    atomic_store(&recording, 1);
    return 0;
}

void pf_memhook_stop(void)
{
    if (!atomic_load(&recording))
        return;
    atomic_store(&recording, 0);
    /* Wait out a hook that saw recording == 1 and is inside its critical section. */
    lock();
    unlock();
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

int pf_memhook_recording(void)
{
    return atomic_load(&recording);
}

const pf_memtrack *pf_memhook_tracker(void)
{
    return tracker;
}

void pf_memhook_release(void)
{
    if (atomic_load(&recording))
        return;
    lock();
    pf_memtrack *mt = tracker;
    tracker = NULL;
    unlock();
    pf_memtrack_free(mt);
}

void pf_memhook_suspend(void)
{
    tls.suspended++;
}

void pf_memhook_resume(void)
{
    if (tls.suspended > 0)
        tls.suspended--;
}
