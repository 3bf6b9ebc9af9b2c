/* model_internal.h — what runtime/model.c (loading, contexts) and
 * runtime/run.c (the compute calls) share: the model and context records.
 * Not installed: users see the opaque handles of ebm.h. */
#ifndef EBM_MODEL_INTERNAL_H
#define EBM_MODEL_INTERNAL_H

#include <stdint.h>

#include "ebm.h"

/* OpenBLAS's thread-count calls, found through the model's dependencies
 * (libebm does not link a BLAS); NULL when the model does not use OpenBLAS. */
typedef void (*ebm_blas_set_threads_fn)(int);
typedef int (*ebm_blas_get_threads_fn)(void);

struct ebm_model {
    void *dl;                        /* dlopen handle */
    void *code_owner;                /* in-process code (ebm_code.h): released on close */
    void (*code_release)(void *owner);
    const ebm_abi_model *d;          /* the descriptor inside the shared object, or &view */
    ebm_abi_model view;              /* the descriptor with the metadata of ebm_model_set_meta */
    ebm_abi_meta *meta;              /* that metadata, owned: n_meta entries, then their strings */
    const ebm_abi_program *prog[EBM_PROGRAM_KIND_COUNT];   /* NULL: not compiled in */
    float *weights;                  /* our own EBM_ABI_ALIGN-aligned, writable copy */
    int64_t max_arena;               /* bytes: the largest program's arena */
    char *path;                      /* as given to ebm_model_open, for messages */
    ebm_blas_set_threads_fn blas_set_threads;
    ebm_blas_get_threads_fn blas_get_threads;
    int upgrade_pending;             /* atomic: faster code of the same C is on its way (ebm_code.h) */
    int64_t quick_code_ms;           /* atomic: how long calls have run on the code it will replace */
};

/* The program of `kind`, NULL when it is not compiled in.  An in-process
 * model's programs can be swapped for faster code compiled from the same C
 * while other threads run calls (ebm_code.h: ebm_model_upgrade_code), so
 * each call reads its program once, through this. */
static inline const ebm_abi_program *ebm__prog(const ebm_model *m, int kind)
{
    return __atomic_load_n(&m->prog[kind], __ATOMIC_ACQUIRE);
}

/* A bad_count: samples with a non-finite energy or row, and the first of
 * them (global index, -1 if none). */
typedef struct ebm_bad_count {
    int64_t samples;
    int64_t first;
} ebm_bad_count;

/* One thread's share of a context: its own arena and staging buffers (the ABI
 * wants EBM_ABI_ALIGN-aligned buffers, and a caller's array seen from tile i
 * is aligned only by luck, so an unaligned tile goes through these copies),
 * and what its tiles found, merged by the caller in tile order. */
typedef struct ebm_worker {
    void *arena;                     /* max_arena bytes */
    float *x_stage;                  /* tile * sample_numel */
    float *x_start;                  /* tile * sample_numel: a Langevin tile's initial state */
    float *score_stage;              /* tile * sample_numel */
    float *energy_stage;             /* tile */
    float *w_stage;                  /* tile: sample weights */
    float *target_stage;             /* tile * sample_numel if the model has DSM_GRAD, else NULL */
    float *grad_part;                /* weights_numel: this thread's tile's param_grad */
    /* results of the current call */
    ebm_bad_count bad;
    int64_t fail_tile;               /* the first tile that failed (INT64_MAX: none) */
    ebm_status fail_status;
    ebm_error fail_err;
} ebm_worker;

/* A fixed set of threads that run one function on several tids (pool.c). */
typedef struct ebm_pool ebm_pool;
typedef void (*ebm_task)(void *arg, int tid);

/* Everything a context needs, allocated by ebm_ctx_new. */
struct ebm_ctx {
    ebm_model *m;
    int64_t capacity;
    int threads;                     /* workers; the pool holds threads - 1 of them */
    int blas_threads;                /* OpenBLAS threads inside a single-threaded call */
    ebm_worker *w;                   /* [threads] */
    ebm_pool *pool;                  /* NULL when threads == 1 */
    int64_t sample_base;             /* global index of sample 0 of a call (ebm_ctx_set_sample_base) */
};

/* The smallest part run.c splits a batch into when it has fewer tiles than
 * threads (a vector of 16 samples: the Winograd chunk, aligned staging rows). */
#define EBM__PART 16

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

/* A pool of threads - 1 started threads (the caller is tid 0); NULL when
 * threads < 2 or out of memory/threads (the caller tells them apart). */
EBM_INTERNAL ebm_pool *ebm__pool_new(int threads);
EBM_INTERNAL void ebm__pool_free(ebm_pool *p);
/* fn(arg, tid) for tid 0 .. active-1 (tid 0 on this thread); returns when all
 * have returned.  Allocates nothing. */
EBM_INTERNAL void ebm__pool_run(ebm_pool *p, int active, ebm_task fn, void *arg);

#endif /* EBM_MODEL_INTERNAL_H */
