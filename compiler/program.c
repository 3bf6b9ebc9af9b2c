/* program.c — one program made ready for a backend: built from
 * the energy graph, scheduled, every value given a storage (arena, input,
 * parameter, constant, or none for views), its kernels selected
 * (kernel_select.c) and the arena planned from their descriptors.
 *
 * After scheduling, fuse.c groups elementwise nodes into loops and renumbers
 * the graph so each group's nodes are consecutive; a member read only inside
 * its group gets no storage (EBMC_STORE_REG).  Live ranges are schedule
 * positions of kernels: a value is live from the node of the kernel that
 * computes it (a group's last node) to the kernel of its last reader; readers
 * through views (reshapes, folded transposes) count for the storage they read.  Outputs and
 * weight-only values live to the end: outputs are copied out after the body,
 * and the weight-only prologue runs once per call while the body may run K
 * times (Langevin).  A kernel's scratch (im2col, Winograd tiles) lives at its
 * node only, and the weights the prologue prepares for it live throughout;
 * both sizes are its descriptor's, which depend on the tile, so kernels are
 * selected again each time the arena is planned for a tile.  No
 * kernel writes in place: a buffer whose last reader is node i is not reused
 * for node i's result, so kernels may take restrict pointers.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "passes.h"
#include "plan.h"

static const char *program_prefix(ebmc_program kind)
{
    return kind == EBMC_PROGRAM_PARAM_GRAD ? "param_grad" : ebmc_program_name(kind);
}

void ebmc_cg_program_free(ebmc_cg_program *p)
{
    if (!p)
        return;
    ir_graph_free(p->g);
    ebmc_graph_info_free(&p->info);
    free(p->v);
    free(p->kern);
    free(p->bufs);
    free(p);
}

/* The C backend handles what the executor handles, minus zero-size tensors
 * (BLAS rejects zero leading dimensions; no real model has them). */
static ebm_status check_node(const ebmc_cg_program *p, int id, ebm_error *err)
{
    const ir_node *nd = &p->g->nodes[id];
    for (int i = 0; i < nd->shape.rank; i++)
        if (nd->shape.d[i] == 0) {
            char lb[256], sb[64];
            return ebm_fail(err, EBM_ERR_UNSUPPORTED, "codegen: %s has a zero-size shape %s",
                            ir_node_label(p->g, id, lb, sizeof lb), ir_shape_str(&nd->shape, sb, sizeof sb));
        }
    return EBM_OK;
}

/* A fused member read only by its own group (and not an output) needs no storage. */
static int read_outside_group(const ebmc_cg_program *p, const int *group, int i)
{
    const ebmc_graph_info *gi = &p->info;
    if (gi->output[i])
        return 1;
    for (int u = gi->user_start[i]; u < gi->user_start[i + 1]; u++)
        if (group[gi->users[u]] != group[i])
            return 1;
    return 0;
}

static ebm_status assign_storage(ebmc_cg_program *p, const int *group, ebm_error *err)
{
    const ir_graph *g = p->g;
    for (int i = 0; i < g->n_nodes; i++) {
        const ir_node *nd = &g->nodes[i];
        ebmc_cg_value *v = &p->v[i];
        v->kernel = group[i];
        v->buffer = v->scratch_buffer = v->pro_buffer = v->param = -1;
        v->offset = -1;
        ebm_status st = check_node(p, i, err);
        if (st)
            return st;
        if (nd->op == IR_OP_INPUT) {
            v->store = EBMC_STORE_INPUT;
            for (int k = 0; k < g->n_inputs; k++)
                if (g->inputs[k] == i)
                    v->slot = k;
        } else if (nd->op == IR_OP_CONST) {
            v->store = (nd->flags & IR_NODE_PARAM) ? EBMC_STORE_PARAM : EBMC_STORE_CONST;
        } else if (p->info.view[i] == EBMC_VIEW_NONE) {
            v->store = group[i] != i && !read_outside_group(p, group, i) ? EBMC_STORE_REG : EBMC_STORE_ARENA;
        }
    }
    if (g->n_inputs < 1 || g->n_inputs > 2)
        return ebm_fail(err, EBM_ERR_INTERNAL, "codegen: the %s program has %d inputs", p->prefix, g->n_inputs);
    return EBM_OK;
}

/* Last schedule position (kernel) reading each arena value (n_nodes = the end). */
static void live_ends(const ebmc_cg_program *p, int *last)
{
    const ir_graph *g = p->g;
    for (int i = 0; i < g->n_nodes; i++)
        last[i] = p->v[i].kernel >= 0 ? p->v[i].kernel : i;
    for (int i = 0; i < g->n_nodes; i++) {
        int at = p->v[i].kernel;
        if (at < 0)
            continue;
        for (int k = 0; k < g->nodes[i].n_in; k++) {
            int r = p->info.root[g->nodes[i].in[k]];
            if (last[r] < at)
                last[r] = at;
        }
        if (p->info.invariant[i])
            last[i] = g->n_nodes;
    }
    for (int j = 0; j < g->n_outputs; j++)
        last[p->info.root[g->outputs[j]]] = g->n_nodes;
}

static ebm_status add_buffer(ebmc_cg_program *p, int node, int first, int last, int64_t bytes, int scratch,
                             ebm_error *err)
{
    /* BLAS takes int sizes, and a matrix is at most one buffer */
    if (bytes < 0 || bytes / 4 > INT_MAX) {
        char lb[256];
        return ebm_fail(err, EBM_ERR_UNSUPPORTED, "codegen: %s is too large for a tile of %lld samples (use a "
                        "smaller --tile)", ir_node_label(p->g, node, lb, sizeof lb), (long long)p->tile);
    }
    ebmc_buffer *b = &p->bufs[p->n_bufs++];
    memset(b, 0, sizeof *b);
    b->size = bytes;
    b->first = first;
    b->last = last;
    b->node = node;
    b->scratch = scratch;
    return EBM_OK;
}

ebm_status ebmc_cg_program_plan(ebmc_cg_program *p, int64_t tile, ebm_error *err)
{
    const ir_graph *g = p->g;
    int *last = malloc(((size_t)g->n_nodes + 1) * sizeof *last);
    if (!last)
        return ebm_fail(err, EBM_ERR_NOMEM, "codegen: out of memory planning the %s program", p->prefix);
    p->tile = tile;
    p->n_bufs = 0;
    live_ends(p, last);
    ebmc_kernel_select(p);
    ebm_status st = EBM_OK;
    for (int i = 0; i < g->n_nodes && !st; i++) {
        ebmc_cg_value *v = &p->v[i];
        if (v->store != EBMC_STORE_ARENA)
            continue;
        v->buffer = p->n_bufs;
        const ebmc_kernel *kd = &p->kern[i];
        st = add_buffer(p, i, v->kernel, last[i], ebmc_value_bytes(&g->nodes[i].shape, tile), 0, err);
        if (!st && kd->scratch_floats > 0) {
            v->scratch_buffer = p->n_bufs;
            st = add_buffer(p, i, i, i, ebmc_float_bytes(kd->scratch_floats), 1, err);
        }
        if (!st && kd->pro_floats > 0) {   /* written by the prologue, read by every run of the body */
            v->pro_buffer = p->n_bufs;
            st = add_buffer(p, i, 0, g->n_nodes, ebmc_float_bytes(kd->pro_floats), 0, err);
        }
    }
    free(last);
    if (!st)
        st = ebmc_memplan_place(p->bufs, p->n_bufs, &p->arena_bytes, err);
    if (!st)
        st = ebmc_memplan_check(p->bufs, p->n_bufs, p->arena_bytes, err);
    p->sum_bytes = 0;
    for (int k = 0; k < p->n_bufs && !st; k++) {
        p->sum_bytes += p->bufs[k].size;
        ebmc_cg_value *v = &p->v[p->bufs[k].node];
        if (k == v->buffer)   /* not its kernel's scratch or prologue weights */
            v->offset = p->bufs[k].offset;
    }
    return st;
}

/* Groups the scheduled graph's elementwise nodes into loops, makes each
 * group contiguous, and analyses the final graph (p->info). */
static ebm_status fuse(ebmc_cg_program *p, int **group, ebm_error *err)
{
    *group = malloc(((size_t)p->g->n_nodes + 1) * sizeof **group);
    if (!*group)
        return ebm_fail(err, EBM_ERR_NOMEM, "codegen: out of memory");
    ebmc_graph_info gi;
    ebm_status st = ebmc_graph_info_make(p->g, &gi, err);
    if (!st)
        st = ebmc_fuse_groups(p->g, &gi, *group, err);
    ebmc_graph_info_free(&gi);
    if (!st)
        st = ebmc_fuse_order(p->g, *group, err);
    if (!st)
        st = ir_verify(p->g, err);
    if (!st)
        st = ebmc_graph_info_make(p->g, &p->info, err);
    return st;
}

ebm_status ebmc_cg_program_build(const ir_graph *energy, ebmc_program kind, int64_t tile, ebmc_cg_program **out,
                                 ebm_error *err)
{
    *out = NULL;
    ebmc_cg_program *p = calloc(1, sizeof *p);
    if (!p)
        return ebm_fail(err, EBM_ERR_NOMEM, "codegen: out of memory");
    p->kind = kind;
    p->prefix = program_prefix(kind);
    ebmc_options o = {.verify = 1};
    int *group = NULL;
    ebm_status st = ebmc_build_program(energy, kind, &p->g, err);
    if (!st)
        st = ebmc_pass_schedule(p->g, &o, err);
    if (!st)
        st = fuse(p, &group, err);
    if (!st) {
        size_t n = (size_t)p->g->n_nodes + 1;
        p->v = calloc(n, sizeof *p->v);
        p->kern = calloc(n, sizeof *p->kern);
        p->bufs = calloc(3 * n, sizeof *p->bufs);   /* a value, a scratch and prologue weights per node at most */
        if (!p->v || !p->kern || !p->bufs)
            st = ebm_fail(err, EBM_ERR_NOMEM, "codegen: out of memory");
    }
    if (!st)
        st = assign_storage(p, group, err);
    free(group);
    if (!st)
        st = ebmc_cg_program_plan(p, tile, err);
    if (st) {
        ebm_error_prefix(err, "%s program", p->prefix);
        ebmc_cg_program_free(p);
        return st;
    }
    *out = p;
    return EBM_OK;
}
