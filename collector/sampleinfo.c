/* sampleinfo.c: what `collect --sample` needs to read this interpreter's stacks from
 * another process: the offsets of the fields it follows (interpreter -> thread states
 * -> frames -> code objects -> strings) and a few addresses, written as a small text
 * file the launcher reads (cli/pyoffsets.h parses it).
 *
 * Every number comes from this interpreter's own headers, internal ones included
 * (offsetof on the real structs, compiled per interpreter like the rest of the
 * extension), so no per-version table is kept by hand.  That is why this one file
 * defines Py_BUILD_CORE: it only takes offsets and addresses, and calls no internal
 * function.  Bit positions of the str state bitfield are found by setting each field
 * in a zeroed struct and looking for the bit.
 */
#define Py_BUILD_CORE 1
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <frameobject.h>
#if PY_VERSION_HEX >= 0x03090000
#include <internal/pycore_interp.h>
#include <internal/pycore_runtime.h>
#endif
#include <internal/pycore_pystate.h>
#if PY_VERSION_HEX >= 0x030B0000
#include <internal/pycore_frame.h>
#endif
#if PY_VERSION_HEX >= 0x030C0000 && PY_VERSION_HEX < 0x030D0000
#include <internal/pycore_ceval_state.h>
#endif

#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "collector/sampleinfo.h"

/* The lowest bit set in bytes[0..n), or -1. */
static int first_bit(const unsigned char *bytes, size_t n)
{
    for (size_t i = 0; i < n; i++)
        for (int b = 0; b < 8; b++)
            if (bytes[i] >> b & 1)
                return (int)(i * 8) + b;
    return -1;
}

/* Where glibc keeps a thread's kernel id inside its pthread_t (the sampler maps
 * thread_id, a pthread_t, to the thread's /proc entry with it before 3.11, whose
 * thread states have no native_thread_id): the word of our own pthread struct that
 * holds gettid().  -1 when not found. */
static long pthread_tid_offset(void)
{
    pid_t tid = (pid_t)syscall(SYS_gettid);
    const unsigned char *self = (const unsigned char *)pthread_self();
    for (long off = 0; off < 2048; off += 4) {
        pid_t v;
        memcpy(&v, self + off, sizeof v);
        if (v == tid)
            return off;
    }
    return -1;
}

#define PUT(name, value) fprintf(f, "%s %lld\n", name, (long long)(value))
#define PUTA(name, value) fprintf(f, "%s %llu\n", name, (unsigned long long)(uintptr_t)(value))

int pf_sampleinfo_write(const char *path, unsigned long main_ident, const char *extra)
{
    char tmp[4200];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
        return -1;
    FILE *f = fopen(tmp, "w");
    if (f == NULL)
        return -1;
#if PY_VERSION_HEX >= 0x03090000
    PyInterpreterState *interp = PyInterpreterState_Get();
#else
    PyInterpreterState *interp = PyThreadState_Get()->interp;
#endif
    PUT("version_hex", PY_VERSION_HEX);
    PUT("pid", getpid());
    PUTA("interp", interp);
    PUTA("main_ident", main_ident);
    PUTA("code_type", &PyCode_Type);
    PUT("ob_type", offsetof(PyObject, ob_type));
#if PY_VERSION_HEX >= 0x030B0000
    PUT("interp_threads_head", offsetof(PyInterpreterState, threads.head));
#else
    PUT("interp_threads_head", offsetof(PyInterpreterState, tstate_head));
#endif
    PUT("ts_size", sizeof(PyThreadState));
    PUT("ts_next", offsetof(PyThreadState, next));
    PUT("ts_thread_id", offsetof(PyThreadState, thread_id));
#if PY_VERSION_HEX >= 0x030B0000
    PUT("ts_native_thread_id", offsetof(PyThreadState, native_thread_id));
#else
    PUT("ts_native_thread_id", -1);
#endif
    PUT("pthread_tid", pthread_tid_offset());
    /* the innermost frame: tstate->frame (<= 3.10), tstate->cframe->current_frame
     * (3.11, 3.12), tstate->current_frame (3.13+) */
#if PY_VERSION_HEX >= 0x030D0000
    PUT("ts_frame", offsetof(PyThreadState, current_frame));
    PUT("cframe_current", -1);
#elif PY_VERSION_HEX >= 0x030B0000
    PUT("ts_frame", offsetof(PyThreadState, cframe));
    PUT("cframe_current", offsetof(_PyCFrame, current_frame));
#else
    PUT("ts_frame", offsetof(PyThreadState, frame));
    PUT("cframe_current", -1);
#endif
#if PY_VERSION_HEX >= 0x030B0000
    /* frames live in the thread's data-stack chunks: the sampler copies them whole */
    PUT("ts_datastack_chunk", offsetof(PyThreadState, datastack_chunk));
    PUT("chunk_previous", offsetof(_PyStackChunk, previous));
    PUT("chunk_size", offsetof(_PyStackChunk, size));
    PUT("frame_size", sizeof(_PyInterpreterFrame));
    PUT("frame_prev", offsetof(_PyInterpreterFrame, previous));
#if PY_VERSION_HEX >= 0x030D0000
    PUT("frame_code", offsetof(_PyInterpreterFrame, f_executable));
    PUT("frame_instr", offsetof(_PyInterpreterFrame, instr_ptr));
    PUT("instr_kind", PF_INSTR_PTR_CURRENT);
#else
    PUT("frame_code", offsetof(_PyInterpreterFrame, f_code));
    PUT("frame_instr", offsetof(_PyInterpreterFrame, prev_instr));
    PUT("instr_kind", PF_INSTR_PTR_PREV);
#endif
    PUT("frame_owner", offsetof(_PyInterpreterFrame, owner));
    PUT("code_adaptive", offsetof(PyCodeObject, co_code_adaptive));
    PUT("code_qualname", offsetof(PyCodeObject, co_qualname));
    PUT("code_linetable", offsetof(PyCodeObject, co_linetable));
    PUT("linetable_kind", PF_LINETABLE_LOCATIONS);
#else
    PUT("frame_size", offsetof(PyFrameObject, f_lasti) + sizeof(int));
    PUT("frame_prev", offsetof(PyFrameObject, f_back));
    PUT("frame_code", offsetof(PyFrameObject, f_code));
    PUT("frame_instr", offsetof(PyFrameObject, f_lasti));
    PUT("frame_owner", -1);
    PUT("code_adaptive", -1);
    /* the bytecode, for the <native> marker (3.11+: co_code_adaptive, above) */
    PUT("code_code", offsetof(PyCodeObject, co_code));
    PUT("code_qualname", -1);
#if PY_VERSION_HEX >= 0x030A0000
    PUT("instr_kind", PF_INSTR_LASTI_UNITS);
    PUT("code_linetable", offsetof(PyCodeObject, co_linetable));
    PUT("linetable_kind", PF_LINETABLE_310);
#else
    PUT("instr_kind", PF_INSTR_LASTI_BYTES);
    PUT("code_linetable", offsetof(PyCodeObject, co_lnotab));
    PUT("linetable_kind", PF_LINETABLE_LNOTAB);
#endif
#endif
    PUT("code_filename", offsetof(PyCodeObject, co_filename));
    PUT("code_name", offsetof(PyCodeObject, co_name));
    PUT("code_firstlineno", offsetof(PyCodeObject, co_firstlineno));
    PUT("bytes_size", offsetof(PyVarObject, ob_size));
    PUT("bytes_sval", offsetof(PyBytesObject, ob_sval));
    PUT("str_length", offsetof(PyASCIIObject, length));
    PUT("str_state", offsetof(PyASCIIObject, state));
    PUT("str_ascii_size", sizeof(PyASCIIObject));
    PUT("str_compact_size", sizeof(PyCompactUnicodeObject));
    {
        PyASCIIObject o;
        memset(&o, 0, sizeof o);
        o.state.kind = 1;
        PUT("str_kind_bit", first_bit((const unsigned char *)&o.state, sizeof o.state));
        memset(&o, 0, sizeof o);
        o.state.compact = 1;
        PUT("str_compact_bit", first_bit((const unsigned char *)&o.state, sizeof o.state));
        memset(&o, 0, sizeof o);
        o.state.ascii = 1;
        PUT("str_ascii_bit", first_bit((const unsigned char *)&o.state, sizeof o.state));
    }
    /* the GIL: whether it is taken, and the thread state that took it last */
#if PY_VERSION_HEX >= 0x030C0000
    struct _gil_runtime_state *gil = interp->ceval.gil;
#else
    struct _gil_runtime_state *gil = &_PyRuntime.ceval.gil;
#endif
    if (gil != NULL) {
        PUTA("gil_locked", &gil->locked);
        PUTA("gil_holder", &gil->last_holder);
    }
    /* For `attach` on a process of this interpreter that did not start under pyflame-c
     * (3.8-3.12, which publish no _Py_DebugOffsets): the offsets above come from this
     * file, written by that interpreter's binary running this collector, and these
     * give the addresses within the target's own _PyRuntime (cli/pyoffsets.h). */
    PUT("ts_interp", offsetof(PyThreadState, interp));
    PUT("rt_interp_head", offsetof(_PyRuntimeState, interpreters.head));
    PUT("rt_main_thread", offsetof(_PyRuntimeState, main_thread));
    {
        const char *rt = (const char *)&_PyRuntime;
        if (gil != NULL && (const char *)gil >= rt && (const char *)(gil + 1) <= rt + sizeof _PyRuntime) {
            PUT("rt_gil_locked", (const char *)&gil->locked - rt);
            PUT("rt_gil_holder", (const char *)&gil->last_holder - rt);
        }
    }
    if (extra != NULL)
        fputs(extra, f);
    int rc = ferror(f) ? -1 : 0;
    if (fclose(f) != 0 || rc < 0 || rename(tmp, path) != 0) {
        unlink(tmp);
        return -1;
    }
    return 0;
}
