/* svg_cmd.c: `pyflame-c svg`, the command line around the SVG renderer: options
 * (flamegraph.pl's names where it has one), telling a trace from collapsed stacks by
 * content, reading the input (plain or gzip, file or stdin) for the stack tree's
 * streaming loader (formats/stacktree.h) so memory never holds the whole input of
 * collapsed stacks, and writing the result to
 * stdout or to a temporary file renamed into place.  Exit status: 0 ok, 1 bad input
 * or I/O, 2 usage. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <malloc.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <libxml/xmlerror.h>
#include <zlib.h>

#include "cli/commands.h"
#include "formats/alloc.h"
#include "formats/collapsed.h"
#include "formats/output.h"
#include "formats/stacktree.h"
#include "formats/trace.h"
#include "render/palette.h"
#include "render/svg.h"

#define CHUNK (4u << 20)          /* collapsed input is parsed this many bytes at a time */
#define MAX_WARNINGS 10           /* malformed-line warnings printed before summarising */

struct options {
    pf_svg_opts svg;
    pf_stack_opts frame;          /* the tree's shape: order, reverse, base, factor, metric */
    const char *input;
    const char *output;           /* NULL: stdout */
    int strict;
    int saw_colors, saw_countname;
};

static void usage(FILE *out)
{
    fputs(
"usage: pyflame-c svg [options] INPUT [-o OUT.svg]\n"
"\n"
"Render an interactive flame graph as one self-contained SVG file.  INPUT is a trace\n"
"from `pyflame-c collect` or collapsed (\"folded\") stacks from any profiler: py-spy,\n"
"austin, perf + stackcollapse-*.pl, `pyflame-c convert -f collapsed`; gzipped\n"
"collapsed files are read too, '-' reads standard input.  Lines with two counts\n"
"(\"stack before after\") make a differential graph: sized by the second count,\n"
"red where it grew, blue where it shrank.\n"
"\n"
"Options (flamegraph.pl's names):\n"
"  -o, --output FILE      write to FILE (temporary file + rename) instead of stdout\n"
"  --title TEXT           title (default \"Flame Graph\")\n"
"  --subtitle TEXT        second title line\n"
"  --width PX             image width (default 1200; the SVG then fits the window)\n"
"  --height PX            height of one frame row (default 16)\n"
"  --minwidth N[%]        omit frames narrower than N px, or N percent of the total\n"
"                         (default 0.1 px)\n"
"  --countname NAME       what the counts are (default \"samples\")\n"
"  --fontsize PX          font size (default 12)\n"
"  --fonttype FONT        font family (default Verdana)\n"
"  --colors PALETTE       hot (default for stacks), mem, io, wakeup, chain, java, js,\n"
"                         perl, red, green, blue, aqua, yellow, purple, orange,\n"
"                         python (default for traces: user code, standard library,\n"
"                         third-party packages and builtins in different hues)\n"
"  --hash                 colour by a name hash that keeps similar names similar\n"
"                         (colours are always the same for the same name)\n"
"  --inverted             icicle graph: roots at the top\n"
"  --reverse              reverse every stack (leaf functions become roots)\n"
"  --flamechart           keep input order instead of merging by name: x is time\n"
"  --negate               differential: swap red and blue\n"
"  --notes TEXT           keep TEXT in the SVG (<desc id=\"notes\">)\n"
"  --bgcolors COLOR       background: yellow, blue, green, grey or #rrggbb\n"
"                         (default by palette, as flamegraph.pl)\n"
"  --factor F             multiply every count by F (e.g. to scale units)\n"
"  --truncate-start       cut long names at the start (\"..tail\") instead of the end\n"
"  --base FUNC            keep only stacks through a frame named FUNC (also matches\n"
"                         \"FUNC (file:line)\"), drawn from that frame up\n"
"  --strict               malformed input lines are errors (default: warn, skip)\n"
"Trace input only:\n"
"  --metric M             self-time (default), calls, alloc-bytes, alloc-count,\n"
"                         peak-bytes, exit-bytes (memory metrics: memory palette)\n"
"  --granularity G        function (default) or line (a frame per call-site line)\n"
"  --full-paths           keep file names whole in frame names\n"
"  --html-link REPORT     frames link to REPORT#code-N (a `pyflame-c html` report;\n"
"                         ctrl-click or ctrl-Enter follows the link)\n"
"  -h, --help             show this help\n"
"\n"
"In the SVG: click a frame to zoom, 'Reset Zoom' or Escape to go back; 'Search' or\n"
"Ctrl-F searches with a regular expression ('ic' toggles ignore-case); Tab and the\n"
"arrow keys move between frames, Enter zooms.  Zoom and search are kept in the URL.\n"
"\n"
"Examples:\n"
"  pyflame-c svg trace.gz > flame.svg\n"
"  py-spy record -f raw -o out.folded -- python app.py && pyflame-c svg out.folded -o flame.svg\n"
"  perf script | stackcollapse-perf.pl | pyflame-c svg --colors java - > perf.svg\n",
        out);
}

/* libxml2 would print its own "I/O error" lines; ours say what failed and where. */
static void quiet_xml_errors(void *ctx, const char *msg, ...)
{
    (void)ctx;
    (void)msg;
}

static int bad_usage(const char *fmt, const char *arg)
{
    fputs("pyflame-c svg: ", stderr);
    fprintf(stderr, fmt, arg);
    fputs("\nRun 'pyflame-c svg --help' for usage.\n", stderr);
    return 2;
}

/* A finite number in (lo, hi], the whole argument. */
static int parse_num(const char *s, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end != '\0' || errno || !isfinite(v) || v <= lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

enum {
    OPT_TITLE = 256, OPT_SUBTITLE, OPT_WIDTH, OPT_HEIGHT, OPT_MINWIDTH, OPT_COUNTNAME,
    OPT_FONTSIZE, OPT_FONTTYPE, OPT_COLORS, OPT_HASH, OPT_INVERTED, OPT_REVERSE,
    OPT_FLAMECHART, OPT_NEGATE, OPT_NOTES, OPT_TRUNCATE_START, OPT_BASE, OPT_STRICT,
    OPT_METRIC, OPT_GRANULARITY, OPT_FULL_PATHS, OPT_HTML_LINK, OPT_BGCOLORS, OPT_FACTOR
};

static const struct option long_opts[] = {
    { "output", required_argument, NULL, 'o' },
    { "help", no_argument, NULL, 'h' },
    { "title", required_argument, NULL, OPT_TITLE },
    { "subtitle", required_argument, NULL, OPT_SUBTITLE },
    { "width", required_argument, NULL, OPT_WIDTH },
    { "height", required_argument, NULL, OPT_HEIGHT },
    { "minwidth", required_argument, NULL, OPT_MINWIDTH },
    { "countname", required_argument, NULL, OPT_COUNTNAME },
    { "fontsize", required_argument, NULL, OPT_FONTSIZE },
    { "fonttype", required_argument, NULL, OPT_FONTTYPE },
    { "colors", required_argument, NULL, OPT_COLORS },
    { "hash", no_argument, NULL, OPT_HASH },
    { "inverted", no_argument, NULL, OPT_INVERTED },
    { "reverse", no_argument, NULL, OPT_REVERSE },
    { "flamechart", no_argument, NULL, OPT_FLAMECHART },
    { "negate", no_argument, NULL, OPT_NEGATE },
    { "notes", required_argument, NULL, OPT_NOTES },
    { "truncate-start", no_argument, NULL, OPT_TRUNCATE_START },
    { "base", required_argument, NULL, OPT_BASE },
    { "strict", no_argument, NULL, OPT_STRICT },
    { "metric", required_argument, NULL, OPT_METRIC },
    { "granularity", required_argument, NULL, OPT_GRANULARITY },
    { "full-paths", no_argument, NULL, OPT_FULL_PATHS },
    { "html-link", required_argument, NULL, OPT_HTML_LINK },
    { "bgcolors", required_argument, NULL, OPT_BGCOLORS },
    { "factor", required_argument, NULL, OPT_FACTOR },
    { NULL, 0, NULL, 0 }
};

static const struct { const char *name; enum pf_metric metric; } metrics[] = {
    { "self-time", PF_METRIC_SELF_TIME }, { "calls", PF_METRIC_CALLS },
    { "alloc-bytes", PF_METRIC_ALLOC_BYTES }, { "alloc-count", PF_METRIC_ALLOC_COUNT },
    { "peak-bytes", PF_METRIC_PEAK_BYTES }, { "exit-bytes", PF_METRIC_EXIT_BYTES },
};

/* Returns -1 to go on, else the exit status (0 for --help, 2 for bad usage). */
static int parse_args(int argc, char **argv, struct options *o)
{
    memset(o, 0, sizeof *o);
    pf_svg_opts_init(&o->svg);
    pf_stack_opts_init(&o->frame);
    opterr = 0;
    optind = 0;               /* glibc: full re-initialisation, parsing starts at argv[1] */
    int c;
    while ((c = getopt_long(argc, argv, ":o:h", long_opts, NULL)) != -1) {
        const char *a = optarg;
        switch (c) {
        case 'o': o->output = strcmp(a, "-") == 0 ? NULL : a; break;
        case 'h': usage(stdout); return 0;
        case OPT_TITLE: o->svg.title = a; break;
        case OPT_SUBTITLE: o->svg.subtitle = a; break;
        case OPT_WIDTH:
            if (parse_num(a, 2 * 10 + 1, 1e6, &o->svg.width) < 0)
                return bad_usage("--width wants a number of pixels above 21, not '%s'", a);
            break;
        case OPT_HEIGHT:
            if (parse_num(a, 1, 1000, &o->svg.frame_height) < 0)
                return bad_usage("--height wants a frame height in pixels (above 1), not '%s'", a);
            break;
        case OPT_FONTSIZE:
            if (parse_num(a, 0, 500, &o->svg.fontsize) < 0)
                return bad_usage("--fontsize wants a positive number of pixels, not '%s'", a);
            break;
        case OPT_MINWIDTH: {
            size_t n = strlen(a);
            char tmp[64];
            if (n == 0 || n >= sizeof tmp)
                return bad_usage("--minwidth wants pixels (0.1) or a percentage (0.5%%), not '%s'", a);
            memcpy(tmp, a, n + 1);
            o->svg.minwidth_pct = tmp[n - 1] == '%';
            if (o->svg.minwidth_pct)
                tmp[n - 1] = '\0';
            if (strcmp(tmp, "0") == 0 || strcmp(tmp, "0.0") == 0)
                o->svg.minwidth = 0;
            else if (parse_num(tmp, 0, o->svg.minwidth_pct ? 100 : 1e9, &o->svg.minwidth) < 0)
                return bad_usage("--minwidth wants pixels (0.1) or a percentage (0.5%%), not '%s'", a);
            break;
        }
        case OPT_COUNTNAME: o->svg.countname = a; o->saw_countname = 1; break;
        case OPT_FONTTYPE:
            if (!a[0])
                return bad_usage("--fonttype wants a font name%s", "");
            o->svg.fonttype = a;
            break;
        case OPT_COLORS: {
            int p = pf_palette_parse(a);
            if (p < 0) {
                fprintf(stderr, "pyflame-c svg: unknown palette '%s' (choose from %s)\n", a,
                        pf_palette_names());
                return 2;
            }
            o->svg.palette = p;
            o->saw_colors = 1;
            break;
        }
        case OPT_HASH: o->svg.hash = 1; break;
        case OPT_INVERTED: o->svg.inverted = 1; break;
        case OPT_REVERSE: o->frame.reverse = 1; break;
        case OPT_FLAMECHART: o->frame.order = PF_ORDER_CHART; break;
        case OPT_NEGATE: o->svg.negate = 1; break;
        case OPT_NOTES: o->svg.notes = a; break;
        case OPT_TRUNCATE_START: o->svg.truncate_start = 1; break;
        case OPT_BASE:
            if (!a[0])
                return bad_usage("--base wants a function name%s", "");
            o->frame.base = a;
            break;
        case OPT_STRICT: o->strict = 1; break;
        case OPT_METRIC: {
            size_t i;
            for (i = 0; i < sizeof metrics / sizeof metrics[0]; i++)
                if (strcmp(a, metrics[i].name) == 0)
                    break;
            if (i == sizeof metrics / sizeof metrics[0])
                return bad_usage("unknown --metric '%s' (self-time, calls, alloc-bytes, "
                                 "alloc-count, peak-bytes, exit-bytes)", a);
            o->frame.metric = metrics[i].metric;
            break;
        }
        case OPT_GRANULARITY:
            if (strcmp(a, "function") == 0)
                o->frame.granularity = PF_GRAN_FUNCTION;
            else if (strcmp(a, "line") == 0)
                o->frame.granularity = PF_GRAN_LINE;
            else
                return bad_usage("--granularity wants 'function' or 'line', not '%s'", a);
            break;
        case OPT_FULL_PATHS: o->frame.full_paths = 1; break;
        case OPT_BGCOLORS:
            if (!pf_svg_bgcolors_valid(a))
                return bad_usage("--bgcolors wants yellow, blue, green, grey or #rrggbb, not '%s'", a);
            o->svg.bgcolors = a;
            break;
        case OPT_FACTOR:
            if (parse_num(a, 0, 1e300, &o->frame.factor) < 0)
                return bad_usage("--factor wants a positive number, not '%s'", a);
            break;
        case OPT_HTML_LINK:
            if (!a[0])
                return bad_usage("--html-link wants a file name%s", "");
            o->svg.html_link = a;
            break;
        case ':':
            return bad_usage("option '%s' needs a value", argv[optind - 1]);
        default:
            return bad_usage("unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind >= argc)
        return bad_usage("no input file (use '-' for standard input)%s", "");
    if (optind + 1 < argc)
        return bad_usage("one input only, got also '%s'", argv[optind + 1]);
    o->input = argv[optind];
    return -1;
}

/* ---- input: gzip through zlib, anything else with plain read() (no extra copy) ---- */

struct input {
    int fd;
    gzFile gz;                    /* NULL: plain */
    z_stream *zs;                 /* gzip already in memory (a pipe): inflated from it */
};

/* Reads up to n bytes; returns the count, 0 at the end, -1 with err set. */
static long input_read(struct input *in, char *buf, size_t n, pf_error *err)
{
    if (n > INT_MAX)
        n = INT_MAX;
    if (in->zs) {
        z_stream *z = in->zs;
        z->next_out = (unsigned char *)buf;
        z->avail_out = (unsigned)n;
        while (z->avail_out == n && z->avail_in > 0) {
            int rc = inflate(z, Z_NO_FLUSH);
            if (rc == Z_STREAM_END) {
                if (inflateReset(z) != Z_OK)     /* next gzip member, if any */
                    return pf_error_set(err, PF_ECORRUPT, "corrupt gzip data");
            } else if (rc != Z_OK) {
                return pf_error_set(err, PF_ECORRUPT, "corrupt gzip data: %s",
                                    z->msg ? z->msg : "inflate failed");
            }
        }
        return (long)(n - z->avail_out);
    }
    if (in->gz) {
        int r = gzread(in->gz, buf, (unsigned)n);
        if (r < 0) {
            int zerr;
            const char *m = gzerror(in->gz, &zerr);
            if (zerr == Z_ERRNO)
                return pf_error_set(err, PF_EIO, "read error: %s", strerror(errno));
            const char *colon = strncmp(m, "<fd:", 4) == 0 ? strstr(m, ": ") : NULL;
            return pf_error_set(err, PF_ECORRUPT, "corrupt gzip data: %s", colon ? colon + 2 : m);
        }
        return r;
    }
    for (;;) {
        ssize_t r = read(in->fd, buf, n);
        if (r >= 0)
            return (long)r;
        if (errno != EINTR)
            return pf_error_set(err, PF_EIO, "read error: %s", strerror(errno));
    }
}

/* Fills buf[0..n) as far as the input goes; returns the count or -1. */
static long input_fill(struct input *in, char *buf, size_t n, pf_error *err)
{
    size_t got = 0;
    while (got < n) {
        long r = input_read(in, buf + got, n - got, err);
        if (r < 0)
            return -1;
        if (r == 0)
            break;
        got += (size_t)r;
    }
    return (long)got;
}

static void input_close(struct input *in)
{
    if (in->zs) {
        inflateEnd(in->zs);
        pf_free(in->zs);
        in->zs = NULL;
    }
    if (in->gz)
        gzclose(in->gz);      /* closes fd too */
    else if (in->fd >= 0)
        close(in->fd);
    in->gz = NULL;
    in->fd = -1;
}

/* ---- collapsed input, streamed into the tree (formats/stacktree.h) ---- */

struct feed {
    struct input *in;
    const char *head;             /* bytes already read to tell the input's kind */
    size_t hlen;
    const struct options *o;
    const char *label;            /* input name for messages */
    unsigned long nbad;
};

static void on_bad(void *ctx, unsigned long line, const char *msg)
{
    struct feed *f = ctx;
    if (f->nbad++ < MAX_WARNINGS)
        fprintf(stderr, "pyflame-c svg: warning: %s:%lu: %s (line skipped)\n", f->label, line, msg);
}

/* pf_stack_read_fn: the head first, then the rest of the input. */
static long feed_read(void *ctx, char *buf, size_t cap, pf_error *err)
{
    struct feed *f = ctx;
    if (f->hlen > 0) {
        size_t n = f->hlen < cap ? f->hlen : cap;
        memcpy(buf, f->head, n);
        f->head += n;
        f->hlen -= n;
        return (long)n;
    }
    return input_fill(f->in, buf, cap, err);
}

/* ---- traces ---- */

/* The default subtitle of a trace's flame graph for a metric other than time. */
static const char *metric_subtitle(enum pf_metric m)
{
    switch (m) {
    case PF_METRIC_CALLS: return "Width: calls";
    case PF_METRIC_ALLOC_BYTES: return "Width: bytes allocated by each function's own code";
    case PF_METRIC_ALLOC_COUNT: return "Width: blocks allocated by each function's own code";
    case PF_METRIC_PEAK_BYTES: return "Width: bytes live at the run's memory peak";
    case PF_METRIC_EXIT_BYTES: return "Width: bytes still live at exit";
    default: return NULL;
    }
}

static pf_stacktree *tree_from_trace(const pf_trace *t, struct options *o, pf_error *err)
{
    pf_stacktree *tree = pf_stacktree_from_trace(t, &o->frame, err);
    if (!tree)
        return NULL;
    switch (o->frame.metric) {
    case PF_METRIC_CALLS:
        o->svg.unit = PF_SVG_UNIT_COUNT;
        if (!o->saw_countname)
            o->svg.countname = "calls";
        break;
    case PF_METRIC_ALLOC_COUNT:
        o->svg.unit = PF_SVG_UNIT_COUNT;
        if (!o->saw_countname)
            o->svg.countname = "allocations";
        break;
    case PF_METRIC_ALLOC_BYTES:
    case PF_METRIC_PEAK_BYTES:
    case PF_METRIC_EXIT_BYTES:
        o->svg.unit = PF_SVG_UNIT_BYTES;
        break;
    default:
        o->svg.unit = PF_SVG_UNIT_US;
    }
    if (!o->saw_colors)
        o->svg.palette = o->svg.unit == PF_SVG_UNIT_BYTES || o->frame.metric == PF_METRIC_ALLOC_COUNT
                       ? PF_PAL_MEM : PF_PAL_PYTHON;
    if (o->svg.subtitle == NULL)       /* say what a frame's width means, unless told */
        o->svg.subtitle = metric_subtitle(o->frame.metric);
    return tree;
}

/* Reads all of gz (after head) into memory: traces are parsed from one buffer. */
static int slurp(struct input *in, const char *head, size_t hlen, char **out, size_t *outlen, pf_error *err)
{
    size_t cap = hlen + CHUNK, len = hlen;
    char *buf = pf_malloc(cap);
    if (!buf)
        return pf_error_set(err, PF_ENOMEM, NULL);
    memcpy(buf, head, hlen);
    for (;;) {
        if (len == cap) {
            char *nb = pf_realloc(buf, cap * 2);
            if (!nb) {
                pf_free(buf);
                return pf_error_set(err, PF_ENOMEM, NULL);
            }
            buf = nb;
            cap *= 2;
        }
        long r = input_read(in, buf + len, cap - len, err);
        if (r < 0) {
            pf_free(buf);
            return -1;
        }
        if (r == 0)
            break;
        len += (size_t)r;
    }
    *out = buf;
    *outlen = len;
    return 0;
}

/* ---- output ---- */

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
    /* The frame tree's arrays grow by doubling up to hundreds of MB.  glibc's sliding
     * mmap threshold would move them onto the heap, where every realloc copies; a
     * fixed threshold keeps them mmapped, and realloc then just remaps pages. */
    mallopt(M_MMAP_THRESHOLD, 1 << 20);
    xmlSetGenericErrorFunc(NULL, quiet_xml_errors);

    pf_error err;
    pf_error_clear(&err);
    pf_stacktree *tree = NULL;
    pf_trace *trace = NULL;
    char *data = NULL;            /* a trace's bytes, read whole */
    char *zdata = NULL;           /* gzip read whole from a pipe, inflated through in.zs */
    struct input in = { -1, NULL, NULL };
    int hn = 0, writing = 0;
    size_t dlen = 0;
    int is_stdin = strcmp(o.input, "-") == 0;
    const char *label = is_stdin ? "<stdin>" : o.input;
    int fd = is_stdin ? dup(STDIN_FILENO) : open(o.input, O_RDONLY);
    if (fd < 0) {
        fprintf(stderr, "pyflame-c svg: %s: %s\n", label, strerror(errno));
        return 1;
    }
    /* gzip magic: inflate (traces are gzip-framed, collapsed files may be gzipped) */
    char head[4096];
    ssize_t pn;
    off_t at = lseek(fd, 0, SEEK_CUR);      /* stdin may already be partly read */
    do
        pn = pread(fd, head, 2, at < 0 ? 0 : at);
    while (pn < 0 && errno == EINTR);
    unsigned char m0 = 0, m1 = 0;
    in.fd = fd;
    if (pn == 2) {
        m0 = (unsigned char)head[0];
        m1 = (unsigned char)head[1];
    } else if (pn < 0 && errno == ESPIPE) {
        /* a pipe: peek by reading, then hand the bytes on */
        long r = input_fill(&in, head, 2, &err);
        if (r < 0)
            goto fail;
        if (r == 2 && (unsigned char)head[0] == 0x1f && (unsigned char)head[1] == 0x8b) {
            /* gzip on a pipe: a trace (parsed from memory anyway) */
            if (slurp(&in, head, 2, &data, &dlen, &err) < 0)
                goto fail;
            if (pf_trace_sniff(data, dlen))
                goto have_trace_data;
            /* gzipped collapsed stacks: inflate from memory (the compressed bytes are
             * held, never the lines) */
            close(in.fd);
            in.fd = -1;
            /* The compressed bytes back in.zs until the end: a separate buffer, so the
             * trace branch below (a later gzip member may hold a trace) cannot
             * overwrite, and leak, them. */
            zdata = data;
            data = NULL;
            in.zs = pf_calloc(1, sizeof *in.zs);
            if (!in.zs || inflateInit2(in.zs, 15 + 16) != Z_OK) {
                pf_free(in.zs);
                in.zs = NULL;
                pf_error_set(&err, PF_ENOMEM, NULL);
                goto fail;
            }
            in.zs->next_in = (unsigned char *)zdata;
            in.zs->avail_in = (unsigned)(dlen > UINT_MAX ? UINT_MAX : dlen);
            if (dlen > UINT_MAX) {
                pf_error_set(&err, PF_ELIMIT, "gzip input on a pipe over 4 GiB: pass the file name");
                goto fail;
            }
            long got = input_fill(&in, head, sizeof head, &err);
            if (got < 0)
                goto fail;
            hn = (int)got;
            goto have_head;
        }
        long more = input_fill(&in, head + r, sizeof head - (size_t)r, &err);
        if (more < 0)
            goto fail;
        hn = (int)(r + more);
        goto have_head;
    }
    if (m0 == 0x1f && m1 == 0x8b) {
        in.gz = gzdopen(fd, "rb");
        if (!in.gz) {
            pf_error_set(&err, PF_ENOMEM, NULL);
            goto fail;
        }
        gzbuffer(in.gz, 1u << 18);
    }
    {
        long r = input_fill(&in, head, sizeof head, &err);
        if (r < 0)
            goto fail;
        hn = (int)r;
    }
have_head:;
    size_t hlen = (size_t)hn;
    /* Traces are gzip-framed binary: after inflating they start with the trace magic.
     * Anything else is collapsed text (where a NUL byte is a line-numbered error). */
    if (pf_trace_sniff(head, hlen)) {
        if (slurp(&in, head, hlen, &data, &dlen, &err) < 0)
            goto fail;
have_trace_data:
        trace = pf_trace_read_mem(data, dlen, &err);
        pf_free(data);
        data = NULL;
        if (!trace)
            goto fail;
        if (!(tree = tree_from_trace(trace, &o, &err)))
            goto fail;
    } else {
        if (o.frame.granularity != PF_GRAN_FUNCTION || o.frame.metric != PF_METRIC_SELF_TIME ||
            o.frame.full_paths || o.svg.html_link)
            fprintf(stderr, "pyflame-c svg: note: --metric, --granularity, --full-paths and "
                            "--html-link apply to traces only; %s holds collapsed stacks\n", label);
        tree = pf_stacktree_new(&o.frame);
        if (!tree) {
            pf_error_set(&err, PF_ENOMEM, NULL);
            goto fail;
        }
        struct feed f = { &in, head, hlen, &o, label, 0 };
        pf_collapsed_opts co = { o.strict, on_bad, &f };
        if (pf_stacktree_load(tree, feed_read, &f, CHUNK, &co, &err) < 0)
            goto fail;
        if (f.nbad > MAX_WARNINGS)
            fprintf(stderr, "pyflame-c svg: warning: %s: %lu malformed lines skipped in all\n",
                    label, f.nbad);
    }
    input_close(&in);
    pf_free(zdata);           /* compressed input of a pipe, if any */
    zdata = NULL;
    if (!(tree->nodes[0].total > 0) && !(pf_stacktree_total2(tree, 0) > 0)) {
        pf_error_set(&err, PF_EEMPTY, "no stacks found (all counts are zero)");
        goto fail;
    }
    writing = 1;
    if (write_output(tree, &o, &err) < 0)
        goto fail;
    pf_stacktree_free(tree);
    pf_trace_free(trace);
    return 0;
fail:
    fprintf(stderr, "pyflame-c svg: %s: %s\n", writing ? (o.output ? o.output : "<stdout>") : label,
            err.msg[0] ? err.msg : pf_error_text(err.code));
    input_close(&in);
    pf_free(data);
    pf_free(zdata);
    pf_stacktree_free(tree);
    pf_trace_free(trace);
    return 1;
}
