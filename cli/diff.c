/* diff.c: `pyflame-c diff`: what a change did to calls, time and memory.  Reads BASE
 * and NEW (one or more traces or collapsed-stack files per side, globs allowed),
 * builds the comparison (formats/diff.h), writes one format to stdout or -o, and
 * optionally the SVG and HTML beside it (--svg, --html), evaluates --fail-on gates.
 * Exit status: 0 pass, 1 a gate failed, 2 usage or input error (so CI tells a
 * regression from a broken job). */
#include <glob.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/commands.h"
#include "cli/common.h"
#include "cli/help.h"
#include "cli/opts.h"
#include "convert/convert.h"
#include "convert/diffout.h"
#include "formats/diff.h"
#include "formats/input.h"
#include "formats/output.h"
#include "formats/stacktree.h"
#include "formats/trace.h"
#include "render/html_diff.h"
#include "render/svg.h"
#include "render/svg_diff.h"

#define MAX_GATES 32
#define MAX_INPUTS 256

enum fmt { F_TEXT = 0, F_MARKDOWN, F_SVG, F_HTML, F_JSON };
static const char *const fmt_names[] = { "text", "markdown", "svg", "html", "json" };

struct options {
    const char *in[2][MAX_INPUTS];
    unsigned nin[2];
    const char *both;             /* one input of two count columns (BASE and NEW) */
    char *owned[2 * MAX_INPUTS];  /* glob results */
    unsigned nowned;
    enum fmt format;
    const char *output;
    const char *svg_out, *html_out;
    pf_diff_opts diff;
    pf_gate gates[MAX_GATES];
    unsigned ngates;
    double min_time_ns;
    uint32_t limit;               /* UINT32_MAX: all */
    const char *title;
    uint64_t max_memory;
    int strict;
};

enum {
    OPT_FORMAT = 1, OPT_OUTPUT, OPT_SVG, OPT_HTML, OPT_BASE, OPT_NEW, OPT_FAIL_ON,
    OPT_MIN_TIME, OPT_METRIC, OPT_NORMALIZE, OPT_FORCE, OPT_LIMIT, OPT_TITLE, OPT_STRICT,
    OPT_MAX_MEMORY, OPT_HELP
};

static const pf_opt diff_opts[] = {
    { "format", 'f', PF_OPT_VALUE, OPT_FORMAT, "F", "text markdown json svg html",
      "text (default), markdown (a PR comment or CI job summary, always under 64 KB), "
      "json, svg (differential flame graph), html (per-line diff of each changed "
      "function's source)" },
    { "output", 'o', PF_OPT_VALUE, OPT_OUTPUT, "FILE", "@file",
      "write to FILE (temporary file + rename) instead of standard output ('-')" },
    { "svg", 0, PF_OPT_VALUE, OPT_SVG, "FILE", "@file",
      "also write the differential flame graph to FILE" },
    { "html", 0, PF_OPT_VALUE, OPT_HTML, "FILE", "@file",
      "also write the per-line HTML report to FILE (Markdown links to both, relative to "
      "the Markdown file)" },
    { "base", 0, PF_OPT_VALUE, OPT_BASE, "FILE", "@file",
      "an input of the BASE side (repeatable; a quoted glob such as 'base-*.gz' is "
      "expanded)" },
    { "new", 0, PF_OPT_VALUE, OPT_NEW, "FILE", "@file",
      "an input of the NEW side (repeatable; globs as for --base)" },
    { "fail-on", 0, PF_OPT_VALUE, OPT_FAIL_ON, "METRIC:THRESHOLD", NULL,
      "exit 1 when METRIC grew by more than THRESHOLD; repeatable.  Per function (some "
      "function in both runs): calls, alloc-count, alloc-bytes, peak-bytes, exit-bytes, "
      "self-time, time, samples, self-samples.  Run totals: total-calls, wall, "
      "total-time, total-alloc-bytes, total-alloc-count, peak, total-exit-bytes, rss, "
      "total-samples.  THRESHOLD: +5% or an absolute +100, +10ms, +1M" },
    { "min-time-change", 0, PF_OPT_VALUE, OPT_MIN_TIME, "DUR", NULL,
      "noise floor of time gates and lists: a time changed by DUR or less does not "
      "count (default 10ms; e.g. 1ms, 0)" },
    { "metric", 0, PF_OPT_VALUE, OPT_METRIC, "M", PF_CLI_METRICS,
      "what the flame graph shows for traces: self-time (default), calls, alloc-bytes, "
      "alloc-count, peak-bytes, exit-bytes" },
    { "normalize", 0, PF_OPT_FLAG, OPT_NORMALIZE, NULL, NULL,
      "flame graph: scale BASE to NEW's total (compare shares); absolute by default, and "
      "the title says which" },
    { "force", 0, PF_OPT_FLAG, OPT_FORCE, NULL, NULL,
      "compare runs of different modes, clocks or Pythons" },
    { "limit", 0, PF_OPT_VALUE, OPT_LIMIT, "N", NULL,
      "rows per ranked table (default 10; " PF_CLI_LIMIT_ALL ")" },
    { "title", 0, PF_OPT_VALUE, OPT_TITLE, "TEXT", NULL, "title of the SVG and HTML" },
    { "strict", 0, PF_OPT_FLAG, OPT_STRICT, NULL, NULL,
      "malformed collapsed lines are errors (default: warn, skip)" },
    { "max-memory", 0, PF_OPT_VALUE, OPT_MAX_MEMORY, "SIZE", NULL, PF_CLI_MAX_MEMORY_HELP },
    { "help", 'h', PF_OPT_FLAG, OPT_HELP, NULL, NULL, "show this help" },
};

const pf_command pf_diff_command = {
    "diff",
    "compare two runs: calls, time, lines and memory, with a CI gate",
    "pyflame-c diff [options] BASE NEW\n"
    "pyflame-c diff [options] --base A --base B --new C --new D\n"
    "pyflame-c diff [options] FILE",
    "Compare two runs for a code review: calls (exact), time, line hits and memory, "
    "function by function and line by line.  BASE and NEW are traces from `pyflame-c "
    "collect`, pstats files (cProfile, yappi) or speedscope JSON (py-spy, pyinstrument), "
    "or collapsed stacks from any profiler (both sides of one kind).  With "
    "several runs per side (--base/--new repeated, or a quoted glob such as "
    "'base/*.gz'), the medians are compared, so one noisy run does not decide.  One "
    "input FILE is collapsed stacks with two counts a line, before (BASE) and after "
    "(NEW), as flamegraph.pl's difffolded.pl writes them.\n"
    "\n"
    "Functions match by qualified name and file, the first line only breaking ties, so "
    "a function that moved within its file is still itself; renamed or moved files are "
    "listed.  Traces recorded in other modes, with another clock or another Python "
    "(major.minor) are refused unless --force, and the output then says so.",
    diff_opts, sizeof diff_opts / sizeof diff_opts[0], "@file",
    "Exit status: 0 no gate failed, 1 a gate failed (the output says which and by how "
    "much), 2 usage or input error.\n"
    "\n"
    "Examples:\n"
    "\n"
    "  pyflame-c diff base.gz new.gz\n"
    "  difffolded.pl before.folded after.folded > both.folded; pyflame-c diff -f svg both.folded\n"
    "  pyflame-c diff -f markdown --svg diff.svg --html diff.html -o diff.md \\\n"
    "      --fail-on calls:+5% --fail-on peak:+10% base.gz new.gz\n"
    "  pyflame-c diff --base 'base-*.gz' --new 'new-*.gz' --fail-on time:+20%",
    pf_cmd_diff,
};

/* Adds path to side s, expanding a glob when the name does not exist as it is. */
static int add_input(pf_opts *p, struct options *o, int s, const char *path)
{
    struct stat st;
    if (strpbrk(path, "*?[") && stat(path, &st) != 0) {
        glob_t g;
        int rc = glob(path, 0, NULL, &g);
        if (rc == GLOB_NOMATCH || (rc == 0 && g.gl_pathc == 0)) {
            globfree(&g);
            pf_opts_usage_error(p, "no file matches '%s'", path);
            return -1;
        }
        if (rc != 0) {
            pf_opts_usage_error(p, "cannot expand '%s'", path);
            return -1;
        }
        for (size_t i = 0; i < g.gl_pathc; i++) {
            if (o->nin[s] == MAX_INPUTS || o->nowned == 2 * MAX_INPUTS) {
                globfree(&g);
                pf_opts_usage_error(p, "more than %d inputs per side", MAX_INPUTS);
                return -1;
            }
            char *c = strdup(g.gl_pathv[i]);
            if (c == NULL) {
                globfree(&g);
                return -1;
            }
            o->owned[o->nowned++] = c;
            o->in[s][o->nin[s]++] = c;
        }
        globfree(&g);
        return 0;
    }
    if (o->nin[s] == MAX_INPUTS) {
        pf_opts_usage_error(p, "more than %d inputs per side", MAX_INPUTS);
        return -1;
    }
    o->in[s][o->nin[s]++] = path;
    return 0;
}

/* -1 to go on, else the exit status. */
static int parse_args(int argc, char **argv, struct options *o)
{
    pf_opts p;
    pf_opts_init(&p, "diff", diff_opts, sizeof diff_opts / sizeof diff_opts[0], argc, argv);
    const char *pos[2] = { NULL, NULL };
    unsigned npos = 0;
    int id, v;
    char why[1024];
    while ((id = pf_opts_next(&p)) != PF_OPTS_END) {
        switch (id) {
        case PF_OPTS_ERROR: return PF_EXIT_USAGE;
        case PF_OPTS_ARG:
            if (npos == 2)
                return pf_opts_usage_error(&p, "two inputs (BASE NEW) only, got also '%s'; "
                                           "use --base/--new for several runs", p.value);
            pos[npos++] = p.value;
            break;
        case OPT_HELP: pf_help_print(&pf_diff_command, stdout); return PF_EXIT_OK;
        case OPT_FORMAT:
            if ((v = pf_opts_choice(&p, "format", fmt_names, 5)) < 0)
                return PF_EXIT_USAGE;
            o->format = (enum fmt)v;
            break;
        case OPT_OUTPUT:
            if (pf_cli_parse_output(&p, &o->output) < 0)
                return PF_EXIT_USAGE;
            break;
        case OPT_SVG: o->svg_out = p.value; break;
        case OPT_HTML: o->html_out = p.value; break;
        case OPT_BASE:
        case OPT_NEW:
            if (add_input(&p, o, id == OPT_NEW, p.value) < 0)
                return PF_EXIT_USAGE;
            break;
        case OPT_FAIL_ON:
            if (o->ngates == MAX_GATES)
                return pf_opts_usage_error(&p, "at most %d --fail-on gates", MAX_GATES);
            if (pf_gate_parse(p.value, &o->gates[o->ngates], why, sizeof why) < 0)
                return pf_opts_usage_error(&p, "%s", why);
            o->ngates++;
            break;
        case OPT_MIN_TIME: {
            pf_gate g;
            char spec[128];
            snprintf(spec, sizeof spec, "time:+%s", p.value);
            if (strcmp(p.value, "0") == 0) {
                o->min_time_ns = 0;
                break;
            }
            if (pf_gate_parse(spec, &g, why, sizeof why) < 0 || !g.absolute)
                return pf_opts_usage_error(&p, "--min-time-change wants a duration such as "
                                           "10ms, 500us or 0, not '%s'", p.value);
            o->min_time_ns = g.threshold;
            break;
        }
        case OPT_METRIC:
            if ((v = pf_opts_choice(&p, "metric", pf_metric_names, 6)) < 0)
                return PF_EXIT_USAGE;
            o->diff.metric = (enum pf_metric)v;
            break;
        case OPT_NORMALIZE: o->diff.normalize = 1; break;
        case OPT_FORCE: o->diff.force = 1; break;
        case OPT_LIMIT:
            if (pf_cli_parse_limit(&p, &o->limit) < 0)
                return PF_EXIT_USAGE;
            break;
        case OPT_TITLE: o->title = p.value; break;
        case OPT_STRICT: o->strict = 1; break;
        case OPT_MAX_MEMORY:
            if (pf_cli_parse_max_memory("diff", p.value, &o->max_memory) < 0)
                return PF_EXIT_USAGE;
            break;
        }
    }
    if (npos == 1) {
        if (o->nin[0] || o->nin[1])
            return pf_opts_usage_error(&p, "give BASE NEW, or --base/--new, or one file of "
                                       "two count columns, not both");
        o->both = pos[0];
        return pf_cli_output_is_input("diff", o->both, o->output) ||
               pf_cli_output_is_input("diff", o->both, o->svg_out) ||
               pf_cli_output_is_input("diff", o->both, o->html_out) ? PF_EXIT_USAGE : -1;
    }
    if (npos == 2) {
        if (o->nin[0] || o->nin[1])
            return pf_opts_usage_error(&p, "give BASE NEW, or --base/--new, not both");
        o->in[0][o->nin[0]++] = pos[0];
        o->in[1][o->nin[1]++] = pos[1];
    }
    if (o->nin[0] == 0 || o->nin[1] == 0)
        return pf_opts_usage_error(&p, "both sides need an input: BASE NEW, or --base FILE "
                                   "--new FILE");
    for (int s = 0; s < 2; s++)
        for (unsigned i = 0; i < o->nin[s]; i++) {
            if (pf_cli_output_is_input("diff", o->in[s][i], o->output) ||
                pf_cli_output_is_input("diff", o->in[s][i], o->svg_out) ||
                pf_cli_output_is_input("diff", o->in[s][i], o->html_out))
                return PF_EXIT_USAGE;
        }
    return -1;
}

struct bad_lines {
    const char *label;
    unsigned long n;
};

static void on_bad(void *ctx, unsigned long line, const char *msg)
{
    struct bad_lines *f = ctx;
    if (f->n++ < 10)
        fprintf(stderr, "pyflame-c diff: warning: %s:%lu: %s (line skipped)\n", f->label, line, msg);
}

/* Reads one input into d.  0, or -1 with err set (and *label the file). */
static int load(pf_diff *d, int side, const char *path, const struct options *o, pf_error *err)
{
    const char *label = pf_cli_input_name(path);
    pf_input *in = pf_input_open(path, err);
    if (in == NULL)
        return -1;
    pf_input_set_budget(in, o->max_memory);
    int kind = pf_input_sniff(in, err), rc = -1;
    if (kind < 0)
        goto done;
    if (pf_input_is_profile(kind) && side == PF_DIFF_BOTH_SIDES) {
        pf_error_set(err, PF_EUSAGE, "one input must be collapsed stacks with two counts a "
                     "line (\"stack before after\", as difffolded.pl writes them); to "
                     "compare traces, give BASE and NEW");
    } else if (pf_input_is_profile(kind)) {
        pf_trace *t = pf_trace_read_input(in, err);
        if (t == NULL)
            goto done;
        if (t->meta.flags & PF_FLAG_OUT_OF_MEMORY)
            fprintf(stderr, "pyflame-c diff: warning: %s: the collector ran out of memory while "
                    "recording; the profile is incomplete\n", label);
        rc = pf_diff_add_trace(d, side, t, label, err);
    } else if (!pf_cli_is_perf_script(in, err)) {
        struct bad_lines bad = { label, 0 };
        pf_collapsed_opts co = { o->strict, on_bad, &bad };
        rc = pf_diff_add_stacks_input(d, side, in, 0, &co, label, err);
        if (bad.n > 10)
            fprintf(stderr, "pyflame-c diff: warning: %s: %lu malformed lines skipped in all\n",
                    label, bad.n);
    }
done:
    pf_input_free(in);
    return rc;
}

/* The path of target relative to the folder of from (both as given): the same name
 * when from has no folder; else target made relative when both are relative or
 * share the folder; otherwise target as given. */
static const char *rel_link(const char *from, const char *target, char *buf, size_t cap)
{
    if (target == NULL)
        return NULL;
    const char *slash = from ? strrchr(from, '/') : NULL;
    if (slash == NULL)
        return target;
    size_t dl = (size_t)(slash - from) + 1;
    if (strncmp(target, from, dl) == 0) {
        snprintf(buf, cap, "%s", target + dl);
        return buf;
    }
    if (target[0] != '/') {
        /* up one folder per component of from's folder */
        size_t n = 0;
        buf[0] = '\0';
        for (const char *p = from; p < slash; p++)
            if (*p == '/' || p == from)
                n += (size_t)snprintf(buf + n, n < cap ? cap - n : 0, "../");
        snprintf(buf + (n < cap ? n : cap - 1), n < cap ? cap - n : 1, "%s", target);
        return buf;
    }
    return target;
}

static int write_one(const pf_diff *d, enum fmt f, const char *path, const struct options *o,
                     const pf_diffout_opts *dop, pf_error *err)
{
    pf_output *out = pf_output_open(path, err);
    if (out == NULL)
        return -1;
    FILE *fp = pf_output_stream(out);
    int rc;
    switch (f) {
    case F_MARKDOWN: rc = pf_diff_write_markdown(d, dop, fp, err); break;
    case F_JSON: rc = pf_diff_write_json(d, dop, fp, err); break;
    case F_SVG: {
        pf_svg_diff_opts so;
        pf_svg_diff_opts_init(&so);
        so.title = o->title;
        so.base_label = dop->base_label;
        so.new_label = dop->new_label;
        rc = pf_svg_diff_write(d, &so, fp, err);
        break;
    }
    case F_HTML: {
        pf_html_diff_opts ho;
        pf_html_diff_opts_init(&ho);
        ho.title = o->title;
        ho.base_label = dop->base_label;
        ho.new_label = dop->new_label;
        ho.min_time_ns = dop->min_time_ns;
        rc = pf_html_diff_render(d, &ho, fp, err);
        break;
    }
    default: rc = pf_diff_write_text(d, dop, fp, err); break;
    }
    if (rc < 0) {
        pf_output_abort(out);
        return -1;
    }
    return pf_output_commit(out, err);
}

int pf_cmd_diff(int argc, char **argv)
{
    struct options o;
    memset(&o, 0, sizeof o);
    pf_diff_opts_init(&o.diff);
    o.min_time_ns = 10e6;
    o.limit = 10;
    int rc = parse_args(argc, argv, &o);
    pf_diff *d = NULL;
    pf_gate_result results[MAX_GATES];
    char base_label[300], new_label[300];
    if (rc >= 0)
        goto out;
    mallopt(M_MMAP_THRESHOLD, 1 << 20);
    /* each output computes only what it shows: the text outputs need no stack tree
     * unless an SVG is written, and an SVG alone (no gate) no function or line tables */
    o.diff.no_stacks = o.format != F_SVG && o.svg_out == NULL;
    o.diff.no_tables = o.format == F_SVG && o.html_out == NULL && o.ngates == 0;
    pf_error err;
    pf_error_clear(&err);
    d = pf_diff_new(&o.diff);
    const char *failing = NULL;
    if (d == NULL) {
        pf_error_set(&err, PF_ENOMEM, NULL);
        goto fail;
    }
    if (o.both) {
        failing = o.both;
        if (load(d, PF_DIFF_BOTH_SIDES, o.both, &o, &err) < 0)
            goto fail;
    }
    for (int s = 0; s < 2; s++)
        for (unsigned i = 0; i < o.nin[s]; i++) {
            failing = o.in[s][i];
            if (load(d, s, o.in[s][i], &o, &err) < 0)
                goto fail;
        }
    failing = NULL;
    if (pf_diff_finish(d, &err) < 0)
        goto fail;
    if (d->forced[0])
        fprintf(stderr, "pyflame-c diff: warning: compared with --force: %s\n", d->forced);
    for (unsigned i = 0; i < o.ngates; i++)
        pf_gate_eval(d, &o.gates[i], o.min_time_ns, &results[i]);
    pf_diffout_opts dop;
    pf_diffout_opts_init(&dop);
    for (int s = 0; s < 2; s++) {
        char *lb = s ? new_label : base_label;
        if (o.both)
            snprintf(lb, 300, "%s (%s)", pf_cli_input_name(o.both), s ? "after" : "before");
        else if (o.nin[s] == 1)
            snprintf(lb, 300, "%s", pf_cli_input_name(o.in[s][0]));
        else
            snprintf(lb, 300, "%u runs (%s, ...)", o.nin[s], o.in[s][0]);
    }
    dop.base_label = base_label;
    dop.new_label = new_label;
    dop.limit = o.limit;
    dop.gates = o.gates;
    dop.results = results;
    dop.ngates = o.ngates;
    dop.min_time_ns = o.min_time_ns;
    dop.stack_metric = o.diff.metric;
    char sl[4096], hl[4096];
    dop.svg_link = rel_link(o.output, o.svg_out, sl, sizeof sl);
    dop.html_link = rel_link(o.output, o.html_out, hl, sizeof hl);
    if (o.svg_out && write_one(d, F_SVG, o.svg_out, &o, &dop, &err) < 0) {
        failing = o.svg_out;
        goto fail_out;
    }
    if (o.html_out && write_one(d, F_HTML, o.html_out, &o, &dop, &err) < 0) {
        failing = o.html_out;
        goto fail_out;
    }
    if (write_one(d, o.format, o.output, &o, &dop, &err) < 0) {
        failing = o.output ? o.output : "<stdout>";
        goto fail_out;
    }
    rc = PF_EXIT_OK;
    for (unsigned i = 0; i < o.ngates; i++)
        if (results[i].failed) {
            rc = PF_EXIT_FAIL;
            fprintf(stderr, "pyflame-c diff: gate failed: %s\n", o.gates[i].spec);
        }
    goto out;
fail:
fail_out:
    fprintf(stderr, "pyflame-c diff: %s%s%s\n", failing ? pf_cli_input_name(failing) : "",
            failing ? ": " : "", err.msg[0] ? err.msg : pf_error_text(err.code));
    if (o.both && failing == o.both && err.code == PF_EPARSE)
        fprintf(stderr, "pyflame-c diff: one input holds both sides (two counts a line); to "
                "compare two files, give BASE NEW\n");
    rc = PF_EXIT_USAGE;
out:
    pf_diff_free(d);
    for (unsigned i = 0; i < o.nowned; i++)
        free(o.owned[i]);
    return rc;
}
