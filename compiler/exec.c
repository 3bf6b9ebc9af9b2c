/* exec.c — the reference executor (see exec.h).
 *
 * Every value gets its own dense C-order buffer.  Elementwise ops evaluate the
 * scalar_expr column of ops.def (so the executor and the C backend share one
 * formula per op); data movement ops are all one strided copy (copy_view);
 * matmul and convolution go through BLAS GEMM (convolution via im2col/col2im).
 *
 * The typed kernels live in exec_impl.h, included twice: once for float
 * (EBMC_F32) and once for double (EBMC_F64).  This file holds everything that
 * does not depend on the element type: node checks, shape binding, strided
 * iteration and window geometry.
 */
#include "exec.h"

#include <cblas.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ---- elementwise formulas: one function per row of ops.def ----------------- */

typedef double (*ew_fn)(double x, double y, double z, double P);

/* Rows without a formula have expr 0; their functions exist but are never called. */
#define IR_OP(NAME, text, arity, cls, kern, attr, rule, vjp, onnx, ex, expr, fexpr) \
    static double ew_##NAME(double x, double y, double z, double P) { return (expr); }
#include "ops.def"
#undef IR_OP

static const ew_fn ew_table[IR_OP_COUNT] = {
#define IR_OP(NAME, text, arity, cls, kern, attr, rule, vjp, onnx, ex, expr, fexpr) ew_##NAME,
#include "ops.def"
#undef IR_OP
};

/* ---- shapes with N bound --------------------------------------------------- */

typedef struct dims {
    int rank;
    int64_t d[IR_MAX_RANK];
} dims;

static dims bind_dims(const ir_shape *s, int64_t n)
{
    dims r;
    memset(&r, 0, sizeof r);
    r.rank = s->rank;
    for (int i = 0; i < s->rank; i++)
        r.d[i] = s->d[i] == IR_DIM_N ? n : s->d[i];
    return r;
}

/* Dims minus the last `drop` axes (the batch part of a matmul operand). */
static dims leading_dims(const dims *s, int drop)
{
    dims r = *s;
    r.rank -= drop;
    return r;
}

static int64_t dims_numel(const dims *s)
{
    int64_t k = 1;
    for (int i = 0; i < s->rank; i++)
        k *= s->d[i];
    return k;
}

/* Largest element count any buffer may have: its byte size must fit ptrdiff_t
 * for either element type. */
#define EXEC_MAX_NUMEL ((int64_t)(PTRDIFF_MAX / (ptrdiff_t)sizeof(double)))

/* a * b, or -1 when it would exceed EXEC_MAX_NUMEL (a, b >= 0). */
static int64_t mul_checked(int64_t a, int64_t b)
{
    if (a < 0 || b < 0)
        return -1;
    if (a != 0 && b > EXEC_MAX_NUMEL / a)
        return -1;
    return a * b;
}

/* Number of elements, or -1 on a negative dim or overflow. */
static int64_t numel_checked(const dims *s)
{
    int64_t k = 1;
    for (int i = 0; i < s->rank && k >= 0; i++)
        k = mul_checked(k, s->d[i]);
    return k;
}

static void contiguous_strides(const dims *s, int64_t *st)
{
    int64_t k = 1;
    for (int i = s->rank - 1; i >= 0; i--) {
        st[i] = k;
        k *= s->d[i];
    }
}

/* ---- strided iteration ------------------------------------------------------ */

/* A tensor seen through an index space: element (i0, i1, ...) of the space is
 * at base + sum_a i_a * stride[a].  Broadcasting (stride 0), transposition,
 * slicing (negative strides) and placement into a bigger array (padding,
 * concatenation) are all views. */
typedef struct view {
    int64_t base;
    int64_t stride[IR_MAX_RANK];
} view;

#define ITER_MAX_VIEWS 4

/* Walks an index space in C order, keeping the offset of the current element
 * in every view up to date. */
typedef struct nd_iter {
    dims space;
    int64_t idx[IR_MAX_RANK];
    int nv;
    int64_t off[ITER_MAX_VIEWS];
    int64_t stride[ITER_MAX_VIEWS][IR_MAX_RANK];
} nd_iter;

static void iter_init(nd_iter *it, const dims *space, const view *v, int nv)
{
    memset(it, 0, sizeof *it);
    it->space = *space;
    it->nv = nv;
    for (int k = 0; k < nv; k++) {
        it->off[k] = v[k].base;
        memcpy(it->stride[k], v[k].stride, sizeof it->stride[k]);
    }
}

static void iter_next(nd_iter *it)
{
    for (int a = it->space.rank - 1; a >= 0; a--) {
        if (++it->idx[a] < it->space.d[a]) {
            for (int k = 0; k < it->nv; k++)
                it->off[k] += it->stride[k][a];
            return;
        }
        for (int k = 0; k < it->nv; k++)
            it->off[k] -= it->stride[k][a] * (it->space.d[a] - 1);
        it->idx[a] = 0;
    }
}

static view contiguous_view(const dims *s)
{
    view v;
    memset(&v, 0, sizeof v);
    contiguous_strides(s, v.stride);
    return v;
}

/* A dense array of shape src, numpy-broadcast over the index space (shapes
 * right-aligned; size-1 and missing axes repeat).  `unit` scales the strides
 * (matmul: one step of a batch axis skips a whole matrix). */
static view broadcast_view(const dims *src, const dims *space, int64_t unit)
{
    view v;
    int64_t cs[IR_MAX_RANK];
    memset(&v, 0, sizeof v);
    contiguous_strides(src, cs);
    int shift = space->rank - src->rank;
    for (int a = 0; a < space->rank; a++) {
        int sa = a - shift;
        v.stride[a] = (sa < 0 || src->d[sa] == 1) ? 0 : cs[sa] * unit;
    }
    return v;
}

/* Result axis i is operand axis perm[i]. */
static view transpose_view(const dims *src, const int *perm)
{
    view v;
    int64_t cs[IR_MAX_RANK];
    memset(&v, 0, sizeof v);
    contiguous_strides(src, cs);
    for (int a = 0; a < src->rank; a++)
        v.stride[a] = cs[perm[a]];
    return v;
}

/* The batch axis is never sliced (the shape rule enforces it), whatever its
 * stored start/end say. */
static view slice_view(const dims *src, const ir_shape *src_shape, const ir_slice_attr *s)
{
    view v;
    int64_t cs[IR_MAX_RANK];
    memset(&v, 0, sizeof v);
    contiguous_strides(src, cs);
    for (int a = 0; a < src->rank; a++) {
        int batch = src_shape->d[a] == IR_DIM_N;
        v.base += (batch ? 0 : s->start[a]) * cs[a];
        v.stride[a] = (batch ? 1 : s->step[a]) * cs[a];
    }
    return v;
}

/* Where an operand lands inside a bigger result: at `begin` along each axis. */
static view placement_view(const dims *dst, const int64_t *begin)
{
    view v = contiguous_view(dst);
    for (int a = 0; a < dst->rank; a++)
        v.base += begin[a] * v.stride[a];
    return v;
}

/* ---- convolution and pooling geometry ---------------------------------------- */

typedef struct conv_geom {
    int64_t batch, c, h, w;   /* x [batch, c, h, w] */
    int64_t o, kh, kw;        /* w [o, c/group, kh, kw] */
    int64_t ho, wo;           /* y [batch, o, ho, wo] */
    int64_t group, cg, og;    /* channels per group: input, output */
    int64_t krows;            /* cg*kh*kw: rows of the im2col matrix */
    int64_t hw;               /* ho*wo: its columns */
    int64_t sh, sw, pt, pl, dh, dw;
} conv_geom;

/* BLAS takes 32-bit sizes. */
static int blas_fits(int64_t v)
{
    return v >= 0 && v <= INT_MAX;
}

static ebm_status conv_geom_make(const dims *x, const dims *w, const dims *y, const ir_conv_attr *a,
                                 const char *label, conv_geom *gm, ebm_error *err)
{
    memset(gm, 0, sizeof *gm);
    if (x->rank != 4 || w->rank != 4 || y->rank != 4)
        return ebm_fail(err, EBM_ERR_INVALID, "exec: %s: convolution operands must have rank 4", label);
    gm->batch = x->d[0], gm->c = x->d[1], gm->h = x->d[2], gm->w = x->d[3];
    gm->o = w->d[0], gm->kh = w->d[2], gm->kw = w->d[3];
    gm->ho = y->d[2], gm->wo = y->d[3];
    gm->group = a->group;
    gm->sh = a->stride[0], gm->sw = a->stride[1];
    gm->pt = a->pad[0], gm->pl = a->pad[1];
    gm->dh = a->dilation[0], gm->dw = a->dilation[1];
    if (gm->group < 1 || gm->o % gm->group != 0 || gm->c != w->d[1] * gm->group ||
        y->d[0] != gm->batch || y->d[1] != gm->o)
        return ebm_fail(err, EBM_ERR_INVALID,
                        "exec: %s: channel counts of input, weight and output do not agree with group %lld",
                        label, (long long)gm->group);
    gm->cg = w->d[1];
    gm->og = gm->o / gm->group;
    gm->krows = mul_checked(mul_checked(gm->cg, gm->kh), gm->kw);
    gm->hw = mul_checked(gm->ho, gm->wo);
    if (!blas_fits(gm->krows) || !blas_fits(gm->hw) || !blas_fits(gm->og) ||
        mul_checked(gm->krows, gm->hw) < 0)
        return ebm_fail(err, EBM_ERR_UNSUPPORTED,
                        "exec: %s: convolution too large for the reference executor (im2col matrix %lld x %lld)",
                        label, (long long)gm->krows, (long long)gm->hw);
    return EBM_OK;
}

typedef struct pool_geom {
    int64_t planes;        /* batch * channels */
    int64_t h, w, ho, wo;  /* un-pooled and pooled spatial sizes */
    const ir_pool_attr *a;
} pool_geom;

/* x: the un-pooled side (input of the forward op), y: the pooled side. */
static ebm_status pool_geom_make(const dims *x, const dims *y, const ir_pool_attr *a, const char *label,
                                 pool_geom *gm, ebm_error *err)
{
    memset(gm, 0, sizeof *gm);
    if (x->rank != 4 || y->rank != 4 || x->d[0] != y->d[0] || x->d[1] != y->d[1])
        return ebm_fail(err, EBM_ERR_INVALID, "exec: %s: pooling operands must be [N,C,H,W] with equal N and C",
                        label);
    gm->planes = x->d[0] * x->d[1];
    gm->h = x->d[2], gm->w = x->d[3];
    gm->ho = y->d[2], gm->wo = y->d[3];
    gm->a = a;
    return EBM_OK;
}

/* One axis of a pooling window: cell k sits at start + k*dil.  Cells
 * [k_lo, k_hi) lie inside the input; `padded` cells lie inside the input plus
 * its padding (what count_include_pad divides by: a ceil_mode window may run
 * past the padding, and those cells count for nothing). */
typedef struct pool_axis {
    int64_t start, k_lo, k_hi, padded;
} pool_axis;

/* Number of cells k in [0, kernel) with start + k*dil < limit. */
static int64_t cells_below(int64_t start, int64_t limit, int64_t kernel, int64_t dil)
{
    if (limit <= start)
        return 0;
    int64_t c = (limit - start - 1) / dil + 1;
    return c < kernel ? c : kernel;
}

static pool_axis pool_axis_at(int64_t o, int64_t size, int64_t stride, int64_t pad_lo, int64_t pad_hi,
                              int64_t kernel, int64_t dil)
{
    pool_axis r;
    r.start = o * stride - pad_lo;
    r.k_lo = r.start >= 0 ? 0 : (-r.start + dil - 1) / dil;
    r.k_hi = cells_below(r.start, size, kernel, dil);
    if (r.k_lo > r.k_hi)
        r.k_lo = r.k_hi;
    /* start >= -pad_lo always, so only the upper end of the padding can cut */
    r.padded = cells_below(r.start, size + pad_hi, kernel, dil);
    return r;
}

typedef struct pool_window {
    pool_axis y, x;
    int64_t divisor;   /* average pooling; 0 when the window holds no cell */
} pool_window;

static pool_window pool_window_at(const pool_geom *gm, int64_t oh, int64_t ow)
{
    const ir_pool_attr *a = gm->a;
    pool_window pw;
    pw.y = pool_axis_at(oh, gm->h, a->stride[0], a->pad[0], a->pad[2], a->kernel[0], a->dilation[0]);
    pw.x = pool_axis_at(ow, gm->w, a->stride[1], a->pad[1], a->pad[3], a->kernel[1], a->dilation[1]);
    pw.divisor = a->count_include_pad ? pw.y.padded * pw.x.padded
                                      : (pw.y.k_hi - pw.y.k_lo) * (pw.x.k_hi - pw.x.k_lo);
    return pw;
}

/* Offset in an h*w plane of window cell (ki, kj). */
static int64_t pool_cell(const pool_geom *gm, const pool_window *pw, int64_t ki, int64_t kj)
{
    return (pw->y.start + ki * gm->a->dilation[0]) * gm->w + pw->x.start + kj * gm->a->dilation[1];
}

/* ---- node checks ---------------------------------------------------------------- */

/* What one node evaluation needs: the node and all shapes with N bound. */
typedef struct node_run {
    const ir_graph *g;
    int id;
    const ir_node *node;
    dims out;
    dims in[IR_MAX_OPERANDS];
    char label[256];
} node_run;

static ebm_status check_shape(const ir_shape *s, const char *label, const char *what, ebm_error *err)
{
    if (s->rank < 0 || s->rank > IR_MAX_RANK)
        return ebm_fail(err, EBM_ERR_INVALID, "exec: %s: %s has rank %d (expected 0..%d)", label, what,
                        s->rank, IR_MAX_RANK);
    for (int i = 0; i < s->rank; i++)
        if (s->d[i] < 0 && s->d[i] != IR_DIM_N)
            return ebm_fail(err, EBM_ERR_INVALID, "exec: %s: %s has dimension %d = %lld", label, what, i,
                            (long long)s->d[i]);
    return EBM_OK;
}

/* Everything the kernels rely on for memory safety: a valid op and arity,
 * earlier operands with sane shapes, and a stored shape equal to what the op's
 * shape rule computes (so buffer sizes and loop bounds agree). */
static ebm_status check_node(const ir_graph *g, int id, ebm_error *err)
{
    const ir_node *nd = &g->nodes[id];
    char lb[256];
    if (nd->op < 0 || nd->op >= IR_OP_COUNT)
        return ebm_fail(err, EBM_ERR_INVALID, "exec: node %%%d has an invalid op %d", id, (int)nd->op);
    ir_node_label(g, id, lb, sizeof lb);
    if (check_shape(&nd->shape, lb, "the result", err))
        return err ? err->code : EBM_ERR_INVALID;
    const ir_op_info *info = ir_op_get(nd->op);
    if (info->arity == 0) {
        if (nd->n_in != 0)
            return ebm_fail(err, EBM_ERR_INVALID, "exec: %s: a source node has operands", lb);
        if (nd->op == IR_OP_CONST && ir_shape_has_batch(&nd->shape))
            return ebm_fail(err, EBM_ERR_INVALID, "exec: %s: a constant cannot have the batch dimension", lb);
        if (nd->op == IR_OP_CONST && !nd->data && ir_shape_numel(&nd->shape, 0) > 0)
            return ebm_fail(err, EBM_ERR_INVALID, "exec: %s: constant without data", lb);
        return EBM_OK;
    }
    if (info->arity > 0 ? nd->n_in != info->arity : (nd->n_in < 1 || nd->n_in > IR_MAX_OPERANDS))
        return ebm_fail(err, EBM_ERR_INVALID, "exec: %s has %d operands, %s takes %d", lb, nd->n_in,
                        info->name, info->arity);
    for (int k = 0; k < nd->n_in; k++) {
        if (nd->in[k] < 0 || nd->in[k] >= id)
            return ebm_fail(err, EBM_ERR_INVALID, "exec: %s: operand %d refers to %%%d, not an earlier node",
                            lb, k, nd->in[k]);
        if (check_shape(&g->nodes[nd->in[k]].shape, lb, "an operand", err))
            return err ? err->code : EBM_ERR_INVALID;
    }
    ir_shape s;
    memset(&s, 0, sizeof s);
    if (info->shape_rule(g, nd->op, nd->in, nd->n_in, &nd->attr, &s, err) != EBM_OK) {
        ebm_error_prefix(err, "exec: %s", lb);
        return err ? err->code : EBM_ERR_INVALID;
    }
    if (!ir_shape_eq(&s, &nd->shape)) {
        char b1[64], b2[64];
        return ebm_fail(err, EBM_ERR_INVALID, "exec: %s stores shape %s but its operands give %s", lb,
                        ir_shape_str(&nd->shape, b1, sizeof b1), ir_shape_str(&s, b2, sizeof b2));
    }
    return EBM_OK;
}

static ebm_status check_numel(const dims *d, const char *label, ebm_error *err)
{
    if (numel_checked(d) < 0)
        return ebm_fail(err, EBM_ERR_NOMEM, "exec: %s: value too large to allocate", label);
    return EBM_OK;
}

/* Binds N in the node's and its operands' shapes (the node is already checked). */
static ebm_status node_run_make(const ir_graph *g, int id, int64_t n, node_run *r, ebm_error *err)
{
    memset(r, 0, sizeof *r);
    r->g = g;
    r->id = id;
    r->node = &g->nodes[id];
    ir_node_label(g, id, r->label, sizeof r->label);
    r->out = bind_dims(&r->node->shape, n);
    if (check_numel(&r->out, r->label, err))
        return EBM_ERR_NOMEM;
    for (int k = 0; k < r->node->n_in; k++) {
        r->in[k] = bind_dims(&g->nodes[r->node->in[k]].shape, n);
        if (check_numel(&r->in[k], r->label, err))
            return EBM_ERR_NOMEM;
    }
    return EBM_OK;
}

static size_t dtype_size(ebmc_dtype dt)
{
    return dt == EBMC_F64 ? sizeof(double) : sizeof(float);
}

/* ---- the typed kernels ---------------------------------------------------------- */

#define REAL float
#define FN(name) name##_f32
#define GEMM cblas_sgemm
#include "exec_impl.h"
#undef REAL
#undef FN
#undef GEMM

#define REAL double
#define FN(name) name##_f64
#define GEMM cblas_dgemm
#include "exec_impl.h"
#undef REAL
#undef FN
#undef GEMM

static ebm_status run_node(const node_run *r, ebmc_dtype dt, const void *const *in, void *out, ebm_error *err)
{
    return dt == EBMC_F64 ? run_node_f64(r, in, out, err) : run_node_f32(r, in, out, err);
}

static void load_const(const ir_node *nd, ebmc_dtype dt, void *out)
{
    /* a scalar made by ir_add_scalar keeps its exact value for f64 runs */
    if (dt == EBMC_F64 && (nd->flags & IR_NODE_EXACT) && nd->shape.rank == 0)
        *(double *)out = nd->attr.f;
    else if (dt == EBMC_F64)
        load_const_f64(nd, out);
    else
        load_const_f32(nd, out);
}

/* ---- public entry points ---------------------------------------------------------- */

static ebm_status check_args(const ir_graph *g, int64_t n, ebmc_dtype dt, ebm_error *err)
{
    if (!g)
        return ebm_fail(err, EBM_ERR_INVALID, "exec: no graph");
    if (n < 0)
        return ebm_fail(err, EBM_ERR_INVALID, "exec: batch size %lld is negative", (long long)n);
    if (dt != EBMC_F32 && dt != EBMC_F64)
        return ebm_fail(err, EBM_ERR_INVALID, "exec: unknown dtype %d", (int)dt);
    return EBM_OK;
}

ebm_status ebmc_exec_node(const ir_graph *g, int id, int64_t n, ebmc_dtype dt, const void *const *in,
                          void *out, ebm_error *err)
{
    ebm_status st = check_args(g, n, dt, err);
    if (st)
        return st;
    if (id < 0 || id >= g->n_nodes)
        return ebm_fail(err, EBM_ERR_INVALID, "exec: no node %%%d (graph has %d)", id, g->n_nodes);
    if ((st = check_node(g, id, err)))
        return st;
    if (ir_op_get(g->nodes[id].op)->arity == 0) {
        char lb[256];
        return ebm_fail(err, EBM_ERR_INVALID, "exec: %s is a source node; only computed nodes can be evaluated",
                        ir_node_label(g, id, lb, sizeof lb));
    }
    node_run r;
    if ((st = node_run_make(g, id, n, &r, err)))
        return st;
    for (int k = 0; k < r.node->n_in; k++)
        if (!in || (!in[k] && dims_numel(&r.in[k]) > 0))
            return ebm_fail(err, EBM_ERR_INVALID, "exec: %s: no buffer for operand %d", r.label, k);
    if (!out && dims_numel(&r.out) > 0)
        return ebm_fail(err, EBM_ERR_INVALID, "exec: %s: no result buffer", r.label);
    return run_node(&r, dt, in, out, err);
}

/* The position of each INPUT node in g->inputs (-1 elsewhere). */
static ebm_status map_inputs(const ir_graph *g, int *slot, ebm_error *err)
{
    for (int i = 0; i < g->n_nodes; i++)
        slot[i] = -1;
    for (int k = 0; k < g->n_inputs; k++) {
        int id = g->inputs[k];
        if (id < 0 || id >= g->n_nodes || g->nodes[id].op != IR_OP_INPUT || slot[id] >= 0)
            return ebm_fail(err, EBM_ERR_INVALID, "exec: graph input %d refers to %%%d, not an input node", k, id);
        slot[id] = k;
    }
    for (int i = 0; i < g->n_nodes; i++)
        if (g->nodes[i].op == IR_OP_INPUT && slot[i] < 0) {
            char lb[256];
            return ebm_fail(err, EBM_ERR_INVALID, "exec: %s is not listed among the graph inputs",
                            ir_node_label(g, i, lb, sizeof lb));
        }
    return EBM_OK;
}

static ebm_status check_graph(const ir_graph *g, int *slot, ebm_error *err)
{
    for (int id = 0; id < g->n_nodes; id++) {
        ebm_status st = check_node(g, id, err);
        if (st)
            return st;
    }
    for (int j = 0; j < g->n_outputs; j++)
        if (g->outputs[j] < 0 || g->outputs[j] >= g->n_nodes)
            return ebm_fail(err, EBM_ERR_INVALID, "exec: graph output %d refers to %%%d", j, g->outputs[j]);
    return map_inputs(g, slot, err);
}

/* Computes node id into vals[id] (a fresh buffer). */
static ebm_status eval_node(const ir_graph *g, int id, int64_t n, ebmc_dtype dt, const int *slot,
                            const void *const *inputs, void **vals, ebm_error *err)
{
    node_run r;
    ebm_status st = node_run_make(g, id, n, &r, err);
    if (st)
        return st;
    size_t bytes = (size_t)dims_numel(&r.out) * dtype_size(dt);
    vals[id] = malloc(bytes ? bytes : 1);
    if (!vals[id])
        return ebm_fail(err, EBM_ERR_NOMEM, "exec: %s: out of memory for %zu bytes", r.label, bytes);
    if (r.node->op == IR_OP_INPUT) {
        if (bytes && (!inputs || !inputs[slot[id]]))
            return ebm_fail(err, EBM_ERR_INVALID, "exec: %s: no data for graph input %d", r.label, slot[id]);
        if (bytes)
            memcpy(vals[id], inputs[slot[id]], bytes);
        return EBM_OK;
    }
    if (r.node->op == IR_OP_CONST) {
        load_const(r.node, dt, vals[id]);
        return EBM_OK;
    }
    const void *in[IR_MAX_OPERANDS];
    for (int k = 0; k < r.node->n_in; k++)
        in[k] = vals[r.node->in[k]];
    return run_node(&r, dt, in, vals[id], err);
}

ebm_status ebmc_exec(const ir_graph *g, int64_t n, ebmc_dtype dt, const void *const *inputs,
                     void *const *outputs, ebm_error *err)
{
    ebm_status st = check_args(g, n, dt, err);
    if (st)
        return st;
    int *slot = malloc((g->n_nodes ? (size_t)g->n_nodes : 1) * sizeof *slot);
    void **vals = calloc(g->n_nodes ? (size_t)g->n_nodes : 1, sizeof *vals);
    if (!slot || !vals) {
        st = ebm_fail(err, EBM_ERR_NOMEM, "exec: out of memory");
        goto done;
    }
    if ((st = check_graph(g, slot, err)))
        goto done;
    for (int id = 0; id < g->n_nodes && !st; id++)
        st = eval_node(g, id, n, dt, slot, inputs, vals, err);
    for (int j = 0; j < g->n_outputs && !st; j++) {
        int id = g->outputs[j];
        size_t bytes = (size_t)ir_shape_numel(&g->nodes[id].shape, n) * dtype_size(dt);
        if (bytes && (!outputs || !outputs[j]))
            st = ebm_fail(err, EBM_ERR_INVALID, "exec: no buffer for graph output %d", j);
        else if (bytes)
            memcpy(outputs[j], vals[id], bytes);
    }
done:
    if (vals)
        for (int id = 0; id < g->n_nodes; id++)
            free(vals[id]);
    free(vals);
    free(slot);
    return st;
}
