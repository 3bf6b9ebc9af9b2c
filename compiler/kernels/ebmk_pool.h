/* ebmk_pool.h — the pooling window walks of generated models: max and
 * average pooling and their input gradients, with the reference executor's
 * semantics (compiler/exec.c): the same windows, the same arg-max rule
 * (first in scan order, a NaN wins), averages summed in double.
 *
 * A generated model.c carries this file's text (compiler/codegen_c_helpers.c
 * embeds it at build time, cmake/embed_text.cmake) when its kernels need it;
 * the build compiles it as ordinary C with the models' flags
 * (compiler/kernels/ebmk_check.c) and tests/unit/test_kernels.c tests it directly.
 * It must stay self-contained: no includes but the C library's and the
 * compiler's, as it lands in model.c after the prelude (math.h, stdint.h,
 * string.h are already there).
 */
#ifndef EBMK_POOL_H
#define EBMK_POOL_H

#include <math.h>
#include <stdint.h>

/* Pooling geometry: planes of h x w pooled to ho x wo. */
typedef struct ebmk_pool {
    int64_t h, w, ho, wo, kh, kw, sh, sw, dh, dw;
    int64_t pt, pl, pb, pr;   /* padding: top, left, bottom, right */
    int count_include_pad;
} ebmk_pool;

/* Cells k in [0, kernel) with start + k*dil < limit. */
static int64_t ebmk_cells_below(int64_t start, int64_t limit, int64_t kernel, int64_t dil)
{
    if (limit <= start)
        return 0;
    const int64_t c = (limit - start - 1) / dil + 1;
    return c < kernel ? c : kernel;
}

/* One axis of a window: cell k sits at start + k*dil; cells [lo, hi) lie in
 * the input, *padded of them in the input plus its padding (a ceil_mode
 * window may run past the padding: those cells count for nothing). */
typedef struct ebmk_axis {
    int64_t start, lo, hi, padded;
} ebmk_axis;

static ebmk_axis ebmk_window(int64_t o, int64_t size, int64_t stride, int64_t pad_lo, int64_t pad_hi,
                             int64_t kernel, int64_t dil)
{
    ebmk_axis r;
    r.start = o * stride - pad_lo;
    r.lo = r.start >= 0 ? 0 : (-r.start + dil - 1) / dil;
    r.hi = ebmk_cells_below(r.start, size, kernel, dil);
    if (r.lo > r.hi)
        r.lo = r.hi;
    r.padded = ebmk_cells_below(r.start, size + pad_hi, kernel, dil);
    return r;
}

/* Offset in the plane of the window's largest cell (the first in scan order;
 * a NaN beats any number), or -1 when the window covers no input cell. */
static int64_t ebmk_argmax(const ebmk_pool *g, const float *plane, ebmk_axis y, ebmk_axis x)
{
    int64_t best = -1;
    for (int64_t ki = y.lo; ki < y.hi; ki++)
        for (int64_t kj = x.lo; kj < x.hi; kj++) {
            const int64_t at = (y.start + ki * g->dh) * g->w + x.start + kj * g->dw;
            if (best < 0 || plane[at] > plane[best] || (isnan(plane[at]) && !isnan(plane[best])))
                best = at;
        }
    return best;
}

#define EBMK_WINDOWS(g, p)                                                              \
    for (int64_t p = 0; p < planes; p++)                                                 \
        for (int64_t oh = 0; oh < (g)->ho; oh++)                                         \
            for (int64_t ow = 0; ow < (g)->wo; ow++)
#define EBMK_WY(g) ebmk_window(oh, (g)->h, (g)->sh, (g)->pt, (g)->pb, (g)->kh, (g)->dh)
#define EBMK_WX(g) ebmk_window(ow, (g)->w, (g)->sw, (g)->pl, (g)->pr, (g)->kw, (g)->dw)

/* Max pooling of x; with t, the value of t at each window's arg-max of x
 * (the adjoint of ebmk_maxpool_bwd).  An empty window gives -inf (or 0). */
static void ebmk_maxpool(const ebmk_pool *g, int64_t planes, const float *restrict x,
                         const float *restrict t, float *restrict y)
{
    EBMK_WINDOWS(g, p) {
        const float *xp = x + p * g->h * g->w;
        const int64_t best = ebmk_argmax(g, xp, EBMK_WY(g), EBMK_WX(g));
        const int64_t yi = (p * g->ho + oh) * g->wo + ow;
        if (t)
            y[yi] = best < 0 ? 0.0f : t[p * g->h * g->w + best];
        else
            y[yi] = best < 0 ? -INFINITY : xp[best];
    }
}

/* dx: each dy goes to its window's arg-max cell of x. */
static void ebmk_maxpool_bwd(const ebmk_pool *g, int64_t planes, const float *restrict x,
                             const float *restrict dy, float *restrict dx)
{
    for (int64_t i = 0; i < planes * g->h * g->w; i++)
        dx[i] = 0.0f;
    EBMK_WINDOWS(g, p) {
        const int64_t best = ebmk_argmax(g, x + p * g->h * g->w, EBMK_WY(g), EBMK_WX(g));
        if (best >= 0)
            dx[p * g->h * g->w + best] += dy[(p * g->ho + oh) * g->wo + ow];
    }
}

static int64_t ebmk_divisor(const ebmk_pool *g, ebmk_axis y, ebmk_axis x)
{
    return g->count_include_pad ? y.padded * x.padded : (y.hi - y.lo) * (x.hi - x.lo);
}

/* Average pooling; the sum is taken in double, an empty window gives 0. */
static void ebmk_avgpool(const ebmk_pool *g, int64_t planes, const float *restrict x, float *restrict y)
{
    EBMK_WINDOWS(g, p) {
        const ebmk_axis wy = EBMK_WY(g), wx = EBMK_WX(g);
        const int64_t div = ebmk_divisor(g, wy, wx);
        const float *xp = x + p * g->h * g->w;
        double s = 0;
        for (int64_t ki = wy.lo; ki < wy.hi; ki++)
            for (int64_t kj = wx.lo; kj < wx.hi; kj++)
                s += xp[(wy.start + ki * g->dh) * g->w + wx.start + kj * g->dw];
        y[(p * g->ho + oh) * g->wo + ow] = div ? (float)(s / (double)div) : 0.0f;
    }
}

/* dx: each dy spread evenly over the cells its window averaged. */
static void ebmk_avgpool_bwd(const ebmk_pool *g, int64_t planes, const float *restrict dy, float *restrict dx)
{
    for (int64_t i = 0; i < planes * g->h * g->w; i++)
        dx[i] = 0.0f;
    EBMK_WINDOWS(g, p) {
        const ebmk_axis wy = EBMK_WY(g), wx = EBMK_WX(g);
        const int64_t div = ebmk_divisor(g, wy, wx);
        const float share = div ? (float)(dy[(p * g->ho + oh) * g->wo + ow] / (double)div) : 0.0f;
        float *dxp = dx + p * g->h * g->w;
        for (int64_t ki = wy.lo; ki < wy.hi; ki++)
            for (int64_t kj = wx.lo; kj < wx.hi; kj++)
                dxp[(wy.start + ki * g->dh) * g->w + wx.start + kj * g->dw] += share;
    }
}

#endif /* EBMK_POOL_H */
