/* train_eval.c — see train_eval.h. */
#include "train_eval.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_common.h"
#include "ebm_dist.h"
#include "toy.h"

#define KL_GRID 200
#define FID_MAX_DATA 10000
#define FID_SEED 0x5eedf1dULL   /* the chains' starting states and noise: the same at every measurement */

const char *train_eval_name(const train_eval *e)
{
    return e->kind == EVAL_TOY_KL ? "KL" : e->kind == EVAL_FID ? "FID" : "";
}

void train_eval_close(train_eval *e)
{
    free(e->p), free(e->logq), free(e->xy), free(e->e), free(e->x), free(e->feat), free(e->labels);
    feature_net_close(&e->net);
    ebm_gauss_free(&e->ref);
    ebm_ctx_free(e->ctx);
    memset(e, 0, sizeof *e);
}

static ebm_status open_kl(train_eval *e, ebm_model *m, const char *toy, double lo, double hi, ebm_error *err)
{
    const size_t cells = (size_t)KL_GRID * KL_GRID;
    e->lo = lo;
    e->hi = hi;
    e->p = malloc(cells * sizeof *e->p);
    e->logq = malloc(cells * sizeof *e->logq);
    e->xy = malloc(2 * cells * sizeof *e->xy);
    e->e = malloc(cells * sizeof *e->e);
    if (!e->p || !e->logq || !e->xy || !e->e)
        return ebm_fail(err, EBM_ERR_NOMEM, "out of memory for the KL grid");
    ebm_status st = ebm_toy_density_grid(toy, lo, hi, KL_GRID, e->p, err);
    if (!st)
        st = ebm_grid_points(lo, hi, KL_GRID, e->xy, err);
    if (!st)
        st = ebm_ctx_new(m, 4096, &e->ctx, err);
    if (!st)
        e->kind = EVAL_TOY_KL;
    return st;
}

/* A failure of this rank alone while the others wait in an exchange: its
 * message, then the end of the job. */
static _Noreturn void end_job(const ebm_error *err)
{
    fprintf(stderr, "ebm: %s\n", err->msg);
    fprintf(stderr, "ebm: rank %d of %d failed: ending all %d processes\n", ebm_dist_rank(), ebm_dist_size(),
            ebm_dist_size());
    ebm_dist_abort(CLI_EXIT_ERROR);
}

/* The features of x [n, numel] into feat [n, dim] and (with logits) labels
 * [n], on rank 0.  Under mpirun every rank holds all of x and runs its share
 * of the chunks of FEATURE_NET_CHUNK samples (they start where one process's
 * do, so every sample's features are one process's bits), and rank 0
 * gathers them in order; feat and labels may be NULL on the other ranks.  A
 * failure that is this rank's alone (memory, the executor) ends the job. */
static ebm_status dist_features(const feature_net *f, const float *x, int64_t n, double *feat, int *labels,
                                ebm_error *err)
{
    if (ebm_dist_size() <= 1)
        return feature_net_run(f, x, n, feat, labels, err);
    const int64_t C = FEATURE_NET_CHUNK, dim = f->dim, row = dim + 1;
    int64_t c0, cn;
    ebm_dist_share((n + C - 1) / C, &c0, &cn);
    const int64_t lo = c0 * C < n ? c0 * C : n, hi = (c0 + cn) * C < n ? (c0 + cn) * C : n, m = hi - lo;
    const int root = ebm_dist_rank() == 0;
    double *mf = malloc((size_t)((m > 0 ? m : 1) * dim) * sizeof *mf);
    int *ml = calloc((size_t)(m > 0 ? m : 1), sizeof *ml);
    float *rows = malloc((size_t)((m > 0 ? m : 1) * row) * sizeof *rows);
    float *all = root ? malloc((size_t)(n * row) * sizeof *all) : NULL;
    ebm_status st = mf && ml && rows && (!root || all) ? EBM_OK
                    : ebm_fail(err, EBM_ERR_NOMEM, "%s: out of memory for the features of %lld samples", f->label,
                               (long long)n);
    if (!st && m > 0)
        st = feature_net_run(f, x + lo * f->numel, m, mf, ml, err);
    if (st)
        end_job(err);
    for (int64_t i = 0; i < m; i++) {
        for (int64_t j = 0; j < dim; j++)
            rows[i * row + j] = (float)mf[i * dim + j];   /* exact: the executor's outputs are floats */
        rows[i * row + dim] = (float)ml[i];
    }
    st = ebm_dist_gather_rows(rows, m, row, all, err);
    for (int64_t i = 0; !st && root && i < n; i++) {
        for (int64_t j = 0; j < dim; j++)
            feat[i * dim + j] = all[i * row + j];
        if (labels)
            labels[i] = (int)all[i * row + dim];
    }
    free(mf), free(ml), free(rows), free(all);
    return st;
}

/* Every rank (a collective under mpirun): the feature network, and on rank 0
 * the reference statistics of the data, whose features every rank shares
 * (dist_features). */
static ebm_status open_fid(train_eval *e, ebm_model *m, const ebm_dataset *ds, const char *label,
                           const char *features_path, int64_t n, double lo, double hi, char *why, size_t why_size,
                           ebm_error *err)
{
    const int64_t numel = ebm_dataset_sample_numel(ds);
    const int root = ebm_dist_rank() == 0;
    int none = 0;
    ebm_status st = feature_net_open(features_path, &e->net, err);
    if (!st && e->net.numel != numel) {
        if (features_path) {
            st = ebm_fail(err, EBM_ERR_SHAPE, "--features %s takes %lld values per sample; the data %s have %lld",
                          features_path, (long long)e->net.numel, label, (long long)numel);
        } else {
            snprintf(why, why_size, "no FID: the built-in feature network takes 28x28x1 images (give --features)");
            feature_net_close(&e->net);
            none = 1;
        }
    }
    int64_t used = 0;
    float *xd = NULL;
    double *feat = NULL;
    if (!st && !none)
        st = feature_net_data_pick(&e->net, ds, label, FID_MAX_DATA, &xd, &used, err);
    e->n = n;
    e->numel = numel;
    e->init_lo = (float)lo;
    e->init_hi = (float)hi;
    if (!st && !none && !(e->x = malloc((size_t)(n * numel) * sizeof *e->x)))
        st = ebm_fail(err, EBM_ERR_NOMEM, "out of memory for %lld evaluation chains", (long long)n);
    if (!st && !none && root &&
        (!(feat = malloc((size_t)(used * e->net.dim) * sizeof *feat)) ||
         !(e->feat = malloc((size_t)(n * e->net.dim) * sizeof *e->feat)) ||
         !(e->labels = malloc((size_t)n * sizeof *e->labels))))
        st = ebm_fail(err, EBM_ERR_NOMEM, "out of memory for the features of %lld samples", (long long)used);
    if (!st && !none)
        st = ebm_ctx_new(m, n, &e->ctx, err);
    st = ebm_dist_settle(st, err);   /* every rank, failed or not, before the exchange */
    if (!st && !none)
        st = dist_features(&e->net, xd, used, feat, NULL, err);
    if (!st && !none && root)
        st = ebm_gauss_fit(feat, used, e->net.dim, &e->ref, err);
    free(xd);
    free(feat);
    if (!st && !none)
        e->kind = EVAL_FID;
    return st;
}

ebm_status train_eval_open(train_eval *e, ebm_model *m, const char *toy, const ebm_dataset *ds, const char *label,
                           const char *features_path, int64_t n, double lo, double hi, const sample_settings *init,
                           char *why, size_t why_size, ebm_error *err)
{
    memset(e, 0, sizeof *e);
    e->init = *init;
    if (why_size)
        why[0] = '\0';
    ebm_status st = toy ? open_kl(e, m, toy, lo, hi, err)
                        : open_fid(e, m, ds, label, features_path, n, lo, hi, why, why_size, err);
    if (st)
        train_eval_close(e);
    return st;
}

static double kl_value(train_eval *e)
{
    ebm_error err = {0};
    const int64_t cells = (int64_t)KL_GRID * KL_GRID, cap = ebm_ctx_capacity(e->ctx);
    for (int64_t i = 0; i < cells; i += cap) {
        int64_t n = cells - i < cap ? cells - i : cap;
        if (ebm_energy(e->ctx, e->xy + 2 * i, n, e->e + i, &err) && err.code != EBM_ERR_NUMERIC)
            return NAN;
    }
    for (int64_t i = 0; i < cells; i++)
        e->logq[i] = -(double)e->e[i];
    double h = (e->hi - e->lo) / KL_GRID, kl = NAN;
    if (ebm_kl_grid(e->p, e->logq, KL_GRID, h * h, &kl, &err))
        return NAN;
    return kl;
}

static train_eval_result fid_value(train_eval *e, const ebm_sampler_params *sp)
{
    train_eval_result r = {.value = NAN, .covered = -1, .classes = e->net.classes};
    ebm_sampler_params p = *sp;
    p.progress = NULL;
    p.lv.seed = FID_SEED;
    p.lv.step_offset = 0;
    p.lv.trajectory_every = 0;
    sample_settings_fresh(&e->init, e->init_lo, e->init_hi, FID_SEED, e->x, e->n, e->numel);
    feature_score s;
    ebm_error err = {0};
    int first = -1;
    /* under mpirun every rank runs its share of the chains and of their
     * features (all of them from rank 0), rank 0 scores them */
    if (ebm_dist_sample(e->ctx, e->x, e->n, e->numel, &p, NULL, NULL, &first, &err) ||
        ebm_dist_bcast(e->x, e->n * e->numel, &err) || dist_features(&e->net, e->x, e->n, e->feat, e->labels, &err) ||
        ebm_dist_rank() != 0 || feature_net_score_features(&e->net, &e->ref, e->feat, e->labels, e->n, &s, &err))
        return r;
    r.value = s.fid;
    r.covered = s.covered;
    return r;
}

train_eval_result train_eval_measure(train_eval *e, const float *params, const ebm_sampler_params *sp)
{
    train_eval_result r = {.value = NAN, .covered = -1};
    if (e->kind == EVAL_NONE)
        return r;
    ebm_model *m = ebm_ctx_model(e->ctx);
    const int64_t wn = ebm_model_desc(m)->weights_numel;
    float *w = ebm_model_weights(m), *live = NULL;
    if (params != w) {
        if (!(live = malloc((size_t)wn * sizeof(float))))
            return r;
        memcpy(live, w, (size_t)wn * sizeof(float));
        memcpy(w, params, (size_t)wn * sizeof(float));
    }
    if (e->kind == EVAL_TOY_KL)
        r.value = kl_value(e);
    else
        r = fid_value(e, sp);
    if (live) {
        memcpy(w, live, (size_t)wn * sizeof(float));
        free(live);
    }
    return r;
}
