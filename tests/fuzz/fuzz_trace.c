/* fuzz_trace.c: libFuzzer target for the trace reader (formats/trace_read.c).
 * Any input must give either an error or a trace that passes pf_trace_validate,
 * without crashes, leaks or hangs.  Accepted traces are also written back and
 * re-read, which must reproduce them (the writer/reader mirror holds for any trace
 * the reader accepts).  Seeds: tests/fuzz/corpus/fuzz_trace/ (gzip and raw). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "formats/alloc.h"
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
            u->nsources != t->nsources ||
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
        pf_trace_free(t);
    }
    if (pf_alloc_live_blocks() != live)
        abort();
    (void)pf_trace_sniff(data, size);
    return 0;
}
