/* collect.c: `pyflame-c collect`: runs a Python program under the collector.
 *
 * The CLI only parses its own options and then becomes the interpreter (execvp), so the
 * program keeps our pid, stdin/stdout/stderr, signals and exit status:
 *     PY -c BOOTSTRAP PKGDIR OUT DISPLAY FLAGS PYNAME TARGET ARGS...
 * BOOTSTRAP loads the pyflame package from PKGDIR by absolute path (sys.path is not
 * touched) and hands over to pyflame/_runner.py, which removes these extra arguments,
 * sets up sys.argv, sys.path[0] and __main__ as python3 would, records the program and
 * writes the trace when it ends.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli/commands.h"
#include "cli/opts.h"
#include "cli/paths.h"

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

static void usage(FILE *out)
{
    fprintf(out,
            "usage: pyflame-c collect [-o FILE] [--python PY] [--quiet] script.py [args...]\n"
            "       pyflame-c collect [-o FILE] [--python PY] [--quiet] -m module [args...]\n"
            "\n"
            "Run a Python program and record every Python and C call of every thread into a\n"
            "trace (calls, self and inclusive times per calling context).  The program runs\n"
            "as under plain python3: same sys.argv, sys.path[0], stdin/stdout/stderr and exit\n"
            "status.  The trace is written when the program ends (also on an uncaught\n"
            "exception, SIGINT, SIGTERM and os._exit()); a line on stderr says where.\n"
            "\n"
            "Options (before the script or -m):\n"
            "  -o, --output FILE   trace file to write (default: trace.gz)\n"
            "  --python PY         interpreter to run (default: $PYFLAME_PYTHON, else python3):\n"
            "                      CPython 3.8-3.15 with a collector built (make collectors)\n"
            "  -q, --quiet         do not print the summary line\n"
            "  -m MODULE           run a library module as a script, like python3 -m\n"
            "  -h, --help          show this help\n"
            "\n"
            "Line profiling:\n"
            "  --lines             also record, for every line of the program's own code that\n"
            "                      runs: hits, inclusive time (line start to the next line in\n"
            "                      the same frame, or its return) and self time (minus calls\n"
            "                      made from the line).  Own code: files under the script's\n"
            "                      folder, or with -m the top package's folder (installed\n"
            "                      or not), minus site-packages folders below it.  The\n"
            "                      source of those files goes into the trace; when none\n"
            "                      matches, collect says so at the end.\n"
            "                      See: pyflame-c html, pyflame-c convert -f lines\n"
            "  --include GLOB      with --lines: record files whose absolute name matches GLOB\n"
            "                      (fnmatch; repeatable) instead of the program's folder\n"
            "  --exclude GLOB      with --lines: do not record files matching GLOB (repeatable)\n"
            "  A function decorated with @profile gets line data even without --lines: the\n"
            "  collector puts a `profile` decorator into builtins (unless the name exists), so\n"
            "  scripts written for `kernprof -l` run unmodified.\n"
            "\n"
            "Memory profiling:\n"
            "  --memory            also hook CPython's allocators (all three domains, as\n"
            "                      tracemalloc does) and record per function (self) and per\n"
            "                      line of the program's own code (inclusive, like time):\n"
            "                      bytes and blocks allocated, bytes freed, bytes live at the\n"
            "                      run's peak and bytes still live at exit.  Implies --lines.\n"
            "                      Bytes are as requested from the allocator (tracemalloc's\n"
            "                      unit); the collector's own memory is not counted.\n"
            "                      See: convert -f lines, svg --metric peak-bytes, html\n"
            "\n"
            "A forked child stops recording (the parent's trace is not affected).\n"
            "Then: pyflame-c svg trace.gz > flame.svg, or pyflame-c convert -f pstats trace.gz\n");
}

enum { OPT_OUTPUT = 1, OPT_PYTHON, OPT_MODULE, OPT_QUIET, OPT_LINES, OPT_MEMORY,
       OPT_INCLUDE, OPT_EXCLUDE, OPT_MEMORY_LIMIT, OPT_FLOOR, OPT_HELP };

static const pf_opt collect_opts[] = {
    { "output", 'o', PF_OPT_VALUE, OPT_OUTPUT },
    { "python", 0, PF_OPT_VALUE, OPT_PYTHON },
    { "module", 'm', PF_OPT_VALUE, OPT_MODULE },
    { "quiet", 'q', PF_OPT_FLAG, OPT_QUIET },
    { "lines", 0, PF_OPT_FLAG, OPT_LINES },
    { "memory", 0, PF_OPT_FLAG, OPT_MEMORY },
    { "include", 0, PF_OPT_VALUE, OPT_INCLUDE },
    { "exclude", 0, PF_OPT_VALUE, OPT_EXCLUDE },
    { "memory-limit", 0, PF_OPT_VALUE, OPT_MEMORY_LIMIT },
    { "floor", 0, PF_OPT_FLAG, OPT_FLOOR },   /* hidden: do-nothing hooks, for benchmarks */
    { "help", 'h', PF_OPT_FLAG, OPT_HELP },
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
    const char *limit = "0";
    const char *script = NULL;
    int quiet = 0, floor = 0, lines = 0, memory = 0;
    char *include = NULL, *exclude = NULL;   /* newline-separated globs */
    unsigned long bytes;
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
            usage(stdout);
            return 0;
        case OPT_QUIET: quiet = 1; break;
        case OPT_LINES: lines = 1; break;
        case OPT_MEMORY: memory = 1; break;
        case OPT_FLOOR: floor = 1; break;
        case OPT_INCLUDE:
        case OPT_EXCLUDE:
            if (add_glob(id == OPT_INCLUDE ? &include : &exclude, p.value) < 0) {
                fprintf(stderr, "pyflame-c collect: out of memory\n");
                return 1;
            }
            break;
        case OPT_OUTPUT: output = p.value; break;
        case OPT_PYTHON: python = p.value; break;
        case OPT_MEMORY_LIMIT:
            if (pf_opts_uint(&p, "a number of bytes", (unsigned long)-1, &bytes) < 0)
                return 2;
            if (bytes == 0) {
                pf_opts_usage_error(&p, "--memory-limit wants a number of bytes, not '%s'", p.value);
                return 2;
            }
            limit = p.value;
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
    /* fail now rather than after a long run: the output folder must exist */
    char *slash = strrchr(out, '/');
    *slash = 0;
    struct stat dst;
    int dir_ok = stat(*out ? out : "/", &dst) == 0 && S_ISDIR(dst.st_mode);
    int dir_errno = errno;
    *slash = '/';
    if (!dir_ok) {
        fprintf(stderr, "pyflame-c collect: cannot write '%s': %s\n", output,
                dir_errno ? strerror(dir_errno) : "not a directory");
        free(pkg);
        free(out);
        return 2;
    }

    char flags[160];
    /* per-line memory needs the line that runs: --memory records lines too */
    snprintf(flags, sizeof flags, "quiet=%d,module=%d,floor=%d,lines=%d,memory=%d,limit=%s",
             quiet, module != NULL, floor, lines || memory, memory, limit);
    /* globs may hold commas: they travel in the environment (the runner removes them) */
    if (setenv("PYFLAME_C_INCLUDE", include ? include : "", 1) < 0
        || setenv("PYFLAME_C_EXCLUDE", exclude ? exclude : "", 1) < 0) {
        fprintf(stderr, "pyflame-c collect: out of memory\n");
        return 1;
    }
    free(include);
    free(exclude);
    int nargs = argc - i;
    char **args = calloc((size_t)nargs + 10, sizeof(char *));
    if (args == NULL) {
        fprintf(stderr, "pyflame-c collect: out of memory\n");
        free(pkg);
        free(out);
        return 1;
    }
    int k = 0;
    args[k++] = (char *)python;
    args[k++] = "-c";
    args[k++] = (char *)bootstrap;
    args[k++] = pkg;
    args[k++] = out;
    args[k++] = (char *)output;
    args[k++] = flags;
    args[k++] = (char *)python;
    args[k++] = (char *)target;
    for (int j = 0; j < nargs; j++)
        args[k++] = argv[i + j];
    args[k] = NULL;
    fflush(stdout);
    fflush(stderr);
    execvp(python, args);
    fprintf(stderr, "pyflame-c collect: cannot run the Python interpreter '%s': %s "
                    "(choose one with --python or $PYFLAME_PYTHON)\n", python, strerror(errno));
    free(args);
    free(pkg);
    free(out);
    return 2;

usage_error:
    fprintf(stderr, "Run 'pyflame-c collect --help' for usage.\n");
    return 2;
}
