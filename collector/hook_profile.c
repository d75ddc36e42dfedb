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
 * slow paths that call into the C API save and restore a pending exception.
 */
#include "collector/hook.h"

#if !PF_USE_MONITORING

#if PF_HAVE_FAST_FRAMES
int pf_fast_frames = 0;
#endif

static int floor_mode = 0;

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
            pf_hook_find_thread(ts);
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
            pf_push(ts, pf_cfunction_def(arg), site, PF_KEY_NATIVE, NULL, arg, NULL, now);
        }
        break;
    case PyTrace_C_RETURN:
    case PyTrace_C_EXCEPTION:
        if (PyCFunction_Check(arg))
            pf_pop(ts, pf_cfunction_def(arg), now);
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
    pf_tstate *ts = pf_hook_attach_current();
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
    pf_exc exc;
    pf_exc_save(&exc);
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

int pf_hook_is_ours(const PyMethodDef *def)
{
    return def == &thread_bootstrap_def;
}

#endif /* !PF_USE_MONITORING */
