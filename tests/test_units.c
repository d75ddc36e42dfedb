/* test_units.c: formats/units.c, the one number and unit formatter of the text
 * table, the SVG and the HTML report: durations, byte sizes (spaced and compact),
 * counts, percentages, UTC times, and exact machine-readable numbers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <float.h>
#include <stdlib.h>
#include <string.h>

#include "formats/units.h"

static void test_units_durations_have_three_significant_digits(void **state)
{
    (void)state;
    char b[PF_UNITS_BUFSZ];
    assert_string_equal(pf_units_ns(b, sizeof b, 0), "0 ns");
    assert_string_equal(pf_units_ns(b, sizeof b, 999), "999 ns");
    assert_string_equal(pf_units_ns(b, sizeof b, 1000), "1.00 \xC2\xB5s");
    assert_string_equal(pf_units_ns(b, sizeof b, 8780), "8.78 \xC2\xB5s");
    assert_string_equal(pf_units_ns(b, sizeof b, 12345678), "12.3 ms");
    assert_string_equal(pf_units_ns(b, sizeof b, 999999), "1.00 ms");
    assert_string_equal(pf_units_ns(b, sizeof b, 9996000), "10.0 ms");
    assert_string_equal(pf_units_ns(b, sizeof b, 123456789), "123 ms");
    assert_string_equal(pf_units_ns(b, sizeof b, 1500000000), "1.50 s");
    assert_string_equal(pf_units_ns(b, sizeof b, 125000000000ull), "2 min 5 s");
    assert_string_equal(pf_units_ns(b, sizeof b, 3720000000000ull), "1 h 2 min");
    assert_string_equal(pf_units_ns(b, sizeof b, UINT64_MAX), "5124095 h 34 min");
}

static void test_units_bytes_spaced_and_compact(void **state)
{
    (void)state;
    char b[PF_UNITS_BUFSZ];
    assert_string_equal(pf_units_bytes(b, sizeof b, 0, 0), "0 B");
    assert_string_equal(pf_units_bytes(b, sizeof b, 512, 0), "512 B");
    assert_string_equal(pf_units_bytes(b, sizeof b, 1536, 0), "1.50 KiB");
    assert_string_equal(pf_units_bytes(b, sizeof b, 1048576, 0), "1.00 MiB");
    assert_string_equal(pf_units_bytes(b, sizeof b, 1048575, 0), "1.00 MiB");   /* not "1024 KiB" */
    assert_string_equal(pf_units_bytes(b, sizeof b, 300ull << 30, 0), "300 GiB");
    assert_string_equal(pf_units_bytes(b, sizeof b, UINT64_MAX, 0), "16.0 EiB");
    assert_string_equal(pf_units_bytes(b, sizeof b, 1023, 1), "1023B");
    assert_string_equal(pf_units_bytes(b, sizeof b, 4485, 1), "4.38K");
    assert_string_equal(pf_units_bytes(b, sizeof b, 41733160, 1), "39.8M");
    assert_string_equal(pf_units_bytes(b, sizeof b, 1048575, 1), "1.00M");
}

static void test_units_counts_percentages_and_times(void **state)
{
    (void)state;
    char b[PF_UNITS_BUFSZ];
    assert_string_equal(pf_units_count(b, sizeof b, 0), "0");
    assert_string_equal(pf_units_count(b, sizeof b, 999), "999");
    assert_string_equal(pf_units_count(b, sizeof b, 1234567), "1,234,567");
    assert_string_equal(pf_units_count(b, sizeof b, UINT64_MAX), "18,446,744,073,709,551,615");
    assert_string_equal(pf_units_number(b, sizeof b, 1234567), "1,234,567");
    assert_string_equal(pf_units_number(b, sizeof b, -1234), "-1,234");
    assert_string_equal(pf_units_number(b, sizeof b, 12.345678), "12.3457");
    assert_string_equal(pf_units_number(b, sizeof b, 1e300), "1e+300");
    assert_string_equal(pf_units_pct(b, sizeof b, 1, 3), "33.3%");
    assert_string_equal(pf_units_pct(b, sizeof b, 3, 3), "100%");
    assert_string_equal(pf_units_pct(b, sizeof b, 1, 1000000), "<0.01%");
    assert_string_equal(pf_units_pct(b, sizeof b, 0, 5), "0%");
    assert_string_equal(pf_units_pct(b, sizeof b, 1, 0), "");
    assert_string_equal(pf_units_utc(b, sizeof b, INT64_C(1764089000) * 1000000000),
                        "2025-11-25 16:43:20 UTC");
    assert_string_equal(pf_units_utc(b, sizeof b, 0), "");
    /* small buffers are cut, never overrun */
    char small[4];
    assert_string_equal(pf_units_count(small, sizeof small, 1234567), "1,2");
    assert_int_equal(pf_units_u64(-1), 0);
    assert_int_equal(pf_units_u64(0.0 / 0.0), 0);
    assert_int_equal(pf_units_u64(1e30), UINT64_MAX);
    assert_int_equal(pf_units_u64(12344.9999999), 12345);
}

static void test_units_exact_reads_back(void **state)
{
    (void)state;
    char b[PF_UNITS_EXACT_BUFSZ];
    const double v[] = { 0, 1, 0.1, 12.345, 1e-5, 123456789012345678.0, 1e300, DBL_MAX,
                         5e-324, 1.0 / 3 };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        size_t n = pf_units_exact(v[i], b);
        assert_int_equal(n, strlen(b));
        assert_null(strchr(b, 'e'));
        assert_true(strtod(b, NULL) == v[i]);
    }
    pf_units_exact(12.345, b);
    assert_string_equal(b, "12.345");
    pf_units_exact(1.0 / 0.0, b);
    assert_true(strtod(b, NULL) == DBL_MAX);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_units_durations_have_three_significant_digits),
        cmocka_unit_test(test_units_bytes_spaced_and_compact),
        cmocka_unit_test(test_units_counts_percentages_and_times),
        cmocka_unit_test(test_units_exact_reads_back),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
