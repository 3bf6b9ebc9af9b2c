/* ebm.h — libebm, the runtime for models compiled by ebmc.
 *
 * Tutorial:
 *
 *     ebm_error err;
 *     ebm_model *m;
 *     if (ebm_model_open("model.so", &m, &err)) { fprintf(stderr, "%s\n", err.msg); ... }
 *     ebm_ctx *ctx;
 *     ebm_ctx_new(m, 64, &ctx, &err);                  // room for batches of up to 64
 *     float *x = ...;                                   // [n, ebm_model_sample_numel(m)]
 *     ebm_langevin_params p = ebm_langevin_defaults(); // DESIGN.md defaults
 *     p.steps = 200;
 *     ebm_langevin(ctx, x, n, &p, energy, NULL, &err);  // x now holds the samples
 *     ebm_ctx_free(ctx);
 *     ebm_model_close(m);
 *
 * Threads: a model is shared by any number of threads; a context belongs to
 * one thread at a time.  Parameters (ebm_model_weights) are shared by all
 * contexts of a model: write them only while no context runs (training does
 * this between steps).
 *
 * Parallelism: a context runs each compute call's batch tiles (the model's
 * tile size, `ebmc --tile`) on its own threads, started by ebm_ctx_new: one
 * per core by default, or $EBM_NUM_THREADS, or ebm_ctx_new_threads' count;
 * never more than a full batch has parts.  Energy, score and Langevin calls
 * whose batch has fewer tiles than the context has threads split it into
 * equal parts of whole 16-sample vectors instead.  Results are bitwise the
 * same for every thread count (a sample's values do not depend on the other
 * samples of its part; param_grad keeps the tiles and adds their partial
 * sums in tile order).  While a call runs on more than one
 * thread, OpenBLAS (if the model uses it) runs on one thread; a call with a
 * single tile runs OpenBLAS on $EBM_BLAS_THREADS threads (default 1; more
 * lets OpenBLAS allocate during the call).  libebm sets OpenBLAS's thread
 * count for the call and restores it afterwards (a process-wide setting).
 *
 * Memory: ebm_ctx_new allocates everything a context needs up front; the
 * compute calls never allocate (the Langevin loop in particular).
 *
 * Every function returns EBM_OK or an error code and fills err's message.
 */
#ifndef EBM_H
#define EBM_H

#include <stddef.h>
#include <stdint.h>

#include "ebm_abi.h"
#include "ebm_status.h"

typedef struct ebm_model ebm_model;
typedef struct ebm_ctx ebm_ctx;

/* ---- models ------------------------------------------------------------------ */

/* Loads a compiled model (a shared object made by ebmc).  The file is read
 * and checked before the dynamic loader sees it, so nothing of a foreign,
 * planted or damaged file runs; it is refused, with the file and the failed
 * check in the message, when it
 *   - is not a regular file owned by you or root, or is writable by its group
 *     or others (a model is code that runs as you; see ebm_open_options);
 *   - is not an x86-64 ELF shared object that loads without running code of
 *     its own (no constructors, IFUNCs, search paths), needs libraries a
 *     compiled model does not link, or has no ebmc descriptor;
 *   - was built for another ABI version;
 *   - does not match the digests of its code and weights recorded when ebmc
 *     compiled it (damaged or modified);
 *   - needs CPU features this CPU lacks (it was compiled for another target);
 *   - has a descriptor whose fields do not fit the loaded object (strings,
 *     tables, program entry points, the weights' size). */
ebm_status ebm_model_open(const char *path, ebm_model **out, ebm_error *err);

typedef struct ebm_open_options {
    int trust_file;   /* 1: skip the owner and permission check (only that one): the caller vouches
                         for the file (`ebm --trust-file`) */
} ebm_open_options;

/* ebm_model_open with options (o may be NULL: the defaults, all checks). */
ebm_status ebm_model_open_with(const char *path, const ebm_open_options *o, ebm_model **out, ebm_error *err);
void ebm_model_close(ebm_model *m);

/* The CPU features (1 << EBM_ISA_*, runtime/ebm_abi.h) this CPU provides, less
 * those named in $EBM_CPU_DISABLE (comma-separated names, or "all": to see
 * whether a model would load on an older CPU). */
uint64_t ebm_cpu_features(void);
/* The names of the features in mask, space-separated ("avx2 fma ..."), in buf. */
const char *ebm_isa_names(uint64_t mask, char *buf, size_t size);

/* The descriptor as compiled (shapes, parameter table, metadata, programs). */
const ebm_abi_model *ebm_model_desc(const ebm_model *m);
int64_t ebm_model_sample_numel(const ebm_model *m);
/* A metadata value (e.g. "ebm.sampler.steps"), or NULL. */
const char *ebm_model_meta(const ebm_model *m, const char *key);

/* The model's parameters (weights_numel floats, laid out per the descriptor's
 * parameter table).  Mutable: training writes here. */
float *ebm_model_weights(ebm_model *m);
/* Index of the parameter named `name`, or -1. */
int ebm_model_param_index(const ebm_model *m, const char *name);
/* Replaces the model's metadata (what ebm_model_meta and the descriptor's
 * meta table give) with a copy of n key/value pairs: a model compiled once
 * for a graph serves every file of that graph, each with its own ebm.*
 * settings (the ebm tools do this for a cached ONNX model). */
ebm_status ebm_model_set_meta(ebm_model *m, int n, const char *const *keys, const char *const *values,
                              ebm_error *err);
/* The path the model was opened from (for messages). */
const char *ebm_model_path(const ebm_model *m);

/* ---- contexts ------------------------------------------------------------------ */

/* A context for batches of up to `capacity` samples (any n <= capacity per
 * call; capacity >= 1). */
ebm_status ebm_ctx_new(ebm_model *m, int64_t capacity, ebm_ctx **out, ebm_error *err);
/* ebm_ctx_new with `threads` threads (1..1024; 0 = the default: $EBM_NUM_THREADS
 * if set, else the number of online cores).  Each thread has its own arena and
 * staging buffers. */
ebm_status ebm_ctx_new_threads(ebm_model *m, int64_t capacity, int threads, ebm_ctx **out, ebm_error *err);
/* The threads a context runs on (at most the tiles of `capacity` samples). */
int ebm_ctx_threads(const ebm_ctx *ctx);
void ebm_ctx_free(ebm_ctx *ctx);
/* The global index of sample 0 of the context's next calls (default 0):
 * Langevin noise is keyed by (seed, sample_base + i, step, element), so a
 * batch split over processes (each running its rows [first, first + n))
 * draws exactly the noise one process running all rows would.  Error
 * messages keep naming samples by their index in the call. */
void ebm_ctx_set_sample_base(ebm_ctx *ctx, int64_t first);
/* The context's model, and its capacity in samples. */
ebm_model *ebm_ctx_model(const ebm_ctx *ctx);
int64_t ebm_ctx_capacity(const ebm_ctx *ctx);

/* ---- compute ----------------------------------------------------------------- */

/* energy[n] = E(x). */
ebm_status ebm_energy(ebm_ctx *ctx, const float *x, int64_t n, float *energy, ebm_error *err);
/* energy[n] and score[n, ...] = -dE/dx (score may not alias x). */
ebm_status ebm_score(ebm_ctx *ctx, const float *x, int64_t n, float *energy, float *score,
                     ebm_error *err);
/* grad[weights_numel] = sum_i w[i] dE(x_i)/dtheta (overwritten, not accumulated);
 * energy[n] may be NULL. */
ebm_status ebm_param_grad(ebm_ctx *ctx, const float *x, const float *w, int64_t n, float *energy,
                          float *grad, ebm_error *err);
/* The parameter gradient in blocks: grads[k * weights_numel ...] receives
 * sum_{i in block k} w[i] dE(x_i)/dtheta for the blocks [k*block, (k+1)*block)
 * of x[n, ...] (n a multiple of block, 1 <= block <= the model's tile), each
 * block one program call, so a block's bits depend only on its own samples:
 * a caller that adds the blocks in a fixed order gets the same sum however
 * the samples were split over calls, threads or processes.  energy[n] may be
 * NULL. */
ebm_status ebm_param_grad_blocks(ebm_ctx *ctx, const float *x, const float *w, int64_t n, int64_t block,
                                 float *energy, float *grads, ebm_error *err);
/* Denoising score matching: loss[i] = 1/2 ||score(x_i) - target_i||^2 (score =
 * -dE/dx, target of x's shape, e.g. -(x~ - x)/sigma^2 for a noisy x~ of x),
 * and grad[weights_numel] = sum_i dloss_i/dtheta (overwritten, not
 * accumulated); loss[n] may be NULL.  Needs the dsm_grad program, which ebmc
 * compiles only when asked (ebmc --dsm): without it, EBM_ERR_UNSUPPORTED. */
ebm_status ebm_dsm_grad(ebm_ctx *ctx, const float *x, const float *target, int64_t n, float *loss, float *grad,
                        ebm_error *err);
/* ebm_dsm_grad in blocks, as ebm_param_grad_blocks: grads[k * weights_numel
 * ...] receives block k's sum; loss[n] may be NULL. */
ebm_status ebm_dsm_grad_blocks(ebm_ctx *ctx, const float *x, const float *target, int64_t n, int64_t block,
                               float *loss, float *grads, ebm_error *err);

typedef ebm_abi_langevin ebm_langevin_params;

/* DESIGN.md's defaults: 60 steps, step 0.01, noise 0.005, clip 0.03, T = 1,
 * clamp [-1, 1], seed 0, no trajectory. */
ebm_langevin_params ebm_langevin_defaults(void);

/* Runs p->steps Langevin steps on x[n, ...] in place (docs/DESIGN.md):
 *   x <- clamp(x - step_size * clip(dE/dx, +-grad_clip) / temperature + noise_scale * eps, lo, hi)
 * (the clip acts on dE/dx before the temperature divides it, so the chain
 * samples exp(-E_c/T') for one clipped energy E_c at every T); energy[n] (may be NULL)
 * receives the final energies; with p->trajectory_every = M > 0, trajectory
 * receives [1 + steps/M][n][...]: the initial state, then every M-th state.
 * NaN/Inf is an EBM_ERR_NUMERIC error that says at which step and how many
 * samples. */
ebm_status ebm_langevin(ebm_ctx *ctx, float *x, int64_t n, const ebm_langevin_params *p, float *energy,
                        float *trajectory, ebm_error *err);

#endif /* EBM_H */
