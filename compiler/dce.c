/* dce.c — dead code elimination: keeps the nodes some graph output depends on.
 *
 * Graph inputs always stay (and keep their order), even when unused: they are
 * the model's interface, and callers pass one array per input.
 */
#include <stdlib.h>

#include "passes.h"

/* Marks what the outputs need.  Operands precede their users, so one backward
 * sweep sees every user before its operands. */
static ebm_status mark_live(const ir_graph *g, char *live, ebm_error *err)
{
    for (int j = 0; j < g->n_outputs; j++) {
        if (g->outputs[j] < 0 || g->outputs[j] >= g->n_nodes)
            return ebm_fail(err, EBM_ERR_INVALID, "dce: graph output %d refers to %%%d, not a node", j,
                            g->outputs[j]);
        live[g->outputs[j]] = 1;
    }
    for (int k = 0; k < g->n_inputs; k++)
        if (g->inputs[k] >= 0 && g->inputs[k] < g->n_nodes)
            live[g->inputs[k]] = 1;
    for (int i = g->n_nodes - 1; i >= 0; i--) {
        const ir_node *nd = &g->nodes[i];
        if (nd->op == IR_OP_INPUT)
            live[i] = 1;
        if (!live[i])
            continue;
        for (int k = 0; k < nd->n_in; k++) {
            if (nd->in[k] < 0 || nd->in[k] >= i) {
                char lb[256];
                return ebm_fail(err, EBM_ERR_INVALID, "dce: %s: operand %d refers to %%%d, not an earlier node",
                                ir_node_label(g, i, lb, sizeof lb), k, nd->in[k]);
            }
            live[nd->in[k]] = 1;
        }
    }
    return EBM_OK;
}

/* Drops the dead nodes of g in place and renumbers every reference; needs no
 * memory, so it cannot fail half-way. */
static void compact(ir_graph *g, const char *live, int *remap)
{
    int j = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        ir_node *nd = &g->nodes[i];
        if (!live[i]) {
            free(nd->name);
            free(nd->data);
            remap[i] = -1;
            continue;
        }
        for (int k = 0; k < nd->n_in; k++)
            nd->in[k] = remap[nd->in[k]];
        remap[i] = j;
        g->nodes[j++] = *nd;
    }
    g->n_nodes = j;
    for (int k = 0; k < g->n_inputs; k++)
        g->inputs[k] = remap[g->inputs[k]];
    for (int k = 0; k < g->n_outputs; k++)
        g->outputs[k] = remap[g->outputs[k]];
}

ebm_status ebmc_pass_dce(ir_graph *g, const ebmc_options *o, ebm_error *err)
{
    size_t n = g->n_nodes > 0 ? (size_t)g->n_nodes : 1;
    char *live = calloc(n, 1);
    int *remap = malloc(n * sizeof *remap);
    ir_graph *c = NULL;
    ebm_status st = EBM_OK;
    if (!live || !remap) {
        st = ebm_fail(err, EBM_ERR_NOMEM, "dce: out of memory");
        goto done;
    }
    if ((st = mark_live(g, live, err)))
        goto done;
    int dead = 0;
    for (int i = 0; i < g->n_nodes; i++)
        dead += !live[i];
    if (dead == 0)
        goto done;
    if (!(c = ir_graph_clone(g))) {
        st = ebm_fail(err, EBM_ERR_NOMEM, "dce: out of memory copying the graph");
        goto done;
    }
    compact(c, live, remap);
    ir_graph_replace(g, c);
    c = NULL;
done:
    ir_graph_free(c);
    free(live);
    free(remap);
    return st;
}
