/* html_cmd.c: `pyflame-c html`: option parsing, reading the trace, writing the report
 * to stdout or (through formats/output.h: a temporary file renamed into place) to -o FILE. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/commands.h"
#include "formats/output.h"
#include "formats/trace.h"
#include "html.h"

static void usage(FILE *out)
{
    fputs("usage: pyflame-c html [OPTIONS] TRACE\n"
          "\n"
          "Render a trace as one self-contained HTML page: run metadata, the hottest files,\n"
          "lines and functions, a sortable function table, and each file's source annotated\n"
          "with per-line hits, time, self time, share of the run and (with memory data)\n"
          "allocated / live-at-peak / live-at-exit bytes.  TRACE may be '-' for stdin.\n"
          "\n"
          "Options:\n"
          "  -o, --output FILE    write to FILE (atomically) instead of stdout\n"
          "      --title TEXT     page title (default: 'Profile of' the program name)\n"
          "      --limit N        show the source of only the N hottest files\n"
          "      --threshold PCT  hide files with less than PCT% of the self time\n"
          "      --context N      lines shown around lines with data before folding (default 3)\n"
          "      --full-paths     show file names whole, not relative to sys.path\n"
          "  -h, --help           show this help\n"
          "\n"
          "Example:\n"
          "  pyflame-c collect --lines -o trace.gz app.py\n"
          "  pyflame-c html --limit 10 -o report.html trace.gz\n", out);
}

static int bad_usage(const char *fmt, const char *arg)
{
    fputs("pyflame-c html: ", stderr);
    fprintf(stderr, fmt, arg);
    fputs("\nRun 'pyflame-c html --help' for usage.\n", stderr);
    return 2;
}

static int parse_u32(const char *s, uint32_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end != '\0' || s[0] == '-' || v > UINT32_MAX)
        return -1;
    *out = (uint32_t)v;
    return 0;
}

static int parse_pct(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end > s && *end == '%')
        end++;
    if (errno || end == s || *end != '\0' || !(v >= 0 && v <= 100))
        return -1;
    *out = v;
    return 0;
}

int pf_cmd_html(int argc, char **argv)
{
    pf_html_opts opts;
    pf_html_opts_init(&opts);
    const char *output = NULL, *input = NULL;
    int only_args = 0;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (only_args || a[0] != '-' || strcmp(a, "-") == 0) {
            if (input)
                return bad_usage("unexpected argument '%s' (one TRACE only)", a);
            input = a;
            continue;
        }
        if (strcmp(a, "--") == 0) {
            only_args = 1;
            continue;
        }
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return 0;
        }
        if (strcmp(a, "--full-paths") == 0) {
            opts.full_paths = 1;
            continue;
        }
        /* Options with a value: "--opt VALUE", "--opt=VALUE", "-oVALUE". */
        static const char *const valued[] = { "-o", "--output", "--title", "--limit", "--threshold", "--context" };
        const char *name = NULL, *val = NULL;
        for (size_t k = 0; k < sizeof valued / sizeof valued[0] && !name; k++) {
            size_t n = strlen(valued[k]);
            if (strcmp(a, valued[k]) == 0) {
                name = valued[k];
                if (i + 1 >= argc)
                    return bad_usage("option '%s' needs a value", a);
                val = argv[++i];
            } else if (strncmp(a, valued[k], n) == 0 && a[n] == '=' && valued[k][1] == '-') {
                name = valued[k];
                val = a + n + 1;
            } else if (k == 0 && strncmp(a, "-o", 2) == 0 && a[2] != '\0') {
                name = "-o";
                val = a + 2;
            }
        }
        if (!name)
            return bad_usage("unknown option '%s'", a);
        if (strcmp(name, "-o") == 0 || strcmp(name, "--output") == 0) {
            if (val[0] == '\0')
                return bad_usage("%s", "option '-o' needs a file name");
            output = val;
        } else if (strcmp(name, "--title") == 0) {
            opts.title = val;
        } else if (strcmp(name, "--limit") == 0) {
            if (parse_u32(val, &opts.limit) < 0 || opts.limit == 0)
                return bad_usage("--limit wants a positive number, not '%s'", val);
        } else if (strcmp(name, "--threshold") == 0) {
            if (parse_pct(val, &opts.threshold_pct) < 0)
                return bad_usage("--threshold wants a percentage from 0 to 100, not '%s'", val);
        } else {
            if (parse_u32(val, &opts.context) < 0 || opts.context > 1000)
                return bad_usage("--context wants a number of lines (0-1000), not '%s'", val);
        }
    }
    if (!input)
        return bad_usage("%s", "missing TRACE argument");

    pf_error err;
    pf_error_clear(&err);
    pf_trace *t = pf_trace_read(input, &err);
    if (!t) {
        fprintf(stderr, "pyflame-c: %s: %s\n", input, err.msg);
        return 1;
    }
    int rc = -1;
    pf_output *out = pf_output_open(output, &err);
    if (out != NULL) {
        rc = pf_html_render(t, &opts, pf_output_stream(out), &err);
        if (rc == 0)
            rc = pf_output_commit(out, &err);
        else
            pf_output_abort(out);
    }
    if (rc != 0)
        fprintf(stderr, "pyflame-c: %s: %s\n", output ? output : "<stdout>",
                err.msg[0] ? err.msg : pf_error_text(err.code));
    pf_trace_free(t);
    return rc == 0 ? 0 : 1;
}
