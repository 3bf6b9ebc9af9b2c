/* ebm_init.c — `ebm init`: writes a new energy network as an ONNX model.
 *
 *   ebm init --preset NAME [--config FILE] [--input-dim D | --input-shape H,W,C] [--seed S] -o MODEL.onnx
 *   ebm init --config FILE [--input-dim D | --input-shape H,W,C] [--seed S] -o MODEL.onnx
 *   ... [--emit-config FILE.json]
 *
 * The spec is built in layers, each overriding the one before: the preset
 * (or the default spec), the configuration file, then the input flags.  The
 * network, its initial parameters (from --seed) and its ebm.* metadata come
 * from ir/nn.h; the file is written atomically.  The configuration itself
 * (zoo_config_emit, the seed's form) goes into the model as ebm.config, which
 * `ebm info --config` prints back, and into --emit-config FILE on request.
 */
#include "ebm_init.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <stdlib.h>

#include "atomic_file.h"
#include "zoo.h"
#include "onnx.h"

static const cli_opt init_opts[] = {
    {.name = "preset", .metavar = "NAME", .help = "start from a preset: simple, cnn, mnist or cifar"},
    {.name = "config", .metavar = "FILE",
     .help = "a JSON model configuration; with --preset, its fields override the preset's"},
    {.name = "input-dim", .metavar = "D", .help = "tabular input of D features: x is [N, D]"},
    {.name = "input-shape", .metavar = "H,W,C", .help = "image input of H x W pixels, C channels: x is [N, C, H, W]"},
    {.name = "seed", .metavar = "S", .help = "seed of the parameter initialisation (default 0)"},
    {.name = "max-params", .metavar = "N", .help = "refuse (before allocating) a network of more than N "
                                                   "parameters (default 100000000)"},
    {.name = "output", .short_name = 'o', .metavar = "FILE", .help = "the ONNX model to write (required)"},
    {.name = "emit-config", .metavar = "FILE.json",
     .help = "also write the model's configuration (after --preset, --config and the input flags) as JSON in "
             "the seed's form; ebm init --config FILE.json builds the same network again"},
    {0},
};

/* The presets and energy types, from zoo's tables. */
static void init_details(FILE *f)
{
    fprintf(f, "energy_type: one of");
    for (int k = 0; k < ZOO_KIND_COUNT; k++)
        fprintf(f, "%s %s", k ? "," : "", zoo_kind_name((zoo_kind)k));
    fprintf(f, ".\nPresets:\n");
    for (int i = 0; i < zoo_preset_count(); i++)
        fprintf(f, "  %-7s %s\n", zoo_preset_name(i), zoo_preset_help(i));
}

const cli_cmd init_cmd = {
    .prog = "ebm init",
    .usage = "--preset NAME | --config FILE | --preset NAME --config FILE\n"
             "                [--input-dim D | --input-shape H,W,C] [--seed S] [--max-params N]\n"
             "                [--emit-config FILE.json] -o MODEL.onnx",
    .summary = "Writes a new energy network, from a preset or a JSON configuration, as ONNX.\n"
               "The file uses standard operators only and carries the sampler and training\n"
               "defaults in ebm.* metadata; parameters are initialised as PyTorch does, from --seed.\n"
               "Configuration fields (flat form): name, input_dim D or input_shape [H, W, C], hidden_dims,\n"
               "output_dim (must be 1), activation (relu, silu/swish, gelu, elu, leaky_relu, softplus, tanh),\n"
               "energy_type (see below), use_residual, use_bias, kernel_size, norm_groups, quadratic, and\n"
               "parameters {mcmc_steps, step_size, noise_scale, grad_clip, clamp, temperature,\n"
               "buffer_capacity, reinit_prob, alpha}.\n"
               "The seed's form is accepted too: model_class \"EBM\" (mlp or cnn) or \"DeepEBM\" (deep),\n"
               "input_dim [D] or [H, W, C], name, hidden_dims, output_dim, activation, and the network\n"
               "settings (energy_type, use_residual, use_bias, kernel_size, norm_groups, quadratic) under\n"
               "parameters with the sampler's; a file uses one form.  Images are channel-last: --input-shape\n"
               "and [H, W, C] give x [N, C, H, W] (read [N, H, W, C] arrays with --layout nhwc).",
    .details = init_details,
    .opts = init_opts,
    .min_positional = 0,
    .max_positional = 0,
    .positional_names = "",
};

/* "H,W,C": three whole numbers >= 1. */
static ebm_status parse_hwc(const char *value, int64_t *hwc, ebm_error *err)
{
    char part[3][32];
    int n = 0;
    const char *p = value;
    while (n < 3) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (len >= sizeof part[0])
            break;
        memcpy(part[n], p, len);
        part[n++][len] = 0;
        if (!comma)
            break;
        p = comma + 1;
    }
    if (n != 3 || strchr(p, ','))
        return ebm_fail(err, EBM_ERR_INVALID, "--input-shape: '%s' is not H,W,C (three whole numbers, e.g. "
                        "28,28,1)", value);
    for (int i = 0; i < 3; i++) {
        long long v;
        ebm_status st = cli_parse_int("--input-shape", part[i], 1, 1 << 14, &v, err);
        if (st)
            return st;
        hwc[i] = v;
    }
    return EBM_OK;
}

/* Flag values are checked before anything is built, as usage errors. */
typedef struct init_flags {
    const char *preset, *config, *out, *emit;
    int64_t input_dim, hwc[3];
    unsigned long long seed;
    long long max_params;   /* 0: not given */
} init_flags;

static ebm_status read_flags(const cli_args *a, init_flags *f, ebm_error *err)
{
    memset(f, 0, sizeof *f);
    f->preset = cli_get(&init_cmd, a, "preset");
    f->config = cli_get(&init_cmd, a, "config");
    f->out = cli_get(&init_cmd, a, "output");
    f->emit = cli_get(&init_cmd, a, "emit-config");
    const char *dim = cli_get(&init_cmd, a, "input-dim"), *shape = cli_get(&init_cmd, a, "input-shape");
    const char *seed = cli_get(&init_cmd, a, "seed");
    if (!f->out)
        return ebm_fail(err, EBM_ERR_INVALID, "init: missing required flag -o FILE (see 'ebm init --help')");
    if (!f->preset && !f->config)
        return ebm_fail(err, EBM_ERR_INVALID, "init: give --preset NAME (%s) or --config FILE, or both "
                        "(see 'ebm init --help')", zoo_preset_names());
    if (dim && shape)
        return ebm_fail(err, EBM_ERR_INVALID, "init: --input-dim and --input-shape both given; a model has one "
                        "input (--input-dim for tabular data, --input-shape for images)");
    long long d = 0;
    ebm_status st = dim ? cli_parse_int("--input-dim", dim, 1, 1 << 24, &d, err) : EBM_OK;
    f->input_dim = d;
    if (!st && shape)
        st = parse_hwc(shape, f->hwc, err);
    if (!st && seed)
        st = cli_parse_u64("--seed", seed, &f->seed, err);
    const char *maxp = cli_get(&init_cmd, a, "max-params");
    if (!st && maxp)
        st = cli_parse_int("--max-params", maxp, 1, INT64_MAX, &f->max_params, err);
    return st;
}

/* The flags' input size replaces the preset's or configuration's. */
static void apply_input_flags(const init_flags *f, zoo_spec *s)
{
    if (f->input_dim) {
        s->input_dim = f->input_dim;
    } else if (f->hwc[0]) {
        s->input_dim = 0;
        memcpy(s->input_hwc, f->hwc, sizeof f->hwc);
    }
}

int run_init(const cli_args *a)
{
    ebm_error err = {0};
    init_flags f;
    if (read_flags(a, &f, &err))
        return cli_fail("ebm", &err, CLI_EXIT_USAGE);
    zoo_spec s;
    ir_graph *g = NULL;
    zoo_spec_default(&s);
    if (f.preset && zoo_preset(f.preset, &s, &err)) {   /* a bad flag value */
        ebm_error_prefix(&err, "--preset");
        return cli_fail("ebm", &err, CLI_EXIT_USAGE);
    }
    if (f.config && zoo_config_file(f.config, &s, &err))
        return cli_fail("ebm", &err, CLI_EXIT_ERROR);
    apply_input_flags(&f, &s);
    s.max_params = f.max_params;
    char *compact = NULL, *indented = NULL;
    ebm_status st = zoo_config_emit(&s, 1, &compact, &err);
    if (!st)
        st = zoo_build(&s, f.seed, &g, &err);
    if (!st)
        st = ir_graph_set_meta(g, "ebm.config", compact, &err);
    if (!st)
        st = ir_onnx_export_file(g, f.out, &err);
    if (!st && f.emit && !(st = zoo_config_emit(&s, 0, &indented, &err))) {
        const void *parts[2] = {indented, "\n"};
        const size_t lens[2] = {strlen(indented), 1};
        if ((st = base_write_atomic(f.emit, parts, lens, 2, &err)))
            ebm_error_prefix(&err, "--emit-config");
    }
    free(compact);
    free(indented);
    if (st) {
        ir_graph_free(g);
        return cli_fail("ebm", &err, CLI_EXIT_ERROR);
    }
    char arch[512];
    zoo_spec_describe(&s, arch, sizeof arch);
    printf("ebm init: wrote %s: %s%s%s, %lld parameters, seed %llu%s%s\n", f.out, s.preset[0] ? s.preset : "",
           s.preset[0] ? " " : "", arch, (long long)ir_graph_param_count(g, 1), f.seed,
           f.emit ? "; configuration -> " : "", f.emit ? f.emit : "");
    ir_graph_free(g);
    return CLI_EXIT_OK;   /* a failed write to stdout: main says so (cli_finish) */
}
