/* test_input.c: the input reader (formats/input.c) and the decoding budget
 * (formats/budget.h) as the trace reader applies it: windows across gzip members,
 * plain input, files and stdin, peek and sniff, truncated gzip and data after the
 * last member (errors with the offset), the byte limit, a small crafted trace whose
 * model would pass the budget (refused before the allocation), allocation
 * failure at every step, and pyinstrument's "[self]" frames in speedscope files
 * (formats/foreign.c) folded into their parents. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "formats/alloc.h"
#include "formats/budget.h"
#include "formats/foreign.h"
#include "formats/input.h"
#include "formats/trace.h"
#include "formats/trace_format.h"

static char tmpdir[256];

static int setup_dir(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/pf_test_input.XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown_dir(void **state)
{
    (void)state;
    rmdir(tmpdir);
    return 0;
}

/* One gzip member holding p[0..n) (malloc'd; *outlen its size). */
static unsigned char *gzip_bytes(const unsigned char *p, size_t n, size_t *outlen)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    assert_int_equal(deflateInit2(&z, 6, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY), Z_OK);
    size_t cap = deflateBound(&z, (uLong)n) + 64;
    unsigned char *out = malloc(cap);
    z.next_in = (Bytef *)(uintptr_t)p;
    z.avail_in = (uInt)n;
    z.next_out = out;
    z.avail_out = (uInt)cap;
    assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
    *outlen = cap - z.avail_out;
    deflateEnd(&z);
    return out;
}

/* Deterministic, poorly compressible-ish content so windows fill unevenly. */
static unsigned char *pattern(size_t n)
{
    unsigned char *p = malloc(n ? n : 1);
    uint32_t x = 12345;
    for (size_t i = 0; i < n; i++) {
        x = x * 1103515245u + 12345u;
        p[i] = (unsigned char)(i % 7 == 0 ? (x >> 16) : 'a' + i % 23);
    }
    return p;
}

/* Reads the whole input window by window into a malloc'd buffer, checking that each
 * window starts at the offset pf_input_offset implies.  Returns the pf_input_next
 * result that ended it (0 or -1); *len gets the bytes read. */
static int drain(pf_input *in, unsigned char **out, size_t *len, pf_error *err)
{
    size_t cap = 1 << 16, n = 0;
    unsigned char *buf = malloc(cap);
    int r;
    const unsigned char *p;
    size_t k;
    while ((r = pf_input_next(in, &p, &k, err)) > 0) {
        assert_true(k > 0);
        assert_true(k <= PF_INPUT_WINDOW || !pf_input_is_gzip(in));
        assert_int_equal(pf_input_offset(in) - k, n);
        while (n + k > cap)
            buf = realloc(buf, cap *= 2);
        memcpy(buf + n, p, k);
        n += k;
    }
    /* Ended inputs stay ended; failed ones repeat their error. */
    pf_error again;
    assert_int_equal(pf_input_next(in, &p, &k, &again), r);
    if (r < 0)
        assert_string_equal(again.msg, err->msg);
    *out = buf;
    *len = n;
    return r;
}

static void write_file(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(p, 1, n, f), n);
    fclose(f);
}

/* ---- windows ---- */

static void test_input_windows_span_gzip_members(void **state)
{
    (void)state;
    /* Three members of 700 KB, 0 bytes and 300 KB: more than one window each. */
    size_t n = 1000000, cut = 700000;
    unsigned char *plain = pattern(n);
    size_t l1, l2, l3;
    unsigned char *g1 = gzip_bytes(plain, cut, &l1);
    unsigned char *g2 = gzip_bytes(plain, 0, &l2);
    unsigned char *g3 = gzip_bytes(plain + cut, n - cut, &l3);
    size_t gl = l1 + l2 + l3;
    unsigned char *cat = malloc(gl);
    memcpy(cat, g1, l1);
    memcpy(cat + l1, g2, l2);
    memcpy(cat + l1 + l2, g3, l3);
    pf_error err;
    pf_input *in = pf_input_open_mem(cat, gl, &err);
    assert_non_null(in);
    unsigned char *out;
    size_t len;
    assert_int_equal(drain(in, &out, &len, &err), 0);
    assert_true(pf_input_is_gzip(in));
    assert_int_equal(len, n);
    assert_memory_equal(out, plain, n);
    assert_int_equal(pf_input_offset(in), n);
    pf_input_free(in);
    free(out);

    /* The same from a file, and from stdin. */
    char path[512];
    snprintf(path, sizeof path, "%s/members.gz", tmpdir);
    write_file(path, cat, gl);
    in = pf_input_open(path, &err);
    assert_non_null(in);
    assert_int_equal(drain(in, &out, &len, &err), 0);
    assert_int_equal(len, n);
    assert_memory_equal(out, plain, n);
    pf_input_free(in);
    free(out);

    int saved = dup(0);
    FILE *f = fopen(path, "rb");
    assert_int_equal(dup2(fileno(f), 0), 0);
    fclose(f);
    in = pf_input_open("-", &err);
    assert_non_null(in);
    int r = drain(in, &out, &len, &err);
    pf_input_free(in);                 /* never closes stdin */
    assert_true(fcntl(0, F_GETFD) != -1);
    dup2(saved, 0);
    close(saved);
    assert_int_equal(r, 0);
    assert_int_equal(len, n);
    assert_memory_equal(out, plain, n);
    free(out);
    unlink(path);
    free(cat);
    free(g1);
    free(g2);
    free(g3);
    free(plain);
}

static void test_input_plain_memory_and_file(void **state)
{
    (void)state;
    size_t n = 600000;
    unsigned char *plain = pattern(n);
    pf_error err;
    pf_input *in = pf_input_open_mem(plain, n, &err);
    unsigned char *out;
    size_t len;
    assert_int_equal(drain(in, &out, &len, &err), 0);
    assert_false(pf_input_is_gzip(in));
    assert_int_equal(len, n);
    assert_memory_equal(out, plain, n);
    pf_input_free(in);
    free(out);

    char path[512];
    snprintf(path, sizeof path, "%s/plain.txt", tmpdir);
    write_file(path, plain, n);
    in = pf_input_open(path, &err);
    assert_int_equal(drain(in, &out, &len, &err), 0);
    assert_int_equal(len, n);
    assert_memory_equal(out, plain, n);
    pf_input_free(in);
    free(out);

    /* Empty input, and a lone 0x1f (plain: one byte, for the parser to judge). */
    in = pf_input_open_mem("", 0, &err);
    assert_int_equal(drain(in, &out, &len, &err), 0);
    assert_int_equal(len, 0);
    pf_input_free(in);
    free(out);
    in = pf_input_open_mem("\x1f", 1, &err);
    assert_int_equal(drain(in, &out, &len, &err), 0);
    assert_int_equal(len, 1);
    assert_false(pf_input_is_gzip(in));
    pf_input_free(in);
    free(out);

    assert_null(pf_input_open("/nonexistent/pf/x", &err));
    assert_int_equal(err.code, PF_EIO);
    assert_non_null(strstr(err.msg, "No such file"));
    in = pf_input_open("/", &err);      /* a directory: the read fails */
    assert_non_null(in);
    assert_int_equal(drain(in, &out, &len, &err), -1);
    assert_int_equal(err.code, PF_EIO);
    assert_non_null(strstr(err.msg, "read error at offset 0"));
    pf_input_free(in);
    free(out);
    assert_null(pf_input_open_mem(NULL, 3, &err));
    assert_int_equal(err.code, PF_EUSAGE);
    unlink(path);
    free(plain);
}

static void test_input_peek_does_not_consume(void **state)
{
    (void)state;
    size_t n = 400000;
    unsigned char *plain = pattern(n);
    size_t gl;
    unsigned char *g = gzip_bytes(plain, n, &gl);
    for (int gz = 0; gz < 2; gz++) {
        pf_error err;
        pf_input *in = gz ? pf_input_open_mem(g, gl, &err) : pf_input_open_mem(plain, n, &err);
        const unsigned char *p;
        size_t k;
        assert_int_equal(pf_input_peek(in, 8, &p, &k, &err), 0);
        assert_true(k >= 8);
        assert_memory_equal(p, plain, 8);
        assert_int_equal(pf_input_peek(in, 5000, &p, &k, &err), 0);
        assert_true(k >= 5000);
        assert_memory_equal(p, plain, 5000);
        assert_int_equal(pf_input_offset(in), 0);
        unsigned char *out;
        size_t len;
        assert_int_equal(drain(in, &out, &len, &err), 0);
        assert_int_equal(len, n);
        assert_memory_equal(out, plain, n);
        /* At the end a peek gives nothing, cleanly. */
        assert_int_equal(pf_input_peek(in, 8, &p, &k, &err), 0);
        assert_int_equal(k, 0);
        pf_input_free(in);
        free(out);
    }
    free(g);
    free(plain);
}

static void test_input_sniff_tells_traces_from_text(void **state)
{
    (void)state;
    pf_trace *t = pf_trace_new();
    unsigned char *raw, *gz;
    size_t rl, gl, tl;
    assert_int_equal(pf_trace_write_mem_raw(t, &raw, &rl, NULL), 0);
    assert_int_equal(pf_trace_write_mem(t, &gz, &gl, NULL), 0);
    const char *text = "main;f 1\nmain;g 2\n";
    unsigned char *gtext = gzip_bytes((const unsigned char *)text, strlen(text), &tl);
    static const struct {
        int which;
        size_t len;           /* 0 = all */
        int want;
    } cases[] = {
        { 0, 0, PF_INPUT_TRACE }, { 1, 0, PF_INPUT_TRACE }, { 2, 0, PF_INPUT_TEXT },
        { 3, 0, PF_INPUT_TEXT }, { 4, 0, PF_INPUT_EMPTY },
        { 0, 3, PF_INPUT_TRACE },   /* a prefix of the magic that ends: truncated trace */
        { 5, 0, PF_INPUT_TEXT },    /* 8 bytes that are not the magic */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const void *p[] = { raw, gz, text, gtext, "", "\x89PFC\n\n\x1a\n" };
        size_t l[] = { rl, gl, strlen(text), tl, 0, 8 };
        size_t len = cases[i].len ? cases[i].len : l[cases[i].which];
        pf_error err;
        pf_input *in = pf_input_open_mem(p[cases[i].which], len, &err);
        if (pf_input_sniff(in, &err) != cases[i].want)
            fail_msg("case %zu: wrong kind", i);
        assert_int_equal(pf_input_offset(in), 0);
        pf_input_free(in);
    }
    /* A sniffed input reads on as a trace from its first byte. */
    pf_error err;
    pf_input *in = pf_input_open_mem(gz, gl, &err);
    assert_int_equal(pf_input_sniff(in, &err), PF_INPUT_TRACE);
    pf_trace *u = pf_trace_read_input(in, &err);
    if (u == NULL)
        fail_msg("%s", err.msg);
    pf_trace_free(u);
    pf_input_free(in);
    /* A sniff that cannot read says why. */
    in = pf_input_open_mem(gz, 12, &err);
    assert_int_equal(pf_input_sniff(in, &err), -1);
    assert_int_equal(err.code, PF_ETRUNC);
    pf_input_free(in);
    free(gtext);
    pf_free(raw);
    pf_free(gz);
    pf_trace_free(t);
}

/* ---- errors ---- */

static void test_input_truncated_gzip_is_an_error_with_offset(void **state)
{
    (void)state;
    size_t n = 300000;
    unsigned char *plain = pattern(n);
    size_t gl;
    unsigned char *g = gzip_bytes(plain, n, &gl);
    char path[512];
    snprintf(path, sizeof path, "%s/cut.gz", tmpdir);
    /* Cut anywhere: in the header, the deflate data, the CRC or the length. */
    size_t cuts[] = { 1, 2, 5, 10, 11, 100, gl / 2, gl - 8, gl - 5, gl - 1 };
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        for (int file = 0; file < 2; file++) {
            pf_error err;
            pf_input *in;
            if (file) {
                write_file(path, g, cuts[i]);
                in = pf_input_open(path, &err);
            } else {
                in = pf_input_open_mem(g, cuts[i], &err);
            }
            unsigned char *out;
            size_t len;
            int r = drain(in, &out, &len, &err);
            if (cuts[i] == 1) {
                /* One byte is not gzip yet: a plain byte, for the parser. */
                assert_int_equal(r, 0);
            } else {
                if (r != -1 || err.code != PF_ETRUNC)
                    fail_msg("cut at %zu (%s): not reported as truncated", cuts[i],
                             file ? "file" : "memory");
                char want[96];
                snprintf(want, sizeof want, "truncated gzip stream at offset %zu", len);
                assert_string_equal(err.msg, want);
                assert_true(len <= n);
                assert_memory_equal(out, plain, len);   /* what came before is right */
            }
            pf_input_free(in);
            free(out);
        }
    }
    unlink(path);
    free(g);
    free(plain);
}

static void test_input_rejects_data_after_the_last_member(void **state)
{
    (void)state;
    const char *text = "main;f 1\n";
    size_t gl;
    unsigned char *g = gzip_bytes((const unsigned char *)text, 9, &gl);
    static const struct {
        const char *tail;
        size_t len;
        enum pf_error_code code;
        const char *want;
    } cases[] = {
        { "junk", 4, PF_ECORRUPT, "unexpected data after the last gzip member at offset 9" },
        { "\0\0\0\0", 4, PF_ECORRUPT, "unexpected data after the last gzip member" },
        { "\x1f", 1, PF_ETRUNC, "truncated gzip stream at offset 9" },
        { "\x1f\x8b", 2, PF_ETRUNC, "truncated gzip stream at offset 9" },
        { "\x1f\x00", 2, PF_ECORRUPT, "unexpected data after the last gzip member" },
    };
    char path[512];
    snprintf(path, sizeof path, "%s/tail.gz", tmpdir);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        unsigned char *buf = malloc(gl + cases[i].len);
        memcpy(buf, g, gl);
        memcpy(buf + gl, cases[i].tail, cases[i].len);
        for (int file = 0; file < 2; file++) {
            pf_error err;
            pf_input *in;
            if (file) {
                write_file(path, buf, gl + cases[i].len);
                in = pf_input_open(path, &err);
            } else {
                in = pf_input_open_mem(buf, gl + cases[i].len, &err);
            }
            unsigned char *out;
            size_t len;
            assert_int_equal(drain(in, &out, &len, &err), -1);
            if (err.code != cases[i].code || strstr(err.msg, cases[i].want) == NULL)
                fail_msg("tail %zu: got %s: %s", i, pf_error_name(err.code), err.msg);
            assert_int_equal(len, 9);
            pf_input_free(in);
            free(out);
        }
        free(buf);
    }
    /* The compressed position is named too. */
    unsigned char *buf = malloc(gl + 4);
    memcpy(buf, g, gl);
    memcpy(buf + gl, "junk", 4);
    pf_error err;
    pf_input *in = pf_input_open_mem(buf, gl + 4, &err);
    unsigned char *out;
    size_t len;
    drain(in, &out, &len, &err);
    char want[64];
    snprintf(want, sizeof want, "(byte %zu of the compressed input)", gl);
    assert_non_null(strstr(err.msg, want));
    pf_input_free(in);
    free(out);
    free(buf);
    /* A trace with garbage after it fails the same way through the trace reader. */
    pf_trace *t = pf_trace_new();
    unsigned char *tg;
    size_t tgl;
    assert_int_equal(pf_trace_write_mem(t, &tg, &tgl, NULL), 0);
    tg = realloc(tg, tgl + 3);
    memcpy(tg + tgl, "xyz", 3);
    assert_null(pf_trace_read_mem(tg, tgl + 3, &err));
    assert_int_equal(err.code, PF_ECORRUPT);
    assert_non_null(strstr(err.msg, "unexpected data after the last gzip member"));
    free(tg);
    pf_trace_free(t);
    unlink(path);
    free(g);
}

static void test_input_corrupt_gzip_names_the_offset(void **state)
{
    (void)state;
    size_t n = 100000;
    unsigned char *plain = pattern(n);
    size_t gl;
    unsigned char *g = gzip_bytes(plain, n, &gl);
    g[gl - 6] ^= 0x40;                  /* the CRC */
    pf_error err;
    pf_input *in = pf_input_open_mem(g, gl, &err);
    unsigned char *out;
    size_t len;
    assert_int_equal(drain(in, &out, &len, &err), -1);
    assert_int_equal(err.code, PF_ECORRUPT);
    assert_string_equal(err.msg, "corrupt gzip stream at offset 100000: incorrect data check");
    pf_input_free(in);
    free(out);
    free(g);
    free(plain);
}

static void test_input_byte_limit(void **state)
{
    (void)state;
    size_t n = 1 << 20;
    unsigned char *zeros = calloc(1, n);
    size_t gl;
    unsigned char *g = gzip_bytes(zeros, n, &gl);
    assert_true(gl < 8192);            /* a little bomb */
    for (int gz = 0; gz < 2; gz++) {
        pf_error err;
        pf_input *in = gz ? pf_input_open_mem(g, gl, &err) : pf_input_open_mem(zeros, n, &err);
        pf_input_set_budget(in, 100000);
        assert_int_equal(pf_input_budget(in), 100000);
        unsigned char *out;
        size_t len;
        assert_int_equal(drain(in, &out, &len, &err), -1);
        assert_int_equal(err.code, PF_ELIMIT);
        assert_string_equal(err.msg, "input exceeds the 97.7 KiB decoding budget at offset "
                                     "100000 (decoded bytes; raise it with --max-memory)");
        assert_true(len <= 100000);
        pf_input_free(in);
        free(out);
        /* A separate byte cap (0 = none) overrides the budget's. */
        in = gz ? pf_input_open_mem(g, gl, &err) : pf_input_open_mem(zeros, n, &err);
        pf_input_set_budget(in, 100000);
        pf_input_set_max_bytes(in, 0);
        assert_int_equal(drain(in, &out, &len, &err), 0);
        assert_int_equal(len, n);
        pf_input_free(in);
        free(out);
    }
    assert_int_equal(pf_input_budget(NULL), PF_BUDGET_DEFAULT);
    free(g);
    free(zeros);
}

static void test_budget_format_and_parse(void **state)
{
    (void)state;
    char b[32];
    assert_string_equal(pf_budget_format(PF_BUDGET_DEFAULT, b, sizeof b), "4 GiB");
    assert_string_equal(pf_budget_format(1536 * 1024, b, sizeof b), "1.5 MiB");
    assert_string_equal(pf_budget_format(1000, b, sizeof b), "1000 bytes");
    assert_string_equal(pf_budget_format(64 * 1024, b, sizeof b), "64 KiB");
    static const struct {
        const char *s;
        int ok;
        uint64_t v;
    } cases[] = {
        { "0", 1, 0 }, { "4096", 1, 4096 }, { "512M", 1, 512ull << 20 },
        { "2G", 1, 2ull << 30 }, { "2GiB", 1, 2ull << 30 }, { "8g", 1, 8ull << 30 },
        { "1T", 1, 1ull << 40 }, { "100k", 1, 102400 }, { "64MB", 1, 64ull << 20 },
        { "12B", 1, 12 }, { "", 0, 0 }, { "G", 0, 0 }, { "-1", 0, 0 }, { "1.5G", 0, 0 },
        { "3X", 0, 0 }, { "99999999999999999999", 0, 0 }, { "17179869184G", 0, 0 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint64_t v = 7;
        int rc = pf_budget_parse(cases[i].s, &v);
        if ((rc == 0) != cases[i].ok || (rc == 0 && v != cases[i].v))
            fail_msg("pf_budget_parse(\"%s\")", cases[i].s);
    }
    pf_budget bud = { 100, 0, 0 };
    assert_int_equal(pf_budget_charge(&bud, 60), 0);
    assert_int_equal(pf_budget_charge(&bud, 41), -1);
    assert_int_equal(bud.refused, 41);
    assert_int_equal(bud.used, 60);
    assert_int_equal(pf_budget_charge(&bud, UINT64_MAX), -1);
    pf_budget_release(&bud, 60);
    assert_int_equal(bud.used, 0);
    assert_int_equal(pf_budget_charge(NULL, UINT64_MAX), 0);
}

/* ---- the model budget ---- */

/* A trace of n identical leaf nodes under one thread: 7 bytes a node in the stream,
 * 80 in the model, and gzip makes the stream almost nothing. */
static unsigned char *node_bomb(uint32_t n, size_t *len)
{
    pf_trace *t = pf_trace_new();
    uint32_t s = pf_strtab_intern_cstr(t->strings, "f");
    pf_code c = { s, s, s, 1, PF_CODE_PYTHON };
    pf_thread th = { 1, s };
    assert_int_equal(pf_trace_add_code(t, &c), 0);
    assert_int_equal(pf_trace_add_thread(t, &th), 0);
    pf_node root = { PF_NONE, 0, 0, 0, 1, 0, 0 };
    assert_int_equal(pf_trace_add_node(t, &root), 0);
    for (uint32_t i = 1; i < n; i++) {   /* a chain: every parent delta is 1 */
        pf_node leaf = { i - 1, 0, 0, 0, 1, 0, 0 };
        assert_int_not_equal(pf_trace_add_node(t, &leaf), PF_NONE);
    }
    unsigned char *buf;
    assert_int_equal(pf_trace_write_mem(t, &buf, len, NULL), 0);
    pf_trace_free(t);
    return buf;
}

static void test_budget_refuses_a_huge_model_before_allocating(void **state)
{
    (void)state;
    size_t len;
    unsigned char *bomb = node_bomb(200000, &len);   /* 16 MB of model */
    print_message("node bomb: %zu bytes of gzip for 200000 nodes\n", len);
    assert_true(len < 20000);
    uint64_t budget = 1 << 20;
    pf_error err;
    long live = pf_alloc_live_blocks();
    pf_input *in = pf_input_open_mem(bomb, len, &err);
    pf_input_set_budget(in, budget);
    pf_alloc_fail_after(-1);           /* resets the largest-request watermark */
    pf_trace *t = pf_trace_read_input(in, &err);
    size_t largest = pf_alloc_largest_request();
    pf_input_free(in);
    assert_null(t);
    assert_int_equal(pf_alloc_live_blocks(), live);
    assert_int_equal(err.code, PF_ELIMIT);
    if (strstr(err.msg, "decoded trace exceeds the 1 MiB decoding budget at offset ") == NULL ||
        strstr(err.msg, " in the NODES record at offset ") == NULL ||
        strstr(err.msg, "(raise it with --max-memory)") == NULL)
        fail_msg("message: %s", err.msg);
    /* Nothing bigger than the budget was ever asked for, besides the input's fixed
     * window buffers. */
    if (largest > budget)
        fail_msg("largest allocation %zu bytes, budget %" PRIu64, largest, budget);

    /* With the default budget the same trace reads, and t->mem says what it holds. */
    t = pf_trace_read_mem(bomb, len, &err);
    if (t == NULL)
        fail_msg("%s", err.msg);
    assert_int_equal(t->nnodes, 200000);
    assert_int_equal(t->cap_nodes, t->nnodes);       /* slack trimmed */
    assert_int_equal(t->mem.limit, 0);
    assert_true(t->mem.used >= 200000 * sizeof(pf_node));
    assert_true(t->mem.used < 200000 * sizeof(pf_node) + 200 * 1024);
    pf_trace_free(t);
    pf_free(bomb);
}

/* Reads buf with budget (and no separate byte cap); expects PF_ELIMIT and want. */
static void expect_model_budget_error(const unsigned char *buf, size_t len, uint64_t budget,
                                      const char *want)
{
    pf_error err;
    pf_input *in = pf_input_open_mem(buf, len, &err);
    pf_input_set_budget(in, budget);
    pf_input_set_max_bytes(in, 0);      /* the model's budget alone */
    pf_trace *u = pf_trace_read_input(in, &err);
    pf_input_free(in);
    if (u != NULL || err.code != PF_ELIMIT || strstr(err.msg, want) == NULL)
        fail_msg("budget %" PRIu64 ": %s", budget, u ? "read" : err.msg);
}

/* Every kind of model allocation is charged: strings and sources too, and a record
 * bigger than the budget is refused before its payload is read. */
static void test_budget_covers_strings_and_sources(void **state)
{
    (void)state;
    pf_trace *t = pf_trace_new();
    char big[5000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_int_equal(pf_meta_set_str(&t->meta.cwd, big), 0);
    for (int i = 0; i < 300; i++) {
        big[i % 4000] = (char)('a' + i % 26);
        pf_strtab_intern_cstr(t->strings, big);
    }
    unsigned char *buf;
    size_t len;
    assert_int_equal(pf_trace_write_mem(t, &buf, &len, NULL), 0);
    pf_trace_free(t);
    expect_model_budget_error(buf, len, 3000, "record at offset 9 claims 5015 bytes, more "
                                              "than the 2.9 KiB decoding budget");
    expect_model_budget_error(buf, len, 600000, "decoded trace exceeds the 585.9 KiB decoding "
                                                "budget at offset ");
    expect_model_budget_error(buf, len, 600000, "in the STRINGS record at offset ");
    pf_free(buf);

    t = pf_trace_new();
    uint32_t path = pf_strtab_intern_cstr(t->strings, "a.py");
    char *text = calloc(1, 40000);
    memset(text, 'y', 39999);
    assert_int_equal(pf_trace_add_source(t, path, text, 39999), 0);
    assert_int_equal(pf_trace_add_source(t, path, text, 39999), 1);
    assert_int_equal(pf_trace_write_mem(t, &buf, &len, NULL), 0);
    pf_trace_free(t);
    expect_model_budget_error(buf, len, 70000, "in the SOURCE record");
    free(text);
    pf_free(buf);
}

/* ---- allocation failures ---- */

typedef struct io_ctx {
    const unsigned char *buf;
    size_t len;
    const char *path;
} io_ctx;

static int op_drain(void *ctx, pf_error *err)
{
    io_ctx *c = ctx;
    pf_input *in = c->path ? pf_input_open(c->path, err) : pf_input_open_mem(c->buf, c->len, err);
    if (in == NULL)
        return -1;
    const unsigned char *p;
    size_t n, total = 0;
    int r;
    if (pf_input_sniff(in, err) < 0) {
        pf_input_free(in);
        return -1;
    }
    while ((r = pf_input_next(in, &p, &n, err)) > 0)
        total += n;
    pf_input_free(in);
    return r;
}

static int op_read_trace(void *ctx, pf_error *err)
{
    io_ctx *c = ctx;
    pf_input *in = pf_input_open_mem(c->buf, c->len, err);
    if (in == NULL)
        return -1;
    pf_input_set_budget(in, 64 << 20);
    pf_trace *t = pf_trace_read_input(in, err);
    pf_input_free(in);
    if (t == NULL)
        return -1;
    pf_trace_free(t);
    return 0;
}

/* Fails the Nth allocation, N = 0, 1, ... until op succeeds: every failure must be
 * PF_ENOMEM and leak nothing.  (A tolerated failure, a trim that keeps the bigger
 * block, may still succeed.) */
static void inject_until_success(int (*op)(void *, pf_error *), void *ctx, const char *what)
{
    long live = pf_alloc_live_blocks();
    for (long n = 0;; n++) {
        pf_error err;
        pf_error_clear(&err);
        pf_alloc_fail_after(n);
        int rc = op(ctx, &err);
        long injected = pf_alloc_injected_failures();
        pf_alloc_fail_after(-1);
        if (pf_alloc_live_blocks() != live)
            fail_msg("%s, failing allocation %ld: %ld blocks leaked", what, n,
                     pf_alloc_live_blocks() - live);
        if (rc == 0 && injected == 0)
            break;
        if (rc != 0 && err.code != PF_ENOMEM)
            fail_msg("%s, failing allocation %ld: %s: %s", what, n, pf_error_name(err.code),
                     err.msg);
        assert_true(n < 100000);
    }
}

static void test_input_survives_allocation_failures(void **state)
{
    (void)state;
    size_t n = 300000;
    unsigned char *plain = pattern(n);
    size_t l1, l2;
    unsigned char *g1 = gzip_bytes(plain, n / 2, &l1), *g2 = gzip_bytes(plain, n / 2, &l2);
    unsigned char *cat = malloc(l1 + l2);
    memcpy(cat, g1, l1);
    memcpy(cat + l1, g2, l2);
    io_ctx c = { cat, l1 + l2, NULL };
    inject_until_success(op_drain, &c, "gzip memory");
    c.buf = plain;
    c.len = n;
    inject_until_success(op_drain, &c, "plain memory");
    char path[512];
    snprintf(path, sizeof path, "%s/fi.gz", tmpdir);
    write_file(path, cat, l1 + l2);
    c.path = path;
    inject_until_success(op_drain, &c, "gzip file");
    unlink(path);
    c.path = NULL;
    size_t bl;
    unsigned char *bomb = node_bomb(20000, &bl);
    c.buf = bomb;
    c.len = bl;
    inject_until_success(op_read_trace, &c, "trace with a budget");
    pf_free(bomb);
    free(cat);
    free(g1);
    free(g2);
    free(plain);
}

/* pyinstrument's speedscope files (its renderer, 5.x) hold a "[self]" frame without file
 * or line for a function's own samples: that time is the parent's self time, with no
 * call and no node of its own; a "[self]" frame with a file is an ordinary function. */
static void test_speedscope_pyinstrument_self_is_the_parents_time(void **state)
{
    (void)state;
    static const char evented[] =
        "{\"$schema\":\"https://www.speedscope.app/file-format-schema.json\","
        "\"name\":\"CPU profile for 'Program: f.py' at 2026-01-01T00-00-00\","
        "\"activeProfileIndex\":null,\"exporter\":\"pyinstrument\",\"profiles\":[{"
        "\"type\":\"evented\",\"name\":\"p\",\"unit\":\"seconds\",\"startValue\":0.0,"
        "\"endValue\":0.006,\"events\":[{\"type\":\"O\",\"at\":0.0,\"frame\":0},"
        "{\"type\":\"O\",\"at\":0.0,\"frame\":1},{\"type\":\"C\",\"at\":0.002,\"frame\":1},"
        "{\"type\":\"O\",\"at\":0.002,\"frame\":2},{\"type\":\"C\",\"at\":0.005,\"frame\":2},"
        "{\"type\":\"C\",\"at\":0.006,\"frame\":0}]}],\"shared\":{\"frames\":["
        "{\"name\":\"main\",\"file\":\"f.py\",\"line\":1},"
        "{\"name\":\"leaf\",\"file\":\"f.py\",\"line\":5},"
        "{\"name\":\"[self]\",\"file\":null,\"line\":null}]}}";
    pf_error err;
    pf_trace *t = pf_foreign_read_mem(evented, sizeof evented - 1, PF_INPUT_SPEEDSCOPE, &err);
    assert_non_null(t);
    assert_int_equal(t->nnodes, 2);
    assert_int_equal(t->nodes[0].code, 0);            /* main: 1 ms absorbed + 3 ms [self] */
    assert_int_equal(t->nodes[0].self_ns, 4000000);
    assert_int_equal(t->nodes[0].total_ns, 6000000);
    assert_int_equal(t->nodes[0].calls, 1);
    assert_int_equal(t->nodes[1].code, 1);
    assert_int_equal(t->nodes[1].self_ns, 2000000);
    assert_int_equal(t->meta.total_calls, 2);
    pf_trace_free(t);

    static const char sampled[] =
        "{\"shared\":{\"frames\":[{\"name\":\"main\",\"file\":\"f.py\",\"line\":1},"
        "{\"name\":\"[self]\"},{\"name\":\"[self]\",\"file\":\"g.py\",\"line\":3}]},"
        "\"profiles\":[{\"type\":\"sampled\",\"name\":\"s\",\"unit\":\"milliseconds\","
        "\"startValue\":0,\"endValue\":3,\"samples\":[[0,1],[0,2],[0]],\"weights\":[1,1,1]}]}";
    t = pf_foreign_read_mem(sampled, sizeof sampled - 1, PF_INPUT_SPEEDSCOPE, &err);
    assert_non_null(t);
    assert_int_equal(t->nnodes, 2);
    assert_int_equal(t->nodes[0].self_ns, 2000000);
    assert_int_equal(t->nodes[1].code, 2);
    assert_int_equal(t->nodes[1].self_ns, 1000000);
    /* a close that does not match the open frame is still an error */
    static const char bad[] =
        "{\"shared\":{\"frames\":[{\"name\":\"a\",\"file\":\"a.py\"},{\"name\":\"[self]\"}]},"
        "\"profiles\":[{\"type\":\"evented\",\"unit\":\"seconds\",\"events\":["
        "{\"type\":\"O\",\"at\":0,\"frame\":0},{\"type\":\"O\",\"at\":0,\"frame\":1},"
        "{\"type\":\"C\",\"at\":1,\"frame\":0}]}]}";
    pf_trace_free(t);
    assert_null(pf_foreign_read_mem(bad, sizeof bad - 1, PF_INPUT_SPEEDSCOPE, &err));
    assert_non_null(strstr(err.msg, "closes a frame that is not open"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_input_windows_span_gzip_members),
        cmocka_unit_test(test_input_plain_memory_and_file),
        cmocka_unit_test(test_input_peek_does_not_consume),
        cmocka_unit_test(test_input_sniff_tells_traces_from_text),
        cmocka_unit_test(test_input_truncated_gzip_is_an_error_with_offset),
        cmocka_unit_test(test_input_rejects_data_after_the_last_member),
        cmocka_unit_test(test_input_corrupt_gzip_names_the_offset),
        cmocka_unit_test(test_input_byte_limit),
        cmocka_unit_test(test_budget_format_and_parse),
        cmocka_unit_test(test_budget_refuses_a_huge_model_before_allocating),
        cmocka_unit_test(test_budget_covers_strings_and_sources),
        cmocka_unit_test(test_input_survives_allocation_failures),
        cmocka_unit_test(test_speedscope_pyinstrument_self_is_the_parents_time),
    };
    return cmocka_run_group_tests(tests, setup_dir, teardown_dir);
}
