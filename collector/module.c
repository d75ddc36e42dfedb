/* module.c: the pyflame._collector extension module: start/stop a recording session,
 * run the profiled program's code, and read a trace back (for pyflame.dump and tests).
 * The Python-facing API (pyflame.profile, start, stop) lives in pyflame/__init__.py.
 *
 * Structured like CPython's _lsprof.c: multi-phase init, a heap type for the per-thread
 * state.  The session itself is process-wide (pf_active in hook.c): interpreter hooks
 * are, too.
 */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "collector/hook.h"
#include "collector/memhook.h"
#include "collector/names.h"
#include "collector/session.h"
#include "formats/alloc.h"
#include "formats/trace.h"

static unsigned long main_ident;

unsigned long pf_main_thread_ident(void)
{
    return main_ident;
}

/* ---- the thread-state type ---- */

static void tstate_dealloc(PyObject *self)
{
    pf_tstate *ts = (pf_tstate *)self;
    PyTypeObject *tp = Py_TYPE(self);
    pf_free(ts->stack);
    Py_XDECREF(ts->thread);
    PyObject_Free(self);
    Py_DECREF(tp);
}

static PyType_Slot tstate_slots[] = {
    { Py_tp_dealloc, (void *)tstate_dealloc },
    { Py_tp_doc, (void *)"pyflame's per-thread recording state (internal)." },
    { 0, NULL },
};

static PyType_Spec tstate_spec = {
    "pyflame._collector.ThreadState", sizeof(pf_tstate), 0, Py_TPFLAGS_DEFAULT, tstate_slots,
};

/* ---- start / run / stop ---- */

/* Copies a list of str into a NULL-terminated array (NULL for None).  0 or -1. */
static int patterns(PyObject *list, char ***out)
{
    *out = NULL;
    if (list == NULL || list == Py_None)
        return 0;
    Py_ssize_t n = PyList_GET_SIZE(list);
    char **a = pf_calloc((size_t)n + 1, sizeof(char *));
    if (a == NULL)
        return -1;
    *out = a;
    for (Py_ssize_t i = 0; i < n; i++) {
        const char *u = PyUnicode_Check(PyList_GET_ITEM(list, i))
                        ? PyUnicode_AsUTF8(PyList_GET_ITEM(list, i)) : NULL;
        if (u == NULL) {
            if (!PyErr_Occurred())
                PyErr_SetString(PyExc_TypeError, "pyflame: include and exclude must be lists of str");
            return -1;
        }
        if ((a[i] = pf_strndup(u, strlen(u))) == NULL)
            return -1;
    }
    return 0;
}

static PyObject *m_mark(PyObject *mod, PyObject *code)
{
    (void)mod;
    if (!PyCode_Check(code)) {
        PyErr_SetString(PyExc_TypeError, "pyflame: mark() wants a code object");
        return NULL;
    }
    pf_hook_mark(code);
    Py_RETURN_NONE;
}

static PyObject *m_start(PyObject *mod, PyObject *args, PyObject *kw)
{
    (void)mod;
    static char *kwlist[] = { "path", "meta", "limit", "defer", "floor", "ours", "lines",
                              "root", "include", "exclude", "memory", NULL };
    const char *path;
    PyObject *meta = NULL;           /* borrowed */
    PyObject *include = NULL, *exclude = NULL;   /* borrowed */
    unsigned long long limit = 0;
    int defer = 0, floor = 0, lines = 0, memory = 0;
    const char *ours = NULL, *root = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "s|OKppzpzOOp:start", kwlist, &path, &meta, &limit,
                                     &defer, &floor, &ours, &lines, &root, &include, &exclude,
                                     &memory))
        return NULL;
    if ((include != NULL && include != Py_None && !PyList_Check(include))
        || (exclude != NULL && exclude != Py_None && !PyList_Check(exclude))) {
        PyErr_SetString(PyExc_TypeError, "pyflame: include and exclude must be lists of str");
        return NULL;
    }
    if (pf_active != NULL) {
        PyErr_SetString(PyExc_RuntimeError, "pyflame: a profile is already being collected");
        return NULL;
    }
    if (meta != NULL && meta != Py_None && !PyDict_Check(meta)) {
        PyErr_SetString(PyExc_TypeError, "pyflame: meta must be a dict");
        return NULL;
    }
    pf_session *s = pf_session_new(path, (size_t)limit);
    if (s == NULL)
        return NULL;
    if (meta != NULL && meta != Py_None) {
        Py_INCREF(meta);
        s->meta = meta;
    }
    if (ours != NULL) {
        s->ours_prefix = pf_strndup(ours, strlen(ours));
        s->ours_prefix_len = strlen(ours);
    }
    s->lines = lines;
    s->memory = memory && !floor;
    if ((root != NULL && (s->lines_root = pf_strndup(root, strlen(root))) == NULL)
        || patterns(include, &s->include) < 0 || patterns(exclude, &s->exclude) < 0) {
        pf_free((void *)s->ours_prefix);
        s->ours_prefix = NULL;
        pf_session_free(s);
        if (!PyErr_Occurred())
            PyErr_NoMemory();
        return NULL;
    }
    struct timespec wall;
    clock_gettime(CLOCK_REALTIME, &wall);
    s->start_unix_ns = (int64_t)wall.tv_sec * 1000000000 + wall.tv_nsec;
    s->clock_name = pf_clock_choose();
    s->mono_start = pf_mono_ns();
    s->t_start = pf_now();
    if (pf_hook_install(s, defer, floor) < 0) {
        pf_free((void *)s->ours_prefix);
        s->ours_prefix = NULL;
        pf_session_free(s);
        return NULL;
    }
    /* Last, so that none of the setup above is charged to the program.  The thread
     * state created by the install publishes its site from now on. */
    if (s->memory && pf_memhook_start() < 0) {
        pf_hook_forget();
        pf_free((void *)s->ours_prefix);
        s->ours_prefix = NULL;
        pf_session_free(s);
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *m_run(PyObject *mod, PyObject *args)
{
    (void)mod;
    PyObject *code, *globals;        /* borrowed */
    if (!PyArg_ParseTuple(args, "O!O!:run", &PyCode_Type, &code, &PyDict_Type, &globals))
        return NULL;
    if (pf_hook_resume_current() < 0)
        return NULL;
    PyObject *res = PyEval_EvalCode(code, globals, globals);   /* new ref */
    pf_hook_pause_current();
    return res;
}

static PyObject *m_stop(PyObject *mod, PyObject *noargs)
{
    (void)mod; (void)noargs;
    pf_session *s = pf_active;
    if (s == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "pyflame: not collecting");
        return NULL;
    }
    pf_memhook_stop();     /* first: what stop() allocates is not the program's */
    uint64_t now = pf_now();
    s->mono_stop = pf_mono_ns();
    pf_hook_uninstall();
    s->t_stop = now;
    pf_session_flush(s, now);
    uint64_t calls = 0;
    PyObject *res = NULL;
    pf_trace *t = pf_session_build_trace(s, &calls);
    if (t != NULL) {
        pf_error err;
        pf_error_clear(&err);
        if (pf_trace_write(t, s->path, &err) < 0) {
            PyErr_Format(PyExc_OSError, "pyflame: cannot write trace '%s': %s", s->path, err.msg);
        } else {
            struct stat st;
            long long size = stat(s->path, &st) == 0 ? (long long)st.st_size : -1;
            res = Py_BuildValue("{s:s,s:L,s:K,s:O,s:K,s:K,s:I,s:K}", "path", s->path, "size", size,
                                "calls", (unsigned long long)calls,
                                "oom", t->meta.flags & PF_FLAG_OUT_OF_MEMORY ? Py_True : Py_False,
                                "nodes", (unsigned long long)t->nnodes,
                                "profiler_bytes", (unsigned long long)t->meta.profiler_bytes,
                                "threads", (unsigned int)t->nthreads,
                                "peak_live_bytes", (unsigned long long)t->meta.peak_live_bytes);
        }
        pf_trace_free(t);
    }
    pf_memhook_release();
    pf_free((void *)s->ours_prefix);
    s->ours_prefix = NULL;
    pf_session_free(s);
    return res;
}

static PyObject *m_active(PyObject *mod, PyObject *noargs)
{
    (void)mod; (void)noargs;
    return PyBool_FromLong(pf_active != NULL);
}

static PyObject *m_forget(PyObject *mod, PyObject *noargs)
{
    (void)mod; (void)noargs;
    pf_session *s = pf_active;
    if (s == NULL)
        Py_RETURN_NONE;
    pf_memhook_stop();
    pf_memhook_release();
    pf_hook_forget();
    pf_free((void *)s->ours_prefix);
    s->ours_prefix = NULL;
    pf_session_free(s);
    Py_RETURN_NONE;
}

/* ---- reading a trace back (pyflame.dump, tests) ---- */

static PyObject *str_or_none(const char *s)
{
    if (s == NULL)
        Py_RETURN_NONE;
    return PyUnicode_DecodeUTF8(s, (Py_ssize_t)strlen(s), "surrogateescape");
}

static PyObject *str_list(char **list, uint32_t n)
{
    PyObject *l = PyList_New(n);
    for (uint32_t i = 0; l != NULL && i < n; i++) {
        PyObject *v = str_or_none(list[i]);
        if (v == NULL) {
            Py_CLEAR(l);
            break;
        }
        PyList_SET_ITEM(l, i, v);
    }
    return l;
}

static PyObject *tstr(const pf_trace *t, uint32_t id)
{
    size_t len = 0;
    const char *s = pf_strtab_get(t->strings, id, &len);
    if (s == NULL)
        Py_RETURN_NONE;
    return PyUnicode_DecodeUTF8(s, (Py_ssize_t)len, "surrogateescape");
}

static int set_item(PyObject *d, const char *k, PyObject *v)   /* steals v */
{
    if (v == NULL)
        return -1;
    int r = PyDict_SetItemString(d, k, v);
    Py_DECREF(v);
    return r;
}

static PyObject *trace_to_dict(const pf_trace *t)
{
    const pf_meta *m = &t->meta;
    PyObject *d = PyDict_New(), *meta = PyDict_New(), *codes = NULL, *threads = NULL, *nodes = NULL;
    if (d == NULL || meta == NULL)
        goto fail;
    if (set_item(meta, "format_version", PyLong_FromUnsignedLong(m->format_version)) < 0
        || set_item(meta, "python_version", str_or_none(m->python_version)) < 0
        || set_item(meta, "python_executable", str_or_none(m->python_executable)) < 0
        || set_item(meta, "argv", str_list(m->argv, m->argc)) < 0
        || set_item(meta, "cwd", str_or_none(m->cwd)) < 0
        || set_item(meta, "path", str_list(m->path, m->npath)) < 0
        || set_item(meta, "start_unix_ns", PyLong_FromLongLong(m->start_unix_ns)) < 0
        || set_item(meta, "duration_ns", PyLong_FromUnsignedLongLong(m->duration_ns)) < 0
        || set_item(meta, "clock", str_or_none(m->clock)) < 0
        || set_item(meta, "modes", PyLong_FromUnsignedLong(m->modes)) < 0
        || set_item(meta, "flags", PyLong_FromUnsignedLong(m->flags)) < 0
        || set_item(meta, "pid", PyLong_FromUnsignedLongLong(m->pid)) < 0
        || set_item(meta, "hostname", str_or_none(m->hostname)) < 0
        || set_item(meta, "total_calls", PyLong_FromUnsignedLongLong(m->total_calls)) < 0
        || set_item(meta, "profiler_bytes", PyLong_FromUnsignedLongLong(m->profiler_bytes)) < 0
        || set_item(meta, "peak_live_bytes", PyLong_FromUnsignedLongLong(m->peak_live_bytes)) < 0)
        goto fail;
    if (set_item(d, "meta", meta) < 0) {
        meta = NULL;
        goto fail;
    }
    meta = NULL;
    codes = PyList_New(t->ncodes);
    if (codes == NULL)
        goto fail;
    for (uint32_t i = 0; i < t->ncodes; i++) {
        const pf_code *c = &t->codes[i];
        PyObject *v = Py_BuildValue("{s:N,s:N,s:N,s:I,s:s}", "file", tstr(t, c->file),
                                    "name", tstr(t, c->name), "qualname", tstr(t, c->qualname),
                                    "first_line", c->first_line,
                                    "kind", c->kind == PF_CODE_NATIVE ? "native" : "python");
        if (v == NULL)
            goto fail;
        PyList_SET_ITEM(codes, i, v);
    }
    threads = PyList_New(t->nthreads);
    if (threads == NULL)
        goto fail;
    for (uint32_t i = 0; i < t->nthreads; i++) {
        PyObject *v = Py_BuildValue("{s:K,s:N}", "ident", (unsigned long long)t->threads[i].ident,
                                    "name", tstr(t, t->threads[i].name));
        if (v == NULL)
            goto fail;
        PyList_SET_ITEM(threads, i, v);
    }
    nodes = PyList_New(t->nnodes);
    if (nodes == NULL)
        goto fail;
    for (uint32_t i = 0; i < t->nnodes; i++) {
        const pf_node *n = &t->nodes[i];
        PyObject *parent = n->parent == PF_NONE ? Py_NewRef(Py_None) : PyLong_FromUnsignedLong(n->parent);
        PyObject *v = Py_BuildValue("{s:N,s:I,s:I,s:I,s:K,s:K,s:K}", "parent", parent,
                                    "thread", n->thread, "code", n->code, "call_line", n->call_line,
                                    "calls", (unsigned long long)n->calls,
                                    "total_ns", (unsigned long long)n->total_ns,
                                    "self_ns", (unsigned long long)n->self_ns);
        if (v == NULL)
            goto fail;
        PyList_SET_ITEM(nodes, i, v);
    }
    if (set_item(d, "codes", codes) < 0 || set_item(d, "threads", threads) < 0
        || set_item(d, "nodes", nodes) < 0) {
        codes = threads = nodes = NULL;
        goto fail;
    }
    return d;
fail:
    Py_XDECREF(meta);
    Py_XDECREF(codes);
    Py_XDECREF(threads);
    Py_XDECREF(nodes);
    Py_XDECREF(d);
    return NULL;
}

static PyObject *m_read_trace(PyObject *mod, PyObject *args)
{
    (void)mod;
    PyObject *pathobj;
    if (!PyArg_ParseTuple(args, "O&:read_trace", PyUnicode_FSConverter, &pathobj))
        return NULL;
    pf_error err;
    pf_error_clear(&err);
    pf_trace *t = pf_trace_read(PyBytes_AS_STRING(pathobj), &err);
    if (t == NULL) {
        PyErr_Format(PyExc_ValueError, "%s: %s", PyBytes_AS_STRING(pathobj), err.msg);
        Py_DECREF(pathobj);
        return NULL;
    }
    Py_DECREF(pathobj);
    PyObject *d = NULL;
    if (pf_trace_validate(t, &err) < 0)
        PyErr_Format(PyExc_ValueError, "invalid trace: %s", err.msg);
    else
        d = trace_to_dict(t);
    pf_trace_free(t);
    return d;
}

static PyMethodDef methods[] = {
    { "start", (PyCFunction)(void (*)(void))m_start, METH_VARARGS | METH_KEYWORDS,
      "start(path, meta=None, limit=0, defer=False, floor=False, ours=None, lines=False,\n"
      "      root=None, include=None, exclude=None, memory=False)\n"
      "Starts recording every thread; the trace goes to path at stop()." },
    { "run", m_run, METH_VARARGS,
      "run(code, globals): runs code with the calling thread recorded (used by the runner)." },
    { "stop", m_stop, METH_NOARGS,
      "stop() -> dict: stops recording, writes the trace, returns a summary." },
    { "mark", m_mark, METH_O,
      "mark(code): records the lines of code (the profile decorator); no-op when not collecting." },
    { "active", m_active, METH_NOARGS, "active() -> bool: whether a session is recording." },
    { "forget", m_forget, METH_NOARGS,
      "forget(): in a forked child, drops the inherited session without writing it." },
    { "read_trace", m_read_trace, METH_VARARGS,
      "read_trace(path) -> dict: a trace file as Python data (meta, codes, threads, nodes)." },
    { NULL, NULL, 0, NULL },
};

int pf_native_is_ours(const PyMethodDef *def)
{
    for (const PyMethodDef *m = methods; m->ml_name != NULL; m++)
        if (m == def)
            return 1;
    return def == &pf_thread_bootstrap_def;
}

#if !PF_USE_MONITORING && PY_VERSION_HEX >= 0x030B0000
int pf_fast_frames = 0;

/* Enables the inline frame accessors of compat.h if they agree with the API on the
 * frames currently running (the importer's). */
static void compat_check(void)
{
    PyFrameObject *f = PyEval_GetFrame();            /* borrowed */
    int ok = f != NULL;
    for (int n = 0; f != NULL && n < 8 && ok; n++) {
        PyCodeObject *code = PyFrame_GetCode(f);     /* new ref */
        pf_fast_frames = 1;
        ok = pf_frame_code(f) == code && pf_frame_lasti(f) == PyFrame_GetLasti(f);
        pf_fast_frames = 0;
        Py_DECREF(code);
        PyFrameObject *back = PyFrame_GetBack(f);   /* new ref */
        Py_XDECREF(back);                           /* the frame stays alive on the stack */
        f = back;
    }
    pf_fast_frames = ok;
}
#else
static void compat_check(void)
{
}
#endif

static int module_exec(PyObject *mod)
{
    main_ident = PyThread_get_thread_ident();
    compat_check();
    if (pf_tstate_type == NULL) {
        pf_tstate_type = (PyTypeObject *)PyType_FromSpec(&tstate_spec);
        if (pf_tstate_type == NULL)
            return -1;
    }
    Py_INCREF(pf_tstate_type);
    if (PyModule_AddObject(mod, "ThreadState", (PyObject *)pf_tstate_type) < 0) {
        Py_DECREF(pf_tstate_type);
        return -1;
    }
    if (PyModule_AddIntConstant(mod, "MONITORING", PF_USE_MONITORING) < 0)
        return -1;
#if !PF_USE_MONITORING && PY_VERSION_HEX >= 0x030B0000
    if (PyModule_AddIntConstant(mod, "FAST_FRAMES", pf_fast_frames) < 0)
        return -1;
#endif
    return 0;
}

static PyModuleDef_Slot slots[] = {
    { Py_mod_exec, (void *)module_exec },
    { 0, NULL },
};

static struct PyModuleDef moduledef = {
    PyModuleDef_HEAD_INIT, "pyflame._collector",
    "pyflame's collector: records Python and C calls into a calling-context tree.",
    0, methods, slots, NULL, NULL, NULL,
};

/* The one exported symbol (everything else is hidden by -fvisibility=hidden; older
 * PyMODINIT_FUNC definitions do not mark it visible themselves). */
__attribute__((visibility("default"))) PyMODINIT_FUNC PyInit__collector(void);
__attribute__((visibility("default"))) PyMODINIT_FUNC PyInit__collector(void)
{
    return PyModuleDef_Init(&moduledef);
}
