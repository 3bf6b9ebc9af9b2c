/* test_toy.c — 2-D toy sets, grid densities and grid KL (runtime/toy.c).
 *
 * Statistical checks use the analytic moments of each definition (toy.c) and
 * allow 4 standard errors, so a correct sampler fails about once in 16000
 * runs per check; the seeds are fixed, so in practice the outcome is fixed. */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "toy.h"

#define PI 3.14159265358979323846
static const char *const names[] = {"8gaussians", "rings", "moons", "checkerboard", "2spirals",
                                    "pinwheel"};

START_TEST(names_and_unknown)
{
    for (int i = 0; i < 6; i++) {
        ck_assert_int_eq(ebm_toy_find(names[i]), i);
        ck_assert_ptr_nonnull(strstr(ebm_toy_names(), names[i]));
    }
    ck_assert_int_eq(ebm_toy_find("swissroll"), -1);
    float x[2];
    ebm_error err = {0};
    ck_assert_int_eq(ebm_toy_sample("swissroll", 1, 0, x, &err), EBM_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.msg, "'swissroll'"));
    ck_assert_ptr_nonnull(strstr(err.msg, "8gaussians, rings, moons, checkerboard, 2spirals, "
                                          "pinwheel"));
    double g[4];
    ck_assert_int_eq(ebm_toy_density_grid("nope", -4, 4, 2, g, &err), EBM_ERR_INVALID);
    ck_assert_int_eq(ebm_toy_density_grid("rings", 4, -4, 2, g, &err), EBM_ERR_INVALID);
}
END_TEST

/* Same seed -> same samples; sample i depends only on (seed, i). */
START_TEST(determinism)
{
    for (int t = 0; t < 6; t++) {
        float a[300], b[300], c[300], d[100];
        ck_assert_int_eq(ebm_toy_sample(names[t], 150, 7, a, NULL), EBM_OK);
        ck_assert_int_eq(ebm_toy_sample(names[t], 150, 7, b, NULL), EBM_OK);
        ck_assert_int_eq(ebm_toy_sample(names[t], 150, 8, c, NULL), EBM_OK);
        ck_assert_int_eq(ebm_toy_sample_at(names[t], 100, 50, 7, d, NULL), EBM_OK);
        ck_assert_mem_eq(a, b, sizeof a);
        ck_assert_mem_eq(a + 200, d, sizeof d);
        int differ = 0;
        for (int i = 0; i < 300; i++)
            differ += a[i] != c[i];
        ck_assert_int_gt(differ, 250);
        for (int i = 0; i < 300; i++)
            ck_assert_msg(isfinite(a[i]) && fabsf(a[i]) < 6, "%s: %g", names[t], a[i]);
    }
}
END_TEST

/* 8gaussians: centres R (cos k pi/4, sin k pi/4), R^2 = 8, std s, s^2 = 1/8.
 * Mean 0; Var x = Var y = R^2/2 + s^2 = 4.125; Cov xy = 0.
 * Standard errors from the fourth moments: with a = R cos theta_k,
 * E a^4 = R^4 * 3/8 = 24, so E x^4 = 24 + 6 * 4 * s^2 + 3 s^4 = 27.046875 and
 * Var(x^2) = 27.046875 - 4.125^2 = 10.03125; E x^2 y^2 = R^4/8 + s^2 (8) + s^4
 * = 9.015625. */
START_TEST(gaussians8_moments_and_modes)
{
    const int n = 200000;
    float *x = malloc(sizeof(float) * 2 * n);
    ck_assert_int_eq(ebm_toy_sample("8gaussians", n, 123, x, NULL), EBM_OK);
    double mx = 0, my = 0;
    for (int i = 0; i < n; i++) {
        mx += x[2 * i];
        my += x[2 * i + 1];
    }
    mx /= n;
    my /= n;
    double vx = 0, vy = 0, cxy = 0;
    int count[8] = {0};
    const double R = 4 / sqrt(2.0);
    for (int i = 0; i < n; i++) {
        double a = x[2 * i] - mx, b = x[2 * i + 1] - my;
        vx += a * a;
        vy += b * b;
        cxy += a * b;
        int best = 0;
        double bd = INFINITY;
        for (int k = 0; k < 8; k++) {
            double dx = x[2 * i] - R * cos(k * PI / 4), dy = x[2 * i + 1] - R * sin(k * PI / 4);
            if (dx * dx + dy * dy < bd) {
                bd = dx * dx + dy * dy;
                best = k;
            }
        }
        count[best]++;
    }
    vx /= n - 1;
    vy /= n - 1;
    cxy /= n - 1;
    double se_mean = sqrt(4.125 / n), se_var = sqrt(10.03125 / n), se_cov = sqrt(9.015625 / n);
    ck_assert_msg(fabs(mx) < 4 * se_mean && fabs(my) < 4 * se_mean, "mean (%g, %g)", mx, my);
    ck_assert_msg(fabs(vx - 4.125) < 4 * se_var, "var x %g", vx);
    ck_assert_msg(fabs(vy - 4.125) < 4 * se_var, "var y %g", vy);
    ck_assert_msg(fabs(cxy) < 4 * se_cov, "cov %g", cxy);
    /* each mode 1/8 (nearest-centre assignment mislabels ~0.2% symmetrically) */
    double se_p = sqrt(0.125 * 0.875 / n);
    for (int k = 0; k < 8; k++)
        ck_assert_msg(fabs(count[k] / (double)n - 0.125) < 4 * se_p + 0.001, "mode %d: %d", k,
                      count[k]);
    free(x);
}
END_TEST

/* checkerboard: every sample in an occupied square (i + j even of the 2 x 2
 * squares [2i, 2i+2) x [2j, 2j+2)), each square 1/8 of the mass. */
START_TEST(checkerboard_support)
{
    const int n = 80000;
    float *x = malloc(sizeof(float) * 2 * n);
    ck_assert_int_eq(ebm_toy_sample("checkerboard", n, 5, x, NULL), EBM_OK);
    int count[4][4] = {{0}};
    for (int i = 0; i < n; i++) {
        int a = (int)floor(x[2 * i] / 2), b = (int)floor(x[2 * i + 1] / 2);
        ck_assert(a >= -2 && a <= 1 && b >= -2 && b <= 1);
        ck_assert_msg(((a + b) % 2 + 2) % 2 == 0, "(%g, %g) in an empty square", x[2 * i],
                      x[2 * i + 1]);
        count[a + 2][b + 2]++;
    }
    double se = sqrt(0.125 * 0.875 / n);
    for (int a = 0; a < 4; a++)
        for (int b = (a % 2); b < 4; b += 2)
            ck_assert_msg(fabs(count[a][b] / (double)n - 0.125) < 4 * se, "square %d,%d: %d", a,
                          b, count[a][b]);
    free(x);
}
END_TEST

/* rings: radius 0.75 (k+1) + noise of std 0.08 -> |r - nearest ring| < 0.375
 * except for ~2.7e-6 of samples (4.7 sd); each ring 1/4; mean radius of ring k is its
 * radius to within 0.08^2 / r (the Rician bias) + 4 se. */
START_TEST(rings_radii)
{
    const int n = 80000;
    float *x = malloc(sizeof(float) * 2 * n);
    ck_assert_int_eq(ebm_toy_sample("rings", n, 9, x, NULL), EBM_OK);
    int count[4] = {0}, outside = 0;
    double rsum[4] = {0};
    for (int i = 0; i < n; i++) {
        double r = hypot(x[2 * i], x[2 * i + 1]);
        int k = (int)lround(r / 0.75) - 1;
        if (k < 0 || k > 3 || fabs(r - 0.75 * (k + 1)) > 0.375) {
            outside++;   /* expected 80000 * 2.7e-6 = 0.2 */
            continue;
        }
        count[k]++;
        rsum[k] += r;
    }
    ck_assert_int_le(outside, 3);
    double se = sqrt(0.25 * 0.75 / n);
    for (int k = 0; k < 4; k++) {
        ck_assert_msg(fabs(count[k] / (double)n - 0.25) < 4 * se, "ring %d: %d", k, count[k]);
        double rk = 0.75 * (k + 1), mean = rsum[k] / count[k];
        ck_assert_msg(fabs(mean - rk) < 0.0064 / rk + 4 * 0.08 / sqrt(count[k]),
                      "ring %d mean radius %g", k, mean);
    }
    free(x);
}
END_TEST

/* ---- grids ---------------------------------------------------------------------- */

START_TEST(grid_layout)
{
    float xy[2 * 16];
    ck_assert_int_eq(ebm_grid_points(0, 4, 4, xy, NULL), EBM_OK);
    /* index iy * G + ix holds (ix + 0.5, iy + 0.5) */
    ck_assert_float_eq(xy[2 * (1 * 4 + 2)], 2.5f);
    ck_assert_float_eq(xy[2 * (1 * 4 + 2) + 1], 1.5f);
    ck_assert_float_eq(xy[2 * 15], 3.5f);
    ck_assert_float_eq(xy[2 * 15 + 1], 3.5f);
    ck_assert_int_eq(ebm_grid_points(0, 4, 0, xy, NULL), EBM_ERR_INVALID);
}
END_TEST

/* Every grid density integrates to 1 on the grid; the analytic ones have the
 * known cell values. */
START_TEST(density_normalised)
{
    enum { G = 64 };
    static double p[G * G];
    double h = 8.0 / G;
    for (int t = 0; t < 6; t++) {
        ck_assert_int_eq(ebm_toy_density_grid(names[t], -4, 4, G, p, NULL), EBM_OK);
        double s = 0;
        for (int k = 0; k < G * G; k++) {
            ck_assert(p[k] >= 0);
            s += p[k] * h * h;
        }
        ck_assert_msg(fabs(s - 1) < 1e-12, "%s: mass %.15g", names[t], s);
    }
    /* checkerboard: 1/32 inside occupied squares (G = 64: cells never straddle) */
    ck_assert_int_eq(ebm_toy_density_grid("checkerboard", -4, 4, G, p, NULL), EBM_OK);
    ck_assert_double_eq_tol(p[0], 1.0 / 32, 1e-15);             /* (-4,-4): square (-2,-2) */
    ck_assert_double_eq(p[G / 4], 0);                              /* (-2,-4): square (-1,-2) */
    ck_assert_double_eq_tol(p[(G - 1) * G + G - 1], 1.0 / 32, 1e-15);
    /* 8gaussians: the cell holding the centre (R, 0) has mass
     * (1/8) P(cell) of N((R, 0), s^2 I) (+ < 1e-9 from the other modes), and the
     * grid holds all but < 1e-3 of the mixture's mass. */
    ck_assert_int_eq(ebm_toy_density_grid("8gaussians", -4, 4, G, p, NULL), EBM_OK);
    const double R = 4 / sqrt(2.0), s = 0.5 / sqrt(2.0);
    int ix = (int)((R + 4) / h), iy = G / 2;
    double x0 = -4 + ix * h, y0 = -4 + iy * h;
    double px = 0.5 * (erf((x0 + h - R) / (s * sqrt(2.0))) - erf((x0 - R) / (s * sqrt(2.0))));
    double py = 0.5 * (erf((y0 + h) / (s * sqrt(2.0))) - erf(y0 / (s * sqrt(2.0))));
    double cell = px * py / 8 / (h * h);
    ck_assert_msg(fabs(p[iy * G + ix] - cell) < 1e-3 * cell, "%g vs %g", p[iy * G + ix], cell);
}
END_TEST

/* e^-z I0(z): the power series below 30, else the asymptotic series
 * (1/sqrt(2 pi z)) sum_k ((2k-1)!!)^2 / (k! (8z)^k), 6 terms (error < 1e-9). */
static double bessel_i0e(double z)
{
    double s = 1, t = 1;
    if (z < 30) {
        for (int k = 1; k < 300 && t > 1e-17 * s; k++) {
            t *= (z / 2) * (z / 2) / ((double)k * k);
            s += t;
        }
        return exp(-z) * s;
    }
    for (int k = 1; k < 6; k++) {
        t *= (2.0 * k - 1) * (2.0 * k - 1) / (8.0 * k * z);
        s += t;
    }
    return s / sqrt(2 * PI * z);
}

/* The exact rings density: a circle of radius r (uniform angle) convolved with
 * N(0, s^2 I) is exp(-(rho^2 + r^2) / 2s^2) I0(rho r / s^2) / (2 pi s^2). */
static double rings_pdf(double x, double y)
{
    const double s2 = 0.08 * 0.08;
    double rho = hypot(x, y), p = 0;
    for (int k = 1; k <= 4; k++) {
        double r = 0.75 * k;
        p += exp(-(rho - r) * (rho - r) / (2 * s2)) * bessel_i0e(rho * r / s2) /
             (2 * PI * s2) / 4;
    }
    return p;
}

/* The histogram density of rings against the exact density, cell-averaged on
 * an 8 x 8 sub-grid: KL(histogram || exact) measured 0.0024 at G = 100
 * (the sampling noise of 2^20 samples); we allow 0.01.  The exact density's
 * cell masses sum to 1 within 1e-6 on [-4, 4]^2 (a check of the formula). */
START_TEST(density_histogram_rings)
{
    enum { G = 100 };
    static double p[G * G], lq[G * G];
    const double h = 8.0 / G;
    double mass = 0;
    for (int iy = 0; iy < G; iy++)
        for (int ix = 0; ix < G; ix++) {
            double a = 0;
            for (int u = 0; u < 8; u++)
                for (int v = 0; v < 8; v++)
                    a += rings_pdf(-4 + (ix + (u + 0.5) / 8) * h, -4 + (iy + (v + 0.5) / 8) * h);
            lq[iy * G + ix] = log(a / 64);
            mass += a / 64 * h * h;
        }
    ck_assert_msg(fabs(mass - 1) < 1e-6, "exact rings mass on the grid %.9f", mass);
    ck_assert_int_eq(ebm_toy_density_grid("rings", -4, 4, G, p, NULL), EBM_OK);
    double kl = -1;
    ck_assert_int_eq(ebm_kl_grid(p, lq, G, h * h, &kl, NULL), EBM_OK);
    ck_assert_msg(kl >= 0 && kl < 0.01, "KL(histogram || exact rings) = %g", kl);
}
END_TEST

/* ---- KL on a grid ------------------------------------------------------------------- */

START_TEST(kl_self_is_zero)
{
    enum { G = 100 };
    static double p[G * G], lq[G * G];
    double h = 8.0 / G;
    for (int t = 0; t < 6; t++) {
        ck_assert_int_eq(ebm_toy_density_grid(names[t], -4, 4, G, p, NULL), EBM_OK);
        for (int k = 0; k < G * G; k++)
            lq[k] = log(p[k]) + 3.5;   /* unnormalised; -inf where p = 0 */
        double kl = -1;
        ck_assert_int_eq(ebm_kl_grid(p, lq, G, h * h, &kl, NULL), EBM_OK);
        ck_assert_msg(fabs(kl) < 1e-12, "%s: KL(p||p) = %g", names[t], kl);
    }
}
END_TEST

/* Two isotropic Gaussians in 2-D: KL(N(m1, s1^2 I) || N(m2, s2^2 I)) =
 * (s1^2/s2^2 - 1 - ln(s1^2/s2^2)) + |m1 - m2|^2 / (2 s2^2).  On [-8, 8]^2 with
 * G = 200 (h = 0.08) the midpoint rule for Gaussians is accurate far below
 * 1e-6 and the mass outside the grid is < 1e-7; we allow 1e-5. */
START_TEST(kl_two_gaussians)
{
    enum { G = 200 };
    static double p[G * G], lq[G * G];
    const double lo = -8, hi = 8, h = (hi - lo) / G;
    const double m1[2] = {0.5, -0.3}, m2[2] = {-0.2, 0.4}, s1 = 1.0, s2 = 1.5;
    for (int iy = 0; iy < G; iy++)
        for (int ix = 0; ix < G; ix++) {
            double x = lo + (ix + 0.5) * h, y = lo + (iy + 0.5) * h;
            double d1 = (x - m1[0]) * (x - m1[0]) + (y - m1[1]) * (y - m1[1]);
            double d2 = (x - m2[0]) * (x - m2[0]) + (y - m2[1]) * (y - m2[1]);
            p[iy * G + ix] = 5 * exp(-d1 / (2 * s1 * s1));   /* unnormalised on purpose */
            lq[iy * G + ix] = -d2 / (2 * s2 * s2) - 40;        /* any constant */
        }
    double r = s1 * s1 / (s2 * s2), dm2 = 0.49 + 0.49;
    double expect = (r - 1 - log(r)) + dm2 / (2 * s2 * s2);
    double kl = 0;
    ck_assert_int_eq(ebm_kl_grid(p, lq, G, h * h, &kl, NULL), EBM_OK);
    ck_assert_msg(fabs(kl - expect) < 1e-5, "KL %.10f, closed form %.10f", kl, expect);
    /* a model that is zero where the data is not: +inf; NaN: an error */
    lq[(G / 2) * G + G / 2] = -INFINITY;
    ck_assert_int_eq(ebm_kl_grid(p, lq, G, h * h, &kl, NULL), EBM_OK);
    ck_assert(isinf(kl) && kl > 0);
    lq[7] = NAN;
    ebm_error err = {0};
    ck_assert_int_eq(ebm_kl_grid(p, lq, G, h * h, &kl, &err), EBM_ERR_NUMERIC);
    ck_assert_ptr_nonnull(strstr(err.msg, "cell 7"));
    lq[7] = 0;
    memset(p, 0, sizeof p);
    ck_assert_int_eq(ebm_kl_grid(p, lq, G, h * h, &kl, &err), EBM_ERR_INVALID);
}
END_TEST

static Suite *toy_suite(void)
{
    Suite *s = suite_create("toy");
    TCase *tc = tcase_create("toy");
    tcase_add_test(tc, names_and_unknown);
    tcase_add_test(tc, determinism);
    tcase_add_test(tc, gaussians8_moments_and_modes);
    tcase_add_test(tc, checkerboard_support);
    tcase_add_test(tc, rings_radii);
    tcase_add_test(tc, grid_layout);
    tcase_add_test(tc, density_normalised);
    tcase_add_test(tc, density_histogram_rings);
    tcase_add_test(tc, kl_self_is_zero);
    tcase_add_test(tc, kl_two_gaussians);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(toy_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
