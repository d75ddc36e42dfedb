/* diff_stacks.c: the differential stack tree of `pyflame-c diff` (see diff.h).
 *
 * One tree holds both sides: BASE's stacks in the first count column, NEW's in the
 * second.  Every run is added straight into it (a trace through
 * pf_stacktree_add_trace, collapsed text streamed by the column loader), frames
 * merging by exact name; no side gets a tree of its own.  The tree records which names
 * each run used, and the matching rule is applied to names afterwards, so only the
 * frames whose names moved are touched:
 *
 *  - A side's later runs: a name the run used that the side's earlier runs did not is
 *    matched to one of theirs by key (the name without its line, thread ident or
 *    process id), in line order, as functions are; the run's values under the matched
 *    names then move there (relocate).  The side's column holds the run being added;
 *    before the next one it is saved as that run's value vector, and the medians of the
 *    vectors fill it at the end.
 *  - BASE against NEW: equal names are one id already; each name of BASE only is
 *    matched to a name of NEW only by key, in line order, and BASE's values under
 *    matched names move to NEW's names.  The nodes they leave hold nothing and go.
 *
 * Node order.  Totals are floating-point sums, whose last bits depend on the order of
 * adding; the SVG prints them exactly.  So that they come out as from a tree of NEW
 * alone into which BASE's tree was merged, the nodes are put in that order before the
 * totals are made: NEW's nodes in the order NEW's runs reached them, then BASE's
 * others in the order BASE's did (reorder).  When every value is a multiple of 1/2
 * and they add up to little (sample counts, calls, bytes), every order gives the same
 * sums and the nodes stay as they are.
 *
 * Last, every stack found only in BASE moves under a frame of the root, so that what
 * vanished can be reached in a graph sized by NEW: its root stays in place as a leaf
 * holding its total (so nothing above it changes) and a node at its path under the
 * frame takes its children; the moved nodes are ordered as a depth-first copy would
 * have made them.  Nothing is copied, and no lookup is needed (the section's paths
 * are new by construction).
 *
 * Invariant: after every run, each name's side bits (priv->nset) say which sides
 * used it; a node's path holds names of one side only unless both used them.
 *
 * Cost: one tree of the union of the two sides' frames, one lookup per input frame,
 * a few linear passes (the reordering, the totals, the move), and work proportional to
 * the frames under moved names.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "diff_internal.h"
#include "hash.h"
#include "hashmap.h"
#include "stacktree_internal.h"

/* ---- frame names ---------------------------------------------------------------- */

static int all_digits(const char *p, size_t n)
{
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (p[i] < '0' || p[i] > '9')
            return 0;
    return 1;
}

static uint32_t to_u32(const char *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        v = v * 10 + (uint64_t)(p[i] - '0');
        if (v > UINT32_MAX - 1)
            return UINT32_MAX - 1;
    }
    return (uint32_t)v;
}

void pf_diff_parse_frame_(const char *s, size_t n, struct pf_diff_fname *o)
{
    memset(o, 0, sizeof *o);
    o->func = s;
    o->func_len = n;
    o->file = "";
    o->key = s;
    o->key_len = n;
    o->key_is_name = 1;
    /* "func (file:line)" */
    if (n >= 6 && s[n - 1] == ')') {
        const char *open = NULL;
        for (size_t i = n - 1; i-- > 0;)
            if (s[i] == '(' && i > 0 && s[i - 1] == ' ') {
                open = s + i;
                break;
            }
        if (open) {
            const char *in = open + 1, *end = s + n - 1;
            const char *colon = memrchr(in, ':', (size_t)(end - in));
            o->func_len = (size_t)(open - 1 - s);
            o->file = in;
            o->file_len = colon ? (size_t)(colon - in) : (size_t)(end - in);
            if (colon && all_digits(colon + 1, (size_t)(end - colon - 1))) {
                o->line = to_u32(colon + 1, (size_t)(end - colon - 1));
                o->key_len = (size_t)(colon - s);
                o->key_is_name = 0;
            }
            return;
        }
    }
    /* "pid N: command" (a process frame) */
    if (n > 5 && memcmp(s, "pid ", 4) == 0) {
        size_t i = 4;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
        if (i > 4 && i + 1 < n && s[i] == ':' && s[i + 1] == ' ') {
            o->line = to_u32(s + 4, i - 4);
            o->key = s + i + 2;
            o->key_len = n - i - 2;
            o->key_is_name = 0;
            return;
        }
    }
    /* "P4242" (austin's process frame) */
    if (n >= 2 && s[0] == 'P' && all_digits(s + 1, n - 1)) {
        o->line = to_u32(s + 1, n - 1);
        o->func_len = o->key_len = 1;
        o->key_is_name = 0;
        return;
    }
    /* "name [ident]" (a thread frame, or a process label made unique) */
    if (n >= 4 && s[n - 1] == ']') {
        const char *open = memrchr(s, '[', n);
        if (open && open > s && open[-1] == ' ' && all_digits(open + 1, (size_t)(s + n - 1 - open - 1))) {
            o->line = to_u32(open + 1, (size_t)(s + n - 1 - open - 1));
            o->func_len = o->key_len = (size_t)(open - 1 - s);
            o->key_is_name = 0;
            return;
        }
    }
    /* "file:func:line" (austin, gen_folded) */
    const char *last = memrchr(s, ':', n);
    if (last && last > s && all_digits(last + 1, (size_t)(s + n - last - 1))) {
        const char *prev = memrchr(s, ':', (size_t)(last - s));
        o->line = to_u32(last + 1, (size_t)(s + n - last - 1));
        o->key_len = (size_t)(last - s);
        o->key_is_name = 0;
        if (prev) {
            o->file = s;
            o->file_len = (size_t)(prev - s);
            o->func = prev + 1;
            o->func_len = (size_t)(last - prev - 1);
        } else {
            o->func_len = (size_t)(last - s);
        }
    }
}

/* ---- matching names -------------------------------------------------------------- */

struct nameinfo {
    struct pf_diff_fname f;
    int kind;                      /* 0 plain, 1 process (key is a suffix) */
};

static void name_info(const pf_stacktree *t, uint32_t id, struct nameinfo *ni)
{
    size_t len;
    const char *s = pf_strtab_get(t->names, id, &len);
    if (s == NULL)
        s = "", len = 0;
    pf_diff_parse_frame_(s, len, &ni->f);
    ni->kind = ni->f.key != s;
}

static int same_key(const struct nameinfo *a, const struct nameinfo *b)
{
    return a->kind == b->kind && a->f.key_len == b->f.key_len &&
           memcmp(a->f.key, b->f.key, a->f.key_len) == 0;
}

static const pf_stacktree *sort_tree;
static int cmp_name_line(const void *a, const void *b)
{
    struct nameinfo x, y;
    name_info(sort_tree, *(const uint32_t *)a, &x);
    name_info(sort_tree, *(const uint32_t *)b, &y);
    if (x.kind != y.kind)
        return x.kind < y.kind ? -1 : 1;
    size_t n = x.f.key_len < y.f.key_len ? x.f.key_len : y.f.key_len;
    int c = memcmp(x.f.key, y.f.key, n);
    if (c)
        return c;
    if (x.f.key_len != y.f.key_len)
        return x.f.key_len < y.f.key_len ? -1 : 1;
    if (x.f.line != y.f.line)
        return x.f.line < y.f.line ? -1 : 1;
    return (*(const uint32_t *)a > *(const uint32_t *)b) - (*(const uint32_t *)a < *(const uint32_t *)b);
}

/* Sorts ids[0..n) by (kind, key, line, id). */
static void sort_names(const pf_stacktree *t, uint32_t *ids, uint32_t n)
{
    sort_tree = t;
    if (n > 1)
        qsort(ids, n, sizeof *ids, cmp_name_line);
}

/* rename[id] for every name id of t: the name a `from` name (from[id] set, to[id] not)
 * becomes, or PF_NONE (it keeps its own).  A name in both sets is itself.  The rest of
 * `from` is grouped by key, and each group pairs in line order with the names of that
 * key found in `to` only.  Returns the number of names renamed, or -1 when out of
 * memory. */
static long match_names(const pf_stacktree *t, const unsigned char *from,
                        const unsigned char *to, uint32_t *rename)
{
    uint32_t nn = pf_strtab_count(t->names), nf = 0, nt = 0;
    uint32_t *f = pf_malloc((nn ? nn : 1) * sizeof *f);
    uint32_t *g = pf_malloc((nn ? nn : 1) * sizeof *g);
    long renamed = -1;
    if (f == NULL || g == NULL)
        goto done;
    for (uint32_t i = 0; i < nn; i++) {
        rename[i] = PF_NONE;
        if (from[i] && !to[i])
            f[nf++] = i;
        else if (to[i] && !from[i])
            g[nt++] = i;
    }
    renamed = 0;
    if (nf == 0 || nt == 0)
        goto done;
    /* both lists sorted by key then line: a group of `from` meets its candidates in
     * one merge-like walk */
    sort_names(t, f, nf);
    sort_names(t, g, nt);
    uint32_t y = 0;
    for (uint32_t a = 0; a < nf;) {
        struct nameinfo fi;
        name_info(t, f[a], &fi);
        uint32_t e = a + 1;
        for (; e < nf; e++) {
            struct nameinfo x;
            name_info(t, f[e], &x);
            if (!same_key(&x, &fi))
                break;
        }
        if (!fi.f.key_is_name) {
            /* the candidates: `to` names of this key (sorted, so they are adjacent) */
            sort_tree = t;
            while (y < nt) {
                uint32_t probe[2] = { f[a], g[y] };
                struct nameinfo gy;
                name_info(t, g[y], &gy);
                if (same_key(&gy, &fi) || cmp_name_line(&probe[1], &probe[0]) > 0)
                    break;
                y++;
            }
            for (uint32_t k = a; k < e && y < nt; k++) {
                struct nameinfo gy;
                name_info(t, g[y], &gy);
                if (!same_key(&gy, &fi))
                    break;
                rename[f[k]] = g[y++];
                renamed++;
            }
        }
        a = e;
    }
done:
    pf_free(f);
    pf_free(g);
    return renamed;
}

/* Moves column col's values of every node whose path holds a renamed name (rename[id]
 * != PF_NONE) to the node of the path with the names replaced, made if missing.  The
 * nodes left behind keep the values of other columns.  When key is not NULL, each node
 * made gets in key[node - n0] the index of the first node whose values moved into it
 * (n0: the node count before).  Returns the number of nodes whose values moved, or -1
 * with err set. */
static long relocate(pf_stacktree *t, int col, const uint32_t *rename, uint32_t **key,
                     pf_error *err)
{
    uint32_t n0 = t->nnodes, nkey = 0, cap = 0;
    uint32_t *map = pf_malloc((size_t)n0 * sizeof *map);
    long moved = 0;
    if (map == NULL)
        return pf_error_set(err, PF_ENOMEM, NULL);
    map[0] = 0;
    for (uint32_t i = 1; i < n0; i++) {
        uint32_t p = t->nodes[i].parent, nm = t->nodes[i].name;
        uint32_t rn = rename[nm] != PF_NONE ? rename[nm] : nm;
        if (map[p] == p && rn == nm) {
            map[i] = i;
            continue;
        }
        uint32_t to = pf_stacktree_child_id(t, map[p], rn, err);
        if (to == PF_NONE)
            goto fail;
        if (key && to >= n0 + nkey) {
            if (pf_diff_grow_((void **)key, &cap, nkey + 1, sizeof **key) < 0)
                goto nomem;
            (*key)[nkey++] = i;
        }
        map[i] = to;
        double v = pf_stacktree_col_(t, i, col);
        if (v != 0) {
            pf_stacktree_set_col_(t, to, col, pf_stacktree_col_(t, to, col) + v);
            pf_stacktree_set_col_(t, i, col, 0);
        }
        moved++;
    }
    pf_free(map);
    if (moved)
        pf_stacktree_values_changed_(t);
    return moved;
nomem:
    pf_error_set(err, PF_ENOMEM, NULL);
fail:
    pf_free(map);
    return -1;
}

/* ---- runs --------------------------------------------------------------------------- */

/* Grows the per-name side bits to the tree's names.  0, or -1. */
static int grow_nset(struct pf_diff_priv *p, uint32_t nn)
{
    if (nn <= p->cap_nset)
        return 0;
    unsigned char *ns = pf_realloc(p->nset, nn);
    if (ns == NULL)
        return -1;
    memset(ns + p->cap_nset, 0, nn - p->cap_nset);
    p->nset = ns;
    p->cap_nset = nn;
    return 0;
}

int pf_diff_stacks_begin_(pf_diff *d, int sides, pf_error *err)
{
    struct pf_diff_priv *p = d->priv;
    if (d->stacks == NULL) {
        pf_stack_opts so;
        pf_stack_opts_init(&so);
        so.metric = d->opts.metric;
        d->stacks = pf_stacktree_new(&so);
        if (d->stacks == NULL || pf_stacktree_want_count2_(d->stacks) < 0)
            return pf_error_set(err, PF_ENOMEM, NULL);
    }
    pf_stacktree *t = d->stacks;
    for (int s = 0; s < 2; s++) {
        struct pf_diff_sidedata *sd = &p->side[s];
        if (!(sides >> s & 1) || sd->tree_runs == 0)
            continue;
        /* the column holds the side's last run: it becomes that run's vector */
        struct pf_diff_run *r = &sd->run[sd->tree_runs - 1];
        pf_free(r->tv);
        r->tv = pf_malloc((size_t)(t->nnodes ? t->nnodes : 1) * sizeof *r->tv);
        if (r->tv == NULL)
            return pf_error_set(err, PF_ENOMEM, NULL);
        r->ntv = t->nnodes;
        for (uint32_t i = 0; i < t->nnodes; i++) {
            r->tv[i] = pf_stacktree_col_(t, i, s + 1);
            pf_stacktree_set_col_(t, i, s + 1, 0);
        }
        pf_stacktree_values_changed_(t);
    }
    if (pf_stacktree_track_visits_(t, 1) < 0)
        return pf_error_set(err, PF_ENOMEM, NULL);
    pf_stacktree_track_names(t, 1);
    return 0;
}

void pf_diff_stacks_abort_(pf_diff *d)
{
    pf_stacktree_track_names(d->stacks, 0);
    (void)pf_stacktree_track_visits_(d->stacks, 0);
}

/* Whether every value of column col is a multiple of 1/2 and all add up to less than
 * 2^50 (into *sum): then every sum of them, in any order, and of their medians and
 * copies, is exact, so the order of adding does not matter. */
static int exact_column(const pf_stacktree *t, int col, double *sum)
{
    double s = 0;
    int exact = 1;
    for (uint32_t i = 0; i < t->nnodes; i++) {
        double v = pf_stacktree_col_(t, i, col);
        s += v;
        exact &= 2 * v == floor(2 * v);
    }
    *sum = s;
    return exact && s < 0x1p50;
}

/* The total of the run's column col (the run holds every value of it), added as the
 * run's own tree would add it: each node after its children, children in the reverse
 * of the order the run reached them, which was that tree's node order.  0, or -1 when
 * out of memory. */
static int run_total(pf_diff *d, int col, const uint32_t *visit, uint32_t nvisit, double *out)
{
    pf_stacktree *t = d->stacks;
    if (exact_column(t, col, out))
        return 0;                       /* any order gives this */
    uint32_t *inv = pf_malloc((nvisit ? nvisit : 1) * sizeof *inv);
    double *tmp = pf_malloc((nvisit ? nvisit : 1) * sizeof *tmp);
    if (inv == NULL || tmp == NULL) {
        pf_free(inv);
        pf_free(tmp);
        return -1;
    }
    for (uint32_t i = 1; i < t->nnodes; i++)
        if (visit[i] != PF_NONE)
            inv[visit[i]] = i;
    double root = pf_stacktree_col_(t, 0, col);
    for (uint32_t r = 0; r < nvisit; r++)
        tmp[r] = pf_stacktree_col_(t, inv[r], col);
    for (uint32_t r = nvisit; r-- > 0;) {
        uint32_t par = t->nodes[inv[r]].parent;
        if (par == 0)
            root += tmp[r];
        else
            tmp[visit[par]] += tmp[r];
    }
    *out = root;
    pf_free(inv);
    pf_free(tmp);
    return 0;
}

/* NEW's node order: the nodes a NEW run reached that earlier NEW runs did not, in the
 * order it reached them, after theirs; then the nodes [from, nnodes) (made when the
 * run's names were matched).  Takes the tree's visit ranks.  0, or -1. */
static int rank_new(pf_diff *d, uint32_t from)
{
    struct pf_diff_priv *p = d->priv;
    pf_stacktree *t = d->stacks;
    uint32_t n = t->nnodes, nvisit, old = p->n_nrank;
    if (p->nrank == NULL) {
        /* the first NEW run: its ranks are the order */
        (void)pf_stacktree_visits_(t, &nvisit);
        p->nrank = pf_stacktree_detach_visits_(t);
        p->n_nrank = p->cap_nrank = n;
        p->nrank_next = nvisit;
        for (uint32_t i = from; i < n; i++)
            if (p->nrank[i] == PF_NONE)
                p->nrank[i] = p->nrank_next++;
        return 0;
    }
    const uint32_t *visit = pf_stacktree_visits_(t, &nvisit);
    uint32_t *inv = pf_malloc((nvisit ? nvisit : 1) * sizeof *inv);
    if (inv == NULL)
        return -1;
    for (uint32_t i = 0; i < from; i++)
        if (visit[i] != PF_NONE)
            inv[visit[i]] = i;
    if (n > p->cap_nrank) {
        uint32_t *nr = pf_realloc(p->nrank, (size_t)n * sizeof *nr);
        if (nr == NULL) {
            pf_free(inv);
            return -1;
        }
        p->nrank = nr;
        p->cap_nrank = n;
    }
    for (uint32_t i = old; i < n; i++)
        p->nrank[i] = PF_NONE;
    p->n_nrank = n;
    for (uint32_t r = 0; r < nvisit; r++)
        if (p->nrank[inv[r]] == PF_NONE)
            p->nrank[inv[r]] = p->nrank_next++;
    for (uint32_t i = from; i < n; i++)
        if (p->nrank[i] == PF_NONE)
            p->nrank[i] = p->nrank_next++;
    pf_free(inv);
    return 0;
}

int pf_diff_stacks_end_(pf_diff *d, int sides, pf_error *err)
{
    struct pf_diff_priv *p = d->priv;
    pf_stacktree *t = d->stacks;
    pf_diff_stacks_abort_(d);
    uint32_t nn = pf_strtab_count(t->names), nvisit, n_run = t->nnodes;
    const uint32_t *visit = pf_stacktree_visits_(t, &nvisit);
    unsigned char *used[2] = { NULL, NULL }, *had = NULL;
    uint32_t *rename = NULL;
    int rc = -1;
    if (grow_nset(p, nn) < 0)
        goto nomem;
    for (int s = 0; s < 2; s++)
        if ((sides >> s & 1) && run_total(d, s + 1, visit, nvisit, &p->run_total[s]) < 0)
            goto nomem;
    used[0] = pf_calloc(nn ? nn : 1, 1);
    used[1] = pf_calloc(nn ? nn : 1, 1);
    had = pf_malloc(nn ? nn : 1);
    rename = pf_malloc((nn ? nn : 1) * sizeof *rename);
    if (!used[0] || !used[1] || !had || !rename)
        goto nomem;
    if (sides == 3) {
        /* one input for both sides (two count columns): a side used the names of the
         * paths where it has a value; names of paths where neither has belong to both */
        pf_stacktree_totals_(t);
        for (uint32_t i = 1; i < t->nnodes; i++) {
            double b = t->nodes[i].total, n = pf_stacktree_total2(t, i);
            uint32_t nm = t->nodes[i].name;
            used[0][nm] |= b > 0 || n == 0;
            used[1][nm] |= n > 0 || b == 0;
        }
    } else {
        for (uint32_t i = 0; i < nn; i++)
            used[sides == 2][i] = (unsigned char)pf_stacktree_name_used(t, i);
    }
    for (int s = 0; s < 2; s++) {
        struct pf_diff_sidedata *sd = &p->side[s];
        if (!(sides >> s & 1))
            continue;
        long renamed = 0;
        if (sd->tree_runs > 0) {
            /* a later run: its new names become the side's earlier names they match */
            for (uint32_t i = 0; i < nn; i++)
                had[i] = p->nset[i] >> s & 1;
            if ((renamed = match_names(t, used[s], had, rename)) < 0)
                goto nomem;
            long moved = renamed ? relocate(t, s + 1, rename, NULL, err) : 0;
            if (moved < 0)
                goto done;
            if (moved)
                p->relocated = 1;
        }
        for (uint32_t i = 0; i < nn; i++)
            if (used[s][i])
                p->nset[renamed && rename[i] != PF_NONE ? rename[i] : i] |= (unsigned char)(1u << s);
        sd->tree_runs++;
    }
    if ((sides & 2) && rank_new(d, n_run) < 0)
        goto nomem;
    rc = 0;
    goto done;
nomem:
    pf_error_set(err, PF_ENOMEM, NULL);
done:
    pf_free(used[0]);
    pf_free(used[1]);
    pf_free(had);
    pf_free(rename);
    return rc;
}

int pf_diff_stacks_add_tree_(pf_diff *d, int side, const pf_stacktree *src, pf_error *err)
{
    pf_stacktree *t = d->stacks;
    uint32_t nn = pf_strtab_count(src->names);
    uint32_t *ids = pf_malloc((nn ? nn : 1) * sizeof *ids);
    uint32_t *m = pf_malloc((size_t)(src->nnodes ? src->nnodes : 1) * sizeof *m);
    int rc = -1;
    if (ids == NULL || m == NULL) {
        pf_error_set(err, PF_ENOMEM, NULL);
        goto done;
    }
    for (uint32_t i = 0; i < nn; i++) {
        size_t len;
        const char *s = pf_strtab_get(src->names, i, &len);
        if ((ids[i] = pf_stacktree_intern(t, s, len)) == PF_NONE) {
            pf_error_set(err, PF_ENOMEM, NULL);
            goto done;
        }
    }
    /* in src's node order, so the run reaches d's nodes in the order src has them */
    m[0] = 0;
    for (uint32_t i = 1; i < src->nnodes; i++) {
        m[i] = pf_stacktree_child_id(t, m[src->nodes[i].parent], ids[src->nodes[i].name], err);
        if (m[i] == PF_NONE)
            goto done;
        double v = src->nodes[i].self;
        if (v != 0 && pf_stacktree_add_self(t, m[i], side ? 0 : v, side ? v : 0, side, err) < 0)
            goto done;
    }
    rc = 0;
done:
    pf_free(ids);
    pf_free(m);
    return rc;
}

/* Sets a several-run side's column to the medians of its runs. */
static int side_median(pf_diff *d, int s, pf_error *err)
{
    struct pf_diff_sidedata *sd = &d->priv->side[s];
    pf_stacktree *t = d->stacks;
    uint32_t k = sd->tree_runs;
    if (k < 2)
        return 0;
    double *v = pf_malloc(k * sizeof *v);
    if (v == NULL)
        return pf_error_set(err, PF_ENOMEM, NULL);
    for (uint32_t i = 0; i < t->nnodes; i++) {
        for (uint32_t r = 0; r + 1 < k; r++)
            v[r] = i < sd->run[r].ntv ? sd->run[r].tv[i] : 0;
        v[k - 1] = pf_stacktree_col_(t, i, s + 1);
        pf_stacktree_set_col_(t, i, s + 1, pf_diff_median_(v, k));
    }
    pf_free(v);
    for (uint32_t r = 0; r < sd->nruns; r++) {
        pf_free(sd->run[r].tv);
        sd->run[r].tv = NULL;
        sd->run[r].ntv = 0;
    }
    pf_stacktree_values_changed_(t);
    return 0;
}

/* ---- the node order ------------------------------------------------------------------- */

/* Puts the nodes in the order a tree of NEW alone, into which BASE's tree was then
 * merged, would have them: NEW's nodes as NEW's runs reached them, then the others as
 * BASE's did (a node made by relocation, key[node - n_key0], where its first value came
 * from), so that totals add up as they did there, bit for bit.  When every sum is exact
 * anyway (`exact`) the nodes keep their order.  With `drop`, nodes whose subtree holds
 * no value (left by relocation) go.  0, or -1 with err set. */
static int reorder(pf_diff *d, const uint32_t *key, uint32_t n_key0, int exact, int drop,
                   pf_error *err)
{
    struct pf_diff_priv *p = d->priv;
    pf_stacktree *t = d->stacks;
    uint32_t n = t->nnodes, nr = exact ? 0 : p->nrank_next;
    if (exact && !drop)
        return 0;
    uint32_t *to = pf_malloc((size_t)n * sizeof *to);
    uint32_t *slot = pf_malloc((size_t)(nr + n) * sizeof *slot);
    if (to == NULL || slot == NULL) {
        pf_free(to);
        pf_free(slot);
        return pf_error_set(err, PF_ENOMEM, NULL);
    }
    if (drop)
        pf_stacktree_totals_(t);
    /* slot[] lists the nodes by their place: NEW's ranks, then BASE's keys */
    for (uint32_t k = 0; k < nr + n; k++)
        slot[k] = PF_NONE;
    for (uint32_t i = 1; i < n; i++) {
        if (drop && t->nodes[i].total == 0 && pf_stacktree_total2(t, i) == 0)
            continue;
        uint32_t r = !exact && i < p->n_nrank ? p->nrank[i] : PF_NONE;
        slot[r != PF_NONE ? r : nr + (!exact && key && i >= n_key0 ? key[i - n_key0] : i)] = i;
    }
    uint32_t k = 1, same = 1;
    to[0] = 0;
    for (uint32_t i = 1; i < n; i++)
        to[i] = PF_NONE;
    for (uint32_t j = 0; j < nr + n; j++)
        if (slot[j] != PF_NONE) {
            same &= slot[j] == k;
            to[slot[j]] = k++;
        }
    pf_free(slot);
    int rc = 0;
    if (!(same && k == n) && pf_stacktree_permute_(t, to, k, 0) < 0)
        rc = pf_error_set(err, PF_ENOMEM, NULL);
    pf_free(to);
    return rc;
}

/* ---- the vanished stacks -------------------------------------------------------------- */

/* The node under v at the path of main node x (its twin), made with its missing
 * ancestors, which are listed in sec[] as they are made; twins maps main nodes to
 * theirs.  PF_NONE when out of memory. */
static uint32_t twin(pf_stacktree *t, pf_hmap *twins, uint32_t v, uint32_t x, uint32_t **chain,
                     uint32_t *cap, uint32_t *sec, uint32_t *nsec)
{
    uint32_t n = 0, at = v;
    for (uint32_t a = x; a != 0; a = t->nodes[a].parent) {
        uint32_t got = pf_hmap_get(twins, a);
        if (got != PF_HMAP_NONE) {
            at = got;
            break;
        }
        if (pf_diff_grow_((void **)chain, cap, n + 1, sizeof **chain) < 0)
            return PF_NONE;
        (*chain)[n++] = a;
    }
    while (n > 0) {
        uint32_t a = (*chain)[--n];
        uint32_t *slot = pf_hmap_slot(twins, a, NULL);
        if (slot == NULL || (at = pf_stacktree_append_(t, at, t->nodes[a].name)) == PF_NONE)
            return PF_NONE;
        *slot = at;
        sec[(*nsec)++] = at;
    }
    return at;
}

/* A node and its name's rank, for sorting siblings. */
struct ranked {
    uint32_t rank, node;
};

static int cmp_ranked(const void *a, const void *b)
{
    const struct ranked *x = a, *y = b;
    return (x->rank > y->rank) - (x->rank < y->rank);
}

/* Sorts kids[0..n) by their names' ranks (distinct among siblings): insertion sort for
 * the usual handful, qsort through *buf for long lists.  0, or -1. */
static int sort_kids(const pf_stacktree *t, const uint32_t *rank, uint32_t *kids, uint32_t n,
                     struct ranked **buf, uint32_t *cap)
{
    if (n <= 16) {
        for (uint32_t i = 1; i < n; i++) {
            uint32_t x = kids[i], r = rank[t->nodes[x].name], j = i;
            for (; j > 0 && rank[t->nodes[kids[j - 1]].name] > r; j--)
                kids[j] = kids[j - 1];
            kids[j] = x;
        }
        return 0;
    }
    if (pf_diff_grow_((void **)buf, cap, n, sizeof **buf) < 0)
        return -1;
    for (uint32_t i = 0; i < n; i++)
        (*buf)[i] = (struct ranked){ rank[t->nodes[kids[i]].name], kids[i] };
    qsort(*buf, n, sizeof **buf, cmp_ranked);
    for (uint32_t i = 0; i < n; i++)
        kids[i] = (*buf)[i].node;
    return 0;
}

/* The name of the frame of vanished stacks: PF_DIFF_VANISHED_FRAME, or when an input
 * has a root frame of that name, the first of "... (2)", "... (3)" it has not.  Its
 * name id, or PF_NONE when out of memory. */
static uint32_t vanished_name(pf_stacktree *t)
{
    char buf[64];
    for (unsigned k = 1;; k++) {
        if (k == 1)
            snprintf(buf, sizeof buf, "%s", PF_DIFF_VANISHED_FRAME);
        else
            snprintf(buf, sizeof buf, "%s (%u)", PF_DIFF_VANISHED_FRAME, k);
        uint32_t id = pf_stacktree_intern(t, buf, strlen(buf));
        int taken = 0;
        for (uint32_t c = 1; c < t->nnodes && !taken && id != PF_NONE; c++)
            taken = t->nodes[c].parent == 0 && t->nodes[c].name == id;
        if (!taken)
            return id;
    }
}

/* Moves every stack found only in BASE (a node BASE has and NEW does not, under one NEW
 * has: a root of what vanished) under a frame of the root, with BASE's values in both
 * columns, so that a graph sized by NEW reaches it.  The root stays in its place as a
 * leaf holding its subtree's total (its ancestors' totals, tooltips and colours are
 * unchanged; nothing draws it, NEW having 0 there); a copy of it under the frame, at
 * the path of its parent, takes its children.  Totals must be current.  The moved
 * nodes are then ordered as a depth-first copy made them, the last sibling (by name)
 * first, so that the finished section adds up each node's children first sibling
 * first, as the tree's own walk would; with `any_order` (every sum exact anyway)
 * siblings keep index order.  0, or -1 with err set. */
static int vanished_section(pf_diff *d, int any_order, pf_error *err)
{
    struct pf_diff_priv *p = d->priv;
    pf_stacktree *t = d->stacks;
    uint32_t n0 = t->nnodes, nv = 0, nroots = 0;
    unsigned char *in = pf_calloc(n0 ? n0 : 1, 1);
    if (in == NULL)
        return pf_error_set(err, PF_ENOMEM, NULL);
    /* the vanished nodes: roots (in[] = 2) and what is under them (1) */
    for (uint32_t i = 1; i < n0; i++) {
        uint32_t par = t->nodes[i].parent;
        if (in[par]) {
            in[i] = 1;
            nv++;
        } else if (pf_stacktree_total2(t, i) == 0 && t->nodes[i].total > 0 &&
                   (par == 0 || pf_stacktree_total2(t, par) > 0)) {
            in[i] = 2;
            nroots++;
        }
    }
    if (nroots == 0) {
        pf_free(in);
        return 0;
    }
    struct copy {
        uint32_t src, under;
    } *stack = NULL;
    uint32_t *chain = NULL, cap = 0, cap_stack = 0, *start = NULL, *kids = NULL, *rank = NULL;
    uint32_t *sec = NULL, nsec = 0, *to = NULL, *pairs = NULL;
    pf_hmap *twins = pf_hmap_new(1024);
    uint32_t v, vname = vanished_name(t);
    int rc = -1;
    /* the section: the frame, the twins of the roots' ancestors (at most one per main
     * node), the roots' copies and the moved nodes */
    sec = pf_malloc(((size_t)n0 + nroots + 1) * sizeof *sec);
    pairs = pf_malloc((size_t)nroots * 2 * sizeof *pairs);
    /* the children of vanished nodes, by parent (CSR), sorted by name */
    start = pf_calloc((size_t)n0 + 1, sizeof *start);
    kids = pf_malloc(((size_t)nv + 1) * sizeof *kids);
    if (twins == NULL || vname == PF_NONE || sec == NULL || pairs == NULL || start == NULL ||
        kids == NULL)
        goto nomem;
    for (uint32_t i = 1; i < n0; i++)
        if (in[i] == 1)
            start[t->nodes[i].parent + 1]++;
    for (uint32_t i = 0; i < n0; i++)
        start[i + 1] += start[i];
    for (uint32_t i = 1; i < n0; i++)
        if (in[i] == 1)
            kids[start[t->nodes[i].parent]++] = i;
    for (uint32_t i = n0; i-- > 0;)    /* start[] moved one parent up: move it back */
        start[i + 1] = start[i];
    start[0] = 0;
    if (!any_order) {
        struct ranked *buf = NULL;
        uint32_t cap_buf = 0;
        if ((rank = pf_stacktree_name_ranks_(t)) == NULL)
            goto nomem;
        for (uint32_t i = 0; i < n0; i++)
            if (start[i + 1] - start[i] > 1 &&
                sort_kids(t, rank, kids + start[i], start[i + 1] - start[i], &buf, &cap_buf) < 0) {
                pf_free(buf);
                goto nomem;
            }
        pf_free(buf);
    }
    if (pf_stacktree_drop_index_(t) < 0 ||     /* no lookup comes: its memory goes */
        (v = pf_stacktree_append_(t, 0, vname)) == PF_NONE)
        goto nomem;
    sec[nsec++] = v;
    uint32_t *slot = pf_hmap_slot(twins, 0, NULL);
    if (slot == NULL)
        goto nomem;
    *slot = v;
    for (uint32_t r = 1, k = 0; r < n0; r++) {
        if (in[r] != 2)
            continue;
        uint32_t sp = 0, under = twin(t, twins, v, t->nodes[r].parent, &chain, &cap, sec, &nsec);
        uint32_t c = under == PF_NONE ? PF_NONE : pf_stacktree_append_(t, under, t->nodes[r].name);
        if (c == PF_NONE)
            goto nomem;
        sec[nsec++] = c;
        pairs[k++] = r;
        pairs[k++] = c;
        double val = t->nodes[r].self;
        pf_stacktree_set_col_(t, c, 1, val);
        pf_stacktree_set_col_(t, c, 2, val);
        pf_stacktree_set_col_(t, r, 1, t->nodes[r].total);
        /* r's children go under its copy; the copy is made depth first */
        uint32_t k0 = start[r], k1 = start[r + 1];
        if (pf_diff_grow_((void **)&stack, &cap_stack, k1 - k0 + 1, sizeof *stack) < 0)
            goto nomem;
        for (uint32_t j = k0; j < k1; j++)
            stack[sp++] = (struct copy){ kids[j], c };
        while (sp > 0) {
            struct copy x = stack[--sp];
            t->nodes[x.src].parent = x.under;
            pf_stacktree_set_col_(t, x.src, 2, t->nodes[x.src].self);
            sec[nsec++] = x.src;
            k0 = start[x.src];
            k1 = start[x.src + 1];
            if (pf_diff_grow_((void **)&stack, &cap_stack, sp + (k1 - k0), sizeof *stack) < 0)
                goto nomem;
            for (uint32_t j = k0; j < k1; j++)
                stack[sp++] = (struct copy){ kids[j], x.src };
        }
    }
    /* the main nodes keep their order; the section follows, as it was made */
    uint32_t n = t->nnodes, m = 0;
    to = pf_malloc((size_t)n * sizeof *to);
    if (to == NULL)
        goto nomem;
    for (uint32_t i = 0; i < n0; i++)
        to[i] = in[i] == 1 ? PF_NONE : m++;
    for (uint32_t j = 0; j < nsec; j++)
        to[sec[j]] = m + j;
    if (pf_stacktree_permute_(t, to, m + nsec, m) < 0)
        goto nomem;
    d->vanished_node = to[v];
    /* each stub and its copy, for readers that walk what vanished in its place */
    pf_free(p->stub);
    p->stub = pairs;
    p->nstub = nroots;
    pairs = NULL;
    for (uint32_t k = 0; k < 2 * nroots; k++)
        p->stub[k] = to[p->stub[k]];
    pf_stacktree_values_changed_(t);
    rc = 0;
    goto done;
nomem:
    pf_error_set(err, PF_ENOMEM, NULL);
done:
    pf_free(in);
    pf_free(start);
    pf_free(kids);
    pf_free(rank);
    pf_free(stack);
    pf_free(chain);
    pf_free(sec);
    pf_free(to);
    pf_free(pairs);
    pf_hmap_free(twins);
    return rc;
}

/* ---- the result ----------------------------------------------------------------------- */

int pf_diff_stacks_(pf_diff *d, pf_error *err)
{
    struct pf_diff_priv *p = d->priv;
    pf_stacktree *t = d->stacks;
    uint32_t *rename = NULL, *key = NULL;
    unsigned char *from = NULL, *to = NULL;
    if (t == NULL || p->side[0].tree_runs == 0 || p->side[1].tree_runs == 0)
        return pf_error_set(err, PF_EUSAGE, "no stacks to compare");
    if (side_median(d, 0, err) < 0 || side_median(d, 1, err) < 0)
        return -1;
    /* BASE's names that NEW does not have become the NEW names they match */
    uint32_t nn = pf_strtab_count(t->names), n_key0 = t->nnodes;
    rename = pf_malloc((nn ? nn : 1) * sizeof *rename);
    from = pf_calloc(nn ? nn : 1, 1);
    to = pf_calloc(nn ? nn : 1, 1);
    if (!rename || !from || !to || grow_nset(p, nn) < 0)
        goto nomem;
    for (uint32_t i = 0; i < nn; i++) {
        from[i] = p->nset[i] & 1;
        to[i] = p->nset[i] >> 1 & 1;
    }
    long renamed = match_names(t, from, to, rename);
    if (renamed < 0)
        goto nomem;
    if (renamed) {
        long moved = relocate(t, 1, rename, &key, err);
        if (moved < 0)
            goto fail;
        if (moved)
            p->relocated = 1;
    }
    pf_free(rename);
    pf_free(from);
    pf_free(to);
    rename = NULL;
    from = to = NULL;
    /* the nodes relocation left hold nothing now: they go with the reordering */
    double s1, s2;
    int exact = !d->opts.normalize && exact_column(t, 1, &s1) && exact_column(t, 2, &s2) &&
                s1 + s2 < 0x1p50;
    if (reorder(d, key, n_key0, exact, p->relocated, err) < 0)
        goto fail;
    pf_free(key);
    key = NULL;
    pf_stacktree_totals_(t);
    if (d->opts.normalize && t->nodes[0].total > 0) {
        double f = pf_stacktree_total2(t, 0) / t->nodes[0].total;
        if (isfinite(f) && f > 0) {
            d->norm_factor = f;
            for (uint32_t i = 0; i < t->nnodes; i++)
                pf_stacktree_set_col_(t, i, 1, t->nodes[i].self * f);
            pf_stacktree_values_changed_(t);
            pf_stacktree_totals_(t);
        }
    }
    if (!d->opts.no_vanished_frame && vanished_section(d, exact, err) < 0)
        return -1;
    return pf_stacktree_finish(t, err);
nomem:
    pf_error_set(err, PF_ENOMEM, NULL);
fail:
    pf_free(rename);
    pf_free(from);
    pf_free(to);
    pf_free(key);
    return -1;
}
