/* test_stacktree.c: the merged stack tree (formats/stacktree.c): building it from collapsed
 * text (buffers and streams) and from synthetic traces, frame naming and path
 * shortening, both granularities, every metric, the deterministic collapsed writer,
 * round trips, the sample files in tests/data/collapsed/, and out-of-memory handling. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/alloc.h"
#include "formats/collapsed_internal.h"
#include "formats/framename.h"
#include "formats/input.h"
#include "formats/stacktree.h"
#include "formats/stacktree_internal.h"

#define DATA "tests/data/collapsed/"

/* ---- helpers ---------------------------------------------------------------------------- */

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    *len = (size_t)n;
    return buf;
}

static long read_stream(void *ctx, char *buf, size_t cap, pf_error *err)
{
    FILE *in = ctx;
    size_t got = fread(buf, 1, cap, in);
    if (got == 0 && ferror(in))
        return pf_error_set(err, PF_EIO, "read error");
    return (long)got;
}

/* The stack tree of a stream (shaped by the defaults), as the loader builds it. */
static pf_stacktree *load_file_(FILE *in, const pf_collapsed_opts *o, pf_error *err, size_t chunk)
{
    pf_stacktree *t = pf_stacktree_new(NULL);
    if (t == NULL) {
        pf_error_set(err, PF_ENOMEM, NULL);
        return NULL;
    }
    if (pf_stacktree_load(t, read_stream, in, chunk, o, err) < 0) {
        pf_stacktree_free(t);
        return NULL;
    }
    return t;
}

static pf_stacktree *load_file(FILE *in, const pf_collapsed_opts *o, pf_error *err)
{
    return load_file_(in, o, err, 0);
}

/* Adds one stack and finishes the tree, so totals and links are current. */
static int add_stack(pf_stacktree *f, const char *s, size_t n, double c, double c2)
{
    pf_error err;
    if (pf_stacktree_add(f, s, n, c, c2, c2 != 0, &err) < 0)
        return -1;
    return pf_stacktree_finish(f, &err);
}

/* The collapsed text of a tree, malloc'd and NUL-terminated. */
static char *collapsed_mode(const pf_stacktree *f, enum pf_counts mode)
{
    FILE *out = tmpfile();
    pf_error err;
    assert_non_null(out);
    if (pf_stacktree_write_collapsed(f, out, mode, &err) != 0)
        fail_msg("write: %s", err.msg);
    long n = ftell(out);
    rewind(out);
    char *s = malloc((size_t)n + 1);
    assert_int_equal(fread(s, 1, (size_t)n, out), (size_t)n);
    s[n] = '\0';
    fclose(out);
    return s;
}

static char *collapsed_of(const pf_stacktree *f) { return collapsed_mode(f, PF_COUNTS_AUTO); }
static char *collapsed_exact(const pf_stacktree *f) { return collapsed_mode(f, PF_COUNTS_EXACT); }

static pf_stacktree *from_text(const char *text)
{
    pf_error err;
    pf_stacktree *f = pf_stacktree_from_collapsed(text, strlen(text), NULL, NULL, &err);
    if (f == NULL)
        fail_msg("from_collapsed: %s", err.msg);
    return f;
}

static const char *name_of(const pf_stacktree *f, uint32_t node)
{
    return pf_strtab_get(f->names, f->nodes[node].name, NULL);
}

/* The child of parent named name, or PF_NONE (walks the sibling list). */
static uint32_t child(const pf_stacktree *f, uint32_t parent, const char *name)
{
    for (uint32_t c = f->nodes[parent].first_child; c != PF_NONE; c = f->nodes[c].next_sibling)
        if (strcmp(name_of(f, c), name) == 0)
            return c;
    return PF_NONE;
}

/* The node at a ';'-separated path from the root, or PF_NONE. */
static uint32_t path(const pf_stacktree *f, const char *p)
{
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", p);
    uint32_t cur = 0;
    char *save = NULL;
    for (char *tok = strtok_r(buf, ";", &save); tok; tok = strtok_r(NULL, ";", &save)) {
        cur = child(f, cur, tok);
        if (cur == PF_NONE)
            return PF_NONE;
    }
    return cur;
}

/* Structural invariants: parent < index, sibling lists hold exactly the nodes with
 * that parent, (parent, name) unique, total = self + children's totals. */
static void check_tree(const pf_stacktree *f)
{
    assert_true(f->nnodes >= 1);
    assert_int_equal(f->nodes[0].parent, PF_NONE);
    assert_string_equal(name_of(f, 0), "all");
    uint32_t *seen = calloc(f->nnodes, sizeof *seen);
    for (uint32_t p = 0; p < f->nnodes; p++) {
        double sum = f->nodes[p].self, sum2 = pf_stacktree_self2(f, p);
        for (uint32_t c = f->nodes[p].first_child; c != PF_NONE; c = f->nodes[c].next_sibling) {
            assert_true(c < f->nnodes);
            assert_int_equal(f->nodes[c].parent, p);
            seen[c]++;
            sum += f->nodes[c].total;
            sum2 += pf_stacktree_total2(f, c);
            for (uint32_t d = f->nodes[c].next_sibling; d != PF_NONE; d = f->nodes[d].next_sibling)
                assert_int_not_equal(f->nodes[c].name, f->nodes[d].name);
        }
        assert_true(fabs(sum - f->nodes[p].total) <= 1e-9 * fabs(sum) + 1e-12);
        assert_true(fabs(sum2 - pf_stacktree_total2(f, p)) <= 1e-9 * fabs(sum2) + 1e-12);
    }
    for (uint32_t i = 1; i < f->nnodes; i++) {
        assert_true(f->nodes[i].parent < i);
        assert_int_equal(seen[i], 1);
    }
    free(seen);
}

/* ---- from collapsed text ------------------------------------------------------------------ */

static void test_flame_merges_stacks_and_sums_counts(void **state)
{
    (void)state;
    pf_stacktree *f = from_text("a;b;c 1\na;b 2\na;b;d 3\na;b;c 4\nx 5\n");
    check_tree(f);
    assert_int_equal(f->nnodes, 6);   /* all a b c d x */
    assert_true(f->nodes[0].total == 15);
    assert_true(f->nodes[path(f, "a")].total == 10);
    assert_true(f->nodes[path(f, "a")].self == 0);
    assert_true(f->nodes[path(f, "a;b")].total == 10);
    assert_true(f->nodes[path(f, "a;b")].self == 2);
    assert_true(f->nodes[path(f, "a;b;c")].self == 5);
    assert_true(f->nodes[path(f, "a;b;d")].total == 3);
    assert_true(f->nodes[path(f, "x")].total == 5);
    assert_false(f->has_count2);
    assert_false(f->from_trace);
    assert_null(f->info);   /* no trace details in trees of collapsed text */
    pf_stacktree_free(f);
}

static void test_flame_same_name_under_different_parents_stays_apart(void **state)
{
    (void)state;
    pf_stacktree *f = from_text("a;f 1\nb;f 2\na;f;f 4\n");
    check_tree(f);
    assert_int_equal(f->nnodes, 6);
    assert_true(f->nodes[path(f, "a;f")].total == 5);
    assert_true(f->nodes[path(f, "b;f")].total == 2);
    assert_true(f->nodes[path(f, "a;f;f")].self == 4);
    pf_stacktree_free(f);
}

static void test_flame_keeps_empty_frames(void **state)
{
    (void)state;
    pf_stacktree *f = from_text(";;a 1\na;;b 2\nc; 3\n");
    check_tree(f);
    uint32_t e = child(f, 0, "");
    assert_int_not_equal(e, PF_NONE);
    assert_int_not_equal(child(f, child(f, e, ""), "a"), PF_NONE);
    assert_int_not_equal(child(f, child(f, path(f, "a"), ""), "b"), PF_NONE);
    assert_true(f->nodes[child(f, path(f, "c"), "")].self == 3);
    char *out = collapsed_of(f);
    assert_string_equal(out, ";;a 1\na;;b 2\nc; 3\n");
    free(out);
    pf_stacktree_free(f);
}

static void test_flame_differential_columns(void **state)
{
    (void)state;
    size_t len;
    char *in = slurp(DATA "diff.folded", &len);
    pf_error err;
    pf_stacktree *f = pf_stacktree_from_collapsed(in, len, NULL, NULL, &err);
    assert_non_null(f);
    check_tree(f);
    assert_true(f->has_count2);
    assert_true(f->nodes[0].total == 60.5);
    assert_true(pf_stacktree_total2(f, 0) == 63);
    assert_true(pf_stacktree_self2(f, path(f, "main;render")) == 40);
    assert_true(f->nodes[path(f, "main;render;layout")].self == 0);
    assert_true(pf_stacktree_self2(f, path(f, "main;render;layout")) == 8);
    pf_stacktree_free(f);
    free(in);
}

static void test_flame_empty_input_is_eempty(void **state)
{
    (void)state;
    const char *cases[] = { "", "\n\n", "# just a comment\n", "  \r\n", "bad line\n" };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        pf_error err;
        pf_error_clear(&err);
        assert_null(pf_stacktree_from_collapsed(cases[i], strlen(cases[i]), NULL, NULL, &err));
        assert_int_equal(err.code, PF_EEMPTY);
    }
    pf_error err;
    assert_null(pf_stacktree_from_collapsed(NULL, 0, NULL, NULL, &err));
    assert_int_equal(err.code, PF_EEMPTY);
}

struct bad_log {
    int n;
    unsigned long line[16];
    char msg[16][48];
};

static void log_bad(void *ctx, unsigned long lineno, const char *msg)
{
    struct bad_log *b = ctx;
    if (b->n < 16) {
        b->line[b->n] = lineno;
        snprintf(b->msg[b->n], sizeof b->msg[0], "%s", msg);
    }
    b->n++;
}

static void test_flame_bad_sample_lenient_reports_line_numbers(void **state)
{
    (void)state;
    size_t len;
    char *in = slurp(DATA "bad.folded", &len);
    struct bad_log b = { 0 };
    pf_collapsed_opts o = { 0, log_bad, &b };
    pf_error err;
    pf_stacktree *f = pf_stacktree_from_collapsed(in, len, NULL, &o, &err);
    assert_non_null(f);
    check_tree(f);
    assert_true(f->nodes[0].total == 6.5);   /* a;b 1 + a;f 2.5 + a;h 3 */
    assert_int_equal(b.n, 5);
    const unsigned long lines[] = { 3, 4, 6, 8, 9 };
    const char *msgs[] = { "missing count", "count is not a number", "negative count",
                           "missing stack", "count is too large" };
    for (int i = 0; i < 5; i++) {
        assert_int_equal(b.line[i], lines[i]);
        assert_string_equal(b.msg[i], msgs[i]);
    }
    pf_stacktree_free(f);
    free(in);
}

static void test_flame_bad_sample_strict_fails_with_first_line(void **state)
{
    (void)state;
    size_t len;
    char *in = slurp(DATA "bad.folded", &len);
    struct bad_log b = { 0 };
    pf_collapsed_opts o = { 1, log_bad, &b };
    pf_error err;
    long live = pf_alloc_live_blocks();
    assert_null(pf_stacktree_from_collapsed(in, len, NULL, &o, &err));
    assert_int_equal(err.code, PF_EPARSE);
    assert_string_equal(err.msg, "malformed line 3: missing count");
    assert_int_equal(b.n, 0);
    assert_int_equal(pf_alloc_live_blocks(), live);
    free(in);
}

/* Expected: lines, nodes (root included), names ("all" included), total. */
static const struct sample {
    const char *name;
    int nodes, names;
    double total;
} samples[] = {
    { "perf", 34, 34, 243 },
    { "pyspy", 12, 12, 49 },
    { "austin", 15, 13, 5460 },
    { "diff", 6, 6, 60.5 },
    { "crlf", 4, 4, 6 },
    { "hostile", 13, 13, 10 },
};

static void test_flame_sample_files_parse_to_expected_trees(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof samples / sizeof samples[0]; i++) {
        char p[256];
        size_t len, elen;
        snprintf(p, sizeof p, DATA "%s.folded", samples[i].name);
        char *in = slurp(p, &len);
        snprintf(p, sizeof p, DATA "%s.expected", samples[i].name);
        char *expected = slurp(p, &elen);
        pf_collapsed_opts o = { 1, NULL, NULL };
        pf_error err;
        pf_stacktree *f = pf_stacktree_from_collapsed(in, len, NULL, &o, &err);
        if (f == NULL)
            fail_msg("%s: %s", samples[i].name, err.msg);
        check_tree(f);
        assert_int_equal(f->nnodes, samples[i].nodes);
        assert_int_equal(pf_strtab_count(f->names), samples[i].names);
        assert_true(f->nodes[0].total == samples[i].total);
        char *out = collapsed_of(f);
        assert_string_equal(out, expected);
        free(out);
        pf_stacktree_free(f);
        free(in);
        free(expected);
    }
}

static void test_flame_perf_sample_keeps_frames_with_spaces_and_brackets(void **state)
{
    (void)state;
    size_t len;
    char *in = slurp(DATA "perf.folded", &len);
    pf_error err;
    pf_stacktree *f = pf_stacktree_from_collapsed(in, len, NULL, NULL, &err);
    assert_non_null(f);
    uint32_t eval = path(f, "python3;_start;__libc_start_main;Py_BytesMain;Py_RunMain;"
                            "pymain_run_python;_PyEval_EvalFrameDefault");
    assert_int_not_equal(eval, PF_NONE);
    assert_true(f->nodes[eval].self == 19);
    assert_true(f->nodes[eval].total == 70);
    assert_int_not_equal(child(f, child(f, eval, "PyObject_Malloc"), "operator new(unsigned long)"),
                         PF_NONE);
    assert_int_not_equal(child(f, eval, "std::vector<int, std::allocator<int> >::push_back"),
                         PF_NONE);
    assert_true(f->nodes[path(f, "java;start_thread;[libc.so.6]")].total == 49);
    pf_stacktree_free(f);
    free(in);
}

static void test_flame_pyspy_sample_merges_repeated_stacks(void **state)
{
    (void)state;
    size_t len;
    char *in = slurp(DATA "pyspy.folded", &len);
    pf_error err;
    pf_stacktree *f = pf_stacktree_from_collapsed(in, len, NULL, NULL, &err);
    assert_non_null(f);
    uint32_t proc = child(f, 0, "process 1234:\"python app.py\"");
    assert_int_not_equal(proc, PF_NONE);
    uint32_t main5 = child(f, child(f, proc, "<module> (app.py:10)"), "main (app.py:5)");
    assert_true(f->nodes[child(f, main5, "compute (lib/math_utils.py:42)")].self == 8);
    assert_true(f->nodes[main5].total == 13);
    pf_stacktree_free(f);
    free(in);
}

/* Shuffles the lines of text (deterministic LCG); returns a malloc'd copy. */
static char *shuffled(const char *text, unsigned seed)
{
    size_t n = 0, len = strlen(text);
    const char *lines[256];
    size_t lens[256];
    for (const char *p = text; *p && n < 256;) {
        const char *nl = strchr(p, '\n');
        size_t l = nl ? (size_t)(nl - p) + 1 : strlen(p);
        lines[n] = p;
        lens[n++] = l;
        p += l;
    }
    for (size_t i = n; i > 1; i--) {
        seed = seed * 1103515245u + 12345u;
        size_t j = (seed >> 8) % i;
        const char *t = lines[i - 1];
        lines[i - 1] = lines[j];
        lines[j] = t;
        size_t tl = lens[i - 1];
        lens[i - 1] = lens[j];
        lens[j] = tl;
    }
    char *out = malloc(len + 2);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        memcpy(out + k, lines[i], lens[i]);
        k += lens[i];
        if (out[k - 1] != '\n')
            out[k++] = '\n';
    }
    out[k] = '\0';
    return out;
}

static void test_flame_output_is_deterministic_and_independent_of_input_order(void **state)
{
    (void)state;
    const char *names[] = { "perf", "pyspy", "austin", "diff", "hostile" };
    for (size_t i = 0; i < 5; i++) {
        char p[256];
        size_t len;
        snprintf(p, sizeof p, DATA "%s.folded", names[i]);
        char *in = slurp(p, &len);
        pf_stacktree *f = from_text(in);
        char *ref = collapsed_of(f);
        char *again = collapsed_of(f);
        assert_string_equal(ref, again);
        for (unsigned seed = 1; seed <= 5; seed++) {
            char *sh = shuffled(in, seed);
            pf_stacktree *g = from_text(sh);
            char *out = collapsed_of(g);
            assert_string_equal(out, ref);
            free(out);
            pf_stacktree_free(g);
            free(sh);
        }
        free(ref);
        free(again);
        pf_stacktree_free(f);
        free(in);
    }
}

static void test_flame_round_trip_collapsed_flame_collapsed(void **state)
{
    (void)state;
    const char *names[] = { "perf", "pyspy", "austin", "diff", "crlf", "hostile" };
    for (size_t i = 0; i < 6; i++) {
        char p[256];
        size_t len;
        snprintf(p, sizeof p, DATA "%s.folded", names[i]);
        char *in = slurp(p, &len);
        pf_stacktree *f = from_text(in);
        char *once = collapsed_of(f);
        pf_stacktree *g = from_text(once);
        char *twice = collapsed_of(g);
        assert_string_equal(once, twice);
        assert_int_equal(f->nnodes, g->nnodes);
        assert_true(f->nodes[0].total == g->nodes[0].total);
        assert_true(pf_stacktree_total2(f, 0) == pf_stacktree_total2(g, 0));
        free(once);
        free(twice);
        pf_stacktree_free(f);
        pf_stacktree_free(g);
        free(in);
    }
}

static void test_flame_add_stack_keeps_totals_and_links_current(void **state)
{
    (void)state;
    pf_stacktree *f = pf_stacktree_new(NULL);
    assert_non_null(f);
    assert_int_equal(f->nnodes, 1);
    assert_int_equal(add_stack(f, "a;b", 3, 2, 0), 0);
    assert_int_equal(add_stack(f, "a;c", 3, 3, 0), 0);
    assert_int_equal(add_stack(f, "a", 1, 1.5, 0), 0);
    check_tree(f);
    assert_true(f->nodes[0].total == 6.5);
    assert_true(f->nodes[path(f, "a")].self == 1.5);
    /* Name order: b before c. */
    uint32_t a = path(f, "a");
    assert_string_equal(name_of(f, f->nodes[a].first_child), "b");
    pf_stacktree_free(f);

    /* Adding to a loaded (finished) tree works too. */
    f = from_text("z;y 1\nz;x 1\n");
    assert_int_equal(add_stack(f, "z;w", 3, 4, 1), 0);
    assert_int_equal(add_stack(f, "z;y;v", 5, 1, 0), 0);
    check_tree(f);
    assert_true(f->has_count2);
    assert_true(f->nodes[0].total == 7);
    assert_true(pf_stacktree_total2(f, 0) == 1);
    /* Siblings of a tree merged by name are in name order, however they were added. */
    uint32_t z = path(f, "z");
    uint32_t c1 = f->nodes[z].first_child;
    assert_string_equal(name_of(f, c1), "w");
    assert_string_equal(name_of(f, f->nodes[c1].next_sibling), "x");
    assert_string_equal(name_of(f, f->nodes[f->nodes[c1].next_sibling].next_sibling), "y");
    pf_stacktree_free(f);
}

static void test_flame_sort_orders_siblings_by_name_bytes(void **state)
{
    (void)state;
    pf_stacktree *f = from_text("r;b 1\nr;a 1\nr;B 1\nr;ab 1\nr;\xc3\xa9 1\nr; 1\n");
    /* Trees merged by name list siblings in name byte order. */
    check_tree(f);
    const char *want[] = { "", "B", "a", "ab", "b", "\xc3\xa9" };
    uint32_t c = f->nodes[path(f, "r")].first_child;
    for (int i = 0; i < 6; i++, c = f->nodes[c].next_sibling)
        assert_string_equal(name_of(f, c), want[i]);
    assert_int_equal(c, PF_NONE);
    /* Appending after a sort still goes to the end of the (sorted) list. */
    assert_int_equal(add_stack(f, "r;0", 3, 1, 0), 0);
    check_tree(f);
    pf_stacktree_free(f);
}

static void test_flame_output_is_sorted_by_the_bytes_it_writes(void **state)
{
    (void)state;
    /* '\r' inside a frame is written as '?', and sorts as '?' (after 'A'). */
    pf_stacktree *f = from_text("r;A 1\nr;\r 2\nr;0 3\n");
    char *out = collapsed_of(f);
    assert_string_equal(out, "r;0 3\nr;? 2\nr;A 1\n");
    free(out);
    pf_stacktree_free(f);
}

static void test_flame_deep_stack_is_written_without_recursion(void **state)
{
    (void)state;
    size_t depth = 100000;
    char *s = malloc(depth * 2 + 16);
    size_t n = 0;
    for (size_t i = 0; i < depth; i++) {
        s[n++] = 'f';
        s[n++] = ';';
    }
    n--;
    strcpy(s + n, " 3\n");
    pf_stacktree *f = from_text(s);
    assert_int_equal(f->nnodes, depth + 1);
    char *out = collapsed_of(f);
    assert_string_equal(out, s);
    free(out);
    pf_stacktree_free(f);
    free(s);
}

static void test_flame_from_stream_matches_buffer_and_counts_lines_across_chunks(void **state)
{
    (void)state;
    /* ~3 MiB: chunk boundaries fall inside lines; one line is longer than a chunk; a
     * bad line sits past the first chunk. */
    size_t cap = 8u << 20, n = 0;
    char *buf = malloc(cap);
    unsigned long line = 0, bad_at = 0;
    for (int i = 0; n < (3u << 20); i++) {
        line++;
        if (i == 90000) {
            n += (size_t)sprintf(buf + n, "broken;line;without;count\n");
            bad_at = line;
            continue;
        }
        if (i == 40000) {
            for (int k = 0; k < 200000; k++)
                n += (size_t)sprintf(buf + n, "deep%d;", k % 7);
            n += (size_t)sprintf(buf + n, "leaf 9\n");
            continue;
        }
        n += (size_t)sprintf(buf + n, "main;f%d;g%d 1%s\n", i % 97, i % 13, i % 5 ? "" : ".25");
    }
    assert_true(bad_at > 0);
    FILE *in = tmpfile();
    assert_int_equal(fwrite(buf, 1, n, in), n);
    rewind(in);
    struct bad_log b1 = { 0 }, b2 = { 0 };
    pf_collapsed_opts o1 = { 0, log_bad, &b1 }, o2 = { 0, log_bad, &b2 };
    pf_error err;
    pf_stacktree *f = pf_stacktree_from_collapsed(buf, n, NULL, &o1, &err);
    pf_stacktree *g = load_file(in, &o2, &err);
    assert_non_null(f);
    assert_non_null(g);
    check_tree(g);
    assert_int_equal(b1.n, 1);
    assert_int_equal(b2.n, 1);
    assert_int_equal(b1.line[0], bad_at);
    assert_int_equal(b2.line[0], bad_at);
    char *x = collapsed_of(f), *y = collapsed_of(g);
    assert_string_equal(x, y);
    free(x);
    free(y);
    pf_stacktree_free(f);
    pf_stacktree_free(g);

    /* Strict mode on a stream names the right line too. */
    rewind(in);
    pf_collapsed_opts strict = { 1, NULL, NULL };
    assert_null(load_file(in, &strict, &err));
    char want[64];
    snprintf(want, sizeof want, "malformed line %lu: missing count", bad_at);
    assert_string_equal(err.msg, want);
    fclose(in);

    in = tmpfile();
    assert_null(load_file(in, NULL, &err));
    assert_int_equal(err.code, PF_EEMPTY);
    fclose(in);
    free(buf);
}

static void test_flame_from_stream_any_chunk_size_gives_the_same_tree(void **state)
{
    (void)state;
    const char *names[] = { "perf", "pyspy", "austin", "diff", "crlf", "hostile", "bad" };
    for (size_t i = 0; i < 7; i++) {
        char p[256];
        size_t len;
        snprintf(p, sizeof p, DATA "%s.folded", names[i]);
        char *in = slurp(p, &len);
        struct bad_log b0 = { 0 };
        pf_collapsed_opts o0 = { 0, log_bad, &b0 };
        pf_error err;
        pf_stacktree *ref = pf_stacktree_from_collapsed(in, len, NULL, &o0, &err);
        assert_non_null(ref);
        char *want = collapsed_of(ref);
        FILE *f = tmpfile();
        assert_int_equal(fwrite(in, 1, len, f), len);
        for (size_t chunk = 1; chunk <= 70; chunk++) {
            rewind(f);
            struct bad_log b = { 0 };
            pf_collapsed_opts o = { 0, log_bad, &b };
            pf_stacktree *g = load_file_(f, &o, &err, chunk);
            assert_non_null(g);
            char *got = collapsed_of(g);
            assert_string_equal(got, want);
            assert_int_equal(b.n, b0.n);
            for (int k = 0; k < b.n && k < 16; k++)
                assert_int_equal(b.line[k], b0.line[k]);
            free(got);
            pf_stacktree_free(g);
        }
        fclose(f);
        free(want);
        pf_stacktree_free(ref);
        free(in);
    }
}

static void test_flame_writer_reports_io_errors(void **state)
{
    (void)state;
    FILE *out = fopen("/dev/full", "w");
    if (out == NULL)
        skip();
    pf_stacktree *f = from_text("a;b 1\n");
    pf_error err;
    pf_error_clear(&err);
    assert_int_equal(pf_stacktree_write_collapsed(f, out, PF_COUNTS_AUTO, &err), -1);
    assert_int_equal(err.code, PF_EIO);
    fclose(out);
    pf_stacktree_free(f);
}

/* True if the count at the end of every line is written without a decimal point. */
static int counts_are_integers(const char *out)
{
    for (const char *p = out; *p;) {
        const char *nl = strchr(p, '\n');
        const char *sp = nl;
        while (sp > p && sp[-1] != ' ')
            sp--;
        for (const char *q = sp; q < nl; q++)
            if (*q < '0' || *q > '9')
                return 0;
        p = nl + 1;
    }
    return 1;
}

/* ---- a synthetic trace ---------------------------------------------------------------------- */

static uint32_t S(pf_trace *t, const char *s) { return pf_strtab_intern_cstr(t->strings, s); }

static uint32_t add_code(pf_trace *t, const char *file, const char *name, const char *qual,
                         uint32_t first_line, int native)
{
    pf_code c = { S(t, file), S(t, name), S(t, qual), first_line,
                  (uint8_t)(native ? PF_CODE_NATIVE : PF_CODE_PYTHON) };
    return pf_trace_add_code(t, &c);
}

static uint32_t add_node(pf_trace *t, uint32_t parent, uint32_t thread, uint32_t code,
                         uint32_t call_line, uint64_t calls, uint64_t total, uint64_t self)
{
    pf_node n;
    memset(&n, 0, sizeof n);
    n.parent = parent;
    n.thread = thread;
    n.code = code;
    n.call_line = call_line;
    n.calls = calls;
    n.total_ns = total;
    n.self_ns = self;
    return pf_trace_add_node(t, &n);
}

/* Program: MainThread runs <module> -> main, which calls Worker.run from lines 7 and
 * 8 and len() from line 7; Worker.run (line-8 call) calls len() from line 12.  Two
 * threads are both named "worker". */
static pf_trace *make_trace(void)
{
    pf_trace *t = pf_trace_new();
    assert_non_null(t);
    t->meta.modes = PF_MODE_CALLS | PF_MODE_MEMORY;
    pf_meta_set_str(&t->meta.cwd, "/home/u/proj");
    pf_meta_push_str(&t->meta.argv, &t->meta.argc, "/home/u/proj/app.py");
    const char *sp[] = { "/home/u/proj", "/usr/lib/python311.zip", "/usr/lib/python3.11",
                         "/usr/lib/python3.11/lib-dynload",
                         "/home/u/proj/.venv/lib/python3.11/site-packages" };
    for (int i = 0; i < 5; i++)
        pf_meta_push_str(&t->meta.path, &t->meta.npath, sp[i]);
    uint32_t mod = add_code(t, "/home/u/proj/app.py", "<module>", "<module>", 1, 0);
    uint32_t mainc = add_code(t, "/home/u/proj/app.py", "main", "main", 5, 0);
    uint32_t run = add_code(t, "/home/u/proj/lib/work.py", "run", "Worker.run", 10, 0);
    uint32_t len = add_code(t, "", "<built-in method builtins.len>",
                            "<built-in method builtins.len>", 0, 1);
    uint32_t dec = add_code(t, "/usr/lib/python3.11/json/decoder.py", "decode",
                            "JSONDecoder.decode", 332, 0);
    pf_thread th0 = { 1, S(t, "MainThread") }, th1 = { 2, S(t, "worker") },
              th2 = { 3, S(t, "worker") };
    pf_trace_add_thread(t, &th0);
    pf_trace_add_thread(t, &th1);
    pf_trace_add_thread(t, &th2);
    uint32_t n0 = add_node(t, PF_NONE, 0, mod, 0, 1, 1000, 100);
    uint32_t n1 = add_node(t, n0, 0, mainc, 20, 1, 900, 200);
    uint32_t n2 = add_node(t, n1, 0, run, 7, 2, 300, 300);
    uint32_t n3 = add_node(t, n1, 0, run, 8, 3, 350, 250);
    uint32_t n4 = add_node(t, n3, 0, len, 12, 5, 100, 100);
    uint32_t n5 = add_node(t, n1, 0, len, 7, 1, 50, 50);
    uint32_t n6 = add_node(t, PF_NONE, 1, run, 0, 1, 500, 500);
    uint32_t n7 = add_node(t, PF_NONE, 2, dec, 0, 1, 40, 40);
    assert_int_equal(n7, 7);
    (void)n5;
    (void)n6;
    /* Memory: Worker.run allocates, len a little. */
    *pf_trace_node_mem_at(t, n2) = (pf_mem){ 4096, 3, 0, 1024, 512 };
    *pf_trace_node_mem_at(t, n3) = (pf_mem){ 1000, 2, 0, 100, 10 };
    *pf_trace_node_mem_at(t, n4) = (pf_mem){ 64, 1, 0, 0, 0 };
    return t;
}

static pf_stacktree *flame_of(const pf_trace *t, enum pf_metric m, enum pf_granularity g,
                          double unit)
{
    pf_stack_opts o;
    pf_stack_opts_init(&o);
    o.metric = m;
    o.granularity = g;
    o.time_unit_ns = unit;
    pf_error err;
    pf_stacktree *f = pf_stacktree_from_trace(t, &o, &err);
    if (f == NULL)
        fail_msg("from_trace: %s", err.msg);
    check_tree(f);
    assert_true(f->from_trace);
    return f;
}

static void test_flame_trace_function_granularity_merges_call_sites(void **state)
{
    (void)state;
    pf_trace *t = make_trace();
    pf_stacktree *f = flame_of(t, PF_METRIC_SELF_TIME, PF_GRAN_FUNCTION, 0);
    char *out = collapsed_exact(f);
    assert_string_equal(out,
        "MainThread;<module> (app.py:1) 0.1\n"
        "MainThread;<module> (app.py:1);main (app.py:5) 0.2\n"
        "MainThread;<module> (app.py:1);main (app.py:5);<built-in method builtins.len> 0.05\n"
        "MainThread;<module> (app.py:1);main (app.py:5);Worker.run (lib/work.py:10) 0.55\n"
        "MainThread;<module> (app.py:1);main (app.py:5);Worker.run (lib/work.py:10);"
        "<built-in method builtins.len> 0.1\n"
        "worker [2];Worker.run (lib/work.py:10) 0.5\n"
        "worker [3];JSONDecoder.decode (json/decoder.py:332) 0.04\n");
    free(out);
    uint32_t run = path(f, "MainThread;<module> (app.py:1);main (app.py:5);Worker.run (lib/work.py:10)");
    assert_int_not_equal(run, PF_NONE);
    assert_int_equal(f->info[run].calls, 5);
    assert_int_equal(f->info[run].self_ns, 550);
    assert_int_equal(f->info[run].total_ns, 650);
    assert_int_equal(f->info[run].code, 2);
    assert_int_equal(f->info[run].line, 10);
    assert_true(f->nodes[run].total == 0.65);
    uint32_t mt = path(f, "MainThread");
    assert_int_equal(f->info[mt].code, PF_NONE);
    assert_int_equal(f->info[mt].calls, 1);
    assert_int_equal(f->info[mt].total_ns, 1000);
    assert_int_equal(f->info[0].total_ns, 1540);
    assert_true(fabs(f->nodes[0].total - 1.54) < 1e-12);
    uint32_t len = path(f, "MainThread;<module> (app.py:1);main (app.py:5);<built-in method builtins.len>");
    assert_int_equal(f->info[len].line, 0);
    assert_int_equal(f->info[len].code, 3);
    pf_stacktree_free(f);
    pf_trace_free(t);
}

static void test_flame_trace_line_granularity_names_call_sites(void **state)
{
    (void)state;
    pf_trace *t = make_trace();
    pf_stacktree *f = flame_of(t, PF_METRIC_SELF_TIME, PF_GRAN_LINE, 0);
    char *out = collapsed_exact(f);
    assert_string_equal(out,
        "MainThread;<module> (app.py:1) 0.1\n"
        "MainThread;<module> (app.py:20);main (app.py:5) 0.2\n"
        "MainThread;<module> (app.py:20);main (app.py:7);<built-in method builtins.len> 0.05\n"
        "MainThread;<module> (app.py:20);main (app.py:7);Worker.run (lib/work.py:10) 0.3\n"
        "MainThread;<module> (app.py:20);main (app.py:8);Worker.run (lib/work.py:10) 0.25\n"
        "MainThread;<module> (app.py:20);main (app.py:8);Worker.run (lib/work.py:12);"
        "<built-in method builtins.len> 0.1\n"
        "worker [2];Worker.run (lib/work.py:10) 0.5\n"
        "worker [3];JSONDecoder.decode (json/decoder.py:332) 0.04\n");
    free(out);
    /* Call-site frames: calls and time of the calls made from that line. */
    uint32_t m7 = path(f, "MainThread;<module> (app.py:20);main (app.py:7)");
    assert_int_equal(f->info[m7].calls, 3);
    assert_int_equal(f->info[m7].total_ns, 350);
    assert_int_equal(f->info[m7].self_ns, 0);
    assert_int_equal(f->info[m7].line, 7);
    assert_int_equal(f->info[m7].code, 1);
    assert_true(fabs(f->nodes[m7].total - 0.35) < 1e-12);
    /* Self frames: the function's own calls and self time. */
    uint32_t m5 = path(f, "MainThread;<module> (app.py:20);main (app.py:5)");
    assert_int_equal(f->info[m5].calls, 1);
    assert_int_equal(f->info[m5].self_ns, 200);
    assert_int_equal(f->info[m5].total_ns, 200);
    assert_int_equal(f->info[m5].line, 5);
    uint32_t mod20 = path(f, "MainThread;<module> (app.py:20)");
    assert_true(fabs(f->nodes[mod20].total - 0.9) < 1e-12);
    assert_int_equal(f->info[mod20].total_ns, 900);
    assert_true(fabs(f->nodes[0].total - 1.54) < 1e-12);
    pf_stacktree_free(f);
    pf_trace_free(t);
}

static void test_flame_trace_time_unit_nanoseconds_gives_integers(void **state)
{
    (void)state;
    pf_trace *t = make_trace();
    pf_stacktree *f = flame_of(t, PF_METRIC_SELF_TIME, PF_GRAN_FUNCTION, 1);
    char *out = collapsed_of(f);
    assert_non_null(strstr(out, "main (app.py:5);Worker.run (lib/work.py:10) 550\n"));
    assert_true(counts_are_integers(out));
    free(out);
    assert_true(f->nodes[0].total == 1540);
    pf_stacktree_free(f);
    /* Milliseconds, written exactly on request. */
    f = flame_of(t, PF_METRIC_SELF_TIME, PF_GRAN_FUNCTION, 1e6);
    out = collapsed_exact(f);
    assert_non_null(strstr(out, "Worker.run (lib/work.py:10) 0.00055\n"));
    free(out);
    pf_stacktree_free(f);
    pf_trace_free(t);
}

/* Default output of a trace tree: integers by carry rounding.  The exact values in
 * output order are 0.1 0.2 0.05 0.55 0.1 0.5 0.04 (us): running sums 0.1 0.3 0.35
 * 0.9 1.0 1.5 1.54 round to 0 0 0 1 1 2 2, so two lines print 1 each. */
static void test_flame_trace_output_is_carry_rounded_integers(void **state)
{
    (void)state;
    pf_trace *t = make_trace();
    pf_stacktree *f = flame_of(t, PF_METRIC_SELF_TIME, PF_GRAN_FUNCTION, 0);
    char *out = collapsed_of(f);
    assert_string_equal(out,
        "MainThread;<module> (app.py:1);main (app.py:5);Worker.run (lib/work.py:10) 1\n"
        "worker [2];Worker.run (lib/work.py:10) 1\n");
    free(out);
    /* Trees from collapsed text keep their fractions unless asked. */
    pf_stacktree *g = from_text("a 0.25\nb 0.5\nc 0.75\n");
    out = collapsed_of(g);
    assert_string_equal(out, "a 0.25\nb 0.5\nc 0.75\n");
    free(out);
    out = collapsed_mode(g, PF_COUNTS_INTEGER);
    assert_string_equal(out, "b 1\nc 1\n");      /* sums 0.25 0.75 1.5 -> 0 1 2 */
    free(out);
    pf_stacktree_free(g);
    pf_stacktree_free(f);
    pf_trace_free(t);
}

/* Parses "stack count" lines into parallel arrays (stacks point into text). */
static int split_lines(char *text, char **stacks, double *vals, int cap)
{
    int n = 0;
    for (char *p = text; *p && n < cap;) {
        char *nl = strchr(p, '\n');
        *nl = '\0';
        char *sp = strrchr(p, ' ');
        *sp = '\0';
        stacks[n] = p;
        vals[n++] = strtod(sp + 1, NULL);
        p = nl + 1;
    }
    return n;
}

static void test_flame_carry_rounding_keeps_lines_within_one_and_the_total(void **state)
{
    (void)state;
    unsigned seed = 12345;
    for (int round = 0; round < 20; round++) {
        pf_trace *t = pf_trace_new();
        t->meta.modes = PF_MODE_CALLS;
        pf_thread th = { 1, S(t, "MainThread") };
        pf_trace_add_thread(t, &th);
        uint32_t codes[8];
        for (int i = 0; i < 8; i++) {
            char name[16];
            snprintf(name, sizeof name, "f%d", i);
            codes[i] = add_code(t, "/p/m.py", name, name, (uint32_t)(10 * i + 1), 0);
        }
        uint64_t total_ns = 0;
        for (uint32_t i = 0; i < 300; i++) {
            seed = seed * 1103515245u + 12345u;
            uint32_t parent = i == 0 ? PF_NONE : (seed >> 8) % i;
            seed = seed * 1103515245u + 12345u;
            uint64_t self = (seed >> 5) % 3000;
            total_ns += self;
            add_node(t, parent, 0, codes[(seed >> 3) % 8], (seed >> 12) % 50 + 1, 1, self, self);
        }
        for (int g = 0; g < 2; g++) {
            pf_stacktree *f = flame_of(t, PF_METRIC_SELF_TIME, (enum pf_granularity)g, 1000);
            char *ex = collapsed_exact(f), *in = collapsed_of(f);
            static char *es[400], *is[400];
            static double ev[400], iv[400];
            int ne = split_lines(ex, es, ev, 400), ni = split_lines(in, is, iv, 400);
            assert_true(ni <= ne);
            double sum = 0;
            int j = 0;
            for (int k = 0; k < ne; k++) {
                double printed = 0;
                if (j < ni && strcmp(is[j], es[k]) == 0) {
                    printed = iv[j++];
                    assert_true(printed >= 1 && printed == floor(printed));
                }
                assert_true(fabs(printed - ev[k]) <= 1.0 + 1e-9);
                sum += printed;
            }
            assert_int_equal(j, ni);       /* same order, nothing extra */
            assert_true(sum == floor((double)total_ns / 1000 + 0.5));
            free(ex);
            free(in);
            pf_stacktree_free(f);
        }
        pf_trace_free(t);
    }
}

static void test_flame_trace_each_metric(void **state)
{
    (void)state;
    pf_trace *t = make_trace();
    const char *run_path = "MainThread;<module> (app.py:1);main (app.py:5);Worker.run (lib/work.py:10)";
    struct {
        enum pf_metric m;
        double run_self, root_total;
    } cases[] = {
        { PF_METRIC_CALLS, 5, 15 },
        { PF_METRIC_ALLOC_BYTES, 5096, 5160 },
        { PF_METRIC_ALLOC_COUNT, 5, 6 },
        { PF_METRIC_PEAK_BYTES, 1124, 1124 },
        { PF_METRIC_EXIT_BYTES, 522, 522 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        pf_stacktree *f = flame_of(t, cases[i].m, PF_GRAN_FUNCTION, 0);
        uint32_t run = path(f, run_path);
        assert_true(f->nodes[run].self == cases[i].run_self);
        assert_true(f->nodes[0].total == cases[i].root_total);
        /* The trace extras do not depend on the metric. */
        assert_int_equal(f->info[run].calls, 5);
        assert_int_equal(f->info[run].self_ns, 550);
        char *out = collapsed_of(f);
        assert_true(counts_are_integers(out));
        free(out);
        pf_stacktree_free(f);
    }
    /* CALLS with line granularity: the self frames carry the calls. */
    pf_stacktree *f = flame_of(t, PF_METRIC_CALLS, PF_GRAN_LINE, 0);
    assert_true(f->nodes[0].total == 15);
    assert_true(f->nodes[path(f, "MainThread;<module> (app.py:20);main (app.py:8);"
                                 "Worker.run (lib/work.py:10)")].self == 3);
    pf_stacktree_free(f);
    pf_trace_free(t);
}

static void test_flame_trace_memory_metric_needs_memory_mode(void **state)
{
    (void)state;
    pf_trace *t = make_trace();
    t->meta.modes = PF_MODE_CALLS;
    pf_stack_opts o;
    pf_stack_opts_init(&o);
    o.metric = PF_METRIC_ALLOC_BYTES;
    pf_error err;
    assert_null(pf_stacktree_from_trace(t, &o, &err));
    assert_int_equal(err.code, PF_EUSAGE);
    assert_non_null(strstr(err.msg, "memory"));
    o.metric = PF_METRIC_CALLS;
    pf_stacktree *f = pf_stacktree_from_trace(t, &o, &err);
    assert_non_null(f);
    pf_stacktree_free(f);
    o.metric = (enum pf_metric)99;
    assert_null(pf_stacktree_from_trace(t, &o, &err));
    assert_int_equal(err.code, PF_EUSAGE);
    pf_trace_free(t);
}

static void test_flame_trace_without_calls_is_eempty(void **state)
{
    (void)state;
    pf_trace *t = pf_trace_new();
    pf_error err;
    assert_null(pf_stacktree_from_trace(t, NULL, &err));
    assert_int_equal(err.code, PF_EEMPTY);
    pf_trace_free(t);
}

static void test_flame_trace_bad_references_are_ecorrupt(void **state)
{
    (void)state;
    pf_trace *t = make_trace();
    long live = pf_alloc_live_blocks();
    pf_error err;
    t->nodes[3].parent = 5;          /* a parent after the child */
    assert_null(pf_stacktree_from_trace(t, NULL, &err));
    assert_int_equal(err.code, PF_ECORRUPT);
    t->nodes[3].parent = 1;
    t->nodes[4].code = 77;
    assert_null(pf_stacktree_from_trace(t, NULL, &err));
    assert_int_equal(err.code, PF_ECORRUPT);
    t->nodes[4].code = 3;
    t->nodes[6].thread = 9;
    assert_null(pf_stacktree_from_trace(t, NULL, &err));
    assert_int_equal(err.code, PF_ECORRUPT);
    assert_int_equal(pf_alloc_live_blocks(), live);
    pf_trace_free(t);
}

static void test_flame_trace_thread_names_are_made_distinct(void **state)
{
    (void)state;
    pf_trace *t = make_trace();
    pf_thread th = { 77, S(t, "") };
    uint32_t ti = pf_trace_add_thread(t, &th);
    uint32_t mod = 0;
    add_node(t, PF_NONE, ti, mod, 0, 1, 10, 10);
    pf_stacktree *f = flame_of(t, PF_METRIC_SELF_TIME, PF_GRAN_FUNCTION, 1);
    assert_int_not_equal(child(f, 0, "MainThread"), PF_NONE);
    assert_int_not_equal(child(f, 0, "worker [2]"), PF_NONE);
    assert_int_not_equal(child(f, 0, "worker [3]"), PF_NONE);
    assert_int_not_equal(child(f, 0, "thread 77"), PF_NONE);
    assert_int_equal(child(f, 0, "worker"), PF_NONE);
    pf_stacktree_free(f);
    pf_trace_free(t);
}

static void test_flame_writer_replaces_separators_in_names(void **state)
{
    (void)state;
    pf_trace *t = pf_trace_new();
    t->meta.modes = PF_MODE_CALLS;
    uint32_t c = add_code(t, "/x/we;ird\npath.py", "f", "f;g\nh\r", 3, 0);
    pf_thread th = { 1, S(t, "Main;Thread") };
    pf_trace_add_thread(t, &th);
    add_node(t, PF_NONE, 0, c, 0, 1, 2000, 2000);
    pf_stack_opts o;
    pf_stack_opts_init(&o);
    pf_error err;
    pf_stacktree *f = pf_stacktree_from_trace(t, &o, &err);
    assert_non_null(f);
    /* The tree keeps the raw name... */
    assert_int_not_equal(child(f, 0, "Main;Thread"), PF_NONE);
    /* ...the collapsed output keeps one stack per line. */
    char *out = collapsed_of(f);
    assert_string_equal(out, "Main,Thread;f,g?h? (/x/we,ird?path.py:3) 2\n");
    free(out);
    pf_stacktree_free(f);
    pf_trace_free(t);
}

/* Two processes of one run: pid 4242 runs app.py (MainThread and a "worker"),
 * its child pid 4243 runs worker.py (MainThread); the child's command holds a ';' and
 * an HTML tag, which the collapsed writer must keep on one frame. */
static pf_trace *make_two_process_trace(void)
{
    pf_trace *t = pf_trace_new();
    assert_non_null(t);
    t->meta.modes = PF_MODE_CALLS;
    pf_meta_set_str(&t->meta.cwd, "/home/u/proj");
    uint32_t mainc = add_code(t, "/home/u/proj/app.py", "main", "main", 5, 0);
    uint32_t run = add_code(t, "/home/u/proj/lib/work.py", "run", "Worker.run", 10, 0);
    uint32_t job = add_code(t, "/home/u/proj/worker.py", "job", "job", 3, 0);
    pf_thread th0 = { 1, S(t, "MainThread") }, th1 = { 2, S(t, "worker") },
              th2 = { 1, S(t, "MainThread") };
    pf_trace_add_thread(t, &th0);
    pf_trace_add_thread(t, &th1);
    pf_trace_add_thread(t, &th2);
    pf_process p0 = { 4242, 1, S(t, "python3 app.py"), 0, 2, PF_PROC_EXITED, 0, 2000, 3, 0,
                      0, 0 };
    pf_process p1 = { 4243, 4242, S(t, "python3 worker.py --tag <script>;x"), 2, 1,
                      PF_PROC_KILLED | PF_PROC_CUT_SHORT, 500, 1000, 2, 0, PF_EXIT_UNKNOWN,
                      15 };
    assert_int_equal(pf_trace_add_process(t, &p0), 0);
    assert_int_equal(pf_trace_add_process(t, &p1), 1);
    uint32_t n0 = add_node(t, PF_NONE, 0, mainc, 0, 1, 1000, 400);
    add_node(t, n0, 0, run, 7, 1, 600, 600);
    add_node(t, PF_NONE, 1, run, 0, 1, 300, 300);
    uint32_t n3 = add_node(t, PF_NONE, 2, job, 0, 1, 800, 200);
    add_node(t, n3, 2, run, 4, 1, 600, 600);
    pf_error err;
    assert_int_equal(pf_trace_validate(t, &err), 0);
    return t;
}

static void test_flame_trace_processes_are_roots_above_threads(void **state)
{
    (void)state;
    pf_trace *t = make_two_process_trace();
    pf_stacktree *f = flame_of(t, PF_METRIC_SELF_TIME, PF_GRAN_FUNCTION, 1);
    char *out = collapsed_of(f);
    assert_string_equal(out,
        "pid 4242: python3 app.py;MainThread;main (app.py:5) 400\n"
        "pid 4242: python3 app.py;MainThread;main (app.py:5);Worker.run (lib/work.py:10) 600\n"
        "pid 4242: python3 app.py;worker;Worker.run (lib/work.py:10) 300\n"
        "pid 4243: python3 worker.py --tag <script>,x;MainThread;job (worker.py:3) 200\n"
        "pid 4243: python3 worker.py --tag <script>,x;MainThread;job (worker.py:3);"
        "Worker.run (lib/work.py:10) 600\n");
    free(out);
    /* MainThread is in both processes, but never "MainThread [1]": they do not meet. */
    uint32_t p0 = path(f, "pid 4242: python3 app.py");
    uint32_t p1 = child(f, 0, "pid 4243: python3 worker.py --tag <script>;x");
    assert_int_not_equal(p0, PF_NONE);
    assert_int_not_equal(p1, PF_NONE);
    assert_int_equal(f->info[p0].code, PF_NONE);
    assert_int_equal(f->info[p0].calls, 2);
    assert_int_equal(f->info[p0].total_ns, 1300);
    assert_int_equal(f->info[p1].calls, 1);
    assert_int_equal(f->info[p1].total_ns, 800);
    assert_int_equal(f->info[0].total_ns, 2100);
    uint32_t mt = child(f, p1, "MainThread");
    assert_int_not_equal(mt, PF_NONE);
    assert_int_equal(f->info[mt].total_ns, 800);
    pf_stacktree_free(f);

    /* Line granularity and reversal keep the process frames. */
    f = flame_of(t, PF_METRIC_CALLS, PF_GRAN_LINE, 0);
    assert_int_not_equal(path(f, "pid 4242: python3 app.py;MainThread;main (app.py:7);"
                                 "Worker.run (lib/work.py:10)"), PF_NONE);
    pf_stacktree_free(f);
    pf_stack_opts o;
    pf_stack_opts_init(&o);
    o.reverse = 1;
    o.time_unit_ns = 1;
    pf_error err;
    f = pf_stacktree_from_trace(t, &o, &err);
    assert_non_null(f);
    out = collapsed_of(f);
    assert_non_null(strstr(out, "Worker.run (lib/work.py:10);job (worker.py:3);MainThread;"
                                "pid 4243: python3 worker.py --tag <script>,x 600\n"));
    free(out);
    pf_stacktree_free(f);

    /* Without thread roots, every process merges too. */
    pf_stack_opts_init(&o);
    o.no_thread_roots = 1;
    f = pf_stacktree_from_trace(t, &o, &err);
    assert_non_null(f);
    assert_int_equal(child(f, 0, "pid 4242: python3 app.py"), PF_NONE);
    assert_int_not_equal(child(f, 0, "Worker.run (lib/work.py:10)"), PF_NONE);
    pf_stacktree_free(f);
    pf_trace_free(t);
}

/* One process record (or none) draws no process frame: the output of a trace from
 * before processes existed does not change. */
static void test_flame_trace_one_process_has_no_process_frame(void **state)
{
    (void)state;
    pf_trace *t = make_trace();
    pf_stacktree *f = flame_of(t, PF_METRIC_SELF_TIME, PF_GRAN_FUNCTION, 1);
    char *before = collapsed_of(f);
    pf_stacktree_free(f);
    pf_process p = { 99, 1, S(t, "python3 app.py"), 0, t->nthreads, PF_PROC_EXITED, 0, 10,
                     1, 0, 0, 0 };
    pf_trace_add_process(t, &p);
    f = flame_of(t, PF_METRIC_SELF_TIME, PF_GRAN_FUNCTION, 1);
    char *after = collapsed_of(f);
    assert_string_equal(before, after);
    assert_null(strstr(after, "pid 99"));
    free(before);
    free(after);
    pf_stacktree_free(f);
    pf_trace_free(t);
}

/* Two processes with one label (a reused pid running the same command) stay apart; a
 * thread no process claims stays under the root. */
static void test_flame_trace_process_labels_are_made_distinct(void **state)
{
    (void)state;
    pf_trace *t = make_two_process_trace();
    t->processes[1].pid = 4242;
    t->processes[1].command = t->processes[0].command;
    pf_thread th = { 9, S(t, "stray") };
    uint32_t ti = pf_trace_add_thread(t, &th);
    add_node(t, PF_NONE, ti, 0, 0, 1, 10, 10);
    pf_stacktree *f = flame_of(t, PF_METRIC_SELF_TIME, PF_GRAN_FUNCTION, 1);
    assert_int_not_equal(child(f, 0, "pid 4242: python3 app.py [0]"), PF_NONE);
    assert_int_not_equal(child(f, 0, "pid 4242: python3 app.py [1]"), PF_NONE);
    assert_int_not_equal(path(f, "stray;main (app.py:5)"), PF_NONE);
    assert_int_equal(f->info[0].total_ns, 2110);
    pf_stacktree_free(f);
    pf_trace_free(t);
}

/* ---- reversal, limits and hostile bytes ---------------------------------------------- */

/* Reversing a trace tree gives the tree of its reversed stacks: the same as reversing
 * each line of its collapsed text. */
static void test_stacktree_reverse_of_trace_equals_reversed_stacks(void **state)
{
    (void)state;
    pf_trace *t = make_trace();
    for (int g = 0; g < 2; g++) {
        pf_stack_opts o;
        pf_stack_opts_init(&o);
        o.granularity = (enum pf_granularity)g;
        o.time_unit_ns = 1;
        pf_error err;
        pf_stacktree *fwd = pf_stacktree_from_trace(t, &o, &err);
        assert_non_null(fwd);
        char *text = collapsed_exact(fwd);
        o.reverse = 1;
        pf_stacktree *rev = pf_stacktree_from_trace(t, &o, &err);
        assert_non_null(rev);
        check_tree(rev);
        assert_null(rev->info);
        assert_true(rev->from_trace);
        pf_stacktree *ref = pf_stacktree_from_collapsed(text, strlen(text), &o, NULL, &err);
        assert_non_null(ref);
        char *a = collapsed_exact(rev), *b = collapsed_exact(ref);
        assert_string_equal(a, b);
        assert_true(rev->nodes[0].total == fwd->nodes[0].total);
        free(a);
        free(b);
        free(text);
        pf_stacktree_free(ref);
        pf_stacktree_free(rev);
        pf_stacktree_free(fwd);
    }
    pf_trace_free(t);
}

/* A recursion 100,000 calls deep, every level with self time: reversing it walks no
 * path twice (walking every path took nodes x depth = 5e9 steps here). */
static void test_stacktree_reverse_of_a_deep_chain_is_linear(void **state)
{
    (void)state;
    const uint32_t depth = 100000;
    pf_trace *t = pf_trace_new();
    assert_non_null(t);
    t->meta.modes = PF_MODE_CALLS;
    pf_thread th = { 1, S(t, "MainThread") };
    pf_trace_add_thread(t, &th);
    uint32_t f = add_code(t, "/p/rec.py", "f", "f", 3, 0);
    uint32_t parent = PF_NONE;
    for (uint32_t i = 0; i < depth; i++)
        parent = add_node(t, parent, 0, f, 4, 1, 1000 * (uint64_t)(depth - i), 1000);
    pf_stack_opts o;
    pf_stack_opts_init(&o);
    o.reverse = 1;
    pf_error err;
    pf_stacktree *r = pf_stacktree_from_trace(t, &o, &err);
    if (r == NULL)
        fail_msg("reverse: %s", err.msg);
    /* root > f > f > ... (depth of them), each f also holding the thread frame; at most
     * one more node, with no value (the thread frame's own reversed path) */
    uint32_t valued = 0;
    for (uint32_t i = 0; i < r->nnodes; i++)
        valued += r->nodes[i].total > 0;
    assert_int_equal(valued, 1 + 2 * depth);
    assert_true(r->nnodes <= 2 + 2 * depth);
    assert_true(r->nodes[0].total == depth);            /* 1 us per level */
    uint32_t c = child(r, 0, "f (/p/rec.py:3)");
    assert_int_not_equal(c, PF_NONE);
    assert_true(r->nodes[c].total == depth);
    assert_true(r->nodes[child(r, c, "MainThread")].self == 1);
    check_tree(r);
    pf_stacktree_free(r);
    pf_trace_free(t);
}

/* In chart order a reversed trace tree lists siblings as walking the paths would
 * create them: by the first node (in trace order) whose path passes through, so a
 * node's later siblings have larger indices. */
static void test_stacktree_reverse_chart_keeps_first_path_order(void **state)
{
    (void)state;
    pf_trace *t = make_trace();
    pf_stack_opts o;
    pf_stack_opts_init(&o);
    o.reverse = 1;
    o.order = PF_ORDER_CHART;
    pf_error err;
    pf_stacktree *r = pf_stacktree_from_trace(t, &o, &err);
    assert_non_null(r);
    check_tree(r);
    for (uint32_t i = 1; i < r->nnodes; i++)
        if (r->nodes[i].next_sibling != PF_NONE)
            assert_true(r->nodes[i].next_sibling > i);
    pf_stacktree_free(r);
    pf_trace_free(t);
}

static void test_stacktree_no_thread_roots_merges_threads(void **state)
{
    (void)state;
    pf_trace *t = make_trace();
    pf_stack_opts o;
    pf_stack_opts_init(&o);
    o.no_thread_roots = 1;
    pf_error err;
    pf_stacktree *f = pf_stacktree_from_trace(t, &o, &err);
    assert_non_null(f);
    check_tree(f);
    for (uint32_t c = f->nodes[0].first_child; c != PF_NONE; c = f->nodes[c].next_sibling)
        assert_int_not_equal(f->info[c].code, PF_NONE);     /* no thread frames */
    pf_stacktree *g = pf_stacktree_from_trace(t, NULL, &err);
    assert_non_null(g);
    assert_true(f->nodes[0].total == g->nodes[0].total);
    pf_stacktree_free(g);
    pf_stacktree_free(f);
    pf_trace_free(t);
}

/* Counts whose sum would overflow are refused with the line that overflows, never
 * summed into infinity (which rendered negative widths, and converting it to an
 * integer was undefined behaviour). */
static void test_stacktree_count_overflow_names_the_line(void **state)
{
    (void)state;
    const char *cases[] = {
        "a;b 1e308\na;c 1e308\n",
        "a;b 8e307\na;c 8e307\n",
        "x 1\na;b 18446744073709551615\na;c 1e308\n",
        "x 1\ny 2 5e307\nz 3 5e307\n",
    };
    const unsigned long line[] = { 1, 2, 3, 3 };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        pf_error err;
        pf_error_clear(&err);
        assert_null(pf_stacktree_from_collapsed(cases[i], strlen(cases[i]), NULL, NULL, &err));
        assert_int_equal(err.code, PF_ELIMIT);
        char want[32];
        snprintf(want, sizeof want, "at line %lu", line[i]);
        if (strstr(err.msg, want) == NULL)
            fail_msg("case %zu: '%s' lacks '%s'", i, err.msg, want);
    }
    /* --factor can overflow a count that is fine on its own */
    pf_stack_opts o;
    pf_stack_opts_init(&o);
    o.factor = 1e300;
    pf_error err;
    assert_null(pf_stacktree_from_collapsed("a 1\nb 1e10\n", 11, &o, NULL, &err));
    assert_int_equal(err.code, PF_ELIMIT);
    assert_non_null(strstr(err.msg, "at line 2"));
    /* big counts that fit are kept */
    const char *big = "a 18446744073709551615\nb 1\n";
    pf_stacktree *f = pf_stacktree_from_collapsed(big, strlen(big), NULL, NULL, &err);
    assert_non_null(f);
    assert_true(f->nodes[0].total == 18446744073709551616.0);
    pf_stacktree_free(f);
    /* adding stacks one by one checks the same */
    f = pf_stacktree_new(NULL);
    assert_int_equal(pf_stacktree_add(f, "a", 1, 8e307, 0, 0, &err), 0);
    assert_int_equal(pf_stacktree_add(f, "b", 1, 8e307, 0, 0, &err), -1);
    assert_int_equal(err.code, PF_ELIMIT);
    assert_int_equal(pf_stacktree_finish(f, &err), 0);
    assert_true(isfinite(f->nodes[0].total));
    pf_stacktree_free(f);
}

/* A NUL byte is binary data: a line-numbered error, whatever the chunking. */
static void test_stacktree_nul_byte_is_a_line_numbered_error(void **state)
{
    (void)state;
    static const char text[] = "a;b 1\nc 2\nd\0e 3\nf 4\n";
    for (size_t chunk = 1; chunk <= 24; chunk += 3) {
        FILE *in = fmemopen((void *)text, sizeof text - 1, "rb");
        assert_non_null(in);
        pf_error err;
        pf_error_clear(&err);
        assert_null(load_file_(in, NULL, &err, chunk));
        fclose(in);
        assert_int_equal(err.code, PF_EPARSE);
        assert_string_equal(err.msg, "NUL byte in line 3 (binary data, not collapsed stacks); "
                            "accepted are " PF_INPUT_KINDS_ACCEPTED);
    }
    pf_error err;
    assert_null(pf_stacktree_from_collapsed("\0", 1, NULL, NULL, &err));
    assert_string_equal(err.msg, "NUL byte in line 1 (binary data, not collapsed stacks); "
                 "accepted are " PF_INPUT_KINDS_ACCEPTED);
}

/* ---- frame names ------------------------------------------------------------------------ */

static const char *fname(const pf_trace *t, uint32_t code, uint32_t line, int full)
{
    static char buf[512];
    size_t n = pf_frame_name(t, code, line, full, buf, sizeof buf);
    assert_int_equal(n, strlen(buf));
    return buf;
}

static void test_frame_name_shortens_paths_like_users_expect(void **state)
{
    (void)state;
    pf_trace *t = make_trace();
    struct {
        const char *file, *want;
    } cases[] = {
        /* the longest sys.path entry wins over the project folder */
        { "/home/u/proj/.venv/lib/python3.11/site-packages/numpy/core/x.py", "numpy/core/x.py" },
        { "/usr/lib/python3.11/json/decoder.py", "json/decoder.py" },
        { "/usr/lib/python3.11/lib-dynload/x.so", "x.so" },
        { "/home/u/proj/pkg/mod.py", "pkg/mod.py" },
        /* a folder name that merely starts like a path entry does not match */
        { "/usr/lib/python3.11x/foo.py", "/usr/lib/python3.11x/foo.py" },
        { "/opt/other/thing.py", "/opt/other/thing.py" },
        { "<frozen importlib._bootstrap>", "<frozen importlib._bootstrap>" },
        { "relative/x.py", "relative/x.py" },
        { "", "<unknown>" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint32_t c = add_code(t, cases[i].file, "f", "Cls.f", 42, 0);
        char want[512];
        snprintf(want, sizeof want, "Cls.f (%s:42)", cases[i].want);
        assert_string_equal(fname(t, c, 42, 0), want);
        /* full_paths keeps it whole */
        snprintf(want, sizeof want, "Cls.f (%s:42)", cases[i].file[0] ? cases[i].file : "<unknown>");
        assert_string_equal(fname(t, c, 42, 1), want);
    }
    pf_trace_free(t);
}

static void test_frame_name_uses_cwd_and_script_folder(void **state)
{
    (void)state;
    pf_trace *t = pf_trace_new();
    pf_meta_set_str(&t->meta.cwd, "/work/dir/");
    pf_meta_push_str(&t->meta.argv, &t->meta.argc, "/srv/tools/run.py");
    pf_meta_push_str(&t->meta.path, &t->meta.npath, "");   /* "" = cwd */
    uint32_t a = add_code(t, "/srv/tools/helpers/h.py", "h", "h", 1, 0);
    uint32_t b = add_code(t, "/work/dir/x.py", "x", "x", 2, 0);
    uint32_t c = add_code(t, "/", "r", "r", 3, 0);
    assert_string_equal(fname(t, a, 1, 0), "h (helpers/h.py:1)");
    assert_string_equal(fname(t, b, 2, 0), "x (x.py:2)");
    assert_string_equal(fname(t, c, 3, 0), "r (/:3)");
    pf_trace_free(t);

    /* A relative script path: its folder under cwd. */
    t = pf_trace_new();
    pf_meta_set_str(&t->meta.cwd, "/w");
    pf_meta_push_str(&t->meta.argv, &t->meta.argc, "scripts/run.py");
    a = add_code(t, "/w/scripts/util.py", "u", "u", 4, 0);
    b = add_code(t, "/w/other.py", "o", "o", 5, 0);
    assert_string_equal(fname(t, a, 4, 0), "u (util.py:4)");
    assert_string_equal(fname(t, b, 5, 0), "o (other.py:5)");
    pf_trace_free(t);
}

static void test_frame_name_natives_unknown_lines_and_truncation(void **state)
{
    (void)state;
    pf_trace *t = make_trace();
    assert_string_equal(fname(t, 3, 99, 0), "<built-in method builtins.len>");
    assert_string_equal(fname(t, 1, 0, 0), "main (app.py)");
    assert_string_equal(fname(t, 1, 4294967295u, 0), "main (app.py:4294967295)");
    assert_string_equal(fname(t, 77, 1, 0), "?");
    /* qualname missing: falls back to the name */
    uint32_t c = add_code(t, "/home/u/proj/app.py", "plain", "", 3, 0);
    assert_string_equal(fname(t, c, 3, 0), "plain (app.py:3)");
    /* snprintf-like truncation */
    char small[8];
    memset(small, 'X', sizeof small);
    size_t n = pf_frame_name(t, 1, 5, 0, small, sizeof small);
    assert_int_equal(n, strlen("main (app.py:5)"));
    assert_string_equal(small, "main (a");
    assert_int_equal(pf_frame_name(t, 1, 5, 0, NULL, 0), n);
    pf_trace_free(t);
}

/* ---- several inputs in one tree (diff's builders) ----------------------------------------- */

/* A random trace of 300 calls with fractional self times (in microseconds). */
static pf_trace *random_trace(unsigned seed)
{
    pf_trace *t = pf_trace_new();
    t->meta.modes = PF_MODE_CALLS | PF_MODE_MEMORY;
    pf_thread th0 = { 1, S(t, "MainThread") }, th1 = { 2, S(t, "worker") };
    pf_trace_add_thread(t, &th0);
    pf_trace_add_thread(t, &th1);
    uint32_t codes[8];
    for (int i = 0; i < 8; i++) {
        char name[16];
        snprintf(name, sizeof name, "f%d", i);
        codes[i] = add_code(t, "/p/m.py", name, name, (uint32_t)(10 * i + 1), 0);
    }
    for (uint32_t i = 0; i < 300; i++) {
        seed = seed * 1103515245u + 12345u;
        uint32_t parent = i == 0 || seed % 17 == 0 ? PF_NONE : (seed >> 8) % i;
        seed = seed * 1103515245u + 12345u;
        uint64_t self = (seed >> 5) % 3000;
        uint32_t th = parent == PF_NONE ? (seed >> 2) % 2 : t->nodes[parent].thread;
        uint32_t n = add_node(t, parent, th, codes[(seed >> 3) % 8], (seed >> 12) % 50 + 1, 1,
                              self, self);
        *pf_trace_node_mem_at(t, n) = (pf_mem){ (seed >> 4) % 999, 1, 0, 0, 0 };
    }
    return t;
}

/* The exact collapsed text of trace t's tree, made by pf_stacktree_from_trace, or
 * added to a new tree's column `column` by pf_stacktree_add_trace. */
static char *trace_text(const pf_trace *t, enum pf_metric m, int column)
{
    pf_stack_opts o;
    pf_stack_opts_init(&o);
    o.metric = m;
    pf_error err;
    pf_stacktree *f;
    if (column == 0) {
        f = pf_stacktree_from_trace(t, &o, &err);
    } else {
        f = pf_stacktree_new(&o);
        assert_non_null(f);
        if (pf_stacktree_add_trace(f, t, column, &err) < 0)
            fail_msg("add_trace: %s", err.msg);
        assert_int_equal(pf_stacktree_finish(f, &err), 0);
    }
    assert_non_null(f);
    check_tree(f);
    char *out = collapsed_exact(f);
    pf_stacktree_free(f);
    return out;
}

static void test_stacktree_add_trace_gives_the_frames_and_values_of_from_trace(void **state)
{
    (void)state;
    pf_trace *ts[4] = { make_trace(), make_two_process_trace(), random_trace(7), random_trace(99) };
    enum pf_metric ms[3] = { PF_METRIC_SELF_TIME, PF_METRIC_CALLS, PF_METRIC_ALLOC_BYTES };
    for (int k = 0; k < 4; k++)
        for (int m = 0; m < 3; m++) {
            if (ms[m] == PF_METRIC_ALLOC_BYTES && !(ts[k]->meta.modes & PF_MODE_MEMORY))
                continue;
            char *want = trace_text(ts[k], ms[m], 0), *got = trace_text(ts[k], ms[m], 1);
            assert_string_equal(got, want);
            free(got);
            /* in the second column: every line "stack 0 value" */
            got = trace_text(ts[k], ms[m], 2);
            char *w = want, *g = got;
            while (*w) {
                char *wl = strchr(w, '\n'), *gl = strchr(g, '\n');
                size_t sl = (size_t)((char *)memrchr(w, ' ', (size_t)(wl - w)) - w);
                assert_memory_equal(g, w, sl);
                assert_memory_equal(g + sl, " 0", 2);
                assert_memory_equal(g + sl + 2, w + sl, (size_t)(wl - w) - sl);
                w = wl + 1;
                g = gl + 1;
            }
            assert_int_equal(*g, '\0');
            free(got);
            free(want);
        }
    /* two traces in one tree: frames they share merge, each keeps its column */
    pf_stack_opts o;
    pf_stack_opts_init(&o);
    o.metric = PF_METRIC_CALLS;
    pf_stacktree *f = pf_stacktree_new(&o);
    pf_error err;
    assert_int_equal(pf_stacktree_add_trace(f, ts[0], 1, &err), 0);
    assert_int_equal(pf_stacktree_add_trace(f, ts[0], 2, &err), 0);
    assert_int_equal(pf_stacktree_finish(f, &err), 0);
    check_tree(f);
    assert_true(f->has_count2);
    for (uint32_t i = 0; i < f->nnodes; i++)
        assert_true(f->nodes[i].self == pf_stacktree_self2(f, i));
    /* what cannot be: a reversed tree, a column 3, memory without memory data */
    assert_int_equal(pf_stacktree_add_trace(f, ts[0], 3, &err), -1);
    assert_int_equal(err.code, PF_EUSAGE);
    pf_stacktree_free(f);
    o.metric = PF_METRIC_PEAK_BYTES;
    f = pf_stacktree_new(&o);
    assert_int_equal(pf_stacktree_add_trace(f, ts[1], 1, &err), -1);
    assert_int_equal(err.code, PF_EUSAGE);
    pf_stacktree_free(f);
    o.metric = PF_METRIC_CALLS;
    o.reverse = 1;
    f = pf_stacktree_new(&o);
    assert_int_equal(pf_stacktree_add_trace(f, ts[0], 1, &err), -1);
    assert_int_equal(err.code, PF_EUSAGE);
    pf_stacktree_free(f);
    for (int k = 0; k < 4; k++)
        pf_trace_free(ts[k]);
}

/* Loads text into t's column through the input reader. */
static long load_column(pf_stacktree *t, const char *text, int column, pf_error *err)
{
    pf_input *in = pf_input_open_mem(text, strlen(text), err);
    assert_non_null(in);
    long n = pf_stacktree_load_input_column(t, in, 5, column, NULL, err);
    pf_input_free(in);
    return n;
}

static void test_stacktree_load_column_puts_counts_in_one_column(void **state)
{
    (void)state;
    pf_error err;
    pf_stacktree *t = pf_stacktree_new(NULL);
    assert_int_equal(load_column(t, "a;b 5\na;c 1\n", 1, &err), 2);
    assert_int_equal(load_column(t, "a;b 2\nd 7.5\n", 2, &err), 2);
    assert_int_equal(pf_stacktree_finish(t, &err), 0);
    check_tree(t);
    char *out = collapsed_exact(t);
    assert_string_equal(out, "a;b 5 2\na;c 1 0\nd 0 7.5\n");
    free(out);
    /* one input's line with two counts is refused, with its number */
    assert_int_equal(load_column(t, "x 1\ny 1 2\n", 1, &err), -1);
    assert_int_equal(err.code, PF_EPARSE);
    assert_non_null(strstr(err.msg, "line 2 has two counts"));
    pf_stacktree_free(t);
    /* column 0: every line holds before and after */
    t = pf_stacktree_new(NULL);
    assert_int_equal(load_column(t, "a;b 5 6\na;c 0 1\n", 0, &err), 2);
    assert_int_equal(pf_stacktree_finish(t, &err), 0);
    out = collapsed_exact(t);
    assert_string_equal(out, "a;b 5 6\na;c 0 1\n");
    free(out);
    assert_int_equal(load_column(t, "a;b 5 6\na;c 1\n", 0, &err), -1);
    assert_int_equal(err.code, PF_EPARSE);
    assert_non_null(strstr(err.msg, "line 2 has one count"));
    assert_int_equal(load_column(t, "a 1\n", 4, &err), -1);
    assert_int_equal(err.code, PF_EUSAGE);
    pf_stacktree_free(t);
}

static void test_stacktree_tracks_names_and_visits_of_one_input(void **state)
{
    (void)state;
    pf_error err;
    pf_stacktree *t = pf_stacktree_new(NULL);
    assert_int_equal(pf_stacktree_track_visits_(t, 1), 0);
    pf_stacktree_track_names(t, 1);
    assert_int_equal(load_column(t, "a;b 1\na;c 1\nd 1\n", 1, &err), 3);
    pf_stacktree_track_names(t, 0);
    assert_int_equal(pf_stacktree_track_visits_(t, 0), 0);
    uint32_t nv;
    const uint32_t *v = pf_stacktree_visits_(t, &nv);
    /* an empty tree: the ranks are the creation order */
    assert_int_equal(nv, 4);
    for (uint32_t i = 1; i < t->nnodes; i++)
        assert_int_equal(v[i], i - 1);
    /* a second input reaches some of them, in its own order, and makes one */
    assert_int_equal(pf_stacktree_track_visits_(t, 1), 0);
    pf_stacktree_track_names(t, 1);
    assert_int_equal(load_column(t, "d 1\ne;b 1\na;b 2\n", 2, &err), 3);
    pf_stacktree_track_names(t, 0);
    assert_int_equal(pf_stacktree_track_visits_(t, 0), 0);
    v = pf_stacktree_visits_(t, &nv);
    assert_int_equal(nv, 5);
    uint32_t a = pf_stacktree_intern(t, "a", 1), c = pf_stacktree_intern(t, "c", 1);
    assert_int_equal(v[4], 0);                  /* d */
    assert_int_equal(v[5], 1);                  /* e */
    assert_int_equal(v[6], 2);                  /* e;b */
    assert_int_equal(v[1], 3);                  /* a */
    assert_int_equal(v[2], 4);                  /* a;b */
    assert_int_equal(v[3], PF_NONE);            /* a;c */
    assert_true(pf_stacktree_name_used(t, a) && !pf_stacktree_name_used(t, c));
    /* reordered as the second input made them, a;c last: the same tree */
    assert_int_equal(pf_stacktree_finish(t, &err), 0);
    char *before = collapsed_exact(t);
    uint32_t to[7] = { 0, 4, 5, 6, 1, 2, 3 };
    assert_int_equal(pf_stacktree_permute_(t, to, 7, 0), 0);
    assert_int_equal(pf_stacktree_finish(t, &err), 0);
    check_tree(t);
    char *after = collapsed_exact(t);
    assert_string_equal(after, before);
    assert_string_equal(name_of(t, 1), "d");
    free(after);
    /* dropping a leaf; lookups work again after (the index is rebuilt) */
    uint32_t to2[7] = { 0, 1, 2, 3, 4, 5, PF_NONE };
    assert_int_equal(pf_stacktree_permute_(t, to2, 6, 5), 0);
    assert_int_equal(pf_stacktree_finish(t, &err), 0);
    check_tree(t);
    assert_int_equal(pf_stacktree_child_id(t, 0, a, &err), 4);
    assert_int_equal(t->nnodes, 6);
    free(before);
    pf_stacktree_free(t);
}

/* ---- out of memory ------------------------------------------------------------------------ */

/* Runs op with the n-th allocation failing, n = 0, 1, 2, ... until it succeeds; every
 * failure must be PF_ENOMEM and leak nothing.  Returns the number of failing runs. */
typedef int (*op_fn)(void *ctx, pf_error *err);

static int fault_loop(op_fn op, void *ctx)
{
    long base = pf_alloc_live_blocks();
    for (long n = 0;; n++) {
        pf_error err;
        pf_error_clear(&err);
        pf_alloc_fail_after(n);
        int rc = op(ctx, &err);
        long injected = pf_alloc_injected_failures();
        pf_alloc_fail_after(-1);
        if (rc == 0) {
            assert_int_equal(pf_alloc_live_blocks(), base);
            return (int)n;
        }
        assert_true(injected > 0);
        if (err.code != PF_ENOMEM)
            fail_msg("run %ld: expected PF_ENOMEM, got %s: %s", n, pf_error_name(err.code), err.msg);
        assert_int_equal(pf_alloc_live_blocks(), base);
        assert_true(n < 100000);
    }
}

struct text_ctx {
    const char *text;
    size_t len;
    const char *expected;
};

static int op_from_collapsed(void *ctx, pf_error *err)
{
    struct text_ctx *c = ctx;
    pf_stacktree *f = pf_stacktree_from_collapsed(c->text, c->len, NULL, NULL, err);
    if (f == NULL)
        return -1;
    pf_alloc_fail_after(-1);
    check_tree(f);
    char *out = collapsed_of(f);
    assert_string_equal(out, c->expected);
    free(out);
    pf_stacktree_free(f);
    return 0;
}

static int op_from_file(void *ctx, pf_error *err)
{
    struct text_ctx *c = ctx;
    FILE *in = tmpfile();
    fwrite(c->text, 1, c->len, in);
    rewind(in);
    pf_stacktree *f = load_file_(in, NULL, err, 7);
    fclose(in);
    if (f == NULL)
        return -1;
    pf_alloc_fail_after(-1);
    char *out = collapsed_of(f);
    assert_string_equal(out, c->expected);
    free(out);
    pf_stacktree_free(f);
    return 0;
}

struct write_ctx {
    pf_stacktree *f;
    const char *expected;
};

static int op_write(void *ctx, pf_error *err)
{
    struct write_ctx *c = ctx;
    FILE *out = tmpfile();
    int rc = pf_stacktree_write_collapsed(c->f, out, PF_COUNTS_AUTO, err);
    if (rc == 0) {
        long n = ftell(out);
        rewind(out);
        char *s = malloc((size_t)n + 1);
        assert_int_equal(fread(s, 1, (size_t)n, out), (size_t)n);
        s[n] = '\0';
        assert_string_equal(s, c->expected);
        free(s);
    }
    fclose(out);
    return rc;
}

struct add_ctx {
    const char *expected;
};

static int op_add_stacks(void *ctx, pf_error *err)
{
    struct add_ctx *c = ctx;
    pf_stacktree *f = pf_stacktree_new(NULL);
    if (f == NULL)
        return pf_error_set(err, PF_ENOMEM, NULL);
    const char *stacks[] = { "a;b;c", "a;b", "x;y;z;w", "a;q" };
    for (int i = 0; i < 4; i++) {
        if (pf_stacktree_add(f, stacks[i], strlen(stacks[i]), i + 1, 0, 0, err) < 0 ||
            pf_stacktree_finish(f, err) < 0) {
            /* A failed add or finish leaves a tree that frees cleanly. */
            pf_stacktree_free(f);
            return -1;
        }
    }
    pf_alloc_fail_after(-1);
    char *out = collapsed_of(f);
    assert_string_equal(out, c->expected);
    free(out);
    pf_stacktree_free(f);
    return 0;
}

struct trace_ctx {
    const pf_trace *t;
    pf_stack_opts o;
    const char *expected;
};

static int op_from_trace(void *ctx, pf_error *err)
{
    struct trace_ctx *c = ctx;
    pf_stacktree *f = pf_stacktree_from_trace(c->t, &c->o, err);
    if (f == NULL)
        return -1;
    pf_alloc_fail_after(-1);
    char *out = collapsed_of(f);
    assert_string_equal(out, c->expected);
    free(out);
    pf_stacktree_free(f);
    return 0;
}

static void test_flame_out_of_memory_is_reported_and_leaks_nothing(void **state)
{
    (void)state;
    size_t len, elen;
    char *in = slurp(DATA "perf.folded", &len);
    char *expected = slurp(DATA "perf.expected", &elen);
    struct text_ctx tc = { in, len, expected };
    assert_true(fault_loop(op_from_collapsed, &tc) > 5);
    assert_true(fault_loop(op_from_file, &tc) > 5);

    pf_stacktree *f = from_text(in);
    struct write_ctx wc = { f, expected };
    assert_true(fault_loop(op_write, &wc) > 3);
    pf_stacktree_free(f);

    struct add_ctx ac = { "a;b 2\na;b;c 1\na;q 4\nx;y;z;w 3\n" };
    assert_true(fault_loop(op_add_stacks, &ac) > 3);
    free(in);
    free(expected);

    pf_trace *t = make_trace();
    for (int g = 0; g < 2; g++) {
        struct trace_ctx xc;
        xc.t = t;
        pf_stack_opts_init(&xc.o);
        xc.o.granularity = (enum pf_granularity)g;
        pf_stacktree *ref = pf_stacktree_from_trace(t, &xc.o, NULL);
        char *want = collapsed_of(ref);
        xc.expected = want;
        assert_true(fault_loop(op_from_trace, &xc) > 5);
        free(want);
        pf_stacktree_free(ref);
    }
    pf_trace_free(t);

    t = make_two_process_trace();
    struct trace_ctx pc;
    pc.t = t;
    pf_stack_opts_init(&pc.o);
    pf_stacktree *ref = pf_stacktree_from_trace(t, &pc.o, NULL);
    char *want = collapsed_of(ref);
    pc.expected = want;
    assert_true(fault_loop(op_from_trace, &pc) > 5);
    free(want);
    pf_stacktree_free(ref);
    pf_trace_free(t);
}

struct add_trace_ctx {
    const pf_trace *t;
    const char *expected;
};

static int op_add_trace(void *ctx, pf_error *err)
{
    struct add_trace_ctx *c = ctx;
    pf_stacktree *f = pf_stacktree_new(NULL);
    if (f == NULL)
        return pf_error_set(err, PF_ENOMEM, NULL);
    if (pf_stacktree_add_trace(f, c->t, 2, err) < 0 || pf_stacktree_finish(f, err) < 0) {
        pf_stacktree_free(f);
        return -1;
    }
    pf_alloc_fail_after(-1);
    char *out = collapsed_of(f);
    assert_string_equal(out, c->expected);
    free(out);
    pf_stacktree_free(f);
    return 0;
}

static void test_stacktree_add_trace_out_of_memory_leaks_nothing(void **state)
{
    (void)state;
    pf_trace *t = make_two_process_trace();
    struct add_trace_ctx c = { t, NULL };
    pf_stacktree *ref = pf_stacktree_new(NULL);
    assert_int_equal(pf_stacktree_add_trace(ref, t, 2, NULL), 0);
    assert_int_equal(pf_stacktree_finish(ref, NULL), 0);
    char *want = collapsed_of(ref);
    c.expected = want;
    assert_true(fault_loop(op_add_trace, &c) > 5);
    free(want);
    pf_stacktree_free(ref);
    pf_trace_free(t);
}

static void test_flame_free_is_null_safe(void **state)
{
    (void)state;
    pf_stacktree_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_flame_merges_stacks_and_sums_counts),
        cmocka_unit_test(test_flame_same_name_under_different_parents_stays_apart),
        cmocka_unit_test(test_flame_keeps_empty_frames),
        cmocka_unit_test(test_flame_differential_columns),
        cmocka_unit_test(test_flame_empty_input_is_eempty),
        cmocka_unit_test(test_flame_bad_sample_lenient_reports_line_numbers),
        cmocka_unit_test(test_flame_bad_sample_strict_fails_with_first_line),
        cmocka_unit_test(test_flame_sample_files_parse_to_expected_trees),
        cmocka_unit_test(test_flame_perf_sample_keeps_frames_with_spaces_and_brackets),
        cmocka_unit_test(test_flame_pyspy_sample_merges_repeated_stacks),
        cmocka_unit_test(test_flame_output_is_deterministic_and_independent_of_input_order),
        cmocka_unit_test(test_flame_round_trip_collapsed_flame_collapsed),
        cmocka_unit_test(test_flame_add_stack_keeps_totals_and_links_current),
        cmocka_unit_test(test_flame_sort_orders_siblings_by_name_bytes),
        cmocka_unit_test(test_flame_output_is_sorted_by_the_bytes_it_writes),
        cmocka_unit_test(test_flame_deep_stack_is_written_without_recursion),
        cmocka_unit_test(test_flame_from_stream_matches_buffer_and_counts_lines_across_chunks),
        cmocka_unit_test(test_flame_from_stream_any_chunk_size_gives_the_same_tree),
        cmocka_unit_test(test_flame_writer_reports_io_errors),
        cmocka_unit_test(test_flame_trace_function_granularity_merges_call_sites),
        cmocka_unit_test(test_flame_trace_line_granularity_names_call_sites),
        cmocka_unit_test(test_flame_trace_time_unit_nanoseconds_gives_integers),
        cmocka_unit_test(test_flame_trace_output_is_carry_rounded_integers),
        cmocka_unit_test(test_flame_carry_rounding_keeps_lines_within_one_and_the_total),
        cmocka_unit_test(test_flame_trace_each_metric),
        cmocka_unit_test(test_flame_trace_memory_metric_needs_memory_mode),
        cmocka_unit_test(test_flame_trace_without_calls_is_eempty),
        cmocka_unit_test(test_flame_trace_bad_references_are_ecorrupt),
        cmocka_unit_test(test_flame_trace_thread_names_are_made_distinct),
        cmocka_unit_test(test_flame_writer_replaces_separators_in_names),
        cmocka_unit_test(test_stacktree_reverse_of_trace_equals_reversed_stacks),
        cmocka_unit_test(test_stacktree_reverse_of_a_deep_chain_is_linear),
        cmocka_unit_test(test_stacktree_reverse_chart_keeps_first_path_order),
        cmocka_unit_test(test_stacktree_no_thread_roots_merges_threads),
        cmocka_unit_test(test_flame_trace_processes_are_roots_above_threads),
        cmocka_unit_test(test_flame_trace_one_process_has_no_process_frame),
        cmocka_unit_test(test_flame_trace_process_labels_are_made_distinct),
        cmocka_unit_test(test_stacktree_count_overflow_names_the_line),
        cmocka_unit_test(test_stacktree_nul_byte_is_a_line_numbered_error),
        cmocka_unit_test(test_frame_name_shortens_paths_like_users_expect),
        cmocka_unit_test(test_frame_name_uses_cwd_and_script_folder),
        cmocka_unit_test(test_frame_name_natives_unknown_lines_and_truncation),
        cmocka_unit_test(test_flame_out_of_memory_is_reported_and_leaks_nothing),
        cmocka_unit_test(test_stacktree_add_trace_gives_the_frames_and_values_of_from_trace),
        cmocka_unit_test(test_stacktree_load_column_puts_counts_in_one_column),
        cmocka_unit_test(test_stacktree_tracks_names_and_visits_of_one_input),
        cmocka_unit_test(test_stacktree_add_trace_out_of_memory_leaks_nothing),
        cmocka_unit_test(test_flame_free_is_null_safe),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
