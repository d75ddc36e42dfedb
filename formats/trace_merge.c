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
 */
#include "trace.h"

#include <string.h>

#include "alloc.h"
#include "hash.h"
#include "hashmap.h"

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
    if (meta->flags & PF_FLAG_CUT_SHORT)
        p.flags |= PF_PROC_CUT_SHORT;
    if (meta->flags & PF_FLAG_FORKED_CHILD)
        p.flags |= PF_PROC_FORKED;
    p.exit_code = PF_EXIT_UNKNOWN;
    if (meta->exit_code != PF_EXIT_UNKNOWN) {
        p.flags |= PF_PROC_EXITED;
        p.exit_code = meta->exit_code;
    }
    if (meta->exit_signal != 0) {
        p.flags |= PF_PROC_KILLED;
        p.exit_signal = meta->exit_signal;
    }
    p.start_ns = rebase(m, part, 0);
    p.duration_ns = meta->duration_ns;
    p.calls = meta->total_calls;
    p.peak_live_bytes = meta->peak_live_bytes;
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
