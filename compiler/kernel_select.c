/* kernel_select.c — one descriptor per kernel (kernel_select.h): the variant,
 * GEMM form, Winograd tile, chunking, fused group and the scratch and
 * prologue floats of every kernel of a program at its tile, decided here and
 * only here, from the shapes and the storage; and the program-level choice of
 * the loop the Langevin update fuses into.  The constants below are where a
 * form stops paying; each says what it was measured on.
 */
#include <string.h>

#include "plan.h"
#include "poly.h"

/* ---- GEMM forms ------------------------------------------------------------------------------ */

/* Below this K, a W^T operand is transposed in the prologue and the product
 * runs as NN.  Measured on Zen 5 (AVX-512), m = 1 / 64 rows, microseconds:
 * K=N=64: NT 0.10 / 6.2, NN 0.06 / 3.6; K=N=128: NT 0.61 / 21, NN 0.53 / 13;
 * K=N=256: NT 2.0 / 63, NN 2.6 / 53 (and the transpose costs a pass over W
 * per call); K=2, N=64: NT 0.08 / 4.3, NN 0.003 / 0.12. */
#define GEMM_NT_MIN_K 128

/* A W [k, n] with at most this many columns (and enough rows to fill vectors)
 * is copied transposed at each call and read by the NT form: the input
 * gradient of a 2-D toy model's first layer, g [m, 64] x W [64, 2], took 7% of
 * tabular_b4096's step as NN, one fma per k with 2 of 16 lanes used.  The
 * copy lives on the stack (at most 16 KiB). */
#define GEMM_COPY_MAX_N 4
#define GEMM_COPY_MIN_K 16
#define GEMM_COPY_MAX_FLOATS 4096

ebmc_gemm_form ebmc_gemm_form_of(int64_t k, int64_t n, int trans_b)
{
    if (k <= 0 || n <= 0 || k == IR_DIM_N || n == IR_DIM_N)
        return EBMC_GEMM_BLAS;
    if (n == 1)   /* W [1,K] and W^T [K,1] are the same floats: a dot product per row */
        return EBMC_GEMM_NT;
    if (k == 1)
        return EBMC_GEMM_NN;
    if (!trans_b && n <= GEMM_COPY_MAX_N && k >= GEMM_COPY_MIN_K && k * n <= GEMM_COPY_MAX_FLOATS)
        return EBMC_GEMM_NT_COPY;
    return trans_b ? EBMC_GEMM_NT : EBMC_GEMM_NN;
}

int ebmc_gemm_packs_transpose(int64_t k, int64_t n)
{
    return k > 1 && n > 1 && k != IR_DIM_N && n != IR_DIM_N && k < GEMM_NT_MIN_K;
}

/* ---- convolutions ---------------------------------------------------------------------------- */

ebmc_conv_geom ebmc_conv_geom_of(const ir_graph *g, int id)
{
    const ir_node *nd = &g->nodes[id];
    const ir_shape *s0 = &g->nodes[nd->in[0]].shape, *s1 = &g->nodes[nd->in[1]].shape;
    ebmc_conv_geom gm;
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
static int conv_pointwise(const ebmc_conv_geom *gm)
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

static int64_t conv_per_sample(const ebmc_conv_geom *gm)
{
    if (conv_pointwise(gm))   /* x and y staged, no im2col */
        return (gm->cg + gm->og) * gm->hw_out;
    return (gm->krows + gm->og) * gm->hw_out + gm->cg * gm->planes;
}

/* Samples per GEMM (at most the tile). */
static int64_t conv_chunk(const ebmc_conv_geom *gm, int64_t tile)
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

static int conv_winograd(const ebmc_conv_geom *gm, ir_op op)
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

static int64_t wino_chunk(int64_t tile)
{
    return tile < WINO_CHUNK ? tile : WINO_CHUNK;
}

int64_t ebmc_wino_tiles(const ebmc_conv_geom *gm, int r)
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

static int wino_r(const ebmc_conv_geom *gm, int64_t tile)
{
    return gm->c <= WINO4_MAX_CHANNELS && gm->o <= WINO4_MAX_CHANNELS &&
                   wino_chunk(tile) * ebmc_wino_tiles(gm, 4) >= WINO4_MIN_COLUMNS
               ? 4
               : 2;
}

/* The input gradient's product runs as ebmk_gemm_nn on W^T, every group's
 * W_g^T copied into the front of the scratch once per call; the other
 * products need none. */
int64_t ebmc_conv_wt_floats(const ebmc_conv_geom *gm, ir_op op)
{
    return op == IR_OP_CONV2D_BWD_DATA ? gm->o * gm->krows : 0;
}

/* Winograd's scratch: the transformed kernels, and per sample of a chunk the
 * transformed tiles and a padded plane, (r*th+2) x (r*tw+2). */
static int64_t wino_scratch(const ebmc_conv_geom *gm, int r, int64_t chunk)
{
    int64_t cells = (r + 2) * (r + 2), th = (gm->h + r - 1) / r, tw = (gm->wd + r - 1) / r;
    int64_t per = cells * (gm->c + gm->o) * ebmc_wino_tiles(gm, r) + (r * th + 2) * (r * tw + 2);
    return cells * gm->c * gm->o + chunk * per + 2 * cells * EBMC_WINO_GAP;
}

/* A Winograd convolution of weights the call cannot change (parameters, or
 * values of them) has its kernels transformed by the prologue, once per
 * call, not at every run of the body: for cifar's 256-channel 4x4 layer,
 * 4 MiB of transformed kernels per 16-sample tile and step. */
static int prologue_weights(const ebmc_cg_program *p, int id)
{
    const ir_node *nd = &p->g->nodes[id];
    return !p->info.invariant[id] && p->info.invariant[p->info.root[nd->in[1]]];
}

static void select_conv(const ebmc_cg_program *p, int id, ebmc_kernel *kd)
{
    ir_op op = p->g->nodes[id].op;
    ebmc_conv_geom gm = ebmc_conv_geom_of(p->g, id);
    int64_t tile = ir_shape_has_batch(gm.x) ? p->tile : 1;
    if (conv_winograd(&gm, op)) {   /* 3x3: never pointwise */
        kd->variant = EBMC_KERNEL_CONV_WINOGRAD;
        kd->wino_r = wino_r(&gm, tile);
        kd->chunk = wino_chunk(tile);
        if (prologue_weights(p, id))
            kd->pro_floats = (int64_t)(kd->wino_r + 2) * (kd->wino_r + 2) * gm.c * gm.o;
        kd->scratch_floats = wino_scratch(&gm, kd->wino_r, kd->chunk) - kd->pro_floats;
        return;
    }
    int pw = conv_pointwise(&gm);
    kd->variant = pw ? EBMC_KERNEL_CONV_POINTWISE : EBMC_KERNEL_CONV_IM2COL;
    kd->chunk = conv_chunk(&gm, tile);
    if (!pw || op != IR_OP_CONV2D_BWD_FILTER)   /* a pointwise filter gradient runs in place */
        kd->scratch_floats = ebmc_conv_wt_floats(&gm, op) + kd->chunk * conv_per_sample(&gm);
}

/* ---- matmul ------------------------------------------------------------------------------------ */

/* Activations x weights (A not transposed, B weight-only, K and N constants)
 * run on the generated GEMM in the form the shape asks for; the rest on BLAS. */
static void select_matmul(const ebmc_cg_program *p, int id, ebmc_kernel *kd)
{
    const ir_node *nd = &p->g->nodes[id];
    const ir_shape *as = &p->g->nodes[nd->in[0]].shape, *bs = &p->g->nodes[nd->in[1]].shape;
    kd->trans_a = p->info.view[nd->in[0]] == EBMC_VIEW_MATMUL_T;
    kd->trans_b = p->info.view[nd->in[1]] == EBMC_VIEW_MATMUL_T;
    int64_t k = as->d[as->rank - 1], n = bs->d[bs->rank - 1];
    if (kd->trans_a || !p->info.invariant[ebmc_operand_src(p->g, &p->info, id, 1)] || k == IR_DIM_N ||
        n == IR_DIM_N)
        kd->gemm = EBMC_GEMM_BLAS;
    else
        kd->gemm = ebmc_gemm_form_of(k, n, kd->trans_b);
}

/* ---- fused loops ------------------------------------------------------------------------------- */

/* Node id's kernel is a fused loop: an elementwise group, or one ending in a
 * sum over its last axis (a sink, fuse.c). */
static int fused_kernel(const ebmc_cg_program *p, int id)
{
    if (ebmc_fusible(p->g, &p->info, id))
        return 1;
    return id > 0 && p->v[id - 1].kernel == id && ebmc_fuse_sink(p->g, &p->info, id);
}

/* The group ending at last: its members, the operands it reads from outside
 * (in order of first use) and the members stored for readers outside it. */
static void fused_io_of(const ebmc_cg_program *p, int last, ebmc_fused_io *io)
{
    memset(io, 0, sizeof *io);
    io->first = io->last = last;
    io->sink = ebmc_fusible(p->g, &p->info, last) ? -1 : last;
    io->space = io->sink >= 0 ? p->g->nodes[last].in[0] : last;
    while (io->first > 0 && p->v[io->first - 1].kernel == last)
        io->first--;
    for (int j = io->first; j <= last; j++) {
        const ir_node *nd = &p->g->nodes[j];
        for (int k = 0; k < nd->n_in; k++) {
            int q = nd->in[k], seen = q >= io->first && q <= last;
            for (int e = 0; e < io->n_in && !seen; e++)
                seen = io->in[e] == q;
            if (!seen && io->n_in < EBMC_FUSE_MAX_IO)
                io->in[io->n_in++] = q;
        }
        if (p->v[j].store == EBMC_STORE_ARENA && io->n_out < EBMC_FUSE_MAX_IO)
            io->out[io->n_out++] = j;
    }
}

/* ---- the program ------------------------------------------------------------------------------- */

void ebmc_kernel_select(ebmc_cg_program *p)
{
    const ir_graph *g = p->g;
    memset(p->kern, 0, (size_t)g->n_nodes * sizeof *p->kern);
    for (int i = 0; i < g->n_nodes; i++) {
        ebmc_kernel *kd = &p->kern[i];
        if (p->v[i].kernel != i)
            continue;
        ir_op op = g->nodes[i].op;
        kd->variant = EBMC_KERNEL_OP;
        if (fused_kernel(p, i)) {
            kd->variant = EBMC_KERNEL_FUSED;
            fused_io_of(p, i, &kd->io);
        } else if (op == IR_OP_CONV2D || op == IR_OP_CONV2D_BWD_DATA || op == IR_OP_CONV2D_BWD_FILTER) {
            select_conv(p, i, kd);
        } else if (op == IR_OP_MATMUL) {
            select_matmul(p, i, kd);
        }
    }
}

/* ---- the Langevin update's loop ---------------------------------------------------------------- */

int ebmc_fused_reads_x(const ebmc_cg_program *p, const ebmc_fused_io *io, int e)
{
    return p->info.root[io->in[e]] == p->g->inputs[0];
}

int ebmc_langevin_kernel(const ebmc_cg_program *p, int score)
{
    const ir_graph *g = p->g;
    const ebmc_graph_info *gi = &p->info;
    const int r = gi->root[score], k = p->v[r].kernel;
    if (k < 0 || gi->invariant[k] || p->kern[k].variant != EBMC_KERNEL_FUSED || p->kern[k].io.sink >= 0)
        return -1;
    const ir_shape *sp = &g->nodes[k].shape;
    const int64_t numel = ir_shape_numel(&g->nodes[g->inputs[0]].shape, 1);
    if (sp->rank < 1 || sp->d[0] != IR_DIM_N || ir_shape_numel(sp, 1) != numel ||
        ir_shape_numel(&g->nodes[r].shape, 1) != numel)
        return -1;
    for (int a = 1; a < sp->rank; a++)
        if (sp->d[a] == IR_DIM_N)
            return -1;
    for (int j = k + 1; j < g->n_nodes; j++)   /* x changes in it: nothing may run after */
        if (p->v[j].kernel == j && !gi->invariant[j])
            return -1;
    const ebmc_fused_io *io = &p->kern[k].io;
    for (int j = io->first; j <= k; j++)   /* the energy, read after the loop, is not in it */
        if (j != r && gi->output[j])
            return -1;
    pshape space = ps_of(sp);
    pview c = v_contiguous(&space);
    for (int e = 0; e < io->n_in; e++) {   /* x read where it is written, or not at all */
        if (!ebmc_fused_reads_x(p, io, e))
            continue;
        pshape in = ps_of(&g->nodes[io->in[e]].shape);
        pview v = v_broadcast(&in, &space);
        int same = p_eq(v.base, c.base);
        for (int a = 0; a < space.rank; a++)
            same &= p_eq(v.stride[a], c.stride[a]);
        if (!same)
            return -1;
    }
    return k;
}
