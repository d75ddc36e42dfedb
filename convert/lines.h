/* lines.h: `convert -f lines`, the per-line table as TSV for spreadsheets, pandas
 * (pd.read_csv(path, sep="\t")) and scripts:
 *
 *     file  line  function  hits  time_ns  self_ns  [alloc_bytes alloc_count peak_bytes exit_bytes]
 *
 * One row per line record, sorted by file then line (then function).  file is
 * co_filename as recorded, function the qualname of the code the line belongs to.
 * The memory columns appear when the trace has memory data.
 * Escaping: in text fields a backslash is written as "\\", a tab as "\t", a newline
 * as "\n" and a carriage return as "\r" (two characters each); nothing else changes,
 * so a row always has exactly one tab between fields and ends with one newline. */
#ifndef PF_LINES_H
#define PF_LINES_H

#include <stdio.h>

#include "formats/error.h"
#include "formats/trace.h"

/* Writes the table.  A trace recorded without line data (no PF_MODE_LINES) fails with
 * PF_EEMPTY.  Returns 0 or -1 with err set. */
int pf_lines_write(const pf_trace *t, FILE *out, pf_error *err);

/* Writes s[0..n) with the escaping described above. */
void pf_tsv_put(FILE *out, const char *s, size_t n);

#endif
