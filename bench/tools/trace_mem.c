/* trace_mem: what the decoded model of a trace costs, per calling-context node:
 *
 *     trace_mem TRACE
 *
 * Reads TRACE with pf_trace_read and prints to stdout the heap bytes in use for
 * the model (glibc's mallinfo2, after minus before: the arrays with their growth
 * slack, the string table, sources, meta), the peak RSS of the process, and both
 * divided by the number of nodes.  For `make bench` and FORMAT.md section 7. */
#include <inttypes.h>
#include <malloc.h>
#include <stdio.h>
#include <sys/resource.h>

#include "formats/trace.h"

static size_t heap_in_use(void)
{
    struct mallinfo2 mi = mallinfo2();
    return mi.uordblks + mi.hblkhd;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: trace_mem TRACE\n");
        return 2;
    }
    size_t before = heap_in_use();
    pf_error err;
    pf_trace *t = pf_trace_read(argv[1], &err);
    if (t == NULL) {
        fprintf(stderr, "trace_mem: %s: %s\n", argv[1], err.msg);
        return 1;
    }
    size_t model = heap_in_use() - before;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double n = t->nnodes ? (double)t->nnodes : 1.0;
    printf("nodes %" PRIu32 " sizeof(pf_node) %zu model_bytes %zu bytes_per_node %.1f "
           "peak_rss_bytes %ld rss_per_node %.1f\n",
           t->nnodes, sizeof(pf_node), model, (double)model / n, ru.ru_maxrss * 1024L,
           (double)ru.ru_maxrss * 1024.0 / n);
    pf_trace_free(t);
    return 0;
}
