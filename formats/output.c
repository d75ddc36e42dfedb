/* output.c: temp-file-and-rename output (see output.h). */
#include "formats/output.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "formats/alloc.h"

struct pf_output {
    FILE *f;
    char *path;      /* the regular file to rename onto; NULL for stdout or a device */
    char *tmp;
    int direct;      /* a device, FIFO or /dev/stdout opened as it is: close, never unlink */
    int signals;     /* watch() is on */
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

/* Names of already open descriptors: writing them must reach the descriptor, not
 * replace whatever file it happens to point at. */
static int names_a_descriptor(const char *path)
{
    return strcmp(path, "/dev/stdout") == 0 || strcmp(path, "/dev/stderr") == 0 ||
           strncmp(path, "/dev/fd/", 8) == 0 || strncmp(path, "/proc/self/fd/", 14) == 0;
}

/* Follows the symlinks at path (at most 40, as the kernel does) to the name of the
 * file they lead to, which may not exist yet.  A new string, or NULL with errno set. */
static char *follow_links(const char *path)
{
    char *cur = pf_strndup(path, strlen(path));
    for (int hops = 0; cur != NULL; hops++) {
        struct stat st;
        if (lstat(cur, &st) != 0 || !S_ISLNK(st.st_mode))
            return cur;
        if (hops == 40) {
            pf_free(cur);
            errno = ELOOP;
            return NULL;
        }
        char target[PATH_MAX];
        ssize_t n = readlink(cur, target, sizeof target - 1);
        if (n < 0) {
            pf_free(cur);
            return NULL;
        }
        target[n] = '\0';
        char *next;
        const char *slash = strrchr(cur, '/');
        if (target[0] == '/' || slash == NULL) {
            next = pf_strndup(target, (size_t)n);
        } else {
            /* relative to the link's own folder */
            size_t dir = (size_t)(slash - cur) + 1;
            next = pf_malloc(dir + (size_t)n + 1);
            if (next != NULL) {
                memcpy(next, cur, dir);
                memcpy(next + dir, target, (size_t)n + 1);
            }
        }
        pf_free(cur);
        cur = next;
    }
    errno = ENOMEM;
    return NULL;
}

pf_output *pf_output_open(const char *path, pf_error *err)
{
    return pf_output_open_flags(path, 0, err);
}

pf_output *pf_output_open_flags(const char *path, int flags, pf_error *err)
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
    if (path[0] == '\0') {
        pf_error_set(err, PF_EUSAGE, "the output file name is empty");
        goto fail;
    }
    struct stat st;
    if (names_a_descriptor(path) || (stat(path, &st) == 0 && !S_ISREG(st.st_mode))) {
        /* A device, FIFO or descriptor: written as it is (no temporary beside it, no
         * rename over it).  A folder fails here with its own message. */
        int fd = open(path, O_WRONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0 || (o->f = fdopen(fd, "wb")) == NULL) {
            pf_error_set(err, PF_EIO, "cannot open for writing: %s", strerror(errno));
            if (fd >= 0)
                close(fd);
            goto fail;
        }
        o->direct = 1;
        return o;
    }
    /* A regular file, or a name to create: through a symlink, the file it points at
     * is the one replaced (the link stays a link). */
    o->path = follow_links(path);
    if (o->path == NULL) {
        pf_error_set(err, errno == ENOMEM ? PF_ENOMEM : PF_EIO, "cannot resolve the output "
                     "name: %s", strerror(errno));
        goto fail;
    }
    size_t n = strlen(o->path);
    o->tmp = pf_malloc(n + sizeof ".tmp-XXXXXX");
    if (o->tmp == NULL) {
        pf_error_set(err, PF_ENOMEM, NULL);
        goto fail;
    }
    memcpy(o->tmp, o->path, n);
    memcpy(o->tmp + n, ".tmp-XXXXXX", sizeof ".tmp-XXXXXX");
    /* Announce the name before mkstemp creates the file: a signal in between then
     * unlinks a name that does not exist yet, instead of leaking the file. */
    o->signals = !(flags & PF_OUTPUT_NO_SIGNALS);
    if (o->signals) {
        pending_tmp = o->tmp;
        watch(1);
    }
    int fd = mkostemp(o->tmp, O_CLOEXEC);
    if (fd < 0) {
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
        goto fail;
    }
    return o;
fail:
    if (o->signals)
        watch(0);
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
    if (o->signals)
        watch(0);
    pf_free(o->path);
    pf_free(o->tmp);
    pf_free(o);
}

int pf_output_commit(pf_output *o, pf_error *err)
{
    int rc = 0;
    if (o->path == NULL && !o->direct) {
        if (fflush(o->f) != 0 || ferror(o->f))
            rc = pf_error_set(err, PF_EIO, "write error on standard output: %s",
                              strerror(errno));
        release(o);
        return rc;
    }
    if (o->direct) {
        int bad = ferror(o->f);
        if (fclose(o->f) != 0 || bad)
            rc = pf_error_set(err, PF_EIO, "write error: %s", strerror(errno ? errno : EIO));
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
    } else if (o->direct) {
        fclose(o->f);
    } else {
        fflush(o->f);
    }
    release(o);
}
