/* model_internal.h — what runtime/model.c (loading, contexts) and
 * runtime/run.c (the compute calls) share: the model and context records.
 * Not installed: users see the opaque handles of ebm.h. */
#ifndef EBM_MODEL_INTERNAL_H
#define EBM_MODEL_INTERNAL_H

#include <stdint.h>

#include "ebm.h"

struct ebm_model {
    void *dl;                        /* dlopen handle */
    const ebm_abi_model *d;          /* the descriptor inside the shared object */
    const ebm_abi_program *prog[EBM_PROGRAM_KIND_COUNT];   /* NULL: not compiled in */
    float *weights;                  /* our own EBM_ABI_ALIGN-aligned, writable copy */
    int64_t max_arena;               /* bytes: the largest program's arena */
    char *path;                      /* as given to ebm_model_open, for messages */
};

/* Everything a context needs, allocated by ebm_ctx_new.  The staging buffers
 * hold one tile: the ABI wants EBM_ABI_ALIGN-aligned buffers, and a caller's
 * array seen from tile i is aligned only by luck, so an unaligned tile goes
 * through these copies. */
struct ebm_ctx {
    ebm_model *m;
    int64_t capacity;
    void *arena;                     /* max_arena bytes */
    float *x_stage;                  /* tile * sample_numel */
    float *x_start;                  /* tile * sample_numel: a Langevin tile's initial state */
    float *score_stage;              /* tile * sample_numel */
    float *energy_stage;             /* tile */
    float *w_stage;                  /* tile: sample weights */
    float *grad_stage;               /* weights_numel: param_grad into an unaligned grad */
    float *target_stage;             /* tile * sample_numel if the model has DSM_GRAD, else NULL */
};

/* Not exported from libebm.so. */
#if defined(__GNUC__)
#define EBM_INTERNAL __attribute__((visibility("hidden")))
#else
#define EBM_INTERNAL
#endif

/* Rounds bytes up to a multiple of EBM_ABI_ALIGN (aligned_alloc needs it);
 * -1 on overflow. */
EBM_INTERNAL int64_t ebm__align_up(int64_t bytes);
/* aligned_alloc(EBM_ABI_ALIGN, ...) of `count` floats (at least one), or NULL. */
EBM_INTERNAL float *ebm__alloc_floats(int64_t count);
/* "energy", "score", "param_grad", "langevin", "dsm_grad" (a kind below EBM_PROGRAM_KIND_COUNT). */
EBM_INTERNAL const char *ebm__program_name(ebm_abi_program_kind kind);

#endif /* EBM_MODEL_INTERNAL_H */
