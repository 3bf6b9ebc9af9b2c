/* ebm_philox.h — the counter-based random numbers of ebmc (Philox4x32-10,
 * Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC'11).
 *
 * A Langevin step's noise for one element is a pure function of
 * (seed, global sample index, global step, element index), so results do not
 * depend on thread count, batch split or tile size.  This header is the one
 * definition: libebm includes it, and ebmc copies it next to the generated C
 * of every compiled model.  Header-only, C11, no includes beyond <math.h> and
 * <stdint.h> (and <immintrin.h> for the AVX-512 rounds of generated models).
 *
 * Layout: element j of sample s at step t takes its normal from the Philox
 * block with counter {j / 4, s_lo, s_hi, t} and key {seed_lo, seed_hi}; the
 * block's four 32-bit words give four normals by two Box-Muller transforms
 * (words 0,1 -> elements 4b, 4b+1; words 2,3 -> 4b+2, 4b+3), computed in float
 * (see "standard normals" below).
 */
#ifndef EBM_PHILOX_H
#define EBM_PHILOX_H

#include <math.h>
#include <stdint.h>

/* The helpers below are forced inline where the compiler allows it, so that the
 * chunk loops (which call them per lane) vectorise at -O2 too. */
#if defined(__GNUC__)
#define EBM_PHILOX__INLINE static inline __attribute__((always_inline))
#else
#define EBM_PHILOX__INLINE static inline
#endif

/* One Philox4x32 round on (x0, x1, x2, x3) with key (k0, k1). */
#define EBM_PHILOX__ROUND(x0, x1, x2, x3, k0, k1)                  \
    do {                                                           \
        const uint64_t p0_ = (uint64_t)0xD2511F53u * (x0);         \
        const uint64_t p1_ = (uint64_t)0xCD9E8D57u * (x2);         \
        const uint32_t c0_ = (uint32_t)(p1_ >> 32) ^ (x1) ^ (k0);  \
        const uint32_t c2_ = (uint32_t)(p0_ >> 32) ^ (x3) ^ (k1);  \
        (x1) = (uint32_t)p1_;                                      \
        (x3) = (uint32_t)p0_;                                      \
        (x0) = c0_;                                                \
        (x2) = c2_;                                                \
    } while (0)

EBM_PHILOX__INLINE void ebm_philox4x32_10(uint32_t ctr[4], uint32_t k0, uint32_t k1)
{
    for (int r = 0; r < 10; r++) {
        EBM_PHILOX__ROUND(ctr[0], ctr[1], ctr[2], ctr[3], k0, k1);
        k0 += 0x9E3779B9u;
        k1 += 0xBB67AE85u;
    }
}

/* A uniform in (0, 1]: never 0, so log() is safe. */
static inline double ebm_philox_uniform(uint32_t w)
{
    return ((double)w + 1.0) * (1.0 / 4294967296.0);
}

/* ---- standard normals -----------------------------------------------------------
 * Box-Muller in float with polynomial log, sin and cos: only +, -, *, /, sqrt,
 * conversions and bit operations, no libm, so the values are the same bits
 * wherever this header is compiled without FMA contraction (libebm and every
 * generated model are: ISO C mode, -ffp-contract=off), vectorised or not.
 * Uniforms keep the top 24 bits of a word: u = (w >> 8) + 1) / 2^24 in (0, 1],
 * so |z| <= sqrt(2 ln 2^24) = 5.77.  Relative error of the log and of sin/cos
 * against the exact functions: below 1e-6. */

typedef union ebm_philox__bits {
    float f;
    uint32_t u;
} ebm_philox__bits;

EBM_PHILOX__INLINE float ebm_philox__u24(uint32_t w)
{
    return (float)((w >> 8) + 1u) * (1.0f / 16777216.0f);
}

/* ln u for u in (0, 1]: u = m 2^e with m in [sqrt(1/2), sqrt(2)), then the
 * atanh series of ln m in s = (m - 1) / (m + 1), |s| < 0.172. */
EBM_PHILOX__INLINE float ebm_philox__log(float u)
{
    ebm_philox__bits b = {.f = u};
    int e = (int)((b.u >> 23) & 0xffu) - 127;
    b.u = (b.u & 0x007fffffu) | 0x3f800000u;
    float m = b.f;
    int big = m > 1.41421356f;
    m = big ? m * 0.5f : m;
    e += big;
    float s = (m - 1.0f) / (m + 1.0f), s2 = s * s;
    float p = s2 * (0.333333333f + s2 * (0.2f + s2 * (0.142857143f + s2 * 0.111111111f)));
    return 2.0f * s + 2.0f * s * p + (float)e * 0.693147181f;
}

/* cos and sin of 2 pi u for u in (0, 1]: the quarter turn q = floor(4u), the
 * rest a in [-pi/4, pi/4) around its middle, Taylor polynomials there, then
 * rotated by q pi/2 + pi/4. */
EBM_PHILOX__INLINE void ebm_philox__cossin(float u, float *c, float *s)
{
    float t = u * 4.0f;
    int q = (int)t;
    float a = (t - (float)q - 0.5f) * 1.57079633f, a2 = a * a;
    float sa = a * (1.0f - a2 * (0.166666667f - a2 * (0.00833333333f - a2 * 0.000198412698f)));
    float ca = 1.0f - a2 * (0.5f - a2 * (0.0416666667f - a2 * (0.00138888889f - a2 * 0.0000248015873f)));
    float cb = (ca - sa) * 0.707106781f, sb = (sa + ca) * 0.707106781f;
    q &= 3;
    *c = q == 0 ? cb : q == 1 ? -sb : q == 2 ? -cb : sb;
    *s = q == 0 ? sb : q == 1 ? cb : q == 2 ? -sb : -cb;
}

/* The two normals of the word pair (w0, w1). */
EBM_PHILOX__INLINE void ebm_philox__box_muller(uint32_t w0, uint32_t w1, float *z0, float *z1)
{
    float r = sqrtf(-2.0f * ebm_philox__log(ebm_philox__u24(w0))), c, s;
    ebm_philox__cossin(ebm_philox__u24(w1), &c, &s);
    *z0 = r * c;
    *z1 = r * s;
}

/* Four standard normals for block `block` of sample `sample` at step `step`. */
static inline void ebm_philox_normal4(uint64_t seed, uint64_t sample, uint64_t step, uint64_t block,
                                      float out[4])
{
    uint32_t c[4] = {(uint32_t)block, (uint32_t)sample, (uint32_t)(sample >> 32), (uint32_t)step};
    ebm_philox4x32_10(c, (uint32_t)seed, (uint32_t)(seed >> 32));
    ebm_philox__box_muller(c[0], c[1], &out[0], &out[1]);
    ebm_philox__box_muller(c[2], c[3], &out[2], &out[3]);
}

#define EBM_PHILOX_CHUNK 64   /* Philox blocks per chunk of the fills below: 256 normals */

/* Generated models (compiled with -fopenmp-simd) define EBM_PHILOX_SIMD to
 * have the loops below vectorised; the loops carry no reduction, so the
 * values do not change with it. */
#if defined(EBM_PHILOX_SIMD)
#define EBM_PHILOX__SIMD _Pragma("omp simd")
#else
#define EBM_PHILOX__SIMD
#endif

/* With AVX-512, the rounds take 16 blocks per vector in 32-bit lanes: the
 * high and low words of each product come from two even/odd 32x32->64
 * multiplies and two blends.  Written in plain C, the compiler widens every
 * product to a 64-bit lane and permutes back (5x the instructions; the rounds
 * were two thirds of a fill).  Integer operations only: the same words as
 * the scalar rounds, bit for bit. */
#if defined(EBM_PHILOX_SIMD) && defined(__AVX512F__)
#include <immintrin.h>
#define EBM_PHILOX__AVX512 1

EBM_PHILOX__INLINE void ebm_philox__mul16(__m512i x, __m512i m, __m512i *hi, __m512i *lo)
{
    const __m512i pe = _mm512_mul_epu32(x, m), po = _mm512_mul_epu32(_mm512_srli_epi64(x, 32), m);
    *lo = _mm512_mask_blend_epi32(0xAAAA, pe, _mm512_slli_epi64(po, 32));
    *hi = _mm512_mask_blend_epi32(0xAAAA, _mm512_srli_epi64(pe, 32), po);
}

/* Blocks b0 .. b0 + 15 (lanes past nb masked off) of ebm_philox__chunk's rounds. */
EBM_PHILOX__INLINE void ebm_philox__rounds16(uint32_t k0, uint32_t k1, uint32_t t, const uint32_t *blk,
                                             const uint32_t *lo, const uint32_t *hi, int nb, int b0,
                                             uint32_t *w0, uint32_t *w1, uint32_t *w2, uint32_t *w3)
{
    const __mmask16 live = nb - b0 >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (nb - b0)) - 1u);
    const __m512i m0 = _mm512_set1_epi32((int)0xD2511F53u), m1 = _mm512_set1_epi32((int)0xCD9E8D57u);
    __m512i x0 = _mm512_maskz_loadu_epi32(live, blk + b0), x1 = _mm512_maskz_loadu_epi32(live, lo + b0);
    __m512i x2 = _mm512_maskz_loadu_epi32(live, hi + b0), x3 = _mm512_set1_epi32((int)t);
    uint32_t a = k0, c = k1;
    for (int r = 0; r < 10; r++) {
        __m512i h0, l0, h1, l1;
        ebm_philox__mul16(x0, m0, &h0, &l0);
        ebm_philox__mul16(x2, m1, &h1, &l1);
        x0 = _mm512_ternarylogic_epi32(h1, x1, _mm512_set1_epi32((int)a), 0x96);
        x2 = _mm512_ternarylogic_epi32(h0, x3, _mm512_set1_epi32((int)c), 0x96);
        x1 = l1;
        x3 = l0;
        a += 0x9E3779B9u;
        c += 0xBB67AE85u;
    }
    _mm512_mask_storeu_epi32(w0 + b0, live, x0);
    _mm512_mask_storeu_epi32(w1 + b0, live, x1);
    _mm512_mask_storeu_epi32(w2 + b0, live, x2);
    _mm512_mask_storeu_epi32(w3 + b0, live, x3);
}
#endif

/* The normals of `nb` <= EBM_PHILOX_CHUNK blocks whose counters are
 * {blk[b], lo[b], hi[b], step}, into z[4 b .. 4 b + 3].  Structure of arrays
 * throughout: one loop of Philox rounds over the blocks, one of Box-Muller
 * over the word pairs, both with unit-stride loads and stores, so each lane
 * of a vector is one block; then one interleaving copy. */
static inline void ebm_philox__chunk(uint64_t seed, uint64_t step, const uint32_t *blk, const uint32_t *lo,
                                     const uint32_t *hi, int nb, float *z)
{
    uint32_t w0[EBM_PHILOX_CHUNK], w1[EBM_PHILOX_CHUNK], w2[EBM_PHILOX_CHUNK], w3[EBM_PHILOX_CHUNK];
    float z0[EBM_PHILOX_CHUNK], z1[EBM_PHILOX_CHUNK], z2[EBM_PHILOX_CHUNK], z3[EBM_PHILOX_CHUNK];
    const uint32_t k0 = (uint32_t)seed, k1 = (uint32_t)(seed >> 32), t = (uint32_t)step;
#if defined(EBM_PHILOX__AVX512)
    for (int b0 = 0; b0 < nb; b0 += 16)
        ebm_philox__rounds16(k0, k1, t, blk, lo, hi, nb, b0, w0, w1, w2, w3);
#else
    EBM_PHILOX__SIMD
    for (int b = 0; b < nb; b++) {
        uint32_t x0 = blk[b], x1 = lo[b], x2 = hi[b], x3 = t, a = k0, c = k1;
        for (int r = 0; r < 10; r++) {   /* ebm_philox4x32_10 on scalars */
            EBM_PHILOX__ROUND(x0, x1, x2, x3, a, c);
            a += 0x9E3779B9u;
            c += 0xBB67AE85u;
        }
        w0[b] = x0;
        w1[b] = x1;
        w2[b] = x2;
        w3[b] = x3;
    }
#endif
    EBM_PHILOX__SIMD
    for (int b = 0; b < nb; b++) {
        ebm_philox__box_muller(w0[b], w1[b], &z0[b], &z1[b]);
        ebm_philox__box_muller(w2[b], w3[b], &z2[b], &z3[b]);
    }
    for (int b = 0; b < nb; b++) {
        z[4 * b] = z0[b];
        z[4 * b + 1] = z1[b];
        z[4 * b + 2] = z2[b];
        z[4 * b + 3] = z3[b];
    }
}

/* Fills eps[0..count) with the normals of elements 0..count-1 of one sample
 * (element j is normal j % 4 of ebm_philox_normal4(..., j / 4)), a chunk of
 * blocks at a time. */
static inline void ebm_philox_normals(uint64_t seed, uint64_t sample, uint64_t step, float *eps,
                                      int64_t count)
{
    uint32_t blk[EBM_PHILOX_CHUNK], lo[EBM_PHILOX_CHUNK], hi[EBM_PHILOX_CHUNK];
    float z[4 * EBM_PHILOX_CHUNK];
    for (int b = 0; b < EBM_PHILOX_CHUNK; b++) {
        lo[b] = (uint32_t)sample;
        hi[b] = (uint32_t)(sample >> 32);
    }
    for (int64_t j0 = 0; j0 < count; j0 += 4 * EBM_PHILOX_CHUNK) {
        const int64_t left = count - j0;
        const int nb = left >= 4 * EBM_PHILOX_CHUNK ? EBM_PHILOX_CHUNK : (int)((left + 3) / 4);
        for (int b = 0; b < nb; b++)
            blk[b] = (uint32_t)(j0 / 4) + (uint32_t)b;
        if (left >= 4 * EBM_PHILOX_CHUNK) {
            ebm_philox__chunk(seed, step, blk, lo, hi, nb, eps + j0);
            continue;
        }
        ebm_philox__chunk(seed, step, blk, lo, hi, nb, z);
        for (int64_t k = 0; k < left; k++)
            eps[j0 + k] = z[k];
    }
}

/* The normals of `rows` consecutive samples sample0, sample0 + 1, ... of
 * `count` elements each, row i at eps + i * count: the same values as
 * ebm_philox_normals row by row, but chunks span rows, so short rows (2-D
 * toy data: one block per row) still fill whole vectors. */
static inline void ebm_philox_normals_rows(uint64_t seed, uint64_t sample0, int64_t rows, uint64_t step,
                                           float *eps, int64_t count)
{
    if (count >= 4 * EBM_PHILOX_CHUNK) {
        for (int64_t i = 0; i < rows; i++)
            ebm_philox_normals(seed, sample0 + (uint64_t)i, step, eps + i * count, count);
        return;
    }
    uint32_t blk[EBM_PHILOX_CHUNK], lo[EBM_PHILOX_CHUNK], hi[EBM_PHILOX_CHUNK];
    float z[4 * EBM_PHILOX_CHUNK];
    const int per_row = (int)((count + 3) / 4), rows_per_chunk = EBM_PHILOX_CHUNK / per_row;
    for (int64_t i0 = 0; i0 < rows; i0 += rows_per_chunk) {
        const int nr = rows - i0 < rows_per_chunk ? (int)(rows - i0) : rows_per_chunk;
        for (int r = 0; r < nr; r++) {
            const uint64_t s = sample0 + (uint64_t)(i0 + r);
            for (int b = 0; b < per_row; b++) {
                blk[r * per_row + b] = (uint32_t)b;
                lo[r * per_row + b] = (uint32_t)s;
                hi[r * per_row + b] = (uint32_t)(s >> 32);
            }
        }
        ebm_philox__chunk(seed, step, blk, lo, hi, nr * per_row, z);
        for (int r = 0; r < nr; r++)
            for (int64_t k = 0; k < count; k++)
                eps[(i0 + r) * count + k] = z[r * per_row * 4 + k];
    }
}

#endif /* EBM_PHILOX_H */
