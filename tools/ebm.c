/* ebm — the runtime command line.
 *
 *   ebm info MODEL [--config]
 *   ebm eval MODEL --input x.npy [--energy e.npy] [--score s.npy] [--grad g.npy] [--print]
 *            [--energy-head H] [--reference] [--f64] [--layout nchw|nhwc]
 *   ebm sample MODEL -n N [--steps K] [--step-size A] [--noise S|auto] [--grad-clip C]
 *            [--clamp LO,HI|none] [--temperature T] [--seed S] [--init uniform|normal|FILE.npy]
 *            [--buffer FILE.npy [--buffer-capacity C]] [--trajectory M] [--energy e.npy]
 *            [--layout nchw|nhwc] -o OUT.npy
 *
 * MODEL is a compiled model (.so, made by ebmc) or an ONNX model, told apart
 * by content.  `eval` and `sample` run compiled code through libebm; an ONNX
 * model is compiled once into the cache folder (tools/model_cache.h).
 * `eval --reference` (implied by --f64) runs the reference executor on the
 * ONNX graph instead.  `info` describes either kind of file.
 *
 * Sampler defaults from the model (ebm_sample.c reads them; a flag wins over
 * the metadata, the metadata over DESIGN.md's defaults).  They are ONNX
 * metadata_props, copied into the compiled model's descriptor:
 *
 *   key                        value                         default (DESIGN.md)
 *   ebm.sampler.steps          whole number >= 0             60
 *   ebm.sampler.step_size      number > 0                    0.01
 *   ebm.sampler.noise_scale    number >= 0, or "auto"        0.005  (auto = sqrt(2 step_size))
 *   ebm.sampler.grad_clip      number >= 0 (0 = off)         0.03
 *   ebm.sampler.clamp          "LO,HI" or "none"             -1,1
 *   ebm.sampler.temperature    number > 0                    1
 *   ebm.sampler.init           "uniform", "normal" or        uniform (in the clamp range)
 *                              "normal:S" (N(0, S^2))
 *   ebm.sampler.anneal         number >= 0 (0 = off)         0  (langevin: the first step's
 *                                                                 temperature, annealed to T)
 *   ebm.sampler.anneal_hold    number in [0, 1)              0  (annealed: the share of the steps
 *                                                                 held at the first temperature)
 *   ebm.sampler.denoise        number >= 0 (0 = off)         0  (a last noiseless step's size)
 *
 * The training keys (ebm.train.*, ebm.buffer.*) are read by ebm_train.c's
 * settings table; ebm.train.sigma_max > ebm.train.sigma makes a dsm model of
 * many noise levels, which `ebm train` writes with the anneal and denoise that
 * draw it (sigma_max / sigma and sigma^2) unless given.
 *
 * ebm.config (written by `ebm init`) is the model's configuration as JSON in
 * the seed's form (zoo/config.c); `ebm info --config` prints it with the
 * sampler and training defaults above put over it.
 */
#include <cblas.h>
#include <errno.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autodiff.h"
#include "cli_common.h"
#include "ebm.h"
#include "ebm_commands.h"
#include "ebm_dist.h"
#include "ebm_init.h"
#include "exec.h"
#include "model_cache.h"
#include "zoo.h"
#include "npy.h"

/* ---- ebm info --------------------------------------------------------------------- */

static const cli_opt info_opts[] = {
    {.name = "config", .help = "print the model's configuration as JSON (the seed's form, as ebm init --config "
                               "reads it): what ebm init recorded in ebm.config, with the sampler and training "
                               "defaults the model carries now; a model without ebm.config (e.g. exported from "
                               "PyTorch) has none to print"},
    CACHE_OPT_TRUST_FILE,
    {0},
};

static const cli_cmd info_cmd = {
    .prog = "ebm info",
    .usage = "MODEL [--config] [--trust-file]",
    .summary = "Describes a model: producer, opsets, inputs and outputs (N = batch size),\n"
               "ONNX and core-IR node counts, parameters and ebm.* metadata; for a compiled\n"
               "model (.so), what its descriptor records.",
    .opts = info_opts,
    .min_positional = 1,
    .max_positional = 1,
    .positional_names = "MODEL",
};

/* Text from the model file, escaped (cli_escape): control bytes would break
 * the layout or reach the terminal.  Returns buf. */
#define SAFE_MAX 4096
static const char *safe(const char *text, char *buf)
{
    cli_escape(text, buf, SAFE_MAX);
    return buf;
}

/* Prints a metadata key and value on one line. */
static void print_meta_kv(const char *key, const char *value)
{
    char k[SAFE_MAX], v[SAFE_MAX];
    printf("  %s = %s\n", safe(key, k), safe(value, v));
}

static void print_meta(const ir_meta *m)
{
    print_meta_kv(m->key, m->value);
}

static void info_values(const char *label, const ir_graph *g, const int *ids, int n,
                        char *const *names)
{
    char sbuf[128];
    for (int i = 0; i < n; i++) {
        const ir_node *node = &g->nodes[ids[i]];
        const char *name = names ? names[i] : node->name;
        char nb[SAFE_MAX];
        printf("%-12s %s %s\n", i == 0 ? label : "", safe(name ? name : "?", nb),
               ir_shape_str(&node->shape, sbuf, sizeof sbuf));
    }
    if (n == 0)
        printf("%-12s (none)\n", label);
}

static void info_core_ops(const ir_graph *g)
{
    int count[IR_OP_COUNT] = {0};
    for (int i = 0; i < g->n_nodes; i++)
        count[g->nodes[i].op]++;
    printf("%-12s %d after lowering:", "core nodes", g->n_nodes);
    const char *sep = " ";
    for (int op = 0; op < IR_OP_COUNT; op++) {
        if (!count[op])
            continue;
        printf("%s%s %d", sep, ir_op_get((ir_op)op)->name, count[op]);
        sep = ", ";
    }
    putchar('\n');
}

static void info_params(const ir_graph *g)
{
    int tensors = 0;
    for (int i = 0; i < g->n_nodes; i++)
        tensors += (g->nodes[i].flags & IR_NODE_PARAM) != 0;
    printf("%-12s %lld trainable, %lld total, in %d tensors\n", "parameters",
           (long long)ir_graph_param_count(g, 1), (long long)ir_graph_param_count(g, 0), tensors);
    char sbuf[128];
    for (int i = 0; i < g->n_nodes; i++) {
        const ir_node *node = &g->nodes[i];
        if (!(node->flags & IR_NODE_PARAM))
            continue;
        char nb[SAFE_MAX];
        printf("  %-32s %s%s\n", safe(node->name ? node->name : "?", nb),
               ir_shape_str(&node->shape, sbuf, sizeof sbuf),
               node->flags & IR_NODE_TRAINABLE ? "" : "  (not trainable)");
    }
}

static void info_meta(const ir_graph *g)
{
    printf("metadata%s\n", g->n_meta ? ":" : ": (none)");
    /* ebm.* keys first: they are the ones ebmc reads. */
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < g->n_meta; i++)
            if ((strncmp(g->meta[i].key, "ebm.", 4) == 0) == (pass == 0))
                print_meta(&g->meta[i]);
}

static const char *program_kind_name(int32_t kind)
{
    static const char *const names[EBM_PROGRAM_KIND_COUNT] = {"energy", "score", "param_grad", "langevin",
                                                              "dsm_grad"};
    return kind >= 0 && kind < EBM_PROGRAM_KIND_COUNT ? names[kind] : "unknown";
}

static void info_compiled_params(const ebm_abi_model *d)
{
    long long trainable = 0, total = 0;
    for (int k = 0; k < d->n_params; k++) {
        total += d->params[k].numel;
        trainable += d->params[k].trainable ? d->params[k].numel : 0;
    }
    printf("%-12s %lld trainable, %lld total, in %d tensors\n", "parameters", trainable, total, (int)d->n_params);
    for (int k = 0; k < d->n_params; k++) {
        const ebm_abi_param *p = &d->params[k];
        ir_shape s = {.rank = p->rank};
        memcpy(s.d, p->shape, sizeof s.d[0] * (size_t)p->rank);
        char sb[128];
        printf("  %-32s %s%s\n", p->name, ir_shape_str(&s, sb, sizeof sb), p->trainable ? "" : "  (not trainable)");
    }
}

/* `ebm info model.so`: what the descriptor says. */
static int info_compiled(const char *path, int trust_file)
{
    ebm_error err = {0};
    ebm_model *m = NULL;
    ebm_open_options o = {.trust_file = trust_file};
    if (ebm_model_open_with(path, &o, &m, &err))
        return cli_fail("ebm", &err, CLI_EXIT_ERROR);
    const ebm_abi_model *d = ebm_model_desc(m);
    ir_shape in = cli_desc_input_shape(d);
    char sb[128];
    printf("%-12s %s\n", "file", path);
    printf("%-12s ebmc %s, ABI version %u\n", "compiled by", d->compiler_version ? d->compiler_version : "?",
           (unsigned)d->abi_version);
    printf("%-12s %s\n", "source", d->source_hash && d->source_hash[0] ? d->source_hash : "(unknown)");
    printf("%-12s %s\n", "input", ir_shape_str(&in, sb, sizeof sb));
    printf("%-12s %s\n", "energy head", d->energy_head ? d->energy_head : "?");
    char isa[512];
    printf("%-12s %s (CPU features: %s)\n", "target", d->isa,
           d->isa_features ? ebm_isa_names(d->isa_features, isa, sizeof isa) : "x86-64 baseline");
    printf("%-12s code %016llx, weights %016llx (%lld bytes): both checked\n", "digests",
           (unsigned long long)d->code_hash, (unsigned long long)d->weights_hash, (long long)d->blob_bytes);
    printf("%-12s %lld samples per call\n", "tile", (long long)d->tile);
    printf("%-12s", "programs");
    for (int k = 0; k < d->n_programs; k++)
        printf("%s %s (arena %lld bytes)", k ? "," : "", program_kind_name(d->programs[k].kind),
               (long long)d->programs[k].arena_bytes);
    putchar('\n');
    info_compiled_params(d);
    printf("metadata%s\n", d->n_meta ? ":" : ": (none)");
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < d->n_meta; i++)
            if ((strncmp(d->meta[i].key, "ebm.", 4) == 0) == (pass == 0))
                print_meta_kv(d->meta[i].key, d->meta[i].value);
    ebm_model_close(m);
    return CLI_EXIT_OK;   /* a failed write to stdout: main says so (cli_finish) */
}

/* Metadata lookups for zoo_config_from_meta. */
static const char *graph_meta(void *g, const char *key)
{
    return ir_graph_get_meta(g, key);
}

static const char *desc_meta(void *d, const char *key)
{
    const ebm_abi_model *m = d;
    for (int i = 0; i < m->n_meta; i++)
        if (m->meta[i].key && strcmp(m->meta[i].key, key) == 0)
            return m->meta[i].value;
    return NULL;
}

/* `ebm info --config`: the configuration rebuilt from the metadata. */
static int info_config(const char *path, int trust_file)
{
    ebm_error err = {0};
    ebm_model *m = NULL;
    ir_graph *g = NULL;
    zoo_spec s;
    char *json = NULL;
    ebm_status st;
    if (cli_file_is_elf(path)) {
        ebm_open_options o = {.trust_file = trust_file};
        st = ebm_model_open_with(path, &o, &m, &err);
        if (!st)
            st = zoo_config_from_meta(desc_meta, (void *)ebm_model_desc(m), path, &s, &err);
    } else {
        st = cli_load_model(path, &g, &err);
        if (!st)
            st = zoo_config_from_meta(graph_meta, g, path, &s, &err);
    }
    if (!st)
        st = zoo_config_emit(&s, 0, &json, &err);
    if (!st)
        printf("%s\n", json);
    free(json);
    ir_graph_free(g);
    ebm_model_close(m);
    return st ? cli_fail("ebm", &err, CLI_EXIT_ERROR) : CLI_EXIT_OK;
}

static int run_info(const cli_args *a)
{
    if (cli_get(&info_cmd, a, "config"))
        return info_config(a->positional[0], cli_get(&info_cmd, a, "trust-file") != NULL);
    if (cli_file_is_elf(a->positional[0]))
        return info_compiled(a->positional[0], cli_get(&info_cmd, a, "trust-file") != NULL);
    ebm_error err = {0};
    ir_graph *g = NULL;
    if (cli_load_model(a->positional[0], &g, &err))
        return cli_fail("ebm", &err, CLI_EXIT_ERROR);
    printf("%-12s %s\n", "file", a->positional[0]);
    char pb[SAFE_MAX];
    printf("%-12s %s\n", "producer", safe(g->producer ? g->producer : "(unknown)", pb));
    printf("%-12s %lld\n", "onnx ir", (long long)g->onnx_ir_version);
    printf("%-12s", "opsets");
    for (int i = 0; i < g->n_opsets; i++)
        printf(" %s %lld", safe(g->opsets[i].domain && g->opsets[i].domain[0] ? g->opsets[i].domain : "ai.onnx", pb),
               (long long)g->opsets[i].version);
    putchar('\n');
    info_values("inputs", g, g->inputs, g->n_inputs, NULL);
    info_values("outputs", g, g->outputs, g->n_outputs, g->output_names);
    printf("%-12s %d\n", "onnx nodes", g->onnx_nodes);
    info_core_ops(g);
    info_params(g);
    info_meta(g);
    ir_graph_free(g);
    return CLI_EXIT_OK;   /* a failed write to stdout: main says so (cli_finish) */
}

/* ---- ebm eval ---------------------------------------------------------------------- */

static const cli_opt eval_opts[] = {
    {.name = "input", .metavar = "FILE",
     .help = "input samples, .npy float32 [N, ...input dims] (required)"},
    {.name = "energy", .metavar = "FILE", .help = "write the energies E(x), .npy [N]"},
    {.name = "score", .metavar = "FILE",
     .help = "write the score -dE/dx (= d log p/dx), .npy of the input's shape"},
    {.name = "grad", .metavar = "FILE", .help = "write the gradient +dE/dx, .npy of the input's shape"},
    {.name = "print", .help = "print one energy per line on stdout"},
    {.name = "energy-head", .metavar = "HEAD",
     .help = "output|sum|neg-logsumexp|logsumexp (default: the model's ebm.energy_head "
             "metadata, else output)"},
    {.name = "reference",
     .help = "run the reference executor on the ONNX graph instead of compiled code"},
    {.name = "f64", .help = "compute in float64 and write float64 arrays (accepts float64 input); "
                            "implies --reference"},
    CLI_OPT_LAYOUT,
    CACHE_OPT_TRUST_FILE,
    CACHE_OPT_BACKEND,
    {0},
};

static const cli_cmd eval_cmd = {
    .prog = "ebm eval",
    .usage = "MODEL --input FILE [--energy FILE] [--score FILE] [--grad FILE] [--print]\n"
             "                [--energy-head HEAD] [--reference] [--f64] [--layout nchw|nhwc]",
    .summary = "Computes the energy E(x) of every sample in --input, and on request the\n"
               "score -dE/dx or the gradient dE/dx, with compiled code (an ONNX MODEL is\n"
               "compiled once into the cache folder), or with the reference executor.",
    .opts = eval_opts,
    .min_positional = 1,
    .max_positional = 1,
    .positional_names = "MODEL",
};

typedef struct value_stats {
    double mean, min, max;
    int64_t nan, inf, first_bad;
} value_stats;

/* v holds n doubles (f64) or floats. */
static value_stats stats_of(const void *v, int f64, int64_t n)
{
    value_stats s = {0, INFINITY, -INFINITY, 0, 0, -1};
    for (int64_t i = 0; i < n; i++) {
        double x = f64 ? ((const double *)v)[i] : ((const float *)v)[i];
        if (!isfinite(x)) {
            s.nan += isnan(x) != 0;
            s.inf += isinf(x) != 0;
            if (s.first_bad < 0)
                s.first_bad = i;
            continue;
        }
        s.mean += x;
        s.min = x < s.min ? x : s.min;
        s.max = x > s.max ? x : s.max;
    }
    if (n > 0)
        s.mean /= (double)n;
    return s;
}

/* What one eval computes: the energies and, on request, the score. */
typedef struct eval_out {
    void *energy;    /* n values */
    void *score;     /* numel values, NULL unless --score or --grad */
    int f64;
} eval_out;

static void eval_out_free(eval_out *o)
{
    free(o->energy);
    free(o->score);
}

/* Room for n energies and (want_score) numel score values; +1: malloc(0) may
 * return NULL, which is not an allocation failure. */
static ebm_status eval_out_alloc(eval_out *o, int64_t n, int64_t numel, int want_score, ebm_error *err)
{
    size_t esize = o->f64 ? sizeof(double) : sizeof(float);
    o->energy = malloc((size_t)(n + 1) * esize);
    o->score = want_score ? malloc((size_t)(numel + 1) * esize) : NULL;
    if (!o->energy || (want_score && !o->score))
        return ebm_fail(err, EBM_ERR_NOMEM, "out of memory for %lld samples", (long long)n);
    return EBM_OK;
}

/* Runs g (the energy graph, or the score program) on x (already checked). */
static ebm_status eval_run(const ir_graph *g, const ebm_array *x, int64_t n, eval_out *o, ebm_error *err)
{
    int want_score = g->n_outputs == 2;
    if (g->n_outputs < 1 || ir_shape_numel(&g->nodes[g->outputs[0]].shape, n) != n)
        return ebm_fail(err, EBM_ERR_INTERNAL, "%s: the energy head did not leave one output "
                        "of shape [N]", g->source ? g->source : "model");
    int64_t numel = ebm_array_numel(x);
    const void *in = x->data;
    double *widened = NULL;
    if (o->f64 && x->dtype == EBM_NPY_F32) {
        widened = malloc((size_t)(numel + 1) * sizeof *widened);
        if (!widened)
            return ebm_fail(err, EBM_ERR_NOMEM, "out of memory for %lld input values",
                            (long long)numel);
        for (int64_t i = 0; i < numel; i++)
            widened[i] = ((const float *)x->data)[i];
        in = widened;
    }
    ebm_status st = eval_out_alloc(o, n, numel, want_score, err);
    const void *inputs[1] = {in};
    void *outputs[2] = {o->energy, o->score};
    if (!st)
        st = ebmc_exec(g, n, o->f64 ? EBMC_F64 : EBMC_F32, inputs, outputs, err);
    free(widened);
    return st;
}

/* NaN/Inf are reported (which samples, how many), never written silently. */
static ebm_status check_finite(const char *model, const char *what, const void *v, int f64, int64_t n,
                               ebm_error *err)
{
    value_stats s = stats_of(v, f64, n);
    if (s.nan || s.inf)
        return ebm_fail(err, EBM_ERR_NUMERIC, "%s: %lld of %lld %s values are not finite (%lld NaN, "
                        "%lld Inf; first at element %lld); nothing written", model,
                        (long long)(s.nan + s.inf), (long long)n, what, (long long)s.nan,
                        (long long)s.inf, (long long)s.first_bad);
    return EBM_OK;
}

static ebm_status check_outputs(const char *model, const eval_out *o, int64_t n, int64_t numel, ebm_error *err)
{
    ebm_status st = check_finite(model, "energy", o->energy, o->f64, n, err);
    if (!st && o->score)
        st = check_finite(model, "score", o->score, o->f64, numel, err);
    return st;
}

/* Writes the score, or its negation (the gradient), with the input's shape
 * (in the --layout the input was read in). */
static ebm_status write_score(const char *path, cli_layout l, const ebm_array *x, const void *score, int f64,
                              int negate, ebm_error *err)
{
    int64_t numel = ebm_array_numel(x);
    size_t esize = f64 ? sizeof(double) : sizeof(float);
    void *buf = malloc((size_t)(numel + 1) * esize);
    if (!buf)
        return ebm_fail(err, EBM_ERR_NOMEM, "out of memory writing %s", path);
    for (int64_t i = 0; i < numel; i++) {
        if (f64)
            ((double *)buf)[i] = (negate ? -1 : 1) * ((const double *)score)[i];
        else
            ((float *)buf)[i] = (negate ? -1 : 1) * ((const float *)score)[i];
    }
    ebm_status st = cli_layout_write(l, path, f64, 0, NULL, x->shape[0], x->rank - 1, x->shape + 1, buf, err);
    free(buf);
    return st;
}

/* Checks, writes and summarises what either executor computed. */
static ebm_status eval_report(const cli_args *a, const char *model, const ebm_array *x, int64_t n,
                              const eval_out *o, ebm_error *err)
{
    const char *e_path = cli_get(&eval_cmd, a, "energy");
    const char *s_path = cli_get(&eval_cmd, a, "score");
    const char *g_path = cli_get(&eval_cmd, a, "grad");
    cli_layout l = CLI_LAYOUT_NCHW;
    ebm_status st = cli_layout_from_flag(cli_get(&eval_cmd, a, "layout"), &l, err);
    if (!st)
        st = check_outputs(model, o, n, ebm_array_numel(x), err);
    if (!st && e_path)
        st = ebm_npy_write(e_path, o->f64 ? EBM_NPY_F64 : EBM_NPY_F32, 1, &n, o->energy, err);
    if (!st && s_path)
        st = write_score(s_path, l, x, o->score, o->f64, 0, err);
    if (!st && g_path)
        st = write_score(g_path, l, x, o->score, o->f64, 1, err);
    for (int64_t i = 0; !st && cli_get(&eval_cmd, a, "print") && i < n; i++)
        printf("%.9g\n", o->f64 ? ((double *)o->energy)[i] : ((float *)o->energy)[i]);
    if (!st && cli_get(&eval_cmd, a, "print") && (fflush(stdout) != 0 || ferror(stdout)))
        st = ebm_fail(err, EBM_ERR_IO, "<stdout>: write failed: %s (the energies were not all printed)",
                      errno ? strerror(errno) : "I/O error");
    if (st)
        return st;
    value_stats s = stats_of(o->energy, o->f64, n);
    if (n > 0)
        fprintf(stderr, "ebm eval: N=%lld energy mean %.6g min %.6g max %.6g%s%s%s%s%s%s\n", (long long)n,
                s.mean, s.min, s.max, e_path ? " -> " : "", e_path ? e_path : "", s_path ? ", score -> " : "",
                s_path ? s_path : "", g_path ? ", grad -> " : "", g_path ? g_path : "");
    else
        fprintf(stderr, "ebm eval: N=0, nothing to compute%s\n",
                e_path || s_path || g_path ? "; wrote empty arrays" : "");
    return EBM_OK;
}

static int eval_wants_score(const cli_args *a)
{
    return cli_get(&eval_cmd, a, "score") || cli_get(&eval_cmd, a, "grad");
}

/* --layout nhwc: the input array to the model's layout. */
static ebm_status eval_layout(const cli_args *a, const char *model, const ir_shape *want, const char *path,
                              ebm_array *x, ebm_error *err)
{
    cli_layout l = CLI_LAYOUT_NCHW;
    ebm_status st = cli_layout_from_flag(cli_get(&eval_cmd, a, "layout"), &l, err);
    return st ? st : cli_layout_read(l, model, want, path, x, err);
}

/* --reference / --f64: the reference executor on the front end's IR. */
static ebm_status eval_reference(const cli_args *a, ebm_error *err)
{
    const char *model = a->positional[0], *in_path = cli_get(&eval_cmd, a, "input");
    ebmc_front_end p = {.fold = 1};
    ir_graph *g = NULL, *prog = NULL;
    ebm_array x = {0};
    eval_out o = {.f64 = cli_get(&eval_cmd, a, "f64") != NULL};
    int64_t n = 0;
    ebm_status st = cli_load_model_with(model, o.f64, &g, err);
    if (!st)
        st = cli_resolve_head(g, cli_get(&eval_cmd, a, "energy-head"), &p.head, err);
    if (!st)
        st = ebmc_front_end_run(g, &p, err);
    if (!st && g->n_inputs != 1)
        st = ebm_fail(err, EBM_ERR_UNSUPPORTED, "%s: ebm eval needs a model with one input, this one has %d",
                      model, g->n_inputs);
    if (!st && eval_wants_score(a) && (st = ebmc_build_program(g, EBMC_PROGRAM_SCORE, &prog, err)))
        ebm_error_prefix(err, "%s", model);
    if (!st)
        st = ebm_npy_read(in_path, &x, err);
    if (!st) {
        const ir_node *in = &g->nodes[g->inputs[0]];
        st = eval_layout(a, model, &in->shape, in_path, &x, err);
        if (!st)
            st = cli_check_samples(model, in->name ? in->name : "?", &in->shape, in_path, &x, o.f64, 1, &n, err);
    }
    if (!st)
        st = eval_run(prog ? prog : g, &x, n, &o, err);
    if (!st)
        st = eval_report(a, model, &x, n, &o, err);
    eval_out_free(&o);
    ebm_array_free(&x);
    ir_graph_free(prog);
    ir_graph_free(g);
    return st;
}

/* Runs the compiled energy or score program on x through libebm; o is allocated. */
static ebm_status eval_compiled_run(ebm_model *m, const char *model, const ebm_array *x, int64_t n,
                                    eval_out *o, ebm_error *err)
{
    ebm_ctx *ctx = NULL;
    ebm_status st = ebm_ctx_new(m, n > 0 ? n : 1, &ctx, err);
    if (!st)
        st = o->score ? ebm_score(ctx, x->data, n, o->energy, o->score, err)
                      : ebm_energy(ctx, x->data, n, o->energy, err);
    if (st == EBM_ERR_NUMERIC) {
        /* Say it as the reference path does (NaN and Inf counts); keep
         * libebm's message if the outputs do not show it. */
        ebm_error lib = *err;
        if (!check_outputs(model, o, n, ebm_array_numel(x), err))
            *err = lib;
    }
    ebm_ctx_free(ctx);
    return st;
}

static ebm_status eval_compiled(const cli_args *a, ebm_error *err)
{
    const char *model = a->positional[0], *in_path = cli_get(&eval_cmd, a, "input");
    cache_request r = {.model = model, .head_flag = cli_get(&eval_cmd, a, "energy-head"), .sample_only = 1,
                       .trust_file = cli_get(&eval_cmd, a, "trust-file") != NULL,
                         .backend = cli_get(&eval_cmd, a, "backend")};
    ebm_model *m = NULL;
    ebm_array x = {0};
    eval_out o = {0};
    int64_t n = 0;
    ebm_status st = cache_open_model(&r, &m, err);
    if (!st)
        st = ebm_npy_read(in_path, &x, err);
    if (!st) {
        ir_shape want = cli_desc_input_shape(ebm_model_desc(m));
        st = eval_layout(a, model, &want, in_path, &x, err);
        if (!st)
            st = cli_check_samples(model, NULL, &want, in_path, &x, 0, !cli_file_is_elf(model), &n, err);
    }
    if (!st)
        st = eval_out_alloc(&o, n, ebm_array_numel(&x), eval_wants_score(a), err);
    if (!st)
        st = eval_compiled_run(m, model, &x, n, &o, err);
    if (!st)
        st = eval_report(a, model, &x, n, &o, err);
    eval_out_free(&o);
    ebm_array_free(&x);
    ebm_model_close(m);
    return st;
}

static int run_eval(const cli_args *a)
{
    ebm_error err = {0};
    if (!cli_get(&eval_cmd, a, "input")) {
        ebm_fail(&err, EBM_ERR_INVALID, "eval: missing required flag --input FILE (see 'ebm eval --help')");
        return cli_fail("ebm", &err, CLI_EXIT_USAGE);
    }
    if (!cli_get(&eval_cmd, a, "energy") && !eval_wants_score(a) && !cli_get(&eval_cmd, a, "print")) {
        ebm_fail(&err, EBM_ERR_INVALID, "eval: nothing to do: give --energy FILE, --score FILE, --grad FILE "
                 "or --print (see 'ebm eval --help')");
        return cli_fail("ebm", &err, CLI_EXIT_USAGE);
    }
    const char *head = cli_get(&eval_cmd, a, "energy-head");
    ebm_head h;
    if (head && cli_head_from_flag(head, &h, &err))
        return cli_fail("ebm", &err, CLI_EXIT_USAGE);
    cli_layout l;
    if (cli_layout_from_flag(cli_get(&eval_cmd, a, "layout"), &l, &err))
        return cli_fail("ebm", &err, CLI_EXIT_USAGE);
    int reference = cli_get(&eval_cmd, a, "reference") || cli_get(&eval_cmd, a, "f64");
    ebm_status st = reference ? eval_reference(a, &err) : eval_compiled(a, &err);
    return st ? cli_fail("ebm", &err, CLI_EXIT_ERROR) : CLI_EXIT_OK;
}

/* ---- dispatch ---------------------------------------------------------------------- */

typedef struct ebm_command {
    const char *name;
    const cli_cmd *cmd;
    int (*run)(const cli_args *a);
} ebm_command;

static const ebm_command commands[] = {
    {"info", &info_cmd, run_info},
    {"eval", &eval_cmd, run_eval},
    {"init", &init_cmd, run_init},
    {"sample", &sample_cmd, run_sample},
    {"train", &train_cmd, run_train},
    {"score", &score_cmd, run_score},
};
#define N_COMMANDS ((int)(sizeof commands / sizeof commands[0]))

static void print_top_help(FILE *f)
{
    fprintf(f, "usage: ebm COMMAND [options]\n\nThe ebmc runtime tool. Commands:\n");
    for (int i = 0; i < N_COMMANDS; i++) {
        const char *s = commands[i].cmd->summary;
        const char *nl = strchr(s, '\n');
        fprintf(f, "  %-6s %.*s\n", commands[i].name, nl ? (int)(nl - s) : (int)strlen(s), s);
    }
    fprintf(f, "\noptions:\n  %-28s %s\n  %-28s %s\n\n"
               "Run 'ebm help COMMAND' or 'ebm COMMAND --help' for a command's options.\n",
            "-h, --help", "show this help and exit", "    --version",
            "print the version and exit");
}

static const ebm_command *find_command(const char *name)
{
    for (int i = 0; i < N_COMMANDS; i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

#if defined(__GNUC__)
__attribute__((format(printf, 1, 2)))
#endif
static int usage_error(const char *fmt, ...)
{
    ebm_error err = {.code = EBM_ERR_INVALID};
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err.msg, sizeof err.msg, fmt, ap);
    va_end(ap);
    /* every rank of an mpirun job sees the same command line: rank 0 says it */
    ebm_dist_set_settled(ebm_dist_rank() != 0);
    return ebm_dist_rank() == 0 ? cli_fail("ebm", &err, CLI_EXIT_USAGE) : CLI_EXIT_USAGE;
}

static int run_help(int argc, char **argv)
{
    if (argc == 0) {
        print_top_help(stdout);
        return CLI_EXIT_OK;
    }
    const ebm_command *c = find_command(argv[0]);
    if (!c)
        return usage_error("help: unknown command '%s' (see 'ebm --help')", argv[0]);
    cli_print_help(stdout, c->cmd);
    return CLI_EXIT_OK;
}

static int dispatch(int argc, char **argv)
{
    if (argc < 2)
        return usage_error("missing command (see 'ebm --help')");
    const char *first = argv[1];
    if (strcmp(first, "--help") == 0 || strcmp(first, "-h") == 0)
        return run_help(0, NULL);
    if (strcmp(first, "--version") == 0) {
        printf("ebm %s\n", EBMC_VERSION_STRING);
        return CLI_EXIT_OK;
    }
    if (strcmp(first, "help") == 0)
        return run_help(argc - 2, argv + 2);
    if (first[0] == '-')
        return usage_error("unknown flag '%s' (see 'ebm --help')", first);
    const ebm_command *c = find_command(first);
    if (!c)
        return usage_error("unknown command '%s' (see 'ebm --help')", first);
    ebm_error err = {0};
    cli_args a;
    if (cli_parse(c->cmd, argc - 2, argv + 2, &a, &err))
        return usage_error("%s", err.msg);
    if (a.help) {
        if (ebm_dist_rank() == 0)
            cli_print_help(stdout, c->cmd);
        return CLI_EXIT_OK;
    }
    if (ebm_dist_size() > 1 && c->run != run_train && c->run != run_sample)
        return usage_error("ebm %s runs in one process; only train and sample split over the %d processes of "
                           "mpirun", c->name, ebm_dist_size());
    return c->run(&a);
}

/* $EBM_NUM_THREADS bounds OpenBLAS's threads too: the reference executor
 * (the FID feature network) calls it directly, outside libebm's calls, which
 * set OpenBLAS's threads themselves (runtime/run.c).  Without it OpenBLAS
 * keeps its own default (OPENBLAS_NUM_THREADS, else one per core).  A value
 * that is not a thread count is left to libebm, which refuses it in one line. */
static void bound_blas_threads(void)
{
    const char *v = getenv("EBM_NUM_THREADS");
    char *end = "";
    long t = v && *v ? strtol(v, &end, 10) : 0;
    if (t >= 1 && t <= 1024 && !*end && openblas_get_num_threads() > t)
        openblas_set_num_threads((int)t);
}

/* The reference executor (the FID feature network of `ebm train` and `ebm
 * score`) allocates every value of every call and frees it after: with
 * glibc's defaults the large blocks go back to the kernel at each free and
 * return as fresh zeroed pages at the next call, a third of a FID
 * measurement's time in page faults.  ebm keeps them: blocks up to 32 MB come
 * from the heap, and up to 1 GB of free heap top stays mapped. */
static void keep_freed_memory(void)
{
#ifdef __GLIBC__
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
#endif
}

/* Under mpirun (tools/ebm_dist.h): a failure that only this rank saw ends
 * every rank (its message is the last line it printed); one every rank knows
 * of ends them all with the exit code. */
int main(int argc, char **argv)
{
    ebm_error err = {0};
    if (ebm_dist_init(&argc, &argv, &err))
        return cli_finish("ebm", cli_fail("ebm", &err, CLI_EXIT_ERROR));
    bound_blas_threads();
    keep_freed_memory();
    int code;
    if (!ebm_dist_same_args(argc, argv)) {
        ebm_dist_set_settled(ebm_dist_rank() != 0);
        err.code = EBM_ERR_INVALID;
        snprintf(err.msg, sizeof err.msg, "the %d processes of this mpirun job were started with different "
                 "arguments: every rank must run the same command", ebm_dist_size());
        code = ebm_dist_rank() == 0 ? cli_fail("ebm", &err, CLI_EXIT_USAGE) : CLI_EXIT_USAGE;
    } else {
        code = dispatch(argc, argv);
    }
    if (code != CLI_EXIT_OK && ebm_dist_size() > 1 && !ebm_dist_settled()) {
        fprintf(stderr, "ebm: rank %d of %d failed: ending all %d processes\n", ebm_dist_rank(), ebm_dist_size(),
                ebm_dist_size());
        ebm_dist_abort(code);
    }
    ebm_dist_finalize();
    return cli_finish("ebm", code);
}
