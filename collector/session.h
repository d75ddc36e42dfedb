/* session.h: the collector's in-process data: one recording session (the calling-
 * context tree of every thread, the table of code objects and C functions it refers
 * to, its memory) and the per-thread shadow stacks.  Internal to the extension.
 *
 * The tree.  Each thread has a root sentinel; a node is one distinct path of
 * (key, call site) from that root, where key is a code object or a C function's
 * PyMethodDef and the call site is the byte offset of the calling instruction in the
 * parent's code (-1 when unknown, e.g. under a C function).  Offsets become line
 * numbers at stop time (one PyCode_Addr2Line per node, not per event) and siblings
 * that land on the same (key, line) are merged then.  Children are a singly linked
 * move-to-front list: the hot child is found with one compare.
 *
 * Direct recursion is folded so that the tree stays bounded by the program's shape
 * rather than by its recursion trees (naive fib would otherwise get one node per call):
 * a chain of same-key nodes is at most three long (the outermost activation C0, the
 * calls it makes to itself C1, and C2 standing for every deeper level).  A call made
 * from a C2 node to the same key goes to C2's sibling of the right call site instead
 * of a new child, and is marked nested so that its time is not added to the node's
 * total twice.  This keeps cProfile's numbers exact when derived from the tree
 * (primitive calls = calls of nodes without a same-code ancestor; edge-primitive =
 * without the same caller->callee pair above): only C0 and C1 activations can be
 * primitive, and they are never folded.
 *
 * Invariant: every node reachable from a root has its key in the session's key table,
 * which holds a strong reference to each code object (so a key pointer is never
 * reused by another object while the tree refers to it).
 *
 * Lines (PF_MODE_LINES).  Each code object is looked up once per activation in a
 * per-session cache (pointer hash, decided at its first activation: the profile
 * decorator, or --lines with the include/exclude rules).  A selected code gets a
 * pf_lcode, an array of counters indexed by line - co_firstlineno; the shadow-stack
 * entry of its activation holds the current line, its start time and the entry's
 * child time then, so a line's self time is its span minus the callee time that
 * accrued during it.  A line ends at the next line event of the same activation or
 * when the activation closes (return, yield, unwind), as line_profiler counts it.
 *
 * Memory (PF_MODE_MEMORY, collector/memhook.h).  Every push, pop and line event also
 * stores the thread's current allocation site (node id, line) where memhook's hooks read
 * it: two plain stores, no branch.  At stop memtrack's per-site counters become node and
 * line pf_mem values (see pf_session_build_trace).
 *
 * Steady state allocates nothing: nodes come from arena chunks, stacks grow by
 * doubling.  When an allocation fails (or the memory limit is hit) the session sets
 * oom and pauses every thread: recording stops; what it has is still written.
 */
#ifndef PF_COLLECTOR_SESSION_H
#define PF_COLLECTOR_SESSION_H

#include <stdint.h>
#include <time.h>

#include "collector/compat.h"
#include "collector/memhook.h"
#include "formats/trace.h"

enum pf_key_kind { PF_KEY_PYTHON = 0, PF_KEY_NATIVE = 1 };

typedef struct pf_cnode pf_cnode;
struct pf_cnode {
    pf_cnode *parent;
    pf_cnode *child;          /* first child (move-to-front list) */
    pf_cnode *sibling;
    void *key;                /* PyCodeObject * or PyMethodDef *, see kind */
    int32_t site;             /* call instruction's byte offset in parent's code; -1 unknown */
    uint8_t kind;             /* enum pf_key_kind */
    uint8_t chain;            /* same-key ancestors in a row, capped at 2 (C0, C1, C2) */
    uint8_t merged;           /* stop time: merged into a sibling or spliced out */
    uint8_t resolved;         /* stop time: line is set */
    uint32_t line;            /* stop time: site resolved to a line (0 unknown) */
    uint32_t index;           /* stop time: index in the written trace */
    uint64_t calls;           /* entries (a generator resume counts) */
    uint64_t total_ns;        /* inclusive time of non-nested activations */
    uint64_t self_ns;         /* time not spent in callees, all activations */
    uint32_t mid;             /* dense id in creation order: the node's allocation site id
                                 for memhook (PF_MEM_NONE past 2^32-1 nodes) */
};

/* Line data of one selected code object (PF_MODE_LINES): counters indexed by
 * line - base, grown on demand (so steady state allocates nothing). */
typedef struct pf_lstat {
    uint64_t hits, total_ns, self_ns;
} pf_lstat;

typedef struct pf_lcode {
    PyObject *code;           /* borrowed: the cache slot holds the reference */
    int32_t base;             /* line of st[0] (co_firstlineno) */
    uint32_t n;
    pf_lstat *st;
    int armed;                /* 3.12+: LINE events are on for the code */
} pf_lcode;

/* Per-code selection cache: decided once per code object, at its first activation. */
typedef struct pf_lslot {
    void *key;                /* PyCodeObject *; NULL = empty slot */
    PyObject *obj;            /* new ref: the code object */
    pf_lcode *lc;             /* NULL: not selected */
} pf_lslot;

/* One shadow-stack entry: an open activation. */
typedef struct pf_entry {
    pf_cnode *node;
    uint64_t t0;              /* entry time */
    uint64_t child_ns;        /* time spent in callees so far */
#if !PF_USE_MONITORING
    void *frame;              /* <=3.11: borrowed PyFrameObject * of a Python entry (for the
                                 caller's lasti); NULL for C functions */
#endif
    pf_lcode *lcode;          /* line data of the code, NULL if not selected */
    int32_t line;             /* current line (0 = none yet) when lcode != NULL */
    uint64_t line_t0;         /* when the current line started */
    uint64_t line_child0;     /* child_ns when it started */
    uint32_t nested;          /* folded recursion: time already inside an open activation
                                 of the same node, so not added to its total */
} pf_entry;

typedef struct pf_session pf_session;

/* Per-thread state.  A Python object so that the <=3.11 profile hook receives it as
 * its argument; on 3.12+ a thread-local pointer finds it.  It outlives its session
 * when a thread still has the hook installed at stop: then session == NULL and the
 * hook uninstalls itself at its next event. */
typedef struct pf_tstate {
    PyObject_HEAD
    pf_session *session;      /* NULL once the session has stopped */
    struct pf_tstate *next;   /* the session's threads, in order of first event */
    uint64_t ident;           /* PyThread_get_thread_ident() */
    PyObject *thread;         /* new ref: threading.Thread object once known, else NULL */
    uint32_t name_tries;      /* attempts left to find the Thread object */
    int paused;               /* events of this thread are ignored */
    pf_cnode root;            /* sentinel: children are the thread's top-level calls */
    pf_entry *stack;
    uint32_t depth, cap;
    /* Where this thread's allocations go (PF_MODE_MEMORY): memhook's per-thread site
     * with --memory, else own_site, so the hot path stores unconditionally. */
    pf_mem_site *msite;
    pf_mem_site own_site;
} pf_tstate;

typedef struct pf_keyslot {
    void *key;                /* PyCodeObject * or PyMethodDef *; NULL = empty slot */
    PyObject *obj;            /* new ref: the code object, or the native's label (str) */
    uint8_t kind;
    uint32_t index;           /* stop time: index in the trace's codes, PF_NONE if none yet */
} pf_keyslot;

struct pf_session {
    char *path;               /* output file (owned) */
    uint64_t t_start, t_stop;       /* event clock at start / stop */
    uint64_t mono_start, mono_stop; /* CLOCK_MONOTONIC ns at start / stop */
    int64_t start_unix_ns;
    const char *clock_name;         /* meta.clock */
    PyObject *meta;           /* new ref: dict given to start() (argv, path, cwd, ...) */
    /* node arena */
    char *chunk_cur, *chunk_end;
    void **chunks; size_t nchunks, cap_chunks;
    /* key table (open addressing, power-of-two capacity) */
    pf_keyslot *keys; size_t nkeys, cap_keys;
    /* threads */
    pf_tstate *threads, *threads_tail;
    uint64_t nnodes;
    size_t bytes;             /* memory the session holds */
    size_t limit;             /* 0 = none, else stop recording above this many bytes */
    int oom;                  /* an allocation failed: recording stopped */
    const char *ours_prefix;  /* our package folder: its code is not the program's */
    size_t ours_prefix_len;
    /* lines (see pf_lines_lookup) */
    pf_lslot *lslots; size_t nlslots, cap_lslots;
    int lines;                /* --lines: select the program's own code */
    int lines_used;           /* some code was selected (the trace gets PF_MODE_LINES) */
    char *lines_root;         /* owned: folder of the program's own code ("/x/y/"), or NULL */
    char **include, **exclude; /* owned NULL-terminated fnmatch patterns, or NULL */
    /* memory (--memory): the allocator hooks record into memhook's tracker */
    int memory;
    pf_mem *node_mem;         /* stop time: SELF counters by node id (owned), see build */
};

/* The event clock.  Where the CPU has an invariant TSC (x86-64 with cpuid
 * 0x80000007:EDX[8]) events read it with rdtsc, which costs a fraction of a
 * clock_gettime(CLOCK_MONOTONIC) call (measured here under KVM: about 30 ns against
 * 75 ns per read, and a call has two reads); ticks are converted to nanoseconds at
 * stop time with the rate measured against CLOCK_MONOTONIC over the whole session.
 * Elsewhere, or with PYFLAME_C_CLOCK=monotonic, events read CLOCK_MONOTONIC. */
#if defined(__x86_64__)
#include <x86intrin.h>
#define PF_HAVE_TSC 1
#else
#define PF_HAVE_TSC 0
#endif
extern int pf_use_tsc;

PF_INLINE uint64_t pf_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Event timestamp: TSC ticks or ns (see above); only differences are meaningful. */
PF_INLINE uint64_t pf_now(void)
{
#if PF_HAVE_TSC
    if (PF_LIKELY(pf_use_tsc))
        return __rdtsc();
#endif
    return pf_mono_ns();
}

/* Chooses the event clock (once per session, at start).  Returns its name for meta.clock. */
const char *pf_clock_choose(void);

/* ---- module.c ---- */

/* Ident of the thread that imported the extension (the main thread). */
unsigned long pf_main_thread_ident(void);

/* ---- session.c ---- */

/* A new session writing to path (copied).  NULL with a Python exception set on failure. */
pf_session *pf_session_new(const char *path, size_t limit);
/* Frees the session: its tree, key table (dropping the code references), and detaches
 * its thread states (they stay alive while a hook still refers to them).  NULL-safe. */
void pf_session_free(pf_session *s);

/* Thread state for the calling thread, created and linked into s.  New ref owned by the
 * session's list (the returned pointer is borrowed).  NULL if out of memory (sets s->oom). */
pf_tstate *pf_tstate_create(pf_session *s, PyTypeObject *type);

/* Slow path of a push: allocates a child of parent for (key, site) and registers the
 * key (obj is the callable for natives, to compute its label, or NULL; self_arg the
 * bound object for method descriptors or NULL).  NULL when out of memory. */
pf_cnode *pf_session_new_child(pf_session *s, pf_cnode *parent, void *key, int32_t site,
                               int kind, PyObject *obj, PyObject *self_arg);

/* Decides whether code's lines are recorded and caches the answer (slow path of
 * pf_lines_lookup).  Returns its line data or NULL (not selected, or out of memory). */
pf_lcode *pf_lines_decide(pf_session *s, PyObject *code);
/* Selects code unconditionally (the profile decorator).  Its line data, or NULL when
 * out of memory. */
pf_lcode *pf_lines_mark(pf_session *s, PyObject *code);
/* Slow path of a line event: makes room for line in lc.  NULL when out of memory. */
pf_lstat *pf_lcode_grow(pf_session *s, pf_lcode *lc, int32_t line);

/* Grows ts's stack; 0 or -1 (sets oom). */
int pf_tstate_grow(pf_tstate *ts);

/* Closes every open activation of every thread at time now (like cProfile's
 * flush_unmatched).  Nodes of our own code are spliced out later, when building. */
void pf_session_flush(pf_session *s, uint64_t now);

/* Builds the trace model from the session (after flush).  New trace or NULL (OOM,
 * Python exception set). */
pf_trace *pf_session_build_trace(pf_session *s, uint64_t *total_calls);

/* ---- the hot path ---- */

PF_INLINE size_t pf_ptr_hash(const void *key)
{
    uint64_t h = (uint64_t)(uintptr_t)key;
    h ^= h >> 17;
    h *= 0x9E3779B97F4A7C15ull;
    return (size_t)(h >> 20);
}

/* Line data of code if it is selected, else NULL.  One probe in the common case. */
PF_INLINE pf_lcode *pf_lines_lookup(pf_session *s, void *code)
{
    if (PF_LIKELY(s->cap_lslots != 0)) {
        size_t mask = s->cap_lslots - 1;
        for (size_t i = pf_ptr_hash(code) & mask;; i = (i + 1) & mask) {
            if (s->lslots[i].key == code)
                return s->lslots[i].lc;
            if (s->lslots[i].key == NULL)
                break;
        }
    }
    return pf_lines_decide(s, (PyObject *)code);
}

/* Ends the current line of e at now (inclusive and self time). */
PF_INLINE void pf_line_close(pf_entry *e, uint64_t now)
{
    int32_t i = e->line - e->lcode->base;
    if (e->line <= 0 || i < 0 || (uint32_t)i >= e->lcode->n)
        return;
    pf_lstat *st = &e->lcode->st[i];
    uint64_t dt = now - e->line_t0;
    st->total_ns += dt;
    st->self_ns += dt - (e->child_ns - e->line_child0);
}

/* A line event in e's frame: the previous line ends, line starts. */
PF_INLINE void pf_line_event(pf_session *s, pf_entry *e, int32_t line, uint64_t now)
{
    pf_lcode *lc = e->lcode;
    pf_line_close(e, now);
    e->line = line;
    e->line_t0 = now;
    e->line_child0 = e->child_ns;
    int32_t i = line - lc->base;
    pf_lstat *st;
    if (PF_LIKELY(i >= 0 && (uint32_t)i < lc->n))
        st = &lc->st[i];
    else if ((st = pf_lcode_grow(s, lc, line)) == NULL)
        return;
    st->hits++;
}

PF_INLINE pf_cnode *find_child(pf_cnode *parent, void *key, int32_t site)
{
    pf_cnode *c = parent->child;
    if (PF_LIKELY(c != NULL && c->key == key && c->site == site))
        return c;
    if (c == NULL)
        return NULL;
    pf_cnode *prev = c;
    c = c->sibling;
    if (c != NULL && c->key == key && c->site == site)
        return c;                           /* second: leave it (alternating pairs are common) */
    for (; c != NULL; prev = c, c = c->sibling) {
        if (c->key == key && c->site == site) {
            prev->sibling = c->sibling;     /* move to front */
            c->sibling = parent->child;
            parent->child = c;
            return c;
        }
    }
    return NULL;
}

/* Opens an activation of key called from the current top at site.  obj/self_arg
 * only matter when the node is new (see pf_session_new_child). */
PF_INLINE void pf_push(pf_tstate *ts, void *key, int32_t site, int kind, void *frame,
                       PyObject *obj, PyObject *self_arg, uint64_t now)
{
    uint32_t depth = ts->depth;
    pf_cnode *parent = depth ? ts->stack[depth - 1].node : &ts->root;
    uint32_t nested = 0;
    if (PF_UNLIKELY(parent->key == key) && parent->chain == 2) {
        parent = parent->parent;            /* fold: see the file comment */
        nested = 1;
    }
    pf_cnode *n = find_child(parent, key, site);
    if (PF_UNLIKELY(n == NULL)) {
        n = pf_session_new_child(ts->session, parent, key, site, kind, obj, self_arg);
        if (n == NULL)
            return;
    }
    if (PF_UNLIKELY(depth == ts->cap) && pf_tstate_grow(ts) < 0)
        return;
    pf_entry *e = &ts->stack[depth];
    ts->depth = depth + 1;
    e->node = n;
    e->t0 = now;
    e->child_ns = 0;
#if !PF_USE_MONITORING
    e->frame = frame;
#else
    (void)frame;
#endif
    e->nested = nested;
    e->lcode = NULL;
    e->line = 0;
    n->calls++;
    ts->msite->node = n->mid;     /* allocations now belong to n, line unknown yet */
    ts->msite->line = 0;
}

PF_INLINE void pf_pop_top(pf_tstate *ts, uint64_t now)
{
    uint32_t depth = --ts->depth;
    pf_entry *e = &ts->stack[depth];
    uint64_t dt = now - e->t0;
    pf_cnode *n = e->node;
    if (e->lcode != NULL)
        pf_line_close(e, now);
    n->self_ns += dt - e->child_ns;
    if (!e->nested)
        n->total_ns += dt;
    if (depth) {
        e[-1].child_ns += dt;
        ts->msite->node = e[-1].node->mid;    /* back in the caller, on its current line */
        ts->msite->line = e[-1].line > 0 ? (uint32_t)e[-1].line : 0;
    } else {
        ts->msite->node = PF_MEM_NONE;
        ts->msite->line = 0;
    }
}

/* Closes the activation of key.  Unmatched returns (frames that began before recording
 * did) are ignored; if a few C entries were left open above it, they close too. */
PF_INLINE void pf_pop(pf_tstate *ts, void *key, uint64_t now)
{
    if (PF_UNLIKELY(ts->depth == 0))
        return;
    if (PF_LIKELY(ts->stack[ts->depth - 1].node->key == key)) {
        pf_pop_top(ts, now);
        return;
    }
    uint32_t lo = ts->depth > 5 ? ts->depth - 5 : 0;
    for (uint32_t j = ts->depth - 1; j-- > lo;) {
        if (ts->stack[j].node->key == key) {
            while (ts->depth > j)
                pf_pop_top(ts, now);
            return;
        }
    }
}

#endif
