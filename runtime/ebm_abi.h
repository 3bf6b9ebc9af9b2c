/* ebm_abi.h — the binary interface between a compiled model (model.so, made
 * by `ebmc model.onnx -o model.so`) and libebm.
 *
 * A compiled model exports exactly one symbol, EBM_ABI_SYMBOL, a const
 * ebm_abi_model that describes everything: input shape, energy head, the
 * parameter table, ebm.* metadata, the batch tile, and one entry point per
 * program.  libebm checks the magic and the ABI version before it touches
 * anything else.  This header is compiled into both sides (ebmc copies it next
 * to the generated C), so it must stay plain C11 with no includes beyond
 * <stdint.h>.
 *
 * Batching: a program processes one *tile* of 1..tile samples per call; its
 * scratch arena is planned for `tile` samples (shapes are affine in n, so a
 * smaller n uses a prefix of each buffer's room).  The runtime loops over
 * tiles, so one .so serves any N.  Samples are independent, so a tile's
 * results do not depend on which other samples share it; param_grad sums over
 * samples and the runtime adds the tiles' partial sums in tile order.
 *
 * Memory: the caller owns every buffer (weights copy, arena, inputs,
 * outputs), all 64-byte aligned.  A program never allocates.
 */
#ifndef EBM_ABI_H
#define EBM_ABI_H

#include <stdint.h>

#define EBM_ABI_MAGIC 0x434d4245u   /* "EBMC" little-endian */
/* Version 2 added the DSM_GRAD program and ebm_abi_call.target. */
#define EBM_ABI_VERSION 2u
#define EBM_ABI_SYMBOL ebm_abi_model_v2
#define EBM_ABI_SYMBOL_NAME "ebm_abi_model_v2"
#define EBM_ABI_MAX_RANK 6
#define EBM_ABI_ALIGN 64

typedef enum ebm_abi_program_kind {
    EBM_PROGRAM_ENERGY = 0,     /* x -> energy */
    EBM_PROGRAM_SCORE = 1,      /* x -> energy, score = -dE/dx */
    EBM_PROGRAM_PARAM_GRAD = 2, /* x, w -> energy, grad += sum_i w_i dE_i/dtheta (accumulates!) */
    EBM_PROGRAM_LANGEVIN = 3,   /* x (in/out), K steps of the Langevin update -> final energy */
    EBM_PROGRAM_DSM_GRAD = 4,   /* x, target -> loss_i = 1/2 ||-dE/dx(x_i) - target_i||^2 in energy,
                                   grad += sum_i dloss_i/dtheta (accumulates!); optional (ebmc --dsm) */
    EBM_PROGRAM_KIND_COUNT
} ebm_abi_program_kind;

/* Parameters of the Langevin update (DESIGN.md):
 *   x <- clamp(x - step_size * clip(dE/dx / temperature, +-grad_clip) + noise_scale * eps, lo, hi)
 * eps ~ N(0,1) from Philox4x32-10 (runtime/ebm_philox.h) keyed by seed, with
 * the counter (global sample index, global step, element): a sample's noise
 * does not depend on the tile it is in, nor on the thread running it. */
typedef struct ebm_abi_langevin {
    int32_t steps;          /* K >= 0 */
    float step_size;        /* alpha > 0 */
    float noise_scale;      /* sigma >= 0 */
    float grad_clip;        /* c; 0 = no clipping */
    float temperature;      /* T > 0 */
    int32_t clamp;          /* 1: clamp to [lo, hi] */
    float lo, hi;
    uint64_t seed;
    uint64_t step_offset;   /* global index of the first step (for resumed chains) */
    int32_t trajectory_every; /* M > 0: store x before step 0 and after every M-th step; 0 = none */
} ebm_abi_langevin;

/* One call of a program on one tile. */
typedef struct ebm_abi_call {
    int64_t n;                 /* samples in this tile, 1 <= n <= tile */
    int64_t sample_offset;     /* global index of the tile's first sample (RNG counter) */
    const float *weights;      /* all parameters, laid out per ebm_abi_param.offset */
    void *arena;               /* arena_bytes of scratch, EBM_ABI_ALIGN-aligned */
    float *x;                  /* [n, input...]; LANGEVIN updates it in place */
    float *energy;             /* [n] out (LANGEVIN: energies at the final state; DSM_GRAD: losses) */
    float *score;              /* SCORE: [n, input...] out */
    const float *sample_weights; /* PARAM_GRAD: [n] */
    float *param_grad;         /* PARAM_GRAD, DSM_GRAD: weights_numel floats, ACCUMULATED into */
    const ebm_abi_langevin *langevin; /* LANGEVIN only */
    float *trajectory;         /* LANGEVIN with trajectory_every > 0: frame f (f = 0: the
                                  initial state; f >= 1: the state after step f*M) of
                                  sample i starts at trajectory + f * trajectory_stride +
                                  i * sample_numel; frames 0 .. steps / M */
    int64_t trajectory_stride; /* floats between frames (the caller's whole batch) */
    const float *target;       /* DSM_GRAD: [n, input...], the score's target at x */
} ebm_abi_call;

/* Returns 0, or a positive count of non-finite energies/values found (the
 * program stops at the first step that produced one; the runtime reports it). */
typedef int (*ebm_abi_entry)(const ebm_abi_call *call);

typedef struct ebm_abi_program {
    int32_t kind;              /* ebm_abi_program_kind */
    int64_t arena_bytes;       /* scratch needed for a full tile */
    ebm_abi_entry run;
} ebm_abi_program;

typedef struct ebm_abi_param {
    const char *name;          /* the ONNX initializer name */
    int32_t rank;
    int64_t shape[EBM_ABI_MAX_RANK];
    int64_t offset;            /* in floats, into the weights array */
    int64_t numel;
    int32_t trainable;         /* 0 for e.g. BatchNorm running statistics */
} ebm_abi_param;

typedef struct ebm_abi_meta {
    const char *key, *value;   /* the model's metadata_props (ebm.* defaults among them) */
} ebm_abi_meta;

typedef struct ebm_abi_model {
    uint32_t magic;            /* EBM_ABI_MAGIC */
    uint32_t abi_version;      /* EBM_ABI_VERSION */
    const char *compiler_version;
    const char *source_hash;   /* hex digest of the model file it was compiled from */
    int32_t input_rank;        /* including N */
    int64_t input_shape[EBM_ABI_MAX_RANK]; /* input_shape[0] = -1 (N) */
    int64_t sample_numel;      /* elements per sample */
    const char *energy_head;   /* "output", "sum", "neg-logsumexp", "logsumexp" */
    int64_t tile;              /* max samples per call */
    int32_t n_params;
    const ebm_abi_param *params;
    int64_t weights_numel;
    const float *weights;      /* initial values, EBM_ABI_ALIGN-aligned, read-only */
    int32_t n_meta;
    const ebm_abi_meta *meta;
    int32_t n_programs;
    const ebm_abi_program *programs;
} ebm_abi_model;

#endif /* EBM_ABI_H */
