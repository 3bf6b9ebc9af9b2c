/* codegen_c_matmul.c — MATMUL kernels: cblas_sgemm (a transpose feeding it
 * folded into BLAS's transpose flag), or, for activations x weights, the
 * generated GEMM of codegen_c_gemm.c; one call per result matrix, or one for
 * the whole batch when it folds into the rows.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "codegen_c_nest.h"

typedef struct gemm_ctx {
    int ta, tb;
    char m[128], nn[128], k[128], lda[128], ldb[128];
    ebmc_gemm_form form;   /* BLAS, or the generated kernel (codegen_c_gemm.c): kernel_select.c's */
    int64_t kc, nc;        /* k and nn, constants for the generated kernel */
} gemm_ctx;

static void gemm_body(ebmc_buf *b, const char idx[][IDX_MAX], const char *ind, const void *ctx)
{
    const gemm_ctx *c = ctx;
    if (c->form != EBMC_GEMM_BLAS) {
        char a[IDX_MAX + 16], w[IDX_MAX + 16], o[IDX_MAX + 16];
        snprintf(a, sizeof a, "in0 + %s", idx[1]);
        snprintf(w, sizeof w, "in1 + %s", idx[2]);
        snprintf(o, sizeof o, "out + %s", idx[0]);
        ebmc_emit_gemm_call(b, ind, c->form, c->m, c->kc, c->nc, a, w, o);
        return;
    }
    ebmc_buf_printf(b,
                    "%scblas_sgemm(CblasRowMajor, %s, %s, (int)%s, (int)%s, (int)%s, 1.0f, in0 + %s, (int)%s,\n"
                    "%s            in1 + %s, (int)%s, 0.0f, out + %s, (int)%s);\n",
                    ind, c->ta ? "CblasTrans" : "CblasNoTrans", c->tb ? "CblasTrans" : "CblasNoTrans", c->m, c->nn,
                    c->k, idx[1], c->lda, ind, idx[2], c->ldb, idx[0], c->nn);
}

/* Batch axes of a matmul operand all of size 1 (or absent): one matrix for every result. */
static int batch_is_broadcast(const ir_shape *s)
{
    for (int i = 0; i < s->rank - 2; i++)
        if (s->d[i] != 1)
            return 0;
    return 1;
}

/* [.., M, K] x [.., K, N]: one sgemm (or generated GEMM) per result matrix,
 * batch axes broadcast; when B is the same matrix for every batch index and A
 * is dense over them, the batch folds into M and one call does it all.
 * Returns whether the generated GEMM is used. */
int ebmc_emit_matmul(ebmc_buf *b, const ebmc_cg_program *p, int id)
{
    const ir_node *nd = &p->g->nodes[id];
    const ir_shape *as = &p->g->nodes[nd->in[0]].shape, *bs = &p->g->nodes[nd->in[1]].shape;
    gemm_ctx c;
    memset(&c, 0, sizeof c);
    c.ta = p->kern[id].trans_a;
    c.tb = p->kern[id].trans_b;
    poly m = p_dim(as->d[as->rank - 2]), k = p_dim(as->d[as->rank - 1]), nn = p_dim(bs->d[bs->rank - 1]);
    pshape out = ps_of(&nd->shape), batch = out, ab = ps_of(as), bb = ps_of(bs);
    batch.rank -= 2;
    ab.rank -= 2;
    bb.rank -= 2;
    if (p_is(m, 0) || p_is(nn, 0))
        return 0;
    if (p_is(k, 0)) {   /* an empty sum; BLAS rejects zero leading dimensions */
        ebmc_emit_fill(b, "out", ps_numel(&out), "0.0f", 1);
        return 0;
    }
    c.form = p->kern[id].gemm;
    c.kc = k.c[0];
    c.nc = nn.c[0];
    p_str(k, c.k, sizeof c.k);
    p_str(nn, c.nn, sizeof c.nn);
    p_str(c.ta ? m : k, c.lda, sizeof c.lda);
    p_str(c.tb ? k : nn, c.ldb, sizeof c.ldb);
    nest ns;
    memset(&ns, 0, sizeof ns);
    ns.nv = 3;
    if (batch.rank > 0 && !c.ta && batch_is_broadcast(bs) && ab.rank == batch.rank &&
        p_eq(ps_numel(&ab), ps_numel(&batch))) {
        m = p_mul(m, ps_numel(&batch));
    } else {
        ns.space = batch;
        ns.v[0] = v_broadcast(&batch, &batch);
        ns.v[1] = v_broadcast(&ab, &batch);
        ns.v[2] = v_broadcast(&bb, &batch);
        for (int a = 0; a < batch.rank; a++) {
            ns.v[0].stride[a] = p_mul(ns.v[0].stride[a], p_mul(m, nn));
            ns.v[1].stride[a] = p_mul(ns.v[1].stride[a], p_mul(m, k));
            ns.v[2].stride[a] = p_mul(ns.v[2].stride[a], p_mul(k, nn));
        }
        ebmc_nest_simplify(&ns);
    }
    p_str(m, c.m, sizeof c.m);
    ebmc_nest_emit(b, &ns, 1, gemm_body, &c);
    return c.form != EBMC_GEMM_BLAS;
}
