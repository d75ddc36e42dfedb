/* test_trace.c: the trace model (trace.c) and the file format (trace_write.c,
 * trace_read.c, FORMAT.md): round trips of every record type through memory and
 * files, a golden v1 stream, hostile input (truncation at every byte, flipped and
 * random bytes, hand-built streams with bad indices), forward compatibility, and
 * allocation-failure injection with leak checks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "formats/alloc.h"
#include "formats/input.h"
#include "formats/trace.h"
#include "formats/trace_format.h"
#include "formats/varint.h"

#define GOLDEN_RAW "tests/data/trace/golden_v1.raw"
#define GOLDEN_PROCESSES_RAW "tests/data/trace/golden_processes.raw"

/* ---- building and comparing traces ---- */

static uint32_t S(pf_trace *t, const char *s)
{
    uint32_t id = pf_strtab_intern_cstr(t->strings, s);
    assert_int_not_equal(id, PF_STR_NONE);
    return id;
}

/* A small trace with every field of every record set to something non-default,
 * including extreme values (10-byte varints, negative start time, time going
 * backwards in samples, lines with descending code and line numbers). */
static pf_trace *full_trace(void)
{
    pf_trace *t = pf_trace_new();
    assert_non_null(t);
    pf_meta *m = &t->meta;
    assert_int_equal(pf_meta_set_str(&m->python_version, "3.11.7"), 0);
    assert_int_equal(pf_meta_set_str(&m->python_executable, "/usr/bin/python3"), 0);
    assert_int_equal(pf_meta_push_str(&m->argv, &m->argc, "prog.py"), 0);
    assert_int_equal(pf_meta_push_str(&m->argv, &m->argc, "--flag"), 0);
    assert_int_equal(pf_meta_push_str(&m->argv, &m->argc, ""), 0);
    assert_int_equal(pf_meta_set_str(&m->cwd, "/home/u/\xc3\xa9t\xc3\xa9"), 0);
    assert_int_equal(pf_meta_push_str(&m->path, &m->npath, "/usr/lib/python3.11"), 0);
    assert_int_equal(pf_meta_push_str(&m->path, &m->npath, "/home/u/proj"), 0);
    m->start_unix_ns = -1234567890123LL;
    m->duration_ns = UINT64_MAX;
    assert_int_equal(pf_meta_set_str(&m->clock, "CLOCK_MONOTONIC"), 0);
    m->modes = PF_MODE_CALLS | PF_MODE_LINES | PF_MODE_MEMORY | PF_MODE_SAMPLES;
    m->flags = PF_FLAG_OUT_OF_MEMORY | PF_FLAG_FORKED_CHILD;
    m->pid = 4242;
    assert_int_equal(pf_meta_set_str(&m->hostname, "box"), 0);
    m->total_calls = 1000000007ull;
    m->profiler_bytes = 1u << 20;
    m->peak_live_bytes = (uint64_t)1 << 40;

    uint32_t f_main = S(t, "/home/u/proj/main.py");
    uint32_t empty = S(t, "");
    S(t, "nul\0inside" /* only "nul" is interned: cstr */);
    uint32_t weird = pf_strtab_intern(t->strings, "a\0b\xff", 4);
    uint32_t n_main = S(t, "main"), n_f = S(t, "f"), q_f = S(t, "C.f");
    uint32_t n_len = S(t, "<built-in method builtins.len>");
    uint32_t mt = S(t, "MainThread"), worker = S(t, "worker-1");

    pf_code c0 = { f_main, n_main, n_main, 1, PF_CODE_PYTHON };
    pf_code c1 = { f_main, n_f, q_f, 10, PF_CODE_PYTHON };
    pf_code c2 = { empty, n_len, n_len, 0, PF_CODE_NATIVE };
    pf_code c3 = { weird, weird, empty, UINT32_MAX, PF_CODE_PYTHON };
    assert_int_equal(pf_trace_add_code(t, &c0), 0);
    assert_int_equal(pf_trace_add_code(t, &c1), 1);
    assert_int_equal(pf_trace_add_code(t, &c2), 2);
    assert_int_equal(pf_trace_add_code(t, &c3), 3);

    pf_thread th0 = { 140000000000001ull, mt }, th1 = { UINT64_MAX, worker };
    assert_int_equal(pf_trace_add_thread(t, &th0), 0);
    assert_int_equal(pf_trace_add_thread(t, &th1), 1);

    /* thread 0: main -> f -> len, main -> len; thread 1: f -> f(recursive) */
    pf_node nodes[] = {
        { PF_NONE, 0, 0, 0, 1, 900, 100 },
        { 0, 0, 1, 5, 3, 700, 600 },
        { 1, 0, 2, 12, 30, 100, 100 },
        { 0, 0, 2, 6, 1, 100, 100 },
        { PF_NONE, 1, 1, 0, 2, 5000, 1000 },
        { 4, 1, 1, UINT32_MAX, UINT64_MAX, UINT64_MAX, 0 },
    };
    const pf_mem node_mems[] = {
        { 10, 1, 0, 10, 10 }, { 0 }, { 64, 2, 64, 0, 0 }, { 0 }, { 0 },
        { UINT64_MAX, UINT64_MAX, UINT64_MAX, UINT64_MAX, UINT64_MAX },
    };
    for (uint32_t i = 0; i < sizeof nodes / sizeof nodes[0]; i++) {
        assert_int_equal(pf_trace_add_node(t, &nodes[i]), i);
        *pf_trace_node_mem_at(t, i) = node_mems[i];
    }

    pf_line lines[] = {
        { 1, 12, 5, 500, 400, { 1, 1, 1, 1, 1 } },
        { 1, 11, 5, 50, 50, { 0 } },
        { 0, 3, 1, 900, 100, { 0 } },
        { 3, UINT32_MAX, UINT64_MAX, 0, 0, { 7, 0, 0, 0, 0 } },
        { 0, 0, 0, 0, 0, { 0 } },
    };
    for (uint32_t i = 0; i < sizeof lines / sizeof lines[0]; i++)
        assert_int_equal(pf_trace_add_line(t, &lines[i]), i);

    assert_int_equal(pf_trace_add_source(t, f_main, "def f():\n    pass\n\0tail", 23), 0);
    assert_int_equal(pf_trace_add_source(t, weird, "", 0), 1);

    pf_sample samples[] = {
        { 0, 2, 1000, 10 }, { 1, PF_NONE, 500, 0 }, { 0, 5, UINT64_MAX, UINT64_MAX },
        { 1, 0, 0, 1 },
    };
    for (uint32_t i = 0; i < sizeof samples / sizeof samples[0]; i++)
        assert_int_equal(pf_trace_add_sample(t, &samples[i]), i);
    assert_int_equal(pf_trace_validate(t, NULL), 0);
    return t;
}

static void assert_str_eq_null(const char *a, const char *b)
{
    if (a == NULL || b == NULL)
        assert_ptr_equal(a, b);
    else
        assert_string_equal(a, b);
}

static void assert_mem_eq(const pf_mem *a, const pf_mem *b)
{
    assert_int_equal(a->alloc_bytes, b->alloc_bytes);
    assert_int_equal(a->alloc_count, b->alloc_count);
    assert_int_equal(a->free_bytes, b->free_bytes);
    assert_int_equal(a->peak_bytes, b->peak_bytes);
    assert_int_equal(a->exit_bytes, b->exit_bytes);
}

static void assert_traces_equal(const pf_trace *a, const pf_trace *b)
{
    const pf_meta *x = &a->meta, *y = &b->meta;
    assert_int_equal(y->format_version, PF_TRACE_FORMAT_VERSION);
    assert_str_eq_null(x->python_version, y->python_version);
    assert_str_eq_null(x->python_executable, y->python_executable);
    assert_int_equal(x->argc, y->argc);
    for (uint32_t i = 0; i < x->argc; i++)
        assert_string_equal(x->argv[i], y->argv[i]);
    assert_str_eq_null(x->cwd, y->cwd);
    assert_int_equal(x->npath, y->npath);
    for (uint32_t i = 0; i < x->npath; i++)
        assert_string_equal(x->path[i], y->path[i]);
    assert_true(x->start_unix_ns == y->start_unix_ns);
    assert_true(x->duration_ns == y->duration_ns);
    assert_str_eq_null(x->clock, y->clock);
    assert_int_equal(x->modes, y->modes);
    assert_int_equal(x->flags, y->flags);
    assert_true(x->pid == y->pid);
    assert_str_eq_null(x->hostname, y->hostname);
    assert_true(x->total_calls == y->total_calls);
    assert_true(x->profiler_bytes == y->profiler_bytes);
    assert_true(x->peak_live_bytes == y->peak_live_bytes);
    assert_int_equal(x->ngaps, y->ngaps);
    for (uint32_t i = 0; i < x->ngaps; i++) {
        assert_true(x->gaps[i].ident == y->gaps[i].ident);
        assert_true(x->gaps[i].start_ns == y->gaps[i].start_ns);
        assert_true(x->gaps[i].end_ns == y->gaps[i].end_ns);
        assert_int_equal(x->gaps[i].reason, y->gaps[i].reason);
    }
    assert_int_equal(x->exit_code, y->exit_code);
    assert_int_equal(x->exit_signal, y->exit_signal);
    assert_true(x->peak_native_bytes == y->peak_native_bytes);
    assert_true(x->links_dropped == y->links_dropped);
    assert_true(x->sample_interval_ns == y->sample_interval_ns);
    assert_true(x->sample_ticks == y->sample_ticks);
    assert_true(x->samples_lost == y->samples_lost);
    assert_int_equal(x->sample_mode, y->sample_mode);

    assert_int_equal(pf_strtab_count(a->strings), pf_strtab_count(b->strings));
    for (uint32_t i = 0; i < pf_strtab_count(a->strings); i++) {
        size_t la, lb;
        const char *sa = pf_strtab_get(a->strings, i, &la);
        const char *sb = pf_strtab_get(b->strings, i, &lb);
        assert_int_equal(la, lb);
        assert_memory_equal(sa, sb, la + 1);
    }
    assert_int_equal(a->ncodes, b->ncodes);
    for (uint32_t i = 0; i < a->ncodes; i++) {
        assert_int_equal(a->codes[i].file, b->codes[i].file);
        assert_int_equal(a->codes[i].name, b->codes[i].name);
        assert_int_equal(a->codes[i].qualname, b->codes[i].qualname);
        assert_int_equal(a->codes[i].first_line, b->codes[i].first_line);
        assert_int_equal(a->codes[i].kind, b->codes[i].kind);
    }
    assert_int_equal(a->nthreads, b->nthreads);
    for (uint32_t i = 0; i < a->nthreads; i++) {
        assert_true(a->threads[i].ident == b->threads[i].ident);
        assert_int_equal(a->threads[i].name, b->threads[i].name);
    }
    assert_int_equal(a->nnodes, b->nnodes);
    for (uint32_t i = 0; i < a->nnodes; i++) {
        const pf_node *p = &a->nodes[i], *q = &b->nodes[i];
        assert_int_equal(p->parent, q->parent);
        assert_int_equal(p->thread, q->thread);
        assert_int_equal(p->code, q->code);
        assert_int_equal(p->call_line, q->call_line);
        assert_true(p->calls == q->calls);
        assert_true(p->total_ns == q->total_ns);
        assert_true(p->self_ns == q->self_ns);
        assert_mem_eq(pf_trace_node_mem(a, i), pf_trace_node_mem(b, i));
    }
    assert_int_equal(a->nlines, b->nlines);
    for (uint32_t i = 0; i < a->nlines; i++) {
        const pf_line *p = &a->lines[i], *q = &b->lines[i];
        assert_int_equal(p->code, q->code);
        assert_int_equal(p->line, q->line);
        assert_true(p->hits == q->hits);
        assert_true(p->total_ns == q->total_ns);
        assert_true(p->self_ns == q->self_ns);
        assert_mem_eq(&p->mem, &q->mem);
    }
    assert_int_equal(a->nsources, b->nsources);
    for (uint32_t i = 0; i < a->nsources; i++) {
        assert_int_equal(a->sources[i].path, b->sources[i].path);
        assert_int_equal(a->sources[i].len, b->sources[i].len);
        assert_memory_equal(a->sources[i].text, b->sources[i].text, a->sources[i].len + 1);
    }
    assert_int_equal(a->nsamples, b->nsamples);
    for (uint32_t i = 0; i < a->nsamples; i++) {
        assert_int_equal(a->samples[i].thread, b->samples[i].thread);
        assert_int_equal(a->samples[i].node, b->samples[i].node);
        assert_true(a->samples[i].time_ns == b->samples[i].time_ns);
        assert_true(a->samples[i].weight == b->samples[i].weight);
    }
    assert_int_equal(a->nprocesses, b->nprocesses);
    for (uint32_t i = 0; i < a->nprocesses; i++) {
        const pf_process *p = &a->processes[i], *q = &b->processes[i];
        assert_true(p->pid == q->pid);
        assert_true(p->ppid == q->ppid);
        assert_int_equal(p->command, q->command);
        assert_int_equal(p->first_thread, q->first_thread);
        assert_int_equal(p->nthreads, q->nthreads);
        assert_int_equal(p->flags, q->flags);
        assert_true(p->start_ns == q->start_ns);
        assert_true(p->duration_ns == q->duration_ns);
        assert_true(p->calls == q->calls);
        assert_true(p->peak_live_bytes == q->peak_live_bytes);
        assert_int_equal(p->exit_code, q->exit_code);
        assert_int_equal(p->exit_signal, q->exit_signal);
    }
    assert_int_equal(a->nlinks, b->nlinks);
    for (uint32_t i = 0; i < a->nlinks; i++) {
        assert_int_equal(a->links[i].node, b->links[i].node);
        assert_int_equal(a->links[i].creator, b->links[i].creator);
        assert_int_equal(a->links[i].kind, b->links[i].kind);
    }
    assert_int_equal(a->nrss, b->nrss);
    for (uint32_t i = 0; i < a->nrss; i++) {
        const pf_rss *p = &a->rss[i], *q = &b->rss[i];
        assert_int_equal(p->process, q->process);
        assert_true(p->peak_bytes == q->peak_bytes);
        assert_true(p->final_bytes == q->final_bytes);
        assert_int_equal(p->nsamples, q->nsamples);
        for (uint32_t k = 0; k < p->nsamples; k++) {
            assert_true(p->samples[k].time_ns == q->samples[k].time_ns);
            assert_true(p->samples[k].bytes == q->samples[k].bytes);
        }
    }
}

/* full_trace() as `collect` writes it after following children: the program's exit
 * status in meta, and three processes over its two threads and a third added here
 * (extreme values again: a negative start, 10-byte varints, the int32 limits). */
static pf_trace *processes_trace(void)
{
    pf_trace *t = full_trace();
    t->meta.flags |= PF_FLAG_CUT_SHORT;
    t->meta.exit_code = 3;
    t->meta.exit_signal = 0;
    pf_thread th2 = { 99, S(t, "MainThread") };
    assert_int_equal(pf_trace_add_thread(t, &th2), 2);
    pf_process procs[] = {
        { 4242, 1, S(t, "python3 prog.py --flag"), 0, 1, PF_PROC_EXITED, 0, 900, 37, 10,
          3, 0 },
        { 4243, 4242, S(t, "python3 -c import worker"), 1, 2,
          PF_PROC_KILLED | PF_PROC_CUT_SHORT | PF_PROC_FORKED, -5, UINT64_MAX, UINT64_MAX,
          UINT64_MAX, PF_EXIT_UNKNOWN, 9 },
        { UINT64_MAX, UINT64_MAX, S(t, ""), 3, 0, UINT32_MAX, INT64_MIN, 0, 0, 0, INT32_MIN,
          UINT32_MAX },
    };
    for (uint32_t i = 0; i < sizeof procs / sizeof procs[0]; i++)
        assert_int_equal(pf_trace_add_process(t, &procs[i]), i);
    assert_int_equal(pf_trace_validate(t, NULL), 0);
    return t;
}

/* Big enough to cross every block boundary (entries and bytes). */
static pf_trace *big_trace(uint32_t nnodes)
{
    pf_trace *t = pf_trace_new();
    assert_non_null(t);
    t->meta.modes = PF_MODE_CALLS | PF_MODE_LINES | PF_MODE_MEMORY;
    char buf[64];
    for (uint32_t i = 0; i < 5000; i++) {
        snprintf(buf, sizeof buf, "/src/pkg/module_%u.py", i);
        S(t, buf);
    }
    /* One string longer than a block, so STRINGS is cut by bytes too. */
    size_t biglen = PF_TRACE_BLOCK_BYTES + 100;
    char *big = malloc(biglen);
    assert_non_null(big);
    for (size_t i = 0; i < biglen; i++)
        big[i] = (char)('a' + i % 26);
    assert_int_not_equal(pf_strtab_intern(t->strings, big, biglen), PF_STR_NONE);
    for (uint32_t i = 0; i < 5000; i++) {
        pf_code c = { i, (i + 1) % 5000, i % 3 ? (i + 1) % 5000 : i, i, (uint8_t)(i % 7 == 0) };
        assert_int_equal(pf_trace_add_code(t, &c), i);
    }
    pf_thread th = { 1, 0 };
    assert_int_equal(pf_trace_add_thread(t, &th), 0);
    for (uint32_t i = 0; i < nnodes; i++) {
        pf_node n = { 0 };
        n.parent = i == 0 ? PF_NONE : (i % 10 == 0 ? i / 2 : i - 1);
        n.code = (i * 7) % 5000;
        n.call_line = i % 300;
        n.calls = 1 + i % 13;
        n.total_ns = 1000 + (uint64_t)i * 37;
        n.self_ns = 100 + i % 1000;
        assert_int_equal(pf_trace_add_node(t, &n), i);
        if (i % 3 == 0)
            pf_trace_node_mem_at(t, i)->alloc_bytes = i, pf_trace_node_mem_at(t, i)->exit_bytes = i / 2;
    }
    for (uint32_t i = 0; i < 9000; i++) {
        pf_line l = { (i / 10) % 5000, 1 + i % 10, i, 3 * (uint64_t)i, i, { 0 } };
        if (i % 2)
            l.mem.peak_bytes = i;
        assert_int_equal(pf_trace_add_line(t, &l), i);
    }
    assert_int_equal(pf_trace_add_source(t, 1, big, biglen), 0);
    free(big);
    for (uint32_t i = 0; i < 5000; i++) {
        pf_sample s = { 0, i % nnodes, (uint64_t)i * 1000, 1 };
        assert_int_equal(pf_trace_add_sample(t, &s), i);
    }
    return t;
}

static unsigned char *gzip_bytes(const unsigned char *raw, size_t len, size_t *outlen)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    assert_int_equal(deflateInit2(&z, 6, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY), Z_OK);
    size_t cap = deflateBound(&z, len) + 64;
    unsigned char *out = malloc(cap);
    z.next_in = (Bytef *)raw;
    z.avail_in = (uInt)len;
    z.next_out = out;
    z.avail_out = (uInt)cap;
    assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
    *outlen = cap - z.avail_out;
    deflateEnd(&z);
    return out;
}

static unsigned char *gunzip_bytes(const unsigned char *gz, size_t len, size_t *outlen)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    assert_int_equal(inflateInit2(&z, 31), Z_OK);
    size_t cap = 1 << 20, n = 0;
    unsigned char *out = malloc(cap);
    z.next_in = (Bytef *)gz;
    z.avail_in = (uInt)len;
    int ret;
    do {
        if (cap - n < 65536) {
            cap *= 2;
            out = realloc(out, cap);
        }
        z.next_out = out + n;
        z.avail_out = (uInt)(cap - n);
        ret = inflate(&z, Z_NO_FLUSH);
        n = cap - z.avail_out;
        assert_true(ret == Z_OK || ret == Z_STREAM_END);
    } while (ret != Z_STREAM_END);
    inflateEnd(&z);
    *outlen = n;
    return out;
}

/* Reads buf; expects failure with code and a message containing want (if any). */
static void expect_read_error(const void *buf, size_t len, enum pf_error_code code,
                              const char *want)
{
    pf_error err;
    pf_error_clear(&err);
    pf_trace *t = pf_trace_read_mem(buf, len, &err);
    if (t != NULL)
        fail_msg("expected %s (%s), but the read succeeded", pf_error_name(code),
                 want ? want : "");
    if (err.code != code)
        fail_msg("expected %s, got %s: %s", pf_error_name(code), pf_error_name(err.code),
                 err.msg);
    if (want && strstr(err.msg, want) == NULL)
        fail_msg("message \"%s\" lacks \"%s\"", err.msg, want);
}

/* ---- round trips ---- */

static void test_trace_roundtrip_every_field_gzip_mem(void **state)
{
    (void)state;
    long live = pf_alloc_live_blocks();
    pf_trace *t = full_trace();
    unsigned char *buf;
    size_t len;
    pf_error err;
    assert_int_equal(pf_trace_write_mem(t, &buf, &len, &err), 0);
    assert_true(len > 18 && buf[0] == 0x1f && buf[1] == 0x8b);
    assert_true(pf_trace_sniff(buf, len));
    pf_trace *u = pf_trace_read_mem(buf, len, &err);
    if (u == NULL)
        fail_msg("%s", err.msg);
    assert_traces_equal(t, u);
    assert_int_equal(pf_trace_validate(u, &err), 0);
    pf_trace_free(u);
    pf_trace_free(t);
    pf_free(buf);
    assert_int_equal(pf_alloc_live_blocks(), live);
}

static void test_trace_roundtrip_every_field_raw_mem(void **state)
{
    (void)state;
    pf_trace *t = full_trace();
    unsigned char *buf, *gz;
    size_t len, gzlen;
    pf_error err;
    assert_int_equal(pf_trace_write_mem_raw(t, &buf, &len, &err), 0);
    assert_memory_equal(buf, PF_TRACE_MAGIC, PF_TRACE_MAGIC_LEN);
    assert_true(pf_trace_sniff(buf, len));
    /* The raw stream is exactly what the gzip framing holds. */
    assert_int_equal(pf_trace_write_mem(t, &gz, &gzlen, &err), 0);
    size_t rawlen;
    unsigned char *raw = gunzip_bytes(gz, gzlen, &rawlen);
    assert_int_equal(rawlen, len);
    assert_memory_equal(raw, buf, len);
    pf_trace *u = pf_trace_read_mem(buf, len, &err);
    if (u == NULL)
        fail_msg("%s", err.msg);
    assert_traces_equal(t, u);
    pf_trace_free(u);
    pf_trace_free(t);
    pf_free(buf);
    pf_free(gz);
    free(raw);
}

static char tmpdir[256];

static int make_tmpdir(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/pf-test-trace-XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int remove_tmpdir(void **state)
{
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static int count_dir_entries(const char *dir)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    closedir(d);
    return n;
}

static void test_trace_roundtrip_every_field_file(void **state)
{
    (void)state;
    char path[512];
    snprintf(path, sizeof path, "%s/trace.gz", tmpdir);
    pf_trace *t = full_trace();
    pf_error err;
    assert_int_equal(pf_trace_write(t, path, &err), 0);
    /* Overwriting an existing file works the same way (rename over it). */
    assert_int_equal(pf_trace_write(t, path, &err), 0);
    assert_int_equal(count_dir_entries(tmpdir), 1);   /* no temporary left behind */
    FILE *f = fopen(path, "rb");
    unsigned char head[2];
    assert_int_equal(fread(head, 1, 2, f), 2);
    fclose(f);
    assert_true(head[0] == 0x1f && head[1] == 0x8b);
    pf_trace *u = pf_trace_read(path, &err);
    if (u == NULL)
        fail_msg("%s", err.msg);
    assert_traces_equal(t, u);
    pf_trace_free(u);

    /* A raw (uncompressed) stream in a file reads the same. */
    unsigned char *raw;
    size_t rawlen;
    assert_int_equal(pf_trace_write_mem_raw(t, &raw, &rawlen, &err), 0);
    snprintf(path, sizeof path, "%s/trace.raw", tmpdir);
    f = fopen(path, "wb");
    assert_int_equal(fwrite(raw, 1, rawlen, f), rawlen);
    fclose(f);
    u = pf_trace_read(path, &err);
    if (u == NULL)
        fail_msg("%s", err.msg);
    assert_traces_equal(t, u);
    pf_trace_free(u);
    unlink(path);
    snprintf(path, sizeof path, "%s/trace.gz", tmpdir);
    unlink(path);
    pf_free(raw);
    pf_trace_free(t);
}

static void test_trace_roundtrip_empty_trace(void **state)
{
    (void)state;
    pf_trace *t = pf_trace_new();
    unsigned char *buf;
    size_t len;
    pf_error err;
    assert_int_equal(pf_trace_write_mem_raw(t, &buf, &len, &err), 0);
    pf_trace *u = pf_trace_read_mem(buf, len, &err);
    assert_non_null(u);
    assert_traces_equal(t, u);
    assert_null(u->meta.python_version);   /* NULL stays NULL, not "" */
    pf_trace_free(u);
    pf_trace_free(t);
    pf_free(buf);
}

static void test_trace_roundtrip_many_blocks(void **state)
{
    (void)state;
    pf_trace *t = big_trace(20000);
    for (int gz = 0; gz < 2; gz++) {
        unsigned char *buf;
        size_t len;
        pf_error err;
        assert_int_equal((gz ? pf_trace_write_mem : pf_trace_write_mem_raw)(t, &buf, &len, &err), 0);
        pf_trace *u = pf_trace_read_mem(buf, len, &err);
        if (u == NULL)
            fail_msg("%s", err.msg);
        assert_traces_equal(t, u);
        pf_trace_free(u);
        pf_free(buf);
    }
    pf_trace_free(t);
}

/* The raw stream of t must be the bytes of the file at path, which must read back as
 * t.  PF_REGEN_GOLDEN=1 rewrites the file (review the diff). */
static void check_golden(pf_trace *t, const char *path)
{
    unsigned char *buf;
    size_t len;
    pf_error err;
    assert_int_equal(pf_trace_write_mem_raw(t, &buf, &len, &err), 0);
    if (getenv("PF_REGEN_GOLDEN")) {
        FILE *f = fopen(path, "wb");
        assert_non_null(f);
        assert_int_equal(fwrite(buf, 1, len, f), len);
        fclose(f);
    }
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        fail_msg("cannot open %s (run from the repo root)", path);
    unsigned char *golden = malloc(len + 1);
    size_t glen = fread(golden, 1, len + 1, f);
    fclose(f);
    assert_int_equal(glen, len);
    assert_memory_equal(golden, buf, len);
    pf_trace *u = pf_trace_read(path, &err);
    if (u == NULL)
        fail_msg("%s", err.msg);
    assert_traces_equal(t, u);
    pf_trace_free(u);
    free(golden);
    pf_free(buf);
}

/* The v1 stream of full_trace() is pinned byte for byte: an accidental format change
 * fails here, and old files keep reading.  It has no processes and an unknown exit,
 * so it is also what writers wrote before those existed: they must not change it. */
static void test_trace_golden_v1_stream_is_stable(void **state)
{
    (void)state;
    pf_trace *t = full_trace();
    check_golden(t, GOLDEN_RAW);
    pf_trace_free(t);
}

/* The same with PROCESSES and META's exit fields (also a fuzz seed). */
static void test_trace_golden_processes_stream_is_stable(void **state)
{
    (void)state;
    pf_trace *t = processes_trace();
    check_golden(t, GOLDEN_PROCESSES_RAW);
    pf_trace_free(t);
}

static void test_trace_roundtrip_processes_and_exit(void **state)
{
    (void)state;
    long live = pf_alloc_live_blocks();
    pf_trace *t = processes_trace();
    for (int gz = 0; gz < 2; gz++) {
        unsigned char *buf;
        size_t len;
        pf_error err;
        assert_int_equal((gz ? pf_trace_write_mem : pf_trace_write_mem_raw)(t, &buf, &len, &err), 0);
        pf_trace *u = pf_trace_read_mem(buf, len, &err);
        if (u == NULL)
            fail_msg("%s", err.msg);
        assert_traces_equal(t, u);
        assert_int_equal(u->meta.exit_code, 3);
        assert_true(u->meta.flags & PF_FLAG_CUT_SHORT);
        assert_int_equal(u->nprocesses, 3);
        assert_int_equal(u->processes[2].exit_code, INT32_MIN);
        assert_true(u->processes[2].start_ns == INT64_MIN);
        assert_int_equal(pf_trace_validate(u, &err), 0);
        pf_trace_free(u);
        pf_free(buf);
    }
    /* Many processes: PROCESSES is cut into blocks like the others. */
    for (uint32_t i = 0; i < 2 * PF_TRACE_BLOCK_ENTRIES + 5; i++) {
        pf_process p = { i, 1, 0, i % 3, 1, PF_PROC_EXITED, (int64_t)i, 1, 2, 3, 0, 0 };
        assert_int_not_equal(pf_trace_add_process(t, &p), PF_NONE);
    }
    unsigned char *buf;
    size_t len;
    pf_error err;
    assert_int_equal(pf_trace_write_mem_raw(t, &buf, &len, &err), 0);
    pf_trace *u = pf_trace_read_mem(buf, len, &err);
    if (u == NULL)
        fail_msg("%s", err.msg);
    assert_traces_equal(t, u);
    pf_trace_free(u);
    pf_free(buf);
    pf_trace_free(t);
    assert_int_equal(pf_alloc_live_blocks(), live);
}

/* META's exit fields are written only when known, after a gap count written even
 * when 0; END's processes count only when there are processes. */
static void test_trace_writes_new_fields_only_when_needed(void **state)
{
    (void)state;
    static const struct {
        int32_t code;
        uint32_t sig;
        const char *tail;     /* META's last bytes: ngaps, exit_code (zz), exit_signal */
        size_t ntail;
    } cases[] = {
        { PF_EXIT_UNKNOWN, 0, "", 0 },
        { 0, 0, "\x00\x00\x00", 3 },
        { PF_EXIT_UNKNOWN, 9, "\x00\x01\x09", 3 },
        { 255, 0, "\x00\xfe\x03\x00", 4 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        pf_trace *t = pf_trace_new();
        assert_int_equal(t->meta.exit_code, PF_EXIT_UNKNOWN);
        t->meta.exit_code = cases[i].code;
        t->meta.exit_signal = cases[i].sig;
        unsigned char *buf;
        size_t len;
        pf_error err;
        assert_int_equal(pf_trace_write_mem_raw(t, &buf, &len, &err), 0);
        /* FORMAT.md's empty trace: 9 header bytes, META (02 0f + 15 bytes), END (11). */
        assert_int_equal(len, 37 + cases[i].ntail);
        assert_int_equal(buf[10], 15 + cases[i].ntail);
        assert_memory_equal(buf + 11 + 15, cases[i].tail, cases[i].ntail);
        pf_trace *u = pf_trace_read_mem(buf, len, &err);
        if (u == NULL)
            fail_msg("%s", err.msg);
        assert_traces_equal(t, u);
        pf_trace_free(u);
        pf_free(buf);
        pf_trace_free(t);
    }
    /* Native memory: peak_native_bytes after the exit fields, which are then written
     * even unknown (zz(-1) = 1), and even when the native peak is 0. */
    static const struct {
        uint64_t native;
        const char *tail;
        size_t ntail;
    } nat[] = {
        { 300, "\x00\x01\x00\xac\x02", 5 },
        { 0, "\x00\x01\x00\x00", 4 },
    };
    for (size_t i = 0; i < sizeof nat / sizeof nat[0]; i++) {
        pf_trace *t = pf_trace_new();
        t->meta.modes = PF_MODE_MEMORY | PF_MODE_NATIVE;
        t->meta.peak_live_bytes = 400;
        t->meta.peak_native_bytes = nat[i].native;
        unsigned char *buf;
        size_t len;
        pf_error err;
        assert_int_equal(pf_trace_write_mem_raw(t, &buf, &len, &err), 0);
        assert_int_equal(buf[10], 16 + nat[i].ntail);          /* 400 takes two bytes */
        assert_memory_equal(buf + 11 + 16, nat[i].tail, nat[i].ntail);
        pf_trace *u = pf_trace_read_mem(buf, len, &err);
        if (u == NULL)
            fail_msg("%s", err.msg);
        assert_traces_equal(t, u);
        assert_int_equal(u->meta.exit_code, PF_EXIT_UNKNOWN);
        pf_trace_free(u);
        pf_free(buf);
        pf_trace_free(t);
    }
    /* One process: PROCESSES after THREADS, and a tenth count in END. */
    pf_trace *t = pf_trace_new();
    pf_thread th = { 1, S(t, "cmd") };
    pf_trace_add_thread(t, &th);
    pf_process p = { 7, 0, 0, 0, 1, 0, 0, 0, 0, 0, PF_EXIT_UNKNOWN, 0 };
    pf_trace_add_process(t, &p);
    unsigned char *buf;
    size_t len;
    assert_int_equal(pf_trace_write_mem_raw(t, &buf, &len, NULL), 0);
    static const unsigned char want[] = {
        5, 3, 1, 1, 0,                                  /* THREADS: ident 1, name 0 */
        12, 13, 1, 7, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0,  /* PROCESSES */
        1, 10, 1, 0, 1, 0, 0, 0, 0, 0, 0, 1,            /* END: ..., nprocesses 1 */
    };
    assert_true(len > sizeof want);
    assert_memory_equal(buf + len - sizeof want, want, sizeof want);
    pf_free(buf);
    pf_trace_free(t);
}

/* ---- writer failures ---- */

static void test_trace_roundtrip_gaps(void **state)
{
    (void)state;
    pf_trace *t = full_trace();
    pf_meta *m = &t->meta;
    m->gaps = pf_calloc(3, sizeof *m->gaps);
    assert_non_null(m->gaps);
    m->ngaps = 3;
    m->gaps[0] = (pf_gap){ 7, 0, 1000, PF_GAP_C_PROFILE };
    m->gaps[1] = (pf_gap){ 0, 5, PF_GAP_OPEN, PF_GAP_TOOL_ID };
    m->gaps[2] = (pf_gap){ UINT64_MAX, UINT64_MAX - 1, UINT64_MAX - 1, 99 };
    unsigned char *buf;
    size_t len;
    pf_error err;
    assert_int_equal(pf_trace_write_mem_raw(t, &buf, &len, &err), 0);
    pf_trace *u = pf_trace_read_mem(buf, len, &err);
    if (u == NULL)
        fail_msg("%s", err.msg);
    assert_traces_equal(t, u);
    char line[256];
    pf_trace_gap_describe(u, 1, line, sizeof line);
    assert_non_null(strstr(line, "every thread from 0.000 s to the end"));
    pf_trace_gap_describe(u, 2, line, sizeof line);
    assert_non_null(strstr(line, "unknown reason"));
    pf_trace_free(u);
    pf_free(buf);
    pf_trace_free(t);
}

static void test_trace_write_refuses_invalid_trace(void **state)
{
    (void)state;
    pf_trace *t = full_trace();
    t->nodes[2].code = 99;
    unsigned char *buf = (unsigned char *)"x";
    size_t len = 5;
    pf_error err;
    assert_int_equal(pf_trace_write_mem(t, &buf, &len, &err), -1);
    assert_int_equal(err.code, PF_EUSAGE);
    assert_non_null(strstr(err.msg, "node 2"));
    assert_null(buf);
    char path[512];
    snprintf(path, sizeof path, "%s/invalid.gz", tmpdir);
    assert_int_equal(pf_trace_write(t, path, &err), -1);
    assert_int_equal(count_dir_entries(tmpdir), 0);
    pf_trace_free(t);
}

static void test_trace_write_failure_leaves_no_file(void **state)
{
    (void)state;
    pf_trace *t = full_trace();
    pf_error err;
    char path[512];
    snprintf(path, sizeof path, "%s/no/such/dir/t.gz", tmpdir);
    assert_int_equal(pf_trace_write(t, path, &err), -1);
    assert_int_equal(err.code, PF_EIO);
    /* Target is a non-empty directory: refused before anything is written. */
    snprintf(path, sizeof path, "%s/dir", tmpdir);
    assert_int_equal(mkdir(path, 0700), 0);
    char inner[600];
    snprintf(inner, sizeof inner, "%s/x", path);
    FILE *f = fopen(inner, "w");
    fclose(f);
    assert_int_equal(pf_trace_write(t, path, &err), -1);
    assert_int_equal(err.code, PF_EIO);
    assert_non_null(strstr(err.msg, "directory"));
    assert_int_equal(count_dir_entries(tmpdir), 1);   /* only dir: no temp left */
    unlink(inner);
    rmdir(path);
    pf_trace_free(t);
}

/* ---- streaming the nodes (pf_trace_stream) ---- */

static unsigned char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    size_t cap = 1 << 16, n = 0;
    unsigned char *buf = malloc(cap);
    size_t got;
    while ((got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap)
            buf = realloc(buf, cap *= 2);
    }
    fclose(f);
    *len = n;
    return buf;
}

/* Writes t's nodes (and memory counters) through a stream from a copy of t that holds
 * none, to path.  0 or -1 (err). */
static int stream_nodes_of(pf_trace *t, const char *path, int gz, pf_error *err)
{
    pf_node *nodes = t->nodes;
    pf_mem *mem = t->node_mem;
    uint32_t n = t->nnodes, cap = t->cap_nodes, cap_mem = t->cap_node_mem;
    t->nodes = NULL;
    t->node_mem = NULL;
    t->nnodes = t->cap_nodes = t->cap_node_mem = 0;
    int rc = -1;
    pf_trace_stream *w = pf_trace_stream_open(t, n, path, gz, err);
    if (w != NULL) {
        for (uint32_t i = 0; i < n; i++)
            pf_trace_stream_node(w, &nodes[i]);
        for (uint32_t i = 0; mem != NULL && i < n && i < cap_mem; i++)
            pf_trace_stream_node_mem(w, i, &mem[i]);
        rc = pf_trace_stream_close(w, err);
    }
    t->nodes = nodes;
    t->node_mem = mem;
    t->nnodes = n;
    t->cap_nodes = cap;
    t->cap_node_mem = cap_mem;
    return rc;
}

static void expect_same_files(const char *a, const char *b)
{
    size_t la, lb;
    unsigned char *x = slurp(a, &la), *y = slurp(b, &lb);
    assert_int_equal(la, lb);
    assert_memory_equal(x, y, la);
    free(x);
    free(y);
}

static void test_trace_stream_writes_the_writers_bytes(void **state)
{
    (void)state;
    pf_trace *traces[] = { full_trace(), big_trace(20000), processes_trace() };
    char a[512], b[512];
    snprintf(a, sizeof a, "%s/model.trace", tmpdir);
    snprintf(b, sizeof b, "%s/stream.trace", tmpdir);
    for (size_t k = 0; k < sizeof traces / sizeof traces[0]; k++) {
        pf_trace *t = traces[k];
        pf_error err;
        for (int gz = 0; gz < 2; gz++) {
            assert_int_equal((gz ? pf_trace_write : pf_trace_write_raw)(t, a, &err), 0);
            if (stream_nodes_of(t, b, gz, &err) < 0)
                fail_msg("%s", err.msg);
            expect_same_files(a, b);
        }
        unlink(a);
        unlink(b);
        pf_trace_free(t);
    }
    assert_int_equal(count_dir_entries(tmpdir), 0);
}

static void test_trace_stream_refuses_bad_nodes(void **state)
{
    (void)state;
    pf_trace *t = full_trace();
    char path[512];
    snprintf(path, sizeof path, "%s/bad.trace", tmpdir);
    pf_error err;
    /* a bad code, a missing node, one too many: no file, the first error said */
    t->nodes[2].code = 99;
    assert_int_equal(stream_nodes_of(t, path, 0, &err), -1);
    assert_int_equal(err.code, PF_EUSAGE);
    assert_non_null(strstr(err.msg, "node 2: code 99"));
    t->nodes[2].code = 2;
    t->nnodes--;
    assert_int_equal(stream_nodes_of(t, path, 1, &err), -1);   /* samples refer to node 5 */
    assert_non_null(strstr(err.msg, "sample"));
    t->nnodes++;
    pf_trace_stream *w = NULL;
    pf_node *nodes = t->nodes;
    t->nodes = NULL;
    uint32_t n = t->nnodes;
    t->nnodes = 0;
    pf_mem *mem = t->node_mem;
    t->node_mem = NULL;
    uint32_t cap_mem = t->cap_node_mem;
    t->cap_node_mem = 0;
    assert_non_null(w = pf_trace_stream_open(t, n, path, 0, &err));
    for (uint32_t i = 0; i + 1 < n; i++)
        assert_int_equal(pf_trace_stream_node(w, &nodes[i]), 0);
    assert_int_equal(pf_trace_stream_close(w, &err), -1);
    assert_non_null(strstr(err.msg, "5 nodes written of the 6 announced"));
    assert_non_null(w = pf_trace_stream_open(t, n, path, 0, &err));
    for (uint32_t i = 0; i < n; i++)
        assert_int_equal(pf_trace_stream_node(w, &nodes[i]), 0);
    assert_int_equal(pf_trace_stream_node(w, &nodes[0]), -1);
    pf_trace_stream_abort(w);
    /* memory counters out of order */
    assert_non_null(w = pf_trace_stream_open(t, n, path, 0, &err));
    for (uint32_t i = 0; i < n; i++)
        assert_int_equal(pf_trace_stream_node(w, &nodes[i]), 0);
    assert_int_equal(pf_trace_stream_node_mem(w, 2, &mem[2]), 0);
    assert_int_equal(pf_trace_stream_node_mem(w, 0, &mem[0]), -1);
    assert_int_equal(pf_trace_stream_close(w, &err), -1);
    assert_non_null(strstr(err.msg, "memory counters of node 0"));
    /* a trace that holds nodes of its own is refused */
    t->nodes = nodes;
    t->nnodes = n;
    t->node_mem = mem;
    t->cap_node_mem = cap_mem;
    assert_null(pf_trace_stream_open(t, n, path, 0, &err));
    assert_int_equal(err.code, PF_EUSAGE);
    assert_int_equal(count_dir_entries(tmpdir), 0);
    pf_trace_free(t);
}

/* ---- truncation ---- */

static void check_every_truncation(const unsigned char *buf, size_t len)
{
    for (size_t k = 0; k < len; k++) {
        pf_error err;
        pf_error_clear(&err);
        pf_trace *t = pf_trace_read_mem(buf, k, &err);
        if (t != NULL)
            fail_msg("prefix of %zu/%zu bytes was accepted", k, len);
        if (!(err.code == PF_ETRUNC || (k == 0 && err.code == PF_EEMPTY)))
            fail_msg("prefix %zu: %s: %s", k, pf_error_name(err.code), err.msg);
        if (strstr(err.msg, "offset") == NULL)
            fail_msg("prefix %zu: message without offset: %s", k, err.msg);
    }
}

static void test_trace_rejects_truncation_at_every_raw_offset(void **state)
{
    (void)state;
    pf_trace *t = full_trace();
    unsigned char *buf;
    size_t len;
    assert_int_equal(pf_trace_write_mem_raw(t, &buf, &len, NULL), 0);
    check_every_truncation(buf, len);
    pf_free(buf);
    pf_trace_free(t);
}

static void test_trace_rejects_truncation_of_processes(void **state)
{
    (void)state;
    pf_trace *t = processes_trace();
    unsigned char *buf;
    size_t len;
    assert_int_equal(pf_trace_write_mem_raw(t, &buf, &len, NULL), 0);
    check_every_truncation(buf, len);
    pf_free(buf);
    pf_trace_free(t);
}

static void test_trace_rejects_truncation_at_every_gzip_offset(void **state)
{
    (void)state;
    pf_trace *t = full_trace();
    unsigned char *buf;
    size_t len;
    assert_int_equal(pf_trace_write_mem(t, &buf, &len, NULL), 0);
    check_every_truncation(buf, len);
    pf_free(buf);
    pf_trace_free(t);
}

static void test_trace_rejects_truncated_header(void **state)
{
    (void)state;
    expect_read_error("", 0, PF_EEMPTY, "offset 0");
    expect_read_error("\x89PFC\r", 5, PF_ETRUNC, "truncated header at offset 5");
    expect_read_error(PF_TRACE_MAGIC, 8, PF_ETRUNC, "truncated header at offset 8");
    expect_read_error(PF_TRACE_MAGIC "\x81", 9, PF_ETRUNC, "truncated header at offset");
    expect_read_error(PF_TRACE_MAGIC "\x01", 9, PF_ETRUNC, "missing END record at offset 9");
}

/* ---- hand-built streams ---- */

typedef struct sb {
    unsigned char *p;
    size_t len, cap;
} sb;

static void sb_bytes(sb *b, const void *p, size_t n)
{
    if (n == 0)
        return;
    if (b->cap - b->len < n) {
        b->cap = (b->cap + n) * 2;
        b->p = realloc(b->p, b->cap);
    }
    memcpy(b->p + b->len, p, n);
    b->len += n;
}

static void sb_v(sb *b, uint64_t v)
{
    unsigned char tmp[PF_VARINT_MAX];
    sb_bytes(b, tmp, pf_varint_put(tmp, v));
}

static void sb_str(sb *b, const char *s)
{
    sb_v(b, strlen(s));
    sb_bytes(b, s, strlen(s));
}

static void sb_record(sb *b, unsigned tag, const sb *payload)
{
    sb_v(b, tag);
    sb_v(b, payload->len);
    sb_bytes(b, payload->p, payload->len);
}

/* A stream with all-NULL META, two strings, one code, one thread: the prefix the
 * hostile-stream tests build on. */
static void sb_prefix(sb *b, const void *extra_meta, size_t nextra)
{
    sb p = { 0 };
    sb_bytes(b, PF_TRACE_MAGIC, PF_TRACE_MAGIC_LEN);
    sb_v(b, PF_TRACE_FORMAT_VERSION);
    /* META: python_version, executable, argc, cwd, npath, start, duration, clock,
     * modes, flags, pid, hostname, total_calls, profiler_bytes, peak_live_bytes */
    sb_v(&p, 0); sb_v(&p, 0); sb_v(&p, 0); sb_v(&p, 0); sb_v(&p, 0);
    sb_v(&p, 0); sb_v(&p, 0); sb_v(&p, 0); sb_v(&p, 0); sb_v(&p, 0);
    sb_v(&p, 0); sb_v(&p, 0); sb_v(&p, 0); sb_v(&p, 0); sb_v(&p, 0);
    if (nextra)
        sb_bytes(&p, extra_meta, nextra);
    sb_record(b, PF_TAG_META, &p);
    p.len = 0;
    sb_v(&p, 2); sb_str(&p, "f.py"); sb_str(&p, "f");
    sb_record(b, PF_TAG_STRINGS, &p);
    p.len = 0;
    sb_v(&p, 1); sb_v(&p, 0); sb_v(&p, 1); sb_v(&p, 0); sb_v(&p, 1); sb_v(&p, 0);
    sb_record(b, PF_TAG_CODES, &p);
    p.len = 0;
    sb_v(&p, 1); sb_v(&p, 77); sb_v(&p, 1);
    sb_record(b, PF_TAG_THREADS, &p);
    free(p.p);
}

static void sb_end(sb *b, uint64_t nnodes, uint64_t nnodemem, uint64_t nlines,
                   uint64_t nsamples)
{
    sb p = { 0 };
    sb_v(&p, 2); sb_v(&p, 1); sb_v(&p, 1); sb_v(&p, nnodes); sb_v(&p, nnodemem);
    sb_v(&p, nlines); sb_v(&p, 0); sb_v(&p, 0); sb_v(&p, nsamples);
    sb_record(b, PF_TAG_END, &p);
    free(p.p);
}

/* One node record: (parent delta, thread, code) triples. */
static void sb_nodes(sb *b, const uint64_t (*n)[3], size_t count)
{
    sb p = { 0 };
    sb_v(&p, count);
    for (size_t i = 0; i < count; i++) {
        sb_v(&p, n[i][0]); sb_v(&p, n[i][1]); sb_v(&p, n[i][2]);
        sb_v(&p, 3); sb_v(&p, 1); sb_v(&p, 10); sb_v(&p, 5);
    }
    sb_record(b, PF_TAG_NODES, &p);
    free(p.p);
}

static void test_trace_reads_hand_built_stream(void **state)
{
    (void)state;
    sb b = { 0 };
    sb_prefix(&b, NULL, 0);
    const uint64_t n[][3] = { { 0, 0, 0 }, { 1, 0, 0 }, { 2, 0, 0 } };
    sb_nodes(&b, n, 3);
    sb_end(&b, 3, 0, 0, 0);
    pf_error err;
    pf_trace *t = pf_trace_read_mem(b.p, b.len, &err);
    if (t == NULL)
        fail_msg("%s", err.msg);
    assert_int_equal(t->nnodes, 3);
    assert_int_equal(t->nodes[0].parent, PF_NONE);
    assert_int_equal(t->nodes[1].parent, 0);
    assert_int_equal(t->nodes[2].parent, 0);
    assert_int_equal(t->codes[0].qualname, 1);
    assert_true(t->threads[0].ident == 77);
    assert_string_equal(pf_trace_str(t, t->codes[0].file), "f.py");
    pf_trace_free(t);
    free(b.p);
}

static void test_trace_rejects_parent_out_of_range(void **state)
{
    (void)state;
    sb b = { 0 };
    sb_prefix(&b, NULL, 0);
    size_t at = b.len + 3;   /* tag, length, count: then node 0 */
    const uint64_t n[][3] = { { 0, 0, 0 }, { 2, 0, 0 } };
    sb_nodes(&b, n, 2);
    sb_end(&b, 2, 0, 0, 0);
    char want[128];
    snprintf(want, sizeof want, "node 1 at offset %zu: parent -1 out of range", at + 7);
    expect_read_error(b.p, b.len, PF_ECORRUPT, want);
    free(b.p);
}

/* Data-driven: each case appends bad records after the common prefix. */
static void test_trace_rejects_bad_references(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        uint64_t node[3];       /* one node: parent delta, thread, code */
        unsigned tag;           /* then one more record with this payload... */
        uint64_t pay[8];
        size_t npay;
        const char *want;
    } cases[] = {
        { "thread", { 0, 1, 0 }, 0, { 0 }, 0, "thread 1 out of range" },
        { "code", { 0, 0, 1 }, 0, { 0 }, 0, "code 1 out of range" },
        { "codes string id", { 0, 0, 0 }, PF_TAG_CODES, { 1, 2, 0, 0, 0, 0 }, 6,
          "file string id 2 out of range" },
        { "qualname", { 0, 0, 0 }, PF_TAG_CODES, { 1, 0, 0, 3, 0, 0 }, 6,
          "qualname string id 2 out of range" },
        { "code kind", { 0, 0, 0 }, PF_TAG_CODES, { 1, 0, 0, 0, 0, 2 }, 6, "unknown kind 2" },
        { "thread name", { 0, 0, 0 }, PF_TAG_THREADS, { 1, 5, 9 }, 3,
          "name string id 9 out of range" },
        { "node mem index", { 0, 0, 0 }, PF_TAG_NODE_MEM, { 1, 1, 1, 1, 1, 1, 1 }, 7,
          "node index out of range" },
        { "line code", { 0, 0, 0 }, PF_TAG_LINES, { 1, 2, 2, 1, 1, 1 }, 6,
          "code delta 1 out of range" },
        { "line mem index", { 0, 0, 0 }, PF_TAG_LINE_MEM, { 1, 0, 1, 1, 1, 1, 1 }, 7,
          "line index out of range" },
        { "sample thread", { 0, 0, 0 }, PF_TAG_SAMPLES, { 1, 3, 0, 0, 0 }, 5,
          "thread 3 out of range" },
        { "sample node", { 0, 0, 0 }, PF_TAG_SAMPLES, { 1, 0, 2, 0, 0 }, 5,
          "node 1 out of range" },
        { "source path", { 0, 0, 0 }, PF_TAG_SOURCE, { 7, 0 }, 2,
          "path string id 7 out of range" },
        { "count", { 0, 0, 0 }, PF_TAG_SAMPLES, { 100, 0, 0 }, 3, "entry count 100" },
        { "field past end", { 0, 0, 0 }, PF_TAG_SAMPLES, { 1, 0, 0, 0 }, 4,
          "weight runs past the end of the SAMPLES record" },
        { "32-bit field", { 0, 0, 0 }, PF_TAG_LINES, { 1, 0, 0x200000000ull, 0, 0, 0 }, 6,
          "line delta 4294967296 out of range" },
        { "duplicate meta", { 0, 0, 0 }, PF_TAG_META, { 0 }, 0, "duplicate META record" },
        { "tag 0", { 0, 0, 0 }, 0, { 0 }, 0, NULL },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        sb b = { 0 }, p = { 0 };
        sb_prefix(&b, NULL, 0);
        sb_nodes(&b, &cases[i].node, 1);
        if (cases[i].npay || cases[i].tag) {
            for (size_t k = 0; k < cases[i].npay; k++)
                sb_v(&p, cases[i].pay[k]);
            sb_record(&b, cases[i].tag, &p);
        }
        if (cases[i].want == NULL) {   /* tag 0 */
            sb_record(&b, 0, &p);
            sb_end(&b, 1, 0, 0, 0);
            expect_read_error(b.p, b.len, PF_ECORRUPT, "bad record tag 0 at offset");
        } else {
            sb_end(&b, 1, 0, 0, 0);
            print_message("case: %s\n", cases[i].name);
            expect_read_error(b.p, b.len, PF_ECORRUPT, cases[i].want);
        }
        free(p.p);
        free(b.p);
    }
}

/* END with the processes count (sb_prefix's strings, codes and threads; no nodes). */
static void sb_end_processes(sb *b, uint64_t nprocesses)
{
    sb p = { 0 };
    sb_v(&p, 2); sb_v(&p, 1); sb_v(&p, 1);
    for (int k = 0; k < 6; k++)
        sb_v(&p, 0);
    sb_v(&p, nprocesses);
    sb_record(b, PF_TAG_END, &p);
    free(p.p);
}

/* One PROCESSES record of one entry: the 12 fields as given. */
static void sb_processes(sb *b, const uint64_t *f, size_t nf)
{
    sb p = { 0 };
    sb_v(&p, 1);
    for (size_t k = 0; k < nf; k++)
        sb_v(&p, f[k]);
    sb_record(b, PF_TAG_PROCESSES, &p);
    free(p.p);
}

/* Streams from before the exit fields and PROCESSES: a META that ends after
 * peak_live_bytes or after its gaps, an END of nine counts. */
static void test_trace_reads_old_meta_and_end(void **state)
{
    (void)state;
    pf_error err;
    pf_trace *t = pf_trace_read(GOLDEN_RAW, &err);
    if (t == NULL)
        fail_msg("%s", err.msg);
    assert_int_equal(t->meta.exit_code, PF_EXIT_UNKNOWN);
    assert_int_equal(t->meta.exit_signal, 0);
    assert_int_equal(t->nprocesses, 0);
    pf_trace_free(t);
    static const struct {
        const char *extra;
        size_t n;
        int32_t code;
        uint32_t sig;
        uint32_t ngaps;
    } cases[] = {
        { "", 0, PF_EXIT_UNKNOWN, 0, 0 },
        { "\x01\x07\x05\x00\x01", 5, PF_EXIT_UNKNOWN, 0, 1 },   /* a gap, no exit */
        { "\x01\x07\x05\x00\x01\x01\x0f", 7, PF_EXIT_UNKNOWN, 15, 1 },
        { "\x00\x03\x00", 3, -2, 0, 0 },
        { "\x00\x01\x00\xac\x02", 5, PF_EXIT_UNKNOWN, 0, 0 },      /* native peak 300 */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        sb b = { 0 };
        sb_prefix(&b, cases[i].extra, cases[i].n);
        const uint64_t n[][3] = { { 0, 0, 0 } };
        sb_nodes(&b, n, 1);
        sb_end(&b, 1, 0, 0, 0);
        t = pf_trace_read_mem(b.p, b.len, &err);
        if (t == NULL)
            fail_msg("case %zu: %s", i, err.msg);
        assert_int_equal(t->meta.exit_code, cases[i].code);
        assert_int_equal(t->meta.exit_signal, cases[i].sig);
        assert_int_equal(t->meta.ngaps, cases[i].ngaps);
        assert_true(t->meta.peak_native_bytes == (i == 4 ? 300u : 0u));
        assert_int_equal(t->nprocesses, 0);
        pf_trace_free(t);
        free(b.p);
    }
}

static void test_trace_reads_hand_built_processes(void **state)
{
    (void)state;
    sb b = { 0 };
    sb_prefix(&b, NULL, 0);
    const uint64_t f[] = { 4242, 1, 0, 0, 1, PF_PROC_EXITED, 5, 100, 7, 0, 2, 0 };
    sb_processes(&b, f, 12);
    sb_end_processes(&b, 1);
    pf_error err;
    pf_trace *t = pf_trace_read_mem(b.p, b.len, &err);
    if (t == NULL)
        fail_msg("%s", err.msg);
    assert_int_equal(t->nprocesses, 1);
    const pf_process *p = &t->processes[0];
    assert_true(p->pid == 4242 && p->ppid == 1);
    assert_string_equal(pf_trace_str(t, p->command), "f.py");
    assert_int_equal(p->first_thread, 0);
    assert_int_equal(p->nthreads, 1);
    assert_true(p->start_ns == -3);
    assert_true(p->duration_ns == 100 && p->calls == 7);
    assert_int_equal(p->exit_code, 1);
    assert_int_equal(pf_trace_thread_process(t, 0), 0);
    pf_trace_free(t);
    free(b.p);
}

/* Data-driven: one PROCESSES record after sb_prefix (2 strings, 1 thread). */
static void test_trace_rejects_bad_processes(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        uint64_t f[12];
        size_t nf;
        int before_threads;      /* put it before the THREADS record */
        int end;                 /* END: 0 with a processes count of 1, 1 without, 2 count 2 */
        enum pf_error_code code;
        const char *want;
    } cases[] = {
        { "thread range", { 5, 1, 0, 1, 1, 0, 0, 0, 0, 0, 1, 0 }, 12, 0, 0, PF_ECORRUPT,
          "process 0 at offset %zu: threads 1..2 out of range (1 threads so far)" },
        { "thread count", { 5, 1, 0, 0, 2, 0, 0, 0, 0, 0, 1, 0 }, 12, 0, 0, PF_ECORRUPT,
          "process 0 at offset %zu: threads 0..2 out of range (1 threads so far)" },
        { "huge range", { 5, 1, 0, 0xffffffffu, 0xffffffffu, 0, 0, 0, 0, 0, 1, 0 }, 12, 0,
          0, PF_ECORRUPT, "threads 4294967295..8589934590 out of range" },
        { "before its threads", { 5, 1, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0 }, 12, 1, 0,
          PF_ECORRUPT, "process 0 at offset %zu: threads 0..1 out of range (0 threads so far)" },
        { "command", { 5, 1, 2, 0, 1, 0, 0, 0, 0, 0, 1, 0 }, 12, 0, 0, PF_ECORRUPT,
          "command string id 2 out of range (2 strings so far)" },
        { "first_thread 33 bits", { 5, 1, 0, 0x100000000ull, 1, 0, 0, 0, 0, 0, 1, 0 }, 12,
          0, 0, PF_ECORRUPT, "first_thread 4294967296 at offset" },
        { "exit_code 32 bits", { 5, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0x100000000ull, 0 }, 12, 0,
          0, PF_ECORRUPT, "exit_code 2147483648 at offset" },
        { "exit_signal 32 bits", { 5, 1, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0x100000000ull }, 12, 0,
          0, PF_ECORRUPT, "exit_signal 4294967296 at offset" },
        { "short entry", { 5, 1, 0, 0, 1, 0, 0, 0, 0, 0, 1 }, 11, 0, 0, PF_ECORRUPT,
          "exit_signal runs past the end of the PROCESSES record" },
        { "END without the count", { 5, 1, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0 }, 12, 0, 1,
          PF_ECORRUPT, "has no processes count but 1 processes were read" },
        { "END counts more", { 5, 1, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0 }, 12, 0, 2, PF_ETRUNC,
          "counts 2 processes but 1 were read" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        sb b = { 0 };
        size_t at;
        if (cases[i].before_threads) {
            sb_prefix(&b, NULL, 0);
            /* the prefix ends with THREADS (05 03, count 1, ident 77, name 1) */
            size_t threads_at = b.len - 5;
            assert_int_equal(b.p[threads_at], PF_TAG_THREADS);
            sb rest = { 0 };
            sb_bytes(&rest, b.p + threads_at, b.len - threads_at);
            b.len = threads_at;
            at = b.len + 3;
            sb_processes(&b, cases[i].f, cases[i].nf);
            sb_bytes(&b, rest.p, rest.len);
            free(rest.p);
        } else {
            sb_prefix(&b, NULL, 0);
            at = b.len + 3;      /* tag, length, count: then the entry */
            sb_processes(&b, cases[i].f, cases[i].nf);
        }
        if (cases[i].end == 1) {
            sb_end(&b, 0, 0, 0, 0);
        } else {
            sb_end_processes(&b, cases[i].end == 2 ? 2 : 1);
        }
        char want[256];
        snprintf(want, sizeof want, cases[i].want, at);
        print_message("case: %s\n", cases[i].name);
        expect_read_error(b.p, b.len, cases[i].code, want);
        free(b.p);
    }
    /* A PROCESSES record cut short by the end of the stream. */
    pf_trace *t = processes_trace();
    unsigned char *buf;
    size_t len;
    assert_int_equal(pf_trace_write_mem_raw(t, &buf, &len, NULL), 0);
    size_t at = 0;
    for (size_t k = 9; k < len;) {      /* walk the records to find PROCESSES */
        uint64_t tag, rlen;
        size_t start = k;
        k += (size_t)pf_varint_get(buf + k, len - k, &tag);
        k += (size_t)pf_varint_get(buf + k, len - k, &rlen);
        if (tag == PF_TAG_PROCESSES) {
            at = start;
            break;
        }
        k += (size_t)rlen;
    }
    assert_true(at > 0);
    char want[128];
    snprintf(want, sizeof want, "truncated record at offset %zu (PROCESSES, ", at);
    expect_read_error(buf, at + 10, PF_ETRUNC, want);
    pf_free(buf);
    pf_trace_free(t);
}

/* RSS records: one per process, after PROCESSES; END gets an eleventh count. */
static void test_trace_roundtrip_rss(void **state)
{
    (void)state;
    long live = pf_alloc_live_blocks();
    pf_trace *t = processes_trace();
    pf_rss_sample s0[] = { { 0, 4096 }, { 20000000, 110u << 20 }, { 20000000, 5 },
                           { UINT64_MAX, UINT64_MAX } };
    assert_int_equal(pf_trace_add_rss(t, 1, 200u << 20, 30u << 20, s0, 4), 0);
    assert_int_equal(pf_trace_add_rss(t, 0, UINT64_MAX, 0, NULL, 0), 1);
    assert_int_equal(pf_trace_validate(t, NULL), 0);
    assert_true(pf_trace_process_rss(t, 1) == &t->rss[0]);
    assert_null(pf_trace_process_rss(t, 2));
    for (int gz = 0; gz < 2; gz++) {
        unsigned char *buf;
        size_t len;
        pf_error err;
        assert_int_equal((gz ? pf_trace_write_mem : pf_trace_write_mem_raw)(t, &buf, &len, &err), 0);
        pf_trace *u = pf_trace_read_mem(buf, len, &err);
        if (u == NULL)
            fail_msg("%s", err.msg);
        assert_traces_equal(t, u);
        assert_int_equal(pf_trace_validate(u, &err), 0);
        pf_trace_free(u);
        pf_free(buf);
    }
    /* a sample going back in time, a process out of range: invalid */
    pf_error err;
    t->rss[0].samples[2].time_ns = 1;
    assert_int_equal(pf_trace_validate(t, &err), -1);
    assert_non_null(strstr(err.msg, "RSS 0: sample 2 goes back in time"));
    t->rss[0].samples[2].time_ns = 20000000;
    t->rss[1].process = 3;
    assert_int_equal(pf_trace_validate(t, &err), -1);
    assert_non_null(strstr(err.msg, "RSS 1: process 3 out of range"));
    pf_trace_free(t);

    /* the bytes: RSS right after PROCESSES, END with nprocesses then nrss */
    t = pf_trace_new();
    pf_thread th = { 1, S(t, "cmd") };
    pf_trace_add_thread(t, &th);
    pf_process p = { 7, 0, 0, 0, 1, 0, 0, 0, 0, 0, PF_EXIT_UNKNOWN, 0 };
    pf_trace_add_process(t, &p);
    pf_rss_sample s1[] = { { 5, 300 }, { 7, 2 } };
    pf_trace_add_rss(t, 0, 301, 3, s1, 2);
    unsigned char *buf;
    size_t len;
    assert_int_equal(pf_trace_write_mem_raw(t, &buf, &len, NULL), 0);
    static const unsigned char want[] = {
        12, 13, 1, 7, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0,  /* PROCESSES */
        13, 10, 0, 0xad, 2, 3, 2, 5, 0xac, 2, 2, 2,     /* RSS: process 0, peak 301, final 3,
                                                           (5, 300), (+2, 2) */
        1, 11, 1, 0, 1, 0, 0, 0, 0, 0, 0, 1, 1,         /* END: ..., nprocesses 1, nrss 1 */
    };
    assert_true(len > sizeof want);
    assert_memory_equal(buf + len - sizeof want, want, sizeof want);
    pf_trace *u = pf_trace_read_mem(buf, len, &err);
    if (u == NULL)
        fail_msg("%s", err.msg);
    assert_traces_equal(t, u);
    pf_trace_free(u);
    /* hostile RSS records */
    size_t at = len - sizeof want + 15;             /* the RSS record */
    static const struct {
        unsigned char rec[12];
        size_t n;
        int code;
        const char *msg;
    } bad[] = {
        { { 13, 4, 1, 0, 0, 0 }, 6, PF_ECORRUPT, "process 1 out of range (1 processes so far)" },
        { { 13, 5, 0, 0, 0, 3, 1 }, 7, PF_ECORRUPT, "sample count 3 exceeds its payload" },
        { { 13, 6, 0, 0, 0, 1, 0xff, 0xff }, 8, PF_ECORRUPT, "time runs past the end of the RSS record" },
        { { 13, 5, 0, 0, 0, 1, 1 }, 7, PF_ECORRUPT, "sample count 1 exceeds its payload" },
        { { 13, 3, 0, 0, 0 }, 5, PF_ECORRUPT, "sample count runs past the end" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        sb b = { 0 };
        sb_bytes(&b, buf, at);
        sb_bytes(&b, bad[i].rec, bad[i].n);
        sb_bytes(&b, buf + at + 12, len - at - 12);
        expect_read_error(b.p, b.len, bad[i].code, bad[i].msg);
        free(b.p);
    }
    /* an END without the RSS count after an RSS record */
    {
        sb b = { 0 };
        sb_bytes(&b, buf, len - 13);
        static const unsigned char end10[] = { 1, 10, 1, 0, 1, 0, 0, 0, 0, 0, 0, 1 };
        sb_bytes(&b, end10, sizeof end10);
        expect_read_error(b.p, b.len, PF_ECORRUPT, "has no RSS count but 1 RSS records were read");
        free(b.p);
    }
    /* a sample time that wraps */
    {
        pf_trace_free(t);
        t = pf_trace_new();
        th.name = S(t, "cmd");
        pf_trace_add_thread(t, &th);
        pf_trace_add_process(t, &p);
        pf_rss_sample s2[] = { { UINT64_MAX, 1 }, { UINT64_MAX, 2 } };
        pf_trace_add_rss(t, 0, 0, 0, s2, 2);
        unsigned char *b2;
        size_t l2;
        assert_int_equal(pf_trace_write_mem_raw(t, &b2, &l2, NULL), 0);
        /* the second delta (0) becomes 1: past 2^64 */
        for (size_t k = 0; k + 2 < l2; k++)
            if (b2[k] == 0x01 && b2[k + 1] == 0x00 && b2[k + 2] == 0x02) {
                b2[k + 1] = 0x01;
                break;
            }
        expect_read_error(b2, l2, PF_ECORRUPT, "sample 1 time overflows");
        pf_free(b2);
    }
    pf_free(buf);
    pf_trace_free(t);
    assert_int_equal(pf_alloc_live_blocks(), live);
}

/* LINKS: after NODE_MEM, one block; END gets a twelfth count (and the two before it,
 * even 0); META's links_dropped after the exit fields (and they before it, even
 * unknown).  Hostile links are rejected with their index and offset. */
/* A sampled trace: META's sample fields after links_dropped (and every optional field
 * before them, even empty), byte for byte, and back. */
static void test_trace_roundtrip_sample_meta(void **state)
{
    (void)state;
    pf_error err;
    pf_trace *t = pf_trace_new();
    t->meta.modes = PF_MODE_SAMPLES | PF_MODE_LINES;
    t->meta.sample_interval_ns = 1000000;
    t->meta.sample_ticks = 300;
    t->meta.samples_lost = 2;
    t->meta.sample_mode = PF_SAMPLE_KIND_GIL;
    unsigned char *buf;
    size_t len;
    assert_int_equal(pf_trace_write_mem_raw(t, &buf, &len, NULL), 0);
    /* no gaps, exit -1, signal 0, no native bytes, none dropped, 10^6, 300, 2, gil */
    static const unsigned char meta_tail[] = { 0, 1, 0, 0, 0, 0xc0, 0x84, 0x3d, 0xac, 2, 2, 2 };
    assert_int_equal(buf[10], 15 + sizeof meta_tail);
    assert_memory_equal(buf + 11 + 15, meta_tail, sizeof meta_tail);
    pf_trace *u = pf_trace_read_mem(buf, len, &err);
    if (u == NULL)
        fail_msg("%s", err.msg);
    assert_traces_equal(t, u);
    char line[200];
    pf_trace_sample_describe(u, line, sizeof line);
    assert_string_equal(line, "0 samples at 1000 Hz (0 Hz achieved), gil mode, 2 lost (100.0%)");
    pf_trace_free(u);
    pf_free(buf);
    pf_trace_free(t);
}

static void test_trace_roundtrip_links(void **state)
{
    (void)state;
    long live = pf_alloc_live_blocks();
    pf_trace *t = full_trace();
    pf_link links[] = {
        { 1, 0, PF_LINK_TASK },             /* a task created by main */
        { 4, 2, PF_LINK_EXECUTOR },         /* thread 1's work, queued in thread 0 */
        { 5, 3, 77 },                       /* a kind from the future: kept */
        { 0, 5, UINT32_MAX },
    };
    for (uint32_t i = 0; i < sizeof links / sizeof links[0]; i++)
        assert_int_equal(pf_trace_add_link(t, &links[i]), i);
    t->meta.links_dropped = UINT64_MAX;
    assert_int_equal(pf_trace_validate(t, NULL), 0);
    for (int gz = 0; gz < 2; gz++) {
        unsigned char *buf;
        size_t len;
        pf_error err;
        assert_int_equal((gz ? pf_trace_write_mem : pf_trace_write_mem_raw)(t, &buf, &len, &err), 0);
        pf_trace *u = pf_trace_read_mem(buf, len, &err);
        if (u == NULL)
            fail_msg("%s", err.msg);
        assert_traces_equal(t, u);
        assert_int_equal(u->nlinks, 4);
        assert_int_equal(u->meta.exit_code, PF_EXIT_UNKNOWN);
        assert_int_equal(pf_trace_validate(u, &err), 0);
        pf_trace_free(u);
        pf_free(buf);
    }
    /* invalid in memory: out of range, its own creator */
    pf_error err;
    t->links[1].creator = 6;
    assert_int_equal(pf_trace_validate(t, &err), -1);
    assert_non_null(strstr(err.msg, "link 1: node 4 or creator 6 out of range (6 nodes)"));
    t->links[1].creator = 4;
    assert_int_equal(pf_trace_validate(t, &err), -1);
    assert_non_null(strstr(err.msg, "link 1: node 4 is its own creator"));
    pf_trace_free(t);

    /* the bytes: no processes, no RSS, one link */
    t = pf_trace_new();
    pf_thread th = { 1, S(t, "f") };
    pf_trace_add_thread(t, &th);
    pf_code c = { 0, 0, 0, 0, PF_CODE_PYTHON };
    pf_trace_add_code(t, &c);
    pf_node n0 = { PF_NONE, 0, 0, 0, 1, 0, 0 }, n1 = { 0, 0, 0, 0, 1, 0, 0 };
    pf_trace_add_node(t, &n0);
    pf_trace_add_node(t, &n1);
    pf_link l = { 1, 0, PF_LINK_EXECUTOR };
    pf_trace_add_link(t, &l);
    t->meta.links_dropped = 300;
    unsigned char *buf;
    size_t len;
    assert_int_equal(pf_trace_write_mem_raw(t, &buf, &len, NULL), 0);
    /* no gaps, exit -1, signal 0, no native bytes (written: links_dropped follows), 300 */
    static const unsigned char meta_tail[] = { 0, 1, 0, 0, 0xac, 2 };
    assert_int_equal(buf[10], 15 + sizeof meta_tail);
    assert_memory_equal(buf + 11 + 15, meta_tail, sizeof meta_tail);
    static const unsigned char want[] = {
        6, 15, 2, 0, 0, 0, 0, 1, 0, 0, 1, 0, 0, 0, 1, 0, 0,   /* NODES */
        14, 4, 1, 1, 0, 1,                                    /* LINKS: (1, 0, executor) */
        1, 12, 1, 1, 1, 2, 0, 0, 0, 0, 0, 0, 0, 1,            /* END: ..., 0, 0, nlinks 1 */
    };
    assert_true(len > sizeof want);
    assert_memory_equal(buf + len - sizeof want, want, sizeof want);
    pf_trace *u = pf_trace_read_mem(buf, len, &err);
    if (u == NULL)
        fail_msg("%s", err.msg);
    assert_traces_equal(t, u);
    pf_trace_free(u);
    /* hostile LINKS records, in place of the good one (6 bytes) */
    size_t at = len - sizeof want + 17;
    static const struct {
        unsigned char rec[8];
        size_t n;
        const char *msg;
    } bad[] = {
        { { 14, 4, 1, 2, 0, 0 }, 6, "link 0 at offset 70: node 2 or creator 0 out of range (2 nodes so far)" },
        { { 14, 4, 1, 1, 9, 0 }, 6, "node 1 or creator 9 out of range" },
        { { 14, 4, 1, 1, 1, 0 }, 6, "link 0 at offset 70: node 1 is its own creator" },
        { { 14, 4, 4, 1, 0, 0 }, 6, "entry count 4 exceeds its payload" },
        { { 14, 4, 2, 1, 0, 0 }, 6, "node runs past the end of the LINKS record at offset 67" },
        { { 14, 4, 1, 1, 0, 0x80 }, 6, "kind runs past the end of the LINKS record" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        sb b = { 0 };
        sb_bytes(&b, buf, at);
        sb_bytes(&b, bad[i].rec, bad[i].n);
        sb_bytes(&b, buf + at + 6, len - at - 6);
        expect_read_error(b.p, b.len, PF_ECORRUPT, bad[i].msg);
        free(b.p);
    }
    /* an END that stops before nlinks (or nrss, or nprocesses) after a LINKS record */
    for (int cut = 1; cut <= 3; cut++) {
        sb b = { 0 };
        sb_bytes(&b, buf, len - 14);
        unsigned char end[14];
        memcpy(end, want + sizeof want - 14, 14);
        end[1] = (unsigned char)(12 - cut);
        sb_bytes(&b, end, (size_t)(14 - cut));
        expect_read_error(b.p, b.len, PF_ECORRUPT, "has no links count but 1 links were read");
        free(b.p);
    }
    pf_free(buf);
    pf_trace_free(t);
    assert_int_equal(pf_alloc_live_blocks(), live);
}

/* Golden bad inputs: tests/data/trace/bad/EXPECT lists file, code, message. */
static void test_trace_rejects_golden_bad_inputs(void **state)
{
    (void)state;
    FILE *f = fopen("tests/data/trace/bad/EXPECT", "r");
    if (f == NULL)
        fail_msg("cannot open tests/data/trace/bad/EXPECT (run from the repo root)");
    char line[512];
    int ncases = 0;
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#' || line[0] == '\n')
            continue;
        line[strcspn(line, "\n")] = '\0';
        char *name = strtok(line, "\t"), *code = strtok(NULL, "\t"), *msg = strtok(NULL, "\t");
        assert_non_null(msg);
        char path[600];
        snprintf(path, sizeof path, "tests/data/trace/bad/%s", name);
        pf_error err;
        pf_error_clear(&err);
        pf_trace *t = pf_trace_read(path, &err);
        if (t != NULL)
            fail_msg("%s: accepted", name);
        if (strcmp(pf_error_name(err.code), code) != 0 || strstr(err.msg, msg) == NULL)
            fail_msg("%s: got %s \"%s\", want %s \"%s\"", name, pf_error_name(err.code),
                     err.msg, code, msg);
        ncases++;
    }
    fclose(f);
    assert_true(ncases >= 8);
}

static void test_trace_rejects_bad_magic(void **state)
{
    (void)state;
    expect_read_error("hello world, not a trace", 24, PF_EMAGIC,
                      "bad magic (not a pyflame-c trace)");
    /* Newline mangling (CR LF -> LF) is caught by the magic. */
    expect_read_error("\x89PFC\n\x1a\n\x01", 8, PF_EMAGIC, "bad magic");
    /* gzip of something else */
    size_t gl;
    unsigned char *g = gzip_bytes((const unsigned char *)"plain text\n", 11, &gl);
    expect_read_error(g, gl, PF_EMAGIC, "bad magic");
    assert_false(pf_trace_sniff(g, gl));
    free(g);
}

static void test_trace_rejects_wrong_version(void **state)
{
    (void)state;
    pf_trace *t = full_trace();
    unsigned char *buf;
    size_t len;
    assert_int_equal(pf_trace_write_mem_raw(t, &buf, &len, NULL), 0);
    assert_int_equal(buf[8], PF_TRACE_FORMAT_VERSION);
    buf[8] = 7;
    expect_read_error(buf, len, PF_EVERSION,
                      "unsupported format version 7 (this reader knows 1)");
    buf[8] = 0;
    expect_read_error(buf, len, PF_EVERSION, "unsupported format version 0");
    pf_free(buf);
    pf_trace_free(t);
}

static void test_trace_skips_unknown_tags(void **state)
{
    (void)state;
    pf_trace *t = full_trace();
    unsigned char *buf;
    size_t len;
    assert_int_equal(pf_trace_write_mem_raw(t, &buf, &len, NULL), 0);
    /* Insert two records from the future right after the header: one small, one
     * spanning more than a reader window. */
    sb b = { 0 }, p = { 0 };
    sb_bytes(&b, buf, 9);
    sb_bytes(&p, "future!", 7);
    sb_record(&b, 99, &p);
    p.len = 0;
    for (int i = 0; i < 100000; i++)
        sb_bytes(&p, "0123456789", 10);
    sb_record(&b, 1000000, &p);
    sb_bytes(&b, buf + 9, len - 9);
    pf_error err;
    pf_trace *u = pf_trace_read_mem(b.p, b.len, &err);
    if (u == NULL)
        fail_msg("%s", err.msg);
    assert_traces_equal(t, u);
    pf_trace_free(u);
    size_t gl;
    unsigned char *g = gzip_bytes(b.p, b.len, &gl);
    u = pf_trace_read_mem(g, gl, &err);
    if (u == NULL)
        fail_msg("%s", err.msg);
    assert_traces_equal(t, u);
    pf_trace_free(u);
    free(g);
    free(p.p);
    free(b.p);
    pf_free(buf);
    pf_trace_free(t);
}

static void test_trace_ignores_trailing_payload_bytes(void **state)
{
    (void)state;
    /* Each record carries bytes from a "newer version" after its known fields (META's
     * last known fields are its gap list, empty here, the exit status 3, no signal,
     * 5 dropped links and the four sample fields; END's, the processes, RSS and links
     * counts). */
    sb b = { 0 }, p = { 0 };
    sb_prefix(&b, "\x00\x06\x00\x00\x05\x00\x00\x00\x00\xff\xff", 11);
    sb_v(&p, 1);
    sb_v(&p, 0); sb_v(&p, 0); sb_v(&p, 0); sb_v(&p, 12); sb_v(&p, 1); sb_v(&p, 9); sb_v(&p, 4);
    sb_bytes(&p, "\x80\x80 newer fields", 15);
    sb_record(&b, PF_TAG_NODES, &p);
    p.len = 0;
    /* strings, codes, threads, nodes, node mem, lines, line mem, sources, samples */
    sb_v(&p, 2); sb_v(&p, 1); sb_v(&p, 1); sb_v(&p, 1); sb_v(&p, 0);
    sb_v(&p, 0); sb_v(&p, 0); sb_v(&p, 0); sb_v(&p, 0); sb_v(&p, 0);
    sb_v(&p, 0);                        /* nrss */
    sb_v(&p, 0);                        /* nlinks */
    sb_bytes(&p, "more", 4);
    sb_record(&b, PF_TAG_END, &p);
    pf_error err;
    pf_trace *t = pf_trace_read_mem(b.p, b.len, &err);
    if (t == NULL)
        fail_msg("%s", err.msg);
    assert_int_equal(t->nnodes, 1);
    assert_int_equal(t->nodes[0].call_line, 12);
    assert_true(t->nodes[0].self_ns == 9);
    assert_true(t->nodes[0].total_ns == 13);
    assert_int_equal(t->meta.exit_code, 3);
    assert_int_equal(t->meta.exit_signal, 0);
    assert_int_equal(pf_trace_validate(t, &err), 0);
    pf_trace_free(t);
    free(p.p);
    free(b.p);
}

static void test_trace_rejects_missing_or_wrong_end(void **state)
{
    (void)state;
    pf_trace *t = full_trace();
    unsigned char *buf;
    size_t len;
    assert_int_equal(pf_trace_write_mem_raw(t, &buf, &len, NULL), 0);
    /* END is the last record: tag 1, length 9, nine one-byte counts... find it. */
    size_t end_at = len - 11;
    assert_int_equal(buf[end_at], PF_TAG_END);
    char want[64];
    snprintf(want, sizeof want, "missing END record at offset %zu", end_at);
    expect_read_error(buf, end_at, PF_ETRUNC, want);
    /* Drop the last SAMPLES entry count by one: END then disagrees. */
    unsigned char *copy = malloc(len + 1);
    memcpy(copy, buf, len);
    copy[end_at + 2 + 8] = 5;   /* nsamples 4 -> 5 */
    expect_read_error(copy, len, PF_ETRUNC, "END record at offset");
    copy[end_at + 2 + 8] = 3;
    expect_read_error(copy, len, PF_ECORRUPT, "counts 3 samples but 4 were read");
    /* Data after END. */
    memcpy(copy, buf, len);
    copy[len] = 0;
    snprintf(want, sizeof want, "unexpected data after END record at offset %zu", len);
    expect_read_error(copy, len + 1, PF_ECORRUPT, want);
    free(copy);
    pf_free(buf);
    pf_trace_free(t);
}

static void test_trace_rejects_malformed_varints_and_lengths(void **state)
{
    (void)state;
    sb b = { 0 };
    sb_bytes(&b, PF_TRACE_MAGIC "\x01", 9);
    sb_bytes(&b, "\xff\xff\xff\xff\xff\xff\xff\xff\xff\x7f", 10);   /* tag: > 64 bits */
    expect_read_error(b.p, b.len, PF_ECORRUPT, "malformed record header at offset 9");
    b.len = 9;
    sb_v(&b, 99);
    sb_v(&b, (uint64_t)5 << 32);   /* a 20 GiB record */
    expect_read_error(b.p, b.len, PF_ELIMIT, "record at offset 9 claims 21474836480 bytes");
    b.len = 9;
    sb_v(&b, 99);
    sb_v(&b, 1000);   /* announces more than there is */
    sb_bytes(&b, "abc", 3);
    expect_read_error(b.p, b.len, PF_ETRUNC, "truncated record at offset 9");
    b.len = 9;
    sb_v(&b, PF_TAG_STRINGS);
    sb_v(&b, 1000);
    sb_bytes(&b, "\x01\x05", 2);
    expect_read_error(b.p, b.len, PF_ETRUNC, "truncated record at offset 9");
    /* A string whose length exceeds its record. */
    b.len = 9;
    sb p = { 0 };
    sb_v(&p, 1);
    sb_v(&p, 100);
    sb_bytes(&p, "short", 5);
    sb_record(&b, PF_TAG_STRINGS, &p);
    expect_read_error(b.p, b.len, PF_ECORRUPT, "string runs past the end of the STRINGS record at offset 9");
    /* A varint inside a payload longer than 10 bytes. */
    b.len = 9;
    p.len = 0;
    sb_bytes(&p, "\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x01", 11);
    sb_record(&b, PF_TAG_STRINGS, &p);
    expect_read_error(b.p, b.len, PF_ECORRUPT, "malformed varint (entry count) at offset 11");
    free(p.p);
    free(b.p);
}

/* Reads buf with a decoding budget; expects failure with code and want. */
static void expect_budget_error(const void *buf, size_t len, uint64_t budget,
                                enum pf_error_code code, const char *want)
{
    pf_error err;
    pf_error_clear(&err);
    pf_input *in = pf_input_open_mem(buf, len, &err);
    assert_non_null(in);
    pf_input_set_budget(in, budget);
    pf_trace *t = pf_trace_read_input(in, &err);
    pf_input_free(in);
    if (t != NULL)
        fail_msg("expected %s (%s), but the read succeeded", pf_error_name(code), want);
    if (err.code != code || strstr(err.msg, want) == NULL)
        fail_msg("expected %s \"%s\", got %s: %s", pf_error_name(code), want,
                 pf_error_name(err.code), err.msg);
}

/* A gzip bomb: 1 MiB of zeros in an unknown record compresses to about 1 KiB; with
 * the budget at 64 KiB the reader stops at the budget, whatever the record says. */
static void test_trace_refuses_streams_over_the_size_limit(void **state)
{
    (void)state;
    size_t n = 1 << 20, rec = 16 * 1024;
    unsigned char *raw = calloc(1, n + 1024);
    memcpy(raw, PF_TRACE_MAGIC "\x01", 9);
    size_t len = 9;
    for (size_t k = 0; k < n / rec; k++) {   /* records within the budget, each */
        len += pf_varint_put(raw + len, 99);
        len += pf_varint_put(raw + len, rec);
        len += rec;
    }
    size_t gl;
    unsigned char *g = gzip_bytes(raw, len, &gl);
    assert_true(gl < 4096);
    expect_budget_error(g, gl, 64 * 1024, PF_ELIMIT,
                        "input exceeds the 64 KiB decoding budget at offset 65536 (decoded "
                        "bytes; raise it with --max-memory)");
    expect_budget_error(raw, len, 64 * 1024, PF_ELIMIT,
                        "input exceeds the 64 KiB decoding budget at offset 65536");
    /* A record claiming more than the budget fails before reading it. */
    unsigned char claim[32];
    memcpy(claim, PF_TRACE_MAGIC "\x01", 9);
    size_t cl = 9 + pf_varint_put(claim + 9, 99);
    cl += pf_varint_put(claim + cl, n);
    expect_budget_error(claim, cl, 64 * 1024, PF_ELIMIT,
                        "record at offset 9 claims 1048576 bytes, more than the 64 KiB "
                        "decoding budget (raise it with --max-memory)");
    expect_read_error(g, gl, PF_ETRUNC, "missing END record at offset");
    free(g);
    free(raw);
}

static void test_trace_rejects_corrupt_gzip(void **state)
{
    (void)state;
    pf_trace *t = full_trace();
    unsigned char *buf;
    size_t len;
    assert_int_equal(pf_trace_write_mem(t, &buf, &len, NULL), 0);
    /* CRC32 of the trailer */
    buf[len - 6] ^= 0x55;
    expect_read_error(buf, len, PF_ECORRUPT, "corrupt gzip stream at offset");
    buf[len - 6] ^= 0x55;
    /* Garbage after the gzip member. */
    unsigned char *copy = malloc(len + 4);
    memcpy(copy, buf, len);
    memcpy(copy + len, "junk", 4);
    expect_read_error(copy, len + 4, PF_ECORRUPT, "unexpected data after the last gzip member");
    free(copy);
    pf_free(buf);
    pf_trace_free(t);
}

static void test_trace_reads_concatenated_gzip_members(void **state)
{
    (void)state;
    pf_trace *t = full_trace();
    unsigned char *raw;
    size_t len;
    assert_int_equal(pf_trace_write_mem_raw(t, &raw, &len, NULL), 0);
    size_t l1, l2, half = len / 2;
    unsigned char *g1 = gzip_bytes(raw, half, &l1), *g2 = gzip_bytes(raw + half, len - half, &l2);
    unsigned char *cat = malloc(l1 + l2);
    memcpy(cat, g1, l1);
    memcpy(cat + l1, g2, l2);
    pf_error err;
    pf_trace *u = pf_trace_read_mem(cat, l1 + l2, &err);
    if (u == NULL)
        fail_msg("%s", err.msg);
    assert_traces_equal(t, u);
    pf_trace_free(u);
    free(cat);
    free(g1);
    free(g2);
    pf_free(raw);
    pf_trace_free(t);
}

static void test_trace_reads_stdin_dash(void **state)
{
    (void)state;
    char path[512];
    snprintf(path, sizeof path, "%s/stdin.gz", tmpdir);
    pf_trace *t = full_trace();
    assert_int_equal(pf_trace_write(t, path, NULL), 0);
    int saved = dup(0);
    FILE *f = fopen(path, "rb");
    assert_int_equal(dup2(fileno(f), 0), 0);
    fclose(f);
    pf_error err;
    pf_trace *u = pf_trace_read("-", &err);
    dup2(saved, 0);
    close(saved);
    clearerr(stdin);
    if (u == NULL)
        fail_msg("%s", err.msg);
    assert_traces_equal(t, u);
    pf_trace_free(u);
    pf_trace_free(t);
    unlink(path);
}

static void test_trace_read_reports_missing_file(void **state)
{
    (void)state;
    pf_error err;
    assert_null(pf_trace_read("/nonexistent/pf/trace.gz", &err));
    assert_int_equal(err.code, PF_EIO);
    assert_non_null(strstr(err.msg, "No such file"));
    assert_null(pf_trace_read("/", &err));   /* a directory */
    assert_int_equal(err.code, PF_EIO);
}

/* ---- corrupted and random input: an error or a valid trace, never a crash ---- */

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint32_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 11);
}

static int read_is_clean(const unsigned char *buf, size_t len)
{
    pf_error err;
    pf_error_clear(&err);
    pf_trace *t = pf_trace_read_mem(buf, len, &err);
    if (t == NULL) {
        assert_int_not_equal(err.code, PF_OK);
        assert_true(err.msg[0] != '\0');
        return 0;
    }
    if (pf_trace_validate(t, &err) != 0)
        fail_msg("reader returned an invalid trace: %s", err.msg);
    pf_trace_free(t);
    return 1;
}

static void test_trace_flipped_bytes_never_crash(void **state)
{
    (void)state;
    long live = pf_alloc_live_blocks();
    pf_trace *t = processes_trace();
    unsigned char *raw, *gz;
    size_t rlen, glen;
    assert_int_equal(pf_trace_write_mem_raw(t, &raw, &rlen, NULL), 0);
    assert_int_equal(pf_trace_write_mem(t, &gz, &glen, NULL), 0);
    static const unsigned char masks[] = { 0x01, 0x80, 0xff, 0x7f, 0x40 };
    int accepted = 0;
    for (size_t i = 0; i < rlen; i++)
        for (size_t m = 0; m < sizeof masks; m++) {
            raw[i] ^= masks[m];
            accepted += read_is_clean(raw, rlen);
            raw[i] ^= masks[m];
        }
    for (size_t i = 0; i < glen; i++)
        for (size_t m = 0; m < sizeof masks; m++) {
            gz[i] ^= masks[m];
            read_is_clean(gz, glen);
            gz[i] ^= masks[m];
        }
    /* Some flips hit plain values (times, counts) and still make a valid trace. */
    assert_true(accepted > 0);
    for (int round = 0; round < 20000; round++) {
        size_t i = rnd() % rlen;
        unsigned char old = raw[i];
        raw[i] = (unsigned char)rnd();
        size_t j = rnd() % rlen;
        unsigned char old2 = raw[j];
        raw[j] = (unsigned char)rnd();
        read_is_clean(raw, rlen);
        raw[j] = old2;
        raw[i] = old;
    }
    pf_free(raw);
    pf_free(gz);
    pf_trace_free(t);
    assert_int_equal(pf_alloc_live_blocks(), live);
}

static void test_trace_random_inputs_never_crash(void **state)
{
    (void)state;
    unsigned char buf[600];
    for (int round = 0; round < 30000; round++) {
        size_t len = rnd() % sizeof buf, start = 0;
        if (round % 2) {   /* give it a valid header so the record loop is reached */
            memcpy(buf, PF_TRACE_MAGIC "\x01", 9);
            start = 9;
        }
        for (size_t i = start; i < len; i++)
            buf[i] = (unsigned char)(round % 4 == 1 ? rnd() % 12 : rnd());
        read_is_clean(buf, len < start ? start : len);
    }
}

/* ---- fault injection ---- */

typedef int (*op_fn)(void *ctx, pf_error *err);

/* Runs op with the Nth allocation failing, N = 0, 1, 2, ... until it succeeds; each
 * failure must be reported as PF_ENOMEM and leave no block allocated. */
static void inject_until_success(op_fn op, void *ctx, const char *what)
{
    long live = pf_alloc_live_blocks();
    for (long n = 0;; n++) {
        pf_error err;
        pf_error_clear(&err);
        pf_alloc_fail_after(n);
        int rc = op(ctx, &err);
        long injected = pf_alloc_injected_failures();
        pf_alloc_fail_after(-1);
        if (rc == 0 && injected == 0)
            break;
        /* A success despite an injected failure is a tolerated one: pf_trace_shrink
         * keeps the bigger block when a shrinking realloc fails.  Still no leaks. */
        if (rc == 0) {
            if (pf_alloc_live_blocks() != live)
                fail_msg("%s, failing allocation %ld (tolerated): %ld blocks leaked", what,
                         n, pf_alloc_live_blocks() - live);
            continue;
        }
        if (err.code != PF_ENOMEM)
            fail_msg("%s, failing allocation %ld: %s: %s", what, n, pf_error_name(err.code),
                     err.msg);
        if (pf_alloc_live_blocks() != live)
            fail_msg("%s, failing allocation %ld: %ld blocks leaked", what, n,
                     pf_alloc_live_blocks() - live);
        assert_true(n < 100000);
    }
}

typedef struct io_ctx {
    pf_trace *t;
    const unsigned char *buf;
    size_t len;
    const char *path;
} io_ctx;

static int op_write_mem(void *ctx, pf_error *err)
{
    io_ctx *c = ctx;
    unsigned char *out;
    size_t len;
    if (pf_trace_write_mem(c->t, &out, &len, err) < 0)
        return -1;
    pf_free(out);
    return 0;
}

static int op_write_file(void *ctx, pf_error *err)
{
    io_ctx *c = ctx;
    int rc = pf_trace_write(c->t, c->path, err);
    /* Never a partial file under the final name. */
    if (rc < 0)
        assert_int_equal(access(c->path, F_OK), -1);
    assert_int_equal(count_dir_entries(tmpdir), rc == 0);
    if (rc == 0)
        unlink(c->path);
    return rc;
}

static int op_read_mem(void *ctx, pf_error *err)
{
    io_ctx *c = ctx;
    pf_trace *t = pf_trace_read_mem(c->buf, c->len, err);
    if (t == NULL)
        return -1;
    assert_traces_equal(c->t, t);
    pf_trace_free(t);
    return 0;
}

static int op_read_file(void *ctx, pf_error *err)
{
    io_ctx *c = ctx;
    pf_trace *t = pf_trace_read(c->path, err);
    if (t == NULL)
        return -1;
    pf_trace_free(t);
    return 0;
}

static int op_build_full(void *ctx, pf_error *err)
{
    (void)ctx;
    /* The model's appenders: build a trace step by step, stopping at the first
     * failure, which must leave the trace intact for pf_trace_free. */
    pf_trace *t = pf_trace_new();
    if (t == NULL)
        return pf_error_set(err, PF_ENOMEM, NULL);
    int rc = -1;
    if (pf_meta_set_str(&t->meta.cwd, "/x") < 0 ||
        pf_meta_push_str(&t->meta.argv, &t->meta.argc, "a") < 0 ||
        pf_meta_push_str(&t->meta.argv, &t->meta.argc, "b") < 0 ||
        pf_strtab_intern_cstr(t->strings, "s") == PF_STR_NONE)
        goto out;
    pf_code c = { 0, 0, 0, 1, 0 };
    pf_thread th = { 1, 0 };
    pf_node n = { PF_NONE, 0, 0, 0, 1, 1, 1 };
    pf_line l = { 0, 1, 1, 1, 1, { 0 } };
    pf_sample s = { 0, 0, 1, 1 };
    for (int i = 0; i < 40; i++)
        if (pf_trace_add_code(t, &c) == PF_NONE || pf_trace_add_thread(t, &th) == PF_NONE ||
            pf_trace_add_node(t, &n) == PF_NONE || pf_trace_add_line(t, &l) == PF_NONE ||
            pf_trace_add_sample(t, &s) == PF_NONE ||
            pf_trace_add_source(t, 0, "text", 4) == PF_NONE)
            goto out;
    rc = 0;
out:
    if (rc < 0)
        pf_error_set(err, PF_ENOMEM, NULL);
    pf_trace_free(t);
    return rc;
}

static void test_trace_survives_allocation_failures(void **state)
{
    (void)state;
    io_ctx c = { 0 };
    char path[512];
    snprintf(path, sizeof path, "%s/fi.gz", tmpdir);
    c.path = path;
    c.t = full_trace();
    inject_until_success(op_build_full, &c, "build");
    inject_until_success(op_write_mem, &c, "write_mem");
    inject_until_success(op_write_file, &c, "write");
    unsigned char *buf;
    size_t len;
    assert_int_equal(pf_trace_write_mem(c.t, &buf, &len, NULL), 0);
    c.buf = buf;
    c.len = len;
    inject_until_success(op_read_mem, &c, "read_mem gzip");
    pf_free(buf);
    assert_int_equal(pf_trace_write_mem_raw(c.t, &buf, &len, NULL), 0);
    c.buf = buf;
    c.len = len;
    inject_until_success(op_read_mem, &c, "read_mem raw");
    pf_free(buf);
    assert_int_equal(pf_trace_write(c.t, path, NULL), 0);
    inject_until_success(op_read_file, &c, "read file");
    unlink(path);
    pf_trace_free(c.t);
    c.t = processes_trace();
    inject_until_success(op_write_mem, &c, "write_mem processes");
    assert_int_equal(pf_trace_write_mem_raw(c.t, &buf, &len, NULL), 0);
    c.buf = buf;
    c.len = len;
    inject_until_success(op_read_mem, &c, "read_mem processes");
    pf_free(buf);
    pf_trace_free(c.t);
    /* A multi-block trace exercises the growth paths (fewer steps: every 50th). */
    c.t = big_trace(3000);
    assert_int_equal(pf_trace_write_mem(c.t, &buf, &len, NULL), 0);
    c.buf = buf;
    c.len = len;
    inject_until_success(op_read_mem, &c, "read_mem big");
    inject_until_success(op_write_mem, &c, "write_mem big");
    pf_free(buf);
    pf_trace_free(c.t);
}

/* ---- the model ---- */

static void test_trace_validate_names_the_bad_record(void **state)
{
    (void)state;
    static const struct {
        const char *want;
        int which;
    } cases[] = {
        { "code 1: string id out of range", 0 }, { "code 2: unknown kind 9", 1 },
        { "thread 1: name string id", 2 }, { "node 3: parent 3 is not an earlier node", 3 },
        { "node 1: thread 5 out of range", 4 }, { "node 0: code 40 out of range", 5 },
        { "node 5: thread 0 differs from its parent's (1)", 6 },
        { "line 2: code 8 out of range", 7 }, { "source 1: path string id", 8 },
        { "sample 0: thread 2 out of range", 9 }, { "sample 1: node 6 out of range", 10 },
        { "process 1: command string id 777 out of range", 11 },
        { "process 1: threads 2..4 out of range (3 threads)", 12 },
        { "process 0: threads 4294967295..4294967296 out of range", 13 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        pf_trace *t = cases[i].which >= 11 ? processes_trace() : full_trace();
        switch (cases[i].which) {
        case 0: t->codes[1].qualname = 1000; break;
        case 1: t->codes[2].kind = 9; break;
        case 2: t->threads[1].name = 5000; break;
        case 3: t->nodes[3].parent = 3; break;
        case 4: t->nodes[1].thread = 5; break;
        case 5: t->nodes[0].code = 40; break;
        case 6: t->nodes[5].thread = 0; break;
        case 7: t->lines[2].code = 8; break;
        case 8: t->sources[1].path = 999; break;
        case 9: t->samples[0].thread = 2; break;
        case 10: t->samples[1].node = 6; break;
        case 11: t->processes[1].command = 777; break;
        case 12: t->processes[1].first_thread = 2; break;
        case 13: t->processes[0].first_thread = UINT32_MAX; break;
        }
        pf_error err;
        assert_int_equal(pf_trace_validate(t, &err), -1);
        assert_int_equal(err.code, PF_ECORRUPT);
        if (strstr(err.msg, cases[i].want) == NULL)
            fail_msg("case %zu: \"%s\" lacks \"%s\"", i, err.msg, cases[i].want);
        pf_trace_free(t);
    }
}

static void test_trace_process_helpers(void **state)
{
    (void)state;
    pf_trace *t = processes_trace();
    char buf[128];
    assert_int_equal(pf_trace_thread_process(t, 0), 0);
    assert_int_equal(pf_trace_thread_process(t, 1), 1);
    assert_int_equal(pf_trace_thread_process(t, 2), 1);
    assert_int_equal(pf_trace_thread_process(t, 3), PF_NONE);
    pf_trace_process_label(t, 0, buf, sizeof buf);
    assert_string_equal(buf, "pid 4242: python3 prog.py --flag");
    t->processes[0].command = S(t, "python3 -m some.module --with --many --arguments "
                                   "that --go on --and on");
    pf_trace_process_label(t, 0, buf, sizeof buf);
    assert_string_equal(buf, "pid 4242: python3 -m some.module --with --many --arguments that --g...");
    pf_trace_process_label(t, 0, buf, 12);      /* truncated, terminated */
    assert_string_equal(buf, "pid 4242: p");
    pf_trace_describe_exit(t, 0, buf, sizeof buf);
    assert_string_equal(buf, "exit status 3");
    pf_trace_describe_exit(t, 1, buf, sizeof buf);
    assert_string_equal(buf, "killed by SIGKILL (cut short: data up to its last snapshot)");
    pf_trace_describe_exit(t, 2, buf, sizeof buf);
    assert_string_equal(buf, "killed by signal 4294967295 (cut short: data up to its last "
                             "snapshot)");
    pf_trace_describe_exit(t, PF_NONE, buf, sizeof buf);
    assert_string_equal(buf, "exit status 3 (cut short: data up to its last snapshot)");
    /* A process that neither exited nor was killed: its fields do not count. */
    t->processes[0].flags = 0;
    pf_trace_describe_exit(t, 0, buf, sizeof buf);
    assert_string_equal(buf, "unknown");
    t->processes[0].flags = PF_PROC_CUT_SHORT;
    pf_trace_describe_exit(t, 0, buf, sizeof buf);
    assert_non_null(strstr(buf, "ended without a final write"));
    pf_trace_free(t);
    /* No process records: one implicit process, no owner. */
    t = full_trace();
    assert_int_equal(pf_trace_thread_process(t, 0), PF_NONE);
    pf_trace_describe_exit(t, PF_NONE, buf, sizeof buf);
    assert_string_equal(buf, "unknown");
    t->meta.exit_signal = 15;
    pf_trace_describe_exit(t, PF_NONE, buf, sizeof buf);
    assert_string_equal(buf, "killed by SIGTERM");
    pf_trace_free(t);
}

static void test_trace_model_basics(void **state)
{
    (void)state;
    pf_trace *t = pf_trace_new();
    assert_int_equal(t->meta.format_version, PF_TRACE_FORMAT_VERSION);
    assert_string_equal(pf_trace_str(t, 0), "?");
    assert_int_equal(pf_trace_add_code(t, NULL), PF_NONE);
    assert_int_equal(pf_trace_add_source(t, 0, NULL, 3), PF_NONE);
    assert_int_equal(pf_meta_set_str(&t->meta.clock, "a"), 0);
    assert_int_equal(pf_meta_set_str(&t->meta.clock, "b"), 0);
    assert_string_equal(t->meta.clock, "b");
    assert_int_equal(pf_meta_set_str(&t->meta.clock, NULL), 0);
    assert_null(t->meta.clock);
    for (int i = 0; i < 100; i++) {
        char s[16];
        snprintf(s, sizeof s, "arg%d", i);
        assert_int_equal(pf_meta_push_str(&t->meta.argv, &t->meta.argc, s), 0);
    }
    assert_int_equal(t->meta.argc, 100);
    assert_string_equal(t->meta.argv[77], "arg77");
    assert_int_equal(pf_trace_validate(t, NULL), 0);
    pf_trace_free(t);
    pf_trace_free(NULL);
}

static void test_trace_sniff(void **state)
{
    (void)state;
    pf_trace *t = full_trace();
    unsigned char *raw, *gz;
    size_t rl, gl;
    assert_int_equal(pf_trace_write_mem_raw(t, &raw, &rl, NULL), 0);
    assert_int_equal(pf_trace_write_mem(t, &gz, &gl, NULL), 0);
    assert_true(pf_trace_sniff(raw, rl));
    assert_true(pf_trace_sniff(raw, 8));
    assert_false(pf_trace_sniff(raw, 7));
    assert_true(pf_trace_sniff(gz, gl));
    /* Too short to decompress 8 bytes: undecided, and a prefix of gzip counts. */
    assert_true(pf_trace_sniff(gz, 64 < gl ? 64 : gl));
    assert_true(pf_trace_sniff(gz, 2));
    unsigned char bad[64];
    memcpy(bad, gz, sizeof bad);
    bad[3] = 0xe0;   /* reserved gzip flag bits: not a gzip stream */
    assert_false(pf_trace_sniff(bad, sizeof bad));
    size_t pl;
    unsigned char *plain = gzip_bytes((const unsigned char *)"main;f 1\nmain;g 2\n", 18, &pl);
    assert_false(pf_trace_sniff(plain, pl));
    free(plain);
    assert_false(pf_trace_sniff("main;f 1\n", 9));
    assert_false(pf_trace_sniff(NULL, 0));
    pf_free(raw);
    pf_free(gz);
    pf_trace_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_trace_model_basics),
        cmocka_unit_test(test_trace_validate_names_the_bad_record),
        cmocka_unit_test(test_trace_roundtrip_every_field_gzip_mem),
        cmocka_unit_test(test_trace_roundtrip_rss),
        cmocka_unit_test(test_trace_roundtrip_links),
        cmocka_unit_test(test_trace_roundtrip_every_field_raw_mem),
        cmocka_unit_test(test_trace_roundtrip_every_field_file),
        cmocka_unit_test(test_trace_roundtrip_empty_trace),
        cmocka_unit_test(test_trace_roundtrip_many_blocks),
        cmocka_unit_test(test_trace_golden_v1_stream_is_stable),
        cmocka_unit_test(test_trace_golden_processes_stream_is_stable),
        cmocka_unit_test(test_trace_roundtrip_processes_and_exit),
        cmocka_unit_test(test_trace_writes_new_fields_only_when_needed),
        cmocka_unit_test(test_trace_reads_old_meta_and_end),
        cmocka_unit_test(test_trace_reads_hand_built_processes),
        cmocka_unit_test(test_trace_rejects_bad_processes),
        cmocka_unit_test(test_trace_rejects_truncation_of_processes),
        cmocka_unit_test(test_trace_process_helpers),
        cmocka_unit_test(test_trace_roundtrip_gaps),
        cmocka_unit_test(test_trace_write_refuses_invalid_trace),
        cmocka_unit_test(test_trace_write_failure_leaves_no_file),
        cmocka_unit_test(test_trace_stream_writes_the_writers_bytes),
        cmocka_unit_test(test_trace_stream_refuses_bad_nodes),
        cmocka_unit_test(test_trace_rejects_truncation_at_every_raw_offset),
        cmocka_unit_test(test_trace_rejects_truncation_at_every_gzip_offset),
        cmocka_unit_test(test_trace_rejects_truncated_header),
        cmocka_unit_test(test_trace_reads_hand_built_stream),
        cmocka_unit_test(test_trace_rejects_parent_out_of_range),
        cmocka_unit_test(test_trace_rejects_bad_references),
        cmocka_unit_test(test_trace_rejects_golden_bad_inputs),
        cmocka_unit_test(test_trace_rejects_bad_magic),
        cmocka_unit_test(test_trace_rejects_wrong_version),
        cmocka_unit_test(test_trace_skips_unknown_tags),
        cmocka_unit_test(test_trace_ignores_trailing_payload_bytes),
        cmocka_unit_test(test_trace_rejects_missing_or_wrong_end),
        cmocka_unit_test(test_trace_rejects_malformed_varints_and_lengths),
        cmocka_unit_test(test_trace_refuses_streams_over_the_size_limit),
        cmocka_unit_test(test_trace_rejects_corrupt_gzip),
        cmocka_unit_test(test_trace_reads_concatenated_gzip_members),
        cmocka_unit_test(test_trace_reads_stdin_dash),
        cmocka_unit_test(test_trace_read_reports_missing_file),
        cmocka_unit_test(test_trace_flipped_bytes_never_crash),
        cmocka_unit_test(test_trace_random_inputs_never_crash),
        cmocka_unit_test(test_trace_survives_allocation_failures),
        cmocka_unit_test(test_trace_sniff),
        cmocka_unit_test(test_trace_roundtrip_sample_meta),
    };
    return cmocka_run_group_tests(tests, make_tmpdir, remove_tmpdir);
}
