/* test_trace_merge.c: pf_trace_merge (formats/trace_merge.c), which joins the traces
 * of the processes of one run: a root with memory counters and lines, a child that
 * already has process records, a plain one; the single-part case; bad arguments;
 * allocation-failure injection with leak checks; a merge of big parts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/alloc.h"
#include "formats/trace.h"

#define ROOT_START INT64_C(1700000000000000000)

static uint32_t S(pf_trace *t, const char *s)
{
    uint32_t id = pf_strtab_intern_cstr(t->strings, s);
    assert_int_not_equal(id, PF_STR_NONE);
    return id;
}

static void add_gap(pf_trace *t, uint64_t ident, uint64_t start, uint32_t reason)
{
    pf_meta *m = &t->meta;
    m->gaps = pf_reallocarray(m->gaps, m->ngaps + 1, sizeof *m->gaps);
    assert_non_null(m->gaps);
    m->gaps[m->ngaps++] = (pf_gap){ ident, start, PF_GAP_OPEN, reason };
}

static void set_argv(pf_trace *t, const char *const *argv)
{
    for (; *argv; argv++)
        assert_int_equal(pf_meta_push_str(&t->meta.argv, &t->meta.argc, *argv), 0);
}

/* The root process: two threads, memory counters on some nodes, lines, a source,
 * samples, a gap, exit status 0. */
static pf_trace *part_root(void)
{
    pf_trace *t = pf_trace_new();
    assert_non_null(t);
    pf_meta *m = &t->meta;
    static const char *const argv[] = { "python3", "main.py", NULL };
    set_argv(t, argv);
    assert_int_equal(pf_meta_set_str(&m->cwd, "/home/u"), 0);
    assert_int_equal(pf_meta_set_str(&m->python_version, "3.12.1"), 0);
    assert_int_equal(pf_meta_set_str(&m->clock, "CLOCK_MONOTONIC"), 0);
    assert_int_equal(pf_meta_push_str(&m->path, &m->npath, "/home/u"), 0);
    m->start_unix_ns = ROOT_START;
    m->duration_ns = 5000;
    m->modes = PF_MODE_CALLS | PF_MODE_LINES | PF_MODE_MEMORY | PF_MODE_NATIVE;
    m->pid = 100;
    m->total_calls = 10;
    m->profiler_bytes = 1000;
    m->peak_live_bytes = 500;
    m->peak_native_bytes = 450;
    m->exit_code = 0;
    add_gap(t, 1, 40, PF_GAP_C_PROFILE);

    uint32_t file = S(t, "main.py"), f_main = S(t, "main"), f_f = S(t, "f");
    uint32_t len = S(t, "<built-in method builtins.len>"), empty = S(t, "");
    S(t, "unused");
    pf_code codes[] = {
        { file, f_main, f_main, 1, PF_CODE_PYTHON },
        { file, f_f, f_f, 10, PF_CODE_PYTHON },
        { empty, len, len, 0, PF_CODE_NATIVE },
    };
    for (uint32_t i = 0; i < 3; i++)
        assert_int_equal(pf_trace_add_code(t, &codes[i]), i);
    pf_thread th[] = { { 1, S(t, "MainThread") }, { 2, S(t, "worker") } };
    for (uint32_t i = 0; i < 2; i++)
        assert_int_equal(pf_trace_add_thread(t, &th[i]), i);
    pf_node nodes[] = {
        { PF_NONE, 0, 0, 0, 1, 900, 100 },   /* main */
        { 0, 0, 1, 2, 3, 700, 600 },         /* main -> f */
        { 1, 0, 2, 11, 30, 100, 100 },       /* main -> f -> len */
        { PF_NONE, 1, 1, 0, 2, 400, 400 },   /* worker: f */
    };
    for (uint32_t i = 0; i < 4; i++)
        assert_int_equal(pf_trace_add_node(t, &nodes[i]), i);
    *pf_trace_node_mem_at(t, 1) = (pf_mem){ 64, 2, 32, 16, 8 };
    *pf_trace_node_mem_at(t, 3) = (pf_mem){ 1, 1, 1, 1, 1 };
    pf_line lines[] = {
        { 1, 11, 5, 500, 400, { 10, 1, 0, 10, 10 } },
        { 0, 2, 1, 900, 100, { 0 } },
    };
    for (uint32_t i = 0; i < 2; i++)
        assert_int_equal(pf_trace_add_line(t, &lines[i]), i);
    assert_int_equal(pf_trace_add_source(t, file, "A", 1), 0);
    pf_sample samples[] = { { 0, 2, 10, 1 }, { 1, PF_NONE, 20, 2 } };
    for (uint32_t i = 0; i < 2; i++)
        assert_int_equal(pf_trace_add_sample(t, &samples[i]), i);
    assert_int_equal(pf_trace_validate(t, NULL), 0);
    return t;
}

/* A child that already holds process records (itself and a grandchild, one thread
 * each): its strings in another order, codes and a line shared with the root. */
static pf_trace *part_child(void)
{
    pf_trace *t = pf_trace_new();
    assert_non_null(t);
    pf_meta *m = &t->meta;
    static const char *const argv[] = { "python3", "child.py", NULL };
    set_argv(t, argv);
    m->start_unix_ns = ROOT_START + 2000;
    m->duration_ns = 3000;
    m->modes = PF_MODE_CALLS | PF_MODE_LINES;
    m->flags = PF_FLAG_FORKED_CHILD;
    m->pid = 200;
    m->total_calls = 20;
    m->profiler_bytes = 2000;
    m->peak_live_bytes = 800;
    m->peak_native_bytes = 100;
    add_gap(t, 0, 7, PF_GAP_TOOL_ID);

    uint32_t mt = S(t, "MainThread"), f_f = S(t, "f"), file = S(t, "main.py");
    uint32_t cfile = S(t, "child.py"), g = S(t, "g");
    uint32_t len = S(t, "<built-in method builtins.len>"), empty = S(t, "");
    pf_code codes[] = {
        { file, f_f, f_f, 10, PF_CODE_PYTHON },       /* the root's f */
        { cfile, g, g, 3, PF_CODE_PYTHON },
        { empty, len, len, 0, PF_CODE_NATIVE },       /* the root's len */
        { file, f_f, f_f, 11, PF_CODE_PYTHON },       /* another first line: not f */
    };
    for (uint32_t i = 0; i < 4; i++)
        assert_int_equal(pf_trace_add_code(t, &codes[i]), i);
    pf_thread th[] = { { 1, mt }, { 5, mt } };
    for (uint32_t i = 0; i < 2; i++)
        assert_int_equal(pf_trace_add_thread(t, &th[i]), i);
    pf_process procs[] = {
        { 200, 100, S(t, "python3 child.py"), 0, 1, PF_PROC_EXITED | PF_PROC_FORKED, 0,
          3000, 15, 800, 0, 0 },
        { 201, 200, S(t, "python3 grandchild.py"), 1, 1, PF_PROC_KILLED | PF_PROC_CUT_SHORT,
          500, 1000, 5, 0, PF_EXIT_UNKNOWN, 9 },
    };
    for (uint32_t i = 0; i < 2; i++)
        assert_int_equal(pf_trace_add_process(t, &procs[i]), i);
    pf_node nodes[] = {
        { PF_NONE, 0, 0, 0, 1, 300, 100 },   /* f */
        { 0, 0, 1, 12, 2, 200, 200 },        /* f -> g */
        { PF_NONE, 1, 1, 0, 1, 50, 50 },     /* grandchild: g */
    };
    for (uint32_t i = 0; i < 3; i++)
        assert_int_equal(pf_trace_add_node(t, &nodes[i]), i);
    pf_line lines[] = {
        { 0, 11, 3, 30, 20, { 5, 1, 5, 0, 0 } },    /* the root's f:11 */
        { 1, 4, 2, 200, 200, { 0 } },
    };
    for (uint32_t i = 0; i < 2; i++)
        assert_int_equal(pf_trace_add_line(t, &lines[i]), i);
    assert_int_equal(pf_trace_add_source(t, file, "B", 1), 0);   /* the root's wins */
    assert_int_equal(pf_trace_add_source(t, cfile, "C", 1), 1);
    pf_sample s = { 1, 2, 5, 3 };
    assert_int_equal(pf_trace_add_sample(t, &s), 0);
    assert_int_equal(pf_trace_validate(t, NULL), 0);
    return t;
}

/* A plain child: no process records, started before the root (a negative start),
 * killed by SIGTERM, cut short. */
static pf_trace *part_plain(void)
{
    pf_trace *t = pf_trace_new();
    assert_non_null(t);
    pf_meta *m = &t->meta;
    static const char *const argv[] = { "python3", "-c", "pass", NULL };
    set_argv(t, argv);
    m->start_unix_ns = ROOT_START - 500;
    m->duration_ns = 100;
    m->modes = PF_MODE_CALLS | PF_MODE_SAMPLES;
    m->flags = PF_FLAG_CUT_SHORT;
    m->pid = 300;
    m->total_calls = 5;
    m->profiler_bytes = 300;
    m->exit_signal = 15;
    uint32_t file = S(t, "main.py"), f_main = S(t, "main");
    uint32_t len = S(t, "<built-in method builtins.len>"), empty = S(t, "");
    pf_code codes[] = {
        { empty, len, len, 0, PF_CODE_NATIVE },
        { file, f_main, f_main, 1, PF_CODE_PYTHON },
    };
    for (uint32_t i = 0; i < 2; i++)
        assert_int_equal(pf_trace_add_code(t, &codes[i]), i);
    pf_thread th = { 7, S(t, "MainThread") };
    assert_int_equal(pf_trace_add_thread(t, &th), 0);
    pf_node nodes[] = {
        { PF_NONE, 0, 1, 0, 1, 90, 40 },     /* main */
        { 0, 0, 0, 3, 5, 50, 50 },           /* main -> len */
    };
    for (uint32_t i = 0; i < 2; i++)
        assert_int_equal(pf_trace_add_node(t, &nodes[i]), i);
    assert_int_equal(pf_trace_validate(t, NULL), 0);
    return t;
}

/* The output's code index with this text, or PF_NONE. */
static uint32_t find_code(const pf_trace *t, const char *file, const char *name,
                          uint32_t first_line)
{
    uint32_t found = PF_NONE;
    for (uint32_t i = 0; i < t->ncodes; i++) {
        const pf_code *c = &t->codes[i];
        if (strcmp(pf_trace_str(t, c->file), file) == 0 &&
            strcmp(pf_trace_str(t, c->name), name) == 0 && c->first_line == first_line) {
            assert_int_equal(found, PF_NONE);        /* deduplicated: at most one */
            found = i;
        }
    }
    return found;
}

static void assert_mem(const pf_mem *m, uint64_t a, uint64_t b, uint64_t c, uint64_t d,
                       uint64_t e)
{
    assert_true(m->alloc_bytes == a && m->alloc_count == b && m->free_bytes == c &&
                m->peak_bytes == d && m->exit_bytes == e);
}

static unsigned char *raw_of(const pf_trace *t, size_t *len)
{
    unsigned char *buf;
    pf_error err;
    if (pf_trace_write_mem_raw(t, &buf, len, &err) < 0)
        fail_msg("%s", err.msg);
    return buf;
}

/* Checks the merge of part_root, part_child, part_plain (in that order). */
static void check_three(const pf_trace *t)
{
    pf_error err;
    if (pf_trace_validate(t, &err) < 0)
        fail_msg("%s", err.msg);

    /* meta: the root's, with the totals */
    const pf_meta *m = &t->meta;
    assert_int_equal(m->argc, 2);
    assert_string_equal(m->argv[1], "main.py");
    assert_string_equal(m->cwd, "/home/u");
    assert_string_equal(m->python_version, "3.12.1");
    assert_string_equal(m->clock, "CLOCK_MONOTONIC");
    assert_int_equal(m->npath, 1);
    assert_true(m->start_unix_ns == ROOT_START);
    assert_true(m->duration_ns == 5000);
    assert_true(m->pid == 100);
    assert_int_equal(m->modes, PF_MODE_CALLS | PF_MODE_LINES | PF_MODE_MEMORY |
                               PF_MODE_SAMPLES | PF_MODE_NATIVE);
    assert_int_equal(m->flags, PF_FLAG_CUT_SHORT);   /* FORKED_CHILD stays the root's */
    assert_true(m->total_calls == 35);
    assert_true(m->profiler_bytes == 3300);
    assert_true(m->peak_live_bytes == 800);
    assert_true(m->peak_native_bytes == 100);      /* the native share of that same peak */
    assert_int_equal(m->exit_code, 0);
    assert_int_equal(m->exit_signal, 0);
    assert_int_equal(m->ngaps, 2);
    assert_true(m->gaps[0].ident == 1 && m->gaps[0].start_ns == 40);
    assert_true(m->gaps[1].ident == 0 && m->gaps[1].reason == PF_GAP_TOOL_ID);

    /* codes: main, f, len, g and the other f; each once */
    assert_int_equal(t->ncodes, 5);
    uint32_t c_main = find_code(t, "main.py", "main", 1);
    uint32_t c_f = find_code(t, "main.py", "f", 10);
    uint32_t c_len = find_code(t, "", "<built-in method builtins.len>", 0);
    uint32_t c_g = find_code(t, "child.py", "g", 3);
    assert_int_not_equal(c_main, PF_NONE);
    assert_int_not_equal(c_f, PF_NONE);
    assert_int_not_equal(c_len, PF_NONE);
    assert_int_not_equal(c_g, PF_NONE);
    assert_int_not_equal(find_code(t, "main.py", "f", 11), PF_NONE);
    assert_int_equal(t->codes[c_len].kind, PF_CODE_NATIVE);
    /* strings once each */
    uint32_t nstr = pf_strtab_count(t->strings);
    for (uint32_t i = 0; i < nstr; i++)
        for (uint32_t j = i + 1; j < nstr; j++)
            assert_string_not_equal(pf_trace_str(t, i), pf_trace_str(t, j));

    /* threads: the root's 2, the child's 2, the plain one's 1, in order */
    assert_int_equal(t->nthreads, 5);
    static const uint64_t idents[] = { 1, 2, 1, 5, 7 };
    static const char *const tnames[] = { "MainThread", "worker", "MainThread",
                                          "MainThread", "MainThread" };
    for (uint32_t i = 0; i < 5; i++) {
        assert_true(t->threads[i].ident == idents[i]);
        assert_string_equal(pf_trace_str(t, t->threads[i].name), tnames[i]);
    }

    /* processes: the root's implicit one, the child's two, the plain one's */
    assert_int_equal(t->nprocesses, 4);
    const pf_process *p = t->processes;
    assert_true(p[0].pid == 100 && p[0].ppid == 0);
    assert_string_equal(pf_trace_str(t, p[0].command), "python3 main.py");
    assert_int_equal(p[0].first_thread, 0);
    assert_int_equal(p[0].nthreads, 2);
    assert_int_equal(p[0].flags, PF_PROC_EXITED);
    assert_int_equal(p[0].exit_code, 0);
    assert_true(p[0].start_ns == 0 && p[0].duration_ns == 5000);
    assert_true(p[0].calls == 10 && p[0].peak_live_bytes == 500);

    assert_true(p[1].pid == 200 && p[1].ppid == 100);
    assert_string_equal(pf_trace_str(t, p[1].command), "python3 child.py");
    assert_int_equal(p[1].first_thread, 2);
    assert_int_equal(p[1].nthreads, 1);
    assert_int_equal(p[1].flags, PF_PROC_EXITED | PF_PROC_FORKED);
    assert_true(p[1].start_ns == 2000);               /* rebased on the root's start */
    assert_true(p[1].calls == 15 && p[1].peak_live_bytes == 800);

    assert_true(p[2].pid == 201 && p[2].ppid == 200);
    assert_string_equal(pf_trace_str(t, p[2].command), "python3 grandchild.py");
    assert_int_equal(p[2].first_thread, 3);
    assert_int_equal(p[2].nthreads, 1);
    assert_true(p[2].start_ns == 2500);
    assert_int_equal(p[2].exit_signal, 9);
    assert_int_equal(p[2].exit_code, PF_EXIT_UNKNOWN);

    assert_true(p[3].pid == 300);
    assert_string_equal(pf_trace_str(t, p[3].command), "python3 -c pass");
    assert_int_equal(p[3].first_thread, 4);
    assert_int_equal(p[3].nthreads, 1);
    assert_int_equal(p[3].flags, PF_PROC_CUT_SHORT | PF_PROC_KILLED);
    assert_int_equal(p[3].exit_signal, 15);
    assert_int_equal(p[3].exit_code, PF_EXIT_UNKNOWN);
    assert_true(p[3].start_ns == -500);
    assert_true(p[3].calls == 5 && p[3].duration_ns == 100);
    for (uint32_t th = 0; th < 5; th++)
        assert_int_equal(pf_trace_thread_process(t, th), th < 2 ? 0 : th - 1);
    char buf[128];
    pf_trace_describe_exit(t, 3, buf, sizeof buf);
    assert_string_equal(buf, "killed by SIGTERM (cut short: data up to its last snapshot)");

    /* nodes: 4 + 3 + 2, parents, threads and codes remapped, pre-order kept */
    assert_int_equal(t->nnodes, 9);
    static const struct {
        uint32_t parent, thread;
        int code;                /* 0 main, 1 f, 2 len, 3 g */
        uint64_t calls;
    } want[] = {
        { PF_NONE, 0, 0, 1 }, { 0, 0, 1, 3 }, { 1, 0, 2, 30 }, { PF_NONE, 1, 1, 2 },
        { PF_NONE, 2, 1, 1 }, { 4, 2, 3, 2 }, { PF_NONE, 3, 3, 1 },
        { PF_NONE, 4, 0, 1 }, { 7, 4, 2, 5 },
    };
    const uint32_t code_of[] = { c_main, c_f, c_len, c_g };
    for (uint32_t i = 0; i < 9; i++) {
        assert_int_equal(t->nodes[i].parent, want[i].parent);
        assert_int_equal(t->nodes[i].thread, want[i].thread);
        assert_int_equal(t->nodes[i].code, code_of[want[i].code]);
        assert_true(t->nodes[i].calls == want[i].calls);
    }
    assert_true(t->nodes[5].call_line == 12 && t->nodes[5].total_ns == 200);
    /* node memory: the root's two nodes, at their old indices; none elsewhere */
    assert_mem(pf_trace_node_mem(t, 1), 64, 2, 32, 16, 8);
    assert_mem(pf_trace_node_mem(t, 3), 1, 1, 1, 1, 1);
    for (uint32_t i = 0; i < 9; i++)
        if (i != 1 && i != 3)
            assert_mem(pf_trace_node_mem(t, i), 0, 0, 0, 0, 0);

    /* lines: f:11 from the root and the child add up */
    assert_int_equal(t->nlines, 3);
    assert_int_equal(t->lines[0].code, c_f);
    assert_int_equal(t->lines[0].line, 11);
    assert_true(t->lines[0].hits == 8);
    assert_true(t->lines[0].total_ns == 530 && t->lines[0].self_ns == 420);
    assert_mem(&t->lines[0].mem, 15, 2, 5, 10, 10);
    assert_int_equal(t->lines[1].code, c_main);
    assert_true(t->lines[1].hits == 1);
    assert_int_equal(t->lines[2].code, c_g);
    assert_int_equal(t->lines[2].line, 4);

    /* sources: one per path, the first part's text */
    assert_int_equal(t->nsources, 2);
    assert_string_equal(pf_trace_str(t, t->sources[0].path), "main.py");
    assert_string_equal(t->sources[0].text, "A");
    assert_string_equal(pf_trace_str(t, t->sources[1].path), "child.py");
    assert_string_equal(t->sources[1].text, "C");

    /* samples remapped */
    assert_int_equal(t->nsamples, 3);
    assert_int_equal(t->samples[0].node, 2);
    assert_int_equal(t->samples[1].node, PF_NONE);
    assert_int_equal(t->samples[1].thread, 1);
    assert_int_equal(t->samples[2].thread, 3);
    assert_int_equal(t->samples[2].node, 6);
}

static void test_merge_three_parts(void **state)
{
    (void)state;
    long live = pf_alloc_live_blocks();
    pf_trace *parts[3] = { part_root(), part_child(), part_plain() };
    size_t before_len[3];
    unsigned char *before[3];
    for (int i = 0; i < 3; i++)
        before[i] = raw_of(parts[i], &before_len[i]);
    pf_error err;
    pf_trace *t = pf_trace_merge(parts, 3, &err);
    if (t == NULL)
        fail_msg("%s", err.msg);
    check_three(t);
    /* The parts are unchanged. */
    for (int i = 0; i < 3; i++) {
        size_t len;
        unsigned char *after = raw_of(parts[i], &len);
        assert_int_equal(len, before_len[i]);
        assert_memory_equal(after, before[i], len);
        pf_free(after);
        pf_free(before[i]);
    }
    /* The merged trace writes and reads back (PROCESSES with real data). */
    size_t len;
    unsigned char *raw = raw_of(t, &len);
    pf_trace *u = pf_trace_read_mem(raw, len, &err);
    if (u == NULL)
        fail_msg("%s", err.msg);
    check_three(u);
    pf_trace_free(u);
    pf_free(raw);
    pf_trace_free(t);
    for (int i = 0; i < 3; i++)
        pf_trace_free(parts[i]);
    assert_int_equal(pf_alloc_live_blocks(), live);
}

/* Links follow their nodes: both ends move by the part's node offset; the parts'
 * dropped links add up. */
static void test_merge_keeps_links_with_their_nodes(void **state)
{
    (void)state;
    long live = pf_alloc_live_blocks();
    pf_trace *parts[3] = { part_root(), part_child(), part_plain() };
    pf_link a = { 1, 0, PF_LINK_TASK }, b = { 2, 0, PF_LINK_EXECUTOR }, c = { 0, 1, 9 };
    assert_int_equal(pf_trace_add_link(parts[0], &a), 0);
    assert_int_equal(pf_trace_add_link(parts[1], &b), 0);
    assert_int_equal(pf_trace_add_link(parts[1], &c), 1);
    parts[1]->meta.links_dropped = 3;
    parts[2]->meta.links_dropped = 4;
    pf_error err;
    pf_trace *t = pf_trace_merge(parts, 3, &err);
    if (t == NULL)
        fail_msg("%s", err.msg);
    uint32_t off = parts[0]->nnodes;
    assert_int_equal(t->nlinks, 3);
    assert_int_equal(t->links[0].node, 1);
    assert_int_equal(t->links[0].creator, 0);
    assert_int_equal(t->links[0].kind, PF_LINK_TASK);
    assert_int_equal(t->links[1].node, off + 2);
    assert_int_equal(t->links[1].creator, off);
    assert_int_equal(t->links[1].kind, PF_LINK_EXECUTOR);
    assert_int_equal(t->links[2].node, off);
    assert_int_equal(t->links[2].creator, off + 1);
    assert_int_equal(t->links[2].kind, 9);
    /* the same nodes, by what they are */
    assert_int_equal(t->nodes[t->links[1].node].code, t->nodes[t->links[2].creator].code);
    assert_true(t->meta.links_dropped == 7);
    assert_int_equal(pf_trace_validate(t, &err), 0);
    size_t len;
    unsigned char *raw = raw_of(t, &len);
    pf_trace *u = pf_trace_read_mem(raw, len, &err);
    if (u == NULL)
        fail_msg("%s", err.msg);
    assert_int_equal(u->nlinks, 3);
    assert_true(u->meta.links_dropped == 7);
    pf_trace_free(u);
    pf_free(raw);
    pf_trace_free(t);
    for (int i = 0; i < 3; i++)
        pf_trace_free(parts[i]);
    assert_int_equal(pf_alloc_live_blocks(), live);
}

/* RSS records follow their process into the output: the index moves, the sample
 * times (relative to the process's start) do not. */
static void test_merge_keeps_rss_with_its_process(void **state)
{
    (void)state;
    long live = pf_alloc_live_blocks();
    pf_trace *parts[3] = { part_root(), part_child(), part_plain() };
    pf_rss_sample smp[] = { { 0, 100 }, { 20, 300 }, { 40, 200 } };
    assert_int_equal(pf_trace_add_rss(parts[1], 1, 301, 200, smp, 3), 0);
    pf_error err;
    pf_trace *t = pf_trace_merge(parts, 3, &err);
    if (t == NULL)
        fail_msg("%s", err.msg);
    assert_int_equal(t->nrss, 1);
    uint32_t p = t->rss[0].process;
    assert_true(p < t->nprocesses);
    assert_true(t->processes[p].pid == 201);
    const pf_rss *r = pf_trace_process_rss(t, p);
    assert_non_null(r);
    assert_true(r->peak_bytes == 301 && r->final_bytes == 200);
    assert_int_equal(r->nsamples, 3);
    for (uint32_t k = 0; k < 3; k++)
        assert_true(r->samples[k].time_ns == smp[k].time_ns && r->samples[k].bytes == smp[k].bytes);
    size_t len;
    unsigned char *raw = raw_of(t, &len);
    pf_trace *u = pf_trace_read_mem(raw, len, &err);
    if (u == NULL)
        fail_msg("%s", err.msg);
    assert_int_equal(u->nrss, 1);
    assert_int_equal(u->rss[0].process, p);
    pf_trace_free(u);
    pf_free(raw);
    pf_trace_free(t);
    for (int i = 0; i < 3; i++)
        pf_trace_free(parts[i]);
    assert_int_equal(pf_alloc_live_blocks(), live);
}

/* One part: the same trace, plus its process record when it had none. */
static void test_merge_one_part(void **state)
{
    (void)state;
    pf_error err;
    pf_trace *root = part_root();
    pf_trace *t = pf_trace_merge(&root, 1, &err);
    if (t == NULL)
        fail_msg("%s", err.msg);
    assert_int_equal(pf_trace_validate(t, &err), 0);
    assert_int_equal(t->nprocesses, 1);
    assert_int_equal(t->processes[0].nthreads, 2);
    assert_true(t->processes[0].start_ns == 0);
    /* Dropping that record gives back the part byte for byte, with the record's
     * command as a new last string (the part's were distinct: the ids stay). */
    t->nprocesses = 0;
    uint32_t nstr = pf_strtab_count(root->strings);
    assert_int_equal(S(root, "python3 main.py"), nstr);
    size_t a, b;
    unsigned char *ra = raw_of(root, &a), *rb = raw_of(t, &b);
    assert_int_equal(a, b);
    assert_memory_equal(ra, rb, a);
    pf_free(ra);
    pf_free(rb);
    pf_trace_free(t);
    pf_trace_free(root);

    /* A part with process records keeps exactly those. */
    pf_trace *child = part_child();
    t = pf_trace_merge(&child, 1, &err);
    if (t == NULL)
        fail_msg("%s", err.msg);
    ra = raw_of(child, &a);
    rb = raw_of(t, &b);
    assert_int_equal(a, b);
    assert_memory_equal(ra, rb, a);
    pf_free(ra);
    pf_free(rb);
    pf_trace_free(t);
    pf_trace_free(child);
}

/* A part with two codes of one text (two lambdas on one line: two code objects) keeps
 * them apart, so recursion stays judged per code object; across parts, the k-th code
 * of a text meets the other part's k-th. */
static void test_merge_keeps_codes_of_one_text_apart_within_a_part(void **state)
{
    (void)state;
    pf_trace *parts[2];
    for (int k = 0; k < 2; k++) {
        pf_trace *t = pf_trace_new();
        assert_non_null(t);
        t->meta.pid = (uint64_t)(100 + k);
        uint32_t file = S(t, "prog.py"), lam = S(t, "<lambda>");
        pf_code c = { file, lam, lam, 40, PF_CODE_PYTHON };
        assert_int_equal(pf_trace_add_code(t, &c), 0);
        assert_int_equal(pf_trace_add_code(t, &c), 1);
        pf_thread th = { 1, S(t, "MainThread") };
        assert_int_equal(pf_trace_add_thread(t, &th), 0);
        pf_node ping = { PF_NONE, 0, 0, 0, 1, 10, 5 }, pong = { 0, 0, 1, 40, 1, 5, 5 };
        assert_int_equal(pf_trace_add_node(t, &ping), 0);
        assert_int_equal(pf_trace_add_node(t, &pong), 1);
        parts[k] = t;
    }
    pf_error err;
    pf_trace *t = pf_trace_merge(parts, 2, &err);
    if (t == NULL)
        fail_msg("%s", err.msg);
    assert_int_equal(t->ncodes, 2);
    assert_int_not_equal(t->nodes[0].code, t->nodes[1].code);
    assert_int_equal(t->nodes[2].code, t->nodes[0].code);
    assert_int_equal(t->nodes[3].code, t->nodes[1].code);
    pf_trace_free(t);
    pf_trace_free(parts[0]);
    pf_trace_free(parts[1]);
}

static void test_merge_rejects_bad_arguments(void **state)
{
    (void)state;
    long live = pf_alloc_live_blocks();
    pf_error err;
    pf_error_clear(&err);
    assert_null(pf_trace_merge(NULL, 1, &err));
    assert_int_equal(err.code, PF_EUSAGE);
    pf_trace *parts[2] = { part_root(), NULL };
    assert_null(pf_trace_merge(parts, 0, &err));
    assert_int_equal(err.code, PF_EUSAGE);
    assert_null(pf_trace_merge(parts, 2, &err));
    assert_int_equal(err.code, PF_EUSAGE);
    assert_non_null(strstr(err.msg, "part 1 is NULL"));
    parts[1] = part_plain();
    parts[1]->nodes[1].code = 99;
    assert_null(pf_trace_merge(parts, 2, &err));
    assert_int_equal(err.code, PF_EUSAGE);
    assert_non_null(strstr(err.msg, "part 1 is invalid: node 1: code 99 out of range"));
    assert_null(pf_trace_merge(parts, 2, NULL));       /* err is optional */
    pf_trace_free(parts[0]);
    pf_trace_free(parts[1]);
    assert_int_equal(pf_alloc_live_blocks(), live);
}

/* The Nth allocation fails, N = 0, 1, 2, ... until the merge succeeds: each failure
 * is PF_ENOMEM and leaks nothing (a success despite an injected failure is
 * pf_trace_shrink keeping a bigger block). */
static void test_merge_survives_allocation_failures(void **state)
{
    (void)state;
    pf_trace *parts[3] = { part_root(), part_child(), part_plain() };
    long live = pf_alloc_live_blocks();
    long n;
    for (n = 0;; n++) {
        pf_error err;
        pf_error_clear(&err);
        pf_alloc_fail_after(n);
        pf_trace *t = pf_trace_merge(parts, 3, &err);
        long injected = pf_alloc_injected_failures();
        pf_alloc_fail_after(-1);
        if (t != NULL) {
            check_three(t);
            pf_trace_free(t);
            if (pf_alloc_live_blocks() != live)
                fail_msg("failing allocation %ld: %ld blocks leaked", n,
                         pf_alloc_live_blocks() - live);
            if (injected == 0)
                break;
            continue;
        }
        if (err.code != PF_ENOMEM)
            fail_msg("failing allocation %ld: %s: %s", n, pf_error_name(err.code), err.msg);
        if (pf_alloc_live_blocks() != live)
            fail_msg("failing allocation %ld: %ld blocks leaked", n,
                     pf_alloc_live_blocks() - live);
        assert_true(n < 10000);
    }
    assert_true(n > 20);         /* it did allocate, and every step was tried */
    for (int i = 0; i < 3; i++)
        pf_trace_free(parts[i]);
}

/* Parts big enough that the indexes grow past their first size: many codes, most
 * shared, lines that mostly add up; the result is checked against counts. */
static pf_trace *big_part(uint32_t seed, uint32_t nnodes)
{
    pf_trace *t = pf_trace_new();
    assert_non_null(t);
    t->meta.pid = seed;
    t->meta.start_unix_ns = ROOT_START + seed;
    t->meta.modes = PF_MODE_CALLS | PF_MODE_LINES;
    char buf[64];
    /* 3000 codes: 2000 common to every part, 1000 of its own */
    for (uint32_t i = 0; i < 3000; i++) {
        if (i < 2000)
            snprintf(buf, sizeof buf, "/src/common_%u.py", i);
        else
            snprintf(buf, sizeof buf, "/src/part%u_%u.py", seed, i);
        uint32_t f = S(t, buf);
        pf_code c = { f, S(t, "run"), S(t, "run"), i % 50, PF_CODE_PYTHON };
        assert_int_equal(pf_trace_add_code(t, &c), i);
    }
    pf_thread th = { seed, S(t, "MainThread") };
    assert_int_equal(pf_trace_add_thread(t, &th), 0);
    for (uint32_t i = 0; i < nnodes; i++) {
        pf_node n = { i == 0 ? PF_NONE : (i % 7 ? i - 1 : i / 2), 0, (i * 13 + seed) % 3000,
                      i % 100, 1, 10, 5 };
        assert_int_equal(pf_trace_add_node(t, &n), i);
    }
    for (uint32_t i = 0; i < 4000; i++) {
        pf_line l = { i % 3000, i / 3000 + 1, 1, 2, 1, { 0 } };
        assert_int_equal(pf_trace_add_line(t, &l), i);
    }
    return t;
}

static void test_merge_big_parts(void **state)
{
    (void)state;
    pf_trace *parts[4];
    for (uint32_t k = 0; k < 4; k++)
        parts[k] = big_part(k + 1, 20000);
    pf_error err;
    pf_trace *t = pf_trace_merge(parts, 4, &err);
    if (t == NULL)
        fail_msg("%s", err.msg);
    assert_int_equal(pf_trace_validate(t, &err), 0);
    assert_int_equal(t->ncodes, 2000 + 4 * 1000);
    assert_int_equal(t->nnodes, 4 * 20000);
    assert_int_equal(t->nthreads, 4);
    assert_int_equal(t->nprocesses, 4);
    /* lines: (code, line) pairs of the common codes add up across the parts */
    uint64_t hits = 0;
    for (uint32_t i = 0; i < t->nlines; i++)
        hits += t->lines[i].hits;
    assert_true(hits == 4 * 4000);
    /* each part: 3000 line keys on line 1, 1000 on line 2; codes 0..1999 are common,
     * so 2000 + 4 * 1000 keys on line 1 and 1000 common keys on line 2 */
    assert_int_equal(t->nlines, 2000 + 4 * 1000 + 1000);
    for (uint32_t k = 0; k < 4; k++) {
        assert_true(t->processes[k].pid == k + 1);
        assert_true(t->processes[k].start_ns == (int64_t)k);
        assert_int_equal(t->processes[k].first_thread, k);
        for (uint32_t i = 0; i < 20000; i += 997) {
            const pf_node *a = &parts[k]->nodes[i], *b = &t->nodes[k * 20000 + i];
            const pf_code *ca = &parts[k]->codes[a->code], *cb = &t->codes[b->code];
            assert_string_equal(pf_trace_str(parts[k], ca->file), pf_trace_str(t, cb->file));
            assert_int_equal(ca->first_line, cb->first_line);
            assert_int_equal(b->parent, a->parent == PF_NONE ? PF_NONE : a->parent + k * 20000);
        }
    }
    pf_trace_free(t);
    for (uint32_t k = 0; k < 4; k++)
        pf_trace_free(parts[k]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_merge_three_parts),
        cmocka_unit_test(test_merge_keeps_links_with_their_nodes),
        cmocka_unit_test(test_merge_keeps_rss_with_its_process),
        cmocka_unit_test(test_merge_one_part),
        cmocka_unit_test(test_merge_keeps_codes_of_one_text_apart_within_a_part),
        cmocka_unit_test(test_merge_rejects_bad_arguments),
        cmocka_unit_test(test_merge_survives_allocation_failures),
        cmocka_unit_test(test_merge_big_parts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
