/* nn.c — the layers of nn.h as core-IR compositions, and their initialisation.
 *
 * Every layer builds its nodes in a fixed, sequenced order (never inside one
 * call's argument list, whose evaluation order C leaves open), creating each
 * constant right before its first use.  That is the order in which ebmc's
 * importer materialises constants, so a network built here, exported and
 * imported again comes back node for node, and the same seed always gives
 * the same file.
 */
#include "nn.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"

#define GROUP_NORM_EPS 1e-5
#define LEAKY_RELU_SLOPE 0.01

/* ---- random numbers ------------------------------------------------------------ */

uint64_t ir_nn_splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

void ir_nn_fill_uniform(uint64_t seed, const char *name, double bound, float *out, int64_t n)
{
    uint64_t state = seed ^ base_fnv1a(BASE_FNV1A_INIT, name, strlen(name));
    for (int64_t i = 0; i < n; i++) {
        double u = (double)(ir_nn_splitmix64(&state) >> 40) / 16777216.0;   /* [0, 1), 24 bits */
        out[i] = (float)((2.0 * u - 1.0) * bound);
    }
}

/* ---- activations by name ---------------------------------------------------------- */

static const struct {
    const char *name;
    ir_nn_act_kind act;
} act_names[] = {
    {"identity", IR_NN_IDENTITY}, {"relu", IR_NN_RELU},         {"silu", IR_NN_SILU},
    {"swish", IR_NN_SILU},        {"gelu", IR_NN_GELU},         {"elu", IR_NN_ELU},
    {"leaky_relu", IR_NN_LEAKY_RELU}, {"softplus", IR_NN_SOFTPLUS}, {"tanh", IR_NN_TANH},
};

int ir_nn_act_parse(const char *name, ir_nn_act_kind *out)
{
    for (size_t i = 0; i < sizeof act_names / sizeof act_names[0]; i++) {
        if (strcmp(act_names[i].name, name) == 0) {
            *out = act_names[i].act;
            return 0;
        }
    }
    return -1;
}

const char *ir_nn_act_name(ir_nn_act_kind act)
{
    for (size_t i = 0; i < sizeof act_names / sizeof act_names[0]; i++)
        if (act_names[i].act == act)
            return act_names[i].name;
    return "?";
}

/* ---- builder state ------------------------------------------------------------------ */

ebm_status ir_nn_begin(ir_nn *nn, uint64_t seed)
{
    memset(nn, 0, sizeof *nn);
    nn->seed = seed;
    nn->use_bias = 1;
    nn->g = ir_graph_new();
    if (!nn->g)
        return ebm_fail(&nn->err, EBM_ERR_NOMEM, "out of memory for a new network");
    return EBM_OK;
}

void ir_nn_discard(ir_nn *nn)
{
    ir_graph_free(nn->g);
    nn->g = NULL;
}

ir_graph *ir_nn_finish(ir_nn *nn, ebm_error *err)
{
    ir_graph *g = nn->g;
    nn->g = NULL;
    if (g && nn->err.code == EBM_OK && ir_verify(g, &nn->err) == EBM_OK)
        return g;
    if (nn->err.code == EBM_OK)
        ebm_fail(&nn->err, EBM_ERR_INVALID, "the network was not started (ir_nn_begin)");
    if (err)
        *err = nn->err;
    ir_graph_free(g);
    return NULL;
}

/* Nothing more is built once something failed (so the first error stays),
 * and a -1 operand is such a failure. */
static int stopped(ir_nn *nn, int x)
{
    if (!nn->g || nn->err.code != EBM_OK)
        return 1;
    if (x < 0 || x >= nn->g->n_nodes) {
        ebm_fail(&nn->err, EBM_ERR_INVALID, "a layer got the operand %d, which is not a value of this network", x);
        return 1;
    }
    return 0;
}

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static int nn_fail(ir_nn *nn, ebm_status code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(nn->err.msg, sizeof nn->err.msg, fmt, ap);
    va_end(ap);
    nn->err.code = code;
    return -1;
}

/* A layer with parameters: stopped() plus a usable name (it names them). */
static int layer_stopped(ir_nn *nn, const char *name, int x)
{
    if (stopped(nn, x))
        return 1;
    if (!name || !name[0] || strlen(name) > 128) {
        nn_fail(nn, EBM_ERR_INVALID, "a layer with parameters needs a name of 1 to 128 characters");
        return 1;
    }
    return 0;
}

static ir_shape shape_of(const ir_nn *nn, int x)
{
    return nn->g->nodes[x].shape;
}

static ir_shape shape_dims(int rank, const int64_t *d)
{
    ir_shape s;
    memset(&s, 0, sizeof s);
    s.rank = rank;
    for (int i = 0; i < rank; i++)
        s.d[i] = d[i];
    return s;
}

/* "layer<sep>what" in buf (names of parameters and nodes). */
static const char *join(char *buf, size_t size, const char *layer, char sep, const char *what)
{
    /* layer names are at most 128 characters (layer_stopped), so nothing is
     * cut in the callers' 256 bytes; the length is looked at only so that
     * gcc -O3's -Wformat-truncation does not flag a cut it cannot rule out */
    int k = snprintf(buf, size, "%s%c%s", layer, sep, what);
    if (k < 0 && size > 0)
        buf[0] = '\0';
    return buf;
}

/* The layer part of x's node name ("fc1" of "fc1/add"), for naming what
 * follows it; "" if it has none. */
static const char *layer_of(const ir_nn *nn, int x, char *buf, size_t size)
{
    const char *name = nn->g->nodes[x].name;
    const char *slash = name ? strrchr(name, '/') : NULL;
    if (!slash)
        return name && nn->g->nodes[x].op == IR_OP_INPUT ? name : "";
    snprintf(buf, size, "%.*s", (int)(slash - name), name);
    return buf;
}

static int param_exists(const ir_graph *g, const char *name)
{
    for (int i = 0; i < g->n_nodes; i++)
        if ((g->nodes[i].flags & IR_NODE_PARAM) && g->nodes[i].name && strcmp(g->nodes[i].name, name) == 0)
            return 1;
    return 0;
}

/* A trainable parameter "<layer>.<what>": uniform in [-bound, bound] when
 * bound > 0, else every element = fill. */
static int param(ir_nn *nn, const char *layer, const char *what, ir_shape s, double bound, float fill)
{
    char name[256];
    join(name, sizeof name, layer, '.', what);
    if (param_exists(nn->g, name))
        return nn_fail(nn, EBM_ERR_INVALID, "layer '%s': the parameter name '%s' is already used (give each "
                       "layer its own name)", layer, name);
    int64_t n = ir_shape_numel(&s, 0);
    if (nn->max_params > 0 && n > nn->max_params - nn->n_params) {
        nn->over_ceiling = 1;
        return nn_fail(nn, EBM_ERR_INVALID, "layer '%s': %s of %lld values would bring the network to %lld "
                       "parameters, above the ceiling of %lld", layer, name, (long long)n,
                       (long long)(nn->n_params + n), (long long)nn->max_params);
    }
    nn->n_params += n;
    float *v = malloc((size_t)(n > 0 ? n : 1) * sizeof *v);
    if (!v)
        return nn_fail(nn, EBM_ERR_NOMEM, "layer '%s': out of memory for %lld parameters", layer, (long long)n);
    if (bound > 0)
        ir_nn_fill_uniform(nn->seed, name, bound, v, n);
    else
        for (int64_t i = 0; i < n; i++)
            v[i] = fill;
    int id = ir_add_const(nn->g, name, s, v, IR_NODE_PARAM | IR_NODE_TRAINABLE, &nn->err);
    free(v);
    return id;
}

static int scalar(ir_nn *nn, double v)
{
    return ir_add_scalar(nn->g, v, &nn->err);
}

static int binary(ir_nn *nn, ir_op op, int a, int b, const char *layer, const char *what)
{
    char name[256];
    return ir_binary(nn->g, op, a, b, join(name, sizeof name, layer, '/', what), &nn->err);
}

static int unary(ir_nn *nn, ir_op op, int x, const char *layer, const char *what)
{
    char name[256];
    return ir_unary(nn->g, op, x, join(name, sizeof name, layer, '/', what), &nn->err);
}

/* The target is copied into a zeroed shape: attributes are compared with
 * memcmp, and a shape returned by value may carry garbage in its padding. */
static int reshape(ir_nn *nn, int x, ir_shape s, const char *layer, const char *what)
{
    char name[256];
    ir_shape t;
    memset(&t, 0, sizeof t);
    t.rank = s.rank;
    for (int i = 0; i < s.rank; i++)
        t.d[i] = s.d[i];
    return ir_reshape(nn->g, x, t, join(name, sizeof name, layer, '/', what), &nn->err);
}

/* ---- layers ------------------------------------------------------------------------- */

int ir_nn_input(ir_nn *nn, const char *name, ir_shape shape)
{
    if (!nn->g || nn->err.code != EBM_OK)
        return -1;
    return ir_add_input(nn->g, name, shape, &nn->err);
}

/* The layer's bias b [out], added to y reshaped as `as` (channels broadcast). */
static int add_bias(ir_nn *nn, const char *name, int y, int64_t out, double bound, const ir_shape *as)
{
    if (!nn->use_bias || y < 0)
        return y;
    int b = param(nn, name, "bias", shape_dims(1, &out), bound, 0);
    if (as)
        b = reshape(nn, b, *as, name, "bias");
    return binary(nn, IR_OP_ADD, y, b, name, "add");
}

int ir_nn_linear(ir_nn *nn, const char *name, int x, int64_t out_features)
{
    if (layer_stopped(nn, name, x))
        return -1;
    ir_shape s = shape_of(nn, x);
    char sb[64];
    if (s.rank < 1 || s.d[s.rank - 1] < 1)
        return nn_fail(nn, EBM_ERR_SHAPE, "linear '%s': input %s, expected [..., features] with features >= 1",
                       name, ir_shape_str(&s, sb, sizeof sb));
    if (out_features < 1)
        return nn_fail(nn, EBM_ERR_INVALID, "linear '%s': out_features is %lld, expected >= 1", name,
                       (long long)out_features);
    int64_t in = s.d[s.rank - 1], wd[2] = {in, out_features};
    double bound = 1.0 / sqrt((double)in);
    int w = param(nn, name, "weight", shape_dims(2, wd), bound, 0);
    int y = binary(nn, IR_OP_MATMUL, x, w, name, "matmul");
    return add_bias(nn, name, y, out_features, bound, NULL);
}

int ir_nn_conv2d(ir_nn *nn, const char *name, int x, int64_t out_channels, int64_t kernel, int64_t stride)
{
    if (layer_stopped(nn, name, x))
        return -1;
    ir_shape s = shape_of(nn, x);
    char sb[64];
    if (s.rank != 4 || s.d[1] < 1)
        return nn_fail(nn, EBM_ERR_SHAPE, "conv2d '%s': input %s, expected [N, C, H, W]", name,
                       ir_shape_str(&s, sb, sizeof sb));
    if (out_channels < 1 || kernel < 1 || stride < 1)
        return nn_fail(nn, EBM_ERR_INVALID, "conv2d '%s': out_channels %lld, kernel %lld, stride %lld; each "
                       "must be >= 1", name, (long long)out_channels, (long long)kernel, (long long)stride);
    int64_t c = s.d[1], wd[4] = {out_channels, c, kernel, kernel}, pad = (kernel - 1) / 2;
    double bound = 1.0 / sqrt((double)(c * kernel * kernel));
    int w = param(nn, name, "weight", shape_dims(4, wd), bound, 0);
    ir_attr a;
    memset(&a, 0, sizeof a);
    a.conv.stride[0] = a.conv.stride[1] = stride;
    for (int i = 0; i < 4; i++)
        a.conv.pad[i] = pad;
    a.conv.dilation[0] = a.conv.dilation[1] = 1;
    a.conv.group = 1;
    char node[256];
    int in[2] = {x, w};
    int y = w < 0 ? -1 : ir_add_node(nn->g, IR_OP_CONV2D, in, 2, &a, join(node, sizeof node, name, '/', "conv"),
                                     &nn->err);
    int64_t bd[4] = {1, out_channels, 1, 1};
    ir_shape bs = shape_dims(4, bd);
    return add_bias(nn, name, y, out_channels, bound, &bs);
}

/* [1, C, 1, ...]: a per-channel vector shaped to broadcast against s. */
static ir_shape channel_shape(const ir_shape *s)
{
    ir_shape t = *s;
    for (int i = 0; i < t.rank; i++)
        t.d[i] = i == 1 ? s->d[1] : 1;
    return t;
}

static int reduce_sum(ir_nn *nn, int x, uint32_t axes, const char *layer, const char *what)
{
    char name[256];
    return ir_reduce(nn->g, IR_OP_RSUM, x, axes, join(name, sizeof name, layer, '/', what), &nn->err);
}

int ir_nn_group_norm(ir_nn *nn, const char *name, int x, int64_t groups)
{
    if (layer_stopped(nn, name, x))
        return -1;
    ir_shape s = shape_of(nn, x);
    char sb[64];
    if (s.rank < 2 || s.d[1] < 1)
        return nn_fail(nn, EBM_ERR_SHAPE, "group_norm '%s': input %s, expected [N, C, ...]", name,
                       ir_shape_str(&s, sb, sizeof sb));
    int64_t c = s.d[1];
    if (groups < 1 || c % groups != 0)
        return nn_fail(nn, EBM_ERR_INVALID, "group_norm '%s': %lld groups do not divide %lld channels", name,
                       (long long)groups, (long long)c);
    int64_t m = c / groups;
    for (int i = 2; i < s.rank; i++)
        m *= s.d[i];
    int64_t gd[3] = {s.d[0], groups, m};
    /* Two passes, mean then mean((x - mean)^2), as PyTorch: E[x^2] - E[x]^2
     * cancels badly for inputs with a large mean. */
    int xr = reshape(nn, x, shape_dims(3, gd), name, "group");
    int sum = reduce_sum(nn, xr, 1u << 2, name, "sum");
    int inv_m = scalar(nn, 1.0 / (double)m);
    int mean = binary(nn, IR_OP_MUL, sum, inv_m, name, "mean");
    int d = binary(nn, IR_OP_SUB, xr, mean, name, "center");
    int sq = binary(nn, IR_OP_MUL, d, d, name, "square");
    int var = binary(nn, IR_OP_MUL, reduce_sum(nn, sq, 1u << 2, name, "sum_sq"), inv_m, name, "var");
    int eps = scalar(nn, GROUP_NORM_EPS);
    int std = unary(nn, IR_OP_SQRT, binary(nn, IR_OP_ADD, var, eps, name, "var_eps"), name, "std");
    int y = reshape(nn, binary(nn, IR_OP_DIV, d, std, name, "normalize"), s, name, "ungroup");
    ir_shape per_channel = channel_shape(&s);
    int gamma = reshape(nn, param(nn, name, "weight", shape_dims(1, &c), 0, 1.0f), per_channel, name, "weight");
    y = binary(nn, IR_OP_MUL, y, gamma, name, "scale");
    int beta = reshape(nn, param(nn, name, "bias", shape_dims(1, &c), 0, 0.0f), per_channel, name, "bias");
    return binary(nn, IR_OP_ADD, y, beta, name, "shift");
}

/* ---- activations ---------------------------------------------------------------------- */

/* x/2 * (1 + erf(x / sqrt 2)) */
static int gelu(ir_nn *nn, int x, const char *layer)
{
    int k = scalar(nn, 0.70710678118654752440);   /* 1/sqrt(2) */
    int e = unary(nn, IR_OP_ERF, binary(nn, IR_OP_MUL, x, k, layer, "gelu_scale"), layer, "gelu_erf");
    int one = scalar(nn, 1.0);
    int p = binary(nn, IR_OP_ADD, e, one, layer, "gelu_1p");
    int half = scalar(nn, 0.5);
    int h = binary(nn, IR_OP_MUL, x, half, layer, "gelu_half");
    return binary(nn, IR_OP_MUL, h, p, layer, "gelu");
}

/* relu(x) + exp(min(x, 0)) - 1: exp never sees a positive input, so neither
 * the value nor its derivative can overflow (a select between x and
 * exp(x) - 1 would give inf * 0 = NaN in the backward pass). */
static int elu(ir_nn *nn, int x, const char *layer)
{
    int zero = scalar(nn, 0.0);
    int e = unary(nn, IR_OP_EXP, binary(nn, IR_OP_MIN, x, zero, layer, "elu_neg"), layer, "elu_exp");
    int one = scalar(nn, 1.0);
    int em1 = binary(nn, IR_OP_SUB, e, one, layer, "elu_expm1");
    int r = unary(nn, IR_OP_RELU, x, layer, "elu_pos");
    return binary(nn, IR_OP_ADD, r, em1, layer, "elu");
}

/* max(x, 0.01 x), which is leaky_relu for any slope below 1. */
static int leaky_relu(ir_nn *nn, int x, const char *layer)
{
    int k = scalar(nn, LEAKY_RELU_SLOPE);
    int xs = binary(nn, IR_OP_MUL, x, k, layer, "leaky_scale");
    return binary(nn, IR_OP_MAX, x, xs, layer, "leaky_relu");
}

int ir_nn_act(ir_nn *nn, int x, ir_nn_act_kind act)
{
    if (stopped(nn, x))
        return -1;
    char buf[256];
    const char *layer = layer_of(nn, x, buf, sizeof buf);
    switch (act) {
    case IR_NN_IDENTITY: return x;
    case IR_NN_RELU: return unary(nn, IR_OP_RELU, x, layer, "relu");
    case IR_NN_SILU: return binary(nn, IR_OP_MUL, x, unary(nn, IR_OP_SIGMOID, x, layer, "sigmoid"), layer, "silu");
    case IR_NN_GELU: return gelu(nn, x, layer);
    case IR_NN_ELU: return elu(nn, x, layer);
    case IR_NN_LEAKY_RELU: return leaky_relu(nn, x, layer);
    case IR_NN_SOFTPLUS: return unary(nn, IR_OP_SOFTPLUS, x, layer, "softplus");
    case IR_NN_TANH: return unary(nn, IR_OP_TANH, x, layer, "tanh");
    default: return nn_fail(nn, EBM_ERR_INVALID, "activation %d is not one of ir_nn_act_kind", (int)act);
    }
}

/* 1/2 sum over the sample of (scale * (x - center))^2 as [N, 1]: a Gaussian
 * term with a learned mean and precision per element, which lets an energy
 * say how far each pixel may stray (e.g. an image's borders) without the
 * network having to learn a steep linear score. */
int ir_nn_quadratic(ir_nn *nn, const char *name, int x, float init_scale)
{
    if (layer_stopped(nn, name, x))
        return -1;
    ir_shape s = shape_of(nn, x);
    char sb[64];
    if (s.rank < 2 || s.d[0] != IR_DIM_N || ir_shape_has_batch(&s) != 1)
        return nn_fail(nn, EBM_ERR_SHAPE, "quadratic '%s': input %s, expected [N, ...] with N only first", name,
                       ir_shape_str(&s, sb, sizeof sb));
    ir_shape ps = s;
    ps.d[0] = 1;
    uint32_t axes = 0;
    for (int i = 1; i < s.rank; i++)
        axes |= 1u << i;
    /* each parameter just before its first use: the order an ONNX import rebuilds */
    int c = param(nn, name, "center", ps, 0, 0.0f);
    int dx = binary(nn, IR_OP_SUB, x, c, name, "centered");
    int w = param(nn, name, "scale", ps, 0, init_scale);
    int y = binary(nn, IR_OP_MUL, dx, w, name, "scaled");
    int sum = reduce_sum(nn, binary(nn, IR_OP_MUL, y, y, name, "square"), axes, name, "sum");
    int half = binary(nn, IR_OP_MUL, sum, scalar(nn, 0.5), name, "half");
    int64_t d[2] = {IR_DIM_N, 1};
    return reshape(nn, half, shape_dims(2, d), name, "energy");
}

int ir_nn_upsample2(ir_nn *nn, int x, int64_t h, int64_t w)
{
    if (stopped(nn, x))
        return -1;
    ir_shape s = shape_of(nn, x);
    char sb[64], buf[256];
    if (s.rank != 4 || s.d[0] != IR_DIM_N || ir_shape_has_batch(&s) != 1 || h < 1 || w < 1 || h > 2 * s.d[2] ||
        w > 2 * s.d[3])
        return nn_fail(nn, EBM_ERR_SHAPE, "upsample2: input %s to %lld x %lld, expected [N, C, H, W] with H, W at "
                       "least half the result", ir_shape_str(&s, sb, sizeof sb), (long long)h, (long long)w);
    const char *layer = layer_of(nn, x, buf, sizeof buf);
    int64_t d6[6] = {IR_DIM_N, s.d[1], s.d[2], 1, s.d[3], 1};
    int y = reshape(nn, x, shape_dims(6, d6), layer, "up_split");
    d6[3] = d6[5] = 2;
    ir_shape wide = shape_dims(6, d6);
    char name[256];
    y = y < 0 ? -1 : ir_broadcast_to(nn->g, y, wide, join(name, sizeof name, layer, '/', "up_repeat"), &nn->err);
    int64_t d4[4] = {IR_DIM_N, s.d[1], 2 * s.d[2], 2 * s.d[3]};
    y = reshape(nn, y, shape_dims(4, d4), layer, "up");
    if (y < 0 || (h == d4[2] && w == d4[3]))
        return y;
    ir_attr a;
    memset(&a, 0, sizeof a);
    int64_t end[4] = {INT64_MAX, s.d[1], h, w};   /* N: the whole axis */
    for (int i = 0; i < 4; i++) {
        a.slice.end[i] = end[i];
        a.slice.step[i] = 1;
    }
    return ir_add_node(nn->g, IR_OP_SLICE, &y, 1, &a, join(name, sizeof name, layer, '/', "up_crop"), &nn->err);
}

int ir_nn_distance(ir_nn *nn, const char *name, int x, int y, float init_scale, double delta)
{
    if (layer_stopped(nn, name, x) || stopped(nn, y))
        return -1;
    ir_shape s = shape_of(nn, x), t = shape_of(nn, y);
    char b1[64], b2[64];
    if (!ir_shape_eq(&s, &t) || s.rank < 2 || s.d[0] != IR_DIM_N || ir_shape_has_batch(&s) != 1 ||
        !(init_scale > 0) || !(delta > 0))
        return nn_fail(nn, EBM_ERR_SHAPE, "distance '%s': inputs %s and %s, expected one shape [N, ...] with N "
                       "only first, a scale > 0 and delta > 0", name, ir_shape_str(&s, b1, sizeof b1),
                       ir_shape_str(&t, b2, sizeof b2));
    uint32_t axes = 0;
    for (int i = 1; i < s.rank; i++)
        axes |= 1u << i;
    int r = binary(nn, IR_OP_SUB, x, y, name, "residual");
    int sum = reduce_sum(nn, binary(nn, IR_OP_MUL, r, r, name, "square"), axes, name, "sum");
    int len = unary(nn, IR_OP_SQRT, binary(nn, IR_OP_ADD, sum, scalar(nn, delta), name, "soft"), name, "length");
    int64_t one = 1;
    int ls = param(nn, name, "log_scale", shape_dims(1, &one), 0, logf(init_scale));
    int e = binary(nn, IR_OP_MUL, len, unary(nn, IR_OP_EXP, ls, name, "scale"), name, "scaled");
    int64_t d[2] = {IR_DIM_N, 1};
    return reshape(nn, e, shape_dims(2, d), name, "energy");
}

/* ---- shape and plumbing ------------------------------------------------------------------ */

int ir_nn_global_mean(ir_nn *nn, int x)
{
    if (stopped(nn, x))
        return -1;
    ir_shape s = shape_of(nn, x);
    char sb[64], buf[256];
    if (s.rank < 3)
        return nn_fail(nn, EBM_ERR_SHAPE, "global_mean: input %s, expected [N, C, spatial...]",
                       ir_shape_str(&s, sb, sizeof sb));
    const char *layer = layer_of(nn, x, buf, sizeof buf);
    uint32_t axes = 0;
    int64_t area = 1;
    for (int i = 2; i < s.rank; i++) {
        axes |= 1u << i;
        area *= s.d[i];
    }
    int sum = reduce_sum(nn, x, axes, layer, "pool_sum");
    int k = scalar(nn, 1.0 / (double)area);
    int mean = binary(nn, IR_OP_MUL, sum, k, layer, "pool_mean");
    return reshape(nn, mean, shape_dims(2, s.d), layer, "pool");
}

int ir_nn_flatten(ir_nn *nn, int x)
{
    if (stopped(nn, x))
        return -1;
    ir_shape s = shape_of(nn, x);
    char sb[64], buf[256];
    int64_t d[2] = {s.rank ? s.d[0] : 1, 1};
    for (int i = 1; i < s.rank; i++)
        d[1] *= s.d[i];
    if (s.rank < 1 || ir_shape_has_batch(&s) != (s.d[0] == IR_DIM_N))
        return nn_fail(nn, EBM_ERR_SHAPE, "flatten: input %s, expected [N, ...] with N only first",
                       ir_shape_str(&s, sb, sizeof sb));
    return reshape(nn, x, shape_dims(2, d), layer_of(nn, x, buf, sizeof buf), "flatten");
}

int ir_nn_add(ir_nn *nn, int a, int b)
{
    if (stopped(nn, a) || stopped(nn, b))
        return -1;
    ir_shape sa = shape_of(nn, a), sb = shape_of(nn, b);
    char b1[64], b2[64], buf[256];
    if (!ir_shape_eq(&sa, &sb))
        return nn_fail(nn, EBM_ERR_SHAPE, "add: shapes %s and %s differ (a residual connection needs equal "
                       "shapes; project one of them first)", ir_shape_str(&sa, b1, sizeof b1),
                       ir_shape_str(&sb, b2, sizeof b2));
    return binary(nn, IR_OP_ADD, a, b, layer_of(nn, a, buf, sizeof buf), "residual");
}

ebm_status ir_nn_output(ir_nn *nn, int x, const char *name)
{
    if (stopped(nn, x))
        return nn->err.code ? nn->err.code : EBM_ERR_INVALID;
    return ir_add_output(nn->g, x, name, &nn->err);
}
