/* nn.h — energy networks in a few lines of C: layers with PyTorch's default
 * initialisation (ir/nn.c; the model presets and JSON configurations built
 * from them are zoo/zoo.h).  Everything builds core IR through ir.h, so a
 * network can be saved as ONNX (ir_onnx_export_file) or compiled directly.
 *
 * Tutorial: the custom energy function Linear 784->256, ReLU, 256->128, ReLU, 128->1
 *
 *     ir_nn nn;
 *     ir_nn_begin(&nn, 42);                                   // parameters from seed 42
 *     int x = ir_nn_input(&nn, "x", ir_shape_make(2, IR_DIM_N, 784));
 *     int h = ir_nn_act(&nn, ir_nn_linear(&nn, "fc1", x, 256), IR_NN_RELU);
 *     h = ir_nn_act(&nn, ir_nn_linear(&nn, "fc2", h, 128), IR_NN_RELU);
 *     ir_nn_output(&nn, ir_nn_linear(&nn, "fc3", h, 1), "energy");
 *     ebm_error err;
 *     ir_graph *g = ir_nn_finish(&nn, &err);                 // NULL if any step failed
 *     if (!g || ir_onnx_export_file(g, "energy.onnx", &err)) ... report err.msg
 *
 * As with the core builder, each layer returns a value id, or -1 once
 * anything failed (a -1 operand gives -1 at once); the first error is kept in
 * nn.err, so a network is checked once, at ir_nn_finish.
 *
 * Layouts: images are [N, C, H, W]; a linear layer's weight is [in, out]
 * (y = x W + b, no transpose in the graph); a convolution's is [out, in, k, k]
 * as in PyTorch and ONNX.  Parameters are named "<layer>.weight" and
 * "<layer>.bias" like a PyTorch state dict, computed nodes "<layer>/<op>".
 *
 * Initialisation (PyTorch's defaults, so energies start at a sane scale):
 * linear and convolution weights and biases ~ U(-b, b) with b = 1/sqrt(fan_in),
 * fan_in = inputs x kernel area (kaiming_uniform_ with a = sqrt(5)); GroupNorm
 * scale 1, shift 0.  Each parameter tensor draws from its own splitmix64
 * stream started at seed XOR FNV-1a-64(parameter name): the same seed gives
 * the same values on every machine, and one layer's values do not depend on
 * the layers built before it.  A draw r becomes (2 * (r >> 40) / 2^24 - 1) * b.
 */
#ifndef EBMC_IR_NN_H
#define EBMC_IR_NN_H

#include <stddef.h>
#include <stdint.h>

#include "ir.h"

/* ---- the builder ------------------------------------------------------------- */

typedef struct ir_nn {
    ir_graph *g;       /* the graph being built; ir_nn_finish hands it over */
    uint64_t seed;     /* parameter initialisation */
    int use_bias;      /* linear and convolution layers made while 1 get a bias (default 1) */
    int64_t max_params;   /* > 0: a layer that would bring the parameter count above it fails
                             before allocating (0 = no ceiling, the default) */
    int64_t n_params;     /* parameters made so far */
    int over_ceiling;     /* 1 once a layer failed on max_params */
    ebm_error err;     /* the first error; err.code != EBM_OK once something failed */
} ir_nn;

typedef enum ir_nn_act_kind {
    IR_NN_IDENTITY,
    IR_NN_RELU,
    IR_NN_SILU,        /* x * sigmoid(x), also called swish */
    IR_NN_GELU,        /* exact: x/2 * (1 + erf(x/sqrt 2)), PyTorch's default */
    IR_NN_ELU,         /* alpha = 1 */
    IR_NN_LEAKY_RELU,  /* slope 0.01 */
    IR_NN_SOFTPLUS,
    IR_NN_TANH,
    IR_NN_ACT_COUNT
} ir_nn_act_kind;

/* Starts a network (allocates the graph); the status is also in nn->err. */
ebm_status ir_nn_begin(ir_nn *nn, uint64_t seed);
/* Verifies and returns the graph (the caller frees it with ir_graph_free);
 * on any earlier failure returns NULL with the first error in *err.  Either
 * way nn no longer owns a graph. */
ir_graph *ir_nn_finish(ir_nn *nn, ebm_error *err);
/* Drops an unfinished network. */
void ir_nn_discard(ir_nn *nn);

/* A graph input, e.g. ir_shape_make(4, IR_DIM_N, 3, 32, 32). */
int ir_nn_input(ir_nn *nn, const char *name, ir_shape shape);
/* y = x W + b over the last axis of x: W [in, out], b [out]. */
int ir_nn_linear(ir_nn *nn, const char *name, int x, int64_t out_features);
/* 2-D convolution of x [N,C,H,W] with a k x k kernel, the given stride and
 * (k-1)/2 zero padding on each side ("same" size for odd k at stride 1,
 * ceil(H/stride) for odd k in general): W [out, C, k, k], b [out]. */
int ir_nn_conv2d(ir_nn *nn, const char *name, int x, int64_t out_channels, int64_t kernel, int64_t stride);
/* GroupNorm over x [N,C,...] as PyTorch: statistics per sample and group of
 * C/groups channels (eps 1e-5, biased variance), then a per-channel scale
 * "<name>.weight" (ones) and shift "<name>.bias" (zeros). */
int ir_nn_group_norm(ir_nn *nn, const char *name, int x, int64_t groups);
int ir_nn_act(ir_nn *nn, int x, ir_nn_act_kind act);
/* 1/2 sum_i (scale_i (x_i - center_i))^2 per sample, [N, 1]; parameters
 * "<name>.center" (0) and "<name>.scale" (init_scale), each of x's shape with 1 for N. */
int ir_nn_quadratic(ir_nn *nn, const char *name, int x, float init_scale);
/* Nearest-neighbour upsampling of x [N,C,H,W] by 2 in H and W, cropped to
 * [N,C,h,w] (h <= 2H, w <= 2W: a stride-2 encoder rounded an odd size up). */
int ir_nn_upsample2(ir_nn *nn, int x, int64_t h, int64_t w);
/* The distance energy exp(log_scale) * sqrt(sum (x - y)^2 + delta) per
 * sample, [N, 1], of x and a same-shaped reconstruction y of it (a denoiser
 * network's output): parameter "<name>.log_scale" [1] = log(init_scale).
 * Its gradient has the length exp(log_scale) wherever x is far from y, the
 * shape of the energy that a score trained at many noise levels needs. */
int ir_nn_distance(ir_nn *nn, const char *name, int x, int y, float init_scale, double delta);
/* Mean over the spatial axes: [N,C,H,W] -> [N,C]. */
int ir_nn_global_mean(ir_nn *nn, int x);
/* [N, d1, d2, ...] -> [N, d1*d2*...]. */
int ir_nn_flatten(ir_nn *nn, int x);
/* a + b (a residual connection); shapes must be equal. */
int ir_nn_add(ir_nn *nn, int a, int b);
ebm_status ir_nn_output(ir_nn *nn, int x, const char *name);

/* "relu", "silu" (or "swish"), "gelu", "elu", "leaky_relu", "softplus",
 * "tanh", "identity" <-> enum; parse returns 0 on success. */
int ir_nn_act_parse(const char *name, ir_nn_act_kind *out);
const char *ir_nn_act_name(ir_nn_act_kind act);

/* The generator: returns the next output and advances *state. */
uint64_t ir_nn_splitmix64(uint64_t *state);
/* n values ~ U(-bound, bound) from the stream of (seed, name), as above. */
void ir_nn_fill_uniform(uint64_t seed, const char *name, double bound, float *out, int64_t n);

#endif /* EBMC_IR_NN_H */
