/* ebmk_linked.c — the kernels of ebmk_linked.def as one table of addresses,
 * compiled optimised with the models' flags, once per vector path
 * (CMakeLists.txt gives -DEBMK_LINKED_TABLE=<name> and the path's -m flags).
 * The JIT's quick tier calls them instead of compiling them at -O0 with the
 * model (compiler/jit_kernels.c): the same source and flags, and a kernel's
 * float operations come in the order its source gives for the shapes it is
 * called with, so the results are the bits of the inlined, constant-shape
 * kernels of the optimised code (tests/unit/test_jit.c checks).
 */
#include "ebmk_math.h"
#include "ebmk_conv.h"
#include "ebmk_wino.h"
#include "ebmk_pool.h"
#include "ebmk_gemm.h"
#include "ebmk_linked.h"

#ifndef EBMK_LINKED_TABLE
#error "EBMK_LINKED_TABLE (the table's name) comes from CMakeLists.txt"
#endif

#if defined(__AVX512F__)
#define EBMK_LINKED_PATH "avx512"
#elif defined(__AVX__)
#define EBMK_LINKED_PATH "avx2"
#else
#define EBMK_LINKED_PATH "generic"
#endif
#if defined(__AVX512F__)
#define EBMK_LINKED_AVX512F EBMK_ISA_AVX512F
#else
#define EBMK_LINKED_AVX512F 0
#endif
#if defined(__AVX__)
#define EBMK_LINKED_AVX EBMK_ISA_AVX
#else
#define EBMK_LINKED_AVX 0
#endif
#if defined(__FMA__)
#define EBMK_LINKED_FMA EBMK_ISA_FMA
#else
#define EBMK_LINKED_FMA 0
#endif

extern const ebmk_linked_kernels EBMK_LINKED_TABLE;
const ebmk_linked_kernels EBMK_LINKED_TABLE = {
    EBMK_LINKED_PATH,
    EBMK_LINKED_AVX512F | EBMK_LINKED_AVX | EBMK_LINKED_FMA,
    {
#define EBMK_LINKED(family, name) (ebmk_linked_fn)ebmk_##name,
#include "ebmk_linked.def"
#undef EBMK_LINKED
    },
};
