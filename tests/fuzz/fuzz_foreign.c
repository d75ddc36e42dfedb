/* fuzz_foreign.c: libFuzzer target for the readers of other profilers' files: the
 * marshal reader and the pstats rebuild, the JSON parser and the speedscope import
 * (formats/marshal_read.h, formats/json.h, formats/foreign.h).  The first byte picks
 * the reader; the rest is the file.  Besides "no crash, no leak, no out-of-bounds
 * read, no undefined behaviour", a trace that comes out must pass pf_trace_validate
 * (pre-order, references in range), and a model must stay within a small budget. */
#include <stdint.h>
#include <stdlib.h>

#include "formats/foreign.h"
#include "formats/json.h"
#include "formats/marshal_read.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    pf_error err;
    pf_error_clear(&err);
    int which = data[0] % 4;
    data++;
    size--;
    if (which == 0) {
        pf_mread *m = pf_mread_parse(data, size, 1u << 24, &err);
        if (m == NULL && err.code == 0)
            abort();
        pf_mread_free(m);
    } else if (which == 1) {
        pf_json *j = pf_json_parse((const char *)data, size, 1u << 24, &err);
        if (j == NULL && err.code == 0)
            abort();
        pf_json_free(j);
    } else {
        pf_trace *t = pf_foreign_read_mem(data, size, which == 2 ? PF_INPUT_PSTATS
                                                                 : PF_INPUT_SPEEDSCOPE, &err);
        if (t != NULL && pf_trace_validate(t, &err) < 0)
            abort();
        if (t == NULL && err.code == 0)
            abort();
        pf_trace_free(t);
    }
    return 0;
}
