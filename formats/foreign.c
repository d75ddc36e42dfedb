/* foreign.c: pstats and speedscope files -> pf_trace (see foreign.h for the rules).
 *
 * Both builders make their tree depth-first with an explicit stack, so nodes come out
 * in pre-order (parent before child, subtrees contiguous) as pf_trace wants, and deep
 * inputs cannot overflow the C stack. */
#include "formats/foreign.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "formats/alloc.h"
#include "formats/hash.h"
#include "formats/hashmap.h"
#include "formats/json.h"
#include "formats/marshal_read.h"

/* ---- shared ------------------------------------------------------------------------ */

static uint32_t add_code(pf_trace *t, const char *file, size_t fl, uint32_t line,
                         const char *name, size_t nl, int native)
{
    pf_code c;
    memset(&c, 0, sizeof c);
    c.file = pf_strtab_intern(t->strings, native ? "" : file, native ? 0 : fl);
    c.name = pf_strtab_intern(t->strings, name, nl);
    c.qualname = c.name;
    c.first_line = native ? 0 : line;
    c.kind = native ? PF_CODE_NATIVE : PF_CODE_PYTHON;
    if (c.file == PF_STR_NONE || c.name == PF_STR_NONE)
        return PF_NONE;
    return pf_trace_add_code(t, &c);
}

static pf_trace *new_trace(const char *origin, const char *name, pf_error *err)
{
    pf_trace *t = pf_trace_new();
    if (t == NULL || pf_meta_set_str(&t->meta.origin, origin) < 0 ||
        pf_meta_push_str(&t->meta.argv, &t->meta.argc, name) < 0) {
        pf_trace_free(t);
        pf_error_set(err, PF_ENOMEM, NULL);
        return NULL;
    }
    t->meta.modes = PF_MODE_CALLS;
    return t;
}

static uint64_t to_u64(double v)
{
    if (!(v > 0))
        return 0;
    return v >= 1.8e19 ? UINT64_MAX / 4 : (uint64_t)llround(v);
}

/* ---- pstats ------------------------------------------------------------------------ */

struct pfunc {
    const pf_mval *file, *name;
    int64_t line;
    double cc, nc, tt, ct;        /* seconds */
    uint32_t first_edge, nedges;  /* callees: edges[first_edge ..) */
    int has_callers;
};

struct pedge {
    uint32_t caller, callee;
    double nc, tt, ct;
};

struct keyctx {
    const pf_mread *m;
    const struct pfunc *f;
    const pf_mval *file, *name;
    int64_t line;
};

static int same_str(const pf_mval *a, const pf_mval *b)
{
    return a->n == b->n && memcmp(a->s, b->s, a->n) == 0;
}

static int key_eq(void *ctx, uint32_t v)
{
    struct keyctx *k = ctx;
    return k->f[v].line == k->line && same_str(k->f[v].file, k->file) &&
           same_str(k->f[v].name, k->name);
}

static uint64_t key_hash(const pf_mval *file, int64_t line, const pf_mval *name)
{
    return pf_hash_pair(pf_hash_pair(pf_hash_bytes(file->s, file->n), (uint64_t)line),
                        pf_hash_bytes(name->s, name->n));
}

/* A pstats key (file, line, name) into its parts; -1 if v is not one. */
static int split_key(const pf_mread *m, const pf_mval *v, const pf_mval **file, int64_t *line,
                     const pf_mval **name)
{
    if (v->type != PF_MV_TUPLE || v->n != 3)
        return -1;
    *file = pf_mread_kid(m, v, 0);
    const pf_mval *l = pf_mread_kid(m, v, 1);
    *name = pf_mread_kid(m, v, 2);
    if ((*file)->type != PF_MV_STR || (*name)->type != PF_MV_STR || l->type != PF_MV_INT)
        return -1;
    *line = l->u.i;
    return 0;
}

static int cmp_edge(const void *pa, const void *pb)
{
    const struct pedge *a = pa, *b = pb;
    if (a->caller != b->caller)
        return a->caller < b->caller ? -1 : 1;
    return (a->callee > b->callee) - (a->callee < b->callee);
}

struct frame {
    uint32_t func, parent;
    double share;                 /* of the function's totals on this path */
    double calls;
    int exit;                     /* 1: leave func (path bookkeeping) */
};

static pf_trace *from_pstats(const unsigned char *data, size_t len, uint64_t budget,
                             pf_error *err)
{
    pf_mread *m = pf_mread_parse(data, len, budget, err);
    if (m == NULL)
        return NULL;
    pf_trace *t = NULL;
    struct pfunc *fs = NULL;
    uint32_t *ent = NULL;         /* function i is the dict's entry ent[i] */
    struct pedge *es = NULL;
    uint32_t nes = 0, capes = 0;
    pf_hmap *map = NULL;
    uint32_t *on_path = NULL, *path_node = NULL;
    struct frame *st = NULL;
    size_t nst = 0, capst = 0;
    const pf_mval *root = &m->vals[m->root];
    if (root->type != PF_MV_DICT) {
        pf_error_set(err, PF_EPARSE, "marshal data that is not a pstats file: the top value is "
                     "not a dict of functions");
        goto fail;
    }
    /* 3.15's profiling.sampling marks its files with a ("__sampled__",): True entry
     * (pstats loads them as SampledStats; convert -f pstats writes it for sampled
     * traces): not a function */
    uint32_t n = 0;
    int sampled = 0;
    if ((ent = pf_calloc(root->n ? root->n : 1, sizeof *ent)) == NULL)
        goto oom;
    for (uint32_t e = 0; e < root->n; e++) {
        const pf_mval *k = pf_mread_kid(m, root, 2 * e);
        const pf_mval *k0 = k->type == PF_MV_TUPLE && k->n == 1 ? pf_mread_kid(m, k, 0) : NULL;
        if (k0 != NULL && k0->type == PF_MV_STR && k0->n == 11 &&
            memcmp(k0->s, "__sampled__", 11) == 0) {
            sampled = 1;
            continue;
        }
        ent[n++] = e;
    }
    if (n == 0) {
        pf_error_set(err, PF_EEMPTY, "the pstats file holds no functions");
        goto fail;
    }
    fs = pf_calloc(n, sizeof *fs);
    map = pf_hmap_new(n);
    on_path = pf_calloc(n, sizeof *on_path);
    path_node = pf_calloc(n, sizeof *path_node);
    if (fs == NULL || map == NULL || on_path == NULL || path_node == NULL)
        goto oom;
    /* functions, then their callers as edges */
    for (uint32_t i = 0; i < n; i++) {
        const pf_mval *k = pf_mread_kid(m, root, 2 * ent[i]);
        const pf_mval *v = pf_mread_kid(m, root, 2 * ent[i] + 1);
        struct pfunc *f = &fs[i];
        if (split_key(m, k, &f->file, &f->line, &f->name) < 0) {
            pf_error_set(err, PF_EPARSE, "pstats entry %u: the key is not a (file, line, "
                         "function) tuple", ent[i]);
            goto fail;
        }
        if (v->type != PF_MV_TUPLE || v->n != 5 || pf_mread_num(pf_mread_kid(m, v, 0), &f->cc) ||
            pf_mread_num(pf_mread_kid(m, v, 1), &f->nc) || pf_mread_num(pf_mread_kid(m, v, 2), &f->tt) ||
            pf_mread_num(pf_mread_kid(m, v, 3), &f->ct) || pf_mread_kid(m, v, 4)->type != PF_MV_DICT) {
            pf_error_set(err, PF_EPARSE, "pstats entry %u: the value is not a (cc, nc, tt, ct, "
                         "callers) tuple", ent[i]);
            goto fail;
        }
        struct keyctx kc = { m, fs, f->file, f->name, f->line };
        uint64_t h = key_hash(f->file, f->line, f->name);
        if (pf_hmap_find(map, h, key_eq, &kc) == PF_HMAP_NONE && pf_hmap_add(map, h, i) < 0)
            goto oom;
    }
    for (uint32_t i = 0; i < n; i++) {
        const pf_mval *callers = pf_mread_kid(m, pf_mread_kid(m, root, 2 * ent[i] + 1), 4);
        for (uint32_t j = 0; j < callers->n; j++) {
            const pf_mval *ck = pf_mread_kid(m, callers, 2 * j), *cv = pf_mread_kid(m, callers, 2 * j + 1);
            struct keyctx kc = { m, fs, NULL, NULL, 0 };
            if (split_key(m, ck, &kc.file, &kc.line, &kc.name) < 0) {
                pf_error_set(err, PF_EPARSE, "pstats entry %u: caller %u is not a (file, line, "
                             "function) tuple", ent[i], j);
                goto fail;
            }
            uint32_t caller = pf_hmap_find(map, key_hash(kc.file, kc.line, kc.name), key_eq, &kc);
            if (caller == PF_HMAP_NONE)
                continue;       /* a caller without its own entry: the edge leads nowhere */
            struct pedge e = { caller, i, 0, 0, 0 };
            double cc;
            if (cv->type == PF_MV_TUPLE && cv->n == 4) {
                /* cProfile: (nc, cc, tt, ct) of the edge */
                if (pf_mread_num(pf_mread_kid(m, cv, 0), &e.nc) || pf_mread_num(pf_mread_kid(m, cv, 1), &cc) ||
                    pf_mread_num(pf_mread_kid(m, cv, 2), &e.tt) || pf_mread_num(pf_mread_kid(m, cv, 3), &e.ct))
                    goto bad_edge;
            } else if (pf_mread_num(cv, &e.nc) == 0) {
                /* the profile module: a call count only */
                e.ct = fs[i].nc > 0 ? fs[i].ct * e.nc / fs[i].nc : 0;
                e.tt = fs[i].nc > 0 ? fs[i].tt * e.nc / fs[i].nc : 0;
            } else {
            bad_edge:
                pf_error_set(err, PF_EPARSE, "pstats entry %u: caller %u's value is neither "
                             "(nc, cc, tt, ct) nor a count", ent[i], j);
                goto fail;
            }
            if (nes == capes) {
                uint32_t nc2 = capes ? capes * 2 : 256;
                struct pedge *ne = pf_reallocarray(es, nc2, sizeof *ne);
                if (ne == NULL)
                    goto oom;
                es = ne;
                capes = nc2;
            }
            es[nes++] = e;
            if (caller != i)
                fs[i].has_callers = 1;
        }
    }
    if (nes > 0)
        qsort(es, nes, sizeof *es, cmp_edge);
    for (uint32_t k = nes; k-- > 0;) {
        fs[es[k].caller].first_edge = k;
        fs[es[k].caller].nedges++;
    }

    t = new_trace(sampled ? "sampled pstats file (profiling.sampling, or pyflame-c's of a "
                            "sampled trace): calls are sample counts; stacks rebuilt from "
                            "the caller graph, an approximation"
                          : "pstats file (cProfile, profiling.tracing, profile or yappi): "
                            "stacks rebuilt from the caller graph, an approximation",
                  "(pstats)", err);
    if (t == NULL)
        goto fail;
    t->mem.limit = budget;
    pf_thread th = { 0, pf_strtab_intern_cstr(t->strings, "pstats") };
    if (th.name == PF_STR_NONE || pf_trace_add_thread(t, &th) == PF_NONE)
        goto oom;
    for (uint32_t i = 0; i < n; i++) {
        const struct pfunc *f = &fs[i];
        int native = f->line == 0 && f->file->n == 1 && f->file->s[0] == '~';
        uint32_t line = f->line > 0 && f->line < UINT32_MAX ? (uint32_t)f->line : 0;
        if (add_code(t, f->file->s, f->file->n, line, f->name->s, f->name->n, native) != i)
            goto oom;
    }
    /* roots: functions no other function calls; depth-first from each */
    for (uint32_t r = 0; r < n; r++) {
        if (fs[r].has_callers || (fs[r].nc <= 0 && fs[r].ct <= 0))
            continue;
        nst = 0;
#define PUSH(...)                                                                        \
        do {                                                                             \
            if (nst == capst) {                                                          \
                size_t ncap = capst ? capst * 2 : 256;                                   \
                struct frame *ns = pf_reallocarray(st, ncap, sizeof *ns);                \
                if (ns == NULL)                                                          \
                    goto oom;                                                            \
                st = ns;                                                                 \
                capst = ncap;                                                            \
            }                                                                            \
            st[nst++] = (struct frame){ __VA_ARGS__ };                                   \
        } while (0)
        PUSH(r, PF_NONE, 1.0, fs[r].nc, 0);
        uint32_t depth = 0;
        while (nst > 0) {
            struct frame fr = st[--nst];
            if (fr.exit) {
                on_path[fr.func]--;
                path_node[fr.func] = fr.parent;   /* the outer activation's node, if any */
                depth--;
                continue;
            }
            if (t->nnodes >= PF_FOREIGN_MAX_NODES)
                continue;
            const struct pfunc *f = &fs[fr.func];
            pf_node nd;
            memset(&nd, 0, sizeof nd);
            nd.parent = fr.parent;
            nd.code = fr.func;
            nd.calls = to_u64(fr.calls);
            nd.self_ns = to_u64(fr.share * f->tt * 1e9);
            nd.total_ns = to_u64(fr.share * f->ct * 1e9);
            if (nd.total_ns < nd.self_ns)
                nd.total_ns = nd.self_ns;
            uint32_t id = pf_trace_add_node(t, &nd);
            if (id == PF_NONE) {
                if (t->mem.refused)
                    goto budget;
                goto oom;
            }
            if (depth + 1 >= PF_FOREIGN_MAX_DEPTH)
                continue;
            on_path[fr.func]++;
            depth++;
            PUSH(fr.func, path_node[fr.func], 0, 0, 1);
            path_node[fr.func] = id;
            /* callees, pushed last to first so the first is made first */
            for (uint32_t k = f->first_edge + f->nedges; k-- > f->first_edge;) {
                const struct pedge *e = &es[k];
                const struct pfunc *g = &fs[e->callee];
                if (on_path[e->callee]) {
                    /* a recursive call: its calls join the activation already on the
                     * path (its time is inside that one's already) */
                    t->nodes[path_node[e->callee]].calls += to_u64(e->nc * fr.share);
                    continue;
                }
                double share = g->ct > 0 ? e->ct / g->ct : g->nc > 0 ? e->nc / g->nc : 0;
                share *= fr.share;
                if (share > fr.share)
                    share = fr.share;
                double calls = e->nc * fr.share;
                if (share * g->ct * 1e9 < 1 && calls < 0.5)
                    continue;
                PUSH(e->callee, id, share, calls, 0);
            }
        }
#undef PUSH
    }
    if (t->nnodes == 0) {
        pf_error_set(err, PF_EEMPTY, "the pstats file records no calls");
        goto fail;
    }
    for (uint32_t i = 0; i < t->nnodes; i++)
        if (t->nodes[i].parent == PF_NONE)
            t->meta.duration_ns += t->nodes[i].total_ns;
    t->meta.total_calls = 0;
    for (uint32_t i = 0; i < n; i++)
        t->meta.total_calls += to_u64(fs[i].nc);
    t->mem.limit = 0;
    goto done;
budget:
    pf_error_set(err, PF_ELIMIT, "the stacks rebuilt from the pstats file exceed the decoding "
                 "budget (raise it with --max-memory)");
    goto fail;
oom:
    pf_error_set(err, PF_ENOMEM, NULL);
fail:
    pf_trace_free(t);
    t = NULL;
done:
    pf_free(fs);
    pf_free(ent);
    pf_free(es);
    pf_free(on_path);
    pf_free(path_node);
    pf_free(st);
    pf_hmap_free(map);
    pf_mread_free(m);
    return t;
}

/* ---- speedscope -------------------------------------------------------------------- */

/* A temporary tree per profile: nodes keyed by (parent, frame). */
struct snode {
    uint32_t parent, frame, first_child, next_sibling;
    double self, calls;
};

struct stree {
    struct snode *n;
    uint32_t count, cap;
    pf_hmap *kids;
};

static uint32_t child_of(struct stree *s, uint32_t parent, uint32_t frame)
{
    int inserted;
    uint32_t *slot = pf_hmap_slot(s->kids, (uint64_t)parent << 32 | frame, &inserted);
    if (slot == NULL)
        return PF_NONE;
    if (!inserted)
        return *slot;
    if (s->count == s->cap) {
        uint32_t nc = s->cap ? s->cap * 2 : 256;
        struct snode *nn = pf_reallocarray(s->n, nc, sizeof *nn);
        if (nn == NULL)
            return PF_NONE;
        s->n = nn;
        s->cap = nc;
    }
    uint32_t id = s->count++;
    s->n[id] = (struct snode){ parent, frame, PF_NONE, PF_NONE, 0, 0 };
    if (parent != PF_NONE) {
        /* append keeps first-seen order: find the last child (short lists in practice) */
        uint32_t *link = &s->n[parent].first_child;
        while (*link != PF_NONE)
            link = &s->n[*link].next_sibling;
        *link = id;
    }
    *slot = id;
    return id;
}

static double unit_factor(const pf_json *unit, int *is_time)
{
    static const struct { const char *name; double f; } units[] = {
        { "nanoseconds", 1 }, { "microseconds", 1e3 }, { "milliseconds", 1e6 }, { "seconds", 1e9 } };
    *is_time = 0;
    if (unit && unit->type == PF_JSON_STRING)
        for (size_t k = 0; k < 4; k++)
            if (strcmp(unit->str, units[k].name) == 0) {
                *is_time = 1;
                return units[k].f;
            }
    return 1;
}

static pf_trace *from_speedscope(const unsigned char *data, size_t len, uint64_t budget,
                                 pf_error *err)
{
    pf_json *doc = pf_json_parse((const char *)data, len, budget, err);
    if (doc == NULL)
        return NULL;
    pf_trace *t = NULL;
    struct stree s;
    memset(&s, 0, sizeof s);
    uint32_t *stack = NULL, *order = NULL;
    unsigned char *self_frame = NULL;
    const pf_json *shared = pf_json_get(doc, "shared");
    const pf_json *frames = pf_json_get(shared, "frames");
    const pf_json *profiles = pf_json_get(doc, "profiles");
    const pf_json *name = pf_json_get(doc, "name");
    const pf_json *exporter = pf_json_get(doc, "exporter");
    if (!frames || frames->type != PF_JSON_ARRAY || !profiles || profiles->type != PF_JSON_ARRAY) {
        pf_error_set(err, PF_EPARSE, "JSON that is not a speedscope file: no shared.frames or "
                     "profiles array");
        goto fail;
    }
    char origin[512];
    int all_time = 1;
    for (uint32_t p = 0; p < profiles->n; p++) {
        int is_time;
        unit_factor(pf_json_get(&profiles->items[p], "unit"), &is_time);
        all_time &= is_time;
    }
    snprintf(origin, sizeof origin, "speedscope file%s%s%s%s", exporter && exporter->type == PF_JSON_STRING ? " written by " : "",
             exporter && exporter->type == PF_JSON_STRING ? exporter->str : "",
             all_time ? "" : "; weights that are not times (bytes, counts) are shown as nanoseconds",
             "");
    t = new_trace(origin, name && name->type == PF_JSON_STRING ? name->str : "(speedscope)", err);
    if (t == NULL)
        goto fail;
    t->mem.limit = budget;
    self_frame = pf_malloc(frames->n + 1u);
    if (self_frame == NULL)
        goto oom;
    for (uint32_t i = 0; i < frames->n; i++) {
        const pf_json *f = &frames->items[i];
        const pf_json *fn = pf_json_get(f, "name"), *ff = pf_json_get(f, "file"),
                      *fl = pf_json_get(f, "line");
        if (!fn || fn->type != PF_JSON_STRING) {
            pf_error_set(err, PF_EPARSE, "speedscope frame %u has no name", i);
            goto fail;
        }
        int has_file = ff && ff->type == PF_JSON_STRING && ff->n > 0;
        /* pyinstrument's "[self]" (no file): its parent's own time, not a function */
        self_frame[i] = !has_file && fn->n == 6 && memcmp(fn->str, "[self]", 6) == 0;
        uint32_t line = fl && fl->type == PF_JSON_NUMBER && fl->num >= 1 && fl->num < 4e9
                        ? (uint32_t)fl->num : 0;
        if (add_code(t, has_file ? ff->str : "", has_file ? ff->n : 0, line, fn->str, fn->n,
                     !has_file) != i)
            goto oom;
    }
    s.kids = pf_hmap_new(1024);
    if (s.kids == NULL)
        goto oom;
    for (uint32_t p = 0; p < profiles->n; p++) {
        const pf_json *pr = &profiles->items[p];
        const pf_json *type = pf_json_get(pr, "type"), *pname = pf_json_get(pr, "name");
        int is_time;
        double factor = unit_factor(pf_json_get(pr, "unit"), &is_time);
        s.count = 0;
        pf_hmap_clear(s.kids);
        /* node 0 stands for the profile itself (the thread) */
        if (child_of(&s, PF_NONE, UINT32_MAX) != 0)
            goto oom;
        if (type && type->type == PF_JSON_STRING && strcmp(type->str, "evented") == 0) {
            const pf_json *ev = pf_json_get(pr, "events");
            if (!ev || ev->type != PF_JSON_ARRAY) {
                pf_error_set(err, PF_EPARSE, "speedscope profile %u has no events array", p);
                goto fail;
            }
            pf_free(stack);
            /* stack[d]: the node below open frame d; opened[d]: that frame */
            stack = pf_reallocarray(NULL, ev->n + 1u, 2 * sizeof *stack);
            if (stack == NULL)
                goto oom;
            uint32_t *opened = stack + ev->n + 1u;
            uint32_t sp = 0, top = 0;
            double last = 0;
            for (uint32_t e = 0; e < ev->n; e++) {
                const pf_json *x = &ev->items[e];
                const pf_json *et = pf_json_get(x, "type"), *fr = pf_json_get(x, "frame"),
                              *at = pf_json_get(x, "at");
                if (!et || et->type != PF_JSON_STRING || !fr || fr->type != PF_JSON_NUMBER ||
                    !at || at->type != PF_JSON_NUMBER || fr->num < 0 || fr->num >= frames->n ||
                    fr->num != floor(fr->num)) {
                    pf_error_set(err, PF_EPARSE, "speedscope profile %u, event %u: needs type, "
                                 "frame (an index into shared.frames) and at", p, e);
                    goto fail;
                }
                uint32_t frame = (uint32_t)fr->num;
                if (e > 0 && at->num > last)
                    s.n[top].self += (at->num - last) * factor;
                if (at->num > last || e == 0)
                    last = at->num;
                if (strcmp(et->str, "O") == 0) {
                    opened[sp] = frame;
                    stack[sp++] = top;
                    if (!self_frame[frame]) {
                        top = child_of(&s, top, frame);
                        if (top == PF_NONE)
                            goto oom;
                        s.n[top].calls += 1;
                    }
                } else if (strcmp(et->str, "C") == 0 && sp > 0 && opened[sp - 1] == frame) {
                    top = stack[--sp];
                } else {
                    pf_error_set(err, PF_EPARSE, "speedscope profile %u, event %u: closes a frame "
                                 "that is not open", p, e);
                    goto fail;
                }
            }
        } else if (type && type->type == PF_JSON_STRING && strcmp(type->str, "sampled") == 0) {
            const pf_json *samples = pf_json_get(pr, "samples"), *weights = pf_json_get(pr, "weights");
            if (!samples || samples->type != PF_JSON_ARRAY ||
                (weights && (weights->type != PF_JSON_ARRAY || weights->n != samples->n))) {
                pf_error_set(err, PF_EPARSE, "speedscope profile %u: samples and weights are not "
                             "arrays of one length", p);
                goto fail;
            }
            for (uint32_t k = 0; k < samples->n; k++) {
                const pf_json *stk = &samples->items[k];
                double w = weights ? weights->items[k].num : 1;
                if (stk->type != PF_JSON_ARRAY || (weights && weights->items[k].type != PF_JSON_NUMBER)) {
                    pf_error_set(err, PF_EPARSE, "speedscope profile %u, sample %u is not a stack "
                                 "of frame indices with a weight", p, k);
                    goto fail;
                }
                uint32_t node = 0;
                for (uint32_t d = 0; d < stk->n; d++) {
                    const pf_json *fr = &stk->items[d];
                    if (fr->type != PF_JSON_NUMBER || fr->num < 0 || fr->num >= frames->n ||
                        fr->num != floor(fr->num)) {
                        pf_error_set(err, PF_EPARSE, "speedscope profile %u, sample %u: frame %u "
                                     "is not an index into shared.frames", p, k, d);
                        goto fail;
                    }
                    if (self_frame[(uint32_t)fr->num])
                        continue;
                    node = child_of(&s, node, (uint32_t)fr->num);
                    if (node == PF_NONE)
                        goto oom;
                    s.n[node].calls += 1;
                }
                if (w > 0)
                    s.n[node].self += w * factor;
            }
        } else {
            pf_error_set(err, PF_EPARSE, "speedscope profile %u: unknown type (evented and "
                         "sampled are known)", p);
            goto fail;
        }
        if (s.count <= 1)
            continue;
        /* the profile as a thread: its nodes in pre-order, totals summed bottom-up */
        pf_thread th = { p, pf_strtab_intern_cstr(t->strings, pname && pname->type == PF_JSON_STRING
                                                                  ? pname->str : "profile") };
        uint32_t ti = th.name == PF_STR_NONE ? PF_NONE : pf_trace_add_thread(t, &th);
        if (ti == PF_NONE)
            goto oom;
        pf_free(order);
        order = pf_malloc(sizeof *order * s.count * 2);
        if (order == NULL)
            goto oom;
        uint32_t base = t->nnodes, *map = order + s.count;
        uint32_t sp = 0;
        for (uint32_t c = s.n[0].first_child, rev = 0; c != PF_NONE; c = s.n[c].next_sibling)
            order[sp++] = c, rev++;
        /* reverse the roots so the first comes out first */
        for (uint32_t a = 0, b = sp; a + 1 < b; a++, b--) {
            uint32_t x = order[a];
            order[a] = order[b - 1];
            order[b - 1] = x;
        }
        while (sp > 0) {
            uint32_t i = order[--sp];
            const struct snode *sn = &s.n[i];
            pf_node nd;
            memset(&nd, 0, sizeof nd);
            nd.parent = sn->parent == 0 ? PF_NONE : map[sn->parent];
            nd.thread = ti;
            nd.code = sn->frame;
            nd.calls = to_u64(sn->calls);
            nd.self_ns = to_u64(sn->self);
            map[i] = pf_trace_add_node(t, &nd);
            if (map[i] == PF_NONE)
                goto oom;
            uint32_t from = sp;
            for (uint32_t c = sn->first_child; c != PF_NONE; c = s.n[c].next_sibling)
                order[sp++] = c;
            for (uint32_t a = from, b = sp; a + 1 < b; a++, b--) {
                uint32_t x = order[a];
                order[a] = order[b - 1];
                order[b - 1] = x;
            }
        }
        for (uint32_t i = t->nnodes; i-- > base;) {
            t->nodes[i].total_ns += t->nodes[i].self_ns;
            if (t->nodes[i].parent != PF_NONE)
                t->nodes[t->nodes[i].parent].total_ns += t->nodes[i].total_ns;
            else if (t->nodes[i].total_ns > t->meta.duration_ns)
                t->meta.duration_ns = t->nodes[i].total_ns;
        }
    }
    if (t->nnodes == 0) {
        pf_error_set(err, PF_EEMPTY, "the speedscope file holds no samples or events");
        goto fail;
    }
    for (uint32_t i = 0; i < t->nnodes; i++)
        t->meta.total_calls += t->nodes[i].calls;
    t->mem.limit = 0;
    goto done;
oom:
    if (t && t->mem.refused)
        pf_error_set(err, PF_ELIMIT, "the speedscope profile exceeds the decoding budget "
                     "(raise it with --max-memory)");
    else
        pf_error_set(err, PF_ENOMEM, NULL);
fail:
    pf_trace_free(t);
    t = NULL;
done:
    pf_free(s.n);
    pf_hmap_free(s.kids);
    pf_free(stack);
    pf_free(order);
    pf_free(self_frame);
    pf_json_free(doc);
    return t;
}

/* ---- entry points ------------------------------------------------------------------- */

pf_trace *pf_foreign_read_mem(const void *data, size_t len, int kind, pf_error *err)
{
    if (kind == PF_INPUT_PSTATS)
        return from_pstats(data, len, PF_BUDGET_DEFAULT, err);
    if (kind == PF_INPUT_SPEEDSCOPE)
        return from_speedscope(data, len, PF_BUDGET_DEFAULT, err);
    pf_error_set(err, PF_EUSAGE, "not a foreign profile kind");
    return NULL;
}

pf_trace *pf_foreign_read_input(pf_input *in, int kind, pf_error *err)
{
    /* the whole file in memory, within the budget (both formats are read at once) */
    uint64_t budget = pf_input_budget(in);
    unsigned char *buf = NULL;
    size_t len = 0, cap = 0;
    const unsigned char *p;
    size_t n;
    int r;
    while ((r = pf_input_next(in, &p, &n, err)) > 0) {
        if (len + n > budget) {
            pf_free(buf);
            pf_error_set(err, PF_ELIMIT, "the profile is larger than the %llu-byte decoding "
                         "budget (raise it with --max-memory)", (unsigned long long)budget);
            return NULL;
        }
        if (len + n > cap) {
            size_t ncap = cap ? cap * 2 : 1 << 20;
            while (ncap < len + n)
                ncap *= 2;
            unsigned char *nb = pf_realloc(buf, ncap);
            if (nb == NULL) {
                pf_free(buf);
                pf_error_set(err, PF_ENOMEM, NULL);
                return NULL;
            }
            buf = nb;
            cap = ncap;
        }
        memcpy(buf + len, p, n);
        len += n;
    }
    pf_trace *t = NULL;
    if (r == 0) {
        uint64_t left = budget > len ? budget - len : 1;
        t = kind == PF_INPUT_PSTATS ? from_pstats(buf, len, left, err)
            : kind == PF_INPUT_SPEEDSCOPE ? from_speedscope(buf, len, left, err) : NULL;
        if (t == NULL && kind != PF_INPUT_PSTATS && kind != PF_INPUT_SPEEDSCOPE)
            pf_error_set(err, PF_EUSAGE, "not a foreign profile kind");
    }
    pf_free(buf);
    return t;
}
