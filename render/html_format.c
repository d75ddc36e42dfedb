/* html_format.c: unit formatting for the HTML report (see html_format.h).  Three
 * significant digits everywhere: enough to compare lines, short enough for a column. */
#include "html_format.h"

#include <stdio.h>
#include <time.h>

/* Writes v (>= 1) with three significant digits and a unit. */
static char *sig3(char *buf, size_t cap, double v, const char *unit)
{
    if (v >= 99.95)
        snprintf(buf, cap, "%.0f %s", v, unit);
    else if (v >= 9.995)
        snprintf(buf, cap, "%.1f %s", v, unit);
    else
        snprintf(buf, cap, "%.2f %s", v, unit);
    return buf;
}

char *pf_html_fmt_ns(char *buf, size_t cap, uint64_t ns)
{
    if (ns < 1000) {
        snprintf(buf, cap, "%u ns", (unsigned)ns);
        return buf;
    }
    double v = (double)ns;
    if (ns < 999500)
        return sig3(buf, cap, v / 1e3, "\xC2\xB5s");
    if (ns < 999500000)
        return sig3(buf, cap, v / 1e6, "ms");
    if (ns < UINT64_C(59950000000))
        return sig3(buf, cap, v / 1e9, "s");
    uint64_t s = (ns + 500000000) / 1000000000;
    if (s < 3600)
        snprintf(buf, cap, "%u min %u s", (unsigned)(s / 60), (unsigned)(s % 60));
    else
        snprintf(buf, cap, "%llu h %u min", (unsigned long long)(s / 3600),
                 (unsigned)(s % 3600 / 60));
    return buf;
}

char *pf_html_fmt_bytes(char *buf, size_t cap, uint64_t bytes)
{
    static const char *const units[] = { "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
    if (bytes < 1024) {
        snprintf(buf, cap, "%u B", (unsigned)bytes);
        return buf;
    }
    double v = (double)bytes / 1024.0;
    size_t u = 0;
    while (v >= 1023.5 && u + 1 < sizeof units / sizeof units[0]) {
        v /= 1024.0;
        u++;
    }
    return sig3(buf, cap, v, units[u]);
}

char *pf_html_fmt_count(char *buf, size_t cap, uint64_t n)
{
    char digits[32];
    int len = snprintf(digits, sizeof digits, "%llu", (unsigned long long)n);
    size_t o = 0;
    for (int i = 0; i < len && o + 1 < cap; i++) {
        if (i > 0 && (len - i) % 3 == 0 && o + 2 < cap)
            buf[o++] = ',';
        buf[o++] = digits[i];
    }
    if (cap > 0)
        buf[o < cap ? o : cap - 1] = '\0';
    return buf;
}

char *pf_html_fmt_pct(char *buf, size_t cap, uint64_t part, uint64_t whole)
{
    if (whole == 0) {
        if (cap > 0)
            buf[0] = '\0';
        return buf;
    }
    double p = (double)part * 100.0 / (double)whole;
    if (part == 0)
        snprintf(buf, cap, "0%%");
    else if (p < 0.01)
        snprintf(buf, cap, "<0.01%%");
    else if (p < 9.995)
        snprintf(buf, cap, "%.2f%%", p);
    else if (p < 99.95)
        snprintf(buf, cap, "%.1f%%", p);
    else
        snprintf(buf, cap, "%.0f%%", p);
    return buf;
}

char *pf_html_fmt_utc(char *buf, size_t cap, int64_t unix_ns)
{
    if (cap > 0)
        buf[0] = '\0';
    if (unix_ns == 0)
        return buf;
    /* Floor division so times before the epoch still land on the right second. */
    int64_t sec = unix_ns / 1000000000;
    if (unix_ns % 1000000000 < 0)
        sec--;
    time_t tt = (time_t)sec;
    struct tm tm;
    if (gmtime_r(&tt, &tm) == NULL)
        return buf;
    snprintf(buf, cap, "%04d-%02d-%02d %02d:%02d:%02d UTC", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
    return buf;
}
