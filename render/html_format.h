/* html_format.h: human-readable numbers for the HTML report: durations, byte sizes,
 * counts and percentages.  Pure functions of their input (no locale, no clock), so the
 * report is byte-identical for the same trace.  Each writes at most cap bytes,
 * NUL-terminated, and returns buf. */
#ifndef PF_HTML_FORMAT_H
#define PF_HTML_FORMAT_H

#include <stddef.h>
#include <stdint.h>

/* "0 ns", "812 ns", "4.56 µs", "12.3 ms", "1.23 s", "2 min 5 s", "1 h 2 min". */
char *pf_html_fmt_ns(char *buf, size_t cap, uint64_t ns);
/* "0 B", "512 B", "1.5 KiB", "12.3 MiB", "1.02 GiB" (binary units). */
char *pf_html_fmt_bytes(char *buf, size_t cap, uint64_t bytes);
/* "1,234,567" (thousands separators). */
char *pf_html_fmt_count(char *buf, size_t cap, uint64_t n);
/* part as a percentage of whole: "100%", "12.3%", "0.42%", "<0.01%", "0%" ("" if whole is 0). */
char *pf_html_fmt_pct(char *buf, size_t cap, uint64_t part, uint64_t whole);
/* UTC wall-clock time "2026-11-25 17:02:49 UTC" from ns since the epoch ("" if 0). */
char *pf_html_fmt_utc(char *buf, size_t cap, int64_t unix_ns);

#endif
