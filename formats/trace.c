/* trace.c: the in-memory trace model (trace.h): construction, appenders, meta
 * strings and pf_trace_validate.  File I/O lives in trace_write.c / trace_read.c. */
#include "trace.h"

#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "trace_format.h"

pf_trace *pf_trace_new(void)
{
    pf_trace *t = pf_calloc(1, sizeof(pf_trace));
    if (t == NULL)
        return NULL;
    t->strings = pf_strtab_new();
    if (t->strings == NULL) {
        pf_free(t);
        return NULL;
    }
    pf_strtab_set_budget(t->strings, &t->mem);
    t->meta.format_version = PF_TRACE_FORMAT_VERSION;
    t->meta.exit_code = PF_EXIT_UNKNOWN;
    return t;
}

static void free_list(char **list, uint32_t n)
{
    if (list == NULL)
        return;
    for (uint32_t i = 0; i < n; i++)
        pf_free(list[i]);
    pf_free(list);
}

void pf_trace_free(pf_trace *t)
{
    if (t == NULL)
        return;
    pf_meta *m = &t->meta;
    pf_free(m->python_version);
    pf_free(m->python_executable);
    free_list(m->argv, m->argc);
    pf_free(m->cwd);
    free_list(m->path, m->npath);
    pf_free(m->clock);
    pf_free(m->hostname);
    pf_free(m->gaps);
    pf_free(m->origin);
    pf_strtab_free(t->strings);
    pf_free(t->codes);
    pf_free(t->threads);
    pf_free(t->nodes);
    pf_free(t->node_mem);
    pf_free(t->lines);
    for (uint32_t i = 0; i < t->nsources; i++)
        pf_free(t->sources[i].text);
    pf_free(t->sources);
    pf_free(t->samples);
    pf_free(t->processes);
    for (uint32_t i = 0; i < t->nrss; i++)
        pf_free(t->rss[i].samples);
    pf_free(t->rss);
    pf_free(t->links);
    pf_free(t);
}

/* Makes room for one more element in *arr (n used, *cap allocated), growing by half
 * (not doubling: the slack of a big array is at most a third of it, and the reader
 * trims it at the end anyway).  The growth is charged to b before the allocation.
 * 0 or -1.  Indices must stay below PF_NONE, hence the UINT32_MAX - 1 ceiling. */
static int reserve(pf_budget *b, void **arr, uint32_t n, uint32_t *cap, size_t elsize)
{
    if (n < *cap)
        return 0;
    if (n >= UINT32_MAX - 1)
        return -1;
    uint64_t ncap = *cap ? (uint64_t)*cap + *cap / 2 : 16;
    if (ncap > UINT32_MAX - 1)
        ncap = UINT32_MAX - 1;
    uint64_t grow = (ncap - *cap) * elsize;
    if (pf_budget_charge(b, grow) < 0)
        return -1;
    void *p = pf_reallocarray(*arr, (size_t)ncap, elsize);
    if (p == NULL) {
        pf_budget_release(b, grow);
        return -1;
    }
    *arr = p;
    *cap = (uint32_t)ncap;
    return 0;
}

#define APPEND(t, arr, n, cap, rec)                                            \
    do {                                                                       \
        void *a_ = (t)->arr;                                                   \
        if ((t) == NULL || (rec) == NULL ||                                    \
            reserve(&(t)->mem, &a_, (t)->n, &(t)->cap, sizeof *(t)->arr) < 0)           \
            return PF_NONE;                                                    \
        (t)->arr = a_;                                                         \
        (t)->arr[(t)->n] = *(rec);                                             \
        return (t)->n++;                                                       \
    } while (0)

uint32_t pf_trace_add_code(pf_trace *t, const pf_code *rec)
{
    APPEND(t, codes, ncodes, cap_codes, rec);
}

uint32_t pf_trace_add_thread(pf_trace *t, const pf_thread *rec)
{
    APPEND(t, threads, nthreads, cap_threads, rec);
}

uint32_t pf_trace_add_node(pf_trace *t, const pf_node *rec)
{
    APPEND(t, nodes, nnodes, cap_nodes, rec);
}

uint32_t pf_trace_add_line(pf_trace *t, const pf_line *rec)
{
    APPEND(t, lines, nlines, cap_lines, rec);
}

uint32_t pf_trace_add_sample(pf_trace *t, const pf_sample *rec)
{
    APPEND(t, samples, nsamples, cap_samples, rec);
}

uint32_t pf_trace_add_process(pf_trace *t, const pf_process *rec)
{
    APPEND(t, processes, nprocesses, cap_processes, rec);
}

uint32_t pf_trace_add_link(pf_trace *t, const pf_link *rec)
{
    APPEND(t, links, nlinks, cap_links, rec);
}

uint32_t pf_trace_add_rss(pf_trace *t, uint32_t process, uint64_t peak_bytes,
                          uint64_t final_bytes, const pf_rss_sample *samples, uint32_t n)
{
    if (t == NULL || (samples == NULL && n != 0))
        return PF_NONE;
    void *a = t->rss;
    if (reserve(&t->mem, &a, t->nrss, &t->cap_rss, sizeof(pf_rss)) < 0)
        return PF_NONE;
    t->rss = a;
    pf_rss *r = &t->rss[t->nrss];
    memset(r, 0, sizeof *r);
    if (n) {
        uint64_t bytes = (uint64_t)n * sizeof *samples;
        if (pf_budget_charge(&t->mem, bytes) < 0)
            return PF_NONE;
        if ((r->samples = pf_malloc((size_t)bytes)) == NULL) {
            pf_budget_release(&t->mem, bytes);
            return PF_NONE;
        }
        memcpy(r->samples, samples, (size_t)bytes);
    }
    r->process = process;
    r->nsamples = n;
    r->peak_bytes = peak_bytes;
    r->final_bytes = final_bytes;
    return t->nrss++;
}

const pf_rss *pf_trace_process_rss(const pf_trace *t, uint32_t p)
{
    for (uint32_t i = 0; i < t->nrss; i++)
        if (t->rss[i].process == p)
            return &t->rss[i];
    return NULL;
}

uint32_t pf_trace_add_source(pf_trace *t, uint32_t path, const char *text, size_t len)
{
    if (t == NULL || (text == NULL && len != 0))
        return PF_NONE;
    void *a = t->sources;
    if (reserve(&t->mem, &a, t->nsources, &t->cap_sources, sizeof(pf_source)) < 0)
        return PF_NONE;
    t->sources = a;
    if (len == SIZE_MAX || pf_budget_charge(&t->mem, (uint64_t)len + 1) < 0)
        return PF_NONE;
    char *copy = pf_strndup(text ? text : "", len);
    if (copy == NULL) {
        pf_budget_release(&t->mem, (uint64_t)len + 1);
        return PF_NONE;
    }
    pf_source *s = &t->sources[t->nsources];
    s->path = path;
    s->text = copy;
    s->len = len;
    return t->nsources++;
}

const pf_mem pf_mem_zero;

int pf_trace_reserve_nodes(pf_trace *t, uint32_t n)
{
    if (t == NULL || n >= UINT32_MAX - 1)
        return -1;
    if (n <= t->cap_nodes)
        return 0;
    uint64_t grow = (uint64_t)(n - t->cap_nodes) * sizeof(pf_node);
    if (pf_budget_charge(&t->mem, grow) < 0)
        return -1;
    pf_node *p = pf_reallocarray(t->nodes, n, sizeof *p);
    if (p == NULL) {
        pf_budget_release(&t->mem, grow);
        return -1;
    }
    t->nodes = p;
    t->cap_nodes = n;
    return 0;
}

pf_mem *pf_trace_node_mem_at(pf_trace *t, uint32_t i)
{
    if (t == NULL || i >= t->nnodes)
        return NULL;
    if (i >= t->cap_node_mem) {
        uint32_t ncap = t->cap_nodes > i ? t->cap_nodes : i + 1;
        uint64_t grow = (uint64_t)(ncap - t->cap_node_mem) * sizeof(pf_mem);
        if (pf_budget_charge(&t->mem, grow) < 0)
            return NULL;
        pf_mem *p = pf_reallocarray(t->node_mem, ncap, sizeof *p);
        if (p == NULL) {
            pf_budget_release(&t->mem, grow);
            return NULL;
        }
        memset(p + t->cap_node_mem, 0, (size_t)grow);
        t->node_mem = p;
        t->cap_node_mem = ncap;
    }
    return &t->node_mem[i];
}

/* Trims one array to its count; the released bytes leave the budget. */
static void trim(pf_budget *b, void **arr, uint32_t n, uint32_t *cap, size_t elsize)
{
    if (*cap <= n)
        return;
    uint64_t freed = (uint64_t)(*cap - n) * elsize;
    if (n == 0) {
        pf_free(*arr);
        *arr = NULL;
    } else {
        void *p = pf_reallocarray(*arr, n, elsize);
        if (p == NULL)
            return;                    /* keep the bigger block */
        *arr = p;
    }
    *cap = n;
    pf_budget_release(b, freed);
}

void pf_trace_shrink(pf_trace *t)
{
    if (t == NULL)
        return;
    void *a;
#define TRIM(arr, n, cap)                                                      \
    (a = t->arr, trim(&t->mem, &a, t->n, &t->cap, sizeof *t->arr), t->arr = a)
    TRIM(codes, ncodes, cap_codes);
    TRIM(threads, nthreads, cap_threads);
    TRIM(nodes, nnodes, cap_nodes);
    if (t->node_mem != NULL)
        TRIM(node_mem, nnodes, cap_node_mem);
    TRIM(lines, nlines, cap_lines);
    TRIM(sources, nsources, cap_sources);
    TRIM(samples, nsamples, cap_samples);
    TRIM(processes, nprocesses, cap_processes);
    TRIM(rss, nrss, cap_rss);
    TRIM(links, nlinks, cap_links);
#undef TRIM
}

int pf_meta_set_str(char **field, const char *s)
{
    char *copy = NULL;
    if (s != NULL && (copy = pf_strndup(s, strlen(s))) == NULL)
        return -1;
    pf_free(*field);
    *field = copy;
    return 0;
}

int pf_meta_push_str(char ***list, uint32_t *count, const char *s)
{
    if (*count >= UINT32_MAX - 1)
        return -1;
    /* Grow by powers of two without a separate capacity field: a count that is 0
     * or a power of two means the array is full. */
    uint32_t n = *count;
    if (n == 0 || (n & (n - 1)) == 0) {
        uint64_t ncap = n ? (uint64_t)n * 2 : 1;
        char **p = pf_reallocarray(*list, (size_t)ncap, sizeof(char *));
        if (p == NULL)
            return -1;
        *list = p;
    }
    char *copy = pf_strndup(s ? s : "", s ? strlen(s) : 0);
    if (copy == NULL)
        return -1;
    (*list)[n] = copy;
    *count = n + 1;
    return 0;
}

const char *pf_trace_str(const pf_trace *t, uint32_t id)
{
    const char *s = t ? pf_strtab_get(t->strings, id, NULL) : NULL;
    return s ? s : "?";
}

const char *pf_sample_kind_name(uint32_t kind)
{
    switch (kind) {
    case PF_SAMPLE_KIND_WALL: return "wall";
    case PF_SAMPLE_KIND_CPU: return "cpu";
    case PF_SAMPLE_KIND_GIL: return "gil";
    default: return "unknown";
    }
}

void pf_trace_sample_describe(const pf_trace *t, char *buf, size_t cap)
{
    if (cap == 0)
        return;
    buf[0] = 0;
    const pf_meta *m = &t->meta;
    if (!pf_trace_is_sampled(t))
        return;
    uint64_t samples = 0;
    for (uint32_t i = 0; i < t->nnodes; i++)
        samples += t->nodes[i].calls;
    double hz = m->sample_interval_ns ? 1e9 / (double)m->sample_interval_ns : 0;
    double got = m->duration_ns ? (double)m->sample_ticks * 1e9 / (double)m->duration_ns : 0;
    double all = (double)(samples + m->samples_lost);
    snprintf(buf, cap, "%llu samples at %.0f Hz (%.0f Hz achieved), %s mode, %llu lost (%.1f%%)",
             (unsigned long long)samples, hz, got, pf_sample_kind_name(m->sample_mode),
             (unsigned long long)m->samples_lost,
             all > 0 ? 100.0 * (double)m->samples_lost / all : 0.0);
}

const char *pf_gap_reason_name(uint32_t reason)
{
    switch (reason) {
    case PF_GAP_C_PROFILE: return "a C profile hook of the program (cProfile)";
    case PF_GAP_TOOL_ID: return "the program took pyflame's sys.monitoring tool id";
    default: return "unknown reason";
    }
}

void pf_trace_gap_describe(const pf_trace *t, uint32_t i, char *buf, size_t cap)
{
    const pf_gap *g = &t->meta.gaps[i];
    const char *who = g->ident ? "thread" : "every thread";
    for (uint32_t k = 0; g->ident && k < t->nthreads; k++)
        if (t->threads[k].ident == g->ident)
            who = pf_trace_str(t, t->threads[k].name);
    if (g->end_ns == PF_GAP_OPEN)
        snprintf(buf, cap, "%s from %.3f s to the end: %s", who, (double)g->start_ns / 1e9,
                 pf_gap_reason_name(g->reason));
    else
        snprintf(buf, cap, "%s from %.3f s to %.3f s: %s", who, (double)g->start_ns / 1e9,
                 (double)g->end_ns / 1e9, pf_gap_reason_name(g->reason));
}

uint32_t pf_trace_thread_process(const pf_trace *t, uint32_t thread)
{
    for (uint32_t p = 0; p < t->nprocesses; p++) {
        const pf_process *pr = &t->processes[p];
        if (thread >= pr->first_thread && thread - pr->first_thread < pr->nthreads)
            return p;
    }
    return PF_NONE;
}

void pf_trace_process_label(const pf_trace *t, uint32_t p, char *buf, size_t cap)
{
    const pf_process *pr = &t->processes[p];
    const char *cmd = pf_trace_str(t, pr->command);
    size_t len = strlen(cmd);
    if (len > 60)     /* keep a label one short line: the start says what ran */
        snprintf(buf, cap, "pid %llu: %.57s...", (unsigned long long)pr->pid, cmd);
    else
        snprintf(buf, cap, "pid %llu: %s", (unsigned long long)pr->pid, cmd);
}

/* "SIGKILL" for 9 (the names every Linux reader knows), else "signal N". */
static const char *signal_name(uint32_t sig, char *tmp, size_t cap)
{
    static const char *const names[] = {
        NULL, "SIGHUP", "SIGINT", "SIGQUIT", "SIGILL", "SIGTRAP", "SIGABRT", "SIGBUS",
        "SIGFPE", "SIGKILL", "SIGUSR1", "SIGSEGV", "SIGUSR2", "SIGPIPE", "SIGALRM",
        "SIGTERM",
    };
    if (sig < sizeof names / sizeof names[0] && names[sig] != NULL)
        return names[sig];
    snprintf(tmp, cap, "signal %u", sig);
    return tmp;
}

void pf_trace_describe_exit(const pf_trace *t, uint32_t p, char *buf, size_t cap)
{
    int32_t code = t->meta.exit_code;
    uint32_t sig = t->meta.exit_signal;
    int cut = (t->meta.flags & PF_FLAG_CUT_SHORT) != 0;
    if (p != PF_NONE) {
        const pf_process *pr = &t->processes[p];
        code = pr->flags & PF_PROC_EXITED ? pr->exit_code : PF_EXIT_UNKNOWN;
        sig = pr->flags & PF_PROC_KILLED ? pr->exit_signal : 0;
        cut = (pr->flags & PF_PROC_CUT_SHORT) != 0;
    }
    char tmp[32];
    const char *cut_note = cut ? " (cut short: data up to its last snapshot)" : "";
    if (sig != 0)
        snprintf(buf, cap, "killed by %s%s", signal_name(sig, tmp, sizeof tmp), cut_note);
    else if (code != PF_EXIT_UNKNOWN)
        snprintf(buf, cap, "exit status %d%s", (int)code, cut_note);
    else
        snprintf(buf, cap, cut ? "ended without a final write%s" : "unknown%s", cut_note);
}

int pf_trace_validate(const pf_trace *t, pf_error *err)
{
    return pf_trace_validate_refs(t, t != NULL ? t->nnodes : 0, err);
}

int pf_trace_validate_refs(const pf_trace *t, uint32_t nnodes, pf_error *err)
{
    if (t == NULL || t->strings == NULL)
        return pf_error_set(err, PF_EUSAGE, "trace has no string table");
    const pf_meta *m = &t->meta;
    if ((m->argc && m->argv == NULL) || (m->npath && m->path == NULL))
        return pf_error_set(err, PF_ECORRUPT, "meta: list count without list");
    for (uint32_t i = 0; i < m->argc; i++)
        if (m->argv[i] == NULL)
            return pf_error_set(err, PF_ECORRUPT, "meta: argv[%u] is NULL", i);
    for (uint32_t i = 0; i < m->npath; i++)
        if (m->path[i] == NULL)
            return pf_error_set(err, PF_ECORRUPT, "meta: path[%u] is NULL", i);
    if (m->ngaps && m->gaps == NULL)
        return pf_error_set(err, PF_ECORRUPT, "meta: gap count without gaps");
    if ((t->ncodes && !t->codes) || (t->nthreads && !t->threads) ||
        (t->nnodes && !t->nodes) || (t->nlines && !t->lines) ||
        (t->nsources && !t->sources) || (t->nsamples && !t->samples))
        return pf_error_set(err, PF_ECORRUPT, "record count without records");

    uint32_t nstr = pf_strtab_count(t->strings);
    for (uint32_t i = 0; i < t->ncodes; i++) {
        const pf_code *c = &t->codes[i];
        if (c->file >= nstr || c->name >= nstr || c->qualname >= nstr)
            return pf_error_set(err, PF_ECORRUPT,
                                "code %u: string id out of range (%u strings)", i, nstr);
        if (c->kind > PF_CODE_NATIVE)
            return pf_error_set(err, PF_ECORRUPT, "code %u: unknown kind %u", i,
                                (unsigned)c->kind);
    }
    for (uint32_t i = 0; i < t->nthreads; i++)
        if (t->threads[i].name >= nstr)
            return pf_error_set(err, PF_ECORRUPT,
                                "thread %u: name string id %u out of range", i,
                                t->threads[i].name);
    for (uint32_t i = 0; i < t->nnodes; i++) {
        const pf_node *n = &t->nodes[i];
        if (n->parent != PF_NONE && n->parent >= i)
            return pf_error_set(err, PF_ECORRUPT,
                                "node %u: parent %u is not an earlier node", i, n->parent);
        if (n->thread >= t->nthreads)
            return pf_error_set(err, PF_ECORRUPT, "node %u: thread %u out of range", i,
                                n->thread);
        if (n->code >= t->ncodes)
            return pf_error_set(err, PF_ECORRUPT, "node %u: code %u out of range", i,
                                n->code);
        if (n->parent != PF_NONE && t->nodes[n->parent].thread != n->thread)
            return pf_error_set(err, PF_ECORRUPT,
                                "node %u: thread %u differs from its parent's (%u)", i,
                                n->thread, t->nodes[n->parent].thread);
    }
    for (uint32_t i = 0; i < t->nlines; i++)
        if (t->lines[i].code >= t->ncodes)
            return pf_error_set(err, PF_ECORRUPT, "line %u: code %u out of range", i,
                                t->lines[i].code);
    for (uint32_t i = 0; i < t->nsources; i++) {
        if (t->sources[i].path >= nstr)
            return pf_error_set(err, PF_ECORRUPT,
                                "source %u: path string id %u out of range", i,
                                t->sources[i].path);
        if (t->sources[i].text == NULL)
            return pf_error_set(err, PF_ECORRUPT, "source %u: no text", i);
    }
    if (t->nprocesses && !t->processes)
        return pf_error_set(err, PF_ECORRUPT, "process count without processes");
    for (uint32_t i = 0; i < t->nprocesses; i++) {
        const pf_process *pr = &t->processes[i];
        if (pr->command >= nstr)
            return pf_error_set(err, PF_ECORRUPT,
                                "process %u: command string id %u out of range", i,
                                pr->command);
        if (pr->first_thread > t->nthreads || pr->nthreads > t->nthreads - pr->first_thread)
            return pf_error_set(err, PF_ECORRUPT,
                                "process %u: threads %u..%llu out of range (%u threads)", i,
                                pr->first_thread,
                                (unsigned long long)pr->first_thread + pr->nthreads,
                                t->nthreads);
    }
    if (t->nrss && !t->rss)
        return pf_error_set(err, PF_ECORRUPT, "RSS count without RSS records");
    for (uint32_t i = 0; i < t->nrss; i++) {
        const pf_rss *r = &t->rss[i];
        if (r->process >= t->nprocesses)
            return pf_error_set(err, PF_ECORRUPT, "RSS %u: process %u out of range "
                                "(%u processes)", i, r->process, t->nprocesses);
        if (r->nsamples && !r->samples)
            return pf_error_set(err, PF_ECORRUPT, "RSS %u: sample count without samples", i);
        for (uint32_t k = 1; k < r->nsamples; k++)
            if (r->samples[k].time_ns < r->samples[k - 1].time_ns)
                return pf_error_set(err, PF_ECORRUPT, "RSS %u: sample %u goes back in time",
                                    i, k);
    }
    if (t->nlinks && !t->links)
        return pf_error_set(err, PF_ECORRUPT, "link count without links");
    for (uint32_t i = 0; i < t->nlinks; i++) {
        const pf_link *l = &t->links[i];
        if (l->node >= nnodes || l->creator >= nnodes)
            return pf_error_set(err, PF_ECORRUPT, "link %u: node %u or creator %u out of "
                                "range (%u nodes)", i, l->node, l->creator, nnodes);
        if (l->node == l->creator)
            return pf_error_set(err, PF_ECORRUPT, "link %u: node %u is its own creator", i,
                                l->node);
    }
    for (uint32_t i = 0; i < t->nsamples; i++) {
        const pf_sample *s = &t->samples[i];
        if (s->thread >= t->nthreads)
            return pf_error_set(err, PF_ECORRUPT, "sample %u: thread %u out of range", i,
                                s->thread);
        if (s->node != PF_NONE && s->node >= nnodes)
            return pf_error_set(err, PF_ECORRUPT, "sample %u: node %u out of range", i,
                                s->node);
    }
    return 0;
}

voidpf pf_trace_zalloc_(voidpf opaque, uInt items, uInt size)
{
    (void)opaque;
    if (size != 0 && items > SIZE_MAX / size)
        return Z_NULL;
    return pf_malloc((size_t)items * size);
}

void pf_trace_zfree_(voidpf opaque, voidpf p)
{
    (void)opaque;
    pf_free(p);
}

int pf_trace_clock_is_cpu(const pf_trace *t)
{
    return t->meta.clock != NULL && strncmp(t->meta.clock, "CPU", 3) == 0;
}

const char *pf_trace_clock_words(const pf_trace *t)
{
    return pf_trace_clock_is_cpu(t) ? "CPU time of each thread" : "wall time";
}
