/* jit_tier.c — a JIT model that runs at once on quickly compiled code and
 * moves to optimised code when that is ready (see jit.h, ebmc_jit_open_tiered).
 *
 *   1. The C compiles at -O0 in this process (its kernels are not forced
 *      inline there: EBMK_INLINE), about ten times faster than at -O2, and the
 *      model opens on that code.
 *   2. A child process, forked right after, compiles the same C at the job's
 *      level into object files (ebmc_jit_emit_objects) and writes them into a
 *      pipe: u64 size then the bytes, per unit; u64 0 at the end; or
 *      UINT64_MAX, u64 length and a message when it fails.
 *   3. A thread of this process reads them, links them into a second JIT
 *      (ebmc_jit_link_objects) and moves the model's programs to it
 *      (ebm_model_upgrade_code): calls that start later run the new code.
 *
 * Both codes compute the same bits (the generated C orders every float sum
 * itself: ebmc_lane_sum_begin), so when the move happens does not change
 * any result.  The compile runs in a child rather than on a thread so that
 * closing the model can stop it at once (SIGKILL), wherever LLVM is; a
 * thread inside LLVM could only be waited for.  The child calls nothing of
 * the parent's other threads' (OpenBLAS's, the sampler's): LLVM, malloc and
 * write.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE   /* pipe2 */
#endif
#include "jit.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "atomic_file.h"   /* base_write_all */
#include "clock.h"
#include "ebm_code.h"

#define TIER_MAX_OBJECTS 64

struct ebmc_jit_tiered {
    ebmc_jit *quick, *best;    /* the two codes; both live until the model closes */
    ebm_model *m;              /* the model that owns this */
    ebmc_jit_job job;          /* the optimised compile's job (c_source: the caller's, until the fork) */
    char *name;
    float *blob;               /* our copy of the weights blob */
    pid_t child;
    int fd;                    /* the pipe's read end, -1 once closed */
    pthread_t thread;
    int have_thread;
    pthread_mutex_t lock;
    pthread_cond_t changed;
    int forked, reaped, closing, done;  /* under lock */
    ebm_status st;             /* under lock, once done: EBM_OK when the model runs the optimised code */
    ebm_error err;
    double t0, seconds;        /* when the child started; how long until the move */
};

/* j's code as libebm takes it (runtime/ebm_code.h): the descriptor and the
 * memory ranges the JIT recorded, in *regions (free it after the call that
 * reads them); NULL regions: out of memory. */
static ebm_code jit_code(const ebmc_jit *j, ebm_code_region **regions)
{
    const int n = ebmc_jit_region_count(j);
    *regions = calloc(n > 0 ? (size_t)n : 1, sizeof **regions);
    if (*regions)
        for (int k = 0; k < n; k++)
            ebmc_jit_region(j, k, &(*regions)[k].start, &(*regions)[k].size, &(*regions)[k].executable);
    return (ebm_code){.desc = ebmc_jit_descriptor(j), .regions = *regions, .n_regions = n};
}

/* ---- the child ---------------------------------------------------------------- */

static ebm_status sink_to_fd(void *ctx, const void *object, uint64_t size, ebm_error *err)
{
    const int fd = *(const int *)ctx;
    if (size == 0 || size == UINT64_MAX || base_write_all(fd, &size, sizeof size) || base_write_all(fd, object, size))
        return ebm_fail(err, EBM_ERR_IO, "cannot hand the optimised code to the parent process");
    return EBM_OK;
}

static _Noreturn void child_main(const ebmc_jit_job *job, int fd, pid_t parent)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);   /* the parent gone (even killed): stop */
    if (getppid() != parent)
        _exit(1);
    /* Behind the parent: while it runs its first calls on the quick code, they
     * come first (the first result is what the quick code is for); then the
     * parent waits for this compile (runtime/run.c) and it has the CPUs. */
    if (nice(10) == -1 && errno != 0)
        errno = 0;   /* not lowered: it only takes longer to get the CPUs */
    ebm_error e = {0};
    ebm_status st = ebmc_jit_emit_objects(job, sink_to_fd, &fd, &e);
    uint64_t mark = st ? UINT64_MAX : 0;
    if (!base_write_all(fd, &mark, sizeof mark) && st) {
        uint64_t len = strlen(e.msg);
        if (!base_write_all(fd, &len, sizeof len))
            base_write_all(fd, e.msg, len);
    }
    _exit(st ? 1 : 0);   /* no atexit handlers, no stdio flush: they are the parent's */
}

/* ---- the parent's thread ------------------------------------------------------- */

/* A child that sends nothing for this long is taken for stuck (a lock some
 * other thread held at the fork, say) and stopped: the model then stays on
 * its -O0 code instead of its calls waiting for ever (runtime/run.c). */
#define TIER_SILENCE_SECONDS 600

static int read_all(int fd, void *p, size_t n)
{
    char *c = p;
    while (n > 0) {
        struct pollfd pf = {.fd = fd, .events = POLLIN};
        const int ready = poll(&pf, 1, TIER_SILENCE_SECONDS * 1000);
        if (ready < 0 && errno == EINTR)
            continue;
        if (ready <= 0)
            return -1;
        ssize_t r = read(fd, c, n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        c += r;
        n -= (size_t)r;
    }
    return 0;
}

/* Reads the child's objects; the child's message or a description of its end
 * when it failed. */
static ebm_status read_objects(ebmc_jit_tiered *t, void **obj, uint64_t *size, int *n, ebm_error *err)
{
    *n = 0;
    for (;;) {
        uint64_t s;
        if (read_all(t->fd, &s, sizeof s))
            return ebm_fail(err, EBM_ERR_INTERNAL, "%s: the optimising compile stopped before its end", t->name);
        if (s == 0)
            return EBM_OK;
        if (s == UINT64_MAX) {
            uint64_t len = 0;
            char msg[sizeof err->msg] = "";
            if (!read_all(t->fd, &len, sizeof len) && len < sizeof msg)
                read_all(t->fd, msg, (size_t)len);
            return ebm_fail(err, EBM_ERR_INTERNAL, "%s", msg[0] ? msg : "the optimising compile failed");
        }
        if (*n == TIER_MAX_OBJECTS || s > ((uint64_t)1 << 34) || !(obj[*n] = malloc((size_t)s)))
            return ebm_fail(err, EBM_ERR_NOMEM, "%s: cannot take the optimised code (%llu bytes)", t->name,
                            (unsigned long long)s);
        size[*n] = s;
        if (read_all(t->fd, obj[(*n)++], (size_t)s))
            return ebm_fail(err, EBM_ERR_INTERNAL, "%s: the optimising compile stopped before its end", t->name);
    }
}

static void reap(ebmc_jit_tiered *t)   /* under lock */
{
    if (!t->reaped && t->child > 0) {
        int status;
        while (waitpid(t->child, &status, 0) < 0 && errno == EINTR)
            ;
        t->reaped = 1;
    }
}

/* Links the best code and moves the model to it. */
static ebm_status upgrade(ebmc_jit_tiered *t, void **obj, const uint64_t *size, int n, ebm_error *err)
{
    ebm_status st = ebmc_jit_link_objects(&t->job, (const void *const *)obj, size, n, &t->best, err);
    if (st)
        return st;
    ebm_code_region *regions;
    const ebm_code code = jit_code(t->best, &regions);
    st = regions ? ebm_model_upgrade_code(t->m, &code, err) : ebm_fail(err, EBM_ERR_NOMEM, "%s: out of memory",
                                                                       t->name);
    free(regions);
    return st;
}

static void fork_child(ebmc_jit_tiered *t);

static void *tier_thread(void *arg)
{
    ebmc_jit_tiered *t = arg;
    fork_child(t);   /* from this thread: the child's PR_SET_PDEATHSIG follows this thread's life */
    void *obj[TIER_MAX_OBJECTS];
    uint64_t size[TIER_MAX_OBJECTS];
    int n = 0;
    ebm_error e = {0};
    pthread_mutex_lock(&t->lock);
    ebm_status st = t->st;
    if (st)
        e = t->err;
    pthread_mutex_unlock(&t->lock);
    if (!st)
        st = read_objects(t, obj, size, &n, &e);
    pthread_mutex_lock(&t->lock);
    if (st && t->child > 0 && !t->reaped)
        kill(t->child, SIGKILL);   /* silent too long, or broken: do not wait for it */
    reap(t);
    while (!t->m && !t->closing)   /* the model opens on the -O0 code meanwhile */
        pthread_cond_wait(&t->changed, &t->lock);
    const int closing = t->closing;
    pthread_mutex_unlock(&t->lock);
    if (closing && !st)
        st = ebm_fail(&e, EBM_ERR_INTERNAL, "%s: closed before the optimised code was ready", t->name);
    else if (!st)
        st = upgrade(t, obj, size, n, &e);
    if (st && !closing)
        ebm_model_upgrade_code(t->m, NULL, NULL);   /* none will come: long chains in one call again */
    for (int k = 0; k < n; k++)
        free(obj[k]);
    pthread_mutex_lock(&t->lock);
    t->st = st;
    t->err = e;
    t->seconds = base_now_seconds() - t->t0;
    t->done = 1;
    pthread_cond_broadcast(&t->changed);
    pthread_mutex_unlock(&t->lock);
    if (t->job.verbose && !closing) {
        if (st)
            fprintf(stderr, "ebmc: JIT: the model stays on its -O0 code: %s\n", e.msg);
        else
            fprintf(stderr,
                    "ebmc: JIT: the model runs its -O%d code from now (compiled in %.2f s, beside the -O0 code)\n",
                    t->job.opt_level, t->seconds);
    }
    return NULL;
}

/* ---- opening ------------------------------------------------------------------- */

/* Opens a model on j's code; the model owns `owner` (released by `release`)
 * from here, whatever this returns. */
static ebm_status open_jit_code(const char *name, const ebmc_jit *j, void *owner, void (*release)(void *),
                                int upgrade_follows, ebm_model **out, ebm_error *err)
{
    ebm_code_region *regions;
    ebm_code code = jit_code(j, &regions);
    if (!regions) {
        release(owner);
        return ebm_fail(err, EBM_ERR_NOMEM, "%s: out of memory", name);
    }
    code.owner = owner;
    code.release = release;
    code.upgrade_follows = upgrade_follows;
    ebm_status st = ebm_model_open_code(name, &code, out, err);
    free(regions);
    return st;
}

ebm_status ebmc_jit_open(const ebmc_jit_job *job, ebm_model **out, ebm_error *err)
{
    *out = NULL;
    ebmc_jit *j = NULL;
    ebm_status st = ebmc_jit_compile(job, &j, err);
    return st ? st : open_jit_code(job->name ? job->name : "model", j, j, ebmc_jit_release, 0, out, err);
}

/* ---- the whole ------------------------------------------------------------------ */

static void tier_release(void *owner)
{
    ebmc_jit_tiered *t = owner;
    if (!t)
        return;
    pthread_mutex_lock(&t->lock);
    t->closing = 1;
    if (!t->reaped && t->child > 0)
        kill(t->child, SIGKILL);
    pthread_cond_broadcast(&t->changed);
    pthread_mutex_unlock(&t->lock);
    if (t->have_thread)
        pthread_join(t->thread, NULL);
    pthread_mutex_lock(&t->lock);
    reap(t);
    pthread_mutex_unlock(&t->lock);
    if (t->fd >= 0)
        close(t->fd);
    ebmc_jit_free(t->best);
    ebmc_jit_free(t->quick);
    pthread_cond_destroy(&t->changed);
    pthread_mutex_destroy(&t->lock);
    free(t->blob);
    free(t->name);
    free(t);
}

/* Forks the child (on the tier thread), then lets ebmc_jit_open_tiered go on
 * (the child has its own copy of the C by then); a failure is the tier's
 * result. */
static void fork_child(ebmc_jit_tiered *t)
{
    int fds[2] = {-1, -1};
    pid_t pid = -1;
    int e = 0;
    if (pipe2(fds, O_CLOEXEC) != 0) {
        e = errno;
    } else {
        const pid_t parent = getpid();
        t->t0 = base_now_seconds();
        pid = fork();
        if (pid == 0) {
            close(fds[0]);
            child_main(&t->job, fds[1], parent);
        }
        e = errno;
        close(fds[1]);
        if (pid < 0)
            close(fds[0]);
    }
    pthread_mutex_lock(&t->lock);
    if (pid > 0) {
        t->child = pid;
        t->fd = fds[0];
    } else {
        t->st = ebm_fail(&t->err, EBM_ERR_IO, "%s: cannot start the optimising compile: %s", t->name, strerror(e));
    }
    t->forked = 1;
    pthread_cond_broadcast(&t->changed);
    pthread_mutex_unlock(&t->lock);
}

/* Starts the thread that forks the child and waits for it; returns once the
 * child runs (or could not start: the tier's result then says why). */
static ebm_status start_child(ebmc_jit_tiered *t, ebm_error *err)
{
    if (pthread_create(&t->thread, NULL, tier_thread, t) != 0)
        return ebm_fail(err, EBM_ERR_NOMEM, "%s: no thread for the optimising compile", t->name);
    t->have_thread = 1;
    pthread_mutex_lock(&t->lock);
    while (!t->forked)
        pthread_cond_wait(&t->changed, &t->lock);
    pthread_mutex_unlock(&t->lock);
    t->job.c_source = NULL;   /* the caller's: the child has its copy */
    return EBM_OK;
}

ebm_status ebmc_jit_open_tiered(const ebmc_jit_job *job, ebm_model **out, ebmc_jit_tiered **tier, ebm_error *err)
{
    *out = NULL;
    if (tier)
        *tier = NULL;
    const char *name = job->name ? job->name : "model";
    ebmc_jit_tiered *t = calloc(1, sizeof *t);
    if (!t || !(t->name = strdup(name)) ||
        !(t->blob = malloc(job->blob_floats > 0 ? (size_t)job->blob_floats * sizeof(float) : 1))) {
        if (t)
            free(t->name);
        free(t);
        return ebm_fail(err, EBM_ERR_NOMEM, "%s: out of memory", name);
    }
    if (job->blob_floats > 0)
        memcpy(t->blob, job->blob, (size_t)job->blob_floats * sizeof(float));
    t->job = *job;
    t->job.name = t->name;
    t->job.blob = t->blob;
    t->fd = -1;
    pthread_mutex_init(&t->lock, NULL);
    pthread_cond_init(&t->changed, NULL);

    ebmc_jit_job quick = *job;
    quick.opt_level = 0;
    quick.linked_kernels = 1;   /* GEMMs and convolutions at full speed from the first call */
    ebm_status st = ebmc_jit_compile(&quick, &t->quick, err);
    if (st) {
        tier_release(t);
        return st;
    }
    if ((st = open_jit_code(name, t->quick, t, tier_release, job->opt_level > 0, out, err)))
        return st;
    /* then the child, which compiles (niced) while the first calls run on the -O0 code */
    ebm_error e = {0};
    const ebm_status cst = job->opt_level > 0 ? start_child(t, &e) : EBM_OK;
    if (cst)
        ebm_model_upgrade_code(*out, NULL, NULL);   /* none will come: long chains in one call again */
    pthread_mutex_lock(&t->lock);
    t->m = *out;   /* the thread may move it from now */
    if (job->opt_level == 0) {
        t->done = 1;   /* -O0 was asked for: nothing to move to */
    } else if (cst) {   /* no thread: the model stays on the -O0 code, as ebmc_jit_tier_wait says */
        t->st = cst;
        t->err = e;
        t->done = 1;
    }
    pthread_cond_broadcast(&t->changed);
    pthread_mutex_unlock(&t->lock);
    if (tier)
        *tier = t;
    return EBM_OK;
}

ebm_status ebmc_jit_tier_wait(ebmc_jit_tiered *t, double *seconds, ebm_error *err)
{
    pthread_mutex_lock(&t->lock);
    while (!t->done)
        pthread_cond_wait(&t->changed, &t->lock);
    const ebm_status st = t->st;
    if (st && err)
        *err = t->err;
    if (seconds)
        *seconds = t->seconds;
    pthread_mutex_unlock(&t->lock);
    return st;
}
