/* ebm_train.c — `ebm train`: persistent contrastive divergence (or denoising
 * score matching) with Adam on a compiled model (runtime/train.h), from an
 * ONNX model to a trained ONNX model: same graph, new initializer values, the
 * training configuration in ebm.* metadata.
 *
 * Settings: a flag, else the model's ebm.* metadata, else DESIGN.md's
 * defaults.  For data outside [-1, 1] (the 2-D toy sets are about +-4) the
 * sampler's clamp range follows the data's range, 10% wider, unless set.
 * Long runs: a progress line on a terminal, a CSV log, periodic PNGs (a grid
 * of samples for images; for 2-D data the data next to the model's density
 * and samples) and, for toy data, KL(data || model) on a 200x200 grid.
 */
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "data.h"
#include "ebm.h"
#include "ebm_commands.h"
#include "ebm_png.h"
#include "model_cache.h"
#include "onnx.h"
#include "progress.h"
#include "sample_png.h"
#include "sampler.h"
#include "sampler_settings.h"
#include "toy.h"
#include "train.h"

#define KL_GRID 200
#define DATA_POINTS_SHOWN 2000

static const cli_opt train_opts[] = {
    {.name = "data", .metavar = "DATA",
     .help = "training data: an IDX file (gzipped or not: MNIST, Fashion-MNIST), .npy, CSV, or toy:NAME "
             "(8gaussians, rings, moons, checkerboard, 2spirals, pinwheel) (required)"},
    {.name = "output", .short_name = 'o', .metavar = "TRAINED.onnx", .help = "the trained model (required)"},
    {.name = "steps", .metavar = "N", .help = "training steps in all (default 1000)"},
    {.name = "batch", .metavar = "B", .help = "data samples (and as many model samples) per step (default 64)"},
    {.name = "lr", .metavar = "LR", .help = "Adam learning rate > 0 (default 1e-4)"},
    {.name = "adam", .metavar = "B1,B2", .help = "Adam's beta1, beta2 (default 0,0.999)"},
    {.name = "alpha", .metavar = "A", .help = "L2 energy regularisation (default: ebm.train.alpha, else 0.01)"},
    {.name = "objective", .metavar = "cd|cd-softplus|cd-logsumexp|dsm",
     .help = "the loss (default cd; dsm = denoising score matching, no sampling)"},
    {.name = "sigma", .metavar = "S", .help = "dsm noise level (default 0.1)"},
    {.name = "mcmc-steps", .metavar = "K", .help = "sampler steps per training step (default: ebm.sampler.steps, "
                                                   "else 60)"},
    {.name = "sampler", .metavar = "langevin|adaptive|mala", .help = "the sampler (default langevin)"},
    {.name = "step-size", .metavar = "A", .help = "sampler step size (default: ebm.sampler.step_size, else 0.01)"},
    {.name = "noise", .metavar = "S|auto", .help = "sampler noise (default: ebm.sampler.noise_scale, else 0.005)"},
    {.name = "grad-clip", .metavar = "C", .help = "sampler gradient clip, 0 = off (default: ebm.sampler.grad_clip, "
                                                  "else 0.03)"},
    {.name = "clamp", .metavar = "LO,HI|none", .help = "sampler range (default: ebm.sampler.clamp, else [-1,1], "
                                                       "widened to the data's range)"},
    {.name = "temperature", .metavar = "T", .help = "sampler temperature (default 1)"},
    {.name = "buffer-capacity", .metavar = "C", .help = "sample buffer capacity (default: ebm.buffer.capacity, "
                                                        "else 8192)"},
    {.name = "reinit", .metavar = "P", .help = "buffer re-init probability (default: ebm.buffer.reinit_prob, "
                                               "else 0.05)"},
    {.name = "data-noise", .metavar = "S", .help = "noise added to data samples (default 0.005)"},
    {.name = "grad-norm-clip", .metavar = "G", .help = "clip the parameter gradient's norm, 0 = off (default 1)"},
    {.name = "ema", .metavar = "D", .help = "keep an EMA of the parameters with decay D and write it (default off)"},
    {.name = "energy-limit", .metavar = "E", .help = "divergence guard: |energy| above E counts as a blow-up "
                                                     "(default 1e4)"},
    {.name = "checkpoint", .metavar = "FILE", .help = "write a checkpoint (atomically) every --checkpoint-every "
                                                      "steps and at the end"},
    {.name = "checkpoint-every", .metavar = "S", .help = "steps between checkpoints (default 100)"},
    {.name = "resume", .metavar = "FILE", .help = "continue from a checkpoint (same model and settings)"},
    {.name = "log", .metavar = "LOG.csv", .help = "CSV log: step, loss, cd, reg, energies, grad norm, step size, "
                                                  "acceptance, lr, kl, seconds"},
    {.name = "log-every", .metavar = "S", .help = "steps between log rows (default 10)"},
    {.name = "png", .metavar = "PREFIX", .help = "write PREFIX-<step>.png every --png-every steps and PREFIX.png "
                                                 "at the end"},
    {.name = "png-every", .metavar = "S", .help = "steps between pictures (default 500)"},
    {.name = "seed", .metavar = "S", .help = "random seed (default 0)"},
    {.name = "energy-head", .metavar = "HEAD", .help = "output|sum|neg-logsumexp|logsumexp (default: the model's)"},
    {0},
};

const cli_cmd train_cmd = {
    .prog = "ebm train",
    .usage = "MODEL.onnx --data DATA -o TRAINED.onnx [--steps N] [--batch B] [--lr LR] [--alpha A]\n"
             "                 [--objective cd|cd-softplus|cd-logsumexp|dsm] [--mcmc-steps K] [--sampler ...]\n"
             "                 [--buffer-capacity C] [--reinit P] [--checkpoint FILE --checkpoint-every S]\n"
             "                 [--resume FILE] [--log LOG.csv] [--png PREFIX --png-every S] [--seed S]",
    .summary = "Trains an energy-based model with persistent contrastive divergence and Adam (or\n"
               "denoising score matching) on the compiled model, and writes the trained ONNX model.",
    .opts = train_opts,
    .min_positional = 1,
    .max_positional = 1,
    .positional_names = "MODEL.onnx",
};

typedef struct train_job {
    const char *model, *data, *out, *ckpt, *resume, *log, *png;
    int64_t steps, ckpt_every, log_every, png_every;
    ebm_train_config cfg;
    sample_settings s;
    int clamp_given;
    int64_t capacity;       /* --buffer-capacity, 0 = not given */
    char clamp_note[400];   /* said once the run starts */
} train_job;

/* ---- flags ------------------------------------------------------------------------------------- */

static ebm_status flag_int(const cli_args *a, const char *name, long long lo, long long hi, int64_t *out,
                           ebm_error *err)
{
    const char *v = cli_get(&train_cmd, a, name);
    char what[64];
    snprintf(what, sizeof what, "--%s", name);
    long long n;
    if (v && cli_parse_int(what, v, lo, hi, &n, err))
        return EBM_ERR_INVALID;
    if (v)
        *out = n;
    return EBM_OK;
}

/* A number in [lo, hi] (open at lo when lo_open). */
static ebm_status flag_num(const cli_args *a, const char *name, double lo, int lo_open, double hi, double *out,
                           ebm_error *err)
{
    const char *v = cli_get(&train_cmd, a, name);
    if (!v)
        return EBM_OK;
    char what[64];
    snprintf(what, sizeof what, "--%s", name);
    double d;
    if (cli_parse_double(what, v, &d, err))
        return EBM_ERR_INVALID;
    if (!(lo_open ? d > lo : d >= lo) || !(d <= hi))
        return ebm_fail(err, EBM_ERR_INVALID, "%s: '%s' is out of range: expected %s %g%s", what, v,
                        lo_open ? ">" : ">=", lo, hi < DBL_MAX ? " and below the upper bound" : "");
    *out = d;
    return EBM_OK;
}

static ebm_status read_flags(const cli_args *a, train_job *j, ebm_error *err)
{
    memset(j, 0, sizeof *j);
    j->model = a->positional[0];
    j->data = cli_get(&train_cmd, a, "data");
    j->out = cli_get(&train_cmd, a, "output");
    j->ckpt = cli_get(&train_cmd, a, "checkpoint");
    j->resume = cli_get(&train_cmd, a, "resume");
    j->log = cli_get(&train_cmd, a, "log");
    j->png = cli_get(&train_cmd, a, "png");
    if (!j->data)
        return ebm_fail(err, EBM_ERR_INVALID, "missing required flag --data DATA (see 'ebm train --help')");
    if (!j->out)
        return ebm_fail(err, EBM_ERR_INVALID, "missing required flag -o TRAINED.onnx (see 'ebm train --help')");
    j->cfg = ebm_train_defaults();
    j->steps = 1000;
    j->ckpt_every = 100;
    j->log_every = 10;
    j->png_every = 500;
    ebm_train_config *c = &j->cfg;
    const char *v;
    if ((v = cli_get(&train_cmd, a, "objective")) && ebm_objective_parse(v, &c->objective))
        return ebm_fail(err, EBM_ERR_INVALID, "--objective: '%s' is not cd, cd-softplus, cd-logsumexp or dsm", v);
    if ((v = cli_get(&train_cmd, a, "sampler")) && ebm_sampler_parse(v, &c->sampler.kind))
        return ebm_fail(err, EBM_ERR_INVALID, "--sampler: '%s' is not langevin, adaptive or mala", v);
    if ((v = cli_get(&train_cmd, a, "adam"))) {
        char *end;
        double b1 = strtod(v, &end), b2 = *end == ',' ? strtod(end + 1, &end) : NAN;
        if (*end || !(b1 >= 0 && b1 < 1 && b2 >= 0 && b2 < 1))
            return ebm_fail(err, EBM_ERR_INVALID, "--adam: '%s' is not B1,B2 with both in [0, 1)", v);
        c->beta1 = b1;
        c->beta2 = b2;
    }
    int64_t batch = c->batch;
    unsigned long long useed = 0;
    if ((v = cli_get(&train_cmd, a, "seed")) && cli_parse_u64("--seed", v, &useed, err))
        return EBM_ERR_INVALID;
    c->seed = useed;
    if (flag_int(a, "steps", 1, INT32_MAX, &j->steps, err) || flag_int(a, "batch", 1, 1 << 20, &batch, err) ||
        flag_int(a, "checkpoint-every", 1, INT32_MAX, &j->ckpt_every, err) ||
        flag_int(a, "log-every", 1, INT32_MAX, &j->log_every, err) ||
        flag_int(a, "png-every", 1, INT32_MAX, &j->png_every, err) ||
        flag_num(a, "lr", 0, 1, DBL_MAX, &c->lr, err) || flag_num(a, "alpha", 0, 0, DBL_MAX, &c->alpha, err) ||
        flag_num(a, "sigma", 0, 1, DBL_MAX, &c->sigma, err) ||
        flag_num(a, "data-noise", 0, 0, DBL_MAX, &c->data_noise, err) ||
        flag_num(a, "grad-norm-clip", 0, 0, DBL_MAX, &c->grad_norm_clip, err) ||
        flag_num(a, "ema", 0, 0, 0.999999, &c->ema, err) ||
        flag_num(a, "energy-limit", 0, 1, DBL_MAX, &c->energy_limit, err))
        return EBM_ERR_INVALID;
    c->batch = batch;
    c->snapshot_every = (int32_t)(j->ckpt_every < INT32_MAX ? j->ckpt_every : INT32_MAX);
    j->s = sample_settings_default();
    if (sample_settings_flags(&train_cmd, a, "mcmc-steps", &j->s, err))
        return EBM_ERR_INVALID;
    if (flag_int(a, "buffer-capacity", 1, INT32_MAX, &j->capacity, err))
        return EBM_ERR_INVALID;
    j->clamp_given = cli_get(&train_cmd, a, "clamp") != NULL;
    return EBM_OK;
}

/* ---- data ---------------------------------------------------------------------------------------- */

typedef struct train_data {
    ebm_dataset ds;
    const char *toy;
    float lo, hi;       /* value range */
} train_data;

static ebm_status load_data(const train_job *j, train_data *d, ebm_error *err)
{
    memset(d, 0, sizeof *d);
    if (strncmp(j->data, "toy:", 4) == 0) {
        d->toy = j->data + 4;
        float xy[2 * 4096];
        ebm_status st = ebm_toy_sample(d->toy, 4096, j->cfg.seed, xy, err);
        if (st)
            return st;
        d->lo = d->hi = xy[0];
        for (int i = 0; i < 2 * 4096; i++) {
            d->lo = fminf(d->lo, xy[i]);
            d->hi = fmaxf(d->hi, xy[i]);
        }
        return EBM_OK;
    }
    ebm_status st = ebm_data_load(j->data, &d->ds, err);
    if (st)
        return st;
    const int64_t total = d->ds.shape[0] * ebm_dataset_sample_numel(&d->ds);
    d->lo = d->hi = d->ds.data[0];
    for (int64_t i = 0; i < total; i++) {
        d->lo = fminf(d->lo, d->ds.data[i]);
        d->hi = fmaxf(d->hi, d->ds.data[i]);
    }
    return EBM_OK;
}

/* ---- settings from the model ------------------------------------------------------------------ */

static ebm_status resolve(const cli_args *a, train_job *j, const ebm_model *m, const train_data *d, ebm_error *err)
{
    ebm_status st = sample_settings_resolve(&train_cmd, a, "mcmc-steps", j->model, m, &j->s, err);
    if (st)
        return st;
    ebm_train_config *c = &j->cfg;
    const char *meta = ebm_model_meta(m, "ebm.train.alpha");
    if (meta && !cli_get(&train_cmd, a, "alpha")) {
        char what[600];
        snprintf(what, sizeof what, "%s: metadata ebm.train.alpha", j->model);
        if (cli_parse_double(what, meta, &c->alpha, err))
            return EBM_ERR_INVALID;
    }
    c->sampler.lv = j->s.p;
    c->sampler.noise_auto = j->s.noise_auto;
    c->fresh = j->s.init == INIT_NORMAL ? EBM_INIT_NORMAL : EBM_INIT_UNIFORM;
    c->reinit = j->s.reinit;
    c->buffer_capacity = j->s.capacity;
    if (j->capacity > 0)   /* --buffer-capacity wins over ebm.buffer.capacity */
        c->buffer_capacity = j->capacity;
    /* the data's range wins over a clamp (default or metadata) the data leave;
     * an explicit --clamp is kept as given */
    ebm_langevin_params *p = &c->sampler.lv;
    if (!j->clamp_given && p->clamp && (d->lo < p->lo || d->hi > p->hi)) {
        float pad = 0.1f * (d->hi - d->lo);
        snprintf(j->clamp_note, sizeof j->clamp_note, "ebm train: the data range [%g, %g] leaves the sampler's "
                 "clamp [%g, %g]: sampling in [%g, %g] instead (set --clamp to choose)", (double)d->lo,
                 (double)d->hi, (double)p->lo, (double)p->hi, (double)(d->lo - pad), (double)(d->hi + pad));
        p->lo = d->lo - pad;
        p->hi = d->hi + pad;
    }
    return EBM_OK;
}

/* ---- output -------------------------------------------------------------------------------------- */

static ebm_status write_model(const train_job *j, ebm_model *m, const float *params, int64_t steps, ebm_error *err)
{
    const ebm_abi_model *d = ebm_model_desc(m);
    const char **names = calloc((size_t)d->n_params + 1, sizeof *names);
    const float **data = calloc((size_t)d->n_params + 1, sizeof *data);
    int64_t *numel = calloc((size_t)d->n_params + 1, sizeof *numel);
    if (!names || !data || !numel) {
        free(names), free(data), free(numel);
        return ebm_fail(err, EBM_ERR_NOMEM, "%s: out of memory", j->out);
    }
    for (int k = 0; k < d->n_params; k++) {
        names[k] = d->params[k].name;
        data[k] = params + d->params[k].offset;
        numel[k] = d->params[k].numel;
    }
    const ebm_train_config *c = &j->cfg;
    const ebm_langevin_params *p = &c->sampler.lv;
    char v[12][64];
    snprintf(v[0], sizeof v[0], "%g", c->alpha);
    snprintf(v[1], sizeof v[1], "%s", ebm_objective_name(c->objective));
    snprintf(v[2], sizeof v[2], "%lld", (long long)steps);
    snprintf(v[3], sizeof v[3], "%lld", (long long)c->batch);
    snprintf(v[4], sizeof v[4], "%g", c->lr);
    snprintf(v[5], sizeof v[5], "%.9g", (double)p->step_size);
    if (c->sampler.noise_auto)
        snprintf(v[6], sizeof v[6], "auto");
    else
        snprintf(v[6], sizeof v[6], "%.9g", (double)p->noise_scale);
    snprintf(v[7], sizeof v[7], "%.9g", (double)p->grad_clip);
    if (p->clamp)
        snprintf(v[8], sizeof v[8], "%.9g,%.9g", (double)p->lo, (double)p->hi);
    else
        snprintf(v[8], sizeof v[8], "none");
    snprintf(v[9], sizeof v[9], "%d", (int)p->steps);
    snprintf(v[10], sizeof v[10], "%s", ebm_sampler_name(c->sampler.kind));
    snprintf(v[11], sizeof v[11], "%llu", (unsigned long long)c->seed);
    const char *keys[] = {"ebm.train.alpha", "ebm.train.objective", "ebm.train.steps", "ebm.train.batch",
                          "ebm.train.lr", "ebm.sampler.step_size", "ebm.sampler.noise_scale", "ebm.sampler.grad_clip",
                          "ebm.sampler.clamp", "ebm.train.mcmc_steps", "ebm.train.sampler", "ebm.train.seed",
                          "ebm.train.data"};
    const char *values[] = {v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9], v[10], v[11], j->data};
    ir_onnx_update u = {.n_params = d->n_params, .names = names, .data = data, .numel = numel,
                        .n_meta = (int)(sizeof keys / sizeof keys[0]), .keys = keys, .values = values};
    ebm_status st = ir_onnx_update_file(j->model, j->out, &u, err);
    free(names);
    free(data);
    free(numel);
    return st;
}

/* KL(data || model) of a 2-D toy set on a KL_GRID^2 grid over the clamp range. */
typedef struct kl_eval {
    double *p, *logq;
    float *xy, *e;
    double lo, hi;
} kl_eval;

static ebm_status kl_setup(kl_eval *k, const char *toy, double lo, double hi, ebm_error *err)
{
    const size_t cells = (size_t)KL_GRID * KL_GRID;
    k->lo = lo;
    k->hi = hi;
    k->p = malloc(cells * sizeof *k->p);
    k->logq = malloc(cells * sizeof *k->logq);
    k->xy = malloc(2 * cells * sizeof *k->xy);
    k->e = malloc(cells * sizeof *k->e);
    if (!k->p || !k->logq || !k->xy || !k->e)
        return ebm_fail(err, EBM_ERR_NOMEM, "out of memory for the KL grid");
    ebm_status st = ebm_toy_density_grid(toy, lo, hi, KL_GRID, k->p, err);
    return st ? st : ebm_grid_points(lo, hi, KL_GRID, k->xy, err);
}

static double kl_grid_value(kl_eval *k, ebm_ctx *ctx);

static void kl_free(kl_eval *k)
{
    free(k->p), free(k->logq), free(k->xy), free(k->e);
}

/* KL of the parameters to ship (the EMA when enabled): they are swapped into
 * the model's weights for the measurement, between training steps. */
static double kl_measure(kl_eval *k, ebm_ctx *ctx, const ebm_trainer *t)
{
    ebm_model *m = ebm_ctx_model(ctx);
    const int64_t wn = ebm_model_desc(m)->weights_numel;
    float *w = ebm_model_weights(m), *live = NULL;
    const float *ship = ebm_trainer_params(t);
    if (ship != w) {
        if (!(live = malloc((size_t)wn * sizeof(float))))
            return NAN;
        memcpy(live, w, (size_t)wn * sizeof(float));
        memcpy(w, ship, (size_t)wn * sizeof(float));
    }
    double kl = kl_grid_value(k, ctx);
    if (live) {
        memcpy(w, live, (size_t)wn * sizeof(float));
        free(live);
    }
    return kl;
}

static double kl_grid_value(kl_eval *k, ebm_ctx *ctx)
{
    ebm_error err = {0};
    const int64_t cells = (int64_t)KL_GRID * KL_GRID, cap = ebm_ctx_capacity(ctx);
    for (int64_t i = 0; i < cells; i += cap) {
        int64_t n = cells - i < cap ? cells - i : cap;
        if (ebm_energy(ctx, k->xy + 2 * i, n, k->e + i, &err) && err.code != EBM_ERR_NUMERIC)
            return NAN;
    }
    for (int64_t i = 0; i < cells; i++)
        k->logq[i] = -(double)k->e[i];
    double h = (k->hi - k->lo) / KL_GRID, kl = NAN;
    if (ebm_kl_grid(k->p, k->logq, KL_GRID, h * h, &kl, &err))
        return NAN;
    return kl;
}

/* ---- the loop ------------------------------------------------------------------------------------- */

typedef struct loop_state {
    FILE *log;
    kl_eval kl;
    int have_kl;
    ebm_ctx *eval_ctx;
    double last_kl;
    double t0;
} loop_state;

static ebm_status write_png(const train_job *j, ebm_model *m, ebm_trainer *t, const train_data *d, int64_t step,
                            int final, ebm_error *err)
{
    char path[4096];
    if (final)
        snprintf(path, sizeof path, "%s.png", j->png);
    else
        snprintf(path, sizeof path, "%s-%06lld.png", j->png, (long long)step);
    const ebm_langevin_params *p = &j->cfg.sampler.lv;
    float pts[2 * DATA_POINTS_SHOWN];
    sample_png_request q = {.path = path, .x = ebm_trainer_samples(t), .n = j->cfg.batch, .clamp = p->clamp,
                            .lo = p->lo, .hi = p->hi};
    if (d->toy && !ebm_toy_sample(d->toy, DATA_POINTS_SHOWN, j->cfg.seed + 1, pts, err)) {
        q.data = pts;
        q.n_data = DATA_POINTS_SHOWN;
    } else if (!d->toy && ebm_dataset_sample_numel(&d->ds) == 2) {
        q.data = d->ds.data;
        q.n_data = d->ds.shape[0] < DATA_POINTS_SHOWN ? d->ds.shape[0] : DATA_POINTS_SHOWN;
    }
    return sample_png_write(m, &q, err);
}

static void log_row(loop_state *ls, const ebm_train_stats *s, double kl)
{
    if (!ls->log)
        return;
    fprintf(ls->log, "%lld,%.9g,%.9g,%.9g,%.9g,%.9g,%.9g,%.9g,%.9g,%.9g,", (long long)s->step, s->loss, s->cd, s->reg,
            s->real_energy_mean, s->fake_energy_mean, s->grad_norm, (double)s->step_size, s->acceptance, s->lr);
    if (isfinite(kl))
        fprintf(ls->log, "%.6g", kl);
    fprintf(ls->log, ",%.3f\n", cli_now_seconds() - ls->t0);
    fflush(ls->log);
}

static ebm_status train_loop(const train_job *j, ebm_model *m, ebm_trainer *t, const train_data *d, loop_state *ls,
                             ebm_error *err)
{
    cli_progress bar;
    cli_progress_begin(&bar, "ebm train", "steps", j->steps);
    ebm_status st = EBM_OK;
    ebm_train_stats s;
    while (!st && ebm_trainer_steps_done(t) < j->steps) {
        st = ebm_trainer_step(t, &s, err);
        if (st)
            break;
        const int64_t k = s.step;
        if (s.restored) {
            cli_progress_end(&bar);
            fprintf(stderr, "ebm train: diverged at step %lld (non-finite or |energy| > %g): back to step %lld, "
                    "learning rate now %g\n", (long long)k + 1, j->cfg.energy_limit, (long long)s.restored_to,
                    s.lr);
            if (ls->log)
                fprintf(ls->log, "# restored to step %lld after a divergence; lr %g\n", (long long)s.restored_to, s.lr);
            continue;
        }
        double kl = NAN;
        int at_log = k % j->log_every == 0 || k == j->steps;
        if (ls->have_kl && (at_log || k % j->png_every == 0)) {
            kl = kl_measure(&ls->kl, ls->eval_ctx, t);
            ls->last_kl = kl;
        }
        if (at_log)
            log_row(ls, &s, kl);
        if (j->ckpt && (k % j->ckpt_every == 0 || k == j->steps))
            st = ebm_trainer_save(t, j->ckpt, err);
        if (!st && j->png && k % j->png_every == 0 && k < j->steps)
            st = write_png(j, m, t, d, k, 0, err);
        char tail[200];
        int n = snprintf(tail, sizeof tail, "loss %.4g  E+ %.4g  E- %.4g", s.loss, s.real_energy_mean,
                         s.fake_energy_mean);
        if (isfinite(ls->last_kl) && n > 0 && (size_t)n < sizeof tail)
            snprintf(tail + n, sizeof tail - (size_t)n, "  KL %.3f", ls->last_kl);
        cli_progress_update(&bar, k, tail);
    }
    cli_progress_end(&bar);
    return st;
}

static ebm_status train_model(const cli_args *a, train_job *j, ebm_error *err)
{
    train_data d;
    ebm_status st = load_data(j, &d, err);
    if (st)
        return st;
    cache_request req = {.model = j->model, .head_flag = cli_get(&train_cmd, a, "energy-head"),
                         .dsm = j->cfg.objective == EBM_OBJ_DSM, .tile = cache_tile_for_batch(j->cfg.batch)};
    ebm_model *m = NULL;
    ebm_trainer *t = NULL;
    loop_state ls = {.last_kl = NAN, .t0 = cli_now_seconds()};
    if (cli_file_is_elf(j->model))
        st = ebm_fail(err, EBM_ERR_INVALID, "%s: ebm train needs the ONNX model (it writes the trained ONNX file); "
                      "this is a compiled model", j->model);
    if (!st)
        st = cache_open_model(&req, &m, err);
    if (!st)
        st = resolve(a, j, m, &d, err);
    ebm_train_data td = {.dataset = d.toy ? NULL : &d.ds, .toy = d.toy, .label = j->data};
    if (!st)
        st = ebm_trainer_new(m, &td, &j->cfg, &t, err);
    if (!st && j->resume && (st = ebm_trainer_load(t, j->resume, err)) == EBM_OK &&
        ebm_trainer_steps_done(t) > j->steps)
        st = ebm_fail(err, EBM_ERR_INVALID, "%s: the checkpoint is at step %lld, beyond --steps %lld", j->resume,
                      (long long)ebm_trainer_steps_done(t), (long long)j->steps);
    if (!st && j->log) {
        int append = j->resume != NULL;
        ls.log = fopen(j->log, append ? "a" : "w");
        if (!ls.log)
            st = ebm_fail(err, EBM_ERR_IO, "--log %s: cannot open for writing: %s", j->log, strerror(errno));
        else if (!append)
            fprintf(ls.log, "step,loss,cd,reg,real_energy_mean,fake_energy_mean,grad_norm,step_size,acceptance,lr,"
                    "kl,seconds\n");
    }
    if (!st && d.toy) {
        const ebm_langevin_params *p = &j->cfg.sampler.lv;
        double lo = p->clamp ? p->lo : d.lo, hi = p->clamp ? p->hi : d.hi;
        st = kl_setup(&ls.kl, d.toy, lo, hi, err);
        if (!st)
            st = ebm_ctx_new(m, 4096, &ls.eval_ctx, err);
        ls.have_kl = !st;
    }
    if (!st && j->clamp_note[0])
        fprintf(stderr, "%s\n", j->clamp_note);
    double t0 = cli_now_seconds();
    int64_t first = t ? ebm_trainer_steps_done(t) : 0;
    if (!st)
        st = train_loop(j, m, t, &d, &ls, err);
    double secs = cli_now_seconds() - t0;
    if (!st) {
        /* the model file gets the shipped parameters (the EMA when enabled) */
        float *w = ebm_model_weights(m);
        memcpy(w, ebm_trainer_params(t), (size_t)ebm_model_desc(m)->weights_numel * sizeof(float));
        st = write_model(j, m, w, ebm_trainer_steps_done(t), err);
    }
    if (!st && j->png)
        st = write_png(j, m, t, &d, ebm_trainer_steps_done(t), 1, err);
    if (!st) {
        double kl = ls.have_kl ? kl_grid_value(&ls.kl, ls.eval_ctx) : NAN;   /* weights = the shipped ones now */
        char klbuf[80] = "";
        if (ls.have_kl)
            snprintf(klbuf, sizeof klbuf, ": KL(data||model) on the grid %.4g", kl);
        char how[120];
        if (j->cfg.objective == EBM_OBJ_DSM)
            snprintf(how, sizeof how, "denoising score matching (sigma %g)", j->cfg.sigma);
        else
            snprintf(how, sizeof how, "%s, %d %s steps each", ebm_objective_name(j->cfg.objective),
                     (int)j->cfg.sampler.lv.steps, ebm_sampler_name(j->cfg.sampler.kind));
        fprintf(stderr, "ebm train: %lld steps (%lld..%lld) of %s, batch %lld, in %.3g s (%.3g steps/s)%s -> %s\n",
                (long long)(ebm_trainer_steps_done(t) - first), (long long)first + 1,
                (long long)ebm_trainer_steps_done(t), how, (long long)j->cfg.batch, secs,
                secs > 0 ? (double)(ebm_trainer_steps_done(t) - first) / secs : 0.0, klbuf, j->out);
    }
    if (ls.log)
        fclose(ls.log);
    kl_free(&ls.kl);
    ebm_ctx_free(ls.eval_ctx);
    ebm_trainer_free(t);
    if (st && m)
        cli_error_rename(err, ebm_model_path(m), j->model);
    ebm_model_close(m);
    ebm_dataset_free(&d.ds);
    return st;
}

int run_train(const cli_args *a)
{
    ebm_error err = {0};
    train_job j;
    if (read_flags(a, &j, &err))
        return cli_fail("ebm", &err, CLI_EXIT_USAGE);
    return train_model(a, &j, &err) ? cli_fail("ebm", &err, CLI_EXIT_ERROR) : CLI_EXIT_OK;
}
