/* cpu.c — the CPU features a model may need (runtime/ebm_abi.h,
 * EBM_ABI_ISA_FEATURES), as this CPU and OS provide them.
 *
 * A feature counts when CPUID reports it and, for AVX and AVX-512 ones, the
 * OS saves their registers (XCR0, read with XGETBV once CPUID says the OS
 * enabled it): without that, the instructions fault like missing ones.
 * $EBM_CPU_DISABLE (names from the table, comma- or space-separated, or
 * "all") takes features away, to see whether a model would load on an older
 * CPU, and for tests.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model_file.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#define HAVE_CPUID 1
#endif

_Static_assert(EBM_ISA_BIT_COUNT <= 64, "ISA features fit a uint64_t");

#define EBM_ISA_NAME_(name, bit, text, macro) [bit] = text,
static const char *const isa_names[EBM_ISA_BIT_COUNT] = {EBM_ABI_ISA_FEATURES(EBM_ISA_NAME_)};
#undef EBM_ISA_NAME_

#define EBM_ISA_COUNT_(name, bit, text, macro) +1
_Static_assert(0 EBM_ABI_ISA_FEATURES(EBM_ISA_COUNT_) == EBM_ISA_BIT_COUNT, "EBM_ISA_BIT_COUNT counts the table");
#undef EBM_ISA_COUNT_

uint64_t ebm__isa_known(void)
{
    return EBM_ISA_BIT_COUNT == 64 ? ~UINT64_C(0) : (UINT64_C(1) << EBM_ISA_BIT_COUNT) - 1;
}

const char *ebm_isa_names(uint64_t mask, char *buf, size_t size)
{
    size_t len = 0;
    if (size)
        buf[0] = 0;
    for (int b = 0; b < 64 && size; b++) {
        if (!(mask >> b & 1))
            continue;
        char unknown[16];
        const char *name = b < EBM_ISA_BIT_COUNT ? isa_names[b] : unknown;
        if (b >= EBM_ISA_BIT_COUNT)
            snprintf(unknown, sizeof unknown, "bit%d", b);
        int w = snprintf(buf + len, size - len, "%s%s", len ? " " : "", name);
        if (w < 0 || (size_t)w >= size - len)
            break;
        len += (size_t)w;
    }
    return buf;
}

#if defined(HAVE_CPUID)
enum { EAX, EBX, ECX, EDX };
enum { OS_NONE, OS_AVX, OS_AVX512 };

typedef struct cpuid_bit {
    int feature;
    unsigned leaf, sub;
    int reg, bit, os;
} cpuid_bit;

/* Where CPUID reports each feature (Intel SDM / AMD APM, CPUID leaves 1, 7 and 0x80000001). */
static const cpuid_bit cpuid_bits[] = {
    {EBM_ISA_SSE3, 1, 0, ECX, 0, OS_NONE},
    {EBM_ISA_SSSE3, 1, 0, ECX, 9, OS_NONE},
    {EBM_ISA_SSE4_1, 1, 0, ECX, 19, OS_NONE},
    {EBM_ISA_SSE4_2, 1, 0, ECX, 20, OS_NONE},
    {EBM_ISA_SSE4A, 0x80000001u, 0, ECX, 6, OS_NONE},
    {EBM_ISA_POPCNT, 1, 0, ECX, 23, OS_NONE},
    {EBM_ISA_CX16, 1, 0, ECX, 13, OS_NONE},
    {EBM_ISA_LAHF_SAHF, 0x80000001u, 0, ECX, 0, OS_NONE},
    {EBM_ISA_MOVBE, 1, 0, ECX, 22, OS_NONE},
    {EBM_ISA_LZCNT, 0x80000001u, 0, ECX, 5, OS_NONE},
    {EBM_ISA_BMI, 7, 0, EBX, 3, OS_NONE},
    {EBM_ISA_BMI2, 7, 0, EBX, 8, OS_NONE},
    {EBM_ISA_TBM, 0x80000001u, 0, ECX, 21, OS_NONE},
    {EBM_ISA_PRFCHW, 0x80000001u, 0, ECX, 8, OS_NONE},
    {EBM_ISA_AVX, 1, 0, ECX, 28, OS_AVX},
    {EBM_ISA_AVX2, 7, 0, EBX, 5, OS_AVX},
    {EBM_ISA_FMA, 1, 0, ECX, 12, OS_AVX},
    {EBM_ISA_F16C, 1, 0, ECX, 29, OS_AVX},
    {EBM_ISA_FMA4, 0x80000001u, 0, ECX, 16, OS_AVX},
    {EBM_ISA_XOP, 0x80000001u, 0, ECX, 11, OS_AVX},
    {EBM_ISA_AVX512F, 7, 0, EBX, 16, OS_AVX512},
    {EBM_ISA_AVX512CD, 7, 0, EBX, 28, OS_AVX512},
    {EBM_ISA_AVX512BW, 7, 0, EBX, 30, OS_AVX512},
    {EBM_ISA_AVX512DQ, 7, 0, EBX, 17, OS_AVX512},
    {EBM_ISA_AVX512VL, 7, 0, EBX, 31, OS_AVX512},
    {EBM_ISA_AVX512IFMA, 7, 0, EBX, 21, OS_AVX512},
    {EBM_ISA_AVX512VBMI, 7, 0, ECX, 1, OS_AVX512},
    {EBM_ISA_AVX512VBMI2, 7, 0, ECX, 6, OS_AVX512},
    {EBM_ISA_AVX512VNNI, 7, 0, ECX, 11, OS_AVX512},
    {EBM_ISA_AVX512BITALG, 7, 0, ECX, 12, OS_AVX512},
    {EBM_ISA_AVX512VPOPCNTDQ, 7, 0, ECX, 14, OS_AVX512},
    {EBM_ISA_AVX512BF16, 7, 1, EAX, 5, OS_AVX512},
    {EBM_ISA_AVX512FP16, 7, 0, EDX, 23, OS_AVX512},
    {EBM_ISA_AVX512VP2INTERSECT, 7, 0, EDX, 8, OS_AVX512},
    {EBM_ISA_AVXVNNI, 7, 1, EAX, 4, OS_AVX},
    {EBM_ISA_AVXIFMA, 7, 1, EAX, 23, OS_AVX},
    {EBM_ISA_AVXVNNIINT8, 7, 1, EDX, 4, OS_AVX},
    {EBM_ISA_AVXNECONVERT, 7, 1, EDX, 5, OS_AVX},
    {EBM_ISA_GFNI, 7, 0, ECX, 8, OS_NONE},
};

/* XCR0: which register states the OS saves (0 without OSXSAVE). */
static uint64_t xcr0(void)
{
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & (1u << 27)))
        return 0;
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return (uint64_t)hi << 32 | lo;
}

static uint64_t cpu_features_raw(void)
{
    const uint64_t x = xcr0();
    const int os_avx = (x & 0x6) == 0x6, os_avx512 = os_avx && (x & 0xe0) == 0xe0;
    uint64_t have = 0;
    for (size_t i = 0; i < sizeof cpuid_bits / sizeof cpuid_bits[0]; i++) {
        const cpuid_bit *f = &cpuid_bits[i];
        unsigned r[4] = {0};
        if (!__get_cpuid_count(f->leaf, f->sub, &r[EAX], &r[EBX], &r[ECX], &r[EDX]))
            continue;
        if (f->leaf == 7 && f->sub > 0) {
            unsigned m[4];
            if (!__get_cpuid_count(7, 0, &m[EAX], &m[EBX], &m[ECX], &m[EDX]) || m[EAX] < f->sub)
                continue;   /* subleaf not implemented: its registers mean nothing */
        }
        if (!(r[f->reg] >> f->bit & 1))
            continue;
        if ((f->os == OS_AVX && !os_avx) || (f->os == OS_AVX512 && !os_avx512))
            continue;
        have |= UINT64_C(1) << f->feature;
    }
    return have;
}
#else
static uint64_t cpu_features_raw(void)
{
    return 0;
}
#endif

/* The features named in $EBM_CPU_DISABLE; -1 (why filled) for an unknown name. */
static int disabled_features(uint64_t *out, char *why, size_t why_size)
{
    *out = 0;
    const char *env = getenv("EBM_CPU_DISABLE");
    if (!env)
        return 0;
    for (const char *p = env; *p;) {
        while (*p == ',' || isspace((unsigned char)*p))
            p++;
        size_t n = strcspn(p, ", \t\n");
        if (n == 0)
            break;
        int found = 0;
        if (n == 3 && strncmp(p, "all", 3) == 0) {
            *out = ebm__isa_known();
            found = 1;
        }
        for (int b = 0; b < EBM_ISA_BIT_COUNT && !found; b++)
            if (strlen(isa_names[b]) == n && strncmp(p, isa_names[b], n) == 0) {
                *out |= UINT64_C(1) << b;
                found = 1;
            }
        if (!found) {
            snprintf(why, why_size, "EBM_CPU_DISABLE names '%.*s', not a CPU feature (e.g. avx512f, avx2, fma, "
                     "or all)", (int)(n < 32 ? n : 32), p);
            return -1;
        }
        p += n;
    }
    return 0;
}

/* CPUID is slow under a hypervisor (a trap per call): read the CPU once. */
static uint64_t cpu_features_cached(void)
{
    static uint64_t features;
    static int known;
    if (!__atomic_load_n(&known, __ATOMIC_ACQUIRE)) {
        __atomic_store_n(&features, cpu_features_raw(), __ATOMIC_RELAXED);
        __atomic_store_n(&known, 1, __ATOMIC_RELEASE);
    }
    return __atomic_load_n(&features, __ATOMIC_RELAXED);
}

int ebm__cpu_features(uint64_t *out, char *why, size_t why_size)
{
    uint64_t off;
    *out = cpu_features_cached();
    if (disabled_features(&off, why, why_size) != 0)
        return -1;
    *out &= ~off;
    return 0;
}

uint64_t ebm_cpu_features(void)
{
    uint64_t have;
    char why[8];
    if (ebm__cpu_features(&have, why, sizeof why) != 0)
        return cpu_features_cached();
    return have;
}
