/* fuse.c — loop fusion: which nodes of a scheduled program one kernel computes.
 *
 * Decided by pattern class (the FUSE_CLASS column of ir/ops.def, as TVM's
 * FuseOps does), never by op name: nodes of class ELEMWISE or BROADCAST that
 * have a scalar expression (and BROADCAST itself, the identity read through a
 * broadcast) and the same result shape form groups; a group becomes one loop
 * over that shape (codegen_c_kernels.c).  Inside the loop a member's value is
 * a local variable; only members read outside the group (or graph outputs)
 * are stored, so the memory planner gives arena bytes to those alone.  The
 * loop of a group reading a MATMUL/CONV result runs right after that GEMM: its
 * elementwise epilogue (bias, activation; sigma'(z)*g backwards).  A sum
 * over the last axis of a member can end a group (a sink, ebmc_fuse_sink):
 * the loop then accumulates it, and the group takes no more members.
 *
 * Grouping walks the nodes in schedule order and merges a node into the group
 * of each fusible operand of the same shape, unless the merge would make the
 * groups' dependency graph cyclic (some node outside the group both reads a
 * member and feeds one), or the loop would take more than EBMC_FUSE_MAX_IO
 * arrays.  Weight-only (prologue) and per-sample nodes never share a group.
 * ebmc_fuse_order then renumbers the graph so every group is a run of
 * consecutive ids ending at its kernel's node, its last member.
 */
#include <stdlib.h>
#include <string.h>

#include "schedule.h"

int ebmc_fusible(const ir_graph *g, const ebmc_graph_info *gi, int id)
{
    const ir_node *nd = &g->nodes[id];
    const ir_op_info *info = ir_op_get(nd->op);
    if (gi->view[id] != EBMC_VIEW_NONE || info->arity == 0 || nd->n_in > 3)
        return 0;
    if (info->fuse != IR_FUSE_ELEMWISE && info->fuse != IR_FUSE_BROADCAST)
        return 0;
    return info->elementwise || nd->op == IR_OP_BROADCAST;
}

/* ---- union-find with the group's largest id as its name ---------------------------- */

typedef struct fuser {
    const ir_graph *g;
    const ebmc_graph_info *gi;
    int *parent;
    unsigned char *member;   /* scratch: the tentative group */
    unsigned char *reach;    /* scratch: reachable from it through non-members */
    unsigned char *greach;   /* scratch, by group name: a member is reachable */
    int *ext;                /* scratch: distinct external operand roots */
    unsigned char *closed;   /* by group name: ends in a reduction, takes no more members */
} fuser;

static int find(fuser *f, int i)
{
    while (f->parent[i] != i) {
        f->parent[i] = f->parent[f->parent[i]];
        i = f->parent[i];
    }
    return i;
}

/* Marks the members of groups a and b; returns the lowest member id. */
static int mark_union(fuser *f, int a, int b, int hi)
{
    int lo = hi + 1;
    for (int j = 0; j <= hi; j++) {
        int r = f->parent[j] >= 0 ? find(f, j) : -1;
        f->member[j] = (unsigned char)(r >= 0 && (r == a || r == b));
        if (f->member[j] && j < lo)
            lo = j;
    }
    return lo;
}

/* A node outside the union that reads a member and (through any path) feeds
 * another member would have to run both before and after the loop.  Paths
 * run through other groups as whole units: once one member of a group is
 * reached, the group's loop runs after the union, and so do all its members
 * (one reached through its last member may feed the union through its
 * first, LayerNorm's backward pass over [N,T,E]).  Iterated to a fixed point,
 * as a group's members may come before the member that is reached. */
static int makes_cycle(fuser *f, int lo, int hi)
{
    const ir_graph *g = f->g;
    for (int j = 0; j <= hi; j++) {
        f->reach[j] = 0;
        f->greach[j] = 0;
    }
    for (int changed = 1; changed;) {
        changed = 0;
        for (int j = lo; j <= hi; j++) {
            if (f->member[j] || f->reach[j])
                continue;
            const ir_node *nd = &g->nodes[j];
            int root = f->parent[j] >= 0 ? find(f, j) : -1;
            int r = root >= 0 && f->greach[root];
            for (int k = 0; k < nd->n_in && !r; k++) {
                int q = nd->in[k];
                r = q >= lo && (f->member[q] || f->reach[q]);
            }
            if (r) {
                f->reach[j] = 1;
                if (root >= 0 && !f->greach[root])
                    f->greach[root] = 1, changed = 1;
            }
        }
    }
    for (int j = lo; j <= hi; j++) {
        if (!f->member[j])
            continue;
        const ir_node *nd = &g->nodes[j];
        for (int k = 0; k < nd->n_in; k++) {
            int q = nd->in[k];
            if (!f->member[q] && (f->reach[q] || (f->parent[q] >= 0 && f->greach[find(f, q)])))
                return 1;
        }
    }
    return 0;
}

/* Arrays the union's loop would take: distinct external operands and members
 * read outside (users past hi are outside; the union only grows upwards). */
static int io_count(fuser *f, int lo, int hi)
{
    const ir_graph *g = f->g;
    const ebmc_graph_info *gi = f->gi;
    int n_ext = 0, n_out = 0;
    for (int j = lo; j <= hi; j++) {
        if (!f->member[j])
            continue;
        const ir_node *nd = &g->nodes[j];
        for (int k = 0; k < nd->n_in; k++) {
            int q = nd->in[k];
            if (f->member[q])
                continue;
            int seen = 0;
            for (int e = 0; e < n_ext && !seen; e++)
                seen = f->ext[e] == q;
            if (!seen)
                f->ext[n_ext++] = q;
        }
        int stored = gi->output[j];
        for (int u = gi->user_start[j]; u < gi->user_start[j + 1] && !stored; u++)
            stored = gi->users[u] > hi || !f->member[gi->users[u]];
        n_out += stored;
    }
    return n_ext > n_out ? n_ext : n_out;
}

static ebm_status fuser_init(fuser *f, const ir_graph *g, const ebmc_graph_info *gi, int *group, ebm_error *err)
{
    memset(f, 0, sizeof *f);
    f->g = g;
    f->gi = gi;
    f->parent = group;
    size_t n = (size_t)g->n_nodes + 1;
    f->member = calloc(n, 1);
    f->reach = calloc(n, 1);
    f->greach = calloc(n, 1);
    f->ext = malloc(n * 3 * sizeof *f->ext);
    f->closed = calloc(n, 1);
    if (!f->member || !f->reach || !f->greach || !f->ext || !f->closed)
        return ebm_fail(err, EBM_ERR_NOMEM, "fuse: out of memory");
    return EBM_OK;
}

static void fuser_free(fuser *f)
{
    free(f->member);
    free(f->reach);
    free(f->greach);
    free(f->ext);
    free(f->closed);
}

/* Node i (its own group so far) takes in each fusible operand's group that it can. */
static void fuse_node(fuser *f, int i)
{
    const ir_graph *g = f->g;
    const ir_node *nd = &g->nodes[i];
    for (int k = 0; k < nd->n_in; k++) {
        int q = nd->in[k];
        if (f->parent[q] < 0 || !ebmc_fusible(g, f->gi, q) || !ir_shape_eq(&g->nodes[q].shape, &nd->shape) ||
            f->gi->invariant[q] != f->gi->invariant[i])
            continue;
        int a = find(f, q), b = find(f, i);
        if (a == b || f->closed[a] || f->closed[b])
            continue;
        int lo = mark_union(f, a, b, i);
        if (makes_cycle(f, lo, i) || io_count(f, lo, i) > EBMC_FUSE_MAX_IO)
            continue;
        f->parent[a] = b;   /* b = i, the largest id */
    }
}

/* A sum over the last axis (of length > 1) of a fusible node can end that
 * node's group: the loop then accumulates the sum as it goes instead of
 * storing the summand for a reduction kernel to read back (GroupNorm's
 * sums of x - mean squared, and their backward counterparts).  The group
 * takes no members after it: none may read the sum inside the loop. */
int ebmc_fuse_sink(const ir_graph *g, const ebmc_graph_info *gi, int id)
{
    const ir_node *nd = &g->nodes[id];
    if (nd->op != IR_OP_RSUM || gi->view[id] != EBMC_VIEW_NONE)
        return 0;
    const ir_shape *in = &g->nodes[nd->in[0]].shape;
    int r = in->rank;
    return r >= 2 && nd->attr.axes == 1u << (r - 1) && in->d[r - 1] > 1 && ebmc_fusible(g, gi, nd->in[0]);
}

static void fuse_sink(fuser *f, int i)
{
    int q = f->g->nodes[i].in[0];
    if (f->parent[q] < 0 || f->gi->invariant[q] != f->gi->invariant[i])
        return;
    int a = find(f, q), b = find(f, i);
    if (a == b || f->closed[a])
        return;
    int lo = mark_union(f, a, b, i);
    if (makes_cycle(f, lo, i) || io_count(f, lo, i) > EBMC_FUSE_MAX_IO)
        return;
    f->parent[a] = b;
    f->closed[b] = 1;
}

ebm_status ebmc_fuse_groups(const ir_graph *g, const ebmc_graph_info *gi, int *group, ebm_error *err)
{
    fuser f;
    ebm_status st = fuser_init(&f, g, gi, group, err);
    for (int i = 0; i < g->n_nodes && !st; i++) {
        int computed = ir_op_get(g->nodes[i].op)->arity != 0 && gi->view[i] == EBMC_VIEW_NONE;
        group[i] = computed ? i : -1;
        if (computed && ebmc_fusible(g, gi, i))
            fuse_node(&f, i);
        else if (computed && ebmc_fuse_sink(g, gi, i))
            fuse_sink(&f, i);
    }
    for (int i = 0; i < g->n_nodes && !st; i++)
        if (group[i] >= 0)
            group[i] = find(&f, i);
    fuser_free(&f);
    return st;
}

/* ---- making groups contiguous ----------------------------------------------------------- */

/* Kahn's algorithm over kernels (a group or a single node; sources and views
 * go with their first reader's turn, i.e. as early as possible), taking the
 * ready kernel whose node comes first in the current order, so the schedule
 * changes only where a group forces it. */
ebm_status ebmc_fuse_order(ir_graph *g, int *group, ebm_error *err)
{
    int n = g->n_nodes;
    size_t cnt = (size_t)n + 1;
    int *pending = calloc(cnt, sizeof *pending), *order = calloc(cnt, sizeof *order);
    int *new_id = malloc(cnt * sizeof *new_id), *tmp = malloc(cnt * sizeof *tmp);
    unsigned char *done = calloc(cnt, 1);
    ebm_status st = EBM_OK;
    if (!pending || !order || !new_id || !tmp || !done) {
        st = ebm_fail(err, EBM_ERR_NOMEM, "fuse: out of memory");
        goto out;
    }
    /* pending[u] = operand references of unit u's members from outside u */
    for (int i = 0; i < n; i++) {
        int u = group[i] >= 0 ? group[i] : i;
        for (int k = 0; k < g->nodes[i].n_in; k++) {
            int q = g->nodes[i].in[k];
            if ((group[q] >= 0 ? group[q] : q) != u)
                pending[u]++;
        }
    }
    int placed = 0;
    while (placed < n) {
        int pick = -1;
        for (int i = 0; i < n && pick < 0; i++) {
            int u = group[i] >= 0 ? group[i] : i;
            if (!done[i] && pending[u] == 0)
                pick = u;
        }
        if (pick < 0) {
            st = ebm_fail(err, EBM_ERR_INTERNAL, "fuse: the fused groups depend on each other in a cycle");
            goto out;
        }
        for (int i = 0; i < n; i++) {
            if (done[i] || (group[i] >= 0 ? group[i] : i) != pick)
                continue;
            done[i] = 1;
            order[placed++] = i;
        }
        for (int i = 0; i < n; i++) {
            int u = group[i] >= 0 ? group[i] : i;
            if (done[i] || u == pick)
                continue;
            for (int k = 0; k < g->nodes[i].n_in; k++) {
                int q = g->nodes[i].in[k];
                if ((group[q] >= 0 ? group[q] : q) == pick)
                    pending[u]--;
            }
        }
    }
    st = ebmc_graph_permute(g, order, err);
    if (st)
        goto out;
    for (int k = 0; k < n; k++)
        new_id[order[k]] = k;
    for (int i = 0; i < n; i++)
        tmp[new_id[i]] = group[i] >= 0 ? new_id[group[i]] : -1;
    memcpy(group, tmp, (size_t)n * sizeof *group);
out:
    free(pending);
    free(order);
    free(new_id);
    free(tmp);
    free(done);
    return st;
}
