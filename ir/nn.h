/* nn.h — energy networks in a few lines of C: layers with PyTorch's default
 * initialisation (ir/nn.c), the model presets (ir/presets.c) and JSON model
 * configurations (ir/config.c).  Everything builds core IR through ir.h, so a
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

/* ---- architectures: presets and configurations -------------------------------------- */

typedef enum ir_nn_kind {
    IR_NN_MLP,    /* hidden linear layers + activation, then -> 1 */
    IR_NN_CNN,    /* per hidden dim a stride-2 conv + activation; global mean; linear -> 1 */
    IR_NN_DEEP,   /* conv (stride 2 but the last) + GroupNorm + activation per hidden dim;
                     global mean; head C -> C/2 -> C/4 -> 1 */
    IR_NN_KIND_COUNT
} ir_nn_kind;

#define IR_NN_MAX_LAYERS 16
#define IR_NN_NAME_MAX 64

/* Sampler and training defaults, carried in the model's ebm.* metadata. */
typedef struct ir_nn_defaults {
    int64_t mcmc_steps;       /* ebm.sampler.steps */
    double step_size;         /* ebm.sampler.step_size */
    double noise_scale;       /* ebm.sampler.noise_scale; < 0 writes "auto" (sqrt(2 step_size)) */
    double grad_clip;         /* ebm.sampler.grad_clip; 0 = off */
    int clamp;                /* ebm.sampler.clamp: 1 = "lo,hi", 0 = "none" */
    double clamp_lo, clamp_hi;
    double temperature;       /* ebm.sampler.temperature */
    int64_t buffer_capacity;  /* ebm.buffer.capacity */
    double reinit_prob;       /* ebm.buffer.reinit_prob */
    double alpha;             /* ebm.train.alpha: the energy regularisation of the CD loss */
    /* The training recipe, written only when objective is set (else `ebm
     * train` keeps its built-in defaults): ebm.train.objective, .sigma (dsm),
     * .batch, .lr, .ema, .steps */
    const char *objective;
    double sigma, lr, ema;
    int64_t batch, steps;
} ir_nn_defaults;

typedef struct ir_nn_spec {
    char name[IR_NN_NAME_MAX];    /* ebm.name */
    char preset[IR_NN_NAME_MAX];  /* ebm.preset; "" = built from a configuration alone */
    ir_nn_kind kind;
    int64_t input_dim;            /* > 0: the input is [N, input_dim] */
    int64_t input_hwc[3];         /* H, W, C (when input_dim is 0): the input is [N, C, H, W] */
    int64_t hidden[IR_NN_MAX_LAYERS];
    int n_hidden;
    ir_nn_act_kind act;
    int use_residual;             /* mlp: h + act(W h) where sizes agree; conv: residual blocks */
    int use_bias;
    int64_t kernel;               /* conv kernel size, odd */
    ir_nn_defaults defaults;
} ir_nn_spec;

/* Where a configuration without a preset starts: an mlp with hidden 128,
 * 128, 64, SiLU, bias, kernel 3, DESIGN.md's sampler defaults, no input. */
void ir_nn_spec_default(ir_nn_spec *s);
/* The preset `name` (see ir_nn_preset_names); an unknown name fails listing them. */
ebm_status ir_nn_preset(const char *name, ir_nn_spec *s, ebm_error *err);
/* "simple, cnn, mnist, cifar" */
const char *ir_nn_preset_names(void);

/* Applies a JSON model configuration on top of *s: the fields it gives
 * replace those in s (a preset can be the starting point).  Unknown fields,
 * wrong types and values out of range fail with the file, the field, what
 * was expected and what was found; *s is then unchanged. */
ebm_status ir_nn_config_file(const char *path, ir_nn_spec *s, ebm_error *err);
/* The same from text; label names the source in messages. */
ebm_status ir_nn_config_text(const char *json, const char *label, ir_nn_spec *s, ebm_error *err);

/* Checks that s describes a network that can be built (names the field). */
ebm_status ir_nn_spec_check(const ir_nn_spec *s, ebm_error *err);
/* One line describing the architecture (the ebm.architecture metadata). */
void ir_nn_spec_describe(const ir_nn_spec *s, char *buf, size_t size);
/* Builds the network of s with parameters from seed: input "x", output
 * "energy" [N,1], and the ebm.* metadata (preset, name, architecture, input
 * shape, seed, energy head and the defaults).  *out is a new graph. */
ebm_status ir_nn_build(const ir_nn_spec *s, uint64_t seed, ir_graph **out, ebm_error *err);

#endif /* EBMC_IR_NN_H */
