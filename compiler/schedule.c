/* schedule.c — the execution order of a program, chosen to keep the arena
 * small, and the graph facts (users, views, invariants) that both the
 * scheduler and the C backend read.
 *
 * The order is greedy list scheduling over the ready nodes (all operands
 * computed):
 *   1. sources and views first: they allocate nothing;
 *   2. then weight-only nodes (no graph input upstream, static shape), so they
 *      form a prologue that the Langevin program runs once per call instead of
 *      once per step;
 *   3. otherwise the node with the largest (bytes it frees - bytes it
 *      allocates), ties to the lowest id (the builder's order).
 * A node frees an operand's storage when it is the last unscheduled reader of
 * it.  Finding the order with the least peak is NP-hard; this greedy rule is
 * what keeps, e.g., two branches that each start with a big activation and end
 * with a small one from being computed breadth-first (peak big+big) instead of
 * depth-first (big+small).
 */
#include <stdlib.h>
#include <string.h>

#include "codegen_internal.h"
#include "passes.h"

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
    int packs = gi->invariant[nd->in[0]] &&   /* weights, see codegen_c_gemm.c */
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

/* ---- the greedy order ------------------------------------------------------------- */

typedef struct sched {
    const ir_graph *g;
    ebmc_graph_info gi;
    int64_t *bytes;     /* arena bytes of each storage root (0: no arena storage) */
    int *uses_left;     /* per root: unscheduled operand references reading it */
    unsigned char *pinned; /* per root: live to the end (outputs, invariants) */
    int *pending;       /* per node: operand references not yet scheduled */
    int *ready, n_ready;
} sched;

static int is_computed(const ir_graph *g, const ebmc_graph_info *gi, int id)
{
    return ir_op_get(g->nodes[id].op)->arity != 0 && gi->view[id] == EBMC_VIEW_NONE;
}

/* Bytes freed by running v: operand roots whose every remaining reader is v. */
static int64_t freed_by(const sched *s, int v)
{
    const ir_node *nd = &s->g->nodes[v];
    int64_t freed = 0;
    for (int k = 0; k < nd->n_in; k++) {
        int r = s->gi.root[nd->in[k]], seen = 0, count = 0;
        for (int j = 0; j < k && !seen; j++)
            seen = s->gi.root[nd->in[j]] == r;
        if (seen || s->pinned[r] || !s->bytes[r])
            continue;
        for (int j = k; j < nd->n_in; j++)
            count += s->gi.root[nd->in[j]] == r;
        if (s->uses_left[r] == count)
            freed += s->bytes[r];
    }
    return freed;
}

/* Priority class (lower runs first) and, within the class, the score. */
static int pick(const sched *s)
{
    int best = -1, best_cls = 3;
    int64_t best_score = 0;
    for (int k = 0; k < s->n_ready; k++) {
        int v = s->ready[k];
        int cls = !is_computed(s->g, &s->gi, v) ? 0 : s->gi.invariant[v] ? 1 : 2;
        int64_t score = cls == 2 ? freed_by(s, v) - s->bytes[v] : 0;
        if (best < 0 || cls < best_cls || (cls == best_cls && (score > best_score ||
                                                               (score == best_score && v < s->ready[best])))) {
            best = k;
            best_cls = cls;
            best_score = score;
        }
    }
    return best;
}

static void run_node(sched *s, int v)
{
    const ir_node *nd = &s->g->nodes[v];
    if (is_computed(s->g, &s->gi, v))
        for (int k = 0; k < nd->n_in; k++)
            s->uses_left[s->gi.root[nd->in[k]]]--;
    for (int u = s->gi.user_start[v]; u < s->gi.user_start[v + 1]; u++) {
        int w = s->gi.users[u];
        if (--s->pending[w] == 0)
            s->ready[s->n_ready++] = w;
    }
}

static ebm_status sched_init(sched *s, const ir_graph *g, int64_t n, ebm_error *err)
{
    memset(s, 0, sizeof *s);
    s->g = g;
    ebm_status st = ebmc_graph_info_make(g, &s->gi, err);
    if (st)
        return st;
    size_t cnt = (size_t)g->n_nodes + 1;
    s->bytes = calloc(cnt, sizeof *s->bytes);
    s->uses_left = calloc(cnt, sizeof *s->uses_left);
    s->pinned = calloc(cnt, 1);
    s->pending = calloc(cnt, sizeof *s->pending);
    s->ready = malloc(cnt * sizeof *s->ready);
    if (!s->bytes || !s->uses_left || !s->pinned || !s->pending || !s->ready)
        return ebm_fail(err, EBM_ERR_NOMEM, "schedule: out of memory");
    for (int i = 0; i < g->n_nodes; i++) {
        const ir_node *nd = &g->nodes[i];
        if (is_computed(g, &s->gi, i)) {
            s->bytes[i] = ebmc_value_bytes(&nd->shape, n);
            if (s->bytes[i] < 0)
                return ebm_fail(err, EBM_ERR_UNSUPPORTED, "schedule: node %%%d is too large", i);
            for (int k = 0; k < nd->n_in; k++)
                s->uses_left[s->gi.root[nd->in[k]]]++;
        }
        s->pending[i] = nd->n_in;
        if (nd->n_in == 0)
            s->ready[s->n_ready++] = i;
        if (s->gi.output[i] || s->gi.invariant[i])
            s->pinned[s->gi.root[i]] = 1;
    }
    return EBM_OK;
}

static void sched_free(sched *s)
{
    ebmc_graph_info_free(&s->gi);
    free(s->bytes);
    free(s->uses_left);
    free(s->pinned);
    free(s->pending);
    free(s->ready);
}

ebm_status ebmc_schedule_order(const ir_graph *g, int64_t n, int *order, ebm_error *err)
{
    sched s;
    ebm_status st = sched_init(&s, g, n, err);
    int done = 0;
    while (!st && s.n_ready > 0) {
        int k = pick(&s);
        int v = s.ready[k];
        s.ready[k] = s.ready[--s.n_ready];
        order[done++] = v;
        run_node(&s, v);
    }
    if (!st && done != g->n_nodes)
        st = ebm_fail(err, EBM_ERR_INVALID, "schedule: the graph has a cycle or a bad operand (%d of %d nodes ordered)",
                      done, g->n_nodes);
    sched_free(&s);
    return st;
}

int64_t ebmc_schedule_peak_bytes(const ir_graph *g, int64_t n)
{
    sched s;
    int64_t live = 0, peak = 0;
    if (sched_init(&s, g, n, NULL)) {
        sched_free(&s);
        return -1;
    }
    for (int v = 0; v < g->n_nodes; v++) {
        live += s.bytes[v];
        peak = live > peak ? live : peak;
        int64_t freed = is_computed(g, &s.gi, v) ? freed_by(&s, v) : 0;
        run_node(&s, v);
        live -= freed;
    }
    sched_free(&s);
    return peak;
}

/* ---- the pass: renumber the graph into the order -------------------------------------- */

ebm_status ebmc_graph_permute(ir_graph *g, const int *order, ebm_error *err)
{
    int n = g->n_nodes;
    int *new_id = malloc(((size_t)n + 1) * sizeof *new_id);
    ir_node *nodes = malloc(((size_t)g->cap_nodes + 1) * sizeof *nodes);
    if (!new_id || !nodes) {
        free(new_id);
        free(nodes);
        return ebm_fail(err, EBM_ERR_NOMEM, "schedule: out of memory");
    }
    for (int k = 0; k < n; k++)
        new_id[order[k]] = k;
    for (int k = 0; k < n; k++) {
        nodes[k] = g->nodes[order[k]];
        for (int j = 0; j < nodes[k].n_in; j++)
            nodes[k].in[j] = new_id[nodes[k].in[j]];
    }
    for (int k = 0; k < g->n_inputs; k++)
        g->inputs[k] = new_id[g->inputs[k]];
    for (int k = 0; k < g->n_outputs; k++)
        g->outputs[k] = new_id[g->outputs[k]];
    free(g->nodes);
    g->nodes = nodes;
    free(new_id);
    return EBM_OK;
}

/* The batch size the order is chosen for: sizes are affine in N, so any
 * tile-sized N ranks the nodes alike. */
#define SCHEDULE_N 64

ebm_status ebmc_pass_schedule(ir_graph *g, const ebmc_options *o, ebm_error *err)
{
    int *order = malloc(((size_t)g->n_nodes + 1) * sizeof *order);
    if (!order)
        return ebm_fail(err, EBM_ERR_NOMEM, "schedule: out of memory");
    ebm_status st = ebmc_schedule_order(g, SCHEDULE_N, order, err);
    if (!st)
        st = ebmc_graph_permute(g, order, err);
    free(order);
    if (!st && o && o->verify)
        st = ir_verify(g, err);
    return st;
}
