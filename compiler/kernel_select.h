/* kernel_select.h — how each kernel of a program runs, decided once.
 *
 * After fusion and storage assignment, and again for every tile the planner
 * tries, ebmc_kernel_select fills one descriptor per kernel: its variant
 * (a fused loop, a convolution by im2col, pointwise or Winograd, any other
 * op's one kernel), the GEMM form of a matmul, the Winograd tile and the
 * samples per chunk of a convolution, the fused group's inputs and stored
 * members, and the floats of scratch and of prologue-prepared weights it
 * needs.  The descriptor array (ebmc_cg_program.kern) is the single source
 * of truth: the memory planner sizes buffers from it and the emitters write
 * what it says, neither re-deriving a choice.  The rules that depend on the
 * shape alone (ebmc_gemm_form_of, ebmc_gemm_packs_transpose) are here too,
 * so the graph analysis (graph_info.c) asks this layer, not an emitter.
 * kernel_select.c.
 */
#ifndef EBMC_KERNEL_SELECT_H
#define EBMC_KERNEL_SELECT_H

#include <stdint.h>

#include "schedule.h"

typedef struct ebmc_cg_program ebmc_cg_program;   /* plan.h */

/* ---- GEMM forms: a function of the shape only ------------------------------------------ */

/* How C[m x k] * B[k x n] with a weight matrix B runs: cblas_sgemm, or the
 * generated kernel (codegen_c_gemm.c) with B = W [k, n] row-major (NN) or
 * B = W^T, W [n, k] (NT), or NT on a copy of B transposed at each call
 * (NT_COPY: B = W [k, n] with a handful of columns, where NN would fill a
 * vector with n lanes per k). */
typedef enum ebmc_gemm_form { EBMC_GEMM_BLAS = 0, EBMC_GEMM_NN, EBMC_GEMM_NT, EBMC_GEMM_NT_COPY } ebmc_gemm_form;

/* The form for constant k and n; trans_b: B is read as the transpose of its
 * operand.  A function of the shape only, never of the tile's row count. */
ebmc_gemm_form ebmc_gemm_form_of(int64_t k, int64_t n, int trans_b);
/* Whether a weight-only transpose giving a B [k, n] should be computed once
 * (in the prologue) rather than read transposed, so the product runs as NN. */
int ebmc_gemm_packs_transpose(int64_t k, int64_t n);

/* ---- convolution geometry ------------------------------------------------------------------ */

typedef struct ebmc_conv_geom {
    const ir_shape *x, *w, *y;   /* x [B,C,H,W], w [O,C/g,kh,kw], y [B,O,ho,wo] */
    const ir_conv_attr *a;
    int64_t c, h, wd, o, kh, kw, ho, wo, group, cg, og, krows, hw_in, hw_out;
    int64_t hq, wq, planes;   /* the helpers' phase planes: hq x wq, floats per sample and channel */
} ebmc_conv_geom;

/* The geometry of convolution node id (CONV2D or one of its gradients) of g. */
ebmc_conv_geom ebmc_conv_geom_of(const ir_graph *g, int id);
/* Floats at the front of a convolution's scratch holding every group's W_g^T
 * (the input gradient's GEMM runs on it), 0 for the other ops. */
int64_t ebmc_conv_wt_floats(const ebmc_conv_geom *gm, ir_op op);
/* Output tiles per sample of Winograd F(r x r, 3x3), r = 2 or 4. */
int64_t ebmc_wino_tiles(const ebmc_conv_geom *gm, int r);
/* The floats between cells of Winograd's v and m: the helpers' EBMK_WINO_GAP. */
#define EBMC_WINO_GAP 16

/* ---- the descriptor ------------------------------------------------------------------------ */

/* A fused group: the members are the nodes L, L-1, ... whose kernel is L
 * (consecutive ids, fuse.c).  Its loop reads each external operand once per
 * element (broadcast as its shape says) and stores the members read outside. */
typedef struct ebmc_fused_io {
    int first, last;               /* the first member and the last (the kernel's node) */
    int n_in, n_out;
    int in[EBMC_FUSE_MAX_IO];      /* external operands, in order of first use */
    int out[EBMC_FUSE_MAX_IO];     /* stored members, in id order */
    int sink;                      /* the last member if it is a sum over the last axis, else -1 */
    int space;                     /* the node whose shape the loop runs over: last, or the sink's summand */
} ebmc_fused_io;

typedef enum ebmc_kernel_variant {
    EBMC_KERNEL_NONE = 0,        /* no kernel at this node: a source, a view, a fused group's
                                    inner member */
    EBMC_KERNEL_OP,              /* the op's one kernel (reductions, movement, pooling, matmul) */
    EBMC_KERNEL_FUSED,           /* a fused elementwise loop over `io` (fuse.c) */
    EBMC_KERNEL_CONV_IM2COL,     /* im2col/col2im + a GEMM per chunk of samples and group */
    EBMC_KERNEL_CONV_POINTWISE,  /* 1x1, stride 1, unpadded: x itself is the im2col matrix */
    EBMC_KERNEL_CONV_WINOGRAD,   /* Winograd F(r x r, 3x3) + a GEMM per cell and chunk */
} ebmc_kernel_variant;

typedef struct ebmc_kernel {
    ebmc_kernel_variant variant;
    ebmc_gemm_form gemm;            /* MATMUL: how the product runs */
    unsigned char trans_a, trans_b; /* MATMUL: operand read transposed (a folded EBMC_VIEW_MATMUL_T) */
    int wino_r;                     /* CONV_WINOGRAD: output tiles of r x r (2 or 4) */
    int64_t chunk;                  /* convolutions: samples per GEMM chunk */
    int64_t scratch_floats;         /* temporary floats the kernel needs at the tile (its `tmp`), 0: none */
    int64_t pro_floats;             /* weights prepared once per call by the prologue (its `uw`), 0: none */
    ebmc_fused_io io;               /* FUSED: the group */
} ebmc_kernel;

/* Fills p->kern (one descriptor per node, meaningful where p->v[i].kernel == i)
 * for p->tile samples.  Needs the fused, renumbered graph, p->info and the
 * storage of every value (p->v); the arena plan comes after it. */
void ebmc_kernel_select(ebmc_cg_program *p);

/* Whether fused-group input e is x itself (the program's input, read through any alias). */
int ebmc_fused_reads_x(const ebmc_cg_program *p, const ebmc_fused_io *io, int e);

/* The Langevin program fuses its update (clip, scale, noise, clamp) into the
 * loop computing the score: the kernel of the score program that loop is
 * (score: the node of its "score" output), or -1 when the update must run
 * as a loop of its own.  It must be an elementwise loop over [N, ...] with a
 * sample's numel, the body's last kernel (x changes in it), compute no other
 * output (the energy), and read x, if at all, where it writes it. */
int ebmc_langevin_kernel(const ebmc_cg_program *p, int score);

#endif /* EBMC_KERNEL_SELECT_H */
