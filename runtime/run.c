/* run.c — the compute calls of ebm.h: each checks its arguments, then runs the
 * model's program over tiles of at most `tile` samples (ebm_abi.h), binding
 * the caller's arrays (or a thread's aligned staging copies) to each call,
 * and checks the outputs for NaN/Inf.
 *
 * Threads: the tiles are spread over the context's threads (pool.c), each
 * with its own arena and staging buffers.  A tile is fixed by the model's
 * tile size, never by the thread count, and a tile's result does not depend
 * on which thread runs it, so every output is bitwise the same for any
 * thread count:
 *   - energy, score, Langevin: tiles write disjoint parts of the outputs
 *     (Langevin noise is keyed by global sample index and step);
 *   - param_grad: each tile sums into its own zeroed buffer, and the buffers
 *     are added to the result in tile order (rounds of one tile per thread),
 *     so the sum is ((0 + g_0) + g_1) + ... whatever the thread count;
 *   - errors name the first failing tile in tile order: tiles are handed out
 *     in increasing order, and a thread stops only at tiles after a failure.
 * Inputs are checked too: a NaN/Inf in x (or a DSM target) is an
 * EBM_ERR_NUMERIC error naming the first such sample, even where the model
 * maps it to a finite output.  Every sample is still computed (MALA scores a
 * batch of proposals and rejects the non-finite ones; the others' values
 * must be right), and the input is named before any output.
 * Inside a call that runs on several threads OpenBLAS runs on one (its
 * threaded path allocates per call, and our threads already fill the cores).
 *
 * Nothing here allocates: everything a call needs was allocated by
 * ebm_ctx_new (tested by counting allocations around the calls).
 */
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "model_internal.h"

/* ---- arguments ----------------------------------------------------------------- */

/* The checks every compute call shares (the data pointers may be NULL when n = 0). */
static ebm_status check_call(const ebm_ctx *ctx, const char *fn, int64_t n, ebm_abi_program_kind kind,
                             ebm_error *err)
{
    if (!ctx)
        return ebm_fail(err, EBM_ERR_INVALID, "%s: context is NULL", fn);
    const char *path = ctx->m->path;
    if (n < 0)
        return ebm_fail(err, EBM_ERR_INVALID, "%s: %s: n = %lld, expected >= 0", path, fn, (long long)n);
    if (n > ctx->capacity)
        return ebm_fail(err, EBM_ERR_INVALID, "%s: %s: n = %lld exceeds the context's capacity of %lld samples "
                        "(make the context with a larger capacity, or split the batch)", path, fn,
                        (long long)n, (long long)ctx->capacity);
    if (!ebm__prog(ctx->m, kind))
        return ebm_fail(err, EBM_ERR_UNSUPPORTED, "%s: %s: the model has no %s program", path, fn,
                        ebm__program_name(kind));
    return EBM_OK;
}

static ebm_status need_ptr(const ebm_ctx *ctx, const char *fn, const void *p, const char *name, ebm_error *err)
{
    if (p)
        return EBM_OK;
    return ebm_fail(err, EBM_ERR_INVALID, "%s: %s: %s is NULL", ctx->m->path, fn, name);
}

static ebm_status check_langevin(const ebm_ctx *ctx, const ebm_langevin_params *p, ebm_error *err)
{
    const char *path = ctx->m->path, *fn = "ebm_langevin";
    if (!p)
        return ebm_fail(err, EBM_ERR_INVALID, "%s: %s: params is NULL (start from ebm_langevin_defaults())",
                        path, fn);
    const char *bad = p->steps < 0 ? "steps >= 0"
                      : !(p->step_size > 0 && isfinite(p->step_size)) ? "step_size > 0"
                      : !(p->noise_scale >= 0 && isfinite(p->noise_scale)) ? "noise_scale >= 0"
                      : !(p->grad_clip >= 0 && isfinite(p->grad_clip)) ? "grad_clip >= 0 (0 = no clipping)"
                      : !(p->temperature > 0 && isfinite(p->temperature)) ? "temperature > 0"
                      : p->trajectory_every < 0 ? "trajectory_every >= 0 (0 = no trajectory)"
                      : NULL;
    if (bad)
        return ebm_fail(err, EBM_ERR_INVALID, "%s: %s: steps = %d, step_size = %g, noise_scale = %g, "
                        "grad_clip = %g, temperature = %g, trajectory_every = %d: expected %s", path, fn,
                        (int)p->steps, (double)p->step_size, (double)p->noise_scale, (double)p->grad_clip,
                        (double)p->temperature, (int)p->trajectory_every, bad);
    if (p->clamp && !(isfinite(p->lo) && isfinite(p->hi) && p->lo <= p->hi))
        return ebm_fail(err, EBM_ERR_INVALID, "%s: %s: clamp range [%g, %g]: expected finite lo <= hi "
                        "(or clamp = 0 for none)", path, fn, (double)p->lo, (double)p->hi);
    return EBM_OK;
}

/* ---- binding a tile ------------------------------------------------------------ */

static int is_aligned(const void *p)
{
    return ((uintptr_t)p % EBM_ABI_ALIGN) == 0;
}

/* What one compute call hands to the tiles: the caller's arrays for all n samples. */
typedef struct batch {
    ebm_ctx *ctx;
    const char *fn;
    const ebm_abi_program *prog;
    int64_t n;
    const float *x;          /* in */
    float *x_out;            /* Langevin: x, updated in place */
    float *energy;           /* may be NULL: the staging copy receives it */
    float *score;
    const float *w;
    int grad;                /* param_grad: each tile into its worker's zeroed grad_part */
    const ebm_abi_langevin *langevin;
    float *trajectory;
    const float *target;     /* DSM_GRAD: [n, ...] in */
    float *grads;            /* ebm_param_grad_blocks: [tiles, weights_numel] */
    int64_t tile;            /* samples per program call: set by run_job / run_grad_rounds */
} batch;

/* The caller's array at sample i0 if aligned; otherwise the staging copy,
 * filled with the caller's values when `in` is set. */
static float *bind(const float *user, float *stage, int64_t count, int in)
{
    if (is_aligned(user))
        return (float *)user;   /* programs write only through their output pointers */
    if (in)
        memcpy(stage, user, (size_t)count * sizeof(float));
    return stage;
}

static void unbind(float *user, const float *used, int64_t count)
{
    if (user && used != user)
        memcpy(user, used, (size_t)count * sizeof(float));
}

/* The call for samples [i0, i0 + k) on worker w's buffers. */
static ebm_abi_call tile_call(const batch *b, ebm_worker *w, int64_t i0, int64_t k)
{
    const ebm_ctx *ctx = b->ctx;
    const int64_t numel = ctx->m->d->sample_numel;
    ebm_abi_call c = {
        .n = k,
        .sample_offset = ctx->sample_base + i0,
        .weights = ctx->m->weights,
        .arena = w->arena,
        .param_grad = b->grad ? w->grad_part : NULL,
        .langevin = b->langevin,
    };
    c.x = bind(b->x + i0 * numel, w->x_stage, k * numel, 1);
    c.energy = b->energy ? bind(b->energy + i0, w->energy_stage, k, 0) : w->energy_stage;
    if (b->score)
        c.score = bind(b->score + i0 * numel, w->score_stage, k * numel, 0);
    if (b->w)
        c.sample_weights = bind(b->w + i0, w->w_stage, k, 1);
    if (b->trajectory) {
        c.trajectory = b->trajectory + i0 * numel;
        c.trajectory_stride = b->n * numel;
    }
    if (b->target)
        c.target = bind(b->target + i0 * numel, w->target_stage, k * numel, 1);
    return c;
}

static void tile_finish(const batch *b, int64_t i0, const ebm_abi_call *c)
{
    const int64_t numel = b->ctx->m->d->sample_numel;
    unbind(b->energy ? b->energy + i0 : NULL, c->energy, c->n);
    unbind(b->score ? b->score + i0 * numel : NULL, c->score, c->n * numel);
    unbind(b->x_out ? b->x_out + i0 * numel : NULL, c->x, c->n * numel);
}

/* ---- NaN / Inf ----------------------------------------------------------------- */

typedef ebm_bad_count bad_count;

static int row_finite(const float *v, int64_t numel)
{
    for (int64_t j = 0; j < numel; j++)
        if (!isfinite(v[j]))
            return 0;
    return 1;
}

/* Samples of a tile (global indices from i0) whose energy or row of `rows`
 * (numel values each; may be NULL) is not finite, added to *bc. */
static void count_bad(const float *energy, const float *rows, int64_t numel, int64_t k, int64_t i0,
                      bad_count *bc)
{
    for (int64_t i = 0; i < k; i++) {
        int ok = (!energy || isfinite(energy[i])) && (!rows || row_finite(rows + i * numel, numel));
        if (ok)
            continue;
        if (bc->first < 0)
            bc->first = i0 + i;
        bc->samples++;
    }
}

/* Adds a tile's count to a running total (tiles may come in any order). */
static void add_bad(bad_count *total, const bad_count *tile)
{
    if (!tile->samples)
        return;
    if (total->first < 0 || tile->first < total->first)
        total->first = tile->first;
    total->samples += tile->samples;
}

static ebm_status program_returned(const ebm_ctx *ctx, const char *fn, int ret, ebm_error *err)
{
    if (ret >= 0)
        return EBM_OK;
    return ebm_fail(err, EBM_ERR_INTERNAL, "%s: %s: the compiled program returned %d, which the ABI does not "
                    "allow (a bug in ebmc: please report)", ctx->m->path, fn, ret);
}

/* The program may see a non-finite intermediate that no output shows; its
 * count then stands for the tile's samples involved. */
static void merge_returned(bad_count *bc, int ret, int64_t i0)
{
    if (ret > 0 && bc->samples == 0) {
        bc->samples = ret;
        bc->first = i0;
    }
}

static ebm_status numeric_fail(const ebm_ctx *ctx, const char *fn, const char *what, const bad_count *bc,
                               int64_t n, ebm_error *err)
{
    return ebm_fail(err, EBM_ERR_NUMERIC, "%s: %s: %s not finite (NaN/Inf) for %lld of %lld samples (first: "
                    "sample %lld)", ctx->m->path, fn, what, (long long)bc->samples, (long long)n,
                    (long long)bc->first);
}

/* The samples of x[n, ...] holding a NaN/Inf.  Inputs must be finite: a NaN
 * can come out as a finite energy (a ReLU's max(x, 0) may give 0), so the
 * outputs alone would not show it. */
static bad_count input_bad(const ebm_ctx *ctx, const float *x, int64_t n)
{
    bad_count bc = {0, -1};
    count_bad(NULL, x, ctx->m->d->sample_numel, n, 0, &bc);
    return bc;
}

/* After a call that ran: a non-finite input (x, then a target) is named
 * first, then a non-finite output. */
static ebm_status numeric_result(const ebm_ctx *ctx, const char *fn, const bad_count *in_x, const bad_count *in_t,
                                 const char *out_name, const bad_count *out, int64_t n, ebm_error *err)
{
    if (in_x->samples)
        return numeric_fail(ctx, fn, "input x", in_x, n, err);
    if (in_t && in_t->samples)
        return numeric_fail(ctx, fn, "target", in_t, n, err);
    return out->samples ? numeric_fail(ctx, fn, out_name, out, n, err) : EBM_OK;
}

/* ---- running tiles on threads -------------------------------------------------- */

/* Runs tile t on worker w; on failure fills w->fail_status / fail_err and
 * returns nonzero. */
typedef int (*tile_fn)(const batch *b, ebm_worker *w, int64_t t);

typedef struct job {
    const batch *b;
    tile_fn run;
    int64_t tiles;
    int64_t first;             /* param_grad: this round's first tile; tid t runs tile first + t */
    atomic_llong next;         /* the next tile to hand out */
    atomic_llong fail_min;     /* the first tile that failed so far (INT64_MAX: none) */
} job;

static int64_t tile_count(const batch *b)
{
    return (b->n + b->tile - 1) / b->tile;
}

static void tile_range(const batch *b, int64_t t, int64_t *i0, int64_t *k)
{
    *i0 = t * b->tile;
    *k = b->n - *i0 < b->tile ? b->n - *i0 : b->tile;
}

/* Samples per call for energy, score and Langevin, whose samples are
 * computed independently (a sample's bits do not depend on the others in its
 * call; test_runtime_threads checks split batches against one call): the
 * model's tile, or, when the batch is too small to give every thread a whole
 * tile, an equal share rounded up to whole parts of EBM__PART samples.
 * mnist's preset at batch 64 on tiles of 64 ran on one of two threads.
 * Parameter gradients sum over samples in tile order, so they keep the tile. */
static int64_t split_tile(const ebm_ctx *ctx, int64_t n)
{
    const int64_t tile = ctx->m->d->tile, threads = ctx->threads;
    if (threads < 2 || n >= threads * tile)
        return tile;
    int64_t share = (n + threads - 1) / threads;
    share = (share + EBM__PART - 1) / EBM__PART * EBM__PART;
    return share < tile ? share : tile;
}

static void note_failure(job *j, ebm_worker *w, int64_t t)
{
    w->fail_tile = t;
    long long seen = atomic_load(&j->fail_min);
    while (t < seen && !atomic_compare_exchange_weak(&j->fail_min, &seen, t))
        ;
}

/* A thread's loop: tiles in increasing order until none is left, or the
 * next one comes after a tile that already failed (those before it must
 * still run, so that the first failure in tile order is found). */
static void job_loop(void *arg, int tid)
{
    job *j = arg;
    ebm_worker *w = &j->b->ctx->w[tid];
    for (;;) {
        int64_t t = atomic_fetch_add(&j->next, 1);
        if (t >= j->tiles || t > atomic_load(&j->fail_min))
            return;
        if (j->run(j->b, w, t)) {
            note_failure(j, w, t);
            return;
        }
    }
}

/* One tile per thread: tile first + tid (param_grad's rounds). */
static void job_round(void *arg, int tid)
{
    job *j = arg;
    int64_t t = j->first + tid;
    ebm_worker *w = &j->b->ctx->w[tid];
    if (t < j->tiles && j->run(j->b, w, t))
        note_failure(j, w, t);
}

static int threads_for(const ebm_ctx *ctx, int64_t tiles)
{
    return tiles < ctx->threads ? (int)tiles : ctx->threads;
}

/* OpenBLAS threads for a call on `active` of our threads: one when we fill
 * the cores ourselves, else the context's choice (EBM_BLAS_THREADS).
 * Returns the count to restore. */
static int blas_enter(const ebm_ctx *ctx, int active)
{
    const ebm_model *m = ctx->m;
    if (!m->blas_set_threads)
        return 0;
    int saved = m->blas_get_threads(), want = active > 1 ? 1 : ctx->blas_threads;
    if (saved != want)
        m->blas_set_threads(want);
    return saved;
}

static void blas_leave(const ebm_ctx *ctx, int saved)
{
    const ebm_model *m = ctx->m;
    if (m->blas_set_threads && saved > 0 && m->blas_get_threads() != saved)
        m->blas_set_threads(saved);
}

static void reset_workers(ebm_ctx *ctx, int active)
{
    for (int t = 0; t < active; t++) {
        ctx->w[t].bad = (bad_count){0, -1};
        ctx->w[t].fail_tile = INT64_MAX;
        ctx->w[t].fail_status = EBM_OK;
    }
}

/* The outcome of a job: the failure of the first failed tile in tile order
 * (copied into err), else EBM_OK with every thread's bad counts in *bc. */
static ebm_status job_result(ebm_ctx *ctx, int active, bad_count *bc, ebm_error *err)
{
    const ebm_worker *first = NULL;
    for (int t = 0; t < active; t++) {
        const ebm_worker *w = &ctx->w[t];
        if (w->fail_tile != INT64_MAX && (!first || w->fail_tile < first->fail_tile))
            first = w;
        add_bad(bc, &w->bad);
    }
    if (!first)
        return EBM_OK;
    if (err)
        *err = first->fail_err;
    return first->fail_status;
}

/* A model on its first, quick code with the optimised code on its way
 * (ebm_code.h): the quick code runs about 9x slower (the JIT's -O0 code
 * calling compiled kernels, cifar preset) and takes CPU from the optimising
 * compile, so it only serves the first EBM_QUICK_CODE_SECONDS of calls (a
 * first result at once; 1 s cost 1,500 mnist steps 8.6 s against 7.3 s for
 * one tier, 0.5 s 7.8 s against 6.9 s); later calls wait for the optimised
 * code, or until none will come.  *b's program is read again after a wait. */
#define EBM_QUICK_CODE_SECONDS 0.5

static void await_upgrade(batch *b)
{
    ebm_model *m = b->ctx->m;
    if (!__atomic_load_n(&m->upgrade_pending, __ATOMIC_ACQUIRE) ||
        __atomic_load_n(&m->quick_code_ms, __ATOMIC_RELAXED) < (int64_t)(EBM_QUICK_CODE_SECONDS * 1000))
        return;
    while (__atomic_load_n(&m->upgrade_pending, __ATOMIC_ACQUIRE))
        nanosleep(&(struct timespec){.tv_nsec = 2000000}, NULL);   /* 2 ms */
    b->prog = ebm__prog(m, b->prog->kind);
}

/* Runs fn over `tiles` tiles of b (of b->tile samples each), on as many
 * threads as there are tiles (up to the context's); see job_result. */
static ebm_status run_tiles(const batch *call, tile_fn fn, int64_t tiles, bad_count *bc, ebm_error *err)
{
    batch gated = *call;
    await_upgrade(&gated);
    const batch *b = &gated;
    ebm_ctx *ctx = b->ctx;
    const int quick = __atomic_load_n(&ctx->m->upgrade_pending, __ATOMIC_ACQUIRE);
    const double t0 = quick ? base_now_seconds() : 0.0;
    job j = {.b = b, .run = fn, .tiles = tiles};
    atomic_init(&j.next, 0);
    atomic_init(&j.fail_min, INT64_MAX);
    int active = threads_for(ctx, j.tiles);
    reset_workers(ctx, active);
    int saved = blas_enter(ctx, active);
    ebm__pool_run(ctx->pool, active, job_loop, &j);
    blas_leave(ctx, saved);
    if (quick)
        __atomic_add_fetch(&ctx->m->quick_code_ms, (int64_t)((base_now_seconds() - t0) * 1000), __ATOMIC_RELAXED);
    return job_result(ctx, active, bc, err);
}

/* Runs b over all its tiles with tile function fn, the tile chosen to use
 * the context's threads (split_tile). */
static ebm_status run_job(const batch *call, tile_fn fn, bad_count *bc, ebm_error *err)
{
    batch split = *call;
    split.tile = split_tile(call->ctx, call->n);
    return run_tiles(&split, fn, tile_count(&split), bc, err);
}

/* ---- energy, score ------------------------------------------------------------- */

/* Energy and score tiles: count samples whose energy (and score row, when
 * asked) is not finite. */
static int energy_tile(const batch *b, ebm_worker *w, int64_t t)
{
    const int64_t numel = b->ctx->m->d->sample_numel;
    int64_t i0, k;
    tile_range(b, t, &i0, &k);
    ebm_abi_call c = tile_call(b, w, i0, k);
    int ret = b->prog->run(&c);
    if ((w->fail_status = program_returned(b->ctx, b->fn, ret, &w->fail_err)))
        return 1;
    bad_count tb = {0, -1};
    count_bad(c.energy, c.score, numel, k, i0, &tb);
    merge_returned(&tb, ret, i0);
    add_bad(&w->bad, &tb);
    tile_finish(b, i0, &c);
    return 0;
}

ebm_status ebm_energy(ebm_ctx *ctx, const float *x, int64_t n, float *energy, ebm_error *err)
{
    const char *fn = "ebm_energy";
    ebm_status st = check_call(ctx, fn, n, EBM_PROGRAM_ENERGY, err);
    if (st || n == 0)
        return st;
    if ((st = need_ptr(ctx, fn, x, "x", err)) || (st = need_ptr(ctx, fn, energy, "energy", err)))
        return st;
    batch b = {.ctx = ctx, .fn = fn, .prog = ebm__prog(ctx->m, EBM_PROGRAM_ENERGY), .n = n, .x = x, .energy = energy};
    bad_count bc = {0, -1}, in = input_bad(ctx, x, n);
    st = run_job(&b, energy_tile, &bc, err);
    return st ? st : numeric_result(ctx, fn, &in, NULL, "energy", &bc, n, err);
}

ebm_status ebm_score(ebm_ctx *ctx, const float *x, int64_t n, float *energy, float *score, ebm_error *err)
{
    const char *fn = "ebm_score";
    ebm_status st = check_call(ctx, fn, n, EBM_PROGRAM_SCORE, err);
    if (st || n == 0)
        return st;
    if ((st = need_ptr(ctx, fn, x, "x", err)) || (st = need_ptr(ctx, fn, energy, "energy", err)) ||
        (st = need_ptr(ctx, fn, score, "score", err)))
        return st;
    if (score == x)
        return ebm_fail(err, EBM_ERR_INVALID, "%s: %s: score may not alias x", ctx->m->path, fn);
    batch b = {.ctx = ctx, .fn = fn, .prog = ebm__prog(ctx->m, EBM_PROGRAM_SCORE), .n = n, .x = x, .energy = energy,
               .score = score};
    bad_count bc = {0, -1}, in = input_bad(ctx, x, n);
    st = run_job(&b, energy_tile, &bc, err);
    return st ? st : numeric_result(ctx, fn, &in, NULL, "energy or score", &bc, n, err);
}

/* ---- parameter gradient -------------------------------------------------------- */

/* Where the gradient is not finite: the parameter holding the first bad value. */
static ebm_status grad_numeric(const ebm_ctx *ctx, const char *fn, const float *grad, ebm_error *err)
{
    const ebm_abi_model *d = ctx->m->d;
    int64_t bad = 0, first = -1;
    for (int64_t i = 0; i < d->weights_numel; i++)
        if (!isfinite(grad[i])) {
            first = first < 0 ? i : first;
            bad++;
        }
    if (!bad)
        return EBM_OK;
    const char *name = "(padding between parameters)";
    for (int k = 0; k < d->n_params; k++)
        if (first >= d->params[k].offset && first < d->params[k].offset + d->params[k].numel)
            name = d->params[k].name;
    return ebm_fail(err, EBM_ERR_NUMERIC, "%s: %s: %lld of the %lld gradient values are not finite "
                    "(NaN/Inf; first in parameter '%s')", ctx->m->path, fn, (long long)bad,
                    (long long)d->weights_numel, name);
}

/* A param_grad tile: its partial sum into the worker's zeroed grad_part. */
static int grad_tile(const batch *b, ebm_worker *w, int64_t t)
{
    memset(w->grad_part, 0, (size_t)b->ctx->m->d->weights_numel * sizeof(float));
    return energy_tile(b, w, t);
}

/* Adding a round's partial sums: tid takes a slice of the weights and adds
 * the round's tiles in tile order (elementwise, so the slicing does not
 * change a bit). */
typedef struct reduce_job {
    const ebm_ctx *ctx;
    float *grad;
    int first_round;         /* grad holds nothing yet: start from 0 */
    int parts;               /* tiles in this round: workers 0 .. parts-1 */
    int active;
} reduce_job;

static void reduce_slice(void *arg, int tid)
{
    const reduce_job *r = arg;
    const int64_t wn = r->ctx->m->d->weights_numel;
    int64_t per = (wn + r->active - 1) / r->active;
    per = (per + 15) / 16 * 16;   /* whole cache lines of the result per thread */
    int64_t lo = (int64_t)tid * per, hi = lo + per < wn ? lo + per : wn;
    for (int64_t i = lo; i < hi; i++) {
        float s = r->first_round ? 0.0f : r->grad[i];
        for (int p = 0; p < r->parts; p++)
            s += r->ctx->w[p].grad_part[i];
        r->grad[i] = s;
    }
}

/* The tiles in rounds of one per thread, each round's partial sums added to
 * grad in tile order. */
static ebm_status run_grad_rounds(const batch *call, float *grad, bad_count *bc, ebm_error *err)
{
    ebm_ctx *ctx = call->ctx;
    batch whole = *call;
    whole.tile = ctx->m->d->tile;
    const batch *b = &whole;
    job j = {.b = b, .run = grad_tile, .tiles = tile_count(b)};
    atomic_init(&j.next, 0);
    atomic_init(&j.fail_min, INT64_MAX);
    int active = threads_for(ctx, j.tiles);
    reset_workers(ctx, active);
    int saved = blas_enter(ctx, active);
    for (j.first = 0; j.first < j.tiles && atomic_load(&j.fail_min) == INT64_MAX; j.first += active) {
        ebm__pool_run(ctx->pool, active, job_round, &j);
        int parts = j.tiles - j.first < active ? (int)(j.tiles - j.first) : active;
        reduce_job r = {.ctx = ctx, .grad = grad, .first_round = j.first == 0, .parts = parts, .active = active};
        ebm__pool_run(ctx->pool, active, reduce_slice, &r);
    }
    blas_leave(ctx, saved);
    return job_result(ctx, active, bc, err);
}

ebm_status ebm_param_grad(ebm_ctx *ctx, const float *x, const float *w, int64_t n, float *energy, float *grad,
                          ebm_error *err)
{
    const char *fn = "ebm_param_grad";
    ebm_status st = check_call(ctx, fn, n, EBM_PROGRAM_PARAM_GRAD, err);
    if (st || (st = need_ptr(ctx, fn, grad, "grad", err)))
        return st;
    if (n > 0 && ((st = need_ptr(ctx, fn, x, "x", err)) || (st = need_ptr(ctx, fn, w, "w", err))))
        return st;
    if (n == 0) {   /* the empty sum */
        memset(grad, 0, (size_t)ctx->m->d->weights_numel * sizeof(float));
        return EBM_OK;
    }
    batch b = {.ctx = ctx, .fn = fn, .prog = ebm__prog(ctx->m, EBM_PROGRAM_PARAM_GRAD), .n = n, .x = x,
               .energy = energy, .w = w, .grad = 1};
    bad_count bc = {0, -1}, in = input_bad(ctx, x, n);
    st = run_grad_rounds(&b, grad, &bc, err);
    if (!st)
        st = numeric_result(ctx, fn, &in, NULL, "energy", &bc, n, err);
    if (!st)
        st = grad_numeric(ctx, fn, grad, err);
    return st;
}

/* A block of ebm_param_grad_blocks: its sum, copied from the worker's
 * aligned grad_part into the caller's slot k. */
static int grad_block_tile(const batch *b, ebm_worker *w, int64_t t)
{
    const int64_t wn = b->ctx->m->d->weights_numel;
    if (grad_tile(b, w, t))
        return 1;
    memcpy(b->grads + t * wn, w->grad_part, (size_t)wn * sizeof(float));
    return 0;
}

/* The blocks of a param_grad or dsm_grad call (ebm_param_grad_blocks). */
static ebm_status run_grad_blocks(batch *b, int64_t block, ebm_error *err)
{
    ebm_ctx *ctx = b->ctx;
    const int64_t n = b->n, wn = ctx->m->d->weights_numel;
    if (block < 1 || block > ctx->m->d->tile || n % block != 0)
        return ebm_fail(err, EBM_ERR_INVALID, "%s: %s: block %lld for %lld samples: expected 1 <= block <= the "
                        "model's tile (%lld) and dividing n", ctx->m->path, b->fn, (long long)block, (long long)n,
                        (long long)ctx->m->d->tile);
    if (n == 0)
        return EBM_OK;
    ebm_status st = need_ptr(ctx, b->fn, b->grads, "grads", err);
    if (!st)
        st = need_ptr(ctx, b->fn, b->x, "x", err);
    if (st)
        return st;
    b->tile = block;
    bad_count bc = {0, -1}, in = input_bad(ctx, b->x, n), in_t = {0, -1};
    if (b->target)
        in_t = input_bad(ctx, b->target, n);
    st = run_tiles(b, grad_block_tile, n / block, &bc, err);
    if (!st)
        st = numeric_result(ctx, b->fn, &in, b->target ? &in_t : NULL, b->target ? "loss" : "energy", &bc, n, err);
    for (int64_t k = 0; !st && k < n / block; k++)
        for (int64_t i = 0; i < wn; i++)
            if (!isfinite(b->grads[k * wn + i]))
                return ebm_fail(err, EBM_ERR_NUMERIC, "%s: %s: the parameter gradient of samples %lld..%lld is not "
                                "finite (NaN/Inf)", ctx->m->path, b->fn, (long long)(k * block),
                                (long long)((k + 1) * block - 1));
    return st;
}

ebm_status ebm_param_grad_blocks(ebm_ctx *ctx, const float *x, const float *w, int64_t n, int64_t block,
                                 float *energy, float *grads, ebm_error *err)
{
    const char *fn = "ebm_param_grad_blocks";
    ebm_status st = check_call(ctx, fn, n, EBM_PROGRAM_PARAM_GRAD, err);
    if (!st && n > 0)
        st = need_ptr(ctx, fn, w, "w", err);
    if (st)
        return st;
    batch b = {.ctx = ctx, .fn = fn, .prog = ebm__prog(ctx->m, EBM_PROGRAM_PARAM_GRAD), .n = n, .x = x,
               .energy = energy, .w = w, .grad = 1, .grads = grads};
    return run_grad_blocks(&b, block, err);
}

ebm_status ebm_dsm_grad_blocks(ebm_ctx *ctx, const float *x, const float *target, int64_t n, int64_t block,
                               float *loss, float *grads, ebm_error *err)
{
    const char *fn = "ebm_dsm_grad_blocks";
    if (ctx && !ebm__prog(ctx->m, EBM_PROGRAM_DSM_GRAD))
        return ebm_fail(err, EBM_ERR_UNSUPPORTED, "%s: %s: the model has no dsm_grad program (compile with ebmc "
                        "--dsm)", ctx->m->path, fn);
    ebm_status st = check_call(ctx, fn, n, EBM_PROGRAM_DSM_GRAD, err);
    if (!st && n > 0)
        st = need_ptr(ctx, fn, target, "target", err);
    if (st)
        return st;
    batch b = {.ctx = ctx, .fn = fn, .prog = ebm__prog(ctx->m, EBM_PROGRAM_DSM_GRAD), .n = n, .x = x, .energy = loss,
               .grad = 1, .target = target, .grads = grads};
    return run_grad_blocks(&b, block, err);
}

/* ---- Langevin ------------------------------------------------------------------ */

ebm_langevin_params ebm_langevin_defaults(void)
{
    return (ebm_langevin_params){
        .steps = 60,
        .step_size = 0.01f,
        .noise_scale = 0.005f,
        .grad_clip = 0.03f,
        .temperature = 1.0f,
        .clamp = 1,
        .lo = -1.0f,
        .hi = 1.0f,
        .seed = 0,
        .step_offset = 0,
        .trajectory_every = 0,
    };
}

/* Samples of the tile in c whose energy or state is not finite. */
static bad_count tile_bad(const ebm_abi_call *c, int64_t numel)
{
    bad_count bc = {0, -1};
    count_bad(c->energy, c->x, numel, c->n, c->sample_offset, &bc);
    return bc;
}

/* Runs the Langevin program on the tile of rc for `steps` steps (0: just the
 * energies of the current state) from global step `step`. */
static int replay(const batch *b, ebm_abi_call *rc, ebm_abi_langevin *one, int32_t steps, uint64_t step)
{
    one->steps = steps;
    one->step_offset = step;
    return b->prog->run(rc);
}

#if defined(__GNUC__)
__attribute__((format(printf, 4, 5)))
#endif
static ebm_status langevin_fail(const batch *b, const ebm_abi_call *c, ebm_error *err, const char *fmt, ...)
{
    char what[EBM_ERROR_MSG_MAX / 2];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return ebm_fail(err, EBM_ERR_NUMERIC, "%s: ebm_langevin: %s (samples %lld..%lld of %lld, the first tile "
                    "that failed; later samples may not have run)", b->ctx->m->path, what,
                    (long long)(c->sample_offset - b->ctx->sample_base),
                    (long long)(c->sample_offset - b->ctx->sample_base + c->n - 1), (long long)b->n);
}

/* A tile went non-finite somewhere in its fused run, which reports only a
 * count.  Replaying it from its saved initial state one step per call (same
 * seed, same step counters, so the same arithmetic) finds the step: step t
 * (from 1) evaluates E and dE/dx at the state x_{t-1} and makes x_t, so a
 * non-finite energy at x_{t-1} or state x_t is step t's.  The tile ends in
 * the state where the replay stopped. */
static ebm_status langevin_diagnose(const batch *b, const ebm_worker *w, ebm_abi_call *c, ebm_error *err)
{
    const ebm_ctx *ctx = b->ctx;
    const int64_t numel = ctx->m->d->sample_numel, i0 = c->sample_offset - ctx->sample_base, k = c->n;
    const ebm_abi_langevin *p = b->langevin;
    bad_count bc = {0, -1};
    count_bad(NULL, w->x_start, numel, k, i0, &bc);
    if (bc.samples)
        return langevin_fail(b, c, err, "the initial state is not finite (NaN/Inf) for %lld samples (first: "
                             "sample %lld)", (long long)bc.samples, (long long)bc.first);
    memcpy(c->x, w->x_start, (size_t)(k * numel) * sizeof(float));
    ebm_abi_langevin one = *p;
    one.trajectory_every = 0;
    ebm_abi_call rc = *c;
    rc.langevin = &one;
    rc.trajectory = NULL;
    rc.trajectory_stride = 0;
    for (int32_t t = 0;; t++) {
        const uint64_t step = p->step_offset + (uint64_t)t;
        int r = replay(b, &rc, &one, 0, step);
        bc = (bad_count){0, -1};
        count_bad(rc.energy, NULL, numel, k, i0, &bc);
        merge_returned(&bc, r, i0);
        if (bc.samples && t == p->steps)
            return langevin_fail(b, c, err, "the final energy is not finite (NaN/Inf) for %lld samples after %d "
                                 "steps (first: sample %lld)", (long long)bc.samples, (int)p->steps,
                                 (long long)bc.first);
        if (bc.samples)
            return langevin_fail(b, c, err, "the energy became non-finite (NaN/Inf) at step %d of %d for %lld "
                                 "samples (first: sample %lld)", t + 1, (int)p->steps, (long long)bc.samples,
                                 (long long)bc.first);
        if (t == p->steps)
            break;
        r = replay(b, &rc, &one, 1, step);
        bc = (bad_count){0, -1};
        count_bad(NULL, rc.x, numel, k, i0, &bc);
        bad_count be = {0, -1};
        count_bad(rc.energy, NULL, numel, k, i0, &be);
        if (!bc.samples && !be.samples)   /* only a non-finite gradient (then clipped) shows in r */
            merge_returned(&bc, r, i0);
        if (bc.samples)
            return langevin_fail(b, c, err, "%lld samples became non-finite (NaN/Inf) at step %d of %d (first: "
                                 "sample %lld)", (long long)bc.samples, t + 1, (int)p->steps,
                                 (long long)bc.first);
    }
    return langevin_fail(b, c, err, "the compiled program reported non-finite values that a step-by-step replay "
                         "does not reproduce");
}

/* A Langevin tile: on a non-finite result, the replay finds the step. */
static int langevin_tile(const batch *b, ebm_worker *w, int64_t t)
{
    const ebm_abi_model *d = b->ctx->m->d;
    int64_t i0, k;
    tile_range(b, t, &i0, &k);
    ebm_abi_call c = tile_call(b, w, i0, k);
    memcpy(w->x_start, c.x, (size_t)(k * d->sample_numel) * sizeof(float));
    int ret = b->prog->run(&c);
    if ((w->fail_status = program_returned(b->ctx, b->fn, ret, &w->fail_err)))
        return 1;
    if (ret > 0 || tile_bad(&c, d->sample_numel).samples)
        w->fail_status = langevin_diagnose(b, w, &c, &w->fail_err);
    tile_finish(b, i0, &c);
    return w->fail_status != EBM_OK;
}

/* The clip the compiled program applies to dE/dx / T (ebm_abi.h) for a clip
 * c on dE/dx itself (ebm.h, DESIGN.md): clip(g / T, +-c / T) = clip(g, +-c) / T.
 * Clipping the gradient of E before the temperature divides it keeps the
 * sampled density exp(-E_c(x) / T) for one energy E_c (E with its gradient
 * clipped) at every T; clipping after the division (c fixed) made the drift
 * alpha c whatever T once the clip binds, so T stopped mattering.  0 stays 0
 * (off); a c / T beyond float range cannot bind and is off as well. */
static float clip_over_t(float c, float T)
{
    const double v = (double)c / (double)T;
    return c > 0 && v <= FLT_MAX ? (float)v : 0.0f;
}

ebm_status ebm_langevin(ebm_ctx *ctx, float *x, int64_t n, const ebm_langevin_params *user, float *energy,
                        float *trajectory, ebm_error *err)
{
    const char *fn = "ebm_langevin";
    ebm_status st = check_call(ctx, fn, n, EBM_PROGRAM_LANGEVIN, err);
    if (!st)
        st = check_langevin(ctx, user, err);
    if (st || n == 0)
        return st;
    ebm_langevin_params lp = *user;
    lp.grad_clip = clip_over_t(user->grad_clip, user->temperature);
    const ebm_langevin_params *p = &lp;
    if ((st = need_ptr(ctx, fn, x, "x", err)))
        return st;
    if (p->trajectory_every > 0 && !trajectory)
        return ebm_fail(err, EBM_ERR_INVALID, "%s: %s: trajectory_every = %d but trajectory is NULL", ctx->m->path,
                        fn, (int)p->trajectory_every);
    bad_count unused = {0, -1};
    /* Faster code on its way (an in-process model's first tier, ebm_code.h):
     * one step per program call until it is in, each call reading the
     * program anew, then the rest in one.  The steps keep their global
     * numbers (step_offset), so the noise and the result are the same bits. */
    ebm_langevin_params one = lp;
    one.steps = 1;
    while (p->trajectory_every == 0 && lp.steps > 1 && __atomic_load_n(&ctx->m->upgrade_pending, __ATOMIC_ACQUIRE)) {
        batch b1 = {.ctx = ctx, .fn = fn, .prog = ebm__prog(ctx->m, EBM_PROGRAM_LANGEVIN), .n = n, .x = x,
                    .x_out = x, .energy = NULL, .langevin = &one};
        if ((st = run_job(&b1, langevin_tile, &unused, err)))
            return st;
        lp.steps--;
        lp.step_offset++;
        one.step_offset++;
    }
    batch b = {.ctx = ctx, .fn = fn, .prog = ebm__prog(ctx->m, EBM_PROGRAM_LANGEVIN), .n = n, .x = x, .x_out = x,
               .energy = energy, .langevin = p, .trajectory = p->trajectory_every > 0 ? trajectory : NULL};
    return run_job(&b, langevin_tile, &unused, err);
}

/* ---- denoising score matching -------------------------------------------------- */

ebm_status ebm_dsm_grad(ebm_ctx *ctx, const float *x, const float *target, int64_t n, float *loss, float *grad,
                        ebm_error *err)
{
    const char *fn = "ebm_dsm_grad";
    if (ctx && !ebm__prog(ctx->m, EBM_PROGRAM_DSM_GRAD))
        return ebm_fail(err, EBM_ERR_UNSUPPORTED, "%s: %s: the model has no dsm_grad program (it needs second "
                        "derivatives, so it is compiled only on request: compile with ebmc --dsm)",
                        ctx->m->path, fn);
    ebm_status st = check_call(ctx, fn, n, EBM_PROGRAM_DSM_GRAD, err);
    if (st || (st = need_ptr(ctx, fn, grad, "grad", err)))
        return st;
    if (n > 0 && ((st = need_ptr(ctx, fn, x, "x", err)) || (st = need_ptr(ctx, fn, target, "target", err))))
        return st;
    if (n == 0) {   /* the empty sum */
        memset(grad, 0, (size_t)ctx->m->d->weights_numel * sizeof(float));
        return EBM_OK;
    }
    /* As ebm_param_grad: each tile into its own zeroed buffer, summed in tile order. */
    batch b = {.ctx = ctx, .fn = fn, .prog = ebm__prog(ctx->m, EBM_PROGRAM_DSM_GRAD), .n = n, .x = x, .energy = loss,
               .grad = 1, .target = target};
    bad_count bc = {0, -1}, in = input_bad(ctx, x, n), in_t = input_bad(ctx, target, n);
    st = run_grad_rounds(&b, grad, &bc, err);
    if (!st)
        st = numeric_result(ctx, fn, &in, &in_t, "loss", &bc, n, err);
    if (!st)
        st = grad_numeric(ctx, fn, grad, err);
    return st;
}
