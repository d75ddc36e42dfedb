/* main.c: the pyflame-c entry point: global options and dispatch to a subcommand. */
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"
#include "cli/help.h"
#include "cli/opts.h"
#include "cli/progress.h"

/* "pyflame-c help [COMMAND]", as git has it. */
static int help_command(int argc, char **argv)
{
    if (argc < 2) {
        pf_help_print(&pf_main_command, stdout);
        return PF_EXIT_OK;
    }
    const pf_command *c = pf_command_find(argv[1]);
    if (c != NULL) {
        pf_help_print(c, stdout);
        return PF_EXIT_OK;
    }
    fprintf(stderr, "pyflame-c help: no command '%s'\n", argv[1]);
    return PF_EXIT_USAGE;
}

static int unknown_command(const char *cmd)
{
    const char *names[16];
    size_t n = 0;
    for (size_t i = 0; i < pf_ncommands && n < 16; i++)
        names[n++] = pf_commands[i]->name;
    char near[256];
    if (pf_opts_suggest(cmd, names, n, "", near, sizeof near) > 0)
        fprintf(stderr, "pyflame-c: unknown command '%s' (did you mean %s?)\n", cmd, near);
    else
        fprintf(stderr, "pyflame-c: unknown command '%s'\n", cmd);
    fprintf(stderr, "Run 'pyflame-c --help' for the list of commands.\n");
    return PF_EXIT_USAGE;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        pf_help_print(&pf_main_command, stderr);
        return PF_EXIT_USAGE;
    }
    if (strcmp(argv[1], "help") == 0)
        return help_command(argc - 1, argv + 1);
    static const char *const shells[] = { "bash", "zsh" };
    pf_opts p;
    pf_opts_init(&p, NULL, pf_main_command.opts, pf_main_command.nopts, argc, argv);
    p.stop_at_arg = 1;
    for (int id; (id = pf_opts_next(&p)) != PF_OPTS_END;) {
        switch (id) {
        case PF_OPTS_ERROR:
            return PF_EXIT_USAGE;
        case PF_OPTS_ARG: {
            const pf_command *c = pf_command_find(p.value);
            if (c == NULL)
                return unknown_command(p.value);
            /* collect and attach start it when the program has ended or the sampling
             * has stopped (cli/collect.c, cli/attach.c) */
            if (strcmp(c->name, "collect") != 0 && strcmp(c->name, "attach") != 0)
                pf_cli_progress_start(c->name);
            return c->run(argc - (p.next - 1), argv + (p.next - 1));
        }
        case PF_MAIN_HELP:
            pf_help_print(&pf_main_command, stdout);
            return PF_EXIT_OK;
        case PF_MAIN_VERSION:
            printf("pyflame-c %s\n", PF_VERSION);
            return PF_EXIT_OK;
        case PF_MAIN_MAN:
            pf_help_man(stdout);
            return PF_EXIT_OK;
        case PF_MAIN_COMPLETION:
            if (pf_opts_choice(&p, "shell", shells, sizeof shells / sizeof shells[0]) < 0)
                return PF_EXIT_USAGE;
            pf_help_completion(p.value, stdout);
            return PF_EXIT_OK;
        }
    }
    char names[128];
    size_t used = 0;
    names[0] = '\0';
    for (size_t i = 0; i < pf_ncommands && used < sizeof names; i++)
        used += (size_t)snprintf(names + used, sizeof names - used, "%s%s", i ? ", " : "",
                                 pf_commands[i]->name);
    return pf_opts_usage_error(&p, "no command given (one of %s)", names);
}
