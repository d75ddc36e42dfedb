/* test_cli.c: the pyflame-c command line skeleton: help, version, dispatch and the
 * exit status of usage errors (2), run as a real process. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tests/support.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

static int run(const char *args, char *out, size_t cap)
{
    return pf_test_run(args, out, cap);
}

static char buf[65536];

static void test_cli_help_lists_every_command(void **state)
{
    (void)state;
    assert_int_equal(run("--help", buf, sizeof buf), 0);
    assert_non_null(strstr(buf, "usage: pyflame-c"));
    const char *cmds[] = { "collect", "convert", "svg", "html" };
    for (size_t i = 0; i < 4; i++)
        assert_non_null(strstr(buf, cmds[i]));
}

static void test_cli_version_prints_version(void **state)
{
    (void)state;
    assert_int_equal(run("--version", buf, sizeof buf), 0);
    assert_non_null(strstr(buf, "pyflame-c " PF_VERSION));
}

static void test_cli_no_arguments_is_usage_error(void **state)
{
    (void)state;
    assert_int_equal(run("", buf, sizeof buf), 2);
    assert_non_null(strstr(buf, "usage:"));
}

static void test_cli_unknown_command_exits_2(void **state)
{
    (void)state;
    assert_int_equal(run("frobnicate", buf, sizeof buf), 2);
    assert_non_null(strstr(buf, "unknown command 'frobnicate'"));
}

static void test_cli_unknown_global_option_exits_2(void **state)
{
    (void)state;
    assert_int_equal(run("--frob", buf, sizeof buf), 2);
    assert_non_null(strstr(buf, "unknown option '--frob'"));
}

static void test_cli_every_command_has_help(void **state)
{
    (void)state;
    const char *cmds[] = { "collect", "convert", "svg", "html" };
    for (size_t i = 0; i < 4; i++) {
        char args[64];
        snprintf(args, sizeof args, "%s --help", cmds[i]);
        assert_int_equal(run(args, buf, sizeof buf), 0);
        assert_non_null(strstr(buf, "usage: pyflame-c"));
        assert_non_null(strstr(buf, cmds[i]));
    }
}

static void test_cli_every_command_rejects_unknown_option(void **state)
{
    (void)state;
    const char *cmds[] = { "collect", "convert", "svg", "html" };
    for (size_t i = 0; i < 4; i++) {
        char args[64];
        snprintf(args, sizeof args, "%s --no-such-option x", cmds[i]);
        assert_int_equal(run(args, buf, sizeof buf), 2);
        assert_non_null(strstr(buf, "--no-such-option"));
    }
}

/* An optional value (--memory[=all|python]) is taken only after '=': a bad one is a
 * usage error naming the choices, with the nearest suggested; flags still refuse one. */
static void test_cli_collect_memory_mode_values(void **state)
{
    (void)state;
    assert_int_equal(run("collect --memory=bogus nosuch.py", buf, sizeof buf), 2);
    assert_non_null(strstr(buf, "unknown memory mode 'bogus' (one of all, python)"));
    assert_int_equal(run("collect --memory=pyton nosuch.py", buf, sizeof buf), 2);
    assert_non_null(strstr(buf, "did you mean 'python'?"));
    assert_int_equal(run("collect --memory= nosuch.py", buf, sizeof buf), 2);
    assert_non_null(strstr(buf, "unknown memory mode ''"));
    assert_int_equal(run("collect --lines=1 nosuch.py", buf, sizeof buf), 2);
    assert_non_null(strstr(buf, "option '--lines' takes no value"));
    /* a bare --memory does not take the script as its value */
    assert_int_equal(run("collect --memory nosuch.py", buf, sizeof buf), 2);
    assert_non_null(strstr(buf, "cannot open 'nosuch.py'"));
    assert_int_equal(run("collect --memory=python nosuch.py", buf, sizeof buf), 2);
    assert_non_null(strstr(buf, "cannot open 'nosuch.py'"));
    assert_int_equal(run("collect --help", buf, sizeof buf), 0);
    assert_non_null(strstr(buf, "--memory=python"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cli_help_lists_every_command),
        cmocka_unit_test(test_cli_version_prints_version),
        cmocka_unit_test(test_cli_no_arguments_is_usage_error),
        cmocka_unit_test(test_cli_unknown_command_exits_2),
        cmocka_unit_test(test_cli_unknown_global_option_exits_2),
        cmocka_unit_test(test_cli_every_command_has_help),
        cmocka_unit_test(test_cli_every_command_rejects_unknown_option),
        cmocka_unit_test(test_cli_collect_memory_mode_values),
    };
    return cmocka_run_group_tests_name("cli", tests, NULL, NULL);
}
