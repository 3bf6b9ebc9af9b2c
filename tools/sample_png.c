/* sample_png.c — see sample_png.h. */
#include "sample_png.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "ebm_png.h"
#include "toy.h"

#define MAP_GRID 120    /* energy evaluations per side of a 2-D map */

typedef enum { PNG_NONE, PNG_IMAGE, PNG_PLANE } png_kind;

static png_kind kind_of(const ebm_abi_model *d)
{
    if (d->input_rank == 4 && (d->input_shape[1] == 1 || d->input_shape[1] == 3))
        return PNG_IMAGE;
    if (d->input_rank == 2 && d->input_shape[1] == 2)
        return PNG_PLANE;
    return PNG_NONE;
}

ebm_status sample_png_check(const ebm_model *m, const char *model, const char *path, ebm_error *err)
{
    const ebm_abi_model *d = ebm_model_desc(m);
    if (kind_of(d) != PNG_NONE)
        return EBM_OK;
    char shape[160] = "[N";
    size_t k = 2;
    for (int i = 1; i < d->input_rank && k < sizeof shape - 24; i++)
        k += (size_t)snprintf(shape + k, sizeof shape - k, ",%lld", (long long)d->input_shape[i]);
    snprintf(shape + k, sizeof shape - k, "]");
    return ebm_fail(err, EBM_ERR_INVALID, "--png %s: %s's input %s is neither an image (N,C,H,W with 1 or 3 channels) "
                    "nor 2-D (N,2), so there is no picture to draw", path, model, shape);
}

/* A square [lo, hi]^2 holding every finite point, with a margin. */
static void extent(const float *xy, int64_t n, double *lo, double *hi)
{
    double a = INFINITY, b = -INFINITY;
    for (int64_t i = 0; i < 2 * n; i++)
        if (isfinite(xy[i])) {
            a = fmin(a, xy[i]);
            b = fmax(b, xy[i]);
        }
    if (!(a <= b)) {
        a = -1;
        b = 1;
    }
    double pad = 0.1 * (b - a) + 1e-3;
    *lo = a - pad;
    *hi = b + pad;
}

/* values[G*G] = -E at the cell centres of [lo, hi]^2 (toy.h's grid layout). */
static ebm_status energy_map(ebm_model *m, double lo, double hi, double *values, ebm_error *err)
{
    const int64_t cells = (int64_t)MAP_GRID * MAP_GRID;
    float *xy = malloc((size_t)cells * 2 * sizeof(float)), *e = malloc((size_t)cells * sizeof(float));
    ebm_ctx *ctx = NULL;
    ebm_status st = (!xy || !e) ? ebm_fail(err, EBM_ERR_NOMEM, "--png: out of memory for the energy map") : EBM_OK;
    if (!st)
        st = ebm_grid_points(lo, hi, MAP_GRID, xy, err);
    if (!st)
        st = ebm_ctx_new(m, cells, &ctx, err);
    if (!st)
        st = ebm_energy(ctx, xy, cells, e, err);
    if (st == EBM_ERR_NUMERIC)   /* draw what is finite: non-finite cells come out black */
        st = EBM_OK;
    for (int64_t k = 0; !st && k < cells; k++)
        values[k] = isfinite(e[k]) ? -(double)e[k] : NAN;
    ebm_ctx_free(ctx);
    free(xy);
    free(e);
    return st;
}

ebm_status sample_png_write(ebm_model *m, const sample_png_request *q, ebm_error *err)
{
    const ebm_abi_model *d = ebm_model_desc(m);
    ebm_status st = sample_png_check(m, ebm_model_path(m), q->path, err);
    if (st)
        return st;
    if (kind_of(d) == PNG_IMAGE)
        return ebm_png_write_grid(q->path, q->x, q->n, (int)d->input_shape[1], (int)d->input_shape[2],
                                  (int)d->input_shape[3], q->clamp ? q->lo : -1.0f, q->clamp ? q->hi : 1.0f, err);
    double lo, hi;
    if (q->clamp) {
        lo = q->lo;
        hi = q->hi;
    } else {
        extent(q->x, q->n, &lo, &hi);
    }
    double *values = malloc((size_t)MAP_GRID * MAP_GRID * sizeof *values);
    if (!values)
        return ebm_fail(err, EBM_ERR_NOMEM, "--png: out of memory for the energy map");
    st = energy_map(m, lo, hi, values, err);
    ebm_png_panel pan[2] = {
        {.lo = lo, .hi = hi, .points = q->data, .n_points = q->n_data},
        {.lo = lo, .hi = hi, .values = values, .grid = MAP_GRID, .points = q->x, .n_points = q->n},
    };
    if (!st)
        st = q->data ? ebm_png_write_plot2d(q->path, pan, 2, 0, err)
                     : ebm_png_write_plot2d(q->path, pan + 1, 1, 0, err);
    free(values);
    return st;
}
