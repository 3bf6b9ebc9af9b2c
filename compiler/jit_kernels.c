/* jit_kernels.c — which of the compiled kernel tables (compiler/kernels/
 * ebmk_linked.c, built once per vector path into the ebmc_jit library) this
 * CPU's -march=native code would match, and the names the JIT gives them.
 *
 * A table matches when its path is the one the kernel headers' #if's take
 * under this CPU's features (AVX-512F, AVX, FMA: the vector width and fma)
 * and the CPU has every feature the table was compiled with.  The generated
 * C checks the first half again at compile time (codegen_c_helpers.c), so a
 * disagreement between this test and clang's view of the CPU is an error the
 * JIT sees, never other bits.
 */
#include "jit.h"

#include "kernels/ebmk_linked.h"

extern const ebmk_linked_kernels ebmk_linked_generic;
#ifdef EBMC_JIT_LINKED_X86
extern const ebmk_linked_kernels ebmk_linked_avx2, ebmk_linked_avx512;
#endif

static const char *const linked_names[EBMK_LINKED_COUNT] = {
#define EBMK_LINKED(family, name) "ebmk_linked_" #name,
#include "kernels/ebmk_linked.def"
#undef EBMK_LINKED
};

const ebmk_linked_kernels *ebmc_jit_host_kernels(void)
{
#ifdef EBMC_JIT_LINKED_X86
    __builtin_cpu_init();
    const int isa = (__builtin_cpu_supports("avx512f") ? EBMK_ISA_AVX512F : 0) |
                    (__builtin_cpu_supports("avx") ? EBMK_ISA_AVX : 0) |
                    (__builtin_cpu_supports("fma") ? EBMK_ISA_FMA : 0);
    if (isa == ebmk_linked_avx512.isa && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx2"))
        return &ebmk_linked_avx512;
    if (isa == ebmk_linked_avx2.isa && __builtin_cpu_supports("avx2"))
        return &ebmk_linked_avx2;
    return isa == ebmk_linked_generic.isa ? &ebmk_linked_generic : NULL;
#else
    return &ebmk_linked_generic;
#endif
}

const char *ebmc_jit_linked_name(int k)
{
    return k >= 0 && k < EBMK_LINKED_COUNT ? linked_names[k] : NULL;
}
