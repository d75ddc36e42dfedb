/* collapsed.c: the folded-stack line reader and writer (format in collapsed.h).
 *
 * The reader is a single pass over the caller's buffer: memchr finds each newline,
 * the count is the last blank-separated field, and nothing is copied or allocated
 * (stacks point into the buffer).  It must survive any bytes: every access is
 * bounded by the line end, and numbers are parsed by hand because strtod would
 * need a NUL terminator the buffer does not have.
 */
#include "collapsed.h"

#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "collapsed_internal.h"
#include "units.h"

static int is_blank(char c) { return c == ' ' || c == '\t'; }
/* Trailing bytes stripped from a line: blanks, and the '\r' of CRLF files. */
static int is_trail(char c) { return c == ' ' || c == '\t' || c == '\r'; }

/* Exact powers of ten: with a mantissa below 2^53 one multiplication or division by
 * one of these is correctly rounded (Clinger's fast path). */
static const double pow10_exact[] = {
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
    1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22
};

/* Longest number token we hand to strtod; longer ones are rejected as not numbers
 * (no profiler writes a 400-digit count, and this keeps the copy on the stack). */
#define MAX_NUMBER_LEN 400

int pf_collapsed_parse_count_(const char *s, size_t n, double *out)
{
    size_t i = 0;
    int neg = 0;
    if (i < n && (s[i] == '+' || s[i] == '-')) {
        neg = s[i] == '-';
        i++;
    }
    /* Fast path: plain integers, the overwhelmingly common case. */
    uint64_t mant = 0;
    int ndig = 0, sig = 0, dropped = 0;
    while (i < n && s[i] >= '0' && s[i] <= '9') {
        if (sig < 19) {
            mant = mant * 10 + (uint64_t)(s[i] - '0');
            if (mant != 0)
                sig++;
        } else {
            dropped++;
        }
        ndig++;
        i++;
    }
    int frac = 0;
    if (i < n && s[i] == '.') {
        i++;
        while (i < n && s[i] >= '0' && s[i] <= '9') {
            if (sig < 19) {
                mant = mant * 10 + (uint64_t)(s[i] - '0');
                if (mant != 0)
                    sig++;
                frac++;
            }
            ndig++;
            i++;
        }
    }
    if (ndig == 0)
        return PF_COUNT_NAN;
    long exp10 = 0;
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        int eneg = 0;
        if (i < n && (s[i] == '+' || s[i] == '-')) {
            eneg = s[i] == '-';
            i++;
        }
        size_t first = i;
        while (i < n && s[i] >= '0' && s[i] <= '9') {
            if (exp10 < 100000)
                exp10 = exp10 * 10 + (s[i] - '0');
            i++;
        }
        if (i == first)
            return PF_COUNT_NAN;     /* "1e" and "1e+" have no exponent */
        if (eneg)
            exp10 = -exp10;
    }
    if (i != n)
        return PF_COUNT_NAN;

    double v;
    long e = exp10 + dropped - frac;
    if (mant == 0) {
        v = 0.0;
    } else if (mant < (UINT64_C(1) << 53) && e >= -22 && e <= 22) {
        v = (double)mant;
        v = e >= 0 ? v * pow10_exact[e] : v / pow10_exact[-e];
    } else if (n <= MAX_NUMBER_LEN) {
        /* Rare: long mantissas or big exponents.  The token is known to be a
         * well-formed C number, so strtod on a NUL-terminated copy is exact. */
        char tmp[MAX_NUMBER_LEN + 1];
        memcpy(tmp, s, n);
        tmp[n] = '\0';
        char *end;
        v = strtod(tmp, &end);
        if (*end != '\0')
            return PF_COUNT_NAN;
        if (v < 0)
            v = -v;
    } else {
        return PF_COUNT_NAN;
    }
    if (!isfinite(v))
        return PF_COUNT_RANGE;
    if (neg && v != 0.0)
        return PF_COUNT_NEGATIVE;
    *out = v;
    return PF_COUNT_OK;
}

static const char *count_error_text(int rc)
{
    switch (rc) {
    case PF_COUNT_NEGATIVE: return "negative count";
    case PF_COUNT_RANGE:    return "count is too large";
    default:                return "count is not a number";
    }
}

/* Index of the last blank in s[0..n), or -1. */
static long last_blank(const char *s, size_t n)
{
    while (n > 0) {
        n--;
        if (is_blank(s[n]))
            return (long)n;
    }
    return -1;
}

/* Index of the last blank in the last frame of s[0..n) (after the last ';'), or -1.
 * A count never contains ';', so there is no need to look further back: this keeps
 * the differential check from rescanning whole lines. */
static long last_blank_in_frame(const char *s, size_t n)
{
    while (n > 0) {
        n--;
        if (is_blank(s[n]))
            return (long)n;
        if (s[n] == ';')
            return -1;
    }
    return -1;
}

/* Reports a malformed line: fatal in strict mode, else a callback.  Returns 0 to go
 * on, -1 to fail. */
static int bad_line(const pf_collapsed_opts *opts, unsigned long lineno, const char *msg,
                    pf_error *err)
{
    if (opts && opts->strict)
        return pf_error_set(err, PF_EPARSE, "malformed line %lu: %s", lineno, msg);
    if (opts && opts->on_bad)
        opts->on_bad(opts->ctx, lineno, msg);
    return 0;
}

/* Splits one line (without its '\n') into stack and counts.  Returns NULL and fills
 * out, or the text of what is wrong.  *skip is set for blank and comment lines. */
static const char *split_line(const char *p, size_t n, pf_collapsed_line *out, int *skip)
{
    *skip = 0;
    while (n > 0 && is_trail(p[n - 1]))
        n--;
    if (n == 0 || p[0] == '#') {
        *skip = 1;
        return NULL;
    }
    long sp = last_blank(p, n);
    if (sp < 0)
        return "missing count";
    double count;
    int rc = pf_collapsed_parse_count_(p + sp + 1, n - (size_t)sp - 1, &count);
    if (rc != PF_COUNT_OK)
        return count_error_text(rc);
    size_t slen = (size_t)sp;
    while (slen > 0 && is_blank(p[slen - 1]))
        slen--;
    if (slen == 0)
        return "missing stack";
    out->has_count2 = 0;
    out->count2 = 0;
    /* Differential input ("stack before after"): if the field before the count is a
     * number too and something precedes it, it is the first column, as in
     * flamegraph.pl's difffolded handling. */
    long sp2 = last_blank_in_frame(p, slen);
    if (sp2 >= 0) {
        double c1;
        size_t s2 = (size_t)sp2;
        while (s2 > 0 && is_blank(p[s2 - 1]))
            s2--;
        if (s2 > 0 &&
            pf_collapsed_parse_count_(p + sp2 + 1, slen - (size_t)sp2 - 1, &c1) == PF_COUNT_OK) {
            out->has_count2 = 1;
            out->count2 = count;
            count = c1;
            slen = s2;
        }
    }
    out->stack = p;
    out->stack_len = slen;
    out->count = count;
    return NULL;
}

long pf_collapsed_parse_from_(const char *buf, size_t len, unsigned long *plineno,
                              pf_collapsed_line_fn fn, const pf_collapsed_opts *opts,
                              pf_error *err)
{
    const char *p = buf, *end = buf + len;
    unsigned long lineno = *plineno;
    long good = 0;
    void *ctx = opts ? opts->ctx : NULL;
    if (len == 0)
        return 0;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        pf_collapsed_line line;
        int skip;
        const char *bad = split_line(p, (size_t)(le - p), &line, &skip);
        if (bad) {
            if (bad_line(opts, lineno, bad, err) < 0)
                return -1;
        } else if (!skip) {
            line.lineno = lineno;
            if (fn) {
                pf_error_clear(err);
                if (fn(ctx, &line, err) < 0) {
                    if (err && err->code == PF_OK)
                        pf_error_set(err, PF_EUSAGE, "stopped at line %lu", lineno);
                    return -1;
                }
            }
            if (good < LONG_MAX)
                good++;
        }
        lineno++;
        *plineno = lineno;
        p = nl ? nl + 1 : end;
    }
    return good;
}

long pf_collapsed_parse(const char *buf, size_t len, pf_collapsed_line_fn fn,
                        const pf_collapsed_opts *opts, pf_error *err)
{
    if (buf == NULL && len != 0)
        return pf_error_set(err, PF_EUSAGE, "no input buffer");
    unsigned long lineno = 1;
    return pf_collapsed_parse_from_(buf, len, &lineno, fn, opts, err);
}

/* ---- writer ---------------------------------------------------------------------- */

int pf_collapsed_write_line(FILE *out, const char *stack, size_t stack_len,
                            double count, const double *count2, pf_error *err)
{
    char num[2 * PF_UNITS_EXACT_BUFSZ + 4];
    size_t n = 0;
    num[n++] = ' ';
    n += pf_units_exact(count, num + n);
    if (count2) {
        num[n++] = ' ';
        n += pf_units_exact(*count2, num + n);
    }
    num[n++] = '\n';
    if ((stack_len && fwrite(stack, 1, stack_len, out) != stack_len) ||
        fwrite(num, 1, n, out) != n)
        return pf_error_set(err, PF_EIO, "cannot write collapsed stacks");
    return 0;
}
