/* html.c: the HTML report's document structure (see html.h): head with the embedded
 * stylesheet, overview (metadata, hottest files, lines and functions), the sortable
 * function table, one section per shown file (html_source.c), and the embedded script.
 *
 * Program data reaches the page only through pf_html_escape; numbers only through
 * formats/units.c.  Nothing depends on the clock, the locale or addresses, so the same
 * trace always gives the same bytes.
 */
#include "html.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "formats/alloc.h"
#include "formats/asyncview.h"
#include "html_escape.h"
#include "formats/units.h"
#include "html_model.h"
#include "html_rss.h"
#include "html_source.h"

static const char report_css[] = {
#include "report.css.inc"
};
static const char report_js[] = {
#include "report.js.inc"
};

#define MAX_FUNC_ROWS 2000   /* the function table; the rest are summarised in one line */
#define TOP_N 10             /* rows in each "hottest" table of the overview */
/* A percentage column's head, which always says what it is a share of. */
#define PCT_TH(label, tip) "<th title=\"" tip "\">" label "</th>"
#define TIME_PCT_TH PCT_TH("Time %", "Time including calls, as a share of the profiled time")
#define SELF_PCT_TH PCT_TH("Self %", "Self time as a share of the profiled time")

void pf_html_opts_init(pf_html_opts *o)
{
    memset(o, 0, sizeof *o);
    o->context = 3;
}

typedef struct doc {
    FILE *out;
    const pf_trace *t;
    const pf_html_model *m;
    const pf_html_opts *opts;
} doc;

/* ---- small writers ---------------------------------------------------------------- */

static const char *basename_of(const char *p)
{
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

/* An argument as a POSIX shell would need it, so the command line can be copied. */
static void shell_word(FILE *out, const char *a)
{
    int plain = a[0] != '\0';
    for (const char *p = a; *p; p++)
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./:=,+@%", *p))
            plain = 0;
    if (plain) {
        pf_html_escape_cstr(out, a);
        return;
    }
    fputs("&#39;", out);
    for (const char *p = a; *p;) {
        const char *q = strchr(p, '\'');
        size_t n = q ? (size_t)(q - p) : strlen(p);
        pf_html_escape(out, p, n);
        if (!q)
            break;
        fputs("&#39;\\&#39;&#39;", out);
        p = q + 1;
    }
    fputs("&#39;", out);
}

static void command_line(FILE *out, const pf_meta *meta)
{
    /* another profiler's file names its profile in free text (pyinstrument: "CPU profile
     * for 'Program: app.py' at ..."), not as a command line: shown as is */
    if (meta->origin && meta->argc == 1 && meta->argv[0]) {
        pf_html_escape_cstr(out, meta->argv[0]);
        return;
    }
    for (uint32_t i = 0; i < meta->argc; i++) {
        if (i)
            fputc(' ', out);
        shell_word(out, meta->argv[i] ? meta->argv[i] : "");
    }
}

static void title_text(const doc *d)
{
    const pf_meta *meta = &d->t->meta;
    if (d->opts->title) {
        pf_html_escape_cstr(d->out, d->opts->title);
    } else if (meta->argc > 1 && meta->argv[0] && strcmp(meta->argv[0], "-m") == 0
               && meta->argv[1]) {          /* a module run: name the module */
        fputs("Profile of ", d->out);
        pf_html_escape_cstr(d->out, meta->argv[1]);
    } else if (meta->argc > 0 && meta->argv[0] && meta->argv[0][0]) {
        fputs("Profile of ", d->out);
        pf_html_escape_cstr(d->out, basename_of(meta->argv[0]));
    } else {
        fputs("pyflame-c profile", d->out);
    }
}

/* A function's location: "short/path.py:12", or "built-in" for natives. */
static void location(const doc *d, uint32_t code)
{
    const pf_code *c = &d->t->codes[code];
    const char *path = pf_trace_str(d->t, c->file);
    if (c->kind != PF_CODE_PYTHON || path[0] == '\0') {
        fputs("<span class=\"muted\">built-in</span>", d->out);
        return;
    }
    pf_html_escape_cstr(d->out, pf_html_short_path(d->t, path, d->opts->full_paths));
    fprintf(d->out, ":%u", (unsigned)c->first_line);
}

/* The function's name, linked to its anchor in the source when that is rendered. */
static void func_link(const doc *d, const pf_html_func *f)
{
    int linked = f->file != PF_NONE && d->m->files[f->file].shown;
    if (linked)
        fprintf(d->out, "<a href=\"#code-%u\">", (unsigned)f->code);
    pf_html_func_name(d->out, d->t, f->code);
    if (linked)
        fputs("</a>", d->out);
}

/* A byte count cell; zero is muted so the real allocations stand out. */
static void bytes_td(FILE *out, uint64_t n)
{
    char a[48];
    fprintf(out, n ? "<td>%s</td>" : "<td class=\"z\">%s</td>", pf_units_bytes(a, sizeof a, n, 0));
}

static void meter(FILE *out, uint64_t part, uint64_t whole)
{
    double w = whole ? 100.0 * (double)part / (double)whole : 0;
    fprintf(out, "<span class=\"meter\"><b style=\"width:%.1f%%\"></b></span>", w > 100 ? 100.0 : w);
}

/* ---- head and overview -------------------------------------------------------------- */

static void head(const doc *d)
{
    FILE *out = d->out;
    fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
          "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
          /* The page needs nothing from anywhere: say so, so a browser refuses to fetch. */
          "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
          "style-src 'unsafe-inline'; script-src 'unsafe-inline'\">\n"
          "<meta name=\"color-scheme\" content=\"light dark\">\n"
          "<meta name=\"generator\" content=\"pyflame-c " PF_VERSION "\">\n<title>", out);
    title_text(d);
    fputs("</title>\n<style>\n", out);
    fputs(report_css, out);
    fputs("</style>\n</head>\n<body>\n", out);
}

static void card(FILE *out, const char *label, const char *value, const char *tip)
{
    fprintf(out, "<div class=\"card\" title=\"%s\"><div class=\"v\">%s</div><div class=\"k\">%s</div></div>",
            tip, value, label);
}

static void cards(const doc *d)
{
    FILE *out = d->out;
    const pf_meta *meta = &d->t->meta;
    char a[64];
    fputs("<div class=\"cards\">", out);
    card(out, "Duration", pf_units_ns(a, sizeof a, meta->duration_ns), "Wall-clock time of the profiled run");
    if (pf_trace_clock_is_cpu(d->t))
        card(out, "Profiled CPU time", pf_units_ns(a, sizeof a, d->m->total_ns),
             "CPU time of each thread in profiled code (waits count for nothing), summed "
             "over threads: the 100% of this report");
    else
        card(out, "Profiled time", pf_units_ns(a, sizeof a, d->m->total_ns),
             "Time in profiled code, summed over threads: the 100% of this report");
    uint64_t calls = meta->total_calls;
    if (calls == 0)                       /* older or hand-made traces: count the tree */
        for (uint32_t i = 0; i < d->m->nfuncs; i++)
            calls += d->m->funcs[i].calls;
    card(out, "Calls", pf_units_count(a, sizeof a, calls), "Function calls recorded");
    if (d->t->nprocesses > 1)
        card(out, "Processes", pf_units_count(a, sizeof a, d->t->nprocesses),
             "Processes of the run recorded in this trace");
    card(out, "Functions", pf_units_count(a, sizeof a, d->m->nfuncs), "Distinct functions with data");
    card(out, "Files", pf_units_count(a, sizeof a, d->m->nfiles), "Python files with data");
    if (d->m->has_memory && (meta->modes & PF_MODE_NATIVE)) {
        char nat[PF_UNITS_BUFSZ], title[160];
        snprintf(title, sizeof title, "The run's peak of live traced bytes, Python and native "
                 "(native: %s)", pf_units_bytes(nat, sizeof nat, meta->peak_native_bytes, 0));
        card(out, "Peak memory", pf_units_bytes(a, sizeof a, meta->peak_live_bytes, 0), title);
    } else if (d->m->has_memory) {
        card(out, "Peak memory", pf_units_bytes(a, sizeof a, meta->peak_live_bytes, 0),
             "The run's peak of live traced bytes");
    }
    fputs("</div>\n", out);
}

static void meta_row_start(FILE *out, const char *key)
{
    fprintf(out, "<tr><th>%s</th><td>", key);
}

static void meta_table(const doc *d)
{
    FILE *out = d->out;
    const pf_trace *t = d->t;
    const pf_meta *meta = &t->meta;
    char a[64];
    fputs("<table class=\"meta\"><tbody>\n", out);
    if (meta->argc > 0) {
        meta_row_start(out, "Command");
        fputs("<code>", out);
        command_line(out, meta);
        fputs("</code></td></tr>\n", out);
    }
    if (meta->python_version || meta->python_executable) {
        meta_row_start(out, "Python");
        pf_html_escape_cstr(out, meta->python_version);
        if (meta->python_executable) {
            fputs(meta->python_version ? " <span class=\"muted\">" : "<span class=\"muted\">", out);
            pf_html_escape_cstr(out, meta->python_executable);
            fputs("</span>", out);
        }
        fputs("</td></tr>\n", out);
    }
    if (meta->start_unix_ns) {
        meta_row_start(out, "Started");
        fprintf(out, "%s</td></tr>\n", pf_units_utc(a, sizeof a, meta->start_unix_ns));
    }
    meta_row_start(out, "Duration");
    fputs(pf_units_ns(a, sizeof a, meta->duration_ns), out);
    if (pf_trace_clock_is_cpu(t)) {
        /* the duration is wall-clock still; the functions' times are not */
        fputs(" <span class=\"muted\">(wall clock)</span></td></tr>\n", out);
        meta_row_start(out, "Clock");
        fputs(pf_trace_clock_words(t), out);
        fputs(" <span class=\"muted\">(", out);
        pf_html_escape_cstr(out, meta->clock);
        fputs(")</span>", out);
    } else if (meta->clock) {
        fputs(" <span class=\"muted\">(", out);
        pf_html_escape_cstr(out, meta->clock);
        fputs(")</span>", out);
    }
    fputs("</td></tr>\n", out);
    if (pf_trace_view_words(t) != NULL) {
        meta_row_start(out, "View");
        pf_html_escape_cstr(out, pf_trace_view_words(t));
        fputs(" <span class=\"muted\">(function times; line data as recorded)</span></td></tr>\n",
              out);
    }
    if (meta->links_dropped != 0) {
        meta_row_start(out, "Links");
        fprintf(out, "%" PRIu64 " asyncio tasks or thread pool work items could not be linked "
                "to their creator</td></tr>\n", meta->links_dropped);
    }
    if (meta->exit_code != PF_EXIT_UNKNOWN || meta->exit_signal != 0 ||
        (meta->flags & PF_FLAG_CUT_SHORT)) {
        char how[160];
        pf_trace_describe_exit(t, PF_NONE, how, sizeof how);
        meta_row_start(out, "Ended");
        pf_html_escape_cstr(out, how);
        fputs("</td></tr>\n", out);
    }
    meta_row_start(out, "Modes");
    static const char *const mode_names[] = { "calls", "lines", "memory", "samples" };
    int any = 0;
    for (unsigned i = 0; i < 4; i++)
        if (meta->modes & (1u << i)) {
            fprintf(out, "%s<span class=\"tag\">%s</span>", any ? " " : "", mode_names[i]);
            if ((1u << i) == PF_MODE_LINES && t->nlines == 0)
                fputs(" <span class=\"muted\">(no file matched the selection)</span>", out);
            any = 1;
        }
    fputs(any ? "</td></tr>\n" : "<span class=\"muted\">none recorded</span></td></tr>\n", out);
    if (meta->hostname || meta->pid) {
        meta_row_start(out, "Host");
        pf_html_escape_cstr(out, meta->hostname);
        if (meta->pid)
            fprintf(out, "%spid %llu", meta->hostname ? ", " : "", (unsigned long long)meta->pid);
        fputs("</td></tr>\n", out);
    }
    if (meta->cwd) {
        meta_row_start(out, "Directory");
        fputs("<code>", out);
        pf_html_escape_cstr(out, meta->cwd);
        fputs("</code></td></tr>\n", out);
    }
    if (t->nthreads > 0) {
        meta_row_start(out, t->nthreads == 1 ? "Thread" : "Threads");
        for (uint32_t i = 0; i < t->nthreads && i < 8; i++) {
            if (i)
                fputs(", ", out);
            pf_html_escape_cstr(out, pf_trace_str(t, t->threads[i].name));
            uint32_t p = t->nprocesses > 1 ? pf_trace_thread_process(t, i) : PF_NONE;
            if (p != PF_NONE)        /* several processes each have a MainThread */
                fprintf(out, " <span class=\"muted\">(pid %llu)</span>",
                        (unsigned long long)t->processes[p].pid);
        }
        if (t->nthreads > 8)
            fprintf(out, " <span class=\"muted\">and %u more</span>", (unsigned)(t->nthreads - 8));
        fputs("</td></tr>\n", out);
    }
    if (d->m->has_memory) {
        meta_row_start(out, "Peak memory");
        fprintf(out, "%s <span class=\"muted\">live traced bytes at the run's peak",
                pf_units_bytes(a, sizeof a, meta->peak_live_bytes, 0));
        if (meta->modes & PF_MODE_NATIVE) {
            uint64_t native = meta->peak_native_bytes < meta->peak_live_bytes
                ? meta->peak_native_bytes : meta->peak_live_bytes;
            char py[PF_UNITS_BUFSZ];
            fprintf(out, " (native %s, Python %s)", pf_units_bytes(a, sizeof a, native, 0),
                    pf_units_bytes(py, sizeof py, meta->peak_live_bytes - native, 0));
        }
        fputs("</span></td></tr>\n", out);
    }
    if (meta->profiler_bytes) {
        meta_row_start(out, "Profiler memory");
        fprintf(out, "%s <span class=\"muted\">used by the collector itself</span></td></tr>\n",
                pf_units_bytes(a, sizeof a, meta->profiler_bytes, 0));
    }
    fputs("</tbody></table>\n", out);
    if (meta->flags & PF_FLAG_OUT_OF_MEMORY)
        fputs("<p class=\"warn\">The collector ran out of memory and stopped recording: "
              "the data below is incomplete.</p>\n", out);
    if (meta->flags & PF_FLAG_CUT_SHORT)
        fputs("<p class=\"warn\">The program ended before the collector's final write: "
              "the data below goes up to its last snapshot.</p>\n", out);
    if (meta->flags & PF_FLAG_FORKED_CHILD)
        fputs("<p class=\"note\">This trace was written by a forked child process.</p>\n", out);
    for (uint32_t i = 0; i < meta->ngaps; i++) {
        char g[256];
        pf_trace_gap_describe(t, i, g, sizeof g);
        fputs("<p class=\"warn\">Not recorded: ", out);
        pf_html_escape_cstr(out, g);
        fputs("</p>\n", out);
    }
}

/* One row per process (traces with several): who ran, for how long, how it ended. */
static void processes(const doc *d)
{
    FILE *out = d->out;
    const pf_trace *t = d->t;
    char a[64];
    if (t->nprocesses < 2)
        return;
    fputs("<h2>Processes</h2>\n<table class=\"list\"><thead><tr><th>PID</th><th>Parent</th>"
          "<th class=\"t g\">Command</th><th>Recorded</th><th>Calls</th>", out);
    if (d->m->has_memory)
        fputs("<th>Peak memory</th>", out);
    fputs("<th class=\"t\">Ended</th></tr></thead><tbody>\n", out);
    for (uint32_t p = 0; p < t->nprocesses; p++) {
        const pf_process *pr = &t->processes[p];
        fprintf(out, "<tr><td>%llu</td>", (unsigned long long)pr->pid);
        if (pr->ppid)
            fprintf(out, "<td>%llu</td>", (unsigned long long)pr->ppid);
        else
            fputs("<td class=\"z\">?</td>", out);
        size_t len;
        const char *cmd = pf_strtab_get(t->strings, pr->command, &len);
        fputs("<td class=\"t\"><code>", out);
        if (cmd)
            pf_html_escape(out, cmd, len);
        fprintf(out, "</code></td><td>%s</td>", pf_units_ns(a, sizeof a, pr->duration_ns));
        fprintf(out, "<td>%s</td>", pf_units_count(a, sizeof a, pr->calls));
        if (d->m->has_memory)
            bytes_td(out, pr->peak_live_bytes);
        char how[160];
        pf_trace_describe_exit(t, p, how, sizeof how);
        fputs("<td class=\"t\">", out);
        pf_html_escape_cstr(out, how);
        fputs("</td></tr>\n", out);
    }
    fputs("</tbody></table>\n", out);
}

static void hot_files(const doc *d)
{
    FILE *out = d->out;
    const pf_html_model *m = d->m;
    char a[64], b[64], c[64];
    if (m->nfiles == 0)
        return;
    fputs("<h2>Hottest files</h2>\n<table class=\"list\"><thead><tr><th class=\"t g\">File</th>"
          "<th>Self time</th>" PCT_TH("Self %", "Self time as a share of the profiled time")
          "<th class=\"t\"></th><th>Functions</th><th>Calls</th>", out);
    if (m->has_memory)
        fputs("<th>Allocated</th>", out);
    fputs("</tr></thead><tbody>\n", out);
    for (uint32_t i = 0; i < m->nfiles && i < TOP_N; i++) {
        const pf_html_file *f = &m->files[i];
        const char *path = pf_trace_str(d->t, f->path);
        fputs("<tr><td class=\"t\">", out);
        if (f->shown)
            fprintf(out, "<a href=\"#f%u\">", (unsigned)i);
        pf_html_escape_cstr(out, pf_html_short_path(d->t, path, d->opts->full_paths));
        fputs(f->shown ? "</a>" : " <span class=\"muted\">(not shown)</span>", out);
        fprintf(out, "</td><td>%s</td><td>%s</td><td class=\"t\">", pf_units_ns(a, sizeof a, f->self_ns),
                pf_units_pct(b, sizeof b, f->self_ns, m->total_ns));
        meter(out, f->self_ns, m->total_ns);
        fprintf(out, "</td><td>%u</td><td>%s</td>", (unsigned)f->nfuncs, pf_units_count(c, sizeof c, f->calls));
        if (m->has_memory)
            bytes_td(out, f->alloc_bytes);
        fputs("</tr>\n", out);
    }
    fputs("</tbody></table>\n", out);
    if (m->nfiles > TOP_N)
        fprintf(out, "<p class=\"note\">%u more files below.</p>\n", (unsigned)(m->nfiles - TOP_N));
}

/* A ranking shown two ways, by time including calls (checked by default) and by self
 * time: two radio buttons and two tables, one of them hidden by CSS alone (report.css,
 * .rank), so the toggle works without JavaScript.  name: the radio group. */
static void rank_start(FILE *out, const char *name)
{
    fprintf(out, "<div class=\"rank\"><span class=\"muted\">Ranked by</span>"
            "<input type=\"radio\" name=\"%s\" id=\"%s-time\" value=\"time\" checked>"
            "<label for=\"%s-time\" title=\"Time including the calls made\">time</label>"
            "<input type=\"radio\" name=\"%s\" id=\"%s-self\" value=\"self\">"
            "<label for=\"%s-self\" title=\"Time excluding the calls made\">self time</label>\n",
            name, name, name, name, name, name);
}

/* The indented-stripped text of line `line` of source s (at most 120 bytes). */
static void source_line(FILE *out, const pf_source *s, uint32_t line)
{
    size_t pos = 0;
    uint32_t ln = 1;
    while (ln < line && pos < s->len) {
        if (s->text[pos] == '\n' || (s->text[pos] == '\r' && (pos + 1 >= s->len || s->text[pos + 1] != '\n')))
            ln++;
        pos++;
    }
    if (ln != line)
        return;
    while (pos < s->len && (s->text[pos] == ' ' || s->text[pos] == '\t'))
        pos++;
    size_t e = pos;
    while (e < s->len && s->text[e] != '\n' && s->text[e] != '\r' && e - pos < 120)
        e++;
    pf_html_escape(out, s->text + pos, e - pos);
}

/* One table of hottest lines; by_time: ranked (and its first columns) by time
 * including calls, else by self time. */
static void hot_lines_table(const doc *d, int by_time, const pf_html_lineref *hot, uint32_t nhot)
{
    FILE *out = d->out;
    const pf_html_model *m = d->m;
    char a[64], b[64], c[64];
    fprintf(out, "<table class=\"list %s\"><thead><tr><th class=\"t\">Line</th>",
            by_time ? "by-time" : "by-self");
    if (by_time)
        fputs("<th title=\"Time on the line, including the calls it made\">Time</th>" TIME_PCT_TH
              "<th class=\"t\"></th><th>Self time</th>" SELF_PCT_TH, out);
    else
        fputs("<th title=\"Time on the line itself, without the calls it made\">Self time</th>"
              SELF_PCT_TH "<th class=\"t\"></th><th>Time</th>" TIME_PCT_TH, out);
    fputs("<th>Hits</th>", out);
    if (m->has_memory)
        fputs("<th>Allocated</th>", out);
    fputs("<th class=\"t\">Source</th></tr></thead><tbody>\n", out);
    for (uint32_t i = 0; i < nhot; i++) {
        const pf_html_file *f = &m->files[hot[i].file];
        const pf_html_line *l = &f->lines[hot[i].line];
        const char *path = pf_trace_str(d->t, f->path);
        uint64_t first = by_time ? l->total_ns : l->self_ns;
        uint64_t second = by_time ? l->self_ns : l->total_ns;
        if (f->source != PF_NONE)
            fprintf(out, "<tr><td class=\"t\"><a href=\"#L%u-%u\">", (unsigned)f->source, (unsigned)l->line);
        else
            fprintf(out, "<tr><td class=\"t\"><a href=\"#F%u-%u\">", (unsigned)hot[i].file, (unsigned)l->line);
        pf_html_escape_cstr(out, pf_html_short_path(d->t, path, d->opts->full_paths));
        fprintf(out, ":%u</a></td><td>%s</td><td>%s</td><td class=\"t\">", (unsigned)l->line,
                pf_units_ns(a, sizeof a, first), pf_units_pct(b, sizeof b, first, m->total_ns));
        meter(out, first, m->total_ns);
        fprintf(out, "</td><td>%s</td>", pf_units_ns(a, sizeof a, second));
        fprintf(out, "<td>%s</td>", pf_units_pct(b, sizeof b, second, m->total_ns));
        fprintf(out, "<td>%s</td>", pf_units_count(c, sizeof c, l->hits));
        if (m->has_memory)
            bytes_td(out, l->mem.alloc_bytes);
        fputs("<td class=\"t src1\"><code>", out);
        if (f->source != PF_NONE) {
            source_line(out, &d->t->sources[f->source], l->line);
            fputs("</code></td></tr>\n", out);
        } else {
            fputs("</code><span class=\"muted\">source not embedded</span></td></tr>\n", out);
        }
    }
    fputs("</tbody></table>\n", out);
}

/* Hottest lines, by time including calls (a line that calls what takes 70% of the run
 * holds 70%) or by self time. */
static void hot_lines(const doc *d)
{
    const pf_html_model *m = d->m;
    if (m->nhot_time == 0 && m->nhot == 0)
        return;
    fputs("<h2>Hottest lines</h2>\n", d->out);
    rank_start(d->out, "rank-lines");
    hot_lines_table(d, 1, m->hot_time, m->nhot_time);
    hot_lines_table(d, 0, m->hot, m->nhot);
    fputs("</div>\n", d->out);
}

static const pf_html_model *sort_m;

static int cmp_self(const void *a, const void *b)
{
    const pf_html_func *x = &sort_m->funcs[*(const uint32_t *)a], *y = &sort_m->funcs[*(const uint32_t *)b];
    if (x->self_ns != y->self_ns)
        return x->self_ns > y->self_ns ? -1 : 1;
    return *(const uint32_t *)a < *(const uint32_t *)b ? -1 : 1;
}

/* Where a function ran: its process's pid, "all" when it ran in every process, "k of
 * n" when in several; empty without calls. */
static void process_td(const doc *d, const pf_html_func *f)
{
    uint32_t np = d->t->nprocesses;
    if (f->nprocesses == 1 && f->process < np)
        fprintf(d->out, "<td>%llu</td>", (unsigned long long)d->t->processes[f->process].pid);
    else if (f->nprocesses == np)
        fputs("<td>all</td>", d->out);
    else if (f->nprocesses > 1)
        fprintf(d->out, "<td>%u of %u</td>", (unsigned)f->nprocesses, (unsigned)np);
    else
        fputs("<td></td>", d->out);
}

/* One table of hottest functions: idx lists them by self time (by_time: the model's
 * order, by cumulative time). */
static void hot_funcs_table(const doc *d, int by_time, const uint32_t *idx)
{
    FILE *out = d->out;
    const pf_html_model *m = d->m;
    char a[64], b[64], c[64];
    int by_process = d->t->nprocesses > 1;
    fprintf(out, "<table class=\"list %s\"><thead><tr><th class=\"t g\">Function</th>"
            "<th class=\"t\">Location</th>", by_time ? "by-time" : "by-self");
    if (by_process)
        fputs("<th title=\"The process it ran in (pid), or in how many\">Process</th>", out);
    if (by_time)
        fputs("<th title=\"Time in the function and everything it called, recursion counted "
              "once\">Cumulative</th>" PCT_TH("Cum. %", "Cumulative time as a share of the profiled time")
              "<th class=\"t\"></th><th>Self time</th>" SELF_PCT_TH, out);
    else
        fputs("<th title=\"Time in the function itself\">Self time</th>" SELF_PCT_TH
              "<th class=\"t\"></th><th>Cumulative</th>"
              PCT_TH("Cum. %", "Cumulative time as a share of the profiled time"), out);
    fputs("<th>Calls</th></tr></thead><tbody>\n", out);
    for (uint32_t i = 0; i < m->nfuncs && i < TOP_N; i++) {
        const pf_html_func *f = &m->funcs[by_time ? i : idx[i]];
        uint64_t first = by_time ? f->cum_ns : f->self_ns;
        uint64_t second = by_time ? f->self_ns : f->cum_ns;
        fputs("<tr><td class=\"t\">", out);
        func_link(d, f);
        fputs("</td><td class=\"t muted\">", out);
        location(d, f->code);
        fputs("</td>", out);
        if (by_process)
            process_td(d, f);
        fprintf(out, "<td>%s</td><td>%s</td><td class=\"t\">", pf_units_ns(a, sizeof a, first),
                pf_units_pct(b, sizeof b, first, m->total_ns));
        meter(out, first, m->total_ns);
        fprintf(out, "</td><td>%s</td>", pf_units_ns(a, sizeof a, second));
        fprintf(out, "<td>%s</td>", pf_units_pct(b, sizeof b, second, m->total_ns));
        fprintf(out, "<td>%s</td></tr>\n", pf_units_count(c, sizeof c, f->calls));
    }
    fputs("</tbody></table>\n", out);
}

static int hot_funcs(const doc *d, pf_error *err)
{
    const pf_html_model *m = d->m;
    if (m->nfuncs == 0)
        return 0;
    uint32_t *idx = pf_malloc(m->nfuncs * sizeof *idx);
    if (!idx)
        return pf_error_set(err, PF_ENOMEM, "out of memory while rendering the report");
    for (uint32_t i = 0; i < m->nfuncs; i++)
        idx[i] = i;
    sort_m = m;
    qsort(idx, m->nfuncs, sizeof *idx, cmp_self);
    fputs("<h2>Hottest functions</h2>\n", d->out);
    rank_start(d->out, "rank-funcs");
    hot_funcs_table(d, 1, idx);      /* the model's funcs are by cumulative time already */
    hot_funcs_table(d, 0, idx);
    fputs("</div>\n", d->out);
    pf_free(idx);
    return 0;
}

/* ---- function table ------------------------------------------------------------------ */

static void func_table(const doc *d)
{
    FILE *out = d->out;
    const pf_html_model *m = d->m;
    char a[64], b[64];
    fputs("<section id=\"functions\"><h2>Functions</h2>\n", out);
    if (m->nfuncs == 0) {
        fputs("<p class=\"note\">The trace has no function data.</p></section>\n", out);
        return;
    }
    fputs("<p class=\"note\">Click a column to sort. Cumulative time counts a recursive function once "
          "(its outermost calls); self time excludes the functions it calls.</p>\n"
          "<div class=\"scroll\"><table class=\"list sortable\" id=\"functable\"><thead><tr>"
          "<th class=\"t g\" data-sort=\"text\">Function</th>"
          "<th class=\"t\" data-sort=\"text\">Location</th>"
          "<th data-sort=\"num\" title=\"Times called\">Calls</th>"
          "<th data-sort=\"num\" title=\"Time in the function itself\">Self</th>"
          "<th data-sort=\"num\" title=\"Self time as a share of the profiled time\">Self %</th>"
          "<th data-sort=\"num\" aria-sort=\"descending\" title=\"Time in the function and everything it called\">Cumulative</th>"
          "<th data-sort=\"num\" title=\"Cumulative time as a share of the profiled time\">Cum. %</th>"
          "<th data-sort=\"num\" title=\"Cumulative time per call\">Per call</th>", out);
    if (m->has_memory)
        fputs("<th data-sort=\"num\" title=\"Bytes allocated by the function's own code\">Allocated</th>", out);
    fputs("</tr></thead><tbody>\n", out);
    uint32_t nrows = m->nfuncs < MAX_FUNC_ROWS ? m->nfuncs : MAX_FUNC_ROWS;
    for (uint32_t i = 0; i < nrows; i++) {
        const pf_html_func *f = &m->funcs[i];
        int anchored = f->file != PF_NONE && m->files[f->file].shown;
        if (anchored)
            fputs("<tr><td class=\"t\">", out);
        else
            fprintf(out, "<tr id=\"code-%u\"><td class=\"t\">", (unsigned)f->code);
        func_link(d, f);
        fputs("</td><td class=\"t muted\">", out);
        location(d, f->code);
        fprintf(out, "</td><td data-v=\"%llu\">%s</td>", (unsigned long long)f->calls,
                pf_units_count(a, sizeof a, f->calls));
        fprintf(out, "<td data-v=\"%llu\">%s</td><td data-v=\"%llu\">%s</td>",
                (unsigned long long)f->self_ns, pf_units_ns(a, sizeof a, f->self_ns),
                (unsigned long long)f->self_ns, pf_units_pct(b, sizeof b, f->self_ns, m->total_ns));
        fprintf(out, "<td data-v=\"%llu\">%s</td><td data-v=\"%llu\">%s</td>",
                (unsigned long long)f->cum_ns, pf_units_ns(a, sizeof a, f->cum_ns),
                (unsigned long long)f->cum_ns, pf_units_pct(b, sizeof b, f->cum_ns, m->total_ns));
        uint64_t per = f->calls ? f->cum_ns / f->calls : 0;
        fprintf(out, "<td data-v=\"%llu\">%s</td>", (unsigned long long)per,
                f->calls ? pf_units_ns(a, sizeof a, per) : "");
        if (m->has_memory)
            fprintf(out, f->alloc_bytes ? "<td data-v=\"%llu\">%s</td>" : "<td data-v=\"%llu\" class=\"z\">%s</td>",
                    (unsigned long long)f->alloc_bytes, pf_units_bytes(a, sizeof a, f->alloc_bytes, 0));
        fputs("</tr>\n", out);
    }
    fputs("</tbody></table></div>\n", out);
    if (m->nfuncs > nrows)
        fprintf(out, "<p class=\"note\">%u functions with less cumulative time are not listed.</p>\n",
                (unsigned)(m->nfuncs - nrows));
    fputs("</section>\n", out);
}

/* ---- document ------------------------------------------------------------------------ */

static int files(const doc *d, pf_error *err)
{
    FILE *out = d->out;
    const pf_html_model *m = d->m;
    char a[64], b[64];
    fputs("<section id=\"source\"><h2>Source</h2>\n", out);
    if (m->nfiles == 0)
        fputs("<p class=\"note\">No Python file has data in this trace.</p>\n", out);
    else if (m->has_lines)
        fputs("<p class=\"note\">Time includes the calls a line makes; self time does not. "
              "Time % is the line's time as a share of the profiled time. "
              "Lines without data fold away: click to expand.</p>\n", out);
    else if (d->t->meta.modes & PF_MODE_LINES)
        fputs("<p class=\"note\">This trace has no line data: line tracing was on but no file "
              "matched the selection; choose files with <code>collect --include GLOB</code>. "
              "Each function's totals are shown at its first line.</p>\n", out);
    else
        fputs("<p class=\"note\">This trace has no line data (record with <code>collect --lines</code>): "
              "each function's totals are shown at its first line.</p>\n", out);
    if (m->nshown < m->nfiles)
        fprintf(out, "<p class=\"note\">%u of %u files are not shown (--limit/--threshold); they hold %s "
                "of self time (%s).</p>\n", (unsigned)(m->nfiles - m->nshown), (unsigned)m->nfiles,
                pf_units_ns(a, sizeof a, m->hidden_ns), pf_units_pct(b, sizeof b, m->hidden_ns, m->total_ns));
    if (m->nopen < m->nshown)
        fprintf(out, "<p class=\"note folded\">The %u hottest file%s, holding most of the self "
                "time, %s open; the %u other%s %s folded: click a file's name to open it. "
                "<button type=\"button\" class=\"open-files\" hidden>Open all files</button></p>\n",
                (unsigned)m->nopen, m->nopen == 1 ? "" : "s", m->nopen == 1 ? "is" : "are",
                (unsigned)(m->nshown - m->nopen), m->nshown - m->nopen == 1 ? "" : "s",
                m->nshown - m->nopen == 1 ? "is" : "are");
    for (uint32_t i = 0; i < m->nfiles; i++)
        if (m->files[i].shown && pf_html_source_render(out, m, i, d->opts, err) < 0)
            return -1;
    fputs("</section>\n", out);
    return 0;
}

int pf_html_render(const pf_trace *t, const pf_html_opts *opts, FILE *out, pf_error *err)
{
    pf_html_opts defaults;
    if (opts == NULL) {
        pf_html_opts_init(&defaults);
        opts = &defaults;
    }
    pf_html_model *m = pf_html_model_new(t, opts->limit, opts->threshold_pct, err);
    if (!m)
        return -1;
    doc d = { out, t, m, opts };
    int rc = -1;

    head(&d);
    fputs("<header class=\"top\"><div class=\"wrap\"><h1>", out);
    title_text(&d);
    fputs("</h1><nav><a href=\"#overview\">Overview</a><a href=\"#functions\">Functions</a>"
          "<a href=\"#source\">Source</a></nav></div></header>\n<main class=\"wrap\">\n"
          "<section id=\"overview\">\n", out);
    cards(&d);
    meta_table(&d);
    processes(&d);
    pf_html_rss(out, t);
    hot_files(&d);
    hot_lines(&d);
    if (hot_funcs(&d, err) < 0)
        goto done;
    fputs("</section>\n", out);
    func_table(&d);
    if (files(&d, err) < 0)
        goto done;
    fputs("</main>\n<footer class=\"wrap\">Generated by pyflame-c " PF_VERSION
          " \xC2\xB7 trace format ", out);
    fprintf(out, "%u</footer>\n<script>\n", (unsigned)t->meta.format_version);
    fputs(report_js, out);
    fputs("</script>\n</body>\n</html>\n", out);
    if (fflush(out) != 0 || ferror(out)) {
        pf_error_set(err, PF_EIO, "write error");
        goto done;
    }
    rc = 0;
done:
    pf_html_model_free(m);
    return rc;
}
