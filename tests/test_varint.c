/* test_varint.c: LEB128 varints and zigzag (formats/varint.c): exact encodings at
 * every 7-bit boundary, round trips, and the decoder's handling of short, overlong
 * and overflowing input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "formats/varint.h"

static void roundtrip(uint64_t v)
{
    unsigned char buf[PF_VARINT_MAX + 4];
    memset(buf, 0xAA, sizeof buf);
    size_t n = pf_varint_put(buf, v);
    assert_int_equal(n, pf_varint_len(v));
    assert_true(n >= 1 && n <= PF_VARINT_MAX);
    assert_int_equal(buf[n], 0xAA);       /* wrote nothing past its length */
    uint64_t back = 0;
    assert_int_equal(pf_varint_get(buf, n, &back), (int)n);
    assert_true(back == v);
    /* Every shorter prefix asks for more input. */
    for (size_t k = 0; k < n; k++)
        assert_int_equal(pf_varint_get(buf, k, &back), 0);
}

static void test_varint_known_encodings(void **state)
{
    (void)state;
    static const struct {
        uint64_t v;
        const char *bytes;
        size_t n;
    } cases[] = {
        { 0, "\x00", 1 },
        { 1, "\x01", 1 },
        { 127, "\x7f", 1 },
        { 128, "\x80\x01", 2 },
        { 300, "\xac\x02", 2 },
        { 16383, "\xff\x7f", 2 },
        { 16384, "\x80\x80\x01", 3 },
        { UINT32_MAX, "\xff\xff\xff\xff\x0f", 5 },
        { (uint64_t)1 << 63, "\x80\x80\x80\x80\x80\x80\x80\x80\x80\x01", 10 },
        { UINT64_MAX, "\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 10 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        unsigned char buf[PF_VARINT_MAX];
        size_t n = pf_varint_put(buf, cases[i].v);
        assert_int_equal(n, cases[i].n);
        assert_memory_equal(buf, cases[i].bytes, n);
        uint64_t v;
        assert_int_equal(pf_varint_get((const unsigned char *)cases[i].bytes, n, &v), (int)n);
        assert_true(v == cases[i].v);
    }
}

static void test_varint_roundtrips_every_boundary(void **state)
{
    (void)state;
    for (int bits = 0; bits <= 64; bits++) {
        uint64_t p = bits == 64 ? 0 : (uint64_t)1 << bits;
        roundtrip(p);
        roundtrip(p - 1);
        roundtrip(p + 1);
    }
    uint64_t x = 0x123456789abcdefull;
    for (int i = 0; i < 10000; i++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        roundtrip(x >> (i % 64));
    }
}

static void test_varint_rejects_overflow_and_overlong(void **state)
{
    (void)state;
    uint64_t v = 42;
    /* 10th byte 0x02 would set bit 64. */
    assert_int_equal(pf_varint_get((const unsigned char *)"\xff\xff\xff\xff\xff\xff\xff\xff\xff\x02", 10, &v), -1);
    /* 11 bytes: the 10th still has its continuation bit. */
    assert_int_equal(pf_varint_get((const unsigned char *)"\x80\x80\x80\x80\x80\x80\x80\x80\x80\x81\x00", 11, &v), -1);
    /* 10 continuation bytes with nothing after: malformed, not "need more". */
    assert_int_equal(pf_varint_get((const unsigned char *)"\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80", 10, &v), -1);
    assert_true(v == 42);   /* untouched on failure */
    /* Non-minimal encodings are accepted within 10 bytes. */
    assert_int_equal(pf_varint_get((const unsigned char *)"\x80\x00", 2, &v), 2);
    assert_true(v == 0);
    assert_int_equal(pf_varint_get((const unsigned char *)"\x81\x80\x80\x80\x80\x80\x80\x80\x80\x00", 10, &v), 10);
    assert_true(v == 1);
    /* Empty input asks for more. */
    assert_int_equal(pf_varint_get((const unsigned char *)"", 0, &v), 0);
    /* Decoding stops at the first final byte. */
    assert_int_equal(pf_varint_get((const unsigned char *)"\x05\xff\xff", 3, &v), 1);
    assert_true(v == 5);
}

static void test_varint_zigzag(void **state)
{
    (void)state;
    static const struct {
        int64_t s;
        uint64_t u;
    } cases[] = {
        { 0, 0 }, { -1, 1 }, { 1, 2 }, { -2, 3 }, { 2, 4 },
        { INT64_MAX, UINT64_MAX - 1 }, { INT64_MIN, UINT64_MAX },
        { -1234567890123LL, 2469135780245ull },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        assert_true(pf_zigzag_enc(cases[i].s) == cases[i].u);
        assert_true(pf_zigzag_dec(cases[i].u) == cases[i].s);
    }
    for (int64_t s = -70000; s <= 70000; s += 7)
        assert_true(pf_zigzag_dec(pf_zigzag_enc(s)) == s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_varint_known_encodings),
        cmocka_unit_test(test_varint_roundtrips_every_boundary),
        cmocka_unit_test(test_varint_rejects_overflow_and_overlong),
        cmocka_unit_test(test_varint_zigzag),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
