/* test_fid.c — Gaussian fits, symmetric eigenvalues, the Frechet distance and
 * class coverage (runtime/fid.c), against analytic values. */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fid.h"

/* A deterministic pseudo-random double in [-1, 1). */
static double rnd(uint64_t *s)
{
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return (double)(*s >> 11) / (double)(1ULL << 52) - 1.0;
}

/* q [d, d]: an orthogonal matrix, Gram-Schmidt on random columns. */
static void random_orthogonal(double *q, int d, uint64_t seed)
{
    for (int i = 0; i < d * d; i++)
        q[i] = rnd(&seed);
    for (int j = 0; j < d; j++) {
        for (int k = 0; k < j; k++) {
            double dot = 0;
            for (int i = 0; i < d; i++)
                dot += q[i * d + j] * q[i * d + k];
            for (int i = 0; i < d; i++)
                q[i * d + j] -= dot * q[i * d + k];
        }
        double nrm = 0;
        for (int i = 0; i < d; i++)
            nrm += q[i * d + j] * q[i * d + j];
        for (int i = 0; i < d; i++)
            q[i * d + j] /= sqrt(nrm);
    }
}

/* s = q diag(e) q^T */
static void compose(const double *q, const double *e, int d, double *s)
{
    for (int i = 0; i < d; i++)
        for (int j = 0; j < d; j++) {
            double v = 0;
            for (int k = 0; k < d; k++)
                v += q[i * d + k] * e[k] * q[j * d + k];
            s[i * d + j] = v;
        }
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

START_TEST(eigen_2x2_and_random)
{
    double a[4] = {2, 1, 1, 2}, w[2], v[4];
    ck_assert_int_eq(ebm_sym_eigen(a, 2, w, v, NULL), EBM_OK);
    qsort(w, 2, sizeof *w, cmp_double);
    ck_assert_double_eq_tol(w[0], 1, 1e-12);
    ck_assert_double_eq_tol(w[1], 3, 1e-12);
    /* 40 x 40 with known eigenvalues 1..40: recovered, and A v = w v */
    enum { D = 40 };
    static double q[D * D], s[D * D], s2[D * D], vv[D * D], e[D], ww[D];
    random_orthogonal(q, D, 7);
    for (int i = 0; i < D; i++)
        e[i] = i + 1;
    compose(q, e, D, s);
    memcpy(s2, s, sizeof s);
    ck_assert_int_eq(ebm_sym_eigen(s2, D, ww, vv, NULL), EBM_OK);
    for (int k = 0; k < D; k++)
        for (int i = 0; i < D; i++) {
            double av = 0;
            for (int j = 0; j < D; j++)
                av += s[i * D + j] * vv[j * D + k];
            ck_assert_double_eq_tol(av, ww[k] * vv[i * D + k], 1e-9);
        }
    qsort(ww, D, sizeof *ww, cmp_double);
    for (int i = 0; i < D; i++)
        ck_assert_double_eq_tol(ww[i], i + 1, 1e-9);
}
END_TEST

START_TEST(gauss_fit_small)
{
    /* rows (1, 2), (3, 6), (5, 4): mean (3, 4); cov [[4, 2], [2, 4]] (divisor n - 1) */
    const double x[] = {1, 2, 3, 6, 5, 4};
    ebm_gauss g;
    ck_assert_int_eq(ebm_gauss_fit(x, 3, 2, &g, NULL), EBM_OK);
    ck_assert_double_eq_tol(g.mean[0], 3, 1e-12);
    ck_assert_double_eq_tol(g.mean[1], 4, 1e-12);
    ck_assert_double_eq_tol(g.cov[0], 4, 1e-12);
    ck_assert_double_eq_tol(g.cov[1], 2, 1e-12);
    ck_assert_double_eq_tol(g.cov[2], 2, 1e-12);
    ck_assert_double_eq_tol(g.cov[3], 4, 1e-12);
    ebm_gauss_free(&g);
    ebm_error err = {0};
    ck_assert_int_eq(ebm_gauss_fit(x, 1, 2, &g, &err), EBM_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.msg, "at least 2 rows"));
}
END_TEST

/* Commuting covariances S_a = Q diag(a) Q^T, S_b = Q diag(b) Q^T:
 * FID = |mu_a - mu_b|^2 + sum_i (sqrt(a_i) - sqrt(b_i))^2. */
START_TEST(frechet_commuting_closed_form)
{
    enum { D = 24 };
    static double q[D * D], sa[D * D], sb[D * D], ea[D], eb[D], ma[D], mb[D];
    random_orthogonal(q, D, 11);
    uint64_t seed = 5;
    double want = 0;
    for (int i = 0; i < D; i++) {
        ea[i] = 0.1 + fabs(rnd(&seed)) * 3;
        eb[i] = i % 5 == 0 ? 0 : 0.2 + fabs(rnd(&seed));   /* singular S_b too */
        ma[i] = rnd(&seed);
        mb[i] = rnd(&seed);
        want += (ma[i] - mb[i]) * (ma[i] - mb[i]) + (sqrt(ea[i]) - sqrt(eb[i])) * (sqrt(ea[i]) - sqrt(eb[i]));
    }
    compose(q, ea, D, sa);
    compose(q, eb, D, sb);
    ebm_gauss a = {.dim = D, .n = 100, .mean = ma, .cov = sa}, b = {.dim = D, .n = 100, .mean = mb, .cov = sb};
    double fid;
    ck_assert_int_eq(ebm_frechet_distance(&a, &b, &fid, NULL), EBM_OK);
    ck_assert_double_eq_tol(fid, want, 1e-8 * (1 + want));
    ck_assert_int_eq(ebm_frechet_distance(&b, &a, &fid, NULL), EBM_OK);
    ck_assert_double_eq_tol(fid, want, 1e-8 * (1 + want));
    ck_assert_int_eq(ebm_frechet_distance(&a, &a, &fid, NULL), EBM_OK);
    ck_assert_double_eq_tol(fid, 0, 1e-9);
}
END_TEST

/* Non-commuting 2-D case computed by hand: S_a = diag(4, 1), S_b = [[2, 1], [1, 2]].
 * S_a^1/2 S_b S_a^1/2 = [[8, 2], [2, 2]]: eigenvalues 5 +- sqrt(13); the trace of
 * its square root is sqrt(5 + sqrt 13) + sqrt(5 - sqrt 13). */
START_TEST(frechet_2d_by_hand)
{
    double ma[2] = {1, 0}, mb[2] = {0, 0}, sa[4] = {4, 0, 0, 1}, sb[4] = {2, 1, 1, 2};
    ebm_gauss a = {.dim = 2, .n = 10, .mean = ma, .cov = sa}, b = {.dim = 2, .n = 10, .mean = mb, .cov = sb};
    double fid, want = 1 + 5 + 4 - 2 * (sqrt(5 + sqrt(13.0)) + sqrt(5 - sqrt(13.0)));
    ck_assert_int_eq(ebm_frechet_distance(&a, &b, &fid, NULL), EBM_OK);
    ck_assert_double_eq_tol(fid, want, 1e-12);
    ebm_gauss c = {.dim = 3, .n = 10, .mean = ma, .cov = sa};
    ebm_error err = {0};
    ck_assert_int_eq(ebm_frechet_distance(&a, &c, &fid, &err), EBM_ERR_SHAPE);
    ck_assert_ptr_nonnull(strstr(err.msg, "2 features against 3"));
}
END_TEST

START_TEST(coverage_counts)
{
    const int labels[] = {0, 1, 1, 2, 2, 2, 9, 9, 9, 9, -1, 12};
    int64_t counts[10];
    /* 12 labels; a share of 0.2 needs 2.4: classes 2 and 9 */
    ck_assert_int_eq(ebm_class_coverage(labels, 12, 10, 0.2, counts), 2);
    ck_assert_int_eq(counts[0], 1);
    ck_assert_int_eq(counts[1], 2);
    ck_assert_int_eq(counts[9], 4);
    ck_assert_int_eq(ebm_class_coverage(labels, 12, 10, 0.01, counts), 4);
}
END_TEST

static Suite *fid_suite(void)
{
    Suite *s = suite_create("fid");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, eigen_2x2_and_random);
    tcase_add_test(tc, gauss_fit_small);
    tcase_add_test(tc, frechet_commuting_closed_form);
    tcase_add_test(tc, frechet_2d_by_hand);
    tcase_add_test(tc, coverage_counts);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(fid_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
