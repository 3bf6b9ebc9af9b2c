/* graph_info.c — the facts about a program's graph that the scheduler, the
 * fuser, kernel selection and the backend all read: each node's users, whether
 * it is a view of another node's storage (a reshape, a transpose that moves
 * no data, or one folded into the matmuls that read it), the storage root it
 * reads, whether it is weight-only (computed once per call, the prologue),
 * and whether it is a graph output; and the byte sizes the planner uses.
 */
#include <stdlib.h>
#include <string.h>

#include "kernel_select.h"
#include "schedule.h"

int64_t ebmc_float_bytes(int64_t floats)
{
    return floats < 0 || floats > INT64_MAX / 8 ? -1 : (floats * 4 + EBMC_ALIGN - 1) / EBMC_ALIGN * EBMC_ALIGN;
}

int64_t ebmc_value_bytes(const ir_shape *s, int64_t n)
{
    int64_t k = 1;
    for (int i = 0; i < s->rank; i++) {
        int64_t d = s->d[i] == IR_DIM_N ? n : s->d[i];
        if (d < 0 || (d != 0 && k > INT64_MAX / 8 / d))
            return -1;
        k *= d;
    }
    return ebmc_float_bytes(k);
}

/* ---- views ------------------------------------------------------------------ */

/* A transpose whose size>1 axes keep their relative order moves no data. */
static int transpose_is_alias(const ir_graph *g, const ir_node *nd)
{
    const ir_shape *s = &g->nodes[nd->in[0]].shape;
    int last = -1;
    for (int i = 0; i < nd->shape.rank; i++) {
        int p = nd->attr.perm[i];
        if (s->d[p] == 1)
            continue;
        if (p < last)
            return 0;
        last = p;
    }
    return 1;
}

/* Transpose of the last two axes, identity on the others. */
static int transpose_swaps_last_two(const ir_node *nd)
{
    int r = nd->shape.rank;
    if (r < 2 || nd->attr.perm[r - 2] != r - 1 || nd->attr.perm[r - 1] != r - 2)
        return 0;
    for (int i = 0; i < r - 2; i++)
        if (nd->attr.perm[i] != i)
            return 0;
    return 1;
}

static ebmc_view view_kind(const ir_graph *g, const ebmc_graph_info *gi, int id)
{
    const ir_node *nd = &g->nodes[id];
    if (nd->op == IR_OP_RESHAPE)
        return EBMC_VIEW_ALIAS;
    if (nd->op != IR_OP_TRANSPOSE)
        return EBMC_VIEW_NONE;
    if (transpose_is_alias(g, nd))
        return EBMC_VIEW_ALIAS;
    if (!transpose_swaps_last_two(nd) || gi->output[id] || gi->user_start[id] == gi->user_start[id + 1])
        return EBMC_VIEW_NONE;
    int packs = gi->invariant[nd->in[0]] &&   /* weights, see kernel_select.c */
                ebmc_gemm_packs_transpose(nd->shape.d[nd->shape.rank - 2], nd->shape.d[nd->shape.rank - 1]);
    for (int u = gi->user_start[id]; u < gi->user_start[id + 1]; u++) {
        const ir_node *user = &g->nodes[gi->users[u]];
        if (user->op != IR_OP_MATMUL)
            return EBMC_VIEW_NONE;
        packs &= user->in[1] == id && user->in[0] != id;
    }
    return packs ? EBMC_VIEW_NONE : EBMC_VIEW_MATMUL_T;
}

/* ---- graph info ----------------------------------------------------------------- */

void ebmc_graph_info_free(ebmc_graph_info *gi)
{
    free(gi->user_start);
    free(gi->users);
    free(gi->view);
    free(gi->root);
    free(gi->invariant);
    free(gi->output);
    memset(gi, 0, sizeof *gi);
}

static void fill_users(const ir_graph *g, ebmc_graph_info *gi)
{
    int n = g->n_nodes;
    memset(gi->user_start, 0, ((size_t)n + 1) * sizeof *gi->user_start);
    for (int i = 0; i < n; i++)
        for (int k = 0; k < g->nodes[i].n_in; k++)
            gi->user_start[g->nodes[i].in[k] + 1]++;
    for (int i = 0; i < n; i++)
        gi->user_start[i + 1] += gi->user_start[i];
    int *fill = gi->root;   /* borrowed as a cursor; root is computed afterwards */
    memcpy(fill, gi->user_start, (size_t)n * sizeof *fill);
    for (int i = 0; i < n; i++)
        for (int k = 0; k < g->nodes[i].n_in; k++)
            gi->users[fill[g->nodes[i].in[k]]++] = i;
}

ebm_status ebmc_graph_info_make(const ir_graph *g, ebmc_graph_info *gi, ebm_error *err)
{
    memset(gi, 0, sizeof *gi);
    int n = g->n_nodes, refs = 0;
    for (int i = 0; i < n; i++)
        refs += g->nodes[i].n_in;
    gi->n = n;
    gi->user_start = malloc(((size_t)n + 1) * sizeof *gi->user_start);
    gi->users = malloc(((size_t)refs + 1) * sizeof *gi->users);
    gi->view = calloc((size_t)n + 1, 1);
    gi->root = malloc(((size_t)n + 1) * sizeof *gi->root);
    gi->invariant = calloc((size_t)n + 1, 1);
    gi->output = calloc((size_t)n + 1, 1);
    if (!gi->user_start || !gi->users || !gi->view || !gi->root || !gi->invariant || !gi->output) {
        ebmc_graph_info_free(gi);
        return ebm_fail(err, EBM_ERR_NOMEM, "codegen: out of memory for the graph analysis");
    }
    for (int j = 0; j < g->n_outputs; j++)
        if (g->outputs[j] >= 0 && g->outputs[j] < n)
            gi->output[g->outputs[j]] = 1;
    fill_users(g, gi);
    for (int i = 0; i < n; i++) {
        const ir_node *nd = &g->nodes[i];
        gi->view[i] = (unsigned char)view_kind(g, gi, i);
        gi->root[i] = gi->view[i] ? gi->root[nd->in[0]] : i;
        int inv = nd->op != IR_OP_INPUT && !ir_shape_has_batch(&nd->shape);
        for (int k = 0; k < nd->n_in && inv; k++)
            inv = gi->invariant[nd->in[k]];
        gi->invariant[i] = (unsigned char)inv;
    }
    return EBM_OK;
}


int ebmc_operand_src(const ir_graph *g, const ebmc_graph_info *gi, int id, int k)
{
    int x = g->nodes[id].in[k];
    return gi->view[x] == EBMC_VIEW_MATMUL_T ? g->nodes[x].in[0] : x;
}
