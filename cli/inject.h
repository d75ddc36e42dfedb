/* inject.h: asking a running CPython 3.14+ process to run a Python script file, through
 * PEP 768's remote execution (what `sys.remote_exec(pid, path)` does), from C, so that
 * no second Python is needed.  Linux only.
 *
 * How: every PyThreadState has a debugger buffer (a script path and a pending-call
 * flag), and _Py_DebugOffsets says where it lies.  We write the path into the main
 * thread's buffer, set its flag, then the eval breaker's "please stop" bit; at its next
 * eval-breaker check (a call's return, a loop's back edge) that thread clears the flag,
 * audits and runs the file in a fresh namespace.  A thread blocked in a C call (sleep,
 * a lock, I/O) runs it only when the call returns and it evaluates bytecode again.
 * An exception the script lets out is printed on the process's stderr by CPython: a
 * script meant to leave no trace catches everything itself.
 *
 * Safety: nothing is written before the cookie, the version, every offset (inside its
 * struct) and the thread state (its interpreter pointer) are checked, and only the
 * flag, the buffer and one byte of the eval breaker are ever written.  The eval-breaker
 * byte is read, or-ed and written back; a bit the process sets in that byte during those
 * two system calls (a GIL drop request, a pending signal) can be lost, as with
 * sys.remote_exec, which rewrites the whole word: CPython sets those again (a GIL
 * waiter re-requests, a tripped signal is also seen by PyErr_CheckSignals).  Writing
 * one byte never touches the instrumentation version in the word's upper bits. */
#ifndef PF_CLI_INJECT_H
#define PF_CLI_INJECT_H

#include <stdint.h>
#include <sys/types.h>

#include "formats/error.h"

typedef struct pf_inject pf_inject;

/* Finds pid's interpreter (_PyRuntime in its mapped files), reads and checks its
 * remote-execution offsets, and checks that the process allows remote debugging and
 * is not shutting down.  Writes nothing.  A new handle (pf_inject_free), or NULL with
 * err set: PF_EUSAGE for what the user can act on (not CPython, a version without PEP
 * 768, remote debugging disabled: each message says why and what to do), PF_EIO when the
 * process cannot be read (a permission: the same words as `attach`). */
pf_inject *pf_inject_open(pid_t pid, pf_error *err);

/* pf_inject_open with the address of the target's _PyRuntime given (tests/test_inject.c
 * builds a fake one in its own memory); pf_inject_file is then "". */
pf_inject *pf_inject_open_at(pid_t pid, uint64_t runtime, pf_error *err);

/* PY_VERSION_HEX of the target. */
uint32_t pf_inject_version(const pf_inject *in);

/* The interpreter file the target runs (where _PyRuntime was found). */
const char *pf_inject_file(const pf_inject *in);

/* The longest script path the target's buffer takes, in bytes without the NUL. */
size_t pf_inject_max_path(const pf_inject *in);

/* Asks the target's main thread to run the script at path (absolute; the target
 * opens it itself).  Refuses (PF_EUSAGE) while another request, ours or another
 * debugger's, is still pending.  0, or -1 with err set (the process went away, a
 * permission, a path too long). */
int pf_inject_send(pf_inject *in, const char *path, pf_error *err);

/* Whether the last request was taken: 1 once the target has cleared its flag (the
 * script runs or has run), 0 while it is still pending, -1 if the process cannot be
 * read any more (it exited). */
int pf_inject_taken(pf_inject *in);

/* Withdraws a request not taken yet: clears the flag and empties the path.  A thread
 * that took the flag in the microseconds before may still run the script: a caller
 * that must know decides with the script through a file (cli/attach_calls.c's claim).
 * 0, or -1 if the process cannot be written (it exited). */
int pf_inject_withdraw(pf_inject *in);

/* NULL-safe. */
void pf_inject_free(pf_inject *in);

#endif
