/* train_ckpt.c — training checkpoints (train.h): ebm_trainer_save and
 * ebm_trainer_load.
 *
 * A checkpoint is read back into a running process, so it is input like any
 * other file: a checksum alone does not make it sane (a file can be made with a
 * valid checksum and any field), and a run resumed with other settings would
 * continue a different run silently.  Layout (version 3, native byte order,
 * every part a multiple of 8 bytes):
 *
 *   header    ckpt_header: magic "EBMCKPT1", version, the model's sizes and
 *             parameter-table hash, the buffer's capacity, count and draw
 *             counter, step, learning rate, restores, sampler step size,
 *             how many settings follow
 *   settings  n_settings x ckpt_setting {name, kind, value}: the run's
 *             configuration (run_settings below), by name
 *   w, m, v   weights_numel floats each: the parameters, Adam's moments
 *   ema       weights_numel floats, when the run keeps an EMA
 *   samples   count x sample_numel floats: the buffer, oldest first
 *   sum       FNV-1a 64 of every byte before it
 *
 * A load changes nothing in the trainer until all of this holds:
 *   1. magic and version (older versions get their own message); the model
 *      (parameter table, sizes), buffer capacity and EMA of this run, and the
 *      settings count: what is needed to read the rest safely;
 *   2. the checksum, and nothing after it (a damaged or truncated file);
 *   3. every setting equal to this run's (a mismatch names it, with both
 *      values and the flag that sets it);
 *   4. every field in its range: 0 <= step <= CKPT_MAX_STEP; 0 <= restores
 *      <= max_restores; lr = the run's lr halved once per restore; the draw
 *      counter at most step + 1; the sampler step size finite and positive,
 *      equal to the run's for plain Langevin and within a factor
 *      CKPT_ALPHA_DRIFT of it for the adapting samplers;
 *   5. every stored float finite (and Adam's second moment >= 0).
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "npy.h"
#include "train.h"
#include "train_internal.h"

#define CKPT_MAGIC "EBMCKPT1"
#define CKPT_VERSION 3u            /* 2: the sampler step size; 3: the run's settings */
#define CKPT_NAME_MAX 24
#define CKPT_MAX_SETTINGS 64
#define CKPT_MAX_STEP (INT64_C(1) << 40)   /* 10^12 steps: step * batch stays far from overflow */
#define CKPT_ALPHA_DRIFT 0x1p40            /* how far MALA / adaptive may move the step size */

typedef struct ckpt_header {
    char magic[8];
    uint32_t version, has_ema;
    int64_t step, wn, numel, capacity, count;
    uint64_t draws, table_hash;
    double lr;
    int32_t restores;
    float alpha;                  /* the sampler's step size */
    uint32_t n_settings, reserved;
} ckpt_header;
_Static_assert(sizeof(ckpt_header) == 96, "the checkpoint header has no padding");

typedef enum { CK_INT = 1, CK_U64 = 2, CK_F64 = 3 } ckpt_kind;

typedef union ckpt_value {
    int64_t i;
    uint64_t u;
    double f;
} ckpt_value;

/* One setting as stored: a NUL-terminated name, its kind and value. */
typedef struct ckpt_setting {
    char name[CKPT_NAME_MAX];
    uint32_t kind, reserved;
    ckpt_value v;
} ckpt_setting;
_Static_assert(sizeof(ckpt_setting) == 40, "a stored setting has no padding");

/* One setting of this run: its name, where a user sets it, its value; for
 * a setting added after version 3, the value a checkpoint without it was
 * made with (such a checkpoint resumes when this run has that value). */
typedef struct run_setting {
    const char *name, *where;
    ckpt_kind kind;
    ckpt_value v;
    int since_v3;
    ckpt_value before;
} run_setting;

static void put_int(run_setting *s, int *n, const char *name, const char *where, int64_t v)
{
    s[(*n)++] = (run_setting){.name = name, .where = where, .kind = CK_INT, .v = {.i = v}};
}

static void put_f64(run_setting *s, int *n, const char *name, const char *where, double v)
{
    s[(*n)++] = (run_setting){.name = name, .where = where, .kind = CK_F64, .v = {.f = v}};
}

/* A float setting added after version 3 that was `before` until then. */
static void put_f64_new(run_setting *s, int *n, const char *name, const char *where, double v, double before)
{
    s[(*n)++] = (run_setting){.name = name, .where = where, .kind = CK_F64, .v = {.f = v}, .since_v3 = 1,
                              .before = {.f = before}};
}

/* Everything in the configuration that changes what a step computes, in a
 * fixed order.  Left out: the divergence guard's energy_limit, snapshot_every
 * and max_restores (they act only after a divergence, and restores is checked
 * against max_restores), and what every step sets itself (the sampler's seed,
 * burn-in and trajectory). */
static int run_settings(const ebm_train_config *c, run_setting *s)
{
    const ebm_sampler_params *p = &c->sampler;
    const ebm_langevin_params *lv = &p->lv;
    int n = 0;
    put_int(s, &n, "objective", "--objective", c->objective);
    put_int(s, &n, "batch", "--batch", c->batch);
    s[n++] = (run_setting){.name = "seed", .where = "--seed", .kind = CK_U64, .v = {.u = c->seed}};
    put_f64(s, &n, "lr", "--lr", c->lr);
    put_f64(s, &n, "beta1", "--adam", c->beta1);
    put_f64(s, &n, "beta2", "--adam", c->beta2);
    put_f64(s, &n, "adam_eps", "ebm_train_config.adam_eps", c->adam_eps);
    put_f64(s, &n, "grad_norm_clip", "--grad-norm-clip", c->grad_norm_clip);
    put_f64(s, &n, "ema", "--ema", c->ema);
    put_f64(s, &n, "alpha", "--alpha", c->alpha);
    put_f64(s, &n, "sigma", "--sigma", c->sigma);
    put_f64(s, &n, "sigma_max", "--sigma-max", c->sigma_max);
    put_f64_new(s, &n, "sigma_power", "--sigma-power", c->sigma_power, 1);
    put_f64(s, &n, "data_noise", "--data-noise", c->data_noise);
    put_int(s, &n, "buffer_capacity", "--buffer-capacity", c->buffer_capacity);
    put_f64(s, &n, "reinit", "--reinit", c->reinit);
    put_int(s, &n, "fresh", "ebm.train.init", c->fresh);
    put_int(s, &n, "sampler", "--sampler", p->kind);
    put_int(s, &n, "mcmc_steps", "--mcmc-steps", lv->steps);
    put_f64(s, &n, "step_size", "--step-size", lv->step_size);
    put_f64(s, &n, "noise_scale", "--noise", lv->noise_scale);
    put_int(s, &n, "noise_auto", "--noise", p->noise_auto);
    put_f64(s, &n, "grad_clip", "--grad-clip", lv->grad_clip);
    put_f64(s, &n, "temperature", "--temperature", lv->temperature);
    put_int(s, &n, "clamp", "--clamp", lv->clamp);
    put_f64(s, &n, "clamp_lo", "--clamp", lv->lo);
    put_f64(s, &n, "clamp_hi", "--clamp", lv->hi);
    put_int(s, &n, "step_offset", "ebm_train_config.sampler", (int64_t)lv->step_offset);
    put_f64(s, &n, "target_rate", "ebm_train_config.sampler", p->target_rate);
    put_f64(s, &n, "anneal_from", "ebm_train_config.sampler", p->anneal_from);
    put_f64(s, &n, "denoise", "ebm_train_config.sampler", p->denoise);
    return n;
}
#define RUN_SETTINGS_MAX 48

static int value_equal(ckpt_kind k, ckpt_value a, ckpt_value b)
{
    return k == CK_F64 ? a.f == b.f : a.u == b.u;
}

static void value_str(ckpt_kind k, ckpt_value v, char *buf, size_t size)
{
    if (k == CK_F64)
        snprintf(buf, size, "%.17g", v.f);
    else if (k == CK_U64)
        snprintf(buf, size, "%" PRIu64, v.u);
    else
        snprintf(buf, size, "%" PRId64, v.i);
}

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}

#define FNV_INIT 0xcbf29ce484222325ull

/* The parameter table (names, offsets, sizes): a checkpoint fits only its model. */
static uint64_t table_hash(const ebm_abi_model *d)
{
    uint64_t h = FNV_INIT;
    for (int k = 0; k < d->n_params; k++) {
        h = fnv(h, d->params[k].name, strlen(d->params[k].name) + 1);
        h = fnv(h, &d->params[k].offset, sizeof d->params[k].offset);
        h = fnv(h, &d->params[k].numel, sizeof d->params[k].numel);
    }
    return h;
}

/* ---- save ------------------------------------------------------------------------- */

ebm_status ebm_trainer_save(const ebm_trainer *t, const char *path, ebm_error *err)
{
    const ebm_buffer *buf = t->comm.size > 1 ? t->full : t->buf;
    if (!buf)
        return ebm_fail(err, EBM_ERR_INVALID, "%s: the checkpoint of rank %d of %d: only rank 0 saves, after "
                        "ebm_trainer_gather", path, t->comm.rank, t->comm.size);
    run_setting rs[RUN_SETTINGS_MAX];
    const int ns = run_settings(&t->cfg, rs);
    ckpt_setting cs[RUN_SETTINGS_MAX];
    memset(cs, 0, sizeof cs);
    for (int k = 0; k < ns; k++) {
        snprintf(cs[k].name, sizeof cs[k].name, "%s", rs[k].name);
        cs[k].kind = (uint32_t)rs[k].kind;
        cs[k].v = rs[k].v;
    }
    ckpt_header h;
    memset(&h, 0, sizeof h);
    memcpy(h.magic, CKPT_MAGIC, 8);
    h.version = CKPT_VERSION;
    h.has_ema = t->ema != NULL;
    h.step = t->step;
    h.wn = t->wn;
    h.numel = t->numel;
    h.capacity = ebm_buffer_capacity(buf);
    h.count = ebm_buffer_count(buf);
    h.draws = ebm_buffer_draws(buf);
    h.table_hash = table_hash(t->d);
    h.lr = t->lr;
    h.restores = t->restores;
    h.alpha = t->alpha;
    h.n_settings = (uint32_t)ns;
    float *samples = ebm__falloc(h.count * t->numel);
    if (!samples)
        return ebm_fail(err, EBM_ERR_NOMEM, "%s: out of memory writing the checkpoint", path);
    for (int64_t j = 0; j < h.count; j++)
        memcpy(samples + j * t->numel, ebm_buffer_sample(buf, j), (size_t)t->numel * sizeof(float));
    const size_t wb = (size_t)t->wn * sizeof(float);
    const void *parts[8] = {&h, cs, t->w, t->adam_m, t->adam_v, t->ema ? t->ema : t->w, samples, NULL};
    size_t lens[8] = {sizeof h, (size_t)ns * sizeof cs[0], wb, wb, wb, t->ema ? wb : 0,
                      (size_t)(h.count * t->numel) * sizeof(float), 8};
    uint64_t sum = FNV_INIT;
    for (int k = 0; k < 7; k++)
        sum = fnv(sum, parts[k], lens[k]);
    parts[7] = &sum;
    ebm_status st = ebm_write_atomic(path, parts, lens, 8, err);
    free(samples);
    return st;
}

/* ---- load ------------------------------------------------------------------------- */

/* What a load reads before anything in the trainer changes. */
typedef struct ckpt_in {
    const char *path;
    FILE *f;
    uint64_t sum;
    ckpt_header h;
    ckpt_setting settings[CKPT_MAX_SETTINGS];
    float *w, *m, *v, *ema, *samples;
} ckpt_in;

static void ckpt_in_free(ckpt_in *in)
{
    if (in->f)
        fclose(in->f);
    free(in->w);
    free(in->m);
    free(in->v);
    free(in->ema);
    free(in->samples);
}

static ebm_status read_part(ckpt_in *in, void *p, size_t n, ebm_error *err)
{
    if (n && fread(p, 1, n, in->f) != n)
        return ebm_fail(err, ferror(in->f) ? EBM_ERR_IO : EBM_ERR_FORMAT, "%s: the checkpoint is %s", in->path,
                        ferror(in->f) ? "unreadable (read error)" : "truncated");
    in->sum = fnv(in->sum, p, n);
    return EBM_OK;
}

/* 1: magic, version, and what sizes the rest. */
static ebm_status check_layout(const ebm_trainer *t, const ckpt_in *in, ebm_error *err)
{
    const ckpt_header *h = &in->h;
    const char *path = in->path;
    const int64_t cap = ebm_buffer_capacity(t->buf);
    if (h->wn != t->wn || h->table_hash != table_hash(t->d) || h->numel != t->numel)
        return ebm_fail(err, EBM_ERR_SHAPE, "%s: the checkpoint is of another model (parameter table or input size "
                        "differs from %s)", path, ebm_model_path(t->m));
    if (h->capacity != cap)
        return ebm_fail(err, EBM_ERR_SHAPE, "%s: the checkpoint's buffer capacity is %lld, this run's is %lld "
                        "(resume with the same --buffer-capacity)", path, (long long)h->capacity, (long long)cap);
    if (h->count < 0 || h->count > h->capacity)
        return ebm_fail(err, EBM_ERR_FORMAT, "%s: the checkpoint's buffer count = %lld is out of range: expected "
                        "0..%lld (its capacity)", path, (long long)h->count, (long long)h->capacity);
    if (h->has_ema > 1 || (int)h->has_ema != (t->ema != NULL))
        return ebm_fail(err, EBM_ERR_INVALID, "%s: the checkpoint was made %s an EMA of the parameters; resume with the "
                        "same --ema", path, h->has_ema ? "with" : "without");
    if (h->n_settings < 1 || h->n_settings > CKPT_MAX_SETTINGS)
        return ebm_fail(err, EBM_ERR_FORMAT, "%s: the checkpoint's settings count = %u is out of range: expected "
                        "1..%d", path, (unsigned)h->n_settings, CKPT_MAX_SETTINGS);
    return EBM_OK;
}

/* 3: the stored settings are this run's, one for one. */
static ebm_status check_settings(const ebm_trainer *t, const ckpt_in *in, ebm_error *err)
{
    run_setting rs[RUN_SETTINGS_MAX];
    const int ns = run_settings(&t->cfg, rs);
    const char *path = in->path;
    for (uint32_t k = 0; k < in->h.n_settings; k++) {
        const ckpt_setting *c = &in->settings[k];
        if (memchr(c->name, 0, sizeof c->name) == NULL || c->reserved != 0)
            return ebm_fail(err, EBM_ERR_FORMAT, "%s: the checkpoint's setting %u is malformed", path, (unsigned)k);
    }
    int absent = 0;   /* newer settings the checkpoint predates */
    for (int j = 0; j < ns; j++) {
        const ckpt_setting *c = NULL;
        for (uint32_t k = 0; k < in->h.n_settings && !c; k++)
            if (strcmp(in->settings[k].name, rs[j].name) == 0)
                c = &in->settings[k];
        if (!c && rs[j].since_v3) {
            if (!value_equal(rs[j].kind, rs[j].before, rs[j].v)) {
                char was[64], now[64];
                value_str(rs[j].kind, rs[j].before, was, sizeof was);
                value_str(rs[j].kind, rs[j].v, now, sizeof now);
                return ebm_fail(err, EBM_ERR_INVALID, "%s: the checkpoint predates the setting %s, so it was made "
                                "with %s = %s; this run has %s = %s (%s); resume with %s", path, rs[j].name,
                                rs[j].name, was, rs[j].name, now, rs[j].where, was);
            }
            absent++;
            continue;
        }
        if (!c)
            return ebm_fail(err, EBM_ERR_FORMAT, "%s: the checkpoint does not record the setting %s", path,
                            rs[j].name);
        if (c->kind != (uint32_t)rs[j].kind)
            return ebm_fail(err, EBM_ERR_FORMAT, "%s: the checkpoint's setting %s has kind %u, expected %d", path,
                            rs[j].name, (unsigned)c->kind, (int)rs[j].kind);
        if (!value_equal(rs[j].kind, c->v, rs[j].v)) {
            char was[64], now[64];
            value_str(rs[j].kind, c->v, was, sizeof was);
            value_str(rs[j].kind, rs[j].v, now, sizeof now);
            return ebm_fail(err, EBM_ERR_INVALID, "%s: the checkpoint was made with %s = %s, this run has %s = %s "
                            "(%s); resume with the settings the checkpoint was made with", path, rs[j].name, was,
                            rs[j].name, now, rs[j].where);
        }
    }
    if ((int)in->h.n_settings != ns - absent)
        return ebm_fail(err, EBM_ERR_FORMAT, "%s: the checkpoint records %u settings, this libebm %d", path,
                        (unsigned)in->h.n_settings, ns - absent);
    return EBM_OK;
}

/* 4: the scalar fields. */
static ebm_status check_fields(const ebm_trainer *t, const ckpt_in *in, ebm_error *err)
{
    const ckpt_header *h = &in->h;
    const ebm_train_config *c = &t->cfg;
    const char *path = in->path;
    if (h->step < 0 || h->step > CKPT_MAX_STEP || h->step > INT64_MAX / 4 / t->B)
        return ebm_fail(err, EBM_ERR_FORMAT, "%s: the checkpoint's step = %lld is out of range: expected 0..%lld",
                        path, (long long)h->step, (long long)CKPT_MAX_STEP);
    if (h->restores < 0 || h->restores > c->max_restores)
        return ebm_fail(err, EBM_ERR_FORMAT, "%s: the checkpoint's restores = %d is out of range: expected 0..%d "
                        "(max_restores)", path, (int)h->restores, (int)c->max_restores);
    const double lr = ldexp(c->lr, -h->restores);
    if (!(h->lr == lr))
        return ebm_fail(err, EBM_ERR_FORMAT, "%s: the checkpoint's lr = %g is not the run's lr %g halved at each of "
                        "its %d restores (%g)", path, h->lr, c->lr, (int)h->restores, lr);
    if (h->draws > (uint64_t)h->step + 1)
        return ebm_fail(err, EBM_ERR_FORMAT, "%s: the checkpoint's buffer draws = %llu is out of range: expected "
                        "0..%lld (step + 1)", path, (unsigned long long)h->draws, (long long)h->step + 1);
    const double a0 = c->sampler.lv.step_size, a = h->alpha;
    const int adapts = c->sampler.kind != EBM_SAMPLER_LANGEVIN;
    if (!(isfinite(a) && a > 0) || (!adapts && a != a0) ||
        (adapts && !(a >= a0 / CKPT_ALPHA_DRIFT && a <= a0 * CKPT_ALPHA_DRIFT)))
        return ebm_fail(err, EBM_ERR_FORMAT, "%s: the checkpoint's sampler step size alpha = %g is out of range: "
                        "expected %s %g", path, a, adapts ? "a value within a factor 2^40 of" : "the run's", a0);
    return EBM_OK;
}

/* 5: index of the first value of v[n] that is not finite (or negative, with
 * nonneg), else -1. */
static int64_t first_bad(const float *v, int64_t n, int nonneg)
{
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(v[i]) || (nonneg && v[i] < 0))
            return i;
    return -1;
}

/* A weights-sized array: only the parameters' floats count (the alignment
 * padding between and after them is not model data). */
static ebm_status check_weights(const ebm_trainer *t, const ckpt_in *in, const char *what, const float *v,
                                int nonneg, ebm_error *err)
{
    for (int k = 0; k < t->d->n_params; k++) {
        const ebm_abi_param *p = &t->d->params[k];
        int64_t i = first_bad(v + p->offset, p->numel, nonneg);
        if (i >= 0)
            return ebm_fail(err, EBM_ERR_NUMERIC, "%s: the checkpoint's %s hold %g at %s[%lld]: expected a finite "
                            "value%s", in->path, what, (double)v[p->offset + i], p->name, (long long)i,
                            nonneg ? " >= 0" : "");
    }
    return EBM_OK;
}

static ebm_status check_arrays(const ebm_trainer *t, const ckpt_in *in, ebm_error *err)
{
    ebm_status st;
    if ((st = check_weights(t, in, "parameters", in->w, 0, err)) ||
        (st = check_weights(t, in, "Adam first moments", in->m, 0, err)) ||
        (st = check_weights(t, in, "Adam second moments", in->v, 1, err)) ||
        (t->ema && (st = check_weights(t, in, "EMA parameters", in->ema, 0, err))))
        return st;
    int64_t i = first_bad(in->samples, in->h.count * t->numel, 0);
    if (i >= 0)
        return ebm_fail(err, EBM_ERR_NUMERIC, "%s: the checkpoint's buffer samples hold %g at sample %lld, value "
                        "%lld: expected a finite value", in->path, (double)in->samples[i], (long long)(i / t->numel),
                        (long long)(i % t->numel));
    return EBM_OK;
}

/* Reads and checks all of the file into in. */
static ebm_status ckpt_read(const ebm_trainer *t, ckpt_in *in, ebm_error *err)
{
    const char *path = in->path;
    ckpt_header *h = &in->h;
    /* magic and version first: older headers are shorter */
    ebm_status st = read_part(in, h, 16, err);
    if (st)
        return st;
    if (memcmp(h->magic, CKPT_MAGIC, 8) != 0)
        return ebm_fail(err, EBM_ERR_FORMAT, "%s: not an ebm training checkpoint (no %s magic)", path, CKPT_MAGIC);
    if (h->version < CKPT_VERSION)
        return ebm_fail(err, EBM_ERR_FORMAT, "%s: checkpoint version %u, from an older libebm; this one reads "
                        "version %u only (older checkpoints do not record the run's settings): start the run "
                        "again, or finish it with the ebm that wrote the checkpoint", path, (unsigned)h->version,
                        CKPT_VERSION);
    if (h->version != CKPT_VERSION)
        return ebm_fail(err, EBM_ERR_FORMAT, "%s: checkpoint version %u, this libebm reads version %u", path,
                        (unsigned)h->version, CKPT_VERSION);
    if ((st = read_part(in, (char *)h + 16, sizeof *h - 16, err)) || (st = check_layout(t, in, err)) ||
        (st = read_part(in, in->settings, (size_t)h->n_settings * sizeof in->settings[0], err)))
        return st;
    const size_t wb = (size_t)t->wn * sizeof(float);
    in->w = ebm__falloc(t->wn);
    in->m = ebm__falloc(t->wn);
    in->v = ebm__falloc(t->wn);
    in->ema = ebm__falloc(h->has_ema ? t->wn : 0);
    in->samples = ebm__falloc(h->count * t->numel);
    if (!in->w || !in->m || !in->v || !in->ema || !in->samples)
        return ebm_fail(err, EBM_ERR_NOMEM, "%s: out of memory reading the checkpoint", path);
    if ((st = read_part(in, in->w, wb, err)) || (st = read_part(in, in->m, wb, err)) ||
        (st = read_part(in, in->v, wb, err)) || (st = read_part(in, in->ema, h->has_ema ? wb : 0, err)) ||
        (st = read_part(in, in->samples, (size_t)(h->count * t->numel) * sizeof(float), err)))
        return st;
    const uint64_t sum = in->sum;
    uint64_t stored = 0;
    if ((st = read_part(in, &stored, sizeof stored, err)))
        return st;
    if (stored != sum || fgetc(in->f) != EOF)
        return ebm_fail(err, EBM_ERR_FORMAT, "%s: the checkpoint is damaged (checksum mismatch)", path);
    if ((st = check_settings(t, in, err)) || (st = check_fields(t, in, err)))
        return st;
    return check_arrays(t, in, err);
}

ebm_status ebm_trainer_load(ebm_trainer *t, const char *path, ebm_error *err)
{
    ckpt_in in;
    memset(&in, 0, sizeof in);
    in.path = path;
    in.sum = FNV_INIT;
    in.f = fopen(path, "rb");
    if (!in.f)
        return ebm_fail(err, EBM_ERR_IO, "%s: cannot open the checkpoint: %s", path, strerror(errno));
    ebm_status st = ckpt_read(t, &in, err);
    ebm_buffer *nb = NULL;
    if (!st)
        st = ebm_buffer_new(ebm_buffer_capacity(t->buf), t->numel, &nb, err);
    if (!st)
        st = ebm_buffer_push(nb, in.samples, in.h.count, err);
    if (!st)   /* several ranks: each keeps its own slots of the whole buffer */
        st = ebm_buffer_shard(nb, t->B, t->comm.rank, t->comm.size, err);
    if (!st) {
        const size_t wb = (size_t)t->wn * sizeof(float);
        memcpy(t->w, in.w, wb);
        memcpy(t->adam_m, in.m, wb);
        memcpy(t->adam_v, in.v, wb);
        if (t->ema)
            memcpy(t->ema, in.ema, wb);
        ebm_buffer_set_draws(nb, in.h.draws);
        ebm_buffer_free(t->buf);
        t->buf = nb;
        nb = NULL;
        t->step = in.h.step;
        t->lr = in.h.lr;
        t->restores = in.h.restores;
        t->alpha = in.h.alpha;
        st = ebm__snapshot_take(t, err);
    }
    ebm_buffer_free(nb);
    ckpt_in_free(&in);
    return st;
}
