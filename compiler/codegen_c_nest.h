/* codegen_c_nest.h — loop nests for the C kernels: an index space and the
 * views of the arrays a kernel reads and writes over it, simplified (size-1
 * axes dropped, axes contiguous in every view merged) and written as C loops
 * around a body the kernel family supplies.  codegen_c_nest.c.
 */
#ifndef EBMC_CODEGEN_C_NEST_H
#define EBMC_CODEGEN_C_NEST_H

#include "codegen_c.h"
#include "poly.h"

#define NEST_MAX_VIEWS (2 * EBMC_FUSE_MAX_IO)

typedef struct nest {
    pshape space;
    int simd;                 /* `#pragma omp simd` on the innermost loop... */
    int simd_outer;           /* ...or on axis 0's */
    const char *simd_clause;  /* appended to that pragma (a reduction), or NULL */
    int keep_batch;           /* axis 0 (the batch) stays a loop of its own... */
    const char *open0;        /* ...with these lines first and last in its body */
    const char *close0;
    int nv;
    pview v[NEST_MAX_VIEWS];
} nest;

/* Drops size-1 axes and merges neighbours that are contiguous in every view
 * (not axis 0 into axis 1 with keep_batch). */
void ebmc_nest_simplify(nest *ns);

/* The index expressions of a body: one per view. */
#define IDX_MAX 320

typedef void (*nest_body_fn)(ebmc_buf *b, const char idx[][IDX_MAX], const char *ind, const void *ctx);

/* Emits the loops of ns (already simplified) around body.  Offsets of outer
 * axes are hoisted into o<view>_<axis> constants.  open0 and close0 (lines,
 * each ending in a newline) go first and last into axis 0's loop. */
void ebmc_nest_emit(ebmc_buf *b, const nest *ns, int level, nest_body_fn body, const void *ctx);
/* A float sum over k in [0, len) whose bits do not depend on how the C is
 * compiled: lane l of `acc[EBMC_SUM_LANES]` adds the terms k = l (mod
 * EBMC_SUM_LANES) in k order, then the lanes fold in halves.  (A reduction
 * clause would let each compiler and -O level order the additions its own
 * way: the JIT's -O0 tier and its -O2 code would differ in the last bits,
 * and so would gcc's .so.)  _begin opens the loop over whole rounds of
 * lanes and returns the body's indent (the body reads k and ends with
 * `acc[l] += term;`); _tail closes it and opens the last, partial round,
 * which takes the same body again, and returns 1 (0 when `len` is a
 * constant multiple of the lanes: no body then); _end, given that, closes
 * what is open and stores the sum with `target op fold;` at `ind`. */
#define EBMC_SUM_LANES 16
const char *ebmc_lane_sum_begin(ebmc_buf *b, const char *ind, const char *len, char *body_ind, size_t size);
int ebmc_lane_sum_tail(ebmc_buf *b, const char *ind, const char *len);
void ebmc_lane_sum_end(ebmc_buf *b, const char *ind, int tail, const char *target, const char *op);
/* `ptr[i] = value` for i < count, as a loop at indent level `level`. */
void ebmc_emit_fill(ebmc_buf *b, const char *ptr, poly count, const char *value, int level);

#endif /* EBMC_CODEGEN_C_NEST_H */
