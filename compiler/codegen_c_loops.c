/* codegen_c_loops.c — kernels that are one loop nest: reductions (sum, max;
 * accumulated in float, a contiguous innermost run through a local
 * accumulator the compiler may split into vector lanes) and the movement ops
 * (transpose, broadcast, slice and its gradient, pad, concat).
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "codegen_c_nest.h"

static void sum_body(ebmc_buf *b, const char idx[][IDX_MAX], const char *ind, const void *ctx)
{
    ebmc_buf_printf(b, "%sout[%s] += in0[%s];\n", ind, idx[0], idx[1]);
}

/* A NaN anywhere makes the max NaN (as in the executor). */
static void max_body(ebmc_buf *b, const char idx[][IDX_MAX], const char *ind, const void *ctx)
{
    ebmc_buf_printf(b, "%sconst float v = in0[%s];\n%sif (v > out[%s] || isnan(v))\n%s    out[%s] = v;\n", ind,
                    idx[1], ind, idx[0], ind, idx[0]);
}

/* A sum over a contiguous innermost axis of length `len`: a local
 * accumulator the C compiler may split into vector lanes (the order of the
 * additions then depends only on the axis length, never on the batch). */
static void sum_run_body(ebmc_buf *b, const char idx[][IDX_MAX], const char *ind, const void *ctx)
{
    ebmc_buf_printf(b,
                    "%sfloat acc = 0.0f;\n%s#pragma omp simd reduction(+ : acc)\n"
                    "%sfor (int64_t k = 0; k < %s; k++)\n%s    acc += in0[%s + k];\n%sout[%s] += acc;\n",
                    ind, ind, ind, (const char *)ctx, ind, idx[1], ind, idx[0]);
}

void ebmc_emit_reduce(ebmc_buf *b, const ebmc_cg_program *p, int id)
{
    const ir_node *nd = &p->g->nodes[id];
    pshape out = ps_of(&nd->shape);
    int is_max = nd->op == IR_OP_RMAX;
    ebmc_emit_fill(b, "out", ps_numel(&out), is_max ? "-INFINITY" : "0.0f", 1);
    nest ns;
    memset(&ns, 0, sizeof ns);
    ns.space = ps_of(&p->g->nodes[nd->in[0]].shape);
    ns.nv = 2;
    ns.v[0] = v_broadcast(&out, &ns.space);
    ns.v[1] = v_contiguous(&ns.space);
    ebmc_nest_simplify(&ns);
    int r = ns.space.rank;
    if (!is_max && r > 0 && p_is(ns.v[0].stride[r - 1], 0) && p_is(ns.v[1].stride[r - 1], 1)) {
        char len[256];
        p_str(ns.space.d[r - 1], len, sizeof len);
        ns.space.rank--;
        ebmc_nest_emit(b, &ns, 1, sum_run_body, len);
        return;
    }
    ebmc_nest_emit(b, &ns, 1, is_max ? max_body : sum_body, NULL);
}

typedef struct copy_ctx {
    int src;   /* operand index */
} copy_ctx;

static void copy_body(ebmc_buf *b, const char idx[][IDX_MAX], const char *ind, const void *ctx)
{
    ebmc_buf_printf(b, "%sout[%s] = in%d[%s];\n", ind, idx[0], ((const copy_ctx *)ctx)->src, idx[1]);
}

/* out[dst(i)] = in<src>[srcv(i)] over the index space. */
static void emit_copy(ebmc_buf *b, const pshape *space, pview dst, pview src, int operand)
{
    nest ns;
    memset(&ns, 0, sizeof ns);
    ns.space = *space;
    ns.nv = 2;
    ns.v[0] = dst;
    ns.v[1] = src;
    ebmc_nest_simplify(&ns);
    copy_ctx c = {operand};
    ebmc_nest_emit(b, &ns, 1, copy_body, &c);
}

void ebmc_emit_movement(ebmc_buf *b, const ebmc_cg_program *p, int id)
{
    const ir_node *nd = &p->g->nodes[id];
    const ir_attr *a = &nd->attr;
    const ir_shape *in0 = &p->g->nodes[nd->in[0]].shape;
    pshape out = ps_of(&nd->shape), src = ps_of(in0);
    char val[64];
    int64_t at[IR_MAX_RANK] = {0};
    switch (nd->op) {
    case IR_OP_TRANSPOSE:
        emit_copy(b, &out, v_contiguous(&out), v_transpose(&src, a->perm, out.rank), 0);
        break;
    case IR_OP_BROADCAST:
        emit_copy(b, &out, v_contiguous(&out), v_broadcast(&src, &out), 0);
        break;
    case IR_OP_SLICE:
        emit_copy(b, &out, v_contiguous(&out), v_slice(in0, &a->slice), 0);
        break;
    case IR_OP_SLICE_BWD:
        ebmc_emit_fill(b, "out", ps_numel(&out), "0.0f", 1);
        emit_copy(b, &src, v_slice(&nd->shape, &a->slice), v_contiguous(&src), 0);
        break;
    case IR_OP_PAD:
        ebmc_float_literal((float)a->pad.value, val, sizeof val);
        ebmc_emit_fill(b, "out", ps_numel(&out), val, 1);
        emit_copy(b, &src, v_placement(&out, a->pad.begin), v_contiguous(&src), 0);
        break;
    default:   /* CONCAT */
        for (int k = 0; k < nd->n_in; k++) {
            pshape in = ps_of(&p->g->nodes[nd->in[k]].shape);
            emit_copy(b, &in, v_placement(&out, at), v_contiguous(&in), k);
            at[a->axis] += p->g->nodes[nd->in[k]].shape.d[a->axis];
        }
        break;
    }
}
