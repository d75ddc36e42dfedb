/* gen_trace.c: writes a large, deterministic, realistic synthetic trace for the
 * converter and renderer benchmarks (no Python needed):
 *
 *   gen_trace [--nodes N] [--codes N] [--threads N] [--seed S] [--memory] [--lines] -o OUT
 *
 * Shape: N calling-context nodes over a few thousand codes in a few hundred files
 * (plus some natives), split among threads.  Each thread's tree is grown by a biased
 * random walk over the call stack (descend or return), so depth varies from a few
 * frames to ~60 (mean ~25), with occasional recursive descents 40-160 frames deeper
 * (max ~230); 10% of calls re-enter a code already on the stack (direct or mutual
 * recursion); code choice is Zipf-like (a few hot functions, a long tail).
 * Times are consistent: total = self + children's totals.  Same arguments, same file. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/alloc.h"
#include "formats/trace.h"

static uint64_t rng_state;

static uint64_t rnd(void)
{
    /* xorshift64* */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1DULL;
}

static double unit(void)
{
    return (double)(rnd() >> 11) / 9007199254740992.0;
}

/* Zipf-like index in [0, n): hot codes get most calls. */
static uint32_t zipf(uint32_t n)
{
    double u = unit();
    return (uint32_t)((double)n * u * u * u) % n;
}

static void die(const char *msg)
{
    fprintf(stderr, "gen_trace: %s\n", msg);
    exit(1);
}

int main(int argc, char **argv)
{
    unsigned long nnodes = 1200000, ncodes = 3000, nthreads = 4, seed = 1;
    int memory = 0, lines = 0;
    const char *out = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--memory") == 0) {
            memory = 1;
        } else if (strcmp(a, "--lines") == 0) {
            lines = 1;
        } else if (i + 1 < argc && strcmp(a, "-o") == 0) {
            out = argv[++i];
        } else if (i + 1 < argc && strcmp(a, "--nodes") == 0) {
            nnodes = strtoul(argv[++i], NULL, 10);
        } else if (i + 1 < argc && strcmp(a, "--codes") == 0) {
            ncodes = strtoul(argv[++i], NULL, 10);
        } else if (i + 1 < argc && strcmp(a, "--threads") == 0) {
            nthreads = strtoul(argv[++i], NULL, 10);
        } else if (i + 1 < argc && strcmp(a, "--seed") == 0) {
            seed = strtoul(argv[++i], NULL, 10);
        } else {
            fprintf(stderr, "usage: gen_trace [--nodes N] [--codes N] [--threads N] "
                            "[--seed S] [--memory] [--lines] -o OUT\n");
            return 2;
        }
    }
    if (out == NULL || nnodes == 0 || ncodes < 10 || nthreads == 0 || nnodes >= UINT32_MAX)
        die("need -o OUT, --nodes >= 1, --codes >= 10, --threads >= 1");
    rng_state = seed * 0x9E3779B97F4A7C15ULL + 1;

    pf_trace *t = pf_trace_new();
    if (t == NULL)
        die("out of memory");
    pf_meta *m = &t->meta;
    m->modes = PF_MODE_CALLS | (memory ? PF_MODE_MEMORY : 0) | (lines ? PF_MODE_LINES : 0);
    pf_meta_set_str(&m->python_version, "3.11.7");
    pf_meta_set_str(&m->python_executable, "/usr/bin/python3");
    pf_meta_set_str(&m->cwd, "/srv/app");
    pf_meta_set_str(&m->clock, "CLOCK_MONOTONIC");
    pf_meta_set_str(&m->hostname, "bench");
    pf_meta_push_str(&m->argv, &m->argc, "service.py");
    pf_meta_push_str(&m->argv, &m->argc, "--synthetic");
    pf_meta_push_str(&m->path, &m->npath, "/srv/app");
    pf_meta_push_str(&m->path, &m->npath, "/usr/lib/python3/dist-packages");
    m->start_unix_ns = 1764000000000000000LL;
    m->pid = 4242;

    /* Codes: Python functions in ~ncodes/15 files, plus 1/30 as many natives. */
    uint32_t nfiles = (uint32_t)(ncodes / 15 + 1), nnative = (uint32_t)(ncodes / 30 + 1);
    char buf[256], qual[256];
    for (uint32_t c = 0; c < ncodes; c++) {
        uint32_t file = c % nfiles;
        pf_code code;
        memset(&code, 0, sizeof code);
        snprintf(buf, sizeof buf, "%s/pkg%u/module_%u.py",
                 file % 3 ? "/srv/app" : "/usr/lib/python3/dist-packages", file % 17, file);
        code.file = pf_strtab_intern_cstr(t->strings, buf);
        snprintf(buf, sizeof buf, "func_%u", c);
        code.name = pf_strtab_intern_cstr(t->strings, buf);
        snprintf(qual, sizeof qual, "Class%u.func_%u", c % 97, c);
        code.qualname = pf_strtab_intern_cstr(t->strings, c % 4 ? qual : buf);
        code.first_line = 1 + (c / nfiles) * 20;
        code.kind = PF_CODE_PYTHON;
        if (pf_trace_add_code(t, &code) == PF_NONE)
            die("out of memory");
    }
    static const char *const natives[] = { "<built-in method builtins.len>",
                                           "<method 'append' of 'list' objects>",
                                           "<method 'get' of 'dict' objects>",
                                           "<method 'join' of 'str' objects>",
                                           "<built-in method builtins.isinstance>" };
    for (uint32_t i = 0; i < nnative; i++) {
        pf_code code;
        memset(&code, 0, sizeof code);
        if (i < 5)
            snprintf(buf, sizeof buf, "%s", natives[i]);
        else
            snprintf(buf, sizeof buf, "<built-in method _ext%u.call_%u>", i % 7, i);
        code.file = pf_strtab_intern_cstr(t->strings, "");
        code.name = pf_strtab_intern_cstr(t->strings, buf);
        code.qualname = code.name;
        code.kind = PF_CODE_NATIVE;
        if (pf_trace_add_code(t, &code) == PF_NONE)
            die("out of memory");
    }
    for (uint32_t i = 0; i < nthreads; i++) {
        pf_thread th;
        snprintf(buf, sizeof buf, i == 0 ? "MainThread" : "worker-%u", i);
        th.ident = 140000000000000ULL + i * 4096;
        th.name = pf_strtab_intern_cstr(t->strings, buf);
        if (pf_trace_add_thread(t, &th) == PF_NONE)
            die("out of memory");
    }

    /* The random walk.  stack[] holds node indices of the current path. */
    uint32_t *stack = malloc(sizeof *stack * 400);
    if (stack == NULL)
        die("out of memory");
    uint32_t sp = 0, burst = 0;
    uint64_t per_thread = nnodes / nthreads + 1;
    for (uint32_t i = 0; i < nnodes; i++) {
        uint32_t thread = (uint32_t)(i / per_thread);
        if (i > 0 && i % per_thread == 0)
            sp = burst = 0;                           /* a new thread starts */
        while (sp > 0 && burst == 0) {
            double down = 0.62 - (double)sp / 250.0;
            if (sp < 190 && unit() < down)
                break;
            sp--;
        }
        pf_node n;
        memset(&n, 0, sizeof n);
        n.thread = thread;
        n.parent = sp ? stack[sp - 1] : PF_NONE;
        double r = unit();
        if (burst > 0) {
            burst--;                                  /* deep recursion: same code again */
            n.code = t->nodes[stack[sp - 1]].code;
        } else if (sp == 0) {
            n.code = zipf(16);                        /* a few entry points */
        } else if (r < 0.07) {
            n.code = t->nodes[stack[sp - 1]].code;    /* direct recursion */
        } else if (r < 0.10) {
            n.code = t->nodes[stack[rnd() % sp]].code; /* re-enter an ancestor */
        } else if (r < 0.25) {
            n.code = (uint32_t)ncodes + zipf(nnative); /* a builtin */
        } else {
            n.code = zipf((uint32_t)ncodes);
        }
        const pf_code *parent_code = sp ? &t->codes[t->nodes[stack[sp - 1]].code] : NULL;
        n.call_line = parent_code ? parent_code->first_line + 1 + (uint32_t)(rnd() % 18) : 0;
        n.calls = 1 + (rnd() % 8 == 0 ? rnd() % 1000 : rnd() % 4);
        n.self_ns = n.calls * (200 + rnd() % 50000);
        n.total_ns = n.self_ns;                       /* children added below */
        uint32_t idx = pf_trace_add_node(t, &n);
        if (idx == PF_NONE)
            die("out of memory");
        if (memory) {
            pf_mem *nm = pf_trace_node_mem_at(t, idx);
            if (nm == NULL)
                die("out of memory");
            nm->alloc_count = rnd() % 4 ? 0 : 1 + rnd() % 100;
            nm->alloc_bytes = nm->alloc_count * (16 + rnd() % 4000);
            nm->free_bytes = nm->alloc_bytes / 2;
            nm->peak_bytes = rnd() % 50 ? 0 : nm->alloc_bytes / 3;
            nm->exit_bytes = rnd() % 80 ? 0 : nm->alloc_bytes / 5;
        }
        /* natives are leaves */
        if (n.code < ncodes) {
            stack[sp++] = idx;
            /* now and then a recursive descent 40-160 frames deep (parsers, tree walks) */
            if (burst == 0 && sp < 200 && rnd() % 2000 == 0)
                burst = 40 + (uint32_t)(rnd() % 120);
        }
    }
    free(stack);
    uint64_t total = 0;
    for (uint32_t i = t->nnodes; i-- > 0;) {
        if (t->nodes[i].parent != PF_NONE)
            t->nodes[t->nodes[i].parent].total_ns += t->nodes[i].total_ns;
        else
            total += t->nodes[i].total_ns;
        m->total_calls += t->nodes[i].calls;
    }
    m->duration_ns = total / nthreads + 1000;
    if (lines) {
        for (uint32_t c = 0; c < ncodes; c++) {
            uint32_t nl = 3 + (uint32_t)(rnd() % 15);
            for (uint32_t k = 0; k < nl; k++) {
                pf_line l;
                memset(&l, 0, sizeof l);
                l.code = c;
                l.line = t->codes[c].first_line + 1 + k;
                l.hits = 1 + rnd() % 10000;
                l.self_ns = l.hits * (50 + rnd() % 2000);
                l.total_ns = l.self_ns + (rnd() % 3 ? 0 : rnd() % 100000000);
                if (memory) {
                    l.mem.alloc_count = rnd() % 3 ? 0 : 1 + rnd() % 500;
                    l.mem.alloc_bytes = l.mem.alloc_count * (16 + rnd() % 2000);
                    l.mem.peak_bytes = l.mem.alloc_bytes / 4;
                    l.mem.exit_bytes = l.mem.alloc_bytes / 8;
                }
                if (pf_trace_add_line(t, &l) == PF_NONE)
                    die("out of memory");
            }
        }
    }
    pf_error err;
    if (pf_trace_validate(t, &err) < 0) {
        fprintf(stderr, "gen_trace: generated an invalid trace: %s\n", err.msg);
        return 1;
    }
    if (pf_trace_write(t, out, &err) < 0) {
        fprintf(stderr, "gen_trace: %s: %s\n", out, err.msg);
        return 1;
    }
    fprintf(stderr, "gen_trace: %s: %u nodes, %u codes, %u threads, %u lines\n", out,
            t->nnodes, t->ncodes, t->nthreads, t->nlines);
    pf_trace_free(t);
    return 0;
}
