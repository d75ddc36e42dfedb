/* alloc.h: the allocator every formats/, convert/ and render/ module goes through.
 *
 * It exists for fault injection: tests call pf_alloc_fail_after(n) so that the
 * (n+1)-th allocation from then on fails, loop n upward until the operation succeeds,
 * and check that every failure was reported cleanly and nothing leaked (SQLite's
 * malloc tests, Lua's failnext).  In production the wrappers are plain malloc/realloc.
 */
#ifndef PF_ALLOC_H
#define PF_ALLOC_H

#include <stddef.h>

/* Like malloc/calloc/realloc/free.  pf_realloc with n == 0 frees and returns NULL.
 * pf_reallocarray fails (NULL, old block intact) if nmemb*size overflows. */
void *pf_malloc(size_t n);
void *pf_calloc(size_t nmemb, size_t size);
void *pf_realloc(void *p, size_t n);
void *pf_reallocarray(void *p, size_t nmemb, size_t size);
char *pf_strndup(const char *s, size_t n);   /* copies n bytes and adds a NUL */
void pf_free(void *p);

/* Fault injection (tests only).  After this call, n more allocations succeed and
 * every later one fails until pf_alloc_fail_after(-1) turns injection off. */
void pf_alloc_fail_after(long n);
/* Allocations that failed because of injection since the last pf_alloc_fail_after(). */
long pf_alloc_injected_failures(void);
/* Live blocks allocated through these wrappers (for leak checks in tests). */
long pf_alloc_live_blocks(void);
/* The largest single request (bytes) since the last pf_alloc_fail_after() call, to
 * check that a budget-bound reader never asked for more than its budget. */
size_t pf_alloc_largest_request(void);

#endif
