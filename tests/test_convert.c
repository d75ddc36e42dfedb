/* test_convert.c: the converters on hand-built calling-context trees: cProfile's
 * counting rules (recursion, mutual recursion, merged keys, natives), the pstats bytes
 * loaded by the real pstats module of every interpreter found, the text table and the
 * line TSV, and out-of-memory behaviour. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "convert/convert.h"
#include "convert/funcstats.h"
#include "convert/lines.h"
#include "convert/pstats.h"
#include "convert/text.h"
#include "formats/alloc.h"
#include "formats/trace.h"

static pf_trace *T;
static uint32_t main_thread;

static int setup(void **state)
{
    (void)state;
    T = pf_trace_new();
    if (T == NULL)
        return -1;
    T->meta.modes = PF_MODE_CALLS;
    pf_thread th = { 1, pf_strtab_intern_cstr(T->strings, "MainThread") };
    main_thread = pf_trace_add_thread(T, &th);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    pf_trace_free(T);
    T = NULL;
    return 0;
}

static uint32_t code4(const char *file, uint32_t line, const char *name, const char *qual)
{
    pf_code c;
    memset(&c, 0, sizeof c);
    c.kind = PF_CODE_PYTHON;
    c.file = pf_strtab_intern_cstr(T->strings, file);
    c.name = pf_strtab_intern_cstr(T->strings, name);
    c.qualname = pf_strtab_intern_cstr(T->strings, qual);
    c.first_line = line;
    uint32_t i = pf_trace_add_code(T, &c);
    assert_int_not_equal(i, PF_NONE);
    return i;
}

static uint32_t code(const char *file, uint32_t line, const char *name)
{
    return code4(file, line, name, name);
}

static uint32_t native(const char *label)
{
    pf_code c;
    memset(&c, 0, sizeof c);
    c.kind = PF_CODE_NATIVE;
    c.file = pf_strtab_intern_cstr(T->strings, "");
    c.name = pf_strtab_intern_cstr(T->strings, label);
    c.qualname = c.name;
    return pf_trace_add_code(T, &c);
}

static uint32_t node(uint32_t parent, uint32_t c, uint64_t calls, uint64_t total, uint64_t self)
{
    pf_node n;
    memset(&n, 0, sizeof n);
    n.parent = parent;
    n.thread = main_thread;
    n.code = c;
    n.calls = calls;
    n.total_ns = total;
    n.self_ns = self;
    uint32_t i = pf_trace_add_node(T, &n);
    assert_int_not_equal(i, PF_NONE);
    return i;
}

/* fib(n) with one node per call (pre-order), 1000 ns of self time each; returns the
 * number of calls in the subtree. */
static uint64_t fib_calls(int n)
{
    return n < 2 ? 1 : 1 + fib_calls(n - 1) + fib_calls(n - 2);
}

static void add_fib(uint32_t parent, uint32_t c, int n)
{
    uint64_t sub = fib_calls(n);
    uint32_t me = node(parent, c, 1, sub * 1000, 1000);
    if (n >= 2) {
        add_fib(me, c, n - 1);
        add_fib(me, c, n - 2);
    }
}

static const pf_fkey *find_key(const pf_funcstats *s, const char *name)
{
    for (uint32_t k = 0; k < s->nkeys; k++)
        if (strlen(name) == s->keys[k].name_len && memcmp(s->keys[k].name, name, s->keys[k].name_len) == 0)
            return &s->keys[k];
    fail_msg("no key %s", name);
    return NULL;
}

static const pf_fedge *find_edge(const pf_funcstats *s, const char *caller, const char *callee)
{
    const pf_fkey *g = find_key(s, callee);
    const pf_fkey *f = find_key(s, caller);
    for (uint32_t i = 0; i < g->ncallers; i++) {
        const pf_fedge *e = &s->edges[g->first_caller + i];
        if (&s->keys[e->caller] == f)
            return e;
    }
    return NULL;
}

static void test_funcstats_fib_like_pstats(void **state)
{
    (void)state;
    uint32_t cm = code("fib.py", 10, "main"), cf = code("fib.py", 1, "fib");
    uint32_t root = node(PF_NONE, cm, 1, 25000 + 500, 500);
    add_fib(root, cf, 6);
    pf_error err;
    pf_funcstats *s = pf_funcstats_build(T, &err);
    assert_non_null(s);
    const pf_fkey *fib = find_key(s, "fib");
    assert_int_equal(fib->nc, 25);
    assert_int_equal(fib->cc, 1);
    assert_int_equal(fib->tt_ns, 25000);
    assert_int_equal(fib->ct_ns, 25000);          /* outermost activation only */
    const pf_fedge *rec = find_edge(s, "fib", "fib");
    assert_non_null(rec);
    assert_int_equal(rec->nc, 24);
    assert_int_equal(rec->cc, 2);                  /* fib(5) and fib(4) */
    assert_int_equal(rec->tt_ns, 24000);
    assert_int_equal(rec->ct_ns, 24000);           /* 15 + 9 calls under fib(5), fib(4) */
    const pf_fedge *top = find_edge(s, "main", "fib");
    assert_int_equal(top->nc, 1);
    assert_int_equal(top->cc, 1);
    assert_int_equal(top->ct_ns, 25000);
    const pf_fkey *m = find_key(s, "main");
    assert_int_equal(m->ncallers, 0);              /* a root: callers {} */
    assert_int_equal(m->ct_ns, 25500);
    assert_int_equal(s->total_nc, 26);
    assert_int_equal(s->total_cc, 2);
    assert_int_equal(s->total_tt_ns, 25500);
    pf_funcstats_free(s);
}

/* The same program as a real calling-context tree, where fib(n-1) and fib(n-2) called
 * from one line share a node per depth: same counts. */
static void test_funcstats_fib_merged_by_depth(void **state)
{
    (void)state;
    uint32_t cm = code("fib.py", 10, "main"), cf = code("fib.py", 1, "fib");
    /* calls per depth for fib(6): 1 2 4 6 6 4 2 */
    static const uint64_t per_depth[] = { 1, 2, 4, 6, 6, 4, 2 };
    uint32_t parent = node(PF_NONE, cm, 1, 26000, 1000);
    uint64_t below = 25;
    for (int d = 0; d < 7; d++) {
        parent = node(parent, cf, per_depth[d], below * 1000, per_depth[d] * 1000);
        below -= per_depth[d];
    }
    pf_funcstats *s = pf_funcstats_build(T, NULL);
    assert_non_null(s);
    const pf_fkey *fib = find_key(s, "fib");
    assert_int_equal(fib->nc, 25);
    assert_int_equal(fib->cc, 1);
    assert_int_equal(fib->ct_ns, 25000);
    const pf_fedge *rec = find_edge(s, "fib", "fib");
    assert_int_equal(rec->nc, 24);
    assert_int_equal(rec->cc, 2);
    assert_int_equal(rec->ct_ns, 24000);
    pf_funcstats_free(s);
}

static void test_funcstats_mutual_recursion(void **state)
{
    (void)state;
    uint32_t cm = code("m.py", 1, "main"), ca = code("m.py", 5, "a"), cb = code("m.py", 9, "b");
    /* main -> a -> b -> a -> b -> a */
    uint32_t n0 = node(PF_NONE, cm, 1, 60, 10);
    uint32_t n1 = node(n0, ca, 1, 50, 10);
    uint32_t n2 = node(n1, cb, 1, 40, 10);
    uint32_t n3 = node(n2, ca, 1, 30, 10);
    uint32_t n4 = node(n3, cb, 1, 20, 10);
    node(n4, ca, 1, 10, 10);
    pf_funcstats *s = pf_funcstats_build(T, NULL);
    assert_non_null(s);
    const pf_fkey *a = find_key(s, "a"), *b = find_key(s, "b");
    assert_int_equal(a->nc, 3);
    assert_int_equal(a->cc, 1);
    assert_int_equal(a->ct_ns, 50);
    assert_int_equal(a->tt_ns, 30);
    assert_int_equal(b->nc, 2);
    assert_int_equal(b->cc, 1);
    assert_int_equal(b->ct_ns, 40);
    const pf_fedge *ab = find_edge(s, "a", "b"), *ba = find_edge(s, "b", "a");
    assert_int_equal(ab->nc, 2);
    assert_int_equal(ab->cc, 1);
    assert_int_equal(ab->ct_ns, 40);
    assert_int_equal(ba->nc, 2);
    assert_int_equal(ba->cc, 1);
    assert_int_equal(ba->ct_ns, 30);
    assert_int_equal(ba->tt_ns, 20);
    assert_null(find_edge(s, "main", "b"));
    pf_funcstats_free(s);
}

/* Two code objects with one pstats key (two lambdas on one line) are one entry, and
 * recursion is judged per key: the inner one's calls are recursive, its time is inside
 * the outer one's (cProfile would keep one of the two, depending on addresses). */
static void test_funcstats_merges_codes_with_same_key(void **state)
{
    (void)state;
    uint32_t cm = code("l.py", 1, "main");
    uint32_t l1 = code4("l.py", 3, "<lambda>", "main.<locals>.<lambda>");
    uint32_t l2 = code4("l.py", 3, "<lambda>", "main.<locals>.<lambda>");
    uint32_t other = code("other.py", 3, "<lambda>");
    uint32_t n0 = node(PF_NONE, cm, 1, 100, 10);
    uint32_t n1 = node(n0, l1, 2, 60, 30);
    node(n1, l2, 3, 30, 30);
    node(n0, other, 1, 30, 30);
    pf_funcstats *s = pf_funcstats_build(T, NULL);
    assert_non_null(s);
    uint32_t nlambda = 0;
    const pf_fkey *lam = NULL;
    for (uint32_t k = 0; k < s->nkeys; k++)
        if (s->keys[k].name_len == 8 && memcmp(s->keys[k].name, "<lambda>", 8) == 0 &&
            memcmp(s->keys[k].file, "l.py", 4) == 0) {
            nlambda++;
            lam = &s->keys[k];
        }
    assert_int_equal(nlambda, 1);
    assert_int_equal(lam->nc, 5);
    assert_int_equal(lam->cc, 2);                /* l2 runs inside l1: recursion */
    assert_int_equal(lam->tt_ns, 60);
    assert_int_equal(lam->ct_ns, 60);            /* not 60 + 30 */
    assert_int_equal(lam->ncallers, 2);          /* main and itself */
    assert_int_equal(s->nfiles, 2);
    pf_funcstats_free(s);
}

/* ping -> pong -> ping -> pong, two distinct functions with one label (as jinja2's
 * `root` of a child and of its base template, or namedtuple's `__new__` on 3.8):
 * counted as the recursion of one function, so no cumulative time exceeds the run. */
static void build_same_label_ping_pong(void)
{
    uint32_t cm = code("p.py", 1, "main");
    uint32_t ping = code4("p.py", 4, "<lambda>", "ping");
    uint32_t pong = code4("p.py", 4, "<lambda>", "pong");
    const uint64_t ms = 1000000;
    T->meta.duration_ns = 100 * ms;
    uint32_t n0 = node(PF_NONE, cm, 1, 100 * ms, 20 * ms);
    uint32_t n1 = node(n0, ping, 1, 80 * ms, 20 * ms);
    uint32_t n2 = node(n1, pong, 1, 60 * ms, 20 * ms);
    uint32_t n3 = node(n2, ping, 1, 40 * ms, 20 * ms);
    node(n3, pong, 1, 20 * ms, 20 * ms);
}

static void test_funcstats_same_label_nesting_is_recursion(void **state)
{
    (void)state;
    build_same_label_ping_pong();
    pf_funcstats *s = pf_funcstats_build(T, NULL);
    assert_non_null(s);
    const pf_fkey *lam = find_key(s, "<lambda>"), *m = find_key(s, "main");
    assert_int_equal(lam->nc, 4);
    assert_int_equal(lam->cc, 1);
    assert_int_equal(lam->tt_ns, 80000000);
    assert_int_equal(lam->ct_ns, 80000000);      /* per code it was 80 + 60 ms */
    assert_true(lam->ct_ns <= m->ct_ns);
    const pf_fedge *self = find_edge(s, "<lambda>", "<lambda>");
    assert_non_null(self);
    assert_int_equal(self->nc, 3);
    assert_int_equal(self->cc, 1);
    assert_int_equal(self->ct_ns, 60000000);
    const pf_fedge *from_main = find_edge(s, "main", "<lambda>");
    assert_int_equal(from_main->nc, 1);
    assert_int_equal(from_main->ct_ns, 80000000);
    assert_int_equal(s->total_nc, 5);
    assert_int_equal(s->total_cc, 2);
    pf_funcstats_free(s);
}

static char *capture_text(const pf_text_opts *o, int expect_rc);

static void test_text_same_label_cumulative_within_the_run(void **state)
{
    (void)state;
    build_same_label_ping_pong();
    pf_text_opts o = { PF_SORT_CUMULATIVE, 0, 0 };
    char *out = capture_text(&o, 0);
    /* ncalls 4/1, cumtime 0.080 s, below main's 0.100 (not 0.140) */
    assert_non_null(strstr(out, "        1    0.020    0.020    0.100    0.100 p.py:1(main)\n"));
    assert_non_null(strstr(out, "      4/1    0.080    0.020    0.080    0.080 p.py:4(ping)\n"));
    free(out);
}

static void test_funcstats_natives_and_threads(void **state)
{
    (void)state;
    uint32_t cm = code("t.py", 1, "work");
    uint32_t len = native("<built-in method builtins.len>");
    pf_thread th = { 2, pf_strtab_intern_cstr(T->strings, "worker") };
    uint32_t t2 = pf_trace_add_thread(T, &th);
    uint32_t a = node(PF_NONE, cm, 1, 100, 50);
    node(a, len, 10, 50, 50);
    pf_node n;
    memset(&n, 0, sizeof n);
    n.parent = PF_NONE;
    n.thread = t2;
    n.code = cm;
    n.calls = 2;
    n.total_ns = 40;
    n.self_ns = 40;
    uint32_t b = pf_trace_add_node(T, &n);
    n.parent = b;
    n.code = len;
    n.calls = 5;
    n.total_ns = 0;
    n.self_ns = 0;
    pf_trace_add_node(T, &n);
    pf_funcstats *s = pf_funcstats_build(T, NULL);
    assert_non_null(s);
    const pf_fkey *k = find_key(s, "<built-in method builtins.len>");
    assert_string_equal(k->file, "~");
    assert_int_equal(k->line, 0);
    assert_int_equal(k->nc, 15);
    assert_int_equal(k->cc, 15);
    const pf_fkey *w = find_key(s, "work");
    assert_int_equal(w->nc, 3);
    assert_int_equal(w->cc, 3);
    assert_int_equal(w->ct_ns, 140);
    pf_funcstats_free(s);
}

static void test_funcstats_rejects_bad_parent(void **state)
{
    (void)state;
    uint32_t c = code("x.py", 1, "f");
    node(PF_NONE, c, 1, 1, 1);
    node(5, c, 1, 1, 1);
    pf_error err;
    assert_null(pf_funcstats_build(T, &err));
    assert_int_equal(err.code, PF_ECORRUPT);
}

static void test_funcstats_out_of_memory_is_clean(void **state)
{
    (void)state;
    uint32_t cm = code("fib.py", 10, "main"), cf = code("fib.py", 1, "fib");
    uint32_t root = node(PF_NONE, cm, 1, 25500, 500);
    add_fib(root, cf, 12);
    long base = pf_alloc_live_blocks();
    for (long n = 0;; n++) {
        pf_alloc_fail_after(n);
        pf_error err;
        pf_funcstats *s = pf_funcstats_build(T, &err);
        unsigned char *buf = NULL;
        size_t len = 0;
        int rc = -1;
        if (s != NULL)
            rc = pf_pstats_write_mem(s, &buf, &len, &err);
        if (rc < 0)
            assert_int_equal(err.code, PF_ENOMEM);
        pf_free(buf);
        pf_funcstats_free(s);
        long injected = pf_alloc_injected_failures();
        pf_alloc_fail_after(-1);
        assert_int_equal(pf_alloc_live_blocks(), base);
        if (rc == 0) {
            assert_int_equal(injected, 0);
            break;
        }
        assert_true(n < 200);
    }
}

/* ---- pstats files read by the real pstats module ---- */

static char tmpdir[64];

static void write_pstats(const char *path)
{
    pf_error err;
    pf_funcstats *s = pf_funcstats_build(T, &err);
    assert_non_null(s);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(pf_pstats_write(s, f, &err), 0);
    assert_int_equal(fclose(f), 0);
    pf_funcstats_free(s);
}

/* Runs check (Python source in a file) with every interpreter found; returns how many
 * ran it.  Each must exit 0. */
static int run_python_check(const char *script, const char *prof)
{
    char spath[128];
    snprintf(spath, sizeof spath, "%s/check.py", tmpdir);
    FILE *f = fopen(spath, "w");
    assert_non_null(f);
    fputs(script, f);
    fclose(f);
    FILE *p = popen("sh scripts/find-pythons.sh 2>/dev/null; command -v python3", "r");
    assert_non_null(p);
    char py[512];
    int ran = 0;
    while (fgets(py, sizeof py, p)) {
        py[strcspn(py, "\n")] = '\0';
        if (py[0] == '\0')
            continue;
        char cmd[1400];
        snprintf(cmd, sizeof cmd, "'%s' '%s' '%s'", py, spath, prof);
        int st = system(cmd);
        if (st != 0)
            fprintf(stderr, "pstats check failed under %s\n", py);
        assert_int_equal(st, 0);
        ran++;
    }
    pclose(p);
    return ran;
}

static void test_pstats_loads_in_every_python(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/pf_conv_XXXXXX");
    assert_non_null(mkdtemp(tmpdir));
    uint32_t cm = code("/src/caf\xc3\xa9.py", 10, "main"), cf = code("/src/caf\xc3\xa9.py", 1, "fib");
    uint32_t cl = native("<built-in method builtins.len>");
    uint32_t ca = native("<method 'append' of 'list' objects>");
    uint32_t root = node(PF_NONE, cm, 1, 30000, 1000);
    add_fib(root, cf, 6);
    node(root, cl, 3, 2000, 2000);
    /* a count beyond 2^31 exercises marshal's 'l' */
    node(root, ca, (uint64_t)5 << 31, 2000, 2000);
    char prof[128];
    snprintf(prof, sizeof prof, "%s/out.prof", tmpdir);
    write_pstats(prof);
    static const char script[] =
        "import pstats, sys, io\n"
        "s = pstats.Stats(sys.argv[1], stream=io.StringIO())\n"
        "f = '/src/caf\\u00e9.py'\n"
        "fib, main = (f, 1, 'fib'), (f, 10, 'main')\n"
        "ln = ('~', 0, '<built-in method builtins.len>')\n"
        "ap = ('~', 0, \"<method 'append' of 'list' objects>\")\n"
        "cc, nc, tt, ct, callers = s.stats[fib]\n"
        "assert (cc, nc) == (1, 25), (cc, nc)\n"
        "assert abs(tt - 25e-6) < 1e-12 and abs(ct - 25e-6) < 1e-12, (tt, ct)\n"
        "assert set(callers) == {main, fib}, callers\n"
        "assert callers[fib][:2] == (24, 2), callers[fib]\n"
        "assert callers[main][:2] == (1, 1), callers[main]\n"
        "assert s.stats[main][:2] == (1, 1) and s.stats[main][4] == {}\n"
        "assert s.stats[ln][:2] == (3, 3) and s.stats[ln][4][main][:2] == (3, 3)\n"
        "assert s.stats[ap][1] == 5 << 31\n"
        "assert s.total_calls == 26 + 3 + (5 << 31), s.total_calls\n"
        "assert s.prim_calls == 2 + 3 + (5 << 31), s.prim_calls\n"
        "assert len(s.stats) == 4\n"
        "s.sort_stats('cumulative').print_stats(); s.print_callers(); s.print_callees()\n"
        "out = s.stream.getvalue()\n"
        "assert '25/1' in out and '24/2' in out and '{built-in method builtins.len}' in out, out\n";
    assert_true(run_python_check(script, prof) >= 1);
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    assert_int_equal(system(cmd), 0);
}

static void test_pstats_refuses_empty(void **state)
{
    (void)state;
    code("x.py", 1, "never_called");
    pf_funcstats *s = pf_funcstats_build(T, NULL);
    assert_non_null(s);
    unsigned char *buf = NULL;
    size_t len;
    pf_error err;
    assert_int_equal(pf_pstats_write_mem(s, &buf, &len, &err), -1);
    assert_int_equal(err.code, PF_EEMPTY);
    assert_null(buf);
    pf_funcstats_free(s);
}

/* Key tuples and filenames are written once and back-referenced afterwards. */
static void test_pstats_uses_back_references(void **state)
{
    (void)state;
    uint32_t cm = code("/a/long/path/to/module.py", 10, "main");
    uint32_t cf = code("/a/long/path/to/module.py", 1, "fib");
    uint32_t root = node(PF_NONE, cm, 1, 25500, 500);
    add_fib(root, cf, 6);
    pf_funcstats *s = pf_funcstats_build(T, NULL);
    unsigned char *buf;
    size_t len;
    assert_int_equal(pf_pstats_write_mem(s, &buf, &len, NULL), 0);
    size_t nfile = 0;
    for (size_t i = 0; i + 25 <= len; i++)
        nfile += memcmp(buf + i, "/a/long/path/to/module.py", 25) == 0;
    assert_int_equal(nfile, 1);
    /* starts as a dict, then the first key tuple flagged as ref 0 */
    assert_int_equal(buf[0], '{');
    assert_int_equal(buf[1], ')' | 0x80);
    assert_int_equal(buf[len - 1], '0');
    pf_free(buf);
    pf_funcstats_free(s);
}

/* ---- text ---- */

static char *capture_text(const pf_text_opts *o, int expect_rc)
{
    pf_funcstats *s = pf_funcstats_build(T, NULL);
    assert_non_null(s);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    pf_error err;
    assert_int_equal(pf_text_write(T, s, o, f, &err), expect_rc);
    fclose(f);
    pf_funcstats_free(s);
    return buf;
}

static void build_text_trace(void)
{
    pf_meta_set_str(&T->meta.python_version, "3.11.7");
    pf_meta_push_str(&T->meta.argv, &T->meta.argc, "app.py");
    pf_meta_push_str(&T->meta.argv, &T->meta.argc, "--name");
    pf_meta_push_str(&T->meta.argv, &T->meta.argc, "two words");
    pf_meta_set_str(&T->meta.cwd, "/home/u/proj");
    T->meta.duration_ns = 1500000000;
    uint32_t cm = code("/home/u/proj/app.py", 10, "main");
    uint32_t cf = code4("/home/u/proj/pkg/fib.py", 1, "fib", "Calc.fib");
    uint32_t cl = native("<built-in method builtins.len>");
    uint32_t root = node(PF_NONE, cm, 1, 1000000000 + 25000000 + 300000000, 300000000);
    uint32_t f = node(root, cf, 1, 25000000, 1000000);
    uint32_t p = f;
    for (int i = 0; i < 24; i++)
        p = node(p, cf, 1, 24000000 - (uint64_t)i * 1000000, 1000000);
    node(root, cl, 40, 1000000000, 1000000000);
}

static void test_text_header_names_the_clock(void **state)
{
    (void)state;
    build_text_trace();
    pf_text_opts o = { PF_SORT_SELF, 30, 0 };
    char *out = capture_text(&o, 0);
    assert_null(strstr(out, "Clock:"));           /* a trace that names no clock */
    free(out);
    pf_meta_set_str(&T->meta.clock, "CLOCK_MONOTONIC");
    out = capture_text(&o, 0);
    assert_non_null(strstr(out, "profiled, 1 thread\nClock:   wall time\n"));
    /* one thread: the total is that thread's, nothing to say */
    assert_non_null(strstr(out, "in 1.325 seconds\n"));
    free(out);
    pf_meta_set_str(&T->meta.clock, PF_CLOCK_CPU_NAME);
    out = capture_text(&o, 0);
    assert_non_null(strstr(out, "\nClock:   CPU time of each thread\n"));
    free(out);
}

/* A native-memory trace says how much of the peak was native; a Python-only memory
 * trace keeps the header it always had (no Memory line). */
static void test_text_header_memory_line_with_native_share(void **state)
{
    (void)state;
    build_text_trace();
    pf_text_opts o = { PF_SORT_SELF, 30, 0 };
    T->meta.modes |= PF_MODE_MEMORY;
    T->meta.peak_live_bytes = 160000000;
    T->meta.peak_native_bytes = 150000000;
    char *out = capture_text(&o, 0);
    assert_null(strstr(out, "Memory:"));
    free(out);
    T->meta.modes |= PF_MODE_NATIVE;
    out = capture_text(&o, 0);
    assert_non_null(strstr(out, "\nMemory:  peak 153 MiB (native 143 MiB, Python 9.54 MiB)\n"));
    free(out);
    /* a native share above the peak (a damaged trace) is shown as the whole peak */
    T->meta.peak_native_bytes = 170000000;
    out = capture_text(&o, 0);
    assert_non_null(strstr(out, "\nMemory:  peak 153 MiB (native 153 MiB, Python 0 B)\n"));
    free(out);
}

static void test_text_table_like_print_stats(void **state)
{
    (void)state;
    build_text_trace();
    pf_text_opts o = { PF_SORT_SELF, 30, 0 };
    char *out = capture_text(&o, 0);
    assert_non_null(strstr(out, "Command: app.py --name 'two words'\n"));
    assert_non_null(strstr(out, "Python:  3.11.7\n"));
    assert_non_null(strstr(out, "66 function calls (42 primitive calls) in 1.325 seconds\n"));
    assert_non_null(strstr(out, "   Ordered by: internal time\n"));
    assert_non_null(strstr(out, "   ncalls  tottime  percall  cumtime  percall filename:lineno(function)\n"));
    /* builtins first (most self time), in pstats' {label} form */
    const char *l1 = strstr(out, "       40    1.000    0.025    1.000    0.025 {built-in method builtins.len}\n");
    const char *l2 = strstr(out, "        1    0.300    0.300    1.325    1.325 app.py:10(main)\n");
    const char *l3 = strstr(out, "     25/1    0.025    0.001    0.025    0.025 pkg/fib.py:1(Calc.fib)\n");
    assert_non_null(l1);
    assert_non_null(l2);
    assert_non_null(l3);
    assert_true(l1 < l2 && l2 < l3);
    free(out);
}

static void test_text_sort_limit_and_full_paths(void **state)
{
    (void)state;
    build_text_trace();
    pf_text_opts o = { PF_SORT_CUMULATIVE, 1, 1 };
    char *out = capture_text(&o, 0);
    assert_non_null(strstr(out, "Ordered by: cumulative time\n"));
    assert_non_null(strstr(out, "List reduced from 3 to 1 due to restriction <1>\n"));
    assert_non_null(strstr(out, "/home/u/proj/app.py:10(main)\n"));
    assert_null(strstr(out, "fib"));
    free(out);
    pf_text_opts c = { PF_SORT_CALLS, 0, 0 };
    out = capture_text(&c, 0);
    const char *a = strstr(out, "builtins.len"), *b = strstr(out, "Calc.fib"), *m = strstr(out, "(main)");
    assert_true(a && b && m && a < b && b < m);
    assert_null(strstr(out, "List reduced"));
    free(out);
}

static void test_text_memory_sort_needs_memory_trace(void **state)
{
    (void)state;
    build_text_trace();
    pf_text_opts o = { PF_SORT_ALLOC, 30, 0 };
    char *out = capture_text(&o, -1);
    free(out);
    T->meta.modes |= PF_MODE_MEMORY;
    pf_trace_node_mem_at(T, 0)->alloc_bytes = 3u << 20;
    pf_trace_node_mem_at(T, 0)->peak_bytes = 512;
    pf_trace_node_mem_at(T, 0)->exit_bytes = 2048;
    out = capture_text(&o, 0);
    assert_non_null(strstr(out, "Ordered by: allocated bytes\n"));
    assert_non_null(strstr(out, "percall    alloc     peak     exit filename"));
    assert_non_null(strstr(out, "   3.00M     512B    2.00K app.py:10(main)\n"));
    free(out);
    o.sort = PF_SORT_EXIT;
    out = capture_text(&o, 0);
    assert_non_null(strstr(out, "Ordered by: live bytes at exit\n"));
    const char *head = strstr(out, "filename:lineno(function)\n");
    assert_non_null(head);
    const char *row = strchr(head, '\n') + 1, *end = strchr(row, '\n');
    assert_non_null(end);            /* the only function with bytes live at exit comes first */
    const char *main_at = strstr(row, "app.py:10(main)");
    assert_true(main_at != NULL && main_at < end);
    free(out);
}

/* Two processes of one run, each with a MainThread: pid 4242 runs app.py (main ->
 * work), its child pid 4243 (killed by SIGTERM, cut short) runs worker.py (job -> work)
 * with a hostile command. */
static void build_two_process_trace(void)
{
    pf_meta_set_str(&T->meta.python_version, "3.12.1");
    pf_meta_push_str(&T->meta.argv, &T->meta.argc, "app.py");
    pf_meta_set_str(&T->meta.cwd, "/home/u/proj");
    T->meta.duration_ns = 2000000000;
    T->meta.exit_code = 3;
    pf_thread th = { 1, pf_strtab_intern_cstr(T->strings, "MainThread") };
    uint32_t child_main = pf_trace_add_thread(T, &th);
    pf_process p0 = { 4242, 1, pf_strtab_intern_cstr(T->strings, "python3 app.py"),
                      main_thread, 1, PF_PROC_EXITED, 0, 1500000000, 3, 0, 3, 0 };
    pf_process p1 = { 4243, 4242,
                      pf_strtab_intern_cstr(T->strings, "python3 worker.py --tag <script>\x1b"),
                      child_main, 1, PF_PROC_KILLED | PF_PROC_CUT_SHORT, 200000000, 800000000,
                      2, 0, PF_EXIT_UNKNOWN, 15 };
    assert_int_equal(pf_trace_add_process(T, &p0), 0);
    assert_int_equal(pf_trace_add_process(T, &p1), 1);
    uint32_t cm = code("/home/u/proj/app.py", 10, "main");
    uint32_t cw = code("/home/u/proj/lib.py", 1, "work");
    uint32_t cj = code("/home/u/proj/worker.py", 3, "job");
    uint32_t m = node(PF_NONE, cm, 1, 1000000000, 400000000);
    node(m, cw, 2, 600000000, 600000000);
    main_thread = child_main;
    uint32_t j = node(PF_NONE, cj, 1, 500000000, 200000000);
    node(j, cw, 1, 300000000, 300000000);
    main_thread = 0;
    pf_error err;
    assert_int_equal(pf_trace_validate(T, &err), 0);
}

/* "RSS:" header lines after the others, one per process with RSS data. */
static void test_text_rss_header(void **state)
{
    (void)state;
    build_two_process_trace();
    pf_text_opts o = { PF_SORT_SELF, 30, 0 };
    char *out = capture_text(&o, 0);
    assert_null(strstr(out, "RSS:"));
    free(out);
    pf_rss_sample s[] = { { 0, 10u << 20 }, { 20000000, 120u << 20 } };
    assert_int_equal(pf_trace_add_rss(T, 0, 121u << 20, 20u << 20, s, 2), 0);
    assert_int_equal(pf_trace_add_rss(T, 1, 1536, 1024, NULL, 0), 1);
    out = capture_text(&o, 0);
    assert_non_null(strstr(out, "Ended:   exit status 3\n"
                                "RSS:     peak 121 MiB, at exit 20.0 MiB (pid 4242)\n"
                                "RSS:     peak 1.50 KiB, at its last snapshot 1.00 KiB (pid 4243)\n"
                                "\nProcesses: 2\n"));
    free(out);
}

static void test_text_processes_table_and_per_process_tables(void **state)
{
    (void)state;
    build_two_process_trace();
    pf_text_opts o = { PF_SORT_SELF, 30, 0 };
    char *out = capture_text(&o, 0);
    if (getenv("PF_TEST_SHOW"))
        assert_non_null(strstr(out, "Elapsed: 2.000 seconds profiled, 2 threads in 2 processes\n"
                                "Ended:   exit status 3\n"));
    assert_non_null(strstr(out,
        "\nProcesses: 2\n\n"
        "      pid     ppid  calls  recorded  exit                                                         command\n"
        "     4242        1      3    1.50 s  exit status 3                                                python3 app.py\n"
        "     4243     4242      2    800 ms  killed by SIGTERM (cut short: data up to its last snapshot)  "
        "python3 worker.py --tag <script>\\x1b\n"
        "\n         5 function calls"));
    /* the whole run first: work ran in both */
    /* the whole run's total is a sum over its two threads; each process has one */
    const char *total = strstr(out, "         5 function calls in 1.500 seconds (summed over 2 threads; "
                                    "elapsed 2.000 s)\n\n   Ordered by: internal time\n");
    assert_non_null(total);
    assert_non_null(strstr(total, "        3    0.900    0.300    0.900    0.300 lib.py:1(work)\n"));
    /* then each process, its own numbers, same order */
    const char *p0 = strstr(out, "\n\npid 4242: python3 app.py\n\n         3 function calls in 1.000 seconds\n\n   ncalls");
    const char *p1 = strstr(out, "\n\npid 4243: python3 worker.py --tag <script>\\x1b\n\n         2 function calls in 0.500 seconds\n");
    assert_true(total && p0 && p1 && total < p0 && p0 < p1);
    assert_non_null(strstr(p0, "        2    0.600    0.300    0.600    0.300 lib.py:1(work)\n"));
    assert_true(strstr(p0, "(job)") > p1);         /* job is not in pid 4242's table */
    const char *w1 = strstr(p1, "lib.py:1(work)"), *j1 = strstr(p1, "worker.py:3(job)");
    assert_true(w1 && j1 && w1 < j1);            /* work 0.3 s self, job 0.2 s */
    free(out);

    /* --limit and --sort hold for every table */
    pf_text_opts l = { PF_SORT_CUMULATIVE, 1, 0 };
    out = capture_text(&l, 0);
    assert_non_null(strstr(out, "List reduced from 3 to 1 due to restriction <1>\n"));
    p0 = strstr(out, "\n\npid 4242");
    p1 = strstr(out, "\n\npid 4243");
    assert_true(p0 && p1);
    assert_non_null(strstr(p0, "List reduced from 2 to 1 due to restriction <1>\n"));
    assert_non_null(strstr(p0, "app.py:10(main)\n\n\npid 4243"));
    assert_non_null(strstr(p1, "List reduced from 2 to 1 due to restriction <1>\n"));
    assert_true(strstr(p1, "worker.py:3(job)\n") != NULL && strstr(p1, "(work)") == NULL);
    free(out);
}

static void test_text_processes_out_of_memory_is_clean(void **state)
{
    (void)state;
    build_two_process_trace();
    pf_text_opts o = { PF_SORT_SELF, 30, 0 };
    pf_funcstats *s = pf_funcstats_build(T, NULL);
    assert_non_null(s);
    long base = pf_alloc_live_blocks();
    for (long n = 0;; n++) {
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        pf_error err;
        pf_alloc_fail_after(n);
        int rc = pf_text_write(T, s, &o, f, &err);
        long injected = pf_alloc_injected_failures();
        pf_alloc_fail_after(-1);
        fclose(f);
        free(buf);
        assert_int_equal(pf_alloc_live_blocks(), base);
        if (rc == 0 && injected == 0)
            break;
        if (rc < 0)          /* (a failed shrink of an edge array is no failure) */
            assert_int_equal(err.code, PF_ENOMEM);
        assert_true(n < 200);
    }
    pf_funcstats_free(s);
}

/* pstats and collapsed over two processes: pstats is the whole run (the processes'
 * statistics add up to it), collapsed has a root per process. */
static void test_pstats_and_collapsed_over_processes(void **state)
{
    (void)state;
    build_two_process_trace();
    pf_funcstats *all = pf_funcstats_build(T, NULL);
    pf_funcstats *a = pf_funcstats_build_threads(T, 0, 1, NULL);
    pf_funcstats *b = pf_funcstats_build_threads(T, 1, 1, NULL);
    assert_true(all && a && b);
    assert_int_equal(all->total_nc, a->total_nc + b->total_nc);
    assert_int_equal(all->total_tt_ns, a->total_tt_ns + b->total_tt_ns);
    const pf_fkey *w = find_key(all, "work");
    assert_int_equal(w->nc, 3);
    assert_int_equal(w->ct_ns, 900000000);
    assert_int_equal(find_key(a, "job")->nc, 0);
    assert_int_equal(find_key(b, "main")->nc, 0);
    assert_int_equal(find_key(b, "work")->ncallers, 1);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_int_equal(pf_pstats_write(all, f, NULL), 0);
    fclose(f);
    assert_true(len > 0);
    free(buf);
    pf_funcstats_free(all);
    pf_funcstats_free(a);
    pf_funcstats_free(b);

    pf_convert_opts o;
    pf_convert_opts_init(&o);
    o.format = PF_CONVERT_COLLAPSED;
    f = open_memstream(&buf, &len);
    pf_error err;
    assert_int_equal(pf_convert_write(T, &o, f, &err), 0);
    fclose(f);
    assert_string_equal(buf,
        "pid 4242: python3 app.py;MainThread;main (app.py:10) 400000\n"
        "pid 4242: python3 app.py;MainThread;main (app.py:10);work (lib.py:1) 600000\n"
        "pid 4243: python3 worker.py --tag <script>\x1b;MainThread;job (worker.py:3) 200000\n"
        "pid 4243: python3 worker.py --tag <script>\x1b;MainThread;job (worker.py:3);"
        "work (lib.py:1) 300000\n");
    free(buf);
}

/* The ending alone (one process, or none): one line, nothing else changes. */
static void test_text_names_how_the_program_ended(void **state)
{
    (void)state;
    build_text_trace();
    pf_text_opts o = { PF_SORT_SELF, 30, 0 };
    char *before = capture_text(&o, 0);
    assert_null(strstr(before, "Ended:"));
    T->meta.exit_signal = 9;
    T->meta.flags |= PF_FLAG_CUT_SHORT;
    char *out = capture_text(&o, 0);
    const char *line = "Ended:   killed by SIGKILL (cut short: data up to its last snapshot)\n";
    const char *at = strstr(out, line);
    assert_non_null(at);
    /* the same report with the line taken out */
    size_t head = (size_t)(at - out);
    assert_int_equal(strncmp(out, before, head), 0);
    assert_string_equal(at + strlen(line), before + head);
    assert_null(strstr(out, "Processes"));
    free(out);
    T->meta.exit_signal = 0;
    T->meta.flags &= ~(uint32_t)PF_FLAG_CUT_SHORT;
    T->meta.exit_code = 0;
    out = capture_text(&o, 0);
    assert_non_null(strstr(out, "\nEnded:   exit status 0\n"));
    free(out);
    free(before);
}

/* ---- lines ---- */

static void test_lines_tsv_sorted_and_escaped(void **state)
{
    (void)state;
    T->meta.modes |= PF_MODE_LINES;
    uint32_t cb = code4("b.py", 1, "g", "G.g");
    uint32_t ca = code4("a\tb.py", 1, "f", "f\nx\\y");
    pf_line l;
    memset(&l, 0, sizeof l);
    l.code = cb; l.line = 7; l.hits = 3; l.total_ns = 30; l.self_ns = 20;
    pf_trace_add_line(T, &l);
    l.code = ca; l.line = 12; l.hits = 1; l.total_ns = 5; l.self_ns = 5;
    pf_trace_add_line(T, &l);
    l.code = cb; l.line = 2; l.hits = 9; l.total_ns = 90; l.self_ns = 80;
    pf_trace_add_line(T, &l);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_int_equal(pf_lines_write(T, f, NULL), 0);
    fclose(f);
    assert_string_equal(buf,
        "file\tline\tfunction\thits\ttime_ns\tself_ns\n"
        "a\\tb.py\t12\tf\\nx\\\\y\t1\t5\t5\n"
        "b.py\t2\tG.g\t9\t90\t80\n"
        "b.py\t7\tG.g\t3\t30\t20\n");
    free(buf);

    T->meta.modes |= PF_MODE_MEMORY;
    T->lines[0].mem.alloc_bytes = 100;
    T->lines[0].mem.alloc_count = 2;
    T->lines[0].mem.peak_bytes = 50;
    T->lines[0].mem.exit_bytes = 10;
    f = open_memstream(&buf, &len);
    assert_int_equal(pf_lines_write(T, f, NULL), 0);
    fclose(f);
    assert_non_null(strstr(buf, "self_ns\talloc_bytes\talloc_count\tpeak_bytes\texit_bytes\n"));
    assert_non_null(strstr(buf, "b.py\t7\tG.g\t3\t30\t20\t100\t2\t50\t10\n"));
    assert_non_null(strstr(buf, "b.py\t2\tG.g\t9\t90\t80\t0\t0\t0\t0\n"));
    free(buf);
}

static void test_lines_needs_line_mode(void **state)
{
    (void)state;
    pf_error err;
    FILE *f = fopen("/dev/null", "w");
    assert_int_equal(pf_lines_write(T, f, &err), -1);
    fclose(f);
    assert_int_equal(err.code, PF_EEMPTY);
    assert_non_null(strstr(err.msg, "line"));
}

/* --lines that selected nothing: the trace has LINES but no line record; convert says
 * so, and how to choose files, rather than "recorded without line tracing". */
static void test_lines_mode_without_lines_says_why(void **state)
{
    (void)state;
    pf_convert_opts o;
    pf_convert_opts_init(&o);
    o.format = PF_CONVERT_LINES;
    pf_error err;
    assert_int_equal(pf_convert_check(T, &o, &err), -1);
    assert_non_null(strstr(err.msg, "recorded without line tracing"));
    T->meta.modes |= PF_MODE_LINES;
    assert_int_equal(T->nlines, 0);
    assert_int_equal(pf_convert_check(T, &o, &err), -1);
    assert_int_equal(err.code, PF_EEMPTY);
    assert_non_null(strstr(err.msg, "line tracing was on but no file matched the selection; "
                                    "choose files with collect --include GLOB"));
}

#define T_(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T_(test_funcstats_fib_like_pstats),
        T_(test_funcstats_fib_merged_by_depth),
        T_(test_funcstats_mutual_recursion),
        T_(test_funcstats_merges_codes_with_same_key),
        T_(test_funcstats_same_label_nesting_is_recursion),
        T_(test_text_same_label_cumulative_within_the_run),
        T_(test_funcstats_natives_and_threads),
        T_(test_funcstats_rejects_bad_parent),
        T_(test_funcstats_out_of_memory_is_clean),
        T_(test_pstats_loads_in_every_python),
        T_(test_pstats_refuses_empty),
        T_(test_pstats_uses_back_references),
        T_(test_text_header_names_the_clock),
        T_(test_text_header_memory_line_with_native_share),
        T_(test_text_table_like_print_stats),
        T_(test_text_sort_limit_and_full_paths),
        T_(test_text_memory_sort_needs_memory_trace),
        T_(test_text_processes_table_and_per_process_tables),
        T_(test_text_rss_header),
        T_(test_text_names_how_the_program_ended),
        T_(test_pstats_and_collapsed_over_processes),
        T_(test_text_processes_out_of_memory_is_clean),
        T_(test_lines_tsv_sorted_and_escaped),
        T_(test_lines_needs_line_mode),
        T_(test_lines_mode_without_lines_says_why),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
