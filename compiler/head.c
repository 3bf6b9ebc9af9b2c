/* head.c — the energy head: turns the network's output into one energy per
 * sample, E [N], the graph's only output, named "energy" (DESIGN.md,
 * "Conventions").
 */
#include <stdlib.h>
#include <string.h>

#include "passes.h"

static const char *const head_names[EBM_HEAD_COUNT] = {
    [EBM_HEAD_OUTPUT] = "output",
    [EBM_HEAD_SUM] = "sum",
    [EBM_HEAD_NEG_LOGSUMEXP] = "neg-logsumexp",
    [EBM_HEAD_LOGSUMEXP] = "logsumexp",
};

int ebm_head_parse(const char *s, ebm_head *out)
{
    for (int h = 0; s && h < EBM_HEAD_COUNT; h++)
        if (strcmp(s, head_names[h]) == 0) {
            *out = (ebm_head)h;
            return 0;
        }
    return -1;
}

const char *ebm_head_name(ebm_head h)
{
    return (h >= 0 && h < EBM_HEAD_COUNT) ? head_names[h] : "?";
}

/* Who the messages are about: the head and the network's output. */
typedef struct head_ctx {
    const char *head;
    const char *out_name;
    char shape[64];
} head_ctx;

/* The output must be [N, static dims...]: one row per sample. */
static ebm_status check_batch(const ir_shape *s, const head_ctx *h, ebm_error *err)
{
    if (s->rank < 1 || s->d[0] != IR_DIM_N)
        return ebm_fail(err, EBM_ERR_SHAPE,
                        "energy head '%s': the network's output '%s' has shape %s, whose first dimension is "
                        "not the batch dimension N; export the model with a dynamic batch axis "
                        "(torch.onnx.export(..., dynamic_axes={'x': {0: 'N'}, '%s': {0: 'N'}}))",
                        h->head, h->out_name, h->shape, h->out_name);
    for (int i = 1; i < s->rank; i++)
        if (s->d[i] == IR_DIM_N)
            return ebm_fail(err, EBM_ERR_SHAPE,
                            "energy head '%s': the network's output '%s' has shape %s; only its first "
                            "dimension may be the batch dimension N",
                            h->head, h->out_name, h->shape);
    return EBM_OK;
}

/* Bit mask of axes first..rank-1. */
static uint32_t axes_from(int first, int rank)
{
    uint32_t m = 0;
    for (int i = first; i < rank; i++)
        m |= 1u << i;
    return m;
}

/* logsumexp over the last axis, shifted by its max so exp never overflows:
 * lse(y) = log(sum(exp(y - m))) + m, m = max(y). */
static int add_logsumexp(ir_graph *g, int y, int negate, const head_ctx *h, ebm_error *err)
{
    const ir_shape *s = &g->nodes[y].shape;
    int ok = s->rank >= 2;
    for (int i = 1; ok && i < s->rank - 1; i++)
        ok = s->d[i] == 1;
    if (!ok) {
        ebm_fail(err, EBM_ERR_SHAPE,
                 "energy head '%s' needs an output of shape [N,K] (logsumexp over the K classes), but the "
                 "network's output '%s' has shape %s; use --energy-head %s",
                 h->head, h->out_name, h->shape, s->rank >= 2 ? "sum" : "output");
        return -1;
    }
    const char *nm = h->head;
    uint32_t last = 1u << (s->rank - 1);
    int m = ir_reduce(g, IR_OP_RMAX, y, last, nm, err);
    int e = ir_unary(g, IR_OP_EXP, ir_binary(g, IR_OP_SUB, y, m, nm, err), nm, err);
    int lse = ir_binary(g, IR_OP_ADD, ir_unary(g, IR_OP_LOG, ir_reduce(g, IR_OP_RSUM, e, last, nm, err), nm, err),
                        m, nm, err);
    return negate ? ir_unary(g, IR_OP_NEG, lse, nm, err) : lse;
}

/* Adds the head's nodes after y; returns the energy [N] or -1. */
static int add_head(ir_graph *g, ebm_head head, int y, const head_ctx *h, ebm_error *err)
{
    const ir_shape *s = &g->nodes[y].shape;
    int e = -1;
    if (check_batch(s, h, err))
        return -1;
    switch (head) {
    case EBM_HEAD_OUTPUT:
        if (!(s->rank == 1 || (s->rank == 2 && s->d[1] == 1))) {
            ebm_fail(err, EBM_ERR_SHAPE,
                     "energy head 'output' needs one value per sample, but the network's output '%s' has "
                     "shape %s; use --energy-head sum or neg-logsumexp",
                     h->out_name, h->shape);
            return -1;
        }
        e = y;
        break;
    case EBM_HEAD_SUM:
        e = s->rank > 1 ? ir_reduce(g, IR_OP_RSUM, y, axes_from(1, s->rank), h->head, err) : y;
        break;
    case EBM_HEAD_NEG_LOGSUMEXP:
    case EBM_HEAD_LOGSUMEXP:
        e = add_logsumexp(g, y, head == EBM_HEAD_NEG_LOGSUMEXP, h, err);
        break;
    default:
        ebm_fail(err, EBM_ERR_INVALID, "energy head: unknown head %d", (int)head);
        return -1;
    }
    return ir_reshape(g, e, ir_shape_make(1, IR_DIM_N), h->head, err);
}

ebm_status ebmc_pass_energy_head(ir_graph *g, const ebmc_options *o, ebm_error *err)
{
    if (!o)
        return ebm_fail(err, EBM_ERR_INVALID, "energy head: no options given");
    head_ctx h = {.head = ebm_head_name(o->head)};
    if (g->n_outputs != 1)
        return ebm_fail(err, EBM_ERR_INVALID,
                        "energy head '%s' needs a network with exactly one output, but this one has %d",
                        h.head, g->n_outputs);
    int y = g->outputs[0];
    if (y < 0 || y >= g->n_nodes)
        return ebm_fail(err, EBM_ERR_INVALID, "energy head: the graph output refers to %%%d, not a node", y);
    h.out_name = g->output_names[0] ? g->output_names[0] : "(unnamed)";
    ir_shape_str(&g->nodes[y].shape, h.shape, sizeof h.shape);

    ir_graph *c = ir_graph_clone(g);
    char *name = strdup("energy");
    ebm_status st = EBM_OK;
    ebm_error local = {0};   /* the builder reports its code only through an error record */
    if (!c || !name) {
        st = ebm_fail(err, EBM_ERR_NOMEM, "energy head: out of memory");
        goto fail;
    }
    int e = add_head(c, o->head, y, &h, &local);
    if (e < 0) {
        st = local.code ? local.code : EBM_ERR_INTERNAL;
        if (err)
            *err = local;
        goto fail;
    }
    c->outputs[0] = e;
    free(c->output_names[0]);
    c->output_names[0] = name;
    ir_graph_replace(g, c);
    return EBM_OK;
fail:
    free(name);
    ir_graph_free(c);
    return st;
}
