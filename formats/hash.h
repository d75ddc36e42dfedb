/* hash.h: the one set of hash functions every map in pyflame-c uses (formats, convert,
 * render and the collector), so a key hashes the same way everywhere and a weakness
 * is fixed once.
 *   pf_hash_bytes   byte strings: a word-at-a-time multiplicative hash (frame names
 *                   average tens of bytes, so byte-at-a-time would dominate parsing);
 *   pf_hash_u64     one 64-bit integer: splitmix64's finaliser, so dense or structured
 *                   keys (small indices, pointers, pairs) spread over every bit;
 *   pf_hash_pair    two 64-bit integers (e.g. parent node and name id).
 * None is keyed against collision attacks: maps that take untrusted keys bound their
 * probe work by load factor, not by secrecy (see hashmap.h).
 */
#ifndef PF_HASH_H
#define PF_HASH_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define PF_HASH_K UINT64_C(0x9E3779B97F4A7C15)
#define PF_HASH_SEED UINT64_C(0xC2B2AE3D27D4EB4F)

static inline uint64_t pf_hash_u64(uint64_t x)
{
    x ^= x >> 30;
    x *= UINT64_C(0xbf58476d1ce4e5b9);
    x ^= x >> 27;
    x *= UINT64_C(0x94d049bb133111eb);
    x ^= x >> 31;
    return x;
}

static inline uint64_t pf_hash_pair(uint64_t a, uint64_t b)
{
    return pf_hash_u64(a * PF_HASH_K ^ pf_hash_u64(b));
}

/* The pieces of pf_hash_bytes, for a scanner that hashes while it looks for a
 * delimiter (formats/stacktree.c): start with PF_HASH_SEED, feed little-endian words with
 * pf_hash_word (the last one zero-padded), and end with pf_hash_final(h, length). */
static inline uint64_t pf_hash_word(uint64_t h, uint64_t w)
{
    h = (h ^ w) * PF_HASH_K;
    return (h << 29) | (h >> 35);
}

static inline uint64_t pf_hash_final(uint64_t h, size_t n)
{
    h ^= (uint64_t)n * UINT64_C(0xFF51AFD7ED558CCD);
    h ^= h >> 32;
    h *= UINT64_C(0xD6E8FEB86659FD93);
    h ^= h >> 32;
    return h;
}

static inline uint64_t pf_hash_load_le64(const char *p)
{
    uint64_t w;
    memcpy(&w, p, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    w = __builtin_bswap64(w);
#endif
    return w;
}

/* Never reads past p + n. */
static inline uint64_t pf_hash_bytes(const char *p, size_t n)
{
    uint64_t h = PF_HASH_SEED;
    size_t len = n;
    while (n >= 8) {
        h = pf_hash_word(h, pf_hash_load_le64(p));
        p += 8;
        n -= 8;
    }
    if (n) {
        uint64_t w = 0;
        for (size_t i = 0; i < n; i++)
            w |= (uint64_t)(unsigned char)p[i] << (8 * i);
        h = pf_hash_word(h, w);
    }
    return pf_hash_final(h, len);
}

#endif
