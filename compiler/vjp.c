/* vjp.c — the derivative rule of every core op (the vjp_rule column of
 * ir/ops.def): the gradient of one operand from the gradient gy of the
 * node's value, written with core ops only so the result can be
 * differentiated again.
 *
 * Subgradients at kinks follow PyTorch: relu'(0) = 0, |x|'(0) = 0, max/min
 * split the gradient evenly between tied operands, a max reduction splits it
 * evenly among tied maxima, max pooling sends it to the first maximum in
 * window scan order.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "autodiff.h"

#define VJP(fn) int fn(ir_graph *g, int node, int k, int gy, ebm_error *err)

/* Nodes are copied out: builder calls may move g->nodes. */
static ir_node nd(const ir_graph *g, int id)
{
    return g->nodes[id];
}

static ir_shape shp(const ir_graph *g, int id)
{
    return g->nodes[id].shape;
}

static int cst(ir_graph *g, double v, ebm_error *err)
{
    return ir_add_scalar(g, v, err);
}

static int mul(ir_graph *g, int a, int b, ebm_error *err)
{
    return ir_binary(g, IR_OP_MUL, a, b, NULL, err);
}

/* Sums gy over the axes along which an operand of shape `to` was broadcast
 * (leading axes it lacked, and its size-1 axes), then gives it that shape. */
static int unbroadcast(ir_graph *g, int gy, ir_shape to, ebm_error *err)
{
    if (gy < 0)
        return gy;
    ir_shape s = shp(g, gy);
    int lead = s.rank - to.rank;
    uint32_t axes = 0;
    for (int i = 0; i < s.rank; i++)
        if (i < lead || (to.d[i - lead] == 1 && s.d[i] != 1))
            axes |= 1u << i;
    if (axes)
        gy = ir_reduce(g, IR_OP_RSUM, gy, axes, NULL, err);
    return ir_reshape(g, gy, to, NULL, err);
}

/* gy * f, reduced to operand k's shape. */
static int times(ir_graph *g, int node, int k, int gy, int f, ebm_error *err)
{
    return unbroadcast(g, mul(g, gy, f, err), shp(g, nd(g, node).in[k]), err);
}

VJP(ebmc_vjp_source)
{
    return ebm_fail(err, EBM_ERR_INTERNAL, "autodiff: sources have no operands"), -1;
}

VJP(ebmc_vjp_missing)
{
    char lb[256];
    ebm_fail(err, EBM_ERR_UNSUPPORTED, "autodiff: %s has no derivative rule",
             ir_node_label(g, node, lb, sizeof lb));
    return -1;
}

VJP(ebmc_vjp_zero)
{
    return EBMC_VJP_ZERO;
}

/* ---- elementwise unary ------------------------------------------------------ */

VJP(ebmc_vjp_neg)
{
    return ir_unary(g, IR_OP_NEG, gy, NULL, err);
}

VJP(ebmc_vjp_abs)
{
    return mul(g, gy, ir_unary(g, IR_OP_SIGN, nd(g, node).in[0], NULL, err), err);
}

VJP(ebmc_vjp_exp)
{
    return mul(g, gy, node, err);
}

VJP(ebmc_vjp_log)
{
    return ir_binary(g, IR_OP_DIV, gy, nd(g, node).in[0], NULL, err);
}

VJP(ebmc_vjp_sqrt)
{
    /* d sqrt(x) = 1 / (2 sqrt(x)): reuse the forward value */
    return ir_binary(g, IR_OP_DIV, mul(g, gy, cst(g, 0.5, err), err), node, NULL, err);
}

VJP(ebmc_vjp_tanh)
{
    int one_minus_y2 = ir_binary(g, IR_OP_SUB, cst(g, 1, err), mul(g, node, node, err), NULL, err);
    return mul(g, gy, one_minus_y2, err);
}

VJP(ebmc_vjp_sigmoid)
{
    int y_1my = mul(g, node, ir_binary(g, IR_OP_SUB, cst(g, 1, err), node, NULL, err), err);
    return mul(g, gy, y_1my, err);
}

VJP(ebmc_vjp_sin)
{
    return mul(g, gy, ir_unary(g, IR_OP_COS, nd(g, node).in[0], NULL, err), err);
}

VJP(ebmc_vjp_cos)
{
    int minus_sin = ir_unary(g, IR_OP_NEG, ir_unary(g, IR_OP_SIN, nd(g, node).in[0], NULL, err), NULL, err);
    return mul(g, gy, minus_sin, err);
}

/* d atan(x) = g / (1 + x^2) */
VJP(ebmc_vjp_atan)
{
    int x = nd(g, node).in[0];
    return ir_binary(g, IR_OP_DIV, gy, ir_binary(g, IR_OP_ADD, mul(g, x, x, err), cst(g, 1.0, err), NULL, err),
                     NULL, err);
}

VJP(ebmc_vjp_erf)
{
    int x = nd(g, node).in[0];
    int e = ir_unary(g, IR_OP_EXP, ir_unary(g, IR_OP_NEG, mul(g, x, x, err), NULL, err), NULL, err);
    return mul(g, gy, mul(g, e, cst(g, 1.1283791670955126 /* 2/sqrt(pi) */, err), err), err);
}

VJP(ebmc_vjp_relu)
{
    return mul(g, gy, ir_unary(g, IR_OP_STEP, nd(g, node).in[0], NULL, err), err);
}

VJP(ebmc_vjp_softplus)
{
    return mul(g, gy, ir_unary(g, IR_OP_SIGMOID, nd(g, node).in[0], NULL, err), err);
}

VJP(ebmc_vjp_pows)
{
    ir_node n = nd(g, node);
    double p = n.attr.f;
    if (p == 0)
        return EBMC_VJP_ZERO;
    if (p == 1)
        return gy;
    int d = p == 2 ? n.in[0] : ir_pows(g, n.in[0], p - 1, NULL, err);
    return mul(g, gy, mul(g, d, cst(g, p, err), err), err);
}

/* ---- elementwise binary (broadcasting) ------------------------------------------ */

VJP(ebmc_vjp_add)
{
    return unbroadcast(g, gy, shp(g, nd(g, node).in[k]), err);
}

VJP(ebmc_vjp_sub)
{
    int d = k == 0 ? gy : ir_unary(g, IR_OP_NEG, gy, NULL, err);
    return unbroadcast(g, d, shp(g, nd(g, node).in[k]), err);
}

VJP(ebmc_vjp_mul)
{
    return times(g, node, k, gy, nd(g, node).in[1 - k], err);
}

VJP(ebmc_vjp_div)
{
    ir_node n = nd(g, node);
    if (k == 0)
        return unbroadcast(g, ir_binary(g, IR_OP_DIV, gy, n.in[1], NULL, err), shp(g, n.in[0]), err);
    /* d(a/b)/db = -(a/b)/b */
    int d = ir_unary(g, IR_OP_NEG, ir_binary(g, IR_OP_DIV, node, n.in[1], NULL, err), NULL, err);
    return times(g, node, k, gy, d, err);
}

/* Share of operand k of a max (want_greater = 1) or min: 1 where it wins,
 * 1/2 on ties, 0 where it loses. */
static int extremum_share(ir_graph *g, int node, int k, int want_greater, ebm_error *err)
{
    ir_node n = nd(g, node);
    int self = n.in[k], other = n.in[1 - k];
    int wins = want_greater ? ir_binary(g, IR_OP_GT, self, other, NULL, err)
                            : ir_binary(g, IR_OP_GT, other, self, NULL, err);
    int tie = mul(g, ir_binary(g, IR_OP_EQ, self, other, NULL, err), cst(g, 0.5, err), err);
    return ir_binary(g, IR_OP_ADD, wins, tie, NULL, err);
}

VJP(ebmc_vjp_max)
{
    return times(g, node, k, gy, extremum_share(g, node, k, 1, err), err);
}

VJP(ebmc_vjp_min)
{
    return times(g, node, k, gy, extremum_share(g, node, k, 0, err), err);
}

VJP(ebmc_vjp_select)
{
    ir_node n = nd(g, node);
    if (k == 0)
        return EBMC_VJP_ZERO;
    int zero = cst(g, 0, err);
    int d = k == 1 ? ir_select(g, n.in[0], gy, zero, NULL, err) : ir_select(g, n.in[0], zero, gy, NULL, err);
    return unbroadcast(g, d, shp(g, n.in[k]), err);
}

/* ---- reductions -------------------------------------------------------------- */

VJP(ebmc_vjp_rsum)
{
    return ir_broadcast_to(g, gy, shp(g, nd(g, node).in[0]), NULL, err);
}

VJP(ebmc_vjp_rmax)
{
    ir_node n = nd(g, node);
    int mask = ir_binary(g, IR_OP_EQ, n.in[0], node, NULL, err);
    int count = ir_reduce(g, IR_OP_RSUM, mask, n.attr.axes, NULL, err);
    return mul(g, mask, ir_binary(g, IR_OP_DIV, gy, count, NULL, err), err);
}

/* ---- contractions -------------------------------------------------------------- */

/* Swaps the last two axes. */
static int transpose_last2(ir_graph *g, int x, ebm_error *err)
{
    if (x < 0)
        return x;
    int r = shp(g, x).rank, perm[IR_MAX_RANK];
    for (int i = 0; i < r; i++)
        perm[i] = i;
    perm[r - 2] = r - 1;
    perm[r - 1] = r - 2;
    return ir_transpose(g, x, perm, NULL, err);
}

VJP(ebmc_vjp_matmul)
{
    ir_node n = nd(g, node);
    int d = k == 0 ? ir_matmul(g, gy, transpose_last2(g, n.in[1], err), NULL, err)
                   : ir_matmul(g, transpose_last2(g, n.in[0], err), gy, NULL, err);
    return unbroadcast(g, d, shp(g, n.in[k]), err);
}

/* Convolution family: with conv(x, w) = y, the three ops are each other's
 * adjoints in each argument:
 *   <conv(x,w), dy> = <x, bwd_data(dy,w)> = <w, bwd_filter(x,dy)>. */
static int conv_op(ir_graph *g, ir_op op, int a, int b, ir_conv_attr c, const int64_t *in_hw,
                   const int64_t *kernel, ebm_error *err)
{
    ir_attr at;
    memset(&at, 0, sizeof at);
    at.conv = c;
    memset(at.conv.in_hw, 0, sizeof at.conv.in_hw);
    memset(at.conv.kernel, 0, sizeof at.conv.kernel);
    if (in_hw)
        memcpy(at.conv.in_hw, in_hw, sizeof at.conv.in_hw);
    if (kernel)
        memcpy(at.conv.kernel, kernel, sizeof at.conv.kernel);
    int in[2] = {a, b};
    return ir_add_node(g, op, in, 2, &at, NULL, err);
}

VJP(ebmc_vjp_conv2d)
{
    ir_node n = nd(g, node);
    ir_shape x = shp(g, n.in[0]), w = shp(g, n.in[1]);
    if (k == 0)
        return conv_op(g, IR_OP_CONV2D_BWD_DATA, gy, n.in[1], n.attr.conv, x.d + 2, NULL, err);
    return conv_op(g, IR_OP_CONV2D_BWD_FILTER, n.in[0], gy, n.attr.conv, NULL, w.d + 2, err);
}

VJP(ebmc_vjp_conv2d_bwd_data)
{
    /* dx = bwd_data(dy, w) */
    ir_node n = nd(g, node);
    ir_shape w = shp(g, n.in[1]);
    if (k == 0)
        return conv_op(g, IR_OP_CONV2D, gy, n.in[1], n.attr.conv, NULL, NULL, err);
    return conv_op(g, IR_OP_CONV2D_BWD_FILTER, gy, n.in[0], n.attr.conv, NULL, w.d + 2, err);
}

VJP(ebmc_vjp_conv2d_bwd_filter)
{
    /* dw = bwd_filter(x, dy) */
    ir_node n = nd(g, node);
    ir_shape x = shp(g, n.in[0]);
    if (k == 0)
        return conv_op(g, IR_OP_CONV2D_BWD_DATA, n.in[1], gy, n.attr.conv, x.d + 2, NULL, err);
    return conv_op(g, IR_OP_CONV2D, n.in[0], gy, n.attr.conv, NULL, NULL, err);
}

/* ---- pooling ------------------------------------------------------------------- */

static int pool_op(ir_graph *g, ir_op op, const int *in, int n_in, ir_pool_attr p, const int64_t *in_hw,
                   ebm_error *err)
{
    ir_attr at;
    memset(&at, 0, sizeof at);
    at.pool = p;
    memset(at.pool.in_hw, 0, sizeof at.pool.in_hw);
    if (in_hw)
        memcpy(at.pool.in_hw, in_hw, sizeof at.pool.in_hw);
    return ir_add_node(g, op, in, n_in, &at, NULL, err);
}

VJP(ebmc_vjp_maxpool2d)
{
    ir_node n = nd(g, node);
    int in[2] = {n.in[0], gy};
    return pool_op(g, IR_OP_MAXPOOL2D_BWD, in, 2, n.attr.pool, NULL, err);
}

VJP(ebmc_vjp_avgpool2d)
{
    ir_node n = nd(g, node);
    ir_shape x = shp(g, n.in[0]);
    return pool_op(g, IR_OP_AVGPOOL2D_BWD, &gy, 1, n.attr.pool, x.d + 2, err);
}

VJP(ebmc_vjp_maxpool2d_bwd)
{
    /* linear in dy; piecewise constant in x */
    ir_node n = nd(g, node);
    if (k == 0)
        return EBMC_VJP_ZERO;
    int in[2] = {n.in[0], gy};
    return pool_op(g, IR_OP_MAXPOOL2D_GATHER, in, 2, n.attr.pool, NULL, err);
}

VJP(ebmc_vjp_maxpool2d_gather)
{
    ir_node n = nd(g, node);
    if (k == 0)
        return EBMC_VJP_ZERO;
    int in[2] = {n.in[0], gy};
    return pool_op(g, IR_OP_MAXPOOL2D_BWD, in, 2, n.attr.pool, NULL, err);
}

VJP(ebmc_vjp_avgpool2d_bwd)
{
    ir_node n = nd(g, node);
    return pool_op(g, IR_OP_AVGPOOL2D, &gy, 1, n.attr.pool, NULL, err);
}

/* ---- data movement ------------------------------------------------------------- */

VJP(ebmc_vjp_reshape)
{
    return ir_reshape(g, gy, shp(g, nd(g, node).in[0]), NULL, err);
}

VJP(ebmc_vjp_transpose)
{
    ir_node n = nd(g, node);
    int inv[IR_MAX_RANK];
    for (int i = 0; i < n.shape.rank; i++)
        inv[n.attr.perm[i]] = i;
    return ir_transpose(g, gy, inv, NULL, err);
}

VJP(ebmc_vjp_broadcast)
{
    return unbroadcast(g, gy, shp(g, nd(g, node).in[0]), err);
}

VJP(ebmc_vjp_slice)
{
    ir_node n = nd(g, node);
    ir_attr at;
    memset(&at, 0, sizeof at);
    at.slice = n.attr.slice;
    at.shape = shp(g, n.in[0]);
    return ir_add_node(g, IR_OP_SLICE_BWD, &gy, 1, &at, NULL, err);
}

VJP(ebmc_vjp_slice_bwd)
{
    ir_attr at;
    memset(&at, 0, sizeof at);
    at.slice = nd(g, node).attr.slice;
    return ir_add_node(g, IR_OP_SLICE, &gy, 1, &at, NULL, err);
}

/* The part of gy at offset `begin` with the extent of `part` (a slice that
 * keeps the batch axis whole). */
static int crop(ir_graph *g, int gy, const int64_t *begin, ir_shape part, ebm_error *err)
{
    ir_attr at;
    memset(&at, 0, sizeof at);
    for (int i = 0; i < part.rank; i++) {
        at.slice.step[i] = 1;
        if (part.d[i] == IR_DIM_N) {
            at.slice.start[i] = 0;
            at.slice.end[i] = INT64_MAX;
        } else {
            at.slice.start[i] = begin[i];
            at.slice.end[i] = begin[i] + part.d[i];
        }
    }
    return ir_add_node(g, IR_OP_SLICE, &gy, 1, &at, NULL, err);
}

VJP(ebmc_vjp_pad)
{
    ir_node n = nd(g, node);
    return crop(g, gy, n.attr.pad.begin, shp(g, n.in[0]), err);
}

VJP(ebmc_vjp_concat)
{
    ir_node n = nd(g, node);
    int64_t begin[IR_MAX_RANK] = {0};
    for (int j = 0; j < k; j++)
        begin[n.attr.axis] += shp(g, n.in[j]).d[n.attr.axis];
    return crop(g, gy, begin, shp(g, n.in[k]), err);
}
