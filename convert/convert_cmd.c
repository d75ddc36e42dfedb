/* convert_cmd.c: `pyflame-c convert`, the command line around the converters: option
 * parsing, reading the trace, choosing the output (temp file + rename, or stdout) and
 * turning every failure into one "pyflame-c: FILE: MESSAGE" line and an exit status
 * (0 ok, 1 bad input or I/O, 2 usage). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/commands.h"
#include "convert/folded.h"
#include "convert/funcstats.h"
#include "convert/lines.h"
#include "formats/output.h"
#include "convert/pstats.h"
#include "convert/text.h"
#include "formats/trace.h"

enum format { FMT_NONE, FMT_COLLAPSED, FMT_PSTATS, FMT_TEXT, FMT_LINES };

struct options {
    enum format format;
    const char *output;           /* NULL: stdout */
    const char *input;
    pf_stack_opts frame;
    pf_text_opts text;
    int saw_metric, saw_granularity, saw_sort, saw_limit;
};

static void usage(FILE *out)
{
    fputs(
"usage: pyflame-c convert -f FORMAT [options] [-o OUT] TRACE\n"
"\n"
"Turn a trace written by `pyflame-c collect` into another format.  TRACE may be '-'\n"
"for standard input.  Without -o, text formats go to standard output; the binary\n"
"pstats format needs -o or a redirected standard output.  With -o the result is\n"
"written to a temporary file beside OUT and renamed into place only on success.\n"
"\n"
"Formats (-f, --format):\n"
"  collapsed  folded stacks for flamegraph.pl / inferno / speedscope: one line per\n"
"             distinct stack, \"thread;frame;...;frame VALUE\", threads as root frames\n"
"  pstats     a cProfile/pstats file: pstats.Stats(OUT), snakeviz, gprof2dot; call\n"
"             counts and callers match what `python -m cProfile -o` records\n"
"  text       the top functions as a pstats-style table (ncalls tottime percall\n"
"             cumtime percall file:line(function), functions by qualname), with\n"
"             the command line, Python version and totals; plain text, no colours\n"
"  lines      per-line table as tab-separated values with a header row:\n"
"             file line function hits time_ns self_ns\n"
"             (+ alloc_bytes alloc_count peak_bytes exit_bytes for memory traces);\n"
"             in text fields '\\' '\\t' '\\n' '\\r' are escaped as \\\\ \\t \\n \\r\n"
"\n"
"Options:\n"
"  -o, --output OUT       write to OUT ('-' = standard output)\n"
"  --metric M             collapsed: the value of each stack, one of\n"
"                           self-time    self time in microseconds (default)\n"
"                           calls        number of calls\n"
"                           alloc-bytes  bytes allocated        (memory traces)\n"
"                           alloc-count  allocations            (memory traces)\n"
"                           peak-bytes   bytes live at the peak (memory traces)\n"
"                           exit-bytes   bytes live at the end  (memory traces)\n"
"  --granularity G        collapsed: 'function' (default) or 'line' (a frame per\n"
"                         call-site line)\n"
"  --full-paths           collapsed, text: keep file names whole instead of\n"
"                         relative to the working directory / sys.path\n"
"  --sort KEY             text: self (default), cumulative, calls, alloc, peak,\n"
"                         exit (the last three need a memory trace); pstats' names\n"
"                         tottime, cumtime, ncalls work too\n"
"  --limit N              text: show N functions (default 30, 0 = all)\n"
"  -h, --help             show this help\n"
"\n"
"Examples:\n"
"  pyflame-c convert -f pstats -o app.prof trace.gz && python3 -m pstats app.prof\n"
"  pyflame-c convert -f collapsed trace.gz | flamegraph.pl > flame.svg\n"
"  pyflame-c convert -f text --sort cumulative --limit 20 trace.gz\n",
        out);
}

static int bad_usage(const char *fmt, const char *arg)
{
    fputs("pyflame-c convert: ", stderr);
    fprintf(stderr, fmt, arg);
    fputs("\nRun 'pyflame-c convert --help' for usage.\n", stderr);
    return 2;
}

static int lookup(const char *value, const char *const *names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(value, names[i]) == 0)
            return (int)i;
    return -1;
}

static const char *const format_names[] = { "", "collapsed", "pstats", "text", "lines" };
static const char *const metric_names[] = { "self-time",  "calls",      "alloc-bytes",
                                            "alloc-count", "peak-bytes", "exit-bytes" };
static const char *const gran_names[] = { "function", "line" };
static const char *const sort_names[] = { "self", "cumulative", "calls", "alloc", "peak", "exit" };
static const char *const sort_aliases[] = { "tottime", "cumtime", "ncalls" };
#define N(a) (sizeof(a) / sizeof((a)[0]))

/* Parses argv into o.  Returns -1 to continue, or an exit status (0 for --help). */
static int parse(int argc, char **argv, struct options *o)
{
    int only_args = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (only_args || a[0] != '-' || strcmp(a, "-") == 0) {
            if (o->input != NULL)
                return bad_usage("unexpected extra argument '%s' (one trace at a time)", a);
            o->input = a;
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
            o->frame.full_paths = 1;
            o->text.full_paths = 1;
            continue;
        }
        /* Options with a value: "-fX", "-f X", "--format=X", "--format X". */
        static const struct { const char *s, *l; } valued[] = {
            { "-f", "--format" }, { "-o", "--output" }, { NULL, "--metric" },
            { NULL, "--granularity" }, { NULL, "--sort" }, { NULL, "--limit" },
        };
        const char *value = NULL;
        size_t which = N(valued);
        for (size_t k = 0; k < N(valued) && which == N(valued); k++) {
            size_t ll = strlen(valued[k].l);
            if (valued[k].s && strncmp(a, valued[k].s, 2) == 0 && a[1] != '-') {
                which = k;
                value = a[2] ? a + 2 : NULL;
            } else if (strncmp(a, valued[k].l, ll) == 0 && (a[ll] == '\0' || a[ll] == '=')) {
                which = k;
                value = a[ll] == '=' ? a + ll + 1 : NULL;
            }
        }
        if (which == N(valued))
            return bad_usage("unknown option '%s'", a);
        if (value == NULL) {
            if (i + 1 >= argc)
                return bad_usage("option '%s' needs a value", a);
            value = argv[++i];
        }
        int v;
        char *end;
        switch (which) {
        case 0:
            v = lookup(value, format_names + 1, N(format_names) - 1);
            if (v < 0)
                return bad_usage("unknown format '%s' (collapsed, pstats, text, lines)", value);
            o->format = (enum format)(v + 1);
            break;
        case 1:
            o->output = value;
            break;
        case 2:
            v = lookup(value, metric_names, N(metric_names));
            if (v < 0)
                return bad_usage("unknown metric '%s' (self-time, calls, alloc-bytes, "
                                 "alloc-count, peak-bytes, exit-bytes)", value);
            o->frame.metric = (enum pf_metric)v;
            o->saw_metric = 1;
            break;
        case 3:
            v = lookup(value, gran_names, N(gran_names));
            if (v < 0)
                return bad_usage("unknown granularity '%s' (function, line)", value);
            o->frame.granularity = (enum pf_granularity)v;
            o->saw_granularity = 1;
            break;
        case 4:
            v = lookup(value, sort_names, N(sort_names));
            if (v < 0)   /* pstats' own names, for people used to sort_stats() */
                v = lookup(value, sort_aliases, N(sort_aliases));
            if (v < 0)
                return bad_usage("unknown sort key '%s' (self, cumulative, calls, alloc, peak, exit)",
                                 value);
            o->text.sort = (enum pf_text_sort)v;
            o->saw_sort = 1;
            break;
        case 5:
            errno = 0;
            if (value[0] < '0' || value[0] > '9')
                return bad_usage("--limit needs a number, got '%s'", value);
            o->text.limit = strtoul(value, &end, 10);
            if (*end != '\0' || errno != 0)
                return bad_usage("--limit needs a number, got '%s'", value);
            o->saw_limit = 1;
            break;
        }
    }
    if (o->format == FMT_NONE)
        return bad_usage("%s", "missing -f FORMAT (collapsed, pstats, text, lines)");
    if (o->input == NULL)
        return bad_usage("%s", "missing the trace file (use '-' for standard input)");
    if ((o->saw_metric || o->saw_granularity) && o->format != FMT_COLLAPSED)
        return bad_usage("%s", "--metric and --granularity apply to -f collapsed only");
    if ((o->saw_sort || o->saw_limit) && o->format != FMT_TEXT)
        return bad_usage("%s", "--sort and --limit apply to -f text only");
    if (o->output != NULL && strcmp(o->output, "-") == 0)
        o->output = NULL;
    return -1;
}

static int fail_file(const char *file, const pf_error *err)
{
    fprintf(stderr, "pyflame-c: %s: %s\n", strcmp(file, "-") == 0 ? "<stdin>" : file,
            err->msg[0] ? err->msg : pf_error_text(err->code));
    return err->code == PF_EUSAGE ? 2 : 1;
}

int pf_cmd_convert(int argc, char **argv)
{
    struct options o;
    memset(&o, 0, sizeof o);
    o.frame.time_unit_ns = 1000;   /* microseconds: what --help promises */
    o.text.limit = 30;
    int st = parse(argc, argv, &o);
    if (st >= 0)
        return st;
    if (o.format == FMT_PSTATS && o.output == NULL && isatty(STDOUT_FILENO)) {
        fputs("pyflame-c convert: refusing to write binary pstats data to a terminal;\n"
              "use -o FILE or redirect standard output.\n", stderr);
        return 2;
    }

    struct stat in_st, out_st;
    if (o.output != NULL && strcmp(o.input, "-") != 0 && stat(o.input, &in_st) == 0 &&
        stat(o.output, &out_st) == 0 && in_st.st_dev == out_st.st_dev &&
        in_st.st_ino == out_st.st_ino) {
        fprintf(stderr, "pyflame-c convert: refusing to overwrite the input trace '%s'\n",
                o.output);
        return 2;
    }

    pf_error err;
    pf_error_clear(&err);
    pf_trace *t = pf_trace_read(o.input, &err);
    if (t == NULL)
        return fail_file(o.input, &err);
    if (t->meta.flags & PF_FLAG_OUT_OF_MEMORY)
        fprintf(stderr, "pyflame-c: warning: %s: the collector ran out of memory while "
                "recording; the profile is incomplete\n", o.input);

    /* Check what the trace must contain before creating any output. */
    int status = 1;
    const char *blame = o.input;
    pf_funcstats *fs = NULL;
    pf_output *out = NULL;
    if (o.format == FMT_PSTATS || o.format == FMT_TEXT) {
        fs = pf_funcstats_build(t, &err);
        if (fs == NULL)
            goto done;
    }
    int memory_metric = o.frame.metric != PF_METRIC_SELF_TIME && o.frame.metric != PF_METRIC_CALLS;
    int memory_sort = o.text.sort == PF_SORT_ALLOC || o.text.sort == PF_SORT_PEAK
                      || o.text.sort == PF_SORT_EXIT;
    if (((o.format == FMT_COLLAPSED && memory_metric) || (o.format == FMT_TEXT && memory_sort)) &&
        !(t->meta.modes & PF_MODE_MEMORY)) {
        pf_error_set(&err, PF_EUSAGE, "--%s %s needs a trace recorded with memory data "
                     "(pyflame-c collect --memory)",
                     o.format == FMT_TEXT ? "sort" : "metric",
                     o.format == FMT_TEXT ? sort_names[o.text.sort] : metric_names[o.frame.metric]);
        goto done;
    }
    if (o.format == FMT_LINES && !(t->meta.modes & PF_MODE_LINES)) {
        pf_error_set(&err, PF_EEMPTY, "the trace has no line data (it was recorded "
                     "without line tracing)");
        goto done;
    }

    blame = o.output ? o.output : "<stdout>";
    out = pf_output_open(o.output, &err);
    if (out == NULL)
        goto done;
    FILE *f = pf_output_stream(out);
    int rc;
    switch (o.format) {
    case FMT_COLLAPSED: rc = pf_folded_write(t, &o.frame, f, &err); break;
    case FMT_PSTATS:    rc = pf_pstats_write(fs, f, &err); break;
    case FMT_TEXT:      rc = pf_text_write(t, fs, &o.text, f, &err); break;
    case FMT_LINES:     rc = pf_lines_write(t, f, &err); break;
    default:            rc = pf_error_set(&err, PF_EUSAGE, "no format"); break;
    }
    if (rc < 0) {
        /* A converter's own complaint is about the trace; a write error about the output. */
        if (err.code != PF_EIO)
            blame = o.input;
        pf_output_abort(out);
        out = NULL;
        goto done;
    }
    rc = pf_output_commit(out, &err);
    out = NULL;
    if (rc < 0)
        goto done;
    status = 0;
done:
    if (status != 0)
        status = fail_file(blame, &err);
    pf_output_abort(out);
    pf_funcstats_free(fs);
    pf_trace_free(t);
    return status;
}
