/* error.h: the one error vocabulary of pyflame-c.
 *
 * Every fallible function in formats/, convert/ and render/ returns 0 / -1 (or NULL)
 * and fills a pf_error.  Codes and their default texts come from one X-macro list so
 * they cannot drift apart.  Messages say what is wrong first, then where:
 *     "truncated record at offset 4096"
 * The caller (the CLI) prefixes the program and file name:
 *     "pyflame-c: trace.gz: truncated record at offset 4096"
 */
#ifndef PF_ERROR_H
#define PF_ERROR_H

#include <stddef.h>

/* When adding a code: add it here only; pf_error_name()/pf_error_text() follow. */
#define PF_ERROR_LIST(X)                                   \
    X(PF_OK,        "no error")                            \
    X(PF_ENOMEM,    "out of memory")                       \
    X(PF_EIO,       "input/output error")                  \
    X(PF_EMAGIC,    "not a pyflame-c trace")               \
    X(PF_EVERSION,  "unsupported trace format version")    \
    X(PF_ETRUNC,    "truncated input")                     \
    X(PF_ECORRUPT,  "corrupt input")                       \
    X(PF_ELIMIT,    "input exceeds a limit")               \
    X(PF_EPARSE,    "malformed input")                     \
    X(PF_EEMPTY,    "no data")                             \
    X(PF_EUSAGE,    "bad usage")                           \
    X(PF_EMISMATCH, "inputs are not comparable")

#define PF_ERROR_ENUM_(code, text) code,
enum pf_error_code { PF_ERROR_LIST(PF_ERROR_ENUM_) PF_ERROR_COUNT_ };
#undef PF_ERROR_ENUM_

typedef struct pf_error {
    enum pf_error_code code;
    char msg[512];              /* full message, NUL-terminated, never empty when code != PF_OK */
} pf_error;

/* Sets err (if not NULL) to code and a printf-style message.  With fmt == NULL the
 * code's default text is used.  Always returns -1 so callers can `return pf_error_set(...)`. */
int pf_error_set(pf_error *err, enum pf_error_code code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* Resets err to PF_OK with an empty message. */
void pf_error_clear(pf_error *err);

/* The enum name ("PF_ETRUNC") and default text ("truncated input") of a code. */
const char *pf_error_name(enum pf_error_code code);
const char *pf_error_text(enum pf_error_code code);

#endif
