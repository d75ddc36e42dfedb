/* test_diff.c: the comparison model of `pyflame-c diff` (formats/diff.h) and the line
 * alignment under it (formats/textdiff.h), on small hand-made traces and stacks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "convert/diffout.h"
#include "formats/alloc.h"
#include "formats/diff.h"
#include "formats/input.h"
#include "formats/stacktree.h"
#include "formats/textdiff.h"
#include "formats/trace.h"

static pf_stacktree *stacks(const char *text);

/* ---- a tiny trace builder ---- */

static pf_trace *trace_new(const char *clock, const char *python, uint32_t modes)
{
    pf_trace *t = pf_trace_new();
    assert_non_null(t);
    t->meta.modes = modes;
    pf_meta_set_str(&t->meta.clock, clock);
    pf_meta_set_str(&t->meta.python_version, python);
    t->meta.duration_ns = 1000000000;
    pf_thread th = { 1, pf_strtab_intern_cstr(t->strings, "MainThread") };
    pf_trace_add_thread(t, &th);
    return t;
}

static uint32_t code(pf_trace *t, const char *file, const char *qual, uint32_t line)
{
    pf_code c;
    memset(&c, 0, sizeof c);
    c.file = pf_strtab_intern_cstr(t->strings, file);
    c.name = pf_strtab_intern_cstr(t->strings, qual);
    c.qualname = c.name;
    c.first_line = line;
    return pf_trace_add_code(t, &c);
}

static uint32_t node(pf_trace *t, uint32_t parent, uint32_t code_i, uint64_t calls,
                     uint64_t total, uint64_t self)
{
    pf_node n;
    memset(&n, 0, sizeof n);
    n.parent = parent;
    n.code = code_i;
    n.calls = calls;
    n.total_ns = total;
    n.self_ns = self;
    return pf_trace_add_node(t, &n);
}

static void line(pf_trace *t, uint32_t code_i, uint32_t ln, uint64_t hits, uint64_t alloc)
{
    pf_line l;
    memset(&l, 0, sizeof l);
    l.code = code_i;
    l.line = ln;
    l.hits = hits;
    l.total_ns = hits * 10;
    l.self_ns = hits * 10;
    l.mem.alloc_bytes = alloc;
    l.mem.alloc_count = alloc ? 1 : 0;
    pf_trace_add_line(t, &l);
}

static void source(pf_trace *t, const char *file, const char *text)
{
    pf_trace_add_source(t, pf_strtab_intern_cstr(t->strings, file), text, strlen(text));
}

static const pf_diff_func *find(const pf_diff *d, const char *name)
{
    for (uint32_t i = 0; i < d->nfuncs; i++)
        if (strcmp(pf_diff_str(d, d->funcs[i].name, NULL), name) == 0)
            return &d->funcs[i];
    return NULL;
}

static pf_diff *compare(pf_trace *b, pf_trace *n, int force, pf_error *err)
{
    pf_diff_opts o;
    pf_diff_opts_init(&o);
    o.force = force;
    pf_diff *d = pf_diff_new(&o);
    assert_non_null(d);
    if (pf_diff_add_trace(d, PF_DIFF_BASE, b, "base.gz", err) < 0 ||
        pf_diff_add_trace(d, PF_DIFF_NEW, n, "new.gz", err) < 0 || pf_diff_finish(d, err) < 0) {
        pf_diff_free(d);
        return NULL;
    }
    return d;
}

/* main -> work (calls per run), main -> helper */
static pf_trace *prog(uint64_t work_calls, uint32_t work_line, int with_helper, int with_other)
{
    pf_trace *t = trace_new("CLOCK_MONOTONIC", "3.11.7", PF_MODE_CALLS);
    uint32_t m = code(t, "/src/app.py", "main", 1);
    uint32_t w = code(t, "/src/app.py", "work", work_line);
    uint32_t root = node(t, PF_NONE, m, 1, 1000, 100);
    node(t, root, w, work_calls, 800, 800);
    if (with_helper)
        node(t, root, code(t, "/src/app.py", "helper", 40), 3, 100, 100);
    if (with_other)
        node(t, root, code(t, "/src/app.py", "other", 50), 2, 100, 100);
    t->meta.total_calls = 1 + work_calls + (with_helper ? 3 : 0) + (with_other ? 2 : 0);
    return t;
}

static void test_diff_calls_doubled_and_moved_function(void **state)
{
    (void)state;
    pf_error err;
    /* work moved from line 10 to line 25 and its calls doubled */
    pf_diff *d = compare(prog(5, 10, 1, 0), prog(10, 25, 1, 0), 0, &err);
    assert_non_null(d);
    const pf_diff_func *w = find(d, "work");
    assert_non_null(w);
    assert_int_equal(w->status, PF_DIFF_BOTH);
    assert_int_equal(w->line[0], 10);
    assert_int_equal(w->line[1], 25);
    assert_true(w->v[0][PF_DM_CALLS] == 5 && w->v[1][PF_DM_CALLS] == 10);
    assert_true(pf_diff_ratio(w->v[0][PF_DM_CALLS], w->v[1][PF_DM_CALLS]) == 1.0);
    assert_true(d->has[PF_DM_CALLS] && d->has[PF_DM_TIME] && !d->has[PF_DM_ALLOC_BYTES]);
    assert_true(d->total[0][PF_DT_CALLS] == 9 && d->total[1][PF_DT_CALLS] == 14);
    /* the stack tree matched the moved frame: nothing vanished */
    assert_non_null(d->stacks);
    assert_int_equal(d->vanished_node, PF_NONE);
    pf_diff_free(d);
}

static void test_diff_added_and_vanished_functions(void **state)
{
    (void)state;
    pf_error err;
    pf_diff *d = compare(prog(5, 10, 1, 0), prog(5, 10, 0, 1), 0, &err);
    assert_non_null(d);
    assert_int_equal(find(d, "helper")->status, PF_DIFF_VANISHED);
    assert_int_equal(find(d, "other")->status, PF_DIFF_ADDED);
    assert_int_equal(find(d, "work")->status, PF_DIFF_BOTH);
    /* the vanished stack is reachable under its own frame */
    assert_int_not_equal(d->vanished_node, PF_NONE);
    size_t len;
    const char *nm = pf_stacktree_name(d->stacks, d->vanished_node, &len);
    assert_string_equal(nm, PF_DIFF_VANISHED_FRAME);
    assert_true(pf_stacktree_total2(d->stacks, d->vanished_node) > 0);
    pf_diff_free(d);
}

static void test_diff_refuses_other_clock_mode_or_python(void **state)
{
    (void)state;
    pf_error err;
    pf_trace *b = prog(5, 10, 1, 0), *n = prog(5, 10, 1, 0);
    pf_meta_set_str(&n->meta.clock, PF_CLOCK_CPU_NAME);
    assert_null(compare(b, n, 0, &err));
    assert_int_equal(err.code, PF_EMISMATCH);
    assert_non_null(strstr(err.msg, "clocks differ"));
    assert_non_null(strstr(err.msg, "--force"));

    b = prog(5, 10, 1, 0);
    n = prog(5, 10, 1, 0);
    n->meta.modes |= PF_MODE_MEMORY;
    assert_null(compare(b, n, 0, &err));
    assert_int_equal(err.code, PF_EMISMATCH);
    assert_non_null(strstr(err.msg, "modes differ"));

    b = prog(5, 10, 1, 0);
    n = prog(5, 10, 1, 0);
    pf_meta_set_str(&n->meta.python_version, "3.12.1");
    assert_null(compare(b, n, 0, &err));
    assert_int_equal(err.code, PF_EMISMATCH);
    assert_non_null(strstr(err.msg, "Python versions differ"));

    /* --force compares and says what differed */
    b = prog(5, 10, 1, 0);
    n = prog(5, 10, 1, 0);
    pf_meta_set_str(&n->meta.python_version, "3.12.1");
    pf_diff *d = compare(b, n, 1, &err);
    assert_non_null(d);
    assert_non_null(strstr(d->forced, "3.12.1"));
    pf_diff_free(d);

    /* a patch level only warns */
    b = prog(5, 10, 1, 0);
    n = prog(5, 10, 1, 0);
    pf_meta_set_str(&n->meta.python_version, "3.11.9");
    d = compare(b, n, 0, &err);
    assert_non_null(d);
    assert_string_equal(d->forced, "");
    assert_non_null(strstr(d->warning, "3.11.9"));
    pf_diff_free(d);
}

static void test_diff_median_of_several_runs(void **state)
{
    (void)state;
    pf_error err;
    pf_diff *d = pf_diff_new(NULL);
    uint64_t base_calls[3] = { 5, 7, 100 }, new_calls[2] = { 10, 20 };
    for (int i = 0; i < 3; i++)
        assert_int_equal(pf_diff_add_trace(d, PF_DIFF_BASE, prog(base_calls[i], 10, 1, 0), "b", &err), 0);
    for (int i = 0; i < 2; i++)
        assert_int_equal(pf_diff_add_trace(d, PF_DIFF_NEW, prog(new_calls[i], 10, 1, 0), "n", &err), 0);
    assert_int_equal(pf_diff_finish(d, &err), 0);
    const pf_diff_func *w = find(d, "work");
    assert_true(w->v[0][PF_DM_CALLS] == 7);        /* median of 5, 7, 100 */
    assert_true(w->v[1][PF_DM_CALLS] == 15);       /* of 10 and 20 */
    assert_int_equal(d->nruns[0], 3);
    pf_diff_free(d);
}

static const char SRC_A[] =
    "import x\n"                       /* 1 */
    "\n"                               /* 2 */
    "def f():\n"                       /* 3 */
    "    a = []\n"                     /* 4 */
    "    for i in range(10):\n"        /* 5 */
    "        a.append(i)\n"            /* 6 */
    "    return a\n";                  /* 7 */
static const char SRC_B[] =
    "import x\n"                       /* 1 */
    "\n"                               /* 2 */
    "def g():\n"                       /* 3 */
    "    pass\n"                       /* 4 */
    "\n"                               /* 5 */
    "def f():\n"                       /* 6 */
    "    a = []\n"                     /* 7 */
    "    # a comment\n"                /* 8 */
    "    for i in range(10):\n"        /* 9 */
    "        a.append(str(i) * 100)\n" /* 10: edited */
    "    return a\n";                  /* 11 */

static pf_trace *lines_prog(int after)
{
    pf_trace *t = trace_new("CLOCK_MONOTONIC", "3.11.7", PF_MODE_CALLS | PF_MODE_LINES | PF_MODE_MEMORY);
    uint32_t m = code(t, "/src/m.py", "<module>", 1);
    uint32_t f = code(t, "/src/m.py", "f", after ? 6 : 3);
    uint32_t r = node(t, PF_NONE, m, 1, 100, 10);
    node(t, r, f, 1, 90, 90);
    source(t, "/src/m.py", after ? SRC_B : SRC_A);
    uint32_t o = after ? 3 : 0;
    line(t, f, 4 + o + (after ? 0 : 0), 1, 56);
    line(t, f, after ? 9 : 5, 11, 0);
    line(t, f, after ? 10 : 6, 10, after ? 10000 : 100);
    line(t, f, after ? 11 : 7, 1, 0);
    return t;
}

static void test_diff_lines_follow_a_moved_and_edited_function(void **state)
{
    (void)state;
    pf_error err;
    pf_diff *d = compare(lines_prog(0), lines_prog(1), 0, &err);
    assert_non_null(d);
    assert_true(d->has_sources);
    const pf_diff_func *f = find(d, "f");
    assert_non_null(f);
    assert_int_equal(f->status, PF_DIFF_BOTH);
    int saw_edit = 0, saw_loop = 0, saw_comment = 0;
    for (uint32_t i = f->first_line_row; i < f->first_line_row + f->nline_rows; i++) {
        const pf_diff_line *l = &d->lines[i];
        if (l->line[0] == 6) {          /* a.append: edited, 100 -> 10000 bytes */
            assert_int_equal(l->line[1], 10);
            assert_int_equal(l->kind, PF_TD_CHANGED);
            assert_true(l->v[0][PF_DM_ALLOC_BYTES] == 100 && l->v[1][PF_DM_ALLOC_BYTES] == 10000);
            saw_edit = 1;
        }
        if (l->line[0] == 5) {          /* the loop: same text, moved */
            assert_int_equal(l->line[1], 9);
            assert_int_equal(l->kind, PF_TD_EQUAL);
            assert_true(l->v[0][PF_DM_CALLS] == 11 && l->v[1][PF_DM_CALLS] == 11);
            saw_loop = 1;
        }
        if (l->line[1] == 8) {
            assert_int_equal(l->line[0], 0);
            assert_int_equal(l->kind, PF_TD_INSERTED);
            saw_comment = 1;
        }
    }
    assert_true(saw_edit && saw_loop && saw_comment);
    const char *text;
    size_t len;
    uint32_t first;
    uint32_t fi = (uint32_t)(f - d->funcs);
    assert_int_equal(pf_diff_func_source(d, fi, PF_DIFF_NEW, &text, &len, &first), 0);
    assert_int_equal(first, 6);
    assert_true(len > 10 && memcmp(text, "def f():", 8) == 0);
    assert_non_null(memmem(text, len, "return a", 8));
    pf_diff_free(d);
}

/* SRC_A below `shift` comment lines: f moved down by shift, nothing else changed;
 * its loop line is hit `loop` times. */
static pf_trace *shifted_prog(uint32_t shift, uint64_t loop)
{
    pf_trace *t = trace_new("CLOCK_MONOTONIC", "3.11.7", PF_MODE_CALLS | PF_MODE_LINES);
    uint32_t m = code(t, "/src/m.py", "<module>", 1);
    uint32_t f = code(t, "/src/m.py", "f", 3 + shift);
    uint32_t r = node(t, PF_NONE, m, 1, 100, 10);
    node(t, r, f, 1, 90, 90);
    char text[512] = "";
    for (uint32_t i = 0; i < shift; i++)
        strcat(text, "# moved\n");
    strcat(text, SRC_A);
    source(t, "/src/m.py", text);
    line(t, f, 4 + shift, 1, 0);
    line(t, f, 5 + shift, loop, 0);
    line(t, f, 6 + shift, loop - 1, 0);
    line(t, f, 7 + shift, 1, 0);
    return t;
}

static void test_diff_runs_of_one_side_match_moved_functions(void **state)
{
    (void)state;
    pf_error err;
    /* two BASE runs from checkouts where work() starts on other lines */
    pf_diff *d = pf_diff_new(NULL);
    assert_int_equal(pf_diff_add_trace(d, PF_DIFF_BASE, prog(5, 10, 1, 0), "b1", &err), 0);
    assert_int_equal(pf_diff_add_trace(d, PF_DIFF_BASE, prog(7, 12, 1, 0), "b2", &err), 0);
    assert_int_equal(pf_diff_add_trace(d, PF_DIFF_NEW, prog(10, 25, 1, 0), "n", &err), 0);
    assert_int_equal(pf_diff_finish(d, &err), 0);
    uint32_t works = 0;
    for (uint32_t i = 0; i < d->nfuncs; i++)
        works += strcmp(pf_diff_str(d, d->funcs[i].name, NULL), "work") == 0;
    assert_int_equal(works, 1);                    /* one function, not two */
    const pf_diff_func *w = find(d, "work");
    assert_int_equal(w->status, PF_DIFF_BOTH);
    assert_int_equal(w->line[0], 10);              /* the first run's line */
    assert_true(w->v[0][PF_DM_CALLS] == 6);        /* median of 5 and 7 */
    /* its frames are one frame too: nothing of work vanished */
    assert_int_equal(d->vanished_node, PF_NONE);
    pf_diff_free(d);

    /* lines of a moved function keep their offset from its first line */
    d = pf_diff_new(NULL);
    assert_int_equal(pf_diff_add_trace(d, PF_DIFF_BASE, shifted_prog(0, 11), "b1", &err), 0);
    assert_int_equal(pf_diff_add_trace(d, PF_DIFF_BASE, shifted_prog(3, 21), "b2", &err), 0);
    assert_int_equal(pf_diff_add_trace(d, PF_DIFF_BASE, shifted_prog(0, 31), "b3", &err), 0);
    assert_int_equal(pf_diff_add_trace(d, PF_DIFF_NEW, shifted_prog(0, 11), "n", &err), 0);
    assert_int_equal(pf_diff_finish(d, &err), 0);
    const pf_diff_func *f = find(d, "f");
    assert_int_equal(f->status, PF_DIFF_BOTH);
    int saw_loop = 0;
    for (uint32_t i = f->first_line_row; i < f->first_line_row + f->nline_rows; i++) {
        const pf_diff_line *l = &d->lines[i];
        assert_true(l->line[0] >= 3 && l->line[0] <= 7);
        if (l->line[0] == 5) {
            assert_true(l->v[0][PF_DM_CALLS] == 21);     /* median of 11, 21, 31 */
            saw_loop = 1;
        }
    }
    assert_true(saw_loop);
    pf_diff_free(d);

    /* collapsed runs too: the frames of a moved function are one frame */
    d = pf_diff_new(NULL);
    assert_int_equal(pf_diff_add_stacks(d, PF_DIFF_BASE, stacks(
        "main (app.py:1);work (app.py:10) 40\n"), "b1", &err), 0);
    assert_int_equal(pf_diff_add_stacks(d, PF_DIFF_BASE, stacks(
        "main (app.py:1);work (app.py:12) 60\n"), "b2", &err), 0);
    assert_int_equal(pf_diff_add_stacks(d, PF_DIFF_NEW, stacks(
        "main (app.py:1);work (app.py:14) 50\n"), "n", &err), 0);
    assert_int_equal(pf_diff_finish(d, &err), 0);
    w = find(d, "work");
    assert_int_equal(w->status, PF_DIFF_BOTH);
    assert_true(w->v[0][PF_DM_SELF_SAMPLES] == 50);  /* median of 40 and 60 */
    assert_int_equal(d->vanished_node, PF_NONE);
    pf_diff_free(d);
}

static void test_diff_renamed_file_is_listed_and_matched(void **state)
{
    (void)state;
    pf_error err;
    pf_trace *b = trace_new("CLOCK_MONOTONIC", "3.11.7", PF_MODE_CALLS);
    pf_trace *n = trace_new("CLOCK_MONOTONIC", "3.11.7", PF_MODE_CALLS);
    pf_trace *both[2] = { b, n };
    for (int s = 0; s < 2; s++) {
        pf_trace *t = both[s];
        uint32_t m = code(t, "/src/main.py", "main", 1);
        const char *f = s ? "/src/lib/util.py" : "/src/helpers.py";
        uint32_t r = node(t, PF_NONE, m, 1, 100, 10);
        node(t, r, code(t, f, "parse", 3), 2, 40, 40);
        node(t, r, code(t, f, "emit", 9), 2, 40, 40);
    }
    pf_diff *d = compare(b, n, 0, &err);
    assert_non_null(d);
    assert_int_equal(d->nrenamed, 1);
    assert_string_equal(pf_diff_str(d, d->files[0].path[0], NULL), "/src/helpers.py");
    assert_string_equal(pf_diff_str(d, d->files[0].path[1], NULL), "/src/lib/util.py");
    assert_int_equal(d->files[0].nfuncs, 2);
    assert_int_equal(find(d, "parse")->status, PF_DIFF_BOTH);
    pf_diff_free(d);
}

static pf_stacktree *stacks(const char *text)
{
    pf_error err;
    pf_stacktree *t = pf_stacktree_from_collapsed(text, strlen(text), NULL, NULL, &err);
    assert_non_null(t);
    return t;
}

static void test_diff_collapsed_frames_match_across_lines(void **state)
{
    (void)state;
    pf_error err;
    pf_diff *d = pf_diff_new(NULL);
    /* py-spy style: the line in a frame name moves; austin style too */
    assert_int_equal(pf_diff_add_stacks(d, PF_DIFF_BASE, stacks(
        "main (app.py:10);work (app.py:20) 50\n"
        "main (app.py:10);gone (app.py:30) 5\n"
        "a.py:top:1;a.py:leaf:7 10\n"), "b.folded", &err), 0);
    assert_int_equal(pf_diff_add_stacks(d, PF_DIFF_NEW, stacks(
        "main (app.py:12);work (app.py:24) 100\n"
        "main (app.py:12);fresh (app.py:40) 7\n"
        "a.py:top:1;a.py:leaf:9 10\n"), "n.folded", &err), 0);
    assert_int_equal(pf_diff_finish(d, &err), 0);
    const pf_diff_func *w = find(d, "work");
    assert_non_null(w);
    assert_int_equal(w->status, PF_DIFF_BOTH);
    assert_true(w->v[0][PF_DM_SELF_SAMPLES] == 50 && w->v[1][PF_DM_SELF_SAMPLES] == 100);
    assert_int_equal(find(d, "leaf")->status, PF_DIFF_BOTH);
    assert_int_equal(find(d, "gone")->status, PF_DIFF_VANISHED);
    assert_int_equal(find(d, "fresh")->status, PF_DIFF_ADDED);
    assert_true(d->total[0][PF_DT_SAMPLES] == 65 && d->total[1][PF_DT_SAMPLES] == 117);
    /* NEW's names are kept, the vanished stack is under its own frame */
    assert_int_not_equal(d->vanished_node, PF_NONE);
    assert_true(pf_stacktree_total2(d->stacks, d->vanished_node) == 5);
    pf_diff_free(d);
}

static int add_both(pf_diff *d, const char *text, pf_error *err)
{
    pf_input *in = pf_input_open_mem(text, strlen(text), err);
    assert_non_null(in);
    int rc = pf_diff_add_stacks_input(d, PF_DIFF_BOTH_SIDES, in, 0, NULL, "both.folded", err);
    pf_input_free(in);
    return rc;
}

static void test_diff_one_file_of_two_columns_is_both_sides(void **state)
{
    (void)state;
    pf_error err;
    pf_diff *d = pf_diff_new(NULL);
    /* difffolded.pl's output: a stack whose frame line moved is two lines, one count 0 */
    assert_int_equal(add_both(d,
        "main (app.py:1);work (app.py:10) 40 0\n"
        "main (app.py:1);work (app.py:14) 0 50\n"
        "main (app.py:1);gone (app.py:30) 5 0\n"
        "main (app.py:1);fresh (app.py:40) 0 7\n", &err), 0);
    assert_int_equal(pf_diff_finish(d, &err), 0);
    assert_int_equal(d->nruns[0], 1);
    assert_int_equal(d->nruns[1], 1);
    const pf_diff_func *w = find(d, "work");
    assert_int_equal(w->status, PF_DIFF_BOTH);
    assert_true(w->v[0][PF_DM_SELF_SAMPLES] == 40 && w->v[1][PF_DM_SELF_SAMPLES] == 50);
    assert_int_equal(find(d, "gone")->status, PF_DIFF_VANISHED);
    assert_int_equal(find(d, "fresh")->status, PF_DIFF_ADDED);
    assert_true(d->total[0][PF_DT_SAMPLES] == 45 && d->total[1][PF_DT_SAMPLES] == 57);
    assert_true(pf_stacktree_total2(d->stacks, d->vanished_node) == 5);
    pf_diff_free(d);
    /* every line needs both counts */
    d = pf_diff_new(NULL);
    assert_int_equal(add_both(d, "a;b 1 2\na;c 3\n", &err), -1);
    assert_int_equal(err.code, PF_EPARSE);
    assert_non_null(strstr(err.msg, "line 2 has one count"));
    pf_diff_free(d);
    /* and a side's file one count */
    d = pf_diff_new(NULL);
    pf_input *in = pf_input_open_mem("a;b 1 2\n", 8, &err);
    assert_int_equal(pf_diff_add_stacks_input(d, PF_DIFF_BASE, in, 0, NULL, "b", &err), -1);
    assert_int_equal(err.code, PF_EPARSE);
    assert_non_null(strstr(err.msg, "line 1 has two counts"));
    pf_input_free(in);
    pf_diff_free(d);
}

static void test_diff_vanished_stacks_move_under_their_frame(void **state)
{
    (void)state;
    pf_error err;
    pf_diff *d = pf_diff_new(NULL);
    /* an input has a root frame of the section's name already: ours takes another */
    assert_int_equal(pf_diff_add_stacks(d, PF_DIFF_BASE, stacks(
        "a;b;c 5\na;b 2\na 1\n" PF_DIFF_VANISHED_FRAME ";x 1\n"), "b", &err), 0);
    assert_int_equal(pf_diff_add_stacks(d, PF_DIFF_NEW, stacks(
        "a 3\n" PF_DIFF_VANISHED_FRAME ";x 4\n"), "n", &err), 0);
    assert_int_equal(pf_diff_finish(d, &err), 0);
    const pf_stacktree *t = d->stacks;
    assert_int_not_equal(d->vanished_node, PF_NONE);
    assert_string_equal(pf_stacktree_name(t, d->vanished_node, NULL), PF_DIFF_VANISHED_FRAME " (2)");
    assert_true(pf_stacktree_total2(t, d->vanished_node) == 7);
    /* a;b stays in place as a leaf of BASE's 7, so a's BASE total is still 8; its
     * subtree is under the section, at its path: section;a;b;c */
    uint32_t a = PF_NONE, b = PF_NONE;
    for (uint32_t i = 1; i < t->nnodes; i++)
        if (t->nodes[i].parent == 0 && strcmp(pf_stacktree_name(t, i, NULL), "a") == 0)
            a = i;
    assert_int_not_equal(a, PF_NONE);
    assert_true(t->nodes[a].total == 8 && pf_stacktree_total2(t, a) == 3);
    for (uint32_t c = t->nodes[a].first_child; c != PF_NONE; c = t->nodes[c].next_sibling)
        b = c;
    assert_int_not_equal(b, PF_NONE);
    assert_int_equal(t->nodes[b].first_child, PF_NONE);
    assert_true(t->nodes[b].total == 7 && pf_stacktree_total2(t, b) == 0);
    uint32_t sa = t->nodes[d->vanished_node].first_child;
    assert_string_equal(pf_stacktree_name(t, sa, NULL), "a");
    uint32_t sb = t->nodes[sa].first_child, sc = t->nodes[sb].first_child;
    assert_true(t->nodes[sb].self == 2 && pf_stacktree_self2(t, sb) == 2);
    assert_true(t->nodes[sc].self == 5 && pf_stacktree_total2(t, sc) == 5);
    /* the functions count what vanished once */
    const pf_diff_func *fb = find(d, "b"), *fc = find(d, "c"), *fa = find(d, "a");
    assert_int_equal(fb->status, PF_DIFF_VANISHED);
    assert_true(fb->v[0][PF_DM_SELF_SAMPLES] == 2 && fb->v[0][PF_DM_SAMPLES] == 7);
    assert_true(fc->v[0][PF_DM_SELF_SAMPLES] == 5 && fc->v[0][PF_DM_SAMPLES] == 5);
    assert_true(fa->v[0][PF_DM_SAMPLES] == 8 && fa->v[1][PF_DM_SAMPLES] == 3);
    assert_true(fa->v[0][PF_DM_SELF_SAMPLES] == 1 && fa->v[1][PF_DM_SELF_SAMPLES] == 3);
    pf_diff_free(d);
}

static void test_diff_refuses_mixed_kinds(void **state)
{
    (void)state;
    pf_error err;
    pf_diff *d = pf_diff_new(NULL);
    assert_int_equal(pf_diff_add_stacks(d, PF_DIFF_BASE, stacks("a;b 1\n"), "b.folded", &err), 0);
    assert_int_equal(pf_diff_add_trace(d, PF_DIFF_NEW, prog(1, 1, 0, 0), "n.gz", &err), -1);
    assert_int_equal(err.code, PF_EMISMATCH);
    assert_non_null(strstr(err.msg, "one kind"));
    pf_diff_free(d);
}

static void test_diff_normalize_scales_base(void **state)
{
    (void)state;
    pf_error err;
    pf_diff_opts o;
    pf_diff_opts_init(&o);
    o.normalize = 1;
    pf_diff *d = pf_diff_new(&o);
    assert_int_equal(pf_diff_add_stacks(d, PF_DIFF_BASE, stacks("a;b 10\na;c 10\n"), "b", &err), 0);
    assert_int_equal(pf_diff_add_stacks(d, PF_DIFF_NEW, stacks("a;b 20\na;c 60\n"), "n", &err), 0);
    assert_int_equal(pf_diff_finish(d, &err), 0);
    assert_true(d->norm_factor == 4);
    assert_true(d->stacks->nodes[0].total == pf_stacktree_total2(d->stacks, 0));
    pf_diff_free(d);
}

/* ---- textdiff ---- */

static void align(const char *a, const char *b, pf_td_row **rows, uint32_t *n)
{
    pf_error err;
    pf_td_line *la, *lb;
    uint32_t na, nb;
    assert_int_equal(pf_td_split(a, strlen(a), &la, &na, &err), 0);
    assert_int_equal(pf_td_split(b, strlen(b), &lb, &nb, &err), 0);
    assert_int_equal(pf_td_align(la, na, lb, nb, rows, n, &err), 0);
    /* every line once, in order */
    uint32_t ea = 0, eb = 0;
    for (uint32_t i = 0; i < *n; i++) {
        if ((*rows)[i].a != PF_TD_NONE)
            assert_int_equal((*rows)[i].a, ea++);
        if ((*rows)[i].b != PF_TD_NONE)
            assert_int_equal((*rows)[i].b, eb++);
    }
    assert_int_equal(ea, na);
    assert_int_equal(eb, nb);
    pf_free(la);
    pf_free(lb);
}

static void test_textdiff_aligns_insertions_and_edits(void **state)
{
    (void)state;
    pf_td_row *r;
    uint32_t n;
    align("a\nb\nc\nd\n", "a\nX\nb\nc2\nd  \n", &r, &n);
    /* a=a, +X, b=b, c~c2, d=d (trailing blanks ignored) */
    assert_int_equal(n, 5);
    assert_int_equal(r[1].kind, PF_TD_INSERTED);
    assert_int_equal(r[3].kind, PF_TD_CHANGED);
    assert_int_equal(r[3].a, 2);
    assert_int_equal(r[3].b, 3);
    assert_int_equal(r[4].kind, PF_TD_EQUAL);
    pf_free(r);
    align("", "x\n", &r, &n);
    assert_int_equal(n, 1);
    assert_int_equal(r[0].kind, PF_TD_INSERTED);
    pf_free(r);
}

static void test_textdiff_is_bounded_on_hostile_input(void **state)
{
    (void)state;
    /* 200,000 lines of few distinct texts on each side: no anchors anywhere, too big
     * for the exact table: it must finish fast and still account for every line */
    size_t n = 200000;
    char *a = malloc(n * 2 + 1), *b = malloc(n * 2 + 1);
    for (size_t i = 0; i < n; i++) {
        a[2 * i] = (char)('a' + i % 3);
        a[2 * i + 1] = '\n';
        b[2 * i] = (char)('a' + (i / 7) % 3);
        b[2 * i + 1] = '\n';
    }
    a[2 * n] = b[2 * n] = '\0';
    pf_td_row *r;
    uint32_t rows;
    align(a, b, &r, &rows);
    assert_true(rows >= n && rows <= 2 * n);
    pf_free(r);
    free(a);
    free(b);
}

static void test_diff_no_leaks_when_allocations_fail(void **state)
{
    (void)state;
    /* the Nth allocation fails, for every N until the comparison succeeds: each
     * failure is a clean error and leaks nothing */
    for (long k = 0;; k++) {
        long live = pf_alloc_live_blocks();
        pf_trace *b = lines_prog(0), *n = lines_prog(1);
        pf_error err;
        pf_error_clear(&err);
        pf_alloc_fail_after(k);
        pf_diff *d = pf_diff_new(NULL);
        int ok = 0;
        if (d == NULL) {
            pf_trace_free(b);
            pf_trace_free(n);
        } else if (pf_diff_add_trace(d, PF_DIFF_BASE, b, "b", &err) < 0) {
            pf_trace_free(n);
        } else {
            ok = pf_diff_add_trace(d, PF_DIFF_NEW, n, "n", &err) == 0 && pf_diff_finish(d, &err) == 0;
        }
        pf_alloc_fail_after(-1);
        if (d != NULL && !ok)
            assert_int_not_equal(err.code, PF_OK);
        pf_diff_free(d);
        if (pf_alloc_live_blocks() != live) fprintf(stderr, "leak at k=%ld ok=%d err=%s\n", k, ok, err.msg);
        assert_int_equal(pf_alloc_live_blocks(), live);
        if (ok)
            break;
        if (k > 20000)
            fail_msg("never succeeded");
    }
}


/* Two large traces (120,000 nodes each, 6,000 functions with long hostile names) whose
 * calls all differ: the Markdown stays under GitHub's limit whatever --limit says, says
 * what it left out, and escapes every name. */
static pf_trace *big(int variant)
{
    pf_trace *t = trace_new("CLOCK_MONOTONIC", "3.11.7", PF_MODE_CALLS);
    char name[400];
    uint32_t nc = 6000;
    for (uint32_t i = 0; i < nc; i++) {
        snprintf(name, sizeof name, "f%u_<script>alert(1)</script>|`x`_%0300u", i, i);
        code(t, "/src/big.py", name, 10 + i * 3);
    }
    uint32_t parent = PF_NONE;
    for (uint32_t i = 0; i < 120000; i++) {
        uint32_t c = (i * 2654435761u) % nc;
        uint64_t calls = 1 + (uint64_t)((i + (uint32_t)variant * 7) % 13);
        uint32_t n = node(t, i % 40 == 0 ? PF_NONE : parent, c, calls, 1000, 500);
        parent = n;
    }
    return t;
}

static void test_diff_markdown_stays_under_64k(void **state)
{
    (void)state;
    pf_error err;
    pf_diff_opts o;
    pf_diff_opts_init(&o);
    o.no_stacks = 1;
    pf_diff *d = pf_diff_new(&o);
    assert_int_equal(pf_diff_add_trace(d, PF_DIFF_BASE, big(0), "b", &err), 0);
    assert_int_equal(pf_diff_add_trace(d, PF_DIFF_NEW, big(1), "n", &err), 0);
    assert_int_equal(pf_diff_finish(d, &err), 0);
    pf_diffout_opts mo;
    pf_diffout_opts_init(&mo);
    mo.limit = 100000;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_int_equal(pf_diff_write_markdown(d, &mo, f, &err), 0);
    fclose(f);
    assert_true(len <= PF_MD_LIMIT);
    assert_true(len > PF_MD_LIMIT / 2);
    assert_non_null(strstr(buf, "more rows not shown"));
    assert_null(strstr(buf, "<script>"));
    assert_non_null(strstr(buf, "&lt;script&gt;"));
    assert_non_null(strstr(buf, "\\|\\`x\\`"));
    assert_true(strstr(buf, "<sub>pyflame-c diff</sub>") != NULL);
    free(buf);
    pf_diff_free(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_diff_calls_doubled_and_moved_function),
        cmocka_unit_test(test_diff_added_and_vanished_functions),
        cmocka_unit_test(test_diff_refuses_other_clock_mode_or_python),
        cmocka_unit_test(test_diff_median_of_several_runs),
        cmocka_unit_test(test_diff_lines_follow_a_moved_and_edited_function),
        cmocka_unit_test(test_diff_runs_of_one_side_match_moved_functions),
        cmocka_unit_test(test_diff_renamed_file_is_listed_and_matched),
        cmocka_unit_test(test_diff_collapsed_frames_match_across_lines),
        cmocka_unit_test(test_diff_one_file_of_two_columns_is_both_sides),
        cmocka_unit_test(test_diff_vanished_stacks_move_under_their_frame),
        cmocka_unit_test(test_diff_refuses_mixed_kinds),
        cmocka_unit_test(test_diff_normalize_scales_base),
        cmocka_unit_test(test_textdiff_aligns_insertions_and_edits),
        cmocka_unit_test(test_textdiff_is_bounded_on_hostile_input),
        cmocka_unit_test(test_diff_no_leaks_when_allocations_fail),
        cmocka_unit_test(test_diff_markdown_stays_under_64k),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
