/* common.h: what every reading subcommand (convert, svg, html) does the same way:
 * reading a trace with its warnings, refusing to overwrite the input, and turning an
 * error into one "pyflame-c: FILE: MESSAGE" line and an exit status. */
#ifndef PF_CLI_COMMON_H
#define PF_CLI_COMMON_H

#include <stdint.h>

#include "formats/error.h"
#include "formats/trace.h"

/* The name messages use for path: "<stdin>" for "-" or NULL. */
const char *pf_cli_input_name(const char *path);

/* Prints "pyflame-c: FILE: MESSAGE" on stderr and returns the exit status: 2 for a
 * usage error (PF_EUSAGE), else 1. */
int pf_cli_fail(const char *file, const pf_error *err);

/* Reads the trace at path ("-": stdin) within a decoding budget of max_memory bytes
 * (0: the default, formats/budget.h; --max-memory raises it), warning on stderr when
 * the collector ran out of memory while recording.  NULL with err set on failure. */
pf_trace *pf_cli_read_trace(const char *path, uint64_t max_memory, pf_error *err);

struct pf_input;

/* True when the input (not consumed) looks like raw `perf script` output rather than
 * collapsed stacks: sample header lines each followed by indented "ADDRESS SYMBOL
 * (DSO)" frame lines.  Then err is set (PF_EPARSE) to a message that says to fold it
 * first.  Reads at most the first 64 KB; a read error counts as "no" (the loader
 * reports it). */
int pf_cli_is_perf_script(struct pf_input *in, pf_error *err);

/* Parses the value of --max-memory ("512M", "8G", "8GiB"; "0": no limit, stored as
 * UINT64_MAX); on a bad value prints the usage error for command cmd and returns -1. */
int pf_cli_parse_max_memory(const char *cmd, const char *value, uint64_t *out);

/* The help of options that mean the same in every command (cli/help.h's format), and
 * the values shells complete for them. */
#define PF_CLI_MAX_MEMORY_HELP \
    "memory the decoded input may take (default 4G; e.g. 512M, 16G; 0 = no limit)"
#define PF_CLI_LIMIT_ALL "0 = all"
#define PF_CLI_METRICS "self-time calls alloc-bytes alloc-count peak-bytes exit-bytes"

struct pf_opts;

/* --limit N, the same in every command: a count of rows, files or functions, 0 meaning
 * all of them (stored as UINT32_MAX).  On a bad value prints the usage error and
 * returns -1. */
int pf_cli_parse_limit(const struct pf_opts *p, uint32_t *out);

/* -o FILE, the same in every command: "-" is standard output (*out = NULL); an empty
 * name is a usage error (printed; returns -1). */
int pf_cli_parse_output(const struct pf_opts *p, const char **out);

/* True (and says so on stderr, for command cmd) when output names the same file as
 * input: writing it would destroy the input before it is read. */
int pf_cli_output_is_input(const char *cmd, const char *input, const char *output);

#endif
