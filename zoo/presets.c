/* presets.c — the architectures EBM users know, as zoo_spec values, and
 * the one builder that turns any spec (preset or configuration) into a
 * network with its ebm.* metadata.
 *
 *   preset  input          network
 *   simple  [N, D]         mlp 128, 128, 64, GELU -> 1
 *   cnn     [N, C, H, W]   per hidden dim (32, 64) a 3x3 stride-2 conv + SiLU; global mean; -> 1
 *   mnist   [N, 1, 28, 28] unet: a denoiser f with levels of 16, 32, 64 channels (conv
 *                          + GroupNorm of 4 groups + SiLU, back up with skips), E = a |x - f(x)|
 *   cifar   [N, 3, 32, 32] deep: residual blocks of 32, 64, 128, 256 (stride 2 but the last)
 *                          with GroupNorm + SiLU; global mean; head 256 -> 128 -> 64 -> 1
 *
 * A residual block is conv(k, stride) -> norm -> act -> conv(k, 1) -> norm,
 * plus the shortcut (the input, or a 1x1 conv with the block's stride where
 * the channels or the size change), then act: two convolutions deep, so the
 * shortcut carries a real second path.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "zoo.h"
#include "text.h"

#define MAX_GROUPS 32
#define MAX_INPUT_DIM (INT64_C(1) << 24)   /* sizes far beyond any real model, far below overflow */
#define MAX_IMAGE_SIDE (INT64_C(1) << 14)
#define MAX_WIDTH (INT64_C(1) << 20)
#define QUAD_INIT_SCALE 0.5f   /* the Gaussian term's initial scale: a broad prior (sd 2 on [-1, 1] data) */

/* ---- the presets ---------------------------------------------------------------- */

/* DESIGN.md's sampler defaults; presets change steps, sizes, buffer and alpha. */
static zoo_defaults design_defaults(void)
{
    return (zoo_defaults){
        .mcmc_steps = 60, .step_size = 0.01, .noise_scale = 0.005, .grad_clip = 0.03, .clamp = 1,
        .clamp_lo = -1, .clamp_hi = 1, .temperature = 1, .buffer_capacity = 8192, .reinit_prob = 0.05,
        .alpha = 0.01,
    };
}

static void set_hidden(zoo_spec *s, const int64_t *h, int n)
{
    memcpy(s->hidden, h, (size_t)n * sizeof *h);
    s->n_hidden = n;
}

static void set_image(zoo_spec *s, int64_t h, int64_t w, int64_t c)
{
    s->input_dim = 0;
    s->input_hwc[0] = h;
    s->input_hwc[1] = w;
    s->input_hwc[2] = c;
}

void zoo_spec_default(zoo_spec *s)
{
    static const int64_t hidden[] = {128, 128, 64};
    memset(s, 0, sizeof *s);
    snprintf(s->name, sizeof s->name, "model");
    s->kind = ZOO_MLP;
    set_hidden(s, hidden, 3);
    s->act = IR_NN_SILU;
    s->use_bias = 1;
    s->kernel = 3;
    s->defaults = design_defaults();
}

/* The recipe was measured on the six 2-D toy sets (README, "Training"):
 * denoising score matching at sigma 0.05 with an EMA (0.999) of the
 * parameters reaches KL(data || model) <= 0.12 on all of them in 12,000
 * steps, where the CD recipes that suit 8gaussians diverge on rings and
 * 2spirals.  Sampling a
 * trained model: exact-discretisation Langevin (noise sqrt(2 alpha)), no
 * gradient clip, 500 steps. */
static void preset_simple(zoo_spec *s)
{
    static const int64_t hidden[] = {128, 128, 64};
    set_hidden(s, hidden, 3);
    s->act = IR_NN_GELU;
    s->input_dim = 2;   /* 2-D toy data unless --input-dim says otherwise */
    s->defaults.buffer_capacity = 2048;
    s->defaults.alpha = 0.01;
    s->defaults.mcmc_steps = 500;
    s->defaults.step_size = 0.01;
    s->defaults.noise_scale = -1;   /* auto */
    s->defaults.grad_clip = 0;
    s->defaults.objective = "dsm";
    s->defaults.sigma = 0.05;
    s->defaults.lr = 1e-3;
    s->defaults.ema = 0.999;
    s->defaults.batch = 256;
    s->defaults.steps = 12000;
}

static void preset_cnn(zoo_spec *s)
{
    static const int64_t hidden[] = {32, 64};
    s->kind = ZOO_CNN;
    set_hidden(s, hidden, 2);
    set_image(s, 28, 28, 1);
}

/* Measured on Fashion-MNIST (README, "Training"): a small U-Net denoiser f
 * (levels of 16, 32 and 64 channels at 28, 14 and 7 pixels, GroupNorm of 4
 * groups, SiLU) inside the distance energy E = a |x - f(x)|, trained by
 * denoising score matching at noise levels in [0.05, 3] drawn as
 * 0.05 x 60^(u^0.4), u uniform (the model at level s is E at temperature
 * s / 0.05; the power puts 54% of the samples above s = 1, log-uniform
 * levels 27%: the high levels are where a model of many levels is weakest;
 * log-uniform gave FID 191 at 3,000 steps, powers 0.6 / 0.4 / 0.25 gave
 * 128 / 124 / 122).  It is drawn from N(0, 3^2)
 * by 500 steps: 400 held at T = 60 (the chains settle at the top noise
 * level), then 100 annealed from T = 60 to 1 (step 2e-4 T^2, noise 0.0141 T:
 * half the variance of a Langevin step, the reverse diffusion's), with no
 * clamp (a clamp to [-1, 1] keeps the chains off the noisy inputs the model
 * was trained on), and one denoising step of 0.05^2. */
static void preset_mnist(zoo_spec *s)
{
    static const int64_t hidden[] = {16, 32, 64};
    s->kind = ZOO_UNET;
    set_hidden(s, hidden, 3);
    set_image(s, 28, 28, 1);
    s->norm_groups = 4;
    s->defaults.buffer_capacity = 4096;
    s->defaults.alpha = 0.01;
    s->defaults.mcmc_steps = 500;
    s->defaults.step_size = 2e-4;
    s->defaults.noise_scale = 0.0141;
    s->defaults.grad_clip = 0;
    s->defaults.clamp = 0;
    s->defaults.init_sd = 3;
    s->defaults.objective = "dsm";
    s->defaults.sigma = 0.05;
    s->defaults.sigma_max = 3;
    s->defaults.sigma_power = 0.4;
    s->defaults.anneal = 60;
    s->defaults.anneal_hold = 0.8;
    s->defaults.denoise = 0.0025;
    s->defaults.lr = 1e-3;
    s->defaults.ema = 0.999;
    s->defaults.batch = 128;
    s->defaults.steps = 20000;
}

static void preset_cifar(zoo_spec *s)
{
    static const int64_t hidden[] = {32, 64, 128, 256};
    s->kind = ZOO_DEEP;
    set_hidden(s, hidden, 4);
    set_image(s, 32, 32, 3);
    s->use_residual = 1;
    s->defaults.mcmc_steps = 100;
    s->defaults.step_size = 0.005;
    s->defaults.noise_scale = 0.001;
    s->defaults.buffer_capacity = 8192;
    s->defaults.alpha = 0.001;
}

/* One row per preset: its name, the builder and the line `ebm init --help` shows. */
static const struct {
    const char *name;
    void (*fill)(zoo_spec *s);
    const char *help;
} presets[] = {
    {"simple", preset_simple, "tabular [N, D] (default D = 2): MLP 128, 128, 64, GELU -> 1; trained by dsm"},
    {"cnn", preset_cnn, "images (default 28,28,1): 3x3 stride-2 conv 32, 64 + SiLU; global mean -> 1"},
    {"mnist", preset_mnist, "28,28,1: U-Net denoiser f of 16, 32, 64 channels, E = a |x - f(x)|; multi-level dsm"},
    {"cifar", preset_cifar, "32,32,3: residual blocks 32, 64, 128, 256 + GroupNorm + SiLU; mean; 128 -> 64 -> 1"},
};
#define N_PRESETS ((int)(sizeof presets / sizeof presets[0]))

int zoo_preset_count(void)
{
    return N_PRESETS;
}

const char *zoo_preset_name(int i)
{
    return i >= 0 && i < N_PRESETS ? presets[i].name : NULL;
}

const char *zoo_preset_help(int i)
{
    return i >= 0 && i < N_PRESETS ? presets[i].help : NULL;
}

const char *zoo_preset_names(void)
{
    static char names[128];
    if (!names[0]) {
        size_t len = 0;
        for (int i = 0; i < N_PRESETS && len < sizeof names; i++)
            len += (size_t)snprintf(names + len, sizeof names - len, "%s%s", i ? ", " : "", presets[i].name);
    }
    return names;
}

ebm_status zoo_preset(const char *name, zoo_spec *s, ebm_error *err)
{
    for (int i = 0; i < N_PRESETS; i++) {
        if (strcmp(presets[i].name, name) == 0) {
            zoo_spec_default(s);
            snprintf(s->name, sizeof s->name, "%s", name);
            snprintf(s->preset, sizeof s->preset, "%s", name);
            presets[i].fill(s);
            return EBM_OK;
        }
    }
    return ebm_fail(err, EBM_ERR_INVALID, "unknown preset '%s' (expected one of %s)", name, zoo_preset_names());
}

/* ---- checking and describing a spec ---------------------------------------------------- */

static const char *const kind_names[ZOO_KIND_COUNT] = {"mlp", "cnn", "deep", "unet"};

const char *zoo_kind_name(zoo_kind kind)
{
    return kind >= 0 && kind < ZOO_KIND_COUNT ? kind_names[kind] : "?";
}

static int is_image(const zoo_spec *s)
{
    return s->input_dim == 0;
}

ebm_status zoo_spec_check(const zoo_spec *s, ebm_error *err)
{
    const char *who = s->name[0] ? s->name : "model";
    if (s->kind < 0 || s->kind >= ZOO_KIND_COUNT)
        return ebm_fail(err, EBM_ERR_INVALID, "%s: energy_type %d is not one of the %d kinds", who, (int)s->kind,
                        (int)ZOO_KIND_COUNT);
    if (s->input_dim < 0 || s->input_dim > MAX_INPUT_DIM)
        return ebm_fail(err, EBM_ERR_INVALID, "%s: input_dim must be in 1..%lld, found %lld", who,
                        (long long)MAX_INPUT_DIM, (long long)s->input_dim);
    if (is_image(s) && (s->input_hwc[0] < 1 || s->input_hwc[1] < 1 || s->input_hwc[2] < 1))
        return ebm_fail(err, EBM_ERR_INVALID, "%s: no input size: give input_dim (tabular, --input-dim D) or "
                        "input_shape [H, W, C] (images, --input-shape H,W,C), each >= 1", who);
    for (int i = 0; is_image(s) && i < 3; i++)
        if (s->input_hwc[i] > MAX_IMAGE_SIDE)
            return ebm_fail(err, EBM_ERR_INVALID, "%s: input_shape[%d] must be in 1..%lld, found %lld", who, i,
                            (long long)MAX_IMAGE_SIDE, (long long)s->input_hwc[i]);
    if (s->kind != ZOO_MLP && !is_image(s))
        return ebm_fail(err, EBM_ERR_INVALID, "%s: energy_type '%s' needs input_shape [H, W, C], not "
                        "input_dim", who, kind_names[s->kind]);
    if (s->n_hidden < 1 || s->n_hidden > ZOO_MAX_LAYERS)
        return ebm_fail(err, EBM_ERR_INVALID, "%s: hidden_dims needs 1 to %d layers, found %d", who,
                        ZOO_MAX_LAYERS, s->n_hidden);
    for (int i = 0; i < s->n_hidden; i++)
        if (s->hidden[i] < 1 || s->hidden[i] > MAX_WIDTH)
            return ebm_fail(err, EBM_ERR_INVALID, "%s: hidden_dims[%d] must be in 1..%lld, found %lld", who, i,
                            (long long)MAX_WIDTH, (long long)s->hidden[i]);
    if (s->kind != ZOO_MLP && (s->kernel < 1 || s->kernel % 2 == 0 || s->kernel > 31))
        return ebm_fail(err, EBM_ERR_INVALID, "%s: kernel_size must be odd, 1..31, found %lld", who,
                        (long long)s->kernel);
    if (s->act < 0 || s->act >= IR_NN_ACT_COUNT)
        return ebm_fail(err, EBM_ERR_INVALID, "%s: activation %d is unknown", who, (int)s->act);
    return EBM_OK;
}

/* GroupNorm groups for c channels: the largest divisor of c not above the
 * spec's norm_groups (0: not above 32; GroupNorm needs equal groups). */
static int64_t norm_groups(const zoo_spec *s, int64_t c)
{
    int64_t g = s->norm_groups > 0 ? s->norm_groups : MAX_GROUPS;
    if (g > c)
        g = c;
    while (c % g != 0)
        g--;
    return g;
}

static int64_t stride_of(const zoo_spec *s, int i)
{
    return s->kind == ZOO_CNN || i < s->n_hidden - 1 ? 2 : 1;
}

/* The deep head's widths C/2, C/4 (at least 1). */
static int64_t head_width(const zoo_spec *s, int k)
{
    int64_t w = s->hidden[s->n_hidden - 1] >> k;
    return w < 1 ? 1 : w;
}

static void describe_unet(const zoo_spec *s, char *buf, size_t size, size_t *at)
{
    base_appendf(buf, size, at, " -> denoiser f: levels");
    for (int i = 0; i < s->n_hidden; i++)
        base_appendf(buf, size, at, "%s %lld%s", i ? "," : "", (long long)s->hidden[i], i ? "/s2" : "");
    base_appendf(buf, size, at, " (conv%lldx%lld, GroupNorm", (long long)s->kernel, (long long)s->kernel);
    if (s->norm_groups > 0)
        base_appendf(buf, size, at, " of up to %lld groups", (long long)s->norm_groups);
    base_appendf(buf, size, at, ", %s), a middle block, back up by nearest upsampling with the skips added, "
                 "conv -> %lld; E = a |x - f(x)|", ir_nn_act_name(s->act), (long long)s->input_hwc[2]);
    if (!s->use_bias)
        base_appendf(buf, size, at, " (no bias)");
    if (s->quadratic)
        base_appendf(buf, size, at, ", + a Gaussian term 1/2 |scale (x - center)|^2");
}

void zoo_spec_describe(const zoo_spec *s, char *buf, size_t size)
{
    size_t at = 0;
    if (size == 0)
        return;
    buf[0] = 0;
    if (is_image(s))
        base_appendf(buf, size, &at, "%s: x[%lld,%lld,%lld]", kind_names[s->kind], (long long)s->input_hwc[2],
            (long long)s->input_hwc[0], (long long)s->input_hwc[1]);
    else
        base_appendf(buf, size, &at, "%s: x[%lld]", kind_names[s->kind], (long long)s->input_dim);
    if (s->kind == ZOO_MLP && is_image(s))
        base_appendf(buf, size, &at, " flattened");
    if (s->kind == ZOO_UNET) {
        describe_unet(s, buf, size, &at);
        return;
    }
    for (int i = 0; i < s->n_hidden; i++) {
        if (s->kind == ZOO_MLP)
            base_appendf(buf, size, &at, " -> %lld", (long long)s->hidden[i]);
        else
            base_appendf(buf, size, &at, " -> conv%lldx%lld %lld/s%lld", (long long)s->kernel, (long long)s->kernel,
                (long long)s->hidden[i], (long long)stride_of(s, i));
    }
    if (s->kind == ZOO_DEEP)
        base_appendf(buf, size, &at, ", GroupNorm");
    if (s->kind == ZOO_DEEP && s->norm_groups > 0)
        base_appendf(buf, size, &at, " (up to %lld groups)", (long long)s->norm_groups);
    base_appendf(buf, size, &at, ", %s", ir_nn_act_name(s->act));
    if (s->use_residual)
        base_appendf(buf, size, &at, s->kind == ZOO_MLP ? ", residual where sizes agree"
                                                  : ", residual blocks (1x1 projection where the shape changes)");
    if (s->kind != ZOO_MLP)
        base_appendf(buf, size, &at, " -> global mean");
    if (s->kind == ZOO_DEEP)
        base_appendf(buf, size, &at, " -> %lld -> %lld", (long long)head_width(s, 1), (long long)head_width(s, 2));
    base_appendf(buf, size, &at, " -> 1%s", s->use_bias ? "" : " (no bias)");
    if (s->quadratic)
        base_appendf(buf, size, &at, ", + a Gaussian term 1/2 |scale (x - center)|^2");
}

/* ---- building ------------------------------------------------------------------------ */

static void block_name(char *buf, size_t size, int i, const char *part)
{
    snprintf(buf, size, "block%d.%s", i + 1, part);
}

/* conv -> [GroupNorm] in block i; `part` names the conv ("conv", "conv1", ...). */
static int conv_norm(ir_nn *nn, const zoo_spec *s, int x, int i, const char *conv, const char *norm,
                     int64_t stride)
{
    char name[64];
    block_name(name, sizeof name, i, conv);
    int y = ir_nn_conv2d(nn, name, x, s->hidden[i], s->kernel, stride);
    if (s->kind != ZOO_DEEP)
        return y;
    block_name(name, sizeof name, i, norm);
    return ir_nn_group_norm(nn, name, y, norm_groups(s, s->hidden[i]));
}

static int plain_block(ir_nn *nn, const zoo_spec *s, int x, int i)
{
    return ir_nn_act(nn, conv_norm(nn, s, x, i, "conv", "norm", stride_of(s, i)), s->act);
}

static int residual_block(ir_nn *nn, const zoo_spec *s, int x, int i)
{
    int64_t stride = stride_of(s, i);
    int64_t cin = x >= 0 ? nn->g->nodes[x].shape.d[1] : 0;
    int y = ir_nn_act(nn, conv_norm(nn, s, x, i, "conv1", "norm1", stride), s->act);
    y = conv_norm(nn, s, y, i, "conv2", "norm2", 1);
    int shortcut = x;
    if (cin != s->hidden[i] || stride != 1) {
        char name[64];
        block_name(name, sizeof name, i, "proj");
        shortcut = ir_nn_conv2d(nn, name, x, s->hidden[i], 1, stride);
    }
    return ir_nn_act(nn, ir_nn_add(nn, y, shortcut), s->act);
}

/* A linear layer and the activation, with h + act(W h) where sizes agree. */
static int dense(ir_nn *nn, const zoo_spec *s, const char *name, int h, int64_t width)
{
    int y = ir_nn_act(nn, ir_nn_linear(nn, name, h, width), s->act);
    int64_t in = h >= 0 ? nn->g->nodes[h].shape.d[1] : 0;
    return s->use_residual && in == width ? ir_nn_add(nn, h, y) : y;
}

static int build_mlp(ir_nn *nn, const zoo_spec *s, int x)
{
    int h = is_image(s) ? ir_nn_flatten(nn, x) : x;
    char name[32];
    for (int i = 0; i < s->n_hidden; i++) {
        snprintf(name, sizeof name, "fc%d", i + 1);
        h = dense(nn, s, name, h, s->hidden[i]);
    }
    snprintf(name, sizeof name, "fc%d", s->n_hidden + 1);
    return ir_nn_linear(nn, name, h, 1);
}

static int build_conv(ir_nn *nn, const zoo_spec *s, int x)
{
    int h = x;
    for (int i = 0; i < s->n_hidden; i++)
        h = s->use_residual ? residual_block(nn, s, h, i) : plain_block(nn, s, h, i);
    h = ir_nn_global_mean(nn, h);
    if (s->kind == ZOO_CNN)
        return ir_nn_linear(nn, "head.fc", h, 1);
    h = ir_nn_act(nn, ir_nn_linear(nn, "head.fc1", h, head_width(s, 1)), s->act);
    h = ir_nn_act(nn, ir_nn_linear(nn, "head.fc2", h, head_width(s, 2)), s->act);
    return ir_nn_linear(nn, "head.fc3", h, 1);
}

/* conv (stride) -> GroupNorm -> activation, the unet's block; parameters
 * "<name>.conv.*" and "<name>.norm.*". */
static int unet_block(ir_nn *nn, const zoo_spec *s, int x, const char *name, int64_t width, int64_t stride)
{
    char conv[64], norm[64];
    snprintf(conv, sizeof conv, "%s.conv", name);
    snprintf(norm, sizeof norm, "%s.norm", name);
    int y = ir_nn_conv2d(nn, conv, x, width, s->kernel, stride);
    return ir_nn_act(nn, ir_nn_group_norm(nn, norm, y, norm_groups(s, width)), s->act);
}

/* The denoiser's residual |x - f(x)| scaled by a: a starts at sqrt(D) / 0.05 /
 * 2, the length of the score that denoising score matching at sigma 0.05
 * asks of a noisy input of D values (its gradient points along x - f(x)). */
static int build_unet(ir_nn *nn, const zoo_spec *s, int x)
{
    int skip[ZOO_MAX_LAYERS];
    char name[64];
    int h = x;
    for (int i = 0; i < s->n_hidden; i++) {
        snprintf(name, sizeof name, "down%d", i + 1);
        h = skip[i] = unet_block(nn, s, h, name, s->hidden[i], i ? 2 : 1);
    }
    h = unet_block(nn, s, h, "mid", s->hidden[s->n_hidden - 1], 1);
    for (int i = s->n_hidden - 2; i >= 0; i--) {
        snprintf(name, sizeof name, "up%d.proj", i + 1);
        h = ir_nn_conv2d(nn, name, h, s->hidden[i], 1, 1);
        const ir_shape *t = skip[i] >= 0 ? &nn->g->nodes[skip[i]].shape : NULL;
        h = ir_nn_add(nn, ir_nn_upsample2(nn, h, t ? t->d[2] : 0, t ? t->d[3] : 0), skip[i]);
        snprintf(name, sizeof name, "up%d", i + 1);
        h = unet_block(nn, s, h, name, s->hidden[i], 1);
    }
    int f = ir_nn_conv2d(nn, "out.conv", h, s->input_hwc[2], s->kernel, 1);
    double d = (double)(s->input_hwc[0] * s->input_hwc[1] * s->input_hwc[2]);
    return ir_nn_distance(nn, "dist", x, f, (float)(sqrt(d) / 0.05 / 2), 1e-2);
}

/* ---- metadata ------------------------------------------------------------------------------ */

static ebm_status meta_f(ir_graph *g, const char *key, double v, ebm_error *err)
{
    char buf[64];
    snprintf(buf, sizeof buf, "%.9g", v);
    return ir_graph_set_meta(g, key, buf, err);
}

static ebm_status meta_i(ir_graph *g, const char *key, int64_t v, ebm_error *err)
{
    char buf[32];
    snprintf(buf, sizeof buf, "%lld", (long long)v);
    return ir_graph_set_meta(g, key, buf, err);
}

static ebm_status set_defaults_meta(ir_graph *g, const zoo_defaults *d, ebm_error *err)
{
    char clamp[96], noise[32];
    if (d->clamp)
        snprintf(clamp, sizeof clamp, "%.9g,%.9g", d->clamp_lo, d->clamp_hi);
    else
        snprintf(clamp, sizeof clamp, "none");
    if (d->noise_scale < 0)
        snprintf(noise, sizeof noise, "auto");
    else
        snprintf(noise, sizeof noise, "%.9g", d->noise_scale);
    ebm_status st = meta_i(g, "ebm.sampler.steps", d->mcmc_steps, err);
    if (!st)
        st = meta_f(g, "ebm.sampler.step_size", d->step_size, err);
    if (!st)
        st = ir_graph_set_meta(g, "ebm.sampler.noise_scale", noise, err);
    if (!st)
        st = meta_f(g, "ebm.sampler.grad_clip", d->grad_clip, err);
    if (!st)
        st = ir_graph_set_meta(g, "ebm.sampler.clamp", clamp, err);
    if (!st)
        st = meta_f(g, "ebm.sampler.temperature", d->temperature, err);
    if (!st)
        st = meta_i(g, "ebm.buffer.capacity", d->buffer_capacity, err);
    if (!st)
        st = meta_f(g, "ebm.buffer.reinit_prob", d->reinit_prob, err);
    if (!st)
        st = meta_f(g, "ebm.train.alpha", d->alpha, err);
    if (!st && d->objective) {
        st = ir_graph_set_meta(g, "ebm.train.objective", d->objective, err);
        if (!st)
            st = meta_f(g, "ebm.train.sigma", d->sigma, err);
        if (!st)
            st = meta_f(g, "ebm.train.lr", d->lr, err);
        if (!st)
            st = meta_f(g, "ebm.train.ema", d->ema, err);
        if (!st)
            st = meta_i(g, "ebm.train.batch", d->batch, err);
        if (!st)
            st = meta_i(g, "ebm.train.steps", d->steps, err);
        if (!st && d->sigma_max > 0)
            st = meta_f(g, "ebm.train.sigma_max", d->sigma_max, err);
        if (!st && d->sigma_power > 0)
            st = meta_f(g, "ebm.train.sigma_power", d->sigma_power, err);
    }
    if (!st && d->anneal > 0)
        st = meta_f(g, "ebm.sampler.anneal", d->anneal, err);
    if (!st && d->anneal_hold > 0)
        st = meta_f(g, "ebm.sampler.anneal_hold", d->anneal_hold, err);
    if (!st && d->denoise > 0)
        st = meta_f(g, "ebm.sampler.denoise", d->denoise, err);
    if (!st && d->init_sd > 0) {
        char init[48];
        snprintf(init, sizeof init, "normal:%.9g", d->init_sd);
        st = ir_graph_set_meta(g, "ebm.sampler.init", init, err);
    }
    return st;
}

static ebm_status set_meta(ir_graph *g, const zoo_spec *s, uint64_t seed, ebm_error *err)
{
    char arch[512], shape[96], seed_s[32];
    zoo_spec_describe(s, arch, sizeof arch);
    const ir_shape *in = &g->nodes[g->inputs[0]].shape;
    size_t at = 0;
    shape[0] = 0;
    for (int i = 1; i < in->rank; i++)
        base_appendf(shape, sizeof shape, &at, "%s%lld", i > 1 ? "," : "", (long long)in->d[i]);
    snprintf(seed_s, sizeof seed_s, "%llu", (unsigned long long)seed);
    ebm_status st = s->preset[0] ? ir_graph_set_meta(g, "ebm.preset", s->preset, err) : EBM_OK;
    if (!st)
        st = ir_graph_set_meta(g, "ebm.name", s->name[0] ? s->name : "model", err);
    if (!st)
        st = ir_graph_set_meta(g, "ebm.architecture", arch, err);
    if (!st)
        st = ir_graph_set_meta(g, "ebm.input_shape", shape, err);
    if (!st)
        st = ir_graph_set_meta(g, "ebm.seed", seed_s, err);
    if (!st)
        st = ir_graph_set_meta(g, "ebm.energy_head", "output", err);
    if (!st)
        st = set_defaults_meta(g, &s->defaults, err);
    return st;
}

ebm_status zoo_build(const zoo_spec *s, uint64_t seed, ir_graph **out, ebm_error *err)
{
    *out = NULL;
    ebm_status st = zoo_spec_check(s, err);
    if (st)
        return st;
    ir_nn nn;
    ir_nn_begin(&nn, seed);
    nn.use_bias = s->use_bias;
    nn.max_params = s->max_params > 0 ? s->max_params : ZOO_MAX_PARAMS;
    ir_shape in = is_image(s) ? ir_shape_make(4, IR_DIM_N, 0, 0, 0) : ir_shape_make(2, IR_DIM_N, 0);
    if (is_image(s)) {
        in.d[1] = s->input_hwc[2];
        in.d[2] = s->input_hwc[0];
        in.d[3] = s->input_hwc[1];
    } else {
        in.d[1] = s->input_dim;
    }
    int x = ir_nn_input(&nn, "x", in);
    int e = s->kind == ZOO_MLP ? build_mlp(&nn, s, x) : s->kind == ZOO_UNET ? build_unet(&nn, s, x)
                                                                            : build_conv(&nn, s, x);
    if (s->quadratic)
        e = ir_nn_add(&nn, e, ir_nn_quadratic(&nn, "quad", x, QUAD_INIT_SCALE));
    ir_nn_output(&nn, e, "energy");
    ir_graph *g = ir_nn_finish(&nn, err);
    if (!g && nn.over_ceiling && err) {
        size_t k = strlen(err->msg);
        snprintf(err->msg + k, sizeof err->msg - k, " (a larger network needs a higher ceiling: ebm init "
                 "--max-params N)");
    }
    if (!g)
        return err ? err->code : EBM_ERR_INVALID;
    st = set_meta(g, s, seed, err);
    if (st) {
        ir_graph_free(g);
        return st;
    }
    *out = g;
    return EBM_OK;
}
