/* ebmk_conv.h — what a generated model's convolution kernels call around
 * their GEMMs: im2col/col2im for chunks of samples side by side (so one
 * GEMM serves a chunk), staging of output planes and a blocked transpose
 * (the Winograd transforms are in ebmk_wino.h).  Their semantics are the
 * reference executor's (compiler/exec.c).
 *
 * A generated model.c carries this file's text (compiler/codegen_c_helpers.c
 * embeds it at build time, cmake/embed_text.cmake) when its kernels need it;
 * the build compiles it as ordinary C with the models' flags
 * (compiler/kernels/ebmk_check.c) and tests/unit/test_kernels.c tests it directly.
 * It must stay self-contained: no includes but the C library's and the
 * compiler's, as it lands in model.c after the prelude (math.h, stdint.h,
 * string.h are already there).
 */
#ifndef EBMK_CONV_H
#define EBMK_CONV_H

#include <stdint.h>
#include <string.h>

/* Convolution geometry: x [B, c, h, w] (c = groups * cg), y [B, o, ho, wo]
 * (o = groups * og); the im2col matrix of one sample and group is
 * [cg*kh*kw, ho*wo].
 *
 * im2col and col2im go through a padded, phase-split copy of the input: per
 * sample and channel, sh*sw phase planes of hq x wq, phase (a, b) holding the
 * padded input's rows a, a+sh, .. and columns b, b+sw, ..  Kernel cell (i, j)
 * then reads, for every output row, wo consecutive floats of one phase plane
 * (phase (i*dh % sh, j*dw % sw), from row i*dh/sh and column j*dw/sw): row
 * copies instead of per-pixel gathers, and no padding tests in the loops.
 * The helpers are inlined into each kernel, whose geometry is a constant, so
 * the compiler sees every loop bound. */
typedef struct ebmk_conv {
    int64_t cg, h, w, kh, kw, ho, wo, sh, sw, pt, pl, dh, dw;
    int64_t x_sample, y_sample, og;   /* floats per sample of x and y, channels per group of y */
    int64_t hq, wq;                   /* size of a phase plane */
} ebmk_conv;

#ifndef EBMK_INLINE   /* as in ebmk_math.h: forced only when optimising */
#if defined(__GNUC__) && defined(__OPTIMIZE__)
#define EBMK_INLINE static inline __attribute__((always_inline))
#else
#define EBMK_INLINE static inline
#endif
#endif

/* Do not vectorise the next loop: clang (the JIT, compiler/jit.h) turns a
 * loop over samples or channels whose body reads and writes with a stride
 * into gathers and scatters, slower than its plain loop (col2im of the mnist
 * preset's input gradients: 12% of a Langevin step).  GCC does not vectorise
 * these loops and sees nothing: its code and bits are unchanged. */
#if defined(__clang__)
#define EBMK_NO_VEC _Pragma("clang loop vectorize(disable)")
#else
#define EBMK_NO_VEC
#endif

/* Floats of the phase planes of one sample and channel. */
EBMK_INLINE int64_t ebmk_planes(const ebmk_conv *g)
{
    return g->sh * g->sw * g->hq * g->wq;
}

/* Whether some kernel cell reads phase (a, b). */
EBMK_INLINE int ebmk_phase_used(const ebmk_conv *g, int64_t a, int64_t b)
{
    int ra = 0, rb = 0;
    for (int64_t i = 0; i < g->kh; i++)
        ra |= (i * g->dh) % g->sh == a;
    for (int64_t j = 0; j < g->kw; j++)
        rb |= (j * g->dw) % g->sw == b;
    return ra && rb;
}

/* Phase-plane indices [*lo, *hi) of phase a along an axis whose padded
 * index r*s + a - p falls inside [0, size). */
EBMK_INLINE void ebmk_inside(int64_t a, int64_t s, int64_t p, int64_t size, int64_t n, int64_t *lo, int64_t *hi)
{
    *lo = p > a ? (p - a + s - 1) / s : 0;
    *hi = size + p > a ? (size + p - a + s - 1) / s : 0;
    *hi = *hi < n ? *hi : n;
    *lo = *lo < *hi ? *lo : *hi;
}

#if defined(__AVX512F__)
#include <immintrin.h>
/* Lanes [lo, hi) of a 16-lane mask (0 <= lo, hi <= 16). */
EBMK_INLINE __mmask16 ebmk_lanes(int64_t lo, int64_t hi)
{
    lo = lo < 0 ? 0 : lo > 16 ? 16 : lo;
    hi = hi < lo ? lo : hi > 16 ? 16 : hi;
    return (__mmask16)(((1u << hi) - 1u) & ~((1u << lo) - 1u));
}

/* Stride-2 columns: dst_b[q] = row[2q + b - pl] for q < wq, b = 0, 1 (0 outside
 * the row); dst_b is skipped when null.  Two masked loads per 16 outputs
 * (from 0 for the first, the left padding folded into the permute's index
 * and mask: an expand-load was a tenth of mnist's stride-2 layer). */
EBMK_INLINE void ebmk_split2(const float *restrict row, int64_t w, int64_t pl, int64_t wq, float *restrict dst0,
                             float *restrict dst1)
{
    const __m512i even = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
    for (int64_t q0 = 0; q0 < wq; q0 += 16) {
        const int64_t at = 2 * q0 - pl, base = at < 0 ? 0 : at, sh = at - base;
        /* a vector wholly past the row is an all-zero mask on the row's start (no
         * pointer past the array) */
        const __m512 v0 = _mm512_maskz_loadu_ps(ebmk_lanes(0, w - base), row + (base < w ? base : 0));
        const __m512 v1 = _mm512_maskz_loadu_ps(ebmk_lanes(0, w - base - 16), row + (base + 16 < w ? base + 16 : 0));
        const __mmask16 m = ebmk_lanes(0, wq - q0);
        for (int64_t b = 0; b < 2; b++) {
            float *restrict d = b ? dst1 : dst0;
            if (!d)
                continue;
            const int64_t off = b + sh, lo = off < 0 ? (1 - off) / 2 : 0;   /* lanes before lo read the padding */
            const __m512i idx = _mm512_add_epi32(even, _mm512_set1_epi32((int)off));
            _mm512_mask_storeu_ps(d + q0, m, _mm512_maskz_permutex2var_ps(ebmk_lanes(lo, 16), v0, idx, v1));
        }
    }
}


/* The transpose of ebmk_split2: row[x] = src_b[q] for x + pl = 2q + b, x < w
 * (0 where q >= wq). */
EBMK_INLINE void ebmk_merge2(const float *restrict src0, const float *restrict src1, int64_t wq, int64_t pl, int64_t w,
                             float *restrict row)
{
    const __m512i half = _mm512_set_epi32(23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
    const __m512i shifted = _mm512_set_epi32(8, 23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16);
    for (int64_t x0 = 0; x0 < w; x0 += 16) {
        /* lane k: padded column p = x0 + k + pl, q = p / 2, phase p % 2 */
        const int64_t qb = (x0 + pl) / 2;
        const __mmask16 m = ebmk_lanes(0, wq - qb);
        const int64_t qa = qb < wq ? qb : 0;   /* past the phase rows: all-zero mask at their start */
        const __m512 a = _mm512_maskz_loadu_ps(m, src0 + qa), b = _mm512_maskz_loadu_ps(m, src1 + qa);
        const __m512 v = _mm512_permutex2var_ps(a, (x0 + pl) % 2 ? shifted : half, b);
        _mm512_mask_storeu_ps(row + x0, ebmk_lanes(0, w - x0), v);
    }
}

/* r[i][j] <-> r[j][i]: a 16x16 block transposed in registers (pairs of
 * rows interleaved, then quads as doubles, then 128-bit lanes twice). */
EBMK_INLINE void ebmk_tr16(__m512 *r)
{
    __m512 a[16], b[16];
    for (int i = 0; i < 16; i += 2) {
        a[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
        a[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int i = 0; i < 16; i += 4) {   /* b[i + k], lane l: column 4l + k of rows i..i+3 */
        b[i] = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(a[i]), _mm512_castps_pd(a[i + 2])));
        b[i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(a[i]), _mm512_castps_pd(a[i + 2])));
        b[i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(a[i + 1]), _mm512_castps_pd(a[i + 3])));
        b[i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(a[i + 1]), _mm512_castps_pd(a[i + 3])));
    }
    for (int k = 0; k < 4; k++) {
        const __m512 c0 = _mm512_shuffle_f32x4(b[k], b[4 + k], 0x88), c1 = _mm512_shuffle_f32x4(b[k], b[4 + k], 0xdd);
        const __m512 d0 = _mm512_shuffle_f32x4(b[8 + k], b[12 + k], 0x88),
                     d1 = _mm512_shuffle_f32x4(b[8 + k], b[12 + k], 0xdd);
        r[k] = _mm512_shuffle_f32x4(c0, d0, 0x88);
        r[4 + k] = _mm512_shuffle_f32x4(c1, d1, 0x88);
        r[8 + k] = _mm512_shuffle_f32x4(c0, d0, 0xdd);
        r[12 + k] = _mm512_shuffle_f32x4(c1, d1, 0xdd);
    }
}
#define EBMK_AVX512 1
#else
#define EBMK_AVX512 0
#endif

/* The phase planes of group grp's channels of samples s0 .. s0+ns-1:
 * pad [ns, cg, sh*sw, hq, wq]; phases no cell reads are left unwritten.
 * With AVX-512 and sw = 2, each input row is split into its two column
 * phases by permutes (the scalar stride-2 gathers took a sixth of mnist's
 * 16 -> 32-channel stride-2 layer). */
EBMK_INLINE void ebmk_pad_in(const ebmk_conv *g, const float *restrict x, int64_t s0, int64_t ns, int64_t grp,
                             float *restrict pad)
{
    const int64_t pq = g->hq * g->wq;
#if EBMK_AVX512
    if (g->sw == 2) {
        for (int64_t s = 0; s < ns; s++)
            for (int64_t c = 0; c < g->cg; c++) {
                const float *restrict xs = x + (s0 + s) * g->x_sample + (grp * g->cg + c) * g->h * g->w;
                float *restrict ps = pad + (s * g->cg + c) * g->sh * 2 * pq;
                for (int64_t a = 0; a < g->sh; a++) {
                    const int u0 = ebmk_phase_used(g, a, 0), u1 = ebmk_phase_used(g, a, 1);
                    if (!u0 && !u1)
                        continue;
                    for (int64_t r = 0; r < g->hq; r++) {
                        const int64_t y = r * g->sh + a - g->pt;
                        float *d0 = u0 ? ps + (a * 2) * pq + r * g->wq : NULL;
                        float *d1 = u1 ? ps + (a * 2 + 1) * pq + r * g->wq : NULL;
                        if (y >= 0 && y < g->h) {
                            ebmk_split2(xs + y * g->w, g->w, g->pl, g->wq, d0, d1);
                            continue;
                        }
                        for (int64_t q = 0; q < g->wq; q++) {
                            if (d0)
                                d0[q] = 0.0f;
                            if (d1)
                                d1[q] = 0.0f;
                        }
                    }
                }
            }
        return;
    }
#endif
    for (int64_t a = 0; a < g->sh; a++)
        for (int64_t b = 0; b < g->sw; b++) {
            if (!ebmk_phase_used(g, a, b))
                continue;
            int64_t rlo, rhi, qlo, qhi;
            ebmk_inside(a, g->sh, g->pt, g->h, g->hq, &rlo, &rhi);
            ebmk_inside(b, g->sw, g->pl, g->w, g->wq, &qlo, &qhi);
            for (int64_t s = 0; s < ns; s++)
                for (int64_t c = 0; c < g->cg; c++) {
                    const float *restrict xs = x + (s0 + s) * g->x_sample + (grp * g->cg + c) * g->h * g->w;
                    float *restrict pp = pad + ((s * g->cg + c) * g->sh * g->sw + a * g->sw + b) * pq;
                    for (int64_t r = 0; r < g->hq; r++) {
                        float *restrict dst = pp + r * g->wq;
                        if (r < rlo || r >= rhi) {
                            for (int64_t q = 0; q < g->wq; q++)
                                dst[q] = 0.0f;
                            continue;
                        }
                        const int64_t at = (r * g->sh + a - g->pt) * g->w + b - g->pl;
                        for (int64_t q = 0; q < qlo; q++)
                            dst[q] = 0.0f;
                        if (g->sw == 1)
                            memcpy(dst + qlo, xs + at + qlo, (size_t)(qhi - qlo) * sizeof *dst);
                        else
                            for (int64_t q = qlo; q < qhi; q++)
                                dst[q] = xs[at + q * g->sw];
                        for (int64_t q = qhi; q < g->wq; q++)
                            dst[q] = 0.0f;
                    }
                }
        }
}

/* The transpose of ebmk_pad_in: x = the inside of the phase planes; pixels
 * no output reads (past the last window) lie in no plane and get 0. */
EBMK_INLINE void ebmk_pad_out(const ebmk_conv *g, const float *restrict pad, int64_t s0, int64_t ns, int64_t grp,
                              float *restrict x)
{
    const int64_t pq = g->hq * g->wq;
    const int covered = (g->h - 1 + g->pt) / g->sh < g->hq && (g->w - 1 + g->pl) / g->sw < g->wq;
    for (int64_t s = 0; s < ns; s++)
        for (int64_t c = 0; c < g->cg; c++) {
            float *restrict xs = x + (s0 + s) * g->x_sample + (grp * g->cg + c) * g->h * g->w;
            const float *restrict ps = pad + (s * g->cg + c) * g->sh * g->sw * pq;
#if EBMK_AVX512
            if (g->sw == 2) {   /* interleave the two column phases of each row */
                for (int64_t y = 0; y < g->h; y++) {
                    const int64_t a = (y + g->pt) % g->sh, r = (y + g->pt) / g->sh;
                    float *restrict dst = xs + y * g->w;
                    if (r >= g->hq) {
                        for (int64_t q = 0; q < g->w; q++)
                            dst[q] = 0.0f;
                        continue;
                    }
                    const float *src = ps + a * 2 * pq + r * g->wq;
                    ebmk_merge2(src, src + pq, g->wq, g->pl, g->w, dst);
                }
                continue;
            }
#endif
            if (!covered)
                for (int64_t k = 0; k < g->h * g->w; k++)
                    xs[k] = 0.0f;
            for (int64_t a = 0; a < g->sh; a++)
                for (int64_t b = 0; b < g->sw; b++) {
                    int64_t rlo, rhi, qlo, qhi;
                    ebmk_inside(a, g->sh, g->pt, g->h, g->hq, &rlo, &rhi);
                    ebmk_inside(b, g->sw, g->pl, g->w, g->wq, &qlo, &qhi);
                    const float *restrict pp = ps + (a * g->sw + b) * pq;
                    for (int64_t r = rlo; r < rhi; r++) {
                        const int64_t at = (r * g->sh + a - g->pt) * g->w + b - g->pl;
                        if (g->sw == 1)
                            memcpy(xs + at + qlo, pp + r * g->wq + qlo, (size_t)(qhi - qlo) * sizeof *xs);
                        else
                            for (int64_t q = qlo; q < qhi; q++)
                                xs[at + q * g->sw] = pp[r * g->wq + q];
                    }
                }
        }
}

/* The im2col matrices of samples s0 .. s0+ns-1 (group grp) side by side,
 * col [cg*kh*kw, ns*ho*wo], from their phase planes. */
EBMK_INLINE void ebmk_im2col_chunk(const ebmk_conv *g, const float *restrict pad, int64_t ns, float *restrict col)
{
    const int64_t hw = g->ho * g->wo, ld = ns * hw, pq = g->hq * g->wq;
    for (int64_t c = 0; c < g->cg; c++)
        for (int64_t i = 0; i < g->kh; i++)
            for (int64_t j = 0; j < g->kw; j++) {
                const int64_t a = i * g->dh, b = j * g->dw;
                const int64_t at = (g->sw * (a % g->sh) + b % g->sw) * pq + (a / g->sh) * g->wq + b / g->sw;
                float *restrict row = col + ((c * g->kh + i) * g->kw + j) * ld;
                for (int64_t s = 0; s < ns; s++) {
                    const float *restrict src = pad + (s * g->cg + c) * g->sh * g->sw * pq + at;
                    float *restrict dst = row + s * hw;
                    for (int64_t oh = 0; oh < g->ho; oh++)   /* a memcpy of constant size: inline moves */
                        memcpy(dst + oh * g->wo, src + oh * g->wq, (size_t)g->wo * sizeof *dst);
                }
            }
}

/* The transpose of ebmk_im2col_chunk: pad = col2im(col) into zeroed phase
 * planes, reading col in order (each pixel sums its cells in kernel-cell
 * order). */
EBMK_INLINE void ebmk_col2im_chunk(const ebmk_conv *g, const float *restrict col, int64_t ns, float *restrict pad)
{
    const int64_t hw = g->ho * g->wo, ld = ns * hw, pq = g->hq * g->wq;
    for (int64_t k = 0; k < ns * g->cg * ebmk_planes(g); k++)
        pad[k] = 0.0f;
    for (int64_t c = 0; c < g->cg; c++)
        for (int64_t i = 0; i < g->kh; i++)
            for (int64_t j = 0; j < g->kw; j++) {
                const int64_t a = i * g->dh, b = j * g->dw;
                const int64_t at = (g->sw * (a % g->sh) + b % g->sw) * pq + (a / g->sh) * g->wq + b / g->sw;
                const float *restrict row = col + ((c * g->kh + i) * g->kw + j) * ld;
                EBMK_NO_VEC
                for (int64_t s = 0; s < ns; s++) {
                    const float *restrict src = row + s * hw;
                    float *restrict dst = pad + (s * g->cg + c) * g->sh * g->sw * pq + at;
                    for (int64_t oh = 0; oh < g->ho; oh++) {
                        #pragma omp simd
                        for (int64_t ow = 0; ow < g->wo; ow++)
                            dst[oh * g->wq + ow] += src[oh * g->wo + ow];
                    }
                }
            }
}

/* Between samples s0.. of a [B, ..] tensor t (ch planes of hw floats at
 * t + sample * s, the group's first plane at t) and stage [ch, ns*hw]
 * (in = 1: t to stage; 0: stage to t). */
EBMK_INLINE void ebmk_stage_planes(const int64_t ch, const int64_t hw, const int64_t sample, float *t, int64_t s0,
                                   int64_t ns, float *stage, int in)
{
    for (int64_t o = 0; o < ch; o++)
        for (int64_t s = 0; s < ns; s++) {
            float *restrict ys = t + (s0 + s) * sample + o * hw;
            float *restrict st = stage + (o * ns + s) * hw;
            if (in)
                memcpy(st, ys, (size_t)hw * sizeof *st);
            else
                memcpy(ys, st, (size_t)hw * sizeof *st);
        }
}

/* Between group grp of samples s0.. of y [B, o, ho*wo] and stage
 * [og, ns*ho*wo] (in = 1: y to stage; 0: stage to y). */
EBMK_INLINE void ebmk_stage(const ebmk_conv *g, float *y, int64_t s0, int64_t ns, int64_t grp, float *stage, int in)
{
    const int64_t hw = g->ho * g->wo;
    ebmk_stage_planes(g->og, hw, g->y_sample, y + grp * g->og * hw, s0, ns, stage, in);
}

/* dst [cols x rows] = src [rows x cols]^T in 16 x 16 blocks (the weights of
 * an input gradient: a plain loop's strided stores took a third of cifar's
 * 64 <- 128-channel stride-2 one). */
static inline void ebmk_conv_transpose(const int64_t rows, const int64_t cols, const float *restrict src,
                                       float *restrict dst)
{
    for (int64_t r0 = 0; r0 < rows; r0 += 16)
        for (int64_t c0 = 0; c0 < cols; c0 += 16) {
            const int64_t re = r0 + 16 < rows ? r0 + 16 : rows, ce = c0 + 16 < cols ? c0 + 16 : cols;
            for (int64_t c = c0; c < ce; c++)
                for (int64_t r = r0; r < re; r++)
                    dst[c * rows + r] = src[r * cols + c];
        }
}

#endif /* EBMK_CONV_H */
