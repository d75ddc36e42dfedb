/* help.h: the documentation of the command line, generated from one source.  Each
 * subcommand describes itself in a pf_command (its synopsis, description, option table
 * and closing text); its --help, the pyflame-c(1) man page and the bash and zsh
 * completion scripts are all printed from these descriptions, so none can drift from
 * what the parser accepts.
 *
 * Text format (description, epilogue, an option's help):
 *   - a blank line separates paragraphs;
 *   - any other line is a paragraph line: --help fills its words to 80 columns, the man
 *     page lets groff fill it; a newline inside a paragraph breaks the line there;
 *   - a line that starts with a space is preformatted (a table, an example): printed as
 *     it is, never filled;
 *   - a paragraph of one line ending with ':' is a heading ("Examples:").
 * Texts do not end with a newline.
 */
#ifndef PF_CLI_HELP_H
#define PF_CLI_HELP_H

#include <stddef.h>
#include <stdio.h>

#include "cli/opts.h"

typedef struct pf_command {
    const char *name;         /* "collect" */
    const char *summary;      /* one line, for the list of commands */
    const char *synopsis;     /* usage lines, one a line, each "pyflame-c NAME ..." */
    const char *description;  /* what it does (text format above) */
    const pf_opt *opts;       /* its option table (headings included) */
    size_t nopts;
    const char *operands;     /* how shells complete its arguments: "@file" file names;
                                 "@program" (collect) a script, then the program's own
                                 arguments; "@pid" (attach) a process id */
    const char *epilogue;     /* after the options: exit status, examples; or NULL */
    int (*run)(int argc, char **argv);
} pf_command;

/* Every subcommand, in the order help lists them (cli/commands.c). */
extern const pf_command *const pf_commands[];
extern const size_t pf_ncommands;
/* pyflame-c itself: its global options (--help, --version, --man, --completion) and
 * texts; its run is NULL. */
extern const pf_command pf_main_command;

/* The man page's closing sections (ENVIRONMENT, EXIT STATUS, SEE ALSO...). */
typedef struct pf_help_section {
    const char *title;
    const char *text;         /* help.h's text format */
} pf_help_section;
extern const pf_help_section pf_man_sections[];
extern const size_t pf_nman_sections;

/* The subcommand named name, or NULL. */
const pf_command *pf_command_find(const char *name);

/* Prints cmd's --help to out ("usage: ..." first). */
void pf_help_print(const pf_command *cmd, FILE *out);

/* Prints the pyflame-c(1) man page (roff, man macros): the program, then a section per
 * subcommand, then environment, exit status and see also. */
void pf_help_man(FILE *out);

/* Prints the completion script for shell ("bash" or "zsh").  0, or -1 (nothing
 * printed) for another shell. */
int pf_help_completion(const char *shell, FILE *out);

/* The shells pf_help_completion knows, for messages and the option table. */
#define PF_HELP_SHELLS "bash zsh"

#endif
