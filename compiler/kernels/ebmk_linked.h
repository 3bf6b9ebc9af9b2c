/* ebmk_linked.h — the kernels of ebmk_linked.def compiled once into the
 * ebmc_jit library, for one vector path each: what compiler/jit_kernels.c
 * picks from and hands to the JIT's quick tier.
 */
#ifndef EBMK_LINKED_H
#define EBMK_LINKED_H

/* The index of each kernel in a table. */
enum {
#define EBMK_LINKED(family, name) EBMK_LINKED_##name,
#include "ebmk_linked.def"
#undef EBMK_LINKED
    EBMK_LINKED_COUNT
};

/* The vector path of the kernel headers, as their #if's choose it: the
 * C macros that decide the vector width and whether fma is one instruction,
 * which is all that decides the order of a kernel's float operations. */
#define EBMK_ISA_AVX512F 4
#define EBMK_ISA_AVX 2
#define EBMK_ISA_FMA 1

typedef void (*ebmk_linked_fn)(void);   /* each called through its own type, never this one */

typedef struct ebmk_linked_kernels {
    const char *path;                  /* "avx512", "avx2" or "generic", for messages */
    int isa;                           /* EBMK_ISA_* bits of the path */
    ebmk_linked_fn fn[EBMK_LINKED_COUNT];
} ebmk_linked_kernels;

#endif /* EBMK_LINKED_H */
