/* ebm_sample.c — `ebm sample`: the samplers of libebm (runtime/sampler.h:
 * Langevin on the compiled fused program, adaptive Langevin, MALA), chains
 * started uniform, normal, from a file, or from a persistent sample buffer
 * (runtime/buffer.h), with a progress line on a terminal and a one-line
 * summary.
 *
 * Each sampler setting comes from its flag, else from the model's
 * ebm.sampler.* metadata (the keys are listed in ebm.c's header), else from
 * DESIGN.md's defaults.  Flags are checked before the model is opened (a
 * usage error, exit 2); metadata values when it is (exit 1, naming the key).
 */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "buffer.h"
#include "clock.h"
#include "ebm_dist.h"
#include "ebm.h"
#include "ebm_commands.h"
#include "model_cache.h"
#include "npy.h"
#include "progress.h"
#include "sample_png.h"
#include "sampler.h"
#include "sampler_settings.h"

#define DEFAULT_BUFFER_CAPACITY 8192
#define DEFAULT_REINIT 0.05

static const cli_opt sample_opts[] = {
    {.name = "output", .short_name = 'o', .metavar = "OUT.npy",
     .help = "the samples, .npy float32 [N, ...input dims]; with --trajectory [1 + K/M, N, ...] (required)"},
    {.name = "samples", .short_name = 'n', .metavar = "N",
     .help = "number of chains (default with --init FILE: the file's N)"},
    {.name = "sampler", .metavar = "langevin|adaptive|mala",
     .help = "langevin: docs/DESIGN.md's update; adaptive: step size adapted toward 57.4% of samples lowering their "
             "energy; mala: Metropolis-adjusted, exact for exp(-E/T), noise sqrt(2 alpha) (default langevin)"},
    {.name = "steps", .metavar = "K", .help = "sampler steps (default: ebm.sampler.steps, else 60)"},
    {.name = "burn-in", .metavar = "B", .help = "mala: the first B of the K steps adapt the step size toward 57.4% "
                                                "acceptance, then it is frozen (default K/2)"},
    {.name = "step-size", .metavar = "A", .help = "step size alpha > 0 (default: ebm.sampler.step_size, else 0.01)"},
    {.name = "noise", .metavar = "S|auto",
     .help = "noise scale sigma >= 0, auto = sqrt(2 alpha) (default: ebm.sampler.noise_scale, else 0.005); "
             "a fixed sigma samples at the temperature T sigma^2 / (2 alpha) (the defaults: T/800), auto at T"},
    {.name = "grad-clip", .metavar = "C",
     .help = "clip dE/dx to [-C, C] per element before dividing by T, 0 = off (default: ebm.sampler.grad_clip, "
             "else 0.03): the chains then sample E_c, E with its gradient clipped, at every T"},
    {.name = "clamp", .metavar = "LO,HI|none",
     .help = "keep samples in [LO, HI] (default: ebm.sampler.clamp, else -1,1)"},
    {.name = "temperature", .metavar = "T",
     .help = "T > 0 (default: ebm.sampler.temperature, else 1): the update is x - A clip(dE/dx, C)/T + S eps, "
             "clamped; it samples exp(-E(x)/T) exactly with mala, and with langevin/adaptive when --noise auto, "
             "--grad-clip 0 and --clamp none (variance T s^2 on E = |x|^2/(2 s^2)); otherwise exp(-E_c(x)/T') "
             "with T' = T S^2/(2 A), inside the clamp box"},
    {.name = "anneal", .metavar = "T0", .help = "langevin: anneal the temperature geometrically from T0 at the first "
                                               "step to --temperature at the last, the step size following T^2 "
                                               "(default: ebm.sampler.anneal, else 0 = off)"},
    {.name = "anneal-hold", .metavar = "F", .help = "annealed: spend the first share F of the steps at T0 before "
                                                     "the temperature falls (default: ebm.sampler.anneal_hold, "
                                                     "else 0)"},
    {.name = "denoise", .metavar = "D", .help = "after the last step, one noiseless step x - D dE/dx (Tweedie's "
                                                "denoiser when D = sigma^2 of the training noise; default: "
                                                "ebm.sampler.denoise, else 0 = off)"},
    {.name = "seed", .metavar = "S", .help = "random seed (default 0); a sample depends only on the seed and "
                                             "its index, not on N"},
    {.name = "init", .metavar = "uniform|normal[:S]|FILE.npy",
     .help = "initial states: uniform in the clamp range ([-1,1] without clamp), normal (standard deviation S, "
             "default 1), or a file "
             "(default: ebm.sampler.init, else uniform)"},
    {.name = "buffer", .metavar = "FILE.npy",
     .help = "start the chains from a persistent sample buffer (fresh states with probability --reinit; an "
             "absent file starts empty), then append the samples and save it back atomically"},
    {.name = "reinit", .metavar = "P", .help = "with --buffer: probability of a fresh state per chain (default: "
                                               "ebm.buffer.reinit_prob, else 0.05)"},
    {.name = "buffer-capacity", .metavar = "C",
     .help = "with --buffer: the most samples it keeps, the oldest evicted first (default: ebm.buffer.capacity, "
             "else 8192); a larger file keeps its newest C"},
    {.name = "png", .metavar = "GRID.png",
     .help = "also draw the samples: a grid of images (1 or 3 channels), or for 2-D inputs a scatter plot over "
             "the energy's map"},
    {.name = "trajectory", .metavar = "M", .help = "write every M-th state to OUT: the initial state, then the "
                                                   "states after M, 2M, ... steps"},
    {.name = "energy", .metavar = "FILE", .help = "also write the final energies, .npy float32 [N]"},
    CLI_OPT_LAYOUT,
    {.name = "energy-head", .metavar = "HEAD",
     .help = "when compiling an ONNX MODEL: output|sum|neg-logsumexp|logsumexp (default: its "
             "ebm.energy_head metadata, else output)"},
    CACHE_OPT_TRUST_FILE,
    CACHE_OPT_BACKEND,
    {0},
};

const cli_cmd sample_cmd = {
    .prog = "ebm sample",
    .usage = "MODEL -n N [--sampler langevin|adaptive|mala] [--steps K] [--burn-in B]\n"
             "                  [--step-size A] [--noise S|auto] [--grad-clip C] [--clamp LO,HI|none]\n"
             "                  [--temperature T] [--seed S] [--init uniform|normal[:S]|FILE.npy]\n"
             "                  [--buffer FILE.npy [--reinit P] [--buffer-capacity C]] [--trajectory M]\n"
             "                  [--energy FILE] [--png GRID.png] [--layout nchw|nhwc] -o OUT.npy",
    .summary = "Draws samples from exp(-E(x)/T) with Langevin dynamics, adaptive Langevin or MALA,\n"
               "run by the compiled model (an ONNX MODEL is compiled once into the cache folder).\n"
               "Under mpirun -np R the chains split over the R processes; rank 0 writes the same\n"
               "files as one process (docs/mpi.md).",
    .opts = sample_opts,
    .min_positional = 1,
    .max_positional = 1,
    .positional_names = "MODEL",
};

/* ---- settings: flag, else metadata, else default ---------------------------------------- */



/* what: "--steps", or "model.so: metadata ebm.sampler.steps (...)"; is_flag: a file may be named. */
typedef ebm_status (*setting_parser)(const char *what, int is_flag, const char *value, sample_settings *s,
                                     ebm_error *err);

/* A number for a float parameter: > 0, or >= 0 with allow_zero. */
static ebm_status parse_float(const char *what, const char *value, int allow_zero, float *out, ebm_error *err)
{
    double v;
    if (cli_parse_double(what, value, &v, err))
        return EBM_ERR_INVALID;
    if (!(v > 0 || (allow_zero && v == 0)) || v > FLT_MAX || (v > 0 && (float)v == 0))
        return ebm_fail(err, EBM_ERR_INVALID, "%s: '%s' is not a number %s representable as a float", what, value,
                        allow_zero ? ">= 0" : "> 0");
    *out = (float)v;
    return EBM_OK;
}

static ebm_status parse_steps(const char *what, int is_flag, const char *value, sample_settings *s,
                              ebm_error *err)
{
    long long v;
    if (cli_parse_int(what, value, 0, INT32_MAX, &v, err))
        return EBM_ERR_INVALID;
    s->p.steps = (int32_t)v;
    return EBM_OK;
}

static ebm_status parse_step_size(const char *what, int is_flag, const char *value, sample_settings *s,
                                  ebm_error *err)
{
    return parse_float(what, value, 0, &s->p.step_size, err);
}

static ebm_status parse_noise(const char *what, int is_flag, const char *value, sample_settings *s,
                              ebm_error *err)
{
    s->noise_auto = strcmp(value, "auto") == 0;
    return s->noise_auto ? EBM_OK : parse_float(what, value, 1, &s->p.noise_scale, err);
}

static ebm_status parse_grad_clip(const char *what, int is_flag, const char *value, sample_settings *s,
                                  ebm_error *err)
{
    return parse_float(what, value, 1, &s->p.grad_clip, err);
}

static ebm_status parse_temperature(const char *what, int is_flag, const char *value, sample_settings *s,
                                    ebm_error *err)
{
    return parse_float(what, value, 0, &s->p.temperature, err);
}

static ebm_status parse_anneal(const char *what, int is_flag, const char *value, sample_settings *s,
                               ebm_error *err)
{
    s->anneal_given = 1;
    return parse_float(what, value, 1, &s->anneal, err);
}

static ebm_status parse_anneal_hold(const char *what, int is_flag, const char *value, sample_settings *s,
                                    ebm_error *err)
{
    double v;
    if (cli_parse_double(what, value, &v, err))
        return EBM_ERR_INVALID;
    if (!(v >= 0 && v < 1))
        return ebm_fail(err, EBM_ERR_INVALID, "%s: '%s': expected the share of the steps held at the first "
                        "temperature, in [0, 1)", what, value);
    s->anneal_hold = (float)v;
    return EBM_OK;
}

static ebm_status parse_denoise(const char *what, int is_flag, const char *value, sample_settings *s,
                                ebm_error *err)
{
    s->denoise_given = 1;
    return parse_float(what, value, 1, &s->denoise, err);
}

static ebm_status parse_bound(const char *what, const char *text, float *out, ebm_error *err)
{
    double v;
    if (cli_parse_double(what, text, &v, err) || fabs(v) > FLT_MAX)
        return ebm_fail(err, EBM_ERR_INVALID, "%s: '%s' is not a finite number", what, text);
    *out = (float)v;
    return EBM_OK;
}

static ebm_status parse_clamp(const char *what, int is_flag, const char *value, sample_settings *s,
                              ebm_error *err)
{
    if (strcmp(value, "none") == 0) {
        s->p.clamp = 0;
        return EBM_OK;
    }
    const char *comma = strchr(value, ',');
    char lo[64];
    if (!comma || (size_t)(comma - value) >= sizeof lo)
        return ebm_fail(err, EBM_ERR_INVALID, "%s: '%s' is not LO,HI (e.g. -1,1) or none", what, value);
    memcpy(lo, value, (size_t)(comma - value));
    lo[comma - value] = '\0';
    if (parse_bound(what, lo, &s->p.lo, err) || parse_bound(what, comma + 1, &s->p.hi, err))
        return EBM_ERR_INVALID;
    if (s->p.lo > s->p.hi)
        return ebm_fail(err, EBM_ERR_INVALID, "%s: '%s': LO is above HI", what, value);
    s->p.clamp = 1;
    return EBM_OK;
}

static ebm_status parse_reinit(const char *what, int is_flag, const char *value, sample_settings *s,
                               ebm_error *err)
{
    if (cli_parse_double(what, value, &s->reinit, err))
        return EBM_ERR_INVALID;
    if (!(s->reinit >= 0 && s->reinit <= 1))
        return ebm_fail(err, EBM_ERR_INVALID, "%s: '%s' is not a probability in [0, 1]", what, value);
    return EBM_OK;
}

static ebm_status parse_capacity(const char *what, int is_flag, const char *value, sample_settings *s,
                                 ebm_error *err)
{
    long long v;
    if (cli_parse_int(what, value, 1, INT32_MAX, &v, err))
        return EBM_ERR_INVALID;
    s->capacity = v;
    return EBM_OK;
}

static ebm_status parse_init(const char *what, int is_flag, const char *value, sample_settings *s,
                             ebm_error *err)
{
    s->init_file = NULL;
    s->init_sd = 1;
    if (strcmp(value, "uniform") == 0) {
        s->init = INIT_UNIFORM;
    } else if (strcmp(value, "normal") == 0) {
        s->init = INIT_NORMAL;
    } else if (strncmp(value, "normal:", 7) == 0) {
        double sd;
        if (cli_parse_double(what, value + 7, &sd, err))
            return EBM_ERR_INVALID;
        if (!(sd > 0 && sd <= 1e6))
            return ebm_fail(err, EBM_ERR_INVALID, "%s: '%s': the standard deviation after normal: must be in "
                            "(0, 1e6]", what, value);
        s->init = INIT_NORMAL;
        s->init_sd = (float)sd;
    } else if (is_flag) {
        s->init = INIT_FILE, s->init_file = value;
    } else {
        return ebm_fail(err, EBM_ERR_INVALID, "%s: '%s' is not uniform, normal or normal:S", what, value);
    }
    return EBM_OK;
}

typedef struct setting {
    const char *flag;      /* long flag, without "--" */
    const char *key;       /* metadata key (documented in ebm.c) */
    const char *train_key; /* the training chains' own key, read first by ebm train (NULL: key only) */
    setting_parser parse;
} setting;

static const setting settings[] = {
    {"steps", "ebm.sampler.steps", "ebm.train.mcmc_steps", parse_steps},
    {"step-size", "ebm.sampler.step_size", "ebm.train.step_size", parse_step_size},
    {"noise", "ebm.sampler.noise_scale", "ebm.train.noise_scale", parse_noise},
    {"grad-clip", "ebm.sampler.grad_clip", "ebm.train.grad_clip", parse_grad_clip},
    {"clamp", "ebm.sampler.clamp", NULL, parse_clamp},
    {"temperature", "ebm.sampler.temperature", NULL, parse_temperature},
    {"anneal", "ebm.sampler.anneal", NULL, parse_anneal},
    {"anneal-hold", "ebm.sampler.anneal_hold", NULL, parse_anneal_hold},
    {"denoise", "ebm.sampler.denoise", NULL, parse_denoise},
    {"init", "ebm.sampler.init", "ebm.train.init", parse_init},
    {"reinit", "ebm.buffer.reinit_prob", NULL, parse_reinit},
    {"buffer-capacity", "ebm.buffer.capacity", NULL, parse_capacity},
};
#define N_SETTINGS ((int)(sizeof settings / sizeof settings[0]))

sample_settings sample_settings_default(void)
{
    return (sample_settings){.p = ebm_langevin_defaults(), .init = INIT_UNIFORM, .init_sd = 1, .reinit = DEFAULT_REINIT,
                             .capacity = DEFAULT_BUFFER_CAPACITY};
}

/* The flags alone (before the model is read): usage errors. */
ebm_status sample_settings_flags(const cli_cmd *cmd, const cli_args *a, const char *steps_flag,
                                 sample_settings *s, ebm_error *err)
{
    for (int k = 0; k < N_SETTINGS; k++) {
        if (!settings[k].flag)
            continue;
        const char *flag = strcmp(settings[k].flag, "steps") == 0 ? steps_flag : settings[k].flag;
        const char *v = cli_get(cmd, a, flag);
        char what[64];
        snprintf(what, sizeof what, "--%s", flag);
        if (v && settings[k].parse(what, 1, v, s, err))
            return EBM_ERR_INVALID;
    }
    return EBM_OK;
}

/* Flag, else metadata, else default, for every setting. */
ebm_status sample_settings_resolve(const cli_cmd *cmd, const cli_args *a, const char *steps_flag, int training,
                                   const char *model, const ebm_model *m, sample_settings *s, ebm_error *err)
{
    *s = sample_settings_default();
    for (int k = 0; k < N_SETTINGS; k++) {
        const setting *st = &settings[k];
        const char *flag = st->flag && strcmp(st->flag, "steps") == 0 ? steps_flag : st->flag;
        const char *key = st->key, *meta = NULL;
        if (training && st->train_key && (meta = ebm_model_meta(m, st->train_key)))
            key = st->train_key;
        else
            meta = ebm_model_meta(m, st->key);
        const char *v = flag ? cli_get(cmd, a, flag) : NULL;
        char what[1024];
        if (v)
            snprintf(what, sizeof what, "--%s", flag);
        else if (flag)
            snprintf(what, sizeof what, "%s: metadata %s (override it with --%s)", model, key, flag);
        else
            snprintf(what, sizeof what, "%s: metadata %s", model, key);
        if ((v || meta) && st->parse(what, v != NULL, v ? v : meta, s, err))
            return EBM_ERR_INVALID;
    }
    if (s->noise_auto)
        s->p.noise_scale = sqrtf(2.0f * s->p.step_size);
    return EBM_OK;
}

/* ---- the other flags ------------------------------------------------------------------------ */

typedef struct sample_job {
    const char *model, *out, *energy_out, *buffer, *png;
    int64_t n;              /* -1: from --init FILE */
    int32_t every;          /* --trajectory M, 0 = none */
    int32_t burn_in;        /* -1: K/2 */
    uint64_t seed;
    ebm_sampler_kind kind;
    cli_layout layout;      /* of --init FILE, --buffer and the output */
    sample_settings s;
} sample_job;

static ebm_status read_flags(const cli_args *a, sample_job *j, ebm_error *err)
{
    const char *v;
    long long num;
    memset(j, 0, sizeof *j);
    j->model = a->positional[0];
    j->out = cli_get(&sample_cmd, a, "output");
    j->energy_out = cli_get(&sample_cmd, a, "energy");
    j->buffer = cli_get(&sample_cmd, a, "buffer");
    j->png = cli_get(&sample_cmd, a, "png");
    j->n = -1;
    j->burn_in = -1;
    if ((v = cli_get(&sample_cmd, a, "sampler")) && ebm_sampler_parse(v, &j->kind))
        return ebm_fail(err, EBM_ERR_INVALID, "--sampler: '%s' is not langevin, adaptive or mala", v);
    if ((v = cli_get(&sample_cmd, a, "burn-in")) && cli_parse_int("--burn-in", v, 0, INT32_MAX, &num, err))
        return EBM_ERR_INVALID;
    if (v && j->kind != EBM_SAMPLER_MALA)
        return ebm_fail(err, EBM_ERR_INVALID, "--burn-in applies to --sampler mala only (the adaptive sampler adapts "
                        "throughout)");
    j->burn_in = v ? (int32_t)num : -1;
    if (!j->out)
        return ebm_fail(err, EBM_ERR_INVALID, "missing required flag -o OUT.npy (see 'ebm sample --help')");
    if ((v = cli_get(&sample_cmd, a, "samples")) && cli_parse_int("-n", v, 1, INT32_MAX, &num, err))
        return EBM_ERR_INVALID;
    j->n = v ? num : -1;
    if ((v = cli_get(&sample_cmd, a, "trajectory")) && cli_parse_int("--trajectory", v, 1, INT32_MAX, &num, err))
        return EBM_ERR_INVALID;
    j->every = v ? (int32_t)num : 0;
    unsigned long long seed = 0;
    if ((v = cli_get(&sample_cmd, a, "seed")) && cli_parse_u64("--seed", v, &seed, err))
        return EBM_ERR_INVALID;
    j->seed = seed;
    ebm_head h;
    if ((v = cli_get(&sample_cmd, a, "energy-head")) && cli_head_from_flag(v, &h, err))
        return EBM_ERR_INVALID;
    if (cli_layout_from_flag(cli_get(&sample_cmd, a, "layout"), &j->layout, err))
        return EBM_ERR_INVALID;
    j->s = sample_settings_default();
    if (sample_settings_flags(&sample_cmd, a, "steps", &j->s, err))
        return EBM_ERR_INVALID;
    if (j->n < 0 && j->s.init != INIT_FILE)
        return ebm_fail(err, EBM_ERR_INVALID, "missing -n N, the number of samples (see 'ebm sample --help')");
    if (j->buffer && j->s.init == INIT_FILE)
        return ebm_fail(err, EBM_ERR_INVALID, "--buffer and --init FILE both give the initial states: choose one "
                        "(with --buffer, --init uniform|normal says how fresh states are made)");
    if (cli_get(&sample_cmd, a, "reinit") && !j->buffer)
        return ebm_fail(err, EBM_ERR_INVALID, "--reinit applies to --buffer FILE only");
    if (cli_get(&sample_cmd, a, "buffer-capacity") && !j->buffer)
        return ebm_fail(err, EBM_ERR_INVALID, "--buffer-capacity applies to --buffer FILE only");
    if (j->burn_in > j->s.p.steps && cli_get(&sample_cmd, a, "steps"))
        return ebm_fail(err, EBM_ERR_INVALID, "--burn-in %d exceeds --steps %d (burn-in is part of the K steps)",
                        (int)j->burn_in, (int)j->s.p.steps);
    return EBM_OK;
}

/* ---- initial states ------------------------------------------------------------------------- */

/* Uniform in the clamp range (-1..1 without one) or standard normal; sample i
 * depends only on the seed and i (ebm_init_states, stream 0). */
static void init_random(float *x, int64_t n, int64_t numel, const sample_job *j)
{
    const ebm_langevin_params *p = &j->s.p;
    sample_settings_fresh(&j->s, p->clamp ? p->lo : -1.0f, p->clamp ? p->hi : 1.0f, j->seed, x, n, numel);
}

void sample_settings_fresh(const sample_settings *s, float lo, float hi, uint64_t seed, float *x, int64_t n,
                           int64_t numel)
{
    ebm_init_states_sd(s->init == INIT_NORMAL ? EBM_INIT_NORMAL : EBM_INIT_UNIFORM, lo, hi, s->init_sd, seed, 0, 0,
                       x, n, numel);
}

/* --init FILE: float32 [N, ...input dims], N agreeing with -n if given. */
static ebm_status init_from_file(const sample_job *j, const ebm_model *m, ebm_array *x, int64_t *n,
                                 ebm_error *err)
{
    ir_shape want = cli_desc_input_shape(ebm_model_desc(m));
    ebm_status st = ebm_npy_read(j->s.init_file, x, err);
    if (!st)
        st = cli_layout_read(j->layout, j->model, &want, j->s.init_file, x, err);
    if (!st)
        st = cli_check_samples(j->model, NULL, &want, j->s.init_file, x, 0, 0, n, err);
    if (!st && j->n >= 0 && *n != j->n)
        st = ebm_fail(err, EBM_ERR_SHAPE, "%s: holds %lld samples, but -n %lld was given", j->s.init_file,
                      (long long)*n, (long long)j->n);
    if (!st && *n == 0)
        st = ebm_fail(err, EBM_ERR_SHAPE, "%s: holds no samples", j->s.init_file);
    return st;
}

/* The sample buffer's per-sample shape: the model's input without N. */
static void sample_dims(const ebm_model *m, int *rank, int64_t *shape)
{
    const ebm_abi_model *d = ebm_model_desc(m);
    *rank = d->input_rank - 1;
    for (int i = 1; i < d->input_rank; i++)
        shape[i - 1] = d->input_shape[i];
}

/* --buffer FILE with --layout nhwc: its [count, H, W, C] samples, transposed,
 * become the buffer's contents (the newest `capacity` kept, as a load does). */
static ebm_status load_buffer_nhwc(const sample_job *j, const ebm_model *m, ebm_buffer *buf, ebm_error *err)
{
    ir_shape want = cli_desc_input_shape(ebm_model_desc(m));
    ebm_array a = {0};
    int64_t count = 0;
    ebm_status st = ebm_npy_read(j->buffer, &a, err);
    if (!st)
        st = cli_layout_read(j->layout, j->model, &want, j->buffer, &a, err);
    if (!st)
        st = cli_check_samples(j->model, NULL, &want, j->buffer, &a, 0, 0, &count, err);
    int64_t keep = count < ebm_buffer_capacity(buf) ? count : ebm_buffer_capacity(buf);
    if (!st)
        st = ebm_buffer_push(buf, (const float *)a.data + (count - keep) * ebm_model_sample_numel(m), keep, err);
    ebm_array_free(&a);
    return st;
}

/* --buffer FILE with --layout nhwc: written back as [count, H, W, C]. */
static ebm_status save_buffer_nhwc(const sample_job *j, ebm_buffer *buf, int rank, const int64_t *dims,
                                   ebm_error *err)
{
    const int64_t count = ebm_buffer_count(buf);
    int64_t per = 1;
    for (int i = 0; i < rank; i++)
        per *= dims[i];
    float *all = malloc((size_t)(count * per + 1) * sizeof(float));
    if (!all)
        return ebm_fail(err, EBM_ERR_NOMEM, "--buffer %s: out of memory for %lld samples", j->buffer,
                        (long long)count);
    for (int64_t i = 0; i < count; i++)
        memcpy(all + i * per, ebm_buffer_sample(buf, i), (size_t)per * sizeof(float));
    ebm_status st = cli_layout_write(j->layout, j->buffer, 0, 0, NULL, count, rank, dims, all, err);
    free(all);
    return st;
}

/* --buffer FILE: load it when it exists (an absent file starts empty), then
 * draw N chains: fresh ones with probability --reinit. */
static ebm_status init_from_buffer(const sample_job *j, const ebm_model *m, ebm_buffer **buf, float *x,
                                   int64_t *n_fresh, ebm_error *err)
{
    const int64_t numel = ebm_model_sample_numel(m);
    ebm_status st = ebm_buffer_new(j->s.capacity, numel, buf, err);
    if (!st && access(j->buffer, F_OK) == 0)
        st = j->layout == CLI_LAYOUT_NHWC ? load_buffer_nhwc(j, m, *buf, err) : ebm_buffer_load(*buf, j->buffer, err);
    const ebm_langevin_params *p = &j->s.p;
    ebm_buffer_init init = {.kind = j->s.init == INIT_NORMAL ? EBM_INIT_NORMAL : EBM_INIT_UNIFORM,
                            .lo = p->clamp ? p->lo : -1.0f, .hi = p->clamp ? p->hi : 1.0f, .sd = j->s.init_sd,
                            .seed = j->seed};
    if (!st)
        st = ebm_buffer_draw(*buf, x, j->n, j->s.reinit, &init, n_fresh, err);
    return st;
}

static ebm_status init_states(const sample_job *j, const ebm_model *m, ebm_array *x, int64_t *n, ebm_buffer **buf,
                              int64_t *n_fresh, ebm_error *err)
{
    if (j->s.init == INIT_FILE && !j->buffer)
        return init_from_file(j, m, x, n, err);
    const int64_t numel = ebm_model_sample_numel(m);
    *n = j->n;
    if (*n > INT64_MAX / numel / (int64_t)sizeof(float) || !(x->data = malloc((size_t)(*n * numel) * sizeof(float))))
        return ebm_fail(err, EBM_ERR_NOMEM, "out of memory for %lld samples of %lld values", (long long)*n,
                        (long long)numel);
    x->dtype = EBM_NPY_F32;
    if (j->buffer)
        return init_from_buffer(j, m, buf, x->data, n_fresh, err);
    init_random(x->data, *n, numel, j);
    return EBM_OK;
}

/* ---- running and writing -------------------------------------------------------------------- */

typedef struct sample_result {
    ebm_array x;           /* the states, [N, ...] */
    float *energy;         /* [N] */
    float *trajectory;     /* [frames, N, ...] or NULL */
    int64_t n, frames, n_fresh;
    ebm_buffer *buffer;
    ebm_sampler_stats stats;
    double seconds;
} sample_result;

static void on_progress(const ebm_progress *pr, void *user)
{
    cli_progress *bar = user;
    char tail[160];
    int k = snprintf(tail, sizeof tail, "E %.4g  step %.3g", pr->mean_energy, (double)pr->step_size);
    if (pr->acceptance >= 0 && k > 0 && (size_t)k < sizeof tail)
        snprintf(tail + k, sizeof tail - (size_t)k, "  acc %.3f%s", pr->acceptance, pr->burn_in ? " (burn-in)" : "");
    cli_progress_update(bar, pr->step, tail);
}

static ebm_status run_chains(const sample_job *j, ebm_model *m, sample_result *r, ebm_error *err)
{
    const int64_t numel = ebm_model_sample_numel(m);
    ebm_sampler_params p = ebm_sampler_defaults();
    p.kind = j->kind;
    p.lv = j->s.p;
    p.lv.seed = j->seed;
    p.lv.trajectory_every = j->every;
    p.noise_auto = j->s.noise_auto;
    p.anneal_from = j->s.anneal;
    p.anneal_hold = j->s.anneal_hold;
    p.denoise = j->s.denoise;
    if (p.anneal_from > 0 && j->kind != EBM_SAMPLER_LANGEVIN)
        return ebm_fail(err, EBM_ERR_INVALID, "--sampler %s: annealing (--anneal %g, or ebm.sampler.anneal of %s) is "
                        "for the langevin sampler; add --anneal 0", ebm_sampler_name(j->kind), (double)p.anneal_from,
                        j->model);
    p.burn_in = j->kind != EBM_SAMPLER_MALA ? 0 : j->burn_in >= 0 ? j->burn_in : p.lv.steps / 2;
    if (p.burn_in > p.lv.steps)
        return ebm_fail(err, EBM_ERR_INVALID, "--burn-in %d exceeds the %d steps (from %s; burn-in is part of them)",
                        (int)p.burn_in, (int)p.lv.steps, j->model);
    r->frames = j->every ? 1 + p.lv.steps / j->every : 0;
    if (r->frames && r->frames > INT64_MAX / r->n / numel / (int64_t)sizeof(float))
        return ebm_fail(err, EBM_ERR_NOMEM, "--trajectory %d: %lld frames of %lld samples do not fit in memory",
                        (int)j->every, (long long)r->frames, (long long)r->n);
    r->energy = malloc((size_t)r->n * sizeof(float));
    r->trajectory = r->frames ? malloc((size_t)(r->frames * r->n * numel) * sizeof(float)) : NULL;
    if (!r->energy || (r->frames && !r->trajectory))
        return ebm_fail(err, EBM_ERR_NOMEM, "out of memory for %lld samples%s", (long long)r->n,
                        r->frames ? " and their trajectory" : "");
    if (ebm_dist_size() > 1 && j->kind != EBM_SAMPLER_LANGEVIN && ebm_dist_rank() == 0)
        fprintf(stderr, "ebm sample: --sampler %s adapts on all chains together: rank 0 runs them all\n",
                ebm_sampler_name(j->kind));
    cli_progress bar;
    cli_progress_begin(&bar, "ebm sample", "steps", p.lv.steps);
    if (ebm_dist_rank() > 0)
        bar.active = 0;
    if (bar.active) {   /* segments for the progress line; one fused call otherwise */
        p.progress = on_progress;
        p.progress_user = &bar;
    }
    ebm_ctx *ctx = NULL;
    ebm_status st = ebm_ctx_new(m, r->n, &ctx, err);
    if (st && ebm_dist_size() > 1)
        return st;   /* this rank alone: main ends the job */
    double t0 = base_now_seconds();
    if (!st && ebm_dist_size() > 1) {   /* each rank its share of the chains, rank 0 all of them after */
        int first = -1;
        st = ebm_dist_sample(ctx, r->x.data, r->n, numel, &p, r->energy, &r->stats, &first, err);
        if (first >= 0)
            ebm_dist_set_settled(first != ebm_dist_rank());
    }
    else if (!st)
        st = ebm_sampler_run(ctx, r->x.data, r->n, &p, r->energy, r->trajectory, &r->stats, err);
    r->seconds = base_now_seconds() - t0;
    cli_progress_end(&bar);
    ebm_ctx_free(ctx);
    return st;
}

static ebm_status write_results(const sample_job *j, ebm_model *m, sample_result *r, ebm_error *err)
{
    int64_t dims[EBM_NPY_MAX_RANK];
    int drank;
    sample_dims(m, &drank, dims);
    ebm_status st = cli_layout_write(j->layout, j->out, 0, r->frames ? 1 : 0, &r->frames, r->n, drank, dims,
                                     r->frames ? r->trajectory : r->x.data, err);
    if (!st && j->energy_out)
        st = ebm_npy_write(j->energy_out, EBM_NPY_F32, 1, &r->n, r->energy, err);
    if (!st && r->buffer && !(st = ebm_buffer_push(r->buffer, r->x.data, r->n, err)))
        st = j->layout == CLI_LAYOUT_NHWC ? save_buffer_nhwc(j, r->buffer, drank, dims, err)
                                          : ebm_buffer_save(r->buffer, j->buffer, drank, dims, err);
    if (!st && j->png) {
        const ebm_langevin_params *p = &j->s.p;
        sample_png_request q = {.path = j->png, .x = r->x.data, .n = r->n, .clamp = p->clamp, .lo = p->lo,
                                .hi = p->hi};
        st = sample_png_write(m, &q, err);
    }
    return st;
}

static void print_summary(const sample_job *j, const sample_result *r)
{
    const ebm_langevin_params *p = &j->s.p;
    double mean = 0, lo = INFINITY, hi = -INFINITY;
    int64_t bad = 0;
    for (int64_t i = 0; i < r->n; i++) {
        if (!isfinite(r->energy[i])) {
            bad++;
            continue;
        }
        mean += r->energy[i];
        lo = fmin(lo, r->energy[i]);
        hi = fmax(hi, r->energy[i]);
    }
    mean /= (double)(r->n - bad > 0 ? r->n - bad : 1);
    char clamp[64], init[600], sampler[200];
    if (p->clamp)
        snprintf(clamp, sizeof clamp, "[%g,%g]", (double)p->lo, (double)p->hi);
    else
        snprintf(clamp, sizeof clamp, "none");
    char fresh_kind[48];   /* as --init spells it */
    if (j->s.init == INIT_NORMAL && j->s.init_sd != 1)
        snprintf(fresh_kind, sizeof fresh_kind, "normal:%g", (double)j->s.init_sd);
    else
        snprintf(fresh_kind, sizeof fresh_kind, "%s", j->s.init == INIT_NORMAL ? "normal" : "uniform");
    if (j->buffer)
        snprintf(init, sizeof init, "buffer %s (%lld fresh %s, %lld stored after)", j->buffer, (long long)r->n_fresh,
                 fresh_kind, (long long)ebm_buffer_count(r->buffer));
    else
        snprintf(init, sizeof init, "%s", j->s.init == INIT_FILE ? j->s.init_file : fresh_kind);
    const ebm_sampler_stats *s = &r->stats;
    if (j->kind == EBM_SAMPLER_MALA)
        snprintf(sampler, sizeof sampler, "MALA steps (burn-in %d, acceptance %.3f, final step size %g, noise "
                 "sqrt(2 alpha)", (int)(j->burn_in >= 0 ? j->burn_in : p->steps / 2), s->acceptance,
                 (double)s->step_size);
    else if (j->kind == EBM_SAMPLER_ADAPTIVE)
        snprintf(sampler, sizeof sampler, "adaptive Langevin steps (final step size %g, last window: %.3f lowered "
                 "their energy, noise %s", (double)s->step_size, s->acceptance,
                 j->s.noise_auto ? "sqrt(2 alpha)" : "fixed");
    else if (j->s.anneal > 0) {
        char held[96] = "";
        const long long h = (long long)ebm_sampler_hold_steps(p->steps, j->s.anneal_hold);
        if (h > 0)
            snprintf(held, sizeof held, "the first %lld held at T %g, then ", h, (double)j->s.anneal);
        snprintf(sampler, sizeof sampler, "annealed Langevin steps (%sT %g down to %g, step size %g x T^2/T_end^2, "
                 "noise %s", held, (double)j->s.anneal, (double)p->temperature, (double)p->step_size,
                 j->s.noise_auto ? "sqrt(2 alpha)" : "x T/T_end");
    }
    else
        snprintf(sampler, sizeof sampler, "Langevin steps (step size %g, noise %g", (double)p->step_size,
                 (double)p->noise_scale);
    if (j->s.denoise > 0) {
        size_t k = strlen(sampler);
        snprintf(sampler + k, sizeof sampler - k, ", then a denoising step of %g", (double)j->s.denoise);
    }
    fprintf(stderr, "ebm sample: N=%lld, %d %s, grad clip %g, clamp %s, T %g, seed %llu, init %s) in %.3g s "
            "(%.3g sample-steps/s): final energy mean %.6g min %.6g max %.6g, %lld NaN/Inf -> %s%s\n",
            (long long)r->n, (int)p->steps, sampler, (double)p->grad_clip, clamp, (double)p->temperature,
            (unsigned long long)j->seed, init, r->seconds, r->seconds > 0 ? (double)r->n * p->steps / r->seconds : 0.0,
            mean, lo, hi, (long long)bad, j->out, r->frames ? " (trajectory)" : "");
}

static ebm_status sample_model(const cli_args *a, sample_job *j, ebm_error *err)
{
    const int rank = ebm_dist_rank();
    cache_request req = {.model = j->model, .head_flag = cli_get(&sample_cmd, a, "energy-head"),
                         .tile = cache_tile_for_batch(j->n), .sample_only = 1,
                         .trust_file = cli_get(&sample_cmd, a, "trust-file") != NULL,
                         .backend = cli_get(&sample_cmd, a, "backend")};
    ebm_model *m = NULL;
    sample_result r = {0};
    /* under mpirun rank 0 compiles, the others then find the model in the cache */
    ebm_status st = rank == 0 ? cache_open_model(&req, &m, err) : EBM_OK;
    st = ebm_dist_settle(st, err);
    if (!st && rank > 0)
        st = cache_open_model(&req, &m, err);
    if (!st) {
        ir_shape want = cli_desc_input_shape(ebm_model_desc(m));
        st = cli_layout_check_model(j->layout, j->model, &want, err);
    }
    if (!st)
        st = sample_settings_resolve(&sample_cmd, a, "steps", 0, j->model, m, &j->s, err);
    if (!st && j->png)
        st = sample_png_check(m, j->model, j->png, err);
    if (!st)
        st = init_states(j, m, &r.x, &r.n, &r.buffer, &r.n_fresh, err);
    if (!st && ebm_dist_size() > 1 && j->every)
        st = ebm_fail(err, EBM_ERR_UNSUPPORTED, "--trajectory does not split over the %d processes of mpirun: run "
                      "it in one process", ebm_dist_size());
    st = ebm_dist_settle(st, err);
    if (!st)
        st = run_chains(j, m, &r, err);
    if (!st && rank == 0)
        st = write_results(j, m, &r, err);
    if (!st && rank == 0)
        print_summary(j, &r);
    ebm_array_free(&r.x);
    ebm_buffer_free(r.buffer);
    free(r.energy);
    free(r.trajectory);
    ebm_model_close(m);
    return st;
}

int run_sample(const cli_args *a)
{
    ebm_error err = {0};
    sample_job j;
    if (read_flags(a, &j, &err)) {
        ebm_dist_set_settled(ebm_dist_rank() != 0);   /* the same flags on every rank: rank 0 says it */
        return ebm_dist_rank() == 0 ? cli_fail("ebm", &err, CLI_EXIT_USAGE) : CLI_EXIT_USAGE;
    }
    if (!sample_model(a, &j, &err))
        return CLI_EXIT_OK;
    return ebm_dist_quiet() ? CLI_EXIT_ERROR : cli_fail("ebm", &err, CLI_EXIT_ERROR);
}
