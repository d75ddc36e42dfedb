/* pprof.c: trace -> gzipped profile.proto (see pprof.h).
 *
 * The message layout, with the field numbers of profile.proto that this file writes
 * (keep them in step with https://github.com/google/pprof/blob/main/proto/profile.proto):
 *
 *   Profile   1 sample_type: ValueType (repeated)   2 sample: Sample (repeated)
 *             4 location: Location (repeated)
 *             5 function: Function (repeated)       6 string_table: string (repeated;
 *                                                     [0] must be "")
 *             9 time_nanos  10 duration_nanos       11 period_type: ValueType  12 period
 *             13 comment: string index (repeated)   14 default_sample_type: string index
 *   ValueType 1 type  2 unit                        (string indices)
 *   Sample    1 location_id (packed, leaf first)    2 value (packed, one per sample_type)
 *             3 label: Label (repeated)
 *   Label     1 key  2 str  3 num                   (key, str: string indices)
 *   Location  1 id  4 line: Line (repeated)   (no mapping: Python code has no addresses)
 *   Line      1 function_id  2 line
 *   Function  1 id  2 name  3 system_name  4 filename  5 start_line
 *
 * Ids: function id = code index + 1; location ids are dense from 1 in order of first
 * use, keyed by (code, line).  Samples are written as the
 * nodes come (pre-order); a node's stack is found by walking up its parents, so the
 * output, like pprof's format, repeats every stack: O(sum of depths). */
#include "convert/pprof.h"

#include <errno.h>
#include <string.h>
#include <zlib.h>

#include "formats/alloc.h"
#include "formats/framename.h"
#include "formats/hashmap.h"
#include "formats/protobuf.h"
#include "formats/strtab.h"

struct ctx {
    const pf_trace *t;
    pf_strtab *strings;         /* the profile's string table */
    pf_hmap *locs;              /* (code << 32 | line) -> location index */
    uint32_t *loc_code, *loc_line;
    uint32_t nlocs, cap_locs;
    int failed;
};

static uint64_t str_id(struct ctx *c, const char *s, size_t len)
{
    uint32_t id = pf_strtab_intern(c->strings, s, len);
    if (id == PF_STR_NONE)
        c->failed = 1;
    return id == PF_STR_NONE ? 0 : id;
}

static uint64_t cstr_id(struct ctx *c, const char *s)
{
    return str_id(c, s, strlen(s));
}

/* The location id of (code, line), added when new; 0 when out of memory. */
static uint64_t loc_id(struct ctx *c, uint32_t code, uint32_t line)
{
    int inserted;
    uint32_t *slot = pf_hmap_slot(c->locs, (uint64_t)code << 32 | line, &inserted);
    if (slot == NULL) {
        c->failed = 1;
        return 0;
    }
    if (!inserted)
        return (uint64_t)*slot + 1;
    if (c->nlocs == c->cap_locs) {
        uint32_t ncap = c->cap_locs ? c->cap_locs * 2 : 1024;
        uint32_t *a = pf_reallocarray(c->loc_code, ncap, sizeof *a);
        if (a != NULL)
            c->loc_code = a;
        uint32_t *b = a ? pf_reallocarray(c->loc_line, ncap, sizeof *b) : NULL;
        if (b == NULL) {
            c->failed = 1;
            return 0;
        }
        c->loc_line = b;
        c->cap_locs = ncap;
    }
    c->loc_code[c->nlocs] = code;
    c->loc_line[c->nlocs] = line;
    *slot = c->nlocs++;
    return *slot + 1;
}

static void value_type(pf_pb *b, uint32_t field, struct ctx *c, const char *type,
                       const char *unit)
{
    pf_pb vt = PF_PB_INIT;
    pf_pb_uint(&vt, 1, cstr_id(c, type));
    pf_pb_uint(&vt, 2, cstr_id(c, unit));
    pf_pb_message(b, field, &vt);
    pf_pb_free(&vt);
}

static void label(pf_pb *sample, pf_pb *scratch, uint64_t key, uint64_t str, int has_num,
                  int64_t num)
{
    pf_pb_reset(scratch);
    pf_pb_uint(scratch, 1, key);
    if (has_num)
        pf_pb_int(scratch, 3, num);
    else
        pf_pb_uint(scratch, 2, str);
    pf_pb_message(sample, 3, scratch);
}

/* Compresses data[0..len) as one gzip member onto out. */
static int gzip_out(const unsigned char *data, size_t len, FILE *out, pf_error *err)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    if (deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return pf_error_set(err, PF_ENOMEM, NULL);
    unsigned char buf[64 * 1024];
    int rc = Z_OK;
    size_t pos = 0;
    do {
        size_t chunk = len - pos > (1u << 30) ? (1u << 30) : len - pos;
        z.next_in = (unsigned char *)(uintptr_t)(data + pos);
        z.avail_in = (uInt)chunk;
        pos += chunk;
        int flush = pos == len ? Z_FINISH : Z_NO_FLUSH;
        do {
            z.next_out = buf;
            z.avail_out = sizeof buf;
            rc = deflate(&z, flush);
            size_t have = sizeof buf - z.avail_out;
            if (have && fwrite(buf, 1, have, out) != have) {
                deflateEnd(&z);
                return pf_error_set(err, PF_EIO, "write error: %s", strerror(errno ? errno : EIO));
            }
        } while (z.avail_out == 0);
    } while (pos < len);
    deflateEnd(&z);
    if (rc != Z_STREAM_END)
        return pf_error_set(err, PF_EIO, "gzip compression failed");
    return 0;
}

int pf_pprof_write(const pf_trace *t, const pf_stack_opts *opts, FILE *out, pf_error *err)
{
    int by_line = opts && opts->granularity == PF_GRAN_LINE;
    int full_paths = opts && opts->full_paths;
    int memory = (t->meta.modes & PF_MODE_MEMORY) != 0;
    const char *clock = pf_trace_clock_is_cpu(t) ? "cpu" : "wall";
    struct ctx c;
    memset(&c, 0, sizeof c);
    c.t = t;
    pf_pb p = PF_PB_INIT, s = PF_PB_INIT, l = PF_PB_INIT;
    uint64_t *stack = NULL, *threadname = NULL;
    size_t cap_stack = 0;
    int rc = -1;
    if (t->nnodes == 0) {
        pf_error_set(err, PF_EEMPTY, "the trace has no call records");
        goto done;
    }
    c.strings = pf_strtab_new();
    c.locs = pf_hmap_new(t->ncodes * 2u + 16);
    threadname = pf_calloc(t->nthreads + 1u, sizeof *threadname);
    if (c.strings == NULL || c.locs == NULL || threadname == NULL)
        goto oom;
    cstr_id(&c, "");    /* string_table[0] must be "" */

    /* 1 sample_type, in the order of the values below */
    /* a sampled trace's node counts are samples (collect --sample, attach) */
    int sampled = pf_trace_is_sampled(t);
    value_type(&p, 1, &c, sampled ? "samples" : "calls", "count");
    value_type(&p, 1, &c, clock, "nanoseconds");
    if (memory) {
        value_type(&p, 1, &c, "alloc_space", "bytes");
        value_type(&p, 1, &c, "alloc_objects", "count");
        value_type(&p, 1, &c, "inuse_space", "bytes");
    }
    uint64_t k_thread = cstr_id(&c, "thread"), k_tid = cstr_id(&c, "thread_id"),
             k_pid = cstr_id(&c, "pid");
    for (uint32_t i = 0; i < t->nthreads; i++)
        threadname[i] = cstr_id(&c, pf_trace_str(t, t->threads[i].name));

    /* 2 sample: one per node with a value */
    uint64_t vals[5];
    for (uint32_t i = 0; i < t->nnodes; i++) {
        const pf_node *n = &t->nodes[i];
        const pf_mem *m = pf_trace_node_mem(t, i);
        size_t nv = 0;
        vals[nv++] = n->calls;
        vals[nv++] = n->self_ns;
        if (memory) {
            vals[nv++] = m->alloc_bytes;
            vals[nv++] = m->alloc_count;
            vals[nv++] = m->peak_bytes;
        }
        int any = 0;
        for (size_t k = 0; k < nv; k++)
            any |= vals[k] != 0;
        if (!any)
            continue;
        if (n->code >= t->ncodes || n->thread >= t->nthreads) {
            pf_error_set(err, PF_ECORRUPT, "node %u refers to a missing code or thread", i);
            goto done;
        }
        /* the stack, leaf first: the node at its own line, each caller at the line it
         * called from (line mode) or at its first line */
        size_t depth = 0;
        for (uint32_t j = i, child = PF_NONE; j != PF_NONE; child = j, j = t->nodes[j].parent) {
            if (j >= t->nnodes || t->nodes[j].code >= t->ncodes) {
                pf_error_set(err, PF_ECORRUPT, "node %u has a bad parent or code", j);
                goto done;
            }
            uint32_t code = t->nodes[j].code;
            uint32_t line = t->codes[code].first_line;
            if (by_line && child != PF_NONE && t->nodes[child].call_line)
                line = t->nodes[child].call_line;
            if (depth == cap_stack) {
                size_t ncap = cap_stack ? cap_stack * 2 : 256;
                uint64_t *ns = pf_reallocarray(stack, ncap, sizeof *ns);
                if (ns == NULL)
                    goto oom;
                stack = ns;
                cap_stack = ncap;
            }
            stack[depth++] = loc_id(&c, code, line);
        }
        pf_pb_reset(&s);
        pf_pb_packed(&s, 1, stack, depth);
        pf_pb_packed(&s, 2, vals, nv);
        const pf_thread *th = &t->threads[n->thread];
        label(&s, &l, k_thread, threadname[n->thread], 0, 0);
        label(&s, &l, k_tid, 0, 1, (int64_t)th->ident);
        uint32_t proc = pf_trace_thread_process(t, n->thread);
        label(&s, &l, k_pid, 0, 1, (int64_t)(proc != PF_NONE ? t->processes[proc].pid : t->meta.pid));
        pf_pb_message(&p, 2, &s);
        if (c.failed || pf_pb_failed(&p))
            goto oom;
    }

    /* 4 location */
    for (uint32_t i = 0; i < c.nlocs; i++) {
        pf_pb_reset(&s);
        pf_pb_uint(&s, 1, (uint64_t)i + 1);
        pf_pb_reset(&l);
        pf_pb_uint(&l, 1, (uint64_t)c.loc_code[i] + 1);
        pf_pb_int(&l, 2, c.loc_line[i]);
        pf_pb_message(&s, 4, &l);
        pf_pb_message(&p, 4, &s);
    }

    /* 5 function: every code a location uses (marked through a bitmap) */
    {
        unsigned char *used = pf_calloc(t->ncodes + 1u, 1);
        if (used == NULL)
            goto oom;
        for (uint32_t i = 0; i < c.nlocs; i++)
            used[c.loc_code[i]] = 1;
        for (uint32_t k = 0; k < t->ncodes; k++) {
            if (!used[k])
                continue;
            const pf_code *co = &t->codes[k];
            size_t fl;
            const char *file = pf_strtab_get(t->strings, co->file, &fl);
            if (file == NULL)
                file = "", fl = 0;
            if (!full_paths)
                file = pf_path_short(t, file, fl, &fl);
            pf_pb_reset(&s);
            pf_pb_uint(&s, 1, (uint64_t)k + 1);
            pf_pb_uint(&s, 2, cstr_id(&c, pf_trace_str(t, co->qualname)));
            /* system_name: the pstats-style key "file:line(co_name)" ("~" for natives).
             * It must differ from name: pprof "demangles" a function whose name equals
             * its system name, and its C++ heuristics would strip "<module>" and
             * "<built-in method len>" to nothing. */
            char sys[1024];
            int sl = snprintf(sys, sizeof sys, "%.*s:%u(%s)", (int)(fl > 600 ? 600 : fl),
                              co->kind == PF_CODE_PYTHON ? file : "~", co->first_line,
                              pf_trace_str(t, co->name));
            if (co->kind != PF_CODE_PYTHON)
                sl = snprintf(sys, sizeof sys, "~:0(%s)", pf_trace_str(t, co->name));
            pf_pb_uint(&s, 3, str_id(&c, sys, sl < 0 ? 0 : (size_t)sl >= sizeof sys ? sizeof sys - 1 : (size_t)sl));
            if (co->kind == PF_CODE_PYTHON) {
                pf_pb_uint(&s, 4, str_id(&c, file, fl));
                pf_pb_int(&s, 5, co->first_line);
            }
            pf_pb_message(&p, 5, &s);
        }
        pf_free(used);
    }

    /* 9 time_nanos, 10 duration_nanos, 11 period_type, 12 period, 13 comment,
     * 14 default_sample_type: all string indices must exist before 6 is written */
    char comment[512];
    if (sampled) {
        char smp[256];
        pf_trace_sample_describe(t, smp, sizeof smp);
        snprintf(comment, sizeof comment, "pyflame-c %s: sampled, %s", PF_VERSION, smp);
    } else {
        snprintf(comment, sizeof comment, "pyflame-c %s: every call recorded, not sampled; "
                 "values are exact per calling context", PF_VERSION);
    }
    uint64_t comment_id = cstr_id(&c, comment);
    uint64_t default_type = cstr_id(&c, clock);
    pf_pb_int(&p, 9, t->meta.start_unix_ns);
    pf_pb_int(&p, 10, (int64_t)t->meta.duration_ns);
    value_type(&p, 11, &c, clock, "nanoseconds");
    pf_pb_int(&p, 12, sampled ? (int64_t)t->meta.sample_interval_ns : 1);
    pf_pb_int(&p, 13, (int64_t)comment_id);
    pf_pb_int(&p, 14, (int64_t)default_type);

    /* 6 string_table, last: every string is known by now */
    uint32_t nstr = pf_strtab_count(c.strings);
    for (uint32_t i = 0; i < nstr; i++) {
        size_t len;
        const char *str = pf_strtab_get(c.strings, i, &len);
        pf_pb_bytes(&p, 6, str, len);
    }
    if (c.failed || pf_pb_failed(&p))
        goto oom;
    if (gzip_out(p.data, p.len, out, err) < 0)
        goto done;
    if (fflush(out) != 0 || ferror(out)) {
        pf_error_set(err, PF_EIO, "write error: %s", strerror(errno ? errno : EIO));
        goto done;
    }
    rc = 0;
    goto done;
oom:
    pf_error_set(err, PF_ENOMEM, NULL);
done:
    pf_pb_free(&p);
    pf_pb_free(&s);
    pf_pb_free(&l);
    pf_free(stack);
    pf_free(threadname);
    pf_free(c.loc_code);
    pf_free(c.loc_line);
    pf_hmap_free(c.locs);
    pf_strtab_free(c.strings);
    return rc;
}
