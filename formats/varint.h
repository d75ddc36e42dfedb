/* varint.h: LEB128 unsigned varints and zigzag signed mapping, the one integer
 * encoding of the trace format (FORMAT.md, "Varints").
 *
 *     0xxxxxxx                     -> 7 bits, last byte
 *     1xxxxxxx 0xxxxxxx            -> 14 bits, low group first
 *     ... at most 10 bytes; the 10th byte may only hold bit 63 (value 0 or 1).
 */
#ifndef PF_VARINT_H
#define PF_VARINT_H

#include <stddef.h>
#include <stdint.h>

#define PF_VARINT_MAX 10   /* bytes needed for any uint64_t */

/* Writes v to buf (which must have PF_VARINT_MAX bytes of room) and returns the
 * number of bytes written, 1..10. */
size_t pf_varint_put(unsigned char *buf, uint64_t v);

/* Number of bytes pf_varint_put would write for v. */
size_t pf_varint_len(uint64_t v);

/* Decodes one varint from p[0..avail).  Returns the bytes used (1..10) and stores
 * the value in *v; returns 0 when p[0..avail) ends before the varint does (need more
 * input; *v untouched); returns -1 when the encoding is malformed: longer than 10
 * bytes, or a 10th byte that would overflow 64 bits.  Non-minimal encodings
 * (e.g. 0x80 0x00 for 0) are accepted. */
int pf_varint_get(const unsigned char *p, size_t avail, uint64_t *v);

/* Zigzag: maps signed to unsigned so small magnitudes stay small
 * (0 -> 0, -1 -> 1, 1 -> 2, -2 -> 3, ...).  Shifts only; no implementation-defined
 * right shift of negative numbers. */
static inline uint64_t pf_zigzag_enc(int64_t s)
{
    uint64_t u = (uint64_t)s;
    return (u << 1) ^ (0 - (u >> 63));
}

static inline int64_t pf_zigzag_dec(uint64_t u)
{
    uint64_t s = (u >> 1) ^ (0 - (u & 1));
    /* Convert back through memcpy-free two's-complement arithmetic. */
    return s <= (uint64_t)INT64_MAX ? (int64_t)s : -(int64_t)(~s) - 1;
}

#endif
