/* convert.c: `pyflame-c convert`: its options, reading the trace, choosing the output
 * (temp file + rename, or stdout) and turning every failure into one message and an
 * exit status (0 ok, 1 bad input or I/O, 2 usage).  The work is convert/convert.h's. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli/commands.h"
#include "cli/common.h"
#include "cli/help.h"
#include "cli/opts.h"
#include "convert/convert.h"
#include "formats/asyncview.h"
#include "formats/budget.h"
#include "formats/output.h"
#include "formats/trace.h"

enum { OPT_FORMAT = 1, OPT_OUTPUT, OPT_METRIC, OPT_GRANULARITY, OPT_SORT, OPT_LIMIT,
       OPT_FULL_PATHS, OPT_MAX_MEMORY, OPT_MAX_OUTPUT, OPT_ASYNC, OPT_PSTATS_PLAIN, OPT_HELP };

static const pf_opt convert_opts[] = {
    { "format", 'f', PF_OPT_VALUE, OPT_FORMAT, "FORMAT",
      "collapsed pstats text lines markdown speedscope pprof callgrind",
      "the output format: collapsed, pstats, text, lines, markdown, speedscope, pprof or "
      "callgrind (above)" },
    { "output", 'o', PF_OPT_VALUE, OPT_OUTPUT, "FILE", "@file",
      "write to FILE (temporary file + rename) instead of standard output ('-')" },
    { "metric", 0, PF_OPT_VALUE, OPT_METRIC, "M", PF_CLI_METRICS,
      "collapsed: the value of each stack, one of\n"
      "  self-time    self time in microseconds (default)\n"
      "  calls        number of calls\n"
      "  alloc-bytes  bytes allocated        (memory traces)\n"
      "  alloc-count  allocations            (memory traces)\n"
      "  peak-bytes   bytes live at the peak (memory traces)\n"
      "  exit-bytes   bytes live at the end  (memory traces)" },
    { "granularity", 0, PF_OPT_VALUE, OPT_GRANULARITY, "G", "function line",
      "collapsed, speedscope, pprof, callgrind: 'function' (default) or 'line' (a frame "
      "per call-site line; for callgrind, self time per line from collect --lines)" },
    { "full-paths", 0, PF_OPT_FLAG, OPT_FULL_PATHS, NULL, NULL,
      "collapsed, text: keep file names whole instead of relative to the working "
      "directory / sys.path" },
    { "sort", 0, PF_OPT_VALUE, OPT_SORT, "KEY",
      "self cumulative calls alloc peak exit tottime cumtime ncalls",
      "text: self (default), cumulative, calls, alloc, peak, exit (the last three need "
      "a memory trace); pstats' names tottime, cumtime, ncalls work too" },
    { "limit", 0, PF_OPT_VALUE, OPT_LIMIT, "N", NULL,
      "text, markdown: show N functions (text: default 30) or N rows per table "
      "(markdown: default 10); " PF_CLI_LIMIT_ALL },
    { "max-output", 0, PF_OPT_VALUE, OPT_MAX_OUTPUT, "SIZE", NULL,
      "collapsed: refuse output larger than SIZE (default 4G; 0 = no limit): deep "
      "stacks repeat on every line" },
    { "async", 0, PF_OPT_FLAG, OPT_ASYNC, NULL, NULL,
      "text, collapsed: the async view: each asyncio task's calls under the code that "
      "created it (a <task> frame at its gather / create_task / TaskGroup line), "
      "thread pool work (to_thread, run_in_executor, submit) under the code that "
      "submitted it (<thread pool>), instead of under the event loop or the pool's "
      "thread; calls still count each coroutine resume, as cProfile does (pstats has "
      "no view)" },
    { "pstats-plain", 0, PF_OPT_FLAG, OPT_PSTATS_PLAIN, NULL, NULL,
      "pstats of a sampled trace: leave out the (\"__sampled__\",) mark, for pstats "
      "before 3.15, which cannot load a marked file" },
    { "max-memory", 0, PF_OPT_VALUE, OPT_MAX_MEMORY, "SIZE", NULL, PF_CLI_MAX_MEMORY_HELP },
    { "help", 'h', PF_OPT_FLAG, OPT_HELP, NULL, NULL, "show this help" },
};

const pf_command pf_convert_command = {
    "convert",
    "turn a trace into pstats, text, collapsed stacks, pprof and more",
    "pyflame-c convert -f FORMAT [options] [-o OUT] TRACE",
    "Turn a trace written by `pyflame-c collect` into another format.  TRACE may be '-' "
    "for standard input, or another profiler's file: a pstats file (cProfile, "
    "profiling.tracing, yappi) or speedscope JSON (py-spy, pyinstrument).  Without -o, "
    "text formats go to standard output; the binary pstats and pprof formats need -o or "
    "a redirected standard output.  With -o the result is written to a temporary file "
    "beside OUT and renamed into place only on success.\n"
    "\n"
    "Formats (-f, --format):\n"
    "\n"
    "  collapsed  folded stacks for flamegraph.pl / inferno / speedscope: one line per\n"
    "             distinct stack, \"thread;frame;...;frame VALUE\", threads as root frames\n"
    "  pstats     a cProfile/pstats file: pstats.Stats(OUT), snakeviz, gprof2dot; call\n"
    "             counts and callers match what `python -m cProfile -o` records.  Of a\n"
    "             sampled trace (collect --sample, attach): sample counts in the layout\n"
    "             of 3.15's profiling.sampling, marked (\"__sampled__\",) so that 3.15's\n"
    "             pstats loads it as SampledStats; --pstats-plain leaves the mark out\n"
    "  text       the top functions as a pstats-style table (ncalls tottime percall\n"
    "             cumtime percall file:line(function), functions by qualname), with\n"
    "             the command line, Python version and totals; plain text, no colours\n"
    "  lines      per-line table as tab-separated values with a header row:\n"
    "             file line function hits time_ns self_ns\n"
    "             (+ alloc_bytes alloc_count peak_bytes exit_bytes for memory traces);\n"
    "             in text fields '\\' '\\t' '\\n' '\\r' are escaped as \\\\ \\t \\n \\r\n"
    "  markdown   a review-sized summary for a pull request or a CI job summary\n"
    "             ($GITHUB_STEP_SUMMARY): headline, top functions, hottest lines, memory\n"
    "             peak; under 64 KB (--limit N rows per table, default 10)\n"
    "  speedscope speedscope's JSON (speedscope.app, npm speedscope): a profile per\n"
    "             thread in nanoseconds, plus bytes/allocations/peak for memory traces\n"
    "  pprof      gzipped profile.proto for `go tool pprof`, Grafana Pyroscope, Parca:\n"
    "             samples of calls, time (ns) and memory, thread and process labels\n"
    "  callgrind  callgrind format for KCachegrind / QCachegrind / callgrind_annotate:\n"
    "             self cost per line, calls with counts and inclusive costs",
    convert_opts, sizeof convert_opts / sizeof convert_opts[0], "@file",
    "Examples:\n"
    "\n"
    "  pyflame-c convert -f pstats -o app.prof trace.gz && python3 -m pstats app.prof\n"
    "  pyflame-c convert -f collapsed trace.gz | flamegraph.pl > flame.svg\n"
    "  pyflame-c convert -f text --sort cumulative --limit 20 trace.gz\n"
    "  pyflame-c convert -f collapsed --async trace.gz | flamegraph.pl > tasks.svg\n"
    "  pyflame-c convert -f speedscope -o profile.speedscope.json trace.gz\n"
    "  pyflame-c convert -f pprof -o profile.pb.gz trace.gz",
    pf_cmd_convert,
};

/* pstats' own sort names, for people used to sort_stats(). */
static const char *const sort_aliases[] = { "tottime", "cumtime", "ncalls" };

#define N(a) (sizeof(a) / sizeof((a)[0]))

struct options {
    pf_convert_opts c;
    const char *output;           /* NULL: stdout */
    const char *input;
    uint64_t max_memory;          /* 0: the default budget */
    int async_view;               /* --async: pf_trace_async_view before converting */
    int saw_metric, saw_granularity, saw_sort, saw_limit, saw_max_output;
};

/* Parses argv into o.  Returns -1 to continue, or an exit status (0 for --help). */
static int parse(int argc, char **argv, struct options *o)
{
    pf_opts p;
    pf_opts_init(&p, "convert", convert_opts, N(convert_opts), argc, argv);
    int id, v;
    uint32_t limit;
    while ((id = pf_opts_next(&p)) != PF_OPTS_END) {
        switch (id) {
        case PF_OPTS_ERROR:
            return PF_EXIT_USAGE;
        case PF_OPTS_ARG:
            if (o->input != NULL)
                return pf_opts_usage_error(&p, "unexpected extra argument '%s' (one trace at a time)",
                                           p.value);
            o->input = p.value;
            break;
        case OPT_HELP:
            pf_help_print(&pf_convert_command, stdout);
            return PF_EXIT_OK;
        case OPT_FULL_PATHS:
            o->c.frame.full_paths = 1;
            o->c.text.full_paths = 1;
            break;
        case OPT_PSTATS_PLAIN:
            o->c.pstats_plain = 1;
            break;
        case OPT_ASYNC:
            o->async_view = 1;
            break;
        case OPT_FORMAT:
            v = pf_opts_choice(&p, "format", pf_convert_format_names + 1,
                               N(pf_convert_format_names) - 1);
            if (v < 0)
                return PF_EXIT_USAGE;
            o->c.format = (enum pf_convert_format)(v + 1);
            break;
        case OPT_OUTPUT:
            if (pf_cli_parse_output(&p, &o->output) < 0)
                return PF_EXIT_USAGE;
            break;
        case OPT_MAX_OUTPUT:
            if (pf_budget_parse(p.value, &o->c.max_output) < 0)
                return pf_opts_usage_error(&p, "--max-output wants a size such as 8G (0 = no "
                                           "limit), not '%s'", p.value);
            o->saw_max_output = 1;
            break;
        case OPT_MAX_MEMORY:
            if (pf_cli_parse_max_memory("convert", p.value, &o->max_memory) < 0)
                return PF_EXIT_USAGE;
            break;
        case OPT_METRIC:
            if ((v = pf_opts_choice(&p, "metric", pf_metric_names, N(pf_metric_names))) < 0)
                return PF_EXIT_USAGE;
            o->c.frame.metric = (enum pf_metric)v;
            o->saw_metric = 1;
            break;
        case OPT_GRANULARITY:
            v = pf_opts_choice(&p, "granularity", pf_granularity_names, N(pf_granularity_names));
            if (v < 0)
                return PF_EXIT_USAGE;
            o->c.frame.granularity = (enum pf_granularity)v;
            o->saw_granularity = 1;
            break;
        case OPT_SORT:
            v = -1;
            for (size_t k = 0; k < N(sort_aliases); k++)
                if (strcmp(p.value, sort_aliases[k]) == 0)
                    v = (int)k;
            if (v < 0 && (v = pf_opts_choice(&p, "sort key", pf_text_sort_names,
                                             N(pf_text_sort_names))) < 0)
                return PF_EXIT_USAGE;
            o->c.text.sort = (enum pf_text_sort)v;
            o->saw_sort = 1;
            break;
        case OPT_LIMIT:
            if (pf_cli_parse_limit(&p, &limit) < 0)
                return PF_EXIT_USAGE;
            o->c.text.limit = limit;
            o->saw_limit = 1;
            break;
        }
    }
    if (o->c.format == PF_CONVERT_NONE)
        return pf_opts_usage_error(&p, "missing -f FORMAT (collapsed, pstats, text, lines, "
                                   "markdown, speedscope, pprof, callgrind)");
    if (o->input == NULL)
        return pf_opts_usage_error(&p, "missing the trace file (use '-' for standard input)");
    if (o->saw_metric && o->c.format != PF_CONVERT_COLLAPSED)
        return pf_opts_usage_error(&p, "--metric applies to -f collapsed only (speedscope, "
                                   "pprof and callgrind carry every metric)");
    if (o->saw_granularity && o->c.format != PF_CONVERT_COLLAPSED &&
        o->c.format != PF_CONVERT_SPEEDSCOPE && o->c.format != PF_CONVERT_PPROF &&
        o->c.format != PF_CONVERT_CALLGRIND)
        return pf_opts_usage_error(&p, "--granularity applies to -f collapsed, speedscope, "
                                   "pprof and callgrind only");
    if (o->saw_max_output && o->c.format != PF_CONVERT_COLLAPSED)
        return pf_opts_usage_error(&p, "--max-output applies to -f collapsed only");
    if (o->saw_sort && o->c.format != PF_CONVERT_TEXT)
        return pf_opts_usage_error(&p, "--sort applies to -f text only");
    if (o->saw_limit && o->c.format != PF_CONVERT_TEXT && o->c.format != PF_CONVERT_MARKDOWN)
        return pf_opts_usage_error(&p, "--limit applies to -f text and markdown only");
    if (o->c.format == PF_CONVERT_MARKDOWN && !o->saw_limit)
        o->c.text.limit = 10;
    if (o->async_view && o->c.format == PF_CONVERT_PSTATS)
        return pf_opts_usage_error(&p, "--async does not apply to -f pstats: pstats holds "
                                   "per-function totals as cProfile counts them, which no view "
                                   "changes (use -f text --async or svg --async)");
    if (o->async_view && o->c.format != PF_CONVERT_TEXT && o->c.format != PF_CONVERT_COLLAPSED)
        return pf_opts_usage_error(&p, "--async applies to -f text and -f collapsed only");
    return -1;
}

int pf_cmd_convert(int argc, char **argv)
{
    struct options o;
    memset(&o, 0, sizeof o);
    pf_convert_opts_init(&o.c);
    int st = parse(argc, argv, &o);
    if (st >= 0)
        return st;
    if ((o.c.format == PF_CONVERT_PSTATS || o.c.format == PF_CONVERT_PPROF) &&
        o.output == NULL && isatty(STDOUT_FILENO)) {
        fprintf(stderr, "pyflame-c convert: refusing to write binary %s data to a terminal;\n"
                "use -o FILE or redirect standard output.\n", pf_convert_format_names[o.c.format]);
        return PF_EXIT_USAGE;
    }
    if (pf_cli_output_is_input("convert", o.input, o.output))
        return PF_EXIT_USAGE;

    pf_error err;
    pf_error_clear(&err);
    pf_trace *t = pf_cli_read_trace(o.input, o.max_memory, &err);
    if (t == NULL)
        return pf_cli_fail(o.input, &err);

    /* Check what the trace must contain before creating any output. */
    int status = PF_EXIT_FAIL;
    const char *blame = o.input;
    pf_output *out = NULL;
    if (pf_convert_check(t, &o.c, &err) < 0)
        goto done;
    if (o.async_view && pf_trace_async_view(t, &err) < 0)
        goto done;
    blame = o.output ? o.output : "<stdout>";
    out = pf_output_open(o.output, &err);
    if (out == NULL)
        goto done;
    if (pf_convert_write(t, &o.c, pf_output_stream(out), &err) < 0) {
        /* A converter's own complaint is about the trace; a write error about the output. */
        if (err.code != PF_EIO)
            blame = o.input;
        goto done;
    }
    int rc = pf_output_commit(out, &err);
    out = NULL;
    if (rc == 0)
        status = PF_EXIT_OK;
done:
    if (status != PF_EXIT_OK)
        status = pf_cli_fail(blame, &err);
    pf_output_abort(out);
    pf_trace_free(t);
    return status;
}
