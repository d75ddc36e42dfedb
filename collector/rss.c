/* rss.c: RSS samples of the process (see rss.h).  The buffer is a fixed array of
 * PF_RSS_MAX samples; invariant: samples are in time order, at least interval_ns
 * apart except the first, and next_ns is the last sample's time plus interval_ns.
 * Reading /proc uses open/read/close only (no stdio, no malloc), so the sampler
 * never takes an allocator lock.
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "collector/rss.h"
#include "formats/alloc.h"

struct pf_rss_rec {
    pthread_mutex_t lock;
    uint64_t start;                 /* CLOCK_MONOTONIC ns that time 0 stands for */
    uint64_t interval_ns;
    uint64_t next_ns;               /* the sampler's next deadline (its own field) */
    uint64_t max_bytes;             /* largest sample ever taken (dropped ones too) */
    uint32_t n;
    pf_rss_sample s[PF_RSS_MAX];
};

pf_rss_rec *pf_rss_new(uint64_t mono_start)
{
    pf_rss_rec *r = pf_calloc(1, sizeof *r);
    if (r == NULL)
        return NULL;
    if (pthread_mutex_init(&r->lock, NULL) != 0) {
        pf_free(r);
        return NULL;
    }
    r->start = mono_start;
    r->interval_ns = PF_RSS_INTERVAL_NS;
    r->next_ns = mono_start;
    return r;
}

void pf_rss_free(pf_rss_rec *r)
{
    if (r == NULL)
        return;
    /* not destroyed: in a forked child the parent's sampler may have held it */
    pf_free(r);
}

uint64_t pf_rss_due(const pf_rss_rec *r)
{
    return r->next_ns;
}

void pf_rss_add(pf_rss_rec *r, uint64_t mono_now, uint64_t bytes)
{
    uint64_t t = mono_now > r->start ? mono_now - r->start : 0;
    pthread_mutex_lock(&r->lock);
    if (r->n == PF_RSS_MAX) {       /* full: keep every other sample, twice as far apart */
        for (uint32_t i = 1; i < PF_RSS_MAX / 2; i++)
            r->s[i] = r->s[2 * i];
        r->n = PF_RSS_MAX / 2;
        if (r->interval_ns < (UINT64_C(1) << 50))     /* 13 days: never reached */
            r->interval_ns *= 2;
    }
    if (r->n > 0 && t < r->s[r->n - 1].time_ns)
        t = r->s[r->n - 1].time_ns;
    r->s[r->n].time_ns = t;
    r->s[r->n].bytes = bytes;
    r->n++;
    if (bytes > r->max_bytes)
        r->max_bytes = bytes;
    pthread_mutex_unlock(&r->lock);
    r->next_ns = mono_now + r->interval_ns;
}

void pf_rss_take(pf_rss_rec *r, uint64_t mono_now)
{
    uint64_t b = pf_rss_now();
    if (b != 0)
        pf_rss_add(r, mono_now, b);
    else
        r->next_ns = mono_now + r->interval_ns;
}

uint32_t pf_rss_count(pf_rss_rec *r, uint64_t *interval_ns)
{
    pthread_mutex_lock(&r->lock);
    uint32_t n = r->n;
    if (interval_ns != NULL)
        *interval_ns = r->interval_ns;
    pthread_mutex_unlock(&r->lock);
    return n;
}

int pf_rss_emit(pf_rss_rec *r, pf_trace *t, uint32_t process, uint64_t mono_now)
{
    uint64_t now_bytes = pf_rss_now(), peak = pf_rss_peak();
    uint64_t tnow = mono_now > r->start ? mono_now - r->start : 0;
    pthread_mutex_lock(&r->lock);
    uint32_t n = r->n;
    pf_rss_sample *s = pf_malloc(((size_t)n + 1) * sizeof *s);
    if (s == NULL) {
        pthread_mutex_unlock(&r->lock);
        return -1;
    }
    memcpy(s, r->s, (size_t)n * sizeof *s);
    uint64_t max = r->max_bytes;
    pthread_mutex_unlock(&r->lock);
    /* the value now ends the line (when it is a new moment) */
    if (now_bytes != 0 && (n == 0 || tnow > s[n - 1].time_ns)) {
        s[n].time_ns = tnow;
        s[n].bytes = now_bytes;
        n++;
    }
    if (now_bytes > max)
        max = now_bytes;
    if (peak < max)
        peak = max;
    uint32_t i = pf_trace_add_rss(t, process, peak, now_bytes, s, n);
    pf_free(s);
    return i == PF_NONE ? -1 : 0;
}

/* Reads a small /proc file into buf (NUL-terminated); its length, or -1. */
static ssize_t read_proc(const char *path, char *buf, size_t cap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t len = 0;
    while (len < cap - 1) {
        ssize_t k = read(fd, buf + len, cap - 1 - len);
        if (k <= 0)
            break;
        len += (size_t)k;
    }
    close(fd);
    buf[len] = '\0';
    return (ssize_t)len;
}

uint64_t pf_rss_now(void)
{
    char buf[128];
    if (read_proc("/proc/self/statm", buf, sizeof buf) <= 0)
        return 0;
    const char *p = strchr(buf, ' ');      /* "size resident shared ..." in pages */
    if (p == NULL)
        return 0;
    long page = sysconf(_SC_PAGESIZE);
    return strtoull(p + 1, NULL, 10) * (uint64_t)(page > 0 ? page : 4096);
}

uint64_t pf_rss_peak(void)
{
    char buf[4096];
    if (read_proc("/proc/self/status", buf, sizeof buf) > 0) {
        const char *p = strstr(buf, "\nVmHWM:");
        if (p != NULL)
            return strtoull(p + 7, NULL, 10) * 1024u;      /* "VmHWM:   1234 kB" */
    }
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) == 0 && ru.ru_maxrss > 0)
        return (uint64_t)ru.ru_maxrss * 1024u;             /* kB on Linux */
    return 0;
}
