/* test_collapsed.c: the folded-stack line reader and writer (formats/collapsed.c):
 * separators, counts, differential columns, CRLF, comments, malformed lines with their
 * line numbers, strict mode, buffers without a terminator, and count formatting. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/alloc.h"
#include "formats/collapsed.h"

/* ---- a collector for parsed and malformed lines -------------------------------------- */

#define MAXL 64
struct got {
    int n;
    char stack[MAXL][256];
    double count[MAXL], count2[MAXL];
    int has2[MAXL];
    unsigned long lineno[MAXL];
    int nbad;
    unsigned long bad_line[MAXL];
    char bad_msg[MAXL][64];
    int stop_at;                /* return -1 on this good line (1-based), 0: never */
    int set_err;                /* when stopping, fill err */
};

static int on_line(void *ctx, const pf_collapsed_line *l, pf_error *err)
{
    struct got *g = ctx;
    if (g->n < MAXL) {
        size_t n = l->stack_len < 255 ? l->stack_len : 255;
        memcpy(g->stack[g->n], l->stack, n);
        g->stack[g->n][n] = '\0';
        g->count[g->n] = l->count;
        g->count2[g->n] = l->count2;
        g->has2[g->n] = l->has_count2;
        g->lineno[g->n] = l->lineno;
    }
    g->n++;
    if (g->stop_at && g->n == g->stop_at) {
        if (g->set_err)
            pf_error_set(err, PF_ELIMIT, "enough at line %lu", l->lineno);
        return -1;
    }
    return 0;
}

static void on_bad(void *ctx, unsigned long lineno, const char *msg)
{
    struct got *g = ctx;
    if (g->nbad < MAXL) {
        g->bad_line[g->nbad] = lineno;
        snprintf(g->bad_msg[g->nbad], sizeof g->bad_msg[0], "%s", msg);
    }
    g->nbad++;
}

static long parse(const char *text, struct got *g, int strict, pf_error *err)
{
    memset(g, 0, sizeof *g);
    pf_collapsed_opts o = { strict, on_bad, g };
    return pf_collapsed_parse(text, strlen(text), on_line, &o, err);
}

/* ---- parsing --------------------------------------------------------------------------- */

static void test_collapsed_parses_plain_lines(void **state)
{
    (void)state;
    struct got g;
    pf_error err;
    assert_int_equal(parse("a;b;c 123\nmain 1\n", &g, 0, &err), 2);
    assert_int_equal(g.n, 2);
    assert_string_equal(g.stack[0], "a;b;c");
    assert_true(g.count[0] == 123.0);
    assert_false(g.has2[0]);
    assert_int_equal(g.lineno[0], 1);
    assert_string_equal(g.stack[1], "main");
    assert_int_equal(g.lineno[1], 2);
    assert_int_equal(g.nbad, 0);
}

static void test_collapsed_frames_may_contain_spaces(void **state)
{
    (void)state;
    struct got g;
    pf_error err;
    const char *in = "process 1234:\"python app.py\";<module> (app.py:10);main (app.py:5) 7\n"
                     "java;operator new(unsigned long) 3\n"
                     "a b c;d e 4\n";
    assert_int_equal(parse(in, &g, 1, &err), 3);
    assert_string_equal(g.stack[0], "process 1234:\"python app.py\";<module> (app.py:10);main (app.py:5)");
    assert_true(g.count[0] == 7);
    assert_string_equal(g.stack[1], "java;operator new(unsigned long)");
    /* "e" is not a number, so "d e" is a frame and 4 the only count. */
    assert_string_equal(g.stack[2], "a b c;d e");
    assert_false(g.has2[2]);
    assert_true(g.count[2] == 4);
}

static void test_collapsed_accepts_fractional_counts_exactly(void **state)
{
    (void)state;
    struct got g;
    pf_error err;
    assert_int_equal(parse("a 45.5\nb 0.1\nc 12.345\nd .5\ne 7.\nf 1.5e3\ng 2E-2\n", &g, 1, &err), 7);
    assert_true(g.count[0] == 45.5);
    assert_true(g.count[1] == 0.1);
    assert_true(g.count[2] == 12.345);
    assert_true(g.count[3] == 0.5);
    assert_true(g.count[4] == 7.0);
    assert_true(g.count[5] == 1500.0);
    assert_true(g.count[6] == 0.02);
}

static void test_collapsed_reads_differential_second_column(void **state)
{
    (void)state;
    struct got g;
    pf_error err;
    assert_int_equal(parse("main;parse 10 12\nmain;render 45.5 40\nmain 3\n", &g, 1, &err), 3);
    assert_string_equal(g.stack[0], "main;parse");
    assert_true(g.has2[0]);
    assert_true(g.count[0] == 10 && g.count2[0] == 12);
    assert_true(g.count[1] == 45.5 && g.count2[1] == 40);
    assert_false(g.has2[2]);
}

static void test_collapsed_number_frame_alone_is_not_differential(void **state)
{
    (void)state;
    struct got g;
    pf_error err;
    /* "12 34": nothing precedes 12, so 12 is the stack. */
    assert_int_equal(parse("12 34\nx;12 34\n", &g, 1, &err), 2);
    assert_string_equal(g.stack[0], "12");
    assert_false(g.has2[0]);
    assert_true(g.count[0] == 34);
    /* "x;12": the token before the count contains ';' so it is no count either. */
    assert_string_equal(g.stack[1], "x;12");
    assert_false(g.has2[1]);
}

static void test_collapsed_tolerates_crlf_and_extra_blanks(void **state)
{
    (void)state;
    struct got g;
    pf_error err;
    assert_int_equal(parse("a;b 1\r\na;c\t2 \r\n\r\nd  3\t\n", &g, 1, &err), 3);
    assert_string_equal(g.stack[0], "a;b");
    assert_true(g.count[0] == 1);
    assert_string_equal(g.stack[1], "a;c");
    assert_true(g.count[1] == 2);
    assert_string_equal(g.stack[2], "d");
    assert_int_equal(g.lineno[2], 4);
}

static void test_collapsed_skips_blank_and_comment_lines(void **state)
{
    (void)state;
    struct got g;
    pf_error err;
    assert_int_equal(parse("# header\n\n   \n\t\na 1\n# x;y 5\n", &g, 1, &err), 1);
    assert_string_equal(g.stack[0], "a");
    assert_int_equal(g.lineno[0], 5);
    assert_int_equal(g.nbad, 0);
}

static void test_collapsed_last_line_without_newline(void **state)
{
    (void)state;
    struct got g;
    pf_error err;
    assert_int_equal(parse("a 1\nb;c 2", &g, 1, &err), 2);
    assert_string_equal(g.stack[1], "b;c");
    assert_true(g.count[1] == 2);
}

static void test_collapsed_reports_malformed_lines_with_numbers(void **state)
{
    (void)state;
    struct got g;
    pf_error err;
    const char *in = "a;b 1\n"          /* 1 ok */
                     "a;b;c\n"          /* 2 missing count */
                     "a;d x12\n"        /* 3 not a number */
                     "a;e -4\n"         /* 4 negative */
                     " 17\n"            /* 5 missing stack */
                     "a;g 1e999\n"      /* 6 too large */
                     "a;h 12abc\n"      /* 7 not a number */
                     "a;i nan\n"        /* 8 */
                     "a;j inf\n"        /* 9 */
                     "a;k 0x10\n"       /* 10 */
                     "a;l 1.2.3\n"      /* 11 */
                     "a;m 1e\n"         /* 12 */
                     "a;n .\n"          /* 13 */
                     "a;o 2\n"          /* 14 ok */
                     "a;p 1e+\n"        /* 15 */
                     "a;q 1e5x\n";      /* 16 */
    assert_int_equal(parse(in, &g, 0, &err), 2);
    assert_int_equal(g.nbad, 14);
    const unsigned long lines[] = { 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 15, 16 };
    const char *msgs[] = { "missing count", "count is not a number", "negative count",
                           "missing stack", "count is too large", "count is not a number",
                           "count is not a number", "count is not a number",
                           "count is not a number", "count is not a number",
                           "count is not a number", "count is not a number",
                           "count is not a number", "count is not a number" };
    for (int i = 0; i < 14; i++) {
        assert_int_equal(g.bad_line[i], lines[i]);
        assert_string_equal(g.bad_msg[i], msgs[i]);
    }
    assert_int_equal(g.lineno[1], 14);
}

static void test_collapsed_strict_mode_fails_on_first_bad_line(void **state)
{
    (void)state;
    struct got g;
    pf_error err;
    pf_error_clear(&err);
    assert_int_equal(parse("a 1\nb 2\nc\nd x\n", &g, 1, &err), -1);
    assert_int_equal(err.code, PF_EPARSE);
    assert_string_equal(err.msg, "malformed line 3: missing count");
    assert_int_equal(g.n, 2);
    assert_int_equal(g.nbad, 0);   /* strict: no callback */
}

static void test_collapsed_lenient_without_callback_skips_silently(void **state)
{
    (void)state;
    pf_error err;
    const char *in = "a 1\nb\nc 2\n";
    assert_int_equal(pf_collapsed_parse(in, strlen(in), NULL, NULL, &err), 2);
}

static void test_collapsed_accepts_huge_and_zero_counts(void **state)
{
    (void)state;
    struct got g;
    pf_error err;
    assert_int_equal(parse("a 18446744073709551615\nb 123456789012345678901234567890\n"
                           "c 0\nd -0\ne 9007199254740993\n", &g, 1, &err), 5);
    assert_true(g.count[0] == 18446744073709551615.0);
    assert_true(g.count[1] == 123456789012345678901234567890.0);
    assert_true(g.count[2] == 0);
    assert_true(g.count[3] == 0);
    assert_true(g.count[4] == 9007199254740992.0);   /* nearest double */
}

static void test_collapsed_empty_input_has_no_lines(void **state)
{
    (void)state;
    pf_error err;
    assert_int_equal(pf_collapsed_parse("", 0, on_line, NULL, &err), 0);
    assert_int_equal(pf_collapsed_parse(NULL, 0, on_line, NULL, &err), 0);
    assert_int_equal(pf_collapsed_parse("\n\n# only comments\n", 18, on_line, NULL, &err), 0);
}

static void test_collapsed_callback_can_stop_the_parse(void **state)
{
    (void)state;
    struct got g;
    pf_error err;
    memset(&g, 0, sizeof g);
    g.stop_at = 2;
    g.set_err = 1;
    pf_collapsed_opts o = { 0, on_bad, &g };
    const char *in = "a 1\nb 2\nc 3\n";
    assert_int_equal(pf_collapsed_parse(in, strlen(in), on_line, &o, &err), -1);
    assert_int_equal(err.code, PF_ELIMIT);
    assert_string_equal(err.msg, "enough at line 2");
    /* A callback that fails without saying why gets a generic error. */
    memset(&g, 0, sizeof g);
    g.stop_at = 1;
    o.ctx = &g;
    assert_int_equal(pf_collapsed_parse(in, strlen(in), on_line, &o, &err), -1);
    assert_int_equal(err.code, PF_EUSAGE);
}

/* The buffer is exactly the line: no newline, no NUL.  Under ASan any read past it
 * fails the test. */
static void test_collapsed_never_reads_past_the_buffer(void **state)
{
    (void)state;
    const char *cases[] = { "a;b 12", "a;b 12 13", "a;b 1.5e", "a;b", " ", "#", "x 1\r",
                            "a;b 99999999999999999999999.5", "abcdefghijklmnopq 1", "a\t" };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t n = strlen(cases[i]);
        char *buf = malloc(n);
        memcpy(buf, cases[i], n);
        struct got g;
        memset(&g, 0, sizeof g);
        pf_collapsed_opts o = { 0, on_bad, &g };
        pf_error err;
        long r = pf_collapsed_parse(buf, n, on_line, &o, &err);
        assert_true(r >= 0);
        assert_int_equal(r + g.nbad, (cases[i][0] == '#' || cases[i][0] == ' ') ? 0 : 1);
        free(buf);
    }
}

static void test_collapsed_handles_a_very_long_line(void **state)
{
    (void)state;
    size_t frames = 200000;
    size_t cap = frames * 8 + 32;
    char *buf = malloc(cap);
    size_t n = 0;
    for (size_t i = 0; i < frames; i++)
        n += (size_t)sprintf(buf + n, "%sf%zu", i ? ";" : "", i % 1000);
    n += (size_t)sprintf(buf + n, " 5\n");
    struct got g;
    memset(&g, 0, sizeof g);
    pf_collapsed_opts o = { 1, on_bad, &g };
    pf_error err;
    assert_int_equal(pf_collapsed_parse(buf, n, on_line, &o, &err), 1);
    assert_true(g.count[0] == 5);
    free(buf);
}

/* ---- writing --------------------------------------------------------------------------- */

static char *write_to_string(const char *stack, double c, const double *c2)
{
    static char out[512];
    FILE *f = tmpfile();
    pf_error err;
    assert_int_equal(pf_collapsed_write_line(f, stack, strlen(stack), c, c2, &err), 0);
    rewind(f);
    size_t n = fread(out, 1, sizeof out - 1, f);
    out[n] = '\0';
    fclose(f);
    return out;
}

static void test_collapsed_write_prints_counts_exactly(void **state)
{
    (void)state;
    double c2 = 12;
    assert_string_equal(write_to_string("a;b", 123, NULL), "a;b 123\n");
    assert_string_equal(write_to_string("a;b", 0, NULL), "a;b 0\n");
    assert_string_equal(write_to_string("a;b", 45.5, NULL), "a;b 45.5\n");
    assert_string_equal(write_to_string("a", 0.1, NULL), "a 0.1\n");
    assert_string_equal(write_to_string("a", 12.345, NULL), "a 12.345\n");
    assert_string_equal(write_to_string("a", 1234567.891, NULL), "a 1234567.891\n");
    assert_string_equal(write_to_string("a", 1e20, NULL), "a 100000000000000000000\n");
    assert_string_equal(write_to_string("a", 18446744073709551615.0, NULL),
                        "a 18446744073709551616\n");
    assert_string_equal(write_to_string("a", 1e-7, NULL), "a 0.0000001\n");
    assert_string_equal(write_to_string("a", 1.0 / 3.0, NULL), "a 0.3333333333333333\n");
    assert_string_equal(write_to_string("main;parse", 10, &c2), "main;parse 10 12\n");
}

static void test_collapsed_write_then_parse_reads_back_the_same_counts(void **state)
{
    (void)state;
    const double vals[] = { 0, 1, 2.5, 0.1, 1.0 / 3.0, 12345.678, 1e15 + 0.5, 3e-5, 1e300,
                            4503599627370497.0 };
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        char *line = write_to_string("x;y", vals[i], NULL);
        struct got g;
        pf_error err;
        assert_int_equal(parse(line, &g, 1, &err), 1);
        assert_true(g.count[0] == vals[i]);
        assert_null(strchr(line, 'e'));
    }
}

static void test_collapsed_write_overflowed_sum_prints_largest_double(void **state)
{
    (void)state;
    char *line = write_to_string("a", 1e308 * 10, NULL);
    assert_int_equal(strncmp(line, "a 17976931348623157", 19), 0);
    assert_int_equal(strlen(line), 2 + 309 + 1);
    struct got g;
    pf_error err;
    assert_int_equal(parse(line, &g, 1, &err), 1);
    assert_true(g.count[0] == 1.7976931348623157e308);
}

static void test_collapsed_write_reports_io_errors(void **state)
{
    (void)state;
    FILE *f = fopen("/dev/full", "w");
    if (f == NULL)
        skip();
    setvbuf(f, NULL, _IONBF, 0);
    pf_error err;
    pf_error_clear(&err);
    assert_int_equal(pf_collapsed_write_line(f, "a", 1, 1, NULL, &err), -1);
    assert_int_equal(err.code, PF_EIO);
    fclose(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_collapsed_parses_plain_lines),
        cmocka_unit_test(test_collapsed_frames_may_contain_spaces),
        cmocka_unit_test(test_collapsed_accepts_fractional_counts_exactly),
        cmocka_unit_test(test_collapsed_reads_differential_second_column),
        cmocka_unit_test(test_collapsed_number_frame_alone_is_not_differential),
        cmocka_unit_test(test_collapsed_tolerates_crlf_and_extra_blanks),
        cmocka_unit_test(test_collapsed_skips_blank_and_comment_lines),
        cmocka_unit_test(test_collapsed_last_line_without_newline),
        cmocka_unit_test(test_collapsed_reports_malformed_lines_with_numbers),
        cmocka_unit_test(test_collapsed_strict_mode_fails_on_first_bad_line),
        cmocka_unit_test(test_collapsed_lenient_without_callback_skips_silently),
        cmocka_unit_test(test_collapsed_accepts_huge_and_zero_counts),
        cmocka_unit_test(test_collapsed_empty_input_has_no_lines),
        cmocka_unit_test(test_collapsed_callback_can_stop_the_parse),
        cmocka_unit_test(test_collapsed_never_reads_past_the_buffer),
        cmocka_unit_test(test_collapsed_handles_a_very_long_line),
        cmocka_unit_test(test_collapsed_write_prints_counts_exactly),
        cmocka_unit_test(test_collapsed_write_then_parse_reads_back_the_same_counts),
        cmocka_unit_test(test_collapsed_write_overflowed_sum_prints_largest_double),
        cmocka_unit_test(test_collapsed_write_reports_io_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
