/* diff.c: the comparison model of `pyflame-c diff` (contract in diff.h): runs are
 * reduced to per-side tables, then matched.
 *
 * Per side.  Each run adds its functions (keyed by qualified name, short file, first
 * line, native or not) and lines (keyed by function and line) to the side's tables,
 * with one value vector per run; a function absent from a run is 0 there.  Medians
 * are taken at finish.  Inclusive time counts a function's outermost activations only
 * (one depth-first walk with a count of open activations per function, as
 * convert/funcstats.c does per pstats key), so recursion never counts twice.
 *
 * Matching (finish).  Files first: a file of BASE only and one of NEW only that share
 * at least half the qualified names of the smaller one are a rename.  Then functions,
 * grouped by (qualified name, file after renames): equal first lines pair first, the
 * rest pair in line order.  Then lines, function by function (see diff.h).  The stack
 * trees are matched by diff_stacks.c.
 */
#include "diff.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "diff_internal.h"
#include "framename.h"
#include "hash.h"
#include "hashmap.h"
#include "textdiff.h"

#define PF_DM_NAME_(code, name, words) name,
#define PF_DM_WORDS_(code, name, words) words,
const char *const pf_dm_names[PF_DM_COUNT] = { PF_DM_LIST(PF_DM_NAME_) };
const char *const pf_dm_words[PF_DM_COUNT] = { PF_DM_LIST(PF_DM_WORDS_) };
const char *const pf_dt_names[PF_DT_COUNT] = { PF_DT_LIST(PF_DM_NAME_) };
const char *const pf_dt_words[PF_DT_COUNT] = { PF_DT_LIST(PF_DM_WORDS_) };
#undef PF_DM_NAME_
#undef PF_DM_WORDS_

int pf_dm_unit(enum pf_dm m)
{
    switch (m) {
    case PF_DM_SELF_TIME: case PF_DM_TIME: return PF_DM_UNIT_NS;
    case PF_DM_ALLOC_BYTES: case PF_DM_PEAK_BYTES: case PF_DM_EXIT_BYTES: return PF_DM_UNIT_BYTES;
    default: return PF_DM_UNIT_COUNT;
    }
}

int pf_dt_unit(enum pf_dt m)
{
    switch (m) {
    case PF_DT_WALL: case PF_DT_TIME: return PF_DM_UNIT_NS;
    case PF_DT_ALLOC_BYTES: case PF_DT_PEAK: case PF_DT_EXIT_BYTES: case PF_DT_RSS:
        return PF_DM_UNIT_BYTES;
    default: return PF_DM_UNIT_COUNT;
    }
}

void pf_diff_opts_init(pf_diff_opts *o)
{
    memset(o, 0, sizeof *o);
    o->metric = PF_METRIC_SELF_TIME;
}

double pf_diff_ratio(double base, double now)
{
    if (base == 0)
        return now > 0 ? INFINITY : 0;
    return (now - base) / base;
}

const char *pf_diff_str(const pf_diff *d, uint32_t id, size_t *len)
{
    const char *s = id == PF_NONE ? NULL : pf_strtab_get(d->strings, id, len);
    if (s == NULL) {
        s = "";
        if (len)
            *len = 0;
    }
    return s;
}

/* ---- growable arrays ------------------------------------------------------------- */

int pf_diff_grow_(void **p, uint32_t *cap, uint32_t need, size_t size)
{
    if (need <= *cap)
        return 0;
    uint32_t nc = *cap ? *cap : 64;
    while (nc < need)
        nc = nc > UINT32_MAX / 2 ? UINT32_MAX : nc * 2;
    void *q = pf_reallocarray(*p, nc, size);
    if (q == NULL)
        return -1;
    *p = q;
    *cap = nc;
    return 0;
}
#define GROW(arr, cap, need) pf_diff_grow_((void **)&(arr), &(cap), (need), sizeof *(arr))

/* ---- sides ----------------------------------------------------------------------- */

pf_diff *pf_diff_new(const pf_diff_opts *opts)
{
    pf_diff *d = pf_calloc(1, sizeof *d);
    if (d == NULL)
        return NULL;
    if (opts)
        d->opts = *opts;
    else
        pf_diff_opts_init(&d->opts);
    d->priv = pf_calloc(1, sizeof *d->priv);
    d->strings = pf_strtab_new();
    d->vanished_node = PF_NONE;
    d->norm_factor = 1;
    d->traces = -1;
    if (d->priv == NULL || d->strings == NULL) {
        pf_diff_free(d);
        return NULL;
    }
    for (int s = 0; s < 2; s++) {
        struct pf_diff_sidedata *sd = &d->priv->side[s];
        sd->fmap = pf_hmap_new(256);
        sd->lmap = pf_hmap_new(256);
        if (sd->fmap == NULL || sd->lmap == NULL) {
            pf_diff_free(d);
            return NULL;
        }
    }
    return d;
}

static void side_free(struct pf_diff_sidedata *sd)
{
    pf_free(sd->f);
    pf_free(sd->l);
    pf_hmap_free(sd->fmap);
    pf_hmap_free(sd->lmap);
    for (uint32_t r = 0; r < sd->nruns; r++) {
        pf_free(sd->run[r].fv);
        pf_free(sd->run[r].lv);
        pf_free(sd->run[r].tv);
    }
    pf_free(sd->run);
    pf_free(sd->src_of_str);
    pf_free(sd->lorder);
}

void pf_diff_free(pf_diff *d)
{
    if (d == NULL)
        return;
    if (d->priv) {
        for (int s = 0; s < 2; s++) {
            side_free(&d->priv->side[s]);
            pf_free(d->priv->out_sfunc[s]);
        }
        pf_free(d->priv->nset);
        pf_free(d->priv->nrank);
        pf_free(d->priv->stub);
        pf_free(d->priv);
    }
    pf_stacktree_free(d->stacks);
    for (int s = 0; s < 2; s++)
        pf_trace_free((pf_trace *)d->trace[s]);
    pf_strtab_free(d->strings);
    pf_free(d->funcs);
    pf_free(d->lines);
    pf_free(d->files);
    pf_free(d);
}

/* A new run record on side sd.  NULL when out of memory. */
static struct pf_diff_run *new_run(struct pf_diff_sidedata *sd)
{
    if (GROW(sd->run, sd->cap_runs, sd->nruns + 1) < 0)
        return NULL;
    struct pf_diff_run *r = &sd->run[sd->nruns++];
    memset(r, 0, sizeof *r);
    return r;
}

struct fkey_ctx {
    const struct pf_diff_sidedata *sd;
    uint32_t name, file, line;
    int native;
};

static int fkey_eq(void *ctx, uint32_t i)
{
    const struct fkey_ctx *k = ctx;
    const struct pf_diff_sfunc *f = &k->sd->f[i];
    return f->name == k->name && f->file == k->file && f->line == k->line && f->native == k->native;
}

/* The side's function (name, file, line, native), added if new; PF_NONE when out of
 * memory. */
static uint32_t side_func(struct pf_diff_sidedata *sd, uint32_t name, uint32_t file,
                          uint32_t line, int native)
{
    struct fkey_ctx k = { sd, name, file, line, native };
    uint64_t h = pf_hash_pair(pf_hash_pair(name, file), (uint64_t)line << 1 | (unsigned)native);
    uint32_t i = pf_hmap_find(sd->fmap, h, fkey_eq, &k);
    if (i != PF_HMAP_NONE)
        return i;
    if (GROW(sd->f, sd->cap_f, sd->nf + 1) < 0 || pf_hmap_add(sd->fmap, h, sd->nf) < 0)
        return PF_NONE;
    struct pf_diff_sfunc *f = &sd->f[sd->nf];
    memset(f, 0, sizeof *f);
    f->name = name;
    f->file = file;
    f->line = line;
    f->native = native;
    f->code = PF_NONE;
    f->match = PF_NONE;
    return sd->nf++;
}

static uint32_t side_line(struct pf_diff_sidedata *sd, uint32_t func, uint32_t line)
{
    uint64_t key = (uint64_t)func << 32 | line;
    int ins;
    uint32_t *slot = pf_hmap_slot(sd->lmap, key, &ins);
    if (slot == NULL)
        return PF_NONE;
    if (!ins)
        return *slot;
    if (GROW(sd->l, sd->cap_l, sd->nl + 1) < 0) {
        *slot = PF_NONE;          /* never found again: the caller fails anyway */
        return PF_NONE;
    }
    memset(&sd->l[sd->nl], 0, sizeof sd->l[sd->nl]);
    sd->l[sd->nl].func = func;
    sd->l[sd->nl].line = line;
    *slot = sd->nl;
    return sd->nl++;
}

/* Interns s[0..n) in the model's strings; PF_NONE when out of memory. */
static uint32_t str(pf_diff *d, const char *s, size_t n)
{
    uint32_t id = pf_strtab_intern(d->strings, s ? s : "", s ? n : 0);
    return id == PF_STR_NONE ? PF_NONE : id;
}

/* ---- compatibility ----------------------------------------------------------------- */

#define MODE_BITS (PF_MODE_CALLS | PF_MODE_LINES | PF_MODE_MEMORY | PF_MODE_SAMPLES)

static void major_minor(const char *v, char *out, size_t cap)
{
    /* "3.11.7" -> "3.11" */
    size_t n = 0;
    int dots = 0;
    if (v == NULL)
        v = "";
    while (v[n] && n + 1 < cap) {
        if (v[n] == '.' && ++dots == 2)
            break;
        if (!(v[n] == '.' || (v[n] >= '0' && v[n] <= '9')))
            break;
        n++;
    }
    memcpy(out, v, n);
    out[n] = '\0';
}

static void mode_words(uint32_t m, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s%s%s", m & PF_MODE_SAMPLES ? "samples" :
                                 m & PF_MODE_CALLS ? "calls" : "-",
             m & PF_MODE_LINES ? "+lines" : "", m & PF_MODE_MEMORY ? "+memory" : "");
}

/* Appends "; " (unless first) and what to buf, truncated to cap - 1 bytes. */
static void append(char *buf, size_t cap, const char *what)
{
    size_t n = strlen(buf);
    if (n && n + 2 < cap) {
        memcpy(buf + n, "; ", 2);
        n += 2;
    }
    size_t w = strlen(what);
    if (n + w >= cap)
        w = cap - 1 - n;
    memcpy(buf + n, what, w);
    buf[n + w] = '\0';
}

/* Compares t with the first trace added; 0, or -1 with err (refused) or a note in
 * d->forced (with force). */
static int check_compatible(pf_diff *d, int side, const pf_trace *t, const char *label,
                            pf_error *err)
{
    struct pf_diff_priv *p = d->priv;
    if (p->first == NULL) {
        p->first = t;
        snprintf(p->first_label, sizeof p->first_label, "%s", label);
        return 0;
    }
    const pf_trace *f = p->first;
    char why[512] = "", a[64], b[64], one[1024];
    uint32_t ma = f->meta.modes & MODE_BITS, mb = t->meta.modes & MODE_BITS;
    if (ma != mb) {
        mode_words(ma, a, sizeof a);
        mode_words(mb, b, sizeof b);
        snprintf(one, sizeof one, "modes differ: %s recorded %s, %s recorded %s", p->first_label,
                 a, label, b);
        append(why, sizeof why, one);
    }
    if (pf_trace_clock_is_cpu(f) != pf_trace_clock_is_cpu(t)) {
        snprintf(one, sizeof one, "clocks differ: %s measured %s, %s measured %s", p->first_label,
                 pf_trace_clock_words(f), label, pf_trace_clock_words(t));
        append(why, sizeof why, one);
    }
    major_minor(f->meta.python_version, a, sizeof a);
    major_minor(t->meta.python_version, b, sizeof b);
    if (strcmp(a, b) != 0) {
        snprintf(one, sizeof one, "Python versions differ: %s ran %s, %s ran %s", p->first_label,
                 f->meta.python_version ? f->meta.python_version : "an unknown version", label,
                 t->meta.python_version ? t->meta.python_version : "an unknown version");
        append(why, sizeof why, one);
    } else if (f->meta.python_version && t->meta.python_version &&
               strcmp(f->meta.python_version, t->meta.python_version) != 0 && !d->warning[0]) {
        snprintf(d->warning, sizeof d->warning, "Python patch levels differ: %s ran %s, %s ran %s",
                 p->first_label, f->meta.python_version, label, t->meta.python_version);
    }
    (void)side;
    if (why[0] == '\0')
        return 0;
    if (!d->opts.force)
        return pf_error_set(err, PF_EMISMATCH, "not comparable: %s (--force compares them anyway)",
                            why);
    if (d->forced[0] == '\0')
        snprintf(d->forced, sizeof d->forced, "%s", why);
    return 0;
}

/* ---- one trace run ---------------------------------------------------------------- */

/* A code's function key in the model's strings. */
struct ckey {
    uint32_t name, file, line, code;
    int native;
};

static int cmp_ckey(const void *a, const void *b)
{
    const struct ckey *x = a, *y = b;
    if (x->name != y->name)
        return x->name < y->name ? -1 : 1;
    if (x->file != y->file)
        return x->file < y->file ? -1 : 1;
    if (x->native != y->native)
        return x->native < y->native ? -1 : 1;
    if (x->line != y->line)
        return x->line < y->line ? -1 : 1;
    return (x->code > y->code) - (x->code < y->code);
}

struct group_ctx {
    const struct pf_diff_sidedata *sd;
    const struct ckey *k;
    const unsigned char *taken;
    uint32_t nf0;
    uint32_t *out;
    uint32_t n, cap;
    int oom;
};

/* Collects the side's functions of k's (name, file, native) that the run did not take. */
static int group_eq(void *ctx, uint32_t i)
{
    struct group_ctx *c = ctx;
    const struct pf_diff_sfunc *f = &c->sd->f[i];
    if (i < c->nf0 && !c->taken[i] && f->name == c->k->name && f->file == c->k->file &&
        f->native == c->k->native) {
        if (GROW(c->out, c->cap, c->n + 1) < 0)
            c->oom = 1;
        else
            c->out[c->n++] = i;
    }
    return 0;
}

static const struct pf_diff_sidedata *sort_side;
static int cmp_side_line(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    uint32_t lx = sort_side->f[x].line, ly = sort_side->f[y].line;
    if (lx != ly)
        return lx < ly ? -1 : 1;
    return (x > y) - (x < y);
}

/* Per code of t: its side function (PF_NONE for a code no node or line uses), and in
 * shift[c] what moves the code's line numbers onto that function's.  The side's first
 * run makes a function per key (qualified name, file, first line, native); a later run
 * matches its keys to the side's functions by the rule BASE and NEW match by: a key
 * takes the function of equal key, then the rest of each (name, file) pair with the
 * functions of that name and file it did not take, in line order; what is left is a
 * new function.  0, or -1 when out of memory. */
static int code_funcs(pf_diff *d, struct pf_diff_sidedata *sd, const pf_trace *t,
                      uint32_t *cf, int32_t *shift, int first)
{
    uint32_t nc = t->ncodes, nf0 = sd->nf, np = 0;
    int later = sd->nruns > 1;
    struct ckey *k = pf_malloc((nc ? nc : 1) * sizeof *k);
    unsigned char *taken = later ? pf_calloc(nf0 ? nf0 : 1, 1) : NULL;
    pf_hmap *groups = NULL;
    struct group_ctx gc = { sd, NULL, taken, nf0, NULL, 0, 0, 0 };
    int rc = -1;
    if (k == NULL || (later && taken == NULL))
        goto done;
    for (uint32_t c = 0; c < nc; c++) {
        const pf_code *code = &t->codes[c];
        size_t qn, fn;
        const char *q = pf_strtab_get(t->strings, code->qualname, &qn);
        if (q == NULL || qn == 0)
            q = pf_strtab_get(t->strings, code->name, &qn);
        if (q == NULL)
            q = "?", qn = 1;
        int native = code->kind == PF_CODE_NATIVE;
        const char *file = native ? "" : pf_strtab_get(t->strings, code->file, &fn);
        if (file == NULL || native)
            file = "", fn = 0;
        size_t sn;
        const char *sf = pf_path_short(t, file, fn, &sn);
        uint32_t qid = str(d, q, qn), fid = str(d, sf, sn);
        if (qid == PF_NONE || fid == PF_NONE)
            goto done;
        k[c] = (struct ckey){ qid, fid, native ? 0 : code->first_line, c, native };
        shift[c] = 0;
        cf[c] = PF_NONE;
        if (later) {
            /* equal keys first: the side's function of this very key */
            struct fkey_ctx fk = { sd, qid, fid, k[c].line, native };
            uint64_t h = pf_hash_pair(pf_hash_pair(qid, fid), (uint64_t)k[c].line << 1 | (unsigned)native);
            uint32_t i = pf_hmap_find(sd->fmap, h, fkey_eq, &fk);
            if (i != PF_HMAP_NONE && i < nf0) {
                cf[c] = i;
                taken[i] = 1;
            } else {
                k[np++] = k[c];             /* matched below (np <= c) */
            }
        } else if ((cf[c] = side_func(sd, qid, fid, k[c].line, native)) == PF_NONE) {
            goto done;
        }
    }
    if (np > 0) {
        /* the rest, by (name, file): in line order against what the run did not take */
        groups = pf_hmap_new(nf0);
        if (groups == NULL)
            goto done;
        for (uint32_t i = 0; i < nf0; i++)
            if (pf_hmap_add(groups, pf_hash_pair(sd->f[i].name, sd->f[i].file), i) < 0)
                goto done;
        qsort(k, np, sizeof *k, cmp_ckey);
        for (uint32_t a = 0; a < np;) {
            uint32_t e = a + 1;
            while (e < np && k[e].name == k[a].name && k[e].file == k[a].file &&
                   k[e].native == k[a].native)
                e++;
            gc.k = &k[a];
            gc.n = 0;
            pf_hmap_find(groups, pf_hash_pair(k[a].name, k[a].file), group_eq, &gc);
            if (gc.oom)
                goto done;
            sort_side = sd;
            if (gc.n > 1)
                qsort(gc.out, gc.n, sizeof *gc.out, cmp_side_line);
            uint32_t y = 0;
            for (uint32_t x = a; x < e; x++) {
                uint32_t c = k[x].code;
                if (x > a && k[x].line == k[x - 1].line) {      /* the same key */
                    cf[c] = cf[k[x - 1].code];
                    shift[c] = shift[k[x - 1].code];
                    continue;
                }
                if (y < gc.n) {
                    uint32_t i = gc.out[y++];
                    cf[c] = i;
                    taken[i] = 1;
                    shift[c] = (int32_t)((int64_t)sd->f[i].line - (int64_t)k[x].line);
                } else if ((cf[c] = side_func(sd, k[x].name, k[x].file, k[x].line,
                                              k[x].native)) == PF_NONE) {
                    goto done;
                }
            }
            a = e;
        }
    }
    if (first)
        for (uint32_t c = 0; c < nc; c++)
            if (sd->f[cf[c]].code == PF_NONE) {
                sd->f[cf[c]].code = c;
                sd->f[cf[c]].full_file = t->codes[c].file;
            }
    rc = 0;
done:
    pf_free(k);
    pf_free(taken);
    pf_free(gc.out);
    pf_hmap_free(groups);
    return rc;
}

static int add_u(double *a, double b)
{
    *a += b;
    return 0;
}

/* Function values of one run: calls, self time, memory by node; inclusive time by a
 * walk that counts each function's outermost activations only. */
static int run_funcs(struct pf_diff_sidedata *sd, struct pf_diff_run *r, const pf_trace *t,
                     const uint32_t *cf, pf_error *err)
{
    uint32_t nn = t->nnodes;
    size_t na = nn ? nn : 1;
    uint32_t *first_child = pf_malloc(na * sizeof *first_child);
    uint32_t *next = pf_malloc(na * sizeof *next);
    uint32_t *stack = pf_malloc(na * sizeof *stack), *cursor = pf_malloc(na * sizeof *cursor);
    uint32_t *open = pf_calloc(sd->nf ? sd->nf : 1, sizeof *open);
    r->nfv = sd->nf;
    r->fv = pf_calloc((size_t)(sd->nf ? sd->nf : 1) * PF_DM_COUNT, sizeof *r->fv);
    int rc = -1;
    if (!first_child || !next || !stack || !cursor || !open || !r->fv) {
        pf_error_set(err, PF_ENOMEM, NULL);
        goto done;
    }
    for (uint32_t i = 0; i < nn; i++) {
        const pf_node *n = &t->nodes[i];
        if (n->code >= t->ncodes || (n->parent != PF_NONE && n->parent >= i)) {
            pf_error_set(err, PF_ECORRUPT, "call record %u: bad parent or code index", i);
            goto done;
        }
        first_child[i] = PF_NONE;
    }
    for (uint32_t i = nn; i-- > 0;) {
        const pf_node *n = &t->nodes[i];
        next[i] = PF_NONE;
        if (n->parent != PF_NONE) {
            next[i] = first_child[n->parent];
            first_child[n->parent] = i;
        }
    }
    for (uint32_t i = 0; i < nn; i++) {
        const pf_node *n = &t->nodes[i];
        double *v = &r->fv[(size_t)cf[n->code] * PF_DM_COUNT];
        const pf_mem *m = pf_trace_node_mem(t, i);
        add_u(&v[PF_DM_CALLS], (double)n->calls);
        add_u(&v[PF_DM_SELF_TIME], (double)n->self_ns);
        add_u(&v[PF_DM_ALLOC_COUNT], (double)m->alloc_count);
        add_u(&v[PF_DM_ALLOC_BYTES], (double)m->alloc_bytes);
        add_u(&v[PF_DM_PEAK_BYTES], (double)m->peak_bytes);
        add_u(&v[PF_DM_EXIT_BYTES], (double)m->exit_bytes);
        r->tot[PF_DT_TIME] += (double)n->self_ns;
        r->tot[PF_DT_ALLOC_BYTES] += (double)m->alloc_bytes;
        r->tot[PF_DT_ALLOC_COUNT] += (double)m->alloc_count;
        r->tot[PF_DT_EXIT_BYTES] += (double)m->exit_bytes;
        r->tot[PF_DT_CALLS] += (double)n->calls;
    }
    /* inclusive time: outermost activations of each function */
    for (uint32_t root = 0; root < nn; root++) {
        if (t->nodes[root].parent != PF_NONE)
            continue;
        size_t sp = 0;
        stack[sp] = root;
        cursor[sp++] = first_child[root];
        uint32_t f = cf[t->nodes[root].code];
        if (open[f]++ == 0)
            r->fv[(size_t)f * PF_DM_COUNT + PF_DM_TIME] += (double)t->nodes[root].total_ns;
        while (sp > 0) {
            uint32_t c = cursor[sp - 1];
            if (c == PF_NONE) {
                open[cf[t->nodes[stack[--sp]].code]]--;
                continue;
            }
            cursor[sp - 1] = next[c];
            f = cf[t->nodes[c].code];
            if (open[f]++ == 0)
                r->fv[(size_t)f * PF_DM_COUNT + PF_DM_TIME] += (double)t->nodes[c].total_ns;
            stack[sp] = c;
            cursor[sp++] = first_child[c];
        }
    }
    rc = 0;
done:
    pf_free(first_child);
    pf_free(next);
    pf_free(stack);
    pf_free(cursor);
    pf_free(open);
    return rc;
}

/* Line values of one run; a code's lines move by shift[code] (its function matched one
 * of the side's at another first line: the lines keep their offset from it). */
static int run_lines(struct pf_diff_sidedata *sd, struct pf_diff_run *r, const pf_trace *t,
                     const uint32_t *cf, const int32_t *shift, pf_error *err)
{
    uint32_t *li = pf_malloc((t->nlines ? t->nlines : 1) * sizeof *li);
    if (li == NULL)
        return pf_error_set(err, PF_ENOMEM, NULL);
    for (uint32_t i = 0; i < t->nlines; i++) {
        const pf_line *l = &t->lines[i];
        if (l->code >= t->ncodes) {
            pf_free(li);
            return pf_error_set(err, PF_ECORRUPT, "line record %u: bad code index", i);
        }
        int64_t ln = (int64_t)l->line + shift[l->code];
        li[i] = side_line(sd, cf[l->code], ln >= 1 && ln <= UINT32_MAX - 1 ? (uint32_t)ln : l->line);
        if (li[i] == PF_NONE) {
            pf_free(li);
            return pf_error_set(err, PF_ENOMEM, NULL);
        }
    }
    r->nlv = sd->nl;
    r->lv = pf_calloc((size_t)(sd->nl ? sd->nl : 1) * PF_DM_COUNT, sizeof *r->lv);
    if (r->lv == NULL) {
        pf_free(li);
        return pf_error_set(err, PF_ENOMEM, NULL);
    }
    for (uint32_t i = 0; i < t->nlines; i++) {
        const pf_line *l = &t->lines[i];
        double *v = &r->lv[(size_t)li[i] * PF_DM_COUNT];
        v[PF_DM_CALLS] += (double)l->hits;
        v[PF_DM_SELF_TIME] += (double)l->self_ns;
        /* inclusive values of codes sharing a line nest: the largest, not the sum */
        v[PF_DM_TIME] = fmax(v[PF_DM_TIME], (double)l->total_ns);
        v[PF_DM_ALLOC_COUNT] = fmax(v[PF_DM_ALLOC_COUNT], (double)l->mem.alloc_count);
        v[PF_DM_ALLOC_BYTES] = fmax(v[PF_DM_ALLOC_BYTES], (double)l->mem.alloc_bytes);
        v[PF_DM_PEAK_BYTES] = fmax(v[PF_DM_PEAK_BYTES], (double)l->mem.peak_bytes);
        v[PF_DM_EXIT_BYTES] = fmax(v[PF_DM_EXIT_BYTES], (double)l->mem.exit_bytes);
    }
    pf_free(li);
    return 0;
}

int pf_diff_add_trace(pf_diff *d, int side, pf_trace *t, const char *label, pf_error *err)
{
    struct pf_diff_sidedata *sd = &d->priv->side[side & 1];
    uint32_t *cf = NULL;
    int32_t *shift = NULL;
    int keep = 0;
    if (d->traces == 0) {
        pf_trace_free(t);
        return pf_error_set(err, PF_EMISMATCH, "%s is a trace but the other inputs are "
                            "collapsed stacks: both sides must be of one kind", label);
    }
    d->traces = 1;
    if (check_compatible(d, side, t, label, err) < 0)
        goto fail;
    if (t->nnodes == 0) {
        pf_error_set(err, PF_EEMPTY, "%s has no call records", label);
        goto fail;
    }
    int first = d->trace[side & 1] == NULL;
    struct pf_diff_run *r = new_run(sd);
    cf = pf_malloc((t->ncodes ? t->ncodes : 1) * sizeof *cf);
    shift = pf_malloc((t->ncodes ? t->ncodes : 1) * sizeof *shift);
    if (r == NULL || cf == NULL || shift == NULL || code_funcs(d, sd, t, cf, shift, first) < 0) {
        pf_error_set(err, PF_ENOMEM, NULL);
        goto fail;
    }
    if (!d->opts.no_tables &&
        (run_funcs(sd, r, t, cf, err) < 0 || run_lines(sd, r, t, cf, shift, err) < 0))
        goto fail;
    if (d->opts.no_tables)
        for (uint32_t i = 0; i < t->nnodes; i++)
            r->tot[PF_DT_CALLS] += (double)t->nodes[i].calls;
    r->tot[PF_DT_WALL] = (double)t->meta.duration_ns;
    if (t->meta.total_calls)
        r->tot[PF_DT_CALLS] = (double)t->meta.total_calls;
    r->tot[PF_DT_PEAK] = (double)t->meta.peak_live_bytes;
    for (uint32_t i = 0; i < t->nrss; i++)
        r->tot[PF_DT_RSS] = fmax(r->tot[PF_DT_RSS], (double)t->rss[i].peak_bytes);
    /* what this run can say */
    int mem = (t->meta.modes & PF_MODE_MEMORY) != 0;
    int has[PF_DM_COUNT] = { 0 };
    has[PF_DM_CALLS] = has[PF_DM_SELF_TIME] = has[PF_DM_TIME] = 1;
    has[PF_DM_ALLOC_COUNT] = has[PF_DM_ALLOC_BYTES] = has[PF_DM_PEAK_BYTES] =
        has[PF_DM_EXIT_BYTES] = mem;
    int ht[PF_DT_COUNT] = { 0 };
    ht[PF_DT_WALL] = ht[PF_DT_CALLS] = ht[PF_DT_TIME] = 1;
    ht[PF_DT_ALLOC_BYTES] = ht[PF_DT_ALLOC_COUNT] = ht[PF_DT_PEAK] = ht[PF_DT_EXIT_BYTES] = mem;
    ht[PF_DT_RSS] = t->nrss > 0;
    for (int m = 0; m < PF_DM_COUNT; m++)
        sd->has[m] = sd->nruns == 1 ? has[m] : sd->has[m] && has[m];
    for (int m = 0; m < PF_DT_COUNT; m++)
        sd->has_total[m] = sd->nruns == 1 ? ht[m] : sd->has_total[m] && ht[m];
    sd->has_lines = sd->nruns == 1 ? t->nlines > 0 : sd->has_lines && t->nlines > 0;
    if (first) {
        d->trace[side & 1] = t;
        keep = 1;
        snprintf(d->clock[side & 1], sizeof d->clock[0], "%s", pf_trace_clock_words(t));
        snprintf(d->python[side & 1], sizeof d->python[0], "%s",
                 t->meta.python_version ? t->meta.python_version : "");
    }
    if (!d->opts.no_stacks) {
        /* straight into the one tree of both sides, in this side's column */
        if (pf_diff_stacks_begin_(d, 1 << (side & 1), err) < 0)
            goto fail;
        if (pf_stacktree_add_trace(d->stacks, t, (side & 1) + 1, err) < 0) {
            pf_diff_stacks_abort_(d);
            goto fail;
        }
        if (pf_diff_stacks_end_(d, 1 << (side & 1), err) < 0)
            goto fail;
    }
    pf_free(cf);
    pf_free(shift);
    d->nruns[side & 1]++;
    if (keep) {
        /* a kept trace serves its codes, strings and sources; its calls are extracted */
        pf_free(t->nodes);
        t->nodes = NULL;
        t->nnodes = t->cap_nodes = 0;
        pf_free(t->node_mem);
        t->node_mem = NULL;
        t->cap_node_mem = 0;
    }
    if (!keep) {
        pf_trace_free(t);
    }
    return 0;
fail:
    pf_free(cf);
    pf_free(shift);
    if (d->priv->first == t)
        d->priv->first = NULL;
    if (!keep)
        pf_trace_free(t);
    return -1;
}

/* Refuses stacks after traces.  0, or -1 with err set. */
static int stacks_kind(pf_diff *d, const char *label, pf_error *err)
{
    if (d->traces == 1)
        return pf_error_set(err, PF_EMISMATCH, "%s holds collapsed stacks but the other inputs "
                            "are traces: both sides must be of one kind", label);
    d->traces = 0;
    return 0;
}

/* Records one collapsed run of each side in `sides` whose total is the side's column
 * total (the run was just added). */
static int stacks_run(pf_diff *d, int sides, pf_error *err)
{
    for (int s = 0; s < 2; s++) {
        if (!(sides >> s & 1))
            continue;
        struct pf_diff_sidedata *sd = &d->priv->side[s];
        struct pf_diff_run *r = new_run(sd);
        if (r == NULL)
            return pf_error_set(err, PF_ENOMEM, NULL);
        r->tot[PF_DT_SAMPLES] = d->priv->run_total[s];
        sd->has[PF_DM_SELF_SAMPLES] = sd->has[PF_DM_SAMPLES] = 1;
        sd->has_total[PF_DT_SAMPLES] = 1;
        d->nruns[s]++;
    }
    return 0;
}

int pf_diff_add_stacks(pf_diff *d, int side, pf_stacktree *t, const char *label, pf_error *err)
{
    int s = side & 1, rc = -1;
    if (stacks_kind(d, label, err) < 0)
        goto done;
    if (pf_stacktree_finish(t, err) < 0)
        goto done;
    if (t->has_count2) {
        pf_error_set(err, PF_EPARSE, "%s has lines with two counts (\"stack before "
                     "after\", a differential file), where one was expected", label);
        goto done;
    }
    if (pf_diff_stacks_begin_(d, 1 << s, err) < 0)
        goto done;
    if (pf_diff_stacks_add_tree_(d, s, t, err) < 0) {
        pf_diff_stacks_abort_(d);
        goto done;
    }
    if (pf_diff_stacks_end_(d, 1 << s, err) < 0 || stacks_run(d, 1 << s, err) < 0)
        goto done;
    rc = 0;
done:
    pf_stacktree_free(t);
    return rc;
}

int pf_diff_add_stacks_input(pf_diff *d, int side, pf_input *in, size_t chunk,
                             const pf_collapsed_opts *copts, const char *label, pf_error *err)
{
    int sides = side == PF_DIFF_BOTH_SIDES ? 3 : 1 << (side & 1);
    if (stacks_kind(d, label, err) < 0 || pf_diff_stacks_begin_(d, sides, err) < 0)
        return -1;
    if (pf_stacktree_load_input_column(d->stacks, in, chunk, sides == 3 ? 0 : (side & 1) + 1,
                                       copts, err) < 0) {
        pf_diff_stacks_abort_(d);
        return -1;
    }
    if (pf_diff_stacks_end_(d, sides, err) < 0)
        return -1;
    return stacks_run(d, sides, err);
}

/* ---- medians ------------------------------------------------------------------------ */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double pf_diff_median_(double *v, uint32_t n)
{
    if (n == 0)
        return 0;
    if (n == 1)
        return v[0];
    qsort(v, n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Medians of the side's functions into sf->med, of its lines into sl->med. */
static int side_medians(struct pf_diff_sidedata *sd, double tot[PF_DT_COUNT])
{
    uint32_t k = sd->nruns;
    double *v = pf_malloc((k ? k : 1) * sizeof *v);
    if (v == NULL)
        return -1;
    for (uint32_t i = 0; i < sd->nf; i++)
        for (int m = 0; m < PF_DM_COUNT; m++) {
            for (uint32_t r = 0; r < k; r++)
                v[r] = i < sd->run[r].nfv ? sd->run[r].fv[(size_t)i * PF_DM_COUNT + m] : 0;
            sd->f[i].med[m] = pf_diff_median_(v, k);
        }
    for (uint32_t i = 0; i < sd->nl; i++)
        for (int m = 0; m < PF_DM_COUNT; m++) {
            for (uint32_t r = 0; r < k; r++)
                v[r] = i < sd->run[r].nlv ? sd->run[r].lv[(size_t)i * PF_DM_COUNT + m] : 0;
            sd->l[i].med[m] = pf_diff_median_(v, k);
        }
    for (int m = 0; m < PF_DT_COUNT; m++) {
        for (uint32_t r = 0; r < k; r++)
            v[r] = sd->run[r].tot[m];
        tot[m] = pf_diff_median_(v, k);
    }
    pf_free(v);
    return 0;
}

/* ---- files and functions ------------------------------------------------------------ */

struct collect_ctx {
    const struct pf_diff_sidedata *sd;
    uint32_t name, file;          /* file PF_NONE: any file */
    uint32_t *out;
    uint32_t n, cap;
    int oom;
};

static int collect_eq(void *ctx, uint32_t i)
{
    struct collect_ctx *c = ctx;
    const struct pf_diff_sfunc *f = &c->sd->f[i];
    if (f->name == c->name && (c->file == PF_NONE || f->file == c->file)) {
        if (GROW(c->out, c->cap, c->n + 1) < 0)
            c->oom = 1;
        else
            c->out[c->n++] = i;
    }
    return 0;                     /* keep looking: every candidate is collected */
}

/* Files of side s's Python functions with data: marks used files in `in[s]`. */
struct fileset {
    unsigned char *in[2];         /* per model string id */
    uint32_t n;
};

static int func_has_data(const struct pf_diff_sfunc *f)
{
    for (int m = 0; m < PF_DM_COUNT; m++)
        if (f->med[m] != 0)
            return 1;
    return f->nlines > 0;
}

/* Pairs files of BASE only with files of NEW only that share qualified names, into
 * d->files (renames first), and sets each BASE function's efile. */
static int match_files(pf_diff *d)
{
    struct pf_diff_sidedata *b = &d->priv->side[0], *n = &d->priv->side[1];
    uint32_t ns = pf_strtab_count(d->strings);
    struct fileset fs = { { pf_calloc(ns + 1, 1), pf_calloc(ns + 1, 1) }, ns };
    uint32_t *rename = pf_malloc((ns + 1) * sizeof *rename);
    uint32_t *count = pf_calloc(ns + 1, sizeof *count), *nfb = pf_calloc(ns + 1, sizeof *nfb);
    uint32_t *nfn = pf_calloc(ns + 1, sizeof *nfn);
    pf_hmap *byname = pf_hmap_new(n->nf);
    uint32_t *bfiles = NULL, nbf = 0, cap_bf = 0, *nfiles = NULL, nnf = 0, cap_nf = 0;
    struct collect_ctx cc = { n, 0, PF_NONE, NULL, 0, 0, 0 };
    int rc = -1;
    if (!fs.in[0] || !fs.in[1] || !rename || !count || !nfb || !nfn || !byname)
        goto done;
    for (uint32_t i = 0; i <= ns; i++)
        rename[i] = PF_NONE;
    for (uint32_t i = 0; i < b->nf; i++)
        if (!b->f[i].native && func_has_data(&b->f[i])) {
            fs.in[0][b->f[i].file] = 1;
            nfb[b->f[i].file]++;
        }
    for (uint32_t i = 0; i < n->nf; i++)
        if (!n->f[i].native && func_has_data(&n->f[i])) {
            fs.in[1][n->f[i].file] = 1;
            nfn[n->f[i].file]++;
        }
    for (uint32_t i = 0; i < ns; i++) {
        if (fs.in[0][i] && !fs.in[1][i]) {
            if (GROW(bfiles, cap_bf, nbf + 1) < 0)
                goto done;
            bfiles[nbf++] = i;
        } else if (fs.in[1][i] && !fs.in[0][i]) {
            if (GROW(nfiles, cap_nf, nnf + 1) < 0)
                goto done;
            nfiles[nnf++] = i;
        }
    }
    /* NEW functions of NEW-only files, by name */
    for (uint32_t i = 0; i < n->nf; i++)
        if (!n->f[i].native && fs.in[1][n->f[i].file] && !fs.in[0][n->f[i].file] &&
            pf_hmap_add(byname, pf_hash_u64(n->f[i].name), i) < 0)
            goto done;
    unsigned char *taken = pf_calloc(ns + 1, 1);
    if (taken == NULL)
        goto done;
    for (uint32_t k = 0; k < nbf; k++) {
        uint32_t bf = bfiles[k];
        /* count shared names per candidate file */
        uint32_t *touched = NULL, nt = 0, cap_t = 0;
        for (uint32_t i = 0; i < b->nf; i++) {
            if (b->f[i].file != bf || b->f[i].native)
                continue;
            cc.name = b->f[i].name;
            cc.n = 0;
            pf_hmap_find(byname, pf_hash_u64(cc.name), collect_eq, &cc);
            if (cc.oom) {
                pf_free(touched);
                pf_free(taken);
                goto done;
            }
            for (uint32_t c = 0; c < cc.n; c++) {
                uint32_t nf = n->f[cc.out[c]].file;
                if (count[nf]++ == 0) {
                    if (GROW(touched, cap_t, nt + 1) < 0) {
                        pf_free(touched);
                        pf_free(taken);
                        goto done;
                    }
                    touched[nt++] = nf;
                }
            }
        }
        uint32_t best = PF_NONE;
        for (uint32_t c = 0; c < nt; c++) {
            uint32_t f = touched[c];
            uint32_t small = nfb[bf] < nfn[f] ? nfb[bf] : nfn[f];
            if (!taken[f] && 2 * count[f] >= small && (best == PF_NONE || count[f] > count[best]))
                best = f;
        }
        if (best != PF_NONE) {
            rename[bf] = best;
            taken[best] = 1;
        }
        for (uint32_t c = 0; c < nt; c++)
            count[touched[c]] = 0;
        pf_free(touched);
    }
    /* the list: renames, then vanished files, then new files */
    uint32_t total = nbf + nnf;
    d->files = pf_calloc(total ? total : 1, sizeof *d->files);
    if (d->files == NULL) {
        pf_free(taken);
        goto done;
    }
    for (uint32_t k = 0; k < nbf; k++)
        if (rename[bfiles[k]] != PF_NONE)
            d->files[d->nfiles++] = (pf_diff_file){ { bfiles[k], rename[bfiles[k]] }, 0 };
    d->nrenamed = d->nfiles;
    for (uint32_t k = 0; k < nbf; k++)
        if (rename[bfiles[k]] == PF_NONE)
            d->files[d->nfiles++] = (pf_diff_file){ { bfiles[k], PF_NONE }, nfb[bfiles[k]] };
    for (uint32_t k = 0; k < nnf; k++)
        if (!taken[nfiles[k]])
            d->files[d->nfiles++] = (pf_diff_file){ { PF_NONE, nfiles[k] }, nfn[nfiles[k]] };
    pf_free(taken);
    for (uint32_t i = 0; i < b->nf; i++)
        b->f[i].efile = b->f[i].native || rename[b->f[i].file] == PF_NONE ? b->f[i].file
                                                                            : rename[b->f[i].file];
    rc = 0;
done:
    pf_free(fs.in[0]);
    pf_free(fs.in[1]);
    pf_free(rename);
    pf_free(count);
    pf_free(nfb);
    pf_free(nfn);
    pf_hmap_free(byname);
    pf_free(bfiles);
    pf_free(nfiles);
    pf_free(cc.out);
    return rc;
}

static const struct pf_diff_sidedata *sort_sd;
static int cmp_by_line(const void *a, const void *b)
{
    uint32_t x = sort_sd->f[*(const uint32_t *)a].line, y = sort_sd->f[*(const uint32_t *)b].line;
    if (x != y)
        return x < y ? -1 : 1;
    return (*(const uint32_t *)a > *(const uint32_t *)b) - (*(const uint32_t *)a < *(const uint32_t *)b);
}

/* Matches BASE functions to NEW functions (sets .match on both sides). */
static int match_funcs(pf_diff *d)
{
    struct pf_diff_sidedata *b = &d->priv->side[0], *n = &d->priv->side[1];
    pf_hmap *nk = pf_hmap_new(n->nf), *bk = pf_hmap_new(b->nf);
    unsigned char *done_b = pf_calloc(b->nf ? b->nf : 1, 1);
    struct collect_ctx cn = { n, 0, 0, NULL, 0, 0, 0 }, cb = { b, 0, 0, NULL, 0, 0, 0 };
    int rc = -1;
    if (!nk || !bk || !done_b)
        goto done;
    for (uint32_t i = 0; i < n->nf; i++)
        if (pf_hmap_add(nk, pf_hash_u64(n->f[i].name), i) < 0)
            goto done;
    /* BASE functions by name too, so each (name, file) group is handled once */
    for (uint32_t i = 0; i < b->nf; i++)
        if (pf_hmap_add(bk, pf_hash_u64(b->f[i].name), i) < 0)
            goto done;
    for (uint32_t i = 0; i < b->nf; i++) {
        if (done_b[i])
            continue;
        /* the group: BASE functions of this name and (renamed) file, NEW ones likewise */
        cb.name = b->f[i].name;
        cb.file = PF_NONE;
        cb.n = 0;
        pf_hmap_find(bk, pf_hash_u64(cb.name), collect_eq, &cb);
        cn.name = b->f[i].name;
        cn.file = b->f[i].efile;
        cn.n = 0;
        pf_hmap_find(nk, pf_hash_u64(cn.name), collect_eq, &cn);
        if (cb.oom || cn.oom)
            goto done;
        uint32_t g = 0;
        for (uint32_t k = 0; k < cb.n; k++)
            if (b->f[cb.out[k]].efile == b->f[i].efile && b->f[cb.out[k]].native == b->f[i].native)
                cb.out[g++] = cb.out[k];
        cb.n = g;
        g = 0;
        for (uint32_t k = 0; k < cn.n; k++)
            if (n->f[cn.out[k]].native == b->f[i].native)
                cn.out[g++] = cn.out[k];
        cn.n = g;
        sort_sd = b;
        if (cb.n > 1)
            qsort(cb.out, cb.n, sizeof *cb.out, cmp_by_line);
        sort_sd = n;
        if (cn.n > 1)
            qsort(cn.out, cn.n, sizeof *cn.out, cmp_by_line);
        for (uint32_t k = 0; k < cb.n; k++)
            done_b[cb.out[k]] = 1;
        /* equal first lines, then the rest in line order */
        for (uint32_t x = 0; x < cb.n; x++)
            for (uint32_t y = 0; y < cn.n; y++)
                if (n->f[cn.out[y]].match == PF_NONE &&
                    b->f[cb.out[x]].line == n->f[cn.out[y]].line) {
                    b->f[cb.out[x]].match = cn.out[y];
                    n->f[cn.out[y]].match = cb.out[x];
                    break;
                }
        uint32_t y = 0;
        for (uint32_t x = 0; x < cb.n; x++) {
            if (b->f[cb.out[x]].match != PF_NONE)
                continue;
            while (y < cn.n && n->f[cn.out[y]].match != PF_NONE)
                y++;
            if (y == cn.n)
                break;
            b->f[cb.out[x]].match = cn.out[y];
            n->f[cn.out[y]].match = cb.out[x];
        }
    }
    rc = 0;
done:
    pf_hmap_free(nk);
    pf_hmap_free(bk);
    pf_free(done_b);
    pf_free(cn.out);
    pf_free(cb.out);
    return rc;
}

/* ---- sources ------------------------------------------------------------------------ */

/* The source index of trace t for its string id `file`, through a lazily built map
 * (PF_NONE when not embedded). */
static uint32_t source_of(struct pf_diff_sidedata *sd, const pf_trace *t, uint32_t file)
{
    if (t == NULL || file == PF_NONE)
        return PF_NONE;
    uint32_t ns = pf_strtab_count(t->strings);
    if (sd->src_of_str == NULL) {
        sd->src_of_str = pf_malloc((ns ? ns : 1) * sizeof *sd->src_of_str);
        if (sd->src_of_str == NULL)
            return PF_NONE;
        for (uint32_t i = 0; i < ns; i++)
            sd->src_of_str[i] = PF_NONE;
        for (uint32_t s = t->nsources; s-- > 0;) {
            uint32_t p = t->sources[s].path;
            if (p < ns)
                sd->src_of_str[p] = s;
        }
    }
    if (file < ns && sd->src_of_str[file] != PF_NONE)
        return sd->src_of_str[file];
    /* by content, for a string id that differs from the source's */
    size_t fl;
    const char *fp = pf_strtab_get(t->strings, file, &fl);
    for (uint32_t s = 0; fp && s < t->nsources; s++) {
        size_t pl;
        const char *pp = pf_strtab_get(t->strings, t->sources[s].path, &pl);
        if (pp && pl == fl && memcmp(pp, fp, fl) == 0)
            return s;
    }
    return PF_NONE;
}

static size_t indent_of(const char *p, size_t n)
{
    size_t i = 0;
    while (i < n && (p[i] == ' ' || p[i] == '\t'))
        i++;
    return i;
}

static int starts(const char *p, size_t n, const char *w)
{
    size_t k = strlen(w);
    return n >= k && memcmp(p, w, k) == 0;
}

/* The last line (1-based) of the body that starts at line `first` of lines[0..n):
 * a def or class (after decorators) extends over the following lines that are blank
 * or indented deeper; a module is the whole file; anything else its own line. */
static uint32_t body_end(const pf_td_line *l, uint32_t n, uint32_t first, int module)
{
    if (first == 0 || first > n)
        return first;
    if (module)
        return n;
    uint32_t i = first - 1;
    size_t ind = indent_of(l[i].p, l[i].n);
    /* skip decorators to the def line */
    while (i < n && starts(l[i].p + indent_of(l[i].p, l[i].n), l[i].n - indent_of(l[i].p, l[i].n), "@"))
        i++;
    if (i >= n)
        return first;
    const char *p = l[i].p + indent_of(l[i].p, l[i].n);
    size_t pn = l[i].n - indent_of(l[i].p, l[i].n);
    if (!starts(p, pn, "def ") && !starts(p, pn, "async def ") && !starts(p, pn, "class "))
        return first;
    uint32_t last = i + 1;
    for (uint32_t j = i + 1; j < n; j++) {
        size_t k = indent_of(l[j].p, l[j].n);
        int blank = k == l[j].n || (k + 1 == l[j].n && l[j].p[k] == '\r');
        if (blank)
            continue;
        if (k <= ind)
            break;
        last = j + 1;
    }
    return last;
}

/* The side's source lines of function f (a sfunc of side s) into *lines (borrowed
 * text; caller frees the array), the whole file, and its body range [*first, *last].
 * 0, or -1 when there is no source. */
static int func_body(pf_diff *d, int s, const struct pf_diff_sfunc *f, pf_td_line **lines,
                     uint32_t *nlines, uint32_t *first, uint32_t *last)
{
    const pf_trace *t = d->trace[s];
    struct pf_diff_sidedata *sd = &d->priv->side[s];
    *lines = NULL;
    if (t == NULL || f->native || f->code == PF_NONE)
        return -1;
    uint32_t src = source_of(sd, t, f->full_file);
    if (src == PF_NONE)
        return -1;
    pf_error e;
    if (pf_td_split(t->sources[src].text, t->sources[src].len, lines, nlines, &e) < 0)
        return -1;
    size_t qn;
    const char *q = pf_diff_str(d, f->name, &qn);
    int module = qn == 8 && memcmp(q, "<module>", 8) == 0;
    *first = f->line ? f->line : 1;
    if (*first > *nlines) {
        pf_free(*lines);
        *lines = NULL;
        return -1;
    }
    *last = body_end(*lines, *nlines, *first, module);
    /* lines with data past the heuristic's end belong to it too */
    for (uint32_t i = f->first_line_idx; i < f->first_line_idx + f->nlines; i++) {
        uint32_t ln = sd->l[sd->lorder[i]].line;
        if (ln > *last && ln <= *nlines)
            *last = ln;
    }
    return 0;
}

int pf_diff_func_source(const pf_diff *d, uint32_t f, int s, const char **text, size_t *len,
                        uint32_t *first_line)
{
    if (f >= d->nfuncs)
        return -1;
    const pf_diff_func *fn = &d->funcs[f];
    uint32_t sf = d->priv->fmap_out[s] ? d->priv->out_sfunc[s][f] : PF_NONE;
    if (sf == PF_NONE)
        return -1;
    const struct pf_diff_sfunc *x = &d->priv->side[s].f[sf];
    pf_td_line *l;
    uint32_t n, first, last;
    if (func_body((pf_diff *)d, s, x, &l, &n, &first, &last) < 0)
        return -1;
    (void)fn;
    *text = l[first - 1].p;
    *len = (size_t)(l[last - 1].p + l[last - 1].n - l[first - 1].p);
    *first_line = first;
    pf_free(l);
    return 0;
}

/* ---- building the output tables ------------------------------------------------------- */

static int cmp_sline(const void *a, const void *b)
{
    const struct pf_diff_sline *x = &sort_sd->l[*(const uint32_t *)a];
    const struct pf_diff_sline *y = &sort_sd->l[*(const uint32_t *)b];
    if (x->func != y->func)
        return x->func < y->func ? -1 : 1;
    return (x->line > y->line) - (x->line < y->line);
}

/* Orders each side's lines by function then line and points each function at its run. */
static int order_lines(struct pf_diff_sidedata *sd)
{
    sd->lorder = pf_malloc((sd->nl ? sd->nl : 1) * sizeof *sd->lorder);
    if (sd->lorder == NULL)
        return -1;
    for (uint32_t i = 0; i < sd->nl; i++)
        sd->lorder[i] = i;
    sort_sd = sd;
    qsort(sd->lorder, sd->nl, sizeof *sd->lorder, cmp_sline);
    for (uint32_t i = 0; i < sd->nl; i++) {
        struct pf_diff_sfunc *f = &sd->f[sd->l[sd->lorder[i]].func];
        if (f->nlines++ == 0)
            f->first_line_idx = i;
    }
    return 0;
}

static int out_func(pf_diff *d, uint32_t bi, uint32_t ni)
{
    struct pf_diff_sidedata *b = &d->priv->side[0], *n = &d->priv->side[1];
    if (GROW(d->funcs, d->priv->cap_funcs, d->nfuncs + 1) < 0)
        return -1;
    pf_diff_func *f = &d->funcs[d->nfuncs];
    memset(f, 0, sizeof *f);
    const struct pf_diff_sfunc *x = bi != PF_NONE ? &b->f[bi] : NULL, *y = ni != PF_NONE ? &n->f[ni] : NULL;
    f->status = x && y ? PF_DIFF_BOTH : y ? PF_DIFF_ADDED : PF_DIFF_VANISHED;
    f->name = y ? y->name : x->name;
    f->file = y ? y->file : x->file;
    f->base_file = x ? x->file : f->file;
    f->native = y ? y->native : x->native;
    f->line[0] = x ? x->line : 0;
    f->line[1] = y ? y->line : 0;
    f->code[0] = x ? x->code : PF_NONE;
    f->code[1] = y ? y->code : PF_NONE;
    for (int m = 0; m < PF_DM_COUNT; m++) {
        f->v[0][m] = x ? x->med[m] : 0;
        f->v[1][m] = y ? y->med[m] : 0;
    }
    d->priv->out_sfunc[0][d->nfuncs] = bi;
    d->priv->out_sfunc[1][d->nfuncs] = ni;
    d->nfuncs++;
    return 0;
}

static int add_line_row(pf_diff *d, uint32_t func, uint32_t lb, uint32_t ln, uint32_t kind,
                        const double *vb, const double *vn)
{
    if (GROW(d->lines, d->priv->cap_lines, d->nlines + 1) < 0)
        return -1;
    pf_diff_line *l = &d->lines[d->nlines++];
    memset(l, 0, sizeof *l);
    l->func = func;
    l->line[0] = lb;
    l->line[1] = ln;
    l->kind = kind;
    for (int m = 0; m < PF_DM_COUNT; m++) {
        l->v[0][m] = vb ? vb[m] : 0;
        l->v[1][m] = vn ? vn[m] : 0;
        if (l->v[0][m] != 0 || l->v[1][m] != 0)
            l->has_data = 1;
    }
    return 0;
}

/* The median vector of side line (func, line), or NULL. */
static const double *line_vals(struct pf_diff_sidedata *sd, uint32_t func, uint32_t line)
{
    if (func == PF_NONE || line == 0)
        return NULL;
    uint32_t i = pf_hmap_get(sd->lmap, (uint64_t)func << 32 | line);
    return i == PF_HMAP_NONE ? NULL : sd->l[i].med;
}

/* Rows of output function o: aligned bodies when both sides have sources, else by
 * offset from the first line. */
static int func_lines(pf_diff *d, uint32_t o)
{
    struct pf_diff_sidedata *b = &d->priv->side[0], *n = &d->priv->side[1];
    uint32_t bi = d->priv->out_sfunc[0][o], ni = d->priv->out_sfunc[1][o];
    const struct pf_diff_sfunc *x = bi != PF_NONE ? &b->f[bi] : NULL, *y = ni != PF_NONE ? &n->f[ni] : NULL;
    uint32_t start = d->nlines;
    int rc = -1;
    pf_td_line *la = NULL, *lb = NULL;
    pf_td_row *rows = NULL;
    uint32_t na = 0, nb = 0, fa = 0, ea = 0, fb = 0, eb = 0, nrows = 0;
    if ((x == NULL || x->nlines == 0) && (y == NULL || y->nlines == 0))
        goto ok;
    int srca = x && func_body(d, 0, x, &la, &na, &fa, &ea) == 0;
    int srcb = y && func_body(d, 1, y, &lb, &nb, &fb, &eb) == 0;
    if (x && y && srca && srcb) {
        pf_error e;
        if (pf_td_align(la + fa - 1, ea - fa + 1, lb + fb - 1, eb - fb + 1, &rows, &nrows, &e) < 0)
            goto done;
        d->has_sources = 1;
        for (uint32_t r = 0; r < nrows; r++) {
            uint32_t a = rows[r].a == PF_TD_NONE ? 0 : fa + rows[r].a;
            uint32_t c = rows[r].b == PF_TD_NONE ? 0 : fb + rows[r].b;
            if (add_line_row(d, o, a, c, rows[r].kind, line_vals(b, bi, a), line_vals(n, ni, c)) < 0)
                goto done;
        }
        /* lines with data outside both bodies (never expected): keep them */
        for (uint32_t i = x->first_line_idx; i < x->first_line_idx + x->nlines; i++) {
            uint32_t ln = b->l[b->lorder[i]].line;
            if (ln < fa || ln > ea)
                if (add_line_row(d, o, ln, 0, PF_TD_DELETED, b->l[b->lorder[i]].med, NULL) < 0)
                    goto done;
        }
        for (uint32_t i = y->first_line_idx; i < y->first_line_idx + y->nlines; i++) {
            uint32_t ln = n->l[n->lorder[i]].line;
            if (ln < fb || ln > eb)
                if (add_line_row(d, o, 0, ln, PF_TD_INSERTED, NULL, n->l[n->lorder[i]].med) < 0)
                    goto done;
        }
    } else if (x && y) {
        /* no source on one side: by offset from the first line, merged in order */
        uint32_t i = x->first_line_idx, ie = i + x->nlines;
        uint32_t j = y->first_line_idx, je = j + y->nlines;
        int64_t shift = (int64_t)y->line - (int64_t)x->line;
        while (i < ie || j < je) {
            const struct pf_diff_sline *p = i < ie ? &b->l[b->lorder[i]] : NULL;
            const struct pf_diff_sline *q = j < je ? &n->l[n->lorder[j]] : NULL;
            int64_t pl = p ? (int64_t)p->line + shift : INT64_MAX, ql = q ? (int64_t)q->line : INT64_MAX;
            if (pl == ql) {
                if (add_line_row(d, o, p->line, q->line, PF_TD_EQUAL, p->med, q->med) < 0)
                    goto done;
                i++, j++;
            } else if (pl < ql) {
                if (add_line_row(d, o, p->line, 0, PF_TD_DELETED, p->med, NULL) < 0)
                    goto done;
                i++;
            } else {
                if (add_line_row(d, o, 0, q->line, PF_TD_INSERTED, NULL, q->med) < 0)
                    goto done;
                j++;
            }
        }
    } else {
        const struct pf_diff_sidedata *sd = x ? b : n;
        const struct pf_diff_sfunc *z = x ? x : y;
        for (uint32_t i = z->first_line_idx; i < z->first_line_idx + z->nlines; i++) {
            const struct pf_diff_sline *p = &sd->l[sd->lorder[i]];
            if (add_line_row(d, o, x ? p->line : 0, x ? 0 : p->line,
                             x ? PF_TD_DELETED : PF_TD_INSERTED, x ? p->med : NULL,
                             x ? NULL : p->med) < 0)
                goto done;
        }
    }
ok:
    d->funcs[o].first_line_row = start;
    d->funcs[o].nline_rows = d->nlines - start;
    rc = 0;
done:
    pf_free(la);
    pf_free(lb);
    pf_free(rows);
    return rc;
}

static const pf_diff *sort_d;
static int cmp_out(const void *a, const void *b)
{
    const pf_diff_func *x = &sort_d->funcs[*(const uint32_t *)a];
    const pf_diff_func *y = &sort_d->funcs[*(const uint32_t *)b];
    if (x->status != y->status)
        return x->status < y->status ? -1 : 1;
    size_t xn, yn;
    const char *xs = pf_diff_str(sort_d, x->name, &xn), *ys = pf_diff_str(sort_d, y->name, &yn);
    int c = memcmp(xs, ys, xn < yn ? xn : yn);
    if (c || xn != yn)
        return c ? c : (xn < yn ? -1 : 1);
    xs = pf_diff_str(sort_d, x->file, &xn);
    ys = pf_diff_str(sort_d, y->file, &yn);
    c = memcmp(xs, ys, xn < yn ? xn : yn);
    if (c || xn != yn)
        return c ? c : (xn < yn ? -1 : 1);
    uint32_t lx = x->line[1] ? x->line[1] : x->line[0], ly = y->line[1] ? y->line[1] : y->line[0];
    return (lx > ly) - (lx < ly);
}

/* Sorts funcs (BOTH by name, then ADDED, then VANISHED) keeping out_sfunc in step. */
static int sort_funcs(pf_diff *d)
{
    uint32_t n = d->nfuncs;
    uint32_t *ord = pf_malloc((n ? n : 1) * sizeof *ord);
    pf_diff_func *nf = pf_malloc((n ? n : 1) * sizeof *nf);
    uint32_t *s0 = pf_malloc((n ? n : 1) * sizeof *s0), *s1 = pf_malloc((n ? n : 1) * sizeof *s1);
    if (!ord || !nf || !s0 || !s1) {
        pf_free(ord);
        pf_free(nf);
        pf_free(s0);
        pf_free(s1);
        return -1;
    }
    for (uint32_t i = 0; i < n; i++)
        ord[i] = i;
    sort_d = d;
    qsort(ord, n, sizeof *ord, cmp_out);
    for (uint32_t i = 0; i < n; i++) {
        nf[i] = d->funcs[ord[i]];
        s0[i] = d->priv->out_sfunc[0][ord[i]];
        s1[i] = d->priv->out_sfunc[1][ord[i]];
    }
    pf_free(d->funcs);
    pf_free(d->priv->out_sfunc[0]);
    pf_free(d->priv->out_sfunc[1]);
    d->funcs = nf;
    d->priv->cap_funcs = n;
    d->priv->out_sfunc[0] = s0;
    d->priv->out_sfunc[1] = s1;
    pf_free(ord);
    return 0;
}

/* ---- collapsed stacks: functions from the merged tree ---------------------------- */

/* Functions of a collapsed comparison: one per frame name of the merged tree, with
 * self and inclusive values per column (inclusive: outermost occurrences only).  What
 * vanished sits under d->vanished_node, its roots' places held by leaves of their
 * totals (priv->stub): BASE's self values are those of the other nodes plus the
 * section's, and the walk for inclusive values goes on, at such a leaf, into the
 * children of its copy. */
static int stack_funcs(pf_diff *d)
{
    pf_stacktree *t = d->stacks;
    struct pf_diff_sidedata *b = &d->priv->side[0], *n = &d->priv->side[1];
    uint32_t nn = t->nnodes, names = pf_strtab_count(t->names);
    double (*v)[4] = pf_calloc(names ? names : 1, sizeof *v);
    uint32_t *open = pf_calloc(names ? names : 1, sizeof *open);
    uint32_t *stack = pf_malloc((nn ? nn : 1) * sizeof *stack), *cur = pf_malloc((nn ? nn : 1) * sizeof *cur);
    unsigned char *where = pf_calloc(nn ? nn : 1, 1);   /* 1 in the section, 2 a stub */
    pf_hmap *copy = pf_hmap_new(d->priv->nstub);
    int rc = -1;
    if (!v || !open || !stack || !cur || !where || !copy)
        goto done;
    uint32_t vanished = d->vanished_node;
    for (uint32_t k = 0; k < d->priv->nstub; k++) {
        uint32_t *slot = pf_hmap_slot(copy, d->priv->stub[2 * k], NULL);
        if (slot == NULL)
            goto done;
        *slot = d->priv->stub[2 * k + 1];
        where[d->priv->stub[2 * k]] = 2;
    }
    for (uint32_t i = 1; i < nn; i++) {
        uint32_t nm = t->nodes[i].name;
        if (i == vanished || where[t->nodes[i].parent] == 1)
            where[i] = 1;
        if (where[i] != 2)
            v[nm][0] += t->nodes[i].self;
        if (where[i] != 1)
            v[nm][1] += pf_stacktree_self2(t, i);
    }
    /* inclusive, walking below the root (the section reached through the stubs only) */
    size_t sp = 0;
    for (uint32_t c = t->nodes[0].first_child; c != PF_NONE; c = t->nodes[c].next_sibling) {
        if (c == vanished)
            continue;
        stack[sp] = c;
        cur[sp++] = t->nodes[where[c] == 2 ? pf_hmap_get(copy, c) : c].first_child;
        if (open[t->nodes[c].name]++ == 0) {
            v[t->nodes[c].name][2] += t->nodes[c].total;
            v[t->nodes[c].name][3] += pf_stacktree_total2(t, c);
        }
        while (sp > 0) {
            uint32_t k = cur[sp - 1];
            if (k == PF_NONE) {
                open[t->nodes[stack[--sp]].name]--;
                continue;
            }
            cur[sp - 1] = t->nodes[k].next_sibling;
            if (open[t->nodes[k].name]++ == 0) {
                /* in the section, the second column holds BASE's values too */
                v[t->nodes[k].name][2] += t->nodes[k].total;
                if (where[k] != 1)
                    v[t->nodes[k].name][3] += pf_stacktree_total2(t, k);
            }
            stack[sp] = k;
            cur[sp++] = t->nodes[where[k] == 2 ? pf_hmap_get(copy, k) : k].first_child;
        }
    }
    for (uint32_t nm = 0; nm < names; nm++) {
        if (v[nm][0] <= 0 && v[nm][1] <= 0 && v[nm][2] <= 0 && v[nm][3] <= 0)
            continue;
        size_t len;
        const char *s = pf_strtab_get(t->names, nm, &len);
        if (s == NULL)
            continue;
        struct pf_diff_fname fn;
        pf_diff_parse_frame_(s, len, &fn);
        uint32_t qid = str(d, fn.func, fn.func_len), fid = str(d, fn.file, fn.file_len);
        if (qid == PF_NONE || fid == PF_NONE)
            goto done;
        uint32_t bi = PF_NONE, ni = PF_NONE;
        if (v[nm][0] > 0 || v[nm][2] > 0) {
            bi = side_func(b, qid, fid, fn.line, 0);
            if (bi == PF_NONE)
                goto done;
            b->f[bi].med[PF_DM_SELF_SAMPLES] = v[nm][0];
            b->f[bi].med[PF_DM_SAMPLES] = v[nm][2];
        }
        if (v[nm][1] > 0 || v[nm][3] > 0) {
            ni = side_func(n, qid, fid, fn.line, 0);
            if (ni == PF_NONE)
                goto done;
            n->f[ni].med[PF_DM_SELF_SAMPLES] = v[nm][1];
            n->f[ni].med[PF_DM_SAMPLES] = v[nm][3];
        }
        if (bi != PF_NONE && ni != PF_NONE) {
            b->f[bi].match = ni;
            n->f[ni].match = bi;
        }
    }
    rc = 0;
done:
    pf_free(v);
    pf_free(open);
    pf_free(stack);
    pf_free(cur);
    pf_free(where);
    pf_hmap_free(copy);
    return rc;
}

/* ---- finish ----------------------------------------------------------------------- */

int pf_diff_finish(pf_diff *d, pf_error *err)
{
    struct pf_diff_sidedata *b = &d->priv->side[0], *n = &d->priv->side[1];
    if (d->nruns[0] == 0 || d->nruns[1] == 0)
        return pf_error_set(err, PF_EUSAGE, "both BASE and NEW need an input");
    for (int m = 0; m < PF_DM_COUNT; m++)
        d->has[m] = b->has[m] && n->has[m];
    for (int m = 0; m < PF_DT_COUNT; m++)
        d->has_total[m] = b->has_total[m] && n->has_total[m];
    if (side_medians(b, d->total[0]) < 0 || side_medians(n, d->total[1]) < 0)
        goto nomem;
    /* collapsed stacks are compared through their trees, whatever no_stacks says */
    if ((!d->opts.no_stacks || d->traces == 0) && pf_diff_stacks_(d, err) < 0)
        return -1;
    if (d->opts.no_tables)
        return 0;
    if (d->traces == 0) {
        if (stack_funcs(d) < 0)
            goto nomem;
    } else {
        if (order_lines(b) < 0 || order_lines(n) < 0)
            goto nomem;
        if (match_files(d) < 0 || match_funcs(d) < 0)
            goto nomem;
    }
    if (d->traces == 0) {
        /* collapsed: files are not known apart from names; nothing to list */
        for (uint32_t i = 0; i < b->nf; i++)
            b->f[i].efile = b->f[i].file;
    }
    uint32_t cap = b->nf + n->nf + 1;
    d->priv->out_sfunc[0] = pf_malloc(cap * sizeof(uint32_t));
    d->priv->out_sfunc[1] = pf_malloc(cap * sizeof(uint32_t));
    d->priv->fmap_out[0] = d->priv->fmap_out[1] = 1;
    if (!d->priv->out_sfunc[0] || !d->priv->out_sfunc[1])
        goto nomem;
    for (uint32_t i = 0; i < n->nf; i++)
        if (func_has_data(&n->f[i]) || (n->f[i].match != PF_NONE && func_has_data(&b->f[n->f[i].match])))
            if (out_func(d, n->f[i].match, i) < 0)
                goto nomem;
    for (uint32_t i = 0; i < b->nf; i++)
        if (b->f[i].match == PF_NONE && func_has_data(&b->f[i]))
            if (out_func(d, i, PF_NONE) < 0)
                goto nomem;
    if (sort_funcs(d) < 0)
        goto nomem;
    if (d->traces == 1)
        for (uint32_t o = 0; o < d->nfuncs; o++)
            if (func_lines(d, o) < 0)
                goto nomem;
    for (uint32_t k = 0; k < d->nrenamed; k++)
        for (uint32_t o = 0; o < d->nfuncs; o++)
            if (d->funcs[o].status == PF_DIFF_BOTH && d->funcs[o].file == d->files[k].path[1] &&
                d->funcs[o].base_file == d->files[k].path[0])
                d->files[k].nfuncs++;
    return 0;
nomem:
    return pf_error_set(err, PF_ENOMEM, NULL);
}
