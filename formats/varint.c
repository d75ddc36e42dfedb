/* varint.c: LEB128 encode/decode (see varint.h for the bit layout).  Decoding is the
 * only place the trace reader turns untrusted bytes into integers, so it checks the
 * length limit and 64-bit overflow itself rather than trusting callers. */
#include "varint.h"

size_t pf_varint_put(unsigned char *buf, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        buf[n++] = (unsigned char)(v | 0x80);
        v >>= 7;
    }
    buf[n++] = (unsigned char)v;
    return n;
}

size_t pf_varint_len(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

int pf_varint_get(const unsigned char *p, size_t avail, uint64_t *v)
{
    uint64_t r = 0;
    size_t max = avail < PF_VARINT_MAX ? avail : PF_VARINT_MAX;
    for (size_t i = 0; i < max; i++) {
        uint64_t b = p[i];
        if (i == PF_VARINT_MAX - 1 && b > 1)
            return -1;          /* bits beyond 63, or an 11th byte announced */
        r |= (b & 0x7f) << (7 * i);
        if (b < 0x80) {
            *v = r;
            return (int)(i + 1);
        }
    }
    return avail < PF_VARINT_MAX ? 0 : -1;
}
