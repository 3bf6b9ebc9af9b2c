/* schedule.h — the graph facts every later stage reads (users, views, weight-only
 * values, outputs), the memory-aware execution order, and the fused groups of
 * elementwise nodes: what a program's graph goes through before kernel
 * selection (kernel_select.h).  graph_info.c, schedule.c and fuse.c.
 */
#ifndef EBMC_SCHEDULE_H
#define EBMC_SCHEDULE_H

#include <stdint.h>

#include "ir.h"

/* Every arena buffer and every parameter starts on this boundary (bytes);
 * equals EBM_ABI_ALIGN. */
#define EBMC_ALIGN 64

/* ---- graph facts (graph_info.c) ------------------------------------------------------ */

typedef enum ebmc_view {
    EBMC_VIEW_NONE = 0,   /* a value with storage of its own */
    EBMC_VIEW_ALIAS,      /* same bytes as its operand: RESHAPE, or a TRANSPOSE that
                             only moves size-1 axes */
    EBMC_VIEW_MATMUL_T,   /* a TRANSPOSE of the last two axes read only by MATMULs, which
                             read its operand with BLAS's transpose flag instead (not a
                             weight-only one ebmc_gemm_packs_transpose wants computed) */
} ebmc_view;

typedef struct ebmc_graph_info {
    int n;
    int *user_start;         /* users of node i: users[user_start[i] .. user_start[i+1]) */
    int *users;              /* one entry per operand reference */
    unsigned char *view;     /* ebmc_view per node */
    int *root;               /* the node whose storage holds node i's value (i unless a view) */
    unsigned char *invariant;/* no graph input upstream and a static shape: weight-only
                                values, computed once per call (the prologue) */
    unsigned char *output;   /* node i is a graph output */
} ebmc_graph_info;

ebm_status ebmc_graph_info_make(const ir_graph *g, ebmc_graph_info *gi, ebm_error *err);
void ebmc_graph_info_free(ebmc_graph_info *gi);
/* The value node id's kernel reads as operand k: the source of a transpose
 * folded into a matmul (EBMC_VIEW_MATMUL_T), else the operand itself. */
int ebmc_operand_src(const ir_graph *g, const ebmc_graph_info *gi, int id, int k);

/* Bytes of a value of shape s at batch size n, rounded up to EBMC_ALIGN; -1 on overflow. */
int64_t ebmc_value_bytes(const ir_shape *s, int64_t n);
/* Bytes of `floats` floats, rounded up to EBMC_ALIGN; -1 on overflow. */
int64_t ebmc_float_bytes(int64_t floats);

/* ---- scheduling (schedule.c; the pass is declared in passes.h) ------------------ */

/* A topological order of g (order[k] = id of the k-th node to run) that keeps
 * the live arena bytes low, sizes taken at batch size n. */
ebm_status ebmc_schedule_order(const ir_graph *g, int64_t n, int *order, ebm_error *err);
/* Renumbers g so that order[k] becomes node k (order must be topological). */
ebm_status ebmc_graph_permute(ir_graph *g, const int *order, ebm_error *err);
/* Peak live arena bytes when g runs in its node order at batch size n (the
 * quantity the scheduler minimises; for tests and --verbose). */
int64_t ebmc_schedule_peak_bytes(const ir_graph *g, int64_t n);

/* ---- loop fusion (fuse.c) ------------------------------------------------------------ */

/* Most arrays (inputs or stored results) one fused loop takes. */
#define EBMC_FUSE_MAX_IO 16

/* Whether node id may be computed inside a fused elementwise loop (pattern
 * class ELEMWISE/BROADCAST, a scalar expression or a broadcast, at most 3 operands). */
int ebmc_fusible(const ir_graph *g, const ebmc_graph_info *gi, int id);
/* A reduction that may end a fused group (fuse.c). */
int ebmc_fuse_sink(const ir_graph *g, const ebmc_graph_info *gi, int id);
/* group[i] = the node whose kernel computes node i: for a fused group, its
 * largest id; i for every other computed node; -1 for sources and views.
 * group has g->n_nodes entries. */
ebm_status ebmc_fuse_groups(const ir_graph *g, const ebmc_graph_info *gi, int *group, ebm_error *err);
/* Renumbers g (a topological order again) so each group is a run of
 * consecutive ids ending at its kernel's node; group[] is renumbered with it. */
ebm_status ebmc_fuse_order(ir_graph *g, int *group, ebm_error *err);

#endif /* EBMC_SCHEDULE_H */
