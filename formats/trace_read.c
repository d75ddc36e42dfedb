/* trace_read.c: parses the format in FORMAT.md back into a pf_trace.
 *
 * Traces are untrusted input.  The reader is two layers:
 *   - `in`: a pull stream of uncompressed bytes with its offset, from memory or a
 *     FILE, inflating gzip members on the fly (or passing raw records through);
 *   - the record loop: tag and length varints from the stream, then the payload
 *     (pointed to in place when it lies in one buffer, else copied into a buffer
 *     that grows only as bytes actually arrive), then one read_<record>() per tag,
 *     mirroring write_<record>() in trace_write.c field by field.
 * Invariants: no allocation is sized by a field that was not checked against bytes
 * already read; every index is checked against what has been decoded so far (so a
 * node's parent precedes it, ids precede their use); entries are appended one at a
 * time.  Errors name what is wrong and the offset in the uncompressed stream.
 */
#include "trace.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <zlib.h>

#include "alloc.h"
#include "trace_format.h"
#include "varint.h"

#define IN_BUF (256u * 1024u)

/* Cap on the decompressed record stream (pf_trace_set_read_limit). */
static uint64_t read_limit = PF_TRACE_MAX_BYTES;

void pf_trace_set_read_limit(uint64_t bytes)
{
    read_limit = bytes ? bytes : PF_TRACE_MAX_BYTES;
}

/* ---- the input stream ---- */

typedef struct in {
    pf_error *err;
    /* where (possibly compressed) bytes come from */
    FILE *fp;                     /* or NULL: memory */
    const unsigned char *mem;     /* memory source */
    size_t memlen, mempos;
    unsigned char *srcbuf;        /* FILE source buffer */
    int src_eof;
    /* gzip */
    int gz, z_init, z_member_done;
    z_stream z;
    /* the window of uncompressed bytes */
    const unsigned char *buf;
    size_t pos, end;
    unsigned char *dbuf;          /* owned window storage (gzip output) */
    uint64_t base;                /* stream offset of buf[0] */
} in;

static uint64_t in_offset(const in *s)
{
    return s->base + s->pos;
}

/* Gives zlib more compressed input.  1: some, 0: source exhausted, -1: error. */
static int src_more(in *s)
{
    if (s->src_eof)
        return 0;
    if (s->fp == NULL) {
        size_t left = s->memlen - s->mempos;
        if (left == 0) {
            s->src_eof = 1;
            return 0;
        }
        uInt n = left > (1u << 30) ? (1u << 30) : (uInt)left;
        s->z.next_in = (Bytef *)(uintptr_t)(s->mem + s->mempos);
        s->z.avail_in = n;
        s->mempos += n;
        return 1;
    }
    size_t n = fread(s->srcbuf, 1, IN_BUF, s->fp);
    if (n == 0) {
        if (ferror(s->fp))
            return pf_error_set(s->err, PF_EIO, "read error at offset %" PRIu64 ": %s",
                                s->base + s->end, strerror(errno));
        s->src_eof = 1;
        return 0;
    }
    s->z.next_in = s->srcbuf;
    s->z.avail_in = (uInt)n;
    return 1;
}

/* Refills the window (pos == end on entry).  1: bytes available, 0: clean end of
 * stream, -1: error (err set). */
static int in_fill(in *s)
{
    s->base += s->end;
    s->pos = s->end = 0;
    if (!s->gz) {
        if (s->fp == NULL)
            return 0;                 /* memory: the whole input was one window */
        size_t n = fread(s->srcbuf, 1, IN_BUF, s->fp);
        if (n == 0) {
            if (ferror(s->fp))
                return pf_error_set(s->err, PF_EIO, "read error at offset %" PRIu64 ": %s",
                                    s->base, strerror(errno));
            return 0;
        }
        s->buf = s->srcbuf;
        s->end = n;
    } else {
        s->buf = s->dbuf;
        for (;;) {
            if (s->z_member_done) {
                /* Another gzip member may follow (as with `cat a.gz b.gz`). */
                if (s->z.avail_in == 0) {
                    int m = src_more(s);
                    if (m <= 0)
                        return m;
                }
                if (inflateReset(&s->z) != Z_OK)
                    return pf_error_set(s->err, PF_ECORRUPT,
                                        "corrupt gzip stream at offset %" PRIu64, s->base);
                s->z_member_done = 0;
            }
            if (s->z.avail_in == 0 && src_more(s) < 0)
                return -1;
            s->z.next_out = s->dbuf;
            s->z.avail_out = IN_BUF;
            int ret = inflate(&s->z, Z_NO_FLUSH);
            s->end = IN_BUF - s->z.avail_out;
            if (ret == Z_STREAM_END) {
                s->z_member_done = 1;
            } else if (ret == Z_BUF_ERROR) {
                if (s->z.avail_in == 0 && s->src_eof)
                    return pf_error_set(s->err, PF_ETRUNC,
                                        "truncated gzip stream at offset %" PRIu64,
                                        s->base + s->end);
            } else if (ret == Z_MEM_ERROR) {
                return pf_error_set(s->err, PF_ENOMEM, "out of memory decompressing trace");
            } else if (ret != Z_OK) {
                return pf_error_set(s->err, PF_ECORRUPT,
                                    "corrupt gzip stream at offset %" PRIu64 ": %s",
                                    s->base + s->end, s->z.msg ? s->z.msg : "inflate failed");
            }
            if (s->end > 0)
                break;
        }
    }
    if (s->base + s->end > read_limit)
        return pf_error_set(s->err, PF_ELIMIT,
                            "trace larger than %" PRIu64 " bytes uncompressed at offset %" PRIu64
                            " (refusing to read more)", read_limit, s->base);
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

static int in_open_common(in *s)
{
    if (!s->gz)
        return 0;
    s->dbuf = pf_malloc(IN_BUF);
    if (s->dbuf == NULL)
        return pf_error_set(s->err, PF_ENOMEM, "out of memory reading trace");
    s->z.zalloc = pf_trace_zalloc_;
    s->z.zfree = pf_trace_zfree_;
    int ret = inflateInit2(&s->z, 15 + 16);
    if (ret != Z_OK)
        return pf_error_set(s->err, ret == Z_MEM_ERROR ? PF_ENOMEM : PF_EIO,
                            ret == Z_MEM_ERROR ? "out of memory reading trace"
                                               : "zlib init failed");
    s->z_init = 1;
    s->buf = s->dbuf;
    return 0;
}

static int is_gzip(const unsigned char *p, size_t n)
{
    return n >= 2 && p[0] == 0x1f && p[1] == 0x8b;
}

static int in_open_mem(in *s, const unsigned char *data, size_t len)
{
    if (is_gzip(data, len)) {
        s->gz = 1;
        s->mem = data;
        s->memlen = len;
        return in_open_common(s);
    }
    if (len > read_limit)
        return pf_error_set(s->err, PF_ELIMIT, "trace larger than %" PRIu64 " bytes",
                            read_limit);
    s->buf = data;
    s->end = len;
    return 0;
}

static int in_open_file(in *s, FILE *fp)
{
    s->fp = fp;
    s->srcbuf = pf_malloc(IN_BUF);
    if (s->srcbuf == NULL)
        return pf_error_set(s->err, PF_ENOMEM, "out of memory reading trace");
    size_t n = fread(s->srcbuf, 1, IN_BUF, fp);
    if (n == 0 && ferror(fp))
        return pf_error_set(s->err, PF_EIO, "read error at offset 0: %s", strerror(errno));
    if (is_gzip(s->srcbuf, n)) {
        s->gz = 1;
        s->z.next_in = s->srcbuf;
        s->z.avail_in = (uInt)n;
        if (n < IN_BUF)
            s->src_eof = feof(fp) ? 1 : 0;
        return in_open_common(s);
    }
    s->buf = s->srcbuf;
    s->end = n;
    return 0;
}

static void in_close(in *s)
{
    if (s->z_init)
        inflateEnd(&s->z);
    pf_free(s->dbuf);
    pf_free(s->srcbuf);
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
} reader;

static uint64_t r_off(const reader *r)
{
    return r->pay_off + (uint64_t)(r->p - r->p0);
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

static int nomem(reader *r)
{
    return pf_error_set(r->err, PF_ENOMEM, "out of memory reading trace");
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
            char **nl = pf_reallocarray(*list, k ? (size_t)k * 2 : 1, sizeof(char *));
            if (nl == NULL)
                return nomem(r);
            *list = nl;
        }
        char *c = pf_strndup(s, len);
        if (c == NULL)
            return nomem(r);
        (*list)[k] = c;
        *count = k + 1;
    }
    return 0;
}

/* ---- records; trace_write.c has the mirror of each ---- */

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
    return 0;
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
        if (r_mem(r, slot(r->t, idx)) < 0)
            return -1;
        *next = (uint64_t)idx + 1;
        (*nread)++;
    }
    return 0;
}

static pf_mem *node_mem(pf_trace *t, uint32_t i) { return &t->nodes[i].mem; }
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
                                         "line memory entries", "sources", "samples" };
    uint64_t have[9] = { pf_strtab_count(t->strings), t->ncodes, t->nthreads, t->nnodes,
                         r->n_node_mem, t->nlines, r->n_line_mem, t->nsources,
                         t->nsamples };
    for (int k = 0; k < 9; k++) {
        uint64_t want;
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
            unsigned char *np = pf_realloc(r->pay, ncap);
            if (np == NULL)
                return nomem(r);
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
    if (got == 1 && !s->gz && magic[0] == 0x1f)
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
        if (len > read_limit)
            return pf_error_set(r->err, PF_ELIMIT,
                                "record at offset %" PRIu64 " claims %" PRIu64
                                " bytes (limit %" PRIu64 ")", r->rec_off, len, read_limit);
        r->rec_name = tag_name(tag);
        if (tag > PF_TAG_SAMPLES) {
            /* Forward compatibility: a newer writer's record; skip it. */
            if (skip_payload(r, len) < 0)
                return -1;
            continue;
        }
        r->pay_off = in_offset(s);
        if (load_payload(r, len) < 0)
            return -1;
        int rc;
        switch ((enum pf_trace_tag)tag) {
        case PF_TAG_META: rc = read_meta(r); break;
        case PF_TAG_STRINGS: rc = read_strings(r); break;
        case PF_TAG_CODES: rc = read_codes(r); break;
        case PF_TAG_THREADS: rc = read_threads(r); break;
        case PF_TAG_NODES: rc = read_nodes(r); break;
        case PF_TAG_NODE_MEM:
            rc = read_mem_block(r, "node", r->t->nnodes, &r->node_mem_next, &r->n_node_mem,
                                node_mem);
            break;
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

static pf_trace *read_stream(in *s, pf_error *err)
{
    reader r;
    memset(&r, 0, sizeof r);
    r.in = s;
    r.err = err;
    r.t = pf_trace_new();
    if (r.t == NULL) {
        pf_error_set(err, PF_ENOMEM, "out of memory reading trace");
        return NULL;
    }
    if (read_header(&r) < 0 || read_records(&r) < 0) {
        pf_free(r.pay);
        pf_trace_free(r.t);
        return NULL;
    }
    pf_free(r.pay);
    return r.t;
}

pf_trace *pf_trace_read_mem(const void *data, size_t len, pf_error *err)
{
    in s;
    memset(&s, 0, sizeof s);
    s.err = err;
    if (data == NULL && len != 0) {
        pf_error_set(err, PF_EUSAGE, "no input buffer");
        return NULL;
    }
    pf_trace *t = NULL;
    if (in_open_mem(&s, data ? data : "", len) == 0)
        t = read_stream(&s, err);
    in_close(&s);
    return t;
}

pf_trace *pf_trace_read(const char *path, pf_error *err)
{
    if (path == NULL) {
        pf_error_set(err, PF_EUSAGE, "no input file name");
        return NULL;
    }
    int is_stdin = strcmp(path, "-") == 0;
    FILE *fp = is_stdin ? stdin : fopen(path, "rb");
    if (fp == NULL) {
        pf_error_set(err, PF_EIO, "cannot open for reading: %s", strerror(errno));
        return NULL;
    }
    in s;
    memset(&s, 0, sizeof s);
    s.err = err;
    pf_trace *t = NULL;
    if (in_open_file(&s, fp) == 0)
        t = read_stream(&s, err);
    in_close(&s);
    if (!is_stdin)
        fclose(fp);
    return t;
}

int pf_trace_sniff(const void *data, size_t len)
{
    const unsigned char *p = data;
    if (p == NULL)
        return 0;
    if (len >= PF_TRACE_MAGIC_LEN && memcmp(p, PF_TRACE_MAGIC, PF_TRACE_MAGIC_LEN) == 0)
        return 1;
    if (!is_gzip(p, len))
        return 0;
    /* Inflate just enough to see the magic inside. */
    unsigned char head[PF_TRACE_MAGIC_LEN];
    z_stream z;
    memset(&z, 0, sizeof z);
    z.zalloc = pf_trace_zalloc_;
    z.zfree = pf_trace_zfree_;
    if (inflateInit2(&z, 15 + 16) != Z_OK)
        return 0;
    z.next_in = (Bytef *)(uintptr_t)p;
    z.avail_in = len > UINT32_MAX ? UINT32_MAX : (uInt)len;
    z.next_out = head;
    z.avail_out = sizeof head;
    int ret;
    do {
        ret = inflate(&z, Z_NO_FLUSH);
    } while (ret == Z_OK && z.avail_out > 0 && z.avail_in > 0);
    size_t got = sizeof head - z.avail_out;
    inflateEnd(&z);
    if (ret != Z_OK && ret != Z_STREAM_END && ret != Z_BUF_ERROR)
        return 0;
    /* Input that ends before 8 bytes decompress cannot be told apart: a valid
     * gzip start whose output so far matches counts as a trace. */
    return memcmp(head, PF_TRACE_MAGIC, got) == 0 && (got == sizeof head || z.avail_in == 0);
}
