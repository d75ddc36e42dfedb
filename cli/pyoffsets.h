/* pyoffsets.h: where a CPython process keeps what a stack sampler reads from outside
 * (cli/sampler.h): the interpreter's address, the offsets of the fields that lead from
 * it to each thread, frame, code object and string, and the GIL's fields.
 *
 * Two sources, one struct:
 *   - under `collect --sample`, the collector of the process writes them itself, from
 *     its interpreter's headers (collector/sampleinfo.h): any CPython 3.8-3.15;
 *   - `attach` reads them from the target's _Py_DebugOffsets, which CPython 3.13+
 *     publishes at the start of _PyRuntime for exactly this purpose.
 * A value of -1 means the field does not exist in that version.
 *
 * Which opcodes are calls (the <native> marker, --native) is no offset: the numbers,
 * specialised forms included, come from the interpreter's own opcode tables, computed
 * in Python by collector/pyflame/_callops.py, which the collector runs in the process
 * (its lines end the collector's file) and attach runs with the target's executable
 * (pf_pyoffsets_ask_calls).
 */
#ifndef PF_CLI_PYOFFSETS_H
#define PF_CLI_PYOFFSETS_H

#include <stdint.h>
#include <sys/types.h>

#include "formats/error.h"

/* frame instruction field (same values as collector/sampleinfo.h) */
enum { PF_INSTR_LASTI_BYTES = 0, PF_INSTR_LASTI_UNITS = 1, PF_INSTR_PTR_PREV = 2,
       PF_INSTR_PTR_CURRENT = 3 };
/* line table format */
enum { PF_LINETABLE_LNOTAB = 0, PF_LINETABLE_310 = 1, PF_LINETABLE_LOCATIONS = 2 };

typedef struct pf_pyoffsets {
    uint32_t version_hex;        /* PY_VERSION_HEX of the target */
    uint64_t interp;             /* address of the (main) interpreter state */
    uint64_t main_ident;         /* thread_id of the main thread, 0 unknown */
    uint64_t code_type;          /* address of PyCode_Type, 0 unknown (then not checked) */
    uint64_t gil_locked;         /* address of the GIL's locked flag (int), 0 unknown */
    uint64_t gil_holder;         /* address of its last holder (a thread state pointer) */
    int64_t ob_type;
    int64_t interp_threads_head;
    int64_t ts_size, ts_next, ts_thread_id, ts_native_thread_id, ts_frame, cframe_current;
    int64_t ts_interp;           /* a thread state's interpreter (checked by attach) */
    int64_t ts_datastack_chunk;  /* the thread's newest data-stack chunk (3.11+), -1 */
    int64_t chunk_previous, chunk_size;   /* in a _PyStackChunk */
    int64_t pthread_tid;         /* offset of the kernel tid in a glibc pthread_t, -1 */
    int64_t frame_size, frame_prev, frame_code, frame_instr, frame_owner;
    int64_t instr_kind;          /* PF_INSTR_* */
    int64_t code_filename, code_name, code_qualname, code_firstlineno, code_linetable;
    int64_t code_adaptive;       /* offset of the bytecode in the code object (3.11+) */
    int64_t code_code;           /* offset of co_code, a bytes object (3.8-3.10) */
    int64_t linetable_kind;      /* PF_LINETABLE_* */
    int64_t bytes_size, bytes_sval;
    int64_t str_length, str_state, str_ascii_size, str_compact_size;
    int64_t str_kind_bit, str_compact_bit, str_ascii_bit;
    /* within _PyRuntime: the interpreters list's head, the main thread's ident, the
     * GIL's fields (a collector's file, for attach on 3.8-3.12), -1 unknown */
    int64_t rt_interp_head, rt_main_thread, rt_gil_locked, rt_gil_holder;
    int64_t extended_arg;        /* EXTENDED_ARG's opcode, -1 unknown */
    int call_ops_known;          /* call_ops was given */
    unsigned char call_ops[32];  /* bit op % 8 of byte op / 8 set: opcode op is a call */
} pf_pyoffsets;

/* Reads the "name value" file a collector wrote (collector/sampleinfo.h), call_ops
 * included when it holds them ("call_ops" and 64 hex digits).  Unknown names are
 * ignored; a missing required one fails.  0, or -1 with err set. */
int pf_pyoffsets_read_file(pf_pyoffsets *o, const char *path, pf_error *err);

/* Fills o from the _Py_DebugOffsets at the start of the _PyRuntime at runtime_addr in
 * process pid (CPython 3.13-3.15; the cookie and version are checked), and o->interp
 * from its interpreters list.  0, or -1 with err set: PF_EIO with the reason (no such
 * process, permission: see pf_procmem_explain), PF_EUSAGE for an unsupported version. */
int pf_pyoffsets_from_debug(pf_pyoffsets *o, pid_t pid, uint64_t runtime_addr, pf_error *err);

/* Fills o for a CPython 3.8-3.12 process pid, whose _PyRuntime is at runtime_addr: the
 * process's own interpreter binary (/proc/PID/exe) runs pyflame-c's collector for its
 * version from package_dir once and writes its offsets (collector/sampleinfo.h), which
 * hold for every process of that build; the addresses are then taken within the
 * target's _PyRuntime, and checked against its first thread state.  0, or -1 with err
 * set (PF_EUSAGE: no collector for that version, not a CPython binary, offsets that do
 * not fit). */
int pf_pyoffsets_from_collector(pf_pyoffsets *o, pid_t pid, uint64_t runtime_addr,
                                const char *package_dir, pf_error *err);

/* For attach: from _Py_DebugOffsets when the process has them (3.13+), else from the
 * collector in pyflame-c's package folder (pf_cli_package_dir). */
int pf_pyoffsets_for_process(pf_pyoffsets *o, pid_t pid, uint64_t runtime_addr, pf_error *err);

/* What PEP 768's remote execution (CPython 3.14+, cli/inject.h) reads and writes, from
 * the `debugger_support` part of the same _Py_DebugOffsets.  Offsets are in bytes from
 * the start of the struct named. */
typedef struct pf_pyremote {
    uint32_t version_hex;        /* PY_VERSION_HEX of the target */
    uint64_t interp;             /* address of the main interpreter state */
    int64_t runtime_finalizing;  /* _PyRuntime: the finalizing thread state (non-NULL at exit) */
    int64_t interp_threads_main; /* interpreter state: its main thread's state */
    int64_t interp_remote_debug; /* interpreter state: config.remote_debug (int, 1 = allowed) */
    int64_t ts_size;             /* sizeof(PyThreadState) */
    int64_t ts_interp;           /* thread state: its interpreter */
    int64_t ts_eval_breaker;     /* thread state: eval_breaker (uintptr_t) */
    int64_t ts_pending;          /* thread state: the debugger's pending-call flag (int32) */
    int64_t ts_script;           /* thread state: the debugger's script path buffer */
    int64_t script_size;         /* that buffer's size in bytes, its NUL included */
} pf_pyremote;

/* Fills r from the _Py_DebugOffsets at runtime_addr in process pid, and r->interp from
 * its interpreters list.  Every offset is checked to lie inside its struct.  0, or -1
 * with err set: PF_EIO (the process cannot be read: pf_procmem_explain_denied's words
 * for a permission), PF_EUSAGE naming the version when it is not CPython 3.14 or 3.15
 * (or is a free-threaded build), PF_EPARSE for implausible offsets. */
int pf_pyoffsets_remote(pf_pyremote *r, pid_t pid, uint64_t runtime_addr, pf_error *err);

/* Fills o->call_ops and o->extended_arg (attach --native) by running script (the text
 * of pyflame/_callops.py) with the executable process pid runs, /proc/PID/exe -I -S -c,
 * as the process's user when we are root, in a clean environment, for at most 10 s.
 * Refused unless the executable is named python*, and its sys.hexversion must be of
 * o->version_hex's minor version (the very release for a pre-release).  0, or -1 with
 * err set (PF_EUSAGE: why not) and o unchanged. */
int pf_pyoffsets_ask_calls(pf_pyoffsets *o, pid_t pid, const char *script, pf_error *err);

#endif
