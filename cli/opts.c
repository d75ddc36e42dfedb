/* opts.c: the shared option parser (see opts.h).  Linear scans of small tables: a
 * command has a few dozen options at most. */
#include "cli/opts.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void pf_opts_init(pf_opts *p, const char *cmd, const pf_opt *table, size_t ntable,
                  int argc, char **argv)
{
    memset(p, 0, sizeof *p);
    p->cmd = cmd;
    p->table = table;
    p->ntable = ntable;
    p->argc = argc;
    p->argv = argv;
    p->next = 1;
}

int pf_opts_usage_error(const pf_opts *p, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "pyflame-c%s%s: ", p->cmd ? " " : "", p->cmd ? p->cmd : "");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nRun 'pyflame-c%s%s --help' for usage.\n", p->cmd ? " " : "",
            p->cmd ? p->cmd : "");
    return PF_EXIT_USAGE;
}

/* Edit distance with adjacent transpositions counted as one edit ("vsg" is one typo
 * of "svg"), as git's suggestions count them; capped: names are short. */
static size_t distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 63 || lb > 63)
        return 64;
    size_t d[64][64];
    for (size_t i = 0; i <= la; i++)
        d[i][0] = i;
    for (size_t j = 0; j <= lb; j++)
        d[0][j] = j;
    for (size_t i = 1; i <= la; i++)
        for (size_t j = 1; j <= lb; j++) {
            size_t best = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
            if (d[i - 1][j] + 1 < best)
                best = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < best)
                best = d[i][j - 1] + 1;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                d[i - 2][j - 2] + 1 < best)
                best = d[i - 2][j - 2] + 1;
            d[i][j] = best;
        }
    return d[la][lb];
}

/* The distance of typed from candidate for suggestions: the edit distance, but at most
 * 1 when typed begins candidate ("--line" for "--lines", "col" for "collect"). */
static size_t nearness(const char *typed, const char *candidate)
{
    size_t d = distance(typed, candidate);
    if (typed[0] && strncmp(candidate, typed, strlen(typed)) == 0 && d > 1)
        d = 1;
    return d;
}

/* The largest distance that still reads as a typo of a name typed this long. */
static size_t typo_limit(const char *typed)
{
    size_t len = strlen(typed);
    return len <= 4 ? 1 : len <= 8 ? 2 : 3;
}

const char *pf_opts_nearest(const char *typed, const char *const *candidates, size_t n)
{
    const char *best = NULL;
    size_t best_d = (size_t)-1;
    for (size_t i = 0; i < n; i++) {
        size_t d = nearness(typed, candidates[i]);
        if (d < best_d) {
            best_d = d;
            best = candidates[i];
        }
    }
    return best != NULL && best_d <= typo_limit(typed) ? best : NULL;
}

int pf_opts_suggest(const char *typed, const char *const *candidates, size_t n,
                    const char *prefix, char *buf, size_t cap)
{
    const char *near = pf_opts_nearest(typed, candidates, n);
    if (near == NULL || cap == 0)
        return 0;
    size_t best = nearness(typed, near), used = 0, k = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < n; i++)
        if (nearness(typed, candidates[i]) == best)
            k++;
    for (size_t i = 0, j = 0; i < n && used < cap; i++) {
        if (nearness(typed, candidates[i]) != best)
            continue;
        j++;
        used += (size_t)snprintf(buf + used, cap - used, "%s'%s%s'",
                                 j == 1 ? "" : j == k ? " or " : ", ", prefix, candidates[i]);
    }
    return (int)k;
}

static int unknown_option(pf_opts *p, const char *typed)
{
    const char *names[128];
    size_t n = 0;
    const char *name = typed;
    while (*name == '-')
        name++;
    char bare[64];
    size_t blen = strcspn(name, "=");
    if (blen >= sizeof bare)
        blen = sizeof bare - 1;
    memcpy(bare, name, blen);
    bare[blen] = '\0';
    for (size_t i = 0; i < p->ntable && n < 128; i++)
        if (p->table[i].name != NULL)
            names[n++] = p->table[i].name;
    /* "-lines" (one dash) is a long name mistyped too; "-x" has no long name to offer */
    char near[512];
    int k = typed[1] == '-' || strlen(bare) > 1
                ? pf_opts_suggest(bare, names, n, "--", near, sizeof near) : 0;
    if (k > 0)
        pf_opts_usage_error(p, "unknown option '%s' (did you mean %s?)", typed, near);
    else
        pf_opts_usage_error(p, "unknown option '%s'", typed);
    return PF_OPTS_ERROR;
}

int pf_opts_next(pf_opts *p)
{
    if (p->next >= p->argc || (p->stop_at_arg && p->only_args > 1))
        return PF_OPTS_END;
    char *a = p->argv[p->next];
    if (p->only_args || a[0] != '-' || a[1] == '\0') {
        p->next++;
        p->value = a;
        p->spelled = NULL;
        if (p->stop_at_arg)
            p->only_args = 2;
        return PF_OPTS_ARG;
    }
    if (strcmp(a, "--") == 0) {
        p->next++;
        p->only_args = 1;     /* collect: the next argument is then the program */
        return pf_opts_next(p);
    }
    p->next++;
    const pf_opt *o = NULL;
    const char *inline_value = NULL;
    if (a[1] == '-') {
        const char *name = a + 2;
        size_t len = strcspn(name, "=");
        for (size_t i = 0; i < p->ntable && o == NULL; i++)
            if (p->table[i].name != NULL && strlen(p->table[i].name) == len
                && strncmp(p->table[i].name, name, len) == 0)
                o = &p->table[i];
        if (o == NULL)
            return unknown_option(p, a);
        if (name[len] == '=') {
            if (o->kind == PF_OPT_FLAG) {
                pf_opts_usage_error(p, "option '--%s' takes no value", o->name);
                return PF_OPTS_ERROR;
            }
            inline_value = name + len + 1;
        }
    } else {
        for (size_t i = 0; i < p->ntable && o == NULL; i++)
            if (p->table[i].name != NULL && p->table[i].short_name == a[1])
                o = &p->table[i];
        if (o == NULL || (o->kind == PF_OPT_FLAG && a[2] != '\0'))
            return unknown_option(p, a);
        if (a[2] != '\0')
            inline_value = a + 2;
    }
    if (a[1] == '-')
        snprintf(p->spelled_buf, sizeof p->spelled_buf, "--%s", o->name);
    else
        snprintf(p->spelled_buf, sizeof p->spelled_buf, "-%c", o->short_name);
    p->spelled = p->spelled_buf;
    if (o->kind == PF_OPT_OPTIONAL) {
        p->value = inline_value;     /* NULL when given bare */
    } else if (o->kind == PF_OPT_VALUE) {
        if (inline_value == NULL) {
            if (p->next >= p->argc) {
                pf_opts_usage_error(p, "option '%s' needs a value", a);
                return PF_OPTS_ERROR;
            }
            inline_value = p->argv[p->next++];
        }
        p->value = inline_value;
    } else {
        p->value = NULL;
    }
    return o->id;
}

int pf_opts_uint(const pf_opts *p, const char *what, unsigned long max, unsigned long *out)
{
    const char *s = p->value;
    char *end;
    errno = 0;
    unsigned long v = s[0] >= '0' && s[0] <= '9' ? strtoul(s, &end, 10) : 0;
    if (s[0] < '0' || s[0] > '9' || *end != '\0' || errno != 0 || v > max) {
        pf_opts_usage_error(p, "%s wants %s, not '%s'", p->spelled, what, s);
        return -1;
    }
    *out = v;
    return 0;
}

int pf_opts_double(const pf_opts *p, const char *what, double lo_excl, double hi, double *out)
{
    const char *s = p->value;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end != '\0' || errno || !isfinite(v) || v <= lo_excl || v > hi) {
        pf_opts_usage_error(p, "%s wants %s, not '%s'", p->spelled, what, s);
        return -1;
    }
    *out = v;
    return 0;
}

int pf_opts_percent(const pf_opts *p, double *out)
{
    const char *s = p->value;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end > s && *end == '%')
        end++;
    if (end == s || *end != '\0' || errno || !(v >= 0 && v <= 100)) {
        pf_opts_usage_error(p, "%s wants a percentage from 0 to 100, not '%s'", p->spelled, s);
        return -1;
    }
    *out = v;
    return 0;
}

int pf_opts_choice(const pf_opts *p, const char *what, const char *const *names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(p->value, names[i]) == 0)
            return (int)i;
    char list[512];
    size_t used = 0;
    list[0] = '\0';
    for (size_t i = 0; i < n && used < sizeof list; i++)
        used += (size_t)snprintf(list + used, sizeof list - used, "%s%s", i ? ", " : "", names[i]);
    char near[512];
    if (pf_opts_suggest(p->value, names, n, "", near, sizeof near) > 0)
        pf_opts_usage_error(p, "unknown %s '%s' (did you mean %s? one of %s)", what,
                            p->value, near, list);
    else
        pf_opts_usage_error(p, "unknown %s '%s' (one of %s)", what, p->value, list);
    return -1;
}
