/* pool.c — the worker threads of a context (ebm_ctx_new_threads): a fixed
 * set of pthreads, started when the context is made and parked on a
 * condition variable between calls.
 *
 * Why not OpenMP: a compute call must not allocate (ebm.h), and libgomp may
 * allocate a team when the thread count of a parallel region changes; its
 * threads are also invisible to ThreadSanitizer.  A pool owned by the
 * context allocates everything (threads, stacks) in ebm_ctx_new and nothing
 * afterwards: ebm__pool_run only locks, signals and waits.
 *
 * ebm__pool_run(p, active, fn, arg) runs fn(arg, tid) for tid = 0 .. active-1,
 * tid 0 on the calling thread, and returns when all have returned.  How the
 * work is split is the caller's business (run.c hands out tiles by an atomic
 * counter); nothing here decides what is computed, so results cannot depend
 * on which thread runs what.
 */
#include <pthread.h>
#include <stdlib.h>

#include "model_internal.h"

typedef struct pool_worker {
    ebm_pool *pool;
    int tid;
    pthread_t thread;
} pool_worker;

struct ebm_pool {
    int threads;              /* including the caller's */
    pool_worker *workers;     /* [threads - 1]: tids 1 .. threads-1 */
    int started;              /* workers whose pthread_create succeeded */
    int ready;                /* workers that reached worker_main (thread start-up done) */
    pthread_mutex_t mu;
    pthread_cond_t go;        /* a new job (generation changed) or quit */
    pthread_cond_t done;      /* pending reached 0 */
    uint64_t generation;      /* bumped per job */
    int pending;              /* workers still running the current job */
    int active;               /* tids 0 .. active-1 take part in the current job */
    int quit;
    ebm_task fn;
    void *arg;
};

static void *worker_main(void *v)
{
    pool_worker *w = v;
    ebm_pool *p = w->pool;
    uint64_t seen = 0;
    pthread_mutex_lock(&p->mu);
    p->ready++;   /* ebm__pool_new waits for this: a thread's start-up may allocate (e.g. ASan's) */
    pthread_cond_broadcast(&p->done);
    for (;;) {
        while (p->generation == seen && !p->quit)
            pthread_cond_wait(&p->go, &p->mu);
        if (p->quit)
            break;
        seen = p->generation;
        if (w->tid >= p->active)
            continue;
        ebm_task fn = p->fn;
        void *arg = p->arg;
        pthread_mutex_unlock(&p->mu);
        fn(arg, w->tid);
        pthread_mutex_lock(&p->mu);
        if (--p->pending == 0)
            pthread_cond_signal(&p->done);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

ebm_pool *ebm__pool_new(int threads)
{
    if (threads < 2)
        return NULL;
    ebm_pool *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->threads = threads;
    p->workers = calloc((size_t)threads - 1, sizeof *p->workers);
    if (!p->workers || pthread_mutex_init(&p->mu, NULL) != 0) {
        free(p->workers);
        free(p);
        return NULL;
    }
    pthread_cond_init(&p->go, NULL);
    pthread_cond_init(&p->done, NULL);
    for (int t = 1; t < threads; t++) {
        pool_worker *w = &p->workers[t - 1];
        w->pool = p;
        w->tid = t;
        if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
            ebm__pool_free(p);
            return NULL;
        }
        p->started++;
    }
    /* Every worker has started before the context is handed out, so nothing
     * a new thread does on start-up falls into a compute call. */
    pthread_mutex_lock(&p->mu);
    while (p->ready < p->started)
        pthread_cond_wait(&p->done, &p->mu);
    pthread_mutex_unlock(&p->mu);
    return p;
}

void ebm__pool_free(ebm_pool *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    p->quit = 1;
    pthread_cond_broadcast(&p->go);
    pthread_mutex_unlock(&p->mu);
    for (int k = 0; k < p->started; k++)
        pthread_join(p->workers[k].thread, NULL);
    pthread_cond_destroy(&p->go);
    pthread_cond_destroy(&p->done);
    pthread_mutex_destroy(&p->mu);
    free(p->workers);
    free(p);
}

void ebm__pool_run(ebm_pool *p, int active, ebm_task fn, void *arg)
{
    if (!p || active < 2) {
        fn(arg, 0);
        return;
    }
    if (active > p->threads)
        active = p->threads;
    pthread_mutex_lock(&p->mu);
    p->fn = fn;
    p->arg = arg;
    p->active = active;
    p->pending = active - 1;
    p->generation++;
    pthread_cond_broadcast(&p->go);
    pthread_mutex_unlock(&p->mu);
    fn(arg, 0);
    pthread_mutex_lock(&p->mu);
    while (p->pending > 0)
        pthread_cond_wait(&p->done, &p->mu);
    pthread_mutex_unlock(&p->mu);
}
