/* ebmk_wino.h — the Winograd transforms of a generated model's 3x3
 * convolutions of stride 1 and padding 1: F(2x2, 3x3) and F(4x4, 3x3), the
 * kernels' transform (once per call) and the input and output transforms
 * around the (r+2)^2 GEMMs per chunk of samples.  It builds on ebmk_conv.h
 * (EBMK_INLINE, and with AVX-512 ebmk_lanes and ebmk_tr16), whose text a
 * model carries just before this one.
 *
 * A generated model.c carries this file's text (compiler/codegen_c_helpers.c
 * embeds it at build time, cmake/embed_text.cmake) when its kernels need it;
 * the build compiles it as ordinary C with the models' flags
 * (compiler/kernels/ebmk_check.c) and tests/unit/test_kernels.c tests it directly.
 * Its only include of its own kind, ebmk_conv.h, is skipped there (the
 * guard is defined by then); otherwise, as ebmk_conv.h, no includes but
 * the C library's and the compiler's.
 */
#ifndef EBMK_WINO_H
#define EBMK_WINO_H

#ifndef EBMK_CONV_H   /* in a model.c, ebmk_conv.h's text stands just above */
#include "ebmk_conv.h"
#endif

/* Winograd F(2x2, 3x3) for 3x3 convolutions of stride 1 and padding 1 (the
 * output the size of the input): each 2x2 output tile is A^T [(G g G^T) .
 * (B^T d B)] A over its 4x4 input tile d, 16 products per tile and channel
 * pair instead of 36, the 16 cells being 16 GEMMs over channels.  Tiles
 * past an odd edge read zeros and write nothing.  The T = th*tw*ns columns
 * of a chunk of ns samples are ordered (tile, sample), column t*ns + s, so
 * that the transforms run over the samples of a tile with unit stride (the
 * GEMMs do not care which column is which). */
typedef struct ebmk_wino {
    int64_t ci, co, h, w, th, tw;   /* channels in and out, image, tiles per column and row */
} ebmk_wino;

/* The cells of v and m lie ci*ld (co*ld) + EBMK_WINO_GAP floats apart: at
 * multiples of 4 KiB (mnist's 7x7 layer: 8 and 16 KiB) a tile's 36 stores
 * (loads) fell into one L1 set, and the input transform took 1.8x as long. */
#define EBMK_WINO_GAP 16

/* The transform of ci channel pairs (o, c0 + j) from kt [9, ld] (tap t of
 * pair j at kt[t * ld + j]) into uo[k * plane + j]. */
EBMK_INLINE void ebmk_wino_weights_row(int64_t n, const float *restrict kt, int64_t ld, int64_t plane,
                                       float *restrict uo)
{
    #pragma omp simd
    for (int64_t j = 0; j < n; j++) {
        const float k00 = kt[0 * ld + j], k01 = kt[1 * ld + j], k02 = kt[2 * ld + j];
        const float k10 = kt[3 * ld + j], k11 = kt[4 * ld + j], k12 = kt[5 * ld + j];
        const float k20 = kt[6 * ld + j], k21 = kt[7 * ld + j], k22 = kt[8 * ld + j];
        /* t = G k: rows k0, (k0+k1+k2)/2, (k0-k1+k2)/2, k2 */
        const float t10 = 0.5f * (k00 + k10 + k20), t11 = 0.5f * (k01 + k11 + k21), t12 = 0.5f * (k02 + k12 + k22);
        const float t20 = 0.5f * (k00 - k10 + k20), t21 = 0.5f * (k01 - k11 + k21), t22 = 0.5f * (k02 - k12 + k22);
        /* u = t G^T: columns t0, (t0+t1+t2)/2, (t0-t1+t2)/2, t2 */
#define EBMK_WINO_ROW(i, a0, a1, a2)                           \
        uo[(i * 4 + 0) * plane + j] = a0;                      \
        uo[(i * 4 + 1) * plane + j] = 0.5f * (a0 + a1 + a2);   \
        uo[(i * 4 + 2) * plane + j] = 0.5f * (a0 - a1 + a2);   \
        uo[(i * 4 + 3) * plane + j] = a2;
        EBMK_WINO_ROW(0, k00, k01, k02)
        EBMK_WINO_ROW(1, t10, t11, t12)
        EBMK_WINO_ROW(2, t20, t21, t22)
        EBMK_WINO_ROW(3, k20, k21, k22)
#undef EBMK_WINO_ROW
    }
}

/* The ns planes of channel c of samples s0.. (x: the channel's plane of
 * sample 0, g->ci planes per sample) into p (rows of pn floats, one row and
 * one column of border before the image, the sample innermost), and back:
 * the planes of q (rows of qn floats) into y's planes of channel o. */
EBMK_INLINE void ebmk_wino_plane_in(const ebmk_wino *g, const float *restrict x, int64_t s0, int64_t ns, int64_t pn,
                                    float *restrict p)
{
    const int64_t hw = g->h * g->w;
#if EBMK_AVX512
    if (ns == 16) {   /* 16 positions of the 16 samples at a time, transposed in registers */
        int64_t ih = 0, iw = 0;
        for (int64_t p0 = 0; p0 < hw; p0 += 16) {
            const int64_t np = hw - p0 < 16 ? hw - p0 : 16;
            __m512 r[16];
            for (int64_t s = 0; s < 16; s++)
                r[s] = _mm512_maskz_loadu_ps(ebmk_lanes(0, np), x + (s0 + s) * g->ci * hw + p0);
            ebmk_tr16(r);
            for (int64_t i = 0; i < np; i++) {
                _mm512_storeu_ps(p + (ih + 1) * pn + (iw + 1) * 16, r[i]);
                if (++iw == g->w)
                    iw = 0, ih++;
            }
        }
        return;
    }
#endif
    for (int64_t s = 0; s < ns; s++) {
        const float *restrict xs = x + (s0 + s) * g->ci * hw;
        for (int64_t ih = 0; ih < g->h; ih++) {
            float *restrict pr = p + (ih + 1) * pn + ns + s;
            for (int64_t iw = 0; iw < g->w; iw++)
                pr[iw * ns] = xs[ih * g->w + iw];
        }
    }
}
EBMK_INLINE void ebmk_wino_plane_out(const ebmk_wino *g, const float *restrict q, int64_t qn, int64_t s0, int64_t ns,
                                     float *restrict y)
{
    const int64_t hw = g->h * g->w;
#if EBMK_AVX512
    if (ns == 16) {
        int64_t oh = 0, ow = 0;
        for (int64_t p0 = 0; p0 < hw; p0 += 16) {
            const int64_t np = hw - p0 < 16 ? hw - p0 : 16;
            __m512 r[16];
            for (int64_t i = 0; i < 16; i++) {
                r[i] = _mm512_setzero_ps();
                if (i < np) {
                    r[i] = _mm512_loadu_ps(q + oh * qn + ow * 16);
                    if (++ow == g->w)
                        ow = 0, oh++;
                }
            }
            ebmk_tr16(r);
            for (int64_t s = 0; s < 16; s++)
                _mm512_mask_storeu_ps(y + (s0 + s) * g->co * hw + p0, ebmk_lanes(0, np), r[s]);
        }
        return;
    }
#endif
    for (int64_t s = 0; s < ns; s++) {
        float *restrict ys = y + (s0 + s) * g->co * hw;
        for (int64_t oh = 0; oh < g->h; oh++) {
            const float *restrict qr = q + oh * qn + s;
            for (int64_t ow = 0; ow < g->w; ow++)
                ys[oh * g->w + ow] = qr[ow * ns];
        }
    }
}

/* v [16, ci, T] = B^T d B for every input tile d of samples s0.. of
 * x [B, ci, h, w], channel by channel: the ns planes of the channel are
 * copied into p [2*th+2, 2*tw+2, ns] (sample innermost; the zero border
 * written once), then each tile is transformed for all ns samples at once. */
EBMK_INLINE void ebmk_wino_in_n(const ebmk_wino *g, const float *restrict x, int64_t s0, int64_t ns, float *restrict p,
                                float *restrict v)
{
    const int64_t tiles = g->th * g->tw, ld = ns * tiles, plane = g->ci * ld + EBMK_WINO_GAP, pw = 2 * g->tw + 2, hw = g->h * g->w;
    const int64_t pn = pw * ns;   /* a row of p */
    for (int64_t k = 0; k < (2 * g->th + 2) * pn; k++)
        p[k] = 0.0f;
    for (int64_t c = 0; c < g->ci; c++) {
        ebmk_wino_plane_in(g, x + c * hw, s0, ns, pn, p);
        for (int64_t ty = 0; ty < g->th; ty++)
            for (int64_t tx = 0; tx < g->tw; tx++) {
                const float *restrict r0 = p + 2 * ty * pn + 2 * tx * ns, *restrict r1 = r0 + pn,
                                      *restrict r2 = r1 + pn, *restrict r3 = r2 + pn;
                float *restrict vt = v + c * ld + (ty * g->tw + tx) * ns;
                #pragma omp simd
                for (int64_t s = 0; s < ns; s++) {
#define EBMK_WINO_COL(j) \
                    const float t0##j = r0[j * ns + s] - r2[j * ns + s], t1##j = r1[j * ns + s] + r2[j * ns + s], \
                                t2##j = r2[j * ns + s] - r1[j * ns + s], t3##j = r1[j * ns + s] - r3[j * ns + s];
                    EBMK_WINO_COL(0)
                    EBMK_WINO_COL(1)
                    EBMK_WINO_COL(2)
                    EBMK_WINO_COL(3)
#undef EBMK_WINO_COL
#define EBMK_WINO_ROW(i) \
                    vt[(i * 4 + 0) * plane + s] = t##i##0 - t##i##2; \
                    vt[(i * 4 + 1) * plane + s] = t##i##1 + t##i##2; \
                    vt[(i * 4 + 2) * plane + s] = t##i##2 - t##i##1; \
                    vt[(i * 4 + 3) * plane + s] = t##i##1 - t##i##3;
                    EBMK_WINO_ROW(0)
                    EBMK_WINO_ROW(1)
                    EBMK_WINO_ROW(2)
                    EBMK_WINO_ROW(3)
#undef EBMK_WINO_ROW
                }
            }
    }
}
EBMK_INLINE void ebmk_wino_in(const ebmk_wino *g, const float *restrict x, int64_t s0, int64_t ns, float *restrict p,
                              float *restrict v)
{   /* a whole vector of samples as a constant: the transforms' loops over them unrolled */
    if (ns == 16)
        ebmk_wino_in_n(g, x, s0, 16, p, v);
    else
        ebmk_wino_in_n(g, x, s0, ns, p, v);
}

/* y [B, co, h, w] of samples s0.. = A^T m A per tile, m [16, co, T],
 * channel by channel through whole-tile planes of its ns samples
 * (q [2*th, 2*tw, ns], sample innermost, all written before any is copied
 * out). */
EBMK_INLINE void ebmk_wino_out_n(const ebmk_wino *g, const float *restrict m, int64_t s0, int64_t ns, float *restrict q,
                                 float *restrict y)
{
    const int64_t tiles = g->th * g->tw, ld = ns * tiles, plane = g->co * ld + EBMK_WINO_GAP, qn = 2 * g->tw * ns, hw = g->h * g->w;
    for (int64_t o = 0; o < g->co; o++) {
        for (int64_t ty = 0; ty < g->th; ty++)
            for (int64_t tx = 0; tx < g->tw; tx++) {
                const float *restrict mt = m + o * ld + (ty * g->tw + tx) * ns;
                float *restrict q0 = q + 2 * ty * qn + 2 * tx * ns, *restrict q1 = q0 + qn;
                #pragma omp simd
                for (int64_t s = 0; s < ns; s++) {
#define EBMK_WINO_COL(j) \
                    const float a##j = mt[j * plane + s] + mt[(4 + j) * plane + s] + mt[(8 + j) * plane + s], \
                                b##j = mt[(4 + j) * plane + s] - mt[(8 + j) * plane + s] - mt[(12 + j) * plane + s];
                    EBMK_WINO_COL(0)
                    EBMK_WINO_COL(1)
                    EBMK_WINO_COL(2)
                    EBMK_WINO_COL(3)
#undef EBMK_WINO_COL
                    q0[s] = a0 + a1 + a2;
                    q0[ns + s] = a1 - a2 - a3;
                    q1[s] = b0 + b1 + b2;
                    q1[ns + s] = b1 - b2 - b3;
                }
            }
        ebmk_wino_plane_out(g, q, qn, s0, ns, y + o * hw);
    }
}
EBMK_INLINE void ebmk_wino_out(const ebmk_wino *g, const float *restrict m, int64_t s0, int64_t ns, float *restrict q,
                               float *restrict y)
{   /* a whole vector of samples as a constant: the transforms' loops over them unrolled */
    if (ns == 16)
        ebmk_wino_out_n(g, m, s0, 16, q, y);
    else
        ebmk_wino_out_n(g, m, s0, ns, q, y);
}

/* Winograd F(4x4, 3x3): 4x4 output tiles from 6x6 input tiles, 36 products
 * per tile and channel pair instead of 144, with the interpolation points 0,
 * 1, -1, 1/2, -1/2 and infinity:
 *   B^T = [1  0 -5  0  4  0]   G = [ 1    0    0 ]   A^T = [1 1  1  1    1   0]
 *         [0 -1 -1  4  4  0]       [1/6  1/6  1/6]         [0 1 -1 1/2 -1/2  0]
 *         [0  1 -1 -4  4  0]       [1/6 -1/6  1/6]         [0 1  1 1/4  1/4  0]
 *         [0  1  2 -1 -2  0]       [4/3  2/3  1/3]         [0 1 -1 1/8 -1/8  1]
 *         [0 -1  2  1 -2  0]       [4/3 -2/3  1/3]
 *         [0  1  0 -5  0  4]       [ 0    0   1/4]
 * The layouts of F(2x2, 3x3) with 36 cells instead of 16, th and tw
 * counting 4x4 tiles. */

/* o0..o5 = G (g0, g1, g2) */
#define EBMK_WINO4_G(g0, g1, g2, o0, o1, o2, o3, o4, o5)                                          \
    const float o0 = g0, o1 = (g0 + g2 + g1) / 6.0f, o2 = (g0 + g2 - g1) / 6.0f,                  \
                o3 = (4.0f * g0 + g2 + 2.0f * g1) / 3.0f, o4 = (4.0f * g0 + g2 - 2.0f * g1) / 3.0f, \
                o5 = 0.25f * g2;

/* u [36, co, ci] = G g G^T of n channel pairs j, taps at kt[t * ld + j], into uo[k * plane + j]. */
EBMK_INLINE void ebmk_wino4_weights_row(int64_t n, const float *restrict kt, int64_t ld, int64_t plane,
                                        float *restrict uo)
{
    #pragma omp simd
    for (int64_t j = 0; j < n; j++) {
        const float k00 = kt[0 * ld + j], k01 = kt[1 * ld + j], k02 = kt[2 * ld + j];
        const float k10 = kt[3 * ld + j], k11 = kt[4 * ld + j], k12 = kt[5 * ld + j];
        const float k20 = kt[6 * ld + j], k21 = kt[7 * ld + j], k22 = kt[8 * ld + j];
        /* t = G k, column by column; then each row of u = t G^T */
        EBMK_WINO4_G(k00, k10, k20, t00, t10, t20, t30, t40, t50)
        EBMK_WINO4_G(k01, k11, k21, t01, t11, t21, t31, t41, t51)
        EBMK_WINO4_G(k02, k12, k22, t02, t12, t22, t32, t42, t52)
#define EBMK_WINO4_ROW(i)                                                                         \
        {                                                                                         \
            EBMK_WINO4_G(t##i##0, t##i##1, t##i##2, u0, u1, u2, u3, u4, u5)                        \
            uo[(i * 6 + 0) * plane + j] = u0, uo[(i * 6 + 1) * plane + j] = u1;                   \
            uo[(i * 6 + 2) * plane + j] = u2, uo[(i * 6 + 3) * plane + j] = u3;                   \
            uo[(i * 6 + 4) * plane + j] = u4, uo[(i * 6 + 5) * plane + j] = u5;                   \
        }
        EBMK_WINO4_ROW(0)
        EBMK_WINO4_ROW(1)
        EBMK_WINO4_ROW(2)
        EBMK_WINO4_ROW(3)
        EBMK_WINO4_ROW(4)
        EBMK_WINO4_ROW(5)
#undef EBMK_WINO4_ROW
    }
}

/* u [(r+2)^2, co, ci] = G g G^T per channel pair, F(r x r, 3x3) for r = 2, 4: g = w[o][c] (w [co, ci, 3, 3]),
 * or with flip, g = w[c][o] rotated by 180 degrees (w [ci, co, 3, 3]): the
 * transposed convolution's kernel.  The taps are gathered per o into kt
 * [9, ci] (w[o] is contiguous: strided loads, contiguous stores), or with
 * flip per 16 channels c into a block on the stack (9 contiguous taps each,
 * co * 9 floats apart: gathering a whole row of kt from them was 3x slower). */
EBMK_INLINE void ebmk_wino_weights(const ebmk_wino *g, const float *restrict w, int flip, int r,
                                   float *restrict kt, float *restrict u)
{
    const int64_t plane = g->co * g->ci, ci = g->ci, co = g->co;
    if (!flip) {
        for (int64_t o = 0; o < co; o++) {
            for (int64_t t = 0; t < 9; t++)
                EBMK_NO_VEC
                for (int64_t c = 0; c < ci; c++)
                    kt[t * ci + c] = w[(o * ci + c) * 9 + t];
            if (r == 4)
                ebmk_wino4_weights_row(ci, kt, ci, plane, u + o * ci);
            else
                ebmk_wino_weights_row(ci, kt, ci, plane, u + o * ci);
        }
        return;
    }
    for (int64_t c0 = 0; c0 < ci; c0 += 16)   /* o inner: 16 rows of w read front to back */
        for (int64_t o = 0; o < co; o++) {
            float kb[9 * 16];
            const int64_t nc = ci - c0 < 16 ? ci - c0 : 16;
            for (int64_t j = 0; j < nc; j++)
                for (int64_t t = 0; t < 9; t++)
                    kb[t * 16 + j] = w[((c0 + j) * co + o) * 9 + 8 - t];
            if (r == 4)
                ebmk_wino4_weights_row(nc, kb, 16, plane, u + o * ci + c0);
            else
                ebmk_wino_weights_row(nc, kb, 16, plane, u + o * ci + c0);
        }
}


/* v [36, ci, T] = B^T d B for every 6x6 input tile d, through p
 * [4*th+2, 4*tw+2, ns] as ebmk_wino_in. */
EBMK_INLINE void ebmk_wino4_in_n(const ebmk_wino *g, const float *restrict x, int64_t s0, int64_t ns, float *restrict p,
                                 float *restrict v)
{
    const int64_t tiles = g->th * g->tw, ld = ns * tiles, plane = g->ci * ld + EBMK_WINO_GAP, pw = 4 * g->tw + 2, hw = g->h * g->w;
    const int64_t pn = pw * ns;   /* a row of p */
    for (int64_t k = 0; k < (4 * g->th + 2) * pn; k++)
        p[k] = 0.0f;
    for (int64_t c = 0; c < g->ci; c++) {
        ebmk_wino_plane_in(g, x + c * hw, s0, ns, pn, p);
        for (int64_t ty = 0; ty < g->th; ty++)
            for (int64_t tx = 0; tx < g->tw; tx++) {
                const float *restrict r = p + 4 * ty * pn + 4 * tx * ns;
                float *restrict vt = v + c * ld + (ty * g->tw + tx) * ns;
                #pragma omp simd
                for (int64_t s = 0; s < ns; s++) {
#define EBMK_WINO4_LOAD(i)                                                                        \
                    const float d##i##0 = r[i * pn + s], d##i##1 = r[i * pn + ns + s],             \
                                d##i##2 = r[i * pn + 2 * ns + s], d##i##3 = r[i * pn + 3 * ns + s], \
                                d##i##4 = r[i * pn + 4 * ns + s], d##i##5 = r[i * pn + 5 * ns + s];
                    EBMK_WINO4_LOAD(0)
                    EBMK_WINO4_LOAD(1)
                    EBMK_WINO4_LOAD(2)
                    EBMK_WINO4_LOAD(3)
                    EBMK_WINO4_LOAD(4)
                    EBMK_WINO4_LOAD(5)
#undef EBMK_WINO4_LOAD
                    /* e = B^T d, column j */
#define EBMK_WINO4_COL(j)                                                                         \
                    const float de##j = 4.0f * d4##j - d2##j, df##j = 4.0f * d3##j - d1##j,         \
                                dh##j = 2.0f * (d2##j - d4##j), dk##j = d1##j - d3##j;              \
                    const float e0##j = (d0##j + 4.0f * d4##j) - 5.0f * d2##j, e1##j = de##j + df##j, \
                                e2##j = de##j - df##j, e3##j = dh##j + dk##j, e4##j = dh##j - dk##j, \
                                e5##j = (d1##j + 4.0f * d5##j) - 5.0f * d3##j;
                    EBMK_WINO4_COL(0)
                    EBMK_WINO4_COL(1)
                    EBMK_WINO4_COL(2)
                    EBMK_WINO4_COL(3)
                    EBMK_WINO4_COL(4)
                    EBMK_WINO4_COL(5)
#undef EBMK_WINO4_COL
                    /* row i of e B */
#define EBMK_WINO4_ROW(i)                                                                         \
                    {                                                                             \
                        const float fe = 4.0f * e##i##4 - e##i##2, ff = 4.0f * e##i##3 - e##i##1,   \
                                    fh = 2.0f * (e##i##2 - e##i##4), fk = e##i##1 - e##i##3;        \
                        vt[(i * 6 + 0) * plane + s] = (e##i##0 + 4.0f * e##i##4) - 5.0f * e##i##2;  \
                        vt[(i * 6 + 1) * plane + s] = fe + ff;                                    \
                        vt[(i * 6 + 2) * plane + s] = fe - ff;                                    \
                        vt[(i * 6 + 3) * plane + s] = fh + fk;                                    \
                        vt[(i * 6 + 4) * plane + s] = fh - fk;                                    \
                        vt[(i * 6 + 5) * plane + s] = (e##i##1 + 4.0f * e##i##5) - 5.0f * e##i##3;  \
                    }
                    EBMK_WINO4_ROW(0)
                    EBMK_WINO4_ROW(1)
                    EBMK_WINO4_ROW(2)
                    EBMK_WINO4_ROW(3)
                    EBMK_WINO4_ROW(4)
                    EBMK_WINO4_ROW(5)
#undef EBMK_WINO4_ROW
                }
            }
    }
}
EBMK_INLINE void ebmk_wino4_in(const ebmk_wino *g, const float *restrict x, int64_t s0, int64_t ns, float *restrict p,
                               float *restrict v)
{   /* a whole vector of samples as a constant: the transforms' loops over them unrolled */
    if (ns == 16)
        ebmk_wino4_in_n(g, x, s0, 16, p, v);
    else
        ebmk_wino4_in_n(g, x, s0, ns, p, v);
}

/* y [B, co, h, w] of samples s0.. = A^T m A per tile, m [36, co, T],
 * through q [4*th, 4*tw, ns] as ebmk_wino_out. */
EBMK_INLINE void ebmk_wino4_out_n(const ebmk_wino *g, const float *restrict m, int64_t s0, int64_t ns, float *restrict q,
                                  float *restrict y)
{
    const int64_t tiles = g->th * g->tw, ld = ns * tiles, plane = g->co * ld + EBMK_WINO_GAP, qn = 4 * g->tw * ns, hw = g->h * g->w;
    for (int64_t o = 0; o < g->co; o++) {
        for (int64_t ty = 0; ty < g->th; ty++)
            for (int64_t tx = 0; tx < g->tw; tx++) {
                const float *restrict mt = m + o * ld + (ty * g->tw + tx) * ns;
                float *restrict qt = q + 4 * ty * qn + 4 * tx * ns;
                #pragma omp simd
                for (int64_t s = 0; s < ns; s++) {
                    /* n = A^T m, column j */
#define EBMK_WINO4_COL(j)                                                                         \
                    const float s12##j = mt[(6 + j) * plane + s] + mt[(12 + j) * plane + s],        \
                                d12##j = mt[(6 + j) * plane + s] - mt[(12 + j) * plane + s],        \
                                s34##j = mt[(18 + j) * plane + s] + mt[(24 + j) * plane + s],       \
                                d34##j = mt[(18 + j) * plane + s] - mt[(24 + j) * plane + s];       \
                    const float n0##j = mt[j * plane + s] + s12##j + s34##j, n1##j = d12##j + 0.5f * d34##j, \
                                n2##j = s12##j + 0.25f * s34##j,                                  \
                                n3##j = (d12##j + 0.125f * d34##j) + mt[(30 + j) * plane + s];
                    EBMK_WINO4_COL(0)
                    EBMK_WINO4_COL(1)
                    EBMK_WINO4_COL(2)
                    EBMK_WINO4_COL(3)
                    EBMK_WINO4_COL(4)
                    EBMK_WINO4_COL(5)
#undef EBMK_WINO4_COL
                    /* row i of n A */
#define EBMK_WINO4_ROW(i)                                                                         \
                    {                                                                             \
                        const float a12 = n##i##1 + n##i##2, b12 = n##i##1 - n##i##2,              \
                                    a34 = n##i##3 + n##i##4, b34 = n##i##3 - n##i##4;              \
                        qt[i * qn + s] = n##i##0 + a12 + a34;                                     \
                        qt[i * qn + ns + s] = b12 + 0.5f * b34;                                   \
                        qt[i * qn + 2 * ns + s] = a12 + 0.25f * a34;                              \
                        qt[i * qn + 3 * ns + s] = (b12 + 0.125f * b34) + n##i##5;                 \
                    }
                    EBMK_WINO4_ROW(0)
                    EBMK_WINO4_ROW(1)
                    EBMK_WINO4_ROW(2)
                    EBMK_WINO4_ROW(3)
#undef EBMK_WINO4_ROW
                }
            }
        ebmk_wino_plane_out(g, q, qn, s0, ns, y + o * hw);
    }
}
EBMK_INLINE void ebmk_wino4_out(const ebmk_wino *g, const float *restrict m, int64_t s0, int64_t ns, float *restrict q,
                                float *restrict y)
{   /* a whole vector of samples as a constant: the transforms' loops over them unrolled */
    if (ns == 16)
        ebmk_wino4_out_n(g, m, s0, 16, q, y);
    else
        ebmk_wino4_out_n(g, m, s0, ns, q, y);
}
#undef EBMK_WINO4_G

#endif /* EBMK_WINO_H */
