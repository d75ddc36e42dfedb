/* hook_monitoring.c: the event source of 3.12+: sys.monitoring (PEP 669) with the
 * events cProfile uses, turning them into pf_push/pf_pop on the calling thread's shadow
 * stack: PY_START, PY_RESUME, PY_THROW open an activation, PY_RETURN, PY_YIELD,
 * PY_UNWIND close it (the first and last also end a task, asynclink.h), CALL opens a
 * C function's (builtins and method descriptors, as cProfile counts them), C_RETURN
 * and C_RAISE close it.  The thread state is found
 * through a thread-local pointer.  The CALL event also gives the call site of the
 * Python function whose PY_START follows.  LINE events are enabled per selected code.
 *
 * Nothing here raises into the program: callbacks return None whatever happens, and
 * the slow paths that call into the C API save and restore a pending exception.
 */
#include "collector/hook.h"

#include "collector/asynclink.h"

#if PF_USE_MONITORING

static int floor_mode = 0;

/* None is immortal on 3.12+: returning it needs no reference count update. */
#define RETURN_NONE return Py_None

static PyObject *monitoring_module(void);

static __thread pf_tstate *tls_ts __attribute__((tls_model("initial-exec")));
/* The CALL event that precedes a PY_START gives the call site: code object that made
 * the CALL (borrowed, NULL = none pending), the code it calls if known (NULL = any),
 * and the CALL's offset.  Thread-local, so the CALL callback needs no thread state. */
static __thread void *pending_code __attribute__((tls_model("initial-exec")));
static __thread void *pending_callee __attribute__((tls_model("initial-exec")));
static __thread int32_t pending_site __attribute__((tls_model("initial-exec")));
static __thread uint64_t tls_gen __attribute__((tls_model("initial-exec")));
static uint64_t generation = 1;       /* bumped at every install/uninstall */
static int tool_id = -1;
static PyObject *missing = NULL;      /* new ref: sys.monitoring.MISSING */

static pf_tstate *tls_slow(void)
{
    pf_tstate *ts = NULL;
    if (pf_active != NULL)
        ts = pf_hook_attach_current();     /* a thread's first event in this session */
    tls_ts = ts;
    tls_gen = generation;
    return ts;
}

PF_INLINE pf_tstate *current_ts(void)
{
    if (PF_LIKELY(tls_gen == generation))
        return tls_ts;
    return tls_slow();
}

/* The C function a CALL event's callable stands for, as cProfile decides it: a builtin
 * function/method, or a method descriptor called on an instance of its type. */
PF_INLINE PyMethodDef *builtin_def(PyObject *callable, PyObject *arg0)
{
    PyTypeObject *tp = Py_TYPE(callable);
    if (tp == &PyFunction_Type || tp == &PyMethod_Type)
        return NULL;
    if (tp == &PyCFunction_Type || tp == &PyCMethod_Type || PyCFunction_Check(callable))
        return pf_cfunction_def(callable);
    if (tp == &PyMethodDescr_Type && arg0 != missing) {
        if (PyObject_TypeCheck(arg0, pf_method_descr_type(callable)))
            return pf_method_descr_def(callable);
    }
    return NULL;
}

/* The interpreter frames of the calling thread, read without making frame objects:
 * the thread state's current frame (public field) and its caller, the second field of
 * struct _PyInterpreterFrame in 3.12-3.15 (Include/internal/pycore_frame.h), read as an
 * address and only ever passed to the PyUnstable_InterpreterFrame_* API.  The layout is
 * checked against the frame objects' API when the hook is installed (frames_check);
 * iframes_ok says whether it agreed. */
static int iframes_ok = 0;

PF_INLINE struct _PyInterpreterFrame *iframe_current(void)
{
#if PY_VERSION_HEX >= 0x030D0000
    PyThreadState *t = PyThreadState_GetUnchecked();
    return t != NULL ? t->current_frame : NULL;
#else
    PyThreadState *t = _PyThreadState_UncheckedGet();
    return t != NULL && t->cframe != NULL ? t->cframe->current_frame : NULL;
#endif
}

PF_INLINE struct _PyInterpreterFrame *iframe_previous(struct _PyInterpreterFrame *f)
{
    return ((struct _PyInterpreterFrame *const *)(void *)f)[1];
}

/* Whether f runs code (compared as an address). */
static int iframe_runs(struct _PyInterpreterFrame *f, const void *code)
{
    PyObject *c = PyUnstable_InterpreterFrame_GetCode(f);     /* new ref */
    int r = (const void *)c == code;
    Py_XDECREF(c);
    return r;
}

/* Compares the interpreter frames read above with the frame objects of the running
 * frames (the installer's): the same code and offset at each of the first few
 * Python frames.  Makes frame objects: call it with memory tracking suspended. */
static int frames_check(void)
{
    struct _PyInterpreterFrame *f = iframe_current();
    PyFrameObject *fo = PyEval_GetFrame();                   /* borrowed */
    int ok = f != NULL && fo != NULL;
    Py_XINCREF(fo);
    for (int n = 0; ok && fo != NULL && n < 6; n++) {
        PyCodeObject *code = PyFrame_GetCode(fo);            /* new ref */
        /* entry frames of C-to-Python calls have no frame object: skip them */
        for (int k = 0; f != NULL && k < 3 && !iframe_runs(f, code); k++)
            f = iframe_previous(f);
        ok = f != NULL && PyUnstable_InterpreterFrame_GetLasti(f) == PyFrame_GetLasti(fo);
        Py_DECREF(code);
        PyFrameObject *back = PyFrame_GetBack(fo);          /* new ref */
        Py_DECREF(fo);
        fo = back;
        if (f != NULL)
            f = iframe_previous(f);
    }
    Py_XDECREF(fo);
    return ok;
}

/* Call site of a Python function entered without a CALL event just before (operators,
 * properties, generator resumption by FOR_ITER...): the caller frame's lasti, if the
 * caller is the top entry.  Reads the interpreter frames when the caller's is the
 * callee's previous one; else (an entry frame of a C-to-Python call in between, say)
 * asks the frame objects, which it materialises. */
static int32_t site_from_frames(pf_tstate *ts)
{
    const void *top = (const void *)ts->stack[ts->depth - 1].act.node->key;
    if (PF_LIKELY(iframes_ok)) {
        /* the common case: the caller's frame is the callee's previous one */
        struct _PyInterpreterFrame *f = iframe_current();    /* the callee's */
        if (f != NULL && (f = iframe_previous(f)) != NULL && iframe_runs(f, top))
            return PyUnstable_InterpreterFrame_GetLasti(f);
    }
    pf_memhook_suspend();                                  /* it may create frame objects */
    int32_t site = -1;
    PyFrameObject *f = PyEval_GetFrame();                  /* borrowed: the callee */
    PyFrameObject *back = f != NULL ? PyFrame_GetBack(f) : NULL;   /* new ref */
    if (back != NULL) {
        PyCodeObject *code = PyFrame_GetCode(back);        /* new ref */
        if ((const void *)code == top)
            site = PyFrame_GetLasti(back);
        Py_DECREF(code);
        Py_DECREF(back);
    }
    pf_memhook_resume();
    return site;
}

static long line_bit = 0;
static int ours_calling = 0;     /* our own sys.monitoring calls: the wrappers pass them through */

/* Turns on LINE events for a selected code object (once). */
static void arm(pf_lcode *lc)
{
    lc->armed = 1;
    if (tool_id < 0 || line_bit == 0)
        return;
    pf_memhook_suspend();
    pf_exc exc;
    pf_exc_save(&exc);
    PyObject *mon = monitoring_module();
    ours_calling++;
    if (mon != NULL) {
        PyObject *r = PyObject_CallMethod(mon, "set_local_events", "iOl", tool_id, lc->code, line_bit);
        Py_XDECREF(r);
        Py_DECREF(mon);
    }
    ours_calling--;
    pf_exc_restore(&exc);
    pf_memhook_resume();
}

/* on_py_enter's cases other than pf_push_fast's: a task's root, a new node, lines, a
 * young thread. */
static __attribute__((noinline)) PyObject *enter_slow(pf_tstate *ts, PyObject *code,
                                                      int32_t site, uint64_t now)
{
    uint32_t depth = ts->depth;
    /* a coroutine not resumed by an await chain: maybe a task's root (asynclink.h) */
    if (PF_UNLIKELY(pf_code_flags(code) & (CO_COROUTINE | CO_ITERABLE_COROUTINE))
        && (depth == 0 || !(pf_cct_flags(ts->stack[depth - 1].act.node) & PF_NODE_CORO)))
        pf_async_push_root(ts, code, site, NULL, now);
    else
        pf_push(ts, code, site, PF_KEY_PYTHON, NULL, NULL, NULL, now);
    pf_session *s = ts->session;
    if (PF_UNLIKELY(s->lines | (s->lines_selected != 0)) && ts->depth > depth) {
        pf_lcode *lc = pf_lines_lookup(s, code);
        if (lc != NULL && PF_UNLIKELY(!lc->armed))
            arm(lc);
        ts->stack[depth].lcode = lc;
    }
    if (PF_UNLIKELY(ts->depth <= 4))   /* a new thread registers itself in threading early */
        pf_hook_find_thread(ts);
    RETURN_NONE;
}

static PyObject *on_py_enter(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self; (void)nargs;
    pf_tstate *ts = current_ts();
    if (PF_UNLIKELY(ts == NULL || ts->paused))
        RETURN_NONE;
    uint64_t now = pf_now();
    int32_t site = -1;
    if (ts->depth) {
        pf_cct_node *top = ts->stack[ts->depth - 1].act.node;
        if (pf_cct_kind(top) == PF_KEY_PYTHON) {
            if ((uintptr_t)pending_code == top->key
                && (pending_callee == NULL || pending_callee == args[0]))
                site = pending_site;
            else
                site = site_from_frames(ts);
        }
    }
    pending_code = NULL;
    uint32_t depth = ts->depth;
    pf_session *s = ts->session;
    if (PF_LIKELY(!(pf_code_flags(args[0]) & (CO_COROUTINE | CO_ITERABLE_COROUTINE))
                  && depth >= 4 && !(s->lines | (s->lines_selected != 0)))
        && pf_push_fast(ts, args[0], site, NULL, now))
        RETURN_NONE;
    return enter_slow(ts, args[0], site, now);
}

/* LINE: on_line's cases other than the common one (line_fast). */
static __attribute__((noinline)) PyObject *line_slow(PyObject *const *args)
{
    pf_tstate *ts = current_ts();
    if (PF_UNLIKELY(ts == NULL || ts->paused || ts->depth == 0))
        RETURN_NONE;
    pf_entry *e = &ts->stack[ts->depth - 1];
    if (e->act.node->key == (uintptr_t)args[0] && e->lcode != NULL) {
        int32_t line = pf_monitoring_int(args[1]);
        pf_line_event(ts->session, e, line, pf_line_now(e));
        ts->msite->line = line > 0 ? (uint32_t)line : 0;
    }
    RETURN_NONE;
}

/* A LINE event in the common case (pf_line_event_fast), the thread known: recorded
 * without a call, so that on_line saves no registers.  0 when line_slow must take it. */
PF_INLINE int line_fast(PyObject *const *args)
{
#if PF_HAVE_TSC
    if (PF_UNLIKELY(!pf_use_tsc || tls_gen != generation))
        return 0;
    pf_tstate *ts = tls_ts;
    if (PF_UNLIKELY(ts == NULL || ts->paused || ts->depth == 0))
        return 0;
    pf_entry *e = &ts->stack[ts->depth - 1];
    return e->act.node->key == (uintptr_t)args[0] && e->lcode != NULL
           && pf_line_event_fast(ts, e, pf_monitoring_int(args[1]));
#else
    (void)args;
    return 0;
#endif
}

static PyObject *on_line(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self; (void)nargs;
    if (PF_LIKELY(line_fast(args)))
        RETURN_NONE;
    return line_slow(args);
}

static PyObject *on_py_leave(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self; (void)nargs;
    pf_tstate *ts = current_ts();
    if (PF_UNLIKELY(ts == NULL || ts->paused))
        RETURN_NONE;
    uint64_t now = pf_now();
    pending_code = NULL;
    if (PF_UNLIKELY(!pf_pop_fast(ts, args[0], now)))
        pf_pop(ts, args[0], now);
    RETURN_NONE;
}

/* PY_RETURN and PY_UNWIND: as on_py_leave, and a task's root coroutine that ends
 * takes its pending link with it (a yield keeps it: the task goes on). */
static PyObject *on_py_end(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self; (void)nargs;
    pf_tstate *ts = current_ts();
    if (PF_UNLIKELY(ts == NULL || ts->paused))
        RETURN_NONE;
    uint64_t now = pf_now();
    pending_code = NULL;
    if (PF_UNLIKELY(!pf_pop_fast(ts, args[0], now)))
        pf_pop_return(ts, args[0], NULL, now);
    RETURN_NONE;
}

static PyObject *on_call(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self; (void)nargs;
    PyObject *callable = args[2];
    int32_t site = pf_monitoring_int(args[1]);
    if (PF_LIKELY(Py_IS_TYPE(callable, &PyFunction_Type))) {
        /* the PY_START that follows (unless this creates a generator) is this call's */
        pending_code = args[0];
        pending_site = site;
        pending_callee = PyFunction_GET_CODE(callable);
        RETURN_NONE;
    }
    pf_tstate *ts = current_ts();
    if (PF_UNLIKELY(ts == NULL || ts->paused))
        RETURN_NONE;
    PyMethodDef *def = builtin_def(callable, args[3]);
    if (def == NULL) {
        pending_code = args[0];
        pending_site = site;
        pending_callee = NULL;     /* a class, a bound method...: any Python code */
        if (Py_IS_TYPE(callable, &PyMethod_Type)
            && Py_IS_TYPE(PyMethod_GET_FUNCTION(callable), &PyFunction_Type))
            pending_callee = PyFunction_GET_CODE(PyMethod_GET_FUNCTION(callable));
        RETURN_NONE;
    }
    uint64_t now = pf_now();
    pending_code = NULL;
    if (ts->depth == 0 || ts->stack[ts->depth - 1].act.node->key != (uintptr_t)args[0])
        site = -1;
    /* the entry keeps the callable (borrowed, compared only) for on_c_leave */
    if (PF_UNLIKELY(!pf_push_fast(ts, def, site, args[2], now)))
        pf_push(ts, def, site, PF_KEY_NATIVE, args[2], args[2], args[3] == missing ? NULL : args[3], now);
    RETURN_NONE;
}

static void install_pending_profile(void);
static PyObject *setprofile_wrapper = NULL;     /* new ref: our sys.setprofile */
/* A profile function the program gave sys.setprofile, installed at the call's C_RETURN */
static __thread PyObject *pending_profile __attribute__((tls_model("initial-exec")));

static PyObject *on_c_leave(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self; (void)nargs;
    if (PF_UNLIKELY(pending_profile != NULL) && args[2] == setprofile_wrapper)
        install_pending_profile();
    pf_tstate *ts = current_ts();
    if (PF_UNLIKELY(ts == NULL || ts->paused))
        RETURN_NONE;
    pending_code = NULL;
    /* the common case: the top entry is this callable's (on_call keeps it there), so
     * builtin_def's type tests need not be made again */
    uint32_t depth = ts->depth;
    if (PF_LIKELY(depth != 0 && ts->stack[depth - 1].frame == (void *)args[2])) {
        pf_pop_top(ts, pf_now());
        RETURN_NONE;
    }
    PyMethodDef *def = builtin_def(args[2], args[3]);
    if (def != NULL) {
        uint64_t now = pf_now();
        if (PF_UNLIKELY(!pf_pop_fast(ts, def, now)))
            pf_pop(ts, def, now);
    }
    RETURN_NONE;
}

static PyObject *on_nothing(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self; (void)args; (void)nargs;
    RETURN_NONE;
}

static PyMethodDef cb_defs[] = {
    { "py_enter", (PyCFunction)(void (*)(void))on_py_enter, METH_FASTCALL, NULL },
    { "py_leave", (PyCFunction)(void (*)(void))on_py_leave, METH_FASTCALL, NULL },
    { "call", (PyCFunction)(void (*)(void))on_call, METH_FASTCALL, NULL },
    { "c_leave", (PyCFunction)(void (*)(void))on_c_leave, METH_FASTCALL, NULL },
    { "nothing", (PyCFunction)(void (*)(void))on_nothing, METH_FASTCALL, NULL },
    { "line", (PyCFunction)(void (*)(void))on_line, METH_FASTCALL, NULL },
    { "py_end", (PyCFunction)(void (*)(void))on_py_end, METH_FASTCALL, NULL },
};

static const struct { const char *event; int cb; } event_map[] = {
    { "PY_START", 0 }, { "PY_RESUME", 0 }, { "PY_THROW", 0 },
    { "PY_RETURN", 6 }, { "PY_YIELD", 1 }, { "PY_UNWIND", 6 },
    { "CALL", 2 }, { "C_RETURN", 3 }, { "C_RAISE", 3 },
    { "LINE", 5 },     /* registered, but enabled only per selected code object */
};
#define NEVENTS (sizeof event_map / sizeof event_map[0])

#define PROFILER_ID 2

static long events_mask = 0;
static int wrap_monitoring(PyObject *mon);
static void unwrap_monitoring(void);

static PyObject *monitoring_module(void)   /* new ref */
{
    return PySys_GetObject("monitoring") ? Py_NewRef(PySys_GetObject("monitoring"))
                                         : PyImport_ImportModule("sys.monitoring");
}

static int event_bit(PyObject *events, const char *name, long *bit)
{
    PyObject *v = PyObject_GetAttrString(events, name);    /* new ref */
    if (v == NULL)
        return -1;
    *bit = PyLong_AsLong(v);
    Py_DECREF(v);
    return *bit == -1 && PyErr_Occurred() ? -1 : 0;
}

int pf_hook_install(pf_session *s, int defer_current, int floor)
{
    PyObject *mon = monitoring_module();      /* new ref */
    PyObject *events = NULL, *cb = NULL;
    if (mon == NULL)
        return -1;
    floor_mode = floor;
    pf_memhook_suspend();
    iframes_ok = frames_check();
    pf_memhook_resume();
    /* A free tool id.  Not cProfile's PROFILER_ID first: a program that runs cProfile
     * itself must not notice us, and cProfile insists on id 2.  Ids 3 and 4 have no
     * assigned user, so they are tried before the named ones. */
    int ids[] = { 4, 3, PROFILER_ID, 5, 1, 0 };
    tool_id = -1;
    for (size_t i = 0; i < sizeof ids / sizeof ids[0] && tool_id < 0; i++) {
        PyObject *r = PyObject_CallMethod(mon, "get_tool", "i", ids[i]);
        if (r == NULL)
            goto fail;
        if (r == Py_None)
            tool_id = ids[i];
        Py_DECREF(r);
    }
    if (tool_id < 0) {
        PyErr_SetString(PyExc_RuntimeError, "pyflame: every sys.monitoring tool id is in use");
        goto fail;
    }
    PyObject *r = PyObject_CallMethod(mon, "use_tool_id", "is", tool_id, "pyflame");
    if (r == NULL)
        goto fail;
    Py_DECREF(r);
    if (missing == NULL && (missing = PyObject_GetAttrString(mon, "MISSING")) == NULL)
        goto fail_free;
    events = PyObject_GetAttrString(mon, "events");
    if (events == NULL)
        goto fail_free;
    long mask = 0;
    for (size_t i = 0; i < NEVENTS; i++) {
        long bit;
        if (event_bit(events, event_map[i].event, &bit) < 0)
            goto fail_free;
        if (event_map[i].cb == 5)
            line_bit = bit;
        else
            mask |= bit;
        cb = PyCFunction_New(&cb_defs[floor ? 4 : event_map[i].cb], NULL);
        if (cb == NULL)
            goto fail_free;
        r = PyObject_CallMethod(mon, "register_callback", "ilO", tool_id, bit, cb);
        Py_CLEAR(cb);
        if (r == NULL)
            goto fail_free;
        Py_DECREF(r);
    }
    if (floor && s->lines)
        mask |= line_bit;     /* --floor --lines: a do-nothing LINE callback on every line */
    events_mask = mask;
    pf_active = s;
    generation++;
    pf_tstate *ts = tls_slow();
    if (ts == NULL) {
        PyErr_NoMemory();
        goto fail_free;
    }
    ts->paused = defer_current;
    r = PyObject_CallMethod(mon, "set_events", "il", tool_id, mask);
    if (r == NULL)
        goto fail_free;
    Py_DECREF(r);
    if (!floor && wrap_monitoring(mon) < 0)
        goto fail_free;
    Py_DECREF(events);
    Py_DECREF(mon);
    return 0;
fail_free:
    pf_active = NULL;
    generation++;
    {
        /* the error that brought us here stays the one raised: calling free_tool_id
         * with it pending would turn it into a SystemError (3.13+) */
        PyObject *type, *value, *tb;              /* new refs */
        PyErr_Fetch(&type, &value, &tb);
        PyObject *x = PyObject_CallMethod(mon, "free_tool_id", "i", tool_id);
        Py_XDECREF(x);
        PyErr_Clear();
        PyErr_Restore(type, value, tb);
    }
fail:
    pf_active = NULL;
    tool_id = -1;
    Py_XDECREF(events);
    Py_XDECREF(mon);
    return -1;
}

static void monitoring_off(void)
{
    if (tool_id < 0)
        return;
    pf_exc exc;
    pf_exc_save(&exc);
    PyObject *mon = monitoring_module();
    ours_calling++;
    if (mon != NULL) {
        PyObject *r = PyObject_CallMethod(mon, "set_events", "ii", tool_id, 0);
        Py_XDECREF(r);
        PyObject *events = PyObject_GetAttrString(mon, "events");
        for (size_t i = 0; events != NULL && i < NEVENTS; i++) {
            long bit;
            if (event_bit(events, event_map[i].event, &bit) < 0)
                break;
            r = PyObject_CallMethod(mon, "register_callback", "ilO", tool_id, bit, Py_None);
            Py_XDECREF(r);
        }
        Py_XDECREF(events);
        r = PyObject_CallMethod(mon, "free_tool_id", "i", tool_id);
        Py_XDECREF(r);
        Py_DECREF(mon);
    }
    ours_calling--;
    pf_exc_restore(&exc);
    tool_id = -1;
}

/* Turns LINE events off again on every code object this session armed. */
static void disarm_all(pf_session *s)
{
    if (tool_id < 0 || s == NULL)
        return;
    pf_exc exc;
    pf_exc_save(&exc);
    PyObject *mon = monitoring_module();
    ours_calling++;
    for (size_t i = 0; mon != NULL && i < s->nkeys; i++) {
        pf_lcode *lc = s->keys[i].lc;
        if (lc == NULL || !lc->armed)
            continue;
        PyObject *r = PyObject_CallMethod(mon, "set_local_events", "iOi", tool_id, lc->code, 0);
        Py_XDECREF(r);
        lc->armed = 0;
    }
    ours_calling--;
    Py_XDECREF(mon);
    pf_exc_restore(&exc);
}


/* ---- living beside the program's own sys.monitoring tools ----
 * While recording, the sys.monitoring functions that take a tool id are wrapped: when
 * the program names the id we hold (to take it, query it, free it...), we first move to
 * another free id, so the program sees that id free, as under plain Python.  With no
 * free id left, we give ours up: recording stops (a gap for every thread) and the
 * program gets the id. */

static const char *const wrapped_names[] = {
    "use_tool_id", "get_tool", "free_tool_id", "clear_tool_id", "set_events", "get_events",
    "register_callback", "set_local_events", "get_local_events",
};
#define NWRAPPED (sizeof wrapped_names / sizeof wrapped_names[0])
static PyObject *mon_orig[NWRAPPED];     /* new refs, or NULL where the function is missing */
static PyObject *mon_wrap[NWRAPPED];     /* new refs */
static int moving = 0;

/* Registers our callbacks and events on id (already taken) and re-arms line events. */
static int take_id(PyObject *mon, int id, long mask)
{
    PyObject *events = PyObject_GetAttrString(mon, "events");    /* new ref */
    if (events == NULL)
        return -1;
    for (size_t i = 0; i < NEVENTS; i++) {
        long bit;
        if (event_bit(events, event_map[i].event, &bit) < 0)
            goto fail;
        PyObject *cb = PyCFunction_New(&cb_defs[floor_mode ? 4 : event_map[i].cb], NULL);
        if (cb == NULL)
            goto fail;
        PyObject *r = PyObject_CallFunction(mon_orig[6], "ilO", id, bit, cb);
        Py_DECREF(cb);
        if (r == NULL)
            goto fail;
        Py_DECREF(r);
    }
    Py_DECREF(events);
    PyObject *r = PyObject_CallFunction(mon_orig[4], "il", id, mask);
    if (r == NULL)
        return -1;
    Py_DECREF(r);
    return 0;
fail:
    Py_DECREF(events);
    return -1;
}

/* Moves off the id the program named.  Never raises. */
static void move_away(PyObject *mon)
{
    if (moving || tool_id < 0 || mon_orig[0] == NULL || mon_orig[1] == NULL
        || mon_orig[4] == NULL || mon_orig[6] == NULL)
        return;
    moving = 1;
    pf_exc exc;
    pf_exc_save(&exc);
    pf_memhook_suspend();
    int ids[] = { 4, 3, 5, PROFILER_ID, 1, 0 };
    int to = -1;
    for (size_t i = 0; i < sizeof ids / sizeof ids[0] && to < 0; i++) {
        if (ids[i] == tool_id)
            continue;
        PyObject *r = PyObject_CallFunction(mon_orig[1], "i", ids[i]);
        if (r == NULL) {
            PyErr_Clear();
            continue;
        }
        if (r == Py_None)
            to = ids[i];
        Py_DECREF(r);
    }
    pf_session *s = pf_active;
    disarm_all(s);               /* line events off on the old id (armed flags cleared) */
    monitoring_off();            /* frees the old id; tool_id = -1 */
    if (to >= 0) {
        PyObject *r = PyObject_CallFunction(mon_orig[0], "is", to, "pyflame");
        if (r != NULL && take_id(mon, to, events_mask) == 0) {
            tool_id = to;
            for (size_t i = 0; s != NULL && i < s->nkeys; i++)
                if (s->keys[i].lc != NULL && s->keys[i].lc->code != NULL && s->keys[i].lc->n)
                    arm(s->keys[i].lc);
        }
        Py_XDECREF(r);
        PyErr_Clear();
    }
    if (tool_id < 0 && s != NULL)       /* said at stop, with the other gaps */
        pf_session_gap_open(s, NULL, pf_now(), PF_GAP_TOOL_ID);
    pf_memhook_resume();
    pf_exc_restore(&exc);
    moving = 0;
}

static PyObject *mon_wrapper(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    size_t which = (size_t)PyLong_AsSsize_t(self);
    if (which >= NWRAPPED || mon_orig[which] == NULL)
        return PyErr_Format(PyExc_RuntimeError, "pyflame: lost sys.monitoring function"), NULL;
    if (nargs >= 1 && tool_id >= 0 && !ours_calling && PyLong_CheckExact(args[0])
        && PyLong_AsLong(args[0]) == tool_id) {
        PyObject *mon = monitoring_module();
        if (mon != NULL) {
            move_away(mon);
            Py_DECREF(mon);
        }
        PyErr_Clear();
    }
    return PyObject_Vectorcall(mon_orig[which], args, (size_t)nargs, NULL);
}

static PyMethodDef mon_wrapper_defs[NWRAPPED];

/* sys.setprofile.  Its legacy profiler would get the C_RETURN of the very call that
 * installs it, because our CALL events instrument that call (plain Python sends none;
 * the profile module asserts on it).  So the function is installed from our own
 * C_RETURN callback, which runs before the legacy tool's and after that dispatch's
 * tools are chosen. */
static PyObject *orig_setprofile = NULL;        /* new ref */

static void install_pending_profile(void)
{
    PyObject *func = pending_profile;           /* new ref, taken */
    pending_profile = NULL;
    pf_exc exc;
    pf_exc_save(&exc);
    PyObject *r = PyObject_CallOneArg(orig_setprofile, func);
    if (r == NULL)
        PyErr_WriteUnraisable(orig_setprofile);
    Py_XDECREF(r);
    pf_exc_restore(&exc);
    Py_DECREF(func);
}

static PyObject *w_setprofile(PyObject *self, PyObject *func)
{
    (void)self;
    if (pending_profile != NULL)
        install_pending_profile();              /* an earlier call's, never returned through CALL */
    pf_tstate *ts = current_ts();
    if (func == Py_None || ts == NULL || ts->paused || tool_id < 0 || floor_mode)
        return PyObject_CallOneArg(orig_setprofile, func);
    if (PySys_Audit("sys.setprofile", NULL) < 0)
        return NULL;
    pending_profile = Py_NewRef(func);
    Py_RETURN_NONE;
}

static PyMethodDef setprofile_def = { "setprofile", w_setprofile, METH_O, NULL };

static int wrap_monitoring(PyObject *mon)
{
    PyObject *sys = PyImport_ImportModule("sys");             /* new ref */
    if (sys == NULL)
        return -1;
    PyObject *sp = PyObject_GetAttrString(sys, "setprofile");  /* new ref */
    if (sp == NULL) {
        Py_DECREF(sys);
        return -1;
    }
    if (setprofile_wrapper == NULL)
        setprofile_wrapper = PyCFunction_NewEx(&setprofile_def, sys, NULL);
    if (setprofile_wrapper != NULL && sp != setprofile_wrapper)
        Py_XSETREF(orig_setprofile, Py_NewRef(sp));
    Py_DECREF(sp);
    int rc = setprofile_wrapper == NULL ? -1
             : PyObject_SetAttrString(sys, "setprofile", setprofile_wrapper);
    Py_DECREF(sys);
    if (rc < 0)
        return -1;
    for (size_t i = 0; i < NWRAPPED; i++) {
        PyObject *cur = PyObject_GetAttrString(mon, wrapped_names[i]);   /* new ref */
        if (cur == NULL) {
            PyErr_Clear();
            continue;
        }
        if (mon_wrap[i] == NULL) {
            mon_wrapper_defs[i] = (PyMethodDef){ wrapped_names[i],
                (PyCFunction)(void (*)(void))mon_wrapper, METH_FASTCALL, NULL };
            PyObject *idx = PyLong_FromSsize_t((Py_ssize_t)i);
            if (idx == NULL) {
                Py_DECREF(cur);
                return -1;
            }
            mon_wrap[i] = PyCFunction_New(&mon_wrapper_defs[i], idx);
            Py_DECREF(idx);
            if (mon_wrap[i] == NULL) {
                Py_DECREF(cur);
                return -1;
            }
        }
        if (cur != mon_wrap[i])
            Py_XSETREF(mon_orig[i], Py_NewRef(cur));
        Py_DECREF(cur);
        if (PyObject_SetAttrString(mon, wrapped_names[i], mon_wrap[i]) < 0)
            return -1;
    }
    return 0;
}

static void unwrap_monitoring(void)
{
    pf_exc exc;
    pf_exc_save(&exc);
    if (pending_profile != NULL)
        install_pending_profile();
    PyObject *sys = PyImport_ImportModule("sys");
    if (sys != NULL) {
        PyObject *cur = PyObject_GetAttrString(sys, "setprofile");
        if (cur == setprofile_wrapper && orig_setprofile != NULL
            && PyObject_SetAttrString(sys, "setprofile", orig_setprofile) < 0)
            PyErr_Clear();
        Py_XDECREF(cur);
        Py_DECREF(sys);
    }
    PyErr_Clear();
    PyObject *mon = monitoring_module();
    for (size_t i = 0; mon != NULL && i < NWRAPPED; i++) {
        PyObject *cur = PyObject_GetAttrString(mon, wrapped_names[i]);
        if (cur == NULL) {
            PyErr_Clear();
            continue;
        }
        if (cur == mon_wrap[i] && mon_orig[i] != NULL
            && PyObject_SetAttrString(mon, wrapped_names[i], mon_orig[i]) < 0)
            PyErr_Clear();
        Py_DECREF(cur);
    }
    Py_XDECREF(mon);
    PyErr_Clear();
    pf_exc_restore(&exc);
}

void pf_hook_uninstall(void)
{
    unwrap_monitoring();
    disarm_all(pf_active);
    monitoring_off();
    pf_active = NULL;
    generation++;
}

int pf_hook_resume_current(void)
{
    pf_tstate *ts = current_ts();
    if (ts == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "pyflame: not collecting");
        return -1;
    }
    ts->paused = 0;
    return 0;
}

void pf_hook_pause_current(void)
{
    pf_tstate *ts = current_ts();
    if (ts != NULL) {
        ts->paused = 1;
        ts->msite->node = PF_MEM_NONE;    /* what runs now is not the program's */
        ts->msite->line = 0;
    }
}

int pf_hook_mark(PyObject *code)
{
    if (pf_active == NULL)
        return 0;
    pf_lcode *lc = pf_lines_mark(pf_active, code);
    if (lc != NULL && !lc->armed && !floor_mode)
        arm(lc);
    return 0;
}

void pf_hook_forget(void)
{
    unwrap_monitoring();
    disarm_all(pf_active);
    monitoring_off();
    pf_active = NULL;
    generation++;
}

int pf_hook_is_ours(const PyMethodDef *def)
{
    (void)def;
    return 0;
}

#endif /* PF_USE_MONITORING */
