/* attach_calls.h: `pyflame-c attach --calls PID`: records every call of a running
 * CPython 3.14+ process with the deterministic collector (the one `collect` uses),
 * injected through PEP 768's remote execution (cli/inject.h) and removed again at the
 * end, so the program goes on as before. */
#ifndef PF_CLI_ATTACH_CALLS_H
#define PF_CLI_ATTACH_CALLS_H

#include <sys/types.h>

/* How long the target's main thread may take to run one of our scripts (it runs them
 * at its next eval-breaker check, so not while blocked in a C call). */
#define PF_ATTACH_WAIT_S 10.0

/* Attaches to pid, records until *stop becomes non-zero (the caller's signal handler
 * counts SIGINT/SIGTERM: the first stops, or withdraws a start not yet taken; a further
 * one gives up waiting for the detach), `duration` seconds have passed since recording
 * started (0: no limit) or the process exits, detaches, and writes the trace to output
 * (NULL: standard output).  Prints its progress and errors on stderr (the
 * summary unless quiet).  Returns the command's exit status: 0 with a trace written
 * (also when the process exited while recorded), 1 otherwise. */
int pf_attach_calls(pid_t pid, const char *output, double duration, int quiet,
                    volatile int *stop);

#endif
