/* svg.c: `pyflame-c svg`: its options (flamegraph.pl's names where it has one),
 * reading the input through the one input reader (formats/input.h: file or stdin,
 * plain or gzip, a trace or collapsed stacks told apart by content), streaming
 * collapsed stacks into the stack tree so memory never holds the whole input, and
 * writing the result to stdout or to a temporary file renamed into place.  Exit
 * status: 0 ok, 1 bad input or I/O, 2 usage.  The drawing is render/svg.h's. */
#include <malloc.h>
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"
#include "cli/common.h"
#include "cli/help.h"
#include "cli/opts.h"
#include "convert/convert.h"
#include "formats/asyncview.h"
#include "formats/collapsed.h"
#include "formats/input.h"
#include "formats/output.h"
#include "formats/stacktree.h"
#include "formats/trace.h"
#include "render/palette.h"
#include "render/svg.h"

#define MAX_WARNINGS 10           /* malformed-line warnings printed before summarising */

struct options {
    pf_svg_opts svg;
    pf_stack_opts frame;          /* the tree's shape: order, reverse, base, factor, metric */
    const char *input;
    const char *output;           /* NULL: stdout */
    uint64_t max_memory;          /* 0: the default decoding budget */
    int strict;
    int async_view;               /* --async (traces): pf_trace_async_view first */
    int saw_colors, saw_countname;
};

enum {
    OPT_OUTPUT = 1, OPT_HELP, OPT_TITLE, OPT_SUBTITLE, OPT_WIDTH, OPT_HEIGHT, OPT_MINWIDTH,
    OPT_COUNTNAME, OPT_FONTSIZE, OPT_FONTTYPE, OPT_COLORS, OPT_HASH, OPT_INVERTED,
    OPT_REVERSE, OPT_FLAMECHART, OPT_NEGATE, OPT_NOTES, OPT_TRUNCATE_START, OPT_BASE,
    OPT_STRICT, OPT_METRIC, OPT_GRANULARITY, OPT_FULL_PATHS, OPT_HTML_LINK, OPT_BGCOLORS,
    OPT_FACTOR, OPT_MAX_MEMORY, OPT_ASYNC
};

static const pf_opt svg_opts[] = {
    { NULL, 0, PF_OPT_FLAG, 0, NULL, NULL, "Options (flamegraph.pl's names)" },
    { "output", 'o', PF_OPT_VALUE, OPT_OUTPUT, "FILE", "@file",
      "write to FILE (temporary file + rename) instead of standard output ('-')" },
    { "title", 0, PF_OPT_VALUE, OPT_TITLE, "TEXT", NULL,
      "title (default \"Flame Graph\"; for a trace, its program and what a frame's "
      "width means, e.g. \"app.py: wall time\")" },
    { "subtitle", 0, PF_OPT_VALUE, OPT_SUBTITLE, "TEXT", NULL, "second title line" },
    { "width", 0, PF_OPT_VALUE, OPT_WIDTH, "PX", NULL,
      "image width (default 1200; the SVG then fits the window)" },
    { "height", 0, PF_OPT_VALUE, OPT_HEIGHT, "PX", NULL, "height of one frame row (default 16)" },
    { "minwidth", 0, PF_OPT_VALUE, OPT_MINWIDTH, "N[%]", NULL,
      "omit frames narrower than N px, or N percent of the total (default 0.1 px)" },
    { "countname", 0, PF_OPT_VALUE, OPT_COUNTNAME, "NAME", NULL,
      "what the counts are (default \"samples\")" },
    { "fontsize", 0, PF_OPT_VALUE, OPT_FONTSIZE, "PX", NULL, "font size (default 12)" },
    { "fonttype", 0, PF_OPT_VALUE, OPT_FONTTYPE, "FONT", NULL, "font family (default Verdana)" },
    { "colors", 0, PF_OPT_VALUE, OPT_COLORS, "PALETTE",
      "hot mem io wakeup chain java js perl red green blue aqua yellow purple orange python",
      "hot (default for stacks), mem, io, wakeup, chain, java, js, perl, red, green, "
      "blue, aqua, yellow, purple, orange, python (default for traces: user code, "
      "standard library, third-party packages and builtins in different hues, with a "
      "legend under the title)" },
    { "hash", 0, PF_OPT_FLAG, OPT_HASH, NULL, NULL,
      "colour by a name hash that keeps similar names similar (colours are always the "
      "same for the same name)" },
    { "inverted", 0, PF_OPT_FLAG, OPT_INVERTED, NULL, NULL, "icicle graph: roots at the top" },
    { "reverse", 0, PF_OPT_FLAG, OPT_REVERSE, NULL, NULL,
      "reverse every stack (leaf functions become roots)" },
    { "flamechart", 0, PF_OPT_FLAG, OPT_FLAMECHART, NULL, NULL,
      "keep input order instead of merging by name: x is time" },
    { "negate", 0, PF_OPT_FLAG, OPT_NEGATE, NULL, NULL, "differential: swap red and blue" },
    { "notes", 0, PF_OPT_VALUE, OPT_NOTES, "TEXT", NULL,
      "keep TEXT in the SVG (<desc id=\"notes\">)" },
    { "bgcolors", 0, PF_OPT_VALUE, OPT_BGCOLORS, "COLOR", "yellow blue green grey",
      "background: yellow, blue, green, grey or #rrggbb (default by palette, as "
      "flamegraph.pl)" },
    { "factor", 0, PF_OPT_VALUE, OPT_FACTOR, "F", NULL,
      "multiply every count by F (e.g. to scale units)" },
    { "truncate-start", 0, PF_OPT_FLAG, OPT_TRUNCATE_START, NULL, NULL,
      "cut long names at the start (\"..tail\") instead of the end" },
    { "base", 0, PF_OPT_VALUE, OPT_BASE, "FUNC", NULL,
      "keep only stacks through a frame named FUNC (also matches \"FUNC (file:line)\"), "
      "drawn from that frame up" },
    { "strict", 0, PF_OPT_FLAG, OPT_STRICT, NULL, NULL,
      "malformed input lines are errors (default: warn, skip)" },
    { "help", 'h', PF_OPT_FLAG, OPT_HELP, NULL, NULL, "show this help" },
    { NULL, 0, PF_OPT_FLAG, 0, NULL, NULL, "Trace input only (pstats and speedscope files too)" },
    { "metric", 0, PF_OPT_VALUE, OPT_METRIC, "M", PF_CLI_METRICS,
      "self-time (default), calls, alloc-bytes, alloc-count, peak-bytes, exit-bytes "
      "(memory metrics: memory palette)" },
    { "granularity", 0, PF_OPT_VALUE, OPT_GRANULARITY, "G", "function line",
      "function (default) or line (a frame per call-site line)" },
    { "full-paths", 0, PF_OPT_FLAG, OPT_FULL_PATHS, NULL, NULL,
      "keep file names whole in frame names" },
    { "html-link", 0, PF_OPT_VALUE, OPT_HTML_LINK, "REPORT", "@file",
      "frames link to REPORT#code-N (a `pyflame-c html` report; ctrl-click or "
      "ctrl-Enter follows the link)" },
    { "async", 0, PF_OPT_FLAG, OPT_ASYNC, NULL, NULL,
      "the async view: each asyncio task under the code that created it (a <task> "
      "frame at its gather / create_task / TaskGroup line), thread pool work under the "
      "code that submitted it (<thread pool>), not under the event loop" },
    { "max-memory", 0, PF_OPT_VALUE, OPT_MAX_MEMORY, "SIZE", NULL, PF_CLI_MAX_MEMORY_HELP },
};

const pf_command pf_svg_command = {
    "svg",
    "render an interactive flame graph from a trace or collapsed stacks",
    "pyflame-c svg [options] INPUT [-o OUT.svg]",
    "Render an interactive flame graph as one self-contained SVG file.  INPUT is a "
    "trace from `pyflame-c collect`, collapsed (\"folded\") stacks from any profiler "
    "(py-spy, austin, perf + stackcollapse-*.pl, `pyflame-c convert -f collapsed`), a "
    "pstats file (cProfile, profiling.tracing, yappi: stacks rebuilt from the caller "
    "graph, an approximation the subtitle states) or speedscope JSON (py-spy, "
    "pyinstrument); gzipped collapsed files are read too, '-' reads standard input.  "
    "Raw `perf script` output is recognised and refused: fold it first "
    "(stackcollapse-perf.pl).\n"
    "\n"
    "A trace's graph is titled by its program and what a frame's width means, and the "
    "python palette (the default for traces) has a legend: your code, standard library, "
    "third-party, builtins.  The graph keeps to itself when inlined in a page: its "
    "style is scoped to its root element and its script defines no global.\n"
    "\n"
    "Lines with two counts (\"stack before after\", difffolded.pl's output) make a "
    "differential graph, as flamegraph.pl draws it: sized by the second count, each "
    "frame coloured by the change of its own (self) count, red where it grew, blue "
    "where it shrank, white where it did not change (the `all` row, and frames whose "
    "change is all in their callees); tooltips give both the self and the total "
    "change.  `pyflame-c diff -f svg` compares whole runs, frame totals included.",
    svg_opts, sizeof svg_opts / sizeof svg_opts[0], "@file",
    "In the SVG: click a frame to zoom, 'Reset Zoom' or Escape to go back; 'Search' or "
    "Ctrl-F searches with a regular expression ('ic' toggles ignore-case); Tab and the "
    "arrow keys move between frames, Enter zooms.  Zoom and search are kept in the URL.\n"
    "\n"
    "Examples:\n"
    "\n"
    "  pyflame-c svg trace.gz > flame.svg\n"
    "  py-spy record -f raw -o out.folded -- python app.py && pyflame-c svg out.folded -o flame.svg\n"
    "  perf script | stackcollapse-perf.pl | pyflame-c svg --colors java - > perf.svg\n"
    "  pyflame-c svg --async trace.gz > tasks.svg",
    pf_cmd_svg,
};

/* --minwidth: pixels ("0.1") or a percentage of the total ("0.5%"). */
static int parse_minwidth(pf_opts *p, pf_svg_opts *svg)
{
    const char *a = p->value;
    size_t n = strlen(a);
    char tmp[64];
    if (n == 0 || n >= sizeof tmp)
        goto bad;
    memcpy(tmp, a, n + 1);
    svg->minwidth_pct = tmp[n - 1] == '%';
    if (svg->minwidth_pct)
        tmp[n - 1] = '\0';
    if (strcmp(tmp, "0") == 0 || strcmp(tmp, "0.0") == 0) {
        svg->minwidth = 0;
        return 0;
    }
    p->value = tmp;
    int rc = pf_opts_double(p, "pixels (0.1) or a percentage (0.5%)", 0,
                            svg->minwidth_pct ? 100 : 1e9, &svg->minwidth);
    p->value = a;
    return rc;
bad:
    pf_opts_usage_error(p, "--minwidth wants pixels (0.1) or a percentage (0.5%%), not '%s'", a);
    return -1;
}

/* A non-empty value, or the usage error "OPTION wants WHAT". */
static int nonempty(const pf_opts *p, const char *what)
{
    if (p->value[0])
        return 0;
    pf_opts_usage_error(p, "%s wants %s", p->spelled, what);
    return -1;
}

/* Returns -1 to go on, else the exit status (0 for --help, 2 for bad usage). */
static int parse_args(int argc, char **argv, struct options *o)
{
    memset(o, 0, sizeof *o);
    pf_svg_opts_init(&o->svg);
    pf_stack_opts_init(&o->frame);
    pf_opts p;
    pf_opts_init(&p, "svg", svg_opts, sizeof svg_opts / sizeof svg_opts[0], argc, argv);
    int id, v;
    while ((id = pf_opts_next(&p)) != PF_OPTS_END) {
        const char *a = p.value;
        int bad = 0;
        switch (id) {
        case PF_OPTS_ERROR: return PF_EXIT_USAGE;
        case PF_OPTS_ARG:
            if (o->input != NULL)
                return pf_opts_usage_error(&p, "one input only, got also '%s'", a);
            o->input = a;
            break;
        case OPT_OUTPUT: bad = pf_cli_parse_output(&p, &o->output); break;
        case OPT_HELP: pf_help_print(&pf_svg_command, stdout); return PF_EXIT_OK;
        case OPT_TITLE: o->svg.title = a; break;
        case OPT_SUBTITLE: o->svg.subtitle = a; break;
        case OPT_WIDTH:
            bad = pf_opts_double(&p, "a number of pixels above 21", 2 * 10 + 1, 1e6, &o->svg.width);
            break;
        case OPT_HEIGHT:
            bad = pf_opts_double(&p, "a frame height in pixels (above 1)", 1, 1000,
                                 &o->svg.frame_height);
            break;
        case OPT_FONTSIZE:
            bad = pf_opts_double(&p, "a positive number of pixels", 0, 500, &o->svg.fontsize);
            break;
        case OPT_MINWIDTH: bad = parse_minwidth(&p, &o->svg); break;
        case OPT_COUNTNAME: o->svg.countname = a; o->saw_countname = 1; break;
        case OPT_FONTTYPE:
            bad = nonempty(&p, "a font name");
            o->svg.fonttype = a;
            break;
        case OPT_COLORS:
            if ((v = pf_palette_parse(a)) < 0) {
                pf_opts_usage_error(&p, "unknown palette '%s' (choose from %s)", a,
                                    pf_palette_names());
                return PF_EXIT_USAGE;
            }
            o->svg.palette = v;
            o->saw_colors = 1;
            break;
        case OPT_HASH: o->svg.hash = 1; break;
        case OPT_INVERTED: o->svg.inverted = 1; break;
        case OPT_REVERSE: o->frame.reverse = 1; break;
        case OPT_FLAMECHART: o->frame.order = PF_ORDER_CHART; break;
        case OPT_NEGATE: o->svg.negate = 1; break;
        case OPT_NOTES: o->svg.notes = a; break;
        case OPT_TRUNCATE_START: o->svg.truncate_start = 1; break;
        case OPT_BASE:
            bad = nonempty(&p, "a function name");
            o->frame.base = a;
            break;
        case OPT_STRICT: o->strict = 1; break;
        case OPT_METRIC:
            if ((v = pf_opts_choice(&p, "metric", pf_metric_names, 6)) < 0)
                return PF_EXIT_USAGE;
            o->frame.metric = (enum pf_metric)v;
            break;
        case OPT_GRANULARITY:
            if ((v = pf_opts_choice(&p, "granularity", pf_granularity_names, 2)) < 0)
                return PF_EXIT_USAGE;
            o->frame.granularity = (enum pf_granularity)v;
            break;
        case OPT_FULL_PATHS: o->frame.full_paths = 1; break;
        case OPT_ASYNC: o->async_view = 1; break;
        case OPT_BGCOLORS:
            if (!pf_svg_bgcolors_valid(a))
                return pf_opts_usage_error(&p, "--bgcolors wants yellow, blue, green, grey or "
                                           "#rrggbb, not '%s'", a);
            o->svg.bgcolors = a;
            break;
        case OPT_FACTOR:
            bad = pf_opts_double(&p, "a positive number", 0, 1e300, &o->frame.factor);
            break;
        case OPT_HTML_LINK:
            bad = nonempty(&p, "a file name");
            o->svg.html_link = a;
            break;
        case OPT_MAX_MEMORY:
            bad = pf_cli_parse_max_memory("svg", a, &o->max_memory);
            break;
        }
        if (bad)
            return PF_EXIT_USAGE;
    }
    if (o->input == NULL)
        return pf_opts_usage_error(&p, "no input file (use '-' for standard input)");
    return -1;
}

/* ---- collapsed input, streamed from the input reader into the stack tree ---- */

struct bad_lines {
    const char *label;            /* input name for messages */
    unsigned long n;
};

static void on_bad(void *ctx, unsigned long line, const char *msg)
{
    struct bad_lines *f = ctx;
    if (f->n++ < MAX_WARNINGS)
        fprintf(stderr, "pyflame-c svg: warning: %s:%lu: %s (line skipped)\n", f->label, line, msg);
}

static int write_output(const pf_stacktree *tree, const struct options *o, pf_error *err)
{
    pf_output *out = pf_output_open(o->output, err);
    if (out == NULL)
        return -1;
    if (pf_svg_write(tree, &o->svg, pf_output_stream(out), err) < 0) {
        pf_output_abort(out);
        return -1;
    }
    return pf_output_commit(out, err);
}

int pf_cmd_svg(int argc, char **argv)
{
    struct options o;
    int rc = parse_args(argc, argv, &o);
    if (rc >= 0)
        return rc;
    if (pf_cli_output_is_input("svg", o.input, o.output))
        return PF_EXIT_USAGE;
    /* The frame tree's arrays grow by doubling up to hundreds of MB.  glibc's sliding
     * mmap threshold would move them onto the heap, where every realloc copies; a
     * fixed threshold keeps them mmapped, and realloc then just remaps pages. */
    mallopt(M_MMAP_THRESHOLD, 1 << 20);

    pf_error err;
    pf_error_clear(&err);
    pf_stacktree *tree = NULL;
    pf_trace *trace = NULL;
    char gap_note[sizeof "Not recorded: " + 256 + 32];   /* the prefix, a gap and more */
    char subtitle[1024], title[512];
    static pf_svg_hooks legend_hooks;
    int writing = 0;
    const char *label = pf_cli_input_name(o.input);
    pf_input *in = pf_input_open(o.input, &err);
    if (in == NULL)
        goto fail;
    pf_input_set_budget(in, o.max_memory);
    int kind = pf_input_sniff(in, &err);
    if (kind < 0)
        goto fail;
    if (pf_input_is_profile(kind)) {
        trace = pf_trace_read_input(in, &err);
        if (trace == NULL)
            goto fail;
        if (trace->meta.flags & PF_FLAG_OUT_OF_MEMORY)
            fprintf(stderr, "pyflame-c: warning: %s: the collector ran out of memory while "
                    "recording; the profile is incomplete\n", label);
        /* the subtitle says what the graph lacks (the first gap; text and html list
         * all) and holds beyond one process */
        if (pf_svg_gap_note(trace, gap_note, sizeof gap_note))
            fprintf(stderr, "pyflame-c: warning: %s: %s\n", label, gap_note);
        if (o.async_view && pf_trace_async_view(trace, &err) < 0)
            goto fail;
        if (o.svg.subtitle == NULL)
            o.svg.subtitle = pf_svg_trace_subtitle(trace, subtitle, sizeof subtitle);
        if (!(tree = pf_stacktree_from_trace(trace, &o.frame, &err)))
            goto fail;
        pf_svg_opts_for_metric(&o.svg, o.frame.metric, o.saw_colors, o.saw_countname);
        /* the program and what the width means; the python palette's legend */
        if (o.svg.title == NULL && !o.svg.inverted && o.frame.order != PF_ORDER_CHART)
            o.svg.title = pf_svg_trace_title(trace, o.frame.metric, title, sizeof title);
        if (o.svg.palette == PF_PAL_PYTHON && o.svg.hooks == NULL) {
            legend_hooks.legend = pf_palette_python_legend();
            o.svg.hooks = &legend_hooks;
        }
    } else {
        if (o.frame.granularity != PF_GRAN_FUNCTION || o.frame.metric != PF_METRIC_SELF_TIME ||
            o.frame.full_paths || o.svg.html_link || o.async_view)
            fprintf(stderr, "pyflame-c svg: note: --metric, --granularity, --full-paths, "
                            "--html-link and --async apply to traces only; %s holds collapsed "
                            "stacks\n", label);
        if (pf_cli_is_perf_script(in, &err))
            goto fail;
        tree = pf_stacktree_new(&o.frame);
        if (!tree) {
            pf_error_set(&err, PF_ENOMEM, NULL);
            goto fail;
        }
        struct bad_lines bad = { label, 0 };
        pf_collapsed_opts co = { o.strict, on_bad, &bad };
        if (pf_stacktree_load_input(tree, in, 0, &co, &err) < 0)
            goto fail;
        if (bad.n > MAX_WARNINGS)
            fprintf(stderr, "pyflame-c svg: warning: %s: %lu malformed lines skipped in all\n",
                    label, bad.n);
        /* a differential graph says what its colours are (the title keeps its own) */
        if (tree->has_count2 && o.svg.subtitle == NULL)
            o.svg.subtitle = o.svg.negate
                ? "Differential (negated): colour = change in each frame's own count, "
                  "blue grew, red shrank, white unchanged"
                : "Differential: colour = change in each frame's own count, red grew, "
                  "blue shrank, white unchanged";
    }
    pf_input_free(in);
    in = NULL;
    if (!(tree->nodes[0].total > 0) && !(pf_stacktree_total2(tree, 0) > 0)) {
        pf_error_set(&err, PF_EEMPTY, "no stacks found (all counts are zero)");
        goto fail;
    }
    writing = 1;
    if (write_output(tree, &o, &err) < 0)
        goto fail;
    pf_stacktree_free(tree);
    pf_trace_free(trace);
    return PF_EXIT_OK;
fail:
    fprintf(stderr, "pyflame-c svg: %s: %s\n", writing ? (o.output ? o.output : "<stdout>") : label,
            err.msg[0] ? err.msg : pf_error_text(err.code));
    pf_input_free(in);
    pf_stacktree_free(tree);
    pf_trace_free(trace);
    return PF_EXIT_FAIL;
}
