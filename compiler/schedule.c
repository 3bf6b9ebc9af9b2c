/* schedule.c — the execution order of a program, chosen to keep the arena
 * small (the graph facts it reads are graph_info.c's).
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

#include "passes.h"
#include "schedule.h"

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
