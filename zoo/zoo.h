/* zoo.h — the model zoo: architectures described by a small spec (an MLP,
 * a CNN or a deeper CNN with GroupNorm, their widths, activation and the
 * sampler/training defaults), the named presets (zoo/presets.c), JSON model
 * configurations on top of them (zoo/config.c, the only user of jansson), and
 * the builder that turns a spec into core IR with ir/nn.h.  `ebm init` is its
 * command-line face.
 */
#ifndef EBMC_ZOO_H
#define EBMC_ZOO_H

#include <stddef.h>
#include <stdint.h>

#include "nn.h"

typedef enum zoo_kind {
    ZOO_MLP,    /* hidden linear layers + activation, then -> 1 */
    ZOO_CNN,    /* per hidden dim a stride-2 conv + activation; global mean; linear -> 1 */
    ZOO_DEEP,   /* conv (stride 2 but the last) + GroupNorm + activation per hidden dim;
                     global mean; head C -> C/2 -> C/4 -> 1 */
    ZOO_UNET,   /* a denoiser f: per hidden dim a level of conv + GroupNorm + activation (stride 2
                     but the first), a middle block, then back up level by level (1x1 conv,
                     nearest upsampling, the level's skip added, conv + GroupNorm + activation)
                     and a conv to the input's channels; E = a |x - f(x)| (ir_nn_distance) */
    ZOO_KIND_COUNT
} zoo_kind;

#define ZOO_MAX_LAYERS 16
#define ZOO_NAME_MAX 64

/* Sampler and training defaults, carried in the model's ebm.* metadata. */
typedef struct zoo_defaults {
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
    /* Written when > 0: ebm.train.sigma_max (dsm at many noise levels),
     * .sigma_power (how those levels are drawn), and the annealed sampler
     * that draws such a model, ebm.sampler.anneal, .anneal_hold (the share of
     * its steps at the first temperature) and ebm.sampler.denoise. */
    double sigma_max, sigma_power, anneal, anneal_hold, denoise;
    /* Written when > 0: ebm.sampler.init "normal:S", the chains starting from
     * N(0, S^2) (an annealed sampler's first noise level); else the default
     * (uniform in the clamp range). */
    double init_sd;
} zoo_defaults;

typedef struct zoo_spec {
    char name[ZOO_NAME_MAX];    /* ebm.name */
    char preset[ZOO_NAME_MAX];  /* ebm.preset; "" = built from a configuration alone */
    zoo_kind kind;
    int64_t input_dim;            /* > 0: the input is [N, input_dim] */
    int64_t input_hwc[3];         /* H, W, C (when input_dim is 0): the input is [N, C, H, W] */
    int64_t hidden[ZOO_MAX_LAYERS];
    int n_hidden;
    ir_nn_act_kind act;
    int use_residual;             /* mlp: h + act(W h) where sizes agree; conv: residual blocks */
    int use_bias;
    int64_t kernel;               /* conv kernel size, odd */
    int64_t norm_groups;          /* deep: GroupNorm groups at most (the largest divisor of C not above it);
                                     0 = min(32, C) */
    int quadratic;                /* add 1/2 sum (scale (x - center))^2, a learned Gaussian term */
    int64_t max_params;           /* the build fails, before allocating, on a network of more
                                     parameters (0 = ZOO_MAX_PARAMS) */
    zoo_defaults defaults;
} zoo_spec;

/* The default parameter ceiling: 10^8 parameters are 400 MB of float32, and
 * training keeps three more copies (Adam's moments, the snapshot). */
#define ZOO_MAX_PARAMS INT64_C(100000000)

/* Where a configuration without a preset starts: an mlp with hidden 128,
 * 128, 64, SiLU, bias, kernel 3, DESIGN.md's sampler defaults, no input. */
void zoo_spec_default(zoo_spec *s);
/* The preset `name` (see zoo_preset_names); an unknown name fails listing them. */
ebm_status zoo_preset(const char *name, zoo_spec *s, ebm_error *err);
/* "simple, cnn, mnist, cifar": the names of the preset table, in order */
const char *zoo_preset_names(void);
/* The preset table: how many rows, and row i's name and one-line description
 * (NULL outside [0, zoo_preset_count())). */
int zoo_preset_count(void);
const char *zoo_preset_name(int i);
const char *zoo_preset_help(int i);

/* Applies a JSON model configuration on top of *s: the fields it gives
 * replace those in s (a preset can be the starting point).  Unknown fields,
 * wrong types and values out of range fail with the file, the field, what
 * was expected and what was found; *s is then unchanged. */
ebm_status zoo_config_file(const char *path, zoo_spec *s, ebm_error *err);
/* The same from text; label names the source in messages. */
ebm_status zoo_config_text(const char *json, const char *label, zoo_spec *s, ebm_error *err);

/* The configuration of s as JSON text in the seed's form (model_class,
 * input_dim as an array, the network and sampler settings under
 * "parameters"): every field the builder reads, so zoo_config_text of it on
 * any starting spec builds the same network.  On one line with compact, else
 * indented.  *out is malloc'd. */
ebm_status zoo_config_emit(const zoo_spec *s, int compact, char **out, ebm_error *err);

/* A model's metadata value for key, or NULL. */
typedef const char *(*zoo_meta_fn)(void *user, const char *key);
/* Rebuilds a model's configuration from its metadata: ebm.config (what `ebm
 * init` records), then the defaults the model carries now over it
 * (ebm.sampler.*, ebm.buffer.capacity / reinit_prob, ebm.train.alpha; `ebm
 * train` rewrites them).  Without ebm.config (an export from PyTorch, say),
 * EBM_ERR_UNSUPPORTED with one line saying so; label names the model. */
ebm_status zoo_config_from_meta(zoo_meta_fn get, void *user, const char *label, zoo_spec *s, ebm_error *err);

/* "mlp", "cnn", "deep", "unet": the configurations' energy_type. */
const char *zoo_kind_name(zoo_kind kind);
/* Checks that s describes a network that can be built (names the field). */
ebm_status zoo_spec_check(const zoo_spec *s, ebm_error *err);
/* One line describing the architecture (the ebm.architecture metadata). */
void zoo_spec_describe(const zoo_spec *s, char *buf, size_t size);
/* Builds the network of s with parameters from seed: input "x", output
 * "energy" [N,1], and the ebm.* metadata (preset, name, architecture, input
 * shape, seed, energy head and the defaults).  *out is a new graph. */
ebm_status zoo_build(const zoo_spec *s, uint64_t seed, ir_graph **out, ebm_error *err);

#endif /* EBMC_ZOO_H */
