/* collect_session.c: the session folder of a `collect` run and its final merge (see
 * collect_session.h). */
#include "cli/collect_session.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "formats/alloc.h"
#include "formats/trace.h"
#include "formats/units.h"

char *pf_collect_session_new(void)
{
    const char *tmp = getenv("TMPDIR");
    if (tmp == NULL || *tmp == 0)
        tmp = "/tmp";
    size_t n = strlen(tmp) + sizeof "/pyflame-c.XXXXXX";
    char *dir = malloc(n);
    if (dir == NULL) {
        fprintf(stderr, "pyflame-c collect: out of memory\n");
        return NULL;
    }
    snprintf(dir, n, "%s/pyflame-c.XXXXXX", tmp);
    if (mkdtemp(dir) == NULL) {
        fprintf(stderr, "pyflame-c collect: cannot make a folder for the run's traces in "
                "'%s': %s (set TMPDIR to a writable folder)\n", tmp, strerror(errno));
        free(dir);
        return NULL;
    }
    return dir;
}

static int (*part_hook)(void *ctx, const char *name, pf_trace *t);
static void *part_hook_ctx;

void pf_collect_session_set_part_hook(int (*fn)(void *ctx, const char *name, pf_trace *t),
                                      void *ctx)
{
    part_hook = fn;
    part_hook_ctx = ctx;
}

/* One process's trace file, read. */
typedef struct part {
    pf_trace *t;
    uint64_t pid;
    int64_t start;            /* meta.start_unix_ns */
} part;

/* The program's part first, then by start time (a process starts after its parent). */
static int part_cmp(const void *a, const void *b)
{
    const part *x = a, *y = b;
    return x->start < y->start ? -1 : x->start > y->start;
}

static void remove_session(const char *dir)
{
    DIR *d = opendir(dir);
    if (d != NULL) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            char path[4096];
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            unlink(path);
        }
        closedir(d);
    }
    rmdir(dir);
}

/* Reads every trace of the session (a part that cannot be read is said and skipped:
 * the others still make a trace).  *nparts gets the count; NULL if none or OOM. */
static part *read_parts(const char *dir, uint32_t *nparts)
{
    *nparts = 0;
    DIR *d = opendir(dir);
    if (d == NULL)
        return NULL;
    part *parts = NULL;
    uint32_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (len < 7 || strcmp(e->d_name + len - 6, ".trace") != 0)
            continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        pf_error err;
        pf_error_clear(&err);
        pf_trace *t = pf_trace_read(path, &err);
        if (t == NULL) {
            fprintf(stderr, "pyflame-c: warning: the trace of one process is unusable and "
                    "left out (%s: %s)\n", e->d_name, err.msg);
            continue;
        }
        if (part_hook != NULL) {
            char name[4096];
            snprintf(name, sizeof name, "%.*s", (int)(len - 6), e->d_name);
            part_hook(part_hook_ctx, name, t);
        }
        if (n == cap) {
            uint32_t ncap = cap ? cap * 2 : 8;
            part *p = realloc(parts, ncap * sizeof *p);
            if (p == NULL) {
                pf_trace_free(t);
                break;
            }
            parts = p;
            cap = ncap;
        }
        parts[n].t = t;
        parts[n].pid = t->meta.pid;
        parts[n].start = t->meta.start_unix_ns;
        n++;
    }
    closedir(d);
    *nparts = n;
    return parts;
}

/* meta and the program's process record say how the program ended (waitpid status). */
static void set_end(pf_trace *t, uint32_t root_proc, int status)
{
    pf_meta *m = &t->meta;
    if (WIFSIGNALED(status)) {
        m->exit_signal = (uint32_t)WTERMSIG(status);
        m->exit_code = PF_EXIT_UNKNOWN;
    } else if (WIFEXITED(status)) {
        m->exit_code = WEXITSTATUS(status);
        m->exit_signal = 0;
    }
    if (root_proc == PF_NONE)
        return;
    pf_process *p = &t->processes[root_proc];
    p->flags &= ~(uint32_t)(PF_PROC_EXITED | PF_PROC_KILLED);
    p->exit_code = m->exit_code;
    p->exit_signal = m->exit_signal;
    p->flags |= m->exit_signal ? PF_PROC_KILLED : PF_PROC_EXITED;
}

static void summary(const pf_trace *t, const char *display, uint64_t size)
{
    char sz[PF_UNITS_BUFSZ], calls[PF_UNITS_BUFSZ], peak[PF_UNITS_BUFSZ];
    pf_units_bytes(sz, sizeof sz, size, 0);
    pf_units_count(calls, sizeof calls, t->meta.total_calls);
    if (pf_trace_is_sampled(t)) {
        char lost[PF_UNITS_BUFSZ];
        double secs = (double)t->meta.duration_ns / 1e9;
        pf_units_count(lost, sizeof lost, t->meta.samples_lost);
        fprintf(stderr, "pyflame-c: wrote %s (%s, %s samples, %s mode, %.0f Hz achieved of "
                "%.0f, %s lost", display, sz, calls, pf_sample_kind_name(t->meta.sample_mode),
                secs > 0 ? (double)t->meta.sample_ticks / secs : 0.0,
                t->meta.sample_interval_ns ? 1e9 / (double)t->meta.sample_interval_ns : 0.0,
                lost);
    } else
        fprintf(stderr, "pyflame-c: wrote %s (%s, %s calls recorded", display, sz, calls);
    if (t->nprocesses > 1)
        fprintf(stderr, ", %u processes", t->nprocesses);
    if (t->meta.modes & PF_MODE_MEMORY)
        fprintf(stderr, ", memory peak %s",
                pf_units_bytes(peak, sizeof peak, t->meta.peak_live_bytes, 0));
    if ((t->meta.modes & PF_MODE_MEMORY) && (t->meta.modes & PF_MODE_NATIVE))
        fprintf(stderr, ", native %s",
                pf_units_bytes(peak, sizeof peak, t->meta.peak_native_bytes, 0));
    fprintf(stderr, ")\n");
}

static void warnings(const pf_trace *t)
{
    for (uint32_t i = 0; i < t->meta.ngaps; i++) {
        char g[512];
        pf_trace_gap_describe(t, i, g, sizeof g);
        fprintf(stderr, "pyflame-c: warning: not recorded: %s\n", g);
    }
    if (t->meta.flags & PF_FLAG_OUT_OF_MEMORY)
        fprintf(stderr, "pyflame-c: memory was exhausted while profiling: recording stopped "
                "early, the trace holds what was recorded until then\n");
    for (uint32_t p = 0; p < t->nprocesses; p++) {
        if (!(t->processes[p].flags & PF_PROC_CUT_SHORT))
            continue;
        char label[128], how[160];
        pf_trace_process_label(t, p, label, sizeof label);
        pf_trace_describe_exit(t, p, how, sizeof how);
        fprintf(stderr, "pyflame-c: warning: %s%s: %s\n", p == 0 ? "the program, " : "",
                label, how);
    }
    if ((t->meta.modes & PF_MODE_LINES) && t->nlines == 0 && t->nnodes > 0)   /* --floor: none */
        fprintf(stderr, "pyflame-c: warning: --lines: no file matched the selection, so no "
                "line was recorded; choose files with --include GLOB\n");
}

int pf_collect_session_finish(const char *dir, const char *out, const char *display,
                              const pf_collect_end *end, int quiet)
{
    uint32_t n = 0;
    part *parts = read_parts(dir, &n);
    int rc = -1;
    pf_trace *merged = NULL;
    if (n == 0) {
        /* A program that exits before recording starts (a syntax error, a missing module,
         * no collector for this Python) has said why itself, as python3 would. */
        if (WIFSIGNALED(end->status))
            fprintf(stderr, "pyflame-c: no trace was recorded: the program was killed (%s) "
                    "before the collector's first snapshot\n", strsignal(WTERMSIG(end->status)));
        goto done;
    }
    /* the program's first part leads (an exec'd program keeps its pid: the earliest) */
    qsort(parts, n, sizeof *parts, part_cmp);
    for (uint32_t i = 0; i < n; i++) {
        if (parts[i].pid == (uint64_t)end->pid) {
            part root = parts[i];
            memmove(parts + 1, parts, i * sizeof *parts);
            parts[0] = root;
            break;
        }
    }
    pf_trace **ts = malloc(n * sizeof *ts);
    if (ts == NULL) {
        fprintf(stderr, "pyflame-c: out of memory merging the traces\n");
        goto done;
    }
    for (uint32_t i = 0; i < n; i++)
        ts[i] = parts[i].t;
    pf_error err;
    pf_error_clear(&err);
    merged = pf_trace_merge(ts, n, &err);
    free(ts);
    if (merged == NULL) {
        fprintf(stderr, "pyflame-c: cannot merge the traces of the run: %s\n", err.msg);
        goto done;
    }
    uint32_t root_proc = PF_NONE;
    for (uint32_t p = 0; p < merged->nprocesses; p++)
        if (merged->processes[p].pid == (uint64_t)end->pid) {
            root_proc = p;
            break;
        }
    if (parts[0].pid == (uint64_t)end->pid) {
        set_end(merged, root_proc, end->status);
        /* the program died before its final write: its data stops at a snapshot */
        if (root_proc != PF_NONE && (merged->processes[root_proc].flags & PF_PROC_CUT_SHORT))
            merged->meta.flags |= PF_FLAG_CUT_SHORT;
        else
            merged->meta.flags &= ~(uint32_t)PF_FLAG_CUT_SHORT;
    }
    if (pf_trace_write_quick(merged, out, &err) < 0) {
        fprintf(stderr, "pyflame-c: cannot write the trace to '%s': %s\n", display, err.msg);
        goto done;
    }
    rc = 0;
    if (!quiet) {
        struct stat st;
        summary(merged, display, stat(out, &st) == 0 ? (uint64_t)st.st_size : 0);
    }
    warnings(merged);
done:
    if (rc < 0 && n > 0)
        fprintf(stderr, "pyflame-c: the run's traces are kept in %s\n", dir);
    else
        remove_session(dir);
    for (uint32_t i = 0; i < n; i++)
        pf_trace_free(parts[i].t);
    free(parts);
    pf_trace_free(merged);
    return rc;
}
