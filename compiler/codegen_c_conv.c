/* codegen_c_conv.c — convolution kernels (CONV2D and its two gradients):
 * im2col/col2im (or Winograd F(2x2, 3x3) / F(4x4, 3x3) for 3x3 stride-1
 * layers) + a GEMM per chunk of samples and group, the generated one for
 * the forward pass and the input gradient, sgemm for the filter gradient
 * (1x1 stride-1 unpadded convolutions skip im2col: their chunks are staged
 * copies of x and y, and their filter gradient is sgemm per sample).
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "codegen_c_nest.h"

typedef struct conv_geom {
    const ir_shape *x, *w, *y;   /* x [B,C,H,W], w [O,C/g,kh,kw], y [B,O,ho,wo] */
    const ir_conv_attr *a;
    int64_t c, h, wd, o, kh, kw, ho, wo, group, cg, og, krows, hw_in, hw_out;
    int64_t hq, wq, planes;   /* the helpers' phase planes: hq x wq, floats per sample and channel */
} conv_geom;

static conv_geom conv_geom_of(const ebmc_cg_program *p, int id)
{
    const ir_node *nd = &p->g->nodes[id];
    const ir_shape *s0 = &p->g->nodes[nd->in[0]].shape, *s1 = &p->g->nodes[nd->in[1]].shape;
    conv_geom gm;
    memset(&gm, 0, sizeof gm);
    gm.a = &nd->attr.conv;
    if (nd->op == IR_OP_CONV2D)
        gm.x = s0, gm.w = s1, gm.y = &nd->shape;
    else if (nd->op == IR_OP_CONV2D_BWD_DATA)
        gm.y = s0, gm.w = s1, gm.x = &nd->shape;
    else
        gm.x = s0, gm.y = s1, gm.w = &nd->shape;
    gm.c = gm.x->d[1], gm.h = gm.x->d[2], gm.wd = gm.x->d[3];
    gm.o = gm.w->d[0], gm.kh = gm.w->d[2], gm.kw = gm.w->d[3];
    gm.ho = gm.y->d[2], gm.wo = gm.y->d[3];
    gm.group = gm.a->group > 0 ? gm.a->group : 1;
    gm.cg = gm.w->d[1];
    gm.og = gm.o / gm.group;
    gm.krows = gm.cg * gm.kh * gm.kw;
    gm.hw_in = gm.h * gm.wd;
    gm.hw_out = gm.ho * gm.wo;
    gm.hq = gm.ho + (gm.kh - 1) * gm.a->dilation[0] / gm.a->stride[0];
    gm.wq = gm.wo + (gm.kw - 1) * gm.a->dilation[1] / gm.a->stride[1];
    gm.planes = gm.a->stride[0] * gm.a->stride[1] * gm.hq * gm.wq;
    return gm;
}

/* 1x1, stride 1, no padding: the im2col matrix is the input itself. */
static int conv_pointwise(const conv_geom *gm)
{
    const ir_conv_attr *a = gm->a;
    return gm->kh == 1 && gm->kw == 1 && a->stride[0] == 1 && a->stride[1] == 1 && !a->pad[0] && !a->pad[1] &&
           !a->pad[2] && !a->pad[3];
}

/* Scratch a chunk of samples may use: the im2col matrices of all its samples
 * side by side (one GEMM for the chunk instead of one per sample, which for
 * the small images of EBMs is mostly call overhead), the staging copy of y or
 * dy in [og][sample][ho*wo] order and the phase planes of x or dx.  A chunk
 * is CONV_CHUNK_FLOATS (256 KiB, so that what im2col writes is still in L2
 * when the GEMM reads it), but at least CONV_CHUNK_COLUMNS GEMM columns:
 * OpenBLAS packs the weights once per call, which on narrow GEMMs costs as
 * much as the product (cifar's 4x4 images with 2304-row im2col matrices:
 * ~10% of a step at one sample per GEMM). */
#define CONV_CHUNK_FLOATS ((int64_t)1 << 16)
#define CONV_CHUNK_COLUMNS 256

static int64_t conv_per_sample(const conv_geom *gm)
{
    if (conv_pointwise(gm))   /* x and y staged, no im2col */
        return (gm->cg + gm->og) * gm->hw_out;
    return (gm->krows + gm->og) * gm->hw_out + gm->cg * gm->planes;
}

/* Samples per GEMM (at most the tile). */
static int64_t conv_chunk(const conv_geom *gm, int64_t tile)
{
    int64_t per = conv_per_sample(gm);
    int64_t s = per > 0 ? CONV_CHUNK_FLOATS / per : tile;
    int64_t wide = gm->hw_out > 0 ? (CONV_CHUNK_COLUMNS + gm->hw_out - 1) / gm->hw_out : 1;
    s = s > wide ? s : wide;
    return s < 1 ? 1 : s > tile ? tile : s;
}

/* Winograd F(2x2, 3x3) or F(4x4, 3x3) (the helpers' ebmk_wino_* and
 * ebmk_wino4_*; wino_r picks) for CONV2D and its transpose CONV2D_BWD_DATA
 * when both are 3x3 stride-1 convolutions padded by 1 on every side,
 * ungrouped, with enough channels that the 16 (36) GEMMs over channels
 * outweigh the tile transforms: 2.25x (4x) fewer multiply-adds. */
#define WINO_MIN_CHANNELS 16

static int conv_winograd(const conv_geom *gm, ir_op op)
{
    const ir_conv_attr *a = gm->a;
    return (op == IR_OP_CONV2D || op == IR_OP_CONV2D_BWD_DATA) && gm->kh == 3 && gm->kw == 3 && a->stride[0] == 1 &&
           a->stride[1] == 1 && a->dilation[0] == 1 && a->dilation[1] == 1 && a->pad[0] == 1 && a->pad[1] == 1 &&
           a->pad[2] == 1 && a->pad[3] == 1 && gm->group == 1 && gm->c >= WINO_MIN_CHANNELS &&
           gm->o >= WINO_MIN_CHANNELS && gm->ho == gm->h && gm->wo == gm->wd;
}

/* Samples per chunk of the transformed tiles v [n, c, T] and m [n, o, T]:
 * the transforms run over a tile's samples, so a chunk is one AVX-512 vector
 * of them.  Measured per call on Zen 5 (tile 32 / 16): 16 samples against 4
 * and 8 is 25-40% faster on 4x4 and 8x8 images with 64-256 channels and
 * 7x7 with 32-64, and still 20% faster on 16x16 with 32 channels (1024
 * columns per GEMM, v 2 MiB). */
#define WINO_CHUNK 16

/* The floats between cells of v and m: the helpers' EBMK_WINO_GAP. */
#define WINO_GAP 16

static int64_t wino_chunk(int64_t tile)
{
    return tile < WINO_CHUNK ? tile : WINO_CHUNK;
}

/* Output tiles per sample of F(r x r, 3x3), r = 2 or 4. */
static int64_t wino_tiles(const conv_geom *gm, int r)
{
    return ((gm->h + r - 1) / r) * ((gm->wd + r - 1) / r);
}

/* F(4x4, 3x3) (36 products per 16 outputs, against 64 for F(2x2, 3x3)) when
 * a chunk has at least WINO4_MIN_COLUMNS columns (tiles x samples): fewer
 * leave the GEMMs too narrow to hide the fma latency (4x4 images on tiles of
 * 16 samples stay F(2x2, 3x3)); and only up to WINO4_MAX_CHANNELS channels
 * on either side: its float32 error grows with the GEMMs' depth.  Norm-wise
 * relative error of test_codegen_conv's score (a convolution and its input
 * gradient) against the float64 executor: F(2x2, 3x3) 2-5e-7 at 16-32
 * channels; F(4x4, 3x3) 3.4e-6 at 32, 4.9e-6 at 64, 8.4e-6 at 128 and
 * 1.1e-5 at 256 (over the tests' 1e-5). */
#define WINO4_MIN_COLUMNS 64
#define WINO4_MAX_CHANNELS 64

static int wino_r(const conv_geom *gm, int64_t tile)
{
    return gm->c <= WINO4_MAX_CHANNELS && gm->o <= WINO4_MAX_CHANNELS &&
                   wino_chunk(tile) * wino_tiles(gm, 4) >= WINO4_MIN_COLUMNS
               ? 4
               : 2;
}

/* The input gradient's product runs as ebmk_gemm_nn on W^T, every group's
 * W_g^T copied into the front of the scratch once per call; the other
 * products need none. */
static int64_t conv_wt_floats(const conv_geom *gm, ir_op op)
{
    return op == IR_OP_CONV2D_BWD_DATA ? gm->o * gm->krows : 0;
}

static int64_t wino_scratch(const conv_geom *gm, int64_t tile)
{
    /* per sample: the transformed tiles and a padded plane, (r*th+2) x (r*tw+2) */
    int r = wino_r(gm, tile);
    int64_t cells = (r + 2) * (r + 2), th = (gm->h + r - 1) / r, tw = (gm->wd + r - 1) / r;
    int64_t per = cells * (gm->c + gm->o) * wino_tiles(gm, r) + (r * th + 2) * (r * tw + 2);
    return cells * gm->c * gm->o + wino_chunk(tile) * per + 2 * cells * WINO_GAP;
}

int64_t ebmc_kernel_scratch_floats(const ebmc_cg_program *p, int id)
{
    ir_op op = p->g->nodes[id].op;
    if (op != IR_OP_CONV2D && op != IR_OP_CONV2D_BWD_DATA && op != IR_OP_CONV2D_BWD_FILTER)
        return 0;
    conv_geom gm = conv_geom_of(p, id);
    if (conv_pointwise(&gm) && op == IR_OP_CONV2D_BWD_FILTER)
        return 0;
    int64_t tile = ir_shape_has_batch(gm.x) ? p->tile : 1;
    if (conv_winograd(&gm, op))
        return wino_scratch(&gm, tile) - ebmc_kernel_prologue_floats(p, id);
    return conv_wt_floats(&gm, op) + conv_chunk(&gm, tile) * conv_per_sample(&gm);
}

/* A Winograd convolution of weights the call cannot change (parameters, or
 * values of them) has its kernels transformed by the prologue, once per
 * call, not at every run of the body: for cifar's 256-channel 4x4 layer,
 * 4 MiB of transformed kernels per 16-sample tile and step. */
int64_t ebmc_kernel_prologue_floats(const ebmc_cg_program *p, int id)
{
    const ir_node *nd = &p->g->nodes[id];
    if ((nd->op != IR_OP_CONV2D && nd->op != IR_OP_CONV2D_BWD_DATA) || p->info.invariant[id] ||
        !p->info.invariant[p->info.root[nd->in[1]]])
        return 0;
    conv_geom gm = conv_geom_of(p, id);
    if (conv_pointwise(&gm) || !conv_winograd(&gm, nd->op))
        return 0;
    int r = wino_r(&gm, ir_shape_has_batch(gm.x) ? p->tile : 1);
    return (int64_t)(r + 2) * (r + 2) * gm.c * gm.o;
}

void ebmc_emit_kernel_prologue(ebmc_buf *b, const ebmc_cg_program *p, int id)
{
    const ir_node *nd = &p->g->nodes[id];
    conv_geom gm = conv_geom_of(p, id);
    int bwd = nd->op == IR_OP_CONV2D_BWD_DATA, r = wino_r(&gm, ir_shape_has_batch(gm.x) ? p->tile : 1);
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
static void emit_conv_geometry(ebmc_buf *b, const conv_geom *gm, const char *batch, int no_helpers)
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
static void emit_conv_pointwise(ebmc_buf *b, ir_op op, const conv_geom *gm, const char *bs, int64_t chunk)
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
static void emit_conv_chunked(ebmc_buf *b, ir_op op, const conv_geom *gm, const char *bs, int64_t chunk)
{
    long long og = gm->og, kr = gm->krows, hw = gm->hw_out;
    const char *x = op == IR_OP_CONV2D_BWD_DATA ? "out" : "in0";
    const char *y = op == IR_OP_CONV2D ? "out" : op == IR_OP_CONV2D_BWD_DATA ? "in0" : "in1";
    const char *w = op == IR_OP_CONV2D_BWD_FILTER ? "out" : "in1";
    ebmc_buf_printf(b,
                    "    float *restrict wt = tmp, *restrict col = tmp + %lld;   /* wt: W^T for the input gradient */\n"
                    "    float *restrict stage = col + %lld, *restrict pad = stage + %lld;\n"
                    "    (void)wt;\n",
                    (long long)conv_wt_floats(gm, op), (long long)(chunk * kr * hw), (long long)(chunk * og * hw));
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
static void emit_conv_winograd(ebmc_buf *b, ir_op op, const conv_geom *gm, const char *bs, int64_t tile, int pro)
{
    int bwd = op == IR_OP_CONV2D_BWD_DATA, r = wino_r(gm, tile);
    long long ci = bwd ? gm->o : gm->c, co = bwd ? gm->c : gm->o, tiles = wino_tiles(gm, r);
    long long n = (r + 2) * (r + 2), chunk = wino_chunk(tile);
    const char *f = r == 4 ? "wino4" : "wino";
    char head[256], wts[256];
    if (pro) {   /* u: transformed by the prologue (ebmc_emit_kernel_prologue) */
        snprintf(head, sizeof head,
                 "    const float *restrict u = uw;   /* in1's kernels, transformed */\n"
                 "    float *restrict v = tmp, *restrict m = v + %lld;\n    (void)in1;\n",
                 chunk * n * ci * tiles + n * WINO_GAP);
        wts[0] = 0;
    } else {
        snprintf(head, sizeof head, "    float *restrict u = tmp, *restrict v = tmp + %lld, *restrict m = v + %lld;\n",
                 n * ci * co, chunk * n * ci * tiles + n * WINO_GAP);
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
    conv_geom gm = conv_geom_of(p, id);
    int pw = conv_pointwise(&gm);
    char bs[128];
    p_str(p_dim(gm.x->d[0]), bs, sizeof bs);
    emit_conv_geometry(b, &gm, bs, pw || conv_winograd(&gm, op));
    if (op == IR_OP_CONV2D_BWD_FILTER) {   /* accumulated into; the other ops write every element */
        pshape out = ps_of(&p->g->nodes[id].shape);
        ebmc_emit_fill(b, "out", ps_numel(&out), "0.0f", 1);
    }
    int64_t tile = ir_shape_has_batch(gm.x) ? p->tile : 1;
    if (pw)
        emit_conv_pointwise(b, op, &gm, bs, conv_chunk(&gm, tile));
    else if (conv_winograd(&gm, op))
        emit_conv_winograd(b, op, &gm, bs, tile, p->v[id].pro_buffer >= 0);
    else
        emit_conv_chunked(b, op, &gm, bs, conv_chunk(&gm, tile));
}
