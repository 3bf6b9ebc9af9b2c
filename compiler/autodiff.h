/* autodiff.h — reverse-mode differentiation over the core IR, and the
 * programs built with it (score, parameter gradient, Hessian-vector product,
 * the denoising-score-matching parameter gradient).
 *
 * Every core op's derivative rule is the vjp_rule column of ir/ops.def,
 * implemented in compiler/vjp.c with core ops only: the gradient graph is
 * ordinary IR, so it can be differentiated again.
 */
#ifndef EBMC_AUTODIFF_H
#define EBMC_AUTODIFF_H

#include "ir.h"

/* A vjp rule's answer when the operand's gradient is identically zero. */
#define EBMC_VJP_ZERO (-2)

/* Gradient of operand k of node `node`, given gy (the gradient of the node's
 * value, same shape).  Adds nodes to g; returns the value id (with operand k's
 * shape), EBMC_VJP_ZERO, or -1 with err filled.  Rules never hold pointers into
 * g->nodes across builder calls (the array may move). */
typedef int (*ebmc_vjp_fn)(ir_graph *g, int node, int k, int gy, ebm_error *err);

#define IR_OP(NAME, text, arity, cls, kern, attr, shape_rule, vjp, onnx, ex, expr, fexpr) \
    int vjp(ir_graph *, int, int, int, ebm_error *);
#include "ops.def"
#undef IR_OP
/* The rule of an op that cannot be differentiated: a clear error naming the node. */
int ebmc_vjp_missing(ir_graph *g, int node, int k, int gy, ebm_error *err);

/* Adds to g the gradient of L = sum(seed * y) with respect to each wrt[i]
 * (seed has y's shape or broadcasts to it).  grads[i] receives a value with
 * wrt[i]'s shape (zeros when L does not depend on it).  Ops on no path from a
 * wrt value to y are not differentiated.  An op without a derivative rule is
 * an EBM_ERR_UNSUPPORTED error naming the op and node. */
ebm_status ebmc_grad(ir_graph *g, int y, int seed, const int *wrt, int n_wrt, int *grads,
                     ebm_error *err);

typedef enum ebmc_program {
    EBMC_PROGRAM_ENERGY,     /* inputs x;          outputs energy */
    EBMC_PROGRAM_SCORE,      /* inputs x;          outputs energy, score = -dE/dx */
    EBMC_PROGRAM_PARAM_GRAD, /* inputs x, weights; outputs energy, then sum_i w_i dE_i/dtheta per
                                trainable parameter, named "grad:<parameter>" */
    EBMC_PROGRAM_HVP,        /* inputs x, v;       outputs energy, score, hvp = d/dx (dE/dx . v) */
    EBMC_PROGRAM_DSM_GRAD,   /* inputs x, target (x's shape); outputs loss [N],
                                loss_i = 1/2 sum_j (s_ij - target_ij)^2 with s = -dE/dx at x,
                                then sum_i dloss_i/dtheta per trainable parameter, named
                                "grad:<parameter>" (second-order: differentiates the score) */
    EBMC_PROGRAM_COUNT
} ebmc_program;

int ebmc_program_parse(const char *s, ebmc_program *out);
const char *ebmc_program_name(ebmc_program p);

/* Builds program p from an energy graph (one input x with the batch dim first,
 * one output "energy" of shape [N], as left by ebmc_pass_energy_head).  *out is
 * a new graph; `energy` is not modified.  The result is simplified (CSE, DCE,
 * algebraic identities). */
ebm_status ebmc_build_program(const ir_graph *energy, ebmc_program p, ir_graph **out, ebm_error *err);

#endif /* EBMC_AUTODIFF_H */
