/* test_trace_sum.c: pf_trace_sum (formats/trace_merge.h), the streaming merge of runs
 * behind `pyflame-c merge`: equal contexts add up, new ones are kept, threads match by
 * name within processes matched by command, the result is in pre-order with each
 * process's threads contiguous; other modes and clocks are refused; allocation
 * failures leak nothing; a round trip through the file format. */
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
#include "formats/trace_merge.h"

static uint32_t S(pf_trace *t, const char *s)
{
    uint32_t id = pf_strtab_intern_cstr(t->strings, s);
    assert_int_not_equal(id, PF_STR_NONE);
    return id;
}

/* One run of "python3 app.py": MainThread main -> f -> len, main -> g; a thread named
 * `worker` running f; memory counters, lines, a source.  `extra` adds a node h under
 * main and a thread of another name; `scale` multiplies every count. */
static pf_trace *run(int extra, uint64_t scale, const char *clock, uint32_t modes)
{
    pf_trace *t = pf_trace_new();
    assert_non_null(t);
    pf_meta *m = &t->meta;
    assert_int_equal(pf_meta_push_str(&m->argv, &m->argc, "app.py"), 0);
    assert_int_equal(pf_meta_set_str(&m->python_version, "3.11.2"), 0);
    assert_int_equal(pf_meta_set_str(&m->clock, clock), 0);
    m->start_unix_ns = 1700000000000000000 + (int64_t)scale;
    m->duration_ns = 1000 * scale;
    m->modes = modes;
    m->pid = 4000 + (uint32_t)scale;
    m->total_calls = 35 * scale;
    m->peak_live_bytes = 100 * scale;
    m->exit_code = extra ? 3 : 0;
    /* strings interned in another order per run, so ids differ */
    if (extra)
        S(t, "padding");
    uint32_t file = S(t, "app.py"), fmain = S(t, "main"), ff = S(t, "f"), fg = S(t, "g");
    uint32_t fh = S(t, "h"), len = S(t, "<built-in method builtins.len>"), empty = S(t, "");
    pf_code codes[] = {
        { file, fmain, fmain, 1, PF_CODE_PYTHON },
        { file, ff, ff, 10, PF_CODE_PYTHON },
        { empty, len, len, 0, PF_CODE_NATIVE },
        { file, fg, fg, 20, PF_CODE_PYTHON },
        { file, fh, fh, 30, PF_CODE_PYTHON },
    };
    for (uint32_t i = 0; i < 5; i++)
        assert_int_equal(pf_trace_add_code(t, &codes[i]), i);
    pf_thread th[] = { { 11 * scale, S(t, "MainThread") }, { 12 * scale, S(t, "worker") },
                       { 13 * scale, S(t, "other") } };
    for (uint32_t i = 0; i < (extra ? 3u : 2u); i++)
        assert_int_equal(pf_trace_add_thread(t, &th[i]), i);
    pf_node nodes[] = {
        { PF_NONE, 0, 0, 0, 1 * scale, 900 * scale, 100 * scale },   /* main */
        { 0, 0, 1, 2, 3 * scale, 700 * scale, 600 * scale },         /* main -> f */
        { 1, 0, 2, 11, 30 * scale, 100 * scale, 100 * scale },       /* main -> f -> len */
        { 0, 0, 3, 3, 1 * scale, 100 * scale, 100 * scale },         /* main -> g */
        { PF_NONE, 1, 1, 0, 2 * scale, 400 * scale, 400 * scale },   /* worker: f */
        { 0, 0, 4, 4, 1 * scale, 5 * scale, 5 * scale },             /* main -> h (extra) */
        { PF_NONE, 2, 4, 0, 1 * scale, 7 * scale, 7 * scale },       /* other: h (extra) */
    };
    for (uint32_t i = 0; i < (extra ? 7u : 5u); i++)
        assert_int_equal(pf_trace_add_node(t, &nodes[i]), i);
    if (modes & PF_MODE_MEMORY)
        *pf_trace_node_mem_at(t, 1) = (pf_mem){ 64 * scale, 2 * scale, 32 * scale, 16 * scale,
                                                8 * scale };
    if (modes & PF_MODE_LINES) {
        pf_line l = { 1, 11, 5 * scale, 500 * scale, 400 * scale, { 0 } };
        assert_int_equal(pf_trace_add_line(t, &l), 0);
        assert_int_not_equal(pf_trace_add_source(t, file, extra ? "B" : "A", 1), PF_NONE);
    }
    assert_int_equal(pf_trace_validate(t, NULL), 0);
    return t;
}

#define ALL (PF_MODE_CALLS | PF_MODE_LINES | PF_MODE_MEMORY)

/* The node of code name `name` under parent (PF_NONE: a root of thread th). */
static uint32_t find(const pf_trace *t, uint32_t parent, uint32_t th, const char *name)
{
    for (uint32_t i = 0; i < t->nnodes; i++)
        if (t->nodes[i].parent == parent && (parent != PF_NONE || t->nodes[i].thread == th) &&
            strcmp(pf_trace_str(t, t->codes[t->nodes[i].code].name), name) == 0)
            return i;
    return PF_NONE;
}

/* Pre-order: every node's subtree is the contiguous range after it. */
static void check_preorder(const pf_trace *t)
{
    assert_int_equal(pf_trace_validate(t, NULL), 0);
    for (uint32_t i = 1; i < t->nnodes; i++) {
        uint32_t p = t->nodes[i].parent;
        if (p == PF_NONE)
            continue;
        /* every node between p and i descends from p */
        for (uint32_t j = p + 1; j < i; j++) {
            uint32_t a = j;
            while (a != PF_NONE && a != p)
                a = t->nodes[a].parent;
            assert_int_equal(a, p);
        }
    }
}

static pf_trace *sum_of(pf_trace **parts, int n)
{
    pf_error err;
    pf_error_clear(&err);
    pf_trace_sum *s = pf_trace_sum_new();
    assert_non_null(s);
    for (int i = 0; i < n; i++)
        if (pf_trace_sum_add(s, parts[i], "x", &err) < 0)
            fail_msg("%s", err.msg);
    assert_int_equal(pf_trace_sum_count(s), n);
    pf_trace *t = pf_trace_sum_detach(s, &err);
    if (t == NULL)
        fail_msg("%s", err.msg);
    pf_trace_sum_free(s);
    return t;
}

static void test_sum_of_equal_runs_adds_counts_and_keeps_the_tree(void **state)
{
    (void)state;
    pf_trace *parts[3] = { run(0, 1, "CLOCK_MONOTONIC", ALL), run(0, 2, "CLOCK_MONOTONIC", ALL),
                           run(0, 3, "CLOCK_MONOTONIC", ALL) };
    pf_trace *t = sum_of(parts, 3);
    check_preorder(t);
    assert_int_equal(t->nnodes, 5);
    assert_int_equal(t->nthreads, 2);
    assert_int_equal(t->ncodes, 5);
    assert_int_equal(t->nprocesses, 0);       /* one program, as collect writes it */
    uint32_t main_ = find(t, PF_NONE, 0, "main"), f = find(t, main_, 0, "f");
    assert_int_not_equal(f, PF_NONE);
    assert_int_equal(t->nodes[main_].calls, 6);
    assert_int_equal(t->nodes[f].calls, 18);
    assert_int_equal(t->nodes[f].total_ns, 700 * 6);
    assert_int_equal(t->nodes[f].self_ns, 600 * 6);
    assert_int_equal(pf_trace_node_mem(t, f)->alloc_bytes, 64 * 6);
    assert_int_equal(pf_trace_node_mem(t, f)->peak_bytes, 16 * 6);
    assert_int_equal(t->nlines, 1);
    assert_int_equal(t->lines[0].hits, 30);
    assert_int_equal(t->nsources, 1);
    assert_int_equal(t->meta.total_calls, 35 * 6);
    assert_int_equal(t->meta.duration_ns, 6000);
    assert_int_equal(t->meta.peak_live_bytes, 300);   /* the highest run's */
    assert_int_equal(t->meta.pid, 4001);              /* the first run's */
    pf_trace_free(t);
    for (int i = 0; i < 3; i++)
        pf_trace_free(parts[i]);
}

static void test_sum_keeps_new_contexts_threads_and_first_source(void **state)
{
    (void)state;
    pf_trace *parts[2] = { run(0, 1, "CLOCK_MONOTONIC", ALL), run(1, 1, "CLOCK_MONOTONIC", ALL) };
    pf_trace *t = sum_of(parts, 2);
    check_preorder(t);
    assert_int_equal(t->nthreads, 3);
    assert_int_equal(t->nnodes, 7);
    uint32_t main_ = find(t, PF_NONE, 0, "main");
    assert_int_not_equal(find(t, main_, 0, "h"), PF_NONE);
    assert_int_equal(t->nodes[find(t, main_, 0, "h")].calls, 1);
    assert_string_equal(t->sources[0].text, "A");
    assert_int_equal(t->meta.exit_code, 3);           /* a run that failed says so */
    pf_trace_free(t);
    for (int i = 0; i < 2; i++)
        pf_trace_free(parts[i]);
}

/* Runs of another program (other argv) still sum into the root process; children
 * match by command without digits (a descriptor differs), then by order. */
static void add_processes(pf_trace *t, const char *child_cmd)
{
    pf_process root = { t->meta.pid, 1, S(t, "python3 app.py"), 0, 2, PF_PROC_EXITED, 0,
                        1000, 35, 100, 0, 0 };
    assert_int_not_equal(pf_trace_add_process(t, &root), PF_NONE);
    if (t->nthreads > 2) {
        pf_process child = { t->meta.pid + 1, t->meta.pid, S(t, child_cmd), 2, 1,
                             PF_PROC_KILLED, 5, 500, 1, 7, PF_EXIT_UNKNOWN, 9 };
        assert_int_not_equal(pf_trace_add_process(t, &child), PF_NONE);
    }
    assert_int_equal(pf_trace_validate(t, NULL), 0);
}

static void test_sum_matches_root_and_child_processes(void **state)
{
    (void)state;
    pf_trace *parts[3] = { run(1, 1, "CLOCK_MONOTONIC", ALL), run(0, 2, "CLOCK_MONOTONIC", ALL),
                           run(1, 3, "CLOCK_MONOTONIC", ALL) };
    pf_free(parts[1]->meta.argv[0]);
    parts[1]->meta.argv[0] = pf_strndup("other.py", 8);
    add_processes(parts[0], "python3 -c spawn(fd=5)");
    add_processes(parts[2], "python3 -c spawn(fd=7)");
    pf_trace *t = sum_of(parts, 3);
    check_preorder(t);
    assert_int_equal(t->nprocesses, 2);
    assert_int_equal(t->processes[0].first_thread, 0);
    assert_int_equal(t->processes[0].nthreads, 2);     /* MainThread, worker */
    assert_int_equal(t->processes[1].first_thread, 2);
    assert_int_equal(t->processes[1].nthreads, 1);     /* the children's "other" */
    assert_string_equal(pf_trace_str(t, t->processes[0].command), "python3 app.py");
    assert_string_equal(pf_trace_str(t, t->processes[1].command), "python3 -c spawn(fd=5)");
    assert_int_equal(t->processes[0].calls, 35 + 70 + 35);
    assert_int_equal(t->processes[1].calls, 2);
    assert_int_equal(t->processes[1].exit_signal, 9);
    assert_int_equal(t->processes[1].peak_live_bytes, 7);
    assert_int_equal(t->nodes[find(t, PF_NONE, 2, "h")].calls, 4);
    pf_trace_free(t);
    for (int i = 0; i < 3; i++)
        pf_trace_free(parts[i]);
}

static void test_sum_refuses_other_modes_and_clocks(void **state)
{
    (void)state;
    pf_trace *a = run(0, 1, "CLOCK_MONOTONIC", ALL);
    pf_trace *b = run(0, 1, "CLOCK_MONOTONIC", PF_MODE_CALLS);
    pf_trace *c = run(0, 1, PF_CLOCK_CPU_NAME, ALL);
    pf_error err;
    pf_error_clear(&err);
    pf_trace_sum *s = pf_trace_sum_new();
    assert_int_equal(pf_trace_sum_add(s, a, "a.gz", &err), 0);
    assert_int_equal(pf_trace_sum_add(s, b, "b.gz", &err), -1);
    assert_int_equal(err.code, PF_EMISMATCH);
    assert_non_null(strstr(err.msg, "modes differ: a.gz recorded calls+lines+memory, b.gz "
                                    "recorded calls"));
    pf_error_clear(&err);
    assert_int_equal(pf_trace_sum_add(s, c, "c.gz", &err), -1);
    assert_int_equal(err.code, PF_EMISMATCH);
    assert_non_null(strstr(err.msg, "clocks differ: a.gz measured wall time, c.gz"));
    pf_trace_sum_free(s);
    /* nothing added: nothing to detach */
    s = pf_trace_sum_new();
    assert_null(pf_trace_sum_detach(s, &err));
    assert_int_equal(err.code, PF_EUSAGE);
    pf_trace_sum_free(s);
    pf_trace_free(a);
    pf_trace_free(b);
    pf_trace_free(c);
}

static void test_sum_round_trips_through_the_file_format(void **state)
{
    (void)state;
    pf_trace *parts[2] = { run(0, 1, "CLOCK_MONOTONIC", ALL), run(1, 2, "CLOCK_MONOTONIC", ALL) };
    pf_trace *t = sum_of(parts, 2);
    unsigned char *buf;
    size_t len;
    pf_error err;
    assert_int_equal(pf_trace_write_mem(t, &buf, &len, &err), 0);
    pf_trace *back = pf_trace_read_mem(buf, len, &err);
    assert_non_null(back);
    assert_int_equal(back->nnodes, t->nnodes);
    for (uint32_t i = 0; i < t->nnodes; i++)
        assert_memory_equal(&back->nodes[i], &t->nodes[i], sizeof t->nodes[i]);
    pf_free(buf);
    pf_trace_free(back);
    pf_trace_free(t);
    for (int i = 0; i < 2; i++)
        pf_trace_free(parts[i]);
}

/* The Nth allocation fails, N = 0, 1, 2, ...: each failure is PF_ENOMEM and leaks
 * nothing, until the whole sum succeeds. */
static void test_sum_survives_allocation_failures(void **state)
{
    (void)state;
    pf_trace *parts[3] = { run(0, 1, "CLOCK_MONOTONIC", ALL), run(1, 2, "CLOCK_MONOTONIC", ALL),
                           run(0, 3, "CLOCK_MONOTONIC", ALL) };
    long live = pf_alloc_live_blocks();
    long n;
    for (n = 0;; n++) {
        pf_error err;
        pf_error_clear(&err);
        pf_alloc_fail_after(n);
        pf_trace *t = NULL;
        pf_trace_sum *s = pf_trace_sum_new();
        int ok = s != NULL;
        for (int i = 0; ok && i < 3; i++)
            ok = pf_trace_sum_add(s, parts[i], "x", &err) == 0;
        if (ok)
            t = pf_trace_sum_detach(s, &err);
        pf_trace_sum_free(s);
        long injected = pf_alloc_injected_failures();
        pf_alloc_fail_after(-1);
        if (t != NULL) {
            check_preorder(t);
            assert_int_equal(t->nnodes, 7);
            pf_trace_free(t);
            if (pf_alloc_live_blocks() != live)
                fail_msg("failing allocation %ld: %ld blocks leaked", n,
                         pf_alloc_live_blocks() - live);
            if (injected == 0)
                break;
            continue;
        }
        if (s != NULL && err.code != PF_ENOMEM)
            fail_msg("failing allocation %ld: %s: %s", n, pf_error_name(err.code), err.msg);
        if (pf_alloc_live_blocks() != live)
            fail_msg("failing allocation %ld: %ld blocks leaked", n,
                     pf_alloc_live_blocks() - live);
        assert_true(n < 10000);
    }
    assert_true(n > 20);
    for (int i = 0; i < 3; i++)
        pf_trace_free(parts[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sum_of_equal_runs_adds_counts_and_keeps_the_tree),
        cmocka_unit_test(test_sum_keeps_new_contexts_threads_and_first_source),
        cmocka_unit_test(test_sum_matches_root_and_child_processes),
        cmocka_unit_test(test_sum_refuses_other_modes_and_clocks),
        cmocka_unit_test(test_sum_round_trips_through_the_file_format),
        cmocka_unit_test(test_sum_survives_allocation_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
