/* framename_internal.h: frame-name pieces of framename.c that stacktree.c reuses (not a
 * public API: consumers call pf_frame_name in framename.h). */
#ifndef PF_FRAMENAME_INTERNAL_H
#define PF_FRAMENAME_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "trace.h"

/* A borrowed byte string. */
struct pf_bstr {
    const char *p;
    size_t n;
};

/* String id of t as a byte string ("" when the id is out of range). */
struct pf_bstr pf_trace_bstr_(const pf_trace *t, uint32_t id);

/* The parts of code's display name: qualname (or name, or "?") and the path as shown
 * (shortened unless full_paths; "<unknown>" when empty).  Natives set *is_native and
 * have only a label in *qual.  code must be < t->ncodes. */
void pf_frame_parts_(const pf_trace *t, uint32_t code, int full_paths, struct pf_bstr *qual,
                     struct pf_bstr *path, int *is_native);

/* Formats "qual (path:line)" (line 0 = unknown, left out; natives: qual alone) into
 * buf without a NUL, writing at most cap bytes; returns the full length. */
size_t pf_frame_compose_(char *buf, size_t cap, struct pf_bstr qual, struct pf_bstr path,
                         int is_native, uint32_t line);

#endif
