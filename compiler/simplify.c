/* simplify.c — algebraic identities and common-subexpression elimination,
 * then DCE.  Run after autodiff, whose rules emit many small repeated pieces
 * (the same sigmoid(x), the same transpose of a weight, scalar constants).
 *
 * The graph is rebuilt node by node into a fresh copy; each node's operands
 * are first renamed to their representatives, then the node is either
 * replaced by an operand (x*1, x+0, x-0, x/1, -(-x), a reshape to the same
 * shape), merged with an identical earlier node (same op, operands and
 * attributes; for constants, same shape and data), or copied.  Two
 * transposes in a row become one (or none); a product with a column of ones
 * becomes a broadcast.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "passes.h"

typedef struct cse_table {
    int *slot;      /* new node ids, -1 = empty */
    size_t cap;     /* power of two */
} cse_table;

static uint64_t node_hash(const ir_node *n)
{
    uint64_t h = BASE_FNV1A_INIT;
    h = base_fnv1a(h, &n->op, sizeof n->op);
    h = base_fnv1a(h, &n->n_in, sizeof n->n_in);
    h = base_fnv1a(h, n->in, (size_t)n->n_in * sizeof n->in[0]);
    h = base_fnv1a(h, &n->attr, sizeof n->attr);
    if (n->op == IR_OP_CONST) {
        h = base_fnv1a(h, &n->shape, sizeof n->shape);
        h = base_fnv1a(h, n->data, (size_t)ir_shape_numel(&n->shape, 0) * sizeof(float));
    }
    return h;
}

static int node_same(const ir_node *a, const ir_node *b)
{
    if (a->op != b->op || a->n_in != b->n_in || memcmp(a->in, b->in, (size_t)a->n_in * sizeof a->in[0]) ||
        memcmp(&a->attr, &b->attr, sizeof a->attr))
        return 0;
    if (a->op == IR_OP_CONST)
        return ir_shape_eq(&a->shape, &b->shape) && a->flags == b->flags &&
               !memcmp(a->data, b->data, (size_t)ir_shape_numel(&a->shape, 0) * sizeof(float));
    return 1;
}

/* Finds an equal node among those already in the table, or the empty slot. */
static size_t cse_find(const cse_table *t, const ir_graph *g, const ir_node *n, int *found)
{
    size_t i = node_hash(n) & (t->cap - 1);
    while (t->slot[i] >= 0) {
        if (node_same(&g->nodes[t->slot[i]], n)) {
            *found = t->slot[i];
            return i;
        }
        i = (i + 1) & (t->cap - 1);
    }
    *found = -1;
    return i;
}

/* Every element of a non-parameter constant equals v (a parameter that is 0
 * today is trained tomorrow). */
static int const_all(const ir_graph *g, int id, float v)
{
    const ir_node *n = &g->nodes[id];
    if (n->op != IR_OP_CONST || (n->flags & IR_NODE_PARAM))
        return 0;
    int64_t k = ir_shape_numel(&n->shape, 0);
    for (int64_t i = 0; i < k; i++)
        if (n->data[i] != v)
            return 0;
    return 1;
}

/* An operand that the node (with renamed operands `in` and result shape `s`)
 * equals, or -1. */
static int identity_of(const ir_graph *c, const ir_node *n, const int *in, const ir_shape *s)
{
#define SAME_SHAPE(v) ir_shape_eq(&c->nodes[v].shape, s)
    switch (n->op) {
    case IR_OP_MUL:
        if (const_all(c, in[1], 1) && SAME_SHAPE(in[0]))
            return in[0];
        if (const_all(c, in[0], 1) && SAME_SHAPE(in[1]))
            return in[1];
        break;
    case IR_OP_ADD:
        if (const_all(c, in[1], 0) && SAME_SHAPE(in[0]))
            return in[0];
        if (const_all(c, in[0], 0) && SAME_SHAPE(in[1]))
            return in[1];
        break;
    case IR_OP_SUB:
        if (const_all(c, in[1], 0) && SAME_SHAPE(in[0]))
            return in[0];
        break;
    case IR_OP_DIV:
        if (const_all(c, in[1], 1) && SAME_SHAPE(in[0]))
            return in[0];
        break;
    case IR_OP_NEG:
        if (c->nodes[in[0]].op == IR_OP_NEG)
            return c->nodes[in[0]].in[0];
        break;
    case IR_OP_RESHAPE:
    case IR_OP_BROADCAST:
        if (SAME_SHAPE(in[0]))
            return in[0];
        break;
    default:
        break;
    }
    return -1;
#undef SAME_SHAPE
}

/* matmul(ones [N,1], b [1,M]) = b broadcast to [N,M], exactly: reverse mode
 * seeds the backward pass of a last linear layer with this outer product,
 * and as a broadcast it fuses into its readers instead of being a product
 * written out per sample.  The ones may come through reshapes and
 * broadcasts of a constant. */
static int outer_with_ones(ir_graph *c, const ir_node *n, const int *in, ebm_error *err)
{
    const ir_shape *a = &c->nodes[in[0]].shape, *b = &c->nodes[in[1]].shape;
    if (n->op != IR_OP_MATMUL || a->rank != 2 || b->rank != 2 || a->d[1] != 1 || b->d[0] != 1)
        return -2;
    int v = in[0];
    while (c->nodes[v].op == IR_OP_RESHAPE || c->nodes[v].op == IR_OP_BROADCAST)
        v = c->nodes[v].in[0];
    if (!const_all(c, v, 1))
        return -2;
    return ir_broadcast_to(c, in[1], n->shape, n->name, err);
}

/* g x + (g y) z = g (x + y z), all of one shape: reverse mode writes the
 * backward of x * f(x) this way (SiLU: g sigma + (g x) sigma (1 - sigma)).
 * Factored, the part without g depends only on forward values and fuses into
 * the forward pass's loop, which then stores one array for the backward
 * pass instead of three.  (Not bitwise the same: one rounding fewer.) */
static int factor_common(ir_graph *c, const ir_node *n, const int *in, ebm_error *err)
{
    if (n->op != IR_OP_ADD)
        return -2;
    for (int s = 0; s < 2; s++) {
        const ir_node *P = &c->nodes[in[s]], *Q = &c->nodes[in[1 - s]];
        if (P->op != IR_OP_MUL || Q->op != IR_OP_MUL)
            continue;
        for (int qi = 0; qi < 2; qi++) {
            const ir_node *R = &c->nodes[Q->in[qi]];
            if (R->op != IR_OP_MUL)
                continue;
            for (int pi = 0; pi < 2; pi++)
                for (int ri = 0; ri < 2; ri++) {
                    int g = P->in[pi], x = P->in[1 - pi], y = R->in[1 - ri], z = Q->in[1 - qi];
                    if (R->in[ri] != g || !ir_shape_eq(&c->nodes[g].shape, &n->shape) ||
                        !ir_shape_eq(&c->nodes[x].shape, &n->shape) || !ir_shape_eq(&c->nodes[y].shape, &n->shape) ||
                        !ir_shape_eq(&c->nodes[z].shape, &n->shape))
                        continue;
                    int yz = ir_binary(c, IR_OP_MUL, y, z, n->name, err);
                    int sum = yz < 0 ? -1 : ir_binary(c, IR_OP_ADD, x, yz, n->name, err);
                    return sum < 0 ? -1 : ir_binary(c, IR_OP_MUL, g, sum, n->name, err);
                }
        }
    }
    return -2;
}

/* A copy of g's graph-level fields with no nodes, inputs or outputs. */
static ir_graph *empty_like(const ir_graph *g)
{
    ir_graph *c = ir_graph_clone(g);
    if (!c)
        return NULL;
    for (int i = 0; i < c->n_nodes; i++) {
        free(c->nodes[i].name);
        free(c->nodes[i].data);
    }
    for (int i = 0; i < c->n_outputs; i++)
        free(c->output_names[i]);
    c->n_nodes = c->n_inputs = c->n_outputs = 0;
    return c;
}

/* Rebuilds node i of g into c (or finds its representative); -1 on error. */
static int rebuild(ir_graph *c, const ir_graph *g, int i, const int *map, cse_table *t, ebm_error *err)
{
    const ir_node *n = &g->nodes[i];
    ir_node probe = *n;
    for (int k = 0; k < n->n_in; k++)
        probe.in[k] = map[n->in[k]];
    if (n->op == IR_OP_INPUT)
        return -1;   /* inputs are added first, in order */
    if (n->op == IR_OP_TRANSPOSE && c->nodes[probe.in[0]].op == IR_OP_TRANSPOSE) {
        /* transpose(transpose(x, p), q) = transpose(x, p o q) */
        const ir_node *inner = &c->nodes[probe.in[0]];
        int identity = 1;
        for (int i = 0; i < n->shape.rank; i++) {
            probe.attr.perm[i] = inner->attr.perm[n->attr.perm[i]];
            identity &= probe.attr.perm[i] == i;
        }
        probe.in[0] = inner->in[0];
        if (identity)
            return probe.in[0];
    }
    if (n->op != IR_OP_CONST) {
        int same = identity_of(c, n, probe.in, &n->shape);
        if (same >= 0)
            return same;
        int outer = outer_with_ones(c, n, probe.in, err);
        if (outer != -2)
            return outer;
        int factored = factor_common(c, n, probe.in, err);
        if (factored != -2)
            return factored;
    }
    int found;
    int cse = !(n->op == IR_OP_CONST && (n->flags & IR_NODE_PARAM));   /* parameters stay distinct */
    size_t at = cse ? cse_find(t, c, &probe, &found) : 0;
    if (cse && found >= 0)
        return found;
    int id = n->op == IR_OP_CONST ? ir_add_const(c, n->name, n->shape, n->data, n->flags, err)
                                  : ir_add_node(c, n->op, probe.in, n->n_in, &probe.attr, n->name, err);
    if (id >= 0 && n->op == IR_OP_CONST)
        c->nodes[id].attr = n->attr;   /* e.g. the exact value of an IR_NODE_EXACT scalar */
    if (id >= 0 && cse)
        t->slot[at] = id;
    return id;
}

ebm_status ebmc_pass_simplify(ir_graph *g, const ebmc_options *o, ebm_error *err)
{
    ir_graph *c = empty_like(g);
    int *map = malloc(((size_t)g->n_nodes + 1) * sizeof *map);
    cse_table t = {NULL, 64};
    while (t.cap < 2 * (size_t)g->n_nodes + 2)
        t.cap *= 2;
    t.slot = malloc(t.cap * sizeof *t.slot);
    ebm_status st = EBM_OK;
    if (!c || !map || !t.slot) {
        st = ebm_fail(err, EBM_ERR_NOMEM, "simplify: out of memory");
        goto done;
    }
    memset(t.slot, 0xff, t.cap * sizeof *t.slot);
    for (int i = 0; i < g->n_nodes; i++)
        map[i] = -1;
    for (int k = 0; k < g->n_inputs && st == EBM_OK; k++) {
        const ir_node *in = &g->nodes[g->inputs[k]];
        map[g->inputs[k]] = ir_add_input(c, in->name, in->shape, err);
        if (map[g->inputs[k]] < 0)
            st = err ? err->code : EBM_ERR_NOMEM;
    }
    for (int i = 0; i < g->n_nodes && st == EBM_OK; i++) {
        if (g->nodes[i].op == IR_OP_INPUT)
            continue;
        if ((map[i] = rebuild(c, g, i, map, &t, err)) < 0)
            st = err ? err->code : EBM_ERR_INTERNAL;
    }
    for (int k = 0; k < g->n_outputs && st == EBM_OK; k++)
        st = ir_add_output(c, map[g->outputs[k]], g->output_names[k], err);
    if (st == EBM_OK)
        st = ebmc_pass_dce(c, o, err);
    if (st)
        goto done;
    ir_graph_replace(g, c);
    c = NULL;
done:
    ir_graph_free(c);
    free(map);
    free(t.slot);
    return st;
}
