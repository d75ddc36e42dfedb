/* inject.c: PEP 768's remote execution from C (see inject.h): the checks, then three
 * small writes into the target's main thread state. */
#include "cli/inject.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/procmem.h"
#include "cli/pyoffsets.h"

/* Include/internal/pycore_ceval.h (3.14, 3.15): the eval breaker's low 8 bits are event
 * bits, this one asks the thread to stop at its next check (and so to look at its
 * debugger buffer); the bits above are the instrumentation version. */
#define EVAL_PLEASE_STOP_BIT 0x20u

struct pf_inject {
    pid_t pid;
    pf_pyremote r;
    uint64_t tstate;          /* the main thread's state, where requests go */
    char file[4096];          /* the interpreter file _PyRuntime is in */
};

static int io_error(pf_inject *in, const char *what, pf_error *err)
{
    if (errno == EPERM || errno == EACCES)
        return pf_procmem_explain_denied(in->pid, err);
    if (errno == ESRCH)
        return pf_error_set(err, PF_EIO, "process %d exited", (int)in->pid);
    return pf_error_set(err, PF_EIO, "cannot %s the memory of process %d: %s", what,
                        (int)in->pid, strerror(errno));
}

/* The main thread's state, checked to belong to the interpreter. */
static int find_main_thread(pf_inject *in, pf_error *err)
{
    uint64_t ts = 0, interp = 0;
    if (pf_procmem_word(in->pid, in->r.interp + (uint64_t)in->r.interp_threads_main, &ts) < 0)
        return io_error(in, "read", err);
    if (ts == 0)
        return pf_error_set(err, PF_EUSAGE, "process %d has no main thread state (starting "
                            "up or shutting down?)", (int)in->pid);
    if (pf_procmem_word(in->pid, ts + (uint64_t)in->r.ts_interp, &interp) < 0)
        return io_error(in, "read", err);
    if (interp != in->r.interp)
        return pf_error_set(err, PF_EPARSE, "process %d: its main thread state does not "
                            "point back at its interpreter; not writing to it", (int)in->pid);
    in->tstate = ts;
    return 0;
}

pf_inject *pf_inject_open(pid_t pid, pf_error *err)
{
    char file[sizeof ((pf_inject *)0)->file];
    uint64_t runtime = pf_procmem_symbol(pid, "python", "_PyRuntime", file, sizeof file, err);
    if (runtime == 0) {
        if (err->code == PF_EPARSE)
            pf_error_set(err, PF_EUSAGE, "process %d does not look like CPython: no "
                         "_PyRuntime symbol in the files it has mapped whose name contains "
                         "'python'", (int)pid);
        return NULL;
    }
    pf_inject *in = pf_inject_open_at(pid, runtime, err);
    if (in != NULL)
        snprintf(in->file, sizeof in->file, "%s", file);
    return in;
}

pf_inject *pf_inject_open_at(pid_t pid, uint64_t runtime, pf_error *err)
{
    pf_inject *in = calloc(1, sizeof *in);
    if (in == NULL) {
        pf_error_set(err, PF_ENOMEM, NULL);
        return NULL;
    }
    in->pid = pid;
    if (pf_pyoffsets_remote(&in->r, pid, runtime, err) < 0)
        goto fail;
    uint64_t finalizing = 0;
    int32_t enabled = 0;
    if (pf_procmem_word(pid, runtime + (uint64_t)in->r.runtime_finalizing, &finalizing) < 0
        || pf_procmem_read(pid, in->r.interp + (uint64_t)in->r.interp_remote_debug, &enabled,
                           sizeof enabled) < 0) {
        io_error(in, "read", err);
        goto fail;
    }
    if (finalizing != 0) {
        pf_error_set(err, PF_EUSAGE, "process %d is shutting down", (int)pid);
        goto fail;
    }
    if (enabled != 1) {
        pf_error_set(err, PF_EUSAGE, "process %d has remote debugging disabled "
                     "(PYTHON_DISABLE_REMOTE_DEBUG is set in its environment, it runs with -X "
                     "disable-remote-debug, or its CPython was built --without-remote-debug), "
                     "so attach --calls cannot run the collector in it: start it without "
                     "those, or sample it from outside with `pyflame-c attach` (no --calls)",
                     (int)pid);
        goto fail;
    }
    if (find_main_thread(in, err) < 0)
        goto fail;
    return in;
fail:
    free(in);
    return NULL;
}

uint32_t pf_inject_version(const pf_inject *in)
{
    return in->r.version_hex;
}

const char *pf_inject_file(const pf_inject *in)
{
    return in->file;
}

size_t pf_inject_max_path(const pf_inject *in)
{
    return (size_t)in->r.script_size - 1;
}

static int read_pending(pf_inject *in, int32_t *pending)
{
    return pf_procmem_read(in->pid, in->tstate + (uint64_t)in->r.ts_pending, pending,
                           sizeof *pending);
}

int pf_inject_send(pf_inject *in, const char *path, pf_error *err)
{
    size_t n = strlen(path);
    if (n > pf_inject_max_path(in))
        return pf_error_set(err, PF_EUSAGE, "script path '%s' is longer than the %zu bytes "
                            "process %d takes", path, pf_inject_max_path(in), (int)in->pid);
    /* again: the main thread state is the process's for life, but check before writing */
    if (find_main_thread(in, err) < 0)
        return -1;
    int32_t pending = 0;
    if (read_pending(in, &pending) < 0)
        return io_error(in, "read", err);
    if (pending != 0)
        return pf_error_set(err, PF_EUSAGE, "process %d already has a remote-execution "
                            "request pending (another debugger's: pdb -p, sys.remote_exec?); "
                            "try again when it has run", (int)in->pid);
    /* path, then flag, then the breaker bit: the thread reads them the other way round */
    const int32_t one = 1;
    uint64_t breaker = in->tstate + (uint64_t)in->r.ts_eval_breaker;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    breaker += 7;                        /* the word's low byte */
#endif
    unsigned char b = 0;
    if (pf_procmem_write(in->pid, in->tstate + (uint64_t)in->r.ts_script, path, n + 1) < 0
        || pf_procmem_write(in->pid, in->tstate + (uint64_t)in->r.ts_pending, &one,
                            sizeof one) < 0
        || pf_procmem_read(in->pid, breaker, &b, 1) < 0)
        return io_error(in, "write", err);
    b = (unsigned char)(b | EVAL_PLEASE_STOP_BIT);
    if (pf_procmem_write(in->pid, breaker, &b, 1) < 0)
        return io_error(in, "write", err);
    return 0;
}

int pf_inject_taken(pf_inject *in)
{
    int32_t pending = 0;
    if (read_pending(in, &pending) < 0)
        return -1;
    return pending == 0;
}

int pf_inject_withdraw(pf_inject *in)
{
    const int32_t zero = 0;
    const char nul = 0;
    if (pf_procmem_write(in->pid, in->tstate + (uint64_t)in->r.ts_pending, &zero,
                         sizeof zero) < 0
        || pf_procmem_write(in->pid, in->tstate + (uint64_t)in->r.ts_script, &nul, 1) < 0)
        return -1;
    return 0;
}

void pf_inject_free(pf_inject *in)
{
    free(in);
}
