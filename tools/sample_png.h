/* sample_png.h — the pictures of `ebm sample --png` and `ebm train`: a grid
 * of samples for image-shaped models (1 or 3 channels, NCHW), or for 2-D
 * models a scatter of the samples over a map of -E (bright = low energy).
 * The drawing itself is libebm's (runtime/ebm_png.h). */
#ifndef EBMC_SAMPLE_PNG_H
#define EBMC_SAMPLE_PNG_H

#include <stdint.h>

#include "ebm.h"

typedef struct sample_png_request {
    const char *path;
    const float *x;       /* [n, ...input dims] */
    int64_t n;
    int clamp;            /* the value range: [lo, hi] when clamped; */
    float lo, hi;         /* else images use [-1, 1] and 2-D plots the samples' extent */
    const float *data;    /* 2-D only, may be NULL: data points drawn in a second panel */
    int64_t n_data;
} sample_png_request;

/* Whether the model's input can be drawn (before any sampling work): a clear
 * error naming the flag, the model's input shape and what is drawable. */
ebm_status sample_png_check(const ebm_model *m, const char *model, const char *path, ebm_error *err);

/* Draws q->x (evaluating the model's energy on a grid for 2-D inputs). */
ebm_status sample_png_write(ebm_model *m, const sample_png_request *q, ebm_error *err);

#endif /* EBMC_SAMPLE_PNG_H */
