/* test_convert_model.c: the converter's cProfile arithmetic on real programs, without
 * the C collector.  For each program in tests/data/pstats_progs/ and each interpreter
 * scripts/find-pythons.sh finds, a pure-Python reference recorder (_record.py, built
 * on sys.setprofile) captures the calling-context tree; this test turns it into a
 * pf_trace, writes pstats with the converter, and _compare.py checks every program
 * function's and every directly called builtin's (nc, cc) and caller edges against
 * `python -m cProfile -o` for the same program on the same interpreter. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "convert/funcstats.h"
#include "convert/pstats.h"
#include "formats/trace.h"

#define PROGS "tests/data/pstats_progs"

static char dir[64];

/* Reads _record.py's output into a trace. */
static pf_trace *read_tree(const char *path)
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    unsigned nc, nn;
    assert_int_equal(fscanf(f, "%u %u\n", &nc, &nn), 2);
    pf_trace *t = pf_trace_new();
    assert_non_null(t);
    t->meta.modes = PF_MODE_CALLS;
    pf_thread th = { 1, pf_strtab_intern_cstr(t->strings, "MainThread") };
    pf_trace_add_thread(t, &th);
    char line[8192];
    for (unsigned i = 0; i < nc; i++) {
        assert_non_null(fgets(line, sizeof line, f));
        line[strcspn(line, "\n")] = '\0';
        char *kind = line, *file = strchr(kind, '\t');
        assert_non_null(file);
        *file++ = '\0';
        char *ln = strchr(file, '\t');
        assert_non_null(ln);
        *ln++ = '\0';
        char *name = strchr(ln, '\t');
        assert_non_null(name);
        *name++ = '\0';
        pf_code c;
        memset(&c, 0, sizeof c);
        c.kind = strcmp(kind, "c") == 0 ? PF_CODE_NATIVE : PF_CODE_PYTHON;
        c.file = pf_strtab_intern_cstr(t->strings, file);
        c.name = pf_strtab_intern_cstr(t->strings, name);
        c.qualname = c.name;
        c.first_line = (uint32_t)atoi(ln);
        assert_int_not_equal(pf_trace_add_code(t, &c), PF_NONE);
    }
    for (unsigned i = 0; i < nn; i++) {
        long parent;
        unsigned code;
        unsigned long long calls, total, self;
        assert_int_equal(fscanf(f, "%ld %u %llu %llu %llu\n", &parent, &code, &calls, &total, &self), 5);
        pf_node n;
        memset(&n, 0, sizeof n);
        n.parent = parent < 0 ? PF_NONE : (uint32_t)parent;
        n.code = code;
        n.calls = calls;
        n.total_ns = total;
        n.self_ns = self;
        assert_int_not_equal(pf_trace_add_node(t, &n), PF_NONE);
    }
    fclose(f);
    pf_error err;
    assert_int_equal(pf_trace_validate(t, &err), 0);
    return t;
}

static int sh(const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int check_program(const char *py, const char *name)
{
    char prog[1400], tree[128], ours[128], theirs[128];
    char cwd[1024];
    assert_non_null(getcwd(cwd, sizeof cwd));
    snprintf(prog, sizeof prog, "%s/%s/%s.py", cwd, PROGS, name);
    snprintf(tree, sizeof tree, "%s/%s.tree", dir, name);
    snprintf(ours, sizeof ours, "%s/%s.ours.prof", dir, name);
    snprintf(theirs, sizeof theirs, "%s/%s.cprofile.prof", dir, name);
    if (sh("cd '%s' && '%s' '%s/%s/_record.py' '%s' '%s' >/dev/null", dir, py, cwd, PROGS, prog, tree) != 0)
        return fprintf(stderr, "%s: recorder failed on %s\n", py, name), 1;
    pf_trace *t = read_tree(tree);
    pf_error err;
    pf_funcstats *s = pf_funcstats_build(t, &err);
    assert_non_null(s);
    FILE *f = fopen(ours, "wb");
    assert_non_null(f);
    assert_int_equal(pf_pstats_write(s, f, &err), 0);
    fclose(f);
    pf_funcstats_free(s);
    pf_trace_free(t);
    if (sh("cd '%s' && '%s' -m cProfile -o '%s' '%s' >/dev/null", dir, py, theirs, prog) != 0)
        return fprintf(stderr, "%s: cProfile failed on %s\n", py, name), 1;
    /* same-key lambdas: cProfile keeps one code object's numbers, we sum (see
     * tests/integration/test_convert_pstats.py, test_decorators_same_key_codes_are_summed) */
    const char *skip = strcmp(name, "decorators") == 0 ? "'<lambda>'" : "";
    if (sh("'%s' '%s/%s/_compare.py' '%s' '%s' '%s' %s", py, cwd, PROGS, ours, theirs, prog,
           skip) != 0)
        return fprintf(stderr, "  (under %s)\n", py), 1;
    return 0;
}

static void test_convert_matches_cprofile_on_real_programs(void **state)
{
    (void)state;
    if (sh("command -v python3 >/dev/null") != 0)
        skip();
    snprintf(dir, sizeof dir, "/tmp/pf_model_XXXXXX");
    assert_non_null(mkdtemp(dir));
    static const char *const progs[] = { "recursion", "mutual", "generators", "builtins",
                                         "methods", "exceptions", "callbacks", "decorators" };
    FILE *p = popen("sh scripts/find-pythons.sh 2>/dev/null || command -v python3", "r");
    assert_non_null(p);
    char py[512];
    int failures = 0, runs = 0;
    while (fgets(py, sizeof py, p)) {
        py[strcspn(py, "\n")] = '\0';
        if (py[0] == '\0')
            continue;
        for (size_t i = 0; i < sizeof progs / sizeof progs[0]; i++) {
            failures += check_program(py, progs[i]);
            runs++;
        }
    }
    pclose(p);
    sh("rm -rf '%s'", dir);
    assert_true(runs > 0);
    assert_int_equal(failures, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_convert_matches_cprofile_on_real_programs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
