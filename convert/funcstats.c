/* funcstats.c: cProfile's counting rules replayed over a calling-context tree.
 *
 * Algorithm.  A node's path from its thread's root IS the profiler's stack at each of
 * its activations, so _lsprof's recursion levels are simply "how many ancestors are
 * activations of X".  One depth-first walk keeps two counters along the current path:
 *   open_code[c]  ancestors (and self) running code c      -> function recursion
 *   open_edge[e]  ancestors whose (parent code, code) is e  -> sub-entry recursion
 * Entering node n (code g, parent code f, edge e = f->g):
 *   code g: nc += calls, tt += self; if open_code[g] == 0: cc += calls, ct += total
 *   edge e: the same with open_edge[e]
 * then the counters are incremented for n's subtree and decremented on the way out.
 * A node's activations never nest inside one another (a nested one would have a
 * longer path, hence be another node), so per-node sums are exact.
 * Afterwards codes are merged into pstats keys and code edges into key edges.
 *
 * The walk uses explicit child lists and an explicit stack, so it needs neither
 * recursion nor contiguous subtrees: only parent < index, which the reader checks. */
#include "convert/funcstats.h"

#include <string.h>

#include "formats/hashmap.h"
#include "formats/alloc.h"

struct cstat {               /* per code, before merging */
    uint64_t nc, cc, tt, ct;
};

struct cedge {
    uint32_t caller, callee; /* code indices */
    uint64_t nc, cc, tt, ct;
};

struct walk {
    const pf_trace *t;
    uint32_t *first_child, *next_sibling, *node_edge;
    uint32_t *open_code, *open_edge;
    struct cstat *cs;
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
    struct cstat *c = &w->cs[nd->code];
    c->nc += nd->calls;
    c->tt += nd->self_ns;
    if (w->open_code[nd->code]++ == 0) {
        c->cc += nd->calls;
        c->ct += nd->total_ns;
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
    w->open_code[w->t->nodes[n].code]--;
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

/* Merges code edges into key edges grouped by callee, in O(edges + keys): a stable
 * counting sort by callee key, then, inside each callee's group, duplicates (several
 * codes with one key) are summed into the first one, found through a per-caller
 * stamp.  Callers stay in order of first appearance, so output is deterministic. */
static int merge_edges(pf_funcstats *s, const uint32_t *code_key, const struct cedge *ce,
                       uint32_t nce)
{
    uint32_t nk = s->nkeys;
    uint32_t *start = pf_calloc((size_t)nk + 1, sizeof *start);
    uint32_t *stamp = pf_malloc((nk ? nk : 1) * sizeof *stamp);   /* callee+1 that wrote it */
    uint32_t *where = pf_malloc((nk ? nk : 1) * sizeof *where);   /* its index in edges */
    pf_fedge *e = pf_malloc((nce ? nce : 1) * sizeof *e);
    if (start == NULL || stamp == NULL || where == NULL || e == NULL) {
        pf_free(start);
        pf_free(stamp);
        pf_free(where);
        pf_free(e);
        return -1;
    }
    for (uint32_t i = 0; i < nce; i++)
        if (ce[i].nc != 0)
            start[code_key[ce[i].callee] + 1]++;
    for (uint32_t k = 0; k < nk; k++)
        start[k + 1] += start[k];
    /* start[k] is now where callee k's group begins; fill groups in input order */
    for (uint32_t i = 0; i < nce; i++) {
        if (ce[i].nc == 0)
            continue;
        pf_fedge *d = &e[start[code_key[ce[i].callee]]++];
        d->caller = code_key[ce[i].caller];
        d->callee = code_key[ce[i].callee];
        d->nc = ce[i].nc;
        d->cc = ce[i].cc;
        d->tt_ns = ce[i].tt;
        d->ct_ns = ce[i].ct;
    }
    /* Compact: groups are contiguous and in callee order, so one pass with a write
     * index never overtakes the read index. */
    memset(stamp, 0, (nk ? nk : 1) * sizeof *stamp);
    uint32_t total = nk ? start[nk - 1] : 0, n = 0;
    for (uint32_t i = 0; i < total; i++) {
        pf_fedge cur = e[i];
        if (stamp[cur.caller] == cur.callee + 1) {
            pf_fedge *d = &e[where[cur.caller]];
            d->nc += cur.nc;
            d->cc += cur.cc;
            d->tt_ns += cur.tt_ns;
            d->ct_ns += cur.ct_ns;
            continue;
        }
        stamp[cur.caller] = cur.callee + 1;
        where[cur.caller] = n;
        e[n] = cur;
        pf_fkey *k = &s->keys[cur.callee];
        if (k->ncallers++ == 0)
            k->first_caller = n;
        n++;
    }
    pf_free(start);
    pf_free(stamp);
    pf_free(where);
    /* give back the slack of merged duplicates (never fails to keep the old block) */
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
    w.open_code = pf_calloc(calloc_codes, sizeof *w.open_code);
    w.cs = pf_calloc(calloc_codes, sizeof *w.cs);
    w.stack = pf_malloc(nalloc * sizeof *w.stack);
    w.cursor = pf_malloc(nalloc * sizeof *w.cursor);
    /* distinct (caller, callee) code pairs: usually well under a node each */
    edge_map = pf_hmap_new(nn / 4 > ncodes ? nn / 4 : ncodes);
    if (code_key == NULL || w.first_child == NULL || w.next_sibling == NULL ||
        w.node_edge == NULL || w.open_code == NULL || w.cs == NULL || w.stack == NULL ||
        w.cursor == NULL || edge_map == NULL)
        goto oom;
    if (make_keys(t, s, code_key) < 0)
        goto oom;

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
        uint32_t f = t->nodes[nd->parent].code;
        uint32_t *slot = pf_hmap_slot(edge_map, (uint64_t)f << 32 | nd->code, NULL);
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
            w.ce[w.nce].callee = nd->code;
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

    /* Merge codes into keys. */
    for (uint32_t c = 0; c < ncodes; c++) {
        pf_fkey *k = &s->keys[code_key[c]];
        k->nc += w.cs[c].nc;
        k->cc += w.cs[c].cc;
        k->tt_ns += w.cs[c].tt;
        k->ct_ns += w.cs[c].ct;
    }
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
    /* The per-node arrays are done with: release them before merging, which is
     * where the peak of memory would otherwise be. */
    pf_free(w.first_child);
    pf_free(w.next_sibling);
    pf_free(w.node_edge);
    pf_free(w.stack);
    pf_free(w.cursor);
    pf_free(w.open_edge);
    w.first_child = w.next_sibling = w.node_edge = w.stack = w.cursor = w.open_edge = NULL;
    if (merge_edges(s, code_key, w.ce, w.nce) < 0)
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
    pf_free(w.open_code);
    pf_free(w.open_edge);
    pf_free(w.cs);
    pf_free(w.ce);
    pf_free(w.stack);
    pf_free(w.cursor);
    return s;
}
