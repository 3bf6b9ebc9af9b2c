/* onnx_lower_conv3d.c — 3-D Conv, ConvTranspose, MaxPool and AveragePool
 * ([N,C,D,H,W], volumetric or video energies) lowered to the 2-D core ops.
 *
 * The IR has 2-D windows only (CONV2D, CONV2D_BWD_DATA, MAXPOOL2D,
 * AVGPOOL2D); lowering the depth axis here, with movement ops, keeps
 * autodiff, the executor and the C backend unchanged.  N stays axis 0 and is
 * never merged; only static axes are folded together.  onnx_lower_nn.c has
 * read the attributes: `a` is the height/width part, `depth` the depth part.
 *
 * Conv.  Output depth o reads input depths o*sd - pb + t*dd, t = 0..kd-1.
 * With the depth padded (PAD) every tap t is a strided SLICE of Do depths;
 * the kd taps are stacked next to the channels (per group), the depths
 * folded into the channels, and one grouped CONV2D with Do*g groups
 * runs every (output depth, group) pair with the weight W[:, :, t] of all
 * taps at once:
 *     x  [N,C,Dp,H,W] -> tap t: [N, g, C/g, Do, H*W]  (SLICE, RESHAPE)
 *        -> CONCAT over taps [N, g, kd*C/g, Do, H*W] -> TRANSPOSE
 *        [N, Do, g, kd*C/g, H*W] -> RESHAPE [N, Do*kd*C, H, W]
 *     w  [O,C/g,kd,kh,kw] -> [O, kd*C/g, kh, kw] replicated Do times
 *        (BROADCAST over a leading axis) -> [Do*O, kd*C/g, kh, kw]
 *     y  CONV2D, group Do*g -> [N, Do*O, Ho, Wo] -> [N, O, Do, Ho, Wo].
 * Cost: the arithmetic of a direct 3-D convolution (each group is one depth
 * slice's 2-D convolution over the kd*C/g stacked channels); memory: the
 * input stacked kd times along its output depths (a depth-only im2col, kd*Do/D
 * times the input) and Do copies of the weight (computed once per call, in
 * the weight prologue).
 *
 * Pooling is separable: a box's max is the max over depth of the max over
 * height and width, and its average is the average over depth of the
 * averages over height and width, because the cells of a box inside the
 * input (or inside input + padding, count_include_pad; a ceil_mode window's
 * cells past the trailing padding never count) are the product of the three
 * per-axis ranges.  So: [N, C*D, H, W] pooled over (kh, kw), then
 * [N, C, D, Ho*Wo] pooled over (kd, 1): two 2-D poolings, kh*kw + kd reads
 * per output instead of kh*kw*kd.
 *
 * ConvTranspose.  Input depth d scatters tap t to output depth d*sd + t*dd.
 * The depths are folded into the channels and one CONV2D_BWD_DATA with
 * D*g groups produces every (input depth, tap) slice, with all kd taps as
 * extra output channels (the weight [Cin, Cout/g, kd, kh, kw] reordered to
 * [Cin, kd*Cout/g, kh, kw] and replicated D times); then each tap's slices
 * are spread sd apart (PAD of an added axis, RESHAPE), shifted by t*dd (PAD)
 * and summed (ADD), and the line cropped to the output window (SLICE).  Cost:
 * the arithmetic of a direct transposed convolution, plus kd adds of the
 * full-size output.
 */
#include <stdlib.h>
#include <string.h>

#include "onnx_internal.h"

/* Stacked taps or replicated weights larger than this (elements per sample
 * or in all) are refused rather than built. */
#define CONV3D_MAX_ELEMS ((double)(INT64_C(1) << 36))

static int add_node(onnx_imp_ctx *c, const onnx_imp_node *n, ir_op op, const int *in, int n_in, const ir_attr *a)
{
    return ir_add_node(onnx_imp_graph(c), op, in, n_in, a, n->label, onnx_imp_err(c));
}

static int transpose(onnx_imp_ctx *c, const onnx_imp_node *n, int x, const int *perm)
{
    return ir_transpose(onnx_imp_graph(c), x, perm, n->label, onnx_imp_err(c));
}

/* x with axis `axis` sliced to [start, end) by step. */
static int slice_axis(onnx_imp_ctx *c, const onnx_imp_node *n, int x, int axis, int64_t start, int64_t end,
                      int64_t step)
{
    if (x < 0)
        return -1;
    ir_shape s = onnx_imp_value_shape(c, x);
    ir_attr a = onnx_imp_attr_zero();
    onnx_imp_slice_all(&s, &a);
    a.slice.start[axis] = start;
    a.slice.end[axis] = end;
    a.slice.step[axis] = step;
    return add_node(c, n, IR_OP_SLICE, &x, 1, &a);
}

/* x with zeros added along axis `axis`. */
static int pad_axis(onnx_imp_ctx *c, const onnx_imp_node *n, int x, int axis, int64_t begin, int64_t end)
{
    if (x < 0 || (begin == 0 && end == 0))
        return x;
    ir_attr a = onnx_imp_attr_zero();
    a.pad.begin[axis] = begin;
    a.pad.end[axis] = end;
    return add_node(c, n, IR_OP_PAD, &x, 1, &a);
}

static int reshape(onnx_imp_ctx *c, const onnx_imp_node *n, int x, int rank, const int64_t *d)
{
    ir_shape s = ir_shape_make(0);
    s.rank = rank;
    memcpy(s.d, d, sizeof d[0] * (size_t)rank);
    return onnx_imp_reshape(c, n, x, s);
}

/* w [A, B, k, kh, kw] -> [A, k*B, kh, kw] (tap-major within a row) replicated
 * `copies` times: [copies*A, k*B, kh, kw]. */
static int tap_weight(onnx_imp_ctx *c, const onnx_imp_node *n, int w, int64_t copies)
{
    static const int perm[5] = {0, 2, 1, 3, 4};
    ir_shape s = onnx_imp_value_shape(c, w);
    int64_t one[5] = {1, s.d[0], s.d[2] * s.d[1], s.d[3], s.d[4]};
    int y = reshape(c, n, transpose(c, n, w, perm), 5, one);
    if (copies > 1 && y >= 0) {
        ir_shape b = onnx_imp_value_shape(c, y);
        b.d[0] = copies;
        y = ir_broadcast_to(onnx_imp_graph(c), y, b, n->label, onnx_imp_err(c));
    }
    int64_t flat[4] = {copies * one[1], one[2], one[3], one[4]};
    return reshape(c, n, y, 4, flat);
}

/* Fails unless a*b*c*d elements (as doubles: no overflow) stay below the limit. */
static int size_ok(onnx_imp_ctx *c, const onnx_imp_node *n, const char *what, double a, double b, double d, double e)
{
    double v = a * b * d * e;
    if (v <= CONV3D_MAX_ELEMS)
        return 1;
    onnx_imp_fail(c, n, EBM_ERR_UNSUPPORTED, "the 3-D lowering would need %s of %.3g elements (limit %.3g; see "
                  "docs/operators.md)", what, v, CONV3D_MAX_ELEMS);
    return 0;
}

int onnx_imp_conv3d(onnx_imp_ctx *c, const onnx_imp_node *n, int x, int w, const ir_attr *a,
                    const onnx_imp_depth *depth)
{
    char b1[64];
    if (x < 0 || w < 0)
        return -1;
    ir_shape sx = onnx_imp_value_shape(c, x), sw = onnx_imp_value_shape(c, w);
    int64_t g = a->conv.group, C = sx.d[1], D = sx.d[2], H = sx.d[3], W = sx.d[4];
    int64_t O = sw.d[0], kd = sw.d[2];
    if (C != sw.d[1] * g || O % g != 0) {
        onnx_imp_fail(c, n, EBM_ERR_INVALID, "the weight %s does not fit %lld input channels in %lld groups",
                      ir_shape_str(&sw, b1, sizeof b1), (long long)C, (long long)g);
        return -1;
    }
    int64_t span = depth->dilation * (kd - 1) + 1, dp = D + depth->pad[0] + depth->pad[1];
    if (dp < span) {
        onnx_imp_fail(c, n, EBM_ERR_INVALID, "the kernel depth %lld (dilation %lld) does not fit the input depth "
                      "%lld with pads %lld, %lld", (long long)kd, (long long)depth->dilation, (long long)D,
                      (long long)depth->pad[0], (long long)depth->pad[1]);
        return -1;
    }
    int64_t dout = (dp - span) / depth->stride + 1;
    if (!size_ok(c, n, "depth taps", (double)kd, (double)dout, (double)C, (double)H * (double)W) ||
        !size_ok(c, n, "weight copies", (double)dout, (double)O, (double)sw.d[1] * (double)kd,
                 (double)sw.d[3] * (double)sw.d[4]))
        return -1;
    x = pad_axis(c, n, x, 2, depth->pad[0], depth->pad[1]);
    int *taps = malloc(sizeof *taps * (size_t)kd);
    if (!taps) {
        onnx_imp_fail(c, n, EBM_ERR_NOMEM, "out of memory");
        return -1;
    }
    int64_t tap_shape[5] = {sx.d[0], g, C / g, dout, H * W};
    for (int64_t t = 0; t < kd; t++) {
        int64_t start = t * depth->dilation;
        int s = slice_axis(c, n, x, 2, start, start + (dout - 1) * depth->stride + 1, depth->stride);
        taps[t] = reshape(c, n, s, 5, tap_shape);
    }
    int y = ir_concat(onnx_imp_graph(c), taps, (int)kd, 2, n->label, onnx_imp_err(c));
    free(taps);
    static const int to_depth_major[5] = {0, 3, 1, 2, 4};
    int64_t folded[4] = {sx.d[0], dout * kd * C, H, W};
    y = reshape(c, n, transpose(c, n, y, to_depth_major), 4, folded);
    ir_attr a2 = *a;
    a2.conv.group = dout * g;
    int in[2] = {y, tap_weight(c, n, w, dout)};
    y = add_node(c, n, IR_OP_CONV2D, in, 2, &a2);
    if (y < 0)
        return -1;
    ir_shape sy = onnx_imp_value_shape(c, y);
    int64_t split[4] = {sx.d[0], dout, O, sy.d[2] * sy.d[3]}, out[5] = {sx.d[0], O, dout, sy.d[2], sy.d[3]};
    static const int swap12[4] = {0, 2, 1, 3};
    return reshape(c, n, transpose(c, n, reshape(c, n, y, 4, split), swap12), 5, out);
}

/* A 2-D pooling window that changes nothing (1x1, stride 1, no pads). */
static int pool_is_identity(const ir_pool_attr *p)
{
    for (int i = 0; i < 2; i++)
        if (p->kernel[i] != 1 || p->stride[i] != 1 || p->pad[i] != 0 || p->pad[i + 2] != 0)
            return 0;
    return 1;
}

int onnx_imp_pool3d(onnx_imp_ctx *c, const onnx_imp_node *n, ir_op op, int x, const ir_attr *a,
                    const onnx_imp_depth *depth)
{
    if (x < 0)
        return -1;
    ir_shape sx = onnx_imp_value_shape(c, x);
    int64_t N = sx.d[0], C = sx.d[1], D = sx.d[2];
    /* height and width: the depths folded into the channels */
    int64_t hw_in[4] = {N, C * D, sx.d[3], sx.d[4]};
    int y = reshape(c, n, x, 4, hw_in);
    if (!pool_is_identity(&a->pool))
        y = add_node(c, n, op, &y, 1, a);
    if (y < 0)
        return -1;
    ir_shape sy = onnx_imp_value_shape(c, y);
    int64_t ho = sy.d[2], wo = sy.d[3];
    /* depth: a 2-D window of width 1 over [N, C, D, Ho*Wo] */
    int64_t d_in[4] = {N, C, D, ho * wo};
    y = reshape(c, n, y, 4, d_in);
    ir_attr ad = *a;
    ad.pool.kernel[0] = depth->kernel;
    ad.pool.stride[0] = depth->stride;
    ad.pool.dilation[0] = depth->dilation;
    ad.pool.pad[0] = depth->pad[0];
    ad.pool.pad[2] = depth->pad[1];
    ad.pool.kernel[1] = ad.pool.stride[1] = ad.pool.dilation[1] = 1;
    ad.pool.pad[1] = ad.pool.pad[3] = 0;
    if (!pool_is_identity(&ad.pool))
        y = add_node(c, n, op, &y, 1, &ad);
    if (y < 0)
        return -1;
    int64_t out[5] = {N, C, onnx_imp_value_shape(c, y).d[2], ho, wo};
    return reshape(c, n, y, 5, out);
}

int onnx_imp_conv_transpose3d(onnx_imp_ctx *c, const onnx_imp_node *n, int x, int w, const ir_attr *a,
                              const onnx_imp_depth *depth)
{
    if (x < 0 || w < 0)
        return -1;
    ir_shape sx = onnx_imp_value_shape(c, x), sw = onnx_imp_value_shape(c, w);
    int64_t N = sx.d[0], cin = sx.d[1], D = sx.d[2], H = sx.d[3], W = sx.d[4];
    int64_t g = a->conv.group, cog = sw.d[1], kd = sw.d[2], sd = depth->stride;
    int64_t full = sd * (D - 1) + depth->dilation * (kd - 1) + 1;
    int64_t ho = a->conv.in_hw[0], wo = a->conv.in_hw[1];
    if (!size_ok(c, n, "tap outputs", (double)D * (double)sd, (double)kd, (double)cog * (double)g,
                 (double)ho * (double)wo) ||
        !size_ok(c, n, "weight copies", (double)D, (double)cin, (double)cog * (double)kd,
                 (double)sw.d[3] * (double)sw.d[4]))
        return -1;
    /* the depths folded into the channels: [N, D*Cin, H, W] */
    static const int swap12[4] = {0, 2, 1, 3};
    int64_t split[4] = {N, cin, D, H * W}, folded[4] = {N, D * cin, H, W};
    int y = reshape(c, n, transpose(c, n, reshape(c, n, x, 4, split), swap12), 4, folded);
    ir_attr a2 = *a;
    a2.conv.group = D * g;
    int in[2] = {y, tap_weight(c, n, w, D)};
    y = add_node(c, n, IR_OP_CONV2D_BWD_DATA, in, 2, &a2);
    /* [N, D, g, kd, Cout/g, Ho*Wo] -> [N, kd, g, Cout/g, D, Ho*Wo] -> [N, kd*Cout, D, 1, Ho*Wo] */
    static const int tap_major[6] = {0, 3, 2, 4, 1, 5};
    int64_t six[6] = {N, D, g, kd, cog, ho * wo}, spread[5] = {N, kd * g * cog, D, 1, ho * wo};
    y = reshape(c, n, transpose(c, n, reshape(c, n, y, 6, six), tap_major), 5, spread);
    /* input depth d lands at d*sd: sd - 1 zeros after each */
    y = pad_axis(c, n, y, 3, 0, sd - 1);
    int64_t lines[5] = {N, kd, g * cog, D * sd, ho * wo}, line[4] = {N, g * cog, (D - 1) * sd + 1, ho * wo};
    y = reshape(c, n, y, 5, lines);
    int sum = -1;
    for (int64_t t = 0; t < kd && y >= 0; t++) {
        int s = slice_axis(c, n, slice_axis(c, n, y, 1, t, t + 1, 1), 3, 0, (D - 1) * sd + 1, 1);
        s = pad_axis(c, n, reshape(c, n, s, 4, line), 2, t * depth->dilation, (kd - 1 - t) * depth->dilation);
        sum = t == 0 ? s : onnx_imp_bin(c, n, IR_OP_ADD, sum, s);
    }
    int64_t dout = full - depth->pad[0] - depth->pad[1], out[5] = {N, g * cog, dout, ho, wo};
    if (dout != full)
        sum = slice_axis(c, n, sum, 2, depth->pad[0], full - depth->pad[1], 1);
    return reshape(c, n, sum, 5, out);
}
