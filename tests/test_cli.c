/* test_cli.c: the pyflame-c command line skeleton: help, version, dispatch and the
 * exit status of usage errors (2), run as a real process; and the command descriptions
 * (cli/help.h, linked in) against what the binary prints and parses: every option of
 * every command is parsed, in its --help, in the man page, in the README and in both
 * completion scripts, every value offered for completion is accepted, and a typo of
 * each name gets it suggested. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tests/support.h"
#include "cli/help.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static int run(const char *args, char *out, size_t cap)
{
    return pf_test_run(args, out, cap);
}

static char buf[65536];

static void test_cli_help_lists_every_command(void **state)
{
    (void)state;
    assert_int_equal(run("--help", buf, sizeof buf), 0);
    assert_non_null(strstr(buf, "usage: pyflame-c"));
    const char *cmds[] = { "collect", "attach", "convert", "svg", "html", "diff", "merge" };
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
        assert_non_null(strstr(buf, cmds[i]));
}

static void test_cli_version_prints_version(void **state)
{
    (void)state;
    assert_int_equal(run("--version", buf, sizeof buf), 0);
    assert_non_null(strstr(buf, "pyflame-c " PF_VERSION));
}

static void test_cli_no_arguments_is_usage_error(void **state)
{
    (void)state;
    assert_int_equal(run("", buf, sizeof buf), 2);
    assert_non_null(strstr(buf, "usage:"));
}

static void test_cli_unknown_command_exits_2(void **state)
{
    (void)state;
    assert_int_equal(run("frobnicate", buf, sizeof buf), 2);
    assert_non_null(strstr(buf, "unknown command 'frobnicate'"));
}

static void test_cli_unknown_global_option_exits_2(void **state)
{
    (void)state;
    assert_int_equal(run("--frob", buf, sizeof buf), 2);
    assert_non_null(strstr(buf, "unknown option '--frob'"));
}

static void test_cli_every_command_has_help(void **state)
{
    (void)state;
    const char *cmds[] = { "collect", "attach", "convert", "svg", "html", "diff", "merge" };
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        char args[64];
        snprintf(args, sizeof args, "%s --help", cmds[i]);
        assert_int_equal(run(args, buf, sizeof buf), 0);
        assert_non_null(strstr(buf, "usage: pyflame-c"));
        assert_non_null(strstr(buf, cmds[i]));
    }
}

static void test_cli_every_command_rejects_unknown_option(void **state)
{
    (void)state;
    const char *cmds[] = { "collect", "attach", "convert", "svg", "html", "diff", "merge" };
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        char args[64];
        snprintf(args, sizeof args, "%s --no-such-option x", cmds[i]);
        assert_int_equal(run(args, buf, sizeof buf), 2);
        assert_non_null(strstr(buf, "--no-such-option"));
    }
}

/* An optional value (--memory[=all|python]) is taken only after '=': a bad one is a
 * usage error naming the choices, with the nearest suggested; flags still refuse one. */
static void test_cli_collect_memory_mode_values(void **state)
{
    (void)state;
    assert_int_equal(run("collect --memory=bogus nosuch.py", buf, sizeof buf), 2);
    assert_non_null(strstr(buf, "unknown memory mode 'bogus' (one of all, python)"));
    assert_int_equal(run("collect --memory=pyton nosuch.py", buf, sizeof buf), 2);
    assert_non_null(strstr(buf, "did you mean 'python'?"));
    assert_int_equal(run("collect --memory= nosuch.py", buf, sizeof buf), 2);
    assert_non_null(strstr(buf, "unknown memory mode ''"));
    assert_int_equal(run("collect --lines=1 nosuch.py", buf, sizeof buf), 2);
    assert_non_null(strstr(buf, "option '--lines' takes no value"));
    /* a bare --memory does not take the script as its value */
    assert_int_equal(run("collect --memory nosuch.py", buf, sizeof buf), 2);
    assert_non_null(strstr(buf, "cannot open 'nosuch.py'"));
    assert_int_equal(run("collect --memory=python nosuch.py", buf, sizeof buf), 2);
    assert_non_null(strstr(buf, "cannot open 'nosuch.py'"));
    assert_int_equal(run("collect --help", buf, sizeof buf), 0);
    assert_non_null(strstr(buf, "--memory=python"));
}


/* ---- the command descriptions against the binary ---- */

static char big[1 << 20];

/* Every option table of the program, main's first. */
static const pf_command *cmd_at(size_t i)
{
    return i == 0 ? &pf_main_command : pf_commands[i - 1];
}
#define NCMDS (pf_ncommands + 1)

/* "CMD " for a subcommand, "" for pyflame-c itself. */
static const char *cmd_prefix(const pf_command *c, char *out, size_t cap)
{
    if (c->run == NULL)
        return "";
    snprintf(out, cap, "%s ", c->name);
    return out;
}

/* The parser accepts every option of the table, by each of its spellings, and returns
 * its id. */
static void test_cli_every_option_parses(void **state)
{
    (void)state;
    for (size_t c = 0; c < NCMDS; c++) {
        const pf_command *cmd = cmd_at(c);
        for (size_t i = 0; i < cmd->nopts; i++) {
            const pf_opt *o = &cmd->opts[i];
            if (o->name == NULL)
                continue;
            char lng[64], shrt[8];
            snprintf(lng, sizeof lng, "--%s%s", o->name, o->kind == PF_OPT_FLAG ? "" : "=v");
            snprintf(shrt, sizeof shrt, "-%c", o->short_name);
            char *argv[] = { (char *)cmd->name, lng, "v", NULL };
            pf_opts p;
            pf_opts_init(&p, cmd->name, cmd->opts, cmd->nopts, 3, argv);
            assert_int_equal(pf_opts_next(&p), o->id);
            if (o->short_name) {
                argv[1] = shrt;
                pf_opts_init(&p, cmd->name, cmd->opts, cmd->nopts, 3, argv);
                assert_int_equal(pf_opts_next(&p), o->id);
            }
            /* an id is a table's one option */
            for (size_t j = 0; j < cmd->nopts; j++)
                if (j != i && cmd->opts[j].name != NULL)
                    assert_int_not_equal(cmd->opts[j].id, o->id);
            assert_non_null(o->help);
        }
    }
}

/* The man page's section of cmd (from its .SH to the next). */
static const char *man_section(const char *page, const pf_command *cmd, size_t *len)
{
    char head[64];
    if (cmd->run == NULL)
        snprintf(head, sizeof head, ".SH NAME");
    else {
        snprintf(head, sizeof head, ".SH \"PYFLAME\\-C ");
        size_t n = strlen(head);
        for (const char *q = cmd->name; *q && n + 2 < sizeof head; q++)
            head[n++] = (char)(*q - 'a' + 'A');
        head[n++] = '"';
        head[n] = '\0';
    }
    const char *at = strstr(page, head);
    assert_non_null(at);
    const char *end = strstr(at + 1, "\n.SH \"PYFLAME");
    *len = end ? (size_t)(end - at) : strlen(at);
    return at;
}

static int contains(const char *hay, size_t n, const char *needle)
{
    size_t k = strlen(needle);
    for (size_t i = 0; i + k <= n; i++)
        if (memcmp(hay + i, needle, k) == 0)
            return 1;
    return 0;
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    static char text[1 << 20];
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
    return text;
}

/* Every option of every command is in its --help (with its value's name), in its
 * section of the man page, and in the README; and every option --help lists is one
 * the command parses. */
static void test_cli_every_option_is_documented(void **state)
{
    (void)state;
    static char page[1 << 20];
    assert_int_equal(run("--man", page, sizeof page), 0);
    char *readme = read_file("README.md");
    for (size_t c = 0; c < NCMDS; c++) {
        const pf_command *cmd = cmd_at(c);
        char args[128], pre[64];
        snprintf(args, sizeof args, "%s--help", cmd_prefix(cmd, pre, sizeof pre));
        assert_int_equal(run(args, big, sizeof big), 0);
        size_t mlen;
        const char *sec = man_section(page, cmd, &mlen);
        for (size_t i = 0; i < cmd->nopts; i++) {
            const pf_opt *o = &cmd->opts[i];
            if (o->name == NULL) {
                char head[128];
                snprintf(head, sizeof head, "\n%s:\n", o->help);
                assert_non_null(strstr(big, head));
                continue;
            }
            char want[128], roff[160];
            if (o->short_name)
                snprintf(want, sizeof want, "  -%c, --%s", o->short_name, o->name);
            else
                snprintf(want, sizeof want, "  --%s", o->name);
            size_t n = strlen(want);
            if (o->kind == PF_OPT_VALUE)
                snprintf(want + n, sizeof want - n, " %s", o->arg);
            else if (o->kind == PF_OPT_OPTIONAL)
                snprintf(want + n, sizeof want - n, "[=%s]", o->arg);
            if (strstr(big, want) == NULL)
                fail_msg("'%s--help' lacks '%s'", pre, want);
            /* roff: "\fB\-\-max\-memory\fR" */
            n = (size_t)snprintf(roff, sizeof roff, "\\fB\\-\\-");
            for (const char *q = o->name; *q && n + 3 < sizeof roff; q++) {
                if (*q == '-')
                    roff[n++] = '\\';
                roff[n++] = *q;
            }
            snprintf(roff + n, sizeof roff - n, "\\fR");
            if (!contains(sec, mlen, roff))
                fail_msg("the man page's section of %s lacks %s", cmd->name, roff);
            snprintf(want, sizeof want, "--%s", o->name);
            if (strstr(readme, want) == NULL)
                fail_msg("README.md does not mention %s (%s)", want, cmd->name);
        }
        /* the other way: each option line of --help names a parsed option */
        for (const char *l = big; (l = strstr(l, "\n  -")) != NULL; l++) {
            const char *name = strstr(l, "--");
            const char *eol = strchr(l + 1, '\n');
            if (name == NULL || (eol && name > eol))
                continue;
            name += 2;
            size_t k = strspn(name, "abcdefghijklmnopqrstuvwxyz-");
            int found = 0;
            for (size_t i = 0; i < cmd->nopts; i++)
                if (cmd->opts[i].name && strlen(cmd->opts[i].name) == k &&
                    strncmp(cmd->opts[i].name, name, k) == 0)
                    found = 1;
            if (!found)
                fail_msg("'%s--help' lists --%.*s, which it does not parse", pre, (int)k, name);
        }
    }
}

/* Each value offered for completion is accepted: "CMD --opt=VALUE --help" exits 0 (the
 * value is checked before --help is reached). */
static void test_cli_completed_values_are_accepted(void **state)
{
    (void)state;
    size_t checked = 0;
    for (size_t c = 0; c < NCMDS; c++) {
        const pf_command *cmd = cmd_at(c);
        for (size_t i = 0; i < cmd->nopts; i++) {
            const pf_opt *o = &cmd->opts[i];
            if (o->name == NULL || o->complete == NULL || o->complete[0] == '@')
                continue;
            char words[512];
            snprintf(words, sizeof words, "%s", o->complete);
            for (char *w = strtok(words, " "); w; w = strtok(NULL, " ")) {
                char args[256], pre[64];
                snprintf(args, sizeof args, "%s--%s=%s --help >/dev/null",
                         cmd_prefix(cmd, pre, sizeof pre), o->name, w);
                if (run(args, big, sizeof big) != 0)
                    fail_msg("'%s' refuses a value it completes: %s", args, big);
                checked++;
            }
        }
    }
    assert_true(checked > 50);
}

/* A typo of every command and option name (its last letter dropped, or two letters
 * swapped) gets the name suggested. */
static void test_cli_typos_get_suggestions(void **state)
{
    (void)state;
    char args[256], want[128];
    for (size_t i = 0; i < pf_ncommands; i++) {
        const char *n = pf_commands[i]->name;
        snprintf(args, sizeof args, "%.*s", (int)strlen(n) - 1, n);
        assert_int_equal(run(args, big, sizeof big), 2);
        snprintf(want, sizeof want, "'%s'", n);
        if (strstr(big, "did you mean") == NULL || strstr(big, want) == NULL)
            fail_msg("'%s' suggests no '%s': %s", args, n, big);
        snprintf(args, sizeof args, "%c%c%s", n[1], n[0], n + 2);
        assert_int_equal(run(args, big, sizeof big), 2);
        if (strstr(big, want) == NULL)
            fail_msg("'%s' suggests no '%s': %s", args, n, big);
    }
    for (size_t c = 0; c < NCMDS; c++) {
        const pf_command *cmd = cmd_at(c);
        for (size_t i = 0; i < cmd->nopts; i++) {
            const pf_opt *o = &cmd->opts[i];
            if (o->name == NULL || strlen(o->name) < 4)
                continue;
            char pre[64];
            snprintf(args, sizeof args, "%s--%.*s x", cmd_prefix(cmd, pre, sizeof pre),
                     (int)strlen(o->name) - 1, o->name);
            assert_int_equal(run(args, big, sizeof big), 2);
            snprintf(want, sizeof want, "'--%s'", o->name);
            if (strstr(big, "did you mean") == NULL || strstr(big, want) == NULL)
                fail_msg("'%s' suggests no %s: %s", args, want, big);
        }
    }
    assert_int_equal(run("co", big, sizeof big), 2);
    assert_non_null(strstr(big, "did you mean 'collect' or 'convert'?"));
    assert_int_equal(run("collect -lines x.py", big, sizeof big), 2);
    assert_non_null(strstr(big, "did you mean '--lines'?"));
    assert_int_equal(run("convert -f markdwn t.gz", big, sizeof big), 2);
    assert_non_null(strstr(big, "did you mean 'markdown'?"));
    assert_int_equal(run("atach 1", big, sizeof big), 2);
    assert_non_null(strstr(big, "did you mean 'attach'?"));
    assert_int_equal(run("xyzzy", big, sizeof big), 2);
    assert_null(strstr(big, "did you mean"));
}

/* The bash completion script, sourced in bash, completes every command, every option
 * of every command (from its prefix), the values of options with choices, file names,
 * and collect's program arguments as files. */
static void test_cli_bash_completion_completes(void **state)
{
    (void)state;
    char script[] = "/tmp/pf_test_cli_XXXXXX";
    int fd = mkstemp(script);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    fprintf(f, ". <(%s/pyflame-c --completion bash) || exit 3\n"
               "c() { COMP_WORDS=(\"$@\"); COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 )); "
               "COMPREPLY=(); _pyflame_c; echo \"<$*> ${COMPREPLY[*]} </>\"; }\n",
            PF_BUILD_DIR);
    for (size_t c = 0; c < NCMDS; c++) {
        const pf_command *cmd = cmd_at(c);
        const char *cw = cmd->run ? cmd->name : "";
        for (size_t i = 0; i < cmd->nopts; i++) {
            const pf_opt *o = &cmd->opts[i];
            if (o->name == NULL)
                continue;
            fprintf(f, "c pyflame-c %s --%.3s\n", cw, o->name);
            if (o->complete && o->complete[0] != '@')
                fprintf(f, "c pyflame-c %s --%s %s ''\n", cw, o->name,
                        o->kind == PF_OPT_OPTIONAL ? "=" : "");
        }
    }
    fprintf(f, "c pyflame-c ''\n"
               "c pyflame-c help c\n"
               "cd tests/data/collapsed && c pyflame-c svg ''\n"
               "c pyflame-c collect --lines script.py --li\n"
               "c pyflame-c collect -o out.gz ''\n"
               "c pyflame-c attach -q 1\n");
    fclose(f);
    char cmdline[512];
    snprintf(cmdline, sizeof cmdline, "bash %s 2>&1", script);
    FILE *p = popen(cmdline, "r");
    size_t n = fread(big, 1, sizeof big - 1, p);
    big[n] = '\0';
    int st = pclose(p);
    if (getenv("PF_KEEP")) fputs(big, stderr);
    unlink(script);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    for (size_t c = 0; c < NCMDS; c++) {
        const pf_command *cmd = cmd_at(c);
        const char *cw = cmd->run ? cmd->name : "";
        char line[256], want[128];
        for (size_t i = 0; i < cmd->nopts; i++) {
            const pf_opt *o = &cmd->opts[i];
            if (o->name == NULL)
                continue;
            snprintf(line, sizeof line, "<pyflame-c %s%s--%.3s> ", cw, *cw ? " " : "", o->name);
            const char *at = strstr(big, line);
            assert_non_null(at);
            snprintf(want, sizeof want, " --%s ", o->name);
            const char *end = strstr(at, "</>");
            if (!contains(at + strlen(line) - 1, (size_t)(end - at) - strlen(line) + 2, want))
                fail_msg("bash: '%s' does not offer --%s", line, o->name);
            if (o->complete && o->complete[0] != '@') {
                snprintf(line, sizeof line, "<pyflame-c %s%s--%s %s> ", cw, *cw ? " " : "",
                         o->name, o->kind == PF_OPT_OPTIONAL ? "= " : "");
                at = strstr(big, line);
                assert_non_null(at);
                char first[64];
                snprintf(first, sizeof first, " %.*s", (int)strcspn(o->complete, " "),
                         o->complete);
                if (strncmp(at + strlen(line) - 1, first, strlen(first)) != 0)
                    fail_msg("bash: '%s' does not offer%s", line, first);
            }
        }
    }
    assert_non_null(strstr(big, "<pyflame-c > collect attach convert svg html diff merge help </>"));
    assert_non_null(strstr(big, "<pyflame-c help c> collect convert </>"));
    assert_non_null(strstr(big, "austin.folded"));        /* svg's input: file names */
    assert_non_null(strstr(big, "<pyflame-c collect --lines script.py --li>  </>"));
    /* attach's operand is a process id: pid 1 is always there */
    assert_non_null(strstr(big, "<pyflame-c attach -q 1> 1"));
}

/* The zsh script is generated from the same tables: each command's arm holds each of
 * its options (zsh itself checks it in make install-test where it is installed). */
static void test_cli_zsh_completion_has_every_option(void **state)
{
    (void)state;
    assert_int_equal(run("--completion zsh", big, sizeof big), 0);
    assert_non_null(strstr(big, "#compdef pyflame-c"));
    for (size_t c = 0; c < NCMDS; c++) {
        const pf_command *cmd = cmd_at(c);
        char arm[64], want[128];
        const char *at = big, *end = NULL;
        if (cmd->run != NULL) {
            snprintf(arm, sizeof arm, "    (%s)\n", cmd->name);
            at = strstr(big, arm);
            assert_non_null(at);
            end = strstr(at, ";;");
        } else {
            end = strstr(big, "'1:command:->command'");
        }
        assert_non_null(end);
        for (size_t i = 0; i < cmd->nopts; i++) {
            const pf_opt *o = &cmd->opts[i];
            if (o->name == NULL)
                continue;
            snprintf(want, sizeof want, "'*--%s%s[", o->name, o->kind == PF_OPT_VALUE ? "=" :
                     o->kind == PF_OPT_OPTIONAL ? "=-" : "");
            if (!contains(at, (size_t)(end - at), want))
                fail_msg("zsh: %s's arm lacks %s", cmd->name, want);
        }
    }
}

/* The README stands alone: every file of the repo it cites exists (a clone must not
 * point outside itself, as it once did at ../shared/bench/gen_folded.py). */
static void test_cli_readme_cites_only_files_in_the_repo(void **state)
{
    (void)state;
    const char *readme = read_file("README.md");
    assert_null(strstr(readme, "shared/bench"));
    static const char *const dirs[] = { "bench/", "tests/", "samples/", "scripts/",
                                        "formats/", "convert/", "render/", "cli/",
                                        "collector/" };
    size_t checked = 0;
    for (const char *q = readme; *q; q++) {
        /* the CI example is a user's project, with its own files: skip ```yaml blocks */
        if ((q == readme || q[-1] == '\n') && strncmp(q, "```yaml", 7) == 0) {
            const char *end = strstr(q + 7, "\n```");
            assert_non_null(end);
            q = end + 4;
            continue;
        }
        if (q != readme && (isalnum((unsigned char)q[-1]) || q[-1] == '/' || q[-1] == '.' ||
                            q[-1] == '_' || q[-1] == '-'))
            continue;
        for (size_t d = 0; d < sizeof dirs / sizeof dirs[0]; d++) {
            if (strncmp(q, dirs[d], strlen(dirs[d])) != 0)
                continue;
            char path[256];
            size_t n = strspn(q, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                 "0123456789_./-*");
            while (n > 0 && (q[n - 1] == '.' || q[n - 1] == '/'))
                n--;                       /* the sentence's full stop, a folder's slash */
            if (n >= sizeof path || memchr(q, '*', n))
                continue;                  /* a glob: its folder is checked by others */
            memcpy(path, q, n);
            path[n] = '\0';
            if (access(path, F_OK) != 0)
                fail_msg("README.md cites %s, which is not in the repository", path);
            checked++;
        }
    }
    assert_true(checked > 20);
}

/* Output lines of "pyflame-c ARGS" (stdout only). */
static int count_lines(const char *args)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s 2>/dev/null", args);
    int rc = run(cmd, big, sizeof big);
    assert_int_equal(rc, 0);
    int n = 0;
    for (const char *q = big; *q; q++)
        n += *q == '\n';
    return n;
}

/* A shared option means the same in every command: --limit 0 is "all" (convert text
 * and markdown, html, diff), a size of 0 is "no limit" (--max-memory everywhere,
 * --max-output, collect's --memory-limit), -o - is standard output, -o '' an error. */
static void test_cli_shared_options_mean_the_same_everywhere(void **state)
{
    (void)state;
    const char *tr = "tests/golden/inputs/calls.trace.gz";
    char a[512], b[512];
    snprintf(a, sizeof a, "convert -f text --limit 0 %s", tr);
    snprintf(b, sizeof b, "convert -f text --limit 100000 %s", tr);
    assert_int_equal(count_lines(a), count_lines(b));
    snprintf(a, sizeof a, "convert -f markdown --limit 0 %s", tr);
    snprintf(b, sizeof b, "convert -f markdown --limit 100000 %s", tr);
    int all = count_lines(a);
    assert_int_equal(all, count_lines(b));
    snprintf(b, sizeof b, "convert -f markdown --limit 1 %s", tr);
    assert_true(all > count_lines(b));
    snprintf(a, sizeof a, "diff --limit 0 tests/data/diff/base.folded tests/data/diff/new.folded");
    snprintf(b, sizeof b, "diff --limit 100000 tests/data/diff/base.folded tests/data/diff/new.folded");
    all = count_lines(a);
    assert_int_equal(all, count_lines(b));
    snprintf(b, sizeof b, "diff --limit 1 tests/data/diff/base.folded tests/data/diff/new.folded");
    assert_true(all > count_lines(b));
    snprintf(a, sizeof a, "html --limit 0 %s >/dev/null", tr);
    assert_int_equal(run(a, big, sizeof big), 0);
    static const char *const zero_sizes[] = {
        "convert -f text --max-memory 0 %s", "convert -f collapsed --max-output 0 %s",
        "svg --max-memory 0 %s", "html --max-memory 0 %s",
        "diff --max-memory 0 %s %s", "convert -f text -o - %s",
        "merge --max-memory 0 -o - %s %s",
    };
    for (size_t i = 0; i < sizeof zero_sizes / sizeof zero_sizes[0]; i++) {
        char args[600];
        snprintf(a, sizeof a, zero_sizes[i], tr, tr);
        snprintf(args, sizeof args, "%s >/dev/null", a);
        if (run(args, big, sizeof big) != 0)
            fail_msg("'%s' failed: %s", a, big);
    }
    assert_int_equal(run("collect --memory-limit=0 --help", big, sizeof big), 0);
    assert_int_equal(run("collect --memory-limit=64M --help", big, sizeof big), 0);
    assert_int_equal(run("collect --memory-limit=lots x.py", big, sizeof big), 2);
    assert_non_null(strstr(big, "--memory-limit wants a size such as 64M"));
    static const char *const cmds[] = { "convert -f text", "svg", "html", "diff", "merge",
                                        "attach" };
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        snprintf(a, sizeof a, "%s -o '' %s", cmds[i], tr);
        assert_int_equal(run(a, big, sizeof big), 2);
        assert_non_null(strstr(big, "-o needs a file name"));
    }
    /* merge -o - writes the merged trace to standard output: svg reads it back */
    snprintf(a, sizeof a, "merge -q -o - %s %s | " PF_BUILD_DIR "/pyflame-c svg - >/dev/null",
             tr, tr);
    if (run(a, big, sizeof big) != 0)
        fail_msg("'%s' failed: %s", a, big);
    assert_int_equal(run("help collect", big, sizeof big), 0);
    assert_non_null(strstr(big, "usage: pyflame-c collect"));
    assert_int_equal(run("help merge", big, sizeof big), 0);
    assert_non_null(strstr(big, "usage: pyflame-c merge"));
    assert_int_equal(run("help attach", big, sizeof big), 0);
    assert_non_null(strstr(big, "usage: pyflame-c attach"));
    assert_int_equal(run("help nosuch", big, sizeof big), 2);
}

/* attach's usage errors exit 2 before touching any process: no PID, two, not a
 * number, a rate out of range, an unknown mode. */
static void test_cli_attach_usage_errors(void **state)
{
    (void)state;
    assert_int_equal(run("attach", big, sizeof big), 2);
    assert_non_null(strstr(big, "no PID given"));
    assert_int_equal(run("attach 1 2", big, sizeof big), 2);
    assert_non_null(strstr(big, "one PID only"));
    assert_int_equal(run("attach abc", big, sizeof big), 2);
    assert_non_null(strstr(big, "'abc' is not a process id"));
    assert_int_equal(run("attach --rate 0 1", big, sizeof big), 2);
    assert_non_null(strstr(big, "--rate wants 1 to 20000 Hz"));
    assert_int_equal(run("attach --rate 20001 1", big, sizeof big), 2);
    assert_int_equal(run("attach --sample-mode cpus 1", big, sizeof big), 2);
    assert_non_null(strstr(big, "did you mean 'cpu'?"));
    assert_int_equal(run("attach --duration -1 1", big, sizeof big), 2);
    assert_int_equal(run("collect --sample=0 x.py", big, sizeof big), 2);
    assert_non_null(strstr(big, "--sample wants a rate of 1 to 20000 Hz"));
    assert_int_equal(run("collect --sample --lines x.py", big, sizeof big), 2);
    assert_non_null(strstr(big, "does not go with --lines"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cli_help_lists_every_command),
        cmocka_unit_test(test_cli_version_prints_version),
        cmocka_unit_test(test_cli_no_arguments_is_usage_error),
        cmocka_unit_test(test_cli_unknown_command_exits_2),
        cmocka_unit_test(test_cli_unknown_global_option_exits_2),
        cmocka_unit_test(test_cli_every_command_has_help),
        cmocka_unit_test(test_cli_every_command_rejects_unknown_option),
        cmocka_unit_test(test_cli_collect_memory_mode_values),
        cmocka_unit_test(test_cli_every_option_parses),
        cmocka_unit_test(test_cli_every_option_is_documented),
        cmocka_unit_test(test_cli_completed_values_are_accepted),
        cmocka_unit_test(test_cli_typos_get_suggestions),
        cmocka_unit_test(test_cli_bash_completion_completes),
        cmocka_unit_test(test_cli_zsh_completion_has_every_option),
        cmocka_unit_test(test_cli_readme_cites_only_files_in_the_repo),
        cmocka_unit_test(test_cli_shared_options_mean_the_same_everywhere),
        cmocka_unit_test(test_cli_attach_usage_errors),
    };
    return cmocka_run_group_tests_name("cli", tests, NULL, NULL);
}
