/* fid.c — see fid.h. */
#include "fid.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define JACOBI_SWEEPS 100

void ebm_gauss_free(ebm_gauss *g)
{
    if (!g)
        return;
    free(g->mean);
    free(g->cov);
    memset(g, 0, sizeof *g);
}

ebm_status ebm_gauss_fit(const double *x, int64_t n, int64_t dim, ebm_gauss *out, ebm_error *err)
{
    memset(out, 0, sizeof *out);
    if (n < 2 || dim < 1 || dim > 4096)
        return ebm_fail(err, EBM_ERR_INVALID, "Gaussian fit: %lld rows of %lld features; expected at least 2 rows "
                        "and 1..4096 features", (long long)n, (long long)dim);
    out->mean = calloc((size_t)dim, sizeof *out->mean);
    out->cov = calloc((size_t)(dim * dim), sizeof *out->cov);
    if (!out->mean || !out->cov) {
        ebm_gauss_free(out);
        return ebm_fail(err, EBM_ERR_NOMEM, "Gaussian fit: out of memory for %lld features", (long long)dim);
    }
    out->dim = dim;
    out->n = n;
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < dim; j++)
            out->mean[j] += x[i * dim + j];
    for (int64_t j = 0; j < dim; j++)
        out->mean[j] /= (double)n;
    double *d = malloc((size_t)dim * sizeof *d);
    if (!d) {
        ebm_gauss_free(out);
        return ebm_fail(err, EBM_ERR_NOMEM, "Gaussian fit: out of memory");
    }
    for (int64_t i = 0; i < n; i++) {
        for (int64_t j = 0; j < dim; j++)
            d[j] = x[i * dim + j] - out->mean[j];
        for (int64_t j = 0; j < dim; j++) {
            double *row = out->cov + j * dim;
            for (int64_t k = j; k < dim; k++)
                row[k] += d[j] * d[k];
        }
    }
    free(d);
    for (int64_t j = 0; j < dim; j++)
        for (int64_t k = j; k < dim; k++) {
            double c = out->cov[j * dim + k] / (double)(n - 1);
            out->cov[j * dim + k] = out->cov[k * dim + j] = c;
        }
    return EBM_OK;
}

ebm_status ebm_sym_eigen(double *a, int64_t dim, double *w, double *v, ebm_error *err)
{
    if (v) {
        memset(v, 0, (size_t)(dim * dim) * sizeof *v);
        for (int64_t i = 0; i < dim; i++)
            v[i * dim + i] = 1;
    }
    double scale = 0;
    for (int64_t i = 0; i < dim * dim; i++)
        scale += a[i] * a[i];
    for (int sweep = 0; sweep < JACOBI_SWEEPS; sweep++) {
        double off = 0;
        for (int64_t p = 0; p < dim; p++)
            for (int64_t q = p + 1; q < dim; q++)
                off += a[p * dim + q] * a[p * dim + q];
        if (off <= 1e-30 * scale || off == 0)
            break;
        for (int64_t p = 0; p < dim; p++)
            for (int64_t q = p + 1; q < dim; q++) {
                double apq = a[p * dim + q];
                if (apq == 0)
                    continue;
                /* the rotation that zeroes a[p][q]: tan(2 theta) = 2 apq / (aqq - app) */
                double theta = (a[q * dim + q] - a[p * dim + p]) / (2 * apq);
                double t = (theta >= 0 ? 1 : -1) / (fabs(theta) + sqrt(theta * theta + 1));
                double c = 1 / sqrt(t * t + 1), s = t * c;
                for (int64_t k = 0; k < dim; k++) {   /* columns p, q */
                    double akp = a[k * dim + p], akq = a[k * dim + q];
                    a[k * dim + p] = c * akp - s * akq;
                    a[k * dim + q] = s * akp + c * akq;
                }
                for (int64_t k = 0; k < dim; k++) {   /* rows p, q */
                    double apk = a[p * dim + k], aqk = a[q * dim + k];
                    a[p * dim + k] = c * apk - s * aqk;
                    a[q * dim + k] = s * apk + c * aqk;
                }
                if (v)
                    for (int64_t k = 0; k < dim; k++) {
                        double vkp = v[k * dim + p], vkq = v[k * dim + q];
                        v[k * dim + p] = c * vkp - s * vkq;
                        v[k * dim + q] = s * vkp + c * vkq;
                    }
            }
        if (sweep == JACOBI_SWEEPS - 1)
            return ebm_fail(err, EBM_ERR_NUMERIC, "eigenvalues: Jacobi rotations did not converge in %d sweeps "
                            "(dim %lld)", JACOBI_SWEEPS, (long long)dim);
    }
    for (int64_t i = 0; i < dim; i++)
        w[i] = a[i * dim + i];
    return EBM_OK;
}

/* c = a b for dim x dim matrices. */
static void matmul(const double *a, const double *b, double *c, int64_t dim)
{
    memset(c, 0, (size_t)(dim * dim) * sizeof *c);
    for (int64_t i = 0; i < dim; i++)
        for (int64_t k = 0; k < dim; k++) {
            double aik = a[i * dim + k];
            for (int64_t j = 0; j < dim; j++)
                c[i * dim + j] += aik * b[k * dim + j];
        }
}

ebm_status ebm_frechet_distance(const ebm_gauss *a, const ebm_gauss *b, double *out, ebm_error *err)
{
    *out = NAN;
    if (a->dim != b->dim)
        return ebm_fail(err, EBM_ERR_SHAPE, "Frechet distance: %lld features against %lld", (long long)a->dim,
                        (long long)b->dim);
    const int64_t dim = a->dim;
    const size_t mat = (size_t)(dim * dim);
    double *work = malloc(4 * mat * sizeof *work), *w = malloc((size_t)dim * sizeof *w);
    if (!work || !w) {
        free(work), free(w);
        return ebm_fail(err, EBM_ERR_NOMEM, "Frechet distance: out of memory for %lld features", (long long)dim);
    }
    double *v = work, *r = work + mat, *t = work + 2 * mat, *m = work + 3 * mat;
    /* r = S_a^1/2 = V diag(sqrt(max(w, 0))) V^T */
    memcpy(m, a->cov, mat * sizeof *m);
    ebm_status st = ebm_sym_eigen(m, dim, w, v, err);
    if (!st) {
        for (int64_t i = 0; i < dim; i++)
            for (int64_t j = 0; j < dim; j++)
                t[i * dim + j] = v[i * dim + j] * sqrt(w[j] > 0 ? w[j] : 0);
        for (int64_t i = 0; i < dim; i++)
            for (int64_t j = 0; j < dim; j++) {
                double s = 0;
                for (int64_t k = 0; k < dim; k++)
                    s += t[i * dim + k] * v[j * dim + k];
                r[i * dim + j] = s;
            }
        /* m = r S_b r, symmetrised against rounding */
        matmul(r, b->cov, t, dim);
        matmul(t, r, m, dim);
        for (int64_t i = 0; i < dim; i++)
            for (int64_t j = i + 1; j < dim; j++)
                m[i * dim + j] = m[j * dim + i] = 0.5 * (m[i * dim + j] + m[j * dim + i]);
        st = ebm_sym_eigen(m, dim, w, NULL, err);
    }
    if (!st) {
        double d = 0, tr = 0;
        for (int64_t i = 0; i < dim; i++) {
            double e = a->mean[i] - b->mean[i];
            d += e * e + a->cov[i * dim + i] + b->cov[i * dim + i];
            tr += sqrt(w[i] > 0 ? w[i] : 0);
        }
        *out = d - 2 * tr;
    }
    free(work);
    free(w);
    return st;
}

int ebm_class_coverage(const int *labels, int64_t n, int classes, double min_share, int64_t *counts)
{
    memset(counts, 0, (size_t)classes * sizeof *counts);
    for (int64_t i = 0; i < n; i++)
        if (labels[i] >= 0 && labels[i] < classes)
            counts[labels[i]]++;
    int covered = 0;
    for (int c = 0; c < classes; c++)
        covered += n > 0 && (double)counts[c] >= min_share * (double)n;
    return covered;
}
