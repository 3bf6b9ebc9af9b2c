/* train.c — persistent contrastive divergence and denoising score matching
 * with Adam (train.h), on the compute calls of ebm.h.
 *
 * The trainer owns: a context of capacity 2B (data and samples go through one
 * param_grad call), the Adam moments and the EMA (over all weights_numel
 * floats, but only trainable parameters move), the sample buffer, the
 * minibatch sampler, and one in-memory snapshot for the divergence guard.
 */
#include "train.h"
#include "train_internal.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ebm_philox.h"
#include "npy.h"
#include "toy.h"

#define NOISE_KEY_TWEAK 0x646174615f6e6f69ull   /* "data_noi" */
#define LEVEL_KEY_TWEAK 0x6c6576656c5f7369ull  /* "level_si" */
#define STEP_KEY_MUL 0x9E3779B97F4A7C15ull

const char *ebm_objective_name(ebm_objective o)
{
    switch (o) {
    case EBM_OBJ_CD: return "cd";
    case EBM_OBJ_CD_SOFTPLUS: return "cd-softplus";
    case EBM_OBJ_CD_LOGSUMEXP: return "cd-logsumexp";
    case EBM_OBJ_DSM: return "dsm";
    }
    return "?";
}

int ebm_objective_parse(const char *name, ebm_objective *out)
{
    for (int k = EBM_OBJ_CD; k <= EBM_OBJ_DSM; k++)
        if (name && strcmp(name, ebm_objective_name((ebm_objective)k)) == 0) {
            *out = (ebm_objective)k;
            return 0;
        }
    return -1;
}

ebm_train_config ebm_train_defaults(void)
{
    return (ebm_train_config){
        .objective = EBM_OBJ_CD,
        .batch = 64,
        .alpha = 0.01,
        .sigma = 0.1,
        .sigma_power = 1,
        .lr = 1e-4,
        .beta1 = 0.0,
        .beta2 = 0.999,
        .adam_eps = 1e-8,
        .grad_norm_clip = 1.0,
        .ema = 0,
        .data_noise = 0.005,
        .sampler = ebm_sampler_defaults(),
        .fresh = EBM_INIT_UNIFORM,
        .buffer_capacity = 8192,
        .reinit = 0.05,
        .seed = 0,
        .energy_limit = 1e4,
        .snapshot_every = 100,
        .max_restores = 3,
    };
}

/* ---- the loss ------------------------------------------------------------------- */

static double softplus(double z)
{
    return z > 0 ? z + log1p(exp(-z)) : log1p(exp(z));
}

void ebm_cd_loss(ebm_objective o, double alpha, const float *e_real, const float *e_fake, int64_t B, double *loss,
                 double *cd, double *reg, float *w_real, float *w_fake)
{
    double c = 0, r = 0;
    if (o == EBM_OBJ_CD_LOGSUMEXP) {
        double mx = -INFINITY, z = 0;
        for (int64_t i = 0; i < B; i++)
            mx = fmax(mx, -(double)e_fake[i]);
        for (int64_t i = 0; i < B; i++)
            z += exp(-(double)e_fake[i] - mx);
        for (int64_t i = 0; i < B; i++) {
            c += e_real[i] / (double)B;
            w_real[i] = (float)(1.0 / (double)B);
            w_fake[i] = (float)(-exp(-(double)e_fake[i] - mx) / z);   /* d/dE- of logsumexp(-E-) */
        }
        c += mx + log(z) - log((double)B);
    } else {
        for (int64_t i = 0; i < B; i++) {
            if (o == EBM_OBJ_CD_SOFTPLUS) {
                double dz = (double)e_real[i] - e_fake[i], s = 1.0 / (1.0 + exp(-dz));
                c += softplus(dz) / (double)B;
                w_real[i] = (float)(s / (double)B);
                w_fake[i] = (float)(-s / (double)B);
            } else {
                c += ((double)e_real[i] - e_fake[i]) / (double)B;
                w_real[i] = (float)(1.0 / (double)B);
                w_fake[i] = (float)(-1.0 / (double)B);
            }
        }
    }
    for (int64_t i = 0; i < B; i++) {
        r += alpha * ((double)e_real[i] * e_real[i] + (double)e_fake[i] * e_fake[i]) / (double)B;
        w_real[i] += (float)(2 * alpha * e_real[i] / (double)B);
        w_fake[i] += (float)(2 * alpha * e_fake[i] / (double)B);
    }
    *cd = c;
    *reg = r;
    *loss = c + r;
}

/* ---- construction --------------------------------------------------------------- */

float *ebm__falloc(int64_t n)
{
    return calloc((size_t)(n > 0 ? n : 1), sizeof(float));
}

static void snapshot_free(ebm__snapshot *s)
{
    free(s->w);
    free(s->m);
    free(s->v);
    free(s->ema);
    ebm_buffer_free(s->buf);
    memset(s, 0, sizeof *s);
}

void ebm_trainer_free(ebm_trainer *t)
{
    if (!t)
        return;
    ebm_ctx_free(t->ctx);
    free(t->train);
    free(t->x);
    free(t->e);
    free(t->wts);
    free(t->grad);
    free(t->target);
    free(t->adam_m);
    free(t->adam_v);
    free(t->ema);
    ebm_buffer_free(t->buf);
    if (t->data.dataset)
        ebm_batcher_free(&t->batcher);
    free(t->idx);
    free(t->gathered);
    free(t->egather);
    free(t->slots);
    free(t->xsend);
    free(t->xrecv);
    free(t->sendc);
    free(t->recvc);
    ebm_buffer_free(t->full);
    snapshot_free(&t->snap);
    free(t);
}

static ebm_status check_config(const ebm_model *m, const ebm_train_data *data, const ebm_train_config *c,
                               ebm_error *err)
{
    const char *path = ebm_model_path(m);
    const char *bad = c->batch < 1 ? "batch >= 1"
                      : !(c->lr > 0 && isfinite(c->lr)) ? "lr > 0"
                      : !(c->alpha >= 0 && isfinite(c->alpha)) ? "alpha >= 0"
                      : !(c->beta1 >= 0 && c->beta1 < 1) ? "0 <= beta1 < 1"
                      : !(c->beta2 >= 0 && c->beta2 < 1) ? "0 <= beta2 < 1"
                      : !(c->adam_eps > 0) ? "adam_eps > 0"
                      : !(c->grad_norm_clip >= 0) ? "grad_norm_clip >= 0 (0 = off)"
                      : !(c->ema >= 0 && c->ema < 1) ? "0 <= ema < 1 (0 = off)"
                      : !(c->data_noise >= 0 && isfinite(c->data_noise)) ? "data_noise >= 0"
                      : !(c->sigma > 0 && isfinite(c->sigma)) ? "sigma > 0"
                      : !(c->sigma_max == 0 || (c->sigma_max >= c->sigma && isfinite(c->sigma_max)))
                          ? "sigma_max = 0 (one noise level) or sigma_max >= sigma"
                      : !(c->sigma_power > 0 && isfinite(c->sigma_power)) ? "sigma_power > 0 (1 = log-uniform levels)"
                      : c->buffer_capacity < 1 ? "buffer_capacity >= 1"
                      : !(c->reinit >= 0 && c->reinit <= 1) ? "0 <= reinit <= 1"
                      : !(c->energy_limit > 0) ? "energy_limit > 0"
                      : c->snapshot_every < 1 ? "snapshot_every >= 1"
                      : c->max_restores < 0 ? "max_restores >= 0"
                      : NULL;
    if (bad)
        return ebm_fail(err, EBM_ERR_INVALID, "%s: training configuration: expected %s", path, bad);
    if (!data || (!data->dataset && !data->toy))
        return ebm_fail(err, EBM_ERR_INVALID, "%s: training needs data (a dataset or a toy set)", path);
    const ebm_abi_model *d = ebm_model_desc(m);
    if (data->dataset) {
        ebm_status st = ebm_data_check_shape(data->dataset, d->input_rank - 1, d->input_shape + 1, err);
        if (st) {
            ebm_error_prefix(err, "%s: data %s", path, data->label ? data->label : "(in memory)");
            return st;
        }
    } else if (ebm_toy_find(data->toy) < 0) {
        return ebm_fail(err, EBM_ERR_INVALID, "unknown toy data set '%s' (known: %s)", data->toy, ebm_toy_names());
    } else if (!(d->input_rank == 2 && d->input_shape[1] == 2)) {
        return ebm_fail(err, EBM_ERR_SHAPE, "%s: the toy data set %s is 2-D, but the model's input has %lld values "
                        "per sample (expected [N,2])", path, data->toy, (long long)d->sample_numel);
    }
    if (data->dataset && data->dataset->shape[0] < c->batch)
        return ebm_fail(err, EBM_ERR_INVALID, "%s: the dataset holds %lld samples, fewer than the batch of %lld",
                        path, (long long)data->dataset->shape[0], (long long)c->batch);
    int have_pg = 0, have_dsm = 0;
    for (int k = 0; k < d->n_programs; k++) {
        have_pg |= d->programs[k].kind == EBM_PROGRAM_PARAM_GRAD;
        have_dsm |= d->programs[k].kind == EBM_PROGRAM_DSM_GRAD;
    }
    if (c->objective == EBM_OBJ_DSM && !have_dsm)
        return ebm_fail(err, EBM_ERR_UNSUPPORTED, "%s: --objective dsm needs the dsm_grad program (compile with ebmc "
                        "--dsm)", path);
    if (!have_pg)
        return ebm_fail(err, EBM_ERR_UNSUPPORTED, "%s: the model has no param_grad program", path);
    return EBM_OK;
}

ebm_status ebm__snapshot_take(ebm_trainer *t, ebm_error *err)
{
    ebm__snapshot *s = &t->snap;
    const size_t bytes = (size_t)t->wn * sizeof(float);
    memcpy(s->w, t->w, bytes);
    memcpy(s->m, t->adam_m, bytes);
    memcpy(s->v, t->adam_v, bytes);
    if (t->ema)
        memcpy(s->ema, t->ema, bytes);
    s->step = t->step;
    s->lr = t->lr;
    s->alpha = t->alpha;
    return ebm_buffer_copy(s->buf, t->buf, err);
}

int64_t ebm_train_grad_block(int64_t batch, int64_t tile)
{
    int64_t g = 16;
    while (g > 1 && (batch % g != 0 || g > tile))
        g /= 2;
    return g;
}

/* The exchange buffers for the current split (t->comm, t->share, t->block). */
static ebm_status alloc_split(ebm_trainer *t, ebm_error *err)
{
    const int64_t R = t->comm.size, n = t->share;
    free(t->gathered);
    free(t->egather);
    t->slot = 1 + 2 * (n / t->block) * t->wn;
    t->gathered = ebm__falloc(R * t->slot);
    t->egather = ebm__falloc(R * (1 + 2 * n));
    if (!t->gathered || !t->egather)
        return ebm_fail(err, EBM_ERR_NOMEM, "%s: training: out of memory for %lld gradient blocks of %lld values",
                        ebm_model_path(t->m), (long long)(R * 2 * (n / t->block)), (long long)t->wn);
    return EBM_OK;
}

ebm_status ebm_trainer_new(ebm_model *m, const ebm_train_data *data, const ebm_train_config *cfg, ebm_trainer **out,
                           ebm_error *err)
{
    *out = NULL;
    ebm_status st = check_config(m, data, cfg, err);
    if (st)
        return st;
    ebm_trainer *t = calloc(1, sizeof *t);
    if (!t)
        return ebm_fail(err, EBM_ERR_NOMEM, "training: out of memory");
    t->m = m;
    t->d = ebm_model_desc(m);
    t->cfg = *cfg;
    t->data = *data;
    t->B = cfg->batch;
    t->numel = t->d->sample_numel;
    t->wn = t->d->weights_numel;
    t->w = ebm_model_weights(m);
    t->lr = cfg->lr;
    t->alpha = cfg->sampler.lv.step_size;
    const int64_t B = t->B, numel = t->numel, wn = t->wn;
    t->train = calloc((size_t)(wn > 0 ? wn : 1), 1);
    t->x = ebm__falloc(2 * B * numel);
    t->e = ebm__falloc(2 * B);
    t->wts = ebm__falloc(2 * B);
    t->grad = ebm__falloc(wn);
    t->target = cfg->objective == EBM_OBJ_DSM ? ebm__falloc(B * numel) : NULL;
    t->adam_m = ebm__falloc(wn);
    t->adam_v = ebm__falloc(wn);
    t->ema = cfg->ema > 0 ? ebm__falloc(wn) : NULL;
    t->idx = malloc((size_t)B * sizeof *t->idx);
    t->snap.w = ebm__falloc(wn);
    t->snap.m = ebm__falloc(wn);
    t->snap.v = ebm__falloc(wn);
    t->snap.ema = cfg->ema > 0 ? ebm__falloc(wn) : NULL;
    if (!t->train || !t->x || !t->e || !t->wts || !t->grad || (cfg->objective == EBM_OBJ_DSM && !t->target) ||
        !t->adam_m || !t->adam_v || (cfg->ema > 0 && (!t->ema || !t->snap.ema)) || !t->idx || !t->snap.w ||
        !t->snap.m || !t->snap.v) {
        ebm_trainer_free(t);
        return ebm_fail(err, EBM_ERR_NOMEM, "%s: training: out of memory for a batch of %lld", ebm_model_path(m),
                        (long long)B);
    }
    for (int k = 0; k < t->d->n_params; k++)
        if (t->d->params[k].trainable)
            memset(t->train + t->d->params[k].offset, 1, (size_t)t->d->params[k].numel);
    if (t->ema)
        memcpy(t->ema, t->w, (size_t)wn * sizeof(float));
    st = ebm_ctx_new(m, 2 * B, &t->ctx, err);
    if (!st)
        st = ebm_buffer_new(cfg->buffer_capacity, numel, &t->buf, err);
    if (!st)
        st = ebm_buffer_new(cfg->buffer_capacity, numel, &t->snap.buf, err);
    if (!st && data->dataset)
        st = ebm_batcher_init(&t->batcher, data->dataset->shape[0], B, cfg->seed, err);
    t->comm = (ebm_train_comm){.rank = 0, .size = 1};
    t->lo = 0;
    t->share = B;
    t->block = ebm_train_grad_block(B, t->d->tile);
    if (!st)
        st = alloc_split(t, err);
    if (!st)
        st = ebm__snapshot_take(t, err);
    if (st) {
        if (!data->dataset)
            memset(&t->batcher, 0, sizeof t->batcher);
        ebm_trainer_free(t);
        return st;
    }
    *out = t;
    return EBM_OK;
}

ebm_status ebm_trainer_set_comm(ebm_trainer *t, const ebm_train_comm *c, ebm_error *err)
{
    if (t->comm.size > 1 || t->step > 0)
        return ebm_fail(err, EBM_ERR_INVALID, "training: ebm_trainer_set_comm is called once, before the first step");
    if (!c || c->size <= 1) {
        t->comm = (ebm_train_comm){.rank = 0, .size = 1};
        t->lo = 0;
        t->share = t->B;
        return alloc_split(t, err);
    }
    const int64_t R = c->size, G = t->block;
    if (c->rank < 0 || c->rank >= c->size || !c->allgather || !c->alltoallv)
        return ebm_fail(err, EBM_ERR_INVALID, "training: rank %d of %d (or no allgather, alltoallv): expected 0 <= "
                        "rank < size", c->rank, c->size);
    if (t->cfg.sampler.kind != EBM_SAMPLER_LANGEVIN)
        return ebm_fail(err, EBM_ERR_UNSUPPORTED, "--sampler %s adapts its step size on the whole batch and does not "
                        "run on several processes (%lld ranks): use --sampler langevin",
                        ebm_sampler_name(t->cfg.sampler.kind), (long long)R);
    if (t->B % (R * G) != 0)
        return ebm_fail(err, EBM_ERR_INVALID, "--batch %lld cannot be split over %lld processes: each takes whole "
                        "blocks of %lld samples, so the number of processes must divide %lld",
                        (long long)t->B, (long long)R, (long long)G, (long long)(t->B / G));
    const int64_t B = t->B, numel = t->numel;
    t->slots = malloc((size_t)B * sizeof *t->slots);
    t->xsend = ebm__falloc(B * numel);
    t->xrecv = ebm__falloc(B * numel);
    t->sendc = calloc((size_t)R, sizeof *t->sendc);
    t->recvc = calloc((size_t)R, sizeof *t->recvc);
    if (!t->slots || !t->xsend || !t->xrecv || !t->sendc || !t->recvc)
        return ebm_fail(err, EBM_ERR_NOMEM, "%s: training: out of memory for the exchanges of %lld samples",
                        ebm_model_path(t->m), (long long)B);
    ebm_status st = ebm_buffer_shard(t->buf, B, c->rank, c->size, err);
    if (!st)
        st = ebm_buffer_shard(t->snap.buf, B, c->rank, c->size, err);
    if (st)
        return st;
    t->comm = *c;
    t->share = B / R;
    t->lo = (int64_t)c->rank * t->share;
    return alloc_split(t, err);
}

int64_t ebm_trainer_steps_done(const ebm_trainer *t)
{
    return t->step;
}

const float *ebm_trainer_params(const ebm_trainer *t)
{
    return t->ema ? t->ema : t->w;
}

const float *ebm_trainer_samples(const ebm_trainer *t)
{
    return t->x + t->B * t->numel;
}

ebm_buffer *ebm_trainer_buffer(ebm_trainer *t)
{
    return t->comm.size > 1 ? t->full : t->buf;
}

double ebm_trainer_lr(const ebm_trainer *t)
{
    return t->lr;
}

ebm_status ebm_trainer_gather(ebm_trainer *t, ebm_error *err)
{
    if (t->comm.size <= 1)
        return EBM_OK;
    const int64_t n = t->share, numel = t->numel, count = ebm_buffer_count(t->buf);
    const size_t bytes = (size_t)numel * sizeof(float);
    const int R = t->comm.size, me = t->comm.rank;
    ebm_buffer *b = t->buf;
    ebm_status st = EBM_OK;
    if (me == 0 && !t->full)
        st = ebm_buffer_new(ebm_buffer_capacity(b), numel, &t->full, err);
    /* what goes to rank 0: this rank's rows of x-, then its stored samples, oldest first */
    int64_t mine = 0;
    for (int64_t j = 0; j < count; j++)
        mine += ebm_buffer_owner(b, ebm_buffer_slot_of(b, j)) == me;
    const int64_t rows = me == 0 ? 0 : n + mine, all = me == 0 ? count + (R - 1) * n : 0;
    float *send = ebm__falloc(rows * numel), *recv = ebm__falloc(all * numel);
    int64_t *sc = calloc((size_t)R, sizeof *sc), *rc = calloc((size_t)R, sizeof *rc);
    if (!st && (!send || !recv || !sc || !rc))
        st = ebm_fail(err, EBM_ERR_NOMEM, "%s: training: out of memory gathering the sample buffer",
                      ebm_model_path(t->m));
    if (st) {
        free(send), free(recv), free(sc), free(rc);
        return st;   /* rank 0's failure ends the job (the others wait in the exchange) */
    }
    float *xf = t->x + t->B * numel;
    if (me != 0) {
        memcpy(send, xf + t->lo * numel, (size_t)n * bytes);
        for (int64_t j = 0, at = n; j < count; j++) {
            const int64_t slot = ebm_buffer_slot_of(b, j);
            if (ebm_buffer_owner(b, slot) == me)
                memcpy(send + at++ * numel, ebm_buffer_slot(b, slot), bytes);
        }
        sc[0] = rows * numel;
    } else {
        for (int q = 1; q < R; q++) {
            int64_t c = n;
            for (int64_t j = 0; j < count; j++)
                c += ebm_buffer_owner(b, ebm_buffer_slot_of(b, j)) == q;
            rc[q] = c * numel;
        }
    }
    st = t->comm.alltoallv(t->comm.user, send, sc, recv, rc, err);
    if (!st && me == 0) {
        ebm_buffer_copy_ring(t->full, b);
        for (int64_t j = 0; j < count; j++) {
            const int64_t slot = ebm_buffer_slot_of(b, j);
            if (ebm_buffer_owner(b, slot) == 0)
                memcpy(ebm_buffer_slot(t->full, slot), ebm_buffer_slot(b, slot), bytes);
        }
        const float *at = recv;
        for (int q = 1; q < R; q++) {
            memcpy(xf + q * n * numel, at, (size_t)n * bytes);
            at += n * numel;
            for (int64_t j = 0; j < count; j++) {
                const int64_t slot = ebm_buffer_slot_of(b, j);
                if (ebm_buffer_owner(b, slot) == q) {
                    memcpy(ebm_buffer_slot(t->full, slot), at, bytes);
                    at += numel;
                }
            }
        }
    }
    free(send), free(recv), free(sc), free(rc);
    return st;
}

/* ---- one step ------------------------------------------------------------------- */

/* The seed of everything random in step s. */
static uint64_t step_seed(uint64_t seed, int64_t s)
{
    uint64_t z = seed + STEP_KEY_MUL * (uint64_t)(s + 1);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static float clampf(float v, const ebm_langevin_params *lv)
{
    if (!lv->clamp)
        return v;
    return v < lv->lo ? lv->lo : v > lv->hi ? lv->hi : v;
}

/* x+ of step s, this rank's rows [lo, lo + share) of t->x[0..B): the data
 * batch, plus noise, clamped. */
static ebm_status data_batch(ebm_trainer *t, int64_t s, ebm_error *err)
{
    const int64_t B = t->B, numel = t->numel, lo = t->lo, n = t->share;
    float *xd = t->x + lo * numel;
    ebm_status st;
    if (t->data.dataset) {
        ebm_batcher_seek(&t->batcher, s);
        ebm_batcher_next(&t->batcher, t->idx);
        st = ebm_data_gather(t->data.dataset, t->idx + lo, n, xd, err);
    } else {
        st = ebm_toy_sample_at(t->data.toy, s * B + lo, n, t->cfg.seed, xd, err);
    }
    if (st || t->cfg.data_noise <= 0 || t->cfg.objective == EBM_OBJ_DSM)
        return st;
    /* the noise goes through the fake half of t->x, which fake_batch fills next */
    const uint64_t key = step_seed(t->cfg.seed, s) ^ NOISE_KEY_TWEAK;
    float *eps = t->x + (B + lo) * numel;
    ebm_philox_normals_rows(key, (uint64_t)lo, n, 0, eps, numel);
    for (int64_t j = 0; j < n * numel; j++)
        xd[j] = clampf(xd[j] + (float)t->cfg.data_noise * eps[j], &t->cfg.sampler.lv);
    return EBM_OK;
}

static ebm_status alltoallv(ebm_trainer *t, ebm_error *err)
{
    return t->comm.alltoallv(t->comm.user, t->xsend, t->sendc, t->xrecv, t->recvc, err);
}

/* The rank that stores slot s of the step's plan (-1: a fresh row, or one
 * evicted within its own push). */
static int slot_rank(const ebm_trainer *t, int64_t i)
{
    return t->slots[i] < 0 ? -1 : ebm_buffer_owner(t->buf, t->slots[i]);
}

/* Several ranks: the draw planned on every rank (the same slots on all),
 * this rank's rows [lo, lo + share) of xf filled with their fresh states
 * (keyed by the global row) and with the samples of their slots, which each
 * slot's rank sends (rows in order, ranks in order). */
static ebm_status draw_shard(ebm_trainer *t, const ebm_buffer_init *init, float *xf, ebm_error *err)
{
    const int64_t n = t->share, lo = t->lo, numel = t->numel;
    const size_t bytes = (size_t)numel * sizeof(float);
    const int R = t->comm.size, me = t->comm.rank;
    int64_t k;
    ebm_status st = ebm_buffer_plan_draw(t->buf, t->B, t->cfg.reinit, init->seed, t->slots, &k, err);
    if (st)
        return st;
    if (k > lo)
        ebm_buffer_fresh(t->buf, init, lo, xf + lo * numel, (k < lo + n ? k : lo + n) - lo);
    int64_t at = 0;
    for (int r = 0; r < R; r++) {
        const int64_t from = at;
        for (int64_t i = r * n; i < (r + 1) * n; i++) {
            if (slot_rank(t, i) != me)
                continue;
            const float *x = ebm_buffer_slot(t->buf, t->slots[i]);
            memcpy(r == me ? xf + i * numel : t->xsend + at++ * numel, x, bytes);
        }
        t->sendc[r] = (at - from) * numel;
    }
    for (int q = 0; q < R; q++) {
        int64_t c = 0;
        for (int64_t i = lo; i < lo + n && q != me; i++)
            c += slot_rank(t, i) == q;
        t->recvc[q] = c * numel;
    }
    if ((st = alltoallv(t, err)))
        return st;
    at = 0;
    for (int q = 0; q < R; q++)
        for (int64_t i = lo; i < lo + n && q != me; i++)
            if (slot_rank(t, i) == q)
                memcpy(xf + i * numel, t->xrecv + at++ * numel, bytes);
    return EBM_OK;
}

/* Several ranks, once every rank's x- is final: the push planned on every
 * rank, each of this rank's rows to the rank of its slot. */
static ebm_status push_shard(ebm_trainer *t, ebm_error *err)
{
    const int64_t n = t->share, lo = t->lo, numel = t->numel;
    const size_t bytes = (size_t)numel * sizeof(float);
    const int R = t->comm.size, me = t->comm.rank;
    const float *xf = t->x + t->B * numel;
    ebm_buffer_plan_push(t->buf, t->B, t->slots);
    int64_t at = 0;
    for (int q = 0; q < R; q++) {
        const int64_t from = at;
        for (int64_t i = lo; i < lo + n; i++) {
            if (slot_rank(t, i) != q)
                continue;
            memcpy(q == me ? ebm_buffer_slot(t->buf, t->slots[i]) : t->xsend + at++ * numel, xf + i * numel, bytes);
        }
        t->sendc[q] = (at - from) * numel;
    }
    for (int r = 0; r < R; r++) {
        int64_t c = 0;
        for (int64_t i = r * n; i < (r + 1) * n && r != me; i++)
            c += slot_rank(t, i) == me;
        t->recvc[r] = c * numel;
    }
    ebm_status st = alltoallv(t, err);
    if (st)
        return st;
    at = 0;
    for (int r = 0; r < R; r++)
        for (int64_t i = r * n; i < (r + 1) * n && r != me; i++)
            if (slot_rank(t, i) == me)
                memcpy(ebm_buffer_slot(t->buf, t->slots[i]), t->xrecv + at++ * numel, bytes);
    return EBM_OK;
}

/* x- of step s into t->x[B..2B): the buffer draw (one process: all of it;
 * several: this rank's rows, draw_shard), then the sampler on this rank's
 * rows [lo, lo + share) with their energies into t->e[B + lo ...].  step()
 * pushes x- once every rank's rows are in. */
static ebm_status fake_batch(ebm_trainer *t, int64_t s, ebm_train_stats *stats, ebm_error *err)
{
    const int64_t B = t->B, lo = t->lo;
    float *xf = t->x + B * t->numel;
    const ebm_langevin_params *lv = &t->cfg.sampler.lv;
    ebm_buffer_init init = {.kind = t->cfg.fresh, .lo = lv->clamp ? lv->lo : -1.0f, .hi = lv->clamp ? lv->hi : 1.0f,
                            .sd = t->cfg.fresh_sd, .seed = t->cfg.seed};
    ebm_buffer_set_draws(t->buf, (uint64_t)s);
    ebm_status st = t->comm.size > 1 ? draw_shard(t, &init, xf, err)
                                     : ebm_buffer_draw(t->buf, xf, B, t->cfg.reinit, &init, NULL, err);
    ebm_sampler_params p = t->cfg.sampler;
    p.lv.seed = step_seed(t->cfg.seed, s);
    p.lv.step_size = t->alpha;
    p.lv.trajectory_every = 0;
    p.progress = NULL;
    /* MALA tunes its step size toward 57.4% acceptance in the first half of
     * every training step's chain; the adaptive sampler throughout.  Either
     * carries its step size into the next training step, so it follows the
     * model as the energy sharpens. */
    p.burn_in = p.kind == EBM_SAMPLER_MALA ? p.lv.steps / 2 : 0;
    ebm_sampler_stats ss;
    ebm_ctx_set_sample_base(t->ctx, lo);
    if (!st)
        st = ebm_sampler_run(t->ctx, xf + lo * t->numel, t->share, &p, t->e + B + lo, NULL, &ss, err);
    ebm_ctx_set_sample_base(t->ctx, 0);
    if (!st) {
        if (p.kind != EBM_SAMPLER_LANGEVIN)
            t->alpha = ss.step_size;
        stats->step_size = ss.step_size;
        stats->acceptance = p.kind == EBM_SAMPLER_MALA ? ss.acceptance : -1;
    }
    return st;
}

/* The ranks' exchanges (nothing to do in one process). */
static ebm_status allgather(ebm_trainer *t, float *all, int64_t count, ebm_error *err)
{
    return t->comm.size > 1 ? t->comm.allgather(t->comm.user, all, count, err) : EBM_OK;
}

/* After every rank's local part: st is this rank's status (EBM_OK or
 * EBM_ERR_NUMERIC), slot[0] of every rank's part of `all` its status.  Returns
 * EBM_ERR_NUMERIC when any rank failed (this rank's message, else one naming
 * the first rank that did), so that every rank takes the same branch. */
static ebm_status agree(const ebm_trainer *t, ebm_status st, const float *all, int64_t slot, ebm_error *err)
{
    if (st)
        return st;
    for (int r = 0; r < t->comm.size; r++)
        if (all[r * slot] != 0)
            return ebm_fail(err, EBM_ERR_NUMERIC, "%s: a non-finite value (NaN/Inf) on rank %d of %d (its own "
                            "message is in its output)", ebm_model_path(t->m), r, t->comm.size);
    return EBM_OK;
}

/* Every rank's energies (data rows, then sample rows) into t->e, with the
 * ranks' statuses. */
static ebm_status exchange_energies(ebm_trainer *t, ebm_status st, ebm_error *err)
{
    const int64_t B = t->B, n = t->share, slot = 1 + 2 * n;
    float *own = t->egather + t->comm.rank * slot;
    own[0] = st ? 1.0f : 0.0f;
    memcpy(own + 1, t->e + t->lo, (size_t)n * sizeof(float));
    memcpy(own + 1 + n, t->e + B + t->lo, (size_t)n * sizeof(float));
    ebm_error gerr = {0};
    ebm_status gs = allgather(t, t->egather, slot, &gerr);
    if (gs) {
        if (err)
            *err = gerr;
        return gs;
    }
    if ((st = agree(t, st, t->egather, slot, err)))
        return st;
    for (int r = 0; r < t->comm.size; r++) {
        memcpy(t->e + r * n, t->egather + r * slot + 1, (size_t)n * sizeof(float));
        memcpy(t->e + B + r * n, t->egather + r * slot + 1 + n, (size_t)n * sizeof(float));
    }
    return EBM_OK;
}

static double norm2(const float *g, int64_t n)
{
    double s = 0;
    for (int64_t i = 0; i < n; i++)
        s += (double)g[i] * g[i];
    return sqrt(s);
}

void ebm__adam_update(ebm_trainer *t)
{
    const ebm_train_config *c = &t->cfg;
    const double k = (double)(t->step + 1);
    const double bc1 = 1 - pow(c->beta1, k), bc2 = 1 - pow(c->beta2, k);
    for (int64_t i = 0; i < t->wn; i++) {
        if (!t->train[i])
            continue;
        double g = t->grad[i];
        double m = c->beta1 * t->adam_m[i] + (1 - c->beta1) * g;
        double v = c->beta2 * t->adam_v[i] + (1 - c->beta2) * g * g;
        t->adam_m[i] = (float)m;
        t->adam_v[i] = (float)v;
        t->w[i] = (float)(t->w[i] - t->lr * (m / bc1) / (sqrt(v / bc2) + c->adam_eps));
    }
    if (t->ema)
        for (int64_t i = 0; i < t->wn; i++)
            t->ema[i] = (float)(c->ema * t->ema[i] + (1 - c->ema) * t->w[i]);
}

/* The dsm noise level of sample i: sigma, or with sigma_max > sigma a draw
 * from [sigma, sigma_max]: sigma r^(u^p), r = sigma_max / sigma, u uniform
 * (p = sigma_power; p = 1 is log-uniform, p < 1 puts more of the levels
 * near sigma_max, where a model of many levels is hardest to learn). */
static double noise_level(const ebm_train_config *c, uint64_t key, int64_t i)
{
    if (!(c->sigma_max > c->sigma))
        return c->sigma;
    const uint64_t k = key ^ LEVEL_KEY_TWEAK;
    uint32_t ctr[4] = {(uint32_t)i, (uint32_t)((uint64_t)i >> 32), 0, 0};
    ebm_philox4x32_10(ctr, (uint32_t)k, (uint32_t)(k >> 32));
    double u = ebm_philox_uniform(ctr[0]);
    if (c->sigma_power != 1)
        u = pow(u, c->sigma_power);
    return c->sigma * pow(c->sigma_max / c->sigma, u);
}

/* The sum of every rank's gradient blocks into t->grad, in global block
 * order: data blocks 0, 1, ... of B / block, then (cd) the samples' blocks,
 * whatever the split.  st is this rank's status (EBM_OK or EBM_ERR_NUMERIC). */
static ebm_status sum_blocks(ebm_trainer *t, ebm_status st, int halves, ebm_error *err)
{
    const int64_t wn = t->wn, nb = t->share / t->block;
    t->gathered[t->comm.rank * t->slot] = st ? 1.0f : 0.0f;
    ebm_error gerr = {0};
    ebm_status gs = allgather(t, t->gathered, t->slot, &gerr);
    if (gs) {
        if (err)
            *err = gerr;
        return gs;
    }
    if ((st = agree(t, st, t->gathered, t->slot, err)))
        return st;
    memset(t->grad, 0, (size_t)wn * sizeof(float));
    for (int half = 0; half < halves; half++)
        for (int r = 0; r < t->comm.size; r++)
            for (int64_t k = 0; k < nb; k++) {
                const float *g = t->gathered + r * t->slot + 1 + (half * nb + k) * wn;
                for (int64_t i = 0; i < wn; i++)
                    t->grad[i] += g[i];
            }
    return EBM_OK;
}

/* This rank's blocks, at its slot of t->gathered after the status. */
static float *own_blocks(const ebm_trainer *t)
{
    return t->gathered + t->comm.rank * t->slot + 1;
}

/* dsm, this rank's rows [lo, lo + share): x~ = x + sigma_i eps into the
 * second half of t->x, target (x - x~) / sigma^2 = -eps / sigma; per-sample
 * losses into t->e[B + i], the gradient's blocks into own_blocks.  The loss
 * needs no energy of the clean data (a shift of E changes no score), so none
 * is computed: that forward pass was 10% of a step; t->e[i] hold NaN. */
static ebm_status dsm_local(ebm_trainer *t, int64_t s, ebm_error *err)
{
    const int64_t B = t->B, numel = t->numel, lo = t->lo, n = t->share;
    const double sg = t->cfg.sigma;
    const uint64_t key = step_seed(t->cfg.seed, s) ^ NOISE_KEY_TWEAK;
    float *xt = t->x + (B + lo) * numel, *tg = t->target + lo * numel;
    const float *x = t->x + lo * numel;
    ebm_philox_normals_rows(key, (uint64_t)lo, n, 1, tg, numel);
    for (int64_t i = 0; i < n; i++) {
        const double si = noise_level(&t->cfg, key, lo + i);
        for (int64_t j = i * numel; j < (i + 1) * numel; j++) {
            float eps = tg[j];
            xt[j] = (float)(x[j] + si * eps);
            tg[j] = (float)(-eps / sg);
        }
    }
    for (int64_t i = 0; i < n; i++)
        t->e[lo + i] = NAN;
    return ebm_dsm_grad_blocks(t->ctx, xt, tg, n, t->block, t->e + B + lo, own_blocks(t), err);
}

/* Loss and gradient of step s into stats and t->grad, once every rank's
 * energies are in t->e (cd: x+ then x-; dsm: x+ then the per-sample losses). */
static ebm_status loss_and_grad(ebm_trainer *t, ebm_train_stats *stats, ebm_error *err)
{
    const int64_t B = t->B, numel = t->numel, lo = t->lo, n = t->share;
    ebm_status st;
    if (t->cfg.objective == EBM_OBJ_DSM) {
        if ((st = sum_blocks(t, EBM_OK, 1, err)))
            return st;
        const double sg = t->cfg.sigma, scale = sg * sg / (double)B;
        double l = 0;
        for (int64_t i = 0; i < B; i++)
            l += t->e[B + i];
        for (int64_t i = 0; i < t->wn; i++)
            t->grad[i] = (float)(t->grad[i] * scale);
        stats->loss = stats->cd = l * scale;
        stats->reg = 0;
        stats->real_energy_mean = stats->fake_energy_mean = NAN;   /* not computed (dsm_local) */
        return EBM_OK;
    }
    ebm_cd_loss(t->cfg.objective, t->cfg.alpha, t->e, t->e + B, B, &stats->loss, &stats->cd, &stats->reg, t->wts,
                t->wts + B);
    stats->real_energy_mean = stats->fake_energy_mean = 0;
    for (int64_t i = 0; i < B; i++) {
        stats->real_energy_mean += t->e[i] / (double)B;
        stats->fake_energy_mean += t->e[B + i] / (double)B;
    }
    float *own = own_blocks(t);
    st = ebm_param_grad_blocks(t->ctx, t->x + lo * numel, t->wts + lo, n, t->block, NULL, own, err);
    if (!st)
        st = ebm_param_grad_blocks(t->ctx, t->x + (B + lo) * numel, t->wts + B + lo, n, t->block, NULL,
                                   own + (n / t->block) * t->wn, err);
    if (st && st != EBM_ERR_NUMERIC)
        return st;
    return sum_blocks(t, st, 2, err);
}

/* A non-finite loss or gradient; cd: an energy beyond the limit (dsm
 * computes no energy, and its per-sample losses are in the finite sum). */
static int diverged(const ebm_trainer *t, const ebm_train_stats *s)
{
    if (!isfinite(s->loss) || !isfinite(s->grad_norm))
        return 1;
    if (t->cfg.objective == EBM_OBJ_DSM)
        return 0;
    for (int64_t i = 0; i < 2 * t->B; i++)
        if (!isfinite(t->e[i]) || fabs(t->e[i]) > t->cfg.energy_limit)
            return 1;
    return 0;
}

/* Back to the snapshot with half the learning rate. */
static ebm_status restore(ebm_trainer *t, ebm_train_stats *stats, const char *why, ebm_error *err)
{
    if (t->restores >= t->cfg.max_restores)
        return ebm_fail(err, EBM_ERR_NUMERIC, "%s: training diverged at step %lld (%s) after %d restores of the last "
                        "good state with the learning rate halved each time (now %g); try a lower --lr, a larger "
                        "--alpha or a smaller sampler step size", ebm_model_path(t->m), (long long)t->step + 1, why,
                        t->restores, t->lr);
    ebm__snapshot *s = &t->snap;
    const size_t bytes = (size_t)t->wn * sizeof(float);
    memcpy(t->w, s->w, bytes);
    memcpy(t->adam_m, s->m, bytes);
    memcpy(t->adam_v, s->v, bytes);
    if (t->ema)
        memcpy(t->ema, s->ema, bytes);
    ebm_status st = ebm_buffer_copy(t->buf, s->buf, err);
    t->restores++;
    t->step = s->step;
    t->alpha = s->alpha;
    t->lr *= 0.5;
    stats->restored = 1;
    stats->restored_to = s->step;
    stats->lr = t->lr;
    stats->step = t->step;
    return st;
}

ebm_status ebm_trainer_step(ebm_trainer *t, ebm_train_stats *stats, ebm_error *err)
{
    ebm_train_stats local;
    if (!stats)
        stats = &local;
    memset(stats, 0, sizeof *stats);
    stats->acceptance = -1;
    const int64_t s = t->step;
    /* this rank's rows, then the exchanges every rank takes part in (a
     * non-finite value on any rank sends every rank to the restore) */
    const int cd = t->cfg.objective != EBM_OBJ_DSM;
    ebm_status st = data_batch(t, s, err);
    if (!st && cd)
        st = fake_batch(t, s, stats, err);
    if (!st && cd)
        st = ebm_energy(t->ctx, t->x + t->lo * t->numel, t->share, t->e + t->lo, err);
    if (!st && !cd)
        st = dsm_local(t, s, err);
    if (!st || st == EBM_ERR_NUMERIC)
        st = exchange_energies(t, st, err);
    if (!st && cd)
        st = t->comm.size > 1 ? push_shard(t, err) : ebm_buffer_push(t->buf, t->x + t->B * t->numel, t->B, err);
    if (!st)
        st = loss_and_grad(t, stats, err);
    if (st == EBM_ERR_NUMERIC) {
        char why[EBM_ERROR_MSG_MAX];
        snprintf(why, sizeof why, "%s", err->msg);
        return restore(t, stats, why, err);
    }
    if (st)
        return st;
    stats->grad_norm = norm2(t->grad, t->wn);
    if (diverged(t, stats)) {
        char why[160];
        snprintf(why, sizeof why, "loss %g, |energy| beyond %g or not finite", stats->loss, t->cfg.energy_limit);
        return restore(t, stats, why, err);
    }
    if (t->cfg.grad_norm_clip > 0 && stats->grad_norm > t->cfg.grad_norm_clip) {
        const float k = (float)(t->cfg.grad_norm_clip / stats->grad_norm);
        for (int64_t i = 0; i < t->wn; i++)
            t->grad[i] *= k;
    }
    ebm__adam_update(t);
    t->step++;
    stats->step = t->step;
    stats->lr = t->lr;
    if (t->step % t->cfg.snapshot_every == 0)
        return ebm__snapshot_take(t, err);
    return EBM_OK;
}
