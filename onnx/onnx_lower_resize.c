/* onnx_lower_resize.c — ops that are a constant linear map along one axis:
 * CumSum (a triangular matrix) and Resize / Upsample (an interpolation matrix
 * per resized axis, nearest or linear).
 *
 * The matrix B ([in, out], computed at import in double) is applied to the
 * axis by TRANSPOSE (axis last), MATMUL by B, TRANSPOSE back, so the result
 * needs no op of its own: derivatives, the executor and the C backend come
 * from those core ops.  Linear interpolation on several axes is separable, so
 * one matrix per axis gives bilinear (and trilinear) exactly.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "onnx_internal.h"

/* Largest matrix built (in * out entries: 2048 x 2048, 16 MiB as float). */
#define AXIS_MATRIX_MAX (INT64_C(1) << 22)

/* y = x with axis ax mapped by b ([in, out], row major, double): out[j] =
 * sum_i x[i] b[i][j].  -1 on error (reported). */
static int apply_axis_matrix(onnx_imp_ctx *c, const onnx_imp_node *n, int x, int ax, int64_t in, int64_t out,
                             const double *b)
{
    ir_graph *g = onnx_imp_graph(c);
    ebm_error *err = onnx_imp_err(c);
    ir_shape s = onnx_imp_value_shape(c, x), t = s;
    float *f = malloc((size_t)(in * out) * sizeof *f);
    if (!f) {
        onnx_imp_fail(c, n, EBM_ERR_NOMEM, "out of memory");
        return -1;
    }
    for (int64_t i = 0; i < in * out; i++)
        f[i] = (float)b[i];
    ir_shape bs = ir_shape_make(2, 1, 1);
    bs.d[0] = in;
    bs.d[1] = out;
    int m = ir_add_const(g, n->label, bs, f, 0, err);
    free(f);
    if (m < 0)
        return -1;
    int perm[IR_MAX_RANK];
    for (int i = 0; i < s.rank; i++)
        perm[i] = i;
    perm[ax] = s.rank - 1;
    perm[s.rank - 1] = ax;
    if (s.rank == 1) {   /* matmul needs rank 2 */
        ir_shape r = ir_shape_make(2, 1, 1);
        r.d[1] = in;
        x = ir_reshape(g, x, r, n->label, err);
    } else if (ax != s.rank - 1) {
        x = ir_transpose(g, x, perm, n->label, err);
    }
    x = x < 0 ? -1 : ir_matmul(g, x, m, n->label, err);
    t.d[ax] = out;
    if (x >= 0 && s.rank == 1)
        x = ir_reshape(g, x, t, n->label, err);
    else if (x >= 0 && ax != s.rank - 1)
        x = ir_transpose(g, x, perm, n->label, err);
    return x;
}

static double *matrix_alloc(onnx_imp_ctx *c, const onnx_imp_node *n, int64_t in, int64_t out)
{
    if (in < 1 || out < 1 || in > AXIS_MATRIX_MAX / out) {
        onnx_imp_fail(c, n, EBM_ERR_UNSUPPORTED, "a %lld x %lld matrix along one axis is beyond ebmc's limit of %lld entries",
                      (long long)in, (long long)out, (long long)AXIS_MATRIX_MAX);
        return NULL;
    }
    if (onnx_imp_charge(c, in * out) != EBM_OK)
        return NULL;
    double *b = calloc((size_t)(in * out), sizeof *b);
    if (!b)
        onnx_imp_fail(c, n, EBM_ERR_NOMEM, "out of memory");
    return b;
}

/* ---- CumSum ------------------------------------------------------------------ */

ebm_status onnx_imp_lower_cum_sum(onnx_imp_ctx *c, const onnx_imp_node *n)
{
    static const char *const known[] = {"exclusive", "reverse", NULL};
    ir_shape x;
    ebm_status st = onnx_imp_begin(c, n, known, &x);
    if (st != EBM_OK)
        return st;
    int64_t axis_v;
    if (onnx_imp_static_ints(c, n, 1, "the axis of CumSum", &axis_v, 1) != 1)
        return onnx_imp_err(c)->code ? onnx_imp_err(c)->code
                                     : onnx_imp_fail(c, n, EBM_ERR_INVALID, "the axis must be one integer");
    int ax = onnx_imp_norm_axis(axis_v, x.rank);
    if (ax < 0)
        return onnx_imp_fail(c, n, EBM_ERR_INVALID, "axis %lld out of range for rank %d", (long long)axis_v, x.rank);
    if (x.d[ax] == IR_DIM_N)
        return onnx_imp_fail(c, n, EBM_ERR_UNSUPPORTED,
                             "CumSum along the batch dimension N (axis %d) is not supported: it would mix samples", ax);
    int exclusive = onnx_imp_attr_int(n, "exclusive", 0) != 0, reverse = onnx_imp_attr_int(n, "reverse", 0) != 0;
    int64_t d = x.d[ax];
    if (d == 0)
        return onnx_imp_pass_through(c, n, 0);
    double *b = matrix_alloc(c, n, d, d);
    if (!b)
        return onnx_imp_err(c)->code;
    for (int64_t i = 0; i < d; i++)   /* out[j] sums in[i] for i before (after) j */
        for (int64_t j = 0; j < d; j++)
            b[i * d + j] = reverse ? (exclusive ? i > j : i >= j) : (exclusive ? i < j : i <= j);
    int xv = onnx_imp_input(c, n, 0);
    int y = xv < 0 ? -1 : apply_axis_matrix(c, n, xv, ax, d, d, b);
    free(b);
    return y < 0 ? onnx_imp_err(c)->code : onnx_imp_set_output(c, n, 0, y);
}

/* ---- Resize, Upsample ---------------------------------------------------------- */

typedef enum coord_mode { CT_HALF_PIXEL, CT_PYTORCH_HALF_PIXEL, CT_ALIGN_CORNERS, CT_ASYMMETRIC, CT_TF_HALF_NEAREST } coord_mode;
typedef enum near_mode { NM_ROUND_PREFER_FLOOR, NM_ROUND_PREFER_CEIL, NM_FLOOR, NM_CEIL } near_mode;

typedef struct resize_args {
    int linear;
    coord_mode ct;
    near_mode nm;
    int64_t out[IR_MAX_RANK];
    double scale[IR_MAX_RANK];
} resize_args;

/* The input coordinate of output index o (ONNX's coordinate_transformation_mode). */
static double source_coord(const resize_args *r, int64_t o, int64_t in, int64_t out, double scale)
{
    switch (r->ct) {
    case CT_HALF_PIXEL: return ((double)o + 0.5) / scale - 0.5;
    case CT_PYTORCH_HALF_PIXEL: return out > 1 ? ((double)o + 0.5) / scale - 0.5 : 0.0;
    case CT_ALIGN_CORNERS: return out == 1 ? 0.0 : (double)o * (double)(in - 1) / (double)(out - 1);
    case CT_TF_HALF_NEAREST: return ((double)o + 0.5) / scale;
    default: return (double)o / scale;
    }
}

static int64_t nearest_index(near_mode nm, double x)
{
    switch (nm) {
    case NM_FLOOR: return (int64_t)floor(x);
    case NM_CEIL: return (int64_t)ceil(x);
    case NM_ROUND_PREFER_CEIL: return (int64_t)floor(x + 0.5);
    default: return x - floor(x) == 0.5 ? (int64_t)floor(x) : (int64_t)floor(x + 0.5);
    }
}

/* The [in, out] interpolation matrix of one axis. */
static void resize_matrix(const resize_args *r, int64_t in, int64_t out, double scale, double *b)
{
    for (int64_t o = 0; o < out; o++) {
        double x = source_coord(r, o, in, out, scale);
        if (!r->linear) {
            int64_t i = nearest_index(r->nm, x);
            i = i < 0 ? 0 : i > in - 1 ? in - 1 : i;
            b[i * out + o] = 1.0;
            continue;
        }
        x = x < 0 ? 0 : x > (double)(in - 1) ? (double)(in - 1) : x;
        int64_t i0 = (int64_t)floor(x), i1 = i0 + 1 < in ? i0 + 1 : in - 1;
        double w = x - (double)i0;
        b[i0 * out + o] += 1.0 - w;
        b[i1 * out + o] += w;
    }
}

static int pick(const char *s, const char *const *names)
{
    for (int i = 0; names[i]; i++)
        if (strcmp(s, names[i]) == 0)
            return i;
    return -1;
}

/* mode, coordinate_transformation_mode, nearest_mode and the refused extras. */
static ebm_status resize_modes(onnx_imp_ctx *c, const onnx_imp_node *n, int legacy, resize_args *r)
{
    static const char *const ct_names[] = {"half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric",
                                           "tf_half_pixel_for_nearest", NULL};
    static const char *const nm_names[] = {"round_prefer_floor", "round_prefer_ceil", "floor", "ceil", NULL};
    char mode[32], ct[32], nm[32];
    onnx_imp_attr_string(n, "mode", mode, sizeof mode, "nearest");
    if (strcmp(mode, "cubic") == 0 || (strcmp(mode, "nearest") != 0 && strcmp(mode, "linear") != 0 &&
                                      strcmp(mode, "bilinear") != 0))
        return onnx_imp_fail(c, n, EBM_ERR_UNSUPPORTED,
                             "%s mode '%s' is not supported (supported: nearest, linear)",
                             n->p->op_type ? n->p->op_type : "Resize", mode);
    r->linear = strcmp(mode, "nearest") != 0;
    if (legacy) {   /* Upsample and Resize-10: asymmetric, nearest rounds down */
        r->ct = CT_ASYMMETRIC;
        r->nm = NM_FLOOR;
        return EBM_OK;
    }
    int k = pick(onnx_imp_attr_string(n, "coordinate_transformation_mode", ct, sizeof ct, "half_pixel"), ct_names);
    if (k < 0)
        return onnx_imp_fail(c, n, EBM_ERR_UNSUPPORTED,
                             "coordinate_transformation_mode '%s' is not supported (supported: half_pixel, "
                             "pytorch_half_pixel, align_corners, asymmetric, tf_half_pixel_for_nearest)", ct);
    r->ct = (coord_mode)k;
    k = pick(onnx_imp_attr_string(n, "nearest_mode", nm, sizeof nm, "round_prefer_floor"), nm_names);
    if (k < 0)
        return onnx_imp_fail(c, n, EBM_ERR_UNSUPPORTED,
                             "nearest_mode '%s' is not supported (supported: round_prefer_floor, round_prefer_ceil, "
                             "floor, ceil)", nm);
    r->nm = (near_mode)k;
    if (onnx_imp_attr_int(n, "antialias", 0) != 0)
        return onnx_imp_fail(c, n, EBM_ERR_UNSUPPORTED, "antialias=1 is not supported (only 0)");
    const char *kp = onnx_imp_attr_string(n, "keep_aspect_ratio_policy", ct, sizeof ct, "stretch");
    if (strcmp(kp, "stretch") != 0)
        return onnx_imp_fail(c, n, EBM_ERR_UNSUPPORTED,
                             "keep_aspect_ratio_policy '%s' is not supported (only stretch)", kp);
    return EBM_OK;
}

/* Output sizes and scales from `scales` (input or attribute) or `sizes`, on
 * the axes given by the opset-18 attribute `axes` (all axes without it). */
static ebm_status resize_sizes(onnx_imp_ctx *c, const onnx_imp_node *n, const ir_shape *x, int scales_input,
                               int sizes_input, resize_args *r)
{
    int64_t axes[IR_MAX_RANK], sz[IR_MAX_RANK];
    double sc[IR_MAX_RANK];
    int ka = onnx_imp_attr_ints(n, "axes", axes, IR_MAX_RANK), k = -1, mark[IR_MAX_RANK];
    if (ka == -2)
        return onnx_imp_fail(c, n, EBM_ERR_INVALID, "attribute 'axes' is too long");
    if (ka < 0)
        for (ka = 0; ka < x->rank; ka++)
            axes[ka] = ka;
    ebm_status st = onnx_imp_mark_axes(c, n, axes, ka, x->rank, mark);
    if (st != EBM_OK)
        return st;
    const ir_tensor *t = NULL;
    int use_sizes = sizes_input >= 0 && onnx_imp_has_input(n, sizes_input);
    if (use_sizes) {
        if ((k = onnx_imp_static_ints(c, n, sizes_input, "the sizes of Resize", sz, IR_MAX_RANK)) < 0)
            return onnx_imp_err(c)->code;
    } else if (scales_input >= 0) {
        if (!onnx_imp_has_input(n, scales_input))
            return onnx_imp_fail(c, n, EBM_ERR_INVALID, "neither scales nor sizes is given");
        st = onnx_imp_require_static(c, n, scales_input, "the scales of Resize", &t);
        if (st != EBM_OK)
            return st;
        k = (int)ir_shape_numel(&t->shape, 0);
        if (k == 0 && sizes_input >= 0)   /* an empty scales tensor next to sizes */
            return onnx_imp_fail(c, n, EBM_ERR_INVALID, "neither scales nor sizes is given");
        for (int i = 0; i < k && i < IR_MAX_RANK; i++)
            sc[i] = onnx_imp_tensor_get_f(t, i);
    } else {
        double f[IR_MAX_RANK];
        k = -1;
        const Onnx__AttributeProto *a = onnx_imp_attr(n, "scales");
        if (a && a->n_floats <= IR_MAX_RANK) {
            k = (int)a->n_floats;
            for (int i = 0; i < k; i++)
                f[i] = a->floats[i];
        }
        if (k < 0)
            return onnx_imp_fail(c, n, EBM_ERR_INVALID, "attribute 'scales' is missing or too long");
        memcpy(sc, f, sizeof f);
    }
    if (k != ka)
        return onnx_imp_fail(c, n, EBM_ERR_INVALID, "%s has %d entries for %d axes", use_sizes ? "sizes" : "scales",
                             k, ka);
    for (int i = 0; i < x->rank; i++) {
        r->out[i] = x->d[i];
        r->scale[i] = 1.0;
    }
    for (int i = 0; i < ka; i++) {
        int ax = onnx_imp_norm_axis(axes[i], x->rank);
        int64_t d = x->d[ax];
        if (d == IR_DIM_N) {
            if ((use_sizes && sz[i] != ONNX_IMP_SYM_N) || (!use_sizes && sc[i] != 1.0))
                return onnx_imp_fail(c, n, EBM_ERR_UNSUPPORTED,
                                     "resizing the batch dimension N (axis %d) is not supported", ax);
            continue;
        }
        if (use_sizes && (sz[i] < 1 || sz[i] > ONNX_IMP_MAX_DIM))
            return onnx_imp_fail(c, n, EBM_ERR_INVALID, "size %lld on axis %d is out of range", (long long)sz[i], ax);
        if (!use_sizes && !(sc[i] > 0 && sc[i] < 1e6))
            return onnx_imp_fail(c, n, EBM_ERR_INVALID, "scale %g on axis %d is out of range", sc[i], ax);
        r->out[ax] = use_sizes ? sz[i] : (int64_t)floor((double)d * sc[i]);
        r->scale[ax] = use_sizes ? (double)sz[i] / (double)d : sc[i];
        if (r->out[ax] < 1)
            return onnx_imp_fail(c, n, EBM_ERR_INVALID, "axis %d would be empty", ax);
    }
    return EBM_OK;
}

static ebm_status resize_apply(onnx_imp_ctx *c, const onnx_imp_node *n, const ir_shape *x, const resize_args *r)
{
    int y = onnx_imp_input(c, n, 0);
    for (int ax = 0; y >= 0 && ax < x->rank; ax++) {
        if (x->d[ax] == IR_DIM_N || (r->out[ax] == x->d[ax] && r->scale[ax] == 1.0))
            continue;
        double *b = matrix_alloc(c, n, x->d[ax], r->out[ax]);
        if (!b)
            return onnx_imp_err(c)->code;
        resize_matrix(r, x->d[ax], r->out[ax], r->scale[ax], b);
        y = apply_axis_matrix(c, n, y, ax, x->d[ax], r->out[ax], b);
        free(b);
    }
    return y < 0 ? onnx_imp_err(c)->code : onnx_imp_set_output(c, n, 0, y);
}

ebm_status onnx_imp_lower_resize(onnx_imp_ctx *c, const onnx_imp_node *n)
{
    static const char *const known[] = {"mode", "coordinate_transformation_mode", "nearest_mode", "cubic_coeff_a",
                                        "exclude_outside", "extrapolation_value", "antialias", "axes",
                                        "keep_aspect_ratio_policy", NULL};
    ir_shape x;
    resize_args r;
    ebm_status st = onnx_imp_begin(c, n, known, &x);
    if (st == EBM_OK)
        st = resize_modes(c, n, n->opset < 11, &r);
    if (st == EBM_OK)
        st = n->opset < 11 ? resize_sizes(c, n, &x, 1, -1, &r) : resize_sizes(c, n, &x, 2, 3, &r);
    return st == EBM_OK ? resize_apply(c, n, &x, &r) : st;
}

ebm_status onnx_imp_lower_upsample(onnx_imp_ctx *c, const onnx_imp_node *n)
{
    static const char *const known[] = {"mode", "scales", NULL};
    ir_shape x;
    resize_args r;
    ebm_status st = onnx_imp_begin(c, n, known, &x);
    if (st == EBM_OK)
        st = resize_modes(c, n, 1, &r);
    if (st == EBM_OK)
        st = resize_sizes(c, n, &x, n->opset >= 9 ? 1 : -1, -1, &r);
    return st == EBM_OK ? resize_apply(c, n, &x, &r) : st;
}
