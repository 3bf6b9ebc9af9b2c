/* fold.c — constant folding: a node computed only from non-parameter
 * constants becomes a constant holding its value (evaluated in float32 by the
 * reference executor, as the compiled model would), then DCE drops the
 * constants nobody uses any more.
 *
 * PARAM constants are never folded through: training rewrites them, so values
 * derived from them must stay computed.
 */
#include <stdlib.h>
#include <string.h>

#include "exec.h"
#include "passes.h"

/* Folding must not turn a small constant into a huge one (a scalar broadcast
 * to a big activation shape is cheaper to compute than to store): a folded
 * result may exceed its operands' total size only up to this many elements. */
#define FOLD_FREE_ELEMENTS (1 << 16)

static int is_plain_const(const ir_graph *g, int id)
{
    const ir_node *nd = &g->nodes[id];
    return nd->op == IR_OP_CONST && !(nd->flags & IR_NODE_PARAM);
}

static int foldable(const ir_graph *g, int id)
{
    const ir_node *nd = &g->nodes[id];
    if (nd->op == IR_OP_INPUT || nd->op == IR_OP_CONST || ir_shape_has_batch(&nd->shape))
        return 0;
    int64_t operand_elems = 0;
    for (int k = 0; k < nd->n_in; k++) {
        if (nd->in[k] < 0 || nd->in[k] >= id || !is_plain_const(g, nd->in[k]))
            return 0;
        operand_elems += ir_shape_numel(&g->nodes[nd->in[k]].shape, 0);
    }
    int64_t elems = ir_shape_numel(&nd->shape, 0);
    return elems <= operand_elems || elems <= FOLD_FREE_ELEMENTS;
}

/* Evaluates node id of g and turns it into a CONST in place (its name stays:
 * it tells where the constant came from). */
static ebm_status fold_node(ir_graph *g, int id, ebm_error *err)
{
    ir_node *nd = &g->nodes[id];
    int64_t elems = ir_shape_numel(&nd->shape, 0);
    float *data = malloc(elems > 0 ? (size_t)elems * sizeof *data : 1);
    if (!data)
        return ebm_fail(err, EBM_ERR_NOMEM, "fold_constants: out of memory for %lld values", (long long)elems);
    const void *in[IR_MAX_OPERANDS];
    for (int k = 0; k < nd->n_in; k++)
        in[k] = g->nodes[nd->in[k]].data;
    ebm_status st = ebmc_exec_node(g, id, 0, EBMC_F32, in, data, err);
    if (st) {
        free(data);
        return st;
    }
    nd->op = IR_OP_CONST;
    nd->n_in = 0;
    memset(nd->in, 0, sizeof nd->in);
    memset(&nd->attr, 0, sizeof nd->attr);
    nd->flags = 0;
    nd->data = data;
    return EBM_OK;
}

ebm_status ebmc_pass_fold_constants(ir_graph *g, const ebmc_options *o, ebm_error *err)
{
    ir_graph *c = ir_graph_clone(g);
    if (!c)
        return ebm_fail(err, EBM_ERR_NOMEM, "fold_constants: out of memory copying the graph");
    int folded = 0;
    ebm_status st = EBM_OK;
    /* in node order, so a chain folds in one sweep */
    for (int id = 0; id < c->n_nodes && !st; id++)
        if (foldable(c, id) && !(st = fold_node(c, id, err)))
            folded++;
    if (!st && folded) {
        st = ebmc_pass_dce(c, o, err);
        if (!st) {
            ir_graph_replace(g, c);
            c = NULL;
        }
    }
    ir_graph_free(c);
    return st;
}
