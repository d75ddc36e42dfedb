/* alloc.c: malloc wrappers with a fault-injection switch and a live-block counter.
 * The counters are plain globals: tests are single-threaded, and the collector
 * never calls these from more than one thread at a time (it holds the GIL). */
#include "alloc.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static long fail_after = -1;   /* < 0: injection off */
static long injected;
static long live_blocks;
static size_t largest;         /* largest request since pf_alloc_fail_after() */

static int should_fail(size_t n)
{
    if (n > largest)
        largest = n;
    if (fail_after < 0)
        return 0;
    if (fail_after == 0) {
        injected++;
        return 1;
    }
    fail_after--;
    return 0;
}

void *pf_malloc(size_t n)
{
    if (should_fail(n))
        return NULL;
    void *p = malloc(n ? n : 1);
    if (p)
        live_blocks++;
    return p;
}

void *pf_calloc(size_t nmemb, size_t size)
{
    if (should_fail(size && nmemb > SIZE_MAX / size ? SIZE_MAX : nmemb * size))
        return NULL;
    void *p = calloc(nmemb ? nmemb : 1, size ? size : 1);
    if (p)
        live_blocks++;
    return p;
}

void *pf_realloc(void *p, size_t n)
{
    if (n == 0) {
        pf_free(p);
        return NULL;
    }
    if (should_fail(n))
        return NULL;
    void *q = realloc(p, n);
    if (q && p == NULL)
        live_blocks++;
    return q;
}

void *pf_reallocarray(void *p, size_t nmemb, size_t size)
{
    if (size != 0 && nmemb > SIZE_MAX / size)
        return NULL;
    size_t n = nmemb * size;
    return pf_realloc(p, n != 0 ? n : 1);
}

char *pf_strndup(const char *s, size_t n)
{
    char *d = pf_malloc(n + 1);
    if (d == NULL)
        return NULL;
    if (n)
        memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

void pf_free(void *p)
{
    if (p == NULL)
        return;
    live_blocks--;
    free(p);
}

void pf_alloc_fail_after(long n)
{
    fail_after = n;
    injected = 0;
    largest = 0;
}

long pf_alloc_injected_failures(void) { return injected; }
long pf_alloc_live_blocks(void) { return live_blocks; }
size_t pf_alloc_largest_request(void) { return largest; }
