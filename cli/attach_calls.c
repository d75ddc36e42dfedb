/* attach_calls.c: `pyflame-c attach --calls PID` (see attach_calls.h).
 *
 * The run, in order:
 *   1. checks, before anything is written to the target: CPython 3.14+ with remote
 *      debugging allowed (cli/inject.h), a collector built for its version in the
 *      package folder, the same mount namespace (the target opens our files);
 *   2. a run folder (mkdtemp, the target's owner when we are root) holding start.py,
 *      stop.py and what the target writes back (pyflame/_attach.py lists the files);
 *   3. start.py is injected; the target's main thread runs it at its next eval-breaker
 *      check: it loads the package under a private name and starts the collector
 *      (collector/pyflame/_attach.py), which then records every thread, threads started
 *      later included (sys.monitoring);
 *   4. recording, until Ctrl-C / SIGTERM, --duration or the target's exit;
 *   5. stop.py is injected: the collector stops, writes the trace and removes itself;
 *   6. the trace is read back (checked) and written to -o with the one trace writer;
 *      the run folder is removed.
 * The target's exit while recorded is not an error: its atexit handler writes the full
 * trace (status "exited"); a death without exit handlers (SIGKILL, os._exit, a crash)
 * leaves the last snapshot, marked cut short.  A target whose main thread does not run
 * Python code within PF_ATTACH_WAIT_S (blocked in a C call) gets its start request
 * withdrawn, with the claim file deciding the race with a start.py that runs just then;
 * a stop that is not taken in time is left pending (the collector removes itself when
 * the thread runs again) and the last snapshot is written instead. */
#include "cli/attach_calls.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli/common.h"
#include "cli/inject.h"
#include "cli/paths.h"
#include "cli/progress.h"
#include "formats/trace.h"
#include "formats/units.h"

/* The files of a run folder (collector/pyflame/_attach.py says who writes what). */
static const char *const run_files[] = { "start.py", "stop.py", "claim", "status",
                                         "status.tmp", "trace.gz" };

typedef struct run {
    pid_t pid;
    unsigned long long starttime;    /* /proc/PID/stat's, against pid reuse */
    pf_inject *in;
    char dir[PATH_MAX];
    char file[PATH_MAX + 32];        /* scratch: a file of dir */
} run;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void nap(double seconds)
{
    struct timespec ts = { (time_t)seconds, (long)((seconds - (double)(time_t)seconds) * 1e9) };
    nanosleep(&ts, NULL);
}

static const char *path_of(run *r, const char *name)
{
    snprintf(r->file, sizeof r->file, "%s/%s", r->dir, name);
    return r->file;
}

/* The process's state letter and start time from /proc/PID/stat; 0 if it is gone. */
static int proc_stat(pid_t pid, char *state, unsigned long long *starttime)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    const char *p = strrchr(buf, ')');       /* the command name may hold anything */
    if (p == NULL || sscanf(p + 1, " %c", state) != 1)
        return 0;
    /* from field 3 (the state) to field 22 (the start time) */
    p += 2;
    for (int i = 0; i < 19 && p != NULL; i++) {
        p = strchr(p, ' ');
        if (p != NULL)
            p++;
    }
    *starttime = p != NULL ? strtoull(p, NULL, 10) : 0;
    return 1;
}

/* Whether the target still runs: not gone, not a zombie, not another process that
 * got its pid. */
static int alive(const run *r)
{
    char state = 0;
    unsigned long long start = 0;
    return proc_stat(r->pid, &state, &start) && state != 'Z' && state != 'X'
           && start == r->starttime;
}

/* A collector built for Python 3.MINOR in pkg: _collector.cpython-3MINOR-*.so. */
static int has_collector(const char *pkg, uint32_t version)
{
    char prefix[64];
    snprintf(prefix, sizeof prefix, "_collector.cpython-%u%u-", version >> 24 & 0xff,
             version >> 16 & 0xff);
    DIR *d = opendir(pkg);
    if (d == NULL)
        return 0;
    int found = 0;
    for (struct dirent *e; !found && (e = readdir(d)) != NULL;)
        found = strncmp(e->d_name, prefix, strlen(prefix)) == 0;
    closedir(d);
    return found;
}

/* Whether pid sees the same files as we do (its mount namespace is ours). */
static int same_mounts(pid_t pid)
{
    char path[64];
    struct stat a, b;
    snprintf(path, sizeof path, "/proc/%d/ns/mnt", (int)pid);
    if (stat(path, &a) < 0 || stat("/proc/self/ns/mnt", &b) < 0)
        return 1;                     /* cannot tell: try, the start timeout says the rest */
    return a.st_ino == b.st_ino && a.st_dev == b.st_dev;
}

/* s as a Python expression that gives back the same str in the target, whatever its
 * bytes: os.fsdecode(bytes.fromhex("...")). */
static void py_path(char *out, size_t cap, const char *s)
{
    size_t n = (size_t)snprintf(out, cap, "__import__('os').fsdecode(bytes.fromhex('");
    for (const unsigned char *p = (const unsigned char *)s; *p && n + 3 < cap; p++)
        n += (size_t)snprintf(out + n, cap - n, "%02x", *p);
    snprintf(out + n, cap > n ? cap - n : 0, "'))");
}

/* Writes a file of the run folder, readable by the target. */
static int write_file(run *r, const char *name, const char *text, uid_t uid, gid_t gid,
                      pf_error *err)
{
    const char *path = path_of(r, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0)
        return pf_error_set(err, PF_EIO, "cannot create '%s': %s", path, strerror(errno));
    size_t len = strlen(text);
    ssize_t w = write(fd, text, len);
    int ok = w == (ssize_t)len && close(fd) == 0;
    if (!ok) {
        if (w != (ssize_t)len)
            close(fd);
        return pf_error_set(err, PF_EIO, "cannot write '%s'", path);
    }
    if (geteuid() == 0 && uid != 0 && chown(path, uid, gid) < 0)
        return pf_error_set(err, PF_EIO, "cannot hand '%s' to the target's user: %s", path,
                            strerror(errno));
    return 0;
}

/* The status file's text ("" while there is none). */
static void read_status(run *r, char *buf, size_t cap)
{
    buf[0] = 0;
    FILE *f = fopen(path_of(r, "status"), "re");
    if (f == NULL)
        return;
    size_t n = fread(buf, 1, cap - 1, f);
    fclose(f);
    buf[n] = 0;
}

static void remove_run(run *r)
{
    for (size_t i = 0; i < sizeof run_files / sizeof run_files[0]; i++)
        unlink(path_of(r, run_files[i]));
    rmdir(r->dir);
}

/* The run folder, with start.py and stop.py in it. */
static int make_run(run *r, const char *pkg, pf_error *err)
{
    const char *tmp = getenv("TMPDIR");
    if (tmp == NULL || *tmp != '/')
        tmp = "/tmp";
    if ((size_t)snprintf(r->dir, sizeof r->dir, "%s/pyflame-c-attach-XXXXXX", tmp)
        >= sizeof r->dir || mkdtemp(r->dir) == NULL) {
        r->dir[0] = 0;
        return pf_error_set(err, PF_EIO, "cannot make a folder in %s: %s", tmp,
                            strerror(errno));
    }
    /* the target writes here: as root, hand the folder to its owner */
    struct stat st;
    char proc[64];
    snprintf(proc, sizeof proc, "/proc/%d", (int)r->pid);
    uid_t uid = 0;
    gid_t gid = 0;
    if (stat(proc, &st) == 0) {
        uid = st.st_uid;
        gid = st.st_gid;
    }
    if (geteuid() == 0 && uid != 0 && chown(r->dir, uid, gid) < 0)
        return pf_error_set(err, PF_EIO, "cannot hand '%s' to the target's user: %s", r->dir,
                            strerror(errno));
    size_t longest = strlen(r->dir) + sizeof "/start.py";
    if (longest > pf_inject_max_path(r->in))
        return pf_error_set(err, PF_EUSAGE, "the run folder's name '%s' is too long for "
                            "process %d (at most %zu bytes): set TMPDIR to a shorter folder",
                            r->dir, (int)r->pid, pf_inject_max_path(r->in));
    char pkg_expr[3 * PATH_MAX], dir_expr[3 * PATH_MAX];
    py_path(pkg_expr, sizeof pkg_expr, pkg);
    py_path(dir_expr, sizeof dir_expr, r->dir);
    /* Runs in a fresh namespace of the target's main thread, before recording starts.
     * Everything is caught: an exception let out would be printed on its stderr. */
    static const char start_fmt[] =
        "# pyflame-c attach --calls: starts pyflame's collector in this process.\n"
        "# Run by its interpreter through PEP 768's remote execution (cli/inject.h).\n"
        "def _pyflame_c_start(pkg, run):\n"
        "    import os, sys\n"
        "    try:  # the claim: pyflame-c makes it instead when it gave up waiting\n"
        "        os.close(os.open(os.path.join(run, 'claim'),\n"
        "                         os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))\n"
        "    except OSError:\n"
        "        return\n"
        "    name = '_pyflame_c_attach'\n"
        "    try:\n"
        "        import importlib, importlib.util\n"
        "        if name not in sys.modules:\n"
        "            spec = importlib.util.spec_from_file_location(\n"
        "                name, os.path.join(pkg, '__init__.py'), submodule_search_locations=[pkg])\n"
        "            mod = importlib.util.module_from_spec(spec)\n"
        "            sys.modules[name] = mod\n"
        "            spec.loader.exec_module(mod)\n"
        "        attach = importlib.import_module(name + '._attach')\n"
        "    except BaseException as e:\n"
        "        for k in [k for k in sys.modules if k == name or k.startswith(name + '.')]:\n"
        "            del sys.modules[k]\n"
        "        try:\n"
        "            with open(os.path.join(run, 'status.tmp'), 'w') as f:\n"
        "                f.write('error\\t%%s: %%s' %% (type(e).__name__, e))\n"
        "            os.replace(os.path.join(run, 'status.tmp'), os.path.join(run, 'status'))\n"
        "        except BaseException:\n"
        "            pass\n"
        "        return\n"
        "    attach.start(run)\n"
        "_pyflame_c_start(%s,\n"
        "                 %s)\n";
    /* Runs while recording: as little as possible before the collector stops (this
     * module's own frame is the one call of it the trace holds). */
    static const char stop_text[] =
        "# pyflame-c attach --calls: stops pyflame's collector and removes it.\n"
        "import sys\n"
        "try:\n"
        "    _a = sys.modules['_pyflame_c_attach._attach']\n"
        "except KeyError:\n"
        "    _a = None\n"
        "if _a is not None:\n"
        "    _a.stop()\n";
    size_t cap = sizeof start_fmt + strlen(pkg_expr) + strlen(dir_expr);
    char *start = malloc(cap);
    if (start == NULL)
        return pf_error_set(err, PF_ENOMEM, NULL);
    snprintf(start, cap, start_fmt, pkg_expr, dir_expr);
    int rc = write_file(r, "start.py", start, uid, gid, err);
    free(start);
    if (rc < 0 || write_file(r, "stop.py", stop_text, uid, gid, err) < 0)
        return -1;
    return 0;
}

/* Reads the trace the target wrote and writes it to output (NULL: standard output)
 * with the one trace writer; prints the summary.  0, or -1 with err set. */
static int deliver(run *r, const char *output, int quiet, const char *how, pf_error *err)
{
    pf_trace *t = pf_cli_read_trace(path_of(r, "trace.gz"), 0, err);
    if (t == NULL)
        return -1;
    pf_cli_progress_start("attach");
    if (pf_trace_write(t, output ? output : "-", err) < 0) {
        pf_trace_free(t);
        return -1;
    }
    if (!quiet) {
        struct stat st;
        char sz[PF_UNITS_BUFSZ];
        pf_units_bytes(sz, sizeof sz, output && stat(output, &st) == 0 ? (uint64_t)st.st_size : 0,
                       0);
        if (output)
            fprintf(stderr, "pyflame-c: wrote %s (%s, %llu calls recorded%s)\n", output, sz,
                    (unsigned long long)t->meta.total_calls, how);
        else
            fprintf(stderr, "pyflame-c: wrote the trace to standard output (%llu calls "
                    "recorded%s)\n", (unsigned long long)t->meta.total_calls, how);
    }
    pf_trace_free(t);
    return 0;
}

/* The target exited while recorded: what it left. */
static int after_exit(run *r, const char *output, int quiet, pf_error *err)
{
    char status[600];
    read_status(r, status, sizeof status);
    if (access(path_of(r, "trace.gz"), R_OK) != 0)
        return pf_error_set(err, PF_EIO, "process %d exited before the collector wrote "
                            "anything", (int)r->pid);
    int full = strncmp(status, "exited", 6) == 0;
    fprintf(stderr, "pyflame-c: process %d exited while recorded; %s\n", (int)r->pid,
            full ? "the trace was written at its exit"
                 : "it ran no exit handlers (killed, os._exit or a crash): the trace holds "
                   "what was recorded up to its last snapshot, about a second before");
    return deliver(r, output, quiet, full ? "; the process exited" : "; cut short", err);
}

int pf_attach_calls(pid_t pid, const char *output, double duration, int quiet,
                    volatile int *stop)
{
    pf_error err;
    pf_error_clear(&err);
    run r;
    memset(&r, 0, sizeof r);
    r.pid = pid;
    char *pkg = NULL;
    int keep = 0, rc = 1;
    char status[600];
    char state = 0;
    if (!proc_stat(pid, &state, &r.starttime)) {
        pf_error_set(&err, PF_EIO, "no process %d", (int)pid);
        goto fail;
    }
    if ((r.in = pf_inject_open(pid, &err)) == NULL)
        goto fail;
    uint32_t version = pf_inject_version(r.in);
    char looked[2048] = "";
    if ((pkg = pf_cli_package_dir(looked, sizeof looked)) == NULL) {
        pf_error_set(&err, PF_EIO, "cannot find the pyflame package (looked in %s)", looked);
        goto fail;
    }
    if (!has_collector(pkg, version)) {
        pf_error_set(&err, PF_EUSAGE, "no collector built for Python %u.%u in %s: run `make "
                     "collectors` (or `make install`) with that interpreter present",
                     version >> 24 & 0xff, version >> 16 & 0xff, pkg);
        goto fail;
    }
    if (!same_mounts(pid)) {
        pf_error_set(&err, PF_EUSAGE, "process %d runs in another mount namespace (a "
                     "container?): it could not open the files attach --calls gives it; "
                     "run pyflame-c inside it", (int)pid);
        goto fail;
    }
    if (make_run(&r, pkg, &err) < 0)
        goto fail;

    /* ---- start ---- */
    char script[PATH_MAX + 32];
    snprintf(script, sizeof script, "%s/start.py", r.dir);
    double t0 = now_s();
    if (pf_inject_send(r.in, script, &err) < 0)
        goto fail;
    int claimed = 0;              /* the start script began: it will say how it went */
    for (int polls = 0;; polls++) {
        read_status(&r, status, sizeof status);
        if (status[0])
            break;
        if (!alive(&r)) {
            pf_error_set(&err, PF_EIO, "process %d exited before the collector started",
                         (int)pid);
            goto fail;
        }
        double waited = now_s() - t0;
        if (!claimed && (*stop || waited > PF_ATTACH_WAIT_S)) {
            int fd = open(path_of(&r, "claim"), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
            if (fd >= 0) {
                /* ours: a start.py that runs now does nothing */
                close(fd);
                pf_inject_withdraw(r.in);
                if (*stop)
                    pf_error_set(&err, PF_EUSAGE, "interrupted before the collector started "
                                 "in process %d; nothing was changed in it", (int)pid);
                else
                    pf_error_set(&err, PF_EUSAGE, "process %d did not run the start request "
                                 "within %.0f s: its main thread runs no Python code (blocked "
                                 "in a C call: sleep, a lock, select, a read?), and it takes "
                                 "the request only at its next bytecode; nothing was changed "
                                 "in it.  Try again while it is busy, or sample it with "
                                 "`pyflame-c attach` (no --calls)", (int)pid, PF_ATTACH_WAIT_S);
                goto fail;
            }
            claimed = 1;
        }
        if (claimed && waited > 3 * PF_ATTACH_WAIT_S) {
            /* start.py runs but says nothing: leave the folder for it */
            keep = 1;
            pf_error_set(&err, PF_EIO, "process %d began starting the collector but did not "
                         "finish within %.0f s; %s is left for it", (int)pid,
                         3 * PF_ATTACH_WAIT_S, r.dir);
            goto fail;
        }
        nap(polls < 200 ? 0.001 : 0.01);
    }
    if (strncmp(status, "error\t", 6) == 0) {
        pf_error_set(&err, PF_EUSAGE, "the collector could not start in process %d: %s",
                     (int)pid, status + 6);
        goto fail;
    }
    double started = now_s();
    if (!quiet)
        fprintf(stderr, "pyflame-c: recording every call of process %d (Python %u.%u, %s), "
                "started %.1f ms after the request%s\n", (int)pid, version >> 24 & 0xff,
                version >> 16 & 0xff, pf_inject_file(r.in), (started - t0) * 1e3,
                duration > 0 ? "" : "; Ctrl-C to stop");

    /* ---- record ---- */
    while (!*stop && (duration <= 0 || now_s() - started < duration)) {
        if (!alive(&r)) {
            rc = after_exit(&r, output, quiet, &err) < 0 ? 1 : 0;
            if (rc != 0)
                goto fail;
            goto done;
        }
        nap(0.02);
    }

    /* ---- stop ---- */
    int seen = *stop;
    snprintf(script, sizeof script, "%s/stop.py", r.dir);
    double t1 = now_s();
    if (pf_inject_send(r.in, script, &err) < 0) {
        if (!alive(&r)) {
            rc = after_exit(&r, output, quiet, &err) < 0 ? 1 : 0;
            if (rc != 0)
                goto fail;
            goto done;
        }
        goto fail;
    }
    int told = 0;
    for (int polls = 0;; polls++) {
        read_status(&r, status, sizeof status);
        if (strncmp(status, "stopped", 7) == 0)
            break;
        if (strncmp(status, "error\t", 6) == 0) {
            pf_error_set(&err, PF_EIO, "the collector could not stop in process %d: %s",
                         (int)pid, status + 6);
            goto fail;
        }
        if (strncmp(status, "exited", 6) == 0 || !alive(&r)) {
            rc = after_exit(&r, output, quiet, &err) < 0 ? 1 : 0;
            if (rc != 0)
                goto fail;
            goto done;
        }
        double waited = now_s() - t1;
        if (!told && waited > 1.0) {
            told = 1;
            fprintf(stderr, "pyflame-c: waiting for process %d's main thread to run Python "
                    "code (blocked in a C call?) to remove the collector; Ctrl-C to give "
                    "up\n", (int)pid);
        }
        if (waited > PF_ATTACH_WAIT_S || *stop > seen) {
            /* The request stays: the collector removes itself when the thread runs
             * Python again, and writes into the folder, which stays for it. */
            keep = 1;
            fprintf(stderr, "pyflame-c: process %d did not take the stop request%s; the "
                    "collector stays in it until its main thread runs Python code again, "
                    "then removes itself and writes its trace to %s/trace.gz\n", (int)pid,
                    *stop > seen ? "" : " in time", r.dir);
            if (access(path_of(&r, "trace.gz"), R_OK) == 0
                && deliver(&r, output, quiet, "; cut short: the last snapshot", &err) < 0)
                goto fail;
            goto done;               /* status 1: not detached */
        }
        nap(polls < 200 ? 0.001 : 0.01);
    }
    if (!quiet)
        fprintf(stderr, "pyflame-c: detached from process %d after %.1f s (the stop took "
                "%.1f ms)\n", (int)pid, now_s() - started, (now_s() - t1) * 1e3);
    if (deliver(&r, output, quiet, "", &err) < 0)
        goto fail;
    rc = 0;
done:
    if (!keep)
        remove_run(&r);
    pf_inject_free(r.in);
    free(pkg);
    return keep ? 1 : rc;
fail:
    fprintf(stderr, "pyflame-c attach: %s\n", err.msg[0] ? err.msg : pf_error_text(err.code));
    if (r.dir[0] && !keep)
        remove_run(&r);
    pf_inject_free(r.in);
    free(pkg);
    return 1;
}
