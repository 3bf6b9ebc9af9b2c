/* codegen_c_conv.c — convolution kernels (CONV2D and its two gradients):
 * im2col/col2im (or Winograd F(2x2, 3x3) / F(4x4, 3x3) for 3x3 stride-1
 * layers) + a GEMM per chunk of samples and group, the generated one for
 * the forward pass and the input gradient, sgemm for the filter gradient
 * (1x1 stride-1 unpadded convolutions skip im2col: their chunks are staged
 * copies of x and y, and their filter gradient is sgemm per sample).
 * The variant, the chunk of samples, the Winograd tile and whether the
 * prologue transforms the kernels are the descriptor's (kernel_select.c).
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "codegen_c_nest.h"

void ebmc_emit_kernel_prologue(ebmc_buf *b, const ebmc_cg_program *p, int id)
{
    const ir_node *nd = &p->g->nodes[id];
    ebmc_conv_geom gm = ebmc_conv_geom_of(p->g, id);
    int bwd = nd->op == IR_OP_CONV2D_BWD_DATA, r = p->kern[id].wino_r;
    long long ci = bwd ? gm.o : gm.c, co = bwd ? gm.c : gm.o;
    char w[128];
    ebmc_value_ptr(p, ebmc_operand_src(p->g, &p->info, id, 1), w, sizeof w);
    ebmc_buf_printf(b,
                    "    {   /* %%%d's kernels, F(%dx%d, 3x3) */\n"
                    "        static const ebmk_wino wg = {%lld, %lld, %lld, %lld, %lld, %lld};\n"
                    "        float kt[%lld];\n"
                    "        ebmk_wino_weights(&wg, %s, %d, %d, kt, (float *)(A + %lld));\n"
                    "    }\n",
                    id, r, r, ci, co, (long long)gm.h, (long long)gm.wd, (long long)((gm.h + r - 1) / r),
                    (long long)((gm.wd + r - 1) / r), 9 * ci, w, bwd, r,
                    (long long)p->bufs[p->v[id].pro_buffer].offset);
}

/* The geometry as a comment, and (unless no_helpers) as the constant the
 * im2col helpers read. */
static void emit_conv_geometry(ebmc_buf *b, const ebmc_conv_geom *gm, const char *batch, int no_helpers)
{
    const ir_conv_attr *a = gm->a;
    ebmc_buf_printf(b,
                    "    /* x [%s,%lld,%lld,%lld], w [%lld,%lld,%lld,%lld], y [%s,%lld,%lld,%lld]; group %lld, "
                    "stride %lldx%lld, pad %lld,%lld,%lld,%lld, dilation %lldx%lld */\n",
                    batch, (long long)gm->c, (long long)gm->h, (long long)gm->wd, (long long)gm->o, (long long)gm->cg,
                    (long long)gm->kh, (long long)gm->kw, batch, (long long)gm->o, (long long)gm->ho, (long long)gm->wo,
                    (long long)gm->group, (long long)a->stride[0], (long long)a->stride[1], (long long)a->pad[0],
                    (long long)a->pad[1], (long long)a->pad[2], (long long)a->pad[3], (long long)a->dilation[0],
                    (long long)a->dilation[1]);
    if (no_helpers)
        return;
    ebmc_buf_printf(b,
                    "    static const ebmk_conv geom = {%lld, %lld, %lld, %lld, %lld, %lld, %lld, %lld, %lld, %lld, "
                    "%lld, %lld, %lld, %lld, %lld, %lld, %lld, %lld};\n",
                    (long long)gm->cg, (long long)gm->h, (long long)gm->wd, (long long)gm->kh, (long long)gm->kw,
                    (long long)gm->ho, (long long)gm->wo, (long long)a->stride[0], (long long)a->stride[1],
                    (long long)a->pad[0], (long long)a->pad[1], (long long)a->dilation[0], (long long)a->dilation[1],
                    (long long)gm->c * gm->hw_in, (long long)gm->o * gm->hw_out, (long long)gm->og, (long long)gm->hq,
                    (long long)gm->wq);
}

/* 1x1 stride-1 unpadded convolutions, x_g itself being the im2col matrix of
 * group g, W_g its [og, cg] block.  The forward pass and the input gradient
 * run per chunk of ns samples, X and Y the chunk's x_g and y_g staged as
 * [cg, ns*hw] and [og, ns*hw] (one sample: x_g and y_g in place), with
 * ebmk_gemm_nn (one product for the chunk: cifar's 4x4 images gave sgemm 16
 * columns per call):
 *   CONV2D             Y  = W_g . X
 *   CONV2D_BWD_DATA    X  = W_g^T . Y    (W^T copied once per call)
 * and the filter gradient per sample with sgemm:
 *   CONV2D_BWD_FILTER  dW_g += dy_g . x_g^T */
static void emit_conv_pointwise(ebmc_buf *b, ir_op op, const ebmc_conv_geom *gm, const char *bs, int64_t chunk)
{
    long long og = gm->og, cg = gm->cg, hw = gm->hw_out, c = gm->c, o = gm->o;
    if (op == IR_OP_CONV2D_BWD_FILTER) {
        ebmc_buf_printf(b,
                        "    for (int64_t b = 0; b < %s; b++)\n"
                        "        for (int64_t g = 0; g < %lld; g++)\n"
                        "            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, %lld, %lld, %lld, 1.0f, "
                        "in1 + (b * %lld + g * %lld) * %lld, %lld, in0 + (b * %lld + g * %lld) * %lld, %lld, 1.0f, "
                        "out + g * %lld, %lld);\n",
                        bs, (long long)gm->group, og, cg, hw, o, og, hw, hw, c, cg, hw, hw, og * cg, cg);
        return;
    }
    int bwd = op == IR_OP_CONV2D_BWD_DATA;
    /* the product's output: rows and their source (the kernel's operands) */
    long long ro = bwd ? cg : og, ri = bwd ? og : cg;   /* rows of the result, rows of the right operand */
    long long co = bwd ? c : o, ci = bwd ? o : c;        /* channels of the result and the right operand's tensor */
    ebmc_buf_printf(b,
                    "    float *restrict wt = tmp, *restrict xin = tmp + %lld, *restrict xout = xin + %lld;\n"
                    "    (void)wt;\n",
                    bwd ? o * cg : 0LL, (long long)chunk * ri * hw);
    if (bwd)
        ebmc_buf_printf(b,
                        "    for (int64_t g = 0; g < %lld; g++)\n"
                        "        ebmk_conv_transpose(%lld, %lld, in1 + g * %lld, wt + g * %lld);\n",
                        (long long)gm->group, og, cg, og * cg, og * cg);
    ebmc_buf_printf(b,
                    "    for (int64_t s0 = 0; s0 < %s; s0 += %lld) {\n"
                    "        const int64_t ns = %s - s0 < %lld ? %s - s0 : %lld, ld = ns * %lld;\n"
                    "        for (int64_t g = 0; g < %lld; g++) {\n"
                    "            const float *wg = %s + g * %lld;\n"
                    "            const float *src = in0 + (s0 * %lld + g * %lld) * %lld;\n"
                    "            float *dst = out + (s0 * %lld + g * %lld) * %lld;\n"
                    "            if (ns == 1) {\n"
                    "                ebmk_gemm_nn(%lld, %lld, %lld, wg, src, dst);\n"
                    "                continue;\n"
                    "            }\n"
                    "            ebmk_stage_planes(%lld, %lld, %lld, (float *)in0 + g * %lld, s0, ns, xin, 1);\n"
                    "            ebmk_gemm_nn(%lld, %lld, ld, wg, xin, xout);\n"
                    "            ebmk_stage_planes(%lld, %lld, %lld, out + g * %lld, s0, ns, xout, 0);\n"
                    "        }\n"
                    "    }\n",
                    bs, (long long)chunk, bs, (long long)chunk, bs, (long long)chunk, hw, (long long)gm->group,
                    bwd ? "wt" : "in1", og * cg, ci, ri, hw, co, ro, hw, ro, ri, hw, ri, hw, ci * hw, ri * hw, ro, ri,
                    ro, hw, co * hw, ro * hw);
}

/* Chunks of ns samples s0.., per group g, with W_g the group's [og, krows]
 * block, COL the chunk's im2col matrices side by side [krows, ns*ho*wo], Y
 * the chunk's y (or dy) staged as [og, ns*ho*wo] and PAD the phase planes of
 * the chunk's x (or dx):
 *   CONV2D             PAD = x, COL = im2col(PAD), Y = W_g . COL, then y = Y
 *   CONV2D_BWD_DATA    COL = W_g^T . Y, PAD = col2im(COL), then dx = PAD
 *   CONV2D_BWD_FILTER  PAD = x, COL = im2col(PAD), dW_g += Y . COL^T
 * the executor's per-sample products, with the samples of a chunk in one GEMM:
 * ebmc's own (codegen_c_gemm.c) for the first two, OpenBLAS for the filter
 * gradient (param_grad only). */
static void emit_conv_chunked(ebmc_buf *b, ir_op op, const ebmc_conv_geom *gm, const char *bs, int64_t chunk)
{
    long long og = gm->og, kr = gm->krows, hw = gm->hw_out;
    const char *x = op == IR_OP_CONV2D_BWD_DATA ? "out" : "in0";
    const char *y = op == IR_OP_CONV2D ? "out" : op == IR_OP_CONV2D_BWD_DATA ? "in0" : "in1";
    const char *w = op == IR_OP_CONV2D_BWD_FILTER ? "out" : "in1";
    ebmc_buf_printf(b,
                    "    float *restrict wt = tmp, *restrict col = tmp + %lld;   /* wt: W^T for the input gradient */\n"
                    "    float *restrict stage = col + %lld, *restrict pad = stage + %lld;\n"
                    "    (void)wt;\n",
                    (long long)ebmc_conv_wt_floats(gm, op), (long long)(chunk * kr * hw), (long long)(chunk * og * hw));
    if (op == IR_OP_CONV2D_BWD_DATA)
        ebmc_buf_printf(b,
                        "    for (int64_t g = 0; g < %lld; g++)\n"
                        "        ebmk_conv_transpose(%lld, %lld, %s + g * %lld, wt + g * %lld);\n",
                        (long long)gm->group, og, kr, w, og * kr, og * kr);
    ebmc_buf_printf(b,
                    "    for (int64_t s0 = 0; s0 < %s; s0 += %lld) {\n"
                    "        const int64_t ns = %s - s0 < %lld ? %s - s0 : %lld, ld = ns * %lld;\n"
                    "        for (int64_t g = 0; g < %lld; g++) {\n",
                    bs, (long long)chunk, bs, (long long)chunk, bs, (long long)chunk, hw, (long long)gm->group);
    if (op != IR_OP_CONV2D_BWD_DATA)
        ebmc_buf_printf(b, "            ebmk_pad_in(&geom, %s, s0, ns, g, pad);\n"
                        "            ebmk_im2col_chunk(&geom, pad, ns, col);\n", x);
    /* one sample: its y_g (or dy_g) is the staged matrix itself */
    ebmc_buf_printf(b, "            float *yg = ns == 1 ? (float *)%s + s0 * %lld + g * %lld : stage;\n",
                    y, (long long)gm->o * hw, og * hw);
    if (op != IR_OP_CONV2D)
        ebmc_buf_printf(b, "            if (ns > 1)\n"
                        "                ebmk_stage(&geom, (float *)%s, s0, ns, g, stage, 1);\n", y);
    if (op == IR_OP_CONV2D)
        ebmc_buf_printf(b, "            ebmk_gemm_nn(%lld, %lld, ld, %s + g * %lld, col, yg);\n"
                        "            if (ns > 1)\n"
                        "                ebmk_stage(&geom, %s, s0, ns, g, stage, 0);\n", og, kr, w, og * kr, y);
    else if (op == IR_OP_CONV2D_BWD_DATA)
        ebmc_buf_printf(b, "            ebmk_gemm_nn(%lld, %lld, ld, wt + g * %lld, yg, col);\n"
                        "            ebmk_col2im_chunk(&geom, col, ns, pad);\n"
                        "            ebmk_pad_out(&geom, pad, s0, ns, g, %s);\n", kr, og, og * kr, x);
    else
        ebmc_buf_printf(b, "            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, %lld, %lld, (int)ld, 1.0f, "
                        "yg, (int)ld, col, (int)ld, 1.0f, %s + g * %lld, %lld);\n", og, kr, w, og * kr, kr);
    ebmc_buf_puts(b, "        }\n    }\n");
}

/* Winograd F(r x r, 3x3) with n = (r+2)^2 cells: u = the transformed kernels
 * [n, co, ci] (once per call), then per chunk v = input tiles [n, ci, T], n
 * GEMMs m_k = u_k . v_k, and the output tiles from m.  CONV2D_BWD_DATA is
 * the same convolution of dy with the kernels transposed and rotated
 * (ci = o, co = c). */
static void emit_conv_winograd(ebmc_buf *b, ir_op op, const ebmc_conv_geom *gm, const char *bs, const ebmc_kernel *kd)
{
    int bwd = op == IR_OP_CONV2D_BWD_DATA, r = kd->wino_r, pro = kd->pro_floats > 0;
    long long ci = bwd ? gm->o : gm->c, co = bwd ? gm->c : gm->o, tiles = ebmc_wino_tiles(gm, r);
    long long n = (r + 2) * (r + 2), chunk = kd->chunk;
    const char *f = r == 4 ? "wino4" : "wino";
    char head[256], wts[256];
    if (pro) {   /* u: transformed by the prologue (ebmc_emit_kernel_prologue) */
        snprintf(head, sizeof head,
                 "    const float *restrict u = uw;   /* in1's kernels, transformed */\n"
                 "    float *restrict v = tmp, *restrict m = v + %lld;\n    (void)in1;\n",
                 chunk * n * ci * tiles + n * EBMC_WINO_GAP);
        wts[0] = 0;
    } else {
        snprintf(head, sizeof head, "    float *restrict u = tmp, *restrict v = tmp + %lld, *restrict m = v + %lld;\n",
                 n * ci * co, chunk * n * ci * tiles + n * EBMC_WINO_GAP);
        snprintf(wts, sizeof wts, "    ebmk_wino_weights(&wg, in1, %d, %d, v, u);   /* v: room for the kernels' taps [9, ci] */\n",
                 bwd, r);
    }
    ebmc_buf_printf(b,
                    "    static const ebmk_wino wg = {%lld, %lld, %lld, %lld, %lld, %lld};   /* F(%dx%d, 3x3) */\n"
                    "%s"
                    "%s"
                    "    for (int64_t s0 = 0; s0 < %s; s0 += %lld) {\n"
                    "        const int64_t ns = %s - s0 < %lld ? %s - s0 : %lld, ld = ns * %lld;\n"
                    "        ebmk_%s_in(&wg, in0, s0, ns, m + %lld * (%lld * ld + EBMK_WINO_GAP), v);\n"
                    "        for (int64_t k = 0; k < %lld; k++)\n"
                    "            ebmk_gemm_nn(%lld, %lld, ld, u + k * %lld, v + k * (%lld * ld + EBMK_WINO_GAP),\n"
                    "                         m + k * (%lld * ld + EBMK_WINO_GAP));\n"
                    "        ebmk_%s_out(&wg, m, s0, ns, m + %lld * (%lld * ld + EBMK_WINO_GAP), out);\n"
                    "    }\n",
                    ci, co, (long long)gm->h, (long long)gm->wd, (long long)((gm->h + r - 1) / r),
                    (long long)((gm->wd + r - 1) / r), r, r, head, wts, bs, chunk,
                    bs, chunk, bs, chunk, tiles, f, n, co, n, co, ci, co * ci, ci, co, f, n, co);
}

void ebmc_emit_conv(ebmc_buf *b, const ebmc_cg_program *p, int id)
{
    ir_op op = p->g->nodes[id].op;
    const ebmc_kernel *kd = &p->kern[id];
    ebmc_conv_geom gm = ebmc_conv_geom_of(p->g, id);
    char bs[128];
    p_str(p_dim(gm.x->d[0]), bs, sizeof bs);
    emit_conv_geometry(b, &gm, bs, kd->variant != EBMC_KERNEL_CONV_IM2COL);
    if (op == IR_OP_CONV2D_BWD_FILTER) {   /* accumulated into; the other ops write every element */
        pshape out = ps_of(&p->g->nodes[id].shape);
        ebmc_emit_fill(b, "out", ps_numel(&out), "0.0f", 1);
    }
    if (kd->variant == EBMC_KERNEL_CONV_POINTWISE)
        emit_conv_pointwise(b, op, &gm, bs, kd->chunk);
    else if (kd->variant == EBMC_KERNEL_CONV_WINOGRAD)
        emit_conv_winograd(b, op, &gm, bs, kd);
    else
        emit_conv_chunked(b, op, &gm, bs, kd->chunk);
}
