/* opts.h: the one option parser of the pyflame-c command line.  Every subcommand
 * describes its options in a table and pulls them one at a time:
 *
 *     static const pf_opt table[] = {
 *         { "output", 'o', PF_OPT_VALUE, OPT_OUTPUT, "FILE", "@file", "write to FILE" }, ...
 *     };
 *     pf_opts p;
 *     pf_opts_init(&p, "convert", table, N, argc, argv);
 *     for (int id; (id = pf_opts_next(&p)) != PF_OPTS_END;) switch (id) { ... }
 *
 * Accepted spellings: "-o X", "-oX", "--output X", "--output=X"; "--" ends options;
 * "-" alone is an argument (standard input).  An option with an optional value
 * (PF_OPT_OPTIONAL, e.g. collect's "--memory[=python]") takes it only as "--name=X": a
 * bare "--name" never swallows the next argument, so "--memory script.py" still runs
 * the script.  Names must be given whole (no
 * abbreviations, so a later option cannot change what an old command line means);
 * an unknown name gets the nearest known one suggested, as git does.
 *
 * The table is also the documentation: --help, the man page and the shell completions
 * are generated from it (cli/help.h), so an option cannot be parsed without being
 * documented, nor documented without being parsed.
 *
 * Messages and exit codes are the same for every command: errors print
 * "pyflame-c CMD: MESSAGE" and "Run 'pyflame-c CMD --help' for usage." on stderr and
 * the command returns 2 (PF_EXIT_USAGE).
 */
#ifndef PF_CLI_OPTS_H
#define PF_CLI_OPTS_H

#include <stddef.h>

/* Exit statuses of every subcommand but collect, which returns the program's own. */
enum { PF_EXIT_OK = 0, PF_EXIT_FAIL = 1, PF_EXIT_USAGE = 2 };

enum pf_opt_kind {
    PF_OPT_FLAG,             /* no value */
    PF_OPT_VALUE,            /* a value: "--name X" or "--name=X" */
    PF_OPT_OPTIONAL          /* an optional value, only as "--name=X" (p->value NULL without) */
};

typedef struct pf_opt {
    const char *name;        /* long name without "--", e.g. "output"; NULL: not an
                                option but a heading of the help's next options (help) */
    char short_name;         /* 'o', or 0 */
    enum pf_opt_kind kind;
    int id;                  /* what pf_opts_next returns for it; > 0 */
    const char *arg;         /* the value's name in help ("FILE"); PF_OPT_OPTIONAL: its
                                choices ("all|python"); NULL for a flag */
    const char *complete;    /* how shells complete the value: "@file" file names,
                                "@command" commands, "a b c" one of these words, NULL
                                nothing (free text) */
    const char *help;        /* what it does, in cli/help.h's text format */
} pf_opt;

/* pf_opts_next's other results. */
#define PF_OPTS_END   0      /* no more arguments */
#define PF_OPTS_ARG  (-1)    /* a positional argument, in p->value */
#define PF_OPTS_ERROR (-2)   /* a message was printed; return PF_EXIT_USAGE */

typedef struct pf_opts {
    const char *cmd;          /* subcommand name, for messages */
    const pf_opt *table;
    size_t ntable;
    int argc;
    char **argv;
    int next;                 /* index of the next argv element */
    int only_args;            /* after "--" */
    int stop_at_arg;          /* the first positional ends option parsing (collect) */
    const char *value;        /* the option's value, or the positional argument */
    const char *spelled;      /* the option's name as typed, e.g. "--metric" or "-o" */
    char spelled_buf[72];
} pf_opts;

/* argv[0] is the subcommand name; parsing starts at argv[1].  cmd names the command
 * in messages; NULL for pyflame-c's own options ("pyflame-c: ..."). */
void pf_opts_init(pf_opts *p, const char *cmd, const pf_opt *table, size_t ntable,
                  int argc, char **argv);

/* The next option's id, PF_OPTS_ARG, PF_OPTS_END, or PF_OPTS_ERROR (unknown option, or
 * a missing value: already reported).  With stop_at_arg, after the first PF_OPTS_ARG
 * every later call returns PF_OPTS_END and p->next indexes what follows it. */
int pf_opts_next(pf_opts *p);

/* Prints "pyflame-c CMD: " + the formatted message + the --help hint on stderr and
 * returns PF_EXIT_USAGE. */
int pf_opts_usage_error(const pf_opts *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Value checks for the current option (p->value); on a bad value each reports
 * "OPTION wants WHAT, not 'VALUE'" and returns -1, else stores and returns 0. */
int pf_opts_uint(const pf_opts *p, const char *what, unsigned long max, unsigned long *out);
int pf_opts_double(const pf_opts *p, const char *what, double lo_excl, double hi, double *out);
/* A percentage from 0 to 100, with or without its '%' sign. */
int pf_opts_percent(const pf_opts *p, double *out);
/* The index of p->value in names[0..n), else reports "unknown WHAT 'VALUE' (a, b, c)"
 * (with the nearest name suggested) and returns -1. */
int pf_opts_choice(const pf_opts *p, const char *what, const char *const *names, size_t n);

/* The option or command name in candidates[0..n) nearest to typed (by edit distance,
 * close enough to be a likely typo), or NULL. */
const char *pf_opts_nearest(const char *typed, const char *const *candidates, size_t n);

/* Fills buf with the names of candidates[0..n) nearest to typed, each quoted and
 * preceded by prefix ("'--lines'", or "'collect' or 'convert'" when they tie) and
 * returns how many, or 0 (buf untouched) when none is close enough to be a typo. */
int pf_opts_suggest(const char *typed, const char *const *candidates, size_t n,
                    const char *prefix, char *buf, size_t cap);

#endif
