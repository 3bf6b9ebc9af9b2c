/* toy.c — 2-D toy distributions and grid densities / KL (see toy.h).
 *
 * The definitions follow FFJORD's toy data (Grathwohl et al. 2019,
 * lib/toy_data.py), rewritten so that each sample is drawn independently
 * from its own random stream (FFJORD's rings uses an evenly spaced angle grid
 * and fixed class counts; here the angle and class are random, which gives
 * the same distribution).  z, z0, z1 are independent N(0,1); u, a, b are
 * independent U[0,1).  All sets lie in about [-4, 4]^2.
 */
#include "toy.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ebm_philox.h"

#define PI 3.14159265358979323846

/* ---- per-sample random stream ------------------------------------------------------ */

/* Block b of sample i has Philox counter {b, i_lo, i_hi, TOY_STREAM} and key seed. */
#define TOY_STREAM 0x746f7900u   /* "toy\0": keeps these streams apart from Langevin noise */

typedef struct toy_rng {
    uint64_t seed, sample;
    uint32_t block, used;
    uint32_t w[4];
    double spare;      /* second Box-Muller normal, if have_spare */
    int have_spare;
} toy_rng;

static void rng_init(toy_rng *r, uint64_t seed, uint64_t sample)
{
    memset(r, 0, sizeof *r);
    r->seed = seed;
    r->sample = sample;
    r->used = 4;
}

static uint32_t rng_word(toy_rng *r)
{
    if (r->used == 4) {
        uint32_t c[4] = {r->block++, (uint32_t)r->sample, (uint32_t)(r->sample >> 32), TOY_STREAM};
        ebm_philox4x32_10(c, (uint32_t)r->seed, (uint32_t)(r->seed >> 32));
        memcpy(r->w, c, sizeof c);
        r->used = 0;
    }
    return r->w[r->used++];
}

/* U[0, 1) with 53 random bits. */
static double rng_uniform(toy_rng *r)
{
    uint64_t hi = rng_word(r) >> 5, lo = rng_word(r) >> 6;   /* 27 + 26 bits */
    return (double)(hi << 26 | lo) * (1.0 / 9007199254740992.0);
}

static int rng_int(toy_rng *r, int k)
{
    int v = (int)(rng_uniform(r) * k);
    return v < k ? v : k - 1;
}

static double rng_normal(toy_rng *r)
{
    if (r->have_spare) {
        r->have_spare = 0;
        return r->spare;
    }
    double u1 = 1.0 - rng_uniform(r);   /* (0, 1]: log is finite */
    double u2 = rng_uniform(r);
    double rad = sqrt(-2.0 * log(u1));
    r->spare = rad * sin(2 * PI * u2);
    r->have_spare = 1;
    return rad * cos(2 * PI * u2);
}

/* ---- the generators --------------------------------------------------------------- */

/* 8gaussians: k uniform in 0..7; x = R (cos(k pi/4), sin(k pi/4)) + s z per axis,
 * R = 4/sqrt2 = 2.8284, s = 0.5/sqrt2 = 0.35355 (FFJORD: centres at scale 4 and
 * std 0.5, all divided by 1.414). */
#define G8_R (4.0 / 1.4142135623730951)
#define G8_S (0.5 / 1.4142135623730951)

static void gen_8gaussians(toy_rng *r, double *x, double *y)
{
    int k = rng_int(r, 8);
    *x = G8_R * cos(k * PI / 4) + G8_S * rng_normal(r);
    *y = G8_R * sin(k * PI / 4) + G8_S * rng_normal(r);
}

/* rings: 4 concentric circles of radius 0.75, 1.5, 2.25, 3.0 with equal mass;
 * k uniform in 0..3, theta = 2 pi u, x = 0.75 (k+1) (cos theta, sin theta)
 * + 0.08 z per axis. */
static void gen_rings(toy_rng *r, double *x, double *y)
{
    double rad = 0.75 * (rng_int(r, 4) + 1);
    double th = 2 * PI * rng_uniform(r);
    *x = rad * cos(th) + 0.08 * rng_normal(r);
    *y = rad * sin(th) + 0.08 * rng_normal(r);
}

/* moons (sklearn make_moons with noise 0.1, then 2p + (-1, -0.2)): t = pi u;
 * half the samples p = (cos t, sin t), half p = (1 - cos t, 0.5 - sin t);
 * p += 0.1 z per axis; x = 2 p + (-1, -0.2). */
static void gen_moons(toy_rng *r, double *x, double *y)
{
    int lower = rng_int(r, 2);
    double t = PI * rng_uniform(r);
    double px = lower ? 1 - cos(t) : cos(t);
    double py = lower ? 0.5 - sin(t) : sin(t);
    px += 0.1 * rng_normal(r);
    py += 0.1 * rng_normal(r);
    *x = 2 * px - 1;
    *y = 2 * py - 0.2;
}

/* checkerboard: x1 = 4u - 2; x2 = a - 2j + (floor(x1) mod 2), j uniform in {0,1};
 * x = 2 (x1, x2).  That is uniform density 1/32 on the 8 squares
 * [2i, 2i+2) x [2j, 2j+2), i, j in -2..1 with i + j even, of [-4, 4]^2. */
static void gen_checkerboard(toy_rng *r, double *x, double *y)
{
    double x1 = 4 * rng_uniform(r) - 2;
    int j = rng_int(r, 2);
    double a = rng_uniform(r);
    int fl = (int)floor(x1);
    double x2 = a - 2 * j + (double)(((fl % 2) + 2) % 2);
    *x = 2 * x1;
    *y = 2 * x2;
}

/* 2spirals: t = 3 pi sqrt(u) (up to 540 degrees); p = (-t cos t + a/2, t sin t + b/2);
 * with probability 1/2, p = -p; x = p / 3 + 0.1 z per axis. */
static void gen_2spirals(toy_rng *r, double *x, double *y)
{
    double t = 3 * PI * sqrt(rng_uniform(r));
    double px = -t * cos(t) + 0.5 * rng_uniform(r);
    double py = t * sin(t) + 0.5 * rng_uniform(r);
    if (rng_int(r, 2)) {
        px = -px;
        py = -py;
    }
    *x = px / 3 + 0.1 * rng_normal(r);
    *y = py / 3 + 0.1 * rng_normal(r);
}

/* pinwheel: 5 arms; k uniform in 0..4; f0 = 1 + 0.3 z0 (radial), f1 = 0.1 z1
 * (tangential); angle = 2 pi k / 5 + 0.25 exp(f0);
 * x = 2 (f0 cos angle + f1 sin angle, -f0 sin angle + f1 cos angle). */
static void gen_pinwheel(toy_rng *r, double *x, double *y)
{
    int k = rng_int(r, 5);
    double f0 = 1 + 0.3 * rng_normal(r);
    double f1 = 0.1 * rng_normal(r);
    double ang = 2 * PI * k / 5 + 0.25 * exp(f0);
    double c = cos(ang), s = sin(ang);
    *x = 2 * (f0 * c + f1 * s);
    *y = 2 * (-f0 * s + f1 * c);
}

typedef void (*toy_gen)(toy_rng *r, double *x, double *y);

static const struct {
    const char *name;
    toy_gen gen;
} toys[] = {
    {"8gaussians", gen_8gaussians}, {"rings", gen_rings},       {"moons", gen_moons},
    {"checkerboard", gen_checkerboard}, {"2spirals", gen_2spirals}, {"pinwheel", gen_pinwheel},
};
#define NTOYS ((int)(sizeof toys / sizeof toys[0]))

const char *ebm_toy_names(void)
{
    return "8gaussians, rings, moons, checkerboard, 2spirals, pinwheel";
}

int ebm_toy_find(const char *name)
{
    for (int i = 0; name && i < NTOYS; i++)
        if (strcmp(name, toys[i].name) == 0)
            return i;
    return -1;
}

static ebm_status find_or_fail(const char *name, int *idx, ebm_error *err)
{
    *idx = ebm_toy_find(name);
    if (*idx < 0)
        return ebm_fail(err, EBM_ERR_INVALID, "unknown toy dataset '%s'; valid names: %s",
                        name ? name : "(null)", ebm_toy_names());
    return EBM_OK;
}

ebm_status ebm_toy_sample_at(const char *name, int64_t first, int64_t n, uint64_t seed, float *out,
                             ebm_error *err)
{
    int t;
    ebm_status st = find_or_fail(name, &t, err);
    if (st)
        return st;
    if (first < 0 || n < 0 || (n > 0 && !out))
        return ebm_fail(err, EBM_ERR_INVALID, "toy dataset '%s': invalid range first = %lld, "
                        "n = %lld", name, (long long)first, (long long)n);
    for (int64_t i = 0; i < n; i++) {
        toy_rng r;
        double x, y;
        rng_init(&r, seed, (uint64_t)(first + i));
        toys[t].gen(&r, &x, &y);
        out[2 * i] = (float)x;
        out[2 * i + 1] = (float)y;
    }
    return EBM_OK;
}

ebm_status ebm_toy_sample(const char *name, int64_t n, uint64_t seed, float *out, ebm_error *err)
{
    return ebm_toy_sample_at(name, 0, n, seed, out, err);
}

/* ---- densities on a grid ------------------------------------------------------------- */

static ebm_status check_grid(double lo, double hi, int G, const void *out, ebm_error *err)
{
    if (!(hi > lo) || !isfinite(lo) || !isfinite(hi) || G < 1 || G > 16384 || !out)
        return ebm_fail(err, EBM_ERR_INVALID, "invalid grid: need finite lo < hi, 1 <= G <= 16384 "
                        "and an output buffer (got lo = %g, hi = %g, G = %d)", lo, hi, G);
    return EBM_OK;
}

ebm_status ebm_grid_points(double lo, double hi, int G, float *xy, ebm_error *err)
{
    ebm_status st = check_grid(lo, hi, G, xy, err);
    if (st)
        return st;
    double h = (hi - lo) / G;
    for (int iy = 0; iy < G; iy++)
        for (int ix = 0; ix < G; ix++) {
            xy[2 * ((size_t)iy * G + ix)] = (float)(lo + (ix + 0.5) * h);
            xy[2 * ((size_t)iy * G + ix) + 1] = (float)(lo + (iy + 0.5) * h);
        }
    return EBM_OK;
}

/* Scales out so that sum(out) * h^2 = 1; 0 if the grid holds no mass. */
static int normalise(double *out, int G, double h)
{
    double s = 0;
    for (size_t k = 0; k < (size_t)G * G; k++)
        s += out[k];
    if (!(s > 0))
        return 0;
    for (size_t k = 0; k < (size_t)G * G; k++)
        out[k] /= s * h * h;
    return 1;
}

/* P(a <= m + s Z < b) */
static double normal_mass(double a, double b, double m, double s)
{
    return 0.5 * (erf((b - m) / (s * sqrt(2.0))) - erf((a - m) / (s * sqrt(2.0))));
}

/* Exact cell masses of the 8-Gaussian mixture (each axis separates). */
static void density_8gaussians(double lo, double h, int G, double *out)
{
    double *mx = malloc((size_t)G * sizeof *mx), *my = malloc((size_t)G * sizeof *my);
    memset(out, 0, (size_t)G * G * sizeof *out);
    for (int k = 0; k < 8 && mx && my; k++) {
        double cx = G8_R * cos(k * PI / 4), cy = G8_R * sin(k * PI / 4);
        for (int i = 0; i < G; i++) {
            mx[i] = normal_mass(lo + i * h, lo + (i + 1) * h, cx, G8_S);
            my[i] = normal_mass(lo + i * h, lo + (i + 1) * h, cy, G8_S);
        }
        for (int iy = 0; iy < G; iy++)
            for (int ix = 0; ix < G; ix++)
                out[(size_t)iy * G + ix] += mx[ix] * my[iy] / 8;
    }
    free(mx);
    free(my);
}

static double overlap(double a0, double a1, double b0, double b1)
{
    double lo = a0 > b0 ? a0 : b0, hi = a1 < b1 ? a1 : b1;
    return hi > lo ? hi - lo : 0;
}

/* Exact cell masses of the checkerboard: overlap area with each square / 32. */
static void density_checkerboard(double lo, double h, int G, double *out)
{
    for (int iy = 0; iy < G; iy++)
        for (int ix = 0; ix < G; ix++) {
            double x0 = lo + ix * h, y0 = lo + iy * h, m = 0;
            for (int i = -2; i <= 1; i++)
                for (int j = -2; j <= 1; j++)
                    if (((i + j) % 2 + 2) % 2 == 0)
                        m += overlap(x0, x0 + h, 2 * i, 2 * i + 2) *
                             overlap(y0, y0 + h, 2 * j, 2 * j + 2) / 32;
            out[(size_t)iy * G + ix] = m;
        }
}

/* [1,6,1]/8 along one axis (stride 1 = x, G = y); edges use the cells present. */
static void smooth_axis(const double *in, double *out, int G, int along_y)
{
    for (int iy = 0; iy < G; iy++)
        for (int ix = 0; ix < G; ix++) {
            int i = along_y ? iy : ix;
            size_t k = (size_t)iy * G + ix, step = along_y ? (size_t)G : 1;
            double s = 6 * in[k], w = 6;
            if (i > 0) { s += in[k - step]; w += 1; }
            if (i < G - 1) { s += in[k + step]; w += 1; }
            out[k] = s / w;
        }
}

/* A histogram of EBM_TOY_HIST_SAMPLES samples (fixed seed).  Smoothing trades
 * noise for bias: measured against the exact rings density (the narrowest set,
 * noise 0.08), KL(histogram || exact) at 2^20 samples is 0.0006 / 0.0024 /
 * 0.0089 unsmoothed for G = 50 / 100 / 200, 0.10 / 0.012 / 0.0038 with
 * [1,6,1]/8, so we smooth only below EBM_TOY_SMOOTH_BELOW samples per cell. */
#define EBM_TOY_SMOOTH_BELOW 64
static ebm_status density_histogram(int t, double lo, double h, int G, double *out,
                                    ebm_error *err)
{
    memset(out, 0, (size_t)G * G * sizeof *out);
    for (int64_t i = 0; i < EBM_TOY_HIST_SAMPLES; i++) {
        toy_rng r;
        double x, y;
        rng_init(&r, 0x6772696400000000ull, (uint64_t)i);   /* fixed seed "grid" */
        toys[t].gen(&r, &x, &y);
        double fx = (x - lo) / h, fy = (y - lo) / h;
        if (fx >= 0 && fy >= 0 && fx < G && fy < G)
            out[(size_t)(int)fy * G + (int)fx] += 1;
    }
    if (EBM_TOY_HIST_SAMPLES >= (double)EBM_TOY_SMOOTH_BELOW * G * G)
        return EBM_OK;
    double *tmp = malloc((size_t)G * G * sizeof *tmp);
    if (!tmp)
        return ebm_fail(err, EBM_ERR_NOMEM, "toy density grid: out of memory for %d x %d", G, G);
    smooth_axis(out, tmp, G, 0);
    smooth_axis(tmp, out, G, 1);
    free(tmp);
    return EBM_OK;
}

ebm_status ebm_toy_density_grid(const char *name, double lo, double hi, int G, double *out,
                                ebm_error *err)
{
    int t;
    ebm_status st = find_or_fail(name, &t, err);
    if (!st)
        st = check_grid(lo, hi, G, out, err);
    if (st)
        return st;
    double h = (hi - lo) / G;
    if (toys[t].gen == gen_8gaussians)
        density_8gaussians(lo, h, G, out);
    else if (toys[t].gen == gen_checkerboard)
        density_checkerboard(lo, h, G, out);
    else if ((st = density_histogram(t, lo, h, G, out, err)) != EBM_OK)
        return st;
    if (!normalise(out, G, h))
        return ebm_fail(err, EBM_ERR_INVALID, "toy dataset '%s' has no mass on the grid "
                        "[%g, %g]^2", name, lo, hi);
    return EBM_OK;
}

/* ---- KL on a grid ------------------------------------------------------------------ */

ebm_status ebm_kl_grid(const double *p_data, const double *log_model_unnorm, int G,
                       double cell_area, double *kl, ebm_error *err)
{
    if (G < 1 || !p_data || !log_model_unnorm || !kl || !(cell_area > 0) || !isfinite(cell_area))
        return ebm_fail(err, EBM_ERR_INVALID, "KL on a grid: need G >= 1, cell_area > 0 and "
                        "three buffers (got G = %d, cell_area = %g)", G, cell_area);
    size_t m = (size_t)G * G;
    double psum = 0, lmax = -INFINITY;
    for (size_t k = 0; k < m; k++) {
        if (!(p_data[k] >= 0) || !isfinite(p_data[k]))
            return ebm_fail(err, EBM_ERR_INVALID, "KL on a grid: data density at cell %zu is %g; "
                            "expected finite and >= 0", k, p_data[k]);
        double l = log_model_unnorm[k];
        if (isnan(l) || l == INFINITY)
            return ebm_fail(err, EBM_ERR_NUMERIC, "KL on a grid: model log-density at cell %zu "
                            "(ix %zu, iy %zu) is %g", k, k % (size_t)G, k / (size_t)G, l);
        psum += p_data[k];
        lmax = l > lmax ? l : lmax;
    }
    if (!(psum > 0))
        return ebm_fail(err, EBM_ERR_INVALID, "KL on a grid: the data density is 0 everywhere");
    if (lmax == -INFINITY)
        return ebm_fail(err, EBM_ERR_NUMERIC, "KL on a grid: the model density is 0 everywhere");
    double z = 0;
    for (size_t k = 0; k < m; k++)
        z += exp(log_model_unnorm[k] - lmax);
    /* log q_k = l_k - log Z, log Z = lmax + log(z * area); p_k = p_data_k / (psum * area). */
    double log_z = lmax + log(z * cell_area), log_pz = log(psum * cell_area), s = 0;
    for (size_t k = 0; k < m; k++) {
        if (p_data[k] == 0)
            continue;
        double mass = p_data[k] / psum;
        s += mass * (log(p_data[k]) - log_pz - (log_model_unnorm[k] - log_z));
    }
    *kl = s;
    return EBM_OK;
}
