/* module.c: the pyflame._collector extension module: start/stop a recording session,
 * run the profiled program's code, and read a trace back (for pyflame.dump and tests).
 * The Python-facing API (pyflame.profile, start, stop) lives in pyflame/__init__.py.
 * Dependencies go one way: module -> hook (event sources) -> session -> cct.
 *
 * Structured like CPython's _lsprof.c: multi-phase init, module state holding the heap
 * type of the per-thread state.  The session itself is process-wide (pf_active in
 * hook.c), as the interpreter hooks are (a profile hook per thread, sys.monitoring per
 * interpreter, the allocator hooks per process); so the module is supported in the main
 * interpreter only: importing it in a subinterpreter raises ImportError, rather than
 * letting a subinterpreter's session be seen, stopped and written from another.
 */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "collector/hook.h"
#include "collector/memhook.h"
#include "collector/names.h"
#include "collector/nativehook.h"
#include "collector/sampleinfo.h"
#include "collector/session.h"
#include "collector/snapshot.h"
#include "formats/alloc.h"
#include "formats/trace.h"

/* Module state. */
typedef struct modstate {
    PyTypeObject *tstate_type;      /* new ref: ThreadState */
    unsigned long main_ident;       /* the thread that imported the module */
} modstate;

/* The session records no event itself: `collect --sample` reads the stacks from outside
 * (cli/sampler.h); the session only keeps the process's metadata, snapshots and RSS. */
static int sample_mode = 0;

/* Drops the session's event source: the hooks, or in sample mode only pf_active. */
static void hooks_forget(void)
{
    if (sample_mode)
        pf_active = NULL;
    else
        pf_hook_forget();
}

static modstate *state_of(PyObject *mod)
{
    return (modstate *)PyModule_GetState(mod);
}

static int native_is_ours(const PyMethodDef *def);

/* ---- the thread-state type ---- */

static void tstate_dealloc(PyObject *self)
{
    pf_tstate *ts = (pf_tstate *)self;
    PyTypeObject *tp = Py_TYPE(self);
    pf_free(ts->stack);
    Py_XDECREF(ts->thread);
    Py_XDECREF(ts->user_profile);
    Py_XDECREF(ts->user_trace);
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

/* A start that failed under a memory limit: the limit was below what the collector
 * needs to start (its tables, the thread states, the allocation tables with memory),
 * which the parts report as a MemoryError or a bare failure.  Replaces that by a
 * ValueError that says so; any other error stays.  Returns NULL. */
static PyObject *limit_too_small(unsigned long long limit)
{
    if (limit != 0 && (!PyErr_Occurred() || PyErr_ExceptionMatches(PyExc_MemoryError))) {
        PyErr_Clear();
        PyErr_Format(PyExc_ValueError, "pyflame: a memory limit of %llu bytes is below what "
                     "the collector needs to start (about 100 KB, 400 KB with memory "
                     "tracking); give 0 for no limit, or a few MB", limit);
    } else if (!PyErr_Occurred()) {
        PyErr_SetString(PyExc_MemoryError, "pyflame: out of memory while starting");
    }
    return NULL;
}

static PyObject *m_start(PyObject *mod, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = { "path", "meta", "limit", "defer", "floor", "ours", "lines",
                              "root", "include", "exclude", "memory", "command", "ppid",
                              "forked", "snapshot", "term", "clock", "native", "sample", NULL };
    const char *path;
    PyObject *meta = NULL;           /* borrowed */
    PyObject *include = NULL, *exclude = NULL;   /* borrowed */
    unsigned long long limit = 0, ppid = 0;
    int defer = 0, floor = 0, lines = 0, memory = 0, forked = 0, term = 0, native = 0;
    int sample = 0;
    double snapshot = 0;
    const char *ours = NULL, *command = NULL, *clock = NULL;
    PyObject *root = NULL;           /* borrowed */
    if (!PyArg_ParseTupleAndKeywords(args, kw, "s|OKppzpOOOpzKpdpzpp:start", kwlist, &path,
                                     &meta, &limit, &defer, &floor, &ours, &lines, &root,
                                     &include, &exclude, &memory, &command, &ppid, &forked,
                                     &snapshot, &term, &clock, &native, &sample))
        return NULL;
    int cpu = clock != NULL && strcmp(clock, "cpu") == 0;
    if (clock != NULL && !cpu && strcmp(clock, "wall") != 0) {
        PyErr_Format(PyExc_ValueError, "pyflame: unknown clock '%s' (wall or cpu)", clock);
        return NULL;
    }
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
    modstate *st = state_of(mod);
    pf_session_config cfg = {
        .path = path, .limit = (size_t)limit, .meta = meta == Py_None ? NULL : meta,
        .ours = ours, .lines = lines && !sample, .memory = memory && !floor && !sample,
        .native = native, .cpu = cpu,
        .root = root,
        .include = include, .exclude = exclude, .main_ident = st->main_ident,
        .tstate_type = st->tstate_type, .native_is_ours = native_is_ours,
        .command = command, .ppid = ppid, .process_flags = forked ? PF_PROC_FORKED : 0,
    };
    pf_session *s = pf_session_new(&cfg);
    if (s == NULL)
        return limit_too_small(limit);
    struct timespec wall;
    clock_gettime(CLOCK_REALTIME, &wall);
    s->start_unix_ns = (int64_t)wall.tv_sec * 1000000000 + wall.tv_nsec;
    s->clock_name = pf_clock_choose(cpu);
    s->mono_start = pf_mono_ns();
    s->t_start = pf_now();
    sample_mode = sample;
    if (sample)
        pf_active = s;                /* no event source: the sampler reads from outside */
    else if (pf_hook_install(s, defer, floor) < 0) {
        pf_session_free(s);
        return limit_too_small(limit);
    }
    /* Last, so that none of the setup above is charged to the program.  The thread
     * state created by the install publishes its site from now on. */
    if (s->memory && pf_memhook_start(s->native) < 0) {
        /* Under collect (a process record), a machine where native tracking cannot work
         * still runs the program, with CPython's allocators only, and says so; through
         * the API the caller gets the error (and can ask for memory="python"). */
        if (!(s->native && command != NULL && PyErr_ExceptionMatches(PyExc_RuntimeError))) {
            hooks_forget();
            pf_session_free(s);
            return limit_too_small(limit);
        }
        PyObject *type, *value, *tb;              /* new refs */
        PyErr_Fetch(&type, &value, &tb);
        PyObject *msg = value ? PyObject_Str(value) : NULL;   /* new ref */
        const char *text = msg ? PyUnicode_AsUTF8(msg) : NULL;
        PyErr_Clear();
        fprintf(stderr, "pyflame-c: warning: %s; recording Python's allocators only\n",
                text ? text : "cannot track native memory");
        Py_XDECREF(msg);
        Py_XDECREF(type);
        Py_XDECREF(value);
        Py_XDECREF(tb);
        s->native = 0;
        if (pf_memhook_start(0) < 0) {
            hooks_forget();
            pf_session_free(s);
            return NULL;
        }
    }
    if (s->oom && limit != 0) {
        /* the limit was reached while starting: nothing could be recorded */
        pf_memhook_stop();
        pf_memhook_release();
        hooks_forget();
        pf_session_free(s);
        return limit_too_small(limit);
    }
    if (snapshot > 0 && pf_snapshot_start(s, snapshot, term) < 0) {
        pf_memhook_stop();
        pf_memhook_release();
        hooks_forget();
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
    /* sample mode has no hooks to resume: the sampler reads the stacks from outside */
    if (!sample_mode && pf_hook_resume_current() < 0)
        return NULL;
    /* The program's first frame at depth 1, as under plain python3: the runner's own
     * frames below it (the bootstrap, main(), this call) do not count. */
    PyThreadState *ts = PyThreadState_Get();
    int credit = pf_recursion_depth(ts);
    pf_recursion_credit(ts, credit);
    PyObject *res = PyEval_EvalCode(code, globals, globals);   /* new ref */
    pf_recursion_credit(ts, -credit);
    if (!sample_mode)
        pf_hook_pause_current();
    return res;
}

static PyObject *m_resume(PyObject *mod, PyObject *noargs)
{
    (void)mod; (void)noargs;
    if (sample_mode || pf_hook_resume_current() < 0) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_RuntimeError, "pyflame: not recording calls");
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *m_stop(PyObject *mod, PyObject *args, PyObject *kw)
{
    (void)mod;
    static char *kwlist[] = { "exit_code", NULL };
    PyObject *exit_code = Py_None;   /* borrowed */
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|O:stop", kwlist, &exit_code))
        return NULL;
    pf_session *s = pf_active;
    if (s == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "pyflame: not collecting");
        return NULL;
    }
    if (exit_code != Py_None) {
        long code = PyLong_AsLong(exit_code);
        if (code == -1 && PyErr_Occurred())
            return NULL;
        s->exit_code = (int32_t)(code & 0xff);      /* what the parent's wait() sees */
    }
    /* first, so that no snapshot runs while the session stops; a SIGTERM that comes
     * from here on ends the process once the full trace is written (pf_snapshot_end) */
    pf_snapshot_stop();
    int pending = pf_snapshot_pending();
    if (pending != 0) {
        s->exit_signal = pending;
        s->exit_code = PF_EXIT_UNKNOWN;
    }
    pf_memhook_stop();     /* first: what stop() allocates is not the program's */
    uint64_t now = pf_now();
    s->mono_stop = pf_mono_ns();
    if (sample_mode)
        pf_active = NULL;
    else
        pf_hook_uninstall();
    s->t_stop = now;
    pf_session_flush(s, now);
    uint64_t calls = 0;
    PyObject *res = NULL;
    uint32_t nnodes = 0;
    pf_trace *t = pf_session_build_trace(s, &calls, &nnodes);
    if (t != NULL) {
        pf_error err;
        pf_error_clear(&err);
        int written = pf_session_write(s, t, &err);
        pf_session_drop_tree(s);
        if (written < 0) {
            PyErr_Format(PyExc_OSError, "pyflame: cannot write trace '%s': %s", s->path, err.msg);
        } else {
            struct stat st;
            long long size = stat(s->path, &st) == 0 ? (long long)st.st_size : -1;
            res = Py_BuildValue("{s:s,s:L,s:K,s:O,s:K,s:K,s:I,s:K,s:K,s:O,s:I}", "path", s->path,
                                "size", size, "calls", (unsigned long long)calls,
                                "oom", t->meta.flags & PF_FLAG_OUT_OF_MEMORY ? Py_True : Py_False,
                                "nodes", (unsigned long long)nnodes,
                                "profiler_bytes", (unsigned long long)t->meta.profiler_bytes,
                                "threads", (unsigned int)t->nthreads,
                                "peak_live_bytes", (unsigned long long)t->meta.peak_live_bytes,
                                "peak_native_bytes", (unsigned long long)t->meta.peak_native_bytes,
                                "lines", t->meta.modes & PF_MODE_LINES ? Py_True : Py_False,
                                "lines_selected", (unsigned int)s->lines_selected);
            /* when recording stopped because of a hook of the program (meta.gaps) */
            PyObject *gaps = res != NULL ? PyList_New(0) : NULL;    /* new ref */
            for (uint32_t i = 0; gaps != NULL && i < t->meta.ngaps; i++) {
                char g[256];
                pf_trace_gap_describe(t, i, g, sizeof g);
                PyObject *str = PyUnicode_DecodeUTF8(g, (Py_ssize_t)strlen(g), "replace");
                if (str == NULL || PyList_Append(gaps, str) < 0)
                    Py_CLEAR(gaps);
                Py_XDECREF(str);
            }
            if (gaps == NULL || PyDict_SetItemString(res, "gaps", gaps) < 0)
                Py_CLEAR(res);
            Py_XDECREF(gaps);
            /* with native memory: what the native hooks patched (objects, slots, refused) */
            if (res != NULL && s->native) {
                pf_nativehook_stats ns;
                pf_nativehook_get_stats(&ns);
                PyObject *nd = Py_BuildValue("{s:I,s:I,s:I}", "objects", ns.objects,
                                             "slots", ns.slots, "refused", ns.refused);
                if (nd == NULL || PyDict_SetItemString(res, "native", nd) < 0)
                    Py_CLEAR(res);
                Py_XDECREF(nd);
            }
        }
        pf_trace_free(t);
    }
    pf_memhook_release();
    pf_session_free(s);
    pf_snapshot_end();
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
    pf_snapshot_forget();
    pf_memhook_stop();
    pf_memhook_release();
    hooks_forget();
    pf_session_free(s);
    Py_RETURN_NONE;
}

static PyObject *m_sample_info(PyObject *mod, PyObject *args)
{
    const char *path, *extra = NULL;
    if (!PyArg_ParseTuple(args, "s|z:sample_info", &path, &extra))
        return NULL;
    if (pf_sampleinfo_write(path, state_of(mod)->main_ident, extra) < 0)
        return PyErr_SetFromErrnoWithFilename(PyExc_OSError, path);
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
        || set_item(meta, "peak_live_bytes", PyLong_FromUnsignedLongLong(m->peak_live_bytes)) < 0
        || set_item(meta, "peak_native_bytes", PyLong_FromUnsignedLongLong(m->peak_native_bytes)) < 0
        || set_item(meta, "exit_code", m->exit_code == PF_EXIT_UNKNOWN ? Py_NewRef(Py_None)
                                                                      : PyLong_FromLong(m->exit_code)) < 0
        || set_item(meta, "exit_signal", PyLong_FromUnsignedLong(m->exit_signal)) < 0
        || set_item(meta, "links_dropped", PyLong_FromUnsignedLongLong(m->links_dropped)) < 0
        || set_item(meta, "sample_interval_ns", PyLong_FromUnsignedLongLong(m->sample_interval_ns)) < 0
        || set_item(meta, "sample_ticks", PyLong_FromUnsignedLongLong(m->sample_ticks)) < 0
        || set_item(meta, "samples_lost", PyLong_FromUnsignedLongLong(m->samples_lost)) < 0
        || set_item(meta, "sample_mode", PyLong_FromUnsignedLong(m->sample_mode)) < 0)
        goto fail;
    PyObject *gaps = PyList_New(0);         /* new ref */
    if (set_item(meta, "gaps", gaps) < 0)
        goto fail;
    for (uint32_t i = 0; i < m->ngaps; i++) {
        const pf_gap *g = &m->gaps[i];
        PyObject *e = g->end_ns == PF_GAP_OPEN
            ? Py_BuildValue("{s:K,s:K,s:O,s:I}", "thread", (unsigned long long)g->ident,
                            "start_ns", (unsigned long long)g->start_ns, "end_ns", Py_None,
                            "reason", (unsigned int)g->reason)
            : Py_BuildValue("{s:K,s:K,s:K,s:I}", "thread", (unsigned long long)g->ident,
                            "start_ns", (unsigned long long)g->start_ns,
                            "end_ns", (unsigned long long)g->end_ns, "reason", (unsigned int)g->reason);
        if (e == NULL || PyList_Append(gaps, e) < 0) {
            Py_XDECREF(e);
            goto fail;
        }
        Py_DECREF(e);
    }
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
    codes = threads = nodes = NULL;
    PyObject *procs = PyList_New(t->nprocesses);       /* new ref */
    if (set_item(d, "processes", procs) < 0)
        goto fail;
    for (uint32_t i = 0; i < t->nprocesses; i++) {
        const pf_process *p = &t->processes[i];
        PyObject *v = Py_BuildValue(
            "{s:K,s:K,s:N,s:I,s:I,s:I,s:L,s:K,s:K,s:K,s:N,s:I}",
            "pid", (unsigned long long)p->pid, "ppid", (unsigned long long)p->ppid,
            "command", tstr(t, p->command), "first_thread", p->first_thread,
            "nthreads", p->nthreads, "flags", p->flags, "start_ns", (long long)p->start_ns,
            "duration_ns", (unsigned long long)p->duration_ns,
            "calls", (unsigned long long)p->calls,
            "peak_live_bytes", (unsigned long long)p->peak_live_bytes,
            "exit_code", p->flags & PF_PROC_EXITED ? PyLong_FromLong(p->exit_code)
                                                   : Py_NewRef(Py_None),
            "exit_signal", p->exit_signal);
        if (v == NULL)
            goto fail;
        PyList_SET_ITEM(procs, i, v);
        /* its RSS (collector/rss.h): {"peak", "final", "samples": [(time_ns, bytes)]} */
        const pf_rss *r = pf_trace_process_rss(t, i);
        PyObject *rd = Py_None, *smp = NULL;  /* new refs once made */
        if (r != NULL && (smp = PyList_New(r->nsamples)) == NULL)
            goto fail;
        for (uint32_t k = 0; r != NULL && k < r->nsamples; k++) {
            PyObject *pair = Py_BuildValue("(KK)", (unsigned long long)r->samples[k].time_ns,
                                           (unsigned long long)r->samples[k].bytes);
            if (pair == NULL) {
                Py_DECREF(smp);
                goto fail;
            }
            PyList_SET_ITEM(smp, k, pair);
        }
        if (r != NULL && (rd = Py_BuildValue("{s:K,s:K,s:N}", "peak",
                                             (unsigned long long)r->peak_bytes, "final",
                                             (unsigned long long)r->final_bytes, "samples",
                                             smp)) == NULL)
            goto fail;
        if (r == NULL)
            Py_INCREF(rd);
        if (set_item(v, "rss", rd) < 0)
            goto fail;
    }
    PyObject *links = PyList_New(t->nlinks);          /* new ref: [(node, creator, kind)] */
    if (set_item(d, "links", links) < 0)
        goto fail;
    for (uint32_t i = 0; i < t->nlinks; i++) {
        const pf_link *l = &t->links[i];
        PyObject *v = Py_BuildValue("(III)", l->node, l->creator, l->kind);
        if (v == NULL)
            goto fail;
        PyList_SET_ITEM(links, i, v);
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
      "      root=None, include=None, exclude=None, memory=False, command=None, ppid=0,\n"
      "      forked=False, snapshot=0.0, term=False, clock=None, native=False, sample=False)\n"
      "Starts recording every thread; the trace goes to path at stop().  root: the program's\n"
      "own code for lines, a str or a list of str (folders ending in '/', or files).  command:\n"
      "write a process record (ppid, forked).  snapshot: write what was recorded to path every\n"
      "that many seconds; term: and a last time at SIGTERM/SIGHUP (collector/snapshot.h).\n"
      "sample: record no event (collect --sample reads the stacks from outside)." },
    { "run", m_run, METH_VARARGS,
      "run(code, globals): runs code with the calling thread recorded (used by the runner)." },
    { "resume", m_resume, METH_NOARGS,
      "resume(): starts recording the calling thread after start(defer=True), from its next\n"
      "event on (attach --calls: what its start-up did after start() is not recorded)." },
    { "stop", (PyCFunction)(void (*)(void))m_stop, METH_VARARGS | METH_KEYWORDS,
      "stop(exit_code=None) -> dict: stops recording, writes the trace (with the process's\n"
      "exit status, when known), returns a summary (path, size, calls, oom, nodes,\n"
      "profiler_bytes, threads, peak_live_bytes, peak_native_bytes, gaps, lines: the trace\n"
      "has line mode, lines_selected: code objects whose lines were recorded, native: with\n"
      "native memory, the objects and slots the native hooks patched and the slots refused)." },
    { "mark", m_mark, METH_O,
      "mark(code): records the lines of code (the profile decorator); no-op when not collecting." },
    { "active", m_active, METH_NOARGS, "active() -> bool: whether a session is recording." },
    { "forget", m_forget, METH_NOARGS,
      "forget(): in a forked child, drops the inherited session without writing it." },
    { "sample_info", m_sample_info, METH_VARARGS,
      "sample_info(path, extra=None): writes the offsets and addresses an outside sampler\n"
      "reads this interpreter's stacks with (collect --sample; collector/sampleinfo.h),\n"
      "then extra (more \"name value\" lines: pyflame._callops' call opcodes)." },
    { "read_trace", m_read_trace, METH_VARARGS,
      "read_trace(path) -> dict: a trace file as Python data (meta, codes, threads, nodes,\n"
      "processes, links)." },
    { NULL, NULL, 0, NULL },
};

/* True if def is one of this extension's own functions (not the program's). */
static int native_is_ours(const PyMethodDef *def)
{
    for (const PyMethodDef *m = methods; m->ml_name != NULL; m++)
        if (m == def)
            return 1;
    return pf_hook_is_ours(def);
}

static int module_exec(PyObject *mod)
{
    if (!pf_in_main_interpreter()) {
        PyErr_SetString(PyExc_ImportError,
                        "pyflame._collector: cannot be imported in a subinterpreter: its "
                        "session and hooks are process-wide; profile from the main interpreter");
        return -1;
    }
    modstate *st = state_of(mod);
    st->main_ident = PyThread_get_thread_ident();
    int fast = pf_compat_init();
    st->tstate_type = (PyTypeObject *)PyType_FromSpec(&tstate_spec);
    if (st->tstate_type == NULL)
        return -1;
    if (PyModule_AddObject(mod, "ThreadState", Py_NewRef(st->tstate_type)) < 0) {
        Py_DECREF(st->tstate_type);
        return -1;
    }
    if (PyModule_AddIntConstant(mod, "MONITORING", PF_USE_MONITORING) < 0)
        return -1;
    if (fast >= 0 && PyModule_AddIntConstant(mod, "FAST_FRAMES", fast) < 0)
        return -1;
    return 0;
}

static int module_traverse(PyObject *mod, visitproc visit, void *arg)
{
    modstate *st = state_of(mod);
    Py_VISIT(st->tstate_type);
    return 0;
}

static int module_clear(PyObject *mod)
{
    modstate *st = state_of(mod);
    Py_CLEAR(st->tstate_type);
    return 0;
}

static void module_free(void *mod)
{
    module_clear((PyObject *)mod);
}

static PyModuleDef_Slot slots[] = {
    { Py_mod_exec, (void *)module_exec },
    PF_MOD_SINGLE_INTERPRETER_SLOT
    { 0, NULL },
};

static struct PyModuleDef moduledef = {
    PyModuleDef_HEAD_INIT, "pyflame._collector",
    "pyflame's collector: records Python and C calls into a calling-context tree.",
    sizeof(modstate), methods, slots, module_traverse, module_clear, module_free,
};

/* The one exported symbol (everything else is hidden by -fvisibility=hidden; older
 * PyMODINIT_FUNC definitions do not mark it visible themselves). */
__attribute__((visibility("default"))) PyMODINIT_FUNC PyInit__collector(void);
__attribute__((visibility("default"))) PyMODINIT_FUNC PyInit__collector(void)
{
    return PyModuleDef_Init(&moduledef);
}
