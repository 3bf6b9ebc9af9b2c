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
 * Trust (ABI 3): libebm reads the file before loading it (runtime/model_file.c)
 * and loads only an inert shared object (no constructors, no IFUNC, only the
 * libraries a model links) whose descriptor's first fields — plain numbers,
 * no relocation, so they can be read from the file — match the file: a digest
 * of its code (everything the loader maps but the weights blob) and of its
 * weights, and CPU features the running CPU has.  ebmc writes the two digests
 * after linking (compiler/seal.c); a hand-written model (tests/data/runtime)
 * is sealed the same way.  After loading, every pointer of the descriptor is
 * checked against the mapped segments before it is used.
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
/* Version 2 added the DSM_GRAD program and ebm_abi_call.target; version 3 the
 * code and weights digests, blob_bytes and the target ISA. */
#define EBM_ABI_VERSION 3u
#define EBM_ABI_SYMBOL ebm_abi_model_v3
#define EBM_ABI_SYMBOL_NAME "ebm_abi_model_v3"
#define EBM_ABI_MAX_RANK 6
#define EBM_ABI_ALIGN 64
#define EBM_ABI_ISA_NAME_MAX 24

/* CPU features a model's code may use beyond the x86-64 baseline (SSE2):
 * X(NAME, bit, "name", "the compiler's predefined macro").  The generated C
 * sets ebm_abi_model.isa_features from the macros its -march defines, so the
 * set is what the compiler was allowed to emit; libebm refuses a model that
 * needs a feature the running CPU (CPUID, and the OS for AVX state) lacks.
 * Only features a compiler emits for plain C are listed (no AES, SHA, AMX:
 * they come from intrinsics, which models do not use).  Bits are stored in
 * model files: never renumber. */
#define EBM_ABI_ISA_FEATURES(X)                                                                          \
    X(SSE3, 0, "sse3", "__SSE3__") X(SSSE3, 1, "ssse3", "__SSSE3__") X(SSE4_1, 2, "sse4.1", "__SSE4_1__")   \
    X(SSE4_2, 3, "sse4.2", "__SSE4_2__") X(SSE4A, 4, "sse4a", "__SSE4A__") X(POPCNT, 5, "popcnt", "__POPCNT__") \
    X(CX16, 6, "cx16", "__GCC_HAVE_SYNC_COMPARE_AND_SWAP_16") X(LAHF_SAHF, 7, "lahf_sahf", "__LAHF_SAHF__")     \
    X(MOVBE, 8, "movbe", "__MOVBE__") X(LZCNT, 9, "lzcnt", "__LZCNT__") X(BMI, 10, "bmi", "__BMI__")            \
    X(BMI2, 11, "bmi2", "__BMI2__") X(TBM, 12, "tbm", "__TBM__") X(PRFCHW, 13, "prfchw", "__PRFCHW__")          \
    X(AVX, 14, "avx", "__AVX__") X(AVX2, 15, "avx2", "__AVX2__") X(FMA, 16, "fma", "__FMA__")                   \
    X(F16C, 17, "f16c", "__F16C__") X(FMA4, 18, "fma4", "__FMA4__") X(XOP, 19, "xop", "__XOP__")                \
    X(AVX512F, 20, "avx512f", "__AVX512F__") X(AVX512CD, 21, "avx512cd", "__AVX512CD__")                       \
    X(AVX512BW, 22, "avx512bw", "__AVX512BW__") X(AVX512DQ, 23, "avx512dq", "__AVX512DQ__")                    \
    X(AVX512VL, 24, "avx512vl", "__AVX512VL__") X(AVX512IFMA, 25, "avx512ifma", "__AVX512IFMA__")              \
    X(AVX512VBMI, 26, "avx512vbmi", "__AVX512VBMI__") X(AVX512VBMI2, 27, "avx512vbmi2", "__AVX512VBMI2__")     \
    X(AVX512VNNI, 28, "avx512vnni", "__AVX512VNNI__") X(AVX512BITALG, 29, "avx512bitalg", "__AVX512BITALG__")  \
    X(AVX512VPOPCNTDQ, 30, "avx512vpopcntdq", "__AVX512VPOPCNTDQ__")                                          \
    X(AVX512BF16, 31, "avx512bf16", "__AVX512BF16__") X(AVX512FP16, 32, "avx512fp16", "__AVX512FP16__")        \
    X(AVX512VP2INTERSECT, 33, "avx512vp2intersect", "__AVX512VP2INTERSECT__")                                 \
    X(AVXVNNI, 34, "avxvnni", "__AVXVNNI__") X(AVXIFMA, 35, "avxifma", "__AVXIFMA__")                          \
    X(AVXVNNIINT8, 36, "avxvnniint8", "__AVXVNNIINT8__") X(AVXNECONVERT, 37, "avxneconvert", "__AVXNECONVERT__") \
    X(GFNI, 38, "gfni", "__GFNI__")

#define EBM_ABI_ISA_BIT_(name, bit, text, macro) EBM_ISA_##name = bit,
enum ebm_abi_isa_bit { EBM_ABI_ISA_FEATURES(EBM_ABI_ISA_BIT_) EBM_ISA_BIT_COUNT = 39 };
#undef EBM_ABI_ISA_BIT_

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
    /* Read from the file before it is loaded: plain values, no pointers. */
    uint64_t code_hash;        /* base_digest64 (base/digest.h) of the ELF header, the program headers and
                                  every PT_LOAD's file bytes, the weights blob left out and these two
                                  fields read as zero (base_elf_digest) */
    uint64_t weights_hash;     /* base_digest64 of the blob_bytes bytes of the weights blob */
    int64_t blob_bytes;        /* the blob `weights` points to: the parameters' weights_numel floats,
                                  then the large constants the programs read */
    uint64_t isa_features;     /* 1 << EBM_ISA_* for each CPU feature the code may use */
    char isa[EBM_ABI_ISA_NAME_MAX]; /* the target it was compiled for ("native", "x86-64-v3", ...), NUL-terminated */
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
    const float *weights;      /* initial values, EBM_ABI_ALIGN-aligned, read-only: the blob */
    int32_t n_meta;
    const ebm_abi_meta *meta;
    int32_t n_programs;
    const ebm_abi_program *programs;
} ebm_abi_model;

#endif /* EBM_ABI_H */
