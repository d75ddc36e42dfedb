/* clock_probe.c: what one clock read costs on this machine, for bench_floor.sh.  Every
 * recorded call reads the clock twice (entry, exit) and a line event once, so on
 * call-heavy code these reads are a fixed share of any exact profiler's overhead: the
 * collector's TSC read beside CPython's own clock (cProfile's) and the CPU clock
 * (--clock cpu).  Prints one line: nanoseconds per read, the median of 5 rounds. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#define HAVE_TSC 1
#endif

#define N 2000000

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static volatile uint64_t sink;

static double per_read(int which)
{
    double r[5];
    for (int k = 0; k < 5; k++) {
        uint64_t s = 0;
        double t0 = now_ns();
        for (int i = 0; i < N; i++) {
            struct timespec ts;
            switch (which) {
#ifdef HAVE_TSC
            case 0: s += __rdtsc(); break;
#endif
            case 1: clock_gettime(CLOCK_MONOTONIC, &ts); s += (uint64_t)ts.tv_nsec; break;
            default: clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts); s += (uint64_t)ts.tv_nsec; break;
            }
        }
        r[k] = (now_ns() - t0) / N;
        sink = s;
    }
    qsort(r, 5, sizeof r[0], cmp);
    return r[2];
}

int main(void)
{
#ifdef HAVE_TSC
    printf("clock read: TSC %.1f ns, ", per_read(0));
#else
    printf("clock read: ");
#endif
    printf("CLOCK_MONOTONIC %.1f ns, CLOCK_THREAD_CPUTIME_ID %.1f ns\n", per_read(1), per_read(2));
    return 0;
}
