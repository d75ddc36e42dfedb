/* units.h: the one way pyflame-c prints numbers and units, so the text table, the
 * SVG flame graph and the HTML report print the same value the same way.
 *
 * Human-readable values have three significant digits (enough to compare, short
 * enough for a column or a tooltip) and round once, at the unit they are shown in:
 * 1023.7 KiB is "1.00 MiB", never "1024 KiB"; 9.996 ms is "10.0 ms", never "10.00 ms".
 * Machine-readable values (collapsed counts, the SVG's data attributes) are exact.
 * Every function is a pure function of its input (no locale, no clock), writes at
 * most cap bytes, NUL-terminated, and returns buf.  PF_UNITS_BUFSZ bytes always
 * suffice for the human-readable ones.
 */
#ifndef PF_UNITS_H
#define PF_UNITS_H

#include <stddef.h>
#include <stdint.h>

#define PF_UNITS_BUFSZ 64

/* Durations: "0 ns", "812 ns", "4.56 µs", "12.3 ms", "1.23 s", "2 min 5 s",
 * "1 h 2 min". */
char *pf_units_ns(char *buf, size_t cap, uint64_t ns);

/* Byte sizes in binary units: "0 B", "512 B", "1.50 KiB", "12.3 MiB", "1.02 GiB", up
 * to EiB.  compact gives the 8-wide column form "512B", "1.50K", "12.3M". */
char *pf_units_bytes(char *buf, size_t cap, uint64_t bytes, int compact);

/* A double converted for the two above: rounded, NaN and negatives 0, huge values
 * UINT64_MAX. */
uint64_t pf_units_u64(double v);

/* "1,234,567" (thousands separators). */
char *pf_units_count(char *buf, size_t cap, uint64_t n);

/* A count that may have a fraction (collapsed input): integers as pf_units_count
 * (with a '-' if negative), others with 6 significant digits ("12.3457"). */
char *pf_units_number(char *buf, size_t cap, double v);

/* part as a percentage of whole: "100%", "12.3%", "0.42%", "<0.01%", "0%"; "" if whole
 * is 0. */
char *pf_units_pct(char *buf, size_t cap, uint64_t part, uint64_t whole);

/* UTC wall-clock time "2026-11-25 17:02:49 UTC" from ns since the epoch ("" if 0). */
char *pf_units_utc(char *buf, size_t cap, int64_t unix_ns);

/* Room pf_units_exact may need, NUL included. */
#define PF_UNITS_EXACT_BUFSZ 400

/* v exactly, for machines: integers without a decimal point or exponent, other values
 * as the shortest decimal of 15 to 17 significant digits that reads back as v, spelled
 * out without an exponent (flamegraph.pl accepts only [0-9]+(\.[0-9]*)?).  NaN prints
 * as 0, infinities as +-DBL_MAX.  buf must hold PF_UNITS_EXACT_BUFSZ bytes; returns
 * the length written. */
size_t pf_units_exact(double v, char *buf);

#endif
