/* protobuf.c: the protocol-buffers encoder (see protobuf.h for the wire format). */
#include "formats/protobuf.h"

#include <string.h>

#include "formats/alloc.h"

enum { WIRE_VARINT = 0, WIRE_LEN = 2 };

void pf_pb_free(pf_pb *b)
{
    if (b == NULL)
        return;
    pf_free(b->data);
    memset(b, 0, sizeof *b);
}

void pf_pb_reset(pf_pb *b)
{
    b->len = 0;
}

int pf_pb_failed(const pf_pb *b)
{
    return b->failed;
}

/* Room for n more bytes; 0, or -1 (latched) when out of memory. */
static int reserve(pf_pb *b, size_t n)
{
    if (b->failed)
        return -1;
    if (b->cap - b->len >= n)
        return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap - b->len < n) {
        if (cap > SIZE_MAX / 2) {
            b->failed = 1;
            return -1;
        }
        cap *= 2;
    }
    unsigned char *d = pf_realloc(b->data, cap);
    if (d == NULL) {
        b->failed = 1;
        return -1;
    }
    b->data = d;
    b->cap = cap;
    return 0;
}

/* The bytes a varint of v takes (1..10). */
static size_t varint_size(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

void pf_pb_varint(pf_pb *b, uint64_t v)
{
    if (reserve(b, 10) < 0)
        return;
    /* 7 bits a byte, least significant first; the high bit says "more follow" */
    while (v >= 0x80) {
        b->data[b->len++] = (unsigned char)(v | 0x80);
        v >>= 7;
    }
    b->data[b->len++] = (unsigned char)v;
}

static void key(pf_pb *b, uint32_t field, unsigned wire)
{
    pf_pb_varint(b, (uint64_t)field << 3 | wire);
}

void pf_pb_uint(pf_pb *b, uint32_t field, uint64_t v)
{
    key(b, field, WIRE_VARINT);
    pf_pb_varint(b, v);
}

void pf_pb_int(pf_pb *b, uint32_t field, int64_t v)
{
    key(b, field, WIRE_VARINT);
    pf_pb_varint(b, (uint64_t)v);
}

void pf_pb_bytes(pf_pb *b, uint32_t field, const void *data, size_t len)
{
    key(b, field, WIRE_LEN);
    pf_pb_varint(b, len);
    if (len == 0 || reserve(b, len) < 0)
        return;
    memcpy(b->data + b->len, data, len);
    b->len += len;
}

void pf_pb_message(pf_pb *b, uint32_t field, const pf_pb *sub)
{
    if (sub->failed) {
        b->failed = 1;
        return;
    }
    pf_pb_bytes(b, field, sub->data, sub->len);
}

void pf_pb_packed(pf_pb *b, uint32_t field, const uint64_t *v, size_t n)
{
    if (n == 0)
        return;
    size_t len = 0;
    for (size_t i = 0; i < n; i++)
        len += varint_size(v[i]);
    key(b, field, WIRE_LEN);
    pf_pb_varint(b, len);
    for (size_t i = 0; i < n; i++)
        pf_pb_varint(b, v[i]);
}
