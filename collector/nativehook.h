/* nativehook.h: native allocation tracking for `collect --memory` -- the allocations C
 * extensions and libraries make themselves (numpy's arrays, compression buffers, database
 * drivers), which CPython's allocator domains never see.
 *
 * Every loaded shared object calls malloc & co. through its own GOT (collector/elfgot.h).
 * install overwrites those slots with hooks that call the real function and record the
 * block into memhook's tracker, at the calling thread's current site, marked native
 * (memhook_core.h, memtrack.h); nothing changes in the program's environment (no
 * LD_PRELOAD), as memray does it.  Hooked: malloc, calloc, realloc, reallocarray, free,
 * free_sized, free_aligned_sized, posix_memalign, aligned_alloc, memalign, valloc,
 * pvalloc, mmap and mmap64 (anonymous, accessible mappings only), munmap, mremap,
 * PyTraceMalloc_Track and PyTraceMalloc_Untrack (always forwarded, so tracemalloc in the
 * program keeps working), and dlopen, so that objects loaded later (numpy imported by the
 * program) are patched as soon as the real dlopen returns.  The algorithm, what is
 * skipped and why, and the limits are described in nativehook.c.
 *
 * Linux with glibc, x86-64 or AArch64 (PF_ELFGOT_SUPPORTED); elsewhere install fails.
 * Called by memhook.c only.
 */
#ifndef PF_COLLECTOR_NATIVEHOOK_H
#define PF_COLLECTOR_NATIVEHOOK_H

#include <stddef.h>

/* Patches every loaded object, and from now on every object loaded later.  The hooks
 * record only while memhook records; before and after they only forward.  GIL held (the
 * first call resolves the real functions).  Returns 0, or -1 with a reason in why (a
 * NUL-terminated sentence of at most whylen bytes) and nothing patched. */
int pf_nativehook_install(char *why, size_t whylen);

/* Puts back every slot that still holds a hook (a slot the program overwrote since is left
 * alone) and stops patching new objects.  Objects kept loaded while patched (see
 * nativehook.c) are released.  GIL held.  No-op when not installed. */
void pf_nativehook_uninstall(void);

/* What the last install patched (for tests and diagnostics). */
typedef struct pf_nativehook_stats {
    unsigned objects;             /* objects with at least one slot patched */
    unsigned slots;               /* slots patched */
    unsigned refused;             /* slots left alone: bound to another implementation */
} pf_nativehook_stats;

void pf_nativehook_get_stats(pf_nativehook_stats *out);

#endif
