/* commands.c: the list of subcommands and pyflame-c's own description (its global
 * options, the texts of its --help and of the man page's first and last sections).
 * Each subcommand's description lives beside its code (cli/collect.c...). */
#include "cli/commands.h"
#include "cli/help.h"

const pf_command *const pf_commands[] = {
    &pf_collect_command, &pf_attach_command, &pf_convert_command, &pf_svg_command, &pf_html_command,
    &pf_diff_command, &pf_merge_command,
};
const size_t pf_ncommands = sizeof pf_commands / sizeof pf_commands[0];

static const pf_opt main_opts[] = {
    { "help", 'h', PF_OPT_FLAG, PF_MAIN_HELP, NULL, NULL,
      "show this help; 'pyflame-c COMMAND --help' shows a command's" },
    { "version", 'V', PF_OPT_FLAG, PF_MAIN_VERSION, NULL, NULL, "print the version" },
    { "man", 0, PF_OPT_FLAG, PF_MAIN_MAN, NULL, NULL,
      "print this manual page, pyflame-c(1), as roff on standard output (make install "
      "installs it; read it without installing: pyflame-c --man | man -l -)" },
    { "completion", 0, PF_OPT_VALUE, PF_MAIN_COMPLETION, "SHELL", PF_HELP_SHELLS,
      "print the completion script for SHELL (bash or zsh): commands, options, their "
      "values and file names.  make install installs both; to try one: source <(pyflame-c "
      "--completion bash)" },
};

const pf_command pf_main_command = {
    "pyflame-c",
    "profile Python programs: calls, lines and memory in one low-overhead pass",
    "pyflame-c [--version] [--help] [--man] [--completion SHELL]\n"
    "pyflame-c COMMAND [ARGS...]\n"
    "pyflame-c help [COMMAND]",
    "Profile Python programs: calls, lines and memory in one low-overhead pass.  "
    "`collect` runs a program under a C collector and writes one compressed trace "
    "(`collect --sample` and `attach` sample its stacks from outside instead); the "
    "other commands turn traces (and collapsed stacks, pstats files and speedscope JSON "
    "from other profilers) into what people read and other tools load: pstats files, "
    "text tables, flame graphs, line-annotated HTML, speedscope, pprof and callgrind "
    "files, and the comparison of two runs; `merge` sums the traces of several runs.",
    main_opts, sizeof main_opts / sizeof main_opts[0], "@file",
    "Run 'pyflame-c COMMAND --help' for a command's options (man pyflame-c: all of them).\n"
    "\n"
    "Examples:\n"
    "\n"
    "  pyflame-c collect -o trace.gz app.py --port 8080\n"
    "  pyflame-c svg trace.gz > flame.svg",
    NULL,
};

const pf_help_section pf_man_sections[] = {
    { "EXIT STATUS",
      "0 on success; 1 when an input is bad or an output cannot be written (and for diff, "
      "when a --fail-on gate fails); 2 for a usage error (an unknown option, a bad "
      "value, a missing argument; for merge, traces that cannot be summed).\n"
      "\n"
      "collect exits with the profiled program's own status, or dies of the signal that "
      "ended it; 74 when the program succeeded but no trace could be written." },
    { "ENVIRONMENT",
      "PYFLAME_PYTHON\n"
      "  the interpreter collect runs when --python is not given (default: python3)\n"
      "PYFLAME_C_PACKAGE\n"
      "  the folder of the pyflame collector package (default: found beside the binary,\n"
      "  in python/pyflame or ../lib/pyflame-c/python/pyflame)\n"
      "TMPDIR\n"
      "  where collect keeps the traces of a run's processes until it merges them\n"
      "PYFLAME_C_PROGRESS\n"
      "  0 turns off the progress line that long commands show when standard\n"
      "  error is a terminal (reading, building, writing: percentage, rate, ETA)\n"
      "PYFLAME_C_PROGRESS_DELAY\n"
      "  seconds a command runs before its progress line appears (default 0.5)" },
    { "FILES",
      "trace.gz\n"
      "  the trace collect writes by default, in the current folder\n"
      "PREFIX/lib/pyflame-c/python/pyflame\n"
      "  the collector package, with an extension module per Python version\n"
      "PREFIX/lib/pyflame-c/python/pyflame_c-VERSION.dist-info\n"
      "  the package's metadata: its pytest11 entry point registers the pytest plugin" },
    { "SEE ALSO",
      "python3(1), flamegraph.pl (https://github.com/brendangregg/FlameGraph), "
      "the README of pyflame-c." },
};
const size_t pf_nman_sections = sizeof pf_man_sections / sizeof pf_man_sections[0];
