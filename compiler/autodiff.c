/* autodiff.c — reverse-mode differentiation (ebmc_grad) and the programs
 * derived from an energy graph (ebmc_build_program).
 *
 * ebmc_grad walks the graph backwards from y, once, accumulating adjoints:
 * a value used twice gets the sum of both gradients (fan-out).  Only nodes
 * that lie on a path from some wrt value to y are differentiated, so branches
 * that do not depend on x cost nothing and yield exact zeros.
 *
 * Its result is ordinary IR, so programs may differentiate twice: the
 * denoising-score-matching program differentiates a loss built from the
 * score dE/dx with respect to the parameters.
 */
#include <stdlib.h>
#include <string.h>

#include "autodiff.h"
#include "pipeline.h"

static const ebmc_vjp_fn vjp_table[IR_OP_COUNT] = {
#define IR_OP(NAME, text, arity, cls, kern, attr, shape_rule, vjp, onnx, ex, expr, fexpr) vjp,
#include "ops.def"
#undef IR_OP
};

/* A zero tensor of the given shape (a broadcast scalar, so it stays cheap). */
static int zeros(ir_graph *g, ir_shape s, ebm_error *err)
{
    return ir_broadcast_to(g, ir_add_scalar(g, 0, err), s, NULL, err);
}

ebm_status ebmc_grad(ir_graph *g, int y, int seed, const int *wrt, int n_wrt, int *grads, ebm_error *err)
{
    int n = g->n_nodes;
    if (y < 0 || y >= n || seed < 0 || seed >= n)
        return ebm_fail(err, EBM_ERR_INTERNAL, "autodiff: bad target %%%d or seed %%%d", y, seed);
    char *active = calloc((size_t)n, 1);
    int *adj = malloc((size_t)n * sizeof *adj);
    if (!active || !adj) {
        free(active);
        free(adj);
        return ebm_fail(err, EBM_ERR_NOMEM, "autodiff: out of memory");
    }
    /* active = depends on some wrt value (forward) ... */
    for (int i = 0; i < n_wrt; i++)
        if (wrt[i] >= 0 && wrt[i] < n)
            active[wrt[i]] = 1;
    for (int i = 0; i < n; i++) {
        adj[i] = -1;
        for (int k = 0; k < g->nodes[i].n_in && !active[i]; k++)
            active[i] = active[g->nodes[i].in[k]];
    }
    ebm_status st = EBM_OK;
    /* ... and reached from y (backward, through adjoints that exist). */
    adj[y] = ir_broadcast_to(g, seed, g->nodes[y].shape, NULL, err);
    if (adj[y] < 0 || !active[y]) {
        st = adj[y] < 0 ? (err ? err->code : EBM_ERR_INTERNAL) : EBM_OK;
        adj[y] = -1;
    }
    for (int i = y; st == EBM_OK && i >= 0; i--) {
        if (adj[i] < 0 || !active[i])
            continue;
        ir_node nd = g->nodes[i];   /* a copy: g->nodes moves as nodes are added */
        for (int k = 0; k < nd.n_in; k++) {
            int x = nd.in[k];
            if (!active[x])
                continue;
            int d = vjp_table[nd.op](g, i, k, adj[i], err);
            if (d == EBMC_VJP_ZERO)
                continue;
            if (d < 0) {
                char lb[256];
                ebm_error_prefix(err, "differentiating %s (operand %d)", ir_node_label(g, i, lb, sizeof lb), k);
                st = err ? err->code : EBM_ERR_INTERNAL;
                break;
            }
            adj[x] = adj[x] < 0 ? d : ir_binary(g, IR_OP_ADD, adj[x], d, NULL, err);
            if (adj[x] < 0) {
                st = err ? err->code : EBM_ERR_INTERNAL;
                break;
            }
        }
    }
    for (int i = 0; st == EBM_OK && i < n_wrt; i++) {
        grads[i] = adj[wrt[i]] >= 0 ? adj[wrt[i]] : zeros(g, g->nodes[wrt[i]].shape, err);
        if (grads[i] < 0)
            st = err ? err->code : EBM_ERR_INTERNAL;
    }
    free(active);
    free(adj);
    return st;
}

static const char *const program_names[EBMC_PROGRAM_COUNT] = {"energy", "score", "param_grad", "hvp", "dsm_grad"};

int ebmc_program_parse(const char *s, ebmc_program *out)
{
    for (int p = 0; s && p < EBMC_PROGRAM_COUNT; p++)
        if (strcmp(s, program_names[p]) == 0 || (p == EBMC_PROGRAM_PARAM_GRAD && strcmp(s, "param-grad") == 0) ||
            (p == EBMC_PROGRAM_DSM_GRAD && strcmp(s, "dsm-grad") == 0)) {
            *out = (ebmc_program)p;
            return 0;
        }
    return -1;
}

const char *ebmc_program_name(ebmc_program p)
{
    return (p >= 0 && p < EBMC_PROGRAM_COUNT) ? program_names[p] : "?";
}

/* Ones of shape [N] (the seed that gives every sample's own gradient: samples
 * are independent, so d(sum_i E_i)/dx_i = dE_i/dx_i). */
static int batch_ones(ir_graph *g, ebm_error *err)
{
    return ir_broadcast_to(g, ir_add_scalar(g, 1, err), ir_shape_make(1, IR_DIM_N), NULL, err);
}

/* sum over all but the batch axis of a * b, as [N]. */
static int per_sample_dot(ir_graph *g, int a, int b, ebm_error *err)
{
    int p = ir_binary(g, IR_OP_MUL, a, b, NULL, err);
    if (p < 0)
        return p;
    ir_shape s = g->nodes[p].shape;
    uint32_t axes = 0;
    for (int i = 1; i < s.rank; i++)
        axes |= 1u << i;
    if (axes)
        p = ir_reduce(g, IR_OP_RSUM, p, axes, NULL, err);
    return ir_reshape(g, p, ir_shape_make(1, IR_DIM_N), NULL, err);
}

static ebm_status check_energy_graph(const ir_graph *e, ebm_error *err)
{
    char sb[64];
    if (e->n_inputs != 1)
        return ebm_fail(err, EBM_ERR_UNSUPPORTED, "programs need a model with exactly one input, this one has %d",
                        e->n_inputs);
    const ir_shape *xs = &e->nodes[e->inputs[0]].shape;
    if (xs->rank < 1 || xs->d[0] != IR_DIM_N)
        return ebm_fail(err, EBM_ERR_SHAPE, "programs need the input's first dimension to be the batch N, got %s",
                        ir_shape_str(xs, sb, sizeof sb));
    if (e->n_outputs != 1 || e->nodes[e->outputs[0]].shape.rank != 1 ||
        e->nodes[e->outputs[0]].shape.d[0] != IR_DIM_N)
        return ebm_fail(err, EBM_ERR_SHAPE, "programs need one energy output of shape [N] (apply the energy head first)");
    return EBM_OK;
}

/* Replaces the outputs of g by the given values and names. */
static ebm_status set_outputs(ir_graph *g, const int *vals, const char *const *names, int n, ebm_error *err)
{
    for (int i = 0; i < g->n_outputs; i++)
        free(g->output_names[i]);
    g->n_outputs = 0;
    for (int i = 0; i < n; i++) {
        ebm_status st = ir_add_output(g, vals[i], names[i], err);
        if (st)
            return st;
    }
    return EBM_OK;
}

/* Sets g's outputs to y (named y_name), then the gradient of sum(seed * y)
 * with respect to every trainable parameter, named "grad:<parameter>". */
static ebm_status set_param_grad_outputs(ir_graph *g, int y, int seed, const char *y_name, ebm_error *err)
{
    int n_params = 0;
    for (int i = 0; i < g->n_nodes; i++)
        n_params += g->nodes[i].op == IR_OP_CONST && (g->nodes[i].flags & IR_NODE_TRAINABLE);
    int *wrt = calloc((size_t)n_params + 1, sizeof *wrt);
    int *vals = malloc(((size_t)n_params + 1) * sizeof *vals);
    char **names = calloc((size_t)n_params + 1, sizeof *names);
    ebm_status st = (!wrt || !vals || !names) ? ebm_fail(err, EBM_ERR_NOMEM, "out of memory") : EBM_OK;
    if ((y < 0 || seed < 0) && st == EBM_OK)
        st = err ? err->code : EBM_ERR_INTERNAL;
    int np = 0;
    for (int i = 0; st == EBM_OK && i < g->n_nodes && np < n_params; i++)
        if (g->nodes[i].op == IR_OP_CONST && (g->nodes[i].flags & IR_NODE_TRAINABLE))
            wrt[np++] = i;
    if (st == EBM_OK)
        st = ebmc_grad(g, y, seed, wrt, np, vals + 1, err);
    if (vals)
        vals[0] = y;
    for (int i = 0; st == EBM_OK && i <= np; i++) {
        const char *pn = i ? g->nodes[wrt[i - 1]].name : y_name;
        size_t len = (pn ? strlen(pn) : 0) + 8;
        names[i] = malloc(len);
        if (!names[i])
            st = ebm_fail(err, EBM_ERR_NOMEM, "out of memory");
        else
            snprintf(names[i], len, "%s%s", i ? "grad:" : "", pn ? pn : "");
    }
    if (st == EBM_OK)
        st = set_outputs(g, vals, (const char *const *)names, np + 1, err);
    for (int i = 0; names && i <= np; i++)
        free(names[i]);
    free(names);
    free(wrt);
    free(vals);
    return st;
}

static ebm_status build_param_grad(ir_graph *g, int e, ebm_error *err)
{
    int w = ir_add_input(g, "weights", ir_shape_make(1, IR_DIM_N), err);
    return set_param_grad_outputs(g, e, w, "energy", err);
}

/* Denoising score matching: loss_i = 1/2 ||s(x_i) - t_i||^2 with s = -dE/dx,
 * i.e. 1/2 ||dE/dx + t||^2, and its parameter gradient.  The second ebmc_grad
 * differentiates the first one's graph (ordinary IR) with respect to the
 * parameters; the sum over samples makes seed = ones. */
static ebm_status build_dsm_grad(ir_graph *g, int x, int e, ebm_error *err)
{
    int t = ir_add_input(g, "target", g->nodes[x].shape, err), gx = -1;
    if (t < 0)
        return err ? err->code : EBM_ERR_INTERNAL;
    ebm_status st = ebmc_grad(g, e, batch_ones(g, err), &x, 1, &gx, err);
    if (st)
        return st;
    int d = ir_binary(g, IR_OP_ADD, gx, t, NULL, err);
    int sq = d < 0 ? -1 : per_sample_dot(g, d, d, err);
    int loss = sq < 0 ? -1 : ir_binary(g, IR_OP_MUL, sq, ir_add_scalar(g, 0.5, err), NULL, err);
    return set_param_grad_outputs(g, loss, loss < 0 ? -1 : batch_ones(g, err), "loss", err);
}

ebm_status ebmc_build_program(const ir_graph *energy, ebmc_program p, ir_graph **out, ebm_error *err)
{
    *out = NULL;
    ebm_status st = check_energy_graph(energy, err);
    if (st)
        return st;
    ir_graph *g = ir_graph_clone(energy);
    if (!g)
        return ebm_fail(err, EBM_ERR_NOMEM, "out of memory cloning the energy graph");
    int x = g->inputs[0], e = g->outputs[0], gx = -1;
    if (p == EBMC_PROGRAM_SCORE || p == EBMC_PROGRAM_HVP)
        st = ebmc_grad(g, e, batch_ones(g, err), &x, 1, &gx, err);
    if (st == EBM_OK && p == EBMC_PROGRAM_SCORE) {
        int vals[2] = {e, ir_unary(g, IR_OP_NEG, gx, NULL, err)};
        const char *names[2] = {"energy", "score"};
        st = set_outputs(g, vals, names, 2, err);
    } else if (st == EBM_OK && p == EBMC_PROGRAM_HVP) {
        int v = ir_add_input(g, "v", g->nodes[x].shape, err), hv = -1;
        int s = per_sample_dot(g, gx, v, err);
        st = s < 0 ? (err ? err->code : EBM_ERR_INTERNAL) : ebmc_grad(g, s, batch_ones(g, err), &x, 1, &hv, err);
        if (st == EBM_OK) {
            int vals[3] = {e, ir_unary(g, IR_OP_NEG, gx, NULL, err), hv};
            const char *names[3] = {"energy", "score", "hvp"};
            st = set_outputs(g, vals, names, 3, err);
        }
    } else if (st == EBM_OK && p == EBMC_PROGRAM_PARAM_GRAD) {
        st = build_param_grad(g, e, err);
    } else if (st == EBM_OK && p == EBMC_PROGRAM_DSM_GRAD) {
        st = build_dsm_grad(g, x, e, err);
    }
    ebmc_options o;
    memset(&o, 0, sizeof o);
    o.verify = 1;
    if (st == EBM_OK)
        st = ebmc_pass_run(EBMC_PASS_SIMPLIFY, g, &o, err);
    if (st) {
        ebm_error_prefix(err, "building the %s program", ebmc_program_name(p));
        ir_graph_free(g);
        return st;
    }
    *out = g;
    return EBM_OK;
}
