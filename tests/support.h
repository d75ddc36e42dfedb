/* support.h: helpers shared by the cmocka tests that run the pyflame-c binary as a
 * real process.  Header-only (each test is one binary); include after <cmocka.h>. */
#ifndef PF_TEST_SUPPORT_H
#define PF_TEST_SUPPORT_H

#include <stdio.h>
#include <sys/wait.h>

/* Runs "BUILD/pyflame-c ARGS" from the repo root, captures stdout and stderr together
 * into out (NUL-terminated, at most cap-1 bytes) and returns the exit status; fails the
 * test if the process did not exit normally. */
static inline int pf_test_run(const char *args, char *out, size_t cap)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "%s/pyflame-c %s 2>&1", PF_BUILD_DIR, args);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t n = fread(out, 1, cap - 1, p);
    out[n] = '\0';
    int st = pclose(p);
    assert_true(WIFEXITED(st));
    return WEXITSTATUS(st);
}

#endif
