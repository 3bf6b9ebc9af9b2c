/* gemm_shapes.h — the shapes test_gemm.c runs the GEMM kernels
 * (compiler/kernels/ebmk_gemm.h) on, as X-macro tables: kernels_gemm.c
 * compiles one wrapper per shape with K and N constants, as a model's
 * kernels call them, once per target; test_gemm.c sweeps the same tables.
 *
 * GEMM_SHAPES: X(index, K, N, trans_b, form), B = W^T with W [N, K] when
 * trans_b; form is what ebmc_gemm_form_of picks (test_gemm.c checks it):
 * NT (trans_b or N = 1), NN, NT_COPY ({64, 2, 0}, {37, 3, 0}: a handful of
 * columns); tails in K, N or both; {40, 300, 0} and {96, 45, 1} are wide
 * enough for the single-row strips of EBMK_WIDE vectors (NN) or blocks of
 * EBMK_NT_ONE columns (NT; 45 leaves a tail with AVX-512's 2); {600, 70, 0}
 * takes three blocks of k (EBMK_NN_KC), {9, 200, 0} and the other short K
 * the panel order (EBMK_NN_PANEL_K).
 *
 * GEMM_CONV_SHAPES: X(index, m, K): convolutions call ebmk_gemm_nn with
 * weights on the left, m (output channels) and K constants and N (the
 * chunk's pixel columns) at run time.
 */
#ifndef GEMM_SHAPES_H
#define GEMM_SHAPES_H

#include <stdint.h>

#define GEMM_SHAPES(X)                                                                                      \
    X(0, 37, 5, 1, NT) X(1, 300, 3, 1, NT) X(2, 129, 33, 1, NT) X(3, 17, 1, 1, NT) X(4, 256, 1, 0, NT)      \
    X(5, 1, 19, 1, NN) X(6, 784, 20, 1, NT) X(7, 5, 37, 0, NN) X(8, 64, 2, 0, NT_COPY) X(9, 3, 100, 0, NN) \
    X(10, 200, 17, 0, NN) X(11, 1, 19, 0, NN) X(12, 7, 129, 0, NN) X(13, 2, 64, 0, NN)                     \
    X(14, 40, 300, 0, NN) X(15, 96, 45, 1, NT) X(16, 37, 3, 0, NT_COPY) X(17, 600, 70, 0, NN)              \
    X(18, 9, 200, 0, NN)

#define GEMM_CONV_SHAPES(X) \
    X(0, 1, 3) X(1, 3, 32) X(2, 6, 3) X(3, 7, 40) X(4, 13, 300) X(5, 27, 32) X(6, 16, 9) X(7, 64, 33)

/* C[m x N] = A[m x K] * B for one shape of GEMM_SHAPES, in its form. */
typedef void (*gemm_shape_fn)(int64_t m, const float *a, const float *w, float *c);
/* C[m x n] = W[m x K] * COL[K x n] for one shape of GEMM_CONV_SHAPES. */
typedef void (*gemm_conv_fn)(int64_t n, const float *w, const float *col, float *c);

/* kernels_gemm.c compiled with the models' flags and -march=native, and
 * without -march (compiler/cc.c's "generic": SSE vectors, no FMA). */
extern const gemm_shape_fn gemm_shape_native[], gemm_shape_generic[];
extern const gemm_conv_fn gemm_conv_native[], gemm_conv_generic[];

#endif /* GEMM_SHAPES_H */
