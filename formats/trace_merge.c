/* trace_merge.c: merges the traces of the processes of one run into one trace
 * (pf_trace_merge; the contract is in trace.h).  `collect` follows child processes,
 * each writes its own trace, and the launcher merges them: one root per process.
 *
 * Algorithm: one pass over each part, in order, appending to the output, whose
 * arrays only grow at their ends; so a part's threads land contiguous (thread_off
 * .. thread_off + nthreads) and so do its nodes, which stay in pre-order: a node's
 * parent is remapped by the same offset and still precedes it.  Per part, two
 * arrays map its ids to the output's: smap (strings, re-interned: the output's
 * table holds each byte string once) and cmap (codes).  Because equal strings get
 * one id, two codes have the same text exactly when their remapped ids, first
 * line and kind are equal; the code index is a pf_hmap on the hash of that tuple and
 * of an ordinal.  The ordinal keeps distinct the codes of one part that share their
 * text (two lambdas on one line are two code objects, and cProfile judges recursion
 * per code object): a part's k-th code of a text maps to the output's k-th code of
 * that text (claimed[] marks the output codes the current part already took).
 * Lines add up on the exact key (code << 32 | line), sources are kept once per
 * path id (the first part's text wins).  Invariant after each part: every index in
 * the output refers to an entry already appended.  Expected time is linear in the
 * parts' total size (hash lookups O(1)); memory is the output plus the three
 * indexes and the two maps of the largest part.
 *
 * pf_trace_sum (trace_merge.h, `pyflame-c merge`) reuses the same string, code, line
 * and source mapping, but sums runs instead of keeping them side by side: a part's
 * node is looked up in an index of the output's nodes keyed by (output parent, or
 * output thread for a root; code; call line) and added to when found, so the output
 * grows only with contexts no earlier part had, and only one part is in memory at a
 * time.  Processes match by a key (the root, or the command without its digits) and
 * an ordinal, threads by (output process, name, ordinal), with claimed-marks as for
 * codes.  Nodes are appended when first seen, which keeps parent < child but not
 * pre-order, and a process's threads end up scattered; detach renumbers the threads
 * process by process and the nodes in pre-order, thread by thread.
 */
#include "trace.h"

#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "hash.h"
#include "hashmap.h"
#include "trace_merge.h"

typedef struct merger {
    pf_trace *out;
    const pf_trace *root;      /* parts[0]: its meta leads, starts are rebased on it */
    pf_hmap *codes;            /* hash of a code's remapped tuple -> output code */
    pf_hmap *lines;            /* code << 32 | line -> output line */
    pf_hmap *sources;          /* output path id -> output source */
    uint32_t *smap;            /* the current part's string id -> output string id */
    uint32_t *cmap;            /* the current part's code index -> output code index */
    uint32_t *ord;             /* output code -> its ordinal among the codes of its text */
    uint32_t *claimed;         /* output code -> 1 + the last part that mapped a code to it */
    uint32_t part;             /* the current part's number */
    const pf_code *key;        /* the code being looked up (code_eq) */
    uint32_t key_ord;
} merger;

static uint64_t code_hash(const pf_code *c)
{
    return pf_hash_pair(pf_hash_pair(c->file, c->name),
                        pf_hash_pair(c->qualname, (uint64_t)c->first_line << 8 | c->kind));
}

static int code_eq(void *ctx, uint32_t value)
{
    const merger *m = ctx;
    const pf_code *a = &m->out->codes[value], *b = m->key;
    return a->file == b->file && a->name == b->name && a->qualname == b->qualname &&
           a->first_line == b->first_line && a->kind == b->kind && m->ord[value] == m->key_ord;
}

/* part's start_unix_ns - root's + ns, wrapping like the format's 64-bit fields
 * (converted back without an implementation-defined cast). */
static int64_t rebase(const merger *m, const pf_trace *part, int64_t ns)
{
    uint64_t u = (uint64_t)part->meta.start_unix_ns - (uint64_t)m->root->meta.start_unix_ns +
                 (uint64_t)ns;
    return u <= (uint64_t)INT64_MAX ? (int64_t)u : -(int64_t)~u - 1;
}

/* ---- meta ---- */

static int copy_list(char ***dst, uint32_t *dn, char *const *src, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        if (pf_meta_push_str(dst, dn, src[i]) < 0)
            return -1;
    return 0;
}

/* The merged meta: parts[0]'s, with every string copied, then the totals of all
 * parts.  0 or -1 (out of memory; what was copied is the output's to free). */
static int merge_meta(merger *m, pf_trace *const *parts, uint32_t n)
{
    pf_meta *d = &m->out->meta;
    const pf_meta *s = &m->root->meta;
    if (pf_meta_set_str(&d->python_version, s->python_version) < 0 ||
        pf_meta_set_str(&d->python_executable, s->python_executable) < 0 ||
        copy_list(&d->argv, &d->argc, s->argv, s->argc) < 0 ||
        pf_meta_set_str(&d->cwd, s->cwd) < 0 ||
        copy_list(&d->path, &d->npath, s->path, s->npath) < 0 ||
        pf_meta_set_str(&d->clock, s->clock) < 0 ||
        pf_meta_set_str(&d->hostname, s->hostname) < 0)
        return -1;
    d->start_unix_ns = s->start_unix_ns;
    d->duration_ns = s->duration_ns;
    d->pid = s->pid;
    d->exit_code = s->exit_code;
    d->exit_signal = s->exit_signal;
    /* one sampler reads every process of a run: its figures are the run's, not summed */
    d->sample_interval_ns = s->sample_interval_ns;
    d->sample_ticks = s->sample_ticks;
    d->sample_mode = s->sample_mode;
    /* FORKED_CHILD says who wrote the file: the root's only.  A forked child shows
     * as its process's PF_PROC_FORKED instead. */
    d->flags = s->flags & PF_FLAG_FORKED_CHILD;
    uint32_t ngaps = 0;
    for (uint32_t k = 0; k < n; k++) {
        const pf_meta *p = &parts[k]->meta;
        d->modes |= p->modes;
        d->flags |= p->flags & ~(uint32_t)PF_FLAG_FORKED_CHILD;
        d->total_calls += p->total_calls;
        d->profiler_bytes += p->profiler_bytes;
        d->links_dropped += p->links_dropped;
        d->samples_lost += p->samples_lost;
        if (p->peak_live_bytes > d->peak_live_bytes) {
            /* the run's peak is the highest process peak; its native share goes with it */
            d->peak_live_bytes = p->peak_live_bytes;
            d->peak_native_bytes = p->peak_native_bytes;
        }
        ngaps += p->ngaps;             /* checked against overflow by the caller */
    }
    if (ngaps == 0)
        return 0;
    d->gaps = pf_calloc(ngaps, sizeof *d->gaps);
    if (d->gaps == NULL)
        return -1;
    for (uint32_t k = 0; k < n; k++) {
        const pf_meta *p = &parts[k]->meta;
        if (p->ngaps)
            memcpy(d->gaps + d->ngaps, p->gaps, (size_t)p->ngaps * sizeof *p->gaps);
        d->ngaps += p->ngaps;
    }
    return 0;
}

/* ---- one part ---- */

static int map_strings(merger *m, const pf_trace *part)
{
    uint32_t nstr = pf_strtab_count(part->strings);
    for (uint32_t i = 0; i < nstr; i++) {
        size_t len;
        const char *s = pf_strtab_get(part->strings, i, &len);
        m->smap[i] = pf_strtab_intern(m->out->strings, s, len);
        if (m->smap[i] == PF_STR_NONE)
            return -1;
    }
    return 0;
}

static int map_codes(merger *m, const pf_trace *part)
{
    for (uint32_t i = 0; i < part->ncodes; i++) {
        pf_code c = part->codes[i];
        c.file = m->smap[c.file];
        c.name = m->smap[c.name];
        c.qualname = m->smap[c.qualname];
        uint64_t text = code_hash(&c), h;
        m->key = &c;
        uint32_t idx;
        for (m->key_ord = 0;; m->key_ord++) {      /* the first of its text not yet taken */
            h = pf_hash_pair(text, m->key_ord);
            idx = pf_hmap_find(m->codes, h, code_eq, m);
            if (idx == PF_HMAP_NONE || m->claimed[idx] != m->part + 1)
                break;
        }
        if (idx == PF_HMAP_NONE) {
            /* Room in the index first, so a code is never in the output without it. */
            if (pf_hmap_reserve(m->codes, pf_hmap_count(m->codes) + 1) < 0)
                return -1;
            idx = pf_trace_add_code(m->out, &c);
            if (idx == PF_NONE)
                return -1;
            m->ord[idx] = m->key_ord;
            (void)pf_hmap_add(m->codes, h, idx);   /* cannot fail after the reserve */
        }
        m->claimed[idx] = m->part + 1;
        m->cmap[i] = idx;
    }
    return 0;
}

/* The command of a part without process records: its argv joined by spaces. */
static uint32_t intern_argv(pf_trace *out, const pf_meta *meta)
{
    size_t len = 0;
    for (uint32_t i = 0; i < meta->argc; i++)
        len += strlen(meta->argv[i]) + 1;
    char *buf = pf_malloc(len + 1);
    if (buf == NULL)
        return PF_STR_NONE;
    size_t at = 0;
    for (uint32_t i = 0; i < meta->argc; i++) {
        size_t l = strlen(meta->argv[i]);
        if (i > 0)
            buf[at++] = ' ';
        memcpy(buf + at, meta->argv[i], l);
        at += l;
    }
    uint32_t id = pf_strtab_intern(out->strings, buf, at);
    pf_free(buf);
    return id;
}

/* A part's processes, its threads starting at thread_off in the output: its own
 * records (with their RSS records), or one built from its meta. */

/* The parts of a process record a trace's meta gives: how it ended (cut short, exit
 * status, killing signal), its duration, calls and peak. */
static void process_from_meta(pf_process *p, const pf_meta *meta)
{
    if (meta->flags & PF_FLAG_CUT_SHORT)
        p->flags |= PF_PROC_CUT_SHORT;
    p->exit_code = PF_EXIT_UNKNOWN;
    if (meta->exit_code != PF_EXIT_UNKNOWN) {
        p->flags |= PF_PROC_EXITED;
        p->exit_code = meta->exit_code;
    }
    if (meta->exit_signal != 0) {
        p->flags |= PF_PROC_KILLED;
        p->exit_signal = meta->exit_signal;
    }
    p->duration_ns = meta->duration_ns;
    p->calls = meta->total_calls;
    p->peak_live_bytes = meta->peak_live_bytes;
}

static int add_processes(merger *m, const pf_trace *part, uint32_t thread_off)
{
    uint32_t process_off = m->out->nprocesses;
    for (uint32_t i = 0; i < part->nprocesses; i++) {
        pf_process p = part->processes[i];
        p.command = m->smap[p.command];
        p.first_thread += thread_off;
        p.start_ns = rebase(m, part, p.start_ns);
        if (pf_trace_add_process(m->out, &p) == PF_NONE)
            return -1;
    }
    /* RSS records follow their process; sample times are relative to the process's
     * own start, so only the index moves */
    for (uint32_t i = 0; i < part->nrss; i++) {
        const pf_rss *r = &part->rss[i];
        if (pf_trace_add_rss(m->out, process_off + r->process, r->peak_bytes,
                             r->final_bytes, r->samples, r->nsamples) == PF_NONE)
            return -1;
    }
    if (part->nprocesses)
        return 0;
    const pf_meta *meta = &part->meta;
    pf_process p;
    memset(&p, 0, sizeof p);
    p.pid = meta->pid;
    p.command = intern_argv(m->out, meta);
    if (p.command == PF_STR_NONE)
        return -1;
    p.first_thread = thread_off;
    p.nthreads = part->nthreads;
    process_from_meta(&p, meta);
    if (meta->flags & PF_FLAG_FORKED_CHILD)
        p.flags |= PF_PROC_FORKED;
    p.start_ns = rebase(m, part, 0);
    return pf_trace_add_process(m->out, &p) == PF_NONE ? -1 : 0;
}

static int mem_is_zero(const pf_mem *x)
{
    return (x->alloc_bytes | x->alloc_count | x->free_bytes | x->peak_bytes |
            x->exit_bytes) == 0;
}

static int add_nodes(merger *m, const pf_trace *part, uint32_t thread_off)
{
    pf_trace *out = m->out;
    uint32_t node_off = out->nnodes;
    for (uint32_t i = 0; i < part->nnodes; i++) {
        pf_node nd = part->nodes[i];
        if (nd.parent != PF_NONE)
            nd.parent += node_off;
        nd.thread += thread_off;
        nd.code = m->cmap[nd.code];
        if (pf_trace_add_node(out, &nd) == PF_NONE)
            return -1;
    }
    /* Only nodes with counters get a slot: a merge of call traces has no side array. */
    uint32_t nmem = part->node_mem == NULL ? 0
                    : part->nnodes < part->cap_node_mem ? part->nnodes : part->cap_node_mem;
    for (uint32_t i = 0; i < nmem; i++) {
        if (mem_is_zero(&part->node_mem[i]))
            continue;
        pf_mem *dst = pf_trace_node_mem_at(out, node_off + i);
        if (dst == NULL)
            return -1;
        *dst = part->node_mem[i];
    }
    return 0;
}

static int add_lines(merger *m, const pf_trace *part)
{
    pf_trace *out = m->out;
    for (uint32_t i = 0; i < part->nlines; i++) {
        pf_line l = part->lines[i];
        l.code = m->cmap[l.code];
        int inserted;
        uint32_t *slot = pf_hmap_slot(m->lines, (uint64_t)l.code << 32 | l.line, &inserted);
        if (slot == NULL)
            return -1;
        if (inserted) {
            uint32_t idx = pf_trace_add_line(out, &l);
            if (idx == PF_NONE)
                return -1;
            *slot = idx;
            continue;
        }
        pf_line *d = &out->lines[*slot];
        d->hits += l.hits;
        d->total_ns += l.total_ns;
        d->self_ns += l.self_ns;
        pf_mem_add(&d->mem, &l.mem);
    }
    return 0;
}

static int add_sources(merger *m, const pf_trace *part)
{
    for (uint32_t i = 0; i < part->nsources; i++) {
        const pf_source *s = &part->sources[i];
        uint32_t path = m->smap[s->path];
        int inserted;
        uint32_t *slot = pf_hmap_slot(m->sources, path, &inserted);
        if (slot == NULL)
            return -1;
        if (!inserted)
            continue;              /* the first part's text wins */
        uint32_t idx = pf_trace_add_source(m->out, path, s->text, s->len);
        if (idx == PF_NONE)
            return -1;
        *slot = idx;
    }
    return 0;
}

static int add_samples(merger *m, const pf_trace *part, uint32_t thread_off,
                       uint32_t node_off)
{
    for (uint32_t i = 0; i < part->nsamples; i++) {
        pf_sample s = part->samples[i];
        s.thread += thread_off;
        if (s.node != PF_NONE)
            s.node += node_off;
        if (pf_trace_add_sample(m->out, &s) == PF_NONE)
            return -1;
    }
    return 0;
}

/* A part's links: both ends are its own nodes, which moved by node_off (links never
 * cross processes: a process's tasks and work items are its own). */
static int add_links(merger *m, const pf_trace *part, uint32_t node_off)
{
    for (uint32_t i = 0; i < part->nlinks; i++) {
        pf_link l = part->links[i];
        l.node += node_off;
        l.creator += node_off;
        if (pf_trace_add_link(m->out, &l) == PF_NONE)
            return -1;
    }
    return 0;
}

static int merge_part(merger *m, const pf_trace *part)
{
    pf_trace *out = m->out;
    uint32_t thread_off = out->nthreads, node_off = out->nnodes;
    if (map_strings(m, part) < 0 || map_codes(m, part) < 0)
        return -1;
    for (uint32_t i = 0; i < part->nthreads; i++) {
        pf_thread th = { part->threads[i].ident, m->smap[part->threads[i].name] };
        if (pf_trace_add_thread(out, &th) == PF_NONE)
            return -1;
    }
    if (add_processes(m, part, thread_off) < 0 || add_nodes(m, part, thread_off) < 0 ||
        add_links(m, part, node_off) < 0 || add_lines(m, part) < 0 ||
        add_sources(m, part) < 0 || add_samples(m, part, thread_off, node_off) < 0)
        return -1;
    return 0;
}

/* ---- the entry point ---- */

/* The parts' sizes added up, checked against the 2^32-2 entries an array holds. */
typedef struct totals {
    uint64_t strings, codes, threads, nodes, lines, sources, samples, processes, gaps, links;
    uint32_t max_strings, max_codes;
} totals;

static int count_parts(pf_trace *const *parts, uint32_t n, totals *tot, pf_error *err)
{
    memset(tot, 0, sizeof *tot);
    for (uint32_t k = 0; k < n; k++) {
        const pf_trace *p = parts[k];
        if (p == NULL)
            return pf_error_set(err, PF_EUSAGE, "cannot merge: part %u is NULL", k);
        pf_error why;
        if (pf_trace_validate(p, &why) < 0)
            return pf_error_set(err, PF_EUSAGE, "cannot merge: part %u is invalid: %s", k,
                                why.msg);
        uint32_t nstr = pf_strtab_count(p->strings);
        tot->strings += nstr + 1u;     /* + its command, when built from its meta */
        tot->codes += p->ncodes;
        tot->threads += p->nthreads;
        tot->nodes += p->nnodes;
        tot->lines += p->nlines;
        tot->sources += p->nsources;
        tot->samples += p->nsamples;
        tot->processes += p->nprocesses ? p->nprocesses : 1u;
        tot->gaps += p->meta.ngaps;
        tot->links += p->nlinks;
        if (nstr > tot->max_strings)
            tot->max_strings = nstr;
        if (p->ncodes > tot->max_codes)
            tot->max_codes = p->ncodes;
    }
    static const char *const names[] = { "strings", "codes", "threads", "nodes", "lines",
                                         "sources", "samples", "processes", "gaps", "links" };
    const uint64_t counts[] = { tot->strings, tot->codes, tot->threads, tot->nodes,
                                tot->lines, tot->sources, tot->samples, tot->processes,
                                tot->gaps, tot->links };
    for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++)
        if (counts[i] > UINT32_MAX - 2)
            return pf_error_set(err, PF_ELIMIT,
                                "cannot merge: %llu %s in all, more than a trace holds "
                                "(%u)", (unsigned long long)counts[i], names[i],
                                UINT32_MAX - 2);
    return 0;
}

pf_trace *pf_trace_merge(pf_trace *const *parts, uint32_t n, pf_error *err)
{
    if (parts == NULL || n == 0) {
        pf_error_set(err, PF_EUSAGE, "cannot merge: no traces");
        return NULL;
    }
    totals tot;
    if (count_parts(parts, n, &tot, err) < 0)
        return NULL;
    merger m;
    memset(&m, 0, sizeof m);
    m.root = parts[0];
    m.out = pf_trace_new();
    m.codes = pf_hmap_new((size_t)tot.codes);
    m.lines = pf_hmap_new((size_t)tot.lines);
    m.sources = pf_hmap_new((size_t)tot.sources);
    /* +1: never a zero-byte request (pf_malloc(0) may return NULL). */
    m.smap = pf_malloc(((size_t)tot.max_strings + 1) * sizeof *m.smap);
    m.cmap = pf_malloc(((size_t)tot.max_codes + 1) * sizeof *m.cmap);
    /* the output has at most every part's codes */
    m.ord = pf_malloc(((size_t)tot.codes + 1) * sizeof *m.ord);
    m.claimed = pf_calloc((size_t)tot.codes + 1, sizeof *m.claimed);
    int rc = -1;
    if (m.out == NULL || m.codes == NULL || m.lines == NULL || m.sources == NULL ||
        m.smap == NULL || m.cmap == NULL || m.ord == NULL || m.claimed == NULL ||
        merge_meta(&m, parts, n) < 0 ||
        pf_trace_reserve_nodes(m.out, (uint32_t)tot.nodes) < 0)
        goto done;
    for (uint32_t k = 0; k < n; k++) {
        m.part = k;
        if (merge_part(&m, parts[k]) < 0)
            goto done;
    }
    pf_trace_shrink(m.out);      /* lines and the growth slack of the rest */
    rc = 0;
done:
    pf_hmap_free(m.codes);
    pf_hmap_free(m.lines);
    pf_hmap_free(m.sources);
    pf_free(m.smap);
    pf_free(m.cmap);
    pf_free(m.ord);
    pf_free(m.claimed);
    if (rc < 0) {
        pf_trace_free(m.out);
        pf_error_set(err, PF_ENOMEM, "out of memory merging traces");
        return NULL;
    }
    return m.out;
}

/* ---- summing runs: pf_trace_sum (trace_merge.h) ---- */

/* Per output process or thread: its process (threads), its ordinal among the entries of
 * its key, and 1 + the last part that claimed it (so one part's k-th entry of a key
 * maps to the output's k-th). */
typedef struct sum_slot {
    uint32_t proc, ord, claimed;   /* proc: a thread's process; a process's match key */
} sum_slot;

struct pf_trace_sum {
    merger m;                  /* out, strings, codes, lines, sources: as above */
    pf_hmap *nodes;            /* hash of (parent or root thread, code, call line) -> node */
    pf_hmap *threads;          /* hash of (process, name, ordinal) -> output thread */
    pf_hmap *procs;            /* hash of (command, ordinal) -> output process */
    pf_hmap *linked;           /* output node -> 1 when it has a link */
    sum_slot *th; size_t cap_th;
    sum_slot *pr; size_t cap_pr;
    size_t cap_ord, cap_claimed, cap_smap, cap_cmap;   /* of m.ord, m.claimed, m.smap, m.cmap */
    int64_t root_start;        /* the first part's start_unix_ns: starts are rebased on it */
    uint32_t *tmap; size_t cap_tmap;         /* part thread -> output thread */
    uint32_t *nmap; size_t cap_nmap;         /* part node -> output node */
    uint32_t *pmap; size_t cap_pmap;         /* part process -> output process */
    uint32_t nparts;
    int had_processes;         /* some part had process records */
    int failed, detached;
    uint32_t modes;            /* the first part's, to refuse others */
    int cpu_clock;
    uint64_t sample_interval_ns;   /* the first part's (sampled traces), likewise */
    uint32_t sample_mode;
    char first_label[256];
    /* the key being looked up, for the eq callbacks */
    uint32_t k_parent, k_thread, k_code, k_line, k_proc, k_name, k_ord;
};

#define SUM_MODE_BITS (PF_MODE_CALLS | PF_MODE_LINES | PF_MODE_MEMORY | PF_MODE_NATIVE | \
                       PF_MODE_SAMPLES)

/* Grows *arr to hold need entries of elsize bytes, the new ones zeroed.  0 or -1. */
static int grow(void *arrp, size_t *cap, size_t need, size_t elsize)
{
    if (need <= *cap)
        return 0;
    size_t ncap = *cap ? *cap : 16;
    while (ncap < need)
        ncap += ncap / 2 + 1;
    char *p = pf_reallocarray(*(void **)arrp, ncap, elsize);
    if (p == NULL)
        return -1;
    memset(p + *cap * elsize, 0, (ncap - *cap) * elsize);
    *(void **)arrp = p;
    *cap = ncap;
    return 0;
}

pf_trace_sum *pf_trace_sum_new(void)
{
    pf_trace_sum *s = pf_calloc(1, sizeof *s);
    if (s == NULL)
        return NULL;
    s->m.out = pf_trace_new();
    s->m.codes = pf_hmap_new(64);
    s->m.lines = pf_hmap_new(64);
    s->m.sources = pf_hmap_new(16);
    s->nodes = pf_hmap_new(1024);
    s->threads = pf_hmap_new(16);
    s->procs = pf_hmap_new(16);
    s->linked = pf_hmap_new(16);
    if (s->m.out == NULL || s->m.codes == NULL || s->m.lines == NULL || s->m.sources == NULL ||
        s->nodes == NULL || s->threads == NULL || s->procs == NULL || s->linked == NULL) {
        pf_trace_sum_free(s);
        return NULL;
    }
    return s;
}

void pf_trace_sum_free(pf_trace_sum *s)
{
    if (s == NULL)
        return;
    if (!s->detached)
        pf_trace_free(s->m.out);
    pf_hmap_free(s->m.codes);
    pf_hmap_free(s->m.lines);
    pf_hmap_free(s->m.sources);
    pf_free(s->m.smap);
    pf_free(s->m.cmap);
    pf_free(s->m.ord);
    pf_free(s->m.claimed);
    pf_hmap_free(s->nodes);
    pf_hmap_free(s->threads);
    pf_hmap_free(s->procs);
    pf_hmap_free(s->linked);
    pf_free(s->th);
    pf_free(s->pr);
    pf_free(s->tmap);
    pf_free(s->nmap);
    pf_free(s->pmap);
    pf_free(s);
}

uint32_t pf_trace_sum_count(const pf_trace_sum *s)
{
    return s ? s->nparts : 0;
}

static void sum_mode_words(uint32_t m, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s%s%s%s", m & PF_MODE_SAMPLES ? "samples" :
                                   m & PF_MODE_CALLS ? "calls" : "-",
             m & PF_MODE_LINES ? "+lines" : "", m & PF_MODE_MEMORY ? "+memory" : "",
             m & PF_MODE_NATIVE ? " (native)" : "");
}

static int check_mergeable(pf_trace_sum *s, const pf_trace *part, const char *label,
                           pf_error *err)
{
    uint32_t modes = part->meta.modes & SUM_MODE_BITS;
    int cpu = pf_trace_clock_is_cpu(part);
    if (s->nparts == 0) {
        s->modes = modes;
        s->cpu_clock = cpu;
        s->sample_interval_ns = part->meta.sample_interval_ns;
        s->sample_mode = part->meta.sample_mode;
        snprintf(s->first_label, sizeof s->first_label, "%s", label);
        return 0;
    }
    if (modes != s->modes) {
        char a[64], b[64];
        sum_mode_words(s->modes, a, sizeof a);
        sum_mode_words(modes, b, sizeof b);
        return pf_error_set(err, PF_EMISMATCH, "not mergeable: modes differ: %s recorded %s, "
                            "%s recorded %s", s->first_label, a, label, b);
    }
    if (cpu != s->cpu_clock)
        return pf_error_set(err, PF_EMISMATCH, "not mergeable: clocks differ: %s measured %s, "
                            "%s measured %s", s->first_label,
                            s->cpu_clock ? "CPU time of each thread" : "wall time", label,
                            pf_trace_clock_words(part));
    /* a sampled trace's counts are samples of one interval, in one mode */
    const pf_meta *m = &part->meta;
    if ((modes & PF_MODE_SAMPLES) && m->sample_interval_ns != s->sample_interval_ns)
        return pf_error_set(err, PF_EMISMATCH, "not mergeable: sample rates differ: %s was "
                            "sampled at %.0f Hz, %s at %.0f Hz", s->first_label,
                            s->sample_interval_ns ? 1e9 / (double)s->sample_interval_ns : 0.0,
                            label, m->sample_interval_ns ? 1e9 / (double)m->sample_interval_ns
                                                         : 0.0);
    if ((modes & PF_MODE_SAMPLES) && m->sample_mode != s->sample_mode)
        return pf_error_set(err, PF_EMISMATCH, "not mergeable: sample modes differ: %s was "
                            "sampled in %s mode, %s in %s mode", s->first_label,
                            pf_sample_kind_name(s->sample_mode), label,
                            pf_sample_kind_name(m->sample_mode));
    return 0;
}

static int ended_badly(int32_t code, uint32_t sig)
{
    return sig != 0 || (code != 0 && code != PF_EXIT_UNKNOWN);
}

/* The meta of the sum: the first part's, then each part's totals. */
static int sum_meta(pf_trace_sum *s, const pf_trace *part)
{
    pf_meta *d = &s->m.out->meta;
    const pf_meta *p = &part->meta;
    if (s->nparts == 0) {
        if (pf_meta_set_str(&d->python_version, p->python_version) < 0 ||
            pf_meta_set_str(&d->python_executable, p->python_executable) < 0 ||
            copy_list(&d->argv, &d->argc, p->argv, p->argc) < 0 ||
            pf_meta_set_str(&d->cwd, p->cwd) < 0 ||
            copy_list(&d->path, &d->npath, p->path, p->npath) < 0 ||
            pf_meta_set_str(&d->clock, p->clock) < 0 ||
            pf_meta_set_str(&d->hostname, p->hostname) < 0)
            return -1;
        d->start_unix_ns = p->start_unix_ns;
        d->pid = p->pid;
        d->exit_code = p->exit_code;
        d->exit_signal = p->exit_signal;
        d->modes = p->modes;
        d->flags = p->flags & PF_FLAG_FORKED_CHILD;
        d->sample_interval_ns = p->sample_interval_ns;   /* equal in every part */
        d->sample_mode = p->sample_mode;
    } else if (!ended_badly(d->exit_code, d->exit_signal) &&
               ended_badly(p->exit_code, p->exit_signal)) {
        d->exit_code = p->exit_code;       /* the first run that ended badly says so */
        d->exit_signal = p->exit_signal;
    }
    d->flags |= p->flags & ~(uint32_t)PF_FLAG_FORKED_CHILD;
    d->duration_ns += p->duration_ns;
    d->total_calls += p->total_calls;
    d->links_dropped += p->links_dropped;
    d->sample_ticks += p->sample_ticks;    /* so that the achieved rate stays ticks/duration */
    d->samples_lost += p->samples_lost;
    if (p->profiler_bytes > d->profiler_bytes)
        d->profiler_bytes = p->profiler_bytes;
    if (p->peak_live_bytes > d->peak_live_bytes) {
        d->peak_live_bytes = p->peak_live_bytes;
        d->peak_native_bytes = p->peak_native_bytes;
    }
    if (p->ngaps) {                /* idents are moved to the matched threads' later */
        pf_gap *g = pf_reallocarray(d->gaps, (size_t)d->ngaps + p->ngaps, sizeof *g);
        if (g == NULL)
            return -1;
        memcpy(g + d->ngaps, p->gaps, (size_t)p->ngaps * sizeof *g);
        d->gaps = g;
        d->ngaps += p->ngaps;
    }
    return 0;
}

static int proc_eq(void *ctx, uint32_t v)
{
    const pf_trace_sum *s = ctx;
    return s->pr[v].proc == s->k_name && s->pr[v].ord == s->k_ord;
}

#define ROOT_KEY (UINT32_MAX - 1)     /* no string id: ids stay below PF_STR_NONE - 1 */

/* The key a process matches by: ROOT_KEY for a part's first process (the run's root:
 * runs of a program given other arguments are still one program), else its command
 * with every run of digits dropped (file descriptors, ports, pids in a child's command
 * line differ from run to run), interned.  PF_STR_NONE when out of memory. */
static uint32_t process_key(pf_trace_sum *s, const pf_trace *part, uint32_t i)
{
    if (i == 0)
        return ROOT_KEY;
    size_t len;
    const char *cmd = pf_strtab_get(part->strings, part->processes[i].command, &len);
    char *buf = pf_malloc(len + 1);
    if (buf == NULL)
        return PF_STR_NONE;
    size_t n = 0;
    for (size_t k = 0; k < len; k++)
        if (cmd[k] < '0' || cmd[k] > '9')
            buf[n++] = cmd[k];
    uint32_t id = pf_strtab_intern(s->m.out->strings, buf, n);
    pf_free(buf);
    return id;
}

static int thread_eq(void *ctx, uint32_t v)
{
    const pf_trace_sum *s = ctx;
    return s->th[v].proc == s->k_proc && s->m.out->threads[v].name == s->k_name &&
           s->th[v].ord == s->k_ord;
}

static int node_eq(void *ctx, uint32_t v)
{
    const pf_trace_sum *s = ctx;
    const pf_node *n = &s->m.out->nodes[v];
    return n->parent == s->k_parent && n->code == s->k_code && n->call_line == s->k_line &&
           (s->k_parent != PF_NONE || n->thread == s->k_thread);
}

/* part's start_unix_ns - the first part's + ns, wrapping as rebase() does. */
static int64_t sum_rebase(const pf_trace_sum *s, const pf_trace *part, int64_t ns)
{
    uint64_t u = (uint64_t)part->meta.start_unix_ns - (uint64_t)s->root_start + (uint64_t)ns;
    return u <= (uint64_t)INT64_MAX ? (int64_t)u : -(int64_t)~u - 1;
}

/* Replaces the RSS record of output process op by r when r's peak is higher (or it
 * has none).  0 or -1. */
static int sum_rss(pf_trace_sum *s, uint32_t op, const pf_rss *r)
{
    pf_trace *out = s->m.out;
    for (uint32_t i = 0; i < out->nrss; i++) {
        pf_rss *d = &out->rss[i];
        if (d->process != op)
            continue;
        if (r->peak_bytes <= d->peak_bytes)
            return 0;
        pf_rss_sample *copy = NULL;
        if (r->nsamples) {
            copy = pf_malloc((size_t)r->nsamples * sizeof *copy);
            if (copy == NULL)
                return -1;
            memcpy(copy, r->samples, (size_t)r->nsamples * sizeof *copy);
        }
        pf_free(d->samples);
        d->samples = copy;
        d->nsamples = r->nsamples;
        d->peak_bytes = r->peak_bytes;
        d->final_bytes = r->final_bytes;
        return 0;
    }
    return pf_trace_add_rss(out, op, r->peak_bytes, r->final_bytes, r->samples,
                            r->nsamples) == PF_NONE ? -1 : 0;
}

/* Adds one process of the part (p remapped: command is an output string id, start_ns
 * rebased) to the output process it matches, made when new.  Its index, or PF_NONE. */
static uint32_t sum_process(pf_trace_sum *s, const pf_process *p, uint32_t key)
{
    pf_trace *out = s->m.out;
    uint64_t text = pf_hash_u64(key), h;
    uint32_t idx;
    s->k_name = key;
    for (s->k_ord = 0;; s->k_ord++) {
        h = pf_hash_pair(text, s->k_ord);
        idx = pf_hmap_find(s->procs, h, proc_eq, s);
        if (idx == PF_HMAP_NONE || s->pr[idx].claimed != s->nparts + 1)
            break;
    }
    if (idx == PF_HMAP_NONE) {
        if (grow(&s->pr, &s->cap_pr, (size_t)out->nprocesses + 1, sizeof *s->pr) < 0 ||
            pf_hmap_reserve(s->procs, pf_hmap_count(s->procs) + 1) < 0)
            return PF_NONE;
        pf_process np = *p;
        np.first_thread = 0;
        np.nthreads = 0;           /* set by detach */
        idx = pf_trace_add_process(out, &np);
        if (idx == PF_NONE)
            return PF_NONE;
        s->pr[idx].ord = s->k_ord;
        s->pr[idx].proc = key;
        (void)pf_hmap_add(s->procs, h, idx);
    } else {
        pf_process *d = &out->processes[idx];
        d->flags |= p->flags & (PF_PROC_CUT_SHORT | PF_PROC_FORKED);
        if (!ended_badly(d->flags & PF_PROC_EXITED ? d->exit_code : 0,
                         d->flags & PF_PROC_KILLED ? d->exit_signal : 0) &&
            ended_badly(p->flags & PF_PROC_EXITED ? p->exit_code : 0,
                        p->flags & PF_PROC_KILLED ? p->exit_signal : 0)) {
            d->flags = (d->flags & ~(uint32_t)(PF_PROC_EXITED | PF_PROC_KILLED)) |
                       (p->flags & (PF_PROC_EXITED | PF_PROC_KILLED));
            d->exit_code = p->exit_code;
            d->exit_signal = p->exit_signal;
        }
        if (p->start_ns < d->start_ns)
            d->start_ns = p->start_ns;
        d->duration_ns += p->duration_ns;
        d->calls += p->calls;
        if (p->peak_live_bytes > d->peak_live_bytes)
            d->peak_live_bytes = p->peak_live_bytes;
    }
    s->pr[idx].claimed = s->nparts + 1;
    return idx;
}

/* The part's processes -> pmap; a part without records has one, from its meta. */
static int sum_processes(pf_trace_sum *s, const pf_trace *part)
{
    merger *m = &s->m;
    uint32_t n = part->nprocesses ? part->nprocesses : 1;
    if (grow(&s->pmap, &s->cap_pmap, n, sizeof *s->pmap) < 0)
        return -1;
    if (part->nprocesses == 0) {
        pf_process p;
        memset(&p, 0, sizeof p);
        const pf_meta *meta = &part->meta;
        p.pid = meta->pid;
        p.command = intern_argv(m->out, meta);
        if (p.command == PF_STR_NONE)
            return -1;
        process_from_meta(&p, meta);
        p.start_ns = sum_rebase(s, part, 0);
        s->pmap[0] = sum_process(s, &p, ROOT_KEY);
        return s->pmap[0] == PF_NONE ? -1 : 0;
    }
    s->had_processes = 1;
    for (uint32_t i = 0; i < part->nprocesses; i++) {
        pf_process p = part->processes[i];
        p.command = m->smap[p.command];
        p.start_ns = sum_rebase(s, part, p.start_ns);
        uint32_t key = process_key(s, part, i);
        if (key == PF_STR_NONE)
            return -1;
        s->pmap[i] = sum_process(s, &p, key);
        if (s->pmap[i] == PF_NONE)
            return -1;
    }
    for (uint32_t i = 0; i < part->nrss; i++)
        if (sum_rss(s, s->pmap[part->rss[i].process], &part->rss[i]) < 0)
            return -1;
    return 0;
}

/* The part's threads -> tmap: matched by name within their output process.  Gap
 * idents move to the matched thread's. */
static int sum_threads(pf_trace_sum *s, const pf_trace *part, uint32_t first_gap)
{
    pf_trace *out = s->m.out;
    if (grow(&s->tmap, &s->cap_tmap, (size_t)part->nthreads + 1, sizeof *s->tmap) < 0)
        return -1;
    for (uint32_t i = 0; i < part->nthreads; i++) {
        uint32_t pp = part->nprocesses ? pf_trace_thread_process(part, i) : 0;
        s->k_proc = s->pmap[pp == PF_NONE ? 0 : pp];
        s->k_name = s->m.smap[part->threads[i].name];
        uint64_t text = pf_hash_pair(s->k_proc, s->k_name), h;
        uint32_t idx;
        for (s->k_ord = 0;; s->k_ord++) {
            h = pf_hash_pair(text, s->k_ord);
            idx = pf_hmap_find(s->threads, h, thread_eq, s);
            if (idx == PF_HMAP_NONE || s->th[idx].claimed != s->nparts + 1)
                break;
        }
        if (idx == PF_HMAP_NONE) {
            if (grow(&s->th, &s->cap_th, (size_t)out->nthreads + 1, sizeof *s->th) < 0 ||
                pf_hmap_reserve(s->threads, pf_hmap_count(s->threads) + 1) < 0)
                return -1;
            pf_thread th = { part->threads[i].ident, s->k_name };
            idx = pf_trace_add_thread(out, &th);
            if (idx == PF_NONE)
                return -1;
            s->th[idx].proc = s->k_proc;
            s->th[idx].ord = s->k_ord;
            (void)pf_hmap_add(s->threads, h, idx);
        }
        s->th[idx].claimed = s->nparts + 1;
        s->tmap[i] = idx;
    }
    /* the part's gaps (appended by sum_meta) name its thread idents */
    pf_meta *d = &out->meta;
    for (uint32_t g = first_gap; g < d->ngaps; g++) {
        if (d->gaps[g].ident == 0)
            continue;
        for (uint32_t i = 0; i < part->nthreads; i++)
            if (part->threads[i].ident == d->gaps[g].ident) {
                d->gaps[g].ident = out->threads[s->tmap[i]].ident;
                break;
            }
    }
    return 0;
}

static int sum_nodes(pf_trace_sum *s, const pf_trace *part)
{
    pf_trace *out = s->m.out;
    if (grow(&s->nmap, &s->cap_nmap, (size_t)part->nnodes + 1, sizeof *s->nmap) < 0)
        return -1;
    for (uint32_t i = 0; i < part->nnodes; i++) {
        const pf_node *nd = &part->nodes[i];
        s->k_parent = nd->parent == PF_NONE ? PF_NONE : s->nmap[nd->parent];
        s->k_thread = s->tmap[nd->thread];
        s->k_code = s->m.cmap[nd->code];
        s->k_line = nd->call_line;
        uint64_t h = pf_hash_pair(pf_hash_pair(s->k_parent == PF_NONE
                                                   ? (uint64_t)1 << 40 | s->k_thread
                                                   : s->k_parent, s->k_code),
                                  s->k_line);
        uint32_t idx = pf_hmap_find(s->nodes, h, node_eq, s);
        if (idx == PF_HMAP_NONE) {
            if (pf_hmap_reserve(s->nodes, pf_hmap_count(s->nodes) + 1) < 0)
                return -1;
            pf_node n = *nd;
            n.parent = s->k_parent;
            n.thread = s->k_parent == PF_NONE ? s->k_thread : out->nodes[s->k_parent].thread;
            n.code = s->k_code;
            idx = pf_trace_add_node(out, &n);
            if (idx == PF_NONE)
                return -1;
            (void)pf_hmap_add(s->nodes, h, idx);
        } else {
            pf_node *d = &out->nodes[idx];
            d->calls += nd->calls;
            d->total_ns += nd->total_ns;
            d->self_ns += nd->self_ns;
        }
        s->nmap[i] = idx;
        const pf_mem *mem = pf_trace_node_mem(part, i);
        if (!mem_is_zero(mem)) {
            pf_mem *dst = pf_trace_node_mem_at(out, idx);
            if (dst == NULL)
                return -1;
            pf_mem_add(dst, mem);
        }
    }
    /* links: a node keeps its first; both ends are the part's own nodes */
    for (uint32_t i = 0; i < part->nlinks; i++) {
        pf_link l = part->links[i];
        l.node = s->nmap[l.node];
        l.creator = s->nmap[l.creator];
        if (l.node == l.creator)
            continue;
        int inserted;
        uint32_t *slot = pf_hmap_slot(s->linked, l.node, &inserted);
        if (slot == NULL)
            return -1;
        if (!inserted)
            continue;
        *slot = 1;
        if (pf_trace_add_link(out, &l) == PF_NONE)
            return -1;
    }
    for (uint32_t i = 0; i < part->nsamples; i++) {
        pf_sample sm = part->samples[i];
        sm.thread = s->tmap[sm.thread];
        if (sm.node != PF_NONE)
            sm.node = s->nmap[sm.node];
        if (pf_trace_add_sample(out, &sm) == PF_NONE)
            return -1;
    }
    return 0;
}

int pf_trace_sum_add(pf_trace_sum *s, const pf_trace *part, const char *label, pf_error *err)
{
    if (s == NULL || part == NULL || s->failed || s->detached)
        return pf_error_set(err, PF_EUSAGE, "cannot merge: %s",
                            s && s->detached ? "the sum was already taken" : "no input");
    if (label == NULL)
        label = "?";
    pf_error why;
    pf_error_clear(&why);
    if (pf_trace_validate(part, &why) < 0)
        return pf_error_set(err, PF_EUSAGE, "cannot merge %s: invalid trace: %s", label,
                            why.msg);
    if (check_mergeable(s, part, label, err) < 0)
        return -1;
    pf_trace *out = s->m.out;
    const uint64_t room = UINT32_MAX - 2;
    if ((uint64_t)out->ncodes + part->ncodes > room ||
        (uint64_t)out->nthreads + part->nthreads > room ||
        (uint64_t)out->nnodes + part->nnodes > room ||
        (uint64_t)out->nlines + part->nlines > room ||
        (uint64_t)out->nsamples + part->nsamples > room ||
        (uint64_t)out->nprocesses + part->nprocesses + 1 > room ||
        (uint64_t)out->nlinks + part->nlinks > room ||
        (uint64_t)out->meta.ngaps + part->meta.ngaps > room ||
        (uint64_t)pf_strtab_count(out->strings) + pf_strtab_count(part->strings) + 1 > room) {
        s->failed = 1;
        return pf_error_set(err, PF_ELIMIT, "cannot merge %s: more entries in all than a "
                            "trace holds (%u of a kind)", label, UINT32_MAX - 2);
    }
    merger *m = &s->m;
    if (s->nparts == 0)
        s->root_start = part->meta.start_unix_ns;
    uint32_t first_gap = out->meta.ngaps;
    if (grow(&m->smap, &s->cap_smap, (size_t)pf_strtab_count(part->strings) + 1,
             sizeof *m->smap) < 0 ||
        grow(&m->cmap, &s->cap_cmap, (size_t)part->ncodes + 1, sizeof *m->cmap) < 0 ||
        grow(&m->ord, &s->cap_ord, (size_t)out->ncodes + part->ncodes + 1, sizeof *m->ord) < 0 ||
        grow(&m->claimed, &s->cap_claimed, (size_t)out->ncodes + part->ncodes + 1,
             sizeof *m->claimed) < 0)
        goto nomem;
    m->part = s->nparts;
    if (sum_meta(s, part) < 0 || map_strings(m, part) < 0 || map_codes(m, part) < 0 ||
        sum_processes(s, part) < 0 || sum_threads(s, part, first_gap) < 0 ||
        sum_nodes(s, part) < 0 || add_lines(m, part) < 0 || add_sources(m, part) < 0)
        goto nomem;
    s->nparts++;
    return 0;
nomem:
    s->failed = 1;
    return pf_error_set(err, PF_ENOMEM, "out of memory merging %s", label);
}

/* Renumbers the output's threads process by process, and its nodes in pre-order,
 * thread by thread (children in the order first seen).  0 or -1 (OOM, unchanged). */
static int sum_reorder(pf_trace_sum *s)
{
    pf_trace *t = s->m.out;
    uint32_t nt = t->nthreads, nn = t->nnodes, np = t->nprocesses;
    uint32_t *tperm = pf_malloc(((size_t)nt + 1) * sizeof *tperm);   /* old -> new */
    uint32_t *torder = pf_malloc(((size_t)nt + 1) * sizeof *torder); /* new -> old */
    uint32_t *first = pf_malloc(((size_t)nn + nt + 1) * sizeof *first); /* first child, then first root per old thread */
    uint32_t *last = pf_malloc(((size_t)nn + nt + 1) * sizeof *last);
    uint32_t *next = pf_malloc(((size_t)nn + 1) * sizeof *next);
    uint32_t *nperm = pf_malloc(((size_t)nn + 1) * sizeof *nperm);  /* old -> new */
    pf_node *nodes = pf_malloc(((size_t)nn + 1) * sizeof *nodes);
    pf_thread *threads = pf_malloc(((size_t)nt + 1) * sizeof *threads);
    pf_mem *mem = t->node_mem ? pf_calloc((size_t)nn + 1, sizeof *mem) : NULL;
    int rc = -1;
    if (!tperm || !torder || !first || !last || !next || !nperm || !nodes || !threads ||
        (t->node_mem && !mem))
        goto done;
    uint32_t k = 0;
    for (uint32_t p = 0; p < np; p++) {
        t->processes[p].first_thread = k;
        for (uint32_t i = 0; i < nt; i++)
            if (s->th[i].proc == p) {
                tperm[i] = k;
                torder[k++] = i;
            }
        t->processes[p].nthreads = k - t->processes[p].first_thread;
    }
    /* child lists in index order: first[n] / first[nn + thread] for roots */
    for (uint32_t i = 0; i < nn + nt; i++)
        first[i] = last[i] = PF_NONE;
    for (uint32_t i = 0; i < nn; i++) {
        uint32_t list = t->nodes[i].parent == PF_NONE ? nn + t->nodes[i].thread
                                                      : t->nodes[i].parent;
        next[i] = PF_NONE;
        if (first[list] == PF_NONE)
            first[list] = i;
        else
            next[last[list]] = i;
        last[list] = i;
    }
    /* pre-order without a stack: down to the first child, else on to the next sibling,
     * else up until an ancestor has one */
    k = 0;
    for (uint32_t j = 0; j < nt; j++) {
        uint32_t i = first[nn + torder[j]];
        while (i != PF_NONE) {
            nperm[i] = k++;
            if (first[i] != PF_NONE) {
                i = first[i];
                continue;
            }
            while (i != PF_NONE && next[i] == PF_NONE)
                i = t->nodes[i].parent;
            if (i != PF_NONE)
                i = next[i];
        }
    }
    if (k != nn)
        goto done;                 /* cannot happen: every node hangs from a root */
    for (uint32_t i = 0; i < nn; i++) {
        pf_node n = t->nodes[i];
        n.parent = n.parent == PF_NONE ? PF_NONE : nperm[n.parent];
        n.thread = tperm[n.thread];
        nodes[nperm[i]] = n;
        if (mem)
            mem[nperm[i]] = *pf_trace_node_mem(t, i);
    }
    for (uint32_t j = 0; j < nt; j++)
        threads[j] = t->threads[torder[j]];
    for (uint32_t i = 0; i < t->nlinks; i++) {
        t->links[i].node = nperm[t->links[i].node];
        t->links[i].creator = nperm[t->links[i].creator];
    }
    for (uint32_t i = 0; i < t->nsamples; i++) {
        t->samples[i].thread = tperm[t->samples[i].thread];
        if (t->samples[i].node != PF_NONE)
            t->samples[i].node = nperm[t->samples[i].node];
    }
    pf_free(t->nodes);
    t->nodes = nodes;
    t->cap_nodes = nn + 1;
    nodes = NULL;
    pf_free(t->threads);
    t->threads = threads;
    t->cap_threads = nt + 1;
    threads = NULL;
    if (mem) {
        pf_free(t->node_mem);
        t->node_mem = mem;
        t->cap_node_mem = nn + 1;
        mem = NULL;
    }
    rc = 0;
done:
    pf_free(tperm);
    pf_free(torder);
    pf_free(first);
    pf_free(last);
    pf_free(next);
    pf_free(nperm);
    pf_free(nodes);
    pf_free(threads);
    pf_free(mem);
    return rc;
}

pf_trace *pf_trace_sum_detach(pf_trace_sum *s, pf_error *err)
{
    if (s == NULL || s->detached || s->failed || s->nparts == 0) {
        pf_error_set(err, PF_EUSAGE, "cannot merge: %s",
                     s && s->failed ? "an input failed" : "no traces");
        return NULL;
    }
    /* the sum's index of nodes is no longer needed: free it before the reorder's arrays */
    pf_hmap_free(s->nodes);
    s->nodes = NULL;
    if (sum_reorder(s) < 0) {
        s->failed = 1;
        pf_error_set(err, PF_ENOMEM, "out of memory merging traces");
        return NULL;
    }
    pf_trace *t = s->m.out;
    /* one process that no input described: the trace of one program, as collect writes it */
    if (!s->had_processes && t->nprocesses == 1) {
        t->nprocesses = 0;
        for (uint32_t i = 0; i < t->nrss; i++)
            pf_free(t->rss[i].samples);
        t->nrss = 0;
    }
    pf_trace_shrink(t);
    s->detached = 1;
    return t;
}
