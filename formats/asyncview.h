/* asyncview.h: the async view of a trace (`--async` of `convert -f text|collapsed`,
 * `svg` and `html`): every asyncio task's time under the code that created it, and
 * every thread pool work item's under the code that submitted it, rather than under
 * the event loop (or the pool's worker thread) that ran it.  One reshaping of the
 * trace's tree, which every report then reads as any other tree (pyinstrument's async
 * mode and CPython 3.15's `profiling.sampling --async-aware` are the anchors).
 *
 * What moves.  The trace's links (pf_link, FORMAT.md's LINKS) name for each task's
 * root coroutine, and for each call a pool worker made for a work item, the call that
 * created the work: BaseEventLoop.create_task or _WorkItem.__init__.  A linked node X
 * of creator C moves, with its subtree, to
 *
 *     A -> <task> -> X            (<thread pool> -> X for work items)
 *
 * where A is the nearest "async ancestor" of C that is not the machinery of asyncio or
 * concurrent.futures: going up from C through its callers (and from a linked node to
 * its own creator), past every frame whose code lies in the standard library's
 * asyncio/ or concurrent/futures/ folder (a path ending in pythonX.Y/asyncio/NAME or
 * Lib/asyncio/NAME, likewise concurrent/futures/) and every C function called from
 * one.  So gather, ensure_future, create_task, TaskGroup.create_task, to_thread,
 * run_in_executor and submit disappear: `main` awaits gather on line 20, its workers
 * show as main (line 20) -> <task> -> worker.  The <task> frame hangs from A at the
 * line of A's call that led to C (0 when A is C itself), and A's position is the view's
 * own, so a task created by a task is nested under it, to any depth.  Work items run
 * by pool machinery (3.14's WorkerContext.run) pass their link on to the calls that
 * machinery makes; the pool's own bookkeeping (Future.set_result...) stays in the
 * worker thread.  Unlinked nodes keep their place; the event loop keeps its own time
 * (select, _run_once...).  Links of unknown kinds, to nodes with no such ancestor, or
 * that would put a node under its own subtree (only a damaged trace has those) are
 * ignored.
 *
 * The numbers.  Calls and self times do not change; a moved node keeps its calls
 * (coroutine resumes, as cProfile counts them).  Each node's inclusive time is its own
 * plus what arrived below it minus what left (computed exactly, so a subtree from which
 * nothing moved keeps its times to the nanosecond): the event loop frames lose the
 * tasks' time, the creators gain it.  A <task> frame's calls are the tasks created
 * there (its creators' calls), a <thread pool> frame's the items submitted; its time is
 * its children's.  A moved subtree takes the creator's thread: thread pool work then
 * adds to the submitting thread's time, which was spent meanwhile (waiting, or in the
 * event loop), so a thread's total can exceed the elapsed time, as it does summed over
 * threads.  Line records and memory counters stay as they are.
 */
#ifndef PF_ASYNCVIEW_H
#define PF_ASYNCVIEW_H

#include "error.h"
#include "trace.h"

/* Reshapes t's tree into the async view, in place: nodes are renumbered (pre-order
 * still), <task> and <thread pool> codes and nodes are added, node memory counters
 * and samples follow their nodes, the links are consumed (nlinks 0) and t->view
 * becomes PF_VIEW_ASYNC, even when t has no links (then nothing else changes).
 * t must pass pf_trace_validate.  0, or -1 with err set (PF_ENOMEM; t is unchanged
 * but for strings it may have gained). */
int pf_trace_async_view(pf_trace *t, pf_error *err);

/* What t->view means, for a report's header: NULL for PF_VIEW_CALLS, else a static
 * sentence ("async: each task under the call that created it ..."). */
const char *pf_trace_view_words(const pf_trace *t);

/* True when file[0..n) is a module of the standard library's asyncio or
 * concurrent.futures packages (see above). */
int pf_async_machinery_file(const char *file, size_t n);

#endif
