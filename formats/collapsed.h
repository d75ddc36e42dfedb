/* collapsed.h: reader and writer for the folded ("collapsed") stack format, the input
 * of flamegraph.pl, inferno and speedscope:
 *
 *     main;parse;tokenize 123
 *     main;render 45.5 40           <- optional second count column (differential data)
 *
 * Lines are split on '\n' only and may be any length.  Blanks are ' ' and '\t';
 * trailing blanks and '\r' (CRLF files) end a line.  The count is the last
 * blank-separated field.  If the field before it is a count too and something precedes
 * it, the line is "stack count count2" (flamegraph.pl's rule); a count never contains
 * ';', so "x;12 34" is the stack "x;12" with one count.  Blanks before the count are
 * not part of the stack; every other byte of it (leading blanks, quotes, '<', '&',
 * control bytes, invalid UTF-8) is kept as is, frames being separated by ';'.
 * Counts are [+]digits[.digits][e[+-]digits] or .digits, parsed exactly (correctly
 * rounded); "-0" is zero.  Blank lines and lines starting with '#' are skipped.
 *
 * Trees are built from this text by formats/stacktree.h (pf_stacktree_load).
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
 * parse).  msg says what is wrong, one of: "missing count", "missing stack", "count is
 * not a number" (also nan, inf, hex), "negative count", "count is too large"
 * (overflows a double). */
typedef void (*pf_collapsed_bad_fn)(void *ctx, unsigned long lineno, const char *msg);

typedef struct pf_collapsed_opts {
    int strict;                     /* malformed lines are fatal */
    pf_collapsed_bad_fn on_bad;     /* may be NULL: malformed lines are then skipped silently */
    void *ctx;                      /* passed to both callbacks */
} pf_collapsed_opts;

/* Parses buf[0..len).  Returns the number of good lines (>= 0), or -1 with err set
 * (strict mode: PF_EPARSE "malformed line 12: missing count", the messages of
 * pf_collapsed_bad_fn; or the callback's error).  Never reads outside buf and
 * allocates nothing; it runs at about the speed of memchr over the buffer. */
long pf_collapsed_parse(const char *buf, size_t len, pf_collapsed_line_fn fn,
                        const pf_collapsed_opts *opts, pf_error *err);

/* Writes one line "stack count[ count2]\n" (stack as given: the caller keeps ';',
 * '\n' out of frames).  Counts are printed exactly, by pf_units_exact (units.h):
 * integers without a decimal point, others as the shortest decimal that reads back,
 * never an exponent.  Returns 0 or -1 with err set (I/O error). */
int pf_collapsed_write_line(FILE *out, const char *stack, size_t stack_len,
                            double count, const double *count2, pf_error *err);

#endif
