/* asyncview.c: the async view (see asyncview.h for what it shows and why).
 *
 * Algorithm, linear in nodes + links:
 *  1. Per code, whether it is asyncio's or concurrent.futures' machinery; per node,
 *     whether the walk up from a creator passes it (machinery, or a C function called
 *     from a passed node), and its link (the first valid one).
 *  2. Each moved node's anchor (A, line): the walk from its creator, memoised per
 *     passed node (every node of one walk shares its result, the last edge's line), so
 *     each node is walked once; a walk that meets itself (links in a cycle) has none.
 *  3. New parents: a moved node under a <task> / <thread pool> node per (A, line,
 *     kind), the rest under their old parent.  Links that make a cycle leave it, and
 *     what hangs below it, unreachable from the roots; peeling the unreachable nodes
 *     from the leaves up leaves the cycles, and every moved node on one goes back
 *     under its old parent.  That cannot make a new cycle: a cycle needs a link edge
 *     (old parents have smaller indices), and the nodes that were reachable keep their
 *     paths to a root.
 *  4. A pre-order walk of the new tree numbers the nodes; each takes its root's thread;
 *     inclusive times are recomputed bottom-up as
 *         total'(n) = total(n) + sum of new children's total' - sum of old children's total
 *     (wrapping 64-bit arithmetic: exact, so an unchanged subtree keeps its times),
 *     saturated at 0 where a damaged trace would make it negative.
 */
#include "asyncview.h"

#include <string.h>

#include "alloc.h"
#include "budget.h"
#include "hash.h"
#include "hashmap.h"

static int component_is_stdlib(const char *f, size_t end)
{
    size_t b = end;
    while (b > 0 && f[b - 1] != '/')
        b--;
    const char *c = f + b;
    size_t len = end - b;
    return (len == 3 && memcmp(c, "Lib", 3) == 0)
           || (len > 6 && memcmp(c, "python", 6) == 0 && c[6] >= '0' && c[6] <= '9');
}

int pf_async_machinery_file(const char *f, size_t n)
{
    static const struct {
        const char *s;
        size_t n;
    } pkg[] = { { "/asyncio", 8 }, { "/concurrent/futures", 19 } };
    size_t dir = n;                       /* the '/' before the file's own name */
    while (dir > 0 && f[dir - 1] != '/')
        dir--;
    if (dir == 0 || dir == n)
        return 0;
    dir--;
    for (size_t k = 0; k < sizeof pkg / sizeof pkg[0]; k++)
        if (dir > pkg[k].n && memcmp(f + dir - pkg[k].n, pkg[k].s, pkg[k].n) == 0
            && component_is_stdlib(f, dir - pkg[k].n))
            return 1;
    return 0;
}

const char *pf_trace_view_words(const pf_trace *t)
{
    if (t->view != PF_VIEW_ASYNC)
        return NULL;
    return "async: each asyncio task under the code that created it (<task>), thread "
           "pool work under the code that submitted it (<thread pool>)";
}

/* One <task> / <thread pool> node of the view. */
typedef struct pseudo {
    uint32_t anchor;          /* old node index */
    uint32_t line;
    uint32_t kind;
    uint64_t calls;
} pseudo;

typedef struct view {
    pf_trace *t;
    uint32_t n;               /* old nodes; pseudo node k is n + k */
    uint8_t *skip;            /* per old node: the walk up from a creator passes it */
    uint32_t *link;           /* per old node: its creator, or PF_NONE */
    uint8_t *kind;            /* per old node: its link's kind */
    uint32_t *anchor, *aline; /* per old node: the walk's memo */
    uint8_t *state;           /* 0 not walked, 1 on the current walk, 2 done */
    uint32_t *path;           /* the current walk */
    pseudo *ps;
    uint32_t nps, cap_ps;
    pf_hmap *ps_map;          /* hash(anchor, line, kind) -> pseudo index */
    pf_hmap *counted;         /* (pseudo, creator) pairs whose calls are counted */
    const pseudo *probe;
} view;

/* Where the walk goes from passed node m: its creator (line 0: a jump) if linked,
 * else its parent (line: m's call line there). */
static uint32_t next_up(const view *v, uint32_t m, uint32_t *line)
{
    if (v->link[m] != PF_NONE) {
        *line = 0;
        return v->link[m];
    }
    *line = v->t->nodes[m].call_line;
    return v->t->nodes[m].parent;
}

/* The anchor of creator c and the line there (PF_NONE: none). */
static uint32_t anchor_of(view *v, uint32_t c, uint32_t *line)
{
    *line = 0;
    if (!v->skip[c])
        return c;
    uint32_t np = 0, a = PF_NONE, l = 0, x = c;
    for (;;) {
        if (v->state[x] == 2) {
            a = v->anchor[x];
            l = v->aline[x];
            break;
        }
        if (v->state[x] == 1)
            break;                          /* a cycle of links: no anchor */
        v->state[x] = 1;
        v->path[np++] = x;
        uint32_t el, y = next_up(v, x, &el);
        if (y == PF_NONE)
            break;
        if (!v->skip[y]) {
            a = y;
            l = el;
            break;
        }
        x = y;
    }
    while (np > 0) {
        uint32_t m = v->path[--np];
        v->anchor[m] = a;
        v->aline[m] = l;
        v->state[m] = 2;
    }
    *line = l;
    return a;
}

static uint64_t ps_hash(uint32_t anchor, uint32_t line, uint32_t kind)
{
    return pf_hash_pair(pf_hash_pair(anchor, line), kind);
}

static int ps_eq(void *ctx, uint32_t k)
{
    const view *v = ctx;
    const pseudo *a = &v->ps[k], *b = v->probe;
    return a->anchor == b->anchor && a->line == b->line && a->kind == b->kind;
}

/* The pseudo node for (anchor, line, kind), made on first use; PF_NONE when out of
 * memory. */
static uint32_t pseudo_of(view *v, uint32_t anchor, uint32_t line, uint32_t kind)
{
    pseudo key = { anchor, line, kind, 0 };
    v->probe = &key;
    uint64_t h = ps_hash(anchor, line, kind);
    uint32_t k = pf_hmap_find(v->ps_map, h, ps_eq, v);
    if (k != PF_HMAP_NONE)
        return k;
    if (v->nps == v->cap_ps) {
        uint32_t cap = v->cap_ps ? v->cap_ps * 2 : 16;
        pseudo *p = pf_reallocarray(v->ps, cap, sizeof *p);
        if (p == NULL)
            return PF_NONE;
        v->ps = p;
        v->cap_ps = cap;
    }
    if (pf_hmap_add(v->ps_map, h, v->nps) < 0)
        return PF_NONE;
    v->ps[v->nps] = key;
    return v->nps++;
}

/* The code index of a pseudo frame's label, added on first use; PF_NONE when out of
 * memory. */
static uint32_t label_code(pf_trace *t, const char *label)
{
    uint32_t name = pf_strtab_intern_cstr(t->strings, label);
    uint32_t file = pf_strtab_intern_cstr(t->strings, "");
    if (name == PF_STR_NONE || file == PF_STR_NONE)
        return PF_NONE;
    for (uint32_t c = 0; c < t->ncodes; c++)
        if (t->codes[c].kind == PF_CODE_NATIVE && t->codes[c].name == name)
            return c;
    pf_code code = { file, name, name, 0, PF_CODE_NATIVE };
    return pf_trace_add_code(t, &code);
}

/* Child lists of the new tree (parent[] over n + nps nodes) in index order; returns
 * the number of nodes reachable from the roots, in pre-order in order[]. */
static uint32_t preorder(uint32_t total, const uint32_t *parent, uint32_t *first,
                         uint32_t *next, uint32_t *order, uint32_t *stack)
{
    for (uint32_t i = 0; i < total; i++)
        first[i] = PF_NONE;
    for (uint32_t i = total; i-- > 0;) {
        next[i] = PF_NONE;
        if (parent[i] != PF_NONE) {
            next[i] = first[parent[i]];
            first[parent[i]] = i;
        }
    }
    uint32_t no = 0;
    for (uint32_t r = 0; r < total; r++) {
        if (parent[r] != PF_NONE)
            continue;
        uint32_t sp = 0;
        stack[sp++] = r;
        while (sp > 0) {
            uint32_t x = stack[--sp];
            order[no++] = x;
            /* children pushed in reverse, so they come off in index order */
            uint32_t base = sp;
            for (uint32_t c = first[x]; c != PF_NONE; c = next[c])
                stack[sp++] = c;
            for (uint32_t i = base, j = sp; i + 1 < j; i++, j--) {
                uint32_t tmp = stack[i];
                stack[i] = stack[j - 1];
                stack[j - 1] = tmp;
            }
        }
    }
    return no;
}

int pf_trace_async_view(pf_trace *t, pf_error *err)
{
    uint32_t n = t->nnodes;
    view v;
    memset(&v, 0, sizeof v);
    v.t = t;
    v.n = n;
    uint8_t *mcode = NULL;
    uint32_t *parent = NULL, *first = NULL, *next = NULL, *order = NULL, *stack = NULL;
    uint32_t *newix = NULL;
    uint64_t *oldsum = NULL, *total = NULL;
    pf_node *nodes = NULL;
    pf_mem *mem = NULL;
    uint32_t ncodes = t->ncodes;          /* the pseudo frames' codes go on failure */
    int rc = -1;
    size_t an = (size_t)n + 1;

    uint32_t valid = 0;
    for (uint32_t i = 0; i < t->nlinks; i++)
        valid += t->links[i].kind <= PF_LINK_EXECUTOR && t->links[i].node < n
                 && t->links[i].creator < n;
    if (valid == 0)
        goto done_ok;

    /* 1. machinery and links */
    mcode = pf_calloc(t->ncodes + 1u, 1);
    v.skip = pf_calloc(an, 1);
    v.link = pf_malloc(an * sizeof *v.link);
    v.kind = pf_calloc(an, 1);
    v.anchor = pf_malloc(an * sizeof *v.anchor);
    v.aline = pf_malloc(an * sizeof *v.aline);
    v.state = pf_calloc(an, 1);
    v.path = pf_malloc(an * sizeof *v.path);
    v.ps_map = pf_hmap_new(64);
    v.counted = pf_hmap_new(64);
    if (!mcode || !v.skip || !v.link || !v.kind || !v.anchor || !v.aline || !v.state
        || !v.path || !v.ps_map || !v.counted)
        goto oom;
    for (uint32_t c = 0; c < t->ncodes; c++) {
        size_t len;
        const char *f = pf_strtab_get(t->strings, t->codes[c].file, &len);
        mcode[c] = t->codes[c].kind == PF_CODE_PYTHON && f != NULL
                   && pf_async_machinery_file(f, len);
    }
    for (uint32_t i = 0; i < n; i++) {
        const pf_node *nd = &t->nodes[i];
        v.link[i] = PF_NONE;
        v.skip[i] = mcode[nd->code]
                    || (t->codes[nd->code].kind == PF_CODE_NATIVE && nd->parent != PF_NONE
                        && v.skip[nd->parent]);
    }
    for (uint32_t i = 0; i < t->nlinks; i++) {
        const pf_link *l = &t->links[i];
        if (l->kind > PF_LINK_EXECUTOR || l->node >= n || l->creator >= n
            || l->node == l->creator || v.link[l->node] != PF_NONE)
            continue;
        /* pool machinery running an item stays where it ran (asyncview.h) */
        if (l->kind == PF_LINK_EXECUTOR && mcode[t->nodes[l->node].code])
            continue;
        v.link[l->node] = l->creator;
        v.kind[l->node] = (uint8_t)l->kind;
    }

    /* 2-3. anchors and new parents */
    parent = pf_malloc(an * sizeof *parent);
    if (parent == NULL)
        goto oom;
    for (uint32_t i = 0; i < n; i++) {
        parent[i] = t->nodes[i].parent;
        if (v.link[i] == PF_NONE)
            continue;
        uint32_t line, a = anchor_of(&v, v.link[i], &line);
        if (a == PF_NONE)
            continue;
        uint32_t k = pseudo_of(&v, a, line, v.kind[i]);
        if (k == PF_NONE)
            goto oom;
        parent[i] = n + k;
        /* the tasks (items) made there: each creator's calls, once */
        int inserted;
        uint32_t *slot = pf_hmap_slot(v.counted, (uint64_t)k << 32 | v.link[i], &inserted);
        if (slot == NULL)
            goto oom;
        if (inserted)
            v.ps[k].calls += t->nodes[v.link[i]].calls;
    }
    uint32_t all = n + v.nps;
    if (all < n || all >= PF_NONE - 1)
        goto oom;
    uint32_t *p2 = pf_reallocarray(parent, (size_t)all + 1, sizeof *parent);
    if (p2 == NULL)
        goto oom;
    parent = p2;
    for (uint32_t k = 0; k < v.nps; k++)
        parent[n + k] = v.ps[k].anchor;
    size_t aall = (size_t)all + 1;
    first = pf_malloc(aall * sizeof *first);
    next = pf_malloc(aall * sizeof *next);
    order = pf_malloc(aall * sizeof *order);
    stack = pf_malloc(aall * sizeof *stack);
    newix = pf_malloc(aall * sizeof *newix);
    if (!first || !next || !order || !stack || !newix)
        goto oom;
    uint32_t reached = preorder(all, parent, first, next, order, stack);
    if (reached < all) {
        /* Links in a cycle.  Among the unreachable nodes (newix 0), peel those that no
         * other unreachable node hangs from, repeatedly: what is left lies on cycles
         * (first[] counts children left).  Each moved node there goes back where it
         * ran; nodes merely below a cycle keep their links. */
        uint32_t *left = first, *queue = stack, nq = 0;
        for (uint32_t i = 0; i < all; i++) {
            newix[i] = 0;
            left[i] = 0;
        }
        for (uint32_t i = 0; i < reached; i++)
            newix[order[i]] = 1;
        for (uint32_t i = 0; i < all; i++)
            if (!newix[i] && parent[i] != PF_NONE && !newix[parent[i]])
                left[parent[i]]++;
        for (uint32_t i = 0; i < all; i++)
            if (!newix[i] && left[i] == 0)
                queue[nq++] = i;
        while (nq > 0) {
            uint32_t x = queue[--nq];
            newix[x] = 1;                               /* peeled */
            uint32_t px = parent[x];
            if (px != PF_NONE && !newix[px] && --left[px] == 0)
                queue[nq++] = px;
        }
        for (uint32_t i = 0; i < n; i++)
            if (!newix[i] && parent[i] >= n)
                parent[i] = t->nodes[i].parent;
        reached = preorder(all, parent, first, next, order, stack);
    }

    /* 4. the new nodes: pre-order, threads, times; pseudo nodes without children
     * (their nodes went back) are left out */
    uint32_t nout = 0;
    for (uint32_t i = 0; i < all; i++)
        newix[i] = PF_NONE;
    for (uint32_t i = 0; i < reached; i++) {
        uint32_t x = order[i];
        if (x >= n && first[x] == PF_NONE)
            continue;
        newix[x] = nout++;
    }
    oldsum = pf_calloc(an, sizeof *oldsum);
    total = pf_calloc(aall, sizeof *total);
    nodes = pf_malloc((size_t)(nout ? nout : 1) * sizeof *nodes);
    if (t->node_mem != NULL)
        mem = pf_calloc((size_t)(nout ? nout : 1), sizeof *mem);
    if (!oldsum || !total || !nodes || (t->node_mem != NULL && !mem))
        goto oom;
    for (uint32_t i = 0; i < n; i++)
        if (t->nodes[i].parent != PF_NONE)
            oldsum[t->nodes[i].parent] += t->nodes[i].total_ns;
    for (uint32_t i = reached; i-- > 0;) {          /* children before parents */
        uint32_t x = order[i];
        if (newix[x] == PF_NONE)
            continue;
        uint64_t sum = 0;
        for (uint32_t c = first[x]; c != PF_NONE; c = next[c])
            if (newix[c] != PF_NONE)
                sum += total[c];
        if (x >= n) {
            total[x] = sum;
            continue;
        }
        uint64_t old = t->nodes[x].total_ns;
        int64_t delta = (int64_t)(sum - oldsum[x]);   /* wraps exactly */
        total[x] = delta >= 0 || old >= (uint64_t)-delta ? old + (uint64_t)delta : 0;
    }
    uint32_t task_code = PF_NONE, pool_code = PF_NONE;
    for (uint32_t i = 0; i < reached; i++) {
        uint32_t x = order[i];
        uint32_t o = newix[x];
        if (o == PF_NONE)
            continue;
        pf_node *d = &nodes[o];
        uint32_t px = parent[x];
        if (x < n) {
            *d = t->nodes[x];
            if (mem != NULL)
                mem[o] = *pf_trace_node_mem(t, x);
        } else {
            const pseudo *p = &v.ps[x - n];
            uint32_t *code = p->kind == PF_LINK_TASK ? &task_code : &pool_code;
            if (*code == PF_NONE
                && (*code = label_code(t, p->kind == PF_LINK_TASK ? "<task>" : "<thread pool>"))
                       == PF_NONE)
                goto oom;
            memset(d, 0, sizeof *d);
            d->code = *code;
            d->call_line = p->line;
            d->calls = p->calls;
        }
        d->total_ns = total[x];
        d->parent = px == PF_NONE ? PF_NONE : newix[px];
        if (d->parent != PF_NONE)
            d->thread = nodes[d->parent].thread;
    }
    for (uint32_t i = 0; i < t->nsamples; i++)
        if (t->samples[i].node != PF_NONE)
            t->samples[i].node = newix[t->samples[i].node];
    /* commit: nothing can fail from here on (the budget has no limit once read) */
    pf_budget_release(&t->mem, (uint64_t)t->cap_nodes * sizeof(pf_node));
    (void)pf_budget_charge(&t->mem, (uint64_t)nout * sizeof(pf_node));
    pf_free(t->nodes);
    t->nodes = nodes;
    t->nnodes = t->cap_nodes = nout;
    nodes = NULL;
    if (t->node_mem != NULL) {
        pf_budget_release(&t->mem, (uint64_t)t->cap_node_mem * sizeof(pf_mem));
        (void)pf_budget_charge(&t->mem, (uint64_t)nout * sizeof(pf_mem));
        pf_free(t->node_mem);
        t->node_mem = mem;
        t->cap_node_mem = nout;
        mem = NULL;
    }
done_ok:
    pf_free(t->links);
    t->links = NULL;
    t->nlinks = t->cap_links = 0;
    t->view = PF_VIEW_ASYNC;
    rc = 0;
    goto done;
oom:
    t->ncodes = ncodes;
    pf_error_set(err, PF_ENOMEM, "out of memory building the async view");
done:
    pf_free(mcode);
    pf_free(v.skip);
    pf_free(v.link);
    pf_free(v.kind);
    pf_free(v.anchor);
    pf_free(v.aline);
    pf_free(v.state);
    pf_free(v.path);
    pf_free(v.ps);
    pf_hmap_free(v.ps_map);
    pf_hmap_free(v.counted);
    pf_free(parent);
    pf_free(first);
    pf_free(next);
    pf_free(order);
    pf_free(stack);
    pf_free(newix);
    pf_free(oldsum);
    pf_free(total);
    pf_free(nodes);
    pf_free(mem);
    return rc;
}
