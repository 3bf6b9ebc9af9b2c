/* ebm_code.h — a model whose code is already in this process's memory: how
 * the tools hand libebm a model compiled by the in-process JIT
 * (compiler/jit.h), without a file.  Internal to ebmc's own tools (not
 * installed, not exported from libebm.so): the caller vouches for the code,
 * as dlopen of a checked file would.
 *
 * libebm checks the descriptor exactly as it checks one loaded from a file
 * (runtime/model.c, check_descriptor), with the given memory ranges in place
 * of the file's segments: strings, tables and the weights must lie inside
 * the data ranges, entry points inside the code ranges.  The digests are not
 * checked (the JIT writes none: there is no file they could vouch for) and
 * neither are the CPU features (the JIT compiled for this CPU).
 */
#ifndef EBM_CODE_H
#define EBM_CODE_H

#include <stdint.h>

#include "ebm.h"

typedef struct ebm_code_region {
    const void *start;
    uint64_t size;
    int executable;           /* code; else data */
} ebm_code_region;

typedef struct ebm_code {
    const ebm_abi_model *desc;           /* the descriptor, inside a data region */
    const ebm_code_region *regions;      /* read during ebm_model_open_code only */
    int n_regions;
    void *owner;                         /* what holds the memory: released by ebm_model_close, */
    void (*release)(void *owner);        /* or by ebm_model_open_code when it fails */
    int upgrade_follows;                 /* faster code of the same C will come (ebm_model_upgrade_code): until
                                            then ebm_langevin runs a long chain one step per program call, so
                                            that the new code takes over within the call */
} ebm_code;

/* Opens the model of `code` (name: for messages and ebm_model_path).  The
 * model owns code->owner from this call on, whatever it returns. */
#if defined(__GNUC__)
__attribute__((visibility("hidden")))
#endif
ebm_status ebm_model_open_code(const char *name, const ebm_code *code, ebm_model **out, ebm_error *err);

/* Makes the model of ebm_model_open_code run other code compiled from the
 * same C (the JIT's optimised tier after its quick first one): the
 * descriptor gets the same checks, must describe the same model (sample,
 * tile, parameters, programs and their arenas), and its programs then
 * replace the model's for every later call, including calls other threads
 * start meanwhile (a call already running finishes on the old code).  The
 * model does not own code->owner: the caller keeps both codes' memory until
 * ebm_model_close (its release hook is the place).  Safe to call from any
 * thread while calls run; not while the model is being closed.  code NULL:
 * no faster code will come after all (ebm_code.upgrade_follows). */
#if defined(__GNUC__)
__attribute__((visibility("hidden")))
#endif
ebm_status ebm_model_upgrade_code(ebm_model *m, const ebm_code *code, ebm_error *err);

#endif /* EBM_CODE_H */
