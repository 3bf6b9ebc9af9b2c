/* test_exec.c — the reference executor against values computed here, by
 * hand-written loops in double, by hand, or through identities (the adjoint
 * identities of convolution and pooling). */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "exec.h"
#include "testutil.h"

/* ---- helpers ------------------------------------------------------------------ */

/* Uniform values rounded to float, so f32 and f64 runs see the same inputs. */
static double *rand_vals(size_t n, uint64_t seed, double lo, double hi)
{
    double *x = malloc((n ? n : 1) * sizeof *x);
    tu_fill_uniform_f64(x, n, seed, lo, hi);
    for (size_t i = 0; i < n; i++)
        x[i] = (float)x[i];
    return x;
}

/* Small integers in [-k, k], so comparisons meet equal values. */
static double *int_vals(size_t n, uint64_t seed, int k)
{
    double *x = rand_vals(n, seed, -k - 0.5, k + 0.5);
    for (size_t i = 0; i < n; i++)
        x[i] = round(x[i]);
    return x;
}

static size_t out_count(const ir_graph *g, int j, int64_t n)
{
    return (size_t)ir_shape_numel(&g->nodes[g->outputs[j]].shape, n);
}

/* Runs g in precision dt on double inputs (one per graph input, in order) and
 * returns every output as a malloc'd double array. */
static double **run(const ir_graph *g, int64_t n, ebmc_dtype dt, double *const *in)
{
    size_t es = dt == EBMC_F64 ? sizeof(double) : sizeof(float);
    void **ib = calloc((size_t)g->n_inputs + 1, sizeof *ib), **ob = calloc((size_t)g->n_outputs + 1, sizeof *ob);
    for (int k = 0; k < g->n_inputs; k++) {
        size_t c = (size_t)ir_shape_numel(&g->nodes[g->inputs[k]].shape, n);
        ib[k] = malloc(c * es + 1);
        for (size_t i = 0; i < c; i++) {
            if (dt == EBMC_F64)
                ((double *)ib[k])[i] = in[k][i];
            else
                ((float *)ib[k])[i] = (float)in[k][i];
        }
    }
    for (int j = 0; j < g->n_outputs; j++)
        ob[j] = malloc(out_count(g, j, n) * es + 1);
    ebm_error err = {0};
    ebm_status st = ebmc_exec(g, n, dt, (const void *const *)ib, ob, &err);
    ck_assert_msg(st == EBM_OK, "ebmc_exec: %s", err.msg);
    double **outs = calloc((size_t)g->n_outputs + 1, sizeof *outs);
    for (int j = 0; j < g->n_outputs; j++) {
        size_t c = out_count(g, j, n);
        outs[j] = malloc(c * sizeof(double) + 1);
        for (size_t i = 0; i < c; i++)
            outs[j][i] = dt == EBMC_F64 ? ((double *)ob[j])[i] : ((float *)ob[j])[i];
        free(ob[j]);
    }
    for (int k = 0; k < g->n_inputs; k++)
        free(ib[k]);
    free(ib);
    free(ob);
    return outs;
}

static void free_outs(const ir_graph *g, double **outs)
{
    for (int j = 0; j < g->n_outputs; j++)
        free(outs[j]);
    free(outs);
}

/* Output j in both precisions against want (norm-wise relative error). */
static void check_out(const ir_graph *g, int64_t n, double *const *in, int j, const double *want,
                      double tol32, double tol64, const char *what)
{
    ebmc_dtype dts[2] = {EBMC_F32, EBMC_F64};
    double tols[2] = {tol32, tol64};
    for (int t = 0; t < 2; t++) {
        double **o = run(g, n, dts[t], in);
        double e = tu_rel_err_f64(o[j], want, out_count(g, j, n));
        ck_assert_msg(e <= tols[t], "%s (%s): relative error %g > %g", what, t ? "f64" : "f32", e, tols[t]);
        free_outs(g, o);
    }
}

static ir_attr zero_attr(void)
{
    ir_attr a;
    memset(&a, 0, sizeof a);
    return a;
}

/* ---- elementwise ---------------------------------------------------------------- */

/* Independent formulas; NAN for an op this test does not know (which fails). */
static double ref_unary(ir_op op, double x, double p)
{
    switch (op) {
    case IR_OP_NEG: return -x;
    case IR_OP_ABS: return x < 0 ? -x : x;
    case IR_OP_SIGN: return x > 0 ? 1 : x < 0 ? -1 : 0;
    case IR_OP_STEP: return x > 0 ? 1 : 0;
    case IR_OP_EXP: return exp(x);
    case IR_OP_LOG: return log(x);
    case IR_OP_SQRT: return sqrt(x);
    case IR_OP_TANH: return (exp(2 * x) - 1) / (exp(2 * x) + 1);
    case IR_OP_SIGMOID: return 1 / (1 + exp(-x));
    case IR_OP_ERF: return erf(x);
    case IR_OP_SIN: return sin(x);
    case IR_OP_COS: return cos(x);
    case IR_OP_ATAN: return 2 * atan(x / (1 + sqrt(1 + x * x)));   /* the half-angle form */
    case IR_OP_RELU: return x > 0 ? x : 0;
    case IR_OP_SOFTPLUS: return log(1 + exp(x));
    case IR_OP_POWS: return exp(p * log(x));
    default: return NAN;
    }
}

static int needs_positive(ir_op op)
{
    return op == IR_OP_LOG || op == IR_OP_SQRT || op == IR_OP_POWS;
}

START_TEST(test_unary_every_op)
{
    const int64_t n = 3;
    int tested = 0;
    for (int op = 0; op < IR_OP_COUNT; op++) {
        const ir_op_info *info = ir_op_get((ir_op)op);
        if (!info->elementwise || info->arity != 1)
            continue;
        ebm_error err = {0};
        ir_graph *g = ir_graph_new();
        int x = ir_add_input(g, "x", ir_shape_make(2, IR_DIM_N, 7), &err);
        int y = op == IR_OP_POWS ? ir_pows(g, x, 2.5, "y", &err) : ir_unary(g, (ir_op)op, x, "y", &err);
        ck_assert_int_eq(ir_add_output(g, y, "y", &err), EBM_OK);
        double *xv = needs_positive((ir_op)op) ? rand_vals(21, 7, 0.05, 3) : rand_vals(21, 7, -3, 3);
        if (!needs_positive((ir_op)op))
            xv[4] = 0, xv[9] = -0.0;   /* sign, step, relu at 0 */
        double want[21];
        for (int i = 0; i < 21; i++) {
            want[i] = ref_unary((ir_op)op, xv[i], 2.5);
            ck_assert_msg(!isnan(want[i]), "no reference formula for op %s", info->name);
        }
        check_out(g, n, &xv, 0, want, 2e-7, 1e-14, info->name);
        free(xv);
        ir_graph_free(g);
        tested++;
    }
    ck_assert_int_gt(tested, 0);
}
END_TEST

static double ref_binary(ir_op op, double x, double y)
{
    switch (op) {
    case IR_OP_ADD: return x + y;
    case IR_OP_SUB: return x - y;
    case IR_OP_MUL: return x * y;
    case IR_OP_DIV: return x / y;
    case IR_OP_MAX: return x > y ? x : y;
    case IR_OP_MIN: return x < y ? x : y;
    case IR_OP_GT: return x > y;
    case IR_OP_GE: return x >= y;
    case IR_OP_EQ: return x == y;
    default: return NAN;
    }
}

/* x [N,3,1] op y [4] -> [N,3,4] */
START_TEST(test_binary_every_op_broadcast)
{
    const int64_t n = 2;
    int tested = 0;
    for (int op = 0; op < IR_OP_COUNT; op++) {
        const ir_op_info *info = ir_op_get((ir_op)op);
        if (!info->elementwise || info->arity != 2)
            continue;
        ebm_error err = {0};
        ir_graph *g = ir_graph_new();
        int x = ir_add_input(g, "x", ir_shape_make(3, IR_DIM_N, 3, 1), &err);
        int y = ir_add_input(g, "y", ir_shape_make(1, 4), &err);
        ck_assert_int_eq(ir_add_output(g, ir_binary(g, (ir_op)op, x, y, "z", &err), "z", &err), EBM_OK);
        double *xv = int_vals(6, 11, 2);
        double yv[4] = {-2, 0.5, 1, 2};
        double *in[2] = {xv, yv};
        double want[24];
        for (int b = 0; b < n; b++)
            for (int i = 0; i < 3; i++)
                for (int j = 0; j < 4; j++) {
                    want[(b * 3 + i) * 4 + j] = ref_binary((ir_op)op, xv[b * 3 + i], yv[j]);
                    ck_assert_msg(!isnan(want[(b * 3 + i) * 4 + j]), "no reference formula for op %s", info->name);
                }
        check_out(g, n, in, 0, want, 1e-7, 1e-15, info->name);
        free(xv);
        ir_graph_free(g);
        tested++;
    }
    ck_assert_int_gt(tested, 0);
}
END_TEST

/* N against N and static against N in one expression; select broadcasts all three. */
START_TEST(test_broadcast_batch_and_select)
{
    const int64_t n = 3;
    ebm_error err = {0};
    ir_graph *g = ir_graph_new();
    int a = ir_add_input(g, "a", ir_shape_make(3, IR_DIM_N, 1, 4), &err);
    int b = ir_add_input(g, "b", ir_shape_make(3, IR_DIM_N, 3, 1), &err);
    float cv[3] = {10, 20, 30};
    int c = ir_add_const(g, "c", ir_shape_make(2, 3, 1), cv, 0, &err);
    int s = ir_add_scalar(g, -1.5, &err);
    int sum = ir_binary(g, IR_OP_ADD, a, b, "sum", &err);               /* [N,3,4] */
    int sel = ir_select(g, ir_binary(g, IR_OP_GT, a, s, NULL, &err), c, s, "sel", &err);
    ck_assert_int_eq(ir_add_output(g, sum, "sum", &err), EBM_OK);
    ck_assert_int_eq(ir_add_output(g, sel, "sel", &err), EBM_OK);
    double *av = int_vals(12, 3, 3), *bv = rand_vals(9, 4, -1, 1);
    double *in[2] = {av, bv};
    double want_sum[36], want_sel[36];
    for (int k = 0; k < n; k++)
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 4; j++) {
                want_sum[(k * 3 + i) * 4 + j] = av[k * 4 + j] + bv[k * 3 + i];
                want_sel[(k * 3 + i) * 4 + j] = av[k * 4 + j] > -1.5 ? cv[i] : -1.5;
            }
    check_out(g, n, in, 0, want_sum, 1e-7, 1e-15, "add [N,1,4]+[N,3,1]");
    check_out(g, n, in, 1, want_sel, 0, 0, "select");
    free(av);
    free(bv);
    ir_graph_free(g);
}
END_TEST

/* ---- reductions --------------------------------------------------------------------- */

/* For each output cell, scan all input cells that agree on the kept axes. */
static void ref_reduce(const double *x, int64_t n, uint32_t axes, int is_max, double *out)
{
    int64_t d[3] = {n, 3, 4}, od[3];
    for (int a = 0; a < 3; a++)
        od[a] = (axes >> a) & 1 ? 1 : d[a];
    for (int64_t o0 = 0; o0 < od[0]; o0++)
        for (int64_t o1 = 0; o1 < od[1]; o1++)
            for (int64_t o2 = 0; o2 < od[2]; o2++) {
                double acc = is_max ? -INFINITY : 0;
                for (int64_t i0 = 0; i0 < d[0]; i0++)
                    for (int64_t i1 = 0; i1 < d[1]; i1++)
                        for (int64_t i2 = 0; i2 < d[2]; i2++) {
                            if ((od[0] > 1 && i0 != o0) || (od[1] > 1 && i1 != o1) || (od[2] > 1 && i2 != o2))
                                continue;
                            double v = x[(i0 * 3 + i1) * 4 + i2];
                            acc = is_max ? fmax(acc, v) : acc + v;
                        }
                out[(o0 * od[1] + o1) * od[2] + o2] = acc;
            }
}

START_TEST(test_reduce_sum_max)
{
    const int64_t n = 2;
    double *xv = rand_vals(24, 5, -2, 2);
    for (int op = 0; op < 2; op++)
        for (uint32_t axes = 1; axes < 8; axes++) {
            ebm_error err = {0};
            ir_graph *g = ir_graph_new();
            int x = ir_add_input(g, "x", ir_shape_make(3, IR_DIM_N, 3, 4), &err);
            int r = ir_reduce(g, op ? IR_OP_RMAX : IR_OP_RSUM, x, axes, "r", &err);
            ck_assert_int_eq(ir_add_output(g, r, "r", &err), EBM_OK);
            double want[24];
            ref_reduce(xv, n, axes, op, want);
            check_out(g, n, &xv, 0, want, 1e-6, 1e-14, op ? "rmax" : "rsum");
            ir_graph_free(g);
        }
    free(xv);
}
END_TEST

/* ---- matmul ----------------------------------------------------------------------- */

/* a [N,1,3,4] x b [2,4,5] -> [N,2,3,5]: a is shared across b's batch. */
START_TEST(test_matmul_batch_broadcast)
{
    const int64_t n = 3;
    ebm_error err = {0};
    ir_graph *g = ir_graph_new();
    int a = ir_add_input(g, "a", ir_shape_make(4, IR_DIM_N, 1, 3, 4), &err);
    int b = ir_add_input(g, "b", ir_shape_make(3, 2, 4, 5), &err);
    int m = ir_matmul(g, a, b, "mm", &err);
    ck_assert_int_eq(ir_add_output(g, m, "mm", &err), EBM_OK);
    double *av = rand_vals(36, 1, -1, 1), *bv = rand_vals(40, 2, -1, 1);
    double *in[2] = {av, bv};
    double want[3 * 2 * 3 * 5];
    for (int k = 0; k < n; k++)
        for (int h = 0; h < 2; h++)
            for (int i = 0; i < 3; i++)
                for (int j = 0; j < 5; j++) {
                    double s = 0;
                    for (int q = 0; q < 4; q++)
                        s += av[(k * 3 + i) * 4 + q] * bv[(h * 4 + q) * 5 + j];
                    want[((k * 2 + h) * 3 + i) * 5 + j] = s;
                }
    check_out(g, n, in, 0, want, 1e-6, 1e-14, "matmul");
    free(av);
    free(bv);
    ir_graph_free(g);
}
END_TEST

/* ---- convolution ------------------------------------------------------------------- */

typedef struct conv_case {
    int c, h, w, o, kh, kw, group;
    int stride[2], pad[4], dil[2];
} conv_case;

static const conv_case conv_cases[] = {
    {4, 7, 6, 6, 3, 2, 2, {2, 1}, {1, 0, 2, 1}, {1, 2}},
    {3, 5, 5, 2, 3, 3, 1, {1, 1}, {1, 1, 1, 1}, {1, 1}},
    {2, 8, 7, 4, 2, 3, 2, {3, 2}, {0, 2, 1, 0}, {2, 1}},   /* leaves uncovered rows */
    {3, 6, 6, 3, 3, 3, 3, {1, 1}, {0, 0, 0, 0}, {1, 1}},   /* depthwise */
};

static int conv_out(int size, int lo, int hi, int k, int s, int d)
{
    return (size + lo + hi - d * (k - 1) - 1) / s + 1;
}

static ir_attr conv_attr(const conv_case *cc)
{
    ir_attr a = zero_attr();
    for (int i = 0; i < 2; i++) {
        a.conv.stride[i] = cc->stride[i];
        a.conv.dilation[i] = cc->dil[i];
    }
    for (int i = 0; i < 4; i++)
        a.conv.pad[i] = cc->pad[i];
    a.conv.group = cc->group;
    a.conv.in_hw[0] = cc->h, a.conv.in_hw[1] = cc->w;
    a.conv.kernel[0] = cc->kh, a.conv.kernel[1] = cc->kw;
    return a;
}

/* Graph with inputs x, w, dy and outputs conv(x,w), bwd_data(dy,w), bwd_filter(x,dy). */
static ir_graph *conv_graph(const conv_case *cc, int *ho, int *wo)
{
    ebm_error err = {0};
    ir_graph *g = ir_graph_new();
    *ho = conv_out(cc->h, cc->pad[0], cc->pad[2], cc->kh, cc->stride[0], cc->dil[0]);
    *wo = conv_out(cc->w, cc->pad[1], cc->pad[3], cc->kw, cc->stride[1], cc->dil[1]);
    int x = ir_add_input(g, "x", ir_shape_make(4, IR_DIM_N, cc->c, cc->h, cc->w), &err);
    int w = ir_add_input(g, "w", ir_shape_make(4, cc->o, cc->c / cc->group, cc->kh, cc->kw), &err);
    int dy = ir_add_input(g, "dy", ir_shape_make(4, IR_DIM_N, cc->o, *ho, *wo), &err);
    ir_attr a = conv_attr(cc);
    int xw[2] = {x, w}, dyw[2] = {dy, w}, xdy[2] = {x, dy};
    int y = ir_add_node(g, IR_OP_CONV2D, xw, 2, &a, "conv", &err);
    int dx = ir_add_node(g, IR_OP_CONV2D_BWD_DATA, dyw, 2, &a, "bwd_data", &err);
    int dw = ir_add_node(g, IR_OP_CONV2D_BWD_FILTER, xdy, 2, &a, "bwd_filter", &err);
    ck_assert_msg(y >= 0 && dx >= 0 && dw >= 0, "%s", err.msg);
    ck_assert_int_eq(ir_add_output(g, y, "y", &err), EBM_OK);
    ck_assert_int_eq(ir_add_output(g, dx, "dx", &err), EBM_OK);
    ck_assert_int_eq(ir_add_output(g, dw, "dw", &err), EBM_OK);
    ck_assert_int_eq(ir_verify(g, &err), EBM_OK);
    return g;
}

/* The direct definition, one loop per index; the same loop nest also gives
 * the two transposes (every product x*w*dy term appears once in each). */
static void naive_conv(const conv_case *cc, int n, int ho, int wo, const double *x, const double *w,
                       const double *dy, double *y, double *dx, double *dw)
{
    int cg = cc->c / cc->group, og = cc->o / cc->group;
    memset(y, 0, sizeof(double) * (size_t)(n * cc->o * ho * wo));
    memset(dx, 0, sizeof(double) * (size_t)(n * cc->c * cc->h * cc->w));
    memset(dw, 0, sizeof(double) * (size_t)(cc->o * cg * cc->kh * cc->kw));
    for (int b = 0; b < n; b++)
        for (int o = 0; o < cc->o; o++)
            for (int oh = 0; oh < ho; oh++)
                for (int ow = 0; ow < wo; ow++)
                    for (int c = 0; c < cg; c++)
                        for (int i = 0; i < cc->kh; i++)
                            for (int j = 0; j < cc->kw; j++) {
                                int ih = oh * cc->stride[0] - cc->pad[0] + i * cc->dil[0];
                                int iw = ow * cc->stride[1] - cc->pad[1] + j * cc->dil[1];
                                if (ih < 0 || ih >= cc->h || iw < 0 || iw >= cc->w)
                                    continue;
                                int ci = (o / og) * cg + c;
                                size_t xi = (((size_t)b * cc->c + ci) * cc->h + ih) * cc->w + iw;
                                size_t wi = (((size_t)o * cg + c) * cc->kh + i) * cc->kw + j;
                                size_t yi = (((size_t)b * cc->o + o) * ho + oh) * wo + ow;
                                y[yi] += x[xi] * w[wi];
                                dx[xi] += w[wi] * dy[yi];
                                dw[wi] += x[xi] * dy[yi];
                            }
}

static double dot(const double *a, const double *b, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += a[i] * b[i];
    return s;
}

START_TEST(test_conv_against_direct_loops)
{
    const int n = 2;
    for (size_t t = 0; t < sizeof conv_cases / sizeof conv_cases[0]; t++) {
        const conv_case *cc = &conv_cases[t];
        int ho, wo;
        ir_graph *g = conv_graph(cc, &ho, &wo);
        size_t nx = (size_t)n * cc->c * cc->h * cc->w, nw = (size_t)cc->o * (cc->c / cc->group) * cc->kh * cc->kw,
               ny = (size_t)n * cc->o * ho * wo;
        double *x = rand_vals(nx, 10 + t, -1, 1), *w = rand_vals(nw, 20 + t, -1, 1), *dy = rand_vals(ny, 30 + t, -1, 1);
        double *y = malloc(ny * sizeof *y), *dx = malloc(nx * sizeof *dx), *dw = malloc(nw * sizeof *dw);
        naive_conv(cc, n, ho, wo, x, w, dy, y, dx, dw);
        double *in[3] = {x, w, dy};
        check_out(g, n, in, 0, y, 1e-6, 1e-14, "conv2d");
        check_out(g, n, in, 1, dx, 1e-6, 1e-14, "conv2d_bwd_data");
        check_out(g, n, in, 2, dw, 1e-6, 1e-14, "conv2d_bwd_filter");
        free(x), free(w), free(dy), free(y), free(dx), free(dw);
        ir_graph_free(g);
    }
}
END_TEST

/* conv is bilinear, so <conv(x,w), dy> = <x, bwd_data(dy,w)> = <w, bwd_filter(x,dy)>
 * for every x, w, dy exactly when the two are its transposes. */
START_TEST(test_conv_adjoint_identities)
{
    const int n = 3;
    for (size_t t = 0; t < sizeof conv_cases / sizeof conv_cases[0]; t++)
        for (uint64_t seed = 0; seed < 3; seed++) {
            const conv_case *cc = &conv_cases[t];
            int ho, wo;
            ir_graph *g = conv_graph(cc, &ho, &wo);
            size_t nx = (size_t)n * cc->c * cc->h * cc->w,
                   nw = (size_t)cc->o * (cc->c / cc->group) * cc->kh * cc->kw, ny = (size_t)n * cc->o * ho * wo;
            double *x = rand_vals(nx, 100 + seed, -1, 1), *w = rand_vals(nw, 200 + seed, -1, 1),
                   *dy = rand_vals(ny, 300 + seed, -1, 1);
            double *in[3] = {x, w, dy};
            double **o = run(g, n, EBMC_F64, in);
            double a = dot(o[0], dy, ny), b = dot(x, o[1], nx), c = dot(w, o[2], nw);
            ck_assert_msg(fabs(a - b) <= 1e-12 * fabs(a) && fabs(a - c) <= 1e-12 * fabs(a),
                          "case %zu: <conv,dy>=%.17g <x,bwd_data>=%.17g <w,bwd_filter>=%.17g", t, a, b, c);
            free_outs(g, o);
            free(x), free(w), free(dy);
            ir_graph_free(g);
        }
}
END_TEST

/* ---- pooling ---------------------------------------------------------------------- */

typedef struct pool_case {
    ir_op op;
    int h, w, k, s, pad, dil, ceil, include_pad;
    int ho, wo;
    double want[16];
} pool_case;

/* On x = 1..16 as a 4x4 image (row-major), unless h/w say otherwise; values worked out by hand. */
static const pool_case pool_cases[] = {
    {IR_OP_MAXPOOL2D, 4, 4, 2, 2, 0, 1, 0, 0, 2, 2, {6, 8, 14, 16}},
    {IR_OP_AVGPOOL2D, 4, 4, 2, 2, 0, 1, 0, 0, 2, 2, {3.5, 5.5, 11.5, 13.5}},
    /* ceil: the last window covers rows/cols 2..3 only; average over the 6 or 4 real cells */
    {IR_OP_AVGPOOL2D, 4, 4, 3, 2, 0, 1, 1, 0, 2, 2, {6, 7.5, 12, 13.5}},
    /* the same with count_include_pad: no padding, so cells past the input count for nothing */
    {IR_OP_AVGPOOL2D, 4, 4, 3, 2, 0, 1, 1, 1, 2, 2, {6, 7.5, 12, 13.5}},
    {IR_OP_MAXPOOL2D, 4, 4, 3, 2, 0, 1, 1, 0, 2, 2, {11, 12, 15, 16}},
    /* dilation 2: window (0,0) is {1,3,9,11} */
    {IR_OP_MAXPOOL2D, 4, 4, 2, 1, 0, 2, 0, 0, 2, 2, {11, 12, 15, 16}},
    {IR_OP_AVGPOOL2D, 4, 4, 2, 1, 0, 2, 0, 0, 2, 2, {6, 7, 10, 11}},
    /* pad 1, stride 2, ceil: windows start at -1, 1, 3 (the last runs past the
     * padding: rows 3,4 count, 5 does not).  Corner: (1+2+5+6)/9; top right:
     * (4+8)/(3*2); bottom right: 16/(2*2). */
    {IR_OP_AVGPOOL2D, 4, 4, 3, 2, 1, 1, 1, 1, 3, 3,
     {14 / 9., 30 / 9., 12 / 6., 57 / 9., 99 / 9., 36 / 6., 27 / 6., 45 / 6., 16 / 4.}},
    /* the same without count_include_pad: divide by the real cells */
    {IR_OP_AVGPOOL2D, 4, 4, 3, 2, 1, 1, 1, 0, 3, 3,
     {14 / 4., 30 / 6., 12 / 2., 57 / 6., 99 / 9., 36 / 3., 27 / 2., 45 / 3., 16 / 1.}},
    /* k3 s1 pad 1 with count_include_pad: neighbourhood sums / 9 */
    {IR_OP_AVGPOOL2D, 4, 4, 3, 1, 1, 1, 0, 1, 4, 4,
     {14 / 9., 24 / 9., 30 / 9., 22 / 9., 33 / 9., 54 / 9., 63 / 9., 45 / 9., 57 / 9., 90 / 9., 99 / 9.,
      69 / 9., 46 / 9., 72 / 9., 78 / 9., 54 / 9.}},
    /* ONNX averagepool_2d_ceil_last_window_starts_on_pad: 2x2 input, one window from -1 */
    {IR_OP_AVGPOOL2D, 2, 2, 3, 3, 1, 1, 1, 1, 1, 1, {(1 + 2 + 3 + 4) / 9.}},
};

static ir_attr pool_attr(const pool_case *pc)
{
    ir_attr a = zero_attr();
    for (int i = 0; i < 2; i++) {
        a.pool.kernel[i] = pc->k;
        a.pool.stride[i] = pc->s;
        a.pool.dilation[i] = pc->dil;
        a.pool.in_hw[i] = i ? pc->w : pc->h;
    }
    for (int i = 0; i < 4; i++)
        a.pool.pad[i] = pc->pad;
    a.pool.ceil_mode = pc->ceil;
    a.pool.count_include_pad = pc->include_pad;
    return a;
}

START_TEST(test_pool_hand_examples)
{
    for (size_t t = 0; t < sizeof pool_cases / sizeof pool_cases[0]; t++) {
        const pool_case *pc = &pool_cases[t];
        ebm_error err = {0};
        ir_graph *g = ir_graph_new();
        int x = ir_add_input(g, "x", ir_shape_make(4, IR_DIM_N, 1, pc->h, pc->w), &err);
        ir_attr a = pool_attr(pc);
        int y = ir_add_node(g, pc->op, &x, 1, &a, "pool", &err);
        ck_assert_msg(y >= 0, "case %zu: %s", t, err.msg);
        ck_assert_int_eq(g->nodes[y].shape.d[2], pc->ho);
        ck_assert_int_eq(g->nodes[y].shape.d[3], pc->wo);
        ck_assert_int_eq(ir_add_output(g, y, "y", &err), EBM_OK);
        /* two samples: 1..16 and its negation (so max and average are checked on both signs) */
        double xv[32], want[32];
        int hw = pc->h * pc->w, ohw = pc->ho * pc->wo;
        for (int i = 0; i < hw; i++)
            xv[i] = i + 1, xv[hw + i] = -(i + 1);
        for (int i = 0; i < ohw; i++)
            want[i] = pc->want[i];
        double *in[1] = {xv};
        double **o = run(g, 2, EBMC_F64, in);
        for (int i = 0; i < ohw; i++) {
            ck_assert_msg(fabs(o[0][i] - want[i]) < 1e-12, "case %zu cell %d: %g, want %g", t, i, o[0][i], want[i]);
            if (pc->op == IR_OP_AVGPOOL2D)
                ck_assert_msg(fabs(o[0][ohw + i] + want[i]) < 1e-12, "case %zu negated cell %d", t, i);
        }
        free_outs(g, o);
        ir_graph_free(g);
    }
}
END_TEST

/* Padding must never win a max: all-negative input, pad 1. */
START_TEST(test_maxpool_padding_never_wins)
{
    ebm_error err = {0};
    ir_graph *g = ir_graph_new();
    int x = ir_add_input(g, "x", ir_shape_make(4, IR_DIM_N, 1, 3, 3), &err);
    ir_attr a = zero_attr();
    a.pool.kernel[0] = a.pool.kernel[1] = 2;
    a.pool.stride[0] = a.pool.stride[1] = 2;
    a.pool.dilation[0] = a.pool.dilation[1] = 1;
    a.pool.pad[0] = a.pool.pad[1] = a.pool.pad[2] = a.pool.pad[3] = 1;
    ck_assert_int_eq(ir_add_output(g, ir_add_node(g, IR_OP_MAXPOOL2D, &x, 1, &a, NULL, &err), "y", &err), EBM_OK);
    double xv[9] = {-1, -2, -3, -4, -5, -6, -7, -8, -9};
    /* windows: {-1}, {-2,-3}, {-4,-7}, {-5,-6,-8,-9} */
    double want[4] = {-1, -2, -4, -5};
    double *in[1] = {xv};
    check_out(g, 1, in, 0, want, 0, 0, "maxpool with padding");
    ir_graph_free(g);
}
END_TEST

/* Ties go to the first cell in scan order; overlapping windows accumulate. */
START_TEST(test_maxpool_bwd_ties)
{
    ebm_error err = {0};
    ir_graph *g = ir_graph_new();
    int x = ir_add_input(g, "x", ir_shape_make(4, IR_DIM_N, 1, 3, 3), &err);
    int dy = ir_add_input(g, "dy", ir_shape_make(4, IR_DIM_N, 1, 2, 2), &err);
    ir_attr a = zero_attr();
    a.pool.kernel[0] = a.pool.kernel[1] = 2;
    a.pool.stride[0] = a.pool.stride[1] = 1;
    a.pool.dilation[0] = a.pool.dilation[1] = 1;
    int in2[2] = {x, dy};
    ck_assert_int_eq(ir_add_output(g, ir_add_node(g, IR_OP_MAXPOOL2D_BWD, in2, 2, &a, NULL, &err), "dx", &err),
                     EBM_OK);
    /* x: every window's max is 5; windows (0,0),(0,1) see the 5 at (0,1) first,
     * (1,0) sees (1,0)'s 5 first... laid out: */
    double xv[9] = {0, 5, 5,
                    5, 5, 1,
                    0, 1, 5};
    double dyv[4] = {1, 10, 100, 1000};
    /* (0,0): cells (0,0)0 (0,1)5 (1,0)5 (1,1)5 -> (0,1)
     * (0,1): (0,1)5 (0,2)5 (1,1)5 (1,2)1      -> (0,1)
     * (1,0): (1,0)5 (1,1)5 (2,0)0 (2,1)1      -> (1,0)
     * (1,1): (1,1)5 (1,2)1 (2,1)1 (2,2)5      -> (1,1) */
    double want[9] = {0, 11, 0,
                      100, 1000, 0,
                      0, 0, 0};
    double *in[2] = {xv, dyv};
    check_out(g, 1, in, 0, want, 0, 0, "maxpool_bwd");
    ir_graph_free(g);
}
END_TEST

/* 3x3 input, k2 s2 pad 1: windows cover rows/cols {-1,0} and {1,2}.  Without
 * count_include_pad they hold 1, 2, 2 and 4 real cells; with it, 4 each. */
START_TEST(test_avgpool_bwd_hand)
{
    for (int inc = 0; inc < 2; inc++) {
        ebm_error err = {0};
        ir_graph *g = ir_graph_new();
        int dy = ir_add_input(g, "dy", ir_shape_make(4, IR_DIM_N, 1, 2, 2), &err);
        ir_attr a = zero_attr();
        for (int i = 0; i < 2; i++) {
            a.pool.kernel[i] = a.pool.stride[i] = 2;
            a.pool.dilation[i] = 1;
            a.pool.in_hw[i] = 3;
        }
        a.pool.pad[0] = a.pool.pad[1] = a.pool.pad[2] = a.pool.pad[3] = 1;
        a.pool.count_include_pad = inc;
        int dx = ir_add_node(g, IR_OP_AVGPOOL2D_BWD, &dy, 1, &a, "bwd", &err);
        ck_assert_msg(dx >= 0, "%s", err.msg);
        ck_assert_int_eq(ir_add_output(g, dx, "dx", &err), EBM_OK);
        double dyv[4] = {1, 10, 100, 1000};
        double d0 = inc ? 4 : 1, d1 = inc ? 4 : 2;
        double want[9] = {1 / d0, 10 / d1, 10 / d1,
                          100 / d1, 1000 / 4., 1000 / 4.,
                          100 / d1, 1000 / 4., 1000 / 4.};
        double *in[1] = {dyv};
        check_out(g, 1, in, 0, want, 1e-7, 1e-15, inc ? "avgpool_bwd count_include_pad" : "avgpool_bwd");
        ir_graph_free(g);
    }
}
END_TEST

/* Pooling is linear in x for avg, and in dy for both backward ops at fixed x:
 * <pool(x), dy> = <x, pool_bwd(dy)> (avg), and with distinct values of x,
 * maxpool(x) selects, so <maxpool(x), dy> = <x, maxpool_bwd(x, dy)>. */
START_TEST(test_pool_adjoint_identities)
{
    const int n = 2;
    for (size_t t = 0; t < sizeof pool_cases / sizeof pool_cases[0]; t++) {
        const pool_case *pc = &pool_cases[t];
        ebm_error err = {0};
        ir_graph *g = ir_graph_new();
        int x = ir_add_input(g, "x", ir_shape_make(4, IR_DIM_N, 3, pc->h, pc->w), &err);
        int dy = ir_add_input(g, "dy", ir_shape_make(4, IR_DIM_N, 3, pc->ho, pc->wo), &err);
        ir_attr a = pool_attr(pc);
        int y = ir_add_node(g, pc->op, &x, 1, &a, "pool", &err);
        int in2[2] = {x, dy};
        int dx = pc->op == IR_OP_MAXPOOL2D ? ir_add_node(g, IR_OP_MAXPOOL2D_BWD, in2, 2, &a, "bwd", &err)
                                           : ir_add_node(g, IR_OP_AVGPOOL2D_BWD, &dy, 1, &a, "bwd", &err);
        ck_assert_msg(dx >= 0, "case %zu: %s", t, err.msg);
        ck_assert_int_eq(ir_add_output(g, y, "y", &err), EBM_OK);
        ck_assert_int_eq(ir_add_output(g, dx, "dx", &err), EBM_OK);
        size_t nx = (size_t)n * 3 * pc->h * pc->w, ny = (size_t)n * 3 * pc->ho * pc->wo;
        double *xv = rand_vals(nx, 40 + t, -1, 1), *dyv = rand_vals(ny, 50 + t, -1, 1);
        double *in[2] = {xv, dyv};
        double **o = run(g, n, EBMC_F64, in);
        double l = dot(o[0], dyv, ny), r = dot(xv, o[1], nx);
        ck_assert_msg(fabs(l - r) <= 1e-12 * (fabs(l) + 1), "case %zu: %.17g vs %.17g", t, l, r);
        free_outs(g, o);
        free(xv), free(dyv);
        ir_graph_free(g);
    }
}
END_TEST

/* ---- data movement ---------------------------------------------------------------- */

START_TEST(test_movement_ops)
{
    const int n = 2;
    ebm_error err = {0};
    ir_graph *g = ir_graph_new();
    int x = ir_add_input(g, "x", ir_shape_make(3, IR_DIM_N, 6, 5), &err);
    int perm[3] = {2, 0, 1};
    int tr = ir_transpose(g, x, perm, "tr", &err);                                   /* [5,N,6] */
    ir_attr a = zero_attr();
    a.slice.start[0] = 0, a.slice.end[0] = INT64_MAX, a.slice.step[0] = 1;
    a.slice.start[1] = 5, a.slice.end[1] = -1, a.slice.step[1] = -2;                  /* 5,3,1 */
    a.slice.start[2] = 1, a.slice.end[2] = 5, a.slice.step[2] = 3;                    /* 1,4 */
    int sl = ir_add_node(g, IR_OP_SLICE, &x, 1, &a, "slice", &err);                  /* [N,3,2] */
    a = zero_attr();
    a.pad.begin[1] = 1, a.pad.end[2] = 2, a.pad.value = 7.5;
    int pd = ir_add_node(g, IR_OP_PAD, &sl, 1, &a, "pad", &err);                     /* [N,4,4] */
    int parts[3] = {sl, sl, sl};
    int cc = ir_concat(g, parts, 3, 2, "cat", &err);                                 /* [N,3,6] */
    float bv[3] = {1, 2, 3};
    int bc = ir_broadcast_to(g, ir_add_const(g, "b", ir_shape_make(2, 3, 1), bv, 0, &err),
                             ir_shape_make(3, IR_DIM_N, 3, 4), "bc", &err);          /* [N,3,4] */
    int rs = ir_reshape(g, x, ir_shape_make(4, IR_DIM_N, 3, 2, 5), "rs2", &err);
    int outs[6] = {tr, sl, pd, cc, bc, rs};
    for (int k = 0; k < 6; k++)
        ck_assert_msg(ir_add_output(g, outs[k], "o", &err) == EBM_OK, "%s", err.msg);
    double *xv = rand_vals(60, 9, -1, 1);
#define X(b, i, j) xv[((b) * 6 + (i)) * 5 + (j)]
    double w_tr[60], w_sl[12], w_pd[32], w_cc[36], w_bc[24];
    for (int b = 0; b < n; b++) {
        for (int k = 0; k < 5; k++)
            for (int i = 0; i < 6; i++)
                w_tr[(k * n + b) * 6 + i] = X(b, i, k);
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 2; j++)
                w_sl[(b * 3 + i) * 2 + j] = X(b, 5 - 2 * i, 1 + 3 * j);
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < 4; j++)
                w_pd[(b * 4 + i) * 4 + j] = (i >= 1 && j < 2) ? X(b, 5 - 2 * (i - 1), 1 + 3 * j) : 7.5;
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 6; j++)
                w_cc[(b * 3 + i) * 6 + j] = X(b, 5 - 2 * i, 1 + 3 * (j % 2));
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 4; j++)
                w_bc[(b * 3 + i) * 4 + j] = bv[i];
    }
#undef X
    double *in[1] = {xv};
    check_out(g, n, in, 0, w_tr, 0, 0, "transpose");
    check_out(g, n, in, 1, w_sl, 0, 0, "slice");
    check_out(g, n, in, 2, w_pd, 0, 0, "pad");
    check_out(g, n, in, 3, w_cc, 0, 0, "concat");
    check_out(g, n, in, 4, w_bc, 0, 0, "broadcast");
    check_out(g, n, in, 5, xv, 0, 0, "reshape");
    free(xv);
    ir_graph_free(g);
}
END_TEST

/* Concat of differently sized operands along a middle axis. */
START_TEST(test_concat_middle_axis)
{
    ebm_error err = {0};
    ir_graph *g = ir_graph_new();
    int a = ir_add_input(g, "a", ir_shape_make(3, IR_DIM_N, 2, 3), &err);
    int b = ir_add_input(g, "b", ir_shape_make(3, IR_DIM_N, 1, 3), &err);
    int parts[3] = {a, b, a};
    ck_assert_int_eq(ir_add_output(g, ir_concat(g, parts, 3, 1, "cat", &err), "y", &err), EBM_OK);
    double av[12], bv[6], want[30];
    for (int i = 0; i < 12; i++)
        av[i] = i;
    for (int i = 0; i < 6; i++)
        bv[i] = 100 + i;
    for (int s = 0; s < 2; s++)
        for (int r = 0; r < 5; r++)
            for (int j = 0; j < 3; j++)
                want[(s * 5 + r) * 3 + j] = r < 2 ? av[(s * 2 + r) * 3 + j]
                                            : r == 2 ? bv[s * 3 + j] : av[(s * 2 + r - 3) * 3 + j];
    double *in[2] = {av, bv};
    check_out(g, 2, in, 0, want, 0, 0, "concat axis 1");
    ir_graph_free(g);
}
END_TEST

/* ---- precision, sizes, errors ---------------------------------------------------------- */

/* In f64 mode a float constant is widened exactly (0.1f, not 0.1), and the
 * arithmetic is double: 1 + 1e-10 survives in f64, not in f32. */
START_TEST(test_const_widening_and_precision)
{
    ebm_error err = {0};
    ir_graph *g = ir_graph_new();
    int x = ir_add_input(g, "x", ir_shape_make(1, IR_DIM_N), &err);
    float c = 0.1f;
    int k = ir_add_const(g, "c", ir_shape_make(1, 1), &c, 0, &err);
    ck_assert_int_eq(ir_add_output(g, k, "c", &err), EBM_OK);
    ck_assert_int_eq(ir_add_output(g, ir_binary(g, IR_OP_SUB, ir_binary(g, IR_OP_ADD, x, x, NULL, &err), x, NULL, &err),
                                   "x", &err), EBM_OK);
    double xv[1] = {1 + 1e-10};
    double *in[1] = {xv};
    double **o64 = run(g, 1, EBMC_F64, in), **o32 = run(g, 1, EBMC_F32, in);
    ck_assert(o64[0][0] == (double)0.1f);
    ck_assert(o64[1][0] == 1 + 1e-10);
    ck_assert(o32[1][0] == 1.0);
    free_outs(g, o64);
    free_outs(g, o32);
    ir_graph_free(g);
}
END_TEST

/* n = 0: every op runs, outputs are empty; reducing over N gives the identity. */
START_TEST(test_empty_batch)
{
    ebm_error err = {0};
    ir_graph *g = ir_graph_new();
    int x = ir_add_input(g, "x", ir_shape_make(4, IR_DIM_N, 2, 5, 5), &err);
    float w[4 * 2 * 3 * 3] = {0};
    int wc = ir_add_const(g, "w", ir_shape_make(4, 4, 2, 3, 3), w, 0, &err);
    ir_attr a = zero_attr();
    a.conv.stride[0] = a.conv.stride[1] = 1;
    a.conv.dilation[0] = a.conv.dilation[1] = 1;
    a.conv.group = 1;
    int in2[2] = {x, wc};
    int y = ir_add_node(g, IR_OP_CONV2D, in2, 2, &a, NULL, &err);                       /* [N,4,3,3] */
    a = zero_attr();
    a.pool.kernel[0] = a.pool.kernel[1] = 2;
    a.pool.stride[0] = a.pool.stride[1] = 1;
    a.pool.dilation[0] = a.pool.dilation[1] = 1;
    int p = ir_add_node(g, IR_OP_MAXPOOL2D, &y, 1, &a, NULL, &err);                     /* [N,4,2,2] */
    int f = ir_reshape(g, p, ir_shape_make(2, IR_DIM_N, 16), NULL, &err);
    float mv[16 * 3] = {0};
    int m = ir_matmul(g, f, ir_add_const(g, "m", ir_shape_make(2, 16, 3), mv, 0, &err), NULL, &err);
    int s = ir_reduce(g, IR_OP_RSUM, m, 1u << 0, NULL, &err);                            /* [1,3] */
    int mx = ir_reduce(g, IR_OP_RMAX, m, 1u << 0, NULL, &err);
    ck_assert_int_eq(ir_add_output(g, m, "m", &err), EBM_OK);
    ck_assert_int_eq(ir_add_output(g, s, "s", &err), EBM_OK);
    ck_assert_int_eq(ir_add_output(g, mx, "mx", &err), EBM_OK);
    ck_assert_int_eq(out_count(g, 0, 0), 0);
    double *in[1] = {NULL};
    for (int dt = 0; dt < 2; dt++) {
        double **o = run(g, 0, dt ? EBMC_F64 : EBMC_F32, in);
        for (int j = 0; j < 3; j++) {
            ck_assert(o[1][j] == 0);
            ck_assert(isinf(o[2][j]) && o[2][j] < 0);
        }
        free_outs(g, o);
    }
    /* NULL buffers are fine where nothing is read or written */
    float s_out[3], mx_out[3];
    void *outs[3] = {NULL, s_out, mx_out};
    const void *ins[1] = {NULL};
    ck_assert_int_eq(ebmc_exec(g, 0, EBMC_F32, ins, outs, &err), EBM_OK);
    ir_graph_free(g);
}
END_TEST

START_TEST(test_exec_node_directly)
{
    ebm_error err = {0};
    ir_graph *g = ir_graph_new();
    float av[3] = {1, 2, 3}, bv[3] = {10, 20, 30};
    int a = ir_add_const(g, "a", ir_shape_make(1, 3), av, 0, &err);
    int b = ir_add_const(g, "b", ir_shape_make(1, 3), bv, 0, &err);
    int m = ir_binary(g, IR_OP_MUL, a, b, "m", &err);
    const void *in[2] = {av, bv};
    float out[3];
    ck_assert_int_eq(ebmc_exec_node(g, m, 0, EBMC_F32, in, out, &err), EBM_OK);
    ck_assert(out[0] == 10 && out[1] == 40 && out[2] == 90);
    double ad[3] = {1, 2, 3}, bd[3] = {0.5, 0.25, 0.125}, od[3];
    const void *ind[2] = {ad, bd};
    ck_assert_int_eq(ebmc_exec_node(g, m, 0, EBMC_F64, ind, od, &err), EBM_OK);
    ck_assert(od[0] == 0.5 && od[1] == 0.5 && od[2] == 0.375);
    /* source nodes are not evaluated this way */
    ck_assert_int_eq(ebmc_exec_node(g, a, 0, EBMC_F32, in, out, &err), EBM_ERR_INVALID);
    ck_assert_int_eq(ebmc_exec_node(g, 7, 0, EBMC_F32, in, out, &err), EBM_ERR_INVALID);
    ir_graph_free(g);
}
END_TEST

START_TEST(test_bad_arguments_and_graphs)
{
    ebm_error err = {0};
    ir_graph *g = ir_graph_new();
    int x = ir_add_input(g, "x", ir_shape_make(2, IR_DIM_N, 3), &err);
    int y = ir_unary(g, IR_OP_EXP, x, "e", &err);
    ck_assert_int_eq(ir_add_output(g, y, "y", &err), EBM_OK);
    float xin[6] = {0}, yout[6];
    const void *ins[1] = {xin};
    void *outs[1] = {yout};
    ck_assert_int_eq(ebmc_exec(g, -1, EBMC_F32, ins, outs, &err), EBM_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.msg, "negative"));
    ck_assert_int_eq(ebmc_exec(g, 2, (ebmc_dtype)7, ins, outs, &err), EBM_ERR_INVALID);
    ck_assert_int_eq(ebmc_exec(g, 2, EBMC_F32, ins, outs, &err), EBM_OK);
    ck_assert(fabsf(yout[0] - 1) < 1e-7f);
    /* a stored shape that disagrees with the operands would make buffers too small */
    g->nodes[y].shape.d[1] = 4;
    ck_assert_int_eq(ebmc_exec(g, 2, EBMC_F32, ins, outs, &err), EBM_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.msg, "\"e\""));
    g->nodes[y].shape.d[1] = 3;
    g->nodes[y].in[0] = y;   /* a cycle */
    ck_assert_int_eq(ebmc_exec(g, 2, EBMC_F32, ins, outs, &err), EBM_ERR_INVALID);
    g->nodes[y].in[0] = x;
    g->nodes[y].shape.rank = 99;
    ck_assert_int_eq(ebmc_exec(g, 2, EBMC_F32, ins, outs, &err), EBM_ERR_INVALID);
    g->nodes[y].shape.rank = 2;
    /* an absurd batch size is refused before anything is allocated */
    ck_assert_int_eq(ebmc_exec(g, INT64_MAX / 2, EBMC_F32, ins, outs, &err), EBM_ERR_NOMEM);
    ir_graph_free(g);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("exec");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_unary_every_op);
    tcase_add_test(tc, test_binary_every_op_broadcast);
    tcase_add_test(tc, test_broadcast_batch_and_select);
    tcase_add_test(tc, test_reduce_sum_max);
    tcase_add_test(tc, test_matmul_batch_broadcast);
    tcase_add_test(tc, test_conv_against_direct_loops);
    tcase_add_test(tc, test_conv_adjoint_identities);
    tcase_add_test(tc, test_pool_hand_examples);
    tcase_add_test(tc, test_maxpool_padding_never_wins);
    tcase_add_test(tc, test_maxpool_bwd_ties);
    tcase_add_test(tc, test_avgpool_bwd_hand);
    tcase_add_test(tc, test_pool_adjoint_identities);
    tcase_add_test(tc, test_movement_ops);
    tcase_add_test(tc, test_concat_middle_axis);
    tcase_add_test(tc, test_const_widening_and_precision);
    tcase_add_test(tc, test_empty_batch);
    tcase_add_test(tc, test_exec_node_directly);
    tcase_add_test(tc, test_bad_arguments_and_graphs);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
