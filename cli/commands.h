/* commands.h: the subcommands of pyflame-c.  Each takes the arguments after its name
 * (argv[0] is the subcommand name) and returns the process exit status:
 * 0 success, 1 failure (bad input, I/O), 2 usage error; `collect` returns the profiled
 * program's own status.  Each is described by a pf_command (cli/help.h) beside its
 * code, from which its --help, the man page and the completions are printed. */
#ifndef PF_COMMANDS_H
#define PF_COMMANDS_H

#include "cli/help.h"

int pf_cmd_collect(int argc, char **argv);   /* cli/collect.c */
int pf_cmd_convert(int argc, char **argv);   /* cli/convert.c */
int pf_cmd_svg(int argc, char **argv);       /* cli/svg.c */
int pf_cmd_html(int argc, char **argv);      /* cli/html.c */
int pf_cmd_diff(int argc, char **argv);      /* cli/diff.c */
int pf_cmd_merge(int argc, char **argv);     /* cli/merge.c */
int pf_cmd_attach(int argc, char **argv);    /* cli/attach.c */

extern const pf_command pf_collect_command;
extern const pf_command pf_attach_command;
extern const pf_command pf_convert_command;
extern const pf_command pf_svg_command;
extern const pf_command pf_html_command;
extern const pf_command pf_diff_command;
extern const pf_command pf_merge_command;

/* The ids of pyflame-c's own options (pf_main_command's table). */
enum { PF_MAIN_HELP = 1, PF_MAIN_VERSION, PF_MAIN_MAN, PF_MAIN_COMPLETION };

#endif
