/* shape.c — the shape rule of every core op (the shape_rule column of ops.def).
 *
 * A rule computes the result shape from operand shapes and attributes, or
 * fails with EBM_ERR_SHAPE saying which operand disagrees and how.  The batch
 * dimension IR_DIM_N is carried through: it broadcasts with 1 and with itself,
 * and may not be mixed with static sizes, merged by reshapes in ways that mix
 * samples, padded, sliced or concatenated along.
 */
#include <limits.h>
#include <string.h>

#include "ir.h"

#define SHAPE_RULE(fn) \
    ebm_status fn(const ir_graph *g, ir_op op, const int *in, int n_in, const ir_attr *a, \
                  ir_shape *out, ebm_error *err)

static const ir_shape *opnd(const ir_graph *g, const int *in, int k)
{
    return &g->nodes[in[k]].shape;
}

static const char *opname(ir_op op)
{
    return ir_op_get(op)->name;
}

/* Output size of a windowed op along one axis (convolution and pooling).
 * With ceil_mode the last window must still start inside the input or the
 * leading padding (PyTorch's and ONNX's rule), otherwise it is dropped. */
/* Bound on any size, pad, stride or dilation a windowed op accepts: keeps the
 * arithmetic below far from int64 overflow on hostile attributes. */
#define WINDOW_MAX ((int64_t)1 << 30)

static int64_t window_out(int64_t size, int64_t pad_lo, int64_t pad_hi, int64_t k, int64_t stride,
                          int64_t dil, int ceil_mode)
{
    if (size < 0 || size > WINDOW_MAX || pad_lo > WINDOW_MAX || pad_hi > WINDOW_MAX || k < 1 ||
        k > WINDOW_MAX || dil > WINDOW_MAX || stride > WINDOW_MAX)
        return 0;
    int64_t span = size + pad_lo + pad_hi - dil * (k - 1) - 1;
    if (span < 0 || stride <= 0)
        return 0;
    int64_t o = (ceil_mode ? (span + stride - 1) / stride : span / stride) + 1;
    if (ceil_mode && (o - 1) * stride >= size + pad_lo)
        o--;
    return o;
}

SHAPE_RULE(ir_shape_source)
{
    return ebm_fail(err, EBM_ERR_INTERNAL, "%s nodes are created by ir_add_input/ir_add_const", opname(op));
}

SHAPE_RULE(ir_shape_unary)
{
    *out = *opnd(g, in, 0);
    return EBM_OK;
}

/* Two-way numpy broadcasting of a into acc (both right-aligned). */
static ebm_status broadcast_into(ir_shape *acc, const ir_shape *s, ir_op op, int k, ebm_error *err)
{
    int r = acc->rank > s->rank ? acc->rank : s->rank;
    ir_shape res;
    memset(&res, 0, sizeof res);
    res.rank = r;
    for (int i = 0; i < r; i++) {
        int ia = i - (r - acc->rank), is = i - (r - s->rank);
        int64_t da = ia >= 0 ? acc->d[ia] : 1, ds = is >= 0 ? s->d[is] : 1;
        if (da == ds || ds == 1)
            res.d[i] = da;
        else if (da == 1)
            res.d[i] = ds;
        else {
            char b1[64], b2[64];
            return ebm_fail(err, EBM_ERR_SHAPE, "%s: operand %d of shape %s does not broadcast with %s",
                            opname(op), k, ir_shape_str(s, b1, sizeof b1), ir_shape_str(acc, b2, sizeof b2));
        }
    }
    *acc = res;
    return EBM_OK;
}

SHAPE_RULE(ir_shape_broadcast)
{
    ir_shape acc = *opnd(g, in, 0);
    for (int k = 1; k < n_in; k++)
        if (broadcast_into(&acc, opnd(g, in, k), op, k, err))
            return err ? err->code : EBM_ERR_SHAPE;
    *out = acc;
    return EBM_OK;
}

SHAPE_RULE(ir_shape_reduce)
{
    const ir_shape *s = opnd(g, in, 0);
    if (a->axes == 0 || (s->rank < 32 && (a->axes >> s->rank) != 0))
        return ebm_fail(err, EBM_ERR_SHAPE, "%s: axes mask 0x%x does not fit rank %d", opname(op),
                        a->axes, s->rank);
    *out = *s;
    for (int i = 0; i < s->rank; i++)
        if (a->axes & (1u << i))
            out->d[i] = 1;
    return EBM_OK;
}

SHAPE_RULE(ir_shape_matmul)
{
    const ir_shape *x = opnd(g, in, 0), *y = opnd(g, in, 1);
    char b1[64], b2[64];
    if (x->rank < 2 || y->rank < 2)
        return ebm_fail(err, EBM_ERR_SHAPE, "matmul: operands must have rank >= 2, got %s and %s",
                        ir_shape_str(x, b1, sizeof b1), ir_shape_str(y, b2, sizeof b2));
    if (x->d[x->rank - 1] != y->d[y->rank - 2])
        return ebm_fail(err, EBM_ERR_SHAPE, "matmul: inner dimensions differ: %s x %s",
                        ir_shape_str(x, b1, sizeof b1), ir_shape_str(y, b2, sizeof b2));
    ir_shape bx = *x, by = *y;
    bx.rank -= 2;
    by.rank -= 2;
    if (broadcast_into(&bx, &by, op, 1, err))
        return err ? err->code : EBM_ERR_SHAPE;
    if (bx.rank + 2 > IR_MAX_RANK)
        return ebm_fail(err, EBM_ERR_SHAPE, "matmul: result rank exceeds %d", IR_MAX_RANK);
    *out = bx;
    out->d[out->rank++] = x->d[x->rank - 2];
    out->d[out->rank++] = y->d[y->rank - 1];
    return EBM_OK;
}

static ebm_status check_conv_attr(const ir_conv_attr *c, ir_op op, ebm_error *err)
{
    for (int i = 0; i < 2; i++)
        if (c->stride[i] < 1 || c->dilation[i] < 1)
            return ebm_fail(err, EBM_ERR_SHAPE, "%s: strides and dilations must be >= 1", opname(op));
    for (int i = 0; i < 4; i++)
        if (c->pad[i] < 0)
            return ebm_fail(err, EBM_ERR_SHAPE, "%s: pads must be >= 0", opname(op));
    if (c->group < 1)
        return ebm_fail(err, EBM_ERR_SHAPE, "%s: group must be >= 1", opname(op));
    return EBM_OK;
}

/* Checks x [B,C,H,W] against w [O,C/g,kh,kw] and computes the output spatial size. */
static ebm_status conv_geometry(const ir_shape *x, const ir_shape *w, const ir_conv_attr *c, ir_op op,
                                int64_t *ho, int64_t *wo, ebm_error *err)
{
    char b1[64], b2[64];
    if (check_conv_attr(c, op, err))
        return err ? err->code : EBM_ERR_SHAPE;
    if (x->rank != 4 || w->rank != 4)
        return ebm_fail(err, EBM_ERR_SHAPE, "%s: input %s and weight %s must both have rank 4",
                        opname(op), ir_shape_str(x, b1, sizeof b1), ir_shape_str(w, b2, sizeof b2));
    if (x->d[1] < 0 || x->d[2] < 0 || x->d[3] < 0 || w->d[0] < 0)
        return ebm_fail(err, EBM_ERR_SHAPE, "%s: only the batch dimension may be symbolic", opname(op));
    if (x->d[1] != w->d[1] * c->group || w->d[0] % c->group != 0)
        return ebm_fail(err, EBM_ERR_SHAPE,
                        "%s: input %s has %lld channels but weight %s with group %lld expects %lld",
                        opname(op), ir_shape_str(x, b1, sizeof b1), (long long)x->d[1],
                        ir_shape_str(w, b2, sizeof b2), (long long)c->group,
                        (long long)(w->d[1] * c->group));
    *ho = window_out(x->d[2], c->pad[0], c->pad[2], w->d[2], c->stride[0], c->dilation[0], 0);
    *wo = window_out(x->d[3], c->pad[1], c->pad[3], w->d[3], c->stride[1], c->dilation[1], 0);
    if (*ho < 1 || *wo < 1)
        return ebm_fail(err, EBM_ERR_SHAPE, "%s: kernel %lldx%lld does not fit input %s with this padding",
                        opname(op), (long long)w->d[2], (long long)w->d[3], ir_shape_str(x, b1, sizeof b1));
    return EBM_OK;
}

SHAPE_RULE(ir_shape_conv2d)
{
    const ir_shape *x = opnd(g, in, 0), *w = opnd(g, in, 1);
    int64_t ho, wo;
    if (conv_geometry(x, w, &a->conv, op, &ho, &wo, err))
        return err ? err->code : EBM_ERR_SHAPE;
    *out = *x;
    out->d[1] = w->d[0];
    out->d[2] = ho;
    out->d[3] = wo;
    return EBM_OK;
}

SHAPE_RULE(ir_shape_conv2d_bwd_data)
{
    const ir_shape *dy = opnd(g, in, 0), *w = opnd(g, in, 1);
    ir_shape x;
    char b1[64];
    if (dy->rank != 4)
        return ebm_fail(err, EBM_ERR_SHAPE, "%s: dy must have rank 4", opname(op));
    x = *dy;
    x.d[1] = w->rank == 4 ? w->d[1] * a->conv.group : 0;
    x.d[2] = a->conv.in_hw[0];
    x.d[3] = a->conv.in_hw[1];
    if (x.d[2] < 1 || x.d[3] < 1)
        return ebm_fail(err, EBM_ERR_SHAPE, "%s: result size must be >= 1", opname(op));
    int64_t ho, wo;
    if (conv_geometry(&x, w, &a->conv, op, &ho, &wo, err))
        return err ? err->code : EBM_ERR_SHAPE;
    if (ho != dy->d[2] || wo != dy->d[3] || w->d[0] != dy->d[1])
        return ebm_fail(err, EBM_ERR_SHAPE, "%s: dy %s does not match the convolution of %lldx%lld",
                        opname(op), ir_shape_str(dy, b1, sizeof b1), (long long)x.d[2], (long long)x.d[3]);
    *out = x;
    return EBM_OK;
}

SHAPE_RULE(ir_shape_conv2d_bwd_filter)
{
    const ir_shape *x = opnd(g, in, 0), *dy = opnd(g, in, 1);
    char b1[64];
    if (x->rank != 4 || dy->rank != 4)
        return ebm_fail(err, EBM_ERR_SHAPE, "%s: x and dy must have rank 4", opname(op));
    if (a->conv.group < 1 || x->d[1] % a->conv.group != 0)
        return ebm_fail(err, EBM_ERR_SHAPE, "%s: bad group %lld", opname(op), (long long)a->conv.group);
    if (a->conv.kernel[0] < 1 || a->conv.kernel[1] < 1)
        return ebm_fail(err, EBM_ERR_SHAPE, "%s: kernel size must be >= 1", opname(op));
    ir_shape w = ir_shape_make(4, 0, 0, 0, 0);
    w.d[0] = dy->d[1];
    w.d[1] = x->d[1] / a->conv.group;
    w.d[2] = a->conv.kernel[0];
    w.d[3] = a->conv.kernel[1];
    int64_t ho, wo;
    if (conv_geometry(x, &w, &a->conv, op, &ho, &wo, err))
        return err ? err->code : EBM_ERR_SHAPE;
    if (ho != dy->d[2] || wo != dy->d[3] || dy->d[0] != x->d[0])
        return ebm_fail(err, EBM_ERR_SHAPE, "%s: dy %s does not match the convolution", opname(op),
                        ir_shape_str(dy, b1, sizeof b1));
    *out = w;
    return EBM_OK;
}

static ebm_status pool_geometry(const ir_shape *x, const ir_pool_attr *p, ir_op op, ir_shape *out,
                                ebm_error *err)
{
    char b1[64];
    if (x->rank != 4)
        return ebm_fail(err, EBM_ERR_SHAPE, "%s: input %s must have rank 4", opname(op),
                        ir_shape_str(x, b1, sizeof b1));
    for (int i = 0; i < 2; i++)
        if (p->kernel[i] < 1 || p->stride[i] < 1 || p->dilation[i] < 1 || x->d[2 + i] < 0)
            return ebm_fail(err, EBM_ERR_SHAPE, "%s: kernel, stride and dilation must be >= 1", opname(op));
    for (int i = 0; i < 4; i++)
        if (p->pad[i] < 0)
            return ebm_fail(err, EBM_ERR_SHAPE, "%s: pads must be >= 0", opname(op));
    *out = *x;
    for (int i = 0; i < 2; i++) {
        out->d[2 + i] = window_out(x->d[2 + i], p->pad[i], p->pad[i + 2], p->kernel[i], p->stride[i],
                                   p->dilation[i], p->ceil_mode);
        if (out->d[2 + i] < 1)
            return ebm_fail(err, EBM_ERR_SHAPE, "%s: window does not fit input %s", opname(op),
                            ir_shape_str(x, b1, sizeof b1));
    }
    return EBM_OK;
}

SHAPE_RULE(ir_shape_pool2d)
{
    return pool_geometry(opnd(g, in, 0), &a->pool, op, out, err);
}

SHAPE_RULE(ir_shape_pool2d_bwd)
{
    /* MAXPOOL2D_BWD(x, dy): the result is x's shape; AVGPOOL2D_BWD(dy): in_hw. */
    const ir_shape *dy = opnd(g, in, n_in - 1);
    ir_shape x, y;
    char b1[64];
    if (dy->rank != 4)
        return ebm_fail(err, EBM_ERR_SHAPE, "%s: dy must have rank 4", opname(op));
    if (n_in == 2) {
        x = *opnd(g, in, 0);
    } else {
        x = *dy;
        x.d[2] = a->pool.in_hw[0];
        x.d[3] = a->pool.in_hw[1];
        if (x.d[2] < 1 || x.d[3] < 1)
            return ebm_fail(err, EBM_ERR_SHAPE, "%s: result size must be >= 1", opname(op));
    }
    if (pool_geometry(&x, &a->pool, op, &y, err))
        return err ? err->code : EBM_ERR_SHAPE;
    if (!ir_shape_eq(&y, dy))
        return ebm_fail(err, EBM_ERR_SHAPE, "%s: dy %s does not match the pooling", opname(op),
                        ir_shape_str(dy, b1, sizeof b1));
    *out = x;
    return EBM_OK;
}

/* Position of N and the product of the static dims before it; -2 for two Ns
 * or a product beyond int64 (hostile dims: found by fuzz_import via Tile). */
static int batch_pos(const ir_shape *s, int64_t *before, int64_t *total)
{
    int pos = -1, count = 0;
    *before = 1;
    *total = 1;
    for (int i = 0; i < s->rank; i++) {
        if (s->d[i] == IR_DIM_N) {
            pos = i;
            count++;
        } else {
            if ((pos < 0 && __builtin_mul_overflow(*before, s->d[i], before)) ||
                __builtin_mul_overflow(*total, s->d[i], total))
                return -2;
        }
    }
    return count > 1 ? -2 : pos;
}

SHAPE_RULE(ir_shape_reshape)
{
    const ir_shape *x = opnd(g, in, 0), *t = &a->shape;
    char b1[64], b2[64];
    int64_t bx, tx, bt, tt;
    if (t->rank < 0 || t->rank > IR_MAX_RANK)
        return ebm_fail(err, EBM_ERR_SHAPE, "reshape: bad target rank %d", t->rank);
    for (int i = 0; i < t->rank; i++)
        if (t->d[i] < 0 && t->d[i] != IR_DIM_N)
            return ebm_fail(err, EBM_ERR_SHAPE, "reshape: target %s has a negative dimension",
                            ir_shape_str(t, b1, sizeof b1));
    int px = batch_pos(x, &bx, &tx), pt = batch_pos(t, &bt, &tt);
    if (px == -2 || pt == -2 || (px < 0) != (pt < 0) || tx != tt || (px >= 0 && bx != bt))
        return ebm_fail(err, EBM_ERR_SHAPE,
                        "reshape: %s cannot become %s (element counts differ, or samples of the batch "
                        "dimension N would be mixed)",
                        ir_shape_str(x, b1, sizeof b1), ir_shape_str(t, b2, sizeof b2));
    *out = *t;
    return EBM_OK;
}

SHAPE_RULE(ir_shape_transpose)
{
    const ir_shape *x = opnd(g, in, 0);
    int seen[IR_MAX_RANK] = {0};
    for (int i = 0; i < x->rank; i++) {
        int p = a->perm[i];
        if (p < 0 || p >= x->rank || seen[p]++)
            return ebm_fail(err, EBM_ERR_SHAPE, "transpose: perm is not a permutation of rank %d", x->rank);
    }
    out->rank = x->rank;
    for (int i = 0; i < x->rank; i++)
        out->d[i] = x->d[a->perm[i]];
    return EBM_OK;
}

SHAPE_RULE(ir_shape_broadcast_to)
{
    const ir_shape *x = opnd(g, in, 0), *t = &a->shape;
    char b1[64], b2[64];
    if (t->rank < x->rank || t->rank > IR_MAX_RANK)
        goto bad;
    for (int i = 0; i < x->rank; i++) {
        int64_t dx = x->d[i], dt = t->d[i + t->rank - x->rank];
        if (dx != dt && dx != 1)
            goto bad;
        if (dt < 0 && dt != IR_DIM_N)
            goto bad;
    }
    *out = *t;
    return EBM_OK;
bad:
    return ebm_fail(err, EBM_ERR_SHAPE, "broadcast: %s cannot be broadcast to %s",
                    ir_shape_str(x, b1, sizeof b1), ir_shape_str(t, b2, sizeof b2));
}

SHAPE_RULE(ir_shape_slice)
{
    const ir_shape *x = opnd(g, in, 0);
    const ir_slice_attr *s = &a->slice;
    *out = *x;
    for (int i = 0; i < x->rank; i++) {
        int64_t d = x->d[i], st = s->start[i], en = s->end[i], sp = s->step[i];
        if (d == IR_DIM_N) {
            if (st != 0 || sp != 1 || en < INT64_MAX / 2)
                return ebm_fail(err, EBM_ERR_SHAPE, "slice: the batch dimension N (axis %d) cannot be sliced", i);
            continue;
        }
        if (sp == 0)
            return ebm_fail(err, EBM_ERR_SHAPE, "slice: step 0 on axis %d", i);
        if (sp > 0) {
            if (st < 0 || st > d || en < st || en > d)
                return ebm_fail(err, EBM_ERR_SHAPE, "slice: range %lld:%lld outside axis %d of size %lld",
                                (long long)st, (long long)en, i, (long long)d);
            out->d[i] = (en - st + sp - 1) / sp;
        } else {
            if (st < 0 || st >= d || en < -1 || en > st)
                return ebm_fail(err, EBM_ERR_SHAPE, "slice: range %lld:%lld:%lld outside axis %d of size %lld",
                                (long long)st, (long long)en, (long long)sp, i, (long long)d);
            out->d[i] = (st - en + (-sp) - 1) / (-sp);
        }
    }
    return EBM_OK;
}

SHAPE_RULE(ir_shape_pad)
{
    const ir_shape *x = opnd(g, in, 0);
    *out = *x;
    for (int i = 0; i < x->rank; i++) {
        if (a->pad.begin[i] < 0 || a->pad.end[i] < 0 || a->pad.begin[i] > WINDOW_MAX ||
            a->pad.end[i] > WINDOW_MAX)
            return ebm_fail(err, EBM_ERR_SHAPE, "pad: padding on axis %d must be in [0, 2^30]", i);
        if (x->d[i] == IR_DIM_N) {
            if (a->pad.begin[i] || a->pad.end[i])
                return ebm_fail(err, EBM_ERR_SHAPE, "pad: the batch dimension N (axis %d) cannot be padded", i);
            continue;
        }
        out->d[i] = x->d[i] + a->pad.begin[i] + a->pad.end[i];
    }
    return EBM_OK;
}

SHAPE_RULE(ir_shape_concat)
{
    const ir_shape *x = opnd(g, in, 0);
    char b1[64], b2[64];
    int ax = a->axis;
    if (ax < 0 || ax >= x->rank)
        return ebm_fail(err, EBM_ERR_SHAPE, "concat: axis %d out of range for rank %d", ax, x->rank);
    *out = *x;
    if (x->d[ax] == IR_DIM_N)
        return ebm_fail(err, EBM_ERR_SHAPE, "concat: cannot concatenate along the batch dimension N");
    for (int k = 1; k < n_in; k++) {
        const ir_shape *y = opnd(g, in, k);
        int ok = y->rank == x->rank;
        for (int i = 0; ok && i < x->rank; i++)
            ok = i == ax ? y->d[i] >= 0 : y->d[i] == x->d[i];
        if (!ok)
            return ebm_fail(err, EBM_ERR_SHAPE, "concat: operand %d %s does not match %s along axes other than %d",
                            k, ir_shape_str(y, b1, sizeof b1), ir_shape_str(x, b2, sizeof b2), ax);
        out->d[ax] += y->d[ax];
    }
    return EBM_OK;
}

SHAPE_RULE(ir_shape_pool2d_gather)
{
    /* MAXPOOL2D_GATHER(x, t): t has x's shape, the result the pooled shape. */
    const ir_shape *x = opnd(g, in, 0), *t = opnd(g, in, 1);
    char b1[64], b2[64];
    if (!ir_shape_eq(x, t))
        return ebm_fail(err, EBM_ERR_SHAPE, "%s: t %s must have the shape of x %s", opname(op),
                        ir_shape_str(t, b1, sizeof b1), ir_shape_str(x, b2, sizeof b2));
    return pool_geometry(x, &a->pool, op, out, err);
}

SHAPE_RULE(ir_shape_slice_bwd)
{
    /* SLICE_BWD(dy): the result has attr.shape, and slicing it gives dy's shape. */
    const ir_shape *dy = opnd(g, in, 0), *x = &a->shape;
    char b1[64], b2[64];
    if (x->rank != dy->rank)
        return ebm_fail(err, EBM_ERR_SHAPE, "%s: rank of dy %d differs from the result's %d", opname(op),
                        dy->rank, x->rank);
    ir_graph tmp;
    ir_node node;
    memset(&tmp, 0, sizeof tmp);
    memset(&node, 0, sizeof node);
    node.shape = *x;
    tmp.nodes = &node;
    tmp.n_nodes = 1;
    int zero = 0;
    ir_shape s;
    memset(&s, 0, sizeof s);
    if (ir_shape_slice(&tmp, IR_OP_SLICE, &zero, 1, a, &s, err))
        return err ? err->code : EBM_ERR_SHAPE;
    if (!ir_shape_eq(&s, dy))
        return ebm_fail(err, EBM_ERR_SHAPE, "%s: dy %s does not match the slice of %s", opname(op),
                        ir_shape_str(dy, b1, sizeof b1), ir_shape_str(x, b2, sizeof b2));
    *out = *x;
    return EBM_OK;
}
