/* ebmk_gemm.h — the generated models' own matrix multiply for activations x
 * weights: C[m x N] = A[m x K] * B, read in place, B = W (ebmk_gemm_nn) or
 * W^T (ebmk_gemm_nt).  Every output element is computed in an order that
 * depends on K, N and the vector width only, never on m or on the block its
 * row falls in: a sample's result does not depend on the tile size.  Why
 * these and not cblas_sgemm, the blockings and the measurements behind
 * them: compiler/codegen_c_gemm.c, which picks the form per shape.
 *
 * A generated model.c carries this file's text (compiler/codegen_c_helpers.c
 * embeds it at build time, cmake/embed_text.cmake) when its kernels need it;
 * the build compiles it as ordinary C with the models' flags
 * (compiler/kernels/ebmk_check.c) and tests/unit/test_gemm.c tests it directly.
 * It must stay self-contained: no includes but the C library's and the
 * compiler's, as it lands in model.c after the prelude (math.h, stdint.h,
 * string.h are already there).
 */
#ifndef EBMK_GEMM_H
#define EBMK_GEMM_H

#include <stdint.h>
#include <string.h>

#if defined(__AVX512F__)
#include <immintrin.h>
#define EBMK_VL 16
#ifndef EBMK_NN_MR
#define EBMK_NN_MR 6   /* NN block: rows x column vectors */
#endif
#ifndef EBMK_NN_NV
#define EBMK_NN_NV 4
#endif
#ifndef EBMK_NN_KC
#define EBMK_NN_KC 256   /* NN: rows of W per pass over all rows of A */
#endif
#ifndef EBMK_NN_PANEL_K
#define EBMK_NN_PANEL_K 128   /* NN: below this K, panels of columns (ebmk_gemm_nn_from) */
#endif
#ifndef EBMK_NN_FEW
#define EBMK_NN_FEW 2   /* NN: fewer rows take single-row strips of EBMK_WIDE vectors */
#endif
#define EBMK_KEEP(v) __asm__("" : "+v"(v))   /* in a register, not re-read per fma */
#define EBMK_NT_MR 4   /* NT block: rows x columns */
#define EBMK_NT_NC 4
#define EBMK_WIDE 16   /* blocks of single rows: column vectors (NN), columns (NT) */
#define EBMK_NT_ONE 2   /* NT, fewer rows than a block: columns (rows of W) at a time */
typedef __m512 ebmk_v;
static inline ebmk_v ebmk_vfma(ebmk_v a, ebmk_v b, ebmk_v c) { return _mm512_fmadd_ps(a, b, c); }
static inline ebmk_v ebmk_vzero(void) { return _mm512_setzero_ps(); }
static inline ebmk_v ebmk_vset1(float x) { return _mm512_set1_ps(x); }
static inline ebmk_v ebmk_vload(const float *p) { return _mm512_loadu_ps(p); }
static inline void ebmk_vstore(float *p, ebmk_v v) { _mm512_storeu_ps(p, v); }
/* The first c lanes (0 < c < EBMK_VL); the others read as 0 and are not touched. */
static inline ebmk_v ebmk_vload_part(const float *p, int64_t c)
{
    return _mm512_maskz_loadu_ps((__mmask16)((1u << c) - 1u), p);
}
static inline void ebmk_vstore_part(float *p, ebmk_v v, int64_t c)
{
    _mm512_mask_storeu_ps(p, (__mmask16)((1u << c) - 1u), v);
}
/* Lanes summed by halving: l + l+8, then l + l+4, l + l+2, l + l+1. */
static inline float ebmk_vsum(ebmk_v v) { return _mm512_reduce_add_ps(v); }
#else
#if defined(__AVX__)
#include <immintrin.h>
#define EBMK_VL 8
#else
#define EBMK_VL 4
#endif
#define EBMK_NN_MR 4   /* 16 vector registers: 8 accumulators */
#define EBMK_NN_NV 2
#define EBMK_NN_KC 256
#define EBMK_NN_PANEL_K 128
#define EBMK_NN_FEW 4
#define EBMK_KEEP(v) (void)0
#define EBMK_NT_MR 2
#define EBMK_NT_NC 4
#define EBMK_WIDE 8
#define EBMK_NT_ONE EBMK_WIDE
typedef float ebmk_v __attribute__((vector_size(EBMK_VL * 4)));
static inline ebmk_v ebmk_vfma(ebmk_v a, ebmk_v b, ebmk_v c)
{
#if defined(__AVX__) && defined(__FMA__)
    return _mm256_fmadd_ps(a, b, c);
#else
    return a * b + c;   /* -ffp-contract=off: a multiply, then an add */
#endif
}
static inline ebmk_v ebmk_vzero(void) { ebmk_v z = {0}; return z; }
static inline ebmk_v ebmk_vset1(float x)
{
    ebmk_v v;
    for (int l = 0; l < EBMK_VL; l++)
        v[l] = x;
    return v;
}
static inline ebmk_v ebmk_vload(const float *p) { ebmk_v v; memcpy(&v, p, sizeof v); return v; }
static inline void ebmk_vstore(float *p, ebmk_v v) { memcpy(p, &v, sizeof v); }
static inline ebmk_v ebmk_vload_part(const float *p, int64_t c)
{
    ebmk_v v = ebmk_vzero();
    memcpy(&v, p, (size_t)c * sizeof(float));
    return v;
}
static inline void ebmk_vstore_part(float *p, ebmk_v v, int64_t c) { memcpy(p, &v, (size_t)c * sizeof(float)); }
static inline float ebmk_vsum(ebmk_v v)
{
    float t[EBMK_VL];
    memcpy(t, &v, sizeof t);
    for (int w = EBMK_VL / 2; w > 0; w /= 2)
        for (int l = 0; l < w; l++)
            t[l] += t[l + w];
    return t[0];
}
#endif
/* Unroll this loop over rows or vectors of a block completely (its count is
 * a constant where the block is inlined).  GCC then keeps the accumulator
 * arrays in registers; clang keeps them in memory (a load, fma and store per
 * k: its model 2.6x slower per Langevin step) unless asked for a full unroll
 * in its own words, which it does before SROA splits the arrays.  GCC sees
 * the same text as ever: its code and bits do not change. */
#ifndef EBMK_UNROLL
#if defined(__clang__)
#define EBMK_UNROLL _Pragma("clang loop unroll(full)")
#else
#define EBMK_UNROLL _Pragma("GCC unroll 16")
#endif
#endif
#ifndef EBMK_INLINE   /* as in ebmk_math.h: forced only when optimising */
#if defined(__GNUC__) && defined(__OPTIMIZE__)
#define EBMK_INLINE static inline __attribute__((always_inline))
#else
#define EBMK_INLINE static inline
#endif
#endif

/* The rows [i, m) left after the blocks of EBMK_NN_MR rows: one block of
 * them when their count is a constant (a convolution's m), else blocks of 4,
 * 2 and 1 rows (three copies of the block instead of EBMK_NN_MR - 1). */
#define EBMK_NN_REST(call)                                                \
    do {                                                                  \
        const int64_t rest_ = m - i;                                      \
        if (__builtin_constant_p(rest_)) {                                \
            switch (rest_) {                                              \
            case 1: call(1); break;                                       \
            case 2: call(2 % EBMK_NN_MR); break;                          \
            case 3: call(3 % EBMK_NN_MR); break;                          \
            case 4: call(4 % EBMK_NN_MR); break;                          \
            case 5: call(5 % EBMK_NN_MR); break;                          \
            case 6: call(6 % EBMK_NN_MR); break;                          \
            case 7: call(7 % EBMK_NN_MR); break;                          \
            default: break;                                               \
            }                                                             \
        } else {                                                          \
            if (EBMK_NN_MR > 4 && (rest_ & 4)) {                          \
                call(4 % EBMK_NN_MR);                                     \
                i += 4;                                                   \
            }                                                             \
            if (rest_ & 2) {                                              \
                call(2);                                                  \
                i += 2;                                                   \
            }                                                             \
            if (rest_ & 1)                                                \
                call(1);                                                  \
        }                                                                 \
    } while (0)

/* NN block: rows [0, mr) x column vectors [0, nv) of C, the last vector
 * `last` lanes wide, over kb rows of W; a [mr x kb] (row stride K), w [kb x
 * N] (row stride ldw), c row stride N.  first: the sums start at 0, else
 * they continue from C (a stored float is the exact accumulator, so blocks
 * of k continue one fma chain in k order). */
EBMK_INLINE void ebmk_nn_block(const int mr, const int nv, const int64_t last, const int64_t kb,
                               const int64_t K, const int64_t ldw, const int64_t N, const int first,
                               const float *restrict a, const float *restrict w, float *restrict c)
{
    ebmk_v acc[EBMK_NN_MR][EBMK_WIDE];
    EBMK_UNROLL
    for (int r = 0; r < mr; r++)
        EBMK_UNROLL
        for (int v = 0; v < nv; v++)
            acc[r][v] = first ? ebmk_vzero()
                      : v == nv - 1 && last < EBMK_VL ? ebmk_vload_part(c + r * N + v * EBMK_VL, last)
                                                      : ebmk_vload(c + r * N + v * EBMK_VL);
    for (int64_t k = 0; k < kb; k++) {
        ebmk_v wv[EBMK_WIDE];
        EBMK_UNROLL
        for (int v = 0; v < nv; v++) {
            wv[v] = v == nv - 1 && last < EBMK_VL ? ebmk_vload_part(w + k * ldw + v * EBMK_VL, last)
                                                 : ebmk_vload(w + k * ldw + v * EBMK_VL);
            if (mr > 1)   /* a single row (EBMK_WIDE vectors) has no registers to spare */
                EBMK_KEEP(wv[v]);
        }
        EBMK_UNROLL
        for (int r = 0; r < mr; r++) {
            const ebmk_v ar = ebmk_vset1(a[r * K + k]);
            EBMK_UNROLL
            for (int v = 0; v < nv; v++)
                acc[r][v] = ebmk_vfma(ar, wv[v], acc[r][v]);
        }
    }
    EBMK_UNROLL
    for (int r = 0; r < mr; r++)
        EBMK_UNROLL
        for (int v = 0; v < nv; v++) {
            if (v == nv - 1 && last < EBMK_VL)
                ebmk_vstore_part(c + r * N + v * EBMK_VL, acc[r][v], last);
            else
                ebmk_vstore(c + r * N + v * EBMK_VL, acc[r][v]);
        }
}

/* NN rows: all m rows of a column strip of nv vectors (constant) over kb
 * rows of W, in blocks of EBMK_NN_MR rows, then one block of the rest. */
EBMK_INLINE void ebmk_nn_strip(int64_t m, const int nv, const int64_t last, const int64_t kb, const int64_t K,
                               const int64_t ldw, const int64_t N, const int first, const float *restrict a,
                               const float *restrict w, float *restrict c)
{
    int64_t i = 0;
    for (; i + EBMK_NN_MR <= m; i += EBMK_NN_MR)
        ebmk_nn_block(EBMK_NN_MR, nv, last, kb, K, ldw, N, first, a + i * K, w, c + i * N);
#define EBMK_NN_CALL(r) ebmk_nn_block(r, nv, last, kb, K, ldw, N, first, a + i * K, w, c + i * N)
    EBMK_NN_REST(EBMK_NN_CALL);
#undef EBMK_NN_CALL
}

/* A strip of nv vectors at every row, W's rows in blocks of EBMK_NN_KC (the
 * strip's part of W stays in L1 while all rows pass over it). */
EBMK_INLINE void ebmk_nn_kstrip(int64_t m, const int nv, const int64_t last, const int64_t K, const int64_t N,
                                const float *restrict a, const float *restrict w, float *restrict c)
{
    for (int64_t k0 = 0; k0 < K; k0 += EBMK_NN_KC)
        ebmk_nn_strip(m, nv, last, K - k0 < EBMK_NN_KC ? K - k0 : EBMK_NN_KC, K, N, N, k0 == 0, a + k0,
                      w + k0 * N, c);
}

/* Columns [j0, N) of C[m x N] = A[m x K] * W, W [K x N] row-major: strips of
 * EBMK_NN_NV vectors, then one strip of the rest (nv vectors, the last one
 * `last` lanes wide). */
#define EBMK_NN_TAIL(call)                                                \
    do {                                                                  \
        const int64_t rest = N - j, full = rest / EBMK_VL, part = rest % EBMK_VL; \
        const int nv = (int)(full + (part > 0));                          \
        const int64_t last = part > 0 ? part : EBMK_VL;                   \
        (void)last;                                                       \
        if (nv == 1) /* a constant where N is: one call survives */       \
            call(1);                                                      \
        else if (nv == 2)                                                 \
            call(2);                                                      \
        else if (EBMK_NN_NV > 2 && nv == 3)                               \
            call(3);                                                      \
        else if (EBMK_NN_NV > 3 && nv == 4)                               \
            call(4);                                                      \
    } while (0)

/* One block of mr rows across the strips [p0, p1) of EBMK_NN_NV vectors, and
 * the last strip (N - p1 columns) if tail. */
EBMK_INLINE void ebmk_nn_across(const int mr, const int64_t K, const int64_t N, const int64_t p0,
                                const int64_t p1, const int tail, const float *restrict a,
                                const float *restrict w, float *restrict c)
{
    for (int64_t s = p0; s < p1; s += EBMK_NN_NV * EBMK_VL)
        ebmk_nn_block(mr, EBMK_NN_NV, EBMK_VL, K, K, N, N, 1, a, w + s, c + s);
    if (tail) {
        const int64_t j = p1;
#define EBMK_NN_CALL(v) ebmk_nn_block(mr, v, last, K, K, N, N, 1, a, w + j, c + j)
        EBMK_NN_TAIL(EBMK_NN_CALL);
#undef EBMK_NN_CALL
    }
}

EBMK_INLINE void ebmk_gemm_nn_from(int64_t m, const int64_t K, const int64_t N, const int64_t j0,
                                   const float *restrict a, const float *restrict w, float *restrict c)
{
    const int64_t step = EBMK_NN_NV * EBMK_VL, j = j0 + (N - j0) / step * step;
    if (K < EBMK_NN_PANEL_K) {
        /* Panels of W's columns (about EBMK_NN_PANEL_K x 64 floats, in L1), each
         * with the row blocks outside and the strips inside.  (Strips outside,
         * a block would load the W columns at the offset in the row where the
         * previous block has just stored to C; when N is a multiple of 1024,
         * those loads wait on the stores (4K aliasing): 4x slower at K = 3.) */
        const int64_t pw = EBMK_NN_PANEL_K / K * step;
        for (int64_t p0 = j0; p0 < j || (p0 == j && j < N); p0 += pw) {
            const int64_t p1 = j - p0 < pw ? j : p0 + pw;
            const int tail = p1 == j && j < N;
            int64_t i = 0;
            for (; i + EBMK_NN_MR <= m; i += EBMK_NN_MR)
                ebmk_nn_across(EBMK_NN_MR, K, N, p0, p1, tail, a + i * K, w, c + i * N);
#define EBMK_NN_CALL(r) ebmk_nn_across(r, K, N, p0, p1, tail, a + i * K, w, c + i * N)
            EBMK_NN_REST(EBMK_NN_CALL);
#undef EBMK_NN_CALL
            if (tail)
                break;
        }
        return;
    }
    for (int64_t s = j0; s < j; s += step)
        ebmk_nn_kstrip(m, EBMK_NN_NV, EBMK_VL, K, N, a, w + s, c + s);
#define EBMK_NN_CALL(v) ebmk_nn_kstrip(m, v, last, K, N, a, w + j, c + j)
    EBMK_NN_TAIL(EBMK_NN_CALL);
#undef EBMK_NN_CALL
}

/* C[m x N] = A[m x K] * W.  Fewer rows than EBMK_NN_FEW (batch 1): a block of
 * one row has only EBMK_NN_NV accumulators, too few to hide the fma latency, so
 * such rows first take strips of EBMK_WIDE vectors.  The order of each
 * element's sum is the same in every strip. */
EBMK_INLINE void ebmk_gemm_nn(int64_t m, const int64_t K, const int64_t N, const float *restrict a,
                              const float *restrict w, float *restrict c)
{
    int64_t j0 = 0;
    if (m < EBMK_NN_FEW) {
        const int64_t step = EBMK_WIDE * EBMK_VL;
        j0 = N / step * step;
        for (int64_t s = 0; s < j0; s += step)
            for (int64_t i = 0; i < m; i++)
                ebmk_nn_block(1, EBMK_WIDE, EBMK_VL, K, K, N, N, 1, a + i * K, w + s, c + i * N + s);
    }
    ebmk_gemm_nn_from(m, K, N, j0, a, w, c);
}

/* NT block: rows [0, mr) x columns [0, nc) of C; a [mr x K], w [nc x K],
 * both row stride K; C's row stride ldc. */
EBMK_INLINE void ebmk_nt_block(const int mr, const int nc, const int64_t K, const int64_t ldc,
                               const float *restrict a, const float *restrict w, float *restrict c)
{
    ebmk_v acc[EBMK_NT_MR][EBMK_WIDE];
    EBMK_UNROLL
    for (int r = 0; r < mr; r++)
        EBMK_UNROLL
        for (int q = 0; q < nc; q++)
            acc[r][q] = ebmk_vzero();
    int64_t k = 0;
    for (; k + EBMK_VL <= K; k += EBMK_VL) {
        ebmk_v av[EBMK_NT_MR], wv[EBMK_WIDE];
        EBMK_UNROLL
        for (int r = 0; r < mr; r++)
            av[r] = ebmk_vload(a + r * K + k);
        EBMK_UNROLL
        for (int q = 0; q < nc; q++)
            wv[q] = ebmk_vload(w + q * K + k);
        EBMK_UNROLL
        for (int r = 0; r < mr; r++)
            EBMK_UNROLL
            for (int q = 0; q < nc; q++)
                acc[r][q] = ebmk_vfma(av[r], wv[q], acc[r][q]);
    }
    if (k < K) {   /* the last, zero-padded vector */
        ebmk_v av[EBMK_NT_MR], wv[EBMK_WIDE];
        EBMK_UNROLL
        for (int r = 0; r < mr; r++)
            av[r] = ebmk_vload_part(a + r * K + k, K - k);
        EBMK_UNROLL
        for (int q = 0; q < nc; q++)
            wv[q] = ebmk_vload_part(w + q * K + k, K - k);
        EBMK_UNROLL
        for (int r = 0; r < mr; r++)
            EBMK_UNROLL
            for (int q = 0; q < nc; q++)
                acc[r][q] = ebmk_vfma(av[r], wv[q], acc[r][q]);
    }
    EBMK_UNROLL
    for (int r = 0; r < mr; r++)
        EBMK_UNROLL
        for (int q = 0; q < nc; q++)
            c[r * ldc + q] = ebmk_vsum(acc[r][q]);
}

/* NT rows: all m rows of a strip of nc columns (constant). */
EBMK_INLINE void ebmk_nt_strip(int64_t m, const int nc, const int64_t K, const int64_t N,
                               const float *restrict a, const float *restrict w, float *restrict c)
{
    int64_t i = 0;
    for (; i + EBMK_NT_MR <= m; i += EBMK_NT_MR)
        ebmk_nt_block(EBMK_NT_MR, nc, K, N, a + i * K, w, c + i * N);
    for (; i < m; i++)
        ebmk_nt_block(1, nc, K, N, a + i * K, w, c + i * N);
}

/* dst [cols x rows] = src [rows x cols]^T. */
static inline void ebmk_transpose(const int64_t rows, const int64_t cols, const float *restrict src,
                                  float *restrict dst)
{
    for (int64_t r = 0; r < rows; r++)
        for (int64_t c = 0; c < cols; c++)
            dst[c * rows + r] = src[r * cols + c];
}

/* C[m x N] = A[m x K] * W^T, W [N x K] row-major: one dot product per element;
 * fewer rows than a block (batch 1) take EBMK_NT_ONE columns at a time (each
 * dot product is summed the same way).  With AVX-512 that is 2: W streams
 * from L2 or L3 (the batch-1 MLP's 784 x 256 layer: 0.8 MB), and 2 rows of
 * it at a time stream faster than 16 (the batch-1 MLP's Langevin step -10%,
 * A/B min of 11); the fma chains' latency hides behind the loads. */
EBMK_INLINE void ebmk_gemm_nt(int64_t m, const int64_t K, const int64_t N, const float *restrict a,
                              const float *restrict w, float *restrict c)
{
    int64_t j0 = 0;
    if (m < EBMK_NT_MR) {
        j0 = N / EBMK_NT_ONE * EBMK_NT_ONE;
        for (int64_t j = 0; j < j0; j += EBMK_NT_ONE)
            for (int64_t i = 0; i < m; i++)
                ebmk_nt_block(1, EBMK_NT_ONE, K, N, a + i * K, w + j * K, c + i * N + j);
    }
    const int64_t nb = j0 + (N - j0) / EBMK_NT_NC * EBMK_NT_NC;
    for (int64_t j = j0; j < nb; j += EBMK_NT_NC)
        ebmk_nt_strip(m, EBMK_NT_NC, K, N, a, w + j * K, c + j);
    for (int64_t q = 0; q < N - nb; q++)
        ebmk_nt_strip(m, 1, K, N, a, w + (nb + q) * K, c + nb + q);
}

#endif /* EBMK_GEMM_H */
