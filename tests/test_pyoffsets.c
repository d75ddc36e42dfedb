/* test_pyoffsets.c: the sampler's offsets file (cli/pyoffsets.h) as a collector writes
 * it, with and without the call opcodes of the <native> marker, and the refusals of
 * pf_pyoffsets_ask_calls that need no Python. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/pyoffsets.h"

/* Every required key, as collector/sampleinfo.c writes them for a 3.12. */
static const char base[] =
    "version_hex 51118576\ninterp 140000000000000\nob_type 8\ninterp_threads_head 72\n"
    "ts_size 400\nts_next 8\nts_thread_id 152\nts_frame 56\nframe_size 80\n"
    "frame_prev 48\nframe_code 0\nframe_instr 56\ninstr_kind 2\ncode_filename 112\n"
    "code_name 120\ncode_firstlineno 68\ncode_linetable 136\nlinetable_kind 2\n"
    "bytes_size 16\nbytes_sval 32\nstr_length 16\nstr_state 32\nstr_ascii_size 40\n"
    "str_compact_size 56\nstr_kind_bit 2\nstr_compact_bit 5\nstr_ascii_bit 6\n";

/* Writes base then extra to a temporary file; its path (static). */
static const char *write_info(const char *extra)
{
    static char path[64];
    snprintf(path, sizeof path, "/tmp/pf-test-pyoffsets-%d.sample", (int)getpid());
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(base, f);
    fputs(extra, f);
    assert_int_equal(fclose(f), 0);
    return path;
}

static int read_info(const char *extra, pf_pyoffsets *o, pf_error *err)
{
    pf_error_clear(err);
    const char *path = write_info(extra);
    int rc = pf_pyoffsets_read_file(o, path, err);
    unlink(path);
    return rc;
}

static void test_pyoffsets_without_call_ops_knows_none(void **state)
{
    (void)state;
    pf_pyoffsets o;
    pf_error err;
    assert_int_equal(read_info("", &o, &err), 0);
    assert_int_equal(o.call_ops_known, 0);
    assert_int_equal(o.extended_arg, -1);
    assert_int_equal(o.code_code, -1);
    assert_int_equal(o.ts_size, 400);
}

static void test_pyoffsets_reads_call_ops_bit_by_opcode(void **state)
{
    (void)state;
    pf_pyoffsets o;
    pf_error err;
    /* opcodes 0, 9 and 255: byte 0 bit 0, byte 1 bit 1, byte 31 bit 7 */
    assert_int_equal(read_info("call_ops 0102000000000000000000000000000000000000000000000000"
                               "000000000080\nextended_arg 144\ncode_code 48\n", &o, &err), 0);
    assert_int_equal(o.call_ops_known, 1);
    for (unsigned op = 0; op < 256; op++)
        assert_int_equal(o.call_ops[op >> 3] >> (op & 7) & 1, op == 0 || op == 9 || op == 255);
    assert_int_equal(o.extended_arg, 144);
    assert_int_equal(o.code_code, 48);
}

static void test_pyoffsets_rejects_bad_call_ops(void **state)
{
    (void)state;
    pf_pyoffsets o;
    pf_error err;
    static const char *const bad[] = {
        "call_ops 01\n",                                        /* too short */
        "call_ops 010200000000000000000000000000000000000000000000000000000000008g\n",
        "call_ops 0102000000000000000000000000000000000000000000000000000000000080ff\n",
        "extended_arg 300\n",                                   /* not an opcode */
        "extended_arg x\n",                                     /* not a number */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (read_info(bad[i], &o, &err) == 0)
            fail_msg("accepted '%s'", bad[i]);
        assert_int_equal(err.code, PF_EPARSE);
    }
}

/* The test binary is no interpreter: it is not run, and o is left as it was. */
static void test_pyoffsets_ask_calls_runs_only_pythons(void **state)
{
    (void)state;
    pf_pyoffsets o;
    memset(&o, 0, sizeof o);
    o.extended_arg = -1;
    pf_error err;
    pf_error_clear(&err);
    assert_int_equal(pf_pyoffsets_ask_calls(&o, getpid(), "print(1)", &err), -1);
    assert_int_equal(err.code, PF_EUSAGE);
    assert_non_null(strstr(err.msg, "not an interpreter named python*"));
    assert_int_equal(o.call_ops_known, 0);
    assert_int_equal(o.extended_arg, -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pyoffsets_without_call_ops_knows_none),
        cmocka_unit_test(test_pyoffsets_reads_call_ops_bit_by_opcode),
        cmocka_unit_test(test_pyoffsets_rejects_bad_call_ops),
        cmocka_unit_test(test_pyoffsets_ask_calls_runs_only_pythons),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
