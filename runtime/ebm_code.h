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
} ebm_code;

/* Opens the model of `code` (name: for messages and ebm_model_path).  The
 * model owns code->owner from this call on, whatever it returns. */
#if defined(__GNUC__)
__attribute__((visibility("hidden")))
#endif
ebm_status ebm_model_open_code(const char *name, const ebm_code *code, ebm_model **out, ebm_error *err);

#endif /* EBM_CODE_H */
