/* fuzz_svg.c: libFuzzer target for `pyflame-c svg`'s path: the bytes go through the
 * input reader (gzip or plain, trace or collapsed told apart by content), into the stack
 * tree (merged, chart order, reversed, rebased) and out as an SVG, without crashes,
 * undefined behaviour, leaks or hangs; a refusal must say why.
 * Seeds: tests/fuzz/corpus/fuzz_svg/ (collapsed files and a trace). */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/alloc.h"
#include "formats/input.h"
#include "formats/stacktree.h"
#include "formats/trace.h"
#include "render/svg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void render(const pf_stacktree *t, int inverted)
{
    pf_svg_opts o;
    pf_svg_opts_init(&o);
    o.inverted = inverted;
    o.minwidth = inverted ? 0 : 0.1;
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    if (out == NULL)
        return;
    pf_error err;
    pf_error_clear(&err);
    if (pf_svg_write(t, &o, out, &err) < 0 && err.msg[0] == '\0' && err.code == PF_OK)
        abort();
    fclose(out);
    free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    long live = pf_alloc_live_blocks();
    for (int variant = 0; variant < 4; variant++) {
        pf_error err;
        pf_error_clear(&err);
        pf_stack_opts so;
        pf_stack_opts_init(&so);
        so.order = variant == 1 ? PF_ORDER_CHART : PF_ORDER_NAME;
        so.reverse = variant == 2;
        so.base = variant == 3 ? "a" : NULL;
        pf_input *in = pf_input_open_mem(data, size, &err);
        if (in == NULL)
            abort();
        pf_input_set_budget(in, 64u << 20);
        pf_trace *trace = NULL;
        pf_stacktree *t = NULL;
        int kind = pf_input_sniff(in, &err);
        if (kind == PF_INPUT_TRACE) {
            trace = pf_trace_read_input(in, &err);
            if (trace != NULL)
                t = pf_stacktree_from_trace(trace, &so, &err);
        } else if (kind >= 0) {
            t = pf_stacktree_new(&so);
            if (t != NULL && pf_stacktree_load_input(t, in, 1 + size % 97, NULL, &err) < 0) {
                pf_stacktree_free(t);
                t = NULL;
            }
        }
        if (t == NULL && err.code == PF_OK && err.msg[0] == '\0')
            abort();                         /* failures must say why */
        if (t != NULL && (t->nodes[0].total > 0 || pf_stacktree_total2(t, 0) > 0))
            render(t, variant & 1);
        pf_stacktree_free(t);
        pf_trace_free(trace);
        pf_input_free(in);
    }
    if (pf_alloc_live_blocks() != live)
        abort();
    return 0;
}
