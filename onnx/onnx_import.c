/* onnx_import.c — the ONNX import framework: validation, the value map and
 * the helpers the per-family lowering files (onnx_lower_*.c) use (reading
 * the file is onnx_read.c, decoding tensors onnx_tensor.c).
 *
 * Import runs in stages over the unpacked ModelProto, each of which can fail
 * with a message naming the file and the node:
 *   1. check_model: structure that protobuf-c cannot check (a random byte
 *      string often parses as *some* message): a graph, an ai.onnx opset,
 *      every node input produced before use, no name defined twice;
 *   2. graph fields (metadata, opsets, producer);
 *   3. initializers -> static tensors (float ones become PARAM constants on
 *      their first dynamic use);
 *   4. graph inputs -> INPUT nodes (or static values when bound);
 *   5. nodes in file order -> the lowering function from onnx_ops.def;
 *   6. graph outputs.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "onnx_internal.h"


/* ---- context ---------------------------------------------------------------- */

/* A value during import: dynamic (id >= 0), static (t), or both once a static
 * float has been materialised as a CONST node. */
typedef struct onnx_imp_value {
    const char *name;
    int id;
    ir_shape shape;         /* of id: a copy, as the graph's node array moves */
    int is_static;
    ir_tensor t;
    unsigned const_flags;   /* flags of the CONST made from t on first dynamic use */
    onnx_imp_view view;     /* of id: how the ONNX dims merge N (rank 0: they do not) */
} onnx_imp_value;

struct onnx_imp_ctx {
    const char *source;
    const Onnx__ModelProto *model;
    const Onnx__GraphProto *gp;
    ir_graph *g;
    ebm_error *err;
    ir_import_options opt;
    int64_t opset;
    int64_t file_batch;          /* the input's declared static dim 0, made N; 0 if none */
    onnx_imp_value **vals;       /* each allocated once: pointers handed out stay valid */
    int n_vals, cap_vals;
    base_strmap map;
    int64_t made;                /* elements made at import time so far (onnx_imp_charge) */
};

ir_graph *onnx_imp_graph(onnx_imp_ctx *c)
{
    return c->g;
}

ebm_error *onnx_imp_err(onnx_imp_ctx *c)
{
    return c->err;
}

ebm_status onnx_imp_fail(onnx_imp_ctx *c, const onnx_imp_node *n, ebm_status code, const char *fmt, ...)
{
    char msg[EBM_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (n)
        return ebm_fail(c->err, code, "%s: node %s: %s", c->source, n->label, msg);
    return ebm_fail(c->err, code, "%s: %s", c->source, msg);
}

/* A hostile file can make every node compute a large tensor (ConstantOfShape
 * of [2^24], a Tile of it, a Pow mask per distinct exponent): each is capped,
 * and so is their sum, so an import's memory stays bounded whatever the file. */
ebm_status onnx_imp_charge(onnx_imp_ctx *c, int64_t count)
{
    int64_t limit = c->opt.max_computed > 0 ? c->opt.max_computed : ONNX_IMP_MADE_MAX;
    if (count < 0 || count > limit - c->made)
        return ebm_fail(c->err, EBM_ERR_UNSUPPORTED,
                        "tensors computed at import time would exceed the limit of %lld elements in all",
                        (long long)limit);
    c->made += count;
    return EBM_OK;
}

ebm_status onnx_imp_tensor_alloc(onnx_imp_ctx *c, ir_tensor *t, ir_dtype dt, const ir_shape *s)
{
    ebm_status st = onnx_imp_tensor_alloc_upto(t, dt, s, ONNX_IMP_COMPUTED_MAX, c->err);
    if (st == EBM_OK && (st = onnx_imp_charge(c, ir_shape_numel(s, 0))) != EBM_OK)
        ir_tensor_free(t);
    return st;
}

static ebm_status nomem(onnx_imp_ctx *c)
{
    return ebm_fail(c->err, EBM_ERR_NOMEM, "%s: out of memory", c->source);
}

static onnx_imp_value *val_find(onnx_imp_ctx *c, const char *name)
{
    int k = base_strmap_get(&c->map, name);
    return k < 0 ? NULL : c->vals[k];
}

/* A new, empty value bound to name; NULL (error set) if out of memory. */
static onnx_imp_value *val_add(onnx_imp_ctx *c, const char *name)
{
    if (c->n_vals == c->cap_vals) {
        int cap = c->cap_vals ? 2 * c->cap_vals : 64;
        onnx_imp_value **vals = realloc(c->vals, (size_t)cap * sizeof *vals);
        if (!vals) {
            nomem(c);
            return NULL;
        }
        c->vals = vals;
        c->cap_vals = cap;
    }
    onnx_imp_value *v = calloc(1, sizeof *v);
    if (!v || base_strmap_put(&c->map, name, c->n_vals)) {
        free(v);
        nomem(c);
        return NULL;
    }
    c->vals[c->n_vals++] = v;
    v->name = name;
    v->id = -1;
    return v;
}

/* Binds v to IR value id (which may be -1 after a failed builder call). */
static int set_dynamic(onnx_imp_ctx *c, onnx_imp_value *v, int id)
{
    v->id = id;
    if (id >= 0)
        v->shape = c->g->nodes[id].shape;
    return id;
}

static void ctx_free(onnx_imp_ctx *c)
{
    for (int i = 0; i < c->n_vals; i++) {
        ir_tensor_free(&c->vals[i]->t);
        free(c->vals[i]);
    }
    free(c->vals);
    base_strmap_free(&c->map);
}

/* ---- attributes ---------------------------------------------------------------- */

const Onnx__AttributeProto *onnx_imp_attr(const onnx_imp_node *n, const char *name)
{
    for (size_t i = 0; i < n->p->n_attribute; i++) {
        const Onnx__AttributeProto *a = n->p->attribute[i];
        if (a->name && strcmp(a->name, name) == 0)
            return a;
    }
    return NULL;
}

int64_t onnx_imp_attr_int(const onnx_imp_node *n, const char *name, int64_t dflt)
{
    const Onnx__AttributeProto *a = onnx_imp_attr(n, name);
    return a ? a->i : dflt;
}

double onnx_imp_attr_float(const onnx_imp_node *n, const char *name, double dflt)
{
    const Onnx__AttributeProto *a = onnx_imp_attr(n, name);
    return a ? a->f : dflt;
}

int onnx_imp_attr_ints(const onnx_imp_node *n, const char *name, int64_t *out, int max)
{
    const Onnx__AttributeProto *a = onnx_imp_attr(n, name);
    if (!a)
        return -1;
    if (a->n_ints > (size_t)max)
        return -2;
    for (size_t i = 0; i < a->n_ints; i++)
        out[i] = a->ints[i];
    return (int)a->n_ints;
}

const char *onnx_imp_attr_string(const onnx_imp_node *n, const char *name, char *buf, size_t size,
                                 const char *dflt)
{
    const Onnx__AttributeProto *a = onnx_imp_attr(n, name);
    if (!a || !a->has_s || size == 0)
        return dflt;
    size_t k = a->s.len < size - 1 ? a->s.len : size - 1;
    if (k)
        memcpy(buf, a->s.data, k);
    buf[k] = 0;
    return buf;
}

ebm_status onnx_imp_check_attrs(onnx_imp_ctx *c, const onnx_imp_node *n, const char *const *known)
{
    for (size_t i = 0; i < n->p->n_attribute; i++) {
        const char *name = onnx_imp_str(n->p->attribute[i]->name);
        int ok = 0;
        for (int k = 0; known && known[k] && !ok; k++)
            ok = strcmp(known[k], name) == 0;
        if (!ok)
            return onnx_imp_fail(c, n, EBM_ERR_UNSUPPORTED, "attribute '%s' is not supported", name);
    }
    return EBM_OK;
}

/* ---- inputs -------------------------------------------------------------------- */

int onnx_imp_n_inputs(const onnx_imp_node *n)
{
    int k = (int)n->p->n_input;
    while (k > 0 && n->p->input[k - 1][0] == 0)
        k--;
    return k;
}

int onnx_imp_has_input(const onnx_imp_node *n, int k)
{
    return k >= 0 && (size_t)k < n->p->n_input && n->p->input[k][0] != 0;
}

/* The value of input k, or NULL with an error: absent (when `required`), or a
 * name whose producer did not bind it (an optional output ebmc does not compute). */
static onnx_imp_value *input_value(onnx_imp_ctx *c, const onnx_imp_node *n, int k, int required)
{
    if (!onnx_imp_has_input(n, k)) {
        if (required)
            onnx_imp_fail(c, n, EBM_ERR_INVALID, "input %d is missing", k);
        return NULL;
    }
    onnx_imp_value *v = val_find(c, n->p->input[k]);
    if (!v && required)
        onnx_imp_fail(c, n, EBM_ERR_UNSUPPORTED,
                      "input %d ('%s') is an output of an earlier node that ebmc does not compute", k,
                      n->p->input[k]);
    return v;
}

/* t's elements as a new float array; NULL when out of memory, or (with
 * *sym_n set) when an integer element is the batch-size sentinel. */
static float *float_copy(const ir_tensor *t, int *sym_n)
{
    int64_t count = ir_shape_numel(&t->shape, 0);
    float *f = malloc(count > 0 ? (size_t)count * sizeof *f : 1);
    *sym_n = 0;
    for (int64_t i = 0; f && i < count; i++) {
        if (t->dtype == IR_DT_I64 && onnx_imp_sym_k(((const int64_t *)t->data)[i])) {
            *sym_n = 1;
            free(f);
            return NULL;
        }
        f[i] = (float)onnx_imp_tensor_get_f(t, i);
    }
    return f;
}

/* The CONST node of a static value, made on first use.  Integer values are
 * data only where `allow_int` (graph outputs); elsewhere they are plumbing. */
static int materialise(onnx_imp_ctx *c, onnx_imp_value *v, const onnx_imp_node *n, int k, int allow_int)
{
    if (v->id >= 0)
        return v->id;
    if (v->t.dtype == IR_DT_I64 && !allow_int) {
        onnx_imp_fail(c, n, EBM_ERR_UNSUPPORTED,
                      "input %d ('%s') is an integer tensor used as data; ebmc computes in float32", k, v->name);
        return -1;
    }
    int sym_n;
    float *f = float_copy(&v->t, &sym_n);
    if (sym_n)
        onnx_imp_fail(c, n, EBM_ERR_NOT_STATIC, "'%s' holds the batch size N, which is not known at import time",
                      v->name);
    else if (!f)
        nomem(c);
    else
        set_dynamic(c, v, ir_add_const(c->g, v->name, v->t.shape, f, v->const_flags, c->err));
    free(f);
    return v->id;
}

int onnx_imp_input(onnx_imp_ctx *c, const onnx_imp_node *n, int k)
{
    onnx_imp_value *v = input_value(c, n, k, 1);
    if (!v)
        return -1;
    if (v->id >= 0)
        return v->id;
    return materialise(c, v, n, k, 0);
}

const ir_tensor *onnx_imp_static(onnx_imp_ctx *c, const onnx_imp_node *n, int k)
{
    if (!onnx_imp_has_input(n, k))
        return NULL;
    onnx_imp_value *v = val_find(c, n->p->input[k]);
    return v && v->is_static ? &v->t : NULL;
}

/* Not in onnx_internal.h yet (declared where used, in onnx_lower_shape.c):
 * data movement on a trainable initializer must stay in the graph, or
 * training would update a folded copy instead of the parameter. */
int onnx_imp_static_is_param(onnx_imp_ctx *c, const onnx_imp_node *n, int k)
{
    if (!onnx_imp_has_input(n, k))
        return 0;
    onnx_imp_value *v = val_find(c, n->p->input[k]);
    return v && v->is_static && (v->const_flags & IR_NODE_PARAM);
}

ebm_status onnx_imp_require_static(onnx_imp_ctx *c, const onnx_imp_node *n, int k, const char *what,
                                   const ir_tensor **out)
{
    *out = NULL;
    onnx_imp_value *v = input_value(c, n, k, 1);
    if (!v)
        return c->err->code;
    if (!v->is_static)
        return onnx_imp_fail(c, n, EBM_ERR_NOT_STATIC,
                             "%s (input %d, '%s') must be known at import time, but it is computed from the "
                             "graph inputs", what, k, v->name);
    *out = &v->t;
    return EBM_OK;
}

const ir_shape *onnx_imp_input_shape(onnx_imp_ctx *c, const onnx_imp_node *n, int k)
{
    if (!onnx_imp_has_input(n, k))
        return NULL;
    onnx_imp_value *v = val_find(c, n->p->input[k]);
    if (!v)
        return NULL;
    return v->is_static ? &v->t.shape : &v->shape;
}

const onnx_imp_view *onnx_imp_input_view(onnx_imp_ctx *c, const onnx_imp_node *n, int k)
{
    if (!onnx_imp_has_input(n, k))
        return NULL;
    onnx_imp_value *v = val_find(c, n->p->input[k]);
    return v && !v->is_static && v->view.rank > 0 ? &v->view : NULL;
}

ebm_status onnx_imp_set_output_view(onnx_imp_ctx *c, const onnx_imp_node *n, int k, const onnx_imp_view *view)
{
    onnx_imp_value *v = (size_t)k < n->p->n_output ? val_find(c, n->p->output[k]) : NULL;
    if (!v || v->id < 0)
        return onnx_imp_fail(c, n, EBM_ERR_INTERNAL, "output %d has no value to view", k);
    int total = 0, merged = 0;
    for (int i = 0; view && i < view->rank; i++) {
        total += view->span[i];
        merged |= view->span[i] != 1;
    }
    if (view && merged && total != v->shape.rank)
        return onnx_imp_fail(c, n, EBM_ERR_INTERNAL, "a view of %d axes on a value of rank %d", total,
                             v->shape.rank);
    memset(&v->view, 0, sizeof v->view);
    if (view && merged)
        v->view = *view;
    return EBM_OK;
}

int64_t onnx_imp_file_batch(onnx_imp_ctx *c)
{
    return c->file_batch;
}

/* A node with an operand whose dims merge N goes to onnx_lower_view.c. */
static int has_view_input(onnx_imp_ctx *c, const onnx_imp_node *n)
{
    for (int k = 0; k < onnx_imp_n_inputs(n); k++)
        if (onnx_imp_input_view(c, n, k))
            return 1;
    return 0;
}

int onnx_imp_static_ints(onnx_imp_ctx *c, const onnx_imp_node *n, int k, const char *what, int64_t *out, int max)
{
    const ir_tensor *t;
    if (onnx_imp_require_static(c, n, k, what, &t) != EBM_OK)
        return -1;
    int64_t count = ir_shape_numel(&t->shape, 0);
    if (t->dtype != IR_DT_I64 || t->shape.rank > 1) {
        onnx_imp_fail(c, n, EBM_ERR_INVALID, "%s (input %d) must be an integer scalar or vector", what, k);
        return -1;
    }
    if (count > max) {
        onnx_imp_fail(c, n, EBM_ERR_UNSUPPORTED, "%s (input %d) has %lld values, at most %d are supported",
                      what, k, (long long)count, max);
        return -1;
    }
    memcpy(out, t->data, (size_t)count * sizeof *out);
    return (int)count;
}

ebm_status onnx_imp_static_scalar(onnx_imp_ctx *c, const onnx_imp_node *n, int k, const char *what, double *out)
{
    const ir_tensor *t;
    ebm_status st = onnx_imp_require_static(c, n, k, what, &t);
    if (st != EBM_OK)
        return st;
    if (ir_shape_numel(&t->shape, 0) != 1)
        return onnx_imp_fail(c, n, EBM_ERR_INVALID, "%s (input %d) must hold one value, not %lld", what, k,
                             (long long)ir_shape_numel(&t->shape, 0));
    if (t->dtype == IR_DT_I64 && onnx_imp_sym_k(onnx_imp_tensor_get_i(t, 0)))
        return onnx_imp_fail(c, n, EBM_ERR_NOT_STATIC, "%s (input %d) is the batch size N, unknown at import time",
                             what, k);
    *out = onnx_imp_tensor_get_f(t, 0);
    return EBM_OK;
}

/* ---- outputs ------------------------------------------------------------------- */

/* The value for output k, or NULL when the node does not ask for it. */
static ebm_status output_slot(onnx_imp_ctx *c, const onnx_imp_node *n, int k, onnx_imp_value **out)
{
    *out = NULL;
    if (k < 0 || (size_t)k >= n->p->n_output || n->p->output[k][0] == 0)
        return EBM_OK;
    if (val_find(c, n->p->output[k]))
        return onnx_imp_fail(c, n, EBM_ERR_INTERNAL, "output %d ('%s') bound twice", k, n->p->output[k]);
    *out = val_add(c, n->p->output[k]);
    return *out ? EBM_OK : EBM_ERR_NOMEM;
}

ebm_status onnx_imp_set_output(onnx_imp_ctx *c, const onnx_imp_node *n, int k, int value)
{
    if (value < 0)
        return c->err->code != EBM_OK ? c->err->code
                                      : onnx_imp_fail(c, n, EBM_ERR_INTERNAL, "output %d has no value", k);
    onnx_imp_value *v;
    ebm_status st = output_slot(c, n, k, &v);
    if (v)
        set_dynamic(c, v, value);
    return st;
}

ebm_status onnx_imp_set_static_output(onnx_imp_ctx *c, const onnx_imp_node *n, int k, ir_tensor *t)
{
    onnx_imp_value *v;
    ebm_status st = output_slot(c, n, k, &v);
    if (!v) {
        ir_tensor_free(t);
        return st;
    }
    v->is_static = 1;
    v->t = *t;
    memset(t, 0, sizeof *t);
    return EBM_OK;
}

/* ---- stage 1: structure ------------------------------------------------------- */

static const char *node_op(const Onnx__NodeProto *p)
{
    return onnx_imp_str(p->op_type);
}

static int is_onnx_domain(const char *d)
{
    return !d || d[0] == 0 || strcmp(d, "ai.onnx") == 0;
}

static const struct onnx_op_row {
    const char *op_type;
    onnx_imp_lower_fn fn;
} onnx_ops[] = {
#define ONNX_OP(op_type, fn, note, view) {op_type, onnx_##fn},
#include "onnx_ops.def"
#undef ONNX_OP
};

onnx_imp_lower_fn onnx_imp_lowering(const char *op_type)
{
    for (size_t i = 0; i < sizeof onnx_ops / sizeof *onnx_ops; i++)
        if (strcmp(onnx_ops[i].op_type, op_type) == 0)
            return onnx_ops[i].fn;
    return NULL;
}

/* "name (OpType)", or "#index (OpType)" for unnamed nodes; malloc'd. */
static char *node_label(const Onnx__NodeProto *p, size_t index)
{
    const char *name = onnx_imp_str(p->name);
    size_t len = strlen(name) + strlen(node_op(p)) + 32;
    char *s = malloc(len);
    if (!s)
        return NULL;
    if (name[0])
        snprintf(s, len, "%s (%s)", name, node_op(p));
    else
        snprintf(s, len, "#%zu (%s)", index, node_op(p));
    return s;
}

/* n: the node defining the name, NULL for initializers. */
static ebm_status define_name(onnx_imp_ctx *c, base_strmap *defined, const char *name, const onnx_imp_node *n)
{
    if (base_strmap_get(defined, name) >= 0)
        return onnx_imp_fail(c, n, EBM_ERR_INVALID, "%s '%s' is defined more than once",
                             n ? "value" : "initializer", name);
    return base_strmap_put(defined, name, 1) ? nomem(c) : EBM_OK;
}

static ebm_status check_opset(onnx_imp_ctx *c)
{
    const Onnx__ModelProto *m = c->model;
    c->opset = -1;
    for (size_t i = 0; i < m->n_opset_import; i++) {
        const Onnx__OperatorSetIdProto *o = m->opset_import[i];
        if (is_onnx_domain(o->domain))
            c->opset = o->has_version ? o->version : -1;
    }
    if (c->opset < 1)
        return onnx_imp_fail(c, NULL, EBM_ERR_FORMAT, "no valid ai.onnx opset in opset_import");
    return EBM_OK;
}

static ebm_status check_node(onnx_imp_ctx *c, const Onnx__NodeProto *p, size_t index, base_strmap *defined)
{
    char *label = node_label(p, index);
    if (!label)
        return nomem(c);
    onnx_imp_node n = {p, label, c->opset};
    ebm_status st = EBM_OK;
    if (node_op(p)[0] == 0)
        st = onnx_imp_fail(c, &n, EBM_ERR_FORMAT, "the node has no op_type");
    else if (!is_onnx_domain(p->domain))
        st = onnx_imp_fail(c, &n, EBM_ERR_UNSUPPORTED, "operator domain '%s' is not supported (only ai.onnx)",
                           p->domain);
    for (size_t k = 0; st == EBM_OK && k < p->n_input; k++)
        if (p->input[k][0] && base_strmap_get(defined, p->input[k]) < 0)
            st = onnx_imp_fail(c, &n, EBM_ERR_INVALID,
                               "input '%s' is not produced by any node, initializer or graph input", p->input[k]);
    if (st == EBM_OK && !onnx_imp_lowering(node_op(p)))
        st = onnx_imp_fail(c, &n, EBM_ERR_UNSUPPORTED,
                           "operator %s is not supported by ebmc (supported: see docs)", node_op(p));
    for (size_t k = 0; st == EBM_OK && k < p->n_output; k++)
        if (p->output[k][0])
            st = define_name(c, defined, p->output[k], &n);
    free(label);
    return st;
}

static ebm_status check_graph(onnx_imp_ctx *c, base_strmap *defined)
{
    const Onnx__GraphProto *gp = c->gp;
    ebm_status st = EBM_OK;
    for (size_t i = 0; st == EBM_OK && i < gp->n_initializer; i++) {
        const char *name = onnx_imp_str(gp->initializer[i]->name);
        st = name[0] ? define_name(c, defined, name, NULL)
                     : onnx_imp_fail(c, NULL, EBM_ERR_FORMAT, "initializer %zu has no name", i);
    }
    for (size_t i = 0; st == EBM_OK && i < gp->n_input; i++) {
        const char *name = onnx_imp_str(gp->input[i]->name);
        if (!name[0])
            st = onnx_imp_fail(c, NULL, EBM_ERR_FORMAT, "graph input %zu has no name", i);
        else if (base_strmap_get(defined, name) < 0)   /* inputs may repeat initializers (IR < 4) */
            st = base_strmap_put(defined, name, 1) ? nomem(c) : EBM_OK;
    }
    for (size_t i = 0; st == EBM_OK && i < gp->n_node; i++)
        st = check_node(c, gp->node[i], i, defined);
    if (st == EBM_OK && gp->n_output == 0)
        st = onnx_imp_fail(c, NULL, EBM_ERR_INVALID, "the graph has no outputs");
    for (size_t i = 0; st == EBM_OK && i < gp->n_output; i++) {
        const char *name = onnx_imp_str(gp->output[i]->name);
        if (base_strmap_get(defined, name) < 0)
            st = onnx_imp_fail(c, NULL, EBM_ERR_INVALID,
                               "graph output '%s' is not produced by any node, initializer or graph input", name);
    }
    return st;
}

static ebm_status check_model(onnx_imp_ctx *c)
{
    if (!c->model->graph)
        return onnx_imp_fail(c, NULL, EBM_ERR_FORMAT, "not an ONNX model (no graph)");
    if (!c->model->has_ir_version || c->model->ir_version < 1)
        return onnx_imp_fail(c, NULL, EBM_ERR_FORMAT, "not an ONNX model (no ir_version)");
    c->gp = c->model->graph;
    ebm_status st = check_opset(c);
    if (st != EBM_OK)
        return st;
    base_strmap defined = {0};
    st = check_graph(c, &defined);
    base_strmap_free(&defined);
    return st;
}

/* ---- stage 2: graph fields ------------------------------------------------------ */

static ebm_status dup_str(onnx_imp_ctx *c, char **dst, const char *s)
{
    *dst = strdup(s);
    return *dst ? EBM_OK : nomem(c);
}

static ebm_status copy_graph_fields(onnx_imp_ctx *c)
{
    const Onnx__ModelProto *m = c->model;
    ir_graph *g = c->g;
    ebm_status st = EBM_OK;
    for (size_t i = 0; st == EBM_OK && i < m->n_metadata_props; i++) {
        const Onnx__StringStringEntryProto *e = m->metadata_props[i];
        st = ir_graph_set_meta(g, onnx_imp_str(e->key), onnx_imp_str(e->value), c->err);
    }
    if (st == EBM_OK && m->n_opset_import) {
        if (!(g->opsets = calloc(m->n_opset_import, sizeof *g->opsets)))
            return nomem(c);
        for (size_t i = 0; st == EBM_OK && i < m->n_opset_import; i++) {
            const Onnx__OperatorSetIdProto *o = m->opset_import[i];
            st = dup_str(c, &g->opsets[i].domain, onnx_imp_str(o->domain));
            g->opsets[i].version = o->version;
            g->n_opsets = (int)i + 1;
        }
    }
    g->onnx_ir_version = m->ir_version;
    g->onnx_nodes = (int)c->gp->n_node;
    if (st == EBM_OK && m->producer_name && m->producer_name[0]) {
        const char *ver = onnx_imp_str(m->producer_version);
        size_t len = strlen(m->producer_name) + strlen(ver) + 2;
        if (!(g->producer = malloc(len)))
            return nomem(c);
        snprintf(g->producer, len, ver[0] ? "%s %s" : "%s", m->producer_name, ver);
    }
    if (st == EBM_OK)
        st = dup_str(c, &g->source, c->source);
    return st;
}

/* ---- stage 3: initializers ------------------------------------------------------ */

/* Double initializers become float parameters like the others. */
static ebm_status to_f32(onnx_imp_ctx *c, ir_tensor *t)
{
    if (t->dtype != IR_DT_F64)
        return EBM_OK;
    int sym_n;
    float *f = float_copy(t, &sym_n);
    if (!f)
        return nomem(c);
    free(t->data);
    t->data = f;
    t->dtype = IR_DT_F32;
    return EBM_OK;
}

static ebm_status decode_for(onnx_imp_ctx *c, const Onnx__TensorProto *tp, const char *kind, ir_tensor *out)
{
    char what[512];
    snprintf(what, sizeof what, "%s: %s '%s'", c->source, kind, onnx_imp_str(tp->name));
    return onnx_imp_decode_tensor(tp, what, out, c->err);
}

static ebm_status load_initializers(onnx_imp_ctx *c)
{
    for (size_t i = 0; i < c->gp->n_initializer; i++) {
        const Onnx__TensorProto *tp = c->gp->initializer[i];
        onnx_imp_value *v = val_add(c, tp->name);
        if (!v)
            return EBM_ERR_NOMEM;
        ebm_status st = decode_for(c, tp, "initializer", &v->t);
        if (st == EBM_OK)
            st = to_f32(c, &v->t);
        if (st != EBM_OK)
            return st;
        v->is_static = 1;
        v->const_flags = v->t.dtype == IR_DT_F32 ? IR_NODE_PARAM | IR_NODE_TRAINABLE : 0;
    }
    return EBM_OK;
}

/* ---- stage 4: graph inputs ------------------------------------------------------ */

static const ir_tensor *find_binding(onnx_imp_ctx *c, const char *name)
{
    for (int i = 0; i < c->opt.n_bind; i++)
        if (c->opt.bind[i].name && strcmp(c->opt.bind[i].name, name) == 0)
            return c->opt.bind[i].value;
    return NULL;
}

static ebm_status bind_static(onnx_imp_ctx *c, onnx_imp_value *v, const ir_tensor *src)
{
    if (!src || src->shape.rank < 0 || src->shape.rank > IR_MAX_RANK || !src->data ||
        ir_dtype_size(src->dtype) == 0)
        return onnx_imp_fail(c, NULL, EBM_ERR_INVALID, "the value bound to graph input '%s' is not a valid tensor",
                             v->name);
    ebm_status st = onnx_imp_tensor_alloc_upto(&v->t, src->dtype, &src->shape, ONNX_IMP_MAX_ELEMENTS, c->err);
    if (st != EBM_OK)
        return st;
    memcpy(v->t.data, src->data, (size_t)ir_shape_numel(&src->shape, 0) * ir_dtype_size(src->dtype));
    v->is_static = 1;
    return EBM_OK;
}

static ebm_status input_shape(onnx_imp_ctx *c, const Onnx__ValueInfoProto *vi, ir_shape *s)
{
    const char *name = vi->name;
    if (onnx_imp_file_shape(onnx_imp_tensor_type(vi), s) != 0)
        return onnx_imp_fail(c, NULL, EBM_ERR_UNSUPPORTED, "graph input '%s' has no shape or more than %d dims",
                             name, IR_MAX_RANK);
    for (int i = 0; i < s->rank; i++) {
        if (i == 0 && c->opt.batch_symbolic) {
            if (s->d[0] >= 1 && s->d[0] <= ONNX_IMP_MAX_DIM)
                c->file_batch = s->d[0];
            s->d[0] = IR_DIM_N;
        } else if (s->d[i] == -2 || s->d[i] > (INT64_C(1) << 31)) {
            return onnx_imp_fail(c, NULL, EBM_ERR_FORMAT, "graph input '%s': dimension %d is negative or huge",
                                 name, i);
        } else if (s->d[i] == IR_DIM_N) {
            return onnx_imp_fail(c, NULL, EBM_ERR_UNSUPPORTED,
                                 "graph input '%s': dimension %d is symbolic; only dimension 0, the batch "
                                 "size, may be (and only with batch_symbolic)", name, i);
        }
    }
    return EBM_OK;
}

/* A bound value must fit the dims the file declares (symbolic ones match any size). */
static ebm_status check_bound_shape(onnx_imp_ctx *c, const Onnx__ValueInfoProto *vi, const ir_tensor *t)
{
    ir_shape want;
    if (!t || onnx_imp_file_shape(onnx_imp_tensor_type(vi), &want) != 0)
        return EBM_OK;   /* nothing declared */
    int ok = want.rank == t->shape.rank;
    for (int i = 0; ok && i < want.rank; i++)
        ok = want.d[i] < 0 || want.d[i] == t->shape.d[i];
    if (!ok) {
        char b1[64], b2[64];
        return onnx_imp_fail(c, NULL, EBM_ERR_SHAPE, "the value bound to graph input '%s' has shape %s, the model "
                             "declares %s", vi->name, ir_shape_str(&t->shape, b1, sizeof b1),
                             ir_shape_str(&want, b2, sizeof b2));
    }
    return EBM_OK;
}

/* Every binding must name a graph input that is not an initializer: a typo
 * would otherwise leave the input unbound and fail later, less clearly. */
static ebm_status check_bindings(onnx_imp_ctx *c)
{
    for (int i = 0; i < c->opt.n_bind; i++) {
        const char *name = c->opt.bind[i].name ? c->opt.bind[i].name : "";
        int found = 0;
        for (size_t k = 0; k < c->gp->n_input && !found; k++)
            found = strcmp(c->gp->input[k]->name, name) == 0;
        for (size_t k = 0; k < c->gp->n_initializer && found; k++)
            found = strcmp(c->gp->initializer[k]->name, name) != 0;
        if (!found)
            return onnx_imp_fail(c, NULL, EBM_ERR_INVALID, "a value is bound to '%s', which is not a graph input",
                                 name);
    }
    return EBM_OK;
}

static ebm_status bind_inputs(onnx_imp_ctx *c)
{
    ebm_status st0 = check_bindings(c);
    if (st0 != EBM_OK)
        return st0;
    for (size_t i = 0; i < c->gp->n_input; i++) {
        const Onnx__ValueInfoProto *vi = c->gp->input[i];
        if (val_find(c, vi->name))
            continue;   /* an initializer listed as an input too */
        onnx_imp_value *v = val_add(c, vi->name);
        if (!v)
            return EBM_ERR_NOMEM;
        const ir_tensor *bound = find_binding(c, vi->name);
        if (bound) {
            ebm_status st = check_bound_shape(c, vi, bound);
            if (st == EBM_OK)
                st = bind_static(c, v, bound);
            if (st != EBM_OK)
                return st;
            continue;
        }
        const Onnx__TypeProto__Tensor *tt = onnx_imp_tensor_type(vi);
        int32_t et = tt && tt->has_elem_type ? tt->elem_type : 0;
        if (et != ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT &&
            !(et == ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE && c->opt.double_inputs))
            return onnx_imp_fail(c, NULL, EBM_ERR_UNSUPPORTED,
                                 "graph input '%s' has element type %s; only float32 inputs can vary at run "
                                 "time (give a value for it when importing%s)", vi->name, onnx_imp_type_name(et),
                                 et == ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE ? ", or evaluate with --f64" : "");
        ir_shape s;
        ebm_status st = input_shape(c, vi, &s);
        if (st != EBM_OK)
            return st;
        if (set_dynamic(c, v, ir_add_input(c->g, vi->name, s, c->err)) < 0)
            return c->err->code;
    }
    return EBM_OK;
}

/* ---- stage 5: nodes ----------------------------------------------------------- */

/* Gives a message from a lower layer (ir builder, shape rules) the file and node. */
static void frame_error(onnx_imp_ctx *c, const onnx_imp_node *n)
{
    size_t ls = strlen(c->source), ll = strlen(n->label);
    const char *m = c->err->msg;
    if (strncmp(m, c->source, ls) == 0 && m[ls] == ':')
        return;
    if (strncmp(m, n->label, ll) == 0 && m[ll] == ':')
        ebm_error_prefix(c->err, "%s: node", c->source);
    else
        ebm_error_prefix(c->err, "%s: node %s", c->source, n->label);
}

static ebm_status lower_nodes(onnx_imp_ctx *c)
{
    for (size_t i = 0; i < c->gp->n_node; i++) {
        const Onnx__NodeProto *p = c->gp->node[i];
        char *label = node_label(p, i);
        if (!label)
            return nomem(c);
        onnx_imp_node n = {p, label, c->opset};
        c->err->code = EBM_OK;
        ebm_status st = has_view_input(c, &n) ? onnx_imp_lower_view(c, &n) : onnx_imp_lowering(node_op(p))(c, &n);
        if (st != EBM_OK) {
            if (c->err->code == EBM_OK)
                onnx_imp_fail(c, &n, st, "lowering failed");
            frame_error(c, &n);
        }
        free(label);
        if (st != EBM_OK)
            return st;
    }
    return EBM_OK;
}

/* ---- stage 6: graph outputs ---------------------------------------------------- */

static ebm_status bind_outputs(onnx_imp_ctx *c)
{
    for (size_t i = 0; i < c->gp->n_output; i++) {
        const char *name = c->gp->output[i]->name;
        onnx_imp_value *v = val_find(c, name);
        if (!v)
            return onnx_imp_fail(c, NULL, EBM_ERR_UNSUPPORTED,
                                 "graph output '%s' is an optional output that ebmc does not compute", name);
        int id = materialise(c, v, NULL, 0, 1);
        if (id < 0)
            return c->err->code;
        if (v->view.rank > 0) {
            char b[64];
            return onnx_imp_fail(c, NULL, EBM_ERR_SHAPE,
                                 "graph output '%s' merges the batch dimension N with other dimensions (it is "
                                 "%s in ebmc's layout); an output must keep N as a dimension of its own",
                                 name, ir_shape_str(&v->shape, b, sizeof b));
        }
        ebm_status st = ir_add_output(c->g, id, name, c->err);
        if (st != EBM_OK)
            return st;
    }
    return EBM_OK;
}

/* ---- entry points ------------------------------------------------------------ */

static ebm_status import_model(onnx_imp_ctx *c)
{
    ebm_status st = check_model(c);
    if (st == EBM_OK)
        st = copy_graph_fields(c);
    if (st == EBM_OK)
        st = load_initializers(c);
    if (st == EBM_OK)
        st = bind_inputs(c);
    if (st == EBM_OK)
        st = lower_nodes(c);
    if (st == EBM_OK)
        st = bind_outputs(c);
    return st;
}

ebm_status ir_onnx_import_buffer(const void *buf, size_t len, const char *label,
                                 const ir_import_options *opt, ir_graph **out, ebm_error *err)
{
    ebm_error local;
    if (!err)
        err = &local;
    err->code = EBM_OK;
    err->msg[0] = 0;
    *out = NULL;
    label = label ? label : "<memory>";
    if (len == 0)
        return ebm_fail(err, EBM_ERR_FORMAT, "%s: empty file", label);
    Onnx__ModelProto *m = onnx_imp_unpack_model(buf, len, label, err);
    if (!m)
        return err->code;
    onnx_imp_ctx c;
    memset(&c, 0, sizeof c);
    c.source = label;
    c.model = m;
    c.err = err;
    c.opt = opt ? *opt : (ir_import_options){.batch_symbolic = 1};
    c.g = ir_graph_new();
    ebm_status st = c.g ? import_model(&c) : nomem(&c);
    ctx_free(&c);
    onnx__model_proto__free_unpacked(m, NULL);
    if (st != EBM_OK) {
        ir_graph_free(c.g);
        return st;
    }
    *out = c.g;
    return EBM_OK;
}

ebm_status ir_onnx_import_file(const char *path, const ir_import_options *opt, ir_graph **out,
                               ebm_error *err)
{
    uint8_t *buf;
    size_t len;
    *out = NULL;
    ebm_status st = ir_read_file(path, &buf, &len, err);
    if (st != EBM_OK)
        return st;
    st = ir_onnx_import_buffer(buf, len, path, opt, out, err);
    free(buf);
    return st;
}

