/* test_svg.c: the SVG flame graph: the frame tree (merging, flame charts, --base,
 * --reverse), palettes, the writer (escaping, pruning, layout, determinism) checked by
 * parsing its output with libxml2, and `pyflame-c svg` as a process (options, exit
 * statuses, messages, inputs from other profilers, strict mode, empty input). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xpath.h>
#include <libxml/xpathInternals.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "formats/alloc.h"
#include "formats/units.h"
#include "render/palette.h"
#include "render/svg.h"

#define DATA "tests/data/svg/"

/* ---- helpers ---- */

static pf_stacktree *tree_with(const char *text, int chart, int reverse, const char *base,
                               pf_error *err_out)
{
    pf_stack_opts so;
    pf_stack_opts_init(&so);
    so.order = chart ? PF_ORDER_CHART : PF_ORDER_NAME;
    so.reverse = reverse;
    so.base = base;
    pf_stacktree *t = pf_stacktree_new(&so);
    assert_non_null(t);
    pf_error err;
    pf_error_clear(&err);
    const char *p = text;
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        /* "stack count [count2]" */
        char line[4096];
        assert_true(n < sizeof line);
        memcpy(line, p, n);
        line[n] = '\0';
        char *sp = strrchr(line, ' ');
        assert_non_null(sp);
        double c2 = 0, c = atof(sp + 1);
        int has2 = 0;
        *sp = '\0';
        char *sp2 = strrchr(line, ' ');
        if (sp2 && strspn(sp2 + 1, "0123456789.") == strlen(sp2 + 1)) {
            c2 = c;
            has2 = 1;
            c = atof(sp2 + 1);
            *sp2 = '\0';
        }
        assert_int_equal(pf_stacktree_add(t, line, strlen(line), c, c2, has2, &err), 0);
        p = nl ? nl + 1 : p + n;
    }
    if (pf_stacktree_finish(t, &err) < 0) {
        *err_out = err;
        pf_stacktree_free(t);
        return NULL;
    }
    return t;
}

static pf_stacktree *tree_of(const char *text, int chart, int reverse)
{
    pf_error err;
    pf_stacktree *t = tree_with(text, chart, reverse, NULL, &err);
    assert_non_null(t);
    return t;
}

/* Renders to a malloc'd, NUL-terminated string. */
static char *render(const pf_stacktree *t, const pf_svg_opts *o, size_t *len)
{
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    assert_non_null(f);
    pf_error err;
    pf_error_clear(&err);
    int rc = pf_svg_write(t, o, f, &err);
    fclose(f);
    if (rc != 0)
        fprintf(stderr, "render failed: %s\n", err.msg);
    assert_int_equal(rc, 0);
    if (len)
        *len = n;
    return buf;
}

static xmlDocPtr parse(const char *svg)
{
    xmlDocPtr doc = xmlReadMemory(svg, (int)strlen(svg), "t.svg", NULL, XML_PARSE_NONET);
    assert_non_null(doc);
    return doc;
}

static int xpath_count(xmlDocPtr doc, const char *expr)
{
    xmlXPathContextPtr ctx = xmlXPathNewContext(doc);
    xmlXPathRegisterNs(ctx, BAD_CAST "s", BAD_CAST "http://www.w3.org/2000/svg");
    xmlXPathObjectPtr r = xmlXPathEvalExpression(BAD_CAST expr, ctx);
    assert_non_null(r);
    int n = r->nodesetval ? r->nodesetval->nodeNr : 0;
    xmlXPathFreeObject(r);
    xmlXPathFreeContext(ctx);
    return n;
}

/* Text of the first node matching expr (caller frees), or NULL. */
static char *xpath_text(xmlDocPtr doc, const char *expr)
{
    xmlXPathContextPtr ctx = xmlXPathNewContext(doc);
    xmlXPathRegisterNs(ctx, BAD_CAST "s", BAD_CAST "http://www.w3.org/2000/svg");
    xmlXPathObjectPtr r = xmlXPathEvalExpression(BAD_CAST expr, ctx);
    char *out = NULL;
    if (r && r->nodesetval && r->nodesetval->nodeNr > 0) {
        xmlChar *c = xmlNodeGetContent(r->nodesetval->nodeTab[0]);
        out = strdup((const char *)c);
        xmlFree(c);
    }
    xmlXPathFreeObject(r);
    xmlXPathFreeContext(ctx);
    return out;
}

/* Runs build/pyflame-c svg ARGS; stdout to *out (if out), stderr to *errtxt. */
static char outbuf[1 << 20], errbuf[65536];
static char out_path[64], err_path[64];   /* per process: asan and plain runs may overlap */
static int run(const char *args)
{
    char cmd[4096];
    snprintf(out_path, sizeof out_path, "/tmp/pf_test_svg.%d.out", (int)getpid());
    snprintf(err_path, sizeof err_path, "/tmp/pf_test_svg.%d.err", (int)getpid());
    snprintf(cmd, sizeof cmd, "%s/pyflame-c svg %s >%s 2>%s", PF_BUILD_DIR, args, out_path, err_path);
    int st = system(cmd);
    assert_true(WIFEXITED(st));
    FILE *f = fopen(out_path, "rb");
    size_t n = fread(outbuf, 1, sizeof outbuf - 1, f);
    outbuf[n] = '\0';
    fclose(f);
    f = fopen(err_path, "rb");
    n = fread(errbuf, 1, sizeof errbuf - 1, f);
    errbuf[n] = '\0';
    fclose(f);
    unlink(out_path);
    unlink(err_path);
    return WEXITSTATUS(st);
}

/* A scratch path private to this process: tp("x") = "/tmp/pf_test_svg.PID.x".
 * Four rotating buffers, so a few can be used in one expression. */
static const char *tp(const char *name)
{
    static char bufs[4][128];
    static int next;
    char *b = bufs[next++ & 3];
    snprintf(b, sizeof bufs[0], "/tmp/pf_test_svg.%d.%s", (int)getpid(), name);
    return b;
}

/* run() with printf-style arguments. */
static int runf(const char *fmt, ...)
{
    char args[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    return run(args);
}

static void write_file(const char *path, const char *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    fclose(f);
}

static uint32_t child_named(const pf_stacktree *t, uint32_t parent, const char *name)
{
    for (uint32_t c = t->nodes[parent].first_child; c != PF_NONE; c = t->nodes[c].next_sibling)
        if (strcmp(pf_strtab_get(t->names, t->nodes[c].name, NULL), name) == 0)
            return c;
    return PF_NONE;
}

static int nkids(const pf_stacktree *t, uint32_t n)
{
    int k = 0;
    for (uint32_t c = t->nodes[n].first_child; c != PF_NONE; c = t->nodes[c].next_sibling)
        k++;
    return k;
}

/* ---- the tree ---- */

static void test_svg_tree_merges_by_name_and_sums(void **state)
{
    (void)state;
    pf_stacktree *t = tree_of("a;b;c 3\na;b 2\nx 1\na;b;c 4\na;d 1", 0, 0);
    assert_true(t->nodes[0].total == 11);
    uint32_t a = child_named(t, 0, "a"), b = child_named(t, a, "b"), c = child_named(t, b, "c");
    assert_int_not_equal(c, PF_NONE);
    assert_true(t->nodes[a].total == 10);
    assert_true(t->nodes[b].total == 9 && t->nodes[b].self == 2);
    assert_true(t->nodes[c].total == 7 && t->nodes[c].self == 7);
    assert_int_equal(nkids(t, 0), 2);
    assert_int_equal(t->nnodes, 6);
    pf_stacktree_free(t);
}

static void test_svg_tree_merges_deep_stacks(void **state)
{
    (void)state;
    /* deeper than the 64 path hashes prefetched at once */
    char stack[2048] = "";
    for (int i = 0; i < 150; i++)
        snprintf(stack + strlen(stack), sizeof stack - strlen(stack), "%sf%d", i ? ";" : "", i);
    pf_stacktree *t = pf_stacktree_new(NULL);
    pf_error err;
    assert_int_equal(pf_stacktree_add(t, stack, strlen(stack), 1, 0, 0, &err), 0);
    assert_int_equal(pf_stacktree_add(t, "x", 1, 1, 0, 0, &err), 0);   /* forget the path */
    assert_int_equal(pf_stacktree_add(t, stack, strlen(stack), 2, 0, 0, &err), 0);
    assert_int_equal(pf_stacktree_finish(t, &err), 0);
    assert_int_equal(t->nnodes, 152);
    assert_true(t->nodes[150].total == 3 && t->nodes[150].self == 3);
    pf_stacktree_free(t);
}

static void test_svg_tree_keeps_empty_frames(void **state)
{
    (void)state;
    pf_stacktree *t = tree_of("a;;b 1", 0, 0);
    uint32_t a = child_named(t, 0, "a"), e = child_named(t, a, "");
    assert_int_not_equal(e, PF_NONE);
    assert_int_not_equal(child_named(t, e, "b"), PF_NONE);
    pf_stacktree_free(t);
}

static void test_svg_tree_flamechart_keeps_order(void **state)
{
    (void)state;
    pf_stacktree *chart = tree_of("a;b 1\nc 1\na;b 1\na;e 1", 1, 0);
    pf_stacktree *merged = tree_of("a;b 1\nc 1\na;b 1\na;e 1", 0, 0);
    assert_int_equal(nkids(chart, 0), 3);       /* a, c, a: time order */
    assert_int_equal(nkids(merged, 0), 2);      /* a, c */
    uint32_t first = chart->nodes[0].first_child;
    uint32_t last = first;
    while (chart->nodes[last].next_sibling != PF_NONE)
        last = chart->nodes[last].next_sibling;
    assert_string_equal(pf_strtab_get(chart->names, chart->nodes[first].name, NULL), "a");
    assert_string_equal(pf_strtab_get(chart->names, chart->nodes[last].name, NULL), "a");
    assert_true(chart->nodes[last].total == 2);  /* the consecutive stacks merged */
    assert_int_equal(nkids(chart, last), 2);     /* b then e */
    pf_stacktree_free(chart);
    pf_stacktree_free(merged);
}

static void test_svg_tree_reverse_puts_leaves_first(void **state)
{
    (void)state;
    pf_stacktree *t = tree_of("main;f;leaf 2\nmain;g;leaf 3", 0, 1);
    uint32_t leaf = child_named(t, 0, "leaf");
    assert_int_not_equal(leaf, PF_NONE);
    assert_int_equal(nkids(t, 0), 1);
    assert_true(t->nodes[leaf].total == 5);
    assert_int_not_equal(child_named(t, child_named(t, leaf, "g"), "main"), PF_NONE);
    assert_int_not_equal(child_named(t, child_named(t, leaf, "f"), "main"), PF_NONE);
    /* (the tree-level reversal of traces is tested in test_stacktree.c) */
    pf_stacktree_free(t);
}

static void test_svg_tree_base_reroots_and_merges(void **state)
{
    (void)state;
    const char *in = "x;main (app.py:3);f 5\ny;g 3\nmain (app.py:3);h 2\nz;main (app.py:3);main (app.py:3) 1";
    pf_error err;
    pf_error_clear(&err);
    pf_stacktree *b = tree_with(in, 0, 0, "main", &err);
    assert_non_null(b);
    assert_int_equal(nkids(b, 0), 1);
    uint32_t m = child_named(b, 0, "main (app.py:3)");
    assert_true(b->nodes[0].total == 8);
    assert_true(b->nodes[m].total == 8);
    assert_int_not_equal(child_named(b, m, "f"), PF_NONE);
    assert_int_not_equal(child_named(b, m, "h"), PF_NONE);
    /* nested match stays nested (the first match on a path is the new root) */
    assert_int_not_equal(child_named(b, m, "main (app.py:3)"), PF_NONE);
    assert_null(tree_with(in, 0, 0, "nosuch", &err));
    assert_int_equal(err.code, PF_EEMPTY);
    assert_true(pf_stack_name_matches("pkg/mod.py:main:12", 18, "main"));
    assert_false(pf_stack_name_matches("mainly", 6, "main"));
    pf_stacktree_free(b);
}

static void test_svg_tree_survives_allocation_failures(void **state)
{
    (void)state;
    const char *in = "a;b;c 3\na;b 2\nx;y;z;w 1\nq 4";
    long base = pf_alloc_live_blocks();
    for (long n = 0;; n++) {
        pf_alloc_fail_after(n);
        pf_error err;
        pf_error_clear(&err);
        pf_stack_opts so;
        pf_stack_opts_init(&so);
        so.base = "b";
        pf_stacktree *t = pf_stacktree_new(&so);
        int ok = t != NULL;
        for (const char *p = in; ok && *p;) {
            const char *nl = strchr(p, '\n');
            size_t len = nl ? (size_t)(nl - p) : strlen(p);
            const char *sp = memrchr(p, ' ', len);
            ok = pf_stacktree_add(t, p, (size_t)(sp - p), atof(sp + 1), 0, 0, &err) == 0;
            if (!ok)
                assert_int_equal(err.code, PF_ENOMEM);
            p = nl ? nl + 1 : p + len;
        }
        if (ok) {
            ok = pf_stacktree_finish(t, &err) == 0;   /* with the rebase at "b" */
            if (!ok)
                assert_int_equal(err.code, PF_ENOMEM);
        }
        pf_alloc_fail_after(-1);
        pf_stacktree_free(t);
        assert_int_equal(pf_alloc_live_blocks(), base);
        if (ok)
            break;
        assert_true(n < 1000);
    }
}

/* A 100,000-deep stack renders as flat frames: the document parses without
 * XML_PARSE_HUGE (libxml2 refuses nesting past 256), every frame is a direct child of
 * #frames, in pre-order, each one row above its parent. */
static void test_svg_deep_stack_frames_are_flat(void **state)
{
    (void)state;
    const int depth = 100000;
    size_t cap = (size_t)depth * 8 + 16, n = 0;
    char *stack = malloc(cap);
    for (int i = 0; i < depth; i++)
        n += (size_t)snprintf(stack + n, cap - n, "%sf%d", i ? ";" : "", i);
    pf_stacktree *t = pf_stacktree_new(NULL);
    pf_error err;
    assert_int_equal(pf_stacktree_add(t, stack, n, 3, 0, 0, &err), 0);
    assert_int_equal(pf_stacktree_finish(t, &err), 0);
    free(stack);
    pf_svg_opts o;
    pf_svg_opts_init(&o);
    o.frame_height = 2;
    char *svg = render(t, &o, NULL);
    xmlDocPtr doc = parse(svg);
    assert_int_equal(xpath_count(doc, "//s:g[@id='frames']/s:g"), depth + 1);
    assert_int_equal(xpath_count(doc, "//s:g[@id='frames']/s:g/s:g"), 0);
    /* pre-order: all, f0, f1, ...; each row 2 px above the one before */
    char *y0 = xpath_text(doc, "(//s:g[@id='frames']/s:g)[1]/s:rect/@y");
    char *y1 = xpath_text(doc, "(//s:g[@id='frames']/s:g)[2]/s:rect/@y");
    char *last = xpath_text(doc, "(//s:g[@id='frames']/s:g)[last()]/s:title");
    assert_true(atof(y0) - atof(y1) == 2);
    assert_non_null(strstr(last, "f99999\n"));
    free(y0);
    free(y1);
    free(last);
    xmlFreeDoc(doc);
    free(svg);
    pf_stacktree_free(t);
}

/* Units read as formats/units.c prints them (the HTML report's form): 1048575 bytes is
 * "1.00 MiB" (the SVG used to say "1024 KiB"), 123456.789 us is "123 ms". */
static void test_svg_units_match_the_report(void **state)
{
    (void)state;
    pf_stacktree *t = tree_of("a 1048575\nb 1", 0, 0);
    pf_svg_opts o;
    pf_svg_opts_init(&o);
    o.unit = PF_SVG_UNIT_BYTES;
    char *svg = render(t, &o, NULL);
    char want[PF_UNITS_BUFSZ + 8];
    pf_units_bytes(want, sizeof want - 8, 1048575, 0);
    assert_string_equal(want, "1.00 MiB");
    assert_non_null(strstr(svg, "a\n1.00 MiB ("));
    free(svg);
    pf_stacktree_free(t);
    t = tree_of("a 123456.789\nb 1", 0, 0);
    o.unit = PF_SVG_UNIT_US;
    svg = render(t, &o, NULL);
    assert_non_null(strstr(svg, "a\n123 ms ("));
    free(svg);
    pf_stacktree_free(t);
}

/* ---- palettes ---- */

static void test_svg_every_palette_is_deterministic(void **state)
{
    (void)state;
    const char *names[] = { "main", "java/lang/Thread.run_[j]", "do_syscall_64_[k]",
                            "std::vector<int>::push", "foo (/usr/lib/python3.11/json/decoder.py:12)",
                            "bar (/venv/lib/python3.11/site-packages/numpy/core.py:3)",
                            "<built-in method builtins.len>", "app.js:10", "" };
    for (int p = 0; p < PF_PALETTE_COUNT_; p++) {
        assert_int_equal(pf_palette_parse(pf_palette_name(p)), p);
        for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
            for (int h = 0; h < 2; h++) {
                uint32_t a = pf_palette_color(p, h, names[i], strlen(names[i]), NULL);
                uint32_t b = pf_palette_color(p, h, names[i], strlen(names[i]), NULL);
                assert_int_equal(a, b);
                assert_true(a <= 0xffffff);
            }
    }
    assert_int_equal(pf_palette_parse("nope"), -1);
    /* hot stays in its red-orange-yellow band */
    for (int i = 0; i < 50; i++) {
        char n[16];
        snprintf(n, sizeof n, "f%d", i);
        uint32_t c = pf_palette_color(PF_PAL_HOT, 0, n, strlen(n), NULL);
        assert_true((c >> 16) >= 205);
        assert_true((c & 0xff) <= 55);
    }
    /* --hash: similar names get similar colours; different names differ somewhere */
    uint32_t a = pf_palette_color(PF_PAL_HOT, 1, "parse_a", 7, NULL);
    uint32_t b = pf_palette_color(PF_PAL_HOT, 1, "parse_b", 7, NULL);
    int dg = (int)((a >> 8) & 0xff) - (int)((b >> 8) & 0xff);
    assert_true(dg < 20 && dg > -20);
    assert_int_not_equal(pf_palette_color(PF_PAL_HOT, 0, "alpha", 5, NULL),
                         pf_palette_color(PF_PAL_HOT, 0, "omega", 5, NULL));
}

static void test_svg_python_palette_kinds(void **state)
{
    (void)state;
#define KIND(n, f) pf_palette_python_kind(n, strlen(n), f)
    assert_int_equal(KIND("main (app.py:3)", NULL), PF_PY_USER);
    assert_int_equal(KIND("loads (/usr/lib/python3.11/json/__init__.py:299)", NULL), PF_PY_STDLIB);
    assert_int_equal(KIND("_find_and_load (<frozen importlib._bootstrap>:1165)", NULL), PF_PY_STDLIB);
    assert_int_equal(KIND("get (/v/lib/python3.11/site-packages/requests/api.py:73)", NULL), PF_PY_THIRD_PARTY);
    assert_int_equal(KIND("x (/usr/lib/python3/dist-packages/yaml/x.py:1)", NULL), PF_PY_THIRD_PARTY);
    assert_int_equal(KIND("<built-in method builtins.len>", NULL), PF_PY_BUILTIN);
    assert_int_equal(KIND("<method 'append' of 'list' objects>", NULL), PF_PY_BUILTIN);
    assert_int_equal(KIND("MainThread", NULL), PF_PY_OTHER);
    assert_int_equal(KIND("process 1234", NULL), PF_PY_OTHER);
    assert_int_equal(KIND("worker (4250)", NULL), PF_PY_OTHER);
    assert_int_equal(KIND("MainThread (4242)", NULL), PF_PY_OTHER);
    assert_int_equal(KIND("sleep (<built-in>:0)", NULL), PF_PY_BUILTIN);
    assert_int_equal(KIND("lib/python3.11/os.py:fspath:10", NULL), PF_PY_USER);
    assert_int_equal(KIND("/usr/lib/python3.11/os.py:fspath:10", NULL), PF_PY_STDLIB);
    /* a trace's full path wins over the shortened display name */
    assert_int_equal(KIND("decode (json/decoder.py:332)", "/usr/lib/python3.11/json/decoder.py"), PF_PY_STDLIB);
#undef KIND
    uint32_t user = pf_palette_color(PF_PAL_PYTHON, 0, "f (app.py:1)", 12, NULL);
    uint32_t std = pf_palette_color(PF_PAL_PYTHON, 0, "f (/usr/lib/python3.11/a.py:1)", 30, NULL);
    assert_true((user >> 16) > (user & 0xff));   /* warm */
    assert_true((std & 0xff) > (std >> 16));     /* cool */
}

static void test_svg_diff_colors(void **state)
{
    (void)state;
    assert_int_equal(pf_palette_diff_color(10, 10, 0), 0xff0000);
    assert_int_equal(pf_palette_diff_color(-10, 10, 0), 0x0000ff);
    assert_int_equal(pf_palette_diff_color(10, 10, 1), 0x0000ff);
    assert_int_equal(pf_palette_diff_color(0, 10, 0), 0xffffff);
}

/* ---- the writer ---- */

static void test_svg_output_is_valid_and_deterministic(void **state)
{
    (void)state;
    pf_stacktree *t = tree_of("main;parse;tokenize 120\nmain;parse 30\nmain;render;draw 200\nmain;render 20\nidle 5", 0, 0);
    pf_svg_opts o;
    pf_svg_opts_init(&o);
    size_t n1, n2;
    char *a = render(t, &o, &n1), *b = render(t, &o, &n2);
    assert_int_equal(n1, n2);
    assert_memory_equal(a, b, n1);
    xmlDocPtr doc = parse(a);
    assert_int_equal(xpath_count(doc, "//s:g[@id='frames']//s:g"), 7);
    assert_int_equal(xpath_count(doc, "//s:script"), 1);
    assert_int_equal(xpath_count(doc, "//s:style"), 1);
    /* self-contained: nothing fetched */
    assert_null(strstr(a, "xlink:href"));
    assert_null(strstr(a, "<script src"));
    assert_null(strstr(a, "@import"));
    char *title = xpath_text(doc, "//s:g[@v='200']/s:title");
    assert_non_null(title);
    assert_string_equal(title, "draw\n200 samples (53.33%)");
    free(title);
    /* children sorted by name: "idle" before "main" on the row above "all" */
    char *first = xpath_text(doc, "(//s:g[@id='frames']/s:g)[2]/s:title");   /* pre-order */
    assert_true(strncmp(first, "idle", 4) == 0);
    free(first);
    xmlFreeDoc(doc);
    free(a);
    free(b);
    pf_stacktree_free(t);
}

static void test_svg_hostile_names_are_escaped(void **state)
{
    (void)state;
    const char *evil[] = {
        "</script><script>alert(1)</script>",
        "a&b\"c'd<e>f",
        "ctl\x01\x02\x1b[31mred",
        "bad\xff\xfeutf8\xc3",
        "]]><script>alert(2)</script>",
        "<![CDATA[x]]>",
        "tab\there\rcr",
    };
    pf_stacktree *t = pf_stacktree_new(NULL);
    pf_error err;
    for (size_t i = 0; i < sizeof evil / sizeof evil[0]; i++) {
        char stack[256];
        snprintf(stack, sizeof stack, "root;%s", evil[i]);
        assert_int_equal(pf_stacktree_add(t, stack, strlen(stack), 10, 0, 0, &err), 0);
    }
    assert_int_equal(pf_stacktree_finish(t, &err), 0);
    pf_svg_opts o;
    pf_svg_opts_init(&o);
    o.title = "<script>alert(3)</script>";
    o.notes = "notes & </desc><script>x</script>";
    o.countname = "\"><script>";
    o.fonttype = "x\" onload=\"alert(4)";
    char *svg = render(t, &o, NULL);
    xmlDocPtr doc = parse(svg);
    assert_int_equal(xpath_count(doc, "//s:script"), 1);
    assert_int_equal(xpath_count(doc, "//*[local-name()='script']"), 1);
    assert_int_equal(xpath_count(doc, "//@onload"), 0);
    char *s = xpath_text(doc, "//s:title[starts-with(., '</script>')]");
    assert_non_null(s);
    assert_true(strncmp(s, "</script><script>alert(1)</script>\n", 35) == 0);
    free(s);
    s = xpath_text(doc, "//s:title[starts-with(., 'a&b')]");
    assert_non_null(s);
    assert_true(strncmp(s, "a&b\"c'd<e>f\n", 12) == 0);
    free(s);
    /* control characters and invalid UTF-8 became U+FFFD */
    s = xpath_text(doc, "//s:title[starts-with(., 'ctl')]");
    assert_non_null(s);
    assert_true(strncmp(s, "ctl\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd[31mred\n", 20) == 0);
    free(s);
    s = xpath_text(doc, "//s:title[starts-with(., 'bad')]");
    assert_non_null(s);
    assert_true(strncmp(s, "bad\xef\xbf\xbd\xef\xbf\xbdutf8\xef\xbf\xbd\n", 17) == 0);
    free(s);
    s = xpath_text(doc, "//s:title[starts-with(., ']]>')]");
    assert_non_null(s);
    free(s);
    s = xpath_text(doc, "//s:text[@id='title']");
    assert_string_equal(s, "<script>alert(3)</script>");
    free(s);
    s = xpath_text(doc, "//s:desc[@id='notes']");
    assert_string_equal(s, "notes & </desc><script>x</script>");
    free(s);
    xmlFreeDoc(doc);
    free(svg);
    pf_stacktree_free(t);
}

/* Two processes, each with a MainThread; the child's command is hostile. */
static pf_trace *two_process_trace(void)
{
    pf_trace *t = pf_trace_new();
    assert_non_null(t);
    t->meta.modes = PF_MODE_CALLS;
    pf_strtab *st = t->strings;
    pf_code c = { pf_strtab_intern_cstr(st, "/p/app.py"), pf_strtab_intern_cstr(st, "main"),
                  pf_strtab_intern_cstr(st, "main"), 1, PF_CODE_PYTHON };
    uint32_t mainc = pf_trace_add_code(t, &c);
    c.name = c.qualname = pf_strtab_intern_cstr(st, "job");
    uint32_t job = pf_trace_add_code(t, &c);
    for (int i = 0; i < 2; i++) {
        pf_thread th = { 1, pf_strtab_intern_cstr(st, "MainThread") };
        pf_trace_add_thread(t, &th);
    }
    pf_process p0 = { 100, 1, pf_strtab_intern_cstr(st, "python3 app.py"), 0, 1,
                      PF_PROC_EXITED, 0, 1000, 1, 0, 0, 0 };
    pf_process p1 = { 101, 100,
                      pf_strtab_intern_cstr(st, "python3 -c </text><script>alert(5)</script>"),
                      1, 1, PF_PROC_KILLED, 10, 500, 1, 0, PF_EXIT_UNKNOWN, 9 };
    pf_trace_add_process(t, &p0);
    pf_trace_add_process(t, &p1);
    pf_node n = { PF_NONE, 0, mainc, 0, 1, 1000, 1000 };
    pf_trace_add_node(t, &n);
    n.thread = 1;
    n.code = job;
    n.total_ns = n.self_ns = 500;
    pf_trace_add_node(t, &n);
    pf_error err;
    assert_int_equal(pf_trace_validate(t, &err), 0);
    return t;
}

static void test_svg_processes_are_frames_and_escaped(void **state)
{
    (void)state;
    pf_trace *t = two_process_trace();
    char sub[512];
    assert_string_equal(pf_svg_trace_subtitle(t, sub, sizeof sub),
                        "2 processes (1 killed or cut short)");
    pf_error err;
    pf_stack_opts so;
    pf_stack_opts_init(&so);
    pf_stacktree *tree = pf_stacktree_from_trace(t, &so, &err);
    assert_non_null(tree);
    pf_svg_opts o;
    pf_svg_opts_init(&o);
    o.subtitle = sub;
    char *svg = render(tree, &o, NULL);
    xmlDocPtr doc = parse(svg);
    assert_int_equal(xpath_count(doc, "//*[local-name()='script']"), 1);
    char *x = xpath_text(doc, "//s:title[starts-with(., 'pid 101: ')]");
    assert_non_null(x);
    const char *want_title = "pid 101: python3 -c </text><script>alert(5)</script>\n";
    assert_true(strncmp(x, want_title, strlen(want_title)) == 0);
    free(x);
    x = xpath_text(doc, "//s:title[starts-with(., 'pid 100: python3 app.py\n')]");
    assert_non_null(x);
    free(x);
    /* both MainThreads are drawn, each above its process */
    assert_int_equal(xpath_count(doc, "//s:title[starts-with(., 'MainThread\n')]"), 2);
    x = xpath_text(doc, "//s:text[@id='subtitle']");
    assert_string_equal(x, "2 processes (1 killed or cut short)");
    free(x);
    xmlFreeDoc(doc);
    free(svg);
    pf_stacktree_free(tree);

    /* The program's ending and the gaps join in; a plain run says nothing. */
    t->meta.exit_signal = 15;
    t->meta.flags |= PF_FLAG_CUT_SHORT;
    pf_gap gap = { 0, 1000000000, PF_GAP_OPEN, PF_GAP_C_PROFILE };
    t->meta.gaps = pf_malloc(sizeof gap);
    assert_non_null(t->meta.gaps);
    t->meta.gaps[0] = gap;
    t->meta.ngaps = 1;
    char note[400];
    assert_true(pf_svg_gap_note(t, note, sizeof note) > 0);
    assert_true(strncmp(note, "Not recorded: ", 14) == 0);
    char want[1024];
    snprintf(want, sizeof want, "2 processes (1 killed or cut short); program ended: killed by "
             "SIGTERM (cut short: data up to its last snapshot); %s", note);
    assert_string_equal(pf_svg_trace_subtitle(t, sub, sizeof sub), want);
    char tiny[8];
    assert_string_equal(pf_svg_trace_subtitle(t, tiny, sizeof tiny), "2 proce");
    t->nprocesses = 1;
    t->meta.ngaps = 0;
    assert_string_equal(pf_svg_trace_subtitle(t, sub, sizeof sub),
                        "program ended: killed by SIGTERM (cut short: data up to its last snapshot)");
    t->meta.exit_signal = 0;
    t->meta.exit_code = 0;
    t->meta.flags = 0;
    assert_null(pf_svg_trace_subtitle(t, sub, sizeof sub));
    t->meta.ngaps = 1;
    t->nprocesses = 2;
    pf_trace_free(t);
}

static void test_svg_clean_name(void **state)
{
    (void)state;
    char out[64];
    assert_int_equal(pf_svg_clean_name("plain", 5, out, sizeof out), 5);
    assert_string_equal(out, "plain");
    pf_svg_clean_name("\xe2\x82\xac ok", 6, out, sizeof out);
    assert_string_equal(out, "\xe2\x82\xac ok");
    pf_svg_clean_name("\xed\xa0\x80", 3, out, sizeof out);     /* surrogate */
    assert_string_equal(out, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
    pf_svg_clean_name("\xc0\xaf", 2, out, sizeof out);         /* overlong '/' */
    assert_string_equal(out, "\xef\xbf\xbd\xef\xbf\xbd");
    /* truncation never splits a character */
    size_t n = pf_svg_clean_name("\xe2\x82\xac\xe2\x82\xac", 6, out, 5);
    assert_int_equal(n, 3);
}

static void test_svg_minwidth_prunes_narrow_frames(void **state)
{
    (void)state;
    pf_stacktree *t = tree_of("big;child 100000\ncat;sub 5\nsmall 60", 0, 0);
    pf_svg_opts o;
    pf_svg_opts_init(&o);          /* 0.1 px of 1180 px: 5/100065 * 1180 = 0.06 px */
    char *svg = render(t, &o, NULL);
    xmlDocPtr doc = parse(svg);
    assert_int_equal(xpath_count(doc, "//s:title[starts-with(., 'cat')]"), 0);
    assert_int_equal(xpath_count(doc, "//s:title[starts-with(., 'sub')]"), 0);
    assert_int_equal(xpath_count(doc, "//s:title[starts-with(., 'small')]"), 1);
    /* the value of the omitted "cat" is recorded on the next drawn sibling */
    assert_int_equal(xpath_count(doc, "//s:g[@s='5']"), 1);
    xmlFreeDoc(doc);
    free(svg);
    o.minwidth = 0;
    svg = render(t, &o, NULL);
    doc = parse(svg);
    assert_int_equal(xpath_count(doc, "//s:title[starts-with(., 'sub')]"), 1);
    xmlFreeDoc(doc);
    free(svg);
    o.minwidth = 1;                /* percent: small (0.06%) goes too */
    o.minwidth_pct = 1;
    svg = render(t, &o, NULL);
    doc = parse(svg);
    assert_int_equal(xpath_count(doc, "//s:title[starts-with(., 'small')]"), 0);
    assert_int_equal(xpath_count(doc, "//s:title[starts-with(., 'child')]"), 1);
    xmlFreeDoc(doc);
    free(svg);
    pf_stacktree_free(t);
}

static double rect_y(xmlDocPtr doc, const char *name)
{
    char expr[256];
    snprintf(expr, sizeof expr, "//s:g[s:title[starts-with(., '%s\n')]]/s:rect/@y", name);
    char *s = xpath_text(doc, expr);
    assert_non_null(s);
    double y = atof(s);
    free(s);
    return y;
}

static void test_svg_inverted_puts_root_on_top(void **state)
{
    (void)state;
    pf_stacktree *t = tree_of("a;b;c 1", 0, 0);
    pf_svg_opts o;
    pf_svg_opts_init(&o);
    char *svg = render(t, &o, NULL);
    xmlDocPtr doc = parse(svg);
    assert_true(rect_y(doc, "all") > rect_y(doc, "c"));
    char *title = xpath_text(doc, "//s:text[@id='title']");
    assert_string_equal(title, "Flame Graph");
    free(title);
    xmlFreeDoc(doc);
    free(svg);
    o.inverted = 1;
    svg = render(t, &o, NULL);
    doc = parse(svg);
    assert_true(rect_y(doc, "all") < rect_y(doc, "c"));
    title = xpath_text(doc, "//s:text[@id='title']");
    assert_string_equal(title, "Icicle Graph");
    free(title);
    xmlFreeDoc(doc);
    free(svg);
    pf_stacktree_free(t);
}

static void test_svg_differential_colours_and_negate(void **state)
{
    (void)state;
    pf_stacktree *t = tree_of("main;grew 10 30\nmain;shrank 30 10\nmain;same 5 5", 0, 0);
    assert_true(t->has_count2);
    pf_svg_opts o;
    pf_svg_opts_init(&o);
    char *svg = render(t, &o, NULL);
    xmlDocPtr doc = parse(svg);
    char *fill = xpath_text(doc, "//s:g[s:title[starts-with(., 'grew')]]/s:rect/@fill");
    assert_string_equal(fill, "#ff0000");
    free(fill);
    fill = xpath_text(doc, "//s:g[s:title[starts-with(., 'shrank')]]/s:rect/@fill");
    assert_string_equal(fill, "#0000ff");
    free(fill);
    fill = xpath_text(doc, "//s:g[s:title[starts-with(., 'same')]]/s:rect/@fill");
    assert_string_equal(fill, "#ffffff");
    free(fill);
    /* sized by the second column */
    assert_int_equal(xpath_count(doc, "//s:g[@v='30'][s:title[starts-with(., 'grew')]]"), 1);
    char *title = xpath_text(doc, "//s:g[s:title[starts-with(., 'grew')]]/s:title");
    assert_non_null(strstr(title, "change: +20 samples"));
    assert_non_null(strstr(title, "own: +20 samples"));
    free(title);
    /* coloured by the frame's own change, as flamegraph.pl: main and all changed only
     * through their callees (a net 0 here), so they are white like flamegraph.pl's */
    fill = xpath_text(doc, "//s:g[s:title[starts-with(., 'main')]]/s:rect/@fill");
    assert_string_equal(fill, "#ffffff");
    free(fill);
    fill = xpath_text(doc, "//s:g[s:title[starts-with(., 'all')]]/s:rect/@fill");
    assert_string_equal(fill, "#ffffff");
    free(fill);
    xmlFreeDoc(doc);
    free(svg);
    o.negate = 1;
    svg = render(t, &o, NULL);
    doc = parse(svg);
    fill = xpath_text(doc, "//s:g[s:title[starts-with(., 'grew')]]/s:rect/@fill");
    assert_string_equal(fill, "#0000ff");
    free(fill);
    xmlFreeDoc(doc);
    free(svg);
    pf_stacktree_free(t);
}

/* A frame whose total grew only through a callee is white (its own count did not
 * change), not saturated red; the callee that grew is; the scale is the largest own
 * change (flamegraph.pl's rule). */
static void test_svg_differential_colours_follow_own_change(void **state)
{
    (void)state;
    pf_stacktree *t = tree_of("all_grew;mid 10 10\nall_grew;mid;leaf 0 40\n"
                              "all_grew;other 20 10", 0, 0);
    pf_svg_opts o;
    pf_svg_opts_init(&o);
    char *svg = render(t, &o, NULL);
    xmlDocPtr doc = parse(svg);
    char *fill = xpath_text(doc, "//s:g[s:title[starts-with(., 'mid')]]/s:rect/@fill");
    assert_string_equal(fill, "#ffffff");
    free(fill);
    fill = xpath_text(doc, "//s:g[s:title[starts-with(., 'all_grew')]]/s:rect/@fill");
    assert_string_equal(fill, "#ffffff");
    free(fill);
    fill = xpath_text(doc, "//s:g[s:title[starts-with(., 'leaf')]]/s:rect/@fill");
    assert_string_equal(fill, "#ff0000");
    free(fill);
    /* other shrank by 10 of a largest 40: a light blue, 210 * 30 / 40 = 157 */
    fill = xpath_text(doc, "//s:g[s:title[starts-with(., 'other')]]/s:rect/@fill");
    assert_string_equal(fill, "#9d9dff");
    free(fill);
    char *title = xpath_text(doc, "//s:g[s:title[starts-with(., 'mid')]]/s:title");
    assert_non_null(strstr(title, "change: +40 samples"));
    assert_non_null(strstr(title, "own: 0 samples"));
    free(title);
    xmlFreeDoc(doc);
    free(svg);
    pf_stacktree_free(t);
}

/* The CLI names the colouring in the default subtitle; a given subtitle wins. */
static void test_svg_cli_differential_subtitle(void **state)
{
    (void)state;
    assert_int_equal(run("tests/data/collapsed/diff.folded"), 0);
    assert_non_null(strstr(outbuf, "Differential: colour = change in each frame's own count"));
    assert_int_equal(run("--negate tests/data/collapsed/diff.folded"), 0);
    assert_non_null(strstr(outbuf, "blue grew, red shrank"));
    assert_int_equal(run("--subtitle Mine tests/data/collapsed/diff.folded"), 0);
    assert_null(strstr(outbuf, "Differential:"));
    assert_int_equal(run("tests/data/collapsed/austin.folded"), 0);
    assert_null(strstr(outbuf, "Differential:"));
}

/* Raw `perf script` output is recognised and refused with the way to fold it, not a
 * warning per line; plain or gzipped, in svg and in diff. */
static void test_svg_cli_refuses_raw_perf_script(void **state)
{
    (void)state;
    static const char perf[] =
        "python3  4242 [001] 12345.678901:     250000 cpu-clock:pppH: \n"
        "\t    7f3a1c2b4c10 _PyEval_EvalFrameDefault+0x1230 (/usr/bin/python3.11)\n"
        "\t    55d0a1b2c3d4 main+0x34 (/usr/bin/python3.11)\n"
        "\n"
        "python3  4242 [001] 12345.679901:     250000 cpu-clock:pppH: \n"
        "\t    ffffffff81000000 [unknown] ([kernel.kallsyms])\n"
        "\t    7f3a1c2b4c10 _PyEval_EvalFrameDefault+0x1230 (/usr/bin/python3.11)\n"
        "\n";
    write_file(tp("perf"), perf, sizeof perf - 1);
    assert_int_equal(runf("%s", tp("perf")), 1);
    assert_string_equal(outbuf, "");
    assert_non_null(strstr(errbuf, "raw `perf script` output"));
    assert_non_null(strstr(errbuf, "stackcollapse-perf.pl"));
    assert_null(strstr(errbuf, "not a number"));
    assert_int_equal(runf("- < %s", tp("perf")), 1);
    assert_non_null(strstr(errbuf, "raw `perf script` output"));
    char cmd[512];
    snprintf(cmd, sizeof cmd, "gzip -c %s > %s", tp("perf"), tp("perf.gz"));
    assert_int_equal(system(cmd), 0);
    assert_int_equal(runf("%s", tp("perf.gz")), 1);
    assert_non_null(strstr(errbuf, "raw `perf script` output"));
    snprintf(cmd, sizeof cmd, "%s/pyflame-c diff %s %s 2>&1 | grep -q 'raw .perf script. output'",
             PF_BUILD_DIR, tp("perf"), tp("perf"));
    assert_int_equal(system(cmd), 0);
    /* folded perf stacks (and a file of indented lines only) are still read */
    assert_int_equal(run("tests/data/collapsed/perf.folded"), 0);
    unlink(tp("perf"));
    unlink(tp("perf.gz"));
}

static void test_svg_text_is_fitted_and_truncated(void **state)
{
    (void)state;
    pf_stacktree *t = tree_of("a_really_long_function_name_that_cannot_fit_anywhere_at_all 1\nb 30", 0, 0);
    pf_svg_opts o;
    pf_svg_opts_init(&o);
    o.width = 300;
    char *svg = render(t, &o, NULL);
    xmlDocPtr doc = parse(svg);
    char *txt = xpath_text(doc, "//s:g[s:title[starts-with(., 'a_really')]]/s:text");
    /* 1/31 of 280 px: too narrow for 3 characters, so no text at all */
    assert_null(txt);
    xmlFreeDoc(doc);
    free(svg);
    pf_stacktree_free(t);
    t = tree_of("a_really_long_function_name_that_cannot_fit_anywhere_at_all 1", 0, 0);
    svg = render(t, &o, NULL);
    doc = parse(svg);
    txt = xpath_text(doc, "//s:g[s:title[starts-with(., 'a_really')]]/s:text");
    assert_non_null(txt);
    size_t n = strlen(txt);
    assert_true(n > 5 && n < 50);
    assert_string_equal(txt + n - 2, "..");
    assert_true(strncmp(txt, "a_really", 8) == 0);
    free(txt);
    xmlFreeDoc(doc);
    free(svg);
    o.truncate_start = 1;
    svg = render(t, &o, NULL);
    doc = parse(svg);
    txt = xpath_text(doc, "//s:g[s:title[starts-with(., 'a_really')]]/s:text");
    assert_true(strncmp(txt, "..", 2) == 0);
    assert_string_equal(txt + strlen(txt) - 6, "at_all");
    free(txt);
    xmlFreeDoc(doc);
    free(svg);
    pf_stacktree_free(t);
}

static void test_svg_units_format_values(void **state)
{
    (void)state;
    pf_stacktree *t = tree_of("a 1572864\nb 2500", 0, 0);
    pf_svg_opts o;
    pf_svg_opts_init(&o);
    o.unit = PF_SVG_UNIT_BYTES;
    char *svg = render(t, &o, NULL);
    assert_non_null(strstr(svg, "a\n1.50 MiB ("));
    assert_non_null(strstr(svg, "b\n2.44 KiB ("));
    free(svg);
    o.unit = PF_SVG_UNIT_US;
    svg = render(t, &o, NULL);
    assert_non_null(strstr(svg, "a\n1.57 s ("));
    assert_non_null(strstr(svg, "b\n2.50 ms ("));
    free(svg);
    o.unit = PF_SVG_UNIT_COUNT;
    o.countname = "bytes";
    svg = render(t, &o, NULL);
    assert_non_null(strstr(svg, "a\n1,572,864 bytes ("));
    free(svg);
    pf_stacktree_free(t);
}

static void test_svg_writer_survives_allocation_failures(void **state)
{
    (void)state;
    pf_stacktree *t = tree_of("main;parse;tokenize 120\nmain;parse 30\nmain;render;draw 200\n"
                             "idle;a_long_name_that_needs_truncating_here 5", 0, 0);
    pf_svg_opts o;
    pf_svg_opts_init(&o);
    o.width = 200;
    o.notes = "notes";
    o.subtitle = "sub";
    long base = pf_alloc_live_blocks();
    for (long n = 0;; n++) {
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        pf_error err;
        pf_error_clear(&err);
        pf_alloc_fail_after(n);
        int rc = pf_svg_write(t, &o, f, &err);
        pf_alloc_fail_after(-1);
        fclose(f);
        free(buf);
        assert_int_equal(pf_alloc_live_blocks(), base);
        if (rc == 0)
            break;
        assert_int_equal(err.code, PF_ENOMEM);
        assert_true(n < 1000);
    }
    pf_stacktree_free(t);
}

static void test_svg_empty_tree_fails(void **state)
{
    (void)state;
    pf_stacktree *t = pf_stacktree_new(0);
    pf_svg_opts o;
    pf_svg_opts_init(&o);
    pf_error err;
    pf_error_clear(&err);
    FILE *f = tmpfile();
    assert_int_equal(pf_svg_write(t, &o, f, &err), -1);
    assert_int_equal(err.code, PF_EEMPTY);
    assert_int_equal(ftell(f), 0);
    fclose(f);
    pf_stacktree_free(t);
}

/* ---- the command ---- */

static void test_svg_cli_rejects_bad_options(void **state)
{
    (void)state;
    static const struct { const char *args, *msg; } bad[] = {
        { "--width abc " DATA "pyspy.folded", "--width" },
        { "--width 0 " DATA "pyspy.folded", "--width" },
        { "--height -3 " DATA "pyspy.folded", "--height" },
        { "--fontsize x " DATA "pyspy.folded", "--fontsize" },
        { "--minwidth 5x " DATA "pyspy.folded", "--minwidth" },
        { "--minwidth 200% " DATA "pyspy.folded", "--minwidth" },
        { "--colors rainbow " DATA "pyspy.folded", "unknown palette 'rainbow'" },
        { "--metric wall " DATA "pyspy.folded", "unknown metric 'wall'" },
        { "--granularity file " DATA "pyspy.folded", "unknown granularity 'file'" },
        { "--bgcolors pink " DATA "pyspy.folded", "--bgcolors" },
        { "--factor -1 " DATA "pyspy.folded", "--factor" },
        { "--frobnicate " DATA "pyspy.folded", "unknown option '--frobnicate'" },
        { DATA "pyspy.folded --title", "needs a value" },
        { "", "no input file" },
        { DATA "pyspy.folded " DATA "perf.folded", "one input only" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(run(bad[i].args), 2);
        if (!strstr(errbuf, bad[i].msg))
            fail_msg("'%s': expected '%s' in: %s", bad[i].args, bad[i].msg, errbuf);
        assert_string_equal(outbuf, "");
    }
    assert_int_equal(run("--help"), 0);
    assert_non_null(strstr(outbuf, "--minwidth"));
    assert_non_null(strstr(outbuf, "--flamechart"));
}

static void test_svg_cli_accepts_flamegraph_pl_options(void **state)
{
    (void)state;
    assert_int_equal(run("--title 'My <Title>' --subtitle Sub --width 800 --height 20 "
                         "--minwidth 0.5% --countname ticks --fontsize 10 --fonttype Arial "
                         "--colors java --hash --inverted --notes 'n1' --negate --reverse "
                         "--truncate-start --bgcolors '#102030' --factor 3 " DATA "perf.folded"), 0);
    xmlDocPtr doc = parse(outbuf);
    char *s = xpath_text(doc, "//s:text[@id='title']");
    assert_string_equal(s, "My <Title>");
    free(s);
    s = xpath_text(doc, "//s:text[@id='subtitle']");
    assert_string_equal(s, "Sub");
    free(s);
    s = xpath_text(doc, "/s:svg/@width");
    assert_string_equal(s, "800");
    free(s);
    s = xpath_text(doc, "/s:svg/@font-family");
    assert_string_equal(s, "Arial");
    free(s);
    s = xpath_text(doc, "(//s:g[@id='frames']//s:rect)[1]/@height");
    assert_string_equal(s, "19");
    free(s);
    assert_non_null(strstr(outbuf, " ticks ("));
    assert_non_null(strstr(outbuf, "<title>all\n399 ticks (100.00%)</title>"));   /* 133 x 3 */
    assert_int_equal(xpath_count(doc, "//s:stop[@stop-color='#102030']"), 2);
    xmlFreeDoc(doc);
}

static void test_svg_cli_reads_other_profilers(void **state)
{
    (void)state;
    const char *files[] = { "perf.folded", "pyspy.folded", "austin.folded", "diff.folded" };
    for (size_t i = 0; i < 4; i++) {
        char args[256];
        snprintf(args, sizeof args, "--minwidth 0 " DATA "%s", files[i]);
        assert_int_equal(run(args), 0);
        xmlDocPtr doc = parse(outbuf);
        assert_true(xpath_count(doc, "//s:g[@id='frames']//s:g") >= 8);
        xmlFreeDoc(doc);
        /* and the reference checker agrees it is well-formed XML */
        if (system("command -v xmllint >/dev/null 2>&1") == 0) {
            char tmp[] = "/tmp/pf_test_svg_lintXXXXXX", cmd[128];
            int fd = mkstemp(tmp);
            assert_true(fd >= 0);
            assert_int_equal(write(fd, outbuf, strlen(outbuf)), (ssize_t)strlen(outbuf));
            close(fd);
            snprintf(cmd, sizeof cmd, "xmllint --noout %s", tmp);
            assert_int_equal(system(cmd), 0);
            unlink(tmp);
        }
    }
    /* perf: module`function names and kernel frames survive as names */
    assert_int_equal(run("--colors java --minwidth 0 " DATA "perf.folded"), 0);
    assert_non_null(strstr(outbuf, "<title>entry_SYSCALL_64_after_hwframe_[k]\n"));
    /* py-spy: the python palette tells stdlib from user code */
    assert_int_equal(run("--colors python --minwidth 0 " DATA "pyspy.folded"), 0);
    assert_non_null(strstr(outbuf, "<title>loads (/usr/lib/python3.11/json/__init__.py:346)\n"));
    /* differential */
    assert_int_equal(run(DATA "diff.folded"), 0);
    assert_non_null(strstr(outbuf, "data-diff=\"1\""));
    assert_non_null(strstr(outbuf, "#ff"));
}

/* Counts that would overflow, and NUL bytes, are line-numbered errors (exit 1), never
 * infinite or negative widths. */
static void test_svg_cli_overflow_and_nul_are_line_numbered_errors(void **state)
{
    (void)state;
    write_file(tp("ovf"), "a;b 1e308\na;c 1e308\n", 20);
    assert_int_equal(runf("%s", tp("ovf")), 1);
    assert_string_equal(outbuf, "");
    assert_non_null(strstr(errbuf, "out of range at line 1"));
    write_file(tp("ovf"), "a;b 8e307\na;c 8e307\n", 20);
    assert_int_equal(runf("- < %s", tp("ovf")), 1);
    assert_non_null(strstr(errbuf, "counts add up to more than"));
    assert_non_null(strstr(errbuf, "at line 2"));
    write_file(tp("ovf"), "a;b 1\na;c 1e300\n", 16);
    assert_int_equal(runf("--factor 1e10 %s", tp("ovf")), 1);
    assert_non_null(strstr(errbuf, "at line 2"));
    unlink(tp("ovf"));
    write_file(tp("nul"), "a;b 1\nc\0d 2\n", 12);
    assert_int_equal(runf("%s", tp("nul")), 1);
    assert_non_null(strstr(errbuf, "NUL byte in line 2"));
    assert_null(strstr(errbuf, "magic"));
    unlink(tp("nul"));
}

/* gzip members on a pipe: an empty member, then a trace.  The compressed bytes must
 * not be overwritten (and leaked: LeakSanitizer in `make asan`) when a later member
 * turns out to hold a trace. */
static void test_svg_cli_multi_member_gzip_on_a_pipe(void **state)
{
    (void)state;
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "printf '' | gzip -c > %s && cat %s tests/golden/inputs/calls.trace.gz "
             "> %s", tp("e.gz"), tp("e.gz"), tp("m.gz"));
    assert_int_equal(system(cmd), 0);
    snprintf(cmd, sizeof cmd, "cat %s | %s/pyflame-c svg - > %s 2>&1", tp("m.gz"), PF_BUILD_DIR,
             tp("m.svg"));
    assert_int_equal(system(cmd), 0);
    assert_int_equal(runf("%s", tp("m.gz")), 0);        /* the same as a file */
    FILE *f = fopen(tp("m.svg"), "rb");
    assert_non_null(f);
    static char piped[1 << 20];
    size_t n = fread(piped, 1, sizeof piped - 1, f);
    piped[n] = '\0';
    fclose(f);
    assert_string_equal(piped, outbuf);
    unlink(tp("e.gz"));
    unlink(tp("m.gz"));
    unlink(tp("m.svg"));
}

static void test_svg_cli_gzip_and_stdin(void **state)
{
    (void)state;
    char gzcmd[256];
    snprintf(gzcmd, sizeof gzcmd, "gzip -c " DATA "pyspy.folded > %s", tp("folded.gz"));
    assert_int_equal(system(gzcmd), 0);
    assert_int_equal(runf("%s", tp("folded.gz")), 0);
    size_t n = strlen(outbuf);
    char *gz = strdup(outbuf);
    assert_int_equal(run("- < " DATA "pyspy.folded"), 0);
    assert_int_equal(strlen(outbuf), n);
    assert_string_equal(outbuf, gz);
    assert_int_equal(run(DATA "pyspy.folded"), 0);
    assert_string_equal(outbuf, gz);          /* deterministic across runs and inputs */
    assert_int_equal(runf("- < %s", tp("folded.gz")), 0);   /* gzip on stdin */
    assert_string_equal(outbuf, gz);
    /* gzip through a real pipe (no seeking): inflated from memory */
    snprintf(gzcmd, sizeof gzcmd, "cat %s | %s/pyflame-c svg - > %s", tp("folded.gz"),
             PF_BUILD_DIR, tp("pipe.svg"));
    assert_int_equal(system(gzcmd), 0);
    FILE *pf = fopen(tp("pipe.svg"), "rb");
    assert_non_null(pf);
    static char piped[1 << 20];
    size_t pn = fread(piped, 1, sizeof piped - 1, pf);
    piped[pn] = '\0';
    fclose(pf);
    assert_string_equal(piped, gz);
    unlink(tp("pipe.svg"));
    snprintf(gzcmd, sizeof gzcmd, "printf '\037\213garbage' > %s", tp("bad.gz"));
    assert_int_equal(system(gzcmd), 0);
    assert_int_equal(runf("- < %s", tp("bad.gz")), 1);
    assert_non_null(strstr(errbuf, "gzip"));
    unlink(tp("bad.gz"));
    free(gz);
    unlink(tp("folded.gz"));
}

/* Random bytes as frame names (any byte but NUL and newline): the result is always a
 * well-formed document with exactly one script element. */
static void test_svg_cli_random_names_stay_well_formed(void **state)
{
    (void)state;
    uint64_t x = 0x9e3779b97f4a7c15ULL;
    for (int round = 0; round < 5; round++) {
        static char buf[1 << 16];
        size_t n = 0;
        for (int line = 0; line < 200; line++) {
            int frames = 1 + (int)(x % 6);
            for (int f = 0; f < frames; f++) {
                int len = (int)((x >> 8) % 12);
                for (int i = 0; i < len; i++) {
                    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
                    char c = (char)(x >> 56);
                    if (c == '\n' || c == '\0' || c == ';')
                        c = '<';
                    buf[n++] = c;
                }
                buf[n++] = f + 1 < frames ? ';' : ' ';
            }
            x = x * 6364136223846793005ULL + 1442695040888963407ULL;
            n += (size_t)snprintf(buf + n, sizeof buf - n, "%u\n", (unsigned)(x >> 40) % 1000 + 1);
        }
        write_file(tp("random"), buf, n);
        assert_int_equal(runf("--minwidth 0 %s", tp("random")), 0);
        xmlDocPtr doc = parse(outbuf);
        assert_int_equal(xpath_count(doc, "//*[local-name()='script']"), 1);
        assert_true(xpath_count(doc, "//s:g[@id='frames']//s:g") > 10);
        xmlFreeDoc(doc);
    }
    unlink(tp("random"));
}

static void test_svg_cli_empty_input_fails_cleanly(void **state)
{
    (void)state;
    write_file(tp("empty"), "", 0);
    assert_int_equal(runf("%s", tp("empty")), 1);
    assert_non_null(strstr(errbuf, "no stacks found"));
    assert_string_equal(outbuf, "");
    write_file(tp("empty"), "# comment only\n\n", 16);
    assert_int_equal(runf("-o %s %s", tp("empty.svg"), tp("empty")), 1);
    struct stat st;
    assert_int_not_equal(stat(tp("empty.svg"), &st), 0);
    assert_int_equal(run("/nonexistent/file.folded"), 1);
    assert_non_null(strstr(errbuf, "No such file"));
    unlink(tp("empty"));
}

static void test_svg_cli_malformed_lines_warn_or_fail(void **state)
{
    (void)state;
    const char *in = "a;b 1\nno count here\na;c 2\nx;y notanumber\n";
    char where[160];
    write_file(tp("bad"), in, strlen(in));
    assert_int_equal(runf("%s", tp("bad")), 0);
    snprintf(where, sizeof where, "%s:2:", tp("bad"));
    assert_non_null(strstr(errbuf, where));
    snprintf(where, sizeof where, "%s:4:", tp("bad"));
    assert_non_null(strstr(errbuf, where));
    assert_non_null(strstr(outbuf, "</svg>"));
    assert_int_equal(runf("--strict %s", tp("bad")), 1);
    assert_non_null(strstr(errbuf, "line 2:"));
    assert_string_equal(outbuf, "");
    unlink(tp("bad"));
}

static void test_svg_cli_output_file_and_base(void **state)
{
    (void)state;
    unlink(tp("o.svg"));
    assert_int_equal(runf("-o %s --base loads " DATA "pyspy.folded", tp("o.svg")), 0);
    assert_string_equal(outbuf, "");
    xmlDocPtr doc = xmlReadFile(tp("o.svg"), NULL, XML_PARSE_NONET);
    assert_non_null(doc);
    /* the only child of "all" is the re-rooted function */
    /* one frame in the row above the root (frames are flat, in pre-order) */
    assert_int_equal(xpath_count(doc, "//s:g[@id='frames']/s:g[s:rect/@y = "
                                      "(//s:g[@id='frames']/s:g)[2]/s:rect/@y]"), 1);
    char *s = xpath_text(doc, "(//s:g[@id='frames']/s:g)[2]/s:title");
    assert_true(strncmp(s, "loads (", 7) == 0);
    free(s);
    xmlFreeDoc(doc);
    assert_int_equal(run("--base nosuchfunction " DATA "pyspy.folded"), 1);
    assert_non_null(strstr(errbuf, "no frame matches --base 'nosuchfunction'"));
    assert_int_equal(run("-o /nonexistent/dir/x.svg " DATA "pyspy.folded"), 1);
    unlink(tp("o.svg"));
}

static void test_svg_cli_flamechart(void **state)
{
    (void)state;
    const char *in = "main;a 1\nmain;b 1\nmain;a 1\n";
    write_file(tp("fc"), in, strlen(in));
    assert_int_equal(runf("--flamechart %s", tp("fc")), 0);
    xmlDocPtr doc = parse(outbuf);
    assert_int_equal(xpath_count(doc, "//s:title[starts-with(., 'a\n')]"), 2);
    char *s = xpath_text(doc, "//s:text[@id='title']");
    assert_string_equal(s, "Flame Chart");
    free(s);
    xmlFreeDoc(doc);
    assert_int_equal(runf("%s", tp("fc")), 0);
    doc = parse(outbuf);
    assert_int_equal(xpath_count(doc, "//s:title[starts-with(., 'a\n')]"), 1);
    xmlFreeDoc(doc);
    unlink(tp("fc"));
}

static void test_svg_cli_trace_input(void **state)
{
    (void)state;
    const char *trace = "tests/data/trace/golden_v1.raw";
    if (access(trace, R_OK) != 0)
        skip();
    char args[512];
    snprintf(args, sizeof args, "--html-link report.html %s", trace);
    assert_int_equal(run(args), 0);
    xmlDocPtr doc = parse(outbuf);
    assert_true(xpath_count(doc, "//s:a[starts-with(@href, 'report.html#code-')]") > 0);
    xmlFreeDoc(doc);
    assert_non_null(strstr(outbuf, "calls: "));
    assert_non_null(strstr(outbuf, "data-unit=\"us\""));
    snprintf(args, sizeof args, "--metric calls --granularity line %s", trace);
    assert_int_equal(run(args), 0);
    assert_non_null(strstr(outbuf, " calls ("));
    snprintf(args, sizeof args, "--metric alloc-bytes %s", trace);
    int rc = run(args);
    if (rc == 0)
        assert_non_null(strstr(outbuf, "data-unit=\"bytes\""));
    else
        assert_int_equal(rc, 1);    /* not a memory trace: a clear message, no SVG */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_svg_tree_merges_by_name_and_sums),
        cmocka_unit_test(test_svg_tree_merges_deep_stacks),
        cmocka_unit_test(test_svg_tree_keeps_empty_frames),
        cmocka_unit_test(test_svg_deep_stack_frames_are_flat),
        cmocka_unit_test(test_svg_units_match_the_report),
        cmocka_unit_test(test_svg_tree_flamechart_keeps_order),
        cmocka_unit_test(test_svg_tree_reverse_puts_leaves_first),
        cmocka_unit_test(test_svg_tree_base_reroots_and_merges),
        cmocka_unit_test(test_svg_tree_survives_allocation_failures),
        cmocka_unit_test(test_svg_every_palette_is_deterministic),
        cmocka_unit_test(test_svg_python_palette_kinds),
        cmocka_unit_test(test_svg_diff_colors),
        cmocka_unit_test(test_svg_differential_colours_follow_own_change),
        cmocka_unit_test(test_svg_cli_differential_subtitle),
        cmocka_unit_test(test_svg_cli_refuses_raw_perf_script),
        cmocka_unit_test(test_svg_output_is_valid_and_deterministic),
        cmocka_unit_test(test_svg_hostile_names_are_escaped),
        cmocka_unit_test(test_svg_processes_are_frames_and_escaped),
        cmocka_unit_test(test_svg_clean_name),
        cmocka_unit_test(test_svg_minwidth_prunes_narrow_frames),
        cmocka_unit_test(test_svg_inverted_puts_root_on_top),
        cmocka_unit_test(test_svg_differential_colours_and_negate),
        cmocka_unit_test(test_svg_text_is_fitted_and_truncated),
        cmocka_unit_test(test_svg_units_format_values),
        cmocka_unit_test(test_svg_writer_survives_allocation_failures),
        cmocka_unit_test(test_svg_empty_tree_fails),
        cmocka_unit_test(test_svg_cli_rejects_bad_options),
        cmocka_unit_test(test_svg_cli_accepts_flamegraph_pl_options),
        cmocka_unit_test(test_svg_cli_reads_other_profilers),
        cmocka_unit_test(test_svg_cli_gzip_and_stdin),
        cmocka_unit_test(test_svg_cli_overflow_and_nul_are_line_numbered_errors),
        cmocka_unit_test(test_svg_cli_multi_member_gzip_on_a_pipe),
        cmocka_unit_test(test_svg_cli_random_names_stay_well_formed),
        cmocka_unit_test(test_svg_cli_empty_input_fails_cleanly),
        cmocka_unit_test(test_svg_cli_malformed_lines_warn_or_fail),
        cmocka_unit_test(test_svg_cli_output_file_and_base),
        cmocka_unit_test(test_svg_cli_flamechart),
        cmocka_unit_test(test_svg_cli_trace_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
