/* exec_impl.h — the typed kernels of the reference executor.
 *
 * Included twice by exec.c, with REAL = float, FN(x) = x_f32, GEMM = cblas_sgemm
 * and with REAL = double, FN(x) = x_f64, GEMM = cblas_dgemm, so both precisions
 * share one text.  No include guard on purpose; not a public header.
 */

static void FN(load_const)(const ir_node *nd, REAL *out)
{
    int64_t k = ir_shape_numel(&nd->shape, 0);
    for (int64_t i = 0; i < k; i++)
        out[i] = (REAL)nd->data[i];
}

static void FN(fill)(REAL *p, int64_t k, REAL v)
{
    for (int64_t i = 0; i < k; i++)
        p[i] = v;
}

/* dst[dv(i)] = src[sv(i)] for every index i of space. */
static void FN(copy_view)(REAL *dst, const view *dv, const REAL *src, const view *sv, const dims *space)
{
    view v[2] = {*dv, *sv};
    nd_iter it;
    iter_init(&it, space, v, 2);
    int64_t total = dims_numel(space);
    for (int64_t i = 0; i < total; i++, iter_next(&it))
        dst[it.off[0]] = src[it.off[1]];
}

/* Any elementwise op: operands broadcast to the result, formula from ops.def,
 * evaluated in double and rounded once to REAL. */
static ebm_status FN(elementwise)(const node_run *r, const REAL *const *in, REAL *out, ebm_error *err)
{
    int ns = r->node->n_in;
    if (ns > 3)
        return ebm_fail(err, EBM_ERR_INTERNAL, "exec: %s: elementwise ops take at most 3 operands", r->label);
    ew_fn f = ew_table[r->node->op];
    double p = r->node->attr.f;
    view v[3];
    for (int k = 0; k < ns; k++)
        v[k] = broadcast_view(&r->in[k], &r->out, 1);
    nd_iter it;
    iter_init(&it, &r->out, v, ns);
    int64_t total = dims_numel(&r->out);
    for (int64_t i = 0; i < total; i++, iter_next(&it)) {
        double x = in[0][it.off[0]];
        double y = ns > 1 ? (double)in[1][it.off[1]] : 0.0;
        double z = ns > 2 ? (double)in[2][it.off[2]] : 0.0;
        out[i] = (REAL)f(x, y, z, p);
    }
    return EBM_OK;
}

/* RSUM / RMAX with keepdims: the result, broadcast back over the operand's
 * index space, names the slot each operand element accumulates into.  A NaN
 * anywhere in a max makes the max NaN. */
static void FN(reduce)(const node_run *r, const REAL *x, REAL *out)
{
    int is_max = r->node->op == IR_OP_RMAX;
    FN(fill)(out, dims_numel(&r->out), is_max ? (REAL)-INFINITY : (REAL)0);
    view v[2] = {contiguous_view(&r->in[0]), broadcast_view(&r->out, &r->in[0], 1)};
    nd_iter it;
    iter_init(&it, &r->in[0], v, 2);
    int64_t total = dims_numel(&r->in[0]);
    for (int64_t i = 0; i < total; i++, iter_next(&it)) {
        REAL xv = x[it.off[0]], *acc = &out[it.off[1]];
        if (!is_max)
            *acc += xv;
        else if (xv > *acc || isnan(xv))
            *acc = xv;
    }
}

/* Row-major C = op(A) op(B) + beta C, sizes already checked to fit BLAS ints. */
static void FN(gemm)(int ta, int tb, int64_t m, int64_t nn, int64_t k, const REAL *a, int64_t lda,
                     const REAL *b, int64_t ldb, REAL beta, REAL *c, int64_t ldc)
{
    if (m == 0 || nn == 0)
        return;
    if (k == 0) {   /* an empty sum; BLAS rejects the zero leading dimensions */
        if (beta == 0)
            for (int64_t i = 0; i < m; i++)
                FN(fill)(c + i * ldc, nn, 0);
        return;
    }
    GEMM(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, (blasint)m,
         (blasint)nn, (blasint)k, 1, a, (blasint)lda, b, (blasint)ldb, beta, c, (blasint)ldc);
}

/* [.., M, K] x [.., K, N]: one GEMM per result matrix, batch axes broadcast. */
static ebm_status FN(matmul)(const node_run *r, const REAL *const *in, REAL *out, ebm_error *err)
{
    const dims *ad = &r->in[0], *bd = &r->in[1];
    int64_t m = ad->d[ad->rank - 2], k = ad->d[ad->rank - 1], nn = bd->d[bd->rank - 1];
    if (!blas_fits(m) || !blas_fits(k) || !blas_fits(nn))
        return ebm_fail(err, EBM_ERR_UNSUPPORTED, "exec: %s: matrix too large for BLAS", r->label);
    dims batch = leading_dims(&r->out, 2), ab = leading_dims(ad, 2), bb = leading_dims(bd, 2);
    view v[2] = {broadcast_view(&ab, &batch, m * k), broadcast_view(&bb, &batch, k * nn)};
    nd_iter it;
    iter_init(&it, &batch, v, 2);
    int64_t count = dims_numel(&batch);
    for (int64_t i = 0; i < count; i++, iter_next(&it))
        FN(gemm)(0, 0, m, nn, k, in[0] + it.off[0], k, in[1] + it.off[1], nn, 0, out + i * m * nn, nn);
    return EBM_OK;
}

/* Between one sample-and-group block of x [cg, h, w] and its im2col matrix
 * [cg*kh*kw, ho*wo]: gather fills col (padding reads as 0); scatter adds col
 * back into x (col2im, the transpose of gather).  x is only written when
 * scattering. */
static void FN(im2col)(const conv_geom *gm, REAL *x, REAL *col, int scatter)
{
    for (int64_t c = 0; c < gm->cg; c++)
        for (int64_t i = 0; i < gm->kh; i++)
            for (int64_t j = 0; j < gm->kw; j++) {
                REAL *row = col + ((c * gm->kh + i) * gm->kw + j) * gm->hw;
                for (int64_t oh = 0; oh < gm->ho; oh++) {
                    int64_t ih = oh * gm->sh - gm->pt + i * gm->dh;
                    for (int64_t ow = 0; ow < gm->wo; ow++) {
                        int64_t iw = ow * gm->sw - gm->pl + j * gm->dw;
                        int inside = ih >= 0 && ih < gm->h && iw >= 0 && iw < gm->w;
                        REAL *cell = row + oh * gm->wo + ow;
                        if (scatter) {
                            if (inside)
                                x[(c * gm->h + ih) * gm->w + iw] += *cell;
                        } else {
                            *cell = inside ? x[(c * gm->h + ih) * gm->w + iw] : (REAL)0;
                        }
                    }
                }
            }
}

/* CONV2D (x, w -> y), CONV2D_BWD_DATA (dy, w -> dx) and CONV2D_BWD_FILTER
 * (x, dy -> dw), per sample and group, with W_g the group's [og, krows] block:
 *   y_g   = W_g  · im2col(x_g)
 *   dx_g  = col2im(W_gᵀ · dy_g)
 *   dW_g += dy_g · im2col(x_g)ᵀ                                             */
static ebm_status FN(conv)(const node_run *r, const REAL *const *in, REAL *out, ebm_error *err)
{
    ir_op op = r->node->op;
    const dims *xd = &r->in[0], *wd = &r->in[1], *yd = &r->out;
    REAL *x = (REAL *)in[0], *w = (REAL *)in[1], *y = out;
    if (op == IR_OP_CONV2D_BWD_DATA) {
        yd = &r->in[0], xd = &r->out;
        y = (REAL *)in[0], x = out;
    } else if (op == IR_OP_CONV2D_BWD_FILTER) {
        yd = &r->in[1], wd = &r->out;
        y = (REAL *)in[1], w = out;
    }
    conv_geom gm;
    ebm_status st = conv_geom_make(xd, wd, yd, &r->node->attr.conv, r->label, &gm, err);
    if (st)
        return st;
    int64_t col_n = gm.krows * gm.hw;
    REAL *col = malloc(col_n > 0 ? (size_t)col_n * sizeof *col : 1);
    if (!col)
        return ebm_fail(err, EBM_ERR_NOMEM, "exec: %s: out of memory for the im2col matrix", r->label);
    if (op != IR_OP_CONV2D)
        FN(fill)(out, dims_numel(&r->out), 0);
    for (int64_t b = 0; b < gm.batch; b++)
        for (int64_t grp = 0; grp < gm.group; grp++) {
            REAL *xg = x + (b * gm.c + grp * gm.cg) * gm.h * gm.w;
            REAL *yg = y + (b * gm.o + grp * gm.og) * gm.hw;
            REAL *wg = w + grp * gm.og * gm.krows;
            if (op == IR_OP_CONV2D) {
                FN(im2col)(&gm, xg, col, 0);
                FN(gemm)(0, 0, gm.og, gm.hw, gm.krows, wg, gm.krows, col, gm.hw, 0, yg, gm.hw);
            } else if (op == IR_OP_CONV2D_BWD_DATA) {
                FN(gemm)(1, 0, gm.krows, gm.hw, gm.og, wg, gm.krows, yg, gm.hw, 0, col, gm.hw);
                FN(im2col)(&gm, xg, col, 1);
            } else {
                FN(im2col)(&gm, xg, col, 0);
                FN(gemm)(0, 1, gm.og, gm.krows, gm.hw, yg, gm.hw, col, gm.hw, 1, wg, gm.krows);
            }
        }
    free(col);
    return EBM_OK;
}

/* Offset in the plane of the window's largest input cell: the first in scan
 * order (row by row), except that a NaN beats any number.  -1 when the window
 * covers no input cell. */
static int64_t FN(pool_argmax)(const pool_geom *gm, const pool_window *pw, const REAL *plane)
{
    int64_t best = -1;
    for (int64_t ki = pw->y.k_lo; ki < pw->y.k_hi; ki++)
        for (int64_t kj = pw->x.k_lo; kj < pw->x.k_hi; kj++) {
            int64_t at = pool_cell(gm, pw, ki, kj);
            if (best < 0 || plane[at] > plane[best] || (isnan(plane[at]) && !isnan(plane[best])))
                best = at;
        }
    return best;
}

/* Sum of the window's input cells; or, with add != NULL, adds *add to each. */
static double FN(pool_avg_cells)(const pool_geom *gm, const pool_window *pw, REAL *plane, const REAL *add)
{
    double s = 0;
    for (int64_t ki = pw->y.k_lo; ki < pw->y.k_hi; ki++)
        for (int64_t kj = pw->x.k_lo; kj < pw->x.k_hi; kj++) {
            int64_t at = pool_cell(gm, pw, ki, kj);
            if (add)
                plane[at] += *add;
            else
                s += plane[at];
        }
    return s;
}

/* MAXPOOL2D (x), AVGPOOL2D (x), MAXPOOL2D_BWD (x, dy: dy goes to the arg-max
 * cell), AVGPOOL2D_BWD (dy: spread evenly over the cells that were averaged),
 * MAXPOOL2D_GATHER (x, t: t read at the arg-max cell; the adjoint of _BWD).
 * A window without input cells gives -inf (max) or 0 (average). */
static ebm_status FN(pool)(const node_run *r, const REAL *const *in, REAL *out, ebm_error *err)
{
    ir_op op = r->node->op;
    int fwd = op == IR_OP_MAXPOOL2D || op == IR_OP_AVGPOOL2D || op == IR_OP_MAXPOOL2D_GATHER;
    const dims *xd = op == IR_OP_AVGPOOL2D_BWD ? &r->out : &r->in[0];
    const dims *yd = fwd ? &r->out : &r->in[r->node->n_in - 1];
    REAL *x = op == IR_OP_AVGPOOL2D_BWD ? out : (REAL *)in[0];
    const REAL *dy = fwd ? NULL : in[r->node->n_in - 1];
    pool_geom gm;
    ebm_status st = pool_geom_make(xd, yd, &r->node->attr.pool, r->label, &gm, err);
    if (st)
        return st;
    if (!fwd)
        FN(fill)(out, dims_numel(&r->out), 0);
    for (int64_t p = 0; p < gm.planes; p++) {
        REAL *xp = x + p * gm.h * gm.w, *dxp = out + p * gm.h * gm.w;
        for (int64_t oh = 0; oh < gm.ho; oh++)
            for (int64_t ow = 0; ow < gm.wo; ow++) {
                int64_t yi = (p * gm.ho + oh) * gm.wo + ow, best;
                pool_window pw = pool_window_at(&gm, oh, ow);
                REAL share;
                switch (op) {
                case IR_OP_MAXPOOL2D:
                    best = FN(pool_argmax)(&gm, &pw, xp);
                    out[yi] = best < 0 ? (REAL)-INFINITY : xp[best];
                    break;
                case IR_OP_MAXPOOL2D_GATHER:
                    best = FN(pool_argmax)(&gm, &pw, xp);
                    out[yi] = best < 0 ? (REAL)0 : in[1][p * gm.h * gm.w + best];
                    break;
                case IR_OP_MAXPOOL2D_BWD:
                    best = FN(pool_argmax)(&gm, &pw, xp);
                    if (best >= 0)
                        dxp[best] += dy[yi];
                    break;
                case IR_OP_AVGPOOL2D:
                    out[yi] = pw.divisor ? (REAL)(FN(pool_avg_cells)(&gm, &pw, xp, NULL) / (double)pw.divisor)
                                         : (REAL)0;
                    break;
                default:   /* AVGPOOL2D_BWD */
                    share = pw.divisor ? (REAL)(dy[yi] / (double)pw.divisor) : (REAL)0;
                    FN(pool_avg_cells)(&gm, &pw, dxp, &share);
                    break;
                }
            }
    }
    return EBM_OK;
}

/* RESHAPE, TRANSPOSE, BROADCAST, SLICE, PAD, CONCAT: each is one or more
 * strided copies between views. */
static void FN(movement)(const node_run *r, const REAL *const *in, REAL *out)
{
    const ir_attr *a = &r->node->attr;
    const ir_shape *in0_shape = &r->g->nodes[r->node->in[0]].shape;
    view dst = contiguous_view(&r->out), src;
    int64_t at[IR_MAX_RANK] = {0};
    switch (r->node->op) {
    case IR_OP_RESHAPE:
        if (dims_numel(&r->out) > 0)
            memcpy(out, in[0], (size_t)dims_numel(&r->out) * sizeof *out);
        break;
    case IR_OP_TRANSPOSE:
        src = transpose_view(&r->in[0], a->perm);
        FN(copy_view)(out, &dst, in[0], &src, &r->out);
        break;
    case IR_OP_BROADCAST:
        src = broadcast_view(&r->in[0], &r->out, 1);
        FN(copy_view)(out, &dst, in[0], &src, &r->out);
        break;
    case IR_OP_SLICE:
        src = slice_view(&r->in[0], in0_shape, &a->slice);
        FN(copy_view)(out, &dst, in[0], &src, &r->out);
        break;
    case IR_OP_SLICE_BWD:
        FN(fill)(out, dims_numel(&r->out), 0);
        dst = slice_view(&r->out, &a->shape, &a->slice);
        src = contiguous_view(&r->in[0]);
        FN(copy_view)(out, &dst, in[0], &src, &r->in[0]);
        break;
    case IR_OP_PAD:
        FN(fill)(out, dims_numel(&r->out), (REAL)a->pad.value);
        src = contiguous_view(&r->in[0]);
        dst = placement_view(&r->out, a->pad.begin);
        FN(copy_view)(out, &dst, in[0], &src, &r->in[0]);
        break;
    default:   /* CONCAT */
        for (int k = 0; k < r->node->n_in; k++) {
            src = contiguous_view(&r->in[k]);
            dst = placement_view(&r->out, at);
            FN(copy_view)(out, &dst, in[k], &src, &r->in[k]);
            at[a->axis] += r->in[k].d[a->axis];
        }
        break;
    }
}

static ebm_status FN(run_node)(const node_run *r, const void *const *in_v, void *out_v, ebm_error *err)
{
    const REAL *in[IR_MAX_OPERANDS];
    for (int k = 0; k < r->node->n_in; k++)
        in[k] = in_v[k];
    REAL *out = out_v;
    ir_op op = r->node->op;
    switch (ir_op_get(op)->kernel) {   /* the KERNEL column of ops.def */
    case IR_KERNEL_ELEMWISE:
        return FN(elementwise)(r, in, out, err);
    case IR_KERNEL_REDUCE:
        FN(reduce)(r, in[0], out);
        return EBM_OK;
    case IR_KERNEL_MATMUL:
        return FN(matmul)(r, in, out, err);
    case IR_KERNEL_CONV:
        return FN(conv)(r, in, out, err);
    case IR_KERNEL_POOL:
        return FN(pool)(r, in, out, err);
    case IR_KERNEL_MOVEMENT:
        FN(movement)(r, in, out);
        return EBM_OK;
    default:
        return ebm_fail(err, EBM_ERR_UNSUPPORTED, "exec: %s: op %s has no kernel in the reference executor",
                        r->label, ir_op_get(op)->name);
    }
}
