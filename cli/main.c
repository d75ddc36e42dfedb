/* main.c: the pyflame-c entry point: global options and dispatch to a subcommand. */
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"
#include "cli/opts.h"

static const struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} commands[] = {
    { "collect", pf_cmd_collect, "run a Python program under the collector, write a trace" },
    { "convert", pf_cmd_convert, "turn a trace into collapsed stacks, pstats, text or a line table" },
    { "svg",     pf_cmd_svg,     "render an interactive flame graph from a trace or collapsed stacks" },
    { "html",    pf_cmd_html,    "render line-annotated source from a trace" },
    { "diff",    pf_cmd_diff,    "compare two runs: calls, time, lines and memory, with a CI gate" },
    { "attach",  pf_cmd_attach,  "sample a running Python process (3.13+) without stopping it" },
};

static void usage(FILE *out)
{
    fprintf(out,
            "usage: pyflame-c [--version] [--help] COMMAND [ARGS...]\n"
            "\n"
            "Profile Python programs: calls, lines and memory in one low-overhead pass.\n"
            "\n"
            "Commands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  %-9s %s\n", commands[i].name, commands[i].summary);
    fprintf(out,
            "\n"
            "Run 'pyflame-c COMMAND --help' for a command's options.\n"
            "Example:\n"
            "  pyflame-c collect -o trace.gz app.py --port 8080\n"
            "  pyflame-c svg trace.gz > flame.svg\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "-V") == 0) {
        printf("pyflame-c %s\n", PF_VERSION);
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(cmd, commands[i].name) == 0)
            return commands[i].run(argc - 1, argv + 1);
    const char *names[sizeof commands / sizeof commands[0]];
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        names[i] = commands[i].name;
    const char *near = pf_opts_nearest(cmd, names, sizeof names / sizeof names[0]);
    if (cmd[0] == '-')
        fprintf(stderr, "pyflame-c: unknown option '%s'\n", cmd);
    else if (near != NULL)
        fprintf(stderr, "pyflame-c: unknown command '%s' (did you mean '%s'?)\n", cmd, near);
    else
        fprintf(stderr, "pyflame-c: unknown command '%s'\n", cmd);
    fprintf(stderr, "Run 'pyflame-c --help' for the list of commands.\n");
    return 2;
}
