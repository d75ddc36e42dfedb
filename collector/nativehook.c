/* nativehook.c: the native allocator hooks and their installation into every loaded
 * object's GOT (interface: nativehook.h).
 *
 * ---- Installing ---------------------------------------------------------------------
 * Once, at the first install, each hooked function's real address is resolved with
 * dlsym(RTLD_DEFAULT): what the program's own calls bind to (libc's malloc, or an
 * interposed one: ASan's, a preloaded jemalloc).  If that address is an executable's
 * canonical PLT entry (non-PIE code took the function's address, so its PLT stub is the
 * function's address program-wide), the hooks call the definition that stub reaches
 * (see resolve).
 *
 * A sync walks the loaded objects (dl_iterate_phdr) and patches the ones it has not seen:
 *   1. Inside the walk (the loader's list lock is held, so no object can go away), each
 *      object is only described: its load bias, program headers, dynamic section, name,
 *      and its role, told by what it contains: the vdso, ld.so, libc (holds
 *      gnu_get_libc_version), the object holding the real malloc (an interposer such as
 *      libasan), and this extension are skipped: their calls are the allocator's own or
 *      ours.  The interpreter (holds PyMem_RawMalloc: the python executable for a static
 *      build, libpython3.x.so for a shared one) gets only its dlopen slot patched: its
 *      mallocs are under its allocator domains already (counting them again would count
 *      twice; its arenas' mmaps are its OBJ domain's).  No loader call is made inside the
 *      walk: dladdr or dlopen there could deadlock against a dlopen in another thread.
 *   2. After it, each new object is pinned with dlopen(its name, RTLD_NOLOAD), and the
 *      handle's link map is checked to be that very object (same load bias and dynamic
 *      section): an object of another link-map namespace (dlmopen), whose libc is another
 *      copy, is never patched, and an object unloaded meanwhile is not touched.  Then
 *      its import slots (elfgot.h) of hooked names are overwritten, each only if it holds
 *      the real function (or, for a lazily bound PLT slot, the object's own PLT stub):
 *      a slot bound to another implementation of malloc (a private allocator) is refused,
 *      since mixing allocators would corrupt the heap.  A slot that is an executable's
 *      canonical PLT entry is never patched: the real function may be reached through it.
 *      An object with patched slots stays pinned until uninstall, so no slot we wrote can
 *      be unmapped under us (the price: a dlclose() the program makes of such a library
 *      takes effect at stop); one with none is released at once.
 * dl_iterate_phdr's load and unload counters (dlpi_adds, dlpi_subs) tell whether anything
 * changed since the last sync, so a sync with nothing new costs one step of the walk.
 *
 * Syncs run at install and after every dlopen through a patched slot (CPython loads
 * extension modules with dlopen, ctypes too).  They are serialised by a mutex that the
 * dlopen hook only try-locks: a dlopen made from a library constructor holds the loader's
 * lock while the sync holder may wait for it.  A dlopen that finds the mutex taken marks
 * the state dirty; whoever holds the mutex syncs again before leaving while it is dirty.
 *
 * ---- dlopen as the caller --------------------------------------------------------------
 * glibc's dlopen searches a bare file name in the DT_RPATH / DT_RUNPATH of the object that
 * calls it and expands $ORIGIN to that object's folder.  Through the hook, the caller
 * would be this extension, so the hook does what the caller would have got: a name
 * already loaded is returned as glibc's first step would (RTLD_NOLOAD); else the caller's
 * search path (dlinfo RTLD_DI_SERINFO on its link map) is tried folder by folder; else,
 * and for names with a '/', the plain call ($ORIGIN expanded to the caller's folder).  The
 * system folders and ld.so.cache come last in both searches, so they agree.
 *
 * ---- Uninstalling ------------------------------------------------------------------------
 * Every patched slot is recorded with its old value; uninstall writes the old value back
 * where the slot still holds the hook, then releases the pinned objects.  A hook may still
 * be called afterwards (a function pointer read from a GLOB_DAT slot and kept): the hooks
 * only forward when memhook is not recording, and this extension is never unloaded.
 *
 * ---- Fork ---------------------------------------------------------------------------------
 * The child inherits the patched slots, this state and the tracker.  A child that stops
 * recording (memhook stop) uninstalls; one that records again installs afresh.  The mutex
 * is taken around fork() so the child never inherits it locked.
 *
 * ---- What is not seen ---------------------------------------------------------------------
 * Allocations made inside libc on a library's behalf (strdup, fopen's buffers, getline),
 * and frees libc makes of such memory; allocations of a library's constructors run by
 * dlopen before the hook patches it; calls made through a function address found with
 * dlsym (ctypes.CDLL(None).malloc); PROT_NONE reservations (no memory yet; pages made
 * accessible later with mprotect are not counted); mremap with MREMAP_DONTUNMAP.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "collector/nativehook.h"
#include "collector/elfgot.h"
#include "collector/memhook_core.h"

#include <dlfcn.h>
#include <errno.h>
#include <gnu/libc-version.h>
#include <link.h>
#include <malloc.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <unistd.h>

#ifndef MREMAP_DONTUNMAP
#define MREMAP_DONTUNMAP 4
#endif

/* ---- the real functions (resolved once; never reset, a hook may outlive install) ---- */

static struct {
    void *(*malloc)(size_t);
    void *(*calloc)(size_t, size_t);
    void *(*realloc)(void *, size_t);
    void *(*reallocarray)(void *, size_t, size_t);
    void (*free)(void *);
    void (*free_sized)(void *, size_t);
    void (*free_aligned_sized)(void *, size_t, size_t);
    int (*posix_memalign)(void **, size_t, size_t);
    void *(*aligned_alloc)(size_t, size_t);
    void *(*memalign)(size_t, size_t);
    void *(*valloc)(size_t);
    void *(*pvalloc)(size_t);
    void *(*mmap)(void *, size_t, int, int, int, off_t);
    void *(*mmap64)(void *, size_t, int, int, int, off_t);
    int (*munmap)(void *, size_t);
    void *(*mremap)(void *, size_t, size_t, int, ...);
    void *(*dlopen)(const char *, int);
    int (*track)(unsigned int, uintptr_t, size_t);
    int (*untrack)(unsigned int, uintptr_t);
} real;

static size_t page_size;

/* Length len rounded up to whole pages: what a mapping covers. */
static size_t pages(size_t len)
{
    size_t m = page_size - 1;
    return len > SIZE_MAX - m ? SIZE_MAX & ~m : (len + m) & ~m;
}

/* ---- the hooks ----
 * Protocol of memhook_core.h; errno is kept as the real call left it (our bookkeeping
 * must not change what the program sees). */

static void *note_alloc(struct pf_mh_tls *me, void *p, size_t size)
{
    if (p) {
        int e = errno;
        pf_mh_record_alloc(me, p, size, PF_MEM_NATIVE);
        errno = e;
    }
    me->busy--;
    return p;
}

/* The start of an allocating hook: NULL when the call only forwards. */
static inline struct pf_mh_tls *enter_alloc(void)
{
    struct pf_mh_tls *me = &pf_mh_tls;
    if (!pf_mh_want(me) || me->suspended)
        return NULL;
    me->busy++;
    return me;
}

static void *hook_malloc(size_t n)
{
    struct pf_mh_tls *me = enter_alloc();
    return me ? note_alloc(me, real.malloc(n), n) : real.malloc(n);
}

static void *hook_calloc(size_t k, size_t n)
{
    struct pf_mh_tls *me = enter_alloc();
    /* k * n cannot overflow when calloc succeeds */
    return me ? note_alloc(me, real.calloc(k, n), k * n) : real.calloc(k, n);
}

static void *hook_aligned_alloc(size_t align, size_t n)
{
    struct pf_mh_tls *me = enter_alloc();
    return me ? note_alloc(me, real.aligned_alloc(align, n), n) : real.aligned_alloc(align, n);
}

static void *hook_memalign(size_t align, size_t n)
{
    struct pf_mh_tls *me = enter_alloc();
    return me ? note_alloc(me, real.memalign(align, n), n) : real.memalign(align, n);
}

static void *hook_valloc(size_t n)
{
    struct pf_mh_tls *me = enter_alloc();
    return me ? note_alloc(me, real.valloc(n), n) : real.valloc(n);
}

static void *hook_pvalloc(size_t n)
{
    struct pf_mh_tls *me = enter_alloc();
    return me ? note_alloc(me, real.pvalloc(n), n) : real.pvalloc(n);
}

static int hook_posix_memalign(void **out, size_t align, size_t n)
{
    struct pf_mh_tls *me = enter_alloc();
    if (!me)
        return real.posix_memalign(out, align, n);
    int rc = real.posix_memalign(out, align, n);
    note_alloc(me, rc == 0 ? *out : NULL, n);
    return rc;
}

/* realloc(p, n), or with array reallocarray(p, k, m) of n = k * m bytes, with the
 * bookkeeping of memhook_core.h around the real call.  A NULL result for n == 0 means
 * the block was freed, not that the call failed (glibc's realloc(p, 0)). */
static void *realloc_hooked(struct pf_mh_tls *me, void *p, size_t n, int array, size_t k,
                            size_t m)
{
    me->busy++;
    pf_memtrack_block old;
    int had = pf_mh_realloc_begin(p, &old);
    void *q = array ? real.reallocarray(p, k, m) : real.realloc(p, n);
    int e = errno;
    pf_mh_realloc_end(me, had, &old, q, n, p != NULL && n == 0 && q == NULL, PF_MEM_NATIVE);
    errno = e;
    me->busy--;
    return q;
}

static void *hook_realloc(void *p, size_t n)
{
    struct pf_mh_tls *me = &pf_mh_tls;
    if (!pf_mh_want(me))
        return real.realloc(p, n);
    return realloc_hooked(me, p, n, 0, 0, 0);
}

static void *hook_reallocarray(void *p, size_t k, size_t m)
{
    struct pf_mh_tls *me = &pf_mh_tls;
    size_t n;
    if (!pf_mh_want(me) || __builtin_mul_overflow(k, m, &n))
        return real.reallocarray(p, k, m);   /* an overflow fails and leaves p alone */
    return realloc_hooked(me, p, n, 1, k, m);
}

/* Forgets block p before the real free can give its address to another thread. */
static inline void note_free(void *p)
{
    struct pf_mh_tls *me = &pf_mh_tls;
    if (p && pf_mh_want(me)) {
        me->busy++;
        pf_mh_lock();
        if (pf_mh_live())
            pf_memtrack_on_free(pf_mh_tracker, p);
        pf_mh_unlock();
        me->busy--;
    }
}

static void hook_free(void *p)
{
    note_free(p);
    real.free(p);
}

static void hook_free_sized(void *p, size_t n)
{
    note_free(p);
    real.free_sized(p, n);
}

static void hook_free_aligned_sized(void *p, size_t align, size_t n)
{
    note_free(p);
    real.free_aligned_sized(p, align, n);
}

/* After a successful mmap of len bytes at r: an anonymous, accessible mapping is a new
 * range at this thread's site; MAP_FIXED replaced whatever was recorded there. */
static void note_map(struct pf_mh_tls *me, void *r, size_t len, int prot, int flags)
{
    int e = errno;
    pf_mh_lock();
    if (pf_mh_live()) {
        if ((flags & MAP_ANONYMOUS) && prot != PROT_NONE && !me->suspended)
            pf_memtrack_on_map(pf_mh_tracker, r, pages(len), me->site.node, me->site.line,
                               PF_MEM_NATIVE);
        else if (flags & MAP_FIXED)
            pf_memtrack_on_unmap(pf_mh_tracker, r, pages(len));
    }
    pf_mh_unlock();
    errno = e;
}

static void *hook_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
    struct pf_mh_tls *me = &pf_mh_tls;
    if (!pf_mh_want(me))
        return real.mmap(addr, len, prot, flags, fd, off);
    me->busy++;
    void *r = real.mmap(addr, len, prot, flags, fd, off);
    if (r != MAP_FAILED)
        note_map(me, r, len, prot, flags);
    me->busy--;
    return r;
}

static void *hook_mmap64(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
    struct pf_mh_tls *me = &pf_mh_tls;
    if (!pf_mh_want(me))
        return real.mmap64(addr, len, prot, flags, fd, off);
    me->busy++;
    void *r = real.mmap64(addr, len, prot, flags, fd, off);
    if (r != MAP_FAILED)
        note_map(me, r, len, prot, flags);
    me->busy--;
    return r;
}

static int hook_munmap(void *addr, size_t len)
{
    struct pf_mh_tls *me = &pf_mh_tls;
    if (pf_mh_want(me)) {
        /* before the real call, so a range another thread maps there next is not cut */
        me->busy++;
        pf_mh_lock();
        if (pf_mh_live())
            pf_memtrack_on_unmap(pf_mh_tracker, addr, pages(len));
        pf_mh_unlock();
        me->busy--;
    }
    return real.munmap(addr, len);
}

/* mremap = unmap the old range + map the new one (as realloc is free + alloc), when the
 * old range was recorded.  The old range is cut before the call (its address may be
 * reused as soon as the kernel returns); if the call fails, it is recorded again. */
static void *hook_mremap(void *old, size_t old_len, size_t new_len, int flags, ...)
{
    void *target = NULL;
    if (flags & MREMAP_FIXED) {
        va_list ap;
        va_start(ap, flags);
        target = va_arg(ap, void *);
        va_end(ap);
    }
    struct pf_mh_tls *me = &pf_mh_tls;
    if (!pf_mh_want(me))
        return real.mremap(old, old_len, new_len, flags, target);
    me->busy++;
    uint64_t had = 0;
    pf_mh_lock();
    if (pf_mh_live() && !(flags & MREMAP_DONTUNMAP))
        had = pf_memtrack_on_unmap(pf_mh_tracker, old, pages(old_len));
    pf_mh_unlock();
    void *r = real.mremap(old, old_len, new_len, flags, target);
    int e = errno;
    pf_mh_lock();
    if (pf_mh_live() && had) {
        if (r == MAP_FAILED)
            pf_memtrack_on_map(pf_mh_tracker, old, pages(old_len), me->site.node,
                               me->site.line, PF_MEM_NATIVE);
        else if (!me->suspended)
            pf_memtrack_on_map(pf_mh_tracker, r, pages(new_len), me->site.node,
                               me->site.line, PF_MEM_NATIVE);
    }
    pf_mh_unlock();
    errno = e;
    me->busy--;
    return r;
}

/* PyTraceMalloc_Track/Untrack: forwarded first (tracemalloc in the program sees them as
 * without us), then counted by memtrack's rule (memtrack.h: never twice). */
static int hook_track(unsigned int domain, uintptr_t ptr, size_t size)
{
    struct pf_mh_tls *me = &pf_mh_tls;
    int rec = pf_mh_want(me) && !me->suspended;
    me->busy++;                      /* what tracemalloc allocates for it is not the program's */
    int r = real.track(domain, ptr, size);
    if (rec) {
        pf_mh_lock();
        if (pf_mh_live())
            pf_memtrack_on_report(pf_mh_tracker, (void *)ptr, size, me->site.node, me->site.line);
        pf_mh_unlock();
    }
    me->busy--;
    return r;
}

static int hook_untrack(unsigned int domain, uintptr_t ptr)
{
    struct pf_mh_tls *me = &pf_mh_tls;
    int rec = pf_mh_want(me);
    me->busy++;
    int r = real.untrack(domain, ptr);
    if (rec) {
        pf_mh_lock();
        if (pf_mh_live())
            pf_memtrack_on_unreport(pf_mh_tracker, (void *)ptr);
        pf_mh_unlock();
    }
    me->busy--;
    return r;
}

static void *hook_dlopen(const char *file, int flags);

/* ---- the table of hooked functions ---- */

enum {
    SYM_REQUIRED = 1,                /* install fails without it */
    SYM_INTERPRETER = 2              /* patched in the interpreter's object too */
};

struct sym {
    const char *name;
    void *hook;
    void *real;                      /* the member of `real` it fills (a function pointer) */
    unsigned flags;
    void *accept[2];                 /* slot values meaning "bound to the real function" */
};

#define SYM(n, member, fl) { #n, (void *)hook_##n, &real.member, fl, { NULL, NULL } }

static struct sym syms[] = {
    SYM(malloc, malloc, SYM_REQUIRED),
    SYM(calloc, calloc, SYM_REQUIRED),
    SYM(realloc, realloc, SYM_REQUIRED),
    SYM(free, free, SYM_REQUIRED),
    SYM(reallocarray, reallocarray, 0),
    SYM(free_sized, free_sized, 0),
    SYM(free_aligned_sized, free_aligned_sized, 0),
    SYM(posix_memalign, posix_memalign, 0),
    SYM(aligned_alloc, aligned_alloc, 0),
    SYM(memalign, memalign, 0),
    SYM(valloc, valloc, 0),
    SYM(pvalloc, pvalloc, 0),
    SYM(mmap, mmap, SYM_REQUIRED),
    SYM(mmap64, mmap64, 0),
    SYM(munmap, munmap, SYM_REQUIRED),
    SYM(mremap, mremap, 0),
    SYM(dlopen, dlopen, SYM_REQUIRED | SYM_INTERPRETER),
    { "PyTraceMalloc_Track", (void *)hook_track, &real.track, SYM_REQUIRED, { NULL, NULL } },
    { "PyTraceMalloc_Untrack", (void *)hook_untrack, &real.untrack, SYM_REQUIRED, { NULL, NULL } },
};
#define NSYMS (sizeof syms / sizeof syms[0])

static const struct sym *find_sym(const char *name)
{
    for (size_t i = 0; i < NSYMS; i++)
        if (syms[i].name[0] == name[0] && strcmp(syms[i].name, name) == 0)
            return syms[i].hook ? &syms[i] : NULL;
    return NULL;
}

static int resolved;

/* The main program (dl_iterate_phdr lists it first; it is never unloaded). */
static int first_object(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    pf_elfgot_from_phdr(data, info);
    return 1;
}

struct bound_ctx {
    const pf_elfgot_obj *o;
    const char *name;
    void *value;
};

static int find_bound(void *ctx, const pf_elfgot_reloc *r)
{
    struct bound_ctx *b = ctx;
    if (r->kind != PF_ELFGOT_PLT || strcmp(r->name, b->name) != 0)
        return 0;
    void *v = __atomic_load_n(r->slot, __ATOMIC_ACQUIRE);
    if (v != NULL && !pf_elfgot_contains(b->o, (uintptr_t)v, 1, 0))
        b->value = v;                /* bound (not the lazy stub) */
    return 1;
}

/* Resolves the real functions (once).  0, or -1 with why filled.
 *
 * For a canonical PLT entry p of the main program, the definition its calls reach is
 * what the program's own PLT slot of that name was bound to (libc's function, or an
 * interposer's preloaded before libc: libasan's malloc under ASan): that is what every
 * other object's PLT slot holds too.  If the program has not called it yet (slot still
 * lazy), libc's definition stands in. */
static int resolve(char *why, size_t whylen)
{
    if (resolved)
        return 0;
    page_size = (size_t)sysconf(_SC_PAGESIZE);
    Dl_info di;
    void *libc = NULL;
    if (dladdr((void *)gnu_get_libc_version, &di) && di.dli_fname)
        libc = dlopen(di.dli_fname, RTLD_LAZY | RTLD_NOLOAD);   /* kept: libc stays */
    pf_elfgot_obj prog;
    memset(&prog, 0, sizeof prog);
    dl_iterate_phdr(first_object, &prog);
    for (size_t i = 0; i < NSYMS; i++) {
        struct sym *s = &syms[i];
        void *p = dlsym(RTLD_DEFAULT, s->name);
        if (p == NULL) {
            if (s->flags & SYM_REQUIRED) {
                snprintf(why, whylen, "%s cannot be resolved", s->name);
                return -1;
            }
            s->hook = NULL;          /* not in this libc: nothing calls it */
            continue;
        }
        void *target = p;
        const ElfW(Sym) *es = NULL;
        if (dladdr1(p, &di, (void **)&es, RTLD_DL_SYMENT) && es != NULL
            && es->st_shndx == SHN_UNDEF) {
            /* an executable's canonical PLT entry: call the definition directly */
            struct bound_ctx b = { &prog, s->name, NULL };
            if (prog.phdr != NULL)
                pf_elfgot_scan(&prog, find_bound, &b);
            void *def = b.value ? b.value : libc ? dlsym(libc, s->name) : NULL;
            if (def != NULL) {
                s->accept[1] = def;
                target = def;
            }
        }
        s->accept[0] = p;
        memcpy(s->real, &target, sizeof target);   /* a function pointer, of its own type */
    }
    resolved = 1;
    return 0;
}

/* ---- objects ---- */

enum role { ROLE_NORMAL, ROLE_INTERPRETER, ROLE_SKIP };

/* An object seen by a sync. */
struct obj {
    pf_elfgot_obj o;                 /* pointers valid while it is loaded */
    uintptr_t dyn;                   /* its dynamic section: with base, its identity */
    void *handle;                    /* pinned (patched slots), else NULL */
};

/* A patched slot. */
struct rec {
    void **slot;
    void *old, *hook;
    size_t obj;                      /* index in objs */
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;   /* everything below */
static atomic_int installed;
static atomic_int dirty;             /* a dlopen happened while mu was taken */
static struct obj *objs;
static size_t nobjs, cap_objs;
static struct rec *recs;
static size_t nrecs, cap_recs;
static unsigned long long seen_adds, seen_subs;
static int seen_any;
static pf_nativehook_stats stats;
static int fork_handlers;

/* What the walk finds (phase 1).  In phase 2 the name is read to pin the object (it is
 * the loader's heap string, readable even if the object went away meanwhile, and the
 * pin's link map is checked); the other pointers only once it is pinned. */
struct cand {
    pf_elfgot_obj o;
    uintptr_t dyn;
    enum role role;
};

struct walk {
    struct cand *c;
    const char **names;
    size_t n, cap;
    int started, fail, unchanged;
    unsigned long long adds, subs;
    uintptr_t skip[5];               /* addresses whose objects are skipped */
    uintptr_t interp;
};

static int walk_one(struct dl_phdr_info *info, size_t size, void *data)
{
    struct walk *w = data;
    (void)size;
    if (!w->started) {               /* first call: anything new since the last sync? */
        w->started = 1;
        w->adds = info->dlpi_adds;
        w->subs = info->dlpi_subs;
        if (seen_any && w->adds == seen_adds && w->subs == seen_subs) {
            w->unchanged = 1;
            return 1;
        }
    }
    if (w->n == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 64;
        struct cand *c = realloc(w->c, cap * sizeof *c);
        const char **nm = c ? realloc(w->names, cap * sizeof *nm) : NULL;
        if (c)
            w->c = c;
        if (!nm) {
            w->fail = 1;
            return 1;
        }
        w->names = nm;
        w->cap = cap;
    }
    struct cand *c = &w->c[w->n];
    pf_elfgot_from_phdr(&c->o, info);
    c->dyn = 0;
    for (size_t i = 0; i < c->o.phnum; i++)
        if (c->o.phdr[i].p_type == PT_DYNAMIC)
            c->dyn = c->o.base + (uintptr_t)c->o.phdr[i].p_vaddr;
    c->role = ROLE_NORMAL;
    for (size_t i = 0; i < sizeof w->skip / sizeof w->skip[0]; i++)
        if (w->skip[i] && pf_elfgot_contains(&c->o, w->skip[i], 1, 0))
            c->role = ROLE_SKIP;
    if (c->role == ROLE_NORMAL && pf_elfgot_contains(&c->o, w->interp, 1, 0))
        c->role = ROLE_INTERPRETER;
    w->names[w->n] = c->o.name;
    w->n++;
    return 0;
}

struct patch_ctx {
    const pf_elfgot_obj *o;
    size_t obj;
    int interpreter;
    unsigned patched, refused;
    int oom;
};

static int grow_recs(void)
{
    if (nrecs < cap_recs)
        return 0;
    size_t cap = cap_recs ? cap_recs * 2 : 256;
    struct rec *r = realloc(recs, cap * sizeof *r);
    if (!r)
        return -1;
    recs = r;
    cap_recs = cap;
    return 0;
}

static int patch_slot(void *ctx, const pf_elfgot_reloc *r)
{
    struct patch_ctx *pc = ctx;
    const struct sym *s = find_sym(r->name);
    if (s == NULL || (pc->interpreter && !(s->flags & SYM_INTERPRETER)) || r->canonical)
        return 0;
    void *v = __atomic_load_n(r->slot, __ATOMIC_ACQUIRE);
    if (v == s->hook)
        return 0;                    /* already ours (the tables overlap) */
    int bound = v == s->accept[0] || (v != NULL && v == s->accept[1]);
    int lazy = r->kind == PF_ELFGOT_PLT && pf_elfgot_contains(pc->o, (uintptr_t)v, 1, 1);
    if (!bound && !lazy) {
        pc->refused++;               /* another implementation: never mix allocators */
        return 0;
    }
    if (grow_recs() < 0) {
        pc->oom = 1;
        return 1;
    }
    if (pf_elfgot_write(pc->o, r->slot, s->hook) < 0)
        return 0;
    recs[nrecs].slot = r->slot;
    recs[nrecs].old = v;
    recs[nrecs].hook = s->hook;
    recs[nrecs].obj = pc->obj;
    nrecs++;
    pc->patched++;
    return 0;
}

static int known(const struct cand *c)
{
    for (size_t i = 0; i < nobjs; i++)
        if (objs[i].o.base == c->o.base && objs[i].dyn == c->dyn && objs[i].o.phdr == c->o.phdr)
            return 1;
    return 0;
}

/* Phase 2 for one new object: pin, check, patch.  Remembers it unless it vanished. */
static void take(const struct cand *c, const char *name, int main_program)
{
    if (nobjs == cap_objs) {
        size_t cap = cap_objs ? cap_objs * 2 : 64;
        struct obj *o = realloc(objs, cap * sizeof *o);
        if (!o)
            return;
        objs = o;
        cap_objs = cap;
    }
    struct obj *ob = &objs[nobjs];
    ob->o = c->o;
    ob->dyn = c->dyn;
    ob->handle = NULL;
    if (c->role == ROLE_SKIP || c->dyn == 0) {
        nobjs++;
        return;
    }
    /* The main program comes first and is "" (dlopen(NULL) is its handle); any other
     * name is the one the loader knows it by, so RTLD_NOLOAD finds it without touching
     * the disk. */
    void *h = real.dlopen(main_program || !name[0] ? NULL : name, RTLD_LAZY | RTLD_NOLOAD);
    struct link_map *lm = NULL;
    if (h == NULL)
        return;                      /* gone, or in another namespace: not ours to patch */
    if (dlinfo(h, RTLD_DI_LINKMAP, &lm) != 0 || lm == NULL || lm->l_addr != c->o.base
        || (uintptr_t)lm->l_ld != c->dyn) {
        dlclose(h);                  /* another object of that name (another namespace) */
        nobjs++;                     /* remembered as skipped */
        return;
    }
    struct patch_ctx pc = { &ob->o, nobjs, c->role == ROLE_INTERPRETER, 0, 0, 0 };
    pf_elfgot_scan(&ob->o, patch_slot, &pc);   /* a malformed object is left alone */
    stats.refused += pc.refused;
    if (pc.patched) {
        ob->handle = h;
        stats.objects++;
        stats.slots += pc.patched;
    } else {
        dlclose(h);
    }
    nobjs++;
}

/* Patches what is new (mu held). */
static void sync_objects(void)
{
    struct walk w;
    memset(&w, 0, sizeof w);
    w.skip[0] = (uintptr_t)getauxval(AT_SYSINFO_EHDR);
    w.skip[1] = (uintptr_t)getauxval(AT_BASE);
    w.skip[2] = (uintptr_t)(void *)gnu_get_libc_version;
    w.skip[3] = (uintptr_t)(void *)real.malloc;
    w.skip[4] = (uintptr_t)(void *)pf_nativehook_install;
    w.interp = (uintptr_t)(void *)PyMem_RawMalloc;
    dl_iterate_phdr(walk_one, &w);
    if (w.unchanged || w.fail) {
        free(w.c);
        free(w.names);
        return;
    }
    if (seen_any && w.subs != seen_subs) {
        /* Something was unloaded: forget the unpinned objects (an object loaded at the
         * same address later must be looked at again).  Pinned ones cannot have gone. */
        size_t k = 0;
        for (size_t i = 0; i < nobjs; i++) {
            if (objs[i].handle == NULL)
                continue;
            for (size_t j = 0; j < nrecs; j++)
                if (recs[j].obj == i)
                    recs[j].obj = k;
            objs[k++] = objs[i];
        }
        nobjs = k;
    }
    for (size_t i = 0; i < w.n; i++)
        if (!known(&w.c[i]))
            take(&w.c[i], w.names[i], i == 0);
    seen_adds = w.adds;
    seen_subs = w.subs;
    seen_any = 1;
    free(w.c);
    free(w.names);
}

/* Syncs while a dlopen left the state dirty and the mutex can be had (see the top). */
static void sync_pending(void)
{
    while (atomic_load(&dirty)) {
        if (pthread_mutex_trylock(&mu) != 0)
            return;                  /* its holder syncs again before it leaves */
        atomic_store(&dirty, 0);
        if (atomic_load(&installed))
            sync_objects();
        pthread_mutex_unlock(&mu);
    }
}

/* ---- dlopen as the caller (see the top) ---- */

/* file with $ORIGIN / ${ORIGIN} replaced by the folder of the object holding caller, as a
 * new string; NULL when there is nothing to replace or on failure. */
static char *expand_origin(const char *file, const void *caller)
{
    if (strstr(file, "$ORIGIN") == NULL && strstr(file, "${ORIGIN}") == NULL)
        return NULL;
    Dl_info di;
    char dir[4096];
    if (!dladdr(caller, &di) || di.dli_fname == NULL)
        return NULL;
    const char *path = di.dli_fname;
    char exe[4096];
    if (path[0] != '/') {            /* the main program: its file */
        ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
        if (n <= 0)
            return NULL;
        exe[n] = '\0';
        path = exe;
    }
    const char *slash = strrchr(path, '/');
    size_t dlen = slash ? (size_t)(slash - path) : 0;
    if (dlen >= sizeof dir)
        return NULL;
    memcpy(dir, path, dlen);
    dir[dlen] = '\0';
    size_t cap = strlen(file) * (dlen + 1) + 1;
    char *out = malloc(cap);
    if (out == NULL)
        return NULL;
    size_t o = 0;
    for (const char *p = file; *p;) {
        size_t skip = strncmp(p, "${ORIGIN}", 9) == 0 ? 9 : strncmp(p, "$ORIGIN", 7) == 0 ? 7 : 0;
        if (skip) {
            memcpy(out + o, dir, dlen);
            o += dlen;
            p += skip;
        } else {
            out[o++] = *p++;
        }
    }
    out[o] = '\0';
    return out;
}

/* A bare name searched as the caller would: loaded already, then its search path. */
static void *search_as_caller(const char *file, int flags, const void *caller)
{
    void *h = real.dlopen(file, flags | RTLD_NOLOAD);
    if (h != NULL)
        return h;
    Dl_info di;
    struct link_map *lm = NULL;
    Dl_serinfo size;
    if (!dladdr1(caller, &di, (void **)&lm, RTLD_DL_LINKMAP) || lm == NULL
        || dlinfo(lm, RTLD_DI_SERINFOSIZE, &size) != 0)
        return NULL;
    Dl_serinfo *si = malloc(size.dls_size);
    if (si == NULL)
        return NULL;
    *si = size;
    if (dlinfo(lm, RTLD_DI_SERINFO, si) == 0) {
        size_t flen = strlen(file);
        for (unsigned i = 0; i < si->dls_cnt && h == NULL; i++) {
            const char *dir = si->dls_serpath[i].dls_name;
            size_t dlen = dir ? strlen(dir) : 0;
            char path[4096];
            if (dlen == 0 || dlen + flen + 2 > sizeof path)
                continue;
            memcpy(path, dir, dlen);
            path[dlen] = '/';
            memcpy(path + dlen + 1, file, flen + 1);
            if (access(path, F_OK) == 0)
                h = real.dlopen(path, flags);
        }
    }
    free(si);
    return h;
}

static void *hook_dlopen(const char *file, int flags)
{
    const void *caller = __builtin_extract_return_addr(__builtin_return_address(0));
    void *h = NULL;
    if (file != NULL && file[0] != '\0') {
        char *expanded = expand_origin(file, caller);
        const char *f = expanded ? expanded : file;
        if (strchr(f, '/') == NULL)
            h = search_as_caller(f, flags, caller);
        if (h == NULL)
            h = real.dlopen(f, flags);
        free(expanded);
    } else {
        h = real.dlopen(file, flags);
    }
    if (h != NULL && atomic_load(&installed) && !(flags & RTLD_NOLOAD)) {
        int e = errno;
        atomic_store(&dirty, 1);
        sync_pending();
        errno = e;
    }
    return h;
}

/* ---- fork ---- */

static void fork_prepare(void)
{
    pthread_mutex_lock(&mu);
}

static void fork_after(void)
{
    pthread_mutex_unlock(&mu);
}

/* ---- public ---- */

int pf_nativehook_install(char *why, size_t whylen)
{
    if (!PF_ELFGOT_SUPPORTED) {
        snprintf(why, whylen, "not supported on this machine (x86-64 and AArch64 Linux only)");
        return -1;
    }
    if (resolve(why, whylen) < 0)
        return -1;
    if (!fork_handlers) {
        if (pthread_atfork(fork_prepare, fork_after, fork_after) != 0) {
            snprintf(why, whylen, "cannot register its fork handlers");
            return -1;
        }
        fork_handlers = 1;
    }
    pthread_mutex_lock(&mu);
    memset(&stats, 0, sizeof stats);
    seen_any = 0;
    atomic_store(&installed, 1);
    sync_objects();
    pthread_mutex_unlock(&mu);
    sync_pending();
    return 0;
}

void pf_nativehook_uninstall(void)
{
    pthread_mutex_lock(&mu);
    if (!atomic_load(&installed)) {
        pthread_mutex_unlock(&mu);
        return;
    }
    atomic_store(&installed, 0);
    for (size_t i = nrecs; i-- > 0;) {
        const struct rec *r = &recs[i];
        if (__atomic_load_n(r->slot, __ATOMIC_ACQUIRE) == r->hook)
            pf_elfgot_write(&objs[r->obj].o, r->slot, r->old);
    }
    free(recs);
    recs = NULL;
    nrecs = cap_recs = 0;
    for (size_t i = 0; i < nobjs; i++)
        if (objs[i].handle != NULL)
            dlclose(objs[i].handle);
    free(objs);
    objs = NULL;
    nobjs = cap_objs = 0;
    seen_any = 0;
    pthread_mutex_unlock(&mu);
}

void pf_nativehook_get_stats(pf_nativehook_stats *out)
{
    pthread_mutex_lock(&mu);
    *out = stats;
    pthread_mutex_unlock(&mu);
}
