/* cc.h — the system C compiler driver: writes a generated model's C, its
 * weights blob and the runtime headers it includes into a work folder, and
 * runs the compiler to a shared object (temporary file + rename).  cc.c.
 */
#ifndef EBMC_CC_H
#define EBMC_CC_H

#include <stddef.h>
#include <stdint.h>

#include "ebm_status.h"

/* runtime/ebm_abi.h and runtime/ebm_philox.h as text, generated at build time
 * (CMakeLists.txt), so the copies written next to the generated C can never
 * drift from the headers libebm is built with. */
extern const char ebmc_text_ebm_abi_h[];
extern const char ebmc_text_ebm_philox_h[];
/* A digest of the sources that decide the generated code (compiler/, ir/,
 * onnx/, base/, the ABI headers, the tools' model loading) and of the build
 * that compiled them (C compiler, flags), made at build time
 * (cmake/codegen_revision.cmake): a changed code generator gets new cache
 * keys even when its version string stays the same. */
extern const char ebmc_codegen_revision[];

#define EBMC_CC_MAX_UNITS 4

typedef struct ebmc_cc_job {
    const char *cc;           /* compiler command (a name on PATH or a path) */
    int opt_level;            /* 0..3 */
    const char *target_cpu;   /* "native", "generic", "x86-64-v3", "x86-64-v4" or another -march value */
    const char *c_source;     /* the model's C */
    int units;                /* 2..EBMC_CC_MAX_UNITS: c_source holds that many translation units
                                 (-DEBM_UNIT=k), compiled side by side, then linked; else one */
    int jobs;                 /* compiler processes at once (0: $EBMC_JOBS, else the online CPUs) */
    const float *blob;        /* the weights blob */
    int64_t blob_floats;
    const char *out_path;     /* the shared object to write (temp file + rename) */
    int keep_temps;           /* keep the work folder and print its path on stderr */
    int verbose;              /* print the command and its time on stderr */
    int seal;                 /* a model: record its digests (ebmc_seal_model) before it is renamed into place */
    void (*on_wait)(void *ctx, double seconds);   /* while the compiler runs (ebmc_compile_options) */
    void *on_wait_ctx;
} ebmc_cc_job;

/* Compiles and links job->c_source into job->out_path.  The shared object
 * runs no code when loaded (-nostartfiles: no constructors), has a GNU hash
 * table only, full RELRO and a non-executable stack: what libebm's checks
 * (runtime/model_file.c) accept. */
ebm_status ebmc_cc_run(const ebmc_cc_job *job, ebm_error *err);

/* Writes the code and weights digests into the descriptor of the linked
 * model at path (runtime/ebm_abi.h: code_hash, weights_hash), after checking
 * the file as libebm will.  seal.c. */
ebm_status ebmc_seal_model(const char *path, ebm_error *err);
/* The same on a file's bytes in memory (name for messages): the 16 bytes at
 * *at receive the two digests.  For tests and the fuzz target. */
ebm_status ebmc_seal_bytes(unsigned char *bytes, uint64_t size, const char *name, uint64_t *at, ebm_error *err);

/* The -march value for a target name: "native", "x86-64-v3", "x86-64-v4" as
 * they are, "generic" -> "x86-64" (the baseline); any other name is a -march
 * value of its own (checked by ebmc_cc_run). */
const char *ebmc_target_march(const char *target);

/* What decides a compiled model's bytes besides its graph, as text for a
 * cache key: ebmc's code generator revision (a digest of its sources and
 * build, EBMC_CODEGEN_REVISION), the C compiler (its resolved path and what
 * `CC --version` prints), and every flag ebmc_cc_run passes for these
 * options (optimisation, target).  Fails if the compiler cannot be run. */
ebm_status ebmc_cc_identity(const char *cc, int opt_level, const char *target_cpu, char *out, size_t size,
                            ebm_error *err);

#endif /* EBMC_CC_H */
