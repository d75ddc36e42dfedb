/* trace_format.h: constants of the trace file format shared by trace_write.c and
 * trace_read.c (and the tests).  Internal to formats/: the layout is specified
 * byte by byte in formats/FORMAT.md, which is the reference; this header mirrors it.
 */
#ifndef PF_TRACE_FORMAT_H
#define PF_TRACE_FORMAT_H

#include <stdint.h>
#include <zlib.h>

/* "\x89PFC\r\n\x1a\n": the high-bit byte catches 7-bit channels, CR LF and LF catch
 * newline translation in either direction, ^Z stops DOS `type`. */
#define PF_TRACE_MAGIC "\x89PFC\r\n\x1a\n"
#define PF_TRACE_MAGIC_LEN 8

/* Record tags.  When adding a tag:
 *   1. give it the next number here (never reuse or renumber one: old files and
 *      old readers depend on them; readers skip tags they do not know, by length);
 *   2. write it in trace_write.c and read it in trace_read.c, field by field in
 *      the same order (and if it has entries, append its count to END as a new
 *      last field: an END from an older writer lacks it, which the reader accepts
 *      when no record of the tag was read, as it does for PROCESSES);
 *   3. move PF_TAG_LAST to it (the reader skips tags above PF_TAG_LAST), and give
 *      it a name in trace_read.c's tag_name();
 *   4. document it in formats/FORMAT.md (record table + payload table, writer's
 *      order, the reader's checks, compatibility);
 *   5. extend the round-trip test in tests/test_trace.c and the fuzz seeds.
 * To add a field to an existing record, append it at the end of the payload (old
 * readers ignore trailing bytes); entries inside a block cannot grow, so a new
 * per-entry field needs a new side block (as NODE_MEM is for NODES). */
enum pf_trace_tag {
    PF_TAG_END       = 1,   /* entry counts; must be the last record */
    PF_TAG_META      = 2,   /* run metadata (pf_meta), exactly once */
    PF_TAG_STRINGS   = 3,   /* block of strings; ids are positional */
    PF_TAG_CODES     = 4,   /* block of code objects */
    PF_TAG_THREADS   = 5,   /* block of threads */
    PF_TAG_NODES     = 6,   /* block of calling-context nodes, pre-order */
    PF_TAG_NODE_MEM  = 7,   /* block of (node, allocator counters), sparse */
    PF_TAG_LINES     = 8,   /* block of per-line records */
    PF_TAG_LINE_MEM  = 9,   /* block of (line, allocator counters), sparse */
    PF_TAG_SOURCE    = 10,  /* one source file's text */
    PF_TAG_SAMPLES   = 11,  /* block of samples */
    PF_TAG_PROCESSES = 12,  /* block of processes (thread ranges); after THREADS */
    PF_TAG_RSS       = 13,  /* one process's RSS samples, peak, final; after PROCESSES */
    PF_TAG_LINKS     = 14   /* block of (node, creator, kind) links; after NODES */
};
#define PF_TAG_LAST PF_TAG_LINKS /* the highest tag this reader knows */

/* Writers cut blocks at this many entries or about this many payload bytes,
 * whichever comes first, so neither side holds more than one block in a buffer. */
#define PF_TRACE_BLOCK_ENTRIES 4096u
#define PF_TRACE_BLOCK_BYTES   (256u * 1024u)

/* zlib's allocator hooks for the reader and writer (trace.c): zlib allocates through
 * pf_malloc too, so fault injection reaches it. */
voidpf pf_trace_zalloc_(voidpf opaque, uInt items, uInt size);
void pf_trace_zfree_(voidpf opaque, voidpf p);

#endif
