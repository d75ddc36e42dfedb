/* marshal.c: marshal v4 writer primitives (see marshal.h).  Bytes go into a 64 KiB
 * buffer that is flushed to the FILE when full, or into a growing buffer when the
 * writer has no FILE.  One primitive per byte-level shape (w_byte, w_u32, w_u64), as
 * CPython's marshal.c does. */
#include "marshal.h"

#include <string.h>

#include "alloc.h"

enum {
    TYPE_NULL = '0',
    TYPE_INT = 'i',
    TYPE_LONG = 'l',
    TYPE_BINARY_FLOAT = 'g',
    TYPE_SHORT_ASCII = 'z',
    TYPE_ASCII = 'a',
    TYPE_UNICODE = 'u',
    TYPE_SMALL_TUPLE = ')',
    TYPE_TUPLE = '(',
    TYPE_DICT = '{',
    TYPE_REF = 'r',
    FLAG_REF = 0x80
};

#define FLUSH_AT (64u * 1024u)

struct pf_marshal {
    FILE *out;                 /* NULL: in-memory mode */
    unsigned char *buf;
    size_t len, cap;
    uint32_t nrefs;
    int failed;
    pf_error err;              /* first error */
};

pf_marshal *pf_marshal_new(FILE *out)
{
    pf_marshal *m = pf_calloc(1, sizeof *m);
    if (m == NULL)
        return NULL;
    m->out = out;
    m->cap = out ? FLUSH_AT : 256;
    m->buf = pf_malloc(m->cap);
    if (m->buf == NULL) {
        pf_free(m);
        return NULL;
    }
    return m;
}

void pf_marshal_free(pf_marshal *m)
{
    if (m == NULL)
        return;
    pf_free(m->buf);
    pf_free(m);
}

static int fail(pf_marshal *m, enum pf_error_code code, const char *msg)
{
    if (!m->failed) {
        m->failed = 1;
        pf_error_set(&m->err, code, "%s", msg);
    }
    return -1;
}

static int flush(pf_marshal *m)
{
    if (m->out == NULL || m->len == 0)
        return 0;
    if (fwrite(m->buf, 1, m->len, m->out) != m->len)
        return fail(m, PF_EIO, "write error");
    m->len = 0;
    return 0;
}

/* Makes room for n more bytes. */
static int reserve(pf_marshal *m, size_t n)
{
    if (m->failed)
        return -1;
    if (m->cap - m->len >= n)
        return 0;
    if (m->out != NULL) {
        if (flush(m) < 0)
            return -1;
        if (m->cap >= n)
            return 0;
    }
    size_t cap = m->cap;
    while (cap - m->len < n) {
        if (cap > SIZE_MAX / 2)
            return fail(m, PF_ENOMEM, "out of memory");
        cap *= 2;
    }
    unsigned char *b = pf_realloc(m->buf, cap);
    if (b == NULL)
        return fail(m, PF_ENOMEM, "out of memory");
    m->buf = b;
    m->cap = cap;
    return 0;
}

/* The w_* helpers assume reserve() succeeded. */
static void w_byte(pf_marshal *m, unsigned v)
{
    m->buf[m->len++] = (unsigned char)(v & 0xFF);
}

static void w_u16(pf_marshal *m, uint32_t v)
{
    w_byte(m, v);
    w_byte(m, v >> 8);
}

static void w_u32(pf_marshal *m, uint32_t v)
{
    for (int i = 0; i < 32; i += 8)
        w_byte(m, (unsigned)(v >> i));
}

static void w_u64(pf_marshal *m, uint64_t v)
{
    for (int i = 0; i < 64; i += 8)
        w_byte(m, (unsigned)(v >> i));
}

static void w_bytes(pf_marshal *m, const void *p, size_t n)
{
    memcpy(m->buf + m->len, p, n);
    m->len += n;
}

/* Writes a type byte, flagged when the caller wants a reference index. */
static void w_type(pf_marshal *m, unsigned type, uint32_t *ref)
{
    if (ref != NULL) {
        *ref = m->nrefs++;
        w_byte(m, type | FLAG_REF);
    } else {
        w_byte(m, type);
    }
}

int pf_marshal_finish(pf_marshal *m, pf_error *err)
{
    if (!m->failed)
        flush(m);
    if (!m->failed && m->out != NULL && fflush(m->out) != 0)
        fail(m, PF_EIO, "write error");
    if (m->failed) {
        if (err != NULL)
            *err = m->err;
        return -1;
    }
    return 0;
}

const unsigned char *pf_marshal_data(const pf_marshal *m, size_t *len)
{
    if (len != NULL)
        *len = m->len;
    return m->buf;
}

uint32_t pf_marshal_nrefs(const pf_marshal *m)
{
    return m->nrefs;
}

/* 'l': magnitude in base-2^15 digits.  A uint64 needs at most 5 digits. */
static int write_long(pf_marshal *m, int negative, uint64_t mag, uint32_t *ref)
{
    uint32_t digits[5];
    int n = 0;
    while (mag != 0) {
        digits[n++] = (uint32_t)(mag & 0x7FFF);
        mag >>= 15;
    }
    if (reserve(m, 1 + 4 + 2 * (size_t)n) < 0)
        return -1;
    w_type(m, TYPE_LONG, ref);
    w_u32(m, negative ? (uint32_t)-(int32_t)n : (uint32_t)n);
    for (int i = 0; i < n; i++)
        w_u16(m, digits[i]);
    return 0;
}

int pf_marshal_int(pf_marshal *m, int64_t v, uint32_t *ref)
{
    if (v >= INT32_MIN && v <= INT32_MAX) {
        if (reserve(m, 5) < 0)
            return -1;
        w_type(m, TYPE_INT, ref);
        w_u32(m, (uint32_t)v);
        return 0;
    }
    /* Negate in unsigned arithmetic so INT64_MIN does not overflow. */
    uint64_t mag = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    return write_long(m, v < 0, mag, ref);
}

int pf_marshal_uint(pf_marshal *m, uint64_t v, uint32_t *ref)
{
    if (v <= INT32_MAX)
        return pf_marshal_int(m, (int64_t)v, ref);
    return write_long(m, 0, v, ref);
}

int pf_marshal_float(pf_marshal *m, double v, uint32_t *ref)
{
    uint64_t bits;
    memcpy(&bits, &v, sizeof bits);   /* host doubles are IEEE-754 (C11 Annex F) */
    if (reserve(m, 9) < 0)
        return -1;
    w_type(m, TYPE_BINARY_FLOAT, ref);
    w_u64(m, bits);
    return 0;
}

/* Length of the valid UTF-8 sequence starting at s[0..n), or 0 if it is not one
 * (overlongs, surrogates and code points above U+10FFFF are invalid). */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t len;
    uint32_t cp;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
        cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
        return 0;
    if (cp >= 0xD800 && cp <= 0xDFFF)
        return 0;
    return len;
}

int pf_marshal_str(pf_marshal *m, const char *s, size_t len, uint32_t *ref)
{
    const unsigned char *u = (const unsigned char *)s;
    int ascii = 1;
    size_t outlen = 0;   /* UTF-8 length after surrogateescape of invalid bytes */
    for (size_t i = 0; i < len;) {
        size_t k = utf8_seq(u + i, len - i);
        if (k == 1) {
            outlen += 1;
            i += 1;
            continue;
        }
        ascii = 0;
        if (k == 0) {
            outlen += 3;     /* U+DC80..U+DCFF is 3 bytes in UTF-8 */
            i += 1;
        } else {
            outlen += k;
            i += k;
        }
    }
    if (m->failed)
        return -1;
    if (outlen > INT32_MAX)
        return fail(m, PF_ELIMIT, "string too long for marshal");
    if (ascii && len < 256) {
        if (reserve(m, 2 + len) < 0)
            return -1;
        w_type(m, TYPE_SHORT_ASCII, ref);
        w_byte(m, (unsigned)len);
        w_bytes(m, s, len);
        return 0;
    }
    if (reserve(m, 5 + outlen) < 0)
        return -1;
    w_type(m, ascii ? TYPE_ASCII : TYPE_UNICODE, ref);
    w_u32(m, (uint32_t)outlen);
    for (size_t i = 0; i < len;) {
        size_t k = utf8_seq(u + i, len - i);
        if (k == 0) {
            uint32_t cp = 0xDC00u | u[i];   /* surrogateescape */
            w_byte(m, 0xE0 | (cp >> 12));
            w_byte(m, 0x80 | ((cp >> 6) & 0x3F));
            w_byte(m, 0x80 | (cp & 0x3F));
            i += 1;
        } else {
            w_bytes(m, u + i, k);
            i += k;
        }
    }
    return 0;
}

int pf_marshal_tuple(pf_marshal *m, uint32_t n, uint32_t *ref)
{
    if (n > INT32_MAX)
        return fail(m, PF_ELIMIT, "tuple too long for marshal");
    if (reserve(m, 5) < 0)
        return -1;
    if (n < 256) {
        w_type(m, TYPE_SMALL_TUPLE, ref);
        w_byte(m, n);
    } else {
        w_type(m, TYPE_TUPLE, ref);
        w_u32(m, n);
    }
    return 0;
}

int pf_marshal_dict_begin(pf_marshal *m, uint32_t *ref)
{
    if (reserve(m, 1) < 0)
        return -1;
    w_type(m, TYPE_DICT, ref);
    return 0;
}

int pf_marshal_bool(pf_marshal *m, int v)
{
    if (m->failed || reserve(m, 1) < 0)
        return -1;
    w_byte(m, v ? 'T' : 'F');
    return 0;
}

int pf_marshal_dict_end(pf_marshal *m)
{
    if (reserve(m, 1) < 0)
        return -1;
    w_byte(m, TYPE_NULL);
    return 0;
}

int pf_marshal_ref(pf_marshal *m, uint32_t index)
{
    if (m->failed)
        return -1;
    if (index >= m->nrefs)
        return fail(m, PF_EUSAGE, "marshal back-reference to an unassigned slot");
    if (reserve(m, 5) < 0)
        return -1;
    w_byte(m, TYPE_REF);
    w_u32(m, index);
    return 0;
}
