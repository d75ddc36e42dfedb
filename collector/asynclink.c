/* asynclink.c: linking asyncio tasks and thread pool work items to the calls that
 * created them (see asynclink.h for the model).  Everything here runs on the slow
 * paths the event sources take after a flag test; each saves and restores the pending
 * exception and keeps what it allocates out of the program's memory data. */
#include "collector/asynclink.h"

#include <string.h>

#include "formats/trace.h"

/* Interned argument names (created once, kept: the extension is never unloaded). */
static PyObject *name_coro, *name_self;

/* True when the UTF-8 text of str ends with suffix. */
static int str_endswith(PyObject *str, const char *suffix)
{
    Py_ssize_t len;
    const char *u = PyUnicode_Check(str) ? PyUnicode_AsUTF8AndSize(str, &len) : NULL;
    if (u == NULL) {
        PyErr_Clear();
        return 0;
    }
    size_t n = strlen(suffix);
    return (size_t)len >= n && memcmp(u + len - n, suffix, n) == 0;
}

static int str_is(PyObject *str, const char *text)
{
    return str != NULL && PyUnicode_Check(str)
           && PyUnicode_CompareWithASCIIString(str, text) == 0;
}

/* Whether the code's variable i is named name (and is an argument). */
static int arg_is(PyCodeObject *co, int i, const char *name)
{
    if (co->co_argcount <= i)
        return 0;
    PyObject *names = PyObject_GetAttrString((PyObject *)co, "co_varnames");   /* new ref */
    int ok = names != NULL && PyTuple_Check(names) && PyTuple_GET_SIZE(names) > i
             && str_is(PyTuple_GET_ITEM(names, i), name);
    Py_XDECREF(names);
    PyErr_Clear();
    return ok;
}

/* Whether the code is Class.method: its qualname where the interpreter has one
 * (3.11+), else its name and the name of its second argument (which tells
 * _WorkItem.__init__(self, future, ...) from the module's other __init__). */
static int is_method(PyCodeObject *co, const char *qualname, const char *name,
                     const char *arg1)
{
#if PY_VERSION_HEX >= 0x030B0000
    (void)name; (void)arg1;
    return str_is(co->co_qualname, qualname);
#else
    (void)qualname;
    return str_is(co->co_name, name) && (arg1 == NULL || arg_is(co, 1, arg1));
#endif
}

void pf_async_key_marks(PyCodeObject *co, uint8_t *marks, uint8_t *role)
{
    *marks = 0;
    *role = PF_ASYNC_NONE;
    if (co->co_flags & (CO_COROUTINE | CO_ITERABLE_COROUTINE | CO_ASYNC_GENERATOR))
        *marks |= PF_NODE_CORO;
    PyObject *file = co->co_filename;                 /* borrowed */
    if (str_endswith(file, "/asyncio/base_events.py")) {
        if (is_method(co, "BaseEventLoop.create_task", "create_task", NULL)
            && arg_is(co, 1, "coro"))
            *role = PF_ASYNC_SPAWN;
    } else if (str_endswith(file, "/concurrent/futures/thread.py")) {
        if (is_method(co, "_WorkItem.__init__", "__init__", "future")
            && arg_is(co, 0, "self"))
            *role = PF_ASYNC_WORK_INIT;
        else if (is_method(co, "_WorkItem.run", "run", NULL) && arg_is(co, 0, "self"))
            *role = PF_ASYNC_WORK_RUN;
        else if (is_method(co, "WorkerContext.run", "", NULL))
            *role = PF_ASYNC_WORK_PASS;
    }
    if (*role != PF_ASYNC_NONE)
        *marks |= PF_NODE_WATCH;
}

/* The role of the key of node n (a PF_NODE_WATCH node). */
static int role_of(pf_session *s, const pf_cct_node *n)
{
    uint32_t i = pf_hmap_get(s->key_map, (uint64_t)n->key);
    return i == PF_HMAP_NONE ? PF_ASYNC_NONE : s->keys[i].role;
}

/* Records a pending link: key's first activation is to be linked to creator. */
static void put(pf_session *s, void *key, uint32_t creator, uint32_t kind)
{
    int32_t site = pf_async_site(creator, kind);
    if (key == NULL)
        return;
    if (site == 0) {                  /* a node id past what a site holds: 2^29 nodes */
        s->links_dropped++;
        return;
    }
    if (s->links == NULL
        && (s->links = pf_linkmap_new(&s->bytes, s->limit, PF_ASYNC_MAX_PENDING)) == NULL) {
        s->links_dropped++;
        return;
    }
    (void)pf_linkmap_put(s->links, (uintptr_t)key, site, (uint8_t)kind);  /* counts refusals */
}

void pf_async_watch(pf_tstate *ts, PyFrameObject *frame)
{
    pf_session *s = ts->session;
    pf_entry *e = &ts->stack[ts->depth - 1];
    int role = role_of(s, e->act.node);
    if (role == PF_ASYNC_NONE)
        return;
    if (role == PF_ASYNC_WORK_PASS) {                 /* no Python calls needed */
        if (e->act.node->site <= PF_CCT_SITE_LINK)
            e->link = e->act.node->site;
        return;
    }
    pf_memhook_suspend();
    pf_exc exc;
    pf_exc_save(&exc);
    if (name_coro == NULL)
        name_coro = PyUnicode_InternFromString("coro");
    if (name_self == NULL)
        name_self = PyUnicode_InternFromString("self");
    if (frame == NULL)
        frame = PyEval_GetFrame();                    /* borrowed: the callee's (3.12+) */
    if (frame != NULL && name_coro != NULL && name_self != NULL) {
        if (role == PF_ASYNC_SPAWN)
            put(s, pf_frame_arg(frame, 1, name_coro), e->act.id, PF_LINK_TASK);
        else if (role == PF_ASYNC_WORK_INIT)
            put(s, pf_frame_arg(frame, 0, name_self), e->act.id, PF_LINK_EXECUTOR);
        else if (s->links != NULL) {
            uintptr_t item = (uintptr_t)pf_frame_arg(frame, 0, name_self);
            pf_link_entry *le = pf_linkmap_get(s->links, item, PF_LINK_EXECUTOR);
            if (le != NULL) {
                e->link = le->site;                   /* its callees: see pf_push */
                pf_linkmap_remove(s->links, item);    /* an item runs once */
            }
        }
    }
    pf_exc_restore(&exc);
    pf_memhook_resume();
}

/* The link site of the task whose root coroutine (of key code) starts or resumes now,
 * or site. */
static int32_t root_site(pf_tstate *ts, void *code, PyFrameObject *frame, int32_t site)
{
    pf_session *s = ts->session;
    if (s->links == NULL || pf_linkmap_count(s->links) == 0)
        return site;
    pf_memhook_suspend();                             /* a frame object may be made */
    pf_exc exc;
    pf_exc_save(&exc);
    if (frame == NULL)
        frame = PyEval_GetFrame();
    void *coro = frame != NULL ? pf_frame_generator(frame) : NULL;
    pf_link_entry *le = pf_linkmap_get(s->links, (uintptr_t)coro, PF_LINK_TASK);
    if (le != NULL) {
        if (!le->resolved) {                          /* once per task: its first resume */
            le->site = pf_async_fold(ts->cct, le->site, (uintptr_t)code);
            le->resolved = 1;
        }
        site = le->site;
    }
    pf_exc_restore(&exc);
    pf_memhook_resume();
    return site;
}

void pf_async_push_root(pf_tstate *ts, void *code, int32_t site, PyFrameObject *frame,
                        uint64_t now)
{
    uint32_t depth = ts->depth;
    site = root_site(ts, code, frame, site);
    pf_push(ts, code, site, PF_KEY_PYTHON, frame, NULL, NULL, now);
    if (site <= PF_CCT_SITE_LINK && ts->depth > depth)
        ts->stack[depth].link = 1;                    /* its end drops the pending link */
}

void pf_async_root_done(pf_tstate *ts, PyFrameObject *frame)
{
    pf_session *s = ts->session;
    if (s->links == NULL || pf_linkmap_count(s->links) == 0)
        return;
    pf_memhook_suspend();
    pf_exc exc;
    pf_exc_save(&exc);
#if PF_USE_MONITORING
    int ended = 1;                                    /* only PY_RETURN / PY_UNWIND call */
    frame = PyEval_GetFrame();                        /* the coroutine's */
#else
    int ended = frame != NULL && !pf_frame_yielded(frame);   /* else the task goes on */
#endif
    if (ended && frame != NULL)
        pf_linkmap_remove(s->links, (uintptr_t)pf_frame_generator(frame));
    pf_exc_restore(&exc);
    pf_memhook_resume();
}

/* Steps of the walk in pf_async_fold: deeper async ancestries are not folded. */
#define FOLD_STEPS 4096

int32_t pf_async_fold(const pf_cct *t, int32_t link_site, uintptr_t key)
{
    uint32_t kind, k;
    uint32_t cur = pf_async_creator(link_site, &kind);
    uint32_t count = pf_cct_count(t);
    for (int steps = 0; steps < FOLD_STEPS && cur < count; steps++) {
        const pf_cct_node *n = pf_cct_at(t, cur);
        if (pf_cct_flags(n) & PF_CCT_ROOT)
            break;
        if (n->site <= PF_CCT_SITE_LINK) {            /* a linked node: on to its creator */
            uint32_t creator = pf_async_creator(n->site, &k);
            if (n->key == key && k == kind)
                return n->site;
            cur = creator;
        } else {
            cur = n->parent;
        }
    }
    return link_site;
}
