/* input.c: the input reader (contract in input.h): file, stdin or memory; gzip or
 * plain; decoded bytes handed out as windows of a fixed-size buffer.
 *
 * State: the undelivered decoded bytes are win[pos..end), win[0] being at decoded
 * offset `base`.  A plain memory input's window is the caller's buffer itself; a
 * plain file reads into `src`, which then is the window; a gzip input reads
 * compressed bytes into `src` (or straight from memory) and inflates into `dbuf`.
 * more() appends decoded bytes after `end` (the caller makes room first), so a peek
 * can gather bytes without handing them out.  Invariant: base + end never passes the
 * byte limit (more() fails as soon as a refill would cross it).  Once an input has
 * ended or failed it stays so: later calls repeat the result (the error is saved).
 */
#include "input.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "alloc.h"
#include "progress.h"
#include "trace_format.h"

enum { RUNNING = 0, ENDED = 1, FAILED = -1 };

struct pf_input {
    /* the source of (possibly compressed) bytes */
    int fd, own_fd;               /* fd < 0: memory */
    const unsigned char *mem;
    size_t memlen, mempos;        /* mempos: memory bytes given to zlib so far */
    unsigned char *src;           /* file read buffer (PF_INPUT_WINDOW bytes) */
    uint64_t src_total;           /* bytes taken from the source so far */
    uint64_t src_size;            /* a regular file's size (progress reports), else 0 */
    int src_eof;
    /* framing */
    int started, gz, z_init, member_done;
    z_stream z;                   /* gzip: next_in/avail_in = compressed bytes pending */
    /* decoded window */
    unsigned char *dbuf;          /* gzip output storage */
    const unsigned char *win;
    size_t pos, end, cap;
    uint64_t base;
    /* limits */
    uint64_t budget, max_bytes;
    int max_set;
    int state;
    pf_error last;                /* the error, repeated by later calls */
};

static int fail(pf_input *in, pf_error *err, enum pf_error_code code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

static int fail(pf_input *in, pf_error *err, enum pf_error_code code, const char *fmt, ...)
{
    char msg[sizeof in->last.msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    pf_error_set(&in->last, code, "%s", msg);
    in->state = FAILED;
    if (err)
        *err = in->last;
    return -1;
}

static pf_input *input_new(pf_error *err)
{
    pf_input *in = pf_calloc(1, sizeof *in);
    if (in == NULL) {
        pf_error_set(err, PF_ENOMEM, "out of memory opening input");
        return NULL;
    }
    in->fd = -1;
    in->budget = PF_BUDGET_DEFAULT;
    in->max_bytes = PF_BUDGET_DEFAULT;
    return in;
}

pf_input *pf_input_open(const char *path, pf_error *err)
{
    if (path == NULL) {
        pf_error_set(err, PF_EUSAGE, "no input file name");
        return NULL;
    }
    int is_stdin = strcmp(path, "-") == 0;
    int fd = is_stdin ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        pf_error_set(err, PF_EIO, "cannot open for reading: %s", strerror(errno));
        return NULL;
    }
    pf_input *in = input_new(err);
    unsigned char *src = in ? pf_malloc(PF_INPUT_WINDOW) : NULL;
    if (src == NULL) {
        if (in)
            pf_error_set(err, PF_ENOMEM, "out of memory opening input");
        pf_free(in);
        if (!is_stdin)
            close(fd);
        return NULL;
    }
    in->fd = fd;
    in->own_fd = !is_stdin;
    in->src = src;
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0)
        in->src_size = (uint64_t)st.st_size;
    return in;
}

pf_input *pf_input_open_mem(const void *data, size_t len, pf_error *err)
{
    if (data == NULL && len != 0) {
        pf_error_set(err, PF_EUSAGE, "no input buffer");
        return NULL;
    }
    pf_input *in = input_new(err);
    if (in == NULL)
        return NULL;
    in->mem = data ? data : (const void *)"";
    in->memlen = len;
    return in;
}

void pf_input_free(pf_input *in)
{
    if (in == NULL)
        return;
    if (in->z_init)
        inflateEnd(&in->z);
    if (in->own_fd)
        close(in->fd);
    pf_free(in->dbuf);
    pf_free(in->src);
    pf_free(in);
}

void pf_input_set_budget(pf_input *in, uint64_t bytes)
{
    if (in == NULL)
        return;
    in->budget = bytes ? bytes : PF_BUDGET_DEFAULT;
    if (!in->max_set)
        in->max_bytes = in->budget;
}

uint64_t pf_input_budget(const pf_input *in)
{
    return in ? in->budget : PF_BUDGET_DEFAULT;
}

void pf_input_set_max_bytes(pf_input *in, uint64_t bytes)
{
    if (in == NULL)
        return;
    in->max_bytes = bytes ? bytes : UINT64_MAX;
    in->max_set = 1;
}

uint64_t pf_input_offset(const pf_input *in)
{
    return in ? in->base + in->pos : 0;
}

int pf_input_is_gzip(const pf_input *in)
{
    return in ? in->gz : 0;
}

/* ---- the source ---- */

/* Reads into buf with EINTR retried.  Returns bytes (0 at end of file) or -1. */
static long read_some(pf_input *in, pf_error *err, unsigned char *buf, size_t n)
{
    for (;;) {
        ssize_t r = read(in->fd, buf, n);
        if (r >= 0) {
            in->src_total += (uint64_t)r;
            pf_progress_report(PF_PROGRESS_READ, r ? in->src_total : in->src_size,
                               in->src_size);
            return (long)r;
        }
        if (errno != EINTR)
            return fail(in, err, PF_EIO, "read error at offset %" PRIu64 ": %s",
                        in->base + in->end, strerror(errno));
    }
}

/* Gives zlib more compressed bytes, keeping the ones it has not consumed yet.
 * 1: some arrived, 0: the source is exhausted, -1: error. */
static int src_more(pf_input *in, pf_error *err)
{
    if (in->src_eof)
        return 0;
    z_stream *z = &in->z;
    if (in->fd < 0) {
        size_t left = in->memlen - in->mempos;
        if (left == 0) {
            in->src_eof = 1;
            return 0;
        }
        if (z->avail_in == 0)
            z->next_in = (Bytef *)(uintptr_t)(in->mem + in->mempos);
        size_t room = (1u << 30) - z->avail_in;   /* avail_in is 32-bit */
        size_t take = left < room ? left : room;
        z->avail_in += (uInt)take;
        in->mempos += take;
        in->src_total += take;
        return 1;
    }
    if (z->avail_in > 0 && z->next_in != in->src)
        memmove(in->src, z->next_in, z->avail_in);
    z->next_in = in->src;
    long r = read_some(in, err, in->src + z->avail_in, PF_INPUT_WINDOW - z->avail_in);
    if (r < 0)
        return -1;
    if (r == 0) {
        in->src_eof = 1;
        return 0;
    }
    z->avail_in += (uInt)r;
    return 1;
}

/* Reads until n compressed bytes are buffered or the source ends (a pipe may deliver
 * one byte at a time).  0, or -1 with err set. */
static int src_at_least(pf_input *in, uInt n, pf_error *err)
{
    while (in->z.avail_in < n) {
        int r = src_more(in, err);
        if (r < 0)
            return -1;
        if (r == 0)
            break;
    }
    return 0;
}

/* Offset of the next unconsumed compressed byte, for messages about framing. */
static uint64_t src_offset(const pf_input *in)
{
    return in->src_total - in->z.avail_in;
}

static int over_limit(pf_input *in, pf_error *err)
{
    char b[32];
    return fail(in, err, PF_ELIMIT,
                "input exceeds the %s decoding budget at offset %" PRIu64
                " (decoded bytes; raise it with " PF_BUDGET_OPTION ")",
                pf_budget_format(in->max_bytes, b, sizeof b), in->max_bytes);
}

/* Decides gzip or plain from the first two bytes and sets up the window. */
static int start(pf_input *in, pf_error *err)
{
    in->started = 1;
    z_stream *z = &in->z;
    const unsigned char *head;
    size_t have;
    if (in->fd < 0) {
        head = in->mem;
        have = in->memlen;
    } else {
        /* A pipe may deliver one byte at a time: read until two or the end. */
        if (src_at_least(in, 2, err) < 0)
            return -1;
        head = in->src;
        have = z->avail_in;
    }
    in->gz = have >= 2 && head[0] == 0x1f && head[1] == 0x8b;
    if (!in->gz) {
        if (in->fd < 0) {
            in->win = in->mem;
            in->end = in->memlen < in->max_bytes ? in->memlen : (size_t)in->max_bytes;
            in->cap = in->end;
        } else {
            in->win = in->src;
            in->end = have;
            in->cap = PF_INPUT_WINDOW;
            z->avail_in = 0;              /* the bytes are the window now */
        }
        return 0;
    }
    in->dbuf = pf_malloc(PF_INPUT_WINDOW);
    if (in->dbuf == NULL)
        return fail(in, err, PF_ENOMEM, "out of memory opening input");
    z->zalloc = pf_trace_zalloc_;
    z->zfree = pf_trace_zfree_;
    int ret = inflateInit2(z, 15 + 16);
    if (ret != Z_OK)
        return fail(in, err, ret == Z_MEM_ERROR ? PF_ENOMEM : PF_EIO, "%s",
                    ret == Z_MEM_ERROR ? "out of memory opening input" : "zlib init failed");
    in->z_init = 1;
    in->win = in->dbuf;
    in->cap = PF_INPUT_WINDOW;
    return 0;
}

/* ---- decoding ---- */

/* gzip: inflates more bytes after win[end] (end < cap).  1, 0 (clean end), -1. */
static int inflate_more(pf_input *in, pf_error *err)
{
    z_stream *z = &in->z;
    for (;;) {
        if (in->member_done) {
            /* The end, another member (as `cat a.gz b.gz` makes), or garbage. */
            if (src_at_least(in, 2, err) < 0)
                return -1;
            if (z->avail_in == 0)
                return 0;
            if (z->next_in[0] != 0x1f || (z->avail_in >= 2 && z->next_in[1] != 0x8b))
                return fail(in, err, PF_ECORRUPT,
                            "unexpected data after the last gzip member at offset %" PRIu64
                            " (byte %" PRIu64 " of the compressed input)",
                            in->base + in->end, src_offset(in));
            if (inflateReset(z) != Z_OK)
                return fail(in, err, PF_ECORRUPT, "corrupt gzip stream at offset %" PRIu64,
                            in->base + in->end);
            in->member_done = 0;
        }
        if (z->avail_in == 0) {
            int r = src_more(in, err);
            if (r < 0)
                return -1;
            if (r == 0)
                return fail(in, err, PF_ETRUNC, "truncated gzip stream at offset %" PRIu64,
                            in->base + in->end);
        }
        size_t room = in->cap - in->end;
        z->next_out = in->dbuf + in->end;
        z->avail_out = (uInt)room;
        int ret = inflate(z, Z_NO_FLUSH);
        size_t got = room - z->avail_out;
        if (got > in->max_bytes - (in->base + in->end))
            return over_limit(in, err);
        in->end += got;
        if (ret == Z_STREAM_END) {
            in->member_done = 1;
        } else if (ret == Z_MEM_ERROR) {
            return fail(in, err, PF_ENOMEM, "out of memory decompressing input");
        } else if (ret != Z_OK && !(ret == Z_BUF_ERROR && z->avail_in == 0)) {
            return fail(in, err, PF_ECORRUPT, "corrupt gzip stream at offset %" PRIu64 ": %s",
                        in->base + in->end, z->msg ? z->msg : "inflate failed");
        }
        if (got > 0)
            return 1;
    }
}

/* Appends decoded bytes after win[end] (end < cap, except for memory).  1, 0, -1. */
static int more(pf_input *in, pf_error *err)
{
    if (in->gz)
        return inflate_more(in, err);
    if (in->fd < 0)
        return in->memlen > in->max_bytes ? over_limit(in, err) : 0;
    long r = read_some(in, err, in->src + in->end, in->cap - in->end);
    if (r <= 0)
        return (int)r;
    if ((uint64_t)r > in->max_bytes - (in->base + in->end))
        return over_limit(in, err);
    in->end += (size_t)r;
    return 1;
}

/* Moves the undelivered bytes to the front of the window storage. */
static void compact(pf_input *in)
{
    if (in->pos == 0 || (in->fd < 0 && !in->gz))
        return;
    unsigned char *w = in->gz ? in->dbuf : in->src;
    memmove(w, w + in->pos, in->end - in->pos);
    in->base += in->pos;
    in->end -= in->pos;
    in->pos = 0;
}

static int check_state(pf_input *in, pf_error *err)
{
    if (in->state == FAILED) {
        if (err)
            *err = in->last;
        return -1;
    }
    if (!in->started) {
        if (start(in, err) < 0)
            return -1;
        /* A plain start may already hold more than the limit allows. */
        if (!in->gz && in->fd >= 0 && in->end > in->max_bytes)
            return over_limit(in, err);
    }
    return 0;
}

int pf_input_next(pf_input *in, const unsigned char **p, size_t *n, pf_error *err)
{
    *p = NULL;
    *n = 0;
    if (in == NULL)
        return pf_error_set(err, PF_EUSAGE, "no input");
    if (check_state(in, err) < 0)
        return -1;
    if (in->pos == in->end) {
        if (in->state == ENDED)
            return 0;
        compact(in);
        int r = more(in, err);
        if (r < 0)
            return -1;
        if (r == 0) {
            in->state = ENDED;
            return 0;
        }
    }
    *p = in->win + in->pos;
    *n = in->end - in->pos;
    in->pos = in->end;
    return 1;
}

int pf_input_peek(pf_input *in, size_t want, const unsigned char **p, size_t *n,
                  pf_error *err)
{
    *p = NULL;
    *n = 0;
    if (in == NULL)
        return pf_error_set(err, PF_EUSAGE, "no input");
    if (check_state(in, err) < 0)
        return -1;
    if (want > PF_INPUT_WINDOW)
        want = PF_INPUT_WINDOW;
    int rc = 0;
    while (in->end - in->pos < want && in->state == RUNNING) {
        if (in->cap - in->pos < want)
            compact(in);
        int r = more(in, err);
        if (r < 0) {
            rc = -1;
            break;
        }
        if (r == 0)
            in->state = ENDED;
    }
    *p = in->win + in->pos;
    *n = in->end - in->pos;
    return rc;
}

int pf_input_sniff(pf_input *in, pf_error *err)
{
    const unsigned char *p;
    size_t n;
    if (pf_input_peek(in, PF_TRACE_MAGIC_LEN, &p, &n, err) < 0)
        return -1;
    if (n == 0)
        return PF_INPUT_EMPTY;
    /* A prefix of the magic that ends the input is a truncated trace: let the trace
     * reader say so rather than a text parser complain about binary bytes. */
    size_t k = n < PF_TRACE_MAGIC_LEN ? n : PF_TRACE_MAGIC_LEN;
    if (memcmp(p, PF_TRACE_MAGIC, k) == 0)
        return PF_INPUT_TRACE;
    /* pstats: marshal's dict type '{' (0x80 set when referenced) whose first key is a
     * 3-tuple (')' 03, or '(' 03 00 00 00), or an empty dict ('{' '0' and nothing
     * more): control bytes no text holds */
    if (n >= 2 && (p[0] & 0x7f) == '{') {
        unsigned t = p[1] & 0x7f;
        if ((t == ')' && n >= 3 && p[2] == 3) ||
            (t == '(' && n >= 6 && memcmp(p + 2, "\3\0\0\0", 4) == 0) ||
            (p[1] == '0' && n == 2))
            return PF_INPUT_PSTATS;
    }
    /* speedscope: a JSON object naming its schema early (every writer puts "$schema"
     * first or near it) */
    if (pf_input_peek(in, 4096, &p, &n, err) < 0)
        return -1;
    size_t i = n >= 3 && memcmp(p, "\xef\xbb\xbf", 3) == 0 ? 3 : 0;
    while (i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == '\n' || p[i] == '\r'))
        i++;
    if (i < n && p[i] == '{' &&
        memmem(p + i, n - i, "speedscope.app/file-format-schema.json", 38) != NULL)
        return PF_INPUT_SPEEDSCOPE;
    return PF_INPUT_TEXT;
}
