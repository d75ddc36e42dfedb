/* snapshot.c: periodic snapshots of the session, and the last one at SIGTERM/SIGHUP
 * (see snapshot.h for what and why).
 *
 * The thread sleeps on a semaphore (sem_post is async-signal-safe, and a semaphore has
 * no file descriptor that the program could close or reuse), with a deadline for the
 * next periodic snapshot.  Everything it does with Python objects happens with the GIL
 * held; it runs no Python code, so no event of ours fires for it and no other thread
 * runs while it builds.  All signals are blocked in it, so handlers run on the
 * program's threads as they would without us.
 */
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "collector/hook.h"
#include "collector/memhook.h"
#include "collector/rss.h"
#include "collector/snapshot.h"

#define NTERM 2
static const int term_signals[NTERM] = { SIGTERM, SIGHUP };

static struct {
    int started;                    /* started in process owner, not ended yet */
    int running;                    /* the thread runs (stopped before the final write) */
    pid_t owner;
    pthread_t thread;
    sem_t wake;                     /* posted by stop and by the signal handler */
    sem_t ready;                    /* the thread has its Python thread state */
    atomic_int stop;
    volatile sig_atomic_t term;     /* the terminating signal received, 0 = none */
    uint64_t interval_ns;
    unsigned long count;
    uint64_t last_calls;            /* calls in the tree at the last snapshot */
    pf_rss_rec *rss;                /* the session's RSS samples (the thread's to write) */
    int handled[NTERM];             /* our handler was installed for term_signals[i] */
    int have_timer[NTERM];
    timer_t timer[NTERM];
} snap;

/* Dies of sig as if it had the default disposition all along. */
static void die_of(int sig)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_DFL;
    sigemptyset(&sa.sa_mask);
    sigaction(sig, &sa, NULL);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, sig);
    kill(getpid(), sig);
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);
}

static void on_term(int sig)
{
    int saved = errno;
    if (!snap.started || getpid() != snap.owner || snap.term != 0) {
        die_of(sig);                /* a forked child, or the deadline below passed */
        errno = saved;
        return;
    }
    snap.term = sig;
    /* the thread writes a last snapshot; once it is stopped, the final write under way
     * is that last one (pf_snapshot_end dies when it is done); either way, not later
     * than the deadline */
    for (int i = 0; i < NTERM; i++) {
        if (term_signals[i] == sig && snap.have_timer[i]) {
            struct itimerspec its;
            memset(&its, 0, sizeof its);
            its.it_value.tv_nsec = PF_SNAPSHOT_TERM_MS * 1000000L;
            timer_settime(snap.timer[i], 0, &its, NULL);
        }
    }
    if (snap.running)
        sem_post(&snap.wake);
    errno = saved;
}

/* Writes one snapshot of s (GIL held).  sig: the terminating signal it is the last one
 * for, or 0 for a periodic one (then marked cut short: the final write replaces it). */
static void write_one(pf_session *s, int sig)
{
    uint64_t calls = pf_cct_total_calls(s->cct);
    if (sig == 0 && calls == snap.last_calls && snap.count > 0)
        return;                     /* nothing ran since the last one */
    pf_memhook_suspend();
    if (sig != 0)
        s->exit_signal = sig;
    pf_error err;
    pf_error_clear(&err);
    if (pf_session_write_snapshot(s, pf_now(), pf_mono_ns(), sig, &err) == 0) {
        snap.count++;
        snap.last_calls = calls;
    }
    PyErr_Clear();
    pf_memhook_resume();
}

/* Waits on snap.wake until deadline_ns (CLOCK_MONOTONIC) or a post. */
static void sleep_until(uint64_t deadline_ns)
{
    struct timespec dl;
    dl.tv_sec = (time_t)(deadline_ns / 1000000000u);
    dl.tv_nsec = (long)(deadline_ns % 1000000000u);
    while (sem_clockwait(&snap.wake, CLOCK_MONOTONIC, &dl) < 0 && errno == EINTR)
        ;
}

static void *run(void *arg)
{
    (void)arg;
    /* Our Python thread state is made once, while pf_snapshot_start waits: making one
     * per wake-up would allocate without the GIL, and a fork() by the program at that
     * moment could leave the child an allocator lock held by no thread. */
    PyGILState_STATE g = PyGILState_Ensure();
    PyThreadState *mine = PyEval_SaveThread();
    sem_post(&snap.ready);
    pf_rss_rec *rss = snap.rss;
    if (rss != NULL)
        pf_rss_take(rss, pf_mono_ns());
    uint64_t next_snap = pf_mono_ns() + snap.interval_ns;
    for (;;) {
        /* RSS samples between snapshots, without the GIL: they go on while the
         * program holds it */
        uint64_t deadline = next_snap;
        if (rss != NULL && pf_rss_due(rss) < deadline)
            deadline = pf_rss_due(rss);
        sleep_until(deadline);
        if (atomic_load(&snap.stop))
            break;
        int sig = snap.term;
        uint64_t now = pf_mono_ns();
        if (rss != NULL && now >= pf_rss_due(rss))
            pf_rss_take(rss, now);
        if (sig == 0 && now < next_snap)
            continue;
        PyEval_RestoreThread(mine);
        if (atomic_load(&snap.stop) || pf_active == NULL) {
            PyEval_SaveThread();
            break;
        }
        uint64_t t0 = pf_mono_ns();
        write_one(pf_active, sig);
        uint64_t cost = pf_mono_ns() - t0;
        PyEval_SaveThread();
        if (sig != 0) {
            die_of(sig);
            break;
        }
        /* at most ~2% of the run goes to snapshots (a 240 K-node tree takes ~0.1 s) */
        next_snap = pf_mono_ns() + (cost * 50 > snap.interval_ns ? cost * 50 : snap.interval_ns);
    }
    PyEval_RestoreThread(mine);
    PyGILState_Release(g);
    return NULL;
}

int pf_snapshot_start(pf_session *s, double interval_s, int term)
{
    if (snap.started)
        return 0;
    memset(&snap, 0, sizeof snap);
    /* RSS goes with a process record (under collect); a pyflame.start() session has
     * none, and skips it */
    if (s->process.pid != 0 && s->rss == NULL && (s->rss = pf_rss_new(s->mono_start)) == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    snap.rss = s->rss;
    snap.owner = getpid();
    snap.interval_ns = (uint64_t)(interval_s * 1e9);
    if (snap.interval_ns < 1000000u)
        snap.interval_ns = 1000000u;
    if (sem_init(&snap.wake, 0, 0) < 0 || sem_init(&snap.ready, 0, 0) < 0) {
        PyErr_SetFromErrno(PyExc_OSError);
        return -1;
    }
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);      /* the thread inherits: no signals */
    int rc = pthread_create(&snap.thread, NULL, run, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        sem_destroy(&snap.wake);
        sem_destroy(&snap.ready);
        errno = rc;
        PyErr_SetFromErrno(PyExc_OSError);
        return -1;
    }
    Py_BEGIN_ALLOW_THREADS             /* the thread takes the GIL once, to make its state */
    while (sem_wait(&snap.ready) < 0 && errno == EINTR)
        ;
    Py_END_ALLOW_THREADS
    sem_destroy(&snap.ready);
    snap.started = snap.running = 1;
    for (int i = 0; term && i < NTERM; i++) {
        struct sigaction cur;
        if (sigaction(term_signals[i], NULL, &cur) < 0 || (cur.sa_flags & SA_SIGINFO)
            || cur.sa_handler != SIG_DFL)
            continue;               /* the program (or its parent) chose a disposition */
        struct sigevent sev;
        memset(&sev, 0, sizeof sev);
        sev.sigev_notify = SIGEV_SIGNAL;
        sev.sigev_signo = term_signals[i];
        snap.have_timer[i] = timer_create(CLOCK_MONOTONIC, &sev, &snap.timer[i]) == 0;
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_term;
        sa.sa_flags = SA_RESTART;
        sigemptyset(&sa.sa_mask);
        for (int j = 0; j < NTERM; j++)
            sigaddset(&sa.sa_mask, term_signals[j]);
        snap.handled[i] = sigaction(term_signals[i], &sa, NULL) == 0;
    }
    return 0;
}

void pf_snapshot_stop(void)
{
    if (!snap.started || !snap.running || snap.owner != getpid())
        return;
    atomic_store(&snap.stop, 1);
    snap.running = 0;
    sem_post(&snap.wake);
    Py_BEGIN_ALLOW_THREADS
    pthread_join(snap.thread, NULL);
    Py_END_ALLOW_THREADS
    sem_destroy(&snap.wake);
}

int pf_snapshot_pending(void)
{
    return snap.started && snap.owner == getpid() ? snap.term : 0;
}

void pf_snapshot_end(void)
{
    if (!snap.started || snap.owner != getpid())
        return;
    pf_snapshot_stop();
    for (int i = 0; i < NTERM; i++) {
        struct sigaction cur;
        if (snap.handled[i] && sigaction(term_signals[i], NULL, &cur) == 0
            && cur.sa_handler == on_term) {
            struct sigaction sa;
            memset(&sa, 0, sizeof sa);
            sa.sa_handler = SIG_DFL;
            sigemptyset(&sa.sa_mask);
            sigaction(term_signals[i], &sa, NULL);
        }
        snap.handled[i] = 0;
    }
    int sig = snap.term;
    snap.started = 0;       /* from here a signal finds the default disposition */
    for (int i = 0; i < NTERM; i++) {
        if (snap.have_timer[i])
            timer_delete(snap.timer[i]);
        snap.have_timer[i] = 0;
    }
    if (sig != 0)
        die_of(sig);        /* the final trace is written: now die as plain Python would */
}

void pf_snapshot_forget(void)
{
    snap.started = snap.running = 0;   /* the handler now re-raises at once */
    for (int i = 0; i < NTERM; i++)
        snap.have_timer[i] = 0;         /* timers are not inherited by fork */
}
