/* collect_sample.c: the sampler thread of `collect --sample` (see collect_sample.h). */
#include "cli/collect_sample.h"

#include <dirent.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/collect_session.h"
#include "formats/alloc.h"

struct pf_collect_sampling {
    char *session;
    pf_sampler *sampler;
    pthread_t thread;
    volatile int stop;
    int native;                  /* --native */
    char **seen;                 /* .sample files already added */
    size_t nseen, capseen;
};

/* Adds the processes whose .sample file appeared since the last look. */
static void poll_session(void *ctx, pf_sampler *s)
{
    pf_collect_sampling *c = ctx;
    DIR *d = opendir(c->session);
    if (d == NULL)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (len < 8 || strcmp(e->d_name + len - 7, ".sample") != 0)
            continue;
        int known = 0;
        for (size_t i = 0; i < c->nseen && !known; i++)
            known = strcmp(c->seen[i], e->d_name) == 0;
        if (known)
            continue;
        if (c->nseen == c->capseen) {
            size_t ncap = c->capseen ? c->capseen * 2 : 16;
            char **p = realloc(c->seen, ncap * sizeof *p);
            if (p == NULL)
                break;
            c->seen = p;
            c->capseen = ncap;
        }
        char *name = strdup(e->d_name);
        if (name == NULL)
            break;
        c->seen[c->nseen++] = name;
        char path[4200], key[4096];
        snprintf(path, sizeof path, "%s/%s", c->session, e->d_name);
        snprintf(key, sizeof key, "%.*s", (int)(len - 7), e->d_name);
        pf_pyoffsets o;
        pf_error err;
        pf_error_clear(&err);
        long pid = strtol(e->d_name, NULL, 10);
        if (pf_pyoffsets_read_file(&o, path, &err) < 0
            || pf_sampler_add(s, key, (pid_t)pid, &o, &err) < 0)
            fprintf(stderr, "pyflame-c: warning: process %ld is not sampled: %s\n", pid, err.msg);
        else if (c->native && !o.call_ops_known)
            fprintf(stderr, "pyflame-c: warning: process %ld did not say which of its "
                    "opcodes are calls (pyflame._callops failed): its samples get no "
                    "<native> frame\n", pid);
    }
    closedir(d);
}

static void *run(void *arg)
{
    pf_collect_sampling *c = arg;
    sigset_t all;                /* signals are the main thread's to pass on */
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL);
    pf_sampler_run(c->sampler, &c->stop, 0, poll_session, c);
    return NULL;
}

pf_collect_sampling *pf_collect_sampling_start(const char *session, const char *pkgdir,
                                               unsigned hz, enum pf_sample_mode mode,
                                               int native)
{
    pf_collect_sampling *c = calloc(1, sizeof *c);
    if (c == NULL || (c->session = strdup(session)) == NULL
        || (c->sampler = pf_sampler_new(hz, mode)) == NULL
        || pf_sampler_hide(c->sampler, pkgdir) < 0) {
        fprintf(stderr, "pyflame-c collect: out of memory\n");
        pf_collect_sampling_free(c);
        return NULL;
    }
    c->native = native;
    pf_sampler_set_native(c->sampler, native);
    int rc = pthread_create(&c->thread, NULL, run, c);
    if (rc != 0) {
        fprintf(stderr, "pyflame-c collect: cannot start the sampler thread: %s\n", strerror(rc));
        pf_sampler_free(c->sampler);
        free(c->session);
        free(c);
        return NULL;
    }
    return c;
}

static int graft(void *ctx, const char *name, pf_trace *t)
{
    pf_collect_sampling *c = ctx;
    pf_error err;
    pf_error_clear(&err);
    char names[4200];
    snprintf(names, sizeof names, "%s/%s.threads", c->session, name);
    if (pf_sampler_graft(c->sampler, name, names, t, &err) < 0) {
        fprintf(stderr, "pyflame-c: warning: the samples of %s are lost: %s\n", name, err.msg);
        return -1;
    }
    return 0;
}

void pf_collect_sampling_stop(pf_collect_sampling *c)
{
    c->stop = 1;
    pthread_join(c->thread, NULL);
    pf_collect_session_set_part_hook(graft, c);
}

void pf_collect_sampling_report(const pf_collect_sampling *c)
{
    pf_sampler_stats st;
    pf_sampler_get_stats(c->sampler, &st);
    uint64_t n = st.samples + st.lost;
    fprintf(stderr, "pyflame-c: sampler: %llu ticks (%llu missed), %llu stacks read, %llu lost, "
            "%.1f us of CPU per stack, %.1f%% of a CPU\n", (unsigned long long)st.ticks,
            (unsigned long long)st.ticks_missed, (unsigned long long)st.samples,
            (unsigned long long)st.lost, n ? (double)st.cpu_ns / 1e3 / (double)n : 0.0,
            st.wall_ns ? 100.0 * (double)st.cpu_ns / (double)st.wall_ns : 0.0);
}

void pf_collect_sampling_free(pf_collect_sampling *c)
{
    if (c == NULL)
        return;
    pf_collect_session_set_part_hook(NULL, NULL);
    pf_sampler_free(c->sampler);
    for (size_t i = 0; i < c->nseen; i++)
        free(c->seen[i]);
    free(c->seen);
    free(c->session);
    free(c);
}
