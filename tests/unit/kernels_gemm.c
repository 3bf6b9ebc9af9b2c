/* kernels_gemm.c — compiler/kernels/ebmk_gemm.h compiled for test_gemm.c:
 * one wrapper per shape of gemm_shapes.h, with K and N constants and the
 * call the C backend writes for the shape's form (ebmc_emit_gemm_call),
 * collected in tables named for the target.  tests/CMakeLists.txt compiles
 * this file once per target (GEMM_TARGET = native, generic) with the flags
 * models are compiled with.
 */
#include "ebmk_gemm.h"

#include "gemm_shapes.h"

#define GEMM_CAT_(a, b) a##_##b
#define GEMM_CAT(a, b) GEMM_CAT_(a, b)

#define GEMM_CALL_NN(k, n) ebmk_gemm_nn(m, k, n, a, w, c)
#define GEMM_CALL_NT(k, n) ebmk_gemm_nt(m, k, n, a, w, c)
#define GEMM_CALL_NT_COPY(k, n)          \
    do {                                 \
        float wt[(k) * (n)]; /* W^T */   \
        ebmk_transpose(k, n, w, wt);     \
        ebmk_gemm_nt(m, k, n, a, wt, c); \
    } while (0)

#define GEMM_WRAP(i, k, n, trans_b, form)                                                          \
    static void gemm_##i(int64_t m, const float *restrict a, const float *restrict w, float *restrict c) \
    {                                                                                              \
        GEMM_CALL_##form(k, n);                                                                    \
    }
GEMM_SHAPES(GEMM_WRAP)

#define GEMM_CONV_WRAP(i, m, k)                                                                      \
    static void conv_##i(int64_t n, const float *restrict w, const float *restrict col, float *restrict c) \
    {                                                                                                \
        ebmk_gemm_nn(m, k, n, w, col, c);                                                            \
    }
GEMM_CONV_SHAPES(GEMM_CONV_WRAP)

#define GEMM_ENTRY(i, ...) gemm_##i,
#define GEMM_CONV_ENTRY(i, ...) conv_##i,
const gemm_shape_fn GEMM_CAT(gemm_shape, GEMM_TARGET)[] = {GEMM_SHAPES(GEMM_ENTRY)};
const gemm_conv_fn GEMM_CAT(gemm_conv, GEMM_TARGET)[] = {GEMM_CONV_SHAPES(GEMM_CONV_ENTRY)};
