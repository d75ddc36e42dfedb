/* test_strtab.c: the interned string table (formats/strtab.c): dense ids in
 * insertion order, dedup by bytes (embedded NULs included), positional append,
 * lookups out of range, growth past arena blocks and hash resizes, and allocation
 * failure injection with leak checks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/alloc.h"
#include "formats/strtab.h"

static void test_strtab_intern_assigns_dense_ids_and_dedups(void **state)
{
    (void)state;
    pf_strtab *t = pf_strtab_new();
    assert_non_null(t);
    assert_int_equal(pf_strtab_count(t), 0);
    assert_int_equal(pf_strtab_intern_cstr(t, "main"), 0);
    assert_int_equal(pf_strtab_intern_cstr(t, "f"), 1);
    assert_int_equal(pf_strtab_intern_cstr(t, "main"), 0);
    assert_int_equal(pf_strtab_intern(t, "", 0), 2);
    assert_int_equal(pf_strtab_intern(t, NULL, 0), 2);    /* NULL, 0 is "" */
    assert_int_equal(pf_strtab_intern(t, "mainframe", 4), 0);
    assert_int_equal(pf_strtab_count(t), 3);
    size_t len = 99;
    assert_string_equal(pf_strtab_get(t, 1, &len), "f");
    assert_int_equal(len, 1);
    assert_string_equal(pf_strtab_get(t, 2, NULL), "");
    pf_strtab_free(t);
}

static void test_strtab_handles_embedded_nul_and_high_bytes(void **state)
{
    (void)state;
    pf_strtab *t = pf_strtab_new();
    assert_int_equal(pf_strtab_intern(t, "a\0b", 3), 0);
    assert_int_equal(pf_strtab_intern(t, "a\0c", 3), 1);
    assert_int_equal(pf_strtab_intern(t, "a", 1), 2);     /* a prefix is a new string */
    assert_int_equal(pf_strtab_intern(t, "a\0b", 3), 0);
    assert_int_equal(pf_strtab_intern(t, "\xff\xfe", 2), 3);
    size_t len;
    const char *s = pf_strtab_get(t, 0, &len);
    assert_int_equal(len, 3);
    assert_memory_equal(s, "a\0b", 4);                    /* NUL-terminated too */
    pf_strtab_free(t);
}

static void test_strtab_append_is_positional(void **state)
{
    (void)state;
    pf_strtab *t = pf_strtab_new();
    assert_int_equal(pf_strtab_append(t, "x", 1), 0);
    assert_int_equal(pf_strtab_append(t, "x", 1), 1);     /* duplicates kept */
    assert_int_equal(pf_strtab_append(t, "y", 1), 2);
    /* Intern after appends finds the first copy; append after intern still appends. */
    assert_int_equal(pf_strtab_intern_cstr(t, "x"), 0);
    assert_int_equal(pf_strtab_intern_cstr(t, "y"), 2);
    assert_int_equal(pf_strtab_append(t, "z", 1), 3);
    assert_int_equal(pf_strtab_intern_cstr(t, "z"), 3);
    assert_int_equal(pf_strtab_append(t, "z", 1), 4);
    assert_int_equal(pf_strtab_intern_cstr(t, "z"), 3);
    assert_int_equal(pf_strtab_intern_cstr(t, "w"), 5);
    assert_int_equal(pf_strtab_count(t), 6);
    pf_strtab_free(t);
}

static void test_strtab_get_out_of_range_and_null_safety(void **state)
{
    (void)state;
    pf_strtab *t = pf_strtab_new();
    size_t len = 7;
    assert_null(pf_strtab_get(t, 0, &len));
    assert_int_equal(len, 7);
    assert_null(pf_strtab_get(t, PF_STR_NONE, NULL));
    assert_null(pf_strtab_get(NULL, 0, NULL));
    assert_int_equal(pf_strtab_count(NULL), 0);
    assert_int_equal(pf_strtab_intern(NULL, "a", 1), PF_STR_NONE);
    assert_int_equal(pf_strtab_intern(t, NULL, 3), PF_STR_NONE);
    assert_int_equal(pf_strtab_intern_cstr(t, NULL), PF_STR_NONE);
    assert_int_equal(pf_strtab_append(t, NULL, 3), PF_STR_NONE);
    assert_int_equal(pf_strtab_count(t), 0);
    pf_strtab_free(t);
    pf_strtab_free(NULL);
}

static void test_strtab_grows_past_blocks_and_resizes(void **state)
{
    (void)state;
    pf_strtab *t = pf_strtab_new();
    char buf[64];
    for (uint32_t i = 0; i < 100000; i++) {
        snprintf(buf, sizeof buf, "/some/path/module_%u.py", i);
        assert_int_equal(pf_strtab_intern_cstr(t, buf), i);
    }
    /* Strings larger than an arena block. */
    size_t big = 200000;
    char *s = malloc(big);
    memset(s, 'q', big);
    uint32_t id = pf_strtab_intern(t, s, big);
    assert_int_equal(id, 100000);
    assert_int_equal(pf_strtab_intern_cstr(t, "after big"), 100001);
    for (uint32_t i = 0; i < 100000; i += 997) {
        snprintf(buf, sizeof buf, "/some/path/module_%u.py", i);
        assert_int_equal(pf_strtab_intern_cstr(t, buf), i);
        size_t len;
        assert_string_equal(pf_strtab_get(t, i, &len), buf);
        assert_int_equal(len, strlen(buf));
    }
    size_t len;
    const char *g = pf_strtab_get(t, id, &len);
    assert_int_equal(len, big);
    assert_memory_equal(g, s, big);
    assert_int_equal(g[big], '\0');
    assert_int_equal(pf_strtab_intern(t, s, big), id);
    free(s);
    pf_strtab_free(t);
}

/* Fails the Nth allocation for N = 0, 1, ... until a batch of interns and appends
 * succeeds: each failure returns PF_STR_NONE, leaves the table usable and consistent,
 * and freeing it leaks nothing. */
static void test_strtab_survives_allocation_failures(void **state)
{
    (void)state;
    long live = pf_alloc_live_blocks();
    for (long n = 0;; n++) {
        pf_alloc_fail_after(n);
        pf_strtab *t = pf_strtab_new();
        int ok = t != NULL;
        uint32_t expect = 0;
        char buf[32];
        for (int i = 0; ok && i < 300; i++) {
            snprintf(buf, sizeof buf, "s%d", i % 200);
            uint32_t id = i % 3 ? pf_strtab_intern_cstr(t, buf) : pf_strtab_append(t, buf, strlen(buf));
            if (id == PF_STR_NONE) {
                ok = 0;
                break;
            }
            if (id == expect)
                expect++;
            assert_true(id < expect);
        }
        pf_alloc_fail_after(-1);
        if (t) {
            /* Whatever got in is intact. */
            for (uint32_t i = 0; i < pf_strtab_count(t); i++)
                assert_non_null(pf_strtab_get(t, i, NULL));
            assert_int_equal(pf_strtab_count(t), expect);
        }
        pf_strtab_free(t);
        assert_int_equal(pf_alloc_live_blocks(), live);
        if (ok)
            break;
        assert_true(n < 10000);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_strtab_intern_assigns_dense_ids_and_dedups),
        cmocka_unit_test(test_strtab_handles_embedded_nul_and_high_bytes),
        cmocka_unit_test(test_strtab_append_is_positional),
        cmocka_unit_test(test_strtab_get_out_of_range_and_null_safety),
        cmocka_unit_test(test_strtab_grows_past_blocks_and_resizes),
        cmocka_unit_test(test_strtab_survives_allocation_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
