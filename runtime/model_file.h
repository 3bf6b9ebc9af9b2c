/* model_file.h — what libebm checks in a compiled model's file before it lets
 * dlopen see it (model_file.c), and the CPU features a model may need
 * (cpu.c).  Internal to libebm: model.c opens models through it.
 *
 * Order of the checks (the first that fails is the message):
 *   1. the file: a regular file owned by the user or root and writable by
 *      no one else (unless trusted explicitly: ebm_open_options.trust_file);
 *   2. the ELF structure and the no-code-at-load rules (base/elf_file.h);
 *   3. the libraries it needs: only those a compiled model links;
 *   4. the descriptor symbol, its magic, ABI version and size;
 *   5. the weights blob (where the descriptor's `weights` points) and the two
 *      digests: code, then weights;
 *   6. the CPU features it was compiled for, against this CPU.
 */
#ifndef EBM_MODEL_FILE_H
#define EBM_MODEL_FILE_H

#include <stddef.h>
#include <stdint.h>

#include "ebm.h"
#include "elf_file.h"
#include "model_internal.h"

/* A checked model file, kept until the model is loaded. */
typedef struct ebm_model_file {
    int fd;                    /* the checked file, open (-1 when checked from bytes) */
    unsigned char *bytes;      /* its contents, owned (NULL when checked from the caller's bytes) */
    base_elf elf;              /* points into the bytes */
    uint64_t desc_vaddr;       /* the descriptor symbol's address in the object */
    uint64_t blob_vaddr;       /* where the descriptor's `weights` points (0 without a blob) */
    int64_t blob_bytes;
    uint64_t code_hash;        /* as recorded (and verified) */
} ebm_model_file;

/* Opens path, checks 1 (unless trust_file) and reads the file, then checks
 * 2-6.  On success f holds the open descriptor and the bytes; on failure f
 * is released.  Messages start with the path. */
EBM_INTERNAL ebm_status ebm__model_file_open(const char *path, int trust_file, ebm_model_file *f, ebm_error *err);

/* Checks 2-6 on a file's bytes (borrowed; f->bytes stays NULL); `path` names
 * it in messages.  What ebm__model_file_open runs after reading, and what the
 * fuzz target drives directly. */
EBM_INTERNAL ebm_status ebm__model_file_check(const char *path, const void *bytes, uint64_t size, ebm_model_file *f,
                                              ebm_error *err);

EBM_INTERNAL void ebm__model_file_close(ebm_model_file *f);

/* This CPU's features (1 << EBM_ISA_*) less those named in $EBM_CPU_DISABLE;
 * -1 with why filled when that variable names an unknown feature. */
EBM_INTERNAL int ebm__cpu_features(uint64_t *out, char *why, size_t why_size);
/* The bits of the features this libebm knows. */
EBM_INTERNAL uint64_t ebm__isa_known(void);

#endif /* EBM_MODEL_FILE_H */
