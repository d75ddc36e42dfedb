/* collapsed.h: reader and writer for the folded ("collapsed") stack format, the input
 * of flamegraph.pl, inferno and speedscope:
 *
 *     main;parse;tokenize 123
 *     main;render 45.5 40           <- optional second count column (differential data)
 *
 * Frames are separated by ';' and may contain spaces; the count is the last
 * space-separated field (the second count, if any, comes after it).  Counts may be
 * fractional.  Blank lines and lines starting with '#' are skipped.
 */
#ifndef PF_COLLAPSED_H
#define PF_COLLAPSED_H

#include <stddef.h>
#include <stdio.h>

#include "error.h"

/* One parsed line.  stack points into the caller's buffer (not NUL-terminated). */
typedef struct pf_collapsed_line {
    const char *stack;
    size_t stack_len;
    double count;
    double count2;            /* valid when has_count2 */
    int has_count2;
    unsigned long lineno;     /* 1-based */
} pf_collapsed_line;

/* Called for each good line; return 0 to continue, -1 to stop (the parse then
 * fails with whatever the callback put into err, or PF_EUSAGE if nothing). */
typedef int (*pf_collapsed_line_fn)(void *ctx, const pf_collapsed_line *line, pf_error *err);
/* Called for each malformed line (never in strict mode, where the first one fails the
 * parse).  msg says what is wrong, e.g. "missing count". */
typedef void (*pf_collapsed_bad_fn)(void *ctx, unsigned long lineno, const char *msg);

typedef struct pf_collapsed_opts {
    int strict;                     /* malformed lines are fatal */
    pf_collapsed_bad_fn on_bad;     /* may be NULL: malformed lines are then skipped silently */
    void *ctx;                      /* passed to both callbacks */
} pf_collapsed_opts;

/* Parses buf[0..len).  Returns the number of good lines (>= 0), or -1 with err set
 * (strict mode: "malformed line 12: missing count"; or the callback's error).
 * Never reads outside buf; lines of any length are accepted. */
long pf_collapsed_parse(const char *buf, size_t len, pf_collapsed_line_fn fn,
                        const pf_collapsed_opts *opts, pf_error *err);

/* Writes one line "stack count[ count2]\n".  Counts are printed exactly: integers
 * without a decimal point, other values with up to 17 significant digits.
 * Returns 0 or -1 with err set (I/O error). */
int pf_collapsed_write_line(FILE *out, const char *stack, size_t stack_len,
                            double count, const double *count2, pf_error *err);

/* ---- Additions (collapsed.c owner): details of the reader above, for consumers. ----
 *
 *  - Blanks are ' ' and '\t'.  Trailing blanks and '\r' (CRLF files) end a line;
 *    blanks before the count are not part of the stack, other bytes of the stack
 *    (leading blanks, quotes, '<', '&', control bytes, invalid UTF-8) are kept as is.
 *  - Differential lines: if the field before the count is a count too and something
 *    precedes it, the line is "stack count count2" (flamegraph.pl's rule).  A count
 *    never contains ';', so "x;12 34" is the stack "x;12" with one count.
 *  - Counts: [+]digits[.digits][e[+-]digits] or .digits, parsed exactly (correctly
 *    rounded); "-0" is zero.  Messages handed to on_bad (and used in strict mode
 *    after "malformed line N: "): "missing count", "missing stack",
 *    "count is not a number" (also nan, inf, hex), "negative count",
 *    "count is too large" (overflows a double).
 *  - Lines are split on '\n' only; a line may be any length.  The parser allocates
 *    nothing; speed is about that of memchr over the buffer.
 */

#endif
