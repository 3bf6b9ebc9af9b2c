/* codegen_c.c — the compiled model as one C file (see codegen.h), written
 * from a model built and planned by model.c.
 *
 * The file holds, per program graph (energy, score, param_grad, and dsm_grad
 * when ebmc_compile_options.dsm asks for it): its small
 * constants, one kernel per node (codegen_c_kernels.c), a prologue running
 * the weight-only kernels and a body running the rest, in schedule order, on
 * the arena offsets of the plan.  Then the ABI entry points (four; five with dsm)
 * (runtime/ebm_abi.h) built from them:
 *
 *   ENERGY      energy prologue + body, energies out.
 *   SCORE       score prologue + body, energies and scores out.
 *   PARAM_GRAD  param_grad prologue + body; each "grad:<name>" output is added
 *               into call->param_grad at that parameter's offset.
 *   DSM_GRAD    (optional) dsm_grad prologue + body with call->target bound to
 *               the program's second input (the SW slot); losses out through
 *               call->energy, "grad:<name>" outputs accumulated as PARAM_GRAD's.
 *   LANGEVIN    score prologue once, then K times: score body, and per element
 *                 x <- clamp(x - a*clip((-score)/T, +-c) + s*eps, lo, hi)
 *               with eps from ebm_philox_normal4(seed, sample_offset + i,
 *               step_offset + t, element / 4) — exactly ebm_philox_normals'
 *               stream — then one energy prologue + body at the final state,
 *               so call->energy holds the energies of the x returned.
 *               A step that yields a non-finite energy, gradient or state
 *               stops the program: it returns the number of such samples,
 *               with call->energy holding that step's energies.  The update
 *               is the epilogue of the score body's last loop (the one that
 *               computes the score, which is then never stored:
 *               score_langevin_body) unless ebmc_langevin_kernel finds no
 *               such loop; then it is a loop of its own (ebm_langevin_step).
 *
 * Parameters are not in the arena: they live in call->weights (the runtime's
 * copy of the blob's first weights_numel floats), each at a 64-byte aligned
 * offset recorded in the parameter table.  Large non-parameter constants
 * follow them in the blob (read from the .so's own copy); small ones are
 * static arrays in the C.  The blob is never a C literal: cc.c writes it as a
 * file pulled in by an assembler .incbin.
 *
 * The kernels come out once each, dealt over up to four translation units
 * (codegen_c_units.c); unit 0 holds the rest (constants, prologues, bodies,
 * entry points, descriptor).  The file compiles whole as one unit too
 * (EBM_UNIT undefined, everything static): cc.c compiles the units side by
 * side and links them, and the two give the same code, bit for bit in what
 * it computes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cc.h"
#include "clock.h"
#include "codegen_c.h"
#include "ebm_abi.h"
#include "model.h"

_Static_assert(EBMC_ALIGN == EBM_ABI_ALIGN, "arena alignment must be the ABI's");
_Static_assert(IR_MAX_RANK <= EBM_ABI_MAX_RANK, "IR shapes must fit the ABI's shape arrays");

/* ---- the programs ------------------------------------------------------------------------------ */

static void emit_constants(ebmc_buf *b, const ebmc_cg_program *p)
{
    for (int i = 0; i < p->g->n_nodes; i++) {
        const ir_node *nd = &p->g->nodes[i];
        if (p->v[i].store != EBMC_STORE_CONST || p->v[i].offset >= 0)
            continue;
        int64_t numel = ir_shape_numel(&nd->shape, 0);
        char lit[48], sb[64];
        ebmc_buf_printf(b, "static const float %s_c%d[%lld] = {", p->prefix, i, (long long)(numel ? numel : 1));
        for (int64_t k = 0; k < numel; k++)
            ebmc_buf_printf(b, "%s%s", k ? ", " : "", ebmc_float_literal(nd->data[k], lit, sizeof lit));
        ebmc_buf_printf(b, "};   /* %%%d %s */\n", i, ir_shape_str(&nd->shape, sb, sizeof sb));
    }
}

static const char body_params[] =
    "(int64_t n, char *A, const float *W, const float *X, const float *SW)";

/* The prologue (weight-only kernels) or the body (the rest), in schedule order. */
static void emit_phase(ebmc_buf *b, const ebmc_cg_program *p, int prologue)
{
    ebmc_buf_printf(b, "static void %s_%s%s\n{\n    (void)n, (void)A, (void)W, (void)X, (void)SW;\n", p->prefix,
                    prologue ? "prologue" : "body", body_params);
    for (int i = 0; i < p->g->n_nodes; i++)
        if (p->v[i].kernel == i && (p->info.invariant[i] != 0) == (prologue != 0))
            ebmc_emit_kernel_call(b, p, i);
    for (int i = 0; i < p->g->n_nodes && prologue; i++)
        if (p->v[i].pro_buffer >= 0)
            ebmc_emit_kernel_prologue(b, p, i);
    ebmc_buf_puts(b, "}\n\n");
}

/* A program's part of unit 0: its constants, prologue and body (its kernels
 * are ebmc_units'). */
static void emit_program(ebmc_buf *b, const ebmc_cg_program *p)
{
    ebmc_buf_printf(b,
                    "/* ==== %s program: %d core nodes; arena %lld bytes for a tile of %lld (one buffer per value "
                    "would take %lld) ==== */\n\n",
                    p->prefix, p->g->n_nodes, (long long)p->arena_bytes, (long long)p->tile,
                    (long long)p->sum_bytes);
    emit_constants(b, p);
    ebmc_buf_puts(b, "\n");
    emit_phase(b, p, 1);
    emit_phase(b, p, 0);
}

static const char runtime_helpers[] =
    "/* ==== what the entry points share ==== */\n"
    "\n"
    "/* Copies the energies out (dst may be NULL); returns how many are not finite. */\n"
    "static int ebm_put_energy(float *dst, const float *e, int64_t n)\n"
    "{\n"
    "    int bad = 0;\n"
    "    for (int64_t i = 0; i < n; i++) {\n"
    "        bad += !isfinite(e[i]);\n"
    "        if (dst)\n"
    "            dst[i] = e[i];\n"
    "    }\n"
    "    return bad;\n"
    "}\n"
    "\n"
    "/* Samples with a non-finite energy or row of v (numel values each). */\n"
    "static int ebm_count_bad(const float *e, const float *v, int64_t n, int64_t numel)\n"
    "{\n"
    "    int bad = 0;\n"
    "    for (int64_t i = 0; i < n; i++) {\n"
    "        int ok = isfinite(e[i]);\n"
    "        for (int64_t j = 0; j < numel; j++)\n"
    "            ok &= isfinite(v[i * numel + j]) != 0;\n"
    "        bad += !ok;\n"
    "    }\n"
    "    return bad;\n"
    "}\n"
    "\n"
    "static void ebm_accumulate(float *restrict dst, const float *restrict src, int64_t count)\n"
    "{\n"
    "    for (int64_t i = 0; i < count; i++)\n"
    "        dst[i] += src[i];\n"
    "}\n"
    "\n"
    "/* Trajectory frame f: the tile's n states, at trajectory + f * stride. */\n"
    "static void ebm_store_frame(const ebm_abi_call *call, int64_t f)\n"
    "{\n"
    "    memcpy(call->trajectory + f * call->trajectory_stride, call->x,\n"
    "           (size_t)call->n * EBM_SAMPLE_NUMEL * sizeof(float));\n"
    "}\n"
    "\n";

/* The update as a loop of its own, when it cannot be the score loop's epilogue. */
static const char langevin_step_helper[] =
    "/* One Langevin update of the tile's states from their scores (DESIGN.md):\n"
    " *   x <- clamp(x - step_size * clip((-score) / T, +-grad_clip) + noise_scale * eps, lo, hi)\n"
    " * eps for element j of global sample s at global step t is normal j % 4 of\n"
    " * ebm_philox_normal4(seed, s, t, j / 4), i.e. ebm_philox_normals' stream, drawn\n"
    " * EBM_NOISE_ROWS sample rows at a time into eps (that many rows of the arena;\n"
    " * several when rows are short, so the noise loops fill whole vectors) so the\n"
    " * update itself is a branch-free loop the C compiler vectorises (with no noise,\n"
    " * ebm_run_langevin has zeroed eps once).\n"
    " * Returns the number of samples whose energy, gradient or new state is not finite. */\n"
    "static int ebm_langevin_step(const ebm_lv *lv, int64_t n, float *restrict x, const float *restrict energy,\n"
    "                             const float *restrict score, float *restrict eps)\n"
    "{\n"
    "    const float alpha = lv->alpha, sigma = lv->sigma, temp = lv->temp, clip = lv->clip, lo = lv->lo, hi = lv->hi;\n"
    "    int bad = 0;\n"
    "    for (int64_t i0 = 0; i0 < n; i0 += EBM_NOISE_ROWS) {\n"
    "        const int64_t rows = n - i0 < EBM_NOISE_ROWS ? n - i0 : EBM_NOISE_ROWS;\n"
    "        if (sigma != 0.0f)\n"
    "            ebm_philox_normals_rows(lv->seed, lv->sample0 + (uint64_t)i0, rows, lv->step, eps, EBM_SAMPLE_NUMEL);\n"
    "        for (int64_t r = 0; r < rows; r++) {\n"
    "            float *restrict xi = x + (i0 + r) * EBM_SAMPLE_NUMEL;\n"
    "            const float *restrict si = score + (i0 + r) * EBM_SAMPLE_NUMEL;\n"
    "            const float *restrict ei = eps + r * EBM_SAMPLE_NUMEL;\n"
    "            int nonfinite = 0;\n"
    "            for (int64_t j = 0; j < EBM_SAMPLE_NUMEL; j++) {\n"
    "                float g = -si[j] / temp;\n"
    "                nonfinite |= !(fabsf(g) <= FLT_MAX);\n"
    "                g = g < -clip ? -clip : g > clip ? clip : g;\n"
    "                float v = xi[j] - alpha * g + sigma * ei[j];\n"
    "                v = v < lo ? lo : v > hi ? hi : v;\n"
    "                nonfinite |= !(fabsf(v) <= FLT_MAX);\n"
    "                xi[j] = v;\n"
    "            }\n"
    "            bad += nonfinite | !isfinite(energy[i0 + r]);\n"
    "        }\n"
    "    }\n"
    "    return bad;\n"
    "}\n"
    "\n";

/* `const float *NAME = <pointer of program output `out`>;` */
static void emit_output_ptr(ebmc_buf *b, const ebmc_cg_program *p, const char *var, const char *out)
{
    char ptr[128];
    ebmc_value_ptr(p, ebmc_program_output(p, out), ptr, sizeof ptr);
    ebmc_buf_printf(b, "    const float *const %s = %s;\n", var, ptr);
}

static void emit_entry_start(ebmc_buf *b, const char *name, int x_mutable)
{
    ebmc_buf_printf(b,
                    "static int %s(const ebm_abi_call *call)\n{\n"
                    "    const int64_t n = call->n;\n"
                    "    char *const A = call->arena;\n"
                    "    const float *const W = call->weights;\n"
                    "    %sfloat *const X = call->x;\n",
                    name, x_mutable ? "" : "const ");
}

static void emit_run(ebmc_buf *b, const ebmc_cg_program *p, const char *sw)
{
    ebmc_buf_printf(b, "    %s_prologue(n, A, W, X, %s);\n    %s_body(n, A, W, X, %s);\n", p->prefix, sw, p->prefix, sw);
}

static void emit_entry_energy(ebmc_buf *b, const ebmc_model *m)
{
    emit_entry_start(b, "ebm_run_energy", 0);
    emit_run(b, m->prog[EBMC_CG_ENERGY], "NULL");
    emit_output_ptr(b, m->prog[EBMC_CG_ENERGY], "E", "energy");
    ebmc_buf_puts(b, "    return ebm_put_energy(call->energy, E, n);\n}\n\n");
}

static void emit_entry_score(ebmc_buf *b, const ebmc_model *m)
{
    emit_entry_start(b, "ebm_run_score", 0);
    emit_run(b, m->prog[EBMC_CG_SCORE], "NULL");
    emit_output_ptr(b, m->prog[EBMC_CG_SCORE], "E", "energy");
    emit_output_ptr(b, m->prog[EBMC_CG_SCORE], "S", "score");
    ebmc_buf_puts(b,
                  "    ebm_put_energy(call->energy, E, n);\n"
                  "    if (call->score)\n"
                  "        memcpy(call->score, S, (size_t)n * EBM_SAMPLE_NUMEL * sizeof(float));\n"
                  "    return ebm_count_bad(E, S, n, EBM_SAMPLE_NUMEL);\n}\n\n");
}

/* The entry of PARAM_GRAD (second input: call->sample_weights; first output
 * "energy") or DSM_GRAD (call->target; "loss"): its first output goes to
 * call->energy, each "grad:<name>" output is added into call->param_grad. */
static void emit_entry_grads(ebmc_buf *b, const ebmc_model *m, int k_prog)
{
    const ebmc_cg_program *p = m->prog[k_prog];
    const int dsm = k_prog == EBMC_CG_DSM;
    emit_entry_start(b, dsm ? "ebm_run_dsm_grad" : "ebm_run_param_grad", 0);
    ebmc_buf_printf(b, "    const float *const SW = call->%s;\n", dsm ? "target" : "sample_weights");
    emit_run(b, p, "SW");
    emit_output_ptr(b, p, "E", dsm ? "loss" : "energy");
    ebmc_buf_puts(b, "    const int bad = ebm_put_energy(call->energy, E, n);\n");
    for (int j = 0; j < p->g->n_outputs; j++) {
        const char *name = p->g->output_names[j];
        if (!name || strncmp(name, "grad:", 5) != 0)
            continue;
        int k = ebmc_model_find_param(m, name + 5);
        char ptr[128];
        ebmc_value_ptr(p, p->g->outputs[j], ptr, sizeof ptr);
        ebmc_buf_printf(b, "    if (call->param_grad)\n        ebm_accumulate(call->param_grad + %lld, %s, %lld);   /* ",
                        (long long)m->params[k].offset,
                        ptr, (long long)m->params[k].numel);
        ebmc_buf_c_comment(b, name);
        ebmc_buf_puts(b, " */\n");
    }
    ebmc_buf_puts(b, "    return bad;\n}\n\n");
}

/* The Langevin step's body when the update is fused: the score program's
 * body, the noise of the tile drawn just before its last loop (so the loop
 * reads it from cache), and that loop with the update as its epilogue. */
static void emit_langevin_body(ebmc_buf *b, const ebmc_model *m)
{
    const ebmc_cg_program *p = m->prog[EBMC_CG_SCORE];
    const int k = m->lv_kernel;
    ebmc_emit_langevin_kernel(b, p, k, ebmc_program_output(p, "score"));
    ebmc_buf_puts(b, "/* One Langevin step of the tile (score_prologue has run); returns the number of\n"
                     " * samples whose energy, gradient or new state is not finite. */\n"
                     "static int score_langevin_body(int64_t n, char *A, const float *W, float *X, float *eps, "
                     "const ebm_lv *lv)\n{\n"
                     "    const float *const SW = NULL;\n    (void)SW;\n");
    for (int i = 0; i < k; i++)
        if (p->v[i].kernel == i && !p->info.invariant[i])
            ebmc_emit_kernel_call(b, p, i);
    ebmc_buf_puts(b, "    if (lv->sigma != 0.0f)\n"
                     "        ebm_philox_normals_rows(lv->seed, lv->sample0, n, lv->step, eps, EBM_SAMPLE_NUMEL);\n");
    ebmc_emit_langevin_call(b, p, k, ebmc_program_output(p, "score"), ebmc_program_output(p, "energy"));
    ebmc_buf_puts(b, "}\n\n");
}

/* K steps (DESIGN.md): the score, then the update, then the next step; the
 * energies returned are those of the final states (the energy program).  On
 * a non-finite sample it stops, returning the energies of the step's start. */
static void emit_entry_langevin(ebmc_buf *b, const ebmc_model *m)
{
    const int fused = m->lv_kernel >= 0;
    emit_entry_start(b, "ebm_run_langevin", 1);
    ebmc_buf_puts(b,
                  "    const ebm_abi_langevin *const L = call->langevin;\n"
                  "    const int32_t steps = L ? L->steps : 0;\n"
                  "    const int64_t every = L && call->trajectory ? L->trajectory_every : 0;\n");
    emit_output_ptr(b, m->prog[EBMC_CG_SCORE], "E", "energy");
    if (!fused)
        emit_output_ptr(b, m->prog[EBMC_CG_SCORE], "S", "score");
    emit_output_ptr(b, m->prog[EBMC_CG_ENERGY], "EF", "energy");
    ebmc_buf_printf(b, "    float *const eps = (float *)(A + %lld);\n", (long long)ebmc_model_eps_offset(m));
    ebmc_buf_printf(b,
                    "    if (every > 0)\n"
                    "        ebm_store_frame(call, 0);\n"
                    "    ebm_lv lv;\n"
                    "    memset(&lv, 0, sizeof lv);\n"
                    "    if (steps > 0) {\n"
                    "        score_prologue(n, A, W, X, NULL);\n"
                    "        lv.alpha = L->step_size, lv.sigma = L->noise_scale, lv.temp = L->temperature;\n"
                    "        lv.clip = L->grad_clip > 0.0f ? L->grad_clip : INFINITY;   /* inf: clipping is off */\n"
                    "        lv.lo = L->clamp ? L->lo : -INFINITY, lv.hi = L->clamp ? L->hi : INFINITY;\n"
                    "        lv.seed = L->seed, lv.sample0 = (uint64_t)call->sample_offset;\n"
                    "        if (lv.sigma == 0.0f)   /* no noise is drawn: eps stays 0 */\n"
                    "            memset(eps, 0, (size_t)%s * EBM_SAMPLE_NUMEL * sizeof *eps);\n"
                    "    }\n"
                    "    for (int32_t t = 0; t < steps; t++) {\n"
                    "        lv.step = L->step_offset + (uint64_t)t;\n",
                    fused ? "n" : "EBM_NOISE_ROWS");
    if (fused)
        ebmc_buf_puts(b, "        const int bad = score_langevin_body(n, A, W, X, eps, &lv);\n");
    else
        ebmc_buf_puts(b, "        score_body(n, A, W, X, NULL);\n"
                         "        const int bad = ebm_langevin_step(&lv, n, X, E, S, eps);\n");
    ebmc_buf_puts(b,
                  "        if (bad) {\n"
                  "            ebm_put_energy(call->energy, E, n);\n"
                  "            return bad;\n"
                  "        }\n"
                  "        if (every > 0 && (t + 1) % every == 0)\n"
                  "            ebm_store_frame(call, (t + 1) / every);\n"
                  "    }\n");
    emit_run(b, m->prog[EBMC_CG_ENERGY], "NULL");
    ebmc_buf_puts(b, "    return ebm_put_energy(call->energy, EF, n);\n}\n\n");
}

static void emit_string_or_null(ebmc_buf *b, const char *s)
{
    if (!s) {
        ebmc_buf_puts(b, "NULL");
        return;
    }
    ebmc_buf_puts(b, "\"");
    ebmc_buf_c_string(b, s);
    ebmc_buf_puts(b, "\"");
}

static void emit_param_table(ebmc_buf *b, const ebmc_model *m)
{
    if (!m->n_params)
        return;
    ebmc_buf_printf(b, "static const ebm_abi_param ebm_params[%d] = {\n", m->n_params);
    for (int k = 0; k < m->n_params; k++) {
        const ir_node *nd = m->params[k].node;
        ebmc_buf_puts(b, "    {");
        emit_string_or_null(b, nd->name);
        ebmc_buf_printf(b, ", %d, {", nd->shape.rank);
        for (int i = 0; i < nd->shape.rank; i++)
            ebmc_buf_printf(b, "%s%lld", i ? ", " : "", (long long)nd->shape.d[i]);
        ebmc_buf_printf(b, "}, %lld, %lld, %d},\n", (long long)m->params[k].offset, (long long)m->params[k].numel,
                        (nd->flags & IR_NODE_TRAINABLE) ? 1 : 0);
    }
    ebmc_buf_puts(b, "};\n\n");
}

static void emit_meta_table(ebmc_buf *b, const ir_graph *g)
{
    if (!g->n_meta)
        return;
    ebmc_buf_printf(b, "static const ebm_abi_meta ebm_meta[%d] = {\n", g->n_meta);
    for (int k = 0; k < g->n_meta; k++) {
        ebmc_buf_puts(b, "    {");
        emit_string_or_null(b, g->meta[k].key ? g->meta[k].key : "");
        ebmc_buf_puts(b, ", ");
        emit_string_or_null(b, g->meta[k].value ? g->meta[k].value : "");
        ebmc_buf_puts(b, "},\n");
    }
    ebmc_buf_puts(b, "};\n\n");
}

/* The CPU features the C compiler may use for this -march, from the macros
 * it predefines (runtime/ebm_abi.h), and the target's name. */
static void emit_isa(ebmc_buf *b, const char *target)
{
    ebmc_buf_puts(b, "    .isa_features = 0\n");
#define EMIT_ISA_(name, bit, text, macro) \
    ebmc_buf_puts(b, "#if defined(" macro ")\n        | (UINT64_C(1) << EBM_ISA_" #name ")\n#endif\n");
    EBM_ABI_ISA_FEATURES(EMIT_ISA_)
#undef EMIT_ISA_
    char isa[EBM_ABI_ISA_NAME_MAX];
    snprintf(isa, sizeof isa, "%s", target && target[0] ? target : "native");
    ebmc_buf_puts(b, "        ,\n    .isa = ");
    emit_string_or_null(b, isa);
    ebmc_buf_puts(b, ",\n");
}

static void emit_descriptor(ebmc_buf *b, const ebmc_model *m)
{
    const ir_graph *e = m->energy;
    const ir_shape *xs = &e->nodes[e->inputs[0]].shape;
    const int pg = !m->o->no_param_grad, n_abi_programs = 3 + pg + (m->prog[EBMC_CG_DSM] != NULL);
    emit_param_table(b, m);
    emit_meta_table(b, e);
    ebmc_buf_printf(b,
                    "static const ebm_abi_program ebm_programs[%d] = {\n"
                    "    {EBM_PROGRAM_ENERGY, %lld, ebm_run_energy},\n"
                    "    {EBM_PROGRAM_SCORE, %lld, ebm_run_score},\n",
                    n_abi_programs, (long long)m->prog[EBMC_CG_ENERGY]->arena_bytes,
                    (long long)m->prog[EBMC_CG_SCORE]->arena_bytes);
    if (pg)
        ebmc_buf_printf(b, "    {EBM_PROGRAM_PARAM_GRAD, %lld, ebm_run_param_grad},\n",
                        (long long)m->prog[EBMC_CG_PARAM_GRAD]->arena_bytes);
    ebmc_buf_printf(b, "    {EBM_PROGRAM_LANGEVIN, %lld, ebm_run_langevin},\n", (long long)ebmc_model_langevin_arena(m));
    if (m->prog[EBMC_CG_DSM])
        ebmc_buf_printf(b, "    {EBM_PROGRAM_DSM_GRAD, %lld, ebm_run_dsm_grad},\n",
                        (long long)m->prog[EBMC_CG_DSM]->arena_bytes);
    ebmc_buf_puts(b, "};\n\n");
    ebmc_buf_puts(b, "__attribute__((visibility(\"default\"))) const ebm_abi_model EBM_ABI_SYMBOL = {\n"
                     "    .magic = EBM_ABI_MAGIC,\n    .abi_version = EBM_ABI_VERSION,\n"
                     "    .code_hash = 0,      /* both digests are written after linking (ebmc's compiler/seal.c) */\n"
                     "    .weights_hash = 0,\n");
    ebmc_buf_printf(b, "    .blob_bytes = %lld,\n", (long long)m->blob_floats * (long long)sizeof(float));
    emit_isa(b, m->o->target_cpu);
    ebmc_buf_puts(b, "    .compiler_version = \"" EBMC_VERSION_STRING "\",\n    .source_hash = ");
    emit_string_or_null(b, m->o->source_hash ? m->o->source_hash : "");
    ebmc_buf_printf(b, ",\n    .input_rank = %d,\n    .input_shape = {", xs->rank);
    for (int i = 0; i < xs->rank; i++)
        ebmc_buf_printf(b, "%s%lld", i ? ", " : "", (long long)(xs->d[i] == IR_DIM_N ? -1 : xs->d[i]));
    ebmc_buf_printf(b, "},\n    .sample_numel = %lld,\n    .energy_head = ", (long long)m->sample_numel);
    emit_string_or_null(b, m->o->energy_head ? m->o->energy_head : "output");
    ebmc_buf_printf(b,
                    ",\n    .tile = %lld,\n    .n_params = %d,\n    .params = %s,\n    .weights_numel = %lld,\n"
                    "    .weights = ebm_blob,\n    .n_meta = %d,\n    .meta = %s,\n"
                    "    .n_programs = %d,\n    .programs = ebm_programs,\n};\n",
                    (long long)m->tile, m->n_params, m->n_params ? "ebm_params" : "NULL",
                    (long long)m->weights_numel, e->n_meta, e->n_meta ? "ebm_meta" : "NULL", n_abi_programs);
}

static void emit_prelude(ebmc_buf *b, const ebmc_model *m, int units)
{
    ebmc_buf_puts(b, "/* model.c — generated by ebmc " EBMC_VERSION_STRING " from ");
    ebmc_buf_c_comment(b, m->energy->source ? m->energy->source : "an energy graph");
    ebmc_buf_printf(b,
                    "; do not edit.\n"
                    " * Programs (runtime/ebm_abi.h): energy, score, param_grad, Langevin%s, each on\n"
                    " * a tile of up to %lld samples; the weights (%lld floats) are in ebm_blob,\n"
                    " * pulled in from weights.bin by weights.s.\n"
                    " *\n"
                    " * Compiled as it stands, this file is one translation unit and its functions\n"
                    " * are static.  ebmc compiles it as EBM_UNITS units side by side instead\n"
                    " * (cc -c -DEBM_UNIT=k for each k < EBM_UNITS, then one link): the kernels\n"
                    " * dealt over the units (EBM_SHARED), their callers and the rest in unit 0. */\n"
                    "#include <float.h>\n#include <math.h>\n#include <stdint.h>\n#include <string.h>\n\n#include <cblas.h>\n\n"
                    "#include \"ebm_abi.h\"\n#define EBM_PHILOX_SIMD 1   /* vectorise its loops (-fopenmp-simd) */\n#include \"ebm_philox.h\"\n\n"
                    "#define EBM_UNITS %d\n"
                    "#ifdef EBM_UNIT\n"
                    "#define EBM_SHARED __attribute__((visibility(\"hidden\")))\n"
                    "#define EBM_IN_UNIT(k) (EBM_UNIT == (k))\n"
                    "#else\n"
                    "#define EBM_SHARED static\n"
                    "#define EBM_IN_UNIT(k) 1\n"
                    "#endif\n\n"
                    "#define EBM_SAMPLE_NUMEL %lld\n"
                    "#define EBM_NOISE_ROWS %lld   /* sample rows per noise fill in ebm_langevin_step */\n\n"
                    "/* Before the outer loops of a nest whose innermost loop is the vector one:\n"
                    " * clang unrolls a short inner loop fully, then vectorises the outer one into\n"
                    " * gathers and scatters (a bias add over 7x7 planes: 5x slower, the JIT's\n"
                    " * code, compiler/jit.h).  GCC sees nothing. */\n"
                    "#if defined(__clang__)\n"
                    "#define EBM_OUTER_LOOP _Pragma(\"clang loop vectorize(disable)\")\n"
                    "#else\n"
                    "#define EBM_OUTER_LOOP\n"
                    "#endif\n\n"
                    "/* The constants of one Langevin update (ebm_run_langevin): clip is INFINITY\n"
                    " * when clipping is off, lo and hi -+INFINITY without a clamp. */\n"
                    "typedef struct ebm_lv {\n"
                    "    float alpha, sigma, temp, clip, lo, hi;\n"
                    "    uint64_t seed, sample0, step;   /* the noise of sample sample0 + i at this step */\n"
                    "} ebm_lv;\n\n"
                    "extern const float ebm_blob[] __attribute__((visibility(\"hidden\")));\n\n",
                    m->prog[EBMC_CG_DSM] ? " and dsm_grad" : "", (long long)m->tile, (long long)m->weights_numel,
                    units, (long long)m->sample_numel, (long long)ebmc_model_noise_rows(m));
}

/* The whole file: the prelude, the helpers the kernels need, what every unit
 * shares, the kernels unit by unit, and in unit 0 the programs' phases, entry
 * points and descriptor. */
static ebm_status emit_model(const ebmc_model *m, ebmc_buf *out, int *units_out, ebm_error *err)
{
    ebmc_units u;
    unsigned helpers = 0;
    ebm_status st = ebmc_units_collect(m, &u, &helpers, err);
    if (st)
        return st;
    emit_prelude(out, m, u.units);
    ebmc_emit_helpers(out, helpers);
    ebmc_units_emit_shared(out, &u);
    for (int k = u.units - 1; k >= 0; k--) {
        ebmc_buf_printf(out, "#if EBM_IN_UNIT(%d)\n\n", k);
        ebmc_units_emit_unit(out, &u, k);
        if (k == 0) {
            ebmc_buf_puts(out, runtime_helpers);
            for (int j = 0; j < m->n_prog; j++)
                if (j != EBMC_CG_PARAM_GRAD || !m->o->no_param_grad)
                    emit_program(out, m->prog[j]);
            if (m->lv_kernel >= 0)
                emit_langevin_body(out, m);
            else
                ebmc_buf_puts(out, langevin_step_helper);
            ebmc_buf_puts(out, "/* ==== entry points ==== */\n\n");
            emit_entry_energy(out, m);
            emit_entry_score(out, m);
            if (!m->o->no_param_grad)
                emit_entry_grads(out, m, EBMC_CG_PARAM_GRAD);
            emit_entry_langevin(out, m);
            if (m->prog[EBMC_CG_DSM])
                emit_entry_grads(out, m, EBMC_CG_DSM);
            emit_descriptor(out, m);
        }
        ebmc_buf_printf(out, "\n#endif /* EBM_IN_UNIT(%d) */\n\n", k);
    }
    if (out->oom)
        st = ebm_fail(err, EBM_ERR_NOMEM, "codegen: out of memory writing the C source");
    if (units_out)
        *units_out = u.units;
    ebmc_units_free(&u);
    return st;
}


static ebm_status build_and_emit(const ir_graph *energy, const ebmc_compile_options *o, ebmc_model *m, ebmc_buf *c,
                                 int *units, ebm_error *err)
{
    double t0 = base_now_seconds();
    ebm_status st = ebmc_model_build(m, energy, o, err);
    if (!st)
        st = emit_model(m, c, units, err);
    if (!st && o->verbose) {
        ebmc_model_report_plan(m);
        fprintf(stderr, "ebmc: programs built, scheduled, planned and emitted in %.3f s (%zu bytes of C)\n",
                base_now_seconds() - t0, c->len);
    }
    return st;
}

static const ebmc_compile_options default_options = {.opt_level = 3};

ebm_status ebmc_emit_c(const ir_graph *energy, const ebmc_compile_options *o, char **c_source, ebm_error *err)
{
    ebmc_model m;
    ebmc_buf c = {0};
    *c_source = NULL;
    ebm_status st = build_and_emit(energy, o ? o : &default_options, &m, &c, NULL, err);
    ebmc_model_free(&m);
    if (st) {
        free(c.s);
        return st;
    }
    *c_source = c.s;
    return EBM_OK;
}

ebm_status ebmc_emit_model(const ir_graph *energy, const ebmc_compile_options *o, char **c_source, float **blob,
                           int64_t *blob_floats, int *units, ebm_error *err)
{
    ebmc_model m;
    ebmc_buf c = {0};
    *c_source = NULL;
    *blob = NULL;
    *blob_floats = 0;
    *units = 1;
    ebm_status st = build_and_emit(energy, o ? o : &default_options, &m, &c, units, err);
    if (!st) {
        *c_source = c.s;
        *blob = m.blob;   /* taken from the model before it is freed */
        *blob_floats = m.blob_floats;
        m.blob = NULL;
    } else {
        free(c.s);
    }
    ebmc_model_free(&m);
    return st;
}

ebm_status ebmc_compile_model(const ir_graph *energy, const ebmc_compile_options *o, const char *out_path,
                              ebm_error *err)
{
    if (!o)
        o = &default_options;
    ebmc_model m;
    ebmc_buf c = {0};
    int units = 1;
    ebm_status st = build_and_emit(energy, o, &m, &c, &units, err);
    if (!st) {
        ebmc_cc_job job = {
            .units = units,
            .jobs = o->jobs,
            .seal = 1,
            .cc = o->cc,
            .opt_level = o->opt_level,
            .target_cpu = o->target_cpu,
            .c_source = c.s,
            .blob = m.blob,
            .blob_floats = m.blob_floats,
            .out_path = out_path,
            .keep_temps = o->keep_temps,
            .verbose = o->verbose,
            .on_wait = o->on_wait,
            .on_wait_ctx = o->on_wait_ctx,
        };
        st = ebmc_cc_run(&job, err);
    }
    ebmc_model_free(&m);
    free(c.s);
    return st;
}
