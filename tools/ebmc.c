/* ebmc — the compiler command line.
 *
 *   ebmc MODEL [--emit=ir|dot] [--program=energy|score|param_grad|hvp] [--energy-head H]
 *        [-o FILE] [--no-fold] [--verify]
 *
 * Runs the front end (import, energy head, constant folding, DCE, verify) and
 * prints the resulting core IR.  Code generation (`-o model.so`) is not there
 * yet; ebmc says so and exits 2 instead of writing something that is not a
 * model.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "autodiff.h"
#include "cli_common.h"

static const cli_opt ebmc_opts[] = {
    {.name = "emit", .metavar = "ir|dot",
     .help = "print the compiled core IR as text (ir) or Graphviz (dot)"},
    {.name = "program", .metavar = "PROGRAM",
     .help = "energy (default), score (E and -dE/dx), param_grad (sum_i w_i dE_i/dtheta) or hvp "
             "(Hessian-vector product d/dx(dE/dx . v)): the differentiated graph to print"},
    {.name = "energy-head", .metavar = "HEAD",
     .help = "output|sum|neg-logsumexp|logsumexp (default: the model's ebm.energy_head "
             "metadata, else output)"},
    {.name = "output", .short_name = 'o', .metavar = "FILE",
     .help = "write to FILE instead of stdout"},
    {.name = "no-fold", .help = "skip constant folding"},
    {.name = "verify", .help = "verify the IR after every pass (it is always verified at the end)"},
    {.name = "version", .help = "print the version and exit", .informational = 1},
    {0},
};

static const cli_cmd ebmc_cmd = {
    .prog = "ebmc",
    .usage = "MODEL [--emit=ir|dot] [--program=PROGRAM] [--energy-head HEAD] [-o FILE] [--no-fold]\n"
             "            [--verify]",
    .summary = "Compiles an energy-based model (ONNX, recognised by content) to core IR.\n"
               "Code generation to a shared library (-o model.so) is not implemented yet.",
    .opts = ebmc_opts,
    .min_positional = 1,
    .max_positional = 1,
    .positional_names = "MODEL",
};

typedef enum { EMIT_NONE, EMIT_IR, EMIT_DOT } emit_kind;

static void emit(FILE *f, const ir_graph *g, emit_kind kind)
{
    if (kind == EMIT_DOT)
        ir_print_dot(f, g);
    else
        ir_print_text(f, g);
}

/* Writes the dump to path, or stdout when path is NULL.  A dump is derived
 * output (not a model or checkpoint), so a plain write is enough; on failure
 * the partial file is removed rather than left looking complete. */
static ebm_status write_dump(const char *path, const ir_graph *g, emit_kind kind, ebm_error *err)
{
    FILE *f = path ? fopen(path, "w") : stdout;
    if (!f)
        return ebm_fail(err, EBM_ERR_IO, "%s: cannot open for writing: %s", path, strerror(errno));
    emit(f, g, kind);
    int failed = ferror(f) != 0;
    int saved = errno;
    if (path) {
        if (fclose(f) != 0 && !failed) {
            failed = 1;
            saved = errno;
        }
    } else if (fflush(f) != 0) {
        failed = 1;
        saved = errno;
    }
    if (!failed)
        return EBM_OK;
    if (path)
        remove(path);
    return ebm_fail(err, EBM_ERR_IO, "%s: write failed: %s", path ? path : "<stdout>",
                    strerror(saved));
}

static int parse_emit(const char *value, emit_kind *out)
{
    if (!value)
        *out = EMIT_NONE;
    else if (strcmp(value, "ir") == 0)
        *out = EMIT_IR;
    else if (strcmp(value, "dot") == 0)
        *out = EMIT_DOT;
    else
        return -1;
    return 0;
}

int main(int argc, char **argv)
{
    ebm_error err = {0};
    cli_args a;
    if (cli_parse(&ebmc_cmd, argc - 1, argv + 1, &a, &err))
        return cli_fail("ebmc", &err, CLI_EXIT_USAGE);
    if (a.help) {
        cli_print_help(stdout, &ebmc_cmd);
        return CLI_EXIT_OK;
    }
    if (cli_get(&ebmc_cmd, &a, "version")) {
        printf("ebmc %s\n", EBMC_VERSION_STRING);
        return CLI_EXIT_OK;
    }
    emit_kind kind;
    if (parse_emit(cli_get(&ebmc_cmd, &a, "emit"), &kind)) {
        ebm_fail(&err, EBM_ERR_INVALID, "--emit: unknown value '%s' (expected ir or dot)",
                 cli_get(&ebmc_cmd, &a, "emit"));
        return cli_fail("ebmc", &err, CLI_EXIT_USAGE);
    }
    ebmc_program program = EBMC_PROGRAM_ENERGY;
    const char *prog_flag = cli_get(&ebmc_cmd, &a, "program");
    if (prog_flag && ebmc_program_parse(prog_flag, &program)) {
        ebm_fail(&err, EBM_ERR_INVALID, "--program: unknown value '%s' (expected energy, score, param_grad or hvp)",
                 prog_flag);
        return cli_fail("ebmc", &err, CLI_EXIT_USAGE);
    }
    const char *head_flag = cli_get(&ebmc_cmd, &a, "energy-head");
    cli_pipeline p = {.fold = !cli_get(&ebmc_cmd, &a, "no-fold"),
                      .verify_each = cli_get(&ebmc_cmd, &a, "verify") != NULL};
    if (head_flag && cli_head_from_flag(head_flag, &p.head, &err))
        return cli_fail("ebmc", &err, CLI_EXIT_USAGE);

    const char *model = a.positional[0];
    const char *out_path = cli_get(&ebmc_cmd, &a, "output");
    ir_graph *g = NULL;
    ebm_status st = cli_load_model(model, &g, &err);
    if (!st)
        st = cli_resolve_head(g, head_flag, &p.head, &err);
    if (!st)
        st = cli_run_pipeline(g, &p, &err);
    if (!st && program != EBMC_PROGRAM_ENERGY) {
        ir_graph *prog = NULL;
        st = ebmc_build_program(g, program, &prog, &err);
        if (st)
            ebm_error_prefix(&err, "%s", model);
        else
            fprintf(stderr, "ebmc: %s program: %d core nodes (the energy graph has %d)\n",
                    ebmc_program_name(program), prog->n_nodes, g->n_nodes);
        ir_graph_free(g);
        g = prog;
    }
    if (!st && kind == EMIT_NONE) {
        ir_graph_free(g);
        fprintf(stderr, "ebmc: %s: code generation is not implemented yet, so no shared library "
                "was written%s%s; use --emit=ir or --emit=dot to see the compiled IR\n", model,
                out_path ? " to " : "", out_path ? out_path : "");
        return CLI_EXIT_USAGE;
    }
    if (!st)
        st = write_dump(out_path, g, kind, &err);
    ir_graph_free(g);
    return st ? cli_fail("ebmc", &err, CLI_EXIT_ERROR) : CLI_EXIT_OK;
}
