/* onnx_lower_shape.c — constants, shape plumbing and data movement.
 *
 * Every op here works on two kinds of input.  Static values (shape vectors,
 * constants) are computed at import time, which is how PyTorch's
 * Shape -> Gather -> Unsqueeze -> Concat -> Reshape chains fold away; the
 * batch size travels through them as the sentinel IMP_SYM_N.  Dynamic values
 * become core movement ops (RESHAPE, TRANSPOSE, BROADCAST, SLICE, PAD, CONCAT).
 *
 * A movement op is described once, as the core op and its ir_attr; `move`
 * then either adds the IR node or evaluates the same description on a host
 * tensor (a strided view, below), so the two paths cannot disagree.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "onnx_internal.h"

/* Defined in onnx_import.c; belongs in onnx_internal.h (see there). */

/* An end index meaning "to the end of the batch axis" in SLICE attributes. */
#define SLICE_END_ALL INT64_MAX
/* Largest dimension or padding accepted from a file: keeps every product and
 * sum below overflow (a fuzzed file may hold any int64). */
#define MAX_DIM (INT64_C(1) << 31)

/* a * b for a, b >= 0, saturating instead of overflowing. */
static int64_t mul_sat(int64_t a, int64_t b)
{
    return a != 0 && b > INT64_MAX / a ? INT64_MAX : a * b;
}

static ir_attr attr_zero(void)
{
    ir_attr a;
    memset(&a, 0, sizeof a);
    return a;
}

/* Input k's value when it may be computed on at import time: static and not a
 * trainable parameter (movement on a parameter stays in the graph). */
static const ir_tensor *foldable(imp_ctx *c, const imp_node *n, int k)
{
    return imp_static_is_param(c, n, k) ? NULL : imp_static(c, n, k);
}

static ebm_status input_shape(imp_ctx *c, const imp_node *n, int k, ir_shape *out)
{
    const ir_shape *s = imp_input_shape(c, n, k);
    if (!s) {
        imp_input(c, n, k);   /* reports why (missing, or not computed) */
        return imp_err(c)->code ? imp_err(c)->code
                                : imp_fail(c, n, EBM_ERR_INVALID, "input %d is missing", k);
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

/* Shape-vector entries (IMP_SYM_N for N) -> an ir_shape; -1 on bad dims
 * (negative, or above MAX_DIM). */
static int dims_to_shape(const int64_t *d, int k, ir_shape *s)
{
    memset(s, 0, sizeof *s);
    if (k > IR_MAX_RANK)
        return -1;
    s->rank = k;
    for (int i = 0; i < k; i++) {
        if (d[i] == IMP_SYM_N)
            s->d[i] = IR_DIM_N;
        else if (d[i] < 0 || d[i] > MAX_DIM)
            return -1;
        else
            s->d[i] = d[i];
    }
    return 0;
}

static ebm_status shape_vector(imp_ctx *c, const ir_shape *s, ir_tensor *out)
{
    ir_shape vs = ir_shape_make(1, s->rank);
    ebm_status st = imp_tensor_alloc(out, IR_DT_I64, &vs, imp_err(c));
    for (int i = 0; st == EBM_OK && i < s->rank; i++)
        ((int64_t *)out->data)[i] = s->d[i] == IR_DIM_N ? IMP_SYM_N : s->d[i];
    return st;
}

static ebm_status copy_tensor(imp_ctx *c, const ir_tensor *src, ir_tensor *out)
{
    ebm_status st = imp_tensor_alloc(out, src->dtype, &src->shape, imp_err(c));
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

static ebm_status apply_view(imp_ctx *c, const ir_tensor *src, const ir_shape *shape, const view *v,
                             double fill, ir_tensor *out)
{
    ebm_status st = imp_tensor_alloc(out, src->dtype, shape, imp_err(c));
    if (st != EBM_OK)
        return st;
    size_t esz = ir_dtype_size(src->dtype);
    int64_t total = shape_numel(shape), o[IR_MAX_RANK] = {0};
    const ir_tensor fill_t = {IR_DT_F64, ir_shape_make(0), &fill, NULL};
    int64_t fill_i = imp_tensor_get_i(&fill_t, 0);   /* NaN/huge-safe */
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

static ebm_status move_static(imp_ctx *c, const ir_tensor *src, ir_op op, const ir_attr *a,
                              double fill, ir_tensor *out)
{
    if (op == IR_OP_RESHAPE) {
        ebm_status st = copy_tensor(c, src, out);
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
static ebm_status move(imp_ctx *c, const imp_node *n, int k, ir_op op, const ir_attr *a, double fill)
{
    const ir_tensor *t = foldable(c, n, k);
    int to_batch = (op == IR_OP_RESHAPE || op == IR_OP_BROADCAST) && ir_shape_has_batch(&a->shape);
    if (t && !to_batch) {
        ir_tensor out;
        ebm_status st = move_static(c, t, op, a, fill, &out);
        return st == EBM_OK ? imp_set_static_output(c, n, 0, &out) : st;
    }
    int x = imp_input(c, n, k);
    if (x < 0)
        return imp_err(c)->code;
    return imp_set_output(c, n, 0, ir_add_node(imp_graph(c), op, &x, 1, a, n->label, imp_err(c)));
}

static ebm_status reshape_to(imp_ctx *c, const imp_node *n, int k, const ir_shape *target)
{
    ir_attr a = attr_zero();
    a.shape = *target;
    return move(c, n, k, IR_OP_RESHAPE, &a, 0);
}

/* Output 0 = input k unchanged (static values are copied: each value owns its tensor). */
static ebm_status pass_through(imp_ctx *c, const imp_node *n, int k)
{
    const ir_tensor *t = foldable(c, n, k);
    if (t) {
        ir_tensor out;
        ebm_status st = copy_tensor(c, t, &out);
        return st == EBM_OK ? imp_set_static_output(c, n, 0, &out) : st;
    }
    return imp_set_output(c, n, 0, imp_input(c, n, k));
}

/* A SLICE attribute that keeps every axis whole. */
static void slice_all(const ir_shape *s, ir_attr *a)
{
    for (int i = 0; i < s->rank; i++) {
        a->slice.start[i] = 0;
        a->slice.end[i] = s->d[i] == IR_DIM_N ? SLICE_END_ALL : s->d[i];
        a->slice.step[i] = 1;
    }
}

/* ---- Constant, Identity, Dropout ------------------------------------------- */

static ebm_status vector_tensor(imp_ctx *c, ir_dtype dt, int64_t count, int scalar, ir_tensor *out)
{
    ir_shape s = scalar ? ir_shape_make(0) : ir_shape_make(1, 0);
    s.d[0] = count;
    return imp_tensor_alloc(out, dt, &s, imp_err(c));
}

static ebm_status constant_from_attr(imp_ctx *c, const imp_node *n, const Onnx__AttributeProto *a,
                                     ir_tensor *out)
{
    const char *name = a->name;
    ebm_status st;
    if (strcmp(name, "value") == 0) {
        if (!a->t)
            return imp_fail(c, n, EBM_ERR_FORMAT, "attribute 'value' holds no tensor");
        return imp_decode_tensor(a->t, "attribute 'value'", out, imp_err(c));
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

ebm_status imp_lower_constant(imp_ctx *c, const imp_node *n)
{
    static const char *const known[] = {"value", "value_float", "value_floats", "value_int",
                                        "value_ints", NULL};
    ebm_status st = imp_check_attrs(c, n, known);
    if (st != EBM_OK)
        return st;
    if (n->p->n_attribute != 1)
        return imp_fail(c, n, EBM_ERR_INVALID, "a Constant needs exactly one value attribute, it has %zu",
                        n->p->n_attribute);
    ir_tensor t;
    st = constant_from_attr(c, n, n->p->attribute[0], &t);
    return st == EBM_OK ? imp_set_static_output(c, n, 0, &t) : st;
}

ebm_status imp_lower_identity(imp_ctx *c, const imp_node *n)
{
    ebm_status st = imp_check_attrs(c, n, NULL);
    return st == EBM_OK ? pass_through(c, n, 0) : st;
}

/* The mask output of an inference-mode Dropout: all true. */
static ebm_status dropout_mask(imp_ctx *c, const imp_node *n)
{
    ir_shape s;
    ebm_status st = input_shape(c, n, 0, &s);
    if (st != EBM_OK)
        return st;
    if (shape_is_static(&s)) {
        ir_tensor ones;
        st = imp_tensor_alloc(&ones, IR_DT_I64, &s, imp_err(c));
        for (int64_t i = 0; st == EBM_OK && i < shape_numel(&s); i++)
            ((int64_t *)ones.data)[i] = 1;
        return st == EBM_OK ? imp_set_static_output(c, n, 1, &ones) : st;
    }
    ir_graph *g = imp_graph(c);
    int one = ir_add_scalar(g, 1.0, imp_err(c));
    return imp_set_output(c, n, 1, ir_broadcast_to(g, one, s, n->label, imp_err(c)));
}

ebm_status imp_lower_dropout(imp_ctx *c, const imp_node *n)
{
    static const char *const known[] = {"ratio", "seed", "is_test", "consumed_inputs", NULL};
    ebm_status st = imp_check_attrs(c, n, known);
    if (st != EBM_OK)
        return st;
    if (imp_has_input(n, 2)) {
        double training;
        st = imp_static_scalar(c, n, 2, "the training_mode of Dropout", &training);
        if (st != EBM_OK)
            return st;
        if (training != 0)
            return imp_fail(c, n, EBM_ERR_UNSUPPORTED, "Dropout in training mode is not supported");
    }
    st = pass_through(c, n, 0);
    if (st == EBM_OK && n->p->n_output > 1 && n->p->output[1][0])
        st = dropout_mask(c, n);
    return st;
}

/* ---- Shape, Cast, ConstantOfShape ------------------------------------------- */

static int64_t clamp64(int64_t v, int64_t lo, int64_t hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

ebm_status imp_lower_shape(imp_ctx *c, const imp_node *n)
{
    static const char *const known[] = {"start", "end", NULL};
    ir_shape s;
    ebm_status st = imp_check_attrs(c, n, known);
    if (st == EBM_OK)
        st = input_shape(c, n, 0, &s);
    if (st != EBM_OK)
        return st;
    int64_t r = s.rank, start = imp_attr_int(n, "start", 0), end = imp_attr_int(n, "end", r);
    start = clamp64(start < 0 ? start + r : start, 0, r);
    end = clamp64(end < 0 ? end + r : end, 0, r);
    ir_shape part = ir_shape_make(0);
    for (int64_t i = start; i < end; i++)
        part.d[part.rank++] = s.d[i];
    ir_tensor t;
    st = shape_vector(c, &part, &t);
    return st == EBM_OK ? imp_set_static_output(c, n, 0, &t) : st;
}

/* Size: the element count, static unless it involves the batch size N. */
ebm_status imp_lower_size(imp_ctx *c, const imp_node *n)
{
    static const char *const known[] = {NULL};
    ir_shape s;
    ebm_status st = imp_check_attrs(c, n, known);
    if (st == EBM_OK)
        st = input_shape(c, n, 0, &s);
    if (st != EBM_OK)
        return st;
    if (ir_shape_has_batch(&s))
        return imp_fail(c, n, EBM_ERR_NOT_STATIC,
                        "Size of a tensor with the batch dimension N is only known at run time");
    ir_shape scalar = ir_shape_make(0);
    ir_tensor t;
    st = imp_tensor_alloc(&t, IR_DT_I64, &scalar, imp_err(c));
    if (st != EBM_OK)
        return st;
    *(int64_t *)t.data = shape_numel(&s);
    return imp_set_static_output(c, n, 0, &t);
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
    if (v == IMP_SYM_N) {
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

static ebm_status cast_static(imp_ctx *c, const imp_node *n, const ir_tensor *src, int64_t to,
                              ir_tensor *out)
{
    cast_kind kind = cast_kind_of(to);
    ir_dtype dt = kind == CAST_FLOAT ? IR_DT_F32 : kind == CAST_DOUBLE ? IR_DT_F64 : IR_DT_I64;
    ebm_status st = imp_tensor_alloc(out, dt, &src->shape, imp_err(c));
    for (int64_t i = 0; st == EBM_OK && i < shape_numel(&src->shape); i++) {
        int64_t iv = imp_tensor_get_i(src, i);
        if (src->dtype == IR_DT_I64 && iv == IMP_SYM_N && kind != CAST_INT)
            st = imp_fail(c, n, EBM_ERR_NOT_STATIC, "cannot cast the batch size N to a float value");
        else if (kind != CAST_INT)
            tensor_set(out, i, imp_tensor_get_f(src, i), 0);
        else if (cast_int(iv, to, (int64_t *)out->data + i))
            st = imp_fail(c, n, EBM_ERR_NOT_STATIC, "cannot cast the batch size N to a narrow integer type");
    }
    if (st != EBM_OK)
        ir_tensor_free(out);
    return st;
}

/* Casts input 0 to ONNX element type `to`: static values are converted;
 * computed values can only stay floating point (ebmc computes in float32). */
static ebm_status cast_to(imp_ctx *c, const imp_node *n, int64_t to)
{
    cast_kind kind = cast_kind_of(to);
    if (kind == CAST_BAD)
        return imp_fail(c, n, EBM_ERR_UNSUPPORTED, "cast to element type %lld is not supported",
                        (long long)to);
    const ir_tensor *t = foldable(c, n, 0);
    if (t) {
        ir_tensor out;
        ebm_status st = cast_static(c, n, t, to, &out);
        return st == EBM_OK ? imp_set_static_output(c, n, 0, &out) : st;
    }
    if (kind == CAST_INT)
        return imp_fail(c, n, EBM_ERR_UNSUPPORTED,
                        "casting a tensor computed from the graph inputs to an integer type is not "
                        "supported (ebmc computes in float32)");
    return imp_set_output(c, n, 0, imp_input(c, n, 0));   /* float -> float: ebmc computes in f32 */
}

ebm_status imp_lower_cast(imp_ctx *c, const imp_node *n)
{
    static const char *const known[] = {"to", "saturate", "round_mode", NULL};
    ebm_status st = imp_check_attrs(c, n, known);
    return st == EBM_OK ? cast_to(c, n, imp_attr_int(n, "to", -1)) : st;
}

/* CastLike(x, like): Cast to like's element type.  A computed `like` is
 * float32 (the only type computed values have here). */
ebm_status imp_lower_cast_like(imp_ctx *c, const imp_node *n)
{
    static const char *const known[] = {"saturate", "round_mode", NULL};
    ebm_status st = imp_check_attrs(c, n, known);
    if (st != EBM_OK)
        return st;
    const ir_tensor *like = imp_static(c, n, 1);
    int64_t to = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    if (like && like->dtype == IR_DT_I64)
        to = ONNX__TENSOR_PROTO__DATA_TYPE__INT64;
    else if (like && like->dtype == IR_DT_F64)
        to = ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE;
    else if (!like && !imp_input_shape(c, n, 1))
        return imp_fail(c, n, EBM_ERR_INVALID, "input 1 (the type to cast like) is missing");
    return cast_to(c, n, to);
}

ebm_status imp_lower_constant_of_shape(imp_ctx *c, const imp_node *n)
{
    static const char *const known[] = {"value", NULL};
    ebm_status st = imp_check_attrs(c, n, known);
    if (st != EBM_OK)
        return st;
    int64_t dims[IR_MAX_RANK];
    int k = imp_static_ints(c, n, 0, "the shape of ConstantOfShape", dims, IR_MAX_RANK);
    if (k < 0)
        return imp_err(c)->code;
    ir_shape s;
    if (dims_to_shape(dims, k, &s))
        return imp_fail(c, n, EBM_ERR_INVALID, "the shape has a negative or huge dimension");
    ir_tensor value;
    const Onnx__AttributeProto *a = imp_attr(n, "value");
    st = a ? constant_from_attr(c, n, a, &value) : vector_tensor(c, IR_DT_F32, 1, 1, &value);
    if (st != EBM_OK)
        return st;
    if (shape_numel(&value.shape) != 1) {
        ir_tensor_free(&value);
        return imp_fail(c, n, EBM_ERR_INVALID, "attribute 'value' must hold one element");
    }
    double f = imp_tensor_get_f(&value, 0);
    int64_t i = imp_tensor_get_i(&value, 0);
    ir_dtype dt = value.dtype;
    ir_tensor_free(&value);
    if (!shape_is_static(&s)) {   /* e.g. zeros(x.size(0), 8): a broadcast scalar */
        ir_graph *g = imp_graph(c);
        int v = ir_add_scalar(g, f, imp_err(c));
        return imp_set_output(c, n, 0, ir_broadcast_to(g, v, s, n->label, imp_err(c)));
    }
    ir_tensor out;
    st = imp_tensor_alloc(&out, dt, &s, imp_err(c));
    for (int64_t j = 0; st == EBM_OK && j < shape_numel(&s); j++)
        tensor_set(&out, j, f, i);
    return st == EBM_OK ? imp_set_static_output(c, n, 0, &out) : st;
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
static ebm_status check_reshape(imp_ctx *c, const imp_node *n, const ir_shape *x, const ir_shape *t)
{
    int64_t bx, tx, bt, tt;
    int px = batch_split(x, &bx, &tx), pt = batch_split(t, &bt, &tt);
    char b1[64], b2[64];
    ir_shape_str(x, b1, sizeof b1);
    ir_shape_str(t, b2, sizeof b2);
    if (px == -2 || pt == -2)
        return imp_fail(c, n, EBM_ERR_UNSUPPORTED, "%s -> %s: more than one batch dimension", b1, b2);
    if ((px < 0) != (pt < 0) || (px >= 0 && bx != bt))
        return imp_fail(c, n, EBM_ERR_SHAPE,
                        "reshaping %s to %s would merge the batch dimension N with other dimensions; "
                        "keep dimension 0 as the batch (e.g. x.view(x.size(0), -1))", b1, b2);
    if (tx != tt)
        return imp_fail(c, n, EBM_ERR_SHAPE, "cannot reshape %s to %s: element counts differ", b1, b2);
    return EBM_OK;
}

/* Resolves an ONNX Reshape target (0 copies, -1 infers, IMP_SYM_N = N) against x. */
static ebm_status reshape_target(imp_ctx *c, const imp_node *n, const ir_shape *x, const int64_t *spec,
                                 int k, int allowzero, ir_shape *t)
{
    int infer = -1;
    memset(t, 0, sizeof *t);
    t->rank = k;
    for (int i = 0; i < k; i++) {
        int64_t d = spec[i];
        if (d == IMP_SYM_N)
            d = IR_DIM_N;
        else if (d == 0 && !allowzero) {
            if (i >= x->rank)
                return imp_fail(c, n, EBM_ERR_INVALID, "shape entry %d is 0 (copy) but the input has rank %d",
                                i, x->rank);
            d = x->d[i];
        } else if (d == -1) {
            if (infer >= 0)
                return imp_fail(c, n, EBM_ERR_INVALID, "the shape has more than one -1");
            infer = i;
            d = 1;
        } else if (d < 0 || d > MAX_DIM) {
            return imp_fail(c, n, EBM_ERR_INVALID, "shape entry %d is %lld", i, (long long)d);
        }
        t->d[i] = d;
    }
    if (infer >= 0) {
        int64_t bx, tx, bt, tt;
        int px = batch_split(x, &bx, &tx), pt = batch_split(t, &bt, &tt);
        if (tt == 0 || tx % tt != 0)
            return imp_fail(c, n, EBM_ERR_SHAPE,
                            "cannot infer the -1 entry: %lld elements do not split by %lld", (long long)tx,
                            (long long)tt);
        /* The inferred entry absorbs N when only the input has it: legal only
         * if it is then exactly N (x.view(-1, C*H*W)). */
        if (px >= 0 && pt < 0 && tx != tt) {
            char b1[64];
            return imp_fail(c, n, EBM_ERR_SHAPE,
                            "the -1 entry would be %lld*N: reshaping %s that way merges the batch dimension "
                            "N with other dimensions; keep dimension 0 as the batch (e.g. "
                            "x.view(x.size(0), -1))", (long long)(tx / tt), ir_shape_str(x, b1, sizeof b1));
        }
        t->d[infer] = px >= 0 && pt < 0 ? IR_DIM_N : tx / tt;
    }
    return check_reshape(c, n, x, t);
}

ebm_status imp_lower_reshape(imp_ctx *c, const imp_node *n)
{
    static const char *const known[] = {"allowzero", "shape", "consumed_inputs", NULL};
    ebm_status st = imp_check_attrs(c, n, known);
    ir_shape x, t;
    if (st == EBM_OK)
        st = input_shape(c, n, 0, &x);
    if (st != EBM_OK)
        return st;
    int64_t spec[IR_MAX_RANK];
    int k = n->opset < 5 ? imp_attr_ints(n, "shape", spec, IR_MAX_RANK)
                         : imp_static_ints(c, n, 1, "the shape of Reshape", spec, IR_MAX_RANK);
    if (k == -2 || (k == -1 && n->opset < 5))
        return imp_fail(c, n, EBM_ERR_UNSUPPORTED, "attribute 'shape' is missing or has more than %d dims",
                        IR_MAX_RANK);
    if (k < 0)
        return imp_err(c)->code;
    st = reshape_target(c, n, &x, spec, k, (int)imp_attr_int(n, "allowzero", 0), &t);
    return st == EBM_OK ? reshape_to(c, n, 0, &t) : st;
}

ebm_status imp_lower_flatten(imp_ctx *c, const imp_node *n)
{
    static const char *const known[] = {"axis", NULL};
    ebm_status st = imp_check_attrs(c, n, known);
    ir_shape x;
    if (st == EBM_OK)
        st = input_shape(c, n, 0, &x);
    if (st != EBM_OK)
        return st;
    int64_t axis = imp_attr_int(n, "axis", 1);
    if (axis < -x.rank || axis > x.rank)
        return imp_fail(c, n, EBM_ERR_INVALID, "axis %lld out of range for rank %d", (long long)axis, x.rank);
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
        return imp_fail(c, n, EBM_ERR_SHAPE,
                        "flattening %s with axis %lld would merge the batch dimension N with other "
                        "dimensions (use axis 1)", ir_shape_str(&x, b1, sizeof b1), (long long)axis);
    }
    ir_shape t = ir_shape_make(2, 1, 1);
    t.d[0] = has_n[0] ? IR_DIM_N : size[0];
    t.d[1] = size[1];
    return reshape_to(c, n, 0, &t);
}

/* Axes from the attribute (before opset 13) or input 1 (from 13); -1 = absent. */
static int axes_arg(imp_ctx *c, const imp_node *n, int64_t *axes, ebm_status *st)
{
    *st = EBM_OK;
    if (n->opset < 13) {
        int k = imp_attr_ints(n, "axes", axes, IR_MAX_RANK);
        if (k == -2)
            *st = imp_fail(c, n, EBM_ERR_UNSUPPORTED, "more than %d axes", IR_MAX_RANK);
        return k;
    }
    if (!imp_has_input(n, 1))
        return -1;
    int k = imp_static_ints(c, n, 1, "the axes", axes, IR_MAX_RANK);
    if (k < 0)
        *st = imp_err(c)->code;
    return k;
}

/* Marks normalised axes in `mark`; fails on out-of-range or repeated axes. */
static ebm_status mark_axes(imp_ctx *c, const imp_node *n, const int64_t *axes, int k, int rank, int *mark)
{
    memset(mark, 0, sizeof(int) * IR_MAX_RANK);
    for (int i = 0; i < k; i++) {
        int a = imp_norm_axis(axes[i], rank);
        if (a < 0)
            return imp_fail(c, n, EBM_ERR_INVALID, "axis %lld out of range for rank %d", (long long)axes[i],
                            rank);
        if (mark[a]++)
            return imp_fail(c, n, EBM_ERR_INVALID, "axis %lld is repeated", (long long)axes[i]);
    }
    return EBM_OK;
}

ebm_status imp_lower_squeeze(imp_ctx *c, const imp_node *n)
{
    static const char *const known[] = {"axes", NULL};
    ebm_status st = imp_check_attrs(c, n, known);
    ir_shape x;
    int64_t axes[IR_MAX_RANK];
    int mark[IR_MAX_RANK];
    if (st == EBM_OK)
        st = input_shape(c, n, 0, &x);
    int k = st == EBM_OK ? axes_arg(c, n, axes, &st) : -1;
    if (st == EBM_OK && k >= 0)
        st = mark_axes(c, n, axes, k, x.rank, mark);
    if (st != EBM_OK)
        return st;
    ir_shape t = ir_shape_make(0);
    for (int i = 0; i < x.rank; i++) {
        int squeeze = k >= 0 ? mark[i] : x.d[i] == 1;
        if (squeeze && x.d[i] != 1) {
            char b1[64];
            return imp_fail(c, n, EBM_ERR_SHAPE, "cannot squeeze axis %d of %s: its size is not 1", i,
                            ir_shape_str(&x, b1, sizeof b1));
        }
        if (!squeeze)
            t.d[t.rank++] = x.d[i];
    }
    return reshape_to(c, n, 0, &t);
}

ebm_status imp_lower_unsqueeze(imp_ctx *c, const imp_node *n)
{
    static const char *const known[] = {"axes", NULL};
    ebm_status st = imp_check_attrs(c, n, known);
    ir_shape x;
    int64_t axes[IR_MAX_RANK];
    int mark[IR_MAX_RANK];
    if (st == EBM_OK)
        st = input_shape(c, n, 0, &x);
    int k = st == EBM_OK ? axes_arg(c, n, axes, &st) : -1;
    if (st != EBM_OK)
        return st;
    if (k < 0)
        return imp_fail(c, n, EBM_ERR_INVALID, "the axes are missing");
    if (x.rank + k > IR_MAX_RANK)
        return imp_fail(c, n, EBM_ERR_UNSUPPORTED, "result rank %d exceeds ebmc's maximum of %d", x.rank + k,
                        IR_MAX_RANK);
    ir_shape t = ir_shape_make(0);
    t.rank = x.rank + k;
    st = mark_axes(c, n, axes, k, t.rank, mark);
    for (int i = 0, j = 0; st == EBM_OK && i < t.rank; i++)
        t.d[i] = mark[i] ? 1 : x.d[j++];
    return st == EBM_OK ? reshape_to(c, n, 0, &t) : st;
}

/* ---- Transpose, Expand ---------------------------------------------------------- */

ebm_status imp_lower_transpose(imp_ctx *c, const imp_node *n)
{
    static const char *const known[] = {"perm", NULL};
    ebm_status st = imp_check_attrs(c, n, known);
    ir_shape x;
    if (st == EBM_OK)
        st = input_shape(c, n, 0, &x);
    if (st != EBM_OK)
        return st;
    int64_t perm[IR_MAX_RANK];
    int k = imp_attr_ints(n, "perm", perm, IR_MAX_RANK);
    ir_attr a = attr_zero();
    int seen[IR_MAX_RANK] = {0}, identity = 1;
    if (k >= 0 && k != x.rank)
        return imp_fail(c, n, EBM_ERR_INVALID, "perm has %d entries for rank %d", k, x.rank);
    for (int i = 0; i < x.rank; i++) {
        int64_t p = k < 0 ? x.rank - 1 - i : perm[i];
        if (p < 0 || p >= x.rank || seen[p]++)
            return imp_fail(c, n, EBM_ERR_INVALID, "perm is not a permutation of 0..%d", x.rank - 1);
        a.perm[i] = (int)p;
        identity &= p == i;
    }
    return identity ? pass_through(c, n, 0) : move(c, n, 0, IR_OP_TRANSPOSE, &a, 0);
}

/* Two-way numpy broadcasting of x with a target shape (Expand's rule). */
static ebm_status broadcast_shapes(imp_ctx *c, const imp_node *n, const ir_shape *x, const ir_shape *t,
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
            return imp_fail(c, n, EBM_ERR_SHAPE, "%s cannot be expanded to %s",
                            ir_shape_str(x, b1, sizeof b1), ir_shape_str(t, b2, sizeof b2));
        out->d[i] = dx == 1 ? dt : dx;
    }
    return EBM_OK;
}

ebm_status imp_lower_expand(imp_ctx *c, const imp_node *n)
{
    ebm_status st = imp_check_attrs(c, n, NULL);
    ir_shape x, t, out;
    if (st == EBM_OK)
        st = input_shape(c, n, 0, &x);
    if (st != EBM_OK)
        return st;
    int64_t dims[IR_MAX_RANK];
    int k = imp_static_ints(c, n, 1, "the shape of Expand", dims, IR_MAX_RANK);
    if (k < 0)
        return imp_err(c)->code;
    if (dims_to_shape(dims, k, &t))
        return imp_fail(c, n, EBM_ERR_INVALID, "the shape has a negative or huge dimension");
    st = broadcast_shapes(c, n, &x, &t, &out);
    if (st != EBM_OK)
        return st;
    if (ir_shape_eq(&out, &x))
        return pass_through(c, n, 0);
    ir_attr a = attr_zero();
    a.shape = out;
    return move(c, n, 0, IR_OP_BROADCAST, &a, 0);
}

/* ---- Slice -------------------------------------------------------------------- */

typedef struct slice_args {
    int64_t starts[IR_MAX_RANK], ends[IR_MAX_RANK], axes[IR_MAX_RANK], steps[IR_MAX_RANK];
    int k;
} slice_args;

static ebm_status slice_list(imp_ctx *c, const imp_node *n, int input, const char *name, int64_t *out,
                             int *k)
{
    char what[64];
    snprintf(what, sizeof what, "the %s of Slice", name);
    if (n->opset >= 10) {
        *k = imp_has_input(n, input) ? imp_static_ints(c, n, input, what, out, IR_MAX_RANK) : -1;
        return *k == -1 && imp_has_input(n, input) ? imp_err(c)->code : EBM_OK;
    }
    *k = imp_attr_ints(n, name, out, IR_MAX_RANK);
    return *k == -2 ? imp_fail(c, n, EBM_ERR_UNSUPPORTED, "more than %d %s", IR_MAX_RANK, name) : EBM_OK;
}

static ebm_status slice_read(imp_ctx *c, const imp_node *n, slice_args *s)
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
        return imp_fail(c, n, EBM_ERR_INVALID, "starts and ends are required");
    if (ks != ke || (ka >= 0 && ka != ks) || (kp >= 0 && kp != ks))
        return imp_fail(c, n, EBM_ERR_INVALID, "starts, ends, axes and steps must have the same length");
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
static ebm_status slice_axis(imp_ctx *c, const imp_node *n, int ax, int64_t d, int64_t start, int64_t end,
                             int64_t step, ir_attr *a)
{
    if (step == 0)
        return imp_fail(c, n, EBM_ERR_INVALID, "step 0 on axis %d", ax);
    if (d == IR_DIM_N) {
        int whole = start == 0 && step == 1 && (end == IMP_SYM_N || end >= INT32_MAX);
        if (!whole)
            return imp_fail(c, n, EBM_ERR_UNSUPPORTED,
                            "slicing the batch dimension N (axis %d) is not supported", ax);
        return EBM_OK;
    }
    if (start == IMP_SYM_N || end == IMP_SYM_N)
        return imp_fail(c, n, EBM_ERR_NOT_STATIC, "a bound on axis %d is the batch size N", ax);
    if (start < 0)
        start += d;
    if (end < 0)
        end += d;
    step = clamp64(step, -(d + 1), d + 1);   /* a longer step selects the same one element */
    if (step > 0) {
        start = clamp64(start, 0, d);
        end = clamp64(end, start, d);
    } else if (d == 0) {
        start = end = 0;
        step = 1;
    } else {
        start = clamp64(start, 0, d - 1);
        end = clamp64(end, -1, start);
    }
    a->slice.start[ax] = start;
    a->slice.end[ax] = end;
    a->slice.step[ax] = step;
    return EBM_OK;
}

ebm_status imp_lower_slice(imp_ctx *c, const imp_node *n)
{
    static const char *const known[] = {"starts", "ends", "axes", NULL};
    slice_args s;
    ir_shape x;
    int mark[IR_MAX_RANK];
    ebm_status st = imp_check_attrs(c, n, n->opset >= 10 ? NULL : known);
    if (st == EBM_OK)
        st = input_shape(c, n, 0, &x);
    if (st == EBM_OK)
        st = slice_read(c, n, &s);
    if (st == EBM_OK)
        st = mark_axes(c, n, s.axes, s.k, x.rank, mark);
    if (st != EBM_OK)
        return st;
    ir_attr a = attr_zero();
    slice_all(&x, &a);
    for (int i = 0; st == EBM_OK && i < s.k; i++) {
        int ax = imp_norm_axis(s.axes[i], x.rank);
        st = slice_axis(c, n, ax, x.d[ax], s.starts[i], s.ends[i], s.steps[i], &a);
    }
    if (st != EBM_OK)
        return st;
    ir_attr whole = attr_zero();
    slice_all(&x, &whole);
    if (memcmp(&whole.slice, &a.slice, sizeof a.slice) == 0)
        return pass_through(c, n, 0);
    return move(c, n, 0, IR_OP_SLICE, &a, 0);
}

/* ---- Gather -------------------------------------------------------------------- */

static ebm_status gather_indices(imp_ctx *c, const imp_node *n, int64_t dim, ir_tensor *idx)
{
    const ir_tensor *t;
    memset(idx, 0, sizeof *idx);
    ebm_status st = imp_require_static(c, n, 1, "the indices of Gather", &t);
    if (st == EBM_OK && t->dtype != IR_DT_I64)
        st = imp_fail(c, n, EBM_ERR_INVALID, "the indices must be integers");
    if (st == EBM_OK)
        st = copy_tensor(c, t, idx);
    for (int64_t i = 0; st == EBM_OK && i < shape_numel(&idx->shape); i++) {
        int64_t *v = (int64_t *)idx->data + i;
        if (*v == IMP_SYM_N)
            st = imp_fail(c, n, EBM_ERR_NOT_STATIC, "an index is the batch size N");
        else if (*v < -dim || *v >= dim)
            st = imp_fail(c, n, EBM_ERR_INVALID, "index %lld out of range for a dimension of %lld",
                          (long long)*v, (long long)dim);
        else if (*v < 0)
            *v += dim;
    }
    if (st != EBM_OK)
        ir_tensor_free(idx);
    return st;
}

/* data[:axis] + indices + data[axis+1:] */
static ebm_status gather_shape(imp_ctx *c, const imp_node *n, const ir_shape *x, int axis, const ir_shape *is,
                               ir_shape *out)
{
    if (x->rank - 1 + is->rank > IR_MAX_RANK)
        return imp_fail(c, n, EBM_ERR_UNSUPPORTED, "result rank exceeds ebmc's maximum of %d", IR_MAX_RANK);
    *out = ir_shape_make(0);
    for (int i = 0; i < x->rank; i++) {
        if (i != axis)
            out->d[out->rank++] = x->d[i];
        for (int j = 0; i == axis && j < is->rank; j++)
            out->d[out->rank++] = is->d[j];
    }
    return EBM_OK;
}

static ebm_status gather_static(imp_ctx *c, const ir_tensor *x, int axis, const ir_tensor *idx,
                                const ir_shape *shape, ir_tensor *out)
{
    ebm_status st = imp_tensor_alloc(out, x->dtype, shape, imp_err(c));
    if (st != EBM_OK)
        return st;
    int64_t outer = 1, inner = 1, k = shape_numel(&idx->shape), d = x->shape.d[axis];
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
static int gather_dynamic(imp_ctx *c, const imp_node *n, int x, const ir_shape *xs, int axis,
                          const ir_tensor *idx, const ir_shape *shape)
{
    enum { MAX_RUNS = 1024 };   /* beyond this the graph would drown in slices */
    ir_graph *g = imp_graph(c);
    ebm_error *err = imp_err(c);
    const int64_t *v = idx->data;
    int64_t k = shape_numel(&idx->shape);
    int parts[MAX_RUNS], m = 0;
    ir_attr a = attr_zero();
    slice_all(xs, &a);
    if (k == 0) {   /* an empty selection: a zero-length slice */
        a.slice.end[axis] = 0;
        parts[m++] = ir_add_node(g, IR_OP_SLICE, &x, 1, &a, n->label, err);
    }
    for (int64_t j = 0, len, step; j < k; j += len) {
        if (m == MAX_RUNS) {
            imp_fail(c, n, EBM_ERR_UNSUPPORTED, "more than %d irregular runs of indices on a computed tensor",
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

ebm_status imp_lower_gather(imp_ctx *c, const imp_node *n)
{
    static const char *const known[] = {"axis", NULL};
    ebm_status st = imp_check_attrs(c, n, known);
    ir_shape x, out;
    if (st == EBM_OK)
        st = input_shape(c, n, 0, &x);
    if (st != EBM_OK)
        return st;
    int axis = imp_norm_axis(imp_attr_int(n, "axis", 0), x.rank);
    if (axis < 0)
        return imp_fail(c, n, EBM_ERR_INVALID, "axis out of range for rank %d", x.rank);
    if (x.d[axis] == IR_DIM_N)
        return imp_fail(c, n, EBM_ERR_UNSUPPORTED, "gathering along the batch dimension N is not supported");
    ir_tensor idx;
    st = gather_indices(c, n, x.d[axis], &idx);
    if (st != EBM_OK)
        return st;
    st = gather_shape(c, n, &x, axis, &idx.shape, &out);
    const ir_tensor *t = foldable(c, n, 0);
    if (st == EBM_OK && t) {
        ir_tensor res;
        st = gather_static(c, t, axis, &idx, &out, &res);
        if (st == EBM_OK)
            st = imp_set_static_output(c, n, 0, &res);
    } else if (st == EBM_OK) {
        int xv = imp_input(c, n, 0);
        st = xv < 0 ? imp_err(c)->code
                    : imp_set_output(c, n, 0, gather_dynamic(c, n, xv, &x, axis, &idx, &out));
    }
    ir_tensor_free(&idx);
    return st;
}

/* ---- Concat ------------------------------------------------------------------- */

static ebm_status concat_static(imp_ctx *c, const imp_node *n, int axis, const ir_shape *shape,
                                ir_tensor *out)
{
    const ir_tensor *first = imp_static(c, n, 0);
    ebm_status st = imp_tensor_alloc(out, first->dtype, shape, imp_err(c));
    if (st != EBM_OK)
        return st;
    int64_t outer = 1;
    for (int i = 0; i < axis; i++)
        outer *= shape->d[i];
    size_t esz = ir_dtype_size(first->dtype);
    char *dst = out->data;
    for (int64_t o = 0; o < outer; o++) {
        for (int k = 0; k < imp_n_inputs(n); k++) {
            const ir_tensor *t = imp_static(c, n, k);
            size_t block = (size_t)(shape_numel(&t->shape) / (outer ? outer : 1)) * esz;
            if (outer)
                memcpy(dst, (const char *)t->data + (size_t)o * block, block);
            dst += block;
        }
    }
    return EBM_OK;
}

/* The concatenated shape; *all_static tells whether every input folds. */
static ebm_status concat_shape(imp_ctx *c, const imp_node *n, int64_t axis_attr, int *axis, ir_shape *out,
                               int *all_static)
{
    int count = imp_n_inputs(n);
    ir_shape s;
    char b1[64], b2[64];
    *all_static = 1;
    for (int k = 0; k < count; k++) {
        ebm_status st = input_shape(c, n, k, &s);
        if (st != EBM_OK)
            return st;
        const ir_tensor *t = foldable(c, n, k), *first = foldable(c, n, 0);
        *all_static &= t && first && t->dtype == first->dtype;
        if (k == 0) {
            *out = s;
            if ((*axis = imp_norm_axis(axis_attr, s.rank)) < 0)
                return imp_fail(c, n, EBM_ERR_INVALID, "axis %lld out of range for rank %d",
                                (long long)axis_attr, s.rank);
            if (s.d[*axis] == IR_DIM_N)
                return imp_fail(c, n, EBM_ERR_UNSUPPORTED,
                                "concatenating along the batch dimension N is not supported");
            continue;
        }
        int ok = s.rank == out->rank;
        for (int i = 0; ok && i < s.rank; i++)
            ok = i == *axis || s.d[i] == out->d[i];
        if (!ok)
            return imp_fail(c, n, EBM_ERR_SHAPE, "input %d %s does not match %s outside axis %d", k,
                            ir_shape_str(&s, b1, sizeof b1), ir_shape_str(out, b2, sizeof b2), *axis);
        out->d[*axis] += s.d[*axis];
    }
    return EBM_OK;
}

ebm_status imp_lower_concat(imp_ctx *c, const imp_node *n)
{
    static const char *const known[] = {"axis", NULL};
    ebm_status st = imp_check_attrs(c, n, known);
    if (st != EBM_OK)
        return st;
    const Onnx__AttributeProto *axis_attr = imp_attr(n, "axis");
    int count = imp_n_inputs(n), axis = 0, all_static = 0;
    if (count < 1)
        return imp_fail(c, n, EBM_ERR_INVALID, "Concat needs at least one input");
    if (!axis_attr && n->opset >= 4)
        return imp_fail(c, n, EBM_ERR_INVALID, "attribute 'axis' is missing");
    ir_shape shape;
    st = concat_shape(c, n, axis_attr ? axis_attr->i : 1, &axis, &shape, &all_static);
    if (st != EBM_OK)
        return st;
    if (all_static) {
        ir_tensor out;
        st = concat_static(c, n, axis, &shape, &out);
        return st == EBM_OK ? imp_set_static_output(c, n, 0, &out) : st;
    }
    int *xs = malloc((size_t)count * sizeof *xs), m = 0;
    if (!xs)
        return imp_fail(c, n, EBM_ERR_NOMEM, "out of memory");
    for (int k = 0; k < count; k++) {
        const ir_shape *s = imp_input_shape(c, n, k);
        if (s->d[axis] == 0 && m + (count - k - 1) > 0)
            continue;   /* empty pieces (PyTorch emits them) add nothing */
        if ((xs[m++] = imp_input(c, n, k)) < 0)
            break;
    }
    int y = m && xs[m - 1] >= 0 ? ir_concat(imp_graph(c), xs, m, axis, n->label, imp_err(c)) : -1;
    free(xs);
    return imp_set_output(c, n, 0, y);
}

/* ---- Pad ---------------------------------------------------------------------- */

typedef struct pad_args {
    int64_t begin[IR_MAX_RANK], end[IR_MAX_RANK];
    double value;
} pad_args;

static ebm_status pad_read(imp_ctx *c, const imp_node *n, int rank, pad_args *p)
{
    int64_t pads[2 * IR_MAX_RANK], axes[IR_MAX_RANK];
    int k, ka = -1;
    memset(p, 0, sizeof *p);
    if (n->opset < 11) {
        k = imp_attr_ints(n, "pads", pads, 2 * IR_MAX_RANK);
        if (k < 0)
            k = imp_attr_ints(n, "paddings", pads, 2 * IR_MAX_RANK);
        p->value = imp_attr_float(n, "value", 0);
        if (k < 0)
            return imp_fail(c, n, EBM_ERR_INVALID, "attribute 'pads' is missing or too long");
    } else {
        k = imp_static_ints(c, n, 1, "the pads of Pad", pads, 2 * IR_MAX_RANK);
        if (k < 0)
            return imp_err(c)->code;
        if (imp_has_input(n, 2) && imp_static_scalar(c, n, 2, "the constant_value of Pad", &p->value))
            return imp_err(c)->code;
        if (imp_has_input(n, 3) && (ka = imp_static_ints(c, n, 3, "the axes of Pad", axes, IR_MAX_RANK)) < 0)
            return imp_err(c)->code;
    }
    if (ka < 0)
        for (ka = 0; ka < rank; ka++)
            axes[ka] = ka;
    int mark[IR_MAX_RANK];
    if (k != 2 * ka)
        return imp_fail(c, n, EBM_ERR_INVALID, "pads has %d entries, expected %d", k, 2 * ka);
    ebm_status st = mark_axes(c, n, axes, ka, rank, mark);
    for (int i = 0; st == EBM_OK && i < k; i++)
        if (pads[i] > MAX_DIM || pads[i] < -MAX_DIM)
            st = imp_fail(c, n, EBM_ERR_INVALID, "pad %lld is out of range", (long long)pads[i]);
    for (int i = 0; st == EBM_OK && i < ka; i++) {
        int ax = imp_norm_axis(axes[i], rank);
        p->begin[ax] = pads[i];
        p->end[ax] = pads[i + ka];
    }
    return st;
}

/* Negative pads crop: a SLICE before the PAD. */
static int pad_dynamic(imp_ctx *c, const imp_node *n, int x, const ir_shape *xs, const pad_args *p)
{
    ir_attr crop = attr_zero(), pad = attr_zero();
    int need_crop = 0, need_pad = 0;
    slice_all(xs, &crop);
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
    ir_graph *g = imp_graph(c);
    if (need_crop)
        x = ir_add_node(g, IR_OP_SLICE, &x, 1, &crop, n->label, imp_err(c));
    if (need_pad)
        x = ir_add_node(g, IR_OP_PAD, &x, 1, &pad, n->label, imp_err(c));
    return x;
}

ebm_status imp_lower_pad(imp_ctx *c, const imp_node *n)
{
    static const char *const known[] = {"mode", "pads", "paddings", "value", NULL};
    ebm_status st = imp_check_attrs(c, n, known);
    ir_shape x;
    pad_args p;
    char buf[32];
    if (st == EBM_OK)
        st = input_shape(c, n, 0, &x);
    if (st != EBM_OK)
        return st;
    const char *mode = imp_attr_string(n, "mode", buf, sizeof buf, "constant");
    if (strcmp(mode, "constant") != 0)
        return imp_fail(c, n, EBM_ERR_UNSUPPORTED, "pad mode '%s' is not supported (only 'constant')", mode);
    st = pad_read(c, n, x.rank, &p);
    if (st != EBM_OK)
        return st;
    for (int i = 0; i < x.rank; i++) {
        if (x.d[i] == IR_DIM_N && (p.begin[i] || p.end[i]))
            return imp_fail(c, n, EBM_ERR_UNSUPPORTED,
                            "padding the batch dimension N (axis %d) is not supported", i);
        if (x.d[i] != IR_DIM_N &&
            (x.d[i] + p.begin[i] + p.end[i] < 0 || -p.begin[i] > x.d[i] || -p.end[i] > x.d[i]))
            return imp_fail(c, n, EBM_ERR_INVALID, "pads crop more than axis %d holds", i);
    }
    const ir_tensor *t = foldable(c, n, 0);
    if (t) {
        ir_attr a = attr_zero();
        memcpy(a.pad.begin, p.begin, sizeof p.begin);
        memcpy(a.pad.end, p.end, sizeof p.end);
        return move(c, n, 0, IR_OP_PAD, &a, p.value);
    }
    int xv = imp_input(c, n, 0);
    return xv < 0 ? imp_err(c)->code : imp_set_output(c, n, 0, pad_dynamic(c, n, xv, &x, &p));
}
