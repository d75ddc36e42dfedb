/* paths.h: shortening source paths for human-readable reports, the way a reader
 * thinks of them: relative to the profiled program's working directory or to the
 * sys.path entry it was imported from (site-packages/foo/bar.py -> foo/bar.py). */
#ifndef PF_PATHS_H
#define PF_PATHS_H

#include <stddef.h>

#include "formats/trace.h"

/* Returns a pointer into file (borrowed, no allocation) just past the longest
 * directory prefix among meta.cwd and meta.path[] that file starts with, or file
 * itself when none matches; *outlen gets the remaining length. */
const char *pf_path_short(const pf_trace *t, const char *file, size_t len, size_t *outlen);

#endif
