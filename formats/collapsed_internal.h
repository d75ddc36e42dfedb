/* collapsed_internal.h: pieces of collapsed.c shared with stacktree.c (not a public API:
 * consumers use collapsed.h and stacktree.h). */
#ifndef PF_COLLAPSED_INTERNAL_H
#define PF_COLLAPSED_INTERNAL_H

#include <stddef.h>

#include "collapsed.h"

enum { PF_COUNT_OK = 0, PF_COUNT_NAN = -1, PF_COUNT_NEGATIVE = -2, PF_COUNT_RANGE = -3 };

/* Parses a whole count token s[0..n) (no blanks).  Returns PF_COUNT_OK and sets *out,
 * or one of the error codes. */
int pf_collapsed_parse_count_(const char *s, size_t n, double *out);

/* pf_collapsed_parse with line numbers starting at *lineno, which is advanced past
 * every line read (for callers that feed a stream chunk by chunk, each chunk but the
 * last ending at a newline). */
long pf_collapsed_parse_from_(const char *buf, size_t len, unsigned long *lineno,
                              pf_collapsed_line_fn fn, const pf_collapsed_opts *opts,
                              pf_error *err);

#endif
