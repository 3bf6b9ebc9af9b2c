/* buffer.c — the persistent sample buffer (buffer.h): a ring of `capacity`
 * samples, oldest at `head`.
 *
 * Randomness: draw d uses Philox blocks under a key derived from the seed,
 * with counter (block, d, stream): stream 0 gives the Binomial's B uniforms,
 * stream 1 the partial Fisher-Yates shuffle that picks buffer entries without
 * replacement.  Fresh states come from ebm_init_states with stream = d + 1
 * (stream 0 is what `ebm sample --init` uses) and sample indices 0..k-1.
 *
 * A shard (ebm_buffer_shard) keeps the ring's bookkeeping whole but stores
 * only the slots its rank owns, packed: slot s of group g = s / group, lane
 * l = s % group is owned by rank l / share and stored at g * share + l % share.
 */
#include "buffer.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bigmem.h"
#include "ebm_philox.h"
#include "npy.h"

#define BUFFER_KEY_TWEAK 0x6275666665725f64ull   /* "buffer_d" */

struct ebm_buffer {
    int64_t capacity, numel;
    int64_t count, head;     /* samples held; ring index of the oldest */
    uint64_t draws;          /* draws made so far */
    int64_t group, share;    /* a shard: slot lanes per group, lanes per rank (unsharded: capacity, capacity) */
    int rank, size;          /* the shard's rank of `size` (unsharded: 0 of 1) */
    int64_t stored;          /* slots stored here: capacity, or a shard's ceil(capacity / group) * share */
    float *data;             /* [stored, numel] */
    int64_t *perm;           /* [capacity] scratch for drawing without replacement */
};

ebm_status ebm_buffer_new(int64_t capacity, int64_t numel, ebm_buffer **out, ebm_error *err)
{
    *out = NULL;
    if (capacity < 1 || numel < 1)
        return ebm_fail(err, EBM_ERR_INVALID, "sample buffer: capacity %lld and sample size %lld: expected both >= 1",
                        (long long)capacity, (long long)numel);
    if (capacity > INT64_MAX / numel / (int64_t)sizeof(float))
        return ebm_fail(err, EBM_ERR_NOMEM, "sample buffer: %lld samples of %lld values do not fit in memory",
                        (long long)capacity, (long long)numel);
    ebm_buffer *b = calloc(1, sizeof *b);
    if (b) {
        b->data = base_bigmem_alloc((size_t)(capacity * numel) * sizeof(float));
        b->perm = malloc((size_t)capacity * sizeof *b->perm);
    }
    if (!b || !b->data || !b->perm) {
        ebm_buffer_free(b);
        return ebm_fail(err, EBM_ERR_NOMEM, "sample buffer: out of memory for %lld samples of %lld values",
                        (long long)capacity, (long long)numel);
    }
    b->capacity = capacity;
    b->numel = numel;
    b->group = b->share = b->stored = capacity;
    b->size = 1;
    *out = b;
    return EBM_OK;
}

void ebm_buffer_free(ebm_buffer *b)
{
    if (!b)
        return;
    free(b->data);
    free(b->perm);
    free(b);
}

int64_t ebm_buffer_count(const ebm_buffer *b)
{
    return b->count;
}

int64_t ebm_buffer_capacity(const ebm_buffer *b)
{
    return b->capacity;
}

void ebm_buffer_copy_ring(ebm_buffer *dst, const ebm_buffer *src)
{
    dst->count = src->count;
    dst->head = src->head;
    dst->draws = src->draws;
}

uint64_t ebm_buffer_draws(const ebm_buffer *b)
{
    return b->draws;
}

void ebm_buffer_set_draws(ebm_buffer *b, uint64_t draws)
{
    b->draws = draws;
}

int ebm_buffer_owner(const ebm_buffer *b, int64_t slot)
{
    return b->size == 1 ? 0 : (int)(slot % b->group / b->share);
}

float *ebm_buffer_slot(const ebm_buffer *b, int64_t slot)
{
    const int64_t at = b->size == 1 ? slot : slot / b->group * b->share + slot % b->group % b->share;
    return b->data + at * b->numel;
}

int64_t ebm_buffer_slot_of(const ebm_buffer *b, int64_t j)
{
    return (b->head + j) % b->capacity;
}

const float *ebm_buffer_sample(const ebm_buffer *b, int64_t j)
{
    return ebm_buffer_slot(b, ebm_buffer_slot_of(b, j));
}

ebm_status ebm_buffer_shard(ebm_buffer *b, int64_t group, int rank, int size, ebm_error *err)
{
    if (b->size != 1 || size < 1 || rank < 0 || rank >= size || group < 1 || group % size != 0)
        return ebm_fail(err, EBM_ERR_INVALID, "sample buffer: shard %d of %d in groups of %lld: expected an unsharded "
                        "buffer, 0 <= rank < size and size dividing the group", rank, size, (long long)group);
    if (size == 1)
        return EBM_OK;
    const int64_t share = group / size;
    b->group = group;
    b->share = share;
    b->rank = rank;
    b->size = size;
    b->stored = (b->capacity + group - 1) / group * share;
    /* packed in slot order: a slot's packed place is never after its own, so this moves data forward only */
    for (int64_t s = 0; s < b->capacity; s++)
        if (ebm_buffer_owner(b, s) == rank)
            memmove(ebm_buffer_slot(b, s), b->data + s * b->numel, (size_t)b->numel * sizeof(float));
    float *d = realloc(b->data, (size_t)(b->stored * b->numel) * sizeof(float));
    if (d)   /* a failed shrink keeps the larger block */
        b->data = d;
    return EBM_OK;
}

/* Uniform word i of (draw d, stream) under the buffer's key. */
static uint32_t draw_word(uint64_t seed, uint64_t d, uint32_t stream, int64_t i)
{
    const uint64_t key = seed ^ BUFFER_KEY_TWEAK;
    uint32_t c[4] = {(uint32_t)(i / 4), (uint32_t)d, (uint32_t)(d >> 32), stream};
    ebm_philox4x32_10(c, (uint32_t)key, (uint32_t)(key >> 32));
    return c[i % 4];
}

ebm_status ebm_buffer_plan_draw(ebm_buffer *b, int64_t B, double p, uint64_t seed, int64_t *slots, int64_t *n_fresh,
                                ebm_error *err)
{
    if (B < 0 || (B > 0 && !slots))
        return ebm_fail(err, EBM_ERR_INVALID, "sample buffer: draw of %lld samples: expected B >= 0 and its slots "
                        "non-NULL", (long long)B);
    if (!(p >= 0 && p <= 1))
        return ebm_fail(err, EBM_ERR_INVALID, "sample buffer: re-init probability %g: expected 0 <= p <= 1", p);
    const uint64_t d = b->draws++;
    int64_t k = 0;
    for (int64_t i = 0; i < B; i++)
        k += ebm_philox_uniform(draw_word(seed, d, 0, i)) <= p;
    if (B - k > b->count)   /* too few stored: fresh ones pad the draw */
        k = B - b->count;
    for (int64_t i = 0; i < k; i++)
        slots[i] = -1;
    /* B - k distinct entries: the first B - k of a partial Fisher-Yates shuffle */
    for (int64_t j = 0; j < b->count; j++)
        b->perm[j] = j;
    for (int64_t i = 0; i < B - k; i++) {
        uint64_t r = ((uint64_t)draw_word(seed, d, 1, 2 * i) << 32) | draw_word(seed, d, 1, 2 * i + 1);
        int64_t j = i + (int64_t)(r % (uint64_t)(b->count - i));
        int64_t t = b->perm[i];
        b->perm[i] = b->perm[j];
        b->perm[j] = t;
        slots[k + i] = ebm_buffer_slot_of(b, b->perm[i]);
    }
    *n_fresh = k;
    return EBM_OK;
}

void ebm_buffer_fresh(const ebm_buffer *b, const ebm_buffer_init *init, int64_t first, float *x, int64_t n)
{
    ebm_init_states_sd(init->kind, init->lo, init->hi, init->sd, init->seed, b->draws, first, x, n, b->numel);
}

ebm_status ebm_buffer_draw(ebm_buffer *b, float *x, int64_t B, double p, const ebm_buffer_init *init,
                           int64_t *n_fresh, ebm_error *err)
{
    if (B < 0 || (B > 0 && !x) || !init)
        return ebm_fail(err, EBM_ERR_INVALID, "sample buffer: draw of %lld samples: expected B >= 0, x and init "
                        "non-NULL", (long long)B);
    if (b->size != 1)
        return ebm_fail(err, EBM_ERR_INVALID, "sample buffer: a draw from a shard needs the other ranks' samples");
    int64_t *slots = malloc((size_t)(B > 0 ? B : 1) * sizeof *slots), k = 0;
    if (!slots)
        return ebm_fail(err, EBM_ERR_NOMEM, "sample buffer: out of memory for a draw of %lld samples", (long long)B);
    ebm_status st = ebm_buffer_plan_draw(b, B, p, init->seed, slots, &k, err);
    if (!st) {
        ebm_buffer_fresh(b, init, 0, x, k);
        for (int64_t i = k; i < B; i++)
            memcpy(x + i * b->numel, ebm_buffer_slot(b, slots[i]), (size_t)b->numel * sizeof(float));
        if (n_fresh)
            *n_fresh = k;
    }
    free(slots);
    return st;
}

void ebm_buffer_plan_push(ebm_buffer *b, int64_t B, int64_t *slots)
{
    /* only the newest `capacity` of x can survive */
    int64_t skip = B > b->capacity ? B - b->capacity : 0;
    for (int64_t i = 0; i < skip; i++)
        slots[i] = -1;
    for (int64_t i = skip; i < B; i++) {
        if (b->count < b->capacity) {
            slots[i] = (b->head + b->count) % b->capacity;
            b->count++;
        } else {
            slots[i] = b->head;
            b->head = (b->head + 1) % b->capacity;
        }
    }
}

ebm_status ebm_buffer_push(ebm_buffer *b, const float *x, int64_t B, ebm_error *err)
{
    if (B < 0 || (B > 0 && !x))
        return ebm_fail(err, EBM_ERR_INVALID, "sample buffer: push of %lld samples: expected B >= 0 and x non-NULL",
                        (long long)B);
    if (b->size != 1)
        return ebm_fail(err, EBM_ERR_INVALID, "sample buffer: a push into a shard needs the other ranks' samples");
    /* a slot at a time: x may hold any number of samples */
    int64_t skip = B > b->capacity ? B - b->capacity : 0;
    for (int64_t i = skip; i < B; i++) {
        int64_t slot;
        ebm_buffer_plan_push(b, 1, &slot);
        memcpy(ebm_buffer_slot(b, slot), x + i * b->numel, (size_t)b->numel * sizeof(float));
    }
    return EBM_OK;
}

ebm_status ebm_buffer_save(const ebm_buffer *b, const char *path, int sample_rank, const int64_t *sample_shape,
                           ebm_error *err)
{
    int64_t shape[EBM_NPY_MAX_RANK], numel = 1;
    if (b->size != 1)
        return ebm_fail(err, EBM_ERR_INVALID, "%s: sample buffer: a shard holds part of the samples: save the "
                        "gathered buffer", path);
    if (sample_rank < 0 || sample_rank >= EBM_NPY_MAX_RANK)
        return ebm_fail(err, EBM_ERR_INVALID, "%s: sample buffer: sample rank %d: expected 0..%d", path, sample_rank,
                        EBM_NPY_MAX_RANK - 1);
    shape[0] = b->count;
    for (int i = 0; i < sample_rank; i++) {
        shape[1 + i] = sample_shape[i];
        numel *= sample_shape[i];
    }
    if (numel != b->numel)
        return ebm_fail(err, EBM_ERR_SHAPE, "%s: sample buffer: the sample shape holds %lld values, the buffer's "
                        "samples %lld", path, (long long)numel, (long long)b->numel);
    /* oldest first: unroll the ring into a contiguous copy */
    float *flat = malloc((size_t)(b->count ? b->count * b->numel : 1) * sizeof(float));
    if (!flat)
        return ebm_fail(err, EBM_ERR_NOMEM, "%s: sample buffer: out of memory for the copy to save", path);
    for (int64_t j = 0; j < b->count; j++)
        memcpy(flat + j * b->numel, ebm_buffer_sample(b, j), (size_t)b->numel * sizeof(float));
    ebm_status st = ebm_npy_write(path, EBM_NPY_F32, 1 + sample_rank, shape, flat, err);
    free(flat);
    return st;
}

ebm_status ebm_buffer_load(ebm_buffer *b, const char *path, ebm_error *err)
{
    if (b->size != 1)
        return ebm_fail(err, EBM_ERR_INVALID, "%s: sample buffer: load the whole buffer, then shard it", path);
    ebm_array a = {0};
    ebm_status st = ebm_npy_read(path, &a, err);
    if (st)
        return st;
    int64_t per = 1;
    for (int i = 1; i < a.rank; i++)
        per *= a.shape[i];
    if (a.rank < 1 || per != b->numel || a.dtype == EBM_NPY_I64) {
        ebm_array_free(&a);
        return ebm_fail(err, EBM_ERR_SHAPE, "%s: a sample buffer must be a float array [count, ...] with %lld values "
                        "per sample (the model's input); this file has rank %d and %lld values per sample",
                        path, (long long)b->numel, a.rank, (long long)(a.rank >= 1 ? per : 0));
    }
    if ((st = ebm_array_check_finite(&a, path, err))) {
        ebm_array_free(&a);
        return st;
    }
    const int64_t total = a.shape[0], keep = total < b->capacity ? total : b->capacity, first = total - keep;
    for (int64_t j = 0; j < keep; j++) {
        float *dst = b->data + j * b->numel;
        for (int64_t e = 0; e < b->numel; e++) {
            int64_t at = (first + j) * b->numel + e;
            dst[e] = a.dtype == EBM_NPY_F32 ? ((const float *)a.data)[at] : (float)((const double *)a.data)[at];
        }
    }
    ebm_array_free(&a);
    for (int64_t j = 0; j < keep * b->numel; j++)
        if (!isfinite(b->data[j])) {
            b->count = 0;
            return ebm_fail(err, EBM_ERR_NUMERIC, "%s: sample %lld of the buffer holds a float64 value beyond "
                            "float32's range", path, (long long)(first + j / b->numel));
        }
    b->count = keep;
    b->head = 0;
    return EBM_OK;
}

ebm_status ebm_buffer_copy(ebm_buffer *dst, const ebm_buffer *src, ebm_error *err)
{
    if (dst->capacity != src->capacity || dst->numel != src->numel || dst->size != src->size ||
        dst->rank != src->rank || dst->group != src->group)
        return ebm_fail(err, EBM_ERR_INVALID, "sample buffer copy: capacity %lld x %lld values (shard %d of %d) into "
                        "%lld x %lld (shard %d of %d)", (long long)src->capacity, (long long)src->numel, src->rank,
                        src->size, (long long)dst->capacity, (long long)dst->numel, dst->rank, dst->size);
    dst->count = src->count;
    dst->head = src->head;
    dst->draws = src->draws;
    /* a ring that is not full has head 0: its samples are the first `count` slots */
    for (int64_t s = 0; s < src->count; s++)
        if (ebm_buffer_owner(src, s) == src->rank)
            memcpy(ebm_buffer_slot(dst, s), ebm_buffer_slot(src, s), (size_t)src->numel * sizeof(float));
    return EBM_OK;
}
