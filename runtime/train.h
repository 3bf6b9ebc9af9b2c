/* train.h — training an EBM with libebm: persistent contrastive divergence
 * (and denoising score matching) with Adam, on the compiled param_grad (and
 * dsm_grad) programs.
 *
 * One step of persistent CD (DESIGN.md's loss):
 *   1. a data batch x+ (plus N(0, data_noise^2) noise, clamped to the
 *      sampler's range);
 *   2. a buffer draw x0 (fresh states with probability reinit);
 *   3. K sampler steps x0 -> x- (sampler.h; seeded by (seed, step), so a step's
 *      randomness does not depend on what ran before; MALA adapts its step
 *      size in the first K/2 steps and, like the adaptive sampler, carries it
 *      to the next training step);
 *   4. the buffer takes x-;
 *   5. per-sample energies E+, E- and the loss, with dL/dE per sample as
 *      weights for one param_grad call over [x+; x-];
 *   6. the gradient's global norm clipped to grad_norm_clip (0 = off);
 *   7. Adam on the trainable parameters; optionally an EMA of them.
 * Objectives (B = batch, E+ data energies, E- sample energies):
 *   cd             cd = mean E+ - mean E-
 *   cd-softplus    cd = mean_i softplus(E+_i - E-_i)
 *   cd-logsumexp   cd = mean E+ + logsumexp(-E-) - log B   (the samples as an
 *                  importance estimate of log Z)
 *   each plus reg = alpha * mean(E+^2 + E-^2); loss = cd + reg.
 *   dsm            loss = sigma^2 / B * sum_i 1/2 |s(x~_i) - (x_i - x~_i) / sigma^2|^2,
 *                  x~ = x + sigma eps, s = -dE/dx: needs a model compiled with
 *                  the dsm_grad program; no sampling.
 *                  With sigma_max > sigma, each sample's noise level sigma_i is
 *                  log-uniform in [sigma, sigma_max] (x~ = x + sigma_i eps;
 *                  sigma_power p < 1 draws log(sigma_i / sigma) / log(sigma_max /
 *                  sigma) as u^p, more of the high levels) and
 *                  the model at level sigma_i is exp(-E sigma / sigma_i), i.e.
 *                  E at temperature sigma_i / sigma (the score network of NCSNv2
 *                  as s(x) / sigma_i); weighting level i by sigma_i^2 the loss
 *                  keeps the form above with the target -eps_i / sigma.  Sample
 *                  it with annealed Langevin from T = sigma_max / sigma to 1
 *                  (sampler.h, anneal_from) and a last denoising step of sigma^2.
 *                  No energy is computed: E+ and E- are NaN in the stats.
 *
 * Divergence guard: a step whose loss, energies or gradient is NaN/Inf, or
 * (cd) whose |energy| exceeds energy_limit, is undone: the trainer goes back to
 * its last snapshot (taken every snapshot_every steps), multiplies the
 * learning rate by 0.5 and says so in the step's stats; after max_restores
 * such restores it fails with EBM_ERR_NUMERIC.
 *
 * Reproducibility: every random number is a function of (seed, step), the
 * minibatch order of (seed, step) through data.h's seekable batcher, so a
 * trainer restored from a checkpoint continues bit-identically.
 */
#ifndef EBM_TRAIN_H
#define EBM_TRAIN_H

#include <stdint.h>

#include "buffer.h"
#include "data.h"
#include "ebm.h"
#include "sampler.h"

typedef enum ebm_objective {
    EBM_OBJ_CD,
    EBM_OBJ_CD_SOFTPLUS,
    EBM_OBJ_CD_LOGSUMEXP,
    EBM_OBJ_DSM,
} ebm_objective;

const char *ebm_objective_name(ebm_objective o);
int ebm_objective_parse(const char *name, ebm_objective *out);

typedef struct ebm_train_config {
    ebm_objective objective;
    int64_t batch;              /* B >= 1 */
    double alpha;               /* L2 energy regularisation (default 0.01) */
    double sigma;               /* dsm noise (default 0.1) */
    double sigma_max;           /* dsm: > sigma trains at noise levels log-uniform in [sigma, sigma_max]
                                   (0 = one level) */
    double sigma_power;         /* dsm levels: sigma (sigma_max / sigma)^(u^p), u uniform in [0, 1): p = 1
                                   log-uniform (default), p < 1 more of the high levels; p > 0 */
    double lr;                  /* Adam (defaults 1e-4, 0, 0.999, 1e-8) */
    double beta1, beta2, adam_eps;
    double grad_norm_clip;      /* global norm; 0 = off (default 1) */
    double ema;                 /* EMA decay of the parameters; 0 = off */
    double data_noise;          /* default 0.005 */
    ebm_sampler_params sampler; /* K = sampler.lv.steps (default 60), clamp range, ... */
    ebm_init_kind fresh;        /* how fresh buffer states are made (uniform) */
    float fresh_sd;             /* EBM_INIT_NORMAL: their standard deviation (0 = 1) */
    int64_t buffer_capacity;    /* default 8192 */
    double reinit;              /* default 0.05 */
    uint64_t seed;
    double energy_limit;        /* divergence: |E| above this (default 1e4) */
    int32_t snapshot_every;     /* steps between in-memory snapshots (default 100) */
    int32_t max_restores;       /* default 3 */
} ebm_train_config;

ebm_train_config ebm_train_defaults(void);

/* Where data comes from: a dataset (minibatches of shuffled epochs) or a
 * 2-D toy set (fresh samples every step, toy.h). */
typedef struct ebm_train_data {
    const ebm_dataset *dataset;   /* or NULL */
    const char *toy;              /* a toy.h name, when dataset is NULL */
    const char *label;            /* the data's file name for messages (may be NULL) */
} ebm_train_data;

typedef struct ebm_train_stats {
    int64_t step;                 /* steps done (after this one) */
    double loss, cd, reg;
    double real_energy_mean, fake_energy_mean;   /* cd; NaN for dsm */
    double grad_norm;             /* before clipping */
    float step_size;              /* the sampler's (adaptive, MALA: after this step's adaptation) */
    double acceptance;            /* MALA: this step's acceptance; else -1 */
    double lr;                    /* the learning rate in use */
    int restored;                 /* 1: this step diverged and the trainer went back */
    int64_t restored_to;          /* ... to this step */
} ebm_train_stats;

typedef struct ebm_trainer ebm_trainer;

/* A trainer for model m (its weights are trained in place), holding the
 * optimizer state, the buffer and a context of capacity 2B. */
ebm_status ebm_trainer_new(ebm_model *m, const ebm_train_data *data, const ebm_train_config *cfg,
                           ebm_trainer **out, ebm_error *err);
void ebm_trainer_free(ebm_trainer *t);

/* One training step (with the divergence guard). */
ebm_status ebm_trainer_step(ebm_trainer *t, ebm_train_stats *stats, ebm_error *err);

int64_t ebm_trainer_steps_done(const ebm_trainer *t);
/* The parameters to ship: the EMA when enabled, else the live ones
 * (weights_numel floats). */
const float *ebm_trainer_params(const ebm_trainer *t);
/* The persistent samples (x- of the last step: [B, ...]). */
const float *ebm_trainer_samples(const ebm_trainer *t);
/* The whole sample buffer.  Several ranks: rank 0's, after ebm_trainer_gather
 * (NULL before it and on the other ranks). */
ebm_buffer *ebm_trainer_buffer(ebm_trainer *t);
/* Several ranks (a collective; nothing to do in one process): rank 0 gets
 * every rank's buffer shard (ebm_trainer_buffer) and rows of the last step's
 * samples (ebm_trainer_samples), for ebm_trainer_save, --buffer-out and
 * images. */
ebm_status ebm_trainer_gather(ebm_trainer *t, ebm_error *err);
double ebm_trainer_lr(const ebm_trainer *t);

/* Data-parallel training: R processes (ranks) each run a trainer with the
 * same model, data and settings, and split every step's batch: rank r takes
 * data samples and model samples [r B/R, (r+1) B/R).  The sample buffer is
 * sharded (ebm_buffer_shard): every rank keeps the ring's bookkeeping and
 * plans each draw and push (the same slots everywhere, the draw's randomness
 * a function of the seed and the step, fresh states keyed by the global row),
 * but stores only its own slots, and the ranks send each drawn sample from
 * its slot's rank to its row's and each pushed one back (slot lanes follow
 * batch rows, so while pushes stay aligned to B they stay on their rank).
 * The sampler runs on a rank's rows only (Langevin noise keyed by the global
 * sample index, ebm_ctx_set_sample_base); the ranks exchange the energies
 * and the parameter gradient's blocks (ebm_param_grad_blocks: sums over
 * fixed blocks of global sample indices), and every rank adds the blocks in
 * global block order.  So every rank holds the same parameters, optimizer
 * state and buffer bookkeeping after each step, and the buffer's slots hold
 * one process's samples: bitwise one process's run with the same batch, for
 * any R that splits the batch into whole blocks.  The plain Langevin sampler
 * only (the adaptive samplers adapt on whole-batch statistics).
 *
 * allgather is a collective: every rank calls it with the same count, its
 * own count floats already at all[rank * count]; on return all[] holds every
 * rank's, in rank order.  alltoallv is one too: send[] holds sendcounts[q]
 * floats for each rank q in rank order, recv[] gets recvcounts[q] from each
 * (the counts agree pairwise).  A failing rank returns its error from the
 * step; the caller must then end every rank (the others wait in a
 * collective). */
typedef struct ebm_train_comm {
    int rank, size;
    ebm_status (*allgather)(void *user, float *all, int64_t count, ebm_error *err);
    ebm_status (*alltoallv)(void *user, const float *send, const int64_t *sendcounts, float *recv,
                            const int64_t *recvcounts, ebm_error *err);
    void *user;
} ebm_train_comm;

/* The samples per parameter-gradient block for a batch B and a model tile:
 * the largest power of two <= 16 that divides B and fits the tile.  A batch
 * splits over R ranks when R divides B / block. */
int64_t ebm_train_grad_block(int64_t batch, int64_t tile);

/* Splits t's steps over c->size ranks (once, before the first step and any
 * ebm_trainer_load; c NULL or of size 1: one process) and shards its
 * buffer.  Refuses (EBM_ERR_INVALID, one line naming --batch) a batch R does
 * not split into whole blocks, and the samplers that do not split (adaptive,
 * MALA). */
ebm_status ebm_trainer_set_comm(ebm_trainer *t, const ebm_train_comm *c, ebm_error *err);

/* Checkpoints (runtime/train_ckpt.c): parameters, Adam moments, EMA,
 * the whole buffer (with its draw counter; several ranks: rank 0 saves after
 * ebm_trainer_gather, every rank loads and keeps its shard, so a checkpoint
 * resumes with any R that splits the batch), step, learning rate, restore count and the
 * run's settings, written atomically with a checksum.  A load changes nothing
 * unless the file is whole, of the same model, made with the same settings (a
 * mismatch names the setting and its flag, e.g. --batch) and every field is in
 * its range (step, lr, restores, step size, counts; stored floats finite). */
ebm_status ebm_trainer_save(const ebm_trainer *t, const char *path, ebm_error *err);
ebm_status ebm_trainer_load(ebm_trainer *t, const char *path, ebm_error *err);

/* The loss and dL/dE of an objective over energies (for tests and users):
 * w_real[B], w_fake[B] receive the weights of the param_grad call. */
void ebm_cd_loss(ebm_objective o, double alpha, const float *e_real, const float *e_fake, int64_t B,
                 double *loss, double *cd, double *reg, float *w_real, float *w_fake);

#endif /* EBM_TRAIN_H */
