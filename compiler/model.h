/* model.h — a model ready for a backend: the programs of ebmc_compile_model
 * (energy, score, param_grad, and dsm_grad when asked) built, scheduled,
 * their kernels selected and their arenas planned at one tile, chosen here;
 * the parameter table and the weights blob (parameters first, then large
 * constants); and the score loop the Langevin update fuses into.  model.c
 * builds it; the C backend (codegen_c.c) only reads it.
 */
#ifndef EBMC_MODEL_H
#define EBMC_MODEL_H

#include <stdint.h>

#include "codegen.h"
#include "plan.h"

/* EBMC_CG_DSM comes last: a model without it simply has n_prog = EBMC_CG_DSM programs. */
enum { EBMC_CG_ENERGY, EBMC_CG_SCORE, EBMC_CG_PARAM_GRAD, EBMC_CG_DSM, EBMC_CG_NPROG };

typedef struct ebmc_param {
    const ir_node *node;   /* in the energy graph */
    int64_t offset, numel; /* floats */
} ebmc_param;

typedef struct ebmc_model {
    const ir_graph *energy;
    const ebmc_compile_options *o;
    ebmc_param *params;
    int n_params;
    float *blob;
    int64_t blob_floats, blob_cap;
    int64_t weights_numel;
    int64_t sample_numel;
    int64_t tile;
    int n_prog;            /* programs built: EBMC_CG_NPROG with o->dsm, else EBMC_CG_DSM */
    ebmc_cg_program *prog[EBMC_CG_NPROG];
    int lv_kernel;         /* the score program's kernel the Langevin update fuses into, or -1 */
} ebmc_model;

/* Builds every program of energy for o (o->tile, or the automatic tile),
 * then the parameter table and the blob.  Free with ebmc_model_free, also on
 * failure. */
ebm_status ebmc_model_build(ebmc_model *m, const ir_graph *energy, const ebmc_compile_options *o, ebm_error *err);
void ebmc_model_free(ebmc_model *m);
/* The index in m->params of the parameter called name, or -1. */
int ebmc_model_find_param(const ebmc_model *m, const char *name);
/* The node of program p's output `name` (ebmc_model_build has checked it exists). */
int ebmc_program_output(const ebmc_cg_program *p, const char *name);
/* The Langevin program's arena: the score and energy programs' arena, then
 * the noise (at ebmc_model_eps_offset): a tile's when the update is fused
 * into the score's loop, else ebmc_model_noise_rows rows. */
int64_t ebmc_model_eps_offset(const ebmc_model *m);
int64_t ebmc_model_noise_rows(const ebmc_model *m);
int64_t ebmc_model_langevin_arena(const ebmc_model *m);
/* The --verbose plan lines (one per program) on stderr. */
void ebmc_model_report_plan(const ebmc_model *m);

#endif /* EBMC_MODEL_H */
