/* onnx_lower_move.c — data movement that picks or rearranges elements:
 * Transpose, Expand, Slice, Gather, Concat, Pad (constant, reflect, edge,
 * wrap), Split, Tile, DepthToSpace, SpaceToDepth.  Like the shape plumbing of
 * onnx_lower_shape.c (whose helpers it shares, onnx_internal.h), each op is
 * evaluated at import time on static values and becomes core movement ops
 * (TRANSPOSE, BROADCAST, SLICE, CONCAT, PAD) on dynamic ones.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "onnx_internal.h"

/* ---- Transpose, Expand ---------------------------------------------------------- */

ebm_status onnx_imp_lower_transpose(onnx_imp_ctx *c, const onnx_imp_node *n)
{
    static const char *const known[] = {"perm", NULL};
    ir_shape x;
    ebm_status st = onnx_imp_begin(c, n, known, &x);
    if (st != EBM_OK)
        return st;
    int64_t perm[IR_MAX_RANK];
    int k = onnx_imp_attr_ints(n, "perm", perm, IR_MAX_RANK);
    ir_attr a = onnx_imp_attr_zero();
    int seen[IR_MAX_RANK] = {0}, identity = 1;
    if (k >= 0 && k != x.rank)
        return onnx_imp_fail(c, n, EBM_ERR_INVALID, "perm has %d entries for rank %d", k, x.rank);
    for (int i = 0; i < x.rank; i++) {
        int64_t p = k < 0 ? x.rank - 1 - i : perm[i];
        if (p < 0 || p >= x.rank || seen[p]++)
            return onnx_imp_fail(c, n, EBM_ERR_INVALID, "perm is not a permutation of 0..%d", x.rank - 1);
        a.perm[i] = (int)p;
        identity &= p == i;
    }
    return identity ? onnx_imp_pass_through(c, n, 0) : onnx_imp_move(c, n, 0, IR_OP_TRANSPOSE, &a, 0);
}

/* Two-way numpy broadcasting of x with a target shape (Expand's rule). */
static ebm_status broadcast_shapes(onnx_imp_ctx *c, const onnx_imp_node *n, const ir_shape *x, const ir_shape *t,
                                   ir_shape *out)
{
    int r = x->rank > t->rank ? x->rank : t->rank;
    char b1[64], b2[64];
    *out = ir_shape_make(0);
    out->rank = r;
    for (int i = 0; i < r; i++) {
        int ix = i - (r - x->rank), it = i - (r - t->rank);
        int64_t dx = ix >= 0 ? x->d[ix] : 1, dt = it >= 0 ? t->d[it] : 1;
        if (dx != dt && dx != 1 && dt != 1)
            return onnx_imp_fail(c, n, EBM_ERR_SHAPE, "%s cannot be expanded to %s",
                                 ir_shape_str(x, b1, sizeof b1), ir_shape_str(t, b2, sizeof b2));
        out->d[i] = dx == 1 ? dt : dx;
    }
    return EBM_OK;
}

ebm_status onnx_imp_lower_expand(onnx_imp_ctx *c, const onnx_imp_node *n)
{
    ebm_status st = onnx_imp_check_attrs(c, n, NULL);
    ir_shape x, t, out;
    if (st == EBM_OK)
        st = onnx_imp_shape_arg(c, n, 0, &x);
    if (st != EBM_OK)
        return st;
    int64_t dims[IR_MAX_RANK];
    int k = onnx_imp_static_ints(c, n, 1, "the shape of Expand", dims, IR_MAX_RANK);
    if (k < 0)
        return onnx_imp_err(c)->code;
    if (onnx_imp_dims_to_shape(dims, k, &t))
        return onnx_imp_fail(c, n, EBM_ERR_INVALID, "the shape has a negative or huge dimension");
    st = broadcast_shapes(c, n, &x, &t, &out);
    if (st != EBM_OK)
        return st;
    if (ir_shape_eq(&out, &x))
        return onnx_imp_pass_through(c, n, 0);
    ir_attr a = onnx_imp_attr_zero();
    a.shape = out;
    return onnx_imp_move(c, n, 0, IR_OP_BROADCAST, &a, 0);
}

/* ---- Slice -------------------------------------------------------------------- */

typedef struct slice_args {
    int64_t starts[IR_MAX_RANK], ends[IR_MAX_RANK], axes[IR_MAX_RANK], steps[IR_MAX_RANK];
    int k;
} slice_args;

static ebm_status slice_list(onnx_imp_ctx *c, const onnx_imp_node *n, int input, const char *name, int64_t *out,
                             int *k)
{
    char what[64];
    snprintf(what, sizeof what, "the %s of Slice", name);
    if (n->opset >= 10) {
        *k = onnx_imp_has_input(n, input) ? onnx_imp_static_ints(c, n, input, what, out, IR_MAX_RANK) : -1;
        return *k == -1 && onnx_imp_has_input(n, input) ? onnx_imp_err(c)->code : EBM_OK;
    }
    *k = onnx_imp_attr_ints(n, name, out, IR_MAX_RANK);
    return *k == -2 ? onnx_imp_fail(c, n, EBM_ERR_UNSUPPORTED, "more than %d %s", IR_MAX_RANK, name) : EBM_OK;
}

static ebm_status slice_read(onnx_imp_ctx *c, const onnx_imp_node *n, slice_args *s)
{
    int ks, ke, ka, kp;
    ebm_status st = slice_list(c, n, 1, "starts", s->starts, &ks);
    if (st == EBM_OK)
        st = slice_list(c, n, 2, "ends", s->ends, &ke);
    if (st == EBM_OK)
        st = slice_list(c, n, 3, "axes", s->axes, &ka);
    if (st == EBM_OK)
        st = n->opset >= 10 ? slice_list(c, n, 4, "steps", s->steps, &kp) : (kp = -1, EBM_OK);
    if (st != EBM_OK)
        return st;
    if (ks < 0 || ke < 0)
        return onnx_imp_fail(c, n, EBM_ERR_INVALID, "starts and ends are required");
    if (ks != ke || (ka >= 0 && ka != ks) || (kp >= 0 && kp != ks))
        return onnx_imp_fail(c, n, EBM_ERR_INVALID, "starts, ends, axes and steps must have the same length");
    s->k = ks;
    for (int i = 0; i < ks; i++) {
        if (ka < 0)
            s->axes[i] = i;
        if (kp < 0)
            s->steps[i] = 1;
    }
    return EBM_OK;
}

/* Clamps one axis' range as ONNX does and stores it in the SLICE attribute. */
static ebm_status slice_axis(onnx_imp_ctx *c, const onnx_imp_node *n, int ax, int64_t d, int64_t start, int64_t end,
                             int64_t step, ir_attr *a)
{
    if (step == 0)
        return onnx_imp_fail(c, n, EBM_ERR_INVALID, "step 0 on axis %d", ax);
    if (d == IR_DIM_N) {
        int whole = start == 0 && step == 1 && (end == ONNX_IMP_SYM_N || end >= INT32_MAX);
        if (!whole)
            return onnx_imp_fail(c, n, EBM_ERR_UNSUPPORTED,
                                 "slicing the batch dimension N (axis %d) is not supported", ax);
        return EBM_OK;
    }
    if (start == ONNX_IMP_SYM_N || end == ONNX_IMP_SYM_N)
        return onnx_imp_fail(c, n, EBM_ERR_NOT_STATIC, "a bound on axis %d is the batch size N", ax);
    if (start < 0)
        start += d;
    if (end < 0)
        end += d;
    step = onnx_imp_clamp64(step, -(d + 1), d + 1);   /* a longer step selects the same one element */
    if (step > 0) {
        start = onnx_imp_clamp64(start, 0, d);
        end = onnx_imp_clamp64(end, start, d);
    } else if (d == 0) {
        start = end = 0;
        step = 1;
    } else {
        start = onnx_imp_clamp64(start, 0, d - 1);
        end = onnx_imp_clamp64(end, -1, start);
    }
    a->slice.start[ax] = start;
    a->slice.end[ax] = end;
    a->slice.step[ax] = step;
    return EBM_OK;
}

ebm_status onnx_imp_lower_slice(onnx_imp_ctx *c, const onnx_imp_node *n)
{
    static const char *const known[] = {"starts", "ends", "axes", NULL};
    slice_args s;
    ir_shape x;
    int mark[IR_MAX_RANK];
    ebm_status st = onnx_imp_check_attrs(c, n, n->opset >= 10 ? NULL : known);
    if (st == EBM_OK)
        st = onnx_imp_shape_arg(c, n, 0, &x);
    if (st == EBM_OK)
        st = slice_read(c, n, &s);
    if (st == EBM_OK)
        st = onnx_imp_mark_axes(c, n, s.axes, s.k, x.rank, mark);
    if (st != EBM_OK)
        return st;
    ir_attr a = onnx_imp_attr_zero();
    onnx_imp_slice_all(&x, &a);
    for (int i = 0; st == EBM_OK && i < s.k; i++) {
        int ax = onnx_imp_norm_axis(s.axes[i], x.rank);
        st = slice_axis(c, n, ax, x.d[ax], s.starts[i], s.ends[i], s.steps[i], &a);
    }
    if (st != EBM_OK)
        return st;
    ir_attr whole = onnx_imp_attr_zero();
    onnx_imp_slice_all(&x, &whole);
    if (memcmp(&whole.slice, &a.slice, sizeof a.slice) == 0)
        return onnx_imp_pass_through(c, n, 0);
    return onnx_imp_move(c, n, 0, IR_OP_SLICE, &a, 0);
}

/* ---- Gather -------------------------------------------------------------------- */

static ebm_status gather_indices(onnx_imp_ctx *c, const onnx_imp_node *n, int64_t dim, ir_tensor *idx)
{
    const ir_tensor *t;
    memset(idx, 0, sizeof *idx);
    ebm_status st = onnx_imp_require_static(c, n, 1, "the indices of Gather", &t);
    if (st == EBM_OK && t->dtype != IR_DT_I64)
        st = onnx_imp_fail(c, n, EBM_ERR_INVALID, "the indices must be integers");
    if (st == EBM_OK)
        st = onnx_imp_tensor_copy(c, t, idx);
    for (int64_t i = 0; st == EBM_OK && i < ir_shape_numel(&idx->shape, 0); i++) {
        int64_t *v = (int64_t *)idx->data + i;
        if (*v == ONNX_IMP_SYM_N)
            st = onnx_imp_fail(c, n, EBM_ERR_NOT_STATIC, "an index is the batch size N");
        else if (*v < -dim || *v >= dim)
            st = onnx_imp_fail(c, n, EBM_ERR_INVALID, "index %lld out of range for a dimension of %lld",
                               (long long)*v, (long long)dim);
        else if (*v < 0)
            *v += dim;
    }
    if (st != EBM_OK)
        ir_tensor_free(idx);
    return st;
}

/* data[:axis] + indices + data[axis+1:] */
static ebm_status gather_shape(onnx_imp_ctx *c, const onnx_imp_node *n, const ir_shape *x, int axis, const ir_shape *is,
                               ir_shape *out)
{
    if (x->rank - 1 + is->rank > IR_MAX_RANK)
        return onnx_imp_fail(c, n, EBM_ERR_UNSUPPORTED, "result rank exceeds ebmc's maximum of %d", IR_MAX_RANK);
    *out = ir_shape_make(0);
    for (int i = 0; i < x->rank; i++) {
        if (i != axis)
            out->d[out->rank++] = x->d[i];
        for (int j = 0; i == axis && j < is->rank; j++)
            out->d[out->rank++] = is->d[j];
    }
    return EBM_OK;
}

static ebm_status gather_static(onnx_imp_ctx *c, const ir_tensor *x, int axis, const ir_tensor *idx,
                                const ir_shape *shape, ir_tensor *out)
{
    ebm_status st = onnx_imp_tensor_alloc(c, out, x->dtype, shape);
    if (st != EBM_OK)
        return st;
    int64_t outer = 1, inner = 1, k = ir_shape_numel(&idx->shape, 0), d = x->shape.d[axis];
    for (int i = 0; i < axis; i++)
        outer *= x->shape.d[i];
    for (int i = axis + 1; i < x->shape.rank; i++)
        inner *= x->shape.d[i];
    size_t block = (size_t)inner * ir_dtype_size(x->dtype);
    char *dst = out->data;
    for (int64_t o = 0; o < outer; o++)
        for (int64_t j = 0; j < k; j++, dst += block)
            memcpy(dst, (const char *)x->data + (size_t)(o * d + ((int64_t *)idx->data)[j]) * block, block);
    return EBM_OK;
}

/* Length of the run of evenly spaced indices starting at v[0] (k > 0). */
static int64_t even_run(const int64_t *v, int64_t k, int64_t *step)
{
    *step = k > 1 && v[1] != v[0] ? v[1] - v[0] : 1;
    if (k == 1 || v[1] == v[0])
        return 1;
    int64_t m = 2;
    while (m < k && v[m] - v[m - 1] == *step)
        m++;
    return m;
}

/* Dynamic data: one strided SLICE per run of evenly spaced indices, a CONCAT
 * of the runs, then a RESHAPE to the gathered shape. */
static int gather_dynamic(onnx_imp_ctx *c, const onnx_imp_node *n, int x, const ir_shape *xs, int axis,
                          const ir_tensor *idx, const ir_shape *shape)
{
    enum { MAX_RUNS = 1024 };   /* beyond this the graph would drown in slices */
    ir_graph *g = onnx_imp_graph(c);
    ebm_error *err = onnx_imp_err(c);
    const int64_t *v = idx->data;
    int64_t k = ir_shape_numel(&idx->shape, 0);
    int parts[MAX_RUNS], m = 0;
    ir_attr a = onnx_imp_attr_zero();
    onnx_imp_slice_all(xs, &a);
    if (k == 0) {   /* an empty selection: a zero-length slice */
        a.slice.end[axis] = 0;
        parts[m++] = ir_add_node(g, IR_OP_SLICE, &x, 1, &a, n->label, err);
    }
    for (int64_t j = 0, len, step; j < k; j += len) {
        if (m == MAX_RUNS) {
            onnx_imp_fail(c, n, EBM_ERR_UNSUPPORTED, "more than %d irregular runs of indices on a computed tensor",
                          MAX_RUNS);
            return -1;
        }
        len = even_run(v + j, k - j, &step);
        a.slice.start[axis] = v[j];
        a.slice.end[axis] = v[j + len - 1] + (step > 0 ? 1 : -1);
        a.slice.step[axis] = step;
        parts[m++] = ir_add_node(g, IR_OP_SLICE, &x, 1, &a, n->label, err);
    }
    int y = ir_concat(g, parts, m, axis, n->label, err);
    return ir_reshape(g, y, *shape, n->label, err);
}

ebm_status onnx_imp_lower_gather(onnx_imp_ctx *c, const onnx_imp_node *n)
{
    static const char *const known[] = {"axis", NULL};
    ir_shape x, out;
    ebm_status st = onnx_imp_begin(c, n, known, &x);
    if (st != EBM_OK)
        return st;
    int axis = onnx_imp_norm_axis(onnx_imp_attr_int(n, "axis", 0), x.rank);
    if (axis < 0)
        return onnx_imp_fail(c, n, EBM_ERR_INVALID, "axis out of range for rank %d", x.rank);
    if (x.d[axis] == IR_DIM_N)
        return onnx_imp_fail(c, n, EBM_ERR_UNSUPPORTED, "gathering along the batch dimension N is not supported");
    ir_tensor idx;
    st = gather_indices(c, n, x.d[axis], &idx);
    if (st != EBM_OK)
        return st;
    st = gather_shape(c, n, &x, axis, &idx.shape, &out);
    const ir_tensor *t = onnx_imp_foldable(c, n, 0);
    if (st == EBM_OK && t) {
        ir_tensor res;
        st = gather_static(c, t, axis, &idx, &out, &res);
        if (st == EBM_OK)
            st = onnx_imp_set_static_output(c, n, 0, &res);
    } else if (st == EBM_OK) {
        int xv = onnx_imp_input(c, n, 0);
        st = xv < 0 ? onnx_imp_err(c)->code
                    : onnx_imp_set_output(c, n, 0, gather_dynamic(c, n, xv, &x, axis, &idx, &out));
    }
    ir_tensor_free(&idx);
    return st;
}

/* ---- Concat ------------------------------------------------------------------- */

static ebm_status concat_static(onnx_imp_ctx *c, const onnx_imp_node *n, int axis, const ir_shape *shape,
                                ir_tensor *out)
{
    const ir_tensor *first = onnx_imp_static(c, n, 0);
    ebm_status st = onnx_imp_tensor_alloc(c, out, first->dtype, shape);
    if (st != EBM_OK)
        return st;
    int64_t outer = 1;
    for (int i = 0; i < axis; i++)
        outer *= shape->d[i];
    size_t esz = ir_dtype_size(first->dtype);
    char *dst = out->data;
    for (int64_t o = 0; o < outer; o++) {
        for (int k = 0; k < onnx_imp_n_inputs(n); k++) {
            const ir_tensor *t = onnx_imp_static(c, n, k);
            size_t block = (size_t)(ir_shape_numel(&t->shape, 0) / (outer ? outer : 1)) * esz;
            if (outer)
                memcpy(dst, (const char *)t->data + (size_t)o * block, block);
            dst += block;
        }
    }
    return EBM_OK;
}

/* The concatenated shape; *all_static tells whether every input folds. */
static ebm_status concat_shape(onnx_imp_ctx *c, const onnx_imp_node *n, int64_t axis_attr, int *axis, ir_shape *out,
                               int *all_static)
{
    int count = onnx_imp_n_inputs(n);
    ir_shape s;
    char b1[64], b2[64];
    *all_static = 1;
    for (int k = 0; k < count; k++) {
        ebm_status st = onnx_imp_shape_arg(c, n, k, &s);
        if (st != EBM_OK)
            return st;
        const ir_tensor *t = onnx_imp_foldable(c, n, k), *first = onnx_imp_foldable(c, n, 0);
        *all_static &= t && first && t->dtype == first->dtype;
        if (k == 0) {
            *out = s;
            if ((*axis = onnx_imp_norm_axis(axis_attr, s.rank)) < 0)
                return onnx_imp_fail(c, n, EBM_ERR_INVALID, "axis %lld out of range for rank %d",
                                     (long long)axis_attr, s.rank);
            if (s.d[*axis] == IR_DIM_N)
                return onnx_imp_fail(c, n, EBM_ERR_UNSUPPORTED,
                                     "concatenating along the batch dimension N is not supported");
            continue;
        }
        int ok = s.rank == out->rank;
        for (int i = 0; ok && i < s.rank; i++)
            ok = i == *axis || s.d[i] == out->d[i];
        if (!ok)
            return onnx_imp_fail(c, n, EBM_ERR_SHAPE, "input %d %s does not match %s outside axis %d", k,
                                 ir_shape_str(&s, b1, sizeof b1), ir_shape_str(out, b2, sizeof b2), *axis);
        out->d[*axis] += s.d[*axis];
    }
    return EBM_OK;
}

ebm_status onnx_imp_lower_concat(onnx_imp_ctx *c, const onnx_imp_node *n)
{
    static const char *const known[] = {"axis", NULL};
    ebm_status st = onnx_imp_check_attrs(c, n, known);
    if (st != EBM_OK)
        return st;
    const Onnx__AttributeProto *axis_attr = onnx_imp_attr(n, "axis");
    int count = onnx_imp_n_inputs(n), axis = 0, all_static = 0;
    if (count < 1)
        return onnx_imp_fail(c, n, EBM_ERR_INVALID, "Concat needs at least one input");
    if (!axis_attr && n->opset >= 4)
        return onnx_imp_fail(c, n, EBM_ERR_INVALID, "attribute 'axis' is missing");
    ir_shape shape;
    st = concat_shape(c, n, axis_attr ? axis_attr->i : 1, &axis, &shape, &all_static);
    if (st != EBM_OK)
        return st;
    if (all_static) {
        ir_tensor out;
        st = concat_static(c, n, axis, &shape, &out);
        return st == EBM_OK ? onnx_imp_set_static_output(c, n, 0, &out) : st;
    }
    int *xs = malloc((size_t)count * sizeof *xs), m = 0;
    if (!xs)
        return onnx_imp_fail(c, n, EBM_ERR_NOMEM, "out of memory");
    for (int k = 0; k < count; k++) {
        const ir_shape *s = onnx_imp_input_shape(c, n, k);
        if (s->d[axis] == 0 && m + (count - k - 1) > 0)
            continue;   /* empty pieces (PyTorch emits them) add nothing */
        if ((xs[m++] = onnx_imp_input(c, n, k)) < 0)
            break;
    }
    int y = m && xs[m - 1] >= 0 ? ir_concat(onnx_imp_graph(c), xs, m, axis, n->label, onnx_imp_err(c)) : -1;
    free(xs);
    return onnx_imp_set_output(c, n, 0, y);
}

/* ---- Pad ---------------------------------------------------------------------- */

typedef struct pad_args {
    int64_t begin[IR_MAX_RANK], end[IR_MAX_RANK];
    double value;
} pad_args;

static ebm_status pad_read(onnx_imp_ctx *c, const onnx_imp_node *n, int rank, pad_args *p)
{
    int64_t pads[2 * IR_MAX_RANK], axes[IR_MAX_RANK];
    int k, ka = -1;
    memset(p, 0, sizeof *p);
    if (n->opset < 11) {
        k = onnx_imp_attr_ints(n, "pads", pads, 2 * IR_MAX_RANK);
        if (k < 0)
            k = onnx_imp_attr_ints(n, "paddings", pads, 2 * IR_MAX_RANK);
        p->value = onnx_imp_attr_float(n, "value", 0);
        if (k < 0)
            return onnx_imp_fail(c, n, EBM_ERR_INVALID, "attribute 'pads' is missing or too long");
    } else {
        k = onnx_imp_static_ints(c, n, 1, "the pads of Pad", pads, 2 * IR_MAX_RANK);
        if (k < 0)
            return onnx_imp_err(c)->code;
        if (onnx_imp_has_input(n, 2) && onnx_imp_static_scalar(c, n, 2, "the constant_value of Pad", &p->value))
            return onnx_imp_err(c)->code;
        if (onnx_imp_has_input(n, 3) && (ka = onnx_imp_static_ints(c, n, 3, "the axes of Pad", axes, IR_MAX_RANK)) < 0)
            return onnx_imp_err(c)->code;
    }
    if (ka < 0)
        for (ka = 0; ka < rank; ka++)
            axes[ka] = ka;
    int mark[IR_MAX_RANK];
    if (k != 2 * ka)
        return onnx_imp_fail(c, n, EBM_ERR_INVALID, "pads has %d entries, expected %d", k, 2 * ka);
    ebm_status st = onnx_imp_mark_axes(c, n, axes, ka, rank, mark);
    for (int i = 0; st == EBM_OK && i < k; i++)
        if (pads[i] > ONNX_IMP_MAX_DIM || pads[i] < -ONNX_IMP_MAX_DIM)
            st = onnx_imp_fail(c, n, EBM_ERR_INVALID, "pad %lld is out of range", (long long)pads[i]);
    for (int i = 0; st == EBM_OK && i < ka; i++) {
        int ax = onnx_imp_norm_axis(axes[i], rank);
        p->begin[ax] = pads[i];
        p->end[ax] = pads[i + ka];
    }
    return st;
}

/* Negative pads crop: a SLICE before the PAD. */
static int pad_dynamic(onnx_imp_ctx *c, const onnx_imp_node *n, int x, const ir_shape *xs, const pad_args *p)
{
    ir_attr crop = onnx_imp_attr_zero(), pad = onnx_imp_attr_zero();
    int need_crop = 0, need_pad = 0;
    onnx_imp_slice_all(xs, &crop);
    pad.pad.value = p->value;
    for (int i = 0; i < xs->rank; i++) {
        crop.slice.start[i] = p->begin[i] < 0 ? -p->begin[i] : 0;
        if (p->end[i] < 0)
            crop.slice.end[i] = xs->d[i] + p->end[i];
        need_crop |= p->begin[i] < 0 || p->end[i] < 0;
        pad.pad.begin[i] = p->begin[i] > 0 ? p->begin[i] : 0;
        pad.pad.end[i] = p->end[i] > 0 ? p->end[i] : 0;
        need_pad |= p->begin[i] > 0 || p->end[i] > 0;
    }
    ir_graph *g = onnx_imp_graph(c);
    if (need_crop)
        x = ir_add_node(g, IR_OP_SLICE, &x, 1, &crop, n->label, onnx_imp_err(c));
    if (need_pad)
        x = ir_add_node(g, IR_OP_PAD, &x, 1, &pad, n->label, onnx_imp_err(c));
    return x;
}

typedef enum pad_mode { PAD_CONSTANT, PAD_REFLECT, PAD_EDGE, PAD_WRAP, PAD_BAD } pad_mode;

/* One SLICE of x on axis ax: [start, end) by step. */
static int slice_on(onnx_imp_ctx *c, const onnx_imp_node *n, int x, const ir_shape *xs, int ax, int64_t start,
                    int64_t end, int64_t step)
{
    ir_attr a = onnx_imp_attr_zero();
    onnx_imp_slice_all(xs, &a);
    a.slice.start[ax] = start;
    a.slice.end[ax] = end;
    a.slice.step[ax] = step;
    return ir_add_node(onnx_imp_graph(c), IR_OP_SLICE, &x, 1, &a, n->label, onnx_imp_err(c));
}

/* The `count` elements put before (side 0) or after (side 1) axis ax of x
 * (size d) by a non-constant pad mode. */
static int pad_piece(onnx_imp_ctx *c, const onnx_imp_node *n, int x, const ir_shape *xs, int ax, int side,
                     int64_t count, pad_mode pm)
{
    int64_t d = xs->d[ax];
    if (pm == PAD_REFLECT)   /* x[count..1] before, x[d-2..d-1-count] after */
        return side == 0 ? slice_on(c, n, x, xs, ax, count, 0, -1)
                         : slice_on(c, n, x, xs, ax, d - 2, d - 2 - count, -1);
    if (pm == PAD_WRAP)
        return side == 0 ? slice_on(c, n, x, xs, ax, d - count, d, 1) : slice_on(c, n, x, xs, ax, 0, count, 1);
    int edge = side == 0 ? slice_on(c, n, x, xs, ax, 0, 1, 1) : slice_on(c, n, x, xs, ax, d - 1, d, 1);
    ir_shape s = *xs;
    s.d[ax] = count;
    return ir_broadcast_to(onnx_imp_graph(c), edge, s, n->label, onnx_imp_err(c));
}

/* Pad modes reflect, edge and wrap: axis by axis, CONCAT(before, x, after) of
 * SLICEs (a negative step for reflect), after cropping negative pads. */
static ebm_status pad_by_slices(onnx_imp_ctx *c, const onnx_imp_node *n, const ir_shape *xs, const pad_args *p,
                                pad_mode pm)
{
    static const char *const names[] = {"constant", "reflect", "edge", "wrap"};
    pad_args crop = *p;
    for (int i = 0; i < xs->rank; i++) {
        crop.begin[i] = p->begin[i] < 0 ? p->begin[i] : 0;
        crop.end[i] = p->end[i] < 0 ? p->end[i] : 0;
    }
    int x = onnx_imp_input(c, n, 0);
    if (x < 0)
        return onnx_imp_err(c)->code;
    x = pad_dynamic(c, n, x, xs, &crop);
    ir_shape s = onnx_imp_value_shape(c, x);
    for (int ax = 0; x >= 0 && ax < s.rank; ax++) {
        int64_t before = p->begin[ax] > 0 ? p->begin[ax] : 0, after = p->end[ax] > 0 ? p->end[ax] : 0;
        if (!before && !after)
            continue;
        int64_t limit = pm == PAD_REFLECT ? s.d[ax] - 1 : pm == PAD_WRAP ? s.d[ax] : (s.d[ax] > 0 ? INT64_MAX : 0);
        if (before > limit || after > limit)
            return onnx_imp_fail(c, n, EBM_ERR_UNSUPPORTED,
                                 "pad mode '%s' pads axis %d (size %lld) by %lld/%lld; at most %lld is supported",
                                 names[pm], ax, (long long)s.d[ax], (long long)before, (long long)after,
                                 (long long)limit);
        int parts[3], m = 0;
        if (before)
            parts[m++] = pad_piece(c, n, x, &s, ax, 0, before, pm);
        parts[m++] = x;
        if (after)
            parts[m++] = pad_piece(c, n, x, &s, ax, 1, after, pm);
        x = ir_concat(onnx_imp_graph(c), parts, m, ax, n->label, onnx_imp_err(c));
        if (x >= 0)
            s = onnx_imp_value_shape(c, x);
    }
    return onnx_imp_set_output(c, n, 0, x);
}

ebm_status onnx_imp_lower_pad(onnx_imp_ctx *c, const onnx_imp_node *n)
{
    static const char *const known[] = {"mode", "pads", "paddings", "value", NULL};
    ir_shape x;
    pad_args p;
    char buf[32];
    ebm_status st = onnx_imp_begin(c, n, known, &x);
    if (st != EBM_OK)
        return st;
    const char *mode = onnx_imp_attr_string(n, "mode", buf, sizeof buf, "constant");
    pad_mode pm = strcmp(mode, "constant") == 0 ? PAD_CONSTANT
                  : strcmp(mode, "reflect") == 0 ? PAD_REFLECT
                  : strcmp(mode, "edge") == 0 ? PAD_EDGE
                  : strcmp(mode, "wrap") == 0 ? PAD_WRAP : PAD_BAD;
    if (pm == PAD_BAD)
        return onnx_imp_fail(c, n, EBM_ERR_UNSUPPORTED,
                             "pad mode '%s' is not supported (constant, reflect, edge, wrap)", mode);
    st = pad_read(c, n, x.rank, &p);
    if (st != EBM_OK)
        return st;
    for (int i = 0; i < x.rank; i++) {
        if (x.d[i] == IR_DIM_N && (p.begin[i] || p.end[i]))
            return onnx_imp_fail(c, n, EBM_ERR_UNSUPPORTED,
                                 "padding the batch dimension N (axis %d) is not supported", i);
        if (x.d[i] != IR_DIM_N &&
            (x.d[i] + p.begin[i] + p.end[i] < 0 || -p.begin[i] > x.d[i] || -p.end[i] > x.d[i]))
            return onnx_imp_fail(c, n, EBM_ERR_INVALID, "pads crop more than axis %d holds", i);
    }
    if (pm != PAD_CONSTANT)
        return pad_by_slices(c, n, &x, &p, pm);
    const ir_tensor *t = onnx_imp_foldable(c, n, 0);
    if (t) {
        ir_attr a = onnx_imp_attr_zero();
        memcpy(a.pad.begin, p.begin, sizeof p.begin);
        memcpy(a.pad.end, p.end, sizeof p.end);
        return onnx_imp_move(c, n, 0, IR_OP_PAD, &a, p.value);
    }
    int xv = onnx_imp_input(c, n, 0);
    return xv < 0 ? onnx_imp_err(c)->code : onnx_imp_set_output(c, n, 0, pad_dynamic(c, n, xv, &x, &p));
}

/* ---- Split -------------------------------------------------------------------- */

/* The part sizes along an axis of size d: the `split` input (opset 13) or
 * attribute (before), else num_outputs parts of ceil(d / num_outputs) with a
 * smaller last one (opset 18), else equal parts, one per output. */
static ebm_status split_sizes(onnx_imp_ctx *c, const onnx_imp_node *n, int64_t d, int outputs, int64_t *sizes)
{
    int k = -1;
    if (n->opset >= 13 && onnx_imp_has_input(n, 1)) {
        if ((k = onnx_imp_static_ints(c, n, 1, "the split of Split", sizes, outputs + 1)) < 0)
            return onnx_imp_err(c)->code;
    } else if (n->opset < 13) {
        k = onnx_imp_attr_ints(n, "split", sizes, outputs + 1);
    }
    if (k >= 0) {
        int64_t sum = 0;
        for (int i = 0; i < k; i++) {
            if (sizes[i] < 0 || sizes[i] > ONNX_IMP_MAX_DIM)
                return onnx_imp_fail(c, n, EBM_ERR_INVALID, "split size %lld is out of range", (long long)sizes[i]);
            sum += sizes[i];
        }
        if (k != outputs || sum != d)
            return onnx_imp_fail(c, n, EBM_ERR_INVALID,
                                 "split has %d sizes summing to %lld for %d outputs of an axis of %lld", k,
                                 (long long)sum, outputs, (long long)d);
        return EBM_OK;
    }
    int64_t parts = onnx_imp_attr_int(n, "num_outputs", outputs);
    if (parts != outputs)
        return onnx_imp_fail(c, n, EBM_ERR_INVALID, "num_outputs is %lld but the node has %d outputs",
                             (long long)parts, outputs);
    int64_t chunk = (d + parts - 1) / parts;
    if (!onnx_imp_attr(n, "num_outputs") && d % parts != 0)
        return onnx_imp_fail(c, n, EBM_ERR_INVALID, "an axis of %lld does not split into %d equal parts",
                             (long long)d, outputs);
    if (chunk * (parts - 1) >= d && parts > 1)
        return onnx_imp_fail(c, n, EBM_ERR_INVALID, "an axis of %lld cannot give %d non-empty parts",
                             (long long)d, outputs);
    for (int i = 0; i < outputs; i++)
        sizes[i] = i + 1 < outputs ? chunk : d - chunk * (outputs - 1);
    return EBM_OK;
}

ebm_status onnx_imp_lower_split(onnx_imp_ctx *c, const onnx_imp_node *n)
{
    static const char *const known[] = {"axis", "split", "num_outputs", NULL};
    ir_shape x;
    ebm_status st = onnx_imp_begin(c, n, known, &x);
    if (st != EBM_OK)
        return st;
    int outputs = (int)n->p->n_output;
    int ax = onnx_imp_norm_axis(onnx_imp_attr_int(n, "axis", 0), x.rank);
    if (ax < 0)
        return onnx_imp_fail(c, n, EBM_ERR_INVALID, "axis out of range for rank %d", x.rank);
    if (x.d[ax] == IR_DIM_N)
        return onnx_imp_fail(c, n, EBM_ERR_UNSUPPORTED,
                             "Split along the batch dimension N (axis %d) is not supported", ax);
    if (outputs < 1 || outputs > 4096)
        return onnx_imp_fail(c, n, EBM_ERR_UNSUPPORTED, "Split with %d outputs is not supported", outputs);
    int64_t *sizes = malloc((size_t)(outputs + 1) * sizeof *sizes);
    if (!sizes)
        return onnx_imp_fail(c, n, EBM_ERR_NOMEM, "out of memory");
    st = split_sizes(c, n, x.d[ax], outputs, sizes);
    int xv = st == EBM_OK ? onnx_imp_input(c, n, 0) : -1;
    if (st == EBM_OK && xv < 0)
        st = onnx_imp_err(c)->code;
    int64_t off = 0;
    for (int i = 0; st == EBM_OK && i < outputs; off += sizes[i], i++) {
        if (!onnx_imp_str(n->p->output[i])[0])
            continue;
        int y = sizes[i] == x.d[ax] ? xv : slice_on(c, n, xv, &x, ax, off, off + sizes[i], 1);
        st = onnx_imp_set_output(c, n, i, y);
    }
    free(sizes);
    return st;
}

/* ---- Tile --------------------------------------------------------------------- */

/* x repeated r times along axis ax: RESHAPE [.., 1, d, ..], BROADCAST
 * [.., r, d, ..], RESHAPE [.., r*d, ..]; a CONCAT of r copies at the maximum rank. */
static int tile_axis(onnx_imp_ctx *c, const onnx_imp_node *n, int x, int ax, int64_t r)
{
    ir_graph *g = onnx_imp_graph(c);
    ebm_error *err = onnx_imp_err(c);
    ir_shape s = onnx_imp_value_shape(c, x), u = ir_shape_make(0), t = s;
    t.d[ax] *= r;
    if (s.rank == IR_MAX_RANK) {
        int parts[64];
        if (r > 64) {
            onnx_imp_fail(c, n, EBM_ERR_UNSUPPORTED, "Tile of a rank-%d tensor by more than 64 on axis %d",
                          IR_MAX_RANK, ax);
            return -1;
        }
        for (int i = 0; i < r; i++)
            parts[i] = x;
        return ir_concat(g, parts, (int)r, ax, n->label, err);
    }
    u.rank = s.rank + 1;
    for (int i = 0, j = 0; i < u.rank; i++)
        u.d[i] = i == ax ? 1 : s.d[j++];
    x = ir_reshape(g, x, u, n->label, err);
    u.d[ax] = r;
    x = x < 0 ? -1 : ir_broadcast_to(g, x, u, n->label, err);
    return x < 0 ? -1 : ir_reshape(g, x, t, n->label, err);
}

ebm_status onnx_imp_lower_tile(onnx_imp_ctx *c, const onnx_imp_node *n)
{
    ir_shape x;
    int64_t reps[IR_MAX_RANK];
    ebm_status st = onnx_imp_begin(c, n, NULL, &x);
    if (st != EBM_OK)
        return st;
    int k = onnx_imp_static_ints(c, n, 1, "the repeats of Tile", reps, IR_MAX_RANK);
    if (k < 0)
        return onnx_imp_err(c)->code;
    if (k != x.rank)
        return onnx_imp_fail(c, n, EBM_ERR_INVALID, "repeats has %d entries for rank %d", k, x.rank);
    for (int i = 0; i < k; i++) {
        if (reps[i] < 1 || reps[i] > ONNX_IMP_MAX_DIM)
            return onnx_imp_fail(c, n, EBM_ERR_UNSUPPORTED, "repeat %lld on axis %d is not supported (only >= 1)",
                                 (long long)reps[i], i);
        if (x.d[i] == IR_DIM_N && reps[i] != 1)
            return onnx_imp_fail(c, n, EBM_ERR_UNSUPPORTED,
                                 "Tile repeats the batch dimension N (axis %d) %lld times; only 1 is supported", i,
                                 (long long)reps[i]);
        if (x.d[i] != IR_DIM_N && x.d[i] * reps[i] > ONNX_IMP_MAX_DIM)
            return onnx_imp_fail(c, n, EBM_ERR_INVALID, "axis %d would be too large", i);
    }
    int y = onnx_imp_input(c, n, 0);
    for (int i = 0; y >= 0 && i < k; i++)
        if (reps[i] != 1)
            y = tile_axis(c, n, y, i, reps[i]);
    return y < 0 ? onnx_imp_err(c)->code : onnx_imp_set_output(c, n, 0, y);
}

/* ---- DepthToSpace, SpaceToDepth ------------------------------------------------ */

/* A shape from its dims (ir_shape_make takes ints). */
static ir_shape dims6(int rank, int64_t a, int64_t b, int64_t c, int64_t d, int64_t e, int64_t f)
{
    ir_shape s = ir_shape_make(0);
    const int64_t v[6] = {a, b, c, d, e, f};
    s.rank = rank;
    memcpy(s.d, v, sizeof(int64_t) * (size_t)rank);
    return s;
}

/* RESHAPE to `mid`, TRANSPOSE by perm, RESHAPE to `out`. */
static ebm_status regroup(onnx_imp_ctx *c, const onnx_imp_node *n, ir_shape mid, const int *perm, ir_shape out)
{
    ir_graph *g = onnx_imp_graph(c);
    ebm_error *err = onnx_imp_err(c);
    int y = onnx_imp_input(c, n, 0);
    y = y < 0 ? -1 : ir_reshape(g, y, mid, n->label, err);
    y = y < 0 ? -1 : ir_transpose(g, y, perm, n->label, err);
    y = y < 0 ? -1 : ir_reshape(g, y, out, n->label, err);
    return y < 0 ? (err->code ? err->code : EBM_ERR_INVALID) : onnx_imp_set_output(c, n, 0, y);
}

static ebm_status block_arg(onnx_imp_ctx *c, const onnx_imp_node *n, const char *const *known, ir_shape *x,
                            int64_t *b)
{
    ebm_status st = onnx_imp_begin(c, n, known, x);
    if (st != EBM_OK)
        return st;
    *b = onnx_imp_attr_int(n, "blocksize", -1);
    if (x->rank != 4)
        return onnx_imp_fail(c, n, EBM_ERR_UNSUPPORTED, "only a 4-D input [N, C, H, W] is supported, it has rank %d",
                             x->rank);
    if (*b < 1 || *b > 4096)
        return onnx_imp_fail(c, n, EBM_ERR_INVALID, "attribute 'blocksize' is missing or out of range");
    for (int i = 1; i < 4; i++)
        if (x->d[i] == IR_DIM_N)
            return onnx_imp_fail(c, n, EBM_ERR_UNSUPPORTED, "the batch dimension N must be axis 0");
    return EBM_OK;
}

ebm_status onnx_imp_lower_depth_to_space(onnx_imp_ctx *c, const onnx_imp_node *n)
{
    static const char *const known[] = {"blocksize", "mode", NULL};
    static const int dcr[6] = {0, 3, 4, 1, 5, 2}, crd[6] = {0, 1, 4, 2, 5, 3};
    ir_shape x;
    int64_t b;
    char buf[16];
    ebm_status st = block_arg(c, n, known, &x, &b);
    if (st != EBM_OK)
        return st;
    const char *mode = onnx_imp_attr_string(n, "mode", buf, sizeof buf, "DCR");
    int is_crd = strcmp(mode, "CRD") == 0;
    if (!is_crd && strcmp(mode, "DCR") != 0)
        return onnx_imp_fail(c, n, EBM_ERR_UNSUPPORTED, "DepthToSpace mode '%s' is not supported (DCR, CRD)", mode);
    if (x.d[1] % (b * b) != 0)
        return onnx_imp_fail(c, n, EBM_ERR_SHAPE, "%lld channels do not divide by blocksize^2 = %lld",
                             (long long)x.d[1], (long long)(b * b));
    int64_t cb = x.d[1] / (b * b);
    ir_shape mid = is_crd ? dims6(6, x.d[0], cb, b, b, x.d[2], x.d[3]) : dims6(6, x.d[0], b, b, cb, x.d[2], x.d[3]);
    return regroup(c, n, mid, is_crd ? crd : dcr, dims6(4, x.d[0], cb, x.d[2] * b, x.d[3] * b, 0, 0));
}

ebm_status onnx_imp_lower_space_to_depth(onnx_imp_ctx *c, const onnx_imp_node *n)
{
    static const char *const known[] = {"blocksize", NULL};
    static const int perm[6] = {0, 3, 5, 1, 2, 4};
    ir_shape x;
    int64_t b;
    ebm_status st = block_arg(c, n, known, &x, &b);
    if (st != EBM_OK)
        return st;
    if (x.d[2] % b != 0 || x.d[3] % b != 0)
        return onnx_imp_fail(c, n, EBM_ERR_SHAPE, "H = %lld and W = %lld must divide by the blocksize %lld",
                             (long long)x.d[2], (long long)x.d[3], (long long)b);
    ir_shape mid = dims6(6, x.d[0], x.d[1], x.d[2] / b, b, x.d[3] / b, b);
    return regroup(c, n, mid, perm, dims6(4, x.d[0], x.d[1] * b * b, x.d[2] / b, x.d[3] / b, 0, 0));
}
