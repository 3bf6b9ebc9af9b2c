/* ebm — the runtime command line.
 *
 *   ebm info MODEL
 *   ebm eval MODEL --input x.npy --energy e.npy [--energy-head H] [--f64]
 *
 * `eval` runs the reference executor on the front end's IR; once code
 * generation exists it will run the compiled model instead.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autodiff.h"
#include "cli_common.h"
#include "exec.h"
#include "npy.h"

/* ---- ebm info --------------------------------------------------------------------- */

static const cli_opt info_opts[] = {{0}};

static const cli_cmd info_cmd = {
    .prog = "ebm info",
    .usage = "MODEL",
    .summary = "Describes a model: producer, opsets, inputs and outputs (N = batch size),\n"
               "ONNX and core-IR node counts, parameters and ebm.* metadata.",
    .opts = info_opts,
    .min_positional = 1,
    .max_positional = 1,
    .positional_names = "MODEL",
};

/* Prints a metadata value on one line: control characters would break the layout. */
static void print_meta(const ir_meta *m)
{
    printf("  %s = ", m->key);
    for (const char *p = m->value; p && *p; p++)
        putchar((unsigned char)*p < 0x20 ? ' ' : *p);
    putchar('\n');
}

static void info_values(const char *label, const ir_graph *g, const int *ids, int n,
                        char *const *names)
{
    char sbuf[128];
    for (int i = 0; i < n; i++) {
        const ir_node *node = &g->nodes[ids[i]];
        const char *name = names ? names[i] : node->name;
        printf("%-12s %s %s\n", i == 0 ? label : "", name ? name : "?",
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
        printf("  %-32s %s%s\n", node->name ? node->name : "?",
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

static int run_info(const cli_args *a)
{
    ebm_error err = {0};
    ir_graph *g = NULL;
    if (cli_load_model(a->positional[0], &g, &err))
        return cli_fail("ebm", &err, CLI_EXIT_ERROR);
    printf("%-12s %s\n", "file", a->positional[0]);
    printf("%-12s %s\n", "producer", g->producer ? g->producer : "(unknown)");
    printf("%-12s %lld\n", "onnx ir", (long long)g->onnx_ir_version);
    printf("%-12s", "opsets");
    for (int i = 0; i < g->n_opsets; i++)
        printf(" %s %lld", g->opsets[i].domain && g->opsets[i].domain[0] ? g->opsets[i].domain
                                                                         : "ai.onnx",
               (long long)g->opsets[i].version);
    putchar('\n');
    info_values("inputs", g, g->inputs, g->n_inputs, NULL);
    info_values("outputs", g, g->outputs, g->n_outputs, g->output_names);
    printf("%-12s %d\n", "onnx nodes", g->onnx_nodes);
    info_core_ops(g);
    info_params(g);
    info_meta(g);
    ir_graph_free(g);
    return fflush(stdout) == 0 ? CLI_EXIT_OK : CLI_EXIT_ERROR;
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
    {.name = "f64", .help = "compute in float64 and write float64 arrays (accepts float64 input)"},
    {0},
};

static const cli_cmd eval_cmd = {
    .prog = "ebm eval",
    .usage = "MODEL --input FILE [--energy FILE] [--score FILE] [--grad FILE] [--print]\n"
             "                [--energy-head HEAD] [--f64]",
    .summary = "Computes the energy E(x) of every sample in --input, and on request the\n"
               "score -dE/dx or the gradient dE/dx (differentiated symbolically), with the\n"
               "reference executor.",
    .opts = eval_opts,
    .min_positional = 1,
    .max_positional = 1,
    .positional_names = "MODEL",
};

/* The one input of g, checked against the array read from path; *n gets N. */
static ebm_status eval_check_input(const ir_graph *g, const char *model, const char *path,
                                   const ebm_array *x, int f64, int64_t *n, ebm_error *err)
{
    if (g->n_inputs != 1)
        return ebm_fail(err, EBM_ERR_UNSUPPORTED, "%s: ebm eval needs a model with one input, "
                        "this one has %d", model, g->n_inputs);
    if (x->dtype == EBM_NPY_I64 || (x->dtype == EBM_NPY_F64 && !f64))
        return ebm_fail(err, EBM_ERR_INVALID, "%s: %s array, expected float32 ('<f4')%s", path,
                        x->dtype == EBM_NPY_I64 ? "integer" : "float64",
                        x->dtype == EBM_NPY_F64 ? " (or pass --f64)" : "");
    const ir_node *in = &g->nodes[g->inputs[0]];
    int match = x->rank == in->shape.rank && x->rank >= 1 && in->shape.d[0] == IR_DIM_N;
    for (int i = 1; match && i < x->rank; i++)
        match = in->shape.d[i] == x->shape[i];
    if (!match) {
        char want[128], got[128];
        ir_shape_str(&in->shape, want, sizeof want);
        if (x->rank <= IR_MAX_RANK) {
            ir_shape xs = {.rank = x->rank};
            memcpy(xs.d, x->shape, sizeof xs.d[0] * (size_t)x->rank);
            ir_shape_str(&xs, got, sizeof got);
        } else {
            snprintf(got, sizeof got, "of rank %d", x->rank);
        }
        return ebm_fail(err, EBM_ERR_SHAPE, "%s: shape %s, expected %s (input '%s' of %s)", path,
                        got, want, in->name ? in->name : "?", model);
    }
    *n = x->shape[0];
    return EBM_OK;
}

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

/* What one eval computes: the energies and, with a score program, the score. */
typedef struct eval_out {
    void *energy;    /* n values */
    void *score;     /* numel values, NULL without a score program */
} eval_out;

/* Runs g (the energy graph, or the score program) on x (already checked). */
static ebm_status eval_run(const ir_graph *g, const ebm_array *x, int64_t n, int f64, eval_out *o,
                           ebm_error *err)
{
    int want_score = g->n_outputs == 2;
    if (g->n_outputs < 1 || ir_shape_numel(&g->nodes[g->outputs[0]].shape, n) != n)
        return ebm_fail(err, EBM_ERR_INTERNAL, "%s: the energy head did not leave one output "
                        "of shape [N]", g->source ? g->source : "model");
    int64_t numel = ebm_array_numel(x);
    size_t esize = f64 ? sizeof(double) : sizeof(float);
    const void *in = x->data;
    double *widened = NULL;
    if (f64 && x->dtype == EBM_NPY_F32) {
        /* +1: malloc(0) may return NULL, which is not an allocation failure. */
        widened = malloc((size_t)(numel + 1) * sizeof *widened);
        if (!widened)
            return ebm_fail(err, EBM_ERR_NOMEM, "out of memory for %lld input values",
                            (long long)numel);
        for (int64_t i = 0; i < numel; i++)
            widened[i] = ((const float *)x->data)[i];
        in = widened;
    }
    o->energy = malloc((size_t)(n + 1) * esize);
    o->score = want_score ? malloc((size_t)(numel + 1) * esize) : NULL;
    ebm_status st = o->energy && (o->score || !want_score)
                        ? EBM_OK
                        : ebm_fail(err, EBM_ERR_NOMEM, "out of memory for %lld samples", (long long)n);
    const void *inputs[1] = {in};
    void *outputs[2] = {o->energy, o->score};
    if (!st)
        st = ebmc_exec(g, n, f64 ? EBMC_F64 : EBMC_F32, inputs, outputs, err);
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

/* Writes the score, or its negation (the gradient), with the input's shape. */
static ebm_status write_score(const char *path, const ebm_array *x, const void *score, int f64, int negate,
                              ebm_error *err)
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
    ebm_status st = ebm_npy_write(path, f64 ? EBM_NPY_F64 : EBM_NPY_F32, x->rank, x->shape, buf, err);
    free(buf);
    return st;
}

static ebm_status eval_model(const cli_args *a, ebm_error *err)
{
    const char *model = a->positional[0];
    const char *in_path = cli_get(&eval_cmd, a, "input");
    const char *e_path = cli_get(&eval_cmd, a, "energy");
    const char *s_path = cli_get(&eval_cmd, a, "score");
    const char *g_path = cli_get(&eval_cmd, a, "grad");
    int f64 = cli_get(&eval_cmd, a, "f64") != NULL, print = cli_get(&eval_cmd, a, "print") != NULL;
    cli_pipeline p = {.fold = 1};
    ir_graph *g = NULL, *prog = NULL;
    ebm_array x = {0};
    eval_out o = {0};
    int64_t n = 0;
    ebm_status st = cli_load_model(model, &g, err);
    if (!st)
        st = cli_resolve_head(g, cli_get(&eval_cmd, a, "energy-head"), &p.head, err);
    if (!st)
        st = cli_run_pipeline(g, &p, err);
    if (!st && (s_path || g_path) && (st = ebmc_build_program(g, EBMC_PROGRAM_SCORE, &prog, err)))
        ebm_error_prefix(err, "%s", model);
    if (!st)
        st = ebm_npy_read(in_path, &x, err);
    if (!st)
        st = eval_check_input(g, model, in_path, &x, f64, &n, err);
    if (!st)
        st = eval_run(prog ? prog : g, &x, n, f64, &o, err);
    if (!st)
        st = check_finite(model, "energy", o.energy, f64, n, err);
    if (!st && o.score)
        st = check_finite(model, "score", o.score, f64, ebm_array_numel(&x), err);
    if (!st && e_path)
        st = ebm_npy_write(e_path, f64 ? EBM_NPY_F64 : EBM_NPY_F32, 1, &n, o.energy, err);
    if (!st && s_path)
        st = write_score(s_path, &x, o.score, f64, 0, err);
    if (!st && g_path)
        st = write_score(g_path, &x, o.score, f64, 1, err);
    for (int64_t i = 0; !st && print && i < n; i++)
        printf("%.9g\n", f64 ? ((double *)o.energy)[i] : ((float *)o.energy)[i]);
    value_stats s = st ? (value_stats){0} : stats_of(o.energy, f64, n);
    if (!st && n > 0)
        fprintf(stderr, "ebm eval: N=%lld energy mean %.6g min %.6g max %.6g%s%s%s%s%s%s\n", (long long)n,
                s.mean, s.min, s.max, e_path ? " -> " : "", e_path ? e_path : "", s_path ? ", score -> " : "",
                s_path ? s_path : "", g_path ? ", grad -> " : "", g_path ? g_path : "");
    else if (!st)
        fprintf(stderr, "ebm eval: N=0, nothing to compute%s\n", e_path || s_path || g_path ? "; wrote empty arrays" : "");
    free(o.energy);
    free(o.score);
    ebm_array_free(&x);
    ir_graph_free(prog);
    ir_graph_free(g);
    return st;
}

static int run_eval(const cli_args *a)
{
    ebm_error err = {0};
    if (!cli_get(&eval_cmd, a, "input")) {
        ebm_fail(&err, EBM_ERR_INVALID, "eval: missing required flag --input FILE (see 'ebm eval --help')");
        return cli_fail("ebm", &err, CLI_EXIT_USAGE);
    }
    if (!cli_get(&eval_cmd, a, "energy") && !cli_get(&eval_cmd, a, "score") && !cli_get(&eval_cmd, a, "grad") &&
        !cli_get(&eval_cmd, a, "print")) {
        ebm_fail(&err, EBM_ERR_INVALID, "eval: nothing to do: give --energy FILE, --score FILE, --grad FILE "
                 "or --print (see 'ebm eval --help')");
        return cli_fail("ebm", &err, CLI_EXIT_USAGE);
    }
    const char *head = cli_get(&eval_cmd, a, "energy-head");
    ebm_head h;
    if (head && cli_head_from_flag(head, &h, &err))
        return cli_fail("ebm", &err, CLI_EXIT_USAGE);
    return eval_model(a, &err) ? cli_fail("ebm", &err, CLI_EXIT_ERROR) : CLI_EXIT_OK;
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
    return cli_fail("ebm", &err, CLI_EXIT_USAGE);
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

int main(int argc, char **argv)
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
        return cli_fail("ebm", &err, CLI_EXIT_USAGE);
    if (a.help) {
        cli_print_help(stdout, c->cmd);
        return CLI_EXIT_OK;
    }
    return c->run(&a);
}
