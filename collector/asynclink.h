/* asynclink.h: how the collector links asyncio tasks and thread pool work items to
 * the call that created them (the trace's LINKS record, formats/FORMAT.md), always on,
 * at the cost of a flag test per event (measured in README.md).  Internal to the
 * extension; the event sources call it.
 *
 * The problem.  A profiler gets no event when a coroutine object is made, only when it
 * first runs; a task's root coroutine runs under the event loop (_run_once ->
 * Handle._run -> Context.run -> coroutine), so its calls sit under the loop, not under
 * the code that created the task.  Inside a task the awaiting chain is on the stack at
 * every resume (outer -> ... -> inner, each resumed by the one before), so only the
 * task itself is missing.  Likewise a thread pool's work runs in a worker thread.
 *
 * The records.  Every path that makes a task goes through BaseEventLoop.create_task
 * (asyncio/base_events.py: asyncio.run, create_task, ensure_future, gather, wait_for,
 * TaskGroup), and every thread pool work item through _WorkItem.__init__
 * (concurrent/futures/thread.py: submit, run_in_executor, to_thread).  Their code
 * objects are recognised once, when their key is registered (pf_async_key_marks), and
 * their nodes marked PF_NODE_WATCH.  At each activation of such a node (pf_push tests
 * the mark of the node it has at hand and calls pf_async_watch) the collector reads
 * the coroutine (create_task's `coro`) or the work item (`self`) from the frame and
 * puts its address in the session's linkmap with the link site of the creating node
 * (cct.h: site = -2 - (node id << 1 | kind)).
 *
 * The links.  A coroutine code entered while the stack top is not a frame of an await
 * chain (PF_NODE_CORO: coroutines, async generators, iterable coroutines) is a task's
 * root being resumed by the loop: pf_async_push_root looks its coroutine up and,
 * when found, enters the node with the link site, a distinct CCT child per creator
 * (never merged with its siblings, cct.h), and marks its stack entry (pf_entry.link
 * 1) so that its return drops the entry (pf_pop_return).  _WorkItem.run looks its
 * item up and removes it (an item runs once); its callees are entered with the link
 * site (pf_entry.link < 0; pf_push tests the parent's mark first), and when one is
 * 3.14's WorkerContext.run, which calls the item's function, its callees too.  At
 * stop the sites become LINKS records (session.c).
 *
 * Cost.  On every Python call: a co_flags test, the two marks, and on a return the
 * entry's link: about 14 instructions a call (callgrind, README.md's Speed), nothing
 * allocated.
 *
 * Bounded trees.  A task that creates a task of the same coroutine function (or work
 * that submits the same function), directly or through others, would add a node per
 * generation.  pf_async_fold walks the creator's async ancestry (CCT parents, and from
 * a linked node to its creator) and, when it finds a linked node of the same key and
 * kind, reuses that node's link site, folding the chain as the tree folds recursion.
 *
 * Lifetimes.  Entries are keyed by address, so an entry must not outlive its object:
 * a task's entry goes when its root coroutine returns or unwinds (3.12+: PY_RETURN /
 * PY_UNWIND, not PY_YIELD; 3.8-3.11: the profile hook's RETURN, told from a yield by
 * the frame's state, compat.h's pf_frame_yielded), a work item's when it runs.  What
 * remains is an entry whose object died before it ran (a task cancelled before its
 * first step, an item cancelled in the queue): a later coroutine at the same address
 * is linked to the dead one's creator if it too is resumed as a root without going
 * through create_task (a hand-driven coroutine.send()); one made by create_task
 * replaces the entry.  The table is bounded (PF_ASYNC_MAX_PENDING):
 * when full, puts are refused and counted (meta.links_dropped), nothing else changes.
 *
 * Not covered: event loops that do not run BaseEventLoop.create_task in Python
 * (uvloop's), process pools, and coroutines driven by other frameworks.
 */
#ifndef PF_COLLECTOR_ASYNCLINK_H
#define PF_COLLECTOR_ASYNCLINK_H

#include "collector/session.h"

/* Slots of the linkmap: at most 3/4 of them hold pending links (16 MiB at most). */
#define PF_ASYNC_MAX_PENDING (1u << 20)

/* What a code object is for the links (pf_key.role), decided at its registration. */
enum pf_async_role {
    PF_ASYNC_NONE = 0,
    PF_ASYNC_SPAWN,          /* BaseEventLoop.create_task(self, coro, ...) */
    PF_ASYNC_WORK_INIT,      /* concurrent.futures.thread._WorkItem.__init__(self, ...) */
    PF_ASYNC_WORK_RUN,       /* concurrent.futures.thread._WorkItem.run(self, ...) */
    PF_ASYNC_WORK_PASS       /* 3.14+: WorkerContext.run(self, task), which _WorkItem.run
                                calls to call the item's function: passes the link on */
};

/* The node marks (PF_NODE_CORO, PF_NODE_WATCH) and role of a code object.  Reads its
 * flags, names and variable names; never raises (a failure is "no role"). */
void pf_async_key_marks(PyCodeObject *co, uint8_t *marks, uint8_t *role);

/* pf_async_watch (declared in session.h, called by pf_push): a PF_NODE_WATCH node was
 * just entered (the top of ts's stack): records the task or work item it creates, or
 * links the work item it runs.  frame: the frame the <=3.11 profile hook got, NULL on
 * 3.12+.  Never raises; allocations are the collector's. */

/* Enters coroutine code (key code, called from the top at site) while the stack top is
 * no await chain's frame: with the link site of the task whose root it is, if it is one
 * (then its entry's link is 1), else at site.  frame as for pf_async_watch.  The event
 * sources' slow path for pf_push. */
void pf_async_push_root(pf_tstate *ts, void *code, int32_t site, PyFrameObject *frame,
                        uint64_t now);

/* pf_async_root_done (declared in session.h, called by pf_pop_return): a task's root
 * coroutine (the top of ts's stack, pf_entry.link 1) leaves: unless it yielded, its
 * pending link goes.  3.12+: frame NULL, called at PY_RETURN / PY_UNWIND only; <=3.11:
 * the profile hook's frame, at every PyTrace_RETURN of such a node (pf_frame_yielded). */

/* pf_async_fold (declared in session.h, which pf_push needs it for): the link site
 * for a node of key linked by link_site: link_site, or the site of a linked async
 * ancestor of its creator with the same key and kind (see above).  Plain C on the
 * tree; bounded steps. */

/* The link site of (creator node id, kind), or 0 when the id does not fit one. */
static inline int32_t pf_async_site(uint32_t creator, uint32_t kind)
{
    if (creator >= (1u << 29))
        return 0;
    return PF_CCT_SITE_LINK - (int32_t)((creator << 1) | (kind & 1u));
}

/* The creator node id of a link site (<= PF_CCT_SITE_LINK), its kind in *kind. */
static inline uint32_t pf_async_creator(int32_t site, uint32_t *kind)
{
    uint32_t v = (uint32_t)(PF_CCT_SITE_LINK - site);
    *kind = v & 1u;
    return v >> 1;
}

#endif
