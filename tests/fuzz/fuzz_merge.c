/* fuzz_merge.c: libFuzzer target for `pyflame-c merge` (formats/trace_merge.h): the
 * input's first two bytes (little-endian) say where the rest splits into two traces A
 * and B (gzip or raw, through the input reader, within a 64 MiB budget); whichever
 * read are summed as A, B, A.  A sum must either be refused with a message or give a
 * trace that passes pf_trace_validate, is in pre-order, and survives a write and a
 * read back with the same node count; no crash, undefined behaviour, leak or hang.
 * Seeds: tests/fuzz/corpus/fuzz_merge/ (A's length in 2 bytes, then A, then B). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "formats/alloc.h"
#include "formats/input.h"
#include "formats/trace.h"
#include "formats/trace_merge.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static pf_trace *read_part(const uint8_t *data, size_t n)
{
    pf_error err;
    pf_error_clear(&err);
    pf_input *in = pf_input_open_mem(data, n, &err);
    if (in == NULL)
        abort();
    pf_input_set_budget(in, 64u << 20);
    pf_trace *t = pf_trace_read_input(in, &err);
    pf_input_free(in);
    if (t == NULL && err.msg[0] == '\0')
        abort();                    /* a refusal must say why */
    return t;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    size_t alen = (size_t)data[0] | (size_t)data[1] << 8;
    data += 2;
    size -= 2;
    if (alen > size)
        alen = size;
    pf_trace *a = read_part(data, alen), *b = read_part(data + alen, size - alen);
    pf_trace *parts[3] = { a, b, a };
    pf_error err;
    pf_error_clear(&err);
    pf_trace_sum *s = pf_trace_sum_new();
    if (s == NULL)
        abort();
    int ok = 1, added = 0;
    for (int i = 0; i < 3 && ok; i++) {
        if (parts[i] == NULL)
            continue;
        if (pf_trace_sum_add(s, parts[i], i == 1 ? "b" : "a", &err) < 0) {
            if (err.msg[0] == '\0')
                abort();
            ok = 0;
        } else {
            added++;
        }
    }
    if (ok && added) {
        pf_trace *t = pf_trace_sum_detach(s, &err);
        if (t == NULL)
            abort();               /* small inputs cannot run out of memory */
        if (pf_trace_validate(t, &err) < 0)
            abort();
        for (uint32_t i = 1; i < t->nnodes; i++) {
            /* pre-order: the node before i is i's parent or in the parent's subtree */
            uint32_t p = t->nodes[i].parent, q = i - 1;
            if (p == PF_NONE)
                continue;
            while (q != PF_NONE && q != p)
                q = t->nodes[q].parent;
            if (q != p)
                abort();
        }
        unsigned char *buf;
        size_t len;
        if (pf_trace_write_mem_raw(t, &buf, &len, &err) < 0)
            abort();
        pf_trace *back = pf_trace_read_mem(buf, len, &err);
        if (back == NULL || back->nnodes != t->nnodes)
            abort();
        pf_trace_free(back);
        pf_free(buf);
        pf_trace_free(t);
    }
    pf_trace_sum_free(s);
    pf_trace_free(a);
    pf_trace_free(b);
    return 0;
}
