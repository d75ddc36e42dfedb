/* json.h: JSON for the formats that are JSON (speedscope's file format): a writer of
 * strings and numbers, and a small bounded parser for reading such files back.
 *
 * Writer: strings are written as valid UTF-8 JSON whatever the bytes (invalid UTF-8
 * becomes U+FFFD, control bytes \u00XX), numbers in the shortest form that reads back
 * to the same double, integers without a decimal point.
 *
 * Parser: pf_json_parse builds a tree of values in one allocation per array or
 * object, bounded three ways so hostile input cannot take unbounded memory or time:
 * a nesting limit (PF_JSON_MAX_DEPTH), a cap on the bytes of the model (the caller's
 * budget), and a single left-to-right pass (time linear in the input).  Errors name
 * what is wrong and the byte offset: "expected ',' or ']' at offset 1234".
 * Ownership: pf_json_free releases a parsed tree and everything in it.
 */
#ifndef PF_JSON_H
#define PF_JSON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "error.h"

/* ---- writer ------------------------------------------------------------------------ */

/* Writes s[0..n) as a JSON string, quotes included. */
void pf_json_write_str(FILE *out, const char *s, size_t n);
/* Writes v as a JSON number (integral values below 2^53 without a fraction); NaN and
 * infinities, which JSON cannot hold, as 0. */
void pf_json_write_num(FILE *out, double v);

/* ---- parser ------------------------------------------------------------------------ */

enum pf_json_type { PF_JSON_NULL = 0, PF_JSON_FALSE, PF_JSON_TRUE, PF_JSON_NUMBER,
                    PF_JSON_STRING, PF_JSON_ARRAY, PF_JSON_OBJECT };

/* Objects deeper than this fail with PF_ELIMIT (no real profile nests more than ~5). */
#define PF_JSON_MAX_DEPTH 64

typedef struct pf_json pf_json;
struct pf_json {
    enum pf_json_type type;
    uint32_t n;                /* array: items; object: members; string: bytes */
    double num;                /* NUMBER */
    char *str;                 /* STRING: NUL-terminated UTF-8 (may hold NUL bytes: use n) */
    pf_json *items;            /* ARRAY: items[0..n); OBJECT: values[0..n) */
    char **keys;               /* OBJECT: keys[0..n), NUL-terminated */
};

/* Parses text[0..len) (one JSON value, blanks around it allowed; a UTF-8 byte-order
 * mark is skipped).  The model may take at most max_bytes (0: no cap).  Returns a new
 * tree, or NULL with err set: PF_EPARSE (bad syntax, with offset), PF_ELIMIT (too deep,
 * over max_bytes), PF_ENOMEM. */
pf_json *pf_json_parse(const char *text, size_t len, uint64_t max_bytes, pf_error *err);
/* NULL-safe. */
void pf_json_free(pf_json *v);

/* The member named key of object o, or NULL (also when o is not an object). */
const pf_json *pf_json_get(const pf_json *o, const char *key);

#endif
