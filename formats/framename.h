/* framename.h: the display names of a trace's code objects, shared by every report
 * (collapsed frames, the text table, the SVG and the HTML report), and the one
 * path-shortening rule behind them. */
#ifndef PF_FRAMENAME_H
#define PF_FRAMENAME_H

#include <stddef.h>
#include <stdint.h>

#include "trace.h"

/* The display name of a code object, "qualname (short/path.py:line)" (line 0: left
 * out).  path is shortened by pf_path_short unless full_paths.  Natives are just their
 * label; an out-of-range code is "?".  Writes at most cap bytes (NUL-terminated) and
 * returns the length it needed (like snprintf). */
size_t pf_frame_name(const pf_trace *t, uint32_t code, uint32_t line, int full_paths,
                     char *buf, size_t cap);

/* Returns a pointer into file (borrowed) just past the longest directory among
 * meta.path, meta.cwd and the script's folder that contains it, or file itself when
 * none does (relative names and pseudo-files like "<string>" are kept whole).
 * *outlen (if not NULL) gets the remaining length. */
const char *pf_path_short(const pf_trace *t, const char *file, size_t len, size_t *outlen);

#endif
