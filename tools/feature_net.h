/* feature_net.h — the feature network of sample-quality scores: an ONNX
 * classifier whose outputs are "features" [N, F] (the penultimate layer) and,
 * optionally, "logits" [N, C].  `ebm score` and `ebm train --eval-every` run it
 * with the reference executor (compiler/exec.h) on batches of samples; the
 * Frechet distance and class coverage come from runtime/fid.h.
 *
 * The built-in network (path NULL) is tools/fid/fmnist_features.onnx, embedded
 * at build time: a small Fashion-MNIST classifier for x [N, 1, 28, 28] in
 * [-1, 1] (trained by tools/fid/fmnist_features.py; calibration in README). */
#ifndef EBMC_FEATURE_NET_H
#define EBMC_FEATURE_NET_H

#include <stdint.h>

#include "fid.h"
#include "ir.h"

typedef struct feature_net {
    ir_graph *g;
    const char *label;      /* the file, or "the built-in Fashion-MNIST classifier" */
    int64_t numel;          /* floats per sample */
    int64_t dim;            /* features per sample */
    int64_t classes;        /* logits per sample; 0 without a logits output */
    int feat_out, logit_out;/* output indices (logit_out -1 without) */
} feature_net;

/* Opens path (NULL: the built-in network). */
ebm_status feature_net_open(const char *path, feature_net *f, ebm_error *err);
void feature_net_close(feature_net *f);

/* Samples per executor call (bounded scratch).  A sample's features depend
 * only on its chunk: runs over rows that start at multiples of this give the
 * same bits as one run over all (how `mpirun ebm train` splits FID). */
#define FEATURE_NET_CHUNK 256

/* Features of n samples x [n, numel] (double [n, dim]) and, when the network
 * has logits and labels != NULL, each sample's arg-max class. */
ebm_status feature_net_run(const feature_net *f, const float *x, int64_t n, double *features, int *labels,
                           ebm_error *err);

/* Scores n samples against reference statistics: FID and (with logits) the
 * classes holding at least 2% of the samples. */
typedef struct feature_score {
    double fid;
    int covered;            /* classes with >= 2% of the samples; -1 without logits */
    int64_t counts[64];     /* per class, for the first 64 classes */
} feature_score;

#define FEATURE_MIN_SHARE 0.02

ebm_status feature_net_stats(const feature_net *f, const float *x, int64_t n, ebm_gauss *stats, int *labels,
                             ebm_error *err);
ebm_status feature_net_score(const feature_net *f, const ebm_gauss *ref, const float *x, int64_t n,
                             feature_score *out, ebm_error *err);

/* FID and class coverage (labels may be NULL) of n samples' features. */
ebm_status feature_net_score_features(const feature_net *f, const ebm_gauss *ref, const double *features,
                                      const int *labels, int64_t n, feature_score *out, ebm_error *err);
/* The reference statistics of up to max_n evenly spaced samples of a data
 * set (label names it in errors); *used gets the count. */
struct ebm_dataset;
ebm_status feature_net_data_stats(const feature_net *f, const struct ebm_dataset *d, const char *label,
                                  int64_t max_n, ebm_gauss *out, int64_t *used, ebm_error *err);
/* The samples feature_net_data_stats uses: *x [*n, numel] (the caller frees). */
ebm_status feature_net_data_pick(const feature_net *f, const struct ebm_dataset *d, const char *label,
                                 int64_t max_n, float **x, int64_t *n, ebm_error *err);

#endif /* EBMC_FEATURE_NET_H */
