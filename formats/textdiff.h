/* textdiff.h: aligns two versions of a text line by line, for `pyflame-c diff`'s
 * per-line comparison: a function's body before and after a change, so that edited
 * and moved lines line up and their hits, times and memory can be compared.
 *
 * The alignment is patience diff (lines unique on both sides anchor it, the longest
 * increasing run of anchors is kept, gaps are solved the same way), with an exact
 * longest-common-subsequence for small gaps without anchors.  Work and memory are
 * bounded for hostile input: past a budget of line visits, or for large gaps without
 * anchors, the rest is reported as changed lines paired in order.
 *
 * Lines compare equal when their bytes are equal after trailing blanks (and '\r')
 * are dropped.
 */
#ifndef PF_TEXTDIFF_H
#define PF_TEXTDIFF_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

enum pf_td_kind {
    PF_TD_EQUAL = 0,          /* the same text on both sides */
    PF_TD_CHANGED,            /* an edited line: a and b paired in order within a hunk */
    PF_TD_DELETED,            /* only in a (b is PF_TD_NONE) */
    PF_TD_INSERTED            /* only in b (a is PF_TD_NONE) */
};

#define PF_TD_NONE UINT32_MAX

/* One row of the alignment: line indices (0-based) into a and b. */
typedef struct pf_td_row {
    uint32_t a, b;
    uint32_t kind;            /* enum pf_td_kind */
} pf_td_row;

/* A line: bytes (not NUL-terminated, no newline) and length. */
typedef struct pf_td_line {
    const char *p;
    size_t n;
} pf_td_line;

/* Splits text[0..len) into lines at '\n' (a last line without newline counts; an
 * empty text has none).  *lines gets a pf_malloc'd array the caller frees with
 * pf_free (NULL when there are none), borrowing text.  0, or -1 with err (PF_ENOMEM,
 * PF_ELIMIT above 2^31 lines). */
int pf_td_split(const char *text, size_t len, pf_td_line **lines, uint32_t *n, pf_error *err);

/* Aligns a[0..na) with b[0..nb).  *rows gets a pf_malloc'd array (caller frees with
 * pf_free) of at most na + nb rows in order: every line of a and of b appears exactly
 * once, in increasing order on each side.  0, or -1 with err (PF_ENOMEM). */
int pf_td_align(const pf_td_line *a, uint32_t na, const pf_td_line *b, uint32_t nb,
                pf_td_row **rows, uint32_t *nrows, pf_error *err);

#endif
