/* ir.c — graphs, nodes, the builder and the op table accessors. */
#include "ir.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "text.h"

/* ---- op table --------------------------------------------------------- */

#define IR_OP(NAME, text, arity, cls, kern, attr, rule, vjp, onnx, ex, expr, fexpr) \
    ebm_status rule(const ir_graph *, ir_op, const int *, int, const ir_attr *, ir_shape *, ebm_error *);
#include "ops.def"
#undef IR_OP

/* `#expr` is "0" exactly for the non-elementwise rows. */
#define EWISE(s) (!(sizeof(s) == 2 && (s)[0] == '0'))
static const ir_op_info op_table[IR_OP_COUNT] = {
#define IR_OP(NAME, text, arity, cls, kern, attr, rule, vjp, onnx, ex, expr, fexpr)                      \
    {text, arity, IR_FUSE_##cls, IR_KERNEL_##kern, IR_ATTR_##attr, rule, onnx, EWISE(#expr),            \
     EWISE(#expr) ? #expr : NULL, EWISE(#expr) ? #fexpr : NULL},
#include "ops.def"
#undef IR_OP
#undef EWISE
};

const ir_op_info *ir_op_get(ir_op op)
{
    return (op >= 0 && op < IR_OP_COUNT) ? &op_table[op] : NULL;
}

ir_op ir_op_from_name(const char *name)
{
    for (int i = 0; i < IR_OP_COUNT; i++)
        if (strcmp(op_table[i].name, name) == 0)
            return (ir_op)i;
    return IR_OP_COUNT;
}

/* ---- shapes ------------------------------------------------------------- */

ir_shape ir_shape_make(int rank, ...)
{
    ir_shape s;
    memset(&s, 0, sizeof s);
    if (rank < 0 || rank > IR_MAX_RANK)
        rank = 0;
    s.rank = rank;
    va_list ap;
    va_start(ap, rank);
    for (int i = 0; i < rank; i++)
        s.d[i] = va_arg(ap, int);
    va_end(ap);
    return s;
}

int ir_shape_eq(const ir_shape *a, const ir_shape *b)
{
    if (a->rank != b->rank)
        return 0;
    for (int i = 0; i < a->rank; i++)
        if (a->d[i] != b->d[i])
            return 0;
    return 1;
}

int ir_shape_has_batch(const ir_shape *s)
{
    for (int i = 0; i < s->rank; i++)
        if (s->d[i] == IR_DIM_N)
            return 1;
    return 0;
}

int64_t ir_shape_numel(const ir_shape *s, int64_t n)
{
    int64_t k = 1;
    for (int i = 0; i < s->rank; i++)
        k *= s->d[i] == IR_DIM_N ? n : s->d[i];
    return k;
}

char *ir_shape_str(const ir_shape *s, char *buf, size_t size)
{
    size_t at = 0;
    if (size == 0)
        return buf;
    buf[0] = 0;
    base_appendf(buf, size, &at, "[");
    for (int i = 0; i < s->rank; i++) {
        if (s->d[i] == IR_DIM_N)
            base_appendf(buf, size, &at, "%sN", i ? "," : "");
        else
            base_appendf(buf, size, &at, "%s%lld", i ? "," : "", (long long)s->d[i]);
    }
    base_appendf(buf, size, &at, "]");
    return buf;
}

/* ---- graphs ------------------------------------------------------------- */

ir_graph *ir_graph_new(void)
{
    return calloc(1, sizeof(ir_graph));
}

static void free_contents(ir_graph *g)
{
    for (int i = 0; i < g->n_nodes; i++) {
        free(g->nodes[i].name);
        free(g->nodes[i].data);
    }
    free(g->nodes);
    free(g->inputs);
    for (int i = 0; i < g->n_outputs; i++)
        free(g->output_names[i]);
    free(g->outputs);
    free(g->output_names);
    for (int i = 0; i < g->n_meta; i++) {
        free(g->meta[i].key);
        free(g->meta[i].value);
    }
    free(g->meta);
    for (int i = 0; i < g->n_opsets; i++)
        free(g->opsets[i].domain);
    free(g->opsets);
    free(g->producer);
    free(g->source);
}

void ir_graph_free(ir_graph *g)
{
    if (!g)
        return;
    free_contents(g);
    free(g);
}

void ir_graph_replace(ir_graph *dst, ir_graph *src)
{
    free_contents(dst);
    *dst = *src;
    free(src);
}

static char *dup_or_null(const char *s, int *fail)
{
    if (!s)
        return NULL;
    char *d = strdup(s);
    if (!d)
        *fail = 1;
    return d;
}

static void *dup_mem(const void *p, size_t n, int *fail)
{
    if (!p || n == 0)
        return NULL;
    void *d = malloc(n);
    if (!d)
        *fail = 1;
    else
        memcpy(d, p, n);
    return d;
}

ir_graph *ir_graph_clone(const ir_graph *g)
{
    ir_graph *c = ir_graph_new();
    int fail = 0;
    if (!c)
        return NULL;
    *c = *g;
    c->nodes = NULL;
    c->n_nodes = c->cap_nodes = 0;
    c->inputs = c->outputs = NULL;
    c->output_names = NULL;
    c->meta = NULL;
    c->opsets = NULL;
    c->n_inputs = c->n_outputs = c->n_meta = c->n_opsets = 0;
    c->producer = c->source = NULL;

    c->nodes = calloc(g->n_nodes ? (size_t)g->n_nodes : 1, sizeof(ir_node));
    c->inputs = calloc(g->n_inputs ? (size_t)g->n_inputs : 1, sizeof(int));
    c->outputs = calloc(g->n_outputs ? (size_t)g->n_outputs : 1, sizeof(int));
    c->output_names = calloc(g->n_outputs ? (size_t)g->n_outputs : 1, sizeof(char *));
    c->meta = calloc(g->n_meta ? (size_t)g->n_meta : 1, sizeof(ir_meta));
    c->opsets = calloc(g->n_opsets ? (size_t)g->n_opsets : 1, sizeof(ir_opset));
    if (!c->nodes || !c->inputs || !c->outputs || !c->output_names || !c->meta || !c->opsets) {
        ir_graph_free(c);
        return NULL;
    }
    c->cap_nodes = g->n_nodes ? g->n_nodes : 1;
    for (int i = 0; i < g->n_nodes; i++) {
        const ir_node *s = &g->nodes[i];
        ir_node *d = &c->nodes[i];
        *d = *s;
        d->name = dup_or_null(s->name, &fail);
        d->data = s->data ? dup_mem(s->data, (size_t)ir_shape_numel(&s->shape, 0) * sizeof(float), &fail)
                          : NULL;
        c->n_nodes = i + 1;
    }
    memcpy(c->inputs, g->inputs, (size_t)g->n_inputs * sizeof(int));
    c->n_inputs = g->n_inputs;
    for (int i = 0; i < g->n_outputs; i++) {
        c->outputs[i] = g->outputs[i];
        c->output_names[i] = dup_or_null(g->output_names[i], &fail);
        c->n_outputs = i + 1;
    }
    for (int i = 0; i < g->n_meta; i++) {
        c->meta[i].key = dup_or_null(g->meta[i].key, &fail);
        c->meta[i].value = dup_or_null(g->meta[i].value, &fail);
        c->n_meta = i + 1;
    }
    for (int i = 0; i < g->n_opsets; i++) {
        c->opsets[i].domain = dup_or_null(g->opsets[i].domain, &fail);
        c->opsets[i].version = g->opsets[i].version;
        c->n_opsets = i + 1;
    }
    c->producer = dup_or_null(g->producer, &fail);
    c->source = dup_or_null(g->source, &fail);
    if (fail) {
        ir_graph_free(c);
        return NULL;
    }
    return c;
}

ebm_status ir_graph_set_meta(ir_graph *g, const char *key, const char *value, ebm_error *err)
{
    for (int i = 0; i < g->n_meta; i++) {
        if (strcmp(g->meta[i].key, key) == 0) {
            char *v = strdup(value);
            if (!v)
                return ebm_fail(err, EBM_ERR_NOMEM, "out of memory setting metadata '%s'", key);
            free(g->meta[i].value);
            g->meta[i].value = v;
            return EBM_OK;
        }
    }
    ir_meta *m = realloc(g->meta, (size_t)(g->n_meta + 1) * sizeof *m);
    if (!m)
        return ebm_fail(err, EBM_ERR_NOMEM, "out of memory setting metadata '%s'", key);
    g->meta = m;
    m[g->n_meta].key = strdup(key);
    m[g->n_meta].value = strdup(value);
    if (!m[g->n_meta].key || !m[g->n_meta].value) {
        free(m[g->n_meta].key);
        free(m[g->n_meta].value);
        return ebm_fail(err, EBM_ERR_NOMEM, "out of memory setting metadata '%s'", key);
    }
    g->n_meta++;
    return EBM_OK;
}

const char *ir_graph_get_meta(const ir_graph *g, const char *key)
{
    for (int i = 0; i < g->n_meta; i++)
        if (strcmp(g->meta[i].key, key) == 0)
            return g->meta[i].value;
    return NULL;
}

const char *ir_node_label(const ir_graph *g, int id, char *buf, size_t size)
{
    if (id < 0 || id >= g->n_nodes) {
        snprintf(buf, size, "%%%d (no such node)", id);
        return buf;
    }
    const ir_node *n = &g->nodes[id];
    if (n->name)
        snprintf(buf, size, "%%%d %s \"%s\"", id, op_table[n->op].name, n->name);
    else
        snprintf(buf, size, "%%%d %s", id, op_table[n->op].name);
    return buf;
}

int64_t ir_graph_param_count(const ir_graph *g, int trainable_only)
{
    int64_t k = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        const ir_node *n = &g->nodes[i];
        unsigned want = trainable_only ? IR_NODE_TRAINABLE : IR_NODE_PARAM;
        if (n->op == IR_OP_CONST && (n->flags & want))
            k += ir_shape_numel(&n->shape, 0);
    }
    return k;
}

/* ---- builder ------------------------------------------------------------ */

static int grow_nodes(ir_graph *g, ebm_error *err)
{
    if (g->n_nodes < g->cap_nodes)
        return 0;
    int cap = g->cap_nodes ? g->cap_nodes * 2 : 64;
    ir_node *nn = realloc(g->nodes, (size_t)cap * sizeof *nn);
    if (!nn) {
        ebm_fail(err, EBM_ERR_NOMEM, "out of memory growing the graph to %d nodes", cap);
        return -1;
    }
    g->nodes = nn;
    g->cap_nodes = cap;
    return 0;
}

/* Appends a node whose shape is already known; takes ownership of data. */
static int append_node(ir_graph *g, ir_op op, const int *in, int n_in, const ir_attr *attr,
                       const ir_shape *shape, const char *name, float *data, unsigned flags,
                       ebm_error *err)
{
    char *nm = NULL;
    if (name && !(nm = strdup(name))) {
        free(data);
        ebm_fail(err, EBM_ERR_NOMEM, "out of memory");
        return -1;
    }
    if (grow_nodes(g, err)) {
        free(nm);
        free(data);
        return -1;
    }
    ir_node *n = &g->nodes[g->n_nodes];
    memset(n, 0, sizeof *n);
    n->op = op;
    n->n_in = n_in;
    for (int i = 0; i < n_in; i++)
        n->in[i] = in[i];
    if (attr)
        n->attr = *attr;
    n->shape = *shape;
    n->flags = flags;
    n->name = nm;
    n->data = data;
    return g->n_nodes++;
}

int ir_add_node(ir_graph *g, ir_op op, const int *in, int n_in, const ir_attr *attr,
                const char *name, ebm_error *err)
{
    if (op < 0 || op >= IR_OP_COUNT) {
        ebm_fail(err, EBM_ERR_INTERNAL, "ir_add_node: bad op %d", (int)op);
        return -1;
    }
    for (int i = 0; i < n_in; i++)
        if (in[i] < 0)
            return -1;   /* an operand failed earlier: keep its message */
    const ir_op_info *info = &op_table[op];
    if (info->arity == 0) {
        ebm_fail(err, EBM_ERR_INTERNAL, "ir_add_node: use ir_add_input/ir_add_const for %s", info->name);
        return -1;
    }
    if ((info->arity > 0 && n_in != info->arity) || n_in < 1 || n_in > IR_MAX_OPERANDS) {
        ebm_fail(err, EBM_ERR_INTERNAL, "%s%s%s: %s takes %d operands, got %d", name ? "\"" : "",
                 name ? name : "", name ? "\"" : "", info->name, info->arity, n_in);
        return -1;
    }
    for (int i = 0; i < n_in; i++) {
        if (in[i] >= g->n_nodes) {
            ebm_fail(err, EBM_ERR_INTERNAL, "%s: operand %%%d does not exist", info->name, in[i]);
            return -1;
        }
    }
    ir_attr zero;
    memset(&zero, 0, sizeof zero);
    ir_shape shape;
    memset(&shape, 0, sizeof shape);
    if (info->shape_rule(g, op, in, n_in, attr ? attr : &zero, &shape, err) != EBM_OK) {
        if (name)
            ebm_error_prefix(err, "%s", name);
        return -1;
    }
    return append_node(g, op, in, n_in, attr ? attr : &zero, &shape, name, NULL, 0, err);
}

static int push_id(int **arr, int *n, int id, ebm_error *err)
{
    int *a = realloc(*arr, (size_t)(*n + 1) * sizeof *a);
    if (!a) {
        ebm_fail(err, EBM_ERR_NOMEM, "out of memory");
        return -1;
    }
    a[(*n)++] = id;
    *arr = a;
    return 0;
}

static int check_shape(const ir_shape *s, int allow_batch, const char *what, const char *name,
                       ebm_error *err)
{
    if (s->rank < 0 || s->rank > IR_MAX_RANK) {
        ebm_fail(err, EBM_ERR_UNSUPPORTED, "%s '%s': rank %d exceeds ebmc's maximum of %d", what,
                 name ? name : "", s->rank, IR_MAX_RANK);
        return -1;
    }
    for (int i = 0; i < s->rank; i++) {
        if (s->d[i] < 0 && !(allow_batch && s->d[i] == IR_DIM_N)) {
            ebm_fail(err, EBM_ERR_SHAPE, "%s '%s': dimension %d is %lld", what, name ? name : "", i,
                     (long long)s->d[i]);
            return -1;
        }
    }
    return 0;
}

int ir_add_input(ir_graph *g, const char *name, ir_shape shape, ebm_error *err)
{
    if (check_shape(&shape, 1, "input", name, err))
        return -1;
    int id = append_node(g, IR_OP_INPUT, NULL, 0, NULL, &shape, name, NULL, 0, err);
    if (id >= 0 && push_id(&g->inputs, &g->n_inputs, id, err)) {
        free(g->nodes[id].name);
        g->n_nodes--;
        return -1;
    }
    return id;
}

int ir_add_const(ir_graph *g, const char *name, ir_shape shape, const float *data, unsigned flags,
                 ebm_error *err)
{
    if (check_shape(&shape, 0, "constant", name, err))
        return -1;
    int64_t n = ir_shape_numel(&shape, 0);
    float *copy = malloc(n > 0 ? (size_t)n * sizeof(float) : 1);
    if (!copy) {
        ebm_fail(err, EBM_ERR_NOMEM, "out of memory for constant '%s' (%lld floats)",
                 name ? name : "", (long long)n);
        return -1;
    }
    if (n > 0)
        memcpy(copy, data, (size_t)n * sizeof(float));
    return append_node(g, IR_OP_CONST, NULL, 0, NULL, &shape, name, copy, flags, err);
}

int ir_add_scalar(ir_graph *g, double value, ebm_error *err)
{
    float v = (float)value;
    ir_shape s;
    memset(&s, 0, sizeof s);
    int id = ir_add_const(g, NULL, s, &v, IR_NODE_EXACT, err);
    if (id >= 0)
        g->nodes[id].attr.f = value;
    return id;
}

ebm_status ir_add_output(ir_graph *g, int value, const char *name, ebm_error *err)
{
    if (value < 0)
        return err && err->code ? err->code : EBM_ERR_INTERNAL;
    if (value >= g->n_nodes)
        return ebm_fail(err, EBM_ERR_INTERNAL, "output '%s': no value %%%d", name ? name : "", value);
    char *nm = name ? strdup(name) : NULL;
    char **names = realloc(g->output_names, (size_t)(g->n_outputs + 1) * sizeof *names);
    if (names)
        g->output_names = names;
    if ((name && !nm) || !names) {
        free(nm);
        return ebm_fail(err, EBM_ERR_NOMEM, "out of memory");
    }
    names[g->n_outputs] = nm;
    int n = g->n_outputs;
    if (push_id(&g->outputs, &n, value, err)) {
        free(nm);
        return EBM_ERR_NOMEM;
    }
    g->n_outputs = n;
    return EBM_OK;
}

int ir_unary(ir_graph *g, ir_op op, int x, const char *name, ebm_error *err)
{
    return ir_add_node(g, op, &x, 1, NULL, name, err);
}

int ir_pows(ir_graph *g, int x, double p, const char *name, ebm_error *err)
{
    ir_attr a;
    memset(&a, 0, sizeof a);
    a.f = p;
    return ir_add_node(g, IR_OP_POWS, &x, 1, &a, name, err);
}

int ir_binary(ir_graph *g, ir_op op, int a, int b, const char *name, ebm_error *err)
{
    int in[2] = {a, b};
    return ir_add_node(g, op, in, 2, NULL, name, err);
}

int ir_select(ir_graph *g, int cond, int a, int b, const char *name, ebm_error *err)
{
    int in[3] = {cond, a, b};
    return ir_add_node(g, IR_OP_SELECT, in, 3, NULL, name, err);
}

int ir_reduce(ir_graph *g, ir_op op, int x, uint32_t axes, const char *name, ebm_error *err)
{
    ir_attr a;
    memset(&a, 0, sizeof a);
    a.axes = axes;
    return ir_add_node(g, op, &x, 1, &a, name, err);
}

int ir_matmul(ir_graph *g, int a, int b, const char *name, ebm_error *err)
{
    return ir_binary(g, IR_OP_MATMUL, a, b, name, err);
}

int ir_reshape(ir_graph *g, int x, ir_shape shape, const char *name, ebm_error *err)
{
    if (x >= 0 && x < g->n_nodes && ir_shape_eq(&g->nodes[x].shape, &shape))
        return x;   /* a no-op reshape adds nothing */
    ir_attr a;
    memset(&a, 0, sizeof a);
    a.shape = shape;
    return ir_add_node(g, IR_OP_RESHAPE, &x, 1, &a, name, err);
}

int ir_broadcast_to(ir_graph *g, int x, ir_shape shape, const char *name, ebm_error *err)
{
    if (x >= 0 && x < g->n_nodes && ir_shape_eq(&g->nodes[x].shape, &shape))
        return x;
    ir_attr a;
    memset(&a, 0, sizeof a);
    a.shape = shape;
    return ir_add_node(g, IR_OP_BROADCAST, &x, 1, &a, name, err);
}

int ir_transpose(ir_graph *g, int x, const int *perm, const char *name, ebm_error *err)
{
    ir_attr a;
    memset(&a, 0, sizeof a);
    if (x >= 0 && x < g->n_nodes) {
        int r = g->nodes[x].shape.rank, identity = 1;
        for (int i = 0; i < r && i < IR_MAX_RANK; i++) {
            a.perm[i] = perm[i];
            identity &= perm[i] == i;
        }
        if (identity)
            return x;
    }
    return ir_add_node(g, IR_OP_TRANSPOSE, &x, 1, &a, name, err);
}

int ir_concat(ir_graph *g, const int *xs, int n, int axis, const char *name, ebm_error *err)
{
    if (n == 1)
        return xs[0];
    ir_attr a;
    memset(&a, 0, sizeof a);
    a.axis = axis;
    if (n <= IR_MAX_OPERANDS)
        return ir_add_node(g, IR_OP_CONCAT, xs, n, &a, name, err);
    /* Too many operands for one node: concatenate halves, then the two. */
    int h = n / 2;
    int parts[2] = {ir_concat(g, xs, h, axis, name, err), ir_concat(g, xs + h, n - h, axis, name, err)};
    return ir_add_node(g, IR_OP_CONCAT, parts, 2, &a, name, err);
}
