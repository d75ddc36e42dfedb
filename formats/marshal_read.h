/* marshal_read.h: a reader for Python's marshal format (versions 2-4), enough for
 * the data files profilers write with marshal.dump: pstats files (cProfile,
 * profiling.tracing, profile, yappi's "pstat" export).  The byte layout is
 * convert/PSTATS_FORMAT.md section 3's (the writer, marshal.h, is its mirror).
 *
 * Input is untrusted: every length is checked against the bytes left, nesting is
 * limited to PF_MARSHAL_MAX_DEPTH, back-references must point at a finished object,
 * and the model is at most ~24 bytes per input byte plus the input itself (every
 * value takes at least one input byte; a back-reference shares its target), so
 * memory and time are linear in the input.  Code objects and other types a data
 * file never holds are refused by name ("unsupported marshal type 'c' (code object)
 * at offset 12").
 *
 * The model is an array of values; containers list their items' indices in `kids`.
 * Strings point into the caller's buffer (not copied, not NUL-terminated): keep it
 * alive while the model is used.  Ownership: pf_mread_free frees the model. */
#ifndef PF_MARSHAL_READ_H
#define PF_MARSHAL_READ_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

#define PF_MARSHAL_MAX_DEPTH 64

enum pf_mtype { PF_MV_NONE = 0, PF_MV_BOOL, PF_MV_INT, PF_MV_FLOAT, PF_MV_STR, PF_MV_BYTES,
                PF_MV_TUPLE, PF_MV_LIST, PF_MV_DICT };

typedef struct pf_mval {
    uint8_t type;             /* enum pf_mtype */
    uint8_t big;              /* INT: the value did not fit in 64 bits (i is clamped) */
    uint32_t n;               /* STR/BYTES: bytes; TUPLE/LIST: items; DICT: pairs */
    union {
        int64_t i;            /* BOOL, INT */
        double f;             /* FLOAT (and INT as a double in pf_mread_num) */
        uint32_t first;       /* TUPLE/LIST/DICT: first index in kids (DICT: key, value, ...) */
    } u;
    const char *s;            /* STR (UTF-8 or, for old files, Latin-1 bytes) / BYTES */
} pf_mval;

typedef struct pf_mread {
    pf_mval *vals;
    uint32_t nvals;
    uint32_t *kids;
    uint32_t nkids;
    uint32_t root;            /* index of the top value */
} pf_mread;

/* Parses one marshalled value from data[0..len) (trailing bytes are an error).  The
 * model may take at most max_bytes (0: no cap).  Returns a new model, or NULL with
 * err set: PF_ETRUNC ("truncated marshal data at offset N"), PF_ECORRUPT (bad type
 * byte, bad reference, bad length), PF_ELIMIT (too deep, over max_bytes), PF_ENOMEM. */
pf_mread *pf_mread_parse(const unsigned char *data, size_t len, uint64_t max_bytes,
                         pf_error *err);
/* NULL-safe. */
void pf_mread_free(pf_mread *m);

/* Item i of container v (tuple, list: i < n; dict: key of pair i at 2i, value at 2i+1). */
static inline const pf_mval *pf_mread_kid(const pf_mread *m, const pf_mval *v, uint32_t i)
{
    return &m->vals[m->kids[v->u.first + i]];
}
/* A number (int or float) as a double into *out: 0, or -1 when v is not a number. */
int pf_mread_num(const pf_mval *v, double *out);

#endif
