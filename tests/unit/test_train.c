/* test_train.c — training (runtime/train.h):
 *   - the three CD losses and their dL/dE weights against hand computation
 *     and central differences;
 *   - grad_theta of the CD loss through the compiled param_grad program
 *     against central differences of the loss computed analytically, on
 *     E(x) = 1/2 sum_j (a_j x_j)^2 with trainable a;
 *   - Adam (beta1 0.9, beta2 0.99) over three steps against the textbook
 *     update computed by hand; one dsm step's loss and gradient against
 *     their closed form, at one noise level and at many;
 *   - kill-and-resume from a checkpoint gives the bits of an uninterrupted
 *     run; damaged, truncated or foreign checkpoints are refused; a failed
 *     write leaves the previous checkpoint loadable; one flipped byte in
 *     each section, each absurd field (valid checksum) and each setting of
 *     another run are refused, naming it, and leave the trainer unchanged;
 *   - the divergence guard fires on an engineered blow-up (huge learning
 *     rate, low energy limit), halves the learning rate per restore, and
 *     gives up with a clear error;
 *   - bad configurations are refused with a message. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "codegen.h"
#include "ebm.h"
#include "npy.h"
#include "testutil.h"
#include "train.h"
#include "train_internal.h"

#define AD 2
static char work_dir[512];
static char compile_err[EBM_ERROR_MSG_MAX];
static const float A0[AD] = {0.7f, 1.3f};

/* E(x) = 1/2 sum_j (a_j x_j)^2, a trainable: dE/da_j = a_j x_j^2. */
static ir_graph *quad_graph(ebm_error *err)
{
    ir_graph *g = ir_graph_new();
    int x = ir_add_input(g, "x", ir_shape_make(2, IR_DIM_N, AD), err);
    int w = ir_add_const(g, "a", ir_shape_make(1, AD), A0, IR_NODE_PARAM | IR_NODE_TRAINABLE, err);
    int ax = ir_binary(g, IR_OP_MUL, x, w, "ax", err);
    int sq = ir_binary(g, IR_OP_MUL, ax, ax, "sq", err);
    int s = ir_reduce(g, IR_OP_RSUM, sq, 1u << 1, "sum", err);
    int e = ir_binary(g, IR_OP_MUL, s, ir_add_scalar(g, 0.5, err), "half", err);
    e = ir_reshape(g, e, ir_shape_make(1, IR_DIM_N), "energy", err);
    if (e < 0 || ir_add_output(g, e, "energy", err)) {
        ir_graph_free(g);
        return NULL;
    }
    return g;
}

static const char *so_path(void)
{
    return tu_path("%s/quad.so", work_dir);
}

static const char *so_dsm_path(void)
{
    return tu_path("%s/quad_dsm.so", work_dir);
}

static void setup_all(void)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(work_dir, sizeof work_dir, "%s/ebmc-test-train-XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
    if (!mkdtemp(work_dir)) {
        snprintf(compile_err, sizeof compile_err, "mkdtemp failed");
        return;
    }
    ebm_error err = {0};
    ir_graph *g = quad_graph(&err);
    ebmc_compile_options o = {.opt_level = 2, .target_cpu = "native", .energy_head = "output", .tile = 16};
    if (!g || ebmc_compile_model(g, &o, so_path(), &err))
        snprintf(compile_err, sizeof compile_err, "%s", err.msg[0] ? err.msg : "failed");
    o.dsm = 1;
    if (g && !compile_err[0] && ebmc_compile_model(g, &o, so_dsm_path(), &err))
        snprintf(compile_err, sizeof compile_err, "%s", err.msg[0] ? err.msg : "failed");
    ir_graph_free(g);
}

static void teardown_all(void)
{
    if (!work_dir[0])
        return;
    unlink(so_path());
    unlink(so_dsm_path());
    const char *names[] = {"a.ckpt", "b.ckpt", "bad.ckpt", "short.ckpt", "c.ckpt", "flipped.ckpt", "absurd.ckpt",
                           "r.ckpt"};
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++)
        unlink(tu_path("%s/%s", work_dir, names[k]));
    rmdir(work_dir);
}

static ebm_model *open_so(const char *path)
{
    ck_assert_msg(!compile_err[0], "compiling the test model: %s", compile_err);
    ebm_model *m = NULL;
    ebm_error err = {0};
    ck_assert_msg(ebm_model_open(path, &m, &err) == EBM_OK, "%s", err.msg);
    return m;
}

static ebm_model *open_quad(void)
{
    return open_so(so_path());
}

/* ---- the losses ---------------------------------------------------------------------------- */

START_TEST(cd_loss_by_hand)
{
    const float er[3] = {-1.0f, 0.5f, 2.0f}, ef[3] = {0.0f, 1.0f, -0.5f};
    const double alpha = 0.1;
    float wr[3], wf[3];
    double loss, cd, reg;
    /* cd = mean(er) - mean(ef) = 0.5 - 1/6; reg = 0.1 * (1 + 0.25 + 4 + 0 + 1 + 0.25) / 3 */
    ebm_cd_loss(EBM_OBJ_CD, alpha, er, ef, 3, &loss, &cd, &reg, wr, wf);
    ck_assert_double_eq_tol(cd, 0.5 - 1.0 / 6, 1e-12);
    ck_assert_double_eq_tol(reg, 0.1 * 6.5 / 3, 1e-12);
    ck_assert_double_eq_tol(loss, cd + reg, 1e-12);
    ck_assert_double_eq_tol(wr[2], 1.0 / 3 + 2 * 0.1 * 2.0 / 3, 1e-7);
    ck_assert_double_eq_tol(wf[2], -1.0 / 3 + 2 * 0.1 * -0.5 / 3, 1e-7);
    /* softplus: mean softplus(er - ef) = (sp(-1) + sp(-0.5) + sp(2.5)) / 3 */
    ebm_cd_loss(EBM_OBJ_CD_SOFTPLUS, 0, er, ef, 3, &loss, &cd, &reg, wr, wf);
    double want = (log1p(exp(-1.0)) + log1p(exp(-0.5)) + log1p(exp(2.5))) / 3;
    ck_assert_double_eq_tol(cd, want, 1e-12);
    ck_assert_double_eq_tol(wr[0], 1 / (1 + exp(1.0)) / 3, 1e-7);
    /* logsumexp: mean(er) + log(sum exp(-ef)) - log 3 */
    ebm_cd_loss(EBM_OBJ_CD_LOGSUMEXP, 0, er, ef, 3, &loss, &cd, &reg, wr, wf);
    want = 0.5 + log(exp(0.0) + exp(-1.0) + exp(0.5)) - log(3.0);
    ck_assert_double_eq_tol(cd, want, 1e-12);
    /* every variant: the weights are dL/dE (central differences of the loss) */
    for (int o = EBM_OBJ_CD; o <= EBM_OBJ_CD_LOGSUMEXP; o++) {
        ebm_cd_loss((ebm_objective)o, alpha, er, ef, 3, &loss, &cd, &reg, wr, wf);
        for (int i = 0; i < 6; i++) {
            float a[3], b[3], c[3], d[3], t1[3], t2[3];
            memcpy(a, er, sizeof a), memcpy(b, ef, sizeof b), memcpy(c, er, sizeof c), memcpy(d, ef, sizeof d);
            const float h = 1e-3f;
            (i < 3 ? a : b)[i % 3] += h;
            (i < 3 ? c : d)[i % 3] -= h;
            double lp, lm, x1, x2;
            ebm_cd_loss((ebm_objective)o, alpha, a, b, 3, &lp, &x1, &x2, t1, t2);
            ebm_cd_loss((ebm_objective)o, alpha, c, d, 3, &lm, &x1, &x2, t1, t2);
            double fd = (lp - lm) / (2 * h), w = i < 3 ? wr[i] : wf[i - 3];
            ck_assert_msg(fabs(fd - w) < 1e-4, "%s: dL/dE[%d] = %g, finite difference %g",
                          ebm_objective_name((ebm_objective)o), i, w, fd);
        }
    }
}
END_TEST

/* The CD loss of energies computed analytically in double for parameters a. */
static double loss_at(ebm_objective o, double alpha, const double *a, const float *xr, const float *xf, int B)
{
    float er[16], ef[16], wr[16], wf[16];
    for (int i = 0; i < B; i++) {
        double s = 0, t = 0;
        for (int j = 0; j < AD; j++) {
            s += 0.5 * a[j] * a[j] * xr[i * AD + j] * xr[i * AD + j];
            t += 0.5 * a[j] * a[j] * xf[i * AD + j] * xf[i * AD + j];
        }
        er[i] = (float)s;
        ef[i] = (float)t;
    }
    double loss, cd, reg;
    ebm_cd_loss(o, alpha, er, ef, B, &loss, &cd, &reg, wr, wf);
    return loss;
}

START_TEST(cd_param_grad_matches_fd)
{
    enum { B = 8 };
    ebm_model *m = open_quad();
    ebm_ctx *ctx = NULL;
    ebm_error err = {0};
    ck_assert_msg(ebm_ctx_new(m, 2 * B, &ctx, &err) == EBM_OK, "%s", err.msg);
    float x[2 * B * AD], e[2 * B], w[2 * B];
    float *grad = calloc((size_t)ebm_model_desc(m)->weights_numel, sizeof(float));   /* padded to alignment */
    ck_assert_ptr_nonnull(grad);
    ck_assert_int_eq(ebm_model_param_index(m, "a"), 0);
    ck_assert_int_eq(ebm_model_desc(m)->params[0].offset, 0);
    tu_fill_uniform_f32(x, 2 * B * AD, 3, -1.5, 1.5);
    const double alpha = 0.05;
    for (int o = EBM_OBJ_CD; o <= EBM_OBJ_CD_LOGSUMEXP; o++) {
        double loss, cd, reg;
        ck_assert_int_eq(ebm_energy(ctx, x, 2 * B, e, &err), EBM_OK);
        ebm_cd_loss((ebm_objective)o, alpha, e, e + B, B, &loss, &cd, &reg, w, w + B);
        ck_assert_msg(ebm_param_grad(ctx, x, w, 2 * B, NULL, grad, &err) == EBM_OK, "%s", err.msg);
        for (int j = 0; j < AD; j++) {
            double ap[AD] = {A0[0], A0[1]}, am[AD] = {A0[0], A0[1]};
            const double h = 1e-2;   /* E is quadratic in a: float rounding, not truncation, limits h */
            ap[j] += h;
            am[j] -= h;
            double fd = (loss_at((ebm_objective)o, alpha, ap, x, x + B * AD, B) -
                         loss_at((ebm_objective)o, alpha, am, x, x + B * AD, B)) / (2 * h);
            printf("%s: dL/da_%d = %.6f, finite difference %.6f\n", ebm_objective_name((ebm_objective)o), j,
                   (double)grad[j], fd);
            ck_assert_msg(fabs(grad[j] - fd) <= 5e-4 * fmax(1, fabs(fd)), "%s: dL/da_%d = %g, finite difference %g",
                          ebm_objective_name((ebm_objective)o), j, (double)grad[j], fd);
        }
    }
    free(grad);
    ebm_ctx_free(ctx);
    ebm_model_close(m);
}
END_TEST

/* ---- the trainer ------------------------------------------------------------------------------ */

/* A small dataset: 64 points of N((0.5, -0.5), 0.3^2). */
static ebm_dataset make_data(void)
{
    ebm_dataset d = {.rank = 2, .shape = {64, AD}};
    d.data = malloc(64 * AD * sizeof(float));
    ck_assert_ptr_nonnull(d.data);
    ebm_init_states(EBM_INIT_NORMAL, 0, 0, 5, 0, 0, d.data, 64, AD);
    for (int i = 0; i < 64; i++) {
        d.data[i * AD] = 0.5f + 0.3f * d.data[i * AD];
        d.data[i * AD + 1] = -0.5f + 0.3f * d.data[i * AD + 1];
    }
    return d;
}

static ebm_train_config small_config(void)
{
    ebm_train_config c = ebm_train_defaults();
    c.batch = 8;
    c.lr = 1e-2;
    c.buffer_capacity = 32;
    c.sampler.lv.steps = 5;
    c.sampler.lv.step_size = 0.05f;
    c.sampler.lv.noise_scale = 0.1f;
    c.snapshot_every = 5;
    c.seed = 4;
    c.ema = 0.9;
    return c;
}

static ebm_trainer *make_trainer(ebm_model *m, const ebm_dataset *d, const ebm_train_config *c)
{
    ebm_train_data td = {.dataset = d};
    ebm_trainer *t = NULL;
    ebm_error err = {0};
    ck_assert_msg(ebm_trainer_new(m, &td, c, &t, &err) == EBM_OK, "%s", err.msg);
    return t;
}

static void run_steps(ebm_trainer *t, int64_t until)
{
    ebm_error err = {0};
    while (ebm_trainer_steps_done(t) < until) {
        ebm_train_stats s;
        ck_assert_msg(ebm_trainer_step(t, &s, &err) == EBM_OK, "%s", err.msg);
        ck_assert(!s.restored);
    }
}

/* ---- Adam ---------------------------------------------------------------------------------------- */

/* Three Adam steps with beta1 = 0.9, beta2 = 0.99 from given gradients,
 * against the textbook update in float64 (Kingma & Ba, Algorithm 1: m and v
 * from zero, m/(1 - b1^t) / (sqrt(v/(1 - b2^t)) + eps)), computed outside:
 *   g1 = (1, -3), g2 = (-2, 0.5), g3 = (0.25, 0.25), lr 0.1, a0 = (0.7, 1.3).
 * The second correction taken with beta1 would give (0.3838, 1.6162) at step 1
 * and (0.4967, 1.7830) at step 2; without the first, step 2 moves ~2x. */
START_TEST(adam_by_hand)
{
    static const float G[3][AD] = {{1.0f, -3.0f}, {-2.0f, 0.5f}, {0.25f, 0.25f}};
    static const double W[3][AD] = {{0.600000001000, 1.399999999667},
                                    {0.636560772103, 1.453969435624},
                                    {0.657600982193, 1.490378167483}};
    ebm_dataset d = make_data();
    ebm_train_config c = small_config();
    c.beta1 = 0.9;
    c.beta2 = 0.99;
    c.adam_eps = 1e-8;
    c.lr = 0.1;
    c.ema = 0;
    ebm_model *m = open_quad();
    ebm_trainer *t = make_trainer(m, &d, &c);
    const int64_t wn = ebm_model_desc(m)->weights_numel;
    float *w = ebm_model_weights(m);
    float *pad = malloc((size_t)wn * sizeof(float));
    ck_assert_ptr_nonnull(pad);
    memcpy(pad, w, (size_t)wn * sizeof(float));
    for (int s = 0; s < 3; s++) {
        memset(t->grad, 0, (size_t)wn * sizeof(float));
        for (int j = 0; j < wn; j++)
            t->grad[j] = j < AD ? G[s][j] : 1.0f;   /* padding: not trainable, must not move */
        t->step = s;
        ebm__adam_update(t);
        for (int j = 0; j < AD; j++)
            ck_assert_msg(fabs(w[j] - W[s][j]) < 2e-6, "step %d: a_%d = %.9f, by hand %.9f", s + 1, j, (double)w[j],
                          W[s][j]);
        ck_assert_mem_eq(w + AD, pad + AD, (size_t)(wn - AD) * sizeof(float));
    }
    printf("adam: a = (%.6f, %.6f) after 3 steps, by hand (%.6f, %.6f)\n", (double)w[0], (double)w[1], W[2][0],
           W[2][1]);
    free(pad);
    ebm_trainer_free(t);
    ebm_model_close(m);
    free(d.data);
}
END_TEST

START_TEST(resume_is_bit_identical)
{
    ebm_dataset d = make_data();
    ebm_train_config c = small_config();
    ebm_error err = {0};
    /* uninterrupted: 20 steps */
    ebm_model *m1 = open_quad();
    ebm_trainer *t1 = make_trainer(m1, &d, &c);
    run_steps(t1, 20);
    float w1[AD], e1[AD];   /* parameter a: the first AD floats of the weights */
    memcpy(w1, ebm_model_weights(m1), sizeof w1);
    memcpy(e1, ebm_trainer_params(t1), sizeof e1);
    ck_assert_msg(w1[0] != A0[0] || w1[1] != A0[1], "training did not move the parameters");
    /* interrupted: 12 steps, checkpoint, a new process (model and trainer), resume to 20 */
    const char *ck = tu_path("%s/a.ckpt", work_dir);
    ebm_model *m2 = open_quad();
    ebm_trainer *t2 = make_trainer(m2, &d, &c);
    run_steps(t2, 12);
    ck_assert_msg(ebm_trainer_save(t2, ck, &err) == EBM_OK, "%s", err.msg);
    run_steps(t2, 15);   /* progress the "crash" loses */
    ebm_trainer_free(t2);
    ebm_model_close(m2);
    ebm_model *m3 = open_quad();
    ebm_trainer *t3 = make_trainer(m3, &d, &c);
    ck_assert_msg(ebm_trainer_load(t3, ck, &err) == EBM_OK, "%s", err.msg);
    ck_assert_int_eq(ebm_trainer_steps_done(t3), 12);
    run_steps(t3, 20);
    ck_assert_mem_eq(ebm_model_weights(m3), w1, sizeof w1);
    ck_assert_mem_eq(ebm_trainer_params(t3), e1, sizeof e1);
    printf("resume: a = (%.6f, %.6f) both ways; EMA (%.6f, %.6f)\n", (double)w1[0], (double)w1[1], (double)e1[0],
           (double)e1[1]);
    ebm_trainer_free(t1);
    ebm_trainer_free(t3);
    ebm_model_close(m1);
    ebm_model_close(m3);
    free(d.data);
}
END_TEST

/* ---- one DSM step against its closed form --------------------------------------------------- */

/* One training step of dsm on E = 1/2 sum_j (a_j x_j)^2, whose score is
 * s_j(x) = -a_j^2 x_j: with the step's clean batch x, noise eps and noisy
 * x~ = x + sigma_i eps (read back from the trainer), the loss is
 *   L = sigma^2 / B sum_i 1/2 |s(x~_i) + eps_i / sigma|^2
 * and dL/da_j = sigma^2 / B sum_i (s_j(x~_i) + eps_ij / sigma) (-2 a_j x~_ij),
 * in float64 here against the trainer's float32 (no gradient clipping).  Once
 * at one noise level, once at levels in [sigma, 4 sigma], where each sample's
 * x~ - x must be one sigma_i in that range times eps. */
START_TEST(dsm_step_analytic)
{
    const double sigma = 0.1, sigma_max = _i ? 0.4 : 0;
    ebm_dataset d = make_data();
    ebm_train_config c = small_config();
    c.objective = EBM_OBJ_DSM;
    c.sigma = sigma;
    c.sigma_max = sigma_max;
    c.grad_norm_clip = 0;
    c.ema = 0;
    ebm_model *m = open_so(so_dsm_path());
    ebm_trainer *t = make_trainer(m, &d, &c);
    ebm_train_stats st;
    ebm_error err = {0};
    ck_assert_msg(ebm_trainer_step(t, &st, &err) == EBM_OK, "%s", err.msg);
    const int64_t B = c.batch;
    const float *x = t->x, *xt = t->x + B * AD;
    double loss = 0, g[AD] = {0};
    for (int64_t i = 0; i < B; i++) {
        double level = -1;
        for (int j = 0; j < AD; j++) {
            const double eps = -sigma * t->target[i * AD + j];   /* the target is -eps / sigma */
            const double li = (xt[i * AD + j] - x[i * AD + j]) / eps;
            if (level < 0)
                level = li;
            ck_assert_msg(fabs(li - level) < 1e-4 * level, "sample %lld: noise levels %g and %g", (long long)i,
                          level, li);
            const double a = A0[j], s = -a * a * xt[i * AD + j], r = s + eps / sigma;
            loss += 0.5 * r * r;
            g[j] += r * (-2 * a * xt[i * AD + j]);
        }
        if (sigma_max > 0)
            ck_assert_msg(level > sigma * (1 - 1e-5) && level < sigma_max * (1 + 1e-5), "sample %lld: level %g",
                          (long long)i, level);
        else
            ck_assert_msg(fabs(level - sigma) < 1e-5 * sigma, "sample %lld: level %g, want %g", (long long)i, level,
                          sigma);
    }
    const double scale = sigma * sigma / (double)B;
    loss *= scale;
    printf("dsm step (levels %s): loss %.8f, closed form %.8f; dL/da (%.8f, %.8f), closed form (%.8f, %.8f)\n",
           sigma_max > 0 ? "[0.1, 0.4]" : "0.1", st.loss, loss, (double)t->grad[0], (double)t->grad[1],
           g[0] * scale, g[1] * scale);
    ck_assert_msg(fabs(st.loss - loss) <= 1e-5 * fabs(loss), "loss %g, closed form %g", st.loss, loss);
    /* dsm needs no energy and computes none */
    ck_assert_msg(isnan(st.real_energy_mean) && isnan(st.fake_energy_mean), "E+ %g, E- %g: want NaN (not computed)",
                  st.real_energy_mean, st.fake_energy_mean);
    for (int j = 0; j < AD; j++)
        ck_assert_msg(fabs(t->grad[j] - g[j] * scale) <= 1e-5 * fabs(g[j] * scale), "dL/da_%d = %g, closed form %g",
                      j, (double)t->grad[j], g[j] * scale);
    ebm_trainer_free(t);
    ebm_model_close(m);
    free(d.data);
}
END_TEST

/* ---- denoising score matching at many noise levels ----------------------------------------- */

/* x ~ N(0, v) per dimension and E = 1/2 sum_j (a_j x_j)^2.  At level s_i the
 * model is E sigma / s_i (score -a^2 sigma x / s_i) and the noisy data's score
 * is -x / (v + s_i^2); the s_i^2-weighted loss is then
 * E_i (a^2 sigma - s_i / (v + s_i^2))^2 (v + s_i^2), least at
 *   a^2 = E[s_i] / (sigma (v + E[s_i^2])),
 * with s_i log-uniform on [sigma, sigma_max]: E[s] = (sigma_max - sigma) / ln r,
 * E[s^2] = (sigma_max^2 - sigma^2) / (2 ln r), r = sigma_max / sigma.  With one
 * level (sigma_max = 0) it is 1 / (v + sigma^2).  With sigma_power p the
 * levels are s = sigma r^(w^p), w uniform, and E[s], E[s^2] are integrals over
 * w (level_moment). */
static double dsm_levels_train(double sigma_max, double power, double *v_out)
{
    enum { N = 4096 };
    ebm_dataset d = {.rank = 2, .shape = {N, AD}};
    d.data = malloc(N * AD * sizeof(float));
    ck_assert_ptr_nonnull(d.data);
    ebm_init_states(EBM_INIT_NORMAL, 0, 0, 9, 0, 0, d.data, N, AD);
    double v = 0;
    for (int i = 0; i < N * AD; i++) {
        d.data[i] *= 0.5f;
        v += (double)d.data[i] * d.data[i] / (N * AD);
    }
    ebm_train_config c = ebm_train_defaults();
    c.objective = EBM_OBJ_DSM;
    c.sigma = 0.1;
    c.sigma_max = sigma_max;
    c.sigma_power = power;
    c.batch = 256;
    c.lr = 0.01;
    c.ema = 0.995;
    c.grad_norm_clip = 0;
    c.seed = 3;
    ebm_model *m = open_so(so_dsm_path());
    ebm_trainer *t = make_trainer(m, &d, &c);
    run_steps(t, 2000);
    const float *a = ebm_trainer_params(t);
    double p = 0;
    for (int j = 0; j < AD; j++)
        p += (double)a[j] * a[j] / AD;
    ebm_trainer_free(t);
    ebm_model_close(m);
    free(d.data);
    *v_out = v;
    return p;
}

START_TEST(dsm_levels_optimum)
{
    const double sigma = 0.1, smax = 1.0, lr = log(smax / sigma);
    double v1, vm;
    const double p1 = dsm_levels_train(0, 1, &v1), pm = dsm_levels_train(smax, 1, &vm);
    const double want1 = 1 / (v1 + sigma * sigma);
    const double es = (smax - sigma) / lr, es2 = (smax * smax - sigma * sigma) / (2 * lr);
    const double wantm = es / (sigma * (vm + es2));
    printf("dsm, one level sigma %.2f: a^2 %.4f, analytic %.4f; levels [%.2f, %.2f]: a^2 %.4f, analytic %.4f\n", sigma,
           p1, want1, sigma, smax, pm, wantm);
    ck_assert_msg(fabs(p1 / want1 - 1) < 0.04, "one level: a^2 = %g, analytic %g", p1, want1);
    ck_assert_msg(fabs(pm / wantm - 1) < 0.04, "levels: a^2 = %g, analytic %g", pm, wantm);
}
END_TEST

static int cmp_double(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Kolmogorov-Smirnov distance of v[0..n) (sorted here) from uniform on [0, 1]. */
static double ks_uniform(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    double d = 0;
    for (int i = 0; i < n; i++)
        d = fmax(d, fmax(fabs((i + 1.0) / n - v[i]), fabs(v[i] - (double)i / n)));
    return d;
}

/* sigma_power p: the levels are s = sigma r^(w^p), w uniform.  Each level is
 * read back from the step's noisy data (x~ - x = s eps, eps = -sigma target)
 * over 4 steps of 256 samples: w = (log(s / sigma) / log r)^(1/p) passes a
 * Kolmogorov-Smirnov test for uniform (1% level: D < 1.63 / sqrt(n)), and
 * log(s / sigma) / log r itself (what p = 1 would make uniform) fails it. */
START_TEST(dsm_levels_drawn_with_power)
{
    enum { N = 512, B = 256, STEPS = 4 };
    const double sigma = 0.1, smax = 1.0, pw = 0.5, r = smax / sigma;
    ebm_dataset d = {.rank = 2, .shape = {N, AD}};
    d.data = malloc(N * AD * sizeof(float));
    ck_assert_ptr_nonnull(d.data);
    ebm_init_states(EBM_INIT_NORMAL, 0, 0, 9, 0, 0, d.data, N, AD);
    ebm_train_config c = ebm_train_defaults();
    c.objective = EBM_OBJ_DSM;
    c.sigma = sigma;
    c.sigma_max = smax;
    c.sigma_power = pw;
    c.batch = B;
    c.seed = 11;
    ebm_model *m = open_so(so_dsm_path());
    ebm_trainer *t = make_trainer(m, &d, &c);
    static double w[B * STEPS], u[B * STEPS];
    for (int k = 0; k < STEPS; k++) {
        ebm_train_stats st;
        ebm_error err = {0};
        ck_assert_msg(ebm_trainer_step(t, &st, &err) == EBM_OK, "%s", err.msg);
        for (int i = 0; i < B; i++) {
            /* the coordinate with the larger |eps| gives the level to float precision */
            const int j = fabs(t->target[i * AD]) >= fabs(t->target[i * AD + 1]) ? 0 : 1;
            const double eps = -sigma * t->target[i * AD + j];
            const double level = (t->x[(B + i) * AD + j] - t->x[i * AD + j]) / eps;
            ck_assert_msg(level > sigma * (1 - 1e-4) && level < smax * (1 + 1e-4), "level %g", level);
            const double ui = fmin(fmax(log(level / sigma) / log(r), 0), 1);
            u[k * B + i] = ui;
            w[k * B + i] = pow(ui, 1 / pw);
        }
    }
    const int n = B * STEPS;
    const double dw = ks_uniform(w, n), du = ks_uniform(u, n), crit = 1.63 / sqrt(n);
    printf("dsm levels drawn with sigma_power %.1f: KS distance from uniform %.4f (w), %.4f (log-uniform's u); "
           "1%% critical value %.4f\n", pw, dw, du, crit);
    ck_assert_msg(dw < crit, "w: KS distance %g >= %g", dw, crit);
    ck_assert_msg(du > 3 * crit, "u: KS distance %g: the levels look log-uniform", du);
    ebm_trainer_free(t);
    ebm_model_close(m);
    free(d.data);
}
END_TEST

static int64_t file_size(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fclose(f);
    return n;
}

static void copy_prefix(const char *from, const char *to, int64_t bytes, int flip_last)
{
    FILE *a = fopen(from, "rb"), *b = fopen(to, "wb");
    ck_assert(a && b);
    for (int64_t i = 0; i < bytes; i++) {
        int ch = fgetc(a);
        if (flip_last && i == bytes - 9)
            ch ^= 0x40;
        fputc(ch, b);
    }
    fclose(a);
    fclose(b);
}

START_TEST(checkpoint_failures)
{
    ebm_dataset d = make_data();
    ebm_train_config c = small_config();
    ebm_error err = {0};
    ebm_model *m = open_quad();
    ebm_trainer *t = make_trainer(m, &d, &c);
    run_steps(t, 3);
    const char *ck = tu_path("%s/b.ckpt", work_dir);
    ck_assert_int_eq(ebm_trainer_save(t, ck, &err), EBM_OK);
    int64_t size = file_size(ck);
    run_steps(t, 6);
    /* a write that fails (no such folder) reports it and touches nothing */
    ck_assert_int_eq(ebm_trainer_save(t, tu_path("%s/missing/dir.ckpt", work_dir), &err), EBM_ERR_IO);
    ck_assert_ptr_nonnull(strstr(err.msg, "dir.ckpt"));
    /* a crash in the middle of a write leaves a partial temporary file next to
     * the checkpoint, never a partial checkpoint: the old one still loads */
    copy_prefix(ck, tu_path("%s/b.ckpt.tmp-99999-0", work_dir), size / 2, 0);
    ck_assert_msg(ebm_trainer_load(t, ck, &err) == EBM_OK, "%s", err.msg);
    ck_assert_int_eq(ebm_trainer_steps_done(t), 3);
    unlink(tu_path("%s/b.ckpt.tmp-99999-0", work_dir));
    /* truncated and damaged files are refused */
    const char *bad = tu_path("%s/short.ckpt", work_dir);
    copy_prefix(ck, bad, size - 20, 0);
    ck_assert_int_eq(ebm_trainer_load(t, bad, &err), EBM_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(err.msg, "truncated"));
    copy_prefix(ck, bad, size, 1);
    ck_assert_int_eq(ebm_trainer_load(t, bad, &err), EBM_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(err.msg, "damaged"));
    /* not a checkpoint at all */
    FILE *f = fopen(tu_path("%s/bad.ckpt", work_dir), "wb");
    for (int k = 0; k < 8; k++)
        fputs("hello, this is not a checkpoint, but it is long enough to hold a header\n", f);
    fclose(f);
    ck_assert_int_eq(ebm_trainer_load(t, tu_path("%s/bad.ckpt", work_dir), &err), EBM_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(err.msg, "not an ebm training checkpoint"));
    /* another buffer capacity: refused with both numbers */
    ebm_train_config c2 = c;
    c2.buffer_capacity = 16;
    ebm_trainer *t2 = make_trainer(m, &d, &c2);
    ck_assert_int_eq(ebm_trainer_load(t2, ck, &err), EBM_ERR_SHAPE);
    ck_assert_ptr_nonnull(strstr(err.msg, "capacity"));
    ebm_trainer_free(t2);
    ebm_trainer_free(t);
    ebm_model_close(m);
    free(d.data);
}
END_TEST

/* ---- checkpoints as input: every section and field checked ---------------------------- */

/* The checkpoint layout (runtime/train_ckpt.c), as offsets into the file. */
enum { CK_HEADER = 96, CK_SETTING = 40, CK_VERSION = 8, CK_HAS_EMA = 12, CK_STEP = 16, CK_WN = 24, CK_NUMEL = 32,
       CK_CAPACITY = 40, CK_COUNT = 48, CK_DRAWS = 56, CK_LR = 72, CK_RESTORES = 80, CK_ALPHA = 84,
       CK_NSETTINGS = 88 };

typedef struct ckpt_file {
    unsigned char *b;
    size_t len;
    size_t sections[8];   /* header, settings, w, m, v, ema, samples, checksum: their offsets */
    size_t ends[8];
} ckpt_file;

static ckpt_file ckpt_slurp(const char *path)
{
    ckpt_file c = {0};
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    c.len = (size_t)ftell(f);
    rewind(f);
    c.b = malloc(c.len);
    ck_assert_ptr_nonnull(c.b);
    ck_assert_uint_eq(fread(c.b, 1, c.len, f), c.len);
    fclose(f);
    uint32_t ns, has_ema;
    int64_t wn, numel, count;
    memcpy(&ns, c.b + CK_NSETTINGS, 4);
    memcpy(&has_ema, c.b + CK_HAS_EMA, 4);
    memcpy(&wn, c.b + CK_WN, 8);
    memcpy(&numel, c.b + CK_NUMEL, 8);
    memcpy(&count, c.b + CK_COUNT, 8);
    const size_t sizes[8] = {CK_HEADER, (size_t)ns * CK_SETTING, (size_t)wn * 4, (size_t)wn * 4, (size_t)wn * 4,
                             has_ema ? (size_t)wn * 4 : 0, (size_t)(count * numel) * 4, 8};
    size_t at = 0;
    for (int k = 0; k < 8; k++) {
        c.sections[k] = at;
        at += sizes[k];
        c.ends[k] = at;
    }
    ck_assert_uint_eq(at, c.len);
    return c;
}

static void ckpt_write(const ckpt_file *c, const char *path)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(c->b, 1, c->len, f), c->len);
    ck_assert_int_eq(fclose(f), 0);
}

/* The trailing checksum made valid again: FNV-1a 64 (offset basis
 * 14695981039346656037, prime 1099511628211) of all bytes before it. */
static void ckpt_reseal(ckpt_file *c)
{
    uint64_t h = 14695981039346656037ull;
    for (size_t i = 0; i + 8 < c->len; i++)
        h = (h ^ c->b[i]) * 1099511628211ull;
    memcpy(c->b + c->len - 8, &h, 8);
}

/* The trainer's state, to see that a refused load changed nothing. */
typedef struct trainer_state {
    int64_t step;
    double lr;
    float w[AD], ema[AD];
    int64_t count;
} trainer_state;

static trainer_state state_of(ebm_trainer *t, ebm_model *m)
{
    trainer_state s = {.step = ebm_trainer_steps_done(t), .lr = ebm_trainer_lr(t),
                       .count = ebm_buffer_count(ebm_trainer_buffer(t))};
    memcpy(s.w, ebm_model_weights(m), sizeof s.w);
    memcpy(s.ema, ebm_trainer_params(t), sizeof s.ema);
    return s;
}

static void assert_refused(ebm_trainer *t, ebm_model *m, const char *path, const char *what, const char *needle)
{
    trainer_state before = state_of(t, m);
    ebm_error err = {0};
    ebm_status st = ebm_trainer_load(t, path, &err);
    ck_assert_msg(st != EBM_OK, "%s: the checkpoint was accepted", what);
    ck_assert_msg(!needle || strstr(err.msg, needle), "%s: the message '%s' does not say '%s'", what, err.msg,
                  needle);
    trainer_state after = state_of(t, m);
    ck_assert_msg(memcmp(&before, &after, sizeof before) == 0, "%s: a refused load changed the trainer", what);
}

/* A checkpoint of a trainer with an EMA and a full, wrapped buffer. */
static const char *make_checkpoint(ebm_trainer *t)
{
    run_steps(t, 6);   /* 6 x 8 samples through a buffer of 32 */
    ebm_error err = {0};
    const char *ck = tu_path("%s/c.ckpt", work_dir);
    ck_assert_msg(ebm_trainer_save(t, ck, &err) == EBM_OK, "%s", err.msg);
    ck_assert_int_eq(ebm_buffer_count(ebm_trainer_buffer(t)), 32);
    return ck;
}

START_TEST(checkpoint_flipped_byte_per_section)
{
    static const char *const names[8] = {"header", "settings", "parameters", "Adam m", "Adam v", "EMA", "samples",
                                         "checksum"};
    ebm_dataset d = make_data();
    ebm_train_config c = small_config();
    ebm_model *m = open_quad();
    ebm_trainer *t = make_trainer(m, &d, &c);
    const char *ck = make_checkpoint(t);
    ckpt_file f = ckpt_slurp(ck);
    const char *bad = tu_path("%s/flipped.ckpt", work_dir);
    int tried = 0;
    for (int k = 0; k < 8; k++) {
        ck_assert_msg(f.ends[k] > f.sections[k], "section %s is empty", names[k]);
        /* its first, middle and last byte, one at a time, each bit pattern a different one */
        const size_t at[3] = {f.sections[k], (f.sections[k] + f.ends[k]) / 2, f.ends[k] - 1};
        for (int j = 0; j < 3; j++) {
            const unsigned char flip = (unsigned char)(1u << ((k + 3 * j) % 8));
            f.b[at[j]] ^= flip;
            ckpt_write(&f, bad);
            char what[96];
            snprintf(what, sizeof what, "%s byte %zu ^ 0x%02x", names[k], at[j], flip);
            assert_refused(t, m, bad, what, NULL);
            f.b[at[j]] ^= flip;
            tried++;
        }
    }
    /* and the untouched bytes still load */
    ckpt_write(&f, bad);
    ebm_error err = {0};
    ck_assert_msg(ebm_trainer_load(t, bad, &err) == EBM_OK, "%s", err.msg);
    printf("checkpoint: %d single-byte flips over 8 sections (%zu bytes) all refused\n", tried, f.len);
    free(f.b);
    unlink(bad);
    unlink(ck);
    ebm_trainer_free(t);
    ebm_model_close(m);
    free(d.data);
}
END_TEST

static void put_i64(ckpt_file *f, size_t at, int64_t v)
{
    memcpy(f->b + at, &v, 8);
}

static void put_u32(ckpt_file *f, size_t at, uint32_t v)
{
    memcpy(f->b + at, &v, 4);
}

static void put_f32(ckpt_file *f, size_t at, float v)
{
    memcpy(f->b + at, &v, 4);
}

static void put_f64(ckpt_file *f, size_t at, double v)
{
    memcpy(f->b + at, &v, 8);
}

START_TEST(checkpoint_absurd_fields)
{
    ebm_dataset d = make_data();
    ebm_train_config c = small_config();
    ebm_model *m = open_quad();
    ebm_trainer *t = make_trainer(m, &d, &c);
    const char *ck = make_checkpoint(t);
    const ckpt_file good = ckpt_slurp(ck);
    const char *bad = tu_path("%s/absurd.ckpt", work_dir);
    const size_t w = good.sections[2], v = good.sections[4], smp = good.sections[6];
    /* each: one field changed, the checksum made valid again */
    const struct {
        const char *what, *needle;
        int kind;   /* 0 i64, 1 f64, 2 f32, 3 u32 */
        size_t at;
        double value;
    } cases[] = {
        {"step = INT64_MIN", "step = -9223372036854775808", 0, CK_STEP, (double)INT64_MIN},
        {"step = -1", "step = -1 ", 0, CK_STEP, -1},
        {"step = 2^41", "step = 2199023255552", 0, CK_STEP, 0x1p41},
        {"lr = -1", "lr = -1 ", 1, CK_LR, -1},
        {"lr = 0", "lr = 0 ", 1, CK_LR, 0},
        {"lr = NaN", "lr = nan", 1, CK_LR, NAN},
        {"lr = 2 x the run's", "lr = 0.02", 1, CK_LR, 0.02},
        {"restores = -1", "restores = -1 ", 3, CK_RESTORES, -1},
        {"restores = max_restores + 1", "restores = 4 ", 3, CK_RESTORES, 4},
        {"alpha = 1e30", "alpha = 1e+30", 2, CK_ALPHA, 1e30},
        {"alpha = 0", "alpha = 0 ", 2, CK_ALPHA, 0},
        {"alpha = NaN", "alpha = nan", 2, CK_ALPHA, NAN},
        {"alpha = another step size", "alpha = 0.06", 2, CK_ALPHA, 0.06},
        {"draws = 2^40", "draws = 1099511627776", 0, CK_DRAWS, 0x1p40},
        {"count = -1", "count = -1 ", 0, CK_COUNT, -1},
        {"count = capacity + 1", "count = 33 ", 0, CK_COUNT, 33},
        {"capacity = 64", "capacity is 64", 0, CK_CAPACITY, 64},
        {"has_ema = 2", "EMA", 3, CK_HAS_EMA, 2},
        {"n_settings = 0", "settings count = 0", 3, CK_NSETTINGS, 0},
        {"n_settings = 100000", "settings count = 100000", 3, CK_NSETTINGS, 100000},
        {"wn = 1", "another model", 0, CK_WN, 1},
        {"numel = 3", "another model", 0, CK_NUMEL, 3},
        {"version 2", "version 2, from an older libebm", 3, CK_VERSION, 2},
        {"version 4", "version 4", 3, CK_VERSION, 4},
        {"a parameter = NaN", "parameters hold nan at a[1]", 2, w + 4, NAN},
        {"a parameter = Inf", "parameters hold inf at a[0]", 2, w, INFINITY},
        {"Adam v < 0", "second moments hold -1 at a[0]: expected a finite value >= 0", 2, v, -1},
        {"a buffer sample = NaN", "buffer samples hold nan at sample 1, value 1", 2, smp + 12, NAN},
        {"the recorded batch", "batch = 9, this run has batch = 8 (--batch)", 0, CK_HEADER + CK_SETTING + 32, 9},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        ckpt_file f = good;
        f.b = malloc(good.len);
        ck_assert_ptr_nonnull(f.b);
        memcpy(f.b, good.b, good.len);
        switch (cases[k].kind) {
        case 0: put_i64(&f, cases[k].at, cases[k].value == (double)INT64_MIN ? INT64_MIN : (int64_t)cases[k].value);
            break;
        case 1: put_f64(&f, cases[k].at, cases[k].value); break;
        case 2: put_f32(&f, cases[k].at, (float)cases[k].value); break;
        default: put_u32(&f, cases[k].at, (uint32_t)(int64_t)cases[k].value); break;
        }
        ckpt_reseal(&f);
        ckpt_write(&f, bad);
        assert_refused(t, m, bad, cases[k].what, cases[k].needle);
        free(f.b);
    }
    /* the recorded setting at CK_HEADER + CK_SETTING is "batch" (the value above it patched) */
    ck_assert_str_eq((const char *)good.b + CK_HEADER + CK_SETTING, "batch");
    free(good.b);
    unlink(bad);
    unlink(ck);
    ebm_trainer_free(t);
    ebm_model_close(m);
    free(d.data);
}
END_TEST

START_TEST(checkpoint_settings_must_match)
{
    ebm_dataset d = make_data();
    ebm_train_config c = small_config();
    ebm_model *m = open_quad();
    ebm_trainer *t = make_trainer(m, &d, &c);
    const char *ck = make_checkpoint(t);
    const struct {
        const char *needle;
        void (*change)(ebm_train_config *);
    } cases[] = {
        {"batch = 8, this run has batch = 4 (--batch)", NULL},
        {"seed = 4, this run has seed = 5 (--seed)", NULL},
        {"lr = 0.01", NULL},
        {"sampler = 0, this run has sampler = 2 (--sampler)", NULL},
        {"mcmc_steps = 5, this run has mcmc_steps = 6 (--mcmc-steps)", NULL},
        {"beta1 = 0, this run has beta1 = 0.5 (--adam)", NULL},
        {"objective = 0, this run has objective = 1 (--objective)", NULL},
        {"reinit = 0.050000000000000003, this run has reinit = 0.10000000000000001 (--reinit)", NULL},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        ebm_train_config c2 = c;
        switch (k) {
        case 0: c2.batch = 4; break;
        case 1: c2.seed = 5; break;
        case 2: c2.lr = 0.02; break;
        case 3: c2.sampler.kind = EBM_SAMPLER_MALA; break;
        case 4: c2.sampler.lv.steps = 6; break;
        case 5: c2.beta1 = 0.5; break;
        case 6: c2.objective = EBM_OBJ_CD_SOFTPLUS; break;
        default: c2.reinit = 0.1; break;
        }
        ebm_trainer *t2 = make_trainer(m, &d, &c2);
        assert_refused(t2, m, ck, cases[k].needle, cases[k].needle);
        ebm_trainer_free(t2);
    }
    /* the divergence guard's settings may change (restores stay within max_restores) */
    ebm_train_config c3 = c;
    c3.energy_limit = 50;
    c3.snapshot_every = 7;
    ebm_trainer *t3 = make_trainer(m, &d, &c3);
    ebm_error err = {0};
    ck_assert_msg(ebm_trainer_load(t3, ck, &err) == EBM_OK, "%s", err.msg);
    ebm_trainer_free(t3);
    unlink(ck);
    ebm_trainer_free(t);
    ebm_model_close(m);
    free(d.data);
}
END_TEST

/* A checkpoint made before a setting existed (sigma_power, added after
 * version 3: here its record cut out of a fresh checkpoint, the count and
 * checksum made right) resumes when the run has the value it implies (1),
 * and is refused, naming the setting and that value, otherwise. */
START_TEST(checkpoint_predating_a_setting)
{
    ebm_dataset d = make_data();
    ebm_train_config c = small_config();
    ebm_model *m = open_quad();
    ebm_trainer *t = make_trainer(m, &d, &c);
    const char *ck = make_checkpoint(t);
    ckpt_file f = ckpt_slurp(ck);
    uint32_t ns;
    memcpy(&ns, f.b + CK_NSETTINGS, 4);
    size_t at = 0;
    for (uint32_t k = 0; k < ns && !at; k++)
        if (strcmp((const char *)f.b + CK_HEADER + (size_t)k * CK_SETTING, "sigma_power") == 0)
            at = CK_HEADER + (size_t)k * CK_SETTING;
    ck_assert_msg(at > 0, "the checkpoint records no sigma_power among its %u settings", (unsigned)ns);
    memmove(f.b + at, f.b + at + CK_SETTING, f.len - at - CK_SETTING);
    f.len -= CK_SETTING;
    put_u32(&f, CK_NSETTINGS, ns - 1);
    ckpt_reseal(&f);
    const char *old = tu_path("%s/old.ckpt", work_dir);
    ckpt_write(&f, old);
    ebm_error err = {0};
    ck_assert_msg(ebm_trainer_load(t, old, &err) == EBM_OK, "%s", err.msg);
    ebm_train_config c2 = c;
    c2.sigma_power = 0.5;
    ebm_trainer *t2 = make_trainer(m, &d, &c2);
    assert_refused(t2, m, old, "sigma_power = 0.5", "predates the setting sigma_power, so it was made with "
                   "sigma_power = 1; this run has sigma_power = 0.5 (--sigma-power)");
    ebm_trainer_free(t2);
    free(f.b);
    unlink(old);
    unlink(ck);
    ebm_trainer_free(t);
    ebm_model_close(m);
    free(d.data);
}
END_TEST

/* A run that went back to its snapshot (lr halved) saves a checkpoint its
 * resume accepts: lr = lr0 / 2^restores holds exactly. */
START_TEST(checkpoint_after_restores_loads)
{
    ebm_dataset d = make_data();
    ebm_train_config c = small_config();
    c.lr = 50;
    c.energy_limit = 20;
    c.grad_norm_clip = 0;
    c.snapshot_every = 2;
    ebm_model *m = open_quad();
    ebm_trainer *t = make_trainer(m, &d, &c);
    ebm_error err = {0};
    int restores = 0;
    for (int k = 0; k < 100 && restores < 2; k++) {
        ebm_train_stats s;
        ck_assert_msg(ebm_trainer_step(t, &s, &err) == EBM_OK, "%s", err.msg);
        restores += s.restored;
    }
    ck_assert_int_eq(restores, 2);
    const char *ck = tu_path("%s/r.ckpt", work_dir);
    ck_assert_msg(ebm_trainer_save(t, ck, &err) == EBM_OK, "%s", err.msg);
    ebm_model *m2 = open_quad();
    ebm_trainer *t2 = make_trainer(m2, &d, &c);
    ck_assert_msg(ebm_trainer_load(t2, ck, &err) == EBM_OK, "%s", err.msg);
    ck_assert_double_eq(ebm_trainer_lr(t2), 12.5);
    ck_assert_int_eq(ebm_trainer_steps_done(t2), ebm_trainer_steps_done(t));
    /* with max_restores below the checkpoint's 2 restores it is refused */
    ebm_train_config c1 = c;
    c1.max_restores = 1;
    ebm_trainer *t1 = make_trainer(m2, &d, &c1);
    assert_refused(t1, m2, ck, "max_restores 1", "restores = 2 is out of range: expected 0..1");
    unlink(ck);
    ebm_trainer_free(t1);
    ebm_trainer_free(t2);
    ebm_trainer_free(t);
    ebm_model_close(m2);
    ebm_model_close(m);
    free(d.data);
}
END_TEST

START_TEST(divergence_guard)
{
    ebm_dataset d = make_data();
    ebm_train_config c = small_config();
    c.lr = 50;              /* a blow-up: a moves by ~50 per step */
    c.energy_limit = 20;    /* low, so it counts as divergence at once */
    c.grad_norm_clip = 0;
    c.ema = 0;
    c.snapshot_every = 2;
    c.max_restores = 3;
    ebm_model *m = open_quad();
    ebm_trainer *t = make_trainer(m, &d, &c);
    ebm_error err = {0};
    int restores = 0;
    double lr_seen[8];
    ebm_status st = EBM_OK;
    for (int k = 0; k < 100 && !st; k++) {
        ebm_train_stats s;
        st = ebm_trainer_step(t, &s, &err);
        if (!st && s.restored) {
            ck_assert_int_lt(restores, 8);
            lr_seen[restores++] = s.lr;
            ck_assert_int_eq(s.restored_to % 2, 0);
        }
    }
    printf("divergence guard: %d restores, lr %g %g %g, then: %s\n", restores, lr_seen[0], lr_seen[1], lr_seen[2],
           err.msg);
    ck_assert_int_eq(restores, 3);
    ck_assert_double_eq_tol(lr_seen[0], 25, 1e-12);
    ck_assert_double_eq_tol(lr_seen[2], 6.25, 1e-12);
    ck_assert_int_eq(st, EBM_ERR_NUMERIC);
    ck_assert_ptr_nonnull(strstr(err.msg, "diverged"));
    ck_assert_ptr_nonnull(strstr(err.msg, "3 restores"));
    ebm_trainer_free(t);
    ebm_model_close(m);
    free(d.data);
}
END_TEST

START_TEST(bad_config)
{
    ebm_dataset d = make_data();
    ebm_model *m = open_quad();
    ebm_train_data td = {.dataset = &d};
    ebm_trainer *t = NULL;
    ebm_error err = {0};
    ebm_train_config c = small_config();
    c.lr = 0;
    ck_assert_int_eq(ebm_trainer_new(m, &td, &c, &t, &err), EBM_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.msg, "lr > 0"));
    c = small_config();
    c.sigma_max = 0.05;   /* below sigma (0.1) */
    ck_assert_int_eq(ebm_trainer_new(m, &td, &c, &t, &err), EBM_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.msg, "sigma_max"));
    c = small_config();
    c.batch = 100;   /* more than the 64 samples */
    ck_assert_int_eq(ebm_trainer_new(m, &td, &c, &t, &err), EBM_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.msg, "fewer than the batch"));
    c = small_config();
    c.objective = EBM_OBJ_DSM;   /* compiled without --dsm */
    ck_assert_int_eq(ebm_trainer_new(m, &td, &c, &t, &err), EBM_ERR_UNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(err.msg, "--dsm"));
    ebm_dataset img = {.rank = 4, .shape = {4, 1, 2, 2}};
    img.data = calloc(16, sizeof(float));
    td.dataset = &img;
    c = small_config();
    c.batch = 2;
    ck_assert_int_eq(ebm_trainer_new(m, &td, &c, &t, &err), EBM_ERR_SHAPE);
    ebm_train_data toy = {.toy = "nosuchtoy"};
    ck_assert_int_eq(ebm_trainer_new(m, &toy, &c, &t, &err), EBM_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.msg, "8gaussians"));
    ck_assert_ptr_null(t);
    free(img.data);
    free(d.data);
    ebm_model_close(m);
}
END_TEST

int main(void)
{
    setup_all();
    Suite *s = suite_create("train");
    TCase *tc = tcase_create("train");
    tcase_add_test(tc, cd_loss_by_hand);
    tcase_add_test(tc, cd_param_grad_matches_fd);
    tcase_add_test(tc, adam_by_hand);
    tcase_add_test(tc, resume_is_bit_identical);
    tcase_add_test(tc, checkpoint_failures);
    tcase_add_test(tc, checkpoint_flipped_byte_per_section);
    tcase_add_test(tc, checkpoint_absurd_fields);
    tcase_add_test(tc, checkpoint_settings_must_match);
    tcase_add_test(tc, checkpoint_predating_a_setting);
    tcase_add_test(tc, checkpoint_after_restores_loads);
    tcase_add_test(tc, divergence_guard);
    tcase_add_test(tc, bad_config);
    tcase_add_test(tc, dsm_levels_optimum);
    tcase_add_test(tc, dsm_levels_drawn_with_power);
    tcase_add_loop_test(tc, dsm_step_analytic, 0, 2);   /* _i: one noise level, many */
    suite_add_tcase(s, tc);
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    teardown_all();
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
