/* palette.c: frame colours (see palette.h).
 *
 * Every colour starts from one or three numbers in [0,1) derived from the name:
 * by default a well-mixed 64-bit hash, so each name gets a fixed colour unrelated to
 * similar names; with --hash a "weighted" hash in which the first characters count
 * most, so related names (a module's functions) land on similar shades.  The hue
 * ranges follow flamegraph.pl's documented palettes so graphs look familiar.
 */
#include "render/palette.h"

#include <stdio.h>
#include <string.h>

#define PF_PALETTE_NAME_(code, name) name,
static const char *const palette_names[] = { PF_PALETTE_LIST(PF_PALETTE_NAME_) };
#undef PF_PALETTE_NAME_

int pf_palette_parse(const char *name)
{
    for (int i = 0; i < PF_PALETTE_COUNT_; i++)
        if (strcmp(name, palette_names[i]) == 0)
            return i;
    return -1;
}

const char *pf_palette_name(int pal)
{
    return pal >= 0 && pal < PF_PALETTE_COUNT_ ? palette_names[pal] : "?";
}

const char *pf_palette_names(void)
{
    return "hot, mem, io, wakeup, chain, java, js, perl, red, green, blue, aqua, yellow, "
           "purple, orange, python";
}

static uint64_t mix64(uint64_t x)
{
    /* splitmix64 finaliser: spreads every input bit over the whole word */
    x ^= x >> 30; x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27; x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

static uint64_t fnv64(const char *s, size_t len)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)s[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

/* Weighted hash: the first characters dominate, so "parse_a" and "parse_b" are close.
 * Reads at most 8 characters from one end of the name (forward or backward). */
static double weighted(const char *s, size_t len, int backward)
{
    double v = 0, w = 1, max = 0;
    for (size_t i = 0; i < len && i < 8; i++) {
        unsigned char c = (unsigned char)s[backward ? len - 1 - i : i];
        v += (double)((c * 37u) % 61u) / 61.0 * w;
        max += w;
        w *= 0.62;
    }
    return max > 0 ? v / max : 0;
}

/* Drops a "module`" prefix (perf's DSO annotation) so the function name decides. */
static void strip_module(const char **s, size_t *len)
{
    const char *tick = memchr(*s, '`', *len);
    if (tick) {
        *len -= (size_t)(tick + 1 - *s);
        *s = tick + 1;
    }
}

static int ends_with(const char *s, size_t len, const char *suf)
{
    size_t n = strlen(suf);
    return len >= n && memcmp(s + len - n, suf, n) == 0;
}

static int contains(const char *s, size_t len, const char *needle)
{
    return memmem(s, len, needle, strlen(needle)) != NULL;
}

static int starts_with(const char *s, size_t len, const char *pre)
{
    size_t n = strlen(pre);
    return len >= n && memcmp(s, pre, n) == 0;
}

static uint32_t rgb(unsigned r, unsigned g, unsigned b)
{
    return (r & 0xff) << 16 | (g & 0xff) << 8 | (b & 0xff);
}

static unsigned lerp(unsigned base, unsigned span, double v)
{
    return base + (unsigned)(span * v);
}

/* The single-hue palettes, by one number v in [0,1). */
static uint32_t flat(int pal, double v)
{
    switch (pal) {
    case PF_PAL_RED:    { unsigned x = lerp(50, 80, v); return rgb(lerp(200, 55, v), x, x); }
    case PF_PAL_GREEN:  { unsigned x = lerp(50, 60, v); return rgb(x, lerp(200, 55, v), x); }
    case PF_PAL_BLUE:   { unsigned x = lerp(80, 60, v); return rgb(x, x, lerp(205, 50, v)); }
    case PF_PAL_YELLOW: { unsigned x = lerp(175, 55, v); return rgb(x, x, lerp(50, 20, v)); }
    case PF_PAL_PURPLE: { unsigned x = lerp(190, 65, v); return rgb(x, lerp(80, 60, v), x); }
    case PF_PAL_AQUA:   { unsigned x = lerp(165, 55, v); return rgb(lerp(50, 60, v), x, x); }
    case PF_PAL_ORANGE: return rgb(lerp(190, 65, v), lerp(90, 65, v), 0);
    default:            return rgb(lerp(205, 50, v), lerp(0, 230, v), lerp(0, 55, v));
    }
}

/* The path part of "func (path:line)" (py-spy, pyflame-c) or "path:func:line"
 * (austin, gen_folded); len 0 when the name carries none. */
static const char *name_path(const char *s, size_t len, size_t *plen)
{
    *plen = 0;
    if (len > 3 && s[len - 1] == ')') {
        for (size_t i = len - 1; i-- > 1;) {
            if (s[i] == '(' && s[i - 1] == ' ') {
                const char *p = s + i + 1;
                size_t n = len - 1 - (i + 1);
                const char *colon = memrchr(p, ':', n);
                size_t pl = colon ? (size_t)(colon - p) : n;
                /* "thread (4242)": a thread id, not a path */
                if (memchr(p, '.', pl) || memchr(p, '/', pl) || memchr(p, '\\', pl) ||
                    (pl > 0 && p[0] == '<'))
                    *plen = pl;
                return p;
            }
        }
    }
    const char *py = memmem(s, len, ".py:", 4);
    if (py) {
        *plen = (size_t)(py + 3 - s);
        return s;
    }
    return s;
}

enum pf_py_kind pf_palette_python_kind(const char *name, size_t len, const char *file)
{
    if (starts_with(name, len, "<built-in") || starts_with(name, len, "<method") ||
        starts_with(name, len, "<cyfunction") || starts_with(name, len, "<slot wrapper"))
        return PF_PY_BUILTIN;
    const char *path;
    size_t plen;
    if (file && file[0]) {
        path = file;
        plen = strlen(file);
    } else {
        path = name_path(name, len, &plen);
    }
    if (plen == 0) {
        /* "worker (4250)": py-spy's thread frames */
        if (len > 3 && name[len - 1] == ')') {
            size_t i = len - 1;
            while (i > 0 && name[i - 1] >= '0' && name[i - 1] <= '9')
                i--;
            if (i < len - 1 && i >= 2 && name[i - 1] == '(' && name[i - 2] == ' ')
                return PF_PY_OTHER;
        }
        if (starts_with(name, len, "Thread") || starts_with(name, len, "MainThread") ||
            starts_with(name, len, "thread ") || starts_with(name, len, "process ") ||
            (len > 1 && (name[0] == 'P' || name[0] == 'T') && name[1] >= '0' && name[1] <= '9') ||
            (len == 3 && memcmp(name, "all", 3) == 0))
            return PF_PY_OTHER;
        if (len > 0 && name[0] == '<')
            return PF_PY_BUILTIN;
        return PF_PY_USER;
    }
    if (contains(path, plen, "site-packages") || contains(path, plen, "dist-packages") ||
        contains(path, plen, ".egg/"))
        return PF_PY_THIRD_PARTY;
    if (starts_with(path, plen, "<frozen") || contains(path, plen, "/lib/python") ||
        contains(path, plen, "/lib64/python") || contains(path, plen, "\\Lib\\") ||
        contains(path, plen, "/lib/pypy"))
        return PF_PY_STDLIB;
    if (plen > 0 && path[0] == '<')
        return PF_PY_BUILTIN;    /* <string>, <stdin>: compiled on the fly */
    return PF_PY_USER;
}

static uint32_t python_color(double v, enum pf_py_kind kind)
{
    switch (kind) {
    case PF_PY_STDLIB:      return rgb(lerp(95, 50, v), lerp(150, 50, v), lerp(215, 40, v));
    case PF_PY_THIRD_PARTY: return rgb(lerp(70, 60, v), lerp(185, 55, v), lerp(90, 50, v));
    case PF_PY_BUILTIN:     return rgb(lerp(175, 50, v), lerp(140, 45, v), lerp(205, 40, v));
    case PF_PY_OTHER:       { unsigned x = lerp(175, 40, v); return rgb(x, x, x); }
    default:                return rgb(lerp(225, 30, v), lerp(110, 100, v), lerp(20, 50, v));
    }
}

uint32_t pf_palette_color(int pal, int hash, const char *name, size_t len, const char *file)
{
    const char *s = name;
    size_t n = len;
    double v1, v2, v3;
    if (hash) {
        strip_module(&s, &n);
        v1 = weighted(s, n, 0);
        v2 = v3 = weighted(s, n, 1);
    } else {
        uint64_t h = mix64(fnv64(name, len));
        v1 = (double)(h & 0x1fffff) / (double)0x200000;
        v2 = (double)((h >> 21) & 0x1fffff) / (double)0x200000;
        v3 = (double)((h >> 42) & 0x1fffff) / (double)0x200000;
    }
    switch (pal) {
    case PF_PAL_HOT:
        return rgb(lerp(205, 50, v3), lerp(0, 230, v1), lerp(0, 55, v2));
    case PF_PAL_MEM:
        return rgb(0, lerp(190, 50, v2), lerp(0, 210, v1));
    case PF_PAL_IO: {
        unsigned x = lerp(80, 60, v1);
        return rgb(x, x, lerp(190, 55, v2));
    }
    case PF_PAL_PYTHON:
        return python_color(v1, pf_palette_python_kind(name, len, file));
    case PF_PAL_JAVA:
        if (ends_with(name, len, "_[j]"))
            return flat(PF_PAL_GREEN, v1);
        if (ends_with(name, len, "_[i]"))
            return flat(PF_PAL_AQUA, v1);
        if (ends_with(name, len, "_[k]"))
            return flat(PF_PAL_ORANGE, v1);
        {
            const char *q = name;
            size_t qn = len;
            if (qn > 0 && q[0] == 'L') { q++; qn--; }
            static const char *const pkgs[] = { "java/", "javax/", "jdk/", "net/", "org/",
                                                "com/", "io/", "sun/", "kotlin/", "scala/" };
            for (size_t i = 0; i < sizeof pkgs / sizeof pkgs[0]; i++)
                if (starts_with(q, qn, pkgs[i]))
                    return flat(PF_PAL_GREEN, v1);
        }
        if (contains(name, len, ":::"))
            return flat(PF_PAL_GREEN, v1);
        if (contains(name, len, "::"))
            return flat(PF_PAL_YELLOW, v1);
        return flat(PF_PAL_RED, v1);
    case PF_PAL_JS:
        if (ends_with(name, len, "_[j]"))
            return flat(memchr(name, '/', len) ? PF_PAL_GREEN : PF_PAL_AQUA, v1);
        if (contains(name, len, "::"))
            return flat(PF_PAL_YELLOW, v1);
        if (memchr(name, '/', len) && contains(name, len, ".js"))
            return flat(PF_PAL_GREEN, v1);
        if (contains(name, len, "_[k]"))
            return flat(PF_PAL_ORANGE, v1);
        if (memchr(name, ':', len))
            return flat(PF_PAL_AQUA, v1);
        if (len == 1 && name[0] == ' ')
            return flat(PF_PAL_GREEN, v1);
        return flat(PF_PAL_RED, v1);
    case PF_PAL_PERL:
        if (ends_with(name, len, "_[k]"))
            return flat(PF_PAL_ORANGE, v1);
        if (contains(name, len, "Perl") || contains(name, len, ".pl") || contains(name, len, ".pm"))
            return flat(PF_PAL_GREEN, v1);
        if (contains(name, len, "::"))
            return flat(PF_PAL_YELLOW, v1);
        return flat(PF_PAL_RED, v1);
    case PF_PAL_WAKEUP:
        return flat(PF_PAL_AQUA, v1);
    case PF_PAL_CHAIN:
        /* waker frames are annotated "_[w]" by the chain tools */
        return flat(contains(name, len, "_[w]") ? PF_PAL_AQUA : PF_PAL_BLUE, v1);
    default:
        return flat(pal, v1);
    }
}

uint32_t pf_palette_diff_color(double delta, double maxdelta, int negate)
{
    if (negate)
        delta = -delta;
    if (!(maxdelta > 0) || delta == 0 || delta != delta)
        return rgb(255, 255, 255);
    double f = (maxdelta - (delta > 0 ? delta : -delta)) / maxdelta;
    if (!(f >= 0))          /* also NaN, e.g. from infinite inputs */
        f = 0;
    if (f > 1)
        f = 1;
    unsigned x = (unsigned)(210 * f);
    return delta > 0 ? rgb(255, x, x) : rgb(x, x, 255);
}

const char *const *pf_palette_python_legend(void)
{
    /* each kind's colour at the middle of its range */
    static char colors[4][8];
    static const char *legend[9];
    static const enum pf_py_kind kinds[4] = { PF_PY_USER, PF_PY_STDLIB, PF_PY_THIRD_PARTY,
                                              PF_PY_BUILTIN };
    static const char *const labels[4] = { "your code", "standard library", "third-party",
                                           "builtins (C)" };
    for (int i = 0; i < 4; i++) {
        snprintf(colors[i], sizeof colors[i], "#%06x", python_color(0.5, kinds[i]) & 0xffffffu);
        legend[2 * i] = colors[i];
        legend[2 * i + 1] = labels[i];
    }
    legend[8] = NULL;
    return legend;
}
