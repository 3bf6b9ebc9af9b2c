/* onnx_export.c — the core IR written as an ONNX model with standard
 * operators only (ai.onnx, opset 17), so any ONNX tool can read what ebmc
 * writes and ebmc reads it back to the same graph.
 *
 * Each core op maps to one ONNX operator, or a short fixed pattern (the
 * onnx_type and export_rule columns of ir/ops.def, the rules in
 * onnx_export_ops.c), chosen so that ebmc's importer lowers it back to the
 * same core op: export -> import is a fixpoint after the first round trip.
 * This file holds the rest: the context, protobuf builders, value names, the
 * graph and model, and the files (atomic write, weight/metadata update).
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
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atomic_file.h"
#include "onnx_export_internal.h"

#ifndef EBMC_VERSION_STRING
#define EBMC_VERSION_STRING "0.1.0"
#endif

/* ---- memory and errors ------------------------------------------------------- */

void ir_ex_fail(ir_ex_ctx *c, ebm_status code, const char *fmt, ...)
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

static int list_push(ir_ex_ctx *c, ir_ex_list *l, void *item)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        void **items = realloc(l->items, cap * sizeof *items);
        if (!items) {
            ir_ex_fail(c, EBM_ERR_NOMEM, "export: out of memory");
            return -1;
        }
        l->items = items;
        l->cap = cap;
    }
    l->items[l->n++] = item;
    return 0;
}

/* Zeroed memory owned by the context; NULL after any error. */
static void *ex_alloc(ir_ex_ctx *c, size_t size)
{
    if (c->st != EBM_OK)
        return NULL;
    void *p = calloc(1, size ? size : 1);
    if (!p) {
        ir_ex_fail(c, EBM_ERR_NOMEM, "export: out of memory");
        return NULL;
    }
    if (list_push(c, &c->allocs, p)) {
        free(p);
        return NULL;
    }
    return p;
}

static char *ex_strdup(ir_ex_ctx *c, const char *s)
{
    if (!s) {   /* a name that failed to be made: the failure is already recorded */
        ir_ex_fail(c, EBM_ERR_INTERNAL, "export: a name is missing");
        return NULL;
    }
    size_t n = strlen(s) + 1;
    char *d = ex_alloc(c, n);
    if (d)
        memcpy(d, s, n);
    return d;
}

char *ir_ex_printf(ir_ex_ctx *c, const char *fmt, ...)
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

static int names_grow(ir_ex_ctx *c)
{
    size_t cap = c->names_cap ? c->names_cap * 2 : 256;
    char **t = calloc(cap, sizeof *t);
    if (!t) {
        ir_ex_fail(c, EBM_ERR_NOMEM, "export: out of memory");
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
char *ir_ex_unique_name(ir_ex_ctx *c, const char *base)
{
    if (c->st != EBM_OK || ((c->names_n + 1) * 2 > c->names_cap && names_grow(c)))
        return NULL;
    char *s = ex_strdup(c, base);
    for (int k = 2; s && c->names[name_slot(c->names, c->names_cap, s)]; k++)
        s = ir_ex_printf(c, "%s_%d", base, k);
    if (s) {
        c->names[name_slot(c->names, c->names_cap, s)] = s;
        c->names_n++;
    }
    return s;
}

/* ---- protobuf builders ------------------------------------------------------------- */

Onnx__NodeProto *ir_ex_node(ir_ex_ctx *c, const char *op_type, const char *name, const char *const *in, int n_in,
                            const char *out)
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

static Onnx__AttributeProto *ex_attr(ir_ex_ctx *c, Onnx__NodeProto *p, const char *name,
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

void ir_ex_attr_int(ir_ex_ctx *c, Onnx__NodeProto *p, const char *name, int64_t v)
{
    Onnx__AttributeProto *a = ex_attr(c, p, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT);
    if (a) {
        a->has_i = 1;
        a->i = v;
    }
}

void ir_ex_attr_ints(ir_ex_ctx *c, Onnx__NodeProto *p, const char *name, const int64_t *v, int n)
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
Onnx__TensorProto *ir_ex_tensor(ir_ex_ctx *c, int32_t data_type, const int64_t *dims, int rank, const void *data,
                                size_t count, size_t elem_size)
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
const char *ir_ex_constant(ir_ex_ctx *c, const char *out, Onnx__TensorProto *t)
{
    Onnx__NodeProto *p = out ? ir_ex_node(c, "Constant", out, NULL, 0, out) : NULL;
    Onnx__AttributeProto *a = ex_attr(c, p, "value", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR);
    if (!a || !t)
        return NULL;
    a->t = t;
    return out;
}

const char *ir_ex_const_i64(ir_ex_ctx *c, const char *name, const int64_t *v, int n)
{
    int64_t dims[1] = {n};
    return ir_ex_constant(c, name,
                          ir_ex_tensor(c, ONNX__TENSOR_PROTO__DATA_TYPE__INT64, dims, 1, v, (size_t)n, sizeof *v));
}

const char *ir_ex_const_f32(ir_ex_ctx *c, const char *name, float v)
{
    return ir_ex_constant(c, name, ir_ex_tensor(c, ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, NULL, 0, &v, 1, sizeof v));
}

static Onnx__ValueInfoProto *ex_value_info(ir_ex_ctx *c, const char *name, const ir_shape *s)
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

/* The ONNX node name: the IR node's name without the " (OpType)" that the
 * importer appends (so names do not grow with every round trip), else op_id. */
const char *ir_ex_node_name(ir_ex_ctx *c, int id)
{
    const ir_node *n = ir_ex_node_at(c, id);
    const char *s;
    if (!n->name || !n->name[0]) {
        s = ir_ex_printf(c, "%s_%d", ir_op_get(n->op)->name, id);
    } else {
        size_t len = strlen(n->name);
        const char *open = strrchr(n->name, '(');
        if (n->name[len - 1] == ')' && open && open > n->name + 1 && open[-1] == ' ')
            len = (size_t)(open - 1 - n->name);
        s = ir_ex_printf(c, "%.*s", (int)len, n->name);
    }
    return s ? s : "";   /* the failure is recorded; "" keeps callers simple */
}

/* The value name of a computed node, made on first use: its node's name
 * (made unique), as in Netron a value is best known by what computes it. */
const char *ir_ex_value_name(ir_ex_ctx *c, int id)
{
    if (!c->vname[id])
        c->vname[id] = ir_ex_unique_name(c, ir_ex_node_name(c, id));
    return c->vname[id];
}

const char *ir_ex_in_name(ir_ex_ctx *c, int id, int k)
{
    return ir_ex_value_name(c, ir_ex_node_at(c, id)->in[k]);
}

/* A helper node's output name, derived from its IR node's. */
char *ir_ex_aux_name(ir_ex_ctx *c, int id, const char *suffix)
{
    const char *base = ir_ex_value_name(c, id);
    return base ? ir_ex_unique_name(c, ir_ex_printf(c, "%s_%s", base, suffix)) : NULL;
}

/* ---- sources, outputs and the model -------------------------------------------------- */

static void ex_param(ir_ex_ctx *c, int id)
{
    const ir_node *n = ir_ex_node_at(c, id);
    Onnx__TensorProto *t = ir_ex_tensor(c, ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, n->shape.d, n->shape.rank, n->data,
                                        (size_t)ir_shape_numel(&n->shape, 0), sizeof(float));
    if (t) {
        t->name = c->vname[id];
        list_push(c, &c->inits, t);
    }
}

static void ex_const(ir_ex_ctx *c, int id)
{
    const ir_node *n = ir_ex_node_at(c, id);
    char *out = ir_ex_unique_name(c, n->name && n->name[0] ? n->name : ir_ex_printf(c, "const_%d", id));
    c->vname[id] =
        (char *)ir_ex_constant(c, out,
                               ir_ex_tensor(c, ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, n->shape.d, n->shape.rank, n->data,
                                            (size_t)ir_shape_numel(&n->shape, 0), sizeof(float)));
}

/* Names kept from the graph (inputs, parameters, outputs) are reserved before
 * any generated one, so they keep their spelling unless two of them clash. */
static void reserve_names(ir_ex_ctx *c)
{
    const ir_graph *g = c->g;
    for (int i = 0; i < g->n_inputs; i++) {
        const ir_node *n = ir_ex_node_at(c, g->inputs[i]);
        c->vname[g->inputs[i]] = ir_ex_unique_name(c, n->name && n->name[0] ? n->name : ir_ex_printf(c, "input_%d", i));
    }
    for (int id = 0; id < g->n_nodes; id++) {
        const ir_node *n = ir_ex_node_at(c, id);
        if (n->op == IR_OP_CONST && (n->flags & IR_NODE_PARAM))
            c->vname[id] = ir_ex_unique_name(c, n->name && n->name[0] ? n->name : ir_ex_printf(c, "param_%d", id));
    }
    /* A computed output value takes the output's name; sources and values
     * named twice get an Identity in emit_outputs. */
    for (int i = 0; i < g->n_outputs; i++) {
        int id = g->outputs[i];
        ir_op op = ir_ex_node_at(c, id)->op;
        if (op != IR_OP_INPUT && op != IR_OP_CONST && !c->vname[id])
            c->vname[id] =
                ir_ex_unique_name(c, g->output_names[i] ? g->output_names[i] : ir_ex_printf(c, "output_%d", i));
    }
}

/* Which comparisons need their float 0/1 value (anything but a Where condition). */
static void mark_float_uses(ir_ex_ctx *c)
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

static Onnx__ValueInfoProto **value_infos(ir_ex_ctx *c, const int *ids, int n, char *const *names)
{
    Onnx__ValueInfoProto **v = ex_alloc(c, (size_t)(n ? n : 1) * sizeof *v);
    for (int i = 0; v && i < n; i++)
        v[i] = ex_value_info(c, names[i], &ir_ex_node_at(c, ids[i])->shape);
    return v;
}

/* Output names, with an Identity where the value is a source or was named
 * by an earlier output. */
static char **emit_outputs(ir_ex_ctx *c)
{
    const ir_graph *g = c->g;
    char **names = ex_alloc(c, (size_t)(g->n_outputs ? g->n_outputs : 1) * sizeof *names);
    for (int i = 0; names && i < g->n_outputs; i++) {
        int id = g->outputs[i];
        const char *want = g->output_names[i] ? g->output_names[i] : ir_ex_printf(c, "output_%d", i);
        if (c->vname[id] && want && strcmp(c->vname[id], want) == 0 && ir_ex_node_at(c, id)->op != IR_OP_INPUT &&
            ir_ex_node_at(c, id)->op != IR_OP_CONST) {
            int first = 1;
            for (int j = 0; j < i; j++)
                first &= g->outputs[j] != id;
            if (first) {
                names[i] = c->vname[id];
                continue;
            }
        }
        names[i] = ir_ex_unique_name(c, want ? want : "output");
        const char *in[1] = {c->vname[id]};
        ir_ex_node(c, "Identity", ir_ex_printf(c, "%s/Identity", names[i] ? names[i] : ""), in, 1, names[i]);
    }
    return names;
}

static Onnx__GraphProto *emit_graph(ir_ex_ctx *c)
{
    const ir_graph *g = c->g;
    reserve_names(c);
    mark_float_uses(c);
    for (int id = 0; id < g->n_nodes && c->st == EBM_OK; id++) {
        const ir_node *n = ir_ex_node_at(c, id);
        if (n->op == IR_OP_INPUT)
            continue;
        if (n->op == IR_OP_CONST && (n->flags & IR_NODE_PARAM))
            ex_param(c, id);
        else if (n->op == IR_OP_CONST)
            ex_const(c, id);
        else
            ir_ex_op(c, id);
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

static Onnx__ModelProto *emit_model(ir_ex_ctx *c, Onnx__GraphProto *gp)
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

static void ctx_free(ir_ex_ctx *c)
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
    ir_ex_ctx c;
    memset(&c, 0, sizeof c);
    c.g = g;
    c.err = err;
    size_t n = (size_t)(g->n_nodes ? g->n_nodes : 1);
    c.vname = calloc(n, sizeof *c.vname);
    c.bname = calloc(n, sizeof *c.bname);
    c.as_float = calloc(n, 1);
    if (!c.vname || !c.bname || !c.as_float)
        ir_ex_fail(&c, EBM_ERR_NOMEM, "export: out of memory");
    Onnx__ModelProto *m = c.st == EBM_OK ? emit_model(&c, emit_graph(&c)) : NULL;
    if (m) {
        *len = onnx__model_proto__get_packed_size(m);
        *buf = malloc(*len ? *len : 1);
        if (*buf)
            onnx__model_proto__pack(m, *buf);
        else
            ir_ex_fail(&c, EBM_ERR_NOMEM, "export: out of memory for a %zu-byte model", *len);
    }
    ebm_status st = c.st;
    ctx_free(&c);
    if (st != EBM_OK)
        *len = 0;
    return st;
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
    st = base_write_atomic(path, (const void *const[]){buf}, &len, 1, err);
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
            st = base_write_atomic(out_path, (const void *const[]){out}, &n, 1, err);
            free(out);
        }
    }
    if (m)
        onnx__model_proto__free_unpacked(m, NULL);
    return st;
}
