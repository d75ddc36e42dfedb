/* collect.c: `pyflame-c collect`: runs a Python program under the collector.
 *
 * The CLI parses its own options, checks that the trace can be written, and runs the
 * interpreter as its child (see "running the program" below):
 *     PY -c BOOTSTRAP PKGDIR SESSION FLAGS PYNAME TARGET ARGS...
 * BOOTSTRAP loads the pyflame package from PKGDIR by absolute path (sys.path is not
 * touched) and hands over to pyflame/_runner.py, which removes these extra arguments,
 * sets up sys.argv, sys.path[0] and __main__ as python3 would and records the program;
 * each process of the program writes its own trace into the SESSION folder, and when
 * the program has ended the CLI merges them into the output (cli/collect_session.c).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli/collect_sample.h"
#include "cli/collect_session.h"
#include "cli/commands.h"
#include "cli/help.h"
#include "cli/opts.h"
#include "cli/paths.h"
#include "cli/progress.h"
#include "formats/budget.h"
#include "formats/output.h"

/* collect's exit status when the program succeeded but no trace could be written
 * (e.g. the disk filled up): EX_IOERR of sysexits.h. */
#define PF_COLLECT_NO_TRACE 74

/* Kept valid for Python 2 syntax too, so that a too-old --python still gets our
 * message instead of a SyntaxError. */
static const char bootstrap[] =
    "import sys\n"
    "try:\n"
    "    import importlib.util as _u\n"
    "    _d = sys.argv[1]\n"
    "    _s = _u.spec_from_file_location('pyflame', _d + '/__init__.py',"
    " submodule_search_locations=[_d])\n"
    "    _m = _u.module_from_spec(_s)\n"
    "    sys.modules['pyflame'] = _m\n"
    "    _s.loader.exec_module(_m)\n"
    "    from pyflame._runner import main as _main\n"
    "except ImportError as _e:\n"
    "    sys.modules.pop('pyflame', None)\n"
    "    sys.stderr.write('pyflame-c: no collector built for Python %d.%d (%s): %s\\n'\n"
    "        'Build it with `make collectors` (every interpreter) or'\n"
    "        ' `make collector PYTHON=%s` in the pyflame-c source tree.\\n'\n"
    "        % (sys.version_info[0], sys.version_info[1], sys.executable, _e, sys.executable))\n"
    "    sys.exit(2)\n"
    "_main()\n";

enum { OPT_OUTPUT = 1, OPT_PYTHON, OPT_MODULE, OPT_QUIET, OPT_LINES, OPT_MEMORY,
       OPT_INCLUDE, OPT_EXCLUDE, OPT_MEMORY_LIMIT, OPT_FLOOR, OPT_NO_FOLLOW, OPT_SNAPSHOT,
       OPT_CLOCK, OPT_SAMPLE, OPT_SAMPLE_MODE, OPT_NATIVE, OPT_HELP };

static const pf_opt collect_opts[] = {
    { "output", 'o', PF_OPT_VALUE, OPT_OUTPUT, "FILE", "@file",
      "trace file to write (default: trace.gz)" },
    { "python", 0, PF_OPT_VALUE, OPT_PYTHON, "PY", "@command",
      "interpreter to run (default: $PYFLAME_PYTHON, else python3): CPython 3.8-3.15 "
      "with a collector built (make collectors)" },
    { "module", 'm', PF_OPT_VALUE, OPT_MODULE, "MODULE", NULL,
      "run a library module as a script, like python3 -m; what follows is the module's "
      "arguments" },
    { "quiet", 'q', PF_OPT_FLAG, OPT_QUIET, NULL, NULL,
      "do not print the summary line" },
    { "no-follow", 0, PF_OPT_FLAG, OPT_NO_FOLLOW, NULL, NULL,
      "record only the program's own process, not its children (by default: os.fork(), "
      "multiprocessing and concurrent.futures with every start method, and "
      "sys.executable started by subprocess, os.exec*, os.posix_spawn)" },
    { "snapshot", 0, PF_OPT_VALUE, OPT_SNAPSHOT, "SECONDS", NULL,
      "how often each process saves what it recorded, for the case it is killed "
      "(default 1; 0: never).  Stretched so that snapshots take at most ~2% of the run" },
    { "clock", 0, PF_OPT_VALUE, OPT_CLOCK, "wall|cpu", "wall cpu",
      "what a call's time is (default wall): wall time, which counts a thread's waits "
      "(locks, the GIL, I/O, sleep) in the function that waits; or cpu, each thread's "
      "CPU time (CLOCK_THREAD_CPUTIME_ID), where waits count for ~0 and the functions "
      "doing the work rank first.  cpu reads a system call per event: slower.  The "
      "outputs say which" },
    { "memory-limit", 0, PF_OPT_VALUE, OPT_MEMORY_LIMIT, "SIZE", NULL,
      "memory the collector itself may use in each process, as bytes or with a unit "
      "(64M, 1G; default 0 = no limit); past it, recording stops and the trace says "
      "so.  Below what the collector needs to start (about 100 KB, 400 KB with "
      "--memory) it is refused" },
    { "help", 'h', PF_OPT_FLAG, OPT_HELP, NULL, NULL, "show this help" },
    { NULL, 0, PF_OPT_FLAG, 0, NULL, NULL, "Line profiling" },
    { "lines", 0, PF_OPT_FLAG, OPT_LINES, NULL, NULL,
      "also record, for every line of the program's own code that runs: hits, "
      "inclusive time (line start to the next line in the same frame, or its return) "
      "and self time (minus calls made from the line).  Own code: files under the "
      "script's folder, or with -m the top package's folder (installed or not), minus "
      "site-packages folders below it.  The source of those files goes into the trace; "
      "when none matches, collect says so at the end.  See: pyflame-c html, pyflame-c "
      "convert -f lines" },
    { "include", 0, PF_OPT_VALUE, OPT_INCLUDE, "GLOB", NULL,
      "with --lines: record files whose absolute name matches GLOB (fnmatch; "
      "repeatable) instead of the program's folder" },
    { "exclude", 0, PF_OPT_VALUE, OPT_EXCLUDE, "GLOB", NULL,
      "with --lines: do not record files matching GLOB (repeatable)" },
    { NULL, 0, PF_OPT_FLAG, 0, NULL, NULL, "Memory profiling" },
    { "memory", 0, PF_OPT_OPTIONAL, OPT_MEMORY, "all|python", "all python",
      "also record every byte the program allocates, Python or native: CPython's "
      "allocators (all three domains, as tracemalloc does) and the malloc, calloc, "
      "realloc, posix_memalign, aligned_alloc, free, anonymous mmap and munmap calls of "
      "C extensions and libraries (numpy arrays, compression buffers...) and the "
      "buffers they report to tracemalloc, each once.  Per function (self) and per "
      "line of the program's own code (inclusive, like time): bytes and blocks "
      "allocated, bytes freed, bytes live at the run's peak (and how much of the peak "
      "was native) and bytes still live at exit.  Implies --lines.  Bytes are as "
      "requested from the allocator (tracemalloc's unit; whole pages for mmap); the "
      "collector's own memory is not counted.  See: convert -f lines, svg --metric "
      "peak-bytes, html\n"
      "--memory=python: CPython's allocators only, as tracemalloc sees them: what C "
      "code allocates itself is not counted (cheaper; the numbers of pyflame-c before "
      "native tracking).  --memory=all is --memory" },
    { NULL, 0, PF_OPT_FLAG, 0, NULL, NULL, "Statistical profiling" },
    { "sample", 0, PF_OPT_OPTIONAL, OPT_SAMPLE, "HZ", NULL,
      "instead of recording every call, sample every thread's Python stack HZ times a "
      "second (default 1000, up to 20000) from outside the program, which runs at full "
      "speed (process_vm_readv; any CPython 3.8-3.15; children followed as without it).  "
      "Samples add up per calling context and per line (the trace stays small however "
      "long the run); times are samples x 1/HZ.  A C function in progress counts for the "
      "Python frame that called it (with --native, under a <native> frame).  The summary says how many samples were taken and "
      "lost.  Does not go with --lines, --memory or --clock.  See also: pyflame-c attach "
      "PID (a process not started under pyflame-c)" },
    { "sample-mode", 0, PF_OPT_VALUE, OPT_SAMPLE_MODE, "wall|cpu|gil", "wall cpu gil",
      "which samples count (implies --sample): wall (default), every thread at every "
      "tick; cpu, threads as they use a CPU (a thread's samples add up to its CPU time, "
      "from /proc/PID/task/TID/schedstat; waits count nothing); gil, only the thread "
      "holding the GIL" },
    { "native", 0, PF_OPT_FLAG, OPT_NATIVE, NULL, NULL,
      "(implies --sample) a sample taken while a C function runs (a builtin, a C method, "
      "a C extension's function: time.sleep, sorted, hashlib, numpy...) gets one more "
      "innermost frame, "
      "<native>, under the Python frame that called it: time in C stands apart from the "
      "Python code around it.  The C function is not named.  Told from the calling "
      "frame's instruction (a call, with no Python frame above it), whose opcode numbers "
      "each process's interpreter gives (specialised forms included)" },
    { NULL, 0, PF_OPT_FLAG, 0, NULL, NULL, "Benchmarking" },
    { "floor", 0, PF_OPT_FLAG, OPT_FLOOR, NULL, NULL,
      "install do-nothing hooks and record nothing: what any profiler's hooks cost "
      "this program, the floor the benchmarks (bench/) compare collect with" },
};

const pf_command pf_collect_command = {
    "collect",
    "run a Python program under the collector, write a trace",
    "pyflame-c collect [options] script.py [args...]\n"
    "pyflame-c collect [options] -m module [args...]",
    "Run a Python program and record every Python and C call of every thread, in it "
    "and in every Python process it starts, into one trace (calls, self and inclusive "
    "times per calling context, one root per process); or, with --sample, sample "
    "their stacks from outside while the program runs at full speed.  The program runs "
    "as under "
    "plain python3: same sys.argv, sys.path[0], stdin/stdout/stderr, signal "
    "dispositions, recursion depth and exit status.  The trace is written when the "
    "program ends, however it ends: a process killed (SIGKILL, a crash, the OOM "
    "killer) leaves what it had recorded up to its last snapshot, and the trace says "
    "so.  A line on stderr says where it went.  collect exits with the program's "
    "status (or dies of its signal); 74 when the program succeeded but no trace could "
    "be written.\n"
    "\n"
    "Options come before the script or -m; what follows belongs to the program.",
    collect_opts, sizeof collect_opts / sizeof collect_opts[0], "@program",
    "A function decorated with @profile gets line data even without --lines: the "
    "collector puts a `profile` decorator into builtins (unless the name exists), so "
    "scripts written for `kernprof -l` run unmodified.\n"
    "\n"
    "Examples:\n"
    "\n"
    "  pyflame-c collect -o trace.gz app.py --port 8080\n"
    "  pyflame-c collect --memory -o mem.gz -m mypkg.tool input.txt\n"
    "  pyflame-c collect --sample=5000 --sample-mode cpu -o sampled.gz app.py\n"
    "  pyflame-c svg trace.gz > flame.svg\n"
    "  pyflame-c convert -f pstats -o app.prof trace.gz",
    pf_cmd_collect,
};

/* True when python can be taken for a supported CPython without asking it: its name
 * says so (python3, python3.12, ...; the bootstrap then names a wrong version itself).
 * Anything else (a wrapper, or perl by mistake) is asked once, quietly, so that a
 * foreign interpreter gets our one-line message instead of choking on the bootstrap. */
static int is_supported_python(const char *python)
{
    const char *base = strrchr(python, '/');
    base = base ? base + 1 : python;
    if (strncmp(base, "python", 6) == 0)
        return 1;
    pid_t pid = fork();
    if (pid < 0)
        return 1;                     /* cannot ask: let the exec speak */
    if (pid == 0) {
        int null = open("/dev/null", O_RDWR);
        if (null >= 0) {
            dup2(null, STDIN_FILENO);
            dup2(null, STDOUT_FILENO);
            dup2(null, STDERR_FILENO);
        }
        execlp(python, python, "-c",
               "import sys; sys.exit(0 if sys.implementation.name == 'cpython' and "
               "(3, 8) <= sys.version_info[:2] <= (3, 15) else 3)", (char *)NULL);
        _exit(errno == ENOENT ? 127 : 126);
    }
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            return 1;
    /* 126/127: it could not be run at all; the exec below says why. */
    return WIFEXITED(st) && (WEXITSTATUS(st) == 0 || WEXITSTATUS(st) >= 126);
}

/* ---- running the program ----
 * collect stays the program's parent, so that it can merge the traces of every process
 * once the program has ended, however it ended.  Everything else stays as under plain
 * python3: the program inherits our stdin/stdout/stderr, signal dispositions (ignored
 * ones stay ignored), signal mask and process group (so the terminal's Ctrl-C and Ctrl-Z
 * reach it directly), and collect ends the way the program did: its exit status, or
 * death by the same signal.  A signal someone sends collect itself with kill() (a
 * supervisor that knows only our pid) is passed on to the program. */

static volatile pid_t program_pid;

/* The signals that are passed on, when they reach us from kill() rather than from the
 * terminal (which sends them to the whole process group, the program included). */
static const int forwarded[] = { SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2, SIGALRM };
#define NFORWARDED (sizeof forwarded / sizeof forwarded[0])

static void forward(int sig, siginfo_t *info, void *uc)
{
    (void)uc;
    pid_t pid = program_pid;
    if (pid <= 0 || info->si_pid == pid)
        return;
    if (info->si_code == SI_USER || info->si_code == SI_QUEUE || info->si_code == SI_TKILL)
        kill(pid, sig);
}

/* Installs forward() for every forwarded signal that is not ignored; saved gets the old
 * dispositions. */
static void forward_signals(struct sigaction *saved)
{
    for (size_t i = 0; i < NFORWARDED; i++) {
        sigaction(forwarded[i], NULL, &saved[i]);
        if (!(saved[i].sa_flags & SA_SIGINFO) && saved[i].sa_handler == SIG_IGN)
            continue;               /* ignored (nohup, a background job): the program inherits that */
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_sigaction = forward;
        sa.sa_flags = SA_SIGINFO | SA_RESTART;
        sigemptyset(&sa.sa_mask);
        sigaction(forwarded[i], &sa, NULL);
    }
}

static void restore_signals(const struct sigaction *saved)
{
    for (size_t i = 0; i < NFORWARDED; i++)
        sigaction(forwarded[i], &saved[i], NULL);
}

/* Runs args and waits for it: 0 with *end filled, or -1 (*exec_errno set when the
 * interpreter could not be executed, else errno says why the fork failed). */
static int run_program(const char *python, char **args, pf_collect_end *end, int *exec_errno)
{
    int pipefd[2];                   /* the child reports a failed exec through it */
    if (pipe2(pipefd, O_CLOEXEC) < 0)
        return -1;
    struct sigaction saved[NFORWARDED];
    forward_signals(saved);
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        restore_signals(saved);
        close(pipefd[0]);
        close(pipefd[1]);
        errno = e;
        return -1;
    }
    if (pid == 0) {
        restore_signals(saved);      /* exec would reset our handlers anyway; be exact */
        close(pipefd[0]);
        execvp(python, args);
        int e = errno;
        ssize_t w = write(pipefd[1], &e, sizeof e);
        (void)w;
        _exit(127);
    }
    program_pid = pid;
    close(pipefd[1]);
    int e = 0;
    ssize_t r;
    while ((r = read(pipefd[0], &e, sizeof e)) < 0 && errno == EINTR)
        ;
    close(pipefd[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            status = 0;
            break;
        }
    }
    program_pid = 0;
    restore_signals(saved);
    if (r == (ssize_t)sizeof e) {
        *exec_errno = e;
        return -1;
    }
    end->pid = pid;
    end->status = status;
    return 0;
}

/* Ends collect by sig, as the program ended (the shell then says "Killed",
 * "Segmentation fault", ...), without a core file of our own. */
static void die_like(int sig)
{
    struct rlimit no_core = { 0, 0 };
    setrlimit(RLIMIT_CORE, &no_core);
    fflush(stderr);
    signal(sig, SIG_DFL);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, sig);
    sigprocmask(SIG_UNBLOCK, &set, NULL);
    raise(sig);
}

/* Appends glob to the newline-separated *list.  0, or -1 when out of memory. */
static int add_glob(char **list, const char *glob)
{
    size_t old = *list ? strlen(*list) : 0;
    char *n = realloc(*list, old + strlen(glob) + 2);
    if (n == NULL)
        return -1;
    if (old)
        n[old++] = '\n';
    strcpy(n + old, glob);
    *list = n;
    return 0;
}

int pf_cmd_collect(int argc, char **argv)
{
    const char *output = "trace.gz";
    const char *python = NULL;
    const char *module = NULL;
    char limit[32] = "0";
    const char *script = NULL;
    const char *snapshot = "1";
    const char *clock = "wall";
    int quiet = 0, floor = 0, lines = 0, memory = 0, native = 0, follow = 1, output_given = 0;
    unsigned long sample_hz = 0;     /* 0: every call is recorded (no --sample) */
    int sample_mode = -1, sample_native = 0;
    static const char *const sample_modes[] = { "wall", "cpu", "gil" };
    pf_collect_sampling *sampling = NULL;
    static const char *const memory_modes[] = { "all", "python" };
    char *include = NULL, *exclude = NULL;   /* newline-separated globs */
    char *session = NULL;                    /* the run's folder of per-process traces */
    char **args = NULL;
    double seconds;
    uint64_t bytes;
    pf_opts p;
    pf_opts_init(&p, "collect", collect_opts, sizeof collect_opts / sizeof collect_opts[0],
                 argc, argv);
    p.stop_at_arg = 1;    /* like python3: what follows the script is the program's */
    int id;
    while (module == NULL && script == NULL && (id = pf_opts_next(&p)) != PF_OPTS_END) {
        switch (id) {
        case PF_OPTS_ERROR:
            return 2;
        case PF_OPTS_ARG:
            script = p.value;
            break;
        case OPT_HELP:
            pf_help_print(&pf_collect_command, stdout);
            return 0;
        case OPT_QUIET: quiet = 1; break;
        case OPT_LINES: lines = 1; break;
        case OPT_MEMORY:             /* --memory[=all|python] */
            memory = 1;
            native = 1;
            if (p.value != NULL) {
                int m = pf_opts_choice(&p, "memory mode", memory_modes, 2);
                if (m < 0)
                    return 2;
                native = m == 0;
            }
            break;
        case OPT_FLOOR: floor = 1; break;
        case OPT_INCLUDE:
        case OPT_EXCLUDE:
            if (add_glob(id == OPT_INCLUDE ? &include : &exclude, p.value) < 0) {
                fprintf(stderr, "pyflame-c collect: out of memory\n");
                return 1;
            }
            break;
        case OPT_OUTPUT: output = p.value; output_given = 1; break;
        case OPT_NO_FOLLOW: follow = 0; break;
        case OPT_SNAPSHOT:
            /* 0 turns snapshots off; a day is plenty as an upper bound */
            if (strcmp(p.value, "0") != 0
                && pf_opts_double(&p, "a number of seconds", 0.0, 86400.0, &seconds) < 0)
                return 2;
            snapshot = p.value;
            break;
        case OPT_CLOCK:
            if (strcmp(p.value, "wall") != 0 && strcmp(p.value, "cpu") != 0) {
                pf_opts_usage_error(&p, "--clock wants wall or cpu, not '%s'", p.value);
                return 2;
            }
            clock = p.value;
            break;
        case OPT_SAMPLE:             /* --sample[=HZ] */
            sample_hz = PF_SAMPLER_DEFAULT_HZ;
            if (p.value != NULL
                && (pf_opts_uint(&p, "a rate in Hz", PF_SAMPLER_MAX_HZ, &sample_hz) < 0
                    || sample_hz == 0)) {
                if (sample_hz == 0)
                    pf_opts_usage_error(&p, "--sample wants a rate of 1 to %d Hz",
                                        PF_SAMPLER_MAX_HZ);
                return 2;
            }
            break;
        case OPT_SAMPLE_MODE:
            if ((sample_mode = pf_opts_choice(&p, "sample mode", sample_modes, 3)) < 0)
                return 2;
            break;
        case OPT_NATIVE: sample_native = 1; break;
        case OPT_PYTHON: python = p.value; break;
        case OPT_MEMORY_LIMIT:   /* a size, as --max-memory's; 0 = no limit, as everywhere */
            if (pf_budget_parse(p.value, &bytes) < 0) {
                pf_opts_usage_error(&p, "--memory-limit wants a size such as 64M or 1G "
                                    "(0 = no limit), not '%s'", p.value);
                return 2;
            }
            snprintf(limit, sizeof limit, "%llu", (unsigned long long)bytes);
            break;
        case OPT_MODULE: module = p.value; break;   /* what follows is the module's */
        }
    }
    int i = p.next;
    if (module == NULL && script == NULL) {
        fprintf(stderr, "pyflame-c collect: no program given (a script, or -m module)\n");
        goto usage_error;
    }
    if (*output == 0) {
        fprintf(stderr, "pyflame-c collect: the output file name is empty\n");
        goto usage_error;
    }
    if ((sample_mode >= 0 || sample_native) && sample_hz == 0)
        sample_hz = PF_SAMPLER_DEFAULT_HZ;    /* --sample-mode, --native imply --sample */
    if (sample_hz != 0 && (lines || memory || floor || strcmp(clock, "wall") != 0)) {
        fprintf(stderr, "pyflame-c collect: --sample records samples, not events: it does "
                "not go with --lines, --memory or --clock (use --sample-mode cpu for CPU time)\n");
        goto usage_error;
    }
    const char *target = module != NULL ? module : script;
    if (module == NULL) {
        struct stat st;
        if (stat(target, &st) != 0) {
            fprintf(stderr, "pyflame-c collect: cannot open '%s': %s\n", target, strerror(errno));
            return 2;
        }
        if (S_ISDIR(st.st_mode)) {
            fprintf(stderr, "pyflame-c collect: '%s' is a directory, not a script\n", target);
            return 2;
        }
    }
    if (python == NULL || *python == 0)
        python = getenv("PYFLAME_PYTHON");
    if (python == NULL || *python == 0)
        python = "python3";

    if (!is_supported_python(python)) {
        fprintf(stderr, "pyflame-c collect: '%s' is not a supported Python interpreter "
                        "(pyflame-c runs under CPython 3.8-3.15)\n", python);
        return 2;
    }

    char looked[2048];
    char *pkg = pf_cli_package_dir(looked, sizeof looked);
    if (pkg == NULL) {
        fprintf(stderr, "pyflame-c collect: cannot find the pyflame collector package (looked in %s); "
                        "build it with `make collectors`\n", looked);
        return 2;
    }
    char *out = pf_cli_absolute(output);
    if (out == NULL) {
        fprintf(stderr, "pyflame-c collect: cannot resolve '%s': %s\n", output, strerror(errno));
        free(pkg);
        return 2;
    }
    /* Refuse now an output that cannot be written, rather than after a long run: try
     * the very temporary file the trace writer will make beside it. */
    struct stat ost;
    if (stat(out, &ost) == 0 && S_ISDIR(ost.st_mode)) {
        fprintf(stderr, "pyflame-c collect: '%s' is a directory; give the trace a file name, "
                "e.g. -o %s/trace.gz\n", output, output);
        goto fail2;
    }
    pf_error err;
    pf_error_clear(&err);
    pf_output *probe = pf_output_open_flags(out, PF_OUTPUT_NO_SIGNALS, &err);
    if (probe == NULL) {
        if (output_given)
            fprintf(stderr, "pyflame-c collect: cannot write the trace to '%s': %s "
                    "(choose another place with -o FILE)\n", output, err.msg);
        else
            fprintf(stderr, "pyflame-c collect: cannot write the trace in the current folder "
                    "('%s'): %s (write it elsewhere with -o FILE)\n", output, err.msg);
        goto fail2;
    }
    pf_output_abort(probe);

    char flags[320];
    /* per-line memory needs the line that runs: --memory records lines too */
    int nflags = snprintf(flags, sizeof flags, "quiet=%d,module=%d,floor=%d,lines=%d,memory=%d,native=%d,"
             "limit=%s,follow=%d,snapshot=%s,clock=%s,sample=%d,sample_native=%d", quiet,
             module != NULL, floor, lines || memory, memory, native, limit, follow, snapshot,
             clock, sample_hz != 0, sample_native);
    if (nflags < 0 || (size_t)nflags >= sizeof flags) {   /* a --snapshot of many digits */
        fprintf(stderr, "pyflame-c collect: --snapshot '%s' is too long\n", snapshot);
        goto fail2;
    }
    /* globs may hold commas: they travel in the environment (the runner removes them) */
    if (setenv("PYFLAME_C_INCLUDE", include ? include : "", 1) < 0
        || setenv("PYFLAME_C_EXCLUDE", exclude ? exclude : "", 1) < 0) {
        fprintf(stderr, "pyflame-c collect: out of memory\n");
        goto fail1;
    }
    free(include);
    free(exclude);
    include = exclude = NULL;
    session = pf_collect_session_new();
    if (session == NULL)
        goto fail1;
    int nargs = argc - i;
    args = calloc((size_t)nargs + 10, sizeof(char *));
    if (args == NULL) {
        fprintf(stderr, "pyflame-c collect: out of memory\n");
        goto fail1;
    }
    int k = 0;
    args[k++] = (char *)python;
    args[k++] = "-c";
    args[k++] = (char *)bootstrap;
    args[k++] = pkg;
    args[k++] = session;
    args[k++] = flags;
    args[k++] = (char *)python;
    args[k++] = (char *)target;
    for (int j = 0; j < nargs; j++)
        args[k++] = argv[i + j];
    args[k] = NULL;

    pf_collect_end end;
    int exec_errno = 0;
    if (sample_hz != 0) {
        sampling = pf_collect_sampling_start(session, pkg, (unsigned)sample_hz,
                                             sample_mode < 0 ? PF_SAMPLE_WALL
                                                             : (enum pf_sample_mode)sample_mode,
                                             sample_native);
        if (sampling == NULL)
            goto fail1;
    }
    int ran = run_program(python, args, &end, &exec_errno);
    if (sampling != NULL)
        pf_collect_sampling_stop(sampling);
    if (ran < 0) {
        pf_collect_sampling_free(sampling);
        if (exec_errno != 0)
            fprintf(stderr, "pyflame-c collect: cannot run the Python interpreter '%s': %s "
                    "(choose one with --python or $PYFLAME_PYTHON)\n", python,
                    strerror(exec_errno));
        else
            fprintf(stderr, "pyflame-c collect: cannot start the program: %s\n", strerror(errno));
        rmdir(session);
        goto fail2;
    }
    pf_cli_progress_start("collect");     /* reading the processes' traces, writing ours */
    int wrote = pf_collect_session_finish(session, out, output, &end, quiet) == 0;
    if (sampling != NULL && !quiet)
        pf_collect_sampling_report(sampling);
    pf_collect_sampling_free(sampling);
    free(args);
    free(pkg);
    free(out);
    free(session);
    if (WIFSIGNALED(end.status))
        die_like(WTERMSIG(end.status));
    int code = WIFEXITED(end.status) ? WEXITSTATUS(end.status) : 1;
    /* the program succeeded but its profile is lost: say so in the status too */
    return code == 0 && !wrote ? PF_COLLECT_NO_TRACE : code;

fail1:
    free(args);
    free(pkg);
    free(out);
    free(include);
    free(exclude);
    if (session != NULL)
        rmdir(session);
    free(session);
    return 1;
fail2:
    free(args);
    free(pkg);
    free(out);
    free(include);
    free(exclude);
    free(session);
    return 2;

usage_error:
    fprintf(stderr, "Run 'pyflame-c collect --help' for usage.\n");
    return 2;
}
