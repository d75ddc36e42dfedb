/* html_model.c: aggregation behind the HTML report (see html_model.h).
 *
 * Cumulative time without double counting recursion: nodes are stored in pre-order,
 * so walking them in index order while keeping the current root-to-node path on a
 * stack visits every node with its ancestors on the stack.  A per-code counter of
 * how often the code occurs on that path tells in O(1) whether a node has an
 * ancestor with the same code; only nodes without one add their total time to the
 * function's cumulative time.  The whole pass is O(nodes).
 */
#include "html_model.h"

#include <stdlib.h>
#include <string.h>

#include "formats/alloc.h"
#include "formats/framename.h"
#include "formats/hash.h"
#include "formats/hashmap.h"

const char *pf_html_short_path(const pf_trace *t, const char *path, int full)
{
    if (full || path == NULL)
        return path;
    return pf_path_short(t, path, strlen(path), NULL);
}

/* ---- functions ------------------------------------------------------------------ */

static const pf_html_model *sort_model;   /* qsort has no context argument in C11 */

static int cmp_func(const void *a, const void *b)
{
    const pf_html_func *x = a, *y = b;
    if (x->cum_ns != y->cum_ns)
        return x->cum_ns > y->cum_ns ? -1 : 1;
    if (x->self_ns != y->self_ns)
        return x->self_ns > y->self_ns ? -1 : 1;
    if (x->calls != y->calls)
        return x->calls > y->calls ? -1 : 1;
    return x->code < y->code ? -1 : x->code > y->code;
}

/* Fills m->funcs from the calling-context tree and the line records. */
static int build_funcs(pf_html_model *m, pf_error *err)
{
    const pf_trace *t = m->trace;
    pf_html_func *acc = NULL;
    uint32_t *active = NULL, *stack = NULL;
    uint8_t *seen = NULL;
    int rc = -1;

    acc = pf_calloc(t->ncodes, sizeof *acc);
    active = pf_calloc(t->ncodes, sizeof *active);
    stack = pf_malloc((t->nnodes ? t->nnodes : 1) * sizeof *stack);
    seen = pf_calloc(t->ncodes, 1);
    if (!acc || !active || !stack || !seen)
        goto oom;

    uint32_t depth = 0;
    for (uint32_t i = 0; i < t->nnodes; i++) {
        const pf_node *n = &t->nodes[i];
        if (n->code >= t->ncodes)
            continue;                          /* not validated input; skip, do not crash */
        /* Unwind the path to the parent (pre-order puts it on the stack). */
        while (depth > 0 && stack[depth - 1] != n->parent) {
            active[t->nodes[stack[depth - 1]].code]--;
            depth--;
        }
        pf_html_func *f = &acc[n->code];
        f->calls += n->calls;
        f->self_ns += n->self_ns;
        f->alloc_bytes += pf_trace_node_mem(t, i)->alloc_bytes;
        if (active[n->code] == 0)
            f->cum_ns += n->total_ns;
        seen[n->code] = 1;
        active[n->code]++;
        stack[depth++] = i;
        if (n->parent == PF_NONE)
            m->total_ns += n->total_ns;
    }
    for (uint32_t i = 0; i < t->nlines; i++)
        if (t->lines[i].code < t->ncodes)
            seen[t->lines[i].code] = 1;

    uint32_t nf = 0;
    for (uint32_t c = 0; c < t->ncodes; c++)
        nf += seen[c];
    m->funcs = pf_malloc((nf ? nf : 1) * sizeof *m->funcs);
    m->func_of_code = pf_malloc((t->ncodes ? t->ncodes : 1) * sizeof *m->func_of_code);
    if (!m->funcs || !m->func_of_code)
        goto oom;
    for (uint32_t c = 0; c < t->ncodes; c++) {
        if (!seen[c])
            continue;
        acc[c].code = c;
        acc[c].file = PF_NONE;
        acc[c].process = PF_NONE;
        m->funcs[m->nfuncs++] = acc[c];
    }
    qsort(m->funcs, m->nfuncs, sizeof *m->funcs, cmp_func);
    for (uint32_t c = 0; c < t->ncodes; c++)
        m->func_of_code[c] = PF_NONE;
    for (uint32_t i = 0; i < m->nfuncs; i++)
        m->func_of_code[m->funcs[i].code] = i;
    rc = 0;
    goto done;
oom:
    pf_error_set(err, PF_ENOMEM, "out of memory while building the report");
done:
    pf_free(acc);
    pf_free(active);
    pf_free(stack);
    pf_free(seen);
    return rc;
}

/* Which processes each function ran in, for traces with several: the nodes are
 * grouped by process with a counting sort, then each process's nodes stamp their
 * codes, so a code is counted once per process.  O(nodes + threads + processes). */
static int funcs_processes(pf_html_model *m)
{
    const pf_trace *t = m->trace;
    uint32_t np = t->nprocesses, nt = t->nthreads;
    if (np < 2)
        return 0;
    uint32_t *proc = pf_malloc((nt ? nt : 1) * sizeof *proc);
    uint32_t *start = pf_calloc((size_t)np + 1, sizeof *start);
    uint32_t *order = pf_malloc((t->nnodes ? t->nnodes : 1) * sizeof *order);
    uint32_t *stamp = pf_calloc(t->ncodes ? t->ncodes : 1, sizeof *stamp);
    int rc = -1;
    if (!proc || !start || !order || !stamp)
        goto done;
    for (uint32_t i = 0; i < nt; i++)
        proc[i] = PF_NONE;
    for (uint32_t p = np; p-- > 0;) {          /* the first claimer owns a thread */
        const pf_process *pr = &t->processes[p];
        for (uint32_t i = 0; i < pr->nthreads && pr->first_thread + i < nt; i++)
            proc[pr->first_thread + i] = p;
    }
    for (uint32_t i = 0; i < t->nnodes; i++) {
        uint32_t th = t->nodes[i].thread;
        if (th < nt && proc[th] != PF_NONE)
            start[proc[th] + 1]++;
    }
    for (uint32_t p = 0; p < np; p++)
        start[p + 1] += start[p];
    for (uint32_t i = 0; i < t->nnodes; i++) {
        uint32_t th = t->nodes[i].thread;
        if (th < nt && proc[th] != PF_NONE)
            order[start[proc[th]]++] = i;
    }
    /* start[p] is now the end of process p's nodes, the start of p + 1's */
    for (uint32_t p = 0, k = 0; p < np; p++)
        for (; k < start[p]; k++) {
            uint32_t c = t->nodes[order[k]].code;
            if (c >= t->ncodes || stamp[c] == p + 1 || m->func_of_code[c] == PF_NONE)
                continue;
            stamp[c] = p + 1;
            pf_html_func *f = &m->funcs[m->func_of_code[c]];
            if (f->nprocesses++ == 0)
                f->process = p;
        }
    rc = 0;
done:
    pf_free(proc);
    pf_free(start);
    pf_free(order);
    pf_free(stamp);
    return rc;
}

/* ---- files ---------------------------------------------------------------------- */

static int is_python_file_code(const pf_trace *t, uint32_t code)
{
    const pf_code *c = &t->codes[code];
    const char *path = pf_trace_str(t, c->file);
    return c->kind == PF_CODE_PYTHON && path[0] != '\0';
}

static int cmp_u32_by_path(const void *a, const void *b)
{
    const pf_trace *t = sort_model->trace;
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    int c = strcmp(pf_trace_str(t, x), pf_trace_str(t, y));
    return c ? c : (x < y ? -1 : x > y);
}

static int cmp_file(const void *a, const void *b)
{
    const pf_html_file *x = a, *y = b;
    if (x->self_ns != y->self_ns)
        return x->self_ns > y->self_ns ? -1 : 1;
    if (x->calls != y->calls)
        return x->calls > y->calls ? -1 : 1;
    return cmp_u32_by_path(&x->path, &y->path);
}

static int cmp_func_by_line(const void *a, const void *b)
{
    const pf_html_model *m = sort_model;
    const pf_html_func *x = &m->funcs[*(const uint32_t *)a], *y = &m->funcs[*(const uint32_t *)b];
    uint32_t lx = m->trace->codes[x->code].first_line, ly = m->trace->codes[y->code].first_line;
    if (lx != ly)
        return lx < ly ? -1 : 1;
    return x->code < y->code ? -1 : x->code > y->code;
}

/* Which embedded source belongs to a file: the first record with the same string id,
 * or (hand-made traces that interned a name twice) the same text.  Built once, so
 * pairing files with sources is linear, not files x sources. */
typedef struct source_index {
    const pf_trace *t;
    pf_hmap *by_id;          /* path string id -> first source record */
    pf_hmap *by_text;        /* hash of the path text -> first source record of that text */
    const char *want;        /* the text being looked up (for text_eq) */
} source_index;

static int text_eq(void *ctx, uint32_t src)
{
    source_index *x = ctx;
    return strcmp(pf_trace_str(x->t, x->t->sources[src].path), x->want) == 0;
}

static int source_index_build(source_index *x, const pf_trace *t)
{
    x->t = t;
    x->by_id = pf_hmap_new(t->nsources);
    x->by_text = pf_hmap_new(t->nsources);
    if (x->by_id == NULL || x->by_text == NULL)
        return -1;
    for (uint32_t i = 0; i < t->nsources; i++) {
        uint32_t *slot = pf_hmap_slot(x->by_id, t->sources[i].path, NULL);
        if (slot == NULL)
            return -1;
        if (*slot == PF_HMAP_NONE)
            *slot = i;
        x->want = pf_trace_str(t, t->sources[i].path);
        uint64_t h = pf_hash_bytes(x->want, strlen(x->want));
        if (pf_hmap_find(x->by_text, h, text_eq, x) == PF_HMAP_NONE &&
            pf_hmap_add(x->by_text, h, i) < 0)
            return -1;
    }
    return 0;
}

static uint32_t find_source(source_index *x, uint32_t path)
{
    uint32_t i = pf_hmap_get(x->by_id, path);
    if (i != PF_HMAP_NONE)
        return i;
    x->want = pf_trace_str(x->t, path);
    i = pf_hmap_find(x->by_text, pf_hash_bytes(x->want, strlen(x->want)), text_eq, x);
    return i == PF_HMAP_NONE ? PF_NONE : i;
}

static void source_index_free(source_index *x)
{
    pf_hmap_free(x->by_id);
    pf_hmap_free(x->by_text);
}

static int build_files(pf_html_model *m, pf_error *err)
{
    const pf_trace *t = m->trace;
    uint32_t *paths = pf_malloc((m->nfuncs ? m->nfuncs : 1) * sizeof *paths);
    if (!paths)
        goto oom;
    /* Distinct file string ids, sorted by text: files with equal names merge even
     * when a hand-made trace interned them twice. */
    uint32_t np = 0;
    for (uint32_t i = 0; i < m->nfuncs; i++)
        if (is_python_file_code(t, m->funcs[i].code))
            paths[np++] = t->codes[m->funcs[i].code].file;
    sort_model = m;
    qsort(paths, np, sizeof *paths, cmp_u32_by_path);
    uint32_t nd = 0;
    for (uint32_t i = 0; i < np; i++)
        if (nd == 0 || strcmp(pf_trace_str(t, paths[nd - 1]), pf_trace_str(t, paths[i])) != 0)
            paths[nd++] = paths[i];

    m->files = pf_calloc(nd ? nd : 1, sizeof *m->files);
    if (!m->files)
        goto oom;
    m->nfiles = nd;
    source_index sources = { 0 };
    if (source_index_build(&sources, t) < 0) {
        source_index_free(&sources);
        goto oom;
    }
    for (uint32_t i = 0; i < nd; i++) {
        m->files[i].path = paths[i];
        m->files[i].source = find_source(&sources, paths[i]);
    }
    source_index_free(&sources);
    /* Assign functions to files (binary search by path text), count per file. */
    for (uint32_t i = 0; i < m->nfuncs; i++) {
        pf_html_func *f = &m->funcs[i];
        if (!is_python_file_code(t, f->code))
            continue;
        const char *p = pf_trace_str(t, t->codes[f->code].file);
        uint32_t lo = 0, hi = nd;
        while (lo < hi) {
            uint32_t mid = lo + (hi - lo) / 2;
            int c = strcmp(pf_trace_str(t, m->files[mid].path), p);
            if (c == 0) {
                lo = mid;
                break;
            }
            if (c < 0)
                lo = mid + 1;
            else
                hi = mid;
        }
        f->file = lo;
        pf_html_file *file = &m->files[lo];
        file->self_ns += f->self_ns;
        file->calls += f->calls;
        file->alloc_bytes += f->alloc_bytes;
        file->nfuncs++;
    }
    for (uint32_t i = 0; i < nd; i++) {
        m->files[i].funcs = pf_malloc((m->files[i].nfuncs ? m->files[i].nfuncs : 1) * sizeof(uint32_t));
        if (!m->files[i].funcs)
            goto oom;
        m->files[i].nfuncs = 0;
    }
    for (uint32_t i = 0; i < m->nfuncs; i++)
        if (m->funcs[i].file != PF_NONE) {
            pf_html_file *file = &m->files[m->funcs[i].file];
            file->funcs[file->nfuncs++] = i;
        }
    for (uint32_t i = 0; i < nd; i++)
        qsort(m->files[i].funcs, m->files[i].nfuncs, sizeof(uint32_t), cmp_func_by_line);
    pf_free(paths);
    return 0;
oom:
    pf_free(paths);
    return pf_error_set(err, PF_ENOMEM, "out of memory while building the report");
}

/* ---- lines ---------------------------------------------------------------------- */

typedef struct line_key {
    uint32_t file, line, rec;
} line_key;

static int cmp_line_key(const void *a, const void *b)
{
    const line_key *x = a, *y = b;
    if (x->file != y->file)
        return x->file < y->file ? -1 : 1;
    if (x->line != y->line)
        return x->line < y->line ? -1 : 1;
    return x->rec < y->rec ? -1 : x->rec > y->rec;
}

static uint64_t max_u64(uint64_t a, uint64_t b)
{
    return a > b ? a : b;
}

/* A line's time including calls, at most its function's cumulative time.  The trace
 * sums a line's time over every activation of its function, so the line that makes a
 * recursive call counts the nested ones again (partitions()' `return sum(...)` line
 * held 645% of the run); no line of f can take longer than f's outermost activations,
 * which count recursion once.  Without calls data (cum_ns 0) it is left as recorded. */
static uint64_t line_total(const pf_html_model *m, const pf_line *l)
{
    uint64_t cum = m->funcs[m->func_of_code[l->code]].cum_ns;
    return cum && l->total_ns > cum ? cum : l->total_ns;
}

static int build_lines(pf_html_model *m, pf_error *err)
{
    const pf_trace *t = m->trace;
    line_key *keys = pf_malloc((t->nlines ? t->nlines : 1) * sizeof *keys);
    uint32_t *count = pf_calloc(m->nfiles ? m->nfiles : 1, sizeof *count);
    if (!keys || !count)
        goto oom;
    uint32_t nk = 0;
    for (uint32_t i = 0; i < t->nlines; i++) {
        const pf_line *l = &t->lines[i];
        if (l->code >= t->ncodes || m->func_of_code[l->code] == PF_NONE)
            continue;
        uint32_t file = m->funcs[m->func_of_code[l->code]].file;
        if (file == PF_NONE)
            continue;
        keys[nk++] = (line_key){ file, l->line, i };
    }
    qsort(keys, nk, sizeof *keys, cmp_line_key);
    for (uint32_t i = 0; i < nk; i++)
        if (i == 0 || keys[i].file != keys[i - 1].file || keys[i].line != keys[i - 1].line)
            count[keys[i].file]++;
    for (uint32_t f = 0; f < m->nfiles; f++) {
        m->files[f].lines = pf_calloc(count[f] ? count[f] : 1, sizeof(pf_html_line));
        if (!m->files[f].lines)
            goto oom;
    }
    for (uint32_t i = 0; i < nk; i++) {
        pf_html_file *file = &m->files[keys[i].file];
        const pf_line *l = &t->lines[keys[i].rec];
        if (i == 0 || keys[i].file != keys[i - 1].file || keys[i].line != keys[i - 1].line)
            file->lines[file->nlines++].line = l->line;
        pf_html_line *d = &file->lines[file->nlines - 1];
        d->hits += l->hits;
        d->self_ns += l->self_ns;
        d->total_ns = max_u64(d->total_ns, line_total(m, l));
        d->mem.alloc_bytes = max_u64(d->mem.alloc_bytes, l->mem.alloc_bytes);
        d->mem.alloc_count = max_u64(d->mem.alloc_count, l->mem.alloc_count);
        d->mem.free_bytes = max_u64(d->mem.free_bytes, l->mem.free_bytes);
        d->mem.peak_bytes = max_u64(d->mem.peak_bytes, l->mem.peak_bytes);
        d->mem.exit_bytes = max_u64(d->mem.exit_bytes, l->mem.exit_bytes);
    }
    m->has_lines = nk > 0;
    pf_free(keys);
    pf_free(count);
    return 0;
oom:
    pf_free(keys);
    pf_free(count);
    return pf_error_set(err, PF_ENOMEM, "out of memory while building the report");
}

/* Without calls data a file's weight is the self time of its lines. */
static void line_only_totals(pf_html_model *m)
{
    uint64_t sum = 0;
    for (uint32_t f = 0; f < m->nfiles; f++) {
        pf_html_file *file = &m->files[f];
        if (file->self_ns == 0)
            for (uint32_t i = 0; i < file->nlines; i++)
                file->self_ns += file->lines[i].self_ns;
        for (uint32_t i = 0; i < file->nlines; i++)
            sum += file->lines[i].self_ns;
    }
    if (m->total_ns == 0)
        m->total_ns = sum ? sum : m->trace->meta.duration_ns;
}

/* Files are sorted after their lines are built, so the line arrays move along. */
static void choose_shown(pf_html_model *m, uint32_t limit, double threshold_pct)
{
    sort_model = m;
    qsort(m->files, m->nfiles, sizeof *m->files, cmp_file);
    /* Re-point functions at their file's new position. */
    for (uint32_t f = 0; f < m->nfiles; f++)
        for (uint32_t i = 0; i < m->files[f].nfuncs; i++)
            m->funcs[m->files[f].funcs[i]].file = f;
    for (uint32_t f = 0; f < m->nfiles; f++) {
        pf_html_file *file = &m->files[f];
        int ok = limit == 0 || m->nshown < limit;
        if (threshold_pct > 0 && m->total_ns > 0
            && (double)file->self_ns * 100.0 < threshold_pct * (double)m->total_ns)
            ok = 0;
        file->shown = ok;
        if (ok)
            m->nshown++;
        else
            m->hidden_ns += file->self_ns;
    }
}

static uint64_t line_metric(const pf_html_line *l, int by_time)
{
    return by_time ? l->total_ns : l->self_ns;
}

/* Keeps the PF_HTML_HOT_LINES lines with the most self time (by_time: time including
 * the calls they make) in hot[]; ties: file order, line. */
static void choose_hot(pf_html_model *m, int by_time, pf_html_lineref *hot, uint32_t *nhot)
{
    for (uint32_t f = 0; f < m->nfiles; f++) {
        if (!m->files[f].shown)
            continue;
        for (uint32_t i = 0; i < m->files[f].nlines; i++) {
            uint64_t v = line_metric(&m->files[f].lines[i], by_time);
            if (v == 0)
                continue;
            uint32_t pos = *nhot;
            while (pos > 0) {
                const pf_html_lineref *r = &hot[pos - 1];
                if (line_metric(&m->files[r->file].lines[r->line], by_time) >= v)
                    break;
                pos--;
            }
            if (pos >= PF_HTML_HOT_LINES)
                continue;
            uint32_t last = *nhot < PF_HTML_HOT_LINES ? *nhot : PF_HTML_HOT_LINES - 1;
            memmove(&hot[pos + 1], &hot[pos], (last - pos) * sizeof hot[0]);
            hot[pos] = (pf_html_lineref){ f, i };
            if (*nhot < PF_HTML_HOT_LINES)
                (*nhot)++;
        }
    }
}

/* Opens the hottest shown files (files are sorted by self time) until they hold
 * PF_HTML_OPEN_PCT of the shown files' self time, at most PF_HTML_OPEN_FILES, at least
 * one: a long report of a program that imports much folds down to the files that
 * matter, and the rest are one click (or "Open all files") away. */
static void choose_open(pf_html_model *m)
{
    uint64_t shown = 0, acc = 0;
    for (uint32_t f = 0; f < m->nfiles; f++)
        if (m->files[f].shown)
            shown += m->files[f].self_ns;
    for (uint32_t f = 0; f < m->nfiles && m->nopen < PF_HTML_OPEN_FILES; f++) {
        pf_html_file *file = &m->files[f];
        if (!file->shown)
            continue;
        if (m->nopen > 0 && (file->self_ns == 0 ||
                             (double)acc * 100.0 >= (double)PF_HTML_OPEN_PCT * (double)shown))
            break;
        file->open = 1;
        m->nopen++;
        acc += file->self_ns;
    }
}

pf_html_model *pf_html_model_new(const pf_trace *t, uint32_t limit, double threshold_pct,
                                 pf_error *err)
{
    pf_html_model *m = pf_calloc(1, sizeof *m);
    if (!m) {
        pf_error_set(err, PF_ENOMEM, "out of memory while building the report");
        return NULL;
    }
    m->trace = t;
    m->has_memory = (t->meta.modes & PF_MODE_MEMORY) != 0;
    if (build_funcs(m, err) < 0 || build_files(m, err) < 0 || build_lines(m, err) < 0) {
        pf_html_model_free(m);
        return NULL;
    }
    if (funcs_processes(m) < 0) {
        pf_error_set(err, PF_ENOMEM, "out of memory while building the report");
        pf_html_model_free(m);
        return NULL;
    }
    line_only_totals(m);
    choose_shown(m, limit, threshold_pct);
    choose_hot(m, 0, m->hot, &m->nhot);
    choose_hot(m, 1, m->hot_time, &m->nhot_time);
    choose_open(m);
    return m;
}

void pf_html_model_free(pf_html_model *m)
{
    if (!m)
        return;
    for (uint32_t f = 0; f < m->nfiles; f++) {
        pf_free(m->files[f].lines);
        pf_free(m->files[f].funcs);
    }
    pf_free(m->files);
    pf_free(m->funcs);
    pf_free(m->func_of_code);
    pf_free(m);
}
