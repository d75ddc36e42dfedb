/* commands.h: the subcommands of pyflame-c.  Each takes the arguments after its name
 * (argv[0] is the subcommand name) and returns the process exit status:
 * 0 success, 1 failure (bad input, I/O), 2 usage error; `collect` returns the profiled
 * program's own status.  Each prints its own --help. */
#ifndef PF_COMMANDS_H
#define PF_COMMANDS_H

int pf_cmd_collect(int argc, char **argv);   /* cli/collect.c */
int pf_cmd_convert(int argc, char **argv);   /* cli/convert.c */
int pf_cmd_svg(int argc, char **argv);       /* cli/svg.c */
int pf_cmd_html(int argc, char **argv);      /* cli/html.c */
int pf_cmd_diff(int argc, char **argv);      /* cli/diff.c */
int pf_cmd_attach(int argc, char **argv);    /* cli/attach.c */

#endif
