/* session.h: the collector's in-process data: one recording session (the calling-
 * context tree of every thread, the table of code objects and C functions it refers
 * to, its memory) and the per-thread shadow stacks.  Internal to the extension.
 *
 * The tree is collector/cct.h's calling-context tree: one root per thread, nodes keyed
 * by (key, call site), where key is a code object or a C function's PyMethodDef and
 * the call site the byte offset of the calling instruction in the parent's code (-1
 * when unknown, e.g. under a C function); the offset becomes a line when the node is
 * made, while the parent's code runs (one PyCode_Addr2Line per node, not per event).
 *
 * Invariant: every node's key is in the session's key table.  Code objects are held
 * weakly: when one dies, its nodes are rekeyed to a tombstone, so that a key pointer
 * reused by a new object never finds the dead one's nodes (session.c, key table).
 *
 * Lines (PF_MODE_LINES).  Each code object is looked up once per activation in the
 * key table (whether it is selected is decided at its first activation: the profile
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
 * Asyncio links (collector/asynclink.h).  A task's root coroutine and the calls a thread
 * pool's worker makes for a work item are entered with a link site naming the node that
 * created them; a node's key record says whether it is a coroutine (PF_NODE_CORO) or
 * one of the calls that create or run that work (PF_NODE_WATCH), so the hot path pays
 * a flag test.  The sites become the trace's LINKS records at stop.
 *
 * Steady state allocates nothing: nodes come from the tree's chunks, stacks grow by
 * doubling.  When an allocation fails (or the memory limit is hit) the session sets
 * oom and pauses every thread: recording stops; what it has is still written.
 */
#ifndef PF_COLLECTOR_SESSION_H
#define PF_COLLECTOR_SESSION_H

#include <stdint.h>
#include <time.h>

#include "collector/cct.h"
#include "collector/compat.h"
#include "collector/linkmap.h"
#include "collector/memhook.h"
#include "formats/hashmap.h"
#include "formats/trace.h"

enum pf_key_kind { PF_KEY_PYTHON = 0, PF_KEY_NATIVE = 1 };

/* The marks a node gets from its key (cct.h's caller marks), see asynclink.h. */
#define PF_NODE_CORO  PF_CCT_MARK1  /* a frame of an await chain: coroutine, async
                                       generator or generator-based coroutine */
#define PF_NODE_WATCH PF_CCT_MARK2  /* creates or runs a task or work item */

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
    int straight;             /* not a generator or coroutine: every activation starts at
                                 the top, and reports its first line before any call */
} pf_lcode;

/* One shadow-stack entry: an open activation. */
typedef struct pf_entry {
    pf_cct_act act;           /* node, times */
    void *frame;              /* <=3.11: borrowed PyFrameObject * of a Python entry (for the
                                 caller's lasti), NULL for C functions; 3.12+: a C
                                 function's callable (compared at its C_RETURN), else NULL */
    pf_lcode *lcode;          /* line data of the code, NULL if not selected */
    int32_t line;             /* current line (0 = none yet or unknown, never negative)
                                 when lcode != NULL */
    int32_t link;             /* asynclink.h: 1 for a task's root coroutine entered with
                                 its link site, < 0 the link site its callees are entered
                                 with (a _WorkItem.run running a linked item), else 0 */
    uint64_t line_t0;         /* when the current line started; 0 before the first */
    uint64_t line_child0;     /* act.child_ns when it started */
} pf_entry;

typedef struct pf_session pf_session;
typedef struct pf_session_plan pf_session_plan;   /* session.c: the nodes to write */

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
    pf_cct *cct;              /* the session's tree (one load less on the hot path) */
    uint32_t root;            /* the thread's root in it */
    pf_entry *stack;
    uint32_t depth, cap;
    /* Where this thread's allocations go (PF_MODE_MEMORY): memhook's per-thread site
     * with --memory, else own_site, so the hot path stores unconditionally. */
    pf_mem_site *msite;
    pf_mem_site own_site;
    /* <=3.11: the program's own Python-level hooks on this thread, which ours call
     * (sys.setprofile / sys.settrace, chained): new refs, or NULL */
    PyObject *user_profile, *user_trace;
    int gap;                  /* recording is stopped by a hook of the program (meta.gaps) */
    uint32_t gap_index;       /* that gap's index in the session's gaps */
    int skip_c_return;        /* <=3.11: the program's profile function was just installed:
                                 the sys.setprofile call's own C_RETURN is not for it */
    /* <=3.11 with lines: the code of the frame whose CALL the trace function just saw
     * (it runs before the profile hook) and its line data, for that frame's push */
    void *next_code;
    struct pf_lcode *next_lcode;
    int stopped;              /* <=3.11: our profile hook was replaced at stop_t0 (a gap once
                                 we know another hook ran: not when it was just removed) */
    uint64_t stop_t0;
} pf_tstate;

/* One distinct key (code object or C function): see the key table in session.c. */
typedef struct pf_key {
    void *key;                /* PyCodeObject * or PyMethodDef * (a code's: even once dead) */
    PyObject *obj;            /* new ref: a native's label (str); a code object while it is
                                 held strongly (lines recorded, or no weak reference), else NULL */
    PyObject *wr;             /* new ref: weak reference to the code object, or NULL */
    PyObject *filename, *name, *qualname;   /* new refs: a code's names, else NULL */
    int32_t firstlineno;
    uint8_t kind;             /* enum pf_key_kind */
    uint8_t dead;             /* the code object is gone; its nodes have the tombstone key */
    uint8_t decided;          /* lines: whether it is selected is decided (lc is the answer) */
    uint8_t marks;            /* PF_NODE_* marks its nodes get */
    uint8_t role;             /* enum pf_async_role */
    uint32_t nodes;           /* the tree's list of this key's nodes (pf_cct_add) */
    uint32_t index;           /* stop time: index in the trace's codes, PF_NONE if none yet
                                 (before: the dead keys' chain, see on_code_death) */
    pf_lcode *lc;             /* line data when its lines are recorded, else NULL */
} pf_key;

struct pf_session {
    char *path;               /* output file (owned) */
    uint64_t t_start, t_stop;       /* event clock at start / stop */
    uint64_t mono_start, mono_stop; /* CLOCK_MONOTONIC ns at start / stop */
    int64_t start_unix_ns;
    const char *clock_name;         /* meta.clock */
    PyObject *meta;           /* new ref: dict given to start() (argv, path, cwd, ...) */
    pf_cct *cct;              /* the calling-context tree of every thread */
    PyTypeObject *tstate_type;      /* new ref: the module's thread-state type */
    unsigned long main_ident;       /* the main thread's ident (its name if threading has none) */
    int (*native_is_ours)(const PyMethodDef *def);  /* the extension's own C functions */
    /* key table (see session.c) */
    pf_key *keys; size_t nkeys, cap_keys;
    pf_hmap *key_map;         /* key pointer -> index in keys (PF_HMAP_NONE once dead) */
    pf_hmap *wr_map;          /* weak reference -> index in keys */
    pf_hmap *site_lines;      /* (key index << 32 | call site) -> its line (resolve_line) */
    PyObject *death_cb;       /* new ref: the weak references' callback */
    uint32_t dead_keys;       /* keys whose code died, weak reference not dropped yet */
    int stopped;              /* recording is over (deaths need no rekeying) */
    /* threads */
    pf_tstate *threads, *threads_tail;
    size_t bytes;             /* memory the session holds */
    size_t limit;             /* 0 = none, else stop recording above this many bytes */
    int oom;                  /* an allocation failed: recording stopped */
    char *ours_prefix;        /* owned: our package folder (its code is not the program's), or NULL */
    size_t ours_prefix_len;
    /* lines (see pf_lines_lookup) */
    int lines;                /* --lines: select the program's own code (the trace gets
                                 PF_MODE_LINES even when nothing matches) */
    uint32_t lines_selected;  /* code objects selected so far (with marks: PF_MODE_LINES) */
    char **lines_roots;       /* owned NULL-terminated: the program's own code, folders
                                 ("/x/y/") or files, or NULL (see file_selected) */
    char **include, **exclude; /* owned NULL-terminated fnmatch patterns, or NULL */
    /* memory (--memory): the allocator hooks record into memhook's tracker; native: the
     * native allocators too (PF_MODE_NATIVE) */
    int memory, native;
    /* asyncio links (asynclink.h): pending tasks and work items (created at the first
     * one, freed at flush), links that could not be made, link sites in the tree */
    pf_linkmap *links;
    uint64_t links_dropped;
    uint32_t link_nodes;
    /* gaps: times (event clock) when a thread's recording stopped; end 0 = still open */
    pf_gap *gaps; uint32_t ngaps, cap_gaps;
    /* under collect: this process's record (pid 0 = none: pyflame.start()), its command
     * line (owned), and how it ended when known (exit_code PF_EXIT_UNKNOWN otherwise) */
    pf_process process;
    char *command;
    int32_t exit_code;
    int exit_signal;
    /* RSS samples (collector/rss.h), written by the snapshot thread without the GIL:
     * under collect with snapshots, else NULL (no process record to tie them to) */
    struct pf_rss_rec *rss;
    /* between pf_session_build_trace (or a snapshot's build) and pf_session_write:
     * how to make the trace's nodes again from the tree (owned), else NULL */
    pf_session_plan *plan;
};

/* The event clock.  Where the CPU has an invariant TSC (x86-64 with cpuid
 * 0x80000007:EDX[8]) events read it with rdtsc, which costs a fraction of a
 * clock_gettime(CLOCK_MONOTONIC) call (measured here under KVM: about 30 ns against
 * 75 ns per read, and a call has two reads); ticks are converted to nanoseconds at
 * stop time with the rate measured against CLOCK_MONOTONIC over the whole session.
 * Elsewhere, or with PYFLAME_C_CLOCK=monotonic, events read CLOCK_MONOTONIC.
 *
 * The CPU clock (--clock cpu, pf_use_cpu) reads CLOCK_THREAD_CPUTIME_ID instead: each
 * event's time is the calling thread's CPU time, so a thread's waits (locks, the GIL,
 * I/O, sleep) count for nothing.  Such timestamps only compare within one thread: work
 * done for another thread (flush at stop, a snapshot, re-arming a hook) reads that
 * thread's clock (pf_now_of), and gaps, which sit on the run's timeline, are stored in
 * CLOCK_MONOTONIC ns.  It costs a system call per read (no vDSO path), measured in
 * README.md.  The wall path pays nothing for it while the TSC is used: the branch on
 * pf_use_cpu comes after the TSC's. */
#if defined(__x86_64__)
#include <x86intrin.h>
#define PF_HAVE_TSC 1
#else
#define PF_HAVE_TSC 0
#endif
extern int pf_use_tsc;
extern int pf_use_cpu;

PF_INLINE uint64_t pf_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

PF_INLINE uint64_t pf_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Event timestamp: TSC ticks or ns (see above); only differences are meaningful. */
PF_INLINE uint64_t pf_now(void)
{
#if PF_HAVE_TSC
    if (PF_LIKELY(pf_use_tsc))
        return __rdtsc();
#endif
    if (PF_UNLIKELY(pf_use_cpu))
        return pf_cpu_ns();
    return pf_mono_ns();
}

/* Chooses the event clock (once per session, at start): cpu nonzero for the CPU clock,
 * else the wall clock (TSC or CLOCK_MONOTONIC).  Returns its name for meta.clock. */
const char *pf_clock_choose(int cpu);

/* ---- session.c ---- */

/* What a session records (start()'s arguments, parsed by the module). */
typedef struct pf_session_config {
    const char *path;         /* output file (copied) */
    size_t limit;             /* 0 = none, else stop recording above this many bytes */
    PyObject *meta;           /* borrowed: dict (argv, path, cwd, ...) or NULL */
    const char *ours;         /* our package folder, or NULL (copied) */
    int lines, memory;        /* --lines, --memory */
    int native;               /* with memory: native allocations too (--memory; not
                                 --memory=python) */
    int cpu;                  /* --clock cpu */
    PyObject *root;           /* borrowed: the program's own code, a str or a list of str
                                 (folders ending in '/', or files), or NULL (copied) */
    PyObject *include, *exclude;    /* borrowed: lists of str (fnmatch patterns) or NULL */
    unsigned long main_ident;       /* the main thread's ident */
    PyTypeObject *tstate_type;      /* borrowed: the thread-state type */
    int (*native_is_ours)(const PyMethodDef *def);
    /* under collect, a process record for the trace: ppid, PF_PROC_FORKED; command
     * (copied) set means "write one" */
    const char *command;
    uint64_t ppid;
    uint32_t process_flags;
} pf_session_config;

/* A new session.  NULL with a Python exception set on failure (out of memory, or
 * include/exclude not lists of str). */
pf_session *pf_session_new(const pf_session_config *cfg);
/* Frees the session: its tree, key table (dropping the code references), and detaches
 * its thread states (they stay alive while a hook still refers to them).  NULL-safe. */
void pf_session_free(pf_session *s);

/* Thread state for the calling thread, created and linked into s.  New ref owned by the
 * session's list (the returned pointer is borrowed).  NULL if out of memory (sets s->oom). */
pf_tstate *pf_tstate_create(pf_session *s);

/* Slow path of a push: adds the child (key, site) of node parent and registers the key
 * (obj is the callable for natives, to compute its label, or NULL; self_arg the bound
 * object for method descriptors or NULL).  The node and its id in *id, or NULL when
 * out of memory (sets oom). */
pf_cct_node *pf_session_new_child(pf_session *s, uint32_t parent, void *key, int32_t site,
                                  int kind, PyObject *obj, PyObject *self_arg, uint32_t *id);

/* Decides whether code's lines are recorded and caches the answer (slow path of
 * pf_lines_lookup).  Returns its line data or NULL (not selected, or out of memory). */
pf_lcode *pf_lines_decide(pf_session *s, PyObject *code);
/* Selects code unconditionally (the profile decorator).  Its line data, or NULL when
 * out of memory. */
pf_lcode *pf_lines_mark(pf_session *s, PyObject *code);
/* Slow path of a line event: makes room for line in lc.  NULL when out of memory. */
pf_lstat *pf_lcode_grow(pf_session *s, pf_lcode *lc, int32_t line);

/* Notes that ts stopped recording at now for reason (enum pf_gap_reason); ts->gap is
 * set.  ts NULL = every thread.  Never fails (a gap that cannot be stored is dropped,
 * and oom set). */
void pf_session_gap_open(pf_session *s, pf_tstate *ts, uint64_t now, uint32_t reason);
/* Ends ts's open gap at now (no-op without one). */
void pf_session_gap_close(pf_session *s, pf_tstate *ts, uint64_t now);

/* The event clock of thread ts now, read from any thread with the GIL held: pf_now()
 * on a wall clock or when ts is the caller; on the CPU clock, ts's CPU time (its
 * thread's clock, or when the thread is gone, the latest time its open activations
 * need, so no time comes out negative). */
uint64_t pf_now_of(pf_tstate *ts);

/* Grows ts's stack; 0 or -1 (sets oom). */
int pf_tstate_grow(pf_tstate *ts);

/* Closes every open activation of every thread at time now (like cProfile's
 * flush_unmatched); on the CPU clock, each thread's at pf_now_of.  Nodes of our own code are spliced out later, when building. */
void pf_session_flush(pf_session *s, uint64_t now);

/* Builds the trace of the session (after flush), merging the tree: every record but
 * the nodes, which stay in the tree until pf_session_write streams them (*nnodes of
 * them; t->nnodes is 0 and t is not a whole trace without them).  Frees the tree's
 * lookup tables first (recording is over), so the stop's peak is the tree and the
 * small records, never a model of the nodes beside it.  New trace or NULL (OOM,
 * Python exception set). */
pf_trace *pf_session_build_trace(pf_session *s, uint64_t *total_calls, uint32_t *nnodes);

/* Writes t, just built from s (pf_session_build_trace), with its nodes made again from
 * the tree, to the session's path: gzip-framed, or raw for a process under collect
 * (whose parts collect merges and compresses).  The bytes are those of the trace model
 * with its nodes, written by pf_trace_write.  Once per build.  0, or -1 with err set. */
int pf_session_write(pf_session *s, const pf_trace *t, pf_error *err);

/* Writes a trace of what the session holds now, while recording goes on, to its path:
 * the tree is walked as it is (pf_cct_walk: not changed, not merged, so a context may
 * appear as several sibling nodes, which every reader adds up), and the open
 * activations count up to now (event clock; mono_now the same moment in
 * CLOCK_MONOTONIC ns).  Lines still running lose their current span.  sig: the
 * terminating signal this last snapshot is for, or 0 for a periodic one (marked cut
 * short: the final write replaces it).  Costs 4 bytes a node (and the small records),
 * never a copy of the tree or a model of its nodes.  Call with the GIL held; the
 * program's threads run no event meanwhile.  0, or -1 with err set (no Python
 * exception). */
int pf_session_write_snapshot(pf_session *s, uint64_t now, uint64_t mono_now, int sig,
                              pf_error *err);

/* Frees the calling-context tree once the trace is written (stop is then over for
 * it).  Call only after pf_session_flush (the hooks are off and code deaths no longer
 * touch the tree). */
void pf_session_drop_tree(pf_session *s);

/* ---- the hot path ---- */

/* Line data of code if it is selected, else NULL.  One hash probe in the common case. */
PF_INLINE pf_lcode *pf_lines_lookup(pf_session *s, void *code)
{
    uint32_t i = pf_hmap_get(s->key_map, (uint64_t)(uintptr_t)code);
    if (PF_LIKELY(i != PF_HMAP_NONE) && s->keys[i].decided)
        return s->keys[i].lc;
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
    st->self_ns += dt - (e->act.child_ns - e->line_child0);
}

/* The time of a line event in e.  The first line of a function's activation takes the
 * activation's start: CPython reports that line right after the call, and one clock
 * read less per call is a tenth of the line mode's cost on call-heavy code (the time
 * between the two, the frame's set-up, goes to the first line instead of to no line).
 * Not so for a resumed generator or coroutine, whose first line event may come after
 * more of the line it resumed in, and after calls. */
PF_INLINE uint64_t pf_line_now(const pf_entry *e)
{
    return PF_LIKELY(e->line_t0 != 0) || !e->lcode->straight ? pf_now() : e->act.t0;
}

/* The previous line of e ends at now and line starts (its hit is the caller's to
 * count).  Makes no call, for the hooks' fast paths. */
PF_INLINE void pf_line_switch(pf_entry *e, int32_t line, uint64_t now)
{
    pf_line_close(e, now);
    e->line = line > 0 ? line : 0;
    e->line_t0 = now;
    e->line_child0 = e->act.child_ns;
}

#if PF_HAVE_TSC
/* The hooks' common case of a line event in e, ts's top entry, whose code has line data,
 * on the TSC: line is in the code's table (the previous one may be none).  pf_line_now
 * and pf_line_event without their calls, so that a hook whose fast path ends here saves
 * no registers.  0 when the caller must take pf_line_event instead (nothing was done). */
PF_INLINE int pf_line_event_fast(pf_tstate *ts, pf_entry *e, int32_t line)
{
    pf_lcode *lc = e->lcode;
    int32_t i = line - lc->base;
    if (PF_UNLIKELY(line <= 0 || i < 0 || (uint32_t)i >= lc->n))
        return 0;
    pf_line_switch(e, line, PF_LIKELY(e->line_t0 != 0) || !lc->straight ? __rdtsc() : e->act.t0);
    lc->st[i].hits++;
    ts->msite->line = (uint32_t)line;
    return 1;
}
#endif

/* A line event in e's frame: the previous line ends, line starts. */
PF_INLINE void pf_line_event(pf_session *s, pf_entry *e, int32_t line, uint64_t now)
{
    pf_lcode *lc = e->lcode;
    pf_line_switch(e, line, now);
    int32_t i = line - lc->base;
    pf_lstat *st;
    if (PF_LIKELY(i >= 0 && (uint32_t)i < lc->n))
        st = &lc->st[i];
    else if ((st = pf_lcode_grow(s, lc, line)) == NULL)
        return;
    st->hits++;
}

/* Slow paths of pf_push and pf_pop_return (asynclink.h): the link site for a callee of
 * key under an entry with a link, the records of a PF_NODE_WATCH node just entered, the
 * end of a task's root coroutine. */
int32_t pf_async_fold(const pf_cct *t, int32_t link_site, uintptr_t key);
void pf_async_watch(pf_tstate *ts, PyFrameObject *frame);
void pf_async_root_done(pf_tstate *ts, PyFrameObject *frame);

/* Pushes the activation of node n (id, entered under parent) at depth, which has room. */
PF_INLINE void pf_entry_open(pf_tstate *ts, uint32_t depth, pf_cct_node *n, uint32_t id,
                             uint32_t parent, uint32_t nested, void *frame, uint64_t now)
{
    pf_entry *e = &ts->stack[depth];
    ts->depth = depth + 1;
    pf_cct_open(&e->act, n, id, parent, nested, now);
    e->frame = frame;
    e->lcode = NULL;
    e->line = 0;
    e->line_t0 = 0;                /* no line yet (pf_line_now) */
    e->link = 0;
    ts->msite->node = id;         /* allocations now belong to n, line unknown yet */
    ts->msite->line = 0;
}

/* The fast path of pf_push, for the hooks: makes no call, so that a hook whose common
 * case ends here saves no registers.  Returns 1 when the activation is open, 0 when the
 * caller must take pf_push instead (which redoes the lookup): the thread's first
 * frame, a child not in the first slot or the child cache (new, or found by a list
 * walk or a hash probe), an asyncio mark on the caller or the callee, a full stack. */
PF_INLINE int pf_push_fast(pf_tstate *ts, void *key, int32_t site, void *frame, uint64_t now)
{
    uint32_t depth = ts->depth;
    if (PF_UNLIKELY(depth == 0 || depth == ts->cap))
        return 0;
    pf_cct *t = ts->cct;
    uint32_t parent;
    pf_cct_node *pn;
    uint32_t nested = pf_cct_fold(t, &ts->stack[depth - 1].act, ts->root, &parent, &pn,
                                  (uintptr_t)key);
    uint32_t id;
    pf_cct_node *n = pf_cct_find_fast(t, parent, pn, (uintptr_t)key, site, &id);
    if (PF_UNLIKELY(n == NULL || ((pf_cct_flags(pn) | pf_cct_flags(n)) & PF_NODE_WATCH)))
        return 0;
    pf_entry_open(ts, depth, n, id, parent, nested, frame, now);
    return 1;
}

/* Opens an activation of key called from the current top at site (or, under an entry
 * with a link, at that link's site).  obj/self_arg only matter when the node is new
 * (see pf_session_new_child).  frame: the <=3.11 hook's PyFrameObject of a Python
 * entry, else NULL. */
PF_INLINE void pf_push(pf_tstate *ts, void *key, int32_t site, int kind, void *frame,
                       PyObject *obj, PyObject *self_arg, uint64_t now)
{
    pf_cct *t = ts->cct;
    uint32_t depth = ts->depth;
    uint32_t parent;
    pf_cct_node *pn;
    uint32_t nested = pf_cct_fold(t, depth ? &ts->stack[depth - 1].act : NULL, ts->root,
                                  &parent, &pn, (uintptr_t)key);
    uint32_t id;
    /* under a _WorkItem.run (a PF_NODE_WATCH node) running a linked item: linked too */
    if (PF_UNLIKELY(pf_cct_flags(pn) & PF_NODE_WATCH) && depth != 0
        && ts->stack[depth - 1].link < 0)
        site = pf_async_fold(t, ts->stack[depth - 1].link, (uintptr_t)key);
    pf_cct_node *n = pf_cct_find(t, parent, pn, (uintptr_t)key, site, &id);
    if (PF_UNLIKELY(n == NULL)) {
        n = pf_session_new_child(ts->session, parent, key, site, kind, obj, self_arg, &id);
        if (n == NULL)
            return;
    }
    if (PF_UNLIKELY(depth == ts->cap) && pf_tstate_grow(ts) < 0)
        return;
    pf_entry_open(ts, depth, n, id, parent, nested, frame, now);
    if (PF_UNLIKELY(pf_cct_flags(n) & PF_NODE_WATCH))
        pf_async_watch(ts, (PyFrameObject *)frame);
}

PF_INLINE void pf_pop_top(pf_tstate *ts, uint64_t now)
{
    uint32_t depth = --ts->depth;
    pf_entry *e = &ts->stack[depth];
    if (e->lcode != NULL)
        pf_line_close(e, now);
    pf_cct_close(&e->act, depth ? &e[-1].act : NULL, now);
    if (depth) {
        ts->msite->node = e[-1].act.id;       /* back in the caller, on its current line */
        ts->msite->line = (uint32_t)e[-1].line;
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
    if (PF_LIKELY(ts->stack[ts->depth - 1].act.node->key == (uintptr_t)key)) {
        pf_pop_top(ts, now);
        return;
    }
    uint32_t lo = ts->depth > 5 ? ts->depth - 5 : 0;
    for (uint32_t j = ts->depth - 1; j-- > lo;) {
        if (ts->stack[j].act.node->key == (uintptr_t)key) {
            while (ts->depth > j)
                pf_pop_top(ts, now);
            return;
        }
    }
}

/* The fast path of pf_pop / pf_pop_return, for the hooks (no call): closes the top
 * activation if it is key's and no task root's.  1 when done, else 0: the caller takes
 * pf_pop_return (or pf_pop). */
PF_INLINE int pf_pop_fast(pf_tstate *ts, void *key, uint64_t now)
{
    uint32_t depth = ts->depth;
    if (PF_UNLIKELY(depth == 0))
        return 0;
    pf_entry *e = &ts->stack[depth - 1];
    if (PF_UNLIKELY(e->act.node->key != (uintptr_t)key || e->link > 0))
        return 0;
    pf_pop_top(ts, now);
    return 1;
}

/* pf_pop for a Python function's return or unwind (<=3.11: also a yield, which frame,
 * the profile hook's, tells): a task's root coroutine takes its pending link with it
 * (asynclink.h). */
PF_INLINE void pf_pop_return(pf_tstate *ts, void *key, PyFrameObject *frame, uint64_t now)
{
    if (PF_UNLIKELY(ts->depth == 0))
        return;
    pf_entry *e = &ts->stack[ts->depth - 1];
    if (PF_LIKELY(e->act.node->key == (uintptr_t)key)) {
        if (PF_UNLIKELY(e->link > 0))
            pf_async_root_done(ts, frame);
        pf_pop_top(ts, now);
        return;
    }
    pf_pop(ts, key, now);
}

#endif
