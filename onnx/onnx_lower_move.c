/* onnx_lower_move.c — data movement that picks or rearranges elements:
 * Transpose, Expand, Slice, Gather, Concat, Pad.  Like the shape plumbing of
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
    ebm_status st = onnx_imp_tensor_alloc(out, x->dtype, shape, onnx_imp_err(c));
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
    ebm_status st = onnx_imp_tensor_alloc(out, first->dtype, shape, onnx_imp_err(c));
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
    if (strcmp(mode, "constant") != 0)
        return onnx_imp_fail(c, n, EBM_ERR_UNSUPPORTED, "pad mode '%s' is not supported (only 'constant')", mode);
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
