/* trace.h: the in-memory model of a pyflame-c trace, shared by the collector (which
 * fills one and writes it), the reader (which fills one from a file) and every
 * converter and renderer (which only read it).
 *
 * The file format is specified byte by byte in formats/FORMAT.md; trace_write.c and
 * trace_read.c mirror each other field by field.  This header only describes the model.
 *
 * Ownership: a pf_trace owns everything reachable from it; pf_trace_free releases it all.
 * Indices: codes, threads, nodes, lines, sources and samples are dense arrays; records
 * refer to each other by index.  PF_NONE (UINT32_MAX) means "no index".
 * Times are nanoseconds of the clock named in meta.clock.  Counts are exact.
 */
#ifndef PF_TRACE_H
#define PF_TRACE_H

#include <stddef.h>
#include <stdint.h>

#include "budget.h"
#include "error.h"
#include "input.h"
#include "strtab.h"

#define PF_NONE UINT32_MAX

#define PF_TRACE_FORMAT_VERSION 1

/* meta.modes bits: what the run recorded. */
enum pf_mode {
    PF_MODE_CALLS   = 1u << 0,   /* calling-context tree with counts and times */
    PF_MODE_LINES   = 1u << 1,   /* per-line hits and times */
    PF_MODE_MEMORY  = 1u << 2,   /* allocator counters per node and per line */
    PF_MODE_SAMPLES = 1u << 3,   /* statistical: nodes and lines hold sample counts (meta's
                                    sample fields say at what rate and how many were lost) */
    PF_MODE_NATIVE  = 1u << 4    /* with MEMORY: native allocations (malloc, mmap... of C
                                    code) are counted too, not only CPython's allocators */
};

/* meta.flags bits: things that went wrong or are worth knowing about the run. */
enum pf_flag {
    PF_FLAG_OUT_OF_MEMORY = 1u << 0,  /* the collector ran out of memory and stopped recording */
    PF_FLAG_FORKED_CHILD  = 1u << 1,  /* written by a forked child process */
    PF_FLAG_CUT_SHORT     = 1u << 2   /* the run (or one of its processes) died before the
                                         collector's final write: the trace holds what was
                                         recorded up to the last snapshot (see exit_*) */
};

/* meta.exit_code when the program's exit status is not known. */
#define PF_EXIT_UNKNOWN (-1)

/* Run metadata.  Every char * is owned, NUL-terminated, possibly NULL (unknown). */
typedef struct pf_meta {
    uint32_t format_version;     /* set by the reader; the writer always writes the current one */
    char *python_version;        /* "3.11.7" */
    char *python_executable;     /* sys.executable */
    uint32_t argc;
    char **argv;                 /* the profiled program's sys.argv */
    char *cwd;
    uint32_t npath;
    char **path;                 /* sys.path at start (absolute), used to shorten file names */
    int64_t start_unix_ns;       /* wall-clock start, ns since the epoch */
    uint64_t duration_ns;        /* profiled duration, in the trace clock */
    char *clock;                 /* e.g. "CLOCK_MONOTONIC"; all times are ns of this clock */
    uint32_t modes;              /* enum pf_mode bits */
    uint32_t flags;              /* enum pf_flag bits */
    uint64_t pid;
    char *hostname;
    uint64_t total_calls;        /* calls recorded, all threads */
    uint64_t profiler_bytes;     /* memory the collector itself used (not counted in MEMORY data) */
    uint64_t peak_live_bytes;    /* MEMORY mode: the run's peak of live traced bytes */
    uint64_t peak_native_bytes;  /* NATIVE mode: of peak_live_bytes, the native bytes (of a
                                    merged trace: of the process with the highest peak) */
    uint32_t ngaps;
    struct pf_gap *gaps;         /* owned: when recording stopped on a thread, or NULL */
    int32_t exit_code;           /* the program's exit status (0-255), PF_EXIT_UNKNOWN if not
                                    known or it was killed */
    uint32_t exit_signal;        /* the signal that killed the program, 0 if none */
    uint64_t links_dropped;      /* tasks and work items the collector could not link (its
                                    table of pending links was full): see pf_link */
    /* SAMPLES mode (collect --sample, attach: cli/sampler.h).  Node and line times are
     * sample counts times sample_interval_ns; a node's calls and a line's hits are
     * sample counts (a node's: the samples it was innermost in, a line's: the samples
     * it was on the stack in).  All 0 in other modes. */
    uint64_t sample_interval_ns; /* nominal time between two ticks (1e9 / rate) */
    uint64_t sample_ticks;       /* ticks the sampler took (the achieved rate is
                                    sample_ticks / duration_ns) */
    uint64_t samples_lost;       /* thread stacks dropped: torn or unreadable */
    uint32_t sample_mode;        /* enum pf_sample_kind */
    char *origin;                /* in memory only, never written: for a profile read from
                                    another profiler's file (formats/foreign.h), what it
                                    was and how exact it is, for reports to show; NULL for
                                    pyflame-c traces */
} pf_meta;

/* meta.sample_mode: which samples were counted. */
enum pf_sample_kind {
    PF_SAMPLE_KIND_WALL = 0,     /* every thread at every tick */
    PF_SAMPLE_KIND_CPU = 1,      /* threads on a CPU */
    PF_SAMPLE_KIND_GIL = 2       /* the thread holding the GIL */
};

/* "wall", "cpu" or "gil" for meta.sample_mode (a static string). */
const char *pf_sample_kind_name(uint32_t kind);

/* Why recording stopped for a while on one thread (meta.gaps). */
enum pf_gap_reason {
    PF_GAP_C_PROFILE = 1,        /* the program installed a C-level profile hook (cProfile) */
    PF_GAP_TOOL_ID = 2           /* 3.12+: the program took the last sys.monitoring tool id */
};
#define PF_GAP_OPEN UINT64_MAX   /* end_ns of a gap that lasted until the end */

/* A stretch of time in which a thread's events were not recorded. */
typedef struct pf_gap {
    uint64_t ident;              /* thread (threading.get_ident()); 0 = every thread */
    uint64_t start_ns;           /* since the start of the run, in the trace clock */
    uint64_t end_ns;             /* idem, or PF_GAP_OPEN */
    uint32_t reason;             /* enum pf_gap_reason; other values are shown as unknown */
} pf_gap;

/* The reason's words for reports ("cProfile or another C profile hook"...). */
const char *pf_gap_reason_name(uint32_t reason);

enum pf_code_kind {
    PF_CODE_PYTHON = 0,          /* a Python code object */
    PF_CODE_NATIVE = 1           /* a C function/method; name is cProfile's label, or
                                    "<native>": a sampled C call, not named (--native) */
};

/* A code object (or C function), written once and referred to by index. */
typedef struct pf_code {
    uint32_t file;               /* string id: co_filename ("" for native) */
    uint32_t name;               /* string id: co_name, or cProfile's label for natives,
                                    e.g. "<built-in method builtins.len>" */
    uint32_t qualname;           /* string id: co_qualname where the Python has one, else co_name */
    uint32_t first_line;         /* co_firstlineno; 0 for natives */
    uint8_t kind;                /* enum pf_code_kind */
} pf_code;

typedef struct pf_thread {
    uint64_t ident;              /* threading.get_ident() */
    uint32_t name;               /* string id: the thread's name, e.g. "MainThread" */
} pf_thread;

/* process.flags bits. */
enum pf_process_flag {
    PF_PROC_EXITED    = 1u << 0,  /* it ended with exit_code */
    PF_PROC_KILLED    = 1u << 1,  /* a signal (exit_signal) ended it */
    PF_PROC_CUT_SHORT = 1u << 2,  /* its data stops at its collector's last snapshot */
    PF_PROC_FORKED    = 1u << 3   /* started by fork() (else a new interpreter: exec, spawn) */
};

/* One process of the run (`collect` follows children).  Its threads are the contiguous
 * range threads[first_thread .. first_thread + nthreads); nodes reach their process
 * through their thread.  A trace without processes (nprocesses 0) has one implicit
 * process: meta.pid, owning every thread. */
typedef struct pf_process {
    uint64_t pid;
    uint64_t ppid;               /* parent's pid (0 unknown) */
    uint32_t command;            /* string id: its command line, arguments joined by spaces */
    uint32_t first_thread;       /* thread index */
    uint32_t nthreads;
    uint32_t flags;              /* enum pf_process_flag */
    int64_t start_ns;            /* when recording started in it, ns after meta.start_unix_ns */
    uint64_t duration_ns;        /* how long it was recorded */
    uint64_t calls;              /* calls recorded in it */
    uint64_t peak_live_bytes;    /* MEMORY mode: its own peak of live traced bytes */
    int32_t exit_code;           /* with PF_PROC_EXITED, else PF_EXIT_UNKNOWN */
    uint32_t exit_signal;        /* with PF_PROC_KILLED, else 0 */
} pf_process;

/* Allocator counters.  For nodes they are self (allocations by the function's own
 * code); for lines they are inclusive (allocations while the line runs). */
typedef struct pf_mem {
    uint64_t alloc_bytes;
    uint64_t alloc_count;
    uint64_t free_bytes;
    uint64_t peak_bytes;         /* live at the moment of the run's peak */
    uint64_t exit_bytes;         /* still live when recording stopped */
} pf_mem;

/* a += b, field by field (counters of merged nodes, lines, functions add up). */
static inline void pf_mem_add(pf_mem *a, const pf_mem *b)
{
    a->alloc_bytes += b->alloc_bytes;
    a->alloc_count += b->alloc_count;
    a->free_bytes += b->free_bytes;
    a->peak_bytes += b->peak_bytes;
    a->exit_bytes += b->exit_bytes;
}

/* One calling-context-tree node: one distinct path of (code, call-site line) from a
 * thread's root.  Nodes are stored in pre-order: parent < own index. */
typedef struct pf_node {
    uint32_t parent;             /* node index, or PF_NONE for a top-level call of the thread */
    uint32_t thread;             /* thread index */
    uint32_t code;               /* code index */
    uint32_t call_line;          /* line in the parent's code that made the call; 0 if unknown */
    uint64_t calls;              /* times this context was entered (a generator resume counts) */
    uint64_t total_ns;           /* inclusive time */
    uint64_t self_ns;            /* time not spent in child nodes */
} pf_node;                       /* 40 bytes; memory counters live beside (node_mem) */

/* What started the work a linked node ran for (pf_link.kind). */
enum pf_link_kind {
    PF_LINK_TASK = 0,            /* an asyncio task: node is its root coroutine, which the
                                    event loop resumed; creator called create_task */
    PF_LINK_EXECUTOR = 1         /* a thread pool work item: node is a call the pool's worker
                                    made for it; creator queued it (concurrent.futures) */
};

/* A link: the calls of node were made for work that creator started.  The tree keeps
 * node where it ran (under the event loop, or in the pool's worker thread); the async
 * view (pf_trace_async_view) moves it under its creator.  Nodes and creators may be in
 * different threads.  Links change no count or time. */
typedef struct pf_link {
    uint32_t node;               /* node index of the linked node */
    uint32_t creator;            /* node index of the call that started the work (a call of
                                    BaseEventLoop.create_task or _WorkItem.__init__) */
    uint32_t kind;               /* enum pf_link_kind; readers keep other values, which the
                                    async view ignores */
} pf_link;

/* How a trace's tree is shaped (pf_trace.view; in memory only, never written). */
enum pf_view {
    PF_VIEW_CALLS = 0,           /* as recorded: each call under its caller */
    PF_VIEW_ASYNC = 1            /* pf_trace_async_view: linked nodes under their creator */
};

/* Per-line record (PF_MODE_LINES). */
typedef struct pf_line {
    uint32_t code;               /* code index */
    uint32_t line;               /* line number in code's file */
    uint64_t hits;
    uint64_t total_ns;           /* line start to the next line event in the same frame */
    uint64_t self_ns;            /* total_ns minus time in calls made from the line */
    pf_mem mem;                  /* inclusive; all zero unless PF_MODE_MEMORY */
} pf_line;

/* Source text of a file, so reports do not depend on the file still existing. */
typedef struct pf_source {
    uint32_t path;               /* string id, same text as pf_code.file */
    char *text;                  /* owned, NUL-terminated, may contain any byte */
    size_t len;
} pf_source;

/* A statistical sample (reserved for a sampling mode; round-trips today). */
typedef struct pf_sample {
    uint32_t thread;             /* thread index */
    uint32_t node;               /* node index of the innermost frame */
    uint64_t time_ns;            /* when, in the trace clock, relative to the start */
    uint64_t weight;             /* e.g. elapsed ns the sample stands for */
} pf_sample;

/* One RSS sample: the process's resident set size at a moment. */
typedef struct pf_rss_sample {
    uint64_t time_ns;            /* since its process's recording start (process.start_ns) */
    uint64_t bytes;              /* resident set size */
} pf_rss_sample;

/* A process's resident set size over time (the collector samples it under `collect`,
 * collector/rss.h): samples in ascending time, its peak and its value at the end. */
typedef struct pf_rss {
    uint32_t process;            /* index in processes */
    uint32_t nsamples;
    uint64_t peak_bytes;         /* high-water mark (VmHWM), >= every sample */
    uint64_t final_bytes;        /* at stop (for a snapshot: when it was taken) */
    pf_rss_sample *samples;      /* owned; NULL when nsamples is 0 */
} pf_rss;

typedef struct pf_trace {
    pf_meta meta;
    pf_strtab *strings;
    pf_code *codes;      uint32_t ncodes;   uint32_t cap_codes;
    pf_thread *threads;  uint32_t nthreads; uint32_t cap_threads;
    pf_node *nodes;      uint32_t nnodes;   uint32_t cap_nodes;
    pf_line *lines;      uint32_t nlines;   uint32_t cap_lines;
    pf_source *sources;  uint32_t nsources; uint32_t cap_sources;
    pf_sample *samples;  uint32_t nsamples; uint32_t cap_samples;
    pf_process *processes; uint32_t nprocesses; uint32_t cap_processes;
    pf_rss *rss;         uint32_t nrss;     uint32_t cap_rss;
    pf_link *links;      uint32_t nlinks;   uint32_t cap_links;
    enum pf_view view;   /* PF_VIEW_CALLS unless pf_trace_async_view reshaped the tree */
    /* Memory counters of nodes, parallel to nodes[0..cap_node_mem), or NULL when no
     * node has any (a trace without PF_MODE_MEMORY costs nothing for them).  Read them
     * with pf_trace_node_mem, write them with pf_trace_node_mem_at. */
    pf_mem *node_mem;    uint32_t cap_node_mem;
    /* Memory the model holds (mem.used: arrays at capacity, strings, sources, meta
     * the reader decoded) and the cap the appenders respect (mem.limit, 0 = none:
     * the reader sets it to its budget while reading, then back to 0). */
    pf_budget mem;
} pf_trace;

/* All-zero counters: what pf_trace_node_mem gives for a node without memory data. */
extern const pf_mem pf_mem_zero;

/* The memory counters of node i (borrowed; all zero when it has none). */
static inline const pf_mem *pf_trace_node_mem(const pf_trace *t, uint32_t i)
{
    return i < t->cap_node_mem ? &t->node_mem[i] : &pf_mem_zero;
}

/* Makes room for n nodes in all in one allocation (a builder that knows its count
 * avoids the growth steps and their copies).  0, or -1 when out of memory or budget. */
int pf_trace_reserve_nodes(pf_trace *t, uint32_t n);

/* The counters of node i (< nnodes) to write into, zeroed when new: the side array
 * grows to cover the nodes (charged to t->mem).  NULL when out of memory or budget. */
pf_mem *pf_trace_node_mem_at(pf_trace *t, uint32_t i);

/* Returns an empty trace (meta zeroed, format_version = PF_TRACE_FORMAT_VERSION),
 * or NULL when out of memory. */
pf_trace *pf_trace_new(void);
/* Frees the trace and everything it owns.  NULL-safe. */
void pf_trace_free(pf_trace *t);

/* Appenders: copy *rec in and return its new index, or PF_NONE when out of memory
 * or when growing would pass t->mem.limit (then t->mem.refused is set; the trace is
 * unchanged either way).  Arrays grow by half their size.  They do not validate cross references; the reader
 * validates before appending, and pf_trace_validate checks a whole trace. */
uint32_t pf_trace_add_code(pf_trace *t, const pf_code *rec);
uint32_t pf_trace_add_thread(pf_trace *t, const pf_thread *rec);
uint32_t pf_trace_add_node(pf_trace *t, const pf_node *rec);
uint32_t pf_trace_add_line(pf_trace *t, const pf_line *rec);
uint32_t pf_trace_add_sample(pf_trace *t, const pf_sample *rec);
uint32_t pf_trace_add_process(pf_trace *t, const pf_process *rec);
uint32_t pf_trace_add_link(pf_trace *t, const pf_link *rec);
/* Appends an RSS record for process (an index in t->processes) with a copy of
 * samples[0..n), which must be in ascending time.  Its index, or PF_NONE as above. */
uint32_t pf_trace_add_rss(pf_trace *t, uint32_t process, uint64_t peak_bytes,
                          uint64_t final_bytes, const pf_rss_sample *samples, uint32_t n);
/* The RSS record of process p, or NULL when it has none (the first, if several). */
const pf_rss *pf_trace_process_rss(const pf_trace *t, uint32_t p);

/* The process that owns thread (an index in t->processes), or PF_NONE when the trace
 * has no process records (one implicit process) or no process claims the thread. */
uint32_t pf_trace_thread_process(const pf_trace *t, uint32_t thread);

/* One line naming process p (< t->nprocesses) for reports, into buf (cap bytes,
 * truncated, always terminated): "pid 4242: python3 worker.py" (the command
 * shortened to ~60 bytes). */
void pf_trace_process_label(const pf_trace *t, uint32_t p, char *buf, size_t cap);

/* How process p (< t->nprocesses; or, with p == PF_NONE, the whole program: meta)
 * ended, for reports: "exit status 3", "killed by SIGKILL (cut short: data up to
 * its last snapshot)", "unknown".  Into buf as above. */
void pf_trace_describe_exit(const pf_trace *t, uint32_t p, char *buf, size_t cap);

/* Merges the traces of several processes of one run into one: parts[0] is the root
 * process (its meta leads: argv, cwd, start, duration, pid, exit status; calls and
 * profiler bytes add up, the memory peak is the largest process peak, modes and
 * flags are or-ed, except FORKED_CHILD, which stays parts[0]'s: it says who wrote
 * the file; gaps are concatenated, their times and thread idents as they were).
 * Each part's threads follow in order, contiguous, then its nodes (pre-order kept),
 * samples, links and memory counters, remapped (links_dropped adds up).  Each part's
 * processes follow too, with
 * their thread ranges moved and start_ns rebased on parts[0]'s start; a part without
 * process records gets one from its meta (pid, argv joined by spaces, all its
 * threads, total_calls, peak_live_bytes, duration; CUT_SHORT and FORKED_CHILD become
 * PF_PROC_CUT_SHORT and PF_PROC_FORKED, a known exit_code PF_PROC_EXITED, a signal
 * PF_PROC_KILLED); RSS records follow their process (sample times, relative to the
 * process's start, unchanged).  Strings and code objects are shared (a code is the same when
 * file, name, qualname, first line and kind are), lines of the same (code, line) add
 * up, sources are kept once per path (the first text).  The parts are not changed.
 * Returns a new trace that passes pf_trace_validate, or NULL with err set: PF_ENOMEM,
 * PF_EUSAGE (n == 0, or a part NULL or failing pf_trace_validate), PF_ELIMIT (more
 * than 2^32-2 entries of a kind in all). */
pf_trace *pf_trace_merge(pf_trace *const *parts, uint32_t n, pf_error *err);
/* Copies text[0..len) into a new source record for string id path. */
uint32_t pf_trace_add_source(pf_trace *t, uint32_t path, const char *text, size_t len);

/* Releases the appenders' growth slack: every array's capacity becomes its count
 * (the reader calls it after END).  Never fails: a shrink that cannot be done
 * keeps the bigger block. */
void pf_trace_shrink(pf_trace *t);

/* Sets a meta string field (e.g. &t->meta.hostname) to a copy of s (NULL clears it).
 * Returns 0, or -1 when out of memory (field unchanged). */
int pf_meta_set_str(char **field, const char *s);
/* Appends a copy of s to a meta string list (argv or path).  0 or -1 (OOM). */
int pf_meta_push_str(char ***list, uint32_t *count, const char *s);

/* Nonzero when t is the sampler's (collect --sample, attach): SAMPLES mode with a
 * sample interval, whose node and line times are sample counts times the interval. */
static inline int pf_trace_is_sampled(const pf_trace *t)
{
    return (t->meta.modes & PF_MODE_SAMPLES) && t->meta.sample_interval_ns > 0;
}

/* One line for reports about a sampled trace (PF_MODE_SAMPLES), into buf (cap bytes,
 * truncated, always terminated): "1,326 samples at 1000 Hz (993 Hz achieved), wall
 * mode, 2 lost (0.2%)".  Empty for other traces. */
void pf_trace_sample_describe(const pf_trace *t, char *buf, size_t cap);

/* Checks every cross reference (string ids, code/thread/node indices, pre-order of
 * nodes).  Returns 0, or -1 with err saying which record is wrong. */
int pf_trace_validate(const pf_trace *t, pf_error *err);
/* pf_trace_validate for a trace whose links and samples refer to nnodes nodes (its own
 * t->nnodes are checked as usual): a streamed trace (pf_trace_stream_open) holds none
 * of the nodes it is written with.  0, or -1 with err set. */
int pf_trace_validate_refs(const pf_trace *t, uint32_t nnodes, pf_error *err);

/* Convenience: the string with this id, or "?" if the id is out of range. */
const char *pf_trace_str(const pf_trace *t, uint32_t id);

/* ---- File I/O (trace_write.c / trace_read.c; format in FORMAT.md) ---- */

/* Writes t to path as a gzip-framed trace (zcat shows the raw records).  The file is
 * written to a temporary name beside path and renamed into place, so a failed write
 * never leaves a partial file under path.  Returns 0, or -1 with err set. */
int pf_trace_write(const pf_trace *t, const char *path, pf_error *err);

/* Like pf_trace_write, compressing faster (zlib level 1 instead of 6: about half the
 * time, 5-20% more bytes): for `collect`, whose user waits for the file at the end of
 * the program.  0, or -1 with err set. */
int pf_trace_write_quick(const pf_trace *t, const char *path, pf_error *err);

/* Like pf_trace_write, without the gzip framing (the raw record stream, which every
 * reader accepts): for files read back soon, such as the per-process traces `collect`
 * merges, where compressing costs the program time for nothing.  About 1.5-3x bigger,
 * several times faster to write.  0, or -1 with err set. */
int pf_trace_write_raw(const pf_trace *t, const char *path, pf_error *err);

/* Streaming the nodes: for a writer that makes them from a structure of its own (the
 * collector's calling-context tree, several times smaller than their model), so that
 * they never all exist as pf_node records.  The file is the one pf_trace_write
 * (gz nonzero; pf_trace_write_raw: gz 0) would write for t with those nodes, byte for
 * byte.  Open writes everything before the nodes, then the caller gives the nodes in
 * order, then (optionally) their memory counters, and close writes the rest and puts
 * the file in place.  Errors are sticky: a failed call fails every later one. */
typedef struct pf_trace_stream pf_trace_stream;

/* Opens path for t, which holds no nodes (nnodes 0, no node_mem) but refers to the
 * nnodes to come (links, samples, process thread ranges are checked as by
 * pf_trace_validate_refs), and writes its records up to the nodes.  t stays the
 * caller's and must not change until close.  NULL with err set. */
pf_trace_stream *pf_trace_stream_open(const pf_trace *t, uint32_t nnodes, const char *path,
                                      int gz, pf_error *err);
/* Writes the next node (its index: the number written before it).  Its parent must be
 * an earlier node or PF_NONE, its thread and code in t's range (the parent's thread is
 * not checked: the caller makes the tree).  0, or -1 (the error goes to close). */
int pf_trace_stream_node(pf_trace_stream *s, const pf_node *n);
/* After the last node: the memory counters of node i, in increasing order of i (all
 * zero: skipped, as the writer skips them).  0, or -1 (the error goes to close). */
int pf_trace_stream_node_mem(pf_trace_stream *s, uint32_t i, const pf_mem *m);
/* Writes the rest of t and commits the file (renamed into place).  Frees s in every
 * case.  0, or -1 with err set (a node missing, an earlier refusal, an I/O error); the
 * file under path is then untouched. */
int pf_trace_stream_close(pf_trace_stream *s, pf_error *err);
/* Abandons the stream (no file is left under path).  NULL-safe. */
void pf_trace_stream_abort(pf_trace_stream *s);

/* Reads a trace from path ("-" for stdin).  Every length and index is bounds-checked;
 * truncated, corrupt or wrong-version input fails with a message naming what and the
 * offset in the uncompressed stream, e.g. "truncated record at offset 4096".
 * Returns a new trace (caller frees) or NULL with err set. */
pf_trace *pf_trace_read(const char *path, pf_error *err);

/* Same, from an in-memory buffer holding the file's bytes (gzip-framed or raw
 * uncompressed records).  Used by the fuzzer and the tests. */
pf_trace *pf_trace_read_mem(const void *data, size_t len, pf_error *err);

/* The general form: reads a trace from in's next byte on (usually its first; a
 * pf_input_sniff before is fine, it consumes nothing), with in's decoding budget
 * (pf_input_set_budget; default PF_BUDGET_DEFAULT, 4 GiB): the decoded stream may
 * not pass it, nor the memory of the decoded model, which is checked before each
 * allocation.  Over it: NULL with PF_ELIMIT and a message naming the budget and
 * PF_BUDGET_OPTION, e.g. "decoded trace exceeds the 4 GiB decoding budget at
 * offset 9000 in the NODES record at offset 60 (raise it with --max-memory)".
 * pf_trace_read and pf_trace_read_mem are this with the default budget.  The input
 * stays the caller's (free it after); a new trace, or NULL with err set. */
pf_trace *pf_trace_read_input(pf_input *in, pf_error *err);

/* Serialises to memory instead of a file: *out gets a pf_malloc'd gzip buffer the
 * caller frees with pf_free.  Returns 0 or -1 with err set. */
int pf_trace_write_mem(const pf_trace *t, unsigned char **out, size_t *outlen, pf_error *err);

/* Like pf_trace_write_mem but without the gzip framing: *out gets the raw record
 * stream (what `zcat trace.gz` shows).  For tests, fuzz seeds and measurements;
 * pf_trace_read/_read_mem accept both forms.  0 or -1 with err set. */
int pf_trace_write_mem_raw(const pf_trace *t, unsigned char **out, size_t *outlen,
                           pf_error *err);

/* True if data[0..len) looks like the start of a trace: the raw magic, or gzip data
 * whose decompressed start is the magic (decoded with pf_input).  When the data ends
 * before 8 bytes decompress (a peek of a few dozen bytes can: deflate puts its code
 * tables first) it answers true if what did decompress matches; pass 1 KiB or more
 * for a definite answer.  A caller holding a pf_input uses pf_input_sniff instead. */
int pf_trace_sniff(const void *data, size_t len);

/* One line of text for gap i of t, without newline, into buf (cap bytes, truncated,
 * always terminated): "MainThread from 0.120 s to 0.480 s: <reason>". */
void pf_trace_gap_describe(const pf_trace *t, uint32_t i, char *buf, size_t cap);

/* meta.clock of a trace whose times are each thread's CPU time (collect --clock cpu);
 * the other clocks are wall clocks.  Duration and gaps stay wall-clock ns. */
#define PF_CLOCK_CPU_NAME "CPU (CLOCK_THREAD_CPUTIME_ID, per thread)"

/* Nonzero when t's call and line times are each thread's CPU time (meta.clock begins
 * with "CPU"), 0 for a wall clock or none named. */
int pf_trace_clock_is_cpu(const pf_trace *t);
/* The clock of t's times in words for a reader: "CPU time of each thread" or
 * "wall time".  A static string. */
const char *pf_trace_clock_words(const pf_trace *t);

#endif
