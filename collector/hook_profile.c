/* hook_profile.c: the event source of 3.8-3.11: PyEval_SetProfile per thread, with
 * the thread's pf_tstate as the hook's argument (no lookup per event), turning
 * interpreter events into pf_push/pf_pop on the thread's shadow stack.
 *
 * New threads get the hook from a callable given to threading.setprofile, which swaps
 * itself for the C hook at the thread's first event.  Call sites: the caller's frame is
 * the top entry's frame; its lasti is the CALL.  Lines (--lines or the profile
 * decorator): a C trace function next to the profile hook, with line events turned
 * off in frames whose code is not selected.
 *
 * Nothing here raises into the program: the hooks return 0 whatever happens, and the
 * slow paths that call into the C API save and restore a pending exception.  (The one
 * exception is the program's own hook, below: what it raises propagates as under plain
 * Python, and it is dropped as CPython drops it.)
 *
 * Living beside the program's hooks.  An interpreter thread has one profile and one
 * trace function.  While recording, sys.setprofile, sys.settrace, sys.getprofile,
 * sys.gettrace, threading.setprofile and threading.getprofile are replaced by C
 * functions of the same names: a Python-level hook the program installs is kept in its
 * thread state (user_profile, user_trace) and called by our hook after recording, with
 * the semantics of CPython's trampolines (frame locals synced, f_trace per frame for
 * the trace function, the hook dropped when it raises); get* return it, and removing
 * it leaves ours in place.  A C-level hook (cProfile's _lsprof calls PyEval_SetProfile
 * directly) cannot be chained: an audit hook on "sys.setprofile" notices it, the
 * thread's recording stops (a gap in meta.gaps once another hook is seen in its place)
 * and a watchdog trace function (calls only) re-arms ours at the thread's first event
 * after the program's hook is gone.  A thread that has a foreign C trace function
 * instead is re-armed by a pending call (the main thread's, which can set another
 * thread's hook on 3.9+ only).
 * The calls that were open across the gap are closed at its start and the frames that
 * are still running get a child "<pyflame: not recorded>" for the gap's time.
 */
#include "collector/hook.h"

#include "collector/asynclink.h"

#if !PF_USE_MONITORING

#if PF_HAVE_FAST_FRAMES
int pf_fast_frames = 0;
#endif

static int floor_mode = 0;

/* Set while we install hooks ourselves, so that the audit hook tells ours from the
 * program's. */
static __thread int in_ours;
#define SET_PROFILE(f, a) do { in_ours++; PyEval_SetProfile(f, a); in_ours--; } while (0)
#define SET_TRACE(f, a) do { in_ours++; PyEval_SetTrace(f, a); in_ours--; } while (0)

static int chain_profile(pf_tstate *ts, PyFrameObject *frame, int what, PyObject *arg);
static void watch(pf_tstate *ts, int own_trace);
static int watch_hook(PyObject *obj, PyFrameObject *frame, int what, PyObject *arg);
static int chain_trace(pf_tstate *ts, PyFrameObject *frame, int what, PyObject *arg);
static void give_back(pf_tstate *ts);

/* Line events are wanted (--lines, or a function was marked): <=3.11 installs the
 * trace function next to the profile hook. */
static int lines_hook_on = 0;

/* The profile hook's paths other than the common case, which profile_hook keeps free of
 * calls (pf_push_fast, pf_pop_fast: no registers to save there) and leaves by a tail
 * call to one of these. */

/* The line data of code, for the push of its frame: what the trace function's CALL
 * event looked up just before, else a lookup. */
PF_INLINE pf_lcode *lines_of(pf_tstate *ts, PyCodeObject *code)
{
    if (ts->next_code == code) {
        ts->next_code = NULL;
        return ts->next_lcode;
    }
    return pf_lines_lookup(ts->session, code);
}

/* PyTrace_CALL: a new node or thread, a task's root, lines, a young thread. */
static __attribute__((noinline)) int call_slow(pf_tstate *ts, PyFrameObject *frame,
                                               PyCodeObject *code, int32_t site, uint64_t now)
{
    uint32_t depth = ts->depth;
    /* a coroutine not resumed by an await chain: maybe a task's root (asynclink.h) */
    if (PF_UNLIKELY(pf_code_flags(code) & (CO_COROUTINE | CO_ITERABLE_COROUTINE))
        && (depth == 0 || !(pf_cct_flags(ts->stack[depth - 1].act.node) & PF_NODE_CORO)))
        pf_async_push_root(ts, code, site, frame, now);
    else
        pf_push(ts, code, site, PF_KEY_PYTHON, frame, NULL, NULL, now);
    if (PF_UNLIKELY(lines_hook_on) && ts->depth > depth)
        ts->stack[depth].lcode = lines_of(ts, code);
    if (PF_UNLIKELY(ts->depth <= 4))
        pf_hook_find_thread(ts);
    return 0;
}

/* --lines or a marked function: the line data of the activation just pushed at depth. */
static __attribute__((noinline)) int lines_attach(pf_tstate *ts, uint32_t depth,
                                                  PyCodeObject *code)
{
    ts->stack[depth].lcode = lines_of(ts, code);
    return 0;
}

static __attribute__((noinline)) int return_slow(pf_tstate *ts, PyFrameObject *frame,
                                                 uint64_t now)
{
    pf_pop_return(ts, pf_frame_code(frame), frame, now);
    return 0;
}

/* PyTrace_C_CALL and the C returns: a callable that is not exactly a builtin function
 * or method (a subclass, or not one at all), or a push or pop that needs pf_push/pf_pop. */
static __attribute__((noinline)) int c_event_slow(pf_tstate *ts, PyFrameObject *frame,
                                                  int what, PyObject *arg, uint64_t now)
{
    if (!PyCFunction_Check(arg))
        return 0;
    if (what == PyTrace_C_CALL) {
        int32_t site = -1;
        if (ts->depth && ts->stack[ts->depth - 1].frame == (void *)frame)
            site = pf_frame_lasti(frame);
        pf_push(ts, pf_cfunction_def(arg), site, PF_KEY_NATIVE, NULL, arg, NULL, now);
    } else
        pf_pop(ts, pf_cfunction_def(arg), now);
    return 0;
}

/* Builtin functions and methods: PyCFunction_Check without its call for subclasses. */
PF_INLINE int exact_cfunction(PyObject *arg)
{
#if PY_VERSION_HEX >= 0x03090000
    return Py_IS_TYPE(arg, &PyCFunction_Type) || Py_IS_TYPE(arg, &PyCMethod_Type);
#else
    return Py_TYPE(arg) == &PyCFunction_Type;
#endif
}

/* Records one event at now: the common cases inline and without calls, the others by a
 * tail call to the slow paths above.  fast: a constant, pf_frames_fast() is known true. */
PF_INLINE int record(pf_tstate *ts, PyFrameObject *frame, int what, PyObject *arg,
                     uint64_t now, int fast)
{
#define FRAME_CODE(f) (fast ? pf_frame_code_fast(f) : pf_frame_code(f))
#define FRAME_LASTI(f) (fast ? pf_frame_lasti_fast(f) : pf_frame_lasti(f))
    switch (what) {
    case PyTrace_CALL: {
        int32_t site = -1;
        uint32_t depth = ts->depth;
        if (depth) {
            pf_entry *top = &ts->stack[depth - 1];
            if (top->frame != NULL)
                site = FRAME_LASTI((PyFrameObject *)top->frame);
        }
        PyCodeObject *code = FRAME_CODE(frame);
        if (PF_LIKELY(!(pf_code_flags(code) & (CO_COROUTINE | CO_ITERABLE_COROUTINE))
                      && depth >= 4)
            && pf_push_fast(ts, code, site, frame, now))
            return PF_UNLIKELY(lines_hook_on) ? lines_attach(ts, depth, code) : 0;
        return call_slow(ts, frame, code, site, now);
    }
    case PyTrace_RETURN:
        if (PF_LIKELY(pf_pop_fast(ts, FRAME_CODE(frame), now)))
            return 0;
        return return_slow(ts, frame, now);
    case PyTrace_C_CALL:
        if (PF_LIKELY(exact_cfunction(arg))) {
            int32_t site = -1;
            if (ts->depth && ts->stack[ts->depth - 1].frame == (void *)frame)
                site = FRAME_LASTI(frame);
            if (PF_LIKELY(pf_push_fast(ts, pf_cfunction_def(arg), site, NULL, now)))
                return 0;
        }
        return c_event_slow(ts, frame, what, arg, now);
    case PyTrace_C_RETURN:
    case PyTrace_C_EXCEPTION:
        if (PF_LIKELY(exact_cfunction(arg)) && PF_LIKELY(pf_pop_fast(ts, pf_cfunction_def(arg), now)))
            return 0;
        return c_event_slow(ts, frame, what, arg, now);
    default:
        return 0;
    }
#undef FRAME_CODE
#undef FRAME_LASTI
}

/* profile_hook's other cases: the thread's session has stopped, it is paused, the
 * program has its own profile function on it (chained after ours), or the clock is not
 * the TSC (a system call: it would cost the fast path its saved registers), or frames
 * must be read through the C API (a 3.11 of another layout). */
static __attribute__((noinline)) int hook_slow(pf_tstate *ts, PyFrameObject *frame, int what,
                                               PyObject *arg)
{
    if (ts->session == NULL) {
        /* its session has stopped: leave this thread for good */
        give_back(ts);
        return 0;
    }
    if (!ts->paused)
        record(ts, frame, what, arg, pf_now(), 0);
    return ts->user_profile != NULL ? chain_profile(ts, frame, what, arg) : 0;
}

#if PF_HAVE_TSC
/* The fast path's clock and frames: the TSC, and frames read directly (set at install). */
static int hook_fast = 0;
#endif

static int profile_hook(PyObject *obj, PyFrameObject *frame, int what, PyObject *arg)
{
    pf_tstate *ts = (pf_tstate *)obj;
#if PF_HAVE_TSC
    if (PF_LIKELY(hook_fast) && PF_LIKELY(ts->session != NULL && !ts->paused
                                          && ts->user_profile == NULL))
        return record(ts, frame, what, arg, __rdtsc(), 1);
#endif
    return hook_slow(ts, frame, what, arg);
}

/* The trace function (installed only when lines are recorded): LINE events of
 * selected code; unselected frames get their line events turned off at CALL.  The
 * common case (line_fast) makes no call; the others take line_slow. */
static __attribute__((noinline)) int line_slow(pf_tstate *ts, PyFrameObject *frame, int what,
                                               PyObject *arg)
{
    if (PF_UNLIKELY(ts->session == NULL)) {
        give_back(ts);
        return 0;
    }
    if (PF_UNLIKELY(ts->stopped))
        watch(ts, 0);                   /* a C profile hook of the program's holds the thread */
    if (PF_UNLIKELY(ts->paused || !lines_hook_on))
        ;
    else if (what == PyTrace_LINE) {
        if (ts->depth == 0)
            return 0;
        pf_entry *e = &ts->stack[ts->depth - 1];
        if (e->frame == (void *)frame && e->lcode != NULL) {
            int line = pf_frame_line(frame);
            pf_line_event(ts->session, e, line, pf_line_now(e));
            ts->msite->line = line > 0 ? (uint32_t)line : 0;
        }
    } else if (what == PyTrace_CALL) {
        /* CPython calls the trace function before the profile hook: the answer is kept
         * for the profile hook's push of this frame (lines_of), one probe per call */
        PyCodeObject *code = pf_frame_code(frame);
        pf_lcode *lc = pf_lines_lookup(ts->session, code);
        ts->next_code = code;
        ts->next_lcode = lc;
        if (ts->user_trace == NULL && lc == NULL)
            pf_frame_no_lines(frame);
    }
    if (PF_UNLIKELY(ts->user_trace != NULL))
        return chain_trace(ts, frame, what, arg);
    return 0;
}

#if PF_HAVE_TSC
/* A LINE event of the top entry's frame in the common case (pf_line_event_fast), with
 * frames read directly (hook_fast): recorded without a call, so that line_hook saves no
 * registers.  0 when line_slow must take the event. */
PF_INLINE int line_fast(pf_tstate *ts, PyFrameObject *frame, int what)
{
    if (PF_UNLIKELY(what != PyTrace_LINE || ts->session == NULL || ts->stopped || ts->paused
                    || !lines_hook_on || ts->user_trace != NULL || ts->depth == 0))
        return 0;
    pf_entry *e = &ts->stack[ts->depth - 1];
    return e->frame == (void *)frame && e->lcode != NULL
           && pf_line_event_fast(ts, e, pf_frame_lineno_fast(frame));
}
#endif

static int line_hook(PyObject *obj, PyFrameObject *frame, int what, PyObject *arg)
{
    pf_tstate *ts = (pf_tstate *)obj;
#if PF_HAVE_TSC
    if (PF_LIKELY(hook_fast) && PF_LIKELY(line_fast(ts, frame, what)))
        return 0;
#endif
    return line_slow(ts, frame, what, arg);
}

/* --floor: the same hooks doing nothing (the benchmarks' baseline).  Also the trace
 * function of --floor --lines: returning 0 keeps line events on in every frame, which is
 * what the cheapest possible line tracer costs. */
static int floor_hook(PyObject *obj, PyFrameObject *frame, int what, PyObject *arg)
{
    (void)obj; (void)frame; (void)what; (void)arg;
    return 0;
}

static PyObject *thread_user_profile = NULL;
static int coexist_install(void);
static void coexist_uninstall(void);
static pf_tstate *find_tstate(void);    /* new ref: the program's threading.setprofile */
static PyObject *saved_threading_hook = NULL;   /* new ref: threading._profile_hook before us */
static PyObject *bootstrap_callable = NULL;     /* new ref */

static void install_current(pf_tstate *ts)
{
    if (floor_mode) {
        SET_PROFILE(floor_hook, (PyObject *)ts);
        if (lines_hook_on)
            SET_TRACE(floor_hook, (PyObject *)ts);
        return;
    }
    SET_PROFILE(profile_hook, (PyObject *)ts);
    if (lines_hook_on || ts->user_trace != NULL)
        SET_TRACE(line_hook, (PyObject *)ts);
}

/* threading.setprofile(this): runs once per new thread, at its first event. */
static PyObject *thread_bootstrap(PyObject *self, PyObject *args)
{
    (void)self;
    PyObject *frame, *event, *arg;     /* borrowed */
    if (!PyArg_ParseTuple(args, "OOO", &frame, &event, &arg))
        return NULL;
    pf_tstate *ts = pf_hook_attach_current();
    if (ts == NULL) {
        SET_PROFILE(NULL, NULL);
        Py_RETURN_NONE;
    }
    if (thread_user_profile != NULL && ts->user_profile == NULL)
        ts->user_profile = Py_NewRef(thread_user_profile);   /* threading.setprofile's */
    install_current(ts);
    if (!floor_mode && PyFrame_Check(frame) && PyUnicode_Check(event)
        && PyUnicode_CompareWithASCIIString(event, "call") == 0)
        profile_hook((PyObject *)ts, (PyFrameObject *)frame, PyTrace_CALL, NULL);
    Py_RETURN_NONE;
}

static PyMethodDef thread_bootstrap_def = {
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
#if PF_HAVE_TSC
    hook_fast = pf_use_tsc && pf_frames_fast();
#endif
    pf_active = s;
    pf_tstate *ts = pf_hook_attach_current();
    if (ts == NULL) {
        pf_active = NULL;
        return PyErr_NoMemory(), -1;
    }
    if (bootstrap_callable == NULL) {
        bootstrap_callable = PyCFunction_New(&thread_bootstrap_def, NULL);
        if (bootstrap_callable == NULL)
            goto fail;
    }
    if (set_threading_hook(bootstrap_callable, &saved_threading_hook) < 0)
        goto fail;
    if (!floor && coexist_install() < 0)
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
    pf_exc exc;
    pf_exc_save(&exc);
    coexist_uninstall();
    pf_tstate *me = find_tstate();
    if (me != NULL)
        give_back(me);
    else {
        SET_PROFILE(NULL, NULL);
        SET_TRACE(NULL, NULL);
    }
    lines_hook_on = 0;
    PyObject *prev = saved_threading_hook;
    saved_threading_hook = NULL;
    if (prev == bootstrap_callable)
        Py_CLEAR(prev);
    if (set_threading_hook(prev, NULL) < 0)
        PyErr_Clear();
    Py_XDECREF(prev);
    pf_exc_restore(&exc);
    pf_active = NULL;
}

/* The calling thread's state in the active session, or NULL (never creates one). */
static pf_tstate *find_tstate(void)
{
    if (pf_active == NULL)
        return NULL;
    unsigned long me = PyThread_get_thread_ident();
    for (pf_tstate *ts = pf_active->threads; ts != NULL; ts = ts->next)
        if (ts->ident == me)
            return ts;
    return NULL;
}

static pf_tstate *current_tstate(void)
{
    if (pf_active == NULL)
        return NULL;
    unsigned long me = PyThread_get_thread_ident();
    for (pf_tstate *ts = pf_active->threads; ts != NULL; ts = ts->next)
        if (ts->ident == me)
            return ts;
    return pf_hook_attach_current();
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
    /* the program's own hooks (chained) keep running */
    if (ts == NULL || ts->user_profile == NULL)
        SET_PROFILE(NULL, NULL);
    if (ts == NULL || ts->user_trace == NULL)
        SET_TRACE(NULL, NULL);
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
            SET_TRACE(line_hook, (PyObject *)ts);
    }
    return 0;
}

void pf_hook_forget(void)
{
    SET_PROFILE(NULL, NULL);
    SET_TRACE(NULL, NULL);
    lines_hook_on = 0;
    Py_CLEAR(saved_threading_hook);
    if (set_threading_hook(NULL, NULL) < 0)
        PyErr_Clear();
    coexist_uninstall();
    pf_active = NULL;
}

int pf_hook_is_ours(const PyMethodDef *def)
{
    return def == &thread_bootstrap_def;
}


/* ---- living beside the program's hooks (see the top of the file) ---- */

static PyObject *what_str[8];       /* new refs: CPython's event names, by PyTrace_* value */
static PyObject *f_trace_str, *f_trace_lines_str;   /* new refs */

/* The originals our wrappers stand in for; new refs, kept for good (other threads may
 * still hand their hooks back through them after the session ends). */
enum { O_SETPROFILE, O_SETTRACE, O_GETPROFILE, O_GETTRACE, O_T_SETPROFILE, O_T_GETPROFILE, O_N };
static PyObject *orig[O_N];
static PyObject *wrapper[O_N];      /* new refs: ours, installed while recording */
static int audit_added = 0;

/* Calls the program's profile function as CPython's profile_trampoline does. */
static int chain_profile(pf_tstate *ts, PyFrameObject *frame, int what, PyObject *arg)
{
    if (what < 0 || what > 7)
        return 0;
    if (PF_UNLIKELY(ts->skip_c_return)) {
        /* plain Python sends no C_RETURN for the call that installed the function */
        ts->skip_c_return = 0;
        if (what == PyTrace_C_RETURN || what == PyTrace_C_EXCEPTION)
            return 0;
    }
    PyObject *func = Py_NewRef(ts->user_profile);
    PyObject *r = pf_call_trampoline(func, frame, what_str[what], arg);
    Py_DECREF(func);
    if (r == NULL) {
        Py_CLEAR(ts->user_profile);     /* dropped, as sys.setprofile's is when it raises */
        return -1;
    }
    Py_DECREF(r);
    return 0;
}

/* Calls the program's trace function as CPython's trace_trampoline does: the global
 * one for "call", the frame's f_trace for the other events. */
static int chain_trace(pf_tstate *ts, PyFrameObject *frame, int what, PyObject *arg)
{
    if (what < 0 || what > 7)
        return 0;
    PyObject *cb;    /* new ref */
    if (what == PyTrace_CALL)
        cb = Py_NewRef(ts->user_trace);
    else {
        cb = PyObject_GetAttr((PyObject *)frame, f_trace_str);
        if (cb == NULL) {
            PyErr_Clear();
            return 0;
        }
        if (cb == Py_None) {
            Py_DECREF(cb);
            return 0;
        }
    }
    PyObject *r = pf_call_trampoline(cb, frame, what_str[what], arg);
    Py_DECREF(cb);
    if (r == NULL) {
        Py_CLEAR(ts->user_trace);
        pf_exc exc;
        pf_exc_save(&exc);
        if (PyObject_SetAttr((PyObject *)frame, f_trace_str, Py_None) < 0)
            PyErr_Clear();
        pf_exc_restore(&exc);
        if (!lines_hook_on)
            SET_TRACE(NULL, NULL);
        return -1;
    }
    if (r != Py_None && PyObject_SetAttr((PyObject *)frame, f_trace_str, r) < 0)
        PyErr_Clear();
    Py_DECREF(r);
    return 0;
}

/* Session over: this thread gets the program's own hooks back, in plain form. */
static void give_back(pf_tstate *ts)
{
    PyObject *p = ts->user_profile, *t = ts->user_trace;    /* new refs, taken */
    ts->user_profile = ts->user_trace = NULL;
    SET_PROFILE(NULL, NULL);
    SET_TRACE(NULL, NULL);
    if (p == NULL && t == NULL)
        return;
    pf_exc exc;
    pf_exc_save(&exc);
    in_ours++;
    if (p != NULL && orig[O_SETPROFILE] != NULL) {
        PyObject *r = PyObject_CallFunctionObjArgs(orig[O_SETPROFILE], p, NULL);
        if (r == NULL)
            PyErr_Clear();
        Py_XDECREF(r);
    }
    if (t != NULL && orig[O_SETTRACE] != NULL) {
        PyObject *r = PyObject_CallFunctionObjArgs(orig[O_SETTRACE], t, NULL);
        if (r == NULL)
            PyErr_Clear();
        Py_XDECREF(r);
    }
    in_ours--;
    pf_exc_restore(&exc);
    Py_XDECREF(p);
    Py_XDECREF(t);
}

static PyObject *forward(int which, PyObject *arg)     /* new ref */
{
    if (orig[which] == NULL)
        return PyErr_Format(PyExc_RuntimeError, "pyflame: lost the original function"), NULL;
    in_ours++;
    PyObject *r = arg != NULL ? PyObject_CallFunctionObjArgs(orig[which], arg, NULL)
                              : PyObject_CallObject(orig[which], NULL);
    in_ours--;
    return r;
}

/* The recording thread whose hooks the wrappers manage, or NULL (not recording). */
static pf_tstate *managed(void)
{
    return pf_active != NULL && !floor_mode ? current_tstate() : NULL;
}

static void rearm(pf_tstate *ts, PyThreadState *tst);

static PyObject *w_setprofile(PyObject *self, PyObject *func)
{
    (void)self;
    pf_tstate *ts = managed();
    if (ts == NULL || func == bootstrap_callable)
        return forward(O_SETPROFILE, func);
    ts->skip_c_return = ts->user_profile == NULL && func != Py_None;
    Py_XSETREF(ts->user_profile, func == Py_None ? NULL : Py_NewRef(func));
    if (ts->stopped)
        rearm(ts, PyThreadState_Get());  /* it replaces a C hook (cProfile's): ours again */
    else if (ts->paused && ts->user_profile == NULL)
        SET_PROFILE(NULL, NULL);
    else
        SET_PROFILE(profile_hook, (PyObject *)ts);
    Py_RETURN_NONE;
}

/* Line events back on in the running frames (ours turned them off where no line was
 * selected): a trace function installed now sees them there, as under plain Python. */
static void lines_on_stack(void)
{
    for (PyFrameObject *f = PyEval_GetFrame(); f != NULL; f = pf_frame_back(f))
        if (PyObject_SetAttr((PyObject *)f, f_trace_lines_str, Py_True) < 0)
            PyErr_Clear();
}

static PyObject *w_settrace(PyObject *self, PyObject *func)
{
    (void)self;
    pf_tstate *ts = managed();
    if (ts == NULL)
        return forward(O_SETTRACE, func);
    Py_XSETREF(ts->user_trace, func == Py_None ? NULL : Py_NewRef(func));
    if (ts->user_trace != NULL) {
        if (lines_hook_on)
            lines_on_stack();
        SET_TRACE(line_hook, (PyObject *)ts);
    } else if (!lines_hook_on || ts->paused)
        SET_TRACE(NULL, NULL);
    Py_RETURN_NONE;
}

static PyObject *w_getprofile(PyObject *self, PyObject *noargs)
{
    (void)self; (void)noargs;
    pf_tstate *ts = managed();
    if (ts == NULL || pf_current_profile_func() != profile_hook)
        return forward(O_GETPROFILE, NULL);
    return Py_NewRef(ts->user_profile ? ts->user_profile : Py_None);
}

static PyObject *w_gettrace(PyObject *self, PyObject *noargs)
{
    (void)self; (void)noargs;
    pf_tstate *ts = managed();
    Py_tracefunc cur = PyThreadState_Get()->c_tracefunc;
    if (ts == NULL || (cur != line_hook && cur != watch_hook))
        return forward(O_GETTRACE, NULL);
    return Py_NewRef(ts->user_trace ? ts->user_trace : Py_None);
}

/* threading.setprofile: threads started from now on get func, chained to ours. */
static PyObject *w_t_setprofile(PyObject *self, PyObject *func)
{
    (void)self;
    if (managed() == NULL)
        return forward(O_T_SETPROFILE, func);
    Py_XSETREF(thread_user_profile, func == Py_None ? NULL : Py_NewRef(func));
    Py_RETURN_NONE;
}

static PyObject *w_t_getprofile(PyObject *self, PyObject *noargs)
{
    (void)self; (void)noargs;
    if (managed() == NULL)
        return forward(O_T_GETPROFILE, NULL);
    return Py_NewRef(thread_user_profile ? thread_user_profile : Py_None);
}

static PyMethodDef wrapper_defs[O_N] = {
    { "setprofile", w_setprofile, METH_O, NULL },
    { "settrace", w_settrace, METH_O, NULL },
    { "getprofile", w_getprofile, METH_NOARGS, NULL },
    { "gettrace", w_gettrace, METH_NOARGS, NULL },
    { "setprofile", w_t_setprofile, METH_O, NULL },
    { "getprofile", w_t_getprofile, METH_NOARGS, NULL },
};

/* ---- a C hook of the program's: gaps ---- */

static PyMethodDef gap_def = {
    "<pyflame: not recorded>", (PyCFunction)(void (*)(void))w_getprofile, METH_NOARGS,
    "Stands for the time a C profile hook of the program held the thread."
};
static PyObject *gap_callable = NULL;   /* new ref */

/* The program's C hook is gone: ours again on this thread.  Calls that were open
 * across the gap and have returned since close at its start; the frames still running
 * get the gap as a child; frames entered during the gap are opened now. */
static void rearm(pf_tstate *ts, PyThreadState *tst)
{
    pf_session *s = ts->session;
    uint64_t now = pf_now_of(ts);      /* recheck may re-arm another thread */
    uint64_t t0 = ts->stop_t0;
    ts->stopped = 0;
    enum { CAP = 512 };
    PyFrameObject *chain[CAP];          /* borrowed; [0] = innermost */
    int n = 0;
    pf_memhook_suspend();               /* frame objects made here are not the program's */
    for (PyFrameObject *f = pf_thread_frame(tst); f != NULL && n < CAP; f = pf_frame_back(f))
        chain[n++] = f;
    int k = n;                          /* chain index of the top entry's frame */
    while (ts->depth) {
        pf_entry *e = &ts->stack[ts->depth - 1];
        if (e->frame != NULL) {
            int j = 0;
            while (j < n && chain[j] != (PyFrameObject *)e->frame)
                j++;
            if (j < n || n == CAP) {
                k = j;
                break;
            }
        }
        pf_pop_top(ts, t0);
    }
    if (ts->gap && ts->depth && gap_callable != NULL) {
        pf_push(ts, &gap_def, -1, PF_KEY_NATIVE, NULL, gap_callable, NULL, t0);
        pf_pop(ts, &gap_def, now);
    }
    for (int j = (ts->depth ? k : 0) - 1; ts->depth && j >= 0; j--) {
        int32_t site = j + 1 < n ? pf_frame_lasti(chain[j + 1]) : -1;
        uint32_t depth = ts->depth;
        PyCodeObject *code = pf_frame_code(chain[j]);
        pf_push(ts, code, site, PF_KEY_PYTHON, chain[j], NULL, NULL, now);
        if (lines_hook_on && ts->depth > depth)
            ts->stack[depth].lcode = pf_lines_lookup(s, code);
    }
    pf_session_gap_close(s, ts, now);
    in_ours++;
    pf_set_profile_of(tst, profile_hook, (PyObject *)ts);
    in_ours--;
    pf_memhook_resume();
}

/* Our profile hook was replaced on this thread: re-arms it if the thread has no profile
 * hook any more, or notes the gap if another one holds it.  own_trace: the caller is
 * the watchdog trace function, which goes once the thread is recorded again. */
static void watch(pf_tstate *ts, int own_trace)
{
    Py_tracefunc f = pf_current_profile_func();
    if (f == NULL) {
        rearm(ts, PyThreadState_Get());
        if (own_trace)
            SET_TRACE(NULL, NULL);
    } else if (f != profile_hook && !ts->gap)
        pf_session_gap_open(ts->session, ts, ts->stop_t0, PF_GAP_C_PROFILE);
}

/* The watchdog: the trace function of a thread whose profile hook a C hook of the
 * program's took (cProfile's) and that had no trace function.  It sees calls (and the
 * lines of the frames that were running), so ours comes back at the first event after
 * the program's hook is removed, on any thread. */
static int watch_hook(PyObject *obj, PyFrameObject *frame, int what, PyObject *arg)
{
    (void)arg;
    pf_tstate *ts = (pf_tstate *)obj;
    if (ts->session == NULL || !ts->stopped) {
        SET_TRACE(NULL, NULL);
        return 0;
    }
    if (what == PyTrace_CALL)
        pf_frame_no_lines(frame);       /* calls are enough */
    watch(ts, 1);
    return 0;
}

static int recheck(void *arg)
{
    (void)arg;
    if (pf_active == NULL || floor_mode)
        return 0;
    /* Pending calls run on the main thread: it checks every stopped thread (3.9+; on
     * 3.8 only itself, as it cannot set another thread's hook). */
    PyThreadState *me = PyThreadState_Get();
    for (pf_tstate *ts = pf_active->threads; ts != NULL; ts = ts->next) {
        if (!ts->stopped)
            continue;
        PyThreadState *tst = pf_thread_state_of((unsigned long)ts->ident);
        if (tst == NULL || (!PF_CAN_REARM_OTHER_THREADS && tst != me))
            continue;
        if (tst->c_profilefunc == NULL)
            rearm(ts, tst);
        else if (tst->c_profilefunc != profile_hook && !ts->gap)
            pf_session_gap_open(ts->session, ts, ts->stop_t0, PF_GAP_C_PROFILE);
    }
    return 0;
}

/* PyEval_SetProfile raises "sys.setprofile" before it replaces the thread's hook. */
static int audit_hook(const char *event, PyObject *args, void *data)
{
    (void)args; (void)data;
    if (in_ours || pf_active == NULL || floor_mode || event[0] != 's'
        || strcmp(event, "sys.setprofile") != 0)
        return 0;
    PyThreadState *tst = PyThreadState_Get();
    if (tst->c_profilefunc == profile_hook) {
        /* ours is being replaced or removed: which one, the pending call will see */
        pf_tstate *ts = (pf_tstate *)tst->c_profileobj;
        if (ts->session != NULL && !ts->stopped) {
            ts->stopped = 1;
            ts->stop_t0 = pf_now();
            if (tst->c_tracefunc == NULL)
                SET_TRACE(watch_hook, (PyObject *)ts);
            Py_AddPendingCall(recheck, NULL);   /* for a thread that keeps a foreign trace function */
        }
        return 0;
    }
    pf_tstate *ts = find_tstate();
    if (ts != NULL && ts->stopped) {
        /* a hook of the program's ran in ours' place (now replaced or removed) */
        if (!ts->gap && tst->c_profilefunc != NULL)
            pf_session_gap_open(ts->session, ts, ts->stop_t0, PF_GAP_C_PROFILE);
        Py_AddPendingCall(recheck, NULL);
    }
    return 0;
}

static int swap_attr(PyObject *mod, const char *name, int which)
{
    PyObject *cur = PyObject_GetAttrString(mod, name);     /* new ref */
    if (cur == NULL) {
        PyErr_Clear();           /* threading.getprofile is 3.10+ */
        return 0;
    }
    if (wrapper[which] == NULL) {
        /* bound to the module, as the originals of sys are (__self__) */
        wrapper[which] = PyCFunction_NewEx(&wrapper_defs[which], mod, NULL);
        if (wrapper[which] == NULL) {
            Py_DECREF(cur);
            return -1;
        }
    }
    if (cur != wrapper[which])
        Py_XSETREF(orig[which], Py_NewRef(cur));
    Py_DECREF(cur);
    return PyObject_SetAttrString(mod, name, wrapper[which]);
}

static void restore_attr(PyObject *mod, const char *name, int which)
{
    PyObject *cur = PyObject_GetAttrString(mod, name);
    if (cur == NULL) {
        PyErr_Clear();
        return;
    }
    if (cur == wrapper[which] && orig[which] != NULL
        && PyObject_SetAttrString(mod, name, orig[which]) < 0)
        PyErr_Clear();
    Py_DECREF(cur);
}

static int coexist_install(void)
{
    static const char *names[8] = { "call", "exception", "line", "return", "c_call",
                                     "c_exception", "c_return", "opcode" };
    for (int i = 0; i < 8; i++)
        if (what_str[i] == NULL && (what_str[i] = PyUnicode_InternFromString(names[i])) == NULL)
            return -1;
    if (f_trace_str == NULL && (f_trace_str = PyUnicode_InternFromString("f_trace")) == NULL)
        return -1;
    if (f_trace_lines_str == NULL
        && (f_trace_lines_str = PyUnicode_InternFromString("f_trace_lines")) == NULL)
        return -1;
    if (gap_callable == NULL && (gap_callable = PyCFunction_New(&gap_def, NULL)) == NULL)
        return -1;
    if (!audit_added) {
        if (PySys_AddAuditHook(audit_hook, NULL) < 0)
            return -1;
        audit_added = 1;
    }
    PyObject *sys = PyImport_ImportModule("sys");             /* new ref */
    PyObject *threading = PyImport_ImportModule("threading"); /* new ref */
    int rc = -1;
    if (sys != NULL && threading != NULL
        && swap_attr(sys, "setprofile", O_SETPROFILE) == 0
        && swap_attr(sys, "settrace", O_SETTRACE) == 0
        && swap_attr(sys, "getprofile", O_GETPROFILE) == 0
        && swap_attr(sys, "gettrace", O_GETTRACE) == 0
        && swap_attr(threading, "setprofile", O_T_SETPROFILE) == 0
        && swap_attr(threading, "getprofile", O_T_GETPROFILE) == 0)
        rc = 0;
    Py_XDECREF(sys);
    Py_XDECREF(threading);
    return rc;
}

static void coexist_uninstall(void)
{
    pf_exc exc;
    pf_exc_save(&exc);
    PyObject *sys = PyImport_ImportModule("sys");
    PyObject *threading = PyImport_ImportModule("threading");
    if (sys != NULL) {
        restore_attr(sys, "setprofile", O_SETPROFILE);
        restore_attr(sys, "settrace", O_SETTRACE);
        restore_attr(sys, "getprofile", O_GETPROFILE);
        restore_attr(sys, "gettrace", O_GETTRACE);
    }
    if (threading != NULL) {
        restore_attr(threading, "setprofile", O_T_SETPROFILE);
        restore_attr(threading, "getprofile", O_T_GETPROFILE);
        /* the program's threading.setprofile goes back where plain Python keeps it */
        if (thread_user_profile != NULL && orig[O_T_SETPROFILE] != NULL) {
            PyObject *r = PyObject_CallFunctionObjArgs(orig[O_T_SETPROFILE], thread_user_profile, NULL);
            Py_XDECREF(r);
        }
    }
    Py_CLEAR(thread_user_profile);
    PyErr_Clear();
    Py_XDECREF(sys);
    Py_XDECREF(threading);
    pf_exc_restore(&exc);
}

#endif /* !PF_USE_MONITORING */
