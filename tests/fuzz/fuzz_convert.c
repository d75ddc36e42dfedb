/* fuzz_convert.c: libFuzzer target for every converter: any bytes the trace reader
 * accepts must convert to collapsed (each metric, both granularities), pstats, text
 * (each sort) and lines without crashes, undefined behaviour, leaks or hangs; a
 * refusal must say why.  Then the same trace in the async view (--async: the view
 * meets whatever links the reader accepts) to text and collapsed.  Output goes to a
 * memory stream that is thrown away.
 * Seeds: tests/fuzz/corpus/fuzz_convert/. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "convert/convert.h"
#include "formats/alloc.h"
#include "formats/asyncview.h"
#include "formats/trace.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void convert_one(const pf_trace *t, const pf_convert_opts *o)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    if (out == NULL)
        return;
    pf_error err;
    pf_error_clear(&err);
    if (pf_convert_write(t, o, out, &err) < 0 && err.msg[0] == '\0' && err.code == PF_OK)
        abort();                         /* a refusal must say why */
    fclose(out);
    free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    long live = pf_alloc_live_blocks();
    pf_error err;
    pf_trace *t = pf_trace_read_mem(data, size, &err);
    if (t == NULL)
        return 0;
    pf_convert_opts o;
    for (int m = 0; m <= PF_METRIC_EXIT_BYTES; m++)
        for (int g = 0; g <= PF_GRAN_LINE; g++) {
            pf_convert_opts_init(&o);
            o.format = PF_CONVERT_COLLAPSED;
            o.frame.metric = (enum pf_metric)m;
            o.frame.granularity = (enum pf_granularity)g;
            o.frame.full_paths = m & 1;
            convert_one(t, &o);
        }
    pf_convert_opts_init(&o);
    o.format = PF_CONVERT_PSTATS;
    convert_one(t, &o);
    for (int s = 0; s <= PF_SORT_EXIT; s++) {
        pf_convert_opts_init(&o);
        o.format = PF_CONVERT_TEXT;
        o.text.sort = (enum pf_text_sort)s;
        o.text.limit = s & 1 ? 0 : 5;
        convert_one(t, &o);
    }
    pf_convert_opts_init(&o);
    o.format = PF_CONVERT_LINES;
    convert_one(t, &o);
    if (pf_trace_async_view(t, &err) == 0) {
        pf_convert_opts_init(&o);
        o.format = PF_CONVERT_TEXT;
        convert_one(t, &o);
        for (int g = 0; g <= PF_GRAN_LINE; g++) {
            pf_convert_opts_init(&o);
            o.format = PF_CONVERT_COLLAPSED;
            o.frame.metric = PF_METRIC_CALLS;
            o.frame.granularity = (enum pf_granularity)g;
            convert_one(t, &o);
        }
    } else if (err.code != PF_ENOMEM) {
        abort();
    }
    pf_trace_free(t);
    if (pf_alloc_live_blocks() != live)
        abort();                         /* leak */
    return 0;
}
