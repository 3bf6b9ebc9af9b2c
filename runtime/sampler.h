/* sampler.h — the samplers of libebm, built on the compute calls of ebm.h:
 *
 *   langevin  DESIGN.md's update, K steps of the compiled fused program
 *             (ebm_langevin), run in chunks so progress can be reported, with
 *             the gradient clip c applied to dE/dx before the division by T:
 *             x <- clamp(x - alpha clip(dE/dx, +-c) / T + sigma eps, lo, hi).
 *             Its stationary density is about exp(-E_c(x) / T') with
 *             T' = T sigma^2 / (2 alpha) and E_c the energy whose gradient is
 *             clipped to +-c per element (E_c = E where |dE/dx| <= c), kept
 *             in the clamp box: with noise "auto" (sigma = sqrt(2 alpha)),
 *             no clip and no clamp, exactly exp(-E/T) up to the step's
 *             discretisation; a fixed sigma scales the temperature by
 *             sigma^2 / (2 alpha) (the defaults 0.005 and 0.01: 1/800);
 *   adaptive  the same update with the step size adapted in windows of
 *             W = min(50, max(1, K/10)) steps toward a target rate (0.574) of
 *             samples whose energy went down over the window: x1.05 above the
 *             target, x0.95 below; with noise "auto" sigma = sqrt(2 alpha)
 *             follows alpha;
 *   mala      Metropolis-adjusted Langevin for exp(-E/T): the proposal is
 *             y = x - alpha * clip(grad E(x), +-c)/T + sqrt(2 alpha) * eps, accepted
 *             per sample with probability min(1, pi(y) q(x|y) / (pi(x) q(y|x))),
 *             so the chain leaves exp(-E/T) exactly invariant (with a clamp
 *             range: restricted to the box; proposals outside are rejected).
 *             During the first `burn_in` steps the step size adapts after
 *             every step (x1.05 when the batch's acceptance was above 0.574,
 *             x0.95 below), then stays fixed.  The noise scale
 *             is always sqrt(2 alpha): MALA's proposal is defined by it.
 *
 * Every random number is counter-based (ebm_philox.h) and keyed by the seed,
 * the sample's global index, the step and the element, and every adaptation
 * decision uses the whole batch, so results do not depend on the batch split
 * or thread count.  All three sample exp(-E(x)/T) when nothing else
 * intervenes (MALA exactly, the other two with noise "auto" and no clip or
 * clamp that binds; see langevin above).
 *
 * The sample buffer of persistent contrastive divergence is in buffer.h.
 */
#ifndef EBM_SAMPLER_H
#define EBM_SAMPLER_H

#include <stdint.h>

#include "ebm.h"

typedef enum ebm_sampler_kind {
    EBM_SAMPLER_LANGEVIN,
    EBM_SAMPLER_ADAPTIVE,
    EBM_SAMPLER_MALA,
} ebm_sampler_kind;

/* "langevin", "adaptive", "mala". */
const char *ebm_sampler_name(ebm_sampler_kind k);
/* Returns 0 and sets *out for a known name, else -1. */
int ebm_sampler_parse(const char *name, ebm_sampler_kind *out);

/* What a progress callback sees, after every chunk of steps. */
typedef struct ebm_progress {
    int64_t step, total;    /* steps done of total */
    double mean_energy;     /* over the batch, at the current state */
    double acceptance;      /* MALA: accepted / proposed so far (this phase); else -1 */
    float step_size;        /* the current step size */
    int burn_in;            /* MALA: still adapting */
} ebm_progress;

typedef void (*ebm_progress_fn)(const ebm_progress *p, void *user);

typedef struct ebm_sampler_params {
    ebm_sampler_kind kind;
    ebm_langevin_params lv;  /* steps K, step_size (the initial one when adapted), noise_scale,
                                grad_clip, temperature, clamp/lo/hi, seed, step_offset,
                                trajectory_every */
    int noise_auto;          /* langevin/adaptive: sigma = sqrt(2 alpha), following alpha */
    int32_t burn_in;         /* MALA: the first B of the K steps adapt alpha (0 <= B <= K) */
    double target_rate;      /* adaptive and MALA burn-in (default 0.574) */
    float anneal_from;       /* langevin: > 0 anneals the temperature geometrically from this value at the
                                first step to lv.temperature at the last, the step size following the
                                temperature's square (the noise, when auto, sqrt(2 alpha)) -- annealed
                                Langevin for a model trained at many noise levels; 0 = off */
    float anneal_hold;       /* annealed: the share in [0, 1) of the K steps held at anneal_from before the
                                schedule starts (a burn-in at the highest noise level; 0 = none) */
    float denoise;           /* > 0: after the last step, one noiseless step x <- x - denoise * dE/dx
                                (clamped): Tweedie's denoiser when denoise = sigma^2 of the noise the
                                model was trained at (T = 1); 0 = off */
    ebm_progress_fn progress;   /* may be NULL */
    void *progress_user;
} ebm_sampler_params;

/* Langevin with DESIGN.md's defaults (ebm_langevin_defaults), target rate 0.574,
 * no burn-in, no progress callback. */
ebm_sampler_params ebm_sampler_defaults(void);

/* How many of an annealed run's `steps` are held at anneal_from:
 * round(anneal_hold x steps), at most steps - 1 (one annealed step at least). */
int64_t ebm_sampler_hold_steps(int64_t steps, float anneal_hold);

typedef struct ebm_sampler_stats {
    float step_size;          /* at the end (adapted or not) */
    double acceptance;        /* MALA: accepted / proposed after burn-in (over all steps
                                 when B = K); adaptive: the last window's rate of
                                 energy decrease; langevin: -1 */
    int64_t accepted, proposed;   /* MALA, after burn-in */
    int64_t rejected_nonfinite;   /* MALA: proposals whose energy or score was NaN/Inf */
    int64_t rejected_outside;     /* MALA: proposals outside the clamp range */
} ebm_sampler_stats;

/* Runs p->lv.steps steps of p->kind on x[n, ...] in place.  energy[n] (may be
 * NULL) receives the final energies; with p->lv.trajectory_every = M > 0,
 * trajectory receives [1 + K/M][n][...] (the initial state, then every M-th
 * state); stats (may be NULL) receives the final step size and acceptance.
 * Allocates its scratch (MALA: a few copies of the batch) once per call.  A
 * NaN/Inf state is an EBM_ERR_NUMERIC error naming the step. */
ebm_status ebm_sampler_run(ebm_ctx *ctx, float *x, int64_t n, const ebm_sampler_params *p, float *energy,
                           float *trajectory, ebm_sampler_stats *stats, ebm_error *err);

/* ---- initial states ------------------------------------------------------------ */

typedef enum ebm_init_kind {
    EBM_INIT_UNIFORM,   /* uniform in (lo, hi] */
    EBM_INIT_NORMAL,    /* standard normal */
} ebm_init_kind;

/* Fills x[n, numel] with fresh initial states; sample i is a pure function
 * of (seed, stream, first + i), from Philox under a key derived from the seed
 * (so they are not the Langevin noise).  stream separates independent uses
 * (e.g. the sample buffer's draw counter). */
void ebm_init_states(ebm_init_kind kind, float lo, float hi, uint64_t seed, uint64_t stream, int64_t first,
                     float *x, int64_t n, int64_t numel);
/* The same with the normal's standard deviation sd: N(0, 1) x sd, so sd = 1
 * (or sd <= 0) gives ebm_init_states' bytes; the uniform ignores sd. */
void ebm_init_states_sd(ebm_init_kind kind, float lo, float hi, float sd, uint64_t seed, uint64_t stream,
                        int64_t first, float *x, int64_t n, int64_t numel);

#endif /* EBM_SAMPLER_H */
