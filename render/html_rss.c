/* html_rss.c: the RSS plot of the HTML report (see html_rss.h).
 *
 * One SVG of fixed size (scaled down by the page when narrow): a line per process
 * (up to PF_HTML_RSS_LINES), each sample placed at its process's start plus its own
 * time, so children sit where they ran in the root's timeline; the y axis runs from 0
 * to the highest peak rounded up to a tick.  The highest peak is marked by a dashed
 * line and a label (the kernel's high-water mark, which catches spikes between
 * samples) and a dot on the highest sample.  Coordinates are integers and labels come
 * from formats/units.c, so the bytes depend on the trace only.
 */
#include "html_rss.h"

#include <inttypes.h>
#include <math.h>
#include <string.h>

#include "formats/units.h"
#include "html_escape.h"

#define W 640                   /* the plot's size and its margins, in pixels */
#define H 220
#define ML 72
#define MR 16
#define MT 16
#define MB 40

static const char *const colors[PF_HTML_RSS_LINES] = {
    "#e8590c", "#0969da", "#1a7f37", "#8250df", "#bf3989", "#9a6700", "#0550ae", "#cf222e"
};

/* The smallest 1, 2 or 5 times a power of ten (times unit) that is >= want. */
static uint64_t nice_step(double want, uint64_t unit)
{
    double u = (double)unit;
    for (double p = 1; p < 1e19; p *= 10) {
        if (1 * p * u >= want)
            return (uint64_t)(1 * p * u);
        if (2 * p * u >= want)
            return (uint64_t)(2 * p * u);
        if (5 * p * u >= want)
            return (uint64_t)(5 * p * u);
    }
    return UINT64_MAX / 8;
}

static uint64_t start_of(const pf_trace *t, const pf_rss *r)
{
    int64_t s = t->processes[r->process].start_ns;
    return s > 0 ? (uint64_t)s : 0;
}

static long px_x(uint64_t ns, uint64_t xmax)
{
    return ML + lround((double)ns / (double)xmax * (W - ML - MR));
}

static long px_y(uint64_t bytes, uint64_t ymax)
{
    return H - MB - lround((double)bytes / (double)ymax * (H - MT - MB));
}

void pf_html_rss(FILE *out, const pf_trace *t)
{
    if (t->nrss == 0)
        return;
    uint32_t n = t->nrss < PF_HTML_RSS_LINES ? t->nrss : PF_HTML_RSS_LINES;
    /* the ranges: time from 0 to the last sample, bytes from 0 to the highest peak */
    uint64_t xmax = 1, ymax = 1;
    uint32_t top = 0;                   /* the record with the highest peak */
    for (uint32_t i = 0; i < n; i++) {
        const pf_rss *r = &t->rss[i];
        if (r->nsamples) {
            uint64_t end = start_of(t, r) + r->samples[r->nsamples - 1].time_ns;
            if (end > xmax)
                xmax = end;
        }
        for (uint32_t k = 0; k < r->nsamples; k++)
            if (r->samples[k].bytes > ymax)
                ymax = r->samples[k].bytes;
        if (r->peak_bytes > ymax)
            ymax = r->peak_bytes;
        if (r->peak_bytes > t->rss[top].peak_bytes)
            top = i;
    }
    const uint64_t KiB = 1024, MiB = KiB << 10, GiB = MiB << 10;
    uint64_t unit = ymax >= 4 * GiB ? GiB : ymax >= 4 * MiB ? MiB : ymax >= 4 * KiB ? KiB : 1;
    uint64_t ystep = nice_step((double)ymax / 4, unit);
    ymax = (ymax + ystep - 1) / ystep * ystep;
    uint64_t xstep = nice_step((double)xmax / 6, 1);
    char a[PF_UNITS_BUFSZ];

    fputs("<h2 id=\"rss\">Memory over time</h2>\n<figure class=\"rss\" style=\"margin:0 0 8px\">"
          "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 640 220\" width=\"640\" "
          "height=\"220\" style=\"max-width:100%;height:auto\" role=\"img\" "
          "aria-label=\"Resident set size over time\" font-size=\"11\" fill=\"currentColor\">\n"
          "<title>Resident set size (RSS) over time</title>\n", out);
    /* grid and tick labels */
    fputs("<g stroke=\"currentColor\" stroke-opacity=\".15\">", out);
    for (uint64_t y = ystep; y <= ymax; y += ystep)
        fprintf(out, "<path d=\"M%d %ldH%d\"/>", ML, px_y(y, ymax), W - MR);
    fputs("</g>\n<g text-anchor=\"end\">", out);
    for (uint64_t y = 0; y <= ymax; y += ystep)
        fprintf(out, "<text x=\"%d\" y=\"%ld\">%s</text>", ML - 6, px_y(y, ymax) + 4,
                pf_units_bytes(a, sizeof a, y, 0));
    fputs("</g>\n<g text-anchor=\"middle\">", out);
    for (uint64_t x = 0; x <= xmax; x += xstep) {
        fprintf(out, "<text x=\"%ld\" y=\"%d\">%s</text>", px_x(x, xmax), H - MB + 16,
                x ? pf_units_ns(a, sizeof a, x) : "0");
        if (x > UINT64_MAX - xstep)
            break;
    }
    fprintf(out, "</g>\n<path d=\"M%d %dV%dH%d\" fill=\"none\" stroke=\"currentColor\" "
            "stroke-opacity=\".6\"/>\n", ML, MT, H - MB, W - MR);
    fprintf(out, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">time since start</text>\n"
            "<text transform=\"translate(14 %d) rotate(-90)\" text-anchor=\"middle\">"
            "RSS (%s)</text>\n", (ML + W - MR) / 2, H - 6, (MT + H - MB) / 2,
            unit == GiB ? "GiB" : unit == MiB ? "MiB" : unit == KiB ? "KiB" : "bytes");
    /* one line per process */
    for (uint32_t i = 0; i < n; i++) {
        const pf_rss *r = &t->rss[i];
        if (r->nsamples == 0)
            continue;
        uint64_t s0 = start_of(t, r);
        fprintf(out, "<path class=\"rss-line\" fill=\"none\" stroke=\"%s\" stroke-width=\"1.5\" "
                "stroke-linejoin=\"round\" d=\"", colors[i]);
        long px = -1, py = -1;
        for (uint32_t k = 0; k < r->nsamples; k++) {
            long x = px_x(s0 + r->samples[k].time_ns, xmax), y = px_y(r->samples[k].bytes, ymax);
            if (k && x == px && y == py)
                continue;               /* same pixel: nothing to draw */
            fprintf(out, k ? "L%ld %ld" : "M%ld %ld", x, y);
            px = x;
            py = y;
        }
        fputs("\"/>\n", out);
    }
    /* the highest peak: a dashed line at it, a dot on its highest sample, a label */
    const pf_rss *r = &t->rss[top];
    long py = px_y(r->peak_bytes, ymax);
    fprintf(out, "<path class=\"rss-peak\" d=\"M%d %ldH%d\" stroke=\"%s\" "
            "stroke-dasharray=\"4 3\"/>\n", ML, py, W - MR, colors[top]);
    if (r->nsamples) {
        uint32_t hi = 0;
        for (uint32_t k = 1; k < r->nsamples; k++)
            if (r->samples[k].bytes > r->samples[hi].bytes)
                hi = k;
        fprintf(out, "<circle cx=\"%ld\" cy=\"%ld\" r=\"3\" fill=\"%s\"/>\n",
                px_x(start_of(t, r) + r->samples[hi].time_ns, xmax),
                px_y(r->samples[hi].bytes, ymax), colors[top]);
    }
    fprintf(out, "<text class=\"rss-peak-label\" x=\"%d\" y=\"%ld\" text-anchor=\"end\">peak %s",
            W - MR - 2, py - 4, pf_units_bytes(a, sizeof a, r->peak_bytes, 0));
    if (t->nrss > 1)
        fprintf(out, " (pid %" PRIu64 ")", t->processes[r->process].pid);
    fputs("</text>\n</svg>\n<figcaption class=\"note\">", out);
    /* legend: who each line is, its peak and its end */
    for (uint32_t i = 0; i < n; i++) {
        const pf_rss *q = &t->rss[i];
        char label[160], fin[PF_UNITS_BUFSZ];
        pf_trace_process_label(t, q->process, label, sizeof label);
        fprintf(out, "%s<span style=\"color:%s\">&#9632;</span> ", i ? "<br>" : "", colors[i]);
        pf_html_escape_cstr(out, label);
        fprintf(out, ": peak %s, at %s %s", pf_units_bytes(a, sizeof a, q->peak_bytes, 0),
                t->processes[q->process].flags & PF_PROC_CUT_SHORT ? "its last snapshot" : "exit",
                pf_units_bytes(fin, sizeof fin, q->final_bytes, 0));
    }
    if (t->nrss > n)
        fprintf(out, "<br>%u more processes have RSS data; the first %u are drawn.",
                t->nrss - n, n);
    fputs("</figcaption></figure>\n", out);
}
