/* test_asyncview.c: the async view (formats/asyncview.c) on hand-built traces shaped
 * like the collector's: tasks created by asyncio.run, by gather inside a task, thread
 * pool work submitted by to_thread; inclusive times moved exactly, pool bookkeeping left
 * in the worker, hostile links (cycles, unknown kinds, creators without an anchor),
 * allocation failures.  And the promise behind links: a trace whose linked siblings
 * are kept apart gives, without --async, the very bytes of the same trace with those
 * siblings merged and no links, in every format (collapsed, pstats, text, svg, html). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "convert/convert.h"
#include "formats/alloc.h"
#include "formats/asyncview.h"
#include "formats/framename.h"
#include "formats/stacktree.h"
#include "formats/trace.h"
#include "render/html.h"
#include "render/svg.h"

#define LIB "/usr/lib/python3.12/"

static uint32_t S(pf_trace *t, const char *s)
{
    uint32_t id = pf_strtab_intern_cstr(t->strings, s);
    assert_int_not_equal(id, PF_STR_NONE);
    return id;
}

static uint32_t code(pf_trace *t, const char *file, const char *qual, uint32_t line)
{
    const char *dot = strrchr(qual, '.');
    pf_code c = { S(t, file), S(t, dot && file[0] ? dot + 1 : qual), S(t, qual), line,
                  file[0] ? PF_CODE_PYTHON : PF_CODE_NATIVE };
    uint32_t i = pf_trace_add_code(t, &c);
    assert_int_not_equal(i, PF_NONE);
    return i;
}

static uint32_t node(pf_trace *t, uint32_t parent, uint32_t thread, uint32_t c, uint32_t line,
                     uint64_t calls, uint64_t total, uint64_t self)
{
    pf_node n = { parent, thread, c, line, calls, total, self };
    uint32_t i = pf_trace_add_node(t, &n);
    assert_int_not_equal(i, PF_NONE);
    return i;
}

static void link(pf_trace *t, uint32_t n, uint32_t creator, uint32_t kind)
{
    pf_link l = { n, creator, kind };
    assert_int_not_equal(pf_trace_add_link(t, &l), PF_NONE);
}

/* Node indices of the program below, by what they are. */
enum { MOD, RUN, CT1, RUC, RUN_ONCE, HRUN, CTX, MAIN, GATHER, EF, CT2, TO_THREAD, RIE, SUBMIT,
       WI_INIT, LEN, WORKER, SPIN, TRUN, WORKER_LOOP, WI_RUN, SET_RESULT, BLOCKING, NNODES };

/* asyncio.run(main()) in app.py: main gathers two workers (line 12) and awaits
 * to_thread(blocking) (line 13); the pool's thread runs blocking.  Times add up as the
 * collector's do. */
static pf_trace *program(void)
{
    pf_trace *t = pf_trace_new();
    assert_non_null(t);
    t->meta.modes = PF_MODE_CALLS;
    t->meta.duration_ns = 2000;
    assert_int_equal(pf_meta_set_str(&t->meta.cwd, "/home/u"), 0);
    assert_int_equal(pf_meta_push_str(&t->meta.argv, &t->meta.argc, "app.py"), 0);
    pf_thread th0 = { 1, S(t, "MainThread") }, th1 = { 2, S(t, "asyncio_0") };
    pf_trace_add_thread(t, &th0);
    pf_trace_add_thread(t, &th1);
    const char *app = "/home/u/app.py";
    uint32_t c_mod = code(t, app, "<module>", 1), c_main = code(t, app, "main", 10);
    uint32_t c_worker = code(t, app, "worker", 20), c_spin = code(t, app, "spin", 30);
    uint32_t c_block = code(t, app, "blocking", 40);
    uint32_t c_run = code(t, LIB "asyncio/runners.py", "run", 160);
    uint32_t c_ruc = code(t, LIB "asyncio/base_events.py", "BaseEventLoop.run_until_complete", 648);
    uint32_t c_once = code(t, LIB "asyncio/base_events.py", "BaseEventLoop._run_once", 1894);
    uint32_t c_hrun = code(t, LIB "asyncio/events.py", "Handle._run", 82);
    uint32_t c_ctx = code(t, "", "<method 'run' of '_contextvars.Context' objects>", 0);
    uint32_t c_ct = code(t, LIB "asyncio/base_events.py", "BaseEventLoop.create_task", 449);
    uint32_t c_gather = code(t, LIB "asyncio/tasks.py", "gather", 720);
    uint32_t c_ef = code(t, LIB "asyncio/tasks.py", "ensure_future", 670);
    uint32_t c_tt = code(t, LIB "asyncio/threads.py", "to_thread", 12);
    uint32_t c_rie = code(t, LIB "asyncio/base_events.py", "BaseEventLoop.run_in_executor", 860);
    uint32_t c_submit = code(t, LIB "concurrent/futures/thread.py", "ThreadPoolExecutor.submit", 165);
    uint32_t c_init = code(t, LIB "concurrent/futures/thread.py", "_WorkItem.__init__", 47);
    uint32_t c_len = code(t, "", "<built-in method builtins.len>", 0);
    uint32_t c_trun = code(t, LIB "threading.py", "Thread.run", 990);
    uint32_t c_wloop = code(t, LIB "concurrent/futures/thread.py", "_worker", 69);
    uint32_t c_wrun = code(t, LIB "concurrent/futures/thread.py", "_WorkItem.run", 53);
    uint32_t c_setres = code(t, LIB "concurrent/futures/_base.py", "Future.set_result", 537);

    node(t, PF_NONE, 0, c_mod, 0, 1, 1000, 10);          /* MOD */
    node(t, MOD, 0, c_run, 50, 1, 990, 5);               /* RUN: asyncio.run on line 50 */
    node(t, RUN, 0, c_ct, 190, 1, 5, 5);                 /* CT1: main's task */
    node(t, RUN, 0, c_ruc, 200, 1, 980, 5);
    node(t, RUC, 0, c_once, 700, 10, 975, 75);
    node(t, RUN_ONCE, 0, c_hrun, 1950, 10, 900, 10);
    node(t, HRUN, 0, c_ctx, 88, 10, 890, 10);             /* CTX */
    node(t, CTX, 0, c_main, 0, 3, 300, 20);               /* MAIN: linked to CT1 */
    node(t, MAIN, 0, c_gather, 12, 1, 30, 5);
    node(t, GATHER, 0, c_ef, 750, 2, 25, 5);
    node(t, EF, 0, c_ct, 690, 2, 20, 20);                 /* CT2: the workers' tasks */
    node(t, MAIN, 0, c_tt, 13, 1, 50, 10);
    node(t, TO_THREAD, 0, c_rie, 25, 1, 40, 10);
    node(t, RIE, 0, c_submit, 880, 1, 30, 10);
    node(t, SUBMIT, 0, c_init, 170, 1, 20, 20);           /* WI_INIT: blocking's item */
    node(t, MAIN, 0, c_len, 14, 1, 200, 200);
    node(t, CTX, 0, c_worker, 0, 8, 580, 80);             /* WORKER: linked to CT2 */
    node(t, WORKER, 0, c_spin, 22, 4, 500, 500);
    node(t, PF_NONE, 1, c_trun, 0, 1, 700, 0);            /* the pool's thread */
    node(t, TRUN, 1, c_wloop, 995, 1, 700, 100);
    node(t, WORKER_LOOP, 1, c_wrun, 90, 1, 600, 10);
    node(t, WI_RUN, 1, c_setres, 60, 1, 40, 40);          /* linked, but pool bookkeeping */
    node(t, WI_RUN, 1, c_block, 58, 1, 550, 550);         /* linked to WI_INIT */
    link(t, MAIN, CT1, PF_LINK_TASK);
    link(t, WORKER, CT2, PF_LINK_TASK);
    link(t, SET_RESULT, WI_INIT, PF_LINK_EXECUTOR);
    link(t, BLOCKING, WI_INIT, PF_LINK_EXECUTOR);
    assert_int_equal(t->nnodes, NNODES);
    assert_int_equal(pf_trace_validate(t, NULL), 0);
    return t;
}

/* "name;name;..." of node i from its root (names without file and line). */
static void path_of(const pf_trace *t, uint32_t i, char *out, size_t cap)
{
    uint32_t chain[64];
    int n = 0;
    for (uint32_t c = i; c != PF_NONE && n < 64; c = t->nodes[c].parent)
        chain[n++] = c;
    size_t len = 0;
    out[0] = '\0';
    for (int k = n - 1; k >= 0; k--) {
        char name[256];
        pf_frame_name(t, t->nodes[chain[k]].code, 0, 1, name, sizeof name);
        char *cut = strstr(name, " (");
        if (cut)
            *cut = '\0';
        len += (size_t)snprintf(out + len, cap - len, "%s%s", k == n - 1 ? "" : ";", name);
    }
}

#define ANY UINT32_MAX

/* The node whose path is p (and call line line, unless ANY); fails the test if there
 * is not exactly one. */
static const pf_node *at_line(const pf_trace *t, const char *p, uint32_t line)
{
    const pf_node *found = NULL;
    char buf[2048];
    for (uint32_t i = 0; i < t->nnodes; i++) {
        path_of(t, i, buf, sizeof buf);
        if (strcmp(buf, p) == 0 && (line == ANY || t->nodes[i].call_line == line)) {
            if (found != NULL)
                fail_msg("two nodes at %s", p);
            found = &t->nodes[i];
        }
    }
    if (found == NULL)
        fail_msg("no node at %s", p);
    return found;
}

static const pf_node *at(const pf_trace *t, const char *p)
{
    return at_line(t, p, ANY);
}

static void assert_node(const pf_trace *t, const char *p, uint32_t thread, uint32_t line,
                        uint64_t calls, uint64_t total, uint64_t self)
{
    const pf_node *n = at_line(t, p, line);
    if (n->thread != thread || n->call_line != line || n->calls != calls
        || n->total_ns != total || n->self_ns != self)
        fail_msg("%s: thread %u line %u calls %llu total %llu self %llu", p, n->thread,
                 n->call_line, (unsigned long long)n->calls, (unsigned long long)n->total_ns,
                 (unsigned long long)n->self_ns);
}

#define LOOP "<module>;run;BaseEventLoop.run_until_complete;BaseEventLoop._run_once;Handle._run"
#define CTXRUN LOOP ";<method 'run' of '_contextvars.Context' objects>"

static void test_asyncview_moves_tasks_and_pool_work_under_their_creators(void **state)
{
    (void)state;
    pf_trace *t = program();
    pf_error err;
    assert_int_equal(pf_trace_async_view(t, &err), 0);
    assert_int_equal(t->view, PF_VIEW_ASYNC);
    assert_int_equal(t->nlinks, 0);
    assert_int_equal(pf_trace_validate(t, &err), 0);
    assert_int_equal(t->nnodes, NNODES + 3);          /* two <task>, one <thread pool> */
    /* the event loop keeps its own time: main (300) and the workers (580) left */
    assert_node(t, "<module>;run", 0, 50, 1, 990 - 880, 5);
    assert_node(t, LOOP, 0, 1950, 10, 900 - 880, 10);
    assert_node(t, CTXRUN, 0, 88, 10, 10, 10);
    /* main's task at the asyncio.run line of <module>, with the pool's work added */
    assert_node(t, "<module>", 0, 0, 1, 1000 + 550, 10);
    assert_node(t, "<module>;<task>", 0, 50, 1, 1430, 0);
    assert_node(t, "<module>;<task>;main", 0, 0, 3, 300 + 580 + 550, 20);
    assert_node(t, "<module>;<task>;main;gather;ensure_future;BaseEventLoop.create_task", 0, 690,
                2, 20, 20);
    assert_node(t, "<module>;<task>;main;<built-in method builtins.len>", 0, 14, 1, 200, 200);
    /* the workers at main's gather line: two tasks made there */
    assert_node(t, "<module>;<task>;main;<task>", 0, 12, 2, 580, 0);
    assert_node(t, "<module>;<task>;main;<task>;worker", 0, 0, 8, 580, 80);
    assert_node(t, "<module>;<task>;main;<task>;worker;spin", 0, 22, 4, 500, 500);
    /* blocking at the to_thread line, now in the main thread */
    assert_node(t, "<module>;<task>;main;<thread pool>", 0, 13, 1, 550, 0);
    assert_node(t, "<module>;<task>;main;<thread pool>;blocking", 0, 58, 1, 550, 550);
    /* the pool's thread keeps its bookkeeping */
    assert_node(t, "Thread.run", 1, 0, 1, 150, 0);
    assert_node(t, "Thread.run;_worker;_WorkItem.run", 1, 90, 1, 50, 10);
    assert_node(t, "Thread.run;_worker;_WorkItem.run;Future.set_result", 1, 60, 1, 40, 40);
    /* pre-order, and every self time where it was */
    uint64_t self = 0;
    for (uint32_t i = 0; i < t->nnodes; i++) {
        assert_true(t->nodes[i].parent == PF_NONE || t->nodes[i].parent < i);
        self += t->nodes[i].self_ns;
    }
    assert_true(self == 10 + 5 + 5 + 5 + 75 + 10 + 10 + 20 + 5 + 5 + 20 + 10 + 10 + 10 + 20 + 200
                        + 80 + 500 + 0 + 100 + 10 + 40 + 550);
    assert_string_equal(pf_trace_view_words(t), "async: each asyncio task under the code that "
                        "created it (<task>), thread pool work under the code that submitted "
                        "it (<thread pool>)");
    pf_trace_free(t);
}

/* Memory counters and samples follow their nodes; line records stay. */
static void test_asyncview_carries_memory_and_samples(void **state)
{
    (void)state;
    pf_trace *t = program();
    pf_mem m = { 100, 2, 50, 30, 20 };
    *pf_trace_node_mem_at(t, SPIN) = m;
    pf_sample smp = { 0, SPIN, 5, 1 };
    pf_trace_add_sample(t, &smp);
    pf_line line = { 0, 3, 1, 10, 10, { 0 } };
    pf_trace_add_line(t, &line);
    pf_error err;
    assert_int_equal(pf_trace_async_view(t, &err), 0);
    const pf_node *spin = at(t, "<module>;<task>;main;<task>;worker;spin");
    uint32_t i = (uint32_t)(spin - t->nodes);
    assert_int_equal(pf_trace_node_mem(t, i)->alloc_bytes, 100);
    assert_int_equal(pf_trace_node_mem(t, i)->exit_bytes, 20);
    assert_int_equal(t->samples[0].node, i);
    assert_int_equal(t->nlines, 1);
    for (uint32_t k = 0; k < t->nnodes; k++)
        if (k != i)
            assert_int_equal(pf_trace_node_mem(t, k)->alloc_bytes, 0);
    assert_int_equal(pf_trace_validate(t, &err), 0);
    pf_trace_free(t);
}

/* A trace without links only changes its view: the same nodes, byte for byte. */
static void test_asyncview_without_links_changes_nothing_else(void **state)
{
    (void)state;
    pf_trace *t = program(), *u = program();
    t->nlinks = u->nlinks = 0;
    pf_error err;
    assert_int_equal(pf_trace_async_view(t, &err), 0);
    assert_int_equal(t->view, PF_VIEW_ASYNC);
    assert_int_equal(t->nnodes, u->nnodes);
    assert_memory_equal(t->nodes, u->nodes, u->nnodes * sizeof(pf_node));
    assert_int_equal(t->ncodes, u->ncodes);
    assert_null(pf_trace_view_words(u));
    pf_trace_free(t);
    pf_trace_free(u);
}

/* Damaged links: a cycle (main linked to a creator inside itself), an unknown kind, a
 * creator with no anchor above it: their nodes stay; the good links still apply. */
static void test_asyncview_ignores_links_that_cannot_apply(void **state)
{
    (void)state;
    pf_trace *t = program();
    uint32_t c_once = t->nodes[RUN_ONCE].code, c_ct = t->nodes[CT1].code;
    uint32_t orphan = node(t, PF_NONE, 1, c_once, 0, 1, 10, 5);   /* machinery at a root */
    uint32_t oct = node(t, orphan, 1, c_ct, 3, 1, 5, 5);
    uint32_t x = node(t, orphan, 1, t->nodes[SPIN].code, 4, 1, 0, 0);
    t->links[0].creator = CT2;                             /* main made at its own gather */
    link(t, LEN, CT2, 7);                                  /* a kind from the future */
    link(t, x, oct, PF_LINK_TASK);                         /* no anchor */
    assert_int_equal(pf_trace_validate(t, NULL), 0);
    pf_error err;
    assert_int_equal(pf_trace_async_view(t, &err), 0);
    assert_int_equal(pf_trace_validate(t, &err), 0);
    assert_node(t, CTXRUN ";main", 0, 0, 3, 300 + 580 + 550, 20);
    assert_node(t, CTXRUN ";main;<task>;worker", 0, 0, 8, 580, 80);
    assert_node(t, CTXRUN ";main;<built-in method builtins.len>", 0, 14, 1, 200, 200);
    assert_node(t, CTXRUN, 0, 88, 10, 890 + 550, 10);
    assert_node(t, "<module>;run", 0, 50, 1, 990 + 550, 5);
    assert_node(t, "BaseEventLoop._run_once;spin", 1, 4, 1, 0, 0);
    pf_trace_free(t);

    /* two tasks each created inside the other: both stay under the loop */
    t = program();
    t->nlinks = 0;
    link(t, MAIN, CT2, PF_LINK_TASK);
    link(t, WORKER, CT2, PF_LINK_TASK);
    link(t, BLOCKING, WI_INIT, PF_LINK_EXECUTOR);          /* below the cycle: applies */
    uint32_t ct3 = node(t, WORKER, 0, c_ct, 23, 1, 0, 0);
    t->links[0].creator = ct3;                             /* main made by worker, and back */
    t->nodes[WORKER].total_ns = 580;
    assert_int_equal(pf_trace_validate(t, NULL), 0);
    assert_int_equal(pf_trace_async_view(t, &err), 0);
    assert_int_equal(pf_trace_validate(t, &err), 0);
    assert_node(t, CTXRUN ";main", 0, 0, 3, 300 + 550, 20);
    assert_node(t, CTXRUN ";worker", 0, 0, 8, 580, 80);
    assert_node(t, CTXRUN ";main;<thread pool>;blocking", 0, 58, 1, 550, 550);
    pf_trace_free(t);
}

/* Every allocation failed in turn: PF_ENOMEM, the tree untouched, nothing leaked. */
static void test_asyncview_out_of_memory_at_every_allocation(void **state)
{
    (void)state;
    pf_trace *want = program();
    for (long n = 0;; n++) {
        long live = pf_alloc_live_blocks();
        pf_trace *t = program();
        pf_error err;
        pf_error_clear(&err);
        pf_alloc_fail_after(n);
        int rc = pf_trace_async_view(t, &err);
        pf_alloc_fail_after(-1);
        if (rc == 0) {
            assert_int_equal(t->view, PF_VIEW_ASYNC);
            pf_trace_free(t);
            assert_int_equal(pf_alloc_live_blocks(), live);
            break;
        }
        assert_int_equal(err.code, PF_ENOMEM);
        assert_int_equal(t->view, PF_VIEW_CALLS);
        assert_int_equal(t->nnodes, want->nnodes);
        assert_memory_equal(t->nodes, want->nodes, want->nnodes * sizeof(pf_node));
        assert_int_equal(t->ncodes, want->ncodes);
        assert_int_equal(t->nlinks, want->nlinks);
        pf_trace_free(t);
        assert_int_equal(pf_alloc_live_blocks(), live);
        assert_true(n < 200);
    }
    pf_trace_free(want);
}

static void test_asyncview_machinery_files(void **state)
{
    (void)state;
    static const struct {
        const char *f;
        int yes;
    } cases[] = {
        { "/usr/lib/python3.11/asyncio/tasks.py", 1 },
        { "/root/.pyenv/versions/3.8.18/lib/python3.8/asyncio/base_events.py", 1 },
        { "/opt/py/lib/python3.14t/concurrent/futures/thread.py", 1 },
        { "C:/Python/Lib/asyncio/runners.py", 1 },
        { "/src/cpython/Lib/concurrent/futures/_base.py", 1 },
        { "/home/u/proj/asyncio/tasks.py", 0 },            /* the program's own package */
        { "/usr/lib/python3/dist-packages/asyncio/x.py", 0 },
        { "/usr/lib/python3.11/site-packages/asyncio/x.py", 0 },
        { "/usr/lib/python3.11/asyncio/sub/x.py", 0 },
        { "/usr/lib/python3.11/concurrent/x.py", 0 },
        { "/usr/lib/python3.11/futures/x.py", 0 },
        { "asyncio/tasks.py", 0 },
        { "/usr/lib/python3.11/asyncio/", 0 },
        { "", 0 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        if (pf_async_machinery_file(cases[i].f, strlen(cases[i].f)) != cases[i].yes)
            fail_msg("%s: want %d", cases[i].f, cases[i].yes);
}

/* ---- the default outputs do not see links ---- */

/* A copy of t with every group of siblings of the same (code, call line) merged into
 * one node (recursively), and no links: the tree one merged node per context gives. */
static pf_trace *merged_copy(const pf_trace *t)
{
    pf_error err;
    /* meta and tables through a one-part merge, then the nodes rebuilt */
    pf_trace *const parts[1] = { (pf_trace *)t };
    pf_trace *c = pf_trace_merge(parts, 1, &err);
    assert_non_null(c);
    c->nprocesses = 0;                                  /* the merge made one from meta */
    c->nlinks = 0;
    uint32_t *map = malloc((t->nnodes + 1) * sizeof *map);
    pf_node *nodes = malloc((t->nnodes + 1) * sizeof *nodes);
    uint32_t n = 0;
    for (uint32_t i = 0; i < c->nnodes; i++) {
        pf_node x = c->nodes[i];
        uint32_t p = x.parent == PF_NONE ? PF_NONE : map[x.parent];
        uint32_t j;
        for (j = 0; j < n; j++)
            if (nodes[j].parent == p && nodes[j].thread == x.thread && nodes[j].code == x.code
                && nodes[j].call_line == x.call_line)
                break;
        if (j == n) {
            x.parent = p;
            nodes[n++] = x;
        } else {
            nodes[j].calls += x.calls;
            nodes[j].total_ns += x.total_ns;
            nodes[j].self_ns += x.self_ns;
        }
        map[i] = j;
    }
    /* children of merged nodes may come after later siblings: re-sort into pre-order */
    uint32_t *order = malloc((n + 1) * sizeof *order), *pos = malloc((n + 1) * sizeof *pos);
    uint32_t no = 0;
    for (uint32_t r = 0; r < n; r++) {
        if (nodes[r].parent != PF_NONE)
            continue;
        uint32_t stack[256], sp = 0;
        stack[sp++] = r;
        while (sp) {
            uint32_t x = stack[--sp];
            order[no++] = x;
            for (uint32_t k = n; k-- > 0;)
                if (nodes[k].parent == x)
                    stack[sp++] = k;
        }
    }
    assert_int_equal(no, n);
    c->nnodes = 0;
    for (uint32_t k = 0; k < n; k++) {
        pf_node x = nodes[order[k]];
        pos[order[k]] = k;
        x.parent = x.parent == PF_NONE ? PF_NONE : pos[x.parent];
        assert_int_not_equal(pf_trace_add_node(c, &x), PF_NONE);
    }
    assert_int_equal(pf_trace_validate(c, &err), 0);
    free(map);
    free(nodes);
    free(order);
    free(pos);
    return c;
}

typedef struct outputs {
    char *buf[8];
    size_t len[8];
} outputs;

static void convert_to(const pf_trace *t, enum pf_convert_format f, int metric, int gran,
                       char **buf, size_t *len)
{
    pf_convert_opts o;
    pf_convert_opts_init(&o);
    o.format = f;
    o.frame.metric = (enum pf_metric)metric;
    o.frame.granularity = (enum pf_granularity)gran;
    o.text.limit = 0;
    FILE *out = open_memstream(buf, len);
    pf_error err;
    if (pf_convert_write(t, &o, out, &err) < 0)
        fail_msg("convert: %s", err.msg);
    fclose(out);
}

static void all_outputs(const pf_trace *t, outputs *o)
{
    convert_to(t, PF_CONVERT_COLLAPSED, PF_METRIC_SELF_TIME, PF_GRAN_FUNCTION, &o->buf[0], &o->len[0]);
    convert_to(t, PF_CONVERT_COLLAPSED, PF_METRIC_CALLS, PF_GRAN_LINE, &o->buf[1], &o->len[1]);
    convert_to(t, PF_CONVERT_PSTATS, 0, 0, &o->buf[2], &o->len[2]);
    convert_to(t, PF_CONVERT_TEXT, 0, 0, &o->buf[3], &o->len[3]);
    pf_error err;
    pf_stack_opts so;
    pf_stack_opts_init(&so);
    for (int k = 0; k < 2; k++) {                   /* a flame graph, a flame chart */
        so.order = k ? PF_ORDER_CHART : PF_ORDER_NAME;
        pf_stacktree *tree = pf_stacktree_from_trace(t, &so, &err);
        assert_non_null(tree);
        pf_svg_opts sv;
        pf_svg_opts_init(&sv);
        pf_svg_opts_for_metric(&sv, PF_METRIC_SELF_TIME, 0, 0);
        FILE *out = open_memstream(&o->buf[4 + k], &o->len[4 + k]);
        assert_int_equal(pf_svg_write(tree, &sv, out, &err), 0);
        fclose(out);
        pf_stacktree_free(tree);
    }
    pf_html_opts ho;
    pf_html_opts_init(&ho);
    FILE *out = open_memstream(&o->buf[6], &o->len[6]);
    if (pf_html_render(t, &ho, out, &err) < 0)
        fail_msg("html: %s", err.msg);
    fclose(out);
    o->buf[7] = NULL;
    o->len[7] = 0;
}

/* program(), with each linked node split the way the collector splits it: one node
 * per creator (a second gather on line 15 made two more workers, whose resumes sit
 * beside the first ones under the loop with the same code and line 0). */
static pf_trace *split_program(void)
{
    pf_trace *t = program();
    uint32_t c_gather = t->nodes[GATHER].code, c_ct = t->nodes[CT1].code;
    uint32_t g2 = node(t, MAIN, 0, c_gather, 15, 1, 9, 3);
    uint32_t ct = node(t, g2, 0, c_ct, 722, 2, 6, 6);
    uint32_t w2 = node(t, CTX, 0, t->nodes[WORKER].code, 0, 6, 333, 33);
    node(t, w2, 0, t->nodes[SPIN].code, 22, 3, 300, 300);
    link(t, w2, ct, PF_LINK_TASK);
    /* keep the sums: main +9, Context.run +333, up the loop */
    t->nodes[MAIN].total_ns += 9;
    uint32_t up[] = { CTX, HRUN, RUN_ONCE, RUC, RUN, MOD };
    for (size_t k = 0; k < sizeof up / sizeof up[0]; k++)
        t->nodes[up[k]].total_ns += 333 + 9;
    assert_int_equal(pf_trace_validate(t, NULL), 0);
    return t;
}

static void test_asyncview_linked_siblings_read_as_one_node(void **state)
{
    (void)state;
    pf_trace *t = split_program();
    pf_trace *m = merged_copy(t);
    assert_true(m->nnodes < t->nnodes);                /* the split workers became one */
    outputs a, b;
    all_outputs(t, &a);
    all_outputs(m, &b);
    static const char *const what[] = { "collapsed", "collapsed calls lines", "pstats", "text",
                                        "svg", "svg flamechart", "html" };
    for (int k = 0; k < 7; k++) {
        if (a.len[k] != b.len[k] || memcmp(a.buf[k], b.buf[k], a.len[k]) != 0)
            fail_msg("%s differs with linked siblings apart", what[k]);
        free(a.buf[k]);
        free(b.buf[k]);
    }
    /* and --async does see them: one <task> per gather line */
    pf_error err;
    assert_int_equal(pf_trace_async_view(t, &err), 0);
    assert_node(t, "<module>;<task>;main;<task>", 0, 12, 2, 580, 0);
    assert_node(t, "<module>;<task>;main;<task>", 0, 15, 2, 333, 0);
    assert_node(t, "<module>;<task>;main", 0, 0, 3, 309 + 580 + 333 + 550, 20);
    assert_node(t, CTXRUN, 0, 88, 10, 10, 10);
    pf_trace_free(t);
    pf_trace_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_asyncview_moves_tasks_and_pool_work_under_their_creators),
        cmocka_unit_test(test_asyncview_carries_memory_and_samples),
        cmocka_unit_test(test_asyncview_without_links_changes_nothing_else),
        cmocka_unit_test(test_asyncview_ignores_links_that_cannot_apply),
        cmocka_unit_test(test_asyncview_out_of_memory_at_every_allocation),
        cmocka_unit_test(test_asyncview_machinery_files),
        cmocka_unit_test(test_asyncview_linked_siblings_read_as_one_node),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
