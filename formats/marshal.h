/* marshal.h: a writer for the subset of Python's marshal format (version 4) that a
 * pstats file needs: dicts, small tuples, ints, floats, strings and back-references.
 * The byte layout is documented in convert/PSTATS_FORMAT.md section 3
 * and restated next to each primitive below.  All multi-byte integers are
 * little-endian and encoded with shifts, so the output is the same on every host.
 *
 * Errors are sticky: the first failure (out of memory, write error) is latched, every
 * later call is a no-op returning -1, and pf_marshal_finish reports it.  Callers may
 * therefore check each call or only the final pf_marshal_finish.
 *
 * References: a value written with a non-NULL `ref` out-parameter is flagged
 * (FLAG_REF, 0x80) and *ref receives its index in the reader's reference table;
 * pf_marshal_ref(m, index) later writes a back-reference to it.  Indices are assigned
 * in write order (= the reader's pre-order), starting at 0.
 */
#ifndef PF_MARSHAL_H
#define PF_MARSHAL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "error.h"

typedef struct pf_marshal pf_marshal;

/* Returns a writer that streams to out (buffered; out stays the caller's), or with
 * out == NULL accumulates everything in memory (see pf_marshal_data).  NULL on OOM. */
pf_marshal *pf_marshal_new(FILE *out);
/* NULL-safe.  Does not close the FILE. */
void pf_marshal_free(pf_marshal *m);

/* Flushes buffered bytes to the FILE (if any) and reports the first error latched
 * since pf_marshal_new.  Returns 0, or -1 with err set. */
int pf_marshal_finish(pf_marshal *m, pf_error *err);

/* In-memory mode only: the bytes written so far (borrowed) and their count. */
const unsigned char *pf_marshal_data(const pf_marshal *m, size_t *len);

/* Number of reference slots assigned so far (= the index the next flagged value gets). */
uint32_t pf_marshal_nrefs(const pf_marshal *m);

/* Integer.  'i' + i32 when the value fits in 32 signed bits, otherwise
 * 'l' + i32 digit count (negative for negative numbers) + base-2^15 u16 digits, least
 * significant first -- what CPython itself writes.  Returns 0 or -1. */
int pf_marshal_int(pf_marshal *m, int64_t v, uint32_t *ref);
/* Same for an unsigned value (counts up to 2^64-1). */
int pf_marshal_uint(pf_marshal *m, uint64_t v, uint32_t *ref);

/* Float: 'g' + the IEEE-754 binary64 bits, little-endian. */
int pf_marshal_float(pf_marshal *m, double v, uint32_t *ref);

/* String s[0..len) holding UTF-8 text.  Pure ASCII is written as 'z' (u8 length) when
 * shorter than 256 bytes, else 'a' (u32 length); anything else as 'u' (u32 length,
 * UTF-8).  Bytes that are not valid UTF-8 are written the way Python's
 * os.fsdecode() maps them (surrogateescape: byte 0xXY -> U+DCXY), which marshal's
 * 'surrogatepass' decoder accepts, so an undecodable file name round-trips to the
 * same str Python itself would hold.  Returns 0 or -1 (including len > INT32_MAX). */
int pf_marshal_str(pf_marshal *m, const char *s, size_t len, uint32_t *ref);

/* Tuple header: ')' + u8 n for n < 256, else '(' + u32 n; the caller then writes
 * exactly n values. */
int pf_marshal_tuple(pf_marshal *m, uint32_t n, uint32_t *ref);

/* True or False: 'T' or 'F'.  Returns 0 or -1. */
int pf_marshal_bool(pf_marshal *m, int v);

/* Dict: '{', then the caller writes key, value, key, value, ..., then
 * pf_marshal_dict_end writes the terminator '0' (TYPE_NULL). */
int pf_marshal_dict_begin(pf_marshal *m, uint32_t *ref);
int pf_marshal_dict_end(pf_marshal *m);

/* Back-reference: 'r' + u32 index.  Fails (and latches PF_EUSAGE) when index has not
 * been assigned yet, since the reader would reject it. */
int pf_marshal_ref(pf_marshal *m, uint32_t index);

#endif
