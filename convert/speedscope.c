/* speedscope.c: trace -> speedscope JSON (see speedscope.h).
 *
 * For each metric a stack tree is built from the trace in chart order (siblings in
 * first-call order) with thread frames as roots.  Each thread's subtree becomes one
 * evented profile: a depth-first walk opens a frame at x, puts the frame's own value
 * first ([x, x + self)), lays its children out after it, and closes it at x + total,
 * so events are balanced and their times never decrease (what speedscope checks).  The
 * walk is iterative: stacks 100,000 deep are fine.  Frames with a zero total are left
 * out.  Output size is linear in the tree (two events per frame), unlike sampled
 * profiles, which repeat every stack. */
#include "convert/speedscope.h"

#include <errno.h>
#include <string.h>

#include "formats/alloc.h"
#include "formats/json.h"
#include "formats/strtab.h"

struct frames {
    pf_strtab *names;           /* frame name -> dense index (the shared frames) */
    uint32_t *code;             /* per frame: the trace code (PF_NONE: none) */
    uint32_t *line;
    uint32_t cap;
};

/* The shared frame index of tree node i, added when new; PF_NONE when out of memory. */
static uint32_t frame_of(struct frames *f, const pf_stacktree *tr, uint32_t i)
{
    size_t len;
    const char *name = pf_stacktree_name(tr, i, &len);
    uint32_t before = pf_strtab_count(f->names);
    uint32_t id = pf_strtab_intern(f->names, name, len);
    if (id == PF_STR_NONE || id < before)
        return id == PF_STR_NONE ? PF_NONE : id;
    if (id >= f->cap) {
        uint32_t ncap = f->cap ? f->cap * 2 : 256;
        uint32_t *c = pf_reallocarray(f->code, ncap, sizeof *c);
        if (c == NULL)
            return PF_NONE;
        f->code = c;
        uint32_t *l = pf_reallocarray(f->line, ncap, sizeof *l);
        if (l == NULL)
            return PF_NONE;
        f->line = l;
        f->cap = ncap;
    }
    f->code[id] = tr->info ? tr->info[i].code : PF_NONE;
    f->line[id] = tr->info ? tr->info[i].line : 0;
    return id;
}

/* A thread frame: no code, and none of its children is a grouping frame either. */
static int is_grouping(const pf_stacktree *tr, uint32_t i)
{
    return i != 0 && tr->info[i].code == PF_NONE;
}

static int is_thread_frame(const pf_stacktree *tr, uint32_t i)
{
    if (!is_grouping(tr, i))
        return 0;
    for (uint32_t c = tr->nodes[i].first_child; c != PF_NONE; c = tr->nodes[c].next_sibling)
        if (is_grouping(tr, c))
            return 0;
    return 1;
}

struct metric {
    enum pf_metric metric;
    const char *unit;           /* speedscope's unit name */
    const char *what;           /* appended to the profile name; NULL for time */
};

/* Writes the "name" of the profile of thread frame th: its ancestors' names joined. */
static void profile_name(FILE *out, const pf_stacktree *tr, uint32_t th, const char *what,
                         int cpu)
{
    char buf[1024];
    size_t len = 0;
    uint32_t chain[8], n = 0;
    for (uint32_t i = th; i != 0 && i != PF_NONE && n < 8; i = tr->nodes[i].parent)
        chain[n++] = i;
    while (n-- > 0) {
        size_t nl;
        const char *name = pf_stacktree_name(tr, chain[n], &nl);
        if (len && len + 3 < sizeof buf) {
            memcpy(buf + len, " / ", 3);
            len += 3;
        }
        if (nl > sizeof buf - len)
            nl = sizeof buf - len;
        memcpy(buf + len, name, nl);
        len += nl;
    }
    char tail[128];
    int tl = snprintf(tail, sizeof tail, " (%s)", what ? what : cpu ? "CPU time" : "wall time");
    if ((size_t)tl < sizeof buf - len) {
        memcpy(buf + len, tail, (size_t)tl);
        len += (size_t)tl;
    }
    pf_json_write_str(out, buf, len);
}

/* Writes the events of the subtree under thread frame th; -1 when out of memory. */
static int write_events(FILE *out, const pf_stacktree *tr, uint32_t th, struct frames *f,
                        uint32_t **stack, size_t *cap)
{
    /* stack holds (node, phase) pairs: phase 0 = open it, 1 = close it */
    size_t sp = 0;
    int first = 1, rc = -1;
    double x = 0;   /* where the walk is: each value laid end to end */
#define PUSH(node, phase)                                                                  \
    do {                                                                                   \
        if (sp + 2 > *cap) {                                                               \
            size_t nc = *cap ? *cap * 2 : 1024;                                            \
            uint32_t *ns = pf_reallocarray(*stack, nc, sizeof *ns);                        \
            if (ns == NULL)                                                                \
                goto done;                                                                 \
            *stack = ns;                                                                   \
            *cap = nc;                                                                     \
        }                                                                                  \
        (*stack)[sp++] = (node);                                                           \
        (*stack)[sp++] = (phase);                                                          \
    } while (0)
    /* a node's children, pushed then reversed in place so the first is opened first */
#define PUSH_CHILDREN(parent)                                                              \
    do {                                                                                   \
        size_t from = sp;                                                                  \
        for (uint32_t ch = tr->nodes[parent].first_child; ch != PF_NONE;                   \
             ch = tr->nodes[ch].next_sibling)                                              \
            if (tr->nodes[ch].total > 0)                                                   \
                PUSH(ch, 0);                                                               \
        for (size_t a = from, b = sp; a + 2 < b; a += 2, b -= 2) {                         \
            uint32_t t0 = (*stack)[a];                                                     \
            (*stack)[a] = (*stack)[b - 2];                                                 \
            (*stack)[b - 2] = t0;                                                          \
        }                                                                                  \
    } while (0)
    PUSH_CHILDREN(th);
    while (sp > 0) {
        uint32_t phase = (*stack)[--sp], i = (*stack)[--sp];
        const pf_stack_node *n = &tr->nodes[i];
        uint32_t fr = frame_of(f, tr, i);
        if (fr == PF_NONE)
            goto done;
        fprintf(out, first ? "\n{\"type\":\"%c\",\"frame\":%u,\"at\":" : ",\n{\"type\":\"%c\",\"frame\":%u,\"at\":",
                phase ? 'C' : 'O', fr);
        first = 0;
        if (phase == 0) {
            pf_json_write_num(out, x);
            fputc('}', out);
            x += n->self;       /* its own value first, then its children */
            PUSH(i, 1);
            PUSH_CHILDREN(i);
        } else {
            /* children laid out: x is at the frame's end, open + self + children's totals
             * = open + total (exact: the values are integers) */
            pf_json_write_num(out, x);
            fputc('}', out);
        }
    }
    rc = 0;
done:
#undef PUSH
#undef PUSH_CHILDREN
    return rc;
}

int pf_speedscope_write(const pf_trace *t, const pf_stack_opts *opts, FILE *out, pf_error *err)
{
    static const struct metric time_metric = { PF_METRIC_SELF_TIME, "nanoseconds", NULL };
    /* a sampled trace's times come out as sample counts (pf_stacktree_from_trace) */
    static const struct metric sample_metric = { PF_METRIC_SELF_TIME, "none", "samples" };
    static const struct metric mem_metrics[] = {
        { PF_METRIC_ALLOC_BYTES, "bytes", "bytes allocated" },
        { PF_METRIC_ALLOC_COUNT, "none", "allocations" },
        { PF_METRIC_PEAK_BYTES, "bytes", "bytes live at the peak" },
    };
    const struct metric *ms[4];
    size_t nm = 0;
    ms[nm++] = pf_trace_is_sampled(t) ? &sample_metric : &time_metric;
    if (t->meta.modes & PF_MODE_MEMORY)
        for (size_t k = 0; k < 3; k++)
            ms[nm++] = &mem_metrics[k];
    int cpu = pf_trace_clock_is_cpu(t);

    struct frames f = { pf_strtab_new(), NULL, NULL, 0 };
    uint32_t *stack = NULL;
    size_t cap = 0;
    int rc = -1, nprof = 0;
    if (f.names == NULL) {
        pf_error_set(err, PF_ENOMEM, NULL);
        goto done;
    }
    /* Profiles first (they name the frames), then the shared frames: speedscope reads
     * the whole object, so key order does not matter to it. */
    fputs("{\"$schema\":\"https://www.speedscope.app/file-format-schema.json\",\n\"profiles\":[", out);
    for (size_t k = 0; k < nm; k++) {
        pf_stack_opts o = opts ? *opts : (pf_stack_opts){ 0 };
        if (opts == NULL)
            pf_stack_opts_init(&o);
        o.order = PF_ORDER_CHART;
        o.reverse = 0;
        o.base = NULL;
        o.no_thread_roots = 0;
        o.metric = ms[k]->metric;
        o.time_unit_ns = 1;
        pf_stacktree *tr = pf_stacktree_from_trace(t, &o, err);
        if (tr == NULL)
            goto done;
        /* every thread frame, in tree order (processes before their threads) */
        for (uint32_t i = 1; i < tr->nnodes; i++) {
            if (!is_thread_frame(tr, i) || tr->nodes[i].total <= 0)
                continue;
            fputs(nprof++ ? ",\n{\"type\":\"evented\",\"name\":" : "\n{\"type\":\"evented\",\"name\":", out);
            profile_name(out, tr, i, ms[k]->what, cpu);
            fprintf(out, ",\"unit\":\"%s\",\"startValue\":0,\"endValue\":", ms[k]->unit);
            pf_json_write_num(out, tr->nodes[i].total);
            fputs(",\"events\":[", out);
            if (write_events(out, tr, i, &f, &stack, &cap) < 0) {
                pf_stacktree_free(tr);
                pf_error_set(err, PF_ENOMEM, NULL);
                goto done;
            }
            fputs("]}", out);
        }
        pf_stacktree_free(tr);
    }
    fputs("],\n\"shared\":{\"frames\":[", out);
    uint32_t nf = pf_strtab_count(f.names);
    for (uint32_t i = 0; i < nf; i++) {
        size_t len;
        const char *name = pf_strtab_get(f.names, i, &len);
        fputs(i ? ",\n{\"name\":" : "\n{\"name\":", out);
        /* the function's own name: speedscope shows file and line beside it (frames
         * stay distinct by file and line, as the deduplicating name was) */
        if (f.code[i] != PF_NONE && f.code[i] < t->ncodes) {
            size_t ql;
            const char *q = pf_strtab_get(t->strings, t->codes[f.code[i]].qualname, &ql);
            if (q != NULL)
                name = q, len = ql;
        }
        pf_json_write_str(out, name, len);
        if (f.code[i] != PF_NONE && f.code[i] < t->ncodes &&
            t->codes[f.code[i]].kind == PF_CODE_PYTHON) {
            size_t fl;
            const char *file = pf_strtab_get(t->strings, t->codes[f.code[i]].file, &fl);
            if (file != NULL) {
                fputs(",\"file\":", out);
                pf_json_write_str(out, file, fl);
            }
            if (f.line[i])
                fprintf(out, ",\"line\":%u", f.line[i]);
        }
        fputc('}', out);
    }
    fputs("]},\n\"name\":", out);
    {
        char cmd[1024];
        size_t len = 0;
        for (uint32_t i = 0; i < t->meta.argc && len + 2 < sizeof cmd; i++) {
            const char *a = t->meta.argv[i] ? t->meta.argv[i] : "";
            int w = snprintf(cmd + len, sizeof cmd - len, "%s%s", i ? " " : "", a);
            len = w < 0 ? len : len + (size_t)w >= sizeof cmd ? sizeof cmd - 1 : len + (size_t)w;
        }
        if (len == 0)
            len = (size_t)snprintf(cmd, sizeof cmd, "pyflame-c trace");
        pf_json_write_str(out, cmd, len);
    }
    fputs(",\"activeProfileIndex\":0,\"exporter\":\"pyflame-c " PF_VERSION "\"}\n", out);
    if (nprof == 0) {
        pf_error_set(err, PF_EEMPTY, "the trace has no recorded time to export");
        goto done;
    }
    if (fflush(out) != 0 || ferror(out)) {
        pf_error_set(err, PF_EIO, "write error: %s", strerror(errno ? errno : EIO));
        goto done;
    }
    rc = 0;
done:
    pf_strtab_free(f.names);
    pf_free(f.code);
    pf_free(f.line);
    pf_free(stack);
    return rc;
}
