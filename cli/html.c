/* html.c: `pyflame-c html`: its options, reading the trace, writing the report to
 * stdout or (through formats/output.h: a temporary file renamed into place) to -o FILE.
 * The report itself is render/html.h's. */
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"
#include "cli/common.h"
#include "cli/help.h"
#include "cli/opts.h"
#include "formats/asyncview.h"
#include "formats/output.h"
#include "formats/trace.h"
#include "render/html.h"

enum { OPT_OUTPUT = 1, OPT_TITLE, OPT_LIMIT, OPT_THRESHOLD, OPT_CONTEXT, OPT_FULL_PATHS,
       OPT_MAX_MEMORY, OPT_ASYNC, OPT_HELP };

static const pf_opt html_opts[] = {
    { "output", 'o', PF_OPT_VALUE, OPT_OUTPUT, "FILE", "@file",
      "write to FILE (temporary file + rename) instead of standard output ('-')" },
    { "title", 0, PF_OPT_VALUE, OPT_TITLE, "TEXT", NULL,
      "page title (default: 'Profile of' the program name)" },
    { "limit", 0, PF_OPT_VALUE, OPT_LIMIT, "N", NULL,
      "show the source of only the N hottest files (default and " PF_CLI_LIMIT_ALL ")" },
    { "threshold", 0, PF_OPT_VALUE, OPT_THRESHOLD, "PCT", NULL,
      "hide files with less than PCT% of the self time (0-100, '%' optional)" },
    { "context", 0, PF_OPT_VALUE, OPT_CONTEXT, "N", NULL,
      "lines shown around lines with data before folding (default 3; 0-1000)" },
    { "full-paths", 0, PF_OPT_FLAG, OPT_FULL_PATHS, NULL, NULL,
      "show file names whole, not relative to sys.path" },
    { "async", 0, PF_OPT_FLAG, OPT_ASYNC, NULL, NULL,
      "the async view of the function table: each asyncio task's time under the code "
      "that created it (<task>), thread pool work under the code that submitted it "
      "(<thread pool>), not under the event loop; line data is unchanged" },
    { "max-memory", 0, PF_OPT_VALUE, OPT_MAX_MEMORY, "SIZE", NULL, PF_CLI_MAX_MEMORY_HELP },
    { "help", 'h', PF_OPT_FLAG, OPT_HELP, NULL, NULL, "show this help" },
};

const pf_command pf_html_command = {
    "html",
    "render line-annotated source from a trace",
    "pyflame-c html [options] TRACE",
    "Render a trace as one self-contained HTML page: run metadata, the hottest files, "
    "lines and functions, a sortable function table, and each file's source annotated "
    "with per-line hits, time, self time, share of the run and (with memory data) "
    "allocated / live-at-peak / live-at-exit bytes.  TRACE is a trace from `pyflame-c "
    "collect` ('-' for standard input), or a pstats file or speedscope JSON from another "
    "profiler (without line data); collapsed stacks have no lines to show: `pyflame-c "
    "svg` renders them.",
    html_opts, sizeof html_opts / sizeof html_opts[0], "@file",
    "Example:\n"
    "\n"
    "  pyflame-c collect --lines -o trace.gz app.py\n"
    "  pyflame-c html --limit 10 -o report.html trace.gz",
    pf_cmd_html,
};

int pf_cmd_html(int argc, char **argv)
{
    pf_html_opts opts;
    pf_html_opts_init(&opts);
    const char *output = NULL, *input = NULL;
    uint64_t max_memory = 0;
    int async_view = 0;
    pf_opts p;
    pf_opts_init(&p, "html", html_opts, sizeof html_opts / sizeof html_opts[0], argc, argv);
    int id;
    unsigned long n;
    while ((id = pf_opts_next(&p)) != PF_OPTS_END) {
        switch (id) {
        case PF_OPTS_ERROR:
            return PF_EXIT_USAGE;
        case PF_OPTS_ARG:
            if (input)
                return pf_opts_usage_error(&p, "unexpected argument '%s' (one TRACE only)", p.value);
            input = p.value;
            break;
        case OPT_HELP:
            pf_help_print(&pf_html_command, stdout);
            return PF_EXIT_OK;
        case OPT_FULL_PATHS:
            opts.full_paths = 1;
            break;
        case OPT_ASYNC:
            async_view = 1;
            break;
        case OPT_OUTPUT:
            if (pf_cli_parse_output(&p, &output) < 0)
                return PF_EXIT_USAGE;
            break;
        case OPT_MAX_MEMORY:
            if (pf_cli_parse_max_memory("html", p.value, &max_memory) < 0)
                return PF_EXIT_USAGE;
            break;
        case OPT_TITLE:
            opts.title = p.value;
            break;
        case OPT_LIMIT:
            if (pf_cli_parse_limit(&p, &opts.limit) < 0)
                return PF_EXIT_USAGE;
            break;
        case OPT_THRESHOLD:
            if (pf_opts_percent(&p, &opts.threshold_pct) < 0)
                return PF_EXIT_USAGE;
            break;
        case OPT_CONTEXT:
            if (pf_opts_uint(&p, "a number of lines (0-1000)", 1000, &n) < 0)
                return PF_EXIT_USAGE;
            opts.context = (uint32_t)n;
            break;
        }
    }
    if (!input)
        return pf_opts_usage_error(&p, "missing TRACE argument");
    if (pf_cli_output_is_input("html", input, output))
        return PF_EXIT_USAGE;

    pf_error err;
    pf_error_clear(&err);
    pf_trace *t = pf_cli_read_trace(input, max_memory, &err);
    if (!t)
        return pf_cli_fail(input, &err);
    if (async_view && pf_trace_async_view(t, &err) < 0) {
        pf_trace_free(t);
        return pf_cli_fail(input, &err);
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
        pf_cli_fail(output ? output : "<stdout>", &err);
    pf_trace_free(t);
    return rc == 0 ? PF_EXIT_OK : PF_EXIT_FAIL;
}
