/* input.h: the one input reader of pyflame-c.  Every command that reads a trace or a
 * collapsed-stack file reads it through a pf_input: a file, stdin ("-") or a memory
 * buffer; gzip (any number of members, as `cat a.gz b.gz` makes) or plain, told
 * apart by content (the gzip magic 1f 8b), never by file name.
 *
 * It hands out the decoded bytes as a stream of windows (pf_input_next) held in a
 * fixed-size buffer, so memory does not grow with the input; it knows the decoded
 * offset of every byte it hands out (error messages name it); and it tells a
 * pyflame-c trace from collapsed text by content (pf_input_sniff, which peeks
 * without consuming).  Truncation is an error, never a quiet end: a gzip member cut
 * short, and bytes after the last gzip member that do not start another, fail with
 * the decoded offset.  (A NUL byte, or any other content, is the parser's business.)
 *
 * Budget: each input carries a decoding budget (budget.h; default PF_BUDGET_DEFAULT,
 * 4 GiB).  The input itself refuses to decode more bytes than its byte limit (by
 * default the budget); the parser that builds a model from the bytes (the trace
 * reader, a collapsed-stack tree) takes pf_input_budget() as the cap on the
 * model's memory.  Both messages name PF_BUDGET_OPTION (--max-memory).
 *
 * Ownership: pf_input_free closes a file the input opened (never stdin) and frees
 * the buffers; a memory input borrows the caller's buffer, which must outlive it.
 * Windows are borrowed and valid until the next call on the input.
 *
 * Typical use (a streaming parser):
 *
 *     pf_input *in = pf_input_open(path, &err);
 *     if (in == NULL) ...;
 *     switch (pf_input_sniff(in, &err)) { case PF_INPUT_TRACE: ... pf_trace_read_input ... }
 *     const unsigned char *p; size_t n; int r;
 *     while ((r = pf_input_next(in, &p, &n, &err)) > 0)
 *         parse(p, n);            // bytes at decoded offsets pf_input_offset(in) - n ...
 *     if (r < 0) ...;             // err names what and where
 *     pf_input_free(in);
 */
#ifndef PF_INPUT_H
#define PF_INPUT_H

#include <stddef.h>
#include <stdint.h>

#include "budget.h"
#include "error.h"

typedef struct pf_input pf_input;

/* Bytes of decoded data per window (and of compressed data per read). */
#define PF_INPUT_WINDOW (256u * 1024u)

/* Opens path for reading ("-" = standard input, which is read but never closed).
 * Nothing is read yet.  Returns a new input, or NULL with err set (PF_EIO naming
 * strerror, PF_ENOMEM, PF_EUSAGE for a NULL path). */
pf_input *pf_input_open(const char *path, pf_error *err);

/* An input over data[0..len), gzip or plain.  The buffer is borrowed (a plain
 * buffer is handed out in place, without copying).  NULL with err set when out of
 * memory, or for data == NULL with len != 0. */
pf_input *pf_input_open_mem(const void *data, size_t len, pf_error *err);

/* Closes what pf_input_open opened and frees the input.  NULL-safe. */
void pf_input_free(pf_input *in);

/* Sets the decoding budget: the input's byte limit (unless pf_input_set_max_bytes
 * set one) and the model budget pf_input_budget reports.  0 = PF_BUDGET_DEFAULT. */
void pf_input_set_budget(pf_input *in, uint64_t bytes);
/* The decoding budget in bytes (never 0). */
uint64_t pf_input_budget(const pf_input *in);
/* Caps the decoded bytes separately from the model budget (0 = no cap; e.g. for a
 * streaming parser whose memory does not grow with its input).  Decoding past the
 * cap fails with PF_ELIMIT at the offset where it was crossed. */
void pf_input_set_max_bytes(pf_input *in, uint64_t bytes);

/* Hands out the next window of decoded bytes: *p, *n (n > 0).  Returns 1, 0 at the
 * clean end of the input (*n = 0), or -1 with err set: PF_EIO (read error),
 * PF_ETRUNC ("truncated gzip stream at offset N"), PF_ECORRUPT (bad gzip data or
 * CRC; data after the last gzip member), PF_ELIMIT (over the byte limit), PF_ENOMEM.
 * After 0 or -1, further calls return the same. */
int pf_input_next(pf_input *in, const unsigned char **p, size_t *n, pf_error *err);

/* Peeks at the first undelivered bytes without consuming them: decodes until want
 * bytes (at most PF_INPUT_WINDOW) are buffered or the input ends, then sets *p, *n
 * (n < want only at the end of the input).  Returns 0, or -1 with err set as for
 * pf_input_next; on error *p, *n still describe what was decoded before it. */
int pf_input_peek(pf_input *in, size_t want, const unsigned char **p, size_t *n,
                  pf_error *err);

/* The decoded offset of the next byte pf_input_next will hand out (so a window
 * (p, n) starts at pf_input_offset(in) - n). */
uint64_t pf_input_offset(const pf_input *in);

/* True when the input is gzip-framed (decided by its first two bytes; valid once a
 * peek or next has read them). */
int pf_input_is_gzip(const pf_input *in);

enum pf_input_kind {
    PF_INPUT_EMPTY = 0,   /* no bytes at all */
    PF_INPUT_TRACE = 1,   /* starts with the pyflame-c trace magic (or a prefix of it at
                             the very end: a truncated trace, for the trace reader to name) */
    PF_INPUT_TEXT  = 2,   /* anything else: collapsed stacks, for their parser to judge */
    PF_INPUT_PSTATS = 3,  /* a marshalled dict keyed by tuples: a pstats file (cProfile,
                             profiling.tracing, yappi), read by formats/foreign.h */
    PF_INPUT_SPEEDSCOPE = 4 /* JSON naming speedscope's file-format schema in its first
                             4 KiB (py-spy, pyinstrument, speedscope), formats/foreign.h */
};

/* True for the kinds that read as a trace (pf_trace_read_input): pyflame-c traces and
 * the other profilers' files formats/foreign.h converts. */
static inline int pf_input_is_profile(int kind)
{
    return kind == PF_INPUT_TRACE || kind == PF_INPUT_PSTATS || kind == PF_INPUT_SPEEDSCOPE;
}

/* The kinds every reading command accepts, for messages about a file of none of them. */
#define PF_INPUT_KINDS_ACCEPTED \
    "pyflame-c traces, collapsed stacks (flamegraph.pl, py-spy --format raw, ...), pstats " \
    "files (cProfile, profiling.tracing, yappi) and speedscope JSON (py-spy, pyinstrument)"

/* Tells what the input holds from its first decoded bytes, without consuming them.
 * Returns an enum pf_input_kind, or -1 with err set (the input could not be read). */
int pf_input_sniff(pf_input *in, pf_error *err);

#endif
