/* verify.c — structural checks of a graph, run between passes in debug builds. */
#include <string.h>

#include "ir.h"

ebm_status ir_verify_node(const ir_graph *g, int id, ebm_error *err)
{
    if (id < 0 || id >= g->n_nodes)
        return ebm_fail(err, EBM_ERR_INTERNAL, "verify: no node %%%d", id);
    const ir_node *n = &g->nodes[id];
    char lb[256], b1[64], b2[64];
    if (n->op < 0 || n->op >= IR_OP_COUNT)
        return ebm_fail(err, EBM_ERR_INTERNAL, "verify: node %%%d has an invalid op %d", id, (int)n->op);
    const ir_op_info *info = ir_op_get(n->op);
    ir_node_label(g, id, lb, sizeof lb);
    if (info->arity >= 0 ? n->n_in != info->arity : (n->n_in < 1 || n->n_in > IR_MAX_OPERANDS))
        return ebm_fail(err, EBM_ERR_INTERNAL, "verify: %s has %d operands, %s takes %d", lb, n->n_in,
                        info->name, info->arity);
    for (int k = 0; k < n->n_in; k++)
        if (n->in[k] < 0 || n->in[k] >= id)
            return ebm_fail(err, EBM_ERR_INTERNAL, "verify: %s operand %d refers to %%%d, not an earlier node",
                            lb, k, n->in[k]);
    if (n->op == IR_OP_CONST) {
        if (!n->data && ir_shape_numel(&n->shape, 0) > 0)
            return ebm_fail(err, EBM_ERR_INTERNAL, "verify: %s has no data", lb);
        if (ir_shape_has_batch(&n->shape))
            return ebm_fail(err, EBM_ERR_INTERNAL, "verify: constant %s has a batch dimension", lb);
        return EBM_OK;
    }
    if (n->op == IR_OP_INPUT)
        return EBM_OK;
    ir_shape s;
    memset(&s, 0, sizeof s);
    ebm_status st = info->shape_rule(g, n->op, n->in, n->n_in, &n->attr, &s, err);
    if (st != EBM_OK) {
        ebm_error_prefix(err, "verify: %s", lb);
        return st;
    }
    if (!ir_shape_eq(&s, &n->shape))
        return ebm_fail(err, EBM_ERR_INTERNAL, "verify: %s stores shape %s but its rule gives %s", lb,
                        ir_shape_str(&n->shape, b1, sizeof b1), ir_shape_str(&s, b2, sizeof b2));
    return EBM_OK;
}

ebm_status ir_verify(const ir_graph *g, ebm_error *err)
{
    for (int i = 0; i < g->n_nodes; i++) {
        ebm_status st = ir_verify_node(g, i, err);
        if (st != EBM_OK)
            return st;
    }
    for (int i = 0; i < g->n_inputs; i++) {
        int id = g->inputs[i];
        if (id < 0 || id >= g->n_nodes || g->nodes[id].op != IR_OP_INPUT)
            return ebm_fail(err, EBM_ERR_INTERNAL, "verify: graph input %d is %%%d, not an input node", i, id);
    }
    for (int i = 0; i < g->n_outputs; i++)
        if (g->outputs[i] < 0 || g->outputs[i] >= g->n_nodes)
            return ebm_fail(err, EBM_ERR_INTERNAL, "verify: graph output %d refers to %%%d", i, g->outputs[i]);
    return EBM_OK;
}
