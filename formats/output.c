/* output.c: temp-file-and-rename output (see output.h). */
#include "formats/output.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "formats/alloc.h"

struct pf_output {
    FILE *f;
    char *path;      /* NULL for stdout */
    char *tmp;
};

/* The temporary file being written, so that SIGINT/SIGTERM/SIGHUP/SIGPIPE remove it
 * instead of leaving "OUT.tmp-XXXXXX" behind.  One output at a time per process. */
static char *volatile pending_tmp;

static void on_signal(int sig)
{
    char *tmp = pending_tmp;
    if (tmp != NULL)
        unlink(tmp);            /* async-signal-safe */
    signal(sig, SIG_DFL);
    raise(sig);
}

/* on: install the handlers (before the file exists, so no signal can slip in between
 * its creation and the handler); off: forget the file and restore the defaults. */
static void watch(int on)
{
    static const int sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGPIPE };
    if (!on)
        pending_tmp = NULL;
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
        struct sigaction sa, old;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on ? on_signal : SIG_DFL;
        sigemptyset(&sa.sa_mask);
        /* leave signals the caller chose to ignore ignored */
        if (sigaction(sigs[i], NULL, &old) == 0 && old.sa_handler == SIG_IGN)
            continue;
        sigaction(sigs[i], &sa, NULL);
    }
}

pf_output *pf_output_open(const char *path, pf_error *err)
{
    pf_output *o = pf_calloc(1, sizeof *o);
    if (o == NULL) {
        pf_error_set(err, PF_ENOMEM, NULL);
        return NULL;
    }
    if (path == NULL || strcmp(path, "-") == 0) {
        o->f = stdout;
        return o;
    }
    size_t n = strlen(path);
    o->path = pf_strndup(path, n);
    o->tmp = pf_malloc(n + sizeof ".tmp-XXXXXX");
    if (o->path == NULL || o->tmp == NULL) {
        pf_error_set(err, PF_ENOMEM, NULL);
        goto fail;
    }
    memcpy(o->tmp, path, n);
    memcpy(o->tmp + n, ".tmp-XXXXXX", sizeof ".tmp-XXXXXX");
    /* Announce the name before mkstemp creates the file: a signal in between then
     * unlinks a name that does not exist yet, instead of leaking the file. */
    pending_tmp = o->tmp;
    watch(1);
    int fd = mkstemp(o->tmp);
    if (fd < 0) {
        watch(0);
        pf_error_set(err, PF_EIO, "cannot create output file: %s", strerror(errno));
        goto fail;
    }
    /* mkstemp makes the file 0600; give it what fopen(path, "w") would. */
    mode_t mask = umask(0);
    umask(mask);
    if (fchmod(fd, 0666 & ~mask) < 0) {
        /* not fatal: the file is still ours and correct, only less readable */
    }
    o->f = fdopen(fd, "wb");
    if (o->f == NULL) {
        pf_error_set(err, PF_EIO, "cannot open output file: %s", strerror(errno));
        close(fd);
        unlink(o->tmp);
        watch(0);
        goto fail;
    }
    return o;
fail:
    pf_free(o->path);
    pf_free(o->tmp);
    pf_free(o);
    return NULL;
}

FILE *pf_output_stream(pf_output *o)
{
    return o->f;
}

static void release(pf_output *o)
{
    if (o->path != NULL)
        watch(0);
    pf_free(o->path);
    pf_free(o->tmp);
    pf_free(o);
}

int pf_output_commit(pf_output *o, pf_error *err)
{
    int rc = 0;
    if (o->path == NULL) {
        if (fflush(o->f) != 0 || ferror(o->f))
            rc = pf_error_set(err, PF_EIO, "write error on standard output: %s",
                              strerror(errno));
        release(o);
        return rc;
    }
    int bad = ferror(o->f);
    if (fclose(o->f) != 0 || bad) {
        rc = pf_error_set(err, PF_EIO, "write error: %s", strerror(errno ? errno : EIO));
        unlink(o->tmp);
    } else if (rename(o->tmp, o->path) != 0) {
        rc = pf_error_set(err, PF_EIO, "cannot rename the output into place: %s",
                          strerror(errno));
        unlink(o->tmp);
    }
    release(o);
    return rc;
}

void pf_output_abort(pf_output *o)
{
    if (o == NULL)
        return;
    if (o->path != NULL) {
        fclose(o->f);
        unlink(o->tmp);
    } else {
        fflush(o->f);
    }
    release(o);
}
