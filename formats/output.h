/* output.h: the one writer of every output file (convert, svg, html, and the trace the
 * collector writes).  A regular file is written to a temporary file beside it and
 * renamed into place only when everything succeeded, so a failed or interrupted
 * command never leaves a partial file that looks like a good one (SIGINT, SIGTERM,
 * SIGHUP and SIGPIPE remove the temporary file).  Through a symlink, the file it
 * points at is replaced and the link kept.  Standard output, devices (/dev/null, a
 * terminal), FIFOs and /dev/stdout, /dev/fd/N are written directly: never replaced,
 * never removed. */
#ifndef PF_OUTPUT_H
#define PF_OUTPUT_H

#include <stdio.h>

#include "formats/error.h"

typedef struct pf_output pf_output;

/* Opens path for writing ("-" or NULL: standard output).  For a regular file, creates
 * "PATH.tmp-XXXXXX" in the same directory (same file system, so the final rename is
 * atomic) with the permissions a plain fopen would give.  NULL with err set on failure
 * (PF_EIO with the system's reason: a missing folder, a name too long, a read-only
 * file system, no permission). */
pf_output *pf_output_open(const char *path, pf_error *err);

/* Flags of pf_output_open_flags. */
#define PF_OUTPUT_NO_SIGNALS 1   /* leave signal dispositions alone (inside the profiled
                                  * program, whose handlers must not change) */

/* pf_output_open with flags. */
pf_output *pf_output_open_flags(const char *path, int flags, pf_error *err);

/* The stream to write to (borrowed). */
FILE *pf_output_stream(pf_output *o);

/* Flushes and closes; for a file renames the temporary file onto path.  Frees o in
 * every case.  Returns 0, or -1 with err set (the temporary file is then removed). */
int pf_output_commit(pf_output *o, pf_error *err);

/* Discards the output: closes and removes the temporary file.  Frees o.  NULL-safe. */
void pf_output_abort(pf_output *o);

#endif
