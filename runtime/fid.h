/* fid.h — sample-quality numbers on feature vectors: the Frechet distance
 * between Gaussians fitted to two sets of features (FID, when the features are
 * a classifier's penultimate layer) and class coverage.
 *
 *   ebm_gauss stats of rows x [n, dim]:   mean and covariance (n - 1 divisor)
 *   FID(a, b) = |mu_a - mu_b|^2 + tr(S_a) + tr(S_b) - 2 tr((S_a^1/2 S_b S_a^1/2)^1/2)
 *
 * The trace of the matrix square root is the sum of the square roots of the
 * eigenvalues of the symmetric S_a^1/2 S_b S_a^1/2 (equal to those of S_a S_b),
 * both found with cyclic Jacobi rotations in double: no LAPACK, exact to
 * ~1e-10 relative for the dims of interest (<= a few hundred).
 * Caller-owned memory throughout; no global state.
 */
#ifndef EBM_FID_H
#define EBM_FID_H

#include <stdint.h>

#include "ebm_status.h"

typedef struct ebm_gauss {
    int64_t dim, n;   /* feature dimension; rows the stats were fitted to */
    double *mean;     /* [dim] */
    double *cov;      /* [dim, dim], symmetric */
} ebm_gauss;

/* Fits mean and covariance to the rows of x [n, dim] (n >= 2). */
ebm_status ebm_gauss_fit(const double *x, int64_t n, int64_t dim, ebm_gauss *out, ebm_error *err);
void ebm_gauss_free(ebm_gauss *g);

/* Frechet distance between the two Gaussians (same dim). */
ebm_status ebm_frechet_distance(const ebm_gauss *a, const ebm_gauss *b, double *out, ebm_error *err);

/* Eigenvalues of the symmetric a [dim, dim] (a is overwritten; with v != NULL
 * the eigenvectors, as columns of v [dim, dim]).  Cyclic Jacobi. */
ebm_status ebm_sym_eigen(double *a, int64_t dim, double *w, double *v, ebm_error *err);

/* Class coverage of n predictions (labels in [0, classes)): counts[c] is how
 * many were predicted as c; returns the classes with at least min_share * n. */
int ebm_class_coverage(const int *labels, int64_t n, int classes, double min_share, int64_t *counts);

#endif /* EBM_FID_H */
