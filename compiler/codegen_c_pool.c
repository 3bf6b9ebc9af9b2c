/* codegen_c_pool.c — pooling kernels (max, average, their gradients, and the
 * max gather of the second derivative): calls of the ebmk_*pool helpers
 * (codegen_c_helpers.c) with the window's geometry as a constant.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "codegen_c_nest.h"

void ebmc_emit_pool(ebmc_buf *b, const ebmc_cg_program *p, int id)
{
    const ir_node *nd = &p->g->nodes[id];
    ir_op op = nd->op;
    const ir_pool_attr *a = &nd->attr.pool;
    int fwd = op == IR_OP_MAXPOOL2D || op == IR_OP_AVGPOOL2D || op == IR_OP_MAXPOOL2D_GATHER;
    const ir_shape *xs = op == IR_OP_AVGPOOL2D_BWD ? &nd->shape : &p->g->nodes[nd->in[0]].shape;
    const ir_shape *ys = fwd ? &nd->shape : &p->g->nodes[nd->in[nd->n_in - 1]].shape;
    char planes[128];
    p_str(p_mul(p_dim(xs->d[0]), p_dim(xs->d[1])), planes, sizeof planes);
    ebmc_buf_printf(b,
                    "    static const ebmk_pool geom = {%lld, %lld, %lld, %lld, %lld, %lld, %lld, %lld, %lld, %lld, "
                    "%lld, %lld, %lld, %lld, %d};\n",
                    (long long)xs->d[2], (long long)xs->d[3], (long long)ys->d[2], (long long)ys->d[3],
                    (long long)a->kernel[0], (long long)a->kernel[1], (long long)a->stride[0],
                    (long long)a->stride[1], (long long)a->dilation[0], (long long)a->dilation[1],
                    (long long)a->pad[0], (long long)a->pad[1], (long long)a->pad[2], (long long)a->pad[3],
                    a->count_include_pad ? 1 : 0);
    switch (op) {
    case IR_OP_MAXPOOL2D:
        ebmc_buf_printf(b, "    ebmk_maxpool(&geom, %s, in0, NULL, out);\n", planes);
        break;
    case IR_OP_MAXPOOL2D_GATHER:
        ebmc_buf_printf(b, "    ebmk_maxpool(&geom, %s, in0, in1, out);\n", planes);
        break;
    case IR_OP_MAXPOOL2D_BWD:
        ebmc_buf_printf(b, "    ebmk_maxpool_bwd(&geom, %s, in0, in1, out);\n", planes);
        break;
    case IR_OP_AVGPOOL2D:
        ebmc_buf_printf(b, "    ebmk_avgpool(&geom, %s, in0, out);\n", planes);
        break;
    default:
        ebmc_buf_printf(b, "    ebmk_avgpool_bwd(&geom, %s, in0, out);\n", planes);
        break;
    }
}
