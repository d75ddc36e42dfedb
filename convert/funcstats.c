/* funcstats.c: cProfile's counting rules replayed over a calling-context tree.
 *
 * Algorithm.  A node's path from its thread's root IS the profiler's stack at each of
 * its activations, so _lsprof's recursion levels are simply "how many ancestors are
 * activations of X".  Codes are first mapped to their pstats key (file, line, name),
 * then one depth-first walk keeps two counters along the current path:
 *   open_key[k]   ancestors (and self) running a code of key k  -> function recursion
 *   open_edge[e]  ancestors whose (parent key, key) is e         -> sub-entry recursion
 * Entering node n (key g, parent key f, edge e = f->g):
 *   key g:  nc += calls, tt += self; if open_key[g] == 0: cc += calls, ct += total
 *   edge e: the same with open_edge[e]
 * then the counters are incremented for n's subtree and decremented on the way out.
 * A node's activations never nest inside one another (a nested one would have a
 * longer path, hence be another node), so per-node sums are exact.
 *
 * Why per key and not per code object (as _lsprof's ProfilerEntry is): distinct codes
 * that share a key are one entry in the output, and if they nest (two lambdas on one
 * line calling each other, jinja2's `root` of a child and a base template) adding
 * both outermost totals would count the inner one's time twice, giving a cumtime
 * above the run's.  Judging recursion per key counts the inner ones as recursive
 * calls instead, so ct never exceeds the run and ct/cc stays a time per primitive
 * call.  Where every key has one code this is exactly _lsprof's per-code rule.
 *
 * The walk uses explicit child lists and an explicit stack, so it needs neither
 * recursion nor contiguous subtrees: only parent < index, which the reader checks. */
#include "convert/funcstats.h"

#include <string.h>

#include "formats/hashmap.h"
#include "formats/alloc.h"

struct cedge {
    uint32_t caller, callee; /* key indices */
    uint64_t nc, cc, tt, ct;
};

struct walk {
    const pf_trace *t;
    const uint32_t *code_key;
    pf_fkey *keys;
    uint32_t *first_child, *next_sibling, *node_edge;
    uint32_t *open_key, *open_edge;
    struct cedge *ce;
    uint32_t nce;
    uint32_t *stack, *cursor;
};

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

void pf_funcstats_free(pf_funcstats *s)
{
    if (s == NULL)
        return;
    pf_free(s->keys);
    pf_free(s->edges);
    pf_free(s);
}

static void enter(struct walk *w, uint32_t n)
{
    const pf_node *nd = &w->t->nodes[n];
    uint32_t k = w->code_key[nd->code];
    pf_fkey *c = &w->keys[k];
    c->nc += nd->calls;
    c->tt_ns += nd->self_ns;
    if (w->open_key[k]++ == 0) {
        c->cc += nd->calls;
        c->ct_ns += nd->total_ns;
    }
    uint32_t e = w->node_edge[n];
    if (e != PF_NONE) {
        struct cedge *ce = &w->ce[e];
        ce->nc += nd->calls;
        ce->tt += nd->self_ns;
        if (w->open_edge[e]++ == 0) {
            ce->cc += nd->calls;
            ce->ct += nd->total_ns;
        }
    }
}

static void leave(struct walk *w, uint32_t n)
{
    w->open_key[w->code_key[w->t->nodes[n].code]]--;
    uint32_t e = w->node_edge[n];
    if (e != PF_NONE)
        w->open_edge[e]--;
}

/* Walks the subtree of root r. */
static void walk_tree(struct walk *w, uint32_t r)
{
    size_t sp = 0;
    enter(w, r);
    w->stack[sp] = r;
    w->cursor[sp++] = w->first_child[r];
    while (sp > 0) {
        uint32_t c = w->cursor[sp - 1];
        if (c == PF_NONE) {
            leave(w, w->stack[--sp]);
            continue;
        }
        w->cursor[sp - 1] = w->next_sibling[c];
        enter(w, c);
        w->stack[sp] = c;
        w->cursor[sp++] = w->first_child[c];
    }
}

/* True if thread lies in [first, first + n); n == UINT32_MAX takes every thread. */
static int in_range(uint32_t thread, uint32_t first, uint32_t n)
{
    return n == UINT32_MAX || (thread >= first && thread - first < n);
}

/* Assigns each code its key index (merging equal (file, line, name)). */
static int make_keys(const pf_trace *t, pf_funcstats *s, uint32_t *code_key)
{
    pf_hmap *byhash = pf_hmap_new(t->ncodes);
    pf_hmap *files = pf_hmap_new(64);
    uint32_t *chain = NULL;      /* next key with the same hash */
    uint32_t *file_chain = NULL; /* per file id: next file id with the same hash */
    const char **file_text = NULL;
    size_t *file_len = NULL;
    int rc = -1;
    if (byhash == NULL || files == NULL)
        goto fail;
    s->keys = pf_calloc(t->ncodes ? t->ncodes : 1, sizeof *s->keys);
    chain = pf_malloc((t->ncodes ? t->ncodes : 1) * sizeof *chain);
    file_chain = pf_malloc((t->ncodes ? t->ncodes : 1) * sizeof *file_chain);
    file_text = pf_malloc((t->ncodes ? t->ncodes : 1) * sizeof *file_text);
    file_len = pf_malloc((t->ncodes ? t->ncodes : 1) * sizeof *file_len);
    if (s->keys == NULL || chain == NULL || file_chain == NULL || file_text == NULL ||
        file_len == NULL)
        goto fail;
    for (uint32_t c = 0; c < t->ncodes; c++) {
        const pf_code *code = &t->codes[c];
        pf_fkey k;
        memset(&k, 0, sizeof k);
        if (code->kind == PF_CODE_NATIVE) {
            k.file = "~";
            k.file_len = 1;
            k.line = 0;
        } else {
            k.file = pf_strtab_get(t->strings, code->file, &k.file_len);
            k.line = code->first_line;
        }
        k.name = pf_strtab_get(t->strings, code->name, &k.name_len);
        if (k.file == NULL) {
            k.file = "?";
            k.file_len = 1;
        }
        if (k.name == NULL) {
            k.name = "?";
            k.name_len = 1;
        }
        /* The file's dense id, shared by every key of that file (for marshal refs). */
        uint64_t fh = fnv(0xcbf29ce484222325ULL, k.file, k.file_len);
        uint32_t *fs = pf_hmap_slot(files, fh, NULL);
        if (fs == NULL)
            goto fail;
        uint32_t f = *fs;
        while (f != PF_NONE && !(file_len[f] == k.file_len &&
                                 memcmp(file_text[f], k.file, k.file_len) == 0))
            f = file_chain[f];
        if (f == PF_NONE) {
            f = s->nfiles++;
            file_text[f] = k.file;
            file_len[f] = k.file_len;
            file_chain[f] = *fs;
            *fs = f;
        }
        k.file_id = f;

        uint64_t h = fnv(fh, &k.line, sizeof k.line);
        h = fnv(h, k.name, k.name_len);
        uint32_t *slot = pf_hmap_slot(byhash, h, NULL);
        if (slot == NULL)
            goto fail;
        uint32_t i = *slot;
        while (i != PF_NONE) {
            const pf_fkey *o = &s->keys[i];
            if (o->file_id == k.file_id && o->line == k.line && o->name_len == k.name_len &&
                memcmp(o->name, k.name, k.name_len) == 0)
                break;
            i = chain[i];
        }
        if (i == PF_NONE) {
            i = s->nkeys++;
            k.code = c;
            s->keys[i] = k;
            chain[i] = *slot;
            *slot = i;
        }
        code_key[c] = i;
    }
    rc = 0;
fail:
    pf_hmap_free(byhash);
    pf_hmap_free(files);
    pf_free(chain);
    pf_free(file_chain);
    pf_free(file_text);
    pf_free(file_len);
    return rc;
}

/* Groups the key edges by callee in O(edges + keys), a stable counting sort: callers
 * stay in order of first appearance, so output is deterministic.  Edges never taken
 * (nc == 0) are dropped. */
static int group_edges(pf_funcstats *s, const struct cedge *ce, uint32_t nce)
{
    uint32_t nk = s->nkeys;
    uint32_t *start = pf_calloc((size_t)nk + 1, sizeof *start);
    pf_fedge *e = pf_malloc((nce ? nce : 1) * sizeof *e);
    if (start == NULL || e == NULL) {
        pf_free(start);
        pf_free(e);
        return -1;
    }
    for (uint32_t i = 0; i < nce; i++)
        if (ce[i].nc != 0)
            start[ce[i].callee + 1]++;
    for (uint32_t k = 0; k < nk; k++)
        start[k + 1] += start[k];
    /* start[k] is now where callee k's group begins; fill groups in input order */
    uint32_t n = nk ? start[nk] : 0;
    for (uint32_t i = 0; i < nce; i++) {
        if (ce[i].nc == 0)
            continue;
        uint32_t at = start[ce[i].callee]++;
        pf_fedge *d = &e[at];
        d->caller = ce[i].caller;
        d->callee = ce[i].callee;
        d->nc = ce[i].nc;
        d->cc = ce[i].cc;
        d->tt_ns = ce[i].tt;
        d->ct_ns = ce[i].ct;
        pf_fkey *k = &s->keys[d->callee];
        if (k->ncallers++ == 0)
            k->first_caller = at;
    }
    pf_free(start);
    /* give back the slack of unused edges (never fails to keep the old block) */
    pf_fedge *shrunk = n ? pf_realloc(e, n * sizeof *e) : NULL;
    s->edges = shrunk ? shrunk : e;
    s->nedges = n;
    return 0;
}

pf_funcstats *pf_funcstats_build(const pf_trace *t, pf_error *err)
{
    return pf_funcstats_build_threads(t, 0, UINT32_MAX, err);
}

pf_funcstats *pf_funcstats_build_threads(const pf_trace *t, uint32_t first_thread,
                                         uint32_t nthreads, pf_error *err)
{
    uint32_t nn = t->nnodes, ncodes = t->ncodes;
    struct walk w;
    memset(&w, 0, sizeof w);
    w.t = t;
    pf_hmap *edge_map = NULL;
    uint32_t *code_key = NULL;
    pf_funcstats *s = pf_calloc(1, sizeof *s);
    if (s == NULL)
        goto oom;

    for (uint32_t i = 0; i < nn; i++) {
        const pf_node *nd = &t->nodes[i];
        if (nd->code >= ncodes || (nd->parent != PF_NONE && nd->parent >= i)) {
            pf_error_set(err, PF_ECORRUPT, "node %u: bad parent or code index", i);
            goto fail;
        }
    }

    size_t nalloc = nn ? nn : 1, calloc_codes = ncodes ? ncodes : 1;
    code_key = pf_malloc(calloc_codes * sizeof *code_key);
    w.first_child = pf_malloc(nalloc * sizeof *w.first_child);
    w.next_sibling = pf_malloc(nalloc * sizeof *w.next_sibling);
    w.node_edge = pf_malloc(nalloc * sizeof *w.node_edge);
    w.open_key = pf_calloc(calloc_codes, sizeof *w.open_key);   /* nkeys <= ncodes */
    w.stack = pf_malloc(nalloc * sizeof *w.stack);
    w.cursor = pf_malloc(nalloc * sizeof *w.cursor);
    /* distinct (caller, callee) key pairs: usually well under a node each */
    edge_map = pf_hmap_new(nn / 4 > ncodes ? nn / 4 : ncodes);
    if (code_key == NULL || w.first_child == NULL || w.next_sibling == NULL ||
        w.node_edge == NULL || w.open_key == NULL || w.stack == NULL ||
        w.cursor == NULL || edge_map == NULL)
        goto oom;
    if (make_keys(t, s, code_key) < 0)
        goto oom;
    w.code_key = code_key;
    w.keys = s->keys;

    /* Child lists in index order (built backwards, prepending), and each node's edge. */
    uint32_t cap_ce = 0;
    for (uint32_t i = nn; i-- > 0;) {
        w.first_child[i] = PF_NONE;
    }
    for (uint32_t i = nn; i-- > 0;) {
        const pf_node *nd = &t->nodes[i];
        w.next_sibling[i] = PF_NONE;
        if (nd->parent != PF_NONE) {
            w.next_sibling[i] = w.first_child[nd->parent];
            w.first_child[nd->parent] = i;
        }
    }
    for (uint32_t i = 0; i < nn; i++) {
        const pf_node *nd = &t->nodes[i];
        w.node_edge[i] = PF_NONE;
        if (nd->parent == PF_NONE)
            continue;
        uint32_t f = code_key[t->nodes[nd->parent].code], g = code_key[nd->code];
        uint32_t *slot = pf_hmap_slot(edge_map, (uint64_t)f << 32 | g, NULL);
        if (slot == NULL)
            goto oom;
        if (*slot == PF_NONE) {
            if (w.nce == cap_ce) {
                uint32_t nc = cap_ce ? cap_ce * 2 : 256;
                struct cedge *ce = pf_reallocarray(w.ce, nc, sizeof *ce);
                if (ce == NULL)
                    goto oom;
                w.ce = ce;
                cap_ce = nc;
            }
            memset(&w.ce[w.nce], 0, sizeof w.ce[w.nce]);
            w.ce[w.nce].caller = f;
            w.ce[w.nce].callee = g;
            *slot = w.nce++;
        }
        w.node_edge[i] = *slot;
    }
    pf_hmap_free(edge_map);
    edge_map = NULL;
    w.open_edge = pf_calloc(w.nce ? w.nce : 1, sizeof *w.open_edge);
    if (w.open_edge == NULL)
        goto oom;

    /* Only the trees of the chosen threads are walked; the rest of the trace costs
     * its child lists and edges, which stay at zero. */
    for (uint32_t i = 0; i < nn; i++)
        if (t->nodes[i].parent == PF_NONE && in_range(t->nodes[i].thread, first_thread, nthreads))
            walk_tree(&w, i);

    for (uint32_t i = 0; i < nn; i++) {
        const pf_node *nd = &t->nodes[i];
        if (in_range(nd->thread, first_thread, nthreads))
            pf_mem_add(&s->keys[code_key[nd->code]].mem, pf_trace_node_mem(t, i));
    }
    for (uint32_t k = 0; k < s->nkeys; k++) {
        s->total_nc += s->keys[k].nc;
        s->total_cc += s->keys[k].cc;
        s->total_tt_ns += s->keys[k].tt_ns;
    }
    /* The per-node arrays are done with: release them before grouping, which is
     * where the peak of memory would otherwise be. */
    pf_free(w.first_child);
    pf_free(w.next_sibling);
    pf_free(w.node_edge);
    pf_free(w.stack);
    pf_free(w.cursor);
    pf_free(w.open_edge);
    w.first_child = w.next_sibling = w.node_edge = w.stack = w.cursor = w.open_edge = NULL;
    if (group_edges(s, w.ce, w.nce) < 0)
        goto oom;
    goto done;

oom:
    pf_error_set(err, PF_ENOMEM, NULL);
fail:
    pf_funcstats_free(s);
    s = NULL;
done:
    pf_hmap_free(edge_map);
    pf_free(code_key);
    pf_free(w.first_child);
    pf_free(w.next_sibling);
    pf_free(w.node_edge);
    pf_free(w.open_key);
    pf_free(w.open_edge);
    pf_free(w.ce);
    pf_free(w.stack);
    pf_free(w.cursor);
    return s;
}
