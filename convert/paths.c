/* paths.c: prefix stripping for report paths (see paths.h). */
#include "convert/paths.h"

#include <string.h>

/* Length of the prefix to drop if dir (without trailing '/') is a directory prefix
 * of file, else 0. */
static size_t prefix_len(const char *dir, const char *file, size_t len)
{
    if (dir == NULL)
        return 0;
    size_t d = strlen(dir);
    while (d > 1 && dir[d - 1] == '/')
        d--;
    if (d == 0 || d >= len || memcmp(dir, file, d) != 0)
        return 0;
    if (d == 1 && dir[0] == '/')
        return 1;
    return file[d] == '/' ? d + 1 : 0;
}

const char *pf_path_short(const pf_trace *t, const char *file, size_t len, size_t *outlen)
{
    size_t best = prefix_len(t->meta.cwd, file, len);
    for (uint32_t i = 0; i < t->meta.npath; i++) {
        size_t p = prefix_len(t->meta.path[i], file, len);
        if (p > best)
            best = p;
    }
    if (best == 1)       /* "/" alone shortens nothing useful */
        best = 0;
    *outlen = len - best;
    return file + best;
}
