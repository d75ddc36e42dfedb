/* common.c: shared pieces of the reading subcommands (see common.h). */
#include "cli/common.h"
#include "cli/opts.h"

#include "formats/budget.h"
#include "formats/input.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

const char *pf_cli_input_name(const char *path)
{
    return path == NULL || strcmp(path, "-") == 0 ? "<stdin>" : path;
}

int pf_cli_fail(const char *file, const pf_error *err)
{
    fprintf(stderr, "pyflame-c: %s: %s\n", pf_cli_input_name(file),
            err->msg[0] ? err->msg : pf_error_text(err->code));
    return err->code == PF_EUSAGE ? 2 : 1;
}

pf_trace *pf_cli_read_trace(const char *path, uint64_t max_memory, pf_error *err)
{
    pf_input *in = pf_input_open(path, err);
    if (in == NULL)
        return NULL;
    pf_input_set_budget(in, max_memory);
    pf_trace *t = NULL;
    int kind = pf_input_sniff(in, err);
    if (kind == PF_INPUT_TEXT)
        pf_error_set(err, PF_EMAGIC, "this is text (collapsed stacks?) or a file of an unknown "
                     "kind, not a profile this command reads: it reads pyflame-c traces, pstats "
                     "files (cProfile, profiling.tracing, yappi) and speedscope JSON (py-spy, "
                     "pyinstrument); `pyflame-c svg` and `diff` also read collapsed stacks");
    else if (kind >= 0)
        t = pf_trace_read_input(in, err);
    pf_input_free(in);
    if (t != NULL && (t->meta.flags & PF_FLAG_OUT_OF_MEMORY))
        fprintf(stderr, "pyflame-c: warning: %s: the collector ran out of memory while "
                "recording; the profile is incomplete\n", pf_cli_input_name(path));
    return t;
}

int pf_cli_parse_max_memory(const char *cmd, const char *value, uint64_t *out)
{
    if (pf_budget_parse(value, out) == 0) {
        /* 0 = no limit, as for every size option (0 would be the default to the readers) */
        if (*out == 0)
            *out = UINT64_MAX;
        return 0;
    }
    fprintf(stderr, "pyflame-c %s: --max-memory wants a size such as 512M or 8G (0 = no "
            "limit), not '%s'\n"
            "Run 'pyflame-c %s --help' for usage.\n", cmd, value, cmd);
    return -1;
}

int pf_cli_output_is_input(const char *cmd, const char *input, const char *output)
{
    struct stat in_st, out_st;
    if (output == NULL || input == NULL || strcmp(input, "-") == 0 ||
        stat(input, &in_st) != 0 || stat(output, &out_st) != 0 ||
        in_st.st_dev != out_st.st_dev || in_st.st_ino != out_st.st_ino)
        return 0;
    fprintf(stderr, "pyflame-c %s: refusing to overwrite the input '%s'\n", cmd, output);
    return 1;
}

int pf_cli_parse_limit(const pf_opts *p, uint32_t *out)
{
    unsigned long n;
    if (pf_opts_uint(p, "a number (" PF_CLI_LIMIT_ALL ")", (unsigned long)-1, &n) < 0)
        return -1;
    *out = n == 0 || n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
    return 0;
}

int pf_cli_parse_output(const pf_opts *p, const char **out)
{
    if (p->value[0] == '\0') {
        pf_opts_usage_error(p, "%s needs a file name ('-' for standard output)", p->spelled);
        return -1;
    }
    *out = strcmp(p->value, "-") == 0 ? NULL : p->value;
    return 0;
}

/* A frame line of `perf script`: indentation, a hex address, a symbol, "(dso)". */
static int perf_frame_line(const unsigned char *l, size_t n)
{
    size_t i = 0, hex = 0;
    while (i < n && (l[i] == ' ' || l[i] == '\t'))
        i++;
    if (i == 0)
        return 0;
    while (i < n && isxdigit(l[i]))
        i++, hex++;
    while (n > i && (l[n - 1] == ' ' || l[n - 1] == '\r'))
        n--;
    return hex >= 4 && i < n && l[i] == ' ' && l[n - 1] == ')' && memchr(l + i, '(', n - i);
}

int pf_cli_is_perf_script(struct pf_input *in, pf_error *err)
{
    const unsigned char *p;
    size_t n;
    pf_error ignore;
    if (pf_input_peek(in, 65536, &p, &n, &ignore) < 0)
        return 0;
    unsigned lines = 0, frames = 0, headers = 0, prev_blank = 1;
    for (size_t i = 0; i < n && lines < 200;) {
        const unsigned char *nl = memchr(p + i, '\n', n - i);
        if (nl == NULL)
            break;                 /* judge whole lines only */
        size_t len = (size_t)(nl - (p + i));
        int blank = len == 0 || (len == 1 && p[i] == '\r');
        if (!blank) {
            lines++;
            if (perf_frame_line(p + i, len))
                frames++;
            else if (prev_blank && p[i] != ' ' && p[i] != '\t' && p[i] != '#')
                headers++;         /* "comm pid [cpu] time: period event:" */
        }
        prev_blank = blank;
        i += len + 1;
    }
    if (frames < 2 || headers == 0 || frames * 2 < lines)
        return 0;
    pf_error_set(err, PF_EPARSE, "this is raw `perf script` output (sample headers and "
                 "indented \"address symbol (dso)\" frames), not collapsed stacks: fold "
                 "it into them first with stackcollapse-perf.pl (FlameGraph): perf script | "
                 "stackcollapse-perf.pl > out.folded");
    return 1;
}
