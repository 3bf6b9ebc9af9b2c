/* passes.h — the compiler's passes over the core IR.
 *
 * A pass is `ebm_status ebmc_pass_NAME(ir_graph *g, const ebmc_options *o, ebm_error *err)`:
 * it rewrites *g (building the new graph aside and swapping it in, so a failed
 * pass leaves g unchanged).  Verifying the result and naming the pass in its
 * errors is the runner's job (pipeline.h: ebmc_pass_run, ebmc_front_end_run).
 */
#ifndef EBMC_PASSES_H
#define EBMC_PASSES_H

#include "ir.h"

typedef enum ebm_head {
    EBM_HEAD_OUTPUT,        /* the network's output, one value per sample ([N] or [N,1]) */
    EBM_HEAD_SUM,           /* sum of all outputs per sample */
    EBM_HEAD_NEG_LOGSUMEXP, /* E = -logsumexp over the last axis (classifier as EBM) */
    EBM_HEAD_LOGSUMEXP,     /* E = logsumexp over the last axis */
    EBM_HEAD_COUNT
} ebm_head;

/* "output", "sum", "neg-logsumexp", "logsumexp" <-> enum; parse returns 0 on success. */
int ebm_head_parse(const char *s, ebm_head *out);
const char *ebm_head_name(ebm_head h);

typedef struct ebmc_options {
    ebm_head head;
    int verify;      /* the runner verifies after each pass (pipeline.h) */
} ebmc_options;

/* Replaces the graph's single output by the energy [N] of the chosen head. */
ebm_status ebmc_pass_energy_head(ir_graph *g, const ebmc_options *o, ebm_error *err);
/* Evaluates nodes whose operands are all non-parameter constants. */
ebm_status ebmc_pass_fold_constants(ir_graph *g, const ebmc_options *o, ebm_error *err);
/* Algebraic identities (x*1, x+0, x-0, x/1, -(-x), no-op reshapes), common
 * subexpressions merged, then DCE. */
ebm_status ebmc_pass_simplify(ir_graph *g, const ebmc_options *o, ebm_error *err);
/* Removes nodes that no output depends on (graph inputs are kept). */
ebm_status ebmc_pass_dce(ir_graph *g, const ebmc_options *o, ebm_error *err);
/* Renumbers the nodes into a topological order that keeps the peak of live
 * intermediate memory low (greedy; compiler/schedule.c), weight-only nodes
 * first.  Node order is then the execution order of the generated code. */
ebm_status ebmc_pass_schedule(ir_graph *g, const ebmc_options *o, ebm_error *err);

#endif /* EBMC_PASSES_H */
