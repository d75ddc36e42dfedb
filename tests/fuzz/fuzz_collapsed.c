/* fuzz_collapsed.c: libFuzzer target for the collapsed-stack reader and the stack tree.
 *
 * The first byte picks options (strict mode, stream chunk size); the rest is collapsed text.
 * Besides "no crash, no leak, no out-of-bounds read" it checks properties:
 *  - every stack the line parser hands out lies inside the input buffer;
 *  - the tree is well formed (parent < index, totals = self + children);
 *  - writing the tree, reading that back and writing again gives the same bytes;
 *  - the stream reader, with chunks of 1-32 bytes, builds the same tree as the
 *    buffer reader;
 *  - the hand-written count parser agrees with strtod on decimal tokens. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/alloc.h"
#include "formats/collapsed_internal.h"
#include "formats/stacktree.h"

struct span {
    const char *lo, *hi;
    unsigned long last_line;
};


static long read_stream(void *ctx, char *buf, size_t cap, pf_error *err)
{
    FILE *in = ctx;
    size_t got = fread(buf, 1, cap, in);
    if (got == 0 && ferror(in))
        return pf_error_set(err, PF_EIO, "read error");
    return (long)got;
}

/* The stack tree of a stream read chunk bytes at a time (0: the loader's default). */
static pf_stacktree *load_chunked(FILE *in, const pf_collapsed_opts *o, pf_error *err, size_t chunk)
{
    pf_stacktree *t = pf_stacktree_new(NULL);
    if (t == NULL)
        return NULL;
    if (pf_stacktree_load(t, read_stream, in, chunk, o, err) < 0) {
        pf_stacktree_free(t);
        return NULL;
    }
    return t;
}

static int check_line(void *ctx, const pf_collapsed_line *l, pf_error *err)
{
    struct span *s = ctx;
    (void)err;
    if (l->stack < s->lo || l->stack + l->stack_len > s->hi || l->stack_len == 0)
        abort();
    if (!(l->count >= 0) || (l->has_count2 && !(l->count2 >= 0)))
        abort();
    if (l->lineno <= s->last_line)
        abort();
    s->last_line = l->lineno;
    return 0;
}

static void count_bad(void *ctx, unsigned long lineno, const char *msg)
{
    (void)ctx;
    if (lineno == 0 || msg == NULL || msg[0] == '\0')
        abort();
}

/* Writes f into a malloc'd buffer (open_memstream). */
static char *dump(const pf_stacktree *f, size_t *len)
{
    char *buf = NULL;
    FILE *out = open_memstream(&buf, len);
    if (out == NULL)
        abort();
    pf_error err;
    if (pf_stacktree_write_collapsed(f, out, PF_COUNTS_AUTO, &err) != 0)
        abort();
    fclose(out);
    return buf;
}

static void check_tree(const pf_stacktree *f)
{
    for (uint32_t i = 1; i < f->nnodes; i++)
        if (f->nodes[i].parent >= i)
            abort();
    for (uint32_t p = 0; p < f->nnodes; p++) {
        double sum = f->nodes[p].self;
        for (uint32_t c = f->nodes[p].first_child; c != PF_NONE; c = f->nodes[c].next_sibling) {
            if (c >= f->nnodes || f->nodes[c].parent != p)
                abort();
            sum += f->nodes[c].total;
        }
        double d = sum - f->nodes[p].total;
        if (d < 0)
            d = -d;
        if (!(d <= 1e-9 * (sum < 0 ? -sum : sum) + 1e-300) && sum == sum && sum - sum == 0)
            abort();
    }
}

/* The first line of the input, if it is made only of decimal-number characters, is
 * parsed both ways: same verdict and, when accepted, the same double. */
static void check_count_parser(const char *text, size_t len)
{
    char tok[64];
    size_t n = 0;
    while (n < len && n < sizeof tok - 1 && text[n] != '\n') {
        if (!strchr("0123456789.eE+-", text[n]) || text[n] == '\0')
            return;
        tok[n] = text[n];
        n++;
    }
    if (n == 0 || n == sizeof tok - 1)
        return;
    tok[n] = '\0';
    double mine = -1, theirs;
    int rc = pf_collapsed_parse_count_(tok, n, &mine);
    char *end;
    theirs = strtod(tok, &end);
    int whole = *end == '\0';
    if (rc == PF_COUNT_OK) {
        if (!whole || mine != theirs)
            abort();
    } else if (rc == PF_COUNT_NEGATIVE) {
        if (!whole || !(theirs < 0))
            abort();
    } else if (rc == PF_COUNT_RANGE) {
        if (!whole || theirs - theirs == 0)      /* strtod must overflow too */
            abort();
    } else if (whole) {
        abort();                                 /* strtod took a token we refused */
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    unsigned flags = data[0];
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    long live = pf_alloc_live_blocks();
    check_count_parser(text, len);

    /* The line parser on its own. */
    struct span s = { text, text + len, 0 };
    pf_collapsed_opts po = { (int)(flags & 1), count_bad, &s };
    pf_error err;
    long good = pf_collapsed_parse(text, len, check_line, &po, &err);
    if (good < 0 && err.code != PF_EPARSE)
        abort();

    pf_collapsed_opts fo = { (int)(flags & 1), count_bad, NULL };
    pf_stacktree *f = pf_stacktree_from_collapsed(text, len, NULL, &fo, &err);
    if (f == NULL) {
        if (good > 0 && err.code != PF_EPARSE && err.code != PF_ELIMIT)
            abort();
    } else {
        check_tree(f);
        /* Output, read back and written again, is a fixed point.  The first rewrite
         * may differ from the input tree: names that differ only in bytes the writer
         * replaces ("x\r" and "x?") collide; from then on nothing changes. */
        size_t n1, n2, n3;
        char *once = dump(f, &n1);
        pf_stacktree *g = n1 ? pf_stacktree_from_collapsed(once, n1, NULL, NULL, &err) : NULL;
        if (n1 && g == NULL)
            abort();
        if (g) {
            char *twice = dump(g, &n2);
            pf_stacktree *h = pf_stacktree_from_collapsed(twice, n2, NULL, NULL, &err);
            if (h == NULL)
                abort();
            char *thrice = dump(h, &n3);
            if (n2 != n3 || memcmp(twice, thrice, n2) != 0)
                abort();
            /* Without replaced bytes the first rewrite is already the fixed point. */
            if (memchr(text, '\r', len) == NULL && (n1 != n2 || memcmp(once, twice, n1) != 0))
                abort();
            free(twice);
            free(thrice);
            pf_stacktree_free(h);
            pf_stacktree_free(g);
        }
        /* The stream reader must agree. */
        if (flags & 4) {
            FILE *in = fmemopen((void *)text, len, "rb");
            if (in) {
                /* Tiny chunks: boundaries fall everywhere, long lines grow the buffer. */
                pf_stacktree *h = load_chunked(in, &fo, &err, 1 + (flags >> 3));
                fclose(in);
                if (h == NULL)
                    abort();
                size_t n4;
                char *again = dump(h, &n4);
                if (n4 != n1 || memcmp(again, once, n1) != 0)
                    abort();
                free(again);
                pf_stacktree_free(h);
            }
        }
        free(once);
        pf_stacktree_free(f);
    }
    if (pf_alloc_live_blocks() != live)
        abort();
    return 0;
}
