/* test_dsm.c — the denoising-score-matching program (EBMC_PROGRAM_DSM_GRAD:
 * loss_i = 1/2 ||s(x_i) - t_i||^2 with s = -dE/dx, and sum_i dloss_i/dtheta),
 * which differentiates the score graph a second time, and ebm_dsm_grad.
 *
 *   - reference executor, float64: the loss against 1/2 ||s - t||^2 computed
 *     from the (separately tested) score program, rel <= 1e-12; the parameter
 *     gradient against central finite differences of that loss (a few
 *     elements of every parameter, plus one random direction through all of
 *     them), norm-wise rel <= 1e-6, on tests/fixtures/mlp_silu and
 *     cnn_strided_silu; and on E = 1/2 x^T A x, where the gradient is
 *     analytic (1/2 sum_i (r_i x_i^T + x_i r_i^T), r_i = S x_i + t_i, S the
 *     symmetric part of A), rel <= 1e-12;
 *   - compiled (ebmc_compile_model with dsm = 1, tile 3 so 5 samples take two
 *     tiles, arrays at odd addresses so every staging copy is used):
 *     ebm_dsm_grad against the float64 executor, norm-wise rel <= 1e-4 as
 *     for every float32 path (test_runtime_compiled.c);
 *   - a model compiled without dsm has 4 programs and ebm_dsm_grad says
 *     "compile with ebmc --dsm"; bad arguments (NULL target, NULL grad,
 *     n > capacity) and a NaN target or x (refused as inputs) are clear errors.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "autodiff.h"
#include "codegen.h"
#include "ebm.h"
#include "exec.h"
#include "npy.h"
#include "testutil.h"

#define TOL_LOSS_F64 1e-12
#define TOL_FD 1e-6
#define TOL_ANALYTIC 1e-12
#define TOL_F32 1e-4
/* Central-difference steps: per element, and along a direction through all
 * parameters at once, where the h^2 term adds up over every parameter (on
 * cnn_strided_silu the error measured 1.8e-3, 1.9e-5, 1.4e-7 at h = 1e-3,
 * 1e-4, 1e-5, then rounding takes over: 3.5e-6 at 1e-6). */
#define FD_STEP 1e-4
#define FD_DIR_STEP 1e-5
#define FD_ELEMS 4      /* elements checked per parameter tensor */
#define QUAD_D 5
#define N_SAMPLES 5

static const char *const nets[] = {"mlp_silu", "cnn_strided_silu"};
#define N_NETS 2
static char so_dir[256];
static char so_dsm[N_NETS][512], so_plain[512];
static char compile_errors[N_NETS + 1][EBM_ERROR_MSG_MAX];

/* ---- helpers ------------------------------------------------------------------- */

static ir_graph *net_graph(const char *name)
{
    ir_graph *g = NULL;
    ebm_error err = {0};
    ebm_status st = tu_fixture_graph(tu_path("%s/tests/fixtures/%s", tu_source_dir(), name), &g, &err);
    ck_assert_msg(st == EBM_OK, "%s: %s", name, err.msg);
    return g;
}

static ir_graph *build(const ir_graph *e, ebmc_program p)
{
    ir_graph *g = NULL;
    ebm_error err = {0};
    ck_assert_msg(ebmc_build_program(e, p, &g, &err) == EBM_OK, "%s", err.msg);
    return g;
}

/* The fixture's input as float64, and N (its first dimension). */
static double *net_input(const char *name, int64_t *n, int64_t *numel)
{
    ebm_array a = {0};
    ebm_error err = {0};
    ck_assert_msg(ebm_npy_read(tu_path("%s/tests/fixtures/%s/input.npy", tu_source_dir(), name), &a, &err) == EBM_OK,
                  "%s", err.msg);
    *n = a.shape[0];
    *numel = ebm_array_numel(&a);
    double *x = malloc((size_t)(*numel + 1) * sizeof *x);
    for (int64_t i = 0; i < *numel; i++)
        x[i] = a.dtype == EBM_NPY_F32 ? ((float *)a.data)[i] : ((double *)a.data)[i];
    ebm_array_free(&a);
    return x;
}

/* Runs g in float64 on (x, second); outputs malloc'd into out[0 .. n_outputs). */
static void run64(const ir_graph *g, int64_t n, const double *x, const double *second, double **out)
{
    ebm_error err = {0};
    for (int i = 0; i < g->n_outputs; i++)
        out[i] = malloc((size_t)(ir_shape_numel(&g->nodes[g->outputs[i]].shape, n) + 1) * sizeof(double));
    const void *ins[2] = {x, second};
    ck_assert_msg(ebmc_exec(g, n, EBMC_F64, ins, (void *const *)out, &err) == EBM_OK, "%s", err.msg);
}

static void free_outs(double **out, int n)
{
    for (int i = 0; i < n; i++)
        free(out[i]);
}

/* sum_i 1/2 ||s_i - t_i||^2 from the score program s (outputs energy, score). */
static double loss_from_score(const ir_graph *s, int64_t n, const double *x, const double *t, int64_t numel,
                              double *per_sample)
{
    double *out[2];
    run64(s, n, x, NULL, out);
    double total = 0;
    for (int64_t i = 0; i < n; i++) {
        double li = 0;
        for (int64_t j = i * (numel / n); j < (i + 1) * (numel / n); j++)
            li += 0.5 * (out[1][j] - t[j]) * (out[1][j] - t[j]);
        if (per_sample)
            per_sample[i] = li;
        total += li;
    }
    free_outs(out, 2);
    return total;
}

/* The trainable parameter node of g named `name`. */
static ir_node *param_node(ir_graph *g, const char *name)
{
    for (int i = 0; i < g->n_nodes; i++)
        if (g->nodes[i].op == IR_OP_CONST && (g->nodes[i].flags & IR_NODE_TRAINABLE) && g->nodes[i].name &&
            strcmp(g->nodes[i].name, name) == 0)
            return &g->nodes[i];
    ck_abort_msg("no parameter %s", name);
    return NULL;
}

/* ---- (1) the graph, against finite differences ------------------------------------- */

typedef struct fd_check {
    double diff, scale;   /* max |fd - grad|, max |grad| over the checked values */
    int checked;
} fd_check;

static void fd_add(fd_check *c, double fd, double grad)
{
    c->diff = fmax(c->diff, fabs(fd - grad));
    c->scale = fmax(c->scale, fabs(grad));
    c->checked++;
}

/* Central difference of the loss in element j of parameter p (the parameters
 * are float32: the step actually taken is what the rounding leaves). */
static double fd_element(ir_graph *s, ir_node *p, int64_t j, int64_t n, const double *x, const double *t,
                         int64_t numel)
{
    const float v = p->data[j];
    const float up = (float)(v + FD_STEP), down = (float)(v - FD_STEP);
    p->data[j] = up;
    double lp = loss_from_score(s, n, x, t, numel, NULL);
    p->data[j] = down;
    double lm = loss_from_score(s, n, x, t, numel, NULL);
    p->data[j] = v;
    return (lp - lm) / ((double)up - (double)down);
}

/* The change of the loss from theta- to theta+ = theta -+ h v (v a random
 * direction through every parameter), against grad . (theta+ - theta-):
 * returns the relative difference. */
static double fd_direction(ir_graph *s, const ir_graph *d, double *const *grads, int64_t n, const double *x,
                           const double *t, int64_t numel)
{
    const int np = d->n_outputs - 1;
    float **saved = calloc((size_t)np, sizeof *saved), **plus = calloc((size_t)np, sizeof *plus);
    float **minus = calloc((size_t)np, sizeof *minus);
    double want = 0;
    for (int k = 0; k < np; k++) {
        const ir_node *p = param_node(s, d->output_names[k + 1] + 5);
        int64_t m = ir_shape_numel(&p->shape, 0);
        double *v = malloc((size_t)(m + 1) * sizeof *v);
        tu_fill_uniform_f64(v, (size_t)m, 100 + (uint64_t)k, -1, 1);
        saved[k] = malloc((size_t)(m + 1) * sizeof(float));
        plus[k] = malloc((size_t)(m + 1) * sizeof(float));
        minus[k] = malloc((size_t)(m + 1) * sizeof(float));
        for (int64_t j = 0; j < m; j++) {
            saved[k][j] = p->data[j];
            plus[k][j] = (float)(p->data[j] + FD_DIR_STEP * v[j]);
            minus[k][j] = (float)(p->data[j] - FD_DIR_STEP * v[j]);
            want += grads[k + 1][j] * ((double)plus[k][j] - (double)minus[k][j]);
        }
        free(v);
    }
    double loss[2];
    for (int pass = 0; pass < 3; pass++) {   /* theta+, theta-, then restore */
        float *const *src = pass == 0 ? plus : pass == 1 ? minus : saved;
        for (int k = 0; k < np; k++) {
            ir_node *p = param_node(s, d->output_names[k + 1] + 5);
            memcpy(p->data, src[k], (size_t)ir_shape_numel(&p->shape, 0) * sizeof(float));
        }
        if (pass < 2)
            loss[pass] = loss_from_score(s, n, x, t, numel, NULL);
    }
    for (int k = 0; k < np; k++)
        free(saved[k]), free(plus[k]), free(minus[k]);
    free(saved), free(plus), free(minus);
    ck_assert_msg(want != 0, "grad . dtheta = 0");
    return fabs((loss[0] - loss[1]) - want) / fabs(want);
}

START_TEST(test_graph_vs_finite_differences)
{
    const char *name = nets[_i];
    ir_graph *e = net_graph(name);
    ir_graph *d = build(e, EBMC_PROGRAM_DSM_GRAD), *s = build(e, EBMC_PROGRAM_SCORE);
    ck_assert_int_eq(d->n_inputs, 2);
    ck_assert_str_eq(d->output_names[0], "loss");
    int64_t n, numel;
    double *x = net_input(name, &n, &numel);
    double *t = malloc((size_t)numel * sizeof *t), *ref = malloc((size_t)n * sizeof *ref);
    tu_fill_uniform_f64(t, (size_t)numel, 7, -1, 1);
    double *out[64];
    ck_assert_int_le(d->n_outputs, 64);
    run64(d, n, x, t, out);
    double total = loss_from_score(s, n, x, t, numel, ref);
    ck_assert_msg(total > 0, "%s: zero loss", name);
    double rl = tu_rel_err_f64(out[0], ref, (size_t)n);
    ck_assert_msg(rl <= TOL_LOSS_F64, "%s: loss rel %g", name, rl);
    fd_check c = {0, 1e-300, 0};
    for (int k = 1; k < d->n_outputs; k++) {
        ck_assert(strncmp(d->output_names[k], "grad:", 5) == 0);
        ir_node *p = param_node(s, d->output_names[k] + 5);
        int64_t m = ir_shape_numel(&p->shape, 0);
        for (int q = 0; q < FD_ELEMS && q < m; q++) {
            int64_t j = q * (m - 1) / (FD_ELEMS - 1);   /* first, last and two between */
            fd_add(&c, fd_element(s, p, j, n, x, t, numel), out[k][j]);
        }
    }
    double elem_rel = c.diff / c.scale, dir_rel = fd_direction(s, d, out, n, x, t, numel);
    printf("%-18s dsm_grad: %d nodes (score %d, energy %d); loss rel %.2e; %d elements vs finite differences "
           "rel %.2e; a random direction through all parameters rel %.2e\n", name, d->n_nodes, s->n_nodes,
           e->n_nodes, rl, c.checked, elem_rel, dir_rel);
    ck_assert_int_gt(c.checked, 8);
    ck_assert_msg(elem_rel <= TOL_FD && dir_rel <= TOL_FD, "%s: parameter gradient vs finite differences rel %g, "
                  "along a random direction rel %g", name, elem_rel, dir_rel);
    free_outs(out, d->n_outputs);
    free(x), free(t), free(ref);
    ir_graph_free(d), ir_graph_free(s), ir_graph_free(e);
}
END_TEST

/* E(x) = 1/2 x^T A x per sample, x [N, D], A a trainable [D, D] parameter. */
static ir_graph *quadratic_graph(const float *a)
{
    ebm_error err = {0};
    ir_graph *g = ir_graph_new();
    int x = ir_add_input(g, "x", ir_shape_make(2, IR_DIM_N, QUAD_D), &err);
    int A = ir_add_const(g, "A", ir_shape_make(2, QUAD_D, QUAD_D), a, IR_NODE_PARAM | IR_NODE_TRAINABLE, &err);
    int xa = ir_matmul(g, x, A, NULL, &err);
    int q = ir_reduce(g, IR_OP_RSUM, ir_binary(g, IR_OP_MUL, xa, x, NULL, &err), 1u << 1, NULL, &err);
    int e = ir_binary(g, IR_OP_MUL, ir_reshape(g, q, ir_shape_make(1, IR_DIM_N), NULL, &err),
                      ir_add_scalar(g, 0.5, &err), NULL, &err);
    ck_assert_msg(e >= 0 && ir_add_output(g, e, "energy", &err) == EBM_OK, "%s", err.msg);
    ck_assert_msg(ir_verify(g, &err) == EBM_OK, "%s", err.msg);
    return g;
}

START_TEST(test_quadratic_analytic)
{
    float a[QUAD_D * QUAD_D];
    tu_fill_uniform_f32(a, QUAD_D * QUAD_D, 3, -1, 1);
    ir_graph *e = quadratic_graph(a);
    ir_graph *d = build(e, EBMC_PROGRAM_DSM_GRAD);
    ck_assert_int_eq(d->n_outputs, 2);
    ck_assert_str_eq(d->output_names[1], "grad:A");
    const int64_t n = N_SAMPLES;
    double x[N_SAMPLES * QUAD_D], t[N_SAMPLES * QUAD_D], loss[N_SAMPLES], g[QUAD_D * QUAD_D] = {0};
    tu_fill_uniform_f64(x, N_SAMPLES * QUAD_D, 11, -1, 1);
    tu_fill_uniform_f64(t, N_SAMPLES * QUAD_D, 12, -2, 2);
    /* s = -S x, S = (A + A^T) / 2; s - t = -(S x + t) = -r */
    for (int64_t i = 0; i < n; i++) {
        double r[QUAD_D];
        loss[i] = 0;
        for (int p = 0; p < QUAD_D; p++) {
            r[p] = t[i * QUAD_D + p];
            for (int q = 0; q < QUAD_D; q++)
                r[p] += 0.5 * ((double)a[p * QUAD_D + q] + (double)a[q * QUAD_D + p]) * x[i * QUAD_D + q];
            loss[i] += 0.5 * r[p] * r[p];
        }
        for (int p = 0; p < QUAD_D; p++)
            for (int q = 0; q < QUAD_D; q++)
                g[p * QUAD_D + q] += 0.5 * (r[p] * x[i * QUAD_D + q] + x[i * QUAD_D + p] * r[q]);
    }
    double *out[2];
    run64(d, n, x, t, out);
    double rl = tu_rel_err_f64(out[0], loss, N_SAMPLES), rg = tu_rel_err_f64(out[1], g, QUAD_D * QUAD_D);
    printf("quadratic          dsm_grad: loss rel %.2e, gradient rel %.2e (analytic)\n", rl, rg);
    ck_assert_msg(rl <= TOL_ANALYTIC && rg <= TOL_ANALYTIC, "loss rel %g, gradient rel %g", rl, rg);
    free_outs(out, 2);
    ir_graph_free(d), ir_graph_free(e);
}
END_TEST

/* ---- (2)-(4) compiled ------------------------------------------------------------ */

/* In the parent process, before the tests fork: each net with dsm, and
 * mlp_silu without it. */
static void compile_all(void)
{
    snprintf(so_dir, sizeof so_dir, "/tmp/ebmc_test_dsm_XXXXXX");
    if (!mkdtemp(so_dir)) {
        snprintf(compile_errors[0], sizeof compile_errors[0], "mkdtemp failed");
        return;
    }
    for (int k = 0; k <= N_NETS; k++) {
        const char *name = k < N_NETS ? nets[k] : "mlp_silu";
        char *path = k < N_NETS ? so_dsm[k] : so_plain;
        snprintf(path, 512, "%s/%s%s.so", so_dir, name, k < N_NETS ? "_dsm" : "");
        ir_graph *g = NULL;
        ebm_error err = {0};
        char head[64];
        const char *dir = tu_path("%s/tests/fixtures/%s", tu_source_dir(), name);
        ebm_status st = tu_fixture_head(tu_path("%s/meta.json", dir), head, sizeof head, &err);
        if (!st)
            st = tu_fixture_graph(dir, &g, &err);
        ebmc_compile_options o = {.opt_level = 2, .target_cpu = "native", .tile = 3, .energy_head = head,
                                  .dsm = k < N_NETS};
        if (!st)
            st = ebmc_compile_model(g, &o, path, &err);
        if (st)
            snprintf(compile_errors[k], sizeof compile_errors[k], "%s", err.msg[0] ? err.msg : "failed");
        ir_graph_free(g);
    }
}

static ebm_model *open_so(int k)
{
    ck_assert_msg(!compile_errors[k][0], "%s", compile_errors[k]);
    ebm_model *m = NULL;
    ebm_error err = {0};
    ck_assert_msg(ebm_model_open(k < N_NETS ? so_dsm[k] : so_plain, &m, &err) == EBM_OK, "%s", err.msg);
    return m;
}

START_TEST(test_compiled_vs_executor)
{
    const char *name = nets[_i];
    ebm_model *m = open_so(_i);
    const ebm_abi_model *desc = ebm_model_desc(m);
    ck_assert_int_eq(desc->n_programs, 5);
    ir_graph *e = net_graph(name);
    ir_graph *d = build(e, EBMC_PROGRAM_DSM_GRAD);
    int64_t n, numel;
    double *x = net_input(name, &n, &numel);
    ck_assert_int_gt(n, desc->tile);   /* at least two tiles */
    double *t = malloc((size_t)numel * sizeof *t);
    tu_fill_uniform_f64(t, (size_t)numel, 9, -1, 1);
    double *out[64];
    run64(d, n, x, t, out);
    /* float32 copies one float past an aligned start: the staging paths */
    float *xb = malloc((size_t)(numel + 17) * sizeof(float)), *tb = malloc((size_t)(numel + 17) * sizeof(float));
    float *lb = malloc((size_t)(n + 17) * sizeof(float));
    float *gb = malloc((size_t)(desc->weights_numel + 17) * sizeof(float));
    float *xf = xb + 1, *tf = tb + 1, *loss = lb + 1, *grad = gb + 1;
    for (int64_t j = 0; j < numel; j++)
        xf[j] = (float)x[j], tf[j] = (float)t[j];
    ebm_ctx *c = NULL;
    ebm_error err = {0};
    ck_assert_int_eq(ebm_ctx_new(m, n, &c, &err), EBM_OK);
    ck_assert_msg(ebm_dsm_grad(c, xf, tf, n, loss, grad, &err) == EBM_OK, "%s: %s", name, err.msg);
    double rl = tu_rel_err_f32(loss, out[0], (size_t)n);
    double diff = 0, scale = 1e-300;
    int compared = 0;
    for (int k = 1; k < d->n_outputs; k++) {
        int idx = ebm_model_param_index(m, d->output_names[k] + 5);
        ck_assert_int_ge(idx, 0);
        const ebm_abi_param *p = &desc->params[idx];
        for (int64_t j = 0; j < p->numel; j++) {
            scale = fmax(scale, fabs(out[k][j]));
            diff = fmax(diff, isnan(grad[p->offset + j]) ? INFINITY : fabs(grad[p->offset + j] - out[k][j]));
        }
        compared++;
    }
    /* overwritten, not accumulated: a second call gives the same numbers */
    float *again = malloc((size_t)(desc->weights_numel + 1) * sizeof(float));
    ck_assert_msg(ebm_dsm_grad(c, xf, tf, n, NULL, again, &err) == EBM_OK, "%s", err.msg);
    ck_assert_int_eq(memcmp(again, grad, (size_t)desc->weights_numel * sizeof(float)), 0);
    /* n = 0: the empty sum */
    ck_assert_msg(ebm_dsm_grad(c, NULL, NULL, 0, NULL, again, &err) == EBM_OK, "%s", err.msg);
    for (int64_t j = 0; j < desc->weights_numel; j++)
        ck_assert_float_eq(again[j], 0.0f);
    printf("%-18s compiled dsm_grad vs float64 executor: loss rel %.2e, gradient rel %.2e over %d parameters\n",
           name, rl, diff / scale, compared);
    ck_assert_msg(rl <= TOL_F32 && diff / scale <= TOL_F32, "%s: loss rel %g, gradient rel %g", name, rl,
                  diff / scale);
    ck_assert_int_gt(compared, 0);
    free_outs(out, d->n_outputs);
    free(x), free(t), free(xb), free(tb), free(lb), free(gb), free(again);
    ebm_ctx_free(c);
    ir_graph_free(d), ir_graph_free(e);
    ebm_model_close(m);
}
END_TEST

static void expect_fail(ebm_status got, ebm_status want, const ebm_error *err, const char *needle)
{
    ck_assert_msg(got == want, "status %s, expected %s (%s)", ebm_status_name(got), ebm_status_name(want), err->msg);
    ck_assert_msg(strstr(err->msg, needle) != NULL, "message '%s' does not mention '%s'", err->msg, needle);
}

START_TEST(test_without_dsm_program)
{
    ebm_model *m = open_so(N_NETS);
    ck_assert_int_eq(ebm_model_desc(m)->n_programs, 4);
    const int64_t numel = ebm_model_sample_numel(m);
    float *x = calloc((size_t)numel, sizeof(float)), *t = calloc((size_t)numel, sizeof(float));
    float *g = calloc((size_t)ebm_model_desc(m)->weights_numel + 1, sizeof(float));
    ebm_ctx *c = NULL;
    ebm_error err = {0};
    ck_assert_int_eq(ebm_ctx_new(m, 1, &c, &err), EBM_OK);
    ebm_status st = ebm_dsm_grad(c, x, t, 1, NULL, g, &err);
    expect_fail(st, EBM_ERR_UNSUPPORTED, &err, "compile with ebmc --dsm");
    ck_assert_ptr_nonnull(strstr(err.msg, so_plain));
    free(x), free(t), free(g);
    ebm_ctx_free(c);
    ebm_model_close(m);
}
END_TEST

START_TEST(test_bad_arguments)
{
    ebm_model *m = open_so(0);
    const int64_t numel = ebm_model_sample_numel(m), n = 2;
    float *x = calloc((size_t)(n * numel), sizeof(float)), *t = calloc((size_t)(n * numel), sizeof(float));
    float *g = calloc((size_t)ebm_model_desc(m)->weights_numel + 1, sizeof(float)), loss[2];
    ebm_ctx *c = NULL;
    ebm_error err = {0};
    ck_assert_int_eq(ebm_ctx_new(m, n, &c, &err), EBM_OK);
    expect_fail(ebm_dsm_grad(c, x, NULL, n, loss, g, &err), EBM_ERR_INVALID, &err, "target is NULL");
    expect_fail(ebm_dsm_grad(c, NULL, t, n, loss, g, &err), EBM_ERR_INVALID, &err, "x is NULL");
    expect_fail(ebm_dsm_grad(c, x, t, n, loss, NULL, &err), EBM_ERR_INVALID, &err, "grad is NULL");
    expect_fail(ebm_dsm_grad(c, x, t, n + 1, loss, g, &err), EBM_ERR_INVALID, &err, "capacity");
    expect_fail(ebm_dsm_grad(c, x, t, -1, loss, g, &err), EBM_ERR_INVALID, &err, "n = -1");
    expect_fail(ebm_dsm_grad(NULL, x, t, n, loss, g, &err), EBM_ERR_INVALID, &err, "context is NULL");
    /* control: the same call with good arguments works; then a NaN target, and an Inf x, are named as
     * inputs with their sample */
    ck_assert_msg(ebm_dsm_grad(c, x, t, n, loss, g, &err) == EBM_OK, "%s", err.msg);
    t[numel + 1] = NAN;
    expect_fail(ebm_dsm_grad(c, x, t, n, loss, g, &err), EBM_ERR_NUMERIC, &err,
                "ebm_dsm_grad: target not finite (NaN/Inf) for 1 of 2 samples (first: sample 1)");
    t[numel + 1] = 0;
    x[1] = INFINITY;
    expect_fail(ebm_dsm_grad(c, x, t, n, loss, g, &err), EBM_ERR_NUMERIC, &err,
                "ebm_dsm_grad: input x not finite (NaN/Inf) for 1 of 2 samples (first: sample 0)");
    free(x), free(t), free(g);
    ebm_ctx_free(c);
    ebm_model_close(m);
}
END_TEST

int main(void)
{
    compile_all();
    Suite *s = suite_create("dsm");
    TCase *t = tcase_create("dsm");
    tcase_set_timeout(t, 300);
    tcase_add_loop_test(t, test_graph_vs_finite_differences, 0, N_NETS);
    tcase_add_test(t, test_quadratic_analytic);
    tcase_add_loop_test(t, test_compiled_vs_executor, 0, N_NETS);
    tcase_add_test(t, test_without_dsm_program);
    tcase_add_test(t, test_bad_arguments);
    suite_add_tcase(s, t);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    for (int k = 0; k < N_NETS; k++)
        unlink(so_dsm[k]);
    unlink(so_plain);
    rmdir(so_dir);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
