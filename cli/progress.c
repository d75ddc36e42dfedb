/* progress.c: the terminal progress line (see progress.h).
 *
 * The sink gets a report every input block (256 KiB) or every 64 K entries, so it
 * reads the clock on each (a vDSO call) but redraws at most ten times a second.  A
 * phase's rate is its done count over the time since it began: at the report before
 * its first, when the phase or the label changed, or the count went backwards (the
 * next input).  The
 * line ends with "\033[K" (erase to the end of the line), so a shorter line leaves no
 * tail, and is erased when a phase completes and at exit, so messages start on a clean
 * line. */
#include "cli/progress.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "formats/progress.h"

static struct {
    char cmd[32];
    char label[64];
    double start, delay, last_draw, last_report, phase_start;
    int phase;
    uint64_t last_done;
    int shown, installed;
} pg;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* "12.3 MiB" for bytes, "1.23 M" for entries. */
static void amount(char *buf, size_t cap, double v, int bytes)
{
    static const char *const bu[] = { "B", "KiB", "MiB", "GiB", "TiB" };
    static const char *const eu[] = { "", " k", " M", " G", " T" };
    double div = bytes ? 1024.0 : 1000.0;
    int k = 0;
    while (v >= div && k < 4) {
        v /= div;
        k++;
    }
    snprintf(buf, cap, v >= 100 || k == 0 ? "%.0f%s%s" : "%.1f%s%s", v, bytes ? " " : "",
             bytes ? bu[k] : eu[k]);
}

void pf_cli_progress_clear(void)
{
    if (pg.shown) {
        fputs("\r\033[K", stderr);
        fflush(stderr);
        pg.shown = 0;
    }
}

static void sink(void *ctx, enum pf_progress_phase phase, uint64_t done, uint64_t total)
{
    (void)ctx;
    double t = now();
    if ((int)phase != pg.phase || done < pg.last_done) {
        /* its work began when the one before ended: at the last report */
        pg.phase = (int)phase;
        pg.phase_start = pg.last_report;
    }
    pg.last_report = t;
    pg.last_done = done;
    if (total != 0 && done >= total) {       /* the phase is over */
        pf_cli_progress_clear();
        pg.last_done = 0;
        pg.phase = -1;
        return;
    }
    if (t - pg.start < pg.delay || (pg.shown && t - pg.last_draw < 0.1))
        return;
    static const char *const names[] = { "reading", "building", "writing" };
    int bytes = phase == PF_PROGRESS_READ;
    double el = t - pg.phase_start, rate = el > 0 ? (double)done / el : 0;
    char line[256], a[32], r[32], pct[16] = "", eta[32] = "";
    amount(a, sizeof a, (double)done, bytes);
    amount(r, sizeof r, rate, bytes);
    if (total != 0) {
        snprintf(pct, sizeof pct, "%3.0f%% ", 100.0 * (double)done / (double)total);
        if (rate > 0) {
            double left = (double)(total - done) / rate;
            if (left < 60)
                snprintf(eta, sizeof eta, ", ETA %.0fs", left < 1 ? 1 : left);
            else
                snprintf(eta, sizeof eta, ", ETA %.0fm%02.0fs", left / 60,
                         left - 60 * (double)(int)(left / 60));
        }
    }
    snprintf(line, sizeof line, "pyflame-c %s: %s%s%s %s(%s%s, %s%s/s%s)", pg.cmd, pg.label,
             pg.label[0] ? ": " : "", names[phase <= PF_PROGRESS_WRITE ? phase : 0], pct, a,
             bytes ? "" : " entries", r, bytes ? "" : " entries", eta);
    fprintf(stderr, "\r%s\033[K", line);
    fflush(stderr);
    pg.shown = 1;
    pg.last_draw = t;
}

static void at_exit(void)
{
    pf_cli_progress_clear();
}

void pf_cli_progress_start(const char *cmd)
{
    const char *off = getenv("PYFLAME_C_PROGRESS");
    if (!isatty(STDERR_FILENO) || (off != NULL && strcmp(off, "0") == 0))
        return;
    snprintf(pg.cmd, sizeof pg.cmd, "%s", cmd);
    const char *d = getenv("PYFLAME_C_PROGRESS_DELAY");
    pg.delay = d != NULL ? atof(d) : 0.5;
    pg.start = pg.last_report = now();
    pg.phase = -1;
    pg.last_done = 0;
    if (!pg.installed) {
        atexit(at_exit);
        pg.installed = 1;
    }
    pf_progress_set(sink, NULL);
}

void pf_cli_progress_label(const char *label)
{
    snprintf(pg.label, sizeof pg.label, "%s", label ? label : "");
    pg.phase = -1;
}
