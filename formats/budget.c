/* budget.c: formatting and parsing of budget sizes (the accounting itself is inline
 * in budget.h). */
#include "budget.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

char *pf_budget_format(uint64_t bytes, char *buf, size_t n)
{
    static const char *const units[] = { "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
    int u = -1;
    uint64_t v = bytes;
    while (v >= 1024 && u < 5) {
        v /= 1024;
        u++;
    }
    if (u < 0) {
        snprintf(buf, n, "%" PRIu64 " bytes", bytes);
    } else {
        uint64_t unit = (uint64_t)1 << (10 * (u + 1));
        if (bytes % unit == 0)
            snprintf(buf, n, "%" PRIu64 " %s", bytes / unit, units[u]);
        else
            snprintf(buf, n, "%.1f %s", (double)bytes / (double)unit, units[u]);
    }
    return buf;
}

int pf_budget_parse(const char *s, uint64_t *bytes)
{
    if (s == NULL || !isdigit((unsigned char)*s))
        return -1;
    uint64_t v = 0;
    while (isdigit((unsigned char)*s)) {
        unsigned d = (unsigned)(*s++ - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    int shift = 0;
    switch (toupper((unsigned char)*s)) {
    case 'K': shift = 10; s++; break;
    case 'M': shift = 20; s++; break;
    case 'G': shift = 30; s++; break;
    case 'T': shift = 40; s++; break;
    default: break;
    }
    if (shift && (*s == 'i' || *s == 'I'))
        s++;
    if (*s == 'B' || (*s == 'b' && shift))
        s++;
    if (*s != '\0')
        return -1;
    if (shift && v > (UINT64_MAX >> shift))
        return -1;
    *bytes = v << shift;
    return 0;
}
