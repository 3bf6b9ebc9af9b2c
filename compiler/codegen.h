/* codegen.h — from an energy graph to a compiled model (model.so).
 *
 * ebmc_compile_model builds the programs (energy, score, param_grad, the
 * fused Langevin program and, when asked, dsm_grad), schedules and memory-plans each, emits one C file
 * (readable: one function per kernel, named and commented after the nodes it
 * covers) plus the weights as a binary blob pulled in with an assembler
 * .incbin, and runs the system C compiler to produce a self-contained,
 * position-independent shared object exporting the descriptor of
 * runtime/ebm_abi.h.  The output is written to a temporary file in the
 * destination folder and renamed into place.
 */
#ifndef EBMC_CODEGEN_H
#define EBMC_CODEGEN_H

#include <stdint.h>

#include "ir.h"

typedef struct ebmc_compile_options {
    int opt_level;            /* 0..3 -> -O0..-O3 (default 3) */
    const char *target_cpu;   /* "native" (default), "x86-64-v4", "x86-64-v3", "generic", or a -march value;
                                 recorded in the descriptor with the CPU features it allows */
    const char *cc;           /* C compiler (default: $CC, else "cc") */
    int keep_temps;           /* keep the generated C/asm/blob; their folder is reported */
    int64_t tile;             /* samples per program call (0 = choose) */
    const char *energy_head;  /* recorded in the descriptor */
    const char *source_hash;  /* recorded in the descriptor (may be NULL) */
    int verbose;              /* print the compiler command and timings on stderr */
    int dsm;                  /* also emit the dsm_grad program (second order: can be large) */
    int no_param_grad;        /* leave the param_grad program out of the library (sampling and evaluation
                                 need energy, score and Langevin only): still planned, so the tile and
                                 every other program are those of the whole model, but not emitted */
    int jobs;                 /* C compiler processes at once, one per unit of the model (0: as many as
                                 there are online CPUs, else $EBMC_JOBS when set) */
    /* Called about ten times a second while the C compiler runs, with the
     * seconds since it started (a progress line); may be NULL. */
    void (*on_wait)(void *ctx, double seconds);
    void *on_wait_ctx;
} ebmc_compile_options;

/* Emits the C source of the whole model (what `ebmc --emit=c` prints). The
 * caller frees *c_source. */
ebm_status ebmc_emit_c(const ir_graph *energy, const ebmc_compile_options *o, char **c_source,
                       ebm_error *err);

/* The C source and the weights blob of the model, as ebmc_compile_model hands
 * them to the C compiler: for a backend that compiles in process (jit.h).  The
 * C compiles whole, or as *units translation units (-DEBM_UNIT=k); the blob
 * is what its `ebm_blob` must hold.  The caller
 * frees both. */
ebm_status ebmc_emit_model(const ir_graph *energy, const ebmc_compile_options *o, char **c_source, float **blob,
                           int64_t *blob_floats, int *units, ebm_error *err);

/* Compiles `energy` (one input x [N,...], one output energy [N]) to out_path. */
ebm_status ebmc_compile_model(const ir_graph *energy, const ebmc_compile_options *o, const char *out_path,
                              ebm_error *err);

#endif /* EBMC_CODEGEN_H */
