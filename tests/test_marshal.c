/* test_marshal.c: byte-exact encodings of every marshal primitive pstats needs, the
 * sticky-error contract, fault injection, and a cross-check that Python's own
 * marshal.loads reads what we write (when python3 is on PATH). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "formats/alloc.h"
#include "formats/marshal.h"

static pf_marshal *m;

static int setup(void **state)
{
    (void)state;
    m = pf_marshal_new(NULL);
    return m == NULL;
}

static int teardown(void **state)
{
    (void)state;
    pf_marshal_free(m);
    m = NULL;
    return 0;
}

static void expect(const char *bytes, size_t n)
{
    size_t len;
    const unsigned char *d = pf_marshal_data(m, &len);
    if (len != n || memcmp(d, bytes, n) != 0) {
        fprintf(stderr, "got %zu bytes:", len);
        for (size_t i = 0; i < len; i++)
            fprintf(stderr, " %02x", d[i]);
        fprintf(stderr, "\n");
    }
    assert_int_equal(len, n);
    assert_memory_equal(d, bytes, n);
}
#define EXPECT(lit) expect(lit, sizeof(lit) - 1)

static void test_marshal_small_ints_use_type_int(void **state)
{
    (void)state;
    assert_int_equal(pf_marshal_int(m, 1, NULL), 0);
    assert_int_equal(pf_marshal_int(m, -1, NULL), 0);
    assert_int_equal(pf_marshal_int(m, INT32_MAX, NULL), 0);
    assert_int_equal(pf_marshal_int(m, INT32_MIN, NULL), 0);
    assert_int_equal(pf_marshal_uint(m, 25, NULL), 0);
    EXPECT("i\x01\x00\x00\x00" "i\xff\xff\xff\xff" "i\xff\xff\xff\x7f" "i\x00\x00\x00\x80"
           "i\x19\x00\x00\x00");
}

static void test_marshal_big_ints_use_base_2_15_digits(void **state)
{
    (void)state;
    assert_int_equal(pf_marshal_uint(m, (uint64_t)1 << 31, NULL), 0);      /* 2 * 2^30 */
    EXPECT("l\x03\x00\x00\x00" "\x00\x00" "\x00\x00" "\x02\x00");
}

static void test_marshal_uint64_max(void **state)
{
    (void)state;
    assert_int_equal(pf_marshal_uint(m, UINT64_MAX, NULL), 0);
    EXPECT("l\x05\x00\x00\x00" "\xff\x7f\xff\x7f\xff\x7f\xff\x7f\x0f\x00");
}

static void test_marshal_int64_min_negative_digit_count(void **state)
{
    (void)state;
    assert_int_equal(pf_marshal_int(m, INT64_MIN, NULL), 0);   /* -(8 * 2^60) */
    EXPECT("l\xfb\xff\xff\xff" "\x00\x00\x00\x00\x00\x00\x00\x00\x08\x00");
}

static void test_marshal_floats_are_little_endian_binary64(void **state)
{
    (void)state;
    assert_int_equal(pf_marshal_float(m, 1.5, NULL), 0);
    assert_int_equal(pf_marshal_float(m, 0.0, NULL), 0);
    assert_int_equal(pf_marshal_float(m, -2.0, NULL), 0);
    EXPECT("g\x00\x00\x00\x00\x00\x00\xf8\x3f" "g\x00\x00\x00\x00\x00\x00\x00\x00"
           "g\x00\x00\x00\x00\x00\x00\x00\xc0");
}

static void test_marshal_short_ascii_string(void **state)
{
    (void)state;
    assert_int_equal(pf_marshal_str(m, "fib", 3, NULL), 0);
    assert_int_equal(pf_marshal_str(m, "", 0, NULL), 0);
    EXPECT("z\x03" "fib" "z\x00");
}

static void test_marshal_long_ascii_string_uses_type_ascii(void **state)
{
    (void)state;
    char s[300];
    memset(s, 'a', sizeof s);
    assert_int_equal(pf_marshal_str(m, s, sizeof s, NULL), 0);
    size_t len;
    const unsigned char *d = pf_marshal_data(m, &len);
    assert_int_equal(len, 5 + 300);
    assert_memory_equal(d, "a\x2c\x01\x00\x00", 5);
    assert_memory_equal(d + 5, s, 300);
}

static void test_marshal_non_ascii_string_uses_unicode(void **state)
{
    (void)state;
    assert_int_equal(pf_marshal_str(m, "caf\xc3\xa9.py", 8, NULL), 0);
    EXPECT("u\x08\x00\x00\x00" "caf\xc3\xa9.py");
}

static void test_marshal_invalid_utf8_is_surrogateescaped(void **state)
{
    (void)state;
    /* 0xff -> U+DCFF -> ED B3 BF, exactly what os.fsdecode + surrogatepass give */
    assert_int_equal(pf_marshal_str(m, "a\xff", 2, NULL), 0);
    /* truncated 2-byte sequence at the end, and an encoded surrogate (invalid UTF-8) */
    assert_int_equal(pf_marshal_str(m, "\xc3", 1, NULL), 0);
    EXPECT("u\x04\x00\x00\x00" "a\xed\xb3\xbf" "u\x03\x00\x00\x00" "\xed\xb3\x83");
}

static void test_marshal_refs_count_in_write_order(void **state)
{
    (void)state;
    uint32_t tup = 99, file = 99, i1 = 99;
    assert_int_equal(pf_marshal_nrefs(m), 0);
    assert_int_equal(pf_marshal_tuple(m, 3, &tup), 0);
    assert_int_equal(pf_marshal_str(m, "a.py", 4, &file), 0);
    assert_int_equal(pf_marshal_int(m, 7, &i1), 0);
    assert_int_equal(pf_marshal_str(m, "f", 1, NULL), 0);
    assert_int_equal(pf_marshal_ref(m, tup), 0);
    assert_int_equal(pf_marshal_ref(m, file), 0);
    assert_int_equal(tup, 0);
    assert_int_equal(file, 1);
    assert_int_equal(i1, 2);
    assert_int_equal(pf_marshal_nrefs(m), 3);
    EXPECT("\xa9\x03" "\xfa\x04" "a.py" "\xe9\x07\x00\x00\x00" "z\x01" "f"
           "r\x00\x00\x00\x00" "r\x01\x00\x00\x00");
}

static void test_marshal_ref_to_unassigned_slot_fails_and_sticks(void **state)
{
    (void)state;
    assert_int_equal(pf_marshal_ref(m, 0), -1);
    assert_int_equal(pf_marshal_int(m, 1, NULL), -1);   /* sticky */
    pf_error err;
    assert_int_equal(pf_marshal_finish(m, &err), -1);
    assert_int_equal(err.code, PF_EUSAGE);
    assert_non_null(strstr(err.msg, "reference"));
}

static void test_marshal_dict_and_tuples(void **state)
{
    (void)state;
    uint32_t d;
    assert_int_equal(pf_marshal_dict_begin(m, &d), 0);
    assert_int_equal(pf_marshal_tuple(m, 1, NULL), 0);
    assert_int_equal(pf_marshal_int(m, 2, NULL), 0);
    assert_int_equal(pf_marshal_tuple(m, 0, NULL), 0);
    assert_int_equal(pf_marshal_dict_end(m), 0);
    assert_int_equal(pf_marshal_tuple(m, 300, NULL), 0);   /* big tuple header only */
    EXPECT("\xfb" ")\x01" "i\x02\x00\x00\x00" ")\x00" "0" "(\x2c\x01\x00\x00");
    assert_int_equal(d, 0);
}

static void test_marshal_streams_to_file_across_flushes(void **state)
{
    (void)state;
    FILE *f = tmpfile();
    assert_non_null(f);
    pf_marshal *w = pf_marshal_new(f);
    assert_non_null(w);
    /* 200000 ints = 1 MB: several 64 KiB flushes */
    for (int i = 0; i < 200000; i++)
        pf_marshal_int(w, i, NULL);
    pf_error err;
    assert_int_equal(pf_marshal_finish(w, &err), 0);
    pf_marshal_free(w);
    assert_int_equal(ftell(f), 200000 * 5);
    rewind(f);
    unsigned char rec[5];
    for (int i = 0; i < 200000; i++) {
        assert_int_equal(fread(rec, 1, 5, f), 5);
        assert_int_equal(rec[0], 'i');
        assert_int_equal(rec[1] | rec[2] << 8 | rec[3] << 16 | (uint32_t)rec[4] << 24, i);
    }
    fclose(f);
}

static void test_marshal_write_error_is_reported(void **state)
{
    (void)state;
    FILE *f = fopen("/dev/full", "wb");
    if (f == NULL)
        skip();
    pf_marshal *w = pf_marshal_new(f);
    assert_non_null(w);
    for (int i = 0; i < 30000; i++)
        pf_marshal_int(w, i, NULL);
    pf_error err;
    assert_int_equal(pf_marshal_finish(w, &err), -1);
    assert_int_equal(err.code, PF_EIO);
    pf_marshal_free(w);
    fclose(f);
}

static void test_marshal_out_of_memory_is_clean(void **state)
{
    (void)state;
    long base = pf_alloc_live_blocks();
    for (long n = 0;; n++) {
        pf_alloc_fail_after(n);
        pf_marshal *w = pf_marshal_new(NULL);
        int rc = -1;
        if (w != NULL) {
            char s[1000];
            memset(s, 'x', sizeof s);
            for (int i = 0; i < 50; i++)
                pf_marshal_str(w, s, sizeof s, NULL);
            pf_error err;
            rc = pf_marshal_finish(w, &err);
            if (rc < 0)
                assert_int_equal(err.code, PF_ENOMEM);
        }
        pf_marshal_free(w);
        long injected = pf_alloc_injected_failures();
        pf_alloc_fail_after(-1);
        assert_int_equal(pf_alloc_live_blocks(), base);
        if (rc == 0) {
            assert_int_equal(injected, 0);
            break;
        }
        assert_true(n < 100);
    }
}

/* Python's marshal must read our bytes back as the intended object. */
static void test_marshal_python_reads_it_back(void **state)
{
    (void)state;
    if (system("python3 -c 'import marshal' >/dev/null 2>&1") != 0)
        skip();
    uint32_t key, file;
    pf_marshal_dict_begin(m, NULL);
    pf_marshal_tuple(m, 3, &key);
    pf_marshal_str(m, "/src/caf\xc3\xa9.py", 13, &file);
    pf_marshal_int(m, 3, NULL);
    pf_marshal_str(m, "fib", 3, NULL);
    pf_marshal_tuple(m, 5, NULL);
    pf_marshal_uint(m, 1, NULL);
    pf_marshal_uint(m, (uint64_t)1 << 40, NULL);
    pf_marshal_float(m, 0.25, NULL);
    pf_marshal_float(m, 1e-9, NULL);
    pf_marshal_dict_begin(m, NULL);
    pf_marshal_ref(m, key);
    pf_marshal_tuple(m, 2, NULL);
    pf_marshal_int(m, -70000, NULL);
    pf_marshal_str(m, "b\xff", 2, NULL);
    pf_marshal_dict_end(m);
    pf_marshal_tuple(m, 2, NULL);
    pf_marshal_ref(m, file);
    pf_marshal_int(m, INT64_MIN, NULL);
    pf_marshal_int(m, 0, NULL);
    pf_marshal_dict_end(m);
    assert_int_equal(pf_marshal_finish(m, NULL), 0);

    char path[] = "/tmp/pf_marshal_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    size_t len;
    const unsigned char *d = pf_marshal_data(m, &len);
    assert_int_equal(write(fd, d, len), (ssize_t)len);
    close(fd);
    char cmd[512];
    snprintf(cmd, sizeof cmd,
             "python3 -c \"import marshal,sys\n"
             "v = marshal.load(open('%s','rb'))\n"
             "k = ('/src/caf\\u00e9.py', 3, 'fib')\n"
             "want = {k: (1, 1 << 40, 0.25, 1e-9, {k: (-70000, 'b\\udcff')}),"
             " ('/src/caf\\u00e9.py', -(1 << 63)): 0}\n"
             "sys.exit(0 if v == want else 1)\"",
             path);
    int st = system(cmd);
    unlink(path);
    assert_int_equal(st, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_marshal_small_ints_use_type_int, setup, teardown),
        cmocka_unit_test_setup_teardown(test_marshal_big_ints_use_base_2_15_digits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_marshal_uint64_max, setup, teardown),
        cmocka_unit_test_setup_teardown(test_marshal_int64_min_negative_digit_count, setup, teardown),
        cmocka_unit_test_setup_teardown(test_marshal_floats_are_little_endian_binary64, setup, teardown),
        cmocka_unit_test_setup_teardown(test_marshal_short_ascii_string, setup, teardown),
        cmocka_unit_test_setup_teardown(test_marshal_long_ascii_string_uses_type_ascii, setup, teardown),
        cmocka_unit_test_setup_teardown(test_marshal_non_ascii_string_uses_unicode, setup, teardown),
        cmocka_unit_test_setup_teardown(test_marshal_invalid_utf8_is_surrogateescaped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_marshal_refs_count_in_write_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_marshal_ref_to_unassigned_slot_fails_and_sticks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_marshal_dict_and_tuples, setup, teardown),
        cmocka_unit_test(test_marshal_streams_to_file_across_flushes),
        cmocka_unit_test(test_marshal_write_error_is_reported),
        cmocka_unit_test(test_marshal_out_of_memory_is_clean),
        cmocka_unit_test_setup_teardown(test_marshal_python_reads_it_back, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
