/* trace_read.c: parses the format in FORMAT.md back into a pf_trace.
 *
 * Traces are untrusted input.  The reader is two layers:
 *   - `in`: the windows of decoded bytes of a pf_input (input.c: file, stdin or
 *     memory, gzip or raw, truncation and trailing garbage detected there);
 *   - the record loop: tag and length varints from the stream, then the payload
 *     (pointed to in place when it lies in one buffer, else copied into a buffer
 *     that grows only as bytes actually arrive), then one read_<record>() per tag,
 *     mirroring write_<record>() in trace_write.c field by field.
 * Invariants: no allocation is sized by a field that was not checked against bytes
 * already read; every index is checked against what has been decoded so far (so a
 * node's parent precedes it, ids precede their use); entries are appended one at a
 * time.  Errors name what is wrong and the offset in the uncompressed stream.
 * Budget: everything the model allocates (trace.c's arrays, the string table, meta
 * strings, sources) and the payload copy buffer is charged to t->mem before it is
 * allocated; t->mem.limit is the input's budget while reading, so a small stream
 * that would decode into a huge model fails at the first allocation over it.
 */
#include "trace.h"

#include <inttypes.h>
#include <string.h>

#include "alloc.h"
#include "foreign.h"
#include "input.h"
#include "trace_format.h"
#include "varint.h"

/* ---- the stream: windows of decoded bytes from a pf_input ---- */

typedef struct in {
    pf_input *src;
    pf_error *err;
    const unsigned char *buf;     /* the current window (borrowed from src) */
    size_t pos, end;
    uint64_t base;                /* stream offset of buf[0] */
} in;

static uint64_t in_offset(const in *s)
{
    return s->base + s->pos;
}

/* Takes the next window (pos == end on entry).  1: bytes available, 0: clean end
 * of stream, -1: error (err set). */
static int in_fill(in *s)
{
    const unsigned char *p;
    size_t n;
    int r = pf_input_next(s->src, &p, &n, s->err);
    if (r <= 0)
        return r;
    s->buf = p;
    s->pos = 0;
    s->end = n;
    s->base = pf_input_offset(s->src) - n;
    return 1;
}

/* Reads one byte.  1, 0 (end of stream), -1 (error). */
static int in_byte(in *s, unsigned char *b)
{
    if (s->pos == s->end) {
        int r = in_fill(s);
        if (r <= 0)
            return r;
    }
    *b = s->buf[s->pos++];
    return 1;
}

/* Reads a varint from the stream.  1: ok; 0: end of stream before its first byte;
 * 2: end of stream inside it; -1: error (stream error, err set; or malformed, err
 * not set: *bad = 1). */
static int in_varint(in *s, uint64_t *v, int *bad)
{
    uint64_t r = 0;
    *bad = 0;
    for (int i = 0; i < PF_VARINT_MAX; i++) {
        unsigned char b;
        int got = in_byte(s, &b);
        if (got <= 0)
            return got < 0 ? -1 : (i == 0 ? 0 : 2);
        if (i == PF_VARINT_MAX - 1 && b > 1)
            break;
        r |= (uint64_t)(b & 0x7f) << (7 * i);
        if (b < 0x80) {
            *v = r;
            return 1;
        }
    }
    *bad = 1;
    return -1;
}

/* ---- the record reader ---- */

typedef struct reader {
    in *in;
    pf_error *err;
    pf_trace *t;
    /* the record being parsed */
    const char *rec_name;
    uint64_t rec_off;             /* stream offset of the record's tag */
    uint64_t pay_off;             /* stream offset of its payload */
    const unsigned char *p0, *p, *pend;
    unsigned char *pay;           /* copy buffer for payloads that span windows */
    size_t pay_cap;
    /* delta-decoding state, carried across blocks */
    uint64_t node_mem_next, line_mem_next;
    uint32_t line_prev_code, line_prev_line;
    uint64_t sample_prev_time;
    uint64_t n_node_mem, n_line_mem;
    int seen_meta;
    int seen_processes;           /* a PROCESSES record was read: END must count them */
    int seen_rss;                 /* likewise for RSS */
    int seen_links;               /* likewise for LINKS */
} reader;

static uint64_t r_off(const reader *r)
{
    return r->p0 ? r->pay_off + (uint64_t)(r->p - r->p0) : r->pay_off;
}

static int r_past_end(reader *r, const char *field)
{
    return pf_error_set(r->err, PF_ECORRUPT,
                        "%s runs past the end of the %s record at offset %" PRIu64
                        " (payload %zu bytes)",
                        field, r->rec_name, r->rec_off, (size_t)(r->pend - r->p0));
}

/* The payload primitives: the only code that turns payload bytes into values. */
static int r_varint(reader *r, uint64_t *v, const char *field)
{
    if (r->p < r->pend && *r->p < 0x80) {   /* most fields are one byte */
        *v = *r->p++;
        return 0;
    }
    int n = pf_varint_get(r->p, (size_t)(r->pend - r->p), v);
    if (n > 0) {
        r->p += n;
        return 0;
    }
    if (n == 0)
        return r_past_end(r, field);
    return pf_error_set(r->err, PF_ECORRUPT, "malformed varint (%s) at offset %" PRIu64
                        " in the %s record at offset %" PRIu64,
                        field, r_off(r), r->rec_name, r->rec_off);
}

static int r_u32(reader *r, uint32_t *v, const char *field)
{
    uint64_t x;
    uint64_t off = r_off(r);
    if (r_varint(r, &x, field) < 0)
        return -1;
    if (x > UINT32_MAX)
        return pf_error_set(r->err, PF_ECORRUPT,
                            "%s %" PRIu64 " at offset %" PRIu64 " does not fit 32 bits",
                            field, x, off);
    *v = (uint32_t)x;
    return 0;
}

/* A zz field stored in an int32_t. */
static int r_i32(reader *r, int32_t *v, const char *field)
{
    uint64_t x;
    uint64_t off = r_off(r);
    if (r_varint(r, &x, field) < 0)
        return -1;
    int64_t s = pf_zigzag_dec(x);
    if (s < INT32_MIN || s > INT32_MAX)
        return pf_error_set(r->err, PF_ECORRUPT,
                            "%s %" PRId64 " at offset %" PRIu64 " does not fit 32 bits",
                            field, s, off);
    *v = (int32_t)s;
    return 0;
}

/* A string id: must name a string already read. */
static int r_sid(reader *r, uint32_t *v, const char *what, uint64_t index, const char *field)
{
    uint64_t x, off = r_off(r);
    if (r_varint(r, &x, field) < 0)
        return -1;
    uint32_t n = pf_strtab_count(r->t->strings);
    if (x >= n)
        return pf_error_set(r->err, PF_ECORRUPT,
                            "%s %" PRIu64 " at offset %" PRIu64 ": %s string id %" PRIu64
                            " out of range (%u strings so far)", what, index, off,
                            field, x, n);
    *v = (uint32_t)x;
    return 0;
}

/* str: length then bytes; *s points into the payload (not NUL-terminated). */
static int r_str(reader *r, const char **s, size_t *len, const char *field)
{
    uint64_t n;
    if (r_varint(r, &n, field) < 0)
        return -1;
    if (n > (uint64_t)(r->pend - r->p))
        return r_past_end(r, field);
    *s = (const char *)r->p;
    *len = (size_t)n;
    r->p += n;
    return 0;
}

/* An allocation failed: either the budget refused it (t->mem.refused says so; the
 * read stops here, so the flag needs no reset) or malloc did. */
static int nomem(reader *r)
{
    if (r->t->mem.refused) {
        char b[32];
        return pf_error_set(r->err, PF_ELIMIT,
                            "decoded trace exceeds the %s decoding budget at offset %" PRIu64
                            " in the %s record at offset %" PRIu64 " (raise it with "
                            PF_BUDGET_OPTION ")",
                            pf_budget_format(r->t->mem.limit, b, sizeof b), r_off(r),
                            r->rec_name, r->rec_off);
    }
    return pf_error_set(r->err, PF_ENOMEM, "out of memory reading trace");
}

/* Charges an allocation the reader makes itself (meta strings and lists, the payload
 * buffer) to the model's budget, before making it.  0, or -1 with err set. */
static int charge(reader *r, uint64_t bytes)
{
    return pf_budget_charge(&r->t->mem, bytes) < 0 ? nomem(r) : 0;
}

/* optstr: 0 = NULL, else length+1 then bytes; stored as a new pf_strndup copy. */
static int r_optstr(reader *r, char **out, const char *field)
{
    uint64_t n;
    if (r_varint(r, &n, field) < 0)
        return -1;
    if (n == 0)
        return 0;
    n--;
    if (n > (uint64_t)(r->pend - r->p))
        return r_past_end(r, field);
    if (charge(r, n + 1) < 0)
        return -1;
    char *c = pf_strndup((const char *)r->p, (size_t)n);
    if (c == NULL)
        return pf_error_set(r->err, PF_ENOMEM, "out of memory reading trace");
    pf_free(*out);
    *out = c;
    r->p += n;
    return 0;
}

/* Block entry count: each entry takes at least one byte, so a count larger than
 * the payload left is corrupt (and no loop runs longer than the payload). */
static int r_count(reader *r, uint64_t *count)
{
    if (r_varint(r, count, "entry count") < 0)
        return -1;
    if (*count > (uint64_t)(r->pend - r->p))
        return pf_error_set(r->err, PF_ECORRUPT,
                            "%s record at offset %" PRIu64 ": entry count %" PRIu64
                            " exceeds its payload", r->rec_name, r->rec_off, *count);
    return 0;
}


static int r_list(reader *r, char ***list, uint32_t *count, const char *field)
{
    uint64_t n;
    if (r_count(r, &n) < 0)
        return -1;
    for (uint64_t i = 0; i < n; i++) {
        const char *s = NULL;
        size_t len = 0;
        if (r_str(r, &s, &len, field) < 0)
            return -1;
        /* Grow by powers of two, as pf_meta_push_str does; *count stays the number
         * of valid entries so pf_trace_free can clean up at any point. */
        uint32_t k = *count;
        if (k == 0 || (k & (k - 1)) == 0) {
            if (charge(r, (uint64_t)(k ? k : 1) * sizeof(char *)) < 0)
                return -1;
            char **nl = pf_reallocarray(*list, k ? (size_t)k * 2 : 1, sizeof(char *));
            if (nl == NULL)
                return nomem(r);
            *list = nl;
        }
        if (charge(r, (uint64_t)len + 1) < 0)
            return -1;
        char *c = pf_strndup(s, len);
        if (c == NULL)
            return nomem(r);
        (*list)[k] = c;
        *count = k + 1;
    }
    return 0;
}

/* ---- records; trace_write.c has the mirror of each ---- */

/* META's gap list, n entries (already checked against the payload). */
static int read_gaps(reader *r, uint64_t n)
{
    pf_meta *m = &r->t->meta;
    if (n == 0)
        return 0;
    if (charge(r, n * sizeof(pf_gap)) < 0)
        return -1;
    m->gaps = pf_calloc((size_t)n, sizeof(pf_gap));
    if (m->gaps == NULL)
        return nomem(r);
    for (uint64_t i = 0; i < n; i++) {
        pf_gap *g = &m->gaps[i];
        uint64_t len, reason;
        if (r_varint(r, &g->ident, "gap thread") < 0 ||
            r_varint(r, &g->start_ns, "gap start") < 0 ||
            r_varint(r, &len, "gap length") < 0 ||
            r_varint(r, &reason, "gap reason") < 0)
            return -1;
        if (len == 0)
            g->end_ns = PF_GAP_OPEN;
        else if (len - 1 > UINT64_MAX - 1 - g->start_ns)
            return pf_error_set(r->err, PF_ECORRUPT, "META record at offset %" PRIu64
                                ": gap %" PRIu64 " ends past the end of time", r->rec_off, i);
        else
            g->end_ns = g->start_ns + len - 1;
        g->reason = reason > UINT32_MAX ? 0 : (uint32_t)reason;
        m->ngaps = (uint32_t)(i + 1);
    }
    return 0;
}

static int read_meta(reader *r)
{
    pf_meta *m = &r->t->meta;
    uint64_t v;
    if (r->seen_meta)
        return pf_error_set(r->err, PF_ECORRUPT, "duplicate META record at offset %" PRIu64,
                            r->rec_off);
    r->seen_meta = 1;
    if (r_optstr(r, &m->python_version, "python_version") < 0 ||
        r_optstr(r, &m->python_executable, "python_executable") < 0 ||
        r_list(r, &m->argv, &m->argc, "argv") < 0 ||
        r_optstr(r, &m->cwd, "cwd") < 0 ||
        r_list(r, &m->path, &m->npath, "path") < 0)
        return -1;
    if (r_varint(r, &v, "start_unix_ns") < 0)
        return -1;
    m->start_unix_ns = pf_zigzag_dec(v);
    if (r_varint(r, &m->duration_ns, "duration_ns") < 0 ||
        r_optstr(r, &m->clock, "clock") < 0 ||
        r_u32(r, &m->modes, "modes") < 0 ||
        r_u32(r, &m->flags, "flags") < 0 ||
        r_varint(r, &m->pid, "pid") < 0 ||
        r_optstr(r, &m->hostname, "hostname") < 0 ||
        r_varint(r, &m->total_calls, "total_calls") < 0 ||
        r_varint(r, &m->profiler_bytes, "profiler_bytes") < 0 ||
        r_varint(r, &m->peak_live_bytes, "peak_live_bytes") < 0)
        return -1;
    /* The optional tail, each part written only when it says something (or an older
     * writer wrote none): the gap list, then the exit fields (unknown when absent:
     * pf_trace_new's defaults). */
    if (r->p == r->pend)
        return 0;
    uint64_t n;
    if (r_count(r, &n) < 0 || read_gaps(r, n) < 0)
        return -1;
    if (r->p == r->pend)
        return 0;
    if (r_i32(r, &m->exit_code, "exit_code") < 0 ||
        r_u32(r, &m->exit_signal, "exit_signal") < 0)
        return -1;
    if (r->p == r->pend)
        return 0;
    if (r_varint(r, &m->peak_native_bytes, "peak_native_bytes") < 0)
        return -1;
    if (r->p == r->pend)
        return 0;
    if (r_varint(r, &m->links_dropped, "links_dropped") < 0)
        return -1;
    if (r->p == r->pend)
        return 0;
    return r_varint(r, &m->sample_interval_ns, "sample_interval_ns") < 0 ||
           r_varint(r, &m->sample_ticks, "sample_ticks") < 0 ||
           r_varint(r, &m->samples_lost, "samples_lost") < 0 ||
           r_u32(r, &m->sample_mode, "sample_mode") < 0 ? -1 : 0;
}

static int read_strings(reader *r)
{
    uint64_t count;
    if (r_count(r, &count) < 0)
        return -1;
    for (uint64_t k = 0; k < count; k++) {
        const char *s = NULL;
        size_t len = 0;
        if (r_str(r, &s, &len, "string") < 0)
            return -1;
        if (pf_strtab_count(r->t->strings) >= UINT32_MAX - 1)
            return pf_error_set(r->err, PF_ELIMIT, "too many strings at offset %" PRIu64,
                                r_off(r));
        if (pf_strtab_append(r->t->strings, s, len) == PF_STR_NONE)
            return nomem(r);
    }
    return 0;
}

/* Appender result check: PF_NONE means out of memory or the 2^32-2 index ceiling. */
static int added(reader *r, uint32_t idx, uint32_t n_before)
{
    if (idx != PF_NONE)
        return 0;
    if (n_before >= UINT32_MAX - 2)
        return pf_error_set(r->err, PF_ELIMIT, "too many %s entries at offset %" PRIu64,
                            r->rec_name, r_off(r));
    return nomem(r);
}

static int read_codes(reader *r)
{
    pf_trace *t = r->t;
    uint64_t count;
    if (r_count(r, &count) < 0)
        return -1;
    for (uint64_t k = 0; k < count; k++) {
        pf_code c;
        uint64_t q, kind, off = r_off(r);
        uint32_t i = t->ncodes;
        memset(&c, 0, sizeof c);
        if (r_sid(r, &c.file, "code", i, "file") < 0 ||
            r_sid(r, &c.name, "code", i, "name") < 0 ||
            r_varint(r, &q, "qualname") < 0)
            return -1;
        if (q == 0) {
            c.qualname = c.name;
        } else if (q - 1 >= pf_strtab_count(t->strings)) {
            return pf_error_set(r->err, PF_ECORRUPT,
                                "code %u at offset %" PRIu64 ": qualname string id %" PRIu64
                                " out of range", i, off, q - 1);
        } else {
            c.qualname = (uint32_t)(q - 1);
        }
        if (r_u32(r, &c.first_line, "first_line") < 0 || r_varint(r, &kind, "kind") < 0)
            return -1;
        if (kind > PF_CODE_NATIVE)
            return pf_error_set(r->err, PF_ECORRUPT,
                                "code %u at offset %" PRIu64 ": unknown kind %" PRIu64, i,
                                off, kind);
        c.kind = (uint8_t)kind;
        if (added(r, pf_trace_add_code(t, &c), i) < 0)
            return -1;
    }
    return 0;
}

static int read_threads(reader *r)
{
    pf_trace *t = r->t;
    uint64_t count;
    if (r_count(r, &count) < 0)
        return -1;
    for (uint64_t k = 0; k < count; k++) {
        pf_thread th;
        uint32_t i = t->nthreads;
        if (r_varint(r, &th.ident, "ident") < 0 || r_sid(r, &th.name, "thread", i, "name") < 0)
            return -1;
        if (added(r, pf_trace_add_thread(t, &th), i) < 0)
            return -1;
    }
    return 0;
}

static int read_processes(reader *r)
{
    pf_trace *t = r->t;
    uint64_t count, z;
    r->seen_processes = 1;
    if (r_count(r, &count) < 0)
        return -1;
    for (uint64_t k = 0; k < count; k++) {
        pf_process p;
        uint64_t off = r_off(r);
        uint32_t i = t->nprocesses;
        memset(&p, 0, sizeof p);
        if (r_varint(r, &p.pid, "pid") < 0 || r_varint(r, &p.ppid, "ppid") < 0 ||
            r_sid(r, &p.command, "process", i, "command") < 0 ||
            r_u32(r, &p.first_thread, "first_thread") < 0 ||
            r_u32(r, &p.nthreads, "nthreads") < 0 || r_u32(r, &p.flags, "flags") < 0 ||
            r_varint(r, &z, "start_ns") < 0)
            return -1;
        p.start_ns = pf_zigzag_dec(z);
        if (r_varint(r, &p.duration_ns, "duration_ns") < 0 ||
            r_varint(r, &p.calls, "calls") < 0 ||
            r_varint(r, &p.peak_live_bytes, "peak_live_bytes") < 0 ||
            r_i32(r, &p.exit_code, "exit_code") < 0 ||
            r_u32(r, &p.exit_signal, "exit_signal") < 0)
            return -1;
        /* The threads it owns must have been read already (PROCESSES follows THREADS). */
        if (p.first_thread > t->nthreads || p.nthreads > t->nthreads - p.first_thread)
            return pf_error_set(r->err, PF_ECORRUPT,
                                "process %u at offset %" PRIu64 ": threads %u..%" PRIu64
                                " out of range (%u threads so far)", i, off, p.first_thread,
                                (uint64_t)p.first_thread + p.nthreads, t->nthreads);
        if (added(r, pf_trace_add_process(t, &p), i) < 0)
            return -1;
    }
    return 0;
}

static int read_rss(reader *r)
{
    pf_trace *t = r->t;
    uint32_t i = t->nrss;
    uint64_t off = r_off(r), proc, peak, final, count;
    r->seen_rss = 1;
    if (r_varint(r, &proc, "process") < 0 || r_varint(r, &peak, "peak_bytes") < 0 ||
        r_varint(r, &final, "final_bytes") < 0 || r_varint(r, &count, "sample count") < 0)
        return -1;
    if (proc >= t->nprocesses)
        return pf_error_set(r->err, PF_ECORRUPT,
                            "RSS %u at offset %" PRIu64 ": process %" PRIu64
                            " out of range (%u processes so far)", i, off, proc,
                            t->nprocesses);
    /* each sample takes at least two bytes: bounds the array before it is made */
    if (count > (uint64_t)(r->pend - r->p) / 2 || count > UINT32_MAX - 1)
        return pf_error_set(r->err, PF_ECORRUPT,
                            "RSS record at offset %" PRIu64 ": sample count %" PRIu64
                            " exceeds its payload", r->rec_off, count);
    pf_rss_sample *s = NULL;
    if (count) {
        if (charge(r, count * sizeof *s) < 0)
            return -1;
        if ((s = pf_malloc((size_t)count * sizeof *s)) == NULL)
            return nomem(r);
        pf_budget_release(&t->mem, count * sizeof *s);   /* pf_trace_add_rss charges it */
    }
    uint64_t prev = 0;
    for (uint64_t k = 0; k < count; k++) {
        uint64_t dt;
        if (r_varint(r, &dt, "time") < 0 || r_varint(r, &s[k].bytes, "bytes") < 0)
            goto fail;
        if (dt > UINT64_MAX - prev) {
            pf_error_set(r->err, PF_ECORRUPT, "RSS %u at offset %" PRIu64
                         ": sample %" PRIu64 " time overflows", i, off, k);
            goto fail;
        }
        prev += dt;
        s[k].time_ns = prev;
    }
    uint32_t idx = pf_trace_add_rss(t, (uint32_t)proc, peak, final, s, (uint32_t)count);
    pf_free(s);
    return added(r, idx, i);
fail:
    pf_free(s);
    return -1;
}

static int read_nodes(reader *r)
{
    pf_trace *t = r->t;
    uint64_t count;
    if (r_count(r, &count) < 0)
        return -1;
    for (uint64_t k = 0; k < count; k++) {
        pf_node n;
        uint64_t pdelta, off = r_off(r);
        uint32_t i = t->nnodes;
        memset(&n, 0, sizeof n);
        if (r_varint(r, &pdelta, "parent") < 0 || r_u32(r, &n.thread, "thread") < 0 ||
            r_u32(r, &n.code, "code") < 0 || r_u32(r, &n.call_line, "call_line") < 0 ||
            r_varint(r, &n.calls, "calls") < 0 || r_varint(r, &n.self_ns, "self_ns") < 0 ||
            r_varint(r, &n.total_ns, "child_ns") < 0)
            return -1;
        n.total_ns += n.self_ns;   /* wrapping, mirroring the writer */
        if (pdelta > i)
            return pf_error_set(r->err, PF_ECORRUPT,
                                "node %u at offset %" PRIu64 ": parent %" PRId64
                                " out of range", i, off,
                                pdelta > (uint64_t)INT64_MAX ? INT64_MIN
                                                             : (int64_t)i - (int64_t)pdelta);
        n.parent = pdelta == 0 ? PF_NONE : (uint32_t)(i - pdelta);
        if (n.thread >= t->nthreads)
            return pf_error_set(r->err, PF_ECORRUPT,
                                "node %u at offset %" PRIu64 ": thread %u out of range "
                                "(%u threads)", i, off, n.thread, t->nthreads);
        if (n.code >= t->ncodes)
            return pf_error_set(r->err, PF_ECORRUPT,
                                "node %u at offset %" PRIu64 ": code %u out of range "
                                "(%u codes)", i, off, n.code, t->ncodes);
        if (n.parent != PF_NONE && t->nodes[n.parent].thread != n.thread)
            return pf_error_set(r->err, PF_ECORRUPT,
                                "node %u at offset %" PRIu64 ": thread %u differs from "
                                "its parent's (%u)", i, off, n.thread,
                                t->nodes[n.parent].thread);
        if (added(r, pf_trace_add_node(t, &n), i) < 0)
            return -1;
    }
    return 0;
}

static int r_mem(reader *r, pf_mem *m)
{
    if (r_varint(r, &m->alloc_bytes, "alloc_bytes") < 0 ||
        r_varint(r, &m->alloc_count, "alloc_count") < 0 ||
        r_varint(r, &m->free_bytes, "free_bytes") < 0 ||
        r_varint(r, &m->peak_bytes, "peak_bytes") < 0 ||
        r_varint(r, &m->exit_bytes, "exit_bytes") < 0)
        return -1;
    return 0;
}

/* NODE_MEM / LINE_MEM: entries name strictly increasing indices of records already
 * read; *next is one past the previous entry's index. */
static int read_mem_block(reader *r, const char *what, uint32_t n, uint64_t *next,
                          uint64_t *nread, pf_mem *(*slot)(pf_trace *, uint32_t))
{
    uint64_t count;
    if (r_count(r, &count) < 0)
        return -1;
    for (uint64_t k = 0; k < count; k++) {
        uint64_t delta, off = r_off(r);
        if (r_varint(r, &delta, "index") < 0)
            return -1;
        if (*next > n || delta >= n - *next)
            return pf_error_set(r->err, PF_ECORRUPT,
                                "%s entry at offset %" PRIu64 ": %s index out of range "
                                "(%u read so far)", r->rec_name, off, what, n);
        uint32_t idx = (uint32_t)(*next + delta);
        pf_mem *m = slot(r->t, idx);
        if (m == NULL)
            return nomem(r);
        if (r_mem(r, m) < 0)
            return -1;
        *next = (uint64_t)idx + 1;
        (*nread)++;
    }
    return 0;
}

static pf_mem *node_mem(pf_trace *t, uint32_t i) { return pf_trace_node_mem_at(t, i); }
static pf_mem *line_mem(pf_trace *t, uint32_t i) { return &t->lines[i].mem; }

/* prev + zigzag delta, which must land in [0, limit). */
static int r_delta32(reader *r, uint32_t *val, uint32_t prev, uint64_t limit,
                     const char *what, uint32_t index, const char *field)
{
    uint64_t z, off = r_off(r);
    if (r_varint(r, &z, field) < 0)
        return -1;
    int64_t d = pf_zigzag_dec(z);
    int64_t v = d >= -(int64_t)prev && d < (int64_t)limit - (int64_t)prev
                    ? (int64_t)prev + d : -1;
    if (v < 0)
        return pf_error_set(r->err, PF_ECORRUPT,
                            "%s %u at offset %" PRIu64 ": %s delta %" PRId64
                            " out of range", what, index, off, field, d);
    *val = (uint32_t)v;
    return 0;
}

static int read_links(reader *r)
{
    pf_trace *t = r->t;
    uint64_t count;
    r->seen_links = 1;
    if (r_count(r, &count) < 0)
        return -1;
    for (uint64_t k = 0; k < count; k++) {
        pf_link l;
        uint64_t off = r_off(r);
        uint32_t i = t->nlinks;
        if (r_u32(r, &l.node, "node") < 0 || r_u32(r, &l.creator, "creator") < 0 ||
            r_u32(r, &l.kind, "kind") < 0)
            return -1;
        /* both nodes must have been read (LINKS follows NODES) */
        if (l.node >= t->nnodes || l.creator >= t->nnodes)
            return pf_error_set(r->err, PF_ECORRUPT,
                                "link %u at offset %" PRIu64 ": node %u or creator %u out of "
                                "range (%u nodes so far)", i, off, l.node, l.creator,
                                t->nnodes);
        if (l.node == l.creator)
            return pf_error_set(r->err, PF_ECORRUPT,
                                "link %u at offset %" PRIu64 ": node %u is its own creator",
                                i, off, l.node);
        if (added(r, pf_trace_add_link(t, &l), i) < 0)
            return -1;
    }
    return 0;
}

static int read_lines(reader *r)
{
    pf_trace *t = r->t;
    uint64_t count;
    if (r_count(r, &count) < 0)
        return -1;
    for (uint64_t k = 0; k < count; k++) {
        pf_line l;
        uint32_t i = t->nlines;
        memset(&l, 0, sizeof l);
        if (r_delta32(r, &l.code, r->line_prev_code, t->ncodes, "line", i, "code") < 0 ||
            r_delta32(r, &l.line, r->line_prev_line, (uint64_t)UINT32_MAX + 1, "line", i,
                      "line") < 0 ||
            r_varint(r, &l.hits, "hits") < 0 || r_varint(r, &l.self_ns, "self_ns") < 0 ||
            r_varint(r, &l.total_ns, "call_ns") < 0)
            return -1;
        l.total_ns += l.self_ns;
        r->line_prev_code = l.code;
        r->line_prev_line = l.line;
        if (added(r, pf_trace_add_line(t, &l), i) < 0)
            return -1;
    }
    return 0;
}

static int read_source(reader *r)
{
    pf_trace *t = r->t;
    uint32_t path, i = t->nsources;
    const char *s = NULL;
    size_t len = 0;
    if (r_sid(r, &path, "source", i, "path") < 0 || r_str(r, &s, &len, "text") < 0)
        return -1;
    return added(r, pf_trace_add_source(t, path, s, len), i);
}

static int read_samples(reader *r)
{
    pf_trace *t = r->t;
    uint64_t count;
    if (r_count(r, &count) < 0)
        return -1;
    for (uint64_t k = 0; k < count; k++) {
        pf_sample s;
        uint64_t node1, dt, off = r_off(r);
        uint32_t i = t->nsamples;
        if (r_u32(r, &s.thread, "thread") < 0 || r_varint(r, &node1, "node") < 0 ||
            r_varint(r, &dt, "time") < 0 || r_varint(r, &s.weight, "weight") < 0)
            return -1;
        if (s.thread >= t->nthreads)
            return pf_error_set(r->err, PF_ECORRUPT,
                                "sample %u at offset %" PRIu64 ": thread %u out of range",
                                i, off, s.thread);
        if (node1 > t->nnodes)
            return pf_error_set(r->err, PF_ECORRUPT,
                                "sample %u at offset %" PRIu64 ": node %" PRIu64
                                " out of range", i, off, node1 - 1);
        s.node = node1 == 0 ? PF_NONE : (uint32_t)(node1 - 1);
        /* Wrapping add mirrors the writer's wrapping difference. */
        s.time_ns = r->sample_prev_time + (uint64_t)pf_zigzag_dec(dt);
        r->sample_prev_time = s.time_ns;
        if (added(r, pf_trace_add_sample(t, &s), i) < 0)
            return -1;
    }
    return 0;
}

static int read_end(reader *r)
{
    const pf_trace *t = r->t;
    static const char *const names[] = { "strings", "codes", "threads", "nodes",
                                         "node memory entries", "lines",
                                         "line memory entries", "sources", "samples",
                                         "processes", "RSS records", "links" };
    uint64_t have[12] = { pf_strtab_count(t->strings), t->ncodes, t->nthreads, t->nnodes,
                          r->n_node_mem, t->nlines, r->n_line_mem, t->nsources,
                          t->nsamples, t->nprocesses, t->nrss, t->nlinks };
    /* The last three counts came with PROCESSES, RSS and LINKS: an older writer's END
     * ends before them, and so does ours for a trace without those records.  One may
     * be missing only when no record it counts, nor any later one, was read. */
    static const char *const optional[3] = { "processes", "RSS", "links" };
    int seen[3] = { r->seen_processes, r->seen_rss, r->seen_links };
    for (int k = 0; k < 12; k++) {
        uint64_t want;
        if (k >= 9 && r->p == r->pend) {
            for (int j = k; j < 12; j++)
                if (seen[j - 9])
                    return pf_error_set(r->err, PF_ECORRUPT,
                                        "END record at offset %" PRIu64 " has no %s "
                                        "count but %" PRIu64 " %s were read",
                                        r->rec_off, optional[j - 9], have[j], names[j]);
            break;
        }
        if (r_varint(r, &want, names[k]) < 0)
            return -1;
        if (want != have[k])
            return pf_error_set(r->err, want > have[k] ? PF_ETRUNC : PF_ECORRUPT,
                                "END record at offset %" PRIu64 " counts %" PRIu64
                                " %s but %" PRIu64 " were read", r->rec_off, want,
                                names[k], have[k]);
    }
    if (!r->seen_meta)
        return pf_error_set(r->err, PF_ECORRUPT, "no META record before END at offset %"
                            PRIu64, r->rec_off);
    return 0;
}

static const char *tag_name(uint64_t tag)
{
    switch (tag) {
    case PF_TAG_END: return "END";
    case PF_TAG_META: return "META";
    case PF_TAG_STRINGS: return "STRINGS";
    case PF_TAG_CODES: return "CODES";
    case PF_TAG_THREADS: return "THREADS";
    case PF_TAG_NODES: return "NODES";
    case PF_TAG_NODE_MEM: return "NODE_MEM";
    case PF_TAG_LINES: return "LINES";
    case PF_TAG_LINE_MEM: return "LINE_MEM";
    case PF_TAG_SOURCE: return "SOURCE";
    case PF_TAG_SAMPLES: return "SAMPLES";
    case PF_TAG_PROCESSES: return "PROCESSES";
    case PF_TAG_RSS: return "RSS";
    case PF_TAG_LINKS: return "LINKS";
    default: return "unknown";
    }
}

/* Makes r->p..r->pend the next len stream bytes: in place when they sit in the
 * current window, else copied into r->pay, grown only as bytes arrive. */
static int load_payload(reader *r, uint64_t len)
{
    in *s = r->in;
    if (s->end - s->pos >= len) {
        r->p0 = s->buf + s->pos;
        s->pos += (size_t)len;
        r->p = r->p0;
        r->pend = r->p0 + len;
        return 0;
    }
    size_t got = 0;
    while (got < len) {
        if (s->pos == s->end) {
            int f = in_fill(s);
            if (f < 0)
                return -1;
            if (f == 0)
                return pf_error_set(r->err, PF_ETRUNC,
                                    "truncated record at offset %" PRIu64
                                    " (%s, %" PRIu64 " of %" PRIu64 " payload bytes)",
                                    r->rec_off, r->rec_name, (uint64_t)got, len);
        }
        size_t chunk = s->end - s->pos;
        if (chunk > len - got)
            chunk = (size_t)(len - got);
        if (r->pay_cap - got < chunk) {
            size_t ncap = r->pay_cap ? r->pay_cap : 64 * 1024;
            while (ncap - got < chunk)
                ncap *= 2;
            if (charge(r, ncap - r->pay_cap) < 0)
                return -1;
            unsigned char *np = pf_realloc(r->pay, ncap);
            if (np == NULL) {
                pf_budget_release(&r->t->mem, ncap - r->pay_cap);
                return nomem(r);
            }
            r->pay = np;
            r->pay_cap = ncap;
        }
        memcpy(r->pay + got, s->buf + s->pos, chunk);
        s->pos += chunk;
        got += chunk;
    }
    r->p0 = r->pay;
    r->p = r->p0;
    r->pend = r->p0 + len;
    return 0;
}

/* Skips an unknown record without storing it. */
static int skip_payload(reader *r, uint64_t len)
{
    in *s = r->in;
    while (len > 0) {
        if (s->pos == s->end) {
            int f = in_fill(s);
            if (f < 0)
                return -1;
            if (f == 0)
                return pf_error_set(r->err, PF_ETRUNC, "truncated record at offset %" PRIu64
                                    " (unknown tag)", r->rec_off);
        }
        size_t chunk = s->end - s->pos;
        if (chunk > len)
            chunk = (size_t)len;
        s->pos += chunk;
        len -= chunk;
    }
    return 0;
}

static int read_header(reader *r)
{
    in *s = r->in;
    unsigned char magic[PF_TRACE_MAGIC_LEN];
    size_t got = 0;
    while (got < PF_TRACE_MAGIC_LEN) {
        int b = in_byte(s, &magic[got]);
        if (b < 0)
            return -1;
        if (b == 0)
            break;
        got++;
    }
    if (got == 0)
        return pf_error_set(r->err, PF_EEMPTY, "empty input (no trace header at offset 0)");
    /* A lone 0x1f is a gzip header cut after its first byte. */
    if (got == 1 && !pf_input_is_gzip(s->src) && magic[0] == 0x1f)
        return pf_error_set(r->err, PF_ETRUNC, "truncated gzip header at offset 0");
    if (memcmp(magic, PF_TRACE_MAGIC, got) != 0)
        return pf_error_set(r->err, PF_EMAGIC, "bad magic (not a pyflame-c trace)");
    if (got < PF_TRACE_MAGIC_LEN)
        return pf_error_set(r->err, PF_ETRUNC, "truncated header at offset %zu", got);
    uint64_t version;
    int bad, v = in_varint(s, &version, &bad);
    if (v < 0 && !bad)
        return -1;
    if (v == 0 || v == 2)
        return pf_error_set(r->err, PF_ETRUNC, "truncated header at offset %" PRIu64,
                            in_offset(s));
    if (bad || version != PF_TRACE_FORMAT_VERSION)
        return pf_error_set(r->err, PF_EVERSION,
                            "unsupported format version %s%" PRIu64 " (this reader knows %d)",
                            bad ? ">" : "", bad ? UINT64_MAX : version,
                            PF_TRACE_FORMAT_VERSION);
    r->t->meta.format_version = (uint32_t)version;
    return 0;
}

static int read_records(reader *r)
{
    in *s = r->in;
    for (;;) {
        uint64_t tag, len;
        int bad;
        r->rec_off = in_offset(s);
        int v = in_varint(s, &tag, &bad);
        if (v == 0)
            return pf_error_set(r->err, PF_ETRUNC,
                                "truncated trace: missing END record at offset %" PRIu64,
                                r->rec_off);
        if (v == 1)
            v = in_varint(s, &len, &bad);
        if (v == 0 || v == 2)
            return pf_error_set(r->err, PF_ETRUNC, "truncated record at offset %" PRIu64,
                                r->rec_off);
        if (v < 0)
            return bad ? pf_error_set(r->err, PF_ECORRUPT,
                                      "malformed record header at offset %" PRIu64,
                                      r->rec_off)
                       : -1;
        if (tag == 0)
            return pf_error_set(r->err, PF_ECORRUPT, "bad record tag 0 at offset %" PRIu64,
                                r->rec_off);
        if (len > r->t->mem.limit && r->t->mem.limit != 0) {
            char b[32];
            return pf_error_set(r->err, PF_ELIMIT,
                                "record at offset %" PRIu64 " claims %" PRIu64
                                " bytes, more than the %s decoding budget (raise it with "
                                PF_BUDGET_OPTION ")", r->rec_off, len,
                                pf_budget_format(r->t->mem.limit, b, sizeof b));
        }
        r->rec_name = tag_name(tag);
        if (tag > PF_TAG_LAST) {
            /* Forward compatibility: a newer writer's record; skip it. */
            if (skip_payload(r, len) < 0)
                return -1;
            continue;
        }
        r->pay_off = in_offset(s);
        r->p0 = r->p = r->pend = NULL;
        if (load_payload(r, len) < 0)
            return -1;
        int rc;
        switch ((enum pf_trace_tag)tag) {
        case PF_TAG_META: rc = read_meta(r); break;
        case PF_TAG_STRINGS: rc = read_strings(r); break;
        case PF_TAG_CODES: rc = read_codes(r); break;
        case PF_TAG_THREADS: rc = read_threads(r); break;
        case PF_TAG_PROCESSES: rc = read_processes(r); break;
        case PF_TAG_RSS: rc = read_rss(r); break;
        case PF_TAG_NODES: rc = read_nodes(r); break;
        case PF_TAG_NODE_MEM:
            rc = read_mem_block(r, "node", r->t->nnodes, &r->node_mem_next, &r->n_node_mem,
                                node_mem);
            break;
        case PF_TAG_LINKS: rc = read_links(r); break;
        case PF_TAG_LINES: rc = read_lines(r); break;
        case PF_TAG_LINE_MEM:
            rc = read_mem_block(r, "line", r->t->nlines, &r->line_mem_next, &r->n_line_mem,
                                line_mem);
            break;
        case PF_TAG_SOURCE: rc = read_source(r); break;
        case PF_TAG_SAMPLES: rc = read_samples(r); break;
        case PF_TAG_END: rc = read_end(r); break;
        default: rc = pf_error_set(r->err, PF_ECORRUPT, "bad record tag"); break;
        }
        if (rc < 0)
            return -1;
        /* Bytes left in the payload belong to fields of a newer version: ignored. */
        if (tag == PF_TAG_END)
            break;
    }
    /* END is last: anything after it (other than the end of the gzip member) means
     * two traces glued together or a corrupt stream. */
    unsigned char b;
    uint64_t off = in_offset(s);
    int more = in_byte(s, &b);
    if (more < 0)
        return -1;
    if (more > 0)
        return pf_error_set(r->err, PF_ECORRUPT,
                            "unexpected data after END record at offset %" PRIu64, off);
    return 0;
}

pf_trace *pf_trace_read_input(pf_input *src, pf_error *err)
{
    if (src == NULL) {
        pf_error_set(err, PF_EUSAGE, "no input");
        return NULL;
    }
    /* other profilers' files read as traces too (formats/foreign.h) */
    if (pf_input_offset(src) == 0) {
        int kind = pf_input_sniff(src, err);
        if (kind < 0)
            return NULL;
        if (kind == PF_INPUT_PSTATS || kind == PF_INPUT_SPEEDSCOPE)
            return pf_foreign_read_input(src, kind, err);
    }
    in s;
    memset(&s, 0, sizeof s);
    s.src = src;
    s.err = err;
    s.base = pf_input_offset(src);
    reader r;
    memset(&r, 0, sizeof r);
    r.in = &s;
    r.err = err;
    r.t = pf_trace_new();
    if (r.t == NULL) {
        pf_error_set(err, PF_ENOMEM, "out of memory reading trace");
        return NULL;
    }
    r.t->mem.limit = pf_input_budget(src);
    int rc = read_header(&r) < 0 || read_records(&r) < 0 ? -1 : 0;
    pf_free(r.pay);
    pf_budget_release(&r.t->mem, r.pay_cap);
    if (rc < 0) {
        pf_trace_free(r.t);
        return NULL;
    }
    /* The budget binds the reader; the caller may grow the trace as it likes. */
    r.t->mem.limit = 0;
    pf_trace_shrink(r.t);
    return r.t;
}

pf_trace *pf_trace_read_mem(const void *data, size_t len, pf_error *err)
{
    pf_input *src = pf_input_open_mem(data, len, err);
    if (src == NULL)
        return NULL;
    pf_trace *t = pf_trace_read_input(src, err);
    pf_input_free(src);
    return t;
}

pf_trace *pf_trace_read(const char *path, pf_error *err)
{
    pf_input *src = pf_input_open(path, err);
    if (src == NULL)
        return NULL;
    pf_trace *t = pf_trace_read_input(src, err);
    pf_input_free(src);
    return t;
}

int pf_trace_sniff(const void *data, size_t len)
{
    if (data == NULL)
        return 0;
    pf_input *src = pf_input_open_mem(data, len, NULL);
    if (src == NULL)
        return 0;
    pf_error err;
    pf_error_clear(&err);
    const unsigned char *p;
    size_t n;
    int rc = pf_input_peek(src, PF_TRACE_MAGIC_LEN, &p, &n, &err);
    int gz = pf_input_is_gzip(src);
    size_t k = n < PF_TRACE_MAGIC_LEN ? n : PF_TRACE_MAGIC_LEN;
    int match = memcmp(p, PF_TRACE_MAGIC, k) == 0;
    pf_input_free(src);
    if (n >= PF_TRACE_MAGIC_LEN)
        return match;
    /* gzip data that ends before 8 bytes decompress (a short peek) cannot be told
     * apart: a valid gzip start whose output so far matches counts as a trace. */
    return gz && match && (rc == 0 || err.code == PF_ETRUNC);
}
