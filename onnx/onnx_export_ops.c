/* onnx_export_ops.c — the export_rule column of ir/ops.def: how each core op
 * is written as ONNX (opset 17).  A rule gets the IR node and its row's
 * onnx_type; most ops are one node of that type with the same operands
 * (ex_plain); the others add attributes or a short pattern, chosen so that
 * ebmc's importer lowers it back to the same core op.  Ops that only appear
 * in differentiated graphs say ex_none.
 */
#include <stdint.h>
#include <string.h>

#include "onnx_export_internal.h"

typedef void (*ex_rule_fn)(ir_ex_ctx *c, int id, const char *op_type);

#define IR_OP(NAME, text, arity, cls, kern, attr, shape_rule, vjp, onnx, ex, expr, fexpr) \
    static void ex(ir_ex_ctx *c, int id, const char *op_type);
#include "ops.def"
#undef IR_OP

static const ex_rule_fn rules[IR_OP_COUNT] = {
#define IR_OP(NAME, text, arity, cls, kern, attr, shape_rule, vjp, onnx, ex, expr, fexpr) ex,
#include "ops.def"
#undef IR_OP
};

void ir_ex_op(ir_ex_ctx *c, int id)
{
    ir_op op = ir_ex_node_at(c, id)->op;
    rules[op](c, id, ir_op_get(op)->onnx_type);
}

static void ex_none(ir_ex_ctx *c, int id, const char *op_type)
{
    char label[256];
    (void)op_type;
    ir_ex_fail(c, EBM_ERR_UNSUPPORTED,
               "export: node %s: core op %s has no ONNX form (it appears only in "
               "differentiated graphs; export the model before differentiating it)",
               ir_node_label(c->g, id, label, sizeof label), ir_op_get(ir_ex_node_at(c, id)->op)->name);
}

/* Ops written as an ONNX comparison, whose result is bool (c->bname). */
static int exports_bool(ir_op op)
{
    return rules[op] == ex_compare || rules[op] == ex_step;
}

/* One ONNX node with the IR node's operands as inputs. */
static Onnx__NodeProto *emit_same(ir_ex_ctx *c, int id, const char *op_type)
{
    const ir_node *n = ir_ex_node_at(c, id);
    const char *in[IR_MAX_OPERANDS];
    for (int k = 0; k < n->n_in; k++)
        in[k] = ir_ex_in_name(c, id, k);
    return ir_ex_node(c, op_type, ir_ex_node_name(c, id), in, n->n_in, ir_ex_value_name(c, id));
}

static void ex_plain(ir_ex_ctx *c, int id, const char *op_type)
{
    emit_same(c, id, op_type);
}

/* ONNX comparisons yield bool; ebmc's yield 1.0/0.0.  The bool result feeds
 * Where directly; a Cast gives the float one to other consumers. */
static void finish_compare(ir_ex_ctx *c, int id, const char *op_type, const char *const *in)
{
    const char *name = ir_ex_node_name(c, id);
    c->bname[id] = ir_ex_aux_name(c, id, "bool");
    ir_ex_node(c, op_type, name, in, 2, c->bname[id]);
    if (!c->as_float[id])
        return;
    const char *cast_in[1] = {c->bname[id]};
    Onnx__NodeProto *p = ir_ex_node(c, "Cast", ir_ex_printf(c, "%s/Cast", name), cast_in, 1, ir_ex_value_name(c, id));
    ir_ex_attr_int(c, p, "to", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT);
}

static void ex_compare(ir_ex_ctx *c, int id, const char *op_type)
{
    const char *in[2] = {ir_ex_in_name(c, id, 0), ir_ex_in_name(c, id, 1)};
    finish_compare(c, id, op_type, in);
}

/* step(x) = x > 0 */
static void ex_step(ir_ex_ctx *c, int id, const char *op_type)
{
    const char *in[2] = {ir_ex_in_name(c, id, 0), ir_ex_const_f32(c, ir_ex_aux_name(c, id, "zero"), 0.0f)};
    finish_compare(c, id, op_type, in);
}

/* select(cond, a, b) = cond != 0 ? a : b.  A comparison's bool result is the
 * condition as is; any other float condition c becomes Where(c == 0, b, a),
 * which is the same for every c, NaN included (NaN != 0 picks a). */
static void ex_select(ir_ex_ctx *c, int id, const char *op_type)
{
    const ir_node *n = ir_ex_node_at(c, id);
    const char *cond = exports_bool(ir_ex_node_at(c, n->in[0])->op) ? c->bname[n->in[0]] : NULL;
    const char *a = ir_ex_in_name(c, id, 1), *b = ir_ex_in_name(c, id, 2);
    if (cond) {
        const char *in[3] = {cond, a, b};
        ir_ex_node(c, op_type, ir_ex_node_name(c, id), in, 3, ir_ex_value_name(c, id));
        return;
    }
    const char *eq_in[2] = {ir_ex_in_name(c, id, 0), ir_ex_const_f32(c, ir_ex_aux_name(c, id, "zero"), 0.0f)};
    const char *is_zero = ir_ex_aux_name(c, id, "is_zero");
    ir_ex_node(c, "Equal", ir_ex_printf(c, "%s/Equal", ir_ex_node_name(c, id)), eq_in, 2, is_zero);
    const char *in[3] = {is_zero, b, a};
    ir_ex_node(c, op_type, ir_ex_node_name(c, id), in, 3, ir_ex_value_name(c, id));
}

/* x^p with the exponent as a double scalar, so p is kept exactly. */
static void ex_pows(ir_ex_ctx *c, int id, const char *op_type)
{
    double p = ir_ex_node_at(c, id)->attr.f;
    const char *e = ir_ex_constant(c, ir_ex_aux_name(c, id, "exponent"),
                                   ir_ex_tensor(c, ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE, NULL, 0, &p, 1, sizeof p));
    const char *in[2] = {ir_ex_in_name(c, id, 0), e};
    ir_ex_node(c, op_type, ir_ex_node_name(c, id), in, 2, ir_ex_value_name(c, id));
}

static int axes_list(uint32_t mask, int rank, int64_t *axes)
{
    int k = 0;
    for (int i = 0; i < rank; i++)
        if (mask & (1u << i))
            axes[k++] = i;
    return k;
}

/* ReduceSum takes its axes as an input from opset 13 on; keepdims = 1 as in
 * the IR.  No axes reduces nothing (noop_with_empty_axes). */
static void ex_reduce_sum(ir_ex_ctx *c, int id, const char *op_type)
{
    const ir_node *n = ir_ex_node_at(c, id);
    int64_t axes[IR_MAX_RANK];
    int k = axes_list(n->attr.axes, n->shape.rank, axes);
    const char *in[2] = {ir_ex_in_name(c, id, 0),
                         k ? ir_ex_const_i64(c, ir_ex_aux_name(c, id, "axes"), axes, k) : NULL};
    Onnx__NodeProto *p = ir_ex_node(c, op_type, ir_ex_node_name(c, id), in, k ? 2 : 1, ir_ex_value_name(c, id));
    ir_ex_attr_int(c, p, "keepdims", 1);
    if (!k)
        ir_ex_attr_int(c, p, "noop_with_empty_axes", 1);
}

/* ReduceMax still takes axes as an attribute at opset 17 (an input from 18). */
static void ex_reduce_max(ir_ex_ctx *c, int id, const char *op_type)
{
    const ir_node *n = ir_ex_node_at(c, id);
    int64_t axes[IR_MAX_RANK];
    int k = axes_list(n->attr.axes, n->shape.rank, axes);
    if (!k) {   /* ReduceMax without axes would reduce all of them */
        emit_same(c, id, "Identity");
        return;
    }
    Onnx__NodeProto *p = emit_same(c, id, op_type);
    ir_ex_attr_ints(c, p, "axes", axes, k);
    ir_ex_attr_int(c, p, "keepdims", 1);
}

static void ex_conv(ir_ex_ctx *c, int id, const char *op_type)
{
    const ir_node *n = ir_ex_node_at(c, id);
    const ir_conv_attr *a = &n->attr.conv;
    const ir_shape *w = &ir_ex_node_at(c, n->in[1])->shape;
    int64_t kernel[2] = {w->d[2], w->d[3]};
    Onnx__NodeProto *p = emit_same(c, id, op_type);
    ir_ex_attr_ints(c, p, "kernel_shape", kernel, 2);
    ir_ex_attr_ints(c, p, "strides", a->stride, 2);
    ir_ex_attr_ints(c, p, "pads", a->pad, 4);
    ir_ex_attr_ints(c, p, "dilations", a->dilation, 2);
    ir_ex_attr_int(c, p, "group", a->group);
}

static void ex_pool(ir_ex_ctx *c, int id, const char *op_type)
{
    const ir_node *n = ir_ex_node_at(c, id);
    const ir_pool_attr *a = &n->attr.pool;
    int avg = n->op == IR_OP_AVGPOOL2D;
    if (avg && (a->dilation[0] != 1 || a->dilation[1] != 1)) {
        char label[256];
        ir_ex_fail(c, EBM_ERR_UNSUPPORTED,
                   "export: node %s: AveragePool has no dilations before opset 19 "
                   "(ebmc writes opset %d); dilation %lldx%lld cannot be exported",
                   ir_node_label(c->g, id, label, sizeof label), EXPORT_OPSET, (long long)a->dilation[0],
                   (long long)a->dilation[1]);
        return;
    }
    Onnx__NodeProto *p = emit_same(c, id, op_type);
    ir_ex_attr_ints(c, p, "kernel_shape", a->kernel, 2);
    ir_ex_attr_ints(c, p, "strides", a->stride, 2);
    ir_ex_attr_ints(c, p, "pads", a->pad, 4);
    ir_ex_attr_int(c, p, "ceil_mode", a->ceil_mode != 0);
    if (avg)
        ir_ex_attr_int(c, p, "count_include_pad", a->count_include_pad != 0);
    else
        ir_ex_attr_ints(c, p, "dilations", a->dilation, 2);
}

/* N -> -1.  A 0 in Reshape's shape means "copy" unless allowzero, and
 * allowzero forbids -1, so an empty dim next to N cannot be written. */
static void ex_reshape(ir_ex_ctx *c, int id, const char *op_type)
{
    const ir_shape *t = &ir_ex_node_at(c, id)->shape;
    int64_t spec[IR_MAX_RANK];
    int zero = 0;
    for (int i = 0; i < t->rank; i++) {
        spec[i] = t->d[i] == IR_DIM_N ? -1 : t->d[i];
        zero |= t->d[i] == 0;
    }
    if (zero && ir_shape_has_batch(t)) {
        char label[256], sb[64];
        ir_ex_fail(c, EBM_ERR_UNSUPPORTED,
                   "export: node %s: a reshape to %s (an empty dimension next to N) "
                   "has no ONNX Reshape form",
                   ir_node_label(c->g, id, label, sizeof label), ir_shape_str(t, sb, sizeof sb));
        return;
    }
    const char *in[2] = {ir_ex_in_name(c, id, 0), ir_ex_const_i64(c, ir_ex_aux_name(c, id, "shape"), spec, t->rank)};
    Onnx__NodeProto *p = ir_ex_node(c, op_type, ir_ex_node_name(c, id), in, 2, ir_ex_value_name(c, id));
    if (zero)
        ir_ex_attr_int(c, p, "allowzero", 1);
}

static void ex_transpose(ir_ex_ctx *c, int id, const char *op_type)
{
    const ir_node *n = ir_ex_node_at(c, id);
    int64_t perm[IR_MAX_RANK];
    for (int i = 0; i < n->shape.rank; i++)
        perm[i] = n->attr.perm[i];
    ir_ex_attr_ints(c, emit_same(c, id, op_type), "perm", perm, n->shape.rank);
}

/* [N] as an int64 vector, read once from the first graph input with N. */
static const char *batch_size(ir_ex_ctx *c, int id)
{
    if (c->batch_size)
        return c->batch_size;
    for (int i = 0; i < c->g->n_inputs; i++) {
        const ir_shape *s = &ir_ex_node_at(c, c->g->inputs[i])->shape;
        for (int k = 0; k < s->rank; k++) {
            if (s->d[k] != IR_DIM_N)
                continue;
            const char *in[1] = {ir_ex_value_name(c, c->g->inputs[i])};
            const char *out = ir_ex_unique_name(c, "batch_size");
            Onnx__NodeProto *p = ir_ex_node(c, "Shape", "batch_size", in, 1, out);
            ir_ex_attr_int(c, p, "start", k);
            ir_ex_attr_int(c, p, "end", k + 1);
            return c->batch_size = p ? out : NULL;
        }
    }
    char label[256];
    ir_ex_fail(c, EBM_ERR_INVALID, "export: node %s broadcasts to the batch size N, but no graph input has N",
               ir_node_label(c->g, id, label, sizeof label));
    return NULL;
}

/* Expand's target: 1 where the operand already has N, N itself (from Shape,
 * joined with the static dims by Concat) where it must be created. */
static const char *broadcast_target(ir_ex_ctx *c, int id)
{
    const ir_shape *t = &ir_ex_node_at(c, id)->shape, *x = &ir_ex_node_at(c, ir_ex_node_at(c, id)->in[0])->shape;
    int64_t spec[IR_MAX_RANK];
    int new_n = 0, off = t->rank - x->rank;
    for (int i = 0; i < t->rank; i++) {
        int64_t xd = i >= off ? x->d[i - off] : 1;
        spec[i] = t->d[i] != IR_DIM_N ? t->d[i] : 1;
        new_n |= t->d[i] == IR_DIM_N && xd != IR_DIM_N;
    }
    if (!new_n)
        return ir_ex_const_i64(c, ir_ex_aux_name(c, id, "shape"), spec, t->rank);
    const char *parts[IR_MAX_RANK];
    int k = 0;
    for (int i = 0; i < t->rank;) {
        if (t->d[i] == IR_DIM_N) {
            parts[k++] = batch_size(c, id);
            i++;
            continue;
        }
        int j = i;
        while (j < t->rank && t->d[j] != IR_DIM_N)
            j++;
        parts[k++] = ir_ex_const_i64(c, ir_ex_aux_name(c, id, "dims"), spec + i, j - i);
        i = j;
    }
    const char *out = ir_ex_aux_name(c, id, "shape");
    Onnx__NodeProto *p = ir_ex_node(c, "Concat", ir_ex_printf(c, "%s/Concat", ir_ex_node_name(c, id)), parts, k, out);
    ir_ex_attr_int(c, p, "axis", 0);
    return p ? out : NULL;
}

static void ex_broadcast(ir_ex_ctx *c, int id, const char *op_type)
{
    const char *in[2] = {ir_ex_in_name(c, id, 0), broadcast_target(c, id)};
    ir_ex_node(c, op_type, ir_ex_node_name(c, id), in, 2, ir_ex_value_name(c, id));
}

/* Every axis sliced explicitly.  The batch axis is whole: end INT64_MAX.  A
 * negative step's end of -1 ("before element 0") is INT64_MIN in ONNX, where
 * -1 would mean the last element. */
static void ex_slice(ir_ex_ctx *c, int id, const char *op_type)
{
    const ir_node *n = ir_ex_node_at(c, id);
    const ir_shape *x = &ir_ex_node_at(c, n->in[0])->shape;
    const ir_slice_attr *s = &n->attr.slice;
    int r = x->rank;
    int64_t start[IR_MAX_RANK], end[IR_MAX_RANK], axes[IR_MAX_RANK], step[IR_MAX_RANK];
    for (int i = 0; i < r; i++) {
        int whole_n = x->d[i] == IR_DIM_N;
        start[i] = whole_n ? 0 : s->start[i];
        end[i] = whole_n ? INT64_MAX : s->step[i] < 0 && s->end[i] < 0 ? INT64_MIN : s->end[i];
        step[i] = whole_n ? 1 : s->step[i];
        axes[i] = i;
    }
    const char *in[5] = {ir_ex_in_name(c, id, 0), ir_ex_const_i64(c, ir_ex_aux_name(c, id, "starts"), start, r),
                         ir_ex_const_i64(c, ir_ex_aux_name(c, id, "ends"), end, r),
                         ir_ex_const_i64(c, ir_ex_aux_name(c, id, "axes"), axes, r),
                         ir_ex_const_i64(c, ir_ex_aux_name(c, id, "steps"), step, r)};
    ir_ex_node(c, op_type, ir_ex_node_name(c, id), in, 5, ir_ex_value_name(c, id));
}

static void ex_pad(ir_ex_ctx *c, int id, const char *op_type)
{
    const ir_node *n = ir_ex_node_at(c, id);
    int r = n->shape.rank;
    int64_t pads[2 * IR_MAX_RANK];
    for (int i = 0; i < r; i++) {
        pads[i] = n->attr.pad.begin[i];
        pads[r + i] = n->attr.pad.end[i];
    }
    const char *in[3] = {ir_ex_in_name(c, id, 0), ir_ex_const_i64(c, ir_ex_aux_name(c, id, "pads"), pads, 2 * r),
                         ir_ex_const_f32(c, ir_ex_aux_name(c, id, "value"), (float)n->attr.pad.value)};
    ir_ex_node(c, op_type, ir_ex_node_name(c, id), in, 3, ir_ex_value_name(c, id)); /* mode "constant" is the default */
}

static void ex_concat(ir_ex_ctx *c, int id, const char *op_type)
{
    ir_ex_attr_int(c, emit_same(c, id, op_type), "axis", ir_ex_node_at(c, id)->attr.axis);
}
