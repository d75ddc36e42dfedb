/* pyoffsets.c: the sampler's offsets, from a collector's file or from _Py_DebugOffsets,
 * and the call opcodes from the target's interpreter (see pyoffsets.h). */
#include "cli/pyoffsets.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli/paths.h"
#include "cli/procmem.h"

/* The file's keys and where each goes; required ones must be present. */
static const struct key {
    const char *name;
    size_t off;
    int required;
    int is_u64;          /* an address (uint64_t field) rather than an offset */
} keys[] = {
#define OFF(f, req) { #f, offsetof(pf_pyoffsets, f), req, 0 }
#define ADDR(f, req) { #f, offsetof(pf_pyoffsets, f), req, 1 }
    ADDR(interp, 1), ADDR(main_ident, 0), ADDR(code_type, 0), ADDR(gil_locked, 0),
    ADDR(gil_holder, 0),
    OFF(ob_type, 1), OFF(interp_threads_head, 1), OFF(ts_size, 1), OFF(ts_next, 1),
    OFF(ts_thread_id, 1), OFF(ts_native_thread_id, 0), OFF(ts_frame, 1),
    OFF(cframe_current, 0), OFF(ts_datastack_chunk, 0), OFF(chunk_previous, 0),
    OFF(chunk_size, 0), OFF(pthread_tid, 0), OFF(frame_size, 1), OFF(frame_prev, 1),
    OFF(frame_code, 1), OFF(frame_instr, 1), OFF(frame_owner, 0), OFF(instr_kind, 1),
    OFF(code_filename, 1), OFF(code_name, 1), OFF(code_qualname, 0),
    OFF(code_firstlineno, 1), OFF(code_linetable, 1), OFF(code_adaptive, 0), OFF(code_code, 0),
    OFF(linetable_kind, 1), OFF(bytes_size, 1), OFF(bytes_sval, 1), OFF(str_length, 1),
    OFF(str_state, 1), OFF(str_ascii_size, 1), OFF(str_compact_size, 1),
    OFF(str_kind_bit, 1), OFF(str_compact_bit, 1), OFF(str_ascii_bit, 1),
    OFF(ts_interp, 0), OFF(rt_interp_head, 0), OFF(rt_main_thread, 0), OFF(rt_gil_locked, 0),
    OFF(rt_gil_holder, 0),
    OFF(extended_arg, 0),
#undef OFF
#undef ADDR
};
#define NKEYS (sizeof keys / sizeof keys[0])

static void defaults(pf_pyoffsets *o)
{
    memset(o, 0, sizeof *o);
    for (size_t i = 0; i < NKEYS; i++)
        if (!keys[i].is_u64)
            *(int64_t *)((char *)o + keys[i].off) = -1;
}

/* An offset must be small and non-negative (or -1, absent) to be believed. */
static int sane(const pf_pyoffsets *o)
{
    for (size_t i = 0; i < NKEYS; i++) {
        if (keys[i].is_u64)
            continue;
        int64_t v = *(const int64_t *)((const char *)o + keys[i].off);
        if (v < -1 || v > (1 << 20))
            return 0;
    }
    return 1;
}

/* Sets o->call_ops from 64 hex digits; 0, or -1 when they are not that. */
static int parse_call_ops(pf_pyoffsets *o, const char *hex)
{
    if (strlen(hex) != 64)
        return -1;
    for (int i = 0; i < 64; i++) {
        char c = hex[i];
        int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (v < 0)
            return -1;
        o->call_ops[i / 2] = (unsigned char)(i % 2 ? o->call_ops[i / 2] | v : v << 4);
    }
    o->call_ops_known = 1;
    return 0;
}

/* Reads "name value" lines from f into o, marking the keys seen.  0, or -1 when a
 * value is not a number (or call_ops not 64 hex digits). */
static int read_pairs(pf_pyoffsets *o, FILE *f, unsigned char *seen)
{
    char name[64], value[80];
    while (fscanf(f, "%63s %79s", name, value) == 2) {
        if (strcmp(name, "call_ops") == 0) {
            if (parse_call_ops(o, value) < 0)
                return -1;
            continue;
        }
        char *end;
        errno = 0;
        /* addresses are written unsigned, offsets signed (-1: absent) */
        long long v = value[0] == '-' ? strtoll(value, &end, 10)
                                      : (long long)strtoull(value, &end, 10);
        if (*end != 0 || end == value || errno != 0)
            return -1;
        if (strcmp(name, "version_hex") == 0) {
            o->version_hex = (uint32_t)v;
            continue;
        }
        for (size_t i = 0; i < NKEYS; i++)
            if (strcmp(name, keys[i].name) == 0) {
                if (keys[i].is_u64)
                    *(uint64_t *)((char *)o + keys[i].off) = (uint64_t)v;
                else
                    *(int64_t *)((char *)o + keys[i].off) = v;
                seen[i] = 1;
            }
    }
    return 0;
}

/* Fills o from the "name value" lines of f (a collector's offsets, named what in
 * errors): every required key present, every value plausible.  Closes f.  0, or -1
 * with err set. */
static int parse_offsets(pf_pyoffsets *o, FILE *f, const char *what, pf_error *err)
{
    defaults(o);
    unsigned char seen[NKEYS] = { 0 };
    int rc = read_pairs(o, f, seen);
    fclose(f);
    if (rc < 0)
        return pf_error_set(err, PF_EPARSE, "'%s' holds a value that is not a number", what);
    for (size_t i = 0; i < NKEYS; i++)
        if (keys[i].required && !seen[i])
            return pf_error_set(err, PF_EPARSE, "'%s' lacks %s", what, keys[i].name);
    if (!sane(o) || o->version_hex < 0x03080000 || o->extended_arg > 255)
        return pf_error_set(err, PF_EPARSE, "'%s' holds implausible offsets", what);
    return 0;
}

int pf_pyoffsets_read_file(pf_pyoffsets *o, const char *path, pf_error *err)
{
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return pf_error_set(err, PF_EIO, "cannot read '%s': %s", path, strerror(errno));
    return parse_offsets(o, f, path, err);
}

/* ---- _Py_DebugOffsets (3.13+) ----
 * The struct is a cookie ("xdebugpy") followed by uint64_t fields, whose order changes
 * between minor versions: this table gives, per version, the index (in 8-byte words
 * from the start) of each field the sampler uses, taken from
 * Include/internal/pycore_debug_offsets.h (pycore_runtime.h in 3.13) with offsetof. */
enum { D_VERSION, D_INTERPRETERS_HEAD, D_THREADS_HEAD, D_GIL_LOCKED, D_GIL_HOLDER,
       D_TS_NEXT, D_TS_FRAME, D_TS_THREAD_ID, D_TS_NATIVE, D_FR_PREV, D_FR_CODE, D_FR_INSTR,
       D_FR_OWNER, D_CO_FILENAME, D_CO_NAME, D_CO_QUALNAME, D_CO_LINETABLE,
       D_CO_FIRSTLINENO, D_CO_ADAPTIVE, D_OB_TYPE, D_BYTES_SIZE, D_BYTES_SVAL, D_STR_STATE,
       D_STR_LENGTH, D_STR_ASCII_SIZE, D_COUNT };

static const struct layout {
    unsigned minor;
    unsigned char at[D_COUNT];
} layouts[] = {
    { 13, { 1, 5, 9, 17, 18, 21, 23, 24, 25, 29, 30, 31, 33, 35, 36, 37, 38, 39, 43, 45,
            65, 66, 68, 69, 70 } },
    { 14, { 1, 5, 9, 18, 19, 24, 26, 27, 28, 32, 33, 34, 36, 40, 41, 42, 43, 44, 48, 51,
            75, 76, 78, 79, 80 } },
    { 15, { 1, 5, 9, 18, 19, 24, 26, 30, 31, 40, 41, 42, 44, 48, 49, 50, 51, 52, 56, 59,
            87, 88, 90, 91, 92 } },
};

/* The index of thread_state.datastack_chunk, in the same words, per version. */
static const unsigned char datastack_chunk_at[][2] = { { 13, 26 }, { 14, 29 }, { 15, 32 } };

/* Reads the first words of _PyRuntime (the whole _Py_DebugOffsets of 3.13-3.15) and
 * checks its cookie; *minor gets the Python 3 minor version (0 for another major).  0,
 * or -1 with err set: without the cookie it is a CPython older than 3.13, and the
 * message ends with older_hint (what the caller can do then). */
static int read_debug_words(pid_t pid, uint64_t runtime_addr, uint64_t w[128],
                            unsigned *minor, const char *older_hint, pf_error *err)
{
    if (pf_procmem_read(pid, runtime_addr, w, 128 * sizeof w[0]) < 0) {
        if (errno == EPERM || errno == EACCES)
            return pf_procmem_explain_denied(pid, err);
        return pf_error_set(err, PF_EIO, "cannot read the memory of process %d: %s",
                            (int)pid, strerror(errno));
    }
    if (memcmp(w, "xdebugpy", 8) != 0)
        return pf_error_set(err, PF_EUSAGE, "process %d runs a CPython older than 3.13 (no "
                            "_Py_DebugOffsets at its _PyRuntime)%s", (int)pid, older_hint);
    *minor = (w[1] >> 24 & 0xff) == 3 ? (unsigned)(w[1] >> 16 & 0xff) : 0;
    return 0;
}

/* The address of the main interpreter: the word at head (an offset in _PyRuntime). */
static int read_interp(pid_t pid, uint64_t runtime_addr, int64_t head, uint64_t *interp,
                       pf_error *err)
{
    *interp = 0;
    if (pf_procmem_word(pid, runtime_addr + (uint64_t)head, interp) < 0 || *interp == 0)
        return pf_error_set(err, PF_EIO, "process %d has no interpreter (starting up or "
                            "shutting down?)", (int)pid);
    return 0;
}

int pf_pyoffsets_from_debug(pf_pyoffsets *o, pid_t pid, uint64_t runtime_addr, pf_error *err)
{
    defaults(o);
    uint64_t w[128];
    unsigned minor;
    if (read_debug_words(pid, runtime_addr, w, &minor, "", err) < 0)
        return -1;
    uint64_t version = w[1];
    const struct layout *l = NULL;
    for (size_t i = 0; i < sizeof layouts / sizeof layouts[0]; i++)
        if (layouts[i].minor == minor)
            l = &layouts[i];
    if (l == NULL)
        return pf_error_set(err, PF_EUSAGE, "process %d runs Python %u.%u: attach reads "
                            "CPython 3.13-3.15", (int)pid, (unsigned)(version >> 24 & 0xff),
                            (unsigned)(version >> 16 & 0xff));
    if (w[2] != 0 && minor >= 14)
        return pf_error_set(err, PF_EUSAGE, "process %d runs a free-threaded CPython, which "
                            "attach does not read", (int)pid);
#define W(k) ((int64_t)w[l->at[k]])
    o->version_hex = (uint32_t)version;
    o->interp_threads_head = W(D_THREADS_HEAD);
    o->ts_next = W(D_TS_NEXT);
    o->ts_frame = W(D_TS_FRAME);
    o->cframe_current = -1;
    o->ts_thread_id = W(D_TS_THREAD_ID);
    o->ts_native_thread_id = W(D_TS_NATIVE);
    o->frame_prev = W(D_FR_PREV);
    o->frame_code = W(D_FR_CODE);
    o->frame_instr = W(D_FR_INSTR);
    o->frame_owner = W(D_FR_OWNER);
    o->instr_kind = PF_INSTR_PTR_CURRENT;
    o->code_filename = W(D_CO_FILENAME);
    o->code_name = W(D_CO_NAME);
    o->code_qualname = W(D_CO_QUALNAME);
    o->code_linetable = W(D_CO_LINETABLE);
    o->code_firstlineno = W(D_CO_FIRSTLINENO);
    o->code_adaptive = W(D_CO_ADAPTIVE);
    o->linetable_kind = PF_LINETABLE_LOCATIONS;
    o->ob_type = W(D_OB_TYPE);
    o->bytes_size = W(D_BYTES_SIZE);
    o->bytes_sval = W(D_BYTES_SVAL);
    o->str_state = W(D_STR_STATE);
    o->str_length = W(D_STR_LENGTH);
    o->str_ascii_size = W(D_STR_ASCII_SIZE);
    /* PyCompactUnicodeObject adds utf8_length and utf8 (3.12+); the state bitfield is
     * interned:2, kind:3, compact:1, ascii:1 (Include/cpython/unicodeobject.h) */
    o->str_compact_size = o->str_ascii_size + 16;
    o->str_kind_bit = 2;
    o->str_compact_bit = 5;
    o->str_ascii_bit = 6;
    int64_t head = W(D_INTERPRETERS_HEAD), locked = W(D_GIL_LOCKED), holder = W(D_GIL_HOLDER);
#undef W
    for (size_t i = 0; i < sizeof datastack_chunk_at / sizeof datastack_chunk_at[0]; i++)
        if (datastack_chunk_at[i][0] == minor)
            o->ts_datastack_chunk = (int64_t)w[datastack_chunk_at[i][1]];
    /* _PyStackChunk (Include/cpython/pystate.h) is { previous, size, top, data[] } in
     * every version since 3.11; it has no debug offsets of its own */
    o->chunk_previous = 0;
    o->chunk_size = 8;
    /* sizes to read: up to the last field used, plus a word */
    o->ts_size = (o->ts_next > o->ts_frame ? o->ts_next : o->ts_frame);
    if (o->ts_thread_id > o->ts_size)
        o->ts_size = o->ts_thread_id;
    if (o->ts_native_thread_id > o->ts_size)
        o->ts_size = o->ts_native_thread_id;
    if (o->ts_datastack_chunk > o->ts_size)
        o->ts_size = o->ts_datastack_chunk;
    o->ts_size += 8;
    o->frame_size = o->frame_prev;
    if (o->frame_code > o->frame_size)
        o->frame_size = o->frame_code;
    if (o->frame_instr > o->frame_size)
        o->frame_size = o->frame_instr;
    if (o->frame_owner > o->frame_size)
        o->frame_size = o->frame_owner;
    o->frame_size += 8;
    if (!sane(o) || head < 0 || head > 65536)
        return pf_error_set(err, PF_EPARSE, "process %d: implausible _Py_DebugOffsets", (int)pid);
    uint64_t interp;
    if (read_interp(pid, runtime_addr, head, &interp, err) < 0)
        return -1;
    o->interp = interp;
    if (locked > 0 && holder > 0) {
        o->gil_locked = interp + (uint64_t)locked;
        o->gil_holder = interp + (uint64_t)holder;
    }
    return 0;
}

/* ---- asking the target's own interpreter ---- */

#define ASK_TIMEOUT_MS 10000
#define ASK_MAX_OUT 4096

/* Runs process pid's own interpreter binary (/proc/PID/exe, the very file it runs) with
 * -I -S -c script [arg], and collects what it prints, at most ASK_MAX_OUT - 1 bytes,
 * into out (*len bytes, NUL-terminated); real gets the binary's path.  Only an
 * executable named python* is run (an embedding program, uwsgi or blender, would not
 * take -c, and might do anything with it), with an empty environment, from /, within
 * ASK_TIMEOUT_MS, and as the process's user when we are root (its interpreter and
 * standard library may be that user's to change).  0, or -1 with err set: a script
 * that fails may print "error MESSAGE" for err. */
static int ask_interpreter(pid_t pid, const char *script, const char *arg, char *out,
                           size_t *len, char *real, size_t real_cap, pf_error *err)
{
    char exe[64];
    *len = 0;
    out[0] = 0;
    snprintf(exe, sizeof exe, "/proc/%d/exe", (int)pid);
    ssize_t n = readlink(exe, real, real_cap - 1);
    if (n <= 0)
        return pf_error_set(err, PF_EUSAGE, "cannot tell which executable process %d runs: %s",
                            (int)pid, strerror(errno));
    real[n] = 0;
    const char *base = strrchr(real, '/');
    base = base ? base + 1 : real;
    if (strncmp(base, "python", 6) != 0)
        return pf_error_set(err, PF_EUSAGE, "process %d runs '%s', not an interpreter named "
                            "python* that can be asked", (int)pid, real);
    struct stat st;
    char dir[32];
    snprintf(dir, sizeof dir, "/proc/%d", (int)pid);
    if (stat(dir, &st) < 0)
        return pf_error_set(err, PF_EUSAGE, "no process %d", (int)pid);
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) < 0)
        return pf_error_set(err, PF_EUSAGE, "cannot make a pipe: %s", strerror(errno));
    pid_t child = fork();
    if (child < 0) {
        close(fds[0]);
        close(fds[1]);
        return pf_error_set(err, PF_EUSAGE, "cannot fork: %s", strerror(errno));
    }
    if (child == 0) {
        if (geteuid() == 0 && st.st_uid != 0
            && (setgroups(0, NULL) < 0 || setgid(st.st_gid) < 0 || setuid(st.st_uid) < 0))
            _exit(126);
        int null = open("/dev/null", O_RDWR);
        if (null < 0 || dup2(null, STDIN_FILENO) < 0 || dup2(fds[1], STDOUT_FILENO) < 0
            || dup2(null, STDERR_FILENO) < 0 || chdir("/") < 0)
            _exit(126);
        /* argv[0] the real path: the interpreter finds its standard library from it */
        char *argv[] = { real, "-I", "-S", "-c", (char *)script, (char *)arg, NULL };
        char *envp[] = { "LC_ALL=C", NULL };
        execve(exe, argv, envp);
        execve(real, argv, envp);
        _exit(127);
    }
    close(fds[1]);
    int timed_out = 0;
    struct timespec t0, now;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        clock_gettime(CLOCK_MONOTONIC, &now);
        long ms = ASK_TIMEOUT_MS - ((now.tv_sec - t0.tv_sec) * 1000
                                    + (now.tv_nsec - t0.tv_nsec) / 1000000);
        struct pollfd pfd = { fds[0], POLLIN, 0 };
        int r = ms > 0 ? poll(&pfd, 1, (int)ms) : 0;
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            timed_out = r == 0;
            break;
        }
        ssize_t got = read(fds[0], out + *len, ASK_MAX_OUT - 1 - *len);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            break;
        *len += (size_t)got;
        if (*len == ASK_MAX_OUT - 1)
            break;
    }
    out[*len] = 0;
    close(fds[0]);
    if (timed_out)
        kill(child, SIGKILL);
    int status = 0;
    while (waitpid(child, &status, 0) < 0 && errno == EINTR)
        ;
    if (timed_out)
        return pf_error_set(err, PF_EUSAGE, "'%s' did not answer within %d s", real,
                            ASK_TIMEOUT_MS / 1000);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        if (strncmp(out, "error ", 6) == 0) {
            out[strcspn(out, "\n")] = 0;
            return pf_error_set(err, PF_EUSAGE, "%s", out + 6);
        }
        return pf_error_set(err, PF_EUSAGE, "'%s' -I -S -c failed (status %d)", real,
                            WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
    }
    return 0;
}

/* ---- a collector's offsets for another process (3.8-3.12) ---- */

/* Run by the target's own interpreter binary (ask_interpreter): loads pyflame-c's
 * package from argv[1] (its collector for that version), has it write its offsets file
 * (collector/sampleinfo.h) to a temporary file, and prints that file; or prints
 * "error MESSAGE" and fails. */
static const char offsets_script[] =
    "import sys, os, tempfile\n"
    "import importlib.util as u\n"
    "d = sys.argv[1]\n"
    "try:\n"
    "    s = u.spec_from_file_location('pyflame', d + '/__init__.py',"
    " submodule_search_locations=[d])\n"
    "    m = u.module_from_spec(s)\n"
    "    sys.modules['pyflame'] = m\n"
    "    s.loader.exec_module(m)\n"
    "except ImportError as e:\n"
    "    print('error no collector built for Python %d.%d (%s): build it with `make "
    "collectors`' % (sys.version_info[0], sys.version_info[1], e))\n"
    "    sys.exit(2)\n"
    "fd, p = tempfile.mkstemp()\n"
    "os.close(fd)\n"
    "try:\n"
    "    m._collector.sample_info(p)\n"
    "    sys.stdout.write(open(p).read())\n"
    "    sys.stdout.write('version_hex %d\\n' % sys.hexversion)\n"   /* its own, not the
                                                                   collector's build's */
    "finally:\n"
    "    os.unlink(p)\n";

int pf_pyoffsets_from_collector(pf_pyoffsets *o, pid_t pid, uint64_t runtime_addr,
                                const char *package_dir, pf_error *err)
{
    char out[ASK_MAX_OUT], real[4096];
    size_t len = 0;
    if (ask_interpreter(pid, offsets_script, package_dir, out, &len, real, sizeof real,
                        err) < 0) {
        pf_error e2 = *err;
        return pf_error_set(err, PF_EUSAGE, "process %d runs a Python without "
                            "_Py_DebugOffsets (before 3.13), so attach takes the offsets from "
                            "pyflame-c's collector for that version, run by the process's own "
                            "interpreter: %s", (int)pid, e2.msg);
    }
    FILE *f = fmemopen(out, len, "r");
    if (f == NULL)
        return pf_error_set(err, PF_ENOMEM, NULL);
    if (parse_offsets(o, f, real, err) < 0)
        return -1;
    if (o->rt_interp_head < 0 || o->ts_interp < 0)
        return pf_error_set(err, PF_EUSAGE, "process %d: the collector in %s is older than "
                            "attach's support for Python before 3.13; rebuild it", (int)pid,
                            package_dir);
    uint64_t interp = 0, ts = 0, back = 0;
    if (pf_procmem_word(pid, runtime_addr + (uint64_t)o->rt_interp_head, &interp) < 0
        || interp == 0)
        return pf_error_set(err, PF_EIO, "process %d has no interpreter (starting up or "
                            "shutting down?)", (int)pid);
    /* the offsets must fit this process: its first thread state points back at it */
    if (pf_procmem_word(pid, interp + (uint64_t)o->interp_threads_head, &ts) < 0
        || (ts != 0 && (pf_procmem_word(pid, ts + (uint64_t)o->ts_interp, &back) < 0
                        || back != interp)))
        return pf_error_set(err, PF_EUSAGE, "process %d: the offsets of pyflame-c's collector "
                            "for Python %u.%u do not fit its interpreter (another build of "
                            "that version?)", (int)pid, o->version_hex >> 24 & 0xff,
                            o->version_hex >> 16 & 0xff);
    o->interp = interp;
    o->main_ident = 0;
    if (o->rt_main_thread >= 0)
        pf_procmem_word(pid, runtime_addr + (uint64_t)o->rt_main_thread, &o->main_ident);
    o->gil_locked = o->rt_gil_locked >= 0 ? runtime_addr + (uint64_t)o->rt_gil_locked : 0;
    o->gil_holder = o->rt_gil_holder >= 0 ? runtime_addr + (uint64_t)o->rt_gil_holder : 0;
    o->code_type = 0;                    /* the caller finds PyCode_Type in the target */
    return 0;
}

int pf_pyoffsets_for_process(pf_pyoffsets *o, pid_t pid, uint64_t runtime_addr, pf_error *err)
{
    char cookie[8];
    if (pf_procmem_read(pid, runtime_addr, cookie, sizeof cookie) == 0
        && memcmp(cookie, "xdebugpy", 8) == 0)
        return pf_pyoffsets_from_debug(o, pid, runtime_addr, err);
    char looked[2048];
    char *pkg = pf_cli_package_dir(looked, sizeof looked);
    if (pkg == NULL)
        return pf_error_set(err, PF_EUSAGE, "process %d runs a Python before 3.13, whose "
                            "offsets attach takes from pyflame-c's collector, which is not "
                            "found (looked in %s)", (int)pid, looked);
    int rc = pf_pyoffsets_from_collector(o, pid, runtime_addr, pkg, err);
    free(pkg);
    return rc;
}

/* ---- PEP 768's remote execution (3.14+) ----
 * The same struct's `debugger_support` part, and the few fields that lead to the main
 * thread's state, as word indices per version (counted as the table above). */
enum { R_FINALIZING, R_INTERPRETERS_HEAD, R_THREADS_MAIN, R_TS_SIZE, R_TS_INTERP,
       R_EVAL_BREAKER, R_SUPPORT, R_ENABLED, R_PENDING, R_SCRIPT, R_SCRIPT_SIZE, R_COUNT };

static const struct remote_layout {
    unsigned minor;
    unsigned char at[R_COUNT];
} remote_layouts[] = {
    { 14, { 4, 5, 10, 22, 25, 89, 90, 91, 92, 93, 94 } },
    { 15, { 4, 5, 10, 22, 25, 105, 106, 107, 108, 109, 110 } },
};

int pf_pyoffsets_remote(pf_pyremote *r, pid_t pid, uint64_t runtime_addr, pf_error *err)
{
    memset(r, 0, sizeof *r);
    uint64_t w[128];
    unsigned minor;
    if (read_debug_words(pid, runtime_addr, w, &minor, ": attach --calls needs CPython 3.14 "
                         "or later (PEP 768's remote execution); start the program under "
                         "`pyflame-c collect` instead", err) < 0)
        return -1;
    uint64_t version = w[1];
    unsigned major = (unsigned)(version >> 24 & 0xff);
    const struct remote_layout *l = NULL;
    for (size_t i = 0; i < sizeof remote_layouts / sizeof remote_layouts[0]; i++)
        if (remote_layouts[i].minor == minor)
            l = &remote_layouts[i];
    if (l == NULL && minor == 13)
        return pf_error_set(err, PF_EUSAGE, "process %d runs Python 3.13: attach --calls needs "
                            "CPython 3.14 or later (PEP 768's remote execution); `pyflame-c "
                            "attach` without --calls samples it, or start the program under "
                            "`pyflame-c collect`", (int)pid);
    if (l == NULL)
        return pf_error_set(err, PF_EUSAGE, "process %d runs Python %u.%u: attach --calls "
                            "supports CPython 3.14 and 3.15", (int)pid, major,
                            (unsigned)(version >> 16 & 0xff));
    if (w[2] != 0)
        return pf_error_set(err, PF_EUSAGE, "process %d runs a free-threaded CPython, which "
                            "attach --calls does not support", (int)pid);
#define W(k) ((int64_t)w[l->at[k]])
    r->version_hex = (uint32_t)version;
    r->runtime_finalizing = W(R_FINALIZING);
    r->interp_threads_main = W(R_THREADS_MAIN);
    r->interp_remote_debug = W(R_ENABLED);
    r->ts_size = W(R_TS_SIZE);
    r->ts_interp = W(R_TS_INTERP);
    r->ts_eval_breaker = W(R_EVAL_BREAKER);
    r->ts_pending = W(R_SUPPORT) + W(R_PENDING);
    r->ts_script = W(R_SUPPORT) + W(R_SCRIPT);
    r->script_size = W(R_SCRIPT_SIZE);
    int64_t head = W(R_INTERPRETERS_HEAD);
#undef W
    /* every field inside its struct: a wrong table must not make us write elsewhere */
    int64_t ts = r->ts_size;
    if (ts < 64 || ts > (1 << 20) || r->script_size < 64 || r->script_size > 65536
        || r->ts_interp < 0 || r->ts_interp + 8 > ts
        || r->ts_eval_breaker < 0 || r->ts_eval_breaker + 8 > ts
        || r->ts_pending < 0 || r->ts_pending + 4 > ts
        || r->ts_script < 0 || r->ts_script + r->script_size > ts
        || (r->ts_pending < r->ts_script + r->script_size && r->ts_script < r->ts_pending + 4)
        || r->runtime_finalizing < 0 || r->runtime_finalizing > 65536
        || r->interp_threads_main < 0 || r->interp_threads_main > (1 << 24)
        || r->interp_remote_debug < 0 || r->interp_remote_debug > (1 << 24)
        || head < 0 || head > 65536)
        return pf_error_set(err, PF_EPARSE, "process %d: implausible _Py_DebugOffsets for "
                            "remote execution", (int)pid);
    if (read_interp(pid, runtime_addr, head, &r->interp, err) < 0)
        return -1;
    return 0;
}

/* ---- call opcodes, from the target's own interpreter (attach --native) ---- */

int pf_pyoffsets_ask_calls(pf_pyoffsets *o, pid_t pid, const char *script, pf_error *err)
{
    char out[ASK_MAX_OUT], real[4096];
    size_t len = 0;
    if (ask_interpreter(pid, script, NULL, out, &len, real, sizeof real, err) < 0)
        return -1;
    pf_pyoffsets got;
    unsigned char seen[NKEYS] = { 0 };
    defaults(&got);
    FILE *f = len > 0 ? fmemopen(out, len, "r") : NULL;
    if (f == NULL)
        return pf_error_set(err, PF_EUSAGE, "'%s' gave no call opcodes", real);
    int rc = read_pairs(&got, f, seen);
    fclose(f);
    if (rc < 0 || !got.call_ops_known || got.extended_arg > 255)
        return pf_error_set(err, PF_EUSAGE, "'%s' gave no call opcodes", real);
    /* Opcode numbers are frozen within a minor version from its first final release
     * (its .pyc magic number is), not between pre-releases.  o->version_hex may be a
     * collector's compile-time version (attach before 3.13), not the target's own
     * micro release. */
    uint32_t a = got.version_hex, b = o->version_hex;
    if (a >> 16 != b >> 16 || (a != b && ((a & 0xf0) != 0xf0 || (b & 0xf0) != 0xf0)))
        return pf_error_set(err, PF_EUSAGE, "'%s' is Python %#x, the process runs %#x (an "
                            "interpreter upgraded since it started?)", real, a, b);
    memcpy(o->call_ops, got.call_ops, sizeof o->call_ops);
    o->call_ops_known = 1;
    o->extended_arg = got.extended_arg;
    return 0;
}
