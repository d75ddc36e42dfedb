/* fuzz_diff.c: libFuzzer target for `pyflame-c diff`: the input's first two bytes say
 * where the rest splits into BASE and NEW (each a trace or collapsed stacks, gzip or
 * plain, through the input reader), and the second half's second byte some options
 * (normalize, metric, force).  The comparison is built and written as text, JSON,
 * Markdown (never over its limit), SVG and HTML, without crashes, undefined
 * behaviour, leaks or hangs; a refusal must say why.  An empty BASE makes NEW one file
 * of both sides (two counts a line).
 * Seeds: tests/fuzz/corpus/fuzz_diff/ (BASE's length in 2 bytes, little-endian,
 * then BASE, then NEW). */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "convert/diffout.h"
#include "formats/alloc.h"
#include "formats/diff.h"
#include "formats/input.h"
#include "formats/stacktree.h"
#include "formats/trace.h"
#include "render/html_diff.h"
#include "render/svg_diff.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Adds data[0..n) to side s (PF_DIFF_BOTH_SIDES: a file of two count columns); 0, or
 * -1 (err says why). */
static int add(pf_diff *d, int s, const uint8_t *data, size_t n, pf_error *err)
{
    pf_input *in = pf_input_open_mem(data, n, err);
    if (in == NULL)
        abort();
    pf_input_set_budget(in, 64u << 20);
    int rc = -1, kind = pf_input_sniff(in, err);
    if (kind == PF_INPUT_TRACE && s == PF_DIFF_BOTH_SIDES) {
        pf_error_set(err, PF_EUSAGE, "one input must be collapsed stacks");
    } else if (kind == PF_INPUT_TRACE) {
        pf_trace *t = pf_trace_read_input(in, err);
        if (t != NULL)
            rc = pf_diff_add_trace(d, s, t, s ? "new" : "base", err);
    } else if (kind >= 0 && n % 3 == 0 && s != PF_DIFF_BOTH_SIDES) {
        /* a tree loaded on its own, then added */
        pf_stacktree *t = pf_stacktree_new(NULL);
        if (t == NULL)
            abort();
        if (pf_stacktree_load_input(t, in, 1 + n % 61, NULL, err) < 0)
            pf_stacktree_free(t);
        else
            rc = pf_diff_add_stacks(d, s, t, s ? "new" : "base", err);
    } else if (kind >= 0) {
        /* streamed into the comparison's tree, as the CLI does */
        rc = pf_diff_add_stacks_input(d, s, in, 1 + n % 61, NULL, s ? "new" : "base", err);
    }
    pf_input_free(in);
    return rc;
}

static void outputs(const pf_diff *d)
{
    pf_gate g[3];
    pf_gate_result r[3];
    char why[256];
    if (pf_gate_parse("calls:+5%", &g[0], why, sizeof why) < 0 ||
        pf_gate_parse("peak:+1M", &g[1], why, sizeof why) < 0 ||
        pf_gate_parse("samples:+0%", &g[2], why, sizeof why) < 0)
        abort();
    for (int i = 0; i < 3; i++)
        pf_gate_eval(d, &g[i], 1e6, &r[i]);
    pf_diffout_opts o;
    pf_diffout_opts_init(&o);
    o.gates = g;
    o.results = r;
    o.ngates = 3;
    o.limit = 1000;
    o.svg_link = "d.svg";
    for (int f = 0; f < 5; f++) {
        char *buf = NULL;
        size_t len = 0;
        FILE *out = open_memstream(&buf, &len);
        if (out == NULL)
            return;
        pf_error err;
        pf_error_clear(&err);
        int rc;
        if (f == 0)
            rc = pf_diff_write_text(d, &o, out, &err);
        else if (f == 1)
            rc = pf_diff_write_json(d, &o, out, &err);
        else if (f == 2)
            rc = pf_diff_write_markdown(d, &o, out, &err);
        else if (f == 3) {
            pf_svg_diff_opts so;
            pf_svg_diff_opts_init(&so);
            rc = pf_svg_diff_write(d, &so, out, &err);
        } else {
            pf_html_diff_opts ho;
            pf_html_diff_opts_init(&ho);
            rc = pf_html_diff_render(d, &ho, out, &err);
        }
        fclose(out);
        if (rc < 0 && err.code == PF_OK && err.msg[0] == '\0')
            abort();                     /* failures must say why */
        if (f == 2 && rc == 0 && len > PF_MD_LIMIT)
            abort();                     /* the Markdown never passes its limit */
        free(buf);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3)
        return 0;
    long live = pf_alloc_live_blocks();
    size_t rest = size - 2, cut = ((size_t)data[0] | (size_t)data[1] << 8) % (rest + 1);
    const uint8_t *a = data + 2, *b = data + 2 + cut;
    size_t na = cut, nb = rest - cut;
    pf_diff_opts o;
    pf_diff_opts_init(&o);
    uint8_t flags = nb > 1 ? b[1] : 0;
    o.normalize = flags & 1;
    o.force = (flags >> 1) & 1;
    o.metric = (flags >> 2) % 2 ? PF_METRIC_CALLS : PF_METRIC_SELF_TIME;
    pf_diff *d = pf_diff_new(&o);
    if (d == NULL)
        abort();
    pf_error err;
    pf_error_clear(&err);
    /* BASE empty: NEW's bytes are one file of both sides */
    int ok = na == 0 ? add(d, PF_DIFF_BOTH_SIDES, b, nb, &err) == 0
                     : add(d, PF_DIFF_BASE, a, na, &err) == 0 && add(d, PF_DIFF_NEW, b, nb, &err) == 0;
    if (ok && pf_diff_finish(d, &err) == 0)
        outputs(d);
    else if (err.code == PF_OK && err.msg[0] == '\0')
        abort();
    pf_diff_free(d);
    if (pf_alloc_live_blocks() != live)
        abort();
    return 0;
}
