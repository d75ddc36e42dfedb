/* framename.c: display names of code objects ("qualname (short/path.py:LINE)") and
 * the path shortening behind them, shared by pf_frame_name and the flame builder.
 *
 * Shortening: an absolute co_filename loses the longest leading folder among
 * meta.path (sys.path; "" there means the working folder), meta.cwd and the script's
 * folder (argv[0]'s, made absolute with cwd when relative), the way a user reads
 * paths: site-packages/numpy/core/x.py -> numpy/core/x.py,
 * /usr/lib/python3.11/json/decoder.py -> json/decoder.py.  A folder only matches at a
 * '/' boundary, and "/" alone never does.  A module run records argv as "-m NAME ..."
 * (FORMAT.md), so no script folder applies and its files keep their package:
 * docutils/core.py, not core.py.
 */
#include "framename.h"

#include <stdio.h>
#include <string.h>

#include "framename_internal.h"

struct pf_bstr pf_trace_bstr_(const pf_trace *t, uint32_t id)
{
    struct pf_bstr s = { "", 0 };
    if (t->strings) {
        size_t n;
        const char *p = pf_strtab_get(t->strings, id, &n);
        if (p) {
            s.p = p;
            s.n = n;
        }
    }
    return s;
}

/* Length of the prefix of file[0..n) that the directory dir[0..dn) + '/' covers, or 0. */
static size_t dir_prefix(const char *file, size_t n, const char *dir, size_t dn)
{
    while (dn > 1 && dir[dn - 1] == '/')
        dn--;
    if (dn <= 1)               /* "" or "/": shortening against the root says nothing */
        return 0;
    if (dn + 1 < n && memcmp(file, dir, dn) == 0 && file[dn] == '/')
        return dn + 1;
    return 0;
}

/* How many leading bytes of an absolute file name to drop: the longest of meta.path,
 * meta.cwd and the script's folder that contains the file.  Relative names and
 * pseudo-files ("<frozen importlib._bootstrap>", "<string>") are kept whole. */
static size_t short_path_skip(const pf_trace *t, const char *file, size_t n)
{
    size_t best = 0, k;
    if (n == 0 || file[0] != '/')
        return 0;
    for (uint32_t i = 0; i < t->meta.npath; i++) {
        const char *d = t->meta.path ? t->meta.path[i] : NULL;
        if (d == NULL)
            continue;
        if (d[0] == '\0')          /* "" in sys.path means the working folder */
            d = t->meta.cwd ? t->meta.cwd : "";
        if ((k = dir_prefix(file, n, d, strlen(d))) > best)
            best = k;
    }
    if (t->meta.cwd && (k = dir_prefix(file, n, t->meta.cwd, strlen(t->meta.cwd))) > best)
        best = k;
    const char *script = t->meta.argc > 0 && t->meta.argv ? t->meta.argv[0] : NULL;
    if (script) {
        const char *slash = strrchr(script, '/');
        if (script[0] == '/' && slash) {
            if ((k = dir_prefix(file, n, script, (size_t)(slash - script))) > best)
                best = k;
        } else if (slash && t->meta.cwd) {
            /* A relative script path: its folder is cwd/dirname. */
            char dir[4096];
            int dn = snprintf(dir, sizeof dir, "%s/%.*s", t->meta.cwd,
                              (int)(slash - script), script);
            if (dn > 0 && (size_t)dn < sizeof dir &&
                (k = dir_prefix(file, n, dir, (size_t)dn)) > best)
                best = k;
        }
    }
    return best;
}

const char *pf_path_short(const pf_trace *t, const char *file, size_t len, size_t *outlen)
{
    size_t skip = short_path_skip(t, file, len);
    if (outlen)
        *outlen = len - skip;
    return file + skip;
}

/* The parts of a code's display name: natives are just their label (*is_native). */
void pf_frame_parts_(const pf_trace *t, uint32_t code, int full_paths, struct pf_bstr *qual,
                       struct pf_bstr *path, int *is_native)
{
    const pf_code *c = &t->codes[code];
    *is_native = c->kind == PF_CODE_NATIVE;
    *qual = pf_trace_bstr_(t, *is_native ? c->name : c->qualname);
    if (qual->n == 0 && !*is_native)
        *qual = pf_trace_bstr_(t, c->name);
    if (qual->n == 0)
        *qual = (struct pf_bstr){ "?", 1 };
    path->p = "";
    path->n = 0;
    if (!*is_native) {
        *path = pf_trace_bstr_(t, c->file);
        if (!full_paths) {
            size_t skip = short_path_skip(t, path->p, path->n);
            path->p += skip;
            path->n -= skip;
        }
        if (path->n == 0)
            *path = (struct pf_bstr){ "<unknown>", 9 };
    }
}

/* Appends to buf[*len..cap) what fits, counting all of it in *len. */
static void put(char *buf, size_t cap, size_t *len, const char *s, size_t n)
{
    if (*len < cap) {
        size_t room = cap - *len;
        memcpy(buf + *len, s, n < room ? n : room);
    }
    *len += n;
}

/* Formats "qual (path:line)" (line 0 means unknown and is left out) into buf; returns
 * the full length, writing at most cap bytes and no NUL. */
size_t pf_frame_compose_(char *buf, size_t cap, struct pf_bstr qual, struct pf_bstr path,
                           int is_native, uint32_t line)
{
    size_t len = 0;
    put(buf, cap, &len, qual.p, qual.n);
    if (is_native)
        return len;
    put(buf, cap, &len, " (", 2);
    put(buf, cap, &len, path.p, path.n);
    if (line) {
        char num[16];
        int k = 15;
        num[k] = ')';
        do {
            num[--k] = (char)('0' + line % 10);
            line /= 10;
        } while (line);
        num[--k] = ':';
        put(buf, cap, &len, num + k, (size_t)(16 - k));
    } else {
        put(buf, cap, &len, ")", 1);
    }
    return len;
}

size_t pf_frame_name(const pf_trace *t, uint32_t code, uint32_t line, int full_paths,
                     char *buf, size_t cap)
{
    struct pf_bstr qual, path;
    int native;
    size_t len;
    if (t == NULL || code >= t->ncodes) {
        len = 0;
        put(buf, cap, &len, "?", 1);
    } else {
        pf_frame_parts_(t, code, full_paths, &qual, &path, &native);
        len = pf_frame_compose_(buf, cap, qual, path, native, line);
    }
    if (cap > 0)
        buf[len < cap ? len : cap - 1] = '\0';
    return len;
}
