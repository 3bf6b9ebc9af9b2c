/* ebm_sample.c — `ebm sample`: DESIGN.md's Langevin sampler, run by the
 * compiled model's fused Langevin program through libebm (ebm_langevin).
 *
 * Each sampler setting comes from its flag, else from the model's
 * ebm.sampler.* metadata (the keys are listed in ebm.c's header), else from
 * DESIGN.md's defaults.  Flags are checked before the model is opened (a
 * usage error, exit 2); metadata values when it is (exit 1, naming the key).
 * MALA, adaptive step sizes, the sample buffer and --png come with the
 * samplers issue.
 */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ebm.h"
#include "ebm_commands.h"
#include "ebm_philox.h"
#include "model_cache.h"
#include "npy.h"

/* Initial states use Philox under a key derived from the seed, so they are
 * not the noise of the Langevin steps (which use the seed itself). */
#define INIT_KEY_TWEAK 0x696e69745f737461ull   /* "init_sta" */

static const cli_opt sample_opts[] = {
    {.name = "output", .short_name = 'o', .metavar = "OUT.npy",
     .help = "the samples, .npy float32 [N, ...input dims]; with --trajectory [1 + K/M, N, ...] (required)"},
    {.name = "samples", .short_name = 'n', .metavar = "N",
     .help = "number of chains (default with --init FILE: the file's N)"},
    {.name = "steps", .metavar = "K", .help = "Langevin steps (default: ebm.sampler.steps, else 60)"},
    {.name = "step-size", .metavar = "A", .help = "step size alpha > 0 (default: ebm.sampler.step_size, else 0.01)"},
    {.name = "noise", .metavar = "S|auto",
     .help = "noise scale sigma >= 0, auto = sqrt(2 alpha) (default: ebm.sampler.noise_scale, else 0.005)"},
    {.name = "grad-clip", .metavar = "C",
     .help = "clip dE/dx / T to [-C, C], 0 = off (default: ebm.sampler.grad_clip, else 0.03)"},
    {.name = "clamp", .metavar = "LO,HI|none",
     .help = "keep samples in [LO, HI] (default: ebm.sampler.clamp, else -1,1)"},
    {.name = "temperature", .metavar = "T", .help = "T > 0: samples p(x) ~ exp(-E(x)/T) (default: "
                                                    "ebm.sampler.temperature, else 1)"},
    {.name = "seed", .metavar = "S", .help = "random seed (default 0); a sample depends only on the seed and "
                                             "its index, not on N"},
    {.name = "init", .metavar = "uniform|normal|FILE.npy",
     .help = "initial states: uniform in the clamp range ([-1,1] without clamp), standard normal, or a file "
             "(default: ebm.sampler.init, else uniform)"},
    {.name = "trajectory", .metavar = "M", .help = "write every M-th state to OUT: the initial state, then the "
                                                   "states after M, 2M, ... steps"},
    {.name = "energy", .metavar = "FILE", .help = "also write the final energies, .npy float32 [N]"},
    {.name = "energy-head", .metavar = "HEAD",
     .help = "when compiling an ONNX MODEL: output|sum|neg-logsumexp|logsumexp (default: its "
             "ebm.energy_head metadata, else output)"},
    {0},
};

const cli_cmd sample_cmd = {
    .prog = "ebm sample",
    .usage = "MODEL -n N [--steps K] [--step-size A] [--noise S|auto] [--grad-clip C]\n"
             "                  [--clamp LO,HI|none] [--temperature T] [--seed S]\n"
             "                  [--init uniform|normal|FILE.npy] [--trajectory M] [--energy FILE] -o OUT.npy",
    .summary = "Draws samples from exp(-E(x)/T) with Langevin dynamics run by the compiled model\n"
               "(an ONNX MODEL is compiled once into the cache folder).",
    .opts = sample_opts,
    .min_positional = 1,
    .max_positional = 1,
    .positional_names = "MODEL",
};

/* ---- settings: flag, else metadata, else default ---------------------------------------- */

typedef enum { INIT_UNIFORM, INIT_NORMAL, INIT_FILE } init_kind;

typedef struct sample_settings {
    ebm_langevin_params p;
    int noise_auto;
    init_kind init;
    const char *init_file;
} sample_settings;

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

static ebm_status parse_init(const char *what, int is_flag, const char *value, sample_settings *s,
                             ebm_error *err)
{
    s->init_file = NULL;
    if (strcmp(value, "uniform") == 0)
        s->init = INIT_UNIFORM;
    else if (strcmp(value, "normal") == 0)
        s->init = INIT_NORMAL;
    else if (is_flag)
        s->init = INIT_FILE, s->init_file = value;
    else
        return ebm_fail(err, EBM_ERR_INVALID, "%s: '%s' is not uniform or normal", what, value);
    return EBM_OK;
}

typedef struct setting {
    const char *flag;    /* long flag, without "--" */
    const char *key;     /* metadata key (documented in ebm.c) */
    setting_parser parse;
} setting;

static const setting settings[] = {
    {"steps", "ebm.sampler.steps", parse_steps},
    {"step-size", "ebm.sampler.step_size", parse_step_size},
    {"noise", "ebm.sampler.noise_scale", parse_noise},
    {"grad-clip", "ebm.sampler.grad_clip", parse_grad_clip},
    {"clamp", "ebm.sampler.clamp", parse_clamp},
    {"temperature", "ebm.sampler.temperature", parse_temperature},
    {"init", "ebm.sampler.init", parse_init},
};
#define N_SETTINGS ((int)(sizeof settings / sizeof settings[0]))

static sample_settings default_settings(void)
{
    return (sample_settings){.p = ebm_langevin_defaults(), .init = INIT_UNIFORM};
}

/* The flags alone (before the model is read): usage errors. */
static ebm_status check_setting_flags(const cli_args *a, sample_settings *s, ebm_error *err)
{
    for (int k = 0; k < N_SETTINGS; k++) {
        const char *v = cli_get(&sample_cmd, a, settings[k].flag);
        char what[64];
        snprintf(what, sizeof what, "--%s", settings[k].flag);
        if (v && settings[k].parse(what, 1, v, s, err))
            return EBM_ERR_INVALID;
    }
    return EBM_OK;
}

/* Flag, else metadata, else default, for every setting. */
static ebm_status resolve_settings(const cli_args *a, const char *model, const ebm_model *m, sample_settings *s,
                                   ebm_error *err)
{
    *s = default_settings();
    for (int k = 0; k < N_SETTINGS; k++) {
        const setting *st = &settings[k];
        const char *v = cli_get(&sample_cmd, a, st->flag), *meta = ebm_model_meta(m, st->key);
        char what[1024];
        if (v)
            snprintf(what, sizeof what, "--%s", st->flag);
        else
            snprintf(what, sizeof what, "%s: metadata %s (override it with --%s)", model, st->key, st->flag);
        if ((v || meta) && st->parse(what, v != NULL, v ? v : meta, s, err))
            return EBM_ERR_INVALID;
    }
    if (s->noise_auto)
        s->p.noise_scale = sqrtf(2.0f * s->p.step_size);
    return EBM_OK;
}

/* ---- the other flags ------------------------------------------------------------------------ */

typedef struct sample_job {
    const char *model, *out, *energy_out;
    int64_t n;              /* -1: from --init FILE */
    int32_t every;          /* --trajectory M, 0 = none */
    uint64_t seed;
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
    j->n = -1;
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
    j->s = default_settings();
    if (check_setting_flags(a, &j->s, err))
        return EBM_ERR_INVALID;
    if (j->n < 0 && j->s.init != INIT_FILE)
        return ebm_fail(err, EBM_ERR_INVALID, "missing -n N, the number of samples (see 'ebm sample --help')");
    return EBM_OK;
}

/* ---- initial states ------------------------------------------------------------------------- */

/* Uniform in (lo, hi] or standard normal, element j of sample i from the
 * Philox block j / 4 of counter (i, step 0) under the tweaked key. */
static void init_random(float *x, int64_t n, int64_t numel, const sample_job *j)
{
    const uint64_t key = j->seed ^ INIT_KEY_TWEAK;
    const ebm_langevin_params *p = &j->s.p;
    const float lo = p->clamp ? p->lo : -1.0f, hi = p->clamp ? p->hi : 1.0f;
    for (int64_t i = 0; i < n; i++) {
        float *xi = x + i * numel;
        if (j->s.init == INIT_NORMAL) {
            ebm_philox_normals(key, (uint64_t)i, 0, xi, numel);
            continue;
        }
        for (int64_t b = 0; b * 4 < numel; b++) {
            uint32_t c[4] = {(uint32_t)b, (uint32_t)i, (uint32_t)((uint64_t)i >> 32), 0};
            ebm_philox4x32_10(c, (uint32_t)key, (uint32_t)(key >> 32));
            for (int k = 0; k < 4 && b * 4 + k < numel; k++)
                xi[b * 4 + k] = (float)(lo + (hi - lo) * ebm_philox_uniform(c[k]));
        }
    }
}

/* --init FILE: float32 [N, ...input dims], N agreeing with -n if given. */
static ebm_status init_from_file(const sample_job *j, const ebm_model *m, ebm_array *x, int64_t *n,
                                 ebm_error *err)
{
    ir_shape want = cli_desc_input_shape(ebm_model_desc(m));
    ebm_status st = ebm_npy_read(j->s.init_file, x, err);
    if (!st)
        st = cli_check_samples(j->model, NULL, &want, j->s.init_file, x, 0, 0, n, err);
    if (!st && j->n >= 0 && *n != j->n)
        st = ebm_fail(err, EBM_ERR_SHAPE, "%s: holds %lld samples, but -n %lld was given", j->s.init_file,
                      (long long)*n, (long long)j->n);
    if (!st && *n == 0)
        st = ebm_fail(err, EBM_ERR_SHAPE, "%s: holds no samples", j->s.init_file);
    return st;
}

static ebm_status init_states(const sample_job *j, const ebm_model *m, ebm_array *x, int64_t *n, ebm_error *err)
{
    if (j->s.init == INIT_FILE)
        return init_from_file(j, m, x, n, err);
    const int64_t numel = ebm_model_sample_numel(m);
    *n = j->n;
    if (*n > INT64_MAX / numel / (int64_t)sizeof(float) || !(x->data = malloc((size_t)(*n * numel) * sizeof(float))))
        return ebm_fail(err, EBM_ERR_NOMEM, "out of memory for %lld samples of %lld values", (long long)*n,
                        (long long)numel);
    x->dtype = EBM_NPY_F32;
    init_random(x->data, *n, numel, j);
    return EBM_OK;
}

/* ---- running and writing -------------------------------------------------------------------- */

typedef struct sample_result {
    ebm_array x;           /* the states, [N, ...] */
    float *energy;         /* [N] */
    float *trajectory;     /* [frames, N, ...] or NULL */
    int64_t n, frames;
    double seconds;
} sample_result;

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static ebm_status run_chains(const sample_job *j, ebm_model *m, sample_result *r, ebm_error *err)
{
    const int64_t numel = ebm_model_sample_numel(m);
    ebm_langevin_params p = j->s.p;
    p.seed = j->seed;
    p.trajectory_every = j->every;
    r->frames = j->every ? 1 + p.steps / j->every : 0;
    if (r->frames && r->frames > INT64_MAX / r->n / numel / (int64_t)sizeof(float))
        return ebm_fail(err, EBM_ERR_NOMEM, "--trajectory %d: %lld frames of %lld samples do not fit in memory",
                        (int)j->every, (long long)r->frames, (long long)r->n);
    r->energy = malloc((size_t)r->n * sizeof(float));
    r->trajectory = r->frames ? malloc((size_t)(r->frames * r->n * numel) * sizeof(float)) : NULL;
    if (!r->energy || (r->frames && !r->trajectory))
        return ebm_fail(err, EBM_ERR_NOMEM, "out of memory for %lld samples%s", (long long)r->n,
                        r->frames ? " and their trajectory" : "");
    ebm_ctx *ctx = NULL;
    ebm_status st = ebm_ctx_new(m, r->n, &ctx, err);
    double t0 = now_seconds();
    if (!st)
        st = ebm_langevin(ctx, r->x.data, r->n, &p, r->energy, r->trajectory, err);
    r->seconds = now_seconds() - t0;
    ebm_ctx_free(ctx);
    return st;
}

static ebm_status write_results(const sample_job *j, const ebm_model *m, const sample_result *r, ebm_error *err)
{
    const ebm_abi_model *d = ebm_model_desc(m);
    int64_t shape[EBM_NPY_MAX_RANK];
    int rank = 0;
    if (r->frames)
        shape[rank++] = r->frames;
    shape[rank++] = r->n;
    for (int i = 1; i < d->input_rank; i++)
        shape[rank++] = d->input_shape[i];
    ebm_status st = ebm_npy_write(j->out, EBM_NPY_F32, rank, shape, r->frames ? r->trajectory : r->x.data, err);
    if (!st && j->energy_out)
        st = ebm_npy_write(j->energy_out, EBM_NPY_F32, 1, &r->n, r->energy, err);
    return st;
}

static void print_summary(const sample_job *j, const sample_result *r)
{
    const ebm_langevin_params *p = &j->s.p;
    double mean = 0, lo = INFINITY, hi = -INFINITY;
    for (int64_t i = 0; i < r->n; i++) {
        mean += r->energy[i];
        lo = fmin(lo, r->energy[i]);
        hi = fmax(hi, r->energy[i]);
    }
    mean /= (double)r->n;
    char clamp[64];
    if (p->clamp)
        snprintf(clamp, sizeof clamp, "[%g,%g]", (double)p->lo, (double)p->hi);
    else
        snprintf(clamp, sizeof clamp, "none");
    const char *init = j->s.init == INIT_FILE ? j->s.init_file : j->s.init == INIT_NORMAL ? "normal" : "uniform";
    fprintf(stderr, "ebm sample: N=%lld, %d Langevin steps (step size %g, noise %g, grad clip %g, clamp %s, T %g, "
            "seed %llu, init %s) in %.3g s (%.3g sample-steps/s): final energy mean %.6g min %.6g max %.6g -> %s%s\n",
            (long long)r->n, (int)p->steps, (double)p->step_size, (double)p->noise_scale, (double)p->grad_clip, clamp,
            (double)p->temperature, (unsigned long long)j->seed, init, r->seconds,
            r->seconds > 0 ? (double)r->n * p->steps / r->seconds : 0.0, mean, lo, hi, j->out,
            r->frames ? " (trajectory)" : "");
}

static ebm_status sample_model(const cli_args *a, sample_job *j, ebm_error *err)
{
    cache_request req = {.model = j->model, .head_flag = cli_get(&sample_cmd, a, "energy-head")};
    ebm_model *m = NULL;
    sample_result r = {0};
    ebm_status st = cache_open_model(&req, &m, err);
    if (!st)
        st = resolve_settings(a, j->model, m, &j->s, err);
    if (!st)
        st = init_states(j, m, &r.x, &r.n, err);
    if (!st)
        st = run_chains(j, m, &r, err);
    if (!st)
        st = write_results(j, m, &r, err);
    if (!st)
        print_summary(j, &r);
    ebm_array_free(&r.x);
    free(r.energy);
    free(r.trajectory);
    ebm_model_close(m);
    return st;
}

int run_sample(const cli_args *a)
{
    ebm_error err = {0};
    sample_job j;
    if (read_flags(a, &j, &err))
        return cli_fail("ebm", &err, CLI_EXIT_USAGE);
    return sample_model(a, &j, &err) ? cli_fail("ebm", &err, CLI_EXIT_ERROR) : CLI_EXIT_OK;
}
