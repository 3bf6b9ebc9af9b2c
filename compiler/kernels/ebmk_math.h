/* ebmk_math.h — float exp, ln, ln(1+x), tanh and erf for the fused loops of
 * generated models: no calls and no branches, so the loops around them
 * vectorise; each within a few ulp of libm's double function rounded to float.
 *
 * A generated model.c carries this file's text (compiler/codegen_c_helpers.c
 * embeds it at build time, cmake/embed_text.cmake) when its kernels need it;
 * the build compiles it as ordinary C with the models' flags
 * (compiler/kernels/ebmk_check.c) and tests/unit/test_kernels.c tests it directly.
 * It must stay self-contained: no includes but the C library's and the
 * compiler's, as it lands in model.c after the prelude (math.h, stdint.h,
 * string.h are already there).
 */
#ifndef EBMK_MATH_H
#define EBMK_MATH_H

#include <math.h>
#include <stdint.h>

/* exp in float, vectorisable (no calls, no branches): exp(x) = 2^k exp(r) with
 * k = round(x / ln 2) and r = x - k ln 2 in two steps (Cody-Waite), |r| <= ln2/2,
 * exp(r) by Cephes' degree-7 polynomial; 2^k applied in two halves so that
 * subnormal results and k = 128 need no special case.  k comes out of the
 * rounding constant's low mantissa bits (integer arithmetic, no conversion),
 * so a NaN needs no test: its k is junk, its polynomial NaN.  Above 88.8 the
 * clamp gives k = 128, which overflows to inf.  Within 2 ulp of expf.
 * EBMK_FMA: the polynomials here use fused multiply-adds where the target
 * has them (fewer roundings, and half the instructions under the
 * compiler's -ffp-contract=off), a multiply then an add elsewhere. */
#if defined(__FMA__)
#define EBMK_FMA(a, b, c) fmaf(a, b, c)
#else
#define EBMK_FMA(a, b, c) ((a) * (b) + (c))
#endif
/* Always inline (a kernel's loops need its callee's body to vectorise) when
 * optimising; at -O0 (the JIT's first tier) forcing it only costs compile
 * time: each call site would get a copy of the body. */
#ifndef EBMK_INLINE
#if defined(__GNUC__) && defined(__OPTIMIZE__)
#define EBMK_INLINE static inline __attribute__((always_inline))
#else
#define EBMK_INLINE static inline
#endif
#endif

/* exp(c) for c in [-104, 88.8] or NaN.  The polynomial in Estrin's form (r^2
 * alongside the pairs, depth 4 instead of Horner's 7): the fused loops
 * around it are bound by this chain's latency, not by its operations (a
 * SiLU layer's loop took 10% less time with it). */
static inline __attribute__((always_inline)) float ebmk_expf_clamped(float c)
{
    union { float f; uint32_t u; } kb = {.f = EBMK_FMA(c, 1.44269504088896341f, 12582912.0f)};
    const float kf = kb.f - 12582912.0f;
    const float r = EBMK_FMA(kf, 2.12194440e-4f, EBMK_FMA(kf, -0.693359375f, c)), r2 = r * r;
    const float qa = EBMK_FMA(1.9875691500e-4f, r, 1.3981999507e-3f), qb = EBMK_FMA(8.3334519073e-3f, r, 4.1665795894e-2f),
                qc = EBMK_FMA(1.6666665459e-1f, r, 5.0000001201e-1f);
    const float y = EBMK_FMA(EBMK_FMA(EBMK_FMA(qa, r2, qb), r2, qc), r2, r) + 1.0f;
    const uint32_t k = kb.u - 0x4b400000u, k1 = (uint32_t)((int32_t)k >> 1);   /* 0x4b400000: 12582912.0f */
    union { uint32_t u; float f; } s1 = {.u = (k1 + 127u) << 23}, s2 = {.u = (k - k1 + 127u) << 23};
    return y * s1.f * s2.f;
}
static inline float ebmk_expf(float x)
{
    float c = x > 88.8f ? 88.8f : x;
    return ebmk_expf_clamped(c < -104.0f ? -104.0f : c);
}
/* exp(x) for x <= 0 (or NaN), as ebmk_expf without the upper clamp: the
 * sigmoid's exp(-|x|), where the two clamps' compares cost as much again. */
static inline float ebmk_expf_nonpos(float x)
{
    return ebmk_expf_clamped(x < -104.0f ? -104.0f : x);
}

/* The rest of the float functions the fused loops use, vectorisable the same
 * way (selects, no calls), each within a few ulp of libm's double function
 * rounded to float (tests/unit/test_codegen.c float_functions_match_libm).
 * ln x: x = m 2^e with m in [sqrt(1/2), sqrt(2)) (subnormals scaled by 2^23
 * first), ln m by the atanh series in s = (m - 1) / (m + 1), |s| < 0.172, and
 * e ln 2 with ln 2 split as in ebmk_expf. */
static inline float ebmk_logf(float x)
{
    const float xs = x < 1.17549435e-38f ? x * 8388608.0f : x;
    union { float f; uint32_t u; } b = {.f = xs};
    const int e = (int)((b.u >> 23) & 0xffu) - 127 - (x < 1.17549435e-38f ? 23 : 0);
    b.u = (b.u & 0x007fffffu) | 0x3f800000u;
    const float m0 = b.f;
    const float m = m0 > 1.41421356f ? m0 * 0.5f : m0;
    const float ef = (float)e + (m0 > 1.41421356f ? 1.0f : 0.0f);
    const float s = (m - 1.0f) / (m + 1.0f), s2 = s * s;
    const float p = s2 * (0.333333343f + s2 * (0.2f + s2 * (0.142857149f + s2 * 0.111111112f)));
    const float r = (2.0f * s + (2.0f * s * p + ef * -2.12194440e-4f)) + ef * 0.693359375f;
    const float special = x == 0.0f ? -INFINITY : x == INFINITY ? INFINITY : NAN;
    /* +inf through r (the form GCC 12 still if-converts; x > 0 && x < inf does not) */
    return x > 0.0f ? r * (x < INFINITY ? 1.0f : INFINITY) : special;
}

/* ln(1 + x): with u = 1 + x rounded, ln(u) x / (u - 1) (u - 1 is exact),
 * and x itself where u rounds to 1. */
static inline float ebmk_log1pf(float x)
{
    const float u = 1.0f + x, d = u - 1.0f;
    const float r = ebmk_logf(u) * (x / (d == 0.0f ? 1.0f : d));
    return d == 0.0f ? x : x == INFINITY ? INFINITY : r;
}

/* tanh: for |x| < 0.55 its Taylor series to x^19 (next term below 1e-9
 * relative), else sign(x) (1 - 2 / (exp(2|x|) + 1)). */
static inline float ebmk_tanhf(float x)
{
    const float a = fabsf(x), x2 = x * x;
    float q = -2.391291142e-04f;
    q = EBMK_FMA(q, x2, 5.900274409e-04f);
    q = EBMK_FMA(q, x2, -1.455834387e-03f);
    q = EBMK_FMA(q, x2, 3.592128037e-03f);
    q = EBMK_FMA(q, x2, -8.863235530e-03f);
    q = EBMK_FMA(q, x2, 2.186948854e-02f);
    q = EBMK_FMA(q, x2, -5.396825397e-02f);
    q = EBMK_FMA(q, x2, 1.333333333e-01f);
    q = EBMK_FMA(q, x2, -3.333333333e-01f);
    const float big = 1.0f - 2.0f / (ebmk_expf(2.0f * a) + 1.0f);
    return a < 0.55f ? x + x * (x2 * q) : x < 0.0f ? -big : big;
}

/* erf: for |x| < 0.875 its Taylor series to x^21 (next term below 1e-9),
 * else sign(x) (1 - exp(-a^2) g(a)) with a = min(|x|, 4) (erf is 1 in float
 * beyond) and g(a) = erfc(a) exp(a^2) by a degree-13 polynomial in
 * (a - 2.4375) / 1.5625, fitted on [0.875, 4] (relative error 1e-8). */
static inline float ebmk_erff(float x)
{
    const float a = fabsf(x), x2 = x * x, c = a < 4.0f ? a : 4.0f, t = (c - 2.4375f) * 0.64f;
    float q = 1.480719282e-08f;
    q = EBMK_FMA(q, x2, -1.636584469e-07f);
    q = EBMK_FMA(q, x2, 1.646211437e-06f);
    q = EBMK_FMA(q, x2, -1.492565036e-05f);
    q = EBMK_FMA(q, x2, 1.205533298e-04f);
    q = EBMK_FMA(q, x2, -8.548327023e-04f);
    q = EBMK_FMA(q, x2, 5.223977625e-03f);
    q = EBMK_FMA(q, x2, -2.686617065e-02f);
    q = EBMK_FMA(q, x2, 1.128379167e-01f);
    q = EBMK_FMA(q, x2, -3.761263890e-01f);
    q = EBMK_FMA(q, x2, 1.128379167e+00f);
    float w = -1.095373920e-05f;
    w = EBMK_FMA(w, t, 2.836377553e-05f);
    w = EBMK_FMA(w, t, -3.762294394e-05f);
    w = EBMK_FMA(w, t, 9.605999034e-05f);
    w = EBMK_FMA(w, t, -2.803580279e-04f);
    w = EBMK_FMA(w, t, 6.693560122e-04f);
    w = EBMK_FMA(w, t, -1.532089483e-03f);
    w = EBMK_FMA(w, t, 3.468522861e-03f);
    w = EBMK_FMA(w, t, -7.616595187e-03f);
    w = EBMK_FMA(w, t, 1.614850407e-02f);
    w = EBMK_FMA(w, t, -3.298964329e-02f);
    w = EBMK_FMA(w, t, 6.469223246e-02f);
    w = EBMK_FMA(w, t, -1.211887998e-01f);
    w = EBMK_FMA(w, t, 2.155524795e-01f);
    const float big = 1.0f - ebmk_expf(-c * c) * w;
    return x != x ? x : a < 0.875f ? x * q : x < 0.0f ? -big : big;
}

#endif /* EBMK_MATH_H */
