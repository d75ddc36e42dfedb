/* flame_load: times loading a collapsed file into a stack tree (the front half of
 * `pyflame-c svg`), so the parser and merge can be measured on their own:
 *
 *     flame_load [-m | -p] [-r N] [-w OUT] FILE
 *
 * Default: streams FILE through pf_stacktree_load (memory = the tree).
 * -m: reads the whole file into memory and uses pf_stacktree_from_collapsed.
 * -p: reads the whole file into memory and only runs the line parser
 *     (pf_collapsed_parse with an empty callback): the reader's own speed.
 * -r N: loads N times (freeing in between) and reports each: the first load pays for
 *     fresh memory, later ones show the steady state.
 * -w OUT: also writes the tree back as collapsed lines to OUT and times that.
 * Prints bytes, lines' frames, nodes, names, seconds and MB/s to stderr. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "formats/alloc.h"
#include "formats/stacktree.h"


static long read_stream(void *ctx, char *buf, size_t cap, pf_error *err)
{
    FILE *in = ctx;
    size_t got = fread(buf, 1, cap, in);
    if (got == 0 && ferror(in))
        return pf_error_set(err, PF_EIO, "read error");
    return (long)got;
}

/* The stack tree of a stream read chunk bytes at a time (0: the loader's default). */
static pf_stacktree *load_chunked(FILE *in, const pf_collapsed_opts *o, pf_error *err, size_t chunk)
{
    pf_stacktree *t = pf_stacktree_new(NULL);
    if (t == NULL)
        return NULL;
    if (pf_stacktree_load(t, read_stream, in, chunk, o, err) < 0) {
        pf_stacktree_free(t);
        return NULL;
    }
    return t;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static unsigned long bad_lines;
static void on_bad(void *ctx, unsigned long lineno, const char *msg)
{
    (void)ctx;
    if (bad_lines++ < 5)
        fprintf(stderr, "line %lu: %s\n", lineno, msg);
}

static int count_line(void *ctx, const pf_collapsed_line *l, pf_error *err)
{
    (void)err;
    *(double *)ctx += l->count;
    return 0;
}

int main(int argc, char **argv)
{
    int in_memory = 0, parse_only = 0, repeat = 1;
    const char *out_path = NULL, *path = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-m") == 0)
            in_memory = 1;
        else if (strcmp(argv[i], "-p") == 0)
            in_memory = parse_only = 1;
        else if (strcmp(argv[i], "-r") == 0 && i + 1 < argc) {
            repeat = atoi(argv[++i]);
            if (repeat < 1)
                repeat = 1;
        }
        else if (strcmp(argv[i], "-w") == 0 && i + 1 < argc)
            out_path = argv[++i];
        else
            path = argv[i];
    }
    if (path == NULL) {
        fprintf(stderr, "usage: flame_load [-m | -p] [-r N] [-w OUT] FILE\n");
        return 2;
    }
    FILE *in = fopen(path, "rb");
    if (in == NULL) {
        perror(path);
        return 1;
    }
    fseek(in, 0, SEEK_END);
    long size = ftell(in);
    fseek(in, 0, SEEK_SET);
    pf_error err;
    pf_error_clear(&err);
    pf_collapsed_opts opts = { 0, on_bad, NULL };
    char *buf = NULL;
    double t0 = now(), t_read = 0;
    pf_stacktree *f;
    if (in_memory) {
        buf = malloc((size_t)size + 1);
        if (buf == NULL || fread(buf, 1, (size_t)size, in) != (size_t)size) {
            fprintf(stderr, "%s: cannot read\n", path);
            return 1;
        }
        t_read = now() - t0;
        t0 = now();
        if (parse_only) {
            double sum = 0;
            opts.ctx = &sum;
            long lines = pf_collapsed_parse(buf, (size_t)size, count_line, &opts, &err);
            double t = now() - t0;
            fprintf(stderr, "%s: %ld bytes, %ld lines, %lu bad lines, total %.17g\n"
                    "read %.3f s; parse %.3f s = %.0f MB/s\n", path, size, lines, bad_lines,
                    sum, t_read, t, (double)size / 1e6 / t);
            free(buf);
            fclose(in);
            return lines < 0;
        }
        f = pf_stacktree_from_collapsed(buf, (size_t)size, NULL, &opts, &err);
    } else {
        f = load_chunked(in, &opts, &err, 0);
    }
    double t_load = now() - t0;
    for (int r = 1; r < repeat && f; r++) {
        fprintf(stderr, "load %d: %.3f s = %.0f MB/s\n", r, t_load, (double)size / 1e6 / t_load);
        pf_stacktree_free(f);
        t0 = now();
        if (in_memory) {
            f = pf_stacktree_from_collapsed(buf, (size_t)size, NULL, &opts, &err);
        } else {
            rewind(in);
            f = load_chunked(in, &opts, &err, 0);
        }
        t_load = now() - t0;
    }
    fclose(in);
    if (f == NULL) {
        fprintf(stderr, "flame_load: %s: %s\n", path, err.msg);
        return 1;
    }
    fprintf(stderr, "%s: %ld bytes, %u nodes, %u names, %lu bad lines, total %.17g\n",
            path, size, f->nnodes, pf_strtab_count(f->names), bad_lines, f->nodes[0].total);
    if (in_memory)
        fprintf(stderr, "read %.3f s; ", t_read);
    fprintf(stderr, "load %.3f s = %.0f MB/s\n", t_load, (double)size / 1e6 / t_load);
    if (out_path) {
        FILE *out = fopen(out_path, "wb");
        if (out == NULL) {
            perror(out_path);
            return 1;
        }
        t0 = now();
        if (pf_stacktree_write_collapsed(f, out, PF_COUNTS_AUTO, &err) < 0) {
            fprintf(stderr, "flame_load: %s\n", err.msg);
            return 1;
        }
        fclose(out);
        fprintf(stderr, "write %.3f s\n", now() - t0);
    }
    pf_stacktree_free(f);
    free(buf);
    return 0;
}
