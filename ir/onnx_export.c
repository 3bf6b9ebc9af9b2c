/* onnx_export.c — the core IR written as an ONNX model with standard
 * operators only (ai.onnx, opset 17), so any ONNX tool can read what ebmc
 * writes and ebmc reads it back to the same graph.
 *
 * Each core op maps to one ONNX operator, or a short fixed pattern (table
 * `rules` below), chosen so that ebmc's importer lowers it back to the same
 * core op: export -> import is a fixpoint after the first round trip.
 * Parameters become initializers under their own names; other constants
 * become Constant nodes, because every float initializer comes back as a
 * trainable parameter.
 *
 * The batch dimension N is the symbolic dim "N" of graph inputs and outputs
 * and is never spelled out inside the graph: Reshape gets -1 in its place
 * (the IR keeps N apart from the other dims, so -1 can only be N); Expand
 * gets 1 where its operand already has N (Expand broadcasts both ways), or
 * the size read by Shape from a graph input when it does not; Slice gets
 * INT64_MAX as the end of the batch axis.
 *
 * The protobuf messages are allocated in one list freed at the end (they hold
 * pointers into each other), and errors are sticky: after the first, every
 * helper returns NULL and the exporter reports that one.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "onnx.h"
#include "onnx_ebmc.pb-c.h"

#ifndef EBMC_VERSION_STRING
#define EBMC_VERSION_STRING "0.1.0"
#endif

#define EXPORT_OPSET 17
#define EXPORT_IR_VERSION 8   /* the ONNX IR version that goes with opset 17 */

typedef struct ex_list {
    void **items;
    size_t n, cap;
} ex_list;

typedef struct ex_ctx {
    const ir_graph *g;
    ebm_error *err;
    ebm_status st;
    ex_list allocs;          /* everything below is freed with these */
    ex_list nodes, inits;    /* Onnx__NodeProto *, Onnx__TensorProto * */
    char **vname;            /* per IR node: its ONNX value name */
    char **bname;            /* per comparison node: the name of its bool result */
    unsigned char *as_float; /* per comparison node: some consumer needs the float 0/1 */
    char **names;            /* hash set of every name in use */
    size_t names_cap, names_n;
    const char *batch_size;  /* [N] read from a graph input, made on first use */
} ex_ctx;

/* ---- memory and errors ------------------------------------------------------- */

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static void ex_fail(ex_ctx *c, ebm_status code, const char *fmt, ...)
{
    if (c->st != EBM_OK)
        return;
    c->st = code;
    if (c->err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->err->msg, sizeof c->err->msg, fmt, ap);
        va_end(ap);
        c->err->code = code;
    }
}

static int list_push(ex_ctx *c, ex_list *l, void *item)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        void **items = realloc(l->items, cap * sizeof *items);
        if (!items) {
            ex_fail(c, EBM_ERR_NOMEM, "export: out of memory");
            return -1;
        }
        l->items = items;
        l->cap = cap;
    }
    l->items[l->n++] = item;
    return 0;
}

/* Zeroed memory owned by the context; NULL after any error. */
static void *ex_alloc(ex_ctx *c, size_t size)
{
    if (c->st != EBM_OK)
        return NULL;
    void *p = calloc(1, size ? size : 1);
    if (!p) {
        ex_fail(c, EBM_ERR_NOMEM, "export: out of memory");
        return NULL;
    }
    if (list_push(c, &c->allocs, p)) {
        free(p);
        return NULL;
    }
    return p;
}

static char *ex_strdup(ex_ctx *c, const char *s)
{
    if (!s) {   /* a name that failed to be made: the failure is already recorded */
        ex_fail(c, EBM_ERR_INTERNAL, "export: a name is missing");
        return NULL;
    }
    size_t n = strlen(s) + 1;
    char *d = ex_alloc(c, n);
    if (d)
        memcpy(d, s, n);
    return d;
}

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static char *ex_printf(ex_ctx *c, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    return ex_strdup(c, buf);
}

/* ---- unique names -------------------------------------------------------------- */

static uint64_t name_hash(const char *s)
{
    uint64_t h = 1469598103934665603u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211u;
    return h;
}

static size_t name_slot(char **table, size_t cap, const char *s)
{
    size_t i = (size_t)name_hash(s) & (cap - 1);
    while (table[i] && strcmp(table[i], s) != 0)
        i = (i + 1) & (cap - 1);
    return i;
}

static int names_grow(ex_ctx *c)
{
    size_t cap = c->names_cap ? c->names_cap * 2 : 256;
    char **t = calloc(cap, sizeof *t);
    if (!t) {
        ex_fail(c, EBM_ERR_NOMEM, "export: out of memory");
        return -1;
    }
    for (size_t i = 0; i < c->names_cap; i++)
        if (c->names[i])
            t[name_slot(t, cap, c->names[i])] = c->names[i];
    free(c->names);
    c->names = t;
    c->names_cap = cap;
    return 0;
}

/* `base`, or base_2, base_3, ... if taken; the result is reserved. */
static char *unique_name(ex_ctx *c, const char *base)
{
    if (c->st != EBM_OK || ((c->names_n + 1) * 2 > c->names_cap && names_grow(c)))
        return NULL;
    char *s = ex_strdup(c, base);
    for (int k = 2; s && c->names[name_slot(c->names, c->names_cap, s)]; k++)
        s = ex_printf(c, "%s_%d", base, k);
    if (s) {
        c->names[name_slot(c->names, c->names_cap, s)] = s;
        c->names_n++;
    }
    return s;
}

/* ---- protobuf builders ------------------------------------------------------------- */

static Onnx__NodeProto *ex_node(ex_ctx *c, const char *op_type, const char *name, const char *const *in,
                                int n_in, const char *out)
{
    Onnx__NodeProto *p = ex_alloc(c, sizeof *p);
    char **ins = ex_alloc(c, (size_t)(n_in ? n_in : 1) * sizeof *ins);
    char **outs = ex_alloc(c, sizeof *outs);
    if (!p || !ins || !outs)
        return NULL;
    onnx__node_proto__init(p);
    for (int i = 0; i < n_in; i++)
        if (!(ins[i] = ex_strdup(c, in[i])))
            return NULL;
    outs[0] = ex_strdup(c, out);
    p->op_type = ex_strdup(c, op_type);
    p->name = ex_strdup(c, name);
    p->domain = ex_strdup(c, "");
    p->input = ins;
    p->n_input = (size_t)n_in;
    p->output = outs;
    p->n_output = 1;
    if (c->st != EBM_OK || list_push(c, &c->nodes, p))
        return NULL;
    return p;
}

static Onnx__AttributeProto *ex_attr(ex_ctx *c, Onnx__NodeProto *p, const char *name,
                                     Onnx__AttributeProto__AttributeType type)
{
    if (!p)
        return NULL;
    Onnx__AttributeProto *a = ex_alloc(c, sizeof *a);
    Onnx__AttributeProto **list = ex_alloc(c, (p->n_attribute + 1) * sizeof *list);
    if (!a || !list)
        return NULL;
    onnx__attribute_proto__init(a);
    a->name = ex_strdup(c, name);
    a->has_type = 1;
    a->type = type;
    if (p->n_attribute)
        memcpy(list, p->attribute, p->n_attribute * sizeof *list);
    list[p->n_attribute++] = a;
    p->attribute = list;
    return a;
}

static void attr_int(ex_ctx *c, Onnx__NodeProto *p, const char *name, int64_t v)
{
    Onnx__AttributeProto *a = ex_attr(c, p, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT);
    if (a) {
        a->has_i = 1;
        a->i = v;
    }
}

static void attr_ints(ex_ctx *c, Onnx__NodeProto *p, const char *name, const int64_t *v, int n)
{
    Onnx__AttributeProto *a = ex_attr(c, p, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS);
    int64_t *copy = ex_alloc(c, (size_t)(n ? n : 1) * sizeof *copy);
    if (a && copy) {
        if (n)
            memcpy(copy, v, (size_t)n * sizeof *copy);
        a->ints = copy;
        a->n_ints = (size_t)n;
    }
}

static int host_is_little_endian(void)
{
    const uint16_t one = 1;
    return *(const unsigned char *)&one == 1;
}

/* A TensorProto of `count` elements of elem_size bytes, stored little-endian
 * in raw_data as ONNX requires. */
static Onnx__TensorProto *ex_tensor(ex_ctx *c, int32_t data_type, const int64_t *dims, int rank,
                                    const void *data, size_t count, size_t elem_size)
{
    Onnx__TensorProto *t = ex_alloc(c, sizeof *t);
    int64_t *d = ex_alloc(c, (size_t)(rank ? rank : 1) * sizeof *d);
    uint8_t *raw = ex_alloc(c, count * elem_size);
    if (!t || !d || !raw)
        return NULL;
    onnx__tensor_proto__init(t);
    if (rank)
        memcpy(d, dims, (size_t)rank * sizeof *d);
    const uint8_t *src = data;
    int little = host_is_little_endian();
    for (size_t i = 0; i < count; i++)
        for (size_t b = 0; b < elem_size; b++)
            raw[i * elem_size + b] = src[i * elem_size + (little ? b : elem_size - 1 - b)];
    t->dims = d;
    t->n_dims = (size_t)rank;
    t->has_data_type = 1;
    t->data_type = data_type;
    t->has_raw_data = 1;
    t->raw_data.data = raw;
    t->raw_data.len = count * elem_size;
    return t;
}

/* A Constant node whose value is named `out` (already reserved); returns out. */
static const char *ex_constant(ex_ctx *c, const char *out, Onnx__TensorProto *t)
{
    Onnx__NodeProto *p = out ? ex_node(c, "Constant", out, NULL, 0, out) : NULL;
    Onnx__AttributeProto *a = ex_attr(c, p, "value", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR);
    if (!a || !t)
        return NULL;
    a->t = t;
    return out;
}

static const char *const_i64(ex_ctx *c, const char *name, const int64_t *v, int n)
{
    int64_t dims[1] = {n};
    return ex_constant(c, name, ex_tensor(c, ONNX__TENSOR_PROTO__DATA_TYPE__INT64, dims, 1, v, (size_t)n,
                                          sizeof *v));
}

static const char *const_f32_scalar(ex_ctx *c, const char *name, float v)
{
    return ex_constant(c, name, ex_tensor(c, ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, NULL, 0, &v, 1, sizeof v));
}

static Onnx__ValueInfoProto *ex_value_info(ex_ctx *c, const char *name, const ir_shape *s)
{
    Onnx__ValueInfoProto *vi = ex_alloc(c, sizeof *vi);
    Onnx__TypeProto *tp = ex_alloc(c, sizeof *tp);
    Onnx__TypeProto__Tensor *tt = ex_alloc(c, sizeof *tt);
    Onnx__TensorShapeProto *sp = ex_alloc(c, sizeof *sp);
    Onnx__TensorShapeProto__Dimension **dims = ex_alloc(c, (size_t)(s->rank ? s->rank : 1) * sizeof *dims);
    if (!vi || !tp || !tt || !sp || !dims)
        return NULL;
    onnx__value_info_proto__init(vi);
    onnx__type_proto__init(tp);
    onnx__type_proto__tensor__init(tt);
    onnx__tensor_shape_proto__init(sp);
    for (int i = 0; i < s->rank; i++) {
        Onnx__TensorShapeProto__Dimension *d = ex_alloc(c, sizeof *d);
        if (!d)
            return NULL;
        onnx__tensor_shape_proto__dimension__init(d);
        if (s->d[i] == IR_DIM_N) {
            d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
            d->dim_param = ex_strdup(c, "N");
        } else {
            d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
            d->dim_value = s->d[i];
        }
        dims[i] = d;
    }
    sp->dim = dims;
    sp->n_dim = (size_t)s->rank;
    tt->has_elem_type = 1;
    tt->elem_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    tt->shape = sp;
    tp->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    tp->tensor_type = tt;
    vi->name = ex_strdup(c, name);
    vi->type = tp;
    return vi;
}

/* ---- names of IR values and nodes ------------------------------------------------------ */

static const ir_node *node_at(const ex_ctx *c, int id)
{
    return &c->g->nodes[id];
}

static int is_compare(ir_op op)
{
    return op == IR_OP_GT || op == IR_OP_GE || op == IR_OP_EQ || op == IR_OP_STEP;
}

/* The ONNX node name: the IR node's name without the " (OpType)" that the
 * importer appends (so names do not grow with every round trip), else op_id. */
static const char *node_name(ex_ctx *c, int id)
{
    const ir_node *n = node_at(c, id);
    const char *s;
    if (!n->name || !n->name[0]) {
        s = ex_printf(c, "%s_%d", ir_op_get(n->op)->name, id);
    } else {
        size_t len = strlen(n->name);
        const char *open = strrchr(n->name, '(');
        if (n->name[len - 1] == ')' && open && open > n->name + 1 && open[-1] == ' ')
            len = (size_t)(open - 1 - n->name);
        s = ex_printf(c, "%.*s", (int)len, n->name);
    }
    return s ? s : "";   /* the failure is recorded; "" keeps callers simple */
}

/* The value name of a computed node, made on first use: its node's name
 * (made unique), as in Netron a value is best known by what computes it. */
static const char *value_name(ex_ctx *c, int id)
{
    if (!c->vname[id])
        c->vname[id] = unique_name(c, node_name(c, id));
    return c->vname[id];
}

static const char *in_name(ex_ctx *c, int id, int k)
{
    return value_name(c, node_at(c, id)->in[k]);
}

/* A helper node's output name, derived from its IR node's. */
static char *aux_name(ex_ctx *c, int id, const char *suffix)
{
    const char *base = value_name(c, id);
    return base ? unique_name(c, ex_printf(c, "%s_%s", base, suffix)) : NULL;
}

/* ---- per-op rules ------------------------------------------------------------------ */

typedef void (*ex_rule_fn)(ex_ctx *c, int id, const char *op_type);

typedef struct ex_rule {
    const char *op_type;
    ex_rule_fn fn;
} ex_rule;

/* One ONNX node with the IR node's operands as inputs. */
static Onnx__NodeProto *emit_same(ex_ctx *c, int id, const char *op_type)
{
    const ir_node *n = node_at(c, id);
    const char *in[IR_MAX_OPERANDS];
    for (int k = 0; k < n->n_in; k++)
        in[k] = in_name(c, id, k);
    return ex_node(c, op_type, node_name(c, id), in, n->n_in, value_name(c, id));
}

static void ex_plain(ex_ctx *c, int id, const char *op_type)
{
    emit_same(c, id, op_type);
}

/* ONNX comparisons yield bool; ebmc's yield 1.0/0.0.  The bool result feeds
 * Where directly; a Cast gives the float one to other consumers. */
static void finish_compare(ex_ctx *c, int id, const char *op_type, const char *const *in)
{
    const char *name = node_name(c, id);
    c->bname[id] = aux_name(c, id, "bool");
    ex_node(c, op_type, name, in, 2, c->bname[id]);
    if (!c->as_float[id])
        return;
    const char *cast_in[1] = {c->bname[id]};
    Onnx__NodeProto *p = ex_node(c, "Cast", ex_printf(c, "%s/Cast", name), cast_in, 1,
                                 value_name(c, id));
    attr_int(c, p, "to", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT);
}

static void ex_compare(ex_ctx *c, int id, const char *op_type)
{
    const char *in[2] = {in_name(c, id, 0), in_name(c, id, 1)};
    finish_compare(c, id, op_type, in);
}

/* step(x) = x > 0 */
static void ex_step(ex_ctx *c, int id, const char *op_type)
{
    const char *in[2] = {in_name(c, id, 0), const_f32_scalar(c, aux_name(c, id, "zero"), 0.0f)};
    finish_compare(c, id, op_type, in);
}

/* select(cond, a, b) = cond != 0 ? a : b.  A comparison's bool result is the
 * condition as is; any other float condition c becomes Where(c == 0, b, a),
 * which is the same for every c, NaN included (NaN != 0 picks a). */
static void ex_select(ex_ctx *c, int id, const char *op_type)
{
    const ir_node *n = node_at(c, id);
    const char *cond = is_compare(node_at(c, n->in[0])->op) ? c->bname[n->in[0]] : NULL;
    const char *a = in_name(c, id, 1), *b = in_name(c, id, 2);
    if (cond) {
        const char *in[3] = {cond, a, b};
        ex_node(c, op_type, node_name(c, id), in, 3, value_name(c, id));
        return;
    }
    const char *eq_in[2] = {in_name(c, id, 0), const_f32_scalar(c, aux_name(c, id, "zero"), 0.0f)};
    const char *is_zero = aux_name(c, id, "is_zero");
    ex_node(c, "Equal", ex_printf(c, "%s/Equal", node_name(c, id)), eq_in, 2, is_zero);
    const char *in[3] = {is_zero, b, a};
    ex_node(c, op_type, node_name(c, id), in, 3, value_name(c, id));
}

/* x^p with the exponent as a double scalar, so p is kept exactly. */
static void ex_pows(ex_ctx *c, int id, const char *op_type)
{
    double p = node_at(c, id)->attr.f;
    const char *e = ex_constant(c, aux_name(c, id, "exponent"),
                                ex_tensor(c, ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE, NULL, 0, &p, 1, sizeof p));
    const char *in[2] = {in_name(c, id, 0), e};
    ex_node(c, op_type, node_name(c, id), in, 2, value_name(c, id));
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
static void ex_reduce_sum(ex_ctx *c, int id, const char *op_type)
{
    const ir_node *n = node_at(c, id);
    int64_t axes[IR_MAX_RANK];
    int k = axes_list(n->attr.axes, n->shape.rank, axes);
    const char *in[2] = {in_name(c, id, 0), k ? const_i64(c, aux_name(c, id, "axes"), axes, k) : NULL};
    Onnx__NodeProto *p = ex_node(c, op_type, node_name(c, id), in, k ? 2 : 1, value_name(c, id));
    attr_int(c, p, "keepdims", 1);
    if (!k)
        attr_int(c, p, "noop_with_empty_axes", 1);
}

/* ReduceMax still takes axes as an attribute at opset 17 (an input from 18). */
static void ex_reduce_max(ex_ctx *c, int id, const char *op_type)
{
    const ir_node *n = node_at(c, id);
    int64_t axes[IR_MAX_RANK];
    int k = axes_list(n->attr.axes, n->shape.rank, axes);
    if (!k) {   /* ReduceMax without axes would reduce all of them */
        emit_same(c, id, "Identity");
        return;
    }
    Onnx__NodeProto *p = emit_same(c, id, op_type);
    attr_ints(c, p, "axes", axes, k);
    attr_int(c, p, "keepdims", 1);
}

static void ex_conv(ex_ctx *c, int id, const char *op_type)
{
    const ir_node *n = node_at(c, id);
    const ir_conv_attr *a = &n->attr.conv;
    const ir_shape *w = &node_at(c, n->in[1])->shape;
    int64_t kernel[2] = {w->d[2], w->d[3]};
    Onnx__NodeProto *p = emit_same(c, id, op_type);
    attr_ints(c, p, "kernel_shape", kernel, 2);
    attr_ints(c, p, "strides", a->stride, 2);
    attr_ints(c, p, "pads", a->pad, 4);
    attr_ints(c, p, "dilations", a->dilation, 2);
    attr_int(c, p, "group", a->group);
}

static void ex_pool(ex_ctx *c, int id, const char *op_type)
{
    const ir_node *n = node_at(c, id);
    const ir_pool_attr *a = &n->attr.pool;
    int avg = n->op == IR_OP_AVGPOOL2D;
    if (avg && (a->dilation[0] != 1 || a->dilation[1] != 1)) {
        char label[256];
        ex_fail(c, EBM_ERR_UNSUPPORTED, "export: node %s: AveragePool has no dilations before opset 19 "
                "(ebmc writes opset %d); dilation %lldx%lld cannot be exported",
                ir_node_label(c->g, id, label, sizeof label), EXPORT_OPSET, (long long)a->dilation[0],
                (long long)a->dilation[1]);
        return;
    }
    Onnx__NodeProto *p = emit_same(c, id, op_type);
    attr_ints(c, p, "kernel_shape", a->kernel, 2);
    attr_ints(c, p, "strides", a->stride, 2);
    attr_ints(c, p, "pads", a->pad, 4);
    attr_int(c, p, "ceil_mode", a->ceil_mode != 0);
    if (avg)
        attr_int(c, p, "count_include_pad", a->count_include_pad != 0);
    else
        attr_ints(c, p, "dilations", a->dilation, 2);
}

/* N -> -1.  A 0 in Reshape's shape means "copy" unless allowzero, and
 * allowzero forbids -1, so an empty dim next to N cannot be written. */
static void ex_reshape(ex_ctx *c, int id, const char *op_type)
{
    const ir_shape *t = &node_at(c, id)->shape;
    int64_t spec[IR_MAX_RANK];
    int zero = 0;
    for (int i = 0; i < t->rank; i++) {
        spec[i] = t->d[i] == IR_DIM_N ? -1 : t->d[i];
        zero |= t->d[i] == 0;
    }
    if (zero && ir_shape_has_batch(t)) {
        char label[256], sb[64];
        ex_fail(c, EBM_ERR_UNSUPPORTED, "export: node %s: a reshape to %s (an empty dimension next to N) "
                "has no ONNX Reshape form", ir_node_label(c->g, id, label, sizeof label),
                ir_shape_str(t, sb, sizeof sb));
        return;
    }
    const char *in[2] = {in_name(c, id, 0), const_i64(c, aux_name(c, id, "shape"), spec, t->rank)};
    Onnx__NodeProto *p = ex_node(c, op_type, node_name(c, id), in, 2, value_name(c, id));
    if (zero)
        attr_int(c, p, "allowzero", 1);
}

static void ex_transpose(ex_ctx *c, int id, const char *op_type)
{
    const ir_node *n = node_at(c, id);
    int64_t perm[IR_MAX_RANK];
    for (int i = 0; i < n->shape.rank; i++)
        perm[i] = n->attr.perm[i];
    attr_ints(c, emit_same(c, id, op_type), "perm", perm, n->shape.rank);
}

/* [N] as an int64 vector, read once from the first graph input with N. */
static const char *batch_size(ex_ctx *c, int id)
{
    if (c->batch_size)
        return c->batch_size;
    for (int i = 0; i < c->g->n_inputs; i++) {
        const ir_shape *s = &node_at(c, c->g->inputs[i])->shape;
        for (int k = 0; k < s->rank; k++) {
            if (s->d[k] != IR_DIM_N)
                continue;
            const char *in[1] = {value_name(c, c->g->inputs[i])};
            const char *out = unique_name(c, "batch_size");
            Onnx__NodeProto *p = ex_node(c, "Shape", "batch_size", in, 1, out);
            attr_int(c, p, "start", k);
            attr_int(c, p, "end", k + 1);
            return c->batch_size = p ? out : NULL;
        }
    }
    char label[256];
    ex_fail(c, EBM_ERR_INVALID, "export: node %s broadcasts to the batch size N, but no graph input has N",
            ir_node_label(c->g, id, label, sizeof label));
    return NULL;
}

/* Expand's target: 1 where the operand already has N, N itself (from Shape,
 * joined with the static dims by Concat) where it must be created. */
static const char *broadcast_target(ex_ctx *c, int id)
{
    const ir_shape *t = &node_at(c, id)->shape, *x = &node_at(c, node_at(c, id)->in[0])->shape;
    int64_t spec[IR_MAX_RANK];
    int new_n = 0, off = t->rank - x->rank;
    for (int i = 0; i < t->rank; i++) {
        int64_t xd = i >= off ? x->d[i - off] : 1;
        spec[i] = t->d[i] != IR_DIM_N ? t->d[i] : 1;
        new_n |= t->d[i] == IR_DIM_N && xd != IR_DIM_N;
    }
    if (!new_n)
        return const_i64(c, aux_name(c, id, "shape"), spec, t->rank);
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
        parts[k++] = const_i64(c, aux_name(c, id, "dims"), spec + i, j - i);
        i = j;
    }
    const char *out = aux_name(c, id, "shape");
    Onnx__NodeProto *p = ex_node(c, "Concat", ex_printf(c, "%s/Concat", node_name(c, id)), parts, k, out);
    attr_int(c, p, "axis", 0);
    return p ? out : NULL;
}

static void ex_broadcast(ex_ctx *c, int id, const char *op_type)
{
    const char *in[2] = {in_name(c, id, 0), broadcast_target(c, id)};
    ex_node(c, op_type, node_name(c, id), in, 2, value_name(c, id));
}

/* Every axis sliced explicitly.  The batch axis is whole: end INT64_MAX.  A
 * negative step's end of -1 ("before element 0") is INT64_MIN in ONNX, where
 * -1 would mean the last element. */
static void ex_slice(ex_ctx *c, int id, const char *op_type)
{
    const ir_node *n = node_at(c, id);
    const ir_shape *x = &node_at(c, n->in[0])->shape;
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
    const char *in[5] = {in_name(c, id, 0), const_i64(c, aux_name(c, id, "starts"), start, r),
                         const_i64(c, aux_name(c, id, "ends"), end, r),
                         const_i64(c, aux_name(c, id, "axes"), axes, r),
                         const_i64(c, aux_name(c, id, "steps"), step, r)};
    ex_node(c, op_type, node_name(c, id), in, 5, value_name(c, id));
}

static void ex_pad(ex_ctx *c, int id, const char *op_type)
{
    const ir_node *n = node_at(c, id);
    int r = n->shape.rank;
    int64_t pads[2 * IR_MAX_RANK];
    for (int i = 0; i < r; i++) {
        pads[i] = n->attr.pad.begin[i];
        pads[r + i] = n->attr.pad.end[i];
    }
    const char *in[3] = {in_name(c, id, 0), const_i64(c, aux_name(c, id, "pads"), pads, 2 * r),
                         const_f32_scalar(c, aux_name(c, id, "value"), (float)n->attr.pad.value)};
    ex_node(c, op_type, node_name(c, id), in, 3, value_name(c, id));   /* mode "constant" is the default */
}

static void ex_concat(ex_ctx *c, int id, const char *op_type)
{
    attr_int(c, emit_same(c, id, op_type), "axis", node_at(c, id)->attr.axis);
}

/* Ops missing here (convolution and pooling backward ops, slice_bwd,
 * maxpool2d_gather) only appear in differentiated graphs. */
static const ex_rule rules[IR_OP_COUNT] = {
    [IR_OP_NEG] = {"Neg", ex_plain},
    [IR_OP_ABS] = {"Abs", ex_plain},
    [IR_OP_SIGN] = {"Sign", ex_plain},
    [IR_OP_STEP] = {"Greater", ex_step},
    [IR_OP_EXP] = {"Exp", ex_plain},
    [IR_OP_LOG] = {"Log", ex_plain},
    [IR_OP_SQRT] = {"Sqrt", ex_plain},
    [IR_OP_TANH] = {"Tanh", ex_plain},
    [IR_OP_SIGMOID] = {"Sigmoid", ex_plain},
    [IR_OP_ERF] = {"Erf", ex_plain},
    [IR_OP_RELU] = {"Relu", ex_plain},
    [IR_OP_SOFTPLUS] = {"Softplus", ex_plain},
    [IR_OP_POWS] = {"Pow", ex_pows},
    [IR_OP_ADD] = {"Add", ex_plain},
    [IR_OP_SUB] = {"Sub", ex_plain},
    [IR_OP_MUL] = {"Mul", ex_plain},
    [IR_OP_DIV] = {"Div", ex_plain},
    [IR_OP_MAX] = {"Max", ex_plain},
    [IR_OP_MIN] = {"Min", ex_plain},
    [IR_OP_GT] = {"Greater", ex_compare},
    [IR_OP_GE] = {"GreaterOrEqual", ex_compare},
    [IR_OP_EQ] = {"Equal", ex_compare},
    [IR_OP_SELECT] = {"Where", ex_select},
    [IR_OP_RSUM] = {"ReduceSum", ex_reduce_sum},
    [IR_OP_RMAX] = {"ReduceMax", ex_reduce_max},
    [IR_OP_MATMUL] = {"MatMul", ex_plain},
    [IR_OP_CONV2D] = {"Conv", ex_conv},
    [IR_OP_MAXPOOL2D] = {"MaxPool", ex_pool},
    [IR_OP_AVGPOOL2D] = {"AveragePool", ex_pool},
    [IR_OP_RESHAPE] = {"Reshape", ex_reshape},
    [IR_OP_TRANSPOSE] = {"Transpose", ex_transpose},
    [IR_OP_BROADCAST] = {"Expand", ex_broadcast},
    [IR_OP_SLICE] = {"Slice", ex_slice},
    [IR_OP_PAD] = {"Pad", ex_pad},
    [IR_OP_CONCAT] = {"Concat", ex_concat},
};

/* ---- sources, outputs and the model -------------------------------------------------- */

static void ex_param(ex_ctx *c, int id)
{
    const ir_node *n = node_at(c, id);
    Onnx__TensorProto *t = ex_tensor(c, ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, n->shape.d, n->shape.rank,
                                     n->data, (size_t)ir_shape_numel(&n->shape, 0), sizeof(float));
    if (t) {
        t->name = c->vname[id];
        list_push(c, &c->inits, t);
    }
}

static void ex_const(ex_ctx *c, int id)
{
    const ir_node *n = node_at(c, id);
    char *out = unique_name(c, n->name && n->name[0] ? n->name : ex_printf(c, "const_%d", id));
    c->vname[id] = (char *)ex_constant(c, out,
                                       ex_tensor(c, ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, n->shape.d,
                                                 n->shape.rank, n->data, (size_t)ir_shape_numel(&n->shape, 0),
                                                 sizeof(float)));
}

static void ex_op(ex_ctx *c, int id)
{
    const ir_node *n = node_at(c, id);
    const ex_rule *r = &rules[n->op];
    if (!r->fn) {
        char label[256];
        ex_fail(c, EBM_ERR_UNSUPPORTED, "export: node %s: core op %s has no ONNX form (it appears only in "
                "differentiated graphs; export the model before differentiating it)",
                ir_node_label(c->g, id, label, sizeof label), ir_op_get(n->op)->name);
        return;
    }
    r->fn(c, id, r->op_type);
}

/* Names kept from the graph (inputs, parameters, outputs) are reserved before
 * any generated one, so they keep their spelling unless two of them clash. */
static void reserve_names(ex_ctx *c)
{
    const ir_graph *g = c->g;
    for (int i = 0; i < g->n_inputs; i++) {
        const ir_node *n = node_at(c, g->inputs[i]);
        c->vname[g->inputs[i]] = unique_name(c, n->name && n->name[0] ? n->name : ex_printf(c, "input_%d", i));
    }
    for (int id = 0; id < g->n_nodes; id++) {
        const ir_node *n = node_at(c, id);
        if (n->op == IR_OP_CONST && (n->flags & IR_NODE_PARAM))
            c->vname[id] = unique_name(c, n->name && n->name[0] ? n->name : ex_printf(c, "param_%d", id));
    }
    /* A computed output value takes the output's name; sources and values
     * named twice get an Identity in emit_outputs. */
    for (int i = 0; i < g->n_outputs; i++) {
        int id = g->outputs[i];
        ir_op op = node_at(c, id)->op;
        if (op != IR_OP_INPUT && op != IR_OP_CONST && !c->vname[id])
            c->vname[id] = unique_name(c, g->output_names[i] ? g->output_names[i] : ex_printf(c, "output_%d", i));
    }
}

/* Which comparisons need their float 0/1 value (anything but a Where condition). */
static void mark_float_uses(ex_ctx *c)
{
    const ir_graph *g = c->g;
    for (int id = 0; id < g->n_nodes; id++) {
        const ir_node *n = &g->nodes[id];
        for (int k = 0; k < n->n_in; k++)
            if (!(n->op == IR_OP_SELECT && k == 0))
                c->as_float[n->in[k]] = 1;
    }
    for (int i = 0; i < g->n_outputs; i++)
        c->as_float[g->outputs[i]] = 1;
}

static Onnx__ValueInfoProto **value_infos(ex_ctx *c, const int *ids, int n, char *const *names)
{
    Onnx__ValueInfoProto **v = ex_alloc(c, (size_t)(n ? n : 1) * sizeof *v);
    for (int i = 0; v && i < n; i++)
        v[i] = ex_value_info(c, names[i], &node_at(c, ids[i])->shape);
    return v;
}

/* Output names, with an Identity where the value is a source or was named
 * by an earlier output. */
static char **emit_outputs(ex_ctx *c)
{
    const ir_graph *g = c->g;
    char **names = ex_alloc(c, (size_t)(g->n_outputs ? g->n_outputs : 1) * sizeof *names);
    for (int i = 0; names && i < g->n_outputs; i++) {
        int id = g->outputs[i];
        const char *want = g->output_names[i] ? g->output_names[i] : ex_printf(c, "output_%d", i);
        if (c->vname[id] && want && strcmp(c->vname[id], want) == 0 && node_at(c, id)->op != IR_OP_INPUT &&
            node_at(c, id)->op != IR_OP_CONST) {
            int first = 1;
            for (int j = 0; j < i; j++)
                first &= g->outputs[j] != id;
            if (first) {
                names[i] = c->vname[id];
                continue;
            }
        }
        names[i] = unique_name(c, want ? want : "output");
        const char *in[1] = {c->vname[id]};
        ex_node(c, "Identity", ex_printf(c, "%s/Identity", names[i] ? names[i] : ""), in, 1, names[i]);
    }
    return names;
}

static Onnx__GraphProto *emit_graph(ex_ctx *c)
{
    const ir_graph *g = c->g;
    reserve_names(c);
    mark_float_uses(c);
    for (int id = 0; id < g->n_nodes && c->st == EBM_OK; id++) {
        const ir_node *n = node_at(c, id);
        if (n->op == IR_OP_INPUT)
            continue;
        if (n->op == IR_OP_CONST && (n->flags & IR_NODE_PARAM))
            ex_param(c, id);
        else if (n->op == IR_OP_CONST)
            ex_const(c, id);
        else
            ex_op(c, id);
    }
    char **out_names = emit_outputs(c);
    Onnx__GraphProto *gp = ex_alloc(c, sizeof *gp);
    char **in_names = ex_alloc(c, (size_t)(g->n_inputs ? g->n_inputs : 1) * sizeof *in_names);
    if (!gp || !in_names || !out_names)
        return NULL;
    for (int i = 0; i < g->n_inputs; i++)
        in_names[i] = c->vname[g->inputs[i]];
    onnx__graph_proto__init(gp);
    const char *name = ir_graph_get_meta(g, "ebm.name");
    gp->name = ex_strdup(c, name && name[0] ? name : "ebmc");
    gp->node = (Onnx__NodeProto **)c->nodes.items;
    gp->n_node = c->nodes.n;
    gp->initializer = (Onnx__TensorProto **)c->inits.items;
    gp->n_initializer = c->inits.n;
    gp->input = value_infos(c, g->inputs, g->n_inputs, in_names);
    gp->n_input = (size_t)g->n_inputs;
    gp->output = value_infos(c, g->outputs, g->n_outputs, out_names);
    gp->n_output = (size_t)g->n_outputs;
    return c->st == EBM_OK ? gp : NULL;
}

static Onnx__ModelProto *emit_model(ex_ctx *c, Onnx__GraphProto *gp)
{
    const ir_graph *g = c->g;
    Onnx__ModelProto *m = ex_alloc(c, sizeof *m);
    Onnx__OperatorSetIdProto *os = ex_alloc(c, sizeof *os);
    Onnx__OperatorSetIdProto **osl = ex_alloc(c, sizeof *osl);
    Onnx__StringStringEntryProto **meta = ex_alloc(c, (size_t)(g->n_meta ? g->n_meta : 1) * sizeof *meta);
    if (!m || !os || !osl || !meta || !gp)
        return NULL;
    onnx__model_proto__init(m);
    onnx__operator_set_id_proto__init(os);
    os->domain = ex_strdup(c, "");
    os->has_version = 1;
    os->version = EXPORT_OPSET;
    osl[0] = os;
    for (int i = 0; i < g->n_meta; i++) {
        Onnx__StringStringEntryProto *e = ex_alloc(c, sizeof *e);
        if (!e)
            return NULL;
        onnx__string_string_entry_proto__init(e);
        e->key = ex_strdup(c, g->meta[i].key);
        e->value = ex_strdup(c, g->meta[i].value ? g->meta[i].value : "");
        meta[i] = e;
    }
    m->has_ir_version = 1;
    m->ir_version = EXPORT_IR_VERSION;
    m->opset_import = osl;
    m->n_opset_import = 1;
    m->producer_name = ex_strdup(c, "ebmc");
    m->producer_version = ex_strdup(c, EBMC_VERSION_STRING);
    m->graph = gp;
    m->metadata_props = meta;
    m->n_metadata_props = (size_t)g->n_meta;
    return c->st == EBM_OK ? m : NULL;
}

static void ctx_free(ex_ctx *c)
{
    for (size_t i = 0; i < c->allocs.n; i++)
        free(c->allocs.items[i]);
    free(c->allocs.items);
    free(c->nodes.items);
    free(c->inits.items);
    free(c->vname);
    free(c->bname);
    free(c->as_float);
    free(c->names);
}

ebm_status ir_onnx_export_buffer(const ir_graph *g, void **buf, size_t *len, ebm_error *err)
{
    *buf = NULL;
    *len = 0;
    ex_ctx c;
    memset(&c, 0, sizeof c);
    c.g = g;
    c.err = err;
    size_t n = (size_t)(g->n_nodes ? g->n_nodes : 1);
    c.vname = calloc(n, sizeof *c.vname);
    c.bname = calloc(n, sizeof *c.bname);
    c.as_float = calloc(n, 1);
    if (!c.vname || !c.bname || !c.as_float)
        ex_fail(&c, EBM_ERR_NOMEM, "export: out of memory");
    Onnx__ModelProto *m = c.st == EBM_OK ? emit_model(&c, emit_graph(&c)) : NULL;
    if (m) {
        *len = onnx__model_proto__get_packed_size(m);
        *buf = malloc(*len ? *len : 1);
        if (*buf)
            onnx__model_proto__pack(m, *buf);
        else
            ex_fail(&c, EBM_ERR_NOMEM, "export: out of memory for a %zu-byte model", *len);
    }
    ebm_status st = c.st;
    ctx_free(&c);
    if (st != EBM_OK)
        *len = 0;
    return st;
}

/* ---- atomic file write ------------------------------------------------------------- */

static int write_all(int fd, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* A temporary file next to path (created exclusively), filled, synced and
 * renamed over path: readers see the old file or the new one, never half. */
static ebm_status write_atomic(const char *path, const void *data, size_t len, ebm_error *err)
{
    size_t size = strlen(path) + 48;
    char *tmp = malloc(size);
    int fd = -1;
    for (unsigned k = 0; tmp && fd < 0 && k < 1000; k++) {
        snprintf(tmp, size, "%s.tmp-%ld-%u", path, (long)getpid(), k);
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd < 0 && errno != EEXIST)
            break;
    }
    if (fd < 0) {
        int e = tmp ? errno : ENOMEM;
        free(tmp);
        return ebm_fail(err, EBM_ERR_IO, "%s: cannot create a temporary file next to it: %s", path, strerror(e));
    }
    const char *step = write_all(fd, data, len) ? "write" : fsync(fd) ? "fsync" : NULL;
    int saved = errno;
    if (close(fd) != 0 && !step) {
        step = "close";
        saved = errno;
    }
    if (!step && rename(tmp, path) != 0) {
        step = "rename";
        saved = errno;
    }
    if (step)
        unlink(tmp);
    free(tmp);
    if (step)
        return ebm_fail(err, EBM_ERR_IO, "%s: %s failed: %s (the previous file, if any, is unchanged)", path,
                        step, strerror(saved));
    return EBM_OK;
}

ebm_status ir_onnx_export_file(const ir_graph *g, const char *path, ebm_error *err)
{
    void *buf;
    size_t len;
    ebm_status st = ir_onnx_export_buffer(g, &buf, &len, err);
    if (st != EBM_OK) {
        ebm_error_prefix(err, "%s", path);
        return st;
    }
    st = write_atomic(path, buf, len, err);
    free(buf);
    return st;
}

/* ---- updating a model file (trained weights, metadata) ----------------------------- */

static ebm_status set_initializer(Onnx__GraphProto *g, const char *name, const float *data, int64_t numel,
                                  const char *path, ebm_error *err)
{
    for (size_t k = 0; k < g->n_initializer; k++) {
        Onnx__TensorProto *t = g->initializer[k];
        if (!t->name || strcmp(t->name, name) != 0)
            continue;
        int64_t have = 1;
        for (size_t d = 0; d < t->n_dims; d++)
            have *= t->dims[d];
        if (t->data_type != ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT || have != numel)
            return ebm_fail(err, EBM_ERR_SHAPE, "%s: initializer '%s' is not a float32 tensor of %lld values "
                            "(type %d, %lld values)", path, name, (long long)numel, (int)t->data_type, (long long)have);
        uint8_t *raw = malloc((size_t)(numel > 0 ? numel : 1) * sizeof(float));
        if (!raw)
            return ebm_fail(err, EBM_ERR_NOMEM, "%s: out of memory for initializer '%s'", path, name);
        memcpy(raw, data, (size_t)numel * sizeof(float));
        free(t->raw_data.data);
        t->raw_data.data = raw;
        t->raw_data.len = (size_t)numel * sizeof(float);
        t->has_raw_data = 1;
        free(t->float_data);
        t->float_data = NULL;
        t->n_float_data = 0;
        return EBM_OK;
    }
    return ebm_fail(err, EBM_ERR_INVALID, "%s: no initializer named '%s'", path, name);
}

static ebm_status set_meta(Onnx__ModelProto *m, const char *key, const char *value, const char *path,
                           ebm_error *err)
{
    for (size_t k = 0; k < m->n_metadata_props; k++)
        if (m->metadata_props[k]->key && strcmp(m->metadata_props[k]->key, key) == 0) {
            char *v = strdup(value);
            if (!v)
                return ebm_fail(err, EBM_ERR_NOMEM, "%s: out of memory", path);
            free(m->metadata_props[k]->value);
            m->metadata_props[k]->value = v;
            return EBM_OK;
        }
    Onnx__StringStringEntryProto **props = realloc(m->metadata_props, (m->n_metadata_props + 1) * sizeof *props);
    if (!props)
        return ebm_fail(err, EBM_ERR_NOMEM, "%s: out of memory", path);
    m->metadata_props = props;
    Onnx__StringStringEntryProto *e = malloc(sizeof *e);
    if (!e)
        return ebm_fail(err, EBM_ERR_NOMEM, "%s: out of memory", path);
    onnx__string_string_entry_proto__init(e);
    e->key = strdup(key);
    e->value = strdup(value);
    props[m->n_metadata_props++] = e;   /* owned by the message now: freed with it */
    if (!e->key || !e->value)
        return ebm_fail(err, EBM_ERR_NOMEM, "%s: out of memory", path);
    return EBM_OK;
}

ebm_status ir_onnx_update_file(const char *in_path, const char *out_path, const ir_onnx_update *u,
                               ebm_error *err)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    ebm_status st = ir_read_file(in_path, &buf, &len, err);
    if (st)
        return st;
    Onnx__ModelProto *m = onnx__model_proto__unpack(NULL, len, buf);
    free(buf);
    if (!m || !m->graph)
        st = ebm_fail(err, EBM_ERR_FORMAT, "%s: not an ONNX model (protobuf ModelProto with a graph)", in_path);
    for (int k = 0; !st && k < u->n_params; k++)
        st = set_initializer(m->graph, u->names[k], u->data[k], u->numel[k], in_path, err);
    for (int k = 0; !st && k < u->n_meta; k++)
        st = set_meta(m, u->keys[k], u->values[k], in_path, err);
    if (!st) {
        size_t n = onnx__model_proto__get_packed_size(m);
        uint8_t *out = malloc(n ? n : 1);
        if (!out)
            st = ebm_fail(err, EBM_ERR_NOMEM, "%s: out of memory", out_path);
        else {
            onnx__model_proto__pack(m, out);
            st = write_atomic(out_path, out, n, err);
            free(out);
        }
    }
    if (m)
        onnx__model_proto__free_unpacked(m, NULL);
    return st;
}
