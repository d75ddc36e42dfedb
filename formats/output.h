/* output.h: where a command (convert, svg, html) writes its result.  A named output is
 * written to a temporary file beside it and renamed into place only when everything
 * succeeded, so a failed or interrupted command never leaves a partial file that looks
 * like a good one (SIGINT, SIGTERM, SIGHUP and SIGPIPE remove the temporary file).
 * Standard output is written directly. */
#ifndef PF_OUTPUT_H
#define PF_OUTPUT_H

#include <stdio.h>

#include "formats/error.h"

typedef struct pf_output pf_output;

/* Opens path for writing ("-" or NULL: standard output).  For a file, creates
 * "PATH.tmp-XXXXXX" in the same directory (same file system, so the final rename is
 * atomic) with the permissions a plain fopen would give.  NULL with err set on failure. */
pf_output *pf_output_open(const char *path, pf_error *err);

/* The stream to write to (borrowed). */
FILE *pf_output_stream(pf_output *o);

/* Flushes and closes; for a file renames the temporary file onto path.  Frees o in
 * every case.  Returns 0, or -1 with err set (the temporary file is then removed). */
int pf_output_commit(pf_output *o, pf_error *err);

/* Discards the output: closes and removes the temporary file.  Frees o.  NULL-safe. */
void pf_output_abort(pf_output *o);

#endif
