/* fuzz_trace.c: libFuzzer target for the trace reader (formats/trace_read.c).
 * Any input must give either an error or a trace that passes pf_trace_validate,
 * without crashes, leaks or hangs.  Accepted traces are also written back and
 * re-read, which must reproduce them (the writer/reader mirror holds for any trace
 * the reader accepts).  The same bytes also go through pf_input on its own (windows,
 * sniff) and through pf_trace_read_input with a 1 MiB budget, which must fail or
 * agree with the default read.  An accepted trace merged with itself
 * (pf_trace_merge) must give a valid trace of twice its threads and nodes, with twice
 * its links; reshaped into the async view (pf_trace_async_view, which meets every
 * damaged link a reader accepts) it must stay valid, keeping its self time.
 * Seeds: tests/fuzz/corpus/fuzz_trace/ (gzip and raw). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "formats/alloc.h"
#include "formats/asyncview.h"
#include "formats/input.h"
#include "formats/trace.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    long live = pf_alloc_live_blocks();
    pf_error err;
    pf_trace *t = pf_trace_read_mem(data, size, &err);
    if (t == NULL) {
        if (err.code == PF_OK || err.msg[0] == '\0')
            abort();                     /* failures must say why */
    } else {
        if (pf_trace_validate(t, &err) != 0)
            abort();
        unsigned char *raw;
        size_t rawlen;
        if (pf_trace_write_mem_raw(t, &raw, &rawlen, &err) != 0)
            abort();
        pf_trace *u = pf_trace_read_mem(raw, rawlen, &err);
        if (u == NULL || u->nnodes != t->nnodes || u->ncodes != t->ncodes ||
            u->nlines != t->nlines || u->nsamples != t->nsamples ||
            u->nsources != t->nsources || u->nprocesses != t->nprocesses ||
            pf_strtab_count(u->strings) != pf_strtab_count(t->strings))
            abort();
        unsigned char *raw2;
        size_t rawlen2;
        if (pf_trace_write_mem_raw(u, &raw2, &rawlen2, &err) != 0 || rawlen2 != rawlen ||
            memcmp(raw, raw2, rawlen) != 0)
            abort();                     /* write(read(write(t))) == write(t) */
        pf_free(raw2);
        pf_free(raw);
        pf_trace_free(u);
        pf_trace *twice[2] = { t, t };
        pf_trace *m = pf_trace_merge(twice, 2, &err);
        if (m == NULL || pf_trace_validate(m, &err) != 0 || m->nnodes != 2 * t->nnodes ||
            m->nthreads != 2 * t->nthreads || m->ncodes > t->ncodes ||
            m->nprocesses != (t->nprocesses ? 2 * t->nprocesses : 2) ||
            m->nlinks != 2 * t->nlinks)
            abort();
        pf_trace_free(m);
    }
    /* The input layer alone: windows cover the decoded bytes exactly. */
    pf_input *in = pf_input_open_mem(data, size, &err);
    if (in == NULL)
        abort();
    int kind = pf_input_sniff(in, &err);
    const unsigned char *p;
    size_t n;
    uint64_t total = 0;
    int r;
    while ((r = pf_input_next(in, &p, &n, &err)) > 0) {
        total += n;
        if (pf_input_offset(in) != total)
            abort();
    }
    if (r < 0 && (err.code == PF_OK || err.msg[0] == '\0'))
        abort();
    if (kind == PF_INPUT_EMPTY && (r != 0 || total != 0))
        abort();
    pf_input_free(in);
    /* A small budget: an error, or the same trace the default read gave. */
    in = pf_input_open_mem(data, size, &err);
    pf_input_set_budget(in, 1 << 20);
    pf_trace *b = pf_trace_read_input(in, &err);
    pf_input_free(in);
    if (b != NULL) {
        if (t == NULL || b->nnodes != t->nnodes || b->mem.used > (1u << 20))
            abort();
        pf_trace_free(b);
    } else if (err.code == PF_OK) {
        abort();
    }
    if (t != NULL) {                     /* last: it reshapes t */
        uint64_t self = 0, self2 = 0;
        for (uint32_t i = 0; i < t->nnodes; i++)
            self += t->nodes[i].self_ns;
        if (pf_trace_async_view(t, &err) == 0) {
            if (pf_trace_validate(t, &err) != 0 || t->view != PF_VIEW_ASYNC || t->nlinks != 0)
                abort();
            for (uint32_t i = 0; i < t->nnodes; i++)
                self2 += t->nodes[i].self_ns;
            if (self2 != self)
                abort();
        } else if (err.code != PF_ENOMEM) {
            abort();
        }
    }
    pf_trace_free(t);
    if (pf_alloc_live_blocks() != live)
        abort();
    (void)pf_trace_sniff(data, size);
    return 0;
}
