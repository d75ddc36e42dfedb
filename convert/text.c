/* text.c: the pstats-style table (see text.h). */
#include "convert/text.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "formats/asyncview.h"
#include "formats/framename.h"
#include "formats/units.h"
#include "formats/alloc.h"

/* qsort has no context argument in C11; the comparator reads these. */
static const pf_funcstats *sort_stats;
static enum pf_text_sort sort_key;

static uint64_t sort_value(const pf_fkey *k)
{
    switch (sort_key) {
    case PF_SORT_CUMULATIVE: return k->ct_ns;
    case PF_SORT_CALLS:      return k->nc;
    case PF_SORT_ALLOC:      return k->mem.alloc_bytes;
    case PF_SORT_PEAK:       return k->mem.peak_bytes;
    case PF_SORT_EXIT:       return k->mem.exit_bytes;
    case PF_SORT_SELF:       break;
    }
    return k->tt_ns;
}

static int cmp_bytes(const char *a, size_t an, const char *b, size_t bn)
{
    int c = memcmp(a, b, an < bn ? an : bn);
    return c ? c : (an > bn) - (an < bn);
}

static int cmp_rows(const void *pa, const void *pb)
{
    const pf_fkey *a = &sort_stats->keys[*(const uint32_t *)pa];
    const pf_fkey *b = &sort_stats->keys[*(const uint32_t *)pb];
    uint64_t va = sort_value(a), vb = sort_value(b);
    if (va != vb)
        return va > vb ? -1 : 1;
    /* secondary: tottime, then identity */
    if (a->tt_ns != b->tt_ns)
        return a->tt_ns > b->tt_ns ? -1 : 1;
    int c = cmp_bytes(a->file, a->file_len, b->file, b->file_len);
    if (c)
        return c;
    if (a->line != b->line)
        return a->line < b->line ? -1 : 1;
    return cmp_bytes(a->name, a->name_len, b->name, b->name_len);
}

/* Writes s[0..n) with control bytes as \xNN so a hostile name cannot break the table. */
static void put_clean(FILE *out, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7F)
            fprintf(out, "\\x%02x", c);
        else
            putc(c, out);
    }
}

/* "RSS:" lines, one per process with RSS samples (the process's pid when several). */
static void rss_lines(const pf_trace *t, FILE *out)
{
    for (uint32_t i = 0; i < t->nrss; i++) {
        const pf_rss *r = &t->rss[i];
        char peak[PF_UNITS_BUFSZ], fin[PF_UNITS_BUFSZ];
        pf_units_bytes(peak, sizeof peak, r->peak_bytes, 0);
        pf_units_bytes(fin, sizeof fin, r->final_bytes, 0);
        const pf_process *pr = &t->processes[r->process];
        fprintf(out, "RSS:     peak %s, %s %s", peak,
                pr->flags & PF_PROC_CUT_SHORT ? "at its last snapshot" : "at exit", fin);
        if (t->nprocesses > 1)
            fprintf(out, " (pid %" PRIu64 ")", pr->pid);
        putc('\n', out);
    }
}

/* Shell-quotes one argument when it needs it, so the command line can be re-run. */
static void put_arg(FILE *out, const char *a)
{
    int plain = *a != '\0';
    for (const char *p = a; *p; p++)
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_./:=,+-@%",
                    *p))
            plain = 0;
    if (plain) {
        put_clean(out, a, strlen(a));
        return;
    }
    putc('\'', out);
    for (const char *p = a; *p; p++) {
        if (*p == '\'')
            fputs("'\\''", out);
        else
            put_clean(out, p, 1);
    }
    putc('\'', out);
}

static void header(const pf_trace *t, FILE *out)
{
    const pf_meta *m = &t->meta;
    if (m->origin) {
        /* another profiler's file: say what it was and how exact it is, first */
        fputs("Source:  ", out);
        put_clean(out, m->origin, strlen(m->origin));
        putc('\n', out);
    }
    fputs("Command: ", out);
    if (m->argc == 0)
        fputs("(unknown)", out);
    /* another profiler's file names its profile in free text (pyinstrument: "CPU profile
     * for 'Program: app.py' at ..."), not as a command line: shown as is, not quoted */
    int free_text = m->origin && m->argc == 1 && m->argv[0];
    for (uint32_t i = 0; i < m->argc; i++) {
        const char *a = m->argv[i] ? m->argv[i] : "";
        if (i)
            putc(' ', out);
        if (free_text)
            put_clean(out, a, strlen(a));
        else
            put_arg(out, a);
    }
    putc('\n', out);
    fputs("Python:  ", out);
    put_clean(out, m->python_version ? m->python_version : "(unknown)",
              strlen(m->python_version ? m->python_version : "(unknown)"));
    if (m->python_executable) {
        fputs(" (", out);
        put_clean(out, m->python_executable, strlen(m->python_executable));
        putc(')', out);
    }
    putc('\n', out);
    if (m->start_unix_ns > 0) {
        time_t sec = (time_t)(m->start_unix_ns / 1000000000);
        struct tm tm;
        char when[64];
        if (gmtime_r(&sec, &tm) && strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S UTC", &tm))
            fprintf(out, "Started: %s\n", when);
    }
    fprintf(out, "Elapsed: %.3f seconds profiled, %u thread%s",
            (double)m->duration_ns / 1e9, t->nthreads, t->nthreads == 1 ? "" : "s");
    if (t->nprocesses > 1)
        fprintf(out, " in %u processes", t->nprocesses);
    putc('\n', out);
    if (pf_trace_is_sampled(t)) {
        char smp[200];
        pf_trace_sample_describe(t, smp, sizeof smp);
        fprintf(out, "Sampled: %s; times are samples x %.3g ms\n", smp,
                (double)m->sample_interval_ns / 1e6);
    } else if (m->clock != NULL)
        fprintf(out, "Clock:   %s\n", pf_trace_clock_words(t));
    if (pf_trace_view_words(t) != NULL)
        fprintf(out, "View:    %s\n", pf_trace_view_words(t));
    if (m->links_dropped != 0)
        fprintf(out, "Warning: %" PRIu64 " asyncio tasks or thread pool work items could not be "
                "linked to their creator (the collector's table was full)\n", m->links_dropped);
    if (m->exit_code != PF_EXIT_UNKNOWN || m->exit_signal != 0 || (m->flags & PF_FLAG_CUT_SHORT)) {
        char how[160];
        pf_trace_describe_exit(t, PF_NONE, how, sizeof how);
        fprintf(out, "Ended:   %s\n", how);
    }
    if ((m->modes & PF_MODE_MEMORY) && (m->modes & PF_MODE_NATIVE)) {
        /* Python-only traces keep their header as it was (no Memory line) */
        char peak[PF_UNITS_BUFSZ], nat[PF_UNITS_BUFSZ], py[PF_UNITS_BUFSZ];
        uint64_t native = m->peak_native_bytes < m->peak_live_bytes ? m->peak_native_bytes
                                                                    : m->peak_live_bytes;
        pf_units_bytes(peak, sizeof peak, m->peak_live_bytes, 0);
        pf_units_bytes(nat, sizeof nat, native, 0);
        pf_units_bytes(py, sizeof py, m->peak_live_bytes - native, 0);
        fprintf(out, "Memory:  peak %s (native %s, Python %s)", peak, nat, py);
        if (t->nprocesses > 1)
            fputs(", the highest process peak", out);
        putc('\n', out);
    }
    if (m->flags & PF_FLAG_OUT_OF_MEMORY)
        fputs("Warning: the collector ran out of memory; this profile is incomplete.\n", out);
    for (uint32_t i = 0; i < m->ngaps; i++) {
        char g[256];
        pf_trace_gap_describe(t, i, g, sizeof g);
        fputs("Warning: not recorded: ", out);
        put_clean(out, g, strlen(g));
        putc('\n', out);
    }
    rss_lines(t, out);
}

/* Display width of s (UTF-8: continuation bytes take no column). */
static int columns(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

/* s right-aligned (right) or left-aligned in width columns. */
static void put_cell(FILE *out, const char *s, int width, int right)
{
    int pad = width - columns(s);
    if (right)
        for (int i = 0; i < pad; i++)
            putc(' ', out);
    fputs(s, out);
    if (!right)
        for (int i = 0; i < pad; i++)
            putc(' ', out);
}

/* Cells of one row of the processes table (all ASCII but the time's unit). */
struct proc_row {
    char pid[24], ppid[24], calls[PF_UNITS_BUFSZ], time[PF_UNITS_BUFSZ], peak[PF_UNITS_BUFSZ];
    char exit[160];
};

static void proc_cells(const pf_trace *t, uint32_t p, struct proc_row *r)
{
    const pf_process *pr = &t->processes[p];
    snprintf(r->pid, sizeof r->pid, "%" PRIu64, pr->pid);
    if (pr->ppid)
        snprintf(r->ppid, sizeof r->ppid, "%" PRIu64, pr->ppid);
    else
        snprintf(r->ppid, sizeof r->ppid, "?");
    pf_units_count(r->calls, sizeof r->calls, pr->calls);
    pf_units_ns(r->time, sizeof r->time, pr->duration_ns);
    pf_units_bytes(r->peak, sizeof r->peak, pr->peak_live_bytes, 1);
    pf_trace_describe_exit(t, p, r->exit, sizeof r->exit);
}

/* The "Processes:" table: one row per process, columns as wide as their widest cell,
 * the command last (whole, control bytes escaped). */
static void processes_table(const pf_trace *t, FILE *out)
{
    int memory = (t->meta.modes & PF_MODE_MEMORY) != 0;
    int w[6] = { 7, 7, 5, 8, 4, 4 };    /* pid ppid calls recorded peak exit */
    struct proc_row r;
    for (uint32_t p = 0; p < t->nprocesses; p++) {
        proc_cells(t, p, &r);
        const char *cells[6] = { r.pid, r.ppid, r.calls, r.time, r.peak, r.exit };
        for (int c = 0; c < 6; c++)
            if (columns(cells[c]) > w[c])
                w[c] = columns(cells[c]);
    }
    if (w[5] > 60)
        w[5] = 60;                      /* a long ending pushes only its own command */
    fprintf(out, "\nProcesses: %u\n\n", t->nprocesses);
    static const char *const head[6] = { "pid", "ppid", "calls", "recorded", "peak", "exit" };
    for (uint32_t p = 0; p <= t->nprocesses; p++) {
        const char *cells[6] = { head[0], head[1], head[2], head[3], head[4], head[5] };
        if (p > 0) {
            proc_cells(t, p - 1, &r);
            const char *v[6] = { r.pid, r.ppid, r.calls, r.time, r.peak, r.exit };
            memcpy(cells, v, sizeof cells);
        }
        fputs("  ", out);
        for (int c = 0; c < 6; c++) {
            if (c == 4 && !memory)
                continue;
            put_cell(out, cells[c], w[c], c < 5);
            fputs("  ", out);
        }
        if (p == 0) {
            fputs("command\n", out);
            continue;
        }
        size_t len;
        const char *cmd = pf_strtab_get(t->strings, t->processes[p - 1].command, &len);
        if (cmd == NULL) {
            cmd = "?";
            len = 1;
        }
        put_clean(out, cmd, len);
        putc('\n', out);
    }
}

/* The function table of s: the totals line, the order (unless brief), the restriction
 * and the rows.  The rows are sorted into *rows (nkeys entries).  s covers nthreads
 * threads that ran for elapsed_ns: with more than one, the total is their sum, and the
 * totals line says so. */
static void function_table(const pf_trace *t, const pf_funcstats *s, const pf_text_opts *opts,
                           uint32_t nthreads, uint64_t elapsed_ns, uint32_t *rows, int brief,
                           FILE *out)
{
    int memory = (t->meta.modes & PF_MODE_MEMORY) != 0;
    int sampled = pf_trace_is_sampled(t);
    uint32_t n = 0;
    for (uint32_t k = 0; k < s->nkeys; k++)     /* sampled: on stacks, if never innermost */
        if (s->keys[k].nc != 0 || (sampled && s->keys[k].ct_ns != 0))
            rows[n++] = k;
    sort_stats = s;
    sort_key = opts->sort;
    qsort(rows, n, sizeof *rows, cmp_rows);

    double per = sampled ? (double)t->meta.sample_interval_ns : 1;
    if (sampled)
        fprintf(out, "\n         %" PRIu64 " samples", s->total_nc);
    else
        fprintf(out, "\n         %" PRIu64 " function calls", s->total_nc);
    if (!sampled && s->total_nc != s->total_cc)
        fprintf(out, " (%" PRIu64 " primitive calls)", s->total_cc);
    fprintf(out, " in %.3f seconds", (double)s->total_tt_ns / 1e9);
    if (nthreads > 1)
        fprintf(out, " (summed over %u threads; elapsed %.3f s)", nthreads,
                (double)elapsed_ns / 1e9);
    putc('\n', out);
    static const char *const order[] = { "internal time", "cumulative time", "call count",
                                         "allocated bytes", "live bytes at peak",
                                         "live bytes at exit" };
    if (!brief)
        fprintf(out, "\n   Ordered by: %s\n", order[opts->sort]);
    uint32_t shown = n;
    if (opts->limit != 0 && opts->limit < n) {
        shown = (uint32_t)opts->limit;
        fprintf(out, "   List reduced from %u to %u due to restriction <%lu>\n", n, shown,
                opts->limit);
    }
    if (sampled)   /* as pstats.SampledStats prints them: self / inclusive samples */
        fputs("\n     nsamples  tottime  cumtime", out);
    else
        fputs("\n   ncalls  tottime  percall  cumtime  percall", out);
    if (memory)
        fputs("    alloc     peak     exit", out);
    fputs(" filename:lineno(function)\n", out);
    for (uint32_t i = 0; i < shown; i++) {
        const pf_fkey *k = &s->keys[rows[i]];
        char calls[48];
        if (k->nc != k->cc)
            snprintf(calls, sizeof calls, "%" PRIu64 "/%" PRIu64, k->nc, k->cc);
        else
            snprintf(calls, sizeof calls, "%" PRIu64, k->nc);
        double tt = (double)k->tt_ns / 1e9, ct = (double)k->ct_ns / 1e9;
        if (sampled) {
            snprintf(calls, sizeof calls, "%.0f/%.0f", (double)k->tt_ns / per,
                     (double)k->ct_ns / per);
            fprintf(out, "%13s %8.3f %8.3f ", calls, tt, ct);
        } else
            fprintf(out, "%9s %8.3f %8.3f %8.3f ", calls, tt, tt / (double)k->nc, ct);
        if (sampled)
            ;
        else if (k->cc != 0)
            fprintf(out, "%8.3f ", ct / (double)k->cc);
        else
            fputs("         ", out);
        if (memory) {
            char a[32], p[32], e[32];
            pf_units_bytes(a, sizeof a, k->mem.alloc_bytes, 1);
            pf_units_bytes(p, sizeof p, k->mem.peak_bytes, 1);
            pf_units_bytes(e, sizeof e, k->mem.exit_bytes, 1);
            fprintf(out, "%8s %8s %8s ", a, p, e);
        }
        const pf_code *code = &t->codes[k->code];
        size_t qlen;
        const char *qual = pf_strtab_get(t->strings, code->qualname, &qlen);
        if (qual == NULL || qlen == 0) {
            qual = k->name;
            qlen = k->name_len;
        }
        if (code->kind == PF_CODE_NATIVE) {
            /* pstats prints ('~', 0, '<label>') as {label}, other labels as they are */
            if (k->name_len >= 2 && k->name[0] == '<' && k->name[k->name_len - 1] == '>') {
                putc('{', out);
                put_clean(out, k->name + 1, k->name_len - 2);
                putc('}', out);
            } else {
                put_clean(out, k->name, k->name_len);
            }
        } else {
            size_t flen = k->file_len;
            const char *file = opts->full_paths
                                   ? k->file
                                   : pf_path_short(t, k->file, k->file_len, &flen);
            put_clean(out, file, flen);
            fprintf(out, ":%u(", k->line);
            put_clean(out, qual, qlen);
            putc(')', out);
        }
        putc('\n', out);
    }
}

int pf_text_write(const pf_trace *t, const pf_funcstats *s, const pf_text_opts *opts,
                  FILE *out, pf_error *err)
{
    int memory = (t->meta.modes & PF_MODE_MEMORY) != 0;
    if ((opts->sort == PF_SORT_ALLOC || opts->sort == PF_SORT_PEAK || opts->sort == PF_SORT_EXIT)
        && !memory)
        return pf_error_set(err, PF_EUSAGE,
                            "sorting by memory needs a trace recorded with memory data");
    uint32_t cap_rows = s->nkeys ? s->nkeys : 1;
    uint32_t *rows = pf_malloc(cap_rows * sizeof *rows);
    if (rows == NULL)
        return pf_error_set(err, PF_ENOMEM, NULL);
    header(t, out);
    if (t->nprocesses > 1)
        processes_table(t, out);
    function_table(t, s, opts, t->nthreads, t->meta.duration_ns, rows, 0, out);
    /* Then each process on its own: the same columns, order and limit. */
    for (uint32_t p = 0; t->nprocesses > 1 && p < t->nprocesses; p++) {
        const pf_process *pr = &t->processes[p];
        pf_funcstats *ps = pf_funcstats_build_threads(t, pr->first_thread, pr->nthreads, err);
        if (ps == NULL) {
            pf_free(rows);
            return -1;
        }
        if (ps->nkeys > cap_rows) {       /* the keys are the trace's: never, but cheap */
            uint32_t *r = pf_reallocarray(rows, ps->nkeys, sizeof *rows);
            if (r == NULL) {
                pf_funcstats_free(ps);
                pf_free(rows);
                return pf_error_set(err, PF_ENOMEM, NULL);
            }
            rows = r;
            cap_rows = ps->nkeys;
        }
        char label[128];
        pf_trace_process_label(t, p, label, sizeof label);
        fputs("\n\n", out);
        put_clean(out, label, strlen(label));
        putc('\n', out);
        function_table(t, ps, opts, pr->nthreads, pr->duration_ns, rows, 1, out);
        pf_funcstats_free(ps);
    }
    pf_free(rows);
    if (ferror(out))
        return pf_error_set(err, PF_EIO, "write error: %s", strerror(errno ? errno : EIO));
    return 0;
}
