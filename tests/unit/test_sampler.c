/* test_sampler.c — the samplers (runtime/sampler.h) and the sample buffer
 * (runtime/buffer.h) on energies with known answers, compiled by the real
 * code generator:
 *   - Gaussian E = 1/2 |x - m|^2 / s^2, twice: m = 0 runs the Langevin update
 *     as a loop of its own, m != 0 fused into the score's last loop (checked
 *     in the generated C); on each, MALA's per-dimension mean and variance
 *     within 4 standard errors of 0 and s^2; unadjusted Langevin's variance
 *     within 4 standard errors of its analytic stationary value
 *     s^2 / (1 - a / (2 s^2)) for three step sizes, the bias shrinking with a;
 *   - an asymmetric double well E = h (x^2 - 1)^2 + b x: MALA chains all
 *     started in the left well end in the right well with the probability
 *     given by quadrature of exp(-E), within 4 standard errors;
 *   - energy goes down from a far start; clamp ranges hold at every step;
 *     a steep 100 |x|^2 stays finite;
 *   - same seed, same bits; other tile sizes, same bits; a sample depends on
 *     its index only (the first k of N chains = k chains);
 *   - the buffer: capacity, re-init 0 and 1, fresh fraction ~ p, the fresh
 *     count's variance ~ B p (1 - p), padding,
 *     without replacement, save/load round trip, bad files.
 * Standard errors are of independent chains' final states (chains share no
 * randomness: their noise is keyed by sample index). */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buffer.h"
#include "codegen.h"
#include "ebm.h"
#include "ebm_philox.h"
#include "npy.h"
#include "sampler.h"
#include "testutil.h"

static char work_dir[512];

enum { M_GAUSS, M_GAUSS_T3, M_WELL, M_STEEP, M_GAUSS_FUSED, M_COUNT };
static const char *model_names[M_COUNT] = {"gauss", "gauss_tile3", "well", "steep", "gauss_fused"};
static char compile_err[M_COUNT][EBM_ERROR_MSG_MAX];

#define GD 4            /* Gaussian dimension */
#define GSIG2 0.25      /* its variance s^2 */
#define WELL_H 1.0
#define WELL_B 0.3

/* The centre of gauss_fused: E = 1/2 c |x - MU|^2 (a parameter).  Its score
 * -c (x - MU) ends in an elementwise loop the Langevin update fuses into
 * (score_langevin_body), where the plain 1/2 c |x|^2 runs the update as a
 * loop of its own (ebm_langevin_step): the statistical tests run on both. */
static const float MU[GD] = {0.5f, -0.25f, 0.125f, 1.0f};
static const float ZERO[GD] = {0};

/* E = 1/2 c |x - mu|^2 over D dims; mu NULL: 1/2 c |x|^2. */
static ir_graph *gauss_centered_graph(int D, double c, const float *mu, ebm_error *err)
{
    ir_graph *g = ir_graph_new();
    int x = ir_add_input(g, "x", ir_shape_make(2, IR_DIM_N, D), err);
    int d = x;
    if (mu)
        d = ir_binary(g, IR_OP_SUB, x, ir_add_const(g, "mu", ir_shape_make(1, D), mu, IR_NODE_PARAM, err), "d", err);
    int sq = ir_binary(g, IR_OP_MUL, d, d, "sq", err);
    int s = ir_reduce(g, IR_OP_RSUM, sq, 1u << 1, "sum", err);
    int e = ir_binary(g, IR_OP_MUL, s, ir_add_scalar(g, 0.5 * c, err), "half_c", err);
    e = ir_reshape(g, e, ir_shape_make(1, IR_DIM_N), "energy", err);
    if (e < 0 || ir_add_output(g, e, "energy", err)) {
        ir_graph_free(g);
        return NULL;
    }
    return g;
}

static ir_graph *gauss_graph(int D, double c, ebm_error *err)
{
    return gauss_centered_graph(D, c, NULL, err);
}

/* The Gaussian models of the statistical tests, by loop index: 0 the plain
 * update loop, 1 the update fused into the score's last loop. */
static int gauss_model(int i)
{
    return i == 0 ? M_GAUSS : M_GAUSS_FUSED;
}

static const float *gauss_mean(int i)
{
    return i == 0 ? ZERO : MU;
}

/* E = h (x^2 - 1)^2 + b x, one dimension. */
static ir_graph *well_graph(ebm_error *err)
{
    ir_graph *g = ir_graph_new();
    int x = ir_add_input(g, "x", ir_shape_make(2, IR_DIM_N, 1), err);
    int sq = ir_binary(g, IR_OP_MUL, x, x, "sq", err);
    int t = ir_binary(g, IR_OP_ADD, sq, ir_add_scalar(g, -1.0, err), "t", err);
    int t2 = ir_binary(g, IR_OP_MUL, t, t, "t2", err);
    int a = ir_binary(g, IR_OP_MUL, t2, ir_add_scalar(g, WELL_H, err), "ht2", err);
    int l = ir_binary(g, IR_OP_MUL, x, ir_add_scalar(g, WELL_B, err), "bx", err);
    int e = ir_binary(g, IR_OP_ADD, a, l, "e", err);
    e = ir_reduce(g, IR_OP_RSUM, e, 1u << 1, "sum", err);
    e = ir_reshape(g, e, ir_shape_make(1, IR_DIM_N), "energy", err);
    if (e < 0 || ir_add_output(g, e, "energy", err)) {
        ir_graph_free(g);
        return NULL;
    }
    return g;
}

static const char *model_path(int k)
{
    return tu_path("%s/%s.so", work_dir, model_names[k]);
}

static void compile_models(void)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(work_dir, sizeof work_dir, "%s/ebmc-test-sampler-XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
    if (!mkdtemp(work_dir)) {
        work_dir[0] = 0;
        return;
    }
    for (int k = 0; k < M_COUNT; k++) {
        ebm_error err = {0};
        ir_graph *g = k == M_WELL ? well_graph(&err)
                      : k == M_STEEP ? gauss_graph(GD, 200.0, &err)   /* 100 |x|^2 */
                      : k == M_GAUSS_FUSED ? gauss_centered_graph(GD, 1.0 / GSIG2, MU, &err)
                                     : gauss_graph(GD, 1.0 / GSIG2, &err);
        ebmc_compile_options o = {.opt_level = 2, .target_cpu = "native", .energy_head = "output",
                                  .tile = k == M_GAUSS_T3 ? 3 : 64};
        if (!g || ebmc_compile_model(g, &o, model_path(k), &err))
            snprintf(compile_err[k], sizeof compile_err[k], "%s", err.msg[0] ? err.msg : "failed");
        ir_graph_free(g);
    }
}

static void remove_models(void)
{
    if (!work_dir[0])
        return;
    for (int k = 0; k < M_COUNT; k++)
        unlink(model_path(k));
    rmdir(work_dir);
}

typedef struct opened {
    ebm_model *m;
    ebm_ctx *ctx;
} opened;

static opened open_model(int k, int64_t capacity)
{
    ck_assert_msg(!compile_err[k][0], "compiling %s: %s", model_names[k], compile_err[k]);
    opened o = {0};
    ebm_error err = {0};
    ck_assert_msg(ebm_model_open(model_path(k), &o.m, &err) == EBM_OK, "%s", err.msg);
    ck_assert_msg(ebm_ctx_new(o.m, capacity, &o.ctx, &err) == EBM_OK, "%s", err.msg);
    return o;
}

static void close_model(opened *o)
{
    ebm_ctx_free(o->ctx);
    ebm_model_close(o->m);
}

static float *falloc(int64_t n)
{
    float *p = calloc((size_t)(n > 0 ? n : 1), sizeof(float));
    ck_assert_ptr_nonnull(p);
    return p;
}

static void fill_normal(float *x, int64_t n, int64_t numel, uint64_t seed, float mean, float sd)
{
    ebm_init_states(EBM_INIT_NORMAL, 0, 0, seed, 7, 0, x, n, numel);
    for (int64_t i = 0; i < n * numel; i++)
        x[i] = mean + sd * x[i];
}

/* Per-dimension mean and variance over n samples of D values. */
static void moments(const float *x, int64_t n, int D, double *mean, double *var)
{
    for (int j = 0; j < D; j++) {
        double s = 0, s2 = 0;
        for (int64_t i = 0; i < n; i++)
            s += x[i * D + j];
        s /= (double)n;
        for (int64_t i = 0; i < n; i++)
            s2 += (x[i * D + j] - s) * (x[i * D + j] - s);
        mean[j] = s;
        var[j] = s2 / (double)(n - 1);
    }
}

static ebm_sampler_params unclamped(ebm_sampler_kind kind, int steps, float step_size)
{
    ebm_sampler_params p = ebm_sampler_defaults();
    p.kind = kind;
    p.lv.steps = steps;
    p.lv.step_size = step_size;
    p.lv.clamp = 0;
    p.lv.grad_clip = 0;
    p.noise_auto = 1;
    p.lv.noise_scale = sqrtf(2 * step_size);
    p.lv.seed = 11;
    return p;
}

/* ---- Gaussian: MALA is exact ------------------------------------------------------------ */

START_TEST(mala_gaussian_moments)
{
    const int64_t n = 4000;
    const float *mu = gauss_mean(_i);
    opened o = open_model(gauss_model(_i), n);
    float *x = falloc(n * GD);
    fill_normal(x, n, GD, 1, 0, 1);
    ebm_sampler_params p = unclamped(EBM_SAMPLER_MALA, 300, 0.5f);   /* a too-large start: burn-in adapts it */
    p.burn_in = 150;
    ebm_sampler_stats st;
    ebm_error err = {0};
    ck_assert_msg(ebm_sampler_run(o.ctx, x, n, &p, NULL, NULL, &st, &err) == EBM_OK, "%s", err.msg);
    double mean[GD], var[GD];
    moments(x, n, GD, mean, var);
    const double se_mean = sqrt(GSIG2 / n), se_var = GSIG2 * sqrt(2.0 / (n - 1));
    for (int j = 0; j < GD; j++) {
        printf("mala %s dim %d: mean %.4f (target %.4f, se %.4f), var %.4f (target %.4f, se %.4f)\n",
               model_names[gauss_model(_i)], j, mean[j], (double)mu[j], se_mean, var[j], GSIG2, se_var);
        ck_assert_msg(fabs(mean[j] - mu[j]) < 4 * se_mean, "dim %d: mean %g, want %g", j, mean[j], (double)mu[j]);
        ck_assert_msg(fabs(var[j] - GSIG2) < 4 * se_var, "dim %d: var %g, want %g", j, var[j], GSIG2);
    }
    printf("mala gaussian: acceptance %.3f after burn-in, step size %.4f (from 0.5)\n", st.acceptance,
           (double)st.step_size);
    ck_assert_int_eq(st.proposed, n * 150);
    ck_assert_msg(st.acceptance > 0.35 && st.acceptance < 0.85, "acceptance %g far from the 0.574 target",
                  st.acceptance);
    ck_assert_msg(st.step_size < 0.5f, "burn-in did not shrink the step size: %g", (double)st.step_size);
    free(x);
    close_model(&o);
}
END_TEST

/* ULA on N(0, s^2): x' = (1 - a/s^2) x + sqrt(2a) eps has stationary variance
 * 2a / (1 - (1 - a/s^2)^2) = s^2 / (1 - a / (2 s^2)). */
START_TEST(langevin_gaussian_bias)
{
    const int64_t n = 4000;
    const float steps[3] = {0.1f, 0.05f, 0.02f};
    const float *mu = gauss_mean(_i);
    opened o = open_model(gauss_model(_i), n);
    float *x = falloc(n * GD);
    double bias[3];
    for (int k = 0; k < 3; k++) {
        fill_normal(x, n, GD, 2, 0, 1);
        ebm_sampler_params p = unclamped(EBM_SAMPLER_LANGEVIN, 400, steps[k]);
        ebm_error err = {0};
        ck_assert_msg(ebm_sampler_run(o.ctx, x, n, &p, NULL, NULL, NULL, &err) == EBM_OK, "%s", err.msg);
        double mean[GD], var[GD], pooled = 0;
        moments(x, n, GD, mean, var);
        for (int j = 0; j < GD; j++)
            pooled += var[j] / GD;
        const double a = steps[k], want = GSIG2 / (1 - a / (2 * GSIG2));
        const double se = want * sqrt(2.0 / (GD * (n - 1))), se_mean = sqrt(want / (double)n);
        printf("langevin %s a=%.2f: var %.4f, analytic ULA %.4f (se %.4f), exact %.4f\n", model_names[gauss_model(_i)],
               a, pooled, want, se, GSIG2);
        ck_assert_msg(fabs(pooled - want) < 4 * se, "a=%g: var %g, analytic %g", a, pooled, want);
        for (int j = 0; j < GD; j++)
            ck_assert_msg(fabs(mean[j] - mu[j]) < 4 * se_mean, "a=%g dim %d: mean %g, want %g", a, j, mean[j],
                          (double)mu[j]);
        bias[k] = pooled - GSIG2;
    }
    ck_assert_msg(bias[0] > bias[1] && bias[1] > bias[2] && bias[2] > 0, "bias not shrinking with the step size: "
                  "%g %g %g", bias[0], bias[1], bias[2]);
    free(x);
    close_model(&o);
}
END_TEST

/* Annealed Langevin on N(0, s^2): level l runs DESIGN.md's update for
 * exp(-E/T_l), T_l = T0 (1/T0)^(l/(L-1)), alpha_l = a T_l^2, noise sqrt(2 alpha_l),
 * so x' = c_l x + sqrt(2 alpha_l) eps with c_l = 1 - alpha_l / (T_l s^2): the
 * variance follows v' = c_l^2 v + 2 alpha_l exactly.  The recursion, in
 * double over the documented schedule, is the expected value. */
START_TEST(annealed_gaussian_variance)
{
    const int64_t n = 4000;
    const int K = 240, L = 100;   /* 100 levels of 2 or 3 steps */
    const double a = 0.01, T0 = 9.0;
    opened o = open_model(gauss_model(_i), n);
    float *x = falloc(n * GD);
    fill_normal(x, n, GD, 3, 0, 1);
    ebm_sampler_params p = unclamped(EBM_SAMPLER_LANGEVIN, K, (float)a);
    p.anneal_from = (float)T0;
    ebm_error err = {0};
    ck_assert_msg(ebm_sampler_run(o.ctx, x, n, &p, NULL, NULL, NULL, &err) == EBM_OK, "%s", err.msg);
    double v = 1, mid = 0;
    for (int l = 0; l < L; l++) {
        const double Tl = T0 * pow(1.0 / T0, (double)l / (L - 1)), al = a * Tl * Tl;
        const double c = 1 - al / (Tl * GSIG2);
        for (int k = l * K / L; k < (l + 1) * K / L; k++)
            v = c * c * v + 2 * al;
        if (l == L / 2)
            mid = v;
    }
    double mean[GD], var[GD], pooled = 0;
    moments(x, n, GD, mean, var);
    for (int j = 0; j < GD; j++)
        pooled += var[j] / GD;
    const double se = v * sqrt(2.0 / (GD * (n - 1)));
    printf("annealed %s T %g -> 1: var %.4f, recursion %.4f (se %.4f; %.4f half way; exp(-E) has %.4f)\n",
           model_names[gauss_model(_i)], T0, pooled, v, se, mid, GSIG2);
    ck_assert_msg(fabs(pooled - v) < 4 * se, "variance %g, the schedule's recursion gives %g", pooled, v);
    ck_assert_msg(mid > 2 * v, "the temperature did not anneal: half-way variance %g vs final %g", mid, v);
    free(x);
    close_model(&o);
}
END_TEST

/* The annealing schedule itself, without noise: on E = 1/2 |x - mu|^2 / s^2 each
 * step at level l is x - mu <- (1 - alpha_l / (T_l s^2)) (x - mu) with alpha_l =
 * alpha (T_l / T)^2, so after one step per level x - mu has shrunk by the product
 * of those factors exactly (float32 rounding aside).  The statistical test above
 * cannot see the step's law in T (its last levels dominate); this one can. */
START_TEST(annealed_schedule_noiseless)
{
    const int64_t n = 8;
    const int K = 20;   /* 20 levels of one step */
    const double a = 0.02, T0 = 4.0;
    opened o = open_model(gauss_model(_i), n);
    const float *mu = gauss_mean(_i);
    float *x = falloc(n * GD), *x0 = falloc(n * GD);
    fill_normal(x, n, GD, 5, 0, 1);
    memcpy(x0, x, (size_t)(n * GD) * sizeof(float));
    ebm_sampler_params p = unclamped(EBM_SAMPLER_LANGEVIN, K, (float)a);
    p.anneal_from = (float)T0;
    p.noise_auto = 0;
    p.lv.noise_scale = 0;
    ebm_error err = {0};
    ck_assert_msg(ebm_sampler_run(o.ctx, x, n, &p, NULL, NULL, NULL, &err) == EBM_OK, "%s", err.msg);
    double shrink = 1;
    for (int l = 0; l < K; l++) {
        const double Tl = T0 * pow(1.0 / T0, (double)l / (K - 1));
        shrink *= 1 - a * Tl * Tl / (Tl * GSIG2);
    }
    double worst = 0;
    for (int64_t i = 0; i < n * GD; i++) {
        const double want = mu[i % GD] + shrink * ((double)x0[i] - mu[i % GD]);
        worst = fmax(worst, fabs(x[i] - want));
    }
    printf("annealed noiseless %s: shrink %.6f, worst error %.2e\n", model_names[gauss_model(_i)], shrink, worst);
    ck_assert_msg(worst < 1e-5, "annealed noiseless run off the schedule's product by %g (shrink %g)", worst, shrink);
    free(x);
    free(x0);
    close_model(&o);
}
END_TEST

/* The held count: round(share x K), at most K - 1 (the schedule keeps one
 * step), 0 for K = 0; what `ebm sample`'s summary prints and the run does. */
START_TEST(hold_steps_count)
{
    static const struct {
        int64_t k;
        float share;
        int64_t want;
    } cases[] = {{300, 1.0f / 3, 100}, {40, 0.25f, 10}, {10, 0.99f, 9}, {10, 0.94f, 9}, {10, 0.96f, 9},
                 {3, 0.5f, 2}, {1, 0.5f, 0}, {0, 0.5f, 0}, {50, 0, 0}, {7, 0.07f, 0}, {7, 0.08f, 1}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        ck_assert_msg(ebm_sampler_hold_steps(cases[i].k, cases[i].share) == cases[i].want,
                      "K %lld, hold %g: %lld steps, want %lld", (long long)cases[i].k, (double)cases[i].share,
                      (long long)ebm_sampler_hold_steps(cases[i].k, cases[i].share), (long long)cases[i].want);
}
END_TEST

/* anneal_hold: the first round(hold K) steps are plain Langevin at T0 (step
 * alpha (T0/T)^2, noise sqrt(2 alpha_0)), the rest the annealed schedule over
 * K - H steps from step H on -- the same bytes as those two runs made apart
 * (the second with step_offset H).  A hold that rounds to K keeps one step
 * for the schedule, which then is the configured temperature's. */
START_TEST(annealed_hold_is_two_runs)
{
    const int64_t n = 16;
    const int K = 40, H = 10;
    const double a = 0.01, T0 = 4.0;
    opened o = open_model(gauss_model(_i), n);
    float *x = falloc(n * GD), *y = falloc(n * GD);
    fill_normal(x, n, GD, 7, 0, 2);
    memcpy(y, x, (size_t)(n * GD) * sizeof(float));
    ebm_sampler_params p = unclamped(EBM_SAMPLER_LANGEVIN, K, (float)a);
    p.anneal_from = (float)T0;
    p.anneal_hold = 0.25f;
    ebm_error err = {0};
    ck_assert_msg(ebm_sampler_run(o.ctx, x, n, &p, NULL, NULL, NULL, &err) == EBM_OK, "%s", err.msg);
    ebm_sampler_params held = unclamped(EBM_SAMPLER_LANGEVIN, H, (float)(a * T0 * T0));
    held.lv.temperature = (float)T0;
    ck_assert_msg(ebm_sampler_run(o.ctx, y, n, &held, NULL, NULL, NULL, &err) == EBM_OK, "%s", err.msg);
    ebm_sampler_params rest = unclamped(EBM_SAMPLER_LANGEVIN, K - H, (float)a);
    rest.anneal_from = (float)T0;
    rest.lv.step_offset = H;
    ck_assert_msg(ebm_sampler_run(o.ctx, y, n, &rest, NULL, NULL, NULL, &err) == EBM_OK, "%s", err.msg);
    ck_assert_msg(memcmp(x, y, (size_t)(n * GD) * sizeof(float)) == 0, "hold 0.25 of %d steps differs from %d steps "
                  "at T0 then %d annealed", K, H, K - H);
    /* 0.95 of 5 steps rounds to 5: 4 held, the last at T = 1 */
    fill_normal(x, n, GD, 8, 0, 2);
    memcpy(y, x, (size_t)(n * GD) * sizeof(float));
    p.lv.steps = 5;
    p.anneal_hold = 0.95f;
    ck_assert_msg(ebm_sampler_run(o.ctx, x, n, &p, NULL, NULL, NULL, &err) == EBM_OK, "%s", err.msg);
    held.lv.steps = 4;
    ck_assert_msg(ebm_sampler_run(o.ctx, y, n, &held, NULL, NULL, NULL, &err) == EBM_OK, "%s", err.msg);
    ebm_sampler_params last = unclamped(EBM_SAMPLER_LANGEVIN, 1, (float)a);
    last.lv.step_offset = 4;
    ck_assert_msg(ebm_sampler_run(o.ctx, y, n, &last, NULL, NULL, NULL, &err) == EBM_OK, "%s", err.msg);
    ck_assert_msg(memcmp(x, y, (size_t)(n * GD) * sizeof(float)) == 0, "hold 0.95 of 5 steps is not 4 held + 1");
    printf("annealed hold %s: 0.25 of %d = %d steps at T0 %g, then the schedule: same bytes as two runs\n",
           model_names[gauss_model(_i)], K, H, T0);
    free(x);
    free(y);
    close_model(&o);
}
END_TEST

/* The two Gaussian models really take the two paths of the Langevin update:
 * fused into the score's last loop, and a loop of its own. */
START_TEST(gauss_models_fused_and_not)
{
    for (int i = 0; i < 2; i++) {
        ebm_error err = {0};
        ir_graph *g = i == 0 ? gauss_graph(GD, 1.0 / GSIG2, &err) : gauss_centered_graph(GD, 1.0 / GSIG2, MU, &err);
        ck_assert_ptr_nonnull(g);
        ebmc_compile_options o = {.opt_level = 2, .target_cpu = "native", .energy_head = "output", .tile = 64};
        char *c = NULL;
        ck_assert_msg(ebmc_emit_c(g, &o, &c, &err) == EBM_OK, "%s", err.msg);
        const int fused = strstr(c, "score_langevin_body") != NULL;
        printf("%s: the Langevin update is %s\n", model_names[gauss_model(i)],
               fused ? "fused into the score's last loop" : "a loop of its own");
        ck_assert_int_eq(fused, i == 1);
        free(c);
        ir_graph_free(g);
    }
}
END_TEST

/* The denoising step alone (0 steps): x - d dE/dx = (1 - d / s^2) x exactly. */
START_TEST(denoise_step_exact)
{
    const int64_t n = 50;
    opened o = open_model(M_GAUSS, n);
    float *x = falloc(n * GD), *x0 = falloc(n * GD), *e = falloc(n);
    fill_normal(x, n, GD, 4, 0, 1);
    memcpy(x0, x, (size_t)(n * GD) * sizeof *x);
    ebm_sampler_params p = unclamped(EBM_SAMPLER_LANGEVIN, 0, 0.01f);
    p.denoise = 0.1f;
    ebm_error err = {0};
    ck_assert_msg(ebm_sampler_run(o.ctx, x, n, &p, e, NULL, NULL, &err) == EBM_OK, "%s", err.msg);
    double worst = 0;
    for (int64_t i = 0; i < n; i++) {
        double en = 0;
        for (int j = 0; j < GD; j++) {
            const double want = (1 - 0.1 / GSIG2) * x0[i * GD + j];
            worst = fmax(worst, fabs(x[i * GD + j] - want));
            en += 0.5 * want * want / GSIG2;
        }
        ck_assert_msg(fabs(e[i] - en) <= 1e-5 * (1 + en), "sample %lld: energy %g after the step, want %g",
                      (long long)i, (double)e[i], en);
    }
    printf("denoise step d=0.1 on N(0, %.2f): max |x - (1 - d/s^2) x0| = %.2e\n", GSIG2, worst);
    ck_assert_msg(worst < 1e-6, "denoised state off by %g", worst);
    free(x);
    free(x0);
    free(e);
    close_model(&o);
}
END_TEST

/* ---- double well ----------------------------------------------------------------------- */

static double well_energy(double x)
{
    return WELL_H * (x * x - 1) * (x * x - 1) + WELL_B * x;
}

/* P(x > 0) under exp(-E) by Simpson's rule on [-4, 4]. */
static double well_right_mass(void)
{
    const int m = 20000;
    const double lo = -4, h = 8.0 / m;
    double all = 0, right = 0;
    for (int i = 0; i <= m; i++) {
        double x = lo + i * h, w = (i == 0 || i == m) ? 1 : (i % 2 ? 4 : 2), f = exp(-well_energy(x)) * w;
        all += f;
        right += x > 0 ? f : (x == 0 ? f / 2 : 0);
    }
    return right / all;
}

START_TEST(mala_double_well)
{
    const int64_t n = 3000;
    opened o = open_model(M_WELL, n);
    float *x = falloc(n);
    for (int64_t i = 0; i < n; i++)
        x[i] = -1.0f;   /* every chain in the left well */
    ebm_sampler_params p = unclamped(EBM_SAMPLER_MALA, 3000, 0.05f);
    p.burn_in = 200;
    ebm_sampler_stats st;
    ebm_error err = {0};
    ck_assert_msg(ebm_sampler_run(o.ctx, x, n, &p, NULL, NULL, &st, &err) == EBM_OK, "%s", err.msg);
    int64_t right = 0;
    for (int64_t i = 0; i < n; i++)
        right += x[i] > 0;
    const double want = well_right_mass(), got = (double)right / n, se = sqrt(want * (1 - want) / n);
    printf("double well: P(right) %.4f, quadrature %.4f (se %.4f), acceptance %.3f, step %.4f\n", got, want, se,
           st.acceptance, (double)st.step_size);
    ck_assert_msg(fabs(got - want) < 4 * se, "P(right well) %g, want %g", got, want);
    free(x);
    close_model(&o);
}
END_TEST

/* ---- descent, clamps, stiffness -------------------------------------------------------- */

START_TEST(energy_down_from_far)
{
    const int64_t n = 64, K = 100, every = 25, frames = 1 + K / every;
    opened o = open_model(M_GAUSS, n);
    float *x = falloc(n * GD), *traj = falloc(frames * n * GD), *e = falloc(n);
    for (int s = 0; s < 3; s++) {
        fill_normal(x, n, GD, 3, 5, 1);
        ebm_sampler_params p = ebm_sampler_defaults();   /* step 0.01, clip 0.03, noise 0.005 */
        p.kind = s == 0 ? EBM_SAMPLER_LANGEVIN : s == 1 ? EBM_SAMPLER_ADAPTIVE : EBM_SAMPLER_MALA;
        p.lv.steps = (int32_t)K;
        p.lv.clamp = 0;
        p.lv.trajectory_every = (int32_t)every;
        ebm_error err = {0};
        ck_assert_msg(ebm_sampler_run(o.ctx, x, n, &p, NULL, traj, NULL, &err) == EBM_OK, "%s", err.msg);
        double prev = INFINITY;
        for (int64_t f = 0; f < frames; f++) {
            ck_assert_msg(ebm_energy(o.ctx, traj + f * n * GD, n, e, &err) == EBM_OK, "%s", err.msg);
            double mean = 0;
            for (int64_t i = 0; i < n; i++)
                mean += e[i] / (double)n;
            ck_assert_msg(mean < prev, "%s: mean energy %g at step %lld, not below %g", ebm_sampler_name(p.kind),
                          mean, (long long)(f * every), prev);
            prev = mean;
        }
        ck_assert_mem_eq(traj + (frames - 1) * n * GD, x, (size_t)(n * GD) * sizeof(float));
    }
    free(x);
    free(traj);
    free(e);
    close_model(&o);
}
END_TEST

START_TEST(clamp_every_step)
{
    const int64_t n = 50, K = 40;
    opened o = open_model(M_GAUSS, n);
    float *x = falloc(n * GD), *traj = falloc((1 + K) * n * GD);
    for (int s = 0; s < 3; s++) {
        ebm_sampler_params p = ebm_sampler_defaults();
        p.kind = (ebm_sampler_kind)s;
        p.lv.steps = (int32_t)K;
        p.lv.lo = 0.2f;   /* the mode (0) is outside: the energy pushes against lo */
        p.lv.hi = 0.6f;
        p.lv.noise_scale = 0.3f;
        p.lv.step_size = 0.05f;
        p.lv.trajectory_every = 1;
        ebm_init_states(EBM_INIT_UNIFORM, p.lv.lo, p.lv.hi, 4, 0, 0, x, n, GD);
        ebm_error err = {0};
        ck_assert_msg(ebm_sampler_run(o.ctx, x, n, &p, NULL, traj, NULL, &err) == EBM_OK, "%s", err.msg);
        for (int64_t i = 0; i < (1 + K) * n * GD; i++)
            ck_assert_msg(traj[i] >= p.lv.lo && traj[i] <= p.lv.hi, "%s: value %g at frame %lld outside [0.2, 0.6]",
                          ebm_sampler_name(p.kind), (double)traj[i], (long long)(i / (n * GD)));
    }
    free(x);
    free(traj);
    close_model(&o);
}
END_TEST

START_TEST(steep_energy_stays_finite)
{
    const int64_t n = 32;
    opened o = open_model(M_STEEP, n);
    float *x = falloc(n * GD), *e0 = falloc(n), *e = falloc(n);
    ebm_init_states(EBM_INIT_UNIFORM, -1, 1, 5, 0, 0, x, n, GD);
    ebm_error err = {0};
    ck_assert_msg(ebm_energy(o.ctx, x, n, e0, &err) == EBM_OK, "%s", err.msg);
    ebm_sampler_params p = ebm_sampler_defaults();   /* DESIGN.md defaults: the clip bounds every move */
    p.lv.steps = 500;
    ck_assert_msg(ebm_sampler_run(o.ctx, x, n, &p, e, NULL, NULL, &err) == EBM_OK, "%s", err.msg);
    for (int64_t i = 0; i < n; i++)
        ck_assert_msg(isfinite(e[i]) && e[i] < e0[i], "sample %lld: energy %g from %g", (long long)i, (double)e[i],
                      (double)e0[i]);
    /* no clip, a step below 2 / curvature (= 0.01): contracts by 1 - 0.004 * 200 = 0.2 a step */
    p.lv.grad_clip = 0;
    p.lv.step_size = 0.004f;
    p.lv.steps = 100;
    ck_assert_msg(ebm_sampler_run(o.ctx, x, n, &p, e, NULL, NULL, &err) == EBM_OK, "%s", err.msg);
    for (int64_t i = 0; i < n; i++)   /* stationary: 100 |x|^2 with var(x) ~ 0.005^2 / (1 - 0.04): ~1e-2 */
        ck_assert_msg(isfinite(e[i]) && e[i] < 0.05f, "sample %lld: energy %g, not near the minimum", (long long)i,
                      (double)e[i]);
    free(x);
    free(e0);
    free(e);
    close_model(&o);
}
END_TEST

/* ---- reproducibility -------------------------------------------------------------------- */

static void run_kind(int model, ebm_sampler_kind kind, uint64_t seed, int64_t n, float *x, float *e,
                     ebm_sampler_stats *st)
{
    opened o = open_model(model, n);
    ebm_init_states(EBM_INIT_UNIFORM, -1, 1, 9, 0, 0, x, n, GD);
    ebm_sampler_params p = ebm_sampler_defaults();
    p.kind = kind;
    p.lv.steps = 30;
    p.lv.seed = seed;
    p.lv.noise_scale = 0.1f;
    p.burn_in = kind == EBM_SAMPLER_MALA ? 10 : 0;
    ebm_error err = {0};
    ck_assert_msg(ebm_sampler_run(o.ctx, x, n, &p, e, NULL, st, &err) == EBM_OK, "%s", err.msg);
    close_model(&o);
}

START_TEST(same_seed_same_bits)
{
    const int64_t n = 10;
    for (int k = 0; k < 3; k++) {
        float *a = falloc(n * GD), *b = falloc(n * GD), *c = falloc(n * GD), *ea = falloc(n), *eb = falloc(n),
              *ec = falloc(n);
        ebm_sampler_stats sa, sb, sc;
        run_kind(M_GAUSS, (ebm_sampler_kind)k, 1, n, a, ea, &sa);
        run_kind(M_GAUSS, (ebm_sampler_kind)k, 1, n, b, eb, &sb);
        run_kind(M_GAUSS_T3, (ebm_sampler_kind)k, 1, n, c, ec, &sc);   /* tiles of 3: 4 program calls */
        ck_assert_mem_eq(a, b, (size_t)(n * GD) * sizeof(float));
        ck_assert_mem_eq(a, c, (size_t)(n * GD) * sizeof(float));
        ck_assert_mem_eq(ea, ec, (size_t)n * sizeof(float));
        ck_assert(sa.step_size == sc.step_size && sa.accepted == sc.accepted);
        run_kind(M_GAUSS, (ebm_sampler_kind)k, 2, n, b, eb, &sb);
        ck_assert_msg(memcmp(a, b, (size_t)(n * GD) * sizeof(float)) != 0, "%s: seeds 1 and 2 gave the same samples",
                      ebm_sampler_name((ebm_sampler_kind)k));
        free(a), free(b), free(c), free(ea), free(eb), free(ec);
    }
}
END_TEST

/* A chain depends on its own index only: the first 4 of 10 chains are the
 * 4 chains of a run with N = 4 (samplers without batch-wide adaptation). */
START_TEST(chains_independent_of_n)
{
    for (int k = 0; k < 2; k++) {
        ebm_sampler_kind kind = k == 0 ? EBM_SAMPLER_LANGEVIN : EBM_SAMPLER_MALA;
        float *a = falloc(10 * GD), *b = falloc(4 * GD);
        opened o = open_model(M_GAUSS, 10);
        ebm_sampler_params p = ebm_sampler_defaults();
        p.kind = kind;
        p.lv.steps = 25;
        p.lv.noise_scale = 0.1f;
        ebm_error err = {0};
        ebm_init_states(EBM_INIT_UNIFORM, -1, 1, 9, 0, 0, a, 10, GD);
        ck_assert_msg(ebm_sampler_run(o.ctx, a, 10, &p, NULL, NULL, NULL, &err) == EBM_OK, "%s", err.msg);
        ebm_init_states(EBM_INIT_UNIFORM, -1, 1, 9, 0, 0, b, 4, GD);
        ck_assert_msg(ebm_sampler_run(o.ctx, b, 4, &p, NULL, NULL, NULL, &err) == EBM_OK, "%s", err.msg);
        ck_assert_mem_eq(a, b, (size_t)(4 * GD) * sizeof(float));
        free(a);
        free(b);
        close_model(&o);
    }
}
END_TEST

START_TEST(adaptive_reports_step)
{
    const int64_t n = 200;
    opened o = open_model(M_GAUSS, n);
    float *x = falloc(n * GD);
    ebm_init_states(EBM_INIT_UNIFORM, -1, 1, 9, 0, 0, x, n, GD);
    ebm_sampler_params p = unclamped(EBM_SAMPLER_ADAPTIVE, 200, 0.001f);
    ebm_sampler_stats st;
    ebm_error err = {0};
    ck_assert_msg(ebm_sampler_run(o.ctx, x, n, &p, NULL, NULL, &st, &err) == EBM_OK, "%s", err.msg);
    /* 200 steps = 10 windows of 20; each multiplies by 1.05 or 0.95 */
    double r = log((double)st.step_size / 0.001) / log(1.05);
    double q = log((double)st.step_size / 0.001) / log(0.95);
    int ok = 0;
    for (int up = 0; up <= 10; up++) {
        double want = 0.001 * pow(1.05, up) * pow(0.95, 10 - up);
        ok |= fabs(st.step_size - want) < 1e-6 * want + 1e-9;
    }
    printf("adaptive: final step %.6f (log-ratio %.2f up / %.2f down), last window rate %.3f\n",
           (double)st.step_size, r, q, st.acceptance);
    ck_assert_msg(ok, "final step size %g is not 0.001 * 1.05^u * 0.95^(10-u)", (double)st.step_size);
    ck_assert(st.acceptance >= 0 && st.acceptance <= 1);
    free(x);
    close_model(&o);
}
END_TEST

START_TEST(bad_params)
{
    opened o = open_model(M_GAUSS, 4);
    float x[4 * GD] = {0};
    ebm_error err = {0};
    ebm_sampler_params p = ebm_sampler_defaults();
    p.lv.step_size = 0;
    ck_assert_int_eq(ebm_sampler_run(o.ctx, x, 4, &p, NULL, NULL, NULL, &err), EBM_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.msg, "step_size > 0"));
    p = ebm_sampler_defaults();
    p.lv.lo = 1, p.lv.hi = -1;
    ck_assert_int_eq(ebm_sampler_run(o.ctx, x, 4, &p, NULL, NULL, NULL, &err), EBM_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.msg, "lo <= hi"));
    p = ebm_sampler_defaults();
    p.burn_in = 100;   /* > steps (60) */
    ck_assert_int_eq(ebm_sampler_run(o.ctx, x, 4, &p, NULL, NULL, NULL, &err), EBM_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.msg, "burn_in"));
    p = ebm_sampler_defaults();
    p.lv.steps = -1;
    ck_assert_int_eq(ebm_sampler_run(o.ctx, x, 4, &p, NULL, NULL, NULL, &err), EBM_ERR_INVALID);
    ck_assert_int_eq(ebm_sampler_run(o.ctx, x, 5, &p, NULL, NULL, NULL, &err), EBM_ERR_INVALID);
    p = ebm_sampler_defaults();
    p.anneal_from = -1;
    ck_assert_int_eq(ebm_sampler_run(o.ctx, x, 4, &p, NULL, NULL, NULL, &err), EBM_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.msg, "anneal_from"));
    p.anneal_from = 4;
    p.anneal_hold = 1;
    ck_assert_int_eq(ebm_sampler_run(o.ctx, x, 4, &p, NULL, NULL, NULL, &err), EBM_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.msg, "anneal_hold"));
    p.anneal_hold = 0;
    p.kind = EBM_SAMPLER_MALA;
    ck_assert_int_eq(ebm_sampler_run(o.ctx, x, 4, &p, NULL, NULL, NULL, &err), EBM_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.msg, "for the langevin sampler"));
    p = ebm_sampler_defaults();
    p.denoise = NAN;
    ck_assert_int_eq(ebm_sampler_run(o.ctx, x, 4, &p, NULL, NULL, NULL, &err), EBM_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.msg, "denoise"));
    close_model(&o);
}
END_TEST

/* ---- the normals (ebm_philox.h) ------------------------------------------------------------ */

START_TEST(normals_accurate_and_consistent)
{
    /* the float log and cos/sin against libm in double */
    double worst_log = 0, worst_trig = 0;
    for (uint32_t k = 0; k < 300000; k++) {
        uint32_t w = k * 14316557u + (k >> 5) * 7919u;   /* spread over all 32-bit words */
        float u = ebm_philox__u24(w);
        ck_assert(u > 0 && u <= 1);
        double l = log((double)u), e = fabs(ebm_philox__log(u) - l) / fmax(fabs(l), 1e-3);
        worst_log = fmax(worst_log, e);
        float c, s;
        ebm_philox__cossin(u, &c, &s);
        worst_trig = fmax(worst_trig, fmax(fabs(c - cos(6.283185307179586 * u)), fabs(s - sin(6.283185307179586 * u))));
    }
    printf("normals: log rel err %.2e, cos/sin abs err %.2e\n", worst_log, worst_trig);
    ck_assert_msg(worst_log < 1e-6, "log: %g", worst_log);
    ck_assert_msg(worst_trig < 1e-6, "cos/sin: %g", worst_trig);
    /* moments of 1M normals: mean 0, variance 1, kurtosis 3 (4 standard errors) */
    const int64_t n = 1000000;
    float *z = falloc(n);
    ebm_philox_normals(42, 3, 7, z, n);
    double m = 0, v = 0, k4 = 0;
    for (int64_t i = 0; i < n; i++)
        m += z[i];
    m /= n;
    for (int64_t i = 0; i < n; i++) {
        double d = z[i] - m;
        v += d * d;
        k4 += d * d * d * d;
    }
    v /= n;
    k4 = k4 / n / (v * v);
    printf("normals: mean %.5f (se %.5f), var %.5f (se %.5f), kurtosis %.4f (se %.4f)\n", m, 1 / sqrt(n), v,
           sqrt(2.0 / n), k4, sqrt(24.0 / n));
    ck_assert(fabs(m) < 4 / sqrt(n));
    ck_assert(fabs(v - 1) < 4 * sqrt(2.0 / n));
    ck_assert(fabs(k4 - 3) < 4 * sqrt(24.0 / n));
    /* the chunked row fill is ebm_philox_normal4's stream, across chunk boundaries and a ragged end */
    for (int64_t j = 0; j < 1001; j += 4) {
        float q[4];
        ebm_philox_normal4(42, 3, 7, (uint64_t)(j / 4), q);
        for (int t = 0; t < 4 && j + t < n; t++)
            ck_assert(z[j + t] == q[t]);
    }
    float tail[1001];
    ebm_philox_normals(42, 3, 7, tail, 1001);
    ck_assert_mem_eq(tail, z, sizeof tail);
    free(z);
}
END_TEST

/* The multi-row fill is, row by row, ebm_philox_normal4's stream of each
 * sample: short rows (several per chunk, ragged last chunk), a row of one
 * block, rows that span chunks, and sample indices above 2^32. */
START_TEST(normals_rows_match_stream)
{
    const int64_t counts[] = {1, 2, 3, 4, 5, 63, 64, 255, 256, 300};
    const uint64_t first[] = {0, 4294967290ull};
    for (size_t c = 0; c < sizeof counts / sizeof counts[0]; c++)
        for (size_t f = 0; f < 2; f++) {
            const int64_t count = counts[c], rows = 37;
            float *z = falloc(rows * count);
            ebm_philox_normals_rows(9, first[f], rows, 11, z, count);
            for (int64_t i = 0; i < rows; i++)
                for (int64_t j = 0; j < count; j++) {
                    float q[4];
                    ebm_philox_normal4(9, first[f] + (uint64_t)i, 11, (uint64_t)(j / 4), q);
                    ck_assert_msg(z[i * count + j] == q[j % 4], "count %lld row %lld element %lld: %g, want %g",
                                  (long long)count, (long long)i, (long long)j, (double)z[i * count + j],
                                  (double)q[j % 4]);
                }
            free(z);
        }
}
END_TEST

/* ---- the buffer ------------------------------------------------------------------------- */

static ebm_buffer *make_buffer(int64_t cap, int64_t numel)
{
    ebm_buffer *b = NULL;
    ebm_error err = {0};
    ck_assert_msg(ebm_buffer_new(cap, numel, &b, &err) == EBM_OK, "%s", err.msg);
    return b;
}

/* value v marks sample v: all its numel entries are v. */
static void push_marked(ebm_buffer *b, int64_t first, int64_t count, int64_t numel)
{
    float *x = falloc(count * numel);
    for (int64_t i = 0; i < count; i++)
        for (int64_t j = 0; j < numel; j++)
            x[i * numel + j] = (float)(first + i);
    ebm_error err = {0};
    ck_assert_int_eq(ebm_buffer_push(b, x, count, &err), EBM_OK);
    free(x);
}

START_TEST(buffer_capacity_fifo)
{
    ebm_buffer *b = make_buffer(4, 3);
    push_marked(b, 0, 3, 3);
    ck_assert_int_eq(ebm_buffer_count(b), 3);
    push_marked(b, 3, 4, 3);   /* 7 pushed: 3..6 remain, oldest first */
    ck_assert_int_eq(ebm_buffer_count(b), 4);
    for (int64_t j = 0; j < 4; j++)
        ck_assert_float_eq(ebm_buffer_sample(b, j)[2], (float)(3 + j));
    push_marked(b, 100, 9, 3);   /* more than capacity at once: the newest 4 */
    for (int64_t j = 0; j < 4; j++)
        ck_assert_float_eq(ebm_buffer_sample(b, j)[0], (float)(105 + j));
    ebm_buffer_free(b);
}
END_TEST

START_TEST(buffer_reinit_extremes)
{
    const int64_t cap = 50, numel = 2, B = 20;
    ebm_buffer *b = make_buffer(cap, numel);
    push_marked(b, 1000, cap, numel);
    ebm_buffer_init init = {.kind = EBM_INIT_UNIFORM, .lo = -1, .hi = 1, .seed = 3};
    float *x = falloc(B * numel);
    int64_t fresh = -1;
    ebm_error err = {0};
    /* p = 0: all from the buffer, distinct */
    ck_assert_int_eq(ebm_buffer_draw(b, x, B, 0.0, &init, &fresh, &err), EBM_OK);
    ck_assert_int_eq(fresh, 0);
    for (int64_t i = 0; i < B; i++) {
        ck_assert(x[i * numel] >= 1000 && x[i * numel] < 1000 + cap);
        for (int64_t k = 0; k < i; k++)
            ck_assert_msg(x[k * numel] != x[i * numel], "entry %g drawn twice", (double)x[i * numel]);
    }
    /* p = 1: all fresh, in [lo, hi] */
    ck_assert_int_eq(ebm_buffer_draw(b, x, B, 1.0, &init, &fresh, &err), EBM_OK);
    ck_assert_int_eq(fresh, B);
    for (int64_t i = 0; i < B * numel; i++)
        ck_assert(x[i] >= -1 && x[i] <= 1);
    /* the whole buffer with p = 0: a permutation of it */
    float *all = falloc(cap * numel);
    ck_assert_int_eq(ebm_buffer_draw(b, all, cap, 0.0, &init, &fresh, &err), EBM_OK);
    double sum = 0;
    for (int64_t i = 0; i < cap; i++)
        sum += all[i * numel];
    ck_assert_double_eq_tol(sum, cap * 1000.0 + cap * (cap - 1) / 2.0, 1e-6);
    free(all);
    free(x);
    ebm_buffer_free(b);
}
END_TEST

START_TEST(buffer_fresh_fraction_and_padding)
{
    const int64_t numel = 3, B = 100, draws = 400;
    const double p = 0.05;
    ebm_buffer *b = make_buffer(8192, numel);
    ebm_buffer_init init = {.kind = EBM_INIT_NORMAL, .seed = 8};
    float *x = falloc(B * numel);
    ebm_error err = {0};
    int64_t fresh = 0, total = 0;
    /* empty buffer: a draw is all fresh (padding) */
    ck_assert_int_eq(ebm_buffer_draw(b, x, B, p, &init, &fresh, &err), EBM_OK);
    ck_assert_int_eq(fresh, B);
    push_marked(b, 0, 30, numel);
    ck_assert_int_eq(ebm_buffer_draw(b, x, B, p, &init, &fresh, &err), EBM_OK);
    ck_assert_int_ge(fresh, B - 30);   /* only 30 stored */
    push_marked(b, 30, 8000, numel);
    for (int64_t d = 0; d < draws; d++) {
        ck_assert_int_eq(ebm_buffer_draw(b, x, B, p, &init, &fresh, &err), EBM_OK);
        total += fresh;
    }
    const double frac = (double)total / (double)(B * draws), se = sqrt(p * (1 - p) / (double)(B * draws));
    printf("buffer: fresh fraction %.4f over %lld draws of %lld (p %.2f, se %.4f)\n", frac, (long long)draws,
           (long long)B, p, se);
    ck_assert_msg(fabs(frac - p) < 4 * se, "fresh fraction %g, want %g", frac, p);
    free(x);
    ebm_buffer_free(b);
}
END_TEST

/* Each sample of a draw is fresh with probability p on its own, so the
 * fresh count k of a draw of B is Binomial(B, p): mean B p and variance
 * B p (1 - p), not only the right mean (one uniform per draw, shared by its
 * samples, keeps the mean but makes k 0 or B: variance B^2 p (1 - p)).  The
 * sample variance over D draws has standard error
 * sqrt((mu4 - s^4 (D - 3) / (D - 1)) / D), mu4 = B p q (1 + 3 (B - 2) p q). */
START_TEST(buffer_fresh_count_variance)
{
    const int64_t numel = 2, B = 100, draws = 2000;
    const double p = 0.05, q = 1 - p;
    ebm_buffer *b = make_buffer(4096, numel);
    push_marked(b, 0, 4096, numel);
    ebm_buffer_init init = {.kind = EBM_INIT_UNIFORM, .lo = -1, .hi = 1, .seed = 21};
    float *x = falloc(B * numel);
    ebm_error err = {0};
    double sum = 0, sum2 = 0;
    for (int64_t d = 0; d < draws; d++) {
        int64_t k = -1;
        ck_assert_int_eq(ebm_buffer_draw(b, x, B, p, &init, &k, &err), EBM_OK);
        sum += (double)k;
        sum2 += (double)k * (double)k;
    }
    const double D = (double)draws, mean = sum / D, var = (sum2 - D * mean * mean) / (D - 1);
    const double want = (double)B * p * q, mu4 = want * (1 + 3 * (double)(B - 2) * p * q);
    const double se_var = sqrt((mu4 - want * want * (D - 3) / (D - 1)) / D), se_mean = sqrt(want / D);
    printf("buffer: fresh count per draw of %lld: mean %.3f (B p = %.3f, se %.3f), variance %.3f (B p (1-p) = %.3f, "
           "se %.3f)\n", (long long)B, mean, B * p, se_mean, var, want, se_var);
    ck_assert_msg(fabs(mean - B * p) < 4 * se_mean, "mean fresh count %g, want %g", mean, B * p);
    ck_assert_msg(fabs(var - want) < 4 * se_var, "fresh count variance %g, want B p (1 - p) = %g", var, want);
    free(x);
    ebm_buffer_free(b);
}
END_TEST

START_TEST(buffer_save_load)
{
    const int64_t numel = 6, shape[3] = {1, 2, 3};
    ebm_buffer *b = make_buffer(5, numel), *c = make_buffer(3, numel);
    push_marked(b, 0, 7, numel);   /* ring wrapped: holds 2..6 */
    const char *path = tu_path("%s/buf.npy", work_dir);
    ebm_error err = {0};
    ck_assert_msg(ebm_buffer_save(b, path, 3, shape, &err) == EBM_OK, "%s", err.msg);
    ebm_array a = {0};
    ck_assert_int_eq(ebm_npy_read(path, &a, &err), EBM_OK);
    ck_assert_int_eq(a.rank, 4);
    ck_assert_int_eq(a.shape[0], 5);
    ck_assert_int_eq(a.shape[3], 3);
    ck_assert_float_eq(((float *)a.data)[0], 2.0f);
    ebm_array_free(&a);
    ck_assert_msg(ebm_buffer_load(c, path, &err) == EBM_OK, "%s", err.msg);   /* capacity 3: the newest */
    ck_assert_int_eq(ebm_buffer_count(c), 3);
    for (int64_t j = 0; j < 3; j++)
        ck_assert_float_eq(ebm_buffer_sample(c, j)[5], (float)(4 + j));
    ebm_buffer *d = make_buffer(5, numel);
    ck_assert_int_eq(ebm_buffer_load(d, path, &err), EBM_OK);
    for (int64_t j = 0; j < 5; j++)
        ck_assert_mem_eq(ebm_buffer_sample(d, j), ebm_buffer_sample(b, j), (size_t)numel * sizeof(float));
    /* wrong per-sample size */
    ebm_buffer *e = make_buffer(5, 4);
    ck_assert_int_eq(ebm_buffer_load(e, path, &err), EBM_ERR_SHAPE);
    ck_assert_ptr_nonnull(strstr(err.msg, "buf.npy"));
    ck_assert_int_eq(ebm_buffer_load(e, tu_path("%s/missing.npy", work_dir), &err), EBM_ERR_IO);
    unlink(path);
    ebm_buffer_free(b);
    ebm_buffer_free(c);
    ebm_buffer_free(d);
    ebm_buffer_free(e);
}
END_TEST

int main(void)
{
    compile_models();
    Suite *s = suite_create("sampler");
    TCase *stat = tcase_create("statistics");
    tcase_add_loop_test(stat, mala_gaussian_moments, 0, 2);   /* _i: gauss_model */
    tcase_add_loop_test(stat, langevin_gaussian_bias, 0, 2);
    tcase_add_loop_test(stat, annealed_gaussian_variance, 0, 2);
    tcase_add_loop_test(stat, annealed_schedule_noiseless, 0, 2);
    tcase_add_loop_test(stat, annealed_hold_is_two_runs, 0, 2);
    tcase_add_test(stat, hold_steps_count);
    tcase_add_test(stat, gauss_models_fused_and_not);
    tcase_add_test(stat, denoise_step_exact);
    tcase_add_test(stat, mala_double_well);
    tcase_add_test(stat, energy_down_from_far);
    tcase_add_test(stat, clamp_every_step);
    tcase_add_test(stat, steep_energy_stays_finite);
    tcase_add_test(stat, adaptive_reports_step);
    suite_add_tcase(s, stat);
    TCase *rep = tcase_create("reproducibility");
    tcase_add_test(rep, same_seed_same_bits);
    tcase_add_test(rep, chains_independent_of_n);
    tcase_add_test(rep, bad_params);
    tcase_add_test(rep, normals_accurate_and_consistent);
    tcase_add_test(rep, normals_rows_match_stream);
    suite_add_tcase(s, rep);
    TCase *buf = tcase_create("buffer");
    tcase_add_test(buf, buffer_capacity_fifo);
    tcase_add_test(buf, buffer_reinit_extremes);
    tcase_add_test(buf, buffer_fresh_fraction_and_padding);
    tcase_add_test(buf, buffer_fresh_count_variance);
    tcase_add_test(buf, buffer_save_load);
    suite_add_tcase(s, buf);
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    remove_models();
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
