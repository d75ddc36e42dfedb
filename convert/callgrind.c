/* callgrind.c: trace -> callgrind format (see callgrind.h).
 *
 * One pass over the nodes in pre-order keeps the path from the thread's root (a stack
 * of node indices and, per code, how many activations are open on it), so each node
 * knows in O(1) whether its code is already running above it (a recursive call).
 * A backward pass sums memory counters over subtrees (children follow their parent in
 * pre-order).  Call records are aggregated per (caller code, callee code, call line)
 * in a hash map, then sorted by caller so each function's block is written once. */
#include "convert/callgrind.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "formats/alloc.h"
#include "formats/framename.h"
#include "formats/hash.h"
#include "formats/hashmap.h"

#define NEV_MAX 4

struct edge {
    uint32_t caller, callee, line;
    uint64_t calls;
    uint64_t cost[NEV_MAX];     /* inclusive, outermost activations only */
};

struct edges {
    struct edge *e;
    uint32_t n, cap;
    pf_hmap *map;
    struct edge probe;
};

static int edge_eq(void *ctx, uint32_t v)
{
    struct edges *es = ctx;
    const struct edge *a = &es->e[v], *b = &es->probe;
    return a->caller == b->caller && a->callee == b->callee && a->line == b->line;
}

static struct edge *edge_get(struct edges *es, uint32_t caller, uint32_t callee, uint32_t line)
{
    es->probe.caller = caller;
    es->probe.callee = callee;
    es->probe.line = line;
    uint64_t h = pf_hash_pair(pf_hash_pair(caller, callee), line);
    uint32_t i = pf_hmap_find(es->map, h, edge_eq, es);
    if (i != PF_HMAP_NONE)
        return &es->e[i];
    if (es->n == es->cap) {
        uint32_t ncap = es->cap ? es->cap * 2 : 1024;
        struct edge *ne = pf_reallocarray(es->e, ncap, sizeof *ne);
        if (ne == NULL)
            return NULL;
        es->e = ne;
        es->cap = ncap;
    }
    if (pf_hmap_add(es->map, h, es->n) < 0)
        return NULL;
    struct edge *e = &es->e[es->n++];
    memset(e, 0, sizeof *e);
    e->caller = caller;
    e->callee = callee;
    e->line = line;
    return e;
}

static int cmp_edges(const void *pa, const void *pb)
{
    const struct edge *a = pa, *b = pb;
    if (a->caller != b->caller)
        return a->caller < b->caller ? -1 : 1;
    if (a->line != b->line)
        return a->line < b->line ? -1 : 1;
    return (a->callee > b->callee) - (a->callee < b->callee);
}

/* A name for the "fl=" / "fn=" lines: callgrind names end at the line's end, so line
 * breaks become '?'.  Writes the text (at most 2000 bytes). */
static void put_name(FILE *out, const char *s, size_t n)
{
    if (n > 2000)
        n = 2000;
    for (size_t i = 0; i < n; i++)
        putc(s[i] == '\n' || s[i] == '\r' ? '?' : s[i], out);
}

struct writer {
    const pf_trace *t;
    FILE *out;
    int full_paths;
    unsigned char *file_seen, *fn_seen;   /* per string id / code: compressed name written */
};

/* "fl=(id) name" the first time, "fl=(id)" after (cfl/cfi likewise: key says which). */
static void put_file(struct writer *w, const char *key, uint32_t code)
{
    const pf_code *c = &w->t->codes[code];
    uint32_t id = c->kind == PF_CODE_PYTHON ? c->file : pf_strtab_count(w->t->strings);
    fprintf(w->out, "%s=(%" PRIu32 ")", key, id + 1);
    if (!w->file_seen[id]) {
        w->file_seen[id] = 1;
        if (c->kind != PF_CODE_PYTHON) {
            fputs(" ~", w->out);
        } else {
            size_t fl;
            const char *f = pf_strtab_get(w->t->strings, c->file, &fl);
            if (f == NULL)
                f = "", fl = 0;
            if (!w->full_paths)
                f = pf_path_short(w->t, f, fl, &fl);
            putc(' ', w->out);
            put_name(w->out, f, fl);
        }
    }
    putc('\n', w->out);
}

static void put_fn(struct writer *w, const char *key, uint32_t code)
{
    fprintf(w->out, "%s=(%" PRIu32 ")", key, code + 1);
    if (!w->fn_seen[code]) {
        w->fn_seen[code] = 1;
        const char *q = pf_trace_str(w->t, w->t->codes[code].qualname);
        putc(' ', w->out);
        put_name(w->out, q, strlen(q));
    }
    putc('\n', w->out);
}

static void put_costs(FILE *out, uint32_t line, const uint64_t *cost, int nev)
{
    fprintf(out, "%" PRIu32, line);
    for (int k = 0; k < nev; k++)
        fprintf(out, " %" PRIu64, cost[k]);
    putc('\n', out);
}

int pf_callgrind_write(const pf_trace *t, const pf_stack_opts *opts, FILE *out, pf_error *err)
{
    int by_line = opts && opts->granularity == PF_GRAN_LINE && (t->meta.modes & PF_MODE_LINES);
    int memory = (t->meta.modes & PF_MODE_MEMORY) != 0;
    int nev = memory ? 4 : 1;
    uint32_t nn = t->nnodes, nc = t->ncodes;
    struct edges es;
    memset(&es, 0, sizeof es);
    uint64_t (*incl)[NEV_MAX] = NULL, (*self)[NEV_MAX] = NULL;
    uint32_t *open = NULL, *path = NULL;
    struct writer w = { t, out, opts && opts->full_paths, NULL, NULL };
    int rc = -1;
    if (nn == 0) {
        pf_error_set(err, PF_EEMPTY, "the trace has no call records");
        goto done;
    }
    for (uint32_t i = 0; i < nn; i++)
        if (t->nodes[i].code >= nc || (t->nodes[i].parent != PF_NONE && t->nodes[i].parent >= i)) {
            pf_error_set(err, PF_ECORRUPT, "node %" PRIu32 " has a bad parent or code", i);
            goto done;
        }
    incl = pf_calloc(nn, sizeof *incl);
    self = pf_calloc(nc + 1u, sizeof *self);
    open = pf_calloc(nc + 1u, sizeof *open);
    path = pf_malloc(sizeof *path * nn);
    es.map = pf_hmap_new(1024);
    w.file_seen = pf_calloc(pf_strtab_count(t->strings) + 1u, 1);
    w.fn_seen = pf_calloc(nc + 1u, 1);
    if (!incl || !self || !open || !path || !es.map || !w.file_seen || !w.fn_seen)
        goto oom;

    /* inclusive costs of every node: time as recorded, memory summed over subtrees */
    for (uint32_t i = nn; i-- > 0;) {
        const pf_mem *m = pf_trace_node_mem(t, i);
        incl[i][0] = t->nodes[i].total_ns;
        if (memory) {
            incl[i][1] += m->alloc_bytes;
            incl[i][2] += m->alloc_count;
            incl[i][3] += m->peak_bytes;
            uint32_t p = t->nodes[i].parent;
            if (p != PF_NONE)
                for (int k = 1; k < 4; k++)
                    incl[p][k] += incl[i][k];
        }
    }
    /* self costs per code, call records per (caller, callee, line) */
    uint32_t depth = 0;
    for (uint32_t i = 0; i < nn; i++) {
        const pf_node *n = &t->nodes[i];
        while (depth > 0 && path[depth - 1] != n->parent)
            open[t->nodes[path[--depth]].code]--;
        const pf_mem *m = pf_trace_node_mem(t, i);
        self[n->code][0] += n->self_ns;
        if (memory) {
            self[n->code][1] += m->alloc_bytes;
            self[n->code][2] += m->alloc_count;
            self[n->code][3] += m->peak_bytes;
        }
        if (n->parent != PF_NONE) {
            uint32_t caller = t->nodes[n->parent].code;
            uint32_t line = n->call_line ? n->call_line : t->codes[caller].first_line;
            struct edge *e = edge_get(&es, caller, n->code, line);
            if (e == NULL)
                goto oom;
            e->calls += n->calls;
            if (open[n->code] == 0)
                for (int k = 0; k < nev; k++)
                    e->cost[k] += incl[i][k];
        }
        open[n->code]++;
        path[depth++] = i;
    }
    qsort(es.e, es.n, sizeof *es.e, cmp_edges);

    /* line mode: the line records grouped by code (a counting sort), so each
     * function's lines are found in O(its lines) */
    uint32_t *line_first = NULL, *line_order = NULL;
    if (by_line) {
        line_first = pf_calloc(nc + 2u, sizeof *line_first);
        line_order = pf_malloc(sizeof *line_order * (t->nlines + 1u));
        if (line_first == NULL || line_order == NULL) {
            pf_free(line_first);
            pf_free(line_order);
            goto oom;
        }
        for (uint32_t li = 0; li < t->nlines; li++)
            if (t->lines[li].code < nc)
                line_first[t->lines[li].code + 1]++;
        for (uint32_t k = 0; k < nc; k++)
            line_first[k + 1] += line_first[k];
        uint32_t *fill = open;      /* reused: the walk above is done with it */
        memset(fill, 0, sizeof *fill * (nc + 1u));
        for (uint32_t li = 0; li < t->nlines; li++) {
            uint32_t k = t->lines[li].code;
            if (k < nc)
                line_order[line_first[k] + fill[k]++] = li;
        }
    }

    fprintf(out, "# callgrind format\nversion: 1\ncreator: pyflame-c %s\n", PF_VERSION);
    fprintf(out, "pid: %" PRIu64 "\ncmd:", t->meta.pid);
    for (uint32_t i = 0; i < t->meta.argc; i++) {
        putc(' ', out);
        const char *a = t->meta.argv[i] ? t->meta.argv[i] : "";
        put_name(out, a, strlen(a));
    }
    fprintf(out, "\npart: 1\n\npositions: line\n");
    fprintf(out, "event: Time : %s (ns)\n", pf_trace_clock_is_cpu(t) ? "CPU time" : "wall time");
    if (memory)
        fputs("event: AllocBytes : bytes allocated\nevent: AllocCount : allocations\n"
              "event: PeakBytes : bytes live at the peak\n", out);
    fputs(memory ? "events: Time AllocBytes AllocCount PeakBytes\n" : "events: Time\n", out);

    uint64_t totals[NEV_MAX] = { 0 };
    uint32_t ei = 0;
    for (uint32_t code = 0; code < nc; code++) {
        int has_self = 0;
        for (int k = 0; k < nev; k++)
            has_self |= self[code][k] != 0;
        if (!has_self && (ei >= es.n || es.e[ei].caller != code))
            continue;
        putc('\n', out);
        put_file(&w, "fl", code);
        put_fn(&w, "fn", code);
        uint64_t c[NEV_MAX];
        memcpy(c, self[code], sizeof c);
        for (int k = 0; k < nev; k++)
            totals[k] += c[k];
        if (by_line) {
            /* the code's line records, each line's self time while it lasts */
            for (uint32_t j = line_first[code]; j < line_first[code + 1]; j++) {
                const pf_line *l = &t->lines[line_order[j]];
                if (l->self_ns == 0 || c[0] == 0)
                    continue;
                uint64_t v = l->self_ns < c[0] ? l->self_ns : c[0];
                c[0] -= v;
                uint64_t lc[NEV_MAX] = { v, 0, 0, 0 };
                put_costs(out, l->line, lc, nev);
            }
        }
        int rest = 0;
        for (int k = 0; k < nev; k++)
            rest |= c[k] != 0;
        if (rest)
            put_costs(out, t->codes[code].first_line, c, nev);
        for (; ei < es.n && es.e[ei].caller == code; ei++) {
            const struct edge *e = &es.e[ei];
            put_file(&w, "cfi", e->callee);
            put_fn(&w, "cfn", e->callee);
            fprintf(out, "calls=%" PRIu64 " %" PRIu32 "\n", e->calls, t->codes[e->callee].first_line);
            put_costs(out, e->line, e->cost, nev);
        }
    }
    pf_free(line_first);
    pf_free(line_order);
    fputs("\ntotals:", out);
    for (int k = 0; k < nev; k++)
        fprintf(out, " %" PRIu64, totals[k]);
    putc('\n', out);
    if (fflush(out) != 0 || ferror(out)) {
        pf_error_set(err, PF_EIO, "write error: %s", strerror(errno ? errno : EIO));
        goto done;
    }
    rc = 0;
    goto done;
oom:
    pf_error_set(err, PF_ENOMEM, NULL);
done:
    pf_free(incl);
    pf_free(self);
    pf_free(open);
    pf_free(path);
    pf_free(es.e);
    pf_hmap_free(es.map);
    pf_free(w.file_seen);
    pf_free(w.fn_seen);
    return rc;
}
