/* codegen_c_gemm.c — the generated C's own matrix multiply for "activations x
 * weights": C[m x N] = A[m x K] * B, where B is a weight matrix (a parameter
 * or a value computed only from parameters and constants) and m is the
 * tile's row count, known only at run time, while K and N are constants.
 *
 * Why not cblas_sgemm: for the small and medium products of an MLP on a tile
 * of 1..64 samples, OpenBLAS spends much of its time packing both operands
 * and dispatching, and its kernel is chosen by the environment (pinned to
 * Haswell), not by the -march the model is compiled with.  These kernels
 * read both operands in place (no packing, no allocation) and are compiled
 * with the model's -march: AVX-512, AVX(2) or plain SSE vectors.
 *
 * Two forms, picked by the layout of B (ebmc_gemm_form):
 *   - NN, B = W with W [K, N] row-major: each output row is a sum of rows of
 *     W scaled by A's entries; vectorised across j, blocked over rows and
 *     column vectors (AVX-512: 6 rows x 4 vectors, 24 accumulators, the 4 W
 *     vectors held in registers).  Every element is acc = 0; for k = 0..K-1:
 *     acc = fma(a[i,k], w[k,j], acc).  For K >= EBMK_NN_PANEL_K, strips of 64
 *     columns with W's rows in blocks of EBMK_NN_KC (the sums wait in C
 *     between blocks: a stored float is the exact accumulator, so the chain
 *     goes on unchanged); for a shorter K, panels of columns with the row
 *     blocks outside (no 4K-aliasing stalls when N is a multiple of 1024).
 *     bench/gemm_micro.c times it on the models' shapes: 6x4 over 4x4 took
 *     its hot-cache rate from ~142 to ~205 GFLOP/s on Zen 5 (1 thread).
 *   - NT, B = W^T with W [N, K] row-major (ONNX Gemm transB=1, the forward
 *     pass of a Linear layer): each output is a dot product of two contiguous
 *     rows, vectorised across k: lane l accumulates k = l, l+VL, ... by fma
 *     (a zero-padded last vector when VL does not divide K), then the lanes
 *     are summed by a fixed halving tree.
 * Both orders depend only on K, N and the vector width, never on m or on
 * which rows share a block, so a sample's result is bitwise independent of
 * the tile size (libebm's promise).
 *
 * Convolutions use the NN form the other way round: weights on the left,
 * C[co x P] = W[co x K] * COL[K x P] with the chunk's pixel columns P known
 * only at run time (im2col, Winograd's 16 products, and the input gradient
 * on W^T copied per group by ebmk_transpose).  Each element's sum is again
 * in k order whatever P is, so convolutions too give a sample the same bits
 * in any tile or chunk.  Without FMA hardware, fma is a multiply
 * then an add, again the same for every block.
 *
 * A W^T with a short K would waste most vector lanes in the NT form; such a
 * transpose is computed once per call in the weight-only prologue instead
 * (schedule.c asks ebmc_gemm_packs_transpose) and the product runs as NN.
 */
#include <string.h>

#include "codegen_internal.h"

/* Below this K, a W^T operand is transposed in the prologue and the product
 * runs as NN.  Measured on Zen 5 (AVX-512), m = 1 / 64 rows, microseconds:
 * K=N=64: NT 0.10 / 6.2, NN 0.06 / 3.6; K=N=128: NT 0.61 / 21, NN 0.53 / 13;
 * K=N=256: NT 2.0 / 63, NN 2.6 / 53 (and the transpose costs a pass over W
 * per call); K=2, N=64: NT 0.08 / 4.3, NN 0.003 / 0.12. */
#define GEMM_NT_MIN_K 128

/* A W [k, n] with at most this many columns (and enough rows to fill vectors)
 * is copied transposed at each call and read by the NT form: the input
 * gradient of a 2-D toy model's first layer, g [m, 64] x W [64, 2], took 7% of
 * tabular_b4096's step as NN, one fma per k with 2 of 16 lanes used.  The
 * copy lives on the stack (at most 16 KiB). */
#define GEMM_COPY_MAX_N 4
#define GEMM_COPY_MIN_K 16
#define GEMM_COPY_MAX_FLOATS 4096

ebmc_gemm_form ebmc_gemm_form_of(int64_t k, int64_t n, int trans_b)
{
    if (k <= 0 || n <= 0 || k == IR_DIM_N || n == IR_DIM_N)
        return EBMC_GEMM_BLAS;
    if (n == 1)   /* W [1,K] and W^T [K,1] are the same floats: a dot product per row */
        return EBMC_GEMM_NT;
    if (k == 1)
        return EBMC_GEMM_NN;
    if (!trans_b && n <= GEMM_COPY_MAX_N && k >= GEMM_COPY_MIN_K && k * n <= GEMM_COPY_MAX_FLOATS)
        return EBMC_GEMM_NT_COPY;
    return trans_b ? EBMC_GEMM_NT : EBMC_GEMM_NN;
}

int ebmc_gemm_packs_transpose(int64_t k, int64_t n)
{
    return k > 1 && n > 1 && k != IR_DIM_N && n != IR_DIM_N && k < GEMM_NT_MIN_K;
}

static const char gemm_helpers[] =
    "/* ---- GEMM for activations x weights (compiler/codegen_c_gemm.c): C[m x N] =\n"
    " * A[m x K] * B, read in place.  Every output element is computed in an order\n"
    " * that depends on K, N and the vector width only, never on m or on the block\n"
    " * its row falls in: a sample's result does not depend on the tile size. */\n"
    "#if defined(__AVX512F__)\n"
    "#include <immintrin.h>\n"
    "#define EBMK_VL 16\n"
    "#ifndef EBMK_NN_MR\n"
    "#define EBMK_NN_MR 6   /* NN block: rows x column vectors */\n"
    "#endif\n"
    "#ifndef EBMK_NN_NV\n"
    "#define EBMK_NN_NV 4\n"
    "#endif\n"
    "#ifndef EBMK_NN_KC\n"
    "#define EBMK_NN_KC 256   /* NN: rows of W per pass over all rows of A */\n"
    "#endif\n"
    "#ifndef EBMK_NN_PANEL_K\n"
    "#define EBMK_NN_PANEL_K 128   /* NN: below this K, panels of columns (ebmk_gemm_nn_from) */\n"
    "#endif\n"

    "#ifndef EBMK_NN_FEW\n"
    "#define EBMK_NN_FEW 2   /* NN: fewer rows take single-row strips of EBMK_WIDE vectors */\n"
    "#endif\n"
    "#define EBMK_KEEP(v) __asm__(\"\" : \"+v\"(v))   /* in a register, not re-read per fma */\n"
    "#define EBMK_NT_MR 4   /* NT block: rows x columns */\n"
    "#define EBMK_NT_NC 4\n"
    "#define EBMK_WIDE 16   /* blocks of single rows: column vectors (NN), columns (NT) */\n"
    "#define EBMK_NT_ONE 2   /* NT, fewer rows than a block: columns (rows of W) at a time */\n"
    "typedef __m512 ebmk_v;\n"
    "static inline ebmk_v ebmk_vfma(ebmk_v a, ebmk_v b, ebmk_v c) { return _mm512_fmadd_ps(a, b, c); }\n"
    "static inline ebmk_v ebmk_vzero(void) { return _mm512_setzero_ps(); }\n"
    "static inline ebmk_v ebmk_vset1(float x) { return _mm512_set1_ps(x); }\n"
    "static inline ebmk_v ebmk_vload(const float *p) { return _mm512_loadu_ps(p); }\n"
    "static inline void ebmk_vstore(float *p, ebmk_v v) { _mm512_storeu_ps(p, v); }\n"
    "/* The first c lanes (0 < c < EBMK_VL); the others read as 0 and are not touched. */\n"
    "static inline ebmk_v ebmk_vload_part(const float *p, int64_t c)\n"
    "{\n"
    "    return _mm512_maskz_loadu_ps((__mmask16)((1u << c) - 1u), p);\n"
    "}\n"
    "static inline void ebmk_vstore_part(float *p, ebmk_v v, int64_t c)\n"
    "{\n"
    "    _mm512_mask_storeu_ps(p, (__mmask16)((1u << c) - 1u), v);\n"
    "}\n"
    "/* Lanes summed by halving: l + l+8, then l + l+4, l + l+2, l + l+1. */\n"
    "static inline float ebmk_vsum(ebmk_v v) { return _mm512_reduce_add_ps(v); }\n"
    "#else\n"
    "#if defined(__AVX__)\n"
    "#include <immintrin.h>\n"
    "#define EBMK_VL 8\n"
    "#else\n"
    "#define EBMK_VL 4\n"
    "#endif\n"
    "#define EBMK_NN_MR 4   /* 16 vector registers: 8 accumulators */\n"
    "#define EBMK_NN_NV 2\n"
    "#define EBMK_NN_KC 256\n"
    "#define EBMK_NN_PANEL_K 128\n"
    "#define EBMK_NN_FEW 4\n"

    "#define EBMK_KEEP(v) (void)0\n"
    "#define EBMK_NT_MR 2\n"
    "#define EBMK_NT_NC 4\n"
    "#define EBMK_WIDE 8\n"
    "#define EBMK_NT_ONE EBMK_WIDE\n"
    "typedef float ebmk_v __attribute__((vector_size(EBMK_VL * 4)));\n"
    "static inline ebmk_v ebmk_vfma(ebmk_v a, ebmk_v b, ebmk_v c)\n"
    "{\n"
    "#if defined(__AVX__) && defined(__FMA__)\n"
    "    return _mm256_fmadd_ps(a, b, c);\n"
    "#else\n"
    "    return a * b + c;   /* -ffp-contract=off: a multiply, then an add */\n"
    "#endif\n"
    "}\n"
    "static inline ebmk_v ebmk_vzero(void) { ebmk_v z = {0}; return z; }\n"
    "static inline ebmk_v ebmk_vset1(float x)\n"
    "{\n"
    "    ebmk_v v;\n"
    "    for (int l = 0; l < EBMK_VL; l++)\n"
    "        v[l] = x;\n"
    "    return v;\n"
    "}\n"
    "static inline ebmk_v ebmk_vload(const float *p) { ebmk_v v; memcpy(&v, p, sizeof v); return v; }\n"
    "static inline void ebmk_vstore(float *p, ebmk_v v) { memcpy(p, &v, sizeof v); }\n"
    "static inline ebmk_v ebmk_vload_part(const float *p, int64_t c)\n"
    "{\n"
    "    ebmk_v v = ebmk_vzero();\n"
    "    memcpy(&v, p, (size_t)c * sizeof(float));\n"
    "    return v;\n"
    "}\n"
    "static inline void ebmk_vstore_part(float *p, ebmk_v v, int64_t c) { memcpy(p, &v, (size_t)c * sizeof(float)); }\n"
    "static inline float ebmk_vsum(ebmk_v v)\n"
    "{\n"
    "    float t[EBMK_VL];\n"
    "    memcpy(t, &v, sizeof t);\n"
    "    for (int w = EBMK_VL / 2; w > 0; w /= 2)\n"
    "        for (int l = 0; l < w; l++)\n"
    "            t[l] += t[l + w];\n"
    "    return t[0];\n"
    "}\n"
    "#endif\n"
    "#define EBMK_INLINE static inline __attribute__((always_inline))\n"
    "\n"
    "/* The rows [i, m) left after the blocks of EBMK_NN_MR rows: one block of\n"
    " * them when their count is a constant (a convolution's m), else blocks of 4,\n"
    " * 2 and 1 rows (three copies of the block instead of EBMK_NN_MR - 1). */\n"
    "#define EBMK_NN_REST(call)                                                \\\n"
    "    do {                                                                  \\\n"
    "        const int64_t rest_ = m - i;                                      \\\n"
    "        if (__builtin_constant_p(rest_)) {                                \\\n"
    "            switch (rest_) {                                              \\\n"
    "            case 1: call(1); break;                                       \\\n"
    "            case 2: call(2 % EBMK_NN_MR); break;                          \\\n"
    "            case 3: call(3 % EBMK_NN_MR); break;                          \\\n"
    "            case 4: call(4 % EBMK_NN_MR); break;                          \\\n"
    "            case 5: call(5 % EBMK_NN_MR); break;                          \\\n"
    "            case 6: call(6 % EBMK_NN_MR); break;                          \\\n"
    "            case 7: call(7 % EBMK_NN_MR); break;                          \\\n"
    "            default: break;                                               \\\n"
    "            }                                                             \\\n"
    "        } else {                                                          \\\n"
    "            if (EBMK_NN_MR > 4 && (rest_ & 4)) {                          \\\n"
    "                call(4 % EBMK_NN_MR);                                     \\\n"
    "                i += 4;                                                   \\\n"
    "            }                                                             \\\n"
    "            if (rest_ & 2) {                                              \\\n"
    "                call(2);                                                  \\\n"
    "                i += 2;                                                   \\\n"
    "            }                                                             \\\n"
    "            if (rest_ & 1)                                                \\\n"
    "                call(1);                                                  \\\n"
    "        }                                                                 \\\n"
    "    } while (0)\n"
    "\n"
    "/* NN block: rows [0, mr) x column vectors [0, nv) of C, the last vector\n"
    " * `last` lanes wide, over kb rows of W; a [mr x kb] (row stride K), w [kb x\n"
    " * N] (row stride ldw), c row stride N.  first: the sums start at 0, else\n"
    " * they continue from C (a stored float is the exact accumulator, so blocks\n"
    " * of k continue one fma chain in k order). */\n"
    "EBMK_INLINE void ebmk_nn_block(const int mr, const int nv, const int64_t last, const int64_t kb,\n"
    "                               const int64_t K, const int64_t ldw, const int64_t N, const int first,\n"
    "                               const float *restrict a, const float *restrict w, float *restrict c)\n"
    "{\n"
    "    ebmk_v acc[EBMK_NN_MR][EBMK_WIDE];\n"
    "    #pragma GCC unroll 16\n"
    "    for (int r = 0; r < mr; r++)\n"
    "        #pragma GCC unroll 16\n"
    "        for (int v = 0; v < nv; v++)\n"
    "            acc[r][v] = first ? ebmk_vzero()\n"
    "                      : v == nv - 1 && last < EBMK_VL ? ebmk_vload_part(c + r * N + v * EBMK_VL, last)\n"
    "                                                      : ebmk_vload(c + r * N + v * EBMK_VL);\n"
    "    for (int64_t k = 0; k < kb; k++) {\n"
    "        ebmk_v wv[EBMK_WIDE];\n"
    "        #pragma GCC unroll 16\n"
    "        for (int v = 0; v < nv; v++) {\n"
    "            wv[v] = v == nv - 1 && last < EBMK_VL ? ebmk_vload_part(w + k * ldw + v * EBMK_VL, last)\n"
    "                                                 : ebmk_vload(w + k * ldw + v * EBMK_VL);\n"
    "            if (mr > 1)   /* a single row (EBMK_WIDE vectors) has no registers to spare */\n"
    "                EBMK_KEEP(wv[v]);\n"
    "        }\n"
    "        #pragma GCC unroll 16\n"
    "        for (int r = 0; r < mr; r++) {\n"
    "            const ebmk_v ar = ebmk_vset1(a[r * K + k]);\n"
    "            #pragma GCC unroll 16\n"
    "            for (int v = 0; v < nv; v++)\n"
    "                acc[r][v] = ebmk_vfma(ar, wv[v], acc[r][v]);\n"
    "        }\n"
    "    }\n"
    "    #pragma GCC unroll 16\n"
    "    for (int r = 0; r < mr; r++)\n"
    "        #pragma GCC unroll 16\n"
    "        for (int v = 0; v < nv; v++) {\n"
    "            if (v == nv - 1 && last < EBMK_VL)\n"
    "                ebmk_vstore_part(c + r * N + v * EBMK_VL, acc[r][v], last);\n"
    "            else\n"
    "                ebmk_vstore(c + r * N + v * EBMK_VL, acc[r][v]);\n"
    "        }\n"
    "}\n"
    "\n"
    "/* NN rows: all m rows of a column strip of nv vectors (constant) over kb\n"
    " * rows of W, in blocks of EBMK_NN_MR rows, then one block of the rest. */\n"
    "EBMK_INLINE void ebmk_nn_strip(int64_t m, const int nv, const int64_t last, const int64_t kb, const int64_t K,\n"
    "                               const int64_t ldw, const int64_t N, const int first, const float *restrict a,\n"
    "                               const float *restrict w, float *restrict c)\n"
    "{\n"
    "    int64_t i = 0;\n"
    "    for (; i + EBMK_NN_MR <= m; i += EBMK_NN_MR)\n"
    "        ebmk_nn_block(EBMK_NN_MR, nv, last, kb, K, ldw, N, first, a + i * K, w, c + i * N);\n"
    "#define EBMK_NN_CALL(r) ebmk_nn_block(r, nv, last, kb, K, ldw, N, first, a + i * K, w, c + i * N)\n"
    "    EBMK_NN_REST(EBMK_NN_CALL);\n"
    "#undef EBMK_NN_CALL\n"
    "}\n"
    "\n"
    "/* A strip of nv vectors at every row, W's rows in blocks of EBMK_NN_KC (the\n"
    " * strip's part of W stays in L1 while all rows pass over it). */\n"
    "EBMK_INLINE void ebmk_nn_kstrip(int64_t m, const int nv, const int64_t last, const int64_t K, const int64_t N,\n"
    "                                const float *restrict a, const float *restrict w, float *restrict c)\n"
    "{\n"
    "    for (int64_t k0 = 0; k0 < K; k0 += EBMK_NN_KC)\n"
    "        ebmk_nn_strip(m, nv, last, K - k0 < EBMK_NN_KC ? K - k0 : EBMK_NN_KC, K, N, N, k0 == 0, a + k0,\n"
    "                      w + k0 * N, c);\n"
    "}\n"
    "\n"
    "/* Columns [j0, N) of C[m x N] = A[m x K] * W, W [K x N] row-major: strips of\n"
    " * EBMK_NN_NV vectors, then one strip of the rest (nv vectors, the last one\n"
    " * `last` lanes wide). */\n"
    "#define EBMK_NN_TAIL(call)                                                \\\n"
    "    do {                                                                  \\\n"
    "        const int64_t rest = N - j, full = rest / EBMK_VL, part = rest % EBMK_VL; \\\n"
    "        const int nv = (int)(full + (part > 0));                          \\\n"
    "        const int64_t last = part > 0 ? part : EBMK_VL;                   \\\n"
    "        (void)last;                                                       \\\n"
    "        if (nv == 1) /* a constant where N is: one call survives */       \\\n"
    "            call(1);                                                      \\\n"
    "        else if (nv == 2)                                                 \\\n"
    "            call(2);                                                      \\\n"
    "        else if (EBMK_NN_NV > 2 && nv == 3)                               \\\n"
    "            call(3);                                                      \\\n"
    "        else if (EBMK_NN_NV > 3 && nv == 4)                               \\\n"
    "            call(4);                                                      \\\n"
    "    } while (0)\n"
    "\n"
    "/* One block of mr rows across the strips [p0, p1) of EBMK_NN_NV vectors, and\n"
    " * the last strip (N - p1 columns) if tail. */\n"
    "EBMK_INLINE void ebmk_nn_across(const int mr, const int64_t K, const int64_t N, const int64_t p0,\n"
    "                                const int64_t p1, const int tail, const float *restrict a,\n"
    "                                const float *restrict w, float *restrict c)\n"
    "{\n"
    "    for (int64_t s = p0; s < p1; s += EBMK_NN_NV * EBMK_VL)\n"
    "        ebmk_nn_block(mr, EBMK_NN_NV, EBMK_VL, K, K, N, N, 1, a, w + s, c + s);\n"
    "    if (tail) {\n"
    "        const int64_t j = p1;\n"
    "#define EBMK_NN_CALL(v) ebmk_nn_block(mr, v, last, K, K, N, N, 1, a, w + j, c + j)\n"
    "        EBMK_NN_TAIL(EBMK_NN_CALL);\n"
    "#undef EBMK_NN_CALL\n"
    "    }\n"
    "}\n"
    "\n"
    "EBMK_INLINE void ebmk_gemm_nn_from(int64_t m, const int64_t K, const int64_t N, const int64_t j0,\n"
    "                                   const float *restrict a, const float *restrict w, float *restrict c)\n"
    "{\n"
    "    const int64_t step = EBMK_NN_NV * EBMK_VL, j = j0 + (N - j0) / step * step;\n"
    "    if (K < EBMK_NN_PANEL_K) {\n"
    "        /* Panels of W's columns (about EBMK_NN_PANEL_K x 64 floats, in L1), each\n"
    "         * with the row blocks outside and the strips inside.  (Strips outside,\n"
    "         * a block would load the W columns at the offset in the row where the\n"
    "         * previous block has just stored to C; when N is a multiple of 1024,\n"
    "         * those loads wait on the stores (4K aliasing): 4x slower at K = 3.) */\n"
    "        const int64_t pw = EBMK_NN_PANEL_K / K * step;\n"
    "        for (int64_t p0 = j0; p0 < j || (p0 == j && j < N); p0 += pw) {\n"
    "            const int64_t p1 = j - p0 < pw ? j : p0 + pw;\n"
    "            const int tail = p1 == j && j < N;\n"
    "            int64_t i = 0;\n"
    "            for (; i + EBMK_NN_MR <= m; i += EBMK_NN_MR)\n"
    "                ebmk_nn_across(EBMK_NN_MR, K, N, p0, p1, tail, a + i * K, w, c + i * N);\n"
    "#define EBMK_NN_CALL(r) ebmk_nn_across(r, K, N, p0, p1, tail, a + i * K, w, c + i * N)\n"
    "            EBMK_NN_REST(EBMK_NN_CALL);\n"
    "#undef EBMK_NN_CALL\n"
    "            if (tail)\n"
    "                break;\n"
    "        }\n"
    "        return;\n"
    "    }\n"
    "    for (int64_t s = j0; s < j; s += step)\n"
    "        ebmk_nn_kstrip(m, EBMK_NN_NV, EBMK_VL, K, N, a, w + s, c + s);\n"
    "#define EBMK_NN_CALL(v) ebmk_nn_kstrip(m, v, last, K, N, a, w + j, c + j)\n"
    "    EBMK_NN_TAIL(EBMK_NN_CALL);\n"
    "#undef EBMK_NN_CALL\n"
    "}\n"
    "\n"
    "/* C[m x N] = A[m x K] * W.  Fewer rows than EBMK_NN_FEW (batch 1): a block of\n"
    " * one row has only EBMK_NN_NV accumulators, too few to hide the fma latency, so\n"
    " * such rows first take strips of EBMK_WIDE vectors.  The order of each\n"
    " * element's sum is the same in every strip. */\n"
    "EBMK_INLINE void ebmk_gemm_nn(int64_t m, const int64_t K, const int64_t N, const float *restrict a,\n"
    "                              const float *restrict w, float *restrict c)\n"
    "{\n"
    "    int64_t j0 = 0;\n"
    "    if (m < EBMK_NN_FEW) {\n"
    "        const int64_t step = EBMK_WIDE * EBMK_VL;\n"
    "        j0 = N / step * step;\n"
    "        for (int64_t s = 0; s < j0; s += step)\n"
    "            for (int64_t i = 0; i < m; i++)\n"
    "                ebmk_nn_block(1, EBMK_WIDE, EBMK_VL, K, K, N, N, 1, a + i * K, w + s, c + i * N + s);\n"
    "    }\n"
    "    ebmk_gemm_nn_from(m, K, N, j0, a, w, c);\n"
    "}\n"
    "\n"
    "/* NT block: rows [0, mr) x columns [0, nc) of C; a [mr x K], w [nc x K],\n"
    " * both row stride K; C's row stride ldc. */\n"
    "EBMK_INLINE void ebmk_nt_block(const int mr, const int nc, const int64_t K, const int64_t ldc,\n"
    "                               const float *restrict a, const float *restrict w, float *restrict c)\n"
    "{\n"
    "    ebmk_v acc[EBMK_NT_MR][EBMK_WIDE];\n"
    "    #pragma GCC unroll 16\n"
    "    for (int r = 0; r < mr; r++)\n"
    "        #pragma GCC unroll 16\n"
    "        for (int q = 0; q < nc; q++)\n"
    "            acc[r][q] = ebmk_vzero();\n"
    "    int64_t k = 0;\n"
    "    for (; k + EBMK_VL <= K; k += EBMK_VL) {\n"
    "        ebmk_v av[EBMK_NT_MR], wv[EBMK_WIDE];\n"
    "        #pragma GCC unroll 16\n"
    "        for (int r = 0; r < mr; r++)\n"
    "            av[r] = ebmk_vload(a + r * K + k);\n"
    "        #pragma GCC unroll 16\n"
    "        for (int q = 0; q < nc; q++)\n"
    "            wv[q] = ebmk_vload(w + q * K + k);\n"
    "        #pragma GCC unroll 16\n"
    "        for (int r = 0; r < mr; r++)\n"
    "            #pragma GCC unroll 16\n"
    "            for (int q = 0; q < nc; q++)\n"
    "                acc[r][q] = ebmk_vfma(av[r], wv[q], acc[r][q]);\n"
    "    }\n"
    "    if (k < K) {   /* the last, zero-padded vector */\n"
    "        ebmk_v av[EBMK_NT_MR], wv[EBMK_WIDE];\n"
    "        #pragma GCC unroll 16\n"
    "        for (int r = 0; r < mr; r++)\n"
    "            av[r] = ebmk_vload_part(a + r * K + k, K - k);\n"
    "        #pragma GCC unroll 16\n"
    "        for (int q = 0; q < nc; q++)\n"
    "            wv[q] = ebmk_vload_part(w + q * K + k, K - k);\n"
    "        #pragma GCC unroll 16\n"
    "        for (int r = 0; r < mr; r++)\n"
    "            #pragma GCC unroll 16\n"
    "            for (int q = 0; q < nc; q++)\n"
    "                acc[r][q] = ebmk_vfma(av[r], wv[q], acc[r][q]);\n"
    "    }\n"
    "    #pragma GCC unroll 16\n"
    "    for (int r = 0; r < mr; r++)\n"
    "        #pragma GCC unroll 16\n"
    "        for (int q = 0; q < nc; q++)\n"
    "            c[r * ldc + q] = ebmk_vsum(acc[r][q]);\n"
    "}\n"
    "\n"
    "/* NT rows: all m rows of a strip of nc columns (constant). */\n"
    "EBMK_INLINE void ebmk_nt_strip(int64_t m, const int nc, const int64_t K, const int64_t N,\n"
    "                               const float *restrict a, const float *restrict w, float *restrict c)\n"
    "{\n"
    "    int64_t i = 0;\n"
    "    for (; i + EBMK_NT_MR <= m; i += EBMK_NT_MR)\n"
    "        ebmk_nt_block(EBMK_NT_MR, nc, K, N, a + i * K, w, c + i * N);\n"
    "    for (; i < m; i++)\n"
    "        ebmk_nt_block(1, nc, K, N, a + i * K, w, c + i * N);\n"
    "}\n"
    "\n"
    "/* dst [cols x rows] = src [rows x cols]^T. */\n"
    "static inline void ebmk_transpose(const int64_t rows, const int64_t cols, const float *restrict src,\n"
    "                                  float *restrict dst)\n"
    "{\n"
    "    for (int64_t r = 0; r < rows; r++)\n"
    "        for (int64_t c = 0; c < cols; c++)\n"
    "            dst[c * rows + r] = src[r * cols + c];\n"
    "}\n"
    "\n"
    "/* C[m x N] = A[m x K] * W^T, W [N x K] row-major: one dot product per element;\n"
    " * fewer rows than a block (batch 1) take EBMK_NT_ONE columns at a time (each\n"
    " * dot product is summed the same way).  With AVX-512 that is 2: W streams\n"
    " * from L2 or L3 (the batch-1 MLP's 784 x 256 layer: 0.8 MB), and 2 rows of\n"
    " * it at a time stream faster than 16 (the batch-1 MLP's Langevin step -10%,\n"
    " * A/B min of 11); the fma chains' latency hides behind the loads. */\n"
    "EBMK_INLINE void ebmk_gemm_nt(int64_t m, const int64_t K, const int64_t N, const float *restrict a,\n"
    "                              const float *restrict w, float *restrict c)\n"
    "{\n"
    "    int64_t j0 = 0;\n"
    "    if (m < EBMK_NT_MR) {\n"
    "        j0 = N / EBMK_NT_ONE * EBMK_NT_ONE;\n"
    "        for (int64_t j = 0; j < j0; j += EBMK_NT_ONE)\n"
    "            for (int64_t i = 0; i < m; i++)\n"
    "                ebmk_nt_block(1, EBMK_NT_ONE, K, N, a + i * K, w + j * K, c + i * N + j);\n"
    "    }\n"
    "    const int64_t nb = j0 + (N - j0) / EBMK_NT_NC * EBMK_NT_NC;\n"
    "    for (int64_t j = j0; j < nb; j += EBMK_NT_NC)\n"
    "        ebmk_nt_strip(m, EBMK_NT_NC, K, N, a, w + j * K, c + j);\n"
    "    for (int64_t q = 0; q < N - nb; q++)\n"
    "        ebmk_nt_strip(m, 1, K, N, a, w + (nb + q) * K, c + nb + q);\n"
    "}\n"
    "\n";
void ebmc_emit_gemm_helpers(ebmc_buf *b)
{
    ebmc_buf_puts(b, gemm_helpers);
}

void ebmc_emit_gemm_call(ebmc_buf *b, const char *ind, ebmc_gemm_form form, const char *m, int64_t k, int64_t n,
                         const char *a, const char *w, const char *c)
{
    if (form == EBMC_GEMM_NT_COPY) {
        ebmc_buf_printf(b,
                        "%s{\n"
                        "%s    float wt[%lld];   /* W^T */\n"
                        "%s    ebmk_transpose(%lld, %lld, %s, wt);\n"
                        "%s    ebmk_gemm_nt(%s, %lld, %lld, %s, wt, %s);\n"
                        "%s}\n",
                        ind, ind, (long long)(k * n), ind, (long long)k, (long long)n, w, ind, m, (long long)k,
                        (long long)n, a, c, ind);
        return;
    }
    ebmc_buf_printf(b, "%sebmk_gemm_%s(%s, %lld, %lld, %s, %s, %s);\n", ind, form == EBMC_GEMM_NT ? "nt" : "nn", m,
                    (long long)k, (long long)n, a, w, c);
}
