/* pipeline.h — the front end as one table of passes, and the one runner that
 * ebmc, ebm, the tests and the examples call:
 *
 *     energy head -> fold_constants -> simplify -> dce -> ir_verify
 *
 * The runner, not each pass, checks the graph after a pass (with
 * ebmc_options.verify, and always in debug builds) and names the pass in its
 * errors, so a pass body holds only its rewrite.
 */
#ifndef EBMC_PIPELINE_H
#define EBMC_PIPELINE_H

#include "passes.h"

typedef ebm_status (*ebmc_pass_fn)(ir_graph *g, const ebmc_options *o, ebm_error *err);

typedef enum ebmc_pass_id {
    EBMC_PASS_ENERGY_HEAD,
    EBMC_PASS_FOLD_CONSTANTS,
    EBMC_PASS_SIMPLIFY,
    EBMC_PASS_DCE,
    EBMC_PASS_COUNT
} ebmc_pass_id;

typedef struct ebmc_pass {
    const char *name;   /* errors read "NAME: ...", a failed verify "after NAME: ..." */
    ebmc_pass_fn run;
    int folding;        /* part of constant folding: skipped by a front end without it */
} ebmc_pass;

/* The front-end passes, in the order the front end runs them. */
extern const ebmc_pass ebmc_passes[EBMC_PASS_COUNT];

/* Runs one pass of the table.  A failure's message gets the pass name in
 * front (unless it already starts with it); with o->verify, or in a debug
 * build, ir_verify runs afterwards.  o may be NULL (no options) for passes
 * that need none; the energy head needs them. */
ebm_status ebmc_pass_run(ebmc_pass_id id, ir_graph *g, const ebmc_options *o, ebm_error *err);

typedef struct ebmc_front_end {
    ebm_head head;
    int fold;          /* run constant folding and simplification */
    int verify_each;   /* verify after every pass, not only at the end */
} ebmc_front_end;

/* Every pass of ebmc_passes in order (the folding ones only with fe->fold),
 * then ir_verify.  Messages name the graph's source file first, when it has
 * one: passes name nodes, the user needs the file. */
ebm_status ebmc_front_end_run(ir_graph *g, const ebmc_front_end *fe, ebm_error *err);

#endif /* EBMC_PIPELINE_H */
