/* codegen_c_fused.c — the fused elementwise loops: one loop nest per group of
 * fuse.c over its result shape, each member one call of ebmk_<op>(...) (the
 * float forms of ops.def's scalar expressions, codegen_c_kernels.c), the
 * innermost loop under `#pragma omp simd`; a group ending in a sum over its
 * last axis accumulates it in lanes of a fixed order (ebmc_lane_sum_begin).  And the Langevin update as the epilogue of the loop that computes
 * the score (the score is then never stored).
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "codegen_c_nest.h"

static int fused_in_index(const ebmc_fused_io *io, int q)
{
    for (int e = 0; e < io->n_in; e++)
        if (io->in[e] == q)
            return e;
    return -1;
}

typedef struct fused_ctx {
    const ebmc_cg_program *p;
    const ebmc_fused_io *io;
    poly inner[NEST_MAX_VIEWS];   /* with a sink: each view's stride along the summed axis */
    char len[256];                /* and that axis's length */
    int lv_score;                 /* Langevin kernel: the member holding the score, else -1 */
    int lv_view;                  /* and the view of x (the state it updates) */
} fused_ctx;

/* view k: outputs 0..n_out-1, then the inputs */
static void fused_body(ebmc_buf *b, const char idx[][IDX_MAX], const char *ind, const void *ctx)
{
    const fused_ctx *c = ctx;
    const ebmc_fused_io *io = c->io;
    const ir_graph *g = c->p->g;
    for (int e = 0; e < io->n_in; e++)
        ebmc_buf_printf(b, "%sconst float a%d = in%d[%s];\n", ind, e, e, idx[io->n_out + e]);
    for (int j = io->first; j <= io->last - (io->sink >= 0); j++) {
        const ir_node *nd = &g->nodes[j];
        ebmc_buf_printf(b, "%sconst float v%d = ", ind, j);
        if (nd->op == IR_OP_BROADCAST) {
            ebmc_buf_printf(b, "a%d;\n", fused_in_index(io, nd->in[0]));
            continue;
        }
        ebmc_buf_printf(b, "ebmk_%s(", ir_op_get(nd->op)->name);
        for (int k = 0; k < nd->n_in; k++) {
            int q = nd->in[k];
            if (q >= io->first && q < j)
                ebmc_buf_printf(b, "%sv%d", k ? ", " : "", q);
            else
                ebmc_buf_printf(b, "%sa%d", k ? ", " : "", fused_in_index(io, q));
        }
        if (ebmc_float_op_takes_p(nd->op)) {
            char lit[64];
            ebmc_buf_printf(b, ", %s", ebmc_float_literal((float)nd->attr.f, lit, sizeof lit));
        }
        ebmc_buf_puts(b, ");\n");
    }
    for (int o = 0; o < io->n_out; o++)
        if (io->out[o] != io->sink)
            ebmc_buf_printf(b, "%sout%d[%s] = v%d;\n", ind, o, idx[o], io->out[o]);
    if (io->sink >= 0)
        ebmc_buf_printf(b, "%sacc[l] += v%d;\n", ind, g->nodes[io->sink].in[0]);
    if (c->lv_score >= 0) {   /* the update of ebm_langevin_step, statement for statement */
        const char *xi = idx[c->lv_view];
        ebmc_buf_printf(b, "%sfloat g = -v%d / l_temp;\n", ind, c->lv_score);
        ebmc_buf_printf(b, "%snf |= !(fabsf(g) <= FLT_MAX);\n", ind);
        ebmc_buf_printf(b, "%sg = g < -l_clip ? -l_clip : g > l_clip ? l_clip : g;\n", ind);
        ebmc_buf_printf(b, "%sfloat u = lx[%s] - l_alpha * g + l_sigma * leps[%s];\n", ind, xi, xi);
        ebmc_buf_printf(b, "%su = u < l_lo ? l_lo : u > l_hi ? l_hi : u;\n", ind);
        ebmc_buf_printf(b, "%snf |= !(fabsf(u) <= FLT_MAX);\n", ind);
        ebmc_buf_printf(b, "%slx[%s] = u;\n", ind, xi);
    }
}

/* A group ending in a sum over the last axis: per element of the sum, a
 * loop over that axis computes the members, stores those read elsewhere and
 * accumulates the summand in lanes (their order depends on the length alone). */
static void fused_sink_body(ebmc_buf *b, const char idx[][IDX_MAX], const char *ind, const void *ctx)
{
    const fused_ctx *c = ctx;
    const ebmc_fused_io *io = c->io;
    char inner[NEST_MAX_VIEWS][IDX_MAX];
    int nv = io->n_out + io->n_in, sink_view = -1;
    for (int k = 0; k < nv; k++) {
        if (k < io->n_out && io->out[k] == io->sink)
            sink_view = k;
        char s[256];
        if (p_is(c->inner[k], 0))
            snprintf(inner[k], IDX_MAX, "%s", idx[k]);
        else if (p_is(c->inner[k], 1))
            snprintf(inner[k], IDX_MAX, "%s + k", idx[k]);
        else
            snprintf(inner[k], IDX_MAX, "%s + k*%s", idx[k], p_str(c->inner[k], s, sizeof s));
    }
    char body_ind[96], target[IDX_MAX + 16];
    ebmc_lane_sum_begin(b, ind, c->len, body_ind, sizeof body_ind);
    fused_body(b, (const char(*)[IDX_MAX])inner, body_ind, ctx);
    const int tail = ebmc_lane_sum_tail(b, ind, c->len);
    if (tail)
        fused_body(b, (const char(*)[IDX_MAX])inner, body_ind, ctx);
    snprintf(target, sizeof target, "out%d[%s]", sink_view, idx[sink_view]);
    ebmc_lane_sum_end(b, ind, tail, target, "=");
}

static void emit_fused_comment(ebmc_buf *b, const ebmc_cg_program *p, const ebmc_fused_io *io, int last)
{
    char s[96];
    ebmc_buf_printf(b, "/* fused loop over %s: %d nodes, %d stored",
                    ir_shape_str(&p->g->nodes[io->space].shape, s, sizeof s), last - io->first + 1, io->n_out);
    for (int j = io->first; j <= last; j++) {
        const ir_node *nd = &p->g->nodes[j];
        ebmc_buf_printf(b, "\n *   %s%%%d = %s(", p->v[j].store == EBMC_STORE_ARENA ? "" : "(reg) ", j,
                        ir_op_get(nd->op)->name);
        for (int k = 0; k < nd->n_in; k++)
            ebmc_buf_printf(b, "%s%%%d", k ? ", " : "", nd->in[k]);
        ebmc_buf_puts(b, ")");
        if (nd->name) {
            ebmc_buf_puts(b, "  \"");
            ebmc_buf_c_comment(b, nd->name);
            ebmc_buf_puts(b, "\"");
        }
    }
    ebmc_buf_puts(b, " */\n");
}

/* The loop nest of a fused group over its space (not simplified): views
 * 0..n_out-1 its stored members (the sink's broadcast along the summed axis),
 * then its inputs, each broadcast as its shape says. */
static void fused_nest(const ebmc_cg_program *p, const ebmc_fused_io *io, nest *ns)
{
    memset(ns, 0, sizeof *ns);
    ns->space = ps_of(&p->g->nodes[io->space].shape);
    ns->nv = io->n_out + io->n_in;
    for (int o = 0; o < io->n_out; o++) {
        pshape out = ps_of(&p->g->nodes[io->out[o]].shape);
        ns->v[o] = io->out[o] == io->sink ? v_broadcast(&out, &ns->space) : v_contiguous(&ns->space);
    }
    for (int e = 0; e < io->n_in; e++) {
        pshape in = ps_of(&p->g->nodes[io->in[e]].shape);
        ns->v[io->n_out + e] = v_broadcast(&in, &ns->space);
    }
}

void ebmc_emit_fused(ebmc_buf *b, const ebmc_cg_program *p, int last)
{
    const ebmc_fused_io io = p->kern[last].io;
    emit_fused_comment(b, p, &io, last);
    const char *sep = ebmc_emit_kernel_open(b, p, last, 0);
    for (int e = 0; e < io.n_in; e++, sep = ", ")
        ebmc_buf_printf(b, "%sconst float *restrict in%d", sep, e);
    for (int o = 0; o < io.n_out; o++, sep = ", ")
        ebmc_buf_printf(b, "%sfloat *restrict out%d", sep, o);
    ebmc_buf_puts(b, ")\n{\n");
    nest ns;
    fused_nest(p, &io, &ns);
    ebmc_nest_simplify(&ns);
    fused_ctx c;
    memset(&c, 0, sizeof c);
    c.p = p, c.io = &io, c.lv_score = -1;
    if (io.sink < 0) {
        ns.simd = 1;
        ebmc_nest_emit(b, &ns, 1, fused_body, &c);
        return;
    }
    /* the summed axis (last; the sink's view does not move along it, so it
     * stays an axis of its own) becomes the body's inner loop */
    int r = ns.space.rank;
    for (int k = 0; k < ns.nv; k++)
        c.inner[k] = ns.v[k].stride[r - 1];
    p_str(ns.space.d[r - 1], c.len, sizeof c.len);
    ns.space.rank--;
    ebmc_nest_emit(b, &ns, 1, fused_sink_body, &c);
}

void ebmc_emit_fused_call(ebmc_buf *b, const ebmc_cg_program *p, int last)
{
    const ebmc_fused_io io = p->kern[last].io;
    char ptr[128];
    const char *sep = ebmc_emit_kernel_open(b, p, last, 1);
    for (int e = 0; e < io.n_in; e++, sep = ", ") {
        ebmc_value_ptr(p, io.in[e], ptr, sizeof ptr);
        ebmc_buf_printf(b, "%s%s", sep, ptr);
    }
    for (int o = 0; o < io.n_out; o++, sep = ", ") {
        ebmc_value_ptr(p, io.out[o], ptr, sizeof ptr);
        ebmc_buf_printf(b, "%s%s", sep, ptr);
    }
    ebmc_buf_puts(b, ");\n");
}

/* ---- the Langevin update as the epilogue of the score's loop ------------------------------ */

/* The fused group without the score among its stored members. */
static void langevin_io(const ebmc_cg_program *p, int k, int score, ebmc_fused_io *io)
{
    *io = p->kern[k].io;
    int n = 0;
    for (int o = 0; o < io->n_out; o++)
        if (io->out[o] != p->info.root[score])
            io->out[n++] = io->out[o];
    io->n_out = n;
}

static void langevin_kernel_name(const ebmc_cg_program *p, int k, char *buf, size_t size)
{
    char name[160];
    ebmc_kernel_name(p, k, name, sizeof name);
    snprintf(buf, size, "%s_langevin", name);
}

void ebmc_emit_langevin_kernel(ebmc_buf *b, const ebmc_cg_program *p, int k, int score)
{
    ebmc_fused_io io;
    langevin_io(p, k, score, &io);
    char name[176];
    langevin_kernel_name(p, k, name, sizeof name);
    ebmc_buf_printf(b,
                    "/* The loop of %%%d with one Langevin update as its epilogue: instead of storing\n"
                    " * the score %%%d it moves x (lx) by it, as ebm_langevin_step would, reading the\n"
                    " * noise leps; returns the number of samples whose energy (le), gradient or new\n"
                    " * state is not finite. */\n"
                    "static int %s(int64_t n",
                    k, p->info.root[score], name);
    for (int e = 0; e < io.n_in; e++)
        if (!ebmc_fused_reads_x(p, &io, e))
            ebmc_buf_printf(b, ", const float *restrict in%d", e);
    for (int o = 0; o < io.n_out; o++)
        ebmc_buf_printf(b, ", float *restrict out%d", o);
    ebmc_buf_puts(b, ", float *restrict lx, const float *restrict leps, const float *restrict le, const ebm_lv *lv)\n{\n");
    for (int e = 0; e < io.n_in; e++)
        if (ebmc_fused_reads_x(p, &io, e))
            ebmc_buf_printf(b, "    const float *const in%d = lx;   /* x, read before it is written */\n", e);
    ebmc_buf_puts(b, "    const float l_alpha = lv->alpha, l_sigma = lv->sigma, l_temp = lv->temp;\n"
                     "    const float l_clip = lv->clip, l_lo = lv->lo, l_hi = lv->hi;\n"
                     "    int bad = 0;\n");
    nest ns;
    fused_nest(p, &io, &ns);
    ns.v[ns.nv++] = v_contiguous(&ns.space);   /* x and the noise */
    ns.keep_batch = 1;   /* i0 is the sample: its flags are counted after its loop */
    ebmc_nest_simplify(&ns);
    ns.simd = 1;
    /* rows of a few elements (toy data): vectorise over samples, the row's
       loop unrolled (tabular 2-64-64-1: 1% of a step) */
    for (int64_t len = 1; len <= 8 && ns.space.rank == 2; len++)
        ns.simd_outer |= p_is(ns.space.d[1], len);
    ns.simd_clause = ns.space.rank > 1 && !ns.simd_outer ? "reduction(| : nf)" : "reduction(+ : bad)";
    ns.open0 = "int nf = 0;\n";
    ns.close0 = "bad += nf | !isfinite(le[i0]);\n";
    fused_ctx c;
    memset(&c, 0, sizeof c);
    c.p = p, c.io = &io, c.lv_score = p->info.root[score], c.lv_view = ns.nv - 1;
    ebmc_nest_emit(b, &ns, 1, fused_body, &c);
    ebmc_buf_puts(b, "    return bad;\n}\n\n");
}

void ebmc_emit_langevin_call(ebmc_buf *b, const ebmc_cg_program *p, int k, int score, int energy)
{
    ebmc_fused_io io;
    langevin_io(p, k, score, &io);
    char name[176], ptr[128];
    langevin_kernel_name(p, k, name, sizeof name);
    ebmc_buf_printf(b, "    return %s(n", name);
    for (int e = 0; e < io.n_in; e++)
        if (!ebmc_fused_reads_x(p, &io, e)) {
            ebmc_value_ptr(p, io.in[e], ptr, sizeof ptr);
            ebmc_buf_printf(b, ", %s", ptr);
        }
    for (int o = 0; o < io.n_out; o++) {
        ebmc_value_ptr(p, io.out[o], ptr, sizeof ptr);
        ebmc_buf_printf(b, ", %s", ptr);
    }
    ebmc_value_ptr(p, energy, ptr, sizeof ptr);
    ebmc_buf_printf(b, ", X, eps, %s, lv);\n", ptr);
}
