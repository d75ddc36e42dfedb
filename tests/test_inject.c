/* test_inject.c: PEP 768's remote execution from C (cli/inject.c, cli/pyoffsets.c) on a
 * fake CPython 3.14 runtime built in this process's own memory (process_vm_readv and
 * _writev work on oneself): what is written, and that nothing is written when a check
 * fails (a version without PEP 768, remote debugging disabled, offsets outside their
 * structs, a thread state of another interpreter, a path too long). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "cli/inject.h"

/* 3.14's word indices (Include/internal/pycore_debug_offsets.h; cli/pyoffsets.c) */
enum { W_VERSION = 1, W_FREE_THREADED = 2, W_FINALIZING = 4, W_HEAD = 5, W_MAIN = 10,
       W_TS_SIZE = 22, W_TS_INTERP = 25, W_BREAKER = 89, W_SUPPORT = 90, W_ENABLED = 91,
       W_PENDING = 92, W_SCRIPT = 93, W_SCRIPT_SIZE = 94 };
enum { TS_SIZE = 832, TS_INTERP = 16, TS_BREAKER = 24, SUPPORT = 304, MAIN_AT = 700,
       ENABLED_AT = 800, FINALIZING_AT = 8 * 200, HEAD_AT = 8 * 201 };

static uint64_t runtime[256];                 /* the _Py_DebugOffsets lead _PyRuntime */
static _Alignas(8) unsigned char interp[4096];
static _Alignas(8) unsigned char tstate[TS_SIZE];
static _Alignas(8) unsigned char clean[TS_SIZE];   /* tstate as set up */

static void put64(unsigned char *base, size_t at, uint64_t v) { memcpy(base + at, &v, 8); }
static uint64_t get64(const unsigned char *base, size_t at)
{
    uint64_t v;
    memcpy(&v, base + at, 8);
    return v;
}
static int32_t get32(const unsigned char *base, size_t at)
{
    int32_t v;
    memcpy(&v, base + at, 4);
    return v;
}

static int setup(void **state)
{
    (void)state;
    memset(runtime, 0, sizeof runtime);
    memset(interp, 0, sizeof interp);
    memset(tstate, 0, sizeof tstate);
    memcpy(runtime, "xdebugpy", 8);
    runtime[W_VERSION] = 0x030e0af0;
    runtime[W_FINALIZING] = FINALIZING_AT;
    runtime[W_HEAD] = HEAD_AT;
    runtime[W_MAIN] = MAIN_AT;
    runtime[W_TS_SIZE] = TS_SIZE;
    runtime[W_TS_INTERP] = TS_INTERP;
    runtime[W_BREAKER] = TS_BREAKER;
    runtime[W_SUPPORT] = SUPPORT;
    runtime[W_ENABLED] = ENABLED_AT;
    runtime[W_PENDING] = 0;
    runtime[W_SCRIPT] = 4;
    runtime[W_SCRIPT_SIZE] = 512;
    runtime[HEAD_AT / 8] = (uint64_t)(uintptr_t)interp;
    put64(interp, MAIN_AT, (uint64_t)(uintptr_t)tstate);
    int32_t one = 1;
    memcpy(interp + ENABLED_AT, &one, 4);
    put64(tstate, TS_INTERP, (uint64_t)(uintptr_t)interp);
    put64(tstate, TS_BREAKER, 0xabc00 | 0x03);      /* a version and two event bits */
    memcpy(clean, tstate, sizeof clean);
    return 0;
}

static pf_inject *open_fake(pf_error *err)
{
    pf_error_clear(err);
    return pf_inject_open_at(getpid(), (uint64_t)(uintptr_t)runtime, err);
}

static void test_inject_writes_path_flag_and_one_breaker_bit(void **state)
{
    (void)state;
    pf_error err;
    pf_inject *in = open_fake(&err);
    assert_non_null(in);
    assert_int_equal(pf_inject_version(in), 0x030e0af0);
    assert_int_equal(pf_inject_max_path(in), 511);
    assert_int_equal(pf_inject_send(in, "/tmp/run/start.py", &err), 0);
    assert_string_equal((const char *)tstate + SUPPORT + 4, "/tmp/run/start.py");
    assert_int_equal(get32(tstate, SUPPORT), 1);
    /* the please-stop bit added; the other bits and the version kept */
    assert_true(get64(tstate, TS_BREAKER) == (0xabc00 | 0x23));
    /* nothing else changed */
    assert_memory_equal(tstate, clean, TS_BREAKER);
    assert_memory_equal(tstate + TS_BREAKER + 8, clean + TS_BREAKER + 8,
                        SUPPORT - TS_BREAKER - 8);
    assert_int_equal(pf_inject_taken(in), 0);
    int32_t zero = 0;
    memcpy(tstate + SUPPORT, &zero, 4);             /* the thread takes it */
    assert_int_equal(pf_inject_taken(in), 1);
    assert_int_equal(pf_inject_send(in, "/tmp/run/stop.py", &err), 0);
    assert_int_equal(pf_inject_withdraw(in), 0);
    assert_int_equal(get32(tstate, SUPPORT), 0);
    assert_int_equal(tstate[SUPPORT + 4], 0);
    pf_inject_free(in);
}

static void test_inject_refuses_a_second_request_while_one_is_pending(void **state)
{
    (void)state;
    pf_error err;
    pf_inject *in = open_fake(&err);
    assert_non_null(in);
    int32_t one = 1;
    memcpy(tstate + SUPPORT, &one, 4);              /* another debugger's */
    memcpy(tstate + SUPPORT + 4, "/theirs.py", 11);
    assert_int_equal(pf_inject_send(in, "/tmp/run/start.py", &err), -1);
    assert_int_equal(err.code, PF_EUSAGE);
    assert_non_null(strstr(err.msg, "already has a remote-execution request pending"));
    assert_string_equal((const char *)tstate + SUPPORT + 4, "/theirs.py");
    pf_inject_free(in);
}

static void test_inject_refuses_a_path_longer_than_the_buffer(void **state)
{
    (void)state;
    pf_error err;
    pf_inject *in = open_fake(&err);
    assert_non_null(in);
    char path[600];
    memset(path, 'a', sizeof path - 1);
    path[0] = '/';
    path[sizeof path - 1] = 0;
    assert_int_equal(pf_inject_send(in, path, &err), -1);
    assert_int_equal(err.code, PF_EUSAGE);
    assert_memory_equal(tstate, clean, sizeof clean);
    pf_inject_free(in);
}

/* Opening fails with code and a message containing want, and tstate is untouched. */
static void refused(enum pf_error_code code, const char *want)
{
    pf_error err;
    assert_null(open_fake(&err));
    assert_int_equal(err.code, code);
    if (strstr(err.msg, want) == NULL)
        fail_msg("'%s' lacks '%s'", err.msg, want);
    assert_memory_equal(tstate, clean, sizeof clean);
}

static void test_inject_refuses_versions_without_pep768(void **state)
{
    (void)state;
    runtime[W_VERSION] = 0x030d00f0;
    refused(PF_EUSAGE, "runs Python 3.13: attach --calls needs CPython 3.14 or later");
    runtime[W_VERSION] = 0x031000a1;
    refused(PF_EUSAGE, "runs Python 3.16: attach --calls supports CPython 3.14 and 3.15");
    runtime[W_VERSION] = 0x030e0af0;
    runtime[W_FREE_THREADED] = 1;
    refused(PF_EUSAGE, "free-threaded");
    runtime[W_FREE_THREADED] = 0;
    memset(runtime, 0, 8);                          /* no cookie: before 3.13 */
    refused(PF_EUSAGE, "older than 3.13");
}

static void test_inject_refuses_disabled_remote_debugging(void **state)
{
    (void)state;
    int32_t zero = 0;
    memcpy(interp + ENABLED_AT, &zero, 4);
    refused(PF_EUSAGE, "has remote debugging disabled (PYTHON_DISABLE_REMOTE_DEBUG");
}

static void test_inject_refuses_a_process_shutting_down(void **state)
{
    (void)state;
    runtime[FINALIZING_AT / 8] = (uint64_t)(uintptr_t)tstate;
    refused(PF_EUSAGE, "is shutting down");
}

static void test_inject_refuses_offsets_outside_their_struct(void **state)
{
    (void)state;
    runtime[W_SCRIPT_SIZE] = 4096;                  /* past the thread state's end */
    refused(PF_EPARSE, "implausible");
    runtime[W_SCRIPT_SIZE] = 512;
    runtime[W_BREAKER] = TS_SIZE;                   /* the breaker past it */
    refused(PF_EPARSE, "implausible");
    runtime[W_BREAKER] = TS_BREAKER;
    runtime[W_PENDING] = 8;                         /* the flag inside the path */
    refused(PF_EPARSE, "implausible");
}

static void test_inject_refuses_a_thread_state_of_another_interpreter(void **state)
{
    (void)state;
    put64(tstate, TS_INTERP, 0x1000);
    memcpy(clean, tstate, sizeof clean);
    refused(PF_EPARSE, "does not point back at its interpreter");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_inject_writes_path_flag_and_one_breaker_bit, setup),
        cmocka_unit_test_setup(test_inject_refuses_a_second_request_while_one_is_pending, setup),
        cmocka_unit_test_setup(test_inject_refuses_a_path_longer_than_the_buffer, setup),
        cmocka_unit_test_setup(test_inject_refuses_versions_without_pep768, setup),
        cmocka_unit_test_setup(test_inject_refuses_disabled_remote_debugging, setup),
        cmocka_unit_test_setup(test_inject_refuses_a_process_shutting_down, setup),
        cmocka_unit_test_setup(test_inject_refuses_offsets_outside_their_struct, setup),
        cmocka_unit_test_setup(test_inject_refuses_a_thread_state_of_another_interpreter, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
