/* onnx_lower_nn.c — convolution, pooling and normalisation, lowered to core ops.
 *
 * Conv, MaxPool and AveragePool map onto the windowed core ops (CONV2D,
 * MAXPOOL2D, AVGPOOL2D) once ONNX's attribute forms (auto_pad, optional
 * lists, defaults) are resolved into explicit ir_conv_attr / ir_pool_attr
 * values.  The normalisations are compositions:
 *     y = (x - mean) * (var + eps)^-1/2 * scale + bias
 * with var = mean((x - mean)^2) computed in two passes, as PyTorch does (the
 * one-pass E[x^2] - E[x]^2 cancels catastrophically for large means).
 *
 * Output size of a window op along one spatial axis (ir/shape.c computes it,
 * the executor and code generator rely on it; keep the three in agreement):
 *
 *     span = H + pad_begin + pad_end - dilation*(kernel-1) - 1
 *     out  = floor(span / stride) + 1                  (ceil_mode = 0)
 *     out  = ceil(span / stride) + 1,  then out -= 1 if (out-1)*stride >= H + pad_begin
 *                                                      (ceil_mode = 1)
 *
 * i.e. with ceil_mode a last, partial window is kept only if it starts inside
 * the input or its leading padding; one starting in the trailing padding is
 * dropped (PyTorch's rule, and what ONNX's test
 * averagepool_2d_ceil_last_window_starts_on_pad expects).  Window o covers
 * input rows o*stride - pad_begin + k*dilation, k = 0..kernel-1.  MAXPOOL2D
 * ignores cells outside the input; AVGPOOL2D divides by the cells inside the
 * input, or with count_include_pad by those inside input + padding (cells a
 * ceil_mode window has beyond the trailing padding never count).
 */
#include <string.h>

#include "onnx_internal.h"


static ir_attr attr_zero(void)
{
    ir_attr a;
    memset(&a, 0, sizeof a);
    return a;
}

static int add_node(onnx_imp_ctx *c, const onnx_imp_node *n, ir_op op, const int *in, int n_in, const ir_attr *a)
{
    return ir_add_node(onnx_imp_graph(c), op, in, n_in, a, n->label, onnx_imp_err(c));
}

/* Bits first..rank-1: the axes after the batch and channel ones, etc. */
static uint32_t axes_from(int first, int rank)
{
    return first >= rank ? 0 : ((1u << rank) - 1) & ~((1u << first) - 1);
}

/* ---- window attributes ---------------------------------------------------- */

/* The spatial axes of a window op, always three: depth, height, width.  A
 * 1-D or 2-D op has the missing leading axes with kernel, stride and dilation
 * 1 and no padding; pads are the three begins, then the three ends. */
typedef struct window {
    int64_t kernel[3], stride[3], dilation[3], pad[6];
} window;

/* Window sizes beyond this are certainly not a real model, and keeping them
 * small keeps every size computation far from int64 overflow. */
#define WINDOW_ATTR_MAX (INT64_C(1) << 30)

/* Attribute `name` as exactly `count` ints in [min, WINDOW_ATTR_MAX], or
 * dflt for each if absent. */
static ebm_status ints_attr(onnx_imp_ctx *c, const onnx_imp_node *n, const char *name, int count, int64_t dflt,
                            int64_t min, int64_t *out)
{
    int64_t v[8];
    int k = onnx_imp_attr_ints(n, name, v, 8);
    for (int i = 0; k == -1 && i < count; i++)
        out[i] = dflt;
    if (k == -1)
        return EBM_OK;
    if (k != count)
        return onnx_imp_fail(c, n, EBM_ERR_INVALID, "attribute %s has %s%d values, expected %d for a %d-D window",
                             name, k < 0 ? "more than " : "", k < 0 ? 8 : k, count,
                             count % 2 == 0 && strcmp(name, "pads") == 0 ? count / 2 : count);
    for (int i = 0; i < count; i++) {
        if (v[i] < min || v[i] > WINDOW_ATTR_MAX)
            return onnx_imp_fail(c, n, EBM_ERR_INVALID, "attribute %s[%d] = %lld, expected %lld..%lld", name, i,
                                 (long long)v[i], (long long)min, (long long)WINDOW_ATTR_MAX);
        out[i] = v[i];
    }
    return EBM_OK;
}

/* A per-axis window attribute for `nsp` (1, 2 or 3) spatial axes, as three
 * axes (depth, height, width): the axes a 1-D or 2-D window lacks take dflt.
 * `per_axis` is 1 for kernel/strides/dilations, 2 for pads (begins, ends). */
static ebm_status window_attr(onnx_imp_ctx *c, const onnx_imp_node *n, const char *name, int nsp, int per_axis,
                              int64_t dflt, int64_t min, int64_t *out)
{
    int64_t v[6];
    ebm_status st = ints_attr(c, n, name, nsp * per_axis, dflt, min, v);
    for (int i = 0; st == EBM_OK && i < 3; i++) {
        int j = i - (3 - nsp);
        out[i] = j >= 0 ? v[j] : dflt;
        if (per_axis == 2)
            out[3 + i] = j >= 0 ? v[nsp + j] : dflt;
    }
    return st;
}

/* SAME_UPPER / SAME_LOWER: pad so that out = ceil(H / stride); an odd total
 * puts the extra cell at the end (UPPER) or the beginning (LOWER). */
static void same_pads(const int64_t *sp, window *w, int lower)
{
    for (int i = 0; i < 3; i++) {
        int64_t out = (sp[i] + w->stride[i] - 1) / w->stride[i];
        int64_t total = (out - 1) * w->stride[i] + (w->kernel[i] - 1) * w->dilation[i] + 1 - sp[i];
        if (total < 0)
            total = 0;
        int64_t small = total / 2, big = total - small;
        w->pad[i] = lower ? big : small;
        w->pad[i + 3] = lower ? small : big;
    }
}

/* Strides, dilations and pads (explicit or from auto_pad) for a window whose
 * kernel is already in w->kernel, over spatial sizes sp (depth, height, width). */
static ebm_status read_window(onnx_imp_ctx *c, const onnx_imp_node *n, const int64_t *sp, int nsp, window *w)
{
    char buf[32];
    ebm_status st = window_attr(c, n, "strides", nsp, 1, 1, 1, w->stride);
    if (st == EBM_OK)
        st = window_attr(c, n, "dilations", nsp, 1, 1, 1, w->dilation);
    if (st == EBM_OK)
        st = window_attr(c, n, "pads", nsp, 2, 0, 0, w->pad);
    if (st != EBM_OK)
        return st;
    const char *ap = onnx_imp_attr_string(n, "auto_pad", buf, sizeof buf, "NOTSET");
    if (strcmp(ap, "NOTSET") == 0 || ap[0] == 0)
        return EBM_OK;
    for (int i = 0; i < 6; i++)
        if (w->pad[i] != 0)
            return onnx_imp_fail(c, n, EBM_ERR_INVALID, "attribute pads cannot be combined with auto_pad = %s", ap);
    if (strcmp(ap, "VALID") == 0)
        return EBM_OK;
    if (strcmp(ap, "SAME_UPPER") != 0 && strcmp(ap, "SAME_LOWER") != 0)
        return onnx_imp_fail(c, n, EBM_ERR_UNSUPPORTED, "attribute auto_pad = '%s' is not supported "
                             "(expected NOTSET, VALID, SAME_UPPER or SAME_LOWER)", ap);
    same_pads(sp, w, strcmp(ap, "SAME_LOWER") == 0);
    return EBM_OK;
}

/* The height and width part of a window, in the 2-D core ops' order. */
static void window_hw(const window *w, int64_t *stride, int64_t *dilation, int64_t *pad)
{
    for (int i = 0; i < 2; i++) {
        stride[i] = w->stride[1 + i];
        dilation[i] = w->dilation[1 + i];
        pad[i] = w->pad[1 + i];
        pad[2 + i] = w->pad[4 + i];
    }
}

/* The depth part of a window, for onnx_lower_conv3d.c. */
static onnx_imp_depth window_depth(const window *w)
{
    onnx_imp_depth d = {w->kernel[0], w->stride[0], w->dilation[0], {w->pad[0], w->pad[3]}};
    return d;
}

/* Spatial sizes (depth, height, width) of a 4-D or 5-D input shape. */
static void spatial_sizes(const ir_shape *s, int64_t *sp)
{
    sp[0] = s->rank == 5 ? s->d[2] : 1;
    sp[1] = s->d[s->rank - 2];
    sp[2] = s->d[s->rank - 1];
}

/* Input 0, [N,C,H,W], (1-D) [N,C,L] or (3-D) [N,C,D,H,W].  A 1-D input is
 * reshaped to [N,C,1,L] so the 2-D core ops serve both; a 3-D one stays 5-D
 * (onnx_lower_conv3d.c lowers it).  *nsp gets the number of spatial axes and
 * *s the shape (4-D or 5-D).  `what` names the op family for the message. */
static int spatial_input(onnx_imp_ctx *c, const onnx_imp_node *n, const char *what, ir_shape *s, int *nsp)
{
    int x = onnx_imp_input(c, n, 0);
    *s = onnx_imp_value_shape(c, x);
    if (x >= 0 && (s->rank < 3 || s->rank > 5)) {
        onnx_imp_fail(c, n, EBM_ERR_UNSUPPORTED, "only 1-D, 2-D and 3-D %s are supported (input rank %d; see "
                      "docs/operators.md)", what, s->rank);
        return -1;
    }
    *nsp = s->rank - 2;
    if (x >= 0 && s->rank == 3) {
        *s = ir_shape_make(4, 0, 0, 1, 0);
        ir_shape s3 = onnx_imp_value_shape(c, x);
        s->d[0] = s3.d[0], s->d[1] = s3.d[1], s->d[3] = s3.d[2];
        x = onnx_imp_reshape(c, n, x, *s);
    }
    return x;
}

/* Drops the height axis a 1-D window op was given (nsp == 1). */
static int spatial_output(onnx_imp_ctx *c, const onnx_imp_node *n, int y, int nsp)
{
    if (y < 0 || nsp != 1)
        return y;
    ir_shape s = onnx_imp_value_shape(c, y), t = ir_shape_make(3, 0, 0, 0);
    t.d[0] = s.d[0], t.d[1] = s.d[1], t.d[2] = s.d[3];
    return onnx_imp_reshape(c, n, y, t);
}

/* A per-channel parameter [C] (or, for BatchNormalization with spatial = 0,
 * shaped like x without N) reshaped to broadcast against x: [1,C,1,...]. */
static int channel_param(onnx_imp_ctx *c, const onnx_imp_node *n, int v, const ir_shape *x, const char *what)
{
    ir_shape s = onnx_imp_value_shape(c, v), t = ir_shape_make(0);
    char b1[64], b2[64];
    if (v < 0)
        return -1;
    t.rank = x->rank;
    t.d[0] = 1;
    if (s.rank == 1 && s.d[0] == x->d[1]) {
        for (int i = 1; i < t.rank; i++)
            t.d[i] = i == 1 ? s.d[0] : 1;
        return onnx_imp_reshape(c, n, v, t);
    }
    if (s.rank == x->rank - 1) {
        for (int i = 1; i < t.rank; i++)
            t.d[i] = s.d[i - 1];
        return onnx_imp_reshape(c, n, v, t);
    }
    onnx_imp_fail(c, n, EBM_ERR_SHAPE, "%s has shape %s; expected [%lld], one value per channel of the input %s",
                  what, ir_shape_str(&s, b1, sizeof b1), (long long)x->d[1], ir_shape_str(x, b2, sizeof b2));
    return -1;
}

/* ---- Conv ---------------------------------------------------------------------- */

/* Kernel size from the weight (rank nsp + 2, 1-D weights already made 2-D);
 * kernel_shape, when given, must agree. */
static ebm_status conv_kernel(onnx_imp_ctx *c, const onnx_imp_node *n, const ir_shape *w, int nsp, window *win)
{
    static const char *const dims[] = {"k", "kh, kw", "kd, kh, kw"};
    char b1[64];
    int rank = nsp == 3 ? 5 : 4;
    if (w->rank == rank)
        spatial_sizes(w, win->kernel);
    if (w->rank != rank || win->kernel[0] < 1 || win->kernel[1] < 1 || win->kernel[2] < 1)
        return onnx_imp_fail(c, n, EBM_ERR_INVALID,
                             "the weight W must be [O, C/group, %s] with kernel sizes >= 1, its shape is %s",
                             dims[nsp - 1], ir_shape_str(w, b1, sizeof b1));
    int64_t ks[3];
    if (!onnx_imp_attr(n, "kernel_shape"))
        return EBM_OK;
    ebm_status st = window_attr(c, n, "kernel_shape", nsp, 1, 1, 1, ks);
    if (st == EBM_OK && (ks[0] != win->kernel[0] || ks[1] != win->kernel[1] || ks[2] != win->kernel[2]))
        return onnx_imp_fail(c, n, EBM_ERR_INVALID, "kernel_shape does not match the weight %s",
                             ir_shape_str(w, b1, sizeof b1));
    return st;
}

/* The window of Conv: *a gets its height and width part (with the group),
 * *depth its depth part (kernel 1 unless nsp == 3). */
static ebm_status conv_attr(onnx_imp_ctx *c, const onnx_imp_node *n, const ir_shape *sx, const ir_shape *sw, int nsp,
                            ir_attr *a, onnx_imp_depth *depth)
{
    window win;
    int64_t sp[3];
    spatial_sizes(sx, sp);
    ebm_status st = conv_kernel(c, n, sw, nsp, &win);
    if (st == EBM_OK)
        st = read_window(c, n, sp, nsp, &win);
    if (st != EBM_OK)
        return st;
    *a = attr_zero();
    window_hw(&win, a->conv.stride, a->conv.dilation, a->conv.pad);
    *depth = window_depth(&win);
    a->conv.group = onnx_imp_attr_int(n, "group", 1);
    if (a->conv.group < 1 || a->conv.group > WINDOW_ATTR_MAX)
        return onnx_imp_fail(c, n, EBM_ERR_INVALID, "attribute group = %lld, expected 1..%lld", (long long)a->conv.group,
                             (long long)WINDOW_ATTR_MAX);
    return EBM_OK;
}

/* The operands of Conv and ConvTranspose after their attributes are checked:
 * the input x (1-D inputs as 2-D with height 1), its shape, the number of
 * spatial axes, and the weight w as 2-D ([O, C/g, k] -> [O, C/g, 1, k]; the
 * parameter itself stays 3-D). */
static ebm_status conv_operands(onnx_imp_ctx *c, const onnx_imp_node *n, const char *const *known, const char *what,
                                int *x, ir_shape *sx, int *nsp, int *w, ir_shape *sw)
{
    *nsp = 2;
    ebm_status st = onnx_imp_check_attrs(c, n, known);
    *x = st == EBM_OK ? spatial_input(c, n, what, sx, nsp) : -1;
    *w = *x < 0 ? -1 : onnx_imp_input(c, n, 1);
    if (*w < 0)
        return onnx_imp_err(c)->code;
    *sw = onnx_imp_value_shape(c, *w);
    if (*nsp == 1 && sw->rank == 3) {
        ir_shape s4 = ir_shape_make(4, 0, 0, 1, 0);
        s4.d[0] = sw->d[0], s4.d[1] = sw->d[1], s4.d[3] = sw->d[2];
        *w = onnx_imp_reshape(c, n, *w, s4);
        *sw = s4;
    }
    return EBM_OK;
}

ebm_status onnx_imp_lower_conv(onnx_imp_ctx *c, const onnx_imp_node *n)
{
    static const char *const known[] = {"auto_pad", "dilations", "group", "kernel_shape", "pads", "strides",
                                        NULL};
    ir_shape sx, sw;
    int x, w, nsp;
    ebm_status st = conv_operands(c, n, known, "convolutions", &x, &sx, &nsp, &w, &sw);
    if (st != EBM_OK)
        return st;
    ir_attr a;
    onnx_imp_depth depth;
    if ((st = conv_attr(c, n, &sx, &sw, nsp, &a, &depth)) != EBM_OK)
        return st;
    int in[2] = {x, w};
    int y = nsp == 3 ? onnx_imp_conv3d(c, n, x, w, &a, &depth) : add_node(c, n, IR_OP_CONV2D, in, 2, &a);
    if (y >= 0 && onnx_imp_has_input(n, 2)) {
        ir_shape sy = onnx_imp_value_shape(c, y);
        y = onnx_imp_bin(c, n, IR_OP_ADD, y, channel_param(c, n, onnx_imp_input(c, n, 2), &sy, "the bias B"));
    }
    return onnx_imp_set_output(c, n, 0, spatial_output(c, n, y, nsp));
}

/* ---- pooling ---------------------------------------------------------------------- */

/* The window of MaxPool / AveragePool: *a the height and width part, *depth
 * the depth part. */
static ebm_status pool_attr(onnx_imp_ctx *c, const onnx_imp_node *n, const ir_shape *sx, int nsp, int is_avg, ir_attr *a,
                            onnx_imp_depth *depth)
{
    window win;
    int64_t sp[3];
    spatial_sizes(sx, sp);
    if (!onnx_imp_attr(n, "kernel_shape"))
        return onnx_imp_fail(c, n, EBM_ERR_INVALID, "attribute kernel_shape is required");
    ebm_status st = window_attr(c, n, "kernel_shape", nsp, 1, 1, 1, win.kernel);
    if (st == EBM_OK)
        st = read_window(c, n, sp, nsp, &win);
    if (st != EBM_OK)
        return st;
    *a = attr_zero();
    a->pool.kernel[0] = win.kernel[1];
    a->pool.kernel[1] = win.kernel[2];
    window_hw(&win, a->pool.stride, a->pool.dilation, a->pool.pad);
    *depth = window_depth(&win);
    a->pool.ceil_mode = onnx_imp_attr_int(n, "ceil_mode", 0) != 0;
    a->pool.count_include_pad = is_avg && onnx_imp_attr_int(n, "count_include_pad", 0) != 0;
    return EBM_OK;
}

/* MaxPool's optional Indices output is not bound: a node that reads it fails
 * with the value named.  storage_order only concerns those indices. */
static ebm_status lower_pool(onnx_imp_ctx *c, const onnx_imp_node *n, ir_op op)
{
    static const char *const max_known[] = {"auto_pad", "ceil_mode", "dilations", "kernel_shape", "pads",
                                            "storage_order", "strides", NULL};
    static const char *const avg_known[] = {"auto_pad", "ceil_mode", "count_include_pad", "dilations",
                                            "kernel_shape", "pads", "strides", NULL};
    int is_avg = op == IR_OP_AVGPOOL2D;
    ebm_status st = onnx_imp_check_attrs(c, n, is_avg ? avg_known : max_known);
    ir_shape sx;
    int nsp = 2;
    int x = st == EBM_OK ? spatial_input(c, n, "poolings", &sx, &nsp) : -1;
    ir_attr a;
    onnx_imp_depth depth;
    if (x < 0)
        return onnx_imp_err(c)->code;
    if ((st = pool_attr(c, n, &sx, nsp, is_avg, &a, &depth)) != EBM_OK)
        return st;
    int y = nsp == 3 ? onnx_imp_pool3d(c, n, op, x, &a, &depth) : add_node(c, n, op, &x, 1, &a);
    return onnx_imp_set_output(c, n, 0, spatial_output(c, n, y, nsp));
}

ebm_status onnx_imp_lower_max_pool(onnx_imp_ctx *c, const onnx_imp_node *n) { return lower_pool(c, n, IR_OP_MAXPOOL2D); }
ebm_status onnx_imp_lower_average_pool(onnx_imp_ctx *c, const onnx_imp_node *n) { return lower_pool(c, n, IR_OP_AVGPOOL2D); }

ebm_status onnx_imp_lower_global_average_pool(onnx_imp_ctx *c, const onnx_imp_node *n)
{
    ebm_status st = onnx_imp_check_attrs(c, n, NULL);
    int x = st == EBM_OK ? onnx_imp_input(c, n, 0) : -1;
    ir_shape s = onnx_imp_value_shape(c, x);
    if (x >= 0 && s.rank < 3)
        return onnx_imp_fail(c, n, EBM_ERR_INVALID, "the input must be [N,C,spatial...], its rank is %d", s.rank);
    return onnx_imp_set_output(c, n, 0, onnx_imp_mean(c, n, x, axes_from(2, s.rank), "GlobalAveragePool"));
}

ebm_status onnx_imp_lower_global_max_pool(onnx_imp_ctx *c, const onnx_imp_node *n)
{
    ebm_status st = onnx_imp_check_attrs(c, n, NULL);
    int x = st == EBM_OK ? onnx_imp_input(c, n, 0) : -1;
    ir_shape s = onnx_imp_value_shape(c, x);
    if (x >= 0 && s.rank < 3)
        return onnx_imp_fail(c, n, EBM_ERR_INVALID, "the input must be [N,C,spatial...], its rank is %d", s.rank);
    return onnx_imp_set_output(c, n, 0, ir_reduce(onnx_imp_graph(c), IR_OP_RMAX, x, axes_from(2, s.rank), n->label, onnx_imp_err(c)));
}

/* ---- normalisation ------------------------------------------------------------------ */

/* (var + eps)^-1/2 */
static int inv_sqrt(onnx_imp_ctx *c, const onnx_imp_node *n, int var, double eps)
{
    return ir_pows(onnx_imp_graph(c), onnx_imp_bin_k(c, n, IR_OP_ADD, var, eps), -0.5, n->label, onnx_imp_err(c));
}

/* (x - mean) / sqrt(var + eps) over axes; *mean and *inv_std (dims kept) are
 * the statistics, which LayerNormalization can also output. */
static int normalize(onnx_imp_ctx *c, const onnx_imp_node *n, int x, uint32_t axes, double eps, const char *what,
                     int *mean, int *inv_std)
{
    *mean = onnx_imp_mean(c, n, x, axes, what);
    int d = onnx_imp_bin(c, n, IR_OP_SUB, x, *mean);
    int var = onnx_imp_mean(c, n, onnx_imp_bin(c, n, IR_OP_MUL, d, d), axes, what);
    *inv_std = inv_sqrt(c, n, var, eps);
    return onnx_imp_bin(c, n, IR_OP_MUL, d, *inv_std);
}

/* x * scale + bias, per channel. */
static int channel_affine(onnx_imp_ctx *c, const onnx_imp_node *n, int x, int scale, int bias)
{
    ir_shape s = onnx_imp_value_shape(c, x);
    int y = onnx_imp_bin(c, n, IR_OP_MUL, x, channel_param(c, n, scale, &s, "the scale"));
    return onnx_imp_bin(c, n, IR_OP_ADD, y, channel_param(c, n, bias, &s, "the bias"));
}

/* stash_type is the precision of the statistics; ebmc computes in float32 only. */
static ebm_status check_stash_type(onnx_imp_ctx *c, const onnx_imp_node *n)
{
    int64_t t = onnx_imp_attr_int(n, "stash_type", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT);
    if (t != ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT)
        return onnx_imp_fail(c, n, EBM_ERR_UNSUPPORTED,
                             "attribute stash_type = %lld is not supported (only 1, float32)", (long long)t);
    return EBM_OK;
}

/* The opening of LayerNormalization and GroupNormalization: attributes
 * checked, input 0 and its shape in *s; -1 on error. */
static int norm_input(onnx_imp_ctx *c, const onnx_imp_node *n, const char *const *known, ir_shape *s)
{
    ebm_status st = onnx_imp_check_attrs(c, n, known);
    if (st == EBM_OK)
        st = check_stash_type(c, n);
    int x = st == EBM_OK ? onnx_imp_input(c, n, 0) : -1;
    if (x >= 0)
        *s = onnx_imp_value_shape(c, x);
    return x;
}

static int has_output(const onnx_imp_node *n, int k)
{
    return (size_t)k < n->p->n_output && n->p->output[k][0] != 0;
}

/* Running statistics are model constants but not trained: their CONST nodes
 * lose IR_NODE_TRAINABLE (they stay PARAM, so they are still saved). */
static int statistic_input(onnx_imp_ctx *c, const onnx_imp_node *n, int k)
{
    int v = onnx_imp_input(c, n, k);
    ir_graph *g = onnx_imp_graph(c);
    if (v >= 0 && g->nodes[v].op == IR_OP_CONST)
        g->nodes[v].flags &= ~(unsigned)IR_NODE_TRAINABLE;
    return v;
}

/* Only inference is supported: training mode normalises with the batch's own
 * statistics and updates the running ones (outputs 1..4). */
static ebm_status batch_norm_mode(onnx_imp_ctx *c, const onnx_imp_node *n)
{
    if (onnx_imp_attr_int(n, "training_mode", 0) != 0)
        return onnx_imp_fail(c, n, EBM_ERR_UNSUPPORTED,
                             "training_mode = 1 is not supported; export the model in eval mode (model.eval())");
    if (n->opset < 7 && onnx_imp_attr_int(n, "is_test", 0) == 0)
        return onnx_imp_fail(c, n, EBM_ERR_UNSUPPORTED,
                             "is_test = 0 (training mode) is not supported; export the model in eval mode");
    for (int k = 1; k < 5; k++)
        if (has_output(n, k))
            return onnx_imp_fail(c, n, EBM_ERR_UNSUPPORTED,
                                 "output %d (a training-mode statistic) is not supported; export the model in "
                                 "eval mode", k);
    return EBM_OK;
}

ebm_status onnx_imp_lower_batch_norm(onnx_imp_ctx *c, const onnx_imp_node *n)
{
    static const char *const known[] = {"epsilon", "momentum", "training_mode", "is_test", "spatial",
                                        "consumed_inputs", NULL};
    ebm_status st = onnx_imp_check_attrs(c, n, known);
    if (st == EBM_OK)
        st = batch_norm_mode(c, n);
    int x = st == EBM_OK ? onnx_imp_input(c, n, 0) : -1;
    ir_shape s = onnx_imp_value_shape(c, x);
    if (x >= 0 && s.rank < 2)
        return onnx_imp_fail(c, n, EBM_ERR_INVALID, "the input must be [N,C,...], its rank is %d", s.rank);
    double eps = onnx_imp_attr_float(n, "epsilon", 1e-5);
    int scale = x < 0 ? -1 : onnx_imp_input(c, n, 1), bias = x < 0 ? -1 : onnx_imp_input(c, n, 2);
    int mean = x < 0 ? -1 : statistic_input(c, n, 3), var = x < 0 ? -1 : statistic_input(c, n, 4);
    /* scale / sqrt(var + eps) is per channel: compute it before broadcasting */
    int k = onnx_imp_bin(c, n, IR_OP_MUL, scale, inv_sqrt(c, n, var, eps));
    int d = onnx_imp_bin(c, n, IR_OP_SUB, x, channel_param(c, n, mean, &s, "the mean"));
    return onnx_imp_set_output(c, n, 0, channel_affine(c, n, d, k, bias));
}

ebm_status onnx_imp_lower_instance_norm(onnx_imp_ctx *c, const onnx_imp_node *n)
{
    static const char *const known[] = {"epsilon", NULL};
    ebm_status st = onnx_imp_check_attrs(c, n, known);
    int x = st == EBM_OK ? onnx_imp_input(c, n, 0) : -1;
    ir_shape s = onnx_imp_value_shape(c, x);
    if (x >= 0 && s.rank < 3)
        return onnx_imp_fail(c, n, EBM_ERR_INVALID, "the input must be [N,C,spatial...], its rank is %d", s.rank);
    int mean, inv_std;
    int y = normalize(c, n, x, axes_from(2, s.rank), onnx_imp_attr_float(n, "epsilon", 1e-5),
                      "InstanceNormalization", &mean, &inv_std);
    int scale = y < 0 ? -1 : onnx_imp_input(c, n, 1), bias = y < 0 ? -1 : onnx_imp_input(c, n, 2);
    return onnx_imp_set_output(c, n, 0, channel_affine(c, n, y, scale, bias));
}

/* y op input k, where input k may broadcast against y but not grow it. */
static int layer_affine(onnx_imp_ctx *c, const onnx_imp_node *n, ir_op op, int y, int k, const ir_shape *s)
{
    const char *what = k == 1 ? "the shape of Scale" : "the shape of B";
    return onnx_imp_keep_shape(c, n, onnx_imp_bin(c, n, op, y, onnx_imp_input(c, n, k)), s, what);
}

/* Normalises over the axes from `axis` on; outputs 1 and 2 (Mean, InvStdDev,
 * dims kept) are the statistics, bound when the model asks for them. */
ebm_status onnx_imp_lower_layer_norm(onnx_imp_ctx *c, const onnx_imp_node *n)
{
    static const char *const known[] = {"axis", "epsilon", "stash_type", NULL};
    ir_shape s;
    int x = norm_input(c, n, known, &s);
    if (x < 0)
        return onnx_imp_err(c)->code;
    int64_t axis = onnx_imp_attr_int(n, "axis", -1);
    int a = onnx_imp_norm_axis(axis, s.rank);
    if (a < 0)
        return onnx_imp_fail(c, n, EBM_ERR_INVALID, "axis %lld is out of range for rank %d", (long long)axis, s.rank);
    int mean, inv_std;
    int y = normalize(c, n, x, axes_from(a, s.rank), onnx_imp_attr_float(n, "epsilon", 1e-5), "LayerNormalization",
                      &mean, &inv_std);
    y = layer_affine(c, n, IR_OP_MUL, y, 1, &s);
    if (onnx_imp_has_input(n, 2))
        y = layer_affine(c, n, IR_OP_ADD, y, 2, &s);
    ebm_status st = onnx_imp_set_output(c, n, 0, y);
    if (st == EBM_OK)
        st = onnx_imp_set_output(c, n, 1, mean);
    if (st == EBM_OK)
        st = onnx_imp_set_output(c, n, 2, inv_std);
    return st;
}

/* Checks that input k holds `count` values; returns its id. */
static int sized_input(onnx_imp_ctx *c, const onnx_imp_node *n, int k, int64_t count, const char *what)
{
    int v = onnx_imp_input(c, n, k);
    ir_shape s = onnx_imp_value_shape(c, v);
    char b1[64];
    if (v >= 0 && (s.rank != 1 || s.d[0] != count)) {
        onnx_imp_fail(c, n, EBM_ERR_SHAPE, "input %d has shape %s; at opset %lld it must be [%lld] (%s)", k,
                      ir_shape_str(&s, b1, sizeof b1), (long long)n->opset, (long long)count, what);
        return -1;
    }
    return v;
}

/* [N,C,...] seen as [N, groups, C/groups * spatial] (or back). */
static ir_shape grouped_shape(const ir_shape *s, int64_t groups)
{
    ir_shape t = ir_shape_make(0);
    t.rank = 3;
    t.d[0] = s->d[0];
    t.d[1] = groups;
    t.d[2] = s->d[1] / groups;
    for (int i = 2; i < s->rank; i++)
        t.d[2] *= s->d[i];
    return t;
}

/* Statistics per sample and group of channels.  scale and bias are per group
 * before opset 21 (applied in the grouped view) and per channel from 21 on. */
ebm_status onnx_imp_lower_group_norm(onnx_imp_ctx *c, const onnx_imp_node *n)
{
    static const char *const known[] = {"num_groups", "epsilon", "stash_type", NULL};
    ir_shape s;
    int x = norm_input(c, n, known, &s);
    if (x < 0)
        return onnx_imp_err(c)->code;
    int64_t groups = onnx_imp_attr_int(n, "num_groups", 0);
    if (s.rank < 2 || s.d[1] < 1)
        return onnx_imp_fail(c, n, EBM_ERR_INVALID, "the input must be [N,C,...] with C >= 1, its rank is %d", s.rank);
    if (groups < 1 || s.d[1] % groups != 0)
        return onnx_imp_fail(c, n, EBM_ERR_INVALID, "num_groups = %lld must be >= 1 and divide the %lld channels",
                             (long long)groups, (long long)s.d[1]);
    int per_channel = n->opset >= 21;
    int64_t count = per_channel ? s.d[1] : groups;
    const char *what = per_channel ? "one value per channel" : "one value per group";
    int scale = sized_input(c, n, 1, count, what);
    int bias = scale < 0 ? -1 : sized_input(c, n, 2, count, what);
    int mean, inv_std;
    int y = onnx_imp_reshape(c, n, x, grouped_shape(&s, groups));
    y = normalize(c, n, bias < 0 ? -1 : y, 1u << 2, onnx_imp_attr_float(n, "epsilon", 1e-5), "GroupNormalization",
                  &mean, &inv_std);
    if (!per_channel)
        y = channel_affine(c, n, y, scale, bias);
    y = onnx_imp_reshape(c, n, y, s);
    if (per_channel)
        y = channel_affine(c, n, y, scale, bias);
    return onnx_imp_set_output(c, n, 0, y);
}

/* ---- ConvTranspose ------------------------------------------------------------- */

/* ConvTranspose is the data gradient of a convolution, which the core op
 * CONV2D_BWD_DATA(dy, w) computes: with X as dy and W [C_in, C_out/g, kh, kw]
 * as the convolution's weight [O, C/g, kh, kw] (O = C_in, C = C_out), the
 * channel and group mapping are the same.  Along one spatial axis, without
 * pads, the transposed convolution covers Hfull = s (in - 1) + d (k - 1) + 1
 * cells; ONNX's result is the window [pb, pb + out) of that line (pads crop,
 * output_padding / output_shape extend, zeros beyond Hfull).  The part
 * [lo, hi) inside the line is a CONV2D_BWD_DATA with pads (lo, Hfull - hi):
 * the convolution of a line of hi - lo cells with those pads has exactly
 * `in` windows.  What lies outside [0, Hfull) is zeros, added by PAD.  A 3-D
 * ConvTranspose does the same along depth in onnx_lower_conv3d.c. */
static ebm_status convt_geometry(onnx_imp_ctx *c, const onnx_imp_node *n, const ir_shape *sx, const window *w,
                                 int nsp, int64_t *begin, int64_t *out)
{
    char buf[32];
    int64_t opad[3], oshape[5], sp[3];
    ebm_status st = window_attr(c, n, "output_padding", nsp, 1, 0, 0, opad);
    if (st != EBM_OK)
        return st;
    spatial_sizes(sx, sp);
    const char *ap = onnx_imp_attr_string(n, "auto_pad", buf, sizeof buf, "NOTSET");
    int same = strcmp(ap, "SAME_UPPER") == 0 || strcmp(ap, "SAME_LOWER") == 0;
    if (ap[0] && !same && strcmp(ap, "NOTSET") != 0 && strcmp(ap, "VALID") != 0)
        return onnx_imp_fail(c, n, EBM_ERR_UNSUPPORTED, "attribute auto_pad = '%s' is not supported "
                             "(expected NOTSET, VALID, SAME_UPPER or SAME_LOWER)", ap);
    int k = onnx_imp_attr_ints(n, "output_shape", oshape, 5);
    if (k != -1 && k != nsp && k != nsp + 2)
        return onnx_imp_fail(c, n, EBM_ERR_INVALID, "attribute output_shape has %d values, expected %d", k, nsp);
    for (int i = 0; i < 3; i++) {
        int j = i - (3 - nsp);   /* the axis among the node's spatial ones; < 0 for an added one */
        int64_t in = sp[i];
        int64_t span = (w->kernel[i] - 1) * w->dilation[i] + 1;
        int64_t full = w->stride[i] * (in - 1) + span;
        int have_shape = k != -1 && j >= 0;
        if (j < 0) {
            begin[i] = 0;
            out[i] = 1;
        } else if (have_shape || same) {
            /* output_shape lists the spatial sizes, or (as some exporters write it) the whole shape */
            int64_t want = have_shape ? oshape[(k - nsp) + j] : in * w->stride[i];
            int64_t total = full + opad[i] - want;
            /* ONNX: upper ? total/2 : total - total/2 at the beginning, with floor division (a
             * negative total, an output larger than the line, puts the extra cell at the end) */
            int64_t half = total >= 0 ? total / 2 : -((1 - total) / 2);
            begin[i] = strcmp(ap, "SAME_UPPER") == 0 ? half : total - half;
            out[i] = want;
        } else {
            begin[i] = w->pad[i];
            out[i] = full + opad[i] - w->pad[i] - w->pad[i + 3];
        }
        if (out[i] < 1)
            return onnx_imp_fail(c, n, EBM_ERR_INVALID, "the output size along spatial axis %d is %lld", j,
                                 (long long)out[i]);
        if (opad[i] >= w->stride[i] && opad[i] >= w->dilation[i])
            return onnx_imp_fail(c, n, EBM_ERR_INVALID, "output_padding %lld must be below the stride or dilation",
                                 (long long)opad[i]);
    }
    return EBM_OK;
}

ebm_status onnx_imp_lower_conv_transpose(onnx_imp_ctx *c, const onnx_imp_node *n)
{
    static const char *const known[] = {"auto_pad", "dilations", "group", "kernel_shape", "output_padding",
                                        "output_shape", "pads", "strides", NULL};
    ir_shape sx, sw;
    int x, w, nsp;
    ebm_status st = conv_operands(c, n, known, "transposed convolutions", &x, &sx, &nsp, &w, &sw);
    if (st != EBM_OK)
        return st;
    window win;
    char b1[64];
    if ((st = conv_kernel(c, n, &sw, nsp, &win)) != EBM_OK)
        return st;
    /* pads and strides as for Conv, without auto_pad (resolved below, on the output) */
    if ((st = window_attr(c, n, "strides", nsp, 1, 1, 1, win.stride)) != EBM_OK ||
        (st = window_attr(c, n, "dilations", nsp, 1, 1, 1, win.dilation)) != EBM_OK ||
        (st = window_attr(c, n, "pads", nsp, 2, 0, 0, win.pad)) != EBM_OK)
        return st;
    int64_t group = onnx_imp_attr_int(n, "group", 1);
    if (group < 1 || sw.d[0] != sx.d[1] || sx.d[1] % group != 0)
        return onnx_imp_fail(c, n, EBM_ERR_INVALID, "the weight %s does not fit %lld input channels in %lld groups",
                             ir_shape_str(&sw, b1, sizeof b1), (long long)sx.d[1], (long long)group);
    int64_t begin[3], out[3], sp[3];
    if ((st = convt_geometry(c, n, &sx, &win, nsp, begin, out)) != EBM_OK)
        return st;
    spatial_sizes(&sx, sp);
    ir_attr a = attr_zero(), p = attr_zero();
    onnx_imp_depth depth = window_depth(&win);
    int need_pad = 0;
    for (int i = 0; i < 3; i++) {
        int64_t full = win.stride[i] * (sp[i] - 1) + (win.kernel[i] - 1) * win.dilation[i] + 1;
        int64_t lo = begin[i] > 0 ? begin[i] : 0, hi = begin[i] + out[i] < full ? begin[i] + out[i] : full;
        if (hi <= lo)
            return onnx_imp_fail(c, n, EBM_ERR_UNSUPPORTED,
                                 "the output window along spatial axis %d lies outside the transposed convolution "
                                 "(only zeros); not supported", i - (3 - nsp));
        if (i == 0) {   /* depth: the crop of the full line */
            depth.pad[0] = lo;
            depth.pad[1] = full - hi;
        } else {
            a.conv.pad[i - 1] = lo;
            a.conv.pad[i + 1] = full - hi;
            a.conv.in_hw[i - 1] = hi - lo;
        }
        int ax = sx.rank - 3 + i;   /* the result's axis */
        if (ax >= 2) {
            p.pad.begin[ax] = lo - begin[i];
            p.pad.end[ax] = begin[i] + out[i] - hi;
            need_pad |= p.pad.begin[ax] || p.pad.end[ax];
        }
    }
    int64_t unused[4];
    window_hw(&win, a.conv.stride, a.conv.dilation, unused);
    a.conv.group = group;
    int in[2] = {x, w};
    int y = nsp == 3 ? onnx_imp_conv_transpose3d(c, n, x, w, &a, &depth)
                     : add_node(c, n, IR_OP_CONV2D_BWD_DATA, in, 2, &a);
    if (need_pad && y >= 0)
        y = add_node(c, n, IR_OP_PAD, &y, 1, &p);
    if (y >= 0 && onnx_imp_has_input(n, 2)) {
        ir_shape sy = onnx_imp_value_shape(c, y);
        y = onnx_imp_bin(c, n, IR_OP_ADD, y, channel_param(c, n, onnx_imp_input(c, n, 2), &sy, "the bias B"));
    }
    return onnx_imp_set_output(c, n, 0, spatial_output(c, n, y, nsp));
}
