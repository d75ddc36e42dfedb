/* merge.c: `pyflame-c merge`: sums the traces of several runs (processes, machines,
 * CI shards) into one trace, reading one input at a time (formats/trace_merge.h), so
 * merging a hundred runs of a program costs the memory of the merged tree plus the
 * largest input, not of all inputs.  The output is written only when every input has
 * been read, through a temporary file renamed into place: a bad input leaves no file. */
#include <stdio.h>
#include <string.h>

#include <unistd.h>

#include "cli/commands.h"
#include "cli/common.h"
#include "cli/help.h"
#include "cli/opts.h"
#include "cli/progress.h"
#include "formats/trace.h"
#include "formats/trace_merge.h"

enum { OPT_OUTPUT = 1, OPT_QUIET, OPT_MAX_MEMORY, OPT_HELP };

static const pf_opt merge_opts[] = {
    { "output", 'o', PF_OPT_VALUE, OPT_OUTPUT, "FILE", "@file",
      "the merged trace (required; temporary file + rename, so a bad input leaves no "
      "file; '-' = standard output)" },
    { "quiet", 'q', PF_OPT_FLAG, OPT_QUIET, NULL, NULL, "do not print the summary line" },
    { "max-memory", 0, PF_OPT_VALUE, OPT_MAX_MEMORY, "SIZE", NULL, PF_CLI_MAX_MEMORY_HELP },
    { "help", 'h', PF_OPT_FLAG, OPT_HELP, NULL, NULL, "show this help" },
};

const pf_command pf_merge_command = {
    "merge",
    "sum the traces of several runs, processes or machines into one",
    "pyflame-c merge [options] -o OUT TRACE TRACE...",
    "Sum the traces of several runs of a program (repeated runs, CI shards, several "
    "machines) into one trace that every command reads.  Equal calling contexts add up: "
    "calls, times, line hits and times, and memory counters; sources are kept once per "
    "file.  Processes match by command line, threads by name.  Each run's memory "
    "attribution is its own peak's, added up (runs share no moment); the merged peak is "
    "the highest run's.  Traces recorded in other modes (calls, lines, memory, samples), "
    "with another clock (wall, --clock cpu) or sampled at another rate or in another "
    "sample mode are refused.  One TRACE may be '-' (standard "
    "input).\n"
    "\n"
    "Inputs are read one at a time: the memory needed is the merged tree's plus one "
    "input's, whatever their number.",
    merge_opts, sizeof merge_opts / sizeof merge_opts[0], "@file",
    "Example:\n"
    "\n"
    "  for i in 1 2 3; do pyflame-c collect -q -o run-$i.gz app.py; done\n"
    "  pyflame-c merge -o all.gz run-*.gz && pyflame-c svg all.gz > flame.svg",
    pf_cmd_merge,
};

int pf_cmd_merge(int argc, char **argv)
{
    const char *output = NULL;
    uint64_t max_memory = 0;
    int quiet = 0, ninputs = 0, output_given = 0;
    pf_opts p;
    pf_opts_init(&p, "merge", merge_opts, sizeof merge_opts / sizeof merge_opts[0], argc, argv);
    int id;
    while ((id = pf_opts_next(&p)) != PF_OPTS_END) {
        switch (id) {
        case PF_OPTS_ERROR:
            return PF_EXIT_USAGE;
        case PF_OPTS_ARG:
            argv[1 + ninputs++] = (char *)p.value;   /* collect them in place */
            break;
        case OPT_HELP:
            pf_help_print(&pf_merge_command, stdout);
            return PF_EXIT_OK;
        case OPT_QUIET:
            quiet = 1;
            break;
        case OPT_OUTPUT:
            if (pf_cli_parse_output(&p, &output) < 0)
                return PF_EXIT_USAGE;
            output_given = 1;
            break;
        case OPT_MAX_MEMORY:
            if (pf_cli_parse_max_memory("merge", p.value, &max_memory) < 0)
                return PF_EXIT_USAGE;
            break;
        }
    }
    char **inputs = argv + 1;
    if (ninputs == 0)
        return pf_opts_usage_error(&p, "missing TRACE arguments");
    if (!output_given)
        return pf_opts_usage_error(&p, "missing -o OUT (the merged trace; '-' for standard "
                                   "output)");
    if (output == NULL && isatty(STDOUT_FILENO)) {
        fputs("pyflame-c merge: refusing to write a binary trace to a terminal;\n"
              "use -o FILE or redirect standard output.\n", stderr);
        return PF_EXIT_USAGE;
    }
    const char *out_name = output ? output : "<stdout>";
    int nstdin = 0;
    for (int i = 0; i < ninputs; i++) {
        if (pf_cli_output_is_input("merge", inputs[i], output))
            return PF_EXIT_USAGE;
        nstdin += strcmp(inputs[i], "-") == 0;
    }
    if (nstdin > 1)
        return pf_opts_usage_error(&p, "standard input ('-') can be read only once");

    pf_error err;
    pf_error_clear(&err);
    pf_trace_sum *sum = pf_trace_sum_new();
    if (sum == NULL) {
        pf_error_set(&err, PF_ENOMEM, NULL);
        return pf_cli_fail(out_name, &err);
    }
    for (int i = 0; i < ninputs; i++) {
        char label[64];
        snprintf(label, sizeof label, "trace %d of %d", i + 1, ninputs);
        pf_cli_progress_label(ninputs > 1 ? label : NULL);
        pf_trace *t = pf_cli_read_trace(inputs[i], max_memory, &err);
        if (t == NULL) {
            pf_trace_sum_free(sum);
            return pf_cli_fail(inputs[i], &err);
        }
        int rc = pf_trace_sum_add(sum, t, pf_cli_input_name(inputs[i]), &err);
        pf_trace_free(t);
        if (rc < 0) {
            pf_trace_sum_free(sum);
            int status = pf_cli_fail(inputs[i], &err);
            return err.code == PF_EMISMATCH ? PF_EXIT_USAGE : status;
        }
    }
    pf_cli_progress_label(NULL);
    pf_trace *merged = pf_trace_sum_detach(sum, &err);
    pf_trace_sum_free(sum);
    if (merged == NULL)
        return pf_cli_fail(out_name, &err);
    int rc = pf_trace_write(merged, output ? output : "-", &err);
    if (rc == 0 && !quiet)
        fprintf(stderr, "pyflame-c: merged %d trace%s into %s (%u nodes, %llu %s)\n",
                ninputs, ninputs == 1 ? "" : "s", out_name, merged->nnodes,
                (unsigned long long)merged->meta.total_calls,
                pf_trace_is_sampled(merged) ? "samples" : "calls");
    pf_trace_free(merged);
    if (rc < 0)
        return pf_cli_fail(out_name, &err);
    return PF_EXIT_OK;
}
