/* ebm_png.h — PNG pictures of samples and 2-D energies (libpng), for
 * `ebm sample --png` and the progress pictures of `ebm train`.
 *
 * Every writer is atomic: the picture goes to a temporary file next to the
 * target, then rename(); on any error the temporary file is removed and a
 * previous file at the path is left unchanged.
 *
 * (Named ebm_png.h, not png.h: the installed headers' folder is on the
 * include path of libebm users, where a png.h would hide libpng's.)
 *
 *     // 64 MNIST samples in [-1, 1] -> an 8 x 8 grid of 28 x 28 tiles
 *     ebm_png_write_grid("samples.png", x, 64, 1, 28, 28, -1, 1, &err);
 *
 *     // data scatter | model density, 400 px per panel
 *     ebm_png_panel pan[2] = {
 *         {.lo = -4, .hi = 4, .points = data, .n_points = 1000},
 *         {.lo = -4, .hi = 4, .values = logq, .grid = G, .points = fake, .n_points = 500},
 *     };
 *     ebm_png_write_plot2d("train.png", pan, 2, 0, &err);
 */
#ifndef EBM_PNG_H
#define EBM_PNG_H

#include <stdint.h>

#include "ebm_status.h"

/* rgb8: h rows of w pixels, 3 bytes each (R, G, B), top row first. */
ebm_status ebm_png_write_rgb(const char *path, int w, int h, const uint8_t *rgb8, ebm_error *err);

/* Layout of ebm_png_write_grid: tiles of w x h pixels in `cols` =
 * ceil(sqrt(n)) columns and ceil(n / cols) rows, EBM_PNG_BORDER pixels of
 * border colour EBM_PNG_BORDER_RGB around and between them. */
#define EBM_PNG_BORDER 2
#define EBM_PNG_BORDER_RGB 0x505050
/* Writes samples x [n, c, h, w] (c = 1 grey, c = 3 RGB; C order) as a grid;
 * each value v maps to round(255 (v - lo) / (hi - lo)), clipped to 0..255
 * (NaN -> 0).  Tile k sits at column k % cols, row k / cols. */
ebm_status ebm_png_write_grid(const char *path, const float *x, int64_t n, int c, int h, int w,
                              float lo, float hi, ebm_error *err);
/* The picture's size for n tiles of w x h, as ebm_png_write_grid makes it. */
void ebm_png_grid_size(int64_t n, int h, int w, int *width, int *height);

/* One square panel showing [lo, hi]^2 (x to the right, y up). */
typedef struct ebm_png_panel {
    double lo, hi;
    /* Heat map: values[grid*grid] at the cell centres of a grid over [lo,hi]^2
     * (index iy * grid + ix, iy = 0 the bottom row; see toy.h), shown with a
     * viridis-like colour map from the smallest value (dark purple) to the
     * largest (yellow), bilinearly interpolated.  Higher = brighter: pass a
     * density, a log-density or a negated energy.  Non-finite values are
     * ignored for the range and drawn black.  NULL: a white background. */
    const double *values;
    int grid;
    /* Points (x, y) drawn as dots of radius ~1.5 px: red on a heat map, dark
     * blue on white.  Points outside [lo, hi]^2 are not drawn. */
    const float *points;
    int64_t n_points;
} ebm_png_panel;

#define EBM_PNG_PANEL_PX 400   /* default panel size */
#define EBM_PNG_PANEL_GAP 4    /* white pixels between panels */

/* Writes n_panels panels side by side, each panel_px square (0 = 400),
 * separated by EBM_PNG_PANEL_GAP white columns. */
ebm_status ebm_png_write_plot2d(const char *path, const ebm_png_panel *panels, int n_panels,
                                int panel_px, ebm_error *err);

/* The colour map: t in [0, 1] -> rgb[3] (piecewise linear through five
 * viridis colours: #440154, #3b528b, #21918c, #5ec962, #fde725). */
void ebm_png_colormap(double t, uint8_t rgb[3]);

#endif /* EBM_PNG_H */
