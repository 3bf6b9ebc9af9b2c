/* buffer.h — the persistent sample buffer of contrastive-divergence training
 * (and of `ebm sample --buffer`): a first-in-first-out store of up to
 * `capacity` samples.
 *
 * A draw of B samples takes k ~ Binomial(B, p) fresh states (uniform in the
 * clamp range, or standard normal) and the other B - k from the buffer,
 * chosen uniformly without replacement; when the buffer holds fewer than
 * B - k, fresh states pad the draw.  The drawn samples stay in the buffer; an
 * update appends the B evolved samples and evicts the oldest beyond capacity.
 * Draw i's randomness is a pure function of (seed, i), so a buffer saved with
 * its draw counter and reloaded continues the same sequence.
 *
 * Sharded (data-parallel training, runtime/train.h): every rank keeps the
 * whole ring's bookkeeping (count, head, draw counter) but stores only the
 * slots it owns; a draw is planned on every rank (the same slots everywhere)
 * and the trainer moves each drawn or pushed sample between its slot's owner
 * and the rank of its batch row.
 *
 * Save/load: a float32 .npy [count, ...sample dims], oldest first, written
 * atomically (temporary file + rename).
 */
#ifndef EBM_BUFFER_H
#define EBM_BUFFER_H

#include <stdint.h>

#include "ebm_status.h"
#include "sampler.h"

typedef struct ebm_buffer ebm_buffer;

/* An empty buffer for samples of `numel` values (capacity >= 1). */
ebm_status ebm_buffer_new(int64_t capacity, int64_t numel, ebm_buffer **out, ebm_error *err);
void ebm_buffer_free(ebm_buffer *b);

int64_t ebm_buffer_count(const ebm_buffer *b);
int64_t ebm_buffer_capacity(const ebm_buffer *b);
/* Sample j (0 = oldest) of the buffer, numel values. */
const float *ebm_buffer_sample(const ebm_buffer *b, int64_t j);

/* How fresh states are made. */
typedef struct ebm_buffer_init {
    ebm_init_kind kind;
    float lo, hi;          /* uniform range (the sampler's clamp range) */
    float sd;              /* normal: the standard deviation (0 = 1: standard normal) */
    uint64_t seed;
} ebm_buffer_init;

/* Fills x[B, numel]: fresh states first (their count in *n_fresh, may be
 * NULL), then samples from the buffer.  p in [0, 1].  Advances the draw
 * counter. */
ebm_status ebm_buffer_draw(ebm_buffer *b, float *x, int64_t B, double p, const ebm_buffer_init *init,
                           int64_t *n_fresh, ebm_error *err);

/* Appends x[B, numel], evicting the oldest beyond capacity. */
ebm_status ebm_buffer_push(ebm_buffer *b, const float *x, int64_t B, ebm_error *err);

/* Makes dst an exact copy of src (same capacity and sample size, and the
 * same shard). */
ebm_status ebm_buffer_copy(ebm_buffer *dst, const ebm_buffer *src, ebm_error *err);

/* The draw counter (what a checkpoint stores to resume the same draws). */
uint64_t ebm_buffer_draws(const ebm_buffer *b);
void ebm_buffer_set_draws(ebm_buffer *b, uint64_t draws);

/* ---- slots and shards ---- */
/* The ring slot of sample j (0 = oldest). */
int64_t ebm_buffer_slot_of(const ebm_buffer *b, int64_t j);
/* The rank that stores ring slot `slot` (0 when not sharded), and the slot's
 * numel values (only where it is stored). */
int ebm_buffer_owner(const ebm_buffer *b, int64_t slot);
float *ebm_buffer_slot(const ebm_buffer *b, int64_t slot);
/* Keeps only rank's slots of an unsharded buffer: lane l = slot % group
 * belongs to rank l / (group / size) (size divides group), so when pushes of
 * `group` samples start at multiples of group, batch row i lands in a slot of
 * the rank that owns row i.  The ring's bookkeeping is unchanged. */
ebm_status ebm_buffer_shard(ebm_buffer *b, int64_t group, int rank, int size, ebm_error *err);
/* The draw of ebm_buffer_draw without the samples: advances the draw counter,
 * gives its fresh count (rows [0, *n_fresh)) and the ring slot of every other
 * row in slots[B] (-1 for a fresh row). */
ebm_status ebm_buffer_plan_draw(ebm_buffer *b, int64_t B, double p, uint64_t seed, int64_t *slots, int64_t *n_fresh,
                                ebm_error *err);
/* After a plan: the fresh states of rows [first, first + n) into x[n, numel]. */
void ebm_buffer_fresh(const ebm_buffer *b, const ebm_buffer_init *init, int64_t first, float *x, int64_t n);
/* dst takes src's count, head and draw counter (not its samples): a whole
 * buffer being gathered from shards (same capacity). */
void ebm_buffer_copy_ring(ebm_buffer *dst, const ebm_buffer *src);
/* The push of B samples without the samples: the slot each row goes to in
 * slots[B] (-1: evicted within the push itself, B > capacity). */
void ebm_buffer_plan_push(ebm_buffer *b, int64_t B, int64_t *slots);

/* Writes [count, sample_shape...] (sample_rank dims whose product is numel). */
ebm_status ebm_buffer_save(const ebm_buffer *b, const char *path, int sample_rank, const int64_t *sample_shape,
                           ebm_error *err);
/* Replaces the contents with a file's samples (float32 or float64 .npy whose
 * per-sample size is numel; the newest `capacity` are kept). */
ebm_status ebm_buffer_load(ebm_buffer *b, const char *path, ebm_error *err);

#endif /* EBM_BUFFER_H */
