/* units.c: number and unit formatting (contract in units.h). */
#include "units.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Writes v (>= 1) with three significant digits, sep and a unit. */
static char *sig3(char *buf, size_t cap, double v, const char *sep, const char *unit)
{
    if (v >= 99.95)
        snprintf(buf, cap, "%.0f%s%s", v, sep, unit);
    else if (v >= 9.995)
        snprintf(buf, cap, "%.1f%s%s", v, sep, unit);
    else
        snprintf(buf, cap, "%.2f%s%s", v, sep, unit);
    return buf;
}

char *pf_units_ns(char *buf, size_t cap, uint64_t ns)
{
    if (ns < 1000) {
        snprintf(buf, cap, "%u ns", (unsigned)ns);
        return buf;
    }
    double v = (double)ns;
    if (ns < 999500)
        return sig3(buf, cap, v / 1e3, " ", "\xC2\xB5s");
    if (ns < 999500000)
        return sig3(buf, cap, v / 1e6, " ", "ms");
    if (ns < UINT64_C(59950000000))
        return sig3(buf, cap, v / 1e9, " ", "s");
    uint64_t s = ns / 1000000000 + (ns % 1000000000 >= 500000000);   /* no overflow */
    if (s < 3600)
        snprintf(buf, cap, "%u min %u s", (unsigned)(s / 60), (unsigned)(s % 60));
    else
        snprintf(buf, cap, "%llu h %u min", (unsigned long long)(s / 3600),
                 (unsigned)(s % 3600 / 60));
    return buf;
}

char *pf_units_bytes(char *buf, size_t cap, uint64_t bytes, int compact)
{
    static const char *const units[] = { "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
    static const char *const letters[] = { "K", "M", "G", "T", "P", "E" };
    if (bytes < 1024) {
        snprintf(buf, cap, compact ? "%uB" : "%u B", (unsigned)bytes);
        return buf;
    }
    double v = (double)bytes / 1024.0;
    size_t u = 0;
    while (v >= 1023.5 && u + 1 < sizeof units / sizeof units[0]) {
        v /= 1024.0;
        u++;
    }
    return sig3(buf, cap, v, compact ? "" : " ", compact ? letters[u] : units[u]);
}

uint64_t pf_units_u64(double v)
{
    if (!(v > 0))
        return 0;
    if (v >= 18446744073709551615.0)
        return UINT64_MAX;
    return (uint64_t)(v + 0.5);
}

char *pf_units_count(char *buf, size_t cap, uint64_t n)
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

char *pf_units_number(char *buf, size_t cap, double v)
{
    if (v != floor(v) || !(fabs(v) < 1e18)) {
        snprintf(buf, cap, "%.6g", v);
        return buf;
    }
    if (v < 0 && cap > 1) {
        buf[0] = '-';
        pf_units_count(buf + 1, cap - 1, (uint64_t)-v);
        return buf;
    }
    return pf_units_count(buf, cap, (uint64_t)v);
}

char *pf_units_pct(char *buf, size_t cap, uint64_t part, uint64_t whole)
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

char *pf_units_utc(char *buf, size_t cap, int64_t unix_ns)
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

size_t pf_units_exact(double v, char *buf)
{
    /* Counts are never negative, but sums of huge ones can overflow; print the
     * largest finite value rather than something no reader accepts. */
    if (isnan(v))
        v = 0;
    else if (isinf(v))
        v = v > 0 ? DBL_MAX : -DBL_MAX;
    /* Integers print as integers: flamegraph.pl only accepts [0-9]+(\.[0-9]*)?, so
     * never an exponent. */
    if (v == floor(v) && fabs(v) < 1e19) {
        char tmp[24];
        size_t n = 0, k = 0;
        int neg = v < 0;
        uint64_t u = (uint64_t)(neg ? -v : v);
        do {
            tmp[n++] = (char)('0' + u % 10);
            u /= 10;
        } while (u);
        if (neg)
            buf[k++] = '-';
        while (n)
            buf[k++] = tmp[--n];
        buf[k] = '\0';
        return k;
    }
    if (fabs(v) >= 1e19) {
        /* Huge: all digits, no exponent (doubles this big are integers anyway). */
        int n = snprintf(buf, PF_UNITS_EXACT_BUFSZ, "%.0f", v);
        return n < 0 ? 0 : (size_t)n;
    }
    /* Shortest of 15..17 significant digits that reads back exactly, so 0.1 prints
     * as "0.1" and microseconds derived from nanoseconds keep their 3 decimals. */
    int prec;
    for (prec = 15; prec < 17; prec++) {
        char tmp[PF_UNITS_EXACT_BUFSZ];
        snprintf(tmp, sizeof tmp, "%.*g", prec, v);
        if (strtod(tmp, NULL) == v)
            break;
    }
    int n = snprintf(buf, PF_UNITS_EXACT_BUFSZ, "%.*g", prec, v);
    if (n > 0 && memchr(buf, 'e', (size_t)n)) {
        /* Tiny values: spell the decimals out rather than use an exponent. */
        int ex = (int)floor(log10(fabs(v)));
        int dec = prec - 1 - ex;
        if (dec > 340)
            dec = 340;
        n = snprintf(buf, PF_UNITS_EXACT_BUFSZ, "%.*f", dec, v);
        if (n > 0 && memchr(buf, '.', (size_t)n)) {
            while (n > 1 && buf[n - 1] == '0')
                n--;
            if (buf[n - 1] == '.')
                n--;
            buf[n] = '\0';
        }
    }
    return n < 0 ? 0 : (size_t)n;
}

