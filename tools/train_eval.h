/* train_eval.h — the sample-quality measure `ebm train` logs while it
 * trains and uses to pick the trained model's sampler settings:
 *   - on a 2-D toy set, KL(data || model) on a 200 x 200 grid over the
 *     sampler's range (no sampling: the grid's energies are normalised);
 *   - on images a feature network fits (tools/feature_net.h: the built-in
 *     Fashion-MNIST classifier for 28x28x1, or --features NET.onnx), the FID
 *     of fresh chains (fixed seeds: the same starting states at every
 *     measurement) against up to 10,000 training images, and their class
 *     coverage.
 * Measurements use the parameters to ship (the EMA when on): they are swapped
 * into the model's weights for the call and swapped back. */
#ifndef EBMC_TRAIN_EVAL_H
#define EBMC_TRAIN_EVAL_H

#include <stdint.h>

#include "data.h"
#include "ebm.h"
#include "feature_net.h"
#include "sampler.h"
#include "sampler_settings.h"

typedef enum { EVAL_NONE, EVAL_TOY_KL, EVAL_FID } train_eval_kind;

typedef struct train_eval {
    train_eval_kind kind;
    ebm_ctx *ctx;
    /* EVAL_TOY_KL */
    double *p, *logq;
    float *xy, *e;
    double lo, hi;
    /* EVAL_FID */
    feature_net net;
    ebm_gauss ref;
    int64_t n, numel;       /* chains per measurement, floats per sample */
    float *x;
    double *feat;           /* rank 0: the chains' features [n, dim] */
    int *labels;            /* rank 0: their classes [n] */
    float init_lo, init_hi; /* the sampler's range (uniform starting states) */
    sample_settings init;   /* how they start: init and init_sd of the trained model's ebm.sampler.init */
} train_eval;

typedef struct train_eval_result {
    double value;           /* KL or FID; NaN when it could not be measured */
    int covered;            /* FID with a classifier: classes with >= 2% of the chains; else -1 */
    int64_t classes;
} train_eval_result;

/* Sets up the measure that fits the data: toy (a toy.h name) or ds.  For
 * images, features_path (NULL: the built-in network, used only when it fits
 * the data) and n chains; without a fitting network the kind is EVAL_NONE
 * and *why says so (or is empty).  lo, hi: the sampler's range; init: how the
 * chains start (uniform in the range or normal, init->init and init_sd; the
 * model's ebm.sampler.init).  Under mpirun
 * every rank opens the image measure (it is a collective: each rank computes
 * its share of the features, rank 0 the statistics, logs and FID values;
 * the others give NaN) and rank 0 alone the toy one. */
ebm_status train_eval_open(train_eval *e, ebm_model *m, const char *toy, const ebm_dataset *ds, const char *label,
                           const char *features_path, int64_t n, double lo, double hi, const sample_settings *init,
                           char *why, size_t why_size, ebm_error *err);
void train_eval_close(train_eval *e);

/* Measures the model with params swapped in; sp: the chains' settings (FID). */
train_eval_result train_eval_measure(train_eval *e, const float *params, const ebm_sampler_params *sp);

/* "KL" or "FID". */
const char *train_eval_name(const train_eval *e);

#endif /* EBMC_TRAIN_EVAL_H */
