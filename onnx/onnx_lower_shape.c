/* onnx_lower_shape.c — constants, shape plumbing and reshaping (Constant,
 * Identity, Dropout, Shape, Size, Cast, ConstantOfShape, Reshape, Flatten,
 * Squeeze, Unsqueeze), and the movement helpers that onnx_lower_move.c
 * (Transpose, Expand, Slice, Gather, Concat, Pad) shares.
 *
 * Every op here works on two kinds of input.  Static values (shape vectors,
 * constants) are computed at import time, which is how PyTorch's
 * Shape -> Gather -> Unsqueeze -> Concat -> Reshape chains fold away; the
 * batch size travels through them as the sentinel ONNX_IMP_SYM_N.  Dynamic
 * values become core movement ops (RESHAPE, TRANSPOSE, BROADCAST, SLICE, PAD,
 * CONCAT).
 *
 * A movement op is described once, as the core op and its ir_attr;
 * onnx_imp_move then either adds the IR node or evaluates the same
 * description on a host tensor (a strided view, below), so the two paths
 * cannot disagree.
 */
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "onnx_internal.h"

/* An end index meaning "to the end of the batch axis" in SLICE attributes. */
#define SLICE_END_ALL INT64_MAX

/* a * b for a, b >= 0, saturating instead of overflowing. */
static int64_t mul_sat(int64_t a, int64_t b)
{
    return a != 0 && b > INT64_MAX / a ? INT64_MAX : a * b;
}

ir_attr onnx_imp_attr_zero(void)
{
    ir_attr a;
    memset(&a, 0, sizeof a);
    return a;
}

/* Input k's value when it may be computed on at import time: static and not a
 * trainable parameter (movement on a parameter stays in the graph). */
const ir_tensor *onnx_imp_foldable(onnx_imp_ctx *c, const onnx_imp_node *n, int k)
{
    return onnx_imp_static_is_param(c, n, k) ? NULL : onnx_imp_static(c, n, k);
}

ebm_status onnx_imp_shape_arg(onnx_imp_ctx *c, const onnx_imp_node *n, int k, ir_shape *out)
{
    const ir_shape *s = onnx_imp_input_shape(c, n, k);
    if (!s) {
        onnx_imp_input(c, n, k);   /* reports why (missing, or not computed) */
        return onnx_imp_err(c)->code ? onnx_imp_err(c)->code
                                : onnx_imp_fail(c, n, EBM_ERR_INVALID, "input %d is missing", k);
    }
    *out = *s;
    return EBM_OK;
}

static int64_t shape_numel(const ir_shape *s)
{
    return ir_shape_numel(s, 0);
}

static int shape_is_static(const ir_shape *s)
{
    return !ir_shape_has_batch(s);
}

/* Shape-vector entries (ONNX_IMP_SYM_N for N) -> an ir_shape; -1 on bad dims
 * (negative, or above ONNX_IMP_MAX_DIM). */
int onnx_imp_dims_to_shape(const int64_t *d, int k, ir_shape *s)
{
    memset(s, 0, sizeof *s);
    if (k > IR_MAX_RANK)
        return -1;
    s->rank = k;
    for (int i = 0; i < k; i++) {
        if (d[i] == ONNX_IMP_SYM_N)
            s->d[i] = IR_DIM_N;
        else if (d[i] < 0 || d[i] > ONNX_IMP_MAX_DIM)
            return -1;
        else
            s->d[i] = d[i];
    }
    return 0;
}

static ebm_status shape_vector(onnx_imp_ctx *c, const ir_shape *s, ir_tensor *out)
{
    ir_shape vs = ir_shape_make(1, s->rank);
    ebm_status st = onnx_imp_tensor_alloc(c, out, IR_DT_I64, &vs);
    for (int i = 0; st == EBM_OK && i < s->rank; i++)
        ((int64_t *)out->data)[i] = s->d[i] == IR_DIM_N ? ONNX_IMP_SYM_N : s->d[i];
    return st;
}

ebm_status onnx_imp_tensor_copy(onnx_imp_ctx *c, const ir_tensor *src, ir_tensor *out)
{
    ebm_status st = onnx_imp_tensor_alloc(c, out, src->dtype, &src->shape);
    if (st == EBM_OK)
        memcpy(out->data, src->data, (size_t)shape_numel(&src->shape) * ir_dtype_size(src->dtype));
    return st;
}

static void tensor_set(ir_tensor *t, int64_t k, double f, int64_t i)
{
    switch (t->dtype) {
    case IR_DT_F32: ((float *)t->data)[k] = (float)f; break;
    case IR_DT_F64: ((double *)t->data)[k] = f; break;
    default: ((int64_t *)t->data)[k] = i; break;
    }
}

/* ---- static movement: one strided view covers them all ------------------- */

/* Result element o reads source coordinate start + o*step on each axis (a
 * coordinate outside [0, bound) reads the fill value); broadcasting is step 0. */
typedef struct view {
    int64_t start[IR_MAX_RANK], step[IR_MAX_RANK], stride[IR_MAX_RANK], bound[IR_MAX_RANK];
} view;

static void c_strides(const ir_shape *s, int64_t *st)
{
    int64_t k = 1;
    for (int i = s->rank - 1; i >= 0; i--) {
        st[i] = k;
        k *= s->d[i];
    }
}

static int64_t slice_count(int64_t start, int64_t end, int64_t step)
{
    if (step > 0)
        return end > start ? (end - start + step - 1) / step : 0;
    return start > end ? (start - end + (-step) - 1) / (-step) : 0;
}

/* The view and result shape of a core movement op on a static shape. */
static void view_of(ir_op op, const ir_attr *a, const ir_shape *in, ir_shape *out, view *v)
{
    int64_t st[IR_MAX_RANK];
    c_strides(in, st);
    memset(v, 0, sizeof *v);
    *out = *in;
    if (op == IR_OP_BROADCAST)
        *out = a->shape;
    for (int k = 0; k < out->rank; k++) {
        v->step[k] = 1;
        switch (op) {
        case IR_OP_TRANSPOSE:
            out->d[k] = in->d[a->perm[k]];
            v->stride[k] = st[a->perm[k]];
            v->bound[k] = in->d[a->perm[k]];
            break;
        case IR_OP_BROADCAST: {
            int j = k - (out->rank - in->rank);
            if (j < 0 || in->d[j] == 1) {
                v->step[k] = 0;
                v->bound[k] = 1;
            } else {
                v->stride[k] = st[j];
                v->bound[k] = in->d[j];
            }
            break;
        }
        case IR_OP_SLICE:
            out->d[k] = slice_count(a->slice.start[k], a->slice.end[k], a->slice.step[k]);
            v->start[k] = a->slice.start[k];
            v->step[k] = a->slice.step[k];
            v->stride[k] = st[k];
            v->bound[k] = in->d[k];
            break;
        default:   /* PAD; negative padding crops */
            out->d[k] = in->d[k] + a->pad.begin[k] + a->pad.end[k];
            v->start[k] = -a->pad.begin[k];
            v->stride[k] = st[k];
            v->bound[k] = in->d[k];
            break;
        }
    }
}

static ebm_status apply_view(onnx_imp_ctx *c, const ir_tensor *src, const ir_shape *shape, const view *v,
                             double fill, ir_tensor *out)
{
    ebm_status st = onnx_imp_tensor_alloc(c, out, src->dtype, shape);
    if (st != EBM_OK)
        return st;
    size_t esz = ir_dtype_size(src->dtype);
    int64_t total = shape_numel(shape), o[IR_MAX_RANK] = {0};
    const ir_tensor fill_t = {IR_DT_F64, ir_shape_make(0), &fill, NULL};
    int64_t fill_i = onnx_imp_tensor_get_i(&fill_t, 0);   /* NaN/huge-safe */
    for (int64_t i = 0; i < total; i++) {
        int64_t at = 0;
        int inside = 1;
        for (int k = 0; k < shape->rank; k++) {
            int64_t x = v->start[k] + o[k] * v->step[k];
            inside &= x >= 0 && x < v->bound[k];
            at += x * v->stride[k];
        }
        if (inside)
            memcpy((char *)out->data + i * esz, (const char *)src->data + at * esz, esz);
        else
            tensor_set(out, i, fill, fill_i);
        for (int k = shape->rank - 1; k >= 0 && ++o[k] == shape->d[k]; k--)
            o[k] = 0;
    }
    return EBM_OK;
}

static ebm_status move_static(onnx_imp_ctx *c, const ir_tensor *src, ir_op op, const ir_attr *a,
                              double fill, ir_tensor *out)
{
    if (op == IR_OP_RESHAPE) {
        ebm_status st = onnx_imp_tensor_copy(c, src, out);
        if (st == EBM_OK)
            out->shape = a->shape;
        return st;
    }
    ir_shape shape;
    view v;
    view_of(op, a, &src->shape, &shape, &v);
    return apply_view(c, src, &shape, &v, fill, out);
}

/* Output 0 = core op `op` applied to input k: folded when the input is
 * foldable and the result has no batch dimension, else an IR node. */
ebm_status onnx_imp_move(onnx_imp_ctx *c, const onnx_imp_node *n, int k, ir_op op, const ir_attr *a, double fill)
{
    const ir_tensor *t = onnx_imp_foldable(c, n, k);
    int to_batch = (op == IR_OP_RESHAPE || op == IR_OP_BROADCAST) && ir_shape_has_batch(&a->shape);
    if (t && !to_batch) {
        ir_tensor out;
        ebm_status st = move_static(c, t, op, a, fill, &out);
        return st == EBM_OK ? onnx_imp_set_static_output(c, n, 0, &out) : st;
    }
    int x = onnx_imp_input(c, n, k);
    if (x < 0)
        return onnx_imp_err(c)->code;
    return onnx_imp_set_output(c, n, 0, ir_add_node(onnx_imp_graph(c), op, &x, 1, a, n->label, onnx_imp_err(c)));
}

static ebm_status reshape_to(onnx_imp_ctx *c, const onnx_imp_node *n, int k, const ir_shape *target)
{
    ir_attr a = onnx_imp_attr_zero();
    a.shape = *target;
    return onnx_imp_move(c, n, k, IR_OP_RESHAPE, &a, 0);
}

ebm_status onnx_imp_begin(onnx_imp_ctx *c, const onnx_imp_node *n, const char *const *known, ir_shape *x)
{
    ebm_status st = onnx_imp_check_attrs(c, n, known);
    return st == EBM_OK ? onnx_imp_shape_arg(c, n, 0, x) : st;
}

/* Output 0 = input k unchanged (static values are copied: each value owns its tensor). */
ebm_status onnx_imp_pass_through(onnx_imp_ctx *c, const onnx_imp_node *n, int k)
{
    const ir_tensor *t = onnx_imp_foldable(c, n, k);
    if (t) {
        ir_tensor out;
        ebm_status st = onnx_imp_tensor_copy(c, t, &out);
        return st == EBM_OK ? onnx_imp_set_static_output(c, n, 0, &out) : st;
    }
    return onnx_imp_set_output(c, n, 0, onnx_imp_input(c, n, k));
}

/* A SLICE attribute that keeps every axis whole. */
void onnx_imp_slice_all(const ir_shape *s, ir_attr *a)
{
    for (int i = 0; i < s->rank; i++) {
        a->slice.start[i] = 0;
        a->slice.end[i] = s->d[i] == IR_DIM_N ? SLICE_END_ALL : s->d[i];
        a->slice.step[i] = 1;
    }
}

/* ---- Constant, Identity, Dropout ------------------------------------------- */

static ebm_status vector_tensor(onnx_imp_ctx *c, ir_dtype dt, int64_t count, int scalar, ir_tensor *out)
{
    ir_shape s = scalar ? ir_shape_make(0) : ir_shape_make(1, 0);
    s.d[0] = count;
    return onnx_imp_tensor_alloc(c, out, dt, &s);
}

static ebm_status constant_from_attr(onnx_imp_ctx *c, const onnx_imp_node *n, const Onnx__AttributeProto *a,
                                     ir_tensor *out)
{
    const char *name = a->name;
    ebm_status st;
    if (strcmp(name, "value") == 0) {
        if (!a->t)
            return onnx_imp_fail(c, n, EBM_ERR_FORMAT, "attribute 'value' holds no tensor");
        return onnx_imp_decode_tensor(a->t, "attribute 'value'", out, onnx_imp_err(c));
    }
    int is_float = strncmp(name, "value_float", 11) == 0;
    int is_list = name[strlen(name) - 1] == 's';
    size_t count = is_list ? (is_float ? a->n_floats : a->n_ints) : 1;
    st = vector_tensor(c, is_float ? IR_DT_F32 : IR_DT_I64, (int64_t)count, !is_list, out);
    for (size_t i = 0; st == EBM_OK && i < count; i++) {
        if (is_float)
            tensor_set(out, (int64_t)i, is_list ? a->floats[i] : a->f, 0);
        else
            tensor_set(out, (int64_t)i, 0, is_list ? a->ints[i] : a->i);
    }
    return st;
}

ebm_status onnx_imp_lower_constant(onnx_imp_ctx *c, const onnx_imp_node *n)
{
    static const char *const known[] = {"value", "value_float", "value_floats", "value_int",
                                        "value_ints", NULL};
    ebm_status st = onnx_imp_check_attrs(c, n, known);
    if (st != EBM_OK)
        return st;
    if (n->p->n_attribute != 1)
        return onnx_imp_fail(c, n, EBM_ERR_INVALID, "a Constant needs exactly one value attribute, it has %zu",
                             n->p->n_attribute);
    ir_tensor t;
    st = constant_from_attr(c, n, n->p->attribute[0], &t);
    return st == EBM_OK ? onnx_imp_set_static_output(c, n, 0, &t) : st;
}

ebm_status onnx_imp_lower_identity(onnx_imp_ctx *c, const onnx_imp_node *n)
{
    ebm_status st = onnx_imp_check_attrs(c, n, NULL);
    return st == EBM_OK ? onnx_imp_pass_through(c, n, 0) : st;
}

/* The mask output of an inference-mode Dropout: all true. */
static ebm_status dropout_mask(onnx_imp_ctx *c, const onnx_imp_node *n)
{
    ir_shape s;
    ebm_status st = onnx_imp_shape_arg(c, n, 0, &s);
    if (st != EBM_OK)
        return st;
    if (shape_is_static(&s)) {
        ir_tensor ones;
        st = onnx_imp_tensor_alloc(c, &ones, IR_DT_I64, &s);
        for (int64_t i = 0; st == EBM_OK && i < shape_numel(&s); i++)
            ((int64_t *)ones.data)[i] = 1;
        return st == EBM_OK ? onnx_imp_set_static_output(c, n, 1, &ones) : st;
    }
    ir_graph *g = onnx_imp_graph(c);
    int one = ir_add_scalar(g, 1.0, onnx_imp_err(c));
    return onnx_imp_set_output(c, n, 1, ir_broadcast_to(g, one, s, n->label, onnx_imp_err(c)));
}

ebm_status onnx_imp_lower_dropout(onnx_imp_ctx *c, const onnx_imp_node *n)
{
    static const char *const known[] = {"ratio", "seed", "is_test", "consumed_inputs", NULL};
    ebm_status st = onnx_imp_check_attrs(c, n, known);
    if (st != EBM_OK)
        return st;
    if (onnx_imp_has_input(n, 2)) {
        double training;
        st = onnx_imp_static_scalar(c, n, 2, "the training_mode of Dropout", &training);
        if (st != EBM_OK)
            return st;
        if (training != 0)
            return onnx_imp_fail(c, n, EBM_ERR_UNSUPPORTED, "Dropout in training mode is not supported");
    }
    st = onnx_imp_pass_through(c, n, 0);
    if (st == EBM_OK && n->p->n_output > 1 && n->p->output[1][0])
        st = dropout_mask(c, n);
    return st;
}

/* ---- Shape, Cast, ConstantOfShape ------------------------------------------- */

int64_t onnx_imp_clamp64(int64_t v, int64_t lo, int64_t hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

ebm_status onnx_imp_lower_shape(onnx_imp_ctx *c, const onnx_imp_node *n)
{
    static const char *const known[] = {"start", "end", NULL};
    ir_shape s;
    ebm_status st = onnx_imp_check_attrs(c, n, known);
    if (st == EBM_OK)
        st = onnx_imp_shape_arg(c, n, 0, &s);
    if (st != EBM_OK)
        return st;
    int64_t r = s.rank, start = onnx_imp_attr_int(n, "start", 0), end = onnx_imp_attr_int(n, "end", r);
    start = onnx_imp_clamp64(start < 0 ? start + r : start, 0, r);
    end = onnx_imp_clamp64(end < 0 ? end + r : end, 0, r);
    ir_shape part = ir_shape_make(0);
    for (int64_t i = start; i < end; i++)
        part.d[part.rank++] = s.d[i];
    ir_tensor t;
    st = shape_vector(c, &part, &t);
    return st == EBM_OK ? onnx_imp_set_static_output(c, n, 0, &t) : st;
}

/* Size: the element count, static unless it involves the batch size N. */
ebm_status onnx_imp_lower_size(onnx_imp_ctx *c, const onnx_imp_node *n)
{
    static const char *const known[] = {NULL};
    ir_shape s;
    ebm_status st = onnx_imp_check_attrs(c, n, known);
    if (st == EBM_OK)
        st = onnx_imp_shape_arg(c, n, 0, &s);
    if (st != EBM_OK)
        return st;
    if (ir_shape_has_batch(&s))
        return onnx_imp_fail(c, n, EBM_ERR_NOT_STATIC,
                             "Size of a tensor with the batch dimension N is only known at run time");
    ir_shape scalar = ir_shape_make(0);
    ir_tensor t;
    st = onnx_imp_tensor_alloc(c, &t, IR_DT_I64, &scalar);
    if (st != EBM_OK)
        return st;
    *(int64_t *)t.data = shape_numel(&s);
    return onnx_imp_set_static_output(c, n, 0, &t);
}

typedef enum cast_kind { CAST_FLOAT, CAST_DOUBLE, CAST_INT, CAST_BAD } cast_kind;

static cast_kind cast_kind_of(int64_t to)
{
    switch (to) {
    case ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT:
    case ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT16:
    case ONNX__TENSOR_PROTO__DATA_TYPE__BFLOAT16:
        return CAST_FLOAT;
    case ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE:
        return CAST_DOUBLE;
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT64:
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT32:
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT16:
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT8:
    case ONNX__TENSOR_PROTO__DATA_TYPE__UINT64:
    case ONNX__TENSOR_PROTO__DATA_TYPE__UINT32:
    case ONNX__TENSOR_PROTO__DATA_TYPE__UINT16:
    case ONNX__TENSOR_PROTO__DATA_TYPE__UINT8:
    case ONNX__TENSOR_PROTO__DATA_TYPE__BOOL:
        return CAST_INT;
    default:
        return CAST_BAD;
    }
}

/* An integer cast result, wrapped to the width of the target type as ONNX does;
 * the batch sentinel survives only casts that cannot change it. */
static int cast_int(int64_t v, int64_t to, int64_t *out)
{
    if (onnx_imp_sym_k(v)) {
        *out = v;
        return to == ONNX__TENSOR_PROTO__DATA_TYPE__INT64 || to == ONNX__TENSOR_PROTO__DATA_TYPE__INT32 ||
               to == ONNX__TENSOR_PROTO__DATA_TYPE__UINT64 || to == ONNX__TENSOR_PROTO__DATA_TYPE__UINT32
                   ? 0 : -1;
    }
    uint64_t u = (uint64_t)v;
    switch (to) {
    case ONNX__TENSOR_PROTO__DATA_TYPE__BOOL: *out = v != 0; break;
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT32: *out = (int32_t)(uint32_t)u; break;
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT16: *out = (int16_t)(uint16_t)u; break;
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT8: *out = (int8_t)(uint8_t)u; break;
    case ONNX__TENSOR_PROTO__DATA_TYPE__UINT32: *out = (uint32_t)u; break;
    case ONNX__TENSOR_PROTO__DATA_TYPE__UINT16: *out = (uint16_t)u; break;
    case ONNX__TENSOR_PROTO__DATA_TYPE__UINT8: *out = (uint8_t)u; break;
    default: *out = v; break;
    }
    return 0;
}

static ebm_status cast_static(onnx_imp_ctx *c, const onnx_imp_node *n, const ir_tensor *src, int64_t to,
                              ir_tensor *out)
{
    cast_kind kind = cast_kind_of(to);
    ir_dtype dt = kind == CAST_FLOAT ? IR_DT_F32 : kind == CAST_DOUBLE ? IR_DT_F64 : IR_DT_I64;
    ebm_status st = onnx_imp_tensor_alloc(c, out, dt, &src->shape);
    for (int64_t i = 0; st == EBM_OK && i < shape_numel(&src->shape); i++) {
        int64_t iv = onnx_imp_tensor_get_i(src, i);
        if (src->dtype == IR_DT_I64 && onnx_imp_sym_k(iv) && kind != CAST_INT)
            st = onnx_imp_fail(c, n, EBM_ERR_NOT_STATIC, "cannot cast the batch size N to a float value");
        else if (kind != CAST_INT)
            tensor_set(out, i, onnx_imp_tensor_get_f(src, i), 0);
        else if (cast_int(iv, to, (int64_t *)out->data + i))
            st = onnx_imp_fail(c, n, EBM_ERR_NOT_STATIC, "cannot cast the batch size N to a narrow integer type");
    }
    if (st != EBM_OK)
        ir_tensor_free(out);
    return st;
}

/* Casts input 0 to ONNX element type `to`: static values are converted;
 * computed values can only stay floating point (ebmc computes in float32). */
static ebm_status cast_to(onnx_imp_ctx *c, const onnx_imp_node *n, int64_t to)
{
    cast_kind kind = cast_kind_of(to);
    if (kind == CAST_BAD)
        return onnx_imp_fail(c, n, EBM_ERR_UNSUPPORTED, "cast to element type %lld is not supported",
                             (long long)to);
    const ir_tensor *t = onnx_imp_foldable(c, n, 0);
    if (t) {
        ir_tensor out;
        ebm_status st = cast_static(c, n, t, to, &out);
        return st == EBM_OK ? onnx_imp_set_static_output(c, n, 0, &out) : st;
    }
    if (kind == CAST_INT)
        return onnx_imp_fail(c, n, EBM_ERR_UNSUPPORTED,
                             "casting a tensor computed from the graph inputs to an integer type is not "
                             "supported (ebmc computes in float32)");
    return onnx_imp_set_output(c, n, 0, onnx_imp_input(c, n, 0));   /* float -> float: ebmc computes in f32 */
}

ebm_status onnx_imp_lower_cast(onnx_imp_ctx *c, const onnx_imp_node *n)
{
    static const char *const known[] = {"to", "saturate", "round_mode", NULL};
    ebm_status st = onnx_imp_check_attrs(c, n, known);
    return st == EBM_OK ? cast_to(c, n, onnx_imp_attr_int(n, "to", -1)) : st;
}

/* CastLike(x, like): Cast to like's element type.  A computed `like` is
 * float32 (the only type computed values have here). */
ebm_status onnx_imp_lower_cast_like(onnx_imp_ctx *c, const onnx_imp_node *n)
{
    static const char *const known[] = {"saturate", "round_mode", NULL};
    ebm_status st = onnx_imp_check_attrs(c, n, known);
    if (st != EBM_OK)
        return st;
    const ir_tensor *like = onnx_imp_static(c, n, 1);
    int64_t to = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    if (like && like->dtype == IR_DT_I64)
        to = ONNX__TENSOR_PROTO__DATA_TYPE__INT64;
    else if (like && like->dtype == IR_DT_F64)
        to = ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE;
    else if (!like && !onnx_imp_input_shape(c, n, 1))
        return onnx_imp_fail(c, n, EBM_ERR_INVALID, "input 1 (the type to cast like) is missing");
    return cast_to(c, n, to);
}

ebm_status onnx_imp_lower_constant_of_shape(onnx_imp_ctx *c, const onnx_imp_node *n)
{
    static const char *const known[] = {"value", NULL};
    ebm_status st = onnx_imp_check_attrs(c, n, known);
    if (st != EBM_OK)
        return st;
    int64_t dims[IR_MAX_RANK];
    int k = onnx_imp_static_ints(c, n, 0, "the shape of ConstantOfShape", dims, IR_MAX_RANK);
    if (k < 0)
        return onnx_imp_err(c)->code;
    ir_shape s;
    if (onnx_imp_dims_to_shape(dims, k, &s))
        return onnx_imp_fail(c, n, EBM_ERR_INVALID, "the shape has a negative or huge dimension");
    ir_tensor value;
    const Onnx__AttributeProto *a = onnx_imp_attr(n, "value");
    st = a ? constant_from_attr(c, n, a, &value) : vector_tensor(c, IR_DT_F32, 1, 1, &value);
    if (st != EBM_OK)
        return st;
    if (shape_numel(&value.shape) != 1) {
        ir_tensor_free(&value);
        return onnx_imp_fail(c, n, EBM_ERR_INVALID, "attribute 'value' must hold one element");
    }
    double f = onnx_imp_tensor_get_f(&value, 0);
    int64_t i = onnx_imp_tensor_get_i(&value, 0);
    ir_dtype dt = value.dtype;
    ir_tensor_free(&value);
    if (!shape_is_static(&s)) {   /* e.g. zeros(x.size(0), 8): a broadcast scalar */
        ir_graph *g = onnx_imp_graph(c);
        int v = ir_add_scalar(g, f, onnx_imp_err(c));
        return onnx_imp_set_output(c, n, 0, ir_broadcast_to(g, v, s, n->label, onnx_imp_err(c)));
    }
    ir_tensor out;
    st = onnx_imp_tensor_alloc(c, &out, dt, &s);
    for (int64_t j = 0; st == EBM_OK && j < shape_numel(&s); j++)
        tensor_set(&out, j, f, i);
    return st == EBM_OK ? onnx_imp_set_static_output(c, n, 0, &out) : st;
}

/* ---- Reshape, Flatten, Squeeze, Unsqueeze ------------------------------------ */

/* N's position and the product of the static dims before it / in total;
 * -2 if N appears more than once. */
static int batch_split(const ir_shape *s, int64_t *before, int64_t *total)
{
    int pos = -1, count = 0;
    *before = *total = 1;
    for (int i = 0; i < s->rank; i++) {
        if (s->d[i] == IR_DIM_N) {
            pos = i;
            count++;
        } else {
            *total = mul_sat(*total, s->d[i]);
            if (pos < 0)
                *before = mul_sat(*before, s->d[i]);
        }
    }
    return count > 1 ? -2 : pos;
}

/* Checks that x can become t without mixing samples of the batch. */
static ebm_status check_reshape(onnx_imp_ctx *c, const onnx_imp_node *n, const ir_shape *x, const ir_shape *t)
{
    int64_t bx, tx, bt, tt;
    int px = batch_split(x, &bx, &tx), pt = batch_split(t, &bt, &tt);
    char b1[64], b2[64];
    ir_shape_str(x, b1, sizeof b1);
    ir_shape_str(t, b2, sizeof b2);
    if (px == -2 || pt == -2)
        return onnx_imp_fail(c, n, EBM_ERR_UNSUPPORTED, "%s -> %s: more than one batch dimension", b1, b2);
    if ((px < 0) != (pt < 0) || (px >= 0 && bx != bt))
        return onnx_imp_fail(c, n, EBM_ERR_SHAPE,
                             "reshaping %s to %s would merge the batch dimension N with other dimensions; "
                             "keep dimension 0 as the batch (e.g. x.view(x.size(0), -1))", b1, b2);
    if (tx != tt)
        return onnx_imp_fail(c, n, EBM_ERR_SHAPE, "cannot reshape %s to %s: element counts differ", b1, b2);
    return EBM_OK;
}

/* Resolves an ONNX Reshape target (0 copies, -1 infers, ONNX_IMP_SYM_N = N) against x. */
static ebm_status reshape_target(onnx_imp_ctx *c, const onnx_imp_node *n, const ir_shape *x, const int64_t *spec,
                                 int k, int allowzero, ir_shape *t)
{
    int infer = -1;
    memset(t, 0, sizeof *t);
    t->rank = k;
    for (int i = 0; i < k; i++) {
        int64_t d = spec[i];
        if (d == ONNX_IMP_SYM_N)
            d = IR_DIM_N;
        else if (d == 0 && !allowzero) {
            if (i >= x->rank)
                return onnx_imp_fail(c, n, EBM_ERR_INVALID, "shape entry %d is 0 (copy) but the input has rank %d",
                                     i, x->rank);
            d = x->d[i];
        } else if (d == -1) {
            if (infer >= 0)
                return onnx_imp_fail(c, n, EBM_ERR_INVALID, "the shape has more than one -1");
            infer = i;
            d = 1;
        } else if (d < 0 || d > ONNX_IMP_MAX_DIM) {
            return onnx_imp_fail(c, n, EBM_ERR_INVALID, "shape entry %d is %lld", i, (long long)d);
        }
        t->d[i] = d;
    }
    if (infer >= 0) {
        int64_t bx, tx, bt, tt;
        int px = batch_split(x, &bx, &tx), pt = batch_split(t, &bt, &tt);
        if (tt == 0 || tx % tt != 0)
            return onnx_imp_fail(c, n, EBM_ERR_SHAPE,
                                 "cannot infer the -1 entry: %lld elements do not split by %lld", (long long)tx,
                                 (long long)tt);
        /* The inferred entry absorbs N when only the input has it: legal only
         * if it is then exactly N (x.view(-1, C*H*W)). */
        if (px >= 0 && pt < 0 && tx != tt) {
            char b1[64];
            return onnx_imp_fail(c, n, EBM_ERR_SHAPE,
                                 "the -1 entry would be %lld*N: reshaping %s that way merges the batch dimension "
                                 "N with other dimensions; keep dimension 0 as the batch (e.g. "
                                 "x.view(x.size(0), -1))", (long long)(tx / tt), ir_shape_str(x, b1, sizeof b1));
        }
        t->d[infer] = px >= 0 && pt < 0 ? IR_DIM_N : tx / tt;
    }
    return check_reshape(c, n, x, t);
}

ebm_status onnx_imp_lower_reshape(onnx_imp_ctx *c, const onnx_imp_node *n)
{
    static const char *const known[] = {"allowzero", "shape", "consumed_inputs", NULL};
    ir_shape x, t;
    ebm_status st = onnx_imp_begin(c, n, known, &x);
    if (st != EBM_OK)
        return st;
    int64_t spec[IR_MAX_RANK];
    int k = n->opset < 5 ? onnx_imp_attr_ints(n, "shape", spec, IR_MAX_RANK)
                         : onnx_imp_static_ints(c, n, 1, "the shape of Reshape", spec, IR_MAX_RANK);
    if (k == -2 || (k == -1 && n->opset < 5))
        return onnx_imp_fail(c, n, EBM_ERR_UNSUPPORTED, "attribute 'shape' is missing or has more than %d dims",
                             IR_MAX_RANK);
    if (k < 0)
        return onnx_imp_err(c)->code;
    /* a batched input: N may merge with other dims as a view (onnx_lower_view.c) */
    if (ir_shape_has_batch(&x) && n->opset >= 5)
        return onnx_imp_view_reshape(c, n, spec, k, (int)onnx_imp_attr_int(n, "allowzero", 0));
    st = reshape_target(c, n, &x, spec, k, (int)onnx_imp_attr_int(n, "allowzero", 0), &t);
    return st == EBM_OK ? reshape_to(c, n, 0, &t) : st;
}

ebm_status onnx_imp_lower_flatten(onnx_imp_ctx *c, const onnx_imp_node *n)
{
    static const char *const known[] = {"axis", NULL};
    ir_shape x;
    ebm_status st = onnx_imp_begin(c, n, known, &x);
    if (st != EBM_OK)
        return st;
    int64_t axis = onnx_imp_attr_int(n, "axis", 1);
    if (axis < -x.rank || axis > x.rank)
        return onnx_imp_fail(c, n, EBM_ERR_INVALID, "axis %lld out of range for rank %d", (long long)axis, x.rank);
    if (axis < 0)
        axis += x.rank;
    int64_t size[2] = {1, 1};
    int has_n[2] = {0, 0};
    for (int i = 0; i < x.rank; i++) {
        if (x.d[i] == IR_DIM_N)
            has_n[i >= axis] = 1;
        else
            size[i >= axis] = mul_sat(size[i >= axis], x.d[i]);
    }
    /* N may only stay a dimension of its own: [N,1,..] | [rest] */
    if (has_n[1] || (has_n[0] && size[0] != 1)) {
        char b1[64];
        return onnx_imp_fail(c, n, EBM_ERR_SHAPE,
                             "flattening %s with axis %lld would merge the batch dimension N with other "
                             "dimensions (use axis 1)", ir_shape_str(&x, b1, sizeof b1), (long long)axis);
    }
    ir_shape t = ir_shape_make(2, 1, 1);
    t.d[0] = has_n[0] ? IR_DIM_N : size[0];
    t.d[1] = size[1];
    return reshape_to(c, n, 0, &t);
}

/* Axes from the attribute (before opset 13) or input 1 (from 13); -1 = absent. */
static int axes_arg(onnx_imp_ctx *c, const onnx_imp_node *n, int64_t *axes, ebm_status *st)
{
    *st = EBM_OK;
    if (n->opset < 13) {
        int k = onnx_imp_attr_ints(n, "axes", axes, IR_MAX_RANK);
        if (k == -2)
            *st = onnx_imp_fail(c, n, EBM_ERR_UNSUPPORTED, "more than %d axes", IR_MAX_RANK);
        return k;
    }
    if (!onnx_imp_has_input(n, 1))
        return -1;
    int k = onnx_imp_static_ints(c, n, 1, "the axes", axes, IR_MAX_RANK);
    if (k < 0)
        *st = onnx_imp_err(c)->code;
    return k;
}

/* Marks normalised axes in `mark`; fails on out-of-range or repeated axes. */
ebm_status onnx_imp_mark_axes(onnx_imp_ctx *c, const onnx_imp_node *n, const int64_t *axes, int k, int rank, int *mark)
{
    memset(mark, 0, sizeof(int) * IR_MAX_RANK);
    for (int i = 0; i < k; i++) {
        int a = onnx_imp_norm_axis(axes[i], rank);
        if (a < 0)
            return onnx_imp_fail(c, n, EBM_ERR_INVALID, "axis %lld out of range for rank %d", (long long)axes[i],
                                 rank);
        if (mark[a]++)
            return onnx_imp_fail(c, n, EBM_ERR_INVALID, "axis %lld is repeated", (long long)axes[i]);
    }
    return EBM_OK;
}

ebm_status onnx_imp_lower_squeeze(onnx_imp_ctx *c, const onnx_imp_node *n)
{
    static const char *const known[] = {"axes", NULL};
    ir_shape x;
    int64_t axes[IR_MAX_RANK];
    int mark[IR_MAX_RANK];
    ebm_status st = onnx_imp_begin(c, n, known, &x);
    int k = st == EBM_OK ? axes_arg(c, n, axes, &st) : -1;
    if (st == EBM_OK && k >= 0)
        st = onnx_imp_mark_axes(c, n, axes, k, x.rank, mark);
    if (st != EBM_OK)
        return st;
    ir_shape t = ir_shape_make(0);
    for (int i = 0; i < x.rank; i++) {
        int squeeze = k >= 0 ? mark[i] : x.d[i] == 1;
        if (squeeze && x.d[i] != 1) {
            char b1[64];
            return onnx_imp_fail(c, n, EBM_ERR_SHAPE, "cannot squeeze axis %d of %s: its size is not 1", i,
                                 ir_shape_str(&x, b1, sizeof b1));
        }
        if (!squeeze)
            t.d[t.rank++] = x.d[i];
    }
    return reshape_to(c, n, 0, &t);
}

ebm_status onnx_imp_lower_unsqueeze(onnx_imp_ctx *c, const onnx_imp_node *n)
{
    static const char *const known[] = {"axes", NULL};
    ir_shape x;
    int64_t axes[IR_MAX_RANK];
    int mark[IR_MAX_RANK];
    ebm_status st = onnx_imp_begin(c, n, known, &x);
    int k = st == EBM_OK ? axes_arg(c, n, axes, &st) : -1;
    if (st != EBM_OK)
        return st;
    if (k < 0)
        return onnx_imp_fail(c, n, EBM_ERR_INVALID, "the axes are missing");
    if (x.rank + k > IR_MAX_RANK)
        return onnx_imp_fail(c, n, EBM_ERR_UNSUPPORTED, "result rank %d exceeds ebmc's maximum of %d", x.rank + k,
                             IR_MAX_RANK);
    ir_shape t = ir_shape_make(0);
    t.rank = x.rank + k;
    st = onnx_imp_mark_axes(c, n, axes, k, t.rank, mark);
    for (int i = 0, j = 0; st == EBM_OK && i < t.rank; i++)
        t.d[i] = mark[i] ? 1 : x.d[j++];
    return st == EBM_OK ? reshape_to(c, n, 0, &t) : st;
}

/* ---- Range, EyeLike: constants computed at import ------------------------------ */

ebm_status onnx_imp_lower_range(onnx_imp_ctx *c, const onnx_imp_node *n)
{
    const ir_tensor *t[3];
    static const char *const what[3] = {"the start of Range", "the limit of Range", "the delta of Range"};
    ebm_status st = onnx_imp_check_attrs(c, n, NULL);
    for (int k = 0; st == EBM_OK && k < 3; k++)
        st = onnx_imp_require_static(c, n, k, what[k], &t[k]);
    if (st != EBM_OK)
        return st;
    double v[3];
    for (int k = 0; k < 3; k++) {
        if (shape_numel(&t[k]->shape) != 1)
            return onnx_imp_fail(c, n, EBM_ERR_INVALID, "%s must be a scalar", what[k]);
        if (t[k]->dtype == IR_DT_I64 && onnx_imp_tensor_get_i(t[k], 0) == ONNX_IMP_SYM_N)
            return onnx_imp_fail(c, n, EBM_ERR_NOT_STATIC, "%s is the batch size N, unknown at import time",
                                 what[k]);
        v[k] = onnx_imp_tensor_get_f(t[k], 0);
    }
    if (v[2] == 0)
        return onnx_imp_fail(c, n, EBM_ERR_INVALID, "the delta of Range is 0");
    double count = ceil((v[1] - v[0]) / v[2]);
    if (!(count <= (double)ONNX_IMP_MAX_DIM))
        return onnx_imp_fail(c, n, EBM_ERR_INVALID, "Range would have more than %lld elements",
                             (long long)ONNX_IMP_MAX_DIM);
    ir_shape s = ir_shape_make(1, 0);
    s.d[0] = count > 0 ? (int64_t)count : 0;
    ir_tensor out;
    st = onnx_imp_tensor_alloc(c, &out, t[0]->dtype, &s);
    int64_t i0 = onnx_imp_tensor_get_i(t[0], 0), di = onnx_imp_tensor_get_i(t[2], 0);
    for (int64_t i = 0; st == EBM_OK && i < s.d[0]; i++)
        tensor_set(&out, i, v[0] + (double)i * v[2], i0 + i * di);
    return st == EBM_OK ? onnx_imp_set_static_output(c, n, 0, &out) : st;
}

ebm_status onnx_imp_lower_eye_like(onnx_imp_ctx *c, const onnx_imp_node *n)
{
    static const char *const known[] = {"dtype", "k", NULL};
    ir_shape x;
    ebm_status st = onnx_imp_begin(c, n, known, &x);
    if (st != EBM_OK)
        return st;
    if (x.rank != 2)
        return onnx_imp_fail(c, n, EBM_ERR_INVALID, "EyeLike needs a 2-D input, it has rank %d", x.rank);
    if (ir_shape_has_batch(&x))
        return onnx_imp_fail(c, n, EBM_ERR_UNSUPPORTED,
                             "EyeLike of a tensor with the batch dimension N is not supported (only static shapes)");
    const ir_tensor *t = onnx_imp_static(c, n, 0);
    ir_dtype dt = t ? t->dtype : IR_DT_F32;
    if (onnx_imp_attr(n, "dtype")) {
        cast_kind kind = cast_kind_of(onnx_imp_attr_int(n, "dtype", 0));
        if (kind == CAST_BAD)
            return onnx_imp_fail(c, n, EBM_ERR_UNSUPPORTED, "EyeLike dtype %lld is not supported",
                                 (long long)onnx_imp_attr_int(n, "dtype", 0));
        dt = kind == CAST_FLOAT ? IR_DT_F32 : kind == CAST_DOUBLE ? IR_DT_F64 : IR_DT_I64;
    }
    int64_t k = onnx_imp_attr_int(n, "k", 0);
    ir_tensor out;
    st = onnx_imp_tensor_alloc(c, &out, dt, &x);
    for (int64_t i = 0; st == EBM_OK && i < x.d[0]; i++) {
        int64_t j = i + k;
        if (j >= 0 && j < x.d[1])
            tensor_set(&out, i * x.d[1] + j, 1.0, 1);
    }
    return st == EBM_OK ? onnx_imp_set_static_output(c, n, 0, &out) : st;
}

/* ---- Equal, Where on static tensors (shape plumbing) ------------------------------
 * x.expand(-1, k, -1) exports Shape -> ConstantOfShape -> Mul -> Equal -> Where
 * on int64 shape vectors; folding them here lets Expand see a static shape.
 * Anything else goes to the core lowering of onnx_lower_math.c. */

/* Numpy broadcasting of up to three static shapes; -1 if they do not broadcast. */
static int static_broadcast(const ir_tensor *const *t, int k, ir_shape *out)
{
    *out = ir_shape_make(0);
    for (int j = 0; j < k; j++)
        out->rank = t[j]->shape.rank > out->rank ? t[j]->shape.rank : out->rank;
    for (int i = 0; i < out->rank; i++) {
        out->d[i] = 1;
        for (int j = 0; j < k; j++) {
            int ax = i - (out->rank - t[j]->shape.rank);
            int64_t d = ax >= 0 ? t[j]->shape.d[ax] : 1;
            if (d != 1 && out->d[i] != 1 && d != out->d[i])
                return -1;
            if (d != 1)
                out->d[i] = d;
        }
    }
    return 0;
}

/* The flat index into t of result coordinate o (result rank r). */
static int64_t static_bcast_index(const ir_tensor *t, const int64_t *o, int r)
{
    int64_t at = 0;
    for (int i = 0; i < t->shape.rank; i++) {
        int64_t d = t->shape.d[i];
        at = at * d + (d == 1 ? 0 : o[i + r - t->shape.rank]);
    }
    return at;
}

/* The three inputs of Where / two of Equal when all fold; else 0. */
static int all_foldable(onnx_imp_ctx *c, const onnx_imp_node *n, int k, const ir_tensor **t)
{
    int int_seen = 0;
    for (int j = 0; j < k; j++) {
        if (!(t[j] = onnx_imp_foldable(c, n, j)))
            return 0;
        int_seen |= t[j]->dtype == IR_DT_I64;
    }
    return int_seen;   /* float-only constants are folded later by the compiler */
}

static ebm_status static_where_equal(onnx_imp_ctx *c, const onnx_imp_node *n, const ir_tensor *const *t, int k)
{
    ir_shape s;
    if (static_broadcast(t, k, &s))
        return onnx_imp_fail(c, n, EBM_ERR_SHAPE, "the operand shapes do not broadcast");
    ir_dtype dt = k == 2 ? IR_DT_I64 : t[1]->dtype;
    if (k == 3 && t[2]->dtype != dt)
        dt = IR_DT_F64 == t[1]->dtype || IR_DT_F64 == t[2]->dtype ? IR_DT_F64 : IR_DT_F32;
    ir_tensor out;
    ebm_status st = onnx_imp_tensor_alloc(c, &out, dt, &s);
    int64_t o[IR_MAX_RANK] = {0};
    for (int64_t i = 0; st == EBM_OK && i < shape_numel(&s); i++) {
        int64_t a = static_bcast_index(t[0], o, s.rank), b = static_bcast_index(t[1], o, s.rank);
        if (k == 2) {
            int64_t x = onnx_imp_tensor_get_i(t[0], a), y = onnx_imp_tensor_get_i(t[1], b);
            int sym = t[0]->dtype == IR_DT_I64 && t[1]->dtype == IR_DT_I64 &&
                      (x == ONNX_IMP_SYM_N || y == ONNX_IMP_SYM_N);
            if (sym && x != y && (x > 0 || y > 0))
                st = onnx_imp_fail(c, n, EBM_ERR_NOT_STATIC,
                                   "comparing the batch size N with %lld needs N, unknown at import time",
                                   (long long)(x == ONNX_IMP_SYM_N ? y : x));
            int eq = sym ? x == y
                         : (t[0]->dtype == IR_DT_I64 && t[1]->dtype == IR_DT_I64
                                ? x == y
                                : onnx_imp_tensor_get_f(t[0], a) == onnx_imp_tensor_get_f(t[1], b));
            tensor_set(&out, i, eq, eq);
        } else {
            const ir_tensor *pick = onnx_imp_tensor_get_i(t[0], a) != 0 ? t[1] : t[2];
            int64_t at = static_bcast_index(pick, o, s.rank);
            tensor_set(&out, i, onnx_imp_tensor_get_f(pick, at), onnx_imp_tensor_get_i(pick, at));
        }
        for (int r = s.rank - 1; r >= 0 && ++o[r] == s.d[r]; r--)
            o[r] = 0;
    }
    if (st != EBM_OK) {
        ir_tensor_free(&out);
        return st;
    }
    return onnx_imp_set_static_output(c, n, 0, &out);
}

ebm_status onnx_imp_lower_equal_static(onnx_imp_ctx *c, const onnx_imp_node *n)
{
    const ir_tensor *t[2];
    if (onnx_imp_n_inputs(n) == 2 && all_foldable(c, n, 2, t) && onnx_imp_check_attrs(c, n, NULL) == EBM_OK)
        return static_where_equal(c, n, t, 2);
    return onnx_imp_err(c)->code ? onnx_imp_err(c)->code : onnx_imp_lower_equal(c, n);
}

ebm_status onnx_imp_lower_where_static(onnx_imp_ctx *c, const onnx_imp_node *n)
{
    const ir_tensor *t[3];
    if (onnx_imp_n_inputs(n) == 3 && all_foldable(c, n, 3, t) && onnx_imp_check_attrs(c, n, NULL) == EBM_OK) {
        if (t[1]->dtype == IR_DT_I64 || t[2]->dtype == IR_DT_I64)
            return static_where_equal(c, n, t, 3);
    }
    return onnx_imp_err(c)->code ? onnx_imp_err(c)->code : onnx_imp_lower_where(c, n);
}
