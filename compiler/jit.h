/* jit.h — the in-process backend: the generated C of a model compiled by
 * clang as a library into LLVM IR and run by LLVM's ORC JIT (LLJIT), with no
 * external compiler, no temporary file and no cache.  jit_clang.cpp, the
 * project's only C++ file, built only when CMake finds LLVM and clang
 * (EBMC_JIT; the macro EBMC_HAVE_JIT is defined for the code that calls it).
 *
 * It compiles exactly the C the AOT path hands to the system compiler
 * (codegen.h: ebmc_emit_model), so the kernels have one source of truth;
 * the runtime headers the C includes (ebm_abi.h, ebm_philox.h) come from the
 * texts embedded at build time (cc.h), the C library's and OpenBLAS's headers
 * from the system include folders, clang's own (float.h, immintrin.h) from
 * the resource folder found at configure time.  The C's units (codegen_c_units.c)
 * are compiled on threads, as cc.c runs the C compiler on them side by side;
 * the weights blob becomes a module of its own defining the C's `ebm_blob`.
 *
 * The result is the model's descriptor in memory and the memory ranges the
 * JIT put code and data into, which libebm checks the descriptor against
 * (runtime/ebm_code.h) as it checks a dlopen'ed file against its segments.
 */
#ifndef EBMC_JIT_H
#define EBMC_JIT_H

#include <stdint.h>

#include "ebm_status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ebmc_jit ebmc_jit;   /* the LLVM objects of one compiled model */

typedef struct ebmc_jit_job {
    const char *name;          /* for messages (the model's path) */
    const char *c_source;      /* the model's C */
    int units;                 /* 2..4: its translation units (-DEBM_UNIT=k), compiled on threads into
                                  modules of one JIT; else it is compiled whole */
    int jobs;                  /* threads at once (0: $EBMC_JOBS, else the online CPUs) */
    const float *blob;         /* the weights blob: the definition of ebm_blob */
    int64_t blob_floats;
    unsigned blob_align;       /* bytes, a power of two (EBMC_ALIGN: like the arena) */
    int opt_level;             /* 0..3, as -O */
    const char *symbol;        /* the descriptor's symbol (EBM_ABI_SYMBOL_NAME) */
    int verbose;               /* front end and code generation times on stderr */
    int linked_kernels;        /* 1: the kernels of kernels/ebmk_linked.def are not compiled from the C
                                  but called compiled, optimised, from this library when it has them for
                                  this CPU (ebmc_jit_host_kernels): the quick tier's -O0 code then runs
                                  its GEMMs and convolutions at full speed, with the same bits */
} ebmc_jit_job;

/* Compiles and links job->c_source for this CPU (its name and features, like
 * -march=native).  On success *out holds the JIT; free it with ebmc_jit_free
 * once nothing runs its code.  Errors name job->name and hold clang's first
 * diagnostics. */
ebm_status ebmc_jit_compile(const ebmc_jit_job *job, ebmc_jit **out, ebm_error *err);

/* The two halves of ebmc_jit_compile with object files between them, for a
 * compile in another process (jit_tier.c): the units of job->c_source
 * compiled for this CPU at job->opt_level, each object handed to sink in
 * unit order (sink's error ends it); then a JIT linked from such objects and
 * job's blob. */
typedef ebm_status (*ebmc_jit_sink)(void *ctx, const void *object, uint64_t size, ebm_error *err);
ebm_status ebmc_jit_emit_objects(const ebmc_jit_job *job, ebmc_jit_sink sink, void *ctx, ebm_error *err);
ebm_status ebmc_jit_link_objects(const ebmc_jit_job *job, const void *const *objects, const uint64_t *sizes, int n,
                                 ebmc_jit **out, ebm_error *err);

/* The descriptor (an ebm_abi_model) inside the JIT's memory. */
const void *ebmc_jit_descriptor(const ebmc_jit *j);

/* The memory ranges of the JIT's sections, k < ebmc_jit_region_count(j):
 * code when *executable, else data. */
int ebmc_jit_region_count(const ebmc_jit *j);
void ebmc_jit_region(const ebmc_jit *j, int k, const void **start, uint64_t *size, int *executable);

/* ---- two tiers (jit_tier.c) ---- */
struct ebm_model;
typedef struct ebmc_jit_tiered ebmc_jit_tiered;   /* owned by the model it opened */

/* Compiles job (ebmc_jit_compile) and opens the model on that code
 * (ebm_model_open_code: the descriptor checked against the JIT's memory
 * ranges); the model owns the JIT.  Close it with ebm_model_close. */
ebm_status ebmc_jit_open(const ebmc_jit_job *job, struct ebm_model **out, ebm_error *err);

/* Compiles job at -O0 in this process and opens the model on that code
 * (*out: close it with ebm_model_close), then compiles it at job->opt_level
 * in a child process; when that is ready, a thread moves the model's
 * programs to it (ebm_model_upgrade_code in runtime/ebm_code.h).  The
 * results are the same bits on either code.  Closing the model stops the
 * child.  *tier (may be NULL) is valid until the model is closed. */
ebm_status ebmc_jit_open_tiered(const ebmc_jit_job *job, struct ebm_model **out, ebmc_jit_tiered **tier,
                                ebm_error *err);

/* Waits until the model runs its optimised code (EBM_OK, *seconds: how long
 * the optimising compile took) or stays on the -O0 code (the reason). */
ebm_status ebmc_jit_tier_wait(ebmc_jit_tiered *t, double *seconds, ebm_error *err);

void ebmc_jit_free(ebmc_jit *j);

/* ---- compiled kernels (jit_kernels.c) ---- */
struct ebmk_linked_kernels;

/* The table of compiled kernels (kernels/ebmk_linked.h) whose vector path
 * is this CPU's, or NULL when the library has none for it. */
const struct ebmk_linked_kernels *ebmc_jit_host_kernels(void);

/* The JIT's name of kernel k of kernels/ebmk_linked.def (NULL out of range). */
const char *ebmc_jit_linked_name(int k);

/* ebmc_jit_free with a void pointer (the release hook of runtime/ebm_code.h). */
void ebmc_jit_release(void *j);

#ifdef __cplusplus
}
#endif

#endif /* EBMC_JIT_H */
