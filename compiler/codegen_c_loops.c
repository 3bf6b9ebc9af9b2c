/* codegen_c_loops.c — kernels that are one loop nest: reductions (sum, max;
 * accumulated in float, a contiguous innermost run through a local
 * accumulator the compiler may split into vector lanes) and the movement ops
 * (transpose, broadcast, slice and its gradient, pad, concat).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
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

const char *ebmc_lane_sum_begin(ebmc_buf *b, const char *ind, const char *len, char *body_ind, size_t size)
{
    ebmc_buf_printf(b,
                    "%sfloat acc[%d] = {0.0f};   /* lane l: the terms k = l mod %d, in k order */\n"
                    "%sint64_t k0 = 0;\n"
                    "%sfor (; k0 + %d <= %s; k0 += %d) {\n"
                    "%s    #pragma omp simd\n"
                    "%s    for (int64_t l = 0; l < %d; l++) {\n"
                    "%s        const int64_t k = k0 + l;\n",
                    ind, EBMC_SUM_LANES, EBMC_SUM_LANES, ind, ind, EBMC_SUM_LANES, len, EBMC_SUM_LANES, ind, ind,
                    EBMC_SUM_LANES, ind);
    snprintf(body_ind, size, "%s        ", ind);
    return body_ind;
}

int ebmc_lane_sum_tail(ebmc_buf *b, const char *ind, const char *len)
{
    char *end;
    const long long n = strtoll(len, &end, 10);
    if (*end == 0 && end != len && n % EBMC_SUM_LANES == 0) {   /* a constant length of whole rounds */
        ebmc_buf_printf(b, "%s    }\n%s}\n", ind, ind);
        return 0;
    }
    ebmc_buf_printf(b,
                    "%s    }\n%s}\n"
                    "%sif (k0 < %s) {   /* the last, partial round of lanes */\n"
                    "%s    const int64_t kn = %s - k0;\n"
                    "%s    #pragma omp simd\n"
                    "%s    for (int64_t l = 0; l < kn; l++) {\n"
                    "%s        const int64_t k = k0 + l;\n",
                    ind, ind, ind, len, ind, len, ind, ind, ind);
    return 1;
}

void ebmc_lane_sum_end(ebmc_buf *b, const char *ind, int tail, const char *target, const char *op)
{
    if (tail)
        ebmc_buf_printf(b, "%s    }\n%s}\n", ind, ind);
    ebmc_buf_printf(b,
                    "%sfor (int h = %d; h > 0; h /= 2)   /* fold: lane l + h onto lane l */\n"
                    "%s    for (int l = 0; l < h; l++)\n"
                    "%s        acc[l] += acc[l + h];\n"
                    "%s%s %s acc[0];\n",
                    ind, EBMC_SUM_LANES / 2, ind, ind, ind, target, op);
}

/* A constant run shorter than the lanes (an upsampling's gradient sums runs
 * of 2), written out: in the lane loop, lane k < len would hold 0 + in0[k]
 * (never -0) and the others +0, and adding +0 to a value that is not -0
 * changes no bit, so only the folds of two live lanes remain.  The same
 * bits as the loop, without its 16-lane accumulator and 15 folds per output
 * element.  Returns 0 when `len` is not such a constant. */
static int sum_short_run(ebmc_buf *b, const char *base, const char *ind, const char *len, const char *target)
{
    char *end;
    const long long n = strtoll(len, &end, 10);
    if (*end != 0 || end == len || n < 1 || n >= EBMC_SUM_LANES)
        return 0;
    int live[EBMC_SUM_LANES] = {0};
    ebmc_buf_printf(b, "%s{   /* %lld terms: the lane sum's folds, written out */\n", ind, n);
    for (long long k = 0; k < n; k++) {
        ebmc_buf_printf(b, "%s    float s%lld = 0.0f + in0[%s + %lld];\n", ind, k, base, k);
        live[k] = 1;
    }
    for (int h = EBMC_SUM_LANES / 2; h > 0; h /= 2)
        for (int l = 0; l < h; l++) {
            if (!live[l + h])
                continue;
            if (live[l])
                ebmc_buf_printf(b, "%s    s%d = s%d + s%d;\n", ind, l, l, l + h);
            else
                ebmc_buf_printf(b, "%s    float s%d = s%d;\n", ind, l, l + h);
            live[l] = 1;
        }
    ebmc_buf_printf(b, "%s    %s += s0;\n%s}\n", ind, target, ind);
    return 1;
}

/* A sum over a contiguous innermost axis of length `len`, in lanes (the
 * order of the additions depends only on the axis length, never on the
 * batch, the compiler or its -O level). */
static void sum_run_body(ebmc_buf *b, const char idx[][IDX_MAX], const char *ind, const void *ctx)
{
    char ind2[96];
    char out_at[IDX_MAX + 16];
    snprintf(out_at, sizeof out_at, "out[%s]", idx[0]);
    if (sum_short_run(b, idx[1], ind, (const char *)ctx, out_at))
        return;
    ebmc_buf_printf(b, "%s{\n", ind);
    char ind1[96];
    snprintf(ind1, sizeof ind1, "%s    ", ind);
    ebmc_lane_sum_begin(b, ind1, (const char *)ctx, ind2, sizeof ind2);
    ebmc_buf_printf(b, "%sacc[l] += in0[%s + k];\n", ind2, idx[1]);
    const int tail = ebmc_lane_sum_tail(b, ind1, (const char *)ctx);
    if (tail)
        ebmc_buf_printf(b, "%sacc[l] += in0[%s + k];\n", ind2, idx[1]);
    char target[IDX_MAX + 16];
    snprintf(target, sizeof target, "out[%s]", idx[0]);
    ebmc_lane_sum_end(b, ind1, tail, target, "+=");
    ebmc_buf_printf(b, "%s}\n", ind);
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
