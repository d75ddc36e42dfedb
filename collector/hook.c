/* hook.c: turning interpreter events into pf_push/pf_pop on the calling thread's
 * shadow stack.
 *
 * 3.8-3.11: PyEval_SetProfile per thread, with the thread's pf_tstate as the hook's
 * argument (no lookup per event).  New threads get it from a callable given to
 * threading.setprofile, which swaps itself for the C hook at the thread's first event.
 * Call sites: the caller's frame is the top entry's frame; its lasti is the CALL.
 *
 * 3.12+: sys.monitoring (PEP 669) with the events cProfile uses: PY_START, PY_RESUME,
 * PY_THROW open an activation, PY_RETURN, PY_YIELD, PY_UNWIND close it, CALL opens a C
 * function's (builtins and method descriptors, as cProfile counts them), C_RETURN and
 * C_RAISE close it.  The thread state is found through a thread-local pointer.  The
 * CALL event also gives the call site of the Python function whose PY_START follows.
 *
 * Nothing here raises into the program: callbacks return None/0 whatever happens,
 * and the slow paths that call into the C API save and restore a pending exception.
 */
#include "collector/hook.h"

#include "collector/names.h"

pf_session *pf_active = NULL;
PyTypeObject *pf_tstate_type = NULL;

static int floor_mode = 0;

/* Tries to find the threading.Thread object of ts's thread (for its name at stop). */
static void find_thread_object(pf_tstate *ts)
{
    ts->name_tries--;
    PyObject *mods = PyImport_GetModuleDict();                      /* borrowed */
    PyObject *threading = PyDict_GetItemString(mods, "threading");  /* borrowed */
    if (threading == NULL)
        return;
    PyObject *active = PyObject_GetAttrString(threading, "_active"); /* new ref */
    if (active != NULL && PyDict_Check(active)) {
        PyObject *ident = PyLong_FromUnsignedLongLong(ts->ident);     /* new ref */
        if (ident != NULL) {
            PyObject *th = PyDict_GetItemWithError(active, ident);    /* borrowed */
            if (th != NULL) {
                Py_INCREF(th);
                ts->thread = th;
            }
            Py_DECREF(ident);
        }
    }
    Py_XDECREF(active);
}

PF_INLINE void maybe_find_thread(pf_tstate *ts)
{
    if (PF_UNLIKELY(ts->thread == NULL) && ts->name_tries) {
        pf_memhook_suspend();
#if PY_VERSION_HEX >= 0x030C0000
        PyObject *exc = PyErr_GetRaisedException();
        find_thread_object(ts);
        PyErr_Clear();
        PyErr_SetRaisedException(exc);
#else
        PyObject *t, *v, *tb;
        PyErr_Fetch(&t, &v, &tb);
        find_thread_object(ts);
        PyErr_Clear();
        PyErr_Restore(t, v, tb);
#endif
        pf_memhook_resume();
    }
}

/* Creates the calling thread's state in the active session.  Borrowed, or NULL. */
static pf_tstate *attach_current(void)
{
    if (pf_active == NULL)
        return NULL;
    pf_tstate *ts = pf_tstate_create(pf_active, pf_tstate_type);
    if (ts != NULL)
        maybe_find_thread(ts);
    return ts;
}

#if !PF_USE_MONITORING
/* ======================= 3.8 - 3.11: the C profile hook ========================== */

/* Line events are wanted (--lines, or a function was marked): <=3.11 installs the
 * trace function next to the profile hook. */
static int lines_hook_on = 0;

static int profile_hook(PyObject *obj, PyFrameObject *frame, int what, PyObject *arg)
{
    pf_tstate *ts = (pf_tstate *)obj;
    if (PF_UNLIKELY(ts->session == NULL)) {
        /* its session has stopped: leave this thread for good */
        PyEval_SetProfile(NULL, NULL);
        return 0;
    }
    if (PF_UNLIKELY(ts->paused))
        return 0;
    uint64_t now = pf_now();
    switch (what) {
    case PyTrace_CALL: {
        int32_t site = -1;
        if (ts->depth) {
            pf_entry *top = &ts->stack[ts->depth - 1];
            if (top->frame != NULL)
                site = pf_frame_lasti((PyFrameObject *)top->frame);
        }
        uint32_t depth = ts->depth;
        PyCodeObject *code = pf_frame_code(frame);
        pf_push(ts, code, site, PF_KEY_PYTHON, frame, NULL, NULL, now);
        if (PF_UNLIKELY(lines_hook_on) && ts->depth > depth)
            ts->stack[depth].lcode = pf_lines_lookup(ts->session, code);
        if (PF_UNLIKELY(ts->depth <= 4))
            maybe_find_thread(ts);
        break;
    }
    case PyTrace_RETURN:
        pf_pop(ts, pf_frame_code(frame), now);
        break;
    case PyTrace_C_CALL:
        if (PyCFunction_Check(arg)) {
            int32_t site = -1;
            if (ts->depth && ts->stack[ts->depth - 1].frame == (void *)frame)
                site = pf_frame_lasti(frame);
            pf_push(ts, ((PyCFunctionObject *)arg)->m_ml, site, PF_KEY_NATIVE, NULL, arg, NULL, now);
        }
        break;
    case PyTrace_C_RETURN:
    case PyTrace_C_EXCEPTION:
        if (PyCFunction_Check(arg))
            pf_pop(ts, ((PyCFunctionObject *)arg)->m_ml, now);
        break;
    default:
        break;
    }
    return 0;
}

/* The trace function (installed only when lines are recorded): LINE events of
 * selected code; unselected frames get their line events turned off at CALL. */
static int line_hook(PyObject *obj, PyFrameObject *frame, int what, PyObject *arg)
{
    (void)arg;
    pf_tstate *ts = (pf_tstate *)obj;
    if (PF_UNLIKELY(ts->session == NULL)) {
        PyEval_SetTrace(NULL, NULL);
        return 0;
    }
    if (PF_UNLIKELY(ts->paused))
        return 0;
    if (what == PyTrace_LINE) {
        if (ts->depth == 0)
            return 0;
        pf_entry *e = &ts->stack[ts->depth - 1];
        if (e->frame == (void *)frame && e->lcode != NULL) {
            int line = pf_frame_line(frame);
            pf_line_event(ts->session, e, line, pf_now());
            ts->msite->line = line > 0 ? (uint32_t)line : 0;
        }
    } else if (what == PyTrace_CALL) {
        if (pf_lines_lookup(ts->session, pf_frame_code(frame)) == NULL)
            pf_frame_no_lines(frame);
    }
    return 0;
}

/* --floor: the same hooks doing nothing (the benchmarks' baseline).  Also the trace
 * function of --floor --lines: returning 0 keeps line events on in every frame, which is
 * what the cheapest possible line tracer costs. */
static int floor_hook(PyObject *obj, PyFrameObject *frame, int what, PyObject *arg)
{
    (void)obj; (void)frame; (void)what; (void)arg;
    return 0;
}

static PyObject *saved_threading_hook = NULL;   /* new ref: threading._profile_hook before us */
static PyObject *bootstrap_callable = NULL;     /* new ref */

static void install_current(pf_tstate *ts)
{
    if (floor_mode) {
        PyEval_SetProfile(floor_hook, (PyObject *)ts);
        if (lines_hook_on)
            PyEval_SetTrace(floor_hook, (PyObject *)ts);
        return;
    }
    PyEval_SetProfile(profile_hook, (PyObject *)ts);
    if (lines_hook_on)
        PyEval_SetTrace(line_hook, (PyObject *)ts);
}

/* threading.setprofile(this): runs once per new thread, at its first event. */
static PyObject *thread_bootstrap(PyObject *self, PyObject *args)
{
    (void)self;
    PyObject *frame, *event, *arg;     /* borrowed */
    if (!PyArg_ParseTuple(args, "OOO", &frame, &event, &arg))
        return NULL;
    pf_tstate *ts = attach_current();
    if (ts == NULL) {
        PyEval_SetProfile(NULL, NULL);
        Py_RETURN_NONE;
    }
    install_current(ts);
    if (!floor_mode && PyFrame_Check(frame) && PyUnicode_Check(event)
        && PyUnicode_CompareWithASCIIString(event, "call") == 0)
        profile_hook((PyObject *)ts, (PyFrameObject *)frame, PyTrace_CALL, NULL);
    Py_RETURN_NONE;
}

PyMethodDef pf_thread_bootstrap_def = {
    "_thread_bootstrap", thread_bootstrap, METH_VARARGS,
    "Installs pyflame's profile hook in a new thread (given to threading.setprofile)."
};

static int set_threading_hook(PyObject *value, PyObject **saved)
{
    PyObject *threading = PyImport_ImportModule("threading");   /* new ref */
    if (threading == NULL)
        return -1;
    if (saved != NULL) {
        *saved = PyObject_GetAttrString(threading, "_profile_hook");  /* new ref */
        if (*saved == NULL)
            PyErr_Clear();
    }
    PyObject *r = PyObject_CallMethod(threading, "setprofile", "O", value ? value : Py_None);
    Py_DECREF(threading);
    if (r == NULL)
        return -1;
    Py_DECREF(r);
    return 0;
}

int pf_hook_install(pf_session *s, int defer_current, int floor)
{
    floor_mode = floor;
    lines_hook_on = s->lines;
    pf_active = s;
    pf_tstate *ts = attach_current();
    if (ts == NULL) {
        pf_active = NULL;
        return PyErr_NoMemory(), -1;
    }
    if (bootstrap_callable == NULL) {
        bootstrap_callable = PyCFunction_New(&pf_thread_bootstrap_def, NULL);
        if (bootstrap_callable == NULL)
            goto fail;
    }
    if (set_threading_hook(bootstrap_callable, &saved_threading_hook) < 0)
        goto fail;
    if (defer_current)
        ts->paused = 1;
    else
        install_current(ts);
    return 0;
fail:
    pf_active = NULL;
    return -1;
}

void pf_hook_uninstall(void)
{
    if (pf_active == NULL)
        return;
    PyEval_SetProfile(NULL, NULL);
    PyEval_SetTrace(NULL, NULL);
    lines_hook_on = 0;
    PyObject *exc_t, *exc_v, *exc_tb;
    PyErr_Fetch(&exc_t, &exc_v, &exc_tb);
    PyObject *prev = saved_threading_hook;
    saved_threading_hook = NULL;
    if (prev == bootstrap_callable)
        Py_CLEAR(prev);
    if (set_threading_hook(prev, NULL) < 0)
        PyErr_Clear();
    Py_XDECREF(prev);
    PyErr_Restore(exc_t, exc_v, exc_tb);
    pf_active = NULL;
}

static pf_tstate *current_tstate(void)
{
    if (pf_active == NULL)
        return NULL;
    unsigned long me = PyThread_get_thread_ident();
    for (pf_tstate *ts = pf_active->threads; ts != NULL; ts = ts->next)
        if (ts->ident == me)
            return ts;
    return attach_current();
}

int pf_hook_resume_current(void)
{
    pf_tstate *ts = current_tstate();
    if (ts == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "pyflame: not collecting");
        return -1;
    }
    ts->paused = 0;
    install_current(ts);
    return 0;
}

void pf_hook_pause_current(void)
{
    pf_tstate *ts = current_tstate();
    if (ts != NULL) {
        ts->paused = 1;
        ts->msite->node = PF_MEM_NONE;    /* what runs now is not the program's */
        ts->msite->line = 0;
    }
    PyEval_SetProfile(NULL, NULL);
    PyEval_SetTrace(NULL, NULL);
}

int pf_hook_mark(PyObject *code)
{
    if (pf_active == NULL)
        return 0;
    if (pf_lines_mark(pf_active, code) == NULL)
        return 0;
    if (!lines_hook_on && !floor_mode) {
        lines_hook_on = 1;
        pf_tstate *ts = current_tstate();
        if (ts != NULL && !ts->paused)
            PyEval_SetTrace(line_hook, (PyObject *)ts);
    }
    return 0;
}

void pf_hook_forget(void)
{
    PyEval_SetProfile(NULL, NULL);
    PyEval_SetTrace(NULL, NULL);
    lines_hook_on = 0;
    Py_CLEAR(saved_threading_hook);
    if (set_threading_hook(NULL, NULL) < 0)
        PyErr_Clear();
    pf_active = NULL;
}

#else
/* ========================== 3.12+: sys.monitoring ================================ */

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

PyMethodDef pf_thread_bootstrap_def = { "_thread_bootstrap", NULL, 0, NULL };

static pf_tstate *tls_slow(void)
{
    pf_tstate *ts = NULL;
    if (pf_active != NULL)
        ts = attach_current();     /* a thread's first event in this session */
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

PF_INLINE int32_t offset_of(PyObject *o)
{
    if (PF_LIKELY(PyLong_CheckExact(o) && PyUnstable_Long_IsCompact((PyLongObject *)o)))
        return (int32_t)PyUnstable_Long_CompactValue((PyLongObject *)o);
    return -1;
}

/* The C function a CALL event's callable stands for, as cProfile decides it: a builtin
 * function/method, or a method descriptor called on an instance of its type. */
PF_INLINE PyMethodDef *builtin_def(PyObject *callable, PyObject *arg0)
{
    PyTypeObject *tp = Py_TYPE(callable);
    if (tp == &PyFunction_Type || tp == &PyMethod_Type)
        return NULL;
    if (tp == &PyCFunction_Type || tp == &PyCMethod_Type || PyCFunction_Check(callable))
        return ((PyCFunctionObject *)callable)->m_ml;
    if (tp == &PyMethodDescr_Type && arg0 != missing) {
        PyMethodDescrObject *d = (PyMethodDescrObject *)callable;
        if (PyObject_TypeCheck(arg0, PyDescr_TYPE(d)))
            return d->d_method;
    }
    return NULL;
}

/* Call site of a Python function entered without a CALL event just before (operators,
 * properties, generator resumption by FOR_ITER...): the caller frame's lasti, if the
 * caller is the top entry.  Materialises frame objects, but only on this path. */
static int32_t site_from_frames(pf_tstate *ts)
{
    PyFrameObject *f = PyEval_GetFrame();                  /* borrowed: the callee */
    if (f == NULL)
        return -1;
    PyFrameObject *back = PyFrame_GetBack(f);             /* new ref */
    if (back == NULL)
        return -1;
    int32_t site = -1;
    PyCodeObject *code = PyFrame_GetCode(back);           /* new ref */
    if ((void *)code == ts->stack[ts->depth - 1].node->key)
        site = PyFrame_GetLasti(back);
    Py_DECREF(code);
    Py_DECREF(back);
    return site;
}

static long line_bit = 0;

/* Turns on LINE events for a selected code object (once). */
static void arm(pf_lcode *lc)
{
    lc->armed = 1;
    if (tool_id < 0 || line_bit == 0)
        return;
    pf_memhook_suspend();
    PyObject *exc = PyErr_GetRaisedException();
    PyObject *mon = monitoring_module();
    if (mon != NULL) {
        PyObject *r = PyObject_CallMethod(mon, "set_local_events", "iOl", tool_id, lc->code, line_bit);
        Py_XDECREF(r);
        Py_DECREF(mon);
    }
    PyErr_Clear();
    PyErr_SetRaisedException(exc);
    pf_memhook_resume();
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
        pf_cnode *top = ts->stack[ts->depth - 1].node;
        if (top->kind == PF_KEY_PYTHON) {
            if (pending_code == top->key
                && (pending_callee == NULL || pending_callee == args[0]))
                site = pending_site;
            else {
                pf_memhook_suspend();          /* it may create frame objects */
                site = site_from_frames(ts);
                pf_memhook_resume();
            }
        }
    }
    pending_code = NULL;
    uint32_t depth = ts->depth;
    pf_push(ts, args[0], site, PF_KEY_PYTHON, NULL, NULL, NULL, now);
    pf_session *s = ts->session;
    if (PF_UNLIKELY(s->lines | s->lines_used) && ts->depth > depth) {
        pf_lcode *lc = pf_lines_lookup(s, args[0]);
        if (lc != NULL && PF_UNLIKELY(!lc->armed))
            arm(lc);
        ts->stack[depth].lcode = lc;
    }
    if (PF_UNLIKELY(ts->depth <= 4))   /* a new thread registers itself in threading early */
        maybe_find_thread(ts);
    RETURN_NONE;
}

static PyObject *on_line(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self; (void)nargs;
    pf_tstate *ts = current_ts();
    if (PF_UNLIKELY(ts == NULL || ts->paused || ts->depth == 0))
        RETURN_NONE;
    pf_entry *e = &ts->stack[ts->depth - 1];
    if (e->node->key == (void *)args[0] && e->lcode != NULL) {
        int32_t line = offset_of(args[1]);
        pf_line_event(ts->session, e, line, pf_now());
        ts->msite->line = line > 0 ? (uint32_t)line : 0;
    }
    RETURN_NONE;
}

static PyObject *on_py_leave(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self; (void)nargs;
    pf_tstate *ts = current_ts();
    if (PF_UNLIKELY(ts == NULL || ts->paused))
        RETURN_NONE;
    uint64_t now = pf_now();
    pending_code = NULL;
    pf_pop(ts, args[0], now);
    RETURN_NONE;
}

static PyObject *on_call(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self; (void)nargs;
    PyObject *callable = args[2];
    int32_t site = offset_of(args[1]);
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
    if (ts->depth == 0 || ts->stack[ts->depth - 1].node->key != (void *)args[0])
        site = -1;
    pf_push(ts, def, site, PF_KEY_NATIVE, NULL, args[2], args[3] == missing ? NULL : args[3], now);
    RETURN_NONE;
}

static PyObject *on_c_leave(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self; (void)nargs;
    pf_tstate *ts = current_ts();
    if (PF_UNLIKELY(ts == NULL || ts->paused))
        RETURN_NONE;
    pending_code = NULL;
    PyMethodDef *def = builtin_def(args[2], args[3]);
    if (def != NULL)
        pf_pop(ts, def, pf_now());
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
};

static const struct { const char *event; int cb; } event_map[] = {
    { "PY_START", 0 }, { "PY_RESUME", 0 }, { "PY_THROW", 0 },
    { "PY_RETURN", 1 }, { "PY_YIELD", 1 }, { "PY_UNWIND", 1 },
    { "CALL", 2 }, { "C_RETURN", 3 }, { "C_RAISE", 3 },
    { "LINE", 5 },     /* registered, but enabled only per selected code object */
};
#define NEVENTS (sizeof event_map / sizeof event_map[0])

#define PROFILER_ID 2

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
    Py_DECREF(events);
    Py_DECREF(mon);
    return 0;
fail_free:
    pf_active = NULL;
    generation++;
    {
        PyObject *x = PyObject_CallMethod(mon, "free_tool_id", "i", tool_id);
        Py_XDECREF(x);
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
    PyObject *exc = PyErr_GetRaisedException();
    PyObject *mon = monitoring_module();
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
    PyErr_Clear();
    PyErr_SetRaisedException(exc);
    tool_id = -1;
}

/* Turns LINE events off again on every code object this session armed. */
static void disarm_all(pf_session *s)
{
    if (tool_id < 0 || s == NULL)
        return;
    PyObject *exc = PyErr_GetRaisedException();
    PyObject *mon = monitoring_module();
    for (size_t i = 0; mon != NULL && i < s->cap_lslots; i++) {
        pf_lcode *lc = s->lslots[i].lc;
        if (s->lslots[i].key == NULL || lc == NULL || !lc->armed)
            continue;
        PyObject *r = PyObject_CallMethod(mon, "set_local_events", "iOi", tool_id, lc->code, 0);
        Py_XDECREF(r);
        lc->armed = 0;
    }
    Py_XDECREF(mon);
    PyErr_Clear();
    PyErr_SetRaisedException(exc);
}

void pf_hook_uninstall(void)
{
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
    disarm_all(pf_active);
    monitoring_off();
    pf_active = NULL;
    generation++;
}
#endif
