/* ebm_philox.h — the counter-based random numbers of ebmc (Philox4x32-10,
 * Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC'11).
 *
 * A Langevin step's noise for one element is a pure function of
 * (seed, global sample index, global step, element index), so results do not
 * depend on thread count, batch split or tile size.  This header is the one
 * definition: libebm includes it, and ebmc copies it next to the generated C
 * of every compiled model.  Header-only, C11, no includes beyond <math.h> and
 * <stdint.h>.
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

static inline void ebm_philox4x32_10(uint32_t ctr[4], uint32_t k0, uint32_t k1)
{
    for (int r = 0; r < 10; r++) {
        uint64_t p0 = (uint64_t)0xD2511F53u * ctr[0];
        uint64_t p1 = (uint64_t)0xCD9E8D57u * ctr[2];
        uint32_t c0 = (uint32_t)(p1 >> 32) ^ ctr[1] ^ k0;
        uint32_t c2 = (uint32_t)(p0 >> 32) ^ ctr[3] ^ k1;
        ctr[1] = (uint32_t)p1;
        ctr[3] = (uint32_t)p0;
        ctr[0] = c0;
        ctr[2] = c2;
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

static inline float ebm_philox__u24(uint32_t w)
{
    return (float)((w >> 8) + 1u) * (1.0f / 16777216.0f);
}

/* ln u for u in (0, 1]: u = m 2^e with m in [sqrt(1/2), sqrt(2)), then the
 * atanh series of ln m in s = (m - 1) / (m + 1), |s| < 0.172. */
static inline float ebm_philox__log(float u)
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
static inline void ebm_philox__cossin(float u, float *c, float *s)
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
static inline void ebm_philox__box_muller(uint32_t w0, uint32_t w1, float *z0, float *z1)
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

#define EBM_PHILOX_CHUNK 64   /* blocks per chunk of ebm_philox_normals: 256 normals */

/* Generated models (compiled with -fopenmp-simd) define EBM_PHILOX_SIMD to
 * have the two loops below vectorised; the loops carry no reduction, so the
 * values do not change with it. */
#if defined(EBM_PHILOX_SIMD)
#define EBM_PHILOX__SIMD _Pragma("omp simd")
#else
#define EBM_PHILOX__SIMD
#endif

/* Fills eps[0..count) with the normals of elements 0..count-1 of one sample
 * (element j is normal j % 4 of ebm_philox_normal4(..., j / 4)), a chunk of
 * blocks at a time: first the Philox words, then Box-Muller over them, two
 * simple loops a compiler can vectorise. */
static inline void ebm_philox_normals(uint64_t seed, uint64_t sample, uint64_t step, float *eps,
                                      int64_t count)
{
    uint32_t w[4 * EBM_PHILOX_CHUNK];
    float z[4 * EBM_PHILOX_CHUNK];
    for (int64_t j0 = 0; j0 < count; j0 += 4 * EBM_PHILOX_CHUNK) {
        const int64_t left = count - j0;
        const int nb = left >= 4 * EBM_PHILOX_CHUNK ? EBM_PHILOX_CHUNK : (int)((left + 3) / 4);
        const uint32_t b0 = (uint32_t)(j0 / 4);
        EBM_PHILOX__SIMD
        for (int b = 0; b < nb; b++) {
            uint32_t c[4] = {b0 + (uint32_t)b, (uint32_t)sample, (uint32_t)(sample >> 32), (uint32_t)step};
            ebm_philox4x32_10(c, (uint32_t)seed, (uint32_t)(seed >> 32));
            w[4 * b] = c[0];
            w[4 * b + 1] = c[1];
            w[4 * b + 2] = c[2];
            w[4 * b + 3] = c[3];
        }
        EBM_PHILOX__SIMD
        for (int k = 0; k < 2 * nb; k++)
            ebm_philox__box_muller(w[2 * k], w[2 * k + 1], &z[2 * k], &z[2 * k + 1]);
        const int64_t take = left < 4 * nb ? left : 4 * nb;
        for (int64_t k = 0; k < take; k++)
            eps[j0 + k] = z[k];
    }
}

#endif /* EBM_PHILOX_H */
