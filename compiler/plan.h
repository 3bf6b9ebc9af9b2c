/* plan.h — one program made ready for a backend: its scheduled and fused
 * graph, the storage of every value (arena, input, parameter, constant,
 * register, none), and the arena plan for a tile of samples.
 * program.c builds and plans a program; memplan.c places the buffers.
 *
 * The pipeline of ebmc_compile_model (codegen.h), per program of the model
 * (model.c):
 *   energy graph -> ebmc_build_program (energy, score, param_grad)
 *   -> ebmc_pass_schedule (memory-aware topological order, renumbers nodes)
 *   -> fusion (fuse.c) -> storage -> kernel selection (kernel_select.h: one
 *      descriptor per kernel at the tile) -> arena plan (this header)
 * then, for the whole model, C text (codegen_c.h) -> ebmc_cc_run (cc.h).
 */
#ifndef EBMC_PLAN_H
#define EBMC_PLAN_H

#include <stdint.h>

#include "autodiff.h"
#include "kernel_select.h"
#include "schedule.h"

/* Default samples per program call. */
#define EBMC_DEFAULT_TILE 64
/* The automatic tile is halved until the largest arena fits this. */
#define EBMC_ARENA_BUDGET ((int64_t)256 << 20)
/* ... and then, down to EBMC_CACHE_TILE, while half a tile's samples add more
 * than EBMC_CACHE_BUDGET / 2 to it (bytes that scale with the tile: the
 * activations; not the prologue's transformed weights). */
#define EBMC_CACHE_BUDGET ((int64_t)4 << 20)
#define EBMC_CACHE_TILE 16

/* ---- memory planning (memplan.c) ---------------------------------------------------- */

typedef struct ebmc_buffer {
    int64_t size;     /* bytes, a multiple of EBMC_ALIGN */
    int first, last;  /* live from schedule position first to last, inclusive */
    int node;         /* the value (or, for scratch, the node) it belongs to */
    int scratch;      /* 1: a kernel's temporary (e.g. an im2col matrix) */
    int64_t offset;   /* assigned by ebmc_memplan_place */
} ebmc_buffer;

/* Gives every buffer an offset so that buffers live at the same time never
 * overlap; *arena_bytes receives the arena size.  All live ranges are seen at
 * once and the largest buffers are placed first, each in the best-fitting gap
 * (Glow, TFLite's greedy-by-size). */
ebm_status ebmc_memplan_place(ebmc_buffer *b, int nb, int64_t *arena_bytes, ebm_error *err);
/* Checks a plan: aligned offsets, everything inside the arena, and no two
 * buffers with overlapping live ranges overlapping in memory. */
ebm_status ebmc_memplan_check(const ebmc_buffer *b, int nb, int64_t arena_bytes, ebm_error *err);

/* ---- one program (program.c) ---------------------------------------------------------- */

typedef enum ebmc_store {
    EBMC_STORE_NONE = 0, /* not computed (a view or a dead value) */
    EBMC_STORE_ARENA,    /* arena bytes [offset, offset + size) */
    EBMC_STORE_INPUT,    /* graph input `slot` (0: x; 1: param_grad's sample weights or
                            dsm_grad's target, both "SW" in the C) */
    EBMC_STORE_PARAM,    /* the weights array, `offset` floats in (from the parameter table) */
    EBMC_STORE_REG,      /* a fused intermediate: a local variable of its group's loop */
    EBMC_STORE_CONST,    /* a non-parameter constant: a static array in the C, or `offset`
                            floats into the embedded blob when offset >= 0 */
} ebmc_store;

typedef struct ebmc_cg_value {
    ebmc_store store;
    int64_t offset;
    int kernel;           /* the node whose kernel computes it (its fused group's last
                             node, or itself), -1 for sources and views */
    int slot;             /* STORE_INPUT */
    int param;            /* STORE_PARAM: index in the model's parameter table */
    int buffer;           /* index in bufs of its arena buffer, or -1 */
    int scratch_buffer;   /* the kernel's scratch buffer (kern[].scratch_floats), or -1 */
    int pro_buffer;       /* weights the kernel reads prepared by the prologue (a
                             Winograd convolution's transformed kernels), or -1 */
} ebmc_cg_value;

struct ebmc_cg_program {   /* typedef in kernel_select.h */
    ebmc_program kind;
    const char *prefix;   /* "energy", "score", "param_grad": names in the C */
    ir_graph *g;          /* scheduled: node order is execution order */
    ebmc_graph_info info;
    ebmc_cg_value *v;     /* per node */
    ebmc_kernel *kern;    /* per node: how the kernel rooted there runs (kernel_select.c) */
    ebmc_buffer *bufs;
    int n_bufs;
    int64_t tile;
    int64_t arena_bytes;  /* planned */
    int64_t sum_bytes;    /* sum of all buffer sizes (what one buffer per value would take) */
};

/* Builds program `kind` from the energy graph, schedules it and plans its
 * arena for `tile` samples.  Parameters are matched to the table later
 * (param = -1, offset = -1 until then). */
ebm_status ebmc_cg_program_build(const ir_graph *energy, ebmc_program kind, int64_t tile,
                                 ebmc_cg_program **out, ebm_error *err);
/* Selects the kernels for `tile` samples and plans the arena from their
 * descriptors (again for every tile tried; the schedule does not change). */
ebm_status ebmc_cg_program_plan(ebmc_cg_program *p, int64_t tile, ebm_error *err);
void ebmc_cg_program_free(ebmc_cg_program *p);

#endif /* EBMC_PLAN_H */
