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
#include <stddef.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "data.h"
#include "ebm.h"
#include "ebm_commands.h"
#include "ebm_dist.h"
#include "ebm_png.h"
#include "model_cache.h"
#include "onnx.h"
#include "progress.h"
#include "sample_png.h"
#include "sampler.h"
#include "sampler_settings.h"
#include "toy.h"
#include "train.h"
#include "train_eval.h"

#define DATA_POINTS_SHOWN 2000

static const cli_opt train_opts[] = {
    {.name = "data", .metavar = "DATA",
     .help = "training data: an IDX file (gzipped or not: MNIST, Fashion-MNIST), .npy, CSV, or toy:NAME "
             "(8gaussians, rings, moons, checkerboard, 2spirals, pinwheel) (required)"},
    {.name = "output", .short_name = 'o', .metavar = "TRAINED.onnx", .help = "the trained model (required)"},
    {.name = "steps", .metavar = "N", .help = "training steps in all (default: ebm.train.steps, else 1000; "
                                              "with --time alone: until the time is up; 0 with --resume: the "
                                              "checkpoint's step, no more)"},
    {.name = "time", .metavar = "SECONDS", .help = "train until SECONDS after the command started (compiling "
                                                   "included), then write the model"},
    {.name = "batch", .metavar = "B", .help = "data samples (and as many model samples) per step (default: "
                                              "ebm.train.batch, else 64)"},
    {.name = "lr", .metavar = "LR", .help = "Adam learning rate > 0 (default: ebm.train.lr, else 1e-4)"},
    {.name = "adam", .metavar = "B1,B2", .help = "Adam's beta1, beta2 (default: ebm.train.adam, else 0,0.999)"},
    {.name = "alpha", .metavar = "A", .help = "L2 energy regularisation (default: ebm.train.alpha, else 0.01)"},
    {.name = "objective", .metavar = "cd|cd-softplus|cd-logsumexp|dsm",
     .help = "the loss (default: ebm.train.objective, else cd; dsm = denoising score matching, no sampling)"},
    {.name = "sigma", .metavar = "S", .help = "dsm noise level (default: ebm.train.sigma, else 0.1)"},
    {.name = "sigma-max", .metavar = "S", .help = "dsm: train at noise levels log-uniform in [sigma, S], the model "
                                                  "at level s being E at temperature s/sigma (default: "
                                                  "ebm.train.sigma_max, else 0 = one level)"},
    {.name = "sigma-power", .metavar = "P", .help = "dsm with --sigma-max: draw the levels as sigma (S/sigma)^(u^P), "
                                                    "u uniform: 1 = log-uniform, P < 1 more of the high levels "
                                                    "(default: ebm.train.sigma_power, else 1)"},
    {.name = "mcmc-steps", .metavar = "K", .help = "sampler steps per training step (default: ebm.train.mcmc_steps, "
                                                   "else ebm.sampler.steps, else 60)"},
    {.name = "sampler", .metavar = "langevin|adaptive|mala", .help = "the sampler (default langevin)"},
    {.name = "step-size", .metavar = "A", .help = "sampler step size (default: ebm.train.step_size, else "
                                                  "ebm.sampler.step_size, else 0.01)"},
    {.name = "noise", .metavar = "S|auto", .help = "sampler noise (default: ebm.train.noise_scale, else "
                                                   "ebm.sampler.noise_scale, else 0.005)"},
    {.name = "grad-clip", .metavar = "C", .help = "sampler gradient clip, 0 = off (default: ebm.train.grad_clip, "
                                                  "else ebm.sampler.grad_clip, else 0.03)"},
    {.name = "clamp", .metavar = "LO,HI|none", .help = "sampler range (default: ebm.sampler.clamp, else [-1,1], "
                                                       "widened to the data's range)"},
    {.name = "temperature", .metavar = "T", .help = "sampler temperature (default 1)"},
    {.name = "anneal", .metavar = "T0", .help = "the trained model's sampler: anneal from temperature T0 (default: "
                                               "ebm.sampler.anneal; dsm with --sigma-max: sigma-max/sigma)"},
    {.name = "anneal-hold", .metavar = "F", .help = "the trained model's sampler: the share of its steps held at T0 "
                                                     "first (default: ebm.sampler.anneal_hold, else 0)"},
    {.name = "denoise", .metavar = "D", .help = "the trained model's sampler: a last noiseless step of D (default: "
                                                "ebm.sampler.denoise; dsm with --sigma-max: sigma^2)"},
    {.name = "buffer-capacity", .metavar = "C", .help = "sample buffer capacity (default: ebm.buffer.capacity, "
                                                        "else 8192)"},
    {.name = "reinit", .metavar = "P", .help = "buffer re-init probability (default: ebm.buffer.reinit_prob, "
                                               "else 0.05)"},
    {.name = "data-noise", .metavar = "S", .help = "noise added to data samples (default: ebm.train.data_noise, "
                                                   "else 0.005)"},
    {.name = "grad-norm-clip", .metavar = "G", .help = "clip the parameter gradient's norm, 0 = off (default: "
                                                       "ebm.train.grad_norm_clip, else 1)"},
    {.name = "ema", .metavar = "D", .help = "keep an EMA of the parameters with decay D and write it (default: "
                                            "ebm.train.ema, else off)"},
    {.name = "energy-limit", .metavar = "E", .help = "divergence guard: |energy| above E counts as a blow-up "
                                                     "(default 1e4)"},
    {.name = "checkpoint", .metavar = "FILE", .help = "write a checkpoint (atomically) every --checkpoint-every "
                                                      "steps and at the end"},
    {.name = "checkpoint-every", .metavar = "S", .help = "steps between checkpoints (default 100)"},
    {.name = "resume", .metavar = "FILE", .help = "continue from a checkpoint (same model and settings); with "
                                                "--steps 0, run no step: write what the checkpoint holds (-o, "
                                                "--buffer-out)"},
    {.name = "buffer-out", .metavar = "FILE.npy",
     .help = "at the end, write the persistent sample buffer (the chains' states, oldest first): .npy float32 "
             "[count, ...input dims], count = min(steps x batch, --buffer-capacity); with --resume CKPT --steps 0, "
             "the buffer the checkpoint holds"},
    {.name = "log", .metavar = "LOG.csv", .help = "CSV log: step, loss, cd, reg, energies, grad norm, step size, "
                                                  "acceptance, lr, kl (toy data) or fid (images), seconds"},
    {.name = "log-every", .metavar = "S", .help = "steps between log rows (default 10)"},
    {.name = "png", .metavar = "PREFIX", .help = "write PREFIX-<step>.png every --png-every steps and PREFIX.png "
                                                 "at the end"},
    {.name = "png-every", .metavar = "S", .help = "steps between pictures (default 500)"},
    {.name = "eval-every", .metavar = "S", .help = "steps between sample-quality measurements: KL on toy data, FID "
                                                   "on 28x28 images (default 500; FID: first at 500, then as "
                                                   "often as keeps it to 5% of the time; 0 = off)"},
    {.name = "eval-samples", .metavar = "N", .help = "fresh chains drawn for each FID measurement (default 1000)"},
    {.name = "features", .metavar = "NET.onnx", .help = "the feature network for FID (default: the built-in "
                                                        "Fashion-MNIST classifier, for 28x28x1 data)"},
    {.name = "seed", .metavar = "S", .help = "random seed (default 0)"},
    CLI_OPT_LAYOUT,
    {.name = "energy-head", .metavar = "HEAD", .help = "output|sum|neg-logsumexp|logsumexp (default: the model's)"},
    CACHE_OPT_TRUST_FILE,
    CACHE_OPT_BACKEND,
    {0},
};

const cli_cmd train_cmd = {
    .prog = "ebm train",
    .usage = "MODEL.onnx --data DATA -o TRAINED.onnx [--steps N] [--batch B] [--lr LR] [--alpha A]\n"
             "                 [--objective cd|cd-softplus|cd-logsumexp|dsm] [--mcmc-steps K] [--sampler ...]\n"
             "                 [--buffer-capacity C] [--reinit P] [--checkpoint FILE --checkpoint-every S]\n"
             "                 [--resume FILE] [--buffer-out FILE.npy] [--log LOG.csv] [--png PREFIX --png-every S]\n"
             "                 [--seed S] [--layout nchw|nhwc]",
    .summary = "Trains an energy-based model with persistent contrastive divergence and Adam (or\n"
               "denoising score matching) on the compiled model, and writes the trained ONNX model.\n"
               "Under mpirun -np R each step's batch splits over the R processes (R must divide\n"
               "B/16); the result is the same bytes as one process's (docs/mpi.md).",
    .opts = train_opts,
    .min_positional = 1,
    .max_positional = 1,
    .positional_names = "MODEL.onnx",
};

#define DEFAULT_STEPS 1000
#define DEFAULT_EVAL_SAMPLES 1000
#define FID_TIME_SHARE 0.05   /* without --eval-every, FID measurements take at most this share of the run */

typedef struct train_job {
    const char *model, *data, *out, *ckpt, *resume, *log, *png, *features, *buffer_out;
    int64_t steps, ckpt_every, log_every, png_every;
    int steps_given;        /* --steps on the command line */
    double time_budget;     /* --time: seconds for the whole command, 0 = none */
    int64_t eval_every;     /* --eval-every: steps between sample-quality measurements, 0 = off */
    int64_t eval_samples;   /* --eval-samples */
    int eval_every_given;
    ebm_train_config cfg;
    sample_settings s;
    ebm_sampler_params draw;   /* what ebm.sampler.* of the trained model says */
    sample_settings draw_init; /* the init of those settings (ebm.sampler.init) */
    int clamp_given;
    int64_t capacity;       /* --buffer-capacity, 0 = not given */
    char clamp_note[400];   /* said once the run starts */
    cli_layout layout;      /* of --data (.npy) and --buffer-out */
} train_job;

/* ---- settings: flag, else the model's ebm.train.* metadata, else the default ------------------ */

typedef enum { TS_INT, TS_NUM, TS_OBJECTIVE, TS_ADAM } ts_kind;

/* One training setting.  The metadata key is what write_model records, so a
 * trained model (or a preset) carries its own recipe. */
typedef struct train_setting {
    const char *flag;   /* long flag, without "--" */
    const char *key;    /* ebm.train.* metadata key */
    ts_kind kind;
    double lo, hi;      /* TS_INT / TS_NUM bounds; lo is open when lo_open */
    int lo_open;
    size_t offset;      /* the field in train_job (int64_t for TS_INT, double for TS_NUM) */
} train_setting;

static const train_setting train_settings[] = {
    {"steps", "ebm.train.steps", TS_INT, 1, INT32_MAX, 0, offsetof(train_job, steps)},
    {"time", NULL, TS_NUM, 0, 1e9, 1, offsetof(train_job, time_budget)},
    {"batch", "ebm.train.batch", TS_INT, 1, 1 << 20, 0, offsetof(train_job, cfg.batch)},
    {"lr", "ebm.train.lr", TS_NUM, 0, DBL_MAX, 1, offsetof(train_job, cfg.lr)},
    {"adam", "ebm.train.adam", TS_ADAM, 0, 0, 0, 0},
    {"alpha", "ebm.train.alpha", TS_NUM, 0, DBL_MAX, 0, offsetof(train_job, cfg.alpha)},
    {"objective", "ebm.train.objective", TS_OBJECTIVE, 0, 0, 0, 0},
    {"sigma", "ebm.train.sigma", TS_NUM, 0, DBL_MAX, 1, offsetof(train_job, cfg.sigma)},
    {"sigma-max", "ebm.train.sigma_max", TS_NUM, 0, DBL_MAX, 0, offsetof(train_job, cfg.sigma_max)},
    {"sigma-power", "ebm.train.sigma_power", TS_NUM, 0, 100, 1, offsetof(train_job, cfg.sigma_power)},
    {"data-noise", "ebm.train.data_noise", TS_NUM, 0, DBL_MAX, 0, offsetof(train_job, cfg.data_noise)},
    {"grad-norm-clip", "ebm.train.grad_norm_clip", TS_NUM, 0, DBL_MAX, 0, offsetof(train_job, cfg.grad_norm_clip)},
    {"ema", "ebm.train.ema", TS_NUM, 0, 0.999999, 0, offsetof(train_job, cfg.ema)},
};
#define N_TRAIN_SETTINGS ((int)(sizeof train_settings / sizeof train_settings[0]))

/* Parses v (from the flag or the metadata, `what` says which) into j. */
static ebm_status setting_parse(const train_setting *ts, const char *what, const char *v, train_job *j,
                                ebm_error *err)
{
    ebm_train_config *c = &j->cfg;
    switch (ts->kind) {
    case TS_OBJECTIVE:
        if (ebm_objective_parse(v, &c->objective))
            return ebm_fail(err, EBM_ERR_INVALID, "%s: '%s' is not cd, cd-softplus, cd-logsumexp or dsm", what, v);
        return EBM_OK;
    case TS_ADAM: {
        char *end;
        double b1 = strtod(v, &end), b2 = *end == ',' ? strtod(end + 1, &end) : NAN;
        if (*end || !(b1 >= 0 && b1 < 1 && b2 >= 0 && b2 < 1))
            return ebm_fail(err, EBM_ERR_INVALID, "%s: '%s' is not B1,B2 with both in [0, 1)", what, v);
        c->beta1 = b1;
        c->beta2 = b2;
        return EBM_OK;
    }
    case TS_INT: {
        long long n;
        if (cli_parse_int(what, v, (long long)ts->lo, (long long)ts->hi, &n, err))
            return EBM_ERR_INVALID;
        *(int64_t *)((char *)j + ts->offset) = n;
        return EBM_OK;
    }
    case TS_NUM: {
        double d;
        if (cli_parse_double(what, v, &d, err))
            return EBM_ERR_INVALID;
        if (!(ts->lo_open ? d > ts->lo : d >= ts->lo) || !(d <= ts->hi)) {
            char hi[48] = "";
            if (ts->hi < DBL_MAX)
                snprintf(hi, sizeof hi, " and <= %.9g", ts->hi);
            return ebm_fail(err, EBM_ERR_INVALID, "%s: '%s' is out of range: expected %s %g%s", what, v,
                            ts->lo_open ? ">" : ">=", ts->lo, hi);
        }
        *(double *)((char *)j + ts->offset) = d;
        return EBM_OK;
    }
    }
    return EBM_OK;
}

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

/* The flags alone (usage errors, before any file is read). */
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
    j->buffer_out = cli_get(&train_cmd, a, "buffer-out");
    if (cli_layout_from_flag(cli_get(&train_cmd, a, "layout"), &j->layout, err))
        return EBM_ERR_INVALID;
    if (!j->data)
        return ebm_fail(err, EBM_ERR_INVALID, "missing required flag --data DATA (see 'ebm train --help')");
    if (!j->out)
        return ebm_fail(err, EBM_ERR_INVALID, "missing required flag -o TRAINED.onnx (see 'ebm train --help')");
    j->cfg = ebm_train_defaults();
    j->steps = DEFAULT_STEPS;
    j->ckpt_every = 100;
    j->log_every = 10;
    j->png_every = 500;
    j->eval_every = 500;
    j->eval_samples = DEFAULT_EVAL_SAMPLES;
    j->features = cli_get(&train_cmd, a, "features");
    j->eval_every_given = cli_get(&train_cmd, a, "eval-every") != NULL;
    ebm_train_config *c = &j->cfg;
    const char *v;
    if ((v = cli_get(&train_cmd, a, "sampler")) && ebm_sampler_parse(v, &c->sampler.kind))
        return ebm_fail(err, EBM_ERR_INVALID, "--sampler: '%s' is not langevin, adaptive or mala", v);
    unsigned long long useed = 0;
    if ((v = cli_get(&train_cmd, a, "seed")) && cli_parse_u64("--seed", v, &useed, err))
        return EBM_ERR_INVALID;
    c->seed = useed;
    for (int k = 0; k < N_TRAIN_SETTINGS; k++) {
        char what[64];
        train_setting ts = train_settings[k];
        if (strcmp(ts.flag, "steps") == 0)
            ts.lo = 0;   /* --steps 0: with --resume, checked below */
        snprintf(what, sizeof what, "--%s", ts.flag);
        if ((v = cli_get(&train_cmd, a, ts.flag)) && setting_parse(&ts, what, v, j, err))
            return EBM_ERR_INVALID;
    }
    j->steps_given = cli_get(&train_cmd, a, "steps") != NULL;
    if (j->steps_given && j->steps == 0 && !j->resume)
        return ebm_fail(err, EBM_ERR_INVALID, "--steps 0 needs --resume CKPT (it writes what the checkpoint holds); "
                        "expected a whole number in 1..%d otherwise", INT32_MAX);

    if (flag_int(a, "checkpoint-every", 1, INT32_MAX, &j->ckpt_every, err) ||
        flag_int(a, "log-every", 1, INT32_MAX, &j->log_every, err) ||
        flag_int(a, "png-every", 1, INT32_MAX, &j->png_every, err) ||
        flag_int(a, "eval-every", 0, INT32_MAX, &j->eval_every, err) ||
        flag_int(a, "eval-samples", 2, 1 << 20, &j->eval_samples, err))
        return EBM_ERR_INVALID;
    j->s = sample_settings_default();
    if (sample_settings_flags(&train_cmd, a, "mcmc-steps", &j->s, err))
        return EBM_ERR_INVALID;
    if (flag_int(a, "buffer-capacity", 1, INT32_MAX, &j->capacity, err))
        return EBM_ERR_INVALID;
    j->clamp_given = cli_get(&train_cmd, a, "clamp") != NULL;
    return EBM_OK;
}

/* The settings no flag gave, from the ONNX model's ebm.train.* metadata
 * (read before compiling: the batch sets the compiled tile). */
static ebm_status read_model_settings(const cli_args *a, train_job *j, const ir_graph *g, ebm_error *err)
{
    for (int k = 0; k < N_TRAIN_SETTINGS; k++) {
        const train_setting *ts = &train_settings[k];
        const char *meta = ts->key ? ir_graph_get_meta(g, ts->key) : NULL;
        if (!meta || cli_get(&train_cmd, a, ts->flag))
            continue;
        char what[600];
        snprintf(what, sizeof what, "%s: metadata %s (override it with --%s)", j->model, ts->key, ts->flag);
        if (setting_parse(ts, what, meta, j, err))
            return EBM_ERR_INVALID;
    }
    /* with --time alone, the clock ends the run, not a step count from the metadata */
    if (j->time_budget > 0 && !j->steps_given)
        j->steps = INT32_MAX;
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
    /* an IDX file stays bytes: every step gathers its rows as floats (ebm_data_gather) */
    ebm_status st = ebm_data_load_flags(j->data, EBM_DATA_KEEP_BYTES, &d->ds, err);
    if (st)
        return st;
    ebm_data_range(&d->ds, &d->lo, &d->hi);
    return EBM_OK;
}

/* ---- settings from the model ------------------------------------------------------------------ */

static ebm_status resolve(const cli_args *a, train_job *j, const ebm_model *m, const train_data *d, ebm_error *err)
{
    ebm_status st = sample_settings_resolve(&train_cmd, a, "mcmc-steps", 1, j->model, m, &j->s, err);
    if (st)
        return st;
    ebm_train_config *c = &j->cfg;
    if (j->buffer_out && c->objective == EBM_OBJ_DSM)
        return ebm_fail(err, EBM_ERR_INVALID, "--buffer-out %s: objective dsm (from --objective or ebm.train.objective "
                        "of %s) samples no chains and keeps no buffer", j->buffer_out, j->model);
    c->sampler.lv = j->s.p;
    c->sampler.noise_auto = j->s.noise_auto;
    c->fresh = j->s.init == INIT_NORMAL ? EBM_INIT_NORMAL : EBM_INIT_UNIFORM;
    c->fresh_sd = j->s.init_sd;
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
    /* the sampling settings the trained model will carry: flags, else the
     * model's ebm.sampler.* (not its training chains'), in the same range */
    sample_settings draw;
    if ((st = sample_settings_resolve(&train_cmd, a, "mcmc-steps", 0, j->model, m, &draw, err)))
        return st;
    j->draw = c->sampler;
    j->draw.lv = draw.p;
    j->draw.noise_auto = draw.noise_auto;
    j->draw.anneal_from = draw.anneal;
    j->draw.anneal_hold = draw.anneal_hold;
    j->draw.denoise = draw.denoise;
    j->draw_init = draw;   /* its fresh states (ebm.sampler.init), for the FID chains and the trained model */
    /* a model trained at many noise levels is drawn by annealing over them and denoised at the lowest */
    if (c->objective == EBM_OBJ_DSM && c->sigma_max > c->sigma) {
        if (!draw.anneal_given)
            j->draw.anneal_from = (float)(c->sigma_max / c->sigma);
        if (!draw.denoise_given)
            j->draw.denoise = (float)(c->sigma * c->sigma);
    }
    /* the training chains (cd) neither anneal nor denoise */
    c->sampler.anneal_from = 0;
    c->sampler.anneal_hold = 0;
    c->sampler.denoise = 0;
    j->draw.lv.clamp = p->clamp;
    j->draw.lv.lo = p->lo;
    j->draw.lv.hi = p->hi;
    return EBM_OK;
}

/* ---- output -------------------------------------------------------------------------------------- */

/* "train-images-idx3-ubyte.gz" of a path; toy:NAME as given. */
static const char *data_label(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash && strncmp(path, "toy:", 4) != 0 ? slash + 1 : path;
}

/* The metadata the trained model gets: keys with their formatted values. */
#define META_MAX 40
#define META_VALUE_MAX 4200
typedef struct meta_list {
    int n, overflow;
    const char *keys[META_MAX];
    const char *values[META_MAX];
    char text[META_MAX][META_VALUE_MAX];
} meta_list;

static void meta_add(meta_list *ml, const char *key, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void meta_add(meta_list *ml, const char *key, const char *fmt, ...)
{
    if (ml->n >= META_MAX) {
        ml->overflow = 1;
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(ml->text[ml->n], META_VALUE_MAX, fmt, ap);
    va_end(ap);
    ml->overflow |= k < 0 || k >= META_VALUE_MAX;
    ml->keys[ml->n] = key;
    ml->values[ml->n] = ml->text[ml->n];
    ml->n++;
}

/* "auto" or the fixed noise scale. */
static void meta_noise(meta_list *ml, const char *key, int noise_auto, const ebm_langevin_params *p)
{
    if (noise_auto)
        meta_add(ml, key, "auto");
    else
        meta_add(ml, key, "%.9g", (double)p->noise_scale);
}

/* The trained model: the same graph with the shipped parameters, and the
 * recipe in ebm.train.* metadata (what the settings table reads back, so
 * training a trained model again continues with the same recipe).  The
 * training chains' settings go to ebm.train.mcmc_steps/step_size/noise_scale/
 * grad_clip; ebm.sampler.* gets `draw`, the settings `ebm sample` should use. */
static ebm_status write_model(const train_job *j, ebm_model *m, const float *params, int64_t steps,
                              const ebm_sampler_params *draw, ebm_error *err)
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
    const ebm_langevin_params *p = &c->sampler.lv, *q = &draw->lv;
    meta_list *mlp = calloc(1, sizeof *mlp);
    if (!mlp) {
        free(names), free(data), free(numel);
        return ebm_fail(err, EBM_ERR_NOMEM, "%s: out of memory", j->out);
    }
    meta_add(mlp, "ebm.train.alpha", "%g", c->alpha);
    meta_add(mlp, "ebm.train.objective", "%s", ebm_objective_name(c->objective));
    meta_add(mlp, "ebm.train.steps", "%lld", (long long)steps);
    meta_add(mlp, "ebm.train.batch", "%lld", (long long)c->batch);
    meta_add(mlp, "ebm.train.lr", "%g", c->lr);
    meta_add(mlp, "ebm.train.adam", "%g,%g", c->beta1, c->beta2);
    meta_add(mlp, "ebm.train.sigma", "%g", c->sigma);
    meta_add(mlp, "ebm.train.sigma_max", "%g", c->sigma_max);
    meta_add(mlp, "ebm.train.sigma_power", "%g", c->sigma_power);
    meta_add(mlp, "ebm.train.data_noise", "%g", c->data_noise);
    meta_add(mlp, "ebm.train.grad_norm_clip", "%g", c->grad_norm_clip);
    meta_add(mlp, "ebm.train.ema", "%g", c->ema);
    meta_add(mlp, "ebm.train.mcmc_steps", "%d", (int)p->steps);
    meta_add(mlp, "ebm.train.step_size", "%.9g", (double)p->step_size);
    meta_noise(mlp, "ebm.train.noise_scale", c->sampler.noise_auto, p);
    meta_add(mlp, "ebm.train.grad_clip", "%.9g", (double)p->grad_clip);
    meta_add(mlp, "ebm.train.sampler", "%s", ebm_sampler_name(c->sampler.kind));
    meta_add(mlp, "ebm.train.seed", "%llu", (unsigned long long)c->seed);
    meta_add(mlp, "ebm.train.data", "%s", j->data);   /* the path as given */
    meta_add(mlp, "ebm.sampler.steps", "%d", (int)q->steps);
    meta_add(mlp, "ebm.sampler.step_size", "%.9g", (double)q->step_size);
    meta_noise(mlp, "ebm.sampler.noise_scale", draw->noise_auto, q);
    meta_add(mlp, "ebm.sampler.grad_clip", "%.9g", (double)q->grad_clip);
    if (q->clamp)
        meta_add(mlp, "ebm.sampler.clamp", "%.9g,%.9g", (double)q->lo, (double)q->hi);
    else
        meta_add(mlp, "ebm.sampler.clamp", "none");
    meta_add(mlp, "ebm.sampler.temperature", "%.9g", (double)q->temperature);
    meta_add(mlp, "ebm.sampler.anneal", "%.7g", (double)draw->anneal_from);
    if (draw->anneal_from > 0)
        meta_add(mlp, "ebm.sampler.anneal_hold", "%.7g", (double)draw->anneal_hold);
    meta_add(mlp, "ebm.sampler.denoise", "%.7g", (double)draw->denoise);
    if (j->draw_init.init == INIT_NORMAL && j->draw_init.init_sd != 1)
        meta_add(mlp, "ebm.sampler.init", "normal:%.7g", (double)j->draw_init.init_sd);
    else
        meta_add(mlp, "ebm.sampler.init", "%s", j->draw_init.init == INIT_NORMAL ? "normal" : "uniform");
    meta_add(mlp, "ebm.buffer.capacity", "%lld", (long long)c->buffer_capacity);
    meta_add(mlp, "ebm.buffer.reinit_prob", "%g", c->reinit);
    if (mlp->overflow) {
        free(names), free(data), free(numel), free(mlp);
        return ebm_fail(err, EBM_ERR_INVALID, "%s: a metadata value does not fit in %d bytes (ebm.train.data is "
                        "the --data path as given)", j->out, META_VALUE_MAX);
    }
    ir_onnx_update u = {.n_params = d->n_params, .names = names, .data = data, .numel = numel,
                        .n_meta = mlp->n, .keys = mlp->keys, .values = mlp->values};
    ebm_status st = ir_onnx_update_file(j->model, j->out, &u, err);
    free(names);
    free(data);
    free(numel);
    free(mlp);
    return st;
}

/* ---- the loop ------------------------------------------------------------------------------------- */

typedef struct loop_state {
    FILE *log;
    const char *log_path;
    train_eval eval;
    train_eval_result last;   /* the latest measurement (value NaN before the first) */
    double t0;                /* the command's start */
    int time_up;              /* the run ended on --time */
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
        q.n_data = d->ds.shape[0] < DATA_POINTS_SHOWN ? d->ds.shape[0] : DATA_POINTS_SHOWN;
        for (int64_t i = 0; i < q.n_data; i++) {   /* the first rows, as floats */
            ebm_status st = ebm_data_gather(&d->ds, &i, 1, pts + 2 * i, err);
            if (st)
                return st;
        }
        q.data = pts;
    }
    return sample_png_write(m, &q, err);
}

/* What was written to the log reaches the file now: a full disk is an error
 * at the row that did not fit, not an empty log after a run that says it
 * succeeded. */
static ebm_status log_flush(loop_state *ls, ebm_error *err)
{
    errno = 0;
    if (fflush(ls->log) == 0 && !ferror(ls->log))
        return EBM_OK;
    return ebm_fail(err, EBM_ERR_IO, "--log %s: write failed: %s", ls->log_path,
                    errno ? strerror(errno) : "I/O error");
}

static ebm_status log_row(loop_state *ls, const ebm_train_stats *s, double q, ebm_error *err)
{
    if (!ls->log)
        return EBM_OK;
    fprintf(ls->log, "%lld,%.9g,%.9g,%.9g,%.9g,%.9g,%.9g,%.9g,%.9g,%.9g,", (long long)s->step, s->loss, s->cd, s->reg,
            s->real_energy_mean, s->fake_energy_mean, s->grad_norm, (double)s->step_size, s->acceptance, s->lr);
    if (isfinite(q))
        fprintf(ls->log, "%.6g", q);
    fprintf(ls->log, ",%.3f\n", base_now_seconds() - ls->t0);
    return log_flush(ls, err);
}

/* The settings the trained model will be drawn with (ebm.sampler.*), which
 * the FID chains use: the measurement is of what `ebm sample` will give. */
static ebm_sampler_params draw_params(const train_job *j)
{
    ebm_sampler_params p = j->draw;
    if (p.noise_auto)
        p.lv.noise_scale = sqrtf(2.0f * p.lv.step_size);
    return p;
}

/* Seconds the final measurement and the model's write may take, kept out of
 * a --time budget: twice the last measurement's, at least one second. */
static double reserve_seconds(const loop_state *ls, double last_eval_secs)
{
    return fmax(1.0, 2 * last_eval_secs);
}

/* Under mpirun, rank 0's v on every rank (a decision made on its clock). */
static int root_says(int v)
{
    float *all = ebm_dist_size() > 1 ? calloc((size_t)ebm_dist_size(), sizeof *all) : NULL;
    ebm_error unused;
    if (!all)
        ebm_dist_abort(CLI_EXIT_ERROR);   /* the others wait for this rank's part */
    all[ebm_dist_rank()] = (float)v;
    if (!ebm_dist_allgather(NULL, all, 1, &unused))
        v = all[0] != 0;
    free(all);
    return v;
}

/* --time: whether the budget is spent (on rank 0's clock: every rank stops at
 * the same step). */
static int time_up(const loop_state *ls, double eval_secs, double budget)
{
    int up = base_now_seconds() - ls->t0 + reserve_seconds(ls, eval_secs) >= budget;
    return ebm_dist_size() > 1 ? root_says(up) : up;
}

static ebm_status train_loop(const train_job *j, ebm_model *m, ebm_trainer *t, const train_data *d, loop_state *ls,
                             ebm_error *err)
{
    cli_progress bar;
    const int root = ebm_dist_rank() == 0;   /* under mpirun, rank 0 logs, measures and writes */
    cli_progress_begin(&bar, "ebm train", "steps", j->steps);
    if (!root)
        bar.active = 0;
    if (j->time_budget > 0)
        cli_progress_set_budget(&bar, ls->t0, j->time_budget);
    ebm_status st = EBM_OK;
    ebm_train_stats s;
    const ebm_sampler_params sp = draw_params(j);
    double eval_secs = 0, last_eval_end = 0;
    while (!st && ebm_trainer_steps_done(t) < j->steps) {
        if (j->time_budget > 0 && time_up(ls, eval_secs, j->time_budget)) {
            ls->time_up = 1;
            break;
        }
        st = ebm_trainer_step(t, &s, err);
        if (st == EBM_ERR_NUMERIC && ebm_dist_size() > 1)
            ebm_dist_set_settled(!root);   /* the divergence guard gave up on every rank at this step */
        if (st)
            break;
        const int64_t k = s.step;
        if (s.restored && !root)
            continue;
        if (s.restored) {
            cli_progress_end(&bar);
            fprintf(stderr, "ebm train: diverged at step %lld (non-finite or |energy| > %g): back to step %lld, "
                    "learning rate now %g\n", (long long)k + 1, j->cfg.energy_limit, (long long)s.restored_to,
                    s.lr);
            if (ls->log) {
                fprintf(ls->log, "# restored to step %lld after a divergence; lr %g\n", (long long)s.restored_to, s.lr);
                st = log_flush(ls, err);
            }
            continue;
        }
        double q = NAN;
        int at_log = k % j->log_every == 0 || k == j->steps;
        /* KL is cheap (one energy pass over a grid): at every log row.  FID draws chains: every
         * --eval-every steps when given, else first at the default step and then whenever the
         * time since the last one is FID_TIME_SHARE^-1 - 1 times what it took (<= 5% of the run) */
        int at_eval = j->eval_every > 0 && k % j->eval_every == 0;
        if (ls->eval.kind == EVAL_FID && !j->eval_every_given && j->eval_every > 0 && eval_secs > 0)
            at_eval = base_now_seconds() - last_eval_end >= eval_secs * (1 / FID_TIME_SHARE - 1);
        if (ebm_dist_size() > 1 && ls->eval.kind == EVAL_FID)
            at_eval = root_says(at_eval);   /* every rank runs its share of the FID chains */
        if ((ls->eval.kind == EVAL_TOY_KL && (at_log || at_eval)) || (ls->eval.kind == EVAL_FID && at_eval)) {
            double e0 = base_now_seconds();
            ls->last = train_eval_measure(&ls->eval, ebm_trainer_params(t), &sp);
            last_eval_end = base_now_seconds();
            eval_secs = last_eval_end - e0;
            q = ls->last.value;
            if (ls->eval.kind == EVAL_FID && !bar.active && root) {
                fprintf(stderr, "ebm train: step %lld, %.0f s: FID %.1f", (long long)k, base_now_seconds() - ls->t0,
                        q);
                if (ls->last.covered >= 0)
                    fprintf(stderr, ", %d/%lld classes", ls->last.covered, (long long)ls->last.classes);
                fprintf(stderr, "\n");
            }
        }
        const int at_ckpt = j->ckpt && (k % j->ckpt_every == 0 || k == j->steps),
                  at_png = j->png && k % j->png_every == 0 && k < j->steps;
        if ((at_ckpt || at_png) && (st = ebm_trainer_gather(t, err)))   /* the buffer's shards to rank 0 */
            break;
        if (!root)
            continue;
        if (at_log)
            st = log_row(ls, &s, q, err);
        if (!st && at_ckpt)
            st = ebm_trainer_save(t, j->ckpt, err);
        if (!st && at_png)
            st = write_png(j, m, t, d, k, 0, err);
        char tail[200];
        int n = isnan(s.real_energy_mean)   /* dsm computes no energy */
                    ? snprintf(tail, sizeof tail, "loss %.4g", s.loss)
                    : snprintf(tail, sizeof tail, "loss %.4g  E+ %.4g  E- %.4g", s.loss, s.real_energy_mean,
                               s.fake_energy_mean);
        if (isfinite(ls->last.value) && n > 0 && (size_t)n < sizeof tail)
            snprintf(tail + n, sizeof tail - (size_t)n, "  %s %.3g", train_eval_name(&ls->eval), ls->last.value);
        cli_progress_update(&bar, k, tail);
    }
    cli_progress_end(&bar);
    return st;
}

/* The settings the model's own metadata gives (read before compiling). */
static ebm_status model_settings(const cli_args *a, train_job *j, ebm_error *err)
{
    if (cli_file_is_elf(j->model))
        return ebm_fail(err, EBM_ERR_INVALID, "%s: ebm train needs the ONNX model (it writes the trained ONNX file); "
                        "this is a compiled model", j->model);
    ir_graph *g = NULL;
    ebm_status st = cli_load_model(j->model, &g, err);
    if (!st)
        st = read_model_settings(a, j, g, err);
    ir_graph_free(g);
    return st;
}

static void print_summary(const train_job *j, const loop_state *ls, const train_eval_result *final, int64_t first,
                          int64_t done, double secs)
{
    char q[160] = "";
    if (ls->eval.kind == EVAL_TOY_KL)
        snprintf(q, sizeof q, ": KL(data||model) on the grid %.4g", final->value);
    else if (ls->eval.kind == EVAL_FID && final->covered >= 0)
        snprintf(q, sizeof q, ": FID %.1f of %lld fresh chains, %d/%lld classes", final->value,
                 (long long)ls->eval.n, final->covered, (long long)final->classes);
    else if (ls->eval.kind == EVAL_FID)
        snprintf(q, sizeof q, ": FID %.1f of %lld fresh chains", final->value, (long long)ls->eval.n);
    char how[120];
    const ebm_train_config *c = &j->cfg;
    if (c->objective == EBM_OBJ_DSM && c->sigma_max > c->sigma) {
        char draw[48] = "log-uniform";
        if (c->sigma_power != 1)
            snprintf(draw, sizeof draw, "drawn with power %g", c->sigma_power);
        snprintf(how, sizeof how, "denoising score matching (noise levels %g to %g, %s)", c->sigma, c->sigma_max,
                 draw);
    }
    else if (c->objective == EBM_OBJ_DSM)
        snprintf(how, sizeof how, "denoising score matching (sigma %g)", c->sigma);
    else
        snprintf(how, sizeof how, "%s, %d %s steps each", ebm_objective_name(j->cfg.objective),
                 (int)j->cfg.sampler.lv.steps, ebm_sampler_name(j->cfg.sampler.kind));
    if (done == first && j->resume) {
        fprintf(stderr, "ebm train: no step after the checkpoint's step %lld (%s)%s -> %s\n", (long long)done,
                j->resume, q, j->out);
        return;
    }
    fprintf(stderr, "ebm train: %lld steps (%lld..%lld) of %s on %s, batch %lld, in %.3g s (%.3g steps/s%s)%s -> %s\n",
            (long long)(done - first), (long long)first + 1, (long long)done, how, data_label(j->data),
            (long long)j->cfg.batch, secs, secs > 0 ? (double)(done - first) / secs : 0.0,
            ls->time_up ? "; --time reached" : "", q, j->out);
}

/* --layout nhwc: the data [N, H, W, C] to the model's [N, C, H, W] (a
 * one-channel [N, H, W], as IDX files hold, is that already). */
static ebm_status data_layout(const train_job *j, const ebm_model *m, train_data *d, ebm_error *err)
{
    ir_shape want = cli_desc_input_shape(ebm_model_desc(m));
    ebm_status st = cli_layout_check_model(j->layout, j->model, &want, err);
    if (st)
        return st;
    if (d->toy || (want.rank == 4 && want.d[1] == 1 && d->ds.rank == 3))
        return EBM_OK;
    if (j->layout == CLI_LAYOUT_NCHW) {
        const int64_t *s = d->ds.shape;
        if (want.rank == 4 && want.d[1] != 1 && d->ds.rank == 4 && s[1] == want.d[2] && s[2] == want.d[3] &&
            s[3] == want.d[1])
            return ebm_fail(err, EBM_ERR_SHAPE, "--data %s: shape [%lld,%lld,%lld,%lld] is channel-last "
                            "[N,H,W,C]; the input of %s is [N,%lld,%lld,%lld]: pass --layout nhwc", j->data,
                            (long long)s[0], (long long)s[1], (long long)s[2], (long long)s[3], j->model,
                            (long long)want.d[1], (long long)want.d[2], (long long)want.d[3]);
        return EBM_OK;
    }
    if ((st = ebm_data_to_floats(&d->ds, err)))   /* the layout change reads the whole array */
        return st;
    ebm_array x = {.dtype = EBM_NPY_F32, .rank = d->ds.rank, .data = d->ds.data};
    memcpy(x.shape, d->ds.shape, sizeof x.shape[0] * (size_t)(d->ds.rank < EBM_NPY_MAX_RANK ? d->ds.rank
                                                                                                 : EBM_NPY_MAX_RANK));
    st = cli_layout_read(j->layout, j->model, &want, j->data, &x, err);
    if (!st) {
        d->ds.data = x.data;
        memcpy(d->ds.shape, x.shape, sizeof x.shape[0] * 4);
    }
    return st;
}

/* --buffer-out: the persistent buffer as [count, ...input dims], oldest first. */
static ebm_status write_buffer(const train_job *j, ebm_model *m, ebm_trainer *t, ebm_error *err)
{
    const ebm_abi_model *d = ebm_model_desc(m);
    int64_t dims[EBM_NPY_MAX_RANK];
    for (int i = 1; i < d->input_rank; i++)
        dims[i - 1] = d->input_shape[i];
    const ebm_buffer *b = ebm_trainer_buffer(t);
    const int64_t count = ebm_buffer_count(b), per = ebm_model_sample_numel(m);
    float *all = malloc((size_t)(count * per + 1) * sizeof(float));
    if (!all)
        return ebm_fail(err, EBM_ERR_NOMEM, "--buffer-out %s: out of memory for %lld samples", j->buffer_out,
                        (long long)count);
    for (int64_t i = 0; i < count; i++)
        memcpy(all + i * per, ebm_buffer_sample(b, i), (size_t)per * sizeof(float));
    ebm_status st = cli_layout_write(j->layout, j->buffer_out, 0, 0, NULL, count, d->input_rank - 1, dims, all, err);
    free(all);
    if (st)
        ebm_error_prefix(err, "--buffer-out");
    return st;
}

static ebm_status train_model(const cli_args *a, train_job *j, double t_start, ebm_error *err)
{
    const int rank = ebm_dist_rank(), size = ebm_dist_size();
    train_data d;
    memset(&d, 0, sizeof d);
    ebm_status st = model_settings(a, j, err);
    if (!st)
        st = load_data(j, &d, err);
    cache_request req = {.model = j->model, .head_flag = cli_get(&train_cmd, a, "energy-head"),
                         .dsm = j->cfg.objective == EBM_OBJ_DSM, .tile = cache_tile_for_batch(j->cfg.batch),
                         .trust_file = cli_get(&train_cmd, a, "trust-file") != NULL,
                         .backend = cli_get(&train_cmd, a, "backend")};
    ebm_model *m = NULL;
    ebm_trainer *t = NULL;
    loop_state ls = {.last = {.value = NAN, .covered = -1}, .t0 = t_start};
    /* rank 0 compiles; the other ranks then find the model in the cache */
    if (!st && rank == 0)
        st = cache_open_model(&req, &m, err);
    st = ebm_dist_settle(st, err);
    if (!st && rank > 0)
        st = cache_open_model(&req, &m, err);
    if (!st)
        st = data_layout(j, m, &d, err);
    if (!st)
        st = resolve(a, j, m, &d, err);
    ebm_train_data td = {.dataset = d.toy ? NULL : &d.ds, .toy = d.toy, .label = j->data};
    if (!st)
        st = ebm_trainer_new(m, &td, &j->cfg, &t, err);
    if (!st && size > 1) {
        const ebm_train_comm comm = {.rank = rank, .size = size, .allgather = ebm_dist_allgather,
                                     .alltoallv = ebm_dist_alltoallv};
        st = ebm_trainer_set_comm(t, &comm, err);
    }
    if (!st && j->resume && (st = ebm_trainer_load(t, j->resume, err)) == EBM_OK && j->steps_given && j->steps == 0)
        j->steps = ebm_trainer_steps_done(t);   /* --steps 0: no step after the checkpoint's */
    if (!st && j->resume && ebm_trainer_steps_done(t) > j->steps)
        st = ebm_fail(err, EBM_ERR_INVALID, "%s: the checkpoint is at step %lld, beyond --steps %lld", j->resume,
                      (long long)ebm_trainer_steps_done(t), (long long)j->steps);
    if (!st && j->log && rank == 0) {
        int append = j->resume != NULL;
        ls.log = fopen(j->log, append ? "a" : "w");
        ls.log_path = j->log;
        if (!ls.log) {
            st = ebm_fail(err, EBM_ERR_IO, "--log %s: cannot open for writing: %s", j->log, strerror(errno));
        } else if (!append) {
            fprintf(ls.log, "step,loss,cd,reg,real_energy_mean,fake_energy_mean,grad_norm,step_size,acceptance,lr,"
                    "%s,seconds\n", d.toy ? "kl" : "fid");
            st = log_flush(&ls, err);   /* a log that cannot be written fails the run before it starts */
        }
    }
    /* the FID measure on every rank (each computes its share of the features: a collective, so the
     * ranks first agree that all got this far), the toy KL on rank 0 */
    st = ebm_dist_settle(st, err);
    if (!st && (d.toy ? rank == 0 : j->eval_every > 0)) {
        const ebm_langevin_params *p = &j->cfg.sampler.lv;
        double lo = p->clamp ? p->lo : d.lo, hi = p->clamp ? p->hi : d.hi;
        char why[200];
        st = train_eval_open(&ls.eval, m, d.toy, &d.ds, j->data, j->features, j->eval_samples, lo, hi,
                             &j->draw_init, why, sizeof why, err);
        if (!st && why[0] && j->eval_every_given && rank == 0)
            fprintf(stderr, "ebm train: %s\n", why);
    }
    st = ebm_dist_settle(st, err);
    if (!st && j->clamp_note[0] && rank == 0)
        fprintf(stderr, "%s\n", j->clamp_note);
    double t0 = base_now_seconds();
    int64_t first = t ? ebm_trainer_steps_done(t) : 0;
    if (!st)
        st = train_loop(j, m, t, &d, &ls, err);
    double secs = base_now_seconds() - t0;
    if (!st && rank == 0 && ls.time_up && ebm_trainer_steps_done(t) == first)
        fprintf(stderr, "ebm train: --time %g ran out before the first step (starting took %.1f s): the model is "
                "written with its parameters unchanged\n", j->time_budget, t0 - t_start);
    train_eval_result final = {.value = NAN, .covered = -1};
    if (!st && (j->png || j->buffer_out))
        st = ebm_trainer_gather(t, err);   /* the buffer's shards and the last samples to rank 0 */
    if (!st) {
        /* the model file gets the shipped parameters (the EMA when enabled); under mpirun
         * every rank runs its share of the final measurement's chains, rank 0 writes */
        float *w = ebm_model_weights(m);
        memcpy(w, ebm_trainer_params(t), (size_t)ebm_model_desc(m)->weights_numel * sizeof(float));
        const ebm_sampler_params sp = draw_params(j);
        final = train_eval_measure(&ls.eval, w, &sp);
        if (rank == 0)
            st = write_model(j, m, w, ebm_trainer_steps_done(t), &j->draw, err);
    }
    if (!st && rank == 0 && j->png)
        st = write_png(j, m, t, &d, ebm_trainer_steps_done(t), 1, err);
    if (!st && rank == 0 && j->buffer_out)
        st = write_buffer(j, m, t, err);
    if (!st && rank == 0)
        print_summary(j, &ls, &final, first, ebm_trainer_steps_done(t), secs);
    if (ls.log && fclose(ls.log) != 0 && !st)
        st = ebm_fail(err, EBM_ERR_IO, "--log %s: write failed on close: %s", j->log, strerror(errno));
    train_eval_close(&ls.eval);
    ebm_trainer_free(t);
    if (st && m)
        cli_error_rename(err, ebm_model_path(m), j->model);
    ebm_model_close(m);
    ebm_dataset_free(&d.ds);
    return st;
}

int run_train(const cli_args *a)
{
    const double t_start = base_now_seconds();
    ebm_error err = {0};
    train_job j;
    if (read_flags(a, &j, &err)) {
        ebm_dist_set_settled(ebm_dist_rank() != 0);   /* the same flags on every rank: rank 0 says it */
        return ebm_dist_rank() == 0 ? cli_fail("ebm", &err, CLI_EXIT_USAGE) : CLI_EXIT_USAGE;
    }
    if (!train_model(a, &j, t_start, &err))
        return CLI_EXIT_OK;
    return ebm_dist_quiet() ? CLI_EXIT_ERROR : cli_fail("ebm", &err, CLI_EXIT_ERROR);
}
