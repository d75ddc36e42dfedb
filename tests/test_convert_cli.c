/* test_convert_cli.c: `pyflame-c convert` as a real process: options and exit statuses,
 * error messages, refusal to put binary pstats on a terminal, temp-file + rename
 * (nothing partial left behind on failure), stdin input, collapsed determinism and
 * flamegraph.pl's line syntax. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <regex.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "formats/alloc.h"
#include "formats/trace.h"

static char dir[64];
static char trace_path[128];       /* a good calls-only trace */
static char mem_trace_path[128];   /* calls + lines + memory */
static char empty_trace_path[128]; /* no nodes at all */
static char out[1 << 16];

static int run(const char *args)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "cd '%s' && %s/%s/pyflame-c %s 2>&1", dir, getenv("PWD_ABS"),
             PF_BUILD_DIR, args);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = '\0';
    int st = pclose(p);
    assert_true(WIFEXITED(st));
    return WEXITSTATUS(st);
}

static uint32_t add_code(pf_trace *t, const char *file, uint32_t line, const char *name)
{
    pf_code c = { pf_strtab_intern_cstr(t->strings, file), pf_strtab_intern_cstr(t->strings, name),
                  pf_strtab_intern_cstr(t->strings, name), line, PF_CODE_PYTHON };
    return pf_trace_add_code(t, &c);
}

static uint32_t add_node(pf_trace *t, uint32_t thread, uint32_t parent, uint32_t code,
                         uint64_t calls, uint64_t total, uint64_t self)
{
    pf_node n;
    memset(&n, 0, sizeof n);
    n.parent = parent;
    n.thread = thread;
    n.code = code;
    n.call_line = parent == PF_NONE ? 0 : 3;
    n.calls = calls;
    n.total_ns = total;
    n.self_ns = self;
    uint32_t i = pf_trace_add_node(t, &n);
    pf_mem *m = pf_trace_node_mem_at(t, i);
    m->alloc_bytes = 100 * calls;
    m->alloc_count = calls;
    return i;
}

static void write_trace(const char *path, int nodes, uint32_t modes)
{
    pf_trace *t = pf_trace_new();
    assert_non_null(t);
    t->meta.modes = modes;
    pf_meta_set_str(&t->meta.python_version, "3.12.1");
    pf_meta_push_str(&t->meta.argv, &t->meta.argc, "prog.py");
    pf_meta_set_str(&t->meta.cwd, "/w");
    pf_thread th1 = { 1, pf_strtab_intern_cstr(t->strings, "MainThread") };
    pf_thread th2 = { 2, pf_strtab_intern_cstr(t->strings, "Thread-1 (work)") };
    uint32_t a = pf_trace_add_thread(t, &th1), b = pf_trace_add_thread(t, &th2);
    uint32_t cm = add_code(t, "/w/prog.py", 1, "<module>");
    uint32_t cf = add_code(t, "/w/prog.py", 5, "fib");
    uint32_t cw = add_code(t, "/w/lib/work.py", 2, "work");
    if (nodes) {
        uint32_t r = add_node(t, a, PF_NONE, cm, 1, 10000, 1000);
        uint32_t f1 = add_node(t, a, r, cf, 1, 9000, 3000);
        uint32_t f2 = add_node(t, a, f1, cf, 2, 6000, 4000);
        add_node(t, a, f2, cf, 2, 2000, 2000);
        uint32_t w = add_node(t, b, PF_NONE, cw, 3, 7000, 5000);
        add_node(t, b, w, cf, 3, 2000, 2000);
    }
    if (modes & PF_MODE_LINES) {
        pf_line l;
        memset(&l, 0, sizeof l);
        l.code = cf; l.line = 6; l.hits = 5; l.total_ns = 900; l.self_ns = 400;
        pf_trace_add_line(t, &l);
    }
    pf_error err;
    assert_int_equal(pf_trace_write(t, path, &err), 0);
    pf_trace_free(t);
}

static int count_entries(void)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            n++;
    closedir(d);
    return n;
}

static int group_setup(void **state)
{
    (void)state;
    char cwd[1024];
    if (getcwd(cwd, sizeof cwd) == NULL)
        return -1;
    setenv("PWD_ABS", cwd, 1);
    snprintf(dir, sizeof dir, "/tmp/pf_cli_XXXXXX");
    if (mkdtemp(dir) == NULL)
        return -1;
    snprintf(trace_path, sizeof trace_path, "%s/t.gz", dir);
    snprintf(mem_trace_path, sizeof mem_trace_path, "%s/m.gz", dir);
    snprintf(empty_trace_path, sizeof empty_trace_path, "%s/e.gz", dir);
    write_trace(trace_path, 1, PF_MODE_CALLS);
    write_trace(mem_trace_path, 1, PF_MODE_CALLS | PF_MODE_LINES | PF_MODE_MEMORY);
    write_trace(empty_trace_path, 0, PF_MODE_CALLS);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void test_convert_help_documents_formats_and_units(void **state)
{
    (void)state;
    assert_int_equal(run("convert --help"), 0);
    assert_non_null(strstr(out, "usage: pyflame-c convert"));
    assert_non_null(strstr(out, "microseconds"));
    assert_non_null(strstr(out, "collapsed"));
    assert_non_null(strstr(out, "pstats"));
    assert_non_null(strstr(out, "lines"));
}

static void test_convert_bad_options_exit_2(void **state)
{
    (void)state;
    static const struct { const char *args, *msg; } cases[] = {
        { "convert t.gz", "missing -f FORMAT" },
        { "convert -f svg t.gz", "unknown format 'svg'" },
        { "convert -f text", "missing the trace file" },
        { "convert -f text --frob t.gz", "unknown option '--frob'" },
        { "convert -f text t.gz other.gz", "unexpected extra argument 'other.gz'" },
        { "convert -f collapsed --metric wall t.gz", "unknown metric 'wall'" },
        { "convert -f collapsed --granularity file t.gz", "unknown granularity 'file'" },
        { "convert -f text --sort name t.gz", "unknown sort key 'name'" },
        { "convert -f text --limit x t.gz", "--limit wants a number" },
        { "convert -f text --limit=-3 t.gz", "--limit wants a number" },
        { "convert -f pstats --sort calls -o x t.gz", "--sort applies to -f text only" },
        { "convert -f lines --limit 3 t.gz", "--limit applies to -f text and markdown only" },
        { "convert -f text --metric calls t.gz", "--metric applies to -f collapsed only" },
        { "convert -f pprof --metric calls t.gz", "--metric applies to -f collapsed only" },
        { "convert -f text --granularity line t.gz", "--granularity applies to -f collapsed, "
                                                     "speedscope, pprof and callgrind only" },
        { "convert -f text -o", "option '-o' needs a value" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int st = run(cases[i].args);
        if (st != 2 || strstr(out, cases[i].msg) == NULL)
            fprintf(stderr, "%s -> %d: %s", cases[i].args, st, out);
        assert_int_equal(st, 2);
        assert_non_null(strstr(out, cases[i].msg));
    }
}

static void test_convert_bad_trace_names_file_and_exits_1(void **state)
{
    (void)state;
    assert_int_equal(run("convert -f text missing.gz"), 1);
    assert_non_null(strstr(out, "pyflame-c: missing.gz: "));
    char path[160];
    snprintf(path, sizeof path, "%s/garbage.gz", dir);
    FILE *f = fopen(path, "w");
    fputs("this is not a trace\n", f);
    fclose(f);
    int before = count_entries();
    assert_int_equal(run("convert -f pstats -o out.prof garbage.gz"), 1);
    assert_non_null(strstr(out, "pyflame-c: garbage.gz: "));
    assert_int_equal(count_entries(), before);    /* no out.prof, no temp file */
    unlink(path);
}

static void test_convert_truncated_trace_leaves_nothing(void **state)
{
    (void)state;
    /* the first half of a good trace */
    char path[160], cmd[400];
    snprintf(path, sizeof path, "%s/trunc.gz", dir);
    struct stat st;
    assert_int_equal(stat(trace_path, &st), 0);
    snprintf(cmd, sizeof cmd, "head -c %ld '%s' > '%s'", (long)st.st_size / 2, trace_path, path);
    assert_int_equal(system(cmd), 0);
    int before = count_entries();
    assert_int_equal(run("convert -f collapsed -o out.txt trunc.gz"), 1);
    assert_non_null(strstr(out, "pyflame-c: trunc.gz: "));
    assert_int_equal(count_entries(), before);
    unlink(path);
}

static void test_convert_failure_keeps_old_output_and_no_temp(void **state)
{
    (void)state;
    char path[160];
    snprintf(path, sizeof path, "%s/keep.prof", dir);
    FILE *f = fopen(path, "w");
    fputs("old", f);
    fclose(f);
    int before = count_entries();
    /* an empty trace fails only after the output has been opened */
    assert_int_equal(run("convert -f pstats -o keep.prof e.gz"), 1);
    assert_non_null(strstr(out, "no calls recorded"));
    assert_int_equal(count_entries(), before);
    char buf[8] = { 0 };
    f = fopen(path, "r");
    assert_int_equal(fread(buf, 1, sizeof buf, f), 3);
    fclose(f);
    assert_string_equal(buf, "old");
    unlink(path);
}

static void test_convert_memory_options_need_memory_trace(void **state)
{
    (void)state;
    int before = count_entries();
    assert_int_equal(run("convert -f collapsed --metric alloc-bytes -o x t.gz"), 2);
    assert_non_null(strstr(out, "memory"));
    assert_int_equal(run("convert -f text --sort peak t.gz"), 2);
    assert_non_null(strstr(out, "memory"));
    assert_int_equal(run("convert -f lines t.gz"), 1);
    assert_non_null(strstr(out, "line data"));
    assert_int_equal(count_entries(), before);
    assert_int_equal(run("convert -f collapsed --metric alloc-bytes m.gz"), 0);
    assert_non_null(strstr(out, "MainThread;<module> (prog.py:1) 100\n"));
    assert_int_equal(run("convert -f text --sort alloc m.gz"), 0);
    assert_int_equal(run("convert -f lines m.gz"), 0);
    assert_non_null(strstr(out, "\talloc_bytes\t"));
    assert_non_null(strstr(out, "/w/prog.py\t6\tfib\t5\t900\t400\t0\t0\t0\t0\n"));
}

static void test_convert_refuses_to_overwrite_its_input(void **state)
{
    (void)state;
    struct stat before, after;
    assert_int_equal(stat(trace_path, &before), 0);
    assert_int_equal(run("convert -f text -o t.gz t.gz"), 2);
    assert_non_null(strstr(out, "refusing to overwrite the input '"));
    assert_int_equal(stat(trace_path, &after), 0);
    assert_int_equal(before.st_size, after.st_size);
    assert_int_equal(before.st_mtime, after.st_mtime);
}

static void test_convert_writes_output_with_normal_permissions(void **state)
{
    (void)state;
    assert_int_equal(run("convert -f pstats -o p.prof t.gz"), 0);
    assert_string_equal(out, "");
    char path[160];
    snprintf(path, sizeof path, "%s/p.prof", dir);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    mode_t mask = umask(0);
    umask(mask);
    assert_int_equal(st.st_mode & 0777, 0666 & ~mask);
    /* the file starts as pstats' dict */
    FILE *f = fopen(path, "rb");
    assert_int_equal(fgetc(f), '{');
    fclose(f);
    unlink(path);
}

static void test_convert_reads_stdin(void **state)
{
    (void)state;
    assert_int_equal(run("convert -f text - < t.gz"), 0);
    assert_non_null(strstr(out, "12 function calls (8 primitive calls)"));
    assert_int_equal(run("convert -f text - -o - < t.gz"), 0);
    assert_non_null(strstr(out, "prog.py:5(fib)"));
    /* pstats' sort names are accepted too */
    assert_int_equal(run("convert -f text --sort cumtime --limit=1 t.gz"), 0);
    assert_non_null(strstr(out, "Ordered by: cumulative time"));
    /* fib: 9 us under <module> + 2 us in the other thread beats <module>'s 10 us */
    assert_non_null(strstr(out, "prog.py:5(fib)\n"));
    assert_null(strstr(out, "(<module>)"));
}

static void test_convert_collapsed_deterministic_and_flamegraph_syntax(void **state)
{
    (void)state;
    assert_int_equal(run("convert -f collapsed -o c1.txt m.gz"), 0);
    assert_int_equal(run("convert -f collapsed -o c2.txt m.gz"), 0);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "cd '%s' && cmp c1.txt c2.txt && test -s c1.txt", dir);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(run("convert -f collapsed --granularity line --full-paths m.gz"), 0);
    assert_non_null(strstr(out, "/w/prog.py"));
    assert_int_equal(run("convert -f collapsed --metric calls m.gz"), 0);
    assert_non_null(strstr(out, "Thread-1 (work);work (lib/work.py:2);fib (prog.py:5) 3\n"));
    assert_int_equal(run("convert -f collapsed m.gz"), 0);
    regex_t re;
    assert_int_equal(regcomp(&re, "^(.*) ([0-9.]+)$", REG_EXTENDED), 0);
    int lines = 0;
    for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
        assert_int_equal(regexec(&re, line, 0, NULL, 0), 0);
        lines++;
    }
    regfree(&re);
    assert_int_equal(lines, 6);
    snprintf(cmd, sizeof cmd, "cd '%s' && rm -f c1.txt c2.txt", dir);
    assert_int_equal(system(cmd), 0);
}

/* Runs convert with stdout on a pseudo-terminal; returns the exit status, stderr in out. */
static int run_on_tty(const char *fmt)
{
    int master = posix_openpt(O_RDWR | O_NOCTTY);
    if (master < 0)
        return -1;
    if (grantpt(master) < 0 || unlockpt(master) < 0) {
        close(master);
        return -1;
    }
    char errpath[160];
    snprintf(errpath, sizeof errpath, "%s/stderr.txt", dir);
    const char *slave = ptsname(master);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int s = open(slave, O_RDWR);
        int e = open(errpath, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (s < 0 || e < 0 || chdir(dir) < 0)
            _exit(99);
        dup2(s, 1);
        dup2(e, 2);
        char bin[1024];
        snprintf(bin, sizeof bin, "%s/%s/pyflame-c", getenv("PWD_ABS"), PF_BUILD_DIR);
        execl(bin, bin, "convert", "-f", fmt, "t.gz", (char *)NULL);
        _exit(98);
    }
    /* drain the terminal so the child never blocks on a full pty buffer */
    int status;
    char buf[4096];
    fcntl(master, F_SETFL, O_NONBLOCK);
    while (waitpid(pid, &status, WNOHANG) == 0) {
        if (read(master, buf, sizeof buf) <= 0)
            usleep(10000);
    }
    close(master);
    FILE *f = fopen(errpath, "r");
    size_t n = fread(out, 1, sizeof out - 1, f);
    out[n] = '\0';
    fclose(f);
    unlink(errpath);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void test_convert_refuses_binary_to_terminal(void **state)
{
    (void)state;
    int st = run_on_tty("pstats");
    if (st < 0)
        skip();
    assert_int_equal(st, 2);
    assert_non_null(strstr(out, "refusing to write binary pstats data to a terminal"));
    assert_int_equal(run_on_tty("text"), 0);
    assert_string_equal(out, "");
}

/* Name of a leftover "*.tmp-*" file in dir, or NULL. */
static const char *find_temp(char *buf, size_t cap)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    const char *found = NULL;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (strstr(e->d_name, ".tmp-") != NULL) {
            snprintf(buf, cap, "%s", e->d_name);
            found = buf;
        }
    closedir(d);
    return found;
}

/* SIGTERM while the output is being written: the temporary file goes away with the
 * process, and nothing appears under the output name. */
static void test_convert_signal_removes_temp_file(void **state)
{
    (void)state;
    /* a trace whose folded output takes a while to write: 60000 nodes, depth 60 */
    char big[160];
    snprintf(big, sizeof big, "%s/big.gz", dir);
    pf_trace *t = pf_trace_new();
    t->meta.modes = PF_MODE_CALLS;
    pf_thread th = { 1, pf_strtab_intern_cstr(t->strings, "MainThread") };
    uint32_t a = pf_trace_add_thread(t, &th);
    uint32_t codes[64];
    char name[64];
    for (int i = 0; i < 64; i++) {
        snprintf(name, sizeof name, "a_rather_long_function_name_%d", i);
        codes[i] = add_code(t, "/w/some/deeply/nested/package/module.py", 1 + i, name);
    }
    uint32_t parent = PF_NONE;
    for (int i = 0; i < 60000; i++) {
        if (i % 60 == 0)
            parent = PF_NONE;
        parent = add_node(t, a, parent, codes[(i * 7) % 64], 1, 1000, 1000);
    }
    pf_error err;
    assert_int_equal(pf_trace_write(t, big, &err), 0);
    pf_trace_free(t);

    char bin[1024], tmpname[256];
    snprintf(bin, sizeof bin, "%s/%s/pyflame-c", getenv("PWD_ABS"), PF_BUILD_DIR);
    int caught = 0;
    for (int attempt = 0; attempt < 5 && !caught; attempt++) {
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            if (chdir(dir) < 0)
                _exit(99);
            int nul = open("/dev/null", O_WRONLY);
            dup2(nul, 2);
            execl(bin, bin, "convert", "-f", "collapsed", "-o", "sig.txt", "big.gz", (char *)NULL);
            _exit(98);
        }
        int status;
        for (;;) {
            if (find_temp(tmpname, sizeof tmpname)) {
                kill(pid, SIGTERM);
                caught = 1;
                break;
            }
            if (waitpid(pid, &status, WNOHANG) == pid) {
                pid = 0;
                break;
            }
        }
        if (pid != 0)
            waitpid(pid, &status, 0);
        char sig[160];
        snprintf(sig, sizeof sig, "%s/sig.txt", dir);
        if (caught) {
            assert_true(WIFSIGNALED(status) || (WIFEXITED(status) && WEXITSTATUS(status) == 0));
            if (WIFSIGNALED(status) && access(sig, F_OK) != 0) {
                assert_int_equal(WTERMSIG(status), SIGTERM);
            } else {
                /* finished (renamed into place) before the signal landed: a complete
                 * output is allowed then; try again for a kill mid-write */
                caught = 0;
            }
        }
        unlink(sig);
        assert_null(find_temp(tmpname, sizeof tmpname));
    }
    unlink(big);
    if (!caught)
        skip();
}

/* -o names a device, a FIFO or a symlink: written through, never replaced. */
static void test_convert_output_to_special_files(void **state)
{
    (void)state;
    char path[256], target[256];
    struct stat st;
    int before = count_entries();
    /* A character device of our own (as root; /dev/null itself must not be touched
     * by a test): it stays a device, and writing to it works. */
    snprintf(path, sizeof path, "%s/null", dir);
    if (mknod(path, S_IFCHR | 0666, makedev(1, 3)) == 0) {
        assert_int_equal(run("convert -f text -o null t.gz"), 0);
        assert_int_equal(stat(path, &st), 0);
        assert_true(S_ISCHR(st.st_mode));
        unlink(path);
    }
    assert_int_equal(run("convert -f text -o /dev/null t.gz"), 0);
    assert_int_equal(stat("/dev/null", &st), 0);
    assert_true(S_ISCHR(st.st_mode));
    /* /dev/stdout reaches our standard output (here the pipe run() reads). */
    assert_int_equal(run("convert -f text -o /dev/stdout t.gz"), 0);
    assert_non_null(strstr(out, "function calls"));
    /* A FIFO: its reader gets the data; the FIFO stays a FIFO. */
    snprintf(path, sizeof path, "%s/fifo", dir);
    assert_int_equal(mkfifo(path, 0600), 0);
    char cmd[700];
    /* run() starts "cd DIR && pyflame-c ...": the reader runs beside it, in DIR too. */
    snprintf(cmd, sizeof cmd, "convert -f text -o fifo t.gz & (cd '%s' && timeout 20 cat fifo "
             "> fifo.out); wait", dir);
    assert_int_equal(run(cmd), 0);
    assert_int_equal(stat(path, &st), 0);
    assert_true(S_ISFIFO(st.st_mode));
    snprintf(target, sizeof target, "%s/fifo.out", dir);
    assert_int_equal(stat(target, &st), 0);
    assert_true(st.st_size > 100);
    unlink(path);
    unlink(target);
    /* A symlink: the file it points at gets the output; the link stays a link. */
    snprintf(path, sizeof path, "%s/link.txt", dir);
    snprintf(target, sizeof target, "%s/real.txt", dir);
    assert_int_equal(symlink("real.txt", path), 0);
    assert_int_equal(run("convert -f text -o link.txt t.gz"), 0);
    assert_int_equal(lstat(path, &st), 0);
    assert_true(S_ISLNK(st.st_mode));
    assert_int_equal(stat(target, &st), 0);
    assert_true(S_ISREG(st.st_mode) && st.st_size > 100);
    assert_int_equal(count_entries(), before + 2);   /* link.txt, real.txt: no temporary */
    unlink(path);
    unlink(target);
    /* Unwritable outputs: a clear message and exit 1. */
    char longname[600];
    memset(longname, 'x', 300);
    memcpy(longname + 300, " t.gz", 6);
    snprintf(cmd, sizeof cmd, "convert -f text -o %s", longname);
    assert_int_equal(run(cmd), 1);
    assert_non_null(strstr(out, "name too long"));
    assert_int_equal(run("convert -f text -o /proc/version t.gz"), 1);
    assert_int_equal(count_entries(), before);
}

/* A deep chain's collapsed output grows with the square of its depth: above the
 * limit nothing is written, and the message says how big it would be and which
 * option allows it. */
static void test_convert_refuses_huge_collapsed_output(void **state)
{
    (void)state;
    pf_trace *t = pf_trace_new();
    assert_non_null(t);
    t->meta.modes = PF_MODE_CALLS;
    pf_meta_set_str(&t->meta.python_version, "3.12.1");
    pf_thread th = { 1, pf_strtab_intern_cstr(t->strings, "MainThread") };
    uint32_t thr = pf_trace_add_thread(t, &th);
    uint32_t ca = add_code(t, "/w/deep.py", 1, "descend_a");
    uint32_t cb = add_code(t, "/w/deep.py", 5, "descend_b");
    uint32_t parent = PF_NONE;
    for (int d = 0; d < 3000; d++)
        parent = add_node(t, thr, parent, d % 2 ? cb : ca, 1, 1000, 1000);
    char path[160];
    snprintf(path, sizeof path, "%s/deep.gz", dir);
    pf_error err;
    assert_int_equal(pf_trace_write(t, path, &err), 0);
    pf_trace_free(t);
    int before = count_entries();
    assert_int_equal(run("convert -f collapsed --max-output 10M -o deep.txt deep.gz"), 1);
    assert_non_null(strstr(out, "the collapsed output would take up to"));
    assert_non_null(strstr(out, "--max-output"));
    assert_int_equal(count_entries(), before);          /* no deep.txt, no temporary */
    assert_int_equal(run("convert -f collapsed --max-output 0 -o deep.txt deep.gz"), 0);
    struct stat st;
    snprintf(path, sizeof path, "%s/deep.txt", dir);
    assert_int_equal(stat(path, &st), 0);
    assert_true(st.st_size > 10 << 20);                 /* the estimate is not too high */
    unlink(path);
    assert_int_equal(run("convert -f text --max-output 1M deep.gz"), 2);
    snprintf(path, sizeof path, "%s/deep.gz", dir);
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_convert_help_documents_formats_and_units),
        cmocka_unit_test(test_convert_bad_options_exit_2),
        cmocka_unit_test(test_convert_bad_trace_names_file_and_exits_1),
        cmocka_unit_test(test_convert_truncated_trace_leaves_nothing),
        cmocka_unit_test(test_convert_failure_keeps_old_output_and_no_temp),
        cmocka_unit_test(test_convert_memory_options_need_memory_trace),
        cmocka_unit_test(test_convert_refuses_to_overwrite_its_input),
        cmocka_unit_test(test_convert_writes_output_with_normal_permissions),
        cmocka_unit_test(test_convert_reads_stdin),
        cmocka_unit_test(test_convert_collapsed_deterministic_and_flamegraph_syntax),
        cmocka_unit_test(test_convert_refuses_binary_to_terminal),
        cmocka_unit_test(test_convert_signal_removes_temp_file),
        cmocka_unit_test(test_convert_output_to_special_files),
        cmocka_unit_test(test_convert_refuses_huge_collapsed_output),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
