/* test_autodiff.c — every core op's derivative rule against central finite
 * differences in float64, first and second order (the gradient graph is
 * differentiated again, which checks that the rules are closed under
 * differentiation), plus edge cases: fan-out, branches that do not depend on
 * x, subgradients at ties.
 *
 * Each case builds v = f(x) from ops under test, then E = sum(C * tanh(v))
 * with a fixed random C, so the seed reaching the op is not trivial.
 */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "autodiff.h"
#include "exec.h"
#include "testutil.h"

typedef int (*build_fn)(ir_graph *g, int x, ebm_error *err);

static int konst(ir_graph *g, ir_shape s, uint64_t seed, double lo, double hi, ebm_error *err)
{
    int64_t n = ir_shape_numel(&s, 1);
    float *d = malloc((size_t)(n > 0 ? n : 1) * sizeof *d);
    tu_fill_uniform_f32(d, (size_t)n, seed, lo, hi);
    int id = ir_add_const(g, NULL, s, d, 0, err);
    free(d);
    return id;
}

static uint32_t all_axes(int rank)
{
    return rank >= 32 ? 0xffffffffu : (1u << rank) - 1;
}

/* E = sum(C * v + 0.1 v^2), a scalar-shaped value [1,...,1]: it does not
 * saturate (so finite differences stay informative) and its second
 * derivative is not zero. */
static int energy_of(ir_graph *g, int v, ebm_error *err)
{
    if (v < 0)
        return v;
    ir_shape s = g->nodes[v].shape;
    int q = ir_binary(g, IR_OP_MUL, ir_binary(g, IR_OP_MUL, v, v, NULL, err), ir_add_scalar(g, 0.1, err), NULL, err);
    int t = ir_binary(g, IR_OP_ADD, ir_binary(g, IR_OP_MUL, v, konst(g, s, 99, -1, 1, err), NULL, err), q, NULL, err);
    return s.rank ? ir_reduce(g, IR_OP_RSUM, t, all_axes(s.rank), NULL, err) : t;
}

/* Runs g (input x) and returns output `which` into out (f64). */
static void run(const ir_graph *g, const double *x, int which, double *out)
{
    ebm_error err = {0};
    int no = g->n_outputs;
    void **outs = calloc((size_t)no, sizeof *outs);
    for (int i = 0; i < no; i++)
        outs[i] = malloc((size_t)(ir_shape_numel(&g->nodes[g->outputs[i]].shape, 1) + 1) * sizeof(double));
    const void *ins[1] = {x};
    ck_assert_msg(ebmc_exec(g, 1, EBMC_F64, ins, outs, &err) == EBM_OK, "%s", err.msg);
    memcpy(out, outs[which], (size_t)ir_shape_numel(&g->nodes[g->outputs[which]].shape, 1) * sizeof(double));
    for (int i = 0; i < no; i++)
        free(outs[i]);
    free(outs);
}

/* Builds E(x), dE/dx and d(dE/dx . u)/dx for a fixed u; checks the first
 * against finite differences of E and the second against finite differences
 * of dE/dx along u. */
static void check_rule(const char *name, ir_shape xs, build_fn f, double lo, double hi, int zero_rule)
{
    ebm_error err = {0};
    ir_graph *g = ir_graph_new();
    int x = ir_add_input(g, "x", xs, &err);
    int e = energy_of(g, f(g, x, &err), &err);
    ck_assert_msg(e >= 0, "%s: building: %s", name, err.msg);
    int one = ir_add_scalar(g, 1, &err), gx = -1, hv = -1;
    ck_assert_msg(ebmc_grad(g, e, one, &x, 1, &gx, &err) == EBM_OK, "%s: grad: %s", name, err.msg);
    int u = konst(g, xs, 7, -1, 1, &err);
    int s = ir_reduce(g, IR_OP_RSUM, ir_binary(g, IR_OP_MUL, gx, u, NULL, &err), all_axes(xs.rank), NULL, &err);
    ck_assert_msg(ebmc_grad(g, s, one, &x, 1, &hv, &err) == EBM_OK, "%s: second grad: %s", name, err.msg);
    ck_assert_int_eq(ir_add_output(g, e, "e", &err), EBM_OK);
    ck_assert_int_eq(ir_add_output(g, gx, "gx", &err), EBM_OK);
    ck_assert_int_eq(ir_add_output(g, hv, "hv", &err), EBM_OK);
    ck_assert_msg(ir_verify(g, &err) == EBM_OK, "%s: %s", name, err.msg);

    int64_t n = ir_shape_numel(&xs, 1);
    double *x0 = malloc((size_t)n * sizeof *x0), *xp = malloc((size_t)n * sizeof *xp);
    double *g0 = malloc((size_t)n * sizeof *g0), *h0 = malloc((size_t)n * sizeof *h0);
    double *fd = malloc((size_t)n * sizeof *fd), *gp = malloc((size_t)n * sizeof *gp);
    double *gm = malloc((size_t)n * sizeof *gm), *uu = malloc((size_t)n * sizeof *uu);
    tu_fill_uniform_f64(x0, (size_t)n, 1234, lo, hi);
    float *uf = g->nodes[u].data;
    for (int64_t i = 0; i < n; i++)
        uu[i] = uf[i];
    run(g, x0, 1, g0);
    run(g, x0, 2, h0);
    const double h = 1e-6;
    for (int64_t i = 0; i < n; i++) {
        double ep, em;
        memcpy(xp, x0, (size_t)n * sizeof *xp);
        xp[i] = x0[i] + h;
        run(g, xp, 0, &ep);
        xp[i] = x0[i] - h;
        run(g, xp, 0, &em);
        fd[i] = (ep - em) / (2 * h);
    }
    double e1 = tu_rel_err_f64(g0, fd, (size_t)n);
    for (int64_t i = 0; i < n; i++)
        xp[i] = x0[i] + h * uu[i];
    run(g, xp, 1, gp);
    for (int64_t i = 0; i < n; i++)
        xp[i] = x0[i] - h * uu[i];
    run(g, xp, 1, gm);
    for (int64_t i = 0; i < n; i++)
        fd[i] = (gp[i] - gm[i]) / (2 * h);
    double e2 = tu_rel_err_f64(h0, fd, (size_t)n), gmax = 0;
    for (int64_t i = 0; i < n; i++)
        gmax = fmax(gmax, fabs(g0[i]));
    double hmax = 0, fdmax = 0;
    for (int64_t i = 0; i < n; i++)
        hmax = fmax(hmax, fabs(h0[i])), fdmax = fmax(fdmax, fabs(fd[i]));
    if (zero_rule) {   /* a piecewise constant op: the rule says 0, and so do finite differences */
        printf("%-22s grad and hvp are 0\n", name);
        ck_assert_msg(gmax == 0 && hmax == 0 && fdmax == 0, "%s: a zero rule, but |grad| %g, |hvp| %g, |fd| %g",
                      name, gmax, hmax, fdmax);
    } else {
        ck_assert_msg(gmax > 1e-3, "%s: the gradient is ~0 (%g): the case tests nothing", name, gmax);
        printf("%-22s grad rel err %.2e  hvp rel err %.2e\n", name, e1, e2);
        ck_assert_msg(e1 < 1e-6, "%s: gradient differs from finite differences: rel err %g", name, e1);
        ck_assert_msg(e2 < 1e-5, "%s: Hessian-vector product differs from finite differences: rel err %g", name,
                      e2);
    }
    free(x0), free(xp), free(g0), free(h0), free(fd), free(gp), free(gm), free(uu);
    ir_graph_free(g);
}

static void check_case(const char *name, ir_shape xs, build_fn f, double lo, double hi)
{
    check_rule(name, xs, f, lo, hi, 0);
}

/* ---- cases ---------------------------------------------------------------- */

/* The elementwise op under test in the sweeps below (ops.def row). */
static ir_op sweep_op;

/* v = op(x); pows with P = 3 */
static int b_unary(ir_graph *g, int x, ebm_error *err)
{
    ir_attr a;
    memset(&a, 0, sizeof a);
    a.f = 3.0;
    return ir_add_node(g, sweep_op, &x, 1, ir_op_get(sweep_op)->attr == IR_ATTR_F ? &a : NULL, NULL, err);
}

static int b_pows_half(ir_graph *g, int x, ebm_error *err) { return ir_pows(g, x, -0.5, NULL, err); }
static int b_unary_abs(ir_graph *g, int x, ebm_error *err) { return ir_unary(g, IR_OP_ABS, x, NULL, err); }

/* Binary ops with both operands depending on x, and broadcasting against a
 * constant of a smaller shape. */
static int b_binary(ir_graph *g, int x, ebm_error *err)
{
    ir_shape s = g->nodes[x].shape;
    ir_shape row = ir_shape_make(1, (int)s.d[s.rank - 1]);
    int a = ir_binary(g, sweep_op, x, ir_unary(g, IR_OP_SIGMOID, x, NULL, err), NULL, err);
    return ir_binary(g, sweep_op, a, konst(g, row, 3, 0.5, 1.5, err), NULL, err);
}

/* The vjp_rule column, to tell the piecewise constant ops (ebmc_vjp_zero). */
static const ebmc_vjp_fn vjp_rules[IR_OP_COUNT] = {
#define IR_OP(NAME, text, arity, cls, kern, attr, shape_rule, vjp, onnx, ex, expr, fexpr) vjp,
#include "ops.def"
#undef IR_OP
};

/* Whether op is finite at a negative x (log and sqrt are not): the sweep
 * then draws x from [-2, 2], else from [0.2, 3]. */
static int defined_below_zero(ir_op op, build_fn f)
{
    ebm_error err = {0};
    ir_graph *g = ir_graph_new();
    int x = ir_add_input(g, "x", ir_shape_make(1, 1), &err);
    sweep_op = op;
    ck_assert_msg(ir_add_output(g, f(g, x, &err), "y", &err) == EBM_OK, "%s", err.msg);
    double xv = -0.7, y = 0;
    run(g, &xv, 0, &y);
    ir_graph_free(g);
    return isfinite(y);
}

/* Every elementwise op of ops.def with one or two operands; a new row is
 * differentiated here without an edit. */
static void sweep(int arity, ir_shape s)
{
    int tested = 0;
    for (int op = 0; op < IR_OP_COUNT; op++) {
        const ir_op_info *info = ir_op_get((ir_op)op);
        if (!info->elementwise || info->arity != arity)
            continue;
        build_fn f = arity == 1 ? b_unary : b_binary;
        int neg = defined_below_zero((ir_op)op, f);
        check_rule(info->name, s, f, neg ? -2 : 0.2, neg ? 2 : 3, vjp_rules[op] == ebmc_vjp_zero);
        tested++;
    }
    ck_assert_int_gt(tested, 0);
}

static int b_select(ir_graph *g, int x, ebm_error *err)
{
    int c = ir_binary(g, IR_OP_GT, x, ir_add_scalar(g, 0, err), NULL, err);
    int ge = ir_binary(g, IR_OP_GE, x, ir_add_scalar(g, 0.25, err), NULL, err);
    int eq = ir_binary(g, IR_OP_EQ, x, x, NULL, err);
    int a = ir_binary(g, IR_OP_MUL, x, ir_binary(g, IR_OP_ADD, ge, eq, NULL, err), NULL, err);
    return ir_select(g, c, a, ir_unary(g, IR_OP_EXP, x, NULL, err), NULL, err);
}

static int b_reduce(ir_graph *g, int x, ebm_error *err)
{
    int sq = ir_binary(g, IR_OP_MUL, x, x, NULL, err);
    int s = ir_reduce(g, IR_OP_RSUM, sq, 1u << 1, NULL, err);
    int m = ir_reduce(g, IR_OP_RMAX, x, 1u << 2, NULL, err);
    return ir_binary(g, IR_OP_MUL, s, m, NULL, err);   /* [2,1,4] * [2,3,1] */
}

static int b_matmul(ir_graph *g, int x, ebm_error *err)
{
    /* x [2,3,4]: batched x @ W, then (x @ W) @ (x^T) shares x twice */
    int w = konst(g, ir_shape_make(2, 4, 5), 11, -1, 1, err);
    int xw = ir_matmul(g, x, w, NULL, err);
    int perm[3] = {0, 2, 1};
    int xt = ir_transpose(g, x, perm, NULL, err);
    return ir_matmul(g, ir_unary(g, IR_OP_TANH, xw, NULL, err), ir_matmul(g, ir_transpose(g, w, (int[]){1, 0}, NULL, err), xt, NULL, err), NULL, err);
}

static ir_attr conv_attr(int s, int p, int d, int grp)
{
    ir_attr a;
    memset(&a, 0, sizeof a);
    a.conv.stride[0] = a.conv.stride[1] = s;
    a.conv.pad[0] = a.conv.pad[1] = p;
    a.conv.pad[2] = p + 1;   /* asymmetric */
    a.conv.pad[3] = p;
    a.conv.dilation[0] = a.conv.dilation[1] = d;
    a.conv.group = grp;
    return a;
}

static int b_conv_s2_g2(ir_graph *g, int x, ebm_error *err)
{
    ir_attr a = conv_attr(2, 1, 1, 2);
    int in[2] = {x, konst(g, ir_shape_make(4, 4, 2, 3, 3), 5, -0.5, 0.5, err)};
    return ir_add_node(g, IR_OP_CONV2D, in, 2, &a, NULL, err);
}

static int b_conv_dil(ir_graph *g, int x, ebm_error *err)
{
    /* x is the weight here: conv(const input, x) differentiates w.r.t. the filter */
    ir_attr a = conv_attr(1, 1, 2, 1);
    int img = konst(g, ir_shape_make(4, 2, 4, 7, 6), 6, -1, 1, err);
    int in[2] = {img, x};
    int y = ir_add_node(g, IR_OP_CONV2D, in, 2, &a, NULL, err);
    int in2[2] = {ir_unary(g, IR_OP_TANH, y, NULL, err), x};   /* and as a weight again */
    ir_attr b = conv_attr(1, 1, 1, 1);
    (void)in2;
    (void)b;
    return y;
}

static int b_conv_bwd_data_only(ir_graph *g, int x, ebm_error *err)
{
    ir_attr a = conv_attr(2, 1, 1, 1);
    a.conv.in_hw[0] = 7, a.conv.in_hw[1] = 6;
    int w = konst(g, ir_shape_make(4, 3, 2, 3, 3), 8, -0.5, 0.5, err);
    int in[2] = {x, w};
    return ir_add_node(g, IR_OP_CONV2D_BWD_DATA, in, 2, &a, NULL, err);
}

static int b_conv_bwd_filter_only(ir_graph *g, int x, ebm_error *err)
{
    ir_attr f = conv_attr(2, 1, 1, 1);
    f.conv.kernel[0] = f.conv.kernel[1] = 3;
    int img = konst(g, ir_shape_make(4, 2, 2, 7, 6), 6, -1, 1, err);
    int in2[2] = {img, x};
    return ir_add_node(g, IR_OP_CONV2D_BWD_FILTER, in2, 2, &f, NULL, err);
}

static int b_conv_chain(ir_graph *g, int x, ebm_error *err)
{
    int dx = b_conv_bwd_data_only(g, x, err);
    ir_attr f = conv_attr(2, 1, 1, 1);
    f.conv.kernel[0] = f.conv.kernel[1] = 3;
    int dy = konst(g, ir_shape_make(4, 2, 3, 4, 3), 16, -1, 1, err);
    int in2[2] = {dx, dy};
    return ir_add_node(g, IR_OP_CONV2D_BWD_FILTER, in2, 2, &f, NULL, err);
}

static int b_conv_bwd(ir_graph *g, int x, ebm_error *err)
{
    /* both transposed convolutions with x as each operand */
    ir_attr a = conv_attr(2, 1, 1, 1);
    a.conv.in_hw[0] = 7, a.conv.in_hw[1] = 6;
    int w = konst(g, ir_shape_make(4, 3, 2, 3, 3), 8, -0.5, 0.5, err);
    int in[2] = {x, w};   /* x = dy [2,3,4,3] */
    int dx = ir_add_node(g, IR_OP_CONV2D_BWD_DATA, in, 2, &a, NULL, err);   /* [2,2,7,6] */
    ir_attr f = conv_attr(2, 1, 1, 1);
    f.conv.kernel[0] = f.conv.kernel[1] = 3;
    int in2[2] = {ir_unary(g, IR_OP_TANH, dx, NULL, err), x};
    int dw = ir_add_node(g, IR_OP_CONV2D_BWD_FILTER, in2, 2, &f, NULL, err);   /* [3,2,3,3] */
    int r = ir_reduce(g, IR_OP_RSUM, dw, 0xf, NULL, err);
    return ir_binary(g, IR_OP_ADD, ir_reduce(g, IR_OP_RSUM, dx, 0xf, NULL, err), r, NULL, err);
}

static ir_attr pool_attr(int k, int s, int p, int ceil, int cip)
{
    ir_attr a;
    memset(&a, 0, sizeof a);
    a.pool.kernel[0] = a.pool.kernel[1] = k;
    a.pool.stride[0] = a.pool.stride[1] = s;
    a.pool.pad[0] = a.pool.pad[1] = a.pool.pad[2] = a.pool.pad[3] = p;
    a.pool.dilation[0] = a.pool.dilation[1] = 1;
    a.pool.ceil_mode = ceil;
    a.pool.count_include_pad = cip;
    return a;
}

static int b_maxpool(ir_graph *g, int x, ebm_error *err)
{
    ir_attr a = pool_attr(3, 2, 1, 1, 0);
    return ir_add_node(g, IR_OP_MAXPOOL2D, &x, 1, &a, NULL, err);
}

static int b_avgpool(ir_graph *g, int x, ebm_error *err)
{
    ir_attr a = pool_attr(3, 2, 1, 1, 0);
    int y = ir_add_node(g, IR_OP_AVGPOOL2D, &x, 1, &a, NULL, err);
    ir_attr b = pool_attr(2, 1, 0, 0, 1);
    return ir_add_node(g, IR_OP_AVGPOOL2D, &y, 1, &b, NULL, err);
}

static int b_movement(ir_graph *g, int x, ebm_error *err)
{
    /* x [2,3,4]: slice with a step, pad, concat, transpose, broadcast, reshape */
    ir_attr s;
    memset(&s, 0, sizeof s);
    s.slice.start[0] = 0, s.slice.end[0] = 2, s.slice.step[0] = 1;
    s.slice.start[1] = 2, s.slice.end[1] = -1, s.slice.step[1] = -2;   /* rows 2, 0 */
    s.slice.start[2] = 1, s.slice.end[2] = 4, s.slice.step[2] = 2;     /* cols 1, 3 */
    int sl = ir_add_node(g, IR_OP_SLICE, &x, 1, &s, NULL, err);        /* [2,2,2] */
    ir_attr p;
    memset(&p, 0, sizeof p);
    p.pad.begin[1] = 1, p.pad.end[2] = 2, p.pad.value = 0.5;
    int pd = ir_add_node(g, IR_OP_PAD, &sl, 1, &p, NULL, err);         /* [2,3,4] */
    int parts[3] = {x, ir_unary(g, IR_OP_TANH, pd, NULL, err), x};
    int cat = ir_concat(g, parts, 3, 1, NULL, err);                   /* [2,9,4] */
    int perm[3] = {2, 0, 1};
    int tr = ir_transpose(g, cat, perm, NULL, err);                   /* [4,2,9] */
    int r = ir_reshape(g, tr, ir_shape_make(4, 4, 2, 3, 3), NULL, err);
    int sm = ir_reduce(g, IR_OP_RSUM, x, 1u << 1, NULL, err);          /* [2,1,4] */
    int bc = ir_broadcast_to(g, ir_reshape(g, sm, ir_shape_make(3, 2, 1, 4), NULL, err), ir_shape_make(3, 2, 5, 4), NULL, err);
    ir_attr sb;
    memset(&sb, 0, sizeof sb);
    sb.shape = ir_shape_make(3, 2, 7, 4);
    sb.slice = s.slice;
    sb.slice.start[1] = 1, sb.slice.end[1] = 6, sb.slice.step[1] = 1;
    sb.slice.start[2] = 0, sb.slice.end[2] = 4, sb.slice.step[2] = 1;
    int ub = ir_add_node(g, IR_OP_SLICE_BWD, &bc, 1, &sb, NULL, err); /* [2,7,4] */
    int a = ir_reduce(g, IR_OP_RSUM, r, 0xf, NULL, err);
    return ir_binary(g, IR_OP_ADD, ir_reduce(g, IR_OP_RSUM, ir_binary(g, IR_OP_MUL, ub, ub, NULL, err), 7, NULL, err), a, NULL, err);
}

static int b_gather(ir_graph *g, int x, ebm_error *err)
{
    /* maxpool's backward and gather ops, differentiated w.r.t. the routed values */
    ir_attr a = pool_attr(2, 2, 0, 0, 0);
    int fixed = konst(g, ir_shape_make(4, 2, 2, 4, 4), 21, -1, 1, err);
    int in[2] = {fixed, x};
    int gat = ir_add_node(g, IR_OP_MAXPOOL2D_GATHER, in, 2, &a, NULL, err);   /* [2,2,2,2] */
    int in2[2] = {fixed, ir_unary(g, IR_OP_TANH, gat, NULL, err)};
    int bwd = ir_add_node(g, IR_OP_MAXPOOL2D_BWD, in2, 2, &a, NULL, err);      /* [2,2,4,4] */
    ir_attr av = pool_attr(2, 2, 0, 0, 0);
    av.pool.in_hw[0] = av.pool.in_hw[1] = 4;
    int ab = ir_add_node(g, IR_OP_AVGPOOL2D_BWD, &gat, 1, &av, NULL, err);      /* [2,2,4,4] */
    return ir_binary(g, IR_OP_MUL, ir_binary(g, IR_OP_ADD, bwd, ab, NULL, err), x, NULL, err);
}

static int b_no_dependency(ir_graph *g, int x, ebm_error *err)
{
    /* a branch that does not depend on x, added to one that does */
    int c = konst(g, ir_shape_make(2, 2, 3), 4, -1, 1, err);
    int free_branch = ir_unary(g, IR_OP_EXP, ir_unary(g, IR_OP_TANH, c, NULL, err), NULL, err);
    return ir_binary(g, IR_OP_ADD, free_branch, ir_binary(g, IR_OP_MUL, x, x, NULL, err), NULL, err);
}

START_TEST(test_unary)
{
    ir_shape s = ir_shape_make(2, 2, 3);
    sweep(1, s);
    check_case("abs (negative)", s, b_unary_abs, -2, -0.1);
    check_case("pows -0.5", s, b_pows_half, 0.3, 2);
}
END_TEST

START_TEST(test_binary)
{
    ir_shape s = ir_shape_make(3, 2, 3, 4);
    sweep(2, s);
    check_case("select+compare", s, b_select, -2, 2);
}
END_TEST

START_TEST(test_reduce_matmul)
{
    check_case("rsum*rmax", ir_shape_make(3, 2, 3, 4), b_reduce, -2, 2);
    check_case("matmul", ir_shape_make(3, 2, 3, 4), b_matmul, -1, 1);
}
END_TEST

START_TEST(test_conv)
{
    check_case("conv s2 g2 pad", ir_shape_make(4, 2, 4, 7, 6), b_conv_s2_g2, -1, 1);
    check_case("conv dil wrt filter", ir_shape_make(4, 3, 4, 3, 3), b_conv_dil, -1, 1);
    check_case("conv bwd data", ir_shape_make(4, 2, 3, 4, 3), b_conv_bwd_data_only, -1, 1);
    check_case("conv bwd filter", ir_shape_make(4, 2, 3, 4, 3), b_conv_bwd_filter_only, -1, 1);
    check_case("conv chain", ir_shape_make(4, 2, 3, 4, 3), b_conv_chain, -1, 1);
    check_case("conv bwd data/filter", ir_shape_make(4, 2, 3, 4, 3), b_conv_bwd, -1, 1);
}
END_TEST

START_TEST(test_pool)
{
    check_case("maxpool ceil pad", ir_shape_make(4, 2, 2, 5, 6), b_maxpool, -1, 1);
    check_case("avgpool x2", ir_shape_make(4, 2, 2, 5, 6), b_avgpool, -1, 1);
    check_case("pool bwd/gather", ir_shape_make(4, 2, 2, 4, 4), b_gather, -1, 1);
}
END_TEST

START_TEST(test_movement)
{
    check_case("slice/pad/concat/...", ir_shape_make(3, 2, 3, 4), b_movement, -1, 1);
}
END_TEST

START_TEST(test_no_dependency)
{
    check_case("independent branch", ir_shape_make(2, 2, 3), b_no_dependency, -1, 1);
    /* an energy that does not depend on x at all: zero gradient, no crash */
    ebm_error err = {0};
    ir_graph *g = ir_graph_new();
    int x = ir_add_input(g, "x", ir_shape_make(2, 2, 3), &err);
    int c = konst(g, ir_shape_make(2, 2, 3), 4, -1, 1, &err);
    int e = ir_reduce(g, IR_OP_RSUM, ir_unary(g, IR_OP_EXP, c, NULL, &err), 3, NULL, &err);
    int gx = -1;
    ck_assert_int_eq(ebmc_grad(g, e, ir_add_scalar(g, 1, &err), &x, 1, &gx, &err), EBM_OK);
    ck_assert_int_eq(ir_add_output(g, gx, "gx", &err), EBM_OK);
    double xin[6] = {1, 2, 3, 4, 5, 6}, out[6] = {9, 9, 9, 9, 9, 9};
    void *outs[1] = {out};
    const void *ins[1] = {xin};
    ck_assert_int_eq(ebmc_exec(g, 1, EBMC_F64, ins, outs, &err), EBM_OK);
    for (int i = 0; i < 6; i++)
        ck_assert(out[i] == 0);
    ir_graph_free(g);
}
END_TEST

/* Subgradients at kinks match PyTorch: relu'(0) = 0, max(a,a) splits 1/2 each,
 * a max reduction over tied maxima splits evenly. */
START_TEST(test_ties)
{
    ebm_error err = {0};
    ir_graph *g = ir_graph_new();
    int x = ir_add_input(g, "x", ir_shape_make(1, 4), &err);
    int r = ir_unary(g, IR_OP_RELU, x, NULL, &err);
    int m = ir_binary(g, IR_OP_MAX, x, ir_add_scalar(g, 0, &err), NULL, &err);
    int rm = ir_reduce(g, IR_OP_RMAX, x, 1, NULL, &err);
    int e = ir_binary(g, IR_OP_ADD, ir_reduce(g, IR_OP_RSUM, ir_binary(g, IR_OP_ADD, r, ir_binary(g, IR_OP_MUL, m, ir_add_scalar(g, 10, &err), NULL, &err), NULL, &err), 1, NULL, &err),
                      ir_binary(g, IR_OP_MUL, rm, ir_add_scalar(g, 100, &err), NULL, &err), NULL, &err);
    int gx = -1;
    ck_assert_int_eq(ebmc_grad(g, e, ir_add_scalar(g, 1, &err), &x, 1, &gx, &err), EBM_OK);
    ck_assert_int_eq(ir_add_output(g, gx, "gx", &err), EBM_OK);
    /* x = [0, 2, 2, -1]: relu'(0)=0, max'(0 vs 0) = 1/2, rmax ties at 2 */
    double xin[4] = {0, 2, 2, -1}, out[4];
    void *outs[1] = {out};
    const void *ins[1] = {xin};
    ck_assert_int_eq(ebmc_exec(g, 1, EBMC_F64, ins, outs, &err), EBM_OK);
    ck_assert_double_eq_tol(out[0], 0 + 10 * 0.5, 1e-12);
    ck_assert_double_eq_tol(out[1], 1 + 10 + 50, 1e-12);
    ck_assert_double_eq_tol(out[2], 1 + 10 + 50, 1e-12);
    ck_assert_double_eq_tol(out[3], 0, 1e-12);
    ir_graph_free(g);
}
END_TEST

START_TEST(test_missing_rule_is_an_error)
{
    ebm_error err = {0};
    ir_graph *g = ir_graph_new();
    int x = ir_add_input(g, "x", ir_shape_make(1, 4), &err);
    int y = ir_unary(g, IR_OP_TANH, x, "mynode", &err);
    /* the rule for a missing derivative names the node */
    ck_assert_int_eq(ebmc_vjp_missing(g, y, 0, x, &err), -1);
    ck_assert_int_eq(err.code, EBM_ERR_UNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(err.msg, "mynode"));
    ck_assert_ptr_nonnull(strstr(err.msg, "tanh"));
    ir_graph_free(g);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("autodiff");
    TCase *tc = tcase_create("rules");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_unary);
    tcase_add_test(tc, test_binary);
    tcase_add_test(tc, test_reduce_matmul);
    tcase_add_test(tc, test_conv);
    tcase_add_test(tc, test_pool);
    tcase_add_test(tc, test_movement);
    tcase_add_test(tc, test_no_dependency);
    tcase_add_test(tc, test_ties);
    tcase_add_test(tc, test_missing_rule_is_an_error);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
