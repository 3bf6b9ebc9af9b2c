/* test_train.c — training (runtime/train.h):
 *   - the three CD losses and their dL/dE weights against hand computation
 *     and central differences;
 *   - grad_theta of the CD loss through the compiled param_grad program
 *     against central differences of the loss computed analytically, on
 *     E(x) = 1/2 sum_j (a_j x_j)^2 with trainable a;
 *   - kill-and-resume from a checkpoint gives the bits of an uninterrupted
 *     run; damaged, truncated or foreign checkpoints are refused; a failed
 *     write leaves the previous checkpoint loadable;
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
    const char *names[] = {"a.ckpt", "b.ckpt", "bad.ckpt", "short.ckpt"};
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

/* ---- denoising score matching at many noise levels ----------------------------------------- */

/* x ~ N(0, v) per dimension and E = 1/2 sum_j (a_j x_j)^2.  At level s_i the
 * model is E sigma / s_i (score -a^2 sigma x / s_i) and the noisy data's score
 * is -x / (v + s_i^2); the s_i^2-weighted loss is then
 * E_i (a^2 sigma - s_i / (v + s_i^2))^2 (v + s_i^2), least at
 *   a^2 = E[s_i] / (sigma (v + E[s_i^2])),
 * with s_i log-uniform on [sigma, sigma_max]: E[s] = (sigma_max - sigma) / ln r,
 * E[s^2] = (sigma_max^2 - sigma^2) / (2 ln r), r = sigma_max / sigma.  With one
 * level (sigma_max = 0) it is 1 / (v + sigma^2). */
static double dsm_levels_train(double sigma_max, double *v_out)
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
    const double p1 = dsm_levels_train(0, &v1), pm = dsm_levels_train(smax, &vm);
    const double want1 = 1 / (v1 + sigma * sigma);
    const double es = (smax - sigma) / lr, es2 = (smax * smax - sigma * sigma) / (2 * lr);
    const double wantm = es / (sigma * (vm + es2));
    printf("dsm, one level sigma %.2f: a^2 %.4f, analytic %.4f; levels [%.2f, %.2f]: a^2 %.4f, analytic %.4f\n", sigma,
           p1, want1, sigma, smax, pm, wantm);
    ck_assert_msg(fabs(p1 / want1 - 1) < 0.04, "one level: a^2 = %g, analytic %g", p1, want1);
    ck_assert_msg(fabs(pm / wantm - 1) < 0.04, "levels: a^2 = %g, analytic %g", pm, wantm);
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
    tcase_add_test(tc, resume_is_bit_identical);
    tcase_add_test(tc, checkpoint_failures);
    tcase_add_test(tc, divergence_guard);
    tcase_add_test(tc, bad_config);
    tcase_add_test(tc, dsm_levels_optimum);
    suite_add_tcase(s, tc);
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    teardown_all();
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
