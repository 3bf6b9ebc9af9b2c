/* test_runtime.c — libebm (runtime/model.c, runtime/run.c) against the
 * hand-written fake compiled model of tests/data/runtime/quadratic_model.c:
 *
 *     E(x) = 1/2 inv_var ||x - center||^2 on samples of shape [2, 2],
 *
 * whose energy, score (-inv_var (x - center)) and parameter gradient
 * (dE/dinv_var = 1/2 ||x - center||^2, dE/dcenter = -inv_var (x - center))
 * are known in closed form, and whose Langevin chain without noise is
 * x_K = center + (x_0 - center) (1 - step inv_var / T)^K.  The fused Langevin
 * program is also checked against a step-by-step loop written here with the
 * score program and ebm_philox.h.  The fake counts how often it is called and
 * every broken ABI promise (n > tile, unaligned buffers, ...); those counts are
 * asserted too. */
#include <check.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ebm.h"
#include "ebm_philox.h"
#include "runtime_fake.h"
#include "testutil.h"

#define NUMEL FAKE_NUMEL

static float *alloc_f(int64_t n)
{
    float *p = calloc((size_t)(n > 0 ? n : 1), sizeof(float));
    ck_assert_ptr_nonnull(p);
    return p;
}

static ebm_ctx *ctx_of(ebm_model *m, int64_t capacity)
{
    ebm_ctx *c = NULL;
    ebm_error err = {0};
    ck_assert_msg(ebm_ctx_new(m, capacity, &c, &err) == EBM_OK, "%s", err.msg);
    return c;
}

/* Moves the model off its initial parameters so a test cannot pass by
 * accident with inv_var = 1 and center = 0. */
static const float test_center[NUMEL] = {0.25f, -0.5f, 0.125f, 0.0f};
static const float test_inv_var = 2.5f;

static void set_params(ebm_model *m, float inv_var, const float *center)
{
    const ebm_abi_model *d = ebm_model_desc(m);
    float *w = ebm_model_weights(m);
    w[d->params[FAKE_INV_VAR].offset] = inv_var;
    memcpy(w + d->params[FAKE_CENTER].offset, center, NUMEL * sizeof(float));
}

static double analytic_energy(const float *x, double inv_var, const float *center)
{
    double s = 0;
    for (int j = 0; j < NUMEL; j++)
        s += ((double)x[j] - center[j]) * ((double)x[j] - center[j]);
    return 0.5 * inv_var * s;
}

static void expect_clean(const char *name)
{
    ck_assert_int_eq(fake_counter(name, "quad_contract_violations"), 0);
}

/* ---- loading, descriptor, parameters, metadata ------------------------------------------ */

START_TEST(test_open_describes_model)
{
    ebm_model *m = fake_open("quadratic");
    const ebm_abi_model *d = ebm_model_desc(m);
    ck_assert_int_eq(d->input_rank, 3);
    ck_assert_int_eq(d->input_shape[1], 2);
    ck_assert_int_eq(ebm_model_sample_numel(m), NUMEL);
    ck_assert_int_eq(d->tile, FAKE_TILE);
    ck_assert_str_eq(d->energy_head, "output");
    ck_assert_int_eq(ebm_model_param_index(m, "inv_var"), FAKE_INV_VAR);
    ck_assert_int_eq(ebm_model_param_index(m, "center"), FAKE_CENTER);
    ck_assert_int_eq(ebm_model_param_index(m, "nope"), -1);
    ck_assert_int_eq(ebm_model_param_index(m, NULL), -1);
    ck_assert_str_eq(ebm_model_meta(m, "ebm.sampler.steps"), "5");
    ck_assert_ptr_null(ebm_model_meta(m, "ebm.sampler.nope"));
    /* Our own aligned copy of the initial weights: inv_var = 1, center = 0. */
    float *w = ebm_model_weights(m);
    ck_assert_uint_eq((uintptr_t)w % EBM_ABI_ALIGN, 0);
    ck_assert_float_eq(w[0], 1.0f);
    for (int j = 0; j < NUMEL; j++)
        ck_assert_float_eq(w[d->params[FAKE_CENTER].offset + j], 0.0f);
    ck_assert_ptr_ne(w, d->weights);
    ebm_model_close(m);
}
END_TEST

/* Metadata given at open replaces the compiled table, in ebm_model_meta and
 * in the descriptor, and can be replaced again; programs stay as compiled. */
START_TEST(test_set_meta_replaces_compiled)
{
    ebm_model *m = fake_open("quadratic");
    const ebm_abi_program *prog = ebm_model_desc(m)->programs;
    ebm_error err = {0};
    char key[] = "ebm.sampler.steps", val[] = "7";
    const char *keys[2] = {key, "other"}, *vals[2] = {val, ""};
    ck_assert_int_eq(ebm_model_set_meta(m, 2, keys, vals, &err), EBM_OK);
    key[0] = val[0] = 'X';   /* copied, not borrowed */
    ck_assert_str_eq(ebm_model_meta(m, "ebm.sampler.steps"), "7");
    ck_assert_str_eq(ebm_model_meta(m, "other"), "");
    ck_assert_int_eq(ebm_model_desc(m)->n_meta, 2);
    ck_assert_str_eq(ebm_model_desc(m)->meta[1].key, "other");
    ck_assert_ptr_eq(ebm_model_desc(m)->programs, prog);
    ck_assert_int_eq(ebm_model_set_meta(m, 0, NULL, NULL, &err), EBM_OK);
    ck_assert_ptr_null(ebm_model_meta(m, "ebm.sampler.steps"));
    const char *nokey[1] = {NULL};
    ck_assert_int_eq(ebm_model_set_meta(m, 1, nokey, vals, &err), EBM_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.msg, "entry 0"));
    ck_assert_int_eq(ebm_model_desc(m)->n_meta, 0);   /* unchanged by the refusal */
    ebm_model_close(m);
}
END_TEST

START_TEST(test_weights_per_model)
{
    /* Two opens of one file share the code, not the parameters. */
    ebm_model *a = fake_open("quadratic"), *b = fake_open("quadratic");
    ebm_model_weights(a)[0] = 4.0f;
    ck_assert_float_eq(ebm_model_weights(b)[0], 1.0f);
    ebm_ctx *ca = ctx_of(a, 1), *cb = ctx_of(b, 1);
    float x[NUMEL] = {1, 1, 1, 1}, ea, eb;
    ck_assert_int_eq(ebm_energy(ca, x, 1, &ea, NULL), EBM_OK);
    ck_assert_int_eq(ebm_energy(cb, x, 1, &eb, NULL), EBM_OK);
    ck_assert_float_eq(ea, 8.0f);   /* 1/2 * 4 * 4 */
    ck_assert_float_eq(eb, 2.0f);
    ebm_ctx_free(ca);
    ebm_ctx_free(cb);
    ebm_model_close(a);
    ebm_model_close(b);
}
END_TEST

/* Found by the Python package's tests: the second open of one file adds its
 * name to the object already loaded, and descriptor numbers are reused, so a
 * name like /proc/self/fd/N made the loader hand back the first model for
 * another file (refused as "the loader resolves ... not to the descriptor
 * checked in the file").  Every open now loads under a name never used. */
START_TEST(test_reopen_after_close_gets_its_own_file)
{
    for (int round = 0; round < 3; round++) {
        ebm_model *a = fake_open("quadratic"), *b = fake_open("quadratic");
        ck_assert_int_eq(ebm_model_desc(b)->tile, FAKE_TILE);
        ebm_model_close(b);
        ebm_model *c = fake_open("quadratic_tile5");   /* takes b's descriptor number */
        ck_assert_int_eq(ebm_model_desc(c)->tile, 5);
        ck_assert_int_eq(ebm_model_desc(a)->tile, FAKE_TILE);
        ebm_model_close(c);
        ebm_model_close(a);
    }
}
END_TEST

START_TEST(test_langevin_defaults)
{
    /* DESIGN.md: step 0.01, noise 0.005, clip 0.03, T = 1, clamp [-1, 1]; ebm.h: 60 steps. */
    ebm_langevin_params p = ebm_langevin_defaults();
    ck_assert_int_eq(p.steps, 60);
    ck_assert_float_eq(p.step_size, 0.01f);
    ck_assert_float_eq(p.noise_scale, 0.005f);
    ck_assert_float_eq(p.grad_clip, 0.03f);
    ck_assert_float_eq(p.temperature, 1.0f);
    ck_assert_int_eq(p.clamp, 1);
    ck_assert_float_eq(p.lo, -1.0f);
    ck_assert_float_eq(p.hi, 1.0f);
    ck_assert_int_eq(p.trajectory_every, 0);
    ck_assert_uint_eq(p.seed, 0);
    ck_assert_uint_eq(p.step_offset, 0);
}
END_TEST

/* ---- energy, score, parameter gradient --------------------------------------------------- */

START_TEST(test_energy_score_analytic)
{
    const int64_t n = 37;   /* 3 tiles of 16, the last partial */
    ebm_model *m = fake_open("quadratic");
    set_params(m, test_inv_var, test_center);
    ebm_ctx *c = ctx_of(m, n);
    float *x = alloc_f(n * NUMEL), *e = alloc_f(n), *e2 = alloc_f(n), *s = alloc_f(n * NUMEL);
    double *want_e = calloc((size_t)n, sizeof(double)), *want_s = calloc((size_t)(n * NUMEL), sizeof(double));
    tu_fill_uniform_f32(x, (size_t)(n * NUMEL), 7, -2, 2);
    for (int64_t i = 0; i < n; i++) {
        want_e[i] = analytic_energy(x + i * NUMEL, test_inv_var, test_center);
        for (int j = 0; j < NUMEL; j++)
            want_s[i * NUMEL + j] = -(double)test_inv_var * ((double)x[i * NUMEL + j] - test_center[j]);
    }
    long calls0 = fake_counter("quadratic", "quad_calls");
    ebm_error err = {0};
    ck_assert_msg(ebm_energy(c, x, n, e, &err) == EBM_OK, "%s", err.msg);
    ck_assert_int_eq(fake_counter("quadratic", "quad_calls") - calls0, 3);
    ck_assert_msg(ebm_score(c, x, n, e2, s, &err) == EBM_OK, "%s", err.msg);
    ck_assert_double_le(tu_rel_err_f32(e, want_e, (size_t)n), 1e-6);
    ck_assert_double_le(tu_rel_err_f32(e2, want_e, (size_t)n), 1e-6);
    ck_assert_double_le(tu_rel_err_f32(s, want_s, (size_t)(n * NUMEL)), 1e-6);
    ck_assert_int_eq(fake_counter("quadratic", "quad_max_n"), FAKE_TILE);
    expect_clean("quadratic");
    free(x), free(e), free(e2), free(s), free(want_e), free(want_s);
    ebm_ctx_free(c);
    ebm_model_close(m);
}
END_TEST

START_TEST(test_param_grad_analytic)
{
    const int64_t n = 41;
    ebm_model *m = fake_open("quadratic");
    set_params(m, test_inv_var, test_center);
    const ebm_abi_model *d = ebm_model_desc(m);
    ebm_ctx *c = ctx_of(m, n);
    float *x = alloc_f(n * NUMEL), *w = alloc_f(n), *e = alloc_f(n), *g = alloc_f(d->weights_numel);
    tu_fill_uniform_f32(x, (size_t)(n * NUMEL), 11, -1.5, 1.5);
    tu_fill_uniform_f32(w, (size_t)n, 12, -1, 1);
    double want_inv = 0, want_center[NUMEL] = {0};
    for (int64_t i = 0; i < n; i++) {
        want_inv += w[i] * analytic_energy(x + i * NUMEL, 1.0, test_center);
        for (int j = 0; j < NUMEL; j++)
            want_center[j] += w[i] * -(double)test_inv_var * ((double)x[i * NUMEL + j] - test_center[j]);
    }
    for (int64_t k = 0; k < d->weights_numel; k++)
        g[k] = NAN;   /* overwritten, not accumulated into */
    ebm_error err = {0};
    for (int rep = 0; rep < 2; rep++) {   /* twice: nothing carries over between calls */
        ck_assert_msg(ebm_param_grad(c, x, w, n, e, g, &err) == EBM_OK, "%s", err.msg);
        ck_assert_double_le(tu_rel_err_f32(&g[d->params[FAKE_INV_VAR].offset], &want_inv, 1), 1e-5);
        ck_assert_double_le(tu_rel_err_f32(&g[d->params[FAKE_CENTER].offset], want_center, NUMEL), 1e-5);
    }
    for (int64_t i = 0; i < n; i++)
        ck_assert_double_le(fabs(e[i] - analytic_energy(x + i * NUMEL, test_inv_var, test_center)),
                            1e-6 * (1 + fabs(e[i])));
    /* energy may be NULL; n = 0 gives the empty sum */
    ck_assert_msg(ebm_param_grad(c, x, w, n, NULL, g, &err) == EBM_OK, "%s", err.msg);
    ck_assert_double_le(tu_rel_err_f32(&g[d->params[FAKE_INV_VAR].offset], &want_inv, 1), 1e-5);
    ck_assert_int_eq(ebm_param_grad(c, NULL, NULL, 0, NULL, g, &err), EBM_OK);
    for (int64_t k = 0; k < d->weights_numel; k++)
        ck_assert_float_eq(g[k], 0.0f);
    expect_clean("quadratic");
    free(x), free(w), free(e), free(g);
    ebm_ctx_free(c);
    ebm_model_close(m);
}
END_TEST

/* The sum over a batch must not depend on how it is cut into tiles (up to
 * float rounding: the per-tile partial sums are added in tile order). */
START_TEST(test_param_grad_tile_split)
{
    const int64_t n = 100;
    const char *names[] = {"quadratic", "quadratic_tile5", "quadratic_tile1"};
    float g[3][32];
    float *x = alloc_f(n * NUMEL), *w = alloc_f(n);
    tu_fill_uniform_f32(x, (size_t)(n * NUMEL), 21, -1, 1);
    tu_fill_uniform_f32(w, (size_t)n, 22, 0, 1);
    for (int k = 0; k < 3; k++) {
        ebm_model *m = fake_open(names[k]);
        ebm_ctx *c = ctx_of(m, n);
        ebm_error err = {0};
        ck_assert_msg(ebm_param_grad(c, x, w, n, NULL, g[k], &err) == EBM_OK, "%s", err.msg);
        expect_clean(names[k]);
        ebm_ctx_free(c);
        ebm_model_close(m);
    }
    for (int k = 1; k < 3; k++)
        for (int j = 0; j < 20; j++)
            ck_assert_double_le(fabs(g[k][j] - g[0][j]), 1e-5 * (1 + fabs(g[0][j])));
    free(x), free(w);
}
END_TEST

/* ---- Langevin --------------------------------------------------------------------------------- */

/* DESIGN.md's update written out independently: K steps of
 *   x <- clamp(x - a clip(-score, +-c) / T + s eps, lo, hi)
 * (the clip on dE/dx itself, before the temperature divides it),
 * the score from the score program, eps from ebm_philox.h keyed by (seed,
 * sample, step_offset + t); then the final energies. */
static void reference_langevin(ebm_ctx *c, float *x, int64_t n, const ebm_langevin_params *p, float *energy)
{
    float *e = alloc_f(n), *s = alloc_f(n * NUMEL), eps[NUMEL];
    ebm_error err = {0};
    for (int32_t t = 0; t < p->steps; t++) {
        ck_assert_msg(ebm_score(c, x, n, e, s, &err) == EBM_OK, "%s", err.msg);
        for (int64_t i = 0; i < n; i++) {
            ebm_philox_normals(p->seed, (uint64_t)i, p->step_offset + (uint64_t)t, eps, NUMEL);
            for (int j = 0; j < NUMEL; j++) {
                float g = -s[i * NUMEL + j];
                if (p->grad_clip > 0)
                    g = fminf(fmaxf(g, -p->grad_clip), p->grad_clip);
                g /= p->temperature;
                float v = x[i * NUMEL + j] - p->step_size * g + p->noise_scale * eps[j];
                if (p->clamp)
                    v = fminf(fmaxf(v, p->lo), p->hi);
                x[i * NUMEL + j] = v;
            }
        }
    }
    ck_assert_msg(ebm_energy(c, x, n, energy, &err) == EBM_OK, "%s", err.msg);
    free(e), free(s);
}

static double max_abs_diff(const float *a, const float *b, int64_t n)
{
    double d = 0;
    for (int64_t i = 0; i < n; i++)
        d = fmax(d, fabs((double)a[i] - b[i]));
    return d;
}

START_TEST(test_langevin_noiseless_analytic)
{
    const int64_t n = 20;
    ebm_model *m = fake_open("quadratic");
    set_params(m, test_inv_var, test_center);
    ebm_ctx *c = ctx_of(m, n);
    float *x = alloc_f(n * NUMEL), *x0 = alloc_f(n * NUMEL), *e = alloc_f(n);
    tu_fill_uniform_f32(x0, (size_t)(n * NUMEL), 31, -3, 3);
    memcpy(x, x0, (size_t)(n * NUMEL) * sizeof(float));
    ebm_langevin_params p = ebm_langevin_defaults();
    p.steps = 25, p.step_size = 0.05f, p.noise_scale = 0, p.grad_clip = 0, p.clamp = 0, p.temperature = 2.0f;
    ebm_error err = {0};
    ck_assert_msg(ebm_langevin(c, x, n, &p, e, NULL, &err) == EBM_OK, "%s", err.msg);
    const double factor = pow(1.0 - 0.05 * 2.5 / 2.0, 25);
    for (int64_t i = 0; i < n; i++) {
        float want[NUMEL];
        for (int j = 0; j < NUMEL; j++) {
            double v = test_center[j] + ((double)x0[i * NUMEL + j] - test_center[j]) * factor;
            want[j] = (float)v;
            ck_assert_double_le(fabs(x[i * NUMEL + j] - v), 1e-5);
        }
        ck_assert_double_le(fabs(e[i] - analytic_energy(want, test_inv_var, test_center)), 1e-5);
    }
    expect_clean("quadratic");
    free(x), free(x0), free(e);
    ebm_ctx_free(c);
    ebm_model_close(m);
}
END_TEST

START_TEST(test_langevin_matches_step_loop)
{
    const int32_t steps[] = {1, 7, 60};
    const int64_t n = 37;
    ebm_model *m = fake_open("quadratic");
    set_params(m, test_inv_var, test_center);
    ebm_ctx *c = ctx_of(m, n);
    float *x = alloc_f(n * NUMEL), *r = alloc_f(n * NUMEL), *e = alloc_f(n), *re = alloc_f(n);
    for (int k = 0; k < 3; k++) {
        ebm_langevin_params p = ebm_langevin_defaults();
        p.steps = steps[k], p.step_size = 0.1f, p.noise_scale = 0.05f, p.grad_clip = 0.3f;
        p.temperature = 0.7f, p.seed = 0x1234567890abcdefull, p.step_offset = 3;
        tu_fill_uniform_f32(x, (size_t)(n * NUMEL), 40 + (uint64_t)k, -1, 1);
        memcpy(r, x, (size_t)(n * NUMEL) * sizeof(float));
        ebm_error err = {0};
        ck_assert_msg(ebm_langevin(c, x, n, &p, e, NULL, &err) == EBM_OK, "%s", err.msg);
        reference_langevin(c, r, n, &p, re);
        ck_assert_double_le(max_abs_diff(x, r, n * NUMEL), 1e-6);
        ck_assert_double_le(max_abs_diff(e, re, n), 1e-6);
        /* the clamp range holds and the chain moved */
        for (int64_t i = 0; i < n * NUMEL; i++)
            ck_assert(x[i] >= -1.0f && x[i] <= 1.0f);
    }
    expect_clean("quadratic");
    free(x), free(r), free(e), free(re);
    ebm_ctx_free(c);
    ebm_model_close(m);
}
END_TEST

/* A noisy, clipped, clamped chain of n samples starting from a fixed state. */
static void chain(const char *model, int64_t n, int64_t capacity, int32_t steps, float *x, float *e)
{
    ebm_model *m = fake_open(model);
    set_params(m, test_inv_var, test_center);
    ebm_ctx *c = ctx_of(m, capacity);
    tu_fill_uniform_f32(x, (size_t)(n * NUMEL), 77, -1, 1);
    ebm_langevin_params p = ebm_langevin_defaults();
    p.steps = steps, p.step_size = 0.05f, p.noise_scale = 0.1f, p.seed = 99;
    ebm_error err = {0};
    ck_assert_msg(ebm_langevin(c, x, n, &p, e, NULL, &err) == EBM_OK, "%s", err.msg);
    expect_clean(model);
    ebm_ctx_free(c);
    ebm_model_close(m);
}

START_TEST(test_batch_invariance)
{
    /* Same seed, same per-sample results whatever N, tile size and capacity. */
    const int64_t big = 1000;
    float *rx = alloc_f(big * NUMEL), *re = alloc_f(big), *x = alloc_f(big * NUMEL), *e = alloc_f(big);
    chain("quadratic", big, big, 30, rx, re);
    const int64_t ns[] = {1, 3, 64, 1000};
    const char *models[] = {"quadratic", "quadratic_tile5", "quadratic_tile1"};
    for (int mi = 0; mi < 3; mi++)
        for (int k = 0; k < 4; k++) {
            chain(models[mi], ns[k], ns[k] + mi, 30, x, e);
            ck_assert_msg(memcmp(x, rx, (size_t)(ns[k] * NUMEL) * sizeof(float)) == 0, "%s N=%lld: states differ",
                          models[mi], (long long)ns[k]);
            ck_assert_msg(memcmp(e, re, (size_t)ns[k] * sizeof(float)) == 0, "%s N=%lld: energies differ",
                          models[mi], (long long)ns[k]);
        }
    /* The first tile's samples must have moved: a chain that did nothing would pass the above. */
    float x0[NUMEL];
    tu_fill_uniform_f32(x0, NUMEL, 77, -1, 1);
    ck_assert(memcmp(x0, rx, sizeof x0) != 0);
    free(rx), free(re), free(x), free(e);
}
END_TEST

START_TEST(test_energy_batch_invariance_unaligned)
{
    /* Callers' arrays at odd addresses go through the context's aligned
     * staging buffers (the fake counts any unaligned pointer it is given). */
    const int64_t n = 53;
    ebm_model *m = fake_open("quadratic_tile5");
    set_params(m, test_inv_var, test_center);
    ebm_ctx *c = ctx_of(m, n);
    float *xa = alloc_f(n * NUMEL + 1), *ea = alloc_f(n + 1), *sa = alloc_f(n * NUMEL + 1);
    float *xb = alloc_f(n * NUMEL), *eb = alloc_f(n), *sb = alloc_f(n * NUMEL);
    tu_fill_uniform_f32(xb, (size_t)(n * NUMEL), 5, -1, 1);
    memcpy(xa + 1, xb, (size_t)(n * NUMEL) * sizeof(float));
    ebm_error err = {0};
    ck_assert_msg(ebm_score(c, xa + 1, n, ea + 1, sa + 1, &err) == EBM_OK, "%s", err.msg);
    for (int64_t k = 1; k <= n; k++) {   /* every prefix, one call each */
        ck_assert_msg(ebm_score(c, xb, k, eb, sb, &err) == EBM_OK, "%s", err.msg);
        ck_assert_int_eq(memcmp(ea + 1, eb, (size_t)k * sizeof(float)), 0);
        ck_assert_int_eq(memcmp(sa + 1, sb, (size_t)(k * NUMEL) * sizeof(float)), 0);
    }
    for (int64_t i = 0; i < n; i++)
        ck_assert_double_le(fabs(eb[i] - analytic_energy(xb + i * NUMEL, test_inv_var, test_center)), 1e-5);
    /* Langevin in place on an unaligned array, against an aligned one */
    ebm_langevin_params p = ebm_langevin_defaults();
    p.steps = 9;
    ck_assert_msg(ebm_langevin(c, xa + 1, n, &p, ea + 1, NULL, &err) == EBM_OK, "%s", err.msg);
    ck_assert_msg(ebm_langevin(c, xb, n, &p, eb, NULL, &err) == EBM_OK, "%s", err.msg);
    ck_assert_int_eq(memcmp(xa + 1, xb, (size_t)(n * NUMEL) * sizeof(float)), 0);
    ck_assert_int_eq(memcmp(ea + 1, eb, (size_t)n * sizeof(float)), 0);
    expect_clean("quadratic_tile5");
    free(xa), free(ea), free(sa), free(xb), free(eb), free(sb);
    ebm_ctx_free(c);
    ebm_model_close(m);
}
END_TEST

START_TEST(test_trajectory)
{
    const int64_t n = 21;   /* tiles of 5: the frame stride is the whole batch, not the tile */
    const int32_t steps = 10, every = 3, frames = 1 + steps / every;
    ebm_model *m = fake_open("quadratic_tile5");
    set_params(m, test_inv_var, test_center);
    ebm_ctx *c = ctx_of(m, n);
    float *x0 = alloc_f(n * NUMEL), *x = alloc_f(n * NUMEL), *traj = alloc_f(frames * n * NUMEL);
    float *y = alloc_f(n * NUMEL);
    tu_fill_uniform_f32(x0, (size_t)(n * NUMEL), 3, -1, 1);
    memcpy(x, x0, (size_t)(n * NUMEL) * sizeof(float));
    ebm_langevin_params p = ebm_langevin_defaults();
    p.steps = steps, p.trajectory_every = every, p.noise_scale = 0.05f, p.seed = 5;
    ebm_error err = {0};
    ck_assert_msg(ebm_langevin(c, x, n, &p, NULL, traj, &err) == EBM_OK, "%s", err.msg);
    ck_assert_int_eq(memcmp(traj, x0, (size_t)(n * NUMEL) * sizeof(float)), 0);
    for (int f = 1; f < frames; f++) {
        /* frame f is the state after f * every steps: run that many from x0 */
        memcpy(y, x0, (size_t)(n * NUMEL) * sizeof(float));
        ebm_langevin_params q = p;
        q.steps = f * every, q.trajectory_every = 0;
        ck_assert_msg(ebm_langevin(c, y, n, &q, NULL, NULL, &err) == EBM_OK, "%s", err.msg);
        ck_assert_msg(memcmp(traj + f * n * NUMEL, y, (size_t)(n * NUMEL) * sizeof(float)) == 0, "frame %d", f);
    }
    /* a resumed chain (step_offset) continues the same stream: 6 + 4 steps = 10 steps */
    memcpy(y, x0, (size_t)(n * NUMEL) * sizeof(float));
    ebm_langevin_params q = p;
    q.trajectory_every = 0, q.steps = 6;
    ck_assert_int_eq(ebm_langevin(c, y, n, &q, NULL, NULL, &err), EBM_OK);
    q.steps = 4, q.step_offset = 6;
    ck_assert_int_eq(ebm_langevin(c, y, n, &q, NULL, NULL, &err), EBM_OK);
    ck_assert_int_eq(memcmp(x, y, (size_t)(n * NUMEL) * sizeof(float)), 0);
    expect_clean("quadratic_tile5");
    free(x0), free(x), free(traj), free(y);
    ebm_ctx_free(c);
    ebm_model_close(m);
}
END_TEST

/* ---- threads ------------------------------------------------------------------------------------ */

typedef struct thread_job {
    ebm_model *m;
    float x[64 * NUMEL];
    ebm_status st;
} thread_job;

static void *thread_run(void *arg)
{
    thread_job *j = arg;
    ebm_ctx *c = NULL;
    j->st = ebm_ctx_new(j->m, 64, &c, NULL);
    ebm_langevin_params p = ebm_langevin_defaults();
    p.steps = 200, p.noise_scale = 0.2f, p.seed = 8;
    for (int rep = 0; rep < 5 && !j->st; rep++) {
        tu_fill_uniform_f32(j->x, 64 * NUMEL, 1, -1, 1);
        j->st = ebm_langevin(c, j->x, 64, &p, NULL, NULL, NULL);
    }
    ebm_ctx_free(c);
    return NULL;
}

START_TEST(test_threads_share_model)
{
    /* ebm.h: a model is shared, a context per thread; results do not depend on the thread. */
    enum { T = 4 };
    ebm_model *m = fake_open("quadratic_tile5");
    static thread_job jobs[T + 1];
    pthread_t th[T];
    jobs[T].m = m;
    thread_run(&jobs[T]);
    ck_assert_int_eq(jobs[T].st, EBM_OK);
    for (int t = 0; t < T; t++) {
        jobs[t].m = m;
        ck_assert_int_eq(pthread_create(&th[t], NULL, thread_run, &jobs[t]), 0);
    }
    for (int t = 0; t < T; t++) {
        ck_assert_int_eq(pthread_join(th[t], NULL), 0);
        ck_assert_int_eq(jobs[t].st, EBM_OK);
        ck_assert_int_eq(memcmp(jobs[t].x, jobs[T].x, sizeof jobs[T].x), 0);
    }
    expect_clean("quadratic_tile5");
    ebm_model_close(m);
}
END_TEST

/* ---- bad arguments ------------------------------------------------------------------------------ */

static void expect_err(ebm_status got, ebm_status want, const ebm_error *err, const char *needle)
{
    ck_assert_msg(got == want, "status %s, expected %s (%s)", ebm_status_name(got), ebm_status_name(want),
                  err->msg);
    ck_assert_msg(strstr(err->msg, needle) != NULL, "message '%s' does not mention '%s'", err->msg, needle);
}

START_TEST(test_argument_errors)
{
    ebm_model *m = fake_open("quadratic");
    ebm_ctx *c = ctx_of(m, 8);
    float x[9 * NUMEL] = {0}, e[9], s[9 * NUMEL], w[9] = {0}, g[32], traj[64 * NUMEL];
    ebm_error err = {0};
    ebm_ctx *none = NULL;
    expect_err(ebm_ctx_new(m, 0, &none, &err), EBM_ERR_INVALID, &err, "capacity = 0");
    ck_assert_ptr_null(none);
    expect_err(ebm_ctx_new(NULL, 4, &none, &err), EBM_ERR_INVALID, &err, "model is NULL");
    expect_err(ebm_energy(NULL, x, 1, e, &err), EBM_ERR_INVALID, &err, "context is NULL");
    expect_err(ebm_energy(c, x, -1, e, &err), EBM_ERR_INVALID, &err, "n = -1");
    expect_err(ebm_energy(c, x, 9, e, &err), EBM_ERR_INVALID, &err, "capacity of 8");
    expect_err(ebm_energy(c, NULL, 2, e, &err), EBM_ERR_INVALID, &err, "x is NULL");
    expect_err(ebm_energy(c, x, 2, NULL, &err), EBM_ERR_INVALID, &err, "energy is NULL");
    expect_err(ebm_score(c, x, 2, e, NULL, &err), EBM_ERR_INVALID, &err, "score is NULL");
    expect_err(ebm_score(c, x, 2, e, x, &err), EBM_ERR_INVALID, &err, "alias");
    expect_err(ebm_param_grad(c, x, NULL, 2, e, g, &err), EBM_ERR_INVALID, &err, "w is NULL");
    expect_err(ebm_param_grad(c, x, w, 2, e, NULL, &err), EBM_ERR_INVALID, &err, "grad is NULL");
    expect_err(ebm_langevin(c, x, 2, NULL, e, NULL, &err), EBM_ERR_INVALID, &err, "params is NULL");

    ebm_langevin_params p0 = ebm_langevin_defaults(), p;
    p = p0, p.steps = -1;
    expect_err(ebm_langevin(c, x, 2, &p, e, NULL, &err), EBM_ERR_INVALID, &err, "expected steps >= 0");
    p = p0, p.step_size = 0;
    expect_err(ebm_langevin(c, x, 2, &p, e, NULL, &err), EBM_ERR_INVALID, &err, "expected step_size > 0");
    p = p0, p.step_size = NAN;
    expect_err(ebm_langevin(c, x, 2, &p, e, NULL, &err), EBM_ERR_INVALID, &err, "expected step_size > 0");
    p = p0, p.noise_scale = -0.1f;
    expect_err(ebm_langevin(c, x, 2, &p, e, NULL, &err), EBM_ERR_INVALID, &err, "expected noise_scale >= 0");
    p = p0, p.grad_clip = -1;
    expect_err(ebm_langevin(c, x, 2, &p, e, NULL, &err), EBM_ERR_INVALID, &err, "expected grad_clip >= 0");
    p = p0, p.temperature = 0;
    expect_err(ebm_langevin(c, x, 2, &p, e, NULL, &err), EBM_ERR_INVALID, &err, "expected temperature > 0");
    p = p0, p.temperature = INFINITY;
    expect_err(ebm_langevin(c, x, 2, &p, e, NULL, &err), EBM_ERR_INVALID, &err, "expected temperature > 0");
    p = p0, p.lo = 1, p.hi = -1;
    expect_err(ebm_langevin(c, x, 2, &p, e, NULL, &err), EBM_ERR_INVALID, &err, "[1, -1]");
    p = p0, p.trajectory_every = -2;
    expect_err(ebm_langevin(c, x, 2, &p, e, NULL, &err), EBM_ERR_INVALID, &err, "trajectory_every >= 0");
    p = p0, p.trajectory_every = 2;
    expect_err(ebm_langevin(c, x, 2, &p, e, NULL, &err), EBM_ERR_INVALID, &err, "trajectory is NULL");
    /* lo > hi is fine when clamping is off */
    p = p0, p.lo = 1, p.hi = -1, p.clamp = 0;
    ck_assert_int_eq(ebm_langevin(c, x, 2, &p, e, traj, &err), EBM_OK);

    /* n = 0: nothing runs, the data pointers may be NULL */
    long calls = fake_counter("quadratic", "quad_calls");
    ck_assert_int_eq(ebm_energy(c, NULL, 0, NULL, &err), EBM_OK);
    ck_assert_int_eq(ebm_score(c, NULL, 0, NULL, NULL, &err), EBM_OK);
    p = p0, p.trajectory_every = 1;
    ck_assert_int_eq(ebm_langevin(c, NULL, 0, &p, NULL, NULL, &err), EBM_OK);
    ck_assert_int_eq(fake_counter("quadratic", "quad_calls"), calls);
    /* ... but the parameters are still checked */
    p = p0, p.steps = -3;
    expect_err(ebm_langevin(c, NULL, 0, &p, NULL, NULL, &err), EBM_ERR_INVALID, &err, "steps = -3");
    /* err may be NULL everywhere */
    ck_assert_int_eq(ebm_energy(c, x, -1, e, NULL), EBM_ERR_INVALID);
    ebm_model *other = NULL;
    ck_assert_int_eq(ebm_model_open("/nonexistent/model.so", &other, NULL), EBM_ERR_IO);
    ck_assert_int_eq(ebm_model_open(NULL, &other, &err), EBM_ERR_INVALID);
    ck_assert_int_eq(ebm_model_open("x.so", NULL, &err), EBM_ERR_INVALID);
    (void)s;
    expect_clean("quadratic");
    ebm_ctx_free(c);
    ebm_model_close(m);
    ebm_ctx_free(NULL);     /* like free(NULL) */
    ebm_model_close(NULL);
}
END_TEST

/* ---- NaN / Inf ------------------------------------------------------------------------------------ */

START_TEST(test_numeric_energy)
{
    const int64_t n = 40;
    ebm_model *m = fake_open("quadratic");
    ebm_ctx *c = ctx_of(m, n);
    float *x = alloc_f(n * NUMEL), *e = alloc_f(n), *s = alloc_f(n * NUMEL), *w = alloc_f(n), g[32];
    x[17 * NUMEL + 2] = NAN;
    x[33 * NUMEL] = INFINITY;
    ebm_error err = {0};
    /* non-finite inputs are named (a model may map them to finite energies); the other samples are still
     * computed, as a sampler scoring proposals needs */
    for (int64_t i = 0; i < n; i++)
        e[i] = -1;
    expect_err(ebm_energy(c, x, n, e, &err), EBM_ERR_NUMERIC, &err,
               "input x not finite (NaN/Inf) for 2 of 40 samples (first: sample 17)");
    ck_assert_float_eq(e[16], 0.0f);
    expect_err(ebm_score(c, x, n, e, s, &err), EBM_ERR_NUMERIC, &err, "input x not finite (NaN/Inf) for 2 of 40");
    for (int64_t i = 0; i < n; i++)
        w[i] = 1;
    expect_err(ebm_param_grad(c, x, w, n, NULL, g, &err), EBM_ERR_NUMERIC, &err, "input x not finite (NaN/Inf) for 2 of 40");
    /* finite inputs whose energies overflow: counted, and the finite energies are still written */
    x[17 * NUMEL + 2] = 3e38f;
    x[33 * NUMEL] = -3e38f;
    for (int64_t i = 0; i < n; i++)
        e[i] = -1;
    expect_err(ebm_energy(c, x, n, e, &err), EBM_ERR_NUMERIC, &err, "energy not finite (NaN/Inf) for 2 of 40 samples "
               "(first: sample 17)");
    ck_assert_float_eq(e[16], 0.0f);
    ck_assert_float_eq(e[18], 0.0f);
    x[17 * NUMEL + 2] = x[33 * NUMEL] = 0;
    w[5] = INFINITY;
    x[5 * NUMEL] = 1;
    expect_err(ebm_param_grad(c, x, w, n, NULL, g, &err), EBM_ERR_NUMERIC, &err, "parameter 'inv_var'");
    free(x), free(e), free(s), free(w);
    ebm_ctx_free(c);
    ebm_model_close(m);
}
END_TEST

START_TEST(test_numeric_langevin_step)
{
    /* inv_var = -1000 makes every step multiply x by 1 + step * 1000 = 101
     * (no clip, no clamp, no noise): the step where the state or the energy
     * overflows float is found by running the same recursion here. */
    const int64_t n = 20;
    ebm_model *m = fake_open("quadratic");
    const float center[NUMEL] = {0};
    set_params(m, -1000.0f, center);
    ebm_ctx *c = ctx_of(m, n);
    float *x = alloc_f(n * NUMEL), *e = alloc_f(n);
    for (int64_t i = 0; i < n * NUMEL; i++)
        x[i] = 0.5f;
    ebm_langevin_params p = ebm_langevin_defaults();
    p.steps = 100, p.step_size = 0.1f, p.noise_scale = 0, p.grad_clip = 0, p.clamp = 0;
    int want_step = 0;
    for (float v = 0.5f; want_step < 100;) {
        want_step++;
        float energy = 0.5f * -1000.0f * (4 * v * v);
        v = v - 0.1f * (-1000.0f * v);
        if (!isfinite(energy) || !isfinite(v))
            break;
    }
    ck_assert_int_lt(want_step, 100);
    char needle[64];
    snprintf(needle, sizeof needle, "at step %d of 100", want_step);
    ebm_error err = {0};
    expect_err(ebm_langevin(c, x, n, &p, e, NULL, &err), EBM_ERR_NUMERIC, &err, needle);
    ck_assert_msg(strstr(err.msg, "for 16 samples (first: sample 0) (samples 0..15 of 20") != NULL, "%s", err.msg);
    /* a state that overflows while the energy before it was finite: step 1 */
    set_params(m, 1.0f, center);
    for (int64_t i = 0; i < n * NUMEL; i++)
        x[i] = 10.0f;
    p.step_size = 3e38f;
    expect_err(ebm_langevin(c, x, n, &p, e, NULL, &err), EBM_ERR_NUMERIC, &err,
               "16 samples became non-finite (NaN/Inf) at step 1 of 100");
    p.step_size = 0.1f;
    /* a non-finite start is named as such */
    for (int64_t i = 0; i < n * NUMEL; i++)
        x[i] = 0.5f;
    x[18 * NUMEL + 3] = NAN;
    set_params(m, 1.0f, center);
    expect_err(ebm_langevin(c, x, n, &p, e, NULL, &err), EBM_ERR_NUMERIC, &err, "initial state");
    ck_assert_msg(strstr(err.msg, "first: sample 18") != NULL, "%s", err.msg);
    /* with zero steps only the final energy can fail */
    x[18 * NUMEL + 3] = 0;
    set_params(m, INFINITY, center);
    p.steps = 0;
    expect_err(ebm_langevin(c, x, n, &p, e, NULL, &err), EBM_ERR_NUMERIC, &err, "final energy");
    expect_clean("quadratic");
    free(x), free(e);
    ebm_ctx_free(c);
    ebm_model_close(m);
}
END_TEST

/* ---- bad model files ------------------------------------------------------------------------------ */

static void expect_open_fails(const char *path, ebm_status want, const char *needle)
{
    ebm_model *m = (ebm_model *)&m;   /* must be reset to NULL */
    ebm_error err = {0};
    ebm_status st = ebm_model_open(path, &m, &err);
    ck_assert_msg(st == want, "%s: status %s, expected %s (%s)", path, ebm_status_name(st), ebm_status_name(want),
                  err.msg);
    ck_assert_ptr_null(m);
    ck_assert_msg(strstr(err.msg, path) != NULL, "message '%s' does not name the file", err.msg);
    ck_assert_msg(strstr(err.msg, needle) != NULL, "message '%s' does not mention '%s'", err.msg, needle);
}

START_TEST(test_bad_variants)
{
    expect_open_fails(fake_path("no_symbol"), EBM_ERR_FORMAT, "not an ebmc model (no ebm_abi_model_v3 symbol)");
    expect_open_fails(fake_path("bad_magic"), EBM_ERR_FORMAT, "magic 0xdeadbeef");
    expect_open_fails(fake_path("future_abi"), EBM_ERR_UNSUPPORTED, "built for ABI version 4, this libebm reads 3");
    expect_open_fails(fake_path("abi_v4_symbol"), EBM_ERR_UNSUPPORTED, "built for ABI version 4");
    expect_open_fails(fake_path("abi_v2_symbol"), EBM_ERR_UNSUPPORTED,
                      "built for ABI version 2 (it exports ebm_abi_model_v2), this libebm reads 3");
    expect_open_fails(fake_path("tiny_symbol"), EBM_ERR_FORMAT, "4-byte object");
    expect_open_fails(fake_path("unsealed"), EBM_ERR_FORMAT, "the code does not match its digest");
    expect_open_fails(fake_path("unsealed"), EBM_ERR_FORMAT, "never sealed");
    expect_open_fails(fake_path("defect_tile0"), EBM_ERR_FORMAT, "tile = 0");
    expect_open_fails(fake_path("defect_param_oob"), EBM_ERR_FORMAT, "parameter 'center'");
    expect_open_fails(fake_path("defect_rank"), EBM_ERR_FORMAT, "input_rank = 9");
    expect_open_fails(fake_path("defect_no_programs"), EBM_ERR_FORMAT, "program table missing");
    expect_open_fails(fake_path("defect_null_entry"), EBM_ERR_FORMAT, "score program has no entry point");
    expect_open_fails(fake_path("defect_numel"), EBM_ERR_FORMAT, "sample_numel = 5");
    /* issue 18's reproducers: each used to crash (SIGSEGV, SIGBUS) once the model was loaded */
    expect_open_fails(fake_path("defect_n_params"), EBM_ERR_FORMAT,
                      "the parameter table (100000 entries of 88 bytes");
    expect_open_fails(fake_path("defect_weights_numel"), EBM_ERR_FORMAT,
                      "weights_numel = 16777236, but the weights blob holds 20 floats");
    expect_open_fails(fake_path("defect_entry_in_data"), EBM_ERR_FORMAT,
                      "the energy program's entry point lies outside the model's code");
    expect_open_fails(fake_path("defect_string_outside"), EBM_ERR_FORMAT,
                      "energy_head points outside the model's read-only data");
    expect_open_fails(fake_path("isa_unknown"), EBM_ERR_UNSUPPORTED, "CPU features this libebm does not know (bit63)");
    expect_open_fails("/nonexistent/dir/model.so", EBM_ERR_IO, "No such file");
    expect_open_fails(tu_path("%s/../testdata/runtime", tu_bin_dir()), EBM_ERR_IO, "is a directory");
}
END_TEST

/* A model compiled for CPU features this CPU lacks is refused before it is
 * loaded (not SIGILL at its first instruction); $EBM_CPU_DISABLE plays the
 * older CPU. */
START_TEST(test_isa_refused)
{
    char names[256];
    if (ebm_cpu_features() >> EBM_ISA_AVX512F & 1) {
        ebm_model *m = fake_open("isa_avx512f");
        ebm_model_close(m);
    }
    setenv("EBM_CPU_DISABLE", "avx2,avx512f", 1);
    ck_assert_uint_eq(ebm_cpu_features() >> EBM_ISA_AVX512F & 1, 0);
    expect_open_fails(fake_path("isa_avx512f"), EBM_ERR_UNSUPPORTED,
                      "compiled for generic, which needs CPU features this CPU lacks (avx512f)");
    ebm_model_close(fake_open("quadratic"));   /* needs nothing beyond the baseline */
    setenv("EBM_CPU_DISABLE", "avx9000", 1);
    expect_open_fails(fake_path("quadratic"), EBM_ERR_INVALID, "EBM_CPU_DISABLE names 'avx9000'");
    setenv("EBM_CPU_DISABLE", "all", 1);
    ck_assert_uint_eq(ebm_cpu_features(), 0);
    unsetenv("EBM_CPU_DISABLE");
    ck_assert_str_eq(ebm_isa_names((UINT64_C(1) << EBM_ISA_AVX2) | (UINT64_C(1) << EBM_ISA_FMA), names, sizeof names),
                     "avx2 fma");
}
END_TEST

START_TEST(test_missing_program)
{
    /* A valid model need not hold every program; asking for one it lacks is a clear error. */
    ebm_model *m = fake_open("energy_only");
    ebm_ctx *c = ctx_of(m, 2);
    float x[2 * NUMEL] = {1, 2, 3, 4}, e[2], s[2 * NUMEL], w[2] = {1, 1}, g[32];
    ebm_error err = {0};
    ck_assert_int_eq(ebm_energy(c, x, 2, e, &err), EBM_OK);
    ck_assert_float_eq(e[0], 15.0f);
    expect_err(ebm_score(c, x, 2, e, s, &err), EBM_ERR_UNSUPPORTED, &err, "no score program");
    expect_err(ebm_param_grad(c, x, w, 2, e, g, &err), EBM_ERR_UNSUPPORTED, &err, "no param_grad program");
    ebm_langevin_params p = ebm_langevin_defaults();
    expect_err(ebm_langevin(c, x, 2, &p, e, NULL, &err), EBM_ERR_UNSUPPORTED, &err, "no langevin program");
    ebm_ctx_free(c);
    ebm_model_close(m);
}
END_TEST

static char tmpdir[256];

static void make_tmpdir(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/ebmc_test_runtime_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static unsigned char *read_file(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
    long len = ftell(f);
    ck_assert_int_gt(len, 0);
    rewind(f);
    unsigned char *buf = malloc((size_t)len);
    ck_assert_ptr_nonnull(buf);
    ck_assert_uint_eq(fread(buf, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    *n = (size_t)len;
    return buf;
}

START_TEST(test_bad_files)
{
    make_tmpdir();
    const char *text = tu_path("%s/notes.so", tmpdir), *empty = tu_path("%s/empty.so", tmpdir);
    tu_write_file(text, "this is not a model\n", 20);
    tu_write_file(empty, "", 0);
    expect_open_fails(text, EBM_ERR_FORMAT, "not a shared object");
    expect_open_fails(empty, EBM_ERR_FORMAT, "not a shared object");
    /* Truncated copies of a good model: wherever the cut, a clean error or
     * (cut only in the section headers the loader does not read) a working
     * model; never a crash.  Cuts inside the loaded segments must fail. */
    size_t size;
    unsigned char *so = read_file(fake_path("quadratic"), &size);
    int failed = 0;
    for (int k = 1; k < 64; k++) {
        size_t cut = size * (size_t)k / 64;
        const char *path = tu_path("%s/cut%d.so", tmpdir, k);
        tu_write_file(path, so, cut);
        ebm_model *m = NULL;
        ebm_error err = {0};
        ebm_status st = ebm_model_open(path, &m, &err);
        if (st) {
            ck_assert_msg(st == EBM_ERR_FORMAT, "%s: %s", path, err.msg);
            ck_assert_ptr_null(m);
            failed++;
        } else {
            ebm_ctx *c = ctx_of(m, 1);
            float x[NUMEL] = {1, 2, 3, 4}, e;
            ck_assert_int_eq(ebm_energy(c, x, 1, &e, &err), EBM_OK);
            ck_assert_float_eq(e, 15.0f);
            ebm_ctx_free(c);
            ebm_model_close(m);
        }
        unlink(path);
    }
    ck_assert_int_gt(failed, 0);
    const char *cut = tu_path("%s/half_of_4k.so", tmpdir);
    tu_write_file(cut, so, 4000);   /* inside the code segment of any x86-64 build */
    expect_open_fails(cut, EBM_ERR_FORMAT, "truncated");
    unlink(cut);
    free(so);
    unlink(text);
    unlink(empty);
    rmdir(tmpdir);
}
END_TEST

START_TEST(test_path_without_slash)
{
    /* dlopen("model.so") would search the library path, not the folder we are in */
    make_tmpdir();
    char cwd[4096];
    ck_assert_ptr_nonnull(getcwd(cwd, sizeof cwd));
    size_t size;
    unsigned char *so = read_file(fake_path("quadratic"), &size);
    tu_write_file(tu_path("%s/local_model.so", tmpdir), so, size);
    free(so);
    ck_assert_int_eq(chdir(tmpdir), 0);
    ebm_model *m = NULL;
    ebm_error err = {0};
    ck_assert_msg(ebm_model_open("local_model.so", &m, &err) == EBM_OK, "%s", err.msg);
    ebm_model_close(m);
    expect_open_fails("libm.so.6", EBM_ERR_IO, "No such file");
    ck_assert_int_eq(chdir(cwd), 0);
    unlink(tu_path("%s/local_model.so", tmpdir));
    rmdir(tmpdir);
}
END_TEST

static Suite *runtime_suite(void)
{
    Suite *s = suite_create("runtime");
    TCase *t = tcase_create("model");
    tcase_add_test(t, test_open_describes_model);
    tcase_add_test(t, test_set_meta_replaces_compiled);
    tcase_add_test(t, test_weights_per_model);
    tcase_add_test(t, test_reopen_after_close_gets_its_own_file);
    tcase_add_test(t, test_langevin_defaults);
    tcase_add_test(t, test_bad_variants);
    tcase_add_test(t, test_isa_refused);
    tcase_add_test(t, test_missing_program);
    tcase_add_test(t, test_bad_files);
    tcase_add_test(t, test_path_without_slash);
    suite_add_tcase(s, t);
    t = tcase_create("compute");
    tcase_add_test(t, test_energy_score_analytic);
    tcase_add_test(t, test_param_grad_analytic);
    tcase_add_test(t, test_param_grad_tile_split);
    tcase_add_test(t, test_argument_errors);
    tcase_add_test(t, test_numeric_energy);
    suite_add_tcase(s, t);
    t = tcase_create("langevin");
    tcase_set_timeout(t, 120);
    tcase_add_test(t, test_langevin_noiseless_analytic);
    tcase_add_test(t, test_langevin_matches_step_loop);
    tcase_add_test(t, test_batch_invariance);
    tcase_add_test(t, test_energy_batch_invariance_unaligned);
    tcase_add_test(t, test_trajectory);
    tcase_add_test(t, test_threads_share_model);
    tcase_add_test(t, test_numeric_langevin_step);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(runtime_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
