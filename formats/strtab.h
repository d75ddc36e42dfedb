/* strtab.h: an interned string table.  Each distinct byte string gets a dense id
 * (0, 1, 2, ...) in order of first insertion; the trace stores strings once and
 * refers to them by id everywhere else.
 *
 * Strings are byte strings (not necessarily UTF-8, may contain any byte but are
 * always also NUL-terminated for convenience).  The table owns its copies.
 */
#ifndef PF_STRTAB_H
#define PF_STRTAB_H

#include <stddef.h>
#include <stdint.h>

#include "budget.h"

typedef struct pf_strtab pf_strtab;

#define PF_STR_NONE UINT32_MAX   /* "no string" / failure */

/* Returns a new empty table, or NULL when out of memory. */
pf_strtab *pf_strtab_new(void);
/* Frees the table and every string in it.  NULL-safe. */
void pf_strtab_free(pf_strtab *t);

/* Makes the table charge its growth (entries, string blocks, index) to b before
 * allocating, failing like out of memory when b refuses (b->refused tells).  b must
 * outlive the table; NULL stops the accounting.  pf_trace uses it for its budget. */
void pf_strtab_set_budget(pf_strtab *t, pf_budget *b);

/* Returns the id of s[0..len), adding a copy if it is new.  Returns PF_STR_NONE when
 * out of memory (the table is unchanged) or when the table already holds
 * UINT32_MAX-1 strings. */
uint32_t pf_strtab_intern(pf_strtab *t, const char *s, size_t len);
/* Same for a NUL-terminated string. */
uint32_t pf_strtab_intern_cstr(pf_strtab *t, const char *s);

/* Appends s[0..len) as the next id without looking for a duplicate (the reader
 * uses this: ids in a file are positional).  Returns the id or PF_STR_NONE. */
uint32_t pf_strtab_append(pf_strtab *t, const char *s, size_t len);

/* Number of strings. */
uint32_t pf_strtab_count(const pf_strtab *t);
/* The string with this id (NUL-terminated, borrowed, valid until the table is freed),
 * its length in *len if len != NULL.  Returns NULL if id is out of range. */
const char *pf_strtab_get(const pf_strtab *t, uint32_t id, size_t *len);

#endif
