/* compat.h: everything in the collector that depends on the CPython version, and every
 * use of a private or unstable CPython API or struct field, in one place (Austin keeps
 * its per-version offsets in version.h the same way): supporting a new Python means
 * reading this file (and the event source it uses, hook_profile.c or hook_monitoring.c).
 *
 * Two event sources:
 *   PF_USE_MONITORING (3.12+)  sys.monitoring (PEP 669) callbacks, as cProfile uses there.
 *   otherwise (3.8-3.11)       the C-level profile hook, PyEval_SetProfile, per thread.
 * Call sites are instruction offsets in bytes into the caller's code; they are
 * resolved to line numbers once, at stop time, with PyCode_Addr2Line.
 */
#ifndef PF_COMPAT_H
#define PF_COMPAT_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <frameobject.h>

#if PY_VERSION_HEX < 0x03080000
#error "pyflame's collector needs CPython 3.8 or later"
#endif

#if PY_VERSION_HEX >= 0x030C0000
#define PF_USE_MONITORING 1
#else
#define PF_USE_MONITORING 0
#endif

#if defined(__GNUC__)
#define PF_LIKELY(x) __builtin_expect(!!(x), 1)
#define PF_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define PF_INLINE static inline __attribute__((always_inline))
#else
#define PF_LIKELY(x) (x)
#define PF_UNLIKELY(x) (x)
#define PF_INLINE static inline
#endif

/* 3.11 reads frames inline (see below). */
#if !PF_USE_MONITORING && PY_VERSION_HEX >= 0x030B0000
#define PF_HAVE_FAST_FRAMES 1
#else
#define PF_HAVE_FAST_FRAMES 0
#endif

#if !PF_USE_MONITORING
#if PF_HAVE_FAST_FRAMES
/* 3.11 keeps frame data in an internal _PyInterpreterFrame; PyFrame_GetCode and
 * PyFrame_GetLasti are out-of-line calls (plus a reference count round trip) on every
 * event.  These mirror the leading fields of struct _frame and _PyInterpreterFrame
 * (Include/internal/pycore_frame.h, 3.11.0-3.11.x) to read them inline.  The module
 * checks them against the API at import (pf_compat_check) and uses the API if they
 * disagree (pf_fast_frames, defined by hook_profile.c). */
typedef struct pf_iframe311 {
    PyObject *f_func, *f_globals, *f_builtins, *f_locals;
    PyCodeObject *f_code;
    PyObject *frame_obj;
    void *previous;
    _Py_CODEUNIT *prev_instr;
    int stacktop;
    char is_entry, owner;
    PyObject *localsplus[1];  /* arguments first (pf_frame_arg) */
} pf_iframe311;
typedef struct pf_frame311 {
    PyObject_HEAD
    PyObject *f_back;
    pf_iframe311 *f_frame;
    PyObject *f_trace;
    int f_lineno;
    char f_trace_lines;
} pf_frame311;
extern int pf_fast_frames;
#endif

/* Whether the frame accessors below can read frames directly (pf_frame_code_fast,
 * pf_frame_lasti_fast: no call), as they can except on a 3.11 whose frame layout is
 * not the one compiled in. */
PF_INLINE int pf_frames_fast(void)
{
#if PY_VERSION_HEX >= 0x030B0000
    return pf_fast_frames;
#else
    return 1;
#endif
}

/* pf_frame_code when pf_frames_fast(). */
PF_INLINE PyCodeObject *pf_frame_code_fast(PyFrameObject *f)
{
#if PY_VERSION_HEX >= 0x030B0000
    return ((pf_frame311 *)f)->f_frame->f_code;
#else
    return f->f_code;
#endif
}

/* The line of a LINE event, read inline when pf_frames_fast(): the interpreter sets
 * f_lineno just before it calls the trace function (3.11 clears it after).  0 when not
 * set (pf_frame_line then computes it). */
PF_INLINE int pf_frame_lineno_fast(PyFrameObject *f)
{
#if PY_VERSION_HEX >= 0x030B0000
    return ((pf_frame311 *)f)->f_lineno;
#else
    return f->f_lineno;
#endif
}

/* pf_frame_lasti when pf_frames_fast(). */
PF_INLINE int pf_frame_lasti_fast(PyFrameObject *f)
{
#if PY_VERSION_HEX >= 0x030B0000
    pf_iframe311 *fr = ((pf_frame311 *)f)->f_frame;
    Py_ssize_t i = fr->prev_instr - (_Py_CODEUNIT *)fr->f_code->co_code_adaptive;
    return i < 0 ? -1 : (int)(i * (Py_ssize_t)sizeof(_Py_CODEUNIT));
#elif PY_VERSION_HEX >= 0x030A0000
    return f->f_lasti < 0 ? -1 : f->f_lasti * 2;     /* 3.10 counts code units */
#else
    return f->f_lasti;
#endif
}

/* The code object a frame runs.  Borrowed: the frame keeps it alive while it runs. */
PF_INLINE PyCodeObject *pf_frame_code(PyFrameObject *f)
{
#if PY_VERSION_HEX >= 0x030B0000
    if (PF_LIKELY(pf_fast_frames))
        return pf_frame_code_fast(f);
    PyCodeObject *code = PyFrame_GetCode(f);   /* new ref, dropped at once */
    Py_DECREF(code);
    return code;
#else
    return pf_frame_code_fast(f);
#endif
}

/* Byte offset of the instruction the frame is executing (the CALL, while a callee
 * runs), or -1 if it has not started. */
PF_INLINE int pf_frame_lasti(PyFrameObject *f)
{
#if PY_VERSION_HEX >= 0x030B0000
    if (PF_LIKELY(pf_fast_frames))
        return pf_frame_lasti_fast(f);
    return PyFrame_GetLasti(f);
#else
    return pf_frame_lasti_fast(f);
#endif
}

/* Turns off line events for a frame under a C trace function (whose code is not
 * selected), so that it runs at call-mode cost. */
PF_INLINE void pf_frame_no_lines(PyFrameObject *f)
{
#if PY_VERSION_HEX >= 0x030B0000
    if (PF_LIKELY(pf_fast_frames))
        ((pf_frame311 *)f)->f_trace_lines = 0;
#else
    f->f_trace_lines = 0;
#endif
}

/* The line a PyTrace_LINE event is for. */
PF_INLINE int pf_frame_line(PyFrameObject *f)
{
#if PY_VERSION_HEX >= 0x030B0000
    return PyFrame_GetLineNumber(f);
#else
    return f->f_lineno;      /* set by the interpreter just before the LINE event */
#endif
}
/* The frame that called f, borrowed (its callee keeps it alive while it runs), or NULL. */
static inline PyFrameObject *pf_frame_back(PyFrameObject *f)
{
#if PY_VERSION_HEX >= 0x03090000
    PyFrameObject *b = PyFrame_GetBack(f);     /* new ref */
    Py_XDECREF(b);
    return b;
#else
    return f->f_back;
#endif
}

/* Another thread's hooks can be set from this one (_PyEval_SetProfile, 3.9+; the
 * thread must be waiting for the GIL, which the caller holds). */
#define PF_CAN_REARM_OTHER_THREADS (PY_VERSION_HEX >= 0x03090000)

/* The thread state of the thread ident in the calling thread's interpreter, or NULL. */
static inline PyThreadState *pf_thread_state_of(unsigned long ident)
{
    PyThreadState *me = PyThreadState_Get();
    if (me->thread_id == ident)
        return me;
    for (PyThreadState *t = PyInterpreterState_ThreadHead(me->interp); t != NULL;
         t = PyThreadState_Next(t))
        if (t->thread_id == ident)
            return t;
    return NULL;
}

/* The frame thread t is running, borrowed (t keeps it alive), or NULL. */
static inline PyFrameObject *pf_thread_frame(PyThreadState *t)
{
    if (t == PyThreadState_Get())
        return PyEval_GetFrame();
#if PF_CAN_REARM_OTHER_THREADS
    PyFrameObject *f = PyThreadState_GetFrame(t);     /* new ref */
    Py_XDECREF(f);
    return f;
#else
    return NULL;
#endif
}

/* Installs a profile function in thread t (the calling one, or on 3.9+ another). */
static inline void pf_set_profile_of(PyThreadState *t, Py_tracefunc func, PyObject *arg)
{
    if (t == PyThreadState_Get()) {
        PyEval_SetProfile(func, arg);
        return;
    }
#if PF_CAN_REARM_OTHER_THREADS
    if (_PyEval_SetProfile(t, func, arg) < 0)
        PyErr_Clear();
#endif
}

/* The calling thread's C profile function (PyEval_SetProfile's), or NULL. */
static inline Py_tracefunc pf_current_profile_func(void)
{
    return PyThreadState_Get()->c_profilefunc;
}

/* Calls a Python-level hook as sys.setprofile / sys.settrace do: func(frame, what, arg)
 * with the frame's locals synced around it.  New ref, or NULL with the exception set. */
static inline PyObject *pf_call_trampoline(PyObject *func, PyFrameObject *frame, PyObject *what,
                                           PyObject *arg)
{
    if (PyFrame_FastToLocalsWithError(frame) < 0)
        return NULL;
    PyObject *stack[3] = { (PyObject *)frame, what, arg != NULL ? arg : Py_None };
#if PY_VERSION_HEX >= 0x03090000
    PyObject *r = PyObject_Vectorcall(func, stack, 3, NULL);
#else
    PyObject *r = _PyObject_Vectorcall(func, stack, 3, NULL);
#endif
    PyFrame_LocalsToFast(frame, 1);
#if PY_VERSION_HEX < 0x030A0000
    if (r == NULL)
        PyTraceBack_Here(frame);
#endif
    return r;
}
#endif /* !PF_USE_MONITORING */

/* Checks the inline frame accessors above against the API on the frames running now
 * (the importer's) and enables them if they agree.  Returns whether they are on, or -1
 * where there are none (pf_fast_frames is defined by hook_profile.c). */
static inline int pf_compat_init(void)
{
#if PF_HAVE_FAST_FRAMES
    PyFrameObject *f = PyEval_GetFrame();            /* borrowed */
    int ok = f != NULL;
    for (int n = 0; f != NULL && n < 8 && ok; n++) {
        PyCodeObject *code = PyFrame_GetCode(f);     /* new ref */
        pf_fast_frames = 1;
        int lineno = pf_frame_lineno_fast(f);
        ok = pf_frame_code(f) == code && pf_frame_lasti(f) == PyFrame_GetLasti(f)
             && (lineno == 0 || lineno == PyFrame_GetLineNumber(f));
        pf_fast_frames = 0;
        Py_DECREF(code);
        PyFrameObject *back = PyFrame_GetBack(f);   /* new ref */
        Py_XDECREF(back);                           /* the frame stays alive on the stack */
        f = back;
    }
    pf_fast_frames = ok;
    return ok;
#else
    return -1;
#endif
}

/* ---- frames of asyncio's and concurrent.futures' calls (collector/asynclink.c) ----
 * Both are read only as addresses (keys of the pending-link table), never
 * dereferenced, so a wrong read can cost a link, not a crash. */

/* The address of argument i (named name) of frame f, a Python function's frame that
 * has just started, or NULL.  <=3.11: f is the profile hook's frame; 3.12+: the
 * current frame (PyEval_GetFrame() in a PY_START callback).  May raise (the caller
 * saves and restores the pending exception) and make objects (the caller suspends
 * memory tracking). */
static inline void *pf_frame_arg(PyFrameObject *f, int i, PyObject *name)
{
    void *a = NULL;
#if PY_VERSION_HEX >= 0x030C0000
    (void)i;
    PyObject *v = PyFrame_GetVar(f, name);            /* new ref; the frame keeps one */
    a = v;
    Py_XDECREF(v);
#elif PY_VERSION_HEX >= 0x030B0000
    if (PF_LIKELY(pf_fast_frames))
        return ((pf_frame311 *)f)->f_frame->localsplus[i];
    PyObject *locals = PyFrame_GetLocals(f);          /* new ref */
    if (locals != NULL && PyDict_Check(locals))
        a = PyDict_GetItemWithError(locals, name);    /* borrowed */
    Py_XDECREF(locals);
#else
    (void)name;
    a = f->f_localsplus[i];
#endif
    return a;
}

/* The address of the coroutine (or generator) object whose frame f is, or NULL. */
static inline void *pf_frame_generator(PyFrameObject *f)
{
#if PY_VERSION_HEX >= 0x030B0000
    PyObject *g = PyFrame_GetGenerator(f);            /* new ref; the frame keeps one */
    Py_XDECREF(g);
    return g;
#else
    return f->f_gen;
#endif
}

#if !PF_USE_MONITORING
/* In a PyTrace_RETURN event of a coroutine's (generator's) frame: whether it is a
 * yield (the frame is suspended and will be resumed), not a return or an exception.
 * 3.8-3.9: ceval sets f_stacktop only when a yield suspends the frame; 3.10: f_state;
 * 3.11: YIELD_VALUE sets the generator's gi_frame_state to FRAME_SUSPENDED (-1 in
 * pycore_frame.h) before the event, a return leaves it FRAME_EXECUTING. */
static inline int pf_frame_yielded(PyFrameObject *f)
{
#if PY_VERSION_HEX >= 0x030B0000
    PyObject *g = PyFrame_GetGenerator(f);            /* new ref; the frame keeps one */
    int y = g != NULL && ((PyGenObject *)g)->gi_frame_state == -1;
    Py_XDECREF(g);
    return y;
#elif PY_VERSION_HEX >= 0x030A0000
    return f->f_state == FRAME_SUSPENDED;
#else
    return f->f_stacktop != NULL;
#endif
}
#endif

/* ---- code objects: fields read directly (borrowed references) ---- */

static inline PyObject *pf_code_filename(PyCodeObject *co)
{
    return co->co_filename;
}

static inline PyObject *pf_code_name(PyCodeObject *co)
{
    return co->co_name;
}

static inline int pf_code_firstlineno(PyCodeObject *co)
{
    return co->co_firstlineno;
}

/* co_flags (CO_COROUTINE...): read on every Python call, so inline. */
PF_INLINE int pf_code_flags(const void *co)
{
    return ((const PyCodeObject *)co)->co_flags;
}

/* co_qualname where the interpreter has one (3.11+), else co_name.  New ref. */
static inline PyObject *pf_code_qualname(PyCodeObject *co)
{
#if PY_VERSION_HEX >= 0x030B0000
    Py_INCREF(co->co_qualname);
    return co->co_qualname;
#else
    Py_INCREF(co->co_name);
    return co->co_name;
#endif
}

/* ---- C functions: PyCFunctionObject and method descriptor fields (borrowed) ---- */

static inline PyMethodDef *pf_cfunction_def(PyObject *f)
{
    return ((PyCFunctionObject *)f)->m_ml;
}

static inline PyObject *pf_cfunction_self(PyObject *f)
{
    return ((PyCFunctionObject *)f)->m_self;
}

static inline PyObject *pf_cfunction_module(PyObject *f)
{
    return ((PyCFunctionObject *)f)->m_module;
}

static inline PyMethodDef *pf_method_descr_def(PyObject *d)
{
    return ((PyMethodDescrObject *)d)->d_method;
}

static inline PyTypeObject *pf_method_descr_type(PyObject *d)
{
    return PyDescr_TYPE((PyMethodDescrObject *)d);
}

/* What type(self) has under name through its MRO, without calling a descriptor
 * (_PyType_Lookup).  Borrowed, or NULL; never raises. */
static inline PyObject *pf_type_lookup(PyTypeObject *type, PyObject *name)
{
    return _PyType_Lookup(type, name);
}

/* ---- pending exceptions ---- */

/* A pending exception set aside (pf_exc_save leaves none set; pf_exc_restore puts it
 * back, dropping any raised in between). */
typedef struct pf_exc {
#if PY_VERSION_HEX >= 0x030C0000
    PyObject *exc;
#else
    PyObject *type, *value, *tb;
#endif
} pf_exc;

static inline void pf_exc_save(pf_exc *e)
{
#if PY_VERSION_HEX >= 0x030C0000
    e->exc = PyErr_GetRaisedException();
#else
    PyErr_Fetch(&e->type, &e->value, &e->tb);
#endif
}

static inline void pf_exc_restore(pf_exc *e)
{
    PyErr_Clear();
#if PY_VERSION_HEX >= 0x030C0000
    PyErr_SetRaisedException(e->exc);
#else
    PyErr_Restore(e->type, e->value, e->tb);
#endif
}

#if PF_USE_MONITORING
/* A sys.monitoring callback's offset or line argument as an int32, -1 if it is not a
 * small int.  Reads the int inline (PyUnstable_Long_*): it runs on every event. */
PF_INLINE int32_t pf_monitoring_int(PyObject *o)
{
    if (PF_LIKELY(PyLong_CheckExact(o) && PyUnstable_Long_IsCompact((PyLongObject *)o)))
        return (int32_t)PyUnstable_Long_CompactValue((PyLongObject *)o);
    return -1;
}
#endif

/* ---- interpreters and module definitions ---- */

/* True in the main interpreter. */
static inline int pf_in_main_interpreter(void)
{
#if PY_VERSION_HEX >= 0x03090000
    return PyInterpreterState_Get() == PyInterpreterState_Main();
#else
    return PyThreadState_Get()->interp == PyInterpreterState_Main();
#endif
}

/* The module-definition slot that declares it cannot be loaded in a subinterpreter
 * (3.12+); older versions have no such slot: the module checks pf_in_main_interpreter. */
#if PY_VERSION_HEX >= 0x030C0000
#define PF_MOD_SINGLE_INTERPRETER_SLOT \
    { Py_mod_multiple_interpreters, Py_MOD_MULTIPLE_INTERPRETERS_NOT_SUPPORTED },
#else
#define PF_MOD_SINGLE_INTERPRETER_SLOT
#endif

#if PY_VERSION_HEX < 0x03090000
#define Py_IS_TYPE(ob, type) (Py_TYPE(ob) == (type))
#endif

#if PY_VERSION_HEX < 0x030A0000
static inline PyObject *pf_newref_(PyObject *o)
{
    Py_INCREF(o);
    return o;
}
#define Py_NewRef(o) pf_newref_((PyObject *)(o))
#endif

/* The Python recursion depth the thread's counter holds: frames (and, before 3.12,
 * recursive C calls) below the current point that count against the recursion limit.
 * pf_recursion_credit(ts, n) makes n of them not count (n < 0 takes the credit back):
 * the runner runs the program with its own frames credited, so the program recurses
 * exactly as deep as under plain python3 while sys.getrecursionlimit() is unchanged.
 * Every version's counter keeps the depth across sys.setrecursionlimit(). */
static inline int pf_recursion_depth(PyThreadState *ts)
{
#if PY_VERSION_HEX >= 0x030C0000
    return ts->py_recursion_limit - ts->py_recursion_remaining;
#elif PY_VERSION_HEX >= 0x030B0000
    return ts->recursion_limit - ts->recursion_remaining;
#else
    return ts->recursion_depth;
#endif
}

static inline void pf_recursion_credit(PyThreadState *ts, int n)
{
#if PY_VERSION_HEX >= 0x030C0000
    ts->py_recursion_remaining += n;
#elif PY_VERSION_HEX >= 0x030B0000
    ts->recursion_remaining += n;
#else
    ts->recursion_depth -= n;
#endif
}

#endif
