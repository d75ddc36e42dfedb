/* attach.c: `pyflame-c attach PID`: samples a running CPython process that was not
 * started under pyflame-c, from outside (cli/sampler.h), with the offsets CPython 3.13+
 * publishes in _Py_DebugOffsets at the start of _PyRuntime, or those of pyflame-c's
 * collector for 3.8-3.12 (cli/pyoffsets.h); _PyRuntime is found through the ELF symbol
 * tables of the interpreter files the process has mapped.  The
 * target is never stopped; it does not notice.  Stops on Ctrl-C, SIGTERM, after
 * --duration, or when the target exits; then writes the trace.  With --calls it records
 * every call instead, with the collector injected into the process (cli/attach_calls.h). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli/attach_calls.h"
#include "cli/commands.h"
#include "cli/common.h"
#include "cli/help.h"
#include "cli/opts.h"
#include "cli/paths.h"
#include "cli/procmem.h"
#include "cli/progress.h"
#include "cli/sampler.h"
#include "formats/output.h"
#include "formats/units.h"

enum { OPT_OUTPUT = 1, OPT_DURATION, OPT_CALLS, OPT_RATE, OPT_MODE, OPT_NATIVE, OPT_QUIET,
       OPT_HELP };

static const pf_opt attach_opts[] = {
    { "output", 'o', PF_OPT_VALUE, OPT_OUTPUT, "FILE", "@file",
      "trace to write (default: trace.gz; '-' = standard output)" },
    { "duration", 0, PF_OPT_VALUE, OPT_DURATION, "SECONDS", NULL,
      "stop after that long (default: until Ctrl-C, SIGTERM or the process's exit)" },
    { "calls", 0, PF_OPT_FLAG, OPT_CALLS, NULL, NULL,
      "record every call (exact counts, as `collect` does) instead of sampling: the collector "
      "is run inside the process through CPython 3.14+'s remote execution (PEP 768) and "
      "removed at the end" },
    { "rate", 0, PF_OPT_VALUE, OPT_RATE, "HZ", NULL,
      "samples per second, 1-20000 (default 1000)" },
    { "sample-mode", 0, PF_OPT_VALUE, OPT_MODE, "wall|cpu|gil", "wall cpu gil",
      "which samples count: wall (default), every thread at every tick; cpu, threads as "
      "they use a CPU (a thread's samples add up to its CPU time); gil, only the thread "
      "holding the GIL" },
    { "native", 0, PF_OPT_FLAG, OPT_NATIVE, NULL, NULL,
      "a sample taken while a C function runs (a builtin, a C method, a C extension's "
      "function: time.sleep, sorted, hashlib, numpy...) gets one more innermost frame, "
      "<native>, under the Python frame that called it: time in C stands apart from the "
      "Python code around it.  The C function is not named.  Told from the calling "
      "frame's instruction (a call, with no Python frame above it), whose opcode numbers "
      "the process's own interpreter gives: attach runs its executable once (python* "
      "only, as the process's user, -I -S) to ask.  When that fails, a warning says why "
      "and the samples get no <native> frame" },
    { "quiet", 'q', PF_OPT_FLAG, OPT_QUIET, NULL, NULL, "do not print the summary" },
    { "help", 'h', PF_OPT_FLAG, OPT_HELP, NULL, NULL, "show this help" },
};

const pf_command pf_attach_command = {
    "attach",
    "sample a live Python process, or record its every call (--calls, 3.14+)",
    "pyflame-c attach [options] PID",
    "Sample the Python stacks of every thread of a running CPython process, from "
    "outside: the process is not stopped, not changed, and runs at full speed.  Samples "
    "add up per calling context and per line into a trace, as `collect --sample` "
    "writes: see convert, svg, html, diff.  Stops on Ctrl-C, SIGTERM, after --duration, "
    "or when the process exits; then writes the trace.\n"
    "\n"
    "Works on CPython 3.8 to 3.15, not free-threaded builds, on x86-64 and AArch64 "
    "Linux.  3.13+ publish the offsets of their structures (_Py_DebugOffsets); for "
    "3.8-3.12, the process's own interpreter binary runs pyflame-c's collector for its "
    "version once (a second, short-lived process: the target is not touched) to learn "
    "them, so that collector must be built (`make collectors`), and the offsets are "
    "checked against the target before use.  Reading another process's memory "
    "needs the same user (and a process that is not setuid), or root, or "
    "CAP_SYS_PTRACE; kernel.yama.ptrace_scope 1 (Ubuntu's default) allows only root or "
    "CAP_SYS_PTRACE.\n"
    "\n"
    "--calls records every call of every thread (threads started later too) with the "
    "collector `collect` uses, for CPython 3.14 and 3.15: pyflame-c has the process's main "
    "thread run a start script through PEP 768's remote execution (what sys.remote_exec "
    "does, done from C), records until Ctrl-C, SIGTERM, --duration or the process's exit, "
    "then has it run a stop script that writes the trace and removes the collector: the "
    "program goes on at full speed, its output and exit status unchanged.  The main thread "
    "takes a request at its next bytecode, not while blocked in a C call (sleep, a lock, "
    "I/O): attach waits up to 10 s for it, then gives up without changing anything.  "
    "Functions already running when recording begins are not in the trace; what they call "
    "from then on is, as roots of their thread.  A process with remote debugging disabled (PYTHON_DISABLE_REMOTE_DEBUG, "
    "-X disable-remote-debug, a build --without-remote-debug) is refused, and so is 3.13: "
    "sample those.  The same permissions as sampling, plus writing the process's memory.",
    attach_opts, sizeof attach_opts / sizeof attach_opts[0], "@pid",
    "Examples:\n"
    "\n"
    "  pyflame-c attach --duration 10 -o live.gz 4242\n"
    "  pyflame-c attach --rate 200 --sample-mode cpu -o cpu.gz $(pgrep -f server.py)\n"
    "  pyflame-c attach --calls --duration 5 -o calls.gz 4242\n"
    "  pyflame-c svg live.gz > live.svg",
    pf_cmd_attach,
};

static volatile int stop_now;

static void on_signal(int sig)
{
    (void)sig;
    stop_now++;           /* --calls: a second signal gives up waiting for the detach */
}

/* Ctrl-C and SIGTERM set stop_now; the previous dispositions go to old_*. */
static void catch_stop_signals(struct sigaction *old_int, struct sigaction *old_term)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, old_int);
    sigaction(SIGTERM, &sa, old_term);
}

struct deadline {
    struct timespec end;
    int set;
};

static void check_deadline(void *ctx, pf_sampler *s)
{
    (void)s;
    struct deadline *d = ctx;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (d->set && (now.tv_sec > d->end.tv_sec
                   || (now.tv_sec == d->end.tv_sec && now.tv_nsec >= d->end.tv_nsec)))
        stop_now = 1;
}

/* --calls: checks -o, then runs cli/attach_calls.h with our signal handlers. */
static int attach_calls(pid_t pid, const char *output, double duration, int quiet)
{
    if (output != NULL) {
        /* -o's folder and permissions, before the process is touched (this resets the
         * signal dispositions, so it comes before ours) */
        pf_error err;
        pf_error_clear(&err);
        pf_output *o = pf_output_open(output, &err);
        if (o == NULL) {
            fprintf(stderr, "pyflame-c attach: %s: %s\n", output, err.msg);
            return PF_EXIT_USAGE;
        }
        pf_output_abort(o);
    }
    struct sigaction old_int, old_term;
    catch_stop_signals(&old_int, &old_term);
    int rc = pf_attach_calls(pid, output, duration, quiet, &stop_now);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    return rc;
}

#define MAX_CALLOPS_SCRIPT 65536

/* --native: which opcodes of process pid are calls, asked of its interpreter with
 * pyflame/_callops.py from the collector package (pf_pyoffsets_ask_calls).  0, or -1
 * with err set. */
static int ask_calls(pf_pyoffsets *o, pid_t pid, pf_error *err)
{
    char looked[2048], path[4200];
    char *pkg = pf_cli_package_dir(looked, sizeof looked);
    if (pkg == NULL)
        return pf_error_set(err, PF_EUSAGE, "the pyflame package is not found (looked in %s)",
                            looked);
    snprintf(path, sizeof path, "%s/_callops.py", pkg);
    free(pkg);
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return pf_error_set(err, PF_EUSAGE, "cannot read '%s': %s", path, strerror(errno));
    char *script = malloc(MAX_CALLOPS_SCRIPT);
    size_t n = script ? fread(script, 1, MAX_CALLOPS_SCRIPT - 1, f) : 0;
    int bad = ferror(f) || n == 0;
    fclose(f);
    if (script == NULL || bad) {
        free(script);
        return pf_error_set(err, PF_EUSAGE, "cannot read '%s'", path);
    }
    script[n] = 0;
    int rc = pf_pyoffsets_ask_calls(o, pid, script, err);
    free(script);
    return rc;
}

int pf_cmd_attach(int argc, char **argv)
{
    const char *output = "trace.gz";    /* NULL: standard output (-o -) */
    const char *pid_arg = NULL;
    double duration = 0;
    unsigned long hz = PF_SAMPLER_DEFAULT_HZ;
    int mode = PF_SAMPLE_WALL, quiet = 0, calls = 0, sampling_opt = 0, native = 0;
    static const char *const modes[] = { "wall", "cpu", "gil" };
    pf_opts p;
    pf_opts_init(&p, "attach", attach_opts, sizeof attach_opts / sizeof attach_opts[0], argc,
                 argv);
    for (int id; (id = pf_opts_next(&p)) != PF_OPTS_END;) {
        switch (id) {
        case PF_OPTS_ERROR:
            return PF_EXIT_USAGE;
        case PF_OPTS_ARG:
            if (pid_arg != NULL)
                return pf_opts_usage_error(&p, "one PID only");
            pid_arg = p.value;
            break;
        case OPT_HELP:
            pf_help_print(&pf_attach_command, stdout);
            return PF_EXIT_OK;
        case OPT_OUTPUT:
            if (pf_cli_parse_output(&p, &output) < 0)
                return PF_EXIT_USAGE;
            break;
        case OPT_QUIET: quiet = 1; break;
        case OPT_CALLS: calls = 1; break;
        case OPT_NATIVE:
            native = 1;
            sampling_opt = 1;
            break;
        case OPT_DURATION:
            if (pf_opts_double(&p, "a number of seconds", 0.0, 1e7, &duration) < 0)
                return PF_EXIT_USAGE;
            break;
        case OPT_RATE:
            if (pf_opts_uint(&p, "a rate in Hz", PF_SAMPLER_MAX_HZ, &hz) < 0)
                return PF_EXIT_USAGE;
            if (hz == 0)
                return pf_opts_usage_error(&p, "--rate wants 1 to %d Hz", PF_SAMPLER_MAX_HZ);
            sampling_opt = 1;
            break;
        case OPT_MODE:
            if ((mode = pf_opts_choice(&p, "sample mode", modes, 3)) < 0)
                return PF_EXIT_USAGE;
            sampling_opt = 1;
            break;
        }
    }
    if (pid_arg == NULL)
        return pf_opts_usage_error(&p, "no PID given");
    if (calls && sampling_opt)
        return pf_opts_usage_error(&p, "--rate and --sample-mode are for sampling (--native "
                                   "too); --calls records every call");
    char *end = NULL;
    long pid = strtol(pid_arg, &end, 10);
    if (end == pid_arg || *end != 0 || pid <= 0 || pid > 4194304)
        return pf_opts_usage_error(&p, "'%s' is not a process id", pid_arg);
    if (output == NULL && isatty(STDOUT_FILENO)) {
        fputs("pyflame-c attach: refusing to write a binary trace to a terminal;\n"
              "use -o FILE or redirect standard output.\n", stderr);
        return PF_EXIT_USAGE;
    }
    if (kill((pid_t)pid, 0) < 0 && errno == ESRCH) {
        fprintf(stderr, "pyflame-c attach: no process %ld\n", pid);
        return PF_EXIT_FAIL;
    }

    pf_error err;
    pf_error_clear(&err);
    if (calls)
        return attach_calls((pid_t)pid, output, duration, quiet);
    pf_sampler *s = NULL;
    pf_trace *t = NULL;
    char file[4096] = "";
    uint64_t runtime = pf_procmem_symbol((pid_t)pid, "python", "_PyRuntime", file, sizeof file,
                                         &err);
    if (runtime == 0) {
        if (err.code == PF_EPARSE)
            pf_error_set(&err, PF_EUSAGE, "process %ld does not look like CPython: no "
                         "_PyRuntime symbol in the files it has mapped whose name contains "
                         "'python'", pid);
        goto fail;
    }
    pf_pyoffsets o;
    if (pf_pyoffsets_for_process(&o, (pid_t)pid, runtime, &err) < 0)
        goto fail;
    pf_error tmp;
    o.code_type = pf_procmem_symbol((pid_t)pid, "python", "PyCode_Type", NULL, 0, &tmp);
    if (native && ask_calls(&o, (pid_t)pid, &tmp) < 0)
        fprintf(stderr, "pyflame-c attach: warning: no <native> frames: %s\n", tmp.msg);
    if ((t = pf_sampler_proc_trace((pid_t)pid, o.version_hex, &err)) == NULL)
        goto fail;
    s = pf_sampler_new((unsigned)hz, (enum pf_sample_mode)mode);
    if (s != NULL)
        pf_sampler_set_native(s, native);
    if (s == NULL || pf_sampler_add(s, NULL, (pid_t)pid, &o, &err) < 0) {
        if (s == NULL)
            pf_error_set(&err, PF_ENOMEM, NULL);
        goto fail;
    }
    struct sigaction old_int, old_term;
    catch_stop_signals(&old_int, &old_term);
    struct deadline dl = { { 0, 0 }, duration > 0 };
    if (dl.set) {
        clock_gettime(CLOCK_MONOTONIC, &dl.end);
        double whole = (double)(time_t)duration;
        dl.end.tv_sec += (time_t)duration;
        dl.end.tv_nsec += (long)((duration - whole) * 1e9);
        if (dl.end.tv_nsec >= 1000000000) {
            dl.end.tv_sec++;
            dl.end.tv_nsec -= 1000000000;
        }
    }
    if (!quiet)
        fprintf(stderr, "pyflame-c: sampling process %ld (Python %u.%u, %s) at %lu Hz%s\n", pid,
                o.version_hex >> 24 & 0xff, o.version_hex >> 16 & 0xff, file, hz,
                dl.set ? "" : "; Ctrl-C to stop");
    pf_sampler_run(s, &stop_now, 1, check_deadline, &dl);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    if (pf_sampler_denied(s)) {
        pf_procmem_explain_denied((pid_t)pid, &err);
        goto fail;
    }
    pf_cli_progress_start("attach");      /* writing the trace */
    if (pf_sampler_emit_first(s, t, &err) < 0 ||
        pf_trace_write(t, output ? output : "-", &err) < 0)
        goto fail;
    if (!quiet) {
        struct stat st;
        char sz[PF_UNITS_BUFSZ], smp[256];
        pf_units_bytes(sz, sizeof sz,
                       output && stat(output, &st) == 0 ? (uint64_t)st.st_size : 0, 0);
        pf_trace_sample_describe(t, smp, sizeof smp);
        pf_sampler_stats st2;
        pf_sampler_get_stats(s, &st2);
        uint64_t n = st2.samples + st2.lost;
        if (output)
            fprintf(stderr, "pyflame-c: wrote %s (%s, %s; sampler CPU %.1f us per stack)\n",
                    output, sz, smp, n ? (double)st2.cpu_ns / 1e3 / (double)n : 0.0);
        else
            fprintf(stderr, "pyflame-c: wrote the trace to standard output (%s; sampler CPU "
                    "%.1f us per stack)\n", smp, n ? (double)st2.cpu_ns / 1e3 / (double)n : 0.0);
    }
    pf_trace_free(t);
    pf_sampler_free(s);
    return PF_EXIT_OK;
fail:
    fprintf(stderr, "pyflame-c attach: %s\n", err.msg[0] ? err.msg : pf_error_text(err.code));
    pf_trace_free(t);
    pf_sampler_free(s);
    return PF_EXIT_FAIL;
}
