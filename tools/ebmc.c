/* ebmc — the compiler command line.
 *
 *   ebmc MODEL -o model.so [-O0..-O3] [--target native|x86-64-v3|x86-64-v4|generic] [--cc CC]
 *        [-j N] [--keep-temps] [--tile N] [--energy-head H] [--dsm] [--verbose]
 *   ebmc MODEL --emit=c|ir|dot [--program=PROGRAM] [-o FILE]
 *
 * Runs the front end (import, energy head, constant folding, DCE, verify),
 * then either compiles the model to a shared library (compiler/codegen.h) or
 * prints the generated C, or the core IR of a program as text or Graphviz.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autodiff.h"
#include "progress.h"
#include "cli_common.h"
#include "codegen.h"

static const cli_opt ebmc_opts[] = {
    {.name = "output", .short_name = 'o', .metavar = "FILE",
     .help = "the shared library to write (model.so); with --emit, the file to print to instead of stdout"},
    {.name = "emit", .metavar = "c|ir|dot",
     .help = "print the generated C, or the core IR as text (ir) or Graphviz (dot), instead of compiling"},
    {.name = "program", .metavar = "PROGRAM",
     .help = "with --emit=ir|dot: energy (default), score (E and -dE/dx), param_grad (sum_i w_i dE_i/dtheta) "
             "hvp (Hessian-vector product d/dx(dE/dx . v)) or dsm_grad (denoising score matching: "
             "loss 1/2 ||-dE/dx - target||^2 and its parameter gradient): the differentiated graph to print"},
    {.name = "energy-head", .metavar = "HEAD",
     .help = "output|sum|neg-logsumexp|logsumexp (default: the model's ebm.energy_head "
             "metadata, else output)"},
    {.name = "opt-level", .short_name = 'O', .metavar = "N",
     .help = "optimisation level 0..3 of the C compiler (-O0 .. -O3; default 3)"},
    {.name = "target", .metavar = "TARGET",
     .help = "the CPUs the model runs on: native (default: this machine's CPU and any with its features), "
             "x86-64-v4 (AVX-512), x86-64-v3 (AVX2, FMA), generic (any x86-64); the model records the CPU "
             "features its code may use and libebm refuses to load it on a CPU without them"},
    {.name = "target-cpu", .metavar = "CPU",
     .help = "like --target, with any -march value of the C compiler (e.g. skylake)"},
    {.name = "cc", .metavar = "CC", .help = "the C compiler to run (default: $CC, else cc)"},
    {.name = "jobs", .short_name = 'j', .metavar = "N",
     .help = "C compiler processes at once: the model's kernels come in up to 4 translation units, compiled side "
             "by side (default: $EBMC_JOBS, else the number of CPUs); the library is the same for any N"},
    {.name = "keep-temps", .help = "keep the generated C, assembler and weights files; their folder is printed"},
    {.name = "tile", .metavar = "N",
     .help = "samples per call of a compiled program (default: 64, halved while an arena would exceed 256 MiB, "
             "then down to 16 while half a tile's activations take more than 2 MiB)"},
    {.name = "dsm",
     .help = "also compile the denoising-score-matching program (loss and parameter gradient of "
             "1/2 ||score - target||^2, for ebm_dsm_grad); a second-order graph, so off by default"},
    {.name = "verbose", .short_name = 'v',
     .help = "print the memory plan, the compiler command and timings on stderr"},
    {.name = "no-fold", .help = "skip constant folding"},
    {.name = "verify", .help = "verify the IR after every pass (it is always verified at the end)"},
    {.name = "version", .help = "print the version and exit", .informational = 1},
    {0},
};

static const cli_cmd ebmc_cmd = {
    .prog = "ebmc",
    .usage = "MODEL -o model.so [-O0..-O3] [--target TARGET] [--cc CC] [-j N] [--keep-temps] [--tile N]\n"
             "            [--energy-head HEAD] [--dsm] [--verbose] [--no-fold] [--verify]\n"
             "       ebmc MODEL --emit=c|ir|dot [--program=PROGRAM] [-o FILE]",
    .summary = "Compiles an energy-based model (ONNX, recognised by content) to a shared library with\n"
               "energy, score, parameter-gradient and Langevin programs, or prints its C or core IR.",
    .opts = ebmc_opts,
    .min_positional = 1,
    .max_positional = 1,
    .positional_names = "MODEL",
};

typedef enum { EMIT_NONE, EMIT_IR, EMIT_DOT, EMIT_C } emit_kind;

/* Writes text (or the IR dump) to path, or stdout when path is NULL.  A dump
 * is derived output (not a model or checkpoint), so a plain write is enough;
 * on failure the partial file is removed rather than left looking complete. */
static ebm_status write_dump(const char *path, const ir_graph *g, emit_kind kind, const char *text,
                             ebm_error *err)
{
    FILE *f = path ? fopen(path, "w") : stdout;
    if (!f)
        return ebm_fail(err, EBM_ERR_IO, "%s: cannot open for writing: %s", path, strerror(errno));
    if (kind == EMIT_C)
        fputs(text, f);
    else if (kind == EMIT_DOT)
        ir_print_dot(f, g);
    else
        ir_print_text(f, g);
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
    return ebm_fail(err, EBM_ERR_IO, "%s: write failed: %s", path ? path : "<stdout>", strerror(saved));
}

static int parse_emit(const char *value, emit_kind *out)
{
    static const char *const names[] = {"ir", "dot", "c"};
    static const emit_kind kinds[] = {EMIT_IR, EMIT_DOT, EMIT_C};
    *out = EMIT_NONE;
    if (!value)
        return 0;
    for (int i = 0; i < 3; i++)
        if (strcmp(value, names[i]) == 0) {
            *out = kinds[i];
            return 0;
        }
    return -1;
}

/* A whole number in [lo, hi] from a flag's value. */
static ebm_status parse_int_flag(const char *flag, const char *value, long long lo, long long hi, long long *out,
                                 ebm_error *err)
{
    char *end = NULL;
    errno = 0;
    long long v = strtoll(value, &end, 10);
    if (errno || end == value || *end || v < lo || v > hi)
        return ebm_fail(err, EBM_ERR_INVALID, "%s: '%s' is not a whole number in %lld..%lld", flag, value, lo, hi);
    *out = v;
    return EBM_OK;
}

typedef struct ebmc_run {
    emit_kind kind;
    ebmc_program program;
    int program_given;
    ebmc_compile_options co;
    const char *out_path;
    char hash[64];
} ebmc_run;

/* Everything the flags say, checked before the model is read. */
static ebm_status read_flags(const cli_args *a, ebmc_run *r, ebmc_front_end *p, ebm_error *err)
{
    const char *v;
    memset(r, 0, sizeof *r);
    r->out_path = cli_get(&ebmc_cmd, a, "output");
    if (parse_emit(cli_get(&ebmc_cmd, a, "emit"), &r->kind))
        return ebm_fail(err, EBM_ERR_INVALID, "--emit: unknown value '%s' (expected c, ir or dot)",
                        cli_get(&ebmc_cmd, a, "emit"));
    r->program = EBMC_PROGRAM_ENERGY;
    if ((v = cli_get(&ebmc_cmd, a, "program")) != NULL) {
        if (ebmc_program_parse(v, &r->program))
            return ebm_fail(err, EBM_ERR_INVALID,
                            "--program: unknown value '%s' (expected energy, score, param_grad, hvp or dsm_grad)",
                            v);
        if (r->kind != EMIT_IR && r->kind != EMIT_DOT)
            return ebm_fail(err, EBM_ERR_INVALID, "--program applies to --emit=ir|dot only (a compiled model "
                            "holds every program; dsm_grad with --dsm)");
    }
    long long num;
    r->co.opt_level = 3;
    if ((v = cli_get(&ebmc_cmd, a, "opt-level")) != NULL) {
        if (parse_int_flag("-O", v, 0, 3, &num, err))
            return EBM_ERR_INVALID;
        r->co.opt_level = (int)num;
    }
    if ((v = cli_get(&ebmc_cmd, a, "jobs")) != NULL) {
        if (parse_int_flag("--jobs", v, 1, 1023, &num, err))
            return EBM_ERR_INVALID;
        r->co.jobs = (int)num;
    }
    if ((v = cli_get(&ebmc_cmd, a, "tile")) != NULL) {
        if (parse_int_flag("--tile", v, 1, 1 << 20, &num, err))
            return EBM_ERR_INVALID;
        r->co.tile = num;
    }
    const char *target = cli_get(&ebmc_cmd, a, "target"), *target_cpu = cli_get(&ebmc_cmd, a, "target-cpu");
    if (target && target_cpu)
        return ebm_fail(err, EBM_ERR_INVALID, "--target and --target-cpu both given: name the target once");
    if (target && strcmp(target, "native") != 0 && strcmp(target, "generic") != 0 &&
        strcmp(target, "x86-64-v3") != 0 && strcmp(target, "x86-64-v4") != 0)
        return ebm_fail(err, EBM_ERR_INVALID, "--target: unknown value '%s' (expected native, x86-64-v4, x86-64-v3 or "
                        "generic; --target-cpu takes any -march value)", target);
    r->co.target_cpu = target ? target : target_cpu;
    r->co.cc = cli_get(&ebmc_cmd, a, "cc");
    r->co.keep_temps = cli_get(&ebmc_cmd, a, "keep-temps") != NULL;
    r->co.verbose = cli_get(&ebmc_cmd, a, "verbose") != NULL;
    r->co.dsm = cli_get(&ebmc_cmd, a, "dsm") != NULL;
    const char *head_flag = cli_get(&ebmc_cmd, a, "energy-head");
    p->fold = !cli_get(&ebmc_cmd, a, "no-fold");
    p->verify_each = cli_get(&ebmc_cmd, a, "verify") != NULL;
    if (head_flag && cli_head_from_flag(head_flag, &p->head, err))
        return EBM_ERR_INVALID;
    if (r->kind == EMIT_NONE && !r->out_path)
        return ebm_fail(err, EBM_ERR_INVALID, "nothing to do: give -o model.so to compile, or --emit=c|ir|dot");
    return EBM_OK;
}

/* --emit=ir|dot: the energy graph or a program built from it. */
static ebm_status emit_ir(const char *model, ir_graph *g, const ebmc_run *r, ebm_error *err)
{
    ir_graph *prog = NULL;
    if (r->program != EBMC_PROGRAM_ENERGY) {
        ebm_status st = ebmc_build_program(g, r->program, &prog, err);
        if (st) {
            ebm_error_prefix(err, "%s", model);
            return st;
        }
        fprintf(stderr, "ebmc: %s program: %d core nodes (the energy graph has %d)\n",
                ebmc_program_name(r->program), prog->n_nodes, g->n_nodes);
    }
    ebm_status st = write_dump(r->out_path, prog ? prog : g, r->kind, NULL, err);
    ir_graph_free(prog);
    return st;
}

static ebm_status compile(const char *model, ir_graph *g, ebmc_run *r, ebm_error *err)
{
    ebm_status st = cli_hash_file(model, r->hash, sizeof r->hash, err);
    if (st)
        return st;
    r->co.source_hash = r->hash;
    if (r->kind == EMIT_C) {
        char *text = NULL;
        st = ebmc_emit_c(g, &r->co, &text, err);
        if (!st)
            st = write_dump(r->out_path, g, EMIT_C, text, err);
        free(text);
    } else {
        cli_compile_line line;
        cli_compile_begin(&line, "ebmc", model);
        r->co.on_wait = cli_compile_wait;
        r->co.on_wait_ctx = &line;
        st = ebmc_compile_model(g, &r->co, r->out_path, err);
        cli_compile_end(&line, st == EBM_OK, NULL);
    }
    if (st && !strstr(err->msg, model))
        ebm_error_prefix(err, "%s", model);
    return st;
}

int main(int argc, char **argv)
{
    ebm_error err = {0};
    cli_args a;
    if (cli_parse(&ebmc_cmd, argc - 1, argv + 1, &a, &err))
        return cli_fail("ebmc", &err, CLI_EXIT_USAGE);
    if (a.help) {
        cli_print_help(stdout, &ebmc_cmd);
        return cli_finish("ebmc", CLI_EXIT_OK);
    }
    if (cli_get(&ebmc_cmd, &a, "version")) {
        printf("ebmc %s\n", EBMC_VERSION_STRING);
        return cli_finish("ebmc", CLI_EXIT_OK);
    }
    ebmc_run r;
    ebmc_front_end p = {0};
    if (read_flags(&a, &r, &p, &err))
        return cli_fail("ebmc", &err, CLI_EXIT_USAGE);

    const char *model = a.positional[0];
    const char *head_flag = cli_get(&ebmc_cmd, &a, "energy-head");
    ir_graph *g = NULL;
    ebm_status st = cli_load_model(model, &g, &err);
    if (!st)
        st = cli_resolve_head(g, head_flag, &p.head, &err);
    if (!st)
        st = ebmc_front_end_run(g, &p, &err);
    r.co.energy_head = ebm_head_name(p.head);
    if (!st && (r.kind == EMIT_IR || r.kind == EMIT_DOT))
        st = emit_ir(model, g, &r, &err);
    else if (!st)
        st = compile(model, g, &r, &err);
    ir_graph_free(g);
    return cli_finish("ebmc", st ? cli_fail("ebmc", &err, CLI_EXIT_ERROR) : CLI_EXIT_OK);
}
