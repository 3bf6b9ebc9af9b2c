/* model.c — a model made ready for a backend (model.h): its programs built,
 * scheduled and planned, the tile chosen, the parameter table and the
 * weights blob laid out, every constant given its place, and the loop the
 * Langevin update fuses into selected.  Nothing here writes code: codegen_c.c
 * reads the result.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"

/* Non-parameter constants up to this many floats become static arrays. */
#define INLINE_CONST_MAX 64
#define ALIGN_FLOATS (EBMC_ALIGN / 4)

static const ebmc_program cg_kinds[EBMC_CG_NPROG] = {EBMC_PROGRAM_ENERGY, EBMC_PROGRAM_SCORE,
                                                     EBMC_PROGRAM_PARAM_GRAD, EBMC_PROGRAM_DSM_GRAD};

void ebmc_model_free(ebmc_model *m)
{
    for (int k = 0; k < EBMC_CG_NPROG; k++)
        ebmc_cg_program_free(m->prog[k]);
    free(m->params);
    free(m->blob);
    memset(m, 0, sizeof *m);
}

/* ---- the blob and the parameter table ------------------------------------------------ */

/* Appends numel floats at the next aligned offset; returns the offset or -1. */
static int64_t blob_append(ebmc_model *m, const float *data, int64_t numel, ebm_error *err)
{
    int64_t at = (m->blob_floats + ALIGN_FLOATS - 1) / ALIGN_FLOATS * ALIGN_FLOATS;
    int64_t need = at + numel;
    if (need > m->blob_cap) {
        int64_t cap = m->blob_cap ? m->blob_cap : 1024;
        while (cap < need)
            cap *= 2;
        float *nb = realloc(m->blob, (size_t)cap * sizeof *nb);
        if (!nb) {
            ebm_fail(err, EBM_ERR_NOMEM, "codegen: out of memory for the weights blob (%lld floats)", (long long)cap);
            return -1;
        }
        m->blob = nb;
        m->blob_cap = cap;
    }
    if (at > m->blob_floats)
        memset(m->blob + m->blob_floats, 0, (size_t)(at - m->blob_floats) * sizeof *m->blob);
    if (numel > 0)
        memcpy(m->blob + at, data, (size_t)numel * sizeof *data);
    m->blob_floats = need;
    return at;
}

int ebmc_model_find_param(const ebmc_model *m, const char *name)
{
    for (int k = 0; name && k < m->n_params; k++)
        if (strcmp(m->params[k].node->name, name) == 0)
            return k;
    return -1;
}

static ebm_status collect_params(ebmc_model *m, ebm_error *err)
{
    const ir_graph *g = m->energy;
    m->params = calloc((size_t)g->n_nodes + 1, sizeof *m->params);
    if (!m->params)
        return ebm_fail(err, EBM_ERR_NOMEM, "codegen: out of memory");
    for (int i = 0; i < g->n_nodes; i++) {
        const ir_node *nd = &g->nodes[i];
        if (nd->op != IR_OP_CONST || !(nd->flags & IR_NODE_PARAM))
            continue;
        char lb[256];
        if (!nd->name || !nd->name[0])
            return ebm_fail(err, EBM_ERR_INVALID, "codegen: parameter %s has no name (training writes parameters "
                            "back by name)", ir_node_label(g, i, lb, sizeof lb));
        if (ebmc_model_find_param(m, nd->name) >= 0)
            return ebm_fail(err, EBM_ERR_INVALID, "codegen: two parameters are named \"%s\"", nd->name);
        ebmc_param *p = &m->params[m->n_params++];
        p->node = nd;
        p->numel = ir_shape_numel(&nd->shape, 0);
        p->offset = blob_append(m, nd->data, p->numel, err);
        if (p->offset < 0)
            return EBM_ERR_NOMEM;
    }
    m->weights_numel = (m->blob_floats + ALIGN_FLOATS - 1) / ALIGN_FLOATS * ALIGN_FLOATS;
    /* the runtime copies weights_numel floats: the blob holds them all, padding included */
    if (blob_append(m, NULL, 0, err) < 0)
        return EBM_ERR_NOMEM;
    return EBM_OK;
}

/* Points each CONST of a program at its parameter or constant storage. */
static ebm_status link_constants(ebmc_model *m, ebmc_cg_program *p, ebm_error *err)
{
    for (int i = 0; i < p->g->n_nodes; i++) {
        const ir_node *nd = &p->g->nodes[i];
        ebmc_cg_value *v = &p->v[i];
        if (v->store == EBMC_STORE_PARAM) {
            int k = ebmc_model_find_param(m, nd->name);
            if (k < 0 || !ir_shape_eq(&nd->shape, &m->params[k].node->shape)) {
                char lb[256];
                return ebm_fail(err, EBM_ERR_INTERNAL, "codegen: %s program: parameter %s is not in the energy graph",
                                p->prefix, ir_node_label(p->g, i, lb, sizeof lb));
            }
            v->param = k;
            v->offset = m->params[k].offset;
        } else if (v->store == EBMC_STORE_CONST) {
            int64_t numel = ir_shape_numel(&nd->shape, 0);
            v->offset = numel > INLINE_CONST_MAX ? blob_append(m, nd->data, numel, err) : -1;
            if (numel > INLINE_CONST_MAX && v->offset < 0)
                return EBM_ERR_NOMEM;
        }
    }
    return EBM_OK;
}

/* ---- building the model ------------------------------------------------------------------ */

static int output_index(const ir_graph *g, const char *name)
{
    for (int j = 0; j < g->n_outputs; j++)
        if (g->output_names[j] && strcmp(g->output_names[j], name) == 0)
            return j;
    return -1;
}

/* The node of program p's output `name` (check_outputs has made sure it exists). */
int ebmc_program_output(const ebmc_cg_program *p, const char *name)
{
    return p->g->outputs[output_index(p->g, name)];
}

/* The score and energy programs' arena, then the noise: a tile's when the
 * update is fused into the score's loop, else EBM_NOISE_ROWS rows. */
int64_t ebmc_model_eps_offset(const ebmc_model *m)
{
    int64_t a = m->prog[EBMC_CG_SCORE]->arena_bytes, b = m->prog[EBMC_CG_ENERGY]->arena_bytes;
    return a > b ? a : b;
}

/* Sample rows whose noise is drawn together: enough for 256 normals. */
int64_t ebmc_model_noise_rows(const ebmc_model *m)
{
    return m->sample_numel >= 256 ? 1 : 256 / m->sample_numel;
}

int64_t ebmc_model_langevin_arena(const ebmc_model *m)
{
    return ebmc_model_eps_offset(m) + ebmc_float_bytes((m->lv_kernel >= 0 ? m->tile : ebmc_model_noise_rows(m)) * m->sample_numel);
}

static int64_t largest_arena(const ebmc_model *m)
{
    int64_t best = 0;
    for (int k = 0; k < m->n_prog; k++)
        if (m->prog[k]->arena_bytes > best)
            best = m->prog[k]->arena_bytes;
    return best;
}

static ebm_status plan_all(ebmc_model *m, int64_t tile, ebm_error *err)
{
    m->tile = tile;
    for (int k = 0; k < m->n_prog; k++) {
        ebm_status st = ebmc_cg_program_plan(m->prog[k], tile, err);
        if (st)
            return st;
    }
    return EBM_OK;
}

/* The automatic tile: EBMC_DEFAULT_TILE samples, halved while an arena
 * exceeds EBMC_ARENA_BUDGET (a tile of big images must still fit memory),
 * then while the tile's activations outgrow the caches: halving stops at
 * EBMC_CACHE_TILE (a Winograd chunk is 16 samples) or when the half it
 * removes held at most EBMC_CACHE_BUDGET / 2.  Measured on the mnist preset
 * (2 threads, batch 64, A/B): its parameter gradient 4.0-4.6 ms on tiles of
 * 64 (one tile: one thread), 2.3-2.4 on 16; the Langevin step 0.97 against
 * 0.96 (libebm splits the one tile of 64 into two parts of 32 already).
 * MLPs keep 64. */
static ebm_status choose_tile(ebmc_model *m, ebm_error *err)
{
    if (m->o->tile > 0)
        return EBM_OK;
    while (m->tile > 1 && largest_arena(m) > EBMC_ARENA_BUDGET) {
        ebm_status st = plan_all(m, m->tile / 2, err);
        if (st)
            return st;
    }
    while (m->tile > EBMC_CACHE_TILE) {
        const int64_t tile = m->tile, arena = largest_arena(m);
        ebm_status st = plan_all(m, tile / 2, err);
        if (st)
            return st;
        if (arena - largest_arena(m) <= EBMC_CACHE_BUDGET / 2)
            return plan_all(m, tile, err);
    }
    return EBM_OK;
}

static ebm_status check_energy(const ir_graph *e, ebm_error *err)
{
    if (!e || e->n_inputs != 1 || e->n_outputs != 1)
        return ebm_fail(err, EBM_ERR_INVALID, "codegen: expected an energy graph with one input x and one output "
                        "energy");
    const ir_shape *xs = &e->nodes[e->inputs[0]].shape;
    for (int i = 1; i < xs->rank; i++)
        if (xs->d[i] == IR_DIM_N) {
            char sb[64];
            return ebm_fail(err, EBM_ERR_SHAPE, "codegen: the input %s may hold the batch dimension N only first",
                            ir_shape_str(xs, sb, sizeof sb));
        }
    return EBM_OK;
}

/* Every output the entry points read exists: energy (and score; dsm_grad:
 * loss), and one parameter per "grad:<name>". */
static ebm_status check_outputs(const ebmc_model *m, ebm_error *err)
{
    for (int k = 0; k < m->n_prog; k++) {
        const ir_graph *g = m->prog[k]->g;
        const char *first = k == EBMC_CG_DSM ? "loss" : "energy", *need = k == EBMC_CG_SCORE ? "score" : first;
        if (output_index(g, first) < 0 || output_index(g, need) < 0)
            return ebm_fail(err, EBM_ERR_INTERNAL, "codegen: the %s program has no '%s' output",
                            m->prog[k]->prefix, need);
        for (int j = 0; (k == EBMC_CG_PARAM_GRAD || k == EBMC_CG_DSM) && j < g->n_outputs; j++) {
            const char *name = g->output_names[j];
            if (name && strncmp(name, "grad:", 5) == 0 && ebmc_model_find_param(m, name + 5) < 0)
                return ebm_fail(err, EBM_ERR_INTERNAL, "codegen: %s output '%s' names no parameter",
                                m->prog[k]->prefix, name);
        }
    }
    return EBM_OK;
}

ebm_status ebmc_model_build(ebmc_model *m, const ir_graph *energy, const ebmc_compile_options *o, ebm_error *err)
{
    memset(m, 0, sizeof *m);
    m->energy = energy;
    m->o = o;
    m->tile = o->tile > 0 ? o->tile : EBMC_DEFAULT_TILE;
    m->lv_kernel = -1;
    m->n_prog = o->dsm ? EBMC_CG_NPROG : EBMC_CG_DSM;
    ebm_status st = check_energy(energy, err);
    if (!st)
        st = collect_params(m, err);
    for (int k = 0; k < m->n_prog && !st; k++)
        st = ebmc_cg_program_build(energy, cg_kinds[k], m->tile, &m->prog[k], err);
    if (!st)
        st = choose_tile(m, err);
    for (int k = 0; k < m->n_prog && !st; k++)
        st = link_constants(m, m->prog[k], err);
    if (!st)
        st = check_outputs(m, err);
    if (!st) {
        const ebmc_cg_program *p = m->prog[EBMC_CG_SCORE];
        m->sample_numel = ir_shape_numel(&energy->nodes[energy->inputs[0]].shape, 1);
        m->lv_kernel = ebmc_langevin_kernel(p, ebmc_program_output(p, "score"));
    }
    return st;
}


void ebmc_model_report_plan(const ebmc_model *m)
{
    for (int k = 0; k < m->n_prog; k++) {
        const ebmc_cg_program *p = m->prog[k];
        fprintf(stderr, "ebmc: %s program: %d nodes, %d buffers, arena %lld bytes for a tile of %lld "
                "(sum of intermediates %lld bytes, %.1f%%)\n",
                p->prefix, p->g->n_nodes, p->n_bufs, (long long)p->arena_bytes, (long long)p->tile,
                (long long)p->sum_bytes, p->sum_bytes ? 100.0 * (double)p->arena_bytes / (double)p->sum_bytes : 100.0);
    }
}
