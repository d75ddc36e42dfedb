/* trace_write.c: serialises a pf_trace to the format in FORMAT.md.
 *
 * Mirrors trace_read.c field by field: each write_<record>() here has a
 * read_<record>() there with the same fields in the same order.  Every byte goes
 * through w_varint()/w_bytes() into a payload buffer; a finished record is framed
 * (tag varint, length varint) and handed to the sink, which deflates it (gzip
 * framing, windowBits 31) or copies it raw, into a FILE or a memory buffer.
 * Blocks are cut at PF_TRACE_BLOCK_ENTRIES entries or PF_TRACE_BLOCK_BYTES payload
 * bytes, so memory use is one block, whatever the trace size.
 * Errors are sticky (w->failed); callers check once per record, as ldump.c does.
 */
#include "trace.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "alloc.h"
#include "trace_format.h"
#include "output.h"
#include "progress.h"
#include "varint.h"

#define ZOUT_SIZE (256u * 1024u)
/* zlib default.  On a 1M-node trace, level 1 is ~5% bigger and ~40% faster; a trace
 * written once and read many times takes the smaller size (FORMAT.md, "Size"), except
 * at the end of `collect`, where the program's user waits for it (pf_trace_write_quick:
 * on the unittest workload's 240 K-node trace, half the CPU time for 17% more bytes). */
#define GZIP_LEVEL 6
#define GZIP_LEVEL_QUICK 1

typedef struct writer {
    unsigned char *pay;       /* payload of the record being built */
    size_t plen, pcap;
    int failed;               /* sticky: an error is in *err */
    pf_error *err;
    /* sink */
    int gz;
    int level;                /* zlib level when gz */
    int z_init;
    z_stream z;
    unsigned char *zout;
    FILE *fp;                 /* file target, or NULL for memory */
    unsigned char *mem;       /* memory target */
    size_t mlen, mcap;
    uint64_t done, total;     /* block entries written, of total (progress; 0: none) */
} writer;

static void w_fail(writer *w, enum pf_error_code code, const char *what)
{
    if (w->failed)
        return;
    w->failed = 1;
    pf_error_set(w->err, code, "%s", what);
}

/* Same, for a failed system call: appends strerror(errno). */
static void w_fail_errno(writer *w, const char *what)
{
    if (w->failed)
        return;
    w->failed = 1;
    pf_error_set(w->err, PF_EIO, "%s: %s", what, strerror(errno));
}

/* ---- the output end: FILE or memory ---- */

static void out_write(writer *w, const unsigned char *p, size_t n)
{
    if (w->failed || n == 0)
        return;
    if (w->fp) {
        if (fwrite(p, 1, n, w->fp) != n)
            w_fail_errno(w, "cannot write trace");
        return;
    }
    if (w->mcap - w->mlen < n) {
        size_t ncap = w->mcap ? w->mcap : 64 * 1024;
        while (ncap - w->mlen < n) {
            if (ncap > SIZE_MAX / 2) {
                w_fail(w, PF_ENOMEM, "out of memory writing trace");
                return;
            }
            ncap *= 2;
        }
        unsigned char *m = pf_realloc(w->mem, ncap);
        if (m == NULL) {
            w_fail(w, PF_ENOMEM, "out of memory writing trace");
            return;
        }
        w->mem = m;
        w->mcap = ncap;
    }
    memcpy(w->mem + w->mlen, p, n);
    w->mlen += n;
}

/* ---- the sink: raw bytes in, deflated (or not) bytes out ---- */

static int deflate_step(writer *w, int flush)
{
    int ret;
    do {
        w->z.next_out = w->zout;
        w->z.avail_out = ZOUT_SIZE;
        ret = deflate(&w->z, flush);
        if (ret == Z_STREAM_ERROR) {
            w_fail(w, PF_EIO, "zlib deflate failed");
            return -1;
        }
        out_write(w, w->zout, ZOUT_SIZE - w->z.avail_out);
        if (w->failed)
            return -1;
    } while (w->z.avail_out == 0 || (flush == Z_FINISH && ret != Z_STREAM_END));
    return 0;
}

static void sink_write(writer *w, const unsigned char *p, size_t n)
{
    if (w->failed || n == 0)
        return;
    if (!w->gz) {
        out_write(w, p, n);
        return;
    }
    while (n > 0) {
        /* avail_in is a uInt: feed huge payloads (big source files) in slices. */
        uInt chunk = n > (1u << 30) ? (1u << 30) : (uInt)n;
        w->z.next_in = (Bytef *)(uintptr_t)p;
        w->z.avail_in = chunk;
        if (deflate_step(w, Z_NO_FLUSH) < 0)
            return;
        p += chunk;
        n -= chunk;
    }
}

static int sink_open(writer *w)
{
    if (!w->gz)
        return 0;
    w->zout = pf_malloc(ZOUT_SIZE);
    if (w->zout == NULL) {
        w_fail(w, PF_ENOMEM, "out of memory writing trace");
        return -1;
    }
    memset(&w->z, 0, sizeof w->z);
    w->z.zalloc = pf_trace_zalloc_;
    w->z.zfree = pf_trace_zfree_;
    int ret = deflateInit2(&w->z, w->level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
    if (ret != Z_OK) {
        w_fail(w, ret == Z_MEM_ERROR ? PF_ENOMEM : PF_EIO,
               ret == Z_MEM_ERROR ? "out of memory writing trace" : "zlib init failed");
        return -1;
    }
    w->z_init = 1;
    return 0;
}

static int sink_finish(writer *w)
{
    if (w->gz && !w->failed) {
        w->z.next_in = Z_NULL;
        w->z.avail_in = 0;
        deflate_step(w, Z_FINISH);
    }
    return w->failed ? -1 : 0;
}

static void writer_free(writer *w)
{
    if (w->z_init)
        deflateEnd(&w->z);
    pf_free(w->zout);
    pf_free(w->pay);
    pf_free(w->mem);
}

/* ---- payload primitives: the only code that turns values into bytes ---- */

static int pay_grow(writer *w, size_t n)
{
    if (w->failed)
        return -1;
    size_t ncap = w->pcap ? w->pcap : 4096;
    while (ncap - w->plen < n) {
        if (ncap > SIZE_MAX / 2) {
            w_fail(w, PF_ENOMEM, "out of memory writing trace");
            return -1;
        }
        ncap *= 2;
    }
    unsigned char *p = pf_realloc(w->pay, ncap);
    if (p == NULL) {
        w_fail(w, PF_ENOMEM, "out of memory writing trace");
        return -1;
    }
    w->pay = p;
    w->pcap = ncap;
    return 0;
}

static void w_varint(writer *w, uint64_t v)
{
    if (w->pcap - w->plen < PF_VARINT_MAX && pay_grow(w, PF_VARINT_MAX) < 0)
        return;
    w->plen += pf_varint_put(w->pay + w->plen, v);
}

static void w_bytes(writer *w, const void *p, size_t n)
{
    if (n == 0 || (w->pcap - w->plen < n && pay_grow(w, n) < 0))
        return;
    memcpy(w->pay + w->plen, p, n);
    w->plen += n;
}

/* str: varint length, then the bytes (no NUL). */
static void w_str(writer *w, const char *s, size_t len)
{
    w_varint(w, len);
    w_bytes(w, s, len);
}

/* optstr: 0 for NULL, else varint length+1, then the bytes. */
static void w_optstr(writer *w, const char *s)
{
    if (s == NULL) {
        w_varint(w, 0);
        return;
    }
    size_t len = strlen(s);
    w_varint(w, (uint64_t)len + 1);
    w_bytes(w, s, len);
}

/* Frames the payload built so far as one record: tag, length, [count,] payload.
 * count < 0: a plain record; otherwise a block whose entry count is prepended. */
static int emit(writer *w, enum pf_trace_tag tag, int64_t count)
{
    unsigned char hdr[3 * PF_VARINT_MAX];
    unsigned char cnt[PF_VARINT_MAX];
    size_t ncnt = count >= 0 ? pf_varint_put(cnt, (uint64_t)count) : 0;
    size_t h = pf_varint_put(hdr, (uint64_t)tag);
    h += pf_varint_put(hdr + h, (uint64_t)(ncnt + w->plen));
    memcpy(hdr + h, cnt, ncnt);
    sink_write(w, hdr, h + ncnt);
    sink_write(w, w->pay, w->plen);
    w->plen = 0;
    return w->failed ? -1 : 0;
}

/* Called after each block entry: closes the block when it is full. */
static int block_step(writer *w, enum pf_trace_tag tag, uint32_t *count)
{
    if (w->failed)
        return -1;
    if (++*count < PF_TRACE_BLOCK_ENTRIES && w->plen < PF_TRACE_BLOCK_BYTES)
        return 0;
    int r = emit(w, tag, *count);
    if (w->total) {
        w->done += *count;
        pf_progress_report(PF_PROGRESS_WRITE, w->done < w->total ? w->done : w->total - 1,
                           w->total);
    }
    *count = 0;
    return r;
}

static int block_end(writer *w, enum pf_trace_tag tag, uint32_t count)
{
    return count ? emit(w, tag, count) : (w->failed ? -1 : 0);
}

/* ---- records, in file order; trace_read.c has the mirror of each ---- */

static int write_header(writer *w)
{
    w_bytes(w, PF_TRACE_MAGIC, PF_TRACE_MAGIC_LEN);
    w_varint(w, PF_TRACE_FORMAT_VERSION);
    sink_write(w, w->pay, w->plen);
    w->plen = 0;
    return w->failed ? -1 : 0;
}

static int write_meta(writer *w, const pf_meta *m)
{
    w_optstr(w, m->python_version);
    w_optstr(w, m->python_executable);
    w_varint(w, m->argc);
    for (uint32_t i = 0; i < m->argc; i++)
        w_str(w, m->argv[i], strlen(m->argv[i]));
    w_optstr(w, m->cwd);
    w_varint(w, m->npath);
    for (uint32_t i = 0; i < m->npath; i++)
        w_str(w, m->path[i], strlen(m->path[i]));
    w_varint(w, pf_zigzag_enc(m->start_unix_ns));
    w_varint(w, m->duration_ns);
    w_optstr(w, m->clock);
    w_varint(w, m->modes);
    w_varint(w, m->flags);
    w_varint(w, m->pid);
    w_optstr(w, m->hostname);
    w_varint(w, m->total_calls);
    w_varint(w, m->profiler_bytes);
    w_varint(w, m->peak_live_bytes);
    /* Added later, each written only when it says something: a trace without gaps
     * and with an unknown exit is byte for byte what older writers wrote, and older
     * readers skip the trailing fields.  The exit fields come after the gap list, so
     * when they are written the gap count is too, even 0. */
    int native = (m->modes & PF_MODE_NATIVE) != 0 || m->peak_native_bytes != 0;
    /* the sample fields hold something only for the sampler's traces (the SAMPLES bit
     * alone, set by older tests and tools for SAMPLES records, writes none) */
    int sampled = m->sample_interval_ns != 0 || m->sample_ticks != 0 || m->samples_lost != 0
                  || m->sample_mode != 0;
    int dropped = m->links_dropped != 0 || sampled;
    /* each later field needs every earlier one written, even when it says nothing */
    int exit_known = m->exit_code != PF_EXIT_UNKNOWN || m->exit_signal != 0 || native || dropped;
    if (m->ngaps || exit_known)
        w_varint(w, m->ngaps);
    for (uint32_t i = 0; i < m->ngaps; i++) {
        const pf_gap *g = &m->gaps[i];
        w_varint(w, g->ident);
        w_varint(w, g->start_ns);
        w_varint(w, g->end_ns == PF_GAP_OPEN ? 0 : g->end_ns - g->start_ns + 1);
        w_varint(w, g->reason);
    }
    if (exit_known) {
        w_varint(w, pf_zigzag_enc(m->exit_code));
        w_varint(w, m->exit_signal);
    }
    if (native || dropped)           /* after the exit fields, so they come first (even unknown) */
        w_varint(w, m->peak_native_bytes);
    if (dropped)                     /* after peak_native_bytes (0 without native memory) */
        w_varint(w, m->links_dropped);
    if (sampled) {                   /* after links_dropped (0 without links) */
        w_varint(w, m->sample_interval_ns);
        w_varint(w, m->sample_ticks);
        w_varint(w, m->samples_lost);
        w_varint(w, m->sample_mode);
    }
    return emit(w, PF_TAG_META, -1);
}

static int write_strings(writer *w, const pf_strtab *st)
{
    uint32_t count = 0, n = pf_strtab_count(st);
    for (uint32_t i = 0; i < n; i++) {
        size_t len;
        const char *s = pf_strtab_get(st, i, &len);
        w_str(w, s, len);
        if (block_step(w, PF_TAG_STRINGS, &count) < 0)
            return -1;
    }
    return block_end(w, PF_TAG_STRINGS, count);
}

static int write_codes(writer *w, const pf_trace *t)
{
    uint32_t count = 0;
    for (uint32_t i = 0; i < t->ncodes; i++) {
        const pf_code *c = &t->codes[i];
        w_varint(w, c->file);
        w_varint(w, c->name);
        /* qualname usually equals name: 0 says so in one byte. */
        w_varint(w, c->qualname == c->name ? 0 : (uint64_t)c->qualname + 1);
        w_varint(w, c->first_line);
        w_varint(w, c->kind);
        if (block_step(w, PF_TAG_CODES, &count) < 0)
            return -1;
    }
    return block_end(w, PF_TAG_CODES, count);
}

static int write_threads(writer *w, const pf_trace *t)
{
    uint32_t count = 0;
    for (uint32_t i = 0; i < t->nthreads; i++) {
        w_varint(w, t->threads[i].ident);
        w_varint(w, t->threads[i].name);
        if (block_step(w, PF_TAG_THREADS, &count) < 0)
            return -1;
    }
    return block_end(w, PF_TAG_THREADS, count);
}

static int write_processes(writer *w, const pf_trace *t)
{
    uint32_t count = 0;
    for (uint32_t i = 0; i < t->nprocesses; i++) {
        const pf_process *p = &t->processes[i];
        w_varint(w, p->pid);
        w_varint(w, p->ppid);
        w_varint(w, p->command);
        w_varint(w, p->first_thread);
        w_varint(w, p->nthreads);
        w_varint(w, p->flags);
        w_varint(w, pf_zigzag_enc(p->start_ns));
        w_varint(w, p->duration_ns);
        w_varint(w, p->calls);
        w_varint(w, p->peak_live_bytes);
        w_varint(w, pf_zigzag_enc(p->exit_code));
        w_varint(w, p->exit_signal);
        if (block_step(w, PF_TAG_PROCESSES, &count) < 0)
            return -1;
    }
    return block_end(w, PF_TAG_PROCESSES, count);
}

/* One record per process with RSS data: sample times as deltas (ascending). */
static int write_rss(writer *w, const pf_trace *t)
{
    for (uint32_t i = 0; i < t->nrss; i++) {
        const pf_rss *r = &t->rss[i];
        w_varint(w, r->process);
        w_varint(w, r->peak_bytes);
        w_varint(w, r->final_bytes);
        w_varint(w, r->nsamples);
        uint64_t prev = 0;
        for (uint32_t k = 0; k < r->nsamples; k++) {
            w_varint(w, r->samples[k].time_ns - prev);
            prev = r->samples[k].time_ns;
            w_varint(w, r->samples[k].bytes);
        }
        if (emit(w, PF_TAG_RSS, -1) < 0)
            return -1;
    }
    return 0;
}

/* Node i, one block entry (write_nodes and the stream share it). */
static void w_node(writer *w, uint32_t i, const pf_node *n)
{
    /* Pre-order makes parent usually i-1: a delta of 1 fits one byte. */
    w_varint(w, n->parent == PF_NONE ? 0 : (uint64_t)(i - n->parent));
    w_varint(w, n->thread);
    w_varint(w, n->code);
    w_varint(w, n->call_line);
    w_varint(w, n->calls);
    /* total = self + time in children; leaves (most nodes) write a 0 for it.
     * The difference wraps, so any pair of values round-trips exactly. */
    w_varint(w, n->self_ns);
    w_varint(w, n->total_ns - n->self_ns);
}

static int write_nodes(writer *w, const pf_trace *t)
{
    uint32_t count = 0;
    for (uint32_t i = 0; i < t->nnodes; i++) {
        w_node(w, i, &t->nodes[i]);
        if (block_step(w, PF_TAG_NODES, &count) < 0)
            return -1;
    }
    return block_end(w, PF_TAG_NODES, count);
}

static int write_links(writer *w, const pf_trace *t)
{
    uint32_t count = 0;
    for (uint32_t i = 0; i < t->nlinks; i++) {
        const pf_link *l = &t->links[i];
        w_varint(w, l->node);
        w_varint(w, l->creator);
        w_varint(w, l->kind);
        if (block_step(w, PF_TAG_LINKS, &count) < 0)
            return -1;
    }
    return block_end(w, PF_TAG_LINKS, count);
}

static int mem_is_zero(const pf_mem *m)
{
    return (m->alloc_bytes | m->alloc_count | m->free_bytes | m->peak_bytes |
            m->exit_bytes) == 0;
}

static void w_mem(writer *w, const pf_mem *m)
{
    w_varint(w, m->alloc_bytes);
    w_varint(w, m->alloc_count);
    w_varint(w, m->free_bytes);
    w_varint(w, m->peak_bytes);
    w_varint(w, m->exit_bytes);
}

/* One NODE_MEM or LINE_MEM entry, for index i (> the previous one, whose successor
 * is *next). */
static void w_mem_entry(writer *w, uint32_t i, uint64_t *next, const pf_mem *m)
{
    w_varint(w, i - *next);
    *next = (uint64_t)i + 1;
    w_mem(w, m);
}

/* NODE_MEM and LINE_MEM: sparse, only entries with a nonzero counter; the index is
 * a delta from the previous entry's index + 1 (so consecutive indices write 0). */
static int write_mem_block(writer *w, enum pf_trace_tag tag, const void *base,
                           size_t stride, size_t mem_off, uint32_t n)
{
    uint32_t count = 0;
    uint64_t next = 0;
    for (uint32_t i = 0; i < n; i++) {
        const pf_mem *m = (const pf_mem *)((const char *)base + (size_t)i * stride + mem_off);
        if (mem_is_zero(m))
            continue;
        w_mem_entry(w, i, &next, m);
        if (block_step(w, tag, &count) < 0)
            return -1;
    }
    return block_end(w, tag, count);
}

static int write_lines(writer *w, const pf_trace *t)
{
    uint32_t count = 0;
    int64_t prev_code = 0, prev_line = 0;
    for (uint32_t i = 0; i < t->nlines; i++) {
        const pf_line *l = &t->lines[i];
        /* Lines are usually grouped by code and ascending: small signed deltas. */
        w_varint(w, pf_zigzag_enc((int64_t)l->code - prev_code));
        w_varint(w, pf_zigzag_enc((int64_t)l->line - prev_line));
        prev_code = l->code;
        prev_line = l->line;
        w_varint(w, l->hits);
        w_varint(w, l->self_ns);
        w_varint(w, l->total_ns - l->self_ns);   /* time in calls; usually 0 */
        if (block_step(w, PF_TAG_LINES, &count) < 0)
            return -1;
    }
    return block_end(w, PF_TAG_LINES, count);
}

static int write_sources(writer *w, const pf_trace *t)
{
    for (uint32_t i = 0; i < t->nsources; i++) {
        w_varint(w, t->sources[i].path);
        w_str(w, t->sources[i].text, t->sources[i].len);
        if (emit(w, PF_TAG_SOURCE, -1) < 0)
            return -1;
    }
    return 0;
}

static int write_samples(writer *w, const pf_trace *t)
{
    uint32_t count = 0;
    uint64_t prev_time = 0;
    for (uint32_t i = 0; i < t->nsamples; i++) {
        const pf_sample *s = &t->samples[i];
        w_varint(w, s->thread);
        w_varint(w, s->node == PF_NONE ? 0 : (uint64_t)s->node + 1);
        /* Wrapping difference, zigzagged: exact for any pair of uint64 values. */
        w_varint(w, pf_zigzag_enc((int64_t)(s->time_ns - prev_time)));
        prev_time = s->time_ns;
        w_varint(w, s->weight);
        if (block_step(w, PF_TAG_SAMPLES, &count) < 0)
            return -1;
    }
    return block_end(w, PF_TAG_SAMPLES, count);
}

/* Nodes with a slot in the side array (the rest have no memory data). */
static uint32_t node_mem_count(const pf_trace *t)
{
    return t->node_mem == NULL ? 0 : t->nnodes < t->cap_node_mem ? t->nnodes : t->cap_node_mem;
}

static uint32_t count_mem(const void *base, size_t stride, size_t mem_off, uint32_t n)
{
    uint32_t c = 0;
    for (uint32_t i = 0; i < n; i++)
        c += !mem_is_zero((const pf_mem *)((const char *)base + (size_t)i * stride + mem_off));
    return c;
}

/* END, for nnodes nodes of which nnode_mem have memory counters. */
static int write_end(writer *w, const pf_trace *t, uint32_t nnodes, uint32_t nnode_mem)
{
    w_varint(w, pf_strtab_count(t->strings));
    w_varint(w, t->ncodes);
    w_varint(w, t->nthreads);
    w_varint(w, nnodes);
    w_varint(w, nnode_mem);
    w_varint(w, t->nlines);
    w_varint(w, count_mem(t->lines, sizeof(pf_line), offsetof(pf_line, mem), t->nlines));
    w_varint(w, t->nsources);
    w_varint(w, t->nsamples);
    /* Added with PROCESSES: written only when there are some, so a trace without
     * processes ends as older writers ended it. */
    if (t->nprocesses || t->nrss || t->nlinks)
        w_varint(w, t->nprocesses);
    if (t->nrss || t->nlinks)   /* added with RSS, likewise */
        w_varint(w, t->nrss);
    if (t->nlinks)              /* added with LINKS, likewise */
        w_varint(w, t->nlinks);
    return emit(w, PF_TAG_END, -1);
}

/* The checks before writing: t is valid, with nnodes nodes (t's own, or a stream's). */
static int check(writer *w, const pf_trace *t, uint32_t nnodes)
{
    if (pf_trace_validate_refs(t, nnodes, w->err) < 0) {
        char why[sizeof w->err->msg];
        snprintf(why, sizeof why, "%s", w->err ? w->err->msg : "");
        w->failed = 1;
        return pf_error_set(w->err, PF_EUSAGE, "refusing to write an invalid trace: %s", why);
    }
    return 0;
}

/* The records before the nodes. */
static int write_head(writer *w, const pf_trace *t)
{
    if (sink_open(w) < 0 || write_header(w) < 0 || write_meta(w, &t->meta) < 0 ||
        write_strings(w, t->strings) < 0 || write_codes(w, t) < 0 ||
        write_threads(w, t) < 0 || write_processes(w, t) < 0 || write_rss(w, t) < 0)
        return -1;
    return 0;
}

/* The records after the nodes and their memory counters (nnodes, nnode_mem of them). */
static int write_tail(writer *w, const pf_trace *t, uint32_t nnodes, uint32_t nnode_mem)
{
    if (write_links(w, t) < 0 || write_lines(w, t) < 0 ||
        write_mem_block(w, PF_TAG_LINE_MEM, t->lines, sizeof(pf_line),
                        offsetof(pf_line, mem), t->nlines) < 0 ||
        write_sources(w, t) < 0 || write_samples(w, t) < 0 ||
        write_end(w, t, nnodes, nnode_mem) < 0 || sink_finish(w) < 0)
        return -1;
    return 0;
}

static int write_all(writer *w, const pf_trace *t)
{
    if (check(w, t, t->nnodes) < 0 || write_head(w, t) < 0 || write_nodes(w, t) < 0 ||
        write_mem_block(w, PF_TAG_NODE_MEM, t->node_mem, sizeof(pf_mem), 0,
                        node_mem_count(t)) < 0 ||
        write_tail(w, t, t->nnodes,
                   count_mem(t->node_mem, sizeof(pf_mem), 0, node_mem_count(t))) < 0)
        return -1;
    return 0;
}

/* ---- public entry points ---- */

static int write_mem(const pf_trace *t, int gz, unsigned char **out, size_t *outlen,
                     pf_error *err)
{
    writer w;
    memset(&w, 0, sizeof w);
    w.err = err;
    w.gz = gz;
    w.level = GZIP_LEVEL;
    if (out == NULL || outlen == NULL)
        return pf_error_set(err, PF_EUSAGE, "no output buffer");
    *out = NULL;
    *outlen = 0;
    if (write_all(&w, t) < 0) {
        writer_free(&w);
        return -1;
    }
    *out = w.mem;
    *outlen = w.mlen;
    w.mem = NULL;
    writer_free(&w);
    return 0;
}

int pf_trace_write_mem(const pf_trace *t, unsigned char **out, size_t *outlen, pf_error *err)
{
    return write_mem(t, 1, out, outlen, err);
}

int pf_trace_write_mem_raw(const pf_trace *t, unsigned char **out, size_t *outlen,
                           pf_error *err)
{
    return write_mem(t, 0, out, outlen, err);
}

static int write_file(const pf_trace *t, const char *path, int gz, int level, pf_error *err)
{
    writer w;
    memset(&w, 0, sizeof w);
    w.err = err;
    w.gz = gz;
    w.level = level;
    if (path == NULL || path[0] == '\0')
        return pf_error_set(err, PF_EUSAGE, "no output file name");
    /* The collector writes from inside the profiled program: its signal handlers
     * must stay as the program set them. */
    pf_output *out = pf_output_open_flags(path, PF_OUTPUT_NO_SIGNALS, err);
    if (out == NULL)
        return -1;
    w.fp = pf_output_stream(out);
    w.total = (uint64_t)pf_strtab_count(t->strings) + t->ncodes + t->nnodes + t->nlines +
              t->nsamples + 1;
    if (write_all(&w, t) < 0) {
        pf_output_abort(out);
        writer_free(&w);
        return -1;
    }
    pf_progress_report(PF_PROGRESS_WRITE, w.total, w.total);
    w.fp = NULL;
    writer_free(&w);
    return pf_output_commit(out, err);
}

int pf_trace_write(const pf_trace *t, const char *path, pf_error *err)
{
    return write_file(t, path, 1, GZIP_LEVEL, err);
}

int pf_trace_write_quick(const pf_trace *t, const char *path, pf_error *err)
{
    return write_file(t, path, 1, GZIP_LEVEL_QUICK, err);
}

int pf_trace_write_raw(const pf_trace *t, const char *path, pf_error *err)
{
    return write_file(t, path, 0, 0, err);
}

/* ---- streaming the nodes ---- */

struct pf_trace_stream {
    writer w;
    pf_error err;             /* the writer's (w.err points here) */
    pf_output *out;
    const pf_trace *t;
    uint32_t nnodes;          /* promised at open */
    uint32_t i;               /* nodes written so far */
    uint32_t count;           /* entries in the open block */
    int mem;                  /* the NODE_MEM block is open (the nodes are done) */
    uint64_t next_mem;        /* NODE_MEM delta state */
    uint32_t nmem;            /* NODE_MEM entries written */
};

pf_trace_stream *pf_trace_stream_open(const pf_trace *t, uint32_t nnodes, const char *path,
                                      int gz, pf_error *err)
{
    if (path == NULL || path[0] == '\0') {
        pf_error_set(err, PF_EUSAGE, "no output file name");
        return NULL;
    }
    if (t == NULL || t->nnodes != 0 || t->node_mem != NULL) {
        pf_error_set(err, PF_EUSAGE, "a streamed trace holds no nodes of its own");
        return NULL;
    }
    pf_trace_stream *s = pf_calloc(1, sizeof *s);
    if (s == NULL) {
        pf_error_set(err, PF_ENOMEM, "out of memory writing trace");
        return NULL;
    }
    s->w.err = &s->err;
    s->w.gz = gz != 0;
    s->w.level = GZIP_LEVEL;
    s->t = t;
    s->nnodes = nnodes;
    pf_error_clear(&s->err);
    if (check(&s->w, t, nnodes) < 0)
        goto fail;
    /* The collector writes from inside the profiled program: its signal handlers
     * must stay as the program set them. */
    if ((s->out = pf_output_open_flags(path, PF_OUTPUT_NO_SIGNALS, &s->err)) == NULL)
        goto fail;
    s->w.fp = pf_output_stream(s->out);
    s->w.total = (uint64_t)pf_strtab_count(t->strings) + t->ncodes + nnodes + t->nlines +
                 t->nsamples + 1;
    if (write_head(&s->w, t) < 0)
        goto fail;
    return s;
fail:
    if (err != NULL)
        *err = s->err;
    pf_trace_stream_abort(s);
    return NULL;
}

/* Fails the stream: what it was given breaks the trace (a sticky error, as the
 * writer's). */
#define STREAM_REFUSE(s, ...)                                                            \
    do {                                                                                 \
        if (!(s)->w.failed) {                                                            \
            char why_[200];                                                              \
            snprintf(why_, sizeof why_, __VA_ARGS__);                                    \
            (s)->w.failed = 1;                                                           \
            pf_error_set(&(s)->err, PF_EUSAGE, "refusing to write an invalid trace: %s", \
                         why_);                                                          \
        }                                                                                \
        return -1;                                                                       \
    } while (0)

int pf_trace_stream_node(pf_trace_stream *s, const pf_node *n)
{
    writer *w = &s->w;
    if (w->failed)
        return -1;
    uint32_t i = s->i;
    if (s->mem || i >= s->nnodes)
        STREAM_REFUSE(s, "node %u: more nodes than the %u announced", i, s->nnodes);
    if (n->parent != PF_NONE && n->parent >= i)
        STREAM_REFUSE(s, "node %u: parent %u is not an earlier node", i, n->parent);
    if (n->thread >= s->t->nthreads)
        STREAM_REFUSE(s, "node %u: thread %u out of range", i, n->thread);
    if (n->code >= s->t->ncodes)
        STREAM_REFUSE(s, "node %u: code %u out of range", i, n->code);
    w_node(w, i, n);
    s->i++;
    return block_step(w, PF_TAG_NODES, &s->count);
}

/* Ends the NODES blocks (every promised node written), once. */
static int stream_nodes_done(pf_trace_stream *s)
{
    if (s->mem)
        return s->w.failed ? -1 : 0;
    if (s->i != s->nnodes)
        STREAM_REFUSE(s, "%u nodes written of the %u announced", s->i, s->nnodes);
    s->mem = 1;
    int r = block_end(&s->w, PF_TAG_NODES, s->count);
    s->count = 0;
    return r;
}

int pf_trace_stream_node_mem(pf_trace_stream *s, uint32_t i, const pf_mem *m)
{
    if (stream_nodes_done(s) < 0)
        return -1;
    if (i >= s->nnodes || i < s->next_mem)
        STREAM_REFUSE(s, "memory counters of node %u out of order or range (%u nodes)", i,
                      s->nnodes);
    if (mem_is_zero(m))
        return 0;
    w_mem_entry(&s->w, i, &s->next_mem, m);
    s->nmem++;
    return block_step(&s->w, PF_TAG_NODE_MEM, &s->count);
}

int pf_trace_stream_close(pf_trace_stream *s, pf_error *err)
{
    if (s == NULL)
        return pf_error_set(err, PF_EUSAGE, "no trace stream");
    writer *w = &s->w;
    if (stream_nodes_done(s) < 0 || block_end(w, PF_TAG_NODE_MEM, s->count) < 0 ||
        write_tail(w, s->t, s->nnodes, s->nmem) < 0) {
        if (err != NULL)
            *err = s->err;
        pf_trace_stream_abort(s);
        return -1;
    }
    pf_progress_report(PF_PROGRESS_WRITE, w->total, w->total);
    w->fp = NULL;
    int rc = pf_output_commit(s->out, err);
    s->out = NULL;
    writer_free(w);
    pf_free(s);
    return rc;
}

void pf_trace_stream_abort(pf_trace_stream *s)
{
    if (s == NULL)
        return;
    s->w.fp = NULL;
    pf_output_abort(s->out);
    writer_free(&s->w);
    pf_free(s);
}
