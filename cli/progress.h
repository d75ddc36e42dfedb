/* progress.h: the progress line of long commands on a terminal.  When standard error
 * is a terminal, pyflame-c shows how far reading, building and writing are, on one
 * line rewritten with '\r' (phase, percentage, rate, time left), from about half a
 * second into the command; nothing at all when standard error is not a terminal, or
 * with PYFLAME_C_PROGRESS=0.  The lower layers report through formats/progress.h. */
#ifndef PF_CLI_PROGRESS_H
#define PF_CLI_PROGRESS_H

/* Installs the progress line for command cmd (when stderr is a terminal) and starts
 * its clock: the line appears once the command has run PYFLAME_C_PROGRESS_DELAY
 * seconds (default 0.5). */
void pf_cli_progress_start(const char *cmd);

/* A prefix for the line, e.g. "trace 3 of 100" (copied; NULL: none). */
void pf_cli_progress_label(const char *label);

/* Erases the line if one is shown (before printing a message). */
void pf_cli_progress_clear(void);

#endif
