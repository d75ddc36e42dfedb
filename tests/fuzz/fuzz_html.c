/* fuzz_html.c: libFuzzer target for the HTML report: any trace the reader accepts
 * must render (with and without limits, thresholds and full paths) without crashes,
 * undefined behaviour, leaks or hangs.  Seeds: tests/fuzz/corpus/fuzz_html/. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "formats/alloc.h"
#include "formats/trace.h"
#include "render/html.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    long live = pf_alloc_live_blocks();
    pf_error err;
    pf_trace *t = pf_trace_read_mem(data, size, &err);
    if (t == NULL)
        return 0;
    for (int v = 0; v < 2; v++) {
        pf_html_opts o;
        pf_html_opts_init(&o);
        if (v) {
            o.limit = 1;
            o.threshold_pct = 5;
            o.context = 0;
            o.full_paths = 1;
            o.title = "<t>&\"";
        }
        char *buf = NULL;
        size_t len = 0;
        FILE *out = open_memstream(&buf, &len);
        if (out == NULL)
            break;
        if (pf_html_render(t, &o, out, &err) < 0 && err.msg[0] == '\0' && err.code == PF_OK)
            abort();
        fclose(out);
        free(buf);
    }
    pf_trace_free(t);
    if (pf_alloc_live_blocks() != live)
        abort();
    return 0;
}
