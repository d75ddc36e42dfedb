/* test_html.c: the HTML report (render/html*.c): escaping and UTF-8 repair, number
 * formatting, the aggregation model (recursion, merged lines), the document (escaping
 * of hostile program data, determinism, self-containment, size, folding, anchors,
 * call-only and memory traces, files without embedded source, hostile line numbers),
 * out-of-memory handling, and `pyflame-c html` as a process (options, errors, -o).
 *
 * PF_HTML_WRITE_SAMPLE=1 build/tests/test_html rewrites tests/data/html/sample.trace.gz
 * (the realistic trace the browser test renders) from sample_trace() below. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tests/support.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "formats/alloc.h"
#include "formats/trace.h"
#include "render/html.h"
#include "render/html_escape.h"
#include "render/html_highlight.h"
#include "render/html_model.h"

/* ---- helpers ------------------------------------------------------------------------ */

static uint32_t S(pf_trace *t, const char *s)
{
    uint32_t id = pf_strtab_intern_cstr(t->strings, s);
    assert_int_not_equal(id, PF_STR_NONE);
    return id;
}

static uint32_t code(pf_trace *t, const char *file, const char *name, uint32_t line)
{
    pf_code c = { S(t, file), S(t, name), S(t, name), line, file[0] ? PF_CODE_PYTHON : PF_CODE_NATIVE };
    return pf_trace_add_code(t, &c);
}

static uint32_t node(pf_trace *t, uint32_t parent, uint32_t thread, uint32_t c, uint32_t call_line,
                     uint64_t calls, uint64_t total, uint64_t self)
{
    pf_node n = { parent, thread, c, call_line, calls, total, self };
    return pf_trace_add_node(t, &n);
}

static void line(pf_trace *t, uint32_t c, uint32_t ln, uint64_t hits, uint64_t total, uint64_t self)
{
    pf_line l = { c, ln, hits, total, self, { 0 } };
    assert_int_not_equal(pf_trace_add_line(t, &l), PF_NONE);
}

static void source(pf_trace *t, const char *path, const char *text)
{
    assert_int_not_equal(pf_trace_add_source(t, S(t, path), text, strlen(text)), PF_NONE);
}

static pf_trace *new_trace(uint32_t modes)
{
    pf_trace *t = pf_trace_new();
    assert_non_null(t);
    t->meta.modes = modes;
    t->meta.duration_ns = 1000000000;
    t->meta.start_unix_ns = INT64_C(1764089000) * 1000000000;
    assert_int_equal(pf_meta_set_str(&t->meta.python_version, "3.11.2"), 0);
    assert_int_equal(pf_meta_set_str(&t->meta.cwd, "/home/dev/proj"), 0);
    pf_thread th = { 1, S(t, "MainThread") };
    assert_int_equal(pf_trace_add_thread(t, &th), 0);
    return t;
}

/* Renders t into a malloc'd NUL-terminated buffer (libc's, free with free()). */
static char *render(const pf_trace *t, const pf_html_opts *opts, size_t *len)
{
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    assert_non_null(f);
    pf_error err;
    pf_error_clear(&err);
    int rc = pf_html_render(t, opts, f, &err);
    fclose(f);
    if (rc != 0)
        fail_msg("render failed: %s", err.msg);
    if (len)
        *len = n;
    return buf;
}

static size_t count(const char *hay, const char *needle)
{
    size_t n = 0, k = strlen(needle);
    for (const char *p = strstr(hay, needle); p; p = strstr(p + k, needle))
        n++;
    return n;
}

static char *escape(const char *s, size_t len)
{
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    pf_html_escape(f, s, len);
    fclose(f);
    return buf;
}

/* Strict UTF-8 check of a whole buffer (no overlongs, surrogates, > U+10FFFF). */
static int valid_utf8(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        size_t k;
        uint32_t cp;
        if (c < 0x80) { i++; continue; }
        else if (c >= 0xC2 && c <= 0xDF) { k = 1; cp = c & 0x1F; }
        else if (c >= 0xE0 && c <= 0xEF) { k = 2; cp = c & 0x0F; }
        else if (c >= 0xF0 && c <= 0xF4) { k = 3; cp = c & 0x07; }
        else return 0;
        if (i + k >= n + 0 && i + k > n - 1 + 1)
            return 0;
        for (size_t j = 1; j <= k; j++) {
            if (i + j >= n || (s[i + j] & 0xC0) != 0x80)
                return 0;
            cp = (cp << 6) | (s[i + j] & 0x3F);
        }
        if ((k == 2 && cp < 0x800) || (k == 3 && (cp < 0x10000 || cp > 0x10FFFF))
            || (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
        i += k + 1;
    }
    return 1;
}

/* Every in-page link has its target, and no id is used twice. */
static void links_resolve(const char *doc)
{
    char want[128];
    for (const char *p = strstr(doc, "href=\"#"); p; p = strstr(p + 7, "href=\"#")) {
        const char *e = strchr(p + 7, '"');
        assert_non_null(e);
        assert_true(e - (p + 7) < 100);
        snprintf(want, sizeof want, "id=\"%.*s\"", (int)(e - (p + 7)), p + 7);
        if (count(doc, want) != 1)
            fail_msg("link %s has %zu targets", want, count(doc, want));
    }
}

static void balanced(const char *doc, const char *open, const char *close)
{
    size_t o = count(doc, open), c = count(doc, close);
    if (o != c)
        fail_msg("%zu '%s' but %zu '%s'", o, open, c, close);
}

/* ---- a realistic trace: samples/textstats.py, with memory ------------------------------ */

static const char textstats_fallback[] =
    "import json\n\n\ndef tokenize(text):\n    return text.split()\n\n\ndef main():\n"
    "    print(json.dumps(tokenize('a b')))\n\n\nmain()\n";

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = malloc(1 << 20);
    size_t n = fread(buf, 1, (1 << 20) - 1, f);
    fclose(f);
    buf[n] = '\0';
    *len = n;
    return buf;
}

#define MS 1000000ull
#define US 1000ull

static void line_mem(pf_trace *t, uint32_t c, uint32_t ln, uint64_t hits, uint64_t total, uint64_t self,
                     uint64_t alloc, uint64_t peak, uint64_t exitb)
{
    pf_line l = { c, ln, hits, total, self, { alloc, alloc / 64 + 1, alloc - exitb, peak, exitb } };
    assert_int_not_equal(pf_trace_add_line(t, &l), PF_NONE);
}

static pf_trace *sample_trace(void)
{
    const char *py = "/home/dev/proj/samples/textstats.py";
    const char *json = "/usr/lib/python3.11/json/__init__.py";
    const char *coll = "/usr/lib/python3.11/collections/__init__.py";
    pf_trace *t = pf_trace_new();
    assert_non_null(t);
    pf_meta *m = &t->meta;
    m->modes = PF_MODE_CALLS | PF_MODE_LINES | PF_MODE_MEMORY;
    m->start_unix_ns = INT64_C(1764089000) * 1000000000 + 123456789;
    m->duration_ns = 1214 * MS;
    m->pid = 48213;
    m->total_calls = 483071;
    m->profiler_bytes = 3 * 1024 * 1024 + 4096;
    m->peak_live_bytes = 27 * 1024 * 1024 + 517 * 1024;
    pf_meta_set_str(&m->python_version, "3.11.2");
    pf_meta_set_str(&m->python_executable, "/usr/bin/python3");
    pf_meta_set_str(&m->cwd, "/home/dev/proj");
    pf_meta_set_str(&m->clock, "CLOCK_MONOTONIC");
    pf_meta_set_str(&m->hostname, "build-box");
    pf_meta_push_str(&m->argv, &m->argc, "samples/textstats.py");
    pf_meta_push_str(&m->argv, &m->argc, "--top");
    pf_meta_push_str(&m->argv, &m->argc, "10");
    pf_meta_push_str(&m->path, &m->npath, "/home/dev/proj");
    pf_meta_push_str(&m->path, &m->npath, "/usr/lib/python3.11");
    pf_thread th0 = { 140001, S(t, "MainThread") }, th1 = { 140002, S(t, "partitions") };
    pf_trace_add_thread(t, &th0);
    pf_trace_add_thread(t, &th1);

    uint32_t mod = code(t, py, "<module>", 1), corpus = code(t, py, "make_corpus", 18),
             lc = code(t, py, "<listcomp>", 22), tok = code(t, py, "tokenize", 27),
             cw = code(t, py, "count_words", 31), cb = code(t, py, "count_bigrams", 38),
             ren = code(t, py, "render", 42), lam = code(t, py, "<lambda>", 43),
             part = code(t, py, "partitions", 49), gen = code(t, py, "<genexpr>", 55),
             bg = code(t, py, "background", 58), mn = code(t, py, "main", 62),
             dumps = code(t, json, "dumps", 183), counter = code(t, coll, "Counter.__init__", 581),
             choice = code(t, "", "<method 'choice' of 'random.Random' objects>", 0),
             findall = code(t, "", "<method 'findall' of 're.Pattern' objects>", 0),
             get = code(t, "", "<method 'get' of 'dict' objects>", 0),
             join = code(t, "", "<method 'join' of 'threading.Thread' objects>", 0),
             sorted_ = code(t, "", "<built-in method builtins.sorted>", 0),
             sum_ = code(t, "", "<built-in method builtins.sum>", 0);
    /* MainThread */
    uint32_t n0 = node(t, PF_NONE, 0, mod, 0, 1, 1210 * MS, 2 * MS);
    uint32_t n1 = node(t, n0, 0, mn, 76, 1, 1208 * MS, 1 * MS);
    uint32_t n2 = node(t, n1, 0, corpus, 66, 1, 420 * MS, 90 * MS);
    uint32_t n3 = node(t, n2, 0, lc, 22, 20000, 330 * MS, 140 * MS);
    node(t, n3, 0, choice, 22, 200213, 190 * MS, 190 * MS);
    uint32_t n5 = node(t, n1, 0, tok, 67, 1, 60 * MS, 1 * MS);
    node(t, n5, 0, findall, 28, 1, 59 * MS, 59 * MS);
    uint32_t n7 = node(t, n1, 0, cw, 68, 1, 180 * MS, 118 * MS);
    node(t, n7, 0, get, 34, 200213, 62 * MS, 62 * MS);
    uint32_t n9 = node(t, n1, 0, cb, 69, 1, 40 * MS, 1 * MS);
    node(t, n9, 0, counter, 39, 1, 39 * MS, 39 * MS);
    uint32_t n11 = node(t, n1, 0, ren, 70, 1, 8 * MS, 1 * MS);
    uint32_t n12 = node(t, n11, 0, sorted_, 43, 1, 3 * MS, 2 * MS);
    node(t, n12, 0, lam, 43, 40, 1 * MS, 1 * MS);
    node(t, n11, 0, dumps, 46, 1, 4 * MS, 4 * MS);
    node(t, n1, 0, join, 71, 1, 499 * MS, 499 * MS);
    /* partitions thread: recursion partitions -> sum -> <genexpr> -> partitions ... */
    uint32_t b0 = node(t, PF_NONE, 1, bg, 0, 1, 905 * MS, 1 * US);
    uint32_t p = node(t, b0, 1, part, 59, 1, 905 * MS - 1 * US, 3 * MS);
    uint64_t tot = 902 * MS - 1 * US;
    for (int depth = 0; depth < 3; depth++) {
        uint32_t s = node(t, p, 1, sum_, 55, 1 + (uint64_t)depth * 40, tot, 20 * MS);
        uint32_t g = node(t, s, 1, gen, 55, 1 + (uint64_t)depth * 40, tot - 20 * MS, 30 * MS);
        tot -= 50 * MS;
        p = node(t, g, 1, part, 55, 45 + (uint64_t)depth * 900, tot, depth == 2 ? tot : 80 * MS);
        tot -= 80 * MS;
    }
    /* memory: self allocations per node */
    pf_trace_node_mem_at(t, n3)->alloc_bytes = 9 * 1024 * 1024;
    pf_trace_node_mem_at(t, n2)->alloc_bytes = 2 * 1024 * 1024 + 300 * 1024;
    pf_trace_node_mem_at(t, n5)->alloc_bytes = 11 * 1024 * 1024;
    pf_trace_node_mem_at(t, n7)->alloc_bytes = 40 * 1024;
    pf_trace_node_mem_at(t, n9)->alloc_bytes = 6 * 1024 * 1024;

    /* lines (MainThread side) */
    line_mem(t, mod, 7, 1, 3 * MS, 3 * MS, 600 * 1024, 600 * 1024, 600 * 1024);
    line_mem(t, mod, 8, 1, 2 * MS, 2 * MS, 200 * 1024, 200 * 1024, 200 * 1024);
    line_mem(t, mod, 75, 1, 1 * US, 1 * US, 0, 0, 0);
    line_mem(t, mod, 76, 1, 1208 * MS, 0, 30 * 1024 * 1024, 27 * 1024 * 1024, 1024);
    line_mem(t, corpus, 19, 1, 12 * US, 12 * US, 1024, 0, 0);
    line_mem(t, corpus, 20, 1, 1 * US, 1 * US, 0, 0, 0);
    line_mem(t, corpus, 21, 20001, 9 * MS, 9 * MS, 0, 0, 0);
    line_mem(t, corpus, 22, 20000, 340 * MS, 10 * MS, 9 * 1024 * 1024, 0, 0);
    line_mem(t, lc, 22, 220000, 330 * MS, 140 * MS, 9 * 1024 * 1024, 0, 0);
    line_mem(t, corpus, 23, 20000, 62 * MS, 62 * MS, 2 * 1024 * 1024, 2 * 1024 * 1024 + 100 * 1024, 0);
    line_mem(t, corpus, 24, 1, 8 * MS, 8 * MS, 1200 * 1024, 1200 * 1024, 0);
    line_mem(t, tok, 28, 1, 60 * MS, 1 * MS, 11 * 1024 * 1024, 11 * 1024 * 1024, 0);
    line_mem(t, cw, 32, 1, 2 * US, 2 * US, 232, 232, 0);
    line_mem(t, cw, 33, 200214, 55 * MS, 55 * MS, 0, 0, 0);
    line_mem(t, cw, 34, 200213, 124 * MS, 62 * MS, 40 * 1024, 40 * 1024, 0);
    line_mem(t, cw, 35, 1, 1 * US, 1 * US, 0, 0, 0);
    line_mem(t, cb, 39, 1, 40 * MS, 1 * MS, 6 * 1024 * 1024, 6 * 1024 * 1024, 0);
    line_mem(t, ren, 43, 1, 3 * MS, 0, 4096, 0, 0);
    line_mem(t, lam, 43, 40, 1 * MS, 1 * MS, 0, 0, 0);
    line_mem(t, ren, 44, 1, 1 * MS, 1 * MS, 2048, 0, 0);
    line_mem(t, ren, 45, 1, 40 * US, 40 * US, 1800, 0, 0);
    line_mem(t, ren, 46, 1, 4 * MS, 0, 9000, 0, 0);
    line_mem(t, mn, 63, 1, 1 * US, 1 * US, 56, 56, 56);
    line_mem(t, mn, 64, 1, 40 * US, 40 * US, 1024, 1024, 1024);
    line_mem(t, mn, 65, 1, 1 * MS, 1 * MS, 0, 0, 0);
    line_mem(t, mn, 66, 1, 420 * MS, 0, 14 * 1024 * 1024, 14 * 1024 * 1024, 0);
    line_mem(t, mn, 67, 1, 60 * MS, 0, 11 * 1024 * 1024, 11 * 1024 * 1024, 0);
    line_mem(t, mn, 68, 1, 180 * MS, 0, 40 * 1024, 40 * 1024, 40 * 1024);
    line_mem(t, mn, 69, 1, 40 * MS, 0, 6 * 1024 * 1024, 6 * 1024 * 1024, 0);
    line_mem(t, mn, 70, 1, 8 * MS, 0, 16 * 1024, 0, 0);
    line_mem(t, mn, 71, 1, 499 * MS, 0, 0, 0, 0);
    line_mem(t, mn, 72, 1, 30 * US, 30 * US, 512, 0, 0);
    /* partitions thread */
    line_mem(t, bg, 59, 1, 905 * MS, 0, 128, 128, 128);
    line_mem(t, part, 51, 2746, 3 * MS, 3 * MS, 0, 0, 0);
    line_mem(t, part, 52, 2746, 2 * MS, 2 * MS, 0, 0, 0);
    line_mem(t, part, 53, 2746, 2 * MS, 2 * MS, 0, 0, 0);
    line_mem(t, part, 54, 1, 1 * US, 1 * US, 0, 0, 0);
    line_mem(t, part, 55, 2700, 890 * MS, 180 * MS, 2048, 0, 0);
    line_mem(t, gen, 55, 92000, 700 * MS, 90 * MS, 0, 0, 0);
    line_mem(t, dumps, 231, 1, 4 * MS, 4 * MS, 9000, 0, 0);
    line_mem(t, counter, 599, 1, 39 * MS, 39 * MS, 6 * 1024 * 1024, 6 * 1024 * 1024, 0);

    size_t len = 0;
    char *text = slurp("samples/textstats.py", &len);
    source(t, py, text ? text : textstats_fallback);
    free(text);
    pf_error err;
    if (pf_trace_validate(t, &err) != 0)
        fail_msg("sample trace invalid: %s", err.msg);
    return t;
}

/* ---- escaping --------------------------------------------------------------------- */

static void expect_escape(const char *in, size_t len, const char *want)
{
    char *got = escape(in, len);
    if (strcmp(got, want) != 0)
        fail_msg("escape mismatch: got '%s' want '%s'", got, want);
    free(got);
}

#define FFFD "\xEF\xBF\xBD"

static void test_html_escape_special_characters(void **state)
{
    (void)state;
    expect_escape("a<b>&\"c'", 8, "a&lt;b&gt;&amp;&quot;c&#39;");
    expect_escape("</script><!--", 13, "&lt;/script&gt;&lt;!--");
    expect_escape("tab\there\nnl", 11, "tab\there\nnl");
    expect_escape("nul\0esc\x1b" "del\x7f", 12, "nul\xE2\x90\x80" "esc\xE2\x90\x9B" "del\xE2\x90\xA1");
}

static void test_html_escape_replaces_invalid_utf8(void **state)
{
    (void)state;
    expect_escape("ok \xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80", 12, "ok \xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80");
    expect_escape("\xFF", 1, FFFD);
    expect_escape("a\xC3", 2, "a" FFFD);                       /* truncated at the end */
    expect_escape("\xE2\x82" "A", 3, FFFD "A");                /* one FFFD per maximal subpart */
    expect_escape("\xC0\xAF", 2, FFFD FFFD);                   /* overlong lead, stray byte */
    expect_escape("\xE0\x80\xAF", 3, FFFD FFFD FFFD);          /* overlong 3-byte */
    expect_escape("\xED\xA0\x80", 3, FFFD FFFD FFFD);          /* surrogate */
    expect_escape("\xF4\x90\x80\x80", 4, FFFD FFFD FFFD FFFD); /* above U+10FFFF */
    expect_escape("\xC2\x85", 2, FFFD);                        /* C1 control */
    expect_escape("\xF0\x9F\x98<", 4, FFFD "&lt;");
}

static void test_html_highlight_python(void **state)
{
    (void)state;
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    pf_html_hl hl = { 0 };
    const char *lines[] = { "@cache", "def f(x, y=1.5e-3):  # c<", "    s = \"\"\"doc", "  still \"doc\"",
                            "\"\"\" + r'\\'' ; return self", "class K: pass" };
    for (size_t i = 0; i < 6; i++) {
        pf_html_highlight_line(f, lines[i], strlen(lines[i]), &hl);
        fputc('\n', f);
    }
    fclose(f);
    assert_non_null(strstr(buf, "<i class=d>@cache</i>"));
    assert_non_null(strstr(buf, "<i class=k>def</i> <i class=f>f</i>"));
    assert_non_null(strstr(buf, "<i class=n>1.5e-3</i>"));
    assert_non_null(strstr(buf, "<i class=c># c&lt;</i>"));
    assert_non_null(strstr(buf, "<i class=s>&quot;&quot;&quot;doc</i>"));
    assert_non_null(strstr(buf, "<i class=s>  still &quot;doc&quot;</i>"));
    assert_non_null(strstr(buf, "<i class=s>r&#39;\\&#39;&#39;</i>"));
    assert_non_null(strstr(buf, "<i class=b>self</i>"));
    assert_non_null(strstr(buf, "<i class=k>class</i> <i class=f>K</i>"));
    assert_int_equal(hl.quote, 0);
    free(buf);
}

/* ---- model ----------------------------------------------------------------------------- */

static void test_html_model_counts_recursion_once(void **state)
{
    (void)state;
    pf_trace *t = new_trace(PF_MODE_CALLS);
    uint32_t mn = code(t, "/p/a.py", "main", 1), f = code(t, "/p/a.py", "f", 5), g = code(t, "/p/a.py", "g", 9);
    uint32_t n0 = node(t, PF_NONE, 0, mn, 0, 1, 100, 10);
    uint32_t n1 = node(t, n0, 0, f, 2, 1, 80, 10);
    uint32_t n2 = node(t, n1, 0, g, 6, 2, 60, 5);
    uint32_t n3 = node(t, n2, 0, f, 10, 3, 55, 30);     /* f inside f: not added again */
    node(t, n3, 0, g, 6, 4, 25, 25);                    /* g inside g */
    node(t, n0, 0, g, 3, 1, 10, 10);                    /* a second outermost g */
    pf_error err;
    pf_html_model *m = pf_html_model_new(t, 0, 0, &err);
    assert_non_null(m);
    assert_int_equal(m->total_ns, 100);
    const pf_html_func *ff = &m->funcs[m->func_of_code[f]], *gg = &m->funcs[m->func_of_code[g]];
    assert_int_equal(ff->calls, 4);
    assert_int_equal(ff->self_ns, 40);
    assert_int_equal(ff->cum_ns, 80);
    assert_int_equal(gg->calls, 7);
    assert_int_equal(gg->self_ns, 40);
    assert_int_equal(gg->cum_ns, 70);
    assert_int_equal(m->funcs[0].code, mn);             /* sorted by cumulative */
    assert_int_equal(m->nfiles, 1);
    assert_int_equal(m->files[0].self_ns, 90);           /* sum of self times */
    pf_html_model_free(m);
    pf_trace_free(t);
}

static void test_html_model_merges_lines_of_nested_codes(void **state)
{
    (void)state;
    pf_trace *t = new_trace(PF_MODE_CALLS | PF_MODE_LINES);
    uint32_t f = code(t, "/p/a.py", "f", 1), lc = code(t, "/p/a.py", "<listcomp>", 2);
    uint32_t n0 = node(t, PF_NONE, 0, f, 0, 1, 100, 40);
    node(t, n0, 0, lc, 2, 1, 60, 60);
    line(t, f, 2, 1, 100, 40);
    line(t, lc, 2, 50, 60, 60);
    line(t, f, 3, 1, 0, 0);
    pf_error err;
    pf_html_model *m = pf_html_model_new(t, 0, 0, &err);
    assert_non_null(m);
    assert_int_equal(m->nfiles, 1);
    assert_int_equal(m->files[0].nlines, 2);
    const pf_html_line *l = &m->files[0].lines[0];
    assert_int_equal(l->line, 2);
    assert_int_equal(l->hits, 51);
    assert_int_equal(l->self_ns, 100);
    assert_int_equal(l->total_ns, 100);                  /* nested: max, not 160 */
    assert_int_equal(m->nhot, 1);
    pf_html_model_free(m);
    pf_trace_free(t);
}

static void test_html_model_limit_and_threshold(void **state)
{
    (void)state;
    pf_trace *t = new_trace(PF_MODE_CALLS);
    uint32_t a = code(t, "/p/a.py", "a", 1), b = code(t, "/p/b.py", "b", 1), c = code(t, "/p/c.py", "c", 1);
    uint32_t n0 = node(t, PF_NONE, 0, a, 0, 1, 100, 70);
    node(t, n0, 0, b, 1, 1, 25, 25);
    node(t, n0, 0, c, 1, 1, 5, 5);
    pf_error err;
    pf_html_model *m = pf_html_model_new(t, 2, 0, &err);
    assert_int_equal(m->nshown, 2);
    assert_string_equal(pf_trace_str(t, m->files[0].path), "/p/a.py");
    assert_true(m->files[1].shown && !m->files[2].shown);
    assert_int_equal(m->hidden_ns, 5);
    pf_html_model_free(m);
    m = pf_html_model_new(t, 0, 20, &err);
    assert_int_equal(m->nshown, 2);
    pf_html_model_free(m);
    m = pf_html_model_new(t, 1, 1, &err);
    assert_int_equal(m->nshown, 1);
    pf_html_model_free(m);
    pf_trace_free(t);
}

static void test_html_short_paths(void **state)
{
    (void)state;
    pf_trace *t = new_trace(PF_MODE_CALLS);
    pf_meta_push_str(&t->meta.path, &t->meta.npath, "/usr/lib/python3.11/");
    pf_meta_push_str(&t->meta.path, &t->meta.npath, "/usr/lib");
    assert_string_equal(pf_html_short_path(t, "/usr/lib/python3.11/json/x.py", 0), "json/x.py");
    assert_string_equal(pf_html_short_path(t, "/home/dev/proj/app.py", 0), "app.py");
    assert_string_equal(pf_html_short_path(t, "/home/dev/projx/app.py", 0), "/home/dev/projx/app.py");
    assert_string_equal(pf_html_short_path(t, "/usr/lib/python3.11/json/x.py", 1), "/usr/lib/python3.11/json/x.py");
    pf_trace_free(t);
}

/* ---- the document ---------------------------------------------------------------------- */

static pf_trace *hostile_trace(void)
{
    pf_trace *t = new_trace(PF_MODE_CALLS | PF_MODE_LINES);
    const char *path = "/tmp/</script><script>alert(\"p\")</script>&'.py";
    uint32_t c = code(t, path, "</script><script>alert(1)</script>", 1);
    uint32_t c2 = code(t, path, "bad\xFF\xFEname<!--", 4);
    uint32_t n = node(t, PF_NONE, 0, c, 0, 1, 100, 50);
    node(t, n, 0, c2, 2, 1, 50, 50);
    line(t, c, 2, 1, 100, 50);
    line(t, c2, 5, 1, 50, 50);
    source(t, path, "def f():\n    s = '</script><script>alert(2)</script>'\n"
                    "    # \xC3\x28 invalid \xFF & \"quotes\" <!-- -->\n"
                    "def bad():\n    return '\xE2\x80\xA8 \xED\xA0\x80'\n");
    pf_meta_push_str(&t->meta.argv, &t->meta.argc, "prog.py");
    pf_meta_push_str(&t->meta.argv, &t->meta.argc, "</script><b>it's</b>");
    pf_meta_set_str(&t->meta.hostname, "<img onerror=x>");
    pf_meta_set_str(&t->meta.python_executable, "/bin/\xFFpy");
    pf_meta_set_str(&t->meta.clock, "</style>");
    return t;
}

static void test_html_escapes_hostile_program_data(void **state)
{
    (void)state;
    pf_trace *t = hostile_trace();
    size_t len;
    char *doc = render(t, NULL, &len);
    assert_int_equal(strlen(doc), len);                 /* no NUL byte in the document */
    assert_int_equal(count(doc, "<script"), 1);         /* only the report's own */
    assert_int_equal(count(doc, "</script"), 1);
    assert_int_equal(count(doc, "<style"), 1);
    assert_int_equal(count(doc, "</style"), 1);
    assert_int_equal(count(doc, "<!--"), 0);
    /* the embedded script and style hold no markup that could end them early */
    const char *js = strstr(doc, "<script>") + 8, *js_end = strstr(js, "</script>");
    for (const char *p = js; p < js_end; p++)
        assert_false(p[0] == '<' && (p[1] == '/' || p[1] == '!'));
    const char *css = strstr(doc, "<style>") + 7, *css_end = strstr(css, "</style>");
    for (const char *p = css; p < css_end; p++)
        assert_false(p[0] == '<');
    assert_null(strstr(doc, "<b>"));
    assert_null(strstr(doc, "<img"));
    assert_non_null(strstr(doc, "&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;"));
    /* shell-quoted for copying: '</script><b>it'\''s</b>' */
    assert_non_null(strstr(doc, "&#39;&lt;/script&gt;&lt;b&gt;it&#39;\\&#39;&#39;s&lt;/b&gt;&#39;"));
    assert_non_null(strstr(doc, "bad" FFFD FFFD "name&lt;!--"));
    assert_non_null(strstr(doc, "&lt;img onerror=x&gt;"));
    assert_true(valid_utf8((const unsigned char *)doc, len));
    balanced(doc, "<tr", "</tr>");
    balanced(doc, "<table", "</table>");
    balanced(doc, "<tbody", "</tbody>");
    balanced(doc, "<details", "</details>");
    links_resolve(doc);
    free(doc);
    pf_trace_free(t);
}

/* Two processes, each with a MainThread: pid 500 (main -> work, exit 0) and its child
 * pid 501 (job -> work, killed and cut short) whose command is hostile. */
static pf_trace *two_process_trace(uint32_t modes)
{
    pf_trace *t = new_trace(modes);
    pf_meta_push_str(&t->meta.argv, &t->meta.argc, "app.py");
    t->meta.exit_signal = 15;
    t->meta.flags |= PF_FLAG_CUT_SHORT;
    pf_thread th = { 1, S(t, "MainThread") };
    assert_int_equal(pf_trace_add_thread(t, &th), 1);
    pf_process p0 = { 500, 1, S(t, "python3 app.py"), 0, 1, PF_PROC_EXITED, 0, 900000000, 3,
                      4096, 0, 0 };
    pf_process p1 = { 501, 500, S(t, "python3 -c \"</code></td><script>alert('c')</script>\" \xFF"),
                      1, 1, PF_PROC_KILLED | PF_PROC_CUT_SHORT, 100000000, 400000000, 2,
                      1 << 20, PF_EXIT_UNKNOWN, 15 };
    assert_int_equal(pf_trace_add_process(t, &p0), 0);
    assert_int_equal(pf_trace_add_process(t, &p1), 1);
    uint32_t cm = code(t, "/home/dev/proj/app.py", "main", 1);
    uint32_t cw = code(t, "/home/dev/proj/lib.py", "work", 1);
    uint32_t cj = code(t, "/home/dev/proj/worker.py", "job", 1);
    uint32_t m = node(t, PF_NONE, 0, cm, 0, 1, 800000000, 100000000);
    node(t, m, 0, cw, 2, 2, 700000000, 700000000);
    uint32_t j = node(t, PF_NONE, 1, cj, 0, 1, 300000000, 50000000);
    node(t, j, 1, cw, 3, 1, 250000000, 250000000);
    pf_error err;
    assert_int_equal(pf_trace_validate(t, &err), 0);
    return t;
}

static void test_html_processes_and_how_the_program_ended(void **state)
{
    (void)state;
    pf_trace *t = two_process_trace(PF_MODE_CALLS);
    pf_html_model *m = pf_html_model_new(t, 0, 0, NULL);
    assert_non_null(m);
    uint32_t fw = m->func_of_code[1], fm = m->func_of_code[0], fj = m->func_of_code[2];
    assert_int_equal(m->funcs[fw].nprocesses, 2);
    assert_int_equal(m->funcs[fm].nprocesses, 1);
    assert_int_equal(m->funcs[fm].process, 0);
    assert_int_equal(m->funcs[fj].process, 1);
    pf_html_model_free(m);

    size_t len;
    char *doc = render(t, NULL, &len);
    assert_int_equal(count(doc, "<script"), 1);         /* only the report's own */
    assert_int_equal(count(doc, "</script"), 1);
    assert_non_null(strstr(doc, "<tr><th>Ended</th><td>killed by SIGTERM (cut short: data up "
                                "to its last snapshot)</td></tr>\n"));
    assert_non_null(strstr(doc, "<p class=\"warn\">The program ended before the collector"));
    assert_non_null(strstr(doc, "<div class=\"k\">Processes</div>"));
    assert_non_null(strstr(doc, "<tr><th>Threads</th><td>MainThread <span class=\"muted\">(pid "
                                "500)</span>, MainThread <span class=\"muted\">(pid 501)</span>"));
    const char *procs = strstr(doc, "<h2>Processes</h2>");
    assert_non_null(procs);
    assert_non_null(strstr(procs, "<tr><td>500</td><td>1</td><td class=\"t\"><code>python3 app.py"
                                  "</code></td><td>900 ms</td><td>3</td><td class=\"t\">exit status 0"
                                  "</td></tr>\n"));
    assert_non_null(strstr(procs, "<tr><td>501</td><td>500</td><td class=\"t\"><code>python3 -c "
                                  "&quot;&lt;/code&gt;&lt;/td&gt;&lt;script&gt;alert(&#39;c&#39;)"
                                  "&lt;/script&gt;&quot; " FFFD "</code></td><td>400 ms</td>"
                                  "<td>2</td><td class=\"t\">killed by SIGTERM (cut short: data "
                                  "up to its last snapshot)</td></tr>\n"));
    assert_null(strstr(procs, "Peak memory"));          /* not a memory trace */
    /* the hottest functions say where each ran */
    const char *hot = strstr(doc, "<h2>Hottest functions</h2>");
    assert_non_null(hot);
    assert_non_null(strstr(hot, "<th title=\"The process it ran in (pid), or in how many\">Process</th>"));
    const char *w = strstr(hot, ">work</a>");
    assert_non_null(w);
    assert_non_null(strstr(w, "<td>all</td><td>950 ms</td>"));
    const char *jb = strstr(hot, ">job</a>");
    assert_non_null(jb);
    assert_non_null(strstr(jb, "<td>501</td><td>50.0 ms</td>"));
    balanced(doc, "<tr", "</tr>");
    balanced(doc, "<table", "</table>");
    balanced(doc, "<td", "</td>");
    assert_true(valid_utf8((const unsigned char *)doc, len));
    links_resolve(doc);
    free(doc);
    pf_trace_free(t);

    /* memory traces show each process's peak */
    t = two_process_trace(PF_MODE_CALLS | PF_MODE_MEMORY);
    doc = render(t, NULL, NULL);
    procs = strstr(doc, "<h2>Processes</h2>");
    assert_non_null(procs);
    assert_non_null(strstr(procs, "<th>Peak memory</th>"));
    assert_non_null(strstr(procs, "<td>3</td><td>4.00 KiB</td>"));
    assert_non_null(strstr(procs, "<td>1.00 MiB</td>"));
    free(doc);

    /* one process: no processes table, no process column; the ending still shows */
    t->nprocesses = 1;
    t->meta.exit_signal = 0;
    t->meta.flags = 0;
    t->meta.exit_code = 2;
    doc = render(t, NULL, NULL);
    assert_null(strstr(doc, "<h2>Processes</h2>"));
    assert_null(strstr(doc, ">Process</th>"));
    assert_null(strstr(doc, "The program ended before"));
    assert_non_null(strstr(doc, "<tr><th>Ended</th><td>exit status 2</td></tr>\n"));
    free(doc);
    t->meta.exit_code = PF_EXIT_UNKNOWN;
    doc = render(t, NULL, NULL);
    assert_null(strstr(doc, "<th>Ended</th>"));
    free(doc);
    t->nprocesses = 2;
    pf_trace_free(t);
}

/* RSS: a plot with one line per process, the peak marked and labelled, axes with
 * time and MiB ticks, a legend with escaped commands; nothing without RSS records. */
static void test_html_rss_plot(void **state)
{
    (void)state;
    pf_trace *t = two_process_trace(PF_MODE_CALLS);
    size_t len;
    char *doc = render(t, NULL, &len);
    assert_null(strstr(doc, "<figure class=\"rss\""));
    assert_null(strstr(doc, "Memory over time"));
    free(doc);
    pf_rss_sample s0[] = { { 0, 10u << 20 }, { 100000000, 110u << 20 },
                           { 400000000, 110u << 20 }, { 900000000, 20u << 20 } };
    pf_rss_sample s1[] = { { 0, 5u << 20 }, { 200000000, 30u << 20 } };
    assert_int_equal(pf_trace_add_rss(t, 0, 120u << 20, 20u << 20, s0, 4), 0);
    assert_int_equal(pf_trace_add_rss(t, 1, 31u << 20, 30u << 20, s1, 2), 1);
    doc = render(t, NULL, &len);
    const char *fig = strstr(doc, "<h2 id=\"rss\">Memory over time</h2>\n<figure class=\"rss\"");
    assert_non_null(fig);
    assert_true(fig < strstr(doc, "<h2>Hottest"));       /* in the overview */
    assert_int_equal(count(fig, "<svg"), 1);
    assert_int_equal(count(doc, "<path class=\"rss-line\""), 2);
    /* the highest peak: 120 MiB (VmHWM, above the highest sample), of pid 500 */
    assert_non_null(strstr(fig, ">peak 120 MiB (pid 500)</text>"));
    assert_non_null(strstr(fig, "<path class=\"rss-peak\""));
    assert_non_null(strstr(fig, ">RSS (MiB)</text>"));
    assert_non_null(strstr(fig, ">time since start</text>"));
    assert_non_null(strstr(fig, ">100 MiB</text>"));
    assert_non_null(strstr(fig, ">400 ms</text>"));
    /* the child's line starts at its start (100 ms of 900 ms: x = 72 + 552 / 9) */
    assert_non_null(strstr(fig, "d=\"M133 "));
    /* legend: escaped command, peak, final */
    assert_non_null(strstr(fig, "pid 500: python3 app.py: peak 120 MiB, at exit 20.0 MiB"));
    assert_non_null(strstr(fig, "&lt;/script&gt;"));
    assert_non_null(strstr(fig, "peak 31.0 MiB, at its last snapshot 30.0 MiB"));
    assert_int_equal(count(doc, "<script"), 1);
    free(doc);
    pf_trace_free(t);
}

static void test_html_processes_out_of_memory_is_clean(void **state)
{
    (void)state;
    pf_trace *t = two_process_trace(PF_MODE_CALLS);
    long base = pf_alloc_live_blocks();
    int ok = 0;
    for (long n = 0; n < 1000 && !ok; n++) {
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        pf_error err;
        pf_error_clear(&err);
        pf_alloc_fail_after(n);
        int rc = pf_html_render(t, NULL, f, &err);
        long injected = pf_alloc_injected_failures();
        pf_alloc_fail_after(-1);
        fclose(f);
        free(buf);
        if (rc == 0) {
            assert_int_equal(injected, 0);
            ok = 1;
        } else {
            assert_int_equal(err.code, PF_ENOMEM);
        }
        assert_int_equal(pf_alloc_live_blocks(), base);
    }
    assert_true(ok);
    pf_trace_free(t);
}

static void test_html_is_deterministic(void **state)
{
    (void)state;
    pf_trace *t = sample_trace();
    size_t n1, n2, n3;
    char *a = render(t, NULL, &n1);
    char *b = render(t, NULL, &n2);
    assert_int_equal(n1, n2);
    assert_memory_equal(a, b, n1);
    /* and after a trip through the file format */
    char path[] = "/tmp/pf-html-det-XXXXXX";
    int fd = mkstemp(path);
    close(fd);
    pf_error err;
    assert_int_equal(pf_trace_write(t, path, &err), 0);
    pf_trace *r = pf_trace_read(path, &err);
    assert_non_null(r);
    char *c = render(r, NULL, &n3);
    assert_int_equal(n1, n3);
    assert_memory_equal(a, c, n1);
    unlink(path);
    free(a);
    free(b);
    free(c);
    pf_trace_free(r);
    pf_trace_free(t);
}

static void test_html_is_self_contained(void **state)
{
    (void)state;
    pf_trace *t = sample_trace();
    char *doc = render(t, NULL, NULL);
    assert_null(strstr(doc, "http://"));
    assert_null(strstr(doc, "https://"));
    assert_null(strstr(doc, "src="));
    assert_null(strstr(doc, "url("));
    assert_null(strstr(doc, "@import"));
    assert_null(strstr(doc, "<link"));
    assert_null(strstr(doc, "<iframe"));
    size_t hrefs = 0;
    for (const char *p = strstr(doc, "href="); p; p = strstr(p + 5, "href=")) {
        assert_true(strncmp(p, "href=\"#", 7) == 0);
        hrefs++;
    }
    assert_true(hrefs > 20);
    assert_non_null(strstr(doc, "Content-Security-Policy"));
    free(doc);
    pf_trace_free(t);
}

static void test_html_code_is_under_200k(void **state)
{
    (void)state;
    pf_trace *t = pf_trace_new();
    size_t len;
    char *doc = render(t, NULL, &len);
    assert_true(len < 200 * 1024);
    assert_non_null(strstr(doc, "No Python file has data"));
    free(doc);
    pf_trace_free(t);
}

static const char *hundred_lines(void)
{
    static char buf[4096];
    size_t o = 0;
    for (int i = 1; i <= 100; i++)
        o += (size_t)snprintf(buf + o, sizeof buf - o, i == 1 ? "def f():\n" : "    x%d = %d\n", i, i);
    return buf;
}

static void test_html_folds_cold_stretches(void **state)
{
    (void)state;
    pf_trace *t = new_trace(PF_MODE_CALLS | PF_MODE_LINES);
    uint32_t f = code(t, "/p/a.py", "f", 1);
    node(t, PF_NONE, 0, f, 0, 1, 100, 100);
    line(t, f, 5, 1, 40, 40);
    line(t, f, 90, 1, 60, 60);
    source(t, "/p/a.py", hundred_lines());
    char *doc = render(t, NULL, NULL);
    /* kept: 1..8 (def line, line 5 +-3), 87..93; folded: 9..86, 94..100 */
    assert_int_equal(count(doc, "<tbody class=\"fold\">"), 2);
    assert_int_equal(count(doc, "<tbody class=\"cold\" hidden>"), 2);
    assert_non_null(strstr(doc, "78 lines without data (9\xE2\x80\x93" "86)"));
    assert_non_null(strstr(doc, "7 lines without data (94\xE2\x80\x93" "100)"));
    const char *cold = strstr(doc, "<tbody class=\"cold\" hidden>");
    const char *l50 = strstr(doc, "id=\"L0-50\"");
    assert_non_null(l50);                                 /* folded rows keep their anchors */
    assert_true(l50 > cold && l50 < strstr(cold, "</tbody>"));
    const char *l5 = strstr(doc, "id=\"L0-5\"");
    assert_true(l5 < cold);
    assert_non_null(strstr(doc, "Expand all"));
    /* more context: one fold fewer */
    pf_html_opts o;
    pf_html_opts_init(&o);
    o.context = 10;
    char *doc2 = render(t, &o, NULL);
    assert_int_equal(count(doc2, "<tbody class=\"fold\">"), 1);
    free(doc2);
    free(doc);
    pf_trace_free(t);
}

/* main's line 2 calls work(), which holds 70% of the run: by self time it is cold,
 * by time it is the hottest line. */
static pf_trace *call_heavy_trace(void)
{
    pf_trace *t = new_trace(PF_MODE_CALLS | PF_MODE_LINES);
    uint32_t mn = code(t, "/p/a.py", "main", 1), w = code(t, "/p/a.py", "work", 5);
    uint32_t n0 = node(t, PF_NONE, 0, mn, 0, 1, 100, 30);
    node(t, n0, 0, w, 2, 1, 70, 70);
    line(t, mn, 2, 1, 72, 2);
    line(t, mn, 3, 1, 28, 28);
    line(t, w, 6, 1, 40, 40);
    line(t, w, 7, 1, 30, 30);
    source(t, "/p/a.py", "def main():\n    work()\n    x = sum(range(9))\n\n"
                        "def work():\n    y = 1\n    z = 2\n");
    return t;
}

static void test_html_model_ranks_hot_lines_by_time_and_by_self(void **state)
{
    (void)state;
    pf_trace *t = call_heavy_trace();
    pf_error err;
    pf_html_model *m = pf_html_model_new(t, 0, 0, &err);
    assert_non_null(m);
    assert_int_equal(m->nhot_time, 4);
    assert_int_equal(m->files[0].lines[m->hot_time[0].line].line, 2);   /* the call: 72 */
    assert_int_equal(m->files[0].lines[m->hot_time[1].line].line, 6);
    assert_int_equal(m->nhot, 4);
    assert_int_equal(m->files[0].lines[m->hot[0].line].line, 6);        /* self: 40 */
    assert_int_equal(m->files[0].lines[m->hot[3].line].line, 2);        /* self: 2 */
    pf_html_model_free(m);
    pf_trace_free(t);
}

/* A recursive function's calling line: the trace sums its time over the nested
 * activations too (here 3 + 2 + 1 levels); the report caps it at the function's
 * cumulative time, so no line holds more than the run. */
static void test_html_model_recursive_line_time_within_the_run(void **state)
{
    (void)state;
    pf_trace *t = new_trace(PF_MODE_CALLS | PF_MODE_LINES);
    uint32_t r = code(t, "/p/r.py", "rec", 1);
    uint32_t n0 = node(t, PF_NONE, 0, r, 0, 1, 90, 30);
    uint32_t n1 = node(t, n0, 0, r, 2, 1, 60, 30);
    node(t, n1, 0, r, 2, 1, 30, 30);
    line(t, r, 2, 3, 150, 90);                  /* 90 + 60: nested activations again */
    pf_error err;
    pf_html_model *m = pf_html_model_new(t, 0, 0, &err);
    assert_non_null(m);
    assert_int_equal(m->total_ns, 90);
    assert_int_equal(m->files[0].lines[0].total_ns, 90);
    assert_int_equal(m->files[0].lines[0].self_ns, 90);
    pf_html_model_free(m);
    pf_trace_free(t);
}

/* The overview's rankings: by time (default) or self time, a toggle that is CSS only;
 * every percentage column says what it is a share of. */
static void test_html_rankings_toggle_and_label_their_shares(void **state)
{
    (void)state;
    pf_trace *t = call_heavy_trace();
    char *doc = render(t, NULL, NULL);
    const char *hl = strstr(doc, "<h2>Hottest lines</h2>");
    const char *hf = strstr(doc, "<h2>Hottest functions</h2>");
    assert_non_null(hl);
    assert_non_null(hf);
    assert_non_null(strstr(hl, "<input type=\"radio\" name=\"rank-lines\" id=\"rank-lines-time\" "
                               "value=\"time\" checked>"));
    assert_non_null(strstr(hf, "<input type=\"radio\" name=\"rank-funcs\" id=\"rank-funcs-time\" "
                               "value=\"time\" checked>"));
    /* lines: the by-time table first, its first row the calling line at 72% */
    const char *bt = strstr(hl, "<table class=\"list by-time\">");
    const char *bs = strstr(hl, "<table class=\"list by-self\">");
    assert_non_null(bt);
    assert_non_null(bs);
    assert_true(bt < bs && bs < hf);
    const char *row = strstr(bt, "<tbody>");
    assert_non_null(strstr(row, "<a href=\"#L0-2\">/p/a.py:2</a></td><td>72 ns</td><td>72.0%</td>"));
    assert_true(strstr(row, "#L0-2") < strstr(row, "#L0-6"));
    row = strstr(bs, "<tbody>");
    assert_non_null(strstr(row, "<a href=\"#L0-6\">/p/a.py:6</a></td><td>40 ns</td><td>40.0%</td>"));
    /* every % column is named for its share: no bare "%" head anywhere */
    assert_null(strstr(doc, "<th>%</th>"));
    assert_null(strstr(doc, "\">%</th>"));
    assert_non_null(strstr(bt, "Time</th><th title=\"Time including calls, as a share of the profiled time\">Time %</th>"));
    assert_non_null(strstr(bs, "Self time</th><th title=\"Self time as a share of the profiled time\">Self %</th>"));
    /* the source table: Time % beside Time, and it is the time's share */
    const char *src = strstr(doc, "<section id=\"source\">");
    assert_non_null(strstr(src, ">Time</th><th title=\"Time including calls, as a share of the profiled time\">Time %</th>"));
    assert_non_null(strstr(src, "<td>72 ns</td><td>72.0%</td><td>2 ns</td>"));
    /* the CSS that does the toggling is embedded */
    assert_non_null(strstr(doc, ".rank > input[value=\"time\"]:checked ~ table.by-self"));
    free(doc);
    pf_trace_free(t);
}

/* Files holding most of the self time are open, the others folded (closed <details>),
 * with a note and a script-only "Open all files" button. */
static void test_html_opens_hot_files_and_folds_cold_ones(void **state)
{
    (void)state;
    pf_trace *t = new_trace(PF_MODE_CALLS);
    static const uint64_t self[] = { 850, 60, 40, 20, 10, 10, 10 };
    char path[32];
    uint32_t root = PF_NONE;
    for (uint32_t i = 0; i < 7; i++) {
        snprintf(path, sizeof path, "/p/m%u.py", i);
        uint32_t c = code(t, path, "f", 1);
        source(t, path, "def f():\n    pass\n");
        uint32_t n = node(t, root, 0, c, root == PF_NONE ? 0 : 2, 1, i ? self[i] : 1000, self[i]);
        if (root == PF_NONE)
            root = n;
    }
    pf_error err;
    pf_html_model *m = pf_html_model_new(t, 0, 0, &err);
    assert_non_null(m);
    assert_int_equal(m->nopen, 1);                       /* 85% is past 80%: one file */
    assert_true(m->files[0].open);
    pf_html_model_free(m);
    char *doc = render(t, NULL, NULL);
    assert_int_equal(count(doc, "<details class=\"file\""), 7);
    assert_int_equal(count(doc, "<details class=\"file\" id=\"f0\" open>"), 1);
    assert_int_equal(count(doc, "\" open>"), 1);
    assert_non_null(strstr(doc, "The 1 hottest file, holding most of the self time, is open; "
                                "the 6 others are folded"));
    assert_non_null(strstr(doc, "<button type=\"button\" class=\"open-files\" hidden>Open all files</button>"));
    links_resolve(doc);
    free(doc);
    pf_trace_free(t);

    /* evenly spread: the hottest PF_HTML_OPEN_FILES, no more */
    t = new_trace(PF_MODE_CALLS);
    root = PF_NONE;
    for (uint32_t i = 0; i < 9; i++) {
        snprintf(path, sizeof path, "/p/m%u.py", i);
        uint32_t c = code(t, path, "f", 1);
        uint32_t n = node(t, root, 0, c, 0, 1, root == PF_NONE ? 900 : 100, 100);
        if (root == PF_NONE)
            root = n;
    }
    m = pf_html_model_new(t, 0, 0, &err);
    assert_non_null(m);
    assert_int_equal(m->nopen, PF_HTML_OPEN_FILES);
    pf_html_model_free(m);
    pf_trace_free(t);

    /* one file: open, and no note */
    t = call_heavy_trace();
    doc = render(t, NULL, NULL);
    assert_int_equal(count(doc, "<details class=\"file\" id=\"f0\" open>"), 1);
    assert_null(strstr(doc, "class=\"open-files\""));
    free(doc);
    pf_trace_free(t);
}

static void test_html_anchors_for_functions_and_lines(void **state)
{
    (void)state;
    pf_trace *t = sample_trace();
    char *doc = render(t, NULL, NULL);
    char want[64];
    for (uint32_t c = 0; c < t->ncodes; c++) {
        snprintf(want, sizeof want, "id=\"code-%u\"", c);
        assert_int_equal(count(doc, want), 1);            /* every function, exactly once */
    }
    assert_non_null(strstr(doc, "href=\"#code-11\""));    /* main, linked from the table */
    assert_non_null(strstr(doc, "<tr class=\"fn\" id=\"code-11\">"));
    assert_non_null(strstr(doc, "<span id=\"code-7\"></span>")); /* <lambda>: in its line cell */
    assert_non_null(strstr(doc, "id=\"L0-34\""));
    assert_non_null(strstr(doc, "href=\"#L0-34\""));       /* hottest lines link to the line */
    assert_non_null(strstr(doc, "Hottest lines"));
    /* files without embedded source: rows of their data lines */
    assert_non_null(strstr(doc, "not embedded in the trace"));
    assert_non_null(strstr(doc, "json/__init__.py"));
    assert_non_null(strstr(doc, "partitions"));
    links_resolve(doc);
    free(doc);
    pf_trace_free(t);
}

static void test_html_memory_columns(void **state)
{
    (void)state;
    pf_trace *t = sample_trace();
    char *doc = render(t, NULL, NULL);
    assert_non_null(strstr(doc, ">Allocated</th>"));
    assert_non_null(strstr(doc, ">At peak</th>"));
    assert_non_null(strstr(doc, ">At exit</th>"));
    assert_non_null(strstr(doc, "Peak memory"));
    assert_non_null(strstr(doc, "27.5 MiB"));             /* meta.peak_live_bytes */
    assert_non_null(strstr(doc, "<td>11.0 MiB</td>"));    /* tokenize's line */
    assert_non_null(strstr(doc, "id=\"L0-28\" class=\"h1\""));
    assert_null(strstr(doc, "native"));                   /* Python allocators only */
    free(doc);
    /* with native memory: its share of the peak, in the card's title and the meta row */
    t->meta.modes |= PF_MODE_NATIVE;
    t->meta.peak_native_bytes = 20u << 20;
    doc = render(t, NULL, NULL);
    assert_non_null(strstr(doc, "Python and native (native: 20.0 MiB)"));
    assert_non_null(strstr(doc, "(native 20.0 MiB, Python 7.50 MiB)"));
    free(doc);
    t->meta.modes &= ~(uint32_t)PF_MODE_NATIVE;
    /* the same trace without the MEMORY mode bit has no memory columns */
    /* memory without line data: function and file totals, no line columns */
    uint32_t nlines = t->nlines;
    t->nlines = 0;
    doc = render(t, NULL, NULL);
    assert_null(strstr(doc, "At peak"));
    assert_non_null(strstr(doc, "Peak memory"));
    assert_non_null(strstr(doc, "self 1.00 ms (0.05%) \xC2\xB7 cumulative 60.0 ms (2.84%) \xC2\xB7 allocated 11.0 MiB"));
    free(doc);
    t->nlines = nlines;
    t->meta.modes &= ~(uint32_t)PF_MODE_MEMORY;
    doc = render(t, NULL, NULL);
    assert_null(strstr(doc, "At peak"));
    assert_null(strstr(doc, "Peak memory"));
    assert_non_null(strstr(doc, ">Hits</th>"));
    free(doc);
    pf_trace_free(t);
}

static void test_html_calls_only_trace_lists_functions(void **state)
{
    (void)state;
    pf_trace *t = new_trace(PF_MODE_CALLS);
    uint32_t f = code(t, "/p/a.py", "f", 1), g = code(t, "/p/a.py", "g", 60), len = code(t, "", "<built-in method builtins.len>", 0);
    uint32_t n = node(t, PF_NONE, 0, f, 0, 1, 100, 60);
    node(t, n, 0, g, 2, 7, 30, 30);
    node(t, n, 0, len, 3, 9, 10, 10);
    char text[4096];
    snprintf(text, sizeof text, "%s", hundred_lines());
    memcpy(strstr(text, "    x60 = 60"), "def g():    ", 12);
    source(t, "/p/a.py", text);
    char *doc = render(t, NULL, NULL);
    assert_null(strstr(doc, ">Hits</th>"));
    assert_non_null(strstr(doc, "no line data"));
    assert_non_null(strstr(doc, "<tr class=\"fn\" id=\"code-0\">"));
    assert_non_null(strstr(doc, "<tr class=\"fn\" id=\"code-1\">"));
    assert_non_null(strstr(doc, "<tr id=\"code-2\">"));   /* the built-in: its table row */
    assert_non_null(strstr(doc, "builtins.len"));
    assert_non_null(strstr(doc, "7 calls"));
    /* the def lines are visible (not inside a fold), with their neighbourhood */
    const char *l60 = strstr(doc, "id=\"L0-60\"");
    assert_non_null(l60);
    const char *p = l60;
    while (p > doc && strncmp(p, "<tbody", 6) != 0)
        p--;
    assert_true(strncmp(p, "<tbody>", 7) == 0);
    assert_non_null(strstr(doc, "id=\"L0-66\""));
    assert_int_equal(count(doc, "<tbody class=\"fold\">"), 2);   /* 8-56, 67-100 */
    free(doc);
    pf_trace_free(t);
}

/* --lines that selected nothing: LINES mode without line records says why, and how to
 * choose files. */
static void test_html_lines_mode_without_lines_says_why(void **state)
{
    (void)state;
    pf_trace *t = new_trace(PF_MODE_CALLS | PF_MODE_LINES);
    uint32_t f = code(t, "/usr/lib/python3/dist-packages/docutils/core.py", "f", 1);
    node(t, PF_NONE, 0, f, 0, 1, 100, 100);
    char *doc = render(t, NULL, NULL);
    assert_non_null(strstr(doc, "line tracing was on but no file matched the selection; "
                                "choose files with <code>collect --include GLOB</code>"));
    assert_non_null(strstr(doc, "lines</span> <span class=\"muted\">(no file matched the selection)"));
    free(doc);
    pf_trace_free(t);
}

/* A module run records argv as "-m NAME ...": the report is named after the module. */
static void test_html_module_run_title_names_the_module(void **state)
{
    (void)state;
    pf_trace *t = new_trace(PF_MODE_CALLS);
    uint32_t f = code(t, "/usr/lib/python3/dist-packages/docutils/core.py", "f", 1);
    node(t, PF_NONE, 0, f, 0, 1, 100, 100);
    pf_meta_push_str(&t->meta.argv, &t->meta.argc, "-m");
    pf_meta_push_str(&t->meta.argv, &t->meta.argc, "docutils");
    pf_meta_push_str(&t->meta.argv, &t->meta.argc, "in.rst");
    char *doc = render(t, NULL, NULL);
    assert_non_null(strstr(doc, "<title>Profile of docutils</title>"));
    free(doc);
    pf_trace_free(t);
}

/* Lines are counted as Python counts them: \n, \r\n and a lone \r all end a line. */
static void test_html_source_line_endings(void **state)
{
    (void)state;
    pf_trace *t = new_trace(PF_MODE_CALLS | PF_MODE_LINES);
    uint32_t f = code(t, "/p/a.py", "f", 1);
    node(t, PF_NONE, 0, f, 0, 1, 100, 100);
    line(t, f, 4, 1, 100, 100);
    source(t, "/p/a.py", "def f():\r\n    one\r    two\n    three_marker\r\n");
    char *doc = render(t, NULL, NULL);
    const char *l4 = strstr(doc, "id=\"L0-4\"");
    assert_non_null(l4);
    const char *three = strstr(l4, "three_marker");
    assert_true(three != NULL && three < strstr(l4, "</tr>"));
    assert_non_null(strstr(doc, "id=\"L0-3\"><td>3</td><td colspan=\"6\"></td><td class=\"sc\">    two</td>"));
    assert_null(strstr(doc, "id=\"L0-5\""));          /* a final newline adds no line */
    assert_non_null(strstr(doc, "4 lines"));
    free(doc);
    pf_trace_free(t);
}

static void test_html_file_without_embedded_source(void **state)
{
    (void)state;
    pf_trace *t = new_trace(PF_MODE_CALLS | PF_MODE_LINES);
    uint32_t f = code(t, "/gone/a.py", "f", 10), lam = code(t, "/gone/a.py", "<lambda>", 15);
    uint32_t n = node(t, PF_NONE, 0, f, 0, 1, 100, 100);
    node(t, n, 0, lam, 11, 1, 0, 0);
    line(t, f, 11, 3, 60, 60);
    line(t, f, 20, 1, 40, 40);
    char *doc = render(t, NULL, NULL);
    assert_non_null(strstr(doc, "not embedded in the trace"));
    assert_non_null(strstr(doc, "id=\"F0-11\""));
    assert_non_null(strstr(doc, "id=\"F0-20\""));
    assert_null(strstr(doc, "id=\"F0-12\""));
    assert_int_equal(count(doc, "<tr class=\"gap\">"), 1);  /* between 11 and 20 */
    assert_non_null(strstr(doc, "<tr class=\"fn\" id=\"code-0\"><td>10</td>"));  /* no empty row for 10 */
    assert_null(strstr(doc, "id=\"F0-10\""));
    assert_non_null(strstr(doc, "<tr class=\"fn\" id=\"code-1\"><td>15</td>"));
    assert_int_equal(count(doc, "id=\"code-1\""), 1);
    assert_null(strstr(doc, "class=\"fold\""));
    free(doc);
    pf_trace_free(t);
}

static void test_html_hostile_line_numbers_stay_bounded(void **state)
{
    (void)state;
    pf_trace *t = new_trace(PF_MODE_CALLS | PF_MODE_LINES);
    uint32_t f = code(t, "/p/a.py", "f", 4000000000u);
    uint32_t anon = code(t, "/p/a.py", "<lambda>", 0);
    uint32_t n = node(t, PF_NONE, 0, f, 0, 1, 100, 100);
    node(t, n, 0, anon, 0, 1, 0, 0);
    line(t, f, 2, 1, 10, 10);
    line(t, f, 4294967295u, 1, 90, 90);
    source(t, "/p/a.py", "a = 1\nb = 2\nc = 3\n");
    size_t len;
    char *doc = render(t, NULL, &len);
    assert_true(len < 100 * 1024);
    assert_non_null(strstr(doc, "id=\"L0-4294967295\" class=\"h5\""));
    assert_non_null(strstr(doc, "<tr class=\"fn\" id=\"code-0\">"));
    assert_non_null(strstr(doc, "id=\"L0-4000000000\" class=\"past\""));
    char want[32];
    snprintf(want, sizeof want, "id=\"code-%u\"", anon);
    assert_int_equal(count(doc, want), 1);
    free(doc);
    pf_trace_free(t);
}

static void test_html_title_and_metadata(void **state)
{
    (void)state;
    pf_trace *t = sample_trace();
    char *doc = render(t, NULL, NULL);
    assert_non_null(strstr(doc, "<title>Profile of textstats.py</title>"));
    assert_non_null(strstr(doc, "samples/textstats.py --top 10"));
    assert_non_null(strstr(doc, "3.11.2"));
    assert_non_null(strstr(doc, "2025-11-25 16:43:20 UTC"));
    assert_non_null(strstr(doc, "build-box, pid 48213"));
    assert_non_null(strstr(doc, "MainThread, partitions"));
    assert_non_null(strstr(doc, ">1.21 s<"));
    assert_non_null(strstr(doc, "<span class=\"tag\">memory</span>"));
    free(doc);
    pf_html_opts o;
    pf_html_opts_init(&o);
    o.title = "Review <42> & co";
    doc = render(t, &o, NULL);
    assert_non_null(strstr(doc, "<title>Review &lt;42&gt; &amp; co</title>"));
    free(doc);
    t->meta.flags = PF_FLAG_OUT_OF_MEMORY;
    doc = render(t, NULL, NULL);
    assert_non_null(strstr(doc, "ran out of memory"));
    free(doc);
    pf_trace_free(t);
}

static void test_html_limit_hides_files_but_keeps_anchors(void **state)
{
    (void)state;
    pf_trace *t = sample_trace();
    pf_html_opts o;
    pf_html_opts_init(&o);
    o.limit = 1;
    char *doc = render(t, &o, NULL);
    assert_int_equal(count(doc, "<details class=\"file\""), 1);
    assert_non_null(strstr(doc, "2 of 3 files are not shown"));
    char want[64];
    for (uint32_t c = 0; c < t->ncodes; c++) {
        snprintf(want, sizeof want, "id=\"code-%u\"", c);
        assert_int_equal(count(doc, want), 1);
    }
    free(doc);
    o.limit = 0;
    o.threshold_pct = 4;                                 /* Counter.__init__ has 39 ms of 2.1 s */
    doc = render(t, &o, NULL);
    assert_int_equal(count(doc, "<details class=\"file\""), 1);
    free(doc);
    pf_trace_free(t);
}

/* Every allocation failure is reported as PF_ENOMEM, and nothing leaks. */
static void test_html_out_of_memory_is_clean(void **state)
{
    (void)state;
    pf_trace *t = sample_trace();
    long base = pf_alloc_live_blocks();
    int ok = 0;
    for (long n = 0; n < 1000 && !ok; n++) {
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        pf_error err;
        pf_error_clear(&err);
        pf_alloc_fail_after(n);
        int rc = pf_html_render(t, NULL, f, &err);
        long injected = pf_alloc_injected_failures();
        pf_alloc_fail_after(-1);
        fclose(f);
        free(buf);
        if (rc == 0) {
            assert_int_equal(injected, 0);
            ok = 1;
        } else {
            assert_int_equal(err.code, PF_ENOMEM);
        }
        assert_int_equal(pf_alloc_live_blocks(), base);
    }
    assert_true(ok);
    pf_trace_free(t);
}

/* The shipped sample (the browser test's input) still reads as what sample_trace()
 * builds: a format change that reinterprets old files is caught here, not in a
 * screenshot. */
static void test_html_shipped_sample_is_current(void **state)
{
    (void)state;
    pf_error err;
    pf_trace *s = sample_trace();
    if (getenv("PF_HTML_WRITE_SAMPLE"))
        assert_int_equal(pf_trace_write(s, "tests/data/html/sample.trace.gz", &err), 0);
    pf_trace *t = pf_trace_read("tests/data/html/sample.trace.gz", &err);
    if (!t)
        fail_msg("tests/data/html/sample.trace.gz: %s (regenerate: see tests/data/html/README.md)", err.msg);
    size_t n1, n2;
    char *want = render(s, NULL, &n1), *got = render(t, NULL, &n2);
    if (n1 != n2 || memcmp(want, got, n1) != 0)
        fail_msg("tests/data/html/sample.trace.gz is stale (regenerate: see tests/data/html/README.md)");
    assert_non_null(strstr(got, "count_words"));
    assert_non_null(strstr(got, ">At peak</th>"));
    free(want);
    free(got);
    pf_trace_free(t);
    pf_trace_free(s);
}

/* ---- the command ---------------------------------------------------------------------- */

static int run(const char *args, char *out, size_t cap)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "html %s", args);
    return pf_test_run(cmd, out, cap);
}

static char obuf[1 << 20];

static void test_html_cli_option_errors(void **state)
{
    (void)state;
    assert_int_equal(run("--help", obuf, sizeof obuf), 0);
    assert_non_null(strstr(obuf, "usage: pyflame-c html"));
    assert_int_equal(run("", obuf, sizeof obuf), 2);
    assert_non_null(strstr(obuf, "missing TRACE"));
    assert_int_equal(run("--limit", obuf, sizeof obuf), 2);
    assert_int_equal(run("--limit x t.gz", obuf, sizeof obuf), 2);
    assert_non_null(strstr(obuf, "--limit wants a number (0 = all), not 'x'"));
    /* --limit 0 means "all", as in convert. */
    assert_int_equal(run("--limit 0 /nonexistent.gz", obuf, sizeof obuf), 1);
    assert_int_equal(run("--limit -3 t.gz", obuf, sizeof obuf), 2);
    assert_int_equal(run("--threshold 101 t.gz", obuf, sizeof obuf), 2);
    assert_int_equal(run("--threshold=abc t.gz", obuf, sizeof obuf), 2);
    assert_int_equal(run("--context 5000 t.gz", obuf, sizeof obuf), 2);
    assert_int_equal(run("--frobnicate t.gz", obuf, sizeof obuf), 2);
    assert_non_null(strstr(obuf, "unknown option '--frobnicate'"));
    assert_int_equal(run("a.gz b.gz", obuf, sizeof obuf), 2);
    assert_int_equal(run("--full-paths --context=0 --limit=2 --threshold 0.5% /nonexistent.gz", obuf, sizeof obuf), 1);
    assert_non_null(strstr(obuf, "pyflame-c: /nonexistent.gz: "));   /* options were fine */
    assert_int_equal(run("-o '' t.gz", obuf, sizeof obuf), 2);
}

static void test_html_cli_bad_trace(void **state)
{
    (void)state;
    char path[] = "/tmp/pf-html-bad-XXXXXX";
    int fd = mkstemp(path);
    assert_true(write(fd, "this is not a trace\n", 20) == 20);
    close(fd);
    char args[256];
    snprintf(args, sizeof args, "%s", path);
    assert_int_equal(run(args, obuf, sizeof obuf), 1);
    char want[128];
    snprintf(want, sizeof want, "pyflame-c: %s: ", path);
    assert_true(strncmp(obuf, want, strlen(want)) == 0);
    unlink(path);
    assert_int_equal(run("/nonexistent/trace.gz", obuf, sizeof obuf), 1);
    assert_non_null(strstr(obuf, "pyflame-c: /nonexistent/trace.gz: "));
    /* collapsed stacks, plain or gzipped, belong to svg: the message says so */
    assert_int_equal(run("tests/data/collapsed/austin.folded", obuf, sizeof obuf), 1);
    assert_non_null(strstr(obuf, "not a profile this command reads"));
    assert_non_null(strstr(obuf, "`pyflame-c svg` and `diff` also read collapsed stacks"));
    assert_null(strstr(obuf, "bad magic"));
    assert_int_equal(run("- < tests/golden/expected/austin.svg.gz", obuf, sizeof obuf), 1);
    assert_non_null(strstr(obuf, "`pyflame-c svg` and `diff` also read collapsed stacks"));
}

/* The report comes from the trace alone: the profiled file may be gone. */
static void test_html_cli_renders_after_source_file_is_deleted(void **state)
{
    (void)state;
    char dir[] = "/tmp/pf-html-cli-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char py[256], tr[256], out[256], args[1024];
    snprintf(py, sizeof py, "%s/app.py", dir);
    snprintf(tr, sizeof tr, "%s/trace.gz", dir);
    snprintf(out, sizeof out, "%s/report.html", dir);
    const char *text = "def hot():\n    return sum(range(10))  # unique-marker\n\nhot()\n";
    FILE *f = fopen(py, "w");
    fputs(text, f);
    fclose(f);
    pf_trace *t = new_trace(PF_MODE_CALLS | PF_MODE_LINES);
    uint32_t c = code(t, py, "hot", 1);
    node(t, PF_NONE, 0, c, 4, 1, 100, 100);
    line(t, c, 2, 1, 100, 100);
    source(t, py, text);
    pf_error err;
    assert_int_equal(pf_trace_write(t, tr, &err), 0);
    unlink(py);

    snprintf(args, sizeof args, "%s", tr);
    assert_int_equal(run(args, obuf, sizeof obuf), 0);
    assert_non_null(strstr(obuf, "unique-marker"));
    size_t stdout_len = strlen(obuf);
    char *via_stdout = strdup(obuf);

    snprintf(args, sizeof args, "- < %s", tr);         /* the trace from stdin */
    assert_int_equal(run(args, obuf, sizeof obuf), 0);
    assert_string_equal(obuf, via_stdout);

    snprintf(args, sizeof args, "-o %s --title T %s", out, tr);
    assert_int_equal(run(args, obuf, sizeof obuf), 0);
    assert_string_equal(obuf, "");
    size_t flen;
    char *written = slurp(out, &flen);
    assert_non_null(written);
    assert_non_null(strstr(written, "<title>T</title>"));
    assert_true(flen > stdout_len / 2);
    struct stat st;
    assert_int_equal(stat(out, &st), 0);
    assert_true((st.st_mode & 0044) != 0 || (st.st_mode & 0600) == 0600);
    /* only trace.gz and report.html remain: no temporary file left behind */
    snprintf(args, sizeof args, "ls -A %s | wc -l", dir);
    FILE *p = popen(args, "r");
    int files = 0;
    assert_int_equal(fscanf(p, "%d", &files), 1);
    pclose(p);
    assert_int_equal(files, 2);
    /* an unwritable destination fails with status 1 and leaves nothing */
    snprintf(args, sizeof args, "-o %s/no/such/dir/r.html %s", dir, tr);
    assert_int_equal(run(args, obuf, sizeof obuf), 1);
    assert_non_null(strstr(obuf, "pyflame-c: "));

    unlink(out);
    unlink(tr);
    rmdir(dir);
    free(written);
    free(via_stdout);
    pf_trace_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_html_escape_special_characters),
        cmocka_unit_test(test_html_rss_plot),
        cmocka_unit_test(test_html_escape_replaces_invalid_utf8),
        cmocka_unit_test(test_html_highlight_python),
        cmocka_unit_test(test_html_model_counts_recursion_once),
        cmocka_unit_test(test_html_model_merges_lines_of_nested_codes),
        cmocka_unit_test(test_html_model_limit_and_threshold),
        cmocka_unit_test(test_html_short_paths),
        cmocka_unit_test(test_html_escapes_hostile_program_data),
        cmocka_unit_test(test_html_processes_and_how_the_program_ended),
        cmocka_unit_test(test_html_processes_out_of_memory_is_clean),
        cmocka_unit_test(test_html_is_deterministic),
        cmocka_unit_test(test_html_is_self_contained),
        cmocka_unit_test(test_html_code_is_under_200k),
        cmocka_unit_test(test_html_folds_cold_stretches),
        cmocka_unit_test(test_html_model_ranks_hot_lines_by_time_and_by_self),
        cmocka_unit_test(test_html_model_recursive_line_time_within_the_run),
        cmocka_unit_test(test_html_rankings_toggle_and_label_their_shares),
        cmocka_unit_test(test_html_opens_hot_files_and_folds_cold_ones),
        cmocka_unit_test(test_html_anchors_for_functions_and_lines),
        cmocka_unit_test(test_html_memory_columns),
        cmocka_unit_test(test_html_calls_only_trace_lists_functions),
        cmocka_unit_test(test_html_lines_mode_without_lines_says_why),
        cmocka_unit_test(test_html_module_run_title_names_the_module),
        cmocka_unit_test(test_html_source_line_endings),
        cmocka_unit_test(test_html_file_without_embedded_source),
        cmocka_unit_test(test_html_hostile_line_numbers_stay_bounded),
        cmocka_unit_test(test_html_title_and_metadata),
        cmocka_unit_test(test_html_limit_hides_files_but_keeps_anchors),
        cmocka_unit_test(test_html_out_of_memory_is_clean),
        cmocka_unit_test(test_html_shipped_sample_is_current),
        cmocka_unit_test(test_html_cli_option_errors),
        cmocka_unit_test(test_html_cli_bad_trace),
        cmocka_unit_test(test_html_cli_renders_after_source_file_is_deleted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
