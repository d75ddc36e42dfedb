/* protobuf.h: a minimal protocol-buffers *encoder*, enough to write pprof's
 * profile.proto (convert/pprof.c): varint, length-delimited and packed fields into a
 * growing memory buffer.  No decoder, no descriptors, no reflection: each writer
 * spells out its message's field numbers next to its code.
 *
 * Why not protobuf-c (Debian's libprotobuf-c): it needs protoc-c at build time to
 * turn the .proto into C, a runtime library on every machine that runs pyflame-c, and
 * a message struct tree built in memory before packing (for a 1M-node profile, a
 * second copy of it).  Writing is ~100 lines: a varint is 7 bits per byte, least
 * significant group first, high bit = more bytes follow; a field is a key varint
 * (field_number << 3 | wire_type) and its payload.  We only ever write, never parse,
 * so the hard half of protobuf (unknown fields, schema evolution) never arises.
 *
 *   wire type 0 VARINT:           key, varint                 (int64, uint64, bool, enum)
 *   wire type 2 LENGTH-DELIMITED: key, varint length, bytes   (string, bytes, messages,
 *                                                              packed repeated varints)
 *   int64 values are written as their two's complement uint64 (10 bytes when negative),
 *   as protobuf specifies for int64 (not sint64's zigzag).
 *
 * Errors are sticky: after a failed allocation every call is a no-op and
 * pf_pb_failed() is true; check once at the end.  The buffer owns its bytes.
 */
#ifndef PF_PROTOBUF_H
#define PF_PROTOBUF_H

#include <stddef.h>
#include <stdint.h>

typedef struct pf_pb {
    unsigned char *data;
    size_t len, cap;
    int failed;               /* an allocation failed: the content is incomplete */
} pf_pb;

#define PF_PB_INIT { NULL, 0, 0, 0 }

/* Frees the bytes and resets b to empty (NULL-safe). */
void pf_pb_free(pf_pb *b);
/* Empties b, keeping its memory (for a scratch buffer reused per message). */
void pf_pb_reset(pf_pb *b);
int pf_pb_failed(const pf_pb *b);

/* A bare varint (no key). */
void pf_pb_varint(pf_pb *b, uint64_t v);
/* Field `field` as a VARINT: uint64/bool/enum as is, int64 as two's complement. */
void pf_pb_uint(pf_pb *b, uint32_t field, uint64_t v);
void pf_pb_int(pf_pb *b, uint32_t field, int64_t v);
/* Field `field` as LENGTH-DELIMITED bytes: a string, or an encoded sub-message. */
void pf_pb_bytes(pf_pb *b, uint32_t field, const void *data, size_t len);
/* The whole of sub as a sub-message field (an empty sub still writes the field). */
void pf_pb_message(pf_pb *b, uint32_t field, const pf_pb *sub);
/* A packed repeated varint field: v[0..n) in one LENGTH-DELIMITED payload (nothing
 * when n == 0, as proto3 writes empty repeated fields). */
void pf_pb_packed(pf_pb *b, uint32_t field, const uint64_t *v, size_t n);

#endif
