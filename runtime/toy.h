/* toy.h — the 2-D toy distributions of the EBM / normalising-flow literature
 * (the set FFJORD and its successors train on), for `ebm train --data NAME`,
 * and the grid tools that score a trained 2-D model against them.
 *
 * Tutorial:
 *
 *     float x[2 * 512];
 *     ebm_toy_sample("8gaussians", 512, seed, x, &err);       // x[2i], x[2i+1] = (x, y)
 *     double p[G * G], logq[G * G];
 *     ebm_toy_density_grid("8gaussians", -4, 4, G, p, &err);   // data density on the grid
 *     float xy[2 * G * G];
 *     ebm_grid_points(-4, 4, G, xy, &err);                     // where to evaluate the model
 *     ... logq[k] = -E(xy[2k], xy[2k+1]) ...
 *     double kl;
 *     ebm_kl_grid(p, logq, G, h * h, &kl, &err);                // KL(data || model), h = 8 / G
 *
 * Grids: G x G cells over [lo, hi]^2, cell width h = (hi - lo) / G; cell
 * (ix, iy) has centre (lo + (ix + 0.5) h, lo + (iy + 0.5) h) and is stored at
 * index iy * G + ix (iy = 0 is the bottom row, y = lo).
 *
 * Sampling is counter-based (Philox4x32-10, runtime/ebm_philox.h): sample i is
 * a pure function of (name, seed, i), so the first k samples of a call with
 * n > k are the k samples of a call with n = k, and ebm_toy_sample_at can
 * continue a stream at any index.
 */
#ifndef EBM_TOY_H
#define EBM_TOY_H

#include <stdint.h>

#include "ebm_status.h"

/* "8gaussians, rings, moons, checkerboard, 2spirals, pinwheel" (for --help). */
const char *ebm_toy_names(void);
/* Index of a toy set by name, or -1 (lets a CLI tell a toy name from a file). */
int ebm_toy_find(const char *name);

/* out[2n]: samples 0..n-1 of the named set.  Unknown name -> EBM_ERR_INVALID
 * listing the valid names. */
ebm_status ebm_toy_sample(const char *name, int64_t n, uint64_t seed, float *out, ebm_error *err);
/* out[2n]: samples first..first+n-1 of the stream (seed). */
ebm_status ebm_toy_sample_at(const char *name, int64_t first, int64_t n, uint64_t seed, float *out,
                             ebm_error *err);

/* out[G*G]: the data density on the grid (layout above), normalised so that
 * sum(out) * h^2 = 1.  8gaussians and checkerboard are exact cell averages of
 * the analytic density; the others are histograms of EBM_TOY_HIST_SAMPLES
 * samples (a fixed seed), smoothed with a [1,6,1]/8 kernel along x and y
 * only when there are fewer than 64 samples per cell (G > 128): measured on
 * rings, the histogram is within KL 0.01 of the exact density for G <= 200.
 * Takes about 0.2 s for the histogram sets. */
#define EBM_TOY_HIST_SAMPLES (1 << 20)
ebm_status ebm_toy_density_grid(const char *name, double lo, double hi, int G, double *out,
                                ebm_error *err);

/* xy[2*G*G]: the cell centres in grid layout, as model inputs. */
ebm_status ebm_grid_points(double lo, double hi, int G, float *xy, ebm_error *err);

/* KL(data || model) = sum_k p_k h^2 log(p_k / q_k), with p_data renormalised
 * to sum(p) * cell_area = 1 and the model q = exp(log_model_unnorm) / Z,
 * Z = sum exp(log_model_unnorm) * cell_area (log-sum-exp).  Cells with p = 0
 * add nothing; log q = -inf where p > 0 gives +inf.  p must be finite and
 * >= 0 with a positive sum; NaN or +inf in log_model_unnorm is
 * EBM_ERR_NUMERIC. */
ebm_status ebm_kl_grid(const double *p_data, const double *log_model_unnorm, int G,
                       double cell_area, double *kl, ebm_error *err);

#endif /* EBM_TOY_H */
