/* test_kernels.c — the convolution, pooling and float-math kernels of
 * compiler/kernels/ (ebmk_conv.h, ebmk_wino.h, ebmk_pool.h, ebmk_math.h)
 * called directly, as a model's kernels call them.  tests/CMakeLists.txt
 * builds this file twice with the flags models are compiled with:
 * test_kernels with -march=native (the AVX-512 paths where the CPU has
 * them) and test_kernels_generic without (compiler/cc.c's "generic": SSE, no FMA).
 *   - im2col through the phase planes (ebmk_pad_in, ebmk_im2col_chunk) bit
 *     for bit a direct gather, and col2im (ebmk_col2im_chunk, ebmk_pad_out)
 *     bit for bit a direct scatter summing each pixel's cells in kernel-cell
 *     order, on strides 1, 2 and 3, asymmetric padding, dilation, groups,
 *     strided 1x1 kernels and rows longer than a vector; pixels no window
 *     reads get 0, other samples and groups are not touched;
 *   - Winograd F(2x2, 3x3) and F(4x4, 3x3), plain and flipped kernels, odd
 *     image sizes, a chunk of 16 samples (the register-transpose path) and
 *     one of 3, against a direct convolution in double;
 *   - max and average pooling and their gradients on hand-computed planes:
 *     padding with and without count_include_pad, a ceil_mode window past the
 *     padding, the arg-max rule (first in scan order, a NaN wins);
 *   - ebmk_expf, ebmk_logf, ebmk_log1pf, ebmk_tanhf, ebmk_erff within 4 ulp
 *     of libm's double function rounded to float, and their special values.
 * (test_codegen_conv.c runs the same helpers inside compiled models against
 * the reference executor.)
 */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ebmk_math.h"
#include "ebmk_conv.h"
#include "ebmk_wino.h"
#include "ebmk_pool.h"
#include "ebmk_gemm.h"
#include "testutil.h"

/* ---- im2col / col2im ---------------------------------------------------------------------- */

typedef struct conv_case {
    int64_t c, h, w, groups, kh, kw, sh, sw, pt, pl, pb, pr, dh, dw;
} conv_case;

static const conv_case conv_cases[] = {
    {3, 7, 9, 1, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},     /* "same" 3x3 */
    {2, 8, 10, 1, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1},    /* stride 2: the AVX-512 row split and merge */
    {4, 11, 13, 2, 3, 2, 2, 2, 0, 1, 2, 0, 1, 1},   /* groups, asymmetric padding, 3x2 kernel */
    {1, 9, 9, 1, 3, 3, 1, 1, 2, 2, 2, 2, 2, 2},     /* dilation 2 */
    {2, 10, 35, 1, 3, 5, 3, 3, 1, 2, 1, 2, 1, 1},   /* stride 3, rows longer than a vector */
    {2, 6, 40, 1, 1, 1, 2, 2, 0, 0, 0, 0, 1, 1},    /* strided 1x1: phases no cell reads */
    {1, 5, 37, 1, 3, 3, 2, 2, 1, 1, 0, 0, 2, 2},    /* stride 2, dilation 2: one column phase */
    {2, 9, 33, 1, 2, 2, 2, 2, 0, 0, 0, 0, 1, 1},    /* stride 2, last row and column read by no window */
};
#define N_CONV_CASES ((int)(sizeof conv_cases / sizeof conv_cases[0]))
#define CONV_BATCH 4   /* samples 1 and 2 are the chunk */

/* The geometry as the C backend fills it (compiler/codegen_c_kernels.c). */
static ebmk_conv conv_geom(const conv_case *k)
{
    ebmk_conv g = {0};
    g.cg = k->c / k->groups;
    g.h = k->h, g.w = k->w, g.kh = k->kh, g.kw = k->kw, g.sh = k->sh, g.sw = k->sw;
    g.pt = k->pt, g.pl = k->pl, g.dh = k->dh, g.dw = k->dw;
    g.ho = (k->h + k->pt + k->pb - k->dh * (k->kh - 1) - 1) / k->sh + 1;
    g.wo = (k->w + k->pl + k->pr - k->dw * (k->kw - 1) - 1) / k->sw + 1;
    g.og = 1;
    g.x_sample = k->c * k->h * k->w;
    g.y_sample = k->groups * g.og * g.ho * g.wo;
    g.hq = g.ho + (k->kh - 1) * k->dh / k->sh;
    g.wq = g.wo + (k->kw - 1) * k->dw / k->sw;
    return g;
}

/* The input pixel cell (i, j) of output (oh, ow) reads, or -1 in the padding. */
static int64_t conv_src(const ebmk_conv *g, int64_t i, int64_t j, int64_t oh, int64_t ow)
{
    const int64_t y = oh * g->sh + i * g->dh - g->pt, x = ow * g->sw + j * g->dw - g->pl;
    return y >= 0 && y < g->h && x >= 0 && x < g->w ? y * g->w + x : -1;
}

static void check_im2col(const conv_case *k)
{
    const ebmk_conv g = conv_geom(k);
    const int64_t s0 = 1, ns = 2, hw = g.ho * g.wo, ld = ns * hw, rows = g.cg * g.kh * g.kw;
    const int64_t nx = CONV_BATCH * g.x_sample;
    float *x = malloc(sizeof(float) * (size_t)nx), *dx = malloc(sizeof(float) * (size_t)nx);
    float *pad = malloc(sizeof(float) * (size_t)(ns * g.cg * ebmk_planes(&g)));
    float *col = malloc(sizeof(float) * (size_t)(rows * ld)), *dcol = malloc(sizeof(float) * (size_t)(rows * ld));
    ck_assert(x && dx && pad && col && dcol);
    tu_fill_uniform_f32(x, (size_t)nx, 3, -1, 1);
    for (int64_t grp = 0; grp < k->groups; grp++) {
        for (int64_t q = 0; q < ns * g.cg * ebmk_planes(&g); q++)
            pad[q] = NAN;   /* the planes no cell reads stay unwritten */
        ebmk_pad_in(&g, x, s0, ns, grp, pad);
        ebmk_im2col_chunk(&g, pad, ns, col);
        for (int64_t c = 0; c < g.cg; c++)
            for (int64_t i = 0; i < g.kh; i++)
                for (int64_t j = 0; j < g.kw; j++)
                    for (int64_t s = 0; s < ns; s++)
                        for (int64_t oh = 0; oh < g.ho; oh++)
                            for (int64_t ow = 0; ow < g.wo; ow++) {
                                const int64_t at = conv_src(&g, i, j, oh, ow);
                                const float want =
                                    at < 0 ? 0.0f : x[(s0 + s) * g.x_sample + (grp * g.cg + c) * g.h * g.w + at];
                                const float got = col[((c * g.kh + i) * g.kw + j) * ld + s * hw + oh * g.wo + ow];
                                ck_assert_msg(memcmp(&want, &got, sizeof got) == 0,
                                              "case %dx%d/%lld group %lld: col[c%lld i%lld j%lld s%lld %lld,%lld] = "
                                              "%a, want %a",
                                              (int)k->h, (int)k->w, (long long)k->sh, (long long)grp, (long long)c,
                                              (long long)i, (long long)j, (long long)s, (long long)oh,
                                              (long long)ow, got, want);
                            }

        /* col2im: the transpose, each pixel's cells summed in kernel-cell order */
        tu_fill_uniform_f32(dcol, (size_t)(rows * ld), 5 + (uint64_t)grp, -1, 1);
        for (int64_t q = 0; q < nx; q++)
            dx[q] = NAN;
        ebmk_col2im_chunk(&g, dcol, ns, pad);
        ebmk_pad_out(&g, pad, s0, ns, grp, dx);
        for (int64_t s = 0; s < CONV_BATCH; s++)
            for (int64_t ch = 0; ch < k->c; ch++)
                for (int64_t p = 0; p < g.h * g.w; p++) {
                    const float got = dx[s * g.x_sample + ch * g.h * g.w + p];
                    const int64_t c = ch - grp * g.cg;
                    if (s < s0 || s >= s0 + ns || c < 0 || c >= g.cg) {
                        ck_assert_msg(isnan(got), "col2im wrote sample %lld channel %lld outside its chunk",
                                      (long long)s, (long long)ch);
                        continue;
                    }
                    float want = 0.0f;
                    for (int64_t i = 0; i < g.kh; i++)
                        for (int64_t j = 0; j < g.kw; j++)
                            for (int64_t oh = 0; oh < g.ho; oh++)
                                for (int64_t ow = 0; ow < g.wo; ow++)
                                    if (conv_src(&g, i, j, oh, ow) == p)
                                        want += dcol[((c * g.kh + i) * g.kw + j) * ld + (s - s0) * hw + oh * g.wo + ow];
                    ck_assert_msg(memcmp(&want, &got, sizeof got) == 0,
                                  "case %dx%d/%lld: dx[s%lld c%lld %lld] = %a, want %a", (int)k->h, (int)k->w,
                                  (long long)k->sh, (long long)s, (long long)ch, (long long)p, got, want);
                }
    }
    free(x);
    free(dx);
    free(pad);
    free(col);
    free(dcol);
}

START_TEST(im2col_col2im_direct)
{
    check_im2col(&conv_cases[_i]);
}
END_TEST

/* ebmk_conv_transpose (16 x 16 blocks) and ebmk_transpose: dst = src^T,
 * on sizes with and without partial blocks. */
START_TEST(transposes)
{
    static const int64_t sizes[][2] = {{1, 1}, {16, 16}, {37, 21}, {5, 70}, {64, 3}};
    for (size_t z = 0; z < sizeof sizes / sizeof sizes[0]; z++) {
        const int64_t rows = sizes[z][0], cols = sizes[z][1];
        float src[64 * 70], dst[64 * 70], dst2[64 * 70];
        tu_fill_uniform_f32(src, (size_t)(rows * cols), 13, -1, 1);
        ebmk_conv_transpose(rows, cols, src, dst);
        ebmk_transpose(rows, cols, src, dst2);
        for (int64_t r = 0; r < rows; r++)
            for (int64_t c = 0; c < cols; c++) {
                ck_assert(memcmp(&dst[c * rows + r], &src[r * cols + c], sizeof(float)) == 0);
                ck_assert(memcmp(&dst2[c * rows + r], &src[r * cols + c], sizeof(float)) == 0);
            }
    }
}
END_TEST

/* ---- Winograd ----------------------------------------------------------------------------- */

typedef struct wino_case {
    int64_t ci, co, h, w;
    int r, flip;
} wino_case;

static const wino_case wino_cases[] = {
    {5, 3, 7, 5, 2, 0}, {5, 3, 7, 5, 2, 1}, {18, 4, 6, 9, 2, 1},
    {5, 3, 7, 5, 4, 0}, {18, 4, 9, 6, 4, 1}, {3, 17, 8, 8, 4, 0},
};
#define N_WINO_CASES ((int)(sizeof wino_cases / sizeof wino_cases[0]))
#define WINO_BATCH 19   /* a chunk of 16 samples, then one of 3 */

/* y [B, co, h, w] through the transforms and (r+2)^2 GEMMs per chunk, as
 * the C backend's Winograd kernel runs them; against a direct 3x3
 * convolution (stride 1, padding 1) in double. */
static void check_wino(const wino_case *k)
{
    const int r = k->r;
    const int64_t n = (r + 2) * (r + 2), th = (k->h + r - 1) / r, tw = (k->w + r - 1) / r, tiles = th * tw;
    const ebmk_wino g = {k->ci, k->co, k->h, k->w, th, tw};
    const int64_t hw = k->h * k->w, nw = k->ci * k->co * 9, maxld = 16 * tiles;
    float *x = malloc(sizeof(float) * (size_t)(WINO_BATCH * k->ci * hw)), *w = malloc(sizeof(float) * (size_t)nw);
    float *y = malloc(sizeof(float) * (size_t)(WINO_BATCH * k->co * hw));
    float *u = malloc(sizeof(float) * (size_t)(n * k->co * k->ci)), *kt = malloc(sizeof(float) * (size_t)(9 * k->ci));
    float *v = malloc(sizeof(float) * (size_t)(n * (k->ci * maxld + EBMK_WINO_GAP)));
    float *m = malloc(sizeof(float) * (size_t)(n * (k->co * maxld + EBMK_WINO_GAP)));
    float *p = malloc(sizeof(float) * (size_t)((r * th + 2) * (r * tw + 2) * 16));
    float *q = malloc(sizeof(float) * (size_t)(r * th * r * tw * 16));
    ck_assert(x && w && y && u && kt && v && m && p && q);
    tu_fill_uniform_f32(x, (size_t)(WINO_BATCH * k->ci * hw), 7, -1, 1);
    tu_fill_uniform_f32(w, (size_t)nw, 9, -1, 1);
    ebmk_wino_weights(&g, w, k->flip, r, kt, u);
    for (int64_t s0 = 0; s0 < WINO_BATCH; s0 += 16) {
        const int64_t ns = WINO_BATCH - s0 < 16 ? WINO_BATCH - s0 : 16, ld = ns * tiles;
        if (r == 4)
            ebmk_wino4_in(&g, x, s0, ns, p, v);
        else
            ebmk_wino_in(&g, x, s0, ns, p, v);
        for (int64_t c = 0; c < n; c++)
            ebmk_gemm_nn(k->co, k->ci, ld, u + c * k->co * k->ci, v + c * (k->ci * ld + EBMK_WINO_GAP),
                         m + c * (k->co * ld + EBMK_WINO_GAP));
        if (r == 4)
            ebmk_wino4_out(&g, m, s0, ns, q, y);
        else
            ebmk_wino_out(&g, m, s0, ns, q, y);
    }
    double worst = 0;
    for (int64_t s = 0; s < WINO_BATCH; s++)
        for (int64_t o = 0; o < k->co; o++)
            for (int64_t yy = 0; yy < k->h; yy++)
                for (int64_t xx = 0; xx < k->w; xx++) {
                    double want = 0, mag = 0;
                    for (int64_t c = 0; c < k->ci; c++)
                        for (int64_t i = 0; i < 3; i++)
                            for (int64_t j = 0; j < 3; j++) {
                                const int64_t iy = yy + i - 1, ix = xx + j - 1;
                                if (iy < 0 || iy >= k->h || ix < 0 || ix >= k->w)
                                    continue;
                                /* flip: w [ci, co, 3, 3], the kernel turned by 180 degrees */
                                const double wt = k->flip ? w[((c * k->co + o) * 3 + 2 - i) * 3 + 2 - j]
                                                          : w[((o * k->ci + c) * 3 + i) * 3 + j];
                                const double t = wt * x[((s * k->ci + c) * k->h + iy) * k->w + ix];
                                want += t;
                                mag += fabs(t);
                            }
                    const double got = y[((s * k->co + o) * k->h + yy) * k->w + xx], e = fabs(got - want) / (mag + 1e-30);
                    worst = e > worst ? e : worst;
                    /* relative to sum |terms|; measured worst: F(2x2) 1.5e-7, F(4x4) 1.0e-5 (its
                     * transforms scale by up to 5 and 1/8) */
                    ck_assert_msg(e <= (r == 4 ? 2e-5 : 2e-6),
                                  "F(%dx%d) ci=%lld co=%lld %lldx%lld flip=%d: y[s%lld o%lld %lld,%lld] = %.9g, want "
                                  "%.9g (|terms| %.3g)",
                                  r, r, (long long)k->ci, (long long)k->co, (long long)k->h, (long long)k->w, k->flip,
                                  (long long)s, (long long)o, (long long)yy, (long long)xx, got, want, mag);
                }
    ck_assert(worst > 0);   /* float arithmetic happened: the check is not vacuous */
    free(x);
    free(w);
    free(y);
    free(u);
    free(kt);
    free(v);
    free(m);
    free(p);
    free(q);
}

START_TEST(winograd_direct)
{
    check_wino(&wino_cases[_i]);
}
END_TEST

/* ---- pooling ------------------------------------------------------------------------------ */

/* The 4x4 plane 1..16, row by row. */
static void plane_1_to_16(float *x)
{
    for (int i = 0; i < 16; i++)
        x[i] = (float)(i + 1);
}

static void assert_floats(const float *got, const float *want, int n, const char *what)
{
    for (int i = 0; i < n; i++)
        ck_assert_msg(memcmp(&got[i], &want[i], sizeof got[i]) == 0, "%s[%d] = %.9g, want %.9g", what, i,
                      (double)got[i], (double)want[i]);
}

START_TEST(pool_2x2_stride_2)
{
    const ebmk_pool g = {.h = 4, .w = 4, .ho = 2, .wo = 2, .kh = 2, .kw = 2, .sh = 2, .sw = 2, .dh = 1, .dw = 1};
    float x[32], y[8], dx[32];
    plane_1_to_16(x);
    for (int i = 0; i < 16; i++)   /* a second plane: 16..1 */
        x[16 + i] = (float)(16 - i);
    ebmk_maxpool(&g, 2, x, NULL, y);
    assert_floats(y, (const float[]){6, 8, 14, 16, 16, 14, 8, 6}, 8, "max");
    ebmk_avgpool(&g, 2, x, y);
    assert_floats(y, (const float[]){3.5f, 5.5f, 11.5f, 13.5f, 13.5f, 11.5f, 5.5f, 3.5f}, 8, "avg");

    const float dy[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    ebmk_maxpool_bwd(&g, 2, x, dy, dx);
    const float want_max[32] = {0, 0, 0, 0, 0, 1, 0, 2, 0, 0, 0, 0, 0, 3, 0, 4,
                                5, 0, 6, 0, 0, 0, 0, 0, 7, 0, 8, 0, 0, 0, 0, 0};
    assert_floats(dx, want_max, 32, "max dx");
    ebmk_avgpool_bwd(&g, 2, dy, dx);
    const float want_avg[32] = {0.25f, 0.25f, 0.5f,  0.5f,  0.25f, 0.25f, 0.5f,  0.5f,  0.75f, 0.75f, 1,    1,
                                0.75f, 0.75f, 1,     1,     1.25f, 1.25f, 1.5f,  1.5f,  1.25f, 1.25f, 1.5f, 1.5f,
                                1.75f, 1.75f, 2,     2,     1.75f, 1.75f, 2,     2};
    assert_floats(dx, want_avg, 32, "avg dx");

    /* with t, the value of t at x's arg-max (MAXPOOL2D_GATHER) */
    float t[32];
    for (int i = 0; i < 32; i++)
        t[i] = (float)(100 + i);
    ebmk_maxpool(&g, 2, x, t, y);
    assert_floats(y, (const float[]){105, 107, 113, 115, 116, 118, 124, 126}, 8, "gather");
}
END_TEST

/* 3x3 windows, stride 2, padding 1 on every side: the corner window covers 4
 * cells of the input and 9 with the padding. */
START_TEST(pool_padding)
{
    ebmk_pool g = {.h = 4, .w = 4, .ho = 2, .wo = 2, .kh = 3, .kw = 3, .sh = 2, .sw = 2, .dh = 1, .dw = 1,
                   .pt = 1, .pl = 1, .pb = 1, .pr = 1};
    float x[16], y[4], dx[16];
    plane_1_to_16(x);
    ebmk_maxpool(&g, 1, x, NULL, y);
    assert_floats(y, (const float[]){6, 8, 14, 16}, 4, "max");
    ebmk_avgpool(&g, 1, x, y);   /* sums 14, 30, 57, 99 over 4, 6, 6, 9 cells */
    assert_floats(y, (const float[]){3.5f, 5.0f, 9.5f, 11.0f}, 4, "avg");
    g.count_include_pad = 1;
    ebmk_avgpool(&g, 1, x, y);
    assert_floats(y, (const float[]){(float)(14.0 / 9), (float)(30.0 / 9), (float)(57.0 / 9), 11.0f}, 4,
                  "avg incl. pad");
    const float dy[4] = {9, 18, 27, 36};
    ebmk_avgpool_bwd(&g, 1, dy, dx);   /* shares 1, 2, 3, 4; cells of two or four windows add up */
    assert_floats(dx, (const float[]){1, 3, 2, 2, 4, 10, 6, 6, 3, 7, 4, 4, 3, 7, 4, 4}, 16, "avg incl. pad dx");
}
END_TEST

/* ceil_mode: a 5x5 plane, 2x2 windows, stride 2, 3x3 outputs; the last row
 * and column of windows hang past the input (and its zero padding): their
 * cells there count for nothing, even with count_include_pad. */
START_TEST(pool_ceil_mode)
{
    const ebmk_pool g = {.h = 5, .w = 5, .ho = 3, .wo = 3, .kh = 2, .kw = 2, .sh = 2, .sw = 2, .dh = 1, .dw = 1,
                         .count_include_pad = 1};
    float x[25], y[9];
    for (int i = 0; i < 25; i++)
        x[i] = (float)(i + 1);
    ebmk_avgpool(&g, 1, x, y);
    assert_floats(y, (const float[]){4, 6, 7.5f, 14, 16, 17.5f, 21.5f, 23.5f, 25}, 9, "avg");
    ebmk_maxpool(&g, 1, x, NULL, y);
    assert_floats(y, (const float[]){7, 9, 10, 17, 19, 20, 22, 24, 25}, 9, "max");
}
END_TEST

/* The arg-max: the first largest cell in scan order takes the gradient; a
 * NaN beats any number (and the first NaN any later one). */
START_TEST(pool_argmax_rule)
{
    const ebmk_pool g = {.h = 3, .w = 3, .ho = 2, .wo = 2, .kh = 2, .kw = 2, .sh = 1, .sw = 1, .dh = 1, .dw = 1};
    const float ones[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1}, dy[4] = {1, 2, 4, 8};
    float y[4], dx[9];
    ebmk_maxpool_bwd(&g, 1, ones, dy, dx);   /* each window's top-left cell */
    assert_floats(dx, (const float[]){1, 2, 0, 4, 8, 0, 0, 0, 0}, 9, "ties dx");
    const float x[9] = {5, 1, 2, 3, NAN, 9, 1, 1, 1};
    ebmk_maxpool(&g, 1, x, NULL, y);
    for (int i = 0; i < 4; i++)   /* every window holds the NaN */
        ck_assert_msg(isnan(y[i]), "max[%d] = %g, want NaN", i, (double)y[i]);
    ebmk_maxpool_bwd(&g, 1, x, dy, dx);
    assert_floats(dx, (const float[]){0, 0, 0, 0, 15, 0, 0, 0, 0}, 9, "NaN dx");
}
END_TEST

/* ---- float math --------------------------------------------------------------------------- */

typedef struct math_fn {
    const char *name;
    float (*kernel)(float);
    double (*libm)(double);
    double lo, hi;   /* the range swept */
} math_fn;

static float k_exp(float x) { return ebmk_expf(x); }
static float k_log(float x) { return ebmk_logf(x); }
static float k_log1p(float x) { return ebmk_log1pf(x); }
static float k_tanh(float x) { return ebmk_tanhf(x); }
static float k_erf(float x) { return ebmk_erff(x); }

static const math_fn math_fns[] = {
    {"exp", k_exp, exp, -103, 88.7},  {"log", k_log, log, 1e-6, 1e6},   {"log1p", k_log1p, log1p, -0.999, 1e4},
    {"tanh", k_tanh, tanh, -12, 12}, {"erf", k_erf, erf, -5, 5},
};
#define N_MATH ((int)(sizeof math_fns / sizeof math_fns[0]))

/* |got - want| in units of the last place of want (rounded to float). */
static double ulps(float got, double want)
{
    const float w = (float)want;
    if (isnan(w) || isinf(w))
        return got == w || (isnan(got) && isnan(w)) ? 0 : INFINITY;
    const double ulp = (double)nextafterf(fabsf(w), INFINITY) - fabsf(w);
    return fabs((double)got - want) / ulp;
}

START_TEST(math_within_4_ulp)
{
    const math_fn *f = &math_fns[_i];
    for (int k = 0; k <= 200000; k++) {
        const float x = (float)(f->lo + (f->hi - f->lo) * k / 200000.0);
        const float got = f->kernel(x);
        const double u = ulps(got, f->libm(x));
        ck_assert_msg(u <= 4, "ebmk_%sf(%.9g) = %.9g, libm %.9g (%.1f ulp)", f->name, (double)x, (double)got,
                      f->libm(x), u);
    }
    /* near the points where the kernels switch formulas, one ulp apart */
    static const float edges[] = {0, 0.55f, -0.55f, 0.875f, -0.875f, 1, 4, -4, 1.41421356f, 1.17549435e-38f};
    for (size_t e = 0; e < sizeof edges / sizeof edges[0]; e++)
        for (int d = -8; d <= 8; d++) {
            float x = edges[e];
            for (int s = 0; s < abs(d); s++)
                x = nextafterf(x, d < 0 ? -INFINITY : INFINITY);
            if (x < f->lo || x > f->hi)
                continue;
            const double u = ulps(f->kernel(x), f->libm(x));
            ck_assert_msg(u <= 4, "ebmk_%sf(%a): %.1f ulp", f->name, (double)x, u);
        }
}
END_TEST

START_TEST(math_special_values)
{
    ck_assert(ebmk_expf(-INFINITY) == 0.0f && ebmk_expf(INFINITY) == INFINITY && isnan(ebmk_expf(NAN)));
    ck_assert(ebmk_expf(0.0f) == 1.0f && ebmk_expf(89.0f) == INFINITY && ebmk_expf(-200.0f) == 0.0f);
    ck_assert(ebmk_expf_nonpos(0.0f) == 1.0f && ebmk_expf_nonpos(-1.0f) == ebmk_expf(-1.0f));
    ck_assert(ebmk_logf(0.0f) == -INFINITY && ebmk_logf(INFINITY) == INFINITY && isnan(ebmk_logf(-1.0f)));
    ck_assert(ebmk_logf(1.0f) == 0.0f && isnan(ebmk_logf(NAN)));
    ck_assert(ulps(ebmk_logf(0x1p-149f), log(0x1p-149)) <= 4);   /* the smallest subnormal */
    ck_assert(ebmk_log1pf(0.0f) == 0.0f && ebmk_log1pf(-1.0f) == -INFINITY && ebmk_log1pf(INFINITY) == INFINITY);
    ck_assert(ebmk_log1pf(1e-10f) == 1e-10f && isnan(ebmk_log1pf(-2.0f)));
    ck_assert(ebmk_tanhf(INFINITY) == 1.0f && ebmk_tanhf(-INFINITY) == -1.0f && ebmk_tanhf(0.0f) == 0.0f);
    ck_assert(isnan(ebmk_tanhf(NAN)));
    ck_assert(ebmk_erff(INFINITY) == 1.0f && ebmk_erff(-INFINITY) == -1.0f && ebmk_erff(0.0f) == 0.0f);
    ck_assert(isnan(ebmk_erff(NAN)));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("kernels");
    TCase *tc = tcase_create("kernels");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, im2col_col2im_direct, 0, N_CONV_CASES);
    tcase_add_test(tc, transposes);
    tcase_add_loop_test(tc, winograd_direct, 0, N_WINO_CASES);
    tcase_add_test(tc, pool_2x2_stride_2);
    tcase_add_test(tc, pool_padding);
    tcase_add_test(tc, pool_ceil_mode);
    tcase_add_test(tc, pool_argmax_rule);
    tcase_add_loop_test(tc, math_within_4_ulp, 0, N_MATH);
    tcase_add_test(tc, math_special_values);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
