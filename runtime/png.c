/* png.c — atomic PNG writing with libpng, sample grids and 2-D plots (see ebm_png.h).
 *
 * Pictures are built in memory as 8-bit RGB and handed to libpng's simplified
 * write API, which reports errors through png_image.message instead of
 * longjmp into our code.
 */
#include "ebm_png.h"
#include "npy.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PNG_MAX_SIDE 65535   /* far above any grid we make; keeps w * h * 3 small */

/* ---- writing ------------------------------------------------------------------------ */

/* Encodes into memory with libpng's simplified API, then writes the bytes
 * with the one atomic writer of libebm (npy.h: temporary file, fsync,
 * rename), so a failure never leaves a half-written picture. */
ebm_status ebm_png_write_rgb(const char *path, int w, int h, const uint8_t *rgb8, ebm_error *err)
{
    if (!path || !rgb8 || w < 1 || h < 1 || w > PNG_MAX_SIDE || h > PNG_MAX_SIDE)
        return ebm_fail(err, EBM_ERR_INVALID, "%s: invalid PNG picture %d x %d (sides must be "
                        "1..%d, with pixel data)", path ? path : "(null)", w, h, PNG_MAX_SIDE);
    png_image img;
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    img.width = (png_uint_32)w;
    img.height = (png_uint_32)h;
    img.format = PNG_FORMAT_RGB;
    png_alloc_size_t size = 0;
    void *buf = NULL;
    int ok = png_image_write_to_memory(&img, NULL, &size, 0, rgb8, 3 * w, NULL);
    if (ok && size > 0 && (buf = malloc(size)) != NULL)
        ok = png_image_write_to_memory(&img, buf, &size, 0, rgb8, 3 * w, NULL);
    if (!ok || !buf || (img.warning_or_error & PNG_IMAGE_ERROR)) {
        char why[128];
        snprintf(why, sizeof why, "%s", !buf && ok ? "out of memory" : img.message[0] ? img.message : "libpng failed");
        png_image_free(&img);
        free(buf);
        return ebm_fail(err, EBM_ERR_IO, "%s: PNG encoding failed: %s (the previous file, if any, is unchanged)",
                        path, why);
    }
    png_image_free(&img);
    const void *parts[1] = {buf};
    const size_t lens[1] = {(size_t)size};
    ebm_status st = ebm_write_atomic(path, parts, lens, 1, err);
    free(buf);
    return st;
}

/* ---- image grids ------------------------------------------------------------------ */

static int grid_cols(int64_t n)
{
    int64_t c = 1;
    while (c * c < n)
        c++;
    return (int)c;
}

void ebm_png_grid_size(int64_t n, int h, int w, int *width, int *height)
{
    int cols = grid_cols(n);
    int rows = n > 0 ? (int)((n + cols - 1) / cols) : 1;
    *width = cols * w + (cols + 1) * EBM_PNG_BORDER;
    *height = rows * h + (rows + 1) * EBM_PNG_BORDER;
}

static uint8_t to_byte(float v, float lo, float hi)
{
    float t = (v - lo) / (hi - lo) * 255.0f;
    if (!(t > 0))   /* also NaN */
        return 0;
    return t >= 255 ? 255 : (uint8_t)lrintf(t);
}

ebm_status ebm_png_write_grid(const char *path, const float *x, int64_t n, int c, int h, int w,
                              float lo, float hi, ebm_error *err)
{
    if (n < 1 || n > 1000000 || (c != 1 && c != 3) || h < 1 || w < 1 || h > 4096 || w > 4096 ||
        !x || !(hi > lo) || !isfinite(lo) || !isfinite(hi))
        return ebm_fail(err, EBM_ERR_INVALID, "%s: cannot draw samples of shape [%lld,%d,%d,%d] "
                        "in [%g,%g] as a PNG grid: need N >= 1, C = 1 or 3, H, W in 1..4096 and "
                        "finite lo < hi", path ? path : "(null)", (long long)n, c, h, w, lo, hi);
    int W, H, cols = grid_cols(n);
    ebm_png_grid_size(n, h, w, &W, &H);
    if (W > PNG_MAX_SIDE || H > PNG_MAX_SIDE)
        return ebm_fail(err, EBM_ERR_INVALID, "%s: a grid of %lld tiles of %d x %d would be %d x "
                        "%d pixels (max %d)", path, (long long)n, w, h, W, H, PNG_MAX_SIDE);
    uint8_t *rgb = malloc((size_t)W * H * 3);
    if (!rgb)
        return ebm_fail(err, EBM_ERR_NOMEM, "%s: out of memory for a %d x %d picture", path, W, H);
    for (size_t k = 0; k < (size_t)W * H; k++) {
        rgb[3 * k] = (EBM_PNG_BORDER_RGB >> 16) & 0xff;
        rgb[3 * k + 1] = (EBM_PNG_BORDER_RGB >> 8) & 0xff;
        rgb[3 * k + 2] = EBM_PNG_BORDER_RGB & 0xff;
    }
    size_t plane = (size_t)h * w;
    for (int64_t t = 0; t < n; t++) {
        const float *s = x + (size_t)t * c * plane;
        int x0 = EBM_PNG_BORDER + (int)(t % cols) * (w + EBM_PNG_BORDER);
        int y0 = EBM_PNG_BORDER + (int)(t / cols) * (h + EBM_PNG_BORDER);
        for (int i = 0; i < h; i++)
            for (int j = 0; j < w; j++) {
                uint8_t *px = rgb + 3 * ((size_t)(y0 + i) * W + x0 + j);
                for (int ch = 0; ch < 3; ch++)
                    px[ch] = to_byte(s[(size_t)(c == 3 ? ch : 0) * plane + (size_t)i * w + j],
                                     lo, hi);
            }
    }
    ebm_status st = ebm_png_write_rgb(path, W, H, rgb, err);
    free(rgb);
    return st;
}

/* ---- 2-D plots ----------------------------------------------------------------------- */

void ebm_png_colormap(double t, uint8_t rgb[3])
{
    static const uint8_t stops[5][3] = {
        {0x44, 0x01, 0x54}, {0x3b, 0x52, 0x8b}, {0x21, 0x91, 0x8c}, {0x5e, 0xc9, 0x62},
        {0xfd, 0xe7, 0x25}};
    if (!(t > 0))
        t = 0;
    if (t > 1)
        t = 1;
    double f = t * 4;
    int i = f >= 4 ? 3 : (int)f;
    double a = f - i;
    for (int ch = 0; ch < 3; ch++)
        rgb[ch] = (uint8_t)lrint(stops[i][ch] * (1 - a) + stops[i + 1][ch] * a);
}

static ebm_status check_panel(const char *path, int k, const ebm_png_panel *p, ebm_error *err)
{
    if (!(p->hi > p->lo) || !isfinite(p->lo) || !isfinite(p->hi))
        return ebm_fail(err, EBM_ERR_INVALID, "%s: panel %d: need finite lo < hi (got %g, %g)",
                        path, k, p->lo, p->hi);
    if (p->values && (p->grid < 1 || p->grid > 16384))
        return ebm_fail(err, EBM_ERR_INVALID, "%s: panel %d: grid %d out of range 1..16384", path,
                        k, p->grid);
    if (p->n_points < 0 || (p->n_points > 0 && !p->points))
        return ebm_fail(err, EBM_ERR_INVALID, "%s: panel %d: %lld points but no point data",
                        path, k, (long long)p->n_points);
    return EBM_OK;
}

/* Value at grid coordinates (fx, fy) (cell centres at integers), bilinear,
 * falling back to the nearest cell next to non-finite values. */
static double sample_grid(const double *v, int G, double fx, double fy)
{
    fx = fx < 0 ? 0 : fx > G - 1 ? G - 1 : fx;
    fy = fy < 0 ? 0 : fy > G - 1 ? G - 1 : fy;
    int x0 = (int)fx, y0 = (int)fy;
    int x1 = x0 + 1 < G ? x0 + 1 : x0, y1 = y0 + 1 < G ? y0 + 1 : y0;
    double ax = fx - x0, ay = fy - y0;
    double a = v[(size_t)y0 * G + x0], b = v[(size_t)y0 * G + x1];
    double c = v[(size_t)y1 * G + x0], d = v[(size_t)y1 * G + x1];
    if (isfinite(a) && isfinite(b) && isfinite(c) && isfinite(d))
        return (a * (1 - ax) + b * ax) * (1 - ay) + (c * (1 - ax) + d * ax) * ay;
    int nx = ax < 0.5 ? x0 : x1, ny = ay < 0.5 ? y0 : y1;
    return v[(size_t)ny * G + nx];
}

static void draw_heat(const ebm_png_panel *p, int P, uint8_t *rgb, int W, int x0)
{
    size_t m = (size_t)p->grid * p->grid;
    double vmin = INFINITY, vmax = -INFINITY;
    for (size_t k = 0; k < m; k++)
        if (isfinite(p->values[k])) {
            vmin = p->values[k] < vmin ? p->values[k] : vmin;
            vmax = p->values[k] > vmax ? p->values[k] : vmax;
        }
    double span = vmax > vmin ? vmax - vmin : 0;
    for (int py = 0; py < P; py++)
        for (int px = 0; px < P; px++) {
            /* pixel centre -> grid coordinates; py = 0 is the top (y = hi) */
            double fx = (px + 0.5) / P * p->grid - 0.5;
            double fy = (P - py - 0.5) / P * p->grid - 0.5;
            double v = sample_grid(p->values, p->grid, fx, fy);
            uint8_t *o = rgb + 3 * ((size_t)py * W + x0 + px);
            if (!isfinite(v))
                o[0] = o[1] = o[2] = 0;
            else
                ebm_png_colormap(span > 0 ? (v - vmin) / span : 0.5, o);
        }
}

static void draw_points(const ebm_png_panel *p, int P, uint8_t *rgb, int W, int x0)
{
    static const uint8_t red[3] = {0xe6, 0x1e, 0x1e}, blue[3] = {0x1f, 0x3a, 0x93};
    const uint8_t *col = p->values ? red : blue;
    double scale = P / (p->hi - p->lo);
    for (int64_t i = 0; i < p->n_points; i++) {
        double x = p->points[2 * i], y = p->points[2 * i + 1];
        if (!(x >= p->lo && x <= p->hi && y >= p->lo && y <= p->hi))
            continue;
        int cx = (int)floor((x - p->lo) * scale), cy = (int)floor((p->hi - y) * scale);
        for (int dy = -1; dy <= 1; dy++)
            for (int dx = -1; dx <= 1; dx++) {
                int qx = cx + dx, qy = cy + dy;
                if (qx < 0 || qy < 0 || qx >= P || qy >= P)
                    continue;
                memcpy(rgb + 3 * ((size_t)qy * W + x0 + qx), col, 3);
            }
    }
}

ebm_status ebm_png_write_plot2d(const char *path, const ebm_png_panel *panels, int n_panels,
                                int panel_px, ebm_error *err)
{
    int P = panel_px ? panel_px : EBM_PNG_PANEL_PX;
    if (!path || !panels || n_panels < 1 || n_panels > 16 || P < 8 || P > 4096)
        return ebm_fail(err, EBM_ERR_INVALID, "%s: a 2-D plot needs 1..16 panels of 8..4096 "
                        "pixels (got %d panels of %d)", path ? path : "(null)", n_panels, P);
    for (int k = 0; k < n_panels; k++) {
        ebm_status st = check_panel(path, k, &panels[k], err);
        if (st)
            return st;
    }
    int W = n_panels * P + (n_panels - 1) * EBM_PNG_PANEL_GAP;
    uint8_t *rgb = malloc((size_t)W * P * 3);
    if (!rgb)
        return ebm_fail(err, EBM_ERR_NOMEM, "%s: out of memory for a %d x %d picture", path, W, P);
    memset(rgb, 255, (size_t)W * P * 3);
    for (int k = 0; k < n_panels; k++) {
        int x0 = k * (P + EBM_PNG_PANEL_GAP);
        if (panels[k].values)
            draw_heat(&panels[k], P, rgb, W, x0);
        draw_points(&panels[k], P, rgb, W, x0);
    }
    ebm_status st = ebm_png_write_rgb(path, W, P, rgb, err);
    free(rgb);
    return st;
}
