/* session.c: a recording session's memory (its tree, key table, thread states) and the
 * stop-time work: closing open activations, merging the tree (cct.c) and writing it as
 * a trace, its nodes streamed from the tree (see struct pf_session_plan).  See
 * session.h for the model. */
#include "collector/session.h"

#include <fnmatch.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "collector/asynclink.h"
#include "collector/names.h"
#include "collector/rss.h"
#include "formats/alloc.h"

#if PF_HAVE_TSC
#include <cpuid.h>
#endif

static void plan_free(pf_session *s);

int pf_use_tsc = 0;
int pf_use_cpu = 0;

const char *pf_clock_choose(int cpu)
{
    pf_use_tsc = 0;
    pf_use_cpu = cpu != 0;
    if (cpu)
        return PF_CLOCK_CPU_NAME;
#if PF_HAVE_TSC
    const char *env = getenv("PYFLAME_C_CLOCK");
    unsigned a, b, c, d;
    if ((env == NULL || strcmp(env, "monotonic") != 0)
        && __get_cpuid(0x80000007, &a, &b, &c, &d) && (d & (1u << 8))) {
        pf_use_tsc = 1;
        return "TSC (invariant, ns calibrated against CLOCK_MONOTONIC)";
    }
#endif
    return "CLOCK_MONOTONIC";
}
#define STACK_INITIAL 64

/* ---- memory accounting ---- */

/* Out of memory (or over the limit): stop recording in every thread. */
static void set_oom(pf_session *s)
{
    s->oom = 1;
    for (pf_tstate *ts = s->threads; ts != NULL; ts = ts->next)
        ts->paused = 1;
}

static int charge(pf_session *s, size_t n)
{
    if (s->limit && s->bytes + n > s->limit) {
        set_oom(s);
        return -1;
    }
    s->bytes += n;
    return 0;
}

/* ---- key table ----
 * One record per distinct key (code object or C function) in a dense array, found by
 * the key pointer through a pf_hmap (value: the record's index).  A code object is held
 * weakly: its names are copied into the record at registration, a weak reference's
 * callback (on_code_death) tells us when it dies, and then its nodes are rekeyed to
 * the record's tombstone (TOMB(i), odd, so never a pointer) and the pointer is unmapped:
 * a new code object at the same address is a new key.  The record stays (the trace
 * needs the names).  A code whose lines are recorded is held strongly (its line data
 * and, on 3.12+, its local events refer to it), and so is one that cannot be weakly
 * referenced. */

#define TOMB(i) (((uintptr_t)(i) << 1) | 1)

/* The record of key (a pointer or a tombstone), or PF_NONE. */
static uint32_t key_index(const pf_session *s, uintptr_t key)
{
    if (key & 1)
        return (uint32_t)(key >> 1);
    return pf_hmap_get(s->key_map, (uint64_t)key);
}

/* Charges what map grew by since it held `before` bytes. */
static void charge_map(pf_session *s, const pf_hmap *map, size_t before)
{
    size_t now = pf_hmap_bytes(map);
    if (now > before) {
        s->bytes += now - before;
        if (s->limit && s->bytes > s->limit)
            set_oom(s);
    }
}

/* A code object's weak reference called back: it is being destroyed. */
static PyObject *on_code_death(PyObject *capsule, PyObject *wr)
{
    pf_session *s = PyCapsule_GetPointer(capsule, NULL);
    if (s == NULL || PyCapsule_GetContext(capsule) != NULL) {
        PyErr_Clear();             /* (context set: the session is gone, see keys_free) */
        Py_RETURN_NONE;
    }
    if (s->stopped)
        Py_RETURN_NONE;    /* no more lookups: nothing to protect, the tree stays still */
    uint32_t i = pf_hmap_get(s->wr_map, (uint64_t)(uintptr_t)wr);
    if (i == PF_HMAP_NONE || s->keys[i].dead)
        Py_RETURN_NONE;
    pf_key *k = &s->keys[i];
    uint32_t *v = pf_hmap_slot(s->key_map, (uint64_t)(uintptr_t)k->key, NULL);
    if (v != NULL && *v == i)
        *v = PF_HMAP_NONE;
    pf_cct_rekey(s->cct, k->nodes, TOMB(i));
    k->dead = 1;
    /* The weak reference is no use now, but it is being called: it is dropped later
     * (release_dead), chained through index, which is unused until stop. */
    k->index = s->dead_keys;
    s->dead_keys = i;
    Py_RETURN_NONE;
}

/* Drops the weak references of the code objects that died since the last call. */
static void release_dead(pf_session *s)
{
    while (s->dead_keys != PF_NONE) {
        pf_key *k = &s->keys[s->dead_keys];
        s->dead_keys = k->index;
        k->index = PF_NONE;
        Py_CLEAR(k->wr);
    }
}

static PyMethodDef code_death_def = {
    "_code_death", on_code_death, METH_O, "pyflame: a recorded code object is being destroyed."
};

/* Fills record k of code (names, reference).  0, or -1 when out of memory. */
static int key_fill_code(pf_session *s, pf_key *k, uint32_t i, PyCodeObject *co)
{
    k->filename = Py_NewRef(pf_code_filename(co));
    k->name = Py_NewRef(pf_code_name(co));
    k->qualname = pf_code_qualname(co);
    k->firstlineno = pf_code_firstlineno(co);
    pf_async_key_marks(co, &k->marks, &k->role);
    k->wr = s->death_cb != NULL ? PyWeakref_NewRef((PyObject *)co, s->death_cb) : NULL;
    if (k->wr == NULL) {
        PyErr_Clear();
        k->obj = Py_NewRef(co);        /* held strongly: it never dies while we record */
        return 0;
    }
    size_t before = pf_hmap_bytes(s->wr_map);
    uint32_t *v = pf_hmap_slot(s->wr_map, (uint64_t)(uintptr_t)k->wr, NULL);
    charge_map(s, s->wr_map, before);
    if (v == NULL)
        return -1;
    *v = i;
    return 0;
}

/* Registers key (once).  Its record's index, or PF_NONE when out of memory (sets oom). */
static uint32_t key_register(pf_session *s, void *key, int kind, PyObject *callable,
                             PyObject *self_arg)
{
    uint32_t i = pf_hmap_get(s->key_map, (uint64_t)(uintptr_t)key);
    if (i != PF_HMAP_NONE)
        return i;
    release_dead(s);
    if (s->nkeys == s->cap_keys) {
        size_t cap = s->cap_keys ? s->cap_keys * 2 : 256;
        if (cap >= PF_NONE || charge(s, (cap - s->cap_keys) * sizeof(pf_key)) < 0) {
            set_oom(s);
            return PF_NONE;
        }
        pf_key *keys = pf_reallocarray(s->keys, cap, sizeof(pf_key));
        if (keys == NULL) {
            s->bytes -= (cap - s->cap_keys) * sizeof(pf_key);
            set_oom(s);
            return PF_NONE;
        }
        s->keys = keys;
        s->cap_keys = cap;
    }
    size_t before = pf_hmap_bytes(s->key_map);
    uint32_t *v = pf_hmap_slot(s->key_map, (uint64_t)(uintptr_t)key, NULL);
    charge_map(s, s->key_map, before);
    if (v == NULL) {
        set_oom(s);
        return PF_NONE;
    }
    i = (uint32_t)s->nkeys;
    pf_key *k = &s->keys[i];
    memset(k, 0, sizeof *k);
    k->key = key;
    k->kind = (uint8_t)kind;
    k->index = PF_NONE;
    k->nodes = PF_CCT_NONE;
    pf_memhook_suspend();          /* the label, names and weak reference are ours */
    int r = 0;
    if (kind == PF_KEY_PYTHON)
        r = key_fill_code(s, k, i, (PyCodeObject *)key);
    else if ((k->obj = pf_native_label((PyMethodDef *)key, callable, self_arg)) == NULL)
        r = -1;
    pf_memhook_resume();
    s->nkeys++;                    /* even half filled: pf_session_free drops its refs */
    if (r < 0) {
        set_oom(s);
        return PF_NONE;
    }
    *pf_hmap_slot(s->key_map, (uint64_t)(uintptr_t)key, NULL) = i;
    return i;
}

static void keys_free(pf_session *s)
{
    for (size_t i = 0; i < s->nkeys; i++) {
        pf_key *k = &s->keys[i];
        Py_XDECREF(k->wr);         /* first: no callback once it is gone */
        Py_XDECREF(k->obj);
        Py_XDECREF(k->filename);
        Py_XDECREF(k->name);
        Py_XDECREF(k->qualname);
        if (k->lc != NULL) {
            pf_free(k->lc->st);
            pf_free(k->lc);
        }
    }
    pf_free(s->keys);
    pf_hmap_free(s->key_map);
    pf_hmap_free(s->wr_map);
    pf_hmap_free(s->site_lines);
    /* A weak reference the program got hold of (weakref.getweakrefs) may outlive us and
     * still call back: mark the session gone. */
    if (s->death_cb != NULL && PyCapsule_SetContext(PyCFunction_GET_SELF(s->death_cb), s) < 0)
        PyErr_Clear();
    Py_XDECREF(s->death_cb);
}

/* ---- line selection and data ----
 * A code object's lines are recorded when it was marked by the profile decorator, or
 * with --lines when its file is selected: --include patterns if any (fnmatch on the
 * absolute filename), else the program's own code (the roots: the script's folder, the
 * -m package's folder, ...) minus what lies in a site-packages or dist-packages folder
 * below a root (a virtual environment inside the project), so that a root which is
 * itself an installed package counts; minus --exclude patterns.  Decided once per code
 * object and cached. */

static int any_match(char **pats, const char *f)
{
    for (; pats != NULL && *pats != NULL; pats++)
        if (fnmatch(*pats, f, 0) == 0)
            return 1;
    return 0;
}

/* Whether file f is under root: a folder ("/x/y/": then not in a site-packages or
 * dist-packages folder below it) or a file (f is that file). */
static int under_root(const char *f, const char *root)
{
    size_t n = strlen(root);
    if (n == 0 || strncmp(f, root, n) != 0)
        return 0;
    if (root[n - 1] != '/')
        return f[n] == '\0';
    const char *below = f + n - 1;
    return strstr(below, "/site-packages/") == NULL && strstr(below, "/dist-packages/") == NULL;
}

static int file_selected(pf_session *s, PyObject *code)
{
    PyObject *fn = pf_code_filename((PyCodeObject *)code);   /* borrowed */
    const char *f = PyUnicode_Check(fn) ? PyUnicode_AsUTF8(fn) : NULL;
    if (f == NULL) {
        PyErr_Clear();
        return 0;
    }
    char abs[PATH_MAX];
    if (f[0] != '/') {      /* 3.8 runs the main script under the name it was given */
        if (f[0] == '<' || realpath(f, abs) == NULL)
            return 0;
        f = abs;
    }
    if ((s->ours_prefix != NULL && strncmp(f, s->ours_prefix, s->ours_prefix_len) == 0))
        return 0;
    int in = 0;
    if (s->include != NULL && s->include[0] != NULL)
        in = any_match(s->include, f);
    else
        for (char **r = s->lines_roots; r != NULL && *r != NULL && !in; r++)
            in = under_root(f, *r);
    return in && !any_match(s->exclude, f);
}

/* Selects record i (of code) for line recording: its line data, held strongly.  NULL
 * when out of memory. */
static pf_lcode *select_key(pf_session *s, uint32_t i, PyObject *code)
{
    pf_key *k = &s->keys[i];
    if (k->lc != NULL)
        return k->lc;
    if (charge(s, sizeof(pf_lcode)) < 0)
        return NULL;
    pf_lcode *lc = pf_calloc(1, sizeof(pf_lcode));
    if (lc == NULL) {
        set_oom(s);
        return NULL;
    }
    if (k->obj == NULL)
        k->obj = Py_NewRef(code);
    lc->code = k->obj;
    int first = k->firstlineno;
    lc->base = first > 0 ? first : 1;
    lc->straight = PyCode_Check(code) && !(((PyCodeObject *)code)->co_flags
                                           & (CO_GENERATOR | CO_COROUTINE | CO_ASYNC_GENERATOR));
    k->lc = lc;
    s->lines_selected++;
    return lc;
}

pf_lcode *pf_lines_decide(pf_session *s, PyObject *code)
{
    if (!PyCode_Check(code) || s->oom)
        return NULL;
    uint32_t i = key_register(s, code, PF_KEY_PYTHON, NULL, NULL);
    if (i == PF_NONE)
        return NULL;
    pf_key *k = &s->keys[i];
    if (k->decided)
        return k->lc;
    k->decided = 1;
    if (k->lc != NULL || !s->lines)
        return k->lc;
    pf_memhook_suspend();          /* the filename's UTF-8 cache is ours, not the program's */
    int selected = file_selected(s, code);
    pf_memhook_resume();
    return selected ? select_key(s, i, code) : NULL;
}

pf_lcode *pf_lines_mark(pf_session *s, PyObject *code)
{
    if (s->oom)
        return NULL;
    uint32_t i = key_register(s, code, PF_KEY_PYTHON, NULL, NULL);
    return i == PF_NONE ? NULL : select_key(s, i, code);
}

pf_lstat *pf_lcode_grow(pf_session *s, pf_lcode *lc, int32_t line)
{
    if (line < lc->base || s->oom)
        return NULL;                /* before the definition: not a line of this code */
    uint32_t need = (uint32_t)(line - lc->base) + 1;
    uint32_t cap = lc->n ? lc->n : 16;
    while (cap < need)
        cap *= 2;
    if (charge(s, (size_t)(cap - lc->n) * sizeof(pf_lstat)) < 0)
        return NULL;
    pf_lstat *st = pf_reallocarray(lc->st, cap, sizeof(pf_lstat));
    if (st == NULL) {
        set_oom(s);
        return NULL;
    }
    memset(st + lc->n, 0, (size_t)(cap - lc->n) * sizeof(pf_lstat));
    lc->st = st;
    lc->n = cap;
    return &st[line - lc->base];
}

static void strings_free(char **list)
{
    for (char **p = list; p != NULL && *p != NULL; p++)
        pf_free(*p);
    pf_free(list);
}

static void lines_free(pf_session *s)
{
    strings_free(s->include);
    strings_free(s->exclude);
    strings_free(s->lines_roots);
}

/* ---- session ---- */

/* Copies a list of str (or, with one_str, a single str) into a NULL-terminated array
 * (NULL for None); what names the argument in the TypeError.  0, or -1 with an
 * exception set (*out then holds what was copied, for the caller to free). */
static int strings(PyObject *list, int one_str, const char *what, char ***out)
{
    *out = NULL;
    if (list == NULL || list == Py_None)
        return 0;
    int single = one_str && PyUnicode_Check(list);
    if (!single && !PyList_Check(list)) {
        PyErr_Format(PyExc_TypeError, "pyflame: %s must be %s", what,
                     one_str ? "a str or a list of str" : "lists of str");
        return -1;
    }
    Py_ssize_t n = single ? 1 : PyList_GET_SIZE(list);
    char **a = pf_calloc((size_t)n + 1, sizeof(char *));
    if (a == NULL)
        return PyErr_NoMemory(), -1;
    *out = a;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *item = single ? list : PyList_GET_ITEM(list, i);     /* borrowed */
        const char *u = PyUnicode_Check(item) ? PyUnicode_AsUTF8(item) : NULL;
        if (u == NULL) {
            if (!PyErr_Occurred())
                PyErr_Format(PyExc_TypeError, "pyflame: %s must be %s", what,
                             one_str ? "a str or a list of str" : "lists of str");
            return -1;
        }
        if ((a[i] = pf_strndup(u, strlen(u))) == NULL)
            return PyErr_NoMemory(), -1;
    }
    return 0;
}

pf_session *pf_session_new(const pf_session_config *cfg)
{
    pf_session *s = pf_calloc(1, sizeof(pf_session));
    if (s == NULL)
        return (pf_session *)PyErr_NoMemory();
    s->bytes = sizeof(pf_session);
    s->dead_keys = PF_NONE;
    s->limit = cfg->limit;
    s->lines = cfg->lines;
    s->memory = cfg->memory;
    s->native = cfg->memory && cfg->native;
    s->main_ident = cfg->main_ident;
    s->native_is_ours = cfg->native_is_ours;
    s->tstate_type = (PyTypeObject *)Py_NewRef(cfg->tstate_type);
    s->exit_code = PF_EXIT_UNKNOWN;
    if (cfg->command != NULL) {
        if ((s->command = pf_strndup(cfg->command, strlen(cfg->command))) == NULL) {
            PyErr_NoMemory();
            goto fail;
        }
        s->process.pid = (uint64_t)getpid();
        s->process.ppid = cfg->ppid;
        s->process.flags = cfg->process_flags;
        s->process.exit_code = PF_EXIT_UNKNOWN;
    }
    if (cfg->meta != NULL)
        s->meta = Py_NewRef(cfg->meta);
    if ((s->path = pf_strndup(cfg->path, strlen(cfg->path))) == NULL
        || (cfg->ours != NULL && (s->ours_prefix = pf_strndup(cfg->ours, strlen(cfg->ours))) == NULL)
        || (s->cct = pf_cct_new(&s->bytes, s->limit)) == NULL
        || (s->key_map = pf_hmap_new(256)) == NULL || (s->wr_map = pf_hmap_new(256)) == NULL) {
        PyErr_NoMemory();
        goto fail;
    }
    s->bytes += pf_hmap_bytes(s->key_map) + pf_hmap_bytes(s->wr_map);
    PyObject *capsule = PyCapsule_New(s, NULL, NULL);             /* new ref */
    if (capsule == NULL)
        goto fail;
    s->death_cb = PyCFunction_New(&code_death_def, capsule);
    Py_DECREF(capsule);
    if (s->death_cb == NULL)
        goto fail;
    s->ours_prefix_len = s->ours_prefix != NULL ? strlen(s->ours_prefix) : 0;
    if (strings(cfg->include, 0, "include and exclude", &s->include) < 0
        || strings(cfg->exclude, 0, "include and exclude", &s->exclude) < 0
        || strings(cfg->root, 1, "root", &s->lines_roots) < 0)
        goto fail;
    return s;
fail:
    pf_session_free(s);
    return NULL;
}

void pf_session_gap_open(pf_session *s, pf_tstate *ts, uint64_t now, uint32_t reason)
{
    if (ts != NULL && ts->gap)
        return;
    if (pf_use_cpu)
        now = pf_mono_ns();       /* on the run's timeline, not a thread's CPU time */
    if (s->ngaps == s->cap_gaps) {
        uint32_t cap = s->cap_gaps ? s->cap_gaps * 2 : 4;
        pf_gap *g = pf_reallocarray(s->gaps, cap, sizeof *g);
        if (g == NULL) {
            set_oom(s);
            return;
        }
        s->gaps = g;
        s->cap_gaps = cap;
    }
    pf_gap *g = &s->gaps[s->ngaps];
    g->ident = ts != NULL ? ts->ident : 0;
    g->start_ns = now;
    g->end_ns = 0;
    g->reason = reason;
    if (ts != NULL) {
        ts->gap = 1;
        ts->gap_index = s->ngaps;
    }
    s->ngaps++;
}

void pf_session_gap_close(pf_session *s, pf_tstate *ts, uint64_t now)
{
    if (!ts->gap)
        return;
    if (pf_use_cpu)
        now = pf_mono_ns();
    ts->gap = 0;
    if (ts->gap_index < s->ngaps)
        s->gaps[ts->gap_index].end_ns = now;
}

void pf_session_free(pf_session *s)
{
    if (s == NULL)
        return;
    pf_free(s->command);
    pf_tstate *ts = s->threads;
    while (ts != NULL) {
        pf_tstate *next = ts->next;
        ts->session = NULL;
        ts->cct = NULL;
        ts->next = NULL;
        ts->msite = &ts->own_site;
        pf_free(ts->stack);
        ts->stack = NULL;
        ts->depth = ts->cap = 0;
        Py_DECREF(ts);                      /* the session's reference */
        ts = next;
    }
    plan_free(s);
    keys_free(s);
    lines_free(s);
    pf_cct_free(s->cct);
    pf_linkmap_free(s->links);
    Py_XDECREF(s->meta);
    Py_XDECREF(s->tstate_type);
    pf_free(s->ours_prefix);
    pf_free(s->gaps);
    pf_rss_free(s->rss);
    pf_free(s->path);
    pf_free(s);
}

pf_tstate *pf_tstate_create(pf_session *s)
{
    if (s->oom)
        return NULL;
    uint32_t root = pf_cct_root(s->cct);
    if (root == PF_CCT_NONE) {
        set_oom(s);
        return NULL;
    }
    pf_memhook_suspend();
    pf_tstate *ts = PyObject_New(pf_tstate, s->tstate_type);   /* new ref, kept by the session list */
    pf_memhook_resume();
    if (ts == NULL) {
        PyErr_Clear();
        set_oom(s);
        return NULL;
    }
    ts->session = s;
    ts->next = NULL;
    ts->ident = (uint64_t)PyThread_get_thread_ident();
    ts->thread = NULL;
    ts->name_tries = 64;
    ts->paused = 0;
    ts->cct = s->cct;
    ts->root = root;
    ts->stack = NULL;
    ts->depth = ts->cap = 0;
    ts->own_site.node = PF_MEM_NONE;
    ts->own_site.line = 0;
    ts->user_profile = ts->user_trace = NULL;
    ts->gap = 0;
    ts->gap_index = 0;
    ts->stopped = 0;
    ts->stop_t0 = 0;
    ts->skip_c_return = 0;
    ts->msite = s->memory ? pf_memhook_site() : &ts->own_site;
    if (pf_tstate_grow(ts) < 0) {
        Py_DECREF(ts);
        return NULL;
    }
    s->bytes += sizeof(pf_tstate);
    if (s->threads_tail)
        s->threads_tail->next = ts;
    else
        s->threads = ts;
    s->threads_tail = ts;
    return ts;
}

int pf_tstate_grow(pf_tstate *ts)
{
    pf_session *s = ts->session;
    uint32_t cap = ts->cap ? ts->cap * 2 : STACK_INITIAL;
    if (cap < ts->cap || charge(s, (size_t)(cap - ts->cap) * sizeof(pf_entry)) < 0) {
        set_oom(s);
        return -1;
    }
    pf_entry *st = pf_reallocarray(ts->stack, cap, sizeof(pf_entry));
    if (st == NULL) {
        s->bytes -= (size_t)(cap - ts->cap) * sizeof(pf_entry);
        set_oom(s);
        return -1;
    }
    ts->stack = st;
    ts->cap = cap;
    return 0;
}

/* The line of n's call site in parent's code (which must be alive).  PyCode_Addr2Line
 * scans the code's line table from its start (thousands of instructions in a long
 * function), and a program has far fewer call sites than calling contexts, so the
 * answers are kept by (the code's key index, site): exact, as a key index is never
 * reused by another code object. */
static uint32_t resolve_line(pf_session *s, const pf_cct_node *parent, const pf_cct_node *n)
{
    if (n->site < 0 || pf_cct_kind(parent) != PF_KEY_PYTHON || parent->key == 0)
        return 0;
    uint32_t k = key_index(s, parent->key);
    uint32_t *memo = NULL;
    if (k != PF_NONE && k != PF_HMAP_NONE) {
        if (s->site_lines == NULL) {
            if ((s->site_lines = pf_hmap_new(256)) == NULL)
                goto compute;
            charge_map(s, s->site_lines, 0);
        }
        size_t before = pf_hmap_bytes(s->site_lines);
        memo = pf_hmap_slot(s->site_lines, (uint64_t)k << 32 | (uint32_t)n->site, NULL);
        charge_map(s, s->site_lines, before);
        if (memo != NULL && *memo != PF_HMAP_NONE)
            return *memo;
    }
compute:;
    int line = PyCode_Addr2Line((PyCodeObject *)parent->key, n->site);
    uint32_t r = line > 0 ? (uint32_t)line : 0;
    if (memo != NULL)
        *memo = r;
    return r;
}

pf_cct_node *pf_session_new_child(pf_session *s, uint32_t parent, void *key, int32_t site,
                                  int kind, PyObject *obj, PyObject *self_arg, uint32_t *id)
{
    uint32_t k = key_register(s, key, kind, obj, self_arg);
    if (k == PF_NONE)
        return NULL;
    pf_cct_node *n = pf_cct_add(s->cct, parent, (uintptr_t)key, site, (uint8_t)kind,
                                kind == PF_KEY_PYTHON ? &s->keys[k].nodes : NULL, id);
    if (n == NULL) {
        set_oom(s);
        return NULL;
    }
    /* the line now, while the parent's code is alive (it is running) */
    pf_cct_set_line(n, resolve_line(s, pf_cct_at(s->cct, parent), n));
    if (kind == PF_KEY_PYTHON && s->keys[k].marks)
        pf_cct_mark(n, s->keys[k].marks);
    if (PF_UNLIKELY(site <= PF_CCT_SITE_LINK))
        s->link_nodes++;
    return n;
}

/* ---- stop time ---- */

static int is_ours(pf_session *s, const pf_cct_node *n)
{
    if (pf_cct_kind(n) == PF_KEY_NATIVE)
        return s->native_is_ours != NULL && s->native_is_ours((const PyMethodDef *)n->key);
    uint32_t i = key_index(s, n->key);
    if (s->ours_prefix == NULL || i == PF_NONE)
        return 0;
    PyObject *fn = s->keys[i].filename;   /* borrowed */
    Py_ssize_t len;
    const char *f = PyUnicode_Check(fn) ? PyUnicode_AsUTF8AndSize(fn, &len) : NULL;
    if (f == NULL) {
        PyErr_Clear();
        return 0;
    }
    return (size_t)len > s->ours_prefix_len && memcmp(f, s->ours_prefix, s->ours_prefix_len) == 0;
}

/* The earliest time ts's open activations can close at: the top's start plus its
 * callees' time (and its current line's), as pf_pop_top would subtract them.  The
 * activations under the top then come out non-negative too. */
static uint64_t open_floor(const pf_tstate *ts)
{
    if (ts->depth == 0)
        return 0;
    const pf_entry *e = &ts->stack[ts->depth - 1];
    uint64_t t = e->act.t0 + e->act.child_ns;
    if (e->lcode != NULL && e->line > 0) {
        uint64_t lt = e->line_t0 + (e->act.child_ns - e->line_child0);
        if (lt > t)
            t = lt;
    }
    return t;
}

uint64_t pf_now_of(pf_tstate *ts)
{
    if (!pf_use_cpu)
        return pf_now();
    PyThreadState *me = PyThreadState_Get(), *tst = NULL;
    for (PyThreadState *t = PyInterpreterState_ThreadHead(me->interp); t != NULL;
         t = PyThreadState_Next(t))
        if (t->thread_id == ts->ident) {
            tst = t;
            break;
        }
    uint64_t now = 0;
    if (tst == me) {
        now = pf_cpu_ns();
    } else if (tst != NULL) {
        /* alive: its thread state is listed, and it cannot delete it while we hold the
         * GIL.  Python's thread ident is its pthread_t (thread_pthread.h). */
        clockid_t cid;
        struct timespec tv;
        if (pthread_getcpuclockid((pthread_t)ts->ident, &cid) == 0
            && clock_gettime(cid, &tv) == 0)
            now = (uint64_t)tv.tv_sec * 1000000000u + (uint64_t)tv.tv_nsec;
    }
    uint64_t floor = open_floor(ts);
    return now > floor ? now : floor;
}

void pf_session_flush(pf_session *s, uint64_t now)
{
    s->stopped = 1;
    release_dead(s);
    if (s->links != NULL) {               /* nothing is linked from now on */
        s->links_dropped += pf_linkmap_dropped(s->links);
        pf_linkmap_free(s->links);
        s->links = NULL;
    }
    for (pf_tstate *ts = s->threads; ts != NULL; ts = ts->next) {
        /* another thread's memhook site may be gone with its thread: write our own */
        ts->msite = &ts->own_site;
        uint64_t t = pf_use_cpu ? pf_now_of(ts) : now;
        while (ts->depth > 0)
            pf_pop_top(ts, t);
    }
}

/* Interns a Python str into the trace's string table (UTF-8, surrogates escaped). */
static uint32_t intern_str(pf_trace *t, PyObject *str)
{
    if (str == NULL || !PyUnicode_Check(str))
        return pf_strtab_intern_cstr(t->strings, "?");
    Py_ssize_t len;
    const char *u = PyUnicode_AsUTF8AndSize(str, &len);
    if (u != NULL)
        return pf_strtab_intern(t->strings, u, (size_t)len);
    PyErr_Clear();
    PyObject *b = PyUnicode_AsEncodedString(str, "utf-8", "surrogateescape");  /* new ref */
    if (b == NULL) {
        PyErr_Clear();
        return pf_strtab_intern_cstr(t->strings, "?");
    }
    uint32_t id = pf_strtab_intern(t->strings, PyBytes_AS_STRING(b), (size_t)PyBytes_GET_SIZE(b));
    Py_DECREF(b);
    return id;
}

/* The trace's code index for key record i, adding the code record on first use. */
static uint32_t code_index(pf_trace *t, pf_session *s, uint32_t i)
{
    if (i >= s->nkeys)
        return PF_NONE;
    pf_key *k = &s->keys[i];
    if (k->index != PF_NONE)
        return k->index;
    pf_code c;
    memset(&c, 0, sizeof c);
    if (k->kind == PF_KEY_PYTHON) {
        c.kind = PF_CODE_PYTHON;
        c.file = intern_str(t, k->filename);
        c.name = intern_str(t, k->name);
        c.qualname = intern_str(t, k->qualname);
        c.first_line = (uint32_t)(k->firstlineno > 0 ? k->firstlineno : 0);
    } else {
        c.kind = PF_CODE_NATIVE;
        c.file = pf_strtab_intern_cstr(t->strings, "");
        c.name = intern_str(t, k->obj);
        c.qualname = c.name;
        c.first_line = 0;
    }
    if (c.file == PF_STR_NONE || c.name == PF_STR_NONE || c.qualname == PF_STR_NONE)
        return PF_NONE;
    k->index = pf_trace_add_code(t, &c);
    return k->index;
}

/* ---- memory at stop time ----
 * memtrack keeps counters per site (node id, line).  Before the tree is merged for
 * output, mem_collect describes the raw tree to it (each node's parent, code and calling
 * line) and gets back SELF counters per node id (s->node_mem) and INCLUSIVE counters per
 * (code, line).  Merging and splicing then carry node counters along (node_mem_move),
 * as they do times. */

/* Moves node from's SELF counters into node to (a merge or a splice; pf_cct_merge's
 * moved callback, below).  A splice into a thread's root drops them: no frame of the program
 * made them. */
static void node_mem_move(const pf_cct *cct, pf_mem *node_mem, uint32_t from, uint32_t to)
{
    if (node_mem == NULL)
        return;
    if (!(pf_cct_flags(pf_cct_at(cct, to)) & PF_CCT_ROOT))
        pf_mem_add(&node_mem[to], &node_mem[from]);
    memset(&node_mem[from], 0, sizeof(pf_mem));
}

/* The line-code id memtrack knows a node's code by: its slot in the key table, if the
 * code's lines are recorded; else PF_MEM_NONE (C functions, unselected code, ours). */
static uint32_t mem_code_id(pf_session *s, const pf_cct_node *n)
{
    uint32_t i = key_index(s, n->key);
    if (pf_cct_kind(n) != PF_KEY_PYTHON || i == PF_NONE || s->keys[i].lc == NULL || is_ours(s, n))
        return PF_MEM_NONE;
    return i;
}

/* Describes the raw tree (lines resolved) to memtrack: node ids are memory-site ids.
 * *node_mem gets SELF counters by node id (owned by the caller). */
static int mem_collect(pf_session *s, const pf_memtrack *mt, pf_mem **node_mem,
                       pf_memtrack_line **lines, uint32_t *nlines, pf_memtrack_totals *tot)
{
    const pf_cct *cct = s->cct;
    uint32_t nids = pf_cct_count(cct);
    uint32_t *parent = pf_calloc((size_t)nids + 1, sizeof(uint32_t));
    uint32_t *code = pf_calloc((size_t)nids + 1, sizeof(uint32_t));
    uint32_t *call_line = pf_calloc((size_t)nids + 1, sizeof(uint32_t));
    int rc = -1;
    *node_mem = pf_calloc((size_t)nids + 1, sizeof(pf_mem));
    if (parent == NULL || code == NULL || call_line == NULL || *node_mem == NULL)
        goto done;
    for (uint32_t id = 0; id < nids; id++) {
        const pf_cct_node *n = pf_cct_at(cct, id);
        if (pf_cct_flags(n) & PF_CCT_ROOT) {
            parent[id] = PF_MEM_NONE;
            code[id] = PF_MEM_NONE;
            call_line[id] = 0;
            continue;
        }
        parent[id] = pf_cct_flags(pf_cct_at(cct, n->parent)) & PF_CCT_ROOT ? PF_MEM_NONE : n->parent;
        code[id] = mem_code_id(s, n);
        call_line[id] = pf_cct_line(n);
    }
    /* while recording (a snapshot), allocations without the GIL (RAW and native hooks)
     * may update the tracker: the totals and the result are one consistent moment */
    pf_memhook_lock();
    rc = pf_memtrack_result(mt, nids, parent, code, call_line, *node_mem, lines, nlines);
    pf_memtrack_get_totals(mt, tot);
    pf_memhook_unlock();
done:
    pf_free(parent);
    pf_free(code);
    pf_free(call_line);
    return rc;
}

/* Puts memtrack's INCLUSIVE line counters into the trace's line records, adding a record
 * (no hits) for a line that allocated without a line event of its own. */
static int add_mem_lines(pf_trace *t, pf_session *s, const pf_memtrack_line *ml, uint32_t n)
{
    pf_hmap *slot = pf_hmap_new((size_t)t->nlines + n);    /* (code, line) -> line index */
    if (slot == NULL)
        return -1;
    for (uint32_t i = 0; i < t->nlines; i++) {
        uint32_t *v = pf_hmap_slot(slot, ((uint64_t)t->lines[i].code << 32) | t->lines[i].line, NULL);
        if (v == NULL)
            goto fail;
        *v = i;
    }
    for (uint32_t i = 0; i < n; i++) {
        if (ml[i].code >= s->nkeys)
            continue;
        uint32_t c = code_index(t, s, ml[i].code);
        if (c == PF_NONE)
            goto fail;
        uint32_t *v = pf_hmap_slot(slot, ((uint64_t)c << 32) | ml[i].line, NULL);
        if (v == NULL)
            goto fail;
        if (*v == PF_HMAP_NONE) {
            pf_line rec;
            memset(&rec, 0, sizeof rec);
            rec.code = c;
            rec.line = ml[i].line;
            if ((*v = pf_trace_add_line(t, &rec)) == PF_NONE)
                goto fail;
        }
        pf_mem_add(&t->lines[*v].mem, &ml[i].mem);
    }
    pf_hmap_free(slot);
    return 0;
fail:
    pf_hmap_free(slot);
    return -1;
}

/* Extra time (and memory) a snapshot's output node gets beyond its tree node's own:
 * the own time of its spliced callees (absorb_node) and its open activation's time so
 * far (add_open_time), in ns, each addend rounded as it comes. */
typedef struct node_extra {
    uint64_t self_ns, total_ns;
    pf_mem mem;
} node_extra;

/* What pf_session_write needs to make again the nodes that build counted (s->plan).
 * The trace's nodes are never held as records: build walks the tree once to give
 * them their indices (codes, links, snapshot extras), the writer walks it again and
 * streams each node as it comes (pf_trace_stream), so the stop's peak is the tree
 * plus O(threads + extras), not the tree plus a 40-byte record a node. */
struct pf_session_plan {
    int snapshot;             /* walk with splices (pf_cct_walk), else the merged tree */
    double ns_per_tick;
    pf_mem *node_mem;         /* owned: SELF memory counters by tree id, or NULL */
    uint32_t nnodes;          /* output nodes */
    uint32_t nroots, cap_roots;
    uint32_t *roots, *threads;      /* the roots walked and their trace thread index */
    pf_hmap *extra;           /* output index -> index in extras, or NULL */
    node_extra *extras;
    uint32_t nextras, cap_extras;
};

static void plan_free(pf_session *s)
{
    pf_session_plan *p = s->plan;
    if (p == NULL)
        return;
    pf_free(p->node_mem);
    pf_free(p->roots);
    pf_free(p->threads);
    pf_hmap_free(p->extra);
    pf_free(p->extras);
    pf_free(p);
    s->plan = NULL;
}

/* The extras of output node index, zeroed when new.  NULL when out of memory. */
static node_extra *extra_at(pf_session_plan *p, uint32_t index)
{
    if (p->extra == NULL && (p->extra = pf_hmap_new(64)) == NULL)
        return NULL;
    int inserted = 0;
    uint32_t *v = pf_hmap_slot(p->extra, index, &inserted);
    if (v == NULL)
        return NULL;
    if (inserted) {
        if (p->nextras == p->cap_extras) {
            uint32_t cap = p->cap_extras ? p->cap_extras * 2 : 64;
            node_extra *x = pf_reallocarray(p->extras, cap, sizeof *x);
            if (x == NULL) {
                *v = PF_HMAP_NONE;      /* (an entry without extras reads as none) */
                return NULL;
            }
            p->extras = x;
            p->cap_extras = cap;
        }
        memset(&p->extras[p->nextras], 0, sizeof *p->extras);
        *v = p->nextras++;
    } else if (*v == PF_HMAP_NONE) {
        return NULL;
    }
    return &p->extras[*v];
}

static const node_extra *extra_get(const pf_session_plan *p, uint32_t index)
{
    uint32_t i = p->extra != NULL ? pf_hmap_get(p->extra, index) : PF_HMAP_NONE;
    return i == PF_HMAP_NONE ? NULL : &p->extras[i];
}

/* The merge (pf_cct_merge) splices out nodes running our own code: the runner's signal
 * handler, the os._exit wrapper, stop() itself, pyflame.profile's wrapper.  Their
 * callees move up, their self time goes to the caller, as if the program had made those
 * calls itself. */
typedef struct build_ctx {
    pf_session *s;
    pf_mem *node_mem;         /* SELF memory counters by node id, or NULL */
    pf_trace *t;
    pf_session_plan *plan;
    uint32_t thread;          /* trace index of the thread being emitted */
    double ns_per_tick;
    uint64_t calls;
    uint32_t nout;            /* output nodes so far (their next index) */
    pf_trace_stream *w;       /* pf_session_write: where the nodes go */
    pf_hmap *stack;           /* a snapshot without out_of: see stack_map */
    int stream_failed;        /* the stream refused a node (its error is close's) */
    /* links (only when the tree has link sites): each tree node's trace index (a
     * snapshot: the walk's out_of), where a merged or spliced node's stats went, and
     * the links met, their creators still tree ids */
    uint32_t *out_of, *went;
    pf_link *pending;
    uint32_t npending, cap_pending;
    int failed;
} build_ctx;

static int splice_ours(void *ctx, const pf_cct_node *n)
{
    return is_ours(((build_ctx *)ctx)->s, n);
}

static void moved(void *ctx, uint32_t from, uint32_t to)
{
    build_ctx *b = ctx;
    node_mem_move(b->s->cct, b->node_mem, from, to);
    if (b->went != NULL)
        b->went[from] = to;
}

/* Notes that trace node index, made from tree node n, is linked (its site). */
static void note_link(build_ctx *b, uint32_t index, const pf_cct_node *n)
{
    if (b->npending == b->cap_pending) {
        uint32_t cap = b->cap_pending ? b->cap_pending * 2 : 64;
        pf_link *p = pf_reallocarray(b->pending, cap, sizeof *p);
        if (p == NULL) {
            b->failed = 1;
            return;
        }
        b->pending = p;
        b->cap_pending = cap;
    }
    pf_link *l = &b->pending[b->npending++];
    l->node = index;
    l->creator = pf_async_creator(n->site, &l->kind);
}

/* The trace's links: each creator's tree id becomes the trace index of the node it was
 * output as, or that its stats went to (merged into a sibling, spliced into its
 * parent); a creator spliced into a thread's root has none and its link is dropped. */
static int add_links(build_ctx *b)
{
    uint32_t count = pf_cct_count(b->s->cct);
    for (uint32_t i = 0; i < b->npending; i++) {
        pf_link l = b->pending[i];
        uint32_t c = l.creator, index = PF_NONE;
        for (int steps = 0; steps < 64 && c < count; steps++) {
            if (b->out_of[c] != PF_CCT_NONE) {
                index = b->out_of[c];
                break;
            }
            if (b->went == NULL || (c = b->went[c]) == PF_CCT_NONE)
                break;
        }
        if (index == PF_NONE || index == l.node)
            continue;
        l.creator = index;
        if (pf_trace_add_link(b->t, &l) == PF_NONE)
            return -1;
    }
    return 0;
}

/* A snapshot without links keeps no output index per tree node (out_of, 4 bytes a
 * node): add_open_time needs only those of the thread's open activations, which a small
 * map keeps (tree id -> output index, or the index of the node a spliced one went to;
 * STACK_UNSEEN until the walk meets it). */
#define STACK_UNSEEN (PF_CCT_NONE - 1)

static pf_hmap *stack_map(const pf_tstate *ts)
{
    pf_hmap *m = pf_hmap_new((size_t)ts->depth + 1);
    for (uint32_t d = 0; m != NULL && d < ts->depth; d++) {
        uint32_t *v = pf_hmap_slot(m, ts->stack[d].act.id, NULL);
        if (v == NULL) {
            pf_hmap_free(m);
            return NULL;
        }
        *v = STACK_UNSEEN;
    }
    return m;
}

/* Tree node id went to output index out: noted if it is an open activation's. */
static void stack_note(build_ctx *b, uint32_t id, uint32_t out)
{
    if (b->stack != NULL && pf_hmap_get(b->stack, id) == STACK_UNSEEN)
        *pf_hmap_slot(b->stack, id, NULL) = out;       /* present: no insertion */
}

/* The first walk's emit callback (pf_cct_merge's at stop, pf_cct_walk's for a
 * snapshot): one output node, counted; its code gets its trace index now, in the
 * order the nodes will be written (so the code and string tables are the ones the
 * records would have made). */
static uint32_t emit_node(void *ctx, uint32_t id, const pf_cct_node *n, uint32_t parent_out)
{
    build_ctx *b = ctx;
    (void)parent_out;
    if (code_index(b->t, b->s, key_index(b->s, n->key)) == PF_NONE || b->nout >= PF_NONE - 1)
        return PF_CCT_NONE;
    uint32_t index = b->nout++;
    stack_note(b, id, index);
    if (b->out_of != NULL) {
        b->out_of[id] = index;
        if (n->site <= PF_CCT_SITE_LINK)
            note_link(b, index, n);
    }
    b->calls += n->calls;
    return index;
}

/* The second walk's emit callback (pf_session_write): the node's record, streamed. */
static uint32_t emit_stream(void *ctx, uint32_t id, const pf_cct_node *n, uint32_t parent_out)
{
    build_ctx *b = ctx;
    (void)id;
    uint32_t k = key_index(b->s, n->key);
    pf_node rec;
    memset(&rec, 0, sizeof rec);
    rec.parent = parent_out == PF_CCT_NONE ? PF_NONE : parent_out;
    rec.thread = b->thread;
    rec.code = k < b->s->nkeys ? b->s->keys[k].index : PF_NONE;   /* the first walk's */
    if (rec.code == PF_NONE)
        return PF_CCT_NONE;
    rec.call_line = pf_cct_line(n);
    rec.calls = n->calls;
    rec.total_ns = (uint64_t)((double)n->total_ns * b->ns_per_tick + 0.5);
    rec.self_ns = (uint64_t)((double)n->self_ns * b->ns_per_tick + 0.5);
    uint32_t index = b->nout++;
    const node_extra *x = extra_get(b->plan, index);
    if (x != NULL) {
        rec.self_ns += x->self_ns;
        rec.total_ns += x->total_ns;
    }
    if (pf_trace_stream_node(b->w, &rec) < 0) {
        b->stream_failed = 1;
        return PF_CCT_NONE;
    }
    return index;
}

/* The third walk's (memory mode): the node's memory counters, streamed. */
static uint32_t emit_stream_mem(void *ctx, uint32_t id, const pf_cct_node *n,
                                uint32_t parent_out)
{
    build_ctx *b = ctx;
    (void)n;
    (void)parent_out;
    uint32_t index = b->nout++;
    pf_mem m = b->node_mem[id];
    const node_extra *x = extra_get(b->plan, index);
    if (x != NULL)
        pf_mem_add(&m, &x->mem);
    if (pf_trace_stream_node_mem(b->w, index, &m) < 0) {
        b->stream_failed = 1;
        return PF_CCT_NONE;
    }
    return index;
}

static uint32_t thread_name(pf_trace *t, pf_session *s, pf_tstate *ts)
{
    PyObject *thread = ts->thread != NULL ? Py_NewRef(ts->thread)
                                          : pf_thread_object(ts->ident);   /* new ref */
    uint32_t id = PF_STR_NONE;
    if (thread != NULL) {
        /* Thread._name, the attribute behind the name property: reading it runs no
         * Python code, so a snapshot never lets another thread in mid-build */
        PyObject *name = PyObject_GetAttrString(thread, "_name");    /* new ref */
        if (name == NULL || !PyUnicode_Check(name)) {
            Py_XDECREF(name);
            PyErr_Clear();
            name = PyObject_GetAttrString(thread, "name");
        }
        if (name != NULL && PyUnicode_Check(name))
            id = intern_str(t, name);
        Py_XDECREF(name);
        PyErr_Clear();
        Py_DECREF(thread);
    }
    if (id == PF_STR_NONE) {
        char buf[64];
        if (ts->ident == (uint64_t)s->main_ident)
            snprintf(buf, sizeof buf, "MainThread");
        else
            snprintf(buf, sizeof buf, "Thread-%llu", (unsigned long long)ts->ident);
        id = pf_strtab_intern_cstr(t->strings, buf);
    }
    return id;
}

/* meta helpers: copy a str / list of str from the meta dict */
static int meta_str(pf_session *s, const char *key, char **field)
{
    PyObject *v = s->meta ? PyDict_GetItemString(s->meta, key) : NULL;   /* borrowed */
    if (v == NULL || !PyUnicode_Check(v))
        return 0;
    const char *u = PyUnicode_AsUTF8(v);
    if (u == NULL) {
        PyErr_Clear();
        return 0;
    }
    return pf_meta_set_str(field, u);
}

static int meta_list(pf_session *s, const char *key, char ***list, uint32_t *count)
{
    PyObject *v = s->meta ? PyDict_GetItemString(s->meta, key) : NULL;   /* borrowed */
    if (v == NULL || !PyList_Check(v))
        return 0;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(v); i++) {
        PyObject *it = PyList_GET_ITEM(v, i);                          /* borrowed */
        const char *u = PyUnicode_Check(it) ? PyUnicode_AsUTF8(it) : NULL;
        if (u == NULL) {
            PyErr_Clear();
            u = "?";
        }
        if (pf_meta_push_str(list, count, u) < 0)
            return -1;
    }
    return 0;
}

/* Reads a whole file (NULL if unreadable).  Owned by the caller. */
static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    size_t cap = 1 << 16, n = 0;
    char *buf = pf_malloc(cap);
    while (buf != NULL) {
        n += fread(buf + n, 1, cap - n, f);
        if (n < cap)
            break;
        char *b = pf_realloc(buf, cap * 2);
        if (b == NULL) {
            pf_free(buf);
            buf = NULL;
            break;
        }
        buf = b;
        cap *= 2;
    }
    if (buf != NULL && ferror(f)) {
        pf_free(buf);
        buf = NULL;
    }
    fclose(f);
    *len = n;
    return buf;
}

/* Line records of every selected code that ran. */
static int add_lines(pf_trace *t, pf_session *s, double ns_per_tick)
{
    for (uint32_t i = 0; i < s->nkeys; i++) {
        pf_lcode *lc = s->keys[i].lc;
        if (lc == NULL)
            continue;
        uint32_t code = PF_NONE;
        for (uint32_t j = 0; j < lc->n; j++) {
            pf_lstat *st = &lc->st[j];
            if (st->hits == 0)
                continue;
            if (code == PF_NONE) {
                code = code_index(t, s, i);
                if (code == PF_NONE)
                    break;          /* never entered while recording */
            }
            pf_line rec;
            memset(&rec, 0, sizeof rec);
            rec.code = code;
            rec.line = (uint32_t)(lc->base + (int32_t)j);
            rec.hits = st->hits;
            rec.total_ns = (uint64_t)((double)st->total_ns * ns_per_tick + 0.5);
            rec.self_ns = (uint64_t)((double)st->self_ns * ns_per_tick + 0.5);
            if (rec.self_ns > rec.total_ns)
                rec.self_ns = rec.total_ns;
            if (pf_trace_add_line(t, &rec) == PF_NONE)
                return -1;
        }
    }
    return 0;
}

/* The source text of every file that has line records (each file read once). */
static int add_sources(pf_trace *t)
{
    pf_hmap *seen = pf_hmap_new(16);        /* path string ids tried */
    if (seen == NULL)
        return -1;
    for (uint32_t i = 0; i < t->nlines; i++) {
        uint32_t path = t->codes[t->lines[i].code].file;
        int inserted = 0;
        if (pf_hmap_slot(seen, path, &inserted) == NULL)
            goto fail;
        if (!inserted)
            continue;
        size_t plen = 0;
        const char *p = pf_strtab_get(t->strings, path, &plen);
        if (p == NULL)
            continue;
        size_t len = 0;
        char *text = read_file(p, &len);
        if (text == NULL)
            continue;               /* unreadable: the report shows no source */
        uint32_t r = pf_trace_add_source(t, path, text, len);
        pf_free(text);
        if (r == PF_NONE)
            goto fail;
    }
    pf_hmap_free(seen);
    return 0;
fail:
    pf_hmap_free(seen);
    return -1;
}

void pf_session_drop_tree(pf_session *s)
{
    for (pf_tstate *ts = s->threads; ts != NULL; ts = ts->next)
        ts->cct = NULL;
    pf_cct_free(s->cct);
    s->cct = NULL;
}

/* A snapshot's node: a spliced one's own time goes to the node it went to (as a merge's
 * splice adds it to the parent), and so do its memory counters. */
static void absorb_node(void *ctx, uint32_t id, const pf_cct_node *n, uint32_t into)
{
    build_ctx *b = ctx;
    stack_note(b, id, into);
    if (into == PF_CCT_NONE)
        return;                   /* into the thread's root: no frame of the program */
    node_extra *x = extra_at(b->plan, into);
    if (x == NULL) {
        b->failed = 1;
        return;
    }
    x->self_ns += (uint64_t)((double)n->self_ns * b->ns_per_tick + 0.5);
    if (b->node_mem != NULL)
        pf_mem_add(&x->mem, &b->node_mem[id]);
}

/* A snapshot: the time of ts's open activations up to now, added (as extras) to the
 * trace nodes they were output as (out_of, else the stack map), computed as pf_pop_top
 * would close them, on copies. */
static void add_open_time(build_ctx *b, pf_tstate *ts, const uint32_t *out_of, uint64_t now)
{
    if (ts->depth == 0)
        return;
    pf_cct_act cur = ts->stack[ts->depth - 1].act, caller;
    for (uint32_t d = ts->depth; d-- > 0;) {
        if (d > 0)
            caller = ts->stack[d - 1].act;
        uint64_t dt = now - cur.t0;
        uint32_t i;
        if (out_of != NULL)
            i = cur.id < pf_cct_count(b->s->cct) ? out_of[cur.id] : PF_CCT_NONE;
        else if ((i = b->stack != NULL ? pf_hmap_get(b->stack, cur.id) : PF_CCT_NONE)
                 == STACK_UNSEEN)
            i = PF_CCT_NONE;
        if (i != PF_CCT_NONE) {
            node_extra *x = extra_at(b->plan, i);
            if (x == NULL) {
                b->failed = 1;
                return;
            }
            x->self_ns += (uint64_t)((double)(dt - cur.child_ns) * b->ns_per_tick + 0.5);
            if (!cur.nested && !is_ours(b->s, pf_cct_at(b->s->cct, cur.id)))
                x->total_ns += (uint64_t)((double)dt * b->ns_per_tick + 0.5);
        }
        if (d > 0)
            caller.child_ns += dt;
        cur = caller;
    }
}

/* Notes that the nodes of root go to trace thread `thread` (the plan's roots). */
static int plan_root(pf_session_plan *p, uint32_t root, uint32_t thread)
{
    if (p->nroots == p->cap_roots) {
        uint32_t cap = p->cap_roots ? p->cap_roots * 2 : 8;
        uint32_t *r = pf_reallocarray(p->roots, cap, sizeof *r);
        if (r == NULL)
            return -1;
        p->roots = r;
        uint32_t *th = pf_reallocarray(p->threads, cap, sizeof *th);
        if (th == NULL)
            return -1;
        p->threads = th;
        p->cap_roots = cap;
    }
    p->roots[p->nroots] = root;
    p->threads[p->nroots++] = thread;
    return 0;
}

/* Builds the trace of the session's tree, with the times of the run from t_start to
 * s->t_stop: every record but the nodes, which it counts (*nnodes) and leaves to
 * pf_session_write (the plan, s->plan).  At stop (snapshot 0) every activation is
 * closed and the tree is merged (which changes it).  A snapshot (snapshot 1, t_stop =
 * now) walks the tree as it is and notes the open activations' time so far. */
static pf_trace *build(pf_session *s, int snapshot, uint64_t *total_calls, uint32_t *nnodes)
{
    pf_cct *cct = s->cct;
    uint32_t *out_of = NULL;
    build_ctx b;
    memset(&b, 0, sizeof b);
    /* what the collector held while recording, before stop frees its lookup tables */
    uint64_t held = s->bytes;
    plan_free(s);
    pf_trace *t = pf_trace_new();
    pf_memtrack_line *mlines = NULL;
    pf_mem *node_mem = NULL;
    uint32_t nmlines = 0;
    pf_memtrack_totals tot;
    const pf_memtrack *mt = s->memory ? pf_memhook_tracker() : NULL;
    if (t == NULL || (s->plan = pf_calloc(1, sizeof *s->plan)) == NULL)
        goto fail;
    if (!snapshot) {
        /* recording is over: lookups too (the merge walks lists) */
        pf_cct_release(cct);
        if (s->site_lines != NULL) {
            s->bytes -= pf_hmap_bytes(s->site_lines);
            pf_hmap_free(s->site_lines);
            s->site_lines = NULL;
        }
    }
    if (mt != NULL && mem_collect(s, mt, &node_mem, &mlines, &nmlines, &tot) < 0)
        goto fail;

    pf_meta *m = &t->meta;
    char host[256];
    if (gethostname(host, sizeof host) == 0) {
        host[sizeof host - 1] = 0;
        if (pf_meta_set_str(&m->hostname, host) < 0)
            goto fail;
    }
    if (meta_str(s, "python_version", &m->python_version) < 0
        || meta_str(s, "executable", &m->python_executable) < 0
        || meta_str(s, "cwd", &m->cwd) < 0
        || meta_list(s, "argv", &m->argv, &m->argc) < 0
        || meta_list(s, "path", &m->path, &m->npath) < 0
        || pf_meta_set_str(&m->clock, s->clock_name) < 0)
        goto fail;
    m->start_unix_ns = s->start_unix_ns;
    m->duration_ns = s->mono_stop - s->mono_start;
    /* event clock units -> ns, measured over the whole session */
    double ns_per_tick = 1.0;
    if (s->t_stop > s->t_start && s->mono_stop > s->mono_start && pf_use_tsc)
        ns_per_tick = (double)(s->mono_stop - s->mono_start) / (double)(s->t_stop - s->t_start);
    /* gaps are in event clock units, or CLOCK_MONOTONIC ns on the CPU clock */
    uint64_t gap_base = pf_use_cpu ? s->mono_start : s->t_start;
    double gap_scale = pf_use_cpu ? 1.0 : ns_per_tick;
    if (s->ngaps) {
        m->gaps = pf_calloc(s->ngaps, sizeof *m->gaps);
        if (m->gaps == NULL)
            goto fail;
        for (uint32_t i = 0; i < s->ngaps; i++) {
            const pf_gap *g = &s->gaps[i];
            pf_gap *o = &m->gaps[m->ngaps++];
            *o = *g;
            o->start_ns = g->start_ns > gap_base
                ? (uint64_t)((double)(g->start_ns - gap_base) * gap_scale + 0.5) : 0;
            o->end_ns = g->end_ns == 0 ? PF_GAP_OPEN
                : g->end_ns > gap_base
                ? (uint64_t)((double)(g->end_ns - gap_base) * gap_scale + 0.5) : 0;
        }
    }
    m->modes = PF_MODE_CALLS;
    m->flags = s->oom ? PF_FLAG_OUT_OF_MEMORY : 0;
    m->pid = (uint64_t)getpid();
    if (s->exit_signal != 0)
        m->exit_signal = (uint32_t)s->exit_signal;
    else if (s->exit_code != PF_EXIT_UNKNOWN)
        m->exit_code = s->exit_code;
    if (s->process.pid != 0) {          /* under collect: who this process is */
        pf_process pr = s->process;
        pr.command = pf_strtab_intern_cstr(t->strings, s->command ? s->command : "");
        if (pr.command == PF_STR_NONE)
            goto fail;
        if (m->exit_signal != 0) {
            pr.flags |= PF_PROC_KILLED;
            pr.exit_signal = m->exit_signal;
        } else if (m->exit_code != PF_EXIT_UNKNOWN) {
            pr.flags |= PF_PROC_EXITED;
            pr.exit_code = m->exit_code;
        }
        if (pf_trace_add_process(t, &pr) == PF_NONE)
            goto fail;
        if (s->rss != NULL && pf_rss_emit(s->rss, t, 0, s->mono_stop) < 0)
            goto fail;
    }

    b.s = s;
    b.node_mem = node_mem;
    b.t = t;
    b.plan = s->plan;
    b.ns_per_tick = ns_per_tick;
    const pf_cct_merge_ops ops = { splice_ours, moved, emit_node };
    const pf_cct_walk_ops wops = { splice_ours, emit_node, absorb_node };
    size_t nids = (size_t)pf_cct_count(cct) + 1;
    if (s->link_nodes && (out_of = pf_malloc(nids * sizeof *out_of)) == NULL)
        goto fail;
    if (s->link_nodes) {
        /* the walk sets only what it visits; creators may be in any thread */
        memset(out_of, 0xff, nids * sizeof *out_of);
        b.out_of = out_of;
        if (!snapshot && (b.went = pf_malloc(nids * sizeof *b.went)) == NULL)
            goto fail;
        if (b.went != NULL)
            memset(b.went, 0xff, nids * sizeof *b.went);
    }
    for (pf_tstate *ts = s->threads; ts != NULL; ts = ts->next) {
        if (ts->root == PF_CCT_NONE || ts->root >= pf_cct_count(cct)
            || pf_cct_at(cct, ts->root)->child == PF_CCT_NONE)
            continue;
        pf_thread th;
        th.ident = ts->ident;
        th.name = thread_name(t, s, ts);
        if (th.name == PF_STR_NONE)
            goto fail;
        b.thread = pf_trace_add_thread(t, &th);
        if (b.thread == PF_NONE || plan_root(s->plan, ts->root, b.thread) < 0)
            goto fail;
        if (snapshot) {
            if (out_of == NULL && (b.stack = stack_map(ts)) == NULL)
                goto fail;
            int r = pf_cct_walk(cct, ts->root, &wops, &b, out_of);
            if (r == 0)
                add_open_time(&b, ts, out_of, pf_use_cpu ? pf_now_of(ts) : s->t_stop);
            pf_hmap_free(b.stack);
            b.stack = NULL;
            if (r < 0)
                goto fail;
        } else if (pf_cct_merge(cct, ts->root, &ops, &b) < 0) {
            goto fail;
        }
    }
    if (!snapshot)
        pf_cct_release(cct);            /* the merge's work space */
    if (b.failed || (b.npending && add_links(&b) < 0))
        goto fail;
    m->links_dropped = s->links_dropped + (s->links ? pf_linkmap_dropped(s->links) : 0);
    pf_free(b.pending);
    pf_free(b.went);
    b.pending = NULL;
    b.went = NULL;
    pf_free(out_of);
    out_of = NULL;
    uint64_t calls = b.calls;
    if (t->nprocesses == 1) {
        t->processes[0].first_thread = 0;
        t->processes[0].nthreads = t->nthreads;
        t->processes[0].calls = calls;
        t->processes[0].duration_ns = m->duration_ns;
    }
    if (s->lines || s->lines_selected) {    /* asked for, even if nothing matched */
        m->modes |= PF_MODE_LINES;
        if (add_lines(t, s, ns_per_tick) < 0)
            goto fail;
    }
    m->total_calls = calls;
    m->profiler_bytes = held;
    if (mt != NULL) {
        m->modes |= PF_MODE_MEMORY;
        m->peak_live_bytes = tot.peak_live_bytes;
        if (s->native) {
            m->modes |= PF_MODE_NATIVE;
            m->peak_native_bytes = tot.peak_native_bytes;
        }
        m->profiler_bytes += tot.profiler_peak_bytes;
        if (tot.out_of_memory)
            m->flags |= PF_FLAG_OUT_OF_MEMORY;
        if (nmlines > 0) {
            m->modes |= PF_MODE_LINES;
            if (add_mem_lines(t, s, mlines, nmlines) < 0)
                goto fail;
        }
        if (t->nprocesses == 1)
            t->processes[0].peak_live_bytes = m->peak_live_bytes;
    }
    if (add_sources(t) < 0)
        goto fail;
    *total_calls = calls;
    *nnodes = b.nout;
    s->plan->snapshot = snapshot;
    s->plan->ns_per_tick = ns_per_tick;
    s->plan->nnodes = b.nout;
    s->plan->node_mem = node_mem;
    pf_memtrack_lines_free(mlines);
    return t;
fail:
    plan_free(s);
    pf_memtrack_lines_free(mlines);
    pf_free(node_mem);
    pf_free(out_of);
    pf_free(b.pending);
    pf_free(b.went);
    pf_trace_free(t);
    if (!PyErr_Occurred())
        PyErr_NoMemory();
    return NULL;
}

pf_trace *pf_session_build_trace(pf_session *s, uint64_t *total_calls, uint32_t *nnodes)
{
    return build(s, 0, total_calls, nnodes);
}

int pf_session_write(pf_session *s, const pf_trace *t, pf_error *err)
{
    pf_session_plan *p = s->plan;
    if (p == NULL || s->cct == NULL)
        return pf_error_set(err, PF_EUSAGE, "no trace was built to write");
    /* under collect (a process record), collect merges the parts and compresses once */
    pf_trace_stream *w = pf_trace_stream_open(t, p->nnodes, s->path, s->command == NULL, err);
    int rc = -1;
    if (w == NULL)
        goto done;
    build_ctx b;
    memset(&b, 0, sizeof b);
    b.s = s;
    b.plan = p;
    b.node_mem = p->node_mem;
    b.ns_per_tick = p->ns_per_tick;
    b.w = w;
    /* the walks of the build again: a snapshot's with its splices, the stop's over the
     * merged tree; then the memory counters in the same order */
    const pf_cct_walk_ops nodes_ops = { p->snapshot ? splice_ours : NULL, emit_stream, NULL };
    const pf_cct_walk_ops mem_ops = { p->snapshot ? splice_ours : NULL, emit_stream_mem, NULL };
    for (int pass = 0; pass < (p->node_mem != NULL ? 2 : 1); pass++) {
        b.nout = 0;
        for (uint32_t r = 0; r < p->nroots; r++) {
            b.thread = p->threads[r];
            if (pf_cct_walk(s->cct, p->roots[r], pass ? &mem_ops : &nodes_ops, &b, NULL) < 0) {
                if (b.stream_failed)
                    rc = pf_trace_stream_close(w, err);    /* fails with the stream's error */
                else {
                    pf_trace_stream_abort(w);
                    pf_error_set(err, PF_ENOMEM, "out of memory writing trace");
                }
                goto done;
            }
        }
    }
    rc = pf_trace_stream_close(w, err);
done:
    plan_free(s);
    return rc;
}

int pf_session_write_snapshot(pf_session *s, uint64_t now, uint64_t mono_now, int sig,
                              pf_error *err)
{
    /* the key table's index field chains dead keys while recording, and is the trace's
     * code index while building and writing: empty the chain, build, write, then clear
     * the indices */
    release_dead(s);
    for (size_t i = 0; i < s->nkeys; i++)
        s->keys[i].index = PF_NONE;
    uint64_t saved_t = s->t_stop, saved_mono = s->mono_stop;
    s->t_stop = now;
    s->mono_stop = mono_now;
    uint64_t calls = 0;
    uint32_t nnodes = 0;
    int rc = -1;
    pf_trace *t = build(s, 1, &calls, &nnodes);
    s->t_stop = saved_t;
    s->mono_stop = saved_mono;
    if (t == NULL) {
        PyErr_Clear();
        pf_error_set(err, PF_ENOMEM, "out of memory building a snapshot");
    } else {
        if (sig == 0) {         /* a periodic one: the final write replaces it */
            t->meta.flags |= PF_FLAG_CUT_SHORT;
            for (uint32_t i = 0; i < t->nprocesses; i++)
                t->processes[i].flags |= PF_PROC_CUT_SHORT;
        }
        rc = pf_session_write(s, t, err);
        pf_trace_free(t);
    }
    for (size_t i = 0; i < s->nkeys; i++)
        s->keys[i].index = PF_NONE;
    return rc;
}
